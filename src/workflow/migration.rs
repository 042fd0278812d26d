//! A migration being worked on: a plan with its state locked ([`Locked`]), then connected to
//! both clouds ([`Migration`]): the diff, apply, destroy and the overview read back. The same
//! steps for `s2d plan/apply/destroy` and the service's jobs; the front end decides what to
//! show between them (a confirmation, a stream of events).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::{WorkflowError, clouds, defaults};
use crate::cloud::ConfigEnv;
use crate::engine::openstack::{OpenStack, TransferOptions};
use crate::engine::walk::Stop;
use crate::engine::{
    self, ApplyOptions, ApplyReport, Event, PlanOptions, PlanOutcome, ServerOverview, Timeouts,
};
use crate::graph::{Address, Desired, ResourceGraph, UserDataRef};
use crate::plan::Plan;
use crate::state::{Location, State, StateFile};

/// How a run goes: the limits and the timeouts (defaults: [`defaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub parallelism: u32,
    pub transfers: u32,
    pub snapshots: u32,
    pub timeouts: Timeouts,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallelism: defaults::PARALLELISM,
            transfers: defaults::TRANSFERS,
            snapshots: defaults::SNAPSHOTS,
            timeouts: defaults::timeouts(),
        }
    }
}

impl RunOptions {
    fn apply_options(&self, stop: Stop, events: Option<UnboundedSender<Event>>) -> ApplyOptions {
        let mut options = ApplyOptions::new(self.parallelism, self.transfers, self.timeouts);
        options.snapshots = crate::engine::apply::at_least_one(self.snapshots);
        options.stop = stop;
        options.events = events;
        options
    }
}

/// Connect to both clouds of `plan` (images spooled into `spool_dir` when a copy needs it).
pub async fn connect(
    plan: &Plan,
    env: &ConfigEnv,
    spool_dir: PathBuf,
) -> Result<OpenStack, WorkflowError> {
    let config = |side: &'static str, cloud_ref| {
        clouds::config(side, cloud_ref, env).map_err(|source| WorkflowError::Config {
            side,
            source: Box::new(source),
        })
    };
    let source = config("source", &plan.source)?;
    let target = config("target", &plan.target)?;
    let transfer = TransferOptions {
        spool_dir,
        ..TransferOptions::default()
    };
    OpenStack::connect(source, target, transfer)
        .await
        .map_err(|e| WorkflowError::Connect(Box::new(e)))
}

/// The dependency graph of `plan` as the clouds make it (`s2d graph`).
/// `folder`: the plan's, where the user-data files it names are.
pub async fn graph(
    plan: &Plan,
    folder: &Path,
    env: &ConfigEnv,
) -> Result<ResourceGraph, WorkflowError> {
    let desired = desired(plan, Some(folder))?;
    let cloud = connect(plan, env, std::env::temp_dir().join("s2d-spool")).await?;
    engine::build_graph(&cloud, &desired)
        .await
        .map_err(|e| WorkflowError::Diff(Box::new(e)))
}

/// What apply would change now, against `state` read without its lock (a run may hold it; a
/// diff changes nothing): the service's preview.
pub async fn preview(
    plan: &Plan,
    state: &State,
    env: &ConfigEnv,
    spool_dir: PathBuf,
) -> Result<PlanOutcome, WorkflowError> {
    let desired = desired(plan, None)?;
    let cloud = connect(plan, env, spool_dir).await?;
    engine::diff(&cloud, &desired, state, &PlanOptions::default())
        .await
        .map_err(|e| WorkflowError::Diff(Box::new(e)))
}

/// What destroy would delete from `state` (read without its lock).
pub fn preview_destroy(state: &State) -> PlanOutcome {
    engine::diff_destroy(state, &[])
}

/// What `plan` wants; the user-data files it names are read from `folder` (the plan's), and
/// a plan that comes without a folder (one sent to the service) cannot name any.
fn desired(plan: &Plan, folder: Option<&Path>) -> Result<Desired, WorkflowError> {
    let files = |path: &str| -> Result<UserDataRef, String> {
        let Some(folder) = folder else {
            return Err("a plan sent to the service cannot name files".into());
        };
        let path = folder.join(path);
        let path = std::path::absolute(&path).unwrap_or(path);
        let (_, sha256) = crate::files::user_data(&path)?;
        Ok(UserDataRef::File {
            path: path.display().to_string(),
            sha256,
        })
    };
    Desired::from_plan(plan, &files).map_err(WorkflowError::Desired)
}

/// A plan whose state is locked (for as long as this value, or the [`Migration`] made of it,
/// lives).
pub struct Locked {
    plan: Plan,
    state: StateFile,
    /// The plan's folder (user-data files are read from it); `None` for a plan sent to the
    /// service.
    folder: Option<PathBuf>,
}

