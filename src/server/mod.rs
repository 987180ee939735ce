//! HTTP/1.1 server (and HTTP/2 with feature `http2`): accept loop, one OS thread per connection
//! (from a thread cache), shutdown.
//!
//! Available with feature `server` (on by default).
//!
//! The per-connection loop is in `conn.rs`, the response writer in `response.rs`; HTTP/2
//! connections (ALPN `h2`, or h2c when [`Http2Config::h2c`] is set) are served by `h2/`.
//!
//! ```no_run
//! use nethttp::server::{Request, ResponseWriter, Server};
//! use std::io::Write;
//!
//! let srv = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
//!     let _ = write!(w, "hello from {}\n", r.uri.path());
//! });
//! let stopper = srv.clone();
//! std::thread::spawn(move || {
//!     // ... later, from any thread:
//!     let _ = stopper.shutdown(std::time::Duration::from_secs(5));
//! });
//! srv.listen_and_serve()?;
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # Threads
//!
//! The thread that calls [`Server::serve`] runs the accept loop. Each accepted connection is
//! handed to a connection thread, which reads a request, calls the handler, finishes the
//! response and goes on while keep-alive holds (Go's `conn.serve`). A thread whose connection
//! closed parks in a cache and takes the next accepted connection, so connection churn does not
//! pay a thread spawn each time; it exits after [`Config::thread_idle_timeout`].
//!
//! # Admission at `max_connections`
//!
//! At [`Config::max_connections`], a new connection is admitted by closing the connection that
//! has waited longest between requests (as nginx reuses its idle keep-alive connections when it
//! runs out); only when every connection is busy with a request does the new one wait, in the
//! kernel's backlog, until one finishes its request or closes. [`Server::num_evicted`] counts
//! the connections closed this way.

mod accept;
mod conn;
#[cfg(feature = "http2")]
mod h2;
mod handler;
pub(crate) mod response;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

/// The role-neutral message types, also at the crate root (where they live).
#[doc(no_inline)]
pub use crate::{Body, Request};
pub use handler::Handler;
pub use response::{ClientProbe, Hijacked, ResponseWriter};

use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::net::Stream;
use crate::proto::Limits;
use accept::{Listening, Waker};
use conn::ConnShared;

/// The state of a server connection, reported to [`Config::conn_state`] (Go's `ConnState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnState {
    /// Just accepted; no request byte read yet.
    New = 0,
    /// Reading a request or running its handler.
    Active = 1,
    /// Between requests, waiting for the next one.
    Idle = 2,
    /// Taken over by a handler; the server no longer tracks it.
    Hijacked = 3,
    /// Closed by the server or the client.
    Closed = 4,
}

/// A callback for connection state changes: the client's address and the new state. It runs
/// on the connection's thread and must not block.
pub type ConnStateHook = Arc<dyn Fn(SocketAddr, ConnState) + Send + Sync>;

