//! One pooled client connection, as Go's `persistConn`: a reader thread, a writer thread, and
//! the caller's side of a round trip (`round_trip`), all talking over crossbeam channels.
//!
//! A round trip (Go's `persistConn.roundTrip`): the caller sends a [`RequestAndChan`] on
//! `reqch` (to the reader) and then a [`WriteRequest`] on `writech` (to the writer), and waits
//! for the response, a write error, the connection closing, a deadline or a cancel (a
//! parking wait over those channels: see `wake.rs` for why not crossbeam's `select!`).
//! Sending on `reqch` first means that when response bytes arrive, the reader already holds
//! the request they answer; bytes with no request pending are an unsolicited response and
//! close the connection.
//!
//! The reader thread (Go's `readLoop`) blocks reading the socket even while the connection is
//! idle, so it sees the server close an idle connection at once and removes it from the pool.
//! It reads response heads through the sans-IO exchange (`proto::client`: 1xx skipped,
//! `100 Continue` signalled to the writer, framing and reuse decided), hands the response to
//! the caller, and then lends the read half to the caller's body and waits on `bodych`. The
//! body reads the socket directly (no hand-off per read); at its end it returns the connection
//! to the pool *before* the caller sees EOF, then tells the reader to go on.
//!
//! The writer thread (Go's `writeLoop`) writes each request's head and body, waiting for
//! `100 Continue` when asked, and reports the result to the caller (always a failure or a
//! skipped body, success only when the caller's response-header timer needs it).
//!
//! Both replies to the caller (the response from the reader, the writer's report: Go's `resc`
//! and `writeErrCh`) go over the calling thread's own channels, tagged with the round trip's
//! number (`CallerReplies`, `chan::Replies`), not over channels made per round trip. A reply
//! is queued only while its caller waits for it (`chan::Gate`); after that its send fails, as
//! a send to a dropped receiver did, and what it carried is dropped on the sending thread.
//!
//! Every wait here is a parking wait (`wake.rs`) with a deadline: the request's own, or one of
//! the named constants below.
//!
//! The channels are typed ends over one crossbeam element type (`chan.rs`), which keeps the
//! compile of a `client` build smaller; each still carries one kind of message.

use std::sync::{Arc, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use http::{Method, Uri};
use parking_lot::Mutex;

use super::proxy::ConnKey;
use super::response::{ConnBody, Response, ResponseBody};
use super::trace::{CancelToken, Cancelable, ClientTrace};
use super::transport::TransportInner;
use super::wake;
use crate::bufio::{self, HeadTiming, ReadBuf};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::{Conn, Stream};
use crate::proto::body::BodyDecoder;
use crate::proto::chunked;
use crate::proto::client::{Exchange, Final, Next};
use crate::proto::head::{HeadScanner, ResponseHead};
use crate::proto::Limits;
use crate::Body;

mod chan;
use chan::{Gate, Notify, Receiver, Replies, Reply, Sender, TryRecvError};

/// How long a finished response waits for the writer to finish its request before the
/// connection is given up instead of reused (Go's `maxWriteWaitBeforeConnReuse`).
const MAX_WRITE_WAIT_BEFORE_REUSE: Duration = Duration::from_millis(50);

/// How long a caller waits for an answer on a connection that has closed before it gives up:
/// the reader answers at once in every case but a request sent in the instant both threads
/// exited.
const CLOSED_GRACE: Duration = Duration::from_secs(1);

/// How long a caller whose request could not be written waits for a response the server may
/// have sent before it stopped reading (a 413, say): that answer says more than the write
/// error.
const RESPONSE_AFTER_WRITE_ERROR: Duration = Duration::from_millis(250);

/// How long a caller whose response failed waits for the writer's report, to learn whether
/// the request went out (which decides whether it may be retried).
const WRITE_REPORT_AFTER_READ_ERROR: Duration = Duration::from_millis(100);

/// Bodies up to this size that are already buffered when the head is parsed are read by the
/// reader thread itself, sparing a hand-off.
const SMALL_BODY: usize = 16 << 10;

/// A pooled connection. Shared by the pool, the two connection threads, the caller of a round
/// trip and the response body.
pub(crate) struct PersistConn {
    pub(crate) id: u64,
    pub(crate) key: ConnKey,
    pub(crate) stream: Arc<dyn Stream>,
    pub(crate) transport: Weak<TransportInner>,
    /// Sent by `round_trip`; received by the reader thread (which takes it when response
    /// bytes arrive, so it needs no wake-up).
    reqch: Sender<RequestAndChan>,
    /// Sent by `round_trip` through `send_request`, which wakes the writer thread parked on
    /// it; `close` sends `Close` and wakes it too.
    writech: Sender<WriteMsg>,
    /// Sent by the response body when it ends or is dropped, and by `close`, with
    /// `send_body_event`, which wakes the reader thread parked on it.
    bodych: Sender<BodyEvent>,
    /// Where the connection is in its life; see [`State`]. Held only to read or change it and
    /// to wake threads: never across blocking I/O or a channel send that can block.
    state: Mutex<State>,
    /// The read half: owned by the reader thread while it waits for and parses a head, lent to
    /// the response body while the caller reads it. See `ReadHalf`.
    pub(crate) read: Mutex<ReadHalf>,
}

/// A connection's state, under `PersistConn::state` (Go's `persistConn.mu` "guards following
/// fields").
struct State {
    phase: Phase,
    /// How many round trips have started on this connection.
    uses: u64,
    /// The thread that started the last round trip, so the pool can give the connection back
    /// to it first (see `TransportInner::get_conn`).
    last_caller: Option<std::thread::ThreadId>,
    /// The writer's progress. It overlaps `phase`: a server may answer, and the reader hand
    /// the response over, before the request body is written.
    wrote: Wrote,
    /// The reader and writer threads, to wake; set by `start` as each starts.
    reader: Option<Thread>,
    writer: Option<Thread>,
    /// Threads in `wrote_in_full`, woken when `wrote` changes or the connection closes.
    wrote_waiters: Vec<Thread>,
    /// The reader (writer) thread has exited: nothing sent to it would be seen. Set by the
    /// thread itself before its last look at its channel; `send_request` checks it.
    reader_gone: bool,
    writer_gone: bool,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request on it: just dialled, or back in the pool.
    Idle,
    /// Request `0` is being written and its response head awaited.
    InFlight(u64),
    /// The response head of request `0` was handed over; its caller reads the body from the
    /// read half.
    BodyLent(u64),
    /// Closed, by an error of this kind. After a 101 the socket was handed to the caller
    /// (`upgraded`) and left open.
    Closed { reason: ErrorKind, upgraded: bool },
}

/// The read half of a client connection: buffered bytes, the head scanner and the body
/// decoder.
pub(crate) struct ReadHalf {
    pub(crate) buf: ReadBuf,
    pub(crate) slot: TimeoutSlot,
    pub(crate) decoder: BodyDecoder,
    scanner: HeadScanner<ResponseHead>,
}

/// What the caller hands the reader thread for one round trip.
struct RequestAndChan {
    req_id: u64,
    /// The response side of the exchange: 1xx skipping, framing, reuse.
    exchange: Exchange,
    /// Receives the response head, or the error that ended the wait for it; wakes the caller.
    resp_tx: Reply<RespResult>,
    /// Tells the writer whether to send the body after `Expect: 100-continue`; wakes it.
    continue_tx: Option<Notify<bool>>,
    trace: ClientTrace,
}

/// What the writer thread receives.
enum WriteMsg {
    /// A request to write.
    Request(Box<WriteRequest>),
    /// The connection closed: stop.
    Close,
}

/// What the caller hands the writer thread for one round trip.
struct WriteRequest {
    req_id: u64,
    head: Vec<u8>,
    body: Body,
    /// How the body goes out: `Some(n)` with Content-Length n, `None` chunked.
    body_len: Option<u64>,
    continue_rx: Option<Receiver<bool>>,
    continue_timeout: Duration,
    deadline: Option<Instant>,
    /// Taken by the writer thread; wakes the caller.
    done_tx: Option<Reply<WriteResult>>,
    /// Report success too (the caller times the response head from it); failures are always
    /// reported.
    notify_ok: bool,
    trace: ClientTrace,
}

/// Request ids the writer is done with, for `PersistConn::wrote_in_full`.
#[derive(Default)]
struct Wrote {
    /// The last request the writer is done with, written in full or not.
    done: u64,
    /// The last request written in full.
    full: u64,
}

enum WriteResult {
    Ok,
    /// A final status came instead of `100 Continue`: the head went out, the body did not.
    /// The connection stays open for the response but cannot carry another request (the
    /// server may still be waiting for the body).
    BodySkipped,
    Failed {
        err: Error,
        /// The head did not go out whole, so the server cannot have acted on the request.
        nothing_written: bool,
        /// The body, if the writer never read from it (boxed: a report travels by value
        /// through a channel, and this is its one large field).
        body: Option<Box<Body>>,
        /// The request body itself failed (a read error, or a length other than the declared
        /// one): the caller's error, which wins over a response or a connection error that
        /// follows from it (Go's `requestBodyReadError`).
        body_err: bool,
    },
}

/// Why writing a request body stopped.
pub(crate) enum BodyWriteError {
    /// Reading the body failed, or it was shorter or longer than its declared length.
    Body(Error),
    /// Writing to the connection failed.
    Conn(Error),
}

impl From<BodyWriteError> for Error {
    fn from(e: BodyWriteError) -> Error {
        match e {
            BodyWriteError::Body(e) | BodyWriteError::Conn(e) => e,
        }
    }
}

/// Sent by a response body to the reader thread.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyEvent {
    /// The connection closed while the caller held the body.
    Closed,
    /// The body ended or was dropped; `pooled` says whether the connection went back to the
    /// pool (else it is closed).
    Done { pooled: bool },
}

