//! The reporting period: ISO 8601 dates or date-times, local or UTC.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// From `start` (inclusive) to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error(
        "`{0}` is not a date: use ISO 8601, e.g. 2026-11-01, 2026-11-01T08:00 (local time) or \
         2026-11-01T08:00:00Z"
    )]
    Unparsable(String),
    #[error("the period ends ({end}) before it starts ({start})")]
    Backwards { start: String, end: String },
}

/// Parse one instant. A date alone is midnight; a time without offset is in `local`.
pub fn parse_instant(text: &str, local: UtcOffset) -> Result<OffsetDateTime, PeriodError> {
    let text = text.trim();
    let bad = || PeriodError::Unparsable(text.to_string());
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Ok(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_offset(local));
    }
    for format in [
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
    ] {
        if let Ok(at) = PrimitiveDateTime::parse(text, format) {
            return Ok(at.assume_offset(local));
        }
    }
    Err(bad())
}

impl Period {
    /// The period from the flags: `start` defaults to the first of this month (local
    /// midnight), `end` to now.
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        local: UtcOffset,
    ) -> Result<Period, PeriodError> {
        Self::parse_at(start, end, local, OffsetDateTime::now_utc())
    }

    /// [`Period::parse`] with "now" given, for tests.
    pub fn parse_at(
        start: Option<&str>,
        end: Option<&str>,
        local: UtcOffset,
        now: OffsetDateTime,
    ) -> Result<Period, PeriodError> {
        let now_local = now.to_offset(local);
        let start = match start {
            Some(text) => parse_instant(text, local)?,
            None => PrimitiveDateTime::new(
                now_local.date().replace_day(1).unwrap_or(now_local.date()),
                Time::MIDNIGHT,
            )
            .assume_offset(local),
        };
        let end = match end {
            Some(text) => parse_instant(text, local)?,
            None => now,
        };
        if end < start {
            return Err(PeriodError::Backwards {
                start: rfc3339(start),
                end: rfc3339(end),
            });
        }
        Ok(Period { start, end })
    }

    pub fn start_rfc3339(&self) -> String {
        rfc3339(self.start)
    }

    pub fn end_rfc3339(&self) -> String {
        rfc3339(self.end)
    }

    /// The start and end as Nova's `os-simple-tenant-usage` wants them: UTC, no offset.
    pub fn nova_bounds(&self) -> (String, String) {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
        );
        let f = |t: OffsetDateTime| {
            t.to_offset(UtcOffset::UTC)
                .format(format)
                .unwrap_or_default()
        };
        (f(self.start), f(self.end))
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn accepted_forms() {
        let local = offset!(+2);
        assert_eq!(
            parse_instant("2026-11-01", local),
            Ok(datetime!(2026-11-01 0:00 +2))
        );
        assert_eq!(
            parse_instant("2026-11-01T08:30", local),
            Ok(datetime!(2026-11-01 8:30 +2))
        );
        assert_eq!(
            parse_instant("2026-11-01 08:30:15", local),
            Ok(datetime!(2026-11-01 8:30:15 +2))
        );
        assert_eq!(
            parse_instant("2026-11-01T08:30:00Z", local),
            Ok(datetime!(2026-11-01 8:30 UTC))
        );
        assert_eq!(
            parse_instant("2026-11-01T08:30:00-05:00", local),
            Ok(datetime!(2026-11-01 8:30 -5))
        );
        assert!(matches!(
            parse_instant("yesterday", local),
            Err(PeriodError::Unparsable(_))
        ));
        assert!(matches!(
            parse_instant("2026-13-01", local),
            Err(PeriodError::Unparsable(_))
        ));
    }

    #[test]
    fn defaults_to_this_month_until_now() {
        let now = datetime!(2026-11-24 18:00 UTC);
        let p = Period::parse_at(None, None, offset!(+1), now).expect("period");
        assert_eq!(p.start, datetime!(2026-11-01 0:00 +1));
        assert_eq!(p.end, now);
        assert_eq!(p.start_rfc3339(), "2026-10-31T23:00:00Z");
        assert_eq!(p.nova_bounds().0, "2026-10-31T23:00:00.000000");
    }

    #[test]
    fn backwards_periods_are_refused() {
        let err = Period::parse(Some("2026-11-02"), Some("2026-11-01"), UtcOffset::UTC)
            .expect_err("backwards");
        assert!(matches!(err, PeriodError::Backwards { .. }));
    }
}
