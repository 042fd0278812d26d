//! `s2d plan`, `s2d apply`, `s2d destroy` and `s2d graph`: the workflow's steps
//! ([`crate::workflow`]) with what only a terminal needs between them: the diff shown, the
//! confirmation asked, Ctrl-C handled, progress printed on stderr, results on stdout.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::fleet_progress::FleetProgress;
use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;

use super::args::{ApplyArgs, DestroyArgs, GraphArgs, GraphFormat, PlanArgs, RunArgs, Scope};
use super::render::{self, Style};
use super::{ExitStatus, Ui};
use crate::cloud::ConfigEnv;
use crate::engine::walk::Stop;
use crate::engine::{self, ApplyReport, Event, PlanOutcome, Timeouts};
use crate::graph::Address;
use crate::plan::{self, Plan};
use crate::state;
use crate::workflow::{self, Locked, Migration, RunOptions, keys, saved};

use super::runtime;

/// Read and check a plan file; warnings are shown, errors end the command.
fn load_plan(path: &Path) -> anyhow::Result<(Plan, String)> {
    let loaded = plan::load(path, None);
    for report in loaded.reports() {
        eprintln!("{:?}", miette::Report::new(report));
    }
    if loaded.has_errors() {
        bail!(
            "{} is not a valid plan (see the errors above, or `s2d validate`)",
            path.display()
        );
    }
    let digest = saved::digest(path)?;
    let plan = loaded.plan.context("the plan could not be read")?;
    Ok((plan, digest))
}

fn targets(scope: &Scope) -> anyhow::Result<Vec<Address>> {
    scope
        .targets
        .iter()
        .map(|t| {
            t.parse::<Address>()
                .with_context(|| format!("--target {t}: not a resource address (e.g. server.web)"))
        })
        .collect()
}

/// `--state`, else the plan's `[state] location` (a relative path is beside the plan), else
/// `s2d.state.json` beside the plan.
fn state_location(scope: &Scope, plan_path: &Path, plan: &Plan) -> anyhow::Result<state::Location> {
    if let Some(location) = &scope.state {
        return Ok(location.clone());
    }
    Ok(match &plan.state {
        Some(text) => match text.parse::<state::Location>()? {
            state::Location::File(path) if path.is_relative() => {
                state::Location::File(workflow::folder_of(plan_path).join(path))
            }
            other => other,
        },
        None => state::Location::File(state::default_path(plan_path)),
    })
}

/// Where files made beside the state go (generated private keys): beside a local state,
/// beside the plan for a remote one.
fn beside_state(location: &state::Location, plan: &Path) -> PathBuf {
    workflow::folder_of(location.local_path().unwrap_or(plan))
}

/// `s2d plan`.
pub fn plan(args: &PlanArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, digest) = load_plan(&args.plan)?;
    let targets = targets(&args.scope)?;
    let state_path = state_location(&args.scope, &args.plan, &plan)?;
    let outcome = runtime()?.block_on(async {
        let locked = Locked::open(plan, &state_path, "plan")
            .await?
            .in_folder(workflow::folder_of(&args.plan));
        let migration = locked.connect(&ConfigEnv::from_process(), None).await?;
        let outcome = migration.diff(targets).await;
        migration.release().await;
        outcome
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!(
            "{}",
            render::render_plan(
                &outcome,
                Style {
                    color: ui.color_stdout
                }
            )
        );
    }
    if let Some(out) = &args.out {
        saved::SavedPlan::new(outcome.clone(), &args.plan, digest, &state_path)?.write(out)?;
        if !ui.quiet {
            eprintln!(
                "Saved the plan to {}; `s2d apply {}` carries out exactly these changes.",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if args.detailed_exitcode && !outcome.is_empty() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// Check `text` as `s2d apply SAVED` reads it: `Ok(true)` for a usable saved plan, `Ok(false)`
/// for text that is not one (a plan file). For the fuzz suite (`tests/fuzz.rs`).
#[doc(hidden)]
pub fn check_saved_plan(text: &str) -> anyhow::Result<bool> {
    Ok(saved::parse(text, Path::new("saved-plan.json"))?.is_some())
}

fn run_options(run: &RunArgs) -> RunOptions {
    RunOptions {
        parallelism: run.parallelism,
        transfers: run.transfers,
        snapshots: run.snapshots,
        timeouts: timeouts(run),
    }
}

fn timeouts(run: &RunArgs) -> Timeouts {
    Timeouts {
        snapshot: Duration::from_secs(run.snapshot_timeout),
        image: Duration::from_secs(run.image_timeout),
        server: Duration::from_secs(run.server_timeout),
        delete: Duration::from_secs(run.delete_timeout),
        volume: Duration::from_secs(run.volume_timeout),
        quota: Duration::from_secs(run.quota_timeout),
        settle: engine::SETTLE,
    }
}

/// Ask for `yes` on a terminal; refuse without one.
async fn confirm(what: &str, run: &RunArgs) -> anyhow::Result<bool> {
    if run.auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {what} without confirmation: stdin is not a terminal; review the plan \
             and pass --auto-approve"
        );
    }
    let what = what.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        eprint!(
            "\nDo you want to {what}?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading the answer")?
    .context("reading the answer")?;
    Ok(answer.trim() == "yes")
}

/// Ctrl-C once: stop starting nodes; twice: abort running calls.
fn watch_interrupts(stop: &Stop, quiet: bool) {
    let stop = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.graceful.cancel();
        eprintln!(
            "\nInterrupted: no new steps are started; running ones finish and the state is saved. \
             Press Ctrl-C again to abort them."
        );
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        stop.hard.cancel();
        if !quiet {
            eprintln!("Aborting the running steps.");
        }
    });
}

