//! The HTTP/2 client (feature `http2`) against nethttp's own HTTP/2 server (h2c with prior
//! knowledge, and TLS with ALPN), and against scripted servers over raw frames where the
//! exact behaviour matters. Every wait is bounded; every test checks that the transport's
//! threads are gone after `close_idle_connections` (or, when it drops the transport, that
//! every dialed stream was let go).

mod client_support;
mod h2_peer;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use h2_peer::{field, Got, Peer};
use nethttp::client::{CancelToken, Client, Protocols, RequestOptions, Transport, TransportConfig};
use nethttp::net::{Dial, Stream, Target, TcpDialer};
use nethttp::proto::h2::frame::{self, Data, Frame, GoAway, Settings};
use nethttp::proto::h2::ErrorCode;
use nethttp::server::{Config, Http2Config};
use nethttp::{httptest, Method, Request, ResponseWriter, Version};

/// Counts the connections a transport dials.
#[derive(Debug, Default)]
struct CountingDialer {
    dials: AtomicUsize,
    inner: TcpDialer,
}

impl Dial for CountingDialer {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        self.inner.dial(target, deadline, trace)
    }
}

fn h2c_server(
    streams: u32,
    h: impl Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
) -> httptest::Server {
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            max_concurrent_streams: streams,
            ..Http2Config::default()
        },
        ..Config::default()
    };
    httptest::Server::with_config(cfg, h)
}

/// A client speaking h2c with prior knowledge, with a dial counter and a 10 s timeout.
fn h2c_client() -> (Client, Transport, Arc<CountingDialer>) {
    h2c_client_with(|_| {})
}

/// [`h2c_client`], with `tweak` applied to its transport's settings.
fn h2c_client_with(
    tweak: impl FnOnce(&mut TransportConfig),
) -> (Client, Transport, Arc<CountingDialer>) {
    let dialer = Arc::new(CountingDialer::default());
    let mut cfg = TransportConfig {
        dialer: dialer.clone(),
        ..client_support::h2c_transport_config()
    };
    tweak(&mut cfg);
    let t = Transport::with_config(cfg);
    let c = Client::with_config(nethttp::client::ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(Duration::from_secs(10)),
        ..nethttp::client::ClientConfig::default()
    });
    (c, t, dialer)
}

/// Closes idle connections and waits (bounded) for every connection thread to exit.
fn assert_no_threads(t: &Transport) {
    t.close_idle_connections();
    support::wait_until(Duration::from_secs(5), "connection threads to exit", || {
        t.stats().threads == 0
    });
}

fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = write!(w, "{:?} {} {}", r.version, r.method, r.uri.path());
}

#[test]
fn get_over_h2c() {
    let ts = h2c_server(250, hello);
    let (c, t, dialer) = h2c_client();
    for _ in 0..3 {
        let mut resp = c.get(&format!("{}/a", ts.url())).unwrap();
        assert_eq!(resp.version, Version::HTTP_2);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text().unwrap(), "HTTP/2.0 GET /a");
    }
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_eq!(t.stats().open, 1);
    assert_no_threads(&t);
}

/// The client's `Accept-Encoding: gzip` goes out over HTTP/2 as over HTTP/1: the transport
/// adds it when the request has none, and the request's own is sent instead of it.
#[cfg(feature = "gzip")]
#[test]
fn the_clients_accept_encoding_goes_out_over_h2() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        let all = r.headers.get_all("accept-encoding").iter();
        let all: Vec<&str> = all.map(|v| v.to_str().unwrap_or("?")).collect();
        let _ = write!(w, "{}", all.join(","));
    });
    let (c, t, _) = h2c_client();
    let mut resp = c.get(ts.url()).unwrap();
    assert_eq!(resp.version, Version::HTTP_2);
    assert_eq!(resp.text().unwrap(), "gzip");
    let mut resp = c
        .request(Method::GET, ts.url())
        .header("accept-encoding", "identity")
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "identity");
    assert_no_threads(&t);
}

