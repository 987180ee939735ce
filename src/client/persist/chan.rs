//! A connection's channels, typed, over one crossbeam element type.
//!
//! A round trip uses six channels: the request to the reader (`reqch`) and to the writer
//! (`writech`), the body's end to the reader (`bodych`), `100 Continue` from the reader to the
//! writer, the response head and the writer's report to the caller. crossbeam's channel code is
//! generic over the element type, and every flavour (array, list, zero) is compiled for each
//! type whichever one is used: six element types cost six copies, about 9 % of the LLVM IR of a
//! `client` build (docs/PERFORMANCE.md, "Compile time"). So every channel carries a [`Msg`],
//! and crossbeam's code is compiled once.
//!
//! Each channel still carries one kind of message. Its ends are typed ([`Sender<T>`],
//! [`Receiver<T>`], [`Notify<T>`]): a sender puts its `T` in a `Msg` and a receiver takes it
//! out, so a message of another kind cannot be sent on it. The blocking is `wake.rs`'s, as
//! before (poll with `try_recv`, park, woken by the sender).
//!
//! The two replies to a caller (the response head from the reader, the writer's report) go
//! over channels of the calling thread ([`Replies`]), made once per thread, not once per
//! round trip as Go's `resc` and `writeErrCh` are: a crossbeam channel is allocated with a
//! 128-byte alignment, which glibc serves through `memalign`, and two of them per round trip
//! were about a tenth of a pooled request's instructions (docs/PERFORMANCE.md). Each reply is
//! tagged with its round trip's number on that thread, and a sender dropped without replying
//! sends a tag with nothing, which the caller sees as the disconnect a channel of its own used
//! to give. A reply is only queued while its round trip is the one the thread waits for (a
//! [`Gate`]): one that comes after its caller stopped waiting (a writer's report after the
//! response or a timeout, with the request body it hands back) fails to send and is dropped
//! on the sending thread at once, as a send to a dropped receiver was, rather than kept in the
//! thread's channel. So a channel holds at most the one reply of the round trip under way
//! (each [`Reply`] sends once, the gate admits one round trip at a time, and the end of a
//! round trip takes what it left): one slot is enough, and a reply never finds it full.

use std::marker::PhantomData;
use std::sync::Arc;
use std::thread::Thread;
use std::time::Instant;

use parking_lot::Mutex;

pub(super) use crossbeam_channel::{RecvError, TryRecvError};

use super::{BodyEvent, RequestAndChan, RespResult, WriteMsg, WriteResult};
use crate::client::wake;

/// Everything a connection's channels carry.
pub(super) enum Msg {
    Request(RequestAndChan),
    Write(WriteMsg),
    Body(BodyEvent),
    Continue(bool),
    /// A reply for round trip `.0` of the calling thread; `None` from a sender dropped unsent.
    Resp(u64, Option<RespResult>),
    Wrote(u64, Option<WriteResult>),
}

/// A kind of message, and its variant of [`Msg`].
pub(super) trait Carried: Sized {
    fn into_msg(self) -> Msg;
    /// `None` for a message of another kind, which no typed end sends.
    fn from_msg(m: Msg) -> Option<Self>;
}

