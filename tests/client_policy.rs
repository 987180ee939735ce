//! Client policy against the crate's own server: redirects (Go's rules, table-driven),
//! credentials across hosts, Referer, limits and the redirect hook; the overall timeout;
//! cookies; gzip; JSON, form, query and auth; a forwarding proxy and CONNECT tunnels to fake
//! proxies on loopback.

mod policy_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nethttp::client::{
    Client, ClientConfig, Proxy, RedirectAction, RedirectPolicy, TransportConfig,
};
use nethttp::error::{Malformed, TimeoutPhase, TooLarge};
use nethttp::httptest::Server;
use nethttp::server::{Body, ConnState};
use nethttp::{ErrorKind, HeaderMap, Method, Request, ResponseWriter, StatusCode};
use policy_support::{config, no_proxy, transport};

fn client() -> Client {
    Client::with_config(config())
}

/// A test server that counts the connections it accepts.
fn counted(handler: impl nethttp::Handler) -> (Server, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = Arc::clone(&n);
    let cfg = nethttp::server::Config {
        conn_state: Some(Arc::new(move |_, state| {
            if state == ConnState::New {
                n2.fetch_add(1, Ordering::SeqCst);
            }
        })),
        ..nethttp::server::Config::default()
    };
    (Server::with_config(cfg, handler), n)
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

fn set(w: &mut dyn ResponseWriter, name: &'static str, value: &str) {
    w.headers_mut()
        .insert(name, value.parse().expect("header value"));
}

/// Redirects `/r/{code}` to `/target` with that status; `/target` reports what it got in
/// headers (a HEAD response has no body).
fn redirect_server() -> Server {
    Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let path = r.uri.path().to_string();
        if let Some(code) = path.strip_prefix("/r/") {
            set(w, "location", "/target");
            w.write_header(StatusCode::from_u16(code.parse().unwrap()).unwrap());
            let _ = w.write_all(b"moved");
            return;
        }
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let ct = header(&r.headers, "content-type");
        let method = r.method.to_string();
        set(w, "x-method", &method);
        set(w, "x-body", &String::from_utf8_lossy(&body));
        set(w, "x-content-type", &ct);
        set(w, "x-referer", &header(&r.headers, "referer"));
    })
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Empty,
    Bytes,
    Replayable,
    Stream,
}

fn body(kind: Kind) -> Body {
    match kind {
        Kind::Empty => Body::empty(),
        Kind::Bytes => Body::from("payload"),
        Kind::Replayable => Body::replayable(Some(7), || {
            Ok(Box::new(std::io::Cursor::new(b"payload".to_vec())) as Box<dyn Read + Send>)
        }),
        Kind::Stream => Body::sized(std::io::Cursor::new(b"payload".to_vec()), 7),
    }
}

#[test]
fn redirect_method_and_body_table() {
    let ts = redirect_server();
    let c = client();
    // (status, method, body) -> Some((method at the target, body at the target)), or None
    // when the 3xx itself comes back.
    type Case = (u16, Method, Kind, Option<(&'static str, &'static str)>);
    let cases: &[Case] = &[
        (301, Method::GET, Kind::Empty, Some(("GET", ""))),
        (301, Method::POST, Kind::Bytes, Some(("GET", ""))),
        (302, Method::POST, Kind::Bytes, Some(("GET", ""))),
        (302, Method::PUT, Kind::Stream, Some(("GET", ""))),
        (303, Method::POST, Kind::Bytes, Some(("GET", ""))),
        (303, Method::DELETE, Kind::Empty, Some(("GET", ""))),
        (303, Method::HEAD, Kind::Empty, Some(("HEAD", ""))),
        (302, Method::HEAD, Kind::Empty, Some(("HEAD", ""))),
        (307, Method::POST, Kind::Bytes, Some(("POST", "payload"))),
        (308, Method::PUT, Kind::Bytes, Some(("PUT", "payload"))),
        (
            307,
            Method::POST,
            Kind::Replayable,
            Some(("POST", "payload")),
        ),
        (308, Method::POST, Kind::Empty, Some(("POST", ""))),
        (307, Method::GET, Kind::Empty, Some(("GET", ""))),
        (307, Method::POST, Kind::Stream, None),
        (308, Method::PUT, Kind::Stream, None),
    ];
    for (status, method, kind, want) in cases {
        let name = format!("{status} {method} {kind:?}");
        let mut req = Request::new(method.clone(), &format!("{}/r/{status}", ts.url())).unwrap();
        req.headers
            .insert("content-type", "text/plain".parse().unwrap());
        req.replace_body(body(*kind));
        let mut resp = c.send(req).unwrap_or_else(|e| panic!("{name}: {e}"));
        match want {
            Some((m, b)) => {
                assert_eq!(resp.status, 200, "{name}");
                assert_eq!(header(&resp.headers, "x-method"), *m, "{name}");
                assert_eq!(header(&resp.headers, "x-body"), *b, "{name}");
                // RFC 9110 §15.4: fields about a dropped body go with it.
                let ct = if b.is_empty() && *status < 307 {
                    ""
                } else {
                    "text/plain"
                };
                assert_eq!(header(&resp.headers, "x-content-type"), ct, "{name}");
                assert!(resp.url().path().ends_with("/target"), "{name}");
            }
            None => {
                assert_eq!(resp.status.as_u16(), *status, "{name}");
                if *method != Method::HEAD {
                    assert_eq!(resp.text().unwrap(), "moved", "{name}");
                }
            }
        }
    }
}

