//! Client fidelity: the client sends requests as Go's does and reads what Go's reads, against
//! scripted raw servers that record the exact bytes on the wire: URLs with spaces and non-ASCII
//! characters, large response heads, transfer codings other than chunked; and errors that name
//! what failed (the URL, the host and port) and say what they are.

mod client_support;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use client_support::*;
use nethttp::client::{Client, ClientConfig, RedirectPolicy, Transport, TransportConfig};
use nethttp::cookie::SameSite;
use nethttp::error::{Malformed, TooLarge};
use nethttp::net::{Resolve, TcpDialer};
use nethttp::proto::head::{parse_request, Parsed};
use nethttp::{Cookie, ErrorKind, Method};

const BUDGET: Duration = Duration::from_secs(60);

/// A client with no proxy from the environment and its own transport, for leak checks.
fn client() -> (Client, Transport) {
    let t = Transport::with_config(TransportConfig {
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    let c = Client::with_config(ClientConfig {
        transport: Some(std::sync::Arc::new(t.clone())),
        timeout: Some(REQ_TIMEOUT),
        ..ClientConfig::default()
    });
    (c, t)
}

/// A raw server that records the request line of each request and answers 200 "ok".
fn recording_server() -> (RawServer, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(head) = c.read_head_bytes() {
            let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
            let _ = tx
                .lock()
                .unwrap()
                .send(String::from_utf8_lossy(line).into_owned());
            if !c.send(ok_response("ok")) {
                return;
            }
        }
    });
    (srv, rx)
}

