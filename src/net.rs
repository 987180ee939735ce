//! Connections and dialing: the byte streams the client transport runs HTTP over.
//!
//! [`Stream`] and [`Conn`] are always there; [`Target`], [`Dial`], [`TcpDialer`] and
//! `unix_socket` need feature `client` (on by default); `listen` (Go's `net.Listen`, with the
//! system's largest backlog) and `ListenConfig` (`SO_REUSEPORT`) need `server`.
//!
//! A pooled client connection is used by two threads at once (a reader and a writer), so a
//! [`Stream`] reads and writes through `&self`, as `&TcpStream` does. TCP and Unix-domain
//! sockets implement it here; `tls::TlsStream` (feature `tls`) wraps one, and [`Tunnel`] is
//! one through an HTTP proxy.
//!
#![cfg_attr(feature = "client", doc = "[`Tunnel`]: crate::client::Tunnel")]
#![cfg_attr(
    not(feature = "client"),
    doc = "[`Target`]: crate#features",
    doc = "[`Dial`]: crate#features",
    doc = "[`TcpDialer`]: crate#features",
    doc = "[`Tunnel`]: crate#features"
)]

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A full-duplex byte stream usable from two threads at once: one reads while the other
/// writes. Timeouts are per operation, as on `std::net` sockets.
pub trait Stream: Send + Sync + fmt::Debug + 'static {
    /// Reads into `buf`, as [`Read::read`].
    ///
    /// # Errors
    ///
    /// The socket's error; a timeout is `WouldBlock` or `TimedOut`.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes from `buf`, as [`Write::write`].
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Writes from several buffers; the default writes the first non-empty one.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.write(b),
            None => Ok(0),
        }
    }

    /// Sets the read timeout (`None`: block without limit).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()>;

    /// Sets the write timeout (`None`: block without limit).
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()>;

    /// Sends anything the stream has accepted but not yet written to the socket (a TLS stream
    /// may hold encrypted records after a write that timed out). The default does nothing.
    ///
    /// # Errors
    ///
    /// The socket's error; a timeout may be retried.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    /// Whether a write may leave bytes in the stream until [`flush`](Self::flush) (a TLS
    /// stream's records). The default, `true`, makes nethttp call `flush` under the write's
    /// deadline after every write; a plain socket says `false`, which spares that (and the
    /// timeout check before it).
    fn has_write_buffer(&self) -> bool {
        true
    }

    /// Shuts down one or both directions; a thread blocked in `read` returns.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// The peer's address, where the stream has one.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
}

impl<T: Stream + ?Sized> Stream for Arc<T> {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read(buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        (**self).write(buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).write_vectored(bufs)
    }
    fn flush(&self) -> io::Result<()> {
        (**self).flush()
    }
    fn has_write_buffer(&self) -> bool {
        (**self).has_write_buffer()
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(d)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        (**self).shutdown(how)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        (**self).peer_addr()
    }
}

impl Stream for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored(self, bufs)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, d)
    }
    fn has_write_buffer(&self) -> bool {
        false
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        TcpStream::peer_addr(self).ok()
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        send_vectored(self, bufs)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, d)
    }
    fn has_write_buffer(&self) -> bool {
        false
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }
}

/// Writes `bufs` to a socket in one call without raising `SIGPIPE`.
///
/// std's `write` sends with `MSG_NOSIGNAL`, but its `write_vectored` is `writev(2)`, which on
/// Linux raises `SIGPIPE` when the peer has gone: a program that keeps `SIGPIPE`'s default
/// action (a C or Python host, a CLI that restored it for `prog | head`) would be killed by a
/// peer that closes while a response or a request body is being written. Go's runtime keeps
/// that signal from socket writes; here `sendmsg(2)` carries `MSG_NOSIGNAL` (through
/// `socket2`, which a build has with `server` or `tcp-keepalive`). A Linux build with neither
/// (a build script's `client`) sends the first non-empty buffer with std's `write` instead.
/// Elsewhere std's own write is used (macOS sockets are made with `SO_NOSIGPIPE`).
#[cfg(all(
    target_os = "linux",
    any(feature = "server", feature = "tcp-keepalive")
))]
fn send_vectored<S: std::os::fd::AsFd>(sock: &S, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // sendmsg(2) refuses more than UIO_MAXIOV slices (EMSGSIZE); a vectored write may send a
    // prefix, as std's writev caps them.
    let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
    socket2::SockRef::from(sock).send_vectored_with_flags(bufs, libc::MSG_NOSIGNAL)
}

