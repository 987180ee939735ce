//! HTTP/2 client connections (RFC 9113, feature `http2`): one connection shared by many
//! callers, a reader thread and a writer thread (Go's `http2ClientConn`); the pool of them
//! and the dial are in pool.rs, the request and response fields in message.rs.
//!
//! Threads and ownership, per connection:
//!
//! - The **reader thread** (`nethttp-h2-read`) owns the read direction of the socket: the
//!   read buffer, the [`FrameDecoder`] and the HPACK decoder live on its stack. It decodes
//!   each frame and acts on it under the connection lock ([`H2Conn::core`]): it hands each
//!   stream's response head, `DATA` and trailers to that stream's buffer (waking the
//!   stream's caller once per read, after that read's last frame: [`Wakes`]), applies `SETTINGS`
//!   and `WINDOW_UPDATE`, and queues the answers (`SETTINGS` and `PING` acknowledgements,
//!   connection `WINDOW_UPDATE`, `RST_STREAM`). It also closes the connection when it has
//!   been idle (no stream) for `idle_conn_timeout`, and runs the health check (a `PING`
//!   after `read_idle_timeout` without a frame, the connection closed if no frame comes
//!   within `ping_timeout`). It looks at the clock every [`RECHECK`] while the connection is
//!   in use; once it is quiet, only when one of those is due (at most every
//!   [`QUIET_TICK`]).
//! - The **writer thread** (`nethttp-h2-write`) owns the write direction: it takes encoded
//!   frames from an unbounded channel, in the order they were queued, and writes them, each
//!   batch under [`WRITE_STALL`]. No lock is held while it writes; it takes the lock after a
//!   batch only if the batch held request body bytes (to give their room in the write queue
//!   back). A failed write closes the connection.
//! - **Callers** (the threads in `Transport::round_trip` and those reading response bodies)
//!   open streams, encode header blocks (one HPACK encoder, under the lock, so blocks leave
//!   in the order they were compressed; a block's `HEADERS` and `CONTINUATION` frames go in
//!   one queued buffer, so nothing comes between them) and give back receive window as they
//!   read. They wait under the request's deadline: for their head and body on their
//!   stream's condition variable (the opening thread's own for that connection,
//!   [`STREAM_CV`]), for a stream slot or room to send a body on the connection's ([`H2Conn::changed`]). A response that came
//!   whole with its head leaves with it, its stream forgotten in the same hold of the lock.
//! - A **body thread** (`nethttp-h2-body`) per request with a body sends it as the peer's
//!   windows allow, while the caller waits for the response (full duplex); it ends with the
//!   body, its stream's failure or the request's deadline.
//!
//! A frame is queued only under the connection lock, so the channel's order is the order of
//! the state changes (no `DATA` after its stream's `RST_STREAM`). The lock is never held
//! across socket I/O or a blocking channel operation (the channel is unbounded: data queued
//! is bounded by [`WRITE_QUEUE_LIMIT`] and the peer's windows).
//!
//! Flow control: each stream's receive window is [`Http2ClientConfig::max_receive_buffer_per_stream`],
//! given back as the caller reads, so a slow reader holds back only its own stream and its
//! buffer never exceeds that window. The connection's window is given back as data
//! arrives (what is buffered is already bounded per stream).
//!
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is honoured as Go's `StrictMaxConcurrentStreams`
//! chooses ([`Http2ClientConfig::strict_max_concurrent_streams`]). By default a caller that
//! finds every connection of its key full opens another one (one dial at a time per key);
//! the pool reserves a stream on the connection it hands out ([`Core::reserved`]), so callers
//! racing for the last slot do not both take it. Under `max_conns_per_host`, or in strict
//! mode, a caller over the limit waits on a connection for one of its streams to end. Until
//! the server's first `SETTINGS` arrives the limit is taken as 100, as Go does.
//!
//! A connection takes no new stream once it has been told to go away, has used up its
//! stream ids, or (with `disable_keep_alives`) has carried its one request; it leaves the
//! pool then and closes as soon as its last stream ends. If the reader or writer thread
//! unwinds, a guard closes the connection on its way out, so its callers fail instead of
//! waiting for their deadlines.

mod message;
pub(crate) mod pool;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use http::{HeaderMap, Method, Version};
use parking_lot::{Condvar, Mutex};

use super::proxy::ConnKey;
use super::response::{Response, ResponseBody};
use super::trace::{CancelToken, Cancelable};
use super::transport::TransportInner;
use crate::error::{ClosedDuring, Error, ErrorKind, Http2Error, Result, TimeoutPhase};
use crate::net::Stream;
use crate::proto::h2::flow::{RecvWindow, SendWindow};
use crate::proto::h2::frame::{
    self, Data, Decoded, Frame, FrameDecoder, FrameLimits, GoAway, Ping, RstStream, Settings,
    WindowUpdate, PREFACE,
};
use crate::proto::h2::{settings, ErrorCode};
use crate::proto::head::ResponseHead;
use crate::proto::hpack;
use crate::Body;

/// The settings of the HTTP/2 client, for
/// [`TransportConfig::http2`](super::TransportConfig::http2) (Go's `http.HTTP2Config` and the
/// fields of `http2.Transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2ClientConfig {
    /// How many bytes of one response body the connection buffers before the caller reads
    /// them: the stream's flow-control window (`SETTINGS_INITIAL_WINDOW_SIZE`, Go's
    /// `MaxReceiveBufferPerStream`). A slow reader holds back only its own stream. Values
    /// are clamped to 16 KiB..=2^31-1. Default is 256 KiB.
    pub max_receive_buffer_per_stream: u32,
    /// How long the connection may go without receiving a frame before a `PING` checks
    /// that the server is still there (Go's `ReadIdleTimeout` / `SendPingTimeout`). `None`
    /// means no health check. Default is `None`, as Go's.
    pub read_idle_timeout: Option<Duration>,
    /// How long to wait for any frame after that `PING` before closing the connection
    /// (Go's `PingTimeout`). Default is 15 seconds, as Go's.
    pub ping_timeout: Duration,
    /// What a request does when every connection to its host already carries the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`: `false` opens another connection (Go's default);
    /// `true` waits for a stream of an existing one to end (Go's
    /// `StrictMaxConcurrentStreams`), so a host gets a single connection. With
    /// [`max_conns_per_host`](super::TransportConfig::max_conns_per_host) set, requests wait
    /// once that many connections are open either way. Default is `false`.
    pub strict_max_concurrent_streams: bool,
}

impl Default for Http2ClientConfig {
    fn default() -> Http2ClientConfig {
        Http2ClientConfig {
            max_receive_buffer_per_stream: 256 << 10,
            read_idle_timeout: None,
            ping_timeout: Duration::from_secs(15),
            strict_max_concurrent_streams: false,
        }
    }
}

/// The most bytes of request data queued for the writer before a caller waits for room.
const WRITE_QUEUE_LIMIT: usize = 512 << 10;

/// The connection's receive window, raised from 65,535 by a `WINDOW_UPDATE` at the start.
const CONN_WINDOW: u32 = 4 << 20;

/// How long one batch of writes may stall before the connection is given up.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// How often the reader thread looks at the clock when no frame arrives (idle timeout,
/// health check, a close it must notice) while the connection is in use.
const RECHECK: Duration = Duration::from_millis(500);

/// The longest a quiet reader (no stream for a whole [`RECHECK`], its buffers given back)
/// sleeps in its read: it wakes when the idle timeout or the health check is due, and
/// otherwise only this often (`H2Conn::quiet_tick`).
const QUIET_TICK: Duration = Duration::from_secs(30);

/// The payload of the `PING` that follows this end's stream resets (see
/// `Core::pending_resets`); the health check's is different.
const RESET_PING: [u8; 8] = *b"nethttpR";

/// The limit on concurrent streams until the server's first `SETTINGS` says otherwise.
const INITIAL_MAX_STREAMS: usize = 100;

/// One read's size.
const READ_CHUNK: usize = 16 << 10;

/// The first read of an idle connection, into a buffer on the reader's stack.
const IDLE_READ: usize = 1024;

thread_local! {
    /// The condition variable of the streams a thread opens on one connection (a clone of an
    /// `Arc`, not an allocation per request), with that connection. A thread waits on one
    /// stream at a time; two streams share it only when one thread opened both on the same
    /// connection (a response body read later, or on another thread), and then an event on
    /// one is a spurious wake-up for the other's waiter, which checks its own stream and
    /// waits again, as every wait here does. It is never shared across connections:
    /// parking_lot's `Condvar` panics when two threads wait on it under different mutexes
    /// (a body read on another thread while its opener waits on a second connection).
    static STREAM_CV: std::cell::RefCell<Option<(Weak<H2Conn>, Arc<Condvar>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The condition variable for a stream this thread opens on `conn` (see [`STREAM_CV`]): the
/// cached one if it was made for `conn`, else a new one, cached. The `Weak` keeps `conn`'s
/// allocation, so its address cannot be reused by another connection while cached.
fn stream_cv(conn: &Arc<H2Conn>) -> Arc<Condvar> {
    STREAM_CV.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((w, cv)) = &*c {
            if std::ptr::eq(w.as_ptr(), Arc::as_ptr(conn)) {
                return Arc::clone(cv);
            }
        }
        let cv = Arc::new(Condvar::new());
        *c = Some((Arc::downgrade(conn), Arc::clone(&cv)));
        cv
    })
}

