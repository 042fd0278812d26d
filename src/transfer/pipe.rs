//! The stream pipe: bytes from a download flow into an upload body chunk by chunk, hashed on
//! the way, with a fixed number of chunks in flight.
//!
//! ```text
//!  source stream ──► forwarder task ──(bounded queue: `in_flight` chunks)──► upload body
//!                          │
//!                          └─(bounded queue)──► hashing thread (md5 + sha512)
//! ```
//!
//! Backpressure both ways: the forwarder reads the next chunk only when both queues have room,
//! so a slow upload or slow hashing slows the download instead of filling memory; a slow
//! download simply leaves the upload waiting. Memory is bounded by `2 * in_flight` chunks
//! (chunks are reference-counted `Bytes`, shared between the two queues).
//!
//! A failure of the source (an error, or no bytes for `stall_timeout`) is passed into the
//! upload body as an error, so the HTTP client aborts the upload instead of ending it as if
//! the image were complete: a short image is never presented as a whole one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::hash::{Checksums, Hasher};

/// Tuning of a pipe.
#[derive(Debug, Clone, Copy)]
pub struct PipeOptions {
    /// Chunks queued towards the upload (and towards the hasher) at most.
    pub in_flight: usize,
    /// Fail when the source yields nothing for this long. There is no total timeout.
    pub stall_timeout: Duration,
}

impl Default for PipeOptions {
    fn default() -> Self {
        PipeOptions {
            in_flight: 8,
            stall_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a pipe did not deliver every byte.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("the download failed after {after} bytes: {message}")]
    Source { after: u64, message: String },
    #[error("the download stalled: no bytes for {} s after {after} bytes", stall.as_secs())]
    Stalled { after: u64, stall: Duration },
    #[error("the upload stopped taking bytes after {after} bytes")]
    SinkClosed { after: u64 },
    #[error("the hashing thread failed")]
    Hasher,
}

/// The running pipe: await [`PipeHandle::finish`] for the checksums of every byte that went
/// through, once the upload has consumed the body.
pub struct PipeHandle {
    forwarder: tokio::task::JoinHandle<Result<Checksums, PipeError>>,
    progress: Arc<AtomicU64>,
}

impl PipeHandle {
    /// Bytes forwarded so far (for progress bars; cheap to poll).
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    pub async fn finish(self) -> Result<Checksums, PipeError> {
        match self.forwarder.await {
            Ok(result) => result,
            Err(_) => Err(PipeError::Hasher),
        }
    }
}

/// The upload side of a pipe: a stream of chunks, ending in an error if the source failed.
pub type Body = tokio_stream_body::BodyStream;

/// Start piping `source` into the returned body.
pub fn pipe<S, E>(source: S, options: PipeOptions) -> (Body, PipeHandle)
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let in_flight = options.in_flight.max(1);
    let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(in_flight);
    let (hash_tx, mut hash_rx) = mpsc::channel::<Bytes>(in_flight);
    let progress = Arc::new(AtomicU64::new(0));

    let hasher = std::thread::Builder::new()
        .name("s2d-hash".into())
        .spawn(move || {
            let mut hasher = Hasher::new();
            while let Some(chunk) = hash_rx.blocking_recv() {
                hasher.update(&chunk);
            }
            hasher.finish()
        });

    let counter = progress.clone();
    let forwarder = tokio::spawn(async move {
        let Ok(hasher) = hasher else {
            return Err(PipeError::Hasher);
        };
        let mut source = std::pin::pin!(source);
        let mut sent: u64 = 0;
        let failure = loop {
            let next = match tokio::time::timeout(options.stall_timeout, source.next()).await {
                Ok(next) => next,
                Err(_) => {
                    break Some(PipeError::Stalled {
                        after: sent,
                        stall: options.stall_timeout,
                    });
                }
            };
            let chunk = match next {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    break Some(PipeError::Source {
                        after: sent,
                        message: e.to_string(),
                    });
                }
            };
            if chunk.is_empty() {
                continue;
            }
            // The hasher runs on its own thread; a full queue makes the download wait.
            if hash_tx.send(chunk.clone()).await.is_err() {
                break Some(PipeError::Hasher);
            }
            let len = chunk.len() as u64;
            if body_tx.send(Ok(chunk)).await.is_err() {
                break Some(PipeError::SinkClosed { after: sent });
            }
            sent += len;
            counter.store(sent, Ordering::Relaxed);
        };
        drop(hash_tx);
        if let Some(error) = failure {
            // Abort the upload: the body ends in an error, not in a clean end of stream.
            let _ = body_tx
                .send(Err(std::io::Error::other(error.to_string())))
                .await;
            return Err(error);
        }
        drop(body_tx);
        tokio::task::spawn_blocking(move || hasher.join())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(PipeError::Hasher)
    });

    (
        Body::new(body_rx),
        PipeHandle {
            forwarder,
            progress,
        },
    )
}

