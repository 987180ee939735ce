//! Redirect policy (Go's `CheckRedirect` and `redirectBehavior`), `Location` resolution
//! (RFC 3986 §5), and which headers follow a redirect; the loop that uses them is in mod.rs.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::response::Response;
use crate::error::{Error, ErrorKind, Malformed, Result};
use crate::Request;

/// What a [`RedirectPolicy`] decides about one redirect.
#[derive(Debug)]
pub enum RedirectAction {
    /// Send the next request.
    Follow,
    /// Do not follow: the redirect response itself is returned, body unread (Go's
    /// `ErrUseLastResponse`).
    Stop,
    /// Do not follow: the request fails with this error.
    Error(Error),
}

/// The redirect a [`RedirectPolicy`] is asked about: the response status, the request that
/// would be sent next, and the URLs requested so far.
#[derive(Debug)]
pub struct Attempt<'a> {
    status: StatusCode,
    next: &'a Request,
    previous: &'a [Uri],
}

impl<'a> Attempt<'a> {
    /// The status of the redirect response (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The URL the redirect leads to, resolved against the request's URL.
    pub fn url(&self) -> &Uri {
        &self.next.uri
    }

    /// The method the next request would use (GET after a 301, 302 or 303 of anything but
    /// HEAD).
    pub fn method(&self) -> &Method {
        &self.next.method
    }

    /// The header fields the next request would carry, before cookies are added (the
    /// transport writes the client's `Accept-Encoding`).
    pub fn headers(&self) -> &HeaderMap {
        &self.next.headers
    }

    /// The URLs requested so far, oldest first: the first is the original request's. Its
    /// length is the number of the redirect being decided (1 for the first).
    pub fn previous(&self) -> &[Uri] {
        self.previous
    }
}

type CheckFn = dyn Fn(&Attempt<'_>) -> RedirectAction + Send + Sync;

/// Which redirects a [`Client`](super::Client) follows (Go's `CheckRedirect`). Default is
/// [`limited(10)`](Self::limited).
///
/// ```
/// use nethttp::client::{RedirectAction, RedirectPolicy};
/// // Follow redirects within one host only; hand back the redirect response otherwise.
/// let same_host = RedirectPolicy::custom(|a| {
///     if a.url().host() == a.previous()[0].host() {
///         RedirectAction::Follow
///     } else {
///         RedirectAction::Stop
///     }
/// });
/// # let _ = same_host;
/// ```
#[derive(Clone)]
pub struct RedirectPolicy {
    kind: PolicyKind,
}

#[derive(Clone)]
enum PolicyKind {
    Limited(usize),
    None,
    Custom(Arc<CheckFn>),
}

impl RedirectPolicy {
    /// Follows at most `max` redirects, then fails with [`ErrorKind::TooManyRedirects`]. Note
    /// that Go's default stops at 10 *requests* (9 redirects); `limited(10)` follows 10.
    pub fn limited(max: usize) -> RedirectPolicy {
        RedirectPolicy {
            kind: PolicyKind::Limited(max),
        }
    }

    /// Follows no redirect: a 3xx response is returned as it is.
    pub fn none() -> RedirectPolicy {
        RedirectPolicy {
            kind: PolicyKind::None,
        }
    }

    /// Asks `check` about every redirect. It runs on the calling thread before the next
    /// request is sent; it should be quick.
    pub fn custom(
        check: impl Fn(&Attempt<'_>) -> RedirectAction + Send + Sync + 'static,
    ) -> RedirectPolicy {
        RedirectPolicy {
            kind: PolicyKind::Custom(Arc::new(check)),
        }
    }

    pub(crate) fn check(
        &self,
        status: StatusCode,
        next: &Request,
        previous: &[Uri],
    ) -> RedirectAction {
        match &self.kind {
            PolicyKind::Limited(max) => {
                if previous.len() > *max {
                    RedirectAction::Error(Error::with_source(
                        ErrorKind::TooManyRedirects,
                        format!("at most {max} allowed"),
                    ))
                } else {
                    RedirectAction::Follow
                }
            }
            PolicyKind::None => RedirectAction::Stop,
            PolicyKind::Custom(f) => f(&Attempt {
                status,
                next,
                previous,
            }),
        }
    }
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        RedirectPolicy::limited(10)
    }
}

impl fmt::Debug for RedirectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PolicyKind::Limited(n) => write!(f, "RedirectPolicy::limited({n})"),
            PolicyKind::None => f.write_str("RedirectPolicy::none()"),
            PolicyKind::Custom(_) => f.write_str("RedirectPolicy::custom(..)"),
        }
    }
}

