//! Handler toolkit on top of the server's `Handler` and `ResponseWriter`: Go's `Error`,
//! `NotFound`, `Redirect`, `StripPrefix`, `TimeoutHandler`, `MaxBytesReader`/`MaxBytesHandler`,
//! plus middleware composition and an access-log middleware. The router is in mux/.
//!
//! Available with feature `server` (on by default).
//!
//! Every wrapper here takes a handler and returns a handler, so they nest directly, and
//! [`chain`] applies a list of [`Middleware`]:
//!
//! ```
//! use std::time::Duration;
//! use nethttp::handlers::{chain, log_requests, max_bytes_handler, middleware, timeout_handler};
//! use nethttp::ServeMux;
//!
//! let mut mux = ServeMux::new();
//! mux.handle("GET /", nethttp::handlers::not_found);
//!
//! // Written inside out...
//! let inner = max_bytes_handler(ServeMux::new(), 1 << 20);
//! let a = log_requests(timeout_handler(inner, Duration::from_secs(5), ""));
//! // ...or as a list, outermost first.
//! let b = chain(mux, [
//!     middleware(log_requests),
//!     middleware(|h| timeout_handler(h, Duration::from_secs(5), "")),
//!     middleware(|h| max_bytes_handler(h, 1 << 20)),
//! ]);
//! # let _ = (a, b);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase, TooLarge};
use crate::mux::clean_path;
use crate::server::{Body, Handler, Hijacked, Request, ResponseWriter};
use crate::sniff::detect_content_type;

/// Replies with `msg` and a newline as a plain-text body and status `code`, as Go's
/// `http.Error`. Removes a `Content-Length` the handler may have set and sets
/// `Content-Type: text/plain; charset=utf-8` and `X-Content-Type-Options: nosniff`. Other
/// headers stay; the handler should not write anything more.
///
/// ```
/// use nethttp::{handlers, Request, ResponseWriter, StatusCode};
///
/// fn teapot(w: &mut dyn ResponseWriter, _r: &mut Request) {
///     handlers::error(w, "I'm a teapot", StatusCode::IM_A_TEAPOT);
/// }
/// # let _ = teapot;
/// ```
pub fn error(w: &mut dyn ResponseWriter, msg: &str, code: StatusCode) {
    let h = w.headers_mut();
    h.remove(CONTENT_LENGTH);
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    w.write_header(code);
    let _ = w.write_all(msg.as_bytes());
    let _ = w.write_all(b"\n");
}

/// Replies `404 page not found`, as Go's `http.NotFound`. It is itself a handler:
/// `mux.handle("/old/", handlers::not_found)`.
pub fn not_found(w: &mut dyn ResponseWriter, _r: &mut Request) {
    error(w, "404 page not found", StatusCode::NOT_FOUND);
}

