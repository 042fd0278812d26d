//! Waiting for a condition: one polling loop with a deadline owned by the caller. The
//! condition decides (ready, still pending with a note, or failed); this module only knows
//! time.

use std::future::Future;
use std::time::Duration;

use super::error::{Error, Result};

/// The answer of one poll.
#[derive(Debug)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what was seen (it ends up in the timeout message).
    Pending(String),
}

/// Poll `condition` until it is ready, fails, or `timeout` passes (then [`Error::Timeout`]
/// names `what` and the last state seen). The pause between polls starts at 250 ms (or
/// `interval`, if shorter) and grows by half each time up to `interval`: what is ready in a
/// moment is seen in a moment, and a long wait costs the cloud few requests.
pub async fn wait_for<T, F, Fut>(
    cloud: &str,
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut condition: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = interval.min(Duration::from_millis(250));
    loop {
        let last = match condition().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::Pending(note) => {
                tracing::trace!(cloud, what, %note, "waiting");
                note
            }
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                cloud: cloud.to_string(),
                what: format!("waiting for {what} (last seen: {last})"),
                after: timeout,
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 3 / 2).min(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_after_some_polls() {
        let mut n = 0;
        let v = wait_for(
            "c",
            "thing",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || {
                n += 1;
                let n = n;
                async move {
                    Ok(if n >= 3 {
                        Poll::Ready(n)
                    } else {
                        Poll::Pending(format!("poll {n}"))
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_naming_the_last_state() {
        let e = wait_for::<(), _, _>(
            "hospital",
            "server x",
            Duration::from_secs(10),
            Duration::from_secs(1),
            || async { Ok(Poll::Pending("status BUILD".into())) },
        )
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "hospital: waiting for server x (last seen: status BUILD): timed out after 10s"
            ),
            "{msg}"
        );
    }
}
