//! Go's `httputil.ReverseProxy`: a handler that sends each request on to another server and
//! streams the answer back.
//!
//! The flow of one request is Go's `ReverseProxy.ServeHTTP`, in Go's order:
//!
//! 1. The outgoing request is the incoming one with its body moved over (never buffered): the
//!    same method, target and fields.
//! 2. `director` (then `X-Forwarded-For` appended), or: hop-by-hop fields removed, the
//!    client's `Forwarded`/`X-Forwarded-*` fields removed, then `rewrite`.
//! 3. Hop-by-hop fields removed (`Connection` and the fields it names, `Keep-Alive`,
//!    `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`); `TE: trailers` kept if the
//!    client sent it; `Connection: Upgrade` and `Upgrade` put back for a protocol upgrade.
//! 4. The transport carries it; an error answers 502 (504 for a timeout) through
//!    `error_handler`.
//! 5. A `101 Switching Protocols` whose protocol matches the request's: the client's
//!    connection is hijacked and bytes are copied both ways until both directions end.
//! 6. Otherwise hop-by-hop fields removed from the response, `modify_response`, the head
//!    copied, the body streamed (flushed per `flush_interval`), the trailers copied.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};

use crate::client::TransportConfig;
use crate::client::{CancelToken, RequestOptions, Response, RoundTripper, Transport};
use crate::error::{Error, ErrorKind, Result};
use crate::net::Conn;
use crate::server::{Handler, ResponseWriter};
use crate::{Body, Request};

