//! Test support for the server's integration tests: a server on `127.0.0.1:0` on a background
//! thread, a raw-socket client with a small response reader, bounded polls and a runner for
//! external programs.
//!
//! Every blocking call here has a deadline: client sockets read and write with 2 s timeouts,
//! a whole response must arrive within 10 s, and `Drop` closes the server and waits at most 5 s
//! for its threads. Nothing here sleeps to synchronise; [`wait_until`] polls a condition with
//! a deadline.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nethttp::http::{HeaderMap, Method, Version};
use nethttp::proto::body::BodyDecoder;
use nethttp::proto::framing::{self, Framing};
use nethttp::proto::head::{self, Parsed};
use nethttp::proto::Limits;
use nethttp::server::{Config, Handler, Server};

/// Read and write timeout of every client socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The most a whole response may take to arrive.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);

/// How long `Drop` and the `wait_*` helpers wait for the server to wind down.
pub const TEARDOWN: Duration = Duration::from_secs(5);

/// A [`Config`] for tests: short timeouts so a stuck test fails fast, defaults otherwise.
pub fn test_config() -> Config {
    Config {
        addr: "127.0.0.1:0".into(),
        read_header_timeout: Some(Duration::from_secs(3)),
        idle_timeout: Some(Duration::from_secs(5)),
        inactivity_timeout: Some(Duration::from_secs(5)),
        ..Config::default()
    }
}

/// A server serving on `127.0.0.1:0` from a background thread. Dropping it closes the server,
/// waits for `serve` to return and checks that every connection thread has exited.
pub struct TestServer {
    srv: Server,
    addr: SocketAddr,
    serve: Option<JoinHandle<nethttp::Result<()>>>,
}

impl TestServer {
    /// Starts `handler` with `cfg` (its `addr` is ignored: the server binds `127.0.0.1:0`).
    pub fn start(cfg: Config, handler: impl Handler) -> TestServer {
        let listener = nethttp::net::listen("127.0.0.1:0").expect("bind 127.0.0.1:0");
        TestServer::on_listener(cfg, listener, handler)
    }

    /// Starts `handler` with `cfg` on a listener the test made (one that shares its port,
    /// say).
    pub fn on_listener(
        cfg: Config,
        listener: std::net::TcpListener,
        handler: impl Handler,
    ) -> TestServer {
        let addr = listener.local_addr().expect("local_addr");
        let srv = Server::with_config(cfg, handler);
        let s = srv.clone();
        let serve = thread::Builder::new()
            .name("test-serve".into())
            .spawn(move || s.serve(listener))
            .expect("spawn serve thread");
        TestServer {
            srv,
            addr,
            serve: Some(serve),
        }
    }

    /// Starts `handler` with [`test_config`].
    pub fn with_handler(handler: impl Handler) -> TestServer {
        TestServer::start(test_config(), handler)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A handle to the server, to shut it down or query it from any thread.
    pub fn server(&self) -> &Server {
        &self.srv
    }

    /// A new raw client connection.
    pub fn connect(&self) -> RawConn {
        RawConn::connect(self.addr)
    }

    /// True once the thread running `serve` has returned.
    pub fn serve_returned(&self) -> bool {
        self.serve.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits (bounded) for `serve` to return and checks it returned `Ok`.
    pub fn join_serve(&mut self) {
        wait_until(TEARDOWN, "serve() to return", || self.serve_returned());
        if let Some(h) = self.serve.take() {
            let r = h.join().expect("serve thread panicked");
            assert!(r.is_ok(), "serve returned {r:?}");
        }
    }

    /// Waits (bounded) until no connection thread of this server is alive.
    pub fn wait_no_threads(&self) {
        let srv = &self.srv;
        wait_until(TEARDOWN, "num_threads() to reach 0", || {
            srv.num_threads() == 0
        });
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.srv.close();
        let deadline = Instant::now() + TEARDOWN;
        while !self.serve_returned() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        let serve_ok = self.serve_returned();
        if let Some(h) = self.serve.take() {
            if serve_ok {
                let _ = h.join();
            }
        }
        while self.srv.num_threads() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        if !thread::panicking() {
            assert!(
                serve_ok,
                "serve() did not return within {TEARDOWN:?} of close()"
            );
            assert_eq!(
                self.srv.num_threads(),
                0,
                "connection threads still alive {TEARDOWN:?} after close()"
            );
        }
    }
}

/// Handler panics these tests cause on purpose carry this text; the panic hook stays quiet
/// about them.
pub const EXPECTED_PANIC: &str = "panic expected by the test";

/// Installs (once) a panic hook that prints every panic but the expected ones.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.contains(EXPECTED_PANIC) {
                default(info);
            }
        }));
    });
}