/// What the reader thread tells the caller: the response head, or the error that ended the
/// wait for it.
type RespResult = std::result::Result<RespParts, Box<RtError>>;

/// A response head delivered by the reader thread.
struct RespParts {
    head: ResponseHead,
    /// The connection may carry another request after this body.
    reusable: bool,
    /// The reader already finished the exchange: the body was empty, or is `small_body`.
    body_done: bool,
    /// A small body the reader read whole from its buffer, with its trailers (boxed, as rare:
    /// this travels by value through a channel).
    small_body: Option<SmallBody>,
    /// After a 101 (boxed, as rare).
    upgraded: Option<Box<Conn>>,
}

/// A failed round trip, with what the transport needs to decide on a retry.
pub(crate) struct RtError {
    pub(crate) err: Error,
    /// Failed before any byte of a response arrived.
    pub(crate) before_response: bool,
    /// The request head was not written in full.
    pub(crate) nothing_written: bool,
    /// The untouched request body, if the writer gives it back.
    pub(crate) body: Option<Body>,
    /// The request body itself failed (Go's `requestBodyReadError`): never retried, as it
    /// would fail the same way on any connection.
    pub(crate) body_err: bool,
}

impl RtError {
    fn new(err: Error) -> RtError {
        RtError {
            err,
            before_response: false,
            nothing_written: false,
            body: None,
            body_err: false,
        }
    }
}

/// A request ready for a connection: the head is serialised, the framing decided.
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) head: Vec<u8>,
    pub(crate) body: Body,
    pub(crate) body_len: Option<u64>,
    pub(crate) expect_continue: bool,
    pub(crate) close_after: bool,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) trace: ClientTrace,
}

impl PersistConn {
    /// Wraps a dialled stream and starts its reader and writer threads.
    pub(crate) fn start(
        t: &Arc<TransportInner>,
        id: u64,
        key: ConnKey,
        stream: Box<dyn Stream>,
    ) -> Result<Arc<PersistConn>> {
        let stream: Arc<dyn Stream> = Arc::from(stream);
        let (reqch, reqrx) = chan::bounded();
        let (writech, writerx) = chan::bounded();
        let (bodych, bodyrx) = chan::bounded();
        let limits = Limits::response(t.cfg.max_response_header_bytes);
        let pc = Arc::new(PersistConn {
            id,
            key,
            stream,
            transport: Arc::downgrade(t),
            reqch,
            writech,
            bodych,
            state: Mutex::new(State {
                phase: Phase::Idle,
                uses: 0,
                last_caller: None,
                wrote: Wrote::default(),
                reader: None,
                writer: None,
                wrote_waiters: Vec::new(),
                reader_gone: false,
                writer_gone: false,
            }),
            read: Mutex::new(ReadHalf {
                buf: ReadBuf::with_size(t.cfg.read_buffer_size),
                slot: TimeoutSlot::default(),
                decoder: BodyDecoder::empty(),
                scanner: HeadScanner::response(limits),
            }),
        });
        let idle_timeout = t.cfg.idle_conn_timeout;
        let write_buffer_size = t.cfg.write_buffer_size;

        // The writer first, and its handle stored before the reader starts: the reader is the
        // only one that can close the connection before `start` returns (an EOF or stray bytes
        // on a fresh connection), and `close` must find the writer's handle to wake it from
        // its first park. (No one sends to the reader's `bodych` before a response exists.)
        let w = Arc::clone(&pc);
        let writer = spawn_counted(t, "nethttp-write", move || {
            let _exit = ThreadExit {
                pc: &w,
                writer: Some(&writerx),
                reader: None,
            };
            write_loop(&w, &writerx, write_buffer_size);
        });
        match writer {
            Ok(h) => pc.state.lock().writer = Some(h),
            Err(e) => {
                let err = Error::thread_spawn("connection writer", e);
                pc.close(Error::new(err.kind()));
                return Err(err);
            }
        }
        let r = Arc::clone(&pc);
        let reader = spawn_counted(t, "nethttp-read", move || {
            let _exit = ThreadExit {
                pc: &r,
                writer: None,
                reader: Some(&reqrx),
            };
            read_loop(&r, &reqrx, &bodyrx, limits, idle_timeout);
        });
        match reader {
            Ok(h) => pc.state.lock().reader = Some(h),
            Err(e) => {
                let err = Error::thread_spawn("connection reader", e);
                pc.close(Error::new(err.kind()));
                return Err(err);
            }
        }
        Ok(pc)
    }

