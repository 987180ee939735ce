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
//! tagged with its round trip's number on that thread, so one that comes after its caller
//! stopped waiting (a writer's report after the response) is skipped by the next round trip,
//! and a sender dropped without replying sends a tag with nothing, which the caller sees as
//! the disconnect a channel of its own used to give. The channels are unbounded, so a reply
//! never finds one full of replies nobody reads.

use std::marker::PhantomData;
use std::thread::Thread;
use std::time::Instant;

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
    _t: PhantomData<fn() -> T>,
}

impl<T: Tagged> Replies<T> {
    pub(super) fn new() -> Replies<T> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Replies {
            tx,
            rx,
            _t: PhantomData,
        }
    }

    /// The one-shot sender of round trip `seq`'s reply, which wakes `waiter`.
    pub(super) fn reply_to(&self, seq: u64, waiter: Thread) -> Reply<T> {
        Reply {
            raw: RawReply {
                tx: Some(self.tx.clone()),
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

/// Takes round trip `seq`'s reply, skipping replies to earlier round trips that came after
/// their callers stopped waiting; `Disconnected` for its sender dropped unsent.
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
    /// Sends `v` and wakes the caller; `Err` if its thread has exited.
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
    seq: u64,
    waiter: Thread,
    /// What a drop unsent sends: the round trip's tag with nothing.
    unsent: fn(u64) -> Msg,
}

impl RawReply {
    fn send(mut self, m: Msg) -> Result<(), ()> {
        let r = match self.tx.take() {
            // `try_send`: an unbounded channel is never full, and the blocking `send` would be
            // compiled for every flavour of channel (docs/PERFORMANCE.md, "Compile time").
            Some(tx) => tx.try_send(m).map_err(drop),
            None => Err(()),
        };
        self.waiter.unpark();
        r
    }
}

impl Drop for RawReply {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send((self.unsent)(self.seq));
            self.waiter.unpark();
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
    use std::time::Duration;

    fn wrote_ok(r: Result<WriteResult, TryRecvError>) -> bool {
        matches!(r, Ok(WriteResult::Ok))
    }

    #[test]
    fn a_reply_reaches_its_round_trip_and_wakes_it() {
        let replies = Replies::<WriteResult>::new();
        let tx = replies.reply_to(1, std::thread::current());
        let t = std::thread::spawn(move || tx.send(WriteResult::Ok).is_ok());
        let got = replies.recv_until(1, Instant::now() + Duration::from_secs(10));
        assert!(matches!(got, Some(WriteResult::Ok)));
        assert!(t.join().unwrap());
    }

    #[test]
    fn replies_to_earlier_round_trips_are_skipped() {
        let replies = Replies::<WriteResult>::new();
        let me = std::thread::current();
        // Round trip 1's caller stopped waiting before its report came; round trip 2 waits.
        let late = replies.reply_to(1, me.clone());
        let current = replies.reply_to(2, me.clone());
        assert!(late.send(WriteResult::BodySkipped).is_ok());
        assert!(matches!(replies.try_recv(2), Err(TryRecvError::Empty)));
        assert!(current.send(WriteResult::Ok).is_ok());
        // A report for round trip 1 after round trip 2's is skipped too.
        assert!(replies.reply_to(1, me).send(WriteResult::Ok).is_ok());
        assert!(wrote_ok(replies.try_recv(2)));
        assert!(matches!(replies.try_recv(3), Err(TryRecvError::Empty)));
    }

    #[test]
    fn a_sender_dropped_unsent_is_a_disconnect_for_its_round_trip_only() {
        let replies = Replies::<WriteResult>::new();
        let me = std::thread::current();
        drop(replies.reply_to(1, me.clone()));
        let t = std::thread::spawn({
            let tx = replies.reply_to(2, me.clone());
            move || drop(tx)
        });
        t.join().unwrap();
        assert!(matches!(
            replies.try_recv(2),
            Err(TryRecvError::Disconnected)
        ));
        assert!(replies
            .recv_until(3, Instant::now() + Duration::from_millis(1))
            .is_none());
    }

    #[test]
    fn drop_silently_sends_nothing() {
        let replies = Replies::<WriteResult>::new();
        replies.reply_to(1, std::thread::current()).drop_silently();
        assert!(matches!(replies.try_recv(1), Err(TryRecvError::Empty)));
    }

    #[test]
    fn a_reply_to_a_thread_that_exited_fails() {
        let tx = std::thread::spawn(|| {
            let replies = Replies::<WriteResult>::new();
            replies.reply_to(1, std::thread::current())
        })
        .join()
        .unwrap();
        assert!(tx.send(WriteResult::Ok).is_err());
    }
}
