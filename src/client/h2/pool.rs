//! The HTTP/2 connections of a transport, by pool key, and the one dial per key that makes
//! them (Go's `http2clientConnPool` with its `dialCall`): many callers share one connection.
//!
//! A request whose origin may speak HTTP/2 (`https` with HTTP/2 on, or `http` with
//! unencrypted HTTP/2 on and no proxy) looks here first. With no connection for its key, the
//! first caller dials (TLS offering ALPN `h2` and `http/1.1`) while the others wait for that
//! dial, under their own deadlines. If the server picks `h2`, the connection joins this pool;
//! if it picks HTTP/1.1, the connection goes to the HTTP/1 pool and the key is remembered as
//! HTTP/1-only for the transport's life, so later requests go straight to the HTTP/1 path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{H2Conn, RtError};
use crate::client::proxy::ConnKey;
use crate::client::response::Response;
use crate::client::trace::GotConnInfo;
use crate::client::transport::TransportInner;
use crate::client::RequestOptions;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::Request;

/// How many times a request the server did not process (refused, or above a `GOAWAY`) is
/// sent again on another connection.
const MAX_ATTEMPTS: usize = 4;

/// The HTTP/2 side of a transport's pool, under `TransportInner::h2`.
#[derive(Default)]
pub(crate) struct H2Pool {
    /// Connections per key, oldest first; a connection leaves when it closes or is told to
    /// go away.
    conns: HashMap<ConnKey, Vec<Arc<H2Conn>>>,
    /// Dials under way, one per key.
    dialing: HashMap<ConnKey, Arc<DialCall>>,
    /// Keys whose server answered ALPN with HTTP/1.1.
    h1_only: HashSet<ConnKey>,
}

/// One dial that several callers wait for.
#[derive(Default)]
struct DialCall {
    /// `None` while dialing; then `Ok` or the error's kind and text.
    result: Mutex<Option<std::result::Result<(), (ErrorKind, String)>>>,
    done: Condvar,
    /// The dial has connected and is in the origin's TLS handshake: a caller's deadline that
    /// passes now is the handshake's, not the connect's.
    handshaking: std::sync::atomic::AtomicBool,
}

/// How a key's requests may go over HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// TLS with ALPN offering `h2`.
    Alpn,
    /// Cleartext HTTP/2 with prior knowledge.
    PriorKnowledge,
}

impl H2Pool {
    /// Every connection, for closing idle ones and counting.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<H2Conn>> {
        self.conns.values().flatten()
    }

    /// Takes `conn` out of the pool.
    pub(crate) fn remove(&mut self, conn: &H2Conn) {
        if let Some(list) = self.conns.get_mut(&conn.key) {
            list.retain(|c| c.id != conn.id);
            if list.is_empty() {
                self.conns.remove(&conn.key);
            }
        }
    }

    /// Takes every connection out, for closing.
    pub(crate) fn drain(&mut self) -> Vec<Arc<H2Conn>> {
        self.conns.drain().flat_map(|(_, v)| v).collect()
    }
}

/// Which way `key`'s requests may use HTTP/2 under the transport's protocols, if any.
pub(crate) fn mode(t: &TransportInner, key: &ConnKey) -> Option<Mode> {
    let p = t.cfg.protocols;
    match key.target.scheme.as_str() {
        "https" if p.http2 && cfg!(feature = "tls") => Some(Mode::Alpn),
        // As Go: prior knowledge only when HTTP/1 is off, since an `http://` server that
        // speaks only HTTP/1 would otherwise fail every request.
        "http" if p.unencrypted_http2 && !p.http1 && key.proxy.is_none() => {
            Some(Mode::PriorKnowledge)
        }
        _ => None,
    }
}

