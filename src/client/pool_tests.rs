//! Tests of the connection pool and each connection's reader and writer threads, run over an
//! in-memory duplex pipe instead of sockets.
//!
//! Every wait is bounded by `WAIT`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::net::Stream;

/// How long the test side waits for anything (a dial, a head, a condition) before it fails.
const WAIT: Duration = Duration::from_secs(2);

/// How long one wait of a pipe read with no timeout lasts before it looks again; it only
/// bounds each condition-variable wait (data and shutdowns notify at once).
const UNTIMED_READ_SLICE: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------
// The pipe
// ---------------------------------------------------------------------------------------

/// One direction of a pipe: bytes written by one end and read by the other.
#[derive(Debug, Default)]
struct Direction {
    state: Mutex<DirectionState>,
    /// Notified when bytes arrive or either end shuts this direction down.
    changed: Condvar,
}

/// The bytes in flight in one direction and who has shut it down.
#[derive(Debug, Default)]
struct DirectionState {
    bytes: VecDeque<u8>,
    /// The writing end shut down its write side (or was dropped): reads drain, then see EOF.
    write_shut: bool,
    /// The reading end shut down its read side (or was dropped): its reads return 0 and
    /// writes to it fail with `BrokenPipe`.
    read_shut: bool,
}

/// One end of an in-memory duplex pipe: a [`Stream`] whose reads block until bytes arrive,
/// the read timeout passes (`WouldBlock`) or a shutdown on either end wakes them. Writes never
/// block. Dropping an end shuts both of its directions, as closing a socket does.
#[derive(Debug)]
struct PipeEnd {
    incoming: Arc<Direction>,
    outgoing: Arc<Direction>,
    read_timeout: Mutex<Option<Duration>>,
}

/// A connected pair of pipe ends.
fn pipe() -> (PipeEnd, PipeEnd) {
    let a_to_b = Arc::new(Direction::default());
    let b_to_a = Arc::new(Direction::default());
    let a = PipeEnd {
        incoming: Arc::clone(&b_to_a),
        outgoing: Arc::clone(&a_to_b),
        read_timeout: Mutex::new(None),
    };
    let b = PipeEnd {
        incoming: a_to_b,
        outgoing: b_to_a,
        read_timeout: Mutex::new(None),
    };
    (a, b)
}

impl PipeEnd {
    /// Appends every slice at once, as one segment on the wire.
    fn push(&self, bufs: &[&[u8]]) -> io::Result<usize> {
        let mut st = self.outgoing.state.lock();
        if st.write_shut || st.read_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut n = 0;
        for b in bufs {
            st.bytes.extend(b.iter());
            n += b.len();
        }
        drop(st);
        self.outgoing.changed.notify_all();
        Ok(n)
    }
}

impl Stream for PipeEnd {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = self.read_timeout.lock().map(|d| Instant::now() + d);
        let mut st = self.incoming.state.lock();
        loop {
            if st.read_shut {
                return Ok(0);
            }
            if !st.bytes.is_empty() {
                let n = buf.len().min(st.bytes.len());
                for (dst, src) in buf.iter_mut().zip(st.bytes.drain(..n)) {
                    *dst = src;
                }
                return Ok(n);
            }
            if st.write_shut {
                return Ok(0);
            }
            match until {
                Some(until) => {
                    if Instant::now() >= until {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    self.incoming.changed.wait_until(&mut st, until);
                }
                None => {
                    self.incoming.changed.wait_for(&mut st, UNTIMED_READ_SLICE);
                }
            }
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.push(&[buf])
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let parts: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.push(&parts)
    }

    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        if d == Some(Duration::ZERO) {
            // As std's sockets: a zero timeout is an error, not "block forever".
            return Err(io::ErrorKind::InvalidInput.into());
        }
        *self.read_timeout.lock() = d;
        Ok(())
    }

    fn set_write_timeout(&self, _d: Option<Duration>) -> io::Result<()> {
        // Writes never block: the pipe's buffer has no limit.
        Ok(())
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.incoming.state.lock().read_shut = true;
            self.incoming.changed.notify_all();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.outgoing.state.lock().write_shut = true;
            self.outgoing.changed.notify_all();
        }
        Ok(())
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The pipe itself: read timeouts, shutdowns that wake blocked readers, broken pipes.
#[test]
fn pipe_honours_read_timeout_and_shutdown() {
    let (a, b) = pipe();

    // A read with a timeout and nothing to read returns WouldBlock at the timeout.
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let started = Instant::now();
    let e = a.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert!(started.elapsed() < WAIT);

    // Bytes pass in order; a read takes what is there.
    b.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"abcd");

    // A reader blocked without a timeout is woken by the peer's shutdown and sees EOF.
    a.set_read_timeout(None).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reader = thread::spawn(move || {
        let r = a.read(&mut [0u8; 8]);
        let _ = tx.send(r.map_err(|e| e.kind()));
        a
    });
    b.shutdown(Shutdown::Both).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).expect("reader woken"), Ok(0));
    let a = reader.join().unwrap();

    // Writes to a peer that has shut down fail.
    assert_eq!(a.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    // And an end's own read shutdown ends its reads.
    let (c, d) = pipe();
    d.write(b"unread").unwrap();
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    assert_eq!(d.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}
