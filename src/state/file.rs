//! Reading the state file, the errors of every backend, and [`StateFile`]: a state locked
//! on its backend for as long as the value lives.

use std::path::{Path, PathBuf};

use super::backend::{self, Held, Location};
use super::{LockInfo, State};

/// The default state path for a plan: `s2d.state.json` beside it.
pub fn default_path(plan_path: &Path) -> PathBuf {
    plan_path
        .parent()
        .map(|dir| dir.join("s2d.state.json"))
        .unwrap_or_else(|| PathBuf::from("s2d.state.json"))
}

/// What can go wrong with a state, on any backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state {} is locked by {}", path.display(), describe(holder))]
    Locked {
        /// The state's location (a path, or a URL without its password).
        path: PathBuf,
        holder: Option<Box<LockInfo>>,
    },
    #[error(
        "state {} is locked by a live process ({}): stop it first; force-unlock only clears \
         locks left by processes that are gone",
        path.display(),
        describe(holder)
    )]
    LockedByLiveProcess {
        path: PathBuf,
        holder: Option<Box<LockInfo>>,
    },
    #[error("state {location}: the lock is {}, not {given}", describe_one(holder))]
    LockIdMismatch {
        location: String,
        given: String,
        holder: Box<LockInfo>,
    },
    #[error(
        "state {location}: force-unlock needs the lock's id ({})",
        describe_one(holder)
    )]
    LockIdNeeded {
        location: String,
        holder: Box<LockInfo>,
    },
    #[error("state {location}: this run's lock was removed{}", holder.as_ref().map(|h| format!(" and is now held by {}", describe_one(h))).unwrap_or_default())]
    LockLost {
        location: String,
        holder: Option<Box<LockInfo>>,
    },
    #[error(
        "state {location} has serial {found}, newer than the {expected} this run read: another \
         run wrote it, and this write would undo that"
    )]
    Stale {
        location: String,
        expected: u64,
        found: u64,
    },
    #[error("state {location}: {action}: {message}")]
    Backend {
        location: String,
        action: &'static str,
        message: String,
        /// The backend could not be reached (worth another try).
        transient: bool,
    },
    #[error("state location {given}: {message}")]
    BadLocation { given: String, message: String },
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state {} is not valid JSON at line {line}, column {column}: {message}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "state {} has format_version {found}, this s2d reads {supported}: use a newer s2d",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("encoding the state: {0}")]
    Encode(#[source] serde_json::Error),
}

impl miette::Diagnostic for StateError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(match self {
            StateError::Locked { .. } => "s2d::state::locked",
            StateError::LockedByLiveProcess { .. } => "s2d::state::locked_live",
            StateError::LockIdMismatch { .. } => "s2d::state::lock_id",
            StateError::LockIdNeeded { .. } => "s2d::state::lock_id",
            StateError::LockLost { .. } => "s2d::state::lock_lost",
            StateError::Stale { .. } => "s2d::state::stale",
            StateError::Backend { .. } => "s2d::state::backend",
            StateError::BadLocation { .. } => "s2d::state::location",
            StateError::Io { .. } => "s2d::state::io",
            StateError::Corrupt { .. } => "s2d::state::corrupt",
            StateError::UnsupportedVersion { .. } => "s2d::state::version",
            StateError::Encode(_) => "s2d::state::encode",
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            StateError::Locked { path, holder } => format!(
                "{} holds the state: wait for it to finish; if that run is gone (a crashed run, a killed CI job), `s2d force-unlock --state {} {}` clears the lock",
                describe(holder),
                path.display(),
                holder.as_ref().map(|h| h.id.as_str()).filter(|id| !id.is_empty()).unwrap_or("ID")
            ),
            StateError::LockedByLiveProcess { holder, .. } => format!(
                "stop {} first (Ctrl-C ends it cleanly, with the state saved); a PostgreSQL lock ends by itself with its holder's session",
                describe(holder)
            ),
            StateError::LockIdMismatch { location, holder, .. }
            | StateError::LockIdNeeded { location, holder } => format!(
                "make sure that run is gone, then `s2d force-unlock --state {location} {}`",
                holder.id
            ),
            StateError::LockLost { .. } => {
                "someone ran force-unlock while this run was alive: run `s2d plan` once the other run is done, to see what the state holds".to_string()
            }
            StateError::Stale { location, .. } => format!(
                "run `s2d plan` again (it reads the newer state); `s2d state pull --state {location}` shows it"
            ),
            StateError::Backend { transient: true, .. } => {
                "the backend could not be reached: check that it is up and reachable, then run the command again (an apply resumes where it stopped)".to_string()
            }
            StateError::Backend { .. } => {
                "check the URL, the credentials (PG* variables, clouds.yaml) and the permissions on the backend".to_string()
            }
            StateError::BadLocation { .. } => {
                "give a path, postgres://user@host:port/db?name=NAME or swift://CLOUD/CONTAINER/OBJECT".to_string()
            }
            StateError::Io { path, .. } => format!(
                "check that {} and its folder are readable and writable by this user, and that the disk has room",
                path.display()
            ),
            StateError::Corrupt { path, .. } => format!(
                "{} was edited by hand or cut short: fix the JSON at that place, or restore it from version control; `s2d state list --state {}` reads it once it is valid",
                path.display(),
                path.display()
            ),
            StateError::UnsupportedVersion { .. } => {
                "use the s2d that wrote it, or a newer one".to_string()
            }
            StateError::Encode(_) => return None,
        };
        Some(Box::new(help))
    }
}

