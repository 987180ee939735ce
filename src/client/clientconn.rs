//! `ClientConn`: HTTP over one connection you already have, with no pool and no threads (Go's
//! `httputil.ClientConn`), and `hijack` to take the raw stream back — how Docker's client
//! streams `attach`. Feature `clientconn` (on by default).

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::response::{Response, ResponseBody, UpgradeSlot};
use super::trace::{CancelToken, Cancelable, ClientTrace};
use super::RequestOptions;
use crate::bufio::{self, HeadTiming, ReadBuf};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::{Conn, Stream};
use crate::proto::body::BodyDecoder;
use crate::proto::client::{self as exchange, EncodeOptions, Exchange, Next};
use crate::proto::head::{HeadScanner, ResponseHead};
use crate::proto::Limits;
use crate::{Body, Request};

/// One HTTP/1.1 connection driven from the calling thread: `send` writes a request and reads
/// the response head; the response body reads from the same connection and must be finished
/// (or dropped, which spoils the connection) before the next `send`. Feature `clientconn`
/// (on by default; `client` alone leaves it out).
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
    /// What a cancel needs, outside `inner` (whose lock blocking I/O holds).
    cancel: Arc<CcCancel>,
}

/// The exchange a cancel may stop: the stream, and which exchange is in progress (0: none, or
/// hijacked). Locked only to read or set these and to shut the socket down, which does not
/// block.
struct CcCancel {
    state: Mutex<(u64, Option<Arc<dyn Stream>>)>,
}

