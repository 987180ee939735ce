//! The server's response semantics over raw sockets: implicit 200, Content-Length versus
//! chunked versus close-delimited framing, Date, HEAD, bodiless statuses, 1xx, Expect:
//! 100-continue, draining unread bodies, keep-alive rules, pipelining, the head-read timeout,
//! panicking handlers and the lingering close.

mod support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};
use nethttp::proto::framing::Framing;
use nethttp::server::{Request, ResponseWriter};
use nethttp::{HeaderValue, StatusCode};

use support::{
    describe, nethttp_kind, quiet_expected_panics, test_config, Calls, RawConn, ReadError,
    TestServer, EXPECTED_PANIC,
};

/// The size of the `/reject-big` answer.
const REJECT_BIG: usize = 8 << 20;

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

fn big_body() -> Vec<u8> {
    (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One handler for most tests, routed by path; records `METHOD /path` and write errors.
fn routes(calls: Calls) -> impl Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync {
    move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let path = r.uri.path().to_string();
        calls.push(format!("{} {path}", r.method));
        if let Ok(v) = HeaderValue::from_str(&path) {
            w.headers_mut().insert("x-path", v);
        }
        match path.as_str() {
            "/small" => {
                let _ = w.write_all(b"hello");
            }
            "/empty" => {}
            "/exact" => {
                let _ = w.write_all(&[b'e'; 4096]);
            }
            "/over" => {
                let _ = w.write_all(&[b'o'; 4096]);
                let _ = w.write_all(b"!");
            }
            "/big" => {
                for piece in big_body().chunks(1000) {
                    let _ = w.write_all(piece);
                }
            }
            "/flush" => {
                let _ = w.write_all(b"a");
                let _ = w.flush();
                let _ = w.write_all(b"b");
            }
            "/declared" => {
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static("10000"));
                for _ in 0..10 {
                    let _ = w.write_all(&[b'd'; 1000]);
                }
            }
            "/declared-over" => {
                // Declares less than it writes, all within the buffer.
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static("5"));
                let r = w.write_all(b"hello world");
                calls.push(format!(
                    "declared-over write: {:?}",
                    r.map_err(|e| nethttp_kind(&e))
                ));
            }
            "/declared-over-big" => {
                // Declares 10, buffers 100, then overflows the buffer.
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static("10"));
                let first = w.write_all(&[b'x'; 100]).map_err(|e| nethttp_kind(&e));
                let second = w.write_all(&[b'y'; 5000]).map_err(|e| nethttp_kind(&e));
                calls.push(format!("declared-over-big writes: {first:?} {second:?}"));
            }
            "/declared-short" => {
                // Declares more than it writes.
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static("10"));
                let _ = w.write_all(b"hello");
            }
            "/declared-head" => {
                // A HEAD-aware handler: declares the length, writes nothing.
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static("1234"));
            }
            "/echo" => match r.body().read_to_vec(4 << 20) {
                Ok(b) => {
                    let _ = w.write_all(&b);
                }
                Err(e) => {
                    w.write_header(StatusCode::BAD_REQUEST);
                    let _ = write!(w, "bad request body: {e}");
                }
            },
            "/ignore" => {
                let _ = w.write_all(b"ignored");
            }
            "/reject" => {
                w.write_header(StatusCode::UNAUTHORIZED);
                let _ = w.write_all(b"no");
            }
            "/reject-big" => {
                // Refuses the upload without reading it, with an answer too big for the
                // socket buffers: part of it is still queued when the server closes.
                w.write_header(StatusCode::PAYLOAD_TOO_LARGE);
                let piece = [b'r'; 64 << 10];
                for _ in 0..REJECT_BIG / piece.len() {
                    if w.write_all(&piece).is_err() {
                        break;
                    }
                }
            }
            "/close" => {
                w.headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
                let _ = w.write_all(b"bye");
            }
            "/early-hints" => {
                w.headers_mut().insert(
                    "link",
                    HeaderValue::from_static("</style.css>; rel=preload; as=style"),
                );
                w.write_header(StatusCode::EARLY_HINTS);
                let _ = w.write_all(b"final");
            }
            "/panic" => panic!("{EXPECTED_PANIC}"),
            "/panic-after-flush" => {
                let _ = w.write_all(b"partial");
                let _ = w.flush();
                panic!("{EXPECTED_PANIC}");
            }
            p if p.starts_with("/status/") => {
                let code: u16 = p["/status/".len()..].parse().unwrap_or(500);
                w.write_header(StatusCode::from_u16(code).unwrap());
                match w.write(b"body") {
                    Ok(n) => calls.push(format!("write {code}: ok {n}")),
                    Err(e) => calls.push(format!("write {code}: {:?}", nethttp_kind(&e))),
                }
            }
            _ => {
                w.write_header(StatusCode::NOT_FOUND);
                let _ = w.write_all(b"404 page not found\n");
            }
        }
    }
}

