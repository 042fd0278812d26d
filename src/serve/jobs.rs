//! Jobs: one apply or destroy of a stored plan, run as a tokio task in the background. A job
//! holds its plan's state lock while it runs, logs every engine event (JSON lines, kept on
//! disk and in memory) and fans them out to any number of live listeners; its record is
//! rewritten at each change of status, so a restart finds it again (a job that was running
//! then is marked interrupted: the state holds what was done and the next apply continues).
//!
//! The same workflow as `s2d apply`/`s2d destroy` ([`crate::workflow::Locked`], then
//! `Migration::diff`, `apply` or `destroy`, `overview`, `keys::save`); nothing here decides
//! what to change.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::store::{self, JobKind, JobRecord, JobStatus, Store};
use crate::cloud::ConfigEnv;
use crate::engine::walk::Stop;
use crate::engine::{ApplyReport, Event, PlanOutcome};
use crate::graph::Address;
use crate::plan::Plan;
use crate::workflow::{self, Locked, RunOptions, Taught, WorkflowError, defaults, keys};

/// What the caller may choose about a job (the JSON body of `apply`/`destroy`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Only these resources (and what they depend on), as `--target` does.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Steps making calls at once (default: the workflow's, 10).
    pub parallelism: Option<u32>,
    /// Image copies at once (default: the workflow's, 4).
    pub transfers: Option<u32>,
    /// Source snapshots at once (default: the workflow's, 5).
    #[serde(default)]
    pub snapshots: Option<u32>,
}

impl JobOptions {
    /// The targets as addresses, or the first one that is not an address.
    pub fn addresses(&self) -> Result<Vec<Address>, String> {
        self.targets
            .iter()
            .map(|t| {
                t.parse::<Address>()
                    .map_err(|e| format!("target {t:?} is not a resource address: {e}"))
            })
            .collect()
    }

    pub fn check(&self) -> Result<(), String> {
        if self.parallelism.is_some_and(|p| !(1..=1000).contains(&p)) {
            return Err("parallelism must be between 1 and 1000".into());
        }
        if self.transfers.is_some_and(|t| !(1..=100).contains(&t)) {
            return Err("transfers must be between 1 and 100".into());
        }
        if self.snapshots.is_some_and(|t| !(1..=100).contains(&t)) {
            return Err("snapshots must be between 1 and 100".into());
        }
        self.addresses().map(|_| ())
    }
}

/// A transfer event is logged at most this often per image (and always at its end).
const TRANSFER_EVERY: Duration = Duration::from_millis(250);

/// A job, running or finished.
pub struct Job {
    record: Mutex<JobRecord>,
    /// Logged events (JSON texts), when this process ran the job; a job found on disk at
    /// start reads its log from there.
    events: Mutex<Option<Vec<String>>>,
    log: Mutex<Option<std::fs::File>>,
    /// Bumped at every new event and at the end: live listeners wait on it.
    changed: watch::Sender<u64>,
    stop: Stop,
}

impl Job {
    fn new(record: JobRecord, log: Option<std::fs::File>, live: bool) -> Job {
        Job {
            record: Mutex::new(record),
            events: Mutex::new(live.then(Vec::new)),
            log: Mutex::new(log),
            changed: watch::channel(0).0,
            stop: Stop::default(),
        }
    }

    /// A job read back from disk (a running one is marked interrupted and saved so).
    pub fn from_disk(mut record: JobRecord, store: &Store) -> Result<Job, store::StoreError> {
        if record.status == JobStatus::Running {
            record.status = JobStatus::Interrupted;
            record.finished_at = Some(store::now());
            let taught = Taught::plain(
                "s2d::serve::interrupted",
                "the service stopped while this job ran; the state holds every step that \
                 finished: apply again to continue",
                Some("start the job again: the next apply continues from the state"),
            );
            record.error = Some(taught.message.clone());
            record.diagnostic = Some(taught);
            store.save_job(&record)?;
        }
        Ok(Job::new(record, None, false))
    }

    pub fn record(&self) -> JobRecord {
        lock(&self.record).clone()
    }

    pub fn is_running(&self) -> bool {
        lock(&self.record).status == JobStatus::Running
    }

    /// Ask the job to start no new step (running ones finish; the state is saved).
    pub fn cancel(&self) {
        self.stop.graceful.cancel();
    }

    /// Abort the running steps too.
    pub fn abort(&self) {
        self.stop.graceful.cancel();
        self.stop.hard.cancel();
    }

