//! Edges of the HTTP/2 client, from a review (session 21): each test failed against the
//! behaviour it guards.
//! Every blocking step is bounded; loopback only.

mod client_support;
mod h2_peer;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use h2_peer::{Got, Peer};
use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};
use nethttp::proto::h2::frame::{self, Data, Frame, GoAway, Settings};
use nethttp::proto::h2::ErrorCode;
use nethttp::server::{Config, Http2Config};
use nethttp::{httptest, Request, ResponseWriter};

fn h2c_server(
    h: impl Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
) -> httptest::Server {
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..Config::default()
    };
    httptest::Server::with_config(cfg, h)
}

fn client_with(tweak: impl FnOnce(&mut TransportConfig)) -> (Client, Transport) {
    let mut cfg = client_support::h2c_transport_config();
    tweak(&mut cfg);
    let t = Transport::with_config(cfg);
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    });
    (c, t)
}

fn client() -> (Client, Transport) {
    client_with(|_| {})
}

fn assert_no_threads(t: &Transport) {
    t.close_idle_connections();
    let ok = client_support::wait_until(Duration::from_secs(5), || t.stats().threads == 0);
    assert!(ok, "connection threads left: {:?}", t.stats());
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into())
}

// ---- scripted server: tests/h2_peer ----

fn scripted(f: impl FnOnce(TcpListener) + Send + 'static) -> (SocketAddr, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (addr, thread::spawn(move || f(l)))
}

// ---- 1: a thread's stream condition variable used with two connections' mutexes ----

/// A thread gets a response (head only so far) on one connection and hands its body to
/// another thread to read, then sends a request on a second connection. Both wait on the
/// first thread's stream condition variable, each under its own connection's mutex, which
/// parking_lot's `Condvar` refused with a panic; the condition variable is now per thread and
/// connection.
#[test]
fn body_read_on_another_thread_while_the_opener_waits_on_another_connection() {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let release_rx = Arc::new(parking_lot::Mutex::new(release_rx));
    let slow_body = h2c_server(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(b"head-");
        let _ = w.flush();
        // The rest once the test says so (bounded).
        let _ = release_rx.lock().recv_timeout(Duration::from_secs(8));
        let _ = w.write_all(b"tail");
    });
    let slow_head = h2c_server(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        // The head comes after 2 s: the window in which both callers wait.
        let (_tx, rx) = crossbeam_channel::bounded::<()>(1);
        let _ = rx.recv_timeout(Duration::from_secs(2));
        let _ = w.write_all(b"late");
    });
    let (c, t) = client();
    let mut resp = c.get(slow_body.url()).unwrap();
    let mut first = [0u8; 5];
    resp.body().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"head-");
    // Another thread reads the rest: it waits on this thread's condition variable.
    let reader = thread::spawn(move || {
        let mut rest = String::new();
        resp.body().read_to_string(&mut rest).map(|_| rest)
    });
    // This thread waits for a head on the other connection.
    let other = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.get(slow_head.url()).and_then(|mut r| r.text())
    }));
    let _ = release_tx.send(());
    let read = reader.join();
    let other = other.map_err(|e| panic_text(&*e));
    let read = read.map_err(|e| panic_text(&*e));
    assert!(
        matches!(other, Ok(Ok(ref s)) if s == "late"),
        "request on the second connection: {other:?}"
    );
    assert!(
        matches!(read, Ok(Ok(ref s)) if s == "tail"),
        "body read on another thread: {read:?}"
    );
    assert_no_threads(&t);
}

// ---- 2: a sized request body that is not its declared length ----

/// What the scripted server saw of a request body: DATA octets, END_STREAM, RST_STREAM.
#[derive(Debug, Default)]
struct Upload {
    content_length: Option<String>,
    octets: usize,
    end_stream: bool,
    rst: Option<ErrorCode>,
}

/// Serves one request: reads its body to END_STREAM or RST_STREAM, answers 200 after
/// END_STREAM, and reports what it saw.
fn upload_server() -> (SocketAddr, thread::JoinHandle<Upload>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let mut p = Peer::accept_acking(&l, Settings::default());
        let mut up = Upload::default();
        let id = loop {
            match p.next().expect("no request") {
                Got::Headers {
                    id,
                    fields,
                    end_stream,
                } => {
                    up.content_length = fields
                        .iter()
                        .find(|f| f.name == b"content-length")
                        .map(|f| String::from_utf8_lossy(&f.value).into_owned());
                    up.end_stream = end_stream;
                    break id;
                }
                _ => continue,
            }
        };
        while !up.end_stream && up.rst.is_none() {
            match p.next() {
                Some(Got::Data {
                    id: sid,
                    len,
                    end_stream,
                }) if sid == id => {
                    up.octets += len;
                    up.end_stream = end_stream;
                }
                Some(Got::Rst { id: sid, code }) if sid == id => up.rst = Some(code),
                Some(_) => {}
                None => break,
            }
        }
        if up.end_stream {
            p.send_headers(id, &[(":status", "200"), ("content-length", "2")], false);
            p.data(id, b"ok", true);
        }
        p.drain();
        up
    });
    (addr, h)
}