/// `unencrypted_http2` with HTTP/1 still on sends `http://` requests over HTTP/1.1, as Go
/// does: a server cannot be asked whether it expects the HTTP/2 preface.
#[test]
fn h2c_needs_http1_off() {
    let ts = h2c_server(250, hello);
    let t = Transport::with_config(TransportConfig {
        protocols: Protocols {
            unencrypted_http2: true,
            ..Protocols::default()
        },
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    let c = Client::with_transport(t.clone());
    let mut resp = c.get(&format!("{}/a", ts.url())).unwrap();
    assert_eq!(resp.version, Version::HTTP_11);
    assert_eq!(resp.text().unwrap(), "HTTP/1.1 GET /a");
    assert_no_threads(&t);
}

/// A request body that comes slowly from its source: a few bytes per read, each read
/// `pause` after the last (a slow disk or pipe, not synchronisation).
struct Trickle {
    left: usize,
    pause: Duration,
}

impl Read for Trickle {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || out.is_empty() {
            return Ok(0);
        }
        thread::sleep(self.pause);
        out[0] = b'x';
        self.left -= 1;
        Ok(1)
    }
}

/// `response_header_timeout` counts from the end of the request, as over HTTP/1: an upload
/// that takes longer than it is not a header timeout.
#[test]
fn response_header_timeout_starts_after_the_upload() {
    let ts = h2c_server(250, echo);
    let t = Transport::with_config(TransportConfig {
        protocols: Protocols {
            http1: false,
            unencrypted_http2: true,
            ..Protocols::default()
        },
        response_header_timeout: Some(Duration::from_millis(200)),
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    let c = Client::with_transport(t.clone());
    let body = nethttp::Body::from_reader(Trickle {
        left: 6,
        pause: Duration::from_millis(100),
    });
    let mut resp = c
        .request(Method::POST, &format!("{}/up", ts.url()))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.version, Version::HTTP_2);
    assert_eq!(resp.text().unwrap(), "xxxxxx");
    assert_no_threads(&t);
}

/// Echoes the body back, so a large body crosses the windows both ways.
fn echo(w: &mut dyn ResponseWriter, r: &mut Request) {
    let mut body = Vec::new();
    if let Err(e) = r.body().read_to_end(&mut body) {
        w.write_header(nethttp::StatusCode::INTERNAL_SERVER_ERROR);
        let _ = write!(w, "{e}");
        return;
    }
    let _ = w.write_all(&body);
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn post_larger_than_the_windows() {
    let ts = h2c_server(250, echo);
    let (c, t, _) = h2c_client();
    let body = pattern(1 << 20);
    let mut resp = c
        .post(ts.url(), "application/octet-stream", body.clone())
        .unwrap();
    assert_eq!(resp.version, Version::HTTP_2);
    let got = resp.bytes().unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got == body, "echoed body differs");
    assert_no_threads(&t);
}

fn many_threads_share_one_connection(n: usize) {
    let ts = h2c_server(250, echo);
    let (c, t, dialer) = h2c_client();
    let url = ts.url().to_string();
    let start = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (c, url, start) = (c.clone(), url.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for j in 0..5 {
                    let body = format!("{i}-{j}-").repeat(200 + i * 10);
                    let mut resp = c.post(&url, "text/plain", body.clone()).unwrap();
                    assert_eq!(resp.version, Version::HTTP_2);
                    assert_eq!(resp.text().unwrap(), body);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        dialer.dials.load(Ordering::SeqCst),
        1,
        "one connection shared"
    );
    assert_no_threads(&t);
}

#[test]
fn eight_threads_share_one_connection() {
    many_threads_share_one_connection(8);
}

#[test]
fn sixty_four_threads_share_one_connection() {
    many_threads_share_one_connection(64);
}

#[test]
fn response_trailers() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut().insert("trailer", "x-sum".parse().unwrap());
        let _ = w.write_all(b"body");
        w.headers_mut().insert("x-sum", "42".parse().unwrap());
    });
    let (c, t, _) = h2c_client();
    let mut resp = c.get(ts.url()).unwrap();
    assert!(resp.trailers().is_none(), "trailers before the end");
    assert_eq!(resp.text().unwrap(), "body");
    assert_eq!(resp.trailers().and_then(|t| t.get("x-sum")).unwrap(), "42");
    assert_no_threads(&t);
}

#[test]
fn slow_reader_does_not_block_another_stream() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/big" {
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..64 {
                if w.write_all(&chunk).is_err() {
                    return;
                }
            }
        } else {
            let _ = w.write_all(b"small");
        }
    });
    let (c, t, dialer) = h2c_client();
    let mut big = c.get(&format!("{}/big", ts.url())).unwrap();
    let mut first = [0u8; 10];
    big.body().read_exact(&mut first).unwrap();
    // The big stream's window is full and nobody reads it; others still get through.
    for _ in 0..5 {
        assert_eq!(
            c.get(&format!("{}/small", ts.url()))
                .unwrap()
                .text()
                .unwrap(),
            "small"
        );
    }
    let mut rest = Vec::new();
    big.body().read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len() + 10, 64 * (64 << 10));
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

#[test]
fn handler_panic_resets_only_its_stream() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/panic" {
            let _ = w.write_all(b"partial");
            let _ = w.flush();
            panic!("handler panics on purpose");
        }
        let _ = w.write_all(b"fine");
    });
    let (c, t, dialer) = h2c_client();
    let r = c
        .get(&format!("{}/panic", ts.url()))
        .and_then(|mut r| r.bytes());
    let err = r.expect_err("a reset stream must not read as a clean end");
    assert!(
        matches!(err.kind(), nethttp::ErrorKind::Http2(_)),
        "unexpected error: {err}"
    );
    assert_eq!(c.get(ts.url()).unwrap().text().unwrap(), "fine");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

/// A server allowing `streams` concurrent streams per connection whose handler waits
/// (at most `give_up`) until `want` requests are in it at once; `peak` records the most seen.
fn gathering_server(
    streams: u32,
    want: usize,
    give_up: Duration,
    peak: Arc<AtomicUsize>,
) -> httptest::Server {
    let in_flight = Arc::new(AtomicUsize::new(0));
    h2c_server(
        streams,
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Bounded, and not a sleep: the handler gives up waiting and answers.
            let until = Instant::now() + give_up;
            while peak.load(Ordering::SeqCst) < want && Instant::now() < until {
                thread::yield_now();
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = w.write_all(b"ok");
        },
    )
}

/// `n` concurrent GETs of `url`; each must answer "ok".
fn concurrent_gets(c: &Client, url: &str, n: usize) {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (c, url) = (c.clone(), url.to_string());
            thread::spawn(move || c.get(&url).and_then(|mut r| r.text()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), "ok");
    }
}

/// Strict (Go's `StrictMaxConcurrentStreams`): callers over the server's limit wait on the
/// one connection.
#[test]
fn strict_max_concurrent_streams_waits_on_one_connection() {
    let peak = Arc::new(AtomicUsize::new(0));
    let ts = gathering_server(2, 2, Duration::from_secs(5), peak.clone());
    let (c, t, dialer) = h2c_client_with(|cfg| cfg.http2.strict_max_concurrent_streams = true);
    concurrent_gets(&c, ts.url(), 10);
    assert!(peak.load(Ordering::SeqCst) <= 2, "server limit exceeded");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

/// Go's default: a caller that finds the connection full opens another. With one stream
/// per connection, two requests that must be in the handler together need two connections
/// (in strict mode the second would wait for the first, which waits for the second).
#[test]
fn over_the_stream_limit_another_connection_opens() {
    let peak = Arc::new(AtomicUsize::new(0));
    let ts = gathering_server(1, 2, Duration::from_secs(5), peak.clone());
    let (c, t, dialer) = h2c_client();
    // The first exchange tells the client the server's limit.
    assert_eq!(c.get(ts.url()).unwrap().text().unwrap(), "ok");
    peak.store(0, Ordering::SeqCst);
    concurrent_gets(&c, ts.url(), 2);
    assert_eq!(peak.load(Ordering::SeqCst), 2, "the two requests never met");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 2);
    assert_eq!(t.stats().open, 2);
    assert_no_threads(&t);
}