/// Where a request went.
pub(crate) enum Route {
    /// Over HTTP/2, with this response.
    Done(Box<Response>),
    /// To the HTTP/1 path. `dialed`: this call dialed the connection the HTTP/1 pool now
    /// holds (the server chose HTTP/1.1), so the request's `got_conn` must not call it reused.
    Http1 { dialed: bool },
}

/// Sends `req` over HTTP/2 if its key allows it, else says it must go over HTTP/1.
/// Requests asking for a protocol upgrade always go over HTTP/1 (RFC 9113 §8.6 forbids
/// `Upgrade`; Go sends WebSocket upgrades over HTTP/1 alone).
///
/// # Errors
///
/// The round trip's error; a request the server did not process is first sent again, on
/// another connection, up to [`MAX_ATTEMPTS`] times if its body can be sent again.
pub(crate) fn round_trip(
    t: &Arc<TransportInner>,
    req: &mut Request,
    key: &ConnKey,
    opts: &RequestOptions,
) -> Result<Route> {
    if req.headers.contains_key(http::header::UPGRADE) {
        return Ok(Route::Http1 { dialed: false });
    }
    let Some(mode) = mode(t, key) else {
        if !t.cfg.protocols.http1 {
            return Err(Error::invalid_input(format!(
                "no protocol enabled for {}",
                key.target.scheme
            )));
        }
        return Ok(Route::Http1 { dialed: false });
    };
    opts.trace.get_conn_with(|| key.to_string());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (conn, dialed, reserved) = match get_conn(t, key, mode, opts)? {
            Got::Conn {
                conn,
                dialed,
                reserved,
            } => (conn, dialed, reserved),
            Got::Http1 { dialed } => {
                if !t.cfg.protocols.http1 {
                    return Err(Error::invalid_input(
                        "server does not speak http/2 and http/1 is off",
                    ));
                }
                return Ok(Route::Http1 { dialed });
            }
        };
        opts.trace.got_conn_with(|| GotConnInfo {
            reused: !dialed,
            was_idle: !dialed && conn.active_streams() == 0,
            idle_time: Duration::ZERO,
        });
        let req_id = t.next_request_id();
        match conn.round_trip(t, req, opts, req_id, reserved) {
            Ok(resp) => return Ok(Route::Done(Box::new(resp))),
            Err(e) => {
                let RtError {
                    err,
                    unprocessed,
                    body,
                } = *e;
                let Some(body) = body.filter(|_| unprocessed && attempt < MAX_ATTEMPTS) else {
                    return Err(err);
                };
                log::debug!(
                    "retrying {} {} on another http/2 connection: {err}",
                    req.method,
                    req.uri
                );
                req.replace_body(body);
            }
        }
    }
}

/// What `get_conn` found.
enum Got {
    /// An HTTP/2 connection; `dialed` if this caller dialed it; `reserved` if a stream on it
    /// is reserved for this caller.
    Conn {
        conn: Arc<H2Conn>,
        dialed: bool,
        reserved: bool,
    },
    /// The server speaks HTTP/1.1 only; `dialed` if this caller found that out by dialing.
    Http1 { dialed: bool },
}

enum Role {
    Dial(Arc<DialCall>),
    Wait(Arc<DialCall>),
}

/// A connection of the pool for `key` to send on, if there is one to use. Not strict: one
/// with a free stream, reserved for the caller; failing that, with `max_conns_per_host`
/// connections open (or being dialed), the one with the fewest streams, to wait on. Strict:
/// any that can still take streams.
fn pick(p: &H2Pool, key: &ConnKey, strict: bool, max_conns: usize) -> Option<Got> {
    let list = p.conns.get(key)?;
    let mut usable = list.iter().filter(|c| c.usable());
    if strict {
        return usable.next().map(|c| Got::Conn {
            conn: Arc::clone(c),
            dialed: false,
            reserved: false,
        });
    }
    if let Some(c) = list.iter().find(|c| c.try_reserve()) {
        return Some(Got::Conn {
            conn: Arc::clone(c),
            dialed: false,
            reserved: true,
        });
    }
    let open =
        list.iter().filter(|c| c.usable()).count() + usize::from(p.dialing.contains_key(key));
    if max_conns == 0 || open < max_conns {
        return None;
    }
    usable
        .min_by_key(|c| c.active_streams())
        .map(|c| Got::Conn {
            conn: Arc::clone(c),
            dialed: false,
            reserved: false,
        })
}

