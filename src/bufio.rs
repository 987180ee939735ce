//! Buffered reading of heads and bodies from a blocking stream, shared by client and server.
//!
//! [`ReadBuf`] holds bytes read but not consumed; [`read_head`] runs the sans-IO
//! [`HeadScanner`] over it, reading more until a head is whole (the one head-reading loop of the
//! crate: server, pooled client connection, `ClientConn` and `CONNECT` tunnel); [`read_body`]
//! feeds the buffer through a sans-IO [`BodyDecoder`] and reads more from the stream under a
//! deadline, straight into the caller's buffer when a large read needs no framing in between.

// Shared by both roles; a build with one of them uses a part.
#![cfg_attr(not(all(feature = "client", feature = "server")), allow(dead_code))]

use std::io;
use std::time::Instant;

use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, Result, TimeoutPhase};
use crate::net::Stream;
use crate::proto::body::BodyDecoder;
use crate::proto::head::{HeadScanner, Scan};

/// The initial size of a read buffer, and the read size above which body reads bypass it.
pub(crate) const READ_BUF: usize = 8 << 10;

/// How long a connection that has carried `exchanges` messages waits for its next one with its
/// buffers before it counts as idle and gives them back (both roles): short enough that an
/// idle connection soon costs only its threads' stacks, long enough that a busy one does not
/// free and reallocate them between messages.
///
/// "Busy" is per connection: 512 connections sharing 50,000 requests/s each see a request
/// every 10 ms. A grace that expires between a busy connection's requests costs each of them
/// a timer wake-up of its thread, two `setsockopt` calls, a second read and its buffers freed
/// and allocated again: at 10 ms it cost `wrk -c512` half a context switch per request
/// (docs/PERFORMANCE.md, "Session 10"). So a connection that has come back for a second
/// message (a pool, a browser, a load generator) keeps its buffers for 250 ms of quiet.
///
/// A connection after its first message keeps them for 10 ms only. Every connection that
/// holds buffers at once adds to the heap's peak, which glibc keeps resident after they are
/// freed: 10,000 clients that each send one request and stay open (`benches/idle.sh`) cost
/// 18.0 KB each with 250 ms here, 15.6 KB with 10 ms.
pub(crate) fn idle_grace(exchanges: u64) -> std::time::Duration {
    if exchanges <= 1 {
        std::time::Duration::from_millis(10)
    } else {
        std::time::Duration::from_millis(250)
    }
}

/// A growable read buffer: `buf[start..end]` holds bytes read but not yet consumed.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The size to allocate again after [`release`](Self::release).
    size: usize,
}

impl ReadBuf {
    pub(crate) fn new() -> ReadBuf {
        ReadBuf::with_size(READ_BUF)
    }

    /// A buffer of `size` bytes (at least 1 KiB): the most one socket read takes in, and the
    /// read size above which body reads bypass the buffer.
    pub(crate) fn with_size(size: usize) -> ReadBuf {
        let size = size.max(1024);
        ReadBuf {
            buf: vec![0; size],
            start: 0,
            end: 0,
            size,
        }
    }

