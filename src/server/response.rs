//! `ResponseWriter`: how a handler answers; the connection's writer that implements it; Hijack.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{CONTENT_LENGTH, DATE, TRAILER, TRANSFER_ENCODING};
use http::HeaderName;
use http::{HeaderMap, StatusCode, Version};

use super::conn::{has_connection_token, write_simple_response, ConnShared, WriteHalf};
use super::{ConnState, ServerInner};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::proto::{chunked, framing, write};

/// How many body bytes a response buffers before it must send its head. A handler whose whole
/// output fits gets a `Content-Length`; a larger one is sent chunked (Go buffers 2 KiB for this
/// decision; we use 4 KiB, one page).
pub(crate) const BUFFER_SIZE: usize = 4096;

/// How a handler writes its response, as Go's `http.ResponseWriter`.
///
/// It is a trait so middleware and test recorders can wrap or replace it. The order of use is
/// Go's: set headers with [`headers_mut`](Self::headers_mut), optionally choose the status
/// with [`write_header`](Self::write_header), then write the body with [`std::io::Write`]. The
/// first body write without a status sends `200 OK`. Once the head is sent, header changes no
/// longer reach the client.
///
/// [`flush`](std::io::Write::flush) sends the head and any buffered body bytes now (Go's
/// `http.Flusher`).
pub trait ResponseWriter: Write {
    /// The response headers to be sent.
    fn headers(&self) -> &HeaderMap;

    /// The response headers, to change before the head is sent.
    fn headers_mut(&mut self) -> &mut HeaderMap;

    /// Sets the status code. A 1xx other than `101` is sent at once as an informational
    /// response, and the handler goes on to send the final one. A second final status is
    /// ignored (and logged), as in Go.
    fn write_header(&mut self, status: StatusCode);

    /// The final status sent or chosen so far, if any.
    fn status(&self) -> Option<StatusCode>;

    /// Takes over the connection, as Go's `http.Hijacker`: the head, if a status was chosen,
    /// and any buffered body bytes are sent first; then the caller owns the socket and the
    /// bytes the server had read past the request head. The server does nothing more with the
    /// connection: later writes through this writer fail with [`ErrorKind::Hijacked`], and
    /// shutdown does not wait for it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Hijacked`] if already hijacked; [`ErrorKind::InvalidInput`] for a writer
    /// that has no connection to give (the default).
    fn hijack(&mut self) -> Result<Hijacked> {
        Err(Error::invalid_input(
            "this response writer does not support hijacking",
        ))
    }

    /// Sets the deadline for writing the rest of the response, as Go's
    /// `ResponseController.SetWriteDeadline`: a long-poll or streaming handler moves its own
    /// time limit (`Config::write_timeout`) this way. `None` removes it; the stall timeout
    /// (`Config::inactivity_timeout`) still bounds each write. A write after the deadline fails
    /// with a timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a writer without a connection (the default; Go's
    /// `ErrNotSupported`). Middleware that wraps a writer passes the call on.
    fn set_write_deadline(&mut self, deadline: Option<std::time::Instant>) -> Result<()> {
        let _ = deadline;
        Err(Error::invalid_input(
            "this response writer does not support deadlines",
        ))
    }

    /// Trailer fields to send after the body without announcing them in a `Trailer` header —
    /// Go's `TrailerPrefix` convention (`w.Header().Set("Trailer:X-Sum", ..)`), which the
    /// `http` crate's header names cannot spell. They go out only if the response is chunked
    /// (an HTTP/1.1 response whose length was not known when its head went out); announced
    /// trailers (a `Trailer: X-Sum` header set before the body, then `X-Sum` set in
    /// [`headers_mut`](Self::headers_mut) after it) make the response chunked. Fields that
    /// frame, route or authenticate a message (`Content-Length`, `Host`, `Authorization`...)
    /// are never sent as trailers (RFC 9110 §6.5.1). `None` for a writer that cannot send
    /// trailers (the default).
    fn trailers_mut(&mut self) -> Option<&mut HeaderMap> {
        None
    }

