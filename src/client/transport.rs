//! Connection pool and dialing (Go's `Transport`); each connection's threads are in
//! persist.rs, and the policy layer (redirects, cookies) in mod.rs.
//!
//! `get_conn` follows Go's `getConn`: it makes a [`WantConn`], first tries the idle pool (most
//! recently used first, skipping broken connections and closing ones idle too long), else
//! queues the want for the next connection put back (its host's `idle_wait`) *and* for a dial,
//! which runs on its own thread at once if `max_conns_per_host` allows, else waits in the
//! host's `conns_wait`.
//! Whichever comes first — a freed connection or the dial — is delivered; a dialled connection
//! nobody wants any more goes to the pool (late binding). The pool lock is held only to look up
//! and insert, never across a dial, a close or a channel send that can block.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, Uri};
use parking_lot::Mutex;

use super::persist::{self, PersistConn, Prepared};
use super::proxy::{self, ConnKey, Proxy, ProxyConnectHeaderFn, ProxyConnectResponseFn};
use super::response::Response;
use super::trace::{CancelToken, GotConnInfo};
use super::wake;
use super::{RequestOptions, RoundTripper};
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::fnv::FnvMap;
use crate::net::{Dial, Target, TcpDialer};
use crate::proto::client::{self, EncodeOptions, TargetForm};
use crate::proto::Limits;
use crate::{Body, Request};

const DEFAULT_READ_BUFFER: usize = 8 << 10;
const DEFAULT_WRITE_BUFFER: usize = 32 << 10;

/// Pools connections and carries requests over them, as Go's `http.Transport`. Cheap to clone
/// (clones share the pool); create one and reuse it.
///
/// Its settings are a [`TransportConfig`], fixed when it is made; a
/// [`Client`](super::Client) sends through it and adds the policy (redirects, cookies, the
/// overall timeout):
///
#[cfg_attr(feature = "server", doc = "```")]
#[cfg_attr(not(feature = "server"), doc = "```ignore")]
/// use std::io::Write;
/// use std::time::Duration;
/// use nethttp::client::{Client, Transport, TransportConfig};
/// use nethttp::{httptest, Request, ResponseWriter};
///
/// let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
///     let _ = w.write_all(b"ok");
/// });
/// let transport = Transport::with_config(TransportConfig {
///     max_idle_conns_per_host: 8, // Go's MaxIdleConnsPerHost
///     max_conns_per_host: 16,     // callers beyond it wait for a connection
///     idle_conn_timeout: Some(Duration::from_secs(30)),
///     response_header_timeout: Some(Duration::from_secs(10)),
///     ..TransportConfig::default()
/// });
/// let client = Client::with_transport(transport.clone());
/// for _ in 0..3 {
///     assert_eq!(client.get(ts.url())?.text()?, "ok");
/// }
/// // Each body was read to its end, so one connection carried all three requests.
/// assert_eq!(transport.stats().open, 1);
/// assert_eq!(transport.stats().idle, 1);
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    inner: Arc<TransportInner>,
}

