//! Handler helpers: error, not_found, redirect, strip_prefix, timeout_handler, max_bytes_*,
//! middleware and the access log; Content-Type sniffing; end-to-end body limits over sockets.

mod routing_support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nethttp::error::{ErrorKind, TimeoutPhase, TooLarge};
use nethttp::handlers::{self, chain, middleware, Middleware};
use nethttp::server::Body;
use nethttp::sniff::{detect_content_type, sniff_content_type};
use nethttp::{Error, Handler, HeaderValue, Request, ResponseWriter, StatusCode};
use routing_support::{closed_by_server, read_response, request, serve, Recorder, TestServer};

#[test]
fn error_replies_plain_text() {
    let h = |w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("content-length", HeaderValue::from_static("99"));
        w.headers_mut()
            .insert("x-kept", HeaderValue::from_static("yes"));
        handlers::error(w, "no such thing", StatusCode::GONE);
    };
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.code(), StatusCode::GONE);
    assert_eq!(w.body_str(), "no such thing\n");
    assert_eq!(w.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(w.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(w.header("content-length"), None);
    assert_eq!(w.header("x-kept"), Some("yes"));

    let (w, _) = serve(&handlers::not_found, request("GET", "/x", "h"));
    assert_eq!(w.code(), StatusCode::NOT_FOUND);
    assert_eq!(w.body_str(), "404 page not found\n");
}

#[test]
fn redirect_resolves_and_cleans() {
    // (request path, url, location sent)
    let cases = [
        ("/a/b", "c?x=1", "/a/c?x=1"),
        ("/a/b", "../d/", "/d/"),
        ("/a/b/", "c", "/a/b/c"),
        ("/a/b", "/x/./y//z/", "/x/y/z/"),
        ("/a/b", "/x/../../y", "/y"),
        ("/a", "", "/"),
        ("/a/b", "?q=1", "/a/?q=1"),
        (
            "/a",
            "http://example.com/z/../q",
            "http://example.com/z/../q",
        ),
        ("/a", "//evil.example/x", "//evil.example/x"),
        ("/a", "/€ x", "/%E2%82%AC%20x"),
    ];
    for (path, url, want) in cases {
        let url = url.to_string();
        let h = move |w: &mut dyn ResponseWriter, r: &mut Request| {
            handlers::redirect(w, r, &url, StatusCode::FOUND);
        };
        let (w, _) = serve(&h, request("GET", path, "h"));
        assert_eq!(w.code(), StatusCode::FOUND, "{path} {want}");
        assert_eq!(w.header("location"), Some(want), "{path}");
    }
}

#[test]
fn redirect_body_and_type_by_method() {
    let h = handlers::redirect_handler("/new?a=<b>", StatusCode::MOVED_PERMANENTLY);
    let (w, _) = serve(&h, request("GET", "/old", "h"));
    assert_eq!(w.code(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(w.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        w.body_str(),
        "<a href=\"/new?a=&lt;b&gt;\">Moved Permanently</a>.\n"
    );

    let (w, _) = serve(&h, request("HEAD", "/old", "h"));
    assert_eq!(w.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(w.body.is_empty());

    let (w, _) = serve(&h, request("POST", "/old", "h"));
    assert_eq!(w.header("content-type"), None);
    assert!(w.body.is_empty());

    // A type the handler chose means it writes its own body.
    let h = |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        handlers::redirect(w, r, "/x", StatusCode::SEE_OTHER);
    };
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.header("content-type"), Some("application/json"));
    assert!(w.body.is_empty());
}

#[test]
fn strip_prefix_shortens_then_restores() {
    let seen = Arc::new(Mutex::new(String::new()));
    let s = Arc::clone(&seen);
    let inner = move |_w: &mut dyn ResponseWriter, r: &mut Request| {
        *s.lock().unwrap_or_else(|e| e.into_inner()) = r.uri.to_string();
    };
    let h = handlers::strip_prefix("/static", inner);
    let cases = [
        ("/static/css/a.css?v=1", Some("/css/a.css?v=1")),
        ("/static", Some("/")),
        ("/other/x", None),
    ];
    for (target, want) in cases {
        seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let (w, r) = serve(&h, request("GET", target, "h"));
        assert_eq!(r.uri.to_string(), target, "restored");
        match want {
            Some(p) => assert_eq!(*seen.lock().unwrap_or_else(|e| e.into_inner()), p),
            None => assert_eq!(w.code(), StatusCode::NOT_FOUND),
        }
    }
}

#[test]
fn timeout_handler_in_time_copies_response_and_returns_request() {
    let inner = |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut()
            .insert("x-inner", HeaderValue::from_static("1"));
        w.write_header(StatusCode::ACCEPTED);
        let _ = w.write_all(b"done");
        r.set_path_value("seen", "yes");
    };
    let h = handlers::timeout_handler(inner, Duration::from_secs(5), "too slow");
    let (w, r) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.code(), StatusCode::ACCEPTED);
    assert_eq!(w.header("x-inner"), Some("1"));
    assert_eq!(w.body_str(), "done");
    assert_eq!(r.path_value("seen"), Some("yes"));
}

