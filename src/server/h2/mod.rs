//! HTTP/2 server connections (RFC 9113): the connection thread reads and dispatches frames,
//! one writer thread sends every frame, each stream's handler runs on a cached thread.
//!
//! Threads and ownership, per connection (feature `http2`):
//!
//! - The **connection thread** (the `nethttp-conn` thread that accepted it) owns the read
//!   direction of the socket outright: the read buffer, the [`FrameDecoder`] and the HPACK
//!   decoder live on its stack, and no other thread reads the socket. It decodes each frame
//!   and acts on it under the connection lock ([`H2Conn::core`]): it opens streams and
//!   dispatches their handlers, appends request body bytes to their stream's buffer, applies
//!   `SETTINGS` and `WINDOW_UPDATE`, and queues the answers (`SETTINGS` and `PING`
//!   acknowledgements, `WINDOW_UPDATE`, `RST_STREAM`, `GOAWAY`).
//! - The **writer thread** (a cached thread too) owns the write direction: it takes encoded
//!   frames from an unbounded channel, in the order they were queued, and writes them in
//!   batches, each write under the stall timeout (`Config::inactivity_timeout`). No lock is
//!   held while it writes. A failed write marks the connection broken and shuts the socket
//!   down, which wakes the connection thread.
//! - **Handler threads**: one per running handler, from the server's thread cache, each with
//!   the unchanged `Handler`/`ResponseWriter`/`Request` API. A response is encoded and queued
//!   under the connection lock (one HPACK encoder, so header blocks leave in the order they
//!   were compressed); a body write waits, on the connection's condition variable, for the
//!   stream's and the connection's send windows and for room in the write queue, under the
//!   request's write deadline and the stall timeout. A body read waits the same way for data.
//!
//! A frame is queued only under the connection lock, so the channel's order is the order of
//! the state changes: no `DATA` after the `RST_STREAM` of its stream, no header block out of
//! HPACK order. The lock is never held across socket I/O or a blocking channel operation (the
//! channel is unbounded: what is queued is bounded by the peer's flow-control windows and
//! [`WRITE_QUEUE_LIMIT`] for data, [`MAX_QUEUED_CONTROL`] for control frames).
//!
//! Limits against known attacks: at most `max_concurrent_streams` streams open
//! (`REFUSED_STREAM` past it) and as many handlers running, streams reset by the client
//! still holding their handler's place until it returns, and more than four times that many
//! streams waiting for a handler ending the connection with `ENHANCE_YOUR_CALM` (rapid reset,
//! CVE-2023-44487, as Go's fix); the header block bounded on the wire across its
//! `CONTINUATION` frames (`FrameLimits::max_header_block`, `ENHANCE_YOUR_CALM`) and the
//! decoded header list by `max_header_bytes` (431, as Go); queued control frames bounded
//! (`SETTINGS` and `PING` floods: the connection closes past [`MAX_QUEUED_CONTROL`], Go's
//! figure).

mod stream;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use parking_lot::{Condvar, Mutex};

use super::conn::{self, ConnShared};
use super::{ConnState, ServerInner, Spawner};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{Error, ErrorKind, Http2Error, Result, TooLarge};
use crate::proto::h2::flow::{RecvWindow, SendWindow};
use crate::proto::h2::frame::{
    self, check_preface, Decoded, Frame, FrameDecoder, FrameLimits, GoAway, Ping, RstStream,
    Settings, WindowUpdate, PREFACE,
};
use crate::proto::h2::stream::{check_peer_opens, State};
use crate::proto::h2::{message, settings, ErrorCode};
use crate::proto::hpack;
use crate::Request;

use stream::H2Body;

/// The most control frames (acknowledgements, `RST_STREAM`, `WINDOW_UPDATE`) queued and not
/// yet written before the connection is closed: a peer that floods `PING` or `SETTINGS`
/// without reading the answers (Go's `maxQueuedControlFrames`).
pub(crate) const MAX_QUEUED_CONTROL: usize = 10_000;

/// The most bytes queued for the writer before a handler's body write waits for room: the
/// peer's windows may allow far more than is wise to hold in memory.
pub(crate) const WRITE_QUEUE_LIMIT: usize = 512 << 10;

/// The connection's receive window, raised from 65,535 by a `WINDOW_UPDATE` at the start
/// (§6.9.2: only a `WINDOW_UPDATE` can change it). Credit comes back as data arrives.
const CONN_WINDOW: u32 = 1 << 20;

/// How many of the streams this end reset are remembered, so that what the peer sent on them
/// before it saw the reset is ignored rather than taken for a protocol error.
const RECENTLY_RESET: usize = 64;

/// How often a connection thread with streams in flight looks at its state even if no frame
/// arrives (a safety net: the events that matter also wake it).
const RECHECK: Duration = Duration::from_secs(1);

/// How long the connection thread waits for the writer to make progress sending what is
/// queued, at the end of a connection, before it closes the socket under it.
const WRITER_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the writer writes at a time, counting each for [`H2Conn::written`].
const WRITE_PIECE: usize = 16 << 10;

/// The most octets of request body one buffered chunk gathers from small `DATA` frames.
const BODY_CHUNK: usize = 16 << 10;

/// One read's size.
const READ_CHUNK: usize = 16 << 10;

/// The first read of an idle connection, into a buffer on the stack.
const IDLE_READ: usize = 1024;

/// One HTTP/2 connection, shared by its connection thread, writer thread and handlers.
pub(crate) struct H2Conn {
    /// The connection's state; see [`Core`]. Never held across socket I/O.
    pub(crate) core: Mutex<Core>,
    /// Notified when a handler returns (or the connection breaks): the connection thread's
    /// wait for its handlers at the end. Handlers wait on their stream's own condition
    /// variable (`StreamEntry::cv`).
    pub(crate) changed: Condvar,
    /// Octets the writer has written, counted piece by piece ([`WRITE_PIECE`]): what the end
    /// of a connection watches for progress while the last frames go out.
    written: std::sync::atomic::AtomicUsize,
    pub(crate) shared: Arc<ConnShared>,
    pub(crate) srv: Arc<ServerInner>,
    spawner: Spawner,
}

/// What a frame queued for the writer counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An answer the connection thread queues (bounded by [`MAX_QUEUED_CONTROL`]).
    Control,
    /// A response's headers or data (bounded by [`WRITE_QUEUE_LIMIT`] and the windows).
    Response,
}

