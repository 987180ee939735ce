//! `nethttp bench`: a load generator on the crate's own client, one thread per connection,
//! closed-loop or at a fixed rate (open loop), with latencies in HDR histograms; with two
//! URLs, interleaved A/B rounds, for comparing a sync server with an async one.
//!
//! Threads: `-c` worker threads per run. By default each owns one `ClientConn` (a connection
//! driven from the calling thread, no pool, no helper threads) and dials again when the server
//! closes it, so the load generator costs about what wrk's event loop does. With `--pool` the
//! workers share one `Client` whose `Transport` keeps `-c` idle connections (a reader and a
//! writer thread each): that measures the pooled client itself. Each worker owns its
//! histogram and counters and hands them back when it ends; the main thread merges them.
//! Workers share only a run's `Schedule`: its end, the Ctrl-C flag and one atomic ticket
//! counter, which is the request budget (`-n`) and, with `--rate`, the slot each request is
//! due in. A/B mode runs the two URLs one after the other on the main thread, never at once.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use nethttp::client::{
    ClientConfig, ClientConn, ClientTrace, Proxy, RedirectPolicy, RequestOptions, Transport,
    TransportConfig,
};
use nethttp::error::TimeoutPhase;
use nethttp::http::header::CONNECTION;
use nethttp::net::{Dial, Stream, Target, TcpDialer};
use nethttp::proto::head::wants_close;
use nethttp::server::Body;
use nethttp::{Client, HeaderMap, HeaderValue, Method, Request, Uri};

use crate::{describe_client_error, human_bytes, human_duration, parse_duration, Failure};

/// The largest latency recorded exactly, in microseconds (longer ones count as this).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Connections when -c is not given (fewer if -n is smaller).
const DEFAULT_CONNECTIONS: usize = 10;

/// A/B rounds when --rounds is not given.
const DEFAULT_ROUNDS: u32 = 5;

/// The first wait after a failure on a new connection; it doubles with each further one.
const BACKOFF_FIRST: Duration = Duration::from_millis(1);

/// The longest wait between two failures on new connections.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a request begun before the end of the run (-z) may go on past it. A request
/// still waiting then is cut: counted as neither a response nor an error (as wrk and oha
/// leave out requests in flight at their end), so a stalled server cannot stretch a run of
/// -z to --timeout.
const END_GRACE: Duration = Duration::from_secs(1);

/// With --rate, a request sent more than this after its slot counts as late.
const LATE: Duration = Duration::from_millis(1);

/// The longest a worker sleeps (for its slot or a back-off) before it looks at Ctrl-C again.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How many bars --latency prints at most.
const HISTOGRAM_BUCKETS: u32 = 12;

/// The widest bar --latency prints, in characters.
const BAR_WIDTH: u64 = 40;

/// Load a server and report requests/s and latencies, as wrk, oha and hey do; or compare two.
///
/// -c connections, each on its own thread, send requests back to back for -z (or until -n
/// requests in all), or on a fixed schedule of --rate requests/s; then the summary gives
/// requests/s, throughput, counts by status and by error, and latency percentiles from an HDR
/// histogram (--latency adds the histogram itself). Non-2xx responses count by status, not as
/// errors. A connection that fails before its first response (refused, reset, closed) is an
/// error, and its thread backs off before the next: 1 ms, doubling up to 1 s, until a response
/// arrives. Ctrl-C ends the run early and still prints the summary. Exits 1 if no request
/// succeeded.
///
/// With two URLs (or --compare URL_B), A/B mode: --rounds rounds, each running A and B for -z
/// (or -n requests) apiece, one after the other, in the order A B, then B A, and so on; then
/// each URL's median requests/s, the spread of its runs (fastest over slowest) and the ratio
/// B/A of the medians (above 1: B served more).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to load (http:// is assumed when it has no scheme); a second URL compares the
    /// two (A/B mode).
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,

    /// Compare with this URL: the same as giving it as a second URL.
    #[arg(long, value_name = "URL_B")]
    compare: Option<String>,

    /// A/B mode: rounds, each running both URLs once. Default: 5.
    #[arg(long, value_name = "N")]
    rounds: Option<u32>,

    /// Connections, each driven by its own thread. Default: 10, or -n if that is fewer.
    #[arg(short, long, value_name = "N")]
    connections: Option<usize>,

    /// How long to run (each URL in each round, in A/B mode).
    #[arg(short = 'z', long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    duration: Duration,

    /// Stop after this many requests in all, or at -z, whichever comes first (in A/B mode, for
    /// each URL in each round).
    #[arg(short = 'n', long, value_name = "N")]
    requests: Option<u64>,

    /// Send requests at this rate, in requests/s over all connections, on a fixed schedule
    /// (open loop): a request's latency counts from when it was due, so time spent waiting for
    /// a free connection is in it. Default: each connection sends its next request when the
    /// last response ends (closed loop).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,

    /// The method. Default: GET, or POST with a body.
    #[arg(short = 'm', long, value_name = "METHOD")]
    method: Option<String>,

    /// A request header; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// A request body, the text given, sent with every request (no Content-Type unless -H
    /// sets one).
    #[arg(short = 'b', long, value_name = "DATA")]
    body: Option<String>,

    /// A request body, the bytes of FILE (read once, before the run).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,

    /// Print a latency histogram too (and add it to --json's object).
    #[arg(long)]
    latency: bool,

    /// Send Connection: close, so every request opens a new connection.
    #[arg(long)]
    close: bool,

    /// A limit for each request, body included; a request over it counts as an error.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    timeout: Duration,

    /// Send through the pooled client (`Client` and its `Transport`, with a reader and a
    /// writer thread per connection) instead of one `ClientConn` per worker thread: measures
    /// the pool's own cost.
    #[arg(long)]
    pool: bool,

    /// Accept any TLS certificate (for a local server with a self-signed one).
    #[cfg(feature = "tls")]
    #[arg(short = 'k', long)]
    insecure: bool,

    /// Print the results as one JSON object on stdout instead of a summary.
    #[arg(long)]
    json: bool,

    /// -d was the duration until -z took its place; it is refused with a message saying so,
    /// so an old command line does not run with a different meaning.
    #[arg(short = 'd', hide = true, value_name = "VALUE")]
    old_duration: Option<String>,
}

