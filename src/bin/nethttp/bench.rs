//! `nethttp bench`: a closed-loop load generator on the crate's own client, one thread per
//! connection, with latencies in HDR histograms, for comparing sync and async stacks.
//!
//! Threads: `-c` worker threads. By default each owns one `ClientConn` (a connection driven
//! from the calling thread, no pool, no helper threads) and dials again when the server
//! closes it, so the load generator costs about what wrk's event loop does. With `--pool`
//! the workers share one `Client` whose `Transport` keeps `-c` idle connections (a reader and
//! a writer thread each): that measures the pooled client itself. Each worker owns its
//! histogram and counters and hands them back when it ends; the main thread merges them.
//! Workers share only the request budget (`-n`, an atomic counter) and the end time.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nethttp::client::{
    ClientConfig, ClientConn, ClientTrace, Proxy, RedirectPolicy, Transport, TransportConfig,
};
use nethttp::error::TimeoutPhase;
use nethttp::http::header::CONNECTION;
use nethttp::net::{Dial, Stream, Target, TcpDialer};
use nethttp::proto::head::wants_close;
use nethttp::{Client, HeaderMap, HeaderValue, Method, Request, Uri};

use crate::{describe_client_error, human_bytes, human_duration, parse_duration, Failure};

/// The largest latency recorded exactly, in microseconds (longer ones count as this).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Load a server with GET requests and report requests/s and latencies, as wrk.
///
/// -c connections, each on its own thread, send GET requests back to back for -d (or until
/// -n requests in all); then the summary gives requests/s, throughput, counts by status and
/// by error, and latency percentiles from an HDR histogram. Non-2xx responses count by
/// status, not as errors. Ctrl-C ends the run early and still prints the summary. Exits 1 if
/// no request succeeded.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to GET (http:// is assumed when it has no scheme).
    url: String,

    /// Connections, each driven by its own thread.
    #[arg(short, long, default_value_t = 10, value_name = "N")]
    connections: usize,

    /// How long to run.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    duration: Duration,

    /// Stop after this many requests in all (or at -d, whichever comes first).
    #[arg(short = 'n', long, value_name = "N")]
    requests: Option<u64>,

    /// Send Connection: close, so every request opens a new connection.
    #[arg(long)]
    close: bool,

    /// A request header; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

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
}

