//! Evictions at `max_connections`, then shutdown under load, then leak checks for the whole
//! process: no `nethttp-conn` thread and no file descriptor outlives the servers.
//!
//! This crate holds a single test on purpose: the process-wide counts (`/proc/self/task`,
//! `/proc/self/fd`) are only meaningful while no other test runs beside it.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use nethttp::server::{Request, ResponseWriter};
use nethttp::StatusCode;

use support::{
    conn_threads_in_process, describe, open_fds, poll_until, quiet_expected_panics, wait_until,
    RawConn, ReadError, TestServer, EXPECTED_PANIC, TEARDOWN,
};

const BIG: usize = 100 << 10;
const CLIENTS: usize = 8;
const MAX_REQUESTS_PER_CLIENT: usize = 400;

fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

fn handler(w: &mut dyn ResponseWriter, r: &mut Request) {
    match r.uri.path() {
        "/big" => {
            // 100 KiB in 4 KiB writes: chunked, many writes per response.
            for piece in big_body().chunks(4096) {
                if w.write_all(piece).is_err() {
                    return;
                }
            }
        }
        "/attach" => {
            w.write_header(StatusCode::SWITCHING_PROTOCOLS);
            let Ok(mut conn) = w.hijack() else { return };
            let mut buf = [0u8; 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
        "/panic" => panic!("{EXPECTED_PANIC}"),
        _ => {
            let _ = w.write_all(b"hello");
        }
    }
}

/// Connections that end in each of the ways a connection can end, before the load.
fn every_kind_of_ending(addr: SocketAddr) {
    // Keep-alive, closed by the client.
    let mut c = RawConn::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().body, b"hello");
    drop(c);
    // Closed by the server after a bad request.
    let mut c = RawConn::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    c.expect_closed("bad request");
    // A panicking handler.
    let mut c = RawConn::connect(addr);
    c.send(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().status, 500);
    c.expect_closed("panic");
    // Hijacked, then closed by the client.
    let mut c = RawConn::connect(addr);
    c.send(b"GET /attach HTTP/1.1\r\nHost: a\r\n\r\nping");
    assert_eq!(c.read_response().status, 101);
    assert_eq!(c.read_raw(4), b"ping");
    c.shutdown_write();
    c.expect_closed("hijacked");
    // Connected, never spoke.
    drop(RawConn::connect(addr));
}

/// Connections evicted at `max_connections`: a server with room for two, six clients that each
/// send one request and stay idle, so each newcomer closes the longest-idle one. The server is
/// closed before the load; the process-wide checks at the end cover what it used.
fn evictions() {
    let cfg = nethttp::server::Config {
        max_connections: 2,
        ..support::test_config()
    };
    let mut srv = TestServer::start(cfg, handler);
    let mut clients: Vec<RawConn> = Vec::new();
    for i in 0..6 {
        let mut c = RawConn::connect(srv.addr());
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_response().body, b"hello", "client {i}");
        clients.push(c);
    }
    assert_eq!(srv.server().num_evicted(), 4);
    let s = srv.server();
    wait_until(TEARDOWN, "the evicted connections to leave", || {
        s.num_connections() == 2
    });
    drop(clients);
    assert!(srv.server().shutdown(Duration::from_secs(5)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
}

#[derive(Default)]
struct Tally {
    completed: AtomicUsize,
    closed_by_server: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// Keep-alive GET /big in a loop; reconnects when the server closes; stops when a connection
/// is refused (the server is gone) or after `MAX_REQUESTS_PER_CLIENT`.
fn client(addr: SocketAddr, tally: &Tally, want: &[u8]) {
    let mut sent = 0;
    'connect: while sent < MAX_REQUESTS_PER_CLIENT {
        let Ok(mut c) = RawConn::try_connect(addr) else {
            return;
        };
        while sent < MAX_REQUESTS_PER_CLIENT {
            sent += 1;
            if c.try_send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n").is_err() {
                continue 'connect;
            }
            match c.try_read_response("GET") {
                Ok(r) => {
                    if r.status != 200 || r.body != want {
                        tally.failures.lock().unwrap().push(format!(
                            "bad response: {} with {} body bytes",
                            r.status,
                            r.body.len()
                        ));
                    }
                    tally.completed.fetch_add(1, Ordering::SeqCst);
                    if r.is_close() {
                        tally.closed_by_server.fetch_add(1, Ordering::SeqCst);
                        continue 'connect;
                    }
                }
                // Closed (or reset) before any byte of an answer: an idle connection closed
                // by the shutdown. Allowed; the request was never answered.
                Err(ReadError::Closed { .. }) => continue 'connect,
                Err(e) => {
                    tally.failures.lock().unwrap().push(describe(&e));
                    return;
                }
            }
        }
    }
}

#[test]
fn shutdown_under_load_loses_no_response_and_leaks_nothing() {
    quiet_expected_panics();
    let fds_before = open_fds();
    assert_eq!(conn_threads_in_process(), 0);
    evictions();
    let mut srv = TestServer::with_handler(handler);
    let addr = srv.addr();
    every_kind_of_ending(addr);

    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let tally = Arc::clone(&tally);
            thread::spawn(move || client(addr, &tally, &big_body()))
        })
        .collect();
    wait_until(Duration::from_secs(10), "40 responses under load", || {
        tally.completed.load(Ordering::SeqCst) >= 40 || !tally.failures.lock().unwrap().is_empty()
    });
    let at_shutdown = tally.completed.load(Ordering::SeqCst);
    let shutdown = srv.server().shutdown(Duration::from_secs(10));
    assert!(shutdown.is_ok(), "{shutdown:?}");
    for c in clients {
        c.join().unwrap();
    }
    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} responses broken by the shutdown:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let completed = tally.completed.load(Ordering::SeqCst);
    assert!(completed >= at_shutdown && completed >= 40, "{completed}");
    eprintln!(
        "shutdown under load: {completed} responses complete, {at_shutdown} before the \
         shutdown, {} ended with Connection: close",
        tally.closed_by_server.load(Ordering::SeqCst)
    );

    srv.join_serve();
    srv.wait_no_threads();
    drop(srv);
    assert!(
        poll_until(TEARDOWN, || conn_threads_in_process() == 0),
        "{} nethttp-conn threads left in the process",
        conn_threads_in_process()
    );
    if let Some(before) = fds_before {
        assert!(
            poll_until(TEARDOWN, || open_fds().is_some_and(|n| n <= before)),
            "file descriptors: {before} before, {:?} after",
            open_fds()
        );
    }
}
