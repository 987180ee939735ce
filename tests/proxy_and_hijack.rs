//! Edges of the reverse proxy, the server's hijack and `ClientConn`, from a review (session
//! 21): each test failed against the behaviour it guards. Every blocking step is bounded.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nethttp::client::{ClientConn, Transport, TransportConfig};
use nethttp::httputil::{new_single_host_reverse_proxy, ProxyRequest, ReverseProxy};
use nethttp::server::{Request, ResponseWriter};
use nethttp::{Method, Uri};
use support::{TestServer, IO_TIMEOUT};

/// An upstream answering with the request's fields, one `name: value` per line.
fn fields_upstream() -> TestServer {
    TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let mut out = String::new();
        for (name, value) in &r.headers {
            out += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
        }
        let _ = w.write_all(out.as_bytes());
    })
}

/// A proxy with its own transport (no pooled connections shared with other tests).
fn own_transport() -> Option<Arc<dyn nethttp::client::RoundTripper>> {
    Some(Arc::new(Transport::with_config(TransportConfig::default())))
}

/// Reads from `s` until `\r\n\r\n` (byte by byte, so nothing after it is consumed).
fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            other => panic!(
                "head ended ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A raw upstream: accepts one connection at a time (up to `n`), reads one request head and
/// answers with `answer(head)`, then closes.
fn raw_upstream(n: usize, answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> Uri {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let head = read_head(&mut s);
            let _ = s.write_all(&answer(&head));
            let _ = s.shutdown(Shutdown::Write);
            // Wait (bounded) for the proxy to close its side.
            let _ = s.read(&mut [0u8; 64]);
        }
    });
    format!("http://{addr}").parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For: a client's empty field does not switch off the proxy's own entry.
// ---------------------------------------------------------------------------------------------

/// With a `director` (here `new_single_host_reverse_proxy`) the proxy appends the client's
/// address to `X-Forwarded-For`, unless the *director* set the field to an empty value (Go's
/// nil). A client that sends an empty `X-Forwarded-For` itself must not be able to switch the
/// proxy's own entry off: Go appends (`", 127.0.0.1"`), and so does nethttp; before, the
/// upstream received no `X-Forwarded-For` at all, fooling a backend that takes the last entry
/// as the client.
#[test]
fn a_clients_empty_x_forwarded_for_does_not_remove_the_proxys_entry() {
    let up = fields_upstream();
    let proxy = TestServer::with_handler(ReverseProxy {
        transport: own_transport(),
        ..new_single_host_reverse_proxy(up.url("/").parse().unwrap())
    });
    for (name, wire) in [
        (
            "empty field",
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\n\r\n",
        ),
        (
            "empty field before a spoofed one",
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: \r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
        ),
    ] {
        let r = support::roundtrip(proxy.addr(), "GET", wire);
        assert_eq!(r.status, 200, "{name}: {}", r.raw_head);
        let text = r.text();
        let xff: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("x-forwarded-for: "))
            .collect();
        assert!(
            xff.last().is_some_and(|v| v.ends_with("127.0.0.1")),
            "{name}: the upstream got no X-Forwarded-For ending in the client's address \
             (the client switched the proxy's entry off); it got {xff:?} in:\n{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// An upstream response with both Content-Length and chunked: the length is not passed on.
// ---------------------------------------------------------------------------------------------

/// RFC 9112 §6.3: `Transfer-Encoding` overrides `Content-Length`, and a proxy must remove the
/// `Content-Length` before forwarding. The client reads such a response as chunked and drops
/// the field from `Response::headers` (Go's `fixLength`), so the proxy sends all 10 bytes;
/// before, it copied `Content-Length: 3` and its client took the first 3 as the whole body.
#[test]
fn a_content_length_beside_chunked_is_not_forwarded() {
    let target = raw_upstream(1, |_| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
          a\r\n0123456789\r\n0\r\n\r\n"
            .to_vec()
    });
    let proxy = TestServer::with_handler(ReverseProxy {
        transport: own_transport(),
        ..new_single_host_reverse_proxy(target)
    });
    let mut c = proxy.connect();
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = match c.try_read_response("GET") {
        Ok(r) => r,
        Err(e) => panic!("no response: {}", support::describe(&e)),
    };
    assert_eq!(
        r.text(),
        "0123456789",
        "the upstream's 10-byte chunked body reached the client as {:?}; head:\n{}",
        r.text(),
        r.raw_head
    );
}

// ---------------------------------------------------------------------------------------------
// A client that goes away while the proxy waits for the upstream.
// ---------------------------------------------------------------------------------------------

/// Go's proxy sends the upstream request under the incoming request's context, which the
/// server cancels when the client's connection closes: the upstream connection is closed and
/// the handler returns. nethttp's proxy watches its client from a shared thread
/// (`ResponseWriter::client_probe`) and cancels the upstream request; before, its thread stayed
/// blocked until the upstream answered by itself, so a long poll or a hung upstream kept a
/// proxy thread and an upstream connection per departed client. The watching thread ends once
/// nothing is watched.
#[test]
fn a_client_that_leaves_cancels_the_upstream_request() {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<Option<Duration>>();
    let started_tx = Mutex::new(started_tx);
    let seen_tx = Mutex::new(seen_tx);
    // A long-poll upstream: answers only after 6 s, watching whether its client (the proxy)
    // is still there.
    let up = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = started_tx.lock().unwrap().send(());
        let t0 = Instant::now();
        let gone = support::poll_until(Duration::from_secs(6), || w.client_gone());
        let _ = seen_tx.lock().unwrap().send(gone.then(|| t0.elapsed()));
    });
    let target: Uri = up.url("/").parse().unwrap();
    let proxy = TestServer::with_handler(ReverseProxy {
        transport: own_transport(),
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            pr.set_url(&target)
        })),
        ..ReverseProxy::default()
    });
    let mut c = TcpStream::connect(proxy.addr()).unwrap();
    c.write_all(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the request reached the upstream");
    // The client gives up.
    drop(c);
    let seen = seen_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the upstream handler reported");
    assert!(
        seen.is_some_and(|d| d < Duration::from_secs(3)),
        "the proxy kept its upstream request open for 6 s after its client left \
         (upstream saw its peer gone: {seen:?})"
    );
    drop(proxy);
    // Other tests here may proxy meanwhile; the thread ends 5 s after the last of them.
    let ended = support::poll_until(Duration::from_secs(30), || !threads_named("nethttp-watch"));
    assert!(
        ended,
        "the client-watching thread outlived every proxied request by 30 s"
    );
}