/// Server settings. Every default is safe for a server exposed to untrusted clients: unlike
/// Go, a head-read timeout, an idle timeout, a stall timeout and a connection limit are on.
///
/// ```
/// use std::time::Duration;
/// let cfg = nethttp::server::Config {
///     addr: "127.0.0.1:0".into(),
///     write_timeout: Some(Duration::from_secs(30)),
///     ..nethttp::server::Config::default()
/// };
/// ```
#[derive(Clone)]
pub struct Config {
    /// The address [`Server::listen_and_serve`] binds. Default is `127.0.0.1:8080`.
    pub addr: String,
    /// How long a client may take to send a whole request head, from its first byte (or, for
    /// a new connection, from accept). `None` means no limit. Default is 10 seconds.
    pub read_header_timeout: Option<Duration>,
    /// How long reading a whole request, head and body, may take. `None` means no limit.
    /// Default is `None` (bodies may stream for long; the stall timeout still applies).
    pub read_timeout: Option<Duration>,
    /// How long writing a response may take, from the end of its request head. `None` means no
    /// limit. Default is `None` (the stall timeout still applies).
    pub write_timeout: Option<Duration>,
    /// How long a keep-alive connection may wait for its next request. `None` means no limit.
    /// Default is 120 seconds (longer than Go's and nethttp's client idle timeout of 90 s, so
    /// clients usually close first).
    pub idle_timeout: Option<Duration>,
    /// How long one read of a request body or one write of a response may wait without any
    /// progress, within `read_timeout` and `write_timeout`. `None` means no limit. Default is
    /// 60 seconds (nginx's `client_body_timeout` and `send_timeout`).
    pub inactivity_timeout: Option<Duration>,
    /// The largest request head, request line included. A longer request line gets 414, a
    /// longer head 431. Values below 64 are treated as 64. Default is 1 MiB (Go's
    /// `DefaultMaxHeaderBytes`).
    pub max_header_bytes: usize,
    /// The most header fields in a request head (431 beyond). Zero is treated as 1. Default
    /// is 100.
    pub max_headers: usize,
    /// The most connections served at once. Zero means no limit. Default is 10,000.
    ///
    /// When a new connection arrives at the limit, the server closes the keep-alive connection
    /// that has been idle longest (one waiting between requests, never one reading a request
    /// or running a handler) and admits the new one, so idle clients cannot starve new ones;
    /// [`Server::num_evicted`] counts these closes, and the hook sees the closed connection go
    /// from `Idle` to `Closed`, as after an idle timeout. Only when every connection is busy
    /// with a request (or is new and has not sent its first one, which
    /// `read_header_timeout` bounds) does the server stop accepting: new clients then wait in
    /// the kernel's backlog until a connection finishes its request or closes. Hijacked
    /// connections do not count.
    pub max_connections: usize,
    /// Stack size of connection threads, in bytes: the most a handler (and what it calls) may
    /// put on the stack. Default is 512 KiB, a quarter of Rust's default for spawned threads.
    /// Only the pages a thread touches cost memory (about 12 KiB for a connection whose
    /// handler keeps no large arrays on its stack); the rest is reserved address space. A
    /// handler that recurses deeply or keeps large arrays on the stack needs more: raise this,
    /// or move the work to a thread of its own. Going past it aborts the process (Rust's stack
    /// overflow). Values below the platform's minimum (zero included) get the minimum.
    pub stack_size: usize,
    /// How long a cached connection thread waits for a new connection before it exits. Zero
    /// means a thread exits as soon as its connection ends, unless a new one is already
    /// handed to it. Default is 30 seconds.
    pub thread_idle_timeout: Duration,
    /// During [`Server::shutdown`], how long after its accept a connection that has not yet
    /// sent a byte may still send its first request (which is then served, with
    /// `Connection: close`) before shutdown closes it as idle. Go's server uses 5 seconds for
    /// the same reason: the request may already be on its way. Zero closes such connections at
    /// once. Default is 5 seconds.
    pub shutdown_new_conn_grace: Duration,
    /// Called on every connection state change. `None` means no hook. Default is `None`.
    pub conn_state: Option<ConnStateHook>,
    /// Whether [`Server::listen_and_serve`] and `listen_and_serve_tls` bind
    /// [`addr`](Self::addr) with `SO_REUSEPORT`
    /// ([`ListenConfig::reuse_port`](crate::net::ListenConfig::reuse_port)): several servers,
    /// in this process or in others of the same user, then listen on one port, and the
    /// kernel spreads new connections over them. Linux only; elsewhere the bind fails with
    /// `InvalidInput`. Default is false.
    ///
    /// What changes is the shutdown (for any listener that shares its port, however it was
    /// made: [`Server::serve`] asks the socket). Closing such a listener would reset the
    /// connections the kernel has queued on it but the server has not yet accepted, so
    /// [`Server::shutdown`] first accepts those and serves them as any connection accepted
    /// during a shutdown (each with [`shutdown_new_conn_grace`](Self::shutdown_new_conn_grace)
    /// to send its request), then closes the listener, and only then closes idle keep-alive
    /// connections, whose clients therefore reconnect to another server of the port. Started
    /// with the new one running, an old server so stops without failing a request, save in
    /// the microseconds around the close: a connection that reaches its queue after the last
    /// accept, or a handshake that meets the closing listener, is reset. The kernel moves the
    /// first kind to another listener if `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14 and
    /// later); a client may retry either (docs/GUIDE.md, "Running many instances", has the
    /// restart procedure, the rules and measurements).
    pub reuse_port: bool,
    /// HTTP/2 (feature `http2`): whether `Server::serve_tls` offers it, whether plain-TCP
    /// connections may speak it (h2c), and its limits. Without feature `http2` these settings
    /// are ignored and every connection speaks HTTP/1.1. See [`Http2Config`] for the defaults.
    pub http2: Http2Config,
}

/// HTTP/2 settings of a [`Server`] (feature `http2`; ignored without it), as Go's
/// `http.Server.Protocols` and `http2.Server` fields.
///
/// ```
/// let cfg = nethttp::server::Config {
///     http2: nethttp::server::Http2Config {
///         h2c: true,
///         ..Default::default()
///     },
///     ..Default::default()
/// };
/// assert!(cfg.http2.enabled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Config {
    /// Whether `Server::serve_tls` offers HTTP/2: ALPN `h2` ahead of `http/1.1`, so a client
    /// that offers both gets HTTP/2 (Go's default). False leaves `h2` out of ALPN (Go's
    /// `TLSNextProto` set to an empty map). Default is true.
    pub enabled: bool,
    /// Whether a plain-TCP connection whose first bytes are the HTTP/2 client preface is
    /// served as HTTP/2 ("h2c with prior knowledge", RFC 9113 §3.3; Go's
    /// `Protocols.SetUnencryptedHTTP2`). Other connections on the same listener still speak
    /// HTTP/1.1. The `Upgrade: h2c` path (RFC 7540 §3.2, removed from RFC 9113) is not
    /// supported: such a request is served over HTTP/1.1. Default is false, as in Go.
    pub h2c: bool,
    /// The most streams a client may have open at once on one connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`; a stream past it is refused with
    /// `REFUSED_STREAM`), which is also the most handlers that run at once for one
    /// connection. A stream the client resets while its handler runs still holds its
    /// handler's place until the handler returns; streams waiting for a place queue, and
    /// more than four times this many waiting ends the connection with `ENHANCE_YOUR_CALM`
    /// (Go's answer to the rapid-reset attack, CVE-2023-44487). Zero is treated as 1.
    /// Default is 250, as Go's.
    pub max_concurrent_streams: u32,
    /// How many bytes of one request body the server buffers before the handler reads them:
    /// the stream's flow-control window (`SETTINGS_INITIAL_WINDOW_SIZE`). All of a
    /// connection's streams together buffer at most its 1 MiB window, whose credit comes back
    /// as handlers read (as Go's server). Values are clamped to 16 KiB..=2^31-1. Default is
    /// 256 KiB.
    pub max_upload_buffer_per_stream: u32,
    /// The most HTTP/2 handlers running at once across the whole server (each runs on a
    /// thread of its own; Go, whose handlers are goroutines, has no such limit). At the limit,
    /// a new stream waits for a handler of its own connection to finish if that connection
    /// has one running, and is otherwise refused with `REFUSED_STREAM`, which clients retry.
    /// Zero means no limit beyond `max_concurrent_streams` per connection. Default is 10,000
    /// (as `Config::max_connections`, which bounds HTTP/1's threads the same way).
    pub max_handlers: usize,
}

