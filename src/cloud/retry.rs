//! When a request is tried again, and after how long: the retryable statuses, the backoff
//! with jitter, and `Retry-After` in seconds or as an HTTP date.

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

pub(crate) fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 502 | 503 | 504)
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
