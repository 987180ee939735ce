//! `httputil::ReverseProxy` between raw clients and in-process upstreams: what goes upstream
//! (fields, forwarding headers, bodies, trailers), what comes back (streamed, flushed,
//! trailers, truncation), errors (502, 504, 508), protocol upgrades both ways with
//! half-closes, and bad input that must never reach the upstream.
//!
//! Every exchange is bounded by the support module's socket timeouts and deadlines.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nethttp::client::{Transport, TransportConfig};
use nethttp::httputil::{new_single_host_reverse_proxy, ProxyRequest, ReverseProxy};
use nethttp::server::{Config, Request, ResponseWriter};
use nethttp::{HeaderValue, StatusCode, Uri};
use support::{test_config, wait_until, TestServer, IO_TIMEOUT, TEARDOWN};

/// An upstream that answers with what it received: the request line, then each field as
/// `name: value`, then the body, then each trailer as `trailer name: value`.
fn echo_upstream() -> TestServer {
    TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let mut out = format!("{} {}\n", r.method, r.uri);
        for (name, value) in &r.headers {
            out += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
        }
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        out += &format!("body: {}\n", String::from_utf8_lossy(&body));
        if let Some(t) = r.trailers() {
            for (name, value) in t {
                out += &format!("trailer {name}: {}\n", value.to_str().unwrap_or("?"));
            }
        }
        let _ = w.write_all(out.as_bytes());
    })
}

/// A proxy with `rewrite` routing to `upstream` and adding the forwarding fields.
fn rewrite_proxy(upstream: &TestServer) -> TestServer {
    let target: Uri = upstream.url("/base").parse().unwrap();
    TestServer::with_handler(ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            pr.set_url(&target);
            pr.set_x_forwarded();
        })),
        ..ReverseProxy::default()
    })
}

/// `GET path` on a new connection.
fn get(addr: std::net::SocketAddr, path: &str) -> support::Response {
    support::roundtrip(
        addr,
        "GET",
        format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"),
    )
}

fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn rewrite_sends_the_request_on_with_forwarding_fields_and_without_hop_by_hop_ones() {
    let up = echo_upstream();
    let proxy = rewrite_proxy(&up);
    let mut c = proxy.connect();
    c.send(
        "GET /x?q=1 HTTP/1.1\r\nHost: front.example\r\nConnection: keep-alive, X-Private, \
         Content-Length\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: \
         Basic eA==\r\nTE: trailers\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n\
         Forwarded: for=6.6.6.6\r\nX-Kept: yes\r\n\r\n",
    );
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.raw_head);
    let got = lines(&r.body);
    let up_host = format!("host: {}", up.addr());
    for want in [
        "GET /base/x?q=1",
        up_host.as_str(),
        "te: trailers",
        "x-forwarded-for: 127.0.0.1",
        "x-forwarded-host: front.example",
        "x-forwarded-proto: http",
        "x-kept: yes",
        "body: ",
    ] {
        assert!(got.iter().any(|l| l == want), "no {want:?} in {got:#?}");
    }
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "forwarded",
        "user-agent",
        "connection",
    ] {
        assert!(
            !got.iter().any(|l| l.starts_with(&format!("{gone}:"))),
            "{gone} went upstream: {got:#?}"
        );
    }
}

#[test]
fn single_host_proxy_keeps_the_clients_host_and_appends_to_x_forwarded_for() {
    let up = echo_upstream();
    let proxy = TestServer::with_handler(new_single_host_reverse_proxy(
        up.url("/api?k=v").parse().unwrap(),
    ));
    let mut c = proxy.connect();
    c.send(
        "GET /x?y=2 HTTP/1.1\r\nHost: front.example\r\nUser-Agent: curl/8\r\n\
         X-Forwarded-For: 10.1.1.1\r\n\r\n",
    );
    let r = c.read_response();
    let got = lines(&r.body);
    for want in [
        "GET /api/x?k=v&y=2",
        "host: front.example",
        "user-agent: curl/8",
        "x-forwarded-for: 10.1.1.1, 127.0.0.1",
    ] {
        assert!(got.iter().any(|l| l == want), "no {want:?} in {got:#?}");
    }
    assert!(
        !got.iter().any(|l| l.starts_with("x-forwarded-host")),
        "{got:#?}"
    );
}

