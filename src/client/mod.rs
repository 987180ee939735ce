//! HTTP/1.1 client: `Client` (policy: redirects, cookies, the overall timeout, decompression;
//! this file), `Transport` (pool and per-connection threads), and `ClientConn` (one
//! connection, no pool; feature `clientconn`).
//!
//! Available with feature `client` (on by default).
//!
//! ```no_run
//! let client = nethttp::Client::new();
//! let mut resp = client.get("http://127.0.0.1:8080/echo")?;
//! let body = resp.text()?; // reads to the end: the connection goes back to the pool
//! println!("{} {body}", resp.status);
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! Two rules: read each response body to its end (or drop it) — only then can its connection
//! carry another request; and create one `Client` and reuse it — it is cheap to clone, and
//! clones share the connection pool.
//!
//! A client with settings (Go's style: a plain [`ClientConfig`] with `Default`; connection
//! settings are on [`TransportConfig`]), and a request built step by step:
//!
//! ```no_run
//! use std::time::Duration;
//! use nethttp::client::{Client, ClientConfig, RedirectPolicy};
//! use nethttp::Method;
//!
//! let client = Client::with_config(ClientConfig {
//!     timeout: Some(Duration::from_secs(30)), // connect, redirects and body together
//!     redirect: RedirectPolicy::limited(5),
//!     ..ClientConfig::default()               // a new Transport: proxies from the environment
//! });
//!
//! let mut resp = client
//!     .request(Method::POST, "http://127.0.0.1:8080/search")
//!     .query(&[("q", "rust & go"), ("page", "2")]) // ?q=rust+%26+go&page=2
//!     .form(&[("user", "ann")])                    // application/x-www-form-urlencoded
//!     .bearer_auth("t0ken")
//!     .send()?
//!     .error_for_status()?;                         // 4xx and 5xx become errors
//! println!("{}", resp.text()?);
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # Policy
//!
//! As Go's `http.Client`: 301, 302 and 303 are followed with GET (HEAD stays HEAD) and no
//! body; 307 and 308 keep the method and body if the body can be produced again
//! ([`Body::try_clone`]), else the 3xx is returned; a 3xx without `Location` is returned; at
//! most 10 redirects by default ([`RedirectPolicy`]). `Authorization`, `Cookie` and
//! `WWW-Authenticate` set on the request go to the same host and its subdomains only, and
//! once dropped stay dropped; a `Proxy-Authorization` set on the request goes with the first
//! request only (credentials in the proxy's URL go to the proxy on every hop). `Referer` names the previous URL,
//! never from https to http. With feature `gzip` (on by default) the client asks for gzip
//! and decodes it (and deflate) unless the request set `Accept-Encoding` or `Range` or is a
//! HEAD; [`Response::uncompressed`] tells. [`ClientConfig::timeout`] is one deadline for
//! the connect, every redirect and reading the body; a timeout error names the phase it hit.
//!
//! # Threads
//!
//! Each pooled connection has a reader thread and a writer thread (`persist.rs`), as Go's
//! `persistConn` has `readLoop` and `writeLoop`; the calling thread waits on channels for the
//! response. Dials run on short-lived threads so a request waiting for a slow dial can take a
//! connection another request frees first.

mod builder;
#[cfg(feature = "clientconn")]
mod clientconn;
mod cookies;
#[cfg(feature = "gzip")]
mod decompress;
#[cfg(feature = "http2")]
mod h2;
mod persist;
#[cfg(test)]
mod pool_tests;
mod proxy;
mod redirect;
mod response;
#[cfg(feature = "socks")]
mod socks;
mod trace;
mod transport;
mod wake;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use builder::RequestBuilder;
#[cfg(feature = "clientconn")]
pub use clientconn::ClientConn;
pub use cookies::CookieJar;
#[cfg(feature = "cookies")]
pub use cookies::Jar;
#[cfg(feature = "http2")]
pub use h2::Http2ClientConfig;
pub use proxy::{connect_tunnel, Proxy, ProxyConnectHeaderFn, ProxyConnectResponseFn, Tunnel};
pub use redirect::{Attempt, RedirectAction, RedirectPolicy};
pub use response::{Response, ResponseBody, DEFAULT_BODY_LIMIT};
pub use trace::{CancelToken, ClientTrace, GotConnInfo};
#[cfg(feature = "http2")]
pub use transport::Protocols;
pub use transport::{PoolStats, Transport, TransportConfig};

