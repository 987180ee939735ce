//! The accept loop when the process is out of file descriptors (EMFILE), from a review
//! (session 21). A test binary of its own: the one test in it uses up the process's
//! descriptors, which would break any test running beside it. A soft limit above 4,096 is
//! first lowered to 4,096 for this process (`prlimit`), so using them up stays quick.
#![cfg(target_os = "linux")]

mod support;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nethttp::{Request, ResponseWriter};
use support::{poll_until, TestServer};

/// Counts the accept loop's "accept error" warnings.
struct Counter;
static ACCEPT_ERRORS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for Counter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if format!("{}", r.args()).contains("accept error") {
            ACCEPT_ERRORS.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn flush(&self) {}
}

/// Lowers this process's soft limit on open files to 4,096 if it is higher (with util-linux's
/// `prlimit`, on this process: the crate and its tests have no unsafe code for setrlimit).
fn cap_open_files() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: Option<u64> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok());
    if soft.is_some_and(|n| n <= 4096) {
        return;
    }
    let out = support::run_bounded(
        std::process::Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg("--nofile=4096:"),
        Duration::from_secs(10),
    );
    assert!(
        out.status.success(),
        "prlimit could not lower the open-file limit (util-linux): {out:?}"
    );
}

/// Opens /dev/null until the process has no descriptor left.
fn exhaust() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(24) => return held,
            Err(e) => panic!("{e}"),
        }
    }
}

/// 1. Out of descriptors with a client waiting: the accept loop backs off (a handful of
///    warnings a second, no spin), and serves the client once descriptors are free.
/// 2. Out of descriptors with the accept loop waiting in accept(2): a graceful shutdown still
///    ends it. The shutdown wakes a lone listener's loop by connecting to it, which needs a
///    new socket: with none to be had the connect fails, the loop sleeps on in accept, the
///    shutdown never tries again and times out although no connection is left, and `serve`
///    does not return (until some client connects). Go closes the listener, which needs no
///    descriptor.
///
/// Part 2 failed before its fix with: `shutdown with no descriptor to spare: Err(...
/// Shutdown ...)`; a lone listener's waker socket is now made with the listener.
#[test]
fn accept_loop_out_of_descriptors() {
    cap_open_files();
    log::set_logger(&Counter).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let mut ts = TestServer::start(
        support::test_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = w.write_all(b"ok");
        },
    );
    // The accept loop is running (it served this).
    let mut c = ts.connect();
    c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    drop(c);
    assert!(poll_until(Duration::from_secs(3), || ts
        .server()
        .num_connections()
        == 0));

    // 1. A client connects, then the process runs out: accept fails with EMFILE.
    // Its socket is made first; the connect needs no new descriptor.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let held = exhaust();
    sock.connect(&ts.addr().into()).unwrap();
    let mut client: TcpStream = sock.into();
    let t0 = Instant::now();
    assert!(
        poll_until(Duration::from_secs(3), || ACCEPT_ERRORS
            .load(Ordering::SeqCst)
            > 0),
        "no accept error logged"
    );
    // The scenario: the loop left to retry for a while (it backs off meanwhile).
    std::thread::sleep(Duration::from_millis(1500));
    let errors = ACCEPT_ERRORS.load(Ordering::SeqCst);
    let spent = t0.elapsed();
    drop(held);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    let r = client.read_to_end(&mut resp);
    assert!(
        String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 200"),
        "{r:?} {:?}",
        String::from_utf8_lossy(&resp)
    );
    assert!(
        (1..=12).contains(&errors),
        "{errors} accept errors in {spent:?}: the loop should back off, 5 ms doubling to 1 s"
    );
    assert!(poll_until(Duration::from_secs(3), || ts
        .server()
        .num_connections()
        == 0));

    // 2. The loop waits in accept(2); the process runs out; a graceful shutdown.
    let held = exhaust();
    let t0 = Instant::now();
    let r = ts.server().shutdown(Duration::from_secs(2));
    let took = t0.elapsed();
    let returned = poll_until(Duration::from_secs(1), || ts.serve_returned());
    drop(held);
    if !returned {
        // Unblock the loop for the teardown.
        let _ = TcpStream::connect(ts.addr());
    }
    assert!(
        r.is_ok() && returned,
        "shutdown with no descriptor to spare: {r:?} after {took:?}; serve returned: {returned}"
    );
    ts.join_serve();
    let _: io::Result<()> = Ok(());
}