    /// Hands a round trip to the reader (first, so it holds the request before any answer
    /// can arrive) and to the writer, and wakes the writer. Never blocks: each channel has room
    /// for the one request a connection carries at a time. Fails, giving the body back if the
    /// writer never got it, when a thread has exited: under the state lock, so a thread that
    /// exits after this finds the request in its channel and answers it (`reader_exit`,
    /// `writer_exit`) and one that exited before is seen here.
    fn send_request(
        &self,
        rc: RequestAndChan,
        wr: WriteRequest,
    ) -> std::result::Result<(), Box<Option<Body>>> {
        let writer = {
            let st = self.state.lock();
            if st.reader_gone || self.reqch.try_send(rc).is_err() || st.writer_gone {
                return Err(Box::new(Some(wr.body)));
            }
            if let Err(back) = self.writech.try_send(WriteMsg::Request(Box::new(wr))) {
                return Err(Box::new(match back {
                    Some(WriteMsg::Request(wr)) => Some(wr.body),
                    Some(WriteMsg::Close) | None => None,
                }));
            }
            st.writer.clone()
        };
        if let Some(w) = writer {
            w.unpark();
        }
        Ok(())
    }

    /// The reader thread is done: no request can reach it from now on, and one that reached
    /// its channel after its last look is failed here, as not answered.
    fn reader_exit(&self, reqrx: &Receiver<RequestAndChan>) {
        self.state.lock().reader_gone = true;
        while let Ok(rc) = reqrx.try_recv() {
            fail_pending(Some(rc), self.closed_error(), true);
        }
    }

    /// The writer thread is done: no request can reach it from now on, and one that reached
    /// its channel after its last look is reported as not written, with its body, so the
    /// caller may retry it elsewhere.
    fn writer_exit(&self, writerx: &Receiver<WriteMsg>) {
        self.state.lock().writer_gone = true;
        while let Ok(msg) = writerx.try_recv() {
            if let WriteMsg::Request(mut wr) = msg {
                if let Some(done) = wr.done_tx.take() {
                    let _ = done.send(WriteResult::Failed {
                        err: self.closed_error(),
                        nothing_written: true,
                        body: Some(Box::new(wr.body)),
                        body_err: false,
                    });
                }
            }
        }
    }

    /// Tells the reader thread how the body it lent out ended (or that the connection closed),
    /// and wakes it. Never blocks: if the channel is full, the reader has an event to see.
    pub(crate) fn send_body_event(&self, ev: BodyEvent) {
        let _ = self.bodych.try_send(ev);
        if let Some(t) = &self.state.lock().reader {
            t.unpark();
        }
    }

    /// The thread that started the last round trip on this connection, if any.
    pub(crate) fn last_caller(&self) -> Option<std::thread::ThreadId> {
        self.state.lock().last_caller
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state.lock().phase, Phase::Closed { .. })
    }

    /// Marks the start of round trip `req_id`; true if the connection carried one before.
    /// Called on the caller's thread, which is remembered as the connection's last caller.
    pub(crate) fn begin(&self, req_id: u64) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        st.uses += 1;
        st.last_caller = Some(me);
        if !matches!(st.phase, Phase::Closed { .. }) {
            st.phase = Phase::InFlight(req_id);
        }
        st.uses > 1
    }

    /// Request `req_id`'s response head is with its caller, who reads the body.
    fn lend_body(&self, req_id: u64) {
        let mut st = self.state.lock();
        if st.phase == Phase::InFlight(req_id) {
            st.phase = Phase::BodyLent(req_id);
        }
    }

    /// Request `req_id`'s exchange ended cleanly: the connection carries no request now (and
    /// may go back to the pool). A cancel or timeout that comes later leaves it alone.
    pub(crate) fn end_exchange(&self, req_id: u64) {
        let mut st = self.state.lock();
        if matches!(st.phase, Phase::InFlight(id) | Phase::BodyLent(id) if id == req_id) {
            st.phase = Phase::Idle;
        }
    }

    /// True if the writer wrote request `req_id` in full (without waiting).
    fn wrote_full(&self, req_id: u64) -> bool {
        self.state.lock().wrote.full == req_id
    }

    /// True once the writer has written request `req_id` in full. A fast server's whole
    /// response can be read before the writer thread records the end of its write, so this
    /// waits for the writer a little, as Go's `persistConn.wroteRequest` does
    /// (`MAX_WRITE_WAIT_BEFORE_REUSE`, 50 ms); false if it did not finish by then.
    pub(crate) fn wrote_in_full(&self, req_id: u64) -> bool {
        let until = Instant::now() + MAX_WRITE_WAIT_BEFORE_REUSE;
        loop {
            {
                let mut st = self.state.lock();
                let closed = matches!(st.phase, Phase::Closed { .. });
                if st.wrote.done == req_id || closed || Instant::now() >= until {
                    return st.wrote.full == req_id;
                }
                st.wrote_waiters.push(std::thread::current());
            }
            wake::park_until(Some(until));
        }
    }

    /// The writer is done with request `req_id` (in full or not): record it and wake the
    /// threads waiting in `wrote_in_full`.
    fn wrote(&self, req_id: u64, full: bool) {
        let waiters = {
            let mut st = self.state.lock();
            st.wrote.done = req_id;
            if full {
                st.wrote.full = req_id;
            }
            std::mem::take(&mut st.wrote_waiters)
        };
        for t in waiters {
            t.unpark();
        }
    }

    /// Closes the connection: shuts the socket down (waking both threads and any body read),
    /// and tells the transport it is gone. Never blocks; idempotent. Must not be called with
    /// the pool lock held.
    pub(crate) fn close(&self, reason: Error) {
        self.close_as(reason.kind(), false);
    }

    fn close_as(&self, reason: ErrorKind, upgraded: bool) {
        let (reader, writer, waiters) = {
            let mut st = self.state.lock();
            if matches!(st.phase, Phase::Closed { .. }) {
                return;
            }
            st.phase = Phase::Closed { reason, upgraded };
            (
                st.reader.clone(),
                st.writer.clone(),
                std::mem::take(&mut st.wrote_waiters),
            )
        };
        if !upgraded {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
        // Wake the threads' waits. Neither send can block: if a channel is full, its thread
        // has work queued and checks the phase after it.
        let _ = self.writech.try_send(WriteMsg::Close);
        let _ = self.bodych.try_send(BodyEvent::Closed);
        for t in reader.iter().chain(writer.iter()).chain(waiters.iter()) {
            t.unpark();
        }
        if let Some(t) = self.transport.upgrade() {
            t.conn_closed(self);
        }
    }

    /// Closes the connection only if it still carries request `req_id`.
    pub(crate) fn close_for(&self, req_id: u64, reason: Error) {
        if self.carries(req_id) {
            self.close(reason);
        }
    }

    /// Hands the socket to the caller after a 101: the threads stop, the socket stays open.
    fn release_for_upgrade(&self) {
        self.close_as(ErrorKind::Hijacked, true);
    }

    fn closed_error(&self) -> Error {
        match self.state.lock().phase {
            Phase::Closed {
                reason: ErrorKind::Canceled,
                ..
            } => Error::new(ErrorKind::Canceled),
            Phase::Closed {
                reason: ErrorKind::Timeout(p),
                ..
            } => Error::timeout(p),
            _ => Error::closed(ClosedDuring::Head),
        }
    }
}

