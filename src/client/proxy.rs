//! Proxy selection (Go's `ProxyFromEnvironment` and `x/net/http/httpproxy` rules), the
//! `CONNECT` tunnel handshake, and dialing through a proxy; the transport (transport.rs)
//! keys its pool by [`ConnKey`] and calls [`dial_conn`].

use std::fmt;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use http::{HeaderValue, Uri};
use parking_lot::Mutex;

use super::redirect::{basic_auth, userinfo};
use super::trace::ClientTrace;
use crate::bufio::{self, ReadBuf};
use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::{Dial, Stream, Target};
use crate::proto::client::{self as exchange, Exchange, Next};
use crate::proto::head::HeadScanner;
use crate::proto::Limits;

/// How long a `CONNECT` may take when the request has no deadline (Go's one minute).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which requests go through which proxy.
///
/// The default for a [`Transport`](super::Transport) and a [`Client`](super::Client) is
/// [`Proxy::from_env`], as Go's `DefaultTransport`. `http://` requests go to the proxy in
/// absolute form; `https://` requests go through a `CONNECT` tunnel, with TLS to the origin
/// inside it. Only proxies spoken to in plain HTTP (`http://` proxy URLs) are supported: a
/// request that would use an `https://` or `socks5://` proxy fails.
///
/// ```
/// use nethttp::client::Proxy;
/// let p = Proxy::all("http://user:secret@proxy.internal:3128")?.no_proxy("internal, 10.0.0.0/8");
/// let via = p.url_for(&"http://example.com/".parse().unwrap())?;
/// assert_eq!(via.unwrap().to_string(), "http://proxy.internal:3128/");
/// assert!(p.url_for(&"http://db.internal/".parse().unwrap())?.is_none());
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Proxy {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    no_proxy: NoProxy,
    /// Set from the environment: loopback hosts are never proxied, and `HTTP_PROXY` is
    /// refused in a CGI process.
    from_env: bool,
    cgi: bool,
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
    /// `httpproxy.Config`). Empty means none. A proxy value is a URL or `host[:port]`
    /// (`http` assumed; the port defaults to the scheme's). A value that cannot be parsed is
    /// ignored with a logged warning, as in Go.
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
            cgi: false,
        }
    }

    /// Every request through the proxy at `url` (Go's `ProxyURL`), loopback included; add
    /// exceptions with [`no_proxy`](Self::no_proxy). `user:password@` in the URL is sent as
    /// `Proxy-Authorization: Basic`.
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

    /// `https://` requests through the proxy at `url` (in a `CONNECT` tunnel); others go
    /// direct.
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

    /// Adds exceptions in `NO_PROXY` syntax (see [`from_vars`](Self::from_vars)).
    pub fn no_proxy(mut self, list: &str) -> Proxy {
        let more = NoProxy::parse(list);
        self.no_proxy.all |= more.all;
        self.no_proxy.ips.extend(more.ips);
        self.no_proxy.domains.extend(more.domains);
        self
    }

    /// The proxy a request for `url` would go through, without credentials; `None` for a
    /// direct connection.
    ///
    /// # Errors
    ///
    /// As for sending such a request: a proxy scheme this build cannot use (`https`,
    /// `socks5`), or `HTTP_PROXY` in a CGI process.
    pub fn url_for(&self, url: &Uri) -> Result<Option<Uri>> {
        Ok(self.select(url)?.map(|p| p.display.clone()))
    }

    /// The proxy for `url`, if any.
    pub(crate) fn select(&self, url: &Uri) -> Result<Option<&ProxyUrl>> {
        let scheme = url.scheme_str().unwrap_or("");
        let proxy = if scheme.eq_ignore_ascii_case("https") {
            self.https.as_ref()
        } else if scheme.eq_ignore_ascii_case("http") {
            if self.http.is_some() && self.cgi {
                return Err(Error::invalid_input(
                    "refusing to use HTTP_PROXY in a CGI process (httpoxy)",
                ));
            }
            self.http.as_ref()
        } else {
            None
        };
        let Some(proxy) = proxy else {
            return Ok(None);
        };
        let host = url.host().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url
            .port_u16()
            .unwrap_or(if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            });
        if !self.use_proxy(host, port) {
            return Ok(None);
        }
        match proxy.scheme {
            ProxyScheme::Http => Ok(Some(proxy)),
            ProxyScheme::Https => Err(Error::invalid_input(
                "https proxies (tls to the proxy itself) are not supported",
            )),
            ProxyScheme::Socks5 => Err(Error::invalid_input("socks5 proxies are not supported")),
        }
    }

    /// Go's `useProxy`: false for hosts that go direct.
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        if host.is_empty() {
            return true;
        }
        let host = host.to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if self.from_env && (host == "localhost" || ip.is_some_and(|ip| ip.is_loopback())) {
            return false;
        }
        !self.no_proxy.matches(&host, port, ip)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProxyScheme {
    Http,
    Https,
    Socks5,
}