#[test]
fn timeout_handler_answers_503_and_fails_later_writes() {
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
    let (res_tx, res_rx) = crossbeam_channel::bounded::<Option<ErrorKind>>(1);
    let inner = move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        // Wait until the test has seen the 503 (bounded, so a broken test cannot hang).
        let _ = go_rx.recv_timeout(Duration::from_secs(5));
        let r = w.write_all(b"late").err().map(|e| Error::from(e).kind());
        let _ = res_tx.send(r);
    };
    let h = handlers::timeout_handler(inner, Duration::from_millis(30), "too slow");
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.code(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.body_str(), "too slow");
    assert_eq!(w.header("content-type"), Some("text/plain; charset=utf-8"));
    go_tx.send(()).expect("handler thread alive");
    let got = res_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("handler reports");
    assert_eq!(got, Some(ErrorKind::Timeout(TimeoutPhase::WriteResponse)));
}

#[test]
fn timeout_handler_default_body_and_panics() {
    let (_keep, rx) = crossbeam_channel::bounded::<()>(1);
    let slow = move |_w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = rx.recv_timeout(Duration::from_secs(1));
    };
    let h = handlers::timeout_handler(slow, Duration::from_millis(10), "");
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.code(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(w.body_str().contains("<title>Timeout</title>"));

    let boom = |_w: &mut dyn ResponseWriter, _r: &mut Request| panic!("boom");
    let h = handlers::timeout_handler(boom, Duration::from_secs(5), "");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serve(&h, request("GET", "/", "h"));
    }));
    assert!(caught.is_err(), "the panic reaches the caller");
}

fn read_all(r: &mut Request) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    r.body().read_to_end(&mut out).map_err(Error::from)?;
    Ok(out)
}

#[test]
fn max_bytes_reader_limits() {
    let mut r = request("POST", "/", "h");
    r.replace_body(Body::from("hello world"));
    let mut w = Recorder::new();
    handlers::max_bytes_reader(&mut w, &mut r, 5);
    // From the declared length: 11 > 5, so the connection will close.
    assert_eq!(w.header("connection"), Some("close"));
    let mut got = Vec::new();
    let e = r
        .body()
        .read_to_end(&mut got)
        .map_err(Error::from)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Body));
    assert_eq!(e.status_hint(), Some(StatusCode::PAYLOAD_TOO_LARGE));
    assert_eq!(got, b"hello", "bytes up to the limit are delivered");
    // Every later read fails too.
    assert!(r.body().read(&mut [0u8; 8]).is_err());

    // Exactly at the limit is fine.
    let mut r = request("POST", "/", "h");
    r.replace_body(Body::from("hello"));
    let mut w = Recorder::new();
    handlers::max_bytes_reader(&mut w, &mut r, 5);
    assert_eq!(read_all(&mut r).ok().as_deref(), Some(&b"hello"[..]));
    assert_eq!(w.header("connection"), None);
}

