//! One HTTP/2 stream's handler side: the request body a handler reads (`H2Body`, the
//! `Incoming` reader) and the `ResponseWriter` it writes to (`H2Writer`), both on the
//! handler's thread, both talking to the connection through its lock and condition variable.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{CONTENT_LENGTH, DATE};
use http::{HeaderMap, HeaderName, StatusCode};

use super::{stream_gone, wait_deadline, H2Conn, Kind, WRITE_QUEUE_LIMIT};
use crate::body::Incoming;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::proto::date::DateCache;
use crate::proto::h2::frame::{self, Data, Frame, WindowUpdate};
use crate::proto::h2::stream::State;
use crate::proto::h2::{message, ErrorCode};
use crate::proto::hpack::Field;
use crate::server::conn::panic_message;
use crate::server::response::{
    announced_trailers, declared_length, trailer_section, ResponseWriter, BUFFER_SIZE,
};
use crate::Request;

/// A request body arriving on a stream: the bytes the connection thread buffered.
pub(super) struct H2Body {
    conn: Arc<H2Conn>,
    id: u32,
    known_len: Option<u64>,
    /// `Expect: 100-continue`, and nothing read yet: the first read sends `100`.
    expect_continue: bool,
}

impl H2Body {
    pub(super) fn new(
        conn: Arc<H2Conn>,
        id: u32,
        known_len: Option<u64>,
        expect_continue: bool,
    ) -> H2Body {
        H2Body {
            conn,
            id,
            known_len,
            expect_continue,
        }
    }
}

impl Incoming for H2Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let conn = &*self.conn;
        let stall = conn.srv.config.inactivity_timeout;
        let mut core = conn.core.lock();
        if std::mem::take(&mut self.expect_continue) {
            let send = core
                .streams
                .get(&self.id)
                .is_some_and(|s| !s.head_sent && s.state.can_recv());
            if send {
                let mut block = Vec::new();
                core.enc.encode(&[Field::new(":status", "100")], &mut block);
                let mfs = core.peer.max_frame_size;
                let mut buf = Vec::new();
                if frame::encode_headers(self.id, &block, false, mfs, &mut buf).is_ok() {
                    core.queue(buf, Kind::Response);
                }
            }
        }
        let stall_deadline = wait_deadline(None, stall);
        loop {
            let broken = core.broken;
            let Some(st) = core.streams.get_mut(&self.id) else {
                return Err(stream_gone(broken, Some(ErrorCode::Cancel)));
            };
            // A reset stream's reads fail, even if bytes came before the reset (they are
            // dropped at the reset: an incomplete body).
            if st.reset.is_some() {
                return Err(stream_gone(broken, st.reset));
            }
            let n = st.take_body(out);
            if n > 0 {
                // §6.9: the stream's credit comes back as the handler reads, and the
                // connection's with it.
                let update = if st.state.can_recv() {
                    st.recv.release(n as u32)
                } else {
                    None
                };
                if let Some(inc) = update {
                    core.queue_frame(
                        &Frame::WindowUpdate(WindowUpdate {
                            stream_id: self.id,
                            increment: inc,
                        }),
                        Kind::Control,
                    );
                }
                core.release_conn(n as u32);
                return Ok(n);
            }
            if st.reset.is_some() || broken {
                return Err(stream_gone(broken, st.reset));
            }
            if !st.state.can_recv() {
                return Ok(0);
            }
            let deadline = crate::deadline::earliest(st.read_deadline, stall_deadline);
            let cv = Arc::clone(&st.cv);
            let timed_out = match deadline {
                Some(d) => cv.wait_until(&mut core, d).timed_out(),
                None => {
                    cv.wait_for(&mut core, super::RECHECK);
                    false
                }
            };
            if timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::timeout(TimeoutPhase::ReadBody).into_io());
            }
        }
    }

    fn known_len(&self) -> Option<u64> {
        self.known_len
    }

    fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.conn
            .core
            .lock()
            .streams
            .get_mut(&self.id)
            .and_then(|s| s.trailers.take())
    }

    fn mark_over_limit(&self) {
        // Nothing to do: a body the handler leaves unread is cut off with RST_STREAM
        // (NO_ERROR) after the response, never drained.
    }
}

