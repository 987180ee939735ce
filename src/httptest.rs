//! Test support, as Go's `net/http/httptest`: a real server on a loopback port, a
//! `ResponseWriter` that records, and server-side requests built in one call.
//!
//! Available with features `client` and `server` (both on by default).
//!
//! ```
//! use std::io::Write;
//! use nethttp::{httptest, Request, ResponseWriter};
//!
//! fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
//!     let _ = write!(w, "hello, {}", r.uri.path());
//! }
//!
//! // A handler called directly, without a socket:
//! let mut rec = httptest::ResponseRecorder::new();
//! let mut req = httptest::request("GET", "/world", ());
//! hello(&mut rec, &mut req);
//! assert_eq!(rec.status(), 200);
//! assert_eq!(rec.body(), b"hello, /world");
//!
//! // The same handler behind a real server on 127.0.0.1:
//! let mut srv = httptest::Server::new(hello);
//! assert!(srv.url().starts_with("http://127.0.0.1:"));
//! srv.close()?;
//! # Ok::<(), nethttp::Error>(())
//! ```

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::server::{self, Body, Handler, Request, ResponseWriter};

/// How long [`Server::close`] waits for in-flight requests before cutting them off.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long dropping a [`Server`] waits for its accept thread after closing it.
const DROP_WAIT: Duration = Duration::from_secs(1);

/// An HTTP server on a free port of `127.0.0.1`, for tests: Go's `httptest.Server`.
///
/// It starts serving at once, on its own thread. [`close`](Self::close) shuts it down
/// gracefully and waits; dropping it closes it without waiting for handlers (and waits at
/// most a second for the accept thread). [`client`](Self::client) gives a client wired to it,
/// whose idle connections are closed with the server, as Go's `Server.Client`.
///
/// ```
/// use std::io::Write;
/// use nethttp::{httptest, Request, ResponseWriter};
///
/// let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
///     let _ = w.write_all(b"hi");
/// });
/// let mut resp = ts.client().get(&format!("{}/", ts.url()))?;
/// assert_eq!(resp.text()?, "hi");
/// # Ok::<(), nethttp::Error>(())
/// ```
pub struct Server {
    srv: server::Server,
    /// The transport behind `client()`; its idle connections close with the server.
    transport: crate::Transport,
    /// The test CA of a TLS server.
    ca_pem: Option<String>,
    addr: SocketAddr,
    url: String,
    /// Closed by the accept thread when `serve` returns; received by `shutdown` and `drop`.
    done: Receiver<()>,
    /// The accept thread; taken by whoever joins it.
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server for `handler` with the default [`server::Config`]. As with every
    /// constructor, [`close`](Self::close) closes connections that have not sent a request yet
    /// at once (`shutdown_new_conn_grace` is set to zero), as Go's `httptest.Server.Close`
    /// does.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or the accept thread cannot be started, as Go's
    /// `httptest.NewServer` does: a test cannot go on without its server.
    pub fn new(handler: impl Handler) -> Server {
        Server::with_config(server::Config::default(), handler)
    }

    /// Starts a server for `handler` with `config`; its `addr` is replaced by the bound
    /// loopback address and its `shutdown_new_conn_grace` by zero (see [`Server::new`]).
    ///
    /// # Panics
    ///
    /// As [`Server::new`].
    pub fn with_config(config: server::Config, handler: impl Handler) -> Server {
        Server::start(config, handler, None)
    }

    /// Starts a TLS server for `handler` (feature `httptest-tls`), with a certificate for
    /// `127.0.0.1` and `localhost` issued by a CA generated for this server alone.
    /// [`client`](Self::client) trusts that CA; [`ca_pem`](Self::ca_pem) gives it to other
    /// tools (`curl --cacert`). The URL is `https://127.0.0.1:PORT`.
    ///
    /// ```
    /// use std::io::Write;
    /// use nethttp::{httptest, Request, ResponseWriter};
    ///
    /// let ts = httptest::Server::new_tls(|w: &mut dyn ResponseWriter, r: &mut Request| {
    ///     let _ = write!(w, "tls={}", r.is_tls());
    /// });
    /// assert_eq!(ts.client().get(ts.url())?.text()?, "tls=true");
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Server::new`], or if the certificate cannot be generated.
    #[cfg(feature = "httptest-tls")]
    pub fn new_tls(handler: impl Handler) -> Server {
        Server::with_config_tls(server::Config::default(), handler)
    }

    /// As [`new_tls`](Self::new_tls), with `config`.
    ///
    /// # Panics
    ///
    /// As [`new_tls`](Self::new_tls).
    #[cfg(feature = "httptest-tls")]
    pub fn with_config_tls(config: server::Config, handler: impl Handler) -> Server {
        let certs = TestCerts::generate()
            .unwrap_or_else(|e| panic!("httptest: cannot generate a test certificate: {e}"));
        Server::start(config, handler, Some(certs))
    }

    /// The PEM of the CA that issued the server's certificate (TLS servers only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    fn start(
        mut config: server::Config,
        handler: impl Handler,
        certs: Option<TestCerts>,
    ) -> Server {
        let listener = crate::net::listen("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("httptest: failed to listen on a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("httptest: listener has no address: {e}"));
        config.addr = addr.to_string();
        config.shutdown_new_conn_grace = Duration::ZERO;
        let srv = server::Server::with_config(config, handler);
        let (tx, done) = crossbeam_channel::bounded::<()>(0);
        let serving = srv.clone();
        let scheme = if certs.is_some() { "https" } else { "http" };
        let ca_pem = certs.as_ref().map(TestCerts::ca_pem);
        let transport = match &certs {
            None => crate::Transport::new(),
            Some(c) => c.client_transport(),
        };
        let thread = std::thread::Builder::new()
            .name("nethttp-httptest".into())
            .spawn(move || {
                let r = match certs {
                    None => serving.serve(listener),
                    Some(c) => c.serve(&serving, listener),
                };
                if let Err(e) = r {
                    log::warn!("httptest: serve: {e}");
                }
                // Dropping the sender wakes whoever waits for the end.
                drop(tx);
            })
            .unwrap_or_else(|e| panic!("httptest: cannot start the accept thread: {e}"));
        Server {
            srv,
            transport,
            ca_pem,
            addr,
            url: format!("{scheme}://{addr}"),
            done,
            thread: Some(thread),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT` (or `https://`), without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client for this server. Clients from one server share a transport, whose idle
    /// connections are closed when the server shuts down.
    pub fn client(&self) -> crate::Client {
        crate::Client::with_transport(self.transport.clone())
    }

