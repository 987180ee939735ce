//! The client's `Response` and its streaming body.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, StatusCode, Uri, Version};

use super::persist::{put_idle_untraced, BodyEvent, PersistConn, ReadHalf};
use super::trace::{CancelToken, ClientTrace};
use crate::bufio;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase, TooLarge};
use crate::net::Conn;
use crate::proto::head::ResponseHead;

/// Holds an upgraded connection until someone takes it.
pub(crate) type UpgradeSlot = Arc<parking_lot::Mutex<Option<Conn>>>;

/// The default limit of [`Response::bytes`] and [`Response::text`]: 10 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 10 << 20;

/// A response received by the client.
///
/// Read the body to its end (or use [`bytes`](Self::bytes) / [`text`](Self::text)) so the
/// connection goes back to the pool; dropping a response before the end of its body closes the
/// connection.
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    url: Uri,
    body: ResponseBody,
    /// After a 101: the connection, shared with a `ClientConn` that may hijack it instead;
    /// the first taker gets it.
    upgraded: Option<UpgradeSlot>,
    /// The body was decoded from gzip or deflate by the client (Go's `Uncompressed`).
    uncompressed: bool,
    /// The limit of `bytes`, `text` and `json`.
    body_limit: u64,
}

impl Response {
    pub(crate) fn new(
        head: ResponseHead,
        body: ResponseBody,
        url: Uri,
        upgraded: Option<Conn>,
    ) -> Response {
        Response {
            status: head.status,
            version: head.version,
            headers: head.headers,
            url,
            body,
            upgraded: upgraded.map(|c| Arc::new(parking_lot::Mutex::new(Some(c)))),
            uncompressed: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    #[cfg(feature = "clientconn")]
    pub(crate) fn with_upgrade_slot(mut self, slot: UpgradeSlot) -> Response {
        self.upgraded = Some(slot);
        self
    }

    /// The URL this response came from (after redirects, the last one).
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The cookies the response's `Set-Cookie` fields set, in order, as Go's
    /// `Response.Cookies`; fields that do not parse are skipped
    /// ([`Cookie::parse_set_cookie`](crate::Cookie::parse_set_cookie)).
    pub fn cookies(&self) -> Vec<crate::Cookie> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            // Not `to_str`: an obs-text byte in an attribute must not lose the cookie (Go keeps
            // it and puts the attribute in Unparsed); U+FFFD is not a cookie-octet, so a bad
            // byte in the name or value still drops it, and in an attribute skips that one.
            .filter_map(|v| crate::Cookie::parse_set_cookie(&String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    /// The `Location` field resolved against the response's URL, as Go's
    /// `Response.Location`: `Ok(None)` without one. Bytes a URL may not carry are
    /// percent-encoded as for a followed redirect; the fragment is dropped. Any scheme is
    /// returned (a client follows only `http` and `https`).
    ///
    /// # Errors
    ///
    /// [`Malformed::Location`](crate::error::Malformed::Location) if it is not a URL once
    /// resolved.
    pub fn location(&self) -> Result<Option<Uri>> {
        let Some(loc) = self.headers.get(http::header::LOCATION) else {
            return Ok(None);
        };
        let loc = String::from_utf8_lossy(loc.as_bytes());
        super::redirect::resolve_any(&self.url, &loc).map(Some)
    }

    /// The body, to read from.
    pub fn body(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// Puts `body` in place of the body and returns the old one (`httputil`'s dumps read it
    /// and put a copy back).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn replace_body(&mut self, body: ResponseBody) -> ResponseBody {
        std::mem::replace(&mut self.body, body)
    }

    /// The body as an owned reader.
    pub fn into_reader(self) -> ResponseBody {
        self.body
    }

    /// The trailer fields of a chunked body, once the body has been read to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.body.trailers.as_deref()
    }

    /// Reads the whole body, failing with [`TooLarge::Body`] past `limit` bytes.
    ///
    /// # Errors
    ///
    /// The body's read errors, or the limit.
    pub fn bytes_limited(&mut self, limit: u64) -> Result<Vec<u8>> {
        let r = read_limited(&mut self.body, limit);
        if let Err(e) = &r {
            if e.kind() == ErrorKind::TooLarge(TooLarge::Body) {
                // Part of the body is gone: later reads must fail too, never go on from
                // there to a clean end. Dropping the rest closes its connection.
                self.body = ResponseBody::from_reader(Failed(e.kind()));
            }
        }
        r
    }

    /// Reads the whole body, up to the [body limit](Self::body_limit) ([`DEFAULT_BODY_LIMIT`]
    /// unless the client sets another).
    ///
    /// # Errors
    ///
    /// As [`bytes_limited`](Self::bytes_limited).
    pub fn bytes(&mut self) -> Result<Vec<u8>> {
        self.bytes_limited(self.body_limit)
    }

    /// Reads the whole body as text (invalid UTF-8 is replaced), up to the
    /// [body limit](Self::body_limit).
    ///
    /// # Errors
    ///
    /// As [`bytes_limited`](Self::bytes_limited).
    pub fn text(&mut self) -> Result<String> {
        let b = self.bytes()?;
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// After `101 Switching Protocols`: the connection, now a raw bidirectional stream that
    /// starts with any bytes the server sent after its response head. The connection has left
    /// the pool.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if the response is not a 101 or was already upgraded.
    pub fn upgrade(&mut self) -> Result<Conn> {
        self.upgraded
            .take()
            .and_then(|slot| slot.lock().take())
            .ok_or_else(|| {
                Error::invalid_input("response is not an upgrade (101), or was already taken")
            })
    }

    /// Converts into an `http::Response` with the streaming body.
    pub fn into_http(self) -> http::Response<ResponseBody> {
        let mut r = http::Response::new(self.body);
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers;
        r
    }

    /// Builds a response from an `http::Response` whose body is any reader (for tests and
    /// for round trippers that synthesise responses).
    pub fn from_http<R: Read + Send + 'static>(r: http::Response<R>) -> Response {
        let (parts, body) = r.into_parts();
        Response {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            url: Uri::default(),
            body: ResponseBody::from_reader(body),
            upgraded: None,
            uncompressed: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A body that failed: every read repeats its error.
struct Failed(ErrorKind);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(Error::new(self.0).into_io())
    }
}

/// The most [`read_limited`] asks of the reader at once.
const READ_STEP: usize = 64 << 10;

/// Reads `r` to its end into memory, failing with [`TooLarge::Body`] past `limit` bytes. The
/// buffer grows at most to `limit + 1` bytes, whatever the body claims or decompresses to.
pub(crate) fn read_limited(r: &mut impl Read, limit: u64) -> Result<Vec<u8>> {
    let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == out.capacity() {
            if out.len() >= cap {
                return Err(Error::too_large(TooLarge::Body));
            }
            // Grow by doubling, but never past the limit.
            let want = out.capacity().max(8 << 10).min(cap - out.len());
            out.reserve_exact(want);
        }
        // At most 64 KiB zeroed per read: zeroing the whole spare capacity each time made a
        // large body quadratic (a 64 MiB body read in many small pieces took seconds).
        let spare = (out.capacity().min(cap) - out.len()).min(READ_STEP);
        let start = out.len();
        out.resize(start + spare, 0);
        match r.read(&mut out[start..]) {
            Ok(0) => {
                out.truncate(start);
                break;
            }
            Ok(n) => out.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => out.truncate(start),
            Err(e) => return Err(Error::from_io(e, TimeoutPhase::ReadBody)),
        }
    }
    if out.len() as u64 > limit {
        return Err(Error::too_large(TooLarge::Body));
    }
    Ok(out)
}

/// A response body: read it with [`std::io::Read`]. It stops exactly at the end of the
/// response; a body cut short by the server is an error, never a clean end.
pub struct ResponseBody {
    kind: Kind,
    /// Boxed, as rare: a `Response` is moved through every layer of a round trip, and a
    /// `HeaderMap` inline would make each move 96 bytes longer (twice, with `Kind::Bytes`).
    trailers: Option<Box<HeaderMap>>,
}

enum Kind {
    Empty,
    /// A body the reader thread read whole; its trailers are revealed at its end, as for a
    /// streamed body.
    Bytes(io::Cursor<Vec<u8>>, Option<Box<HeaderMap>>),
    Conn(Box<ConnBody>),
    Reader(Box<dyn Read + Send>),
    /// One HTTP/2 stream's body.
    #[cfg(feature = "http2")]
    H2(Box<super::h2::H2Body>),
}

impl ResponseBody {
    pub(crate) fn empty() -> ResponseBody {
        ResponseBody {
            kind: Kind::Empty,
            trailers: None,
        }
    }

    pub(crate) fn from_bytes(b: Vec<u8>, trailers: Option<Box<HeaderMap>>) -> ResponseBody {
        ResponseBody {
            kind: Kind::Bytes(io::Cursor::new(b), trailers),
            trailers: None,
        }
    }

    pub(crate) fn from_conn(c: ConnBody) -> ResponseBody {
        ResponseBody {
            kind: Kind::Conn(Box::new(c)),
            trailers: None,
        }
    }

    #[cfg(feature = "http2")]
    pub(crate) fn from_h2(b: super::h2::H2Body) -> ResponseBody {
        ResponseBody {
            kind: Kind::H2(Box::new(b)),
            trailers: None,
        }
    }

    /// A body reading from `r`.
    pub fn from_reader(r: impl Read + Send + 'static) -> ResponseBody {
        ResponseBody {
            kind: Kind::Reader(Box::new(r)),
            trailers: None,
        }
    }

    /// The trailer fields, once read to the end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_deref()
    }
}

impl Read for ResponseBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.kind {
            Kind::Empty => Ok(0),
            Kind::Bytes(c, pending) => {
                let n = c.read(buf)?;
                if n == 0 && !buf.is_empty() && self.trailers.is_none() {
                    self.trailers = pending.take();
                }
                Ok(n)
            }
            Kind::Reader(r) => r.read(buf),
            Kind::Conn(c) => {
                let n = c.read(buf, &mut self.trailers)?;
                Ok(n)
            }
            #[cfg(feature = "http2")]
            Kind::H2(b) => b.read(buf, &mut self.trailers),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Bytes(..) => "bytes",
            Kind::Conn(_) => "connection",
            Kind::Reader(_) => "reader",
            #[cfg(feature = "http2")]
            Kind::H2(_) => "http2 stream",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

/// A body read straight from a pooled connection's read half.
pub(crate) struct ConnBody {
    pc: Arc<PersistConn>,
    req_id: u64,
    reusable: bool,
    deadline: Option<Instant>,
    cancel: Option<CancelToken>,
    trace: ClientTrace,
    done: bool,
    /// The error that ended the body early. Every later read returns it again, as Go's
    /// `bodyEOFSignal` does, so a failed body never turns into a clean end.
    failed: Option<ErrorKind>,
}

impl ConnBody {
    pub(crate) fn new(
        pc: Arc<PersistConn>,
        req_id: u64,
        reusable: bool,
        deadline: Option<Instant>,
        cancel: Option<CancelToken>,
        trace: ClientTrace,
    ) -> ConnBody {
        ConnBody {
            pc,
            req_id,
            reusable,
            deadline,
            cancel,
            trace,
            done: false,
            failed: None,
        }
    }

    fn read(&mut self, out: &mut [u8], trailers: &mut Option<Box<HeaderMap>>) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(Error::new(kind).into_io());
        }
        if self.done || out.is_empty() {
            return Ok(0);
        }
        if self.cancel.as_ref().is_some_and(|c| c.is_canceled()) {
            return Err(self.fail(Error::new(ErrorKind::Canceled)));
        }
        let (r, at_end) = {
            let mut rh = self.pc.read.lock();
            let ReadHalf {
                buf, slot, decoder, ..
            } = &mut *rh;
            let r = bufio::read_body(buf, decoder, &*self.pc.stream, slot, self.deadline, out);
            let at_end = r.is_ok() && decoder.is_done();
            if at_end {
                *trailers = decoder.take_trailers().map(Box::new);
            }
            (r, at_end)
        };
        match r {
            // A body that runs until the connection closes ends cleanly at EOF, which a cancel
            // (it closes the connection) also causes: that end is the cancel.
            Ok(_) if at_end && self.cancel.as_ref().is_some_and(|c| c.is_canceled()) => {
                Err(self.fail(Error::new(ErrorKind::Canceled)))
            }
            Ok(n) => {
                if at_end {
                    // The framing is satisfied: the exchange ends with the last bytes (Go's
                    // body returns io.EOF with them), so a caller that reads exactly the
                    // declared length and drops the body still gets the connection reused.
                    // It goes back to the pool before the caller sees the end.
                    self.finish(true);
                }
                Ok(n)
            }
            Err(e) => {
                let e = if self.cancel.as_ref().is_some_and(|c| c.is_canceled()) {
                    Error::new(ErrorKind::Canceled)
                } else {
                    e
                };
                Err(self.fail(e))
            }
        }
    }

    /// Ends the exchange after an error, which later reads repeat.
    fn fail(&mut self, e: Error) -> io::Error {
        self.failed = Some(e.kind());
        self.finish(false);
        e.into_io()
    }

    /// Ends the exchange: pools the connection after a clean end, else closes it; then lets
    /// the reader thread go on.
    fn finish(&mut self, eof: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let mut put = None;
        let pooled =
            eof && self.reusable && !self.pc.is_closed() && self.pc.wrote_in_full(self.req_id) && {
                self.pc.end_exchange(self.req_id);
                put = put_idle_untraced(&self.pc);
                matches!(put, Some(Ok(())))
            };
        if !pooled {
            self.pc
                .close(Error::closed(crate::error::ClosedDuring::Body));
        }
        self.pc.send_body_event(BodyEvent::Done { pooled });
        // The hook is user code on the caller's thread: only once the reader thread has been
        // told, so a panic in it cannot leave a pooled connection whose reader waits forever.
        if let Some(r) = put {
            self.trace.put_idle_conn(r.err());
        }
    }
}

impl Drop for ConnBody {
    /// Dropping a body before its end closes the connection (it cannot carry another request
    /// until the rest is read). Never blocks.
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Client policy: decoding, limits and status checks (see client/mod.rs).
impl Response {
    /// True if the client decoded a gzip or deflate body itself (Go's `Uncompressed`): the
    /// `Content-Encoding` and `Content-Length` fields were removed, and the body reads as the
    /// decoded bytes.
    pub fn uncompressed(&self) -> bool {
        self.uncompressed
    }

