//! Dates without a clock (sans-IO: the caller passes the time): `civil`, seconds since the
//! epoch broken down in UTC, for every layer that prints a date; and, with feature `server`,
//! `DateCache`, the `Date` header value rendered at most once a second.

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
            let text = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
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
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
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