/// The arguments, checked: what every run does.
struct Plan {
    method: Method,
    headers: HeaderMap,
    body: Option<Bytes>,
    connections: usize,
    duration: Duration,
    requests: Option<u64>,
    rate: Option<f64>,
    timeout: Duration,
    close: bool,
    pool: bool,
    latency: bool,
    json: bool,
    rounds: u32,
    #[cfg(feature = "tls")]
    insecure: bool,
}

impl Plan {
    /// Checks the arguments; a usage error (exit 2, one line) names the first one that is
    /// wrong. Returns the plan and the URLs (one, or two to compare).
    fn new(args: &Args) -> Result<(Plan, Vec<String>), Failure> {
        if args.old_duration.is_some() {
            return Err(Failure::usage(
                "-d no longer sets the duration: use -z DURATION (as oha and hey); \
                 -b DATA sets a request body",
            ));
        }
        let mut urls = args.urls.clone();
        urls.extend(args.compare.iter().cloned());
        if urls.len() > 2 {
            return Err(Failure::usage(
                "bench takes one URL, or two to compare (URL_A URL_B, or URL --compare URL_B)",
            ));
        }
        let rounds = match (args.rounds, urls.len()) {
            (Some(0), _) => return Err(Failure::usage("--rounds must be at least 1")),
            (Some(_), 1) => {
                return Err(Failure::usage(
                    "--rounds needs two URLs to compare (URL_A URL_B)",
                ))
            }
            (r, _) => r.unwrap_or(DEFAULT_ROUNDS),
        };
        if args.requests == Some(0) {
            return Err(Failure::usage("-n must be at least 1"));
        }
        let connections = match (args.connections, args.requests) {
            (Some(0), _) => return Err(Failure::usage("-c must be at least 1")),
            (Some(c), Some(n)) if c as u64 > n => {
                return Err(Failure::usage(format!(
                    "-c {c} is more than -n {n}: some connections would send nothing"
                )))
            }
            (Some(c), _) => c,
            (None, Some(n)) => DEFAULT_CONNECTIONS.min(usize::try_from(n).unwrap_or(usize::MAX)),
            (None, None) => DEFAULT_CONNECTIONS,
        };
        if args.duration.is_zero() {
            return Err(Failure::usage("-z must be longer than 0s"));
        }
        if args.timeout.is_zero() {
            return Err(Failure::usage("--timeout must be longer than 0s"));
        }
        if let Some(r) = args.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(Failure::usage(
                    "--rate must be a number of requests per second above 0",
                ));
            }
        }
        let body = match (&args.body, &args.body_file) {
            (Some(_), Some(_)) => {
                return Err(Failure::usage("-b and --body-file cannot be used together"))
            }
            (Some(b), None) => Some(Bytes::from(b.clone())),
            (None, Some(path)) => {
                Some(Bytes::from(std::fs::read(path).map_err(|e| {
                    Failure::new(format!("cannot read {}: {e}", path.display()))
                })?))
            }
            (None, None) => None,
        };
        let method = match &args.method {
            Some(m) => Method::from_bytes(m.as_bytes())
                .map_err(|_| Failure::usage(format!("invalid method {m:?}")))?,
            None if body.is_some() => Method::POST,
            None => Method::GET,
        };
        let mut headers = HeaderMap::new();
        for h in &args.headers {
            let (n, v) = crate::parse_header(h)?;
            headers.append(n, v);
        }
        if args.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let plan = Plan {
            method,
            headers,
            body,
            connections,
            duration: args.duration,
            requests: args.requests,
            rate: args.rate,
            timeout: args.timeout,
            close: args.close,
            pool: args.pool,
            latency: args.latency,
            json: args.json,
            rounds,
            #[cfg(feature = "tls")]
            insecure: args.insecure,
        };
        Ok((plan, urls))
    }

    /// `GET`, or `POST with a 5 B body`.
    fn request_line(&self) -> String {
        match &self.body {
            Some(b) => format!(
                "{} with a {} body",
                self.method,
                human_bytes(b.len() as f64)
            ),
            None => self.method.to_string(),
        }
    }

    /// `10 connection(s), keep-alive, 10.00s` and the rate, if any.
    fn load_line(&self) -> String {
        let mode = match (self.close, self.pool) {
            (true, _) => "a new connection per request (Connection: close)",
            (false, false) => "keep-alive",
            (false, true) => "keep-alive, pooled client",
        };
        let limit = match self.requests {
            Some(n) => format!("{n} requests or {}", human_duration(self.duration)),
            None => human_duration(self.duration),
        };
        let rate = match self.rate {
            Some(r) => format!(", {r} requests/s (open loop)"),
            None => String::new(),
        };
        format!("{} connection(s), {mode}, {limit}{rate}", self.connections)
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    let (plan, urls) = Plan::new(&args)?;
    let sites = urls
        .iter()
        .map(|u| Site::new(u, &plan))
        .collect::<Result<Vec<_>, _>>()?;

    // Ctrl-C ends the run early with a summary of what was done, as wrk's does (in A/B mode,
    // the rounds so far); a second one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });

    match sites.as_slice() {
        [site] => single(&plan, site, &stop),
        [a, b] => compare(&plan, [a, b], &stop),
        _ => unreachable!("Plan::new allows one or two URLs"),
    }
}