/// One HTTP/2 connection, shared by its reader thread, writer thread and callers.
pub(crate) struct H2Conn {
    pub(crate) id: u64,
    pub(crate) key: ConnKey,
    /// The connection's state; see [`Core`]. Never held across socket I/O.
    core: Mutex<Core>,
    /// Notified whenever a stream gets data, a head, trailers or an end, a window grows, the
    /// write queue drains, a stream slot frees, or the connection breaks.
    changed: Condvar,
    /// Read by the reader thread, written by the writer thread; shut down by `close`.
    stream: Arc<dyn Stream>,
    transport: Weak<TransportInner>,
}

/// What the writer thread is told.
enum Out {
    Frames(Vec<u8>),
    /// Request body frames, counted in [`Core::queued_bytes`] until written.
    Data(Vec<u8>),
    /// Write what is queued, then stop.
    Close,
}

/// Why a stream failed; turned into an [`Error`] for each caller that asks.
#[derive(Debug, Clone)]
enum Failure {
    /// The server reset the stream with this code.
    Reset(ErrorCode),
    /// The server never processed it (`REFUSED_STREAM`, or above a `GOAWAY`'s last stream):
    /// safe to send again on another connection.
    Unprocessed(&'static str),
    /// This end reset it, for a stream error of the server's.
    Protocol(ErrorKind, String),
    /// The caller canceled it.
    Canceled,
    /// The connection ended.
    Conn(ErrorKind, String),
}

impl Failure {
    fn error(&self, stream_id: u32) -> Error {
        match self {
            Failure::Reset(code) => Error::h2_stream(
                stream_id,
                *code,
                format!("server reset stream {stream_id}: {code}"),
            ),
            Failure::Unprocessed(why) => Error::with_source(
                ErrorKind::Http2(Http2Error::Stream {
                    stream_id,
                    code: ErrorCode::RefusedStream,
                }),
                format!("request not processed by the server ({why})"),
            ),
            Failure::Protocol(kind, msg) | Failure::Conn(kind, msg) => {
                Error::with_source(*kind, msg.clone())
            }
            Failure::Canceled => Error::new(ErrorKind::Canceled),
        }
    }
}

/// The connection's state, all guarded by [`H2Conn::core`] together.
struct Core {
    /// To the writer thread; frames are queued only under this lock.
    out: Sender<Out>,
    /// The HPACK encoder for request header blocks.
    enc: hpack::Encoder,
    streams: HashMap<u32, StreamEntry, BuildHasherDefault<StreamIdHasher>>,
    /// The next stream this end opens (odd).
    next_stream_id: u32,
    /// Streams open or half-closed: what `SETTINGS_MAX_CONCURRENT_STREAMS` counts.
    active: usize,
    /// Streams the pool has promised to callers on their way to `round_trip` (Go's
    /// `streamsReserved`); each turns into an open stream or is given back.
    reserved: usize,
    /// Streams this end reset that the server may still count against its limit: until a
    /// `PING` sent after the reset is acknowledged (Go's `pendingResets`).
    pending_resets: usize,
    /// How many of `pending_resets` the outstanding reset `PING` covers, if one is out.
    reset_ping_covers: Option<usize>,
    /// This end opens no more streams: the connection was for one request
    /// (`disable_keep_alives`), or its stream ids are used up.
    closing: bool,
    conn_send: SendWindow,
    conn_recv: RecvWindow,
    /// The server's settings in effect.
    peer: settings::Values,
    /// The server's first `SETTINGS` arrived.
    seen_settings: bool,
    /// This end's settings, sent and acknowledged.
    local: settings::Local,
    /// The stream receive window this end advertised.
    stream_window: u32,
    /// Request body bytes queued for the writer ([`Out::Data`]) and not yet written: what
    /// [`WRITE_QUEUE_LIMIT`] bounds. Other frames are not counted, so a batch without body
    /// bytes costs the writer no lock.
    queued_bytes: usize,
    /// The server's `GOAWAY`: its last stream id.
    goaway: Option<u32>,
    /// The connection can carry nothing more, and why.
    broken: Option<Failure>,
    /// When the last stream ended (or the connection started), while no stream is open.
    idle_since: Option<Instant>,
}

/// Hashes the keys of [`Core::streams`]: stream ids this end chose (odd, in order), which a
/// multiply spreads well enough. SipHash's defence against chosen keys buys nothing here (a
/// server's frames can only look ids up, not add them) and cost a few lookups per request.
#[derive(Default)]
struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        // The table picks buckets by the low bits, which a product's high bits must reach
        // (an odd id times an odd multiplier is odd).
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u8(b);
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.write_u32(u32::from(b));
    }

    fn write_u32(&mut self, n: u32) {
        // The golden ratio's multiplier: the product's high bits vary with every bit of the id.
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One stream, in [`Core::streams`]; removed when its caller is done with it.
struct StreamEntry {
    /// The request's id, for cancels.
    req_id: u64,
    send: SendWindow,
    recv: RecvWindow,
    /// The response head, once received and until the caller takes it.
    head: Option<message::ResponseParts>,
    /// A final head was received.
    got_head: bool,
    /// A `100 Continue` was received (for `Expect: 100-continue`).
    got_continue: bool,
    /// The request's trace, kept only if it hooks informational responses (the reader
    /// thread calls it).
    info_trace: Option<super::ClientTrace>,
    /// Body bytes received: those from `body_off` on are not yet read. One buffer for the
    /// stream's life (bounded by its receive window), not one per `DATA` frame.
    body: Vec<u8>,
    body_off: usize,
    received: u64,
    content_length: Option<u64>,
    trailers: Option<HeaderMap>,
    /// `END_STREAM` received.
    end_recv: bool,
    /// `END_STREAM` (or a reset) sent.
    end_sent: bool,
    /// Still counted in `Core::active`.
    counted: bool,
    failed: Option<Failure>,
    /// What the stream's caller waits on for its head and body (its own, so an event on one
    /// stream wakes one caller, not all): the condition variable of the thread that opened
    /// the stream ([`STREAM_CV`]).
    cv: Arc<Condvar>,
}

impl Core {
    /// No stream open or counted: the connection is idle.
    fn is_idle(&self) -> bool {
        self.active == 0 && self.streams.is_empty()
    }

    /// Wakes the caller waiting for stream `id`'s head or body.
    fn wake(&self, id: u32) {
        if let Some(s) = self.streams.get(&id) {
            s.cv.notify_all();
        }
    }

    /// Wakes every stream's caller: the connection broke or is going away.
    fn wake_all(&self) {
        for s in self.streams.values() {
            s.cv.notify_all();
        }
    }

    fn queue(&mut self, buf: Vec<u8>) {
        self.send_out(Out::Frames(buf));
    }

    /// [`queue`](Self::queue) for request body frames, which count against
    /// [`WRITE_QUEUE_LIMIT`] until written.
    fn queue_data(&mut self, buf: Vec<u8>) {
        self.queued_bytes += buf.len();
        self.send_out(Out::Data(buf));
    }

    fn send_out(&mut self, out: Out) {
        if self.out.send(out).is_err() && self.broken.is_none() {
            self.broken = Some(Failure::Conn(
                ErrorKind::ConnectionClosed(ClosedDuring::Head),
                "http2 connection writer gone".into(),
            ));
        }
    }

    fn queue_frame(&mut self, f: &Frame<'_>) {
        let mut buf = Vec::with_capacity(32);
        if f.encode(&mut buf).is_ok() {
            self.queue(buf);
        }
    }

    fn max_streams(&self) -> usize {
        if !self.seen_settings {
            return INITIAL_MAX_STREAMS;
        }
        self.peer
            .max_concurrent_streams
            .map_or(usize::MAX, |n| n as usize)
    }

    /// A stream no longer counts against the concurrency limit.
    fn uncount(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            if s.counted {
                s.counted = false;
                self.active -= 1;
                if self.active == 0 {
                    self.idle_since = Some(Instant::now());
                }
            }
        }
    }

    /// Resets stream `id` from this end with `code` and records `failure`.
    fn reset(&mut self, id: u32, code: ErrorCode, failure: Failure) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let send_rst = !(s.end_sent && s.end_recv) && s.failed.is_none();
        if s.failed.is_none() {
            s.failed = Some(failure);
        }
        s.end_sent = true;
        s.body.clear();
        s.body_off = 0;
        if send_rst {
            self.queue_frame(&Frame::RstStream(RstStream {
                stream_id: id,
                code,
            }));
            // The server counts the stream until it reads the reset: it still takes a slot
            // here until a PING sent after the reset comes back (Go's `pendingResets`).
            self.pending_resets += 1;
            if self.reset_ping_covers.is_none() {
                self.queue_frame(&Frame::Ping(Ping {
                    ack: false,
                    data: RESET_PING,
                }));
                self.reset_ping_covers = Some(self.pending_resets);
            }
        }
        self.uncount(id);
    }

    /// The server acknowledged the `PING` sent after resets: those resets are behind it, so
    /// their streams no longer count against its limit. Resets since then get a `PING` of
    /// their own.
    fn reset_ping_acked(&mut self) {
        let Some(covered) = self.reset_ping_covers.take() else {
            return;
        };
        self.pending_resets -= covered;
        if self.pending_resets > 0 {
            self.queue_frame(&Frame::Ping(Ping {
                ack: false,
                data: RESET_PING,
            }));
            self.reset_ping_covers = Some(self.pending_resets);
        }
    }

    /// The caller is done with stream `id`: forget it, resetting it if it is still open.
    fn forget(&mut self, id: u32) {
        let open = self
            .streams
            .get(&id)
            .is_some_and(|s| s.failed.is_none() && !(s.end_sent && s.end_recv));
        if open && self.broken.is_none() {
            self.reset(id, ErrorCode::Cancel, Failure::Canceled);
        }
        self.uncount(id);
        self.streams.remove(&id);
    }

    /// True if a new stream may be opened now (or will be, once others end).
    fn usable(&self) -> bool {
        self.broken.is_none()
            && self.goaway.is_none()
            && !self.closing
            && self.next_stream_id < frame::MAX_STREAM_ID
    }

    /// True if a new stream may be opened now without waiting, counting reservations.
    fn has_room(&self) -> bool {
        self.usable() && self.active + self.reserved + self.pending_resets < self.max_streams()
    }

    /// True if the connection will carry nothing more and has nothing in flight.
    fn spent(&self) -> bool {
        self.broken.is_none() && !self.usable() && self.streams.is_empty()
    }
}