/// Go's `Rewrite` hook.
pub type RewriteFn = dyn Fn(&mut ProxyRequest<'_>) + Send + Sync;
/// Go's `Director` hook.
pub type DirectorFn = dyn Fn(&mut Request) + Send + Sync;
/// Go's `ModifyResponse` hook.
pub type ModifyResponseFn = dyn Fn(&mut Response) -> Result<()> + Send + Sync;
/// Go's `ErrorHandler` hook.
pub type ErrorHandlerFn = dyn Fn(&mut dyn ResponseWriter, &Request, &Error) + Send + Sync;

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// non-standard ones proxies have always removed: Go's `hopHeaders`.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Fields a `Connection` header cannot have removed: the ones that route, frame, describe or
/// authenticate the message for every recipient (RFC 9110 §7.6.1: a connection option must
/// not name a field meant for all recipients), and the ones the proxy itself vouches for.
/// Go removes whatever `Connection` names; naming `Content-Length`, `Authorization` or
/// `X-Forwarded-For` there is an attack on the next hop, not a connection option.
const PROTECTED: [HeaderName; 13] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_RANGE,
    header::AUTHORIZATION,
    header::COOKIE,
    header::SET_COOKIE,
    header::CACHE_CONTROL,
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-proto"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The most addresses an `X-Forwarded-For` may list before the proxy refuses the request with
/// `508 Loop Detected`: a proxy that is its own upstream (directly or through others) appends
/// one per hop, and 30 hops is more than any real chain of proxies.
pub const MAX_FORWARDED_HOPS: usize = 30;

/// Size of the buffer a response body is copied through.
const COPY_BUFFER: usize = 32 << 10;

/// A reverse proxy: a [`Handler`] that sends each request it receives to another server and
/// copies the response back, as Go's `httputil.ReverseProxy` (its fields are Go's, in
/// snake_case). Set exactly one of [`rewrite`](Self::rewrite) and
/// [`director`](Self::director); [`new_single_host_reverse_proxy`] builds the common case.
///
/// ```no_run
/// use nethttp::httputil::{ProxyRequest, ReverseProxy};
/// use nethttp::server::{Config, Server};
///
/// let upstream: nethttp::Uri = "http://127.0.0.1:9000".parse()?;
/// let proxy = ReverseProxy {
///     rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
///         pr.set_url(&upstream);
///         pr.set_x_forwarded();
///     })),
///     ..ReverseProxy::default()
/// };
/// let cfg = Config {
///     addr: "127.0.0.1:8080".into(),
///     ..Config::default()
/// };
/// Server::with_config(cfg, proxy).listen_and_serve()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What it does with each request, in Go's order: the outgoing request is the incoming one
/// with its body moved over; `director` (then `X-Forwarded-For` appended), or hop-by-hop and
/// forwarding fields removed and then `rewrite`; hop-by-hop fields removed (`TE: trailers`
/// kept, `Upgrade` put back for an upgrade); the transport carries it (502, or 504 for a
/// timeout, through `error_handler`); a matching `101` becomes a tunnel; otherwise the
/// response, without hop-by-hop fields and through `modify_response`, is streamed back with
/// its trailers. The differences from Go are these:
///
/// - A `Connection` field cannot remove the fields that route, frame, describe or
///   authenticate a message (`Host`, `Content-*`, `Authorization`, `Cookie`,
///   `Cache-Control`, `Forwarded`, `X-Forwarded-*`), which Go's would remove.
/// - A request whose `X-Forwarded-For` lists more than [`MAX_FORWARDED_HOPS`] addresses is
///   answered `508 Loop Detected` (a proxy that reaches itself), where Go loops until its
///   connections run out. A loop that appends nothing to `X-Forwarded-For` (a `rewrite` that
///   does not call [`set_x_forwarded`](ProxyRequest::set_x_forwarded)) ends when the server's
///   `max_connections` are all taken and its upstream requests time out.
/// - The default error handler answers `504 Gateway Timeout` for an upstream timeout; Go's
///   answers 502 for every error.
/// - Informational responses other than 101 (`103 Early Hints`) are not passed on (Go 1.20
///   passes them on); `100 Continue` is answered by this server itself when the transport
///   starts reading the body.
/// - After a `101`, the two connections are copied with half-closes passed on (one side's
///   end of stream shuts down writing to the other, and the tunnel ends when both directions
///   have); Go closes both at the first end. Timeouts are lifted from both connections for the
///   tunnel's life, as in Go.
/// - `ErrorLog` and `BufferPool` have no counterpart: errors go to the `log` crate, and the
///   body is copied through one 32 KiB buffer per request.
#[derive(Default)]
pub struct ReverseProxy {
    /// Changes the outgoing request, which starts as a copy of the incoming one without its
    /// hop-by-hop fields and without the client's `Forwarded` and `X-Forwarded-*` fields
    /// (Go 1.20's `Rewrite`). Call [`ProxyRequest::set_url`] to route it and
    /// [`ProxyRequest::set_x_forwarded`] to add the forwarding fields.
    pub rewrite: Option<Box<RewriteFn>>,
    /// Changes the outgoing request, a copy of the incoming one with all its fields (Go's
    /// `Director`, the older hook): it must set an absolute URL. Afterwards the proxy removes
    /// hop-by-hop fields and appends the client's address to `X-Forwarded-For` (set that field
    /// to an empty value to send none, as Go's nil value does). The client's `Host` field is
    /// kept unless the director changes it, as in Go.
    pub director: Option<Box<DirectorFn>>,
    /// Carries the outgoing requests. `None` means a transport shared by every proxy in the
    /// process (Go's `DefaultTransport`): [`TransportConfig::default`] with no `User-Agent`
    /// of its own and up to 256 idle connections per upstream host.
    pub transport: Option<Arc<dyn RoundTripper>>,
    /// When to flush the response body to the client while copying it. `None` (Go's zero)
    /// leaves it to the server's buffer (a response ends with a flush); `Some(Duration::ZERO)`
    /// (Go's negative value) flushes after every write; `Some(d)` flushes within `d` of a
    /// write. Responses of unknown length (chunked or ended by close) and
    /// `text/event-stream` are flushed after every write whatever this says, as in Go.
    pub flush_interval: Option<Duration>,
    /// Changes the response before it is copied (after hop-by-hop fields are removed); an
    /// error goes to the error handler, and the response is dropped (Go's
    /// `ModifyResponse`). Also called for a `101` before the tunnel starts.
    pub modify_response: Option<Box<ModifyResponseFn>>,
    /// Answers the client when the upstream cannot be reached, fails before its response
    /// head, or `modify_response` fails (Go's `ErrorHandler`). The request is the incoming
    /// one (its body moved out). `None` logs the error and answers `502 Bad Gateway`, or `504
    /// Gateway Timeout` for a timeout, with an empty body.
    pub error_handler: Option<Box<ErrorHandlerFn>>,
}

impl std::fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReverseProxy")
            .field("rewrite", &self.rewrite.is_some())
            .field("director", &self.director.is_some())
            .field("transport", &self.transport.is_some())
            .field("flush_interval", &self.flush_interval)
            .field("modify_response", &self.modify_response.is_some())
            .field("error_handler", &self.error_handler.is_some())
            .finish()
    }
}

/// The request a [`ReverseProxy::rewrite`] hook changes (Go's `ProxyRequest`).
#[derive(Debug)]
pub struct ProxyRequest<'a> {
    /// The request the proxy received (Go's `In`; `in` is a keyword). Its body has been moved
    /// to `out`.
    pub in_: &'a Request,
    /// The request the proxy will send (Go's `Out`).
    pub out: &'a mut Request,
}