/// True if some thread of this process has `name`.
fn threads_named(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks.flatten().any(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name)
            })
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// A handler that panics after hijacking: the server leaves the hijacked connection alone.
// ---------------------------------------------------------------------------------------------

/// Once hijacked, the connection is the handler's (Go's server never touches a hijacked
/// connection again, panic or not). Before, a panic after `hijack` made the server half-close
/// the socket and discard what the client sent, under a thread the connection had been
/// handed to.
#[test]
fn a_panic_after_hijack_leaves_the_hijacked_connection_alone() {
    support::quiet_expected_panics();
    let (tx, rx) = mpsc::channel::<nethttp::net::Conn>();
    let tx = Mutex::new(tx);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let conn = w.hijack().expect("hijack");
        tx.lock().unwrap().send(conn).unwrap();
        panic!("{}", support::EXPECTED_PANIC);
    });
    let mut client = TcpStream::connect(srv.addr()).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut conn = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the handler hijacked");
    conn.stream().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // Nothing may reach the client by itself: the server must not close (FIN) the connection
    // after the panic. (An absence, checked over a window; with the bug the FIN comes within
    // milliseconds of the panic.)
    client
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut one = [0u8; 1];
    match client.read(&mut one) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!(
            "the server closed or wrote to the hijacked connection after the handler's panic: \
             client read {other:?}"
        ),
    }
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // The hijacker's thread talks first.
    let greeting = conn.write_all(b"hello");
    let mut got = [0u8; 5];
    let read = client.read_exact(&mut got);
    assert!(
        greeting.is_ok() && read.is_ok() && &got == b"hello",
        "the hijacked connection was shut down by the server after the panic: \
         write {greeting:?}, client read {read:?} ({:?})",
        String::from_utf8_lossy(&got)
    );
    client.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    let read = conn.read_exact(&mut back);
    assert!(
        read.is_ok() && &back == b"ping",
        "the client's bytes never reached the hijacker: {read:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hijack then a body read: no 100 Continue written into the hijacked stream.
// ---------------------------------------------------------------------------------------------

/// Go's `Hijack` disables the automatic `100 Continue` (`disableWriteContinue`): the
/// connection speaks the handler's protocol from then on. Before, the request body still sent
/// `HTTP/1.1 100 Continue` on its first read after the hijack, into the new protocol's
/// stream.
#[test]
fn no_100_continue_is_written_after_a_hijack() {
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let Ok(mut conn) = w.hijack() else { return };
        let read = r.body().read(&mut [0u8; 16]);
        assert!(read.is_err(), "the body cannot be read after a hijack");
        let _ = conn.write_all(b"MINE");
        let _ = conn.stream().shutdown(Shutdown::Both);
    });
    let mut c = TcpStream::connect(srv.addr()).unwrap();
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "MINE",
        "the server wrote into the hijacked connection"
    );
}