impl H2Conn {
    /// Starts a connection over `stream` (after the TLS handshake or, for h2c, the dial):
    /// sends the preface, this end's `SETTINGS` and the connection window, and starts the
    /// two threads.
    pub(crate) fn start(
        t: &Arc<TransportInner>,
        id: u64,
        key: ConnKey,
        stream: Box<dyn Stream>,
    ) -> Result<Arc<H2Conn>> {
        let cfg = t.cfg.http2;
        let stream: Arc<dyn Stream> = Arc::from(stream);
        let (tx, rx) = crossbeam_channel::unbounded();
        let stream_window = cfg
            .max_receive_buffer_per_stream
            .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_WINDOW_SIZE);
        let header_list = t.cfg.max_response_header_bytes;
        let mut local = settings::Local::new();
        let ours = Settings {
            enable_push: Some(false),
            initial_window_size: Some(stream_window),
            max_header_list_size: Some(u32::try_from(header_list).unwrap_or(u32::MAX)),
            ..Settings::default()
        };
        local.sent(ours);
        let mut conn_recv = RecvWindow::new(frame::DEFAULT_WINDOW_SIZE);
        let mut start = PREFACE.to_vec();
        Frame::Settings(ours).encode(&mut start)?;
        if let Some(inc) = conn_recv.grow_to(CONN_WINDOW) {
            Frame::WindowUpdate(WindowUpdate {
                stream_id: 0,
                increment: inc,
            })
            .encode(&mut start)?;
        }
        let _ = tx.send(Out::Frames(start));
        let conn = Arc::new(H2Conn {
            id,
            key,
            core: Mutex::new(Core {
                out: tx,
                enc: hpack::Encoder::new(hpack::DEFAULT_TABLE_SIZE),
                streams: HashMap::default(),
                next_stream_id: 1,
                active: 0,
                reserved: 0,
                pending_resets: 0,
                reset_ping_covers: None,
                closing: false,
                conn_send: SendWindow::new(frame::DEFAULT_WINDOW_SIZE),
                conn_recv,
                peer: settings::Values::default(),
                seen_settings: false,
                local,
                stream_window,
                queued_bytes: 0,
                goaway: None,
                broken: None,
                idle_since: Some(Instant::now()),
            }),
            changed: Condvar::new(),
            stream,
            transport: Arc::downgrade(t),
        });
        let w = Arc::clone(&conn);
        spawn_counted(&t.threads, "nethttp-h2-write", move || {
            let _guard = CloseOnUnwind(&w);
            w.write_loop(&rx);
        })
        .map_err(|e| {
            let err = Error::thread_spawn("http2 connection writer", e);
            conn.close(Failure::Conn(err.kind(), err.to_string()));
            err
        })?;
        let r = Arc::clone(&conn);
        let idle = t.cfg.idle_conn_timeout;
        spawn_counted(&t.threads, "nethttp-h2-read", move || {
            let _guard = CloseOnUnwind(&r);
            r.read_loop(header_list, idle, cfg);
        })
        .map_err(|e| {
            let err = Error::thread_spawn("http2 connection reader", e);
            conn.close(Failure::Conn(err.kind(), err.to_string()));
            err
        })?;
        Ok(conn)
    }

    /// True if the connection can take a new request (now or after waiting for a slot).
    pub(crate) fn usable(&self) -> bool {
        self.core.lock().usable()
    }

    /// Streams in flight, for the pool's statistics.
    pub(crate) fn active_streams(&self) -> usize {
        self.core.lock().active
    }

    /// Reserves a stream for a caller if one can be opened now without waiting; the caller
    /// then passes `reserved: true` to [`round_trip`](Self::round_trip).
    pub(crate) fn try_reserve(&self) -> bool {
        let mut core = self.core.lock();
        let room = core.has_room();
        if room {
            core.reserved += 1;
        }
        room
    }

    /// Stream `id` ended and its caller is done with it: it is forgotten, and if the
    /// connection will carry nothing more (it is spent, or its transport is gone and this was
    /// its last stream), the connection goes now rather than at its idle timeout or the
    /// reader's next look. Takes the lock it is given (one acquisition per request end).
    fn end_stream(&self, mut core: parking_lot::MutexGuard<'_, Core>, id: u32) {
        core.forget(id);
        let orphaned =
            core.broken.is_none() && core.streams.is_empty() && self.transport.strong_count() == 0;
        let spent = core.spent() || orphaned;
        drop(core);
        self.changed.notify_all();
        if spent {
            self.close_idle();
        }
    }

    /// Ends the connection: every stream fails with `why`, the writer sends what is queued
    /// and stops, the socket is shut down (which wakes the reader). Never blocks.
    fn close(&self, why: Failure) {
        let core = self.core.lock();
        if core.broken.is_some() {
            return;
        }
        self.close_locked(core, why);
    }

    /// [`close`](Self::close), with the lock already held (it is released here), so the
    /// caller's check and the close are one step.
    fn close_locked(&self, mut core: parking_lot::MutexGuard<'_, Core>, why: Failure) {
        core.broken = Some(why.clone());
        for s in core.streams.values_mut() {
            // A stream the server finished can still be read to its end.
            if s.failed.is_none() && !s.end_recv {
                s.failed = Some(why.clone());
            }
        }
        let _ = core.out.send(Out::Close);
        core.wake_all();
        drop(core);
        self.changed.notify_all();
        let _ = self.stream.shutdown(Shutdown::Read);
        if let Some(t) = self.transport.upgrade() {
            t.h2_conn_closed(self);
        }
    }

    /// Sends `GOAWAY` and closes, for an idle connection the pool drops; does nothing if a
    /// stream was opened meanwhile. The check and the close are one step under the lock, so
    /// a request racing the close either got its stream first (and the connection stays) or
    /// finds the connection broken before it sends anything, and is retried elsewhere.
    pub(crate) fn close_idle(&self) {
        let mut core = self.core.lock();
        if core.broken.is_some() || !core.streams.is_empty() {
            return;
        }
        core.queue_frame(&Frame::GoAway(GoAway {
            last_stream_id: 0,
            code: ErrorCode::NoError,
            debug_data: b"",
        }));
        self.close_locked(
            core,
            Failure::Conn(
                ErrorKind::Timeout(TimeoutPhase::Idle),
                "http2 connection closed while idle".into(),
            ),
        );
    }

    /// Ends the connection for a connection error of the server's: `GOAWAY` with its code.
    fn conn_error(&self, e: &Error) {
        let code = match e.kind() {
            ErrorKind::Http2(h) => h.code(),
            _ => ErrorCode::Internal,
        };
        {
            let mut core = self.core.lock();
            if core.broken.is_none() {
                core.queue_frame(&Frame::GoAway(GoAway {
                    last_stream_id: 0,
                    code,
                    debug_data: b"",
                }));
            }
        }
        self.close(Failure::Conn(e.kind(), e.to_string()));
    }

    // ---- the writer thread ----

    fn write_loop(&self, rx: &Receiver<Out>) {
        let _ = self.stream.set_write_timeout(Some(WRITE_STALL));
        let mut batch = Vec::with_capacity(64 << 10);
        while let Ok(mut next) = rx.recv() {
            let mut close = false;
            let mut data = 0;
            loop {
                match next {
                    Out::Frames(b) => batch.extend_from_slice(&b),
                    Out::Data(b) => {
                        data += b.len();
                        batch.extend_from_slice(&b);
                    }
                    Out::Close => close = true,
                }
                if close || batch.len() >= (256 << 10) {
                    break;
                }
                match rx.try_recv() {
                    Ok(o) => next = o,
                    Err(_) => break,
                }
            }
            let r = write_all(&*self.stream, &batch);
            batch.clear();
            if data > 0 {
                // Room in the write queue, for body senders waiting on `changed`.
                let mut core = self.core.lock();
                core.queued_bytes = core.queued_bytes.saturating_sub(data);
                drop(core);
                self.changed.notify_all();
            }
            if let Err(e) = r {
                self.close(Failure::Conn(
                    ErrorKind::Io,
                    format!("writing to http2 connection: {e}"),
                ));
                break;
            }
            if close {
                break;
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    // ---- the reader thread ----

    fn read_loop(&self, header_list: usize, idle: Option<Duration>, cfg: Http2ClientConfig) {
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK * 2);
        let mut decoder = FrameDecoder::new(FrameLimits::default());
        let mut hpack_dec = hpack::Decoder::new(hpack::DEFAULT_TABLE_SIZE);
        hpack_dec.set_max_header_list_size(header_list);
        // The header block being gathered: stream, END_STREAM, fragments so far.
        let mut block: Option<(u32, bool, Vec<u8>)> = None;
        let mut last_frame = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        let mut read_timeout = RECHECK;
        let _ = self.stream.set_read_timeout(Some(read_timeout));
        let mut chunk = vec![0u8; READ_CHUNK];
        // While the connection is idle, `chunk` and `buf` go back to the allocator and the
        // first bytes come into `small`, on the stack (as the server's idle read).
        let mut small = [0u8; IDLE_READ];
        let mut wakes = Wakes::default();
        let outcome: std::result::Result<(), Failure> = 'conn: loop {
            let idle_read = chunk.is_empty();
            // A quiet connection's reader sleeps until it has something to do, so an idle
            // pooled connection wakes no thread twice a second.
            let want = if idle_read {
                self.quiet_tick(idle, cfg, last_frame, ping_sent)
            } else {
                RECHECK
            };
            if want != read_timeout && self.stream.set_read_timeout(Some(want)).is_ok() {
                read_timeout = want;
            }
            let r = if idle_read {
                self.stream.read(&mut small)
            } else {
                self.stream.read(&mut chunk)
            };
            match r {
                Ok(0) => {
                    break Err(Failure::Conn(
                        ErrorKind::ConnectionClosed(ClosedDuring::Body),
                        "server closed the http2 connection".into(),
                    ))
                }
                Ok(n) => {
                    if idle_read {
                        buf.extend_from_slice(&small[..n]);
                        chunk = vec![0u8; READ_CHUNK];
                    } else {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    last_frame = Instant::now();
                    ping_sent = None;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if let Some(f) = self.on_tick(idle, cfg, last_frame, &mut ping_sent) {
                        break Err(f);
                    }
                    // Quiet for a whole tick with no stream open: give the buffers back.
                    if buf.is_empty()
                        && !chunk.is_empty()
                        && self.core.try_lock().is_some_and(|c| c.streams.is_empty())
                    {
                        chunk = Vec::new();
                        buf = Vec::new();
                    }
                    continue;
                }
                Err(e) => {
                    break Err(Failure::Conn(
                        ErrorKind::Io,
                        format!("reading from http2 connection: {e}"),
                    ))
                }
            }
            let mut used = 0;
            loop {
                let d = match decoder.decode(&buf[used..]) {
                    Ok(d) => d,
                    Err(e) => {
                        self.conn_error(&e);
                        break 'conn Ok(());
                    }
                };
                match d {
                    Decoded::Partial => break,
                    Decoded::StreamError { error, len } => {
                        used += len;
                        if let ErrorKind::Http2(Http2Error::Stream { stream_id, code }) =
                            error.kind()
                        {
                            self.stream_error(stream_id, code, &error);
                        }
                    }
                    Decoded::Frame { frame, len } => {
                        let r = self.on_frame(frame, &mut block, &mut hpack_dec, &mut wakes);
                        used += len;
                        if let Err(e) = r {
                            self.conn_error(&e);
                            break 'conn Ok(());
                        }
                    }
                }
            }
            wakes.flush(&self.changed);
            buf.drain(..used);
            // A close elsewhere also shuts the socket's read side down, which ends the next
            // read; this check only saves that read, so it never waits for a busy lock (the
            // next read, or `on_tick` within RECHECK, looks again).
            if self.core.try_lock().is_some_and(|c| c.broken.is_some()) {
                break Ok(());
            }
        };
        if let Err(f) = outcome {
            self.close(f);
        }
    }

    /// How long a quiet reader may sleep in its next read: until the idle timeout or the
    /// health check (its `PING`, or the wait for an answer) is due, at most [`QUIET_TICK`];
    /// [`RECHECK`] while a stream is open, or when the connection must close once idle
    /// (`on_tick` closes it then). Never zero, which `set_read_timeout` refuses.
    ///
    /// A close from elsewhere wakes the sleeping reader by shutting the socket's read side
    /// down (a `Stream` must make that end a blocked read); the quiet sleep relies on it,
    /// where the 500 ms tick would also have seen `broken` within a tick.
    fn quiet_tick(
        &self,
        idle: Option<Duration>,
        cfg: Http2ClientConfig,
        last_frame: Instant,
        ping_sent: Option<Instant>,
    ) -> Duration {
        let now = Instant::now();
        let mut due = now + QUIET_TICK;
        {
            let core = self.core.lock();
            if !core.is_idle() || self.ends_once_idle(&core) {
                return RECHECK;
            }
            if let (Some(t), Some(since)) = (idle, core.idle_since) {
                due = due.min(since + t);
            }
        }
        match (ping_sent, cfg.read_idle_timeout) {
            (Some(sent), _) => due = due.min(sent + cfg.ping_timeout),
            (None, Some(t)) => due = due.min(last_frame + t),
            (None, None) => {}
        }
        due.saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Nobody can use this connection again once it is idle: its transport is gone, the
    /// server said goodbye, or it takes no more streams.
    fn ends_once_idle(&self, core: &Core) -> bool {
        self.transport.strong_count() == 0 || core.goaway.is_some() || core.closing
    }

    /// The reader saw no bytes for a while: idle timeout and health check. `Some` closes.
    fn on_tick(
        &self,
        idle: Option<Duration>,
        cfg: Http2ClientConfig,
        last_frame: Instant,
        ping_sent: &mut Option<Instant>,
    ) -> Option<Failure> {
        let mut core = self.core.lock();
        if core.broken.is_some() {
            return Some(Failure::Conn(
                ErrorKind::ConnectionClosed(ClosedDuring::Body),
                "http2 connection closed".into(),
            ));
        }
        let idle_now = core.is_idle();
        if idle_now && self.ends_once_idle(&core) {
            drop(core);
            self.close_idle();
            return None;
        }
        if let (Some(t), Some(since)) = (idle, core.idle_since) {
            if idle_now && since.elapsed() >= t {
                drop(core);
                self.close_idle();
                return None;
            }
        }
        if let Some(sent) = *ping_sent {
            if sent.elapsed() >= cfg.ping_timeout {
                return Some(Failure::Conn(
                    ErrorKind::Timeout(TimeoutPhase::ReadBody),
                    "http2 health check: no answer to ping".into(),
                ));
            }
        } else if let Some(t) = cfg.read_idle_timeout {
            if last_frame.elapsed() >= t {
                core.queue_frame(&Frame::Ping(Ping {
                    ack: false,
                    data: *b"nethttp?",
                }));
                *ping_sent = Some(Instant::now());
            }
        }
        None
    }

    /// A stream error found by the frame decoder or by the message rules: reset the stream.
    fn stream_error(&self, id: u32, code: ErrorCode, e: &Error) {
        let mut core = self.core.lock();
        if core.streams.contains_key(&id) {
            core.reset(id, code, Failure::Protocol(e.kind(), e.to_string()));
        } else {
            core.queue_frame(&Frame::RstStream(RstStream {
                stream_id: id,
                code,
            }));
        }
        core.wake(id);
        drop(core);
        self.changed.notify_all();
    }

    fn on_frame(
        &self,
        frame: Frame<'_>,
        block: &mut Option<(u32, bool, Vec<u8>)>,
        hpack_dec: &mut hpack::Decoder,
        wakes: &mut Wakes,
    ) -> Result<()> {
        match frame {
            Frame::Headers(h) => {
                if h.end_headers {
                    return self.on_header_block(
                        h.stream_id,
                        h.end_stream,
                        h.fragment,
                        hpack_dec,
                        wakes,
                    );
                }
                let mut b = Vec::with_capacity(h.fragment.len() * 2);
                b.extend_from_slice(h.fragment);
                *block = Some((h.stream_id, h.end_stream, b));
            }
            Frame::Continuation(c) => {
                let Some((id, end_stream, mut b)) = block.take() else {
                    return Err(Error::h2_connection(
                        ErrorCode::Protocol,
                        "continuation without a header block",
                    ));
                };
                b.extend_from_slice(c.fragment);
                if c.end_headers {
                    return self.on_header_block(id, end_stream, &b, hpack_dec, wakes);
                }
                *block = Some((id, end_stream, b));
            }
            Frame::Data(d) => self.on_data(d, wakes)?,
            Frame::Settings(s) => self.on_settings(&s)?,
            Frame::SettingsAck => {
                self.core.lock().local.ack()?;
            }
            Frame::Ping(p) => {
                if !p.ack {
                    self.core.lock().queue_frame(&Frame::Ping(Ping {
                        ack: true,
                        data: p.data,
                    }));
                } else if p.data == RESET_PING {
                    self.core.lock().reset_ping_acked();
                    self.changed.notify_all();
                }
            }
            Frame::GoAway(g) => {
                let mut core = self.core.lock();
                core.goaway = Some(g.last_stream_id);
                let ids: Vec<u32> = core
                    .streams
                    .keys()
                    .copied()
                    .filter(|&id| id > g.last_stream_id)
                    .collect();
                for id in ids {
                    if let Some(s) = core.streams.get_mut(&id) {
                        if s.failed.is_none() {
                            s.failed = Some(Failure::Unprocessed("goaway"));
                        }
                    }
                    core.uncount(id);
                }
                if g.code != ErrorCode::NoError {
                    // As Go's Transport: the code is logged, and the streams at or below the
                    // last stream id are left to complete (RFC 9113 §6.8); if the server
                    // closes the connection instead, they fail then.
                    log::debug!(
                        "http2 server sent goaway: {} {}",
                        g.code,
                        String::from_utf8_lossy(g.debug_data)
                    );
                }
                core.wake_all();
                drop(core);
                self.changed.notify_all();
                if let Some(t) = self.transport.upgrade() {
                    t.h2_conn_closed(self);
                }
            }
            Frame::WindowUpdate(w) => {
                let mut core = self.core.lock();
                if w.stream_id == 0 {
                    core.conn_send.increase(0, w.increment)?;
                } else if let Some(s) = core.streams.get_mut(&w.stream_id) {
                    if let Err(e) = s.send.increase(w.stream_id, w.increment) {
                        core.reset(
                            w.stream_id,
                            ErrorCode::FlowControl,
                            Failure::Protocol(e.kind(), e.to_string()),
                        );
                    }
                }
                drop(core);
                self.changed.notify_all();
            }
            Frame::RstStream(r) => {
                let mut core = self.core.lock();
                if r.stream_id >= core.next_stream_id {
                    return Err(Error::h2_connection(
                        ErrorCode::Protocol,
                        "rst_stream on an idle stream",
                    ));
                }
                if let Some(s) = core.streams.get_mut(&r.stream_id) {
                    s.end_sent = true;
                    if s.failed.is_none() && !(s.end_recv && r.code == ErrorCode::NoError) {
                        s.failed = Some(if r.code == ErrorCode::RefusedStream {
                            Failure::Unprocessed("refused stream")
                        } else {
                            Failure::Reset(r.code)
                        });
                    }
                    core.uncount(r.stream_id);
                }
                core.wake(r.stream_id);
                drop(core);
                self.changed.notify_all();
            }
            Frame::PushPromise(_) => {
                // §8.4: SETTINGS_ENABLE_PUSH is 0 here.
                return Err(Error::h2_connection(
                    ErrorCode::Protocol,
                    "push_promise with push disabled",
                ));
            }
            Frame::Priority(_) | Frame::Unknown(_) => {}
        }
        Ok(())
    }

    fn on_settings(&self, s: &Settings) -> Result<()> {
        let mut core = self.core.lock();
        let changes = core.peer.apply(s);
        if changes.window_delta != 0 {
            let delta = changes.window_delta;
            for (&id, st) in core.streams.iter_mut() {
                st.send.adjust(id, delta).map_err(|_| {
                    Error::h2_connection(ErrorCode::FlowControl, "stream window above 2^31-1")
                })?;
            }
        }
        if let Some(n) = changes.header_table_size {
            core.enc.set_max_table_size(n as usize);
        }
        core.seen_settings = true;
        core.queue_frame(&Frame::SettingsAck);
        drop(core);
        self.changed.notify_all();
        Ok(())
    }

    fn on_header_block(
        &self,
        id: u32,
        end_stream: bool,
        block: &[u8],
        hpack_dec: &mut hpack::Decoder,
        wakes: &mut Wakes,
    ) -> Result<()> {
        // The block is decoded whatever becomes of its stream: HPACK state is shared.
        let fields = match hpack_dec.decode(block) {
            Ok(f) => f,
            Err(e) if matches!(e.kind(), ErrorKind::TooLarge(_)) => {
                self.stream_error(id, ErrorCode::Protocol, &e);
                return Ok(());
            }
            Err(e) => {
                return Err(Error::h2_connection(
                    ErrorCode::Compression,
                    format!("hpack: {e}"),
                ))
            }
        };
        // An informational response for a trace that hooks them, told after the lock.
        let mut info: Option<(super::ClientTrace, http::StatusCode, HeaderMap)> = None;
        let mut core = self.core.lock();
        if id % 2 == 0 || id >= core.next_stream_id {
            return Err(Error::h2_connection(
                ErrorCode::Protocol,
                "headers on a stream this client did not open",
            ));
        }
        let Some(s) = core.streams.get_mut(&id) else {
            return Ok(());
        };
        if s.failed.is_some() || s.end_recv {
            return Ok(());
        }
        let r: Result<()> = if !s.got_head {
            match message::response_parts(id, fields) {
                Ok(p) if p.status.is_informational() => {
                    if end_stream || p.status == 101 {
                        Err(Error::h2_stream(
                            id,
                            ErrorCode::Protocol,
                            "informational response ending its stream",
                        ))
                    } else {
                        s.got_continue |= p.status == 100;
                        // As over HTTP/1: 100 has its own hook (`got_100_continue`).
                        if p.status != 100 {
                            if let Some(t) = &s.info_trace {
                                info = Some((t.clone(), p.status, p.headers));
                            }
                        }
                        Ok(())
                    }
                }
                Ok(p) => {
                    s.got_head = true;
                    s.content_length = p.content_length;
                    s.head = Some(p);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else if !end_stream {
            Err(Error::h2_stream(
                id,
                ErrorCode::Protocol,
                "trailers without end_stream",
            ))
        } else {
            crate::proto::h2::message::trailers(id, &fields).map(|t| s.trailers = Some(t))
        };
        match r {
            Ok(()) if end_stream => {
                if let Err(e) = end_recv(s, id) {
                    core.reset(
                        id,
                        ErrorCode::Protocol,
                        Failure::Protocol(e.kind(), e.to_string()),
                    );
                } else if s.end_sent {
                    core.uncount(id);
                }
            }
            Ok(()) => {}
            Err(e) => {
                core.reset(
                    id,
                    ErrorCode::Protocol,
                    Failure::Protocol(e.kind(), e.to_string()),
                );
            }
        }
        wakes.stream(&core, id);
        drop(core);
        if let Some((trace, status, headers)) = info {
            trace.got_1xx_response(status, &headers);
        }
        Ok(())
    }

    fn on_data(&self, d: Data<'_>, wakes: &mut Wakes) -> Result<()> {
        let id = d.stream_id;
        let n = d.flow_controlled_len();
        let mut core = self.core.lock();
        if id % 2 == 0 || id >= core.next_stream_id {
            return Err(Error::h2_connection(
                ErrorCode::Protocol,
                "data on a stream this client did not open",
            ));
        }
        core.conn_recv.receive(0, n)?;
        // The connection's window comes back as data arrives: each stream's buffer is bounded
        // by its own window, which comes back only as its caller reads.
        if let Some(inc) = core.conn_recv.release(n) {
            core.queue_frame(&Frame::WindowUpdate(WindowUpdate {
                stream_id: 0,
                increment: inc,
            }));
        }
        let Some(s) = core.streams.get_mut(&id) else {
            return Ok(());
        };
        if s.failed.is_some() || s.end_recv {
            if s.failed.is_none() {
                core.reset(
                    id,
                    ErrorCode::StreamClosed,
                    Failure::Protocol(
                        ErrorKind::Http2(Http2Error::Stream {
                            stream_id: id,
                            code: ErrorCode::StreamClosed,
                        }),
                        "data after end_stream".into(),
                    ),
                );
            }
            return Ok(());
        }
        let r = (|| {
            if !s.got_head {
                return Err(Error::h2_stream(
                    id,
                    ErrorCode::Protocol,
                    "data before the response head",
                ));
            }
            s.recv.receive(id, n)?;
            // Padding is never read by the caller: its credit comes back now.
            let pad = n - d.data.len() as u32;
            s.received += d.data.len() as u64;
            if s.content_length.is_some_and(|c| s.received > c) {
                return Err(Error::h2_stream(
                    id,
                    ErrorCode::Protocol,
                    "more data than content-length",
                ));
            }
            if !d.data.is_empty() {
                if s.body_off > 0 && s.body_off >= s.body.len() - s.body_off {
                    // Move the unread bytes to the front (no more than were read).
                    s.body.drain(..s.body_off);
                    s.body_off = 0;
                }
                s.body.extend_from_slice(d.data);
            }
            if d.end_stream {
                end_recv(s, id)?;
            }
            Ok(pad)
        })();
        match r {
            Ok(pad) => {
                if pad > 0 {
                    if let Some(inc) = s.recv.release(pad) {
                        core.queue_frame(&Frame::WindowUpdate(WindowUpdate {
                            stream_id: id,
                            increment: inc,
                        }));
                    }
                }
                if d.end_stream && core.streams.get(&id).is_some_and(|s| s.end_sent) {
                    core.uncount(id);
                }
            }
            Err(e) => {
                let code = match e.kind() {
                    ErrorKind::Http2(h) => h.code(),
                    _ => ErrorCode::Protocol,
                };
                core.reset(id, code, Failure::Protocol(e.kind(), e.to_string()));
            }
        }
        wakes.stream(&core, id);
        Ok(())
    }

    // ---- callers ----

    /// Sends one request on a new stream and waits for its response head. `reserved`: the
    /// pool reserved the stream ([`try_reserve`](Self::try_reserve)); it is given back here.
    pub(crate) fn round_trip(
        self: &Arc<Self>,
        t: &TransportInner,
        req: &mut crate::Request,
        opts: &super::RequestOptions,
        req_id: u64,
        reserved: bool,
    ) -> std::result::Result<Response, Box<RtError>> {
        let deadline = opts.deadline;
        let body = req.replace_body(Body::empty());
        let body_len = body.len_hint();
        let fields = message::RequestFields::new(
            &req.method,
            &req.uri,
            &req.headers,
            body_len,
            t.cfg.user_agent.as_ref(),
            crate::client::accept_encoding(req),
        );
        let end_stream = body_len == Some(0);
        // As over HTTP/1 (and Go's HTTP/2 client): with `Expect: 100-continue`, the body
        // waits for `100 Continue`, for at most `expect_continue_timeout`.
        let expect_continue = !end_stream
            && !t.cfg.expect_continue_timeout.is_zero()
            && req
                .headers
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let continue_wait = expect_continue.then_some(t.cfg.expect_continue_timeout);
        // Open the stream: wait for a slot under the server's limit.
        let mut leaving = false;
        let fields = match fields {
            Ok(f) => f,
            Err(e) => {
                if reserved {
                    self.core.lock().reserved -= 1;
                    self.changed.notify_all();
                }
                return Err(RtError::fatal(e, None));
            }
        };
        let id = {
            let mut core = self.core.lock();
            if reserved {
                core.reserved -= 1;
            }
            loop {
                if let Some(f) = &core.broken {
                    let retry = !matches!(f, Failure::Canceled);
                    let e = f.error(0);
                    return Err(Box::new(RtError {
                        err: e,
                        unprocessed: retry,
                        body: Some(body),
                    }));
                }
                if !core.usable() {
                    return Err(Box::new(RtError {
                        err: Failure::Unprocessed("connection going away").error(0),
                        unprocessed: true,
                        body: Some(body),
                    }));
                }
                if core.active + core.reserved + core.pending_resets < core.max_streams() {
                    break;
                }
                if opts.cancel.as_ref().is_some_and(CancelToken::is_canceled) {
                    return Err(RtError::fatal(Error::new(ErrorKind::Canceled), None));
                }
                if wait(&self.changed, &mut core, deadline) {
                    return Err(RtError::fatal(Error::timeout(TimeoutPhase::PoolWait), None));
                }
            }
            if let Some(max) = core.peer.max_header_list_size {
                // The server said how large a header list it takes (RFC 9113 §6.5.2: each
                // field's name and value and 32): a larger one is not sent, as Go's
                // `errRequestHeaderListSize`.
                let size: u64 = fields
                    .iter()
                    .map(|f| (f.name.len() + f.value.len() + 32) as u64)
                    .sum();
                if size > u64::from(max) {
                    return Err(RtError::fatal(
                        Error::invalid_input(format!(
                            "request header list of {size} bytes is larger than the server's \
                             limit of {max}"
                        )),
                        None,
                    ));
                }
            }
            let id = core.next_stream_id;
            core.next_stream_id += 2;
            // The block is encoded straight into the frame that carries it.
            let mut buf = Vec::with_capacity(256);
            let max_frame = core.peer.max_frame_size;
            let enc = &mut core.enc;
            frame::encode_headers_with(id, end_stream, max_frame, &mut buf, |dst| {
                enc.encode_refs(fields.iter(), dst)
            })
            .map_err(|e| RtError::fatal(e, None))?;
            core.queue(buf);
            let send = SendWindow::new(core.peer.initial_window_size);
            let recv = RecvWindow::new(core.stream_window);
            core.streams.insert(
                id,
                StreamEntry {
                    req_id,
                    send,
                    recv,
                    head: None,
                    got_head: false,
                    got_continue: false,
                    info_trace: opts.trace.wants_1xx().then(|| opts.trace.clone()),
                    body: Vec::new(),
                    body_off: 0,
                    received: 0,
                    content_length: None,
                    trailers: None,
                    end_recv: false,
                    end_sent: end_stream,
                    counted: true,
                    failed: None,
                    cv: stream_cv(self),
                },
            );
            core.active += 1;
            core.idle_since = None;
            if t.cfg.disable_keep_alives || core.next_stream_id >= frame::MAX_STREAM_ID {
                // Go's single-use connection, or one out of stream ids: no more streams.
                core.closing = true;
                leaving = true;
            }
            id
        };
        if leaving {
            if let Some(t) = self.transport.upgrade() {
                t.h2_conn_closed(self);
            }
        }
        if opts.trace.wants_header_fields() {
            for f in fields.iter() {
                opts.trace.wrote_header_field(f.name, f.value);
            }
        }
        opts.trace.wrote_headers();
        // From here on, the stream is forgotten when `guard` drops, unless a body takes it.
        let mut guard = StreamGuard {
            conn: Arc::clone(self),
            id,
        };
        if let Some(c) = &opts.cancel {
            let target: Arc<dyn Cancelable> = Arc::clone(self) as Arc<dyn Cancelable>;
            if !c.watch(Arc::downgrade(&target), req_id) {
                return Err(RtError::fatal(Error::new(ErrorKind::Canceled), None));
            }
        }
        let spare = if end_stream {
            Some(Body::empty())
        } else {
            body.try_clone()
        };
        if end_stream {
            opts.trace.wrote_request(true);
        } else {
            // The body goes on a thread of its own (Go's goroutine per request body), so the
            // response can be read while it is sent: a full-duplex exchange, or a server that
            // answers before it has read everything.
            let conn = Arc::clone(self);
            let trace = opts.trace.clone();
            let chunk = t.cfg.write_buffer_size;
            let (tx, rx) = crossbeam_channel::bounded::<Body>(1);
            let spawned = spawn_counted(&t.threads, "nethttp-h2-body", move || {
                let Ok(body) = rx.recv() else { return };
                if let Some(wait) = continue_wait {
                    conn.wait_continue(id, wait, deadline, &trace);
                }
                let r = conn.send_body(id, body, body_len, deadline, chunk);
                trace.wrote_request(r.is_ok());
                if let Err(e) = r {
                    conn.body_failed(id, &e);
                }
            });
            let inline = match spawned {
                Ok(()) => tx.send(body).err().map(|e| e.0),
                Err(_) => Some(body),
            };
            if let Some(body) = inline {
                if let Some(wait) = continue_wait {
                    self.wait_continue(id, wait, deadline, &opts.trace);
                }
                let r = self.send_body(id, body, body_len, deadline, t.cfg.write_buffer_size);
                opts.trace.wrote_request(r.is_ok());
                if let Err(e) = r {
                    let unprocessed = self.unprocessed(id);
                    drop(guard);
                    return Err(Box::new(RtError {
                        err: e,
                        unprocessed,
                        body: spare,
                    }));
                }
            }
        }
        // The response-header timer starts once the request is sent in full, as over HTTP/1
        // (an upload longer than the timeout is not a header timeout); a wake-up at least
        // every RECHECK (see `wait`) notices the body's end.
        let mut header_timer: Option<Option<Instant>> = None;
        let (parts, whole) = {
            let mut core = self.core.lock();
            loop {
                let s = match core.streams.get_mut(&id) {
                    Some(s) => s,
                    None => {
                        return Err(RtError::fatal(Error::new(ErrorKind::Canceled), None));
                    }
                };
                if header_timer.is_none() && s.end_sent {
                    header_timer = Some(crate::deadline::after(t.cfg.response_header_timeout));
                }
                let head_deadline = crate::deadline::earliest(deadline, header_timer.flatten());
                if let Some(p) = s.head.take() {
                    if !(s.end_recv && s.end_sent && s.failed.is_none()) {
                        break (p, None);
                    }
                    // The whole response is here and the request went in full: the stream
                    // is over, so its body leaves with the head and the stream is forgotten
                    // in this same hold (no lock taken again to read a small body).
                    let mut bytes = std::mem::take(&mut s.body);
                    bytes.drain(..s.body_off);
                    let trailers = s.trailers.take();
                    guard.id = 0;
                    self.end_stream(core, id);
                    break (p, Some((bytes, trailers)));
                }
                if let Some(f) = &s.failed {
                    let unprocessed = matches!(f, Failure::Unprocessed(_));
                    let err = f.error(id);
                    drop(core);
                    drop(guard);
                    return Err(Box::new(RtError {
                        err,
                        unprocessed,
                        body: if unprocessed { spare } else { None },
                    }));
                }
                let cv = Arc::clone(&s.cv);
                if wait(&cv, &mut core, head_deadline) {
                    core.reset(
                        id,
                        ErrorCode::Cancel,
                        Failure::Conn(
                            ErrorKind::Timeout(TimeoutPhase::ReadResponseHead),
                            "timeout".into(),
                        ),
                    );
                    drop(core);
                    drop(guard);
                    return Err(RtError::fatal(
                        Error::timeout(TimeoutPhase::ReadResponseHead),
                        None,
                    ));
                }
            }
        };
        opts.trace.got_first_response_byte();
        let head = ResponseHead {
            status: parts.status,
            version: Version::HTTP_2,
            headers: parts.headers,
        };
        let no_body = req.method == Method::HEAD || parts.status == 204 || parts.status == 304;
        if let Some((bytes, trailers)) = whole {
            let body = if no_body || (bytes.is_empty() && trailers.is_none()) {
                ResponseBody::empty()
            } else {
                ResponseBody::from_bytes(bytes, trailers.map(Box::new))
            };
            return Ok(Response::new(head, body, req.uri.clone(), None));
        }
        let body = H2Body {
            conn: Arc::clone(&guard.conn),
            id,
            deadline,
            cancel: opts.cancel.clone(),
            done: false,
        };
        guard.id = 0;
        let body = if no_body {
            drop(body);
            ResponseBody::empty()
        } else {
            ResponseBody::from_h2(body)
        };
        Ok(Response::new(head, body, req.uri.clone(), None))
    }

    /// The body thread could not send stream `id`'s body: the stream ends with that error
    /// (unless it had already failed or ended).
    fn body_failed(&self, id: u32, e: &Error) {
        {
            let mut core = self.core.lock();
            if core.streams.get(&id).is_some_and(|s| s.failed.is_none()) {
                core.reset(
                    id,
                    ErrorCode::Cancel,
                    Failure::Protocol(e.kind(), format!("sending the request body: {e}")),
                );
            }
            core.wake(id);
        }
        self.changed.notify_all();
    }

    /// For `Expect: 100-continue`: waits until stream `id` gets `100 Continue` (telling the
    /// trace), a final response or an end, or until `limit` (or the request's deadline) has
    /// passed. The body is then sent, as Go's client does; if the response has already ended,
    /// [`send_body`](Self::send_body) sends none.
    fn wait_continue(
        &self,
        id: u32,
        limit: Duration,
        deadline: Option<Instant>,
        trace: &super::ClientTrace,
    ) {
        let until = crate::deadline::earliest(Instant::now().checked_add(limit), deadline);
        let mut core = self.core.lock();
        loop {
            let Some(s) = core.streams.get(&id) else {
                return;
            };
            if s.got_continue {
                drop(core);
                trace.got_100_continue();
                return;
            }
            if s.got_head || s.end_recv || s.failed.is_some() || core.broken.is_some() {
                return;
            }
            if wait(&self.changed, &mut core, until) {
                return;
            }
        }
    }

    /// True if stream `id` failed without the server processing it.
    fn unprocessed(&self, id: u32) -> bool {
        let core = self.core.lock();
        core.streams
            .get(&id)
            .is_some_and(|s| matches!(s.failed, Some(Failure::Unprocessed(_))))
    }

    /// Sends the request body as `DATA` frames, within the server's windows and frame size.
    /// `declared`: the length the request's `content-length` states (the body's own): a body
    /// that runs long or ends short fails, as over HTTP/1, and no `DATA` past it is sent.
    fn send_body(
        &self,
        id: u32,
        mut body: Body,
        declared: Option<u64>,
        deadline: Option<Instant>,
        chunk_size: usize,
    ) -> Result<()> {
        let mut chunk = vec![0u8; chunk_size.max(1024)];
        let mut read: u64 = 0;
        loop {
            let n = match io::Read::read(&mut body, &mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::with_source(ErrorKind::Io, e)),
            };
            read += n as u64;
            let mut rest = &chunk[..n];
            let end = n == 0;
            let wrong_length = match declared {
                Some(d) if read > d => Some("request body longer than its declared length"),
                Some(d) if end && read < d => Some("request body shorter than its declared length"),
                _ => None,
            };
            let mut core = self.core.lock();
            loop {
                let s = match core.streams.get(&id) {
                    Some(s) => s,
                    None => return Err(Error::new(ErrorKind::Canceled)),
                };
                if let Some(f) = &s.failed {
                    return Err(f.error(id));
                }
                if s.end_recv {
                    // §8.1: the server answered in full before reading the whole request;
                    // the rest is not sent (the response stays readable). Not if the server
                    // reset the stream itself (with NO_ERROR): it is closed, and §5.1 allows
                    // no frame on it.
                    if !s.end_sent {
                        core.queue_frame(&Frame::RstStream(RstStream {
                            stream_id: id,
                            code: ErrorCode::Cancel,
                        }));
                    }
                    if let Some(s) = core.streams.get_mut(&id) {
                        s.end_sent = true;
                    }
                    core.uncount(id);
                    return Ok(());
                }
                if let Some(what) = wrong_length {
                    return Err(Error::invalid_input(what));
                }
                if end && rest.is_empty() {
                    // A body read to its end may have trailers (one moved from a server's
                    // request, in a proxy): they end the stream as a header block, minus the
                    // fields that frame, route or authenticate a message.
                    match request_trailers(&body) {
                        Some(fields) => {
                            let mut buf = Vec::with_capacity(128);
                            let max_frame = core.peer.max_frame_size;
                            let enc = &mut core.enc;
                            frame::encode_headers_with(id, true, max_frame, &mut buf, |dst| {
                                enc.encode(&fields, dst)
                            })?;
                            core.queue(buf);
                        }
                        None => core.queue_frame(&Frame::Data(Data {
                            stream_id: id,
                            end_stream: true,
                            data: b"",
                            padding: None,
                        })),
                    }
                    if let Some(s) = core.streams.get_mut(&id) {
                        s.end_sent = true;
                        if s.end_recv {
                            core.uncount(id);
                        }
                    }
                    return Ok(());
                }
                if rest.is_empty() {
                    break;
                }
                let avail = s
                    .send
                    .available()
                    .min(core.conn_send.available())
                    .min(core.peer.max_frame_size) as usize;
                if avail > 0 && core.queued_bytes < WRITE_QUEUE_LIMIT {
                    let take = avail.min(rest.len());
                    let (now, later) = rest.split_at(take);
                    let mut buf = Vec::with_capacity(take + 9);
                    Frame::Data(Data {
                        stream_id: id,
                        end_stream: false,
                        data: now,
                        padding: None,
                    })
                    .encode(&mut buf)?;
                    core.conn_send.consume(take as u32)?;
                    if let Some(s) = core.streams.get_mut(&id) {
                        s.send.consume(take as u32)?;
                    }
                    core.queue_data(buf);
                    rest = later;
                    continue;
                }
                if let Some(f) = &core.broken {
                    return Err(f.error(id));
                }
                if wait(&self.changed, &mut core, deadline) {
                    core.reset(
                        id,
                        ErrorCode::Cancel,
                        Failure::Conn(
                            ErrorKind::Timeout(TimeoutPhase::WriteRequest),
                            "timeout".into(),
                        ),
                    );
                    return Err(Error::timeout(TimeoutPhase::WriteRequest));
                }
            }
        }
    }
}

/// The trailer fields to send after a request body read to its end, if it has any: not the
/// fields RFC 9110 §6.5.1 keeps out of trailers, nor connection-specific ones.
fn request_trailers(body: &Body) -> Option<Vec<hpack::Field>> {
    let kept = crate::proto::framing::sendable_trailers(body.trailers()?);
    let fields = crate::proto::h2::message::trailer_fields(&kept);
    (!fields.is_empty()).then_some(fields)
}

/// The wake-ups the reader owes for the frames of one read, made once that read's frames
/// are all handled and before the reader reads again: a caller whose response head and body
/// came in one read is woken once, with both there, and not while the reader still takes
/// the lock frame after frame. Every state change behind them was made under the lock, and
/// a waiter checks its state under the lock before it waits, so a later notification loses
/// nothing.
#[derive(Default)]
struct Wakes {
    /// The condition variables of the streams that got a head, data, trailers or an end.
    streams: Vec<Arc<Condvar>>,
    /// `H2Conn::changed` is owed a notification too (slot waiters, body senders).
    changed: bool,
}

impl Wakes {
    /// Owes stream `id`'s waiter (if the stream is still there) and `changed` a wake-up.
    fn stream(&mut self, core: &Core, id: u32) {
        self.changed = true;
        if let Some(s) = core.streams.get(&id) {
            // A head and its data come one after the other: one wake-up for both. (Other
            // repeats are left: a notification nobody waits for costs a load.)
            if !self.streams.last().is_some_and(|cv| Arc::ptr_eq(cv, &s.cv)) {
                self.streams.push(Arc::clone(&s.cv));
            }
        }
    }

    /// Makes the wake-ups owed, with the lock not held.
    fn flush(&mut self, changed: &Condvar) {
        for cv in self.streams.drain(..) {
            cv.notify_all();
        }
        if std::mem::take(&mut self.changed) {
            changed.notify_all();
        }
    }
}

/// Forgets its stream on drop (a round trip that did not get as far as a body).
struct StreamGuard {
    conn: Arc<H2Conn>,
    /// 0 once a body owns the stream.
    id: u32,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.id != 0 {
            self.conn.end_stream(self.conn.core.lock(), self.id);
        }
    }
}

/// Marks the end of what the server sends on a stream, checking `content-length`.
fn end_recv(s: &mut StreamEntry, id: u32) -> Result<()> {
    s.end_recv = true;
    if let Some(c) = s.content_length {
        if s.received != c {
            return Err(Error::h2_stream(
                id,
                ErrorCode::Protocol,
                "data does not add up to content-length",
            ));
        }
    }
    Ok(())
}

/// Waits on `cv` until notified or `deadline`; true if the deadline has passed.
fn wait(
    cv: &Condvar,
    core: &mut parking_lot::MutexGuard<'_, Core>,
    deadline: Option<Instant>,
) -> bool {
    match deadline {
        Some(d) => {
            if Instant::now() >= d {
                return true;
            }
            // A bounded step, so a missed wake-up costs at most that.
            let step = d.min(Instant::now() + RECHECK);
            cv.wait_until(core, step);
            Instant::now() >= d
        }
        None => {
            cv.wait_for(core, RECHECK);
            false
        }
    }
}

fn write_all(s: &dyn Stream, mut buf: &[u8]) -> io::Result<()> {
    let start = Instant::now();
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) && start.elapsed() < WRITE_STALL => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        match s.flush() {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) && start.elapsed() < WRITE_STALL => {}
            other => return other,
        }
    }
}