/// `max_conns_per_host` caps HTTP/2 connections too: beyond it, callers wait for a stream.
#[test]
fn max_conns_per_host_caps_http2_connections() {
    let peak = Arc::new(AtomicUsize::new(0));
    // Each handler waits for a second one that cannot come, so it gives up soon.
    let ts = gathering_server(1, 2, Duration::from_millis(1500), peak.clone());
    let (c, t, dialer) = h2c_client_with(|cfg| cfg.max_conns_per_host = 1);
    assert_eq!(c.get(ts.url()).unwrap().text().unwrap(), "ok");
    peak.store(0, Ordering::SeqCst);
    concurrent_gets(&c, ts.url(), 2);
    assert_eq!(peak.load(Ordering::SeqCst), 1, "two streams at once");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

/// `disable_keep_alives`: each request gets a connection of its own, closed once its
/// response is read, as Go's single-use HTTP/2 connections.
#[test]
fn disable_keep_alives_uses_each_connection_once() {
    let ts = h2c_server(250, hello);
    let (c, t, dialer) = h2c_client_with(|cfg| cfg.disable_keep_alives = true);
    for i in 1..=3 {
        let mut resp = c.get(&format!("{}/k", ts.url())).unwrap();
        assert_eq!(resp.version, Version::HTTP_2);
        assert_eq!(resp.text().unwrap(), "HTTP/2.0 GET /k");
        assert_eq!(dialer.dials.load(Ordering::SeqCst), i);
        // Closed at the end of its stream, not at the idle timeout.
        support::wait_until(Duration::from_secs(5), "the connection to close", || {
            t.stats().threads == 0
        });
    }
}

/// A request body's trailers (here a proxied chunked upload's) go to an HTTP/2 upstream as
/// a trailing header block, without the fields a trailer must not carry.
#[test]
fn request_trailers_reach_an_http2_upstream() {
    let up = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let mut out = format!("{:?} body={}", r.version, String::from_utf8_lossy(&body));
        if let Some(t) = r.trailers() {
            for (name, value) in t {
                out += &format!(" {name}={}", value.to_str().unwrap_or("?"));
            }
        }
        let _ = w.write_all(out.as_bytes());
    });
    let (_, t, _) = h2c_client();
    let target: nethttp::Uri = up.url().parse().unwrap();
    let proxy = httptest::Server::new(nethttp::httputil::ReverseProxy {
        rewrite: Some(Box::new(
            move |pr: &mut nethttp::httputil::ProxyRequest<'_>| {
                pr.set_url(&target);
            },
        )),
        transport: Some(Arc::new(t.clone())),
        ..nethttp::httputil::ReverseProxy::default()
    });
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n0\r\nX-Sum: 42\r\nContent-Type: text/evil\r\n\r\n",
    )
    .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(got.ends_with("HTTP/2.0 body=hello x-sum=42"), "{got}");
    drop(proxy);
    assert_no_threads(&t);
}

/// A dialer whose streams panic on their next read once `armed` is set.
#[derive(Debug, Default)]
struct PanickyDialer {
    armed: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct PanickyStream {
    inner: TcpStream,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl Stream for PanickyStream {
    fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.armed.load(Ordering::SeqCst) {
            panic!("{}", support::EXPECTED_PANIC);
        }
        self.inner.read(buf)
    }
    fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_read_timeout(d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_write_timeout(d)
    }
    fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        self.inner.shutdown(how)
    }
}

impl Dial for PanickyDialer {
    fn dial(
        &self,
        target: &Target,
        _deadline: Option<Instant>,
        _trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        let inner = TcpStream::connect((target.host.as_str(), target.port))?;
        Ok(Box::new(PanickyStream {
            inner,
            armed: self.armed.clone(),
        }))
    }
}

/// A reader thread that panics (here in a user's `Stream`) closes its connection on the way
/// out: the caller waiting for a response fails at once, not at its deadline, and no thread
/// is left behind.
#[test]
fn a_panicking_reader_thread_closes_its_connection() {
    support::quiet_expected_panics();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let ts = h2c_server(250, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = entered_tx.lock().unwrap().send(());
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        let _ = w.write_all(b"late");
    });
    let dialer = Arc::new(PanickyDialer::default());
    let armed = dialer.armed.clone();
    let (c, t, _) = h2c_client_with(|cfg| cfg.dialer = dialer);
    let url = ts.url().to_string();
    let started = Instant::now();
    let caller = thread::spawn(move || c.get(&url).map(|_| ()));
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    armed.store(true, Ordering::SeqCst);
    let err = caller.join().unwrap().unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the caller waited for its deadline"
    );
    let _ = release_tx.send(());
    assert_no_threads(&t);
}

/// A dialer whose first dial fails with a connect timeout once its caller's deadline has
/// passed (after telling the test it started); later dials connect.
#[derive(Debug, Default)]
struct FirstDialTimesOut {
    dials: AtomicUsize,
    started: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Dial for FirstDialTimesOut {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        if self.dials.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Some(tx) = self.started.lock().unwrap().take() {
                let _ = tx.send(());
            }
            let d = deadline.expect("the first caller has a deadline");
            while Instant::now() < d {
                thread::yield_now();
            }
            return Err(nethttp::Error::timeout(
                nethttp::error::TimeoutPhase::Connect,
            ));
        }
        TcpDialer::default().dial(target, deadline, trace)
    }
}

