//! HTTP/1.1 client: `Client` (policy), `Transport` (pool and per-connection threads), and
//! `ClientConn` (one connection, no pool).
//!
//! ```no_run
//! let client = nethttp::Client::new();
//! let mut resp = client.get("http://127.0.0.1:8080/echo")?;
//! let status = resp.status;
//! println!("{status} {}", resp.text()?);
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! Two rules: read each response body to its end (or drop it) — only then can its connection
//! carry another request; and create one `Client` and reuse it — it is cheap to clone, and
//! clones share the connection pool.
//!
//! # Threads
//!
//! Each pooled connection has a reader thread and a writer thread (`persist.rs`), as Go's
//! `persistConn` has `readLoop` and `writeLoop`; the calling thread waits on channels for the
//! response. Dials run on short-lived threads so a request waiting for a slow dial can take a
//! connection another request frees first.

mod clientconn;
mod persist;
mod response;
mod trace;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use clientconn::ClientConn;
pub use response::{Response, ResponseBody, DEFAULT_BODY_LIMIT};
pub use trace::{CancelToken, ClientTrace, GotConnInfo};
pub use transport::{PoolStats, Transport, TransportBuilder};

use crate::error::{Error, Result};
use crate::server::{Body, Request};
use crate::Method;

/// Carries one request to a response, as Go's `http.RoundTripper`. [`Transport`] is the real
/// one; wrap it to add behaviour, or implement it to fake a server in tests.
pub trait RoundTripper: Send + Sync + 'static {
    /// Sends `req` and returns the response head with a streaming body.
    ///
    /// # Errors
    ///
    /// Any failure to obtain a response: connect, write, read, timeout, cancel.
    fn round_trip(&self, req: Request) -> Result<Response>;
}

impl<R: RoundTripper + ?Sized> RoundTripper for Arc<R> {
    fn round_trip(&self, req: Request) -> Result<Response> {
        (**self).round_trip(req)
    }
}

/// Per-request settings carried in the request's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestOptions {
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) trace: ClientTrace,
}

impl Request {
    fn options_mut(&mut self) -> &mut RequestOptions {
        if self.extensions.get::<RequestOptions>().is_none() {
            self.extensions.insert(RequestOptions::default());
        }
        self.extensions
            .get_mut::<RequestOptions>()
            .expect("inserted above")
    }

    /// Client side: the request, including reading its response body, must finish by
    /// `deadline`; past it the request fails with a timeout naming the phase it was in.
    pub fn set_deadline(&mut self, deadline: Instant) -> &mut Self {
        self.options_mut().deadline = Some(deadline);
        self
    }

    /// Client side: as [`set_deadline`](Self::set_deadline), `timeout` from now.
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Self {
        let d = Instant::now() + timeout;
        self.set_deadline(d)
    }

    /// Client side: the token that cancels this request from another thread.
    pub fn set_cancel(&mut self, token: CancelToken) -> &mut Self {
        self.options_mut().cancel = Some(token);
        self
    }

    /// Client side: hooks that observe this request going through the transport.
    pub fn set_trace(&mut self, trace: ClientTrace) -> &mut Self {
        self.options_mut().trace = trace;
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.replace_body(body.into());
        self
    }

    /// Adds a header (builder style).
    ///
    /// # Errors
    ///
    /// [`crate::ErrorKind::InvalidInput`] for an invalid name or value.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self> {
        let n = crate::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::with_source(crate::ErrorKind::InvalidInput, e))?;
        let v = crate::HeaderValue::from_str(value)
            .map_err(|e| Error::with_source(crate::ErrorKind::InvalidInput, e))?;
        self.headers.append(n, v);
        Ok(self)
    }
}

/// An HTTP client, as Go's `http.Client`: conveniences over a [`RoundTripper`] (by default a
/// shared [`Transport`]). Cheap to clone; clones share the transport and its pool.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn RoundTripper>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with a default [`Transport`].
    pub fn new() -> Client {
        Client::with_transport(Transport::new())
    }

    /// A client sending through `transport`.
    pub fn with_transport(transport: impl RoundTripper) -> Client {
        Client {
            transport: Arc::new(transport),
        }
    }

    /// Sends `req`.
    ///
    /// # Errors
    ///
    /// As [`RoundTripper::round_trip`].
    pub fn send(&self, req: Request) -> Result<Response> {
        self.transport.round_trip(req)
    }

    fn simple(&self, method: Method, url: &str, body: Option<(&str, Body)>) -> Result<Response> {
        let mut req = Request::new(method, url)?;
        if let Some((content_type, body)) = body {
            if !content_type.is_empty() {
                let v = crate::HeaderValue::from_str(content_type)
                    .map_err(|e| Error::with_source(crate::ErrorKind::InvalidInput, e))?;
                req.headers.insert(http::header::CONTENT_TYPE, v);
            }
            req.replace_body(body);
        }
        self.send(req)
    }

    /// `GET url`.
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn get(&self, url: &str) -> Result<Response> {
        self.simple(Method::GET, url, None)
    }

    /// `HEAD url`.
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn head(&self, url: &str) -> Result<Response> {
        self.simple(Method::HEAD, url, None)
    }

    /// `POST url` with `body` of `content_type` (empty: no Content-Type).
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn post(&self, url: &str, content_type: &str, body: impl Into<Body>) -> Result<Response> {
        self.simple(Method::POST, url, Some((content_type, body.into())))
    }

    /// `PUT url` with `body` of `content_type` (empty: no Content-Type).
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn put(&self, url: &str, content_type: &str, body: impl Into<Body>) -> Result<Response> {
        self.simple(Method::PUT, url, Some((content_type, body.into())))
    }

    /// `DELETE url`.
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn delete(&self, url: &str) -> Result<Response> {
        self.simple(Method::DELETE, url, None)
    }
}
