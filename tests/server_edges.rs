//! Edges of the HTTP/1 server core and the bundled handlers, from a review (session 21): the
//! first test of each pair failed against the behaviour it guards; the timeout and body tests
//! check what the review found right.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use nethttp::handlers;
use nethttp::server::{Config, Request, ResponseWriter};
use support::*;

fn cfg_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = test_config();
    f(&mut c);
    c
}

/// timeout_handler promises a 503 once `dt` has passed. A handler blocked reading a request
/// body the client has not finished sending holds the connection's read half; the serving
/// thread's `finish` waited for that lock (to check or drain the body) before it sent the
/// 503, so the 503 came only when the stale handler's read gave up (inactivity_timeout); it
/// now answers at once, with `Connection: close`.
#[test]
fn timeout_handler_503_not_held_up_by_a_blocked_body_read() {
    let cfg = cfg_with(|c| c.inactivity_timeout = Some(Duration::from_secs(8)));
    let inner = |_w: &mut dyn ResponseWriter, r: &mut Request| {
        let mut v = Vec::new();
        let _ = r.body().read_to_end(&mut v);
    };
    let srv = TestServer::start(
        cfg,
        handlers::timeout_handler(inner, Duration::from_millis(200), "too slow"),
    );
    let mut c = srv.connect();
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello");
    let start = Instant::now();
    let resp = c.try_read_response("POST");
    let took = start.elapsed();
    match resp {
        Ok(r) => {
            assert_eq!(r.status, 503);
            assert!(
                took < Duration::from_secs(3),
                "the 503 of a 200 ms timeout_handler came after {took:?}"
            );
        }
        Err(e) => panic!("no 503 after {took:?}: {}", describe(&e)),
    }
}

/// read_header_timeout is documented as bounding a new connection's head "from accept"; the
/// server waited read_header_timeout for the first byte, then gave the head a fresh
/// read_header_timeout from that byte, so a slowloris client held the connection for nearly
/// twice the limit. Now the first head is bounded from accept, as in Go.
#[test]
fn first_head_is_bounded_from_accept() {
    let cfg = cfg_with(|c| c.read_header_timeout = Some(Duration::from_millis(1000)));
    let srv = TestServer::start(cfg, |_w: &mut dyn ResponseWriter, _r: &mut Request| {});
    let mut c = srv.connect();
    let accepted = Instant::now();
    // Pacing of a slow client, not synchronisation: the first byte late in the window, then a
    // header line every 100 ms.
    std::thread::sleep(Duration::from_millis(800));
    c.send("GET / HTTP/1.1\r\n");
    let mut closed_at = None;
    for i in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if c.try_send(format!("X-{i}: y\r\n")).is_err() {
            closed_at = Some(accepted.elapsed());
            break;
        }
        // A peek that does not wait: end of stream (or a reset) means the server closed.
        c.stream().set_nonblocking(true).unwrap();
        let gone = match c.stream().peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        c.stream().set_nonblocking(false).unwrap();
        if gone {
            closed_at = Some(accepted.elapsed());
            break;
        }
    }
    let closed_at = closed_at.expect("never closed");
    assert!(
        closed_at < Duration::from_millis(1500),
        "a head sent slowly from accept was allowed {closed_at:?} under a 1 s read_header_timeout"
    );
}

/// write_timeout ends a response to a client that does not read.
#[test]
fn write_timeout_ends_a_response_the_client_does_not_read() {
    let cfg = cfg_with(|c| c.write_timeout = Some(Duration::from_millis(500)));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let chunk = vec![b'x'; 64 << 10];
        let start = Instant::now();
        let mut res = Ok(());
        for _ in 0..2000 {
            if let Err(e) = std::io::Write::write_all(w, &chunk) {
                res = Err(e.to_string());
                break;
            }
        }
        let _ = tx.send((start.elapsed(), res));
    });
    let c = srv.connect();
    c.stream().set_nonblocking(false).unwrap();
    let mut c = c;
    c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let (took, res) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("handler still writing after 5 s");
    assert!(res.is_err(), "all written?");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// read_timeout bounds a slowly sent body.
#[test]
fn read_timeout_bounds_a_slow_body() {
    let cfg = cfg_with(|c| c.read_timeout = Some(Duration::from_millis(500)));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let srv = TestServer::start(cfg, move |_w: &mut dyn ResponseWriter, r: &mut Request| {
        let start = Instant::now();
        let mut v = Vec::new();
        let res = r.body().read_to_end(&mut v).map_err(|e| e.to_string());
        let _ = tx.send((start.elapsed(), res.map(|_| v.len())));
    });
    let mut c = srv.connect();
    c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nab");
    let (took, res) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("handler still reading after 5 s");
    assert!(res.is_err(), "{res:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let _ = c.try_read_response("POST");
}

/// idle_timeout closes a keep-alive connection.
#[test]
fn idle_timeout_closes_a_keep_alive_connection() {
    let cfg = cfg_with(|c| c.idle_timeout = Some(Duration::from_millis(300)));
    let srv = TestServer::start(cfg, |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = std::io::Write::write_all(w, b"hi");
    });
    let mut c = srv.connect();
    c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.body, b"hi");
    let start = Instant::now();
    c.expect_closed("idle");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

/// The server drains a small unread body and keeps the connection; with an unread body over
/// 256 KiB it closes.
#[test]
fn unread_bodies_are_drained_when_small() {
    let srv = TestServer::start(
        test_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = std::io::Write::write_all(w, b"ok");
        },
    );
    let mut c = srv.connect();
    c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response();
    assert!(!r.is_close());
    let r = c.read_response();
    assert_eq!(r.body, b"ok");
    // Chunked, over the drain limit, sent whole.
    let mut c = srv.connect();
    let mut wire = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        wire.extend_from_slice(b"2000\r\n");
        wire.extend_from_slice(&[b'z'; 0x2000]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let w2 = wire.clone();
    let s = c.stream().try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = s;
        let _ = std::io::Write::write_all(&mut s, &w2);
    });
    let r = c.read_response();
    assert!(r.is_close(), "{}", r.raw_head);
    let _ = t.join();
}

/// Expect: 100-continue and a handler that does not read: no 100, `Connection: close`.
#[test]
fn expect_continue_unread_sends_no_100() {
    let srv = TestServer::start(
        test_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.write_header(nethttp::StatusCode::PAYLOAD_TOO_LARGE);
        },
    );
    let mut c = srv.connect();
    c.send("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response_for("PUT");
    assert_eq!(r.status, 413);
    assert!(r.is_close(), "{}", r.raw_head);
    c.expect_closed("after 413");
}

/// A write implies 200 and a later `write_header` is superfluous (Go; and this server's own
/// writer). Behind `sniff_content_type` the first bytes were held back without choosing the
/// status, so a `write_header(500)` after a write took effect; the wrapper now keeps the 200.
#[test]
fn sniff_wrapper_keeps_the_implicit_200_of_a_first_write() {
    let h = |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = std::io::Write::write_all(w, b"hello");
        w.write_header(nethttp::StatusCode::INTERNAL_SERVER_ERROR);
    };
    let plain = TestServer::start(test_config(), h);
    let wrapped = TestServer::start(test_config(), nethttp::sniff::sniff_content_type(h));
    let a = roundtrip(plain.addr(), "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let b = roundtrip(wrapped.addr(), "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(a.status, 200);
    assert_eq!(
        b.status, a.status,
        "behind sniff_content_type, write then write_header(500) sent {}",
        b.status
    );
}
