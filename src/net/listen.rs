//! Listening (feature `server`): [`listen`], Go's `net.Listen("tcp", addr)`, with
//! the system's largest accept backlog instead of std's 128; [`ListenConfig`] for the socket
//! options set before the bind (`SO_REUSEPORT`), as Go's `net.ListenConfig`.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

/// Used when the system's limit cannot be read: off Linux, or when
/// `/proc/sys/net/core/somaxconn` is missing or unreadable. Linux's own default since 5.4.
const FALLBACK_BACKLOG: i32 = 4096;

/// Binds a TCP listener on `addr`, as [`TcpListener::bind`] does (each address `addr` resolves
/// to is tried in turn; `SO_REUSEADDR` is set on Unix, as std sets it), but listens with the
/// largest accept queue the system allows ([`listen_backlog`]) rather than std's 128. This is
/// Go's `net.Listen("tcp", addr)`. Feature `server`.
///
/// A listener's backlog holds connections the kernel has completed but the server has not yet
/// accepted. When it is full, Linux drops the client's handshake (`ListenOverflows` in
/// `/proc/net/netstat`) and the client retries its SYN only after a second. With std's 128, a
/// burst of a thousand connects to a freshly started server overflowed it hundreds of times.
/// Every listener nethttp binds (`Server::listen_and_serve`, `listen_and_serve_tls`, the free
/// `listen_and_serve`, `httptest::Server`, the `nethttp serve` tool) comes from here; pass one
/// to `Server::serve` for the same.
///
/// ```
/// let listener = nethttp::net::listen("127.0.0.1:0")?;
/// println!("listening on {}", listener.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// As [`TcpListener::bind`]: the resolver's error, or the last address's socket, bind or
/// listen error (`AddrInUse`, `PermissionDenied`, `AddrNotAvailable`...). The error is the
/// `std::io::Error` itself, so this is a drop-in replacement for `TcpListener::bind`.
pub fn listen(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    ListenConfig::default().listen(addr)
}

/// Options for a listener, set on its socket before the bind: Go's `net.ListenConfig`, whose
/// `Control` function is where a Go program sets `SO_REUSEPORT`. [`listen`] is
/// `ListenConfig::default().listen(addr)`. Feature `server`.
///
/// ```
/// use nethttp::net::ListenConfig;
///
/// let lc = ListenConfig { reuse_port: true };
/// # if cfg!(target_os = "linux") {
/// let a = lc.listen("127.0.0.1:0")?;
/// // A second listener on the same port: the kernel spreads new connections over both.
/// let b = lc.listen(a.local_addr()?)?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenConfig {
    /// Sets `SO_REUSEPORT` (Linux 3.9 and later): several sockets, in one process or in
    /// several (of the same user), may then listen on one address and port, each with its own
    /// accept queue, and the kernel spreads new connections over them by a hash of the
    /// client's address and port. Every listener on the port must set it; a listener bound
    /// without it keeps the port to itself (`AddrInUse` for the others). This is how several
    /// processes serve one port and how a new process takes over from an old one without a
    /// refused connection (docs/GUIDE.md, "Running many instances").
    ///
    /// A connection the kernel has queued on one listener stays with it: when that listener
    /// closes, the connections in its queue that were not yet accepted are reset, unless
    /// `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14 and later), which moves them to another
    /// listener of the port; a handshake that meets the listener as it closes is reset too.
    /// [`Server`](crate::server::Server) accepts what is queued before it closes such a
    /// listener in a shutdown, which leaves a window of microseconds.
    ///
    /// Elsewhere [`listen`](Self::listen) fails with `InvalidInput`: the BSDs and macOS have
    /// an `SO_REUSEPORT` that does not spread connections, and Windows has none. Default is
    /// false.
    pub reuse_port: bool,
}