impl ProxyRequest<'_> {
    /// Routes the outgoing request to `target`, as Go's `SetURL`: its scheme and authority,
    /// its path joined with the request's (`/api` and `/x` make `/api/x`), its query before
    /// the request's; the `Host` field is removed, so the target's host is sent. To send the
    /// client's host instead, copy it back afterwards.
    pub fn set_url(&mut self, target: &Uri) {
        match rewrite_request_url(&self.out.uri, target) {
            Ok(uri) => self.out.uri = uri,
            // A target that cannot hold the joined path: the transport reports it, naming it.
            Err(e) => log::error!("reverse proxy: cannot route to {target}: {e}"),
        }
        self.out.headers.remove(header::HOST);
    }

    /// Sets `X-Forwarded-For` (the outgoing request's value, if `rewrite` put one there,
    /// followed by the client's address), `X-Forwarded-Host` (the incoming host) and
    /// `X-Forwarded-Proto` (`http` or `https`), as Go's `SetXForwarded`. To extend the
    /// client's own `X-Forwarded-For`, copy it from `in_` first.
    pub fn set_x_forwarded(&mut self) {
        match self.in_.remote_addr() {
            Some(peer) => append_forwarded_for(&mut self.out.headers, peer.ip()),
            None => {
                self.out.headers.remove(X_FORWARDED_FOR);
            }
        }
        set_text(&mut self.out.headers, X_FORWARDED_HOST, self.in_.host());
        let proto = if self.in_.is_tls() { "https" } else { "http" };
        set_text(&mut self.out.headers, X_FORWARDED_PROTO, proto);
    }
}

/// A proxy that sends every request to `target`, as Go's `NewSingleHostReverseProxy`: a
/// `director` that sets the scheme and authority, joins the paths and puts the target's
/// query first. As in Go, the client's `Host` field is sent on, and `X-Forwarded-For` is the
/// only forwarding field added; use [`ReverseProxy::rewrite`] with
/// [`ProxyRequest::set_url`] and [`ProxyRequest::set_x_forwarded`] for the target's host and
/// all three fields.
pub fn new_single_host_reverse_proxy(target: Uri) -> ReverseProxy {
    ReverseProxy {
        director: Some(Box::new(
            move |out: &mut Request| match rewrite_request_url(&out.uri, &target) {
                Ok(uri) => out.uri = uri,
                Err(e) => log::error!("reverse proxy: cannot route to {target}: {e}"),
            },
        )),
        ..ReverseProxy::default()
    }
}

/// The transport of proxies that name none.
fn default_transport() -> Arc<dyn RoundTripper> {
    static DEFAULT: OnceLock<Arc<Transport>> = OnceLock::new();
    let t = DEFAULT.get_or_init(|| {
        Arc::new(Transport::with_config(TransportConfig {
            user_agent: None,
            max_idle_conns: 1024,
            max_idle_conns_per_host: 256,
            ..TransportConfig::default()
        }))
    });
    Arc::clone(t) as Arc<dyn RoundTripper>
}

impl Handler for ReverseProxy {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        self.serve(w, r);
    }
}