/// What one worker saw.
struct Tally {
    latency_us: Histogram<u64>,
    /// Responses by status code.
    status: BTreeMap<u16, u64>,
    /// Failed requests by what went wrong (one line, as `get` prints it).
    errors: BTreeMap<String, u64>,
    /// Bytes received: response heads (as serialised again) and bodies.
    bytes: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes: 0,
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
    }

    fn responses(&self) -> u64 {
        self.status.values().sum()
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    if args.connections == 0 {
        return Err(Failure::usage("-c must be at least 1"));
    }
    let (url, uri) = crate::parse_url(&args.url)?;
    let target = crate::target_of(&uri);
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (n, v) = crate::parse_header(h)?;
        headers.append(n, v);
    }
    if args.close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }

    let sender = if args.pool {
        let transport = Transport::with_config(TransportConfig {
            max_idle_conns: args.connections.max(100),
            max_idle_conns_per_host: args.connections,
            proxy: Proxy::none(),
            #[cfg(feature = "tls")]
            tls: nethttp::tls::ClientTls {
                danger_accept_invalid_certs: args.insecure,
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
        Sender::Direct(Dialer::new(&uri, &args)?)
    };

    // Ctrl-C ends the run early with a summary of what was done, as wrk's does; a second
    // one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });

    let budget = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + args.duration;
    let mut workers = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let w = Worker {
            sender: sender.clone(),
            conn: None,
            uri: uri.clone(),
            headers: headers.clone(),
            close: args.close,
            timeout: args.timeout,
            end,
            max: args.requests,
            issued: Arc::clone(&budget),
            stop: Arc::clone(&stop),
            target: target.clone(),
        };
        let h = thread::Builder::new()
            .name(format!("nethttp-bench-{i}"))
            .spawn(move || w.run())
            .map_err(|e| Failure::new(format!("cannot start a thread: {e}")))?;
        workers.push(h);
    }
    let mut total = Tally::new();
    for w in workers {
        match w.join() {
            Ok(t) => total.merge(t),
            Err(_) => return Err(Failure::new("a bench thread panicked")),
        }
    }
    let elapsed = start.elapsed();

    let report = Report {
        args: &args,
        url: &url,
        elapsed,
        t: &total,
    };
    let out = if args.json {
        report.json()
    } else {
        report.human()
    };
    let _ = io::stdout().lock().write_all(out.as_bytes());

    if total.responses() == 0 {
        if let Some((first, _)) = total.errors.iter().max_by_key(|(_, n)| **n) {
            return Err(Failure::new(format!("no request succeeded: {first}")));
        }
        return Err(Failure::new("no request was sent"));
    }
    Ok(())
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
    fn new(uri: &Uri, args: &Args) -> Result<Dialer, Failure> {
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
                    danger_accept_invalid_certs: args.insecure,
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
            let _ = args;
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

/// One worker thread's share of the load.
struct Worker {
    sender: Sender,
    /// The worker's connection (direct mode), while it can carry another request.
    conn: Option<ClientConn>,
    uri: Uri,
    headers: HeaderMap,
    close: bool,
    timeout: Duration,
    end: Instant,
    max: Option<u64>,
    issued: Arc<AtomicU64>,
    /// Set by Ctrl-C.
    stop: Arc<AtomicBool>,
    target: String,
}

impl Worker {
    fn run(mut self) -> Tally {
        let mut t = Tally::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if Instant::now() >= self.end || self.stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(max) = self.max {
                if self.issued.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
            }
            let t0 = Instant::now();
            match self.one(&mut buf) {
                Ok((status, bytes)) => {
                    let us = t0.elapsed().as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
                    t.latency_us.saturating_record(us.max(1));
                    *t.status.entry(status).or_default() += 1;
                    t.bytes += bytes;
                }
                Err(e) => {
                    let key = describe_client_error(&e, &self.target);
                    *t.errors.entry(key).or_default() += 1;
                }
            }
        }
        t
    }

    /// One GET, body read to its end; returns the status and the bytes received.
    fn one(&mut self, buf: &mut [u8]) -> nethttp::Result<(u16, u64)> {
        let deadline = Instant::now() + self.timeout;
        let mut req = Request::new(Method::GET, "/")?;
        req.uri = self.uri.clone();
        req.headers = self.headers.clone();
        nethttp::client::RequestOptions::of_mut(&mut req).deadline = Some(deadline);
        let (mut resp, conn) = match &self.sender {
            Sender::Pool(client) => (client.send(req)?, None),
            Sender::Direct(dialer) => {
                // Taken: a failed exchange drops it, and the next request dials anew.
                let cc = match self.conn.take() {
                    Some(cc) => cc,
                    None => dialer.dial(deadline)?,
                };
                (cc.send(req)?, Some(cc))
            }
        };
        let mut bytes = head_size(&resp);
        let body = resp.body();
        loop {
            match body.read(buf) {
                Ok(0) => break,
                Ok(n) => bytes += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(nethttp::Error::from_io(e, TimeoutPhase::ReadBody)),
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

struct Report<'a> {
    args: &'a Args,
    url: &'a str,
    elapsed: Duration,
    t: &'a Tally,
}

/// The percentiles reported, with their names.
const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

impl Report<'_> {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    fn human(&self) -> String {
        let t = self.t;
        let n = t.responses();
        let secs = self.secs();
        let mode = match (self.args.close, self.args.pool) {
            (true, _) => "a new connection per request (Connection: close)",
            (false, false) => "keep-alive",
            (false, true) => "keep-alive, pooled client",
        };
        let limit = match self.args.requests {
            Some(n) => format!("{n} requests or {}", human_duration(self.args.duration)),
            None => human_duration(self.args.duration),
        };
        let mut s = format!(
            "nethttp bench {}: {} connection(s), {mode}, {limit}\n",
            self.url, self.args.connections
        );
        s += &format!(
            "  requests   {n} in {:.2}s: {:.1} requests/s\n",
            secs,
            n as f64 / secs
        );
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
            let us = |v: u64| human_duration(Duration::from_micros(v));
            let mut line = format!("  latency    mean {}", us(h.mean().round() as u64));
            for (name, q) in PERCENTILES {
                line += &format!("  {name} {}", us(h.value_at_percentile(q)));
            }
            line += &format!("  max {}\n", us(h.max()));
            s += &line;
        }
        s
    }

    fn json(&self) -> String {
        let t = self.t;
        let h = &t.latency_us;
        let n = t.responses();
        let secs = self.secs();
        let mut latency = serde_json::Map::new();
        if n > 0 {
            latency.insert("mean".into(), serde_json::json!(h.mean()));
            latency.insert("min".into(), h.min().into());
            for (name, q) in PERCENTILES {
                latency.insert(name.into(), h.value_at_percentile(q).into());
            }
            latency.insert("max".into(), h.max().into());
        }
        let status: serde_json::Map<String, serde_json::Value> = t
            .status
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let v = serde_json::json!({
            "url": self.url,
            "connections": self.args.connections,
            "keep_alive": !self.args.close,
            "pool": self.args.pool,
            "duration_s": secs,
            "requests": n,
            "requests_per_s": n as f64 / secs,
            "bytes": t.bytes,
            "bytes_per_s": t.bytes as f64 / secs,
            "status": status,
            "errors": t.error_count(),
            "errors_by_kind": t.errors,
            "latency_us": latency,
        });
        format!("{v:#}\n")
    }
}
