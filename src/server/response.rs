//! `ResponseWriter`: how a handler answers; the connection's writer that implements it; Hijack.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::header::{CONTENT_LENGTH, DATE, TRAILER, TRANSFER_ENCODING};
use http::HeaderName;
use http::{HeaderMap, StatusCode, Version};

use super::conn::{has_connection_token, write_simple_response, ConnShared, WriteHalf};
use super::{ConnState, ServerInner};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::proto::{self, chunked, framing, write};

/// How many body bytes a response buffers before it must send its head. A handler whose whole
/// output fits gets a `Content-Length`; a larger one is sent chunked (Go buffers 2 KiB for this
/// decision; we use 4 KiB, one page).
pub(crate) const BUFFER_SIZE: usize = 4096;

/// The buffer [`ResponseWriter::write_file`] copies through where the kernel cannot send the
/// file.
const FILE_COPY_BUF: usize = 64 << 10;

/// A file of at most this many bytes, written before the head is sent, is read into the body
/// buffer and leaves with the head in one write: at this size one copy costs less than a
/// second system call (`benches/files.sh`).
const SMALL_FILE: usize = 16 << 10;

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
    /// a client's clean close (close_notify, then its FIN) is seen by the FIN (on Linux,
    /// `poll(2)`'s `POLLRDHUP`; elsewhere the alert's bytes hide it); a client that vanished without a FIN or reset (a cable pulled) is seen only once a
    /// write fails.
    fn client_gone(&self) -> bool {
        false
    }

    /// A handle that answers [`client_gone`](Self::client_gone) from any thread: for a helper
    /// thread that watches while the handler blocks on something else, as Go's handlers
    /// watch `r.Context().Done()`. The reverse proxy cancels its upstream request with one
    /// when its client leaves. It speaks of the request being handled: use it while the
    /// handler runs. `None` (the default) for writers without a connection, after
    /// [`hijack`](Self::hijack), and for HTTP/1 connections elsewhere than Linux (whose check
    /// would have to switch the socket to non-blocking under the connection's thread).
    fn client_probe(&self) -> Option<ClientProbe> {
        None
    }

    /// Writes `len` bytes of `file`, from its current position (which moves on by as many),
    /// as the next bytes of the body: Go's `io.ReaderFrom` on a `ResponseWriter`, through
    /// which `io.Copy` sends a file with `sendfile`.
    ///
    /// The server's own writer sends the bytes from the kernel (`sendfile(2)`: from the page
    /// cache to the socket, never through this process's memory) when it can: on Linux, over
    /// plain TCP (not TLS), not for HEAD, and when the response is framed by its
    /// `Content-Length` (set it before the first byte, as the file server does) or by the end
    /// of the connection (an HTTP/1.0 client). If the head is not sent yet, the first 512 bytes
    /// go through the buffer first (so a missing `Content-Type` can be sniffed, and no head
    /// leaves before the file proves readable, as in Go), and a file of at most 16 KiB is read
    /// into the buffer whole and leaves with the head in one write, which costs less at that
    /// size. Everything else copies through a 64 KiB buffer with
    /// [`write_all`](std::io::Write::write_all), as this default does: TLS, a chunked response
    /// (an HTTP/1.1 handler that set no `Content-Length`), other platforms, files the kernel
    /// cannot send (some FUSE and proc files), and writers that do not pass the call on to the
    /// server's. The wrappers in this crate pass it on (`log_requests`, `MaxBytesHandler`,
    /// `sniff_content_type`, the last after its first 512 bytes); `timeout_handler`'s buffer
    /// and `httptest::ResponseRecorder` copy.
    ///
    /// Sent from the kernel, a byte that changes in the file after it was handed to the
    /// socket may still reach the client with its new value, as with Go's and nginx's
    /// `sendfile`: replace a served file by renaming a new one over it, not by rewriting it in
    /// place.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the file ends before `len` bytes: the body is then shorter than its
    /// `Content-Length`, and the server closes the connection after it, so the client sees
    /// the truncation. [`ErrorKind::ContentLengthMismatch`] if `len` is more than what is left
    /// of a declared `Content-Length` (nothing is sent), [`ErrorKind::BodyNotAllowed`] as for
    /// `write`; errors reading the file; the connection's write errors and timeouts.
    fn write_file(&mut self, file: &File, len: u64) -> io::Result<()> {
        copy_file(self, file, len)
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

/// [`ResponseWriter::write_file`] through a buffer: `len` bytes of `file` from its current
/// position, written with `write_all`. A file that ends first is an `UnexpectedEof`.
pub(crate) fn copy_file<W: Write + ?Sized>(w: &mut W, mut file: &File, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; usize::try_from(len).map_or(FILE_COPY_BUF, |n| n.min(FILE_COPY_BUF))];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).map_or(buf.len(), |n| n.min(buf.len()));
        match file.read(&mut buf[..want]) {
            Ok(0) => return Err(file_ended(left)),
            Ok(k) => {
                w.write_all(&buf[..k])?;
                left -= k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves `file`'s position on by `n` bytes without sending them (a HEAD response's file), as
/// sending them would: by a seek, or for a file that cannot seek (a pipe) by reading them.
fn skip_file(mut file: &File, n: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    if let Ok(by) = i64::try_from(n) {
        if file.seek(SeekFrom::Current(by)).is_ok() {
            return Ok(());
        }
    }
    let read = io::copy(&mut file.take(n), &mut io::sink())?;
    if read < n {
        return Err(file_ended(n - read));
    }
    Ok(())
}

/// The error of a file that ended `left` bytes before the length it was to be sent with.
fn file_ended(left: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file ended {left} bytes before the length it was sent with"),
    )
}

