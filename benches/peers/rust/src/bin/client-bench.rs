//! Load driver for the client benchmarks: keep-alive GETs with one shared client object.
//!
//! ```text
//! client-bench --impl nethttp|ureq|reqwest --url URL --mode seq|par [--threads 8]
//!              [--duration 5s | --requests N] [--warmup 200] [--ctxsw]
//!              [--tls-ca CERT.pem] [--h2]
//! ```
//!
//! `seq` sends one request after another from one thread; `par` runs `--threads` threads that
//! share one client (so one connection pool). Every body is read to its end. Prints one JSON
//! line: `{impl, mode, threads, requests, errors, seconds, rps, p50_us, p99_us}`, and with
//! `--ctxsw` also context switches and CPU time per request, from `getrusage(RUSAGE_SELF)`
//! (every thread of the process, including exited ones). The calling threads are named
//! `caller`, so `perf record -e sched:sched_switch` can tell them from the library's threads
//! (benches/run.sh does). For nethttp, `dials` counts connections opened during the run and
//! `dials_total` those opened since the start, warm-up included.
//!
//! `--tls-ca CERT.pem` trusts that certificate for `https://` URLs. nethttp's `Transport`
//! (feature `http2`, on in this crate) offers ALPN `h2` there and, if the server picks it,
//! shares one connection among all threads; `--h2` requires it: a response over any other
//! protocol fails the run. With `--h2` one request is sent alone before the parallel warm-up,
//! so that connection is dialled once, not by every thread racing to the first dial
//! (benches/h2_client.sh). For nethttp the JSON names the `version` of the first response.
//! Both options are nethttp only (ureq and reqwest are built here without TLS).
//!
//! With `CB_PER_THREAD` set in the environment, each calling thread makes its own client (so
//! its own pool of one connection) instead of sharing one: a diagnostic that separates the
//! cost of sharing a pool from the cost of the round trip (docs/PERFORMANCE.md, "The pooled
//! client at 8 threads").

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: client-bench --impl nethttp|ureq|reqwest --url URL --mode seq|par \
                     [--threads N] [--duration 5s | --requests N] [--warmup N] [--ctxsw] \
                     [--tls-ca CERT.pem] [--h2]";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Nethttp,
    Ureq,
    Reqwest,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Nethttp => "nethttp",
            Impl::Ureq => "ureq",
            Impl::Reqwest => "reqwest",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Seq,
    Par,
}

enum Stop {
    After(Duration),
    Requests(u64),
}

