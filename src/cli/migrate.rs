//! `s2d plan`, `s2d apply`, `s2d destroy` and `s2d graph`: load the plan, lock the state,
//! connect to both clouds, call the engine, and show what it returns. Progress comes from the
//! engine as events and is printed here, on stderr; results go to stdout.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::args::{ApplyArgs, DestroyArgs, GraphArgs, GraphFormat, PlanArgs, RunArgs, Scope};
use super::render::{self, Style};
use super::{ExitStatus, Ui, clouds};
use crate::cloud::ConfigEnv;
use crate::engine::openstack::{OpenStack, TransferOptions};
use crate::engine::walk::Stop;
use crate::engine::{self, ApplyOptions, ApplyReport, Event, PlanOptions, PlanOutcome, Timeouts};
use crate::graph::{Address, Desired};
use crate::plan::{self, Plan};
use crate::state::{self, StateFile};

/// The version of the saved-plan file (`s2d plan --out`).
const SAVED_PLAN_VERSION: u32 = 1;

/// A plan saved by `s2d plan --out`: the changes (the `--json` document), plus where the
/// plan file and the state were, so that `apply` connects to the same clouds and records into
/// the same state. The plan file's digest makes a later edit of it visible.
#[derive(Debug, Serialize, Deserialize)]
struct SavedPlan {
    s2d_saved_plan: u32,
    plan_file: PathBuf,
    plan_sha256: String,
    state_file: PathBuf,
    #[serde(flatten)]
    plan: PlanOutcome,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

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
    let digest = sha256_file(path)?;
    let plan = loaded.plan.context("the plan could not be read")?;
    Ok((plan, digest))
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = crate::input::read(path, crate::plan::MAX_PLAN_BYTES)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
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

fn state_path(scope: &Scope, plan: &Path) -> PathBuf {
    scope
        .state
        .clone()
        .unwrap_or_else(|| state::default_path(plan))
}

async fn connect(plan: &Plan, transfer: TransferOptions) -> anyhow::Result<OpenStack> {
    let env = ConfigEnv::from_process();
    let source = clouds::config("source", &plan.source, &env).context("the source cloud")?;
    let target = clouds::config("target", &plan.target, &env).context("the target cloud")?;
    OpenStack::connect(source, target, transfer)
        .await
        .context("connecting to the clouds")
}

fn desired(plan: &Plan) -> anyhow::Result<Desired> {
    Desired::from_plan(plan).context("the plan cannot be carried out as written")
}

/// `s2d plan`.
pub fn plan(args: &PlanArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, digest) = load_plan(&args.plan)?;
    let desired = desired(&plan)?;
    let targets = targets(&args.scope)?;
    let state_path = state_path(&args.scope, &args.plan);
    let state_file = StateFile::open(&state_path, "plan")?;
    let outcome = runtime()?.block_on(async {
        let cloud = connect(&plan, TransferOptions::default()).await?;
        engine::plan(
            &cloud,
            &desired,
            state_file.state(),
            &PlanOptions { targets },
        )
        .await
        .context("planning")
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
        let saved = SavedPlan {
            s2d_saved_plan: SAVED_PLAN_VERSION,
            plan_file: absolute(&args.plan)?,
            plan_sha256: digest,
            state_file: absolute(&state_path)?,
            plan: outcome.clone(),
        };
        write_atomically(out, &serde_json::to_vec_pretty(&saved)?)?;
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

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Write a whole file or nothing: a temp file in the same folder, renamed over the target.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A saved plan, if `path` is one (plan files are TOML or XML and never start with `{`).
fn read_saved(path: &Path) -> anyhow::Result<Option<SavedPlan>> {
    let text = crate::input::read_text(path, crate::input::MAX_SAVED_PLAN_BYTES)
        .with_context(|| format!("reading {}", path.display()))?;
    parse_saved(&text, path)
}

/// Check `text` as `s2d apply SAVED` reads it: `Ok(true)` for a usable saved plan, `Ok(false)`
/// for text that is not one (a plan file). For the fuzz suite (`tests/fuzz.rs`).
#[doc(hidden)]
pub fn check_saved_plan(text: &str) -> anyhow::Result<bool> {
    parse_saved(text, Path::new("saved-plan.json")).map(|saved| saved.is_some())
}

fn parse_saved(text: &str, path: &Path) -> anyhow::Result<Option<SavedPlan>> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let saved: SavedPlan = serde_json::from_str(text).with_context(|| {
        format!(
            "{} looks like JSON but is not a plan saved by `s2d plan --out`",
            path.display()
        )
    })?;
    if saved.s2d_saved_plan != SAVED_PLAN_VERSION
        || saved.plan.format_version != engine::PLAN_FORMAT_VERSION
    {
        bail!(
            "{} was saved by another version of s2d (saved plan {} / format {}); run `s2d plan --out` again",
            path.display(),
            saved.s2d_saved_plan,
            saved.plan.format_version
        );
    }
    Ok(Some(saved))
}

/// Spooled images live beside the state, so a re-run after a kill finds its part files.
fn default_spool_dir(state_path: &Path) -> PathBuf {
    let dir = match state_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join(".s2d-spool")
}

fn timeouts(run: &RunArgs) -> Timeouts {
    Timeouts {
        snapshot: Duration::from_secs(run.snapshot_timeout),
        image: Duration::from_secs(run.image_timeout),
        server: Duration::from_secs(run.server_timeout),
        delete: Duration::from_secs(run.delete_timeout),
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
/// progress bars on a terminal (`bars`), else a line every 5 s.
fn print_events(
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

/// Run an apply or destroy plan with events printed and Ctrl-C handled.
async fn execute(
    cloud: Arc<OpenStack>,
    outcome: &PlanOutcome,
    state_file: &mut StateFile,
    run: &RunArgs,
    ui: &Ui,
    destroy_targets: Option<&[Address]>,
) -> anyhow::Result<(ApplyReport, bool)> {
    let stop = Stop::default();
    watch_interrupts(&stop, ui.quiet);
    let (tx, rx) = mpsc::unbounded_channel();
    let printer = print_events(rx, ui.quiet, std::io::stderr().is_terminal());
    let options = ApplyOptions {
        parallelism: NonZeroUsize::new(run.parallelism as usize).unwrap_or(NonZeroUsize::MIN),
        transfers: NonZeroUsize::new(run.transfers as usize).unwrap_or(NonZeroUsize::MIN),
        timeouts: timeouts(run),
        stop: stop.clone(),
        events: Some(tx),
    };
    let report = match destroy_targets {
        Some(targets) => engine::destroy(cloud, state_file, targets, &options).await,
        None => engine::apply(cloud, outcome, state_file, &options).await?,
    };
    drop(options);
    let _ = printer.await;
    Ok((report, stop.graceful.is_cancelled()))
}

/// Write generated private keys beside the state, mode 0600, never over an existing file.
fn save_private_keys(report: &ApplyReport, state_path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = match state_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut written = Vec::new();
    for (address, key) in &report.generated_keys {
        let base = address.name().replace(['/', '\\'], "_");
        let mut n = 0;
        let (path, mut file) = loop {
            let name = if n == 0 {
                format!("{base}.pem")
            } else {
                format!("{base}.{n}.pem")
            };
            let path = dir.join(name);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
            }
        };
        file.write_all(key.expose().as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    report: &'a ApplyReport,
    overview: &'a [engine::ServerOverview],
    private_keys: &'a [PathBuf],
}

/// `s2d apply`.
pub fn apply(args: &ApplyArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let saved = read_saved(&args.plan)?;
    let (plan, plan_path, state_path, saved_outcome) = match saved {
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
            if digest != saved.plan_sha256 {
                bail!(
                    "{} changed since the plan was saved: run `s2d plan --out` again",
                    saved.plan_file.display()
                );
            }
            let state_path = args.scope.state.clone().unwrap_or(saved.state_file.clone());
            (plan, saved.plan_file.clone(), state_path, Some(saved.plan))
        }
        None => {
            let (plan, _) = load_plan(&args.plan)?;
            let state_path = state_path(&args.scope, &args.plan);
            (plan, args.plan.clone(), state_path, None)
        }
    };
    let targets = targets(&args.scope)?;
    let mut state_file = StateFile::open(&state_path, "apply")?;
    let transfer = TransferOptions {
        spool_dir: args
            .run
            .spool_dir
            .clone()
            .unwrap_or_else(|| default_spool_dir(&state_path)),
        ..TransferOptions::default()
    };
    let rt = runtime()?;
    rt.block_on(async {
        let cloud = Arc::new(connect(&plan, transfer).await?);
        let from_file = saved_outcome.is_none();
        let outcome = match saved_outcome {
            Some(outcome) => outcome,
            None => {
                let desired = desired(&plan)?;
                engine::plan(
                    &*cloud,
                    &desired,
                    state_file.state(),
                    &PlanOptions { targets },
                )
                .await
                .context("planning")?
            }
        };
        let style = Style {
            color: ui.color_stdout,
        };
        // -q: no diff (with --auto-approve nobody reads it); failures still show.
        if !ui.quiet {
            let text = render::render_plan(&outcome, style);
            if args.run.json {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
        if outcome.is_empty() {
            if args.run.json {
                let overview = engine::overview(&*cloud, state_file.state(), None)
                    .await
                    .context("reading the servers back")?;
                let report = ApplyReport {
                    nodes: Vec::new(),
                    total_ms: 0,
                    generated_keys: Vec::new(),
                    state_error: None,
                };
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
        // A saved plan was reviewed when it was made (as Terraform does).
        if from_file && !confirm("perform these actions", &args.run).await? {
            eprintln!("Apply cancelled.");
            return Ok(ExitStatus::Failure);
        }
        let (report, interrupted) = execute(
            cloud.clone(),
            &outcome,
            &mut state_file,
            &args.run,
            ui,
            None,
        )
        .await?;
        let keys = save_private_keys(&report, &state_path)?;
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
        let overview = engine::overview(&*cloud, state_file.state(), Some(&report))
            .await
            .context("reading the servers back from the target")?;
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
        let _ = plan_path;
        Ok(if interrupted {
            ExitStatus::Interrupted
        } else if report.succeeded() {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        })
    })
}

/// `s2d destroy`.
pub fn destroy(args: &DestroyArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, _) = load_plan(&args.plan)?;
    let targets = targets(&args.scope)?;
    let state_path = state_path(&args.scope, &args.plan);
    if state::read(&state_path)?.is_none() {
        if !ui.quiet {
            eprintln!(
                "No state at {}: s2d has made nothing to destroy.",
                state_path.display()
            );
        }
        return Ok(ExitStatus::Success);
    }
    let mut state_file = StateFile::open(&state_path, "destroy")?;
    let outcome = engine::plan_destroy(state_file.state(), &targets);
    let style = Style {
        color: ui.color_stdout,
    };
    if !ui.quiet {
        let text = render::render_plan(&outcome, style);
        if args.run.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if outcome.is_empty() {
        return Ok(ExitStatus::Success);
    }
    runtime()?.block_on(async {
        let cloud = Arc::new(connect(&plan, TransferOptions::default()).await?);
        if !confirm("destroy these resources", &args.run).await? {
            eprintln!("Destroy cancelled.");
            return Ok(ExitStatus::Failure);
        }
        let (report, interrupted) = execute(
            cloud,
            &outcome,
            &mut state_file,
            &args.run,
            ui,
            Some(&targets),
        )
        .await?;
        if args.run.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        if !ui.quiet || !report.succeeded() {
            eprint!("{}", render::render_report(&report));
        }
        Ok(if interrupted {
            ExitStatus::Interrupted
        } else if report.succeeded() {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        })
    })
}

/// `s2d graph`.
pub fn graph(args: &GraphArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (plan, _) = load_plan(&args.plan)?;
    let desired = desired(&plan)?;
    let graph = runtime()?.block_on(async {
        let cloud = connect(&plan, TransferOptions::default()).await?;
        engine::build_graph(&cloud, &desired)
            .await
            .context("building the graph")
    })?;
    match args.format {
        GraphFormat::Dot => print!("{}", graph.to_dot()),
        GraphFormat::Json => println!("{}", serde_json::to_string_pretty(&graph.to_json())?),
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_file_is_not_taken_for_a_saved_plan() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "version = 1\n").expect("write");
        assert!(read_saved(&path).expect("reads").is_none());
        let json = dir.path().join("p.json");
        std::fs::write(&json, "{\"nope\": 1}").expect("write");
        let err = read_saved(&json).expect_err("not a saved plan");
        assert!(err.to_string().contains("not a plan saved"), "{err}");
    }
}