impl ReverseProxy {
    fn serve(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        if self.director.is_some() == self.rewrite.is_some() {
            let e = Error::invalid_input(
                "ReverseProxy must have exactly one of director or rewrite set",
            );
            return self.fail(w, r, &e);
        }
        // The body moves to the outgoing request; an empty one is sent as none.
        let body = if r.content_length() == Some(0) {
            Body::empty()
        } else {
            r.replace_body(Body::empty())
        };
        let mut out = Request::from_parts(
            r.method.clone(),
            r.uri.clone(),
            http::Version::HTTP_11,
            r.headers.clone(),
            body,
            None,
        );
        if let Some(director) = &self.director {
            // An empty `X-Forwarded-For` after the director means "send none" (Go's nil
            // value); the client's own empty values must not say so for it.
            drop_empty_values(&mut out.headers, &X_FORWARDED_FOR);
            director(&mut out);
        }
        let up_type = match upgrade_type(&out.headers) {
            Ok(t) => t,
            Err(e) => return self.fail(w, r, &e),
        };
        remove_hop_by_hop(&mut out.headers);
        if has_token(&r.headers, &header::TE, "trailers") {
            out.headers
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(t) = &up_type {
            out.headers
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            out.headers.insert(header::UPGRADE, t.clone());
        }
        if let Some(rewrite) = &self.rewrite {
            for name in [
                header::FORWARDED,
                X_FORWARDED_FOR,
                X_FORWARDED_HOST,
                X_FORWARDED_PROTO,
            ] {
                out.headers.remove(name);
            }
            out.uri = clean_query(&out.uri);
            let mut pr = ProxyRequest {
                in_: r,
                out: &mut out,
            };
            rewrite(&mut pr);
        } else if out.headers.contains_key(X_FORWARDED_FOR)
            && out
                .headers
                .get_all(X_FORWARDED_FOR)
                .iter()
                .all(|v| v.is_empty())
        {
            // The director asked for none (Go's nil value).
            out.headers.remove(X_FORWARDED_FOR);
        } else if let Some(peer) = r.remote_addr() {
            append_forwarded_for(&mut out.headers, peer.ip());
        }
        if forwarded_hops(&out.headers) > MAX_FORWARDED_HOPS {
            log::error!(
                "reverse proxy: {} {}: more than {MAX_FORWARDED_HOPS} addresses in \
                 X-Forwarded-For: a proxy loop?",
                r.method,
                r.uri
            );
            w.write_header(StatusCode::LOOP_DETECTED);
            return;
        }
        // Go sets an empty User-Agent so the transport adds none of its own.
        if !out.headers.contains_key(header::USER_AGENT) {
            out.headers
                .insert(header::USER_AGENT, HeaderValue::from_static(""));
        }
        // Stops the upstream request (its head, then its body) when the client goes away: as
        // Go's proxy sends it under the incoming request's context, which the server cancels
        // then. A shared thread watches the client (`watch_client`).
        let cancel = CancelToken::new();
        RequestOptions::of_mut(&mut out).cancel = Some(cancel.clone());
        let watch = w.client_probe().map(|p| watch_client(p, cancel.clone()));

        let transport = self.transport.clone().unwrap_or_else(default_transport);
        let mut resp = match transport.round_trip(out) {
            Ok(resp) => resp,
            // The client left (or only half-closed, and still reads): the error handler
            // answers, as Go's does with the context's error; a 502 nobody reads costs nothing.
            Err(e) => {
                if cancel.is_canceled() {
                    log::debug!("reverse proxy: {} {}: the client left", r.method, r.uri);
                }
                return self.fail(w, r, &e);
            }
        };
        if resp.status == StatusCode::SWITCHING_PROTOCOLS {
            // The client's connection is the tunnel's now.
            drop(watch);
            if let Some(modify) = &self.modify_response {
                if let Err(e) = modify(&mut resp) {
                    return self.fail(w, r, &e);
                }
            }
            return self.tunnel(w, r, resp, up_type);
        }
        let announced = announced_trailers(&resp.headers);
        remove_hop_by_hop(&mut resp.headers);
        if let Some(modify) = &self.modify_response {
            if let Err(e) = modify(&mut resp) {
                return self.fail(w, r, &e);
            }
        }
        let flush = self.flush_mode(&resp);
        let dst = w.headers_mut();
        for (name, value) in &resp.headers {
            dst.append(name.clone(), value.clone());
        }
        if !announced.is_empty() {
            let names: Vec<&str> = announced.iter().map(HeaderName::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
                dst.insert(header::TRAILER, v);
            }
        }
        w.write_header(resp.status);

        match copy_body(w, &mut resp, flush, &cancel) {
            Ok(()) => {}
            Err(CopyError::Client(e)) => {
                // The client went away; dropping the response closes the upstream connection.
                log::debug!("reverse proxy: {} {}: client: {e}", r.method, r.uri);
                return;
            }
            Err(CopyError::Upstream(_)) if watch.is_some() && cancel.is_canceled() => {
                // The body is cut short: never let the server end it as if complete (a client
                // that only half-closed still reads), as Go's ErrAbortHandler.
                log::debug!("reverse proxy: {} {}: the client left", r.method, r.uri);
                return abort(w);
            }
            Err(CopyError::Upstream(e)) => {
                log::error!(
                    "reverse proxy: {} {}: reading the upstream's body: {e}",
                    r.method,
                    r.uri
                );
                return abort(w);
            }
        }
        if let Some(trailers) = resp.trailers() {
            for (name, value) in trailers {
                if announced.contains(name) {
                    w.headers_mut().append(name.clone(), value.clone());
                } else if let Some(t) = w.trailers_mut() {
                    t.append(name.clone(), value.clone());
                }
            }
        }
    }

    /// Answers with the error handler, or the default one.
    fn fail(&self, w: &mut dyn ResponseWriter, r: &Request, e: &Error) {
        if let Some(h) = &self.error_handler {
            return h(w, r, e);
        }
        log::error!("reverse proxy: {} {}: {e}", r.method, r.uri);
        let status = if e.is_timeout() {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        w.write_header(status);
    }

    fn flush_mode(&self, resp: &Response) -> Flush {
        let event_stream = resp
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"));
        let unknown_length = !resp.headers.contains_key(header::CONTENT_LENGTH);
        if event_stream || unknown_length {
            return Flush::EachWrite;
        }
        match self.flush_interval {
            None => Flush::Buffered,
            Some(d) if d.is_zero() => Flush::EachWrite,
            Some(d) => Flush::Within(d),
        }
    }

    /// After the upstream's 101: hands the client's connection and the upstream's to each
    /// other.
    fn tunnel(
        &self,
        w: &mut dyn ResponseWriter,
        r: &Request,
        mut resp: Response,
        up_type: Option<HeaderValue>,
    ) {
        let res_type = upgrade_type(&resp.headers).ok().flatten();
        let matches = match (&up_type, &res_type) {
            (Some(a), Some(b)) => a.as_bytes().eq_ignore_ascii_case(b.as_bytes()),
            _ => false,
        };
        if !matches {
            let text = |v: &Option<HeaderValue>| {
                v.as_ref()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default()
            };
            let e = Error::invalid_input(format!(
                "backend tried to switch protocol {:?} when {:?} was requested",
                text(&res_type),
                text(&up_type)
            ));
            return self.fail(w, r, &e);
        }
        let upstream = match resp.upgrade() {
            Ok(c) => c,
            Err(e) => return self.fail(w, r, &e),
        };
        let dst = w.headers_mut();
        for (name, value) in &resp.headers {
            dst.append(name.clone(), value.clone());
        }
        w.write_header(StatusCode::SWITCHING_PROTOCOLS);
        let client = match w.hijack() {
            Ok(c) => c,
            Err(e) => {
                log::error!("reverse proxy: {} {}: hijack: {e}", r.method, r.uri);
                let _ = upstream.stream().shutdown(Shutdown::Both);
                return;
            }
        };
        if let Err(e) = splice(client, upstream) {
            log::debug!("reverse proxy: {} {}: upgraded: {e}", r.method, r.uri);
        }
    }
}

/// How a response body is flushed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// By the server's buffer, and at the end.
    Buffered,
    /// After every write.
    EachWrite,
    /// Within this long of a write.
    Within(Duration),
}

enum CopyError {
    Upstream(io::Error),
    Client(io::Error),
}

/// Copies the response body to the client. With [`Flush::Within`] a thread reads the
/// upstream so that the handler's thread can flush when nothing arrives in time.
fn copy_body(
    w: &mut dyn ResponseWriter,
    resp: &mut Response,
    flush: Flush,
    cancel: &CancelToken,
) -> std::result::Result<(), CopyError> {
    if let Flush::Within(interval) = flush {
        return copy_body_timed(w, resp, interval, cancel);
    }
    // A small body of known length needs no more than its length (plus one byte to see the
    // end in the same read); the buffer is allocated per request.
    let size = resp
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .map_or(COPY_BUFFER, |n| n.saturating_add(1).clamp(64, COPY_BUFFER));
    let mut buf = vec![0u8; size];
    loop {
        let n = match resp.body().read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Upstream(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Client)?;
        if flush == Flush::EachWrite {
            w.flush().map_err(CopyError::Client)?;
        }
    }
}

/// What the reading thread of [`copy_body_timed`] hands over.
enum Piece {
    Data(Vec<u8>),
    End(Box<Response>),
    Failed(io::Error),
}

fn copy_body_timed(
    w: &mut dyn ResponseWriter,
    resp: &mut Response,
    interval: Duration,
    cancel: &CancelToken,
) -> std::result::Result<(), CopyError> {
    // The response moves to the reader and comes back at the end, with its trailers.
    let placeholder = Response::from_http(http::Response::new(io::empty()));
    let mut owned = std::mem::replace(resp, placeholder);
    let (tx, rx) = crossbeam_channel::bounded::<Piece>(2);
    let reader = thread::Builder::new()
        .name("nethttp-proxy-body".into())
        .spawn(move || loop {
            let mut buf = vec![0u8; COPY_BUFFER];
            let piece = match owned.body().read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send(Piece::End(Box::new(owned)));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    Piece::Data(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Piece::Failed(e),
            };
            let failed = matches!(piece, Piece::Failed(_));
            if tx.send(piece).is_err() || failed {
                return;
            }
        });
    if let Err(e) = reader {
        return Err(CopyError::Upstream(io::Error::other(e)));
    }
    // Stops the reader, blocked on the upstream, if the copy ends early.
    struct StopOnDrop<'a>(&'a CancelToken, bool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            if !self.1 {
                self.0.cancel();
            }
        }
    }
    let mut guard = StopOnDrop(cancel, false);
    let mut pending_since: Option<Instant> = None;
    loop {
        let piece = match pending_since {
            None => rx.recv().ok(),
            Some(t) => match rx.recv_deadline(t + interval) {
                Ok(p) => Some(p),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    w.flush().map_err(CopyError::Client)?;
                    pending_since = None;
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
            },
        };
        match piece {
            Some(Piece::Data(d)) => {
                w.write_all(&d).map_err(CopyError::Client)?;
                pending_since.get_or_insert_with(Instant::now);
            }
            Some(Piece::End(r)) => {
                *resp = *r;
                guard.1 = true;
                return Ok(());
            }
            Some(Piece::Failed(e)) => return Err(CopyError::Upstream(e)),
            None => {
                return Err(CopyError::Upstream(io::Error::other(
                    "the body's reader thread ended",
                )))
            }
        }
    }
}

