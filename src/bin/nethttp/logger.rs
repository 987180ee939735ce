//! A minimal `log` backend for the binary: one line per record on stderr, with a UTC time.
//!
//! Access-log records (target `nethttp::access`, from `log_requests`) print as they are;
//! others name their level and target.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Writes records at `info` and above to stderr; the access log only if `access` is true.
#[derive(Debug)]
struct StderrLogger {
    access: bool,
}

/// The target `nethttp::handlers::log_requests` logs under.
const ACCESS_TARGET: &str = "nethttp::access";

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Info && (self.access || m.target() != ACCESS_TARGET)
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let now = rfc3339(SystemTime::now());
        let line = if r.target() == ACCESS_TARGET {
            format!("{now} {}\n", r.args())
        } else {
            let level = r.level().as_str().to_ascii_lowercase();
            format!("{now} {level} {}: {}\n", r.target(), r.args())
        };
        // One write per line, under stderr's lock, so lines from connection threads never mix.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the logger; `access` turns the access log on.
pub fn init(access: bool) {
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { access }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

/// `2026-11-25T10:04:05.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let t = nethttp::proto::date::civil(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (1_795_604_645, "2026-11-25T11:04:05.000Z"),
            (4_107_542_399, "2100-02-28T23:59:59.000Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(
                rfc3339(UNIX_EPOCH + Duration::from_secs(secs)),
                want,
                "{secs}"
            );
        }
    }
}