fn start() -> (TestServer, Calls) {
    quiet_expected_panics();
    let calls = Calls::default();
    let srv = TestServer::with_handler(routes(calls.clone()));
    (srv, calls)
}

/// Checks the connection stays usable: one more request on it gets its answer.
fn assert_still_open(c: &mut RawConn, ctx: &str) {
    c.send(get("/small"));
    let r = c
        .try_read_response("GET")
        .unwrap_or_else(|e| panic!("{ctx}: connection not reusable: {}", describe(&e)));
    assert_eq!(r.header("x-path"), Some("/small"), "{ctx}");
}

/// Checks the server closes the connection without another byte; a reset also counts when the
/// server leaves unread request bytes behind (`reset_ok`).
fn assert_closed(c: &mut RawConn, reset_ok: bool, ctx: &str) {
    match c.read_to_close() {
        Ok(rest) if rest.is_empty() => {}
        Err(ReadError::Truncated { got, reset: true }) if reset_ok && got.is_empty() => {}
        Ok(rest) => panic!(
            "{ctx}: more bytes instead of a close: {:?}",
            String::from_utf8_lossy(&rest)
        ),
        Err(e) => panic!("{ctx}: {}", describe(&e)),
    }
}

#[test]
fn implicit_200_with_content_length_when_the_output_fits() {
    let (srv, _) = start();
    // (name, path, body length): everything up to the 4 KiB buffer gets a Content-Length.
    let cases: &[(&str, &str, usize)] = &[
        ("small", "/small", 5),
        ("nothing_written", "/empty", 0),
        ("exactly_the_buffer", "/exact", 4096),
    ];
    let mut c = srv.connect();
    for (name, path, len) in cases {
        c.send(get(path));
        let r = c.read_response();
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.raw_head.lines().next(), Some("HTTP/1.1 200 OK"), "{name}");
        assert_eq!(
            r.header("content-length"),
            Some(len.to_string().as_str()),
            "{name}: {}",
            r.raw_head
        );
        assert_eq!(r.header("transfer-encoding"), None, "{name}");
        assert_eq!(r.body.len(), *len, "{name}");
        assert!(!r.is_close(), "{name}");
    }
}

#[test]
fn a_response_carries_none_of_the_last_ones_fields() {
    // The connection reuses one header map for its responses, emptied after each: what a
    // handler set for one request must not reach the next response on the connection.
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let h = w.headers_mut();
        match r.uri.path() {
            "/few" => {
                h.insert("x-few", HeaderValue::from_static("1"));
                h.append("set-cookie", HeaderValue::from_static("a=1"));
                h.append("set-cookie", HeaderValue::from_static("b=2"));
            }
            // More fields than a map kept for reuse may hold room for (the reader of these
            // tests takes up to 100).
            "/many" => {
                for i in 0..80 {
                    h.insert(
                        nethttp::HeaderName::from_bytes(format!("x-many-{i}").as_bytes()).unwrap(),
                        HeaderValue::from_static("v"),
                    );
                }
            }
            _ => {}
        }
        let _ = w.write_all(b"ok");
    });
    let mut c = srv.connect();
    for path in ["/few", "/plain", "/many", "/plain", "/few", "/plain"] {
        c.send(get(path));
        let r = c.read_response();
        assert_eq!(r.status, 200, "{path}");
        let names: Vec<String> = r
            .raw_head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        let custom = names
            .iter()
            .filter(|n| n.starts_with("x-") || *n == "set-cookie")
            .count();
        let want = match path {
            "/few" => 3,
            "/many" => 80,
            _ => 0,
        };
        assert_eq!(custom, want, "{path}: {}", r.raw_head);
        assert!(!r.is_close(), "{path}");
    }
}