/// Reads the whole body and answers its size, or the error with its status hint.
fn upload(w: &mut dyn ResponseWriter, r: &mut Request) {
    match read_all(r) {
        Ok(b) => {
            let _ = write!(w, "got {}", b.len());
        }
        Err(e) => {
            let code = e.status_hint().unwrap_or(StatusCode::BAD_REQUEST);
            handlers::error(w, &e.to_string(), code);
        }
    }
}

#[test]
fn max_bytes_handler_in_memory() {
    let h = handlers::max_bytes_handler(upload, 4);
    let mut r = request("POST", "/", "h");
    r.replace_body(Body::from_reader(std::io::Cursor::new(
        b"0123456789".to_vec(),
    )));
    let (w, _) = serve(&h, r);
    assert_eq!(w.code(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(w.body_str(), "body larger than limit\n");
    // Set before the head went out.
    let sent = w.sent_headers.as_ref().expect("head sent");
    assert_eq!(
        sent.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );

    let mut r = request("POST", "/", "h");
    r.replace_body(Body::from("0123"));
    let (w, _) = serve(&h, r);
    assert_eq!(w.body_str(), "got 4");
    assert_eq!(w.header("connection"), None);
}

#[test]
fn e2e_max_bytes_closes_connection() {
    let ts = TestServer::start(handlers::max_bytes_handler(upload, 10));
    let bodies: [&[u8]; 2] = [
        // Declared length, a little over the limit (the server would otherwise drain it).
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n01234567890123456789",
        // Chunked, over the limit.
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
    ];
    for req in bodies {
        let mut s = ts.connect();
        s.write_all(req).expect("write");
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf);
        assert_eq!(resp.head.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.body, b"body larger than limit\n");
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(closed_by_server(&mut s), "connection must close");
    }
    // Within the limit the connection stays open for another request.
    let mut s = ts.connect();
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
            .expect("write");
        let resp = read_response(&mut s, &mut buf);
        assert_eq!(resp.head.status, StatusCode::OK);
        assert_eq!(resp.body, b"got 3");
        assert_eq!(resp.header("connection"), None);
    }
}

#[test]
fn e2e_max_bytes_reader_closes_on_declared_length() {
    let h = |w: &mut dyn ResponseWriter, r: &mut Request| {
        handlers::max_bytes_reader(w, r, 10);
        upload(w, r);
    };
    let ts = TestServer::start(h);
    let mut s = ts.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n0123456789ab")
        .expect("write");
    let mut buf = Vec::new();
    let resp = read_response(&mut s, &mut buf);
    assert_eq!(resp.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(closed_by_server(&mut s), "connection must close");
}

#[test]
fn e2e_max_bytes_reader_closes_on_chunked_over_limit() {
    // No declared length: the limit is found out while reading, and the server must neither
    // drain the rest (here a small, drainable rest) nor keep the connection.
    let h = |w: &mut dyn ResponseWriter, r: &mut Request| {
        handlers::max_bytes_reader(w, r, 10);
        upload(w, r);
    };
    let ts = TestServer::start(h);
    let mut s = ts.connect();
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
    )
    .expect("write");
    let mut buf = Vec::new();
    let resp = read_response(&mut s, &mut buf);
    assert_eq!(resp.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(closed_by_server(&mut s), "connection must close");
}

/// A middleware that appends its name to `x-order` on the way in.
fn tag(name: &'static str) -> Middleware {
    middleware(move |h: Box<dyn Handler>| {
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            w.headers_mut()
                .append("x-order", HeaderValue::from_static(name));
            h.serve_http(w, r);
        }
    })
}

