//! Reading a cloud's answers within limits, so that a broken or hostile cloud cannot make s2d
//! hold gigabytes: a JSON answer over [`MAX_ANSWER_BYTES`] is refused (by its Content-Length
//! before a byte is read, otherwise as soon as it passes the limit); an error answer is read
//! up to [`MAX_ERROR_BYTES`] and cut there; a body of no interest is drained up to
//! [`MAX_DRAIN_BYTES`] and otherwise dropped with its connection. Nesting needs no limit of
//! ours: serde_json stops at 128 levels with an error, never a stack overflow.
//!
//! Image data is not read here: it is streamed (`transfer`), never buffered.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::Response;

/// The largest JSON answer s2d reads: a page of a list is a few MiB on a large cloud.
pub const MAX_ANSWER_BYTES: usize = 128 * 1024 * 1024;
/// How much of an error answer is read (and then cut) for its message.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;
/// How much of an unwanted body is read so that its connection can be reused.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum Limited {
    /// The connection failed while reading.
    Transport(reqwest::Error),
    /// The body is larger than the limit: at least this many bytes (its Content-Length, or
    /// what had arrived when reading stopped).
    TooLarge { limit: usize, at_least: u64 },
}

impl Limited {
    /// The message for a refused answer.
    pub fn too_large_message(limit: usize, at_least: u64) -> String {
        format!(
            "the answer is {at_least} bytes or more, over s2d's limit of {} MiB for one answer: refused, not read",
            limit / (1024 * 1024)
        )
    }
}

/// The whole body, or [`Limited::TooLarge`] as soon as it is known to pass `limit`.
pub async fn read(resp: Response, limit: usize) -> Result<Bytes, Limited> {
    if let Some(length) = resp.content_length()
        && length > limit as u64
    {
        return Err(Limited::TooLarge {
            limit,
            at_least: length,
        });
    }
    let mut out = BytesMut::with_capacity(resp.content_length().unwrap_or(0) as usize);
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Limited::Transport)?;
        if out.len() + chunk.len() > limit {
            return Err(Limited::TooLarge {
                limit,
                at_least: (out.len() + chunk.len()) as u64,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Up to `limit` bytes of the body as text (lossy UTF-8); the rest is not read. A body that
/// cannot be read gives what had arrived.
pub async fn read_cut(resp: Response, limit: usize) -> String {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read and drop a body of no interest, up to [`MAX_DRAIN_BYTES`]: a short one frees its
/// connection for reuse, a longer one is dropped with it.
pub async fn drain(resp: Response) {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DRAIN_BYTES as u64)
    {
        return;
    }
    let mut seen = 0usize;
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > MAX_DRAIN_BYTES {
            return;
        }
    }
}