/// The settings of a [`Transport`], as the fields of Go's `http.Transport`: set the ones you
/// need and take the rest from `Default` (`..TransportConfig::default()`), then
/// [`Transport::with_config`]. Each setting lives here only; nothing else overrides it.
#[derive(Clone)]
pub struct TransportConfig {
    /// How connections are opened. Default is [`TcpDialer::default`] (30 s connect timeout,
    /// 30 s TCP keep-alive with feature `tcp-keepalive`, `TCP_NODELAY`); set a
    /// `TcpDialer { connect_timeout, .. }` for another connect timeout (Go's
    /// `net.Dialer.Timeout`), or [`crate::net::unix_socket`] to reach a Unix socket.
    pub dialer: Arc<dyn Dial>,
    /// The most idle connections kept across all hosts; the least recently used goes first.
    /// Zero means no limit. Default is 100.
    pub max_idle_conns: usize,
    /// The most idle connections kept per host. Zero keeps none (every connection closes
    /// after its response). Default is 32 (Go's is 2, which makes parallel callers to one
    /// host re-dial constantly).
    pub max_idle_conns_per_host: usize,
    /// The most connections per host, counting dialing, active and idle ones; callers beyond
    /// it wait, first come first served. HTTP/2 connections count apart from HTTP/1 ones:
    /// once this many are open to a host, a request waits for a stream on one of them. Zero
    /// means no limit. Default is 0.
    pub max_conns_per_host: usize,
    /// How long an idle connection is kept. `None` means until the server closes it or it is
    /// evicted. Default is 90 seconds.
    pub idle_conn_timeout: Option<Duration>,
    /// How long to wait for a response head once the request is written. `None` means no
    /// limit (the request's own deadline still applies). Default is `None`.
    pub response_header_timeout: Option<Duration>,
    /// How long to wait for `100 Continue` before sending a body anyway, for requests with
    /// `Expect: 100-continue`. Zero sends the body at once, without waiting. Default is 1
    /// second.
    pub expect_continue_timeout: Duration,
    /// The largest response head accepted, in bytes (Go's `MaxResponseHeaderBytes`): the
    /// status line, every field and the blank line. There is no separate limit on the number
    /// of fields, as in Go. Values below 64 are treated as 64. Default is 10 MiB, Go's.
    pub max_response_header_bytes: usize,
    /// With `true`, each connection carries one request only (`Connection: close`) and none is
    /// pooled. Default is `false`.
    pub disable_keep_alives: bool,
    /// The read buffer of each connection: how much one socket read takes in; body reads of
    /// at least this size bypass it. A response head may grow it up to
    /// `max_response_header_bytes`. Zero means the default. Default is 8 KiB (Go's is 4 KiB).
    pub read_buffer_size: usize,
    /// The writer thread's buffer: request bodies are read from their source and written in
    /// pieces of this size (one chunk each when chunked). Zero means the default. Default is
    /// 32 KiB.
    pub write_buffer_size: usize,
    /// The `User-Agent` sent when a request has none, and on each `CONNECT` to a proxy unless
    /// the `CONNECT` fields have one (as Go does). `None` sends none. Default is
    /// `nethttp/<version>`.
    pub user_agent: Option<HeaderValue>,
    /// TLS settings for `https://` URLs (feature `tls`): roots, client certificates, the
    /// handshake timeout (Go's `TLSClientConfig` and `TLSHandshakeTimeout`). The transport
    /// builds the rustls configuration from it once. Default is
    /// [`ClientTls::default`](crate::tls::ClientTls).
    #[cfg(feature = "tls")]
    pub tls: crate::tls::ClientTls,
    /// Which requests go through a proxy, and which proxy: fixed rules, or a function of the
    /// request ([`Proxy::custom`], Go's `Proxy` function). [`Proxy::none`] turns proxies off.
    /// Default is [`Proxy::from_env`] (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, read when the
    /// `TransportConfig` is made; never for loopback addresses).
    pub proxy: Proxy,
    /// Fields added to every `CONNECT` sent to an HTTP proxy, after `Host` and the
    /// `Proxy-Authorization` made from the proxy URL's credentials (which replaces one set
    /// here), as Go's `ProxyConnectHeader`; a `User-Agent` here replaces
    /// [`user_agent`](Self::user_agent). Not used when
    /// [`get_proxy_connect_header`](Self::get_proxy_connect_header) is set, and never sent
    /// on requests forwarded to a proxy in absolute form (`http://` origins: set such fields
    /// on the requests). Default is empty.
    pub proxy_connect_header: HeaderMap,
    /// Makes the fields of each `CONNECT` instead of
    /// [`proxy_connect_header`](Self::proxy_connect_header) (Go's `GetProxyConnectHeader`):
    /// called on the dial thread with the proxy's URL (without credentials) and the tunnel's
    /// `host:port`. An `Err` fails the dial, and the request waiting for it, with that error.
    /// `None` means `proxy_connect_header` is sent. Default is `None`.
    pub get_proxy_connect_header: Option<Arc<ProxyConnectHeaderFn>>,
    /// Called with every answer to a `CONNECT`, 200 or not, before the transport judges it
    /// (Go's `OnProxyConnectResponse`): the proxy's URL (without credentials), the request as
    /// sent (method `CONNECT`, the target `host:port` as its URI, the fields after `Host`)
    /// and the answer's head. An `Err` aborts the dial with that error; `Ok` goes on, so a
    /// 200 opens the tunnel and any other status fails with
    /// [`ErrorKind::ProxyConnect`](crate::ErrorKind::ProxyConnect). It runs on the dial
    /// thread, within the request's deadline. `None` means no hook. Default is `None`.
    pub on_proxy_connect_response: Option<Arc<ProxyConnectResponseFn>>,
    /// Which protocols the transport speaks (Go's `Transport.Protocols`, feature `http2`):
    /// HTTP/1.1, HTTP/2 over TLS (chosen by ALPN), and unencrypted HTTP/2 with prior knowledge
    /// for `http://` URLs. Default is [`Protocols::default`]: HTTP/1.1 and HTTP/2 over TLS,
    /// no unencrypted HTTP/2, as Go.
    #[cfg(feature = "http2")]
    pub protocols: Protocols,
    /// The HTTP/2 client's settings (Go's `Transport.HTTP2`, feature `http2`). Default is
    /// [`Http2ClientConfig::default`](super::Http2ClientConfig::default).
    #[cfg(feature = "http2")]
    pub http2: super::Http2ClientConfig,
}

/// The protocols a [`Transport`] speaks, for [`TransportConfig::protocols`] (Go's
/// `http.Protocols`; feature `http2`).
///
/// A request to an `https://` URL offers ALPN `h2` and `http/1.1` when both `http1` and
/// `http2` are on, and goes over whichever the server picks; an `http://` URL goes over
/// HTTP/2 without TLS only with `unencrypted_http2` on and `http1` off (prior knowledge: the
/// client starts with the HTTP/2 preface, so the server must speak HTTP/2 there; Go's rule)
/// and no proxy.
#[cfg(feature = "http2")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols {
    /// HTTP/1.1 (and 1.0 servers). Default is true.
    pub http1: bool,
    /// HTTP/2 over TLS, when the server picks `h2` by ALPN. Default is true. Not used when
    /// [`ClientTls::config`] is set: that configuration's ALPN list is sent as it is, and
    /// HTTP/2 is spoken if the server picks `h2` from it.
    ///
    #[cfg_attr(
        feature = "tls",
        doc = "[`ClientTls::config`]: crate::tls::ClientTls::config"
    )]
    #[cfg_attr(not(feature = "tls"), doc = "[`ClientTls::config`]: crate#features")]
    pub http2: bool,
    /// HTTP/2 without TLS, with prior knowledge, for `http://` URLs not sent through a proxy
    /// (Go's `UnencryptedHTTP2`); used only with `http1` off, as in Go, since a server cannot
    /// be asked which it speaks. Default is false.
    pub unencrypted_http2: bool,
}

#[cfg(feature = "http2")]
impl Default for Protocols {
    fn default() -> Protocols {
        Protocols {
            http1: true,
            http2: true,
            unencrypted_http2: false,
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            dialer: Arc::new(TcpDialer::default()),
            max_idle_conns: 100,
            max_idle_conns_per_host: 32,
            max_conns_per_host: 0,
            idle_conn_timeout: Some(Duration::from_secs(90)),
            response_header_timeout: None,
            expect_continue_timeout: Duration::from_secs(1),
            max_response_header_bytes: Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES,
            disable_keep_alives: false,
            read_buffer_size: DEFAULT_READ_BUFFER,
            write_buffer_size: DEFAULT_WRITE_BUFFER,
            user_agent: HeaderValue::from_str(concat!("nethttp/", env!("CARGO_PKG_VERSION"))).ok(),
            #[cfg(feature = "tls")]
            tls: crate::tls::ClientTls::default(),
            proxy: Proxy::from_env(),
            proxy_connect_header: HeaderMap::new(),
            get_proxy_connect_header: None,
            on_proxy_connect_response: None,
            #[cfg(feature = "http2")]
            protocols: Protocols::default(),
            #[cfg(feature = "http2")]
            http2: super::Http2ClientConfig::default(),
        }
    }
}

