//! Client tests for what happens around and beyond one request-response: `Expect:
//! 100-continue` all three ways, skipped 1xx responses (103 Early Hints and others), `101
//! Switching Protocols` upgrades echoing both ways (with the project's server's hijack and
//! with a raw server), `ClientConn` with `hijack`, and a server on a Unix-domain socket.

mod client_support;

use std::io::{Read, Write};
#[cfg(feature = "clientconn")]
use std::net::TcpStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use client_support::*;
#[cfg(feature = "clientconn")]
use nethttp::client::ClientConn;
use nethttp::client::{Client, Transport, TransportConfig};
use nethttp::error::TooLarge;
#[cfg(feature = "clientconn")]
use nethttp::error::{ClosedDuring, TimeoutPhase};
use nethttp::server::Body;
use nethttp::{ErrorKind, HeaderValue, Method, Request, ResponseWriter, StatusCode};

const BUDGET: Duration = Duration::from_secs(60);

fn client_for(t: &Transport) -> Client {
    Client::with_transport(t.clone())
}

/// A POST with `Expect: 100-continue`, the test deadline and `trace`.
fn expect_continue_post(url: &str, body: &str, ev: &Events) -> Request {
    let mut r = Request::new(Method::POST, url)
        .unwrap()
        .with_header("Expect", "100-continue")
        .unwrap()
        .with_body(body.to_string());
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(REQ_TIMEOUT);
    nethttp::client::RequestOptions::of_mut(&mut r).trace = ev.trace();
    r
}

/// True if nothing arrives on `c` for `quiet` (the client holds its body back).
fn stays_quiet(c: &mut RawConn, quiet: Duration) -> bool {
    if !c.buf.is_empty() {
        return false;
    }
    c.stream.set_read_timeout(Some(quiet)).unwrap();
    let mut one = [0u8; 1];
    let quiet_ok = matches!(
        c.stream.read(&mut one),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    );
    c.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    quiet_ok
}

// ---------------------------------------------------------------------------------------------
// 100-continue

