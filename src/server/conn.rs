//! One server connection: Go's `conn.serve` loop on the connection's own thread.
//!
//! Ownership of the socket halves:
//! - The read half (the read buffer, the current request body's decoder, the read timeout
//!   setting) is [`ReadHalf`], behind `ConnShared::read`. Holding that lock *is* owning the read
//!   half, so it is held across blocking reads; the serve loop holds it while reading a head and
//!   the request [`Body`] while reading body bytes. The only other taker is `hijack`, which waits
//!   at most for one read's deadline.
//! - The write half (the response buffers, the write timeout setting) is [`WriteHalf`], owned by
//!   the serve loop and lent to the response writer for one request; it needs no lock.
//! - `ConnShared::cont` serialises the one write that does not come from the response writer:
//!   `100 Continue`, sent by the body on its first read.
//!
//! Who may close an idle connection: a connection between requests (`Idle`, or `New` before
//! its first byte) is closed by the server from another thread only after *claiming* it — a
//! compare-exchange of its state word from the value its own thread stored to [`CLOSING`]
//! (`ConnShared::claim_for_close`: eviction at `max_connections`, shutdown). Its own thread
//! claims it the same way, from that value to `Active`, when the first byte of its next request
//! is in its buffer (`claim_active`). Exactly one of the two succeeds. A connection whose
//! thread won is mid-request and is never closed as idle; one the server won is closed without
//! reading further, even if request bytes had just arrived: that request met a connection
//! already closing, the keep-alive race every HTTP client handles (as when an idle timeout
//! fires), and no handler saw it.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::EXPECT;
use http::{HeaderMap, Version};
use parking_lot::Mutex;

use super::response::{ConnWriter, ReqInfo};
use super::{ConnState, Request, ServerInner};
use crate::body::{Body, Incoming};
use crate::bufio::{self, ReadBuf};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::net::Stream;
use crate::proto::body::BodyDecoder;
use crate::proto::date::DateCache;
use crate::proto::framing::{self, Framing};
pub(crate) use crate::proto::head::{connection_has_token as has_connection_token, wants_close};
use crate::proto::head::{HeadScanner, RequestHead};
use crate::proto::Limits;

/// The most of an unread request body the server reads and discards to keep the connection
/// (Go's `maxPostHandlerReadBytes`).
pub(crate) const MAX_DRAIN: u64 = 256 << 10;

/// The read buffer of a connection: enough for the head of a typical request in one read. A
/// larger head grows it for that request; body reads of this size or more bypass it. It is
/// released while the connection waits for its next request (the wait reads into the
/// thread's stack), so an idle keep-alive connection holds none.
///
/// This size and [`HEAD_BUF`] are above glibc's per-thread cache of small freed blocks (1032
/// bytes): a buffer freed by an idle connection's thread goes back to the shared heap for
/// busy connections, instead of staying parked with that thread.
const READ_BUF_SIZE: usize = 1536;

/// The buffer a response head is built in; released while the connection is idle.
const HEAD_BUF: usize = 1536;

/// How long a closing connection waits for the client's FIN after the server's, so the client
/// is not sent a reset that could destroy the response it has not read yet.
const LINGER: Duration = Duration::from_millis(500);