impl StateError {
    /// Whether the backend could not be reached (a retry may succeed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StateError::Backend {
                transient: true,
                ..
            }
        )
    }
}

fn describe(holder: &Option<Box<LockInfo>>) -> String {
    match holder {
        Some(info) => describe_one(info),
        None => "another s2d process".to_string(),
    }
}

fn describe_one(info: &LockInfo) -> String {
    {
        {
            let who = if info.who.is_empty() {
                String::new()
            } else {
                format!("{} ", info.who)
            };
            let id = if info.id.is_empty() {
                String::new()
            } else {
                format!(", lock id {}", info.id)
            };
            format!(
                "{who}pid {} since {} ({}{id})",
                info.pid, info.since, info.operation
            )
        }
    }
}

/// Read a state file without locking it (for `show`; writes are atomic renames, so a reader
/// sees the old or the new file). `Ok(None)` when there is none yet.
pub fn read(path: &Path) -> Result<Option<State>, StateError> {
    let text = match crate::files::read_text(path, crate::files::MAX_STATE_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                action: "reading the state",
                path: path.into(),
                source,
            });
        }
    };
    backend::decode(&text, &path.display().to_string()).map(Some)
}

/// A state, locked on its backend for as long as this value lives.
#[derive(Debug)]
pub struct StateFile {
    location: Location,
    state: State,
    held: Option<Held>,
}

impl StateFile {
    /// Lock the state file at `path` (failing at once if another process holds it) and read
    /// it, or start an empty one. `operation` names what the holder does, for the lock note.
    pub fn open(path: &Path, operation: &str) -> Result<StateFile, StateError> {
        let (held, state) = super::backend::local::Held::acquire(path, operation)?;
        Ok(StateFile {
            location: Location::File(path.to_path_buf()),
            state: state.unwrap_or_default(),
            held: Some(Held::Local(held)),
        })
    }