impl Cancelable for CcCancel {
    fn cancel(&self, id: u64) {
        let st = self.state.lock();
        if st.0 == id {
            if let Some(s) = &st.1 {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    fn carries(&self, id: u64) -> bool {
        self.state.lock().0 == id
    }
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
    /// Finds response heads in `buf`; holds the head and body limits.
    scanner: HeadScanner<ResponseHead>,
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
        let stream: Arc<dyn Stream> = Arc::new(stream);
        ClientConn {
            cancel: Arc::new(CcCancel {
                state: Mutex::new((0, Some(Arc::clone(&stream)))),
            }),
            inner: Arc::new(Mutex::new(Inner {
                stream: Some(stream),
                buf: ReadBuf::new(),
                rslot: TimeoutSlot::default(),
                wslot: TimeoutSlot::default(),
                decoder: BodyDecoder::empty(),
                body_id: 0,
                next_id: 1,
                spent: false,
                upgraded: None,
                scanner: HeadScanner::response(Limits::response(
                    Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES,
                )),
            })),
        }
    }

    /// Writes `req` and reads its response head. 1xx responses other than 101 are skipped.
    /// The request's [`RequestOptions`] apply: its deadline bounds the exchange (body reads
    /// included), its cancel token stops it (closing the connection, which cannot carry another
    /// request after that), and its trace hooks see the request written and the response heads
    /// arrive (the connection hooks do not run: there is no pool and no dial). The body is sent
    /// at once, also after `Expect: 100-continue`: a connection driven from one thread cannot
    /// wait for the two at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if a previous body is still unread; [`ErrorKind::Hijacked`]
    /// after `hijack`; [`ErrorKind::Canceled`]; write, read and parse errors.
    pub fn send(&self, mut req: Request) -> Result<Response> {
        let opts = RequestOptions::of(&req);
        if opts.cancel.as_ref().is_some_and(CancelToken::is_canceled) {
            return Err(Error::new(ErrorKind::Canceled));
        }
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
        // Encoded before anything is written: a request that cannot be encoded (no host, say)
        // fails alone and leaves the connection usable.
        let mut head = Vec::with_capacity(256);
        let body_len = req.body().len_hint();
        let enc = exchange::encode_request(
            &mut head,
            &req.method,
            &req.uri,
            &req.headers,
            body_len,
            // A `Client` in front of this connection (through a `RoundTripper` of the
            // caller's) asks for gzip as through a `Transport`.
            &EncodeOptions {
                accept_encoding: crate::client::accept_encoding(&req),
                ..EncodeOptions::default()
            },
        )?;
        let id = inner.next_id;
        inner.next_id += 1;
        self.cancel.state.lock().0 = id;
        if let Some(token) = &opts.cancel {
            let target: Arc<dyn Cancelable> = self.cancel.clone();
            if !token.watch(Arc::downgrade(&target), id) {
                inner.spent = true;
                return Err(Error::new(ErrorKind::Canceled));
            }
        }
        let r = self.exchange(inner, stream, &mut req, (head, enc), id, &opts);
        if r.is_err() {
            // Part of the exchange may be on the wire or unread: another request on this
            // connection would be misread by one side or the other.
            inner.spent = true;
            end_exchange(&self.cancel, id);
        }
        let canceled = opts.cancel.as_ref().is_some_and(CancelToken::is_canceled);
        match r {
            Err(_) if canceled => Err(Error::new(ErrorKind::Canceled)),
            r => r,
        }
    }

    /// Writes the request and reads the response head, for `send`.
    fn exchange(
        &self,
        inner: &mut Inner,
        stream: Arc<dyn Stream>,
        req: &mut Request,
        (head, enc): (Vec<u8>, exchange::Encoded),
        id: u64,
        opts: &RequestOptions,
    ) -> Result<Response> {
        let deadline = opts.deadline;
        let trace = &opts.trace;
        let mut body = req.replace_body(Body::empty());
        trace.wrote_header_fields(&head);
        let wrote = deadline::write_all(&*stream, &mut inner.wslot, deadline, &[&head])
            .map_err(|e| Error::from_io(e, TimeoutPhase::WriteRequest))
            .and_then(|()| {
                trace.wrote_headers();
                if enc.body_len == Some(0) {
                    return Ok(());
                }
                let mut scratch = vec![0u8; 16 << 10];
                super::persist::write_body(
                    &*stream,
                    &mut inner.wslot,
                    deadline,
                    &mut scratch,
                    &mut body,
                    enc.body_len,
                )
                .map_err(Error::from)
            });
        trace.wrote_request(wrote.is_ok());
        wrote?;

        let mut ex = Exchange::new(req.method.clone(), enc.close_after);
        let mut timing = CcTiming {
            deadline,
            trace,
            first: true,
        };
        let fin = loop {
            let h = bufio::read_head(
                &mut inner.buf,
                &*stream,
                &mut inner.rslot,
                &mut inner.scanner,
                &mut timing,
            )?
            .ok_or_else(|| Error::closed(ClosedDuring::Head))?;
            match ex.on_head(h)? {
                Next::Continue => trace.got_100_continue(),
                Next::Informational(h) => trace.got_1xx_response(h.status, &h.headers),
                Next::Upgrade(head) => {
                    let buffered = inner.buf.take_all();
                    inner.stream = None;
                    self.cancel.state.lock().1 = None;
                    end_exchange(&self.cancel, id);
                    // The new protocol's reads and writes are the caller's to time: the
                    // request's deadline no longer applies to them.
                    let _ = stream.set_read_timeout(None);
                    let _ = stream.set_write_timeout(None);
                    let slot: UpgradeSlot = Arc::new(Mutex::new(Some(Conn::new(stream, buffered))));
                    inner.upgraded = Some(Arc::clone(&slot));
                    return Ok(
                        Response::new(head, ResponseBody::empty(), req.uri.clone(), None)
                            .with_upgrade_slot(slot),
                    );
                }
                Next::Response(f) => break f,
            }
        };
        if !fin.reusable {
            inner.spent = true;
        }
        inner.decoder = BodyDecoder::new(fin.framing, inner.scanner.limits());
        let url = req.uri.clone();
        if inner.decoder.is_done() {
            end_exchange(&self.cancel, id);
            return Ok(Response::new(fin.head, ResponseBody::empty(), url, None));
        }
        inner.body_id = id;
        let body = ResponseBody::from_reader(CcBody {
            inner: Arc::clone(&self.inner),
            cancel: Arc::clone(&self.cancel),
            token: opts.cancel.clone(),
            id,
            deadline,
            failed: None,
        });
        Ok(Response::new(fin.head, body, url, None))
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
        // The stream is the caller's now: no cancel may shut it down.
        *self.cancel.state.lock() = (0, None);
        inner.body_id = 0;
        inner.spent = true;
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(None);
        let buffered = inner.buf.take_all();
        Ok(Conn::new(stream, buffered))
    }
}

/// A `ClientConn`'s head reads: one deadline, and the first response byte traced.
struct CcTiming<'a> {
    deadline: Option<Instant>,
    trace: &'a ClientTrace,
    first: bool,
}

impl HeadTiming for CcTiming<'_> {
    fn first_byte(&mut self) {
        if std::mem::take(&mut self.first) {
            self.trace.got_first_response_byte();
        }
    }

