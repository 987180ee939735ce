//! Proxy selection (Go's `Transport.Proxy`, `ProxyFromEnvironment` and the
//! `x/net/http/httpproxy` rules) and dialing through a proxy: TLS to an `https://` proxy, the
//! `CONNECT` handshake with its extra fields and response hook, the SOCKS5 handshake
//! (socks.rs); the transport (transport.rs) keys its pool by [`ConnKey`] and calls
//! [`dial_conn`].

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Uri};
use parking_lot::Mutex;

use super::redirect::{basic_auth, userinfo};
#[cfg(feature = "socks")]
use super::socks;
use super::trace::ClientTrace;
use super::transport::TransportConfig;
use crate::bufio::{self, ReadBuf};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::{Stream, Target};
use crate::proto::client::{self as exchange, Exchange, Next};
use crate::proto::head::{HeadScanner, ResponseHead};
use crate::proto::Limits;
use crate::Request;

/// How long a `CONNECT` or SOCKS5 handshake may take when the request has no deadline (Go's
/// one minute).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Go's `GetProxyConnectHeader`, for
/// [`TransportConfig::get_proxy_connect_header`]: the fields of the `CONNECT` sent to the
/// proxy at the URL (the first argument, without credentials) for a tunnel to the `host:port`
/// (the second).
pub type ProxyConnectHeaderFn = dyn Fn(&Uri, &str) -> Result<HeaderMap> + Send + Sync;

/// Go's `OnProxyConnectResponse`, for [`TransportConfig::on_proxy_connect_response`]: sees the
/// proxy's URL (without credentials), the `CONNECT` request as sent and the head of the
/// proxy's answer; `Err` aborts the dial with that error.
pub type ProxyConnectResponseFn =
    dyn Fn(&Uri, &http::Request<()>, &ResponseHead) -> Result<()> + Send + Sync;

/// A TLS handshake with the named server over a stream: the transport's, for `https://`
/// proxies.
pub(crate) type TlsTo<'a> = dyn Fn(Box<dyn Stream>, &str) -> Result<Box<dyn Stream>> + 'a;

/// The function behind [`Proxy::custom`].
type ProxyFn = dyn Fn(&Request) -> Result<Option<Uri>> + Send + Sync;

/// Which requests go through which proxy (Go's `Transport.Proxy`).
///
/// The default for a [`Transport`](super::Transport) and a [`Client`](super::Client) is
/// [`Proxy::from_env`], as Go's `DefaultTransport`. The proxy URL's scheme says how the proxy
/// is spoken to:
///
/// - `http://`: plain HTTP. `http://` requests go to it in absolute form
///   (`GET http://origin/path`); `https://` requests go through a `CONNECT` tunnel, with TLS
///   to the origin inside it.
/// - `https://` (feature `tls`): the same, over TLS to the proxy, so an `https://` origin
///   gets TLS inside TLS. The proxy's certificate is checked for the proxy's host name with
///   the transport's [`ClientTls`] settings, the same as an origin's (Go uses its one
///   `TLSClientConfig` for both): add a private CA that signed the proxy's certificate to
///   `extra_roots`.
/// - `socks5://` and `socks5h://` (feature `socks`, on by default): a SOCKS5 tunnel to the
///   origin for every request, with TLS inside it for `https://` origins. The proxy resolves
///   host names in both cases, as in Go. Without the feature such a proxy fails the request
///   with [`ErrorKind::InvalidInput`] before anything is dialled.
///
/// `user:password@` in the URL is sent as `Proxy-Authorization: Basic` to an HTTP proxy (on
/// `CONNECT`, and on each request forwarded in absolute form), and as username/password
/// authentication (RFC 1929) to a SOCKS5 proxy. Extra `CONNECT` fields and a hook on the
/// proxy's answer are transport settings:
/// [`TransportConfig::proxy_connect_header`], [`get_proxy_connect_header`] and
/// [`on_proxy_connect_response`].
///
/// [`get_proxy_connect_header`]: TransportConfig::get_proxy_connect_header
/// [`on_proxy_connect_response`]: TransportConfig::on_proxy_connect_response
#[cfg_attr(feature = "tls", doc = "[`ClientTls`]: crate::tls::ClientTls")]
#[cfg_attr(not(feature = "tls"), doc = "[`ClientTls`]: crate#features")]
///
/// ```
/// use nethttp::client::Proxy;
/// let p = Proxy::all("http://user:secret@proxy.internal:3128")?.no_proxy("internal, 10.0.0.0/8");
/// let via = p.url_for(&"http://example.com/".parse().unwrap())?;
/// assert_eq!(via.unwrap().to_string(), "http://proxy.internal:3128/");
/// assert!(p.url_for(&"http://db.internal/".parse().unwrap())?.is_none());
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// An `https://` proxy (TLS to the proxy itself) needs feature `tls`:
///
#[cfg_attr(feature = "tls", doc = "```")]
#[cfg_attr(not(feature = "tls"), doc = "```ignore")]
/// use nethttp::client::Proxy;
/// let tls = Proxy::https("https://proxy.internal")?;
/// let via = tls.url_for(&"https://example.com/".parse().unwrap())?;
/// assert_eq!(via.unwrap().to_string(), "https://proxy.internal:443/");
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Proxy {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    /// Set by [`Proxy::custom`]: chooses for each request, and `http` and `https` are unused.
    custom: Option<Arc<ProxyFn>>,
    no_proxy: NoProxy,
    /// Set from the environment: loopback hosts are never proxied, and `HTTP_PROXY` is
    /// refused in a CGI process.
    from_env: bool,
    cgi: bool,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("http", &self.http.as_ref().map(|p| &p.display))
            .field("https", &self.https.as_ref().map(|p| &p.display))
            .field("custom", &self.custom.is_some())
            .field("no_proxy", &self.no_proxy)
            .field("from_env", &self.from_env)
            .field("cgi", &self.cgi)
            .finish()
    }
}