#[test]
fn redirect_without_location_is_returned() {
    let ts = Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.write_header(StatusCode::FOUND);
        let _ = w.write_all(b"no location");
    });
    let mut resp = client().get(ts.url()).unwrap();
    assert_eq!(resp.status, StatusCode::FOUND);
    assert_eq!(resp.text().unwrap(), "no location");
}

/// `/chain/{n}` redirects to `/chain/{n-1}`; `/chain/0` answers 200.
fn chain_server() -> (Server, Arc<AtomicUsize>) {
    counted(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let n: u32 = r
            .uri
            .path()
            .trim_start_matches("/chain/")
            .parse()
            .unwrap_or(0);
        if n == 0 {
            let _ = w.write_all(b"done");
        } else {
            set(w, "location", &format!("/chain/{}", n - 1));
            w.write_header(StatusCode::FOUND);
        }
    })
}

#[test]
fn redirect_limit() {
    let (ts, conns) = chain_server();
    let c = client();
    let mut resp = c.get(&format!("{}/chain/10", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "done");
    let e = c.get(&format!("{}/chain/11", ts.url())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyRedirects);
    // The message names the request whose answer was one redirect too many.
    assert_eq!(
        e.to_string(),
        format!(
            "GET {}/chain/1: stopped after too many redirects: at most 10 allowed",
            ts.url()
        )
    );

    let b = ClientConfig {
        redirect: RedirectPolicy::limited(2),
        ..config()
    };
    let c = Client::with_config(b);
    assert!(c.get(&format!("{}/chain/2", ts.url())).is_ok());
    let e = c.get(&format!("{}/chain/3", ts.url())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyRedirects);

    // Redirect bodies are drained, so one connection per client carries every chain.
    assert_eq!(
        conns.load(Ordering::SeqCst),
        2,
        "connections were not reused"
    );
}

#[test]
fn redirect_policy_hooks() {
    let (ts, _) = chain_server();
    // none(): the 3xx itself.
    let b = ClientConfig {
        redirect: RedirectPolicy::none(),
        ..config()
    };
    let resp = Client::with_config(b)
        .get(&format!("{}/chain/3", ts.url()))
        .unwrap();
    assert_eq!(resp.status, StatusCode::FOUND);
    assert_eq!(resp.headers["location"], "/chain/2");

    // A hook that stops at the second redirect and sees what it is asked about.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let b = ClientConfig {
        redirect: RedirectPolicy::custom(move |a| {
            s2.lock().unwrap().push((
                a.status(),
                a.method().clone(),
                a.url().path().to_string(),
                a.previous().len(),
            ));
            if a.previous().len() >= 2 {
                RedirectAction::Stop
            } else {
                RedirectAction::Follow
            }
        }),
        ..config()
    };
    let resp = Client::with_config(b)
        .get(&format!("{}/chain/5", ts.url()))
        .unwrap();
    assert_eq!(resp.status, StatusCode::FOUND);
    assert_eq!(resp.url().path(), "/chain/4");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (StatusCode::FOUND, Method::GET, "/chain/4".to_string(), 1),
            (StatusCode::FOUND, Method::GET, "/chain/3".to_string(), 2),
        ]
    );

    // A hook that fails the request.
    let b = ClientConfig {
        redirect: RedirectPolicy::custom(|_| {
            RedirectAction::Error(nethttp::Error::invalid_input("no redirects here"))
        }),
        ..config()
    };
    let e = Client::with_config(b)
        .get(&format!("{}/chain/1", ts.url()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("GET {}/chain/1: invalid input: no redirects here", ts.url())
    );
}

