//! `nethttp get`: one request with `nethttp::Client`, curl style, for scripts; `-v` prints
//! what `ClientTrace` reports.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nethttp::client::{
    ClientConfig, ClientTrace, RedirectAction, RedirectPolicy, Transport, TransportConfig,
};
use nethttp::error::TimeoutPhase;
use nethttp::server::Body;
use nethttp::{Client, Error, ErrorKind, Method, StatusCode, Uri};

use crate::{describe_client_error, human_duration, parse_duration, parse_header, Failure};

/// How many redirects -L follows.
const MAX_REDIRECTS: usize = 10;

/// The exit code of --fail on a status of 400 or more, as curl's.
const FAIL_CODE: u8 = 22;

/// Send one request and write the response body to stdout or a file, as curl.
///
/// Exits 1 on a transport error, printing one line; with --fail, 22 on a status of 400 or
/// more. Redirects are returned as they are unless -L. Responses in gzip or deflate are
/// decoded (the client asks for gzip unless -H sets Accept-Encoding).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL (http:// is assumed when it has no scheme).
    url: String,

    /// The method. Default: GET, or POST with --data.
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,

    /// A request header; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// A request body: the text given, @FILE for a file's bytes (sent as they are, streamed),
    /// or @- for standard input. Sets Content-Type: application/x-www-form-urlencoded unless
    /// -H sets one, as curl does.
    #[arg(short = 'd', long = "data", value_name = "DATA|@FILE")]
    data: Option<String>,

    /// Write the body to FILE instead of stdout; with stderr on a terminal, a progress bar
    /// shows the download.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Follow redirects (at most 10).
    #[arg(short = 'L', long = "location")]
    location: bool,

    /// Print the request and response heads (> and <) and connection events (*) on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// On a status of 400 or more, write no body and exit 22.
    #[arg(short, long)]
    fail: bool,

    /// A limit for the whole request: connecting, every redirect and reading the body.
    /// Default: none (connecting alone gives up after 30s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,

    /// No progress bar.
    #[arg(short, long)]
    silent: bool,

    /// Accept any TLS certificate (for a local server with a self-signed one).
    #[cfg(feature = "tls")]
    #[arg(short = 'k', long)]
    insecure: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let (url, uri) = crate::parse_url(&args.url)?;
    let target = crate::target_of(&uri);
    let method = match (&args.method, &args.data) {
        (Some(m), _) => Method::from_bytes(m.as_bytes())
            .map_err(|_| Failure::usage(format!("invalid method {m:?}")))?,
        (None, Some(_)) => Method::POST,
        (None, None) => Method::GET,
    };

    // Always traced: a failed name lookup shows only in the trace. -v also prints.
    let v = Arc::new(Verbose::new(args.verbose));
    let transport = Transport::with_config(TransportConfig {
        #[cfg(feature = "tls")]
        tls: nethttp::tls::ClientTls {
            danger_accept_invalid_certs: args.insecure,
            ..Default::default()
        },
        ..Default::default()
    });
    let client = Client::with_config(ClientConfig {
        transport: Some(Arc::new(transport)),
        timeout: args.timeout,
        redirect: if args.location {
            v.redirect_policy()
        } else {
            RedirectPolicy::none()
        },
        ..Default::default()
    });

    let mut req = client.request(method.clone(), &url);
    let mut has_content_type = false;
    for h in &args.headers {
        let (name, value) = parse_header(h)?;
        has_content_type |= name == nethttp::http::header::CONTENT_TYPE;
        req = req.header(name, value);
    }
    if let Some(data) = &args.data {
        if !has_content_type {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        req = req.body(request_body(data)?);
    }
    let mut req = req
        .build()
        .map_err(|e| Failure::usage(format!("invalid request: {e}")))?;
    v.next_request(&method, &uri);
    nethttp::client::RequestOptions::of_mut(&mut req).trace = v.trace();

    let started = Instant::now();
    let fail = |e: Error| {
        Failure::new(match e.kind() {
            _ if v.dns_failed() => {
                format!("cannot resolve host {}", uri.host().unwrap_or_default())
            }
            ErrorKind::Timeout(phase) => format!(
                "{} after {}",
                describe_timeout(phase, &target),
                human_duration(started.elapsed())
            ),
            _ => describe_client_error(&e, &target),
        })
    };
    let mut resp = client.send(req).map_err(fail)?;

    v.response_head(&resp);
    if args.fail && resp.status.as_u16() >= 400 {
        return Err(Failure {
            code: FAIL_CODE,
            message: match resp.error_for_status_ref() {
                Err(e) => e.to_string(),
                Ok(_) => Error::new(ErrorKind::Status(resp.status)).to_string(),
            },
        });
    }
    if method == Method::HEAD {
        return Ok(());
    }

    match &args.output {
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::with_capacity(64 << 10, stdout.lock());
            let copied = copy_body(resp.body(), &mut out, &mut |_| {})
                .and_then(|()| out.flush().map_err(CopyError::Write));
            match copied {
                Ok(()) => {}
                // `| head` closed the pipe: the reader has what it wanted.
                Err(CopyError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(CopyError::Write(e)) => {
                    return Err(Failure::new(format!("cannot write to stdout: {e}")))
                }
                Err(CopyError::Read(e)) => return Err(fail(e)),
            }
        }
        Some(path) => {
            let total = (!resp.uncompressed())
                .then(|| content_length(&resp))
                .flatten();
            let bar = (!args.silent && io::stderr().is_terminal()).then(|| progress_bar(total));
            let file = File::create(path)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", path.display())))?;
            let mut out = io::BufWriter::with_capacity(64 << 10, file);
            let copied = copy_body(resp.body(), &mut out, &mut |n| {
                if let Some(b) = &bar {
                    b.inc(n as u64);
                }
            })
            .and_then(|()| out.flush().map_err(CopyError::Write));
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            match copied {
                Ok(()) => {}
                Err(CopyError::Write(e)) => {
                    return Err(Failure::new(format!(
                        "cannot write {}: {e}",
                        path.display()
                    )))
                }
                Err(CopyError::Read(e)) => return Err(fail(e)),
            }
        }
    }
    Ok(())
}

