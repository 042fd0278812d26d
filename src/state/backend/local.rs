//! The local backend: the state file beside the plan, as s2d has always kept it. The lock is
//! `flock` on `<state>.lock` ([`crate::state::lock`]); writes go through
//! [`crate::files::write_whole`] (temp file, fsync, rename), after checking that the file
//! still holds the serial this process read.

use std::path::{Path, PathBuf};

use crate::state::lock::Lock;
use crate::state::{State, StateError};

/// The file and its held lock.
#[derive(Debug)]
pub(crate) struct Held {
    path: PathBuf,
    _lock: Lock,
}

impl Held {
    pub(crate) fn acquire(
        path: &Path,
        operation: &str,
    ) -> Result<(Held, Option<State>), StateError> {
        let lock = Lock::acquire(path, operation)?;
        let state = crate::state::file::read(path)?;
        Ok((
            Held {
                path: path.to_path_buf(),
                _lock: lock,
            },
            state,
        ))
    }

    /// Write the state whole. The lock keeps other s2d processes out; a file changed behind
    /// it (restored from a backup, pushed by hand) is caught by its serial.
    pub(crate) fn write(&mut self, state: &State) -> Result<(), StateError> {
        let previous = state.serial.saturating_sub(1);
        if let Some(on_disk) = crate::state::file::read(&self.path)?
            && on_disk.serial != previous
        {
            return Err(StateError::Stale {
                location: self.path.display().to_string(),
                expected: previous,
                found: on_disk.serial,
            });
        }
        let text = super::encode(state)?;
        crate::files::write_whole(&self.path, &text, crate::files::Existing::Replace).map_err(
            |source| StateError::Io {
                action: "writing the state",
                path: self.path.clone(),
                source,
            },
        )
    }
}
