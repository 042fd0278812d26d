//! The cloud's clock: wall-clock time plus an adjustable offset, so tests can move time forward
//! (token expiry, usage figures) without sleeping. Knows nothing about the services using it.

use std::sync::Mutex;

use time::OffsetDateTime;

/// A shiftable clock. `now()` = system UTC time + the offset set by `shift`.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<time::Duration>,
}

impl Clock {
    /// A clock that starts at the real time.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// The cloud's current time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.offset.lock().expect("clock mutex poisoned")
    }

    /// Move the clock by `by` (may be negative); offsets accumulate.
    pub fn shift(&self, by: time::Duration) {
        *self.offset.lock().expect("clock mutex poisoned") += by;
    }

    /// The total offset from the real time.
    pub fn offset(&self) -> time::Duration {
        *self.offset.lock().expect("clock mutex poisoned")
    }
}

/// `2026-11-24T18:50:00Z` (seconds precision, `Z`), as Keystone's `expires_at` minus the
/// fraction and as Nova's `created`/`updated`.
pub fn iso_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-11-24T18:50:00.000000Z` (microseconds, `Z`), as Keystone's `expires_at`/`issued_at`.
pub fn iso_micros(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// `2026-11-24T18:50:00.000000` (microseconds, no zone), as Nova's usage `started_at` and
/// Neutron's timestamps without `Z`.
pub fn iso_micros_naive(t: OffsetDateTime) -> String {
    let s = iso_micros(t);
    s.trim_end_matches('Z').to_string()
}

/// Parse the timestamps clients send (`2026-11-24T18:50:00`, with optional fraction and
/// optional `Z`/offset, or a date `2026-11-24`). Naive times are taken as UTC.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let with_z = format!("{s}Z");
    if let Ok(t) = OffsetDateTime::parse(&with_z, &Rfc3339) {
        return Some(t);
    }
    let with_time = format!("{s}T00:00:00Z");
    if let Ok(t) = OffsetDateTime::parse(&with_time, &Rfc3339) {
        return Some(t);
    }
    // `2026-11-24 18:50:00` (space instead of T)
    let t_form = s.replacen(' ', "T", 1);
    if t_form != s {
        return parse_time(&t_form);
    }
    None
}
