//! Cookie jars for the client (Go's `http.CookieJar` and `net/http/cookiejar`): the
//! `CookieJar` trait, and `Jar` (feature `cookies`), RFC 6265 storage over `cookie_store` with
//! the public suffix list from `psl`. The client consults the jar on every request and redirect
//! (mod.rs).

use http::{HeaderValue, Uri};

/// Stores cookies from responses and picks the ones to send with requests, as Go's
/// `http.CookieJar`. A [`Client`](super::Client) calls it for every request it sends,
/// redirects included. Implementations must be safe to call from many threads at once.
pub trait CookieJar: Send + Sync + 'static {
    /// Stores the cookies of the `Set-Cookie` fields of a response from `url`, following
    /// the jar's rules (which a jar may refuse).
    fn set_cookies(&self, url: &Uri, set_cookie: &mut dyn Iterator<Item = &HeaderValue>);

    /// The `Cookie` field value to send with a request to `url` (`a=1; b=2`), if any cookie
    /// applies.
    fn cookies(&self, url: &Uri) -> Option<HeaderValue>;
}

#[cfg(feature = "cookies")]
pub use jar::Jar;

#[cfg(feature = "cookies")]
mod jar {
    use std::fmt;

    use cookie_store::{CookieStore, RawCookie};
    use http::{HeaderValue, Uri};
    use parking_lot::RwLock;

    use super::CookieJar;

    /// An in-memory cookie jar with the rules of RFC 6265 §5: `Domain` and `Path` matching,
    /// `Secure` (sent only over https, or to a loopback host), `Max-Age` and `Expires`, and
    /// refusal of a `Domain` that is a public suffix (`com`, `co.uk`, `github.io`), so one
    /// site cannot set cookies for others. Share one between clients with an `Arc`.
    ///
    /// ```
    /// use nethttp::client::{CookieJar, Jar};
    /// let jar = Jar::new();
    /// let url: nethttp::Uri = "http://example.com/a".parse().unwrap();
    /// jar.add_cookie_str("session=1; Path=/", &url);
    /// assert_eq!(jar.cookies(&url).unwrap(), "session=1");
    /// ```
    #[derive(Default)]
    pub struct Jar {
        store: RwLock<CookieStore>,
    }

    impl Jar {
        /// An empty jar.
        pub fn new() -> Jar {
            Jar::default()
        }

        /// Stores one `Set-Cookie` value as if it came from `url`.
        pub fn add_cookie_str(&self, set_cookie: &str, url: &Uri) {
            let Some(u) = to_url(url) else {
                return;
            };
            if let Some(c) = admit(set_cookie, &u) {
                self.store
                    .write()
                    .store_response_cookies(std::iter::once(c), &u);
            }
        }

        /// Removes every cookie.
        pub fn clear(&self) {
            self.store.write().clear();
        }
    }

    impl CookieJar for Jar {
        fn set_cookies(&self, url: &Uri, set_cookie: &mut dyn Iterator<Item = &HeaderValue>) {
            let Some(u) = to_url(url) else {
                return;
            };
            let cookies: Vec<RawCookie<'static>> = set_cookie
                .filter_map(|v| v.to_str().ok())
                .filter_map(|s| admit(s, &u))
                .collect();
            if !cookies.is_empty() {
                self.store
                    .write()
                    .store_response_cookies(cookies.into_iter(), &u);
            }
        }

        fn cookies(&self, url: &Uri) -> Option<HeaderValue> {
            let u = to_url(url)?;
            let store = self.store.read();
            let mut out = String::new();
            for (name, value) in store.get_request_values(&u) {
                if !out.is_empty() {
                    out.push_str("; ");
                }
                out.push_str(name);
                out.push('=');
                out.push_str(value);
            }
            if out.is_empty() {
                return None;
            }
            let mut v = HeaderValue::from_str(&out).ok()?;
            v.set_sensitive(true);
            Some(v)
        }
    }

    impl fmt::Debug for Jar {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let n = self.store.read().iter_unexpired().count();
            f.debug_struct("Jar").field("cookies", &n).finish()
        }
    }

    fn to_url(uri: &Uri) -> Option<url::Url> {
        url::Url::parse(&uri.to_string()).ok()
    }

    /// Parses a `Set-Cookie` value and applies RFC 6265 §5.3 step 5 with the public suffix
    /// list: a `Domain` that is a public suffix is dropped when it names the request host
    /// itself (the cookie becomes host-only), and the cookie is refused otherwise.
    fn admit(set_cookie: &str, url: &url::Url) -> Option<RawCookie<'static>> {
        let mut c = RawCookie::parse(set_cookie.to_string()).ok()?;
        let Some(domain) = c.domain() else {
            return Some(c);
        };
        let domain = domain.trim_start_matches('.').to_ascii_lowercase();
        if domain.is_empty() || domain.parse::<std::net::IpAddr>().is_ok() {
            return Some(c);
        }
        let is_suffix = psl::suffix_str(&domain).is_some_and(|s| s == domain);
        if !is_suffix {
            return Some(c);
        }
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        if host == domain {
            c.unset_domain();
            Some(c)
        } else {
            log::debug!(
                "refusing cookie {:?} for public suffix {domain:?}",
                c.name()
            );
            None
        }
    }
}
