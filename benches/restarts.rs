//! How many connections a restart on a shared port (`SO_REUSEPORT`, Linux) loses to the
//! kernel's race at a listener's close, under the worst load for it: new connections as fast
//! as the client threads can make them, one GET each.
//!
//! ```sh
//! cargo bench --bench restarts                         # 100 restarts, 4 client threads
//! RESTARTS=300 THREADS=2 cargo bench --bench restarts
//! # with the kernel moving queued connections to another listener (Linux 5.14+), in a
//! # network namespace of its own so the host's setting is untouched (needs root):
//! unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_migrate_req=1; \
//!   cargo bench --bench restarts'
//! ```
//!
//! In process: two `Server`s on one `SO_REUSEPORT` port; each restart starts the next server
//! on the port, waits until it has answered 200 requests, then shuts the older one down. Each
//! client request is counted as answered, **unanswered** (the connection ended before any
//! response byte: it was reset in the old listener's queue) or **connect reset** (the
//! handshake met the closing listener). Printed: totals, and both failure counts per 100
//! restarts. docs/GUIDE.md ("Running many instances") has the results.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nethttp::server::{Config, Server};
use nethttp::{Request, ResponseWriter};

#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    unanswered: AtomicU64,
    connect_reset: AtomicU64,
    other: AtomicU64,
}

/// One GET on a new connection, counted.
fn one(addr: SocketAddr, c: &Counts) {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            c.connect_reset.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            eprintln!("connect: {e}");
            c.other.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    let counter = match read {
        Ok(_) if buf.starts_with(b"HTTP/1.1 200") => &c.answered,
        Ok(_) if buf.is_empty() => &c.unanswered,
        Err(e) if buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
            &c.unanswered
        }
        other => {
            eprintln!("{other:?} after {:?}", String::from_utf8_lossy(&buf));
            &c.other
        }
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A server on `addr` (shared), serving from its own thread; it counts its answers.
fn start(addr: &str) -> (Server, thread::JoinHandle<()>, SocketAddr, Arc<AtomicU64>) {
    let listener = nethttp::net::ListenConfig { reuse_port: true }
        .listen(addr)
        .expect("listen with SO_REUSEPORT");
    let local = listener.local_addr().expect("local address");
    let served = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&served);
    let srv = Server::with_config(
        Config {
            max_connections: 0,
            ..Config::default()
        },
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            count.fetch_add(1, Ordering::Relaxed);
            let _ = w.write_all(b"ok");
        },
    );
    let s = srv.clone();
    let serving = thread::spawn(move || {
        let _ = s.serve(listener);
    });
    (srv, serving, local, served)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !cfg!(target_os = "linux") {
        eprintln!("restarts: SO_REUSEPORT spreads connections only on Linux");
        return;
    }
    let restarts = env("RESTARTS", 100);
    let threads = env("THREADS", 4);
    let migrate = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req")
        .map_or_else(|_| "?".into(), |s| s.trim().to_string());
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (mut old, mut old_thread, addr, _) = start("127.0.0.1:0");
    let clients: Vec<_> = (0..threads)
        .map(|_| {
            let (c, stop) = (Arc::clone(&counts), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    one(addr, &c);
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    for _ in 0..restarts {
        let (new, new_thread, _, served) = start(&addr.to_string());
        let end = Instant::now() + Duration::from_secs(10);
        while served.load(Ordering::Relaxed) < 200 && Instant::now() < end {
            thread::sleep(Duration::from_millis(1));
        }
        if let Err(e) = old.shutdown(Duration::from_secs(10)) {
            eprintln!("shutdown: {e}");
        }
        let _ = old_thread.join();
        old = new;
        old_thread = new_thread;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let elapsed = t0.elapsed();
    let _ = old.shutdown(Duration::from_secs(5));
    let _ = old_thread.join();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let per100 = |n: u64| n as f64 * 100.0 / restarts as f64;
    let answered = get(&counts.answered);
    println!(
        "restarts {restarts}, client threads {threads}, tcp_migrate_req {migrate}: {answered} \
         answered in {elapsed:.1?} ({:.0} new connections/s), {} unanswered, {} connects \
         reset, {} other",
        answered as f64 / elapsed.as_secs_f64(),
        get(&counts.unanswered),
        get(&counts.connect_reset),
        get(&counts.other),
    );
    println!(
        "per 100 restarts: {:.1} unanswered, {:.1} connects reset",
        per100(get(&counts.unanswered)),
        per100(get(&counts.connect_reset)),
    );
}