impl Proxy {
    /// No proxy for any request.
    pub fn none() -> Proxy {
        Proxy::default()
    }

    /// The proxies named by `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (or their lower-case
    /// forms; upper case wins), as Go's `ProxyFromEnvironment`: see [`Proxy::from_vars`].
    ///
    /// In a CGI process (`REQUEST_METHOD` set) `HTTP_PROXY` can come from a client's `Proxy:`
    /// header ("httpoxy"), so `http://` requests then fail rather than use it, as in Go.
    pub fn from_env() -> Proxy {
        let var = |upper: &str, lower: &str| {
            [upper, lower]
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
                .unwrap_or_default()
        };
        let mut p = Proxy::from_vars(
            &var("HTTP_PROXY", "http_proxy"),
            &var("HTTPS_PROXY", "https_proxy"),
            &var("NO_PROXY", "no_proxy"),
        );
        p.cgi = std::env::var_os("REQUEST_METHOD").is_some_and(|v| !v.is_empty());
        p
    }

    /// Proxies as given by the values of `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (Go's
    /// `httpproxy.Config`). Empty means none. A proxy value is a URL (`http`, `https`,
    /// `socks5` or `socks5h`) or `host[:port]` (`http` assumed); the port defaults to the
    /// scheme's (80, 443, 1080). A value that cannot be parsed is ignored with a logged
    /// warning, as in Go.
    ///
    /// `NO_PROXY` is a comma-separated list of: `*` (no proxy at all); a domain, which
    /// matches it and its subdomains (`example.com`, also written `*.example.com`); a domain
    /// with a leading dot, which matches subdomains only (`.example.com`); an IP address; an
    /// IP network in CIDR notation (`10.0.0.0/8`); each of the domain and IP forms optionally
    /// with `:port`. Requests to `localhost` and loopback addresses never use these proxies.
    pub fn from_vars(http_proxy: &str, https_proxy: &str, no_proxy: &str) -> Proxy {
        let parse = |name: &str, v: &str| {
            if v.is_empty() {
                return None;
            }
            match ProxyUrl::parse(v) {
                Ok(p) => Some(p),
                Err(e) => {
                    log::warn!("ignoring {name}: {e}");
                    None
                }
            }
        };
        Proxy {
            http: parse("HTTP_PROXY", http_proxy),
            https: parse("HTTPS_PROXY", https_proxy),
            no_proxy: NoProxy::parse(no_proxy),
            from_env: true,
            ..Proxy::default()
        }
    }

    /// Every request through the proxy at `url` (Go's `ProxyURL`), loopback included; add
    /// exceptions with [`no_proxy`](Self::no_proxy). The scheme may be `http`, `https`,
    /// `socks5` or `socks5h` (see the [type docs](Proxy)); `user:password@` in the URL are the
    /// proxy's credentials.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `url` is not a proxy URL.
    pub fn all(url: &str) -> Result<Proxy> {
        let p = ProxyUrl::parse(url)?;
        Ok(Proxy {
            http: Some(p.clone()),
            https: Some(p),
            ..Proxy::default()
        })
    }