struct Args {
    imp: Impl,
    url: String,
    mode: Mode,
    threads: usize,
    stop: Stop,
    warmup: u64,
    ctxsw: bool,
    /// PEM certificate trusted for `https://` (nethttp only).
    tls_ca: Option<String>,
    /// Every response must come over HTTP/2 (nethttp only).
    h2: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn parse_args() -> Result<Args, String> {
    let mut imp = None;
    let mut url = None;
    let mut mode = None;
    let mut threads = 8;
    let mut stop = Stop::After(Duration::from_secs(5));
    let mut warmup = 200;
    let mut ctxsw = false;
    let mut tls_ca = None;
    let mut h2 = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--impl" => {
                imp = Some(match val()?.as_str() {
                    "nethttp" => Impl::Nethttp,
                    "ureq" => Impl::Ureq,
                    "reqwest" => Impl::Reqwest,
                    other => return Err(format!("unknown impl {other:?}")),
                })
            }
            "--url" => url = Some(val()?),
            "--mode" => {
                mode = Some(match val()?.as_str() {
                    "seq" => Mode::Seq,
                    "par" => Mode::Par,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "--threads" => threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--duration" => stop = Stop::After(parse_duration(&val()?)?),
            "--requests" => {
                stop = Stop::Requests(val()?.parse().map_err(|e| format!("--requests: {e}"))?)
            }
            "--warmup" => warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--ctxsw" => ctxsw = true,
            "--tls-ca" => tls_ca = Some(val()?),
            "--h2" => h2 = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let mode = mode.ok_or("--mode is required")?;
    let imp = imp.ok_or("--impl is required")?;
    if (tls_ca.is_some() || h2) && imp != Impl::Nethttp {
        return Err("--tls-ca and --h2 are for --impl nethttp only".into());
    }
    Ok(Args {
        imp,
        url: url.ok_or("--url is required")?,
        mode,
        threads: if mode == Mode::Seq { 1 } else { threads.max(1) },
        stop,
        warmup,
        ctxsw,
        tls_ca,
        h2,
    })
}

/// Connections nethttp opened, to tell keep-alive reuse from re-dialling.
static DIALS: AtomicU64 = AtomicU64::new(0);

/// The protocol version of nethttp's first response.
static VERSION: OnceLock<nethttp::Version> = OnceLock::new();

/// nethttp's default dialer, counting dials in `DIALS`.
#[derive(Debug)]
struct CountingDialer(nethttp::net::TcpDialer);

impl nethttp::net::Dial for CountingDialer {
    fn dial(
        &self,
        target: &nethttp::net::Target,
        deadline: Option<Instant>,
        trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn nethttp::net::Stream>> {
        DIALS.fetch_add(1, Ordering::Relaxed);
        self.0.dial(target, deadline, trace)
    }
}

/// One client object, shared by every thread of the run.
enum Client {
    Nethttp {
        client: nethttp::Client,
        /// Every response must come over HTTP/2.
        require_h2: bool,
    },
    Ureq(ureq::Agent),
    Reqwest(reqwest::blocking::Client),
}

impl Client {
    fn new(args: &Args, threads: usize) -> Client {
        match args.imp {
            // Default transport (keeps 32 idle connections per host; HTTP/2 over TLS when the
            // server picks it by ALPN), but counting dials.
            Impl::Nethttp => {
                let mut tls = nethttp::tls::ClientTls::default();
                if let Some(path) = &args.tls_ca {
                    let pem = std::fs::read(path).unwrap_or_else(|e| {
                        eprintln!("client-bench: {path}: {e}");
                        std::process::exit(2);
                    });
                    if let Err(e) = tls.add_root_certificates_pem(&pem) {
                        eprintln!("client-bench: {path}: {e}");
                        std::process::exit(2);
                    }
                }
                Client::Nethttp {
                    client: nethttp::Client::with_transport(nethttp::Transport::with_config(
                        nethttp::client::TransportConfig {
                            dialer: Arc::new(CountingDialer(nethttp::net::TcpDialer::default())),
                            tls,
                            ..Default::default()
                        },
                    )),
                    require_h2: args.h2,
                }
            }
            // ureq 3 keeps 3 idle connections per host by default; raise it so parallel
            // threads do not re-dial.
            Impl::Ureq => Client::Ureq(
                ureq::Agent::config_builder()
                    .max_idle_connections(threads.max(10))
                    .max_idle_connections_per_host(threads.max(3))
                    .build()
                    .into(),
            ),
            // Default pool: unlimited idle connections per host.
            Impl::Reqwest => Client::Reqwest(
                reqwest::blocking::Client::builder()
                    .build()
                    .expect("reqwest client"),
            ),
        }
    }

    /// One GET with the body read to its end; returns the body length.
    fn get(&self, url: &str, buf: &mut Vec<u8>) -> Result<usize, String> {
        buf.clear();
        match self {
            Client::Nethttp {
                client: c,
                require_h2,
            } => {
                let mut resp = c.get(url).map_err(|e| e.to_string())?;
                if !resp.status.is_success() {
                    return Err(format!("status {}", resp.status));
                }
                VERSION.get_or_init(|| resp.version);
                if *require_h2 && resp.version != nethttp::Version::HTTP_2 {
                    return Err(format!("response over {:?}, not HTTP/2", resp.version));
                }
                resp.body()
                    .read_to_end(buf)
                    .map_err(|e| format!("body: {e}"))
            }
            Client::Ureq(a) => {
                let resp = a.get(url).call().map_err(|e| e.to_string())?;
                let (_, mut body) = resp.into_parts();
                body.as_reader()
                    .read_to_end(buf)
                    .map_err(|e| format!("body: {e}"))
            }
            Client::Reqwest(c) => {
                let mut resp = c.get(url).send().map_err(|e| e.to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("status {}", resp.status()));
                }
                resp.read_to_end(buf).map_err(|e| format!("body: {e}"))
            }
        }
    }
}

/// Context switches and CPU time of the whole process so far (all threads, live or exited).
#[derive(Clone, Copy, Default)]
struct Usage {
    voluntary: i64,
    involuntary: i64,
    cpu_us: i64,
}

fn usage() -> Usage {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    Usage {
        voluntary: ru.ru_nvcsw,
        involuntary: ru.ru_nivcsw,
        cpu_us: us(ru.ru_utime) + us(ru.ru_stime),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("client-bench: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let client = Client::new(&args, args.threads);

    // Over HTTP/2 every thread shares one connection: dial it once, from one request, before
    // the threads race to it.
    if args.h2 {
        if let Err(e) = client.get(&args.url, &mut Vec::new()) {
            eprintln!("client-bench: first request failed: {e}");
            std::process::exit(1);
        }
    }

    // Warm up: open the connections and fault in the code paths, in parallel for `par` so
    // the pool holds one connection per thread before the clock starts.
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                let mut buf = Vec::with_capacity(64);
                for _ in 0..args.warmup {
                    if let Err(e) = client.get(&args.url, &mut buf) {
                        eprintln!("client-bench: warm-up request failed: {e}");
                        std::process::exit(1);
                    }
                }
            });
        }
    });

