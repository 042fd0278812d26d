//! An image download in progress ([`ByteStream`]): the answer's size facts (length, range,
//! md5, request id) and its body as a stream of bytes. Made by the request path (`http`).

use bytes::Bytes;
use futures_util::stream::BoxStream;

use super::error::Result;

/// An image download in progress: the response's size facts and its body as a stream.
pub struct ByteStream {
    pub status: u16,
    /// `Content-Length` of this response (the remaining bytes for a Range request).
    pub content_length: Option<u64>,
    pub content_md5: Option<String>,
    pub content_range: Option<String>,
    pub request_id: Option<String>,
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl ByteStream {
    /// Whether the server honoured a Range request (206 Partial Content).
    pub fn is_partial(&self) -> bool {
        self.status == 206
    }

    /// The whole object's size: from `Content-Range: bytes a-b/total` on a partial answer,
    /// else `Content-Length`.
    pub fn total_size(&self) -> Option<u64> {
        match &self.content_range {
            Some(r) => r.rsplit_once('/').and_then(|(_, t)| t.trim().parse().ok()),
            None => self.content_length,
        }
    }

    /// The first byte of this answer (from `Content-Range`; 0 for a full answer).
    pub fn start_offset(&self) -> u64 {
        self.content_range
            .as_deref()
            .and_then(|r| r.trim().strip_prefix("bytes "))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, _)| a.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .field("content_md5", &self.content_md5)
            .field("content_range", &self.content_range)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[test]
    fn byte_stream_ranges() {
        let b = ByteStream {
            status: 206,
            content_length: Some(10),
            content_md5: None,
            content_range: Some("bytes 100-109/2000".into()),
            request_id: None,
            stream: futures_util::stream::empty().boxed(),
        };
        assert!(b.is_partial());
        assert_eq!(b.total_size(), Some(2000));
        assert_eq!(b.start_offset(), 100);
    }
}
