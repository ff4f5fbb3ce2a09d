//! `parse_time`: formats epoch milliseconds with a Joda-Time pattern, in UTC or a fixed offset;
//! `time_to_epoch`: reads a date with a Java pattern back into epoch milliseconds.
//!
//! Supported letters: `G y Y u M d D E e a H k K h m s S Z z`, with Joda's meaning of the letter
//! count (`MM` → `03`, `MMM` → `Mar`, `MMMM` → `March`, `yy` → two digits), `'quoted text'` and
//! `''` for a quote. Named zones other than UTC/GMT need a time-zone database this crate does not
//! carry, so they (and unknown letters) make the result Undefined.

const MS_PER_DAY: i64 = 86_400_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A zone's offset from UTC in seconds and the name `Z`/`z` print; `None` for zones we cannot
/// resolve without a time-zone database.
fn zone(name: &str) -> Option<(i64, String)> {
    let upper = name.to_ascii_uppercase();
    let rest = ["ETC/UTC", "ETC/GMT", "UTC", "GMT", "UT"]
        .iter()
        .find_map(|p| upper.strip_prefix(p))
        .unwrap_or(&upper);
    if rest.is_empty() || rest == "Z" {
        return Some((0, "UTC".to_owned()));
    }
    let (sign, digits) = match rest.as_bytes().first() {
        Some(b'+') => (1, rest.get(1..)?),
        Some(b'-') => (-1, rest.get(1..)?),
        _ => return None,
    };
    let compact: String = digits.chars().filter(|c| *c != ':').collect();
    if !compact.bytes().all(|b| b.is_ascii_digit()) || compact.is_empty() || compact.len() > 4 {
        return None;
    }
    let (h, m) = match compact.len() {
        1 | 2 => (compact.parse::<i64>().ok()?, 0),
        _ => {
            let split = compact.len() - 2;
            (
                compact.get(..split)?.parse::<i64>().ok()?,
                compact.get(split..)?.parse::<i64>().ok()?,
            )
        }
    };
    if h > 18 || m > 59 {
        return None;
    }
    let seconds = sign * (h * 3600 + m * 60);
    Some((seconds, offset_text(seconds, true)))
}

fn offset_text(seconds: i64, colon: bool) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.abs();
    let (h, m) = (abs / 3600, abs % 3600 / 60);
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// Year, month (1-12) and day (1-31) of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the given date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn padded(n: i64, width: usize) -> String {
    if n < 0 {
        format!("-{:0width$}", n.unsigned_abs())
    } else {
        format!("{n:0width$}")
    }
}