    /// Lock the state at `location`, on whichever backend it names, and read it (or start an
    /// empty one).
    pub async fn open_at(location: &Location, operation: &str) -> Result<StateFile, StateError> {
        let (held, state) = Held::acquire(location, operation).await?;
        Ok(StateFile {
            location: location.clone(),
            state: state.unwrap_or_default(),
            held: Some(held),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The file, when the state is a local file.
    pub fn path(&self) -> Option<&Path> {
        self.location.local_path()
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Bump the serial and write the state whole, refused if the stored serial moved on. A
    /// backend that cannot be reached is tried again (about a minute in all, the caller
    /// waiting: an apply starts nothing new meanwhile); a final failure leaves the serial as
    /// it was and the state in memory, so a later commit writes everything.
    pub async fn commit_async(&mut self) -> Result<(), StateError> {
        let previous = self.state.serial;
        self.state.serial += 1;
        self.state.s2d_version = env!("CARGO_PKG_VERSION").to_string();
        let Some(held) = self.held.as_mut() else {
            self.state.serial = previous;
            return Err(StateError::LockLost {
                location: self.location.to_string(),
                holder: None,
            });
        };
        let mut attempt = 0;
        loop {
            match held.write(&self.state, previous).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && attempt < backend::WRITE_RETRIES => {
                    let wait = backend::write_backoff(attempt);
                    tracing::warn!(state = %self.location, error = %e, wait_ms = wait.as_millis() as u64, "writing the state failed; trying again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.state.serial = previous;
                    return Err(e);
                }
            }
        }
    }

    /// [`commit_async`](Self::commit_async) for synchronous callers (the apply walk's event
    /// handler, which holds the walk while the state is written: nothing new starts until it
    /// is). A local file is written right here; a remote backend needs a multi-threaded tokio
    /// runtime (the CLI's and the service's), whose thread blocks for the write.
    pub fn commit(&mut self) -> Result<(), StateError> {
        if let Some(Held::Local(held)) = self.held.as_mut() {
            self.state.serial += 1;
            self.state.s2d_version = env!("CARGO_PKG_VERSION").to_string();
            let result = held.write(&self.state);
            if result.is_err() {
                self.state.serial -= 1;
            }
            return result;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(self.commit_async()))
            }
            _ => Err(StateError::Backend {
                location: self.location.to_string(),
                action: "writing the state",
                message: "a remote state is written from a multi-threaded runtime only".into(),
                transient: false,
            }),
        }
    }

    /// Write `state` in place of the held one, whatever it is (`s2d state push`, `state
    /// migrate`): it takes the serial after the stored one, so the write is not stale.
    pub async fn replace(&mut self, mut state: State) -> Result<(), StateError> {
        state.serial = self.state.serial;
        let kept = std::mem::replace(&mut self.state, state);
        let result = self.commit_async().await;
        if result.is_err() {
            self.state = kept;
        }
        result
    }

    /// Give the lock back now (dropping the value also does, as well as it can).
    pub async fn release(mut self) {
        if let Some(held) = self.held.take() {
            held.release().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Address;
    use crate::state::{ForceUnlockOutcome, Origin, Resource, Side};

    fn force_unlock(path: &Path) -> Result<ForceUnlockOutcome, StateError> {
        crate::state::lock::force_unlock(path, None)
    }

    fn commit(file: &mut StateFile) {
        file.commit().expect("commits");
    }

    fn resource(id: &str) -> Resource {
        Resource {
            side: Side::Target,
            id: id.into(),
            origin: Origin::Created,
            attributes: serde_json::Map::new(),
            recorded_at: crate::state::now_rfc3339(),
        }
    }

    #[test]
    fn commit_round_trips_and_bumps_the_serial() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        let lineage;
        {
            let mut file = StateFile::open(&path, "apply").expect("opens");
            assert_eq!(file.state().serial, 0);
            lineage = file.state().lineage.clone();
            file.state_mut()
                .record(Address::Server { name: "web".into() }, resource("abc"));
            commit(&mut file);
            commit(&mut file);
        }
        let read_back = read(&path).expect("reads").expect("exists");
        assert_eq!(read_back.serial, 2);
        assert_eq!(read_back.lineage, lineage);
        assert_eq!(
            read_back.resources[&Address::Server { name: "web".into() }].id,
            "abc"
        );
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(text.contains("\"server.web\""), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        let mut file = StateFile::open(&path, "apply").expect("opens");
        commit(&mut file);
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("lists")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temp files left behind: {leftovers:?}"
        );
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        let _held = StateFile::open(&path, "apply").expect("opens");
        let err = StateFile::open(&path, "destroy").expect_err("must be locked");
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())) && message.contains("apply"),
            "{message}"
        );
        let err = force_unlock(&path).expect_err("a live holder is not unlocked");
        assert!(
            matches!(err, StateError::LockedByLiveProcess { .. }),
            "{err}"
        );
    }

    #[test]
    fn the_lock_is_released_on_drop_and_stale_notes_are_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        drop(StateFile::open(&path, "apply").expect("opens"));
        drop(StateFile::open(&path, "apply").expect("opens again after release"));
        assert_eq!(
            force_unlock(&path).expect("unlocks"),
            ForceUnlockOutcome::NotLocked
        );

        // A note left by a process that died without clearing it.
        let note = LockInfo {
            id: "dead-lock".into(),
            who: "ci@runner-7".into(),
            pid: 999_999,
            since: "2026-01-01T00:00:00Z".into(),
            operation: "apply".into(),
        };
        std::fs::write(
            super::super::lock::lock_path(&path),
            serde_json::to_string(&note).expect("json"),
        )
        .expect("writes");
        assert_eq!(
            force_unlock(&path).expect("unlocks"),
            ForceUnlockOutcome::ClearedStale(note)
        );
    }

    #[test]
    fn corrupt_and_future_files_are_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s2d.state.json");
        std::fs::write(&path, "{\n  \"format_version\": 1,\n  oops\n}").expect("writes");
        match read(&path) {
            Err(StateError::Corrupt { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        std::fs::write(&path, r#"{"format_version": 7}"#).expect("writes");
        assert!(matches!(
            read(&path),
            Err(StateError::UnsupportedVersion {
                found: 7,
                supported: 1,
                ..
            })
        ));
    }
}