/// The [`ResponseWriter`] methods a writer that wraps another passes on unchanged: the
/// deadlines, `client_gone`, `client_probe` and `trailers_mut`. For the wrappers in `handlers` and `sniff`;
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

        fn client_probe(&self) -> Option<$crate::server::ClientProbe> {
            self.$inner.client_probe()
        }

        fn trailers_mut(&mut self) -> Option<&mut http::HeaderMap> {
            self.$inner.trailers_mut()
        }
    };
}
pub(crate) use forward_connection_methods;

/// Whether the client of a request has gone, askable from any thread:
/// [`ResponseWriter::client_probe`]. Cloning it is cheap.
#[derive(Clone)]
pub struct ClientProbe(Arc<dyn Fn() -> bool + Send + Sync>);

impl ClientProbe {
    pub(crate) fn new(gone: impl Fn() -> bool + Send + Sync + 'static) -> ClientProbe {
        ClientProbe(Arc::new(gone))
    }

    /// True if the client is known to have gone away, as
    /// [`ResponseWriter::client_gone`] (with its limits); never blocks.
    pub fn gone(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for ClientProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientProbe")
    }
}

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
        // The response's fields go in the connection's own map, emptied after the last
        // response (`recycle_headers`): no allocation, and no copy of the map, per response.
        debug_assert!(wh.headers.is_empty());
        ConnWriter {
            shared,
            wh,
            srv,
            req,
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
        crate::sniff::fill_content_type(&mut self.wh.headers, status, &self.wh.buf, &[]);
        let h = &mut self.wh.headers;
        // We frame the body ourselves.
        h.remove(TRANSFER_ENCODING);
        let declared = declared_length(h);
        let mut content_length = None;
        // Announced trailers need chunked framing (Go's rule), even for a body whose length
        // is known by now.
        let announced = proto::has_field(h, &TRAILER);
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
            // The count of what the handler wrote, if it wrote something (Go's rule): a HEAD
            // handler that writes nothing may have skipped the body, and `Content-Length: 0`
            // would say the GET's is empty (RFC 9110 §8.6 allows only the GET's length).
            if declared.is_none() && last && self.written > 0 {
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
            || self.srv.closes_conns()
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
        if !proto::has_field(h, &DATE) {
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

    /// The trailer section (see [`trailer_section`]); `None` if there are none.
    fn trailer_fields(&self) -> Option<HeaderMap> {
        let out = trailer_section(&self.wh.headers, &self.trailers);
        (!out.is_empty()).then_some(out)
    }

    /// Gives the response's header map back to the connection, emptied, for the next
    /// response.
    pub(crate) fn recycle_headers(self) {
        crate::proto::head::empty_in_place(&mut self.wh.headers);
    }

    /// Finishes the response after the handler returned.
    pub(crate) fn finish(&mut self) {
        if self.hijacked || self.failed.is_some() {
            return;
        }
        if !self.committed() {
            // Drain an unread body before deciding keep-alive, so the head tells the truth.
            if !self.shared.body_done(self.req.req_id) {
                // A client still waiting for 100 Continue has sent no body: nothing to drain.
                let waiting =
                    self.req.expect_continue && self.shared.continue_waiting(self.req.req_id);
                // No drain when the connection closes anyway, or when more than the drain
                // limit is known to be left (Go's rule): the client would wait on our reading
                // for nothing.
                let closing = self.req.client_close
                    || self.srv.closes_conns()
                    || has_connection_token(&self.wh.headers, "close")
                    || self
                        .shared
                        .body_remaining(self.req.req_id)
                        .is_some_and(|n| n > super::conn::MAX_DRAIN);
                if closing || waiting || !self.shared.drain_body(self.req.req_id) {
                    self.close_after = true;
                }
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

    /// The socket a file body can be sent to from the kernel: the connection's own TCP socket
    /// when HTTP runs on it directly (not TLS), on a platform with `sendfile`. Borrowed for
    /// the connection's life, not this writer's.
    fn zero_copy_socket(&self) -> Option<&'a TcpStream> {
        let shared: &'a Arc<ConnShared> = self.shared;
        (deadline::SEND_FILE && !shared.tls).then_some(&*shared.tcp)
    }

    /// Reads `len` bytes of `file` into the body buffer, before the head is sent: a small file
    /// then leaves with the head in one write.
    fn buffer_file(&mut self, mut file: &File, len: usize) -> io::Result<()> {
        let start = self.wh.buf.len();
        self.wh.buf.resize(start + len, 0);
        let mut got = 0;
        let r = loop {
            if got == len {
                break Ok(());
            }
            match file.read(&mut self.wh.buf[start + got..]) {
                Ok(0) => break Err(file_ended((len - got) as u64)),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.wh.buf.truncate(start + got);
        self.written += got as u64;
        r
    }

    /// Sends `len` bytes of `file` to `tcp` from the kernel, once the head and every buffered
    /// byte are out, keeping the framing's count.
    fn send_file(&mut self, tcp: &TcpStream, file: &File, len: u64) -> io::Result<()> {
        let (sent, r) = self.send_file_with(tcp, file, len);
        self.written += sent;
        if let Mode::Length(rest) = self.mode {
            self.mode = Mode::Length(rest - sent);
        }
        match r {
            Ok(()) if sent == len => Ok(()),
            // The body falls short of its Content-Length: `finish` closes the connection.
            Ok(()) => Err(file_ended(len - sent)),
            #[cfg(target_os = "linux")]
            Err(e) if sent == 0 && deadline::send_file_unsupported(&e) => {
                log::debug!("sendfile refused a file ({e}); copying it");
                copy_file(self, file, len)
            }
            Err(e) => {
                let err = Error::from_io(e, TimeoutPhase::WriteResponse);
                log::debug!("writing response to {}: {err}", self.shared.remote_addr);
                self.failed = Some(err.kind());
                self.close_after = true;
                Err(err.into_io())
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn send_file_with(&mut self, tcp: &TcpStream, file: &File, len: u64) -> (u64, io::Result<()>) {
        deadline::send_file(
            tcp,
            &mut self.wh.slot,
            self.req.write_deadline,
            self.srv.config.inactivity_timeout,
            file,
            len,
        )
    }

    /// Never called: `zero_copy_socket` has no socket to give here.
    #[cfg(not(target_os = "linux"))]
    fn send_file_with(&mut self, _: &TcpStream, _: &File, _: u64) -> (u64, io::Result<()>) {
        (0, Err(io::ErrorKind::Unsupported.into()))
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

impl ConnWriter<'_> {
    /// Before body bytes: the writer is usable, and the status (200 if none was set) allows
    /// a body (not 1xx, 204 or 304). Returns the status.
    fn check_body_allowed(&mut self) -> io::Result<StatusCode> {
        self.check_usable()?;
        let status = *self.status.get_or_insert(StatusCode::OK);
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Err(Error::new(ErrorKind::BodyNotAllowed).into_io());
        }
        Ok(status)
    }
}

impl Write for ConnWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let status = self.check_body_allowed()?;
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
                        crate::sniff::fill_content_type(&mut self.wh.headers, status, &[], data);
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
                crate::sniff::fill_content_type(&mut self.wh.headers, status, &self.wh.buf, data);
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
        &self.wh.headers
    }

    fn set_write_deadline(&mut self, deadline: Option<Instant>) -> Result<()> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked));
        }
        self.req.write_deadline = deadline;
        Ok(())
    }

    fn write_file(&mut self, file: &File, len: u64) -> io::Result<()> {
        self.check_body_allowed()?;
        if len == 0 {
            return Ok(());
        }
        if self.mode == Mode::Buffering {
            // Refused whole, before any of it is buffered (once the head is out, the mode
            // holds what is left of the length and the same check comes below).
            if let Some(n) = declared_length(&mut self.wh.headers) {
                if self.written.saturating_add(len) > n {
                    return Err(Error::new(ErrorKind::ContentLengthMismatch).into_io());
                }
            }
        }
        let Some(tcp) = self.zero_copy_socket() else {
            return copy_file(self, file, len);
        };
        let mut left = len;
        if self.mode == Mode::Buffering && !self.req.head {
            if let Some(n) = usize::try_from(len)
                .ok()
                .filter(|n| self.wh.buf.len() + n <= SMALL_FILE)
            {
                return self.buffer_file(file, n);
            }
        }
        if self.mode == Mode::Buffering {
            // As Go's ReadFrom: the first bytes go through the buffer, to sniff a type from
            // and so that no head leaves before the file proves readable (Go issue 5660).
            let first = left.min(crate::sniff::SNIFF_LEN as u64);
            copy_file(self, file, first)?;
            left -= first;
            if left == 0 {
                return Ok(());
            }
        }
        match self.mode {
            // HEAD: counted, never read; the position moves on as if the bytes were sent.
            Mode::Discard => {
                skip_file(file, left)?;
                self.written += left;
                return Ok(());
            }
            Mode::Buffering if self.req.head => {
                skip_file(file, left)?;
                self.written += left;
                return Ok(());
            }
            // The head and the first bytes in one write.
            Mode::Buffering => self.commit(false)?,
            _ => {}
        }
        match self.mode {
            Mode::Length(rest) if left > rest => {
                Err(Error::new(ErrorKind::ContentLengthMismatch).into_io())
            }
            Mode::Length(_) | Mode::UntilClose => {
                // Whatever the handler buffered goes first.
                self.send_body(&[])?;
                self.send_file(tcp, file, left)
            }
            // Chunked: each chunk needs its size line; the buffer frames them.
            _ => copy_file(self, file, left),
        }
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

    fn client_probe(&self) -> Option<ClientProbe> {
        // Elsewhere than Linux the peek switches the socket to non-blocking for its call,
        // which another thread must not do while the connection's own thread may read.
        if self.hijacked || !cfg!(target_os = "linux") {
            return None;
        }
        let shared = Arc::clone(self.shared);
        Some(ClientProbe::new(move || shared.peer_gone()))
    }

    fn trailers_mut(&mut self) -> Option<&mut HeaderMap> {
        Some(&mut self.trailers)
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.wh.headers
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
            write::write_fields(&self.wh.headers, &mut head);
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
        // The connection speaks the hijacker's protocol from now on: a later body read must
        // not write `100 Continue` into it (Go's `disableWriteContinue`).
        let _ = self.shared.refuse_continue(self.req.req_id);
        let buffered = self.shared.hijack_read_half();
        self.hijacked = true;
        self.shared.set_state(self.srv, ConnState::Hijacked);
        self.srv.untrack(self.shared.id);
        Ok(crate::net::Conn::new(stream, buffered))
    }
}

/// The `Content-Length` a handler set, for either protocol; an invalid one is removed (and
/// logged), as if the handler had set none.
pub(crate) fn declared_length(h: &mut HeaderMap) -> Option<u64> {
    if !proto::has_field(h, &CONTENT_LENGTH) {
        return None;
    }
    match framing::content_length(h) {
        Ok(n) => Some(n),
        Err(_) => {
            log::warn!("handler set an invalid content-length; ignoring it");
            h.remove(CONTENT_LENGTH);
            None
        }
    }
}

/// A response's trailer section, for either protocol: the current values of the names its
/// `Trailer` header announced, then the fields set through `trailers_mut` (those a trailer
/// may not carry left out).
pub(crate) fn trailer_section(headers: &HeaderMap, trailers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in announced_trailers(headers) {
        for v in headers.get_all(&name) {
            out.append(name.clone(), v.clone());
        }
    }
    for (name, v) in trailers {
        if !crate::proto::framing::forbidden_trailer(name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// The names the `Trailer` header announces (comma-separated, RFC 9110 §6.6.2), less those
/// never allowed in a trailer.
pub(crate) fn announced_trailers(h: &HeaderMap) -> Vec<HeaderName> {
    let mut names = Vec::new();
    for v in h.get_all(TRAILER) {
        let Ok(text) = v.to_str() else { continue };
        for part in text.split(',') {
            if let Ok(name) = HeaderName::from_bytes(part.trim().as_bytes()) {
                if !crate::proto::framing::forbidden_trailer(&name) && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// Which way file bodies leave: these tests read the bytes `deadline::send_file` moved on the
/// connection's thread (the handler's), so they see the zero-copy path taken or not, not only
/// that the bytes arrived.
#[cfg(all(test, feature = "client", feature = "fs", target_os = "linux"))]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::deadline::sent_file_bytes;
    use crate::server::{Handler, Request};
    use crate::{httptest, FileServer};

    const MIB: usize = 1 << 20;

    /// A directory under the system temp dir with `big.bin` (1 MiB) and `small.bin`
    /// (10 KiB); removed on drop.
    struct Files(PathBuf);

    impl Files {
        fn new(tag: &str) -> Files {
            let dir = std::env::temp_dir()
                .join(format!("nethttp-zero-copy-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("big.bin"), pattern(MIB)).unwrap();
            std::fs::write(dir.join("small.bin"), pattern(10 << 10)).unwrap();
            Files(dir)
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// `h`, recording how many bytes the last request sent with `sendfile`.
    fn observed(h: impl Handler) -> (impl Handler, Arc<AtomicU64>) {
        let last = Arc::new(AtomicU64::new(u64::MAX));
        let seen = Arc::clone(&last);
        let h = move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let before = sent_file_bytes();
            h.serve_http(w, r);
            seen.store(sent_file_bytes() - before, Ordering::SeqCst);
        };
        (h, last)
    }

    /// GETs `path` with extra `headers`; the status, the body and the bytes sent from the
    /// kernel for it.
    fn get(
        srv: &httptest::Server,
        last: &AtomicU64,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<u8>, u64) {
        let mut req = Request::new(http::Method::GET, &format!("{}{path}", srv.url())).unwrap();
        for (k, v) in headers {
            req.headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut resp = srv.client().send(req).unwrap();
        let body = resp.bytes().unwrap();
        (resp.status.as_u16(), body, last.load(Ordering::SeqCst))
    }

    #[test]
    fn file_server_sends_from_the_kernel_over_plain_tcp() {
        let files = Files::new("plain");
        let big = pattern(MIB);
        let (h, last) = observed(FileServer::new(&files.0));
        let srv = httptest::Server::new(h);

        // All but the first 512 bytes, which leave with the head (Go's ReadFrom).
        let (status, body, sent) = get(&srv, &last, "/big.bin", &[]);
        assert_eq!((status, body == big, sent), (200, true, (MIB - 512) as u64));

        let (status, body, sent) = get(&srv, &last, "/big.bin", &[("range", "bytes=100-700099")]);
        assert_eq!(status, 206);
        assert!(body == big[100..700_100]);
        assert_eq!(sent, 700_000 - 512);

        // Each part of a multi-range response; the 100-byte part is buffered.
        let (status, body, sent) = get(
            &srv,
            &last,
            "/big.bin",
            &[("range", "bytes=0-99,200000-899999")],
        );
        assert_eq!(status, 206);
        assert!(body.windows(700_000).any(|w| w == &big[200_000..900_000]));
        assert_eq!(sent, 700_000 - 512);

        // A small file leaves with the head in one write.
        let (status, body, sent) = get(&srv, &last, "/small.bin", &[]);
        assert_eq!((status, body == pattern(10 << 10), sent), (200, true, 0));
    }

    #[test]
    fn wrappers_pass_write_file_on() {
        struct AccessOn;
        impl log::Log for AccessOn {
            fn enabled(&self, m: &log::Metadata<'_>) -> bool {
                m.target() == "nethttp::access"
            }
            fn log(&self, _: &log::Record<'_>) {}
            fn flush(&self) {}
        }
        // log_requests wraps the writer only while its target is enabled.
        let _ = log::set_logger(&AccessOn);
        log::set_max_level(log::LevelFilter::Info);

        let files = Files::new("wrapped");
        let h = crate::handlers::log_requests(crate::sniff::sniff_content_type(
            crate::handlers::max_bytes_handler(FileServer::new(&files.0), 1 << 10),
        ));
        let (h, last) = observed(h);
        let srv = httptest::Server::new(h);
        let (status, body, sent) = get(&srv, &last, "/big.bin", &[]);
        assert_eq!((status, body == pattern(MIB)), (200, true));
        // sniff_content_type judges the first 512 bytes, the server's writer reads 512 more
        // before it sends the head.
        assert_eq!(sent, (MIB - 1024) as u64);
    }

    #[test]
    fn handler_write_file_needs_a_content_length() {
        let files = Files::new("handler");
        let path = files.0.join("big.bin");
        let (h, last) = observed(move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let file = File::open(&path).unwrap();
            if r.uri.path() == "/sized" {
                w.headers_mut().insert(CONTENT_LENGTH, MIB.into());
            }
            w.write_file(&file, MIB as u64).unwrap();
        });
        let srv = httptest::Server::new(h);

        let (status, body, sent) = get(&srv, &last, "/sized", &[]);
        assert_eq!((status, body == pattern(MIB)), (200, true));
        assert_eq!(sent, (MIB - 512) as u64);

        // No length: chunked, through the buffer.
        let (status, body, sent) = get(&srv, &last, "/chunked", &[]);
        assert_eq!((status, body == pattern(MIB), sent), (200, true, 0));
    }

    #[cfg(feature = "httptest-tls")]
    #[test]
    fn tls_copies_through_the_buffer() {
        let files = Files::new("tls");
        let (h, last) = observed(FileServer::new(&files.0));
        let srv = httptest::Server::new_tls(h);
        let (status, body, sent) = get(&srv, &last, "/big.bin", &[("range", "bytes=1-")]);
        assert_eq!((status, body == pattern(MIB)[1..], sent), (206, true, 0));
    }
}
