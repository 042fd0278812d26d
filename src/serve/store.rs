//! The service's data directory: one folder per submitted plan, holding the plan document
//! (any literal password masked), its metadata, its state file, generated private keys and
//! every job's record and event log. Everything is written whole or not at all (a temp file
//! renamed over the old one), files are private to the service's user (0600, folders 0700).
//!
//! ```text
//! DATA/token                       the API token
//! DATA/plans/ID/plan.toml|xml      the plan as submitted (literal passwords masked)
//! DATA/plans/ID/plan.json          PlanMeta
//! DATA/plans/ID/s2d.state.json     the state (crate::state)
//! DATA/plans/ID/.s2d-spool/        spooled images (resumed by the next apply)
//! DATA/plans/ID/keys/NAME.pem      private keys of keypairs the target generated
//! DATA/plans/ID/jobs/JOB.json      JobRecord
//! DATA/plans/ID/jobs/JOB.events.jsonl  the job's events, one JSON object per line
//! ```
//!
//! Knows nothing of HTTP or the engine's workings: it stores what it is given.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Syntax;
use crate::workflow::Taught;

/// What can go wrong with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a record this s2d can read: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Now, in RFC 3339 (UTC): the state's own clock format.
pub use crate::state::now_rfc3339 as now;

/// A fresh identifier: a prefix and 16 random hex digits (`p-…` plans, `j-…` jobs).
pub fn new_id(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..16])
}

/// Whether `id` has the shape [`new_id`] gives: it is used in paths, so nothing else is.
pub fn valid_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A submitted plan's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanMeta {
    pub id: String,
    pub name: String,
    /// `toml` or `xml`.
    pub syntax: String,
    pub created_at: String,
    pub updated_at: String,
    /// The document carried a literal password: it was masked on disk and kept only in the
    /// service's memory, so after a restart the plan must be submitted again to run.
    pub literal_password: bool,
}

/// How a job ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    /// Stopped before the end: a cancel, a shutdown, or the service died while it ran. The
    /// state holds what was done; the next apply continues from there.
    Interrupted,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Apply,
    Destroy,
}

/// A job as the API shows it and as it is kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub plan_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Why it failed or stopped, when it did not get to run its steps.
    pub error: Option<String>,
    /// The same error as `s2d --json` prints it: its code, what to do, the cloud's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<Taught>,
    /// The changes it carried out (the `s2d plan --json` document).
    pub changes: Option<serde_json::Value>,
    /// Per-node results (the `s2d apply --json` report).
    pub report: Option<serde_json::Value>,
    /// The servers read back from the target at the end.
    pub overview: Option<serde_json::Value>,
    /// Addresses of keypairs whose generated private key can be fetched once.
    #[serde(default)]
    pub private_keys: Vec<String>,
}

impl JobRecord {
    /// A new running job of a plan, with a fresh id.
    pub fn new(plan_id: &str, kind: JobKind) -> JobRecord {
        JobRecord {
            id: new_id("j"),
            plan_id: plan_id.to_string(),
            kind,
            status: JobStatus::Running,
            created_at: now(),
            finished_at: None,
            error: None,
            diagnostic: None,
            changes: None,
            report: None,
            overview: None,
            private_keys: Vec::new(),
        }
    }
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating it, mode 0700) the data directory.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
        };
        private_dir(root)?;
        private_dir(&store.plans_dir())?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn plans_dir(&self) -> PathBuf {
        self.root.join("plans")
    }

    pub fn plan_dir(&self, id: &str) -> PathBuf {
        self.plans_dir().join(id)
    }

    pub fn state_path(&self, id: &str) -> PathBuf {
        self.plan_dir(id).join("s2d.state.json")
    }

    /// Where plan `id`'s state is: the PostgreSQL or Swift location its `[state]` names, else
    /// the file in its folder (a submitted plan never picks a path on the service's disk).
    pub fn state_location(&self, id: &str, plan: &crate::plan::Plan) -> crate::state::Location {
        match plan
            .state
            .as_deref()
            .and_then(|text| text.parse::<crate::state::Location>().ok())
        {
            Some(remote) if remote.is_remote() => remote,
            _ => crate::state::Location::File(self.state_path(id)),
        }
    }

    pub fn spool_dir(&self, id: &str) -> PathBuf {
        self.plan_dir(id).join(".s2d-spool")
    }

    pub fn keys_dir(&self, id: &str) -> PathBuf {
        self.plan_dir(id).join("keys")
    }

    fn jobs_dir(&self, plan: &str) -> PathBuf {
        self.plan_dir(plan).join("jobs")
    }

    pub fn events_path(&self, plan: &str, job: &str) -> PathBuf {
        self.jobs_dir(plan).join(format!("{job}.events.jsonl"))
    }

    fn document_path(&self, id: &str, syntax: Syntax) -> PathBuf {
        self.plan_dir(id)
            .join(format!("plan.{}", syntax.extension()))
    }

    /// Store a plan (new or replaced): its document and metadata.
    pub fn save_plan(&self, meta: &PlanMeta, document: &str) -> Result<(), StoreError> {
        let dir = self.plan_dir(&meta.id);
        private_dir(&dir)?;
        private_dir(&self.jobs_dir(&meta.id))?;
        let syntax = syntax_of(&meta.syntax);
        // A replaced plan may change syntax: the other document goes.
        for other in [Syntax::Toml, Syntax::Xml] {
            if other != syntax {
                let path = self.document_path(&meta.id, other);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("removing", &path)(e)),
                }
            }
        }
        write_private(&self.document_path(&meta.id, syntax), document.as_bytes())?;
        write_json(&dir.join("plan.json"), meta)
    }

    /// Every stored plan: metadata and document text.
    pub fn load_plans(&self) -> Result<Vec<(PlanMeta, String)>, StoreError> {
        let dir = self.plans_dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io("reading", &dir))? {
            let entry = entry.map_err(io("reading", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid_id("p", &name) {
                continue;
            }
            let meta_path = entry.path().join("plan.json");
            if !meta_path.exists() {
                // A folder whose first save did not finish: nothing was promised for it.
                continue;
            }
            let meta: PlanMeta = read_json(&meta_path)?;
            let doc_path = self.document_path(&meta.id, syntax_of(&meta.syntax));
            let text = std::fs::read_to_string(&doc_path).map_err(io("reading", &doc_path))?;
            out.push((meta, text));
        }
        Ok(out)
    }

    /// Remove a plan's folder and everything in it.
    pub fn remove_plan(&self, id: &str) -> Result<(), StoreError> {
        let dir = self.plan_dir(id);
        std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))
    }

    /// Write a job's record (whole).
    pub fn save_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        write_json(
            &self.jobs_dir(&job.plan_id).join(format!("{}.json", job.id)),
            job,
        )
    }

    /// Every job record of a plan.
    pub fn load_jobs(&self, plan: &str) -> Result<Vec<JobRecord>, StoreError> {
        let dir = self.jobs_dir(plan);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("reading", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("reading", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if valid_id("j", id) {
                out.push(read_json(&entry.path())?);
            }
        }
        Ok(out)
    }

    /// Open a job's event log for appending.
    pub fn open_events(&self, plan: &str, job: &str) -> Result<std::fs::File, StoreError> {
        let path = self.events_path(plan, job);
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&path).map_err(io("opening", &path))
    }

    /// A job's logged events, one JSON text per line (a line cut short by a crash is dropped).
    pub fn read_events(&self, plan: &str, job: &str) -> Result<Vec<String>, StoreError> {
        let path = self.events_path(plan, job);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
                .map(str::to_string)
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io("reading", &path)(e)),
        }
    }
}

