//! `ClientConn`: HTTP over one connection you already have, with no pool and no threads (Go's
//! `httputil.ClientConn`), and `hijack` to take the raw stream back — how Docker's client
//! streams `attach`.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use parking_lot::Mutex;

use super::response::{Response, ResponseBody, UpgradeSlot};
use super::transport::encode_request;
use super::RequestOptions;
use crate::bufio::{self, ReadBuf, READ_BUF};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase, TooLarge};
use crate::net::{Conn, Stream};
use crate::proto::body::BodyDecoder;
use crate::proto::framing::{self, Framing};
use crate::proto::head::{self, Parsed, ResponseHead};
use crate::proto::Limits;
use crate::Request;

/// One HTTP/1.1 connection driven from the calling thread: `send` writes a request and reads
/// the response head; the response body reads from the same connection and must be finished
/// (or dropped, which spoils the connection) before the next `send`.
///
/// Over any [`Stream`] — here a TCP connection, two requests in turn:
///
/// ```
/// use std::io::Write;
/// use nethttp::client::ClientConn;
/// use nethttp::{httptest, Method, Request, ResponseWriter};
///
/// let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
///     let _ = w.write_all(r.uri.path().as_bytes());
/// });
/// let cc = ClientConn::new(std::net::TcpStream::connect(ts.addr())?);
/// for path in ["/a", "/b"] {
///     let req = Request::new(Method::GET, &format!("{}{path}", ts.url()))?;
///     let mut resp = cc.send(req)?;
///     assert_eq!(resp.text()?, path); // finish this body before the next send
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Docker's attach, over the daemon's Unix socket: an upgrade, then `hijack` for the raw
/// stream (`examples/docker_attach.rs` is a runnable version):
///
/// ```no_run
/// # fn main() -> nethttp::Result<()> {
/// use std::io::{Read, Write};
/// use nethttp::client::ClientConn;
///
/// let sock = std::os::unix::net::UnixStream::connect("/var/run/docker.sock")
///     .map_err(|e| nethttp::Error::with_source(nethttp::ErrorKind::Io, e))?;
/// let cc = ClientConn::new(sock);
/// let req = nethttp::Request::new(nethttp::Method::POST, "http://docker/containers/x/attach?stream=1")?
///     .with_header("Upgrade", "tcp")?
///     .with_header("Connection", "Upgrade")?;
/// let _resp = cc.send(req)?;            // 101 UPGRADED, or 200 with a hijacked stream
/// let mut raw = cc.hijack()?;           // the stream and the bytes read past the head
/// let mut out = [0u8; 4096];
/// let n = raw.read(&mut out).map_err(nethttp::Error::from)?;
/// # let _ = n; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientConn {
    inner: Arc<Mutex<Inner>>,
}

/// The connection's state. The lock is held across the blocking reads and writes of `send`
/// and of body reads: holding it is owning the connection, and one exchange runs at a time.
struct Inner {
    stream: Option<Arc<dyn Stream>>,
    buf: ReadBuf,
    rslot: TimeoutSlot,
    wslot: TimeoutSlot,
    decoder: BodyDecoder,
    /// Which exchange the current body belongs to; 0 when none is being read.
    body_id: u64,
    next_id: u64,
    /// The connection cannot carry another request (closed, spoiled or told to close).
    spent: bool,
    /// After a 101: the connection, until the response's `upgrade()` or our `hijack()` takes it.
    upgraded: Option<UpgradeSlot>,
    limits: Limits,
}

impl fmt::Debug for ClientConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("ClientConn")
            .field("stream", &inner.stream)
            .field("spent", &inner.spent)
            .finish()
    }
}

impl ClientConn {
    /// HTTP over `stream`.
    pub fn new(stream: impl Stream) -> ClientConn {
        ClientConn {
            inner: Arc::new(Mutex::new(Inner {
                stream: Some(Arc::new(stream)),
                buf: ReadBuf::new(),
                rslot: TimeoutSlot::default(),
                wslot: TimeoutSlot::default(),
                decoder: BodyDecoder::empty(),
                body_id: 0,
                next_id: 1,
                spent: false,
                upgraded: None,
                limits: Limits::default(),
            })),
        }
    }