    /// `http://` requests through the proxy at `url`; others go direct.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn http(url: &str) -> Result<Proxy> {
        Ok(Proxy {
            http: Some(ProxyUrl::parse(url)?),
            ..Proxy::default()
        })
    }

    /// `https://` requests through the proxy at `url` (in a tunnel); others go direct.
    ///
    /// # Errors
    ///
    /// As [`all`](Self::all).
    pub fn https(url: &str) -> Result<Proxy> {
        Ok(Proxy {
            https: Some(ProxyUrl::parse(url)?),
            ..Proxy::default()
        })
    }

    /// The proxy for each request is what `choose` returns for it, as Go's `Transport.Proxy`
    /// function: `Ok(Some(url))` sends it through the proxy at `url` (any scheme of
    /// [`all`](Self::all), with its credentials), `Ok(None)` sends it direct, and `Err(e)`
    /// fails the request with `e`. Exceptions added with [`no_proxy`](Self::no_proxy) go
    /// direct without asking; nothing else is excluded (loopback neither).
    ///
    /// `choose` sees the request as the transport is about to send it: method, URL, headers
    /// and extensions (where [`RequestOptions`](super::RequestOptions) and values of your own
    /// travel). It runs on the caller's thread for each request and each redirect hop, before
    /// a connection is taken from the pool, so it should be quick. Connections are pooled by
    /// the proxy chosen: requests through different proxies never share one.
    ///
    /// ```
    /// use nethttp::client::Proxy;
    /// use nethttp::{Error, Request, Uri};
    ///
    /// let p = Proxy::custom(|req: &Request| match req.uri.host() {
    ///     Some(h) if h.ends_with(".corp.example") => Ok(None),
    ///     Some("blocked.example") => Err(Error::invalid_input("blocked.example is off limits")),
    ///     _ if req.headers.contains_key("x-use-socks") => {
    ///         Ok(Some(Uri::from_static("socks5://socks.corp.example")))
    ///     }
    ///     _ => Ok(Some(Uri::from_static("http://proxy.corp.example:3128"))),
    /// });
    /// let via = |url: &str| p.url_for(&url.parse().unwrap());
    /// assert_eq!(via("http://db.corp.example/")?, None);
    /// assert_eq!(via("https://example.com/")?.unwrap(), "http://proxy.corp.example:3128/");
    /// let e = via("http://blocked.example/").unwrap_err();
    /// assert_eq!(e.to_string(), "invalid input: blocked.example is off limits");
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn custom<F>(choose: F) -> Proxy
    where
        F: Fn(&Request) -> Result<Option<Uri>> + Send + Sync + 'static,
    {
        Proxy {
            custom: Some(Arc::new(choose)),
            ..Proxy::default()
        }
    }

    /// Adds exceptions in `NO_PROXY` syntax (see [`from_vars`](Self::from_vars)).
    pub fn no_proxy(mut self, list: &str) -> Proxy {
        let more = NoProxy::parse(list);
        self.no_proxy.all |= more.all;
        self.no_proxy.ips.extend(more.ips);
        self.no_proxy.domains.extend(more.domains);
        self
    }

    /// The proxy a GET for `url` would go through, without credentials; `None` for a direct
    /// connection. A [`custom`](Self::custom) function is asked about a GET for `url` with no
    /// headers.
    ///
    /// # Errors
    ///
    /// As for sending such a request: an `https://` proxy in a build without feature `tls`, a
    /// `socks5://` or `socks5h://` proxy in a build without feature `socks`, `HTTP_PROXY` in a
    /// CGI process, a custom function's error or a URL it returned that is
    /// not a proxy URL.
    pub fn url_for(&self, url: &Uri) -> Result<Option<Uri>> {
        let mut req = Request::new(Method::GET, "/")?;
        req.uri = url.clone();
        Ok(self.select(&req)?.map(|p| p.display.clone()))
    }

    /// The proxy for `req`, if any.
    pub(crate) fn select(&self, req: &Request) -> Result<Option<Cow<'_, ProxyUrl>>> {
        let url = &req.uri;
        let scheme = url.scheme_str().unwrap_or("");
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") {
            return Ok(None);
        }
        // No proxy for this scheme: nothing to match the host against (every request of a
        // client without proxies comes this way, so it looks at nothing else).
        let fixed = if self.custom.is_some() {
            None
        } else if https {
            match &self.https {
                Some(p) => Some(p),
                None => return Ok(None),
            }
        } else {
            match &self.http {
                Some(_) if self.cgi => {
                    return Err(Error::invalid_input(
                        "refusing to use HTTP_PROXY in a CGI process (httpoxy)",
                    ))
                }
                Some(p) => Some(p),
                None => return Ok(None),
            }
        };
        let host = url.host().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !self.use_proxy(host, port) {
            return Ok(None);
        }
        let proxy = match (fixed, &self.custom) {
            (Some(p), _) => Cow::Borrowed(p),
            (None, Some(choose)) => match choose(req)? {
                Some(u) => Cow::Owned(ProxyUrl::parse(&u.to_string())?),
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        #[cfg(not(feature = "tls"))]
        if proxy.key.scheme == ProxyScheme::Https {
            return Err(Error::invalid_input(format!(
                "https proxy {} needs the `tls` feature, which this build does not have",
                proxy.display
            )));
        }
        #[cfg(not(feature = "socks"))]
        if !proxy.key.scheme.is_http() {
            return Err(Error::invalid_input(format!(
                "{} proxy {} needs the `socks` feature, which this build does not have",
                proxy.key.scheme.as_str(),
                proxy.display
            )));
        }
        Ok(Some(proxy))
    }

    /// Go's `useProxy`: false for hosts that go direct.
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        if host.is_empty() {
            return true;
        }
        let host = host.to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        // Go's IP.IsLoopback holds for ::ffff:127.0.0.1 too.
        if self.from_env
            && (host == "localhost" || ip.is_some_and(|ip| ip.to_canonical().is_loopback()))
        {
            return false;
        }
        !self.no_proxy.matches(&host, port, ip)
    }
}

/// A username and password for a SOCKS5 proxy, from its URL (RFC 1929).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SocksAuth {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl fmt::Debug for SocksAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocksAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// How a proxy is spoken to: the scheme of its URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProxyScheme {
    Http,
    Https,
    Socks5,
    Socks5h,
}

impl ProxyScheme {
    fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    /// An HTTP proxy (over TCP or TLS), which forwards `http://` requests in absolute form.
    fn is_http(self) -> bool {
        matches!(self, ProxyScheme::Http | ProxyScheme::Https)
    }
}

/// A parsed proxy URL.
#[derive(Clone, Debug)]
pub(crate) struct ProxyUrl {
    /// How to reach the proxy, and the credentials to give it: the part of a pool key.
    pub(crate) key: ProxyKey,
    /// The URL without credentials, for errors and [`Proxy::url_for`].
    display: Uri,
}