/// How to follow a redirect status (Go's `redirectBehavior`): the next method, and whether
/// the body goes along. `None` for statuses that are not followed.
pub(crate) fn behavior(status: StatusCode, method: &Method) -> Option<(Method, bool)> {
    match status.as_u16() {
        // RFC 9110 §15.4.2-4 allow changing POST to GET; Go (issue 18570) changes every
        // method but GET and HEAD, and so do browsers.
        301..=303 => {
            let m = if *method == Method::GET || *method == Method::HEAD {
                method.clone()
            } else {
                Method::GET
            };
            Some((m, false))
        }
        // RFC 9110 §15.4.8-9: the method and body must not change.
        307 | 308 => Some((method.clone(), true)),
        _ => None,
    }
}

/// Header fields that carry credentials: not sent on to another host, and once dropped never
/// sent again in the same chain (Go 1.24's `stripSensitiveHeaders`).
pub(crate) const SENSITIVE: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::WWW_AUTHENTICATE,
    header::COOKIE,
    HeaderName::from_static("cookie2"),
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Header fields that describe a body, removed when a redirect drops it (RFC 9110 §15.4:
/// "remove content-specific header fields" when the method changes to GET).
pub(crate) const BODY_FIELDS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
];

/// True if credentials for `initial` may go to `dest` (Go's `shouldCopyHeaderOnRedirect`):
/// the same host, any port, or one of its subdomains.
pub(crate) fn same_site(initial: &Uri, dest: &Uri) -> bool {
    if initial.authority() == dest.authority() {
        return true;
    }
    let (Some(i), Some(d)) = (initial.host(), dest.host()) else {
        return false;
    };
    let i = i.to_ascii_lowercase();
    let d = d.to_ascii_lowercase();
    // "sub.foo.com" may receive what was meant for "foo.com".
    d == i || (d.len() > i.len() && d.ends_with(&i) && d.as_bytes()[d.len() - i.len() - 1] == b'.')
}

/// The `Referer` for a request to `next` made because of a redirect from `last` (Go's
/// `refererForURL`): `last` without credentials, and nothing from https to http (RFC 9110
/// §10.1.3).
pub(crate) fn referer(last: &Uri, next: &Uri) -> Option<HeaderValue> {
    if last.scheme_str() == Some("https") && next.scheme_str() == Some("http") {
        return None;
    }
    HeaderValue::from_str(&strip_userinfo(last).to_string()).ok()
}