    /// Writes `req` and reads its response head. 1xx responses other than 101 are skipped. A
    /// request deadline set with [`Request::set_deadline`] bounds the exchange.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if a previous body is still unread; [`ErrorKind::Hijacked`]
    /// after `hijack`; write, read and parse errors.
    pub fn send(&self, mut req: Request) -> Result<Response> {
        let opts = req
            .extensions
            .get::<RequestOptions>()
            .cloned()
            .unwrap_or_default();
        let mut g = self.inner.lock();
        let inner = &mut *g;
        let stream = inner
            .stream
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::Hijacked))?;
        if inner.body_id != 0 {
            return Err(Error::invalid_input(
                "previous response body has not been read to its end",
            ));
        }
        if inner.spent {
            return Err(Error::closed(ClosedDuring::Write));
        }
        let method = req.method.clone();
        let url = req.uri.clone();
        let enc = encode_request(&mut req, None, false)?;
        let r = self.exchange(inner, stream, enc, method, url, opts.deadline);
        if r.is_err() {
            // Part of the exchange may be on the wire or unread: another request on this
            // connection would be misread by one side or the other.
            inner.spent = true;
        }
        r
    }

    /// Writes the request and reads the response head, for `send`.
    fn exchange(
        &self,
        inner: &mut Inner,
        stream: Arc<dyn Stream>,
        enc: super::transport::Encoded,
        method: http::Method,
        url: http::Uri,
        deadline: Option<Instant>,
    ) -> Result<Response> {
        let mut body = enc.body;
        let mut scratch = vec![0u8; 16 << 10];
        deadline::write_all(&*stream, &mut inner.wslot, deadline, &[&enc.head])
            .map_err(|e| Error::from_io(e, TimeoutPhase::WriteRequest))?;
        if enc.body_len != Some(0) {
            super::persist::write_body(
                &*stream,
                &mut inner.wslot,
                deadline,
                &mut scratch,
                &mut body,
                enc.body_len,
            )?;
        }

        let mut informational = 0;
        let head = loop {
            let h = read_head(&*stream, inner, deadline)?;
            if !h.status.is_informational() || h.status == StatusCode::SWITCHING_PROTOCOLS {
                break h;
            }
            informational += 1;
            if informational > super::persist::MAX_1XX {
                return Err(Error::too_large(TooLarge::HeaderCount));
            }
        };
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            let buffered = inner.buf.take_all();
            inner.stream = None;
            // The new protocol's reads and writes are the caller's to time: the request's
            // deadline no longer applies to them.
            let _ = stream.set_read_timeout(None);
            let _ = stream.set_write_timeout(None);
            let slot: UpgradeSlot = Arc::new(Mutex::new(Some(Conn::new(stream, buffered))));
            inner.upgraded = Some(Arc::clone(&slot));
            return Ok(
                Response::new(head, ResponseBody::empty(), url, None).with_upgrade_slot(slot)
            );
        }
        let framing = framing::response(&method, head.status, head.version, &head.headers)?;
        if enc.close_after
            || crate::proto::head::wants_close(head.version, &head.headers)
            || framing == Framing::UntilClose
        {
            inner.spent = true;
        }
        inner.decoder = BodyDecoder::new(framing, &inner.limits);
        if inner.decoder.is_done() {
            return Ok(Response::new(head, ResponseBody::empty(), url, None));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.body_id = id;
        let body = ResponseBody::from_reader(CcBody {
            inner: Arc::clone(&self.inner),
            id,
            deadline,
            failed: None,
        });
        Ok(Response::new(head, body, url, None))
    }

    /// Takes the connection back: the stream and the bytes read from it past the last response
    /// head, as Go's `ClientConn.Hijack`. It works with a response still held, as Docker's
    /// attach needs: bytes of an unread body are among the buffered bytes handed over, and
    /// the held body then fails to read with [`ErrorKind::Hijacked`]. After a 101 it takes the
    /// upgraded connection, unless the response's `upgrade()` took it first. The `ClientConn`
    /// is unusable afterwards.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Hijacked`] if the connection was already taken.
    pub fn hijack(&self) -> Result<Conn> {
        let mut inner = self.inner.lock();
        if let Some(slot) = inner.upgraded.take() {
            return slot
                .lock()
                .take()
                .ok_or_else(|| Error::new(ErrorKind::Hijacked));
        }
        let stream = inner
            .stream
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Hijacked))?;
        inner.body_id = 0;
        inner.spent = true;
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(None);
        let buffered = inner.buf.take_all();
        Ok(Conn::new(stream, buffered))
    }
}

fn read_head(
    stream: &dyn Stream,
    inner: &mut Inner,
    deadline: Option<Instant>,
) -> Result<ResponseHead> {
    let mut scanned = 0;
    loop {
        let data = inner.buf.data();
        if let Some(end) = head::find_end(data, scanned) {
            if let Parsed::Complete { head, len } =
                head::parse_response(&data[..end], &inner.limits)?
            {
                inner.buf.consume(len);
                return Ok(head);
            }
        }
        scanned = data.len();
        if data.len() >= inner.limits.max_head_bytes {
            head::parse_response(data, &inner.limits)?;
            return Err(Error::too_large(TooLarge::Head));
        }
        let cap = inner.limits.max_head_bytes + READ_BUF;
        match inner.buf.fill(stream, &mut inner.rslot, deadline, cap) {
            Ok(0) => {
                inner.spent = true;
                return Err(Error::closed(ClosedDuring::Head));
            }
            Ok(_) => {}
            Err(e) => {
                inner.spent = true;
                return Err(Error::from_io(e, TimeoutPhase::ReadResponseHead));
            }
        }
    }
}

/// A response body read from a `ClientConn`.
struct CcBody {
    inner: Arc<Mutex<Inner>>,
    id: u64,
    deadline: Option<Instant>,
    /// The error that ended the body early; later reads return it again, so a failed body
    /// never turns into a clean end.
    failed: Option<ErrorKind>,
}

impl Read for CcBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(Error::new(kind).into_io());
        }
        let mut g = self.inner.lock();
        let inner = &mut *g;
        let Some(stream) = inner.stream.clone() else {
            return Err(Error::new(ErrorKind::Hijacked).into_io());
        };
        if inner.body_id != self.id {
            return Ok(0);
        }
        let r = bufio::read_body(
            &mut inner.buf,
            &mut inner.decoder,
            &*stream,
            &mut inner.rslot,
            self.deadline,
            out,
        );
        match r {
            Ok(0) => {
                inner.body_id = 0;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                inner.body_id = 0;
                inner.spent = true;
                self.failed = Some(e.kind());
                Err(e.into_io())
            }
        }
    }
}

impl Drop for CcBody {
    /// A body dropped before its end spoils the connection for further requests (it can
    /// still be hijacked). Never blocks beyond taking the lock, which no blocking call holds
    /// once the body's own reads have returned.
    fn drop(&mut self) {
        let mut inner = self.inner.lock();
        if inner.body_id == self.id {
            inner.body_id = 0;
            if !inner.decoder.is_done() {
                inner.spent = true;
            }
        }
    }
}