/// Print the engine's events on stderr: a line per step started and ended; image copies as
/// progress bars on a terminal (`bars`), else a line every 5 s. A fleet (`compact`) gets one
/// tally instead: a status line on a terminal, else a line every 10 s; failures still get
/// their own line.
fn print_events(
    rx: mpsc::UnboundedReceiver<Event>,
    quiet: bool,
    bars: bool,
    compact: Option<FleetProgress>,
) -> tokio::task::JoinHandle<()> {
    match compact {
        Some(tally) if !quiet => print_tally(rx, bars, tally),
        _ => print_lines(rx, quiet, bars),
    }
}

fn print_tally(
    mut rx: mpsc::UnboundedReceiver<Event>,
    bars: bool,
    mut tally: FleetProgress,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let status = bars.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let mut last = Instant::now();
        let every = Duration::from_secs(10);
        while let Some(event) = rx.recv().await {
            if let Some(line) = tally.event(&event) {
                match &status {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            if let Event::StateSaveFailed { message } = &event {
                eprintln!("error: the state could not be saved: {message}");
            }
            match &status {
                Some(bar) => bar.set_message(tally.line()),
                None if last.elapsed() >= every => {
                    eprintln!("{}", tally.line());
                    last = Instant::now();
                }
                None => {}
            }
        }
        match status {
            Some(bar) => bar.finish_with_message(tally.line()),
            None => eprintln!("{}", tally.line()),
        }
    })
}

/// The line a wait for quota gets, once per wait: one line, even for Glance's refusal, whose
/// body (webob's) spans several and carries `<br />`s.
pub(super) fn quota_line(address: &Address, message: &str, limit_s: u64) -> String {
    let message = message
        .replace("<br />", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{address}: waiting for quota (tried again for up to {limit_s}s, --quota-timeout): {message}"
    )
}