/// Copies bytes both ways between the client's connection and the upstream's until both
/// directions have ended: the upstream-to-client direction on a thread of its own, the
/// other on the caller's. One side's end of stream shuts down writing to the other; an
/// error shuts down both connections, which ends the other direction too.
fn splice(client: Conn, upstream: Conn) -> io::Result<()> {
    for c in [&client, &upstream] {
        c.stream().set_read_timeout(None)?;
        c.stream().set_write_timeout(None)?;
    }
    let (client_w, upstream_w) = (client.writer(), upstream.writer());
    let down = thread::Builder::new()
        .name("nethttp-proxy-tunnel".into())
        .spawn(move || pipe(upstream, client_w))?;
    let up = pipe(client, upstream_w);
    let down = down
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the tunnel's thread panicked")));
    up.and(down)
}

/// Copies `from` to `to` until `from` ends, then shuts down writing on `to`; on an error,
/// shuts down both connections.
fn pipe(mut from: Conn, mut to: Conn) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let result = loop {
        match from.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = to.write_all(&buf[..n]).and_then(|()| to.flush()) {
                    break Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    match &result {
        Ok(()) => {
            let _ = to.stream().shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = to.stream().shutdown(Shutdown::Both);
            let _ = from.stream().shutdown(Shutdown::Both);
        }
    }
    result
}

/// Cuts the client's connection mid-response (Go's `panic(http.ErrAbortHandler)`): the head
/// is out, so no error status can be sent, and ending the body normally would pass a
/// truncated body off as complete.
fn abort(w: &mut dyn ResponseWriter) {
    if let Ok(conn) = w.hijack() {
        let _ = conn.stream().shutdown(Shutdown::Both);
    }
}

/// Removes the hop-by-hop fields and those the `Connection` field names (but not the
/// [`PROTECTED`] ones), as Go's `removeHopByHopHeaders`.
fn remove_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !PROTECTED.contains(n))
        .collect();
    for name in named {
        h.remove(name);
    }
    for name in HOP_BY_HOP {
        h.remove(name);
    }
}