impl TransportConfig {
    /// How these settings have `encode_request` write a request head whose target is in
    /// `form`: the one place a transport chooses them.
    fn encode_options<'a>(&'a self, form: TargetForm<'a>, req: &Request) -> EncodeOptions<'a> {
        EncodeOptions {
            form,
            user_agent: self.user_agent.as_ref(),
            close: self.disable_keep_alives,
            accept_encoding: super::accept_encoding(req),
        }
    }

    /// The settings as the transport applies them: the documented substitutions for zero
    /// buffer sizes and the floor of `max_response_header_bytes` made.
    fn in_effect(mut self) -> TransportConfig {
        self.max_response_header_bytes = self.max_response_header_bytes.max(64);
        if self.read_buffer_size == 0 {
            self.read_buffer_size = DEFAULT_READ_BUFFER;
        }
        if self.write_buffer_size == 0 {
            self.write_buffer_size = DEFAULT_WRITE_BUFFER;
        }
        self
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TransportConfig");
        d.field("dialer", &self.dialer)
            .field("max_idle_conns", &self.max_idle_conns)
            .field("max_idle_conns_per_host", &self.max_idle_conns_per_host)
            .field("max_conns_per_host", &self.max_conns_per_host)
            .field("idle_conn_timeout", &self.idle_conn_timeout)
            .field("response_header_timeout", &self.response_header_timeout)
            .field("expect_continue_timeout", &self.expect_continue_timeout)
            .field("max_response_header_bytes", &self.max_response_header_bytes)
            .field("disable_keep_alives", &self.disable_keep_alives)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("user_agent", &self.user_agent);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        #[cfg(feature = "http2")]
        d.field("protocols", &self.protocols)
            .field("http2", &self.http2);
        d.field("proxy", &self.proxy)
            .field("proxy_connect_header", &self.proxy_connect_header)
            .field(
                "get_proxy_connect_header",
                &self.get_proxy_connect_header.is_some(),
            )
            .field(
                "on_proxy_connect_response",
                &self.on_proxy_connect_response.is_some(),
            )
            .finish()
    }
}

pub(crate) struct TransportInner {
    pub(crate) cfg: TransportConfig,
    /// Idle connections, waiters and per-host counts; see `ConnPool`.
    pool: Mutex<ConnPool>,
    next_id: AtomicU64,
    /// Reader and writer threads alive, for leak checks.
    pub(crate) threads: Arc<AtomicUsize>,
    /// The rustls configuration built from `cfg.tls` at the first `https` dial (or the error
    /// building it gave), so the root store is loaded once per transport.
    #[cfg(feature = "tls")]
    tls_config: std::sync::OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>>,
    /// As `tls_config`, with ALPN offering `h2` (for HTTP/2 dials).
    #[cfg(all(feature = "tls", feature = "http2"))]
    tls_config_h2: std::sync::OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>>,
    /// HTTP/2 connections and their dials (h2/pool.rs). Never held with `pool`.
    #[cfg(feature = "http2")]
    pub(crate) h2: Mutex<super::h2::pool::H2Pool>,
}

/// The pool state, all under `TransportInner::pool`.
///
/// Go keeps four maps by connection key (`idleConn`, `idleConnWait`, `connsPerHost`,
/// `connsPerHostWait`); here they are the fields of one [`HostPool`] per key, so one lookup
/// finds all four, and the map's code is compiled for one value type instead of four.
#[derive(Default)]
struct ConnPool {
    /// Per connection key; an entry goes when it holds nothing (`HostPool::is_unused`).
    /// Hashed with FNV-1a (`crate::fnv`): a key is hashed twice per round trip.
    hosts: FnvMap<ConnKey, HostPool>,
    /// Every idle connection with the sequence number it was put back with, oldest first
    /// (sequence numbers only grow, so this is sorted): the global LRU, Go's `idleLRU`.
    lru: VecDeque<(u64, Arc<PersistConn>)>,
    seq: u64,
}

/// One connection key's share of the pool.
#[derive(Default)]
struct HostPool {
    /// Idle connections, least recently used first (Go's `idleConn`).
    idle: Vec<IdleConn>,
    /// Callers waiting for a connection to be put back (Go's `idleConnWait`).
    idle_wait: VecDeque<Arc<WantConn>>,
    /// Connections: dialing, active and idle (Go's `connsPerHost`).
    conns: usize,
    /// Callers waiting for a dial slot under `max_conns_per_host` (Go's `connsPerHostWait`).
    conns_wait: VecDeque<Arc<WantConn>>,
}

impl HostPool {
    fn is_unused(&self) -> bool {
        self.conns == 0
            && self.idle.is_empty()
            && self.idle_wait.is_empty()
            && self.conns_wait.is_empty()
    }
}

impl ConnPool {
    /// Takes every idle connection out of the pool (to be closed by the caller, outside the
    /// lock).
    fn drain_idle(&mut self) -> Vec<Arc<PersistConn>> {
        self.lru.clear();
        let mut victims = Vec::new();
        for h in self.hosts.values_mut() {
            victims.extend(h.idle.drain(..).map(|ic| ic.pc));
        }
        self.hosts.retain(|_, h| !h.is_unused());
        victims
    }

    /// Takes the connection put back with `seq` out of the LRU: a binary search, then a
    /// `VecDeque::remove` that moves the shorter side (at most half the idle connections,
    /// 16 bytes each: under a microsecond at the reverse proxy's 1,024). The common take, a
    /// host's most recent connection, sits near the back.
    fn lru_remove(&mut self, seq: u64) {
        if let Ok(i) = self.lru.binary_search_by_key(&seq, |e| e.0) {
            self.lru.remove(i);
        }
    }
}

struct IdleConn {
    pc: Arc<PersistConn>,
    since: Instant,
    seq: u64,
    /// The thread whose round trip last used the connection (see `get_conn`).
    last_caller: Option<ThreadId>,
}