#[test]
fn chain_runs_first_middleware_outermost() {
    let h = chain(
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .append("x-order", HeaderValue::from_static("handler"));
        },
        [tag("a"), tag("b"), middleware(handlers::log_requests)],
    );
    let (w, _) = serve(&h, request("GET", "/", "h"));
    let order: Vec<&str> = w
        .headers
        .get_all("x-order")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(order, ["a", "b", "handler"]);
}

/// Captures access-log lines (the log crate allows one logger per process).
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "nethttp::access"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn log_requests_writes_one_access_line() {
    let _ = log::set_logger(&LOGS);
    log::set_max_level(log::LevelFilter::Info);
    let h = handlers::log_requests(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.write_header(StatusCode::CREATED);
        let _ = w.write_all(b"0123456789");
    });
    serve(&h, request("POST", "/log-me/7?secret=1", "h"));
    let lines = LOGS.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let line = lines
        .iter()
        .find(|l| l.contains("/log-me/7"))
        .expect("an access line");
    assert!(
        line.starts_with("- \"POST /log-me/7 HTTP/1.1\" 201 10 "),
        "{line}"
    );
    assert!(line.ends_with("ms"), "{line}");
    assert!(!line.contains("secret"), "{line}");
}

/// A response writer whose every write fails, as when the client has gone away.
struct Gone {
    headers: nethttp::HeaderMap,
    status: Option<StatusCode>,
}

