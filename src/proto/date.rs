//! The `Date` header value, rendered at most once a second (sans-IO: the caller passes the time).

use std::time::{SystemTime, UNIX_EPOCH};

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) cached by the second.
///
/// The caller supplies the clock, so the cache is testable and keeps the wire core free of
/// clocks; a server keeps one per connection thread.
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: u64,
    value: [u8; 29],
}

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

impl Default for DateCache {
    fn default() -> DateCache {
        DateCache::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_and_caches_by_second() {
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
