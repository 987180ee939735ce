//! `nethttp`, the command-line tool (feature `cli`): argument parsing and exit codes (this
//! file); `serve` a directory, `get` a URL, `bench` a server and `proxy` to upstreams, each
//! in its own file.
//!
//! ```text
//! cargo run --release --features cli -- serve docs       # ./docs on http://127.0.0.1:8080/
//! nethttp get -v http://127.0.0.1:8080/ARCHITECTURE.md
//! nethttp bench -c 8 -z 10s http://127.0.0.1:8080/
//! nethttp proxy --addr 127.0.0.1:8081 http://127.0.0.1:8080
//! ```
//!
//! Exit codes: 0 success; 1 a transport, file or server error, printed as one line on stderr;
//! 2 a usage error. `get` exits with curl's codes instead (6 cannot resolve, 7 cannot connect,
//! 22 `--fail`, 28 timeout, 60 certificate...; get.rs and docs/CLI.md list them).

/// `eprintln!` that never panics: a line on stderr, or nothing if stderr cannot be written
/// (a closed pipe: `nethttp serve 2>&1 | head -n1`, a log collector that went away).
/// `eprintln!` panics there, which killed serve's shutdown thread and its signal handler, so
/// SIGTERM and Ctrl-C no longer stopped it, and turned `get`'s exit codes into 101.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("{}\n", format_args!($($arg)*)).as_bytes());
    }};
}

mod bench;
mod get;
mod logger;
mod proxy;
mod serve;

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Go's net/http from the command line: a static file server, a curl-like client, a load
/// generator and a reverse proxy, all on the nethttp crate.
#[derive(Debug, Parser)]
#[command(
    name = "nethttp",
    version,
    after_help = "Exit codes: 0 success; 1 a transport, file or server error (one line on \
                  stderr); 2 a usage error. `get` exits with curl's codes (see its --help).\n\
                  Durations take a unit: 500ms, 2s, 1.5m, 1h (a bare number is seconds)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(serve::Args),
    Get(Box<get::Args>),
    Bench(bench::Args),
    Proxy(proxy::Args),
}

/// Why a subcommand failed: the one line printed on stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process's exit code.
    pub code: u8,
    /// What went wrong, in one line without the `nethttp: ` prefix.
    pub message: String,
}

impl Failure {
    /// A runtime failure (exit code 1).
    pub fn new(message: impl fmt::Display) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }

    /// A usage failure the argument parser could not see (exit code 2).
    pub fn usage(message: impl fmt::Display) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    /// A failure with its own exit code (`get` uses curl's).
    pub fn with_code(code: u8, message: impl fmt::Display) -> Failure {
        Failure {
            code,
            message: message.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Get(a) => get::run(*a),
        Command::Bench(a) => bench::run(a),
        Command::Proxy(a) => proxy::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            say!("nethttp: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Parses a duration with a unit (`500ms`, `2s`, `1.5m`, `1h`); a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected a number and a unit, as 2s"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("invalid duration unit {u:?}: use ms, s, m or h")),
    };
    let d =
        Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    // Deadlines are `Instant::now() + d`, which panics past what an Instant holds (about
    // 2^63 s); a century is "no limit" for any flag here.
    if d > MAX_DURATION {
        return Err(format!("invalid duration {s:?}: at most 100 years"));
    }
    Ok(d)
}

/// The longest duration any flag takes.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration for people: `850µs`, `1.25ms`, `2.00s`.
pub fn human_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// A byte count for people, in binary units: `512 B`, `1.50 KiB`, `3.20 MiB`.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.2} {}", UNITS[i])
    }
}

