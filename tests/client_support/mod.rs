//! Test support for the client tests: raw-socket servers that misbehave on purpose, a wrapper
//! that runs the project's own server, a trace recorder, bounded waits and leak checks.
//!
//! Every socket a helper opens has 5 s read and write timeouts, every wait is bounded, and every
//! server shuts down on `Drop` within a bounded time.
#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nethttp::client::{ClientTrace, GotConnInfo, Transport};
use nethttp::net::{Dial, Stream, Target, TcpDialer};
use nethttp::proto::body::BodyDecoder;
use nethttp::proto::head::{self, Parsed, RequestHead};
use nethttp::proto::{framing, Limits};
use nethttp::server::{Config, ConnState, Server};
use nethttp::{Handler, Method, Request};

/// How long any socket of a test server waits for one read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The deadline put on test requests: far beyond what a passing test needs, so a hang fails
/// instead of blocking the suite.
pub const REQ_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Bounded waiting

/// Polls `cond` every 2 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Fails the test unless `cond` holds within 5 s.
#[track_caller]
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(5), cond),
        "timed out waiting for: {what}"
    );
}

/// Leak check, as Go's tests check for leftover `readLoop` goroutines: closes the idle
/// connections of `t` and waits until no connection is open and no reader or writer thread
/// is left. Call it after every response and client of the test is dropped.
#[track_caller]
pub fn assert_no_leaks(t: &Transport) {
    t.close_idle_connections();
    let ok = wait_until(Duration::from_secs(5), || {
        let s = t.stats();
        s.threads == 0 && s.open == 0 && s.idle == 0
    });
    assert!(
        ok,
        "transport leaked connections or threads: {:?}",
        t.stats()
    );
}

/// Transport settings for h2c with prior knowledge (HTTP/1 off, unencrypted HTTP/2 on) and no
/// proxy (the feature `http2` must be on for them to speak HTTP/2).
#[cfg(feature = "http2")]
pub fn h2c_transport_config() -> nethttp::client::TransportConfig {
    use nethttp::client::{Protocols, TransportConfig};
    TransportConfig {
        protocols: Protocols {
            http1: false,
            unencrypted_http2: true,
            ..Protocols::default()
        },
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    }
}

/// A TCP dialer whose streams count themselves while they live: the leak check for a test
/// that drops its transport, whose `stats` go with it. A connection's stream is dropped once
/// its reader and writer threads have ended and no body holds it.
#[derive(Debug, Default)]
pub struct LiveDialer {
    /// The streams dialed and not yet dropped.
    pub live: Arc<AtomicUsize>,
}

impl Dial for LiveDialer {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        let inner = TcpDialer::default().dial(target, deadline, trace)?;
        self.live.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(LiveStream {
            inner,
            live: Arc::clone(&self.live),
        }))
    }
}

/// Fails the test unless, within 5 s, every stream `d` dialed is dropped and `d` is held by
/// the caller alone (a transport's settings hold it, and so do its dial threads while they
/// run).
#[track_caller]
pub fn assert_streams_dropped(d: &Arc<LiveDialer>) {
    let ok = wait_until(Duration::from_secs(5), || {
        d.live.load(Ordering::SeqCst) == 0 && Arc::strong_count(d) == 1
    });
    assert!(
        ok,
        "{} stream(s) still held, {} holder(s) of the dialer: a connection thread, a body or \
         the transport is left",
        d.live.load(Ordering::SeqCst),
        Arc::strong_count(d)
    );
}

#[derive(Debug)]
struct LiveStream {
    inner: Box<dyn Stream>,
    live: Arc<AtomicUsize>,
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stream for LiveStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }
    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
    fn has_write_buffer(&self) -> bool {
        self.inner.has_write_buffer()
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(d)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr()
    }
}

/// Aborts the whole test process if the test holding it runs longer than its budget: the last
/// line of defence against a hang (every blocking call has its own deadline as well).
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Arms the watchdog for `budget`.
    pub fn new(name: &'static str, budget: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(budget) {
                eprintln!("watchdog: test {name} ran longer than {budget:?}; aborting");
                std::process::exit(101);
            }
        });
        Watchdog { done: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// A request with the test deadline set.
pub fn request(method: Method, url: &str) -> Request {
    let mut r = Request::new(method, url).expect("valid url");
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(REQ_TIMEOUT);
    r
}

/// A GET with the test deadline and `trace`.
pub fn get_traced(url: &str, trace: ClientTrace) -> Request {
    let mut r = request(Method::GET, url);
    nethttp::client::RequestOptions::of_mut(&mut r).trace = trace;
    r
}

// ---------------------------------------------------------------------------------------------
// Trace recorder

/// One trace hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    GetConn(String),
    GotConn(GotConnInfo),
    PutIdle(Option<String>),
    DnsStart(String),
    DnsDone(usize),
    ConnectStart,
    ConnectDone(bool),
    WroteHeaders,
    WroteRequest(bool),
    FirstByte,
    Got1xx(u16, Vec<(String, String)>),
    Got100,
}