    /// True if the client is known to have gone away: it closed or reset the connection.
    /// Go tells a handler through `r.Context().Done()`; a handler here asks, for instance once
    /// per iteration of a long poll or a stream. The default, for writers without a
    /// connection, is `false`.
    ///
    /// The server's writer looks at the socket without reading from it (a non-blocking peek:
    /// three system calls, no allocation), so the request's own body and any pipelined
    /// request stay where they are. Limits of the check: a client that only half-closes (shuts
    /// down its sending side and still waits for the answer) reads as gone, as in Go; over TLS
    /// a client's clean TLS close arrives as data and is not seen, only the TCP close after
    /// it; a client that vanished without a FIN or reset (a cable pulled) is seen only once a
    /// write fails.
    fn client_gone(&self) -> bool {
        false
    }

    /// Sets the deadline for reading the rest of the request body, as Go's
    /// `ResponseController.SetReadDeadline`: an upload handler moves its own time limit
    /// (`Config::read_timeout`) this way. `None` removes it; the stall timeout still bounds
    /// each read.
    ///
    /// # Errors
    ///
    /// As [`set_write_deadline`](Self::set_write_deadline).
    fn set_read_deadline(&mut self, deadline: Option<std::time::Instant>) -> Result<()> {
        let _ = deadline;
        Err(Error::invalid_input(
            "this response writer does not support deadlines",
        ))
    }
}

/// The [`ResponseWriter`] methods a writer that wraps another passes on unchanged: the
/// deadlines, `client_gone` and `trailers_mut`. For the wrappers in `handlers` and `sniff`;
/// `$inner` is the field holding the wrapped writer.
macro_rules! forward_connection_methods {
    ($inner:ident) => {
        fn set_write_deadline(
            &mut self,
            deadline: Option<std::time::Instant>,
        ) -> $crate::error::Result<()> {
            self.$inner.set_write_deadline(deadline)
        }

        fn set_read_deadline(
            &mut self,
            deadline: Option<std::time::Instant>,
        ) -> $crate::error::Result<()> {
            self.$inner.set_read_deadline(deadline)
        }

        fn client_gone(&self) -> bool {
            self.$inner.client_gone()
        }

        fn trailers_mut(&mut self) -> Option<&mut http::HeaderMap> {
            self.$inner.trailers_mut()
        }
    };
}
pub(crate) use forward_connection_methods;

/// A connection taken over from the server by [`ResponseWriter::hijack`]: a
/// [`Conn`](crate::net::Conn) whose reads yield first the bytes the server had already read
/// from the client past the request head, then bytes from the connection (TLS-decrypted on a
/// TLS server); writes go straight to the connection. No read or write timeout is set.
pub type Hijacked = crate::net::Conn;

/// What the writer needs to know about the request it answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReqInfo {
    pub(crate) req_id: u64,
    pub(crate) head: bool,
    pub(crate) version: Version,
    pub(crate) client_close: bool,
    pub(crate) expect_continue: bool,
    pub(crate) write_deadline: Option<Instant>,
}

/// How body bytes go out once the head is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The head is not sent yet; body bytes collect in the buffer.
    Buffering,
    /// `Content-Length` framing with this many bytes still allowed.
    Length(u64),
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 without a known length).
    UntilClose,
    /// HEAD: bytes are counted and dropped.
    Discard,
    /// 1xx, 204, 304: no body may be written.
    NoBody,
}

/// The `ResponseWriter` of a server connection.
pub(crate) struct ConnWriter<'a> {
    shared: &'a Arc<ConnShared>,
    wh: &'a mut WriteHalf,
    srv: &'a ServerInner,
    req: ReqInfo,
    headers: HeaderMap,
    status: Option<StatusCode>,
    mode: Mode,
    /// Body bytes accepted from the handler.
    written: u64,
    close_after: bool,
    /// A write failed: the connection is unusable; later writes report it again.
    failed: Option<ErrorKind>,
    hijacked: bool,
    /// Trailer fields set through `trailers_mut` (Go's `TrailerPrefix` ones), sent after the
    /// last chunk with the values of the names the `Trailer` header announced.
    trailers: HeaderMap,
}