impl ProxyUrl {
    /// Go's `parseProxy`: a URL, or `host[:port]` taken as `http://host[:port]`.
    fn parse(s: &str) -> Result<ProxyUrl> {
        let s = s.trim();
        let scheme_of = |u: &Uri| match u.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => Some(ProxyScheme::Http),
            Some("https") => Some(ProxyScheme::Https),
            Some("socks5") => Some(ProxyScheme::Socks5),
            Some("socks5h") => Some(ProxyScheme::Socks5h),
            _ => None,
        };
        let parsed = s.parse::<Uri>().ok();
        let (uri, scheme) = match parsed.and_then(|u| scheme_of(&u).map(|scheme| (u, scheme))) {
            Some(known) => known,
            // A value with a scheme we do not know, or that does not parse, is not taken for
            // `host:port`.
            None if s.contains("://") => {
                return Err(Error::invalid_input(format!(
                    "invalid proxy url {s:?}: want http, https, socks5 or socks5h://host:port"
                )))
            }
            None => {
                let u = format!("http://{s}")
                    .parse::<Uri>()
                    .map_err(|e| Error::invalid_input(format!("invalid proxy url {s:?}: {e}")))?;
                (u, ProxyScheme::Http)
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::invalid_input(format!("invalid proxy url {s:?}: no host")))?;
        let port = uri.port_u16().unwrap_or(match scheme {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        });
        let creds = userinfo(&uri);
        let (auth, socks_auth) = match (creds, scheme.is_http()) {
            (None, _) => (None, None),
            (Some((u, p)), true) => (Some(basic_auth(&u, p.as_deref())), None),
            (Some((user, p)), false) => (
                None,
                Some(SocksAuth {
                    user,
                    password: p.unwrap_or_default(),
                }),
            ),
        };
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let display = format!("{}://{host}:{port}/", scheme.as_str())
            .parse::<Uri>()
            .map_err(|e| Error::invalid_input(format!("invalid proxy url {s:?}: {e}")))?;
        Ok(ProxyUrl {
            key: ProxyKey {
                scheme,
                addr: Target {
                    scheme: scheme.as_str().to_string(),
                    host: bare_host.to_string(),
                    port,
                },
                auth,
                socks_auth,
            },
            display,
        })
    }
}

/// A proxy as part of a pool key: connections through different proxies, proxies spoken to
/// differently (`http://` or `https://` on one address), or with different credentials, are
/// never shared.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ProxyKey {
    pub(crate) scheme: ProxyScheme,
    /// The proxy's own address.
    pub(crate) addr: Target,
    /// `Proxy-Authorization` for an HTTP proxy whose URL had credentials.
    pub(crate) auth: Option<HeaderValue>,
    /// The username and password for a SOCKS5 proxy whose URL had credentials.
    pub(crate) socks_auth: Option<SocksAuth>,
}

impl ProxyKey {
    /// The proxy's URL without credentials, as the `CONNECT` hooks see it.
    fn url(&self) -> Result<Uri> {
        format!("{}://{}/", self.scheme.as_str(), self.addr)
            .parse::<Uri>()
            .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))
    }
}

/// What the transport pools connections by (Go's `connectMethodKey`): the origin, and the
/// proxy in between, if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConnKey {
    pub(crate) target: Target,
    pub(crate) proxy: Option<ProxyKey>,
}

impl ConnKey {
    /// The key for a request to `target` through `proxy`.
    pub(crate) fn new(target: Target, proxy: Option<&ProxyUrl>) -> ConnKey {
        let Some(p) = proxy else {
            return ConnKey {
                target,
                proxy: None,
            };
        };
        // An HTTP proxy takes forwarded requests for any origin on one connection, so the
        // origin is not part of the key (Go's connectMethod.key); a tunnel leads to one origin.
        let target = if target.scheme == "http" && p.key.scheme.is_http() {
            Target {
                scheme: target.scheme,
                host: String::new(),
                port: 0,
            }
        } else {
            target
        };
        ConnKey {
            target,
            proxy: Some(p.key.clone()),
        }
    }

    /// True if requests go to an HTTP proxy as they are, in absolute form (RFC 9112 §3.2.2),
    /// rather than through a tunnel.
    pub(crate) fn forwards(&self) -> bool {
        self.target.scheme == "http" && self.proxy.as_ref().is_some_and(|p| p.scheme.is_http())
    }

    /// The `Proxy-Authorization` each forwarded request carries.
    pub(crate) fn forward_auth(&self) -> Option<&HeaderValue> {
        if self.forwards() {
            self.proxy.as_ref().and_then(|p| p.auth.as_ref())
        } else {
            None
        }
    }
}

impl fmt::Display for ConnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.proxy {
            None => write!(f, "{}", self.target),
            Some(p) if self.forwards() => write!(f, "http via {}://{}", p.scheme.as_str(), p.addr),
            Some(p) => write!(f, "{} via {}://{}", self.target, p.scheme.as_str(), p.addr),
        }
    }
}