/// Records every hook call of the traces it makes, in order.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Ev>>>);

impl Events {
    /// A new, empty recorder.
    pub fn new() -> Events {
        Events::default()
    }

    fn push(&self, e: Ev) {
        self.0.lock().unwrap().push(e);
    }

    /// A trace with every hook recording into this recorder.
    pub fn trace(&self) -> ClientTrace {
        let e = |ev: &Events| ev.clone();
        let (a, b, c, d, f, g, h, i, j, k, l, m) = (
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
            e(self),
        );
        ClientTrace::new()
            .on_get_conn(move |hp| a.push(Ev::GetConn(hp.to_string())))
            .on_got_conn(move |info| b.push(Ev::GotConn(info)))
            .on_put_idle_conn(move |r| c.push(Ev::PutIdle(r.map(str::to_string))))
            .on_dns_start(move |h| d.push(Ev::DnsStart(h.to_string())))
            .on_dns_done(move |n| f.push(Ev::DnsDone(n)))
            .on_connect_start(move |_| g.push(Ev::ConnectStart))
            .on_connect_done(move |(_, ok)| h.push(Ev::ConnectDone(ok)))
            .on_wrote_headers(move |()| i.push(Ev::WroteHeaders))
            .on_wrote_request(move |ok| j.push(Ev::WroteRequest(ok)))
            .on_got_first_response_byte(move |()| k.push(Ev::FirstByte))
            .on_got_100_continue(move |()| l.push(Ev::Got100))
            .on_got_1xx_response(move |status, headers| {
                let fields = headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                m.push(Ev::Got1xx(status.as_u16(), fields))
            })
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }

    /// Forgets the events so far.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The `got_conn` infos so far.
    pub fn got_conns(&self) -> Vec<GotConnInfo> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                Ev::GotConn(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    /// The single `got_conn` info so far; fails unless there is exactly one.
    #[track_caller]
    pub fn got_conn(&self) -> GotConnInfo {
        let v = self.got_conns();
        assert_eq!(
            v.len(),
            1,
            "expected one got_conn, events: {:?}",
            self.all()
        );
        v[0]
    }

    /// The `put_idle_conn` outcomes so far.
    pub fn put_idles(&self) -> Vec<Option<String>> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                Ev::PutIdle(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// True if `ev` was recorded.
    pub fn saw(&self, ev: &Ev) -> bool {
        self.all().contains(ev)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw connections

/// The server's side of one raw connection: the socket plus the bytes read past the last head.
#[derive(Debug)]
pub struct RawConn<S: Read + Write = TcpStream> {
    /// The socket.
    pub stream: S,
    /// Bytes read but not yet consumed.
    pub buf: Vec<u8>,
}

/// A request read off a raw connection.
#[derive(Debug)]
pub struct RawRequest {
    pub head: RequestHead,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<S: Read + Write> RawConn<S> {
    /// Wraps a socket.
    pub fn new(stream: S) -> RawConn<S> {
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 << 10];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one request head; `None` if the peer closed (or the read failed or timed out)
    /// first.
    pub fn read_head(&mut self) -> Option<RequestHead> {
        loop {
            if let Some(end) = head::find_end(&self.buf, 0) {
                match head::parse_request(&self.buf[..end], &Limits::default()) {
                    Ok(Parsed::Complete { head, len }) => {
                        self.buf.drain(..len);
                        return Some(head);
                    }
                    Ok(Parsed::Partial) => {}
                    Err(e) => panic!("test server got a malformed request head: {e}"),
                }
            }
            match self.fill() {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads the body that `head` frames.
    ///
    /// # Errors
    ///
    /// A read error, a framing error, or EOF before the end of the body.
    pub fn read_body(&mut self, head: &RequestHead) -> io::Result<Vec<u8>> {
        let f = framing::request(head.version, &head.headers).map_err(io::Error::other)?;
        let mut dec = BodyDecoder::new(f, &Limits::default());
        let mut out = Vec::new();
        while !dec.is_done() {
            if !self.buf.is_empty() {
                let step = dec
                    .decode(&self.buf, usize::MAX)
                    .map_err(io::Error::other)?;
                out.extend_from_slice(&self.buf[step.data]);
                self.buf.drain(..step.consumed);
                if step.consumed > 0 {
                    continue;
                }
            }
            if self.fill()? == 0 {
                dec.on_eof().map_err(io::Error::other)?;
                break;
            }
        }
        Ok(out)
    }

    /// Reads one whole request; `None` if the peer closed before a head.
    pub fn read_request(&mut self) -> Option<RawRequest> {
        let head = self.read_head()?;
        let body = self.read_body(&head).ok()?;
        Some(RawRequest { head, body })
    }

    /// Reads one request head as raw bytes (through the blank line), for tests that assert
    /// the exact bytes on the wire; `None` if the peer closed or the read failed first.
    pub fn read_head_bytes(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Some(self.buf.drain(..i + 4).collect());
            }
            if self.fill().ok()? == 0 {
                return None;
            }
        }
    }

    /// Writes all of `bytes`; false if the write failed.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok() && self.stream.flush().is_ok()
    }

    /// Reads until the peer closes: returns the bytes that came and whether EOF (or a reset)
    /// was seen before the socket's read timeout.
    pub fn read_to_close(&mut self) -> (Vec<u8>, bool) {
        let mut got = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return (got, false)
                }
                Err(_) => return (got, true),
            }
        }
    }
}

/// `HTTP/1.1 200 OK` with `body` and a Content-Length.
pub fn ok_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )
}