/// `ms` (epoch milliseconds) formatted with the Joda `pattern` in `zone`.
pub(crate) fn format(pattern: &str, ms: i64, zone_name: &str) -> Option<String> {
    let (offset, zone_text) = zone(zone_name)?;
    let local = ms.checked_add(offset.checked_mul(1000)?)?;
    let days = local.div_euclid(MS_PER_DAY);
    let in_day = local.rem_euclid(MS_PER_DAY);
    // Joda's range is about ±292 million years; keep well inside i64 arithmetic.
    if days.abs() > 100_000_000 {
        return None;
    }
    let (year, month, day) = civil_from_days(days);
    let hour = in_day / 3_600_000;
    let minute = in_day / 60_000 % 60;
    let second = in_day / 1000 % 60;
    let millis = in_day % 1000;
    let weekday = (days + 3).rem_euclid(7); // 0 = Monday; 1970-01-01 was a Thursday.
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;

    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while let Some(&q) = chars.get(i) {
                if q == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                out.push(q);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut count = 1;
        while chars.get(i + count) == Some(&c) {
            count += 1;
        }
        i += count;
        let width = count.min(64);
        let text = match c {
            'G' => if year > 0 { "AD" } else { "BC" }.to_owned(),
            'y' | 'Y' | 'u' if count == 2 => padded(year.rem_euclid(100), 2),
            'y' | 'Y' | 'u' => padded(year, width),
            'M' if count >= 4 => MONTHS.get(month as usize - 1)?.to_string(),
            'M' if count == 3 => MONTHS.get(month as usize - 1)?.get(..3)?.to_owned(),
            'M' => padded(month, width),
            'd' => padded(day, width),
            'D' => padded(day_of_year, width),
            'E' if count >= 4 => WEEKDAYS.get(weekday as usize)?.to_string(),
            'E' => WEEKDAYS.get(weekday as usize)?.get(..3)?.to_owned(),
            'e' => padded(weekday + 1, width),
            'a' => if hour < 12 { "AM" } else { "PM" }.to_owned(),
            'H' => padded(hour, width),
            'k' => padded(if hour == 0 { 24 } else { hour }, width),
            'K' => padded(hour % 12, width),
            'h' => padded(if hour % 12 == 0 { 12 } else { hour % 12 }, width),
            'm' => padded(minute, width),
            's' => padded(second, width),
            'S' => {
                let mut fraction = format!("{millis:03}");
                fraction.truncate(width.min(3));
                while fraction.len() < width {
                    fraction.push('0');
                }
                fraction
            }
            'Z' if count == 1 => offset_text(offset, false),
            'Z' if count == 2 => offset_text(offset, true),
            'Z' | 'z' => zone_text.clone(),
            _ => return None,
        };
        out.push_str(&text);
    }
    Some(out)
}

/// One piece of a pattern: literal text or a run of one pattern letter.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(char),
    Field(char, usize),
}

fn pieces(pattern: &str) -> Vec<Piece> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push(Piece::Literal('\''));
                i += 2;
                continue;
            }
            i += 1;
            while let Some(&q) = chars.get(i) {
                if q == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push(Piece::Literal('\''));
                        i += 2;
                        continue;
                    }
                    break;
                }
                out.push(Piece::Literal(q));
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while chars.get(i + count) == Some(&c) {
                count += 1;
            }
            out.push(Piece::Field(c, count));
            i += count;
        } else {
            out.push(Piece::Literal(c));
            i += 1;
        }
    }
    out
}

/// Reads digits at `*at`: exactly `exact` of them when given, otherwise 1 to 10.
fn digits(text: &[char], at: &mut usize, exact: Option<usize>) -> Option<i64> {
    let start = *at;
    let limit = exact.unwrap_or(10);
    while *at - start < limit && text.get(*at).is_some_and(char::is_ascii_digit) {
        *at += 1;
    }
    let n = *at - start;
    if n == 0 || exact.is_some_and(|e| n != e) {
        return None;
    }
    text.get(start..*at)?
        .iter()
        .collect::<String>()
        .parse()
        .ok()
}

/// Reads one of `names` (case-insensitively, whole or as its first three letters) at `*at`,
/// returning its index.
fn name(text: &[char], at: &mut usize, names: &[&str], short: bool) -> Option<usize> {
    let rest: String = text
        .get(*at..)?
        .iter()
        .collect::<String>()
        .to_ascii_lowercase();
    names.iter().position(|n| {
        let n = n.to_ascii_lowercase();
        let n = if short {
            n.get(..3).unwrap_or_default().to_owned()
        } else {
            n
        };
        if rest.starts_with(&n) {
            *at += n.chars().count();
            true
        } else {
            false
        }
    })
}