    /// The limit of [`bytes`](Self::bytes), [`text`](Self::text) and `json`. Default is
    /// [`DEFAULT_BODY_LIMIT`]; a client's `body_limit` setting changes it.
    pub fn body_limit(&self) -> u64 {
        self.body_limit
    }

    /// Sets the limit of [`bytes`](Self::bytes), [`text`](Self::text) and `json`.
    pub fn set_body_limit(&mut self, limit: u64) -> &mut Self {
        self.body_limit = limit;
        self
    }

    /// Replaces the body with a decoded one and marks the response
    /// [uncompressed](Self::uncompressed).
    #[cfg(feature = "gzip")]
    pub(crate) fn set_decoded_body(&mut self, body: ResponseBody) {
        self.body = body;
        self.uncompressed = true;
    }

    /// Takes the body out, leaving an empty one.
    #[cfg(feature = "gzip")]
    pub(crate) fn take_body(&mut self) -> ResponseBody {
        std::mem::replace(&mut self.body, ResponseBody::empty())
    }

    /// The response itself for a 1xx, 2xx or 3xx status; an [`ErrorKind::Status`] error for
    /// 4xx and 5xx (reqwest's `error_for_status`). The body of a failed response is dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Status`] with the status, for 4xx and 5xx.
    pub fn error_for_status(self) -> Result<Response> {
        match self.error_for_status_ref() {
            Ok(_) => Ok(self),
            Err(e) => Err(e),
        }
    }

