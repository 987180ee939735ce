//! The server-side `Request` and its streaming `Body`.

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Uri, Version};

use super::conn::ConnShared;
use crate::error::{Error, ErrorKind};

/// A request received by a server (or built for a test with
/// [`Request::new`]), as Go's `http.Request` on the server side.
///
/// The body streams from the connection as the handler reads it; see [`Body`].
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The request target as sent: usually origin-form (`/path?query`); absolute-form
    /// (`http://host/path`) from proxies; authority-form for `CONNECT`.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields (names lowercase).
    pub headers: HeaderMap,
    /// Typed values for middleware and handlers to pass along (as `http::Extensions`).
    pub extensions: Extensions,
    body: Body,
    remote_addr: Option<SocketAddr>,
    content_length: Option<u64>,
    path_values: Vec<(String, String)>,
    pattern: Option<String>,
    tls: bool,
}

impl Request {
    /// A request with the given method and target, an empty body and no remote address: for
    /// tests and for handlers that call other handlers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `target` is not a valid URI.
    pub fn new(method: Method, target: &str) -> crate::Result<Request> {
        let uri: Uri = target
            .parse()
            .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
        Ok(Request::from_parts(
            method,
            uri,
            Version::HTTP_11,
            HeaderMap::new(),
            Body::empty(),
            None,
        ))
    }

    pub(crate) fn from_parts(
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        body: Body,
        remote_addr: Option<SocketAddr>,
    ) -> Request {
        let content_length = body.known_len();
        Request {
            method,
            uri,
            version,
            headers,
            extensions: Extensions::new(),
            body,
            remote_addr,
            content_length,
            path_values: Vec::new(),
            pattern: None,
            tls: false,
        }
    }

    /// The host the request is for: the authority of an absolute-form target if there is one
    /// (RFC 9112 §3.2.2), else the `Host` header; empty if neither is present.
    pub fn host(&self) -> &str {
        if let Some(a) = self.uri.authority() {
            return a.as_str();
        }
        self.headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    }

    /// True if the request arrived over TLS (Go's `r.TLS != nil`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    pub(crate) fn set_tls(&mut self, tls: bool) {
        self.tls = tls;
    }

    /// The address of the client, if the request came over a network connection.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The body length when the framing states it (`Content-Length`, or zero for a request
    /// without a body); `None` for a chunked body.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The request body, to read from.
    pub fn body(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Replaces the body (for middleware that wraps it), returning the old one.
    pub fn replace_body(&mut self, body: Body) -> Body {
        self.content_length = body.known_len();
        std::mem::replace(&mut self.body, body)
    }

    /// The value a router matched for the wildcard `name` (`{name}` or `{name...}` in the
    /// pattern), already percent-decoded; `None` if there is no such wildcard.
    pub fn path_value(&self, name: &str) -> Option<&str> {
        self.path_values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets the value of the wildcard `name`, as Go's `Request.SetPathValue`.
    pub fn set_path_value(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        if let Some(slot) = self.path_values.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.path_values.push((name, value));
        }
    }

    /// The router pattern that matched this request, if a router dispatched it.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Records the pattern that matched (set by routers).
    pub fn set_pattern(&mut self, pattern: impl Into<String>) {
        self.pattern = Some(pattern.into());
    }

    /// The trailer fields of a chunked body, once the body has been read to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.body.trailers.as_ref()
    }

    /// Converts an `http::Request` whose body can become a [`Body`].
    pub fn from_http<B: Into<Body>>(req: http::Request<B>) -> Request {
        let (parts, body) = req.into_parts();
        let mut r = Request::from_parts(
            parts.method,
            parts.uri,
            parts.version,
            parts.headers,
            body.into(),
            None,
        );
        r.extensions = parts.extensions;
        r
    }

    /// Converts into an `http::Request` carrying the streaming body.
    pub fn into_http(self) -> http::Request<Body> {
        let mut req = http::Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        *req.extensions_mut() = self.extensions;
        req
    }
}

impl<B: Into<Body>> From<http::Request<B>> for Request {
    fn from(req: http::Request<B>) -> Request {
        Request::from_http(req)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("remote_addr", &self.remote_addr)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// A request body: read it with [`std::io::Read`].
///
/// A body from the network stops exactly at its framing boundary and reports a body cut short
/// by the client as an error ([`ErrorKind::ConnectionClosed`]), never as a clean end. If the
/// request carried `Expect: 100-continue`, the first read sends `100 Continue`.
///
/// A body the handler leaves unread is drained by the server (up to 256 KiB) so the connection
/// can be reused; a larger remainder closes the connection after the response.
pub struct Body {
    kind: BodyKind,
    trailers: Option<HeaderMap>,
}

enum BodyKind {
    Empty,
    Bytes {
        data: bytes::Bytes,
        pos: usize,
    },
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
    Replayable {
        make: MakeReader,
        len: Option<u64>,
        current: Option<Box<dyn Read + Send>>,
    },
    Conn(ConnBody),
}

type MakeReader = Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// A body being read from a server connection.
pub(crate) struct ConnBody {
    pub(crate) shared: Arc<ConnShared>,
    /// Which request on the connection this body belongs to; reads after the server moved on
    /// to the next request fail.
    pub(crate) req_id: u64,
    pub(crate) known_len: Option<u64>,
    /// The request carried `Expect: 100-continue` and the body has not been read yet.
    pub(crate) expect_continue: bool,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            kind: BodyKind::Empty,
            trailers: None,
        }
    }

