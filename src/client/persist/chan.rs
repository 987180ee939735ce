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
    Resp(RespResult),
    Wrote(WriteResult),
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

    /// Drops the sender without waking the waiter: it sees the disconnect when it next polls.
    pub(super) fn drop_silently(self) {
        drop(self.inner.into_silent());
    }
}