/// A caller waiting for another caller's dial is not failed by that caller's deadline: it
/// dials again itself.
#[test]
fn a_waiter_does_not_inherit_the_dialing_callers_timeout() {
    let ts = h2c_server(250, hello);
    let (tx, rx) = std::sync::mpsc::channel();
    let dialer = Arc::new(FirstDialTimesOut {
        started: std::sync::Mutex::new(Some(tx)),
        ..FirstDialTimesOut::default()
    });
    let (c, t, _) = h2c_client_with(|cfg| cfg.dialer = dialer.clone());
    let url = format!("{}/w", ts.url());
    let first = {
        let (c, url) = (c.clone(), url.clone());
        thread::spawn(move || {
            let mut req = Request::new(Method::GET, &url).unwrap();
            RequestOptions::of_mut(&mut req).set_timeout(Duration::from_millis(300));
            c.send(req).map(|_| ())
        })
    };
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut second = c.get(&url).unwrap();
    assert_eq!(second.text().unwrap(), "HTTP/2.0 GET /w");
    let err = first.join().unwrap().unwrap_err();
    assert!(
        matches!(err.kind(), nethttp::ErrorKind::Timeout(_)),
        "{err}"
    );
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 2);
    assert_no_threads(&t);
}

#[test]
fn cancel_resets_the_stream_and_the_connection_goes_on() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/endless" {
            let chunk = vec![b'y'; 16 << 10];
            while w.write_all(&chunk).is_ok() && w.flush().is_ok() {}
            return;
        }
        let _ = w.write_all(b"after");
    });
    let (c, t, dialer) = h2c_client();
    let token = CancelToken::new();
    let mut req = Request::new(Method::GET, &format!("{}/endless", ts.url())).unwrap();
    RequestOptions::of_mut(&mut req).cancel = Some(token.clone());
    let mut resp = c.send(req).unwrap();
    let mut buf = [0u8; 1024];
    resp.body().read_exact(&mut buf).unwrap();
    token.cancel();
    let mut sink = Vec::new();
    let err = resp.body().read_to_end(&mut sink).unwrap_err();
    assert!(err.to_string().contains("cancel"), "{err}");
    drop(resp);
    assert_eq!(c.get(ts.url()).unwrap().text().unwrap(), "after");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

#[test]
fn deadline_while_waiting_for_the_head() {
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
    let ts = h2c_server(250, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = gate_rx.recv_timeout(Duration::from_secs(5));
        let _ = w.write_all(b"late");
    });
    let (c, t, _) = h2c_client();
    let mut req = Request::new(Method::GET, ts.url()).unwrap();
    RequestOptions::of_mut(&mut req).set_timeout(Duration::from_millis(200));
    let err = c.send(req).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    drop(gate_tx);
    assert_no_threads(&t);
}

#[test]
fn server_shutdown_sends_goaway_and_the_next_request_dials_again() {
    let mut ts = h2c_server(250, hello);
    let (c, t, dialer) = h2c_client();
    assert_eq!(c.get(ts.url()).unwrap().text().unwrap(), "HTTP/2.0 GET /");
    let addr = ts.addr();
    ts.shutdown(Duration::from_secs(5)).unwrap();
    // The connection saw GOAWAY and left the pool (bounded wait).
    support::wait_until(
        Duration::from_secs(5),
        "the connection to leave the pool",
        || t.stats().open == 0,
    );
    // A new server on a new port: the request dials a new connection.
    let ts2 = h2c_server(250, hello);
    assert_ne!(ts2.addr(), addr);
    assert_eq!(c.get(ts2.url()).unwrap().text().unwrap(), "HTTP/2.0 GET /");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 2);
    assert_no_threads(&t);
}

#[cfg(feature = "httptest-tls")]
#[test]
fn tls_alpn_picks_h2_and_can_be_turned_off() {
    let ts = httptest::Server::new_tls(hello);
    let c = ts.client();
    let mut resp = c.get(ts.url()).unwrap();
    assert_eq!(resp.version, Version::HTTP_2);
    assert_eq!(resp.text().unwrap(), "HTTP/2.0 GET /");

    let mut tls = nethttp::tls::ClientTls::default();
    tls.add_root_certificates_pem(ts.ca_pem().unwrap().as_bytes())
        .unwrap();
    let t = Transport::with_config(TransportConfig {
        tls,
        protocols: Protocols {
            http2: false,
            ..Protocols::default()
        },
        ..TransportConfig::default()
    });
    let c1 = Client::with_transport(t.clone());
    let mut resp = c1.get(ts.url()).unwrap();
    assert_eq!(resp.version, Version::HTTP_11);
    assert_eq!(resp.text().unwrap(), "HTTP/1.1 GET /");
    assert_no_threads(&t);
}