/// POSTs a `Body::sized` of `actual` octets declared as `declared` to a fresh upload server:
/// the result and what the server saw, once the transport has let go of its threads.
fn upload_sized(actual: usize, declared: u64) -> (nethttp::Result<String>, Upload) {
    let (addr, srv) = upload_server();
    let (c, t) = client();
    let body = nethttp::Body::sized(std::io::Cursor::new(vec![b'x'; actual]), declared);
    let r = c
        .request(nethttp::Method::POST, &format!("http://{addr}/"))
        .body(body)
        .send()
        .and_then(|mut r| r.text());
    assert_no_threads(&t);
    drop(c);
    drop(t);
    (r, srv.join().unwrap())
}

/// `Body::sized` promises that "a reader that ends early or runs long makes the request
/// fail" (HTTP/1 does so). Over HTTP/2 the client sent `content-length: 10`, then 5 octets
/// and END_STREAM, a malformed request (RFC 9113 §8.1.1), and the request succeeded.
#[test]
fn sized_body_shorter_than_declared_fails_the_request() {
    let (r, up) = upload_sized(5, 10);
    assert!(
        r.is_err(),
        "a body 5 octets short was accepted: {r:?}; server saw {up:?}"
    );
    assert!(
        !up.end_stream,
        "the client ended the stream normally with a short body: {up:?}"
    );
}

/// A sized body that runs long: the client sent more DATA than its own `content-length`.
#[test]
fn sized_body_longer_than_declared_fails_the_request() {
    let (r, up) = upload_sized(20, 10);
    assert!(
        up.octets <= 10,
        "the client sent {} octets after content-length: 10 ({up:?}); result {r:?}",
        up.octets
    );
    assert!(r.is_err(), "a body 10 octets long was accepted: {r:?}");
}

// ---- 3: GOAWAY with an error code and a stream at or below its last stream id ----

/// RFC 9113 §6.8: streams at or below a GOAWAY's last stream id "might still complete
/// successfully"; Go's Transport leaves them alone whatever the code, and so does nethttp (it
/// failed them). The server sends GOAWAY(last = 1, ENHANCE_YOUR_CALM), then the whole
/// response of stream 1.
#[test]
fn goaway_with_an_error_code_lets_processed_streams_complete() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept_acking(&l, Settings::default());
        let (id, _) = p.request_end();
        p.send(&Frame::GoAway(GoAway {
            last_stream_id: id,
            code: ErrorCode::EnhanceYourCalm,
            debug_data: b"slow down",
        }));
        p.send_headers(id, &[(":status", "200"), ("content-length", "4")], false);
        p.data(id, b"done", true);
        p.drain();
    });
    let (c, t) = client();
    let r = c.get(&format!("http://{addr}/")).and_then(|mut r| r.text());
    assert!(
        matches!(r, Ok(ref s) if s == "done"),
        "stream 1 lost: {r:?}"
    );
    assert_no_threads(&t);
    drop(c);
    drop(t);
    srv.join().unwrap();
}

// ---- 4: RST_STREAM sent on a stream the server already reset ----

/// §8.1: a server may answer in full before reading the request body and then reset the
/// stream with NO_ERROR. The stream is then closed, and §5.1 forbids sending any frame but
/// PRIORITY on it (§5.4.2: no RST_STREAM in response to a RST_STREAM); the client's body
/// thread, woken by the end of the response, sent RST_STREAM(CANCEL) all the same.
#[test]
fn no_rst_stream_after_the_servers_early_response_and_reset() {
    // The body thread and the reader race; three rounds catch it nearly every time.
    for _ in 0..3 {
        early_response_and_reset_round();
    }
}

fn early_response_and_reset_round() {
    let (saw_tx, saw_rx) = crossbeam_channel::bounded::<Option<ErrorCode>>(1);
    let (addr, srv) = scripted(move |l| {
        let mut p = Peer::accept_acking(&l, Settings::default());
        let (id, _) = p.request_end();
        // The head first, so the caller has its response and is not reading.
        p.send_headers(id, &[(":status", "200"), ("content-length", "2")], false);
        // The client fills the 65,535-octet window and waits for more.
        let mut got = 0;
        while got < 65_535 {
            match p.next() {
                Some(Got::Data { len, .. }) => got += len,
                Some(_) => {}
                None => panic!("eof before the window was full"),
            }
        }
        // The end of the response and the reset, in one write.
        let mut b = Vec::new();
        Frame::Data(Data {
            stream_id: id,
            end_stream: true,
            data: b"ok",
            padding: None,
        })
        .encode(&mut b)
        .unwrap();
        Frame::RstStream(frame::RstStream {
            stream_id: id,
            code: ErrorCode::NoError,
        })
        .encode(&mut b)
        .unwrap();
        p.s.write_all(&b).unwrap();
        // Anything the client sends on the stream within 2 s.
        p.s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(2);
        let mut saw = None;
        while std::time::Instant::now() < until && saw.is_none() {
            if let Some(Got::Rst { id: rid, code }) = p.next() {
                if rid == id {
                    saw = Some(code);
                }
            }
        }
        saw_tx.send(saw).unwrap();
        p.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        p.drain();
    });
    let (c, t) = client();
    let mut resp = c
        .post(
            &format!("http://{addr}/"),
            "text/plain",
            vec![b'a'; 200_000],
        )
        .unwrap();
    let saw = saw_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(
        saw, None,
        "the client sent RST_STREAM on a stream the server had reset"
    );
    drop(resp);
    assert_no_threads(&t);
    drop(c);
    drop(t);
    srv.join().unwrap();
}
