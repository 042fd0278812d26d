//! The local state's lock: an OS file lock (`flock`) on `<state>.lock`, held for the whole of
//! plan/apply/destroy, with the holder's pid and start time written inside so a second s2d can
//! say who holds it.
//!
//! The lock file is never deleted while in use (deleting it would let two processes lock two
//! different inodes); releasing clears its contents. A process that dies releases its `flock`
//! with it, so a lock left by a dead process is free again; what stays behind is only the
//! stale note, which [`force_unlock`] clears.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StateError;
use super::backend::ForceUnlockOutcome;

/// Who holds the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The lock's id, which `s2d force-unlock ID` names (empty in notes of older s2d).
    #[serde(default)]
    pub id: String,
    /// `user@host` of the holder (empty in notes of older s2d).
    #[serde(default)]
    pub who: String,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub since: String,
    /// What the holder is doing (`apply`, `destroy`, ...).
    pub operation: String,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
}

pub(crate) fn lock_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock_file(path: &Path) -> Result<File, StateError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| StateError::Io {
        action: "opening the lock file",
        path: path.to_path_buf(),
        source,
    })
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(crate::files::MAX_LOCK_NOTE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

impl Lock {
    /// Take the lock at once, or fail saying who holds it.
    pub(crate) fn acquire(state_path: &Path, operation: &str) -> Result<Lock, StateError> {
        let path = lock_path(state_path);
        let mut file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: state_path.to_path_buf(),
                    holder: read_info(&mut file).map(Box::new),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StateError::Io {
                    action: "locking the state",
                    path,
                    source,
                });
            }
        }
        let info = super::backend::new_lock_info(operation);
        let text = serde_json::to_string(&info).map_err(StateError::Encode)?;
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        };
        write(&mut file).map_err(|source| StateError::Io {
            action: "writing the lock file",
            path,
            source,
        })?;
        Ok(Lock { file })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the note first, then release; a failure here leaves only a stale note.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Clear a lock left behind by a process that is gone. A lock held by a live process is not
/// taken from it: that is an error naming the holder. `id`, when given, must be the note's.
pub(crate) fn force_unlock(
    state_path: &Path,
    id: Option<&str>,
) -> Result<ForceUnlockOutcome, StateError> {
    let path = lock_path(state_path);
    if !path.exists() {
        return Ok(ForceUnlockOutcome::NotLocked);
    }
    let mut file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => {
            let stale = read_info(&mut file);
            if let (Some(id), Some(info)) = (id, &stale)
                && !info.id.is_empty()
                && info.id != id
            {
                let _ = file.unlock();
                return Err(StateError::LockIdMismatch {
                    location: state_path.display().to_string(),
                    given: id.to_string(),
                    holder: Box::new(info.clone()),
                });
            }
            let _ = file.set_len(0);
            let _ = file.unlock();
            Ok(match stale {
                Some(info) => ForceUnlockOutcome::ClearedStale(info),
                None => ForceUnlockOutcome::NotLocked,
            })
        }
        Err(TryLockError::WouldBlock) => Err(StateError::LockedByLiveProcess {
            path: state_path.to_path_buf(),
            holder: read_info(&mut file).map(Box::new),
        }),
        Err(TryLockError::Error(source)) => Err(StateError::Io {
            action: "locking the state",
            path,
            source,
        }),
    }
}