/// Polls `cond` every 2 ms until it holds or `timeout` passes; true if it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `cond` until it holds; panics naming `what` if it does not within `timeout`.
pub fn wait_until(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        poll_until(timeout, cond),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// A shared, ordered record of what handlers saw (`"GET /path"` and the like).
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// Appends an entry.
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }

    /// A copy of every entry so far.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// How many entries so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// True if any entry contains `needle`.
    pub fn any_contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|c| c.contains(needle))
    }
}

/// A parsed response, framed by the crate's own `proto` module.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The version on the status line.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// The decoded body.
    pub body: Vec<u8>,
    /// How the body was framed.
    pub framing: Framing,
    /// The trailer fields of a chunked body.
    pub trailers: Option<HeaderMap>,
    /// The head as received, for messages.
    pub raw_head: String,
}

impl Response {
    /// The value of the first field `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// How many fields named `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.get_all(name).iter().count()
    }

    /// True if a `Connection` field lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers.get_all("connection").iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    }

    /// True if the response says the connection closes after it.
    pub fn is_close(&self) -> bool {
        self.connection_has("close")
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a response could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended before any byte of a response (FIN, or a reset if `reset`).
    Closed {
        /// The end was a reset rather than a FIN.
        reset: bool,
    },
    /// Part of a response arrived, then the connection ended: a truncated response.
    Truncated {
        /// The bytes of the incomplete response.
        got: Vec<u8>,
        /// The end was a reset rather than a FIN.
        reset: bool,
    },
    /// Nothing more arrived in time.
    Timeout {
        /// The bytes of the incomplete response.
        got: Vec<u8>,
    },
    /// The bytes are not a valid response.
    Parse {
        /// The parser's error.
        err: nethttp::Error,
        /// The bytes that failed to parse.
        got: Vec<u8>,
    },
    /// Any other socket error.
    Io(io::Error),
}

impl ReadError {
    /// True if the connection ended without any byte of a response.
    pub fn is_closed(&self) -> bool {
        matches!(self, ReadError::Closed { .. })
    }
}

/// A raw client connection with 2 s read and write timeouts and a read buffer, so several
/// pipelined responses can be read off one socket.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    reset: bool,
}