#[test]
fn bad_location_is_an_error() {
    let ts = Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        set(w, "location", "ftp://example.com/file");
        w.write_header(StatusCode::MOVED_PERMANENTLY);
    });
    let e = client().get(ts.url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed(Malformed::Location));
}

type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// Records each request's path and headers, and redirects to the `location` query value.
fn recording_server(seen: &Seen) -> Server {
    let seen = Arc::clone(seen);
    Server::new(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        seen.lock()
            .unwrap()
            .push((r.uri.path().to_string(), r.headers.clone()));
        let to = r.uri.query().and_then(|q| q.strip_prefix("to="));
        if let Some(to) = to {
            let to = to.replace("%3F", "?").replace("%3D", "=");
            set(w, "location", &to);
            w.write_header(StatusCode::FOUND);
        }
    })
}

#[test]
fn credentials_do_not_follow_to_another_host() {
    let seen: Seen = Arc::default();
    let a = recording_server(&seen);
    let b = recording_server(&seen);
    // The same loopback server under another name is another host.
    let b_other = format!("http://localhost:{}", b.addr().port());
    let back = format!("{}/back", a.url());
    let first = format!(
        "{}/start?to={}/same%3Fto={b_other}/cross%3Fto={back}",
        a.url(),
        a.url()
    );
    let mut req = Request::new(Method::GET, &first).unwrap();
    for (k, v) in [
        ("authorization", "Bearer secret"),
        ("cookie", "session=1"),
        ("proxy-authorization", "Basic cHJveHk6cA=="),
        ("www-authenticate", "Basic"),
        ("x-custom", "kept"),
    ] {
        req.headers.insert(k, v.parse().unwrap());
    }
    let resp = client().send(req).unwrap();
    assert_eq!(resp.status, 200);
    let seen = seen.lock().unwrap();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/start", "/same", "/cross", "/back"]);
    for (path, h) in seen.iter() {
        let sensitive_sent = [
            "authorization",
            "cookie",
            "proxy-authorization",
            "www-authenticate",
        ]
        .iter()
        .filter(|n| h.contains_key(**n))
        .count();
        // Same host: all four on the first request, three after a redirect (a proxy
        // credential is never sent on); the other host and after it, even back on the
        // first: none.
        let want = match path.as_str() {
            "/start" => 4,
            "/same" => 3,
            _ => 0,
        };
        assert_eq!(sensitive_sent, want, "{path}: {h:?}");
        assert_eq!(header(h, "x-custom"), "kept", "{path}");
    }
    // Referer: the previous URL.
    assert_eq!(header(&seen[1].1, "referer"), first);
    assert!(header(&seen[3].1, "referer").starts_with(&format!("{b_other}/cross")));
}

#[test]
fn url_credentials_become_basic_auth() {
    let seen: Seen = Arc::default();
    let ts = recording_server(&seen);
    let url = ts.url().replace("http://", "http://ann:s%3Acret@");
    client().get(&format!("{url}/x")).unwrap();
    let seen = seen.lock().unwrap();
    // base64("ann:s:cret")
    assert_eq!(
        header(&seen[0].1, "authorization"),
        "Basic YW5uOnM6Y3JldA=="
    );
    assert!(!header(&seen[0].1, "host").contains('@'));
}

/// A handler that sends a head and part of a body, then stalls until told to go on (or 5 s).
fn stalling_server(release: crossbeam_channel::Receiver<()>) -> Server {
    Server::new(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/head" {
            let _ = release.recv_timeout(Duration::from_secs(5));
            return;
        }
        set(w, "content-length", "100");
        let _ = w.write_all(b"first part");
        let _ = w.flush();
        let _ = release.recv_timeout(Duration::from_secs(5));
    })
}

#[test]
fn timeout_covers_the_body() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ts = stalling_server(rx);
    let b = ClientConfig {
        timeout: Some(Duration::from_millis(500)),
        ..config()
    };
    let c = Client::with_config(b);
    let mut resp = c.get(&format!("{}/body", ts.url())).unwrap();
    let mut buf = [0u8; 10];
    resp.body().read_exact(&mut buf).unwrap();
    let e = resp.bytes().unwrap_err();
    assert_eq!(e.timeout_phase(), Some(TimeoutPhase::ReadBody), "{e:?}");
    assert_eq!(e.to_string(), "timed out reading body");
    tx.send(()).unwrap();
}