/// Serves every request on `c` with a 200 whose body echoes the request body, until the peer
/// closes.
pub fn serve_echo<S: Read + Write>(c: &mut RawConn<S>) {
    while let Some(req) = c.read_request() {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Method: {}\r\nX-Path: {}\r\n\r\n",
            req.body.len(),
            req.head.method,
            req.head.uri
        );
        if !c.send([head.as_bytes(), &req.body].concat()) {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TCP server

type Script = dyn Fn(RawConn, usize) + Send + Sync;

struct RawShared {
    stop: AtomicBool,
    /// A clone of every accepted socket, to shut down on drop.
    socks: Mutex<Vec<TcpStream>>,
    /// Connection scripts still running.
    live: AtomicUsize,
}

/// A TCP server on `127.0.0.1:0` that runs a script on its own thread for each accepted
/// connection, and counts connections so tests can tell reuse from a new connection.
pub struct RawServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    shared: Arc<RawShared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl RawServer {
    /// Starts the server; `script(conn, n)` runs for the n-th accepted connection (from 0).
    pub fn start<F>(script: F) -> RawServer
    where
        F: Fn(RawConn, usize) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(RawShared {
            stop: AtomicBool::new(false),
            socks: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
        });
        let script: Arc<Script> = Arc::new(script);
        let (acc, sh) = (Arc::clone(&accepted), Arc::clone(&shared));
        let accept_thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let n = acc.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_nodelay(true);
                if let Ok(c) = stream.try_clone() {
                    sh.socks.lock().unwrap().push(c);
                }
                sh.live.fetch_add(1, Ordering::SeqCst);
                let (script, sh2) = (Arc::clone(&script), Arc::clone(&sh));
                std::thread::spawn(move || {
                    /// Marks the script done and closes the connection when it returns or
                    /// panics (a clone of the socket stays in `socks`, so dropping the
                    /// script's handle alone would not send a FIN).
                    struct Done(Arc<RawShared>, Option<TcpStream>);
                    impl Drop for Done {
                        fn drop(&mut self) {
                            if let Some(s) = &self.1 {
                                let _ = s.shutdown(Shutdown::Both);
                            }
                            self.0.live.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _done = Done(sh2, stream.try_clone().ok());
                    script(RawConn::new(stream), n);
                });
            }
        });
        RawServer {
            addr,
            accepted,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for RawServer {
    /// Stops accepting, shuts every connection down and waits (at most about 5 s) for the
    /// scripts to return.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        for s in self.shared.socks.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        wait_until(IO_TIMEOUT, || self.shared.live.load(Ordering::SeqCst) == 0);
    }
}

// ---------------------------------------------------------------------------------------------
// The project's own server

/// The project's `Server` on `127.0.0.1:0`, serving on its own thread, counting the
/// connections it accepts; shut down on `Drop`.
pub struct TestServer {
    pub server: Server,
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `handler` with the default config.
    pub fn start(handler: impl Handler) -> TestServer {
        TestServer::with_config(Config::default(), handler)
    }

    /// Serves `handler` with `cfg` (its `addr` and `conn_state` are replaced).
    pub fn with_config(mut cfg: Config, handler: impl Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = Arc::clone(&accepted);
        cfg.addr = addr.to_string();
        cfg.conn_state = Some(Arc::new(move |_, state| {
            if state == ConnState::New {
                acc.fetch_add(1, Ordering::SeqCst);
            }
        }));
        let server = Server::with_config(cfg, handler);
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            let _ = s.serve(listener);
        });
        TestServer {
            server,
            addr,
            accepted,
            thread: Some(thread),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// How many connections the server accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.server.shutdown(Duration::from_secs(2)).is_err() {
            self.server.close();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sequencing

/// A signal between threads, usable from `Fn` handlers (the receiver is behind a lock).
#[derive(Clone)]
pub struct Signal {
    tx: mpsc::Sender<()>,
    rx: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Default for Signal {
    fn default() -> Signal {
        let (tx, rx) = mpsc::channel();
        Signal {
            tx,
            rx: Arc::new(Mutex::new(rx)),
        }
    }
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signal")
    }
}

impl Signal {
    /// A new signal.
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Fires the signal once more.
    pub fn fire(&self) {
        let _ = self.tx.send(());
    }

    /// Waits for one firing, at most `timeout`; true if it came.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.rx.lock().unwrap().recv_timeout(timeout).is_ok()
    }

    /// Waits for one firing, failing the test after 5 s.
    #[track_caller]
    pub fn expect(&self, what: &str) {
        assert!(
            self.wait(Duration::from_secs(5)),
            "timed out waiting for {what}"
        );
    }
}

/// Reads the whole body of `resp` as text, failing the test on error.
#[track_caller]
pub fn text(resp: &mut nethttp::Response) -> String {
    resp.text().expect("read response body")
}

// ---------------------------------------------------------------------------------------------
// Raw Unix-domain socket server

/// A Unix-domain socket server at a unique path under the temp dir, running a script per
/// connection like [`RawServer`]; removes its socket file on `Drop`.
#[cfg(unix)]
pub struct UnixServer {
    path: std::path::PathBuf,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    socks: Arc<Mutex<Vec<std::os::unix::net::UnixStream>>>,
    live: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
}

#[cfg(unix)]
impl UnixServer {
    /// Starts the server; `script(conn, n)` runs for the n-th accepted connection.
    pub fn start<F>(script: F) -> UnixServer
    where
        F: Fn(RawConn<std::os::unix::net::UnixStream>, usize) + Send + Sync + 'static,
    {
        use std::os::unix::net::UnixListener;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "nethttp-test-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind unix socket");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let socks = Arc::new(Mutex::new(Vec::new()));
        let live = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (acc, st, sk, lv) = (
            Arc::clone(&accepted),
            Arc::clone(&stop),
            Arc::clone(&socks),
            Arc::clone(&live),
        );
        let accept_thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let n = acc.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                let mine = stream.try_clone().ok();
                if let Ok(c) = stream.try_clone() {
                    sk.lock().unwrap().push(c);
                }
                lv.fetch_add(1, Ordering::SeqCst);
                let (script, lv2) = (Arc::clone(&script), Arc::clone(&lv));
                std::thread::spawn(move || {
                    /// Closes the connection and marks the script done, even on a panic.
                    struct Done(Arc<AtomicUsize>, Option<std::os::unix::net::UnixStream>);
                    impl Drop for Done {
                        fn drop(&mut self) {
                            if let Some(s) = &self.1 {
                                let _ = s.shutdown(Shutdown::Both);
                            }
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _done = Done(lv2, mine);
                    script(RawConn::new(stream), n);
                });
            }
        });
        UnixServer {
            path,
            accepted,
            stop,
            socks,
            live,
            accept_thread: Some(accept_thread),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[cfg(unix)]
impl Drop for UnixServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(&self.path);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        for s in self.socks.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        wait_until(IO_TIMEOUT, || self.live.load(Ordering::SeqCst) == 0);
        let _ = std::fs::remove_file(&self.path);
    }
}