/// Replies with a redirect to `url` and status `code` (a 3xx), as Go's `http.Redirect`.
///
/// A `url` without a scheme or host is made absolute against the request path: a relative
/// one is resolved against the request's directory, then the path is cleaned (`.`, `..` and
/// repeated slashes), keeping a trailing slash and the query. `/a/b` redirected to `c?x=1`
/// goes to `/a/c?x=1`; to `../d/` goes to `/d/`. Bytes a `Location` header cannot carry
/// (non-ASCII, controls, spaces) are percent-encoded.
///
/// For `GET` and `HEAD`, if the handler set no `Content-Type`, the response is
/// `text/html; charset=utf-8`, and a `GET` gets a short HTML body with the link, for clients
/// that do not follow redirects.
///
/// Which code: 307 and 308 keep the method and body (a `POST` is repeated as a `POST`), 301
/// and 302 let clients change it to `GET`, 303 tells them to `GET` the new URL. 301 and 308
/// are permanent and may be cached by browsers.
pub fn redirect(w: &mut dyn ResponseWriter, r: &Request, url: &str, code: StatusCode) {
    let mut target = Cow::Borrowed(url);
    if !has_scheme_or_host(url) {
        let old = match r.uri.path() {
            "" => "/",
            p => p,
        };
        let joined = if url.starts_with('/') {
            url.to_string()
        } else {
            // Relative: against the directory of the request path.
            let dir = &old[..old.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            format!("{dir}{url}")
        };
        let (path, query) = match joined.find('?') {
            Some(i) => joined.split_at(i),
            None => (joined.as_str(), ""),
        };
        let mut cleaned = clean_path(path).into_owned();
        cleaned.push_str(query);
        target = Cow::Owned(cleaned);
    }
    let target = escape_location(&target);
    let is_get = r.method == Method::GET;
    let had_type = w.headers().contains_key(CONTENT_TYPE);
    let h = w.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&target) {
        h.insert(LOCATION, v);
    }
    if !had_type && (is_get || r.method == Method::HEAD) {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    w.write_header(code);
    // Only GET gets the note: HEAD has no body, and other methods' clients do not show it.
    if !had_type && is_get {
        let _ = writeln!(
            w,
            "<a href=\"{}\">{}</a>.",
            escape_html(&target),
            code.canonical_reason().unwrap_or("Redirect")
        );
    }
}

/// A handler that redirects every request to `url` with `code`, as Go's
/// `http.RedirectHandler`; see [`redirect`].
pub fn redirect_handler(url: impl Into<String>, code: StatusCode) -> impl Handler {
    let url = url.into();
    move |w: &mut dyn ResponseWriter, r: &mut Request| redirect(w, r, &url, code)
}

/// True if `url` is absolute (`scheme:`) or network-path (`//host`): left as it is.
fn has_scheme_or_host(url: &str) -> bool {
    if url.starts_with("//") {
        return true;
    }
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':', all
    // before any '/', '?' or '#'.
    let Some(colon) = url.find(':') else {
        return false;
    };
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Percent-encodes the bytes a header value should not carry raw.
fn escape_location(s: &str) -> Cow<'_, str> {
    let bad = |b: u8| b >= 0x7f || b <= b' ';
    if !s.bytes().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if bad(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

/// Serves requests whose path starts with `prefix` by passing them to `h` with the prefix
/// removed, and answers 404 to the rest, as Go's `http.StripPrefix`. The prefix is compared
/// with the path as sent (percent-encoded), where Go compares the decoded path: a prefix with
/// a character clients escape (a space, non-ASCII) must be given escaped (`/my%20files`, not
/// `/my files`), or it never matches. The handler sees the shortened URI; the request's
/// URI is restored when it returns, so outer middleware logs the original. A request for
/// exactly the prefix reaches `h` with the path `/` (an `http::Uri` cannot have an empty
/// path).
///
/// ```
/// use nethttp::{handlers, ServeMux};
///
/// let files = |w: &mut dyn nethttp::ResponseWriter, r: &mut nethttp::Request| {
///     // For GET /static/css/a.css, r.uri.path() is "/css/a.css" here.
///     let _ = (w, r);
/// };
/// let mut mux = ServeMux::new();
/// mux.handle("/static/", handlers::strip_prefix("/static", files));
/// ```
pub fn strip_prefix<H: Handler>(prefix: impl Into<String>, h: H) -> StripPrefix<H> {
    StripPrefix {
        prefix: prefix.into(),
        inner: h,
    }
}

/// Writes `value` as the JSON body of a response with `status` and `Content-Type:
/// application/json`, ending in a newline as Go's `json.Encoder` does (feature `json`). A value
/// that cannot be serialised gets a 500 instead. Call it before anything else is written.
///
/// ```
/// use nethttp::handlers::write_json;
/// use nethttp::httptest::ResponseRecorder;
/// use nethttp::StatusCode;
///
/// let mut w = ResponseRecorder::new();
/// write_json(&mut w, StatusCode::CREATED, &[1, 2]);
/// assert_eq!(w.status(), StatusCode::CREATED);
/// assert_eq!(w.header("content-type"), Some("application/json"));
/// assert_eq!(w.body_string(), "[1,2]\n");
/// ```
#[cfg(feature = "json")]
pub fn write_json<T: serde::Serialize + ?Sized>(
    w: &mut dyn ResponseWriter,
    status: StatusCode,
    value: &T,
) {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            w.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            w.write_header(status);
            let _ = w.write_all(&body);
        }
        Err(e) => {
            log::error!("write_json: cannot serialise the response: {e}");
            error(
                w,
                "Internal Server Error",
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    }
}

/// Serves `h` with every `;` in the query turned into `&`, as Go's `AllowQuerySemicolons`:
/// since Go 1.17 (and in nethttp's forms) a `;` is not a query separator, and this wrapper is
/// for clients that still use it so. The request's URI is restored afterwards.
///
#[cfg_attr(feature = "client", doc = "```")]
#[cfg_attr(not(feature = "client"), doc = "```ignore")]
/// use std::io::Write;
/// use nethttp::handlers::allow_query_semicolons;
/// use nethttp::{httptest, Request, ResponseWriter};
///
/// let h = allow_query_semicolons(|w: &mut dyn ResponseWriter, r: &mut Request| {
///     let _ = write!(w, "{}", r.form_value("b").unwrap_or("-"));
/// });
/// let mut r = Request::new(nethttp::Method::GET, "/x?a=1;b=2")?;
/// let mut w = httptest::ResponseRecorder::new();
/// nethttp::Handler::serve_http(&h, &mut w, &mut r);
/// assert_eq!(w.body_string(), "2");
/// # Ok::<(), nethttp::Error>(())
/// ```
pub fn allow_query_semicolons<H: Handler>(h: H) -> AllowQuerySemicolons<H> {
    AllowQuerySemicolons { inner: h }
}

/// The handler returned by [`allow_query_semicolons`].
pub struct AllowQuerySemicolons<H> {
    inner: H,
}

impl<H: Handler> Handler for AllowQuerySemicolons<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let rewritten = r
            .uri
            .query()
            .filter(|q| q.contains(';'))
            .and_then(|q| with_query(&r.uri, &q.replace(';', "&")));
        match rewritten {
            Some(uri) => {
                let original = std::mem::replace(&mut r.uri, uri);
                self.inner.serve_http(w, r);
                r.uri = original;
            }
            None => self.inner.serve_http(w, r),
        }
    }
}

impl<H> fmt::Debug for AllowQuerySemicolons<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowQuerySemicolons")
            .finish_non_exhaustive()
    }
}