use http::header::{self, HeaderMap, HeaderValue};
use http::Uri;

use crate::error::{Error, Result};
use crate::{Body, Method, Request};

/// Carries one request to a response, as Go's `http.RoundTripper`. [`Transport`] is the real
/// one; wrap it to add behaviour, or implement it to fake a server in tests.
pub trait RoundTripper: Send + Sync + 'static {
    /// Sends `req` and returns the response head with a streaming body.
    ///
    /// # Errors
    ///
    /// Any failure to obtain a response: connect, write, read, timeout, cancel.
    fn round_trip(&self, req: Request) -> Result<Response>;
}

impl<R: RoundTripper + ?Sized> RoundTripper for Arc<R> {
    fn round_trip(&self, req: Request) -> Result<Response> {
        (**self).round_trip(req)
    }
}

/// A client's per-request settings: a deadline, a cancel token and trace hooks. They travel
/// in the request's [`extensions`](Request::extensions), as Go's travel in the request's
/// context, so every layer that carries the request ([`Client`], a [`RoundTripper`],
/// [`Transport`], [`ClientConn`]) sees them; a server ignores them.
///
/// [`RequestBuilder`] sets them with [`timeout`](RequestBuilder::timeout),
/// [`deadline`](RequestBuilder::deadline), [`cancel`](RequestBuilder::cancel) and
/// [`trace`](RequestBuilder::trace); for a [`Request`] built by hand, use
/// [`of_mut`](Self::of_mut):
///
/// ```
/// use std::time::{Duration, Instant};
/// use nethttp::client::{CancelToken, RequestOptions};
/// use nethttp::{Method, Request};
///
/// let mut req = Request::new(Method::GET, "http://127.0.0.1:8080/")?;
/// let token = CancelToken::new();
/// let opts = RequestOptions::of_mut(&mut req);
/// opts.deadline = Some(Instant::now() + Duration::from_secs(5));
/// opts.cancel = Some(token.clone());
/// assert!(RequestOptions::of(&req).deadline.is_some());
/// # Ok::<(), nethttp::Error>(())
/// ```
#[cfg_attr(not(feature = "clientconn"), doc = "[`ClientConn`]: crate#features")]
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The request, including reading its response body, must finish by then; past it the
    /// request fails with a timeout naming the phase it was in. A [`Client`]'s own timeout
    /// applies too: the earlier of the two wins. Default is `None` (no deadline).
    pub deadline: Option<Instant>,
    /// The token that cancels this request from another thread. Default is `None`.
    pub cancel: Option<CancelToken>,
    /// Hooks that observe the request going through the transport. Default is none.
    pub trace: ClientTrace,
}

impl RequestOptions {
    /// The options `req` carries: the defaults if it carries none.
    pub fn of(req: &Request) -> RequestOptions {
        req.extensions
            .get::<RequestOptions>()
            .cloned()
            .unwrap_or_default()
    }

    /// The options `req` carries, to change in place; they are added (with the defaults) if it
    /// carries none.
    pub fn of_mut(req: &mut Request) -> &mut RequestOptions {
        req.extensions.get_or_insert_default::<RequestOptions>()
    }

    /// Sets the deadline `timeout` from now.
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.deadline = Instant::now().checked_add(timeout);
        self
    }
}

/// An HTTP client, as Go's `http.Client`: the policy layer — redirects, cookies, one overall
/// timeout, decompression, default headers — over a [`RoundTripper`] (by default a
/// [`Transport`]). Cheap to clone; clones share the transport, its pool and the cookie jar.
///
/// See the [module documentation](self) for the rules it follows.
///
#[cfg_attr(feature = "server", doc = "```")]
#[cfg_attr(not(feature = "server"), doc = "```ignore")]
/// use std::io::Write;
/// use nethttp::{httptest, Client, Request, ResponseWriter};
///
/// let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
///     let _ = write!(w, "{} {}", r.method, r.uri.path());
/// });
/// let client = Client::new(); // one for the whole program: clones share its pool
///
/// let mut resp = client.get(&format!("{}/hello", ts.url()))?;
/// assert_eq!(resp.status, 200);
/// assert_eq!(resp.text()?, "GET /hello"); // read to the end: the connection is reused
///
/// let mut resp = client.post(&format!("{}/items", ts.url()), "text/plain", "milk")?;
/// assert_eq!(resp.text()?, "POST /items");
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

