//! The request timestamp: `X-Amz-Date` in ISO 8601 basic format, or an HTTP `Date` header.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A request time at one-second resolution, displayed as SigV4's `YYYYMMDD'T'HHMMSS'Z'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate(i64);

const SECONDS_PER_DAY: i64 = 86_400;

impl AmzDate {
    /// The time `secs` seconds after the Unix epoch (negative is before it).
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Self(secs)
    }

    /// `t` truncated to whole seconds; times before 1970 count backwards from the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_secs()).unwrap_or(i64::MAX)),
            Err(before) => Self(-i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// Parses ISO 8601 basic format, exactly `YYYYMMDD'T'HHMMSS'Z'` (16 characters, UTC).
    pub fn parse_basic(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[4..6])?;
        let day = digits(&b[6..8])?;
        let hour = digits(&b[9..11])?;
        let minute = digits(&b[11..13])?;
        let second = digits(&b[13..15])?;
        Self::from_fields(year, month, day, hour, minute, second)
    }

    /// Parses an HTTP date in IMF-fixdate form (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn parse_http_date(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        // "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 bytes.
        if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
            return None;
        }
        if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
            return None;
        }
        let day = digits(&b[5..7])?;
        let month = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11])? as i64 + 1;
        let year = digits(&b[12..16])?;
        let hour = digits(&b[17..19])?;
        let minute = digits(&b[20..22])?;
        let second = digits(&b[23..25])?;
        Self::from_fields(year, month, day, hour, minute, second)
    }

    /// The `YYYYMMDD` date stamp used in the credential scope.
    pub fn date_stamp(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(SECONDS_PER_DAY));
        format!("{y:04}{m:02}{d:02}")
    }

    /// This time plus `secs` seconds, saturating.
    pub(crate) fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    fn from_fields(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> Option<Self> {
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self(
            days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second,
        ))
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0.div_euclid(SECONDS_PER_DAY));
        let secs = self.0.rem_euclid(SECONDS_PER_DAY);
        write!(
            f,
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's proleptic-Gregorian conversions (http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basic_format_round_trips_through_display() {
        let d = AmzDate::parse_basic("20261129T012500Z").expect("valid");
        assert_eq!(d.unix_seconds(), 1_795_915_500);
        assert_eq!(d.to_string(), "20261129T012500Z");
        assert_eq!(d.date_stamp(), "20261129");
    }

    #[test]
    fn http_date_is_read_as_utc() {
        let d = AmzDate::parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").expect("valid");
        assert_eq!(d.to_string(), "20150830T123600Z");
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for bad in [
            "20261329T012500Z",
            "20260230T012500Z",
            "20261129T242500Z",
            "20261129T012560Z",
            "20261129 012500Z",
            "2026-11-29T01:25:00Z",
            "20261129T012500",
            "2026112aT012500Z",
            "",
        ] {
            assert_eq!(AmzDate::parse_basic(bad), None, "{bad}");
        }
        assert_eq!(
            AmzDate::parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"),
            None
        );
        assert_eq!(
            AmzDate::parse_http_date("Sunday, 30-Aug-15 12:36:00 GMT"),
            None
        );
    }

    #[test]
    fn leap_day_is_accepted_only_in_leap_years() {
        assert!(AmzDate::parse_basic("20240229T000000Z").is_some());
        assert!(AmzDate::parse_basic("20000229T000000Z").is_some());
        assert!(AmzDate::parse_basic("21000229T000000Z").is_none());
    }

    #[test]
    fn system_time_is_truncated_to_seconds() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_795_915_500_999);
        assert_eq!(AmzDate::from_system_time(t).to_string(), "20261129T012500Z");
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(secs in 0i64..253_402_300_799) {
            let d = AmzDate::from_unix_seconds(secs);
            prop_assert_eq!(AmzDate::parse_basic(&d.to_string()), Some(d));
        }
    }
}
