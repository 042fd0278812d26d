//! The command line: parse arguments, run one command, render its result, return an exit code.
//!
//! This is the only module that prints. Each subcommand lives in its own file and is thin:
//! it calls into `workflow` (plan, apply, destroy, graph), `plan` (validate, convert, init),
//! `state` and `usage`, and renders what they return (`render`, `report`). Results go to
//! stdout, chatter (logs, progress, prompts) to stderr.

pub mod args;
pub mod convert;
pub mod exit;
pub mod fleet_progress;
pub mod init;
pub mod migrate;
pub mod release;
pub mod render;
pub mod report;
pub mod serve;
pub mod state;
pub mod usage;
pub mod validate;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

pub use args::Cli;
use args::{ColorChoice, Command};
pub use exit::ExitStatus;

/// What every command needs to know about how to talk to the user.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Colour on stdout.
    pub color_stdout: bool,
    /// Colour on stderr.
    pub color_stderr: bool,
    /// `-q`: print only errors and the requested data.
    pub quiet: bool,
}

impl Ui {
    fn new(choice: ColorChoice, quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |is_tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && !no_color,
        };
        Ui {
            color_stdout: decide(std::io::stdout().is_terminal()),
            color_stderr: decide(std::io::stderr().is_terminal()),
            quiet,
        }
    }
}

/// Parse the command line, run the command and turn the outcome into an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(cli.global.color, cli.global.quiet);
    init_logging(cli.global.verbose, cli.global.quiet, ui.color_stderr);
    init_miette(ui.color_stderr);

    match dispatch(&cli.command, &ui) {
        Ok(status) => status.into(),
        Err(err) => {
            let taught = crate::workflow::teach(err.as_ref());
            if wants_json(&cli.command) {
                println!("{}", report::json(&taught));
            }
            let width = std::io::stderr()
                .is_terminal()
                .then(|| terminal_width().unwrap_or(100));
            eprintln!("{}", report::human(&taught, ui.color_stderr, width));
            ExitStatus::Failure.into()
        }
    }
}

/// The terminal's width from `COLUMNS`, as shells export it.
fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.parse().ok()
}

/// Whether the command prints data as JSON (`--json`): its error is then JSON on stdout too.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Validate(a) => a.json,
        Command::Plan(a) => a.json,
        Command::Apply(a) => a.run.json,
        Command::Destroy(a) => a.run.json,
        Command::Show(a) => a.json,
        Command::Usage(a) => a.json,
        _ => false,
    }
}

fn dispatch(command: &Command, ui: &Ui) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Init(args) => init::run(args, ui),
        Command::Validate(args) => validate::run(args, ui),
        Command::Convert(args) => convert::run(args, ui),
        Command::Plan(args) => migrate::plan(args, ui),
        Command::Apply(args) => migrate::apply(args, ui),
        Command::Destroy(args) => migrate::destroy(args, ui),
        Command::Show(args) => state::show(args, ui),
        Command::State(args::StateCommand::List(args)) => state::list(args, ui),
        Command::State(args::StateCommand::Rm(args)) => state::rm(args, ui),
        Command::State(args::StateCommand::Pull(args)) => state::pull(args, ui),
        Command::State(args::StateCommand::Push(args)) => state::push(args, ui),
        Command::State(args::StateCommand::Migrate(args)) => state::migrate(args, ui),
        Command::ForceUnlock(args) => state::force_unlock(args, ui),
        Command::Graph(args) => migrate::graph(args, ui),
        Command::Usage(args) => usage::run(args, ui),
        Command::Serve(args) => serve::run(args, ui),
        Command::Completions(args) => release::completions(args, ui),
        Command::Man(args) => release::man(args, ui),
    }
}

fn init_logging(verbose: u8, quiet: bool, color: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // S2D_LOG overrides the level given by -v/-q, with tracing's filter syntax.
    let filter = EnvFilter::try_from_env("S2D_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("s2d={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .try_init();
}

fn init_miette(color: bool) {
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                .build(),
        )
    }));
}

/// The async runtime every command runs on. Its worker threads get the stack the main thread
/// has (8 MiB, not tokio's 2 MiB): `s2d serve` runs a whole plan and apply on a worker, and the
/// engine's futures are deep (in debug builds above all).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .context("starting the async runtime")
}