impl Locked {
    /// Lock and read the state at `state` (a file, or a PostgreSQL or Swift location) for
    /// `operation` (`plan`, `apply`, `destroy`); refused at once when another run holds it.
    pub async fn open(
        plan: Plan,
        state: &Location,
        operation: &str,
    ) -> Result<Locked, WorkflowError> {
        Ok(Locked {
            plan,
            state: StateFile::open_at(state, operation).await?,
            folder: None,
        })
    }

    /// The plan was read from a file in `folder`: the files it names are read from there.
    pub fn in_folder(mut self, folder: PathBuf) -> Locked {
        self.folder = Some(folder);
        self
    }

    /// Give the state's lock back now (a remote lock is removed before this returns).
    pub async fn release(self) {
        self.state.release().await;
    }

    pub fn state(&self) -> &State {
        self.state.state()
    }

    /// What destroy would delete (no cloud needed: the state says).
    pub fn destroy_diff(&self, targets: &[Address]) -> PlanOutcome {
        engine::diff_destroy(self.state.state(), targets)
    }

    /// Connect to both clouds; spooled images go to `spool_dir`, by default
    /// [`defaults::SPOOL_DIR`] beside the state (so a run after a kill resumes its copies).
    pub async fn connect(
        self,
        env: &ConfigEnv,
        spool_dir: Option<PathBuf>,
    ) -> Result<Migration, WorkflowError> {
        // Beside a local state; in the working folder for a remote one.
        let spool_dir = spool_dir.unwrap_or_else(|| match self.state.path() {
            Some(path) => beside(path, defaults::SPOOL_DIR),
            None => PathBuf::from(defaults::SPOOL_DIR),
        });
        let cloud = connect(&self.plan, env, spool_dir).await?;
        Ok(Migration {
            plan: self.plan,
            folder: self.folder,
            state: self.state,
            cloud: Arc::new(cloud),
        })
    }
}

/// The folder a file is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `name` in the folder of `path`.
pub fn beside(path: &Path, name: &str) -> PathBuf {
    folder_of(path).join(name)
}

/// A plan with its state locked and both clouds connected.
pub struct Migration {
    plan: Plan,
    folder: Option<PathBuf>,
    state: StateFile,
    cloud: Arc<OpenStack>,
}

impl Migration {
    pub fn state(&self) -> &State {
        self.state.state()
    }

    /// Where the state is kept.
    pub fn state_location(&self) -> &Location {
        self.state.location()
    }

    /// Give the state's lock back now (a remote lock is removed before this returns).
    pub async fn release(self) {
        self.state.release().await;
    }

    /// What apply would change now (only `targets` and what they need, when given).
    pub async fn diff(&self, targets: Vec<Address>) -> Result<PlanOutcome, WorkflowError> {
        let desired = desired(&self.plan, self.folder.as_deref())?;
        engine::diff(
            &*self.cloud,
            &desired,
            self.state.state(),
            &PlanOptions {
                targets,
                ..PlanOptions::default()
            },
        )
        .await
        .map_err(|e| WorkflowError::Diff(Box::new(e)))
    }

    /// What destroy would delete.
    pub fn destroy_diff(&self, targets: &[Address]) -> PlanOutcome {
        engine::diff_destroy(self.state.state(), targets)
    }

    /// Carry out `outcome` (a diff of this state, or a saved plan's), recording into the state.
    pub async fn apply(
        &mut self,
        outcome: &PlanOutcome,
        run: &RunOptions,
        stop: Stop,
        events: Option<UnboundedSender<Event>>,
    ) -> Result<ApplyReport, WorkflowError> {
        let options = run.apply_options(stop, events);
        Ok(engine::apply(self.cloud.clone(), outcome, &mut self.state, &options).await?)
    }

    /// Delete what the state holds (only `targets` and what depends on them, when given).
    pub async fn destroy(
        &mut self,
        targets: &[Address],
        run: &RunOptions,
        stop: Stop,
        events: Option<UnboundedSender<Event>>,
    ) -> ApplyReport {
        let options = run.apply_options(stop, events);
        engine::destroy(self.cloud.clone(), &mut self.state, targets, &options).await
    }

    /// The migrated servers as the target shows them now (with each step's time from
    /// `report`, when given).
    pub async fn overview(
        &self,
        report: Option<&ApplyReport>,
    ) -> Result<Vec<ServerOverview>, WorkflowError> {
        engine::overview(&*self.cloud, self.state.state(), report)
            .await
            .map_err(|e| WorkflowError::Overview(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: &T) {}

    /// The service runs jobs as tokio tasks: every step's future must be `Send` (this fails to
    /// compile otherwise). The futures are made, never run.
    #[test]
    fn the_steps_futures_are_send() {
        fn check(
            migration: &mut Migration,
            outcome: &PlanOutcome,
            locked: Locked,
            env: &ConfigEnv,
        ) {
            send(&locked.connect(env, None));
            send(&migration.diff(Vec::new()));
            send(&migration.overview(None));
            send(&migration.apply(outcome, &RunOptions::default(), Stop::default(), None));
            send(&migration.destroy(&[], &RunOptions::default(), Stop::default(), None));
        }
        let _ = check;
    }
}