/// `uri` without `user:password@`.
pub(crate) fn strip_userinfo(uri: &Uri) -> Uri {
    let Some(a) = uri.authority() else {
        return uri.clone();
    };
    let (Some(_), rest) = crate::proto::uri::split_userinfo(a.as_str()) else {
        return uri.clone();
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = rest.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// The user and password in `uri`'s authority, percent-decoded.
pub(crate) fn userinfo(uri: &Uri) -> Option<(String, Option<String>)> {
    let info = crate::proto::uri::split_userinfo(uri.authority()?.as_str()).0?;
    Some(match info.split_once(':') {
        Some((u, p)) => (percent_decode_lossy(u), Some(percent_decode_lossy(p))),
        None => (percent_decode_lossy(info), None),
    })
}

/// Decodes `%XX` escapes; a `%` without two hex digits after it stays as it is, and bytes
/// that are not UTF-8 become U+FFFD.
fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&c| char::from(c).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi << 4 | lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Authorization: Basic` credentials for `user` and `password` (RFC 7617).
pub(crate) fn basic_auth(user: &str, password: Option<&str>) -> HeaderValue {
    let value = crate::proto::auth::basic_auth(user, password.unwrap_or(""));
    let mut v = HeaderValue::from_str(&value).expect("base64 is visible ASCII");
    v.set_sensitive(true);
    v
}

/// Reads a little of a redirect response's body and drops it, so a small body leaves its
/// connection reusable (Go reads up to 2 KiB); a larger one closes the connection.
pub(crate) fn drain(mut resp: Response) {
    const SLURP: u64 = 2 << 10;
    let len = resp
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if len.is_none_or(|n| n <= SLURP) {
        // One byte more than we keep, so a body of exactly SLURP bytes still sees its end.
        let _ = io::copy(&mut resp.body().take(SLURP + 1), &mut io::sink());
    }
}

/// [`Malformed::Location`] for `location`, saying why.
fn bad_location(location: &str, why: impl fmt::Display) -> Error {
    Error::with_source(
        ErrorKind::Malformed(Malformed::Location),
        format!("{location:?}: {why}"),
    )
}

/// Resolves a `Location` value against the URL of the request it answers (RFC 9110 §10.2.2,
/// RFC 3986 §5.2), and checks it is an `http` or `https` URL a client can follow. Fragments
/// are dropped: a request target has none. (The client does the two steps apart, with the
/// redirect policy between them.)
#[cfg(test)]
fn resolve_location(base: &Uri, location: &str) -> Result<Uri> {
    let uri = resolve_any(base, location)?;
    check_followable(&uri, location)?;
    Ok(uri)
}

/// [`Malformed::Location`] unless `uri`, resolved from `location`, is an `http` or `https`
/// URL with a host.
pub(crate) fn check_followable(uri: &Uri, location: &str) -> Result<()> {
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(bad_location(location, "not an http or https url")),
    }
}

/// As [`resolve_location`], of any scheme (Go's `Response.Location` and the URL a redirect
/// policy sees).
pub(crate) fn resolve_any(base: &Uri, location: &str) -> Result<Uri> {
    let bad = |why: String| bad_location(location, why);
    let loc = location.trim();
    let loc = loc.split_once('#').map_or(loc, |(l, _)| l);
    // Bytes a URI may not carry are encoded as browsers do rather than refusing the
    // redirect; escapes already there stay as they are.
    let encoded = crate::proto::uri::escape_lenient(loc).map_err(|e| bad(e.to_string()))?;
    let base_ref = Reference {
        scheme: base.scheme_str(),
        authority: base.authority().map(|a| a.as_str()),
        path: base.path(),
        query: base.query(),
    };
    let target = resolve_reference(&base_ref, &encoded);
    target.parse().map_err(|e| bad(format!("{e}")))
}

/// True if `location` names neither a scheme nor a host: a path on the same server.
pub(crate) fn is_relative(location: &str) -> bool {
    let r = split_reference(location.trim());
    r.scheme.is_none() && r.authority.is_none()
}

/// A URI reference split into its RFC 3986 §3 components (the fragment removed).
#[derive(Debug, PartialEq)]
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split_reference(s: &str) -> Reference<'_> {
    // RFC 3986 Appendix B, without the fragment.
    let mut rest = s;
    let mut scheme = None;
    if let Some(i) = rest.find([':', '/', '?']) {
        let cand = &rest[..i];
        if rest.as_bytes()[i] == b':'
            && cand.starts_with(|c: char| c.is_ascii_alphabetic())
            && cand
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            scheme = Some(cand);
            rest = &rest[i + 1..];
        }
    }
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        authority = Some(&after[..end]);
        rest = &after[end..];
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    Reference {
        scheme,
        authority,
        path,
        query,
    }
}

/// RFC 3986 §5.2.2 (strict parser), then §5.3 recomposition.
fn resolve_reference(base: &Reference<'_>, reference: &str) -> String {
    let r = split_reference(reference);
    let (scheme, authority, path, query);
    if r.scheme.is_some() {
        scheme = r.scheme;
        authority = r.authority;
        path = remove_dot_segments(r.path);
        query = r.query;
    } else if r.authority.is_some() {
        scheme = base.scheme;
        authority = r.authority;
        path = remove_dot_segments(r.path);
        query = r.query;
    } else {
        scheme = base.scheme;
        authority = base.authority;
        if r.path.is_empty() {
            path = base.path.to_string();
            query = r.query.or(base.query);
        } else {
            if r.path.starts_with('/') {
                path = remove_dot_segments(r.path);
            } else {
                path = remove_dot_segments(&merge(base, r.path));
            }
            query = r.query;
        }
    }
    let mut out = String::with_capacity(reference.len() + 32);
    if let Some(s) = scheme {
        out.push_str(&s.to_ascii_lowercase());
        out.push(':');
    }
    if let Some(a) = authority {
        out.push_str("//");
        out.push_str(a);
    }
    out.push_str(&path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// RFC 3986 §5.2.3.
fn merge(base: &Reference<'_>, path: &str) -> String {
    if base.authority.is_some() && base.path.is_empty() {
        return format!("/{path}");
    }
    match base.path.rfind('/') {
        Some(i) => format!("{}{path}", &base.path[..=i]),
        None => path.to_string(),
    }
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            match out.rfind('/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            }
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_examples() {
        // RFC 3986 §5.4.1 and §5.4.2, base "http://a/b/c/d;p?q" (fragments dropped).
        let base = Reference {
            scheme: Some("http"),
            authority: Some("a"),
            path: "/b/c/d;p",
            query: Some("q"),
        };
        let cases = [
            ("g:h", "g:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("g?y#s", "http://a/b/c/g?y"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("http:g", "http:g"),
        ];
        for (r, want) in cases {
            let r = r.split_once('#').map_or(r, |(a, _)| a);
            assert_eq!(resolve_reference(&base, r), want, "reference {r:?}");
        }
    }

    #[test]
    fn locations() {
        let base: Uri = "http://example.com/a/b?x=1".parse().unwrap();
        let cases = [
            ("/c", "http://example.com/c"),
            ("c d", "http://example.com/a/c%20d"),
            ("/caf\u{e9}", "http://example.com/caf%C3%A9"),
            ("/a%20b", "http://example.com/a%20b"),
            ("HTTPS://Other:8443/p", "https://Other:8443/p"),
            ("//other/p", "http://other/p"),
            (" /trim ", "http://example.com/trim"),
        ];
        for (loc, want) in cases {
            let got = resolve_location(&base, loc).unwrap();
            assert_eq!(got.to_string(), want, "location {loc:?}");
        }
        for bad in ["mailto:x@y", "http://", "ftp://example.com/"] {
            let e = resolve_location(&base, bad).unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::Malformed(Malformed::Location),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn behaviors() {
        let cases = [
            (301, Method::POST, Some((Method::GET, false))),
            (302, Method::PUT, Some((Method::GET, false))),
            (303, Method::DELETE, Some((Method::GET, false))),
            (303, Method::HEAD, Some((Method::HEAD, false))),
            (301, Method::GET, Some((Method::GET, false))),
            (307, Method::POST, Some((Method::POST, true))),
            (308, Method::PUT, Some((Method::PUT, true))),
            (300, Method::GET, None),
            (304, Method::GET, None),
        ];
        for (status, method, want) in cases {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(behavior(s, &method), want, "{status} {method}");
        }
    }

    #[test]
    fn sensitive_header_hosts() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        let cases = [
            ("http://foo.com/", "http://foo.com/x", true),
            ("http://foo.com/", "http://foo.com:8080/", true),
            ("http://foo.com/", "http://sub.foo.com/", true),
            ("http://foo.com/", "https://FOO.com/", true),
            ("http://foo.com/", "http://barfoo.com/", false),
            ("http://foo.com/", "http://bar.com/", false),
            ("http://sub.foo.com/", "http://foo.com/", false),
            ("http://127.0.0.1:1/", "http://localhost:1/", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_site(&u(a), &u(b)), want, "{a} -> {b}");
        }
    }

    #[test]
    fn referers() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            referer(&u("http://u:p@a.com/x?y"), &u("http://b.com/")).unwrap(),
            "http://a.com/x?y"
        );
        assert!(referer(&u("https://a.com/"), &u("http://a.com/")).is_none());
        assert!(referer(&u("http://a.com/"), &u("https://a.com/")).is_some());
        assert_eq!(
            userinfo(&u("http://us%40r:p%3Ass@a.com/")),
            Some(("us@r".to_string(), Some("p:ss".to_string())))
        );
        assert_eq!(basic_auth("u", Some("p")), "Basic dTpw");
    }

    #[test]
    fn userinfo_percent_decoding() {
        for (name, input, want) in [
            ("plain", "user", "user"),
            ("escapes", "a%40b%3A%2f", "a@b:/"),
            ("lowercase_hex", "%c3%bc", "ü"),
            ("bad_escape_kept", "a%zzb", "a%zzb"),
            ("half_escape_kept", "a%4", "a%4"),
            ("lone_percent_kept", "%", "%"),
            ("percent_before_escape", "%%41", "%A"),
            ("not_utf8_replaced", "a%ffb", "a\u{fffd}b"),
            ("plus_is_not_space", "a+b", "a+b"),
        ] {
            assert_eq!(percent_decode_lossy(input), want, "{name}");
        }
    }
}