#[test]
fn expect_continue_server_sends_100_then_the_final_response() {
    let _wd = Watchdog::new(
        "expect_continue_server_sends_100_then_the_final_response",
        BUDGET,
    );
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    let tx = Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(head) = c.read_head() {
            let expects = head.headers.get("expect").is_some();
            let held_back = !expects || stays_quiet(&mut c, Duration::from_millis(150));
            if expects && !c.send("HTTP/1.1 100 Continue\r\n\r\n") {
                return;
            }
            let body = c.read_body(&head).unwrap_or_default();
            let _ = tx.lock().unwrap().send((held_back, body.clone()));
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            if !c.send([resp.as_bytes(), &body].concat()) {
                return;
            }
        }
    });
    // A long expect-continue timeout: the body can only have gone because of the 100.
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = client_for(&t);
    for i in 0..2 {
        let ev = Events::new();
        let start = Instant::now();
        let mut resp = c
            .send(expect_continue_post(&srv.url("/"), "payload", &ev))
            .unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(text(&mut resp), "payload");
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(ev.saw(&Ev::Got100), "request {i}: {:?}", ev.all());
        assert!(ev.saw(&Ev::WroteRequest(true)));
        let (held_back, body) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            held_back,
            "request {i}: the body was sent before 100 Continue"
        );
        assert_eq!(body, b"payload");
        assert_eq!(ev.got_conn().reused, i > 0);
    }
    assert_eq!(srv.accepted(), 1);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn expect_continue_with_the_own_server() {
    let _wd = Watchdog::new("expect_continue_with_the_own_server", BUDGET);
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let _ = w.write_all(&body);
    });
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = client_for(&t);
    let ev = Events::new();
    let start = Instant::now();
    let mut resp = c
        .send(expect_continue_post(&srv.url("/"), "to the server", &ev))
        .unwrap();
    assert_eq!(text(&mut resp), "to the server");
    assert!(ev.saw(&Ev::Got100), "{:?}", ev.all());
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn expect_continue_final_status_without_100_skips_the_body() {
    let _wd = Watchdog::new(
        "expect_continue_final_status_without_100_skips_the_body",
        BUDGET,
    );
    let (tx, rx) = mpsc::channel::<(Vec<u8>, bool)>();
    let tx = Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        if c.read_head().is_some() {
            c.send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nunauthorized");
            // What follows the head: the body must not come, and the client must close.
            let _ = tx.lock().unwrap().send(c.read_to_close());
        }
    });
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = client_for(&t);
    let ev = Events::new();
    let mut resp = c
        .send(expect_continue_post(&srv.url("/"), "secret", &ev))
        .unwrap();
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(text(&mut resp), "unauthorized");
    assert!(!ev.saw(&Ev::Got100));
    drop(resp);
    let (after_head, closed) = rx.recv_timeout(Duration::from_secs(6)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&after_head),
        "",
        "the body was sent after a final status"
    );
    assert!(
        closed,
        "the connection was kept although the body was never sent"
    );
    // The next request gets a new connection.
    let ev = Events::new();
    let mut resp = c
        .send(expect_continue_post(&srv.url("/"), "again", &ev))
        .unwrap();
    text(&mut resp);
    assert!(!ev.got_conn().reused);
    assert_eq!(srv.accepted(), 2);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn expect_continue_final_status_with_a_long_body_is_read_whole() {
    let _wd = Watchdog::new(
        "expect_continue_final_status_with_a_long_body_is_read_whole",
        BUDGET,
    );
    // The refusal's body arrives in two parts: skipping the request body must not cut it off.
    let srv = RawServer::start(move |mut c, _| {
        if c.read_head().is_some() {
            let part = "x".repeat(32 << 10);
            c.send(format!(
                "HTTP/1.1 413 Payload Too Large\r\nContent-Length: {}\r\n\r\n{part}",
                2 * part.len()
            ));
            std::thread::sleep(Duration::from_millis(100)); // a slow server
            c.send(&part);
            c.read_to_close();
        }
    });
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = client_for(&t);
    let ev = Events::new();
    let mut resp = c
        .send(expect_continue_post(&srv.url("/"), "big upload", &ev))
        .unwrap();
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE);
    let body = resp.bytes().expect("the 413's body");
    assert_eq!(body.len(), 64 << 10);
    drop(resp);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn expect_continue_silent_server_gets_the_body_after_the_timeout() {
    let _wd = Watchdog::new(
        "expect_continue_silent_server_gets_the_body_after_the_timeout",
        BUDGET,
    );
    let (tx, rx) = mpsc::channel::<(Duration, Vec<u8>)>();
    let tx = Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        if let Some(head) = c.read_head() {
            let at_head = Instant::now();
            let body = c.read_body(&head).unwrap_or_default();
            let _ = tx.lock().unwrap().send((at_head.elapsed(), body));
            c.send(ok_response("got it"));
        }
    });
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let c = client_for(&t);
    let ev = Events::new();
    let mut resp = c
        .send(expect_continue_post(&srv.url("/"), "eventually", &ev))
        .unwrap();
    assert_eq!(text(&mut resp), "got it");
    let (waited, body) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(body, b"eventually");
    assert!(
        waited >= Duration::from_millis(250),
        "the body came {waited:?} after the head, before the expect-continue timeout"
    );
    assert!(!ev.saw(&Ev::Got100));
    drop(c);
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// 1xx