/// A parsed proxy URL.
#[derive(Clone, Debug)]
pub(crate) struct ProxyUrl {
    scheme: ProxyScheme,
    /// Where to connect, and the credentials to send: the part of a pool key.
    pub(crate) key: ProxyKey,
    /// The URL without credentials, for errors and [`Proxy::url_for`].
    display: Uri,
}

impl ProxyUrl {
    /// Go's `parseProxy`: a URL, or `host[:port]` taken as `http://host[:port]`.
    fn parse(s: &str) -> Result<ProxyUrl> {
        let s = s.trim();
        let with_scheme = |u: &Uri| {
            matches!(
                u.scheme_str().map(str::to_ascii_lowercase).as_deref(),
                Some("http" | "https" | "socks5")
            )
        };
        let uri = match s.parse::<Uri>() {
            Ok(u) if with_scheme(&u) => u,
            // A value with a scheme we do not know, or that does not parse, is not taken for
            // `host:port`.
            Ok(_) | Err(_) if s.contains("://") => {
                return Err(Error::invalid_input(format!(
                    "invalid proxy url {s:?}: want http://host:port"
                )))
            }
            _ => format!("http://{s}")
                .parse::<Uri>()
                .map_err(|e| Error::invalid_input(format!("invalid proxy url {s:?}: {e}")))?,
        };
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => ProxyScheme::Http,
            Some("https") => ProxyScheme::Https,
            Some("socks5") => ProxyScheme::Socks5,
            _ => {
                return Err(Error::invalid_input(format!(
                    "invalid proxy url {s:?}: unsupported scheme"
                )))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::invalid_input(format!("invalid proxy url {s:?}: no host")))?;
        let port = uri.port_u16().unwrap_or(match scheme {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 => 1080,
        });
        let auth = userinfo(&uri).map(|(u, p)| basic_auth(&u, p.as_deref()));
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let scheme_str = match scheme {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
        };
        let display = format!("{scheme_str}://{host}:{port}/")
            .parse::<Uri>()
            .map_err(|e| Error::invalid_input(format!("invalid proxy url {s:?}: {e}")))?;
        Ok(ProxyUrl {
            scheme,
            key: ProxyKey {
                addr: Target {
                    scheme: scheme_str.to_string(),
                    host: bare_host.to_string(),
                    port,
                },
                auth,
            },
            display,
        })
    }
}

/// A proxy as part of a pool key: connections through different proxies, or with different
/// credentials, are never shared.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ProxyKey {
    /// The proxy's own address.
    pub(crate) addr: Target,
    /// `Proxy-Authorization` for it, if its URL had credentials.
    pub(crate) auth: Option<HeaderValue>,
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
        // A forwarding proxy takes requests for any origin on one connection, so the
        // origin is not part of the key (Go's connectMethod.key).
        let target = if target.scheme == "http" {
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
        self.proxy.is_some() && self.target.scheme == "http"
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
            Some(p) if self.forwards() => write!(f, "http via {}", p.addr),
            Some(p) => write!(f, "{} via {}", self.target, p.addr),
        }
    }
}

