//! Deadlines on blocking sockets: per-operation socket timeouts derived from one deadline.
//!
//! `std::net` offers only per-operation timeouts (`SO_RCVTIMEO`/`SO_SNDTIMEO`), while HTTP wants
//! deadlines ("the whole head within 10 s"). Before each blocking call we set the socket timeout
//! to the time left; [`TimeoutSlot`] remembers what is set so the `setsockopt` is skipped while
//! the setting is still close enough, which keeps the keep-alive hot path at one syscall per
//! read or write. A timeout that fires before the deadline (the setting was a little short) is
//! retried; one that would overshoot the deadline by more than an eighth is re-armed first.

// Shared by both roles and TLS; a build with some of them uses a part.
#![cfg_attr(not(all(feature = "client", feature = "server")), allow(dead_code))]

use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use crate::net::Stream;
#[cfg(all(feature = "server", target_os = "linux"))]
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// The socket timeout currently set on one direction of a socket.
///
/// Owned by whoever owns that direction of the socket (the read half or the write half).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TimeoutSlot {
    current: Option<Duration>,
    known: bool,
}

impl TimeoutSlot {
    /// Makes the socket timeout fit `deadline` (`None`: block without limit), calling `set`
    /// only when the current setting is off by more than the tolerance.
    ///
    /// Returns `TimedOut` without calling `set` if the deadline has passed.
    fn arm(
        &mut self,
        deadline: Option<Instant>,
        set: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Some(want) = self.needs(deadline)? {
            set(want)?;
            self.current = want;
            self.known = true;
        }
        Ok(())
    }

    /// The timeout to set for `deadline`, if the current one is not close enough to it (kept
    /// apart from the generic `arm`, so it is compiled once).
    fn needs(&self, deadline: Option<Instant>) -> io::Result<Option<Option<Duration>>> {
        let want = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                // A zero timeout means "block forever" to the OS; never ask for one.
                Some((d - now).max(Duration::from_millis(1)))
            }
        };
        let close_enough = self.known
            && match (self.current, want) {
                (None, None) => true,
                // Overshoot at most an eighth; undershoot is retried, but not more than about
                // once per halving of the time left.
                (Some(c), Some(w)) => c <= w + w / 8 && c * 2 >= w,
                _ => false,
            };
        Ok((!close_enough).then_some(want))
    }

    /// Forgets what is set (after someone else may have changed the socket's timeout).
    pub(crate) fn reset(&mut self) {
        self.known = false;
    }
}

/// True for the error kinds a socket timeout produces.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads into `buf` from `stream`, returning by `deadline` with `TimedOut` if nothing came.
pub(crate) fn read<S: Stream + ?Sized>(
    stream: &S,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        slot.arm(deadline, |t| stream.set_read_timeout(t))?;
        match stream.read(buf) {
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                // Loop: arm() reports the deadline once it has really passed.
                continue;
            }
            other => return other,
        }
    }
}

/// Writes all of `parts`, in order, to `stream`, by `deadline`.
pub(crate) fn write_all<S: Stream + ?Sized>(
    stream: &S,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    parts: &[&[u8]],
) -> io::Result<()> {
    write_all_counted(stream, slot, deadline, parts, &mut 0)
}