/// A caller waiting for a connection (Go's `wantConn`). Delivered to exactly once: by a dial,
/// by a connection put back, or by the caller giving up.
pub(crate) struct WantConn {
    key: ConnKey,
    /// The caller's deadline, cancel token and trace hooks: a dial made for this caller (at
    /// once, or later when a slot frees up) runs under them.
    opts: RequestOptions,
    /// The outcome; `done` becomes true at the single delivery.
    slot: Mutex<WantSlot>,
    /// The caller's thread, parked in `wait_for_conn`; a delivery wakes it.
    waiter: std::thread::Thread,
    /// The dial for this want has connected and is in the origin's TLS handshake: a deadline
    /// that passes now is the handshake's, not the connect's.
    handshaking: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct WantSlot {
    done: bool,
    result: Option<Result<(Arc<PersistConn>, GotConnInfo)>>,
}

impl WantConn {
    /// A want of the current thread's.
    fn new(key: ConnKey, opts: &RequestOptions) -> WantConn {
        WantConn {
            key,
            opts: opts.clone(),
            slot: Mutex::new(WantSlot::default()),
            waiter: std::thread::current(),
            handshaking: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Delivers `r` if nothing was delivered yet, and wakes the caller; false if the want is
    /// already settled.
    fn try_deliver(&self, r: Result<(Arc<PersistConn>, GotConnInfo)>) -> bool {
        {
            let mut s = self.slot.lock();
            if s.done {
                return false;
            }
            s.done = true;
            s.result = Some(r);
        }
        self.waiter.unpark();
        true
    }

    fn is_done(&self) -> bool {
        self.slot.lock().done
    }

    /// The caller gives up; returns a connection delivered meanwhile, to be put back.
    fn cancel(&self) -> Option<Arc<PersistConn>> {
        let mut s = self.slot.lock();
        s.done = true;
        match s.result.take() {
            Some(Ok((pc, _))) => Some(pc),
            _ => None,
        }
    }

    fn take(&self) -> Option<Result<(Arc<PersistConn>, GotConnInfo)>> {
        self.slot.lock().result.take()
    }
}

/// Pool counts, for monitoring and leak checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Idle connections in the pool.
    pub idle: usize,
    /// Connections per host summed: dialing, active and idle.
    pub open: usize,
    /// Reader and writer threads alive.
    pub threads: usize,
}

impl Transport {
    /// A transport with the default settings ([`TransportConfig::default`]), as Go's
    /// `DefaultTransport`.
    pub fn new() -> Transport {
        Transport::with_config(TransportConfig::default())
    }

    /// A transport with the settings `config`.
    pub fn with_config(config: TransportConfig) -> Transport {
        Transport {
            inner: Arc::new(TransportInner {
                cfg: config.in_effect(),
                pool: Mutex::new(ConnPool::default()),
                next_id: AtomicU64::new(1),
                threads: Arc::new(AtomicUsize::new(0)),
                #[cfg(feature = "tls")]
                tls_config: std::sync::OnceLock::new(),
                #[cfg(all(feature = "tls", feature = "http2"))]
                tls_config_h2: std::sync::OnceLock::new(),
                #[cfg(feature = "http2")]
                h2: Mutex::new(Default::default()),
            }),
        }
    }

    /// The settings in effect: those given to [`with_config`](Self::with_config), with the
    /// substitutions their documentation names made (a zero buffer size replaced by its
    /// default, `max_response_header_bytes` raised to at least 64).
    pub fn config(&self) -> &TransportConfig {
        &self.inner.cfg
    }

    /// Writes the head of `req` to `dst` as this transport sends it to an origin server (no
    /// proxy between), framing a body of `body_len` bytes (`None`: chunked); fails as a round
    /// trip does for a URL it cannot send. `httputil::dump_request_out` shows a request so.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn encode_origin_head(
        &self,
        req: &Request,
        body_len: Option<u64>,
        dst: &mut Vec<u8>,
    ) -> Result<client::Encoded> {
        target_of(&req.uri)?;
        client::encode_request(
            dst,
            &req.method,
            &req.uri,
            &req.headers,
            body_len,
            &self.inner.cfg.encode_options(TargetForm::Origin, req),
        )
    }

    /// Closes every idle connection now (their threads then exit). Connections in use are not
    /// touched.
    pub fn close_idle_connections(&self) {
        let victims = self.inner.pool.lock().drain_idle();
        for pc in victims {
            pc.close(Error::timeout(TimeoutPhase::Idle));
        }
        #[cfg(feature = "http2")]
        {
            let idle: Vec<_> = {
                let h2 = self.inner.h2.lock();
                h2.all()
                    .filter(|c| c.active_streams() == 0)
                    .cloned()
                    .collect()
            };
            for c in idle {
                c.close_idle();
            }
        }
    }

    /// Pool counts. An HTTP/2 connection counts as open, and as idle while it carries no
    /// stream.
    pub fn stats(&self) -> PoolStats {
        let (mut idle, mut open) = {
            let pool = self.inner.pool.lock();
            (pool.lru.len(), pool.hosts.values().map(|h| h.conns).sum())
        };
        #[cfg(feature = "http2")]
        {
            let h2 = self.inner.h2.lock();
            for c in h2.all() {
                open += 1;
                if c.active_streams() == 0 {
                    idle += 1;
                }
            }
        }
        #[cfg(not(feature = "http2"))]
        let _ = (&mut idle, &mut open);
        PoolStats {
            idle,
            open,
            threads: self.inner.threads.load(Ordering::SeqCst),
        }
    }

    /// How many connection keys the pool holds an entry for: a key's entry must go once it
    /// holds nothing, so the pool tests' leak check wants none after the last close.
    #[cfg(test)]
    pub(crate) fn pool_hosts(&self) -> usize {
        self.inner.pool.lock().hosts.len()
    }

