//! Test support for the router and handler tests: an in-memory `ResponseWriter`, a server on
//! 127.0.0.1:0 that shuts down on drop, and a raw-socket client that reads one response.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nethttp::proto::head::{self, Parsed, ResponseHead};
use nethttp::proto::Limits;
use nethttp::server::{Config, Server};
use nethttp::{Handler, HeaderMap, Method, Request, ResponseWriter, StatusCode};

/// Records what a handler writes: status, headers, body; flushes and writes after a
/// bodiless status are noted, not sent anywhere.
#[derive(Debug, Default)]
pub struct Recorder {
    pub headers: HeaderMap,
    pub status: Option<StatusCode>,
    pub body: Vec<u8>,
    /// How many times the handler flushed.
    pub flushes: usize,
    /// Headers as they were at the first body write or flush (what a server would send).
    pub sent_headers: Option<HeaderMap>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The status a client would see: 200 if the handler chose none.
    pub fn code(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<binary>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn commit(&mut self) {
        if self.sent_headers.is_none() {
            self.status.get_or_insert(StatusCode::OK);
            self.sent_headers = Some(self.headers.clone());
        }
    }
}

impl Write for Recorder {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.commit();
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.commit();
        self.flushes += 1;
        Ok(())
    }
}

impl ResponseWriter for Recorder {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.status.is_none() && !status.is_informational() {
            self.status = Some(status);
        }
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// A request with `Host: host` (if not empty).
pub fn request(method: &str, target: &str, host: &str) -> Request {
    let method = Method::from_bytes(method.as_bytes()).expect("test method");
    let mut r = Request::new(method, target).expect("test target");
    if !host.is_empty() {
        r.headers.insert("host", host.parse().expect("test host"));
    }
    r
}

/// Serves one request through `h` in memory; returns the recorder and the request after the
/// handler (with the path values and pattern a router set).
pub fn serve(h: &dyn Handler, mut r: Request) -> (Recorder, Request) {
    let mut w = Recorder::new();
    h.serve_http(&mut w, &mut r);
    (w, r)
}

/// A server on 127.0.0.1:0, shut down (and its threads checked) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub srv: Server,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(h: impl Handler) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let cfg = Config {
            addr: addr.to_string(),
            thread_idle_timeout: Duration::from_millis(200),
            ..Config::default()
        };
        let srv = Server::with_config(cfg, h);
        let s = srv.clone();
        let thread = std::thread::spawn(move || {
            let _ = s.serve(listener);
        });
        TestServer {
            addr,
            srv,
            thread: Some(thread),
        }
    }

    /// A client socket with 2-second timeouts.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        s.set_write_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.srv.shutdown(Duration::from_secs(2));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // No connection thread may outlive the server (bounded poll, no bare sleep).
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.srv.num_threads() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !std::thread::panicking() {
            assert_eq!(self.srv.num_threads(), 0, "connection threads leaked");
        }
    }
}

/// One response read from a socket: head and body (Content-Length framing only).
#[derive(Debug)]
pub struct RawResponse {
    pub head: ResponseHead,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Reads one response with a `Content-Length` (or none, meaning empty) from `s`, keeping
/// bytes past it in `buf` for the next call.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> RawResponse {
    let mut chunk = [0u8; 4096];
    loop {
        if let Parsed::Complete { head, len } =
            head::parse_response(buf, &Limits::default()).expect("valid response head")
        {
            let n: usize = head
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < len + n {
                let got = s.read(&mut chunk).expect("read body");
                assert!(got > 0, "connection closed inside the body");
                buf.extend_from_slice(&chunk[..got]);
            }
            let body = buf[len..len + n].to_vec();
            buf.drain(..len + n);
            return RawResponse { head, body };
        }
        let got = s.read(&mut chunk).expect("read head");
        assert!(got > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..got]);
    }
}

/// True if the server closes the connection (EOF or reset) within the socket's read timeout,
/// with no further bytes.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
        ),
    }
}