/// See the Linux version above: the first non-empty buffer, sent with `MSG_NOSIGNAL`.
#[cfg(all(
    target_os = "linux",
    not(any(feature = "server", feature = "tcp-keepalive"))
))]
fn send_vectored<S>(sock: &S, bufs: &[IoSlice<'_>]) -> io::Result<usize>
where
    for<'a> &'a S: Write,
{
    match bufs.iter().find(|b| !b.is_empty()) {
        Some(b) => Write::write(&mut &*sock, b),
        None => Ok(0),
    }
}

/// See the Linux version above: std's vectored write.
#[cfg(not(target_os = "linux"))]
fn send_vectored<S>(sock: &S, bufs: &[IoSlice<'_>]) -> io::Result<usize>
where
    for<'a> &'a S: Write,
{
    Write::write_vectored(&mut &*sock, bufs)
}

/// A shared [`Stream`] with `Read` and `Write`: what an upgraded or hijacked client connection
/// hands to its user, starting with any bytes already buffered.
pub struct Conn {
    stream: Arc<dyn Stream>,
    buffered: Vec<u8>,
    pos: usize,
}

impl Conn {
    pub(crate) fn new(stream: Arc<dyn Stream>, buffered: Vec<u8>) -> Conn {
        Conn {
            stream,
            buffered,
            pos: 0,
        }
    }

    /// The underlying stream, e.g. to set timeouts or shut down one direction.
    pub fn stream(&self) -> &Arc<dyn Stream> {
        &self.stream
    }

    /// Bytes read from the peer before the hand-over and not yet returned by `read`.
    pub fn buffered(&self) -> &[u8] {
        &self.buffered[self.pos..]
    }

    /// The stream and the buffered bytes not yet read.
    pub fn into_parts(mut self) -> (Arc<dyn Stream>, Vec<u8>) {
        let rest = self.buffered.split_off(self.pos);
        (self.stream, rest)
    }

    /// A second handle on the same connection, for a writer thread while this one reads (as
    /// Docker's attach does). The clone starts with no buffered bytes.
    pub fn writer(&self) -> Conn {
        Conn::new(Arc::clone(&self.stream), Vec::new())
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("stream", &self.stream)
            .field("buffered", &self.buffered().len())
            .finish()
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buffered.len() {
            let n = (self.buffered.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.buffered[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    /// Sends what the stream still holds (TLS records queued after a write timed out).
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(feature = "client")]
mod dial;
#[cfg(feature = "client")]
pub use dial::*;
#[cfg(feature = "server")]
mod listen;
#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) use listen::shares_port;
#[cfg(feature = "server")]
pub use listen::{listen, listen_backlog, ListenConfig};

#[cfg(test)]
mod tests {
    use super::Stream;
    use std::io::{IoSlice, Read};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A vectored write (`send_vectored`, whichever way this build has) sends the buffers'
    /// bytes in order, skipping empty ones.
    #[test]
    fn a_vectored_write_sends_the_buffers_in_order() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let want = b"head body";
        let bufs = [
            IoSlice::new(b""),
            IoSlice::new(b"head "),
            IoSlice::new(b""),
            IoSlice::new(b"body"),
        ];
        let n = Stream::write_vectored(&a, &bufs).unwrap();
        assert!(n > 0 && n <= want.len(), "{n}");
        let mut got = vec![0u8; n];
        b.read_exact(&mut got).unwrap();
        assert_eq!(got, want[..n]);
        assert_eq!(Stream::write_vectored(&a, &[IoSlice::new(b"")]).unwrap(), 0);
    }

    /// More slices than a system call takes (Linux: 1,024) send a prefix, as std's
    /// `write_vectored` does, rather than fail (`sendmsg` refuses them with `EMSGSIZE`).
    #[test]
    fn a_vectored_write_of_many_slices_sends_a_prefix() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_b, _) = l.accept().unwrap();
        a.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let bytes = vec![b'x'; 2000];
        let slices: Vec<IoSlice<'_>> = bytes.chunks(1).map(IoSlice::new).collect();
        let n = Stream::write_vectored(&a, &slices);
        assert!(matches!(n, Ok(n) if n > 0), "2,000 slices: {n:?}");
    }
}