    /// Callers queued for a dial slot under `max_conns_per_host`, over all hosts: lets the
    /// pool tests see that a caller waits before they free the slot.
    #[cfg(test)]
    pub(crate) fn slot_waiters(&self) -> usize {
        let pool = self.inner.pool.lock();
        pool.hosts.values().map(|h| h.conns_wait.len()).sum()
    }
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.inner.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for TransportInner {
    /// The last handle is gone: close idle connections so their threads exit. Never blocks.
    fn drop(&mut self) {
        let victims = self.pool.lock().drain_idle();
        for pc in victims {
            pc.close(Error::timeout(TimeoutPhase::Idle));
        }
        // HTTP/2 connections with streams in flight close themselves once idle (their
        // reader sees the transport gone).
        #[cfg(feature = "http2")]
        {
            let conns = self.h2.lock().drain();
            for c in conns {
                if c.active_streams() == 0 {
                    c.close_idle();
                }
            }
        }
    }
}

impl RoundTripper for Transport {
    /// Errors name the request: `GET http://host/path: cannot connect to host:80: ...`.
    fn round_trip(&self, mut req: Request) -> Result<Response> {
        // The request stays here until the exchange ends, so its own method and URL name an
        // error without a copy of either.
        self.inner
            .round_trip(&mut req)
            .map_err(|e| e.with_request(Some(&req.method), &req.uri))
    }
}

fn target_of(uri: &Uri) -> Result<Target> {
    // The URL as an error may show it: never with its password (`Error::url` redacts too).
    let shown = || crate::proto::uri::redact(&uri.to_string()).into_owned();
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| Error::invalid_input(format!("url has no scheme: {}", shown())))?
        .to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        #[cfg(feature = "tls")]
        "https" => 443,
        #[cfg(not(feature = "tls"))]
        "https" => {
            return Err(Error::invalid_input(
                "https urls need the `tls` feature, which this build does not have",
            ))
        }
        other => {
            return Err(Error::invalid_input(format!(
                "unsupported url scheme {other:?}"
            )))
        }
    };
    let host = uri
        .authority()
        .map(|a| crate::proto::uri::host_of(a.as_str()))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::invalid_input(format!("url has no host: {}", shown())))?;
    // A port that is written must be one (Go: "invalid port"); an empty one is the default.
    let port = match crate::proto::uri::explicit_port(uri) {
        Some(p) => p,
        None => {
            let after_host = uri.authority().map_or("", |a| {
                let hp = crate::proto::uri::after_userinfo(a.as_str());
                &hp[crate::proto::uri::host_in(hp).len()..]
            });
            match after_host.strip_prefix(':') {
                Some(p) if !p.is_empty() => {
                    return Err(Error::invalid_input(format!(
                        "invalid port {p:?} in url {}",
                        shown()
                    )))
                }
                _ => default_port,
            }
        }
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Target {
        scheme,
        host: host.to_string(),
        port,
    })
}

