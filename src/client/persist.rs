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
//! It parses the response head (skipping 1xx, signalling `100 Continue` to the writer), hands
//! the response to the caller, and then lends the read half to the caller's body and waits on
//! `bodych`. The body reads the socket directly (no hand-off per read); at its end it returns
//! the connection to the pool *before* the caller sees EOF, then tells the reader to go on.
//!
//! The writer thread (Go's `writeLoop`) writes each request's head and body, waiting for
//! `100 Continue` when asked, and reports the result on the request's `done` channel.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender, TryRecvError};
use http::{Method, StatusCode, Uri};
use parking_lot::{Condvar, Mutex};

use super::proxy::ConnKey;
use super::response::{ConnBody, Response, ResponseBody};
use super::trace::{CancelToken, ClientTrace};
use super::transport::TransportInner;
use super::wake::{self, Notify};
use crate::bufio::{ReadBuf, READ_BUF};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase, TooLarge};
use crate::net::{Conn, Stream};
use crate::proto::body::BodyDecoder;
use crate::proto::framing::{self, Framing};
use crate::proto::head::{self, Parsed, ResponseHead};
use crate::proto::{chunked, Limits};
use crate::Body;

/// The most informational responses skipped before a final one.
pub(crate) const MAX_1XX: usize = 16;

/// How long a finished response waits for the writer to finish its request before the
/// connection is given up instead of reused (Go's `maxWriteWaitBeforeConnReuse`).
const MAX_WRITE_WAIT_BEFORE_REUSE: Duration = Duration::from_millis(50);

/// How long a caller waits for an answer on a connection that has closed before it gives up:
/// the reader answers at once in every case but a request sent in the instant both threads
/// exited.
const CLOSED_GRACE: Duration = Duration::from_secs(1);

/// Bodies up to this size that are already buffered when the head is parsed are read by the
/// reader thread itself, sparing a hand-off.
const SMALL_BODY: usize = 16 << 10;

/// A pooled connection. Shared by the pool, the two connection threads, the caller of a round
/// trip and the response body.
pub(crate) struct PersistConn {
    pub(crate) id: u64,
    pub(crate) key: ConnKey,
    pub(crate) stream: Arc<dyn Stream>,
    /// Sent by `round_trip`; received by the reader thread (which takes it when response
    /// bytes arrive, so it needs no wake-up).
    reqch: Sender<RequestAndChan>,
    /// Sent by `round_trip` (and `Close` by `close`) with `send_write`, which wakes the writer
    /// thread parked on it.
    writech: Sender<WriteMsg>,
    /// Sent by the response body when it ends or is dropped, and by `close`, with
    /// `send_body_event`, which wakes the reader thread parked on it.
    bodych: Sender<BodyEvent>,
    /// The reader and writer threads, set by `start` before the connection is shared.
    reader: OnceLock<Thread>,
    writer: OnceLock<Thread>,
    /// Dropped by `close`: every `recv` on `close_rx` then returns at once. Only the writer's
    /// rare wait for `100 Continue` selects on it; the per-request waits are woken by a
    /// message from `close` instead, so they need not register on a shared channel.
    close_tx: Mutex<Option<Sender<()>>>,
    close_rx: Receiver<()>,
    closed: AtomicBool,
    /// Why it closed; set once, before `closed`.
    close_reason: Mutex<Option<ErrorKind>>,
    /// The read half: owned by the reader thread while it waits for and parses a head, lent to
    /// the response body while the caller reads it. See `ReadHalf`.
    pub(crate) read: Mutex<ReadHalf>,
    /// How many round trips have started on this connection.
    uses: AtomicU64,
    /// What the writer has done; written by the writer thread, waited for when deciding
    /// whether the connection can be reused (`wrote_cv` is notified on each request the
    /// writer is done with, and on close).
    wrote: Mutex<Wrote>,
    wrote_cv: Condvar,
    /// Set when a 101 response handed the connection to the caller: close() then leaves the
    /// socket open.
    upgraded: AtomicBool,
    /// The request this connection carries now; set by `round_trip`. A cancel or timeout
    /// that arrives late closes the connection only if it still carries that request
    /// (`close_for`), as Go's `replaceReqCanceler` ensures.
    pub(crate) current: AtomicU64,
    pub(crate) transport: Weak<TransportInner>,
}

/// The read half of a client connection: buffered bytes and the body decoder.
pub(crate) struct ReadHalf {
    pub(crate) buf: ReadBuf,
    pub(crate) slot: TimeoutSlot,
    pub(crate) decoder: BodyDecoder,
}