impl Cancelable for PersistConn {
    fn cancel(&self, req_id: u64) {
        self.close_for(req_id, Error::new(ErrorKind::Canceled));
    }

    fn carries(&self, req_id: u64) -> bool {
        matches!(self.state.lock().phase, Phase::InFlight(id) | Phase::BodyLent(id) if id == req_id)
    }
}

/// Spawns a connection thread, counted in the transport's thread count while it runs.
fn spawn_counted(
    t: &TransportInner,
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<Thread> {
    /// Counts the thread out when it ends, by a panic too.
    struct Counted(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let threads = Arc::clone(&t.threads);
    threads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let counted = Counted(Arc::clone(&threads));
    let r = spawn_thread(
        name,
        Box::new(move || {
            let _counted = counted;
            f();
        }),
    );
    match r {
        Ok(h) => Ok(h.thread().clone()),
        Err(e) => {
            threads.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            Err(e)
        }
    }
}

/// Starts one of the client's threads (a connection's reader or writer, a dial) with a small
/// stack. The closure is boxed so that std's thread-spawning code is compiled once for all of
/// them, not once per closure type.
pub(crate) fn spawn_thread(
    name: &str,
    f: Box<dyn FnOnce() + Send>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(256 << 10)
        .spawn(f)
}

impl std::fmt::Debug for PersistConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistConn")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("phase", &self.state.lock().phase)
            .finish_non_exhaustive()
    }
}

/// The reader thread's head reads: no deadline (the socket is read at the server's pace; a
/// caller's deadline closes the connection), and an error on a connection closed meanwhile
/// reported as why it closed.
struct ConnTiming<'a>(&'a PersistConn);

impl HeadTiming for ConnTiming<'_> {
    fn next_read(&self, _started: bool) -> (Option<Instant>, TimeoutPhase) {
        (None, TimeoutPhase::ReadResponseHead)
    }

    fn read_error(&self, e: std::io::Error, phase: TimeoutPhase) -> Error {
        if self.0.is_closed() {
            self.0.closed_error()
        } else {
            Error::from_io(e, phase)
        }
    }
}