fn syntax_of(name: &str) -> Syntax {
    if name == "xml" {
        Syntax::Xml
    } else {
        Syntax::Toml
    }
}

/// Create a folder (and its parents) readable only by the service's user.
pub fn private_dir(path: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(io("creating", path))
}

/// Write a file whole (temp file + rename), mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::files::write_whole(path, bytes, crate::files::Existing::Replace)
        .map_err(io("writing", path))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    write_private(path, &bytes)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_plan_keeps_a_remote_state_where_it_says_and_a_file_in_its_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("data")).expect("opens");
        let text = "version = 1\n[source]\ncloud = \"a\"\n[target]\ncloud = \"b\"\n\
                    [state]\nlocation = \"LOC\"\n[[server]]\nsource = \"s\"\n";
        let plan = |location: &str| {
            crate::plan::parse_str(
                &text.replace("LOC", location),
                crate::plan::Syntax::Toml,
                "p.toml",
            )
            .plan
            .expect("plan")
        };
        let remote = store.state_location("p1", &plan("swift://hospital/c/o.json"));
        assert_eq!(remote.to_string(), "swift://hospital/c/o.json");
        let file = store.state_location("p1", &plan("/etc/elsewhere.json"));
        assert_eq!(file.local_path(), Some(store.state_path("p1").as_path()));
    }

    #[test]
    fn ids_are_checked_before_they_become_paths() {
        let id = new_id("p");
        assert!(valid_id("p", &id), "{id}");
        assert!(!valid_id("j", &id));
        assert!(!valid_id("p", "p-../../etc/passwd"));
        assert!(!valid_id("p", "p-0123456789abcdeg"));
    }

    #[test]
    fn plans_and_jobs_come_back_after_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&dir.path().join("data")).expect("opens");
        let meta = PlanMeta {
            id: new_id("p"),
            name: "web".into(),
            syntax: "xml".into(),
            created_at: now(),
            updated_at: now(),
            literal_password: false,
        };
        store.save_plan(&meta, "<plan/>").expect("saves");
        let job = JobRecord::new(&meta.id, JobKind::Apply);
        store.save_job(&job).expect("saves job");
        let mut log = store.open_events(&meta.id, &job.id).expect("log");
        writeln!(log, "{{\"event\":\"started\"}}").expect("write");
        write!(log, "{{\"event\":\"cut").expect("write");
        let reopened = Store::open(&dir.path().join("data")).expect("reopens");
        let plans = reopened.load_plans().expect("plans");
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].1, "<plan/>");
        let jobs = reopened.load_jobs(&meta.id).expect("jobs");
        assert_eq!(jobs[0].status, JobStatus::Running);
        assert_eq!(
            reopened.read_events(&meta.id, &job.id).expect("events"),
            vec!["{\"event\":\"started\"}".to_string()]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(reopened.plan_dir(&meta.id).join("plan.json"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
