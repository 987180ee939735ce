//! HTTP cookies on the server side, as Go's `http.Cookie`, `Request.Cookie` and `SetCookie`:
//! the `Cookie` fields a request carries, and the `Set-Cookie` line a handler sends (RFC 6265).
//! Names and values that RFC 6265 does not allow are dropped, as Go drops them.
//!
//! Available with feature `server` (on by default). The client's cookie jar is
//! `client::CookieJar` (feature `cookies` for the built-in one).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::server::ResponseWriter;

/// A cookie, as Go's `http.Cookie`: what a request's `Cookie` field carries (only
/// [`name`](Self::name) and [`value`](Self::value) are set then), or what [`set_cookie`] sends.
///
/// ```
/// use nethttp::cookie::{Cookie, SameSite};
///
/// let c = Cookie {
///     path: Some("/".into()),
///     http_only: true,
///     same_site: Some(SameSite::Lax),
///     max_age: Some(3600),
///     ..Cookie::new("session", "abc123")
/// };
/// assert_eq!(
///     c.to_set_cookie().unwrap(),
///     "session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookie {
    /// The name: an RFC 7230 token. A cookie with any other name is not sent.
    pub name: String,
    /// The value. Bytes RFC 6265 does not allow in a cookie value (controls, space at either
    /// end, `"`, `,`, `;`, `\`, non-ASCII) are dropped when it is sent; a value with a space
    /// or a comma inside is sent in quotes, as Go does.
    pub value: String,
    /// `Path`; `None` sends none. Bytes other than printable ASCII and `;` are dropped.
    pub path: Option<String>,
    /// `Domain`; `None` sends none. A leading dot is dropped; a value that is not a domain
    /// name or an IP address is not sent.
    pub domain: Option<String>,
    /// `Expires`; `None` sends none. A time before 1601 is not sent (Go's rule).
    pub expires: Option<SystemTime>,
    /// `Max-Age` in seconds, as Go's `MaxAge` but without its zero: `None` sends none, a
    /// value of 0 or less sends `Max-Age=0` (delete the cookie now).
    pub max_age: Option<i64>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`; `None` sends none.
    pub same_site: Option<SameSite>,
    /// `Partitioned` (CHIPS).
    pub partitioned: bool,
}

/// The `SameSite` attribute's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (browsers want `Secure` with it).
    None,
}

impl Cookie {
    /// A cookie with `name` and `value` and no attributes.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Cookie {
        Cookie {
            name: name.into(),
            value: value.into(),
            ..Cookie::default()
        }
    }

    /// The `Set-Cookie` line for this cookie, as Go's `Cookie.String`; `None` if the name is
    /// not a valid cookie name (then no cookie is sent).
    pub fn to_set_cookie(&self) -> Option<String> {
        if !valid_name(&self.name) {
            return None;
        }
        let mut out = String::with_capacity(64);
        out.push_str(&self.name);
        out.push('=');
        let value = sanitize(&self.value, valid_value_byte);
        if value.contains([' ', ',']) {
            let _ = write!(out, "\"{value}\"");
        } else {
            out.push_str(&value);
        }
        if let Some(p) = &self.path {
            out.push_str("; Path=");
            out.push_str(&sanitize(p, |b| (0x20..0x7f).contains(&b) && b != b';'));
        }
        if let Some(d) = &self.domain {
            let d = d.strip_prefix('.').unwrap_or(d);
            if valid_domain(d) {
                out.push_str("; Domain=");
                out.push_str(d);
            }
        }
        if let Some(t) = self.expires {
            // Go: years before 1601 are not valid cookie dates.
            let min = UNIX_EPOCH - Duration::from_secs(11_644_473_600);
            if t >= min {
                out.push_str("; Expires=");
                out.push_str(&httpdate::fmt_http_date(t));
            }
        }
        match self.max_age {
            Some(n) if n > 0 => {
                let _ = write!(out, "; Max-Age={n}");
            }
            Some(_) => out.push_str("; Max-Age=0"),
            None => {}
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        match self.same_site {
            Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
            Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
            Some(SameSite::None) => out.push_str("; SameSite=None"),
            None => {}
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        Some(out)
    }

    /// The cookies of `Cookie` header values, as Go's `readCookies`: `name=value` pairs
    /// separated by `;`, a quoted value unquoted; pairs with an invalid name or value are
    /// dropped. With `only`, just the cookies of that name.
    pub(crate) fn parse_request<'a>(
        fields: impl Iterator<Item = &'a HeaderValue>,
        only: Option<&str>,
    ) -> Vec<Cookie> {
        let mut out = Vec::new();
        for field in fields {
            let Ok(text) = field.to_str() else { continue };
            for part in text.split(';') {
                let part = part.trim_matches(' ');
                if part.is_empty() {
                    continue;
                }
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                if !valid_name(name) || only.is_some_and(|o| o != name) {
                    continue;
                }
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                if !value.bytes().all(valid_value_byte) {
                    continue;
                }
                out.push(Cookie::new(name, value));
            }
        }
        out
    }
}

/// Adds a `Set-Cookie` field for `cookie` to the response headers, as Go's `http.SetCookie`.
/// A cookie with an invalid name is not added (Go logs and drops it); returns whether it was.
/// Call it before the response head is written (before the first body write).
///
/// ```
/// use nethttp::cookie::{set_cookie, Cookie};
/// use nethttp::httptest::ResponseRecorder;
///
/// let mut w = ResponseRecorder::new();
/// assert!(set_cookie(&mut w, &Cookie { path: Some("/".into()), ..Cookie::new("id", "7") }));
/// assert!(!set_cookie(&mut w, &Cookie::new("bad name", "x")));
/// assert_eq!(w.header("set-cookie"), Some("id=7; Path=/"));
/// ```
pub fn set_cookie(w: &mut dyn ResponseWriter, cookie: &Cookie) -> bool {
    let Some(line) = cookie.to_set_cookie() else {
        log::debug!(
            "set_cookie: invalid cookie name {:?}; not sent",
            cookie.name
        );
        return false;
    };
    match HeaderValue::from_str(&line) {
        Ok(v) => {
            w.headers_mut().append(http::header::SET_COOKIE, v);
            true
        }
        Err(_) => false,
    }
}