    /// A body that reads from `r`, of unknown length (a client sends it chunked).
    pub fn from_reader(r: impl Read + Send + 'static) -> Body {
        Body {
            kind: BodyKind::Reader {
                reader: Box::new(r),
                len: None,
            },
            trailers: None,
        }
    }

    /// A body that reads exactly `len` bytes from `r` (a client sends `Content-Length: len`;
    /// a reader that ends early or runs long makes the request fail).
    pub fn sized(r: impl Read + Send + 'static, len: u64) -> Body {
        Body {
            kind: BodyKind::Reader {
                reader: Box::new(r),
                len: Some(len),
            },
            trailers: None,
        }
    }

    /// A body that can be produced again, by calling `make` for a fresh reader each time: a
    /// client can then retry the request or follow a 307/308 redirect with it (Go's
    /// `GetBody`). `len` is the length each reader yields, if known.
    ///
    /// ```
    /// use nethttp::server::Body;
    /// let path = std::env::temp_dir().join("upload.bin");
    /// let body = Body::replayable(None, move || {
    ///     Ok(Box::new(std::fs::File::open(&path)?) as Box<dyn std::io::Read + Send>)
    /// });
    /// assert!(body.try_clone().is_some());
    /// ```
    pub fn replayable<F>(len: Option<u64>, make: F) -> Body
    where
        F: Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync + 'static,
    {
        Body {
            kind: BodyKind::Replayable {
                make: Arc::new(make),
                len,
                current: None,
            },
            trailers: None,
        }
    }

    /// A copy of this body from its start, if it can be produced again: empty and in-memory
    /// bodies and [`replayable`](Self::replayable) ones can; streams cannot.
    pub fn try_clone(&self) -> Option<Body> {
        let kind = match &self.kind {
            BodyKind::Empty => BodyKind::Empty,
            BodyKind::Bytes { data, .. } => BodyKind::Bytes {
                data: data.clone(),
                pos: 0,
            },
            BodyKind::Replayable { make, len, .. } => BodyKind::Replayable {
                make: Arc::clone(make),
                len: *len,
                current: None,
            },
            BodyKind::Reader { .. } | BodyKind::Conn(_) => return None,
        };
        Some(Body {
            kind,
            trailers: None,
        })
    }

    /// The body's length, when known before reading it.
    pub fn len_hint(&self) -> Option<u64> {
        self.known_len()
    }

    /// True if the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.known_len() == Some(0)
    }

    pub(crate) fn from_conn(c: ConnBody) -> Body {
        Body {
            kind: BodyKind::Conn(c),
            trailers: None,
        }
    }

    /// Tells the server that a handler's limit on this body ran out (`MaxBytesReader`): it
    /// must not read the rest, so the connection closes after the response. Does nothing for
    /// a body that is not a server connection's.
    pub(crate) fn mark_over_limit(&self) {
        if let BodyKind::Conn(c) = &self.kind {
            c.shared.body_over_limit(c.req_id);
        }
    }

    fn known_len(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Bytes { data, pos } => Some((data.len() - pos) as u64),
            BodyKind::Reader { len, .. } | BodyKind::Replayable { len, .. } => *len,
            BodyKind::Conn(c) => c.known_len,
        }
    }

    /// Reads the whole body into memory, failing with [`crate::error::TooLarge::Body`] once it
    /// passes `limit` bytes.
    ///
    /// # Errors
    ///
    /// The body's read errors, or the size limit.
    pub fn read_to_vec(&mut self, limit: u64) -> crate::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut take = self.by_ref().take(limit.saturating_add(1));
        take.read_to_end(&mut out)
            .map_err(|e| Error::from_io(e, crate::error::TimeoutPhase::ReadBody))?;
        if out.len() as u64 > limit {
            return Err(Error::too_large(crate::error::TooLarge::Body));
        }
        Ok(out)
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.kind {
            BodyKind::Empty => Ok(0),
            BodyKind::Bytes { data, pos } => {
                let n = (data.len() - *pos).min(buf.len());
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            BodyKind::Reader { reader, .. } => reader.read(buf),
            BodyKind::Replayable { make, current, .. } => {
                if current.is_none() {
                    *current = Some(make()?);
                }
                match current {
                    Some(r) => r.read(buf),
                    None => Ok(0),
                }
            }
            BodyKind::Conn(c) => {
                if c.expect_continue && !buf.is_empty() {
                    c.expect_continue = false;
                    c.shared.send_continue(c.req_id)?;
                }
                let n = c.shared.read_body(c.req_id, buf)?;
                if n == 0 && !buf.is_empty() && self.trailers.is_none() {
                    self.trailers = c.shared.take_trailers(c.req_id);
                }
                Ok(n)
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            BodyKind::Empty => "empty",
            BodyKind::Bytes { .. } => "bytes",
            BodyKind::Reader { .. } => "reader",
            BodyKind::Replayable { .. } => "replayable",
            BodyKind::Conn(_) => "connection",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<bytes::Bytes> for Body {
    fn from(data: bytes::Bytes) -> Body {
        Body {
            kind: BodyKind::Bytes { data, pos: 0 },
            trailers: None,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(bytes::Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(s: &[u8]) -> Body {
        Body::from(s.to_vec())
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}
