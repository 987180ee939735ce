//! Go's everyday handler API, end to end over sockets: `ServeMux::handle_func` with closures
//! that need no annotations, forms (`parse_form`, `form_value`, `post_form`) with Go's order
//! and limits, `basic_auth`, `user_agent` and `referer`; a request line with a space in its
//! target is a 400, not a 505.

mod policy_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nethttp::client::Client;
use nethttp::error::{Malformed, TooLarge};
use nethttp::{httptest, ErrorKind, Method, ServeMux, StatusCode};

/// A client that uses no proxy and gives up after 10 s.
fn client() -> Client {
    Client::with_config(policy_support::config())
}

/// The routes under test, registered with `handle_func` and unannotated closures.
fn mux() -> ServeMux {
    let mut mux = ServeMux::new();
    mux.handle_func("/form", |w, r| {
        if let Err(e) = r.parse_form() {
            let status = e.status_hint().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            nethttp::handlers::error(w, &e.to_string(), status);
            return;
        }
        let form = r.form().expect("parsed");
        let mut names = form.names();
        names.sort_unstable();
        for name in names {
            let values: Vec<&str> = form.get_all(name).collect();
            let _ = writeln!(w, "{name}={}", values.join(","));
        }
        let post: Vec<String> = r
            .post_form()
            .expect("parsed")
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let _ = writeln!(w, "post: {}", post.join("&"));
    });
    mux.handle_func("GET /value", |w, r| {
        let v = r.form_value("q").unwrap_or("(none)").to_string();
        let p = r.post_form_value("q").unwrap_or("(none)").to_string();
        let _ = write!(w, "{v} {p}");
    });
    mux.handle_func("GET /auth", |w, r| match r.basic_auth() {
        Some((user, password)) if user == "alice" && password == "s3cret" => {
            let _ = write!(w, "hello {user}");
        }
        _ => {
            w.headers_mut().insert(
                "www-authenticate",
                nethttp::HeaderValue::from_static("Basic realm=\"forms\""),
            );
            nethttp::handlers::error(w, "unauthorized", StatusCode::UNAUTHORIZED);
        }
    });
    mux.handle_func("GET /cookie/set", |w, r| {
        let _ = r.parse_form();
        let pairs: Vec<(String, String)> = r
            .form()
            .map(|f| {
                f.iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (name, value) in pairs {
            let c = nethttp::Cookie {
                path: Some("/".into()),
                http_only: true,
                ..nethttp::Cookie::new(name, value)
            };
            nethttp::set_cookie(w, &c);
        }
    });
    mux.handle_func("GET /cookie/get", |w, r| {
        for c in r.cookies() {
            let _ = writeln!(w, "{}={}", c.name, c.value);
        }
        if let Some(c) = r.cookie("b") {
            let _ = writeln!(w, "b is {}", c.value);
        }
    });
    mux.handle_func("GET /who", |w, r| {
        let _ = write!(
            w,
            "{} | {}",
            r.user_agent().unwrap_or("-"),
            r.referer().unwrap_or("-")
        );
    });
    mux
}

fn post_form(c: &Client, url: &str, body: impl Into<nethttp::Body>) -> (StatusCode, String) {
    let mut resp = c
        .request(Method::POST, url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .unwrap();
    // The /form route echoes what it parsed, which for a body at the limit is as large.
    let body = resp.bytes_limited(4 * nethttp::MAX_FORM_BODY).unwrap();
    (resp.status, String::from_utf8(body).unwrap())
}

#[test]
fn query_and_body_values_in_go_order() {
    let ts = httptest::Server::new(mux());
    let c = client();
    // Query only.
    let mut resp = c.get(&format!("{}/form?b=2&a=1&a=3", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "a=1,3\nb=2\npost: \n");
    // Body values before the query's, for each name; the body alone in post_form.
    let (status, text) = post_form(&c, &format!("{}/form?a=q1&c=q2", ts.url()), "a=b1&d=x+y");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "a=b1,q1\nc=q2\nd=x y\npost: a=b1&d=x y\n");
    // A body of another type is not read as a form.
    let mut resp = c
        .request(Method::POST, &format!("{}/form?a=1", ts.url()))
        .header("content-type", "text/plain")
        .body("a=2")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "a=1\npost: \n");
}

#[test]
fn form_value_parses_on_demand() {
    let ts = httptest::Server::new(mux());
    let c = client();
    let mut resp = c.get(&format!("{}/value?q=%C3%BC+x", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "ü x (none)");
    let mut resp = c.get(&format!("{}/value", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "(none) (none)");
}

#[test]
fn bad_encodings_are_400_and_big_bodies_413() {
    let ts = httptest::Server::new(mux());
    let c = client();
    for (name, url, body) in [
        ("bad_escape_in_body", "/form", "a=%zz"),
        ("semicolon_in_body", "/form", "a=1;b=2"),
        ("not_utf8", "/form", "a=%ff"),
    ] {
        let (status, text) = post_form(&c, &format!("{}{url}", ts.url()), body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {text}");
        assert_eq!(text, "malformed message: invalid form encoding\n", "{name}");
    }
    // A bad escape in the query, sent raw: our client would send it as `%252`.
    let mut s = TcpStream::connect(ts.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /form?a=%2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nb=1")
        .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(
        got.ends_with("malformed message: invalid form encoding\n"),
        "{got}"
    );
    let big = vec![b'a'; (nethttp::MAX_FORM_BODY + 1) as usize];
    let (status, _) = post_form(&c, &format!("{}/form", ts.url()), big);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is fine.
    let mut at_limit = b"a=".to_vec();
    at_limit.resize(nethttp::MAX_FORM_BODY as usize, b'x');
    let (status, text) = post_form(&c, &format!("{}/form", ts.url()), at_limit);
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("a=xxx"));
}

#[test]
fn parse_form_errors_name_their_kind() {
    let mut r = nethttp::Request::new(Method::POST, "/x?ok=1")
        .unwrap()
        .with_header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .unwrap()
        .with_body("a=%zz&b=2");
    let e = r.parse_form().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed(Malformed::Form));
    assert_eq!(e.status_hint(), Some(StatusCode::BAD_REQUEST));
    // The well-formed values are kept, as Go keeps them.
    assert_eq!(r.form_value("b"), Some("2"));
    assert_eq!(r.form_value("ok"), Some("1"));

    let mut r = nethttp::Request::new(Method::PUT, "/x")
        .unwrap()
        .with_header("content-type", "application/x-www-form-urlencoded")
        .unwrap()
        .with_body(vec![b'z'; (nethttp::MAX_FORM_BODY + 10) as usize]);
    let e = r.parse_form().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Body));
    assert_eq!(e.status_hint(), Some(StatusCode::PAYLOAD_TOO_LARGE));
}

#[test]
fn basic_auth_user_agent_and_referer() {
    let ts = httptest::Server::new(mux());
    let c = client();
    let url = format!("{}/auth", ts.url());
    let mut resp = c
        .request(Method::GET, &url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text().unwrap(), "hello alice");
    for (name, auth) in [
        ("wrong_password", Some("Basic YWxpY2U6bm9wZQ==")),
        ("not_base64", Some("Basic !!!")),
        ("no_colon", Some("Basic YWxpY2U=")),
        ("other_scheme", Some("Bearer abc")),
        ("none", None),
    ] {
        let mut req = c.request(Method::GET, &url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(
            resp.headers["www-authenticate"], "Basic realm=\"forms\"",
            "{name}"
        );
    }
    let mut resp = c
        .request(Method::GET, &format!("{}/who", ts.url()))
        .header("user-agent", "probe/1")
        .header("referer", "http://example.test/from")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "probe/1 | http://example.test/from");
}

/// `GET /a b HTTP/1.1`: the version token is fine, the line is not (a space in the target).
/// Go answers 505 here; the request line is malformed, so 400 is right.
#[test]
fn space_in_the_target_is_400_not_505() {
    let ts = httptest::Server::new(mux());
    for (line, want) in [
        ("GET /a b HTTP/1.1", "HTTP/1.1 400 "),
        ("GET /a HTTP/1.2", "HTTP/1.1 505 "),
    ] {
        let mut s = TcpStream::connect(ts.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // In two writes, as a client may send it: the verdict must wait for the whole line.
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\r\nHost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with(want), "{line:?}: {text}");
    }
}

#[test]
fn cookies_set_and_read() {
    let ts = httptest::Server::new(mux());
    let c = client();
    let resp = c
        .get(&format!("{}/cookie/set?a=1&bad+name=2&c=x+y", ts.url()))
        .unwrap();
    let set: Vec<&str> = resp
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    // The invalid name is dropped, as Go drops it; a value with a space is quoted.
    assert_eq!(
        set,
        ["a=1; Path=/; HttpOnly", "c=\"x y\"; Path=/; HttpOnly"]
    );
    let mut resp = c
        .request(Method::GET, &format!("{}/cookie/get", ts.url()))
        .header("cookie", "a=1; b=\"two\"; bad name=3; c=x\\y")
        .header("cookie", "b=4")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "a=1\nb=two\nb=4\nb is two\n");
}

/// `register_on_shutdown` (Go's `RegisterOnShutdown`): each function runs once, on its own
/// thread, when shutdown begins; `close` runs none.
#[test]
fn on_shutdown_functions_run_once() {
    let srv = nethttp::Server::new(mux());
    let (tx, rx) = std::sync::mpsc::channel();
    for n in 0..2 {
        let tx = tx.clone();
        srv.register_on_shutdown(move || {
            let _ = tx.send(n);
        });
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = srv.clone();
    let serving = std::thread::spawn(move || s.serve(listener));
    assert!(rx.try_recv().is_err(), "nothing runs before shutdown");
    srv.shutdown(Duration::from_secs(5)).unwrap();
    let mut got = [
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
    ];
    got.sort_unstable();
    assert_eq!(got, [0, 1]);
    // `serve` returns Ok after a shutdown while it served, or ServerClosed if the shutdown
    // came before it started.
    match serving.join().unwrap() {
        Ok(()) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::ServerClosed, "{e}"),
    }
    // A second shutdown runs nothing again.
    srv.shutdown(Duration::from_secs(1)).unwrap();
    drop(tx);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

/// `ServeMux::handler` (Go's `ServeMux.Handler`) names the pattern a request would get.
#[test]
fn mux_handler_names_the_pattern() {
    let m = mux();
    let req = |method: Method, target: &str| nethttp::Request::new(method, target).unwrap();
    let cases = [
        ("found", req(Method::GET, "/auth"), Some("GET /auth")),
        (
            "head_matches_get",
            req(Method::HEAD, "/who"),
            Some("GET /who"),
        ),
        ("any_method", req(Method::DELETE, "/form"), Some("/form")),
        ("method_not_allowed", req(Method::POST, "/auth"), None),
        ("not_found", req(Method::GET, "/nope"), None),
        (
            "unclean_path_redirects",
            req(Method::GET, "/a/../auth"),
            None,
        ),
    ];
    for (name, r, want) in cases {
        assert_eq!(m.handler(&r).map(|(_, p)| p), want, "{name}");
    }
}

/// `allow_query_semicolons` (Go's `AllowQuerySemicolons`) over a real connection.
#[test]
fn query_semicolons_only_when_allowed() {
    let ts = httptest::Server::new(nethttp::handlers::allow_query_semicolons(mux()));
    let c = client();
    let mut resp = c.get(&format!("{}/form?a=1;b=2", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "a=1\nb=2\npost: \n");
    // Without the wrapper a ';' is refused, as Go refuses it since 1.17.
    let ts = httptest::Server::new(mux());
    let resp = c.get(&format!("{}/form?a=1;b=2", ts.url())).unwrap();
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

/// Go's `ResponseController.SetWriteDeadline` / `SetReadDeadline`: a handler moves its own
/// time limits. With `write_timeout` and `read_timeout` of 300 ms, a handler that works for
/// 600 ms between writes (or whose client sends the body slowly) fails, unless it first moves
/// the deadline. The pauses are the slowness under test, not synchronisation.
#[test]
fn handlers_move_their_own_deadlines() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<(String, bool)>();
    let tx = std::sync::Mutex::new(tx);
    let mut mux = ServeMux::new();
    mux.handle_func("/write", move |w, r| {
        let extend = r.uri.query() == Some("extend");
        if extend {
            w.set_write_deadline(Some(std::time::Instant::now() + Duration::from_secs(5)))
                .unwrap();
        }
        let _ = w.write_all(b"a");
        let _ = w.flush();
        std::thread::sleep(Duration::from_millis(600)); // slow work
        let ok = w.write_all(b"b").and_then(|()| w.flush()).is_ok();
        let _ = tx
            .lock()
            .unwrap()
            .send((format!("write extend={extend}"), ok));
    });
    let (rtx, rrx) = mpsc::channel::<(String, bool)>();
    let rtx = std::sync::Mutex::new(rtx);
    mux.handle_func("/read", move |w, r| {
        let extend = r.uri.query() == Some("extend");
        if extend {
            w.set_read_deadline(None).unwrap();
        }
        let mut body = Vec::new();
        let ok = r.body().read_to_end(&mut body).is_ok() && body == b"hello";
        let _ = rtx
            .lock()
            .unwrap()
            .send((format!("read extend={extend}"), ok));
    });
    let cfg = nethttp::server::Config {
        write_timeout: Some(Duration::from_millis(300)),
        read_timeout: Some(Duration::from_millis(300)),
        ..nethttp::server::Config::default()
    };
    let ts = httptest::Server::with_config(cfg, mux);
    for extend in [false, true] {
        let mut s = TcpStream::connect(ts.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = if extend { "?extend" } else { "" };
        write!(
            s,
            "GET /write{q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let (what, ok) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ok, extend, "{what}");
        let mut s = TcpStream::connect(ts.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /read{q} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhe"
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(600)); // a slow client
        let _ = s.write_all(b"llo");
        let (what, ok) = rrx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ok, extend, "{what}");
    }
}

/// Writers without a connection say they cannot take deadlines (Go's `ErrNotSupported`).
#[test]
fn a_recorder_has_no_deadlines() {
    let mut w = httptest::ResponseRecorder::new();
    let e = nethttp::ResponseWriter::set_write_deadline(&mut w, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// A long-poll handler learns that its client went away without reading the socket (Go's
/// `r.Context().Done()`), and a client that stays is not reported gone.
#[test]
fn a_handler_sees_its_client_go() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<bool>();
    let tx = std::sync::Mutex::new(tx);
    let mut mux = ServeMux::new();
    mux.handle_func("/poll", move |w, _r| {
        let tx = tx.lock().unwrap().clone();
        let _ = tx.send(w.client_gone()); // at once: still there
                                          // A long poll: waits for news, checking now and then whether anyone still listens.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < until {
            if w.client_gone() {
                let _ = tx.send(true);
                return;
            }
            std::thread::sleep(Duration::from_millis(10)); // the poll's own interval
        }
        let _ = tx.send(false);
    });
    let ts = httptest::Server::new(mux);
    let mut s = TcpStream::connect(ts.addr()).unwrap();
    write!(s, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        !rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "reported gone at once"
    );
    drop(s);
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "the client's close was not seen"
    );
}

/// Trailers from a handler, as Go: names announced in `Trailer` before the body, their
/// values set after it; unannounced ones through `trailers_mut` (Go's `TrailerPrefix`);
/// fields that frame a message never sent as trailers.
#[test]
fn trailers_from_handlers() {
    let mut mux = ServeMux::new();
    mux.handle_func("/announced", |w, _r| {
        w.headers_mut().insert(
            "trailer",
            nethttp::HeaderValue::from_static("X-Sum, Content-Length"),
        );
        w.headers_mut()
            .insert("x-sum", nethttp::HeaderValue::from_static("early"));
        let _ = w.write_all(b"hello");
        w.headers_mut()
            .insert("x-sum", nethttp::HeaderValue::from_static("5"));
    });
    mux.handle_func("/unannounced", |w, _r| {
        let _ = w.write_all(&[b'x'; 100_000]); // larger than the buffer: chunked
        let t = w
            .trailers_mut()
            .expect("the server's writer sends trailers");
        t.insert("x-late", nethttp::HeaderValue::from_static("1"));
        t.insert("content-length", nethttp::HeaderValue::from_static("9"));
    });
    let ts = httptest::Server::new(mux);
    let c = client();

    let mut resp = c.get(&format!("{}/announced", ts.url())).unwrap();
    assert_eq!(resp.headers["transfer-encoding"], "chunked");
    assert!(
        resp.headers.get("x-sum").is_none(),
        "an announced name stays out of the head"
    );
    assert!(resp.headers.get("content-length").is_none());
    assert_eq!(resp.text().unwrap(), "hello");
    let t = resp.trailers().expect("trailers after the body");
    assert_eq!(t["x-sum"], "5");
    assert!(t.get("content-length").is_none(), "never a trailer");

    let mut resp = c.get(&format!("{}/unannounced", ts.url())).unwrap();
    assert_eq!(resp.bytes().unwrap().len(), 100_000);
    let t = resp.trailers().expect("trailers after the body");
    assert_eq!(t["x-late"], "1");
    assert!(t.get("content-length").is_none());

    // HTTP/1.0 has no chunked framing, so no trailers: the body is whole all the same.
    let mut s = TcpStream::connect(ts.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /announced HTTP/1.0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(!text.contains("chunked"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");
}