macro_rules! carried {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl Carried for $t {
            fn into_msg(self) -> Msg {
                Msg::$variant(self)
            }
            fn from_msg(m: Msg) -> Option<Self> {
                match m {
                    Msg::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

carried!(
    RequestAndChan => Request,
    WriteMsg => Write,
    BodyEvent => Body,
    bool => Continue,
);

/// A kind of reply to a caller, and its variant of [`Msg`].
pub(super) trait Tagged: Sized {
    fn tag(seq: u64, v: Option<Self>) -> Msg;
    /// `None` for a message of another kind, which no [`Reply`] sends.
    fn untag(m: Msg) -> Option<(u64, Option<Self>)>;
}

macro_rules! tagged {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl Tagged for $t {
            fn tag(seq: u64, v: Option<Self>) -> Msg {
                Msg::$variant(seq, v)
            }
            fn untag(m: Msg) -> Option<(u64, Option<Self>)> {
                match m {
                    Msg::$variant(seq, v) => Some((seq, v)),
                    _ => None,
                }
            }
        }
    )*};
}

tagged!(
    RespResult => Resp,
    WriteResult => Wrote,
);

/// A channel for one message at a time (every channel of a connection is: a connection carries
/// one request at a time, and each event is sent once per request).
pub(super) fn bounded<T: Carried>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    (
        Sender {
            tx,
            _t: PhantomData,
        },
        Receiver {
            rx,
            _t: PhantomData,
        },
    )
}

/// The sending end of a channel of `T`s.
pub(super) struct Sender<T> {
    tx: crossbeam_channel::Sender<Msg>,
    _t: PhantomData<fn(T)>,
}

impl<T: Carried> Sender<T> {
    /// Sends `v` if there is room, never blocking; else gives it back (`None` only if the
    /// channel handed back a message of another kind, which cannot happen).
    pub(super) fn try_send(&self, v: T) -> Result<(), Option<T>> {
        self.tx
            .try_send(v.into_msg())
            .map_err(|e| T::from_msg(e.into_inner()))
    }
}

/// The receiving end of a channel of `T`s.
pub(super) struct Receiver<T> {
    rx: crossbeam_channel::Receiver<Msg>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Carried> Receiver<T> {
    /// Takes a message without waiting.
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let m = self.rx.try_recv()?;
        T::from_msg(m).ok_or(TryRecvError::Disconnected)
    }

    /// Waits for a message, parking ([`wake::recv`]: its senders wake this thread).
    pub(super) fn recv(&self) -> Result<T, RecvError> {
        wake::recv(&self.rx).and_then(|m| T::from_msg(m).ok_or(RecvError))
    }

    /// Waits for a message as a connection thread waits for its next piece of work
    /// ([`wake::recv_idle`]: it re-polls rarely once the wait is long).
    pub(super) fn recv_idle(&self) -> Result<T, RecvError> {
        wake::recv_idle(&self.rx).and_then(|m| T::from_msg(m).ok_or(RecvError))
    }

    /// Waits for a message until `deadline` ([`wake::recv_until`]).
    pub(super) fn recv_until(&self, deadline: Instant) -> Option<T> {
        wake::recv_until(&self.rx, deadline).and_then(T::from_msg)
    }
}

/// A calling thread's channel for replies of one kind: every round trip the thread makes
/// receives its `T` here, tagged with the round trip's number (see the module's docs). The
/// work is done on [`Msg`]s by code that is not generic, compiled once for both kinds.
pub(super) struct Replies<T> {
    tx: crossbeam_channel::Sender<Msg>,
    rx: crossbeam_channel::Receiver<Msg>,
    gate: Gate,
    _t: PhantomData<fn() -> T>,
}

/// The number of the round trip a calling thread waits for now (0: none), shared by its
/// [`Replies`] and every [`Reply`] to them. A reply is queued under its lock, and only for
/// that round trip; the caller closes it on its way out of the round trip ([`Waiting`]), so
/// nothing is queued for a round trip after it has ended.
#[derive(Clone, Default)]
pub(super) struct Gate(Arc<Mutex<u64>>);

/// A calling thread's wait for round trip `seq`: opened by [`Gate::open`], closed when dropped,
/// which also drops whatever was queued and not taken (a report no one asked for).
pub(super) struct Waiting<'a> {
    gate: &'a Gate,
    rxs: [&'a crossbeam_channel::Receiver<Msg>; 2],
}

impl Gate {
    /// Opens the gate for round trip `seq` on these replies' channels until the returned
    /// guard drops.
    pub(super) fn open<'a, A, B>(
        &'a self,
        seq: u64,
        a: &'a Replies<A>,
        b: &'a Replies<B>,
    ) -> Waiting<'a> {
        let mut waiting = self.0.lock();
        // One round trip at a time per gate: a round trip started inside another on the same
        // thread (from user code the outer one runs) takes channels of its own
        // (`CallerReplies::get`).
        debug_assert_eq!(*waiting, 0, "a gate opened twice");
        *waiting = seq;
        drop(waiting);
        Waiting {
            gate: self,
            rxs: [&a.rx, &b.rx],
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        *self.gate.0.lock() = 0;
        // What was queued before the gate closed (one slot each): taken from both channels
        // first and only then dropped, outside the lock, so that a message whose drop runs
        // user code (a request body) finds both slots free whatever that code does.
        let left = [self.rxs[0].try_recv().ok(), self.rxs[1].try_recv().ok()];
        drop(left);
    }
}