#[test]
fn informational_responses_are_skipped_and_traced() {
    let _wd = Watchdog::new("informational_responses_are_skipped_and_traced", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        while c.read_request().is_some() {
            let ok = c.send(
                "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                 HTTP/1.1 102 Processing\r\n\r\n",
            ) && c.send(ok_response("final"));
            if !ok {
                return;
            }
        }
    });
    let t = Transport::new();
    let c = client_for(&t);
    for i in 0..2 {
        let ev = Events::new();
        let mut resp = c.send(get_traced(&srv.url("/"), ev.trace())).unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(text(&mut resp), "final");
        let got: Vec<Ev> = ev
            .all()
            .into_iter()
            .filter(|e| matches!(e, Ev::Got1xx(..)))
            .collect();
        assert_eq!(
            got,
            vec![
                Ev::Got1xx(
                    103,
                    vec![("link".into(), "</style.css>; rel=preload".into())]
                ),
                Ev::Got1xx(102, vec![]),
            ]
        );
        assert_eq!(ev.got_conn().reused, i > 0, "1xx responses spoil nothing");
    }
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn early_hints_from_the_own_server() {
    let _wd = Watchdog::new("early_hints_from_the_own_server", BUDGET);
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut().insert(
            "link",
            HeaderValue::from_static("</app.js>; rel=preload; as=script"),
        );
        w.write_header(StatusCode::EARLY_HINTS);
        let _ = w.write_all(b"page");
    });
    let t = Transport::new();
    let c = client_for(&t);
    let ev = Events::new();
    let mut resp = c.send(get_traced(&srv.url("/"), ev.trace())).unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(text(&mut resp), "page");
    assert!(ev.all().iter().any(|e| matches!(
        e,
        Ev::Got1xx(103, fields) if fields.iter().any(|(n, _)| n == "link")
    )));
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn too_many_informational_responses() {
    let _wd = Watchdog::new("too_many_informational_responses", BUDGET);
    for (count, ok) in [(16, true), (17, false)] {
        let srv = RawServer::start(move |mut c, _| {
            if c.read_request().is_some() {
                c.send("HTTP/1.1 102 Processing\r\n\r\n".repeat(count));
                c.send(ok_response("done"));
                c.read_to_close();
            }
        });
        let t = Transport::new();
        let c = client_for(&t);
        let r = c
            .send(request(Method::GET, &srv.url("/")))
            .and_then(|mut r| r.text());
        match ok {
            true => assert_eq!(r.unwrap(), "done", "{count} 1xx"),
            false => {
                let e = r.unwrap_err();
                // Its own kind and message, not "too many header fields".
                assert_eq!(
                    e.kind(),
                    ErrorKind::TooLarge(TooLarge::Informational),
                    "{count} 1xx"
                );
                assert_eq!(
                    e.to_string(),
                    format!(
                        "GET {}: too many informational (1xx) responses",
                        srv.url("/")
                    )
                );
            }
        }
        drop(c);
        assert_no_leaks(&t);
    }
}

// ---------------------------------------------------------------------------------------------
// 101 upgrades

/// An upgrade request for the `echo` protocol.
fn upgrade_request(url: &str) -> Request {
    let mut r = Request::new(Method::GET, url)
        .unwrap()
        .with_header("Upgrade", "echo")
        .unwrap()
        .with_header("Connection", "Upgrade")
        .unwrap();
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(REQ_TIMEOUT);
    r
}

/// Reads from `conn` until `want` bytes came; fails the test on EOF or error.
#[track_caller]
fn read_n(conn: &mut impl Read, want: usize) -> String {
    let mut got = vec![0u8; want];
    conn.read_exact(&mut got)
        .expect("read from the upgraded connection");
    String::from_utf8(got).unwrap()
}

/// Drives the echo protocol over `conn`: a greeting from the server, three echoed lines, then
/// a half-close answered by the server's goodbye and its close.
fn talk_echo(conn: &mut nethttp::net::Conn) {
    conn.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_n(conn, 8), "welcome\n");
    for i in 0..3 {
        let line = format!("ping {i}\n");
        conn.write_all(line.as_bytes()).unwrap();
        assert_eq!(read_n(conn, line.len()), line);
    }
    conn.stream().shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    conn.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "bye\n");
}