/// `uri` with its query replaced, keeping scheme, authority and path.
fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{}?{query}", uri.path()).parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The handler returned by [`strip_prefix`].
pub struct StripPrefix<H> {
    prefix: String,
    inner: H,
}

impl<H: Handler> Handler for StripPrefix<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        if self.prefix.is_empty() {
            return self.inner.serve_http(w, r);
        }
        let stripped = r
            .uri
            .path()
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| with_path(&r.uri, rest));
        let Some(uri) = stripped else {
            return not_found(w, r);
        };
        let original = std::mem::replace(&mut r.uri, uri);
        self.inner.serve_http(w, r);
        r.uri = original;
    }
}

/// `uri` with its path replaced, keeping scheme, authority and query.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None if path.is_empty() => "/".to_string(),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Runs `h` with a time limit, as Go's `http.TimeoutHandler`. If `h` has not returned after
/// `dt`, the client gets `503 Service Unavailable` with `msg` as the body (a small HTML page if
/// `msg` is empty), and from then on every write by `h` fails with
/// [`ErrorKind::Timeout`]`(`[`TimeoutPhase::WriteResponse`]`)`.
///
/// `h` runs on a thread of its own, spawned per request, and writes into memory; its status,
/// headers and body are copied to the real response only if it finishes in time. So the whole
/// response is buffered, [`flush`](std::io::Write::flush) sends nothing early, and
/// [`hijack`](ResponseWriter::hijack) is not supported. The request, with its body, moves to
/// that thread and comes back if `h` finishes in time; after a timeout the handler keeps
/// running on its own until it returns (a thread cannot be stopped from outside), its body
/// reads fail once the connection has moved on, and it should notice its failing writes and
/// return. A panic in `h` within the time limit is passed on to the caller.
pub fn timeout_handler<H: Handler>(
    h: H,
    dt: Duration,
    msg: impl Into<String>,
) -> TimeoutHandler<H> {
    let msg = msg.into();
    TimeoutHandler {
        inner: Arc::new(h),
        dt,
        body: if msg.is_empty() {
            "<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"
                .to_string()
        } else {
            msg
        },
    }
}

/// The handler returned by [`timeout_handler`].
pub struct TimeoutHandler<H> {
    inner: Arc<H>,
    dt: Duration,
    body: String,
}

/// What the handler thread sends back: the buffered response and the request, or a panic.
type Finished = std::thread::Result<(BufferWriter, Request)>;