/// State shared by the serve loop, the request body and the server's connection table.
pub(crate) struct ConnShared {
    /// The connection HTTP runs over: the TCP socket itself, or TLS over it. Reads happen only
    /// under `read`; writes only from the thread serving the connection (the response writer)
    /// and under `cont` (100 Continue).
    pub(crate) stream: Arc<dyn Stream>,
    /// The TCP socket underneath, which `shutdown` and `close` shut down from other threads.
    pub(crate) tcp: Arc<TcpStream>,
    /// Whether `stream` is TLS.
    pub(crate) tls: bool,
    pub(crate) remote_addr: SocketAddr,
    /// The read half; see the module docs.
    pub(crate) read: Mutex<ReadHalf>,
    /// Expect: 100-continue bookkeeping for the current request.
    pub(crate) cont: Mutex<Continue>,
    /// The connection's state word: the low 8 bits a [`ConnState`] (or [`CLOSING`]), the rest,
    /// while `Idle`, the microseconds from the server's `epoch` to when it went idle (zero in
    /// other states), so whoever claims an idle connection reads its state and idle time in
    /// one load. Stored by the serve loop (and the hijack); claimed, by compare-exchange only,
    /// by the serve loop (`claim_active`) or by the accept loop and `shutdown`
    /// (`claim_for_close`). See the module docs.
    state: AtomicU64,
    pub(crate) id: u64,
    /// The request whose body ran over a handler's limit (`MaxBytesReader`), or 0: its rest is
    /// not drained, so the connection closes after the response (Go's `requestTooLarge`).
    /// Atomic rather than in `read`, so the response writer never waits for the read half.
    over_limit: AtomicU64,
    /// When the connection was accepted: `shutdown` gives a connection still in `New` state
    /// until `Config::shutdown_new_conn_grace` after this to send its first request.
    pub(crate) accepted: Instant,
    /// TLS chose HTTP/2 by ALPN (`h2`); set before the connection is shared.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) alpn_h2: bool,
    /// Set by an HTTP/2 connection: what `Server::shutdown` calls instead of closing the
    /// connection when idle (it sends GOAWAY and closes once its streams are done). Must not
    /// block; called under the connection table's lock, maybe more than once.
    pub(crate) on_shutdown: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// Whether `100 Continue` may still be sent for a request.
#[derive(Debug, Default)]
pub(crate) struct Continue {
    req_id: u64,
    pending: bool,
    sent: bool,
}

/// The read half of a connection: buffered bytes and the state of the body being read.
pub(crate) struct ReadHalf {
    pub(crate) buf: ReadBuf,
    pub(crate) slot: TimeoutSlot,
    body: BodyState,
    hijacked: bool,
    /// Finds request heads in `buf`; holds the head and body limits.
    scanner: HeadScanner<RequestHead>,
}

struct BodyState {
    req_id: u64,
    decoder: BodyDecoder,
    error: Option<ErrorKind>,
    deadline: Option<Instant>,
    inactivity: Option<Duration>,
}

impl ConnShared {
    pub(crate) fn new(
        tcp: Arc<TcpStream>,
        stream: Arc<dyn Stream>,
        tls: bool,
        remote_addr: SocketAddr,
        id: u64,
        limits: Limits,
        accepted: Instant,
    ) -> Self {
        ConnShared {
            stream,
            tcp,
            tls,
            remote_addr,
            read: Mutex::new(ReadHalf {
                buf: ReadBuf::released(READ_BUF_SIZE),
                slot: TimeoutSlot::default(),
                body: BodyState {
                    req_id: 0,
                    decoder: BodyDecoder::empty(),
                    error: None,
                    deadline: None,
                    inactivity: None,
                },
                hijacked: false,
                scanner: HeadScanner::request(limits),
            }),
            cont: Mutex::new(Continue::default()),
            state: AtomicU64::new(ConnState::New as u64),
            id,
            over_limit: AtomicU64::new(0),
            accepted,
            alpn_h2: false,
            on_shutdown: std::sync::OnceLock::new(),
        }
    }

    /// Reads body bytes of request `req_id` into `out`.
    pub(crate) fn read_body(&self, req_id: u64, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut rh = self.read.lock();
        rh.read_body(&*self.stream, req_id, out)
            .map_err(Error::into_io)
    }

    /// Sends `100 Continue` for `req_id` if it is still wanted (first body read).
    pub(crate) fn send_continue(&self, req_id: u64) -> io::Result<()> {
        let mut c = self.cont.lock();
        if c.req_id == req_id && c.pending && !c.sent {
            c.sent = true;
            // A 25-byte write into an idle connection's empty send buffer; it is bounded by the
            // socket's current write timeout all the same.
            let mut slot = TimeoutSlot::default();
            deadline::write_all(
                &*self.stream,
                &mut slot,
                deadline::after(Some(Duration::from_secs(10))),
                &[b"HTTP/1.1 100 Continue\r\n\r\n"],
            )?;
        }
        Ok(())
    }

    /// True if the client of `req_id` expects 100 Continue and has not been sent it.
    pub(crate) fn continue_waiting(&self, req_id: u64) -> bool {
        let c = self.cont.lock();
        c.req_id == req_id && c.pending && !c.sent
    }

    /// Called before the final response head: if 100 Continue was never sent, it never will
    /// be. Returns true if the client is still waiting for it (so the body will not come).
    pub(crate) fn refuse_continue(&self, req_id: u64) -> bool {
        let mut c = self.cont.lock();
        if c.req_id == req_id && c.pending && !c.sent {
            c.pending = false;
            return true;
        }
        false
    }

    pub(crate) fn take_trailers(&self, req_id: u64) -> Option<HeaderMap> {
        let mut rh = self.read.lock();
        if rh.body.req_id == req_id {
            rh.body.decoder.take_trailers()
        } else {
            None
        }
    }

    /// How many body bytes of `req_id` are still to come, when the framing says so.
    /// `None`, without waiting, while another thread holds the read half (see `body_done`).
    pub(crate) fn body_remaining(&self, req_id: u64) -> Option<u64> {
        let rh = self.read.try_lock()?;
        if rh.body.req_id == req_id {
            rh.body.decoder.remaining()
        } else {
            None
        }
    }

    /// True if the body of `req_id` has been read to its end without error. False, without
    /// waiting, while another thread holds the read half: a body read in progress there (a
    /// `timeout_handler` thread the serving thread has given up on) is not finished, and the
    /// serving thread must not wait on it to answer.
    pub(crate) fn body_done(&self, req_id: u64) -> bool {
        let Some(rh) = self.read.try_lock() else {
            return false;
        };
        rh.body.req_id == req_id && rh.body.error.is_none() && rh.body.decoder.is_done()
    }

