//! The private keys of keypairs the target generated (`keypair = { create = ... }`): handed to
//! the user once, as files of mode 0600, never in a state, record or log.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::WorkflowError;
use crate::engine::ApplyReport;
use crate::graph::Address;

/// What to do when a key file of that name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Keep it and write `NAME.1.pem`, `NAME.2.pem`, ... (the CLI: a user's files are kept).
    KeepAndNumber,
    /// Replace it (the service: a newer key of the same keypair replaces the old one).
    Replace,
}

/// Write every generated key of `report` into `dir` as `NAME.pem`; returns each keypair's
/// address with its file.
pub fn save(
    report: &ApplyReport,
    dir: &Path,
    existing: Existing,
) -> Result<Vec<(Address, PathBuf)>, WorkflowError> {
    let mut written = Vec::new();
    for (address, key) in &report.generated_keys {
        let base = address.name().replace(['/', '\\'], "_");
        let path = match existing {
            Existing::Replace => {
                let path = dir.join(format!("{base}.pem"));
                crate::files::write_whole(
                    &path,
                    key.expose().as_bytes(),
                    crate::files::Existing::Replace,
                )
                .map_err(|source| WorkflowError::Write {
                    path: path.clone(),
                    source,
                })?;
                path
            }
            Existing::KeepAndNumber => write_new(dir, &base, key.expose().as_bytes())?,
        };
        written.push((address.clone(), path));
    }
    Ok(written)
}

/// A new file `BASE.pem` (or `BASE.N.pem`) of mode 0600 in `dir`, never over an existing one.
fn write_new(dir: &Path, base: &str, bytes: &[u8]) -> Result<PathBuf, WorkflowError> {
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
            Err(source) => return Err(WorkflowError::Write { path, source }),
        }
    };
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| WorkflowError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}