impl Default for Http2Config {
    fn default() -> Http2Config {
        Http2Config {
            enabled: true,
            h2c: false,
            max_concurrent_streams: 250,
            max_upload_buffer_per_stream: 256 << 10,
            max_handlers: 10_000,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:8080".to_string(),
            read_header_timeout: Some(Duration::from_secs(10)),
            read_timeout: None,
            write_timeout: None,
            idle_timeout: Some(Duration::from_secs(120)),
            inactivity_timeout: Some(Duration::from_secs(60)),
            max_header_bytes: Limits::DEFAULT_MAX_HEAD_BYTES,
            max_headers: Limits::DEFAULT_MAX_HEADERS,
            max_connections: 10_000,
            stack_size: 512 << 10,
            thread_idle_timeout: Duration::from_secs(30),
            shutdown_new_conn_grace: Duration::from_secs(5),
            conn_state: None,
            reuse_port: false,
            http2: Http2Config::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("read_header_timeout", &self.read_header_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("inactivity_timeout", &self.inactivity_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_headers", &self.max_headers)
            .field("max_connections", &self.max_connections)
            .field("stack_size", &self.stack_size)
            .field("thread_idle_timeout", &self.thread_idle_timeout)
            .field("shutdown_new_conn_grace", &self.shutdown_new_conn_grace)
            .field("conn_state", &self.conn_state.as_ref().map(|_| "hook"))
            .field("reuse_port", &self.reuse_port)
            .field("http2", &self.http2)
            .finish()
    }
}

/// An HTTP/1.1 server, and HTTP/2 with feature `http2` ([`Http2Config`]). A cheap handle: clone it to call [`shutdown`](Self::shutdown) or
/// [`close`](Self::close) from another thread while one thread is in [`serve`](Self::serve).
///
#[cfg_attr(feature = "client", doc = "```")]
#[cfg_attr(not(feature = "client"), doc = "```ignore")]
/// use std::io::Write;
/// use std::time::Duration;
/// use nethttp::server::{Config, Server};
/// use nethttp::{Request, ResponseWriter};
///
/// let cfg = Config {
///     write_timeout: Some(Duration::from_secs(30)),
///     ..Config::default()
/// };
/// let srv = Server::with_config(cfg, |w: &mut dyn ResponseWriter, r: &mut Request| {
///     let _ = write!(w, "hello, {}", r.uri.path());
/// });
/// // `srv.listen_and_serve()` binds `cfg.addr`; here, any free port.
/// let listener = nethttp::net::listen("127.0.0.1:0")?;
/// let url = format!("http://{}/world", listener.local_addr()?);
/// let serving = srv.clone();
/// let accept_loop = std::thread::spawn(move || serving.serve(listener));
///
/// assert_eq!(nethttp::Client::new().get(&url)?.text()?, "hello, /world");
///
/// // Graceful: stop accepting, close idle connections, wait for requests in flight.
/// srv.shutdown(Duration::from_secs(5))?;
/// // `serve` returned `Ok(())` as soon as the shutdown began.
/// accept_loop.join().expect("accept loop panicked")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.inner.config)
            .field("connections", &self.num_connections())
            .finish_non_exhaustive()
    }
}

pub(crate) struct ServerInner {
    pub(crate) config: Config,
    pub(crate) handler: Box<dyn Handler>,
    limits: Limits,
    /// Set once by shutdown() or close(); never cleared. Accept loops stop, and close their
    /// listeners, when they see it.
    shutting_down: AtomicBool,
    /// Set once, never cleared: by shutdown() when no accept loop is left (or after
    /// `LISTENERS_CLOSE_WAIT`), and by close(). From then on a connection closes after its
    /// current response and idle ones are closed, so their clients reconnect to a listener
    /// that is still open, never to this server's closing one (Go closes its listeners
    /// before its idle connections too). Dekker with a connection's state word: shutdown
    /// sets this, then closes the connections it sees idle; a connection stores `Idle`, then
    /// reads this.
    closing_conns: AtomicBool,
    /// Set once by close() (before it scans the table); never cleared. A connection accepted
    /// in the instant close() scanned checks it before it is served.
    closed: AtomicBool,
    /// The connections being served (not hijacked ones). Guarded with `conns_changed`, which
    /// is notified whenever a connection leaves, on shutdown, and when a connection goes idle
    /// while an accept loop waits at `max_connections`.
    conns: Mutex<Conns>,
    conns_changed: Condvar,
    /// How many accept loops wait at `max_connections` for a connection to leave or go idle.
    /// Written under the `conns` lock; read without it by each connection going idle, which
    /// then notifies `conns_changed` (Dekker with the connection's state word: the loop
    /// raises this, then scans states; a connection stores `Idle`, then reads this).
    admission_waiters: AtomicUsize,
    /// HTTP/2 handlers running across the server, against `Http2Config::max_handlers`.
    #[cfg(feature = "http2")]
    pub(crate) h2_handlers: AtomicUsize,
    /// When the server was made: idle times in connections' state words count from here.
    pub(crate) epoch: Instant,
    /// The listeners in serve(), by an id of their own, with what wakes their accept loops on
    /// shutdown. A loop leaves this table only after it has closed its listener.
    listeners: Mutex<Vec<(u64, Waker)>>,
    next_listener_id: AtomicU64,
    next_conn_id: AtomicU64,
    /// Connection threads alive (busy or cached), for leak checks.
    threads: Arc<AtomicUsize>,
    /// Functions `register_on_shutdown` added; taken (and each run on its own thread) by the
    /// first `shutdown`.
    on_shutdown: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

/// The connection table, behind `ServerInner::conns`.
struct Conns {
    /// The connections being served, by id.
    live: HashMap<u64, Arc<ConnShared>>,
    /// Ids in `live` claimed for eviction and now closing: their threads are winding down, and
    /// they no longer count against `max_connections`.
    evicted: HashSet<u64>,
    /// How many connections have been evicted, ever.
    evictions: u64,
}

impl Conns {
    /// Connections that count against `max_connections`.
    fn counted(&self) -> usize {
        self.live.len() - self.evicted.len()
    }

