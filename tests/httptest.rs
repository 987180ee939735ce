//! httptest tests: the recorder's Go semantics, `request()`, and the loopback test server's
//! start, graceful close and drop.

mod raw;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nethttp::httptest::{self, ResponseRecorder};
use nethttp::server::Body;
use nethttp::{ErrorKind, Method, Request, ResponseWriter, StatusCode};

#[test]
fn recorder_defaults() {
    let rec = ResponseRecorder::new();
    assert_eq!(rec.status(), StatusCode::OK);
    assert!(!rec.wrote_header());
    assert!(rec.body().is_empty());
    assert!(!rec.flushed());
    assert!(rec.headers().is_empty());
}

#[test]
fn recorder_first_write_implies_200_and_snapshots_headers() {
    let mut rec = ResponseRecorder::new();
    rec.headers_mut().insert("x-before", "1".parse().unwrap());
    rec.write_all(b"hello ").unwrap();
    // Changes after the head would have gone out are not what a client sees.
    rec.headers_mut().insert("x-after", "2".parse().unwrap());
    rec.write_all(b"world").unwrap();
    assert_eq!(rec.status(), StatusCode::OK);
    assert!(rec.wrote_header());
    assert_eq!(rec.header("x-before"), Some("1"));
    assert_eq!(rec.header("x-after"), None);
    assert_eq!(rec.body(), b"hello world");
    assert_eq!(rec.body_string(), "hello world");
    // Through the trait, the handler still sees its live map.
    let w: &dyn ResponseWriter = &rec;
    assert!(w.headers().contains_key("x-after"));
    assert_eq!(w.status(), Some(StatusCode::OK));
}

#[test]
fn recorder_status_rules() {
    // The first final status wins.
    let mut rec = ResponseRecorder::new();
    rec.write_header(StatusCode::NOT_FOUND);
    rec.write_header(StatusCode::OK);
    assert_eq!(rec.status(), StatusCode::NOT_FOUND);

    // 1xx are informational; the final status comes later.
    let mut rec = ResponseRecorder::new();
    rec.write_header(StatusCode::CONTINUE);
    rec.write_header(StatusCode::from_u16(103).unwrap());
    assert!(!rec.wrote_header());
    rec.write_header(StatusCode::CREATED);
    assert_eq!(
        rec.informational(),
        &[StatusCode::CONTINUE, StatusCode::from_u16(103).unwrap()]
    );
    assert_eq!(rec.status(), StatusCode::CREATED);

    // No body after 204 or 304, as on a connection.
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        let mut rec = ResponseRecorder::new();
        rec.write_header(status);
        let err = rec.write(b"x").unwrap_err();
        let err = nethttp::Error::from_io(err, nethttp::error::TimeoutPhase::WriteResponse);
        assert_eq!(err.kind(), ErrorKind::BodyNotAllowed, "{status}");
        assert!(rec.body().is_empty());
    }

    // Hijacking is not supported.
    let mut rec = ResponseRecorder::new();
    assert!(rec.hijack().is_err());
}

#[test]
fn recorder_flush_and_result() {
    let mut rec = ResponseRecorder::new();
    rec.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    rec.flush().unwrap();
    assert!(rec.flushed());
    assert_eq!(rec.status(), StatusCode::OK);
    rec.write_all(b"body").unwrap();
    let resp = rec.result();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.body(), b"body");
}

#[test]
fn request_builder() {
    let mut r = httptest::request("POST", "/upload?x=1", "payload");
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri.path(), "/upload");
    assert_eq!(r.uri.query(), Some("x=1"));
    assert_eq!(r.host(), "example.com");
    assert_eq!(r.content_length(), Some(7));
    assert_eq!(r.remote_addr().unwrap().to_string(), "192.0.2.1:1234");
    let mut body = String::new();
    r.body().read_to_string(&mut body).unwrap();
    assert_eq!(body, "payload");

    let r = httptest::request(Method::GET, "http://api.test:8080/v1", ());
    assert_eq!(r.host(), "api.test:8080");
    assert_eq!(r.headers["host"], "api.test:8080");
    assert_eq!(r.uri.path(), "/v1");
    assert_eq!(r.content_length(), Some(0));

    let r = httptest::request("PUT", "/s", Body::from_reader(std::io::empty()));
    assert_eq!(r.content_length(), None);
}