impl<T: Tagged> Replies<T> {
    pub(super) fn new(gate: Gate) -> Replies<T> {
        // One slot (see the module's docs): allocated once per thread, and reused by every
        // round trip, so the slot stays in the cache.
        let (tx, rx) = crossbeam_channel::bounded(1);
        Replies {
            tx,
            rx,
            gate,
            _t: PhantomData,
        }
    }

    /// The one-shot sender of round trip `seq`'s reply, which wakes `waiter`.
    pub(super) fn reply_to(&self, seq: u64, waiter: Thread) -> Reply<T> {
        Reply {
            raw: RawReply {
                tx: Some(self.tx.clone()),
                gate: self.gate.clone(),
                seq,
                waiter,
                unsent: |seq| T::tag(seq, None),
            },
            _t: PhantomData,
        }
    }

    /// Takes round trip `seq`'s reply without waiting, skipping replies to earlier ones.
    /// `Disconnected` if its sender was dropped without replying.
    pub(super) fn try_recv(&self, seq: u64) -> Result<T, TryRecvError> {
        let m = try_recv_reply(&self.rx, seq)?;
        match T::untag(m) {
            Some((_, Some(v))) => Ok(v),
            _ => Err(TryRecvError::Disconnected),
        }
    }

    /// Waits for round trip `seq`'s reply until `deadline`, parking; `None` at the deadline
    /// or if its sender was dropped without replying.
    pub(super) fn recv_until(&self, seq: u64, deadline: Instant) -> Option<T> {
        let m = recv_reply_until(&self.rx, seq, deadline)?;
        T::untag(m).and_then(|(_, v)| v)
    }
}

/// The round trip a reply is for, and whether it carries one (not a sender dropped unsent).
fn reply_tag(m: &Msg) -> Option<(u64, bool)> {
    match m {
        Msg::Resp(seq, v) => Some((*seq, v.is_some())),
        Msg::Wrote(seq, v) => Some((*seq, v.is_some())),
        _ => None,
    }
}

/// Takes round trip `seq`'s reply, skipping any reply to another round trip (the gate
/// keeps them out; the numbers are checked all the same); `Disconnected` for its sender
/// dropped unsent.
fn try_recv_reply(rx: &crossbeam_channel::Receiver<Msg>, seq: u64) -> Result<Msg, TryRecvError> {
    loop {
        let m = rx.try_recv()?;
        match reply_tag(&m) {
            Some((s, true)) if s == seq => return Ok(m),
            Some((s, false)) if s == seq => return Err(TryRecvError::Disconnected),
            _ => {}
        }
    }
}

