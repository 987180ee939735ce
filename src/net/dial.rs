//! Dialing (feature `client`): where to connect ([`Target`]), how ([`Dial`]), and the default
//! dialers, TCP ([`TcpDialer`]) and Unix sockets ([`unix_socket`]).

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::Stream;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};

/// Where a dialer should connect: scheme, host and port from the request URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
}

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

impl Default for TcpDialer {
    fn default() -> TcpDialer {
        TcpDialer {
            connect_timeout: Some(Duration::from_secs(30)),
            keepalive: Some(Duration::from_secs(30)),
            nodelay: true,
        }
    }
}

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
#[cfg(unix)]
pub fn unix_socket(path: impl Into<std::path::PathBuf>) -> UnixDialer {
    UnixDialer { path: path.into() }
}

/// See [`unix_socket`].
#[cfg(unix)]
#[derive(Debug, Clone)]
pub struct UnixDialer {
    path: std::path::PathBuf,
}

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
