//! Edges of the client's public API and its error reporting, from a review (session 21): bad
//! URLs, user callbacks that panic, bodies that misbehave, timeout phases, passwords in
//! messages. Each test's doc tells what the code did before its fix, and what the test printed
//! then (each failed).

mod client_support;

use std::io::{self, Read};
use std::net::TcpListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client_support::*;
use nethttp::client::{
    Client, ClientConfig, ClientTrace, Proxy, RequestOptions, RoundTripper, Transport,
    TransportConfig,
};
use nethttp::error::TimeoutPhase;
use nethttp::net::{Dial, Stream, Target, TcpDialer};
use nethttp::{Body, ErrorKind, Method, Request};

fn transport(cfg: TransportConfig) -> Transport {
    Transport::with_config(TransportConfig {
        proxy: Proxy::none(),
        ..cfg
    })
}

fn client_over(t: &Transport) -> Client {
    Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(REQ_TIMEOUT),
        ..ClientConfig::default()
    })
}

/// A server that answers every request on a connection with `body` (keep-alive), until the
/// client closes or 5 s pass without a request.
fn keepalive_server(body: &'static str) -> RawServer {
    RawServer::start(move |mut c, _| {
        while c.read_request().is_some() {
            if !c.send(ok_response(body)) {
                return;
            }
        }
    })
}

/// A dialer that records the targets it is asked for and connects with the default one.
#[derive(Debug, Default)]
struct Recording(Mutex<Vec<Target>>);

impl Dial for Recording {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        self.0.lock().unwrap().push(target.clone());
        TcpDialer::default().dial(target, deadline, trace)
    }
}

// ---------------------------------------------------------------------------------------------
// URLs

/// A port above 65535 is not a port: Go fails such a URL ("invalid port"), curl and reqwest
/// refuse it. Here the port is dropped and the scheme's default dialled instead, so the
/// request (with its credentials and body) goes to another service on port 80 or 443.
///
/// Fails with: "port 99999 dialled as Target { .. port: 80 }" (or "... was sent").
#[test]
fn a_port_out_of_range_is_refused_not_replaced_by_the_default() {
    let _w = Watchdog::new("port_out_of_range", Duration::from_secs(30));
    for port in ["65536", "99999"] {
        let rec = Arc::new(Recording::default());
        let t = transport(TransportConfig {
            dialer: rec.clone(),
            ..TransportConfig::default()
        });
        let c = client_over(&t);
        let url = format!("http://127.0.0.1:{port}/secret");
        let r = c
            .request(Method::POST, &url)
            .bearer_auth("t0ken")
            .body("payload")
            .timeout(Duration::from_secs(3))
            .send();
        let dialled = rec.0.lock().unwrap().clone();
        assert!(
            dialled.is_empty(),
            "port {port} dialled as {:?} (result: {:?})",
            dialled,
            r.as_ref().map(|r| r.status).map_err(|e| e.to_string())
        );
        let e = r.expect_err("an invalid port must fail the request");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
}

/// Errors name the URL with the password redacted (`Error::url`, `Display`), but a message
/// given to `invalid_input` by the transport prints the URI as it is, password included.
///
/// Fails with: "password in error: GET http://u:xxxxx@:80/x: invalid input: url has no host:
/// http://u:secret@:80/x".
#[test]
fn a_transport_error_never_shows_the_password() {
    let t = transport(TransportConfig::default());
    let mut req = Request::new(Method::GET, "http://u:secret@:80/x").unwrap();
    RequestOptions::of_mut(&mut req).set_timeout(Duration::from_secs(3));
    let e = t.round_trip(req).expect_err("no host");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain.push_str(" | ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    chain.push_str(&format!(" | {e:?}"));
    assert!(!chain.contains("secret"), "password in error: {chain}");
}

// ---------------------------------------------------------------------------------------------
// Trace hooks that panic

/// A `got_conn` hook runs on the caller's thread after the connection has left the pool and
/// before the round trip owns it. If it panics the connection is never closed nor put back:
/// its reader and writer threads live on, and its `max_conns_per_host` slot is never freed,
/// so the next request to the host waits for a connection until its deadline.
///
/// Fails with: "the next request failed: GET http://127.0.0.1:../: timed out waiting for a
/// pooled connection" (and, without the slot limit, a leak of 1 open connection, 2 threads).
#[test]
fn a_panicking_got_conn_hook_leaks_nothing_and_the_pool_stays_usable() {
    let _w = Watchdog::new("got_conn_panic", Duration::from_secs(40));
    let srv = keepalive_server("ok");
    let t = transport(TransportConfig {
        max_conns_per_host: 1,
        ..TransportConfig::default()
    });
    let c = client_over(&t);
    let trace = ClientTrace::new().on_got_conn(|_| panic!("hook panics on purpose"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        c.request(Method::GET, &srv.url("/"))
            .trace(trace)
            .timeout(Duration::from_secs(3))
            .send()
    }));
    assert!(r.is_err(), "the hook's panic reaches the caller");

    let next = c
        .request(Method::GET, &srv.url("/"))
        .timeout(Duration::from_secs(2))
        .send();
    match next {
        Ok(mut resp) => assert_eq!(text(&mut resp), "ok"),
        Err(e) => panic!("the next request failed: {e}"),
    }
    drop(c);
    assert_no_leaks(&t);
}

/// Same hook, no slot limit: after the panic and `close_idle_connections`, nothing of the
/// connection may be left (the server keeps its end open for 5 s).
///
/// Fails with: "transport leaked connections or threads: PoolStats { idle: 0, open: 1,
/// threads: 2 }".
#[test]
fn a_panicking_got_conn_hook_leaves_no_connection_threads() {
    let _w = Watchdog::new("got_conn_panic_leak", Duration::from_secs(40));
    let srv = keepalive_server("ok");
    let t = transport(TransportConfig::default());
    let c = client_over(&t);
    // A first request leaves a connection idle: the hook then panics on a reused one.
    let mut resp = c.get(&srv.url("/")).unwrap();
    assert_eq!(text(&mut resp), "ok");
    drop(resp);
    let trace = ClientTrace::new().on_got_conn(|_| panic!("hook panics on purpose"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        c.request(Method::GET, &srv.url("/")).trace(trace).send()
    }));
    assert!(r.is_err());
    drop(c);
    t.close_idle_connections();
    let ok = wait_until(Duration::from_secs(2), || {
        let s = t.stats();
        s.open == 0 && s.threads == 0
    });
    assert!(
        ok,
        "transport leaked connections or threads: {:?}",
        t.stats()
    );
}