impl<H: Handler> Handler for TimeoutHandler<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        // The handler thread takes the request; this one keeps a copy of its head.
        let stand_in = Request::from_parts(
            r.method.clone(),
            r.uri.clone(),
            r.version,
            r.headers.clone(),
            Body::empty(),
            r.remote_addr(),
        );
        let mut stand_in = stand_in;
        stand_in.set_tls(r.is_tls());
        let req = std::mem::replace(r, stand_in);
        let timed_out = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::bounded::<Finished>(1);
        let inner = Arc::clone(&self.inner);
        let flag = Arc::clone(&timed_out);
        let spawned = std::thread::Builder::new()
            .name("nethttp-timeout".into())
            .spawn(move || {
                let mut req = req;
                let mut bw = BufferWriter {
                    headers: HeaderMap::new(),
                    status: None,
                    body: Vec::new(),
                    timed_out: flag,
                };
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| inner.serve_http(&mut bw, &mut req)));
                // The receiver is gone after a timeout; the result is dropped with it.
                let _ = tx.send(outcome.map(|()| (bw, req)));
            });
        if let Err(e) = spawned {
            log::error!("nethttp: timeout_handler cannot start a thread: {e}");
            error(w, "cannot start handler", StatusCode::SERVICE_UNAVAILABLE);
            return;
        }
        match rx.recv_timeout(self.dt) {
            Ok(Ok((bw, req))) => {
                *r = req;
                let dst = w.headers_mut();
                for name in bw.headers.keys() {
                    dst.remove(name);
                }
                for (name, value) in &bw.headers {
                    dst.append(name.clone(), value.clone());
                }
                w.write_header(bw.status.unwrap_or(StatusCode::OK));
                if !bw.body.is_empty() {
                    let _ = w.write_all(&bw.body);
                }
            }
            Ok(Err(panic)) => resume_unwind(panic),
            Err(RecvTimeoutError::Timeout) => {
                timed_out.store(true, Ordering::SeqCst);
                if !w.headers().contains_key(CONTENT_TYPE) {
                    let ct = detect_content_type(self.body.as_bytes());
                    w.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                }
                w.write_header(StatusCode::SERVICE_UNAVAILABLE);
                let _ = w.write_all(self.body.as_bytes());
            }
            // The thread always sends before it ends; treat the impossible as a failure.
            Err(RecvTimeoutError::Disconnected) => error(
                w,
                "handler ended without a response",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        }
    }
}

/// The in-memory response a handler under [`timeout_handler`] writes. Owned by the handler
/// thread, then moved back to the serving thread if the handler finished in time.
struct BufferWriter {
    headers: HeaderMap,
    status: Option<StatusCode>,
    body: Vec<u8>,
    /// Set by the serving thread when the time is up.
    timed_out: Arc<AtomicBool>,
}

impl BufferWriter {
    fn check(&self) -> io::Result<()> {
        if self.timed_out.load(Ordering::SeqCst) {
            return Err(Error::timeout(TimeoutPhase::WriteResponse).into_io());
        }
        Ok(())
    }
}

impl Write for BufferWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        let status = *self.status.get_or_insert(StatusCode::OK);
        if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Err(Error::new(ErrorKind::BodyNotAllowed).into_io());
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()
    }
}