/// The caller's side of one exchange on `pc`.
pub(crate) fn round_trip(
    pc: &Arc<PersistConn>,
    t: &TransportInner,
    req: Prepared,
    req_id: u64,
) -> std::result::Result<Response, Box<RtError>> {
    let Prepared {
        method,
        url,
        head,
        body,
        body_len,
        expect_continue,
        close_after,
        deadline: req_deadline,
        cancel,
        trace,
    } = req;
    let ctx = BodyCtx {
        deadline: req_deadline,
        cancel,
        trace,
    };
    let me = std::thread::current();
    let replies = CallerReplies::get();
    let seq = replies.next_seq();
    let (resp_rx, done_rx) = (&replies.resp, &replies.wrote);
    // Replies are queued for this round trip until it returns (see `chan::Gate`).
    let _waiting = replies.gate.open(seq, resp_rx, done_rx);
    let resp_tx = resp_rx.reply_to(seq, me.clone());
    let done_tx = done_rx.reply_to(seq, me);
    // The reader tells the writer (and wakes it) whether to send the body.
    let writer = if expect_continue {
        pc.state.lock().writer.clone()
    } else {
        None
    };
    let (continue_tx, continue_rx) = match writer {
        Some(w) => {
            let (a, b) = chan::bounded();
            (Some(Notify::new(a, w)), Some(b))
        }
        None => (None, None),
    };
    let closed_early = |body: Option<Body>| RtError {
        err: Error::closed(ClosedDuring::Head),
        before_response: true,
        nothing_written: true,
        body,
        body_err: false,
    };
    if let Some(c) = &ctx.cancel {
        // Canceled already: watch() closes the connection, which no one else holds now.
        let target: Arc<dyn Cancelable> = pc.clone();
        if !c.watch(Arc::downgrade(&target), req_id) {
            return Err(Box::new(RtError::new(Error::new(ErrorKind::Canceled))));
        }
    }
    let rc = RequestAndChan {
        req_id,
        exchange: Exchange::new(method, close_after),
        resp_tx,
        continue_tx,
        trace: ctx.trace.clone(),
    };
    let wr = WriteRequest {
        req_id,
        head,
        body,
        body_len,
        continue_rx,
        continue_timeout: t.cfg.expect_continue_timeout,
        deadline: req_deadline,
        done_tx: Some(done_tx),
        notify_ok: t.cfg.response_header_timeout.is_some(),
        trace: ctx.trace.clone(),
    };
    if let Err(body) = pc.send_request(rc, wr) {
        return Err(Box::new(closed_early(*body)));
    }

    // The writer reports failures always, success only when a response-header timer must
    // start from it (`notify_ok`): a report nobody needs would wake this thread for nothing.
    let mut write_done = false;
    let mut head_deadline: Option<Instant> = None;
    let mut closed_give_up: Option<Instant> = None;
    loop {
        if ctx.cancel.as_ref().is_some_and(|c| c.is_canceled()) {
            pc.close_for(req_id, Error::new(ErrorKind::Canceled));
            return Err(Box::new(RtError::new(Error::new(ErrorKind::Canceled))));
        }
        // The write report first: a failure of the request body outranks a response that is
        // ready at the same time, and a connection failure waits briefly for that response.
        if !write_done {
            match done_rx.try_recv(seq) {
                Ok(WriteResult::Ok | WriteResult::BodySkipped) => {
                    write_done = true;
                    head_deadline = deadline::after(t.cfg.response_header_timeout);
                }
                Ok(WriteResult::Failed {
                    err,
                    nothing_written,
                    body,
                    body_err,
                }) => {
                    // A server may answer before reading the whole body (a 413, say) and
                    // close: its answer is more use than a connection write error (not than an
                    // error of the request body itself).
                    if !body_err {
                        let grace = Instant::now() + RESPONSE_AFTER_WRITE_ERROR;
                        let until = deadline::earliest(req_deadline, Some(grace)).unwrap_or(grace);
                        if let Some(Ok(parts)) = resp_rx.recv_until(seq, until) {
                            return Ok(make_response(pc, parts, req_id, url, &ctx));
                        }
                    }
                    pc.close(Error::new(err.kind()));
                    return Err(Box::new(RtError {
                        err,
                        before_response: true,
                        nothing_written,
                        body: body.map(|b| *b),
                        body_err,
                    }));
                }
                // The writer's sender was dropped without a report: the writer thread ended
                // without one (it reports a failure always, and success when asked). Go on
                // waiting for the reader, which fails the request if the connection died.
                Err(TryRecvError::Disconnected) => {
                    write_done = true;
                    head_deadline = deadline::after(t.cfg.response_header_timeout);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        match resp_rx.try_recv(seq) {
            Ok(Ok(parts)) => return Ok(make_response(pc, parts, req_id, url, &ctx)),
            Ok(Err(mut e)) => {
                // How far did the writer get? It fails fast now the socket is shut. A write
                // that succeeded may send no report, so do not wait for one then.
                let result = if pc.wrote_full(req_id) {
                    None
                } else {
                    done_rx.recv_until(seq, Instant::now() + WRITE_REPORT_AFTER_READ_ERROR)
                };
                match result {
                    Some(WriteResult::Failed {
                        err,
                        nothing_written,
                        body,
                        body_err,
                    }) => {
                        e.nothing_written = nothing_written;
                        e.body = body.map(|b| *b);
                        e.body_err = body_err;
                        if body_err {
                            // The connection error is only the consequence.
                            e.err = err;
                        }
                    }
                    _ => e.nothing_written = false,
                }
                return Err(e);
            }
            // The reader dropped our request unanswered: it closed the connection before any
            // response byte, so a retry may be safe.
            Err(TryRecvError::Disconnected) => {
                return Err(Box::new(RtError {
                    before_response: true,
                    ..RtError::new(pc.closed_error())
                }))
            }
            Err(TryRecvError::Empty) => {}
        }
        let deadline = deadline::earliest(req_deadline, head_deadline);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if !write_done
                && matches!(
                    done_rx.try_recv(seq),
                    Ok(WriteResult::Ok | WriteResult::BodySkipped)
                )
            {
                write_done = true;
            }
            let phase = if !write_done && !pc.wrote_in_full(req_id) {
                TimeoutPhase::WriteRequest
            } else {
                TimeoutPhase::ReadResponseHead
            };
            pc.close_for(req_id, Error::timeout(phase));
            return Err(Box::new(RtError::new(Error::timeout(phase))));
        }
        // A closed connection fails its request through the reader at once. One that reached
        // neither thread before both stopped (sent in the instant they exited) would wait
        // forever, so a closed connection gets a grace period and then an error.
        let mut wake_at = deadline;
        if pc.is_closed() {
            let give_up = *closed_give_up.get_or_insert_with(|| Instant::now() + CLOSED_GRACE);
            if Instant::now() >= give_up {
                return Err(Box::new(RtError {
                    before_response: true,
                    ..RtError::new(pc.closed_error())
                }));
            }
            wake_at = deadline::earliest(deadline, Some(give_up));
        }
        // Woken by the reader (the response), the writer (its report), a cancel, or the
        // deadline; possibly for nothing, so everything is polled again.
        wake::park_until(wake_at);
    }
}

/// The calling thread's reply channels (see `chan::Replies`), made on its first round trip.
struct CallerReplies {
    /// The number of the thread's last round trip, which tags its replies.
    seq: std::cell::Cell<u64>,
    /// The round trip the thread waits for now.
    gate: Gate,
    /// Held by a round trip ([`RepliesLease`]).
    busy: std::cell::Cell<bool>,
    resp: Replies<RespResult>,
    wrote: Replies<WriteResult>,
}

thread_local! {
    static CALLER_REPLIES: std::rc::Rc<CallerReplies> = std::rc::Rc::new(CallerReplies::new());
}

impl CallerReplies {
    fn new() -> CallerReplies {
        let gate = Gate::default();
        CallerReplies {
            seq: std::cell::Cell::new(0),
            busy: std::cell::Cell::new(false),
            resp: Replies::new(gate.clone()),
            wrote: Replies::new(gate.clone()),
            gate,
        }
    }

    /// This thread's channels, held for one round trip. New ones for a round trip made while
    /// the thread's are held (started from user code an outer round trip runs on this thread:
    /// a stream's `shutdown`, a body's `drop`) or while its thread-locals are being destroyed
    /// (from another thread-local's destructor).
    fn get() -> RepliesLease {
        let replies = CALLER_REPLIES
            .try_with(std::rc::Rc::clone)
            .ok()
            .filter(|r| !r.busy.get())
            .unwrap_or_else(|| std::rc::Rc::new(CallerReplies::new()));
        replies.busy.set(true);
        RepliesLease(replies)
    }

    /// The next round trip's number: never 0, which the gate keeps for "none".
    fn next_seq(&self) -> u64 {
        let seq = self.seq.get().checked_add(1).unwrap_or(1);
        self.seq.set(seq);
        seq
    }
}

/// The end of a connection thread's life, run when its loop returns or unwinds: a request
/// body's reader or a trace hook that panics on the writer or the reader thread first closes
/// the connection (so no caller waits for a thread that is gone, and the server's side of
/// the exchange ends), then the thread says it is gone, as a normal exit does.
struct ThreadExit<'a> {
    pc: &'a Arc<PersistConn>,
    writer: Option<&'a Receiver<WriteMsg>>,
    reader: Option<&'a Receiver<RequestAndChan>>,
}

impl Drop for ThreadExit<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.pc.close(Error::new(ErrorKind::Io));
        }
        if let Some(rx) = self.writer {
            self.pc.writer_exit(rx);
        }
        if let Some(rx) = self.reader {
            self.pc.reader_exit(rx);
        }
    }
}

/// A round trip's hold on its thread's [`CallerReplies`], given back when dropped.
struct RepliesLease(std::rc::Rc<CallerReplies>);

impl std::ops::Deref for RepliesLease {
    type Target = CallerReplies;
    fn deref(&self) -> &CallerReplies {
        &self.0
    }
}

impl Drop for RepliesLease {
    fn drop(&mut self) {
        self.0.busy.set(false);
    }
}

/// What a response body needs from its request.
struct BodyCtx {
    deadline: Option<Instant>,
    cancel: Option<CancelToken>,
    trace: ClientTrace,
}

fn make_response(
    pc: &Arc<PersistConn>,
    parts: RespParts,
    req_id: u64,
    url: Uri,
    req: &BodyCtx,
) -> Response {
    let body = if let Some(conn) = parts.upgraded {
        return Response::new(parts.head, ResponseBody::empty(), url, Some(*conn));
    } else if let Some((bytes, trailers)) = parts.small_body {
        ResponseBody::from_bytes(bytes, trailers)
    } else if parts.body_done {
        ResponseBody::empty()
    } else {
        ResponseBody::from_conn(ConnBody::new(
            Arc::clone(pc),
            req_id,
            parts.reusable,
            req.deadline,
            req.cancel.clone(),
            req.trace.clone(),
        ))
    };
    Response::new(parts.head, body, url, None)
}