/// As [`write_all`], counting in `written` the bytes the stream accepted (for a stream with a
/// write buffer, taken into the buffer: an upper bound of what went out), also on failure.
pub(crate) fn write_all_counted<S: Stream + ?Sized>(
    stream: &S,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    parts: &[&[u8]],
    written: &mut usize,
) -> io::Result<()> {
    write_parts(stream, slot, deadline, parts, written)?;
    if !stream.has_write_buffer() {
        // A plain socket took every byte: no flush, and no timeout check before one.
        return Ok(());
    }
    // Whatever the stream still holds (TLS records) goes out under the same deadline.
    loop {
        slot.arm(deadline, |t| stream.set_write_timeout(t))?;
        match stream.flush() {
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn write_parts<S: Stream + ?Sized>(
    stream: &S,
    slot: &mut TimeoutSlot,
    deadline: Option<Instant>,
    parts: &[&[u8]],
    written: &mut usize,
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0 {
        return Ok(());
    }
    // One vectored write covers the common case (head and body in one syscall).
    let mut done = 0usize;
    if parts.len() > 1 {
        slot.arm(deadline, |t| stream.set_write_timeout(t))?;
        // Callers pass at most a few parts (head, body, chunk framing): on the stack then.
        let mut few = [IoSlice::new(&[]); 4];
        let many: Vec<IoSlice<'_>>;
        let slices: &[IoSlice<'_>] = if parts.len() <= few.len() {
            for (s, p) in few.iter_mut().zip(parts) {
                *s = IoSlice::new(p);
            }
            &few[..parts.len()]
        } else {
            many = parts.iter().map(|p| IoSlice::new(p)).collect();
            &many
        };
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                done = n;
                *written += n;
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if done == total {
            return Ok(());
        }
    }
    // Whatever is left, part by part.
    let mut skip = done;
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let mut rest = &part[skip..];
        skip = 0;
        while !rest.is_empty() {
            slot.arm(deadline, |t| stream.set_write_timeout(t))?;
            match stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    rest = &rest[n..];
                    *written += n;
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Writes all of `parts` by `hard` (if any), allowing each piece of up to 64 KiB at most
/// `stall` (if any): a deadline on the whole write plus a stall timeout on its progress.
pub(crate) fn write_all_stalled<S: Stream + ?Sized>(
    stream: &S,
    slot: &mut TimeoutSlot,
    hard: Option<Instant>,
    stall: Option<Duration>,
    parts: &[&[u8]],
) -> io::Result<()> {
    const PIECE: usize = 64 << 10;
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= PIECE || stall.is_none() {
        return write_all(stream, slot, earliest(hard, after(stall)), parts);
    }
    for part in parts {
        for piece in part.chunks(PIECE) {
            write_all(stream, slot, earliest(hard, after(stall)), &[piece])?;
        }
    }
    Ok(())
}

/// Whether [`send_file`] can send from the kernel on this platform; where it cannot, callers
/// copy through a buffer instead.
#[cfg(feature = "server")]
pub(crate) const SEND_FILE: bool = cfg!(target_os = "linux");

/// The most one `sendfile(2)` call is asked to move (Go's `maxSendfileSize`): the deadline and
/// the stall timeout are looked at again between calls.
#[cfg(all(feature = "server", target_os = "linux"))]
const SEND_FILE_PIECE: usize = 4 << 20;

/// Sends up to `len` bytes of `file`, from its current position (which moves on), to `tcp`
/// with `sendfile(2)`: the bytes go from the page cache to the socket without passing through
/// user space. The whole send must end by `hard` (if any); each call may wait at most `stall`
/// (if any), and the send goes on as long as calls make progress, so a slow reader that keeps
/// taking bytes is not cut off (as [`write_all_stalled`] allows).
///
/// Returns how many bytes went, and how the send ended: `Ok` once `len` bytes went, or with
/// fewer if the file ended first; else the error ([`send_file_unsupported`] tells the errors
/// that mean "this file cannot be sent this way", for a fallback when nothing went yet).
///
/// Unlike a copy, a byte the file changes after the call that sent it may still reach the
/// peer with its new value (the socket holds the page, not a copy) — the reason std's
/// `io::copy` never does this, and the trade every `sendfile` server (Go's, nginx) makes.
#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) fn send_file(
    tcp: &std::net::TcpStream,
    slot: &mut TimeoutSlot,
    hard: Option<Instant>,
    stall: Option<Duration>,
    file: &std::fs::File,
    len: u64,
) -> (u64, io::Result<()>) {
    // sendfile(2) has no MSG_NOSIGNAL: a send to a shut-down socket raises SIGPIPE on this
    // thread, which kills a process whose SIGPIPE action is the default (a C or Python host,
    // a CLI that restored it), where every other write goes through std, which never raises
    // it. So SIGPIPE is blocked on this thread for the send, and after a failed one taken off
    // again: one more raised (a blocked signal stays pending, and a second of the same kind
    // merges with the first) makes sure `wait` finds one at once, whatever the kernel did.
    // Costs two `sigprocmask` calls per file sent this way.
    let pipe = SigSet::from(Signal::SIGPIPE);
    let old_mask = pipe.thread_swap_mask(SigmaskHow::SIG_BLOCK).ok();
    let (sent, r) = send_file_blocked(tcp, slot, hard, stall, file, len);
    if let Some(old) = old_mask {
        if r.is_err() && nix::sys::signal::raise(Signal::SIGPIPE).is_err() {
            // Nothing known pending to take off: SIGPIPE stays blocked on this thread
            // rather than be delivered.
            return (sent, r);
        }
        if r.is_err() {
            let _ = pipe.wait();
        }
        let _ = old.thread_set_mask();
    }
    (sent, r)
}

#[cfg(all(feature = "server", target_os = "linux"))]
fn send_file_blocked(
    tcp: &std::net::TcpStream,
    slot: &mut TimeoutSlot,
    hard: Option<Instant>,
    stall: Option<Duration>,
    file: &std::fs::File,
    len: u64,
) -> (u64, io::Result<()>) {
    let mut sent = 0u64;
    // Restarted by every call that moved bytes: `stall` bounds a stretch without progress.
    let mut stalled_at = after(stall);
    while sent < len {
        if let Err(e) = slot.arm(earliest(hard, stalled_at), |t| tcp.set_write_timeout(t)) {
            return (sent, Err(e));
        }
        let want = usize::try_from(len - sent).map_or(SEND_FILE_PIECE, |n| n.min(SEND_FILE_PIECE));
        match nix::sys::sendfile::sendfile64(tcp, file, None, want).map_err(io::Error::from) {
            // The file ended before `len`.
            Ok(0) => break,
            Ok(n) => {
                sent += n as u64;
                #[cfg(test)]
                SENT_FILE_BYTES.with(|c| c.set(c.get() + n as u64));
                stalled_at = after(stall);
            }
            // Loop: arm() reports the deadline once it has really passed.
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (sent, Err(e)),
        }
    }
    (sent, Ok(()))
}

/// True for the errors with which `sendfile(2)` refuses a pair of descriptors rather than
/// failing to send (a file system whose files cannot be spliced, a kernel without the call):
/// if nothing went yet, the bytes can still be copied.
#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) fn send_file_unsupported(e: &io::Error) -> bool {
    use nix::errno::Errno;
    [Errno::EINVAL, Errno::ENOSYS, Errno::EOPNOTSUPP]
        .iter()
        .any(|&errno| e.raw_os_error() == Some(errno as i32))
}

#[cfg(all(test, feature = "server", target_os = "linux"))]
thread_local! {
    /// Bytes [`send_file`] moved on this thread: what tests use to tell that a response went
    /// the zero-copy way.
    static SENT_FILE_BYTES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The bytes [`send_file`] has moved on the calling thread so far (tests only: those of
/// `server/response.rs`, which need the client and the file server).
#[cfg(all(test, feature = "client", feature = "fs", target_os = "linux"))]
pub(crate) fn sent_file_bytes() -> u64 {
    SENT_FILE_BYTES.with(std::cell::Cell::get)
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// `now + d`, or `None` for no limit (or a limit too far away to represent).
pub(crate) fn after(d: Option<Duration>) -> Option<Instant> {
    d.and_then(|d| Instant::now().checked_add(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_sets_only_when_needed() {
        let mut slot = TimeoutSlot::default();
        let mut calls = Vec::new();
        let d = Some(Instant::now() + Duration::from_secs(60));
        slot.arm(d, |t| {
            calls.push(t);
            Ok(())
        })
        .unwrap();
        // A fresh deadline of about the same length: no second call.
        let d2 = Some(Instant::now() + Duration::from_secs(60));
        slot.arm(d2, |t| {
            calls.push(t);
            Ok(())
        })
        .unwrap();
        assert_eq!(calls.len(), 1);
        // Much shorter: must re-arm, or a read could overshoot.
        slot.arm(Some(Instant::now() + Duration::from_secs(1)), |t| {
            calls.push(t);
            Ok(())
        })
        .unwrap();
        assert_eq!(calls.len(), 2);
        // No deadline after a deadline: must clear.
        slot.arm(None, |t| {
            calls.push(t);
            Ok(())
        })
        .unwrap();
        assert_eq!(calls.last().copied(), Some(None));
        // A passed deadline is an error without a call.
        let n = calls.len();
        let e = slot
            .arm(Some(Instant::now() - Duration::from_millis(1)), |t| {
                calls.push(t);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(calls.len(), n);
    }
}