    fn next_read(&self, _started: bool) -> (Option<Instant>, TimeoutPhase) {
        (self.deadline, TimeoutPhase::ReadResponseHead)
    }
}

/// A response body read from a `ClientConn`.
struct CcBody {
    inner: Arc<Mutex<Inner>>,
    cancel: Arc<CcCancel>,
    token: Option<CancelToken>,
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
        if out.is_empty() {
            // Nothing asked, nothing learnt: `bufio::read_body` answers 0, which must not be
            // taken for the end of the body below.
            return Ok(0);
        }
        if self.token.as_ref().is_some_and(CancelToken::is_canceled) {
            self.fail_now(ErrorKind::Canceled);
            return Err(Error::new(ErrorKind::Canceled).into_io());
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
            // A body that runs until the connection closes ends cleanly at EOF, which a cancel
            // (it shuts the socket down) also causes: that end is the cancel.
            Ok(0) if self.token.as_ref().is_some_and(CancelToken::is_canceled) => {
                drop(g);
                self.fail_now(ErrorKind::Canceled);
                Err(Error::new(ErrorKind::Canceled).into_io())
            }
            Ok(0) => {
                inner.body_id = 0;
                drop(g);
                end_exchange(&self.cancel, self.id);
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                inner.body_id = 0;
                inner.spent = true;
                drop(g);
                end_exchange(&self.cancel, self.id);
                let e = if self.token.as_ref().is_some_and(CancelToken::is_canceled) {
                    Error::new(ErrorKind::Canceled)
                } else {
                    e
                };
                self.failed = Some(e.kind());
                Err(e.into_io())
            }
        }
    }

    // std's generic versions of these would be compiled for this type (it is used as a
    // `dyn Read`); the crate's shared ones are compiled once (`body::read_to_end_with`).
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        crate::body::read_to_end_with(&mut |b| self.read(b), out, u64::MAX)
    }

    /// As std's: what was read is appended if it is UTF-8, an I/O error or not; if it is
    /// not, `out` is left as it was and the error is `InvalidData`.
    fn read_to_string(&mut self, out: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let r = self.read_to_end(&mut bytes);
        match std::str::from_utf8(&bytes) {
            Ok(s) => {
                out.push_str(s);
                r
            }
            Err(_) => r.and_then(|_| {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                ))
            }),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        crate::body::read_exact_with(&mut |b| self.read(b), buf)
    }
}

impl CcBody {
    /// Ends the body with `kind` before reading: the connection cannot carry another request.
    fn fail_now(&mut self, kind: ErrorKind) {
        self.failed = Some(kind);
        let mut inner = self.inner.lock();
        if inner.body_id == self.id {
            inner.body_id = 0;
            inner.spent = true;
        }
        drop(inner);
        end_exchange(&self.cancel, self.id);
    }
}

/// The exchange `id` is over: a cancel no longer touches the connection.
fn end_exchange(cancel: &CcCancel, id: u64) {
    let mut st = cancel.state.lock();
    if st.0 == id {
        st.0 = 0;
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
        drop(inner);
        end_exchange(&self.cancel, self.id);
    }
}
