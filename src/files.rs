//! The files s2d reads and writes. Reading: the size limits of what s2d is given, and the
//! bounded read its readers share (a file over its kind's limit is refused by its size before
//! it is read, and a file that grows while being read, or a pipe, is cut off at the limit).
//! Writing: [`write_whole`], the one way s2d writes a file (state, saved plans, converted
//! plans, the service's records): whole or not at all, mode 0600.
//!
//! Plans have their own limit ([`crate::plan::MAX_PLAN_BYTES`]); clouds' answers theirs
//! ([`crate::cloud::body`]); the service bounds each route's body (`serve::api`).

use std::io::{Read, Write};
use std::path::Path;

/// clouds.yaml and secure.yaml.
pub const MAX_CLOUDS_YAML_BYTES: u64 = 4 * 1024 * 1024;
/// A state file (a fleet's state of thousands of resources is a few MiB).
pub const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;
/// A saved plan (`s2d plan --out`).
pub const MAX_SAVED_PLAN_BYTES: u64 = 256 * 1024 * 1024;
/// The lock holder's note beside a state.
pub const MAX_LOCK_NOTE_BYTES: u64 = 64 * 1024;
/// A certificate or key named by clouds.yaml (`cacert`, `cert`, `key`).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// A usage rates file.
pub const MAX_RATES_BYTES: u64 = 1024 * 1024;
/// A user-data file: Nova takes at most 65535 bytes of base64, which is 49149 bytes.
pub const MAX_USER_DATA_BYTES: u64 = 49_149;

/// A user-data file as Nova takes it (base64), with the SHA-256 (hex) of that text.
pub fn user_data(path: &Path) -> Result<(String, String), String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let bytes = read(path, MAX_USER_DATA_BYTES).map_err(|e| e.to_string())?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    Ok((text, digest))
}

/// The SHA-256 (hex) of user data as Nova holds it (base64 text).
pub fn user_data_digest(base64: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(base64.as_bytes()))
}

/// The whole file, or an error of kind `FileTooLarge` (saying the size and the limit) when it
/// holds more than `limit` bytes. Other errors are the file system's.
pub fn read(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let declared = file.metadata()?.len();
    if declared > limit {
        return Err(too_large(declared, limit));
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text (an error of kind `InvalidData` otherwise).
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// How [`write_whole`] treats a file already at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Replace,
    /// Leave it: the write fails with an error of kind `AlreadyExists`.
    Keep,
}

/// Write `bytes` to `path` whole or not at all: a temporary file (mode 0600) beside it, synced,
/// renamed over it, and the folder synced so that the rename survives a crash. A reader sees
/// the old file or the new one, never a part.
pub fn write_whole(path: &Path, bytes: &[u8], existing: Existing) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut tmp = tempfile::Builder::new()
        .prefix(".s2d.")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    match existing {
        Existing::Replace => tmp.persist(path).map_err(|e| e.error)?,
        Existing::Keep => tmp.persist_noclobber(path).map_err(|e| e.error)?,
    };
    std::fs::File::open(dir)?.sync_all()
}

fn too_large(size: u64, limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("{size} bytes or more, over the limit of {limit} bytes for this kind of file"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_limit_is_refused_with_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 1000]).expect("write");
        assert_eq!(read(&path, 1000).expect("read").len(), 1000);
        let e = read(&path, 999).expect_err("too large");
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("1000 bytes or more"), "{e}");
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        let e = read_text(&path, 10).expect_err("not UTF-8");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let e = read(&dir.path().join("missing"), 10).expect_err("missing");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_whole_write_replaces_or_keeps_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        write_whole(&path, b"one", Existing::Replace).expect("write");
        write_whole(&path, b"two", Existing::Replace).expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let e = write_whole(&path, b"three", Existing::Keep).expect_err("kept");
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }
}