/// `-d`: text, `@FILE` or `@-`.
fn request_body(data: &str) -> Result<Body, Failure> {
    match data.strip_prefix('@') {
        None => Ok(Body::from(data.to_string())),
        Some("-") => {
            let mut buf = Vec::new();
            io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::new(format!("cannot read standard input: {e}")))?;
            Ok(Body::from(buf))
        }
        Some(path) => {
            let path = Path::new(path).to_path_buf();
            let cannot =
                |e: io::Error| Failure::new(format!("cannot read {}: {e}", path.display()));
            let len = std::fs::metadata(&path).map_err(cannot)?.len();
            File::open(&path).map_err(cannot)?;
            // Opened again for each send, so a 307 or 308 redirect can resend it.
            Ok(Body::replayable(Some(len), move || {
                Ok(Box::new(File::open(&path)?) as Box<dyn Read + Send>)
            }))
        }
    }
}

enum CopyError {
    Read(Error),
    Write(io::Error),
}

/// Copies the body to `out`, calling `progress` with each chunk's size.
fn copy_body(
    body: &mut impl Read,
    out: &mut impl Write,
    progress: &mut dyn FnMut(usize),
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(Error::from_io(e, TimeoutPhase::ReadBody))),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        progress(n);
    }
}

fn content_length(resp: &nethttp::Response) -> Option<u64> {
    resp.headers
        .get(nethttp::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    match total {
        Some(n) => {
            let bar = ProgressBar::new(n);
            if let Ok(style) = ProgressStyle::with_template(
                "{bytes:>10} / {total_bytes:<10} [{bar:30}] {binary_bytes_per_sec:>12} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {bytes:>10} {binary_bytes_per_sec:>12}")
            {
                bar.set_style(style);
            }
            bar
        }
    }
}

fn describe_timeout(phase: TimeoutPhase, target: &str) -> String {
    match phase {
        TimeoutPhase::Connect => format!("timed out connecting to {target}"),
        p => format!("timed out {p}"),
    }
}

/// What `-v` prints, fed by the trace hooks (which run on the transport's threads) and by the
/// redirect policy (on the calling thread). Each line goes to stderr in one write.
#[derive(Debug)]
struct Verbose {
    /// False: only record a failed name lookup.
    print: bool,
    state: Mutex<VerboseState>,
}

#[derive(Debug, Default)]
struct VerboseState {
    /// The request line of the request about to be written; taken by its first field.
    request_line: Option<String>,
    /// `host:port` of the connection being looked for.
    host_port: String,
    dns_failed: bool,
}

impl Verbose {
    fn new(print: bool) -> Verbose {
        Verbose {
            print,
            state: Mutex::default(),
        }
    }

    fn line(&self, s: &str) {
        if self.print {
            let _ = io::stderr().lock().write_all(format!("{s}\n").as_bytes());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VerboseState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dns_failed(&self) -> bool {
        self.lock().dns_failed
    }

    /// Records the request line of the next request written.
    fn next_request(&self, method: &Method, uri: &Uri) {
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        self.lock().request_line = Some(format!("> {method} {target} HTTP/1.1"));
    }

    fn trace(self: &Arc<Self>) -> ClientTrace {
        let (a, b, c, d, f, g) = (
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
            Arc::clone(self),
        );
        ClientTrace::new()
            .on_get_conn(move |hp| a.lock().host_port = hp.to_string())
            .on_dns_done(move |n| {
                if n == 0 {
                    b.lock().dns_failed = true;
                }
            })
            .on_connect_done(move |(addr, ok)| {
                if !ok {
                    c.line(&format!("* connect to {addr} failed"));
                }
            })
            .on_got_conn(move |info| {
                let hp = d.lock().host_port.clone();
                if info.reused {
                    d.line(&format!(
                        "* connection to {hp} reused (idle {})",
                        human_duration(info.idle_time)
                    ));
                } else {
                    d.line(&format!("* new connection to {hp}"));
                }
            })
            .on_wrote_header_field(move |name, value| {
                let first = f.lock().request_line.take();
                if let Some(l) = first {
                    f.line(&l);
                }
                f.line(&format!("> {name}: {}", String::from_utf8_lossy(value)));
            })
            .on_wrote_headers(move |()| g.line(">"))
    }

    /// -L with -v: follows as `RedirectPolicy::limited(MAX_REDIRECTS)` does, saying so.
    fn redirect_policy(self: &Arc<Self>) -> RedirectPolicy {
        let v = Arc::clone(self);
        RedirectPolicy::custom(move |a| {
            if a.previous().len() > MAX_REDIRECTS {
                return RedirectAction::Error(Error::with_source(
                    ErrorKind::TooManyRedirects,
                    format!("at most {MAX_REDIRECTS} allowed"),
                ));
            }
            v.line(&format!(
                "* {} redirect to {}",
                status_line(a.status()),
                a.url()
            ));
            v.next_request(a.method(), a.url());
            RedirectAction::Follow
        })
    }

    fn response_head(&self, resp: &nethttp::Response) {
        self.line(&format!(
            "< {:?} {}",
            resp.version,
            status_line(resp.status)
        ));
        for (name, value) in &resp.headers {
            self.line(&format!(
                "< {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        self.line("<");
    }
}

fn status_line(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}