impl Write for Gone {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

impl ResponseWriter for Gone {
    fn headers(&self) -> &nethttp::HeaderMap {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut nethttp::HeaderMap {
        &mut self.headers
    }
    fn write_header(&mut self, status: StatusCode) {
        self.status.get_or_insert(status);
    }
    fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

#[test]
fn log_requests_in_common_log_format_and_cut_responses_marked() {
    let _ = log::set_logger(&LOGS);
    log::set_max_level(log::LevelFilter::Info);
    let lines_with = |needle: &str| -> Vec<String> {
        LOGS.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    };
    let h = handlers::log_requests(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path().ends_with("/short") {
            w.headers_mut()
                .insert("content-length", HeaderValue::from_static("100"));
        }
        let _ = w.write_all(b"0123456789");
    })
    .format(handlers::LogFormat::Common);
    let mut r = request("GET", "/clf/ok?secret=1", "h");
    // ann:pw
    r.headers
        .insert("authorization", HeaderValue::from_static("Basic YW5uOnB3"));
    serve(&h, r);
    let line = lines_with("/clf/ok").pop().expect("a CLF line");
    // "- - ann [02/Dec/2026:16:13:08 +0000] \"GET /clf/ok HTTP/1.1\" 200 10"
    let (head, rest) = line.split_once(" [").expect(&line);
    assert_eq!(head, "- - ann", "{line}");
    let (date, request_part) = rest.split_once("] ").expect(&line);
    assert_eq!(date.len(), 26, "{line}");
    assert!(
        date.ends_with(" +0000") && &date[2..3] == "/" && &date[11..12] == ":",
        "{line}"
    );
    assert_eq!(request_part, "\"GET /clf/ok HTTP/1.1\" 200 10", "{line}");

    // Less than the declared length: cut.
    serve(&h, request("GET", "/clf/short", "h"));
    let line = lines_with("/clf/short").pop().expect("a line");
    assert!(line.ends_with("\" 200 10 cut"), "{line}");

    // A client that went away: the write failed, nothing counted, cut.
    let mut gone = Gone {
        headers: nethttp::HeaderMap::new(),
        status: None,
    };
    let mut r = request("GET", "/clf/gone", "h");
    h.serve_http(&mut gone, &mut r);
    let line = lines_with("/clf/gone").pop().expect("a line");
    assert!(line.ends_with("\" 200 - cut"), "{line}");

    // The default format marks it too.
    let plain = handlers::log_requests(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(b"x");
    });
    let mut r = request("GET", "/plain/gone", "h");
    plain.serve_http(&mut gone, &mut r);
    let line = lines_with("/plain/gone").pop().expect("a line");
    assert!(line.ends_with("ms cut"), "{line}");
}

#[test]
fn detect_content_type_table() {
    let mut mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    mp4.resize(32, 0);
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "text/plain; charset=utf-8"),
        (
            "html_doctype",
            b"<!DOCTYPE HTML PUBLIC>",
            "text/html; charset=utf-8",
        ),
        (
            "html_lowercase_ws",
            b"\n\t <html><body>",
            "text/html; charset=utf-8",
        ),
        ("html_comment", b"<!-- c -->", "text/html; charset=utf-8"),
        ("html_p", b"<p>para</p>", "text/html; charset=utf-8"),
        (
            "html_tag_needs_terminator",
            b"<pre>x</pre>",
            "text/plain; charset=utf-8",
        ),
        (
            "xml",
            b"  <?xml version=\"1.0\"?><a/>",
            "text/xml; charset=utf-8",
        ),
        ("pdf", b"%PDF-1.7\n", "application/pdf"),
        ("postscript", b"%!PS-Adobe-3.0", "application/postscript"),
        (
            "utf16be_bom",
            b"\xfe\xff\x00h",
            "text/plain; charset=utf-16be",
        ),
        (
            "utf16le_bom",
            b"\xff\xfeh\x00",
            "text/plain; charset=utf-16le",
        ),
        ("utf8_bom", b"\xef\xbb\xbfhi", "text/plain; charset=utf-8"),
        ("ico", b"\x00\x00\x01\x00\x01\x00", "image/x-icon"),
        ("bmp", b"BM\x00\x00", "image/bmp"),
        ("gif87", b"GIF87a....", "image/gif"),
        ("gif89", b"GIF89a....", "image/gif"),
        ("webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        ("aiff", b"FORM\x00\x00\x00\x00AIFFCOMM", "audio/aiff"),
        ("mp3_id3", b"ID3\x03\x00", "audio/mpeg"),
        ("ogg", b"OggS\x00\x02", "application/ogg"),
        ("midi", b"MThd\x00\x00\x00\x06\x00\x01", "audio/midi"),
        ("avi", b"RIFF\x00\x00\x00\x00AVI LIST", "video/avi"),
        ("wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wave"),
        ("mp4", &mp4, "video/mp4"),
        ("webm", b"\x1a\x45\xdf\xa3\x01", "video/webm"),
        ("ttf", b"\x00\x01\x00\x00\x00\x0e", "font/ttf"),
        ("otf", b"OTTO\x00\x0b", "font/otf"),
        ("ttc", b"ttcf\x00\x01", "font/collection"),
        ("woff", b"wOFF\x00\x01", "font/woff"),
        ("woff2", b"wOF2\x00\x01", "font/woff2"),
        ("gzip", b"\x1f\x8b\x08\x00", "application/x-gzip"),
        ("zip", b"PK\x03\x04\x14\x00", "application/zip"),
        (
            "rar4",
            b"Rar!\x1a\x07\x00\xcf",
            "application/x-rar-compressed",
        ),
        (
            "rar5",
            b"Rar!\x1a\x07\x01\x00",
            "application/x-rar-compressed",
        ),
        (
            "7z",
            b"7z\xbc\xaf\x27\x1c\x00\x04",
            "application/x-7z-compressed",
        ),
        ("wasm", b"\x00asm\x01\x00\x00\x00", "application/wasm"),
        ("json_is_text", b"{\"a\": 1}", "text/plain; charset=utf-8"),
        (
            "utf8_text",
            "héllo wörld\n".as_bytes(),
            "text/plain; charset=utf-8",
        ),
        ("binary", b"\x01\x02\x03hello", "application/octet-stream"),
        (
            "riff_unknown",
            b"RIFF\x00\x00\x00\x00XXXX",
            "application/octet-stream",
        ),
    ];
    for (name, data, want) in cases {
        assert_eq!(detect_content_type(data), *want, "{name}");
    }
    let mut eot = vec![0u8; 34];
    eot.extend_from_slice(b"LP\x01\x02");
    assert_eq!(detect_content_type(&eot), "application/vnd.ms-fontobject");
}

