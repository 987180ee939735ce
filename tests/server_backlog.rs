//! A burst of 1,000 concurrent connects to a freshly started server: the listen queue
//! (`nethttp::net::listen`'s backlog, the system's maximum) never overflows.
//!
//! `ListenOverflows` in `/proc/net/netstat` counts, for the whole network namespace, the
//! handshakes Linux dropped because a listener's accept queue was full; each costs a client a
//! SYN retry a second later. This crate holds a single test so that no other test of this
//! process adds to the counter while it runs. Other processes still may, so the burst is
//! retried (on a fresh server) a few times, and passes if one burst left the counter unchanged:
//! a backlog too short for the burst (std's 128) overflows every time.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nethttp::server::{Config, ConnState, Request, ResponseWriter};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use support::{poll_until, TestServer};

const BURST: usize = 1_000;
const ATTEMPTS: usize = 3;

/// The system-wide `TcpExt: ListenOverflows` counter, if `/proc/net/netstat` has it.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let names = tcp_ext.next()?;
    let values = tcp_ext.next()?;
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// Starts `BURST` non-blocking connects to `addr` as fast as one thread can issue them, so the
/// handshakes complete faster than the server accepts. Returns the sockets (to keep them open).
fn burst(addr: SocketAddr) -> Vec<Socket> {
    (0..BURST)
        .map(|i| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
                .unwrap_or_else(|e| panic!("socket {i}: {e}"));
            s.set_nonblocking(true).expect("non-blocking");
            // In progress (EINPROGRESS) is the expected answer; loopback may also finish at once.
            if let Err(e) = s.connect(&SockAddr::from(addr)) {
                assert!(
                    e.raw_os_error() == Some(115) || e.kind() == std::io::ErrorKind::WouldBlock,
                    "connect {i}: {e}"
                );
            }
            s
        })
        .collect()
}

#[test]
fn a_burst_of_connects_to_a_cold_server_never_overflows_the_listen_queue() {
    let Some(_) = listen_overflows() else {
        let why = "/proc/net/netstat has no TcpExt ListenOverflows counter (not Linux?)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}; CI=true: this test must run");
        }
        // Straight to stderr, past the harness's capture, so the skip is seen.
        let _ = writeln!(std::io::stderr(), "skipped: {why}");
        return;
    };
    eprintln!("listen backlog: {}", nethttp::net::listen_backlog());
    let mut deltas = Vec::new();
    for attempt in 1..=ATTEMPTS {
        // A cold server: a fresh listener, no thread cached yet; one thread per connection.
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&accepted);
        let cfg = Config {
            stack_size: 64 << 10,
            read_header_timeout: Some(Duration::from_secs(30)),
            conn_state: Some(Arc::new(move |_, s| {
                if s == ConnState::New {
                    a.fetch_add(1, Ordering::SeqCst);
                }
            })),
            ..support::test_config()
        };
        let srv = TestServer::start(cfg, |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = w.write_all(b"hello");
        });
        let before = listen_overflows().expect("ListenOverflows");
        let clients = burst(srv.addr());
        // Without overflows every connection is accepted at once. A dropped handshake is
        // retried after a second or more (or, when the client's final ACK was the one dropped,
        // may never reach the server), so this wait is bounded and not asserted by itself.
        let all_in = poll_until(Duration::from_secs(10), || {
            accepted.load(Ordering::SeqCst) == BURST
        });
        let after = listen_overflows().expect("ListenOverflows");
        let delta = after - before;
        let n = accepted.load(Ordering::SeqCst);
        eprintln!("attempt {attempt}: {BURST} connects, {n} accepted, ListenOverflows +{delta}");
        deltas.push(delta);
        drop(clients);
        drop(srv);
        if delta == 0 {
            assert!(
                all_in,
                "no overflow, yet only {n} of {BURST} connections accepted"
            );
            return;
        }
    }
    panic!(
        "every burst of {BURST} connects overflowed the listen queue (ListenOverflows grew by \
         {deltas:?}); net::listen backlog {}",
        nethttp::net::listen_backlog()
    );
}