/// One URL: one run, then its summary.
fn single(plan: &Plan, site: &Site, stop: &Arc<AtomicBool>) -> Result<(), Failure> {
    let run = run_once(plan, site, stop)?;
    let report = Report {
        plan,
        url: &site.url,
        elapsed: run.elapsed,
        t: &run.t,
    };
    let out = if plan.json {
        format!("{:#}\n", report.json())
    } else {
        report.human()
    };
    let _ = io::stdout().lock().write_all(out.as_bytes());
    run.t.check(&site.url)
}

/// One URL to load, with what sends to it.
struct Site {
    url: String,
    uri: Uri,
    /// `host:port`, for messages.
    target: String,
    sender: Sender,
}

impl Site {
    fn new(arg: &str, plan: &Plan) -> Result<Site, Failure> {
        let (url, uri) = crate::parse_url(arg)?;
        let target = crate::target_of(&uri);
        let sender = if plan.pool {
            let transport = Transport::with_config(TransportConfig {
                max_idle_conns: plan.connections.max(100),
                max_idle_conns_per_host: plan.connections,
                proxy: Proxy::none(),
                #[cfg(feature = "tls")]
                tls: nethttp::tls::ClientTls {
                    danger_accept_invalid_certs: plan.insecure,
                    ..Default::default()
                },
                ..Default::default()
            });
            Sender::Pool(Client::with_config(ClientConfig {
                transport: Some(Arc::new(transport)),
                redirect: RedirectPolicy::none(),
                // As wrk: no Accept-Encoding, so the server sends what it has.
                gzip: false,
                ..Default::default()
            }))
        } else {
            Sender::Direct(Dialer::new(&uri, plan)?)
        };
        Ok(Site {
            url,
            uri,
            target,
            sender,
        })
    }
}

/// What one run did, and how long it took.
struct Run {
    t: Tally,
    elapsed: Duration,
}