/// A message for the writer thread.
enum Out {
    Frames {
        buf: Vec<u8>,
        kind: Kind,
    },
    /// Write what is queued, then stop and say so.
    Close,
}

/// The state of one connection: the fields below are guarded by [`H2Conn::core`] together.
pub(crate) struct Core {
    /// To the writer thread; frames are queued only under this lock.
    out: Sender<Out>,
    /// The HPACK encoder for header blocks this end sends.
    pub(crate) enc: hpack::Encoder,
    /// Streams open, or closed with a handler still running.
    pub(crate) streams: HashMap<u32, StreamEntry>,
    pub(crate) conn_send: SendWindow,
    conn_recv: RecvWindow,
    /// The peer's settings in effect.
    pub(crate) peer: settings::Values,
    /// This end's settings, sent and acknowledged.
    local: settings::Local,
    /// The stream window this end advertised (`SETTINGS_INITIAL_WINDOW_SIZE`).
    stream_window: u32,
    /// The highest stream the client opened.
    last_stream_id: u32,
    /// Streams open or half-closed (what `max_concurrent_streams` counts).
    active: usize,
    /// Handlers running, those of reset streams included.
    handlers: usize,
    max_handlers: usize,
    /// Streams whose handler waits for a place, oldest first.
    unstarted: VecDeque<Job>,
    /// The streams this end reset most recently, oldest first, at most
    /// [`RECENTLY_RESET`]: frames the peer sent on them before it saw the `RST_STREAM` are
    /// ignored, not errors (§5.1, "closed").
    reset_ids: VecDeque<u32>,
    queued_control: usize,
    pub(crate) queued_bytes: usize,
    /// A `GOAWAY` was sent: no new streams; the connection ends when the last one does.
    going_away: bool,
    /// The connection can carry nothing more (the peer left, a write failed, or a connection
    /// error): handlers' reads and writes fail.
    pub(crate) broken: bool,
}

/// One stream, in [`Core::streams`].
pub(crate) struct StreamEntry {
    pub(crate) state: State,
    pub(crate) send: SendWindow,
    recv: RecvWindow,
    /// Request body bytes received and not yet read by the handler.
    body: VecDeque<Vec<u8>>,
    /// How much of `body`'s first chunk was read.
    body_off: usize,
    /// Body bytes received so far.
    received: u64,
    content_length: Option<u64>,
    trailers: Option<HeaderMap>,
    /// The code the stream was reset with, by either end.
    pub(crate) reset: Option<ErrorCode>,
    /// A handler runs or waits to run for it.
    handler: bool,
    /// The response head went out (so a `100 Continue` no longer may).
    pub(crate) head_sent: bool,
    /// The handler's read deadline (`set_read_deadline`), else `read_timeout` from the head.
    read_deadline: Option<Instant>,
    /// What the stream's handler waits on (for window, queue room or body bytes), under
    /// [`H2Conn::core`]; notified by [`Core::wake`] and [`Core::wake_all`].
    pub(crate) cv: Arc<Condvar>,
}

/// A stream waiting for its handler.
struct Job {
    id: u32,
    req: Request,
    /// Answered by the server without the handler (431 for a header list over the limit).
    canned: Option<StatusCode>,
}

impl Core {
    /// Queues an encoded frame (or several) for the writer.
    pub(crate) fn queue(&mut self, buf: Vec<u8>, kind: Kind) {
        match kind {
            Kind::Control => self.queued_control += 1,
            Kind::Response => {}
        }
        self.queued_bytes += buf.len();
        if self.out.send(Out::Frames { buf, kind }).is_err() {
            self.broken = true;
        }
    }

    /// Queues one frame.
    pub(crate) fn queue_frame(&mut self, f: &Frame<'_>, kind: Kind) {
        let mut buf = Vec::with_capacity(frame::HEADER_LEN + 16);
        match f.encode(&mut buf) {
            Ok(()) => self.queue(buf, kind),
            Err(e) => log::error!("nethttp: http2: encoding a {} frame: {e}", f.kind()),
        }
    }

    /// Wakes the handler waiting on stream `id`, if any: its data, window or state changed.
    pub(crate) fn wake(&self, id: u32) {
        if let Some(st) = self.streams.get(&id) {
            st.cv.notify_all();
        }
    }

    /// Wakes every waiting handler: the connection's window, the write queue or the
    /// connection itself changed.
    pub(crate) fn wake_all(&self) {
        for st in self.streams.values() {
            st.cv.notify_all();
        }
    }

    /// Resets stream `id` with `code` (a `RST_STREAM`), closing it.
    pub(crate) fn reset_stream(&mut self, id: u32, code: ErrorCode) {
        self.queue_frame(
            &Frame::RstStream(RstStream {
                stream_id: id,
                code,
            }),
            Kind::Control,
        );
        if let Some(st) = self.streams.get_mut(&id) {
            st.reset.get_or_insert(code);
            let dropped = st.drop_body();
            self.release_conn(dropped);
        }
        if self.reset_ids.len() >= RECENTLY_RESET {
            self.reset_ids.pop_front();
        }
        self.reset_ids.push_back(id);
        self.wake(id);
        self.set_state(id, State::Closed);
    }

    /// True if this end reset stream `id` recently (see `reset_ids`).
    fn recently_reset(&self, id: u32) -> bool {
        self.reset_ids.contains(&id)
    }

    /// Moves stream `id` to `next`, keeping the count of active streams, and forgets it once
    /// it is closed with no handler.
    pub(crate) fn set_state(&mut self, id: u32, next: State) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        if st.state.is_active() && !next.is_active() {
            self.active -= 1;
        }
        st.state = next;
        if next == State::Closed && !st.handler {
            let dropped = st.drop_body();
            self.streams.remove(&id);
            self.release_conn(dropped);
        }
    }

    /// `n` octets of request data left this connection's buffers (read by a handler, or
    /// dropped): the connection's credit for them comes back (a `WINDOW_UPDATE` once enough
    /// is owed).
    pub(crate) fn release_conn(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        if let Some(inc) = self.conn_recv.release(n) {
            self.queue_frame(
                &Frame::WindowUpdate(WindowUpdate {
                    stream_id: 0,
                    increment: inc,
                }),
                Kind::Control,
            );
        }
    }

    /// Sends `GOAWAY` (once) with the last stream the client opened: streams above it were
    /// not processed (§6.8).
    fn go_away(&mut self, code: ErrorCode, debug: &[u8]) {
        if self.going_away && code == ErrorCode::NoError {
            return;
        }
        self.going_away = true;
        self.queue_frame(
            &Frame::GoAway(GoAway {
                last_stream_id: self.last_stream_id,
                code,
                debug_data: debug,
            }),
            Kind::Control,
        );
    }

    /// True once nothing is left to serve after a `GOAWAY`.
    fn finished(&self) -> bool {
        self.going_away && self.active == 0 && self.handlers == 0 && self.unstarted.is_empty()
    }
}