/// Parses `-H 'Name: value'`.
pub fn parse_header(s: &str) -> Result<(nethttp::HeaderName, nethttp::HeaderValue), Failure> {
    let bad = || Failure::usage(format!("invalid header {s:?}: expected 'Name: value'"));
    let (name, value) = s.split_once(':').ok_or_else(bad)?;
    let name = nethttp::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = nethttp::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// Adds `http://` to a URL given without a scheme, as curl does.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// One line saying why a request to `target` (`host:port`) failed: a refused connection asks
/// whether a server is listening, a timeout names its phase, the rest is the error's own text.
pub fn describe_client_error(e: &nethttp::Error, target: &str) -> String {
    use std::error::Error as _;
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return format!("connection refused: is a server listening on {target}?");
            }
        }
        src = s.source();
    }
    e.to_string()
}

/// The URL argument with a default `http://` scheme, parsed; a usage error if it is not a URL
/// with a host. Returns the URL text and the parsed URI.
pub fn parse_url(arg: &str) -> Result<(String, nethttp::Uri), Failure> {
    let url = with_scheme(arg);
    let no_host = || Failure::usage(format!("invalid URL {url:?}: no host"));
    let authority = url.split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with(['/', '?', '#']) {
        return Err(no_host());
    }
    // Spaces and non-ASCII characters are percent-encoded, as the library does for any URL.
    let uri: nethttp::Uri = nethttp::proto::uri::escape_url(&url)
        .map_err(|e| Failure::usage(format!("invalid URL {url:?}: {e}")))?
        .parse()
        .map_err(|e| Failure::usage(format!("invalid URL {url:?}: {e}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    // The http crate takes any digits after the colon; a port is at most 65535.
    let port = uri.authority().and_then(|a| {
        let a = a.as_str();
        let host_port = a.rsplit_once('@').map_or(a, |(_, hp)| hp);
        host_port
            .rsplit_once(':')
            .filter(|(_, p)| !p.contains(']'))
            .map(|(_, p)| p)
    });
    if port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_err()) {
        return Err(Failure::usage(format!(
            "invalid URL {url:?}: the port is not a number from 0 to 65535"
        )));
    }
    Ok((url, uri))
}

/// The `host:port` a URL connects to, for messages.
pub fn target_of(uri: &nethttp::Uri) -> String {
    let host = uri.host().unwrap_or("?");
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("2s", Some(Duration::from_secs(2))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1.5m", Some(Duration::from_secs(90))),
            ("1h", Some(Duration::from_secs(3600))),
            ("3", Some(Duration::from_secs(3))),
            ("0.25", Some(Duration::from_millis(250))),
            ("", None),
            ("s", None),
            ("2 weeks", None),
            ("-1s", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input).ok(), want, "{input:?}");
        }
    }

    #[test]
    fn headers() {
        let (n, v) = parse_header("X-Thing:  a: b ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-thing", "a: b"));
        assert_eq!(parse_header("no colon").unwrap_err().code, 2);
        assert_eq!(parse_header("bad name: v").unwrap_err().code, 2);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(human_duration(Duration::from_micros(1250)), "1.25ms");
        assert_eq!(human_duration(Duration::from_secs(2)), "2.00s");
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.50 KiB");
    }

    #[test]
    fn targets() {
        let t = |u: &str| target_of(&u.parse().unwrap());
        assert_eq!(t("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(t("http://example.com/"), "example.com:80");
        assert_eq!(t("https://example.com/"), "example.com:443");
        assert_eq!(t("http://[::1]:9/"), "[::1]:9");
        assert_eq!(with_scheme("127.0.0.1:8080/"), "http://127.0.0.1:8080/");
    }

    #[test]
    fn urls() {
        for ok in [
            "http://h/",
            "h:8080",
            "http://[::1]:9/",
            "https://u:p@h/x?y#z",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok:?}");
        }
        for (bad, why) in [
            ("http://", "no host"),
            ("http:///x", "no host"),
            ("http://:80/", "no host"),
            (
                "http://h:99999/",
                "the port is not a number from 0 to 65535",
            ),
            ("http://h:x/", ""),
        ] {
            let f = parse_url(bad).unwrap_err();
            assert_eq!(f.code, 2, "{bad:?}");
            assert!(f.message.ends_with(why), "{bad:?}: {}", f.message);
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