impl Run {
    fn requests_per_s(&self) -> f64 {
        self.t.responses() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Loads `site` once, as the plan says: starts the workers, waits for them, merges what they
/// saw.
fn run_once(plan: &Plan, site: &Site, stop: &Arc<AtomicBool>) -> Result<Run, Failure> {
    let start = Instant::now();
    let schedule = Arc::new(Schedule {
        start,
        end: start + plan.duration,
        max: plan.requests,
        interval: plan.rate.map(|r| 1.0 / r),
        issued: AtomicU64::new(0),
        stop: Arc::clone(stop),
    });
    let mut workers = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let w = Worker::new(plan, site, &schedule);
        let h = thread::Builder::new()
            .name(format!("nethttp-bench-{i}"))
            .spawn(move || w.run())
            .map_err(|e| Failure::new(format!("cannot start a thread: {e}")))?;
        workers.push(h);
    }
    let mut t = Tally::new();
    for w in workers {
        match w.join() {
            Ok(w) => t.merge(w),
            Err(_) => return Err(Failure::new("a bench thread panicked")),
        }
    }
    let mut elapsed = start.elapsed();
    if let Some(rate) = plan.rate {
        // At least the span of the slots it used: a run that ends with its last slot is not
        // shorter than its schedule by the gap after that slot.
        let sent = t.responses() + t.error_count();
        if let Ok(span) = Duration::try_from_secs_f64(sent as f64 / rate) {
            elapsed = elapsed.max(span);
        }
    }
    Ok(Run { t, elapsed })
}

/// What one worker, or a whole run, saw.
struct Tally {
    /// From each request's start (or, with --rate, its slot) to the end of its response.
    latency_us: Histogram<u64>,
    /// Responses by status code.
    status: BTreeMap<u16, u64>,
    /// Failed requests by what went wrong (one line, as `get` prints it).
    errors: BTreeMap<String, u64>,
    /// Bytes received: response heads (as serialised again) and bodies.
    bytes: u64,
    /// With --rate: requests sent more than [`LATE`] after their slot.
    late: u64,
    /// With --rate: the longest a request waited past its slot before it was sent.
    max_lag: Duration,
    /// Requests cut by the end of the run ([`END_GRACE`]) before their response ended.
    cut: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes: 0,
            late: 0,
            max_lag: Duration::ZERO,
            cut: 0,
        }
    }

    fn merge(&mut self, other: Tally) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        for (k, v) in other.status {
            *self.status.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.bytes += other.bytes;
        self.late += other.late;
        self.max_lag = self.max_lag.max(other.max_lag);
        self.cut += other.cut;
    }

    fn responses(&self) -> u64 {
        self.status.values().sum()
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Exit 1 if nothing to `url` succeeded, naming the commonest error.
    fn check(&self, url: &str) -> Result<(), Failure> {
        if self.responses() > 0 {
            return Ok(());
        }
        match self.errors.iter().max_by_key(|(_, n)| **n) {
            Some((first, _)) => Err(Failure::new(format!(
                "no request to {url} succeeded: {first}"
            ))),
            None if self.cut > 0 => Err(Failure::new(format!(
                "no response from {url} before the run ended ({} request(s) still waiting)",
                self.cut
            ))),
            None => Err(Failure::new(format!("no request to {url} was sent"))),
        }
    }
}

/// How workers send requests.
#[derive(Clone)]
enum Sender {
    /// One `ClientConn` per worker, dialled by the worker.
    Direct(Dialer),
    /// One shared pooled `Client`.
    Pool(Client),
}

/// Opens a worker's connection: TCP, then TLS for https.
#[derive(Clone)]
struct Dialer {
    target: Target,
    #[cfg(feature = "tls")]
    tls: Option<Arc<nethttp::tls::ClientTls>>,
}

impl Dialer {
    fn new(uri: &Uri, plan: &Plan) -> Result<Dialer, Failure> {
        let https = uri.scheme_str() == Some("https");
        let target = Target {
            scheme: if https { "https" } else { "http" }.to_string(),
            host: uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        };
        #[cfg(feature = "tls")]
        {
            let tls = if https {
                let t = nethttp::tls::ClientTls {
                    danger_accept_invalid_certs: plan.insecure,
                    ..Default::default()
                };
                // Built once here, so each worker's connection does not load the roots again.
                let config = t.rustls_config().map_err(Failure::new)?;
                Some(Arc::new(nethttp::tls::ClientTls {
                    config: Some(config),
                    ..t
                }))
            } else {
                None
            };
            Ok(Dialer { target, tls })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = plan;
            if https {
                return Err(Failure::usage(
                    "https needs the tls feature, which this build lacks",
                ));
            }
            Ok(Dialer { target })
        }
    }

    fn dial(&self, deadline: Instant) -> nethttp::Result<ClientConn> {
        let sock = TcpDialer::default().dial(&self.target, Some(deadline), &ClientTrace::new())?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let s = nethttp::tls::connect(sock, &self.target.host, tls, Some(deadline))?;
            return Ok(ClientConn::new(s));
        }
        Ok(ClientConn::new(Arc::<dyn Stream>::from(sock)))
    }
}

/// What the workers of one run share.
struct Schedule {
    start: Instant,
    end: Instant,
    /// -n.
    max: Option<u64>,
    /// With --rate: seconds from one request's slot to the next.
    interval: Option<f64>,
    /// Tickets taken: ticket k is the run's request k (counted against -n) and, with --rate,
    /// is due at `start + k × interval`. Whichever worker is free takes the next one, so a
    /// late request waits for the first free connection, as on an open-loop client.
    issued: AtomicU64,
    /// Set by Ctrl-C; the same flag for every run.
    stop: Arc<AtomicBool>,
}