#[test]
fn sniffing_wrapper() {
    // Small writes are joined before deciding.
    let h = sniff_content_type(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(b"<ht");
        let _ = w.write_all(b"ml><body>hi</body></html>");
    });
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(w.body_str(), "<html><body>hi</body></html>");

    // A type or an encoding set by the handler wins.
    for (name, value) in [("content-type", "text/css"), ("content-encoding", "gzip")] {
        let h = sniff_content_type(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert(name, HeaderValue::from_static(value));
            let _ = w.write_all(b"<html>");
        });
        let (w, _) = serve(&h, request("GET", "/", "h"));
        assert_eq!(w.header(name), Some(value));
        if name == "content-encoding" {
            assert_eq!(w.header("content-type"), None);
        }
    }

    // Past 512 bytes the decision is made and everything arrives in order.
    let data: Vec<u8> = (0..2000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let d = data.clone();
    let h = sniff_content_type(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        for c in d.chunks(100) {
            let _ = w.write_all(c);
        }
    });
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.body, data);
    let sent = w.sent_headers.as_ref().expect("sent");
    assert_eq!(
        sent.get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/plain; charset=utf-8"[..])
    );

    // A flush decides early, from what there is.
    let h = sniff_content_type(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(b"%PDF-1.4");
        let _ = w.flush();
        let _ = w.write_all(b"<html>");
    });
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.header("content-type"), Some("application/pdf"));
    assert_eq!(w.flushes, 1);

    // No body, no type.
    let h = sniff_content_type(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.write_header(StatusCode::NO_CONTENT);
    });
    let (w, _) = serve(&h, request("GET", "/", "h"));
    assert_eq!(w.header("content-type"), None);
}

/// The server names the type of a body whose handler did not, from its first bytes (Go's
/// server does the same); not with Content-Encoding set, and not for an empty body.
#[test]
fn server_sniffs_content_type_like_go() {
    use nethttp::{httptest, Request, ResponseWriter};
    let ts =
        httptest::Server::new(
            |w: &mut dyn ResponseWriter, r: &mut Request| match r.uri.path() {
                "/html" => {
                    let _ = w.write_all(b"<!DOCTYPE html><html><body>hi</body></html>");
                }
                "/big-png" => {
                    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
                    b.resize(20_000, 0);
                    let _ = w.write_all(&b);
                }
                "/encoded" => {
                    w.headers_mut()
                        .insert("content-encoding", "gzip".parse().unwrap());
                    let _ = w.write_all(b"<html>");
                }
                "/set" => {
                    w.headers_mut()
                        .insert("content-type", "application/x-mine".parse().unwrap());
                    let _ = w.write_all(b"<html>");
                }
                _ => {}
            },
        );
    // Only the gzip feature decodes (and asks for) compressed bodies.
    let c = nethttp::Client::with_config(nethttp::client::ClientConfig {
        gzip: false,
        ..Default::default()
    });
    let ct = |path: &str, method: nethttp::Method| {
        let req = Request::new(method, &format!("{}{path}", ts.url())).unwrap();
        let mut resp = c.send(req).unwrap();
        let _ = resp.bytes();
        resp.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
    };
    use nethttp::Method;
    assert_eq!(
        ct("/html", Method::GET).as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        ct("/html", Method::HEAD).as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(ct("/big-png", Method::GET).as_deref(), Some("image/png"));
    assert_eq!(ct("/encoded", Method::GET), None);
    assert_eq!(
        ct("/set", Method::GET).as_deref(),
        Some("application/x-mine")
    );
    assert_eq!(ct("/empty", Method::GET), None);
}
