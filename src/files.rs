//! Limits on what s2d reads from outside, and the bounded file read its readers share: a file
//! over its kind's limit is refused by its size before it is read, and a file that grows while
//! being read (or a pipe) is cut off at the limit, so no input makes s2d hold more than that.
//!
//! Plans have their own limit ([`crate::plan::MAX_PLAN_BYTES`]); clouds' answers theirs
//! ([`crate::cloud::body`]); the service bounds each route's body (`serve::api`).

use std::io::Read;
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
}
