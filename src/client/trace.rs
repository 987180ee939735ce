//! Request tracing hooks (Go's `httptrace.ClientTrace`) and cancellation.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::{HeaderMap, StatusCode};

/// What [`ClientTrace::on_got_conn`] learns about the connection a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GotConnInfo {
    /// The connection carried an earlier request.
    pub reused: bool,
    /// The connection came from the idle pool.
    pub was_idle: bool,
    /// How long it had been idle, if it was.
    pub idle_time: Duration,
}

type Hook<T> = Option<Arc<dyn Fn(T) + Send + Sync>>;
type StrHook = Option<Arc<dyn Fn(&str) + Send + Sync>>;
type PutIdleHook = Option<Arc<dyn Fn(Option<&str>) + Send + Sync>>;
type InfoHook = Option<Arc<dyn Fn(StatusCode, &HeaderMap) + Send + Sync>>;
type FieldHook = Option<Arc<dyn Fn(&str, &[u8]) + Send + Sync>>;

/// Hooks called as a request goes through the transport, as Go's `httptrace`. Hooks run on
/// whichever thread reaches that point (the caller's, a dial thread, the connection's reader or
/// writer thread), so they must be quick and must not block.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let reused = Arc::new(AtomicBool::new(false));
/// let r = Arc::clone(&reused);
/// let trace = nethttp::client::ClientTrace::new()
///     .on_got_conn(move |info| r.store(info.reused, Ordering::SeqCst));
/// # let _ = trace;
/// ```
#[derive(Clone, Default)]
pub struct ClientTrace {
    /// `None` for no hooks (most requests). The hooks sit behind one `Arc` because a trace
    /// travels with its request through every layer (the pool, the connection's reader and
    /// writer, the response body): an untraced request then moves and clones one pointer
    /// instead of thirteen.
    hooks: Option<Arc<Hooks>>,
}

/// The hooks of a [`ClientTrace`].
#[derive(Clone, Default)]
struct Hooks {
    get_conn: StrHook,
    got_conn: Hook<GotConnInfo>,
    put_idle_conn: PutIdleHook,
    dns_start: StrHook,
    dns_done: Hook<usize>,
    connect_start: Hook<SocketAddr>,
    connect_done: Hook<(SocketAddr, bool)>,
    wrote_header_field: FieldHook,
    wrote_headers: Hook<()>,
    wrote_request: Hook<bool>,
    got_first_response_byte: Hook<()>,
    got_1xx_response: InfoHook,
    got_100_continue: Hook<()>,
}

/// The hooks of a trace that has none.
static NO_HOOKS: Hooks = Hooks {
    get_conn: None,
    got_conn: None,
    put_idle_conn: None,
    dns_start: None,
    dns_done: None,
    connect_start: None,
    connect_done: None,
    wrote_header_field: None,
    wrote_headers: None,
    wrote_request: None,
    got_first_response_byte: None,
    got_1xx_response: None,
    got_100_continue: None,
};

impl fmt::Debug for ClientTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTrace").finish_non_exhaustive()
    }
}

macro_rules! hook_setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $arg:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, f: impl Fn($arg) + Send + Sync + 'static) -> Self {
            self.hooks_mut().$field = Some(Arc::new(f));
            self
        }
    };
}

impl ClientTrace {
    /// No hooks.
    pub fn new() -> ClientTrace {
        ClientTrace::default()
    }

    /// The hooks, to set one (copied first if another trace shares them).
    fn hooks_mut(&mut self) -> &mut Hooks {
        Arc::make_mut(self.hooks.get_or_insert_with(Default::default))
    }

    /// The hooks, to call one.
    fn h(&self) -> &Hooks {
        self.hooks.as_deref().unwrap_or(&NO_HOOKS)
    }

    hook_setter!(
        /// Before looking for a connection; gets `"host:port"`.
        on_get_conn, get_conn, &str
    );
    hook_setter!(
        /// A connection was obtained.
        on_got_conn, got_conn, GotConnInfo
    );
    hook_setter!(
        /// The connection went back to the idle pool (`None`), or could not (`Some(reason)`).
        on_put_idle_conn, put_idle_conn, Option<&str>
    );
    hook_setter!(
        /// Name resolution starts; gets the host.
        on_dns_start, dns_start, &str
    );
    hook_setter!(
        /// Name resolution ended; gets the number of addresses (0 on failure).
        on_dns_done, dns_done, usize
    );
    hook_setter!(
        /// A TCP connect starts.
        on_connect_start, connect_start, SocketAddr
    );
    hook_setter!(
        /// A TCP connect ended; gets the address and whether it succeeded.
        on_connect_done, connect_done, (SocketAddr, bool)
    );
    hook_setter!(
        /// The request head was written.
        on_wrote_headers, wrote_headers, ()
    );
    hook_setter!(
        /// The whole request was written (`true`) or writing failed (`false`).
        on_wrote_request, wrote_request, bool
    );
    hook_setter!(
        /// The first byte of the response arrived.
        on_got_first_response_byte, got_first_response_byte, ()
    );
    hook_setter!(
        /// A `100 Continue` arrived.
        on_got_100_continue, got_100_continue, ()
    );