/// True for requests that may be sent twice (RFC 9110 §9.2.2), or that say so with an
/// idempotency key.
fn is_idempotent(req: &Request) -> bool {
    matches!(
        req.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || req.headers.contains_key("idempotency-key")
        || req.headers.contains_key("x-idempotency-key")
}

impl TransportInner {
    fn round_trip(self: &Arc<Self>, req: &mut Request) -> Result<Response> {
        let key = self.conn_key(req)?;
        let opts = req
            .extensions
            .get::<RequestOptions>()
            .cloned()
            .unwrap_or_default();
        // A connection an HTTP/2 dial made and handed to the HTTP/1 pool (the server chose
        // HTTP/1.1) is this request's own dial, not a reused one.
        #[cfg(feature = "http2")]
        let mut dialed = match super::h2::pool::round_trip(self, req, &key, &opts)? {
            super::h2::pool::Route::Done(resp) => return Ok(*resp),
            super::h2::pool::Route::Http1 { dialed } => dialed,
        };
        #[cfg(not(feature = "http2"))]
        let mut dialed = false;
        let idempotent = is_idempotent(req);
        let mut retries = 0u32;
        loop {
            let prepared = self.prepare(req, &opts, &key)?;
            let (pc, mut info) = self.get_conn(&key, &opts)?;
            if std::mem::take(&mut dialed) {
                info = GotConnInfo {
                    reused: false,
                    was_idle: false,
                    idle_time: Duration::ZERO,
                };
            }
            // The hook is user code on this thread, run while the connection belongs to no
            // one (out of the pool, not yet begun): if it panics, close the connection, or
            // it and its per-host slot would never be given back.
            if let Err(p) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| opts.trace.got_conn(info)))
            {
                pc.close(Error::new(ErrorKind::Canceled));
                std::panic::resume_unwind(p);
            }
            let req_id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let reused = pc.begin(req_id);
            // Keep a copy of a replayable body (a cheap handle: bytes are shared, a replayable
            // body is reopened only when read) for a retry on a reused connection: any method
            // may be sent again if none of it was written (Go's `nothingWrittenError` with
            // `GetBody`), an idempotent one also after it was.
            let spare = if reused {
                prepared.body.try_clone()
            } else {
                None
            };
            match persist::round_trip(&pc, self, prepared, req_id) {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    // Go's shouldRetryRequest: a reused connection that failed before any
                    // response byte, where either nothing reached the server or the request
                    // may be sent twice, and its body can be produced again. As in Go there
                    // is no count: each retry closed one reused connection, and once the idle
                    // ones are used up the next attempt dials.
                    let retry = reused
                        && e.before_response
                        && !e.body_err
                        && !matches!(e.err.kind(), ErrorKind::Canceled | ErrorKind::Timeout(_))
                        && (e.nothing_written || idempotent);
                    if !retry {
                        return Err(e.err);
                    }
                    let body = match (e.nothing_written, e.body) {
                        (true, Some(b)) => Some(b),
                        _ => spare,
                    };
                    match body {
                        Some(b) => {
                            req.replace_body(b);
                        }
                        None => return Err(e.err),
                    }
                    retries += 1;
                    log::debug!(
                        "retrying {} {} (retry {retries}): {}",
                        req.method,
                        req.uri,
                        e.err
                    );
                }
            }
        }
    }

    /// The pool key for `req`: its origin and the proxy it goes through.
    fn conn_key(&self, req: &Request) -> Result<ConnKey> {
        let target = target_of(&req.uri)?;
        let proxy = self.cfg.proxy.select(req)?;
        Ok(ConnKey::new(target, proxy.as_deref()))
    }

    /// Serialises the head and decides the body framing.
    fn prepare(&self, req: &mut Request, opts: &RequestOptions, key: &ConnKey) -> Result<Prepared> {
        let form = if key.forwards() {
            TargetForm::Absolute {
                proxy_auth: key.forward_auth(),
            }
        } else {
            TargetForm::Origin
        };
        let mut head = Vec::with_capacity(256);
        let body_len = req.body().len_hint();
        let enc = client::encode_request(
            &mut head,
            &req.method,
            &req.uri,
            &req.headers,
            body_len,
            &self.cfg.encode_options(form, req),
        )?;
        Ok(Prepared {
            method: req.method.clone(),
            url: req.uri.clone(),
            head,
            body: req.replace_body(Body::empty()),
            body_len: enc.body_len,
            expect_continue: enc.expect_continue,
            close_after: enc.close_after,
            deadline: opts.deadline,
            cancel: opts.cancel.clone(),
            trace: opts.trace.clone(),
        })
    }

    /// Gets a connection for `key`: an idle one, one put back while we wait, or a new one.
    fn get_conn(
        self: &Arc<Self>,
        key: &ConnKey,
        opts: &RequestOptions,
    ) -> Result<(Arc<PersistConn>, GotConnInfo)> {
        opts.trace.get_conn_with(|| key.to_string());
        if let Some(c) = &opts.cancel {
            if c.is_canceled() {
                return Err(Error::new(ErrorKind::Canceled));
            }
        }
        let me = std::thread::current().id();
        let mut stale = Vec::new();
        let mut got = None;
        let mut dial = false;
        // An idle connection taken, and how long it was idle (read once, for the expiry and
        // for `GotConnInfo`).
        let taken: std::result::Result<(IdleConn, Duration), Arc<WantConn>>;
        {
            let mut guard = self.pool.lock();
            let pool = &mut *guard;
            if !self.cfg.disable_keep_alives {
                if let Some(h) = pool.hosts.get_mut(key) {
                    while let Some(ic) = take_idle(&mut h.idle, me) {
                        let idle = ic.since.elapsed();
                        let expired = self.cfg.idle_conn_timeout.is_some_and(|t| idle > t);
                        if ic.pc.is_closed() || expired {
                            stale.push(ic);
                            continue;
                        }
                        got = Some((ic, idle));
                        break;
                    }
                }
                for ic in stale.iter().chain(got.as_ref().map(|(ic, _)| ic)) {
                    pool.lru_remove(ic.seq);
                }
            }
            // Only a caller that must wait needs a want: the common case, an idle connection
            // at hand, allocates nothing here.
            taken = match got {
                Some(taken_idle) => Ok(taken_idle),
                None => {
                    let want = Arc::new(WantConn::new(key.clone(), opts));
                    let h = match pool.hosts.get_mut(key) {
                        Some(h) => h,
                        None => pool.hosts.entry(key.clone()).or_default(),
                    };
                    if !self.cfg.disable_keep_alives {
                        h.idle_wait.push_back(Arc::clone(&want));
                    }
                    let max = self.cfg.max_conns_per_host;
                    if max == 0 || h.conns < max {
                        h.conns += 1;
                        dial = true;
                    } else {
                        h.conns_wait.push_back(Arc::clone(&want));
                    }
                    Err(want)
                }
            };
        }
        for ic in stale {
            ic.pc.close(Error::timeout(TimeoutPhase::Idle));
        }
        let want = match taken {
            Ok((ic, idle_time)) => {
                let info = GotConnInfo {
                    reused: true,
                    was_idle: true,
                    idle_time,
                };
                return Ok((ic.pc, info));
            }
            Err(want) => want,
        };
        if dial {
            self.spawn_dial(Arc::clone(&want));
        }
        self.wait_for_conn(&want, dial)
    }

    /// Waits for `want` to be delivered, parking (see `wake.rs`) until a delivery, a cancel or
    /// the caller's deadline wakes it.
    fn wait_for_conn(
        self: &Arc<Self>,
        want: &Arc<WantConn>,
        dialing: bool,
    ) -> Result<(Arc<PersistConn>, GotConnInfo)> {
        let opts = &want.opts;
        if let Some(c) = &opts.cancel {
            c.watch_wait();
        }
        let outcome = loop {
            if want.is_done() {
                break None;
            }
            if opts.cancel.as_ref().is_some_and(CancelToken::is_canceled) {
                break Some(Error::new(ErrorKind::Canceled));
            }
            if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                break Some(Error::timeout(
                    if dialing && want.handshaking.load(Ordering::SeqCst) {
                        TimeoutPhase::TlsHandshake
                    } else if dialing {
                        TimeoutPhase::Connect
                    } else {
                        TimeoutPhase::PoolWait
                    },
                ));
            }
            wake::park_until(opts.deadline);
        };
        if let Some(c) = &opts.cancel {
            c.unwatch_wait();
        }
        if let Some(err) = outcome {
            if let Some(pc) = want.cancel() {
                if !persist::put_idle(&pc, &opts.trace) {
                    pc.close(Error::new(ErrorKind::Canceled));
                }
            }
            self.forget_want(want);
            return Err(err);
        }
        self.forget_want(want);
        match want.take() {
            Some(r) => r,
            None => Err(Error::new(ErrorKind::Canceled)),
        }
    }

    /// Removes a settled want from the wait queues.
    fn forget_want(&self, want: &Arc<WantConn>) {
        let mut pool = self.pool.lock();
        if let Some(h) = pool.hosts.get_mut(&want.key) {
            h.idle_wait.retain(|w| !Arc::ptr_eq(w, want));
            h.conns_wait.retain(|w| !Arc::ptr_eq(w, want));
            if h.is_unused() {
                pool.hosts.remove(&want.key);
            }
        }
    }

    /// Dials for `want` on a new thread (the caller may meanwhile take a connection that frees
    /// up first). A slot in `HostPool::conns` is already counted for this dial.
    fn spawn_dial(self: &Arc<Self>, want: Arc<WantConn>) {
        let t = Arc::clone(self);
        let deadline = want.opts.deadline;
        let trace = want.opts.trace.clone();
        let key = want.key.clone();
        let want2 = Arc::clone(&want);
        let spawned = persist::spawn_thread(
            "nethttp-dial",
            Box::new(move || {
                // User code runs in the dial (the `Dial`, trace hooks, the proxy hooks): if it
                // panics, the want still gets an answer and the slot comes back, as a
                // connection thread's `ThreadExit` closes its connection.
                let guard = DialGuard {
                    t: &t,
                    want: &want,
                    key: &key,
                };
                let dialed = t.dial(&key, deadline, &trace, &want.handshaking);
                std::mem::forget(guard);
                let stream = match dialed {
                    Ok(s) => s,
                    Err(e) => {
                        want.try_deliver(Err(e));
                        t.release_slot(&key);
                        return;
                    }
                };
                let id = t.next_id.fetch_add(1, Ordering::Relaxed);
                // A failed start has closed its connection, which released the slot.
                match PersistConn::start(&t, id, key.clone(), stream) {
                    Ok(pc) => {
                        let info = GotConnInfo {
                            reused: false,
                            was_idle: false,
                            idle_time: Duration::ZERO,
                        };
                        if !want.try_deliver(Ok((Arc::clone(&pc), info)))
                            && !persist::put_idle(&pc, &trace)
                        {
                            // Nobody wants it and the pool is full: close it.
                            pc.close(Error::timeout(TimeoutPhase::Idle));
                        }
                    }
                    Err(e) => {
                        want.try_deliver(Err(e));
                    }
                }
            }),
        );
        if let Err(e) = spawned {
            self.release_slot(&want2.key);
            want2.try_deliver(Err(Error::thread_spawn("dial", e)));
        }
    }

    /// Opens a connection for `key` on the dial thread: the dial, through the proxy if there
    /// is one (proxy.rs), then TLS for an `https` origin.
    fn dial(
        &self,
        key: &ConnKey,
        deadline: Option<Instant>,
        trace: &super::ClientTrace,
        handshaking: &std::sync::atomic::AtomicBool,
    ) -> Result<Box<dyn crate::net::Stream>> {
        let tls = |s, host: &str| self.tls_client(s, host, deadline);
        let s = proxy::dial_conn(&self.cfg, key, deadline, trace, &tls)?;
        match key.target.scheme.as_str() {
            "https" => {
                handshaking.store(true, Ordering::SeqCst);
                self.tls_client(s, &key.target.host, deadline)
            }
            _ => Ok(s),
        }
    }

    /// Runs a TLS handshake with `host` over `s`, with the transport's settings: for an
    /// `https` origin, and for an `https://` proxy.
    fn tls_client(
        &self,
        s: Box<dyn crate::net::Stream>,
        host: &str,
        deadline: Option<Instant>,
    ) -> Result<Box<dyn crate::net::Stream>> {
        #[cfg(feature = "tls")]
        {
            let config = self
                .tls_config
                .get_or_init(|| self.cfg.tls.rustls_config().map_err(|e| e.to_string()))
                .clone()
                .map_err(|msg| Error::with_source(ErrorKind::Tls, msg))?;
            let tls = crate::tls::connect_with(
                s,
                host,
                config,
                self.cfg.tls.handshake_timeout,
                deadline,
            )?;
            Ok(Box::new(tls))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (s, host, deadline);
            Err(Error::invalid_input("https needs the `tls` feature"))
        }
    }

    /// A new identifier for a request or connection.
    #[cfg(feature = "http2")]
    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Opens a connection for `key` that may speak HTTP/2: for `https`, TLS offering ALPN
    /// `h2` (and `http/1.1` if HTTP/1 is on); for `http`, the bare connection (prior
    /// knowledge). The flag says whether HTTP/2 is to be spoken on it.
    #[cfg(feature = "http2")]
    pub(crate) fn dial_h2(
        &self,
        key: &ConnKey,
        alpn: bool,
        deadline: Option<Instant>,
        trace: &super::ClientTrace,
        handshaking: &std::sync::atomic::AtomicBool,
    ) -> Result<(Box<dyn crate::net::Stream>, bool)> {
        let tls = |s, host: &str| self.tls_client(s, host, deadline);
        let s = proxy::dial_conn(&self.cfg, key, deadline, trace, &tls)?;
        if !alpn {
            return Ok((s, true));
        }
        handshaking.store(true, Ordering::SeqCst);
        #[cfg(feature = "tls")]
        {
            let http1 = self.cfg.protocols.http1;
            let config = self
                .tls_config_h2
                .get_or_init(|| {
                    let c = self.cfg.tls.rustls_config().map_err(|e| e.to_string())?;
                    if self.cfg.tls.config.is_some() {
                        return Ok(c);
                    }
                    let mut c = (*c).clone();
                    c.alpn_protocols = vec![b"h2".to_vec()];
                    if http1 {
                        c.alpn_protocols.push(b"http/1.1".to_vec());
                    }
                    Ok(Arc::new(c))
                })
                .clone()
                .map_err(|msg| Error::with_source(ErrorKind::Tls, msg))?;
            let tls = crate::tls::connect_with(
                s,
                &key.target.host,
                config,
                self.cfg.tls.handshake_timeout,
                deadline,
            )?;
            let h2 = tls.alpn_protocol().as_deref() == Some(b"h2");
            Ok((Box::new(tls), h2))
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = s;
            Err(Error::invalid_input("https needs the `tls` feature"))
        }
    }

    /// Takes a connection an HTTP/2 dial got but whose server chose HTTP/1.1 into the
    /// HTTP/1 pool, counted against `max_conns_per_host` as if dialed there.
    #[cfg(feature = "http2")]
    pub(crate) fn adopt_http1(
        self: &Arc<Self>,
        key: &ConnKey,
        stream: Box<dyn crate::net::Stream>,
        trace: &super::ClientTrace,
    ) -> Result<()> {
        self.pool.lock().hosts.entry(key.clone()).or_default().conns += 1;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let pc = PersistConn::start(self, id, key.clone(), stream)?;
        if !persist::put_idle(&pc, trace) {
            pc.close(Error::timeout(TimeoutPhase::Idle));
        }
        Ok(())
    }

    /// Called when an HTTP/2 connection closes or is told to go away: new requests no
    /// longer find it.
    #[cfg(feature = "http2")]
    pub(crate) fn h2_conn_closed(&self, conn: &super::h2::H2Conn) {
        self.h2.lock().remove(conn);
    }

    /// A connection (or a dial) for `key` is gone: free its per-host slot, or give the slot to
    /// the first caller still waiting for one and dial for it.
    fn release_slot(self: &Arc<Self>, key: &ConnKey) {
        let next = {
            let mut pool = self.pool.lock();
            let mut next = None;
            if let Some(h) = pool.hosts.get_mut(key) {
                while let Some(w) = h.conns_wait.pop_front() {
                    if !w.is_done() {
                        next = Some(w);
                        break;
                    }
                }
                if next.is_none() {
                    h.conns = h.conns.saturating_sub(1);
                }
                if h.is_unused() {
                    pool.hosts.remove(key);
                }
            }
            next
        };
        if let Some(w) = next {
            // The slot passes to `w` unchanged in count; the dial runs under `w`'s own
            // deadline and trace hooks.
            self.spawn_dial(w);
        }
    }

    /// Called by `PersistConn::close`.
    pub(crate) fn conn_closed(self: &Arc<Self>, pc: &PersistConn) {
        {
            let mut pool = self.pool.lock();
            remove_idle_locked(&mut pool, pc);
        }
        self.release_slot(&pc.key);
    }

    /// Takes `pc` out of the idle pool if it is there; true if it was.
    pub(crate) fn remove_idle(&self, pc: &PersistConn) -> bool {
        let mut pool = self.pool.lock();
        remove_idle_locked(&mut pool, pc)
    }

    /// Returns a connection after a response ended cleanly (Go's `tryPutIdleConn`): to the
    /// first caller waiting for one, else to the idle pool. `Err` says why it cannot be kept.
    pub(crate) fn put_idle(&self, pc: &Arc<PersistConn>) -> std::result::Result<(), &'static str> {
        if self.cfg.disable_keep_alives {
            return Err("keep-alives disabled");
        }
        let mut evicted = None;
        let last_caller = pc.last_caller();
        {
            let mut guard = self.pool.lock();
            if pc.is_closed() {
                return Err("connection closed");
            }
            let pool = &mut *guard;
            // One lookup of the host's entry (kept while its connection is out), so a put
            // back hashes the key once and clones it only for a new host.
            let h = match pool.hosts.get_mut(&pc.key) {
                Some(h) => h,
                None => pool.hosts.entry(pc.key.clone()).or_default(),
            };
            while let Some(w) = h.idle_wait.pop_front() {
                let info = GotConnInfo {
                    reused: true,
                    was_idle: false,
                    idle_time: Duration::ZERO,
                };
                if w.try_deliver(Ok((Arc::clone(pc), info))) {
                    return Ok(());
                }
            }
            if h.idle.len() >= self.cfg.max_idle_conns_per_host {
                return Err("too many idle connections for host");
            }
            pool.seq += 1;
            let seq = pool.seq;
            h.idle.push(IdleConn {
                pc: Arc::clone(pc),
                since: Instant::now(),
                seq,
                last_caller,
            });
            pool.lru.push_back((seq, Arc::clone(pc)));
            if self.cfg.max_idle_conns > 0 && pool.lru.len() > self.cfg.max_idle_conns {
                // Evict the least recently used connection across all hosts.
                if let Some((_, old)) = pool.lru.pop_front() {
                    remove_from_list(pool, &old);
                    evicted = Some(old);
                }
            }
        }
        if let Some(old) = evicted {
            old.close(Error::timeout(TimeoutPhase::Idle));
        }
        Ok(())
    }
}