#[test]
fn chunked_on_http11_when_the_output_does_not_fit() {
    let (srv, _) = start();
    let mut over = vec![b'o'; 4096];
    over.push(b'!');
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("one_byte_over", "/over", over),
        ("many_writes", "/big", big_body()),
        ("flushed_early", "/flush", b"ab".to_vec()),
    ];
    let mut c = srv.connect();
    for (name, path, want) in cases {
        c.send(get(path));
        let r = c.read_response();
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.framing, Framing::Chunked, "{name}: {}", r.raw_head);
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{name}");
        assert_eq!(r.header("content-length"), None, "{name}");
        assert_eq!(r.body, want, "{name}");
        assert!(!r.is_close(), "{name}");
    }
}

#[test]
fn declared_content_length_is_used_as_is() {
    let (srv, _) = start();
    let mut c = srv.connect();
    c.send(get("/declared"));
    let r = c.read_response();
    assert_eq!(r.header("content-length"), Some("10000"), "{}", r.raw_head);
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, vec![b'd'; 10000]);
    assert_still_open(&mut c, "after a declared length");
}

#[test]
fn a_declared_content_length_the_handler_breaks() {
    let (srv, calls) = start();
    // More written than declared: the response keeps its declared framing (the first bytes),
    // so the next response on the connection is still read as the next one.
    for (path, want) in [
        ("/declared-over", &b"hello"[..]),
        ("/declared-over-big", &[b'x'; 10][..]),
    ] {
        let mut c = srv.connect();
        c.send(format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n"
        ));
        let r = c.read_response();
        assert_eq!(
            r.header("x-path"),
            Some(path),
            "{path}: no response of its own"
        );
        assert_eq!(
            r.header("content-length"),
            Some(want.len().to_string().as_str()),
            "{path}"
        );
        assert_eq!(r.body, want, "{path}");
        let next = c.read_response();
        assert_eq!(next.header("x-path"), Some("/small"), "{path}");
    }
    assert!(
        calls.any_contains("declared-over-big writes: Ok(()) Err(Some(ContentLengthMismatch))"),
        "{:?}",
        calls.list()
    );
    // Less written than declared: the body is cut short and the connection closes (said in
    // the head, which goes out after the handler returned).
    let mut c = srv.connect();
    c.send(get("/declared-short"));
    match c.try_read_response("GET") {
        Err(ReadError::Truncated { got, reset: false }) => {
            let text = String::from_utf8_lossy(&got);
            assert!(text.ends_with("\r\n\r\nhello"), "{text:?}");
            assert!(text.contains("Connection: close\r\n"), "{text:?}");
        }
        other => panic!(
            "want a short body and a close, got {:?}",
            other.map(|r| r.raw_head).map_err(|e| describe(&e))
        ),
    }
}

