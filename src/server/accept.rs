//! The listener side of one `serve` call: waiting for a connection, how a shutdown wakes that
//! wait, and the drain of a shared port's accept queue before its listener closes.
//!
//! A listener that has its port to itself blocks in `accept`, and a shutdown wakes it by
//! connecting to it once (the kernel can only send that connection there). A listener that
//! shares its port with `SO_REUSEPORT` cannot be woken that way: the kernel hashes the wake-up
//! connection to any listener of the port, perhaps another process's. So on Linux such a
//! listener is non-blocking and its loop polls it together with one end of a socket pair; a
//! shutdown writes a byte to the other end.
//!
//! Closing a listener resets the connections the kernel completed on it but nobody accepted
//! (`inet_csk_listen_stop`). For a lone listener that loses little: its clients would be
//! refused a moment later anyway. For a shared port it is the difference between a restart
//! that loses requests and one that does not, since the other listeners take new connections:
//! so before it closes, the loop accepts what is queued ([`Listening::drain`]), without
//! waiting, and the server serves those connections as any accepted during a shutdown. What
//! reaches the queue between the drain's last `accept` and the close is still reset (a few
//! microseconds; docs/GUIDE.md, "Running many instances", has the numbers), unless
//! `net.ipv4.tcp_migrate_req` is 1, which makes the kernel move those to another listener.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
#[cfg(target_os = "linux")]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The longest a drain goes on while connections keep arriving. The accept loop keeps up
/// with the kernel at any rate it sees in normal service, so the queue empties long before
/// this; it only bounds the shutdown of a listener under a flood.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// How a shutdown wakes one accept loop out of its wait for a connection.
#[derive(Debug)]
pub(super) enum Waker {
    /// Connect to the listener once: its blocked `accept` returns with that connection. For a
    /// listener with its port to itself, the only one the kernel can send the connection to.
    /// The socket for the connect is made with the listener, so that a shutdown can wake the
    /// loop even when the process has no descriptor left (EMFILE), when making one would fail.
    Connect(SocketAddr, parking_lot::Mutex<Option<socket2::Socket>>),
    /// Write a byte to the socket the loop polls beside its listener. For a listener that
    /// shares its port, where a connect could reach another listener of the port.
    #[cfg(target_os = "linux")]
    Poll(UnixStream),
}

impl Waker {
    /// Wakes the loop, without blocking, or says where to connect to wake it (the caller
    /// connects after it lets go of the listener table's lock).
    pub(super) fn wake(&self) -> Option<(SocketAddr, Option<socket2::Socket>)> {
        match self {
            Waker::Connect(addr, sock) => {
                let mut addr = *addr;
                if addr.ip().is_unspecified() {
                    addr.set_ip(match addr {
                        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                Some((addr, sock.lock().take()))
            }
            #[cfg(target_os = "linux")]
            Waker::Poll(tx) => {
                // Non-blocking: a byte already waiting wakes the loop just as well.
                let _ = io::Write::write(&mut &*tx, &[1]);
                None
            }
        }
    }
}

/// A listener in an accept loop.
#[derive(Debug)]
pub(super) struct Listening {
    listener: TcpListener,
    /// For a listener that shares its port: the end of the socket pair the loop polls.
    /// Owned by the accept loop.
    #[cfg(target_os = "linux")]
    wake: Option<UnixStream>,
}

impl Listening {
    /// Takes `listener` for an accept loop, and the [`Waker`] that ends its waits.
    pub(super) fn new(listener: TcpListener) -> io::Result<(Listening, Waker)> {
        #[cfg(target_os = "linux")]
        if crate::net::shares_port(&listener) {
            let (rx, tx) = UnixStream::pair()?;
            tx.set_nonblocking(true)?;
            // Accepted sockets do not inherit O_NONBLOCK on Linux (accept(2)), so connections
            // stay blocking, as the connection threads want them.
            listener.set_nonblocking(true)?;
            let l = Listening {
                listener,
                wake: Some(rx),
            };
            return Ok((l, Waker::Poll(tx)));
        }
        // A listener handed over in non-blocking mode (tokio's `into_std`, say) would fail
        // every `accept` with `WouldBlock`, which the loop takes for an error and backs off
        // from, up to a second per connection.
        listener.set_nonblocking(false)?;
        let addr = listener.local_addr()?;
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .ok();
        let l = Listening {
            listener,
            #[cfg(target_os = "linux")]
            wake: None,
        };
        Ok((l, Waker::Connect(addr, parking_lot::Mutex::new(sock))))
    }

    /// True if the listener shares its port (`SO_REUSEPORT`): then a shutdown drains it.
    pub(super) fn shares_port(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.wake.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Waits for the next connection. `Ok(None)` when woken without one: the caller looks at
    /// its shutdown flag and calls again.
    pub(super) fn accept(&self) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        #[cfg(target_os = "linux")]
        if let Some(wake) = &self.wake {
            return self.accept_polled(wake);
        }
        self.listener.accept().map(Some)
    }

    #[cfg(target_os = "linux")]
    fn accept_polled(&self, wake: &UnixStream) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        use nix::errno::Errno;
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        loop {
            match self.listener.accept() {
                Ok(c) => return Ok(Some(c)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut fds = [
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            // The waker is written only after the shutdown flag is set, and never read: once
            // it is readable every call returns here, and the caller leaves its loop.
            if fds[1].any() == Some(true) {
                return Ok(None);
            }
        }
    }

    /// For a listener that shares its port, once a shutdown has begun: accepts what the
    /// kernel has already queued on it, handing each connection to `start`, until the queue
    /// is empty (or for [`DRAIN_LIMIT`] under a flood). Returns how many it accepted. The
    /// caller then closes the listener at once: the window in which the kernel can still
    /// queue a connection here, to be reset, is the time from the last `accept` to the close.
    pub(super) fn drain(&self, mut start: impl FnMut(TcpStream, SocketAddr)) -> usize {
        let limit = Instant::now() + DRAIN_LIMIT;
        let mut n = 0;
        while Instant::now() < limit {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    n += 1;
                    start(stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // Out of file descriptors, say: what is left in the queue is reset.
                    log::warn!("nethttp: accept error while draining a shared port: {e}");
                    break;
                }
            }
        }
        n
    }
}
