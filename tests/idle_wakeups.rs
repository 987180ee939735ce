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

#[test]
fn an_idle_keep_alive_connection_wakes_no_thread() {
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

    // The writer's wait for the next request re-polls one and two seconds after the last one
    // (a lost wake-up then costs a second), and then only every 30 s; so the window starts
    // once the count has stood still for 1.5 s (on a loaded machine the two re-polls may come
    // late). With a re-poll every second it never does.
    let names = ["nethttp-read", "nethttp-write", "nethttp-conn"];
    let settle_by = Instant::now() + Duration::from_secs(15);
    let (mut before, mut since) = (switches_of(&names).0, Instant::now());
    while since.elapsed() < Duration::from_millis(1500) {
        assert!(
            Instant::now() < settle_by,
            "an idle connection's threads kept waking for 15 s"
        );
        let_pass(Duration::from_millis(100));
        let now = switches_of(&names).0;
        if now != before {
            (before, since) = (now, Instant::now());
        }
    }
    let (before, threads) = switches_of(&names);
    assert_eq!(
        threads, 3,
        "the client's reader and writer and the server's connection thread"
    );
    let_pass(Duration::from_secs(4));
    let (after, threads) = switches_of(&names);
    assert_eq!(threads, 3, "the same three threads, still there");
    // Before this was fixed the writer re-polled every second: 4 switches in this window.
    assert_eq!(
        after - before,
        0,
        "wake-ups of an idle connection's threads in 4 s"
    );

    // The connection still serves, without a new dial, and its writer, now in a 30 s park,
    // is woken by the request (a lost wake-up would take up to 30 s).
    let sent = Instant::now();
    assert_eq!(get().unwrap(), "ok");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "a request to an idle connection took {:?}",
        sent.elapsed()
    );
    assert_eq!(t.stats().open, 1, "the idle connection was reused");
    drop(c);
    assert_no_leaks(&t);
}
