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

/// Turns a host name into addresses for [`TcpDialer`] (Go's `net.Resolver`). The default is
/// the operating system's resolver (`getaddrinfo`); a custom one can pin names to addresses,
/// as curl's `--resolve` does, or ask another service.
///
/// ```
/// use std::net::SocketAddr;
/// use std::sync::Arc;
/// use nethttp::net::{Resolve, TcpDialer};
///
/// /// Every name resolves to one address: a test double, or a service behind a fixed IP.
/// #[derive(Debug)]
/// struct Pinned(SocketAddr);
/// impl Resolve for Pinned {
///     fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
///         Ok(vec![SocketAddr::new(self.0.ip(), port)])
///     }
/// }
/// let dialer = TcpDialer {
///     resolver: Some(Arc::new(Pinned("127.0.0.1:0".parse().unwrap()))),
///     ..TcpDialer::default()
/// };
/// # let _ = dialer;
/// ```
pub trait Resolve: Send + Sync + fmt::Debug + 'static {
    /// The addresses of `host` (a name or an IP literal, IPv6 without brackets), with `port`
    /// set. An error, or an empty list, fails the dial with [`ErrorKind::Dns`].
    ///
    /// # Errors
    ///
    /// Whatever the lookup failed with.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The default dialer: name resolution, then TCP connect with a timeout, `TCP_NODELAY` and
/// TCP keep-alive (feature `tcp-keepalive`), as Go's `net.Dialer` in `DefaultTransport`.
///
/// A failed lookup is [`ErrorKind::Dns`] naming the host; a failed connect is
/// [`ErrorKind::Connect`] naming `host:port` (the last address tried gives the source).
#[derive(Debug, Clone)]
pub struct TcpDialer {
    /// How long one dial may take, resolution included. `None` means no limit beyond the
    /// request's own deadline. Default is 30 seconds.
    pub connect_timeout: Option<Duration>,
    /// Idle time before TCP keep-alive probes start, and their interval. `None` turns
    /// keep-alive off. Default is 30 seconds with feature `tcp-keepalive` (on by default), and
    /// `None` without it: such a build sends no probes, as ureq does not, and a dial with
    /// `Some` fails with [`ErrorKind::InvalidInput`] naming the feature rather than connect
    /// without them. The field is there in every build, so code that names it compiles
    /// whichever features the rest of a program turns on.
    pub keepalive: Option<Duration>,
    /// Sets `TCP_NODELAY`, so small writes go out at once. Default is true.
    pub nodelay: bool,
    /// Resolves host names. `None` is the operating system's resolver, whose lookups std
    /// cannot bound by a deadline (Go's pure-Go resolver can; this crate has none). Default
    /// is `None`.
    pub resolver: Option<std::sync::Arc<dyn Resolve>>,
}

impl Default for TcpDialer {
    fn default() -> TcpDialer {
        TcpDialer {
            connect_timeout: Some(Duration::from_secs(30)),
            keepalive: if cfg!(feature = "tcp-keepalive") {
                Some(Duration::from_secs(30))
            } else {
                None
            },
            nodelay: true,
            resolver: None,
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
        #[cfg(not(feature = "tcp-keepalive"))]
        if self.keepalive.is_some() {
            return Err(Error::invalid_input(
                "TcpDialer::keepalive needs feature `tcp-keepalive`, which this build does not \
                 have (set it to None, or turn the feature on)",
            )
            .with_subject(target));
        }
        let deadline =
            crate::deadline::earliest(deadline, crate::deadline::after(self.connect_timeout));
        trace.dns_start(&target.host);
        let found = match &self.resolver {
            Some(r) => r.resolve(&target.host, target.port),
            None => (target.host.as_str(), target.port)
                .to_socket_addrs()
                .map(Iterator::collect),
        };
        let addrs: Vec<SocketAddr> = match found {
            Ok(a) => a,
            Err(e) => {
                trace.dns_done(Err(&e));
                return Err(Error::with_source(ErrorKind::Dns, e).with_subject(&target.host));
            }
        };
        trace.dns_done(Ok(&addrs));
        if addrs.is_empty() {
            return Err(
                Error::with_source(ErrorKind::Dns, "no addresses").with_subject(&target.host)
            );
        }
        let mut last_err = None;
        for (i, addr) in addrs.iter().enumerate() {
            // Share what is left of the deadline among the addresses still to try, as Go does.
            let per_addr = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(Error::timeout(TimeoutPhase::Connect).with_subject(target));
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
        let kind = match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                ErrorKind::Timeout(TimeoutPhase::Connect)
            }
            _ => ErrorKind::Connect,
        };
        Err(Error::with_source(kind, e).with_subject(target))
    }
}