/// Serves `shared` as HTTP/2 if it speaks it: ALPN chose `h2`, or h2c is on and the
/// connection starts with the client preface (RFC 9113 §3.3). Returns the connection back,
/// with whatever was read of it still buffered, for HTTP/1 otherwise; `None` once it is
/// served (or closed).
pub(crate) fn try_serve(
    srv: &Arc<ServerInner>,
    shared: Arc<ConnShared>,
    spawner: &Spawner,
) -> Option<Arc<ConnShared>> {
    let h2 = if shared.alpn_h2 {
        true
    } else if srv.config.http2.h2c && !shared.tls {
        match sniff_preface(srv, &shared) {
            Ok(h2) => h2,
            Err(()) => {
                // Closed or silent before a byte could tell: nothing to serve.
                close_unserved(srv, &shared);
                return None;
            }
        }
    } else {
        false
    };
    if !h2 {
        return Some(shared);
    }
    // Active from here: shutdown and eviction leave an HTTP/2 connection to close itself
    // with a GOAWAY (see `on_shutdown`). Unless one of them claimed it first.
    if !shared.claim_active(srv, ConnState::New as u64) {
        close_unserved(srv, &shared);
        return None;
    }
    serve(srv, shared, spawner.clone());
    None
}

fn close_unserved(srv: &ServerInner, shared: &ConnShared) {
    let _ = shared.stream.shutdown(Shutdown::Both);
    shared.set_state(srv, ConnState::Closed);
    srv.untrack(shared.id);
}

/// Reads until the first bytes either differ from the client preface or are all of it.
/// `Err` if the connection closed or stayed silent past `read_header_timeout` first.
fn sniff_preface(srv: &ServerInner, shared: &ConnShared) -> std::result::Result<bool, ()> {
    let deadline = srv
        .config
        .read_header_timeout
        .and_then(|d| shared.accepted.checked_add(d));
    let mut rh = shared.read.lock();
    let rh = &mut *rh;
    loop {
        match check_preface(rh.buf.data()) {
            Ok(true) => return Ok(true),
            Err(_) => return Ok(false),
            Ok(false) => {}
        }
        match rh
            .buf
            .fill(&*shared.stream, &mut rh.slot, deadline, READ_CHUNK)
        {
            Ok(0) if rh.buf.is_empty() => return Err(()),
            // Closed partway: HTTP/1 reports what it got.
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(_) if rh.buf.is_empty() => return Err(()),
            Err(_) => return Ok(false),
        }
    }
}

/// Serves one HTTP/2 connection on this thread, until it ends.
fn serve(srv: &Arc<ServerInner>, shared: Arc<ConnShared>, spawner: Spawner) {
    let cfg = &srv.config.http2;
    let (tx, rx) = crossbeam_channel::unbounded();
    let stream_window = cfg
        .max_upload_buffer_per_stream
        .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_WINDOW_SIZE);
    let max_streams = cfg.max_concurrent_streams.max(1);
    let max_header_list = srv.limits.max_head_bytes;
    let mut local = settings::Local::new();
    let ours = Settings {
        max_concurrent_streams: Some(max_streams),
        initial_window_size: Some(stream_window),
        max_header_list_size: Some(u32::try_from(max_header_list).unwrap_or(u32::MAX)),
        // §8.4: this server never pushes, so SETTINGS_ENABLE_PUSH is left unsaid.
        ..Settings::default()
    };
    let conn = Arc::new(H2Conn {
        core: Mutex::new(Core {
            out: tx,
            enc: hpack::Encoder::new(hpack::DEFAULT_TABLE_SIZE),
            streams: HashMap::new(),
            conn_send: SendWindow::new(frame::DEFAULT_WINDOW_SIZE),
            conn_recv: RecvWindow::new(frame::DEFAULT_WINDOW_SIZE),
            peer: settings::Values::default(),
            local: settings::Local::new(),
            stream_window,
            last_stream_id: 0,
            active: 0,
            handlers: 0,
            max_handlers: max_streams as usize,
            unstarted: VecDeque::new(),
            queued_control: 0,
            queued_bytes: 0,
            reset_ids: VecDeque::new(),
            going_away: false,
            broken: false,
        }),
        changed: Condvar::new(),
        written: std::sync::atomic::AtomicUsize::new(0),
        shared: Arc::clone(&shared),
        srv: Arc::clone(srv),
        spawner,
    });
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    // Tells the writer to stop when this function ends, however it ends (a panic included),
    // so the writer's wait for work always ends with the connection.
    let _stop_writer = StopWriter(conn.core.lock().out.clone());
    {
        let writer = Arc::clone(&conn);
        let job = Box::new(move || {
            write_loop(&writer, &rx);
            let _ = done_tx.send(());
        });
        if let Err(e) = conn.spawner.dispatch(job) {
            log::error!("nethttp: http2: cannot start a writer thread: {e}");
            close_unserved(srv, &shared);
            return;
        }
    }
    {
        // §3.4: the server's preface is a SETTINGS frame, sent at once.
        let mut core = conn.core.lock();
        local.sent(ours);
        core.local = local;
        core.queue_frame(&Frame::Settings(ours), Kind::Control);
        if let Some(inc) = core.conn_recv.grow_to(CONN_WINDOW) {
            core.queue_frame(
                &Frame::WindowUpdate(WindowUpdate {
                    stream_id: 0,
                    increment: inc,
                }),
                Kind::Control,
            );
        }
    }
    // Shutdown asks for a GOAWAY; weak, so the hook does not keep the connection alive.
    let weak: Weak<H2Conn> = Arc::downgrade(&conn);
    let _ = shared.on_shutdown.set(Box::new(move || {
        if let Some(c) = weak.upgrade() {
            c.graceful_shutdown();
        }
    }));
    if srv.closes_conns() {
        conn.graceful_shutdown();
    }
    let buffered = shared.read.lock().buf.take_all();
    let clean = read_loop(&conn, buffered, max_header_list);

    // The end: handlers are told (their reads and writes fail unless the connection ended
    // cleanly, with nothing left to run), the writer sends what is queued, the socket closes.
    {
        let mut core = conn.core.lock();
        if !clean {
            core.broken = true;
        }
        let _ = core.out.send(Out::Close);
        core.wake_all();
    }
    conn.changed.notify_all();
    // Wait for the writer to send what is queued (the last responses of a graceful close) as
    // long as it makes progress; a peer that stops reading for as long as the writer's own
    // stall timeout allows (at least WRITER_CLOSE_WAIT) gets its connection cut, so the
    // writer's blocked write ends. Not less: the kernel frees room in a socket's buffers in
    // steps of many kilobytes, so a reader slower than a few tens of KB/s could go seconds
    // without the writer moving, and would lose the end of its last response.
    // (After a connection error, only the GOAWAY is owed: WRITER_CLOSE_WAIT.)
    let close_wait = match cfg_stall(srv) {
        Some(s) if clean => s.max(WRITER_CLOSE_WAIT),
        _ => WRITER_CLOSE_WAIT,
    };
    // Progress is what the writer wrote (counted a piece at a time), not what left the
    // queue (a whole batch at a time, which a slow reader takes longer than the wait over).
    let mut seen = conn.written.load(std::sync::atomic::Ordering::SeqCst);
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = done_rx.recv_timeout(close_wait) {
        let now = conn.written.load(std::sync::atomic::Ordering::SeqCst);
        if now != seen {
            seen = now;
            continue;
        }
        let _ = shared.tcp.shutdown(Shutdown::Both);
        let _ = done_rx.recv_timeout(WRITER_CLOSE_WAIT);
        break;
    }
    // FIN after the last frame, then a short wait for the client's, so a GOAWAY is read
    // rather than lost to a reset.
    conn::linger_close(&shared);
    {
        let mut core = conn.core.lock();
        core.broken = true;
        while core.handlers > 0 {
            conn.changed.wait_for(&mut core, RECHECK);
        }
        core.unstarted.clear();
        core.streams.clear();
    }
    shared.set_state(srv, ConnState::Closed);
    srv.untrack(shared.id);
}