/// A connection for `key` that can take a new stream: one in the pool, the one another
/// caller is dialing, or a new one. `None`: the server speaks HTTP/1.1 only.
///
/// A caller waiting for another's dial that failed with a timeout or a cancel (which may
/// have been the dialing caller's own deadline) tries once more, dialing itself if no one
/// else is, rather than fail with an error that may not be its own.
fn get_conn(
    t: &Arc<TransportInner>,
    key: &ConnKey,
    mode: Mode,
    opts: &RequestOptions,
) -> Result<Got> {
    let strict = t.cfg.http2.strict_max_concurrent_streams;
    if !strict {
        // The common case, one connection with room: its stream is reserved after the pool's
        // lock is let go, so callers queue on one lock at a time, not on the pool's while it
        // waits for a busy connection's. Anything else goes the way below, under the pool's
        // lock (a connection that closed meanwhile has no room).
        let first = t.h2.lock().conns.get(key).and_then(|l| l.first().cloned());
        if let Some(conn) = first.filter(|c| c.try_reserve()) {
            return Ok(Got::Conn {
                conn,
                dialed: false,
                reserved: true,
            });
        }
    }
    let mut retried = false;
    loop {
        let role = {
            let mut p = t.h2.lock();
            if let Some(got) = pick(&p, key, strict, t.cfg.max_conns_per_host) {
                return Ok(got);
            }
            if p.h1_only.contains(key) {
                return Ok(Got::Http1 { dialed: false });
            }
            match p.dialing.get(key) {
                Some(call) => Role::Wait(Arc::clone(call)),
                None => {
                    let call = Arc::new(DialCall::default());
                    p.dialing.insert(key.clone(), Arc::clone(&call));
                    Role::Dial(call)
                }
            }
        };
        match role {
            Role::Wait(call) => {
                let mut r = call.result.lock();
                loop {
                    if let Some(res) = &*r {
                        match res {
                            Err((kind, _))
                                if !retried
                                    && matches!(
                                        kind,
                                        ErrorKind::Timeout(_) | ErrorKind::Canceled
                                    ) =>
                            {
                                retried = true;
                            }
                            Err((kind, msg)) => return Err(Error::with_source(*kind, msg.clone())),
                            Ok(()) => {}
                        }
                        break;
                    }
                    if let Some(e) = gave_up(opts, &call) {
                        return Err(e);
                    }
                    let step = Instant::now() + Duration::from_millis(500);
                    let until = opts.deadline.map_or(step, |d| d.min(step));
                    call.done.wait_until(&mut r, until);
                }
            }
            Role::Dial(call) => return dial_apart(t, key, mode, opts, call, strict),
        }
    }
}

