//! When a request is tried again, and after how long: the retryable statuses, the backoff
//! with jitter, `Retry-After` in seconds or as an HTTP date, and the [`Limiter`] every request
//! to one cloud passes (a concurrency cap, a request rate, and the pause a `429` imposes on
//! the whole cloud).

use std::time::Duration;

use reqwest::StatusCode;
use time::OffsetDateTime;

use super::config::RetryPolicy;

/// Seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let d = when - now;
    Some(if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    })
}

/// The wait before retry number `attempt` (0-based): `base * 2^attempt` capped at
/// `max_delay`, scaled by a random factor in [0.5, 1.0); a `Retry-After` wins (capped at
/// `max_retry_after`).
pub(crate) fn backoff(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(policy.max_retry_after);
    }
    let exp = policy
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let capped = exp.min(policy.max_delay);
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// Statuses after which a request that is safe to repeat (GET, HEAD, DELETE, PUT of the same
/// body) is sent again: the cloud failed on its side (500, 502, 503, 504) or limited the rate
/// (429). A POST is repeated only after a 429 (the request was refused unseen); after a 5xx it
/// may have taken effect and is left to the caller's marker lookup.
pub(crate) fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// The shared gate of one cloud's requests: at most `concurrency` requests waiting for their
/// answer at once, starts spaced to at most `rate` per second, and a pause that holds every
/// request back until a `Retry-After` has passed. Shared by every clone of the session, so
/// all the tasks of an apply see the same limits.
#[derive(Debug)]
pub(crate) struct Limiter {
    permits: Option<tokio::sync::Semaphore>,
    /// The gap between two starts (1 / rate).
    interval: Option<Duration>,
    /// When the next request may start (the rate's schedule).
    next_start: std::sync::Mutex<tokio::time::Instant>,
    /// Until when the whole cloud is paused (after a 429).
    paused_until: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Limiter {
    pub(crate) fn new(limits: &super::config::RequestLimits) -> Limiter {
        let interval = limits
            .requests_per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok());
        Limiter {
            permits: limits
                .concurrency
                .map(|n| tokio::sync::Semaphore::new(n.max(1))),
            interval,
            next_start: std::sync::Mutex::new(tokio::time::Instant::now()),
            paused_until: std::sync::Mutex::new(None),
        }
    }

    /// Wait for this cloud's turn: past any pause, the rate's next slot, and a free permit
    /// (held until the answer's headers arrive).
    pub(crate) async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        if let Some(gap) = self.interval {
            let start = {
                let mut next = self.next_start.lock().unwrap_or_else(|e| e.into_inner());
                let start = (*next).max(tokio::time::Instant::now());
                *next = start + gap;
                start
            };
            tokio::time::sleep_until(start).await;
        }
        match &self.permits {
            // The semaphore is never closed.
            Some(s) => s.acquire().await.ok(),
            None => None,
        }
    }

    /// Hold every request of this cloud back for `wait` (a 429's `Retry-After`); a longer
    /// pause already in force stays.
    pub(crate) fn pause(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = OffsetDateTime::parse(
            "Wed, 21 Oct 2015 07:28:00 GMT",
            &time::format_description::well_known::Rfc2822,
        )
        .unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn statuses_retried() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 501] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    fn limits(
        concurrency: Option<usize>,
        rate: Option<f64>,
    ) -> super::super::config::RequestLimits {
        super::super::config::RequestLimits {
            concurrency,
            requests_per_second: rate,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_of_the_cloud() {
        let l = std::sync::Arc::new(Limiter::new(&limits(None, None)));
        let t0 = tokio::time::Instant::now();
        l.pause(Duration::from_secs(3));
        l.pause(Duration::from_secs(1)); // a shorter one does not shorten it
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                tokio::time::Instant::now()
            }));
        }
        for t in tasks {
            let started = t.await.unwrap();
            assert!(started - t0 >= Duration::from_secs(3), "{:?}", started - t0);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_spaces_starts_and_the_permits_cap_concurrency() {
        let l = std::sync::Arc::new(Limiter::new(&limits(Some(2), Some(10.0))));
        let t0 = tokio::time::Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        // Five starts at 10 per second: the fifth 400 ms after the first.
        let took = tokio::time::Instant::now() - t0;
        assert!(took >= Duration::from_millis(399), "{took:?}");
        let l = Limiter::new(&limits(Some(2), None));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.acquire())
                .await
                .is_err(),
            "a third permit while two are held"
        );
        drop(a);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), l.acquire())
                .await
                .is_ok()
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = RetryPolicy::default();
        for attempt in 0..10 {
            let d = backoff(&p, attempt, None);
            let full = p.base_delay.saturating_mul(1 << attempt).min(p.max_delay);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            backoff(&p, 0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            backoff(&p, 0, Some(Duration::from_secs(3600))),
            p.max_retry_after
        );
    }
}