/// The writer's stall timeout (`Config::inactivity_timeout`).
fn cfg_stall(srv: &ServerInner) -> Option<Duration> {
    srv.config.inactivity_timeout
}

/// Sends the writer its `Close` when dropped.
struct StopWriter(Sender<Out>);

impl Drop for StopWriter {
    fn drop(&mut self) {
        let _ = self.0.send(Out::Close);
    }
}

impl H2Conn {
    /// `Server::shutdown`: a `GOAWAY` with the last stream opened; the connection closes once
    /// those streams are done (at once if none is). Never blocks.
    fn graceful_shutdown(&self) {
        let finished = {
            let mut core = self.core.lock();
            core.go_away(ErrorCode::NoError, b"");
            core.finished()
        };
        if finished {
            self.wake_reader();
        }
    }

    /// Wakes the connection thread from its read: used only when nothing more will be read.
    fn wake_reader(&self) {
        let _ = self.shared.tcp.shutdown(Shutdown::Read);
    }
}

/// Per-connection decoding state, owned by the connection thread.
struct Reader {
    dec: FrameDecoder,
    hdec: hpack::Decoder,
    /// A header block awaiting its `CONTINUATION` frames: stream, fragments so far,
    /// `END_STREAM`.
    block: Option<(u32, Vec<u8>, bool)>,
}