fn recv_reply_until(
    rx: &crossbeam_channel::Receiver<Msg>,
    seq: u64,
    deadline: Instant,
) -> Option<Msg> {
    loop {
        match try_recv_reply(rx, seq) {
            Ok(m) => return Some(m),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if Instant::now() >= deadline {
            return None;
        }
        wake::park_until(Some(deadline));
    }
}

/// The one-shot sender of one round trip's reply of kind `T` (see [`Replies`]). Dropped
/// unsent, it sends the round trip's tag with nothing and wakes the caller, which sees a
/// disconnect.
pub(super) struct Reply<T> {
    raw: RawReply,
    _t: PhantomData<fn(T)>,
}

impl<T: Tagged> Reply<T> {
    /// Sends `v` and wakes the caller; `Err`, dropping `v` on this thread, if the caller no
    /// longer waits for this round trip (it returned, or its thread has exited).
    pub(super) fn send(self, v: T) -> Result<(), ()> {
        let m = T::tag(self.raw.seq, Some(v));
        self.raw.send(m)
    }

    /// Sends nothing and wakes nobody: for a report no one asked for (the caller knows the
    /// outcome from the connection's state when it needs it).
    pub(super) fn drop_silently(mut self) {
        self.raw.tx = None;
    }
}

/// [`Reply`]'s untyped core.
struct RawReply {
    tx: Option<crossbeam_channel::Sender<Msg>>,
    gate: Gate,
    seq: u64,
    waiter: Thread,
    /// What a drop unsent sends: the round trip's tag with nothing.
    unsent: fn(u64) -> Msg,
}

impl RawReply {
    fn send(mut self, m: Msg) -> Result<(), ()> {
        match self.tx.take() {
            Some(tx) => self.queue(&tx, m),
            None => Err(()),
        }
    }

    /// Queues `m` if the caller still waits for this round trip, and wakes it. Otherwise `m`
    /// is dropped here, after the gate's lock is let go (it may hold a request body).
    fn queue(&self, tx: &crossbeam_channel::Sender<Msg>, m: Msg) -> Result<(), ()> {
        let refused = {
            let waiting = self.gate.0.lock();
            if *waiting == self.seq {
                // Never full: the slot is this round trip's alone (see the module's docs), so
                // a send fails only when the thread has exited. (`try_send` and not the
                // blocking `send`, which would be compiled for every flavour of channel:
                // docs/PERFORMANCE.md, "Compile time".)
                tx.try_send(m).err().map(|e| e.into_inner())
            } else {
                Some(m)
            }
        };
        match refused {
            None => {
                self.waiter.unpark();
                Ok(())
            }
            Some(m) => {
                drop(m);
                Err(())
            }
        }
    }
}

impl Drop for RawReply {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = self.queue(&tx, (self.unsent)(self.seq));
        }
    }
}

/// A one-shot sender of a `T` that wakes the thread waiting on the other end ([`wake::Notify`]).
pub(super) struct Notify<T> {
    inner: wake::Notify<Msg>,
    _t: PhantomData<fn(T)>,
}

impl<T: Carried> Notify<T> {
    /// Wraps `tx`, whose receiver `waiter` polls.
    pub(super) fn new(tx: Sender<T>, waiter: Thread) -> Notify<T> {
        Notify {
            inner: wake::Notify::new(tx.tx, waiter),
            _t: PhantomData,
        }
    }