    /// A receiver that wakes at every new event and at the end.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Events from index `from` on (as JSON texts), if this process holds them.
    pub fn events_since(&self, from: usize) -> Option<Vec<String>> {
        lock(&self.events)
            .as_ref()
            .map(|all| all.get(from..).map(<[String]>::to_vec).unwrap_or_default())
    }

    fn push(&self, line: String) {
        if let Some(file) = lock(&self.log).as_mut()
            && let Err(e) = writeln!(file, "{line}")
        {
            tracing::warn!("writing a job's event log: {e}");
        }
        if let Some(all) = lock(&self.events).as_mut() {
            all.push(line);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Log an event, stamped with the time it happened (`ts`, RFC 3339) so that a replay can
    /// tell rates and durations.
    fn push_event<T: serde::Serialize>(&self, event: &T) {
        let mut value = match serde_json::to_value(event) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("encoding an event: {e}");
                return;
            }
        };
        if let Some(map) = value.as_object_mut() {
            map.insert("ts".into(), store::now().into());
        }
        self.push(value.to_string());
    }

    /// End a job that could not run.
    pub fn fail(&self, store: &Store, taught: Taught) {
        self.update(store, |r| {
            r.status = JobStatus::Failed;
            r.finished_at = Some(store::now());
            r.error = Some(taught.message.clone());
            r.diagnostic = Some(taught);
        });
    }

