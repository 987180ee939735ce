//! Resident memory per idle HTTP/2 client connection:
//! `h2-idle-client N PORT CERT.pem` (benches/h2_mem.sh).
//!
//! One nethttp `Client` (feature `http2`) sends a GET to `https://cK.h2.test:PORT/` for K in
//! 0..N, trusting `CERT.pem` (its names must cover `*.h2.test`). Its resolver answers
//! 127.0.0.1 for every name, so the requests reach one local server while each host is a pool
//! key, hence a connection, of its own: a client talking to one server shares one connection,
//! so N connections need N origins. Every response is read to its end and must come over
//! HTTP/2. Then the N connections idle in the pool (each with its reader and writer thread),
//! and the growth of the process's VmRSS divided by the open connections is printed as one
//! JSON line. Not a test.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};

/// Every name is 127.0.0.1.
#[derive(Debug)]
struct Loopback;

impl nethttp::net::Resolve for Loopback {
    fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fail(msg: String) -> ! {
    eprintln!("h2-idle-client: {msg}");
    std::process::exit(1);
}

/// One GET, its body read to the end; fails unless it came over HTTP/2.
fn get(c: &Client, url: &str) {
    let mut resp = c.get(url).unwrap_or_else(|e| fail(format!("{url}: {e}")));
    if resp.version != nethttp::Version::HTTP_2 {
        fail(format!(
            "{url}: response over {:?}, not HTTP/2",
            resp.version
        ));
    }
    let mut buf = Vec::new();
    if let Err(e) = resp.body().read_to_end(&mut buf) {
        fail(format!("{url}: body: {e}"));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: h2-idle-client N PORT CERT.pem");
        std::process::exit(2);
    }
    let n: usize = args[0].parse().unwrap_or_else(|_| fail("bad N".into()));
    let port: u16 = args[1].parse().unwrap_or_else(|_| fail("bad PORT".into()));
    let pem = std::fs::read(&args[2]).unwrap_or_else(|e| fail(format!("{}: {e}", args[2])));
    let mut tls = nethttp::tls::ClientTls::default();
    tls.add_root_certificates_pem(&pem)
        .unwrap_or_else(|e| fail(format!("{}: {e}", args[2])));
    let t = Transport::with_config(TransportConfig {
        dialer: Arc::new(nethttp::net::TcpDialer {
            resolver: Some(Arc::new(Loopback)),
            ..Default::default()
        }),
        tls,
        proxy: nethttp::client::Proxy::none(),
        ..Default::default()
    });
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        ..Default::default()
    });
    // Warm up: one connection, so what the first request allocates once (the TLS
    // configuration, the code's pages) is not counted.
    get(&c, &format!("https://warm.h2.test:{port}/"));
    t.close_idle_connections();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib();
    for k in 0..n {
        get(&c, &format!("https://c{k}.h2.test:{port}/"));
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib();
    let s = t.stats();
    println!(
        "{{\"impl\":\"nethttp\",\"conns\":{},\"idle\":{},\"threads\":{},\"rss_before_kib\":{before},\
         \"rss_after_kib\":{after},\"per_conn_bytes\":{}}}",
        s.open,
        s.idle,
        s.threads,
        after.saturating_sub(before) * 1024 / s.open.max(1) as u64
    );
}