/// The settings of a [`Client`], as the fields of Go's `http.Client`: set the ones you need
/// and take the rest from `Default` (`..ClientConfig::default()`), then
/// [`Client::with_config`]. Connection settings (proxy, connect and header timeouts, pool
/// sizes, TLS) are not here but on the transport's [`TransportConfig`], so no setting can
/// override another.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use nethttp::client::{Client, ClientConfig, Proxy, RedirectPolicy, Transport, TransportConfig};
/// use nethttp::net::TcpDialer;
///
/// let transport = Transport::with_config(TransportConfig {
///     dialer: Arc::new(TcpDialer {
///         connect_timeout: Some(Duration::from_secs(5)),
///         ..TcpDialer::default()
///     }),
///     proxy: Proxy::none(),
///     ..TransportConfig::default()
/// });
/// let client = Client::with_config(ClientConfig {
///     transport: Some(Arc::new(transport)),
///     timeout: Some(Duration::from_secs(30)), // connect, redirects and body together
///     redirect: RedirectPolicy::limited(5),
///     ..ClientConfig::default()
/// });
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// Carries each request (each hop of a redirect chain). `None` means a new [`Transport`]
    /// with [`TransportConfig::default`] for this client (Go's nil `Transport`, except that
    /// clients do not share it). Default is `None`.
    pub transport: Option<Arc<dyn RoundTripper>>,
    /// One deadline for each request as a whole: connecting, every redirect, and reading the
    /// response body (Go's `Client.Timeout`). Past it, the request — or a read of its body —
    /// fails with a timeout naming the phase it was in. `None` means no overall limit (a
    /// request's own deadline still applies). Default is `None`.
    pub timeout: Option<Duration>,
    /// Which redirects to follow (Go's `CheckRedirect`). Default is
    /// [`RedirectPolicy::limited`]`(10)`.
    pub redirect: RedirectPolicy,
    /// Where cookies are kept and looked up, per hop. `None` keeps no cookies. Default is
    /// `None`; with feature `cookies`, `Some(Arc::new(Jar::new()))` gives a
    /// `Jar`, which may be shared with other clients.
    pub jar: Option<Arc<dyn CookieJar>>,
    /// Whether to ask for gzip and decode gzip and deflate bodies (Go's `DisableCompression`,
    /// inverted). Without feature `gzip` this has no effect. Default is `true` with feature
    /// `gzip`, `false` without.
    ///
    /// The request is marked, not given a field: nethttp's transports ([`Transport`] over
    /// HTTP/1 and HTTP/2, and a [`ClientConn`]) write `Accept-Encoding: gzip` after the
    /// request's own fields, as Go's `Transport` does, so a [`RoundTripper`] of your own finds
    /// no `Accept-Encoding` the client added in `headers`. It still has gzip asked for when it
    /// hands on the request, its [`try_clone`](Request::try_clone), or the request back from
    /// [`into_http`](Request::into_http) and [`from_http`](Request::from_http); a request it
    /// builds anew is not marked. To send no `Accept-Encoding: gzip` for a marked request, set
    /// the field yourself (`identity` asks for the body as it is).
    #[cfg_attr(not(feature = "clientconn"), doc = "")]
    #[cfg_attr(not(feature = "clientconn"), doc = "[`ClientConn`]: crate#features")]
    pub gzip: bool,
    /// Header fields added to every request that does not set them itself. Default is
    /// empty.
    pub default_headers: HeaderMap,
    /// The limit of [`Response::bytes`], [`Response::text`] and `Response::json`, in bytes;
    /// zero makes every such read of a non-empty body fail. Default is
    /// [`DEFAULT_BODY_LIMIT`] (10 MiB).
    pub body_limit: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            transport: None,
            timeout: None,
            redirect: RedirectPolicy::default(),
            jar: None,
            gzip: cfg!(feature = "gzip"),
            default_headers: HeaderMap::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("transport", &self.transport.as_ref().map(|_| "custom"))
            .field("timeout", &self.timeout)
            .field("redirect", &self.redirect)
            .field("jar", &self.jar.is_some())
            .field("gzip", &self.gzip)
            .field("default_headers", &self.default_headers)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

/// A client's settings, fixed when it is made, with the transport resolved (the config's
/// `transport` is then unused).
struct ClientInner {
    transport: Arc<dyn RoundTripper>,
    cfg: ClientConfig,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings ([`ClientConfig::default`]) and a new
    /// [`Transport`] (proxies from the environment).
    pub fn new() -> Client {
        Client::with_config(ClientConfig::default())
    }

