//! Dates without a clock (sans-IO: the caller passes the time): `civil`, seconds since the
//! epoch broken down in UTC, for every layer that prints a date; HTTP-dates written
//! (`imf_fixdate`) and read in their three forms (`parse_http_date`, RFC 9110 §5.6.7); and,
//! with feature `server`, `DateCache`, the `Date` header value rendered at most once a second.

#[cfg(feature = "server")]
use std::time::{SystemTime, UNIX_EPOCH};

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) cached by the second.
///
/// The caller supplies the clock, so the cache is testable and keeps the wire core free of
/// clocks; a server keeps one per connection thread.
#[cfg(feature = "server")]
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: u64,
    value: [u8; 29],
}

#[cfg(feature = "server")]
impl DateCache {
    /// An empty cache; the first [`get`](Self::get) renders.
    pub fn new() -> DateCache {
        DateCache {
            secs: u64::MAX,
            value: [0; 29],
        }
    }

    /// The date for `now`, rendered again only when the second has changed.
    pub fn get(&mut self, now: SystemTime) -> &[u8] {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.secs {
            let text = imf_fixdate(i64::try_from(secs).unwrap_or(i64::MAX));
            // IMF-fixdate is always 29 ASCII bytes for years 1000-9999.
            if text.len() == self.value.len() {
                self.value.copy_from_slice(text.as_bytes());
                self.secs = secs;
            }
        }
        &self.value
    }
}

/// A time in UTC, broken down (the proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// The year (1970 onwards for times after the epoch).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
}

/// Breaks down seconds since the Unix epoch (UTC), by the usual era arithmetic on the count
/// of days: eras of 400 years (146,097 days) counted from 0000-03-01.
///
/// ```
/// let t = nethttp::proto::date::civil(951_782_400);
/// assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
/// ```
pub fn civil(secs: u64) -> Civil {
    civil_of_day((secs / 86_400) as i64, (secs % 86_400) as u32)
}

/// `civil` for day `days` since the epoch (negative before it) and `rem` seconds into it.
fn civil_of_day(days: i64, rem: u32) -> Civil {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
    }
}

/// Days since the epoch of a date in the proleptic Gregorian calendar: the inverse of the
/// arithmetic in [`civil`]. `month` is 1 to 12; `day` is not checked against the month.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const WEEKDAYS_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The day of the week of day `days` since the epoch, 0 for Sunday (1970-01-01 was a
/// Thursday).
fn weekday(days: i64) -> usize {
    (days + 4).rem_euclid(7) as usize
}