/// Opens a connection for `key`: to the origin; or to the proxy (with TLS to an `https://`
/// proxy through `tls`, which takes the stream and the server name) and then, unless requests
/// are forwarded to it as they are, a tunnel to the origin (`CONNECT` with the transport's
/// extra fields and hook, or SOCKS5). TLS to an `https` origin is the caller's next step, over
/// whatever this returns.
pub(crate) fn dial_conn(
    cfg: &TransportConfig,
    key: &ConnKey,
    deadline: Option<Instant>,
    trace: &ClientTrace,
    tls: &TlsTo<'_>,
) -> Result<Box<dyn Stream>> {
    let Some(proxy) = &key.proxy else {
        return cfg.dialer.dial(&key.target, deadline, trace);
    };
    let mut stream = cfg.dialer.dial(&proxy.addr, deadline, trace)?;
    if proxy.scheme == ProxyScheme::Https {
        stream = tls(stream, &proxy.addr.host)?;
    }
    if key.forwards() {
        return Ok(stream);
    }
    let deadline = deadline.or_else(|| Instant::now().checked_add(CONNECT_TIMEOUT));
    if !proxy.scheme.is_http() {
        #[cfg(feature = "socks")]
        {
            socks::handshake(&*stream, &key.target, proxy.socks_auth.as_ref(), deadline)?;
            return Ok(stream);
        }
        // `Proxy::select` refuses such a proxy first; never speak HTTP to a SOCKS proxy.
        #[cfg(not(feature = "socks"))]
        return Err(Error::invalid_input(format!(
            "{} proxy needs the `socks` feature, which this build does not have",
            proxy.scheme.as_str()
        )));
    }
    let url = proxy.url()?;
    let mut headers = match &cfg.get_proxy_connect_header {
        Some(get) => Cow::Owned(get(&url, &key.target.to_string())?),
        None => Cow::Borrowed(&cfg.proxy_connect_header),
    };
    // Go's CONNECT carries its User-Agent too, unless the fields name another.
    if let Some(ua) = &cfg.user_agent {
        if !headers.contains_key(USER_AGENT) {
            headers.to_mut().insert(USER_AGENT, ua.clone());
        }
    }
    let limits = Limits::response(cfg.max_response_header_bytes);
    let connect = Connect {
        proxy_auth: proxy.auth.as_ref(),
        headers: &headers,
        on_response: cfg.on_proxy_connect_response.as_deref().map(|f| (&url, f)),
        limits,
    };
    // For an https origin the transport then runs TLS inside the tunnel, with the origin's
    // host as the server name, exactly as over a direct connection.
    Ok(Box::new(connect.run(stream, &key.target, deadline)?))
}

/// Asks the HTTP proxy on `stream` for a tunnel to `target` (`CONNECT host:port`, RFC 9110
/// §9.3.6), sending `proxy_auth` as `Proxy-Authorization`. With no `deadline` the handshake
/// may take a minute, as in Go. On success the stream is a raw byte pipe to `target`; TLS for
/// an `https` origin goes on top of it. (A [`Transport`](super::Transport) does this itself,
/// with its [`proxy_connect_header`](TransportConfig::proxy_connect_header) and
/// [`on_proxy_connect_response`](TransportConfig::on_proxy_connect_response) settings.)
///
/// With [`ClientConn`] (feature `clientconn`) on top:
///
/// ```no_run
/// # #[cfg(feature = "clientconn")]
/// # fn main() -> nethttp::Result<()> {
/// use nethttp::client::{connect_tunnel, ClientConn};
/// use nethttp::net::Target;
/// let proxy = std::net::TcpStream::connect("127.0.0.1:3128").map_err(nethttp::Error::from)?;
/// let target = Target { scheme: "http".into(), host: "example.com".into(), port: 80 };
/// let tunnel = connect_tunnel(Box::new(proxy), &target, None, None)?;
/// let conn = ClientConn::new(tunnel);
/// let resp = conn.send(nethttp::Request::new(nethttp::Method::GET, "http://example.com/")?)?;
/// # let _ = resp; Ok(()) }
/// # #[cfg(not(feature = "clientconn"))]
/// # fn main() {}
/// ```
///
/// # Errors
///
/// [`ErrorKind::ProxyConnect`] with the proxy's status if it is not 200;
/// [`ErrorKind::Timeout`] ([`TimeoutPhase::Connect`]) at the deadline; write, read and parse
/// errors.
///
#[cfg_attr(feature = "clientconn", doc = "[`ClientConn`]: super::ClientConn")]
#[cfg_attr(not(feature = "clientconn"), doc = "[`ClientConn`]: crate#features")]
pub fn connect_tunnel(
    stream: Box<dyn Stream>,
    target: &Target,
    proxy_auth: Option<&HeaderValue>,
    deadline: Option<Instant>,
) -> Result<Tunnel> {
    let deadline = deadline.or_else(|| Instant::now().checked_add(CONNECT_TIMEOUT));
    let connect = Connect {
        proxy_auth,
        headers: &HeaderMap::new(),
        on_response: None,
        limits: Limits::response(Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES),
    };
    connect.run(stream, target, deadline)
}

/// One `CONNECT` handshake: what to send besides the request line and `Host`, and who sees
/// the answer.
struct Connect<'a> {
    proxy_auth: Option<&'a HeaderValue>,
    /// Go's `ProxyConnectHeader`.
    headers: &'a HeaderMap,
    /// The proxy's URL and Go's `OnProxyConnectResponse`.
    on_response: Option<(&'a Uri, &'a ProxyConnectResponseFn)>,
    limits: Limits,
}

