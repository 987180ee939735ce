//! `ClientBuilder` (a client's settings) and `RequestBuilder` (one request: headers, query,
//! form, JSON, credentials); the policy they configure is in mod.rs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};

use super::cookies::CookieJar;
use super::proxy::Proxy;
use super::redirect::{basic_auth, RedirectPolicy};
use super::response::{Response, DEFAULT_BODY_LIMIT};
use super::transport::{Transport, TransportConfig};
use super::{Client, ClientInner, RoundTripper};
use crate::error::{Error, ErrorKind, Result};
use crate::net::TcpDialer;
use crate::server::{Body, Request};

/// Builds a [`Client`]. Setters take `&mut self`; [`build`](Self::build) may be called more
/// than once (each client gets its own transport, unless one was given).
///
/// ```
/// use std::time::Duration;
/// let mut b = nethttp::Client::builder();
/// b.timeout(Some(Duration::from_secs(10))).no_proxy();
/// let client = b.build();
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    transport: TransportConfig,
    custom: Option<Arc<dyn RoundTripper>>,
    timeout: Option<Duration>,
    redirect: RedirectPolicy,
    jar: Option<Arc<dyn CookieJar>>,
    gzip: bool,
    default_headers: HeaderMap,
    body_limit: u64,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("custom_transport", &self.custom.is_some())
            .field("timeout", &self.timeout)
            .field("redirect", &self.redirect)
            .field("cookies", &self.jar.is_some())
            .field("gzip", &self.gzip)
            .field("default_headers", &self.default_headers)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl ClientBuilder {
    /// The default settings: no overall timeout, [`RedirectPolicy::limited(10)`], no cookie
    /// jar, gzip on (with feature `gzip`), proxies from the environment, a
    /// [`DEFAULT_BODY_LIMIT`] for in-memory reads.
    ///
    /// [`RedirectPolicy::limited(10)`]: RedirectPolicy::limited
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            transport: TransportConfig::default(),
            custom: None,
            timeout: None,
            redirect: RedirectPolicy::default(),
            jar: None,
            gzip: cfg!(feature = "gzip"),
            default_headers: HeaderMap::new(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// One deadline for each request as a whole: connecting, every redirect, and reading the
    /// response body (Go's `Client.Timeout`). Past it, the request — or a read of its body —
    /// fails with a timeout naming the phase it was in. `None` means no overall limit.
    /// Default is `None`.
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// How long opening a connection may take. `None` means no limit beyond the overall
    /// timeout. Default is 30 seconds. Applies to the built-in transport only, and sets its
    /// dialer to a [`TcpDialer`] with the other settings at their defaults (replacing a dialer
    /// set through [`transport_builder`](Self::transport_builder)).
    pub fn connect_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.transport.dialer = Arc::new(TcpDialer {
            connect_timeout: timeout,
            ..TcpDialer::default()
        });
        self
    }

    /// How long to wait for a response head once the request is written. `None` means no
    /// limit. Default is `None`. Applies to the built-in transport only.
    pub fn response_header_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.transport.response_header_timeout = timeout;
        self
    }

    /// Which redirects to follow. Default is [`RedirectPolicy::limited`]`(10)`.
    pub fn redirect(&mut self, policy: RedirectPolicy) -> &mut Self {
        self.redirect = policy;
        self
    }

    /// With `true`, each built client gets a new, empty [`Jar`](super::Jar); with `false`, no
    /// cookies are kept. Default is `false`.
    #[cfg(feature = "cookies")]
    pub fn cookie_store(&mut self, enable: bool) -> &mut Self {
        self.jar = if enable {
            Some(Arc::new(super::Jar::new()))
        } else {
            None
        };
        self
    }

    /// Keeps cookies in `jar`, which may be shared with other clients.
    pub fn cookie_jar<J: CookieJar>(&mut self, jar: Arc<J>) -> &mut Self {
        self.jar = Some(jar);
        self
    }

    /// Which requests go through a proxy. Default is [`Proxy::from_env`]. Applies to the
    /// built-in transport only.
    pub fn proxy(&mut self, proxy: Proxy) -> &mut Self {
        self.transport.proxy = proxy;
        self
    }

    /// No proxy, whatever the environment says.
    pub fn no_proxy(&mut self) -> &mut Self {
        self.proxy(Proxy::none())
    }

    /// Whether to ask for gzip and decode gzip and deflate bodies. Default is `true`.
    #[cfg(feature = "gzip")]
    pub fn gzip(&mut self, enable: bool) -> &mut Self {
        self.gzip = enable;
        self
    }

    /// Header fields added to every request that does not set them itself.
    pub fn default_headers(&mut self, headers: HeaderMap) -> &mut Self {
        self.default_headers = headers;
        self
    }

    /// The limit of [`Response::bytes`], [`Response::text`] and `Response::json`. Default is
    /// [`DEFAULT_BODY_LIMIT`] (10 MiB).
    pub fn body_limit(&mut self, limit: u64) -> &mut Self {
        self.body_limit = limit;
        self
    }

    /// Sends through `transport` instead of a new [`Transport`](super::Transport); the
    /// transport settings of this builder (proxy, connect and header timeouts) then do not
    /// apply.
    pub fn transport(&mut self, transport: impl RoundTripper) -> &mut Self {
        self.custom = Some(Arc::new(transport));
        self
    }

    /// The settings of the built-in transport (pool sizes, keep-alives, user agent...).
    pub fn transport_builder(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }

    /// A client with these settings.
    pub fn build(&self) -> Client {
        let transport = match &self.custom {
            Some(t) => Arc::clone(t),
            None => Arc::new(Transport::with_config(self.transport.clone())),
        };
        Client {
            inner: Arc::new(ClientInner {
                transport,
                timeout: self.timeout,
                redirect: self.redirect.clone(),
                jar: self.jar.clone(),
                gzip: self.gzip,
                default_headers: self.default_headers.clone(),
                body_limit: self.body_limit,
            }),
        }
    }
}