/// Closes its connection if the thread it lives on unwinds (a panic in a user's [`Stream`],
/// or a bug here), so the connection's callers fail at once instead of at their deadlines
/// and the connection leaves the pool.
struct CloseOnUnwind<'a>(&'a H2Conn);

impl Drop for CloseOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.close(Failure::Conn(
                ErrorKind::Io,
                "http2 connection thread panicked".into(),
            ));
        }
    }
}

/// Counts a thread out of the transport's count when it ends, by return or unwind.
struct CountedOut(Arc<AtomicUsize>);

impl Drop for CountedOut {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn spawn_counted(
    threads: &Arc<AtomicUsize>,
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    threads.fetch_add(1, Ordering::SeqCst);
    let counted = Arc::clone(threads);
    let r = std::thread::Builder::new()
        .name(name.into())
        .stack_size(256 << 10)
        .spawn(move || {
            let _out = CountedOut(counted);
            f();
        });
    match r {
        Ok(_) => Ok(()),
        Err(e) => {
            threads.fetch_sub(1, Ordering::SeqCst);
            Err(e)
        }
    }
}

impl Cancelable for H2Conn {
    fn cancel(&self, req_id: u64) {
        {
            let mut core = self.core.lock();
            // A scan rather than a second map kept up on every request: cancels are rare.
            let found = core.streams.iter().find(|(_, s)| s.req_id == req_id);
            if let Some(id) = found.map(|(&id, _)| id) {
                core.reset(id, ErrorCode::Cancel, Failure::Canceled);
                if let Some(s) = core.streams.get_mut(&id) {
                    s.failed = Some(Failure::Canceled);
                }
                core.wake(id);
            }
        }
        self.changed.notify_all();
    }