/// Reads frames until the connection ends. True if it ended cleanly (after a `GOAWAY` with
/// every stream done, or an idle timeout), false if the peer left or broke the protocol.
fn read_loop(conn: &Arc<H2Conn>, buffered: Vec<u8>, max_header_list: usize) -> bool {
    let srv = &conn.srv;
    let stream = &*conn.shared.stream;
    let mut slot = TimeoutSlot::default();
    let mut buf = buffered;
    let mut start = 0usize;
    let mut reader = Reader {
        dec: FrameDecoder::new(FrameLimits {
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_block: max_header_list.saturating_mul(2).max(64 << 10),
        }),
        hdec: hpack::Decoder::new(hpack::DEFAULT_TABLE_SIZE),
        block: None,
    };
    reader.hdec.set_max_header_list_size(max_header_list);
    let mut preface = false;
    let mut settings_seen = false;
    let mut idle_since: Option<Instant> = None;
    // The state word stored while no stream is open (the connection may then be evicted at
    // `max_connections`), claimed back when the client sends anything. The connection-state
    // hook hears `Idle` when the last stream ends and `Active` when one opens (`hook_idle`),
    // not every frame.
    let mut idle_word: Option<u64> = None;
    let mut hook_idle = false;
    loop {
        // Decode what is buffered.
        loop {
            let data = &buf[start..];
            if !preface {
                match check_preface(data) {
                    Ok(true) => {
                        preface = true;
                        start += PREFACE.len();
                        continue;
                    }
                    Ok(false) => break,
                    Err(e) => {
                        log::debug!("http2 from {}: {e}", conn.shared.remote_addr);
                        return false;
                    }
                }
            }
            let step = match reader.dec.decode(data) {
                Ok(Decoded::Partial) => break,
                Ok(Decoded::Frame { frame, len }) => {
                    // §3.4: the preface's SETTINGS frame comes first.
                    let first_ok = settings_seen || matches!(frame, Frame::Settings(_));
                    settings_seen = true;
                    let r = if first_ok {
                        on_frame(conn, &mut reader, frame)
                    } else {
                        Err(Error::h2_connection(
                            ErrorCode::Protocol,
                            "connection preface not followed by settings",
                        ))
                    };
                    r.map(|()| len)
                }
                Ok(Decoded::StreamError { error, len }) => {
                    if let ErrorKind::Http2(Http2Error::Stream { stream_id, code }) = error.kind() {
                        log::debug!("http2 from {}: {error}", conn.shared.remote_addr);
                        conn.core.lock().reset_stream(stream_id, code);
                    }
                    Ok(len)
                }
                Err(e) => Err(e),
            };
            match step {
                Ok(len) => start += len,
                Err(e) => {
                    connection_error(conn, &e);
                    return false;
                }
            }
            let mut core = conn.core.lock();
            if core.queued_control > MAX_QUEUED_CONTROL {
                log::debug!(
                    "http2 from {}: {} control frames queued unread; closing",
                    conn.shared.remote_addr,
                    core.queued_control
                );
                core.broken = true;
                core.wake_all();
                return false;
            }
        }
        // Keep the buffer small: move the partial frame to the front.
        if start > 0 {
            buf.drain(..start);
            start = 0;
        }
        start_waiting(conn);
        let now = Instant::now();
        // What to tell the connection-state hook and the accept loop, once `core` is let go:
        // the hook is the user's code, and `went_idle` takes the server's table lock, which
        // an eviction holds while it takes `core` (a connection that went idle under `core`
        // and then waited for the table deadlocked with it).
        let mut tell_hook = None;
        let mut tell_idle = false;
        let deadline = {
            let core = conn.core.lock();
            if core.finished() {
                return true;
            }
            if core.broken {
                return false;
            }
            if !preface || !settings_seen {
                // Go allows a new connection its read-header time until the client's first
                // SETTINGS, not its idle timeout.
                srv.config
                    .read_header_timeout
                    .and_then(|d| conn.shared.accepted.checked_add(d))
            } else if core.active == 0 && core.handlers == 0 {
                let since = *idle_since.get_or_insert(now);
                if idle_word.is_none() && !core.going_away {
                    idle_word = Some(conn.shared.store_idle(srv, since));
                    if !hook_idle {
                        hook_idle = true;
                        tell_hook = Some(ConnState::Idle);
                    }
                    tell_idle = true;
                }
                srv.config.idle_timeout.and_then(|d| since.checked_add(d))
            } else {
                if std::mem::take(&mut hook_idle) {
                    tell_hook = Some(ConnState::Active);
                }
                idle_since = None;
                Some(now + RECHECK)
            }
        };
        if let Some(state) = tell_hook {
            srv.conn_state_changed(conn.shared.remote_addr, state);
        }
        if tell_idle {
            srv.went_idle();
        }
        let len = buf.len();
        let r = if idle_since.is_some() && len == 0 {
            // Idle with nothing buffered: the read buffer goes back to the allocator while
            // the connection waits (as HTTP/1's does), and the first bytes come into a small
            // one on the stack.
            buf = Vec::new();
            let mut small = [0u8; IDLE_READ];
            let r = deadline::read(stream, &mut slot, deadline, &mut small);
            if let Ok(n) = r {
                buf.extend_from_slice(&small[..n]);
            }
            r
        } else {
            buf.resize(len + READ_CHUNK, 0);
            deadline::read(stream, &mut slot, deadline, &mut buf[len..])
        };
        match r {
            Ok(0) => {
                buf.truncate(len);
                return conn.core.lock().finished();
            }
            Ok(n) => {
                buf.truncate(len + n);
                if let Some(word) = idle_word.take() {
                    if !conn.shared.claim_active_quietly(word) {
                        // Evicted at max_connections (or shut down) while idle: no new
                        // stream is served; what the client just sent is past the GOAWAY.
                        conn.graceful_shutdown();
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                buf.truncate(len);
                if !preface || !settings_seen {
                    return false;
                }
                if idle_since.is_some() && deadline.is_some_and(|d| Instant::now() >= d) {
                    // Go's IdleTimeout: a GOAWAY, then close.
                    let mut core = conn.core.lock();
                    if core.active == 0 && core.handlers == 0 {
                        core.go_away(ErrorCode::NoError, b"");
                        return true;
                    }
                }
            }
            Err(e) => {
                log::debug!("http2 read from {}: {e}", conn.shared.remote_addr);
                return conn.core.lock().finished();
            }
        }
    }
}

/// Ends the connection for a connection error: `GOAWAY` with its code (§5.4.1).
fn connection_error(conn: &H2Conn, e: &Error) {
    log::debug!("http2 from {}: {e}", conn.shared.remote_addr);
    let code = match e.kind() {
        ErrorKind::Http2(h) => h.code(),
        _ => ErrorCode::Internal,
    };
    let mut core = conn.core.lock();
    core.go_away(code, e.to_string().as_bytes());
    core.broken = true;
    core.wake_all();
}

/// Acts on one frame. `Err` is a connection error.
fn on_frame(conn: &Arc<H2Conn>, rd: &mut Reader, frame: Frame<'_>) -> Result<()> {
    match frame {
        Frame::Headers(h) => {
            if h.end_headers {
                on_header_block(conn, rd, h.stream_id, h.fragment, h.end_stream)
            } else {
                rd.block = Some((h.stream_id, h.fragment.to_vec(), h.end_stream));
                Ok(())
            }
        }
        Frame::Continuation(c) => {
            // The decoder checked the sequence (§6.10) and bounded the block's size.
            let Some((id, mut block, end_stream)) = rd.block.take() else {
                return Err(Error::h2_connection(
                    ErrorCode::Protocol,
                    "continuation frame without a header block",
                ));
            };
            block.extend_from_slice(c.fragment);
            if c.end_headers {
                on_header_block(conn, rd, id, &block, end_stream)
            } else {
                rd.block = Some((id, block, end_stream));
                Ok(())
            }
        }
        Frame::Data(d) => on_data(conn, d),
        Frame::RstStream(r) => {
            let mut core = conn.core.lock();
            if r.stream_id > core.last_stream_id {
                // §6.4: RST_STREAM on an idle stream (one the GOAWAY's ignored: fine).
                if core.going_away {
                    return Ok(());
                }
                return Err(Error::h2_connection(
                    ErrorCode::Protocol,
                    format!("rst_stream on idle stream {}", r.stream_id),
                ));
            }
            if let Some(st) = core.streams.get_mut(&r.stream_id) {
                st.reset.get_or_insert(r.code);
                let dropped = st.drop_body();
                core.release_conn(dropped);
                core.wake(r.stream_id);
                core.set_state(r.stream_id, State::Closed);
            }
            Ok(())
        }
        Frame::Settings(s) => {
            let mut core = conn.core.lock();
            let changes = core.peer.apply(&s);
            if changes.window_delta != 0 {
                // §6.9.2: every stream's window moves by the change; past 2^31-1 is a
                // connection error.
                let delta = changes.window_delta;
                for st in core.streams.values_mut() {
                    st.send.adjust(0, delta)?;
                }
            }
            if let Some(size) = changes.header_table_size {
                core.enc.set_max_table_size(size as usize);
            }
            core.queue_frame(&Frame::SettingsAck, Kind::Control);
            core.wake_all();
            Ok(())
        }
        Frame::SettingsAck => {
            let mut core = conn.core.lock();
            let changes = core.local.ack()?;
            drop(core);
            let _ = changes;
            Ok(())
        }
        Frame::Ping(p) => {
            if !p.ack {
                // §6.7: answered with the same data, ACK set.
                conn.core.lock().queue_frame(
                    &Frame::Ping(Ping {
                        ack: true,
                        data: p.data,
                    }),
                    Kind::Control,
                );
            }
            Ok(())
        }
        Frame::GoAway(g) => {
            log::debug!(
                "http2: {} sent goaway ({}), last stream {}",
                conn.shared.remote_addr,
                g.code,
                g.last_stream_id
            );
            // As Go: the peer opens nothing more; finish what is open, then close.
            conn.core.lock().go_away(ErrorCode::NoError, b"");
            Ok(())
        }
        Frame::WindowUpdate(w) => {
            let mut core = conn.core.lock();
            if w.stream_id == 0 {
                core.conn_send.increase(0, w.increment)?;
                core.wake_all();
            } else if let Some(st) = core.streams.get_mut(&w.stream_id) {
                if let Err(e) = st.send.increase(w.stream_id, w.increment) {
                    log::debug!("http2 from {}: {e}", conn.shared.remote_addr);
                    core.reset_stream(w.stream_id, ErrorCode::FlowControl);
                } else {
                    core.wake(w.stream_id);
                }
            } else if w.stream_id > core.last_stream_id && !core.going_away {
                return Err(Error::h2_connection(
                    ErrorCode::Protocol,
                    format!("window_update on idle stream {}", w.stream_id),
                ));
            }
            Ok(())
        }
        // §8.4: a client cannot push.
        Frame::PushPromise(_) => Err(Error::h2_connection(
            ErrorCode::Protocol,
            "push_promise frame from a client",
        )),
        // Priority signals are deprecated (§5.3) and ignored; unknown frames too (§5.5).
        Frame::Priority(_) | Frame::Unknown(_) => Ok(()),
    }
}

/// A `DATA` frame: flow control (§6.9), then the bytes to the stream's buffer.
fn on_data(conn: &H2Conn, d: frame::Data<'_>) -> Result<()> {
    let id = d.stream_id;
    let flow = d.flow_controlled_len();
    let mut core = conn.core.lock();
    core.conn_recv.receive(0, flow)?;
    // The connection's credit comes back as the bytes leave this connection's buffers (a
    // handler reads them, or they are dropped), as Go's server does: what one connection
    // buffers is bounded by its window (CONN_WINDOW), not by streams × stream window. Bytes
    // that are not kept (padding, data for a stream that is gone) give it back at once.
    let last = core.last_stream_id;
    let Some(st) = core.streams.get_mut(&id).filter(|s| s.state.can_recv()) else {
        core.release_conn(flow);
        if id > last {
            if core.going_away {
                // A stream the GOAWAY said would be ignored (§6.8): its data is dropped, its
                // credit already given back.
                return Ok(());
            }
            return Err(Error::h2_connection(
                ErrorCode::Protocol,
                format!("data frame on idle stream {id}"),
            ));
        }
        // §5.1: DATA on a stream we reset, sent before the peer saw the reset: ignored (its
        // connection credit was given back above). On another closed or half-closed
        // (remote) stream: a stream error.
        if !core.recently_reset(id) {
            core.reset_stream(id, ErrorCode::StreamClosed);
        }
        return Ok(());
    };
    if let Err(e) = st.recv.receive(id, flow) {
        log::debug!("http2 from {}: {e}", conn.shared.remote_addr);
        core.release_conn(flow);
        core.reset_stream(id, ErrorCode::FlowControl);
        return Ok(());
    }
    let mut update = None;
    let padding = flow - d.data.len() as u32;
    if padding > 0 {
        // Padding is never read by the handler: its credit comes back now.
        update = st.recv.release(padding);
    }
    st.received += d.data.len() as u64;
    let too_long = st.content_length.is_some_and(|n| st.received > n);
    let too_short = d.end_stream && st.content_length.is_some_and(|n| st.received != n);
    if !d.data.is_empty() {
        // Small frames go into the last chunk, up to BODY_CHUNK: the windows bound the
        // octets, and one allocation (and queue slot) a frame would cost far more than the
        // octets for a peer that sends one-octet frames.
        match st.body.back_mut() {
            Some(last) if last.len() + d.data.len() <= BODY_CHUNK => {
                last.extend_from_slice(d.data);
            }
            _ => st.body.push_back(d.data.to_vec()),
        }
    }
    if let Some(inc) = update {
        core.queue_frame(
            &Frame::WindowUpdate(WindowUpdate {
                stream_id: id,
                increment: inc,
            }),
            Kind::Control,
        );
    }
    core.release_conn(padding);
    if too_long || too_short {
        // §8.1.1: DATA that does not add up to content-length makes the request malformed.
        core.reset_stream(id, ErrorCode::Protocol);
    } else {
        core.wake(id);
        if d.end_stream {
            let next = core
                .streams
                .get(&id)
                .map_or(State::Closed, |s| s.state.recv_end());
            core.set_state(id, next);
        }
    }
    Ok(())
}

/// A whole header block: a new request, or a request's trailers.
fn on_header_block(
    conn: &Arc<H2Conn>,
    rd: &mut Reader,
    id: u32,
    block: &[u8],
    end_stream: bool,
) -> Result<()> {
    // Always decoded, so HPACK stays in step with the peer (RFC 7541 §2.2).
    let fields = match rd.hdec.decode(block) {
        Ok(f) => Some(f),
        Err(e) if matches!(e.kind(), ErrorKind::TooLarge(TooLarge::Head)) => None,
        Err(e) => return Err(e),
    };
    let mut core = conn.core.lock();
    if let Some(st) = core.streams.get_mut(&id) {
        // Trailers (§8.1): only on a stream still receiving, and they end it. On a stream
        // we reset, sent before the peer saw the reset: ignored.
        if st.reset.is_some() {
        } else if !st.state.can_recv() {
            core.reset_stream(id, ErrorCode::StreamClosed);
        } else if !end_stream {
            core.reset_stream(id, ErrorCode::Protocol);
        } else {
            let map = fields.map(|f| message::trailers(id, &f));
            match map {
                Some(Ok(map)) if st.content_length.is_none_or(|n| n == st.received) => {
                    st.trailers = Some(map);
                    let next = st.state.recv_end();
                    core.wake(id);
                    core.set_state(id, next);
                }
                _ => core.reset_stream(id, ErrorCode::Protocol),
            }
        }
        return Ok(());
    }
    if id <= core.last_stream_id && core.recently_reset(id) {
        // §5.1: trailers the peer sent before it saw our RST_STREAM (decoded above, so HPACK
        // stays in step); ignored.
        return Ok(());
    }
    if id <= core.last_stream_id && id % 2 == 1 {
        // §5.1: HEADERS on a closed stream.
        return Err(Error::h2_connection(
            ErrorCode::StreamClosed,
            format!("headers frame on closed stream {id}"),
        ));
    }
    check_peer_opens(id, core.last_stream_id, true)?;
    if core.going_away {
        // §6.8: streams after the GOAWAY's last stream are not processed.
        return Ok(());
    }
    core.last_stream_id = id;
    if core.active >= core.max_handlers {
        // §5.1.2: past SETTINGS_MAX_CONCURRENT_STREAMS.
        core.reset_stream(id, ErrorCode::RefusedStream);
        return Ok(());
    }
    let (parts, canned) = match fields {
        Some(f) => match message::request_parts(id, f) {
            Ok(p) => (p, None),
            Err(e) => {
                log::debug!("http2 from {}: {e}", conn.shared.remote_addr);
                core.reset_stream(id, ErrorCode::Protocol);
                return Ok(());
            }
        },
        None => (
            // The header list was over the limit: Go answers 431 without the handler.
            message::RequestParts {
                method: Method::GET,
                scheme: None,
                authority: None,
                target: Uri::from_static("/"),
                headers: HeaderMap::new(),
                content_length: None,
            },
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        ),
    };
    let state = State::Idle.open(id, end_stream, false)?;
    let known_len = if end_stream {
        Some(0)
    } else {
        parts.content_length
    };
    if end_stream && parts.content_length.is_some_and(|n| n != 0) {
        core.reset_stream(id, ErrorCode::Protocol);
        return Ok(());
    }
    let read_deadline = conn
        .srv
        .config
        .read_timeout
        .and_then(|d| Instant::now().checked_add(d));
    let initial = core.peer.initial_window_size;
    let stream_window = core.stream_window;
    core.streams.insert(
        id,
        StreamEntry {
            state,
            send: SendWindow::new(initial),
            recv: RecvWindow::new(stream_window),
            body: VecDeque::new(),
            body_off: 0,
            received: 0,
            content_length: parts.content_length,
            trailers: None,
            reset: None,
            handler: true,
            head_sent: false,
            read_deadline,
            cv: Arc::new(Condvar::new()),
        },
    );
    core.active += 1;
    let expect_continue = parts
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let body = crate::Body::incoming(Box::new(H2Body::new(
        Arc::clone(conn),
        id,
        known_len,
        expect_continue && !end_stream,
    )));
    let mut req = Request::from_parts(
        parts.method,
        parts.target,
        Version::HTTP_2,
        parts.headers,
        body,
        Some(conn.shared.remote_addr),
    );
    req.set_tls(conn.shared.tls);
    let job = Job { id, req, canned };
    // Streams already waiting go first: a new one starts at once only if none waits.
    if core.unstarted.is_empty()
        && core.handlers < core.max_handlers
        && take_handler_place(&conn.srv)
    {
        core.handlers += 1;
        drop(core);
        start_handler(conn, job);
    } else if core.handlers == 0 {
        // The server's limit on handlers is reached and no handler of this connection will
        // take the stream when it finishes: refused, which clients retry (§8.7).
        log::debug!(
            "http2 from {}: stream {id} refused: {} handlers running on the server",
            conn.shared.remote_addr,
            conn.srv.config.http2.max_handlers
        );
        if let Some(st) = core.streams.get_mut(&id) {
            st.handler = false;
        }
        core.reset_stream(id, ErrorCode::RefusedStream);
    } else if core.unstarted.len() >= 4 * core.max_handlers {
        // Rapid reset (CVE-2023-44487): streams opened and reset faster than their handlers
        // finish pile up here. Go ends the connection the same way.
        return Err(Error::h2_connection(
            ErrorCode::EnhanceYourCalm,
            "too many streams waiting for a handler",
        ));
    } else {
        core.unstarted.push_back(job);
        drop(core);
        start_waiting(conn);
    }
    Ok(())
}

/// Starts streams waiting for a handler while this connection and the server have places
/// for them: a place freed by another connection's handler is taken here (the connection
/// thread calls this as it loops, at least every [`RECHECK`] while streams are open), not
/// only when one of this connection's handlers finishes.
fn start_waiting(conn: &Arc<H2Conn>) {
    loop {
        let job = {
            let mut core = conn.core.lock();
            if core.broken || core.handlers >= core.max_handlers {
                return;
            }
            let job = loop {
                match core.unstarted.pop_front() {
                    // Reset while it waited: it needs no handler.
                    Some(j) if core.streams.get(&j.id).is_none_or(|s| s.reset.is_some()) => {
                        if let Some(st) = core.streams.get_mut(&j.id) {
                            st.handler = false;
                        }
                        core.set_state(j.id, State::Closed);
                    }
                    Some(j) => break j,
                    None => return,
                }
            };
            if !take_handler_place(&conn.srv) {
                core.unstarted.push_front(job);
                return;
            }
            core.handlers += 1;
            job
        };
        start_handler(conn, job);
    }
}

/// Takes one of the server's places for a running HTTP/2 handler
/// (`Http2Config::max_handlers`); false at the limit.
fn take_handler_place(srv: &ServerInner) -> bool {
    let max = srv.config.http2.max_handlers;
    let before = srv
        .h2_handlers
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if max != 0 && before >= max {
        srv.h2_handlers
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        return false;
    }
    true
}

/// Gives back a place [`take_handler_place`] took.
fn give_handler_place(srv: &ServerInner) {
    srv.h2_handlers
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

/// Runs `job` on a cached thread, then the streams waiting for a handler, one by one.
fn start_handler(conn: &Arc<H2Conn>, job: Job) {
    let c = Arc::clone(conn);
    let id = job.id;
    let run = Box::new(move || {
        let mut next = Some(job);
        while let Some(job) = next {
            let mut place = HandlerPlace {
                conn: &c,
                id: job.id,
                armed: true,
            };
            stream::run(&c, job.id, job.req, job.canned);
            place.armed = false;
            let mut core = c.core.lock();
            next = loop {
                match core.unstarted.pop_front() {
                    // Reset while it waited: it needs no handler (Go skips it too).
                    // Or the connection died: Go never starts those either.
                    Some(j)
                        if core.broken
                            || core.streams.get(&j.id).is_none_or(|s| s.reset.is_some()) =>
                    {
                        if let Some(st) = core.streams.get_mut(&j.id) {
                            st.handler = false;
                        }
                        core.set_state(j.id, State::Closed);
                    }
                    Some(j) => break Some(j),
                    None => break None,
                }
            };
            if next.is_none() {
                core.handlers -= 1;
                give_handler_place(&c.srv);
                let finished = core.finished();
                drop(core);
                c.changed.notify_all();
                if finished {
                    c.wake_reader();
                }
            }
        }
    });
    if let Err(e) = conn.spawner.dispatch(run) {
        log::error!("nethttp: http2: cannot start a handler thread: {e}");
        let mut core = conn.core.lock();
        core.handlers -= 1;
        give_handler_place(&conn.srv);
        if let Some(st) = core.streams.get_mut(&id) {
            st.handler = false;
        }
        core.reset_stream(id, ErrorCode::Internal);
    }
}

/// A running handler's place, given back if its thread unwinds out of `stream::run` (a panic
/// after the handler's own `catch_unwind`, in the code that finishes the stream): the
/// connection would otherwise count the handler as running forever and never end. Streams
/// still waiting for a handler are started by the next handler to finish or the next stream
/// to open, or dropped when the connection ends.
struct HandlerPlace<'a> {
    conn: &'a Arc<H2Conn>,
    id: u32,
    armed: bool,
}

impl Drop for HandlerPlace<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let finished = {
            let mut core = self.conn.core.lock();
            if let Some(st) = core.streams.get_mut(&self.id) {
                st.handler = false;
            }
            core.reset_stream(self.id, ErrorCode::Internal);
            core.handlers -= 1;
            give_handler_place(&self.conn.srv);
            core.finished()
        };
        self.conn.changed.notify_all();
        if finished {
            self.conn.wake_reader();
        }
    }
}