/// Dials `key` on a thread of its own (Go's `dialCall` runs apart from the request too) and
/// waits for it under the caller's deadline and cancel: a caller that gives up leaves the
/// dial to finish, and its connection still joins the pool for the next request. The dial
/// thread records the result in `call` for the callers waiting on it.
fn dial_apart(
    t: &Arc<TransportInner>,
    key: &ConnKey,
    mode: Mode,
    opts: &RequestOptions,
    call: Arc<DialCall>,
    strict: bool,
) -> Result<Got> {
    let (tx, rx) = crossbeam_channel::bounded::<Result<Option<Arc<H2Conn>>>>(1);
    let (t2, key2, opts2) = (Arc::clone(t), key.clone(), opts.clone());
    let call2 = Arc::clone(&call);
    let spawned = super::spawn_counted(&t.threads, "nethttp-h2-dial", move || {
        let mut guard = DialDone {
            t: &t2,
            key: &key2,
            call: &call,
            armed: true,
        };
        let r = dial(&t2, &key2, mode, &opts2, &call.handshaking);
        guard.armed = false;
        {
            let mut p = t2.h2.lock();
            p.dialing.remove(&key2);
            match &r {
                Ok(Some(c)) => p.conns.entry(key2.clone()).or_default().push(Arc::clone(c)),
                Ok(None) => {
                    p.h1_only.insert(key2.clone());
                }
                Err(_) => {}
            }
        }
        *call.result.lock() = Some(match &r {
            Ok(_) => Ok(()),
            Err(e) => Err((e.kind(), e.to_string())),
        });
        call.done.notify_all();
        let _ = tx.send(r);
    });
    if let Err(e) = spawned {
        t.h2.lock().dialing.remove(key);
        return Err(Error::thread_spawn("http2 dial", e));
    }
    loop {
        let step = Instant::now() + Duration::from_millis(100);
        let until = opts.deadline.map_or(step, |d| d.min(step));
        match rx.recv_deadline(until) {
            Ok(r) => {
                return r.map(|c| match c {
                    Some(conn) => {
                        // Waiters see the connection as soon as it is pooled, so this
                        // caller's stream is reserved like theirs: whoever comes first.
                        let reserved = !strict && conn.try_reserve();
                        Got::Conn {
                            conn,
                            dialed: true,
                            reserved,
                        }
                    }
                    None => Got::Http1 { dialed: true },
                });
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(Error::with_source(
                    ErrorKind::Connect,
                    "the http2 dial thread ended without a result",
                ));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if let Some(e) = gave_up(opts, &call2) {
            return Err(e);
        }
    }
}

/// Why a caller waiting for a dial stops waiting, if it does: its deadline passed (a
/// connect timeout) or it was canceled.
fn gave_up(opts: &RequestOptions, call: &DialCall) -> Option<Error> {
    if opts.deadline.is_some_and(|d| Instant::now() >= d) {
        let handshaking = call.handshaking.load(std::sync::atomic::Ordering::SeqCst);
        return Some(Error::timeout(if handshaking {
            TimeoutPhase::TlsHandshake
        } else {
            TimeoutPhase::Connect
        }));
    }
    opts.cancel
        .as_ref()
        .is_some_and(crate::client::CancelToken::is_canceled)
        .then(|| Error::new(ErrorKind::Canceled))
}

/// Ends a dial whose thread unwinds (a panicking user `Dial`, say): the key is no longer
/// being dialed and its waiters get an error, instead of waiting for a result that never
/// comes.
struct DialDone<'a> {
    t: &'a TransportInner,
    key: &'a ConnKey,
    call: &'a DialCall,
    armed: bool,
}

impl Drop for DialDone<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.t.h2.lock().dialing.remove(self.key);
        *self.call.result.lock() = Some(Err((
            ErrorKind::Connect,
            "the http2 dial panicked".to_string(),
        )));
        self.call.done.notify_all();
    }
}

/// Dials `key`; `None` if the server chose HTTP/1.1 (the connection is then in the HTTP/1
/// pool).
fn dial(
    t: &Arc<TransportInner>,
    key: &ConnKey,
    mode: Mode,
    opts: &RequestOptions,
    handshaking: &std::sync::atomic::AtomicBool,
) -> Result<Option<Arc<H2Conn>>> {
    let (stream, h2) = t.dial_h2(
        key,
        mode == Mode::Alpn,
        opts.deadline,
        &opts.trace,
        handshaking,
    )?;
    if !h2 {
        t.adopt_http1(key, stream, &opts.trace)?;
        return Ok(None);
    }
    let id = t.next_request_id();
    H2Conn::start(t, id, key.clone(), stream).map(Some)
}
