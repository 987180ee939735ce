//! Parking waits on crossbeam channels, for the hand-offs of a round trip.
//!
//! crossbeam's blocking `recv` and `select!` first spin and then call `sched_yield` several
//! times before they park the thread. That pays when the message is a few hundred nanoseconds
//! away; a connection's threads wait for a network round trip, tens of microseconds at best,
//! so the spinning never succeeds and the yields are context switches that take the CPU from
//! the server and from other callers. Measured with 8 threads on the 2-core bench machine: 14 %
//! of the client's samples were spent there, and with the switches its yields caused, cutting
//! it saved about a quarter of the client's CPU per request (docs/PERFORMANCE.md, "Parking
//! hand-offs").
//!
//! So the waits of a round trip (the caller waiting for its response, the writer thread for
//! its next request, the reader thread for the end of a body) poll their channels with
//! `try_recv` and park with `std::thread::park`, and every message for such a wait is sent
//! with a wake-up of the one thread that waits for it. The messages still travel on crossbeam
//! channels; only the blocking is done here.
//!
//! Why no wake-up is lost: a sender sends first, then calls `Thread::unpark`; the waiter polls
//! first, then parks. `unpark` on a thread that is not parked leaves a token that makes its
//! next `park` return at once, and `unpark` happens-before the `park` it ends, so a message
//! sent before the `unpark` is seen by the poll after the `park`. The cost: a thread can wake
//! with nothing for it (a token left by a message it had already polled), so every wait loops
//! and re-polls; `std::thread::park` allows spurious wake-ups for the same reason, so code of
//! the caller's that parks its own thread is not misled.

use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvError, SendError, Sender, TryRecvError};

/// A one-shot sender that wakes the thread waiting on the other end when it sends, and also
/// when it is dropped unsent (so the waiter sees the disconnect).
pub(crate) struct Notify<T> {
    tx: Option<Sender<T>>,
    waiter: Thread,
}

impl<T> Notify<T> {
    /// Wraps `tx`, whose receiver `waiter` polls.
    pub(crate) fn new(tx: Sender<T>, waiter: Thread) -> Notify<T> {
        Notify {
            tx: Some(tx),
            waiter,
        }
    }

    /// Sends `v` and wakes the waiter once (the disconnect that follows needs no second one).
    /// Never blocks on a channel with room, which a one-shot's always has.
    pub(crate) fn send(mut self, v: T) -> std::result::Result<(), SendError<T>> {
        let r = match self.tx.take() {
            Some(tx) => tx.try_send(v).map_err(|e| SendError(e.into_inner())),
            None => Err(SendError(v)),
        };
        self.waiter.unpark();
        r
    }
}

impl<T> Drop for Notify<T> {
    fn drop(&mut self) {
        // Disconnect first, then wake: the waiter must see the disconnect when it polls.
        if let Some(tx) = self.tx.take() {
            drop(tx);
            self.waiter.unpark();
        }
    }
}

/// The longest a parked wait sleeps before it polls again, whatever its deadline. Every
/// wait here is woken by the event it waits for; this bound only makes sure that a wake-up lost
/// to a bug would cost a second, never a hang. A connection thread's wait for its next piece
/// of work, which lasts as long as the connection is idle, re-polls at this pace for its first
/// two seconds and then every [`IDLE_RECHECK`] ([`recv_idle`]).
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// Receives from `rx`, parking while it is empty; for a channel whose senders wake this thread
/// after each send and when they all go.
///
/// No deadline of its own: it is the reader thread's wait for the caller to finish a body it
/// reads, which ends with the body (its end or drop sends the event) or with the connection
/// (`PersistConn::close` wakes it). The writer's wait for its next request is [`recv_idle`].
pub(crate) fn recv<T>(rx: &Receiver<T>) -> std::result::Result<T, RecvError> {
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => thread::park_timeout(RECHECK),
        }
    }
}

/// How long [`recv_idle`] sleeps between polls once its wait has found nothing for a while.
pub(crate) const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// Receives from `rx` as [`recv`] does, for the wait of a connection thread for its next
/// piece of work, which lasts as long as its connection stays idle in the pool: it re-polls
/// every [`RECHECK`] until a wake-up has found nothing for a `RECHECK` (so twice, a second
/// and two seconds into a quiet wait, counted from when the wait begins: for the writer,
/// once it has written its last request; sooner if a wake-up token was left over from a
/// message already taken), then every [`IDLE_RECHECK`]. A wake-up lost to a bug would then
/// cost up to `IDLE_RECHECK`.
///
/// With `recv`'s every-second re-poll, 1,000 idle pooled connections woke the process 1,000
/// times a second (2.2 % of a CPU here, for nothing: docs/PERFORMANCE.md, "Session 19").
/// The first re-polls stay a second apart because a connection is most likely to be used
/// again soon after its last request: that is where a lost wake-up would cost the most. The
/// clock is read only once a wake-up has found nothing, never on a wait that work ends.
pub(crate) fn recv_idle<T>(rx: &Receiver<T>) -> std::result::Result<T, RecvError> {
    let mut parked = false;
    let mut empty_since: Option<Instant> = None;
    loop {
        match rx.try_recv() {
            Ok(v) => return Ok(v),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        // Quiet for a `RECHECK` since a wake-up first found nothing (the first park never
        // reads the clock).
        let quiet = parked && empty_since.get_or_insert_with(Instant::now).elapsed() >= RECHECK;
        let wait = if quiet { IDLE_RECHECK } else { RECHECK };
        parked = true;
        thread::park_timeout(wait);
    }
}

/// Receives from `rx` as [`recv`] does, giving up at `deadline`: `None` then, or when every
/// sender is gone.
pub(crate) fn recv_until<T>(rx: &Receiver<T>, deadline: Instant) -> Option<T> {
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if Instant::now() >= deadline {
            return None;
        }
        park_until(Some(deadline));
    }
}

/// Parks the current thread until woken, until `deadline` (if any), or for at most
/// [`RECHECK`]. Callers poll what they wait for before and after.
pub(crate) fn park_until(deadline: Option<Instant>) {
    let now = Instant::now();
    match deadline {
        Some(d) if d <= now => {}
        Some(d) => thread::park_timeout((d - now).min(RECHECK)),
        None => thread::park_timeout(RECHECK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type Recv = fn(&Receiver<u32>) -> std::result::Result<u32, RecvError>;

    /// Both waits, the every-second one and the idle one.
    const WAITS: [(&str, Recv); 2] = [("recv", recv), ("recv_idle", recv_idle)];

    #[test]
    fn send_wakes_a_parked_receiver() {
        for (name, wait) in WAITS {
            let (tx, rx) = crossbeam_channel::bounded(1);
            let me = thread::current();
            let t = thread::spawn(move || Notify::new(tx, me).send(7u32).is_ok());
            assert_eq!(wait(&rx), Ok(7), "{name}");
            assert!(t.join().unwrap());
        }
    }

    #[test]
    fn drop_unsent_wakes_with_a_disconnect() {
        for (name, wait) in WAITS {
            let (tx, rx) = crossbeam_channel::bounded::<u32>(1);
            let me = thread::current();
            let t = thread::spawn(move || drop(Notify::new(tx, me)));
            assert_eq!(wait(&rx), Err(RecvError), "{name}");
            t.join().unwrap();
        }
    }

    #[test]
    fn park_until_returns_at_the_deadline() {
        let start = Instant::now();
        let d = start + Duration::from_millis(20);
        while Instant::now() < d {
            park_until(Some(d));
        }
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