#[test]
fn request_bodies_and_their_trailers_stream_upstream() {
    let up = echo_upstream();
    let proxy = rewrite_proxy(&up);
    let mut c = proxy.connect();
    c.send(
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\nContent-Length: 1\r\n\r\n",
    );
    let r = c.read_response();
    let got = lines(&r.body);
    for want in ["POST /base/up", "body: hello world", "trailer x-sum: 42"] {
        assert!(got.iter().any(|l| l == want), "no {want:?} in {got:#?}");
    }
    assert!(
        !got.iter().any(|l| l.starts_with("trailer content-length")),
        "a framing field went as a trailer: {got:#?}"
    );
    // A body with a length goes with its length.
    c.send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd");
    let got = lines(&c.read_response().body);
    assert!(got.iter().any(|l| l == "body: abcd"), "{got:#?}");
    assert!(got.iter().any(|l| l == "content-length: 4"), "{got:#?}");
}

#[test]
fn response_trailers_come_back_announced_and_unannounced() {
    let up = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("trailer", HeaderValue::from_static("X-Sum"));
        let _ = w.write_all(b"payload");
        w.headers_mut()
            .insert("x-sum", HeaderValue::from_static("99"));
        if let Some(t) = w.trailers_mut() {
            t.insert("x-late", HeaderValue::from_static("yes"));
        }
    });
    let proxy = rewrite_proxy(&up);
    let mut c = proxy.connect();
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.body, b"payload");
    assert_eq!(r.header("trailer"), Some("x-sum"), "{}", r.raw_head);
    let t = r.trailers.expect("trailers");
    assert_eq!(t.get("x-sum").unwrap(), "99");
    assert_eq!(t.get("x-late").unwrap(), "yes");
}

#[test]
fn an_upstream_that_fails_mid_body_truncates_the_clients_response() {
    let up = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("content-length", HeaderValue::from_static("100"));
        let _ = w.write_all(b"only ten..");
    });
    let proxy = rewrite_proxy(&up);
    let mut c = proxy.connect();
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    match c.try_read_response("GET") {
        Err(support::ReadError::Truncated { got, .. }) => {
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
        other => panic!("expected a truncated response, got {other:?}"),
    }
}

#[test]
fn upstream_errors_answer_502_timeouts_504_and_hooks_see_them() {
    // Nothing listens on a port bound without listening: connects are refused.
    let (_holder, port) = support::refusing_port();
    let dead = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let proxy = TestServer::with_handler(new_single_host_reverse_proxy(
        format!("http://{dead}").parse().unwrap(),
    ));
    let r = get(proxy.addr(), "/");
    assert_eq!(r.status, 502);
    assert!(r.body.is_empty());

    // An upstream slower than the transport's header timeout.
    let (release, wait) = mpsc::sync_channel::<()>(1);
    let wait = Mutex::new(wait);
    let slow = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(5));
        w.write_header(StatusCode::NO_CONTENT);
    });
    let target: Uri = slow.url("").parse().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = TestServer::with_handler(ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            pr.set_url(&target)
        })),
        transport: Some(Arc::new(Transport::with_config(TransportConfig {
            response_header_timeout: Some(Duration::from_millis(200)),
            ..TransportConfig::default()
        }))),
        ..ReverseProxy::default()
    });
    let r = get(proxy.addr(), "/");
    let _ = release.try_send(());
    assert_eq!(r.status, 504);

    // A custom error handler, and modify_response's error going to it.
    let hooked = |upstream: &TestServer, seen: &Arc<Mutex<Vec<String>>>| {
        let target: Uri = upstream.url("").parse().unwrap();
        let log = Arc::clone(seen);
        TestServer::with_handler(ReverseProxy {
            rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
                pr.set_url(&target)
            })),
            modify_response: Some(Box::new(|resp| {
                if resp.headers.contains_key("x-refuse") {
                    return Err(nethttp::Error::invalid_input("refused by modify_response"));
                }
                resp.headers
                    .insert("x-modified", HeaderValue::from_static("1"));
                Ok(())
            })),
            error_handler: Some(Box::new(move |w, _r, e| {
                log.lock().unwrap().push(e.to_string());
                w.write_header(StatusCode::SERVICE_UNAVAILABLE);
            })),
            ..ReverseProxy::default()
        })
    };
    let up = echo_upstream();
    let r = get(hooked(&up, &seen).addr(), "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-modified"), Some("1"));
    let refuse = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("x-refuse", HeaderValue::from_static("1"));
    });
    let r2 = get(hooked(&refuse, &seen).addr(), "/");
    assert_eq!(r2.status, 503);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("refused by modify_response")),
        "{seen:?}"
    );

    // Neither or both hooks: a configuration error, answered 502.
    let r = get(
        TestServer::with_handler(ReverseProxy::default()).addr(),
        "/",
    );
    assert_eq!(r.status, 502);
}