#[test]
fn timeout_covers_every_redirect() {
    // Each hop takes 300 ms; five of them do not fit in 1 s, though each one would.
    let ts = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let n: u32 = r.uri.path().trim_start_matches('/').parse().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(300));
        if n > 0 {
            set(w, "location", &format!("/{}", n - 1));
            w.write_header(StatusCode::FOUND);
        }
    });
    let b = ClientConfig {
        timeout: Some(Duration::from_secs(1)),
        ..config()
    };
    let c = Client::with_config(b);
    assert!(c.get(&format!("{}/0", ts.url())).is_ok());
    let e = c.get(&format!("{}/4", ts.url())).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
}

#[test]
fn redirects_and_decoding_leave_no_connection_behind() {
    let (ts, _) = chain_server();
    let t = nethttp::Transport::new();
    let b = ClientConfig {
        transport: Some(Arc::new(t.clone())),
        ..config()
    };
    let c = Client::with_config(b);
    for _ in 0..3 {
        let mut resp = c.get(&format!("{}/chain/4", ts.url())).unwrap();
        assert_eq!(resp.text().unwrap(), "done");
    }
    let stats = t.stats();
    assert_eq!((stats.idle, stats.open), (1, 1), "{stats:?}");
    // A response dropped before its end closes its connection.
    let big = Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(&vec![b'x'; 1 << 20]);
    });
    drop(c.get(big.url()).unwrap());
    assert!(
        wait_for(Duration::from_secs(5), || t.stats().open == 1),
        "{:?}",
        t.stats()
    );
    drop(c);
    t.close_idle_connections();
    assert!(
        wait_for(Duration::from_secs(5), || t.stats().threads == 0),
        "{:?}",
        t.stats()
    );
}

fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn timeout_covers_the_head_and_per_request_timeouts() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ts = stalling_server(rx);
    let b = ClientConfig {
        timeout: Some(Duration::from_millis(500)),
        ..config()
    };
    let e = Client::with_config(b)
        .get(&format!("{}/head", ts.url()))
        .unwrap_err();
    assert_eq!(
        e.timeout_phase(),
        Some(TimeoutPhase::ReadResponseHead),
        "{e:?}"
    );

    // A per-request timeout, sooner than the client's.
    let started = std::time::Instant::now();
    let e = client()
        .request(Method::GET, &format!("{}/head", ts.url()))
        .timeout(Duration::from_millis(200))
        .send()
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    tx.send(()).unwrap();
    tx.send(()).unwrap();
}

#[test]
fn header_timeout_on_the_transport() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let ts = stalling_server(rx);
    let b = ClientConfig {
        transport: transport(TransportConfig {
            response_header_timeout: Some(Duration::from_millis(200)),
            ..no_proxy()
        }),
        ..config()
    };
    let e = Client::with_config(b)
        .get(&format!("{}/head", ts.url()))
        .unwrap_err();
    assert_eq!(
        e.timeout_phase(),
        Some(TimeoutPhase::ReadResponseHead),
        "{e:?}"
    );
    tx.send(()).unwrap();
}

fn echo_server() -> Server {
    Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let report = format!(
            "{} {}\ncontent-type: {}\nauthorization: {}\naccept-encoding: {}\ncookie: {}\n\n{}",
            r.method,
            r.uri,
            header(&r.headers, "content-type"),
            header(&r.headers, "authorization"),
            header(&r.headers, "accept-encoding"),
            header(&r.headers, "cookie"),
            String::from_utf8_lossy(&body)
        );
        let _ = w.write_all(report.as_bytes());
    })
}

#[test]
fn query_form_and_auth() {
    let ts = echo_server();
    let c = client();
    let text = c
        .request(Method::POST, &format!("{}/p?x=1", ts.url()))
        .query(&[("q", "a b&c=d"), ("é", "/?")])
        .form(&[("name", "Zoë O'Neil"), ("tags", "a+b")])
        .basic_auth("user", Some("pa:ss"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.starts_with("POST /p?x=1&q=a+b%26c%3Dd&%C3%A9=%2F%3F\n"),
        "{text}"
    );
    assert!(text.contains("content-type: application/x-www-form-urlencoded\n"));
    assert!(text.contains("authorization: Basic dXNlcjpwYTpzcw==\n"));
    assert!(
        text.ends_with("\n\nname=Zo%C3%AB+O%27Neil&tags=a%2Bb"),
        "{text}"
    );

    let text = c
        .request(Method::GET, &format!("{}/b", ts.url()))
        .bearer_auth("tok")
        .header("x-a", "1")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("authorization: Bearer tok\n"), "{text}");

    let e = c
        .request(Method::GET, &format!("{}/b", ts.url()))
        .header("bad header", "1")
        .send()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn default_headers_and_error_for_status() {
    let ts = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let code = if r.uri.path() == "/missing" { 404 } else { 200 };
        set(w, "x-seen", &header(&r.headers, "x-app"));
        w.write_header(StatusCode::from_u16(code).unwrap());
    });
    let mut h = HeaderMap::new();
    h.insert("x-app", "tool/1".parse().unwrap());
    let b = ClientConfig {
        default_headers: h,
        ..config()
    };
    let c = Client::with_config(b);
    let resp = c.get(&format!("{}/ok", ts.url())).unwrap();
    assert_eq!(resp.headers["x-seen"], "tool/1");
    let resp = resp.error_for_status().unwrap();
    assert_eq!(resp.status, 200);
    let e = c
        .get(&format!("{}/missing", ts.url()))
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status(StatusCode::NOT_FOUND));
    assert_eq!(e.status(), Some(StatusCode::NOT_FOUND));
    // A request that sets the field itself keeps its own.
    let resp = c
        .request(Method::GET, &format!("{}/ok", ts.url()))
        .header("x-app", "mine")
        .send()
        .unwrap();
    assert_eq!(resp.headers["x-seen"], "mine");
}