/// The reader thread.
fn read_loop(
    pc: &Arc<PersistConn>,
    reqrx: &Receiver<RequestAndChan>,
    bodyrx: &Receiver<BodyEvent>,
    limits: Limits,
    idle_timeout: Option<Duration>,
) {
    let mut pending: Option<RequestAndChan> = None;
    // Responses read so far: how long the buffer is kept between them (`bufio::idle_grace`).
    let mut answered = 0u64;
    loop {
        // Wait for a response byte, or for the server to close the connection.
        let waited = {
            let mut rh = pc.read.lock();
            if rh.buf.is_empty() {
                let ReadHalf { buf, slot, .. } = &mut *rh;
                let size = buf.size();
                if pending.is_some() {
                    Some(buf.fill(&*pc.stream, slot, None, size))
                } else {
                    // In the pool: wait a moment with the buffer (a busy connection's next
                    // response comes at once), then give it back and wait out the idle
                    // timeout reading into the stack, so an idle connection holds none.
                    let deadline = deadline::after(idle_timeout);
                    let grace = deadline::earliest(
                        deadline,
                        deadline::after(Some(bufio::idle_grace(answered))),
                    );
                    match buf.fill(&*pc.stream, slot, grace, size) {
                        Err(e)
                            if grace != deadline
                                && matches!(
                                    e.kind(),
                                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                                ) =>
                        {
                            buf.release();
                            Some(buf.fill(&*pc.stream, slot, deadline, size))
                        }
                        other => Some(other),
                    }
                }
            } else {
                None
            }
        };
        match waited {
            None | Some(Ok(1..)) => {}
            Some(Ok(0)) => {
                // The server closed: fine while idle; an error for a request in flight.
                let err = Error::closed(ClosedDuring::Head);
                pc.close(Error::closed(ClosedDuring::Head));
                fail_pending(pending.take().or_else(|| reqrx.try_recv().ok()), err, true);
                return;
            }
            Some(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                if let Ok(rc) = reqrx.try_recv() {
                    pending = Some(rc);
                    continue;
                }
                // Idle too long: close, unless a caller has just taken the connection.
                if let Some(t) = pc.transport.upgrade() {
                    if t.remove_idle(pc) {
                        pc.close(Error::timeout(TimeoutPhase::Idle));
                        return;
                    }
                }
                continue;
            }
            Some(Err(e)) => {
                let err = if pc.is_closed() {
                    pc.closed_error()
                } else {
                    Error::from_io(e, TimeoutPhase::ReadResponseHead)
                };
                pc.close(Error::new(err.kind()));
                fail_pending(pending.take().or_else(|| reqrx.try_recv().ok()), err, true);
                return;
            }
        }
        if pc.is_closed() {
            fail_pending(
                pending.take().or_else(|| reqrx.try_recv().ok()),
                pc.closed_error(),
                true,
            );
            return;
        }

        // Bytes have arrived: they answer the pending request, which was sent to us before its
        // bytes were written.
        let rc = match pending.take().or_else(|| reqrx.try_recv().ok()) {
            Some(rc) => rc,
            None => {
                let sample = {
                    let rh = pc.read.lock();
                    String::from_utf8_lossy(&rh.buf.data()[..rh.buf.data().len().min(40)])
                        .into_owned()
                };
                log::debug!("unsolicited response on idle connection starting with {sample:?}");
                pc.close(Error::malformed(crate::error::Malformed::StatusLine));
                return;
            }
        };
        rc.trace.got_first_response_byte();
        answered += 1;
        if !respond(pc, rc, &limits, bodyrx) {
            return;
        }
    }
}

fn fail_pending(rc: Option<RequestAndChan>, err: Error, before_response: bool) {
    if let Some(rc) = rc {
        let _ = rc.resp_tx.send(Err(Box::new(RtError {
            err,
            before_response,
            nothing_written: false,
            body: None,
            body_err: false,
        })));
    }
}

/// Reads one response for `rc` and hands it over. Returns false when the reader thread must
/// stop (the connection closed or was upgraded).
fn respond(
    pc: &Arc<PersistConn>,
    mut rc: RequestAndChan,
    limits: &Limits,
    bodyrx: &Receiver<BodyEvent>,
) -> bool {
    let mut rh = pc.read.lock();
    let fin = match read_final_head(pc, &mut rh, &mut rc) {
        Ok(h) => h,
        Err(e) => {
            drop(rh);
            pc.close(Error::new(e.kind()));
            fail_pending(Some(rc), e, false);
            return false;
        }
    };
    // A final status without 100 Continue: the writer must not send the body.
    if let Some(c) = rc.continue_tx.take() {
        let _ = c.send(false);
    }

    let Final {
        head,
        framing,
        reusable,
    } = match fin {
        Ok(f) => f,
        Err(head) => return upgrade(pc, rh, rc, head),
    };
    rh.decoder = BodyDecoder::new(framing, limits);
    let small_body = match take_small_body(&mut rh) {
        Ok(b) => b,
        Err(e) => {
            drop(rh);
            pc.close(Error::new(e.kind()));
            fail_pending(Some(rc), e, false);
            return false;
        }
    };

    if rh.decoder.is_done() {
        // No body, or a small one already here: finish the exchange on this thread, so the
        // connection is back in the pool before the caller even sees the response.
        drop(rh);
        let pooled = reusable && pc.wrote_in_full(rc.req_id) && {
            pc.end_exchange(rc.req_id);
            put_idle(pc, &rc.trace)
        };
        if !pooled {
            pc.close(Error::closed(ClosedDuring::Body));
        }
        let _ = rc.resp_tx.send(Ok(RespParts {
            head,
            reusable,
            body_done: true,
            small_body,
            upgraded: None,
        }));
        return pooled;
    }
    drop(rh);
    pc.lend_body(rc.req_id);
    if rc
        .resp_tx
        .send(Ok(RespParts {
            head,
            reusable,
            body_done: false,
            small_body: None,
            upgraded: None,
        }))
        .is_err()
    {
        // The caller no longer waits (it timed out or was canceled, and closes the
        // connection itself), or its thread has exited: nobody will read the body.
        pc.close(Error::new(ErrorKind::Canceled));
        return false;
    }
    // The caller reads the body now; wait until it ends or is dropped (or `close` says the
    // connection is gone).
    matches!(bodyrx.recv(), Ok(BodyEvent::Done { pooled: true }))
}

/// Hands the connection to the caller after a 101: the threads stop, the socket stays open
/// with whatever the server sent after the head.
fn upgrade(
    pc: &Arc<PersistConn>,
    mut rh: parking_lot::MutexGuard<'_, ReadHalf>,
    rc: RequestAndChan,
    head: ResponseHead,
) -> bool {
    let buffered = rh.buf.take_all();
    drop(rh);
    pc.release_for_upgrade();
    let conn = Conn::new(Arc::clone(&pc.stream), buffered);
    let _ = rc.resp_tx.send(Ok(RespParts {
        head,
        reusable: false,
        body_done: true,
        small_body: None,
        upgraded: Some(Box::new(conn)),
    }));
    false
}

/// Reads heads until a final one (`Ok`) or a 101 (`Err`, the upgrade's head), signalling
/// 100 Continue to the writer and tracing 1xx responses.
fn read_final_head(
    pc: &PersistConn,
    rh: &mut ReadHalf,
    rc: &mut RequestAndChan,
) -> Result<std::result::Result<Final, ResponseHead>> {
    loop {
        let ReadHalf {
            buf, slot, scanner, ..
        } = rh;
        let head = bufio::read_head(buf, &*pc.stream, slot, scanner, &mut ConnTiming(pc))?
            .ok_or_else(|| Error::closed(ClosedDuring::Head))?;
        match rc.exchange.on_head(head)? {
            Next::Response(f) => return Ok(Ok(f)),
            Next::Upgrade(head) => return Ok(Err(head)),
            Next::Continue => {
                rc.trace.got_100_continue();
                if let Some(c) = rc.continue_tx.take() {
                    let _ = c.send(true);
                }
            }
            Next::Informational(head) => rc.trace.got_1xx_response(head.status, &head.headers),
        }
    }
}