#[test]
fn streamed_responses_are_flushed_as_they_arrive() {
    // Each upstream writes a first piece, flushes, then waits for the test before the rest:
    // the piece must reach the client through the proxy before the rest is released.
    for (content_type, length, interval) in [
        ("text/event-stream", None, None),
        ("text/plain", None, None),
        ("text/plain", Some("11"), Some(Duration::from_millis(20))),
        ("text/plain", Some("11"), Some(Duration::ZERO)),
    ] {
        let (release, wait) = mpsc::sync_channel::<()>(1);
        let wait = Mutex::new(wait);
        let up = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert("content-type", HeaderValue::from_static(content_type));
            if let Some(n) = length {
                w.headers_mut()
                    .insert("content-length", HeaderValue::from_static(n));
            }
            let _ = w.write_all(b"first").and_then(|()| w.flush());
            let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(5));
            let _ = w.write_all(b"second");
        });
        let target: Uri = up.url("").parse().unwrap();
        let proxy = TestServer::with_handler(ReverseProxy {
            rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
                pr.set_url(&target)
            })),
            flush_interval: interval,
            ..ReverseProxy::default()
        });
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + IO_TIMEOUT;
        while !got.windows(5).any(|w| w == b"first") {
            assert!(
                Instant::now() < deadline,
                "{content_type} {length:?} {interval:?}"
            );
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap_or_else(|e| {
                panic!(
                    "{content_type} {length:?} {interval:?}: no first piece ({e}): {}",
                    String::from_utf8_lossy(&got)
                )
            });
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            !got.windows(6).any(|w| w == b"second"),
            "the rest was not released yet"
        );
        release.send(()).unwrap();
    }
}

/// Reads a response head from `s` byte by byte, so nothing after it is consumed.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).expect("read head");
        assert_eq!(
            n,
            1,
            "closed in the head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Threads of this process whose name starts with `prefix` (Linux; 0 elsewhere).
fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with(prefix))
        })
        .count()
}

#[test]
fn upgrades_are_tunnelled_both_ways_with_half_closes() {
    // The upstream switches to "upper": it echoes what it reads in capitals until the end of
    // the stream, then says BYE and closes.
    let up = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if !r
            .headers
            .get("upgrade")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"upper"))
        {
            return w.write_header(StatusCode::BAD_REQUEST);
        }
        w.headers_mut()
            .insert("connection", HeaderValue::from_static("Upgrade"));
        w.headers_mut()
            .insert("upgrade", HeaderValue::from_static("upper"));
        w.write_header(StatusCode::SWITCHING_PROTOCOLS);
        let Ok(mut conn) = w.hijack() else { return };
        let mut writer = conn.writer();
        let mut buf = [0u8; 256];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let upper = buf[..n].to_ascii_uppercase();
                    if writer.write_all(&upper).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.write_all(b"BYE");
        let _ = conn.stream().shutdown(Shutdown::Both);
    });
    let proxy = rewrite_proxy(&up);
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: upper\r\n\r\n")
        .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: upper"),
        "{head}"
    );
    for word in ["hello", "proxy"] {
        s.write_all(word.as_bytes()).unwrap();
        let mut got = vec![0u8; word.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, word.to_ascii_uppercase().as_bytes());
    }
    // Our half-close reaches the upstream, whose last words still reach us.
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"BYE");
    // The tunnel's threads end with the connections.
    wait_until(TEARDOWN, "the tunnel threads to end", || {
        threads_named("nethttp-proxy-t") == 0
    });
    // (Dropping the servers checks that their connection threads end too.)
}