/// The protocol a request or response asks to switch to: the `Upgrade` field when
/// `Connection` names `upgrade` (Go's `upgradeType`). A value with bytes outside printable
/// ASCII is an error, as in Go.
fn upgrade_type(h: &HeaderMap) -> Result<Option<HeaderValue>> {
    if !has_token(h, &header::CONNECTION, "upgrade") {
        return Ok(None);
    }
    let Some(v) = h.get(header::UPGRADE) else {
        return Ok(None);
    };
    if v.as_bytes().iter().any(|b| !(0x20..0x7f).contains(b)) {
        return Err(Error::invalid_input(format!(
            "client tried to switch to invalid protocol {:?}",
            String::from_utf8_lossy(v.as_bytes())
        )));
    }
    Ok(Some(v.clone()))
}

/// True if a comma-separated list in any `name` field holds `token` (case-insensitive).
fn has_token(h: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The names the `Trailer` field announces.
fn announced_trailers(h: &HeaderMap) -> Vec<HeaderName> {
    h.get_all(header::TRAILER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect()
}

/// Replaces `X-Forwarded-For` with its values joined and `ip` after them.
fn append_forwarded_for(h: &mut HeaderMap, ip: std::net::IpAddr) {
    let mut chain: Vec<String> = h
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    chain.push(ip.to_string());
    set_text(h, X_FORWARDED_FOR, &chain.join(", "));
}

/// Removes the empty values of field `name`, keeping the others in order.
fn drop_empty_values(h: &mut HeaderMap, name: &HeaderName) {
    if !h.get_all(name).iter().any(|v| v.is_empty()) {
        return;
    }
    let kept: Vec<HeaderValue> = h
        .get_all(name)
        .iter()
        .filter(|v| !v.is_empty())
        .cloned()
        .collect();
    h.remove(name);
    for v in kept {
        h.append(name.clone(), v);
    }
}

/// How many addresses the `X-Forwarded-For` fields list.
fn forwarded_hops(h: &HeaderMap) -> usize {
    h.get_all(X_FORWARDED_FOR)
        .iter()
        .map(|v| crate::proto::split_bytes(v.as_bytes(), b',').count())
        .sum()
}

fn set_text(h: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            h.insert(name, v);
        }
        Err(_) => {
            h.remove(name);
        }
    }
}