/// If the whole body (at most `SMALL_BODY` bytes) is already buffered, decodes it out of the
/// buffer, leaving the decoder done.
type SmallBody = (Vec<u8>, Option<Box<http::HeaderMap>>);

fn take_small_body(rh: &mut ReadHalf) -> Result<Option<SmallBody>> {
    if rh.decoder.is_done() || rh.decoder.is_until_close() {
        return Ok(None);
    }
    let data = rh.buf.data();
    match rh.decoder.remaining() {
        Some(n) if n as usize > SMALL_BODY || (data.len() as u64) < n => return Ok(None),
        Some(_) => {}
        None => {
            // Chunked: see on a copy whether the buffer holds the whole body.
            if data.len() > SMALL_BODY * 2 {
                return Ok(None);
            }
            let mut probe = rh.decoder.clone();
            let mut at = 0;
            let mut total = 0;
            while !probe.is_done() {
                let step = match probe.decode(&data[at..], SMALL_BODY) {
                    Ok(s) => s,
                    // Report the error when the caller reads the body, as for any body.
                    Err(_) => return Ok(None),
                };
                if step.consumed == 0 {
                    return Ok(None);
                }
                total += step.data.len();
                at += step.consumed;
                if total > SMALL_BODY || (at == data.len() && !probe.is_done()) {
                    return Ok(None);
                }
            }
        }
    }
    let mut body = Vec::new();
    while !rh.decoder.is_done() {
        let step = rh.decoder.decode(rh.buf.data(), SMALL_BODY)?;
        body.extend_from_slice(&rh.buf.data()[step.data]);
        rh.buf.consume(step.consumed);
    }
    let trailers = rh.decoder.take_trailers().map(Box::new);
    Ok(Some((body, trailers)))
}

/// Returns the connection to the pool; false if it could not go (then the caller closes it).
pub(crate) fn put_idle(pc: &Arc<PersistConn>, trace: &ClientTrace) -> bool {
    match put_idle_untraced(pc) {
        Some(r) => {
            trace.put_idle_conn(r.err());
            r.is_ok()
        }
        None => false,
    }
}

/// [`put_idle`] without the trace hook: `None` if the transport is gone, else whether the
/// connection went back (`Err` says why not), for a caller that must finish its own work
/// before user code runs.
pub(crate) fn put_idle_untraced(
    pc: &Arc<PersistConn>,
) -> Option<std::result::Result<(), &'static str>> {
    pc.transport.upgrade().map(|t| t.put_idle(pc))
}

/// The writer thread.
fn write_loop(pc: &Arc<PersistConn>, rx: &Receiver<WriteMsg>, write_buffer_size: usize) {
    let mut slot = TimeoutSlot::default();
    // Allocated for the first request with a body, and given back when the connection has
    // been idle for a moment: an idle pooled connection holds no write buffer.
    let mut buf: Vec<u8> = Vec::new();
    // Requests written so far: how long the buffer is kept between them (`bufio::idle_grace`).
    let mut written = 0u64;
    loop {
        // The wait for the next request lasts as long as the connection stays idle: it
        // re-polls rarely (`recv_idle`), so an idle connection's writer wakes every 30 s.
        let msg = if buf.is_empty() {
            rx.recv_idle()
        } else {
            match rx.recv_until(Instant::now() + bufio::idle_grace(written)) {
                Some(m) => Ok(m),
                None => {
                    buf = Vec::new();
                    rx.recv_idle()
                }
            }
        };
        let mut wr = match msg {
            Ok(WriteMsg::Request(wr)) => *wr,
            Ok(WriteMsg::Close) | Err(_) => return,
        };
        if buf.is_empty() && wr.body_len != Some(0) {
            buf = vec![0u8; write_buffer_size.max(1024)];
        }
        written += 1;
        let req_id = wr.req_id;
        let done_tx = wr.done_tx.take();
        let notify_ok = wr.notify_ok;
        let trace = wr.trace.clone();
        // The body's reader (a `Body::from_reader`, a `Body::replayable` factory) and the
        // trace hooks are user code: a panic in them fails this request with an error that
        // says so, rather than with the connection closing under it as if the server had
        // closed it. The thread then ends (the connection is closed below).
        let mut panicked = false;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_request(pc, &mut slot, &mut buf, wr)
        }))
        .unwrap_or_else(|_| {
            panicked = true;
            WriteResult::Failed {
                err: Error::with_source(
                    ErrorKind::Io,
                    "the request body's reader or a trace hook panicked while the request was written",
                ),
                nothing_written: false,
                body: None,
                body_err: true,
            }
        });
        pc.wrote(req_id, matches!(result, WriteResult::Ok));
        match &result {
            WriteResult::Ok => trace.wrote_request(true),
            // The response is still to be read: the connection closes after it, as it is
            // not reusable (`wrote_in_full` says no).
            WriteResult::BodySkipped => trace.wrote_request(false),
            WriteResult::Failed { .. } => {
                trace.wrote_request(false);
                // Stop sending, but let the reader still take a response the server may have
                // sent before it stopped reading (a 413, say). The caller closes the
                // connection if none comes; it can never be reused (`wrote` is not set).
                let _ = pc.stream.shutdown(std::net::Shutdown::Write);
            }
        }
        if panicked {
            if let Some(done_tx) = done_tx {
                let _ = done_tx.send(result);
            }
            pc.close(Error::new(ErrorKind::Io));
            return;
        }
        if let Some(done_tx) = done_tx {
            if matches!(result, WriteResult::Ok) && !notify_ok {
                // No report wanted: send nothing and wake no one. A caller that needs to know
                // asks the connection (`wrote_full`, `wrote_in_full`).
                done_tx.drop_silently();
            } else {
                let _ = done_tx.send(result);
            }
        }
        if pc.is_closed() {
            return;
        }
    }
}