/// What the caller hands the reader thread for one round trip.
struct RequestAndChan {
    req_id: u64,
    method: Method,
    /// The request asked for the connection to close (or keep-alives are off).
    close_after: bool,
    /// Receives the response head, or the error that ended the wait for it; wakes the caller.
    resp_tx: Notify<std::result::Result<RespParts, Box<RtError>>>,
    /// Tells the writer whether to send the body after `Expect: 100-continue`.
    continue_tx: Option<Sender<bool>>,
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
    done_tx: Option<Notify<WriteResult>>,
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
        /// The body, if the writer never read from it.
        body: Option<Body>,
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

/// A response head delivered by the reader thread.
struct RespParts {
    head: ResponseHead,
    /// The connection may carry another request after this body.
    reusable: bool,
    /// The reader already finished the exchange: the body was empty, or is `small_body`.
    body_done: bool,
    /// A small body the reader read whole from its buffer, with its trailers.
    small_body: Option<(Vec<u8>, Option<http::HeaderMap>)>,
    upgraded: Option<Conn>,
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
}

impl RtError {
    fn new(err: Error) -> RtError {
        RtError {
            err,
            before_response: false,
            nothing_written: false,
            body: None,
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
        let (reqch, reqrx) = crossbeam_channel::bounded(1);
        let (writech, writerx) = crossbeam_channel::bounded(1);
        let (bodych, bodyrx) = crossbeam_channel::bounded(1);
        let (close_tx, close_rx) = crossbeam_channel::bounded(0);
        let pc = Arc::new(PersistConn {
            id,
            key,
            stream,
            reqch,
            writech,
            bodych,
            reader: OnceLock::new(),
            writer: OnceLock::new(),
            close_tx: Mutex::new(Some(close_tx)),
            close_rx,
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            read: Mutex::new(ReadHalf {
                buf: ReadBuf::with_size(t.cfg.read_buffer_size),
                slot: TimeoutSlot::default(),
                decoder: BodyDecoder::empty(),
            }),
            uses: AtomicU64::new(0),
            wrote: Mutex::new(Wrote::default()),
            wrote_cv: Condvar::new(),
            upgraded: AtomicBool::new(false),
            current: AtomicU64::new(0),
            transport: Arc::downgrade(t),
        });
        let limits = Limits {
            max_head_bytes: t.cfg.max_response_header_bytes,
            ..Limits::default()
        };
        let idle_timeout = t.cfg.idle_conn_timeout;
        let write_buffer_size = t.cfg.write_buffer_size;
        let threads = Arc::clone(&t.threads);

        // The writer first, and its handle stored before the reader starts: the reader is the
        // only one that can close the connection before `start` returns (an EOF or stray bytes
        // on a fresh connection), and `close` must find the writer's handle to wake it from
        // its first park. (No one sends to the reader's `bodych` before a response exists.)
        let w = Arc::clone(&pc);
        let wt = Arc::clone(&threads);
        wt.fetch_add(1, Ordering::SeqCst);
        let writer = std::thread::Builder::new()
            .name("nethttp-write".into())
            .stack_size(256 << 10)
            .spawn(move || {
                write_loop(&w, &writerx, write_buffer_size);
                wt.fetch_sub(1, Ordering::SeqCst);
            });
        match writer {
            Ok(h) => {
                let _ = pc.writer.set(h.thread().clone());
            }
            Err(e) => {
                threads.fetch_sub(1, Ordering::SeqCst);
                pc.close(Error::with_source(ErrorKind::Io, e));
                return Err(Error::invalid_input(
                    "cannot start connection writer thread",
                ));
            }
        }
        let r = Arc::clone(&pc);
        let rt = Arc::clone(&threads);
        rt.fetch_add(1, Ordering::SeqCst);
        let reader = std::thread::Builder::new()
            .name("nethttp-read".into())
            .stack_size(256 << 10)
            .spawn(move || {
                read_loop(&r, &reqrx, &bodyrx, limits, idle_timeout);
                rt.fetch_sub(1, Ordering::SeqCst);
            });
        match reader {
            Ok(h) => {
                let _ = pc.reader.set(h.thread().clone());
            }
            Err(e) => {
                threads.fetch_sub(1, Ordering::SeqCst);
                pc.close(Error::with_source(ErrorKind::Io, e));
                return Err(Error::invalid_input(
                    "cannot start connection reader thread",
                ));
            }
        }
        Ok(pc)
    }

    /// Sends to the writer thread and wakes it. Never blocks: `writech` has room for the one
    /// request a connection carries at a time, and `Close` is only tried.
    fn send_write(&self, msg: WriteMsg) -> std::result::Result<(), WriteMsg> {
        let r = self.writech.try_send(msg).map_err(|e| e.into_inner());
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
        r
    }

    /// Tells the reader thread how the body it lent out ended (or that the connection closed),
    /// and wakes it. Never blocks: if the channel is full, the reader has an event to see.
    pub(crate) fn send_body_event(&self, ev: BodyEvent) {
        let _ = self.bodych.try_send(ev);
        if let Some(t) = self.reader.get() {
            t.unpark();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks the start of a round trip; true if the connection carried one before.
    pub(crate) fn begin_use(&self) -> bool {
        self.uses.fetch_add(1, Ordering::SeqCst) > 0
    }

    /// True once the writer has written request `req_id` in full. A fast server's whole
    /// response can be read before the writer thread records the end of its write, so this
    /// waits for the writer a little, as Go's `persistConn.wroteRequest` does
    /// (`maxWriteWaitBeforeConnReuse`, 50 ms); false if it did not finish by then.
    pub(crate) fn wrote_in_full(&self, req_id: u64) -> bool {
        let mut wrote = self.wrote.lock();
        let until = Instant::now() + MAX_WRITE_WAIT_BEFORE_REUSE;
        while wrote.done != req_id && !self.is_closed() {
            if self.wrote_cv.wait_until(&mut wrote, until).timed_out() {
                break;
            }
        }
        wrote.full == req_id
    }

    /// Closes the connection: shuts the socket down (waking both threads and any body read),
    /// and tells the transport it is gone. Never blocks; idempotent. Must not be called with
    /// the pool lock held.
    pub(crate) fn close(&self, reason: Error) {
        {
            let mut r = self.close_reason.lock();
            if r.is_none() {
                *r = Some(reason.kind());
            }
        }
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if !self.upgraded.load(Ordering::SeqCst) {
            let _ = self.stream.shutdown(std::net::Shutdown::Both);
        }
        drop(self.close_tx.lock().take());
        // Wake the threads' per-request waits. Neither send can block: if a channel is full,
        // its thread has work queued and checks `closed` after it.
        let _ = self.send_write(WriteMsg::Close);
        self.send_body_event(BodyEvent::Closed);
        {
            // Wake a `wrote_in_full` waiter: the write will not finish now.
            let _wrote = self.wrote.lock();
            self.wrote_cv.notify_all();
        }
        if let Some(t) = self.transport.upgrade() {
            t.conn_closed(self);
        }
    }

    /// Closes the connection only if it still carries request `req_id`.
    pub(crate) fn close_for(&self, req_id: u64, reason: Error) {
        if self.current.load(Ordering::SeqCst) == req_id {
            self.close(reason);
        }
    }

    /// Hands the socket to the caller after a 101: the threads stop, the socket stays open.
    fn release_for_upgrade(&self) {
        self.upgraded.store(true, Ordering::SeqCst);
        self.close(Error::new(ErrorKind::Hijacked));
    }

    fn closed_error(&self) -> Error {
        match *self.close_reason.lock() {
            Some(ErrorKind::Canceled) => Error::new(ErrorKind::Canceled),
            Some(ErrorKind::Timeout(p)) => Error::timeout(p),
            _ => Error::closed(ClosedDuring::Head),
        }
    }
}

impl std::fmt::Debug for PersistConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistConn")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
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
    let (resp_tx, resp_rx) = crossbeam_channel::bounded(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let resp_tx = Notify::new(resp_tx, me.clone());
    let done_tx = Notify::new(done_tx, me);
    let (continue_tx, continue_rx) = if expect_continue {
        let (a, b) = crossbeam_channel::bounded(1);
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let closed_early = |body: Option<Body>| RtError {
        err: Error::closed(ClosedDuring::Head),
        before_response: true,
        nothing_written: true,
        body,
    };
    pc.current.store(req_id, Ordering::SeqCst);
    if let Some(c) = &ctx.cancel {
        // Canceled already: watch() closes the connection, which no one else holds now.
        if !c.watch(pc, req_id) {
            return Err(Box::new(RtError::new(Error::new(ErrorKind::Canceled))));
        }
    }
    if pc
        .reqch
        .send(RequestAndChan {
            req_id,
            method,
            close_after,
            resp_tx,
            continue_tx,
            trace: ctx.trace.clone(),
        })
        .is_err()
    {
        return Err(Box::new(closed_early(Some(body))));
    }
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
    if let Err(msg) = pc.send_write(WriteMsg::Request(Box::new(wr))) {
        let body = match msg {
            WriteMsg::Request(wr) => Some(wr.body),
            WriteMsg::Close => None,
        };
        return Err(Box::new(closed_early(body)));
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
            match done_rx.try_recv() {
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
                        let wait = deadline::earliest(req_deadline, head_deadline)
                            .map_or(Duration::from_secs(3600), |d| {
                                d.saturating_duration_since(Instant::now())
                            });
                        let grace = Duration::from_millis(250).min(wait);
                        if let Ok(Ok(parts)) = resp_rx.recv_timeout(grace) {
                            return Ok(make_response(pc, parts, req_id, &url, &ctx));
                        }
                    }
                    pc.close(Error::new(err.kind()));
                    return Err(Box::new(RtError {
                        err,
                        before_response: true,
                        nothing_written,
                        body,
                    }));
                }
                // The writer dropped this request's sender without a report: the write
                // succeeded and no report was wanted (a failure is always reported, and a
                // dead connection fails the request through the reader).
                Err(TryRecvError::Disconnected) => {
                    write_done = true;
                    head_deadline = deadline::after(t.cfg.response_header_timeout);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        match resp_rx.try_recv() {
            Ok(Ok(parts)) => return Ok(make_response(pc, parts, req_id, &url, &ctx)),
            Ok(Err(mut e)) => {
                // How far did the writer get? It fails fast now the socket is shut. A write
                // that succeeded may send no report, so do not wait for one then.
                let succeeded = pc.wrote.lock().full == req_id;
                let result = if succeeded {
                    None
                } else {
                    done_rx.recv_timeout(Duration::from_millis(100)).ok()
                };
                match result {
                    Some(WriteResult::Failed {
                        err,
                        nothing_written,
                        body,
                        body_err,
                    }) => {
                        e.nothing_written = nothing_written;
                        e.body = body;
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
                    done_rx.try_recv(),
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
    url: &Uri,
    req: &BodyCtx,
) -> Response {
    let body = if let Some(conn) = parts.upgraded {
        return Response::new(parts.head, ResponseBody::empty(), url.clone(), Some(conn));
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
    Response::new(parts.head, body, url.clone(), None)
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
    loop {
        // Wait for a response byte, or for the server to close the connection.
        let waited = {
            let mut rh = pc.read.lock();
            if rh.buf.is_empty() {
                let deadline = if pending.is_none() {
                    deadline::after(idle_timeout)
                } else {
                    None
                };
                let ReadHalf { buf, slot, .. } = &mut *rh;
                let size = buf.size();
                Some(buf.fill(&*pc.stream, slot, deadline, size))
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
    let head = match read_final_head(pc, &mut rh, &mut rc, limits) {
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
        let _ = c.try_send(false);
    }

    if head.status == StatusCode::SWITCHING_PROTOCOLS {
        let buffered = rh.buf.take_all();
        drop(rh);
        pc.release_for_upgrade();
        let conn = Conn::new(Arc::clone(&pc.stream), buffered);
        let _ = rc.resp_tx.send(Ok(RespParts {
            head,
            reusable: false,
            body_done: true,
            small_body: None,
            upgraded: Some(conn),
        }));
        return false;
    }

    let framing = match framing::response(&rc.method, head.status, head.version, &head.headers) {
        Ok(f) => f,
        Err(e) => {
            drop(rh);
            pc.close(Error::new(e.kind()));
            fail_pending(Some(rc), e, false);
            return false;
        }
    };
    let reusable = !rc.close_after
        && !crate::proto::head::wants_close(head.version, &head.headers)
        && framing != Framing::UntilClose;
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
        let pooled = reusable && pc.wrote_in_full(rc.req_id) && put_idle(pc, &rc.trace);
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
        pc.close(Error::new(ErrorKind::Canceled));
        return false;
    }
    // The caller reads the body now; wait until it ends or is dropped (or `close` says the
    // connection is gone).
    matches!(wake::recv(bodyrx), Ok(BodyEvent::Done { pooled: true }))
}

/// If the whole body (at most `SMALL_BODY` bytes) is already buffered, decodes it out of the
/// buffer, leaving the decoder done.
fn take_small_body(rh: &mut ReadHalf) -> Result<Option<(Vec<u8>, Option<http::HeaderMap>)>> {
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
    let trailers = rh.decoder.take_trailers();
    Ok(Some((body, trailers)))
}

/// Reads heads until a final (non-1xx, or 101) one, signalling 100 Continue to the writer.
fn read_final_head(
    pc: &PersistConn,
    rh: &mut ReadHalf,
    rc: &mut RequestAndChan,
    limits: &Limits,
) -> Result<ResponseHead> {
    let mut informational = 0;
    loop {
        let head = read_head(pc, rh, limits)?;
        if !head.status.is_informational() || head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(head);
        }
        informational += 1;
        if informational > MAX_1XX {
            return Err(Error::too_large(TooLarge::HeaderCount));
        }
        if head.status == StatusCode::CONTINUE {
            rc.trace.got_100_continue();
            if let Some(c) = rc.continue_tx.take() {
                let _ = c.try_send(true);
            }
        } else {
            rc.trace.got_1xx_response(head.status, &head.headers);
        }
    }
}

fn read_head(pc: &PersistConn, rh: &mut ReadHalf, limits: &Limits) -> Result<ResponseHead> {
    let mut scanned = 0;
    loop {
        let data = rh.buf.data();
        if let Some(end) = head::find_end(data, scanned) {
            match head::parse_response(&data[..end], limits)? {
                Parsed::Complete { head, len } => {
                    rh.buf.consume(len);
                    return Ok(head);
                }
                Parsed::Partial => scanned = data.len(),
            }
        } else {
            scanned = data.len();
            if data.len() >= limits.max_head_bytes {
                head::parse_response(data, limits)?;
                return Err(Error::too_large(TooLarge::Head));
            }
        }
        let cap = limits.max_head_bytes.saturating_add(READ_BUF);
        let ReadHalf { buf, slot, .. } = rh;
        match buf.fill(&*pc.stream, slot, None, cap) {
            Ok(0) => return Err(Error::closed(ClosedDuring::Head)),
            Ok(_) => {}
            Err(e) => {
                return Err(if pc.is_closed() {
                    pc.closed_error()
                } else {
                    Error::from_io(e, TimeoutPhase::ReadResponseHead)
                })
            }
        }
    }
}

/// Returns the connection to the pool; false if it could not go (then the caller closes it).
pub(crate) fn put_idle(pc: &Arc<PersistConn>, trace: &ClientTrace) -> bool {
    match pc.transport.upgrade() {
        Some(t) => match t.put_idle(pc) {
            Ok(()) => {
                trace.put_idle_conn(None);
                true
            }
            Err(reason) => {
                trace.put_idle_conn(Some(reason));
                false
            }
        },
        None => false,
    }
}

/// The writer thread.
fn write_loop(pc: &Arc<PersistConn>, rx: &Receiver<WriteMsg>, write_buffer_size: usize) {
    let mut slot = TimeoutSlot::default();
    let mut buf = vec![0u8; write_buffer_size.max(1024)];
    loop {
        let mut wr = match wake::recv(rx) {
            Ok(WriteMsg::Request(wr)) => *wr,
            Ok(WriteMsg::Close) | Err(_) => return,
        };
        let req_id = wr.req_id;
        let done_tx = wr.done_tx.take();
        let notify_ok = wr.notify_ok;
        let trace = wr.trace.clone();
        let result = write_request(pc, &mut slot, &mut buf, wr);
        {
            let mut wrote = pc.wrote.lock();
            wrote.done = req_id;
            if matches!(result, WriteResult::Ok) {
                wrote.full = req_id;
            }
            pc.wrote_cv.notify_all();
        }
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
        if let Some(done_tx) = done_tx {
            if matches!(result, WriteResult::Ok) && !notify_ok {
                // No report wanted: drop the sender without waking the caller (it sees the
                // disconnect, meaning success, whenever it next polls).
                drop(done_tx.into_silent());
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
            if let Err(e) = deadline::write_all(stream, slot, deadline, &[&head, &buf[..n]]) {
                return WriteResult::Failed {
                    err: fail(e),
                    nothing_written: true,
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
            body: Some(body),
            body_err: false,
        };
    }
    trace.wrote_headers();
    if body_len == Some(0) {
        return WriteResult::Ok;
    }
    if let Some(rx) = continue_rx {
        let wait = continue_timeout;
        let go = select! {
            recv(rx) -> v => v.unwrap_or(false),
            recv(pc.close_rx) -> _ => false,
            default(wait) => true,
        };
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

fn read_exact_body(body: &mut Body, out: &mut [u8]) -> Result<()> {
    use std::io::Read;
    body.read_exact(out).map_err(|e| {
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
        None => deadline::write_all(stream, slot, deadline, &[b"0\r\n\r\n"]).map_err(fail),
    }
}