#[test]
fn urls_are_percent_encoded_on_the_wire_as_go_does() {
    let _w = Watchdog::new("urls_are_percent_encoded_on_the_wire_as_go_does", BUDGET);
    let (srv, lines) = recording_server();
    let (c, t) = client();
    // (path and query as typed, request line Go's client writes; for the query Go writes the
    // raw bytes, which HTTP/1.1 does not allow, and we encode them).
    let cases = [
        ("/a b", "GET /a%20b HTTP/1.1"),
        ("/ü/ß", "GET /%C3%BC/%C3%9F HTTP/1.1"),
        ("/a%20b", "GET /a%20b HTTP/1.1"),
        ("/a%2Fb", "GET /a%2Fb HTTP/1.1"),
        (
            "/a\"b{c}|d^e`f\\g",
            "GET /a%22b%7Bc%7D%7Cd%5Ee%60f%5Cg HTTP/1.1",
        ),
        ("/~u/(x)*'!;,=:@$&+", "GET /~u/(x)*'!;,=:@$&+ HTTP/1.1"),
        ("/p?q=a b&r=ü#frag", "GET /p?q=a%20b&r=%C3%BC HTTP/1.1"),
        ("/p?q=a%20b+c", "GET /p?q=a%20b+c HTTP/1.1"),
        ("/é?x=%zz", "GET /%C3%A9?x=%25zz HTTP/1.1"),
    ];
    for (path, want) in cases {
        let url = format!("http://{}{path}", srv.addr());
        let mut resp = c.get(&url).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(text(&mut resp), "ok");
        let got = lines.recv_timeout(REQ_TIMEOUT).expect("request line");
        assert_eq!(got, want, "{path}");
    }
    // Through the request builder and Request::new alike.
    let url = format!("http://{}/x y", srv.addr());
    let mut resp = c.request(Method::PUT, &url).body("b").send().unwrap();
    assert_eq!(text(&mut resp), "ok");
    assert_eq!(
        lines.recv_timeout(REQ_TIMEOUT).unwrap(),
        "PUT /x%20y HTTP/1.1"
    );
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn urls_that_cannot_be_sent_are_refused_with_the_reason() {
    let (c, t) = client();
    let cases = [
        (
            "http://127.0.0.1:1/a%zz",
            "invalid input: invalid url \"http://127.0.0.1:1/a%zz\": invalid url escape \"%zz\"",
        ),
        (
            "http://127.0.0.1:1/a\tb",
            "invalid input: invalid url \"http://127.0.0.1:1/a\\tb\": invalid control character in url",
        ),
        (
            "http://user:secret@127.0.0.1:1/%",
            "invalid input: invalid url \"http://user:xxxxx@127.0.0.1:1/%\": invalid url escape \"%\"",
        ),
    ];
    for (url, want) in cases {
        let e = c.get(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{url}");
        assert_eq!(e.to_string(), want, "{url}");
    }
    drop(c);
    assert_no_leaks(&t);
}

/// A response head with `n` `Set-Cookie` fields of about 25 bytes each.
fn many_cookies(n: usize) -> String {
    let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
    for i in 0..n {
        head.push_str(&format!("Set-Cookie: c{i}=v{i}; Path=/\r\n"));
    }
    head.push_str("\r\nok");
    head
}

#[test]
fn a_head_with_hundreds_of_fields_is_read_as_go_reads_it() {
    let _w = Watchdog::new("a_head_with_hundreds_of_fields_is_read", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        while c.read_head_bytes().is_some() {
            if !c.send(many_cookies(1000)) {
                return;
            }
        }
    });
    let (c, t) = client();
    let mut resp = c.get(&srv.url("/")).unwrap();
    assert_eq!(resp.headers.get_all("set-cookie").iter().count(), 1000);
    assert_eq!(text(&mut resp), "ok");
    drop(c);
    assert_no_leaks(&t);
}

/// A head with more distinct field names than http's `HeaderMap` holds (32,768, where its
/// `append` panics) is a `TooLarge` error for the caller, and the connection is not reused.
#[test]
fn more_distinct_fields_than_a_header_map_holds_is_an_error() {
    let _w = Watchdog::new("more_distinct_fields_than_a_header_map_holds", BUDGET);
    let srv = RawServer::start(|mut c, n| {
        while c.read_head_bytes().is_some() {
            let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
            if n == 0 {
                for i in 0..40_000 {
                    head.push_str(&format!("x-{i}: v\r\n"));
                }
            }
            head.push_str("\r\nok");
            if !c.send(head) {
                return;
            }
        }
    });
    let (c, t) = client();
    let e = c.get(&srv.url("/")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::HeaderCount), "{e}");
    // The next request gets a new connection, and its answer.
    let mut resp = c.get(&srv.url("/")).unwrap();
    assert_eq!(text(&mut resp), "ok");
    assert_eq!(srv.accepted(), 2);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn the_response_head_limit_is_the_callers_to_set() {
    let _w = Watchdog::new("the_response_head_limit_is_the_callers_to_set", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        while c.read_head_bytes().is_some() {
            if !c.send(many_cookies(200)) {
                return;
            }
        }
    });
    let head_len = many_cookies(200).len() - 2;
    for (limit, ok) in [(head_len, true), (head_len - 1, false), (4096, false)] {
        let t = Transport::with_config(TransportConfig {
            proxy: nethttp::client::Proxy::none(),
            max_response_header_bytes: limit,
            ..TransportConfig::default()
        });
        let c = Client::with_config(ClientConfig {
            transport: Some(std::sync::Arc::new(t.clone())),
            timeout: Some(REQ_TIMEOUT),
            ..ClientConfig::default()
        });
        match c.get(&srv.url("/")) {
            Ok(mut resp) if ok => assert_eq!(text(&mut resp), "ok"),
            Err(e) if !ok => {
                assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Head), "{limit}");
                assert_eq!(
                    e.to_string(),
                    format!("GET {}: message head too large", srv.url("/"))
                );
            }
            other => panic!("limit {limit}: {:?}", other.map(|r| r.status)),
        }
        drop(c);
        assert_no_leaks(&t);
    }
}

#[test]
fn transfer_codings_other_than_chunked_are_refused_by_name() {
    let _w = Watchdog::new("transfer_codings_other_than_chunked", BUDGET);
    let cases = [
        ("gzip, chunked", "\"gzip\""),
        ("gzip", "\"gzip\""),
        ("chunked, br", "\"br\""),
        ("x-custom, chunked", "\"x-custom\""),
    ];
    for (te, name) in cases {
        let resp =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        let srv = RawServer::start(move |mut c, _| {
            if c.read_head_bytes().is_some() {
                c.send(&resp);
            }
        });
        let (c, t) = client();
        let e = c.get(&srv.url("/")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedTransferCoding, "{te}");
        assert_eq!(
            e.to_string(),
            format!("GET {}: unsupported transfer coding: {name}", srv.url("/")),
            "{te}"
        );
        drop(c);
        assert_no_leaks(&t);
    }
}