fn write_request(
    pc: &PersistConn,
    slot: &mut TimeoutSlot,
    buf: &mut [u8],
    wr: WriteRequest,
) -> WriteResult {
    let WriteRequest {
        head,
        mut body,
        body_len,
        continue_rx,
        continue_timeout,
        deadline,
        trace,
        ..
    } = wr;
    let fail = |e: std::io::Error| Error::from_io(e, TimeoutPhase::WriteRequest);
    let stream = &*pc.stream;
    // Before the write, as Go's hook runs while the head is buffered: a response cannot
    // arrive before the caller has seen what was sent.
    trace.wrote_header_fields(&head);

    // A small body with a known length goes out with the head in one write.
    if continue_rx.is_none() {
        if let Some(n) = body_len.filter(|&n| n > 0 && n as usize <= buf.len()) {
            let n = n as usize;
            if let Err(e) = read_exact_body(&mut body, &mut buf[..n]) {
                return WriteResult::Failed {
                    err: e,
                    nothing_written: true,
                    body: None,
                    body_err: true,
                };
            }
            let mut written = 0;
            if let Err(e) = deadline::write_all_counted(
                stream,
                slot,
                deadline,
                &[&head, &buf[..n]],
                &mut written,
            ) {
                // Go's `nothingWrittenError`: not one byte went out. The body was read into
                // the buffer, so a retry needs a copy of it (the transport keeps one of a
                // replayable body).
                return WriteResult::Failed {
                    err: fail(e),
                    nothing_written: written == 0,
                    body: None,
                    body_err: false,
                };
            }
            trace.wrote_headers();
            return match ensure_body_end(&mut body) {
                Ok(()) => WriteResult::Ok,
                Err(e) => WriteResult::Failed {
                    err: e,
                    nothing_written: false,
                    body: None,
                    body_err: true,
                },
            };
        }
    }

    if let Err(e) = deadline::write_all(stream, slot, deadline, &[&head]) {
        return WriteResult::Failed {
            err: fail(e),
            nothing_written: true,
            body: Some(Box::new(body)),
            body_err: false,
        };
    }
    trace.wrote_headers();
    if body_len == Some(0) {
        return WriteResult::Ok;
    }
    if let Some(rx) = continue_rx {
        let go = wait_for_continue(pc, &rx, Instant::now() + continue_timeout);
        if !go {
            // A final status came instead of 100 Continue (or the connection closed): the
            // body is not sent. Closing the connection here would cut off that response.
            return WriteResult::BodySkipped;
        }
    }
    match write_body(stream, slot, deadline, buf, &mut body, body_len) {
        Ok(()) => WriteResult::Ok,
        Err(e) => WriteResult::Failed {
            body_err: matches!(e, BodyWriteError::Body(_)),
            err: e.into(),
            nothing_written: false,
            body: None,
        },
    }
}

/// Waits for the reader's word on `100 Continue`: true to send the body (it came, or
/// `until` passed without an answer, as Go does after `ExpectContinueTimeout`), false if a
/// final status came instead or the connection closed. The reader's sender wakes this thread
/// when it sends or is dropped, and `close` wakes it too.
fn wait_for_continue(pc: &PersistConn, rx: &Receiver<bool>, until: Instant) -> bool {
    loop {
        match rx.try_recv() {
            Ok(go) => return go,
            Err(TryRecvError::Disconnected) => return false,
            Err(TryRecvError::Empty) => {}
        }
        if pc.is_closed() {
            return false;
        }
        if Instant::now() >= until {
            return true;
        }
        wake::park_until(Some(until));
    }
}

fn read_exact_body(body: &mut Body, out: &mut [u8]) -> Result<()> {
    use std::io::Read;
    crate::body::read_exact_with(&mut |b| body.read(b), out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::invalid_input("request body shorter than its declared length")
        } else {
            Error::with_source(ErrorKind::Io, e)
        }
    })
}

fn ensure_body_end(body: &mut Body) -> Result<()> {
    use std::io::Read;
    let mut one = [0u8; 1];
    match body.read(&mut one) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Error::invalid_input(
            "request body longer than its declared length",
        )),
        Err(e) => Err(Error::with_source(ErrorKind::Io, e)),
    }
}

pub(crate) fn write_body(
    stream: &dyn Stream,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    buf: &mut [u8],
    body: &mut Body,
    body_len: Option<u64>,
) -> std::result::Result<(), BodyWriteError> {
    use std::io::Read;
    let fail =
        |e: std::io::Error| BodyWriteError::Conn(Error::from_io(e, TimeoutPhase::WriteRequest));
    let mut sent: u64 = 0;
    let mut line = Vec::with_capacity(20);
    loop {
        let n = match body.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyWriteError::Body(Error::with_source(ErrorKind::Io, e))),
        };
        if n == 0 {
            break;
        }
        sent += n as u64;
        match body_len {
            Some(len) if sent > len => {
                return Err(BodyWriteError::Body(Error::invalid_input(
                    "request body longer than its declared length",
                )))
            }
            Some(_) => deadline::write_all(stream, slot, deadline, &[&buf[..n]]).map_err(fail)?,
            None => {
                line.clear();
                chunked::encode_chunk_header(n, &mut line);
                deadline::write_all(stream, slot, deadline, &[&line, &buf[..n], b"\r\n"])
                    .map_err(fail)?;
            }
        }
    }
    match body_len {
        Some(len) if sent < len => Err(BodyWriteError::Body(Error::invalid_input(
            "request body shorter than its declared length",
        ))),
        Some(_) => Ok(()),
        None => {
            // A body read to its end may have trailers of its own (one moved from a server's
            // request, in a proxy): they end the chunked body, minus the fields that frame,
            // route or authenticate a message (RFC 9110 §6.5.1).
            line.clear();
            let trailers = body
                .trailers()
                .map(crate::proto::framing::sendable_trailers);
            chunked::encode_last(trailers.as_ref().filter(|t| !t.is_empty()), &mut line);
            deadline::write_all(stream, slot, deadline, &[&line]).map_err(fail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round trip started while the thread's reply channels are held (from user code an
    /// outer round trip runs) gets channels of its own, so neither closes the other's gate;
    /// once given back, the thread's own are used again.
    #[test]
    fn a_nested_round_trip_takes_channels_of_its_own() {
        let outer = CallerReplies::get();
        let inner = CallerReplies::get();
        assert!(!std::rc::Rc::ptr_eq(&outer.0, &inner.0));
        let outer_seq = outer.next_seq();
        let _outer_waiting = outer.gate.open(outer_seq, &outer.resp, &outer.wrote);
        {
            let seq = inner.next_seq();
            let _inner_waiting = inner.gate.open(seq, &inner.resp, &inner.wrote);
        }
        // The outer round trip still receives its reply.
        let tx = outer.wrote.reply_to(outer_seq, std::thread::current());
        assert!(tx.send(WriteResult::Ok).is_ok());
        assert!(matches!(
            outer.wrote.try_recv(outer_seq),
            Ok(WriteResult::Ok)
        ));
        drop(inner);
        let first = std::rc::Rc::clone(&outer.0);
        drop(_outer_waiting);
        drop(outer);
        let again = CallerReplies::get();
        assert!(std::rc::Rc::ptr_eq(&first, &again.0));
    }
}

#[cfg(test)]
mod size_tests {
    /// What a round trip moves by value stays small: a channel message is copied in and out
    /// of its slot, and a response is returned through every layer. Rare parts (trailers, a
    /// 101's connection, a body handed back after a failed write) are boxed for this; an
    /// inline `HeaderMap` is 96 bytes.
    #[test]
    fn what_a_round_trip_moves_stays_small() {
        use std::mem::size_of;
        let sizes = [
            ("Msg", size_of::<super::chan::Msg>(), 160),
            ("WriteResult", size_of::<super::WriteResult>(), 24),
            ("Response", size_of::<crate::client::Response>(), 256),
            ("ResponseBody", size_of::<crate::client::ResponseBody>(), 48),
            ("Body", size_of::<crate::Body>(), 56),
        ];
        for (name, size, most) in sizes {
            assert!(size <= most, "{name} is {size} bytes, more than {most}");
        }
    }
}