    /// A buffer of `size` bytes that allocates nothing until its first
    /// [`fill`](Self::fill): as if just [`release`](Self::release)d.
    pub(crate) fn released(size: usize) -> ReadBuf {
        ReadBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            size: size.max(1024),
        }
    }

    /// Gives the buffer's memory back while it holds nothing, keeping its size for the next
    /// [`fill`](Self::fill), which reads into the stack first and allocates only once bytes
    /// arrive. For a server connection waiting for its next request: the thread's stack
    /// pages are resident anyway, a heap buffer would be one more cost per idle connection.
    pub(crate) fn release(&mut self) {
        if self.is_empty() && !self.buf.is_empty() {
            self.size = self.buf.len();
            self.buf = Vec::new();
        }
    }

    /// Shrinks a grown buffer back to `size` if what it holds fits.
    pub(crate) fn shrink(&mut self, size: usize) {
        let len = self.end - self.start;
        if self.buf.len() > size * 4 && len <= size {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = len;
            self.buf.truncate(size);
            self.buf.shrink_to_fit();
        }
    }

    /// The buffer's current size.
    pub(crate) fn size(&self) -> usize {
        if self.buf.is_empty() {
            self.size
        } else {
            self.buf.len()
        }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Takes every buffered byte out (for a hijack or an upgrade).
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        let v = self.data().to_vec();
        self.start = 0;
        self.end = 0;
        v
    }

    /// Reads more bytes; the buffer grows up to `max` bytes of unconsumed data.
    pub(crate) fn fill<S: Stream + ?Sized>(
        &mut self,
        stream: &S,
        slot: &mut TimeoutSlot,
        deadline: Option<Instant>,
        max: usize,
    ) -> io::Result<usize> {
        if self.buf.is_empty() {
            return self.fill_released(stream, slot, deadline);
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < max {
                let new_len = (self.buf.len() * 2).min(max).max(self.buf.len());
                self.buf.resize(new_len, 0);
            } else {
                return Err(io::Error::other("read buffer full"));
            }
        }
        let n = deadline::read(stream, slot, deadline, &mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

impl ReadBuf {
    /// [`fill`](Self::fill) after [`release`](Self::release): waits and reads into the stack,
    /// then allocates the buffer for what came. Out of line, so only this wait pays for the
    /// stack array.
    #[inline(never)]
    #[cold]
    fn fill_released<S: Stream + ?Sized>(
        &mut self,
        stream: &S,
        slot: &mut TimeoutSlot,
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        let mut first = [0u8; RELEASED_READ];
        let n = deadline::read(stream, slot, deadline, &mut first)?;
        if n > 0 {
            self.buf = vec![0; self.size.max(n)];
            self.buf[..n].copy_from_slice(&first[..n]);
            self.start = 0;
            self.end = n;
        }
        Ok(n)
    }
}

/// What the first read after a [`ReadBuf::release`] takes in, on the stack.
const RELEASED_READ: usize = 1 << 10;

/// When the reads of a head must end, for [`read_head`].
pub(crate) trait HeadTiming {
    /// The first byte of the head has arrived (called once, before the head is parsed).
    fn first_byte(&mut self) {}

    /// The deadline of the next read, and the phase a timeout is reported in; `started` says
    /// whether a byte of the head has arrived.
    fn next_read(&self, started: bool) -> (Option<Instant>, TimeoutPhase);

    /// The error for a failed read in `phase`.
    fn read_error(&self, e: io::Error, phase: TimeoutPhase) -> Error {
        Error::from_io(e, phase)
    }
}

/// One deadline for the whole head, timeouts reported in one phase.
pub(crate) struct Until(pub(crate) Option<Instant>, pub(crate) TimeoutPhase);

impl HeadTiming for Until {
    fn next_read(&self, _started: bool) -> (Option<Instant>, TimeoutPhase) {
        (self.0, self.1)
    }
}

/// Reads one message head: scans what `buf` holds and reads more from `stream` until `scanner`
/// finds a whole head, which it consumes from `buf`. The buffer grows up to the head limit.
/// `Ok(None)`: the peer closed the connection before a byte of the head arrived (empty lines
/// before a request line do not count).
///
/// # Errors
///
/// The scanner's parse and size errors; [`ClosedDuring::Head`] if the peer closes partway
/// through the head; read errors and timeouts as `timing` maps them.
pub(crate) fn read_head<T, S: Stream + ?Sized>(
    buf: &mut ReadBuf,
    stream: &S,
    slot: &mut TimeoutSlot,
    scanner: &mut HeadScanner<T>,
    timing: &mut dyn HeadTiming,
) -> Result<Option<T>> {
    let mut out = None;
    read_head_into(buf, stream, slot, scanner, timing, &mut out)?;
    Ok(out)
}

/// [`read_head`], the head written into `out` (true) rather than returned, so that it is not
/// copied on its way to the caller (a server's connection loop, which keeps one slot for
/// every request's head). False: the peer closed before a byte of the head arrived.
pub(crate) fn read_head_into<T, S: Stream + ?Sized>(
    buf: &mut ReadBuf,
    stream: &S,
    slot: &mut TimeoutSlot,
    scanner: &mut HeadScanner<T>,
    timing: &mut dyn HeadTiming,
    out: &mut Option<T>,
) -> Result<bool> {
    let cap = scanner.limits().max_head_bytes.saturating_add(READ_BUF);
    let mut started = false;
    loop {
        let scanned = scanner.scan_into(buf.data(), out);
        if let Ok(Scan::Skip(n)) = scanned {
            buf.consume(n);
            continue;
        }
        // Before the head is parsed: an invalid head has started too (it is answered as a bad
        // request, not taken for a quiet peer).
        if !started && !buf.is_empty() {
            started = true;
            timing.first_byte();
        }
        match scanned? {
            Scan::Complete { len, .. } => {
                buf.consume(len);
                return Ok(true);
            }
            Scan::Skip(_) | Scan::Partial => {}
        }
        let (deadline, phase) = timing.next_read(started);
        match buf.fill(stream, slot, deadline, cap) {
            Ok(0) if !started => return Ok(false),
            Ok(0) => return Err(Error::closed(ClosedDuring::Head)),
            Ok(_) => {}
            Err(e) => return Err(timing.read_error(e, phase)),
        }
    }
}

/// Reads body bytes into `out`: from `buf` first, then from `stream` under `deadline`. Returns
/// `Ok(0)` at the end of the body. A peer that closes before the framing is satisfied is an
/// error, and so is any framing error.
pub(crate) fn read_body<S: Stream + ?Sized>(
    buf: &mut ReadBuf,
    decoder: &mut BodyDecoder,
    stream: &S,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    out: &mut [u8],
) -> Result<usize> {
    if out.is_empty() {
        return Ok(0);
    }
    loop {
        if decoder.is_done() {
            return Ok(0);
        }
        if !buf.is_empty() {
            let step = decoder.decode(buf.data(), out.len())?;
            let n = step.data.len();
            out[..n].copy_from_slice(&buf.data()[step.data]);
            buf.consume(step.consumed);
            if n > 0 {
                return Ok(n);
            }
            continue;
        }
        let direct = decoder.direct_limit();
        // A large read with nothing buffered goes straight into the caller's buffer.
        if direct > 0 && out.len() >= buf.size() {
            let lim = direct.min(out.len() as u64) as usize;
            let n = deadline::read(stream, slot, deadline, &mut out[..lim])
                .map_err(|e| Error::from_io(e, TimeoutPhase::ReadBody))?;
            if n == 0 {
                decoder.on_eof()?;
                return Ok(0);
            }
            decoder.consume_direct(n as u64);
            return Ok(n);
        }
        let n = buf
            .fill(stream, slot, deadline, buf.size())
            .map_err(|e| Error::from_io(e, TimeoutPhase::ReadBody))?;
        if n == 0 {
            decoder.on_eof()?;
            return Ok(0);
        }
    }
}