#[cfg(feature = "httptest-tls")]
#[test]
fn tls_server_without_h2_falls_back_to_http1() {
    let cfg = Config {
        http2: Http2Config {
            enabled: false,
            ..Http2Config::default()
        },
        ..Config::default()
    };
    let ts = httptest::Server::with_config_tls(cfg, hello);
    let mut tls = nethttp::tls::ClientTls::default();
    tls.add_root_certificates_pem(ts.ca_pem().unwrap().as_bytes())
        .unwrap();
    let dialer = Arc::new(CountingDialer::default());
    let t = Transport::with_config(TransportConfig {
        tls,
        dialer: dialer.clone(),
        ..TransportConfig::default()
    });
    let c = Client::with_transport(t.clone());
    for _ in 0..3 {
        let mut resp = c.get(ts.url()).unwrap();
        assert_eq!(resp.version, Version::HTTP_11);
        assert_eq!(resp.text().unwrap(), "HTTP/1.1 GET /");
    }
    // The connection the ALPN dial made went to the HTTP/1 pool and was reused.
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

// ---- scripted servers over raw frames ----

/// A transport with h2c on and no proxy, for scripted servers.
fn raw_client() -> (Client, Transport, Arc<CountingDialer>) {
    h2c_client()
}

fn scripted(f: impl FnOnce(TcpListener) + Send + 'static) -> (SocketAddr, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (addr, thread::spawn(move || f(l)))
}

#[test]
fn raw_request_fields_and_connection_specific_headers() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, fields) = p.request();
        assert_eq!(field(&fields, ":method"), Some(&b"GET"[..]));
        assert_eq!(field(&fields, ":scheme"), Some(&b"http"[..]));
        assert_eq!(field(&fields, ":path"), Some(&b"/x?y=1"[..]));
        assert!(field(&fields, ":authority").is_some());
        for name in [
            "connection",
            "keep-alive",
            "upgrade",
            "transfer-encoding",
            "host",
        ] {
            assert!(field(&fields, name).is_none(), "{name} sent over http/2");
        }
        assert_eq!(field(&fields, "te"), Some(&b"trailers"[..]));
        assert_eq!(field(&fields, "x-custom"), Some(&b"1"[..]));
        p.send_headers(id, &[(":status", "200"), ("content-length", "2")], false);
        p.send(&Frame::Data(Data {
            stream_id: id,
            end_stream: true,
            data: b"ok",
            padding: Some(3),
        }));
        // Wait for the client to go (bounded by the read timeout).
        while p.next().is_some() {}
    });
    let (c, t, _) = raw_client();
    let mut req = Request::new(Method::GET, &format!("http://{addr}/x?y=1")).unwrap();
    for (n, v) in [
        ("connection", "keep-alive"),
        ("keep-alive", "5"),
        ("proxy-connection", "keep-alive"),
        ("te", "trailers"),
        ("x-custom", "1"),
    ] {
        req.headers.insert(n, v.parse().unwrap());
    }
    let mut resp = c.send(req).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// A server's SETTINGS_MAX_HEADER_LIST_SIZE bounds what the client sends: a request whose
/// header list is larger fails with `InvalidInput` before its HEADERS go out (Go's
/// `errRequestHeaderListSize`); a smaller one on the same connection goes.
#[test]
fn raw_a_header_list_over_the_servers_limit_is_not_sent() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(
            &l,
            Settings {
                max_header_list_size: Some(400),
                ..Settings::default()
            },
        );
        // The first request (small) is answered after our SETTINGS, so the client knows the
        // limit before the second.
        let (id, _) = p.request();
        p.send_headers(id, &[(":status", "204")], true);
        let (id, fields) = p.request();
        assert_eq!(field(&fields, ":path"), Some(&b"/small-again"[..]));
        p.send_headers(id, &[(":status", "204")], true);
        while p.next().is_some() {}
    });
    let (c, t, _) = raw_client();
    assert_eq!(c.get(&format!("http://{addr}/")).unwrap().status, 204);
    let mut big = Request::new(Method::GET, &format!("http://{addr}/big")).unwrap();
    big.headers
        .insert("x-big", "b".repeat(1000).parse().unwrap());
    let err = c.send(big).expect_err("a header list over the limit");
    assert_eq!(err.kind(), nethttp::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("limit of 400"), "{err}");
    let resp = c.get(&format!("http://{addr}/small-again")).unwrap();
    assert_eq!(resp.status, 204);
    drop(resp);
    assert_no_threads(&t);
    srv.join().unwrap();
}

#[test]
fn raw_body_respects_the_peer_windows_and_frame_size() {
    let (addr, srv) = scripted(|l| {
        // A stream window of 1,000 octets: the client must stop there until we add more.
        let mut p = Peer::accept(
            &l,
            Settings {
                initial_window_size: Some(1000),
                ..Settings::default()
            },
        );
        // A first request, answered after our SETTINGS: the client has applied them by the
        // time the response arrives (frames are processed in order), so the second
        // request's stream starts with the 1,000-octet window.
        let (id, _) = p.request();
        p.send_headers(id, &[(":status", "204")], true);
        let (id, _) = p.request();
        let mut got = 0usize;
        let mut end = false;
        let mut updated = false;
        while !end {
            match p.next().expect("eof before the end of the body") {
                Got::Data {
                    len, end_stream, ..
                } => {
                    assert!(len <= 16_384);
                    got += len;
                    end = end_stream;
                    assert!(updated || got <= 1000, "stream window overrun");
                    if got == 1000 && !updated {
                        updated = true;
                        p.send(&Frame::WindowUpdate(frame::WindowUpdate {
                            stream_id: id,
                            increment: 100_000,
                        }));
                        p.send(&Frame::WindowUpdate(frame::WindowUpdate {
                            stream_id: 0,
                            increment: 100_000,
                        }));
                    }
                }
                Got::Headers { .. } => panic!("unexpected headers"),
                _ => {}
            }
        }
        assert_eq!(got, 100_000);
        p.send_headers(id, &[(":status", "204")], true);
        while p.next().is_some() {}
    });
    let (c, t, _) = raw_client();
    assert_eq!(c.get(&format!("http://{addr}/")).unwrap().status, 204);
    let resp = c
        .post(
            &format!("http://{addr}/"),
            "text/plain",
            vec![b'a'; 100_000],
        )
        .unwrap();
    assert_eq!(resp.status, 204);
    drop(resp);
    assert_no_threads(&t);
    srv.join().unwrap();
}

#[test]
fn raw_goaway_retries_unprocessed_requests_on_a_new_connection() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, _) = p.request();
        assert_eq!(id, 1);
        // Nothing processed: last stream 0.
        p.send(&Frame::GoAway(GoAway {
            last_stream_id: 0,
            code: ErrorCode::NoError,
            debug_data: b"",
        }));
        let mut p2 = Peer::accept(&l, Settings::default());
        let (id, _) = p2.request();
        p2.send_headers(id, &[(":status", "200")], false);
        p2.send(&Frame::Data(Data {
            stream_id: id,
            end_stream: true,
            data: b"second",
            padding: None,
        }));
        while p2.next().is_some() {}
        drop(p);
    });
    let (c, t, dialer) = raw_client();
    let mut resp = c.get(&format!("http://{addr}/")).unwrap();
    assert_eq!(resp.text().unwrap(), "second");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 2);
    assert_no_threads(&t);
    srv.join().unwrap();
}

