//! HTTP cookies for both roles, as Go's `http.Cookie`: what a request's `Cookie` field
//! carries ([`Request::cookies`], [`Request::add_cookie`](crate::Request::add_cookie)) and what
//! a `Set-Cookie` field says ([`set_cookie`] on a server, [`Response::cookies`] on a client), by
//! RFC 6265. Names and values that RFC 6265 does not allow are dropped, as Go drops them.
//!
//! Available with feature `client` or `server` (both on by default); `set_cookie` and
//! `Cookie::to_set_cookie` need `server`. The client's cookie jar is `client::CookieJar`
//! (feature `cookies` for the built-in one).
//!
#![cfg_attr(
    feature = "server",
    doc = "[`Request::cookies`]: crate::Request::cookies"
)]
#![cfg_attr(
    not(feature = "server"),
    doc = "[`Request::cookies`]: crate#features",
    doc = "[`set_cookie`]: crate#features"
)]
#![cfg_attr(
    feature = "client",
    doc = "[`Response::cookies`]: crate::client::Response::cookies"
)]
#![cfg_attr(not(feature = "client"), doc = "[`Response::cookies`]: crate#features")]

#[cfg(feature = "server")]
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "server")]
use http::HeaderValue;

use crate::proto::date;

#[cfg(feature = "server")]
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
/// # #[cfg(feature = "server")] // to_set_cookie needs it
/// assert_eq!(
///     c.to_set_cookie().unwrap(),
///     "session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
/// );
/// ```
#[cfg_attr(not(feature = "server"), doc = "[`set_cookie`]: crate#features")]
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
    /// name or an IPv4 address is not sent (no IPv6, as Go).
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
    /// not a valid cookie name (then no cookie is sent). Feature `server`.
    #[cfg(feature = "server")]
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
                out.push_str(&date::imf_fixdate(unix_secs(t)));
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
    #[cfg(feature = "server")]
    pub(crate) fn parse_request<'a>(
        fields: impl Iterator<Item = &'a HeaderValue>,
        only: Option<&str>,
    ) -> Vec<Cookie> {
        let mut out = Vec::new();
        for field in fields {
            // Pair by pair: one pair with a non-ASCII byte drops that pair alone, as Go's
            // readCookies does, not the whole field.
            for part in field.as_bytes().split(|&b| b == b';') {
                let Ok(part) = std::str::from_utf8(part) else {
                    continue;
                };
                // Go's textproto.TrimString: space and tab (CR and LF cannot be in a field).
                let part = part.trim_matches([' ', '\t']);
                if part.is_empty() {
                    continue;
                }
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                let name = name.trim_matches([' ', '\t']);
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

impl Cookie {
    /// The cookie a `Set-Cookie` field sets, as Go's `readSetCookies` reads one: `None` if the
    /// first `name=value` pair is missing or its name or value is invalid. Attributes are
    /// matched without regard to case; an attribute whose value is invalid, or that is not
    /// known, is skipped. `Expires` is read in the IMF-fixdate, RFC 850, asctime and Netscape
    /// (`Wed, 09-Jun-2021 10:18:14 GMT`) forms; an unreadable date leaves it unset. `Max-Age`
    /// of 0 or less is `Some(0)` (delete now); one with a leading zero is skipped, as Go does.
    ///
    /// ```
    /// use nethttp::cookie::{Cookie, SameSite};
    ///
    /// let c = Cookie::parse_set_cookie("id=a3fWa; Max-Age=2592000; path=/; SameSite=lax; Secure")
    ///     .unwrap();
    /// assert_eq!((c.name.as_str(), c.value.as_str()), ("id", "a3fWa"));
    /// assert_eq!((c.max_age, c.path.as_deref(), c.same_site), (Some(2592000), Some("/"), Some(SameSite::Lax)));
    /// assert!(c.secure && !c.http_only);
    /// assert!(Cookie::parse_set_cookie("no pair here").is_none());
    /// ```
    pub fn parse_set_cookie(line: &str) -> Option<Cookie> {
        let mut parts = line.trim_matches([' ', '\t']).split(';');
        let (name, value) = parts.next()?.trim_matches([' ', '\t']).split_once('=')?;
        let name = name.trim_matches([' ', '\t']);
        if !valid_name(name) {
            return None;
        }
        let mut c = Cookie::new(name, parse_value(value, true)?);
        for part in parts {
            let part = part.trim_matches([' ', '\t']);
            if part.is_empty() {
                continue;
            }
            let (attr, val) = part.split_once('=').unwrap_or((part, ""));
            let Some(val) = parse_value(val, false) else {
                continue;
            };
            match attr.to_ascii_lowercase().as_str() {
                "samesite" => {
                    c.same_site = match val.to_ascii_lowercase().as_str() {
                        "lax" => Some(SameSite::Lax),
                        "strict" => Some(SameSite::Strict),
                        "none" => Some(SameSite::None),
                        _ => None,
                    }
                }
                "secure" => c.secure = true,
                "httponly" => c.http_only = true,
                "partitioned" => c.partitioned = true,
                "domain" => c.domain = Some(val.to_string()),
                "path" => c.path = Some(val.to_string()),
                "max-age" => {
                    if let Ok(secs) = val.parse::<i64>() {
                        if secs == 0 || !val.starts_with('0') {
                            c.max_age = Some(secs.max(0));
                        }
                    }
                }
                "expires" => c.expires = parse_cookie_date(val),
                _ => {}
            }
        }
        Some(c)
    }

    /// The `name=value` pair this cookie adds to a request's `Cookie` field; `None` for an
    /// invalid name. Value bytes RFC 6265 does not allow are dropped; a value with a space or
    /// comma is quoted.
    pub(crate) fn to_request_pair(&self) -> Option<String> {
        if !valid_name(&self.name) {
            return None;
        }
        let value = sanitize(&self.value, valid_value_byte);
        Some(if value.contains([' ', ',']) {
            format!("{}=\"{value}\"", self.name)
        } else {
            format!("{}={value}", self.name)
        })
    }
}

/// A cookie value as Go's `parseCookieValue`: surrounding double quotes removed where
/// allowed, and `None` if any byte is not a cookie-octet (space and comma allowed).
fn parse_value(raw: &str, allow_quotes: bool) -> Option<&str> {
    let v = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if allow_quotes => inner,
        _ => raw,
    };
    v.bytes().all(valid_value_byte).then_some(v)
}

/// An `Expires` date: HTTP's three forms, or the Netscape form with dashes in the date
/// (`Wed, 09-Jun-2021 10:18:14 GMT`) that servers still send and Go also reads.
fn parse_cookie_date(s: &str) -> Option<SystemTime> {
    let parse = |s: &str| {
        date::parse_http_date(s.as_bytes()).map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    };
    if let Some(t) = parse(s) {
        return Some(t);
    }
    let netscape: String = match s.split_once(", ") {
        Some((day, rest)) if rest.len() > 11 => {
            let (date, time) = rest.split_at(11);
            format!("{day}, {}{time}", date.replace("-", " "))
        }
        _ => return None,
    };
    let netscape = netscape.replace(" UTC", " GMT");
    parse(&netscape)
}

/// Whole seconds from the Unix epoch to `t`, rounded down (negative before the epoch), as
/// Go's `Time.Unix`; saturated at the ends of `i64`.
#[cfg(feature = "server")]
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// Adds a `Set-Cookie` field for `cookie` to the response headers, as Go's `http.SetCookie`.
/// A cookie with an invalid name is not added (Go logs and drops it); returns whether it was.
/// Call it before the response head is written (before the first body write).
///
#[cfg_attr(all(feature = "client", feature = "server"), doc = "```")]
#[cfg_attr(not(all(feature = "client", feature = "server")), doc = "```ignore")]
/// use nethttp::cookie::{set_cookie, Cookie};
/// use nethttp::httptest::ResponseRecorder;
///
/// let mut w = ResponseRecorder::new();
/// assert!(set_cookie(&mut w, &Cookie { path: Some("/".into()), ..Cookie::new("id", "7") }));
/// assert!(!set_cookie(&mut w, &Cookie::new("bad name", "x")));
/// assert_eq!(w.header("set-cookie"), Some("id=7; Path=/"));
/// ```
#[cfg(feature = "server")]
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

/// A domain name (labels of letters, digits and `-`, not starting or ending with `-`) or an IPv4
/// address.
#[cfg(feature = "server")]
fn valid_domain(d: &str) -> bool {
    // Go's validCookieDomain: an IP address only without a ':' (IPv4); no IPv6.
    if d.parse::<std::net::Ipv4Addr>().is_ok() {
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

    #[cfg(feature = "server")]
    fn line(c: Cookie) -> Option<String> {
        c.to_set_cookie()
    }

    #[cfg(feature = "server")]
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
            // Go writes any Expires from the year 1601 on (`validCookieExpires`), before
            // the Unix epoch too.
            (
                "expires_before_the_epoch",
                Cookie {
                    expires: Some(UNIX_EPOCH - Duration::from_millis(500)),
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Expires=Wed, 31 Dec 1969 23:59:59 GMT"),
            ),
            (
                "expires_1601",
                Cookie {
                    expires: Some(UNIX_EPOCH - Duration::from_secs(11_644_473_600)),
                    ..Cookie::new("s", "1")
                },
                Some("s=1; Expires=Mon, 01 Jan 1601 00:00:00 GMT"),
            ),
            (
                "expires_1600_omitted",
                Cookie {
                    expires: Some(UNIX_EPOCH - Duration::from_secs(11_644_473_601)),
                    ..Cookie::new("s", "1")
                },
                Some("s=1"),
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
    fn set_cookie_fields_are_read_as_go_reads_them() {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        // (field, name, value, path, domain, max_age, expires, secure, http_only, same_site)
        type Want = Option<(
            &'static str,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<i64>,
            Option<SystemTime>,
            bool,
            bool,
            Option<SameSite>,
        )>;
        let cases: Vec<(&str, Want)> = vec![
            (
                "a=b",
                Some(("a", "b", None, None, None, None, false, false, None)),
            ),
            (
                "  a =\"b c\" ",
                Some(("a", "b c", None, None, None, None, false, false, None)),
            ),
            // As Go: the value is not trimmed, and a quote after a space is invalid.
            ("a= \"b\"", None),
            (
                "s=1; Path=/p; Domain=.example.com; Max-Age=60; HttpOnly; Secure; SameSite=Strict",
                Some((
                    "s",
                    "1",
                    Some("/p"),
                    Some(".example.com"),
                    Some(60),
                    None,
                    true,
                    true,
                    Some(SameSite::Strict),
                )),
            ),
            (
                "s=1; expires=Tue, 14 Nov 2023 22:13:20 GMT; path=/",
                Some((
                    "s",
                    "1",
                    Some("/"),
                    None,
                    None,
                    at(1_700_000_000),
                    false,
                    false,
                    None,
                )),
            ),
            (
                "s=1; Expires=Tue, 14-Nov-2023 22:13:20 GMT",
                Some((
                    "s",
                    "1",
                    None,
                    None,
                    None,
                    at(1_700_000_000),
                    false,
                    false,
                    None,
                )),
            ),
            (
                "s=1; Expires=someday",
                Some(("s", "1", None, None, None, None, false, false, None)),
            ),
            (
                "s=; Max-Age=0",
                Some(("s", "", None, None, Some(0), None, false, false, None)),
            ),
            (
                "s=1; Max-Age=-5",
                Some(("s", "1", None, None, Some(0), None, false, false, None)),
            ),
            (
                "s=1; Max-Age=07",
                Some(("s", "1", None, None, None, None, false, false, None)),
            ),
            (
                "s=1; SAMESITE=none; secure",
                Some((
                    "s",
                    "1",
                    None,
                    None,
                    None,
                    None,
                    true,
                    false,
                    Some(SameSite::None),
                )),
            ),
            (
                "s=1; SameSite=bogus",
                Some(("s", "1", None, None, None, None, false, false, None)),
            ),
            (
                "s=1; Path=/a\\b",
                Some(("s", "1", None, None, None, None, false, false, None)),
            ),
            ("bad name=1", None),
            ("=1", None),
            ("novalue", None),
            ("a=b\\c", None),
            ("a=\"b", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = Cookie::parse_set_cookie(line).map(|c| {
                (
                    c.name,
                    c.value,
                    c.path,
                    c.domain,
                    c.max_age,
                    c.expires,
                    c.secure,
                    c.http_only,
                    c.same_site,
                )
            });
            let want = want.map(|w| {
                (
                    w.0.to_string(),
                    w.1.to_string(),
                    w.2.map(String::from),
                    w.3.map(String::from),
                    w.4,
                    w.5,
                    w.6,
                    w.7,
                    w.8,
                )
            });
            assert_eq!(got, want, "{line:?}");
        }
    }

    #[test]
    fn request_pairs() {
        assert_eq!(
            Cookie::new("a", "b").to_request_pair().as_deref(),
            Some("a=b")
        );
        assert_eq!(
            Cookie::new("a", "b c").to_request_pair().as_deref(),
            Some("a=\"b c\"")
        );
        assert_eq!(
            Cookie::new("a", "x;y\"").to_request_pair().as_deref(),
            Some("a=xy")
        );
        assert_eq!(Cookie::new("a b", "1").to_request_pair(), None);
    }

    #[cfg(feature = "server")]
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
