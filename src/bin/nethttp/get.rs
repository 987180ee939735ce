//! `nethttp get`: one request with `nethttp::Client`, with curl's flags and curl's exit codes,
//! for people and scripts. The command line becomes a `Plan` (every usage error is found
//! before anything is sent), the plan one request per attempt (`--retry`), the response goes
//! to stdout or a file. What the request meets on the way (-v, -i, timings) is gathered in
//! get/observe.rs; `-w` is get/write_out.rs. The flags, the variables and the exit codes are
//! documented in docs/CLI.md.

mod observe;
mod output;
mod plan;
mod write_out;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nethttp::error::{ClosedDuring, TimeoutPhase};
use nethttp::http::header;
use nethttp::{Client, Error, ErrorKind, HeaderMap, Uri, Version};

use crate::{human_bytes, human_duration, Failure};
use observe::Observer;
use output::{content_length, copy_body, progress_bar, CopyError, Output, Sink};
use plan::{read_source, Plan};
use write_out::{Format, Report};

/// curl's exit codes (`man curl`, EXIT CODES; the names are libcurl's `CURLE_*`), the ones
/// `get` can end with. 2 is every usage error, as for the other subcommands.
mod exit {
    pub const UNSUPPORTED_PROTOCOL: u8 = 1;
    pub const URL_MALFORMED: u8 = 3;
    pub const COULDNT_RESOLVE_HOST: u8 = 6;
    pub const COULDNT_CONNECT: u8 = 7;
    pub const WEIRD_SERVER_REPLY: u8 = 8;
    pub const PARTIAL_FILE: u8 = 18;
    pub const HTTP_RETURNED_ERROR: u8 = 22;
    pub const WRITE_ERROR: u8 = 23;
    pub const READ_ERROR: u8 = 26;
    pub const OPERATION_TIMEDOUT: u8 = 28;
    pub const SSL_CONNECT_ERROR: u8 = 35;
    pub const TOO_MANY_REDIRECTS: u8 = 47;
    pub const GOT_NOTHING: u8 = 52;
    pub const SEND_ERROR: u8 = 55;
    pub const RECV_ERROR: u8 = 56;
    pub const PEER_FAILED_VERIFICATION: u8 = 60;
    pub const BAD_CONTENT_ENCODING: u8 = 61;
    #[cfg(feature = "tls")]
    pub const SSL_CACERT_BADFILE: u8 = 77;
}

/// Statuses `--retry` tries again after, as curl: 408, 429, 500, 502, 503, 504.
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The first wait of `--retry` without `--retry-delay`; it doubles each time, up to
/// [`RETRY_MAX_WAIT`] (curl's).
const RETRY_FIRST_WAIT: Duration = Duration::from_secs(1);
const RETRY_MAX_WAIT: Duration = Duration::from_secs(600);

/// The hint after a certificate that was not accepted.
#[cfg(feature = "tls")]
const CERT_HINT: &str = "use --cacert FILE to trust a private CA, or -k to skip verification";

/// Send one request and write the response to stdout or a file, as curl.
///
/// Redirects are returned as they are unless -L. Responses in gzip or deflate are decoded
/// (the client asks for gzip unless -H sets Accept-Encoding). A progress meter shows on
/// stderr when stderr is a terminal and the body goes elsewhere (-o, or stdout redirected).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit codes are curl's: 0 success, 1 unsupported scheme, 2 usage error, 3 malformed URL, \
6 cannot resolve host, 7 cannot connect, 8 malformed response, 18 body cut short, \
22 status >= 400 with --fail, 23 cannot write the output, 26 cannot read a file to send, \
28 timeout, 35 TLS handshake failed, 47 too many redirects, 52 empty reply, 55 send failed, \
56 receive failed, 60 certificate not accepted, 61 bad content encoding, 77 bad --cacert \
file. Full reference: docs/CLI.md.")]
pub struct Args {
    /// The URL (http:// is assumed when it has no scheme).
    url: String,

    /// The method. Default: GET; POST with -d, --json or -F; HEAD with -I. HEAD prints the
    /// response head, as -I.
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,