impl ResponseWriter for BufferWriter {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.timed_out.load(Ordering::SeqCst) || self.status.is_some() {
            return;
        }
        // Informational responses cannot be buffered for later; drop them.
        if !status.is_informational() {
            self.status = Some(status);
        }
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// A request body that fails once more than `limit` bytes are read from it, as Go's
/// `http.MaxBytesReader`. The read that crosses the limit returns the bytes up to the limit;
/// the next one fails with [`ErrorKind::TooLarge`]`(`[`TooLarge::Body`]`)`, as do all after
/// it. The error's [`status_hint`](Error::status_hint) is 413.
///
/// Build one with [`max_bytes_reader`] or [`max_bytes_handler`], which also close the
/// connection after the response.
#[derive(Debug)]
pub struct MaxBytesReader {
    inner: Body,
    remaining: u64,
    /// Set when the limit is passed; shared with the writer that closes the connection.
    hit: Arc<AtomicBool>,
}

impl MaxBytesReader {
    /// Wraps `body`, allowing `limit` bytes.
    pub fn new(body: Body, limit: u64) -> MaxBytesReader {
        MaxBytesReader {
            inner: body,
            remaining: limit,
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once a read went past the limit.
    pub fn limit_hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }
}

impl Read for MaxBytesReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.limit_hit() {
            return Err(Error::too_large(TooLarge::Body).into_io());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte more than allowed tells "exactly at the limit" from "over it".
        let want = buf
            .len()
            .min(usize::try_from(self.remaining.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 <= self.remaining {
            self.remaining -= n as u64;
            return Ok(n);
        }
        self.hit.store(true, Ordering::SeqCst);
        // The server must not drain the rest; it closes the connection after the response.
        self.inner.mark_over_limit();
        let allowed = self.remaining as usize;
        self.remaining = 0;
        if allowed > 0 {
            Ok(allowed)
        } else {
            Err(Error::too_large(TooLarge::Body).into_io())
        }
    }
}

/// Limits `r`'s body to `limit` bytes ([`MaxBytesReader`]), as Go's `http.MaxBytesReader`.
///
/// If the request declares a `Content-Length` over the limit, the response gets
/// `Connection: close` at once, so the rest of the body is never read. A body found to run
/// over the limit only while the handler reads it (chunked, say) is not drained either: the
/// connection closes after the response, which carries `Connection: close` if its head was
/// not sent yet, as with Go's `MaxBytesReader`.
///
/// ```
/// use std::io::Read;
/// use nethttp::{handlers, Error, Request, ResponseWriter, StatusCode};
///
/// fn upload(w: &mut dyn ResponseWriter, r: &mut Request) {
///     handlers::max_bytes_reader(w, r, 1 << 20);
///     let mut data = Vec::new();
///     if let Err(e) = r.body().read_to_end(&mut data) {
///         let e = Error::from(e);
///         let code = e.status_hint().unwrap_or(StatusCode::BAD_REQUEST); // 413 over the limit
///         return handlers::error(w, &e.to_string(), code);
///     }
///     // ...
/// }
/// # let _ = upload;
/// ```
pub fn max_bytes_reader(w: &mut dyn ResponseWriter, r: &mut Request, limit: u64) {
    if r.content_length().is_some_and(|n| n > limit) {
        w.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let len = r.content_length();
    let body = r.replace_body(Body::empty());
    r.replace_body(limited_body(body, len, limit));
}

/// `body` behind a [`MaxBytesReader`], keeping its declared length when there is one.
fn limited_body(body: Body, len: Option<u64>, limit: u64) -> Body {
    let reader = MaxBytesReader::new(body, limit);
    match len {
        Some(n) => Body::sized(reader, n),
        None => Body::from_reader(reader),
    }
}

/// Runs `h` with its request body limited to `limit` bytes, as Go's `http.MaxBytesHandler`:
/// reads past the limit fail as with [`MaxBytesReader`], and once the limit is passed the
/// response carries `Connection: close`, so the server closes the connection instead of
/// reading the rest of the body. (If `h` had already sent the response head when the limit was
/// passed, the connection still closes after the response, without the header.)
pub fn max_bytes_handler<H: Handler>(h: H, limit: u64) -> MaxBytesHandler<H> {
    MaxBytesHandler { inner: h, limit }
}

/// The handler returned by [`max_bytes_handler`].
pub struct MaxBytesHandler<H> {
    inner: H,
    limit: u64,
}

impl<H: Handler> Handler for MaxBytesHandler<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let len = r.content_length();
        let body = r.replace_body(Body::empty());
        let reader = MaxBytesReader::new(body, self.limit);
        let hit = Arc::clone(&reader.hit);
        r.replace_body(match len {
            Some(n) => Body::sized(reader, n),
            None => Body::from_reader(reader),
        });
        let mut cw = CloseOnLimit { inner: w, hit };
        self.inner.serve_http(&mut cw, r);
        cw.close_if_hit();
    }
}

/// Adds `Connection: close` before anything goes out once the body limit was passed.
struct CloseOnLimit<'a> {
    inner: &'a mut dyn ResponseWriter,
    hit: Arc<AtomicBool>,
}

impl CloseOnLimit<'_> {
    fn close_if_hit(&mut self) {
        if self.hit.load(Ordering::SeqCst) {
            self.inner
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

impl Write for CloseOnLimit<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.close_if_hit();
        self.inner.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.close_if_hit();
        self.inner.flush()
    }
}

impl ResponseWriter for CloseOnLimit<'_> {
    fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    fn write_header(&mut self, status: StatusCode) {
        self.close_if_hit();
        self.inner.write_header(status)
    }

    fn status(&self) -> Option<StatusCode> {
        self.inner.status()
    }

