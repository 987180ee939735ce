//! Connections and dialing: the byte streams the client transport runs HTTP over.
//!
//! [`Stream`] and [`Conn`] are always there; [`Target`], [`Dial`], [`TcpDialer`] and
//! `unix_socket` need feature `client` (on by default).
//!
//! A pooled client connection is used by two threads at once (a reader and a writer), so a
//! [`Stream`] reads and writes through `&self`, as `&TcpStream` does. TCP and Unix-domain
//! sockets implement it here; `tls::TlsStream` (feature `tls`) wraps one, and
//! [`Tunnel`](crate::client::Tunnel) is one through an HTTP proxy.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};

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
        Write::write_vectored(&mut &*self, bufs)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, d)
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
        Write::write_vectored(&mut &*self, bufs)
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, d)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }
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

/// Where a dialer should connect: scheme, host and port from the request URL.
#[cfg(feature = "client")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
}

#[cfg(feature = "client")]
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Opens connections for the transport. The default, [`TcpDialer`], resolves the host and
/// connects over TCP; [`unix_socket`] connects every request to one Unix-domain socket, as
/// Docker's client does for `/var/run/docker.sock`.
#[cfg(feature = "client")]
pub trait Dial: Send + Sync + fmt::Debug + 'static {
    /// Opens a connection to `target`, giving up at `deadline`. `trace` receives the dial
    /// events.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] with [`TimeoutPhase::Connect`] at the deadline; the connect or
    /// resolve error otherwise.
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &crate::client::ClientTrace,
    ) -> Result<Box<dyn Stream>>;
}

/// The default dialer: name resolution, then TCP connect with a timeout, `TCP_NODELAY` and
/// TCP keep-alive, as Go's `net.Dialer` in `DefaultTransport`.
#[cfg(feature = "client")]
#[derive(Debug, Clone)]
pub struct TcpDialer {
    /// How long one dial may take, resolution included. `None` means no limit beyond the
    /// request's own deadline. Default is 30 seconds.
    pub connect_timeout: Option<Duration>,
    /// Idle time before TCP keep-alive probes start, and their interval. `None` turns
    /// keep-alive off. Default is 30 seconds.
    pub keepalive: Option<Duration>,
    /// Sets `TCP_NODELAY`, so small writes go out at once. Default is true.
    pub nodelay: bool,
}

#[cfg(feature = "client")]
impl Default for TcpDialer {
    fn default() -> TcpDialer {
        TcpDialer {
            connect_timeout: Some(Duration::from_secs(30)),
            keepalive: Some(Duration::from_secs(30)),
            nodelay: true,
        }
    }
}

#[cfg(feature = "client")]
impl Dial for TcpDialer {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &crate::client::ClientTrace,
    ) -> Result<Box<dyn Stream>> {
        let deadline =
            crate::deadline::earliest(deadline, crate::deadline::after(self.connect_timeout));
        trace.dns_start(&target.host);
        let addrs: Vec<SocketAddr> = match (target.host.as_str(), target.port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                trace.dns_done(Err(&e));
                return Err(Error::with_source(ErrorKind::Io, e));
            }
        };
        trace.dns_done(Ok(&addrs));
        if addrs.is_empty() {
            return Err(Error::with_source(
                ErrorKind::Io,
                io::Error::new(io::ErrorKind::NotFound, "host has no addresses"),
            ));
        }
        let mut last_err = None;
        for (i, addr) in addrs.iter().enumerate() {
            // Share what is left of the deadline among the addresses still to try, as Go does.
            let per_addr = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(Error::timeout(TimeoutPhase::Connect));
                    }
                    Some((d - now) / (addrs.len() - i) as u32)
                }
                None => None,
            };
            trace.connect_start(*addr);
            match self.connect_one(*addr, per_addr) {
                Ok(s) => {
                    trace.connect_done(*addr, None);
                    return Ok(Box::new(s));
                }
                Err(e) => {
                    trace.connect_done(*addr, Some(&e));
                    last_err = Some(e);
                }
            }
        }
        let e = last_err.unwrap_or_else(|| io::Error::other("no address to connect to"));
        Err(
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                Error::with_source(ErrorKind::Timeout(TimeoutPhase::Connect), e)
            } else {
                Error::with_source(ErrorKind::Io, e)
            },
        )
    }
}

#[cfg(feature = "client")]
impl TcpDialer {
    fn connect_one(&self, addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        let sa = SockAddr::from(addr);
        match timeout {
            Some(t) => sock.connect_timeout(&sa, t.max(Duration::from_millis(1)))?,
            None => sock.connect(&sa)?,
        }
        if self.nodelay {
            sock.set_nodelay(true)?;
        }
        if let Some(k) = self.keepalive {
            let ka = TcpKeepalive::new().with_time(k);
            #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
            let ka = ka.with_interval(k);
            sock.set_tcp_keepalive(&ka)?;
        }
        Ok(sock.into())
    }
}

/// A dialer that connects every request to the Unix-domain socket at `path`, whatever the
/// URL's host (use `http://localhost/...` URLs), as Docker's client does.
///
/// ```no_run
/// use std::sync::Arc;
/// use nethttp::client::{Transport, TransportConfig};
/// let transport = Transport::with_config(TransportConfig {
///     dialer: Arc::new(nethttp::net::unix_socket("/var/run/docker.sock")),
///     ..TransportConfig::default()
/// });
/// # let _ = transport;
/// ```
#[cfg(feature = "client")]
#[cfg(unix)]
pub fn unix_socket(path: impl Into<std::path::PathBuf>) -> UnixDialer {
    UnixDialer { path: path.into() }
}

/// See [`unix_socket`].
#[cfg(feature = "client")]
#[cfg(unix)]
#[derive(Debug, Clone)]
pub struct UnixDialer {
    path: std::path::PathBuf,
}

#[cfg(feature = "client")]
#[cfg(unix)]
impl Dial for UnixDialer {
    fn dial(
        &self,
        _target: &Target,
        _deadline: Option<Instant>,
        _trace: &crate::client::ClientTrace,
    ) -> Result<Box<dyn Stream>> {
        // Connecting to a local socket does not block on the network; the deadline cannot be
        // applied to it with std and is not needed.
        let s = std::os::unix::net::UnixStream::connect(&self.path)
            .map_err(|e| Error::with_source(ErrorKind::Io, e))?;
        Ok(Box::new(s))
    }
}