/// The server's half of the echo protocol on a hijacked or raw stream.
fn serve_echo_protocol(rw: &mut (impl Read + Write)) {
    if rw.write_all(b"welcome\n").is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    loop {
        match rw.read(&mut buf) {
            Ok(0) => {
                let _ = rw.write_all(b"bye\n");
                return;
            }
            Ok(n) => {
                if rw.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

#[test]
fn upgrade_echo_with_the_own_server_hijack() {
    let _wd = Watchdog::new("upgrade_echo_with_the_own_server_hijack", BUDGET);
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.headers.get("upgrade").is_some_and(|v| v == "echo") {
            w.headers_mut()
                .insert("upgrade", HeaderValue::from_static("echo"));
            w.headers_mut()
                .insert("connection", HeaderValue::from_static("Upgrade"));
            w.write_header(StatusCode::SWITCHING_PROTOCOLS);
            if let Ok(mut h) = w.hijack() {
                let _ = h.stream().set_read_timeout(Some(Duration::from_secs(5)));
                serve_echo_protocol(&mut h);
            }
            return;
        }
        let _ = w.write_all(b"plain");
    });
    let t = Transport::new();
    let c = client_for(&t);
    let mut resp = c.send(upgrade_request(&srv.url("/echo"))).unwrap();
    assert_eq!(resp.status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers["upgrade"], "echo");
    let mut conn = resp.upgrade().unwrap();
    assert!(resp.upgrade().is_err(), "a second upgrade() must fail");
    // The connection left the pool and its threads stopped, but the socket stays open.
    eventually("the upgraded connection to leave the transport", || {
        let s = t.stats();
        s.open == 0 && s.threads == 0
    });
    talk_echo(&mut conn);
    drop(conn);
    // The transport goes on with new connections.
    let mut plain = c.send(request(Method::GET, &srv.url("/"))).unwrap();
    assert_eq!(text(&mut plain), "plain");
    assert_eq!(srv.accepted(), 2);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn upgrade_echo_with_a_raw_server_and_bytes_after_the_head() {
    let _wd = Watchdog::new(
        "upgrade_echo_with_a_raw_server_and_bytes_after_the_head",
        BUDGET,
    );
    let srv = RawServer::start(|mut c, _| {
        if let Some(req) = c.read_request() {
            assert_eq!(req.header("upgrade"), Some("echo"));
            // The 101 head and the first protocol bytes in one write.
            let head =
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
            if !c.send(head) {
                return;
            }
            serve_echo_protocol(&mut c.stream);
        }
    });
    let t = Transport::new();
    let c = client_for(&t);
    let mut resp = c.send(upgrade_request(&srv.url("/"))).unwrap();
    assert_eq!(resp.status, StatusCode::SWITCHING_PROTOCOLS);
    let mut conn = resp.upgrade().unwrap();
    talk_echo(&mut conn);
    drop(conn);
    drop(resp);

    // Once more with the greeting glued to the head, so it is read with it and must come
    // out of the connection's buffer.
    let glued = RawServer::start(|mut c, _| {
        if c.read_request().is_some() {
            c.send(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nwelcome\n",
            );
            let mut tail = [0u8; 64];
            if let Ok(n) = c.stream.read(&mut tail) {
                c.send(&tail[..n]);
            }
        }
    });
    let mut resp = c.send(upgrade_request(&glued.url("/"))).unwrap();
    let mut conn = resp.upgrade().unwrap();
    conn.stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_n(&mut conn, 8), "welcome\n");
    conn.write_all(b"both ways").unwrap();
    assert_eq!(read_n(&mut conn, 9), "both ways");
    drop(conn);
    drop(c);
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// ClientConn

#[cfg(feature = "clientconn")]
fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_keep_alive_then_hijack() {
    let _wd = Watchdog::new("clientconn_keep_alive_then_hijack", BUDGET);
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let _ = write!(w, "you asked for {}", r.uri.path());
    });
    let cc = ClientConn::new(connect(srv.addr()));
    for path in ["/a", "/b"] {
        let mut resp = cc
            .send(request(Method::GET, &srv.url(path)))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(text(&mut resp), format!("you asked for {path}"));
    }
    // Take the connection back and speak HTTP by hand on it.
    let mut raw = cc.hijack().unwrap();
    assert!(raw.buffered().is_empty());
    raw.write_all(b"GET /by-hand HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("you asked for /by-hand"), "{answer}");
    assert_eq!(srv.accepted(), 1, "all three requests on one connection");
    // The ClientConn is done.
    let err = cc.send(request(Method::GET, &srv.url("/c"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Hijacked);
    assert_eq!(cc.hijack().unwrap_err().kind(), ErrorKind::Hijacked);
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_docker_attach_style_stream() {
    let _wd = Watchdog::new("clientconn_docker_attach_style_stream", BUDGET);
    // As Docker's attach: a 200 with no framing, then the raw stream on the same connection;
    // the first stream bytes come in the same write as the head.
    let srv = RawServer::start(|mut c, _| {
        if let Some(req) = c.read_request() {
            assert_eq!(req.head.method, Method::POST);
            if !c.send(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nwelcome\n",
            ) {
                return;
            }
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = c.stream.read(&mut buf) {
                if !c.send(&buf[..n]) {
                    return;
                }
            }
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let req = request(Method::POST, &srv.url("/containers/x/attach?stream=1"));
    let resp = cc.send(req).unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    // The body runs until close: it is the stream. Give the response up and take the
    // connection with the bytes already read past the head.
    drop(resp);
    let mut raw = cc.hijack().unwrap();
    assert_eq!(read_n(&mut raw, 8), "welcome\n");
    let mut w = raw.writer();
    w.write_all(b"stdin data").unwrap();
    assert_eq!(read_n(&mut raw, 10), "stdin data");
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_hijack_with_the_response_still_held_as_in_the_doc_example() {
    let srv = RawServer::start(|mut c, _| {
        if c.read_request().is_some() {
            c.send("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nhi");
            c.read_to_close();
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let _resp = cc
        .send(request(Method::POST, &srv.url("/containers/x/attach")))
        .unwrap();
    let mut raw = cc.hijack().expect("hijack with the response held");
    assert_eq!(read_n(&mut raw, 2), "hi");
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_send_refused_while_a_body_is_unread_but_hijack_takes_it() {
    let _wd = Watchdog::new("clientconn_send_refused_while_a_body_is_unread", BUDGET);
    let srv = RawServer::start(|mut c, _| serve_echo(&mut c));
    let cc = ClientConn::new(connect(srv.addr()));
    let mut resp = cc
        .send(request(Method::POST, &srv.url("/")).with_body("abc"))
        .unwrap();
    let err = cc.send(request(Method::GET, &srv.url("/"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "previous body unread");
    // Hijack takes the connection anyway, as Go's does: the unread body bytes come with it,
    // and the held body can no longer be read.
    let mut raw = cc.hijack().unwrap();
    assert_eq!(read_n(&mut raw, 3), "abc");
    let e = resp.body().read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(
        e.get_ref()
            .and_then(|e| e.downcast_ref::<nethttp::Error>())
            .map(|e| e.kind()),
        Some(ErrorKind::Hijacked)
    );
    assert_eq!(cc.hijack().unwrap_err().kind(), ErrorKind::Hijacked);
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_upgrade_via_the_response() {
    let _wd = Watchdog::new("clientconn_upgrade_via_the_response", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        if c.read_request().is_some() {
            if !c.send(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
            ) {
                return;
            }
            serve_echo_protocol(&mut c.stream);
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let mut resp = cc.send(upgrade_request(&srv.url("/"))).unwrap();
    assert_eq!(resp.status, StatusCode::SWITCHING_PROTOCOLS);
    let mut conn = resp.upgrade().unwrap();
    talk_echo(&mut conn);
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_errors_spoil_the_connection() {
    let _wd = Watchdog::new("clientconn_errors_spoil_the_connection", BUDGET);
    // (name, what the server answers the first request with, and whether ClientConn can be
    // used after it)
    let cases: &[(&str, &str, bool)] = &[
        (
            "keep_alive",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            true,
        ),
        (
            "server_says_close",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            false,
        ),
        ("until_close", "HTTP/1.1 200 OK\r\n\r\nok", false),
    ];
    for (name, first, reusable) in cases {
        let first = first.to_string();
        let srv = RawServer::start(move |mut c, _| {
            if c.read_request().is_some() && c.send(&first) && first.contains("Content-Length") {
                serve_echo(&mut c);
            }
        });
        let cc = ClientConn::new(connect(srv.addr()));
        let mut resp = cc.send(request(Method::GET, &srv.url("/"))).unwrap();
        assert_eq!(text(&mut resp), "ok", "{name}");
        drop(resp);
        let second = cc
            .send(request(Method::GET, &srv.url("/2")))
            .and_then(|mut r| r.text());
        assert_eq!(second.is_ok(), *reusable, "{name}: {second:?}");
    }
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_truncated_body_stays_an_error() {
    let _wd = Watchdog::new("clientconn_truncated_body_stays_an_error", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        if c.read_request().is_some() {
            c.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let mut resp = cc.send(request(Method::GET, &srv.url("/"))).unwrap();
    let mut got = Vec::new();
    let e = resp.body().read_to_end(&mut got).unwrap_err();
    let e = nethttp::Error::from_io(e, TimeoutPhase::ReadBody);
    assert_eq!(e.kind(), ErrorKind::ConnectionClosed(ClosedDuring::Body));
    let mut more = [0u8; 4];
    let again = resp.body().read(&mut more);
    assert!(again.is_err(), "read after the error gave {again:?}");
    drop(resp);
    assert!(cc.send(request(Method::GET, &srv.url("/"))).is_err());
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_failed_request_body_spoils_the_connection() {
    let _wd = Watchdog::new(
        "clientconn_failed_request_body_spoils_the_connection",
        BUDGET,
    );
    // The server reads whatever comes and answers every complete request; after a body that
    // fell short of its Content-Length, a second request on the connection would be read as
    // the rest of the first body.
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(req) = c.read_request() {
            let _ = tx.lock().unwrap().send(req.body.clone());
            if !c.send(ok_response("ok")) {
                return;
            }
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let short = Body::sized(std::io::Cursor::new(b"abc".to_vec()), 5);
    let err = cc
        .send(request(Method::POST, &srv.url("/")).with_body(short))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let second = cc.send(request(Method::GET, &srv.url("/second")));
    assert!(
        second.is_err(),
        "a request was sent on a connection whose previous request body was cut short"
    );
    if let Ok(body) = rx.recv_timeout(Duration::from_millis(500)) {
        panic!(
            "the server saw a request with body {:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_caps_informational_responses() {
    let _wd = Watchdog::new("clientconn_caps_informational_responses", BUDGET);
    for (count, ok) in [(16, true), (17, false)] {
        let srv = RawServer::start(move |mut c, _| {
            if c.read_request().is_some() {
                c.send("HTTP/1.1 102 Processing\r\n\r\n".repeat(count));
                c.send(ok_response("done"));
                c.read_to_close();
            }
        });
        let cc = ClientConn::new(connect(srv.addr()));
        let r = cc
            .send(request(Method::GET, &srv.url("/")))
            .and_then(|mut r| r.text());
        match ok {
            true => assert_eq!(r.unwrap(), "done", "{count} 1xx"),
            false => assert_eq!(
                r.unwrap_err().kind(),
                ErrorKind::TooLarge(TooLarge::Informational),
                "{count} 1xx: as many as the pooled transport allows"
            ),
        }
    }
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_deadline() {
    let _wd = Watchdog::new("clientconn_deadline", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        if c.read_request().is_some() {
            c.read_to_close();
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let mut req = request(Method::GET, &srv.url("/"));
    nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(Duration::from_millis(200));
    let start = Instant::now();
    let err = cc.send(req).unwrap_err();
    assert_eq!(err.timeout_phase(), Some(TimeoutPhase::ReadResponseHead));
    assert!(start.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// Unix-domain sockets

#[cfg(unix)]
#[test]
fn unix_socket_server_with_the_transport() {
    let _wd = Watchdog::new("unix_socket_server_with_the_transport", BUDGET);
    let srv = UnixServer::start(|mut c, _| serve_echo(&mut c));
    let t = Transport::with_config(TransportConfig {
        dialer: Arc::new(nethttp::net::unix_socket(srv.path())),
        ..Default::default()
    });
    let c = client_for(&t);
    for i in 0..3 {
        let ev = Events::new();
        let mut req = request(Method::POST, "http://localhost/containers/json").with_body("hi");
        nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(REQ_TIMEOUT);
        nethttp::client::RequestOptions::of_mut(&mut req).trace = ev.trace();
        let mut resp = c.send(req).unwrap();
        assert_eq!(resp.headers["x-path"], "/containers/json");
        assert_eq!(text(&mut resp), "hi");
        assert_eq!(ev.got_conn().reused, i > 0);
    }
    // A streamed body goes chunked over the socket too.
    let mut req = request(Method::PUT, "http://localhost/up")
        .with_body(Body::from_reader(std::io::Cursor::new(vec![7u8; 100_000])));
    nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(REQ_TIMEOUT);
    let mut resp = c.send(req).unwrap();
    assert_eq!(resp.bytes().unwrap(), vec![7u8; 100_000]);
    assert_eq!(srv.accepted(), 1);
    drop(c);
    assert_no_leaks(&t);
}

#[cfg(unix)]
#[cfg(feature = "clientconn")]
#[test]
fn unix_socket_clientconn_and_missing_socket() {
    let _wd = Watchdog::new("unix_socket_clientconn_and_missing_socket", BUDGET);
    let srv = UnixServer::start(|mut c, _| serve_echo(&mut c));
    let sock = std::os::unix::net::UnixStream::connect(srv.path()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cc = ClientConn::new(sock);
    let mut resp = cc
        .send(request(Method::POST, "http://docker/_ping").with_body("x"))
        .unwrap();
    assert_eq!(resp.headers["x-method"], "POST");
    assert_eq!(text(&mut resp), "x");

    let missing =
        std::env::temp_dir().join(format!("nethttp-test-{}-missing.sock", std::process::id()));
    let t = Transport::with_config(TransportConfig {
        dialer: Arc::new(nethttp::net::unix_socket(&missing)),
        ..Default::default()
    });
    let err = client_for(&t)
        .send(request(Method::GET, "http://localhost/"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.is_connect());
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "GET http://localhost/: cannot connect to {}: ",
            missing.display()
        )),
        "{msg}"
    );
    assert_no_leaks(&t);
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_hijack_after_101_takes_the_upgraded_stream() {
    let _wd = Watchdog::new("clientconn_hijack_after_101", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        if c.read_request().is_some()
            && c.send("HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nready")
        {
            serve_echo_protocol(&mut c.stream);
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let mut resp = cc
        .send(request(Method::POST, &srv.url("/containers/x/attach")))
        .unwrap();
    assert_eq!(resp.status, StatusCode::SWITCHING_PROTOCOLS);
    // Docker's way: hijack the ClientConn rather than upgrade the response. One of the two
    // gets the stream.
    let mut raw = cc.hijack().unwrap();
    assert!(resp.upgrade().is_err(), "already taken by hijack");
    // "ready" came glued to the head; the protocol then greets and echoes.
    assert_eq!(read_n(&mut raw, 5 + 8), "readywelcome\n");
    raw.write_all(b"ping").unwrap();
    assert_eq!(read_n(&mut raw, 4), "ping");
}

#[cfg(feature = "clientconn")]
#[test]
fn clientconn_upgraded_stream_outlives_the_request_deadline() {
    let _wd = Watchdog::new(
        "clientconn_upgraded_stream_outlives_the_request_deadline",
        BUDGET,
    );
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let srv = RawServer::start(move |mut c, _| {
        if c.read_request().is_some()
            && c.send(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n",
            )
        {
            // Speak only after the request's deadline has passed.
            let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
            let _ = c.stream.write_all(b"late");
        }
    });
    let cc = ClientConn::new(connect(srv.addr()));
    let mut req = request(Method::GET, &srv.url("/up"));
    nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(Duration::from_millis(200));
    let mut resp = cc.send(req).unwrap();
    let mut conn = resp.upgrade().unwrap();
    // Let the request's deadline pass (the point of the test, not a synchronisation), then
    // read while the server stays quiet for longer than the deadline was.
    std::thread::sleep(Duration::from_millis(400));
    let waker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        let _ = go_tx.send(());
    });
    assert_eq!(read_n(&mut conn, 4), "late");
    waker.join().unwrap();
}