    /// The underlying server, for its connection and thread counts
    /// ([`num_connections`](server::Server::num_connections),
    /// [`num_threads`](server::Server::num_threads)).
    pub fn server(&self) -> &server::Server {
        &self.srv
    }

    /// Shuts down gracefully within [`CLOSE_TIMEOUT`]: see [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Self::shutdown).
    pub fn close(&mut self) -> Result<()> {
        self.shutdown(CLOSE_TIMEOUT)
    }

    /// Stops accepting, closes idle connections, waits for in-flight requests to finish, then
    /// joins the accept thread, all within `timeout`. Connections still busy at the timeout
    /// are cut off. Calling it again does nothing more.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] ([`TimeoutPhase::Shutdown`]) if requests were still in flight
    /// at the timeout (they are then cut off) or the accept thread did not end in time.
    pub fn shutdown(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.transport.close_idle_connections();
        let graceful = self.srv.shutdown(timeout);
        if graceful.is_err() {
            self.srv.close();
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        // The accept loop ends as soon as it sees the shutdown flag, which it is woken for.
        match self
            .done
            .recv_timeout(remaining.max(Duration::from_millis(100)))
        {
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
            }
            _ => return Err(Error::timeout(TimeoutPhase::Shutdown)),
        }
        graceful
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.transport.close_idle_connections();
        self.srv.close();
        if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) =
            self.done.recv_timeout(DROP_WAIT)
        {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url)
            .field("closed", &self.thread.is_none())
            .finish_non_exhaustive()
    }
}

/// A [`ResponseWriter`] that records what a handler does, for tests: Go's
/// `httptest.ResponseRecorder`.
///
/// It behaves as the server's writer does where a test could tell: the first body write or
/// flush without a status records `200`; a second final status is ignored; a `1xx` other
/// than `101` is recorded as informational and the handler goes on; body writes after a
/// `1xx`, `204` or `304` fail with [`ErrorKind::BodyNotAllowed`]. The headers are captured
/// when the status is (Go's `Result()` snapshot), so changes made after the head would have
/// been sent are not seen, as a client would not see them.
///
/// Unlike a connection it does not frame the body: it records exactly the bytes written,
/// even for a response to HEAD, and adds no `Content-Length` or `Date`.
///
/// Two methods share names with [`ResponseWriter`] methods and answer a test's question
/// instead: [`status`](Self::status) is the recorded status (200 if none was chosen), and
/// [`headers`](Self::headers) the headers as sent. Called through `dyn ResponseWriter` the
/// trait's versions answer the handler's questions: the status chosen so far and the live,
/// still editable header map.
#[derive(Debug, Default)]
pub struct ResponseRecorder {
    /// The handler's header map, edited through `headers_mut`.
    live: HeaderMap,
    /// `live` as it was when the status was recorded.
    sent: Option<HeaderMap>,
    status: Option<StatusCode>,
    informational: Vec<StatusCode>,
    body: Vec<u8>,
    flushed: bool,
}

impl ResponseRecorder {
    /// An empty recorder.
    pub fn new() -> ResponseRecorder {
        ResponseRecorder::default()
    }

    /// The recorded status: the one the handler chose, `200` if it wrote a body or flushed
    /// without choosing one, and `200` as well if it did nothing (Go's default `Code`).
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    /// Whether a status was chosen or implied by a write or flush (Go's `wroteHeader`).
    pub fn wrote_header(&self) -> bool {
        self.status.is_some()
    }

    /// The headers as a client would have received them: captured when the status was
    /// recorded, or the current ones if it has not been yet.
    pub fn headers(&self) -> &HeaderMap {
        self.sent.as_ref().unwrap_or(&self.live)
    }

