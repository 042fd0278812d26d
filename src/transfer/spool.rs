//! Spooling: the download goes to a file first, and an interrupted download resumes with a
//! `Range` request from where the file ends, even after a kill -9 and a re-run.
//!
//! For each image the spool folder holds `<key>.part` (the bytes so far, appended and flushed
//! as they arrive) and `<key>.part.json` (what the bytes are: the source image id, its size
//! and checksum). A part file whose note does not match the image asked for is discarded, not
//! resumed. A complete download is renamed to `<key>.img`. The bytes already on disk are hashed
//! from the file, never downloaded again.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::hash::{Checksums, Hasher};

/// Where a download resumes from: something that can open the image's bytes at an offset.
pub trait RangeSource {
    type Error: std::fmt::Display;
    type Stream: Stream<Item = Result<Bytes, Self::Error>> + Unpin;

    /// Open the bytes from `offset` to the end (a `Range: bytes=offset-` request when the
    /// offset is not zero).
    fn open(&self, offset: u64) -> impl Future<Output = Result<Self::Stream, Self::Error>>;
}

/// What the part file holds, written beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartNote {
    pub source_image_id: String,
    pub size: Option<u64>,
    pub md5: Option<String>,
}

/// How a spooled download went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub path: PathBuf,
    pub checksums: Checksums,
    /// Bytes that were already on disk from an earlier attempt.
    pub resumed_from: u64,
    /// Downloads that broke off and were resumed during this call.
    pub retries: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the download failed at byte {offset} after {attempts} attempts: {message}")]
    Download {
        offset: u64,
        attempts: u32,
        message: String,
    },
    #[error("the download stalled at byte {offset}: no bytes for {} s", stall.as_secs())]
    Stalled { offset: u64, stall: Duration },
    #[error("the download has {got} bytes where the source image has {expected}")]
    SizeMismatch { got: u64, expected: u64 },
}

/// Tuning of a spooled download.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOptions {
    /// Resumes after a broken download, at most.
    pub max_retries: u32,
    /// The first pause before a resume; doubled each time.
    pub backoff: Duration,
    pub stall_timeout: Duration,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            max_retries: 5,
            backoff: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(120),
        }
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError {
    let path = path.to_path_buf();
    move |source| SpoolError::Io {
        action,
        path,
        source,
    }
}

/// Download `note.source_image_id` from `source` into `dir/<key>.img`, resuming a part file an
/// earlier run left behind, and return its checksums.
pub async fn spool<R: RangeSource>(
    source: &R,
    dir: &Path,
    key: &str,
    note: &PartNote,
    options: SpoolOptions,
) -> Result<Spooled, SpoolError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(io("creating the spool folder", dir))?;
    let part = dir.join(format!("{key}.part"));
    let note_path = dir.join(format!("{key}.part.json"));
    let done = dir.join(format!("{key}.img"));

    // Resume only what is known to be the same image.
    let previous: Option<PartNote> = tokio::fs::read(&note_path)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if previous.as_ref() != Some(note) {
        let _ = tokio::fs::remove_file(&part).await;
        let text = serde_json::to_vec(note).map_err(|e| SpoolError::Io {
            action: "writing the part note",
            path: note_path.clone(),
            source: std::io::Error::other(e),
        })?;
        tokio::fs::write(&note_path, text)
            .await
            .map_err(io("writing the part note", &note_path))?;
    }

    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&part)
        .await
        .map_err(io("opening the part file", &part))?;

    // Hash what is already there.
    let mut hasher = Hasher::new();
    {
        let mut reader = tokio::fs::File::open(&part)
            .await
            .map_err(io("reading the part file", &part))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(io("reading the part file", &part))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    let resumed_from = hasher.size();
    let mut retries = 0u32;

    loop {
        if note.size.is_some_and(|size| hasher.size() >= size) {
            break;
        }
        let offset = hasher.size();
        let outcome: Result<(), String> = async {
            let mut stream = source.open(offset).await.map_err(|e| e.to_string())?;
            loop {
                let next = tokio::time::timeout(options.stall_timeout, stream.next())
                    .await
                    .map_err(|_| {
                        format!(
                            "stalled: no bytes for {} s",
                            options.stall_timeout.as_secs()
                        )
                    })?;
                match next {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(chunk)) => {
                        file.write_all(&chunk)
                            .await
                            .map_err(|e| format!("writing the part file: {e}"))?;
                        hasher.update(&chunk);
                    }
                }
            }
        }
        .await;
        // What was written is kept for the next attempt, even if this process dies now.
        file.flush()
            .await
            .map_err(io("flushing the part file", &part))?;
        match outcome {
            Ok(()) => break,
            Err(message) => {
                retries += 1;
                if retries > options.max_retries {
                    return Err(SpoolError::Download {
                        offset: hasher.size(),
                        attempts: retries,
                        message,
                    });
                }
                tracing::warn!(offset = hasher.size(), retries, %message, "download broke off; resuming");
                tokio::time::sleep(options.backoff * 2u32.saturating_pow(retries - 1)).await;
            }
        }
    }

    file.sync_all()
        .await
        .map_err(io("syncing the part file", &part))?;
    drop(file);
    if let Some(expected) = note.size
        && hasher.size() != expected
    {
        return Err(SpoolError::SizeMismatch {
            got: hasher.size(),
            expected,
        });
    }
    tokio::fs::rename(&part, &done)
        .await
        .map_err(io("completing the spool file", &done))?;
    let _ = tokio::fs::remove_file(&note_path).await;
    Ok(Spooled {
        path: done,
        checksums: hasher.finish(),
        resumed_from,
        retries,
    })
}