#[test]
fn an_upstream_switching_to_another_protocol_is_refused() {
    let up = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("connection", HeaderValue::from_static("Upgrade"));
        w.headers_mut()
            .insert("upgrade", HeaderValue::from_static("other"));
        w.write_header(StatusCode::SWITCHING_PROTOCOLS);
        if let Ok(conn) = w.hijack() {
            let _ = conn.stream().shutdown(Shutdown::Both);
        }
    });
    let proxy = rewrite_proxy(&up);
    let mut c = proxy.connect();
    c.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: upper\r\n\r\n");
    assert_eq!(c.read_response().status, 502);
    // A client asking for no upgrade gets none either.
    let mut c = proxy.connect();
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.read_response().status, 502);
}

#[test]
fn smuggling_shaped_requests_never_reach_the_upstream() {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hits);
    let up = TestServer::with_handler(move |_w: &mut dyn ResponseWriter, _r: &mut Request| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let proxy = rewrite_proxy(&up);
    let cases: [(&str, &str); 7] = [
        (
            "CL and TE",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "two lengths",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
        (
            "signed length",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab",
        ),
        (
            "space before colon",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 2\r\n\r\nab",
        ),
        (
            "folded field",
            "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "unknown coding",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
        ),
        (
            "chunked not last",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        ),
    ];
    for (name, wire) in cases {
        let mut c = proxy.connect();
        c.send(wire);
        let r = c.read_response();
        assert!(
            (400..=501).contains(&r.status),
            "{name}: {} {}",
            r.status,
            r.raw_head
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a bad request reached the upstream"
    );
}

#[test]
fn a_proxy_that_is_its_own_upstream_ends_with_an_error() {
    // Through X-Forwarded-For, which grows by one address per hop: 508 after 30 hops.
    let me: Arc<OnceLock<Uri>> = Arc::new(OnceLock::new());
    let target = Arc::clone(&me);
    let proxy = TestServer::with_handler(ReverseProxy {
        director: Some(Box::new(move |out: &mut nethttp::Request| {
            let t = target.get().expect("address set before the first request");
            out.uri = format!("http://{}{}", t.authority().unwrap(), out.uri)
                .parse()
                .unwrap();
        })),
        ..ReverseProxy::default()
    });
    me.set(proxy.url("").parse().unwrap()).unwrap();
    let r = get(proxy.addr(), "/loop");
    assert_eq!(r.status, 508);

    // Without X-Forwarded-For, the server's connection limit bounds the loop, and the
    // transport's header timeout ends it.
    let me: Arc<OnceLock<Uri>> = Arc::new(OnceLock::new());
    let target = Arc::clone(&me);
    let cfg = Config {
        max_connections: 8,
        ..test_config()
    };
    let proxy = TestServer::start(
        cfg,
        ReverseProxy {
            rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
                pr.set_url(target.get().expect("address set"));
            })),
            transport: Some(Arc::new(Transport::with_config(TransportConfig {
                response_header_timeout: Some(Duration::from_millis(500)),
                ..TransportConfig::default()
            }))),
            ..ReverseProxy::default()
        },
    );
    me.set(proxy.url("").parse().unwrap()).unwrap();
    // The request runs on a thread of its own while this one watches the server's threads.
    let addr = proxy.addr();
    let client = std::thread::spawn(move || get(addr, "/loop").status);
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.is_finished() {
        assert!(Instant::now() < deadline, "the loop did not end");
        peak = peak.max(proxy.server().num_threads());
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = client.join().unwrap();
    assert!(matches!(status, 502 | 504), "{status}");
    // A connection's thread leaves the table just before it exits, so one or two may still be
    // winding down as the next connections are admitted: the bound is the limit plus those,
    // never the loop's unbounded growth.
    assert!(peak <= 8 + 2, "{peak} connection threads for a limit of 8");
}