    /// As [`error_for_status`](Self::error_for_status), keeping the response.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Status`] with the status, for 4xx and 5xx.
    pub fn error_for_status_ref(&self) -> Result<&Response> {
        if self.status.is_client_error() || self.status.is_server_error() {
            return Err(Error::new(ErrorKind::Status(self.status)).with_request(None, &self.url));
        }
        Ok(self)
    }

    /// Reads the whole body (up to the [body limit](Self::body_limit)) and parses it as JSON
    /// into `T`.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes); [`ErrorKind::Decode`] if the body is not JSON of that shape.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T> {
        let b = self.bytes()?;
        serde_json::from_slice(&b).map_err(|e| Error::with_source(ErrorKind::Decode, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read is offered at most `READ_STEP` bytes (which is all that gets zeroed before
    /// it), however large the buffer has grown: zeroing all spare capacity per read made a
    /// body that arrives in small pieces quadratic.
    #[test]
    fn read_limited_zeroes_a_bounded_step_per_read() {
        struct Trickle {
            left: usize,
            largest_offer: usize,
        }
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.largest_offer = self.largest_offer.max(buf.len());
                let n = buf.len().min(1024).min(self.left);
                buf[..n].fill(7);
                self.left -= n;
                Ok(n)
            }
        }
        let mut r = Trickle {
            left: 4 << 20,
            largest_offer: 0,
        };
        let out = read_limited(&mut r, 8 << 20).unwrap();
        assert_eq!(out.len(), 4 << 20);
        assert!(out.iter().all(|&b| b == 7));
        assert!(r.largest_offer <= READ_STEP, "{}", r.largest_offer);
        let mut r = Trickle {
            left: 100,
            largest_offer: 0,
        };
        assert!(read_limited(&mut r, 99).is_err());
    }
}