/// Go's `rewriteRequestURL`: `target`'s scheme and authority, the paths joined with one
/// slash between them, the target's query before the request's.
fn rewrite_request_url(req: &Uri, target: &Uri) -> Result<Uri> {
    let scheme = target.scheme_str().unwrap_or("http");
    let authority = target
        .authority()
        .ok_or_else(|| Error::invalid_input(format!("proxy target has no host: {target}")))?;
    let path = single_joining_slash(target.path(), req.path());
    let query = match (target.query().unwrap_or(""), req.query().unwrap_or("")) {
        ("", q) | (q, "") => q.to_owned(),
        (t, q) => format!("{t}&{q}"),
    };
    let mut s = format!("{scheme}://{authority}{path}");
    if !query.is_empty() {
        s.push('?');
        s.push_str(&query);
    }
    s.parse()
        .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))
}

/// Go's `singleJoiningSlash`.
fn single_joining_slash(a: &str, b: &str) -> String {
    match (a.ends_with('/'), b.starts_with('/')) {
        (true, true) => format!("{a}{}", &b[1..]),
        (false, false) => format!("{a}/{b}"),
        _ => format!("{a}{b}"),
    }
}

/// Drops query parameters Go's `url.ParseQuery` would refuse (a `;` in a pair, a bad `%`
/// escape), so the upstream cannot read a parameter this proxy's handlers did not (Go's
/// `cleanQueryParams`, parameter smuggling).
fn clean_query(uri: &Uri) -> Uri {
    let Some(q) = uri.query() else {
        return uri.clone();
    };
    let valid = |pair: &str| !pair.contains(';') && valid_escapes(pair);
    if q.split('&').all(valid) {
        return uri.clone();
    }
    let kept: Vec<&str> = q.split('&').filter(|p| !p.is_empty() && valid(p)).collect();
    let mut s = String::new();
    if let (Some(scheme), Some(a)) = (uri.scheme_str(), uri.authority()) {
        s = format!("{scheme}://{a}");
    }
    s.push_str(uri.path());
    if !kept.is_empty() {
        s.push('?');
        s.push_str(&kept.join("&"));
    }
    s.parse().unwrap_or_else(|_| uri.clone())
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// The proxied requests whose client is watched, and whether the watching thread runs.
struct ClientWatch {
    list: Vec<Watched>,
    running: bool,
}

/// One proxied request: its client's probe and the token of its upstream request.
struct Watched {
    id: u64,
    probe: crate::server::ClientProbe,
    cancel: CancelToken,
}

/// How often the watching thread asks each watched client whether it has gone.
const WATCH_TICK: Duration = Duration::from_millis(200);
/// How long the watching thread stays with nothing to watch before it ends.
const WATCH_LINGER: Duration = Duration::from_secs(5);

static WATCH: parking_lot::Mutex<ClientWatch> = parking_lot::Mutex::new(ClientWatch {
    list: Vec::new(),
    running: false,
});
static WATCH_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Stops watching its request when dropped (the handler's end, or a tunnel's start).
struct WatchGuard(u64);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut w = WATCH.lock();
        if let Some(i) = w.list.iter().position(|x| x.id == self.0) {
            w.list.swap_remove(i);
        }
    }
}