    /// A client with the settings `config`.
    pub fn with_config(mut cfg: ClientConfig) -> Client {
        let transport = cfg
            .transport
            .take()
            .unwrap_or_else(|| Arc::new(Transport::new()));
        Client {
            inner: Arc::new(ClientInner { transport, cfg }),
        }
    }

    /// A client with the default settings sending through `transport`: shorthand for
    /// [`with_config`](Self::with_config) with only [`ClientConfig::transport`] set.
    pub fn with_transport(transport: impl RoundTripper) -> Client {
        Client::with_config(ClientConfig {
            transport: Some(Arc::new(transport)),
            ..ClientConfig::default()
        })
    }

    /// A request to build step by step and [`send`](RequestBuilder::send).
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url)
    }

    /// Sends `req`, following the client's policy (redirects, cookies, timeout,
    /// decompression).
    ///
    /// # Errors
    ///
    /// As [`RoundTripper::round_trip`], for any request of the chain;
    /// [`ErrorKind::TooManyRedirects`](crate::ErrorKind::TooManyRedirects) or the error of a
    /// custom [`RedirectPolicy`]; [`Malformed::Location`](crate::error::Malformed::Location)
    /// for a redirect that cannot be followed.
    pub fn send(&self, req: Request) -> Result<Response> {
        self.execute(req)
    }

    fn simple(&self, method: Method, url: &str, body: Option<(&str, Body)>) -> Result<Response> {
        let mut req = Request::new(method, url)?;
        if let Some((content_type, body)) = body {
            if !content_type.is_empty() {
                let v = crate::HeaderValue::from_str(content_type)
                    .map_err(|e| Error::with_source(crate::ErrorKind::InvalidInput, e))?;
                req.headers.insert(http::header::CONTENT_TYPE, v);
            }
            req.replace_body(body);
        }
        self.send(req)
    }

    /// `GET url`. The response comes back once its head has arrived; its body streams from
    /// the connection as you read it (Go's `http.Get`, minus the global client).
    ///
    #[cfg_attr(feature = "server", doc = "```")]
    #[cfg_attr(not(feature = "server"), doc = "```ignore")]
    /// use std::io::Write;
    /// use nethttp::{httptest, Client, Request, ResponseWriter};
    ///
    /// let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
    ///     let _ = w.write_all(&[b'x'; 100_000]);
    /// });
    /// let client = Client::new();
    /// let mut resp = client.get(ts.url())?.error_for_status()?; // 4xx and 5xx become errors
    /// // Stream the body anywhere (a file, a hasher) instead of holding it in memory:
    /// let mut sink = Vec::new();
    /// let n = std::io::copy(resp.body(), &mut sink).map_err(nethttp::Error::from)?;
    /// assert_eq!(n, 100_000);
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn get(&self, url: &str) -> Result<Response> {
        self.simple(Method::GET, url, None)
    }

    /// `HEAD url`.
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn head(&self, url: &str) -> Result<Response> {
        self.simple(Method::HEAD, url, None)
    }

    /// `POST url` with `body` of `content_type` (empty: no Content-Type).
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn post(&self, url: &str, content_type: &str, body: impl Into<Body>) -> Result<Response> {
        self.simple(Method::POST, url, Some((content_type, body.into())))
    }

    /// `PUT url` with `body` of `content_type` (empty: no Content-Type).
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn put(&self, url: &str, content_type: &str, body: impl Into<Body>) -> Result<Response> {
        self.simple(Method::PUT, url, Some((content_type, body.into())))
    }

    /// `DELETE url`.
    ///
    /// # Errors
    ///
    /// An invalid URL, or as [`send`](Self::send).
    pub fn delete(&self, url: &str) -> Result<Response> {
        self.simple(Method::DELETE, url, None)
    }

    /// Go's `Client.do`: one request, then each redirect the policy allows.
    fn execute(&self, mut req: Request) -> Result<Response> {
        let (c, transport) = (&self.inner.cfg, &self.inner.transport);
        // One deadline for the whole exchange: every hop and the final body read.
        let own = req
            .extensions
            .get::<RequestOptions>()
            .and_then(|o| o.deadline);
        if let Some(d) = crate::deadline::earliest(own, crate::deadline::after(c.timeout)) {
            RequestOptions::of_mut(&mut req).deadline = Some(d);
        }
        for name in c.default_headers.keys() {
            if !req.headers.contains_key(name) {
                for v in c.default_headers.get_all(name) {
                    req.headers.append(name.clone(), v.clone());
                }
            }
        }
        // Every hop starts from the first request's fields (Go's makeHeadersCopier).
        let mut initial_headers = req.headers.clone();
        let extensions = req.extensions.clone();
        let replay = req.body().try_clone();
        let had_body = !req.body().is_empty();
        let mut body_dropped = false;
        let mut strip_sensitive = false;
        // The URLs sent so far; empty (no allocation) until a response is a redirect.
        let mut via: Vec<Uri> = Vec::new();
        loop {
            let method = req.method.clone();
            let Hop { decode, typed } = self.prepare_hop(&mut req);
            let sent_url = req.uri.clone();
            let mut resp = transport
                .round_trip(req)
                .map_err(|e| e.with_request(Some(&method), &sent_url))?;
            resp.set_body_limit(c.body_limit);
            if let Some(jar) = &c.jar {
                let mut set = resp.headers.get_all(header::SET_COOKIE).iter();
                jar.set_cookies(&sent_url, &mut set);
            }

            let Some((next_method, keep_body)) = redirect::behavior(resp.status, &method) else {
                return Ok(finish(resp, decode, &method));
            };
            let Some(location) = resp.headers.get(header::LOCATION) else {
                // 3xx without Location happen in the wild (Go issues 17773, 49281).
                return Ok(finish(resp, decode, &method));
            };
            // The URL as the caller gave it (with its credentials) resolves the redirect.
            let url = typed.unwrap_or_else(|| sent_url.clone());
            via.push(sent_url);
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            let keep_body = keep_body && !body_dropped;
            let next_body = if keep_body && had_body {
                match replay.as_ref().and_then(Body::try_clone) {
                    Some(b) => b,
                    // A 307/308 must resend the body, which cannot be produced again.
                    None => return Ok(finish(resp, decode, &method)),
                }
            } else {
                Body::empty()
            };
            // Any scheme here: the policy sees the redirect before it is refused as
            // unfollowable (Go's order), so a policy that stops gets the response back.
            let next_url = match redirect::resolve_any(&url, &location) {
                Ok(u) => u,
                Err(e) => {
                    redirect::drain(resp);
                    return Err(e.with_request(Some(&method), via.last().unwrap_or(&url)));
                }
            };

            if c.jar.is_some() {
                // A cookie the caller set that the redirect response sets anew is left to the
                // jar (Go issue 17494).
                forget_reset_cookies(&mut initial_headers, &resp.headers);
            }
            let mut headers = initial_headers.clone();
            if !strip_sensitive
                && !redirect::same_site(&via[0], &redirect::strip_userinfo(&next_url))
            {
                strip_sensitive = true;
            }
            if strip_sensitive {
                for name in &redirect::SENSITIVE {
                    headers.remove(name);
                }
            }
            // A proxy credential is for the next proxy only (RFC 9110 §11.7.2), and the next
            // hop may go direct or through another proxy: never sent on. Credentials in the
            // proxy's URL are added by the transport per hop.
            headers.remove(header::PROXY_AUTHORIZATION);
            if !keep_body {
                body_dropped = true;
                for name in &redirect::BODY_FIELDS {
                    headers.remove(name);
                }
            }
            // A Host set by the caller survives a relative redirect only (Go issue 22233).
            if !redirect::is_relative(&location) {
                headers.remove(header::HOST);
            }
            match redirect::referer(&url, &next_url) {
                Some(r) => {
                    headers.insert(header::REFERER, r);
                }
                None => {
                    headers.remove(header::REFERER);
                }
            }
            let mut next = Request::from_parts(
                next_method,
                next_url,
                http::Version::HTTP_11,
                headers,
                next_body,
                None,
            );
            next.extensions = extensions.clone();

            match c.redirect.check(resp.status, &next, &via) {
                RedirectAction::Follow => {
                    if let Err(e) = redirect::check_followable(&next.uri, &location) {
                        redirect::drain(resp);
                        return Err(e.with_request(Some(&method), via.last().unwrap_or(&url)));
                    }
                }
                RedirectAction::Stop => return Ok(finish(resp, decode, &method)),
                RedirectAction::Error(e) => {
                    redirect::drain(resp);
                    let last = via.last().unwrap_or(&url);
                    return Err(e.with_request(Some(&method), last));
                }
            }
            redirect::drain(resp);
            req = next;
        }
    }

    /// Adds what the client sends on every hop: credentials from the URL, cookies from the
    /// jar; and marks the request to ask for gzip (the transport writes `Accept-Encoding`).
    fn prepare_hop(&self, req: &mut Request) -> Hop {
        let c = &self.inner.cfg;
        let mut typed = None;
        // Credentials in the URL become Authorization (Go's send) and never go on the wire.
        if let Some((user, password)) = redirect::userinfo(&req.uri) {
            if !req.headers.contains_key(header::AUTHORIZATION) {
                req.headers.insert(
                    header::AUTHORIZATION,
                    redirect::basic_auth(&user, password.as_deref()),
                );
            }
            let stripped = redirect::strip_userinfo(&req.uri);
            typed = Some(std::mem::replace(&mut req.uri, stripped));
        }
        if let Some(jar) = &c.jar {
            if let Some(v) = jar.cookies(&req.uri) {
                add_cookie(&mut req.headers, v);
            }
        }
        // Go's transport: ask for gzip unless the caller chose an encoding, wants a range
        // (offsets would count compressed bytes) or sends HEAD.
        if c.gzip
            && !req.headers.contains_key(header::ACCEPT_ENCODING)
            && !req.headers.contains_key(header::RANGE)
            && req.method != Method::HEAD
        {
            #[cfg(feature = "gzip")]
            {
                // Written by the transport, after the request's fields (`accept_encoding`).
                req.ask_gzip();
                return Hop {
                    decode: true,
                    typed,
                };
            }
        }
        Hop {
            decode: false,
            typed,
        }
    }
}