/// RFC 6265 §4.1.1 cookie-name: an RFC 7230 token.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(crate::proto::is_tchar)
}

/// RFC 6265 §4.1.1 cookie-octet, plus space and comma inside a value as Go allows (it quotes
/// such a value when sending).
fn valid_value_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\'
}

/// `s` without the bytes `keep` refuses; for values also without spaces at either end.
fn sanitize(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let kept: String = s
        .chars()
        .filter(|&c| c.is_ascii() && keep(c as u8))
        .collect();
    kept.trim_matches(' ').to_string()
}

/// A domain name (labels of letters, digits and `-`, not starting or ending with `-`) or an IP
/// address.
fn valid_domain(d: &str) -> bool {
    if d.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(c: Cookie) -> Option<String> {
        c.to_set_cookie()
    }

    #[test]
    fn set_cookie_lines() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cases: Vec<(&str, Cookie, Option<&str>)> = vec![
            ("plain", Cookie::new("a", "b"), Some("a=b")),
            ("bad_name", Cookie::new("a b", "x"), None),
            ("empty_name", Cookie::new("", "x"), None),
            ("quoted_space", Cookie::new("a", "b c"), Some("a=\"b c\"")),
            ("quoted_comma", Cookie::new("a", "b,c"), Some("a=\"b,c\"")),
            ("dropped_bytes", Cookie::new("a", "x\"y;z\\é"), Some("a=xyz")),
            (
                "all_attributes",
                Cookie {
                    path: Some("/p".into()),
                    domain: Some(".example.com".into()),
                    expires: Some(t),
                    max_age: Some(60),
                    secure: true,
                    http_only: true,
                    same_site: Some(SameSite::Strict),
                    partitioned: true,
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Path=/p; Domain=example.com; Expires=Tue, 14 Nov 2023 22:13:20 GMT; Max-Age=60; HttpOnly; Secure; SameSite=Strict; Partitioned"),
            ),
            (
                "delete",
                Cookie {
                    max_age: Some(-1),
                    ..Cookie::new("s", "")
                },
                Some("s=; Max-Age=0"),
            ),
            (
                "bad_domain_omitted",
                Cookie {
                    domain: Some("exa mple.com".into()),
                    ..Cookie::new("s", "1")
                },
                Some("s=1"),
            ),
            (
                "ip_domain",
                Cookie {
                    domain: Some("127.0.0.1".into()),
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Domain=127.0.0.1"),
            ),
            (
                "path_semicolon_dropped",
                Cookie {
                    path: Some("/a;b".into()),
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Path=/ab"),
            ),
            (
                "same_site_none",
                Cookie {
                    same_site: Some(SameSite::None),
                    secure: true,
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Secure; SameSite=None"),
            ),
        ];
        for (name, c, want) in cases {
            assert_eq!(line(c).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn request_cookies() {
        let fields = [
            HeaderValue::from_static("a=1; b=\"two\"; bad name=3; c=x\\y; d=; e"),
            HeaderValue::from_static("a=4"),
        ];
        let all: Vec<(String, String)> = Cookie::parse_request(fields.iter(), None)
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        let want = [("a", "1"), ("b", "two"), ("d", ""), ("e", ""), ("a", "4")];
        assert_eq!(
            all,
            want.map(|(n, v)| (n.to_string(), v.to_string())).to_vec()
        );
        let a: Vec<String> = Cookie::parse_request(fields.iter(), Some("a"))
            .into_iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(a, ["1", "4"]);
    }
}