/// The IMF-fixdate (RFC 9110 §5.6.7; Go's `http.TimeFormat`) for `secs` seconds since the Unix
/// epoch, negative before it: 29 bytes for the years 1000 to 9999; a year outside them is
/// written with as many digits as it needs, as Go writes it.
///
/// ```
/// use nethttp::proto::date::imf_fixdate;
/// assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
/// assert_eq!(imf_fixdate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
/// ```
pub fn imf_fixdate(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let c = civil_of_day(days, secs.rem_euclid(86_400) as u32);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[weekday(days)],
        c.day,
        MONTHS[c.month as usize - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// Reads an HTTP-date in any of the three forms RFC 9110 §5.6.7 requires a recipient to
/// accept, into seconds since the Unix epoch:
///
/// - IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - RFC 850, `Sunday, 06-Nov-94 08:49:37 GMT`, its two-digit year 70-99 read as 1970-1999 and
///   00-69 as 2000-2069;
/// - asctime, `Sun Nov  6 08:49:37 1994` (the day padded with a space or a zero).
///
/// Whitespace around the date is ignored. Names are case-sensitive, as the grammar's are.
/// `None` for anything else, and for a date that does not exist: a day past its month's end,
/// hour 24, second 60, a weekday that is not the date's, or a year before 1970 or after 9999
/// (the rules of the `httpdate` crate, which this replaced).
///
/// ```
/// use nethttp::proto::date::parse_http_date;
/// for s in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
///     assert_eq!(parse_http_date(s.as_bytes()), Some(784_111_777));
/// }
/// assert_eq!(parse_http_date(b"Mon, 06 Nov 1994 08:49:37 GMT"), None); // a Sunday
/// ```
pub fn parse_http_date(s: &[u8]) -> Option<u64> {
    let s = s.trim_ascii();
    let d = parse_imf_fixdate(s)
        .or_else(|| parse_rfc850(s))
        .or_else(|| parse_asctime(s))?;
    // The fields each form reads, checked once for all three.
    let month_days = match d.month {
        2 if d.year % 4 == 0 && (d.year % 100 != 0 || d.year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1970..=9999).contains(&d.year)
        || d.day == 0
        || d.day > month_days
        || d.hour > 23
        || d.minute > 59
        || d.second > 59
    {
        return None;
    }
    let days = days_from_civil(d.year, d.month, d.day);
    if weekday(days) != d.weekday {
        return None;
    }
    let secs = days * 86_400 + i64::from(d.hour * 3600 + d.minute * 60 + d.second);
    u64::try_from(secs).ok()
}

/// The fields of an HTTP-date as written, before they are checked.
struct Fields {
    weekday: usize,
    year: i64,
    /// 1 to 12 (the parsers only accept the twelve names).
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// `n` ASCII digits as a number; `None` if any byte is not a digit.
fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// The position of `name` in `names`, compared exactly.
fn name_index(names: &[&str], name: &[u8]) -> Option<usize> {
    names.iter().position(|n| n.as_bytes() == name)
}

/// `hh:mm:ss` (8 bytes).
fn time_of_day(s: &[u8]) -> Option<(u32, u32, u32)> {
    if s.len() != 8 || s[2] != b':' || s[5] != b':' {
        return None;
    }
    Some((digits(&s[..2])?, digits(&s[3..5])?, digits(&s[6..])?))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_imf_fixdate(s: &[u8]) -> Option<Fields> {
    if s.len() != 29
        || &s[3..5] != b", "
        || s[7] != b' '
        || s[11] != b' '
        || s[16] != b' '
        || &s[25..] != b" GMT"
    {
        return None;
    }
    let (hour, minute, second) = time_of_day(&s[17..25])?;
    Some(Fields {
        weekday: name_index(&WEEKDAYS, &s[..3])?,
        day: digits(&s[5..7])?,
        month: name_index(&MONTHS, &s[8..11])? as u32 + 1,
        year: i64::from(digits(&s[12..16])?),
        hour,
        minute,
        second,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`.
fn parse_rfc850(s: &[u8]) -> Option<Fields> {
    let comma = s.iter().position(|&b| b == b',')?;
    let weekday = name_index(&WEEKDAYS_LONG, &s[..comma])?;
    let s = &s[comma..];
    // ", 06-Nov-94 08:49:37 GMT"
    if s.len() != 24
        || s[1] != b' '
        || s[4] != b'-'
        || s[8] != b'-'
        || s[11] != b' '
        || &s[20..] != b" GMT"
    {
        return None;
    }
    let (hour, minute, second) = time_of_day(&s[12..20])?;
    let yy = digits(&s[9..11])?;
    Some(Fields {
        weekday,
        day: digits(&s[2..4])?,
        month: name_index(&MONTHS, &s[5..8])? as u32 + 1,
        year: i64::from(if yy < 70 { 2000 + yy } else { 1900 + yy }),
        hour,
        minute,
        second,
    })
}

/// `Sun Nov  6 08:49:37 1994`.
fn parse_asctime(s: &[u8]) -> Option<Fields> {
    if s.len() != 24 || s[3] != b' ' || s[7] != b' ' || s[10] != b' ' || s[19] != b' ' {
        return None;
    }
    let (hour, minute, second) = time_of_day(&s[11..19])?;
    let day = match s[8] {
        b' ' => digits(&s[9..10])?,
        _ => digits(&s[8..10])?,
    };
    Some(Fields {
        weekday: name_index(&WEEKDAYS, &s[..3])?,
        month: name_index(&MONTHS, &s[4..7])? as u32 + 1,
        day,
        year: i64::from(digits(&s[20..])?),
        hour,
        minute,
        second,
    })
}

#[cfg(feature = "server")]
impl Default for DateCache {
    fn default() -> DateCache {
        DateCache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        for (secs, want) in [
            (0, (1970, 1, 1, 0, 0, 0)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_709_164_799, (2024, 2, 28, 23, 59, 59)),
            (1_798_761_600, (2027, 1, 1, 0, 0, 0)),
            (4_107_542_400, (2100, 3, 1, 0, 0, 0)),
        ] {
            let c = civil(secs);
            assert_eq!(
                (c.year, c.month, c.day, c.hour, c.minute, c.second),
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn imf_fixdates() {
        for (secs, want) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (253_402_300_800, "Sat, 01 Jan 10000 00:00:00 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
            // The earliest cookie date Go writes (1601-01-01).
            (-11_644_473_600, "Mon, 01 Jan 1601 00:00:00 GMT"),
        ] {
            assert_eq!(imf_fixdate(secs), want, "{secs}");
        }
        // The ends of the range: some date, and no overflow.
        assert!(imf_fixdate(i64::MAX).ends_with(" GMT"));
        assert!(imf_fixdate(i64::MIN).ends_with(" GMT"));
    }

    /// A case: its name, the input, and the seconds it parses to (`None`: rejected).
    type DateCase = (&'static str, &'static str, Option<u64>);

    #[test]
    fn parse_http_date_table() {
        const T: Option<u64> = Some(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let cases: &[DateCase] = &[
            // The three forms of RFC 9110 §5.6.7, its own examples.
            ("imf_fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", T),
            ("rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", T),
            ("asctime", "Sun Nov  6 08:49:37 1994", T),
            ("asctime_zero_padded_day", "Sun Nov 06 08:49:37 1994", T),
            (
                "surrounding_whitespace",
                " \tSun, 06 Nov 1994 08:49:37 GMT \r\n",
                T,
            ),
            ("epoch", "Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            (
                "leap_day",
                "Tue, 29 Feb 2000 00:00:00 GMT",
                Some(951_782_400),
            ),
            (
                "last_second",
                "Fri, 31 Dec 9999 23:59:59 GMT",
                Some(253_402_300_799),
            ),
            (
                "rfc850_69_is_2069",
                "Friday, 01-Mar-69 00:00:00 GMT",
                Some(3_129_321_600),
            ),
            (
                "rfc850_70_is_1970",
                "Thursday, 01-Jan-70 00:00:00 GMT",
                Some(0),
            ),
            (
                "rfc850_every_weekday",
                "Wednesday, 09-Jun-21 10:18:14 GMT",
                Some(1_623_233_894),
            ),
            (
                "asctime_two_digit_day",
                "Wed Jun 09 10:18:14 2021",
                Some(1_623_233_894),
            ),
            // Dates that do not exist, or that the rules leave out.
            ("wrong_weekday", "Mon, 06 Nov 1994 08:49:37 GMT", None),
            ("wrong_long_weekday", "Monday, 06-Nov-94 08:49:37 GMT", None),
            ("not_a_leap_year", "Mon, 29 Feb 2100 00:00:00 GMT", None),
            ("feb_30", "Wed, 30 Feb 2000 00:00:00 GMT", None),
            ("april_31", "Sat, 31 Apr 2021 00:00:00 GMT", None),
            ("day_zero", "Sun, 00 Nov 1994 08:49:37 GMT", None),
            ("day_32", "Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("hour_24", "Sun, 06 Nov 1994 24:00:00 GMT", None),
            ("minute_60", "Sun, 06 Nov 1994 08:60:37 GMT", None),
            ("leap_second", "Sat, 31 Dec 2016 23:59:60 GMT", None),
            ("before_1970", "Wed, 31 Dec 1969 23:59:59 GMT", None),
            ("year_10000", "Sat, 01 Jan 10000 00:00:00 GMT", None),
            // Malformed.
            ("empty", "", None),
            ("garbage", "yesterday", None),
            ("lowercase_month", "Sun, 06 nov 1994 08:49:37 GMT", None),
            ("lowercase_weekday", "sun, 06 Nov 1994 08:49:37 GMT", None),
            ("utc_not_gmt", "Sun, 06 Nov 1994 08:49:37 UTC", None),
            ("numeric_zone", "Sun, 06 Nov 1994 08:49:37 +0000", None),
            ("no_zone", "Sun, 06 Nov 1994 08:49:37", None),
            ("one_digit_day", "Sun, 6 Nov 1994 08:49:37 GMT", None),
            ("two_digit_year_imf", "Sun, 06 Nov 94 08:49:37 GMT", None),
            (
                "four_digit_year_rfc850",
                "Sunday, 06-Nov-1994 08:49:37 GMT",
                None,
            ),
            ("rfc850_no_space", "Sunday, 06-Nov-94X08:49:37 GMT", None),
            ("short_weekday_rfc850", "Sun, 06-Nov-94 08:49:37 GMT", None),
            ("dashes_imf", "Sun, 06-Nov-1994 08:49:37 GMT", None),
            ("asctime_day_space_after", "Sun Nov 6  08:49:37 1994", None),
            ("asctime_with_zone", "Sun Nov  6 08:49:37 1994 GMT", None),
            ("sign_in_number", "Sun, +6 Nov 1994 08:49:37 GMT", None),
            ("dots_in_time", "Sun, 06 Nov 1994 08.49.37 GMT", None),
            ("comma_only", ",", None),
            ("non_ascii", "Sun, 06 Nov 1994 08:49:37 GMT\u{a0}", None),
            ("non_ascii_weekday", "Sün, 06 Nov 1994 08:49:37 GM", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(
                parse_http_date(input.as_bytes()),
                *want,
                "{name}: {input:?}"
            );
        }
    }

    #[test]
    fn parse_http_date_never_panics_on_a_prefix_or_a_changed_byte() {
        for valid in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            let b = valid.as_bytes();
            for n in 0..b.len() {
                assert_eq!(parse_http_date(&b[..n]), None, "{:?}", &valid[..n]);
            }
            for i in 0..b.len() {
                for c in [b'0', b'9', b' ', b',', b':', b'-', b'A', 0xff] {
                    let mut m = b.to_vec();
                    m[i] = c;
                    let _ = parse_http_date(&m);
                }
            }
        }
    }

    #[test]
    fn imf_fixdate_parses_back() {
        // Every day from 1970 to 2400 at a changing time of day, and the range's ends.
        let mut secs = 0;
        while secs < 13_574_563_200 {
            assert_eq!(
                parse_http_date(imf_fixdate(secs).as_bytes()),
                Some(secs as u64)
            );
            secs += 86_400 + 3_601;
        }
        assert_eq!(
            parse_http_date(imf_fixdate(253_402_300_799).as_bytes()),
            Some(253_402_300_799)
        );
    }

    /// The same answers as the `httpdate` crate this code replaced (a dev-dependency, kept
    /// for this check).
    #[test]
    fn agrees_with_httpdate() {
        use std::time::{Duration, UNIX_EPOCH};
        let as_secs = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut secs: u64 = 0;
        while secs < 253_402_300_800 {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let theirs = httpdate::fmt_http_date(t);
            assert_eq!(imf_fixdate(secs as i64), theirs);
            let rfc850 = {
                let c = civil(secs);
                let days = (secs / 86_400) as i64;
                format!(
                    "{}, {:02}-{}-{:02} {:02}:{:02}:{:02} GMT",
                    WEEKDAYS_LONG[weekday(days)],
                    c.day,
                    MONTHS[c.month as usize - 1],
                    c.year % 100,
                    c.hour,
                    c.minute,
                    c.second
                )
            };
            let asctime = format!(
                "{} {} {:>2} {} {}",
                &theirs[..3],
                &theirs[8..11],
                civil(secs).day,
                &theirs[17..25],
                &theirs[12..16]
            );
            // httpdate does not look at the space before an RFC 850 date's time, and takes
            // any byte there; this parser holds it to the grammar (`rfc850_no_space`).
            let rfc850_space = rfc850.len() - 13;
            for (s, lax) in [
                (theirs.clone(), None),
                (rfc850, Some(rfc850_space)),
                (asctime, None),
            ] {
                assert_eq!(
                    parse_http_date(s.as_bytes()),
                    httpdate::parse_http_date(&s).ok().map(as_secs),
                    "{s}"
                );
                // And with any one byte changed: the same answer.
                for i in (0..s.len()).filter(|&i| Some(i) != lax) {
                    let mut m = s.clone().into_bytes();
                    m[i] = if m[i].is_ascii_digit() { b'9' } else { b'X' };
                    let m = String::from_utf8(m).unwrap();
                    assert_eq!(
                        parse_http_date(m.as_bytes()),
                        httpdate::parse_http_date(&m).ok().map(as_secs),
                        "{m}"
                    );
                }
            }
            secs += 49_999_973;
        }
    }

    #[cfg(feature = "server")]
    #[test]
    fn renders_and_caches_by_second() {
        use std::time::Duration;
        let mut c = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(c.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        // Same second, later instant: same value.
        assert_eq!(
            c.get(t + Duration::from_millis(999)),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            c.get(t + Duration::from_secs(1)),
            b"Sun, 06 Nov 1994 08:49:38 GMT"
        );
    }
}