/// A resolver for the tests: names in the table resolve to their address, others fail as the
/// system resolver does for an unknown name.
#[derive(Debug)]
struct Hosts(Vec<(&'static str, Option<std::net::IpAddr>)>);

impl Resolve for Hosts {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
        match self.0.iter().find(|(h, _)| *h == host) {
            Some((_, Some(ip))) => Ok(vec![std::net::SocketAddr::new(*ip, port)]),
            Some((_, None)) => Ok(Vec::new()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            )),
        }
    }
}

fn client_resolving(hosts: Hosts) -> (Client, Transport) {
    let dialer = TcpDialer {
        resolver: Some(Arc::new(hosts)),
        ..TcpDialer::default()
    };
    let t = Transport::with_config(TransportConfig {
        proxy: nethttp::client::Proxy::none(),
        dialer: Arc::new(dialer),
        ..TransportConfig::default()
    });
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(REQ_TIMEOUT),
        ..ClientConfig::default()
    });
    (c, t)
}

#[test]
fn lookup_failures_are_dns_errors_naming_the_host_and_url() {
    let _w = Watchdog::new("lookup_failures_are_dns_errors", BUDGET);
    let (c, t) = client_resolving(Hosts(vec![("empty.test", None)]));
    let cases = [
        (
            "http://db.test/q?x=1",
            "GET http://db.test/q?x=1: cannot resolve host db.test: no such host",
        ),
        (
            "http://empty.test:8080/",
            "GET http://empty.test:8080/: cannot resolve host empty.test: no addresses",
        ),
        // Credentials in the URL are sent as Authorization and are in no message.
        (
            "http://user:secret@db.test/",
            "GET http://db.test/: cannot resolve host db.test: no such host",
        ),
    ];
    for (url, want) in cases {
        let e = c.get(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Dns, "{url}");
        assert!(e.is_dns() && e.is_connect(), "{url}");
        assert!(!e.is_timeout() && !e.is_tls() && !e.is_status(), "{url}");
        assert_eq!(e.to_string(), want);
        assert!(!e.url().unwrap_or_default().contains("secret"));
    }
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn a_custom_resolver_pins_a_name_to_an_address() {
    let _w = Watchdog::new("a_custom_resolver_pins_a_name", BUDGET);
    let (srv, lines) = recording_server();
    let (c, t) = client_resolving(Hosts(vec![("api.test", Some(srv.addr().ip()))]));
    let mut resp = c
        .get(&format!("http://api.test:{}/v1", srv.addr().port()))
        .unwrap();
    assert_eq!(text(&mut resp), "ok");
    assert_eq!(lines.recv_timeout(REQ_TIMEOUT).unwrap(), "GET /v1 HTTP/1.1");
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn status_errors_name_the_url_and_answer_is_status() {
    let _w = Watchdog::new("status_errors_name_the_url", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        while c.read_head_bytes().is_some() {
            if !c.send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") {
                return;
            }
        }
    });
    let (c, t) = client();
    let url = srv.url("/missing");
    let e = c.get(&url).unwrap().error_for_status().unwrap_err();
    assert!(e.is_status() && !e.is_connect());
    assert_eq!(e.status(), Some(nethttp::StatusCode::NOT_FOUND));
    assert_eq!(e.url(), Some(url.as_str()));
    assert_eq!(
        e.to_string(),
        format!("{url}: server answered 404 not found")
    );
    drop(c);
    assert_no_leaks(&t);
}

/// A raw server that sends each request head it reads (as bytes on the wire) over `tx`,
/// reads the body, and answers with `resp`.
fn scripted(resp: &'static str) -> (RawServer, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(head) = c.read_head_bytes() {
            let limits = nethttp::proto::Limits::default();
            let Ok(Parsed::Complete { head: parsed, .. }) = parse_request(&head, &limits) else {
                return;
            };
            if c.read_body(&parsed).is_err() {
                return;
            }
            let _ = tx
                .lock()
                .unwrap()
                .send(String::from_utf8_lossy(&head).into_owned());
            if !c.send(resp) {
                return;
            }
        }
    });
    (srv, rx)
}