    fn hijack(&mut self) -> Result<Hijacked> {
        self.inner.hijack()
    }

    fn write_file(&mut self, file: &std::fs::File, len: u64) -> io::Result<()> {
        self.close_if_hit();
        self.inner.write_file(file, len)
    }

    crate::server::response::forward_connection_methods!(inner);
}

/// A middleware: a function from a handler to a handler that wraps it. Build one from any
/// such function or closure with [`middleware`]; apply a list with [`chain`].
pub type Middleware = Box<dyn Fn(Box<dyn Handler>) -> Box<dyn Handler> + Send + Sync>;

/// Makes a [`Middleware`] from a function that wraps a handler, such as [`log_requests`] or
/// `|h| timeout_handler(h, dt, "")`.
pub fn middleware<F, H>(f: F) -> Middleware
where
    F: Fn(Box<dyn Handler>) -> H + Send + Sync + 'static,
    H: Handler,
{
    Box::new(move |h| Box::new(f(h)))
}

/// Wraps `h` in each middleware, the first one outermost: `chain(h, [a, b])` is `a(b(h))`,
/// so a request passes through `a`, then `b`, then reaches `h`.
pub fn chain(
    h: impl Handler,
    middleware: impl IntoIterator<Item = Middleware>,
) -> Box<dyn Handler> {
    let list: Vec<Middleware> = middleware.into_iter().collect();
    list.iter()
        .rev()
        .fold(Box::new(h) as Box<dyn Handler>, |inner, mw| mw(inner))
}

/// Writes one access-log line per request through the [`log`] crate, at `info` level with the
/// target `nethttp::access`, after the handler returns:
///
/// ```text
/// 127.0.0.1:51234 "GET /items/7 HTTP/1.1" 200 18 0.214ms
/// ```
///
/// That is the client address (`-` if unknown), method, path (without the query, which may
/// hold secrets) and version, the status (200 if the handler chose none), the body bytes the
/// handler wrote, and the time the handler took. Put it outermost to time everything inside.
///
/// A response the client did not receive whole is marked: ` cut` ends the line when a write
/// failed (the client went away mid-download) or the handler wrote less than the
/// `Content-Length` it declared, and the byte count is what was written. For the Common Log
/// Format instead, see [`LogRequests::format`].
pub fn log_requests<H: Handler>(h: H) -> LogRequests<H> {
    LogRequests {
        inner: h,
        format: LogFormat::Default,
    }
}

/// The handler returned by [`log_requests`].
pub struct LogRequests<H> {
    inner: H,
    format: LogFormat,
}

/// The shape of [`log_requests`]' lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// `127.0.0.1:51234 "GET /items/7 HTTP/1.1" 200 18 0.214ms`, as above.
    #[default]
    Default,
    /// The Common Log Format of NCSA httpd, Apache and nginx, which log analysers read:
    /// `127.0.0.1 - ann [02/Dec/2026:16:13:08 +0000] "GET /items/7 HTTP/1.1" 200 18`: the
    /// client's IP, `-` for the identity, the Basic-auth user (or `-`), the time the request
    /// arrived in UTC, the request line (the path without its query), the status and the body
    /// bytes (`-` for none). A cut response ends with ` cut`, which CLF readers ignore as a
    /// trailing field.
    Common,
}

impl<H> LogRequests<H> {
    /// Chooses the line format (default [`LogFormat::Default`]).
    pub fn format(mut self, format: LogFormat) -> LogRequests<H> {
        self.format = format;
        self
    }
}

// Debug without requiring the wrapped handler (often a closure) to be Debug.
impl<H> fmt::Debug for StripPrefix<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripPrefix")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<H> fmt::Debug for TimeoutHandler<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutHandler")
            .field("dt", &self.dt)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl<H> fmt::Debug for MaxBytesHandler<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxBytesHandler")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<H> fmt::Debug for LogRequests<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogRequests").finish_non_exhaustive()
    }
}