impl RawConn {
    /// Connects to `addr`; panics if the connection fails.
    pub fn connect(addr: SocketAddr) -> RawConn {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Connects to `addr`.
    pub fn try_connect(addr: SocketAddr) -> io::Result<RawConn> {
        RawConn::from_stream(TcpStream::connect_timeout(&addr, IO_TIMEOUT)?)
    }

    /// Connects to `addr` from the local address `from` (`127.0.0.3`, say: every 127/8
    /// address is the loopback on Linux), so the server sees a client other than 127.0.0.1.
    pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> RawConn {
        use socket2::{Domain, SockAddr, Socket, Type};
        let connect = || -> io::Result<RawConn> {
            let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            sock.bind(&SockAddr::from(SocketAddr::new(from, 0)))?;
            sock.connect_timeout(&SockAddr::from(addr), IO_TIMEOUT)?;
            RawConn::from_stream(sock.into())
        };
        connect().unwrap_or_else(|e| panic!("connect from {from} to {addr}: {e}"))
    }

    fn from_stream(stream: TcpStream) -> io::Result<RawConn> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
            eof: false,
            reset: false,
        })
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The client's own address (what the server sees as the remote address).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local_addr")
    }

    /// Writes all of `bytes` in one `write_all`; panics on error.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.try_send(bytes).expect("send request bytes");
    }

    /// Writes all of `bytes` in one `write_all`.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        (&self.stream).write_all(bytes.as_ref())
    }

    /// Sends our FIN (half-close): we will write nothing more.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads once more from the socket into the buffer, within `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<(), ReadError> {
        let mut tmp = [0u8; 16 << 10];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout {
                    got: self.buf.clone(),
                });
            }
            let _ = self
                .stream
                .set_read_timeout(Some(left.min(IO_TIMEOUT).max(Duration::from_millis(1))));
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::Timeout {
                        got: self.buf.clone(),
                    })
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    self.eof = true;
                    self.reset = true;
                    return Ok(());
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    fn ended(&self, got: Vec<u8>) -> ReadError {
        if got.is_empty() {
            ReadError::Closed { reset: self.reset }
        } else {
            ReadError::Truncated {
                got,
                reset: self.reset,
            }
        }
    }

    /// Reads one response to a request with `method` (a 1xx counts as a response of its own).
    pub fn try_read_response(&mut self, method: &str) -> Result<Response, ReadError> {
        let deadline = Instant::now() + RESPONSE_DEADLINE;
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let limits = Limits::default();
        let (head, len) = loop {
            if !self.buf.is_empty() {
                match head::parse_response(&self.buf, &limits) {
                    Ok(Parsed::Complete { head, len }) => break (head, len),
                    Ok(Parsed::Partial) => {}
                    Err(err) => {
                        return Err(ReadError::Parse {
                            err,
                            got: self.buf.clone(),
                        })
                    }
                }
            }
            if self.eof {
                let got = std::mem::take(&mut self.buf);
                return Err(self.ended(got));
            }
            self.fill(deadline)?;
        };
        let framing = framing::response(&method, head.status, head.version, &head.headers)
            .map_err(|err| ReadError::Parse {
                err,
                got: self.buf.clone(),
            })?;
        let raw_head = String::from_utf8_lossy(&self.buf[..len]).into_owned();
        let mut got: Vec<u8> = self.buf.drain(..len).collect();
        let mut dec = BodyDecoder::new(framing, &limits);
        let mut body = Vec::new();
        while !dec.is_done() {
            if !self.buf.is_empty() {
                let step = dec
                    .decode(&self.buf, usize::MAX)
                    .map_err(|err| ReadError::Parse {
                        err,
                        got: self.buf.clone(),
                    })?;
                body.extend_from_slice(&self.buf[step.data.clone()]);
                got.extend_from_slice(&self.buf[..step.consumed]);
                self.buf.drain(..step.consumed);
                if dec.is_done() || !self.buf.is_empty() {
                    continue;
                }
            }
            if self.eof {
                if dec.on_eof().is_ok() {
                    break;
                }
                return Err(self.ended(got));
            }
            if let Err(e) = self.fill(deadline) {
                return Err(match e {
                    ReadError::Timeout { .. } => ReadError::Timeout { got },
                    other => other,
                });
            }
        }
        Ok(Response {
            status: head.status.as_u16(),
            version: head.version,
            headers: head.headers,
            body,
            framing,
            trailers: dec.take_trailers(),
            raw_head,
        })
    }

    /// Reads one response to a GET; panics with what was received if it cannot.
    pub fn read_response(&mut self) -> Response {
        self.read_response_for("GET")
    }

    /// Reads one response to a request with `method`; panics if it cannot.
    pub fn read_response_for(&mut self, method: &str) -> Response {
        match self.try_read_response(method) {
            Ok(r) => r,
            Err(e) => panic!("reading response: {}", describe(&e)),
        }
    }

    /// Reads until the server closes the connection; returns the bytes that came first (which
    /// callers usually expect to be none).
    ///
    /// # Errors
    ///
    /// A timeout if the connection is still open after 2 s, or a reset if the close was one.
    pub fn read_to_close(&mut self) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while !self.eof {
            self.fill(deadline)?;
        }
        let rest = std::mem::take(&mut self.buf);
        if self.reset {
            return Err(ReadError::Truncated {
                got: rest,
                reset: true,
            });
        }
        Ok(rest)
    }

    /// Asserts the server closes the connection cleanly (FIN, no reset) and sends nothing
    /// more first.
    pub fn expect_closed(&mut self, ctx: &str) {
        match self.read_to_close() {
            Ok(rest) if rest.is_empty() => {}
            Ok(rest) => panic!(
                "{ctx}: expected the connection to close, got more bytes: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => panic!("{ctx}: expected a clean close: {}", describe(&e)),
        }
    }

    /// Asserts nothing arrives for `window` and the connection stays open. (Only absence can
    /// be checked this way; it never synchronises anything.)
    pub fn expect_silent(&mut self, window: Duration, ctx: &str) {
        assert!(
            self.buf.is_empty(),
            "{ctx}: unexpected bytes already buffered"
        );
        match self.fill(Instant::now() + window) {
            Err(ReadError::Timeout { .. }) => {}
            Ok(()) if self.eof => panic!("{ctx}: connection closed during the quiet window"),
            Ok(()) => panic!(
                "{ctx}: expected silence, got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("{ctx}: {}", describe(&e)),
        }
    }

    /// Reads raw bytes (buffered ones first) until `want` bytes are in hand; returns them.
    pub fn read_raw(&mut self, want: usize) -> Vec<u8> {
        let deadline = Instant::now() + RESPONSE_DEADLINE;
        while self.buf.len() < want && !self.eof {
            if let Err(e) = self.fill(deadline) {
                panic!("reading {want} raw bytes: {}", describe(&e));
            }
        }
        assert!(
            self.buf.len() >= want,
            "connection closed after {} of {want} raw bytes: {:?}",
            self.buf.len(),
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.drain(..want).collect()
    }
}

/// A one-line description of a read error, with the bytes received.
pub fn describe(e: &ReadError) -> String {
    fn text(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
        format!("{s:?}{}", if b.len() > 300 { "..." } else { "" })
    }
    match e {
        ReadError::Closed { reset } => {
            format!("connection closed before a response (reset: {reset})")
        }
        ReadError::Truncated { got, reset } => {
            format!("truncated response (reset: {reset}) after {}", text(got))
        }
        ReadError::Timeout { got } => format!("timed out after {}", text(got)),
        ReadError::Parse { err, got } => format!("unparsable response ({err}): {}", text(got)),
        ReadError::Io(e) => format!("socket error: {e}"),
    }
}

/// Sends `req` on a new connection and reads one response to `method`.
pub fn roundtrip(addr: SocketAddr, method: &str, req: impl AsRef<[u8]>) -> Response {
    let mut c = RawConn::connect(addr);
    c.send(req);
    c.read_response_for(method)
}

/// The `nethttp::Error` carried by an `io::Error` from a body read or a response write.
pub fn nethttp_kind(e: &io::Error) -> Option<nethttp::ErrorKind> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<nethttp::Error>())
        .map(|err| err.kind())
}

/// Whether a peer tool can be used: `probe` must run and exit successfully. A missing tool
/// fails the test under `CI=true` and is otherwise reported as skipped.
pub fn require_tool(name: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} not installed (CI=true: peers are required; run .ci/install-peers)");
    }
    // Straight to stderr, past the test harness's output capture, so the skip is seen.
    let _ = writeln!(io::stderr(), "skipped: {name} not installed");
    false
}

/// Runs `cmd` to completion with a deadline, killing it if it overruns; panics on overrun.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err_t.join().unwrap_or_default();
                panic!(
                    "{desc} overran {timeout:?} and was killed; stderr: {}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// The number of threads of this process named `nethttp-conn` (Linux; 0 elsewhere).
pub fn conn_threads_in_process() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.trim_end() == "nethttp-conn")
                .unwrap_or(false)
        })
        .count()
}

/// The number of open file descriptors of this process (Linux; `None` elsewhere).
pub fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// A port on 127.0.0.1 that refuses connections: bound without listening, held by the
/// returned socket, so no other test can take it (and no race between freeing a port and
/// connecting to it).
pub fn refusing_port() -> (socket2::Socket, u16) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    (s, port)
}