#[test]
fn close_delimited_on_http10_when_the_output_does_not_fit() {
    let (srv, _) = start();
    // Even a keep-alive HTTP/1.0 client: it cannot read chunked, so the body ends at close.
    let mut c = srv.connect();
    c.send(b"GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, Framing::UntilClose, "{}", r.raw_head);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), None);
    assert!(r.is_close(), "{}", r.raw_head);
    assert_eq!(r.body, big_body());

    // A small body on HTTP/1.0 keep-alive: Content-Length, and the connection stays.
    let mut c = srv.connect();
    c.send(b"GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.header("content-length"), Some("5"));
    assert!(r.connection_has("keep-alive"), "{}", r.raw_head);
    c.send(b"GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_response().body, b"hello");
}

#[test]
fn date_on_every_response() {
    let (srv, _) = start();
    let now = SystemTime::now();
    // (name, request, method): ordinary, chunked, HEAD, bodiless, 1xx, error and panic answers.
    let cases: &[(&str, &[u8], &str)] = &[
        ("small", b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n", "GET"),
        ("chunked", b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", "GET"),
        ("head", b"HEAD /small HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD"),
        (
            "no_content",
            b"GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET",
        ),
        (
            "not_modified",
            b"GET /status/304 HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET",
        ),
        ("not_found", b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", "GET"),
        ("bad_request", b"GET / HTTP/1.1\r\n\r\n", "GET"),
        ("version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "GET"),
        ("panic", b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n", "GET"),
        ("http10", b"GET /small HTTP/1.0\r\n\r\n", "GET"),
    ];
    for (name, req, method) in cases {
        let mut c = srv.connect();
        c.send(req);
        let r = c.read_response_for(method);
        let date = r
            .header("date")
            .unwrap_or_else(|| panic!("{name}: no Date in {}", r.raw_head));
        assert_eq!(r.header_count("date"), 1, "{name}");
        let t = httpdate::parse_http_date(date)
            .unwrap_or_else(|e| panic!("{name}: bad Date {date:?}: {e}"));
        let skew = t
            .duration_since(now)
            .unwrap_or_else(|e| e.duration())
            .as_secs();
        assert!(skew <= 60, "{name}: Date {date} is {skew} s off");
    }
}

#[test]
fn head_gets_the_headers_of_a_get_and_never_a_body() {
    let (srv, _) = start();
    for path in ["/small", "/empty", "/exact", "/declared"] {
        let mut c = srv.connect();
        c.send(get(path));
        let g = c.read_response();
        // HEAD, then a GET in the same write: a body after the HEAD response would show up as
        // garbage in front of the next response.
        c.send(format!(
            "HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n"
        ));
        let h = c.read_response_for("HEAD");
        let next = c.read_response();
        assert_eq!(h.status, g.status, "{path}");
        // A HEAD handler that writes nothing gets no length (Go's rule: it may have skipped
        // the body); otherwise the GET's.
        let want = if path == "/empty" {
            None
        } else {
            g.header("content-length")
        };
        assert_eq!(
            h.header("content-length"),
            want,
            "{path}: HEAD {} vs GET {}",
            h.raw_head,
            g.raw_head
        );
        assert_eq!(h.header("x-path"), g.header("x-path"), "{path}");
        assert!(h.body.is_empty());
        assert_eq!(
            next.body, b"hello",
            "{path}: the HEAD response carried a body"
        );
    }
    // A handler that writes more than the buffer: the HEAD response holds the whole count.
    let mut c = srv.connect();
    c.send(b"HEAD /big HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = c.read_response_for("HEAD");
    assert_eq!(h.header("content-length"), Some("100000"), "{}", h.raw_head);
    assert_eq!(h.header("transfer-encoding"), None);
    assert_eq!(c.read_response().body, b"hello");
    // A HEAD-aware handler that only declares the length.
    c.send(b"HEAD /declared-head HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = c.read_response_for("HEAD");
    assert_eq!(h.header("content-length"), Some("1234"), "{}", h.raw_head);
    assert_still_open(&mut c, "after HEAD");
}

#[test]
fn bodiless_statuses_send_no_body_and_writes_fail() {
    let (srv, calls) = start();
    // (status, Content-Length the server may send)
    for (code, cl) in [(204, None), (304, None)] {
        let mut c = srv.connect();
        c.send(format!(
            "GET /status/{code} HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n"
        ));
        let r = c.read_response();
        assert_eq!(r.status, code);
        assert_eq!(r.header("content-length"), cl, "{code}: {}", r.raw_head);
        assert_eq!(r.header("transfer-encoding"), None, "{code}");
        let next = c.read_response();
        assert_eq!(
            next.body, b"hello",
            "{code}: a body followed the {code} head"
        );
        assert!(
            calls.any_contains(&format!("write {code}: Some(BodyNotAllowed)")),
            "{code}: {:?}",
            calls.list()
        );
    }
    // 101 without a hijack: the handler cannot write a body either, and the connection ends.
    let mut c = srv.connect();
    c.send(get("/status/101"));
    let r = c.read_response();
    assert_eq!(r.status, 101);
    assert!(
        calls.any_contains("write 101: Some(BodyNotAllowed)"),
        "{:?}",
        calls.list()
    );
    assert_closed(&mut c, false, "101 without hijack");
}

#[test]
fn early_hints_103_then_the_final_response() {
    let (srv, _) = start();
    let mut c = srv.connect();
    c.send(get("/early-hints"));
    let hints = c.read_response();
    assert_eq!(hints.status, 103, "{}", hints.raw_head);
    assert!(hints.header("link").is_some(), "{}", hints.raw_head);
    assert!(hints.body.is_empty());
    let fin = c.read_response();
    assert_eq!(fin.status, 200);
    assert_eq!(fin.body, b"final");
    assert_still_open(&mut c, "after 103 + 200");

    // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
    let mut c = srv.connect();
    c.send(b"GET /early-hints HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.raw_head);
    assert_eq!(r.body, b"final");
}

/// A server whose `/wait-read` handler reports that it started, waits to be released, then
/// reads and echoes the body.
fn start_gated() -> (TestServer, Receiver<()>, Sender<()>) {
    let (started_tx, started_rx) = bounded::<()>(4);
    let (release_tx, release_rx) = bounded::<()>(4);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/wait-read" {
            let _ = started_tx.send(());
            let _ = release_rx.recv_timeout(Duration::from_secs(5));
        }
        match r.body().read_to_vec(1 << 20) {
            Ok(b) => {
                let _ = w.write_all(&b);
            }
            Err(e) => {
                w.write_header(StatusCode::BAD_REQUEST);
                let _ = write!(w, "{e}");
            }
        }
    });
    (srv, started_rx, release_tx)
}

#[test]
fn expect_continue_is_sent_when_the_handler_first_reads() {
    let (srv, started, release) = start_gated();
    let mut c = srv.connect();
    c.send(
        b"POST /wait-read HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    started
        .recv_timeout(Duration::from_secs(2))
        .expect("handler started");
    // The handler runs but has not read: no 100 yet.
    c.expect_silent(Duration::from_millis(200), "before the first body read");
    release.send(()).unwrap();
    let cont = c.read_response_for("POST");
    assert_eq!(cont.status, 100, "{}", cont.raw_head);
    assert_eq!(cont.raw_head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello");
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    assert!(!r.is_close(), "{}", r.raw_head);
    // Keep-alive holds: the next request on this connection is served.
    c.send(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(c.read_response_for("POST").body, b"ok");
}

#[test]
fn expect_continue_is_not_sent_when_the_handler_answers_without_reading() {
    let (srv, calls) = start();
    let mut c = srv.connect();
    c.send(
        b"POST /reject HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n",
    );
    let r = c.read_response_for("POST");
    assert_eq!(
        r.status, 401,
        "a 100 came before the final answer: {}",
        r.raw_head
    );
    assert_eq!(r.body, b"no");
    // The body never came and never will: the connection cannot carry another request.
    assert!(r.is_close(), "{}", r.raw_head);
    assert_closed(&mut c, false, "after refusing 100-continue");
    assert_eq!(calls.list(), vec!["POST /reject".to_string()]);
}

#[test]
fn expect_continue_from_http10_is_ignored() {
    let (srv, _) = start();
    let mut c = srv.connect();
    c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 200, "{}", r.raw_head);
    assert_eq!(r.body, b"hello");
}

/// Sends `head` + `body` + `GET /small` from a writer thread (the server may stop reading),
/// and reads the answers on this one.
fn send_big(c: &RawConn, head: String, body: Vec<u8>) -> thread::JoinHandle<()> {
    let stream = c.stream().try_clone().expect("clone");
    thread::spawn(move || {
        let mut wire = head.into_bytes();
        wire.extend_from_slice(&body);
        wire.extend_from_slice(&get("/small"));
        // The server may close before reading everything: a failed write is fine here.
        let _ = (&stream).write_all(&wire);
    })
}

fn chunked(body_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in vec![b'c'; body_len].chunks(10_000) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[test]
fn unread_body_is_drained_up_to_256k_to_keep_the_connection() {
    let (srv, _) = start();
    const K: usize = 1024;
    // (name, body length, chunked, connection kept)
    let cases: &[(&str, usize, bool, bool)] = &[
        ("small_length", 1000, false, true),
        ("200k_length", 200 * K, false, true),
        ("exactly_256k_length", 256 * K, false, true),
        ("256k_plus_one_length", 256 * K + 1, false, false),
        ("1m_length", 1024 * K, false, false),
        ("200k_chunked", 200 * K, true, true),
        ("400k_chunked", 400 * K, true, false),
    ];
    for (name, len, is_chunked, kept) in cases {
        let mut c = srv.connect();
        let (head, body) = if *is_chunked {
            (
                "POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_string(),
                chunked(*len),
            )
        } else {
            (
                format!("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n"),
                vec![b'x'; *len],
            )
        };
        let writer = send_big(&c, head, body);
        let r = c.read_response_for("POST");
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.body, b"ignored", "{name}");
        if *kept {
            assert!(!r.is_close(), "{name}: {}", r.raw_head);
            let next = c.read_response();
            assert_eq!(next.header("x-path"), Some("/small"), "{name}");
        } else {
            assert!(r.is_close(), "{name}: {}", r.raw_head);
            assert_closed(&mut c, true, name);
        }
        writer.join().unwrap();
    }
}

#[test]
fn body_framing_error_closes_after_the_response() {
    let (srv, calls) = start();
    // The handler ignores a body whose chunk line is bad: its answer goes out, then the close.
    let mut c = srv.connect();
    c.send(
        b"POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ignored");
    assert!(r.is_close(), "{}", r.raw_head);
    assert_closed(&mut c, false, "after a bad chunked body");
    assert!(!calls.any_contains("/smuggled"), "{:?}", calls.list());

    // A body cut short by the client's FIN: the handler's read fails and the client still
    // gets the answer on its half-open connection.
    let mut c = srv.connect();
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
    c.shutdown_write();
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.is_close(), "{}", r.raw_head);
    assert_closed(&mut c, false, "after a truncated body");
}

#[test]
fn connection_close_from_either_side_closes() {
    let (srv, calls) = start();
    // (name, request, then a pipelined request that must not be answered)
    let cases: &[(&str, &[u8])] = &[
        (
            "client_close",
            b"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ),
        (
            "client_close_in_list",
            b"GET /small HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
        ),
        ("handler_close", b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("http10_default", b"GET /small HTTP/1.0\r\n\r\n"),
    ];
    for (name, req) in cases {
        let mut c = srv.connect();
        let mut wire = req.to_vec();
        wire.extend_from_slice(&get("/after-close"));
        c.send(&wire);
        let r = c.read_response();
        assert_eq!(r.status, 200, "{name}");
        assert!(r.is_close(), "{name}: {}", r.raw_head);
        assert_eq!(r.header_count("connection"), 1, "{name}: {}", r.raw_head);
        assert_closed(&mut c, false, name);
    }
    assert!(!calls.any_contains("/after-close"), "{:?}", calls.list());
}

#[test]
fn keep_alive_rules_by_version() {
    let (srv, _) = start();
    // (name, request, kept, Connection token in the response)
    let cases: &[(&str, &str, bool, Option<&str>)] = &[
        (
            "http11_default",
            "GET /small HTTP/1.1\r\nHost: a\r\n\r\n",
            true,
            None,
        ),
        (
            "http11_keep_alive",
            "GET /small HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
            true,
            None,
        ),
        (
            "http10_default",
            "GET /small HTTP/1.0\r\n\r\n",
            false,
            Some("close"),
        ),
        (
            "http10_keep_alive",
            "GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            true,
            Some("keep-alive"),
        ),
        (
            "http10_keep_alive_mixed_case",
            "GET /small HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            true,
            Some("keep-alive"),
        ),
    ];
    for (name, req, kept, token) in cases {
        let mut c = srv.connect();
        c.send(req);
        let r = c.read_response();
        assert_eq!(r.body, b"hello", "{name}");
        if let Some(t) = token {
            assert!(r.connection_has(t), "{name}: {}", r.raw_head);
        }
        if *kept {
            assert!(!r.is_close(), "{name}: {}", r.raw_head);
            c.send(req);
            assert_eq!(c.read_response().body, b"hello", "{name}: second request");
        } else {
            assert_closed(&mut c, false, name);
        }
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (srv, calls) = start();
    let mut c = srv.connect();
    let mut wire = Vec::new();
    wire.extend_from_slice(&get("/small"));
    wire.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none");
    wire.extend_from_slice(b"HEAD /exact HTTP/1.1\r\nHost: a\r\n\r\n");
    wire.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n",
    );
    wire.extend_from_slice(&get("/big"));
    wire.extend_from_slice(b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nskip");
    wire.extend_from_slice(&get("/empty"));
    c.send(&wire);
    let want: &[(&str, &str, &[u8])] = &[
        ("GET", "/small", b"hello"),
        ("POST", "/echo", b"one"),
        ("HEAD", "/exact", b""),
        ("POST", "/echo", b"two"),
        ("GET", "/big", b""),
        ("POST", "/ignore", b"ignored"),
        ("GET", "/empty", b""),
    ];
    for (i, (method, path, body)) in want.iter().enumerate() {
        let r = c.read_response_for(method);
        assert_eq!(r.status, 200, "response {i}");
        assert_eq!(r.header("x-path"), Some(*path), "response {i} out of order");
        if *path == "/big" {
            assert_eq!(r.body, big_body());
        } else {
            assert_eq!(r.body, *body, "response {i}");
        }
        assert!(!r.is_close(), "response {i}");
    }
    let seen: Vec<String> = calls.list();
    let expected: Vec<String> = want.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_client_silent_mid_head_is_dropped_at_read_header_timeout() {
    let mut cfg = test_config();
    let timeout = Duration::from_millis(300);
    cfg.read_header_timeout = Some(timeout);
    let calls = Calls::default();
    let srv = TestServer::start(cfg, routes(calls.clone()));
    // (name, bytes sent before going silent)
    let cases: &[(&str, &[u8])] = &[
        ("mid_request_line", b"GET /sm"),
        ("mid_headers", b"GET /small HTTP/1.1\r\nHost: a\r\n"),
        ("nothing_at_all", b""),
    ];
    for (name, partial) in cases {
        let mut c = srv.connect();
        let t0 = Instant::now();
        c.send(partial);
        let closed = c.read_to_close();
        let took = t0.elapsed();
        match closed {
            Ok(rest) => assert!(
                rest.is_empty(),
                "{name}: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => panic!("{name}: not dropped: {}", describe(&e)),
        }
        assert!(
            took >= timeout - Duration::from_millis(50),
            "{name}: dropped after {took:?}, before the {timeout:?} timeout"
        );
        assert!(took < Duration::from_millis(1500), "{name}: took {took:?}");
    }
    assert!(calls.list().is_empty());

    // On a kept-alive connection the head timeout runs from the next request's first byte.
    let mut c = srv.connect();
    c.send(get("/small"));
    assert_eq!(c.read_response().body, b"hello");
    c.expect_silent(
        timeout + Duration::from_millis(100),
        "idle between requests",
    );
    let t0 = Instant::now();
    c.send(b"GET /small HTTP/1.1\r\nHo");
    c.expect_closed("silent mid-head on a kept-alive connection");
    let took = t0.elapsed();
    assert!(took >= timeout - Duration::from_millis(50), "{took:?}");
}

#[test]
fn an_idle_keep_alive_connection_waits_idle_timeout_not_read_header_timeout() {
    let mut cfg = test_config();
    cfg.read_header_timeout = Some(Duration::from_millis(200));
    let idle = Duration::from_millis(700);
    cfg.idle_timeout = Some(idle);
    let srv = TestServer::start(cfg, routes(Calls::default()));
    let mut c = srv.connect();
    c.send(get("/small"));
    assert_eq!(c.read_response().body, b"hello");
    // Past the head timeout, the idle connection is still open and usable.
    c.expect_silent(Duration::from_millis(400), "idle, past read_header_timeout");
    c.send(get("/small"));
    assert_eq!(c.read_response().body, b"hello");
    // Then, idle for idle_timeout, it is closed without a word.
    let t0 = Instant::now();
    c.expect_closed("idle past idle_timeout");
    let took = t0.elapsed();
    assert!(
        took >= idle - Duration::from_millis(50),
        "closed after {took:?}"
    );
}

#[test]
fn a_panicking_handler_gets_500_and_a_close_and_the_server_keeps_serving() {
    let (srv, _) = start();
    let mut c = srv.connect();
    c.send(get("/panic"));
    let r = c.read_response();
    assert_eq!(r.status, 500, "{}", r.raw_head);
    assert!(r.is_close(), "{}", r.raw_head);
    assert_closed(&mut c, false, "after a panic");

    // The 500 to a HEAD request has no body either.
    let mut c = srv.connect();
    c.send(b"HEAD /panic HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.read_response_for("HEAD");
    assert_eq!(r.status, 500, "{}", r.raw_head);
    assert!(r.is_close(), "{}", r.raw_head);
    assert_closed(&mut c, false, "after a panic on HEAD");

    // Panic after the head went out: no 500 can follow; the body is cut off by the close.
    let mut c = srv.connect();
    c.send(get("/panic-after-flush"));
    match c.try_read_response("GET") {
        Err(ReadError::Truncated { got, .. }) => {
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.contains("partial"), "{text}");
        }
        other => panic!(
            "want a truncated chunked response, got {:?}",
            other.map(|r| r.raw_head).map_err(|e| describe(&e))
        ),
    }

    // The server is unharmed.
    for _ in 0..3 {
        let mut c = srv.connect();
        c.send(get("/small"));
        assert_eq!(c.read_response().body, b"hello");
    }
}

#[test]
fn a_rejected_request_with_a_body_still_gets_the_whole_response() {
    let (srv, _) = start();
    // Rejected on its head while 200 KiB of body is in flight: the server must not reset the
    // connection under the 400 (it half-closes and lingers, reading what comes).
    let mut c = srv.connect();
    let mut wire =
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 204800\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    wire.extend_from_slice(&vec![b'z'; 200 * 1024]);
    c.send(&wire);
    // Read only after the server has finished with the connection, so a reset it sent would
    // already be here.
    let s = srv.server();
    support::wait_until(support::TEARDOWN, "the server to close", || {
        s.num_connections() == 0
    });
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("400 Bad Request"), "{}", r.text());
    assert!(r.is_close());
    assert_closed(&mut c, false, "after a rejected upload");

    // Refused by the handler, unread, while the client sends a body larger than the drain
    // limit, with an 8 MiB answer: when the server is done, megabytes of the answer are still
    // in its send queue and request bytes are still unread. Closing then would reset the
    // connection and drop the queued answer; the half-close and linger let it arrive whole.
    let mut c = srv.connect();
    let writer = send_big(
        &c,
        "POST /reject-big HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n".to_string(),
        vec![b'y'; 2_000_000],
    );
    let r = c.read_response_for("POST");
    assert_eq!(r.status, 413);
    assert_eq!(r.body.len(), REJECT_BIG);
    // The head went out while the handler ran, before the server knew the body would be left
    // undrained, so it need not say `Connection: close`; the close follows all the same.
    assert_closed(&mut c, true, "after refusing a large upload");
    writer.join().unwrap();
}