impl<'a> ConnWriter<'a> {
    pub(crate) fn new(
        shared: &'a Arc<ConnShared>,
        wh: &'a mut WriteHalf,
        srv: &'a ServerInner,
        req: ReqInfo,
    ) -> ConnWriter<'a> {
        wh.buf.clear();
        ConnWriter {
            shared,
            wh,
            srv,
            req,
            headers: HeaderMap::new(),
            status: None,
            mode: Mode::Buffering,
            written: 0,
            close_after: false,
            failed: None,
            hijacked: false,
            trailers: HeaderMap::new(),
        }
    }

    pub(crate) fn is_hijacked(&self) -> bool {
        self.hijacked
    }

    pub(crate) fn close_after(&self) -> bool {
        self.close_after || self.failed.is_some()
    }

    fn committed(&self) -> bool {
        self.mode != Mode::Buffering
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked).into_io());
        }
        if let Some(kind) = self.failed {
            return Err(Error::new(kind).into_io());
        }
        Ok(())
    }

    /// Writes `parts` to the socket under the write deadline.
    fn send(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        // The stall timeout bounds each piece, not the whole write: a slow reader that keeps
        // taking bytes is not cut off; write_timeout bounds the whole response.
        let r = deadline::write_all_stalled(
            &*self.shared.stream,
            &mut self.wh.slot,
            self.req.write_deadline,
            self.srv.config.inactivity_timeout,
            parts,
        );
        if let Err(e) = r {
            let err = Error::from_io(e, TimeoutPhase::WriteResponse);
            log::debug!("writing response to {}: {err}", self.shared.remote_addr);
            self.failed = Some(err.kind());
            self.close_after = true;
            return Err(err.into_io());
        }
        Ok(())
    }

    /// Decides framing and keep-alive, and sends the head with whatever body is buffered.
    /// `last` is true when the handler has returned, so the buffer is the whole body.
    fn commit(&mut self, last: bool) -> io::Result<()> {
        let status = *self.status.get_or_insert(StatusCode::OK);
        // Go's server names the type of a body whose handler did not (from its first bytes).
        crate::sniff::fill_content_type(&mut self.headers, status, &self.wh.buf, &[]);
        let h = &mut self.headers;
        // We frame the body ourselves.
        h.remove(TRANSFER_ENCODING);
        let declared = if h.contains_key(CONTENT_LENGTH) {
            match framing::content_length(h) {
                Ok(n) => Some(n),
                Err(_) => {
                    log::warn!("handler set an invalid content-length; ignoring it");
                    h.remove(CONTENT_LENGTH);
                    None
                }
            }
        } else {
            None
        };
        let mut content_length = None;
        // Announced trailers need chunked framing (Go's rule), even for a body whose length
        // is known by now.
        let announced = h.contains_key(TRAILER);
        let body_allowed = !(status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED);
        let mode = if status == StatusCode::SWITCHING_PROTOCOLS {
            // The connection now speaks another protocol: the handler must hijack it.
            self.close_after = true;
            Mode::NoBody
        } else if !body_allowed {
            if status != StatusCode::NOT_MODIFIED {
                // RFC 9110 §8.6: no Content-Length in a 1xx or 204.
                h.remove(CONTENT_LENGTH);
            }
            Mode::NoBody
        } else if self.req.head {
            if declared.is_none() && last {
                content_length = Some(self.written);
            }
            Mode::Discard
        } else if let Some(n) = declared {
            Mode::Length(n)
        } else if last && !(announced && self.req.version == Version::HTTP_11) {
            content_length = Some(self.wh.buf.len() as u64);
            Mode::Length(self.wh.buf.len() as u64)
        } else if self.req.version == Version::HTTP_11 {
            Mode::Chunked
        } else {
            self.close_after = true;
            Mode::UntilClose
        };

        if let (true, Mode::Length(n)) = (last, mode) {
            if n > self.wh.buf.len() as u64 {
                // The handler returned having written less than it declared: the body will be
                // short, and the connection cannot carry another response after it.
                log::debug!(
                    "handler wrote {} body bytes under a content-length of {n}",
                    self.wh.buf.len()
                );
                self.close_after = true;
            }
        }
        if self.req.expect_continue {
            // 100 Continue was written outside this writer: its timeout setting is unknown now.
            self.wh.slot.reset();
        }
        if self.req.expect_continue && self.shared.refuse_continue(self.req.req_id) {
            // The client still waits for 100 Continue, so its body will not follow; the
            // connection cannot carry another request (RFC 9110 §10.1.1).
            self.close_after = true;
        }
        if self.req.client_close
            || self.srv.is_shutting_down()
            || has_connection_token(h, "close")
            || self.shared.is_body_over_limit(self.req.req_id)
        {
            self.close_after = true;
        }

        let head = &mut self.wh.head;
        head.clear();
        write::status_line(head, Version::HTTP_11, status);
        if announced {
            // A name announced as a trailer goes in the trailer section only, as in Go.
            let names = announced_trailers(h);
            for (name, value) in h.iter() {
                if !names.contains(name) {
                    write::header(head, name.as_str(), value.as_bytes());
                }
            }
        } else {
            write::write_fields(h, head);
        }
        if !h.contains_key(DATE) {
            write::header(head, "Date", self.wh.date.get(SystemTime::now()));
        }
        if let Some(n) = content_length {
            write::header_u64(head, "Content-Length", n);
        }
        if mode == Mode::Chunked {
            write::header(head, "Transfer-Encoding", b"chunked");
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // The connection goes on in the new protocol (RFC 9110 §7.8): the handler's
            // `Connection: upgrade` is the whole story. The server still closes it if the
            // handler does not hijack, but a 101 saying `close` would contradict itself.
        } else if self.close_after {
            if !has_connection_token(h, "close") {
                write::header(head, "Connection", b"close");
            }
        } else if self.req.version == Version::HTTP_10 {
            write::header(head, "Connection", b"keep-alive");
        }
        write::end(head);
        self.mode = mode;

        // The head and the buffered body go out in one write.
        let body = std::mem::take(&mut self.wh.buf);
        let r = self.send_body_with_head(&body);
        self.wh.buf = body;
        self.wh.buf.clear();
        r
    }

    fn send_body_with_head(&mut self, body: &[u8]) -> io::Result<()> {
        let head = std::mem::take(&mut self.wh.head);
        let r = match self.mode {
            Mode::Discard | Mode::NoBody => self.send(&[&head]),
            Mode::Length(n) if body.len() as u64 > n => {
                // The handler buffered more than it declared. The head still goes out with the
                // declared length and as many bytes, so the response exists and is framed as
                // announced (dropping it would leave the client reading the next response as
                // this one's); the excess is refused, as a direct write would be.
                log::warn!(
                    "handler wrote {} body bytes under a content-length of {n}; sending {n}",
                    body.len()
                );
                self.mode = Mode::Length(0);
                self.send(&[&head, &body[..n as usize]])
                    .and(Err(Error::new(ErrorKind::ContentLengthMismatch).into_io()))
            }
            Mode::Length(n) => {
                self.mode = Mode::Length(n - body.len() as u64);
                self.send(&[&head, body])
            }
            Mode::Chunked if !body.is_empty() => {
                let mut line = Vec::with_capacity(18);
                chunked::encode_chunk_header(body.len(), &mut line);
                self.send(&[&head, &line, body, b"\r\n"])
            }
            _ => self.send(&[&head, body]),
        };
        self.wh.head = head;
        r
    }

    /// Sends buffered body bytes plus `extra` in the committed framing.
    fn send_body(&mut self, extra: &[u8]) -> io::Result<()> {
        let body = std::mem::take(&mut self.wh.buf);
        let total = body.len() + extra.len();
        let r = if total == 0 {
            Ok(())
        } else {
            match self.mode {
                Mode::Chunked => {
                    let mut line = Vec::with_capacity(18);
                    chunked::encode_chunk_header(total, &mut line);
                    self.send(&[&line, &body, extra, b"\r\n"])
                }
                _ => self.send(&[&body, extra]),
            }
        };
        self.wh.buf = body;
        self.wh.buf.clear();
        r
    }

    /// The trailer section: the current values of the names the `Trailer` header announced,
    /// then the fields set through `trailers_mut`; `None` if there are none.
    fn trailer_fields(&self) -> Option<HeaderMap> {
        let mut out = HeaderMap::new();
        for name in announced_trailers(&self.headers) {
            for v in self.headers.get_all(&name) {
                out.append(name.clone(), v.clone());
            }
        }
        for (name, v) in &self.trailers {
            if !forbidden_trailer(name) {
                out.append(name.clone(), v.clone());
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Finishes the response after the handler returned.
    pub(crate) fn finish(&mut self) {
        if self.hijacked || self.failed.is_some() {
            return;
        }
        if !self.committed() {
            // Drain an unread body before deciding keep-alive, so the head tells the truth.
            // A client still waiting for 100 Continue has sent no body: nothing to drain.
            let waiting = self.req.expect_continue && self.shared.continue_waiting(self.req.req_id);
            // No drain when the connection closes anyway, or when more than the drain limit is
            // known to be left (Go's rule): the client would wait on our reading for nothing.
            let closing = self.req.client_close
                || self.srv.is_shutting_down()
                || has_connection_token(&self.headers, "close")
                || self
                    .shared
                    .body_remaining(self.req.req_id)
                    .is_some_and(|n| n > super::conn::MAX_DRAIN);
            if !self.shared.body_done(self.req.req_id)
                && (closing || waiting || !self.shared.drain_body(self.req.req_id))
            {
                self.close_after = true;
            }
            let _ = self.commit(true);
            if self.mode == Mode::Chunked && self.failed.is_none() {
                // Chunked although complete: it has trailers to send.
                let mut tail = Vec::with_capacity(64);
                let trailers = self.trailer_fields();
                chunked::encode_last(trailers.as_ref(), &mut tail);
                let _ = self.send(&[&tail]);
            }
            return;
        }
        match self.mode {
            Mode::Chunked => {
                // The buffered tail goes out as a chunk, then the last chunk with any trailers,
                // in one write.
                let body = std::mem::take(&mut self.wh.buf);
                let mut tail = Vec::with_capacity(body.len() + 32);
                chunked::encode_chunk(&body, &mut tail);
                let trailers = self.trailer_fields();
                chunked::encode_last(trailers.as_ref(), &mut tail);
                self.wh.buf = body;
                self.wh.buf.clear();
                let _ = self.send(&[&tail]);
            }
            Mode::Length(rest) => {
                let _ = self.send_body(&[]);
                if rest > 0 {
                    // The handler declared more than it wrote: the client will see a
                    // truncated body, and the connection cannot be reused.
                    log::debug!("handler wrote {rest} bytes less than its content-length");
                    self.close_after = true;
                }
            }
            _ => {
                let _ = self.send_body(&[]);
            }
        }
    }

    /// After a handler panic: a 500 if nothing was sent yet; the connection closes either way.
    pub(crate) fn abort_after_panic(&mut self) {
        self.close_after = true;
        if self.hijacked || self.committed() || self.failed.is_some() {
            return;
        }
        let method = self.req.head.then_some(&http::Method::HEAD);
        write_simple_response(
            self.shared,
            self.wh,
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            method,
        );
    }
}

impl Write for ConnWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_usable()?;
        let status = *self.status.get_or_insert(StatusCode::OK);
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Err(Error::new(ErrorKind::BodyNotAllowed).into_io());
        }
        if data.is_empty() {
            return Ok(0);
        }
        match self.mode {
            Mode::Buffering => {
                if self.req.head {
                    // HEAD: count, never send; the head waits for the end so its
                    // Content-Length can be the full count. The type is sniffed from the
                    // first write, as a GET's would be.
                    if self.written == 0 {
                        crate::sniff::fill_content_type(&mut self.headers, status, &[], data);
                    }
                    self.written += data.len() as u64;
                    return Ok(data.len());
                }
                if self.wh.buf.len() + data.len() <= BUFFER_SIZE {
                    self.wh.buf.extend_from_slice(data);
                    self.written += data.len() as u64;
                    return Ok(data.len());
                }
                // A first write larger than the buffer: sniff from it before the head goes.
                crate::sniff::fill_content_type(&mut self.headers, status, &self.wh.buf, data);
                self.commit(false)?;
            }
            Mode::Discard => {
                self.written += data.len() as u64;
                return Ok(data.len());
            }
            Mode::NoBody => return Err(Error::new(ErrorKind::BodyNotAllowed).into_io()),
            _ => {}
        }
        if let Mode::Length(rest) = self.mode {
            if data.len() as u64 > rest {
                return Err(Error::new(ErrorKind::ContentLengthMismatch).into_io());
            }
            self.mode = Mode::Length(rest - data.len() as u64);
        }
        self.written += data.len() as u64;
        if self.wh.buf.len() + data.len() <= BUFFER_SIZE {
            self.wh.buf.extend_from_slice(data);
            return Ok(data.len());
        }
        self.send_body(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if !self.committed() {
            self.commit(false)?;
        }
        self.send_body(&[])
    }
}