#[test]
#[should_panic(expected = "invalid method")]
fn request_panics_on_bad_method() {
    let _ = httptest::request("GE T", "/", ());
}

#[test]
#[should_panic(expected = "invalid target")]
fn request_panics_on_bad_target() {
    let _ = httptest::request("GET", "/a b", ());
}

fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = write!(w, "hello {}", r.uri.path());
}

#[test]
fn server_serves_on_loopback() {
    let mut srv = httptest::Server::new(hello);
    assert!(srv.addr().ip().is_loopback());
    assert_eq!(srv.url(), format!("http://{}", srv.addr()));
    let (head, body) = raw::exchange(
        srv.addr(),
        "GET /there HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body, b"hello /there");
    srv.close().unwrap();
    // Closing again is a no-op.
    srv.close().unwrap();
    assert!(
        raw::wait_for(Duration::from_secs(5), || srv.server().num_threads() == 0),
        "threads left: {}",
        srv.server().num_threads()
    );
    assert!(TcpStream::connect_timeout(&srv.addr(), Duration::from_secs(1)).is_err());
}

#[test]
fn close_waits_for_in_flight_requests() {
    let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
    let (release, release_rx) = crossbeam_channel::bounded::<()>(1);
    let handler = move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = entered_tx.send(());
        // Bounded: the test fails rather than hangs if it never releases us.
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
        let _ = w.write_all(b"finished");
    };
    let mut srv = httptest::Server::new(handler);
    let addr = srv.addr();
    let client = std::thread::spawn(move || {
        raw::exchange(
            addr,
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    entered
        .recv_timeout(Duration::from_secs(5))
        .expect("handler entered");

    let (closed_tx, closed) = crossbeam_channel::bounded(1);
    let closer = std::thread::spawn(move || {
        let r = srv.close();
        let _ = closed_tx.send(r.is_ok());
        srv
    });
    // While the handler runs, close must not return.
    assert!(closed.recv_timeout(Duration::from_millis(200)).is_err());
    release.send(()).unwrap();
    assert_eq!(closed.recv_timeout(Duration::from_secs(10)), Ok(true));
    let (head, body) = client.join().unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body, b"finished");
    let srv = closer.join().unwrap();
    assert_eq!(srv.server().num_connections(), 0);
}

#[test]
fn shutdown_times_out_and_cuts_off_stuck_requests() {
    let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
    let (release, release_rx) = crossbeam_channel::bounded::<()>(1);
    let handler = move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = entered_tx.send(());
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
        let _ = w.write_all(b"late");
    };
    let mut srv = httptest::Server::new(handler);
    let addr = srv.addr();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    });
    entered.recv_timeout(Duration::from_secs(5)).unwrap();
    let err = srv.shutdown(Duration::from_millis(100)).unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(nethttp::error::TimeoutPhase::Shutdown)
    );
    // The connection was cut off: the client sees the end of the stream, not a response.
    let got = client.join().unwrap();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    release.send(()).unwrap();
    assert!(raw::wait_for(Duration::from_secs(5), || srv
        .server()
        .num_threads()
        == 0));
}

#[test]
fn drop_closes_the_listener() {
    let srv = httptest::Server::new(hello);
    let addr = srv.addr();
    drop(srv);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn close_does_not_wait_for_connections_that_sent_nothing() {
    let mut srv = httptest::Server::new(hello);
    let mut silent = TcpStream::connect(srv.addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(raw::wait_for(Duration::from_secs(5), || srv
        .server()
        .num_connections()
        == 1));
    let start = std::time::Instant::now();
    srv.close().unwrap();
    // A server (not httptest's) would give the connection 5 s to send its first request.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "close waited {:?} for a silent connection",
        start.elapsed()
    );
    let mut b = [0u8; 1];
    assert_eq!(silent.read(&mut b).unwrap(), 0, "expected EOF");
}