    /// True if some connection waits between requests.
    fn any_idle(&self) -> bool {
        self.live
            .values()
            .any(|c| conn::state_of(c.state_word()) == ConnState::Idle as u8)
    }
}

/// Claims the connection that has been idle longest (see `conn.rs` on claiming) and shuts its
/// socket down; its thread then closes it. `None` if no connection is idle.
fn evict_longest_idle(conns: &mut Conns) -> Option<Arc<ConnShared>> {
    loop {
        let (word, c) = conns
            .live
            .values()
            .map(|c| (c.state_word(), c))
            .filter(|(w, _)| conn::state_of(*w) == ConnState::Idle as u8)
            .min_by_key(|(w, _)| conn::idle_since(*w))?;
        if c.claim_for_close(word) {
            let c = Arc::clone(c);
            match c.on_shutdown.get() {
                // An HTTP/2 connection with no stream open: GOAWAY, then it closes itself
                // (never blocks), so a request the client sends meanwhile is retried
                // elsewhere rather than lost.
                Some(graceful) => graceful(),
                None => c.close_idle(),
            }
            conns.evicted.insert(c.id);
            conns.evictions += 1;
            return Some(c);
        }
        // Its thread claimed it for a request meanwhile (or it went idle again): look again.
    }
}

impl ServerInner {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// True once connections close after their current response, and idle ones are closed
    /// (see `closing_conns`).
    pub(crate) fn closes_conns(&self) -> bool {
        self.closing_conns.load(Ordering::SeqCst)
    }

    pub(crate) fn conn_state_changed(&self, addr: SocketAddr, state: ConnState) {
        if let Some(hook) = &self.config.conn_state {
            hook(addr, state);
        }
    }

    pub(crate) fn untrack(&self, id: u64) {
        let mut conns = self.conns.lock();
        if conns.live.remove(&id).is_some() {
            conns.evicted.remove(&id);
            self.conns_changed.notify_all();
        }
    }

    /// Called by a connection that has just stored `Idle`: wakes accept loops waiting at
    /// `max_connections`, which can now evict it. One atomic load when none waits.
    pub(crate) fn went_idle(&self) {
        if self.admission_waiters.load(Ordering::SeqCst) > 0 {
            let _conns = self.conns.lock();
            self.conns_changed.notify_all();
        }
    }