impl ResponseWriter for ConnWriter<'_> {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn set_write_deadline(&mut self, deadline: Option<Instant>) -> Result<()> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked));
        }
        self.req.write_deadline = deadline;
        Ok(())
    }

    fn set_read_deadline(&mut self, deadline: Option<Instant>) -> Result<()> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked));
        }
        self.shared.set_read_deadline(self.req.req_id, deadline);
        Ok(())
    }

    fn client_gone(&self) -> bool {
        !self.hijacked && self.shared.peer_gone()
    }

    fn trailers_mut(&mut self) -> Option<&mut HeaderMap> {
        Some(&mut self.trailers)
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.hijacked {
            log::warn!("write_header on a hijacked connection");
            return;
        }
        if self.committed() || self.status.is_some() {
            log::warn!("superfluous write_header({status}) ignored");
            return;
        }
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            // RFC 9110 §15.2: never send a 1xx to an HTTP/1.0 client.
            if self.req.version == Version::HTTP_10 {
                return;
            }
            let mut head = std::mem::take(&mut self.wh.head);
            head.clear();
            write::status_line(&mut head, Version::HTTP_11, status);
            write::write_fields(&self.headers, &mut head);
            write::end(&mut head);
            let _ = self.send(&[&head]);
            self.wh.head = head;
            return;
        }
        self.status = Some(status);
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }

    fn hijack(&mut self) -> Result<Hijacked> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked));
        }
        if self.status.is_some() || !self.wh.buf.is_empty() {
            if !self.committed() {
                self.commit(false)
                    .map_err(|e| Error::from_io(e, TimeoutPhase::WriteResponse))?;
            }
            self.send_body(&[])
                .map_err(|e| Error::from_io(e, TimeoutPhase::WriteResponse))?;
        }
        let stream = Arc::clone(&self.shared.stream);
        // The caller gets a plain blocking connection.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(None);
        let buffered = self.shared.hijack_read_half();
        self.hijacked = true;
        self.shared.set_state(self.srv, ConnState::Hijacked);
        self.srv.untrack(self.shared.id);
        Ok(crate::net::Conn::new(stream, buffered))
    }
}

/// The names the `Trailer` header announces (comma-separated, RFC 9110 §6.6.2), less those
/// never allowed in a trailer.
fn announced_trailers(h: &HeaderMap) -> Vec<HeaderName> {
    let mut names = Vec::new();
    for v in h.get_all(TRAILER) {
        let Ok(text) = v.to_str() else { continue };
        for part in text.split(',') {
            if let Ok(name) = HeaderName::from_bytes(part.trim().as_bytes()) {
                if !forbidden_trailer(&name) && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Fields a trailer must not carry (RFC 9110 §6.5.1: framing, routing, request modifiers,
/// authentication, content handling), as Go's `badTrailer` list.
fn forbidden_trailer(name: &HeaderName) -> bool {
    use http::header::*;
    [
        AUTHORIZATION,
        CACHE_CONTROL,
        CONNECTION,
        CONTENT_ENCODING,
        CONTENT_LENGTH,
        CONTENT_RANGE,
        CONTENT_TYPE,
        EXPECT,
        HOST,
        MAX_FORWARDS,
        PRAGMA,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        RANGE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        WWW_AUTHENTICATE,
    ]
    .contains(name)
        || name == "keep-alive"
        || name == "proxy-connection"
}