#[test]
fn body_limit_is_clear() {
    let ts = Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(&[b'x'; 4096]);
    });
    let b = ClientConfig {
        body_limit: 1000,
        ..config()
    };
    let e = Client::with_config(b)
        .get(ts.url())
        .unwrap()
        .bytes()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Body));
    assert_eq!(e.to_string(), "body larger than limit");
}

#[cfg(feature = "json")]
#[test]
fn json_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Item {
        name: String,
        count: u32,
    }
    let ts = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        set(w, "content-type", &header(&r.headers, "content-type"));
        let _ = w.write_all(&body);
    });
    let c = client();
    let item = Item {
        name: "bolt \"M6\"".into(),
        count: 3,
    };
    let mut resp = c
        .request(Method::POST, ts.url())
        .json(&item)
        .send()
        .unwrap();
    assert_eq!(resp.headers["content-type"], "application/json");
    let back: Item = resp.json().unwrap();
    assert_eq!(back, item);

    let mut resp = c.post(ts.url(), "", "[1, 2").unwrap();
    let e = resp.json::<Vec<u32>>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;
    use flate2::write::GzEncoder;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Answers gzip whatever was asked for, and reports the request's Accept-Encoding.
    fn gzip_server() -> (Server, Arc<AtomicUsize>) {
        counted(|w: &mut dyn ResponseWriter, r: &mut Request| {
            set(
                w,
                "x-accept-encoding",
                &header(&r.headers, "accept-encoding"),
            );
            let body = match r.uri.path() {
                "/corrupt" => b"\x1f\x8b\x08\x00 definitely not deflate data".to_vec(),
                "/bomb" => gz(&vec![0u8; 10 << 20]),
                _ => gz(b"hello, gzip"),
            };
            set(w, "content-encoding", "gzip");
            set(w, "content-length", &body.len().to_string());
            let _ = w.write_all(&body);
        })
    }

    #[test]
    fn decoded_transparently_and_connection_reused() {
        let (ts, conns) = gzip_server();
        let c = client();
        for _ in 0..3 {
            let mut resp = c.get(ts.url()).unwrap();
            assert_eq!(resp.headers["x-accept-encoding"], "gzip");
            assert!(resp.uncompressed());
            assert!(resp.headers.get("content-encoding").is_none());
            assert!(resp.headers.get("content-length").is_none());
            assert_eq!(resp.text().unwrap(), "hello, gzip");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1);
    }

    /// The transport writes the client's `Accept-Encoding`, after the request's fields: a
    /// `RoundTripper` between them sees the request's own fields only (as in Go, where the
    /// `Transport` adds it). One that passes the request on, a `try_clone` of it or the request
    /// back from `into_http` and `from_http` still has gzip asked for and decoded; one that
    /// builds a new request does not ask (and a gzip body is still decoded).
    #[test]
    fn asked_for_by_the_transport_behind_a_wrapper() {
        type Pass = fn(Request) -> Request;
        struct Wrap {
            inner: nethttp::Transport,
            pass: Pass,
            seen: Mutex<Vec<(Option<String>, bool)>>,
        }
        impl nethttp::client::RoundTripper for Wrap {
            fn round_trip(&self, mut req: Request) -> nethttp::Result<nethttp::client::Response> {
                let ae = req.headers.get("accept-encoding");
                let ae = ae.map(|v| v.to_str().unwrap_or("?").to_string());
                // A dump shows what the transport writes, the client's field included.
                let dump = nethttp::httputil::dump_request_out(&mut req, false)?;
                let dumped =
                    String::from_utf8_lossy(&dump).contains("\r\nAccept-Encoding: gzip\r\n");
                self.seen.lock().unwrap().push((ae, dumped));
                self.inner.round_trip((self.pass)(req))
            }
        }
        let rebuilt: Pass = |r| {
            let mut n = Request::new(r.method.clone(), &r.uri.to_string()).unwrap();
            n.headers = r.headers.clone();
            n
        };
        // (how the wrapper passes the request on, whether gzip is still asked for)
        let cases: [(&str, Pass, bool); 4] = [
            ("as is", |r| r, true),
            ("try_clone", |r| r.try_clone().unwrap(), true),
            (
                "through http::Request",
                |r| Request::from_http(r.into_http()),
                true,
            ),
            ("rebuilt", rebuilt, false),
        ];
        let (ts, _) = gzip_server();
        for (name, pass, asks) in cases {
            let wrap = Arc::new(Wrap {
                inner: nethttp::Transport::with_config(no_proxy()),
                pass,
                seen: Mutex::new(Vec::new()),
            });
            let c = Client::with_config(ClientConfig {
                transport: Some(wrap.clone()),
                ..config()
            });
            let mut resp = c.get(ts.url()).unwrap();
            let want = if asks { "gzip" } else { "" };
            assert_eq!(resp.headers["x-accept-encoding"], want, "{name}");
            assert!(resp.uncompressed(), "{name}");
            assert_eq!(resp.text().unwrap(), "hello, gzip", "{name}");
            let mut resp = c
                .request(Method::GET, ts.url())
                .header("accept-encoding", "identity")
                .send()
                .unwrap();
            assert_eq!(resp.headers["x-accept-encoding"], "identity", "{name}");
            assert!(!resp.uncompressed(), "{name}");
            assert_eq!(resp.bytes().unwrap(), gz(b"hello, gzip"), "{name}");
            let seen = wrap.seen.lock().unwrap().clone();
            let identity = Some("identity".to_string());
            assert_eq!(seen, [(None, true), (identity, false)], "{name}");
        }
    }

    #[test]
    fn not_asked_for_head_range_or_a_chosen_encoding() {
        let (ts, _) = gzip_server();
        let c = client();
        let resp = c.head(ts.url()).unwrap();
        assert_eq!(resp.headers["x-accept-encoding"], "");

        let mut resp = c
            .request(Method::GET, ts.url())
            .header("range", "bytes=0-3")
            .send()
            .unwrap();
        assert_eq!(resp.headers["x-accept-encoding"], "");
        assert!(!resp.uncompressed());
        assert_eq!(resp.bytes().unwrap(), gz(b"hello, gzip"));

        // The caller asked for it: the caller decodes it.
        let mut resp = c
            .request(Method::GET, ts.url())
            .header("accept-encoding", "gzip")
            .send()
            .unwrap();
        assert_eq!(resp.headers["x-accept-encoding"], "gzip");
        assert!(!resp.uncompressed());
        assert_eq!(resp.headers["content-encoding"], "gzip");
        assert_eq!(resp.bytes().unwrap(), gz(b"hello, gzip"));

        let b = ClientConfig {
            gzip: false,
            ..config()
        };
        let resp = Client::with_config(b).get(ts.url()).unwrap();
        assert_eq!(resp.headers["x-accept-encoding"], "");
        assert!(!resp.uncompressed());
    }

    #[test]
    fn corrupt_stream_is_an_error() {
        let (ts, _) = gzip_server();
        let e = client()
            .get(&format!("{}/corrupt", ts.url()))
            .unwrap()
            .bytes()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode, "{e:?}");
    }

    #[test]
    fn bomb_respects_the_limit() {
        let (ts, _) = gzip_server();
        let b = ClientConfig {
            body_limit: 1 << 20,
            ..config()
        };
        let mut resp = Client::with_config(b)
            .get(&format!("{}/bomb", ts.url()))
            .unwrap();
        let e = resp.bytes().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Body));
    }
}