/// The writer thread: writes queued frames in order, in batches, until told to close or a
/// write fails.
fn write_loop(conn: &H2Conn, rx: &Receiver<Out>) {
    const BATCH: usize = 64 << 10;
    let stream = &*conn.shared.stream;
    let stall = conn.srv.config.inactivity_timeout;
    let mut slot = TimeoutSlot::default();
    let mut batch: Vec<u8> = Vec::new();
    let mut closing = false;
    // Waits for work for as long as the connection lives: the connection thread's `Close`
    // (or its end, which drops the channel) ends it.
    while !closing {
        let Ok(first) = rx.recv() else { return };
        batch.clear();
        let (mut control, mut bytes) = (0usize, 0usize);
        let mut take = |m: Out, batch: &mut Vec<u8>| match m {
            Out::Frames { buf, kind } => {
                if kind == Kind::Control {
                    control += 1;
                }
                bytes += buf.len();
                batch.extend_from_slice(&buf);
                false
            }
            Out::Close => true,
        };
        closing = take(first, &mut batch);
        while !closing && batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => closing = take(m, &mut batch),
                Err(_) => break,
            }
        }
        // In pieces, each counted once written, so the end of the connection can tell a
        // slow reader from one that stopped.
        let mut r = Ok(());
        for piece in batch.chunks(WRITE_PIECE) {
            r = deadline::write_all_stalled(stream, &mut slot, None, stall, &[piece]);
            if r.is_err() {
                break;
            }
            conn.written
                .fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
        }
        let mut core = conn.core.lock();
        let was_full = core.queued_bytes >= WRITE_QUEUE_LIMIT;
        core.queued_control -= control.min(core.queued_control);
        core.queued_bytes -= bytes.min(core.queued_bytes);
        if let Err(e) = r {
            log::debug!("http2 write to {}: {e}", conn.shared.remote_addr);
            core.broken = true;
            core.wake_all();
            drop(core);
            conn.changed.notify_all();
            // Wakes the connection thread's read.
            let _ = conn.shared.tcp.shutdown(Shutdown::Both);
            return;
        }
        if was_full && core.queued_bytes < WRITE_QUEUE_LIMIT {
            core.wake_all();
        }
    }
}

