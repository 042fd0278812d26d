//! The saved-plan format (`s2d plan --out FILE`, `s2d apply FILE`): the changes (the `plan
//! --json` document), plus where the plan file and the state were, so that apply connects to
//! the same clouds and records into the same state; the plan file's digest makes a later edit
//! of it visible.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::WorkflowError;
use crate::engine::{self, PlanOutcome};
use crate::files;

/// The version of the saved-plan file.
pub const VERSION: u32 = 1;

/// A plan saved by `s2d plan --out`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub s2d_saved_plan: u32,
    pub plan_file: PathBuf,
    pub plan_sha256: String,
    /// Where the state is: an absolute path, or a `postgres://` / `swift://` location (never
    /// with a password).
    pub state_file: String,
    #[serde(flatten)]
    pub plan: PlanOutcome,
}

impl SavedPlan {
    /// A saved plan of `outcome`, made from the plan file `plan_file` (digest `plan_sha256`)
    /// against the state at `state`; paths are kept absolute.
    pub fn new(
        outcome: PlanOutcome,
        plan_file: &Path,
        plan_sha256: String,
        state: &crate::state::Location,
    ) -> Result<SavedPlan, WorkflowError> {
        let state_file = match state.local_path() {
            Some(path) => absolute(path)?.display().to_string(),
            None => state.to_string(),
        };
        Ok(SavedPlan {
            s2d_saved_plan: VERSION,
            plan_file: absolute(plan_file)?,
            plan_sha256,
            state_file,
            plan: outcome,
        })
    }

    /// Write it whole to `path`.
    pub fn write(&self, path: &Path) -> Result<(), WorkflowError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| WorkflowError::Write {
            path: path.into(),
            source: std::io::Error::other(e),
        })?;
        files::write_whole(path, &bytes, files::Existing::Replace).map_err(|source| {
            WorkflowError::Write {
                path: path.into(),
                source,
            }
        })
    }

    /// Check that the plan file is still the one the plan was saved from.
    pub fn check_digest(&self, sha256: &str) -> Result<(), WorkflowError> {
        if sha256 == self.plan_sha256 {
            return Ok(());
        }
        Err(WorkflowError::Saved {
            message: format!(
                "{} changed since the plan was saved",
                self.plan_file.display()
            ),
            help: "run `s2d plan --out` again and review the new plan".into(),
        })
    }
}

fn absolute(path: &Path) -> Result<PathBuf, WorkflowError> {
    std::path::absolute(path).map_err(|source| WorkflowError::Read {
        path: path.into(),
        source,
    })
}

/// The sha256 of a plan file, as a saved plan records it.
pub fn digest(path: &Path) -> Result<String, WorkflowError> {
    let bytes =
        files::read(path, crate::plan::MAX_PLAN_BYTES).map_err(|source| WorkflowError::Read {
            path: path.into(),
            source,
        })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// A saved plan, if `path` is one (plan files are TOML or XML and never start with `{`).
pub fn read(path: &Path) -> Result<Option<SavedPlan>, WorkflowError> {
    let text = files::read_text(path, files::MAX_SAVED_PLAN_BYTES).map_err(|source| {
        WorkflowError::Read {
            path: path.into(),
            source,
        }
    })?;
    parse(&text, path)
}

/// `text` as `s2d apply SAVED` reads it: `None` for text that is not a saved plan (a plan
/// file), an error for one that cannot be used.
pub fn parse(text: &str, path: &Path) -> Result<Option<SavedPlan>, WorkflowError> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let saved: SavedPlan = serde_json::from_str(text).map_err(|e| WorkflowError::Saved {
        message: format!(
            "{} looks like JSON but is not a plan saved by `s2d plan --out` ({e})",
            path.display()
        ),
        help: "give `s2d apply` the plan file, or a file written by `s2d plan --out`".into(),
    })?;
    if saved.s2d_saved_plan != VERSION || saved.plan.format_version != engine::PLAN_FORMAT_VERSION {
        return Err(WorkflowError::Saved {
            message: format!(
                "{} was saved by another version of s2d (saved plan {} / format {})",
                path.display(),
                saved.s2d_saved_plan,
                saved.plan.format_version
            ),
            help: "run `s2d plan --out` again with this s2d".into(),
        });
    }
    Ok(Some(saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_file_is_not_taken_for_a_saved_plan() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "version = 1\n").expect("write");
        assert!(read(&path).expect("reads").is_none());
        let json = dir.path().join("p.json");
        std::fs::write(&json, "{\"nope\": 1}").expect("write");
        let err = read(&json).expect_err("not a saved plan");
        assert!(err.to_string().contains("not a plan saved"), "{err}");
        assert_eq!(super::super::teach(&err).code, "s2d::saved_plan::unusable");
    }
}