#[cfg(feature = "cookies")]
mod cookies {
    use super::*;
    use nethttp::client::{CookieJar, Jar};

    /// `/set` sets cookies (and redirects to `/show` with `?redirect`); every path reports
    /// the Cookie field it got.
    fn cookie_server() -> Server {
        Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
            set(w, "x-cookie", &header(&r.headers, "cookie"));
            if r.uri.path() == "/set" {
                for c in [
                    "a=1; Path=/",
                    "p=2; Path=/only",
                    "gone=3; Max-Age=0",
                    "old=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                ] {
                    w.headers_mut().append("set-cookie", c.parse().unwrap());
                }
                if r.uri.query() == Some("redirect") {
                    set(w, "location", "/show");
                    w.write_header(StatusCode::FOUND);
                }
            }
            if r.uri.path() == "/unset" {
                w.headers_mut()
                    .append("set-cookie", "a=; Max-Age=0; Path=/".parse().unwrap());
            }
        })
    }

    #[test]
    fn set_then_sent_by_path_and_expiry() {
        let ts = cookie_server();
        let b = ClientConfig {
            jar: Some(Arc::new(Jar::new())),
            ..config()
        };
        let c = Client::with_config(b);
        assert_eq!(
            c.get(&format!("{}/set", ts.url())).unwrap().headers["x-cookie"],
            ""
        );
        let show = c.get(&format!("{}/show", ts.url())).unwrap();
        assert_eq!(show.headers["x-cookie"], "a=1");
        let only = c.get(&format!("{}/only/x", ts.url())).unwrap();
        let mut got: Vec<_> = header(&only.headers, "x-cookie")
            .split("; ")
            .map(String::from)
            .collect();
        got.sort();
        assert_eq!(got, ["a=1", "p=2"]);
        c.get(&format!("{}/unset", ts.url())).unwrap();
        let show = c.get(&format!("{}/show", ts.url())).unwrap();
        assert_eq!(show.headers["x-cookie"], "");
    }

    #[test]
    fn set_during_a_redirect_is_sent_on_the_next_hop() {
        let ts = cookie_server();
        let b = ClientConfig {
            jar: Some(Arc::new(Jar::new())),
            ..config()
        };
        let resp = Client::with_config(b)
            .get(&format!("{}/set?redirect", ts.url()))
            .unwrap();
        assert_eq!(resp.url().path(), "/show");
        assert_eq!(resp.headers["x-cookie"], "a=1");
    }

    #[test]
    fn caller_cookies_reset_by_a_redirect_give_way_to_the_jar() {
        let ts = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
            set(w, "x-cookie", &header(&r.headers, "cookie"));
            if r.uri.path() == "/start" {
                w.headers_mut()
                    .append("set-cookie", "a=server; Path=/".parse().unwrap());
                set(w, "location", "/end");
                w.write_header(StatusCode::FOUND);
            }
        });
        let b = ClientConfig {
            jar: Some(Arc::new(Jar::new())),
            ..config()
        };
        let resp = Client::with_config(b)
            .request(Method::GET, &format!("{}/start", ts.url()))
            .header("cookie", "a=user; b=keep")
            .send()
            .unwrap();
        assert_eq!(resp.url().path(), "/end");
        assert_eq!(resp.headers["x-cookie"], "b=keep; a=server");
    }

    #[test]
    fn host_only_and_shared_jars() {
        let ts = cookie_server();
        let jar = Arc::new(Jar::new());
        let c1 = Client::with_config(ClientConfig {
            jar: Some(jar.clone()),
            ..config()
        });
        let c2 = Client::with_config(ClientConfig {
            jar: Some(jar.clone()),
            ..config()
        });
        c1.get(&format!("{}/set", ts.url())).unwrap();
        // Another client with the same jar sends it; another host does not get it.
        assert_eq!(
            c2.get(&format!("{}/show", ts.url())).unwrap().headers["x-cookie"],
            "a=1"
        );
        let other = format!("http://localhost:{}/show", ts.addr().port());
        assert_eq!(c2.get(&other).unwrap().headers["x-cookie"], "");
        // A Cookie field set by the caller is merged with the jar's.
        let resp = c2
            .request(Method::GET, &format!("{}/show", ts.url()))
            .header("cookie", "mine=1")
            .send()
            .unwrap();
        assert_eq!(resp.headers["x-cookie"], "mine=1; a=1");
    }

    #[test]
    fn rfc6265_domain_secure_and_public_suffix_rules() {
        let u = |s: &str| s.parse::<nethttp::Uri>().unwrap();
        let jar = Jar::new();
        let from = u("http://a.example.com/dir/page");
        for c in [
            "host=1",
            "dom=2; Domain=example.com; Path=/",
            "dot=3; Domain=.example.com; Path=/",
            "sec=4; Secure; Path=/",
            "psl=5; Domain=com; Path=/",
            "psl2=6; Domain=co.uk; Path=/",
            "other=7; Domain=other.com; Path=/",
        ] {
            jar.add_cookie_str(c, &from);
        }
        let get = |url: &str| {
            let mut v: Vec<String> = jar
                .cookies(&u(url))
                .map(|v| v.to_str().unwrap().split("; ").map(String::from).collect())
                .unwrap_or_default();
            v.sort();
            v
        };
        // Default path is the directory of the request path (RFC 6265 §5.1.4).
        assert_eq!(
            get("http://a.example.com/dir/x"),
            ["dom=2", "dot=3", "host=1"]
        );
        assert_eq!(get("http://a.example.com/"), ["dom=2", "dot=3"]);
        assert_eq!(get("http://b.example.com/dir/"), ["dom=2", "dot=3"]);
        assert_eq!(get("https://a.example.com/"), ["dom=2", "dot=3", "sec=4"]);
        assert!(get("http://example.org/").is_empty());
        assert!(get("http://other.com/").is_empty());
        assert!(get("http://b.co.uk/").is_empty());

        // A public suffix as Domain is fine only for that very host, as host-only.
        let jar = Jar::new();
        jar.add_cookie_str("x=1; Domain=github.io", &u("http://github.io/"));
        assert_eq!(jar.cookies(&u("http://github.io/")).unwrap(), "x=1");
        assert!(jar.cookies(&u("http://user.github.io/")).is_none());
    }
}