    fn update(&self, store: &Store, change: impl FnOnce(&mut JobRecord)) {
        let record = {
            let mut record = lock(&self.record);
            change(&mut record);
            record.clone()
        };
        if let Err(e) = store.save_job(&record) {
            tracing::error!("saving job {}: {e}", record.id);
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything a job needs from the service.
pub struct Context {
    pub store: Store,
    pub env: ConfigEnv,
}

/// Create a job's record and log, ready to run.
pub fn create(store: &Store, plan_id: &str, kind: JobKind) -> Result<Arc<Job>, store::StoreError> {
    let record = JobRecord::new(plan_id, kind);
    store.save_job(&record)?;
    let log = store.open_events(plan_id, &record.id)?;
    Ok(Arc::new(Job::new(record, Some(log), true)))
}

/// Run a job to its end and record how it ended.
pub async fn run(ctx: Arc<Context>, job: Arc<Job>, plan: Plan, options: JobOptions) {
    let (plan_id, kind) = {
        let r = job.record();
        (r.plan_id, r.kind)
    };
    let result = execute(&ctx, &job, &plan_id, kind, &plan, &options).await;
    let interrupted = job.stop.graceful.is_cancelled();
    job.update(&ctx.store, |r| {
        r.finished_at = Some(store::now());
        match result {
            Ok(succeeded) => {
                r.status = if succeeded {
                    JobStatus::Succeeded
                } else if interrupted {
                    JobStatus::Interrupted
                } else {
                    JobStatus::Failed
                };
            }
            Err(taught) => {
                r.status = if interrupted {
                    JobStatus::Interrupted
                } else {
                    JobStatus::Failed
                };
                r.error = Some(taught.message.clone());
                r.diagnostic = Some(taught);
            }
        }
    });
    *lock(&job.log) = None;
}

/// The job's work; `Ok(true)` when every step succeeded.
async fn execute(
    ctx: &Context,
    job: &Arc<Job>,
    plan_id: &str,
    kind: JobKind,
    plan: &Plan,
    options: &JobOptions,
) -> Result<bool, Taught> {
    let targets = options
        .addresses()
        .map_err(|e| Taught::plain("s2d::serve::bad_target", e, None))?;
    let operation = match kind {
        JobKind::Apply => "apply",
        JobKind::Destroy => "destroy",
    };
    let fail = |e: WorkflowError| workflow::teach(&e);
    let state = ctx.store.state_location(plan_id, plan);
    let locked = Locked::open(plan.clone(), &state, operation)
        .await
        .map_err(fail)?;
    let mut migration = locked
        .connect(&ctx.env, Some(ctx.store.spool_dir(plan_id)))
        .await
        .map_err(fail)?;
    let outcome: PlanOutcome = match kind {
        JobKind::Apply => migration.diff(targets.clone()).await.map_err(fail)?,
        JobKind::Destroy => migration.destroy_diff(&targets),
    };
    let changes = serde_json::to_value(&outcome).map_err(|e| workflow::teach(&e))?;
    let mut planned = changes.clone();
    if let Some(map) = planned.as_object_mut() {
        map.insert("event".into(), "planned".into());
    }
    job.push_event(&planned);
    job.update(&ctx.store, |r| r.changes = Some(changes));
    if outcome.is_empty() {
        let overview = migration.overview(None).await.map_err(fail)?;
        job.update(&ctx.store, |r| {
            r.overview = serde_json::to_value(&overview).ok();
        });
        return Ok(true);
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward(job.clone(), rx));
    let run = RunOptions {
        parallelism: options.parallelism.unwrap_or(defaults::PARALLELISM),
        transfers: options.transfers.unwrap_or(defaults::TRANSFERS),
        snapshots: options.snapshots.unwrap_or(defaults::SNAPSHOTS),
        ..RunOptions::default()
    };
    let report: ApplyReport = match kind {
        JobKind::Apply => migration
            .apply(&outcome, &run, job.stop.clone(), Some(tx))
            .await
            .map_err(fail)?,
        JobKind::Destroy => {
            migration
                .destroy(&targets, &run, job.stop.clone(), Some(tx))
                .await
        }
    };
    let _ = forwarder.await;

    let keys = save_private_keys(&ctx.store, plan_id, &report);
    let overview = migration.overview(Some(&report)).await;
    let succeeded = report.succeeded();
    job.update(&ctx.store, |r| {
        r.report = serde_json::to_value(&report).ok();
        r.private_keys = keys;
        match &overview {
            Ok(o) => r.overview = serde_json::to_value(o).ok(),
            Err(e) => {
                let taught = workflow::teach(e);
                r.error = Some(taught.message.clone());
                r.diagnostic = Some(taught);
            }
        }
    });
    Ok(succeeded)
}

/// Log the engine's events; image progress is thinned to a few lines a second per image.
async fn forward(job: Arc<Job>, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut last: HashMap<Address, Instant> = HashMap::new();
    while let Some(event) = rx.recv().await {
        if let Event::Transfer {
            address,
            bytes,
            total,
        } = &event
        {
            let at_end = total.is_some_and(|t| *bytes >= t);
            let due = last
                .get(address)
                .is_none_or(|t| t.elapsed() >= TRANSFER_EVERY);
            if !at_end && !due {
                continue;
            }
            last.insert(address.clone(), Instant::now());
        }
        job.push_event(&event);
    }
}

/// Keep generated private keys in the plan's `keys/` folder (0600, a newer key of the same
/// keypair replacing the old one): the API hands them out; they are in no record or log.
/// Returns the addresses of the keypairs that have one.
fn save_private_keys(store: &Store, plan_id: &str, report: &ApplyReport) -> Vec<String> {
    if report.generated_keys.is_empty() {
        return Vec::new();
    }
    let dir = store.keys_dir(plan_id);
    let saved = store::private_dir(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            keys::save(report, &dir, keys::Existing::Replace)
                .map_err(|e| workflow::teach(&e).message)
        });
    match saved {
        Ok(saved) => saved.into_iter().map(|(a, _)| a.to_string()).collect(),
        Err(e) => {
            tracing::error!("keeping the private keys: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok: JobOptions =
            serde_json::from_str(r#"{"targets": ["server.web"], "parallelism": 3}"#).expect("ok");
        assert!(ok.check().is_ok());
        let bad: JobOptions = serde_json::from_str(r#"{"parallelism": 0}"#).expect("parses");
        assert!(bad.check().is_err());
        let bad: JobOptions = serde_json::from_str(r#"{"targets": ["nope"]}"#).expect("parses");
        assert!(bad.check().unwrap_err().contains("nope"));
        assert!(serde_json::from_str::<JobOptions>(r#"{"parralelism": 3}"#).is_err());
    }

    #[test]
    fn a_job_found_running_at_start_is_marked_interrupted() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("store");
        let meta = store::PlanMeta {
            id: store::new_id("p"),
            name: "x".into(),
            syntax: "toml".into(),
            created_at: store::now(),
            updated_at: store::now(),
            literal_password: false,
        };
        store.save_plan(&meta, "version = 1\n").expect("plan");
        let job = create(&store, &meta.id, JobKind::Apply).expect("job");
        job.push_event(&serde_json::json!({"event": "started"}));
        let record = store.load_jobs(&meta.id).expect("jobs").remove(0);
        let found = Job::from_disk(record, &store).expect("loads");
        let record = found.record();
        assert_eq!(record.status, JobStatus::Interrupted);
        assert!(
            record
                .error
                .as_deref()
                .unwrap_or("")
                .contains("apply again")
        );
        assert_eq!(
            store.load_jobs(&meta.id).expect("jobs")[0].status,
            JobStatus::Interrupted
        );
        assert_eq!(
            store.read_events(&meta.id, &record.id).expect("log").len(),
            1
        );
    }
}