    /// A request header; repeat for more. 'Name:' with no value removes a header the tool
    /// would add; 'Name;' sends it empty (as curl).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// The User-Agent (default nethttp/VERSION; '' sends none).
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    user_agent: Option<String>,

    /// The Referer.
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    referer: Option<String>,

    /// Basic authentication. The password is not prompted for: give USER:PASSWORD.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    user: Option<String>,

    /// A request body: the text given, @FILE for a file's bytes (sent as they are), or @-
    /// for standard input. Repeated, the pieces are joined with '&'. Sets Content-Type:
    /// application/x-www-form-urlencoded unless -H sets one, as curl does.
    #[arg(
        short = 'd',
        long = "data",
        visible_alias = "data-binary",
        value_name = "DATA|@FILE"
    )]
    data: Vec<String>,

    /// A JSON body (text, @FILE or @-; repeated, the pieces are joined), with Content-Type
    /// and Accept: application/json unless -H sets them.
    #[arg(long = "json", value_name = "JSON|@FILE")]
    json: Vec<String>,

    // The help is an attribute, not a doc comment: rustdoc would read its brackets as links.
    #[arg(
        short = 'F',
        long = "form",
        value_name = "NAME=VALUE|NAME=@FILE",
        help = "A multipart/form-data field: NAME=VALUE, NAME=@FILE[;type=MIME][;filename=NAME] \
                for a file, NAME=<FILE for a field whose value is the file's content. Repeat \
                for more"
    )]
    form: Vec<String>,

    /// Send HEAD and print the response head.
    #[arg(short = 'I', long = "head")]
    head: bool,

    /// Write the response head (every hop's, with -L) before the body.
    #[arg(short = 'i', long = "include")]
    include: bool,

    /// Write the body to FILE instead of stdout ('-' is stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Write the body to a file in the current directory named as the URL's last path
    /// segment.
    #[arg(short = 'O', long = "remote-name", conflicts_with = "output")]
    remote_name: bool,

    /// Follow redirects.
    #[arg(short = 'L', long = "location")]
    location: bool,

    /// How many redirects -L follows.
    #[arg(long = "max-redirs", value_name = "N", default_value_t = 10)]
    max_redirs: usize,

    /// On a status of 400 or more, write nothing and exit 22.
    #[arg(short, long)]
    fail: bool,

    /// Ask for a compressed response and decode it (the default already; for curl's
    /// command lines).
    #[arg(long)]
    compressed: bool,

    /// After the transfer, write FORMAT to stdout with %{variable}s filled in (curl's:
    /// http_code, size_download, time_total, url_effective, content_type, num_redirects,
    /// exitcode, errormsg, json... see docs/CLI.md); @FILE reads it from a file.
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    write_out: Option<String>,

    /// Trust the CA certificates in this PEM file (besides the default roots).
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Accept any TLS certificate (for a local server with a self-signed one).
    #[cfg(feature = "tls")]
    #[arg(short = 'k', long)]
    insecure: bool,

    /// A limit for connecting, and for the TLS handshake. Default: 30s to connect, 10s for
    /// the handshake.
    #[arg(
        long = "connect-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    connect_timeout: Option<String>,

    /// A limit for the whole request: connecting, every redirect and reading the body (each
    /// attempt of --retry has its own). Default: none. --timeout is an alias.
    #[arg(
        short = 'm',
        long = "max-time",
        alias = "timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    max_time: Option<String>,

    /// Try again up to N times after a timeout, a failed name lookup or a status of 408,
    /// 429, 500, 502, 503 or 504 (as curl).
    #[arg(long, value_name = "N", default_value_t = 0)]
    retry: u32,

    /// The wait between tries. Default: the response's Retry-After, else 1s doubling each
    /// time up to 10 minutes.
    #[arg(
        long = "retry-delay",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    retry_delay: Option<String>,

    /// With --retry, also try again when the connection is refused.
    #[arg(long = "retry-connrefused")]
    retry_connrefused: bool,

    /// With --retry, try again after any failure.
    #[arg(long = "retry-all-errors")]
    retry_all_errors: bool,

    /// Print the request and response heads (> and <) and connection events (*) on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// No progress meter, summary or retry warnings. Errors are still printed.
    #[arg(short, long)]
    silent: bool,

    /// Accepted for curl's `-sS`: errors are always printed.
    #[arg(short = 'S', long = "show-error")]
    show_error: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let format = match &args.write_out {
        None => None,
        Some(f) => Some(write_out_format(f)?),
    };
    let mut report = Report {
        url: crate::with_scheme(&args.url),
        url_effective: crate::with_scheme(&args.url),
        method: "GET".into(),
        http_version: "0",
        ..Report::default()
    };
    let result = transfer(&args, &mut report);
    if let Some(f) = &format {
        // Written after any transfer, well or not (as curl), but not after a usage error.
        match &result {
            Ok(()) => f.write(&report),
            Err(e) if e.code != 2 => {
                report.exitcode = e.code;
                report.errormsg = e.message.clone();
                f.write(&report);
            }
            Err(_) => {}
        }
    }
    result
}