#[test]
fn forwarding_proxy_gets_absolute_form_and_credentials() {
    let seen: Seen = Arc::default();
    let s2 = Arc::clone(&seen);
    // A fake proxy: answers for every URL and records what it was asked.
    let (proxy, conns) = counted(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        s2.lock()
            .unwrap()
            .push((r.uri.to_string(), r.headers.clone()));
        let _ = w.write_all(b"from the proxy");
    });
    let proxy_url = proxy.url().replace("http://", "http://pu:pp@");
    let b = ClientConfig {
        transport: transport(TransportConfig {
            proxy: Proxy::all(&proxy_url).unwrap(),
            ..TransportConfig::default()
        }),
        ..config()
    };
    let c = Client::with_config(b);
    let mut resp = c.get("http://origin.invalid:8080/path?q=1").unwrap();
    assert_eq!(resp.text().unwrap(), "from the proxy");
    c.get("http://other.invalid/").unwrap().bytes().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "http://origin.invalid:8080/path?q=1");
    assert_eq!(header(&seen[0].1, "host"), "origin.invalid:8080");
    // base64("pu:pp")
    assert_eq!(header(&seen[0].1, "proxy-authorization"), "Basic cHU6cHA=");
    assert_eq!(seen[1].0, "http://other.invalid/");
    // Both went over one connection to the proxy.
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