/// Runs the handler (or the canned answer) for stream `id` and finishes its response.
pub(super) fn run(conn: &Arc<H2Conn>, id: u32, mut req: Request, canned: Option<StatusCode>) {
    let write_deadline = conn
        .srv
        .config
        .write_timeout
        .and_then(|d| Instant::now().checked_add(d));
    let mut w = H2Writer {
        conn: Arc::clone(conn),
        id,
        head: req.method == http::Method::HEAD,
        headers: HeaderMap::new(),
        trailers: HeaderMap::new(),
        status: None,
        committed: false,
        no_body: false,
        buf: Vec::new(),
        written: 0,
        declared: None,
        failed: None,
        deadline: write_deadline,
        date: DateCache::new(),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| match canned {
        Some(status) => {
            w.write_header(status);
            let _ = writeln!(
                w,
                "{} {}",
                status.as_str(),
                status.canonical_reason().unwrap_or("")
            );
        }
        None => conn.srv.handler.serve_http(&mut w, &mut req),
    }));
    match outcome {
        Ok(()) => w.finish(),
        Err(panic) => {
            log::error!(
                "panic serving {} (http2 stream {id}): {} {}: {}",
                conn.shared.remote_addr,
                req.method,
                req.uri,
                panic_message(&panic)
            );
            // Go resets the stream with INTERNAL_ERROR.
            let mut core = conn.core.lock();
            if core.streams.get(&id).is_some_and(|s| s.reset.is_none()) {
                core.reset_stream(id, ErrorCode::Internal);
            }
        }
    }
    drop(req);
    let mut core = conn.core.lock();
    let Some(st) = core.streams.get_mut(&id) else {
        return;
    };
    st.handler = false;
    let state = st.state;
    if state.can_recv() && !state.can_send() {
        // §8.1: the response is complete while the request is not: ask the client to stop
        // sending (RST_STREAM with NO_ERROR), rather than read what nobody will.
        core.reset_stream(id, ErrorCode::NoError);
    } else if state.can_send() {
        // The response did not end (a write failed or timed out): the stream cannot go on.
        core.reset_stream(id, ErrorCode::Internal);
    } else {
        core.set_state(id, state);
    }
    drop(core);
    conn.changed.notify_all();
}

/// The `ResponseWriter` of one HTTP/2 stream.
pub(super) struct H2Writer {
    conn: Arc<H2Conn>,
    id: u32,
    /// The request is a HEAD: body bytes are counted and dropped.
    head: bool,
    headers: HeaderMap,
    /// Trailer fields set through `trailers_mut` (Go's `TrailerPrefix` ones).
    trailers: HeaderMap,
    status: Option<StatusCode>,
    /// The response head went out.
    committed: bool,
    /// 1xx, 204, 304: no body may be written.
    no_body: bool,
    /// Body bytes held until the head goes out, or until a frame's worth.
    buf: Vec<u8>,
    /// Body bytes accepted from the handler.
    written: u64,
    /// The handler's `content-length`, once the head is out.
    declared: Option<u64>,
    failed: Option<ErrorKind>,
    /// The write deadline: `write_timeout` from the request, or the handler's own.
    deadline: Option<Instant>,
    date: DateCache,
}