    /// The first value of header `name` in [`headers`](Self::headers), if it is present and
    /// visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes written.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn body_string(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the handler flushed.
    pub fn flushed(&self) -> bool {
        self.flushed
    }

    /// The informational (`1xx`) statuses sent before the final one, in order.
    pub fn informational(&self) -> &[StatusCode] {
        &self.informational
    }

    /// The response as an `http::Response`, as Go's `Result()`.
    pub fn result(&self) -> http::Response<Vec<u8>> {
        let mut resp = http::Response::new(self.body.clone());
        *resp.status_mut() = self.status();
        *resp.headers_mut() = self.headers().clone();
        resp
    }

    fn record_status(&mut self, status: StatusCode) {
        self.status = Some(status);
        self.sent = Some(self.live.clone());
    }
}

impl Write for ResponseRecorder {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let status = match self.status {
            Some(s) => s,
            None => {
                // As Go's recorder (and the server): a missing type is sniffed from the
                // first write that implies the status.
                crate::sniff::fill_content_type(&mut self.live, StatusCode::OK, &[], data);
                self.record_status(StatusCode::OK);
                StatusCode::OK
            }
        };
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Err(Error::new(ErrorKind::BodyNotAllowed).into_io());
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.status.is_none() {
            self.record_status(StatusCode::OK);
        }
        self.flushed = true;
        Ok(())
    }
}

impl ResponseWriter for ResponseRecorder {
    fn headers(&self) -> &HeaderMap {
        &self.live
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.live
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.status.is_some() {
            log::warn!("httptest: superfluous write_header({status}) ignored");
            return;
        }
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            self.informational.push(status);
            return;
        }
        self.record_status(status);
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// A server-side [`Request`] for calling a handler directly in a test: Go's
/// `httptest.NewRequest`.
///
/// `target` is an origin-form path (`/a?b=c`) or an absolute URL (`http://host/a`). The
/// request is HTTP/1.1 with a `Host` header (the URL's authority, else `example.com`) and the
/// remote address `192.0.2.1:1234` (a documentation address, as in Go). `body` is anything
/// that converts into a [`Body`]: `()`, `&str`, `String`, `Vec<u8>`, `&[u8]` or a
/// [`Body::from_reader`]; its length, when known, is the request's
/// [`content_length`](Request::content_length).
///
/// # Panics
///
/// If `method` is not a valid method token or `target` not a valid request target: a test
/// with a typo should fail loudly.
pub fn request<M>(method: M, target: &str, body: impl Into<Body>) -> Request
where
    M: TryInto<Method>,
    M::Error: fmt::Debug,
{
    let method = method
        .try_into()
        .unwrap_or_else(|e| panic!("httptest: invalid method: {e:?}"));
    let uri: Uri = target
        .parse()
        .unwrap_or_else(|e| panic!("httptest: invalid target {target:?}: {e}"));
    let host = uri.authority().map_or("example.com", |a| a.as_str());
    let mut headers = HeaderMap::new();
    let host = http::HeaderValue::from_str(host)
        .unwrap_or_else(|e| panic!("httptest: invalid host in {target:?}: {e}"));
    headers.insert(http::header::HOST, host);
    Request::from_parts(
        method,
        uri,
        Version::HTTP_11,
        headers,
        body.into(),
        Some(SocketAddr::from(([192, 0, 2, 1], 1234))),
    )
}

/// A CA and a leaf certificate for 127.0.0.1 and localhost, made for one test server.
#[cfg(feature = "httptest-tls")]
struct TestCerts {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
}

#[cfg(not(feature = "httptest-tls"))]
enum TestCerts {}

#[cfg(feature = "httptest-tls")]
impl TestCerts {
    fn generate() -> std::result::Result<TestCerts, rcgen::Error> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "nethttp httptest CA");
        let ca = ca.self_signed(&ca_key)?;
        let leaf_key = KeyPair::generate()?;
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key)?;
        Ok(TestCerts {
            ca_pem: ca.pem(),
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        })
    }

    fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    fn client_transport(&self) -> crate::Transport {
        let mut tls = crate::tls::ClientTls::default();
        if let Err(e) = tls.add_root_certificates_pem(self.ca_pem.as_bytes()) {
            panic!("httptest: test CA rejected: {e}");
        }
        crate::Transport::with_config(crate::client::TransportConfig {
            tls,
            ..Default::default()
        })
    }

    fn serve(self, srv: &server::Server, listener: TcpListener) -> Result<()> {
        let tls =
            crate::tls::ServerTls::from_pem(self.leaf_pem.as_bytes(), self.key_pem.as_bytes())?;
        srv.serve_tls(listener, tls)
    }
}

#[cfg(not(feature = "httptest-tls"))]
impl TestCerts {
    fn ca_pem(&self) -> String {
        match *self {}
    }

    fn client_transport(&self) -> crate::Transport {
        match *self {}
    }

    fn serve(self, _srv: &server::Server, _listener: TcpListener) -> Result<()> {
        match self {}
    }
}