/// The bytes of a spooled file as a stream of chunks, for an upload body.
pub async fn file_stream(
    path: &Path,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, SpoolError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(io("opening the spool file", path))?;
    Ok(futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream::{self, BoxStream};
    use std::sync::Mutex;

    /// A source over fixed bytes that breaks off after `break_after` bytes on the first
    /// `breaks` opens, and records the offsets it was opened at.
    struct Flaky {
        data: Vec<u8>,
        break_after: usize,
        breaks: Mutex<u32>,
        opened_at: Mutex<Vec<u64>>,
    }

    impl RangeSource for Flaky {
        type Error = String;
        type Stream = BoxStream<'static, Result<Bytes, String>>;

        async fn open(&self, offset: u64) -> Result<Self::Stream, String> {
            self.opened_at.lock().expect("lock").push(offset);
            let rest = self.data[offset as usize..].to_vec();
            let mut breaks = self.breaks.lock().expect("lock");
            let chunks: Vec<Result<Bytes, String>> = if *breaks > 0 {
                *breaks -= 1;
                let cut = self.break_after.min(rest.len());
                let mut v: Vec<_> = rest[..cut]
                    .chunks(1000)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                v.push(Err("connection reset by peer".into()));
                v
            } else {
                rest.chunks(1000)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect()
            };
            Ok(stream::iter(chunks).boxed())
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 253) as u8).collect()
    }

    fn sums(bytes: &[u8]) -> Checksums {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    fn quick() -> SpoolOptions {
        SpoolOptions {
            max_retries: 3,
            backoff: Duration::from_millis(1),
            stall_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_broken_download_resumes_from_its_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = data(10_000);
        let source = Flaky {
            data: bytes.clone(),
            break_after: 4_000,
            breaks: Mutex::new(2),
            opened_at: Mutex::default(),
        };
        let note = PartNote {
            source_image_id: "img-1".into(),
            size: Some(10_000),
            md5: None,
        };
        let done = spool(&source, dir.path(), "img-1", &note, quick())
            .await
            .expect("spools");
        assert_eq!(done.retries, 2);
        assert_eq!(*source.opened_at.lock().expect("lock"), [0, 4_000, 8_000]);
        assert_eq!(done.checksums, sums(&bytes));
        assert_eq!(std::fs::read(&done.path).expect("reads"), bytes);
    }

    #[tokio::test]
    async fn a_part_file_left_by_a_killed_run_is_resumed_not_downloaded_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = data(10_000);
        let note = PartNote {
            source_image_id: "img-2".into(),
            size: Some(10_000),
            md5: None,
        };
        // What a killed run leaves: 6000 bytes and the note.
        std::fs::write(dir.path().join("k.part"), &bytes[..6_000]).expect("writes");
        std::fs::write(
            dir.path().join("k.part.json"),
            serde_json::to_vec(&note).expect("json"),
        )
        .expect("writes");
        let source = Flaky {
            data: bytes.clone(),
            break_after: 0,
            breaks: Mutex::new(0),
            opened_at: Mutex::default(),
        };
        let done = spool(&source, dir.path(), "k", &note, quick())
            .await
            .expect("spools");
        assert_eq!(done.resumed_from, 6_000);
        assert_eq!(*source.opened_at.lock().expect("lock"), [6_000]);
        assert_eq!(done.checksums, sums(&bytes));
        assert!(!dir.path().join("k.part").exists());
    }

    #[tokio::test]
    async fn a_part_file_of_another_image_is_discarded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = data(5_000);
        let stale = PartNote {
            source_image_id: "other".into(),
            size: Some(5_000),
            md5: None,
        };
        std::fs::write(dir.path().join("k.part"), vec![0u8; 3_000]).expect("writes");
        std::fs::write(
            dir.path().join("k.part.json"),
            serde_json::to_vec(&stale).expect("json"),
        )
        .expect("writes");
        let note = PartNote {
            source_image_id: "img-3".into(),
            size: Some(5_000),
            md5: None,
        };
        let source = Flaky {
            data: bytes.clone(),
            break_after: 0,
            breaks: Mutex::new(0),
            opened_at: Mutex::default(),
        };
        let done = spool(&source, dir.path(), "k", &note, quick())
            .await
            .expect("spools");
        assert_eq!(done.resumed_from, 0);
        assert_eq!(done.checksums, sums(&bytes));
    }

    #[tokio::test]
    async fn too_many_breaks_fail_and_keep_the_part_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = Flaky {
            data: data(10_000),
            break_after: 1_000,
            breaks: Mutex::new(100),
            opened_at: Mutex::default(),
        };
        let note = PartNote {
            source_image_id: "img-4".into(),
            size: Some(10_000),
            md5: None,
        };
        let err = spool(&source, dir.path(), "k", &note, quick())
            .await
            .expect_err("fails");
        assert!(
            matches!(
                err,
                SpoolError::Download {
                    offset: 4_000,
                    attempts: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("k.part"))
                .expect("kept")
                .len(),
            4_000
        );
    }

    #[tokio::test]
    async fn a_spooled_file_streams_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.img");
        let bytes = data(3_000_000);
        std::fs::write(&path, &bytes).expect("writes");
        let chunks: Vec<Bytes> = file_stream(&path)
            .await
            .expect("opens")
            .map(|c| c.expect("reads"))
            .collect()
            .await;
        assert_eq!(chunks.concat(), bytes);
    }
}