fn print_lines(
    mut rx: mpsc::UnboundedReceiver<Event>,
    quiet: bool,
    bars: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let multi =
            (bars && !quiet).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let say = |line: String| match &multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let mut active: BTreeMap<Address, ProgressBar> = BTreeMap::new();
        let mut last_line: BTreeMap<Address, Instant> = BTreeMap::new();
        while let Some(event) = rx.recv().await {
            match event {
                Event::Started { address, action } if !quiet => {
                    say(format!("{address}: {action}..."));
                }
                Event::Finished {
                    address,
                    action,
                    elapsed_ms,
                } => {
                    if let Some(bar) = active.remove(&address) {
                        bar.finish_and_clear();
                    }
                    if !quiet {
                        say(format!(
                            "{address}: {action} done after {:.1}s",
                            elapsed_ms as f64 / 1000.0
                        ));
                    }
                }
                Event::Failed {
                    address, message, ..
                } => {
                    if let Some(bar) = active.remove(&address) {
                        bar.abandon();
                    }
                    say(format!("{address}: failed: {message}"));
                }
                Event::Skipped { address, because } if !quiet => {
                    say(format!("{address}: skipped because {because} failed"));
                }
                Event::Cancelled { address } => {
                    if let Some(bar) = active.remove(&address) {
                        bar.abandon();
                    }
                    if !quiet {
                        say(format!("{address}: cancelled"));
                    }
                }
                Event::Transfer {
                    address,
                    bytes,
                    total,
                } if !quiet => match &multi {
                    Some(m) => {
                        let bar = active.entry(address.clone()).or_insert_with(|| {
                            let bar = m.add(ProgressBar::new(total.unwrap_or(0)));
                            bar.set_style(style.clone());
                            bar.set_prefix(address.to_string());
                            bar
                        });
                        if let Some(total) = total {
                            bar.set_length(total);
                        }
                        bar.set_position(bytes);
                    }
                    None => {
                        let due = last_line
                            .get(&address)
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
                        if due && bytes > 0 {
                            let of = total
                                .map(|t| {
                                    format!(
                                        " of {} ({:.0}%)",
                                        render::human_bytes(t),
                                        bytes as f64 * 100.0 / t.max(1) as f64
                                    )
                                })
                                .unwrap_or_default();
                            eprintln!("{address}: {} copied{of}", render::human_bytes(bytes));
                            last_line.insert(address, Instant::now());
                        }
                    }
                },
                Event::WaitingForQuota {
                    address,
                    message,
                    limit_s,
                } if !quiet => {
                    say(quota_line(&address, &message, limit_s));
                }
                Event::StateSaved { serial } => tracing::debug!(serial, "state saved"),
                Event::StateSaveFailed { message } => {
                    say(format!("error: the state could not be saved: {message}"));
                }
                _ => {}
            }
        }
        for bar in active.into_values() {
            bar.finish_and_clear();
        }
    })
}

/// Run an apply or destroy plan with events printed and Ctrl-C handled; the report, and
/// whether it was interrupted.
async fn execute(
    migration: &mut Migration,
    outcome: &PlanOutcome,
    run: &RunArgs,
    ui: &Ui,
    destroy_targets: Option<&[Address]>,
) -> anyhow::Result<(ApplyReport, bool)> {
    let stop = Stop::default();
    watch_interrupts(&stop, ui.quiet);
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = print_events(
        rx,
        ui.quiet,
        std::io::stderr().is_terminal(),
        FleetProgress::for_plan(outcome),
    );
    let options = run_options(run);
    let report = match destroy_targets {
        Some(targets) => {
            migration
                .destroy(targets, &options, stop.clone(), Some(tx))
                .await
        }
        None => {
            migration
                .apply(outcome, &options, stop.clone(), Some(tx))
                .await?
        }
    };
    let _ = printer.await;
    Ok((report, stop.graceful.is_cancelled()))
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    report: &'a ApplyReport,
    overview: &'a [engine::ServerOverview],
    private_keys: &'a [PathBuf],
}