/// A fake proxy on a raw socket that answers one CONNECT with `answer`, then echoes.
fn fake_connect_proxy(
    answer: &'static str,
) -> (std::net::SocketAddr, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        s.write_all(answer.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            let _ = s.write_all(&buf[..n]);
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    (addr, t)
}

#[test]
fn connect_tunnel_handshake() {
    use nethttp::client::connect_tunnel;
    use nethttp::net::{Stream, Target};
    let target = Target {
        scheme: "https".into(),
        host: "origin.example".into(),
        port: 443,
    };
    // 200, with a byte that came early: the tunnel hands it out first.
    let (addr, t) = fake_connect_proxy("HTTP/1.1 200 Connection established\r\n\r\n!");
    let s = std::net::TcpStream::connect(addr).unwrap();
    let auth = "Basic dTpw".parse().unwrap();
    let tunnel = connect_tunnel(Box::new(s), &target, Some(&auth), None).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(tunnel.read(&mut b).unwrap(), 1);
    assert_eq!(&b, b"!");
    tunnel.write(b"ping").unwrap();
    let mut got = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        n += tunnel.read(&mut got[n..]).unwrap();
    }
    assert_eq!(&got, b"ping");
    let head = t.join().unwrap();
    assert_eq!(
        head,
        "CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\n\
         Proxy-Authorization: Basic dTpw\r\n\r\n"
    );

    // Anything but 200 is an error carrying the status.
    let (addr, t) = fake_connect_proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    let s = std::net::TcpStream::connect(addr).unwrap();
    let e = connect_tunnel(Box::new(s), &target, None, None).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ProxyConnect(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert_eq!(e.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED));
    let _ = t.join();
}

#[test]
fn connect_tunnel_times_out() {
    use nethttp::client::connect_tunnel;
    use nethttp::net::Target;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let target = Target {
        scheme: "https".into(),
        host: "x".into(),
        port: 443,
    };
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    let e = connect_tunnel(Box::new(s), &target, None, Some(deadline)).unwrap_err();
    assert_eq!(e.timeout_phase(), Some(TimeoutPhase::Connect), "{e:?}");
    drop(l);
}