// ---------------------------------------------------------------------------------------------
// ClientConn: a zero-length read does not end the body.
// ---------------------------------------------------------------------------------------------

/// `Read::read` with an empty buffer returns 0 without meaning the end of the stream. The
/// `ClientConn` body took that 0 as its end: it marked the exchange finished, so `send` went
/// on while the body was still unread, and the next response was parsed from the old body's
/// bytes (response splitting by whoever controls the first body).
#[test]
fn clientconn_empty_read_does_not_end_the_body() {
    let injected = b"HTTP/1.1 200 OK\r\nX-Injected: yes\r\nContent-Length: 0\r\n\r\n";
    let first = [
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            injected.len()
        )
        .into_bytes(),
        injected.to_vec(),
    ]
    .concat();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        read_head(&mut s);
        s.write_all(&first).unwrap();
        // A second request may come (it should not, over a connection with a body unread).
        let mut b = [0u8; 1];
        if s.read(&mut b).is_ok_and(|n| n == 1) {
            let _ = read_head(&mut s);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
        }
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let cc = ClientConn::new(stream);
    let req = || nethttp::Request::new(Method::GET, &format!("http://{addr}/")).unwrap();
    let mut resp = cc.send(req()).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body().read(&mut []).unwrap(), 0);
    drop(resp);
    // An error is right too: the connection is spent.
    if let Ok(r) = cc.send(req()) {
        assert!(
            r.headers.get("x-injected").is_none(),
            "the second response was read from the first one's body: {:?} {:?}",
            r.status,
            r.headers
        );
    }
    drop(cc);
    let _ = server.join();
}

// ---------------------------------------------------------------------------------------------
// HEAD through the proxy to an upstream of unknown length: no `Content-Length: 0` invented.
// ---------------------------------------------------------------------------------------------

/// An upstream answers HEAD for a chunked resource (no length). The proxy copies the head and
/// writes no body, and sends the head at once, so the server does not add `Content-Length: 0`
/// (telling the client the resource is empty). Go's server sends no automatic length on a
/// HEAD whose handler wrote nothing.
#[test]
fn head_of_a_resource_of_unknown_length_gets_no_content_length_zero() {
    let target = raw_upstream(1, |_| {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec()
    });
    let proxy = TestServer::with_handler(ReverseProxy {
        transport: own_transport(),
        ..new_single_host_reverse_proxy(target)
    });
    let r = support::roundtrip(proxy.addr(), "HEAD", "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.raw_head);
    assert_eq!(
        r.header("content-length"),
        None,
        "a HEAD of a resource of unknown length was told its length is 0:\n{}",
        r.raw_head
    );
}

// ---------------------------------------------------------------------------------------------
// Checks that pass (kept as regression tests).
// ---------------------------------------------------------------------------------------------

/// Bytes the client sends right behind its upgrade request (read by the server with the
/// head) reach the upstream through the tunnel; bytes the upstream sends in the same packet
/// as its 101 reach the client.
#[test]
fn bytes_around_the_101_cross_the_tunnel() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let up = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        read_head(&mut s);
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nHELLO",
        )
        .unwrap();
        let mut early = [0u8; 5];
        s.read_exact(&mut early).unwrap();
        s.write_all(&early.to_ascii_uppercase()).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    let proxy = TestServer::with_handler(ReverseProxy {
        transport: own_transport(),
        ..new_single_host_reverse_proxy(format!("http://{addr}").parse().unwrap())
    });
    let mut c = TcpStream::connect(proxy.addr()).unwrap();
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nearly")
        .unwrap();
    let head = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut got = [0u8; 10];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HELLOEARLY");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(up.join().unwrap(), b"");
}