#[test]
fn cookies_go_out_on_requests_and_come_back_from_responses() {
    let _w = Watchdog::new("cookies_go_out_on_requests", BUDGET);
    let (srv, heads) = scripted(
        "HTTP/1.1 200 OK\r\n\
         Set-Cookie: session=abc; Path=/; HttpOnly; Max-Age=3600\r\n\
         Set-Cookie: theme=\"dark mode\"; SameSite=Lax; Expires=Tue, 14-Nov-2023 22:13:20 GMT\r\n\
         Set-Cookie: bad name=1\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let (c, t) = client();
    let mut req = nethttp::Request::new(Method::GET, &srv.url("/")).unwrap();
    assert!(req.add_cookie(&Cookie::new("a", "1")));
    assert!(req.add_cookie(&Cookie::new("b", "x y")));
    assert!(!req.add_cookie(&Cookie::new("no good", "z")));
    let resp = c.send(req).unwrap();
    let head = heads.recv_timeout(REQ_TIMEOUT).unwrap();
    assert!(head.contains("\r\ncookie: a=1; b=\"x y\"\r\n"), "{head}");
    assert_eq!(head.matches("cookie:").count(), 1, "{head}");

    let got = resp.cookies();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].name.as_str(), got[0].value.as_str()),
        ("session", "abc")
    );
    assert_eq!(got[0].path.as_deref(), Some("/"));
    assert!(got[0].http_only);
    assert_eq!(got[0].max_age, Some(3600));
    assert_eq!(
        (got[1].name.as_str(), got[1].value.as_str()),
        ("theme", "dark mode")
    );
    assert_eq!(got[1].same_site, Some(SameSite::Lax));
    assert_eq!(
        got[1].expires,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    );
    drop((resp, c));
    assert_no_leaks(&t);
}

#[test]
fn location_is_resolved_against_the_response_url() {
    let _w = Watchdog::new("location_is_resolved", BUDGET);
    let srv = RawServer::start(|mut c, _| {
        while let Some(head) = c.read_head_bytes() {
            let path = String::from_utf8_lossy(&head)
                .split(' ')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let location = match path.as_str() {
                "/dir/sub/rel" => "Location: ../b c?x=ü#top\r\n",
                "/abs" => "Location: https://other.test/z\r\n",
                "/ftp" => "Location: ftp://files.test/z\r\n",
                _ => "",
            };
            let resp = format!("HTTP/1.1 302 Found\r\n{location}Content-Length: 0\r\n\r\n");
            if !c.send(resp) {
                return;
            }
        }
    });
    let t = Transport::with_config(TransportConfig {
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(REQ_TIMEOUT),
        redirect: RedirectPolicy::none(),
        ..ClientConfig::default()
    });
    let loc = |path: &str| c.get(&srv.url(path)).unwrap().location();
    assert_eq!(
        loc("/dir/sub/rel").unwrap().unwrap(),
        srv.url("/dir/b%20c?x=%C3%BC").as_str()
    );
    assert_eq!(loc("/abs").unwrap().unwrap(), "https://other.test/z");
    assert_eq!(loc("/none").unwrap(), None);
    // Any scheme, as Go's Response.Location; with redirects off the 302 comes back.
    assert_eq!(loc("/ftp").unwrap().unwrap(), "ftp://files.test/z");
    // A client that follows refuses it, naming the request that got it.
    let (follow, t2) = client();
    let e = follow.get(&srv.url("/ftp")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed(Malformed::Location));
    assert_eq!(
        e.to_string(),
        format!(
            "GET {}: malformed message: invalid location in redirect: \"ftp://files.test/z\": not an http or https url",
            srv.url("/ftp")
        )
    );
    drop((c, follow));
    assert_no_leaks(&t2);
    assert_no_leaks(&t);
}

#[test]
fn a_request_with_a_replayable_body_clones_and_a_streamed_one_does_not() {
    let _w = Watchdog::new("a_request_clones", BUDGET);
    let (srv, heads) = scripted("HTTP/1.1 204 No Content\r\n\r\n");
    let (c, t) = client();
    let mut req = nethttp::Request::new(Method::PUT, &srv.url("/a"))
        .unwrap()
        .with_body("xyz");
    req.headers
        .insert("x-trace", nethttp::HeaderValue::from_static("1"));
    let copy = req.try_clone().expect("bytes can be sent twice");
    for r in [req, copy] {
        c.send(r).unwrap();
        let head = heads.recv_timeout(REQ_TIMEOUT).unwrap();
        assert!(head.starts_with("PUT /a HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nx-trace: 1\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 3\r\n"), "{head}");
    }
    let streamed = nethttp::Request::new(Method::PUT, &srv.url("/a"))
        .unwrap()
        .with_body(nethttp::Body::from_reader(std::io::Cursor::new(
            b"abc".to_vec(),
        )));
    assert!(streamed.try_clone().is_none());
    drop(c);
    assert_no_leaks(&t);
}