impl Connect<'_> {
    fn run(
        &self,
        stream: Box<dyn Stream>,
        target: &Target,
        deadline: Option<Instant>,
    ) -> Result<Tunnel> {
        let authority = target.to_string();
        let mut req = Vec::with_capacity(128);
        exchange::encode_connect(&mut req, &authority, self.proxy_auth, self.headers);
        let mut wslot = TimeoutSlot::default();
        deadline::write_all(&*stream, &mut wslot, deadline, &[&req])
            .map_err(|e| Error::from_io(e, TimeoutPhase::Connect))?;

        let mut buf = ReadBuf::new();
        let mut rslot = TimeoutSlot::default();
        let mut scanner = HeadScanner::response(self.limits);
        let mut ex = Exchange::new(Method::CONNECT, false);
        let head = loop {
            let h = bufio::read_head(
                &mut buf,
                &*stream,
                &mut rslot,
                &mut scanner,
                &mut bufio::Until(deadline, TimeoutPhase::Connect),
            )?
            .ok_or_else(|| Error::closed(ClosedDuring::Head))?;
            // A final answer is judged by its status alone: its body framing does not matter
            // for a tunnel (and a refusal with odd framing must still read as the refusal).
            if !h.status.is_informational() || h.status == http::StatusCode::SWITCHING_PROTOCOLS {
                break h;
            }
            match ex.on_head(h)? {
                Next::Continue | Next::Informational(_) => {}
                Next::Upgrade(head) => break head,
                Next::Response(f) => break f.head,
            }
        };
        // Go calls OnProxyConnectResponse with every final answer, before judging its status.
        if let Some((url, on_response)) = self.on_response {
            let sent = self.as_sent(&authority)?;
            if let Err(e) = on_response(url, &sent, &head) {
                let _ = stream.shutdown(Shutdown::Both);
                return Err(e);
            }
        }
        if head.status != http::StatusCode::OK {
            let _ = stream.shutdown(Shutdown::Both);
            return Err(Error::with_source(
                ErrorKind::ProxyConnect(head.status),
                format!("CONNECT {authority}: {}", head.status),
            ));
        }
        // Whoever uses the tunnel sets its own timeouts.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(None);
        Ok(Tunnel {
            stream,
            buffered: Mutex::new(buf.take_all()),
        })
    }

    /// The request as `encode_connect` wrote it, for the hook: the target as its URI, and the
    /// fields after `Host`.
    fn as_sent(&self, authority: &str) -> Result<http::Request<()>> {
        let mut headers = self.headers.clone();
        for name in [HOST, CONTENT_LENGTH, TRANSFER_ENCODING] {
            headers.remove(name);
        }
        if let Some(a) = self.proxy_auth {
            headers.insert(PROXY_AUTHORIZATION, a.clone());
        }
        let mut req = http::Request::new(());
        *req.method_mut() = Method::CONNECT;
        *req.uri_mut() = authority
            .parse::<Uri>()
            .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
        *req.headers_mut() = headers;
        Ok(req)
    }
}

/// A stream tunnelled through a proxy by [`connect_tunnel`]: reads first return any bytes
/// that arrived after the proxy's answer.
pub struct Tunnel {
    stream: Box<dyn Stream>,
    /// Taken by the first reads.
    buffered: Mutex<Vec<u8>>,
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Stream for Tunnel {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        {
            let mut b = self.buffered.lock();
            if !b.is_empty() {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                b.drain(..n);
                return Ok(n);
            }
        }
        self.stream.read(buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }
    fn flush(&self) -> io::Result<()> {
        // A tunnel through an https:// proxy runs over TLS, which may hold records.
        self.stream.flush()
    }
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(d)
    }
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(d)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.peer_addr()
    }
}

/// Parsed `NO_PROXY` rules (Go's `ipMatchers` and `domainMatchers`).
#[derive(Clone, Debug, Default)]
struct NoProxy {
    all: bool,
    ips: Vec<IpRule>,
    domains: Vec<DomainRule>,
}

#[derive(Clone, Debug)]
enum IpRule {
    Net(IpAddr, u8),
    Addr(IpAddr, Option<u16>),
}

#[derive(Clone, Debug)]
struct DomainRule {
    /// With a leading dot: ".example.com".
    suffix: String,
    /// Also matches the domain itself (the entry had no leading dot).
    exact_too: bool,
    port: Option<u16>,
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for entry in list.split(',') {
            let p = entry.trim().to_ascii_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                np.all = true;
                continue;
            }
            if let Some(net) = parse_cidr(&p) {
                np.ips.push(net);
                continue;
            }
            let (host, port) = match split_host_port(&p) {
                Some((h, "")) => (h, None),
                Some((h, port)) => match port.parse::<u16>() {
                    Ok(port) => (h, Some(port)),
                    // Go compares the port as text: one that is not a number matches no
                    // request, rather than every port of the host.
                    Err(_) => continue,
                },
                None => (p.as_str(), None),
            };
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                np.ips.push(IpRule::Addr(ip, port));
                continue;
            }
            let host = host
                .strip_prefix('*')
                .filter(|h| h.starts_with('.'))
                .unwrap_or(host);
            let (suffix, exact_too) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            np.domains.push(DomainRule {
                suffix,
                exact_too,
                port,
            });
        }
        np
    }

    fn matches(&self, host: &str, port: u16, ip: Option<IpAddr>) -> bool {
        if self.all {
            return true;
        }
        if let Some(ip) = ip {
            for rule in &self.ips {
                let hit = match rule {
                    IpRule::Net(net, bits) => in_network(ip, *net, *bits),
                    // Go's net.IP.Equal: an IPv4-mapped IPv6 address is its IPv4 address.
                    IpRule::Addr(a, p) => {
                        a.to_canonical() == ip.to_canonical() && p.is_none_or(|p| p == port)
                    }
                };
                if hit {
                    return true;
                }
            }
        }
        self.domains.iter().any(|d| {
            (host.ends_with(&d.suffix) || (d.exact_too && host == &d.suffix[1..]))
                && d.port.is_none_or(|p| p == port)
        })
    }
}

/// `host:port` or `[v6]:port`; `None` without a port (Go's `net.SplitHostPort` failing).
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|p| (h, p));
    }
    let (h, p) = s.split_once(':')?;
    if p.contains(':') {
        return None;
    }
    Some((h, p))
}