    /// Sends `v` and wakes the waiter; `Err` if the receiver is gone.
    pub(super) fn send(self, v: T) -> Result<(), ()> {
        self.inner.send(v.into_msg()).map_err(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    fn replies() -> (Gate, Replies<WriteResult>, Replies<RespResult>) {
        let gate = Gate::default();
        (gate.clone(), Replies::new(gate.clone()), Replies::new(gate))
    }

    fn wrote_ok(r: Result<WriteResult, TryRecvError>) -> bool {
        matches!(r, Ok(WriteResult::Ok))
    }

    /// A report that hands back a request body which says when it is dropped.
    fn failed_with_body(dropped: &Arc<AtomicBool>) -> WriteResult {
        struct Flag(Arc<AtomicBool>);
        impl std::io::Read for Flag {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Ok(0)
            }
        }
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        WriteResult::Failed {
            err: crate::Error::new(crate::ErrorKind::Canceled),
            nothing_written: true,
            body: Some(Box::new(crate::Body::from_reader(Flag(Arc::clone(
                dropped,
            ))))),
            body_err: false,
        }
    }

    #[test]
    fn a_reply_reaches_its_round_trip_and_wakes_it() {
        let (gate, wrote, resp) = replies();
        let _waiting = gate.open(1, &wrote, &resp);
        let tx = wrote.reply_to(1, std::thread::current());
        let t = std::thread::spawn(move || tx.send(WriteResult::Ok).is_ok());
        let got = wrote.recv_until(1, Instant::now() + Duration::from_secs(10));
        assert!(matches!(got, Some(WriteResult::Ok)));
        assert!(t.join().unwrap());
    }

    #[test]
    fn a_reply_after_its_caller_stopped_waiting_fails_and_drops_its_body_at_once() {
        let (gate, wrote, resp) = replies();
        let me = std::thread::current();
        let waiting = gate.open(1, &wrote, &resp);
        let late = wrote.reply_to(1, me.clone());
        drop(waiting);
        let dropped = Arc::new(AtomicBool::new(false));
        assert!(late.send(failed_with_body(&dropped)).is_err());
        assert!(
            dropped.load(Ordering::SeqCst),
            "the body must go with the refused reply"
        );
        // Nor is it there for the next round trip.
        let _waiting = gate.open(2, &wrote, &resp);
        assert!(matches!(wrote.try_recv(2), Err(TryRecvError::Empty)));
        assert!(matches!(wrote.try_recv(1), Err(TryRecvError::Empty)));
    }

    #[test]
    fn what_a_round_trip_left_unread_is_dropped_when_it_ends() {
        let (gate, wrote, resp) = replies();
        let waiting = gate.open(1, &wrote, &resp);
        let dropped = Arc::new(AtomicBool::new(false));
        let tx = wrote.reply_to(1, std::thread::current());
        assert!(tx.send(failed_with_body(&dropped)).is_ok());
        assert!(!dropped.load(Ordering::SeqCst));
        drop(waiting);
        assert!(dropped.load(Ordering::SeqCst));
    }

    /// One slot per kind is enough: the end of a round trip takes what it left unread (a
    /// write report after the response), so the next round trip's reply always has room.
    #[test]
    fn every_round_trip_finds_the_slot_free() {
        let (gate, wrote, resp) = replies();
        let me = std::thread::current();
        for seq in 1..=100 {
            let _waiting = gate.open(seq, &resp, &wrote);
            let head = Err(Box::new(super::super::RtError::new(crate::Error::new(
                crate::ErrorKind::Canceled,
            ))));
            assert!(resp.reply_to(seq, me.clone()).send(head).is_ok(), "{seq}");
            assert!(
                wrote
                    .reply_to(seq, me.clone())
                    .send(WriteResult::Ok)
                    .is_ok(),
                "{seq}"
            );
            assert!(resp.try_recv(seq).is_ok(), "{seq}");
            if seq % 2 == 0 {
                assert!(wrote_ok(wrote.try_recv(seq)), "{seq}");
            }
        }
    }

    #[test]
    fn replies_to_other_round_trips_are_skipped() {
        let (gate, wrote, resp) = replies();
        let me = std::thread::current();
        // A reply to round trip 1 left in the slot (the end of a round trip takes it, so
        // this is a belt-and-braces check of the numbers): round trip 2 skips it.
        assert!(wrote
            .tx
            .try_send(WriteResult::tag(1, Some(WriteResult::BodySkipped)))
            .is_ok());
        let _second = gate.open(2, &wrote, &resp);
        assert!(matches!(wrote.try_recv(2), Err(TryRecvError::Empty)));
        assert!(wrote.reply_to(2, me.clone()).send(WriteResult::Ok).is_ok());
        assert!(wrote.reply_to(1, me).send(WriteResult::Ok).is_err());
        assert!(wrote_ok(wrote.try_recv(2)));
    }

    #[test]
    fn a_sender_dropped_unsent_is_a_disconnect_for_its_round_trip_only() {
        let (gate, wrote, resp) = replies();
        let me = std::thread::current();
        let _waiting = gate.open(2, &wrote, &resp);
        drop(wrote.reply_to(1, me.clone()));
        let t = std::thread::spawn({
            let tx = wrote.reply_to(2, me.clone());
            move || drop(tx)
        });
        t.join().unwrap();
        assert!(matches!(wrote.try_recv(2), Err(TryRecvError::Disconnected)));
        assert!(wrote
            .recv_until(3, Instant::now() + Duration::from_millis(1))
            .is_none());
    }

    #[test]
    fn drop_silently_sends_nothing() {
        let (gate, wrote, resp) = replies();
        let _waiting = gate.open(1, &wrote, &resp);
        wrote.reply_to(1, std::thread::current()).drop_silently();
        assert!(matches!(wrote.try_recv(1), Err(TryRecvError::Empty)));
    }

    #[test]
    fn a_reply_to_a_thread_that_exited_fails() {
        let (tx, gate) = std::thread::spawn(|| {
            let (gate, wrote, _resp) = replies();
            *gate.0.lock() = 1;
            (wrote.reply_to(1, std::thread::current()), gate)
        })
        .join()
        .unwrap();
        assert_eq!(*gate.0.lock(), 1);
        assert!(tx.send(WriteResult::Ok).is_err());
    }
}