#[test]
fn raw_refused_stream_is_retried() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, _) = p.request();
        p.send(&Frame::RstStream(frame::RstStream {
            stream_id: id,
            code: ErrorCode::RefusedStream,
        }));
        // The connection is still usable: the retry comes on it, on the next stream.
        let (id2, _) = p.request();
        assert_eq!(id2, id + 2);
        p.send_headers(id2, &[(":status", "200"), ("content-length", "0")], true);
        while p.next().is_some() {}
    });
    let (c, t, dialer) = raw_client();
    let resp = c.get(&format!("http://{addr}/")).unwrap();
    assert_eq!(resp.status, 200);
    drop(resp);
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
    srv.join().unwrap();
}

#[test]
fn raw_malformed_responses_fail_cleanly() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("no_status", &[("x", "y")]),
        ("uppercase_field", &[(":status", "200"), ("X-Up", "1")]),
        (
            "connection_field",
            &[(":status", "200"), ("connection", "close")],
        ),
        ("request_pseudo", &[(":status", "200"), (":path", "/")]),
    ];
    for (name, fields) in cases {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let (addr, srv) = scripted(move |l| {
            let mut p = Peer::accept(&l, Settings::default());
            let (id, _) = p.request();
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            p.send_headers(id, &f, true);
            // The client resets the stream with PROTOCOL_ERROR.
            loop {
                match p.next() {
                    Some(Got::Rst { id: rid, code }) => {
                        assert_eq!((rid, code), (id, ErrorCode::Protocol));
                        break;
                    }
                    Some(_) => continue,
                    None => panic!("no rst_stream"),
                }
            }
        });
        let (c, t, _) = raw_client();
        let err = c.get(&format!("http://{addr}/")).expect_err(name);
        assert!(
            matches!(err.kind(), nethttp::ErrorKind::Http2(_)),
            "{name}: {err}"
        );
        srv.join().unwrap();
        assert_no_threads(&t);
    }
}

#[test]
fn raw_data_past_content_length_is_an_error() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, _) = p.request();
        p.send_headers(id, &[(":status", "200"), ("content-length", "3")], false);
        p.send(&Frame::Data(Data {
            stream_id: id,
            end_stream: true,
            data: b"toolong",
            padding: None,
        }));
        while p.next().is_some() {}
    });
    let (c, t, _) = raw_client();
    let r = c
        .get(&format!("http://{addr}/"))
        .and_then(|mut r| r.bytes());
    assert!(r.is_err(), "body over content-length accepted");
    assert_no_threads(&t);
    srv.join().unwrap();
}

#[test]
fn raw_ping_is_answered_and_a_silent_server_fails_the_health_check() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let _ = p.request();
        p.send(&Frame::Ping(frame::Ping {
            ack: false,
            data: *b"12345678",
        }));
        // The client answers our ping; then we go silent and never answer its pings.
        let mut acked = false;
        let mut pinged = false;
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            match p.next() {
                Some(Got::Ping { ack: true, data }) => {
                    assert_eq!(&data, b"12345678");
                    acked = true;
                }
                Some(Got::Ping { ack: false, .. }) => pinged = true,
                Some(_) => {}
                None => break,
            }
        }
        assert!(acked, "our ping was not answered");
        assert!(pinged, "the client sent no health-check ping");
    });
    let dialer = Arc::new(CountingDialer::default());
    let t = Transport::with_config(TransportConfig {
        dialer,
        protocols: Protocols {
            http1: false,
            unencrypted_http2: true,
            ..Protocols::default()
        },
        http2: nethttp::client::Http2ClientConfig {
            read_idle_timeout: Some(Duration::from_millis(200)),
            ping_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    let c = Client::with_transport(t.clone());
    let started = Instant::now();
    let err = c.get(&format!("http://{addr}/")).unwrap_err();
    // The client has no timeout of its own: only the health check can end this request.
    assert!(err.is_timeout(), "not a health-check failure: {err}");
    let source = std::error::Error::source(&err).map(|s| s.to_string());
    assert!(
        source.as_deref().is_some_and(|s| s.contains("ping")),
        "{source:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// A quiet connection's reader sleeps until the idle timeout is due, not until its next
/// 30 s look: an idle connection closes at `idle_conn_timeout` (here 2 s, longer than the
/// reader's 500 ms tick while in use, so the quiet reader's sleep is what ends it).
#[test]
fn a_quiet_connection_closes_at_its_idle_timeout() {
    let srv = h2c_server(100, hello);
    let (c, t, _) = h2c_client_with(|cfg| cfg.idle_conn_timeout = Some(Duration::from_secs(2)));
    let r = c
        .get(&format!("{}/", srv.url()))
        .and_then(|mut r| r.text())
        .unwrap();
    assert_eq!(r, "HTTP/2.0 GET /");
    let idle = Instant::now();
    assert_eq!(t.stats().open, 1);
    support::wait_until(
        Duration::from_secs(8),
        "the idle connection to close",
        || t.stats().open == 0,
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(1500),
        "closed before its idle timeout: {:?}",
        idle.elapsed()
    );
    assert_no_threads(&t);
}

/// The health check runs on a quiet connection too: with no stream open, a server that
/// stops answering is pinged after `read_idle_timeout` and the connection closes
/// `ping_timeout` later, not at the quiet reader's next 30 s look.
#[test]
fn raw_a_quiet_connection_runs_its_health_check() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, _) = p.request();
        p.send_headers(id, &[(":status", "200"), ("content-length", "0")], true);
        // Silent from here on: read what the client sends until it closes.
        let mut pinged = false;
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            match p.next() {
                Some(Got::Ping { ack: false, .. }) => pinged = true,
                Some(_) => {}
                None => break,
            }
        }
        assert!(pinged, "the client sent no health-check ping while quiet");
    });
    let (c, t, _) = h2c_client_with(|cfg| {
        cfg.http2 = nethttp::client::Http2ClientConfig {
            read_idle_timeout: Some(Duration::from_secs(1)),
            ping_timeout: Duration::from_secs(1),
            ..Default::default()
        };
    });
    let r = c.get(&format!("http://{addr}/")).unwrap();
    drop(r);
    support::wait_until(
        Duration::from_secs(8),
        "the health check to close the connection",
        || t.stats().open == 0,
    );
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// A response body that outlives its client and transport: once it has been read to its
/// end, no one can use the connection again, and it closes then (the stream's end closes
/// it), not at its idle timeout (60 s here), nor at the reader's next look at the connection
/// (its 500 ms tick while a stream is open, or a quiet reader's 30 s).
#[test]
fn raw_a_body_that_outlives_its_transport_closes_the_connection_at_its_end() {
    let (dropped_tx, dropped_rx) = std::sync::mpsc::channel::<()>();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<Duration>();
    let (addr, srv) = scripted(move |l| {
        let mut p = Peer::accept(&l, Settings::default());
        // The last frame goes out at once, not after the client's delayed ACK of the first.
        p.s.set_nodelay(true).unwrap();
        let (id, _) = p.request();
        p.send_headers(id, &[(":status", "200"), ("content-length", "6")], false);
        p.send(&Frame::Data(Data {
            stream_id: id,
            end_stream: false,
            data: b"abc",
            padding: None,
        }));
        dropped_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the client and its transport dropped");
        // A read timeout past the deadline below, so that only a close ends the loop in time.
        p.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let sent = Instant::now();
        p.send(&Frame::Data(Data {
            stream_id: id,
            end_stream: true,
            data: b"def",
            padding: None,
        }));
        while p.next().is_some() {}
        let _ = closed_tx.send(sent.elapsed());
    });
    let dialer = Arc::new(client_support::LiveDialer::default());
    let (c, t, _) = h2c_client_with(|cfg| {
        cfg.idle_conn_timeout = Some(Duration::from_secs(60));
        cfg.dialer = dialer.clone();
    });
    let mut body = c.get(&format!("http://{addr}/")).unwrap().into_reader();
    let mut first = [0u8; 3];
    body.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"abc");
    drop((c, t));
    dropped_tx.send(()).unwrap();
    let mut rest = Vec::new();
    body.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"def");
    let closed = closed_rx
        .recv_timeout(Duration::from_secs(25))
        .expect("the server's loop ended");
    assert!(
        closed < Duration::from_millis(400),
        "the connection stayed open {closed:?} after its last stream ended"
    );
    drop(body);
    client_support::assert_streams_dropped(&dialer);
    srv.join().unwrap();
}