/// Opens a connection for `key`: to the origin, or to the proxy, and for `https` through a
/// proxy, a `CONNECT` tunnel to the origin.
pub(crate) fn dial_conn(
    dialer: &dyn Dial,
    key: &ConnKey,
    deadline: Option<Instant>,
    trace: &ClientTrace,
) -> Result<Box<dyn Stream>> {
    let Some(proxy) = &key.proxy else {
        return dialer.dial(&key.target, deadline, trace);
    };
    let stream = dialer.dial(&proxy.addr, deadline, trace)?;
    if key.forwards() {
        return Ok(stream);
    }
    let tunnel = connect_tunnel(stream, &key.target, proxy.auth.as_ref(), deadline)?;
    // For an https origin the transport then runs TLS inside the tunnel, with the origin's
    // host as the server name, exactly as over a direct connection.
    Ok(Box::new(tunnel))
}

/// Asks the HTTP proxy on `stream` for a tunnel to `target` (`CONNECT host:port`, RFC 9110
/// §9.3.6), sending `proxy_auth` as `Proxy-Authorization`. With no `deadline` the handshake
/// may take a minute, as in Go. On success the stream is a raw byte pipe to `target`; TLS for
/// an `https` origin goes on top of it.
///
/// ```no_run
/// use nethttp::client::{connect_tunnel, ClientConn};
/// use nethttp::net::Target;
/// # fn main() -> nethttp::Result<()> {
/// let proxy = std::net::TcpStream::connect("127.0.0.1:3128").map_err(nethttp::Error::from)?;
/// let target = Target { scheme: "http".into(), host: "example.com".into(), port: 80 };
/// let tunnel = connect_tunnel(Box::new(proxy), &target, None, None)?;
/// let conn = ClientConn::new(tunnel);
/// let resp = conn.send(nethttp::Request::new(nethttp::Method::GET, "http://example.com/")?)?;
/// # let _ = resp; Ok(()) }
/// ```
///
/// # Errors
///
/// [`ErrorKind::ProxyConnect`] with the proxy's status if it is not 200;
/// [`ErrorKind::Timeout`] ([`TimeoutPhase::Connect`]) at the deadline; write, read and parse
/// errors.
pub fn connect_tunnel(
    stream: Box<dyn Stream>,
    target: &Target,
    proxy_auth: Option<&HeaderValue>,
    deadline: Option<Instant>,
) -> Result<Tunnel> {
    let deadline = deadline.or_else(|| Instant::now().checked_add(CONNECT_TIMEOUT));
    let authority = target.to_string();
    let mut req = Vec::with_capacity(128);
    exchange::encode_connect(&mut req, &authority, proxy_auth);
    let mut wslot = TimeoutSlot::default();
    deadline::write_all(&*stream, &mut wslot, deadline, &[&req])
        .map_err(|e| Error::from_io(e, TimeoutPhase::Connect))?;

    let mut buf = ReadBuf::new();
    let mut rslot = TimeoutSlot::default();
    let mut scanner = HeadScanner::response(Limits::response(Limits::DEFAULT_MAX_HEAD_BYTES));
    let mut ex = Exchange::new(http::Method::CONNECT, false);
    let head = loop {
        let h = bufio::read_head(
            &mut buf,
            &*stream,
            &mut rslot,
            &mut scanner,
            &mut bufio::Until(deadline, TimeoutPhase::Connect),
        )?
        .ok_or_else(|| Error::closed(ClosedDuring::Head))?;
        // A final answer is judged by its status alone: its body framing does not matter for
        // a tunnel (and a refusal with odd framing must still read as the refusal).
        if !h.status.is_informational() || h.status == http::StatusCode::SWITCHING_PROTOCOLS {
            break h;
        }
        match ex.on_head(h)? {
            Next::Continue | Next::Informational(_) => {}
            Next::Upgrade(head) => break head,
            Next::Response(f) => break f.head,
        }
    };
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
                Some((h, port)) => (h, port.parse::<u16>().ok()),
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
                    IpRule::Addr(a, p) => *a == ip && p.is_none_or(|p| p == port),
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
        ];
        for &(http, https, no, url, want) in cases {
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
        let p = Proxy::all("socks5://proxy").unwrap();
        assert!(p.url_for(&"http://x/".parse().unwrap()).is_err());
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
    }

    #[test]
    fn cgi_refuses_http_proxy() {
        let mut p = Proxy::from_vars("proxy:3128", "", "");
        p.cgi = true;
        assert!(p.url_for(&"http://example.com/".parse().unwrap()).is_err());
    }
}