/// One request, built step by step and sent with [`send`](Self::send); from
/// [`Client::request`]. Each step that can fail (a bad header, say) keeps the first error and
/// `send` returns it.
///
/// ```no_run
/// # let client = nethttp::Client::new();
/// let resp = client
///     .request(nethttp::Method::GET, "http://127.0.0.1:8080/items")
///     .query(&[("tag", "a b"), ("limit", "10")])
///     .header("accept", "application/json")
///     .basic_auth("ann", Some("secret"))
///     .send()?;
/// # let _ = resp; Ok::<(), nethttp::Error>(())
/// ```
#[must_use = "a request builder does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    req: Result<Request>,
    timeout: Option<Duration>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("request", &self.req)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client,
            req: Request::new(method, url),
            timeout: None,
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Request) -> Result<()>) -> Self {
        if let Ok(req) = &mut self.req {
            if let Err(e) = f(req) {
                self.req = Err(e);
            }
        }
        self
    }

    /// Adds a header field (after any of the same name).
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|req| {
            let n = HeaderName::try_from(name).map_err(|e| Error::from(e.into()))?;
            let v = HeaderValue::try_from(value).map_err(|e| Error::from(e.into()))?;
            req.headers.append(n, v);
            Ok(())
        })
    }

    /// Adds every field of `headers`.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|req| {
            let mut last = None;
            for (name, value) in headers {
                if let Some(n) = name {
                    last = Some(n);
                }
                if let Some(n) = &last {
                    req.headers.append(n.clone(), value);
                }
            }
            Ok(())
        })
    }

    /// Appends `pairs` to the URL's query, `application/x-www-form-urlencoded` as HTML forms
    /// and Go's `url.Values.Encode` do (`a b&c` becomes `a+b%26c`).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.with(|req| {
            if pairs.is_empty() {
                return Ok(());
            }
            let encoded = encode_pairs(pairs);
            let mut parts = req.uri.clone().into_parts();
            let (path, old) = match &parts.path_and_query {
                Some(pq) => (pq.path().to_string(), pq.query().map(str::to_string)),
                None => ("/".to_string(), None),
            };
            let query = match old.filter(|q| !q.is_empty()) {
                Some(q) => format!("{q}&{encoded}"),
                None => encoded,
            };
            parts.path_and_query = Some(
                format!("{path}?{query}")
                    .parse()
                    .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?,
            );
            req.uri = Uri::from_parts(parts)
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            Ok(())
        })
    }

    /// Sends `pairs` as an `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.with(|req| {
            req.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            req.replace_body(Body::from(encode_pairs(pairs)));
            Ok(())
        })
    }

    /// Sends `value` serialised as JSON, with `Content-Type: application/json`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        self.with(|req| {
            let body = serde_json::to_vec(value)
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            req.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            req.replace_body(Body::from(body));
            Ok(())
        })
    }

    /// Sets `Authorization: Basic` for `user` and `password` (RFC 7617).
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.with(|req| {
            req.headers
                .insert(header::AUTHORIZATION, basic_auth(user, password));
            Ok(())
        })
    }

    /// Sets `Authorization: Bearer token` (RFC 6750).
    pub fn bearer_auth(self, token: &str) -> Self {
        self.with(|req| {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            v.set_sensitive(true);
            req.headers.insert(header::AUTHORIZATION, v);
            Ok(())
        })
    }

    /// A deadline for this request as a whole (redirects and body included), counted from
    /// [`send`](Self::send); the client's own timeout still applies if it is sooner.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the body: anything that converts into a [`Body`] (`&str`, `String`, `Vec<u8>`,
    /// `bytes::Bytes`, a [`Body::replayable`] or [`Body::from_reader`]).
    pub fn body(self, body: impl Into<Body>) -> Self {
        let body = body.into();
        self.with(|req| {
            req.replace_body(body);
            Ok(())
        })
    }

    /// The request as built, without sending it.
    ///
    /// # Errors
    ///
    /// The first error of a building step ([`ErrorKind::InvalidInput`]).
    pub fn build(self) -> Result<Request> {
        let mut req = self.req?;
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        Ok(req)
    }

    /// Sends the request through the client.
    ///
    /// # Errors
    ///
    /// The first error of a building step, or as [`Client::send`].
    pub fn send(self) -> Result<Response> {
        let client = self.client.clone();
        client.send(self.build()?)
    }
}

fn encode_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k.as_ref(), v.as_ref());
    }
    ser.finish()
}