impl Schedule {
    /// Takes the next ticket: when the request is due (now, without --rate), or `None` when
    /// the run is over.
    fn next(&self) -> Option<Instant> {
        if self.stop.load(Ordering::Relaxed) || Instant::now() >= self.end {
            return None;
        }
        let k = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.max.is_some_and(|max| k >= max) {
            return None;
        }
        match self.interval {
            None => Some(Instant::now()),
            Some(iv) => {
                // A slot past what a Duration or an Instant holds (a --rate of 1e-20) is past
                // the end of the run.
                let due = Duration::try_from_secs_f64(k as f64 * iv)
                    .ok()
                    .and_then(|d| self.start.checked_add(d))?;
                (due < self.end).then_some(due)
            }
        }
    }

    /// Sleeps until `t`, looking at Ctrl-C every [`STOP_POLL`]; false if the run ends first
    /// (Ctrl-C, or its end time).
    fn sleep_until(&self, t: Instant) -> bool {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= t {
                return true;
            }
            if now >= self.end {
                return false;
            }
            thread::sleep((t.min(self.end) - now).min(STOP_POLL));
        }
    }
}

/// A failed request, and whether it failed on a connection that had not yet carried a
/// response (a refused dial, or a new connection closed without an answer).
struct Failed {
    error: nethttp::Error,
    fresh: bool,
    /// A timeout set by the end of the run, not by --timeout.
    cut: bool,
}

/// One worker thread's share of the load.
struct Worker {
    sender: Sender,
    /// The worker's connection (direct mode), while it can carry another request.
    conn: Option<ClientConn>,
    /// Pool mode: whether the last request got a connection that carried one before; set by
    /// `trace` on whichever thread hands the connection over, read after `send` returns.
    reused: Arc<AtomicBool>,
    trace: ClientTrace,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Option<Bytes>,
    close: bool,
    timeout: Duration,
    schedule: Arc<Schedule>,
    /// `host:port`, for error messages.
    target: String,
}

impl Worker {
    fn new(plan: &Plan, site: &Site, schedule: &Arc<Schedule>) -> Worker {
        let reused = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&reused);
        Worker {
            sender: site.sender.clone(),
            conn: None,
            reused,
            trace: ClientTrace::new().on_got_conn(move |i| r.store(i.reused, Ordering::Relaxed)),
            method: plan.method.clone(),
            uri: site.uri.clone(),
            headers: plan.headers.clone(),
            body: plan.body.clone(),
            close: plan.close,
            timeout: plan.timeout,
            schedule: Arc::clone(schedule),
            target: site.target.clone(),
        }
    }

    fn run(mut self) -> Tally {
        let mut t = Tally::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut backoff = BACKOFF_FIRST;
        let schedule = Arc::clone(&self.schedule);
        while let Some(due) = schedule.next() {
            if schedule.interval.is_some() {
                if !schedule.sleep_until(due) {
                    break;
                }
                let lag = due.elapsed();
                t.max_lag = t.max_lag.max(lag);
                if lag > LATE {
                    t.late += 1;
                }
            }
            match self.one(&mut buf) {
                Ok((status, bytes)) => {
                    // From the slot, with --rate: the wait for a free connection counts
                    // (coordinated omission corrected, as wrk2 and oha do).
                    let us = due.elapsed().as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
                    t.latency_us.saturating_record(us.max(1));
                    *t.status.entry(status).or_default() += 1;
                    t.bytes += bytes;
                    backoff = BACKOFF_FIRST;
                }
                Err(f) if f.cut => {
                    t.cut += 1;
                    break;
                }
                Err(f) => {
                    let key = describe_client_error(&f.error, &self.target);
                    *t.errors.entry(key).or_default() += 1;
                    // Not the server's answer to load but its absence: trying again at once
                    // would only spin (a refused port takes tens of thousands of connects a
                    // second).
                    if f.fresh {
                        if !schedule.sleep_until(Instant::now() + backoff) {
                            break;
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
        }
        t
    }

    /// One request, its response body read to the end; returns the status and the bytes
    /// received.
    fn one(&mut self, buf: &mut [u8]) -> Result<(u16, u64), Failed> {
        let own = Instant::now() + self.timeout;
        let run_end = self.schedule.end + END_GRACE;
        let deadline = own.min(run_end);
        // A timeout is the run's end only once that end has come (a connect timeout before
        // it is an error like any other).
        let by_end = move |e: &nethttp::Error| e.is_timeout() && Instant::now() >= run_end;
        let mut fresh = true;
        let on = |fresh: bool| {
            move |error: nethttp::Error| Failed {
                cut: by_end(&error),
                error,
                fresh,
            }
        };
        let mut req = Request::new(self.method.clone(), "/").map_err(on(fresh))?;
        req.uri = self.uri.clone();
        req.headers = self.headers.clone();
        if let Some(b) = &self.body {
            req.replace_body(Body::from(b.clone()));
        }
        let opts = RequestOptions::of_mut(&mut req);
        opts.deadline = Some(deadline);
        let (mut resp, conn) = match &self.sender {
            Sender::Pool(client) => {
                opts.trace = self.trace.clone();
                self.reused.store(false, Ordering::Relaxed);
                let sent = client.send(req);
                fresh = !self.reused.load(Ordering::Relaxed);
                (sent.map_err(on(fresh))?, None)
            }
            Sender::Direct(dialer) => {
                // Taken: a failed exchange drops it, and the next request dials anew.
                let cc = match self.conn.take() {
                    Some(cc) => {
                        fresh = false;
                        cc
                    }
                    None => dialer.dial(deadline).map_err(on(fresh))?,
                };
                (cc.send(req).map_err(on(fresh))?, Some(cc))
            }
        };
        let mut bytes = head_size(&resp);
        let body = resp.body();
        loop {
            match body.read(buf) {
                Ok(0) => break,
                Ok(n) => bytes += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let error = nethttp::Error::from_io(e, TimeoutPhase::ReadBody);
                    return Err(Failed {
                        cut: by_end(&error),
                        error,
                        // A response head arrived: the server is there.
                        fresh: false,
                    });
                }
            }
        }
        if !self.close && !wants_close(resp.version, &resp.headers) {
            self.conn = conn;
        }
        Ok((resp.status.as_u16(), bytes))
    }
}

/// The size of the response head on the wire, as written again from its parts (the reason
/// phrase is the standard one).
fn head_size(resp: &nethttp::Response) -> u64 {
    let reason = resp.status.canonical_reason().map_or(0, |r| r.len() + 1);
    let status_line = "HTTP/1.1 200".len() + reason + 2;
    let fields: usize = resp
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    (status_line + fields + 2) as u64
}

/// The percentiles reported, with their names.
const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

/// `us` microseconds for people.
fn us(v: u64) -> String {
    human_duration(Duration::from_micros(v))
}

/// The latency histogram's buckets: at most [`HISTOGRAM_BUCKETS`] upper bounds in
/// microseconds, spaced evenly on a log scale from the fastest response to the slowest
/// (latencies have long tails: even buckets would put nearly all of them in the first), each
/// with the count of responses above the bound before it, up to its own.
fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.lowest_equivalent(h.min_nz()).max(1), h.max().max(1));
    let mut bounds: Vec<u64> = (1..=HISTOGRAM_BUCKETS)
        .map(|i| {
            let f = f64::from(i) / f64::from(HISTOGRAM_BUCKETS);
            (lo as f64 * (hi as f64 / lo as f64).powf(f)).round() as u64
        })
        .collect();
    // The last bound is the slowest exactly, so every value falls in a bucket.
    *bounds.last_mut().expect("at least one bucket") = hi;
    bounds.dedup();
    let mut counts = vec![0u64; bounds.len()];
    for v in h.iter_recorded() {
        let i = bounds
            .partition_point(|b| *b < v.value_iterated_to())
            .min(bounds.len() - 1);
        counts[i] += v.count_at_value();
    }
    bounds.into_iter().zip(counts).collect()
}