    /// Before `accept`: returns at once below `max`, else when a connection leaves or waits
    /// between requests (so a new one can be admitted by evicting it), or on shutdown. Until
    /// then new clients wait in the kernel's backlog.
    fn wait_for_room(&self, max: usize) {
        let mut conns = self.conns.lock();
        if conns.counted() < max {
            return;
        }
        self.admission_waiters.fetch_add(1, Ordering::SeqCst);
        while conns.counted() >= max && !conns.any_idle() && !self.is_shutting_down() {
            self.conns_changed
                .wait_for(&mut conns, Duration::from_millis(250));
        }
        self.admission_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// After `accept`, under the table lock the caller then inserts with: makes room for one
    /// more connection at `max` by evicting the longest-idle one if needed, waiting (for a
    /// connection to leave or go idle) if every one is busy. False on shutdown.
    fn admit(&self, conns: &mut MutexGuard<'_, Conns>, max: usize, peer: SocketAddr) -> bool {
        let mut waiting = false;
        let admitted = loop {
            if self.is_shutting_down() {
                break false;
            }
            if conns.counted() < max {
                break true;
            }
            if let Some(c) = evict_longest_idle(conns) {
                log::debug!(
                    "nethttp: at max_connections ({max}): closed the idle connection from {} to \
                     admit {peer}",
                    c.remote_addr
                );
                break true;
            }
            // Rare: the idle connection `wait_for_room` saw took a request meanwhile.
            if !waiting {
                waiting = true;
                self.admission_waiters.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            self.conns_changed
                .wait_for(conns, Duration::from_millis(250));
        };
        if waiting {
            self.admission_waiters.fetch_sub(1, Ordering::SeqCst);
        }
        admitted
    }

    /// Wakes every accept loop out of its wait for a connection: by a byte on its waker, or by
    /// connecting to its listener (outside the table's lock).
    fn wake_listeners(&self) {
        let connect: Vec<(SocketAddr, Option<socket2::Socket>)> = self
            .listeners
            .lock()
            .iter()
            .filter_map(|(_, w)| w.wake())
            .collect();
        for (addr, sock) in connect {
            match sock {
                Some(s) => {
                    let _ = s.connect_timeout(&addr.into(), Duration::from_secs(1));
                }
                None => {
                    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
                }
            }
        }
        self.conns_changed.notify_all();
    }
}

impl Server {
    /// A server for `handler` with the default [`Config`].
    pub fn new(handler: impl Handler) -> Server {
        Server::with_config(Config::default(), handler)
    }

    /// A server for `handler` with `config`.
    pub fn with_config(config: Config, handler: impl Handler) -> Server {
        let limits = Limits {
            max_head_bytes: config.max_header_bytes.max(64),
            max_headers: config.max_headers.max(1),
            ..Limits::default()
        };
        Server {
            inner: Arc::new(ServerInner {
                config,
                handler: Box::new(handler),
                limits,
                shutting_down: AtomicBool::new(false),
                closing_conns: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                conns: Mutex::new(Conns {
                    live: HashMap::new(),
                    evicted: HashSet::new(),
                    evictions: 0,
                }),
                conns_changed: Condvar::new(),
                admission_waiters: AtomicUsize::new(0),
                #[cfg(feature = "http2")]
                h2_handlers: AtomicUsize::new(0),
                epoch: Instant::now(),
                listeners: Mutex::new(Vec::new()),
                next_listener_id: AtomicU64::new(1),
                next_conn_id: AtomicU64::new(1),
                threads: Arc::new(AtomicUsize::new(0)),
                on_shutdown: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings this server runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Binds [`Config::addr`] (with `SO_REUSEPORT` if [`Config::reuse_port`]) and serves on
    /// it until [`shutdown`](Self::shutdown) or [`close`](Self::close).
    ///
    /// # Errors
    ///
    /// The bind error, or as [`serve`](Self::serve).
    pub fn listen_and_serve(&self) -> Result<()> {
        let listener = self.listen()?;
        self.serve(listener)
    }

    /// Binds [`Config::addr`] as [`Config::reuse_port`] says.
    fn listen(&self) -> Result<TcpListener> {
        let cfg = &self.inner.config;
        crate::net::ListenConfig {
            reuse_port: cfg.reuse_port,
        }
        .listen(cfg.addr.as_str())
        .map_err(|e| Error::with_source(ErrorKind::Io, e))
    }

    /// Accepts connections on `listener` and serves each on its own thread, until
    /// [`shutdown`](Self::shutdown) or [`close`](Self::close); then closes the listener and
    /// returns `Ok(())` (shutdown itself waits for the connections). Accept errors such as
    /// running out of file descriptors are logged and retried with a backoff; they never end
    /// the server. Several threads may serve several listeners on one server.
    ///
    /// A listener that shares its port (`SO_REUSEPORT`, see [`Config::reuse_port`]) is
    /// drained in a shutdown: what the kernel has queued on it is accepted and served before
    /// it is closed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ServerClosed`] if the server was already shut down.
    pub fn serve(&self, listener: TcpListener) -> Result<()> {
        self.serve_with(listener, None)
    }

    /// As [`serve`](Self::serve), speaking TLS (feature `tls`). Each connection's handshake
    /// runs on its own connection thread, never on the accept loop, under
    /// [`ServerTls::handshake_timeout`](crate::tls::ServerTls); a client that sends plain
    /// HTTP gets a plain-text 400 and is closed. [`ResponseWriter::hijack`] then returns the
    /// TLS stream.
    ///
    /// With feature `http2` and [`Http2Config::enabled`] (the default), ALPN offers `h2`
    /// ahead of `http/1.1` and a client that picks it is served HTTP/2 (where `hijack` fails);
    /// otherwise `h2` is left out of ALPN.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    #[cfg(feature = "tls")]
    pub fn serve_tls(&self, listener: TcpListener, tls: crate::tls::ServerTls) -> Result<()> {
        // ALPN offers `h2` first when this server speaks HTTP/2, and never otherwise.
        let h2 = cfg!(feature = "http2") && self.inner.config.http2.enabled;
        self.serve_with(listener, Some(Arc::new(tls.with_h2(h2))))
    }

    /// Binds [`Config::addr`] and serves TLS with the certificate chain and key in the PEM
    /// files `cert` and `key`, as Go's `ListenAndServeTLS`.
    ///
    /// # Errors
    ///
    /// The bind error, a certificate or key error ([`ErrorKind::Tls`]), or as
    /// [`serve`](Self::serve).
    #[cfg(feature = "tls")]
    pub fn listen_and_serve_tls(
        &self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<()> {
        let tls = crate::tls::ServerTls::from_pem_files(cert, key)?;
        let listener = self.listen()?;
        self.serve_tls(listener, tls)
    }

    fn serve_with(&self, listener: TcpListener, tls: Option<Arc<Acceptor>>) -> Result<()> {
        let srv = &self.inner;
        if srv.is_shutting_down() {
            return Err(Error::new(ErrorKind::ServerClosed));
        }
        let (listening, waker) =
            Listening::new(listener).map_err(|e| Error::with_source(ErrorKind::Io, e))?;
        let id = srv.next_listener_id.fetch_add(1, Ordering::Relaxed);
        // Listed before the flag is read below: a shutdown either finds this waker or has
        // already set the flag (both under the table's lock).
        srv.listeners.lock().push((id, waker));
        let cache = ThreadCache::new(srv);
        let mut backoff: Option<Duration> = None;
        let max = srv.config.max_connections;
        loop {
            if srv.is_shutting_down() {
                break;
            }
            if max > 0 {
                srv.wait_for_room(max);
            }
            match listening.accept() {
                Ok(Some((stream, peer))) => {
                    backoff = None;
                    if srv.is_shutting_down() {
                        // The wake-up connection, or one that came with it: a listener with
                        // its port to itself is not drained.
                        if listening.shares_port() {
                            self.start_conn(&cache, stream, peer, tls.clone(), 0);
                        }
                        break;
                    }
                    self.start_conn(&cache, stream, peer, tls.clone(), max);
                }
                // Woken by shutdown() or close(): the flag says which.
                Ok(None) => {}
                Err(e) => {
                    if srv.is_shutting_down() {
                        break;
                    }
                    // Go's tempDelay: 5 ms doubling to 1 s. The wait is on the condvar so a
                    // shutdown ends it at once.
                    let d = backoff.map_or(Duration::from_millis(5), |d| {
                        (d * 2).min(Duration::from_secs(1))
                    });
                    backoff = Some(d);
                    log::warn!("nethttp: accept error: {e}; retrying in {d:?}");
                    let mut conns = srv.conns.lock();
                    srv.conns_changed.wait_for(&mut conns, d);
                }
            }
        }
        // What the kernel queued on a shared port is served rather than reset by the close
        // below (see accept.rs); not after close(), which would only close it again.
        if listening.shares_port() && !srv.closed.load(Ordering::SeqCst) {
            let n = listening.drain(|stream, peer| {
                self.start_conn(&cache, stream, peer, tls.clone(), 0);
            });
            if n > 0 {
                log::debug!("nethttp: shutdown: serving {n} connection(s) queued before it");
            }
        }
        // Closed before it leaves the table: shutdown() closes idle connections only once the
        // table is empty, so their clients cannot reconnect into this listener's queue.
        drop(listening);
        srv.listeners.lock().retain(|(i, _)| *i != id);
        // A shutdown waits for the accept loops to end too.
        let _conns = srv.conns.lock();
        srv.conns_changed.notify_all();
        Ok(())
    }

    fn start_conn(
        &self,
        cache: &ThreadCache,
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<Arc<Acceptor>>,
        max: usize,
    ) {
        let srv = &self.inner;
        let _ = stream.set_nodelay(true);
        let id = srv.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let tcp = Arc::new(stream);
        let plain: Arc<dyn Stream> = Arc::clone(&tcp) as Arc<dyn Stream>;
        let shared = Arc::new(ConnShared::new(
            tcp,
            plain,
            false,
            peer,
            id,
            srv.limits,
            Instant::now(),
        ));
        {
            let mut conns = srv.conns.lock();
            if max > 0 && !srv.admit(&mut conns, max, peer) {
                // Shutting down: the client sees its connection closed unserved.
                return;
            }
            conns.live.insert(id, Arc::clone(&shared));
        }
        srv.conn_state_changed(peer, ConnState::New);
        let inner = Arc::clone(srv);
        #[cfg(feature = "http2")]
        let spawner = cache.spawner.clone();
        let job: Job = Box::new(move || {
            // Accepted before a shutdown began but started after it: served like any other new
            // connection (shutdown gives it the grace period), unless there is no grace. After
            // close(), never: its scan of the table may have missed this connection.
            if inner.closed.load(Ordering::SeqCst)
                || (inner.is_shutting_down() && inner.config.shutdown_new_conn_grace.is_zero())
            {
                let _ = shared.tcp.shutdown(std::net::Shutdown::Both);
                shared.set_state(&inner, ConnState::Closed);
                inner.untrack(shared.id);
                return;
            }
            let shared = match tls {
                None => shared,
                Some(acceptor) => match tls_handshake(&inner, shared, &acceptor) {
                    Some(s) => s,
                    None => return,
                },
            };
            // HTTP/2 if ALPN chose it, or (h2c) if the client preface opens the connection.
            #[cfg(feature = "http2")]
            let Some(shared) = h2::try_serve(&inner, shared, &spawner) else {
                return;
            };
            conn::serve(&inner, shared);
        });
        if let Err(e) = cache.dispatch(job) {
            log::error!("nethttp: cannot start a connection thread: {e}");
            srv.untrack(id);
        }
    }

    /// Registers `f` to run when [`shutdown`](Self::shutdown) is first called, as Go's
    /// `RegisterOnShutdown`: for connections the server no longer tracks (hijacked ones, a
    /// WebSocket hub) to be told to wind down. Each function runs once, on its own thread, so
    /// it may block; `shutdown` does not wait for it. Functions registered after the first
    /// `shutdown` never run; `close` runs none.
    pub fn register_on_shutdown(&self, f: impl FnOnce() + Send + 'static) {
        self.inner.on_shutdown.lock().push(Box::new(f));
    }

    /// Stops the server gracefully: stops accepting and closes the listeners (a listener that
    /// shares its port is drained first, see [`Config::reuse_port`]); then closes idle
    /// connections, lets active requests finish and closes each connection after its current
    /// response. A connection that has not sent its first request yet gets
    /// [`Config::shutdown_new_conn_grace`] (default 5 s) from its accept to do so. Returns
    /// when every connection is closed, or with a [`TimeoutPhase::Shutdown`] error at the
    /// timeout, leaving the rest to finish or to [`close`](Self::close). Hijacked connections
    /// are not waited for. Safe to call from any thread, more than once.
    ///
    /// An HTTP/2 connection (feature `http2`) is sent a `GOAWAY` naming the last stream it
    /// opened; those streams finish, new ones are ignored, and the connection closes when the
    /// last one ends (at once if none is open).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if connections remain at the timeout.
    pub fn shutdown(&self, timeout: Duration) -> Result<()> {
        let srv = &self.inner;
        srv.shutting_down.store(true, Ordering::SeqCst);
        srv.wake_listeners();
        // Go runs each registered function in its own goroutine; here each gets a thread, so
        // one that blocks (closing hijacked connections, say) holds up nothing.
        for f in std::mem::take(&mut *srv.on_shutdown.lock()) {
            if let Err(e) = std::thread::Builder::new()
                .name("nethttp-on-shutdown".into())
                .spawn(f)
            {
                log::error!("cannot start an on-shutdown function: {e}");
            }
        }
        let start = Instant::now();
        let deadline = start + timeout;
        let mut conns = srv.conns.lock();
        loop {
            let listening = !srv.listeners.lock().is_empty();
            // Done when no connection is left and no accept loop runs (one that has just
            // accepted may be about to add a connection), as Go waits for its listeners.
            if conns.live.is_empty() && !listening {
                return Ok(());
            }
            // Connections are closed once the listeners are, so a client whose connection
            // closes reconnects elsewhere, not into a queue about to be reset. An accept loop
            // leaves as soon as it is woken (after a drain of a shared port's queue); the
            // wait is bounded in case one is held up.
            let now = Instant::now();
            if listening
                && now < deadline
                && now < start + LISTENERS_CLOSE_WAIT
                && !srv.closes_conns()
            {
                let wait = (deadline - now).min(Duration::from_millis(50));
                srv.conns_changed.wait_for(&mut conns, wait);
                continue;
            }
            srv.closing_conns.store(true, Ordering::SeqCst);
            let grace = srv.config.shutdown_new_conn_grace;
            for c in conns.live.values() {
                // An HTTP/2 connection sends GOAWAY and closes once its streams are done
                // (idempotent, never blocks).
                if let Some(graceful) = c.on_shutdown.get() {
                    graceful();
                    continue;
                }
                let word = c.state_word();
                let state = conn::state_of(word);
                // A new connection counts as idle once its grace is over (Go: 5 s): its first
                // request may be in flight until then.
                let idle = state == ConnState::Idle as u8
                    || (state == ConnState::New as u8 && c.accepted.elapsed() >= grace);
                // Claimed first, so a connection whose request has just begun is left alone.
                if idle && c.claim_for_close(word) {
                    // Wakes the connection's blocked read with EOF; it then closes quietly.
                    c.close_idle();
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::timeout(TimeoutPhase::Shutdown));
            }
            // Re-check idle connections now and then: one may go idle without a wake-up.
            let wait = (deadline - now).min(Duration::from_millis(50));
            srv.conns_changed.wait_for(&mut conns, wait);
        }
    }

    /// Closes the server now: stops accepting and closes every connection, active or not
    /// (hijacked ones excepted). In-flight responses are cut off. Does not wait.
    pub fn close(&self) {
        let srv = &self.inner;
        srv.closed.store(true, Ordering::SeqCst);
        srv.shutting_down.store(true, Ordering::SeqCst);
        srv.closing_conns.store(true, Ordering::SeqCst);
        srv.wake_listeners();
        for c in srv.conns.lock().live.values() {
            let _ = c.tcp.shutdown(std::net::Shutdown::Both);
        }
    }

    /// How many connections are being served (hijacked ones are not counted), including any
    /// just evicted whose threads are still closing them.
    pub fn num_connections(&self) -> usize {
        self.inner.conns.lock().live.len()
    }

    /// How many idle keep-alive connections this server has closed to admit a new connection
    /// at [`Config::max_connections`] (see there), since it was made.
    pub fn num_evicted(&self) -> u64 {
        self.inner.conns.lock().evictions
    }

    /// How many connection threads are alive, busy or cached. After a shutdown and once
    /// [`serve`](Self::serve) has returned, this falls to zero: for leak checks.
    pub fn num_threads(&self) -> usize {
        self.inner.threads.load(Ordering::SeqCst)
    }
}

/// Serves `handler` on `addr` with the default [`Config`], as Go's `http.ListenAndServe`.
/// Runs until the process ends; for settings or a shutdown, use a [`Server`].
///
/// ```no_run
/// use std::io::Write;
/// use nethttp::{Request, ResponseWriter};
///
/// nethttp::listen_and_serve("127.0.0.1:8080", |w: &mut dyn ResponseWriter, _r: &mut Request| {
///     let _ = w.write_all(b"hello\n");
/// })?;
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// The bind error.
pub fn listen_and_serve(addr: impl ToSocketAddrs, handler: impl Handler) -> Result<()> {
    let listener = crate::net::listen(addr).map_err(|e| Error::with_source(ErrorKind::Io, e))?;
    Server::new(handler).serve(listener)
}

#[cfg(feature = "tls")]
type Acceptor = crate::tls::ServerTls;

/// Without the `tls` feature there is no acceptor; this type has no values.
#[cfg(not(feature = "tls"))]
enum Acceptor {}

/// Runs the TLS handshake of a just-accepted connection on its own thread and swaps the
/// connection's table entry for one over TLS. `None` if the handshake failed (the connection
/// is then closed and untracked).
#[cfg(feature = "tls")]
// Never inlined into the connection's job: its frame (the handshake's) would stay on the
// stack under `conn::serve` for the connection's whole life, and each idle connection would
// keep those pages resident.
#[inline(never)]
fn tls_handshake(
    srv: &ServerInner,
    plain: Arc<ConnShared>,
    acceptor: &Acceptor,
) -> Option<Arc<ConnShared>> {
    let sock: Box<dyn Stream> = Box::new(Arc::clone(&plain.tcp));
    match acceptor.accept(sock) {
        Ok(tls) => {
            let h2 = tls.alpn_protocol().is_some_and(|p| p == b"h2");
            let mut shared = ConnShared::new(
                Arc::clone(&plain.tcp),
                Arc::new(tls),
                true,
                plain.remote_addr,
                plain.id,
                srv.limits,
                plain.accepted,
            );
            shared.alpn_h2 = h2;
            let shared = Arc::new(shared);
            let mut conns = srv.conns.lock();
            // Closed meanwhile (close() shut the socket): nothing to serve.
            if !conns.live.contains_key(&plain.id) {
                return None;
            }
            conns.live.insert(plain.id, Arc::clone(&shared));
            Some(shared)
        }
        Err(e) => {
            log::debug!("tls handshake with {}: {e}", plain.remote_addr);
            let _ = plain.tcp.shutdown(std::net::Shutdown::Both);
            plain.set_state(srv, ConnState::Closed);
            srv.untrack(plain.id);
            None
        }
    }
}

#[cfg(not(feature = "tls"))]
fn tls_handshake(
    _srv: &ServerInner,
    _plain: Arc<ConnShared>,
    acceptor: &Acceptor,
) -> Option<Arc<ConnShared>> {
    match *acceptor {}
}

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// How long a shutdown waits for the accept loops to close their listeners before it closes
/// idle connections anyway.
const LISTENERS_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The connection-thread cache of one `serve` call. A job goes to the most recently parked
/// thread if one is idle (its stack and buffers are the likeliest to be in cache), else to a
/// new thread. Dropping the cache (when `serve` returns) wakes the parked threads, which exit;
/// busy ones exit after their connection.
///
/// Parked threads wait with `std::thread::park`, not on a channel: crossbeam's blocking
/// receive spins and yields before it parks, which a thread waiting for the next connection
/// never profits from (measured under `Connection: close` churn: 6-7 % of the server's CPU).
struct ThreadCache {
    spawner: Spawner,
}

/// A handle that hands jobs to a [`ThreadCache`]'s threads; it may outlive the cache (a job
/// dispatched then runs on a new thread, which exits after it). The HTTP/2 connection thread
/// keeps one to run its writer and its streams' handlers on cached threads.
#[derive(Clone)]
pub(crate) struct Spawner {
    shared: Arc<ThreadCacheShared>,
    threads: Arc<AtomicUsize>,
    stack_size: usize,
    idle_timeout: Duration,
}

struct ThreadCacheShared {
    /// Parked threads, most recently parked last. A dispatcher pops one and then hands it a
    /// job; a thread whose idle time runs out retires only if it is still in the list.
    idle: Mutex<Vec<Arc<Parked>>>,
    /// Set (under the `idle` lock) when the cache is dropped.
    closed: AtomicBool,
}

/// A parked connection thread and the job handed to it.
struct Parked {
    job: Mutex<Option<Job>>,
    thread: std::thread::Thread,
}

impl ThreadCache {
    fn new(srv: &ServerInner) -> ThreadCache {
        ThreadCache {
            spawner: Spawner {
                shared: Arc::new(ThreadCacheShared {
                    idle: Mutex::new(Vec::new()),
                    closed: AtomicBool::new(false),
                }),
                threads: Arc::clone(&srv.threads),
                stack_size: srv.config.stack_size,
                idle_timeout: srv.config.thread_idle_timeout,
            },
        }
    }

    fn dispatch(&self, job: Job) -> std::io::Result<()> {
        self.spawner.dispatch(job)
    }
}

impl Spawner {
    /// Runs `job` on the most recently parked thread of the cache, or on a new thread.
    pub(crate) fn dispatch(&self, job: Job) -> std::io::Result<()> {
        let parked = self.shared.idle.lock().pop();
        if let Some(p) = parked {
            *p.job.lock() = Some(job);
            p.thread.unpark();
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let threads = Arc::clone(&self.threads);
        let idle_timeout = self.idle_timeout;
        threads.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("nethttp-conn".into())
            .stack_size(self.stack_size)
            .spawn(move || {
                let _count = ThreadCount(threads);
                worker(job, &shared, idle_timeout);
            });
        if let Err(e) = spawned {
            self.threads.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        let shared = &self.spawner.shared;
        let parked = {
            let mut idle = shared.idle.lock();
            shared.closed.store(true, Ordering::SeqCst);
            std::mem::take(&mut *idle)
        };
        for p in parked {
            p.thread.unpark();
        }
    }
}

struct ThreadCount(Arc<AtomicUsize>);

impl Drop for ThreadCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn worker(first: Job, shared: &ThreadCacheShared, idle_timeout: Duration) {
    let me = Arc::new(Parked {
        job: Mutex::new(None),
        thread: std::thread::current(),
    });
    let mut job = first;
    loop {
        job();
        {
            let mut idle = shared.idle.lock();
            if shared.closed.load(Ordering::SeqCst) {
                return;
            }
            idle.push(Arc::clone(&me));
        }
        let retire_at = Instant::now() + idle_timeout;
        job = loop {
            // Woken by a dispatcher (the job is set before the unpark), by the cache's drop,
            // at the idle deadline, or for nothing (a spurious wake-up): look again.
            if let Some(j) = me.job.lock().take() {
                break j;
            }
            let now = Instant::now();
            if shared.closed.load(Ordering::SeqCst) || now >= retire_at {
                let mut idle = shared.idle.lock();
                match idle.iter().position(|p| Arc::ptr_eq(p, &me)) {
                    Some(i) => {
                        idle.remove(i);
                        return;
                    }
                    // Popped by a dispatcher (or by the cache's drop, which empties the list):
                    // a job is on its way unless the cache is closed.
                    None if shared.closed.load(Ordering::SeqCst) && me.job.lock().is_none() => {
                        return
                    }
                    None => {
                        drop(idle);
                        std::thread::park_timeout(Duration::from_millis(10));
                        continue;
                    }
                }
            }
            std::thread::park_timeout(retire_at - now);
        };
    }
}