impl<H: Handler> Handler for LogRequests<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        if !log::log_enabled!(target: "nethttp::access", log::Level::Info) {
            return self.inner.serve_http(w, r);
        }
        let start = Instant::now();
        let arrived = std::time::SystemTime::now();
        let method = r.method.clone();
        let path = r.uri.path().to_string();
        let version = r.version;
        let remote = r.remote_addr();
        let user = match self.format {
            LogFormat::Common => r.basic_auth().map(|(u, _)| u),
            LogFormat::Default => None,
        };
        let mut cw = CountingWriter {
            inner: w,
            bytes: 0,
            failed: false,
        };
        self.inner.serve_http(&mut cw, r);
        let status = cw.inner.status().unwrap_or(StatusCode::OK);
        let elapsed = start.elapsed();
        let declared = cw
            .inner
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let short = method != Method::HEAD && declared.is_some_and(|n| cw.bytes < n);
        let cut = if cw.failed || short { " cut" } else { "" };
        match self.format {
            LogFormat::Default => {
                let remote = remote.map_or_else(|| "-".to_string(), |a| a.to_string());
                log::info!(
                    target: "nethttp::access",
                    "{remote} \"{method} {path} {version:?}\" {} {} {:.3}ms{cut}",
                    status.as_u16(),
                    cw.bytes,
                    elapsed.as_secs_f64() * 1e3,
                );
            }
            LogFormat::Common => {
                let ip = remote.map_or_else(|| "-".to_string(), |a| a.ip().to_string());
                let user = user.filter(|u| !u.is_empty() && !u.contains([' ', '"']));
                let secs = arrived
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let t = crate::proto::date::civil(secs);
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let month = MONTHS[(t.month as usize).clamp(1, 12) - 1];
                let bytes = if cw.bytes == 0 {
                    "-".to_string()
                } else {
                    cw.bytes.to_string()
                };
                log::info!(
                    target: "nethttp::access",
                    "{ip} - {} [{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000] \
                     \"{method} {path} {version:?}\" {} {bytes}{cut}",
                    user.as_deref().unwrap_or("-"),
                    t.day,
                    t.year,
                    t.hour,
                    t.minute,
                    t.second,
                    status.as_u16(),
                );
            }
        }
    }
}

/// Counts the body bytes a handler writes, and whether a write failed.
struct CountingWriter<'a> {
    inner: &'a mut dyn ResponseWriter,
    bytes: u64,
    failed: bool,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data).inspect_err(|_| self.failed = true)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

impl ResponseWriter for CountingWriter<'_> {
    fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    fn write_header(&mut self, status: StatusCode) {
        self.inner.write_header(status)
    }

    fn status(&self) -> Option<StatusCode> {
        self.inner.status()
    }

    fn hijack(&mut self) -> Result<Hijacked> {
        self.inner.hijack()
    }

    fn write_file(&mut self, file: &std::fs::File, len: u64) -> io::Result<()> {
        // A file that fails part-way counts nothing: how much of it went is not known.
        self.inner
            .write_file(file, len)
            .inspect_err(|_| self.failed = true)?;
        self.bytes += len;
        Ok(())
    }

    crate::server::response::forward_connection_methods!(inner);
}

/// Escapes the five characters that matter in HTML text and attribute values; borrows when
/// there is nothing to escape. Shared by directory listings and redirect bodies.
pub(crate) fn escape_html(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_hosts() {
        for (url, want) in [
            ("http://x/", true),
            ("mailto:a@b", true),
            ("//evil.example/", true),
            ("/a", false),
            ("a/b", false),
            ("a?b=c:d", false),
            ("1a:b", false),
            ("", false),
        ] {
            assert_eq!(has_scheme_or_host(url), want, "{url}");
        }
    }

    #[test]
    fn location_escaping() {
        assert_eq!(escape_location("/a b/€"), "/a%20b/%E2%82%AC");
        assert_eq!(escape_location("/plain?q=1"), "/plain?q=1");
        assert_eq!(escape_html("/a?b=1&c=\"<>"), "/a?b=1&amp;c=&#34;&lt;&gt;");
    }

    #[test]
    fn uri_with_new_path() {
        let u: Uri = "/static/css/a.css?v=1".parse().unwrap_or_default();
        assert_eq!(
            with_path(&u, "/css/a.css")
                .map(|u| u.to_string())
                .as_deref(),
            Some("/css/a.css?v=1")
        );
        let u: Uri = "http://h.example/static/".parse().unwrap_or_default();
        assert_eq!(
            with_path(&u, "/").map(|u| u.to_string()).as_deref(),
            Some("http://h.example/")
        );
        let u: Uri = "/static".parse().unwrap_or_default();
        assert_eq!(
            with_path(&u, "").map(|u| u.path().to_string()).as_deref(),
            Some("/")
        );
    }
}