/// The latency histogram as text: one line per bucket, its bound, count, share and bar.
fn histogram_lines(h: &Histogram<u64>, indent: &str) -> String {
    let b = buckets(h);
    let total = h.len().max(1);
    let top = b.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mut s = String::new();
    for (bound, n) in b {
        let bar = "■".repeat((n * BAR_WIDTH).div_ceil(top) as usize);
        s += &format!(
            "{indent}≤ {:>8}  {n:>10}  {:>5.1}%  {bar}\n",
            us(bound),
            n as f64 * 100.0 / total as f64
        );
    }
    s
}

/// The histogram's buckets for JSON: `[{"le_us": 131, "count": 12}, ...]`.
fn histogram_json(h: &Histogram<u64>) -> serde_json::Value {
    buckets(h)
        .into_iter()
        .map(|(le, count)| serde_json::json!({ "le_us": le, "count": count }))
        .collect()
}

/// The latency percentiles for JSON, in microseconds (empty without responses).
fn latency_json(h: &Histogram<u64>) -> serde_json::Map<String, serde_json::Value> {
    let mut latency = serde_json::Map::new();
    if !h.is_empty() {
        latency.insert("mean".into(), serde_json::json!(h.mean()));
        latency.insert("min".into(), h.min().into());
        for (name, q) in PERCENTILES {
            latency.insert(name.into(), h.value_at_percentile(q).into());
        }
        latency.insert("max".into(), h.max().into());
    }
    latency
}

/// Counts by status for JSON.
fn status_json(t: &Tally) -> serde_json::Map<String, serde_json::Value> {
    t.status
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect()
}

/// One run's summary.
struct Report<'a> {
    plan: &'a Plan,
    url: &'a str,
    elapsed: Duration,
    t: &'a Tally,
}