fn exit_status(report: &ApplyReport, interrupted: bool) -> ExitStatus {
    if interrupted {
        ExitStatus::Interrupted
    } else if report.succeeded() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

/// Show the diff: on stdout, or on stderr when stdout carries `--json`; not at all with -q
/// (with --auto-approve nobody reads it; failures still show).
fn show_diff(outcome: &PlanOutcome, json: bool, ui: &Ui) {
    if ui.quiet {
        return;
    }
    let text = render::render_plan(
        outcome,
        Style {
            color: ui.color_stdout,
        },
    );
    if json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// `s2d apply`.
pub fn apply(args: &ApplyArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, state_path, saved_outcome) = match saved::read(&args.plan)? {
        Some(saved) => {
            if !args.scope.targets.is_empty() {
                bail!("--target cannot narrow a saved plan: give it to `s2d plan --out` instead");
            }
            let (plan, digest) = load_plan(&saved.plan_file).with_context(|| {
                format!(
                    "reading {}, the plan file of the saved plan",
                    saved.plan_file.display()
                )
            })?;
            saved.check_digest(&digest)?;
            let state_path = match args.scope.state.clone() {
                Some(location) => location,
                None => saved.state_file.parse::<state::Location>()?,
            };
            (plan, state_path, Some(saved.plan))
        }
        None => {
            let (plan, _) = load_plan(&args.plan)?;
            let location = state_location(&args.scope, &args.plan, &plan)?;
            (plan, location, None)
        }
    };
    let targets = targets(&args.scope)?;
    runtime()?.block_on(async {
        let locked = Locked::open(plan, &state_path, "apply")
            .await?
            .in_folder(workflow::folder_of(&args.plan));
        let mut migration = locked
            .connect(&ConfigEnv::from_process(), args.run.spool_dir.clone())
            .await?;
        // A saved plan was reviewed when it was made (as Terraform does).
        let reviewed = saved_outcome.is_some();
        let outcome = match saved_outcome {
            Some(outcome) => outcome,
            None => migration.diff(targets).await?,
        };
        show_diff(&outcome, args.run.json, ui);
        if outcome.is_empty() {
            if args.run.json {
                let overview = migration.overview(None).await?;
                let report = ApplyReport::default();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&ApplyJson {
                        report: &report,
                        overview: &overview,
                        private_keys: &[],
                    })?
                );
            }
            return Ok(ExitStatus::Success);
        }
        if !reviewed && !confirm("perform these actions", &args.run).await? {
            eprintln!("Apply cancelled.");
            return Ok(ExitStatus::Failure);
        }
        let (report, interrupted) = execute(&mut migration, &outcome, &args.run, ui, None).await?;
        let keys: Vec<PathBuf> = keys::save(
            &report,
            &beside_state(&state_path, &args.plan),
            keys::Existing::KeepAndNumber,
        )?
        .into_iter()
        .map(|(_, path)| path)
        .collect();
        if !ui.quiet || !report.succeeded() {
            eprint!("{}", render::render_report(&report));
        }
        for path in &keys {
            eprintln!(
                "The private key of a keypair the target generated is in {} (mode 0600); it is \
                 not kept anywhere else.",
                path.display()
            );
        }
        let overview = migration.overview(Some(&report)).await?;
        if args.run.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&ApplyJson {
                    report: &report,
                    overview: &overview,
                    private_keys: &keys,
                })?
            );
        } else if !overview.is_empty() {
            println!();
            print!("{}", render::render_overview(&overview));
        }
        migration.release().await;
        Ok(exit_status(&report, interrupted))
    })
}

/// `s2d destroy`.
pub fn destroy(args: &DestroyArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, _) = load_plan(&args.plan)?;
    let targets = targets(&args.scope)?;
    let state_path = state_location(&args.scope, &args.plan, &plan)?;
    if super::state::read(&state_path)?.is_none() {
        if !ui.quiet {
            eprintln!("No state at {state_path}: s2d has made nothing to destroy.");
        }
        return Ok(ExitStatus::Success);
    }
    runtime()?.block_on(async {
        let locked = Locked::open(plan, &state_path, "destroy")
            .await?
            .in_folder(workflow::folder_of(&args.plan));
        let outcome = locked.destroy_diff(&targets);
        show_diff(&outcome, args.run.json, ui);
        if outcome.is_empty() {
            locked.release().await;
            return Ok(ExitStatus::Success);
        }
        let mut migration = locked.connect(&ConfigEnv::from_process(), None).await?;
        if !confirm("destroy these resources", &args.run).await? {
            eprintln!("Destroy cancelled.");
            return Ok(ExitStatus::Failure);
        }
        let (report, interrupted) =
            execute(&mut migration, &outcome, &args.run, ui, Some(&targets)).await?;
        if args.run.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        if !ui.quiet || !report.succeeded() {
            eprint!("{}", render::render_report(&report));
        }
        migration.release().await;
        Ok(exit_status(&report, interrupted))
    })
}

/// `s2d graph`.
pub fn graph(args: &GraphArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, _) = load_plan(&args.plan)?;
    let graph = runtime()?.block_on(async {
        workflow::graph(
            &plan,
            &workflow::folder_of(&args.plan),
            &ConfigEnv::from_process(),
        )
        .await
    })?;
    match args.format {
        GraphFormat::Dot => print!("{}", graph.to_dot()),
        GraphFormat::Json => println!("{}", serde_json::to_string_pretty(&graph.to_json())?),
    }
    Ok(ExitStatus::Success)
}
