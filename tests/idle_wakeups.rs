//! An idle keep-alive connection costs no CPU: while it waits in the client's pool and on the
//! server, neither the client's reader and writer threads nor the server's connection thread
//! wake up (Go's idle connections are goroutines blocked on a channel and a socket, and wake
//! for nothing either). Counted from `/proc/self/task`, in a test binary of its own so that no
//! other test's threads are counted.

#![cfg(target_os = "linux")]

mod client_support;

use std::time::{Duration, Instant};

use client_support::*;
use nethttp::client::{Client, Transport};
use nethttp::{Method, Request, ResponseWriter};

/// Voluntary context switches so far of this process's threads with these names, and how many
/// such threads there are.
fn switches_of(names: &[&str]) -> (u64, usize) {
    let (mut total, mut threads) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in tasks.flatten() {
        let Ok(name) = std::fs::read_to_string(t.path().join("comm")) else {
            continue;
        };
        if !names.contains(&name.trim()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        if let Some(n) = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            total += n;
            threads += 1;
        }
    }
    (total, threads)
}

/// Lets `d` pass: here the passing time is what is measured, not something waited for.
fn let_pass(d: Duration) {
    let end = Instant::now() + d;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

/// Held by each test: they count threads by name across the process, so they run one at a
/// time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until the voluntary switches of the threads named `names` have stood still for
/// 1.5 s (at most 15 s), then asserts that they, at least `threads` of them, make none in
/// the next 4 s.
///
/// Why wait first: the client's HTTP/1 writer re-polls one and two seconds after its last
/// request (a lost wake-up then costs a second) and then only every 30 s, and an HTTP/2
/// reader gives its buffers back after half a second of quiet; on a loaded machine those may
/// come late. A connection whose threads wake every second or more often never settles.
fn assert_no_wakeups(what: &str, names: &[&str], threads: usize) {
    let settle_by = Instant::now() + Duration::from_secs(15);
    let (mut before, mut since) = (switches_of(names).0, Instant::now());
    while since.elapsed() < Duration::from_millis(1500) {
        assert!(
            Instant::now() < settle_by,
            "{what}: its threads kept waking for 15 s"
        );
        let_pass(Duration::from_millis(100));
        let now = switches_of(names).0;
        if now != before {
            (before, since) = (now, Instant::now());
        }
    }
    let (before, found) = switches_of(names);
    assert!(found >= threads, "{what}: {found} threads named {names:?}");
    let_pass(Duration::from_secs(4));
    let (after, still) = switches_of(names);
    assert_eq!(still, found, "{what}: the same threads, still there");
    assert_eq!(after - before, 0, "{what}: wake-ups of its threads in 4 s");
}

/// Fails unless `get` is served within 5 s over `t`'s one idle connection, reused: a request
/// to an idle connection whose threads sleep long must wake them at once (a lost wake-up
/// would take up to 30 s).
fn served_at_once(t: &Transport, get: impl FnOnce() -> nethttp::Result<String>) {
    let sent = Instant::now();
    assert_eq!(get().unwrap(), "ok");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "a request to an idle connection took {:?}",
        sent.elapsed()
    );
    assert_eq!(t.stats().open, 1, "the idle connection was reused");
}

#[test]
fn an_idle_keep_alive_connection_wakes_no_thread() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _wd = Watchdog::new(
        "an_idle_keep_alive_connection_wakes_no_thread",
        Duration::from_secs(60),
    );
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(b"ok");
    });
    let t = Transport::new();
    let c = Client::with_transport(t.clone());
    let get = || {
        c.send(request(Method::GET, &srv.url("/")))
            .and_then(|mut r| r.text())
    };
    assert_eq!(get().unwrap(), "ok");
    eventually("the connection back in the pool", || t.stats().idle == 1);
    // The client's reader and writer and the server's connection thread. With the writer
    // re-polling every second (before session 19) this saw 4 switches in the window.
    assert_no_wakeups(
        "an idle HTTP/1 keep-alive connection",
        &["nethttp-read", "nethttp-write", "nethttp-conn"],
        3,
    );
    served_at_once(&t, get);
    drop(c);
    assert_no_leaks(&t);
}

/// The same over HTTP/2 (h2c with prior knowledge): the client's reader used to look at
/// the clock every 500 ms for as long as the connection stayed in the pool.
#[cfg(feature = "http2")]
#[test]
fn an_idle_http2_connection_wakes_no_thread() {
    use nethttp::server::{Config, Http2Config};

    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _wd = Watchdog::new(
        "an_idle_http2_connection_wakes_no_thread",
        Duration::from_secs(60),
    );
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..Config::default()
    };
    let srv = nethttp::httptest::Server::with_config(
        cfg,
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = w.write_all(b"ok");
        },
    );
    let t = Transport::with_config(client_support::h2c_transport_config());
    let c = Client::with_transport(t.clone());
    let url = format!("{}/", srv.url());
    let get = || c.get(&url).and_then(|mut r| r.text());
    assert_eq!(get().unwrap(), "ok");
    // The client's reader and writer (a thread's name is cut to 15 bytes in /proc), and
    // the server's connection thread, its writer and the thread that ran the handler, now in
    // the server's thread cache.
    assert_no_wakeups(
        "an idle HTTP/2 connection",
        &["nethttp-h2-read", "nethttp-h2-writ", "nethttp-conn"],
        4,
    );
    served_at_once(&t, get);
    drop(c);
    assert_no_leaks(&t);
}