/// Cancels `cancel` if the client behind `probe` goes away while the guard lives.
///
/// One thread (`nethttp-watch`) serves every proxy of the process: every [`WATCH_TICK`] it
/// asks each watched client (one non-blocking peek each, outside the lock), and it ends after
/// [`WATCH_LINGER`] with nothing to watch; the next request starts it again. A request costs
/// two short holds of the lock, and no wake-up of any thread.
fn watch_client(probe: crate::server::ClientProbe, cancel: CancelToken) -> WatchGuard {
    let id = WATCH_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = {
        let mut w = WATCH.lock();
        w.list.push(Watched { id, probe, cancel });
        !std::mem::replace(&mut w.running, true)
    };
    if start {
        let spawned = thread::Builder::new()
            .name("nethttp-watch".into())
            .stack_size(64 << 10)
            .spawn(watch_loop);
        if let Err(e) = spawned {
            log::warn!("reverse proxy: cannot start the client-watching thread: {e}");
            WATCH.lock().running = false;
        }
    }
    WatchGuard(id)
}

/// The watching thread: see [`watch_client`].
fn watch_loop() {
    let mut empty_since: Option<Instant> = None;
    loop {
        // A timer, not a synchronisation: a client is seen gone within a tick or two.
        thread::sleep(WATCH_TICK);
        let now: Vec<(crate::server::ClientProbe, CancelToken)> = {
            let mut w = WATCH.lock();
            if w.list.is_empty() {
                let since = *empty_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= WATCH_LINGER {
                    w.running = false;
                    return;
                }
                continue;
            }
            empty_since = None;
            w.list
                .iter()
                .filter(|x| !x.cancel.is_canceled())
                .map(|x| (x.probe.clone(), x.cancel.clone()))
                .collect()
        };
        for (probe, cancel) in now {
            if probe.gone() {
                cancel.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_as_go() {
        for (target, req, want) in [
            ("http://up", "/x?y=1", "http://up/x?y=1"),
            ("http://up/", "/x", "http://up/x"),
            ("http://up/api", "/x", "http://up/api/x"),
            ("http://up/api/", "/x/", "http://up/api/x/"),
            ("http://up/api", "/", "http://up/api/"),
            ("http://up:81/?k=v", "/x?y=1", "http://up:81/x?k=v&y=1"),
            ("https://up/?k=v", "/x", "https://up/x?k=v"),
        ] {
            let got = rewrite_request_url(&req.parse().unwrap(), &target.parse().unwrap())
                .unwrap()
                .to_string();
            assert_eq!(got, want, "{target} + {req}");
        }
        assert!(
            rewrite_request_url(&"/x".parse().unwrap(), &"/relative".parse().unwrap()).is_err()
        );
    }

    #[test]
    fn hop_by_hop_fields_go_but_connection_cannot_strip_end_to_end_ones() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            (
                "connection",
                "close, x-private, Host, Content-Length, Authorization",
            ),
            ("connection", "X-Forwarded-For, cookie"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-private", "1"),
            ("host", "h"),
            ("content-length", "3"),
            ("authorization", "Bearer t"),
            ("x-forwarded-for", "10.0.0.1"),
            ("cookie", "a=b"),
            ("x-kept", "yes"),
        ] {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        remove_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "authorization",
                "content-length",
                "cookie",
                "host",
                "x-forwarded-for",
                "x-kept"
            ]
        );
    }

    #[test]
    fn upgrade_types() {
        let mut h = HeaderMap::new();
        assert!(upgrade_type(&h).unwrap().is_none());
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(
            upgrade_type(&h).unwrap().is_none(),
            "Connection does not name it"
        );
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(upgrade_type(&h).unwrap().unwrap(), "websocket");
        h.insert(
            header::UPGRADE,
            HeaderValue::from_bytes(b"web\xff").unwrap(),
        );
        assert!(upgrade_type(&h).is_err());
    }

    #[test]
    fn query_params_go_would_refuse_are_dropped() {
        for (uri, want) in [
            ("/p?a=1&b=2", "/p?a=1&b=2"),
            ("/p?a=1;b=2&c=3", "/p?c=3"),
            ("/p?a=%zz&c=3", "/p?c=3"),
            ("/p?a=%4", "/p"),
            ("/p?a=%41", "/p?a=%41"),
            ("http://h/p?x;y", "http://h/p"),
        ] {
            assert_eq!(
                clean_query(&uri.parse().unwrap()).to_string(),
                want,
                "{uri}"
            );
        }
    }

    #[test]
    fn forwarded_for_counts_hops() {
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_hops(&h), 0);
        append_forwarded_for(&mut h, [10, 0, 0, 1].into());
        append_forwarded_for(&mut h, [10, 0, 0, 2].into());
        assert_eq!(h[X_FORWARDED_FOR], "10.0.0.1, 10.0.0.2");
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        assert_eq!(forwarded_hops(&h), 4);
    }
}