fn parse_cidr(s: &str) -> Option<IpRule> {
    let (addr, bits) = s.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some(IpRule::Net(ip, bits))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        // An IPv4-mapped IPv6 address matches an IPv4 network, as in Go.
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a4| in_network(IpAddr::V4(a4), net, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(p: &Proxy, url: &str) -> Option<String> {
        p.url_for(&url.parse().unwrap())
            .unwrap()
            .map(|u| u.to_string())
    }

    #[test]
    fn environment_table() {
        // (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, request url, proxy wanted)
        let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
            ("", "", "", "http://example.com/", None),
            (
                "proxy:3128",
                "",
                "",
                "http://example.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "http://proxy",
                "",
                "",
                "http://example.com/",
                Some("http://proxy:80/"),
            ),
            ("proxy:3128", "", "", "https://example.com/", None),
            (
                "",
                "secure:3129",
                "",
                "https://example.com/",
                Some("http://secure:3129/"),
            ),
            ("", "secure:3129", "", "http://example.com/", None),
            ("proxy:3128", "", "", "http://localhost:8080/", None),
            ("proxy:3128", "", "", "http://127.0.0.1:8080/", None),
            ("proxy:3128", "", "", "http://127.9.9.9/", None),
            ("proxy:3128", "", "", "http://[::1]:8080/", None),
            ("proxy:3128", "", "*", "http://example.com/", None),
            ("proxy:3128", "", "example.com", "http://example.com/", None),
            (
                "proxy:3128",
                "",
                "example.com",
                "http://www.example.com/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "example.com",
                "http://notexample.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "proxy:3128",
                "",
                ".example.com",
                "http://example.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "proxy:3128",
                "",
                ".example.com",
                "http://www.example.com/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "*.example.com",
                "http://www.example.com/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "*.example.com",
                "http://example.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "proxy:3128",
                "",
                " Example.COM ",
                "http://EXAMPLE.com/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "example.com:8080",
                "http://example.com:8080/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "example.com:8080",
                "http://example.com/",
                Some("http://proxy:3128/"),
            ),
            ("proxy:3128", "", "10.0.0.0/8", "http://10.1.2.3/", None),
            (
                "proxy:3128",
                "",
                "10.0.0.0/8",
                "http://11.1.2.3/",
                Some("http://proxy:3128/"),
            ),
            ("proxy:3128", "", "192.168.1.1", "http://192.168.1.1/", None),
            (
                "proxy:3128",
                "",
                "192.168.1.1:80",
                "http://192.168.1.1/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "192.168.1.1:81",
                "http://192.168.1.1/",
                Some("http://proxy:3128/"),
            ),
            (
                "proxy:3128",
                "",
                "2001:db8::/32",
                "http://[2001:db8::1]/",
                None,
            ),
            (
                "proxy:3128",
                "",
                "[2001:db8::1]:80",
                "http://[2001:db8::1]/",
                None,
            ),
            ("proxy:3128", "", "a.com,,b.com", "http://b.com/", None),
            (
                "proxy:3128",
                "",
                "a.com, b.com",
                "http://c.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "http://u:p@proxy:3128",
                "",
                "",
                "http://example.com/",
                Some("http://proxy:3128/"),
            ),
            (
                "",
                "https://secure",
                "",
                "https://example.com/",
                Some("https://secure:443/"),
            ),
            (
                "socks5://s",
                "socks5h://s:9050",
                "",
                "https://example.com/",
                Some("socks5h://s:9050/"),
            ),
            (
                "socks5://s",
                "",
                "",
                "http://example.com/",
                Some("socks5://s:1080/"),
            ),
            // An unknown scheme is ignored with a warning, as Go does.
            ("ftp://proxy:21", "", "", "http://example.com/", None),
        ];
        for &(http, https, no, url, want) in cases {
            if !cfg!(feature = "tls") && want.is_some_and(|w| w.starts_with("https:")) {
                continue;
            }
            if !cfg!(feature = "socks") && want.is_some_and(|w| w.starts_with("socks")) {
                continue;
            }
            let p = Proxy::from_vars(http, https, no);
            let got = via(&p, url);
            assert_eq!(
                got.as_deref(),
                want,
                "HTTP_PROXY={http:?} HTTPS_PROXY={https:?} NO_PROXY={no:?} {url}"
            );
        }
    }

    #[test]
    fn explicit_proxies_apply_to_loopback() {
        let p = Proxy::all("127.0.0.1:3128").unwrap();
        assert_eq!(
            via(&p, "http://127.0.0.1:9/").as_deref(),
            Some("http://127.0.0.1:3128/")
        );
        let p = p.no_proxy("127.0.0.1");
        assert_eq!(via(&p, "http://127.0.0.1:9/"), None);
        let p = Proxy::http("proxy:1").unwrap();
        assert_eq!(via(&p, "https://x/"), None);
        assert!(Proxy::all("").is_err());
        assert!(Proxy::all("http://").is_err());
        // Schemes other than the four are refused when the proxy is set.
        let e = Proxy::all("ftp://proxy").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: invalid proxy url \"ftp://proxy\": want http, https, socks5 or socks5h://host:port"
        );
        assert!(Proxy::none()
            .url_for(&"http://x/".parse().unwrap())
            .unwrap()
            .is_none());
    }

    #[test]
    fn credentials_become_basic_auth() {
        let p = ProxyUrl::parse("http://us%40r:p%3Ass@proxy:3128").unwrap();
        assert_eq!(p.key.auth.unwrap(), "Basic dXNAcjpwOnNz");
        assert_eq!(p.key.addr.to_string(), "proxy:3128");
        let p = ProxyUrl::parse("socks5://proxy").unwrap();
        assert_eq!(p.key.addr.port, 1080);
        // SOCKS credentials go in the SOCKS handshake, never in an HTTP field.
        let p = ProxyUrl::parse("socks5h://us%40r:p%3Ass@proxy").unwrap();
        assert!(p.key.auth.is_none());
        let auth = p.key.socks_auth.unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.password.as_str()),
            ("us@r", "p:ss")
        );
        assert_eq!(p.display.to_string(), "socks5h://proxy:1080/");
        let p = ProxyUrl::parse("HTTPS://u:p@[::1]").unwrap();
        assert_eq!(p.key.scheme, ProxyScheme::Https);
        assert_eq!(p.key.addr.to_string(), "[::1]:443");
        assert_eq!(p.key.url().unwrap().to_string(), "https://[::1]:443/");
    }

    #[test]
    fn pool_keys_tell_proxies_apart() {
        let key = |proxy: &str, url: &str| {
            let uri: Uri = url.parse().unwrap();
            let target = Target {
                scheme: uri.scheme_str().unwrap().into(),
                host: uri.host().unwrap().into(),
                port: uri.port_u16().unwrap_or(80),
            };
            ConnKey::new(target, Some(&ProxyUrl::parse(proxy).unwrap()))
        };
        // One address spoken to in plain HTTP or in TLS: two pools.
        let plain = key("http://p:8080", "http://a/");
        let tls = key("https://p:8080", "http://a/");
        assert_ne!(plain, tls);
        assert_eq!(plain.to_string(), "http via http://p:8080");
        assert_eq!(tls.to_string(), "http via https://p:8080");
        // A forwarding proxy serves every http origin on one connection; a SOCKS tunnel leads
        // to one origin.
        assert_eq!(plain, key("http://p:8080", "http://b/"));
        assert!(plain.forwards() && tls.forwards());
        let socks = key("socks5://p:1080", "http://a/");
        assert!(!socks.forwards());
        assert_ne!(socks, key("socks5://p:1080", "http://b/"));
        assert_ne!(socks, key("socks5h://p:1080", "http://a/"));
        assert_eq!(socks.to_string(), "a:80 via socks5://p:1080");
        // Credentials are part of the key.
        assert_ne!(plain, key("http://u:p@p:8080", "http://a/"));
        assert_ne!(socks, key("socks5://u:p@p:1080", "http://a/"));
    }

    #[test]
    fn custom_function_chooses_per_request() {
        let p = Proxy::custom(|req: &Request| {
            if req.headers.contains_key("x-direct") {
                return Ok(None);
            }
            match req.uri.path() {
                "/fail" => Err(Error::new(ErrorKind::Canceled)),
                "/bad" => Ok(Some(Uri::from_static("ftp://x"))),
                "/tls" => Ok(Some(Uri::from_static("https://u:p@tls-proxy"))),
                "/socks" => Ok(Some(Uri::from_static("socks5h://u:p@socks-proxy"))),
                _ => Ok(Some(Uri::from_static("proxy:3128"))),
            }
        })
        .no_proxy("skip.example");
        let select = |url: &str, direct: bool| {
            let mut req = Request::new(Method::GET, url).unwrap();
            if direct {
                req.headers
                    .insert("x-direct", HeaderValue::from_static("1"));
            }
            p.select(&req).map(|o| o.map(|p| p.display.to_string()))
        };
        assert_eq!(
            select("http://a/", false).unwrap().as_deref(),
            Some("http://proxy:3128/")
        );
        // Loopback is not excluded for a function; NO_PROXY-style exceptions are.
        assert_eq!(
            select("http://127.0.0.1/", false).unwrap().as_deref(),
            Some("http://proxy:3128/")
        );
        assert_eq!(select("http://skip.example/", false).unwrap(), None);
        assert_eq!(select("http://a/", true).unwrap(), None);
        assert_eq!(
            select("https://a/fail", false).unwrap_err().kind(),
            ErrorKind::Canceled
        );
        assert_eq!(
            select("https://a/bad", false).unwrap_err().to_string(),
            "invalid input: invalid proxy url \"ftp://x/\": want http, https, socks5 or socks5h://host:port"
        );
        #[cfg(feature = "tls")]
        assert_eq!(
            select("https://a/tls", false).unwrap().as_deref(),
            Some("https://tls-proxy:443/")
        );
        #[cfg(not(feature = "tls"))]
        assert_eq!(
            select("https://a/tls", false).unwrap_err().to_string(),
            "invalid input: https proxy https://tls-proxy:443/ needs the `tls` feature, which this build does not have"
        );
        #[cfg(feature = "socks")]
        assert_eq!(
            select("https://a/socks", false).unwrap().as_deref(),
            Some("socks5h://socks-proxy:1080/")
        );
        #[cfg(not(feature = "socks"))]
        assert_eq!(
            select("https://a/socks", false).unwrap_err().to_string(),
            "invalid input: socks5h proxy socks5h://socks-proxy:1080/ needs the `socks` feature, which this build does not have"
        );
        assert!(format!("{p:?}").contains("custom: true"));
    }

    #[test]
    fn cgi_refuses_http_proxy() {
        let mut p = Proxy::from_vars("proxy:3128", "", "");
        p.cgi = true;
        assert!(p.url_for(&"http://example.com/".parse().unwrap()).is_err());
    }
}