/// Armed while a dial thread runs user code: dropped by an unwind, it fails the want and
/// gives the dial's per-host slot back (a dial that returns forgets it).
struct DialGuard<'a> {
    t: &'a Arc<TransportInner>,
    want: &'a Arc<WantConn>,
    key: &'a ConnKey,
}

impl Drop for DialGuard<'_> {
    fn drop(&mut self) {
        self.want.try_deliver(Err(Error::with_source(
            ErrorKind::Io,
            "the dial panicked (a dialer, trace hook or proxy hook)",
        )));
        self.t.release_slot(self.key);
    }
}

fn remove_idle_locked(pool: &mut ConnPool, pc: &PersistConn) -> bool {
    match remove_from_list(pool, pc) {
        Some(ic) => {
            pool.lru_remove(ic.seq);
            true
        }
        None => false,
    }
}

/// Takes `pc` out of its host's idle list (not out of the LRU), dropping the host's entry if
/// it then holds nothing.
fn remove_from_list(pool: &mut ConnPool, pc: &PersistConn) -> Option<IdleConn> {
    let h = pool.hosts.get_mut(&pc.key)?;
    let i = h.idle.iter().position(|ic| ic.pc.id == pc.id)?;
    let ic = h.idle.remove(i);
    if h.is_unused() {
        pool.hosts.remove(&pc.key);
    }
    Some(ic)
}

/// Takes the idle connection for the calling thread `me` from its host's list: the one `me`
/// used last, if it is there, else the most recently used (the least likely to have been
/// closed by the server, as in Go).
///
/// Preferring the caller's own connection is for the scheduler, not for HTTP: a thread that
/// keeps its connection keeps waking the same reader and writer threads, which the kernel
/// then runs beside it, where waking a new partner each time makes it move threads between
/// CPUs. With 8 threads sharing one transport this took the pool from 0.06-0.08 thread
/// migrations per request to under 0.005, and CPU per request from 35-42 µs to 26 µs
/// (docs/PERFORMANCE.md, "The pooled client at 8 threads").
fn take_idle(list: &mut Vec<IdleConn>, me: ThreadId) -> Option<IdleConn> {
    match list.iter().rposition(|ic| ic.last_caller == Some(me)) {
        Some(i) => Some(list.remove(i)),
        None => list.pop(),
    }
}