    /// Each field line of the request head as the transport serialised it, in wire order, just
    /// before the head is written: the name as sent and the value's bytes. It covers the
    /// fields the transport adds (`Host`, `User-Agent`, `Content-Length` or
    /// `Transfer-Encoding`, `Connection`) as well as the request's own. Go's
    /// `WroteHeaderField`, called once per field line rather than once per name.
    pub fn on_wrote_header_field(
        mut self,
        f: impl Fn(&str, &[u8]) + Send + Sync + 'static,
    ) -> Self {
        self.hooks_mut().wrote_header_field = Some(Arc::new(f));
        self
    }

    /// An informational (1xx) response other than 100 and 101 arrived and was skipped.
    pub fn on_got_1xx_response(
        mut self,
        f: impl Fn(StatusCode, &HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.hooks_mut().got_1xx_response = Some(Arc::new(f));
        self
    }

    /// Builds the hook's argument only when a hook is set: the pool calls this per request,
    /// and most requests are not traced.
    pub(crate) fn get_conn_with(&self, host_port: impl FnOnce() -> String) {
        if let Some(f) = &self.h().get_conn {
            f(&host_port());
        }
    }
    pub(crate) fn got_conn(&self, info: GotConnInfo) {
        if let Some(f) = &self.h().got_conn {
            f(info);
        }
    }
    /// [`got_conn`](Self::got_conn) with the information made only if a hook will see it.
    #[cfg(feature = "http2")]
    pub(crate) fn got_conn_with(&self, info: impl FnOnce() -> GotConnInfo) {
        if let Some(f) = &self.h().got_conn {
            f(info());
        }
    }
    pub(crate) fn put_idle_conn(&self, err: Option<&str>) {
        if let Some(f) = &self.h().put_idle_conn {
            f(err);
        }
    }
    pub(crate) fn dns_start(&self, host: &str) {
        if let Some(f) = &self.h().dns_start {
            f(host);
        }
    }
    pub(crate) fn dns_done(&self, r: Result<&[SocketAddr], &io::Error>) {
        if let Some(f) = &self.h().dns_done {
            f(r.map(|a| a.len()).unwrap_or(0));
        }
    }
    pub(crate) fn connect_start(&self, a: SocketAddr) {
        if let Some(f) = &self.h().connect_start {
            f(a);
        }
    }
    pub(crate) fn connect_done(&self, a: SocketAddr, err: Option<&io::Error>) {
        if let Some(f) = &self.h().connect_done {
            f((a, err.is_none()));
        }
    }
    /// Calls the field hook for every field line of `head`, a request head serialised by
    /// `proto::write`: a request line, `Name: value` lines, an empty line.
    pub(crate) fn wrote_header_fields(&self, head: &[u8]) {
        let Some(f) = &self.h().wrote_header_field else {
            return;
        };
        for line in crate::proto::split_bytes(head, b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            // A field name is a token: it holds no ':', so the first ": " ends it.
            if let Some(i) = line.windows(2).position(|w| w == b": ") {
                if let Ok(name) = std::str::from_utf8(&line[..i]) {
                    f(name, &line[i + 2..]);
                }
            }
        }
    }
    pub(crate) fn wrote_headers(&self) {
        if let Some(f) = &self.h().wrote_headers {
            f(());
        }
    }
    pub(crate) fn wrote_request(&self, ok: bool) {
        if let Some(f) = &self.h().wrote_request {
            f(ok);
        }
    }
    pub(crate) fn got_first_response_byte(&self) {
        if let Some(f) = &self.h().got_first_response_byte {
            f(());
        }
    }
    /// True if a `wrote_header_field` hook is set (an HTTP/2 request then lists its fields).
    #[cfg(feature = "http2")]
    pub(crate) fn wants_header_fields(&self) -> bool {
        self.h().wrote_header_field.is_some()
    }
    /// One field of an HTTP/2 request's header block, pseudo-headers included (as Go's).
    #[cfg(feature = "http2")]
    pub(crate) fn wrote_header_field(&self, name: &[u8], value: &[u8]) {
        if let Some(f) = &self.h().wrote_header_field {
            f(&String::from_utf8_lossy(name), value);
        }
    }
    /// True if a `got_1xx_response` hook is set.
    #[cfg(feature = "http2")]
    pub(crate) fn wants_1xx(&self) -> bool {
        self.h().got_1xx_response.is_some()
    }
    pub(crate) fn got_1xx_response(&self, status: StatusCode, headers: &HeaderMap) {
        if let Some(f) = &self.h().got_1xx_response {
            f(status, headers);
        }
    }
    pub(crate) fn got_100_continue(&self) {
        if let Some(f) = &self.h().got_100_continue {
            f(());
        }
    }
}

/// A handle that cancels a request from another thread: the request fails with
/// [`ErrorKind::Canceled`](crate::ErrorKind::Canceled) promptly, whether it is waiting for a
/// connection, writing, waiting for the response or reading the body, and its connection is
/// closed. Clones cancel the same requests.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

struct CancelInner {
    canceled: AtomicBool,
    /// What a cancel must stop: each request in flight under this token, with what carries
    /// it (a pooled connection, a `ClientConn`) and the thread waiting for it, and each thread
    /// waiting for a connection. A carrier is stopped only if it still carries that request
    /// (it may have gone back to the pool and on to another request since, as Go's
    /// `replaceReqCanceler` ensures); every thread is woken (it parks, see `wake.rs`).
    watches: Mutex<Vec<Watch>>,
}

struct Watch {
    target: Option<(Weak<dyn Cancelable>, u64)>,
    waiter: std::thread::Thread,
}

/// Something that carries requests and can be stopped for one of them.
pub(crate) trait Cancelable: Send + Sync {
    /// Stops request `req_id` (closing what carries it) if it is still being carried. Never
    /// blocks.
    fn cancel(&self, req_id: u64);
    /// True while request `req_id` is being carried.
    fn carries(&self, req_id: u64) -> bool;
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl CancelToken {
    /// A token not yet canceled.
    pub fn new() -> CancelToken {
        CancelToken {
            inner: Arc::new(CancelInner {
                canceled: AtomicBool::new(false),
                watches: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Cancels every request using this token. Never blocks; safe from any thread.
    pub fn cancel(&self) {
        if self.inner.canceled.swap(true, Ordering::SeqCst) {
            return;
        }
        let watches = std::mem::take(&mut *self.inner.watches.lock());
        for w in watches {
            if let Some((target, req_id)) = w.target {
                if let Some(t) = target.upgrade() {
                    t.cancel(req_id);
                }
            }
            w.waiter.unpark();
        }
    }

    /// True once [`cancel`](Self::cancel) was called.
    pub fn is_canceled(&self) -> bool {
        self.inner.canceled.load(Ordering::SeqCst)
    }

    /// Registers `target`, carrying request `req_id` for the current thread, to stop on cancel
    /// (and the thread to be woken). Returns false (and stops it) if the token is already
    /// canceled.
    pub(crate) fn watch(&self, target: Weak<dyn Cancelable>, req_id: u64) -> bool {
        let mut watches = self.inner.watches.lock();
        if self.is_canceled() {
            drop(watches);
            if let Some(t) = target.upgrade() {
                t.cancel(req_id);
            }
            return false;
        }
        // Forget requests that ended: what carried them is gone or carries another by now.
        watches.retain(|w| match &w.target {
            Some((t, id)) => t.upgrade().is_some_and(|t| t.carries(*id)),
            None => true,
        });
        watches.push(Watch {
            target: Some((target, req_id)),
            waiter: std::thread::current(),
        });
        true
    }

    /// Registers the current thread to be woken on cancel while it waits for a connection;
    /// [`unwatch_wait`](Self::unwatch_wait) when the wait is over.
    pub(crate) fn watch_wait(&self) {
        self.inner.watches.lock().push(Watch {
            target: None,
            waiter: std::thread::current(),
        });
    }

    /// Ends the current thread's [`watch_wait`](Self::watch_wait).
    pub(crate) fn unwatch_wait(&self) {
        let me = std::thread::current().id();
        self.inner
            .watches
            .lock()
            .retain(|w| w.target.is_some() || w.waiter.id() != me);
    }
}