/// A body large enough to be streamed to the caller (not read whole by the reader thread)
/// ends on the caller's thread, which puts the connection back in the pool and then calls
/// `put_idle_conn`. If that hook panics, the connection is already idle in the pool but its
/// reader thread is never told the body ended: the next request takes the connection, its
/// response is never read, and it waits until its deadline (forever without one).
///
/// Fails with: "the next request failed: GET http://127.0.0.1:../: timed out awaiting
/// response head".
#[test]
fn a_panicking_put_idle_hook_does_not_poison_the_pool() {
    let _w = Watchdog::new("put_idle_panic", Duration::from_secs(40));
    static BIG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let big: &'static str = BIG.get_or_init(|| "x".repeat(200 << 10));
    let srv = keepalive_server(big);
    let t = transport(TransportConfig::default());
    let c = client_over(&t);
    let trace = ClientTrace::new().on_put_idle_conn(|_| panic!("hook panics on purpose"));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut resp = c
            .request(Method::GET, &srv.url("/"))
            .trace(trace)
            .timeout(Duration::from_secs(3))
            .send()
            .unwrap();
        resp.bytes().map(|b| b.len())
    }));
    assert!(r.is_err(), "the hook's panic reaches the caller");

    let next = c
        .request(Method::GET, &srv.url("/"))
        .timeout(Duration::from_secs(2))
        .send();
    match next {
        Ok(mut resp) => assert_eq!(text(&mut resp).len(), big.len()),
        Err(e) => panic!("the next request failed: {e}"),
    }
    drop(c);
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// A request body whose reader panics on the writer thread: the connection is closed (good)
/// but the caller is told the *server* closed the connection before the response head, which
/// sends whoever reads the log to the wrong side of the wire.
///
/// Fails with: "misleading error: POST http://..: connection closed before message head was
/// complete".
#[test]
fn a_panicking_body_reader_is_not_reported_as_the_server_closing() {
    let _w = Watchdog::new("body_panic", Duration::from_secs(30));
    struct Panics;
    impl Read for Panics {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("body reader panics on purpose")
        }
    }
    let srv = RawServer::start(|mut c, _| {
        // Keep the connection open without answering: only the client can end it.
        let _ = c.read_head();
        let _ = c.read_to_close();
    });
    let t = transport(TransportConfig::default());
    let c = client_over(&t);
    let e = c
        .request(Method::POST, &srv.url("/"))
        .body(Body::from_reader(Panics))
        .timeout(Duration::from_secs(3))
        .send()
        .expect_err("the body panicked");
    assert!(
        !matches!(
            e.kind(),
            ErrorKind::ConnectionClosed(_) | ErrorKind::Timeout(_)
        ),
        "misleading error: {e}"
    );
    drop(c);
    assert_no_leaks(&t);
}

/// `bytes_limited` fails past its limit having read part of the body; the body must not then
/// read on from where the limit stopped and end cleanly, or a second read (`text()`, say)
/// returns the tail of the body as if it were the whole of it.
///
/// Fails with: "after TooLarge, text() returned Ok with 90 bytes of a 100-byte body".
#[test]
fn a_body_over_its_limit_does_not_read_on_as_a_complete_body() {
    let _w = Watchdog::new("limit_then_text", Duration::from_secs(30));
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body: &'static str = BODY.get_or_init(|| "y".repeat(100));
    let srv = keepalive_server(body);
    let t = transport(TransportConfig::default());
    let c = client_over(&t);
    let mut resp = c.get(&srv.url("/")).unwrap();
    let e = resp.bytes_limited(9).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::TooLarge(nethttp::error::TooLarge::Body)
    );
    if let Ok(rest) = resp.text() {
        panic!(
            "after TooLarge, text() returned Ok with {} bytes of a {}-byte body",
            rest.len(),
            body.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Timeout phases

/// The request's deadline passes while the TLS handshake hangs (TCP connected, the server
/// never answers the ClientHello). The error says "timed out connecting": the phase must be
/// the TLS handshake, as the dial itself reports when the handshake timeout fires first.
///
/// Fails with: "phase Some(Connect): GET https://127.0.0.1:../: timed out connecting".
#[test]
fn a_deadline_during_the_tls_handshake_names_the_handshake() {
    let _w = Watchdog::new("tls_phase", Duration::from_secs(30));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Accept and hold the connection, never answering the ClientHello.
    let holder = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(1..)) {}
    });
    let t = transport(TransportConfig::default());
    let c = client_over(&t);
    let e = c
        .request(Method::GET, &format!("https://{addr}/"))
        .timeout(Duration::from_millis(500))
        .send()
        .expect_err("the handshake never completes");
    assert_eq!(
        e.timeout_phase(),
        Some(TimeoutPhase::TlsHandshake),
        "phase {:?}: {e}",
        e.timeout_phase()
    );
    drop(c);
    assert_no_leaks(&t);
    let _ = holder.join();
}