    /// Reads and discards what is left of the body of `req_id`, up to [`MAX_DRAIN`] bytes.
    /// Returns true if the body ended cleanly within that; false at once, reading nothing,
    /// for a body marked over a handler's limit (`body_over_limit`).
    pub(crate) fn drain_body(&self, req_id: u64) -> bool {
        if self.is_body_over_limit(req_id) {
            return false;
        }
        // On the heap: a stack array would stay resident on the connection's thread.
        let mut scratch = vec![0u8; 8192];
        let mut total = 0u64;
        // Another thread in a read of this body (see `body_done`): not drained; the
        // connection closes rather than wait for that read.
        let Some(mut rh) = self.read.try_lock() else {
            return false;
        };
        loop {
            match rh.read_body(&*self.stream, req_id, &mut scratch) {
                Ok(0) => return true,
                Ok(n) => {
                    total += n as u64;
                    if total > MAX_DRAIN {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Marks the body of `req_id` as over a handler's limit: the server will not drain the rest,
    /// and closes the connection after the response (with `Connection: close` if the head is
    /// still to be written).
    pub(crate) fn body_over_limit(&self, req_id: u64) {
        self.over_limit.store(req_id, Ordering::SeqCst);
    }

    /// True if [`body_over_limit`](Self::body_over_limit) was called for `req_id`.
    pub(crate) fn is_body_over_limit(&self, req_id: u64) -> bool {
        self.over_limit.load(Ordering::SeqCst) == req_id
    }

    /// Sets the read deadline of the body of `req_id` (a handler's `set_read_deadline`); takes
    /// the read half, which only a body read in progress on the handler's own thread holds.
    pub(crate) fn set_read_deadline(&self, req_id: u64, deadline: Option<Instant>) {
        let mut rh = self.read.lock();
        if rh.body.req_id == req_id {
            rh.body.deadline = deadline;
        }
    }

    /// True if the client closed or reset the connection: a peek that does not wait
    /// ([`peek_now`]) sees its end of stream or an error. Called from the handler's thread,
    /// while no other thread reads the socket (the read half is the handler's or idle).
    pub(crate) fn peer_gone(&self) -> bool {
        // Over TLS a clean close is a close_notify record and then the FIN: a peek sees the
        // record's bytes, never the end of stream behind them. poll(2)'s POLLRDHUP says the
        // peer has shut its sending side whatever is still unread.
        #[cfg(target_os = "linux")]
        if self.tls {
            if let Some(gone) = rdhup_now(&self.tcp) {
                return gone;
            }
        }
        match peek_now(&self.tcp) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        }
    }

    /// Closes a connection claimed for close while idle (shutdown, eviction): wakes its
    /// thread's blocked read with EOF. A TLS connection's read side only, so that its thread
    /// sends a close_notify before it closes (as Go's `tls.Conn.Close`); a plain one at once.
    pub(crate) fn close_idle(&self) {
        let how = if self.tls {
            Shutdown::Read
        } else {
            Shutdown::Both
        };
        let _ = self.tcp.shutdown(how);
    }

    /// Hands over the buffered, unconsumed bytes and stops all further reads by the server.
    pub(crate) fn hijack_read_half(&self) -> Vec<u8> {
        let mut rh = self.read.lock();
        rh.hijacked = true;
        rh.buf.take_all()
    }

    pub(crate) fn set_state(&self, srv: &ServerInner, state: ConnState) {
        self.state.store(state as u64, Ordering::SeqCst);
        srv.conn_state_changed(self.remote_addr, state);
    }

    /// The state word; see [`ConnShared::state`]. Read it with [`state_of`] and [`idle_since`].
    pub(crate) fn state_word(&self) -> u64 {
        self.state.load(Ordering::SeqCst)
    }

    /// Marks the connection `Idle` since `now` (the serve loop, between requests); returns the word stored, which the serve loop later
    /// claims back with [`claim_active`].
    ///
    /// [`claim_active`]: Self::claim_active
    fn set_idle(&self, srv: &ServerInner, now: Instant) -> u64 {
        let word = self.store_idle(srv, now);
        srv.conn_state_changed(self.remote_addr, ConnState::Idle);
        word
    }

    /// [`set_idle`](Self::set_idle) without telling the connection-state hook: an HTTP/2
    /// connection reports `Idle` and `Active` by its streams, while its state word follows
    /// every frame.
    pub(crate) fn store_idle(&self, srv: &ServerInner, now: Instant) -> u64 {
        let micros = now.saturating_duration_since(srv.epoch).as_micros();
        let micros = u64::try_from(micros).unwrap_or(u64::MAX).min(u64::MAX >> 8);
        let word = (micros << 8) | ConnState::Idle as u64;
        self.state.store(word, Ordering::SeqCst);
        word
    }

    /// The serve loop's claim when the first byte of a request is in: `New` or `Idle` (the
    /// `word` it stored) becomes `Active`. False if the server claimed the connection first,
    /// to close it: the request must then not be served.
    pub(crate) fn claim_active(&self, srv: &ServerInner, word: u64) -> bool {
        let won = self.claim_active_quietly(word);
        if won {
            srv.conn_state_changed(self.remote_addr, ConnState::Active);
        }
        won
    }

    /// [`claim_active`](Self::claim_active) without telling the connection-state hook.
    pub(crate) fn claim_active_quietly(&self, word: u64) -> bool {
        self.state
            .compare_exchange(
                word,
                ConnState::Active as u64,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// The server's claim of a connection it found waiting between requests, in state `word`
    /// (read from [`state_word`](Self::state_word)): true if the state was still `word`, and is
    /// now [`CLOSING`]. The caller then shuts the socket down, and the connection's thread ends
    /// it (reporting `Closed`) without serving anything more.
    pub(crate) fn claim_for_close(&self, word: u64) -> bool {
        self.state
            .compare_exchange(word, CLOSING as u64, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// The state of a connection the server claimed, while waiting between requests, to close it
/// (not a [`ConnState`]: the hook sees `Idle` or `New`, then `Closed`).
pub(crate) const CLOSING: u8 = 5;

/// The state (a [`ConnState`] as `u8`, or [`CLOSING`]) in a state word.
pub(crate) fn state_of(word: u64) -> u8 {
    (word & 0xff) as u8
}

/// The microseconds from the server's epoch to when an `Idle` state word went idle.
pub(crate) fn idle_since(word: u64) -> u64 {
    word >> 8
}

/// A request body being read from this connection.
struct ConnBody {
    shared: Arc<ConnShared>,
    /// Which request on the connection this body belongs to; reads after the server moved on
    /// to the next request fail.
    req_id: u64,
    known_len: Option<u64>,
    /// The request carried `Expect: 100-continue` and the body has not been read yet.
    expect_continue: bool,
}

impl Incoming for ConnBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.expect_continue && !buf.is_empty() {
            self.expect_continue = false;
            self.shared.send_continue(self.req_id)?;
        }
        self.shared.read_body(self.req_id, buf)
    }

    fn known_len(&self) -> Option<u64> {
        self.known_len
    }

    fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.shared.take_trailers(self.req_id)
    }

    fn mark_over_limit(&self) {
        self.shared.body_over_limit(self.req_id);
    }
}

impl ReadHalf {
    fn read_body(&mut self, stream: &dyn Stream, req_id: u64, out: &mut [u8]) -> Result<usize> {
        if self.hijacked {
            return Err(Error::new(ErrorKind::Hijacked));
        }
        if self.body.req_id != req_id {
            return Err(Error::invalid_input(
                "request body read after its response was finished",
            ));
        }
        if let Some(kind) = self.body.error {
            return Err(Error::new(kind));
        }
        let deadline =
            deadline::earliest(self.body.deadline, deadline::after(self.body.inactivity));
        let r = bufio::read_body(
            &mut self.buf,
            &mut self.body.decoder,
            stream,
            &mut self.slot,
            deadline,
            out,
        );
        if let Err(e) = &r {
            self.body.error = Some(e.kind());
        }
        r
    }

    /// Reads the next request head into `out` and returns when its first byte arrived.
    /// `Ok(None)` means the client closed the connection (or went quiet past
    /// `wait_deadline`) before sending a byte of it; `out` holds a head only after `Ok(Some)`.
    fn read_head(
        &mut self,
        stream: &dyn Stream,
        wait_deadline: Option<Instant>,
        first: bool,
        srv: &ServerInner,
        on_first_byte: &mut dyn FnMut(),
        out: &mut Option<RequestHead>,
    ) -> Result<Option<Instant>> {
        let mut timing = ServerHeadTiming {
            wait_deadline,
            first,
            header_timeout: srv.config.read_header_timeout,
            read_timeout: srv.config.read_timeout,
            started: None,
            on_first_byte,
        };
        let ReadHalf {
            buf, slot, scanner, ..
        } = self;
        match bufio::read_head_into(buf, stream, slot, scanner, &mut timing, out) {
            Ok(true) => {
                // A large head grew the buffer; give the memory back.
                buf.shrink(READ_BUF_SIZE);
                Ok(Some(timing.started.map_or_else(Instant::now, |s| s.0)))
            }
            Ok(false) => Ok(None),
            // Before the first byte the connection was only waiting (idle, or new): a failed
            // or timed-out wait just ends it.
            Err(_) if timing.started.is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The deadlines of a server's head read: the connection's wait deadline until the first
/// byte, then `read_header_timeout` (and `read_timeout`) from that byte.
struct ServerHeadTiming<'a> {
    wait_deadline: Option<Instant>,
    /// The connection's first request: its wait deadline is `read_header_timeout` from
    /// accept, and bounds the whole head (Go's, from the start of `readRequest`), not only
    /// the wait for its first byte.
    first: bool,
    header_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    /// When the first byte arrived, and the head's deadline from then.
    started: Option<(Instant, Option<Instant>)>,
    on_first_byte: &'a mut dyn FnMut(),
}

impl bufio::HeadTiming for ServerHeadTiming<'_> {
    fn first_byte(&mut self) {
        let now = Instant::now();
        let mut hdr = deadline::earliest(
            self.header_timeout.and_then(|d| now.checked_add(d)),
            self.read_timeout.and_then(|d| now.checked_add(d)),
        );
        if self.first {
            hdr = deadline::earliest(hdr, self.wait_deadline);
        }
        self.started = Some((now, hdr));
        (self.on_first_byte)();
    }

    fn next_read(&self, _started: bool) -> (Option<Instant>, TimeoutPhase) {
        match self.started {
            Some((_, hdr)) => (hdr, TimeoutPhase::ReadRequestHead),
            None => (self.wait_deadline, TimeoutPhase::Idle),
        }
    }
}

/// The write half of a connection, owned by the serve loop and lent to each response writer.
pub(crate) struct WriteHalf {
    /// Body bytes written by the handler and not yet sent.
    pub(crate) buf: Vec<u8>,
    /// Scratch space for building a head.
    pub(crate) head: Vec<u8>,
    pub(crate) slot: TimeoutSlot,
    pub(crate) date: DateCache,
    /// The response header map, empty between responses: `ConnWriter` fills it in place and
    /// empties it when the response is done.
    pub(crate) headers: HeaderMap,
    /// The last request's header map: the read half's scanner empties it and parses the next
    /// request's fields into it. Both maps are freed with the buffers when the connection
    /// goes idle.
    pub(crate) req_headers: HeaderMap,
}

/// How a connection ends.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The client is gone or went idle: just close.
    Quiet,
    /// We are closing while the client may still send: FIN first, then drain briefly.
    Linger,
    /// A handler took the connection; leave the socket alone.
    Hijacked,
    /// The client asked to close (`Connection: close`) and its request was read to the end:
    /// close at once if it has sent nothing since, else linger as for [`Ending::Linger`].
    ClientDone,
}

/// Serves one connection until it closes or is hijacked. Runs on the connection's thread.
pub(crate) fn serve(srv: &ServerInner, shared: Arc<ConnShared>) {
    // The response buffers are allocated when a request arrives and released when the
    // connection goes idle (see serve_loop).
    let mut wh = WriteHalf {
        buf: Vec::new(),
        head: Vec::new(),
        slot: TimeoutSlot::default(),
        date: DateCache::new(),
        headers: HeaderMap::new(),
        req_headers: HeaderMap::new(),
    };
    let ending = serve_loop(srv, &shared, &mut wh);
    match ending {
        Ending::Hijacked => {}
        Ending::Quiet => {
            if shared.tls {
                // close_notify first (never waiting long: see TlsStream::shutdown).
                let _ = shared.stream.shutdown(Shutdown::Write);
            }
            let _ = shared.stream.shutdown(Shutdown::Both);
        }
        Ending::Linger => linger_close(&shared),
        Ending::ClientDone => {
            if quiet_since(&shared) {
                let _ = shared.stream.shutdown(Shutdown::Both);
            } else {
                linger_close(&shared);
            }
        }
    }
    if ending != Ending::Hijacked {
        shared.set_state(srv, ConnState::Closed);
    }
    srv.untrack(shared.id);
}

fn serve_loop(srv: &ServerInner, shared: &Arc<ConnShared>, wh: &mut WriteHalf) -> Ending {
    let cfg = &srv.config;
    let mut req_id = 0u64;
    // The state word this thread stored last (`New`, then `Idle` since some time).
    let mut word = ConnState::New as u64;
    // Every request's head is parsed into this one slot and served from it, not copied from
    // frame to frame (`HeadScanner::scan_into`).
    let mut slot: Option<RequestHead> = None;
    loop {
        // The wait for the next request, and (after a request) the end of its buffers' grace.
        let (wait, grace_end) = if req_id == 0 {
            (deadline::after(cfg.read_header_timeout), None)
        } else {
            let now = Instant::now();
            // A request already buffered (pipelined behind the last one) came while that one
            // was served: the connection does not wait, so it is not stored `Idle`, where an
            // eviction could claim it and drop that request. The hook hears `Idle` and then
            // `Active` all the same, as Go reports it. Empty lines before it (RFC 9112 §2.2:
            // some clients send a CRLF after a body) are no request: dropped here, as the head
            // scanner would skip them, or they would keep an idle connection `Active`.
            let buffered = {
                let mut rh = shared.read.lock();
                let blank = crate::proto::head::leading_empty_lines(rh.buf.data());
                rh.buf.consume(blank);
                !rh.buf.is_empty()
            };
            word = if buffered {
                srv.conn_state_changed(shared.remote_addr, ConnState::Idle);
                ConnState::Active as u64
            } else {
                shared.set_idle(srv, now)
            };
            // Dekker with shutdown(): it sets the flag, then closes connections it sees Idle.
            // With a request buffered, the client is still sending: FIN first, so a reset does
            // not destroy the response it has not read yet.
            if srv.closes_conns() {
                return if buffered {
                    Ending::Linger
                } else {
                    Ending::Quiet
                };
            }
            // An accept loop at max_connections waits for a connection to go idle (Dekker
            // with its flag).
            if !buffered {
                srv.went_idle();
            }
            (
                cfg.idle_timeout.and_then(|d| now.checked_add(d)),
                now.checked_add(bufio::idle_grace(req_id)),
            )
        };
        let mut claimed = true;
        let started = {
            let mut rh = shared.read.lock();
            if wh.req_headers.capacity() > 0 {
                rh.scanner.recycle(std::mem::take(&mut wh.req_headers));
            }
            // Active from the first byte of a request, so neither shutdown nor an eviction
            // closes it as idle; unless one of them claimed it first.
            let mut active = || claimed = shared.claim_active(srv, word);
            if req_id == 0 {
                rh.read_head(&*shared.stream, wait, true, srv, &mut active, &mut slot)
            } else {
                // A busy keep-alive connection's next request comes at once: wait a moment
                // with the buffers. Quiet past that, the connection is idle and holds no
                // buffers (they go back to the allocator for busy connections, as Go pools
                // them) while it waits out the idle timeout.
                let grace = deadline::earliest(wait, grace_end);
                match rh.read_head(&*shared.stream, grace, false, srv, &mut active, &mut slot) {
                    Ok(None) if grace != wait && wait.is_none_or(|w| Instant::now() < w) => {
                        wh.buf = Vec::new();
                        wh.head = Vec::new();
                        wh.headers = HeaderMap::new();
                        rh.scanner.recycle(HeaderMap::new());
                        rh.buf.release();
                        rh.read_head(&*shared.stream, wait, false, srv, &mut active, &mut slot)
                    }
                    other => other,
                }
            }
        };
        if !claimed {
            // Claimed to be closed while idle (its socket is shut down): serve nothing.
            return Ending::Quiet;
        }
        let started = match started {
            Ok(Some(t)) => t,
            Ok(None) => return Ending::Quiet,
            Err(e) => {
                if e.status_hint().is_some() {
                    log::debug!("bad request from {}: {e}", shared.remote_addr);
                    // The method is unknown: answer as to a GET.
                    write_error_response(shared, wh, &e, None);
                    return Ending::Linger;
                }
                log::debug!("reading request from {}: {e}", shared.remote_addr);
                return Ending::Quiet;
            }
        };
        let Some(head) = slot.as_mut() else {
            // read_head reports a head only once it is in the slot.
            return Ending::Quiet;
        };
        req_id += 1;
        if let Some(ending) = serve_request(srv, shared, wh, head, started, req_id) {
            return ending;
        }
    }
}

/// Serves one request whose head has been read: runs the handler and finishes the response.
/// `None` if the connection can carry another request.
///
/// `head` is the loop's slot: its fields move into the `Request` and the slot keeps empty
/// ones. Never inlined into `serve_loop`: the request's locals (the `Request`, the writer)
/// then live in this frame, which is gone while the connection waits, so the wait and the
/// head parser run on a shallow stack. A connection thread keeps every stack page it has
/// touched, so the deepest call decides what each idle connection costs.
#[inline(never)]
fn serve_request(
    srv: &ServerInner,
    shared: &Arc<ConnShared>,
    wh: &mut WriteHalf,
    head: &mut RequestHead,
    started: Instant,
    req_id: u64,
) -> Option<Ending> {
    let cfg = &srv.config;
    {
        if wh.buf.capacity() == 0 {
            wh.buf.reserve_exact(super::response::BUFFER_SIZE);
            wh.head.reserve_exact(HEAD_BUF);
        }

        let framing = match framing::request(head.version, &head.headers) {
            Ok(f) => f,
            Err(e) => {
                log::debug!("bad request framing from {}: {e}", shared.remote_addr);
                write_error_response(shared, wh, &e, Some(&head.method));
                return Some(Ending::Linger);
            }
        };
        let has_body = !matches!(framing, Framing::Empty | Framing::Length(0));
        let expect_continue = match expect_continue(head) {
            Ok(e) => e && has_body,
            Err(()) => {
                write_simple_response(
                    shared,
                    wh,
                    http::StatusCode::EXPECTATION_FAILED,
                    "",
                    Some(&head.method),
                );
                return Some(Ending::Linger);
            }
        };
        {
            let mut rh = shared.read.lock();
            let limits = *rh.scanner.limits();
            rh.body = BodyState {
                req_id,
                decoder: BodyDecoder::new(framing, &limits),
                error: None,
                deadline: cfg.read_timeout.and_then(|d| started.checked_add(d)),
                inactivity: cfg.inactivity_timeout,
            };
        }
        {
            let mut c = shared.cont.lock();
            *c = Continue {
                req_id,
                pending: expect_continue,
                sent: false,
            };
        }
        let client_close = wants_close(head.version, &head.headers);
        let info = ReqInfo {
            req_id,
            head: head.method == http::Method::HEAD,
            version: head.version,
            client_close,
            expect_continue,
            write_deadline: cfg
                .write_timeout
                .and_then(|d| Instant::now().checked_add(d)),
        };
        let known_len = match framing {
            Framing::Empty => Some(0),
            Framing::Length(n) => Some(n),
            _ => None,
        };
        // A request without a body gets an empty one, as Go's `NoBody`: nothing to read from
        // the connection, and no allocation per request.
        let body = if known_len == Some(0) && !expect_continue {
            Body::empty()
        } else {
            Body::incoming(Box::new(ConnBody {
                shared: Arc::clone(shared),
                req_id,
                known_len,
                expect_continue,
            }))
        };
        let mut req = Request::from_parts(
            std::mem::take(&mut head.method),
            std::mem::take(&mut head.uri),
            head.version,
            std::mem::take(&mut head.headers),
            body,
            Some(shared.remote_addr),
        );
        req.set_tls(shared.tls);
        let mut w = ConnWriter::new(shared, wh, srv, info);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            srv.handler.serve_http(&mut w, &mut req);
        }));
        if let Err(panic) = outcome {
            let msg = panic_message(&panic);
            log::error!(
                "panic serving {}: {} {}: {msg}",
                shared.remote_addr,
                req.method,
                req.uri
            );
            if w.is_hijacked() {
                // The connection is the hijacker's (maybe handed to another thread before the
                // panic): the server touches it no more, as Go's.
                return Some(Ending::Hijacked);
            }
            w.abort_after_panic();
            return Some(Ending::Linger);
        }
        if w.is_hijacked() {
            return Some(Ending::Hijacked);
        }
        w.finish();
        let mut close = w.close_after();
        w.recycle_headers();
        // The body may be gone (moved out by the handler); whatever it was, the read half
        // says whether this request's bytes are all off the wire.
        // Emptied once, by the scanner that takes it back (`HeadScanner::recycle`).
        wh.req_headers = std::mem::take(&mut req.headers);
        drop(req);
        if !close && !shared.body_done(req_id) {
            close = !shared.drain_body(req_id);
        }
        if close && client_close && !shared.tls && shared.body_done(req_id) {
            // The client said it sends nothing more and its request is read to the end.
            return Some(Ending::ClientDone);
        }
        if close || srv.closes_conns() {
            return Some(Ending::Linger);
        }
    }
    None
}

/// `Expect: 100-continue` (case-insensitive) → true; no Expect → false; any other expectation
/// → error, answered with 417 (RFC 9110 §10.1.1).
fn expect_continue(head: &RequestHead) -> std::result::Result<bool, ()> {
    let mut values = crate::proto::field_values(&head.headers, &EXPECT);
    match (values.next(), values.next()) {
        (None, _) => Ok(false),
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
            Ok(head.version == Version::HTTP_11)
        }
        _ => Err(()),
    }
}

fn write_error_response(
    shared: &ConnShared,
    wh: &mut WriteHalf,
    e: &Error,
    method: Option<&http::Method>,
) {
    let status = e.status_hint().unwrap_or(http::StatusCode::BAD_REQUEST);
    write_simple_response(shared, wh, status, &e.to_string(), method);
}

/// Writes a whole short response with `Connection: close`. `method` is the request's method
/// where known; only HEAD changes the answer, which then has the head only (RFC 9110 §9.3.2).
pub(crate) fn write_simple_response(
    shared: &ConnShared,
    wh: &mut WriteHalf,
    status: http::StatusCode,
    detail: &str,
    method: Option<&http::Method>,
) {
    use crate::proto::write;
    let reason = status.canonical_reason().unwrap_or("");
    let mut body = format!("{} {reason}", status.as_str());
    if !detail.is_empty() {
        body.push_str(": ");
        body.push_str(detail);
    }
    body.push('\n');
    let buf = &mut wh.head;
    buf.clear();
    write::status_line(buf, Version::HTTP_11, status);
    write::header(buf, "Content-Type", b"text/plain; charset=utf-8");
    write::header(buf, "Connection", b"close");
    let date = wh.date.get(std::time::SystemTime::now()).to_vec();
    write::header(buf, "Date", &date);
    write::header_u64(buf, "Content-Length", body.len() as u64);
    write::end(buf);
    if method == Some(&http::Method::HEAD) {
        body.clear();
    }
    let deadline = Instant::now().checked_add(Duration::from_secs(5));
    let _ = deadline::write_all(
        &*shared.stream,
        &mut wh.slot,
        deadline,
        &[&wh.head, body.as_bytes()],
    );
}

/// True if the client has sent nothing since its last request was read: no byte is buffered
/// and none is waiting in the socket. Then closing sends a FIN, not a reset, and there is
/// nothing a linger would protect: the wait for the client's FIN (a blocked read, a context
/// switch per connection under `Connection: close` churn) is skipped. Checked without
/// blocking: the socket is switched to non-blocking mode, which no longer matters as it is
/// about to close.
fn quiet_since(shared: &ConnShared) -> bool {
    if !shared.read.lock().buf.is_empty() {
        return false;
    }
    matches!(
        peek_now(&shared.tcp),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock
    )
}

/// Peeks at one byte of `tcp` without waiting: `WouldBlock` if none is there. On Linux one
/// `recv(MSG_PEEK | MSG_DONTWAIT)`, which leaves the socket's blocking mode alone; elsewhere
/// the socket is switched to non-blocking for the peek and back (two more system calls, and
/// only safe while no other thread reads it, which holds for both callers).
#[cfg(target_os = "linux")]
fn peek_now(tcp: &TcpStream) -> io::Result<usize> {
    let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    socket2::SockRef::from(tcp)
        .recv_with_flags(&mut one, nix::libc::MSG_PEEK | nix::libc::MSG_DONTWAIT)
}

/// Whether the peer has shut down its sending side (or the connection failed), without
/// waiting: `poll(2)` for `POLLRDHUP`. `None` if the poll itself fails.
#[cfg(target_os = "linux")]
fn rdhup_now(tcp: &TcpStream) -> Option<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let rdhup = PollFlags::from_bits_retain(nix::libc::POLLRDHUP);
    let mut fds = [PollFd::new(tcp.as_fd(), rdhup)];
    poll(&mut fds, PollTimeout::ZERO).ok()?;
    // nix's `revents` is `None` for a flag it has no name for, which POLLRDHUP is here.
    Some(match fds[0].revents() {
        None => true,
        Some(r) => r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
    })
}

#[cfg(not(target_os = "linux"))]
fn peek_now(tcp: &TcpStream) -> io::Result<usize> {
    tcp.set_nonblocking(true)?;
    let r = tcp.peek(&mut [0u8; 1]);
    let _ = tcp.set_nonblocking(false);
    r
}

/// Half-closes the connection and reads what the client still sends, briefly, so the client
/// gets our FIN after the response rather than a reset that may discard it (Go's
/// `closeWriteAndWait`).
///
/// Only time bounds the wait, never a byte count: closing with unread bytes sends a reset,
/// which also throws away whatever of the response is still queued in our send buffer, so
/// stopping early for a client that is still uploading would cut off the very response the
/// linger is for.
pub(crate) fn linger_close(shared: &ConnShared) {
    let _ = shared.stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut scratch = vec![0u8; 4096];
    // A body read on another thread may hold the read half (see `ConnShared::body_done`);
    // its reads also drain the socket, so wait for it no longer than the linger itself.
    let Some(mut rh) = shared.read.try_lock_until(deadline) else {
        let _ = shared.stream.shutdown(Shutdown::Both);
        return;
    };
    rh.slot.reset();
    loop {
        match deadline::read(&*shared.stream, &mut rh.slot, Some(deadline), &mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = shared.stream.shutdown(Shutdown::Both);
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        (server, client)
    }

    /// The peek before a close says what is waiting without waiting itself, and leaves the
    /// socket blocking: the linger that may follow reads it with a timeout, and on a socket
    /// left non-blocking that read returned at once, over and over, for the whole linger (a
    /// busy loop of up to 500 ms per connection whose client sent a byte after its
    /// `Connection: close` request).
    #[test]
    fn peek_now_waits_for_nothing_and_leaves_the_socket_blocking() {
        let (server, mut client) = pair();
        let e = peek_now(&server).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");

        client.write_all(b"X").unwrap();
        // Loopback delivers within the write, but allow the peer a moment's scheduling.
        let deadline = Instant::now() + Duration::from_secs(5);
        let n = loop {
            match peek_now(&server) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 1);
        // Peeked, not taken.
        let mut one = [0u8; 1];
        assert_eq!(Stream::read(&server, &mut one).unwrap(), 1);

        // Still blocking: a read of an empty socket waits out its timeout. A timeout never
        // ends early, so this lower bound cannot fail on a slow machine.
        server
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let start = Instant::now();
        let e = Stream::read(&server, &mut one).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{e}"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "the read returned after {:?}: the socket was left non-blocking",
            start.elapsed()
        );

        drop(client);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match peek_now(&server) {
                Ok(0) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::yield_now();
                }
                other => panic!("expected end of stream, got {other:?}"),
            }
        }
    }
}