/// `-w`'s argument: the format, or `@FILE` / `@-` to read it.
fn write_out_format(arg: &str) -> Result<Format, Failure> {
    let text = match arg.strip_prefix('@') {
        None => arg.to_string(),
        Some(src) => {
            let bytes = read_source(src).map_err(|e| {
                Failure::with_code(exit::READ_ERROR, format!("cannot read -w {arg}: {e}"))
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    Format::parse(&text).map_err(|e| Failure::usage(format!("invalid -w format: {e}")))
}

/// Runs the plan, retries included, and fills `report` with what happened.
fn transfer(args: &Args, report: &mut Report) -> Result<(), Failure> {
    let plan = Plan::new(args)?;
    report.method = plan.method.to_string();
    report.filename_effective = match &plan.output {
        Output::File(p) => p.display().to_string(),
        Output::Stdout => String::new(),
    };
    let observer = Arc::new(Observer::new(args.verbose, plan.spellings.clone()));
    let client = plan.client(args, &observer);
    let result = exchange(args, &plan, &client, &observer, report);

    // What the last attempt saw, whether it ended well or not.
    let hops = observer.hops();
    if let Some(last) = hops.last() {
        report.method = last.method.to_string();
        report.url_effective = last.url.to_string();
        report.http_code = last.status.as_u16();
        report.http_version = match last.version {
            Version::HTTP_10 => "1.0",
            _ => "1.1",
        };
        report.headers = last.headers.clone();
    }
    report.num_redirects = hops.len().saturating_sub(1);
    report.size_header = hops.iter().map(|h| h.head_text().len() as u64).sum();
    let t = observer.timings();
    report.time_namelookup = t.namelookup;
    report.time_connect = t.connect;
    report.time_starttransfer = t.starttransfer;
    report.time_total = observer.elapsed();
    if let Some(addr) = t.remote {
        report.remote_ip = addr.ip().to_string();
        report.remote_port = addr.port();
    }
    result
}

/// One request (tried again as --retry says), then its head and body to the output.
fn exchange(
    args: &Args,
    plan: &Plan,
    client: &Client,
    observer: &Arc<Observer>,
    report: &mut Report,
) -> Result<(), Failure> {
    let mut retries_left = args.retry;
    let mut backoff = RETRY_FIRST_WAIT;
    let mut resp = loop {
        observer.begin();
        let req = plan.request(client, observer)?;
        let outcome = client.send(req).map_err(|e| failure(&e, plan, observer, 0));
        let retry = match &outcome {
            _ if retries_left == 0 => None,
            Ok(r) if RETRY_STATUSES.contains(&r.status.as_u16()) => Some((
                format!("server answered {}", observe::status_line(r.status)),
                retry_after(&r.headers),
            )),
            Ok(_) => None,
            Err(f) => retryable(f.code, args).then(|| (f.message.clone(), None)),
        };
        let Some((problem, asked)) = retry else {
            break outcome?;
        };
        // The body of a response tried again is not written; dropping it closes its
        // connection.
        drop(outcome);
        let wait = match args.retry_delay {
            Some(_) => plan.retry_delay,
            None => asked.unwrap_or(backoff),
        };
        backoff = (backoff * 2).min(RETRY_MAX_WAIT);
        if !args.silent {
            say!(
                "nethttp: warning: {problem}; trying again in {} ({retries_left} {} left)",
                human_duration(wait),
                if retries_left == 1 {
                    "retry"
                } else {
                    "retries"
                }
            );
        }
        std::thread::sleep(wait);
        retries_left -= 1;
    };

    if !args.location && resp.status.is_redirection() {
        // The recording transport held the Location back from the client (observe.rs).
        if let Some(hop) = observer.hops().last() {
            for v in hop.headers.get_all(header::LOCATION) {
                resp.headers.append(header::LOCATION, v.clone());
            }
        }
        if let Ok(Some(u)) = resp.location() {
            report.redirect_url = u.to_string();
        }
    }
    if args.fail && resp.status.as_u16() >= 400 {
        return Err(Failure::with_code(
            exit::HTTP_RETURNED_ERROR,
            match resp.error_for_status_ref() {
                Err(e) => e.to_string(),
                Ok(_) => Error::new(ErrorKind::Status(resp.status)).to_string(),
            },
        ));
    }

    let mut sink = Sink::open(&plan.output)?;
    if args.include || plan.head_only {
        for hop in observer.hops() {
            match sink.write(hop.head_text().as_bytes()) {
                Ok(()) => {}
                Err(e) if sink.closed_pipe(&e) => return Ok(()),
                Err(e) => return Err(sink.write_failure(&e)),
            }
        }
    }
    if plan.head_only {
        return sink.finish();
    }

    // The meter goes where it cannot mix with the body, and only to a terminal: on a pipe or
    // in a log file it would be a stream of carriage returns.
    let meter = !args.silent
        && io::stderr().is_terminal()
        && (matches!(plan.output, Output::File(_)) || !io::stdout().is_terminal());
    let total = (!resp.uncompressed())
        .then(|| content_length(&resp.headers))
        .flatten();
    let bar = meter.then(|| progress_bar(total));
    let started = Instant::now();
    let mut received = 0u64;
    let copied = copy_body(resp.body(), &mut sink, &mut |n| {
        received += n as u64;
        if let Some(b) = &bar {
            b.inc(n as u64);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    report.size_download = received;
    match copied {
        Ok(()) => sink.finish()?,
        Err(CopyError::Write(e)) if sink.closed_pipe(&e) => return Ok(()),
        Err(CopyError::Write(e)) => return Err(sink.write_failure(&e)),
        Err(CopyError::Read(e)) => return Err(failure(&e, plan, observer, received)),
    }
    if meter {
        let took = started.elapsed();
        let rate = received as f64 / took.as_secs_f64().max(1e-6);
        let to = match &plan.output {
            Output::File(p) => format!(" to {}", p.display()),
            Output::Stdout => String::new(),
        };
        say!(
            "{} in {} ({}/s){to}",
            human_bytes(received as f64),
            human_duration(took),
            human_bytes(rate)
        );
    }
    Ok(())
}

/// Whether a failure with exit `code` is tried again: timeouts and failed lookups always (as
/// curl), a refused connection with --retry-connrefused, anything with --retry-all-errors.
fn retryable(code: u8, args: &Args) -> bool {
    args.retry_all_errors
        || code == exit::OPERATION_TIMEDOUT
        || code == exit::COULDNT_RESOLVE_HOST
        || (args.retry_connrefused && code == exit::COULDNT_CONNECT)
}

/// A `Retry-After` in seconds (RFC 9110 §10.2.3; the HTTP-date form is not read), at most
/// [`RETRY_MAX_WAIT`].
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_MAX_WAIT))
}

/// The exit code and the one line for an error of the request or its body; `received`
/// is how much of the body had been written.
fn failure(e: &Error, plan: &Plan, observer: &Observer, received: u64) -> Failure {
    // The host:port of the hop that failed (after a redirect, not the URL given).
    let target = e
        .url()
        .and_then(|u| u.parse::<Uri>().ok())
        .map_or_else(|| plan.target.clone(), |u| crate::target_of(&u));
    let (code, message) = match e.kind() {
        ErrorKind::Dns => (exit::COULDNT_RESOLVE_HOST, without_request(e)),
        ErrorKind::Connect => (exit::COULDNT_CONNECT, connect_message(e, &target)),
        ErrorKind::Timeout(phase) => (
            exit::OPERATION_TIMEDOUT,
            format!(
                "{} after {}",
                describe_timeout(phase, &target),
                human_duration(observer.elapsed())
            ),
        ),
        ErrorKind::Tls => tls_failure(e, &target),
        ErrorKind::TooManyRedirects => (exit::TOO_MANY_REDIRECTS, e.to_string()),
        ErrorKind::ConnectionClosed(ClosedDuring::Head) if !observer.got_first_byte() => (
            exit::GOT_NOTHING,
            format!("empty reply from {target}: the connection closed before a response"),
        ),
        ErrorKind::ConnectionClosed(ClosedDuring::Body) => (
            exit::PARTIAL_FILE,
            format!(
                "connection closed before the body was complete ({} received)",
                human_bytes(received as f64)
            ),
        ),
        ErrorKind::ConnectionClosed(ClosedDuring::Write) => (exit::SEND_ERROR, e.to_string()),
        ErrorKind::Malformed(_)
        | ErrorKind::TooLarge(_)
        | ErrorKind::UnsupportedVersion
        | ErrorKind::UnsupportedTransferCoding => (exit::WEIRD_SERVER_REPLY, e.to_string()),
        ErrorKind::Decode => (exit::BAD_CONTENT_ENCODING, e.to_string()),
        ErrorKind::Io | ErrorKind::ConnectionClosed(_) | ErrorKind::ProxyConnect(_) => {
            if observer.write_failed() {
                (exit::SEND_ERROR, e.to_string())
            } else {
                (exit::RECV_ERROR, e.to_string())
            }
        }
        _ => (1, e.to_string()),
    };
    Failure::with_code(code, message)
}

/// Exit 60 for a certificate that was not accepted, with a hint; 35 for the rest of TLS.
fn tls_failure(e: &Error, target: &str) -> (u8, String) {
    use std::error::Error as _;
    // The library's words for the failure ("certificate signed by an unknown authority").
    let words = e
        .source()
        .map_or_else(|| e.kind().to_string(), |s| s.to_string());
    match certificate_hint(e) {
        Some(hint) => (
            exit::PEER_FAILED_VERIFICATION,
            format!("{target}: {words}; {hint}"),
        ),
        None => (
            exit::SSL_CONNECT_ERROR,
            format!("tls handshake with {target} failed: {words}"),
        ),
    }
}

/// What to do about a server certificate that was not accepted (rustls's
/// `InvalidCertificate`, the source of the library's TLS error): an unknown issuer is a
/// private CA to trust with --cacert; an expired certificate or a name that does not match
/// is not helped by trusting more, only by -k. `None` if the failure was not the certificate.
fn certificate_hint(e: &Error) -> Option<&'static str> {
    #[cfg(feature = "tls")]
    {
        use rustls::{CertificateError, Error as Tls};
        use std::error::Error as _;
        let mut src = e.source();
        while let Some(s) = src {
            if let Some(r) = s.downcast_ref::<Tls>() {
                return match r {
                    Tls::InvalidCertificate(CertificateError::UnknownIssuer) => Some(CERT_HINT),
                    Tls::InvalidCertificate(_) => Some("use -k to skip verification"),
                    _ => None,
                };
            }
            src = s.source();
        }
    }
    let _ = e;
    None
}

/// The error's text without the `METHOD URL: ` it starts with: for lookups and connects,
/// whose text names the host.
fn without_request(e: &Error) -> String {
    let s = e.to_string();
    match e
        .url()
        .and_then(|u| s.find(&format!("{u}: ")).map(|i| i + u.len() + 2))
    {
        Some(i) => s[i..].to_string(),
        None => s,
    }
}

fn connect_message(e: &Error, target: &str) -> String {
    use std::error::Error as _;
    let mut src = e.source();
    let mut refused = false;
    while let Some(s) = src {
        refused |= s
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused);
        src = s.source();
    }
    if refused {
        format!("connection refused: is a server listening on {target}?")
    } else {
        without_request(e)
    }
}

fn describe_timeout(phase: TimeoutPhase, target: &str) -> String {
    match phase {
        TimeoutPhase::Connect => format!("timed out connecting to {target}"),
        p => format!("timed out {p}"),
    }
}