/// `Expect: 100-continue` over HTTP/2: the body waits for the server's `100 Continue` (here
/// the timeout is 10 s, so only the 100 can release it), then goes; the trace hears the 100.
#[test]
fn raw_expect_continue_holds_the_body_for_100() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, fields) = p.request();
        assert_eq!(field(&fields, "expect"), Some(&b"100-continue"[..]));
        // No DATA before the 100: read what comes for a while (a bounded look, not a
        // synchronisation; a client that waits correctly never sends DATA here).
        p.s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let early = loop {
            match p.next() {
                Some(Got::Data { .. }) => break true,
                Some(_) => continue,
                None => break false,
            }
        };
        assert!(!early, "the body went before 100 Continue");
        p.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        p.send_headers(id, &[(":status", "100")], false);
        let mut got = 0;
        loop {
            match p.next().expect("connection closed before the body ended") {
                Got::Data {
                    len, end_stream, ..
                } => {
                    got += len;
                    if end_stream {
                        break;
                    }
                }
                _ => continue,
            }
        }
        assert_eq!(got, 5);
        p.send_headers(id, &[(":status", "200"), ("content-length", "0")], true);
        while p.next().is_some() {}
    });
    let (c, t, _) = h2c_client_with(|cfg| cfg.expect_continue_timeout = Duration::from_secs(10));
    let continues = Arc::new(AtomicUsize::new(0));
    let n = continues.clone();
    let mut req = Request::new(Method::POST, &format!("http://{addr}/up")).unwrap();
    req.headers
        .insert("expect", nethttp::HeaderValue::from_static("100-continue"));
    req.replace_body(nethttp::Body::from("hello"));
    RequestOptions::of_mut(&mut req).trace = nethttp::client::ClientTrace::new()
        .on_got_100_continue(move |()| {
            n.fetch_add(1, Ordering::SeqCst);
        });
    let resp = c.send(req).unwrap();
    assert_eq!(resp.status, 200);
    drop(resp);
    assert_eq!(continues.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// A stream this end resets keeps its place under the server's stream limit until the server
/// has read the reset, shown by the answer to a `PING` sent after it (Go's pending resets):
/// with a limit of one stream, the next request waits for that answer.
#[test]
fn raw_a_reset_stream_holds_its_slot_until_the_ping_after_it_returns() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(
            &l,
            Settings {
                max_concurrent_streams: Some(1),
                ..Settings::default()
            },
        );
        let (first, _) = p.request();
        // The client gives up on it: RST_STREAM, then a PING.
        let mut reset = false;
        let ping = loop {
            match p.next().expect("connection closed before the ping") {
                Got::Rst { id, .. } if id == first => reset = true,
                Got::Ping { ack: false, data } if reset => break data,
                Got::Headers { id, .. } => panic!("stream {id} opened over the limit"),
                _ => continue,
            }
        };
        // Until the PING is answered no new stream comes (a bounded look, as above).
        p.s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        loop {
            match p.next() {
                Some(Got::Headers { id, .. }) => panic!("stream {id} opened before the ping ack"),
                Some(_) => continue,
                None => break,
            }
        }
        p.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        p.send(&Frame::Ping(frame::Ping {
            ack: true,
            data: ping,
        }));
        let (second, _) = p.request();
        assert_eq!(second, first + 2);
        p.send_headers(second, &[(":status", "200"), ("content-length", "0")], true);
        while p.next().is_some() {}
    });
    let (c, t, _) = h2c_client_with(|cfg| cfg.http2.strict_max_concurrent_streams = true);
    let url = format!("http://{addr}/");
    let mut req = Request::new(Method::GET, &url).unwrap();
    RequestOptions::of_mut(&mut req).set_timeout(Duration::from_millis(200));
    assert!(c.send(req).unwrap_err().is_timeout());
    let resp = c.get(&url).unwrap();
    assert_eq!(resp.status, 200);
    drop(resp);
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// `ClientTrace` over HTTP/2 as over HTTP/1: every field of the request's header block
/// (pseudo-headers first, as Go's) and each informational response but 100.
#[test]
fn raw_trace_hears_the_header_fields_and_1xx_responses() {
    let (addr, srv) = scripted(|l| {
        let mut p = Peer::accept(&l, Settings::default());
        let (id, _) = p.request();
        p.send_headers(
            id,
            &[(":status", "103"), ("link", "</a.css>; rel=preload")],
            false,
        );
        p.send_headers(id, &[(":status", "200"), ("content-length", "0")], true);
        while p.next().is_some() {}
    });
    let (c, t, _) = raw_client();
    let fields = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let infos = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (f, i) = (fields.clone(), infos.clone());
    let mut req = Request::new(Method::GET, &format!("http://{addr}/traced")).unwrap();
    RequestOptions::of_mut(&mut req).trace = nethttp::client::ClientTrace::new()
        .on_wrote_header_field(move |name, value| {
            f.lock()
                .unwrap()
                .push(format!("{name}: {}", String::from_utf8_lossy(value)));
        })
        .on_got_1xx_response(move |status, headers| {
            let link = headers
                .get("link")
                .map(|v| v.to_str().unwrap_or("?").to_string());
            i.lock().unwrap().push(format!("{status} {link:?}"));
        });
    let resp = c.send(req).unwrap();
    assert_eq!(resp.status, 200);
    drop(resp);
    let fields = fields.lock().unwrap().clone();
    assert_eq!(fields[0], ":method: GET", "{fields:?}");
    assert!(fields.iter().any(|f| f == ":path: /traced"), "{fields:?}");
    assert_eq!(
        *infos.lock().unwrap(),
        ["103 Early Hints Some(\"</a.css>; rel=preload\")"]
    );
    assert_no_threads(&t);
    srv.join().unwrap();
}