impl H2Writer {
    fn check_usable(&self) -> io::Result<()> {
        match self.failed {
            Some(kind) => Err(Error::new(kind).into_io()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        let err = Error::from_io(e, TimeoutPhase::WriteResponse);
        log::debug!(
            "writing http2 response to {} (stream {}): {err}",
            self.conn.shared.remote_addr,
            self.id
        );
        self.failed = Some(err.kind());
        err.into_io()
    }

    /// Encodes and queues a header block for the stream.
    fn send_fields(&mut self, fields: &[Field], end_stream: bool) -> io::Result<()> {
        let conn = Arc::clone(&self.conn);
        let stall = conn.srv.config.inactivity_timeout;
        let wait_until = wait_deadline(self.deadline, stall);
        let mut core = conn.core.lock();
        loop {
            let broken = core.broken;
            let st = core.streams.get(&self.id);
            if broken || st.is_none_or(|s| !s.state.can_send() || s.reset.is_some()) {
                let reset = st.and_then(|s| s.reset);
                drop(core);
                return Err(self.fail(stream_gone(broken, reset)));
            }
            // A header block waits for room in the write queue as DATA does: a peer that
            // does not read would otherwise have every response's head held in memory (a
            // response without a body never waits for a window).
            if core.queued_bytes < WRITE_QUEUE_LIMIT {
                break;
            }
            let cv = Arc::clone(&st.expect("checked above").cv);
            if wait_step(&cv, &mut core, wait_until) {
                core.reset_stream(self.id, ErrorCode::Internal);
                drop(core);
                return Err(self.fail(io::ErrorKind::TimedOut.into()));
            }
        }
        let mut block = Vec::with_capacity(128);
        core.enc.encode(fields, &mut block);
        let mut buf = Vec::with_capacity(block.len() + 2 * frame::HEADER_LEN);
        let mfs = core.peer.max_frame_size;
        if let Err(e) = frame::encode_headers(self.id, &block, end_stream, mfs, &mut buf) {
            drop(core);
            return Err(self.fail(e.into_io()));
        }
        core.queue(buf, Kind::Response);
        if let Some(st) = core.streams.get_mut(&self.id) {
            st.head_sent = true;
        }
        if end_stream {
            let next = core
                .streams
                .get(&self.id)
                .map_or(State::Closed, |s| s.state.send_end());
            core.set_state(self.id, next);
        }
        Ok(())
    }

    /// Sends `data` as `DATA` frames, as the windows allow (§6.9.1: the stream's and the
    /// connection's; each frame within the peer's `SETTINGS_MAX_FRAME_SIZE`), `END_STREAM`
    /// on the last if `end_stream`.
    fn send_data(&mut self, mut data: &[u8], end_stream: bool) -> io::Result<()> {
        if data.is_empty() && !end_stream {
            return Ok(());
        }
        let conn = Arc::clone(&self.conn);
        let stall = conn.srv.config.inactivity_timeout;
        let mut core = conn.core.lock();
        loop {
            // Each wait is bounded by the write deadline and the stall timeout from when the
            // wait began (a window that stays shut past it fails the stream).
            let wait_until = wait_deadline(self.deadline, stall);
            let n = loop {
                let broken = core.broken;
                let queue_full = core.queued_bytes >= WRITE_QUEUE_LIMIT;
                let conn_avail = core.conn_send.available();
                let mfs = core.peer.max_frame_size;
                let Some(st) = core.streams.get(&self.id) else {
                    drop(core);
                    return Err(self.fail(stream_gone(broken, Some(ErrorCode::Cancel))));
                };
                if broken || st.reset.is_some() || !st.state.can_send() {
                    let reset = st.reset;
                    drop(core);
                    return Err(self.fail(stream_gone(broken, reset)));
                }
                if data.is_empty() {
                    break 0;
                }
                let avail = st.send.available().min(conn_avail).min(mfs) as usize;
                if avail > 0 && !queue_full {
                    break avail.min(data.len());
                }
                let cv = Arc::clone(&st.cv);
                if wait_step(&cv, &mut core, wait_until) {
                    // Go resets a stream whose write timed out.
                    core.reset_stream(self.id, ErrorCode::Internal);
                    drop(core);
                    return Err(self.fail(io::ErrorKind::TimedOut.into()));
                }
            };
            let last = n == data.len();
            let fin = end_stream && last;
            if n > 0 {
                core.conn_send.consume(n as u32).map_err(Error::into_io)?;
                if let Some(st) = core.streams.get_mut(&self.id) {
                    st.send.consume(n as u32).map_err(Error::into_io)?;
                }
            }
            let mut buf = Vec::with_capacity(frame::HEADER_LEN + n);
            let f = Frame::Data(Data {
                stream_id: self.id,
                end_stream: fin,
                data: &data[..n],
                padding: None,
            });
            f.encode(&mut buf).map_err(Error::into_io)?;
            core.queue(buf, Kind::Response);
            if fin {
                let next = core
                    .streams
                    .get(&self.id)
                    .map_or(State::Closed, |s| s.state.send_end());
                core.set_state(self.id, next);
            }
            data = &data[n..];
            if last {
                return Ok(());
            }
        }
    }

    /// Sends the head; `last` when the handler has returned, so the buffer is the whole
    /// body. Ends the stream when nothing follows.
    fn commit(&mut self, last: bool) -> io::Result<()> {
        let status = *self.status.get_or_insert(StatusCode::OK);
        crate::sniff::fill_content_type(&mut self.headers, status, &self.buf, &[]);
        self.no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let h = &mut self.headers;
        self.declared = declared_length(h);
        if self.no_body && status != StatusCode::NOT_MODIFIED {
            h.remove(CONTENT_LENGTH);
        }
        if let Some(n) = self.declared {
            if self.buf.len() as u64 > n {
                // More buffered than declared: the declared length goes out (§8.1.1: more
                // DATA would make the response malformed), as the HTTP/1 writer does.
                log::warn!(
                    "handler wrote {} body bytes under a content-length of {n}; sending {n}",
                    self.buf.len()
                );
                self.buf.truncate(n as usize);
                self.written = n;
            }
        }
        if !h.contains_key(DATE) {
            let date = self.date.get(SystemTime::now()).to_vec();
            if let Ok(v) = http::HeaderValue::from_bytes(&date) {
                h.insert(DATE, v);
            }
        }
        // (A HEAD whose handler wrote nothing says no length: the GET's is not known, and
        // RFC 9110 §8.6 allows only that one. Go's rule.)
        if last && !self.no_body && self.declared.is_none() && !(self.head && self.written == 0) {
            // The whole body is known: say its length (Go does for a handler that returns
            // having written less than its buffer).
            let n = if self.head {
                self.written
            } else {
                self.buf.len() as u64
            };
            h.insert(CONTENT_LENGTH, http::HeaderValue::from(n));
        }
        let announced = announced_trailers(h);
        let skip = |n: &HeaderName| announced.contains(n);
        let fields = message::response_fields(status, h, &skip);
        self.committed = true;
        let has_trailers = !announced.is_empty() || !self.trailers.is_empty();
        // A body short of its declared length never ends cleanly: `finish` leaves the stream
        // open and `run` resets it.
        let short = !self.no_body
            && !self.head
            && self.declared.is_some_and(|n| (self.buf.len() as u64) < n);
        let end =
            last && !short && (self.no_body || self.head || self.buf.is_empty()) && !has_trailers;
        self.send_fields(&fields, end)?;
        if self.head || self.no_body {
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends what the buffer holds as `DATA`.
    fn send_buffered(&mut self, end_stream: bool) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let r = self.send_data(&buf, end_stream);
        self.buf = buf;
        self.buf.clear();
        r
    }

    /// The trailer fields: the announced names' current values, then `trailers_mut`'s.
    fn trailer_fields(&self) -> Vec<Field> {
        message::trailer_fields(&trailer_section(&self.headers, &self.trailers))
    }

    /// Finishes the response after the handler returned: the head if not sent, the rest of
    /// the body, the trailers, `END_STREAM`.
    fn finish(&mut self) {
        if self.failed.is_some() {
            return;
        }
        if !self.committed && self.commit(true).is_err() {
            return;
        }
        if let Some(n) = self.declared {
            if self.written < n && !self.head && !self.no_body {
                // A body short of its content-length must not end cleanly (RFC 9113 §8.1.1):
                // what was written goes out, and `run` resets the stream (INTERNAL_ERROR), as
                // the HTTP/1 writer closes its connection.
                log::debug!(
                    "handler wrote {} body bytes under a content-length of {n}",
                    self.written
                );
                let _ = self.send_buffered(false);
                return;
            }
        }
        let trailers = self.trailer_fields();
        let stream_open = {
            let core = self.conn.core.lock();
            core.streams
                .get(&self.id)
                .is_some_and(|s| s.state.can_send())
        };
        if !stream_open {
            return;
        }
        if trailers.is_empty() {
            let _ = self.send_buffered(true);
        } else if self.send_buffered(false).is_ok() {
            let _ = self.send_fields(&trailers, true);
        }
    }
}

impl Write for H2Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_usable()?;
        if self.committed && self.no_body
            || !self.committed
                && self
                    .status
                    .is_some_and(|s| s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED)
        {
            return Err(Error::new(ErrorKind::BodyNotAllowed).into_io());
        }
        if data.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.declared {
            if self.written + data.len() as u64 > n {
                return Err(Error::new(ErrorKind::ContentLengthMismatch).into_io());
            }
        }
        if self.head {
            self.written += data.len() as u64;
            if !self.committed && self.buf.len() + data.len() > BUFFER_SIZE {
                self.commit(false)?;
            }
            return Ok(data.len());
        }
        if self.buf.len() + data.len() <= BUFFER_SIZE {
            self.buf.extend_from_slice(data);
            self.written += data.len() as u64;
            return Ok(data.len());
        }
        if !self.committed {
            self.commit(false)?;
            // The head just declared the handler's length, if it set one: a write that
            // passes it is refused whole, as once the head is out (and as the HTTP/1 writer
            // does), rather than sent as DATA beyond the content-length (§8.1.1).
            if let Some(n) = self.declared {
                if self.written + data.len() as u64 > n {
                    return Err(Error::new(ErrorKind::ContentLengthMismatch).into_io());
                }
            }
        }
        self.written += data.len() as u64;
        self.send_buffered(false)?;
        self.send_data(data, false)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if !self.committed {
            self.commit(false)?;
        }
        if !self.buf.is_empty() {
            self.send_buffered(false)?;
        }
        Ok(())
    }
}

impl ResponseWriter for H2Writer {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn write_file(&mut self, file: &std::fs::File, len: u64) -> io::Result<()> {
        // More than the declared length leaves room for is refused whole, before any of it
        // is buffered (after the head, `write` checks each piece the same way).
        let declared = if self.committed {
            self.declared
        } else {
            declared_length(&mut self.headers)
        };
        if declared.is_some_and(|n| self.written.saturating_add(len) > n) {
            return Err(Error::new(ErrorKind::ContentLengthMismatch).into_io());
        }
        crate::server::response::copy_file(self, file, len)
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.committed || self.status.is_some() {
            log::debug!(
                "superfluous write_header({status}) on http2 stream {}",
                self.id
            );
            return;
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // §8.6: HTTP/2 has no 101; the connection cannot switch protocols.
            log::warn!("handler sent 101 on an http2 stream; sending 500 instead");
            self.status = Some(StatusCode::INTERNAL_SERVER_ERROR);
            return;
        }
        if status.is_informational() {
            // An interim response (103 Early Hints...): a HEADERS frame without END_STREAM.
            // RFC 9110 §8.6: no content-length in a 1xx (Go drops it, and
            // transfer-encoding, which response_fields leaves out anyway).
            let fields = message::response_fields(status, &self.headers, &|n| *n == CONTENT_LENGTH);
            if let Err(e) = self.send_fields(&fields, false) {
                log::debug!("sending {status} on http2 stream {}: {e}", self.id);
            }
            return;
        }
        self.status = Some(status);
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }

