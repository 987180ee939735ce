//! Resident memory per idle pooled client connection: `cargo bench --bench client_idle --
//! [N] [URL]` (default 1,000 connections to a server it starts itself; give the URL of a
//! server in another process to count the client alone, such as Go's hello server's `/big`,
//! docs/PERFORMANCE.md, "The client's pool"). N requests are sent from one thread, each
//! response kept unread so the next needs a connection of its own (the bodies must be over
//! the 16 KiB the client takes along with a head, or the requests share one connection: the
//! bench then says so and fails); then every body is read and all N connections wait in the
//! pool (each with its reader and writer thread). The process's VmRSS growth divided by the
//! open connections is their cost. Not a test.

use std::sync::Arc;
use std::time::Duration;

use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};

/// The in-process server's body (see `main`).
static BIG: [u8; 256 << 10] = [b'x'; 256 << 10];

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

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    // A server of our own in another process would be fairer to the measure; one in this
    // process is measured before the pool grows (its threads are counted then too).
    let url = match args.get(1) {
        Some(u) => u.clone(),
        None => {
            let srv = nethttp::Server::with_config(
                nethttp::server::Config {
                    addr: "127.0.0.1:0".into(),
                    ..Default::default()
                },
                // 256 KiB, as the Go hello server answers at `/big`: more than the client
                // takes along with a response head (16 KiB), so a response left unread keeps
                // its connection busy and the next request dials another. From a static, so
                // the handlers blocked in their writes hold no heap of their own.
                |w: &mut dyn nethttp::ResponseWriter, _r: &mut nethttp::Request| {
                    let _ = w.write_all(&BIG);
                },
            );
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = l.local_addr().expect("addr");
            std::thread::spawn(move || srv.serve(l));
            format!("http://{addr}/")
        }
    };
    let t = Transport::with_config(TransportConfig {
        max_idle_conns: n,
        max_idle_conns_per_host: n,
        proxy: nethttp::client::Proxy::none(),
        ..Default::default()
    });
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        ..Default::default()
    });
    // Warm up: one connection, so what the first request allocates once is not counted.
    let _ = c.get(&url).and_then(|mut r| r.text());
    t.close_idle_connections();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib();
    // From this one thread: each response is kept unread, so the next request needs a
    // connection of its own; then every body is read, and all N go back to the pool.
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match c.get(&url) {
            Ok(r) => held.push(r),
            Err(e) => {
                eprintln!("client_idle: {e}");
                break;
            }
        }
    }
    let ok = held
        .iter_mut()
        .map(|r| r.text().is_ok())
        .filter(|&b| b)
        .count();
    drop(held);
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib();
    let s = t.stats();
    println!(
        "requests_ok={ok} idle={} open={} threads={} rss_before_kib={before} rss_after_kib={after} per_conn_bytes={}",
        s.idle,
        s.open,
        s.threads,
        (after.saturating_sub(before)) * 1024 / s.open.max(1) as u64
    );
    if s.open < ok {
        // The responses were small enough to come whole with their heads, so the requests
        // shared connections: a per-connection figure would be meaningless.
        eprintln!(
            "client_idle: {ok} requests but only {} connections open: the server's bodies \
             must be over 16 KiB (the client takes a smaller one with its head and reuses the \
             connection at once)",
            s.open
        );
        std::process::exit(1);
    }
    // CLIENT_IDLE_HOLD=SECS keeps the pool open that long, to look at /proc/PID/smaps.
    if let Some(secs) = std::env::var("CLIENT_IDLE_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_secs(secs));
    }
}