/// What a client asks the transport to send when it asked for gzip on a request
/// ([`Request::asks_gzip`]).
static ACCEPT_GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// The `Accept-Encoding` a transport adds to `req` when the request has none of its own:
/// `gzip` if its client asked for gzip, else none.
pub(crate) fn accept_encoding(req: &Request) -> Option<&'static HeaderValue> {
    req.asks_gzip().then_some(&ACCEPT_GZIP)
}

/// What [`Client::prepare_hop`] did to a request.
struct Hop {
    /// The client asked for gzip itself, so it decodes the response.
    decode: bool,
    /// The URL as it was given, when the credentials in it were taken out.
    typed: Option<Uri>,
}

/// The last step for a response handed to the caller: decoding, if the client asked for it.
#[cfg(feature = "gzip")]
fn finish(mut resp: Response, decode: bool, method: &Method) -> Response {
    if decode {
        decompress::decode_response(&mut resp, method);
    }
    resp
}

/// Without feature `gzip` the client never asks for an encoding, so there is nothing to do.
#[cfg(not(feature = "gzip"))]
fn finish(resp: Response, _decode: bool, _method: &Method) -> Response {
    resp
}

/// Removes from the caller's `Cookie` field the cookies that `response` sets, so the jar's
/// newer values go out instead of the stale ones (Go's `makeHeadersCopier`).
fn forget_reset_cookies(headers: &mut HeaderMap, response: &HeaderMap) {
    let Some(cookie) = headers.get(header::COOKIE) else {
        return;
    };
    let reset: Vec<&[u8]> = response
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| crate::proto::split_bytes(v.as_bytes(), b'=').next())
        .map(<[u8]>::trim_ascii)
        .collect();
    if reset.is_empty() {
        return;
    }
    let kept: Vec<&[u8]> = crate::proto::split_bytes(cookie.as_bytes(), b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| {
            let name = crate::proto::split_bytes(pair, b'=')
                .next()
                .unwrap_or(b"")
                .trim_ascii();
            !pair.is_empty() && !reset.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        headers.remove(header::COOKIE);
        return;
    }
    if let Ok(mut v) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
        v.set_sensitive(true);
        headers.insert(header::COOKIE, v);
    }
}

/// Appends `cookies` to the `Cookie` field (one field, `; `-separated, RFC 6265 §5.4).
fn add_cookie(headers: &mut HeaderMap, cookies: HeaderValue) {
    let merged = match headers.get(header::COOKIE) {
        Some(old) if !old.is_empty() => {
            let mut v = old.as_bytes().to_vec();
            v.extend_from_slice(b"; ");
            v.extend_from_slice(cookies.as_bytes());
            HeaderValue::from_bytes(&v).ok()
        }
        _ => Some(cookies),
    };
    if let Some(mut v) = merged {
        v.set_sensitive(true);
        headers.insert(header::COOKIE, v);
    }
}