impl Report<'_> {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    fn human(&self) -> String {
        let t = self.t;
        let n = t.responses();
        let secs = self.secs();
        let mut s = format!(
            "nethttp bench {}: {}, {}\n",
            self.url,
            self.plan.request_line(),
            self.plan.load_line()
        );
        s += &format!(
            "  requests   {n} in {:.2}s: {:.1} requests/s\n",
            secs,
            n as f64 / secs
        );
        if let Some(rate) = self.plan.rate {
            s += &format!(
                "  rate       target {rate}/s: {} sent, {} late (over {} after their slot), \
                 max lag {}\n",
                n + t.error_count(),
                t.late,
                human_duration(LATE),
                human_duration(t.max_lag)
            );
        }
        s += &format!(
            "  transfer   {} received: {}/s (heads and bodies)\n",
            human_bytes(t.bytes as f64),
            human_bytes(t.bytes as f64 / secs)
        );
        let statuses: Vec<String> = t.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        s += &format!(
            "  status     {}\n",
            if statuses.is_empty() {
                "none".to_string()
            } else {
                statuses.join(", ")
            }
        );
        if t.cut > 0 {
            s += &format!(
                "  cut        {} request(s) still waiting {} after the end of the run, not counted\n",
                t.cut,
                human_duration(END_GRACE)
            );
        }
        if t.errors.is_empty() {
            s += "  errors     0\n";
        } else {
            s += &format!("  errors     {}\n", t.error_count());
            for (k, v) in &t.errors {
                s += &format!("    {v:>10}  {k}\n");
            }
        }
        if n > 0 {
            let h = &t.latency_us;
            let mut line = format!("  latency    mean {}", us(h.mean().round() as u64));
            for (name, q) in PERCENTILES {
                line += &format!("  {name} {}", us(h.value_at_percentile(q)));
            }
            line += &format!("  max {}\n", us(h.max()));
            s += &line;
            if self.plan.rate.is_some() {
                s += "             (from each request's slot: waits for a connection count)\n";
            }
            if self.plan.latency {
                s += "  histogram  (responses by latency, log-spaced buckets)\n";
                s += &histogram_lines(h, "    ");
            }
        }
        s
    }

    fn json(&self) -> serde_json::Value {
        let t = self.t;
        let n = t.responses();
        let secs = self.secs();
        let mut v = serde_json::json!({
            "url": self.url,
            "method": self.plan.method.as_str(),
            "body_bytes": self.plan.body.as_ref().map_or(0, Bytes::len),
            "connections": self.plan.connections,
            "keep_alive": !self.plan.close,
            "pool": self.plan.pool,
            "duration_s": secs,
            "requests": n,
            "requests_per_s": n as f64 / secs,
            "bytes": t.bytes,
            "bytes_per_s": t.bytes as f64 / secs,
            "status": status_json(t),
            "errors": t.error_count(),
            "errors_by_kind": t.errors,
            "cut": t.cut,
            "latency_us": latency_json(&t.latency_us),
            "rate": self.plan.rate.map(|r| serde_json::json!({
                "target_per_s": r,
                "sent": n + t.error_count(),
                "late": t.late,
                "max_lag_us": t.max_lag.as_micros() as u64,
            })),
        });
        if self.plan.latency {
            v["latency_histogram"] = histogram_json(&t.latency_us);
        }
        v
    }
}

/// A/B mode: rounds of A then B, or B then A in every other round, one run at a time; then
/// each URL's median requests/s, its spread and the ratio B/A.
fn compare(plan: &Plan, sites: [&Site; 2], stop: &Arc<AtomicBool>) -> Result<(), Failure> {
    let progress = !plan.json && io::stderr().is_terminal();
    let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    'rounds: for round in 0..plan.rounds {
        // Alternating the order keeps either URL from always running second (on a warmer
        // machine, or after the other's connections linger in TIME_WAIT).
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            if stop.load(Ordering::Relaxed) {
                break 'rounds;
            }
            let run = run_once(plan, sites[i], stop)?;
            if progress {
                say!(
                    "round {}/{}: {} {:.1} requests/s",
                    round + 1,
                    plan.rounds,
                    ["A", "B"][i],
                    run.requests_per_s()
                );
            }
            runs[i].push(run);
        }
    }
    let rounds = runs[0].len().max(runs[1].len());
    let [runs_a, runs_b] = runs;
    let sides = [Side::new(sites[0], runs_a), Side::new(sites[1], runs_b)];
    let b_over_a = ratio(sides[1].median, sides[0].median);
    let per_round: Vec<Option<f64>> = sides[0]
        .rates
        .iter()
        .zip(&sides[1].rates)
        .map(|(a, b)| ratio(*b, *a))
        .collect();
    let out = if plan.json {
        let v = serde_json::json!({
            "mode": "compare",
            "method": plan.method.as_str(),
            "body_bytes": plan.body.as_ref().map_or(0, Bytes::len),
            "connections": plan.connections,
            "keep_alive": !plan.close,
            "pool": plan.pool,
            "rate_per_s": plan.rate,
            "rounds": rounds,
            "a": sides[0].json(plan),
            "b": sides[1].json(plan),
            "ratio_b_over_a": b_over_a,
            "ratio_per_round": per_round,
        });
        format!("{v:#}\n")
    } else {
        compare_human(plan, &sides, b_over_a, &per_round)
    };
    let _ = io::stdout().lock().write_all(out.as_bytes());
    sides[0].total.check(&sides[0].url)?;
    sides[1].total.check(&sides[1].url)
}