/// A dialer that tells the test each dial began and holds the first until released.
#[derive(Debug, Default)]
struct HeldDialer {
    dials: AtomicUsize,
    started: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
    release: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Dial for HeldDialer {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = self.started.lock().unwrap().take() {
            let _ = tx.send(());
        }
        if let Some(rx) = self.release.lock().unwrap().take() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        TcpDialer::default().dial(target, deadline, trace)
    }
}

/// A cancel ends a request that waits for its HTTP/2 dial (the dial runs apart from it, as
/// Go's); the dial goes on, and its connection serves the next request.
#[test]
fn a_cancel_ends_the_wait_for_a_dial_that_goes_on() {
    let ts = h2c_server(250, hello);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    let dialer = Arc::new(HeldDialer {
        started: std::sync::Mutex::new(Some(started_tx)),
        release: std::sync::Mutex::new(Some(release_rx)),
        ..HeldDialer::default()
    });
    let (c, t, _) = h2c_client_with(|cfg| cfg.dialer = dialer.clone());
    let token = CancelToken::new();
    let mut req = Request::new(Method::GET, &format!("{}/c", ts.url())).unwrap();
    RequestOptions::of_mut(&mut req).cancel = Some(token.clone());
    let caller = {
        let c = c.clone();
        thread::spawn(move || c.send(req).map(|_| ()))
    };
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let canceled_at = Instant::now();
    token.cancel();
    let err = caller.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), nethttp::ErrorKind::Canceled, "{err}");
    assert!(
        canceled_at.elapsed() < Duration::from_secs(5),
        "the cancel waited for the dial"
    );
    // The dial finishes after the caller left, and its connection is pooled.
    release_tx.send(()).unwrap();
    support::wait_until(
        Duration::from_secs(5),
        "the dialed connection in the pool",
        || t.stats().open == 1,
    );
    let mut resp = c.get(&format!("{}/after", ts.url())).unwrap();
    assert_eq!(resp.text().unwrap(), "HTTP/2.0 GET /after");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}

/// Body limits and gzip behave over HTTP/2 as over HTTP/1: a body past the limit fails with
/// `TooLarge::Body` and resets only its stream (the connection serves the next request); a
/// gzip body is decoded.
#[cfg(feature = "gzip")]
#[test]
fn body_limit_and_gzip_as_over_http1() {
    let ts = h2c_server(250, |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/gz" {
            use std::io::Write as _;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(b"squeezed over h2").unwrap();
            let gz = enc.finish().unwrap();
            w.headers_mut().insert(
                "content-encoding",
                nethttp::HeaderValue::from_static("gzip"),
            );
            let _ = w.write_all(&gz);
            return;
        }
        let _ = w.write_all(&pattern(1 << 20));
    });
    let (c, t, dialer) = h2c_client();
    let mut resp = c.get(&format!("{}/big", ts.url())).unwrap();
    resp.set_body_limit(64 << 10);
    let err = resp.bytes().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            nethttp::ErrorKind::TooLarge(nethttp::error::TooLarge::Body)
        ),
        "{err}"
    );
    drop(resp);
    let mut resp = c.get(&format!("{}/gz", ts.url())).unwrap();
    assert_eq!(resp.version, Version::HTTP_2);
    assert!(resp.uncompressed());
    assert_eq!(resp.text().unwrap(), "squeezed over h2");
    assert_eq!(dialer.dials.load(Ordering::SeqCst), 1);
    assert_no_threads(&t);
}