    fn carries(&self, req_id: u64) -> bool {
        self.core
            .lock()
            .streams
            .values()
            .any(|s| s.req_id == req_id)
    }
}

impl std::fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn")
            .field("id", &self.id)
            .field("key", &self.key.to_string())
            .finish_non_exhaustive()
    }
}

/// A failed round trip on an HTTP/2 connection.
pub(crate) struct RtError {
    pub(crate) err: Error,
    /// The server did not process the request: it may go again on another connection.
    pub(crate) unprocessed: bool,
    /// The request body to send again, if it can be.
    pub(crate) body: Option<Body>,
}

impl RtError {
    fn fatal(err: Error, body: Option<Body>) -> Box<RtError> {
        Box::new(RtError {
            err,
            unprocessed: false,
            body,
        })
    }
}

/// A response body read from one stream's buffer; reading gives the stream's window back.
pub(crate) struct H2Body {
    conn: Arc<H2Conn>,
    id: u32,
    deadline: Option<Instant>,
    cancel: Option<CancelToken>,
    done: bool,
}

impl H2Body {
    /// Reads body bytes; at the end, moves the trailers (if any) into `trailers`.
    pub(crate) fn read(
        &mut self,
        out: &mut [u8],
        trailers: &mut Option<Box<HeaderMap>>,
    ) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        let conn = &self.conn;
        let mut core = conn.core.lock();
        loop {
            let Some(s) = core.streams.get_mut(&self.id) else {
                return Err(Error::new(ErrorKind::Canceled).into_io());
            };
            if s.body_off < s.body.len() {
                let avail = &s.body[s.body_off..];
                let n = avail.len().min(out.len());
                out[..n].copy_from_slice(&avail[..n]);
                s.body_off += n;
                if s.body_off == s.body.len() {
                    s.body.clear();
                    s.body_off = 0;
                }
                let end = s.body.is_empty() && s.end_recv && s.failed.is_none();
                if !s.end_recv {
                    if let Some(inc) = s.recv.release(n as u32) {
                        let id = self.id;
                        core.queue_frame(&Frame::WindowUpdate(WindowUpdate {
                            stream_id: id,
                            increment: inc,
                        }));
                    }
                }
                if end {
                    // The last bytes: the exchange ends with them, as on HTTP/1.
                    *trailers = core
                        .streams
                        .get_mut(&self.id)
                        .and_then(|s| s.trailers.take())
                        .map(Box::new);
                    self.done = true;
                    conn.end_stream(core, self.id);
                }
                return Ok(n);
            }
            if let Some(f) = &s.failed {
                let e = f.error(self.id);
                return Err(e.into_io());
            }
            if s.end_recv {
                *trailers = s.trailers.take().map(Box::new);
                self.done = true;
                conn.end_stream(core, self.id);
                return Ok(0);
            }
            if self.cancel.as_ref().is_some_and(CancelToken::is_canceled) {
                core.reset(self.id, ErrorCode::Cancel, Failure::Canceled);
                return Err(Error::new(ErrorKind::Canceled).into_io());
            }
            let cv = Arc::clone(&s.cv);
            if wait(&cv, &mut core, self.deadline) {
                core.reset(
                    self.id,
                    ErrorCode::Cancel,
                    Failure::Conn(ErrorKind::Timeout(TimeoutPhase::ReadBody), "timeout".into()),
                );
                return Err(Error::timeout(TimeoutPhase::ReadBody).into_io());
            }
        }
    }
}

impl Drop for H2Body {
    /// A body dropped before its end resets its stream (`CANCEL`); the connection goes on.
    /// Never blocks.
    fn drop(&mut self) {
        if !self.done {
            self.conn.end_stream(self.conn.core.lock(), self.id);
        }
    }
}