impl StreamEntry {
    /// Forgets the buffered body and trailers of a reset stream: its handler's reads fail
    /// from now on, so they would only hold memory (up to the stream window each, for as long
    /// as the handler runs or waits to run).
    /// Returns how many body bytes it dropped, whose connection credit the caller gives back.
    fn drop_body(&mut self) -> u32 {
        let held: usize = self.body.iter().map(Vec::len).sum::<usize>() - self.body_off;
        self.body = VecDeque::new();
        self.body_off = 0;
        self.trailers = None;
        u32::try_from(held).unwrap_or(u32::MAX)
    }

    /// Copies buffered body bytes into `out`; returns how many.
    fn take_body(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some(chunk) = self.body.front() else {
                break;
            };
            let rest = &chunk[self.body_off..];
            let k = rest.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&rest[..k]);
            n += k;
            self.body_off += k;
            if self.body_off == chunk.len() {
                self.body.pop_front();
                self.body_off = 0;
            }
        }
        n
    }
}

/// How long a wait may last: the earlier of a deadline and the stall timeout from now.
fn wait_deadline(deadline: Option<Instant>, stall: Option<Duration>) -> Option<Instant> {
    deadline::earliest(deadline, deadline::after(stall))
}

/// The error of a stream that can carry nothing more.
fn stream_gone(broken: bool, reset: Option<ErrorCode>) -> io::Error {
    match (broken, reset) {
        (_, Some(code)) => io::Error::new(
            io::ErrorKind::ConnectionReset,
            format!("http2 stream reset: {code}"),
        ),
        _ => io::Error::new(io::ErrorKind::ConnectionAborted, "http2 connection closed"),
    }
}
