//! Reading and atomically writing the state file, under its lock.

use std::path::{Path, PathBuf};

use super::lock::Lock;
use super::{FORMAT_VERSION, LockInfo, State};

/// The default state path for a plan: `s2d.state.json` beside it.
pub fn default_path(plan_path: &Path) -> PathBuf {
    plan_path
        .parent()
        .map(|dir| dir.join("s2d.state.json"))
        .unwrap_or_else(|| PathBuf::from("s2d.state.json"))
}

/// What can go wrong with the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state {} is locked by {}", path.display(), describe(holder))]
    Locked {
        path: PathBuf,
        holder: Option<LockInfo>,
    },
    #[error(
        "state {} is locked by a live process ({}): stop it first; force-unlock only clears \
         locks left by processes that are gone",
        path.display(),
        describe(holder)
    )]
    LockedByLiveProcess {
        path: PathBuf,
        holder: Option<LockInfo>,
    },
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
            StateError::Io { .. } => "s2d::state::io",
            StateError::Corrupt { .. } => "s2d::state::corrupt",
            StateError::UnsupportedVersion { .. } => "s2d::state::version",
            StateError::Encode(_) => "s2d::state::encode",
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = match self {
            StateError::Locked { path, holder } => format!(
                "{} holds the state: wait for it to finish; if that process is gone (a crashed run, another machine), `s2d force-unlock --state {}` clears the lock",
                describe(holder),
                path.display()
            ),
            StateError::LockedByLiveProcess { holder, .. } => format!(
                "stop {} first (Ctrl-C ends it cleanly, with the state saved)",
                describe(holder)
            ),
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

fn describe(holder: &Option<LockInfo>) -> String {
    match holder {
        Some(info) => format!("pid {} since {} ({})", info.pid, info.since, info.operation),
        None => "another s2d process".to_string(),
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
    // Check the version before the shape, so a newer file says "newer", not "malformed".
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: path.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let version: Version = serde_json::from_str(&text).map_err(corrupt)?;
    if version.format_version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.into(),
            found: version.format_version,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_str(&text).map(Some).map_err(corrupt)
}

/// The state file, locked for as long as this value lives.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    state: State,
    _lock: Lock,
}

impl StateFile {
    /// Lock the state at `path` (failing at once if another process holds it) and read it, or
    /// start an empty one. `operation` names what the holder does, for the lock note.
    pub fn open(path: &Path, operation: &str) -> Result<StateFile, StateError> {
        let lock = Lock::acquire(path, operation)?;
        let state = read(path)?.unwrap_or_default();
        Ok(StateFile {
            path: path.to_path_buf(),
            state,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Bump the serial and write the state atomically: a temp file (mode 0600) in the same
    /// folder, fsync, rename over the old file, fsync the folder.
    pub fn commit(&mut self) -> Result<(), StateError> {
        self.state.serial += 1;
        self.state.s2d_version = env!("CARGO_PKG_VERSION").to_string();
        let result = write_atomically(&self.path, &self.state);
        if result.is_err() {
            self.state.serial -= 1;
        }
        result
    }
}

fn write_atomically(path: &Path, state: &State) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(state).map_err(StateError::Encode)?;
    text.push(b'\n');
    crate::files::write_whole(path, &text, crate::files::Existing::Replace).map_err(|source| {
        StateError::Io {
            action: "writing the state",
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Address;
    use crate::state::{ForceUnlockOutcome, Origin, Resource, Side, force_unlock};

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
            file.commit().expect("commits");
            file.commit().expect("commits again");
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
        file.commit().expect("commits");
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