impl TcpDialer {
    fn connect_one(&self, addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let sock = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t.max(Duration::from_millis(1)))?,
            None => TcpStream::connect(addr)?,
        };
        if self.nodelay {
            sock.set_nodelay(true)?;
        }
        #[cfg(feature = "tcp-keepalive")]
        if let Some(k) = self.keepalive {
            let ka = socket2::TcpKeepalive::new().with_time(k);
            #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
            let ka = ka.with_interval(k);
            socket2::SockRef::from(&sock).set_tcp_keepalive(&ka)?;
        }
        Ok(sock)
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
        let s = std::os::unix::net::UnixStream::connect(&self.path).map_err(|e| {
            Error::with_source(ErrorKind::Connect, e).with_subject(self.path.display())
        })?;
        Ok(Box::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Connects a dialer to a fresh loopback listener (the connect is bounded by a timeout).
    fn connect(d: &TcpDialer) -> TcpStream {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("local addr");
        d.connect_one(addr, Some(Duration::from_secs(5)))
            .expect("connect")
    }

    #[test]
    fn the_dialer_sets_nodelay_as_configured() {
        for nodelay in [true, false] {
            let d = TcpDialer {
                nodelay,
                ..TcpDialer::default()
            };
            assert_eq!(connect(&d).nodelay().expect("nodelay"), nodelay);
        }
    }

    #[cfg(not(feature = "tcp-keepalive"))]
    #[test]
    fn keepalive_without_its_feature_is_off_by_default_and_refused_when_set() {
        assert_eq!(TcpDialer::default().keepalive, None);
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = Target {
            scheme: "http".into(),
            host: "127.0.0.1".into(),
            port: l.local_addr().expect("local addr").port(),
        };
        let d = TcpDialer {
            keepalive: Some(Duration::from_secs(17)),
            ..TcpDialer::default()
        };
        let trace = crate::client::ClientTrace::default();
        let deadline = Some(Instant::now() + Duration::from_secs(5));
        let Err(e) = d.dial(&target, deadline, &trace) else {
            panic!("a dial with keep-alive set, in a build without the feature")
        };
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("tcp-keepalive"), "{e}");
        // With keep-alive off, the same dialer connects.
        let d = TcpDialer {
            keepalive: None,
            ..d
        };
        assert!(d.dial(&target, deadline, &trace).is_ok());
    }

    #[cfg(feature = "tcp-keepalive")]
    #[test]
    fn keepalive_probes_are_on_with_their_idle_time_or_off() {
        assert_eq!(
            TcpDialer::default().keepalive,
            Some(Duration::from_secs(30))
        );
        let on = connect(&TcpDialer {
            keepalive: Some(Duration::from_secs(17)),
            ..TcpDialer::default()
        });
        let sock = socket2::SockRef::from(&on);
        assert!(sock.keepalive().expect("SO_KEEPALIVE"));
        // Reading the idle time back needs socket2's `all`, which `server` turns on.
        #[cfg(all(feature = "server", target_os = "linux"))]
        {
            assert_eq!(sock.keepalive_time().expect("TCP_KEEPIDLE").as_secs(), 17);
            assert_eq!(
                sock.keepalive_interval().expect("TCP_KEEPINTVL").as_secs(),
                17
            );
        }
        let off = connect(&TcpDialer {
            keepalive: None,
            ..TcpDialer::default()
        });
        assert!(!socket2::SockRef::from(&off)
            .keepalive()
            .expect("SO_KEEPALIVE"));
    }
}