impl ListenConfig {
    /// Binds a TCP listener on `addr` with these options, as [`listen`] does (each address
    /// `addr` resolves to is tried in turn, `SO_REUSEADDR` on Unix, the backlog of
    /// [`listen_backlog`]).
    ///
    /// # Errors
    ///
    /// As [`listen`]; `InvalidInput` for `reuse_port` off Linux.
    pub fn listen(&self, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        if self.reuse_port && !cfg!(target_os = "linux") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "reuse_port needs Linux: SO_REUSEPORT spreads connections over listeners only there",
            ));
        }
        let backlog = listen_backlog();
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match self.listen_one(a, backlog) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any addresses",
            )
        }))
    }

    fn listen_one(&self, addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        // socket2 sets close-on-exec, as std does.
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        // std sets SO_REUSEADDR on Unix (so a restarted server can bind while old connections
        // sit in TIME_WAIT), and not on Windows, where it would let another socket steal the
        // port.
        #[cfg(not(windows))]
        sock.set_reuse_address(true)?;
        #[cfg(target_os = "linux")]
        if self.reuse_port {
            sock.set_reuse_port(true)?;
        }
        sock.bind(&SockAddr::from(addr))?;
        sock.listen(backlog)?;
        Ok(sock.into())
    }
}

/// True if `listener` shares its port with `SO_REUSEPORT` (false if the option cannot be read).
/// Linux only: elsewhere [`ListenConfig`] does not set it, and the server does not look.
#[cfg(all(feature = "server", target_os = "linux"))]
pub(crate) fn shares_port(listener: &TcpListener) -> bool {
    socket2::SockRef::from(listener)
        .reuse_port()
        .unwrap_or(false)
}

/// The backlog [`listen`] asks for: the system's maximum, as Go's `maxListenerBacklog`. On
/// Linux, `/proc/sys/net/core/somaxconn` (the kernel caps every listener's queue at it, so
/// asking for more gains nothing); above 65,535 it is kept to 65,535 unless the kernel is 4.1
/// or later (older kernels keep the queue length in 16 bits and would wrap it, Go's issue
/// 41470). Elsewhere, or if the file cannot be read, 4096. Feature `server`.
pub fn listen_backlog() -> i32 {
    #[cfg(target_os = "linux")]
    {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        if let Some(n) = read("/proc/sys/net/core/somaxconn")
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .filter(|&n| n > 0)
        {
            let wide =
                read("/proc/sys/kernel/osrelease").is_some_and(|r| kernel_at_least(&r, 4, 1));
            let max = if wide {
                i32::MAX as u64
            } else {
                u64::from(u16::MAX)
            };
            return n.min(max) as i32;
        }
    }
    FALLBACK_BACKLOG
}

/// True if a kernel release string (`6.8.0-45-generic`) is `major.minor` or later.
#[cfg(target_os = "linux")]
fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.trim().split(['.', '-']);
    let num = |p: Option<&str>| p.and_then(|s| s.parse::<u32>().ok());
    match (num(parts.next()), num(parts.next())) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_is_the_system_maximum() {
        let b = listen_backlog();
        assert!(b > 0);
        #[cfg(target_os = "linux")]
        if let Ok(s) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
            let n: i64 = s.trim().parse().unwrap();
            assert_eq!(i64::from(b), n.min(i64::from(i32::MAX)), "somaxconn {n}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_versions() {
        for (release, want) in [
            ("6.8.0-45-generic", true),
            ("4.1.0", true),
            ("4.0.9", false),
            ("3.10.0-1160.el7.x86_64", false),
            ("5", false),
            ("", false),
        ] {
            assert_eq!(kernel_at_least(release, 4, 1), want, "{release:?}");
        }
    }

    #[test]
    fn listens_and_reports_bind_errors_as_std() {
        let l = listen("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let c = std::net::TcpStream::connect(addr).unwrap();
        let (_s, peer) = l.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        let taken = listen(addr).unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse, "{taken}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reuse_port_shares_a_port_only_among_listeners_that_set_it() {
        let lc = ListenConfig { reuse_port: true };
        let a = lc.listen("127.0.0.1:0").unwrap();
        let addr = a.local_addr().unwrap();
        let b = lc.listen(addr).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        #[cfg(feature = "server")]
        assert!(shares_port(&a) && shares_port(&b));
        // A listener without the option may not join them...
        let plain = listen(addr).unwrap_err();
        assert_eq!(plain.kind(), io::ErrorKind::AddrInUse, "{plain}");
        // ...nor may one with it join a listener without.
        let alone = listen("127.0.0.1:0").unwrap();
        #[cfg(feature = "server")]
        assert!(!shares_port(&alone));
        let joined = lc.listen(alone.local_addr().unwrap()).unwrap_err();
        assert_eq!(joined.kind(), io::ErrorKind::AddrInUse, "{joined}");
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn reuse_port_is_refused_off_linux() {
        let e = ListenConfig { reuse_port: true }
            .listen("127.0.0.1:0")
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
}