/// The receiving end as a `Stream`, without pulling in tokio-stream for one adapter.
mod tokio_stream_body {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use tokio::sync::mpsc;

    /// Chunks for an upload body; implements `Stream`.
    pub struct BodyStream {
        rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    }

    impl BodyStream {
        pub(super) fn new(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Self {
            BodyStream { rx }
        }
    }

    impl futures_util::Stream for BodyStream {
        type Item = Result<Bytes, std::io::Error>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.rx.poll_recv(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use std::sync::atomic::AtomicUsize;

    fn chunks(n: usize, size: usize) -> Vec<Bytes> {
        (0..n)
            .map(|i| Bytes::from(vec![(i % 251) as u8; size]))
            .collect()
    }

    #[tokio::test]
    async fn every_byte_arrives_and_is_hashed() {
        let data = chunks(50, 10_000);
        let mut expected = Hasher::new();
        for c in &data {
            expected.update(c);
        }
        let source = stream::iter(data.clone().into_iter().map(Ok::<_, std::io::Error>));
        let (body, handle) = pipe(source, PipeOptions::default());
        let received: Vec<Bytes> = body.map(|r| r.expect("no error")).collect().await;
        assert_eq!(received, data);
        let sums = handle.finish().await.expect("finishes");
        assert_eq!(sums, expected.finish());
        assert_eq!(sums.size, 500_000);
    }

    #[tokio::test]
    async fn a_source_error_ends_the_body_in_an_error() {
        let items: Vec<Result<Bytes, String>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Err("connection reset".into()),
        ];
        let (body, handle) = pipe(stream::iter(items), PipeOptions::default());
        let received: Vec<_> = body.collect().await;
        assert_eq!(received.len(), 2);
        assert!(
            received[1].is_err(),
            "the upload must see an error, not a clean end"
        );
        match handle.finish().await {
            Err(PipeError::Source { after, message }) => {
                assert_eq!(after, 3);
                assert!(message.contains("connection reset"));
            }
            other => panic!("expected a source error, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_source_fails_after_the_stall_timeout() {
        let source =
            stream::iter(vec![Ok::<_, String>(Bytes::from_static(b"x"))]).chain(stream::pending());
        let options = PipeOptions {
            in_flight: 2,
            stall_timeout: Duration::from_secs(30),
        };
        let (body, handle) = pipe(source, options);
        let received: Vec<_> = body.collect().await;
        assert!(received.last().is_some_and(Result::is_err));
        assert!(matches!(
            handle.finish().await,
            Err(PipeError::Stalled { after: 1, .. })
        ));
    }

    #[tokio::test]
    async fn a_slow_upload_holds_back_the_download() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let source = stream::iter(chunks(100, 1000)).map(move |c| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(c)
        });
        let options = PipeOptions {
            in_flight: 4,
            stall_timeout: Duration::from_secs(30),
        };
        let (mut body, handle) = pipe(source, options);
        // Take two chunks, then let the forwarder run as far as it can.
        body.next().await;
        body.next().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let read_ahead = pulled.load(Ordering::SeqCst);
        // 2 consumed + 4 queued + 1 waiting to be queued, at most.
        assert!(
            read_ahead <= 2 + 4 + 1,
            "read {read_ahead} chunks ahead of a stalled upload"
        );
        while body.next().await.is_some() {}
        assert_eq!(handle.finish().await.expect("finishes").size, 100_000);
    }

    #[tokio::test]
    async fn a_dropped_upload_stops_the_pipe() {
        let source = stream::iter(chunks(1000, 1000)).map(Ok::<_, String>);
        let options = PipeOptions {
            in_flight: 2,
            stall_timeout: Duration::from_secs(30),
        };
        let (mut body, handle) = pipe(source, options);
        body.next().await;
        drop(body);
        assert!(matches!(
            handle.finish().await,
            Err(PipeError::SinkClosed { .. })
        ));
    }
}