/// `x / y`, or `None` when `y` is zero.
fn ratio(x: f64, y: f64) -> Option<f64> {
    (y > 0.0).then(|| x / y)
}

/// One URL's runs in A/B mode.
struct Side {
    url: String,
    /// Requests/s of each run, in round order.
    rates: Vec<f64>,
    median: f64,
    /// Fastest run over slowest; `None` if a run had no responses (or there were none).
    spread: Option<f64>,
    /// Every run's tallies merged: latencies, statuses and errors over all rounds.
    total: Tally,
}

impl Side {
    fn new(site: &Site, runs: Vec<Run>) -> Side {
        let rates: Vec<f64> = runs.iter().map(Run::requests_per_s).collect();
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        let median = match sorted.len() {
            0 => 0.0,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        let spread = match (sorted.first(), sorted.last()) {
            (Some(lo), Some(hi)) => ratio(*hi, *lo),
            _ => None,
        };
        let mut total = Tally::new();
        for r in runs {
            total.merge(r.t);
        }
        Side {
            url: site.url.clone(),
            rates,
            median,
            spread,
            total,
        }
    }

    fn json(&self, plan: &Plan) -> serde_json::Value {
        let t = &self.total;
        let mut v = serde_json::json!({
            "url": self.url,
            "requests_per_s": self.rates,
            "median_requests_per_s": self.median,
            "spread": self.spread,
            "requests": t.responses(),
            "status": status_json(t),
            "errors": t.error_count(),
            "errors_by_kind": t.errors,
            "latency_us": latency_json(&t.latency_us),
        });
        if plan.rate.is_some() {
            v["late"] = t.late.into();
        }
        if plan.latency {
            v["latency_histogram"] = histogram_json(&t.latency_us);
        }
        v
    }

    /// `median 45123.4 requests/s  spread 1.12x  p50 210µs  p99 1.20ms  status 200: 5  errors 0`
    fn line(&self) -> String {
        let t = &self.total;
        let h = &t.latency_us;
        let spread = self.spread.map_or("-".to_string(), |s| format!("{s:.2}x"));
        let mut s = format!("median {:.1} requests/s  spread {spread}", self.median);
        if !h.is_empty() {
            s += &format!(
                "  p50 {}  p99 {}",
                us(h.value_at_percentile(50.0)),
                us(h.value_at_percentile(99.0))
            );
        }
        let statuses: Vec<String> = t.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        if !statuses.is_empty() {
            s += &format!("  status {}", statuses.join(", "));
        }
        s += &format!("  errors {}", t.error_count());
        s
    }
}

fn compare_human(
    plan: &Plan,
    sides: &[Side; 2],
    ratio: Option<f64>,
    per_round: &[Option<f64>],
) -> String {
    let fmt_ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.3}"));
    let mut s = format!(
        "nethttp bench A/B: {}, {}; {} round(s), each running A and B in turn (A B, then B A)\n",
        plan.request_line(),
        plan.load_line(),
        plan.rounds
    );
    for (name, side) in ["A", "B"].iter().zip(sides) {
        s += &format!("  {name}  {}\n      {}\n", side.url, side.line());
        for (k, v) in &side.total.errors {
            s += &format!("      {v:>10}  {k}\n");
        }
    }
    let known: Vec<f64> = per_round.iter().flatten().copied().collect();
    let range = match (
        known.iter().copied().reduce(f64::min),
        known.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("; per round {lo:.3} to {hi:.3}"),
        _ => String::new(),
    };
    s += &format!(
        "  B/A  {} (B's median requests/s over A's; above 1: B served more){range}\n",
        fmt_ratio(ratio)
    );
    s += "  round  A requests/s  B requests/s    B/A\n";
    let rounds = sides[0].rates.len().max(sides[1].rates.len());
    for i in 0..rounds {
        let cell = |side: &Side| {
            side.rates
                .get(i)
                .map_or("-".to_string(), |r| format!("{r:.1}"))
        };
        s += &format!(
            "  {:>5}  {:>12}  {:>12}  {:>5}\n",
            i + 1,
            cell(&sides[0]),
            cell(&sides[1]),
            fmt_ratio(per_round.get(i).copied().flatten())
        );
    }
    if plan.latency {
        for (name, side) in ["A", "B"].iter().zip(sides) {
            if !side.total.latency_us.is_empty() {
                s += &format!("  {name} histogram  (responses by latency, log-spaced buckets)\n");
                s += &histogram_lines(&side.total.latency_us, "    ");
            }
        }
    }
    s
}