/// `time_to_epoch(text, pattern)`: the epoch milliseconds of a date written with a Java
/// `DateTimeFormatter` pattern (letters `y u M d H h k K m s S a E` for fields, `Z X x O` for
/// offsets, `VV z` for `UTC`/`GMT`/fixed-offset zone ids). Missing fields default to
/// 1970-01-01T00:00:00Z; anything that does not match is `None`.
pub(crate) fn parse(text: &str, pattern: &str) -> Option<i64> {
    let text: Vec<char> = text.chars().collect();
    let pieces = pieces(pattern);
    let (mut year, mut month, mut day) = (1970_i64, 1_i64, 1_i64);
    let (mut hour, mut minute, mut second, mut millis) = (0_i64, 0_i64, 0_i64, 0_i64);
    let mut pm: Option<bool> = None;
    let mut twelve_hour = false;
    let mut offset = 0_i64;
    let mut at = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let next_is_field = matches!(pieces.get(i + 1), Some(Piece::Field(..)));
        match *piece {
            Piece::Literal(c) => {
                if text.get(at) != Some(&c) {
                    return None;
                }
                at += 1;
            }
            Piece::Field(letter, count) => {
                let exact = (next_is_field || count == 2).then_some(count);
                match letter {
                    'y' | 'u' | 'Y' => {
                        let negative = text.get(at) == Some(&'-');
                        if negative {
                            at += 1;
                        }
                        let y = digits(&text, &mut at, exact)?;
                        year = match (count, negative) {
                            (2, _) => 2000 + y,
                            (_, true) => -y,
                            _ => y,
                        };
                    }
                    'M' | 'L' if count >= 4 => {
                        month = name(&text, &mut at, &MONTHS, false)? as i64 + 1
                    }
                    'M' | 'L' if count == 3 => {
                        month = name(&text, &mut at, &MONTHS, true)? as i64 + 1
                    }
                    'M' | 'L' => month = digits(&text, &mut at, exact)?,
                    'd' => day = digits(&text, &mut at, exact)?,
                    'H' | 'k' => hour = digits(&text, &mut at, exact)? % 24,
                    'h' | 'K' => {
                        hour = digits(&text, &mut at, exact)? % 12;
                        twelve_hour = true;
                    }
                    'm' => minute = digits(&text, &mut at, exact)?,
                    's' => second = digits(&text, &mut at, exact)?,
                    'S' => {
                        let start = at;
                        let fraction = digits(&text, &mut at, next_is_field.then_some(count))?;
                        let len = (at - start) as u32;
                        millis = match len {
                            0..=3 => fraction * 10_i64.pow(3 - len),
                            _ => fraction / 10_i64.pow(len - 3),
                        };
                    }
                    'a' => pm = Some(name(&text, &mut at, &["AM", "PM"], false)? == 1),
                    'E' => {
                        name(&text, &mut at, &WEEKDAYS, count < 4)?;
                    }
                    'Z' | 'X' | 'x' | 'O' => {
                        if matches!(letter, 'X' | 'Z') && text.get(at) == Some(&'Z') {
                            at += 1;
                            offset = 0;
                        } else {
                            if letter == 'O' {
                                let gmt: String = text.get(at..at + 3)?.iter().collect();
                                if gmt != "GMT" {
                                    return None;
                                }
                                at += 3;
                            }
                            let start = at;
                            while text
                                .get(at)
                                .is_some_and(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ':'))
                            {
                                at += 1;
                            }
                            let s: String = text.get(start..at)?.iter().collect();
                            offset = if s.is_empty() && letter == 'O' {
                                0
                            } else {
                                zone(&s)?.0
                            };
                        }
                    }
                    'V' | 'z' => {
                        let start = at;
                        while text.get(at).is_some_and(|c| !c.is_whitespace()) {
                            at += 1;
                        }
                        let s: String = text.get(start..at)?.iter().collect();
                        offset = zone(&s)?.0;
                    }
                    _ => return None,
                }
            }
        }
    }
    if at != text.len() {
        return None;
    }
    if twelve_hour && pm == Some(true) {
        hour += 12;
    } else if !twelve_hour && pm.is_some() {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_length(year, month)
        || minute > 59
        || second > 59
        || year.abs() > 999_999
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let local = days * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis;
    local.checked_sub(offset * 1000)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_length(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARCH_8_2018: i64 = 1_520_551_012_345; // 2018-03-08T23:16:52.345Z, a Thursday

    #[test]
    fn an_iso_pattern_formats_in_utc() {
        assert_eq!(
            format("yyyy-MM-dd'T'HH:mm:ss.SSSZ", MARCH_8_2018, "UTC").unwrap(),
            "2018-03-08T23:16:52.345+0000"
        );
    }

    #[test]
    fn month_and_weekday_names_follow_the_letter_count() {
        assert_eq!(
            format("EEE, d MMM yy h:mm a", MARCH_8_2018, "UTC").unwrap(),
            "Thu, 8 Mar 18 11:16 PM"
        );
        assert_eq!(
            format("EEEE MMMM D", MARCH_8_2018, "UTC").unwrap(),
            "Thursday March 67"
        );
    }

    #[test]
    fn fixed_offsets_shift_the_local_time() {
        assert_eq!(
            format("yyyy-MM-dd HH:mm ZZ", MARCH_8_2018, "+05:30").unwrap(),
            "2018-03-09 04:46 +05:30"
        );
        assert_eq!(
            format("HH:mm Z", MARCH_8_2018, "GMT-08:00").unwrap(),
            "15:16 -0800"
        );
    }

    #[test]
    fn named_zones_and_unknown_letters_are_refused() {
        assert_eq!(format("yyyy", MARCH_8_2018, "America/New_York"), None);
        assert_eq!(format("yyyy q", MARCH_8_2018, "UTC"), None);
    }

    #[test]
    fn quoted_text_and_doubled_quotes_are_literal() {
        assert_eq!(
            format("'at' HH 'o''clock' ''", MARCH_8_2018, "UTC").unwrap(),
            "at 23 o'clock '"
        );
    }

    #[test]
    fn dates_before_the_epoch_work() {
        assert_eq!(format("yyyy-MM-dd HH", -1, "UTC").unwrap(), "1969-12-31 23");
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
    }

    #[test]
    fn time_to_epoch_reads_what_parse_time_writes() {
        let pattern = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";
        let text = format(pattern, MARCH_8_2018, "UTC").unwrap();
        assert_eq!(parse(&text, pattern), Some(MARCH_8_2018));
        assert_eq!(
            parse("2020-04-03 09:45:18 UTC+01:00", "yyyy-MM-dd HH:mm:ss VV"),
            Some(1_585_903_518_000)
        );
        assert_eq!(parse("20180308", "yyyyMMdd"), Some(1_520_467_200_000));
        assert_eq!(
            parse("Thu, 8 Mar 2018 11:16:52 PM", "EEE, d MMM yyyy hh:mm:ss a"),
            Some(MARCH_8_2018 - 345)
        );
        assert_eq!(
            parse("2018-03-08T23:16:52Z", "yyyy-MM-dd'T'HH:mm:ssX"),
            Some(MARCH_8_2018 - 345)
        );
        assert_eq!(
            parse("2018-03-09 04:46 +05:30", "yyyy-MM-dd HH:mm xxx"),
            Some(MARCH_8_2018 - 52_345)
        );
    }

    #[test]
    fn time_to_epoch_refuses_text_that_does_not_fit_the_pattern() {
        assert_eq!(parse("2018-02-30", "yyyy-MM-dd"), None);
        assert_eq!(parse("2018-13-01", "yyyy-MM-dd"), None);
        assert_eq!(parse("2018-03-08x", "yyyy-MM-dd"), None);
        assert_eq!(parse("2018/03/08", "yyyy-MM-dd"), None);
        assert_eq!(parse("2018-03-08 Europe/Lisbon", "yyyy-MM-dd VV"), None);
        assert_eq!(parse("99999999999-01-01", "yyyy-MM-dd"), None);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        assert_eq!(format("yyyy", i64::MAX, "UTC"), None);
        assert_eq!(format("yyyy", i64::MIN, "+01:00"), None);
    }
}