    let issued = AtomicU64::new(0);
    let barrier = Barrier::new(args.threads + 1);
    let dials_before = DIALS.load(Ordering::Relaxed);
    let usage_before = usage();
    let mut start = Instant::now();
    let results: Vec<(Vec<u64>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("caller".into())
                    .spawn_scoped(s, || {
                        let mut lat = Vec::with_capacity(1 << 16);
                        let mut errors = 0u64;
                        let mut buf = Vec::with_capacity(64);
                        let own = std::env::var_os("CB_PER_THREAD").map(|_| Client::new(&args, 1));
                        let client = own.as_ref().unwrap_or(&client);
                        for _ in 0..args.warmup {
                            let _ = client.get(&args.url, &mut buf);
                        }
                        barrier.wait();
                        let begin = Instant::now();
                        loop {
                            match args.stop {
                                Stop::After(d) => {
                                    if begin.elapsed() >= d {
                                        break;
                                    }
                                }
                                Stop::Requests(n) => {
                                    if issued.fetch_add(1, Ordering::Relaxed) >= n {
                                        break;
                                    }
                                }
                            }
                            let t0 = Instant::now();
                            match client.get(&args.url, &mut buf) {
                                Ok(_) => lat.push(t0.elapsed().as_nanos() as u64),
                                Err(e) => {
                                    if errors == 0 {
                                        eprintln!("client-bench: request failed: {e}");
                                    }
                                    errors += 1;
                                }
                            }
                        }
                        (lat, errors)
                    })
                    .expect("spawn caller thread")
            })
            .collect();
        barrier.wait();
        start = Instant::now();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let usage_after = usage();
    let dials = DIALS.load(Ordering::Relaxed) - dials_before;

    let errors: u64 = results.iter().map(|r| r.1).sum();
    let mut lat: Vec<u64> = results.into_iter().flat_map(|r| r.0).collect();
    lat.sort_unstable();
    let requests = lat.len() as u64;
    let mut json = format!(
        "{{\"impl\":\"{}\",\"mode\":\"{}\",\"threads\":{},\"requests\":{},\"errors\":{},\
         \"seconds\":{:.3},\"rps\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1}",
        args.imp.name(),
        if args.mode == Mode::Seq { "seq" } else { "par" },
        args.threads,
        requests,
        errors,
        seconds,
        requests as f64 / seconds,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
    );
    if args.imp == Impl::Nethttp {
        json.push_str(&format!(
            ",\"dials\":{dials},\"dials_total\":{}",
            DIALS.load(Ordering::Relaxed)
        ));
    }
    if let Some(v) = VERSION.get() {
        json.push_str(&format!(",\"version\":\"{v:?}\""));
    }
    if args.ctxsw {
        let n = requests.max(1) as f64;
        let vol = (usage_after.voluntary - usage_before.voluntary) as f64 / n;
        let invol = (usage_after.involuntary - usage_before.involuntary) as f64 / n;
        let cpu = (usage_after.cpu_us - usage_before.cpu_us) as f64 / n;
        json.push_str(&format!(
            ",\"ctxsw_per_req\":{:.3},\"ctxsw_voluntary_per_req\":{vol:.3},\
             \"ctxsw_involuntary_per_req\":{invol:.3},\"cpu_us_per_req\":{cpu:.2}",
            vol + invol,
        ));
    }
    json.push('}');
    println!("{json}");
    if requests == 0 {
        std::process::exit(1);
    }
}