    fn hijack(&mut self) -> Result<crate::server::Hijacked> {
        // Go's HTTP/2 writer is no Hijacker either: the connection carries other streams.
        Err(Error::invalid_input(
            "hijacking is not supported on http/2 connections",
        ))
    }

    fn set_write_deadline(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.deadline = deadline;
        Ok(())
    }

    fn set_read_deadline(&mut self, deadline: Option<Instant>) -> Result<()> {
        let mut core = self.conn.core.lock();
        if let Some(st) = core.streams.get_mut(&self.id) {
            st.read_deadline = deadline;
        }
        core.wake(self.id);
        Ok(())
    }

    fn trailers_mut(&mut self) -> Option<&mut HeaderMap> {
        Some(&mut self.trailers)
    }

    fn client_gone(&self) -> bool {
        stream_gone_now(&self.conn, self.id)
    }

    fn client_probe(&self) -> Option<crate::server::ClientProbe> {
        let (conn, id) = (Arc::clone(&self.conn), self.id);
        Some(crate::server::ClientProbe::new(move || {
            stream_gone_now(&conn, id)
        }))
    }
}

/// True if stream `id`'s client is gone: the connection broke or the stream was reset.
fn stream_gone_now(conn: &H2Conn, id: u32) -> bool {
    let core = conn.core.lock();
    core.broken || core.streams.get(&id).is_none_or(|s| s.reset.is_some())
}

/// One wait of a handler's write on its stream's `cv` (with `core`): until woken, until
/// `wait_until`, or for [`RECHECK`](super::RECHECK) when there is none. True if `wait_until`
/// has passed (the write has timed out).
fn wait_step(
    cv: &parking_lot::Condvar,
    core: &mut parking_lot::MutexGuard<'_, super::Core>,
    wait_until: Option<Instant>,
) -> bool {
    let timed_out = match wait_until {
        Some(d) => cv.wait_until(core, d).timed_out(),
        None => {
            cv.wait_for(core, super::RECHECK);
            false
        }
    };
    timed_out && wait_until.is_some_and(|d| Instant::now() >= d)
}
