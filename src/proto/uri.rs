//! Request targets as they go on the wire: a URL a person typed (`http://host/a b`,
//! `/ü/ß`) turned into one whose path and query hold only RFC 3986 characters, the way Go's
//! `url.URL.EscapedPath` does for the path.
//!
//! What is already percent-encoded stays as it is; every other byte that RFC 3986 does not
//! allow in a path or a query (space, controls aside, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`,
//! `|`, `}` and every non-ASCII byte) becomes `%XX` with upper-case hex digits. The fragment
//! is dropped, as no request target carries one.
//!
//! ```
//! use nethttp::proto::uri::escape_url;
//!
//! assert_eq!(escape_url("http://h/a b?q=ü").unwrap(), "http://h/a%20b?q=%C3%BC");
//! assert_eq!(escape_url("/a%20b").unwrap(), "/a%20b"); // already encoded: unchanged
//! assert!(escape_url("http://h/a%zz").is_err()); // as Go: "invalid URL escape"
//! ```
//!
//! Where Go differs, and why:
//! - Go sends a query as it was typed, spaces and UTF-8 included (`GET /?q=a b`), which no
//!   HTTP/1.1 server has to accept; here the query is encoded by the path's rule, with `?` and
//!   `/` allowed (RFC 3986 §3.4), and a `%` that starts no escape is sent as `%25`.
//! - When a path mixes valid escapes with bytes that need one, Go re-encodes the decoded path
//!   from scratch, so `/a%2Fb c` goes out as `/a/b%20c` (a different path); here the escapes
//!   the caller wrote stay, and it goes out as `/a%2Fb%20c`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Why a URL cannot be made into a request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// A control character (below 0x20, or 0x7f) anywhere in the URL: Go's "invalid control
    /// character in URL". Such a byte is never encoded, because it is never what was meant.
    ControlCharacter,
    /// A `%` in the path that is not followed by two hex digits; holds the offending text
    /// (`%zz`, or `%` at the end).
    InvalidEscape(String),
}

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UriError::ControlCharacter => f.write_str("invalid control character in url"),
            UriError::InvalidEscape(s) => write!(f, "invalid url escape {s:?}"),
        }
    }
}

impl std::error::Error for UriError {}

/// `url` with its path and query escaped for the wire and its fragment dropped; see the
/// [module documentation](self). `url` is absolute (`http://host/path?query`), origin-form
/// (`/path?query`) or a relative reference; the authority (`user@host:port`) is never
/// changed.
///
/// # Errors
///
/// [`UriError::ControlCharacter`] for a control byte anywhere; [`UriError::InvalidEscape`] for
/// a `%` in the path that begins no `%XX`.
pub fn escape_url(url: &str) -> Result<Cow<'_, str>, UriError> {
    escape(url, true)
}

/// As [`escape_url`], but a `%` that begins no escape becomes `%25` in the path too: for a
/// `Location` a server sent, which a client follows as browsers do rather than refuse.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn escape_lenient(url: &str) -> Result<Cow<'_, str>, UriError> {
    escape(url, false)
}

fn escape(url: &str, strict: bool) -> Result<Cow<'_, str>, UriError> {
    let bytes = url.as_bytes();
    // The common URL in one pass: every byte one a path or a query keeps as it is, with no
    // `%` to check and no `#`. Whatever the path and the query turn out to be, both are clean.
    if bytes.iter().all(|&b| CLASS[usize::from(b)] & KEPT != 0) {
        return Ok(Cow::Borrowed(url));
    }
    escape_parts(url, strict)
}

/// [`escape`] without its one-pass check: the fragment, then the path and the query.
fn escape_parts(url: &str, strict: bool) -> Result<Cow<'_, str>, UriError> {
    let bytes = url.as_bytes();
    if bytes.iter().any(|&b| CLASS[usize::from(b)] & CONTROL != 0) {
        return Err(UriError::ControlCharacter);
    }
    // Byte scans for the ASCII delimiters (a `char` pattern decodes UTF-8 as it goes).
    let url = match bytes.iter().position(|&b| b == b'#') {
        Some(i) => &url[..i],
        None => url,
    };
    let start = target_start(url);
    let (path, query) = match url.as_bytes()[start..].iter().position(|&b| b == b'?') {
        Some(i) => (&url[start..start + i], Some(&url[start + i + 1..])),
        None => (&url[start..], None),
    };
    if clean(path.as_bytes(), PATH) && query.is_none_or(|q| clean(q.as_bytes(), QUERY)) {
        return Ok(Cow::Borrowed(url));
    }
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(&url[..start]);
    push_escaped(&mut out, path, false, strict)?;
    if let Some(q) = query {
        out.push('?');
        push_escaped(&mut out, q, true, false)?;
    }
    Ok(Cow::Owned(out))
}

/// `url` with the password of its userinfo replaced by `xxxxx`, as Go's `URL.Redacted`, for
/// error messages and logs: `http://user:secret@h/` becomes `http://user:xxxxx@h/`.
pub(crate) fn redact(url: &str) -> Cow<'_, str> {
    let Some(i) = scheme_end(url) else {
        return Cow::Borrowed(url);
    };
    let auth_start = i + 3;
    let auth_end = auth_start
        + url[auth_start..]
            .find(['/', '?', '#'])
            .unwrap_or(url.len() - auth_start);
    let auth = &url[auth_start..auth_end];
    let Some(at) = auth.rfind('@') else {
        return Cow::Borrowed(url);
    };
    match auth[..at].find(':') {
        Some(colon) => Cow::Owned(format!(
            "{}{}:xxxxx{}",
            &url[..auth_start],
            &auth[..colon],
            &url[auth_start + at..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// An authority (`user@host:port`) split at its last `@`: the userinfo, if any, and the rest.
/// A byte scan: `rfind` with a `char` costs several times more on a few bytes.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn split_userinfo(authority: &str) -> (Option<&str>, &str) {
    match authority.as_bytes().iter().rposition(|&b| b == b'@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    }
}

/// An authority (`user@host:port`) without its userinfo.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn after_userinfo(authority: &str) -> &str {
    split_userinfo(authority).1
}

/// The host of `authority`, as `http::uri::Authority::host` gives it (an IPv6 literal keeps
/// its brackets), by the same rule without that method's general searches, which cost about
/// 800 instructions a request (callgrind).
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn host_of(authority: &str) -> &str {
    host_in(after_userinfo(authority))
}

/// The host of `host[:port]` (an authority without userinfo), as [`host_of`] gives it.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn host_in(host_port: &str) -> &str {
    let b = host_port.as_bytes();
    let end = if b.first() == Some(&b'[') {
        b.iter().position(|&c| c == b']').map_or(b.len(), |i| i + 1)
    } else {
        b.iter().position(|&c| c == b':').unwrap_or(b.len())
    };
    &host_port[..end]
}

/// The port written in `uri`'s authority, if any. `Uri::port_u16` does the same through a
/// general reverse search that cost about 300 instructions a request (callgrind); an
/// authority is a few bytes, so a plain scan from the end does it for a tenth of that. Any
/// text that is not a plain port goes back to `port_u16`.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn explicit_port(uri: &http::Uri) -> Option<u16> {
    let a = uri.authority()?.as_str().as_bytes();
    let colon = a.iter().rposition(|&b| b == b':' || b == b']')?;
    if a[colon] != b':' {
        return None; // `[v6]` without a port
    }
    let digits = &a[colon + 1..];
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return uri.port_u16();
    }
    let n = digits
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok().or_else(|| uri.port_u16())
}

/// Where the first `://` in `url` starts. A byte scan: `str::find` with a string pattern sets
/// up a two-way searcher first, which cost more than the rest of a short URL's escaping.
fn scheme_end(url: &str) -> Option<usize> {
    url.as_bytes().windows(3).position(|w| w == b"://")
}

/// Where the path begins: after `scheme://authority` in an absolute URL and after
/// `//authority` in a network-path reference, else at 0 (origin form, a relative reference;
/// an authority-form `host:port` or `*` holds nothing that needs escaping).
fn target_start(url: &str) -> usize {
    let auth = match scheme_end(url) {
        Some(i)
            if url[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            i + 3
        }
        _ if url.starts_with("//") => 2,
        _ => return 0,
    };
    auth + url.as_bytes()[auth..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(url.len() - auth)
}

/// Byte classes for [`escape`]'s scans, one table lookup a byte: a control byte (refused),
/// and the bytes that go on the wire as they are in a path and in a query ([`allowed`]).
const CONTROL: u8 = 1;
const PATH: u8 = 2;
const QUERY: u8 = 4;
/// Kept as it is anywhere in a URL without a second look: `PATH` but `%`, and `?`.
const KEPT: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        if c < 0x20 || c == 0x7f {
            t[i] |= CONTROL;
        }
        if allowed(c, false) {
            t[i] |= PATH;
        }
        if allowed(c, true) {
            t[i] |= QUERY;
        }
        if (allowed(c, false) && c != b'%') || c == b'?' {
            t[i] |= KEPT;
        }
        i += 1;
    }
    t
};

/// True if `s` needs no escaping where `class` says which bytes may stand as they are: each
/// byte allowed, and each `%` the start of an escape.
fn clean(s: &[u8], class: u8) -> bool {
    s.iter()
        .enumerate()
        .all(|(i, &b)| CLASS[usize::from(b)] & class != 0 && (b != b'%' || is_escape(s, i)))
}

fn push_escaped(out: &mut String, s: &str, query: bool, strict: bool) -> Result<(), UriError> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' {
            if is_escape(b, i) {
                out.push('%');
            } else if strict {
                let end = (i + 3).min(b.len());
                let bad = String::from_utf8_lossy(&b[i..end]).into_owned();
                return Err(UriError::InvalidEscape(bad));
            } else {
                out.push_str("%25");
            }
        } else if allowed(c, query) {
            out.push(char::from(c));
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    Ok(())
}

fn is_escape(b: &[u8], i: usize) -> bool {
    b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()
}

/// The bytes that go on the wire as they are: RFC 3986 §3.3 `pchar` and `/` (and `?` in a
/// query), `%` (checked separately), and `[` `]`, which Go leaves unescaped in a path.
const fn allowed(c: u8, query: bool) -> bool {
    super::is_unreserved(c)
        || super::is_sub_delim(c)
        || matches!(c, b':' | b'@' | b'/' | b'%' | b'[' | b']')
        || (query && c == b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-class table says what `allowed` and the control-byte rule say, for every byte.
    #[test]
    fn byte_classes_agree_with_the_rules() {
        for b in 0..=255u8 {
            let class = CLASS[usize::from(b)];
            assert_eq!(class & CONTROL != 0, b < 0x20 || b == 0x7f, "{b:#04x}");
            assert_eq!(class & PATH != 0, allowed(b, false), "{b:#04x}");
            assert_eq!(class & QUERY != 0, allowed(b, true), "{b:#04x}");
            let kept = (allowed(b, false) && b != b'%') || b == b'?';
            assert_eq!(class & KEPT != 0, kept, "{b:#04x}");
        }
    }

    /// The one-pass check changes no result: every character up to U+00FF (and some longer
    /// ones), at each place of a URL, gives what the scan of the fragment, the path and the
    /// query gives.
    #[test]
    fn one_pass_check_agrees_with_the_parts() {
        let shapes = [
            "http://h{}/a?b",
            "http://h/{}",
            "http://h/a{}b?c",
            "http://h/a?{}",
            "http://h/a?b{}c#f",
            "/{}?x",
            "{}//h/",
            "//h/p{}",
            "rel{}/x",
        ];
        let inserts: Vec<String> = (0..=255u8)
            .map(|b| char::from(b).to_string())
            .chain(
                [
                    "%41", "%", "%zz", "[::1]", "?", "??", "#", " ", "€", "😀", "\u{7ff}",
                ]
                .map(String::from),
            )
            .collect();
        for shape in shapes {
            for insert in &inserts {
                let text = shape.replace("{}", insert);
                for strict in [true, false] {
                    assert_eq!(
                        escape(&text, strict),
                        escape_parts(&text, strict),
                        "{text:?} strict={strict}"
                    );
                }
            }
        }
    }

    /// The scan gives what `Authority::host` gives, for every shape of authority.
    #[test]
    fn host_of_agrees_with_authority_host() {
        for url in [
            "http://h/",
            "http://h:8080/",
            "http://H.Example:80",
            "http://u@h/",
            "http://u:p@h:1/",
            "http://u:p@x@h:2/",
            "http://[::1]/",
            "http://[::1]:8080/",
            "http://u@[fe80::1%25eth0]:9/",
            "http://127.0.0.1:9/",
            "http://h:/",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let a = uri.authority().unwrap();
            assert_eq!(host_of(a.as_str()), a.host(), "{url}");
        }
        assert_eq!(after_userinfo("u:p@h:1"), "h:1");
        assert_eq!(after_userinfo("h:1"), "h:1");
        assert_eq!(host_of(""), "");
    }

    /// The scan gives what `Uri::port_u16` gives, for every shape of authority.
    #[test]
    fn explicit_port_agrees_with_port_u16() {
        for url in [
            "http://h/",
            "http://h:8080/",
            "http://h:80",
            "http://h:/",
            "http://h:0/",
            "http://h:65535/",
            "http://[::1]/",
            "http://[::1]:9/",
            "http://u:p@h/",
            "http://u:p@h:81/",
            "http://u@[fe80::1]:443/x",
            "https://127.0.0.1:18080/a?b",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(explicit_port(&uri), uri.port_u16(), "{url}");
        }
        let no_authority: http::Uri = "/path".parse().unwrap();
        assert_eq!(explicit_port(&no_authority), None);
    }

    /// The request line Go 1.19's client writes for each URL (from `http.NewRequest` and
    /// `Request.Write`), beside ours where we differ on purpose (see the module docs).
    #[test]
    fn escapes_as_go_does() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("http://h/a b", Ok("http://h/a%20b")),
            ("http://h/ü/ß", Ok("http://h/%C3%BC/%C3%9F")),
            ("http://h/a%20b", Ok("http://h/a%20b")),
            ("http://h/a%2Fb", Ok("http://h/a%2Fb")),
            ("http://h/a%2fb", Ok("http://h/a%2fb")),
            ("http://h/a%20b c", Ok("http://h/a%20b%20c")),
            ("http://h/a!b", Ok("http://h/a!b")),
            ("http://h/a\"b", Ok("http://h/a%22b")),
            ("http://h/a{b}|c^d`e", Ok("http://h/a%7Bb%7D%7Cc%5Ed%60e")),
            ("http://h/a[b]", Ok("http://h/a[b]")),
            ("http://h/a\\b", Ok("http://h/a%5Cb")),
            ("http://h/~user/(x)*'", Ok("http://h/~user/(x)*'")),
            (
                "http://h/a;b,c=d:e@f$g&h+i",
                Ok("http://h/a;b,c=d:e@f$g&h+i"),
            ),
            ("http://h/%41", Ok("http://h/%41")),
            ("http://h/%e2%82%ac", Ok("http://h/%e2%82%ac")),
            ("http://h/é?é#é", Ok("http://h/%C3%A9?%C3%A9")),
            ("http://h", Ok("http://h")),
            ("http://h/?", Ok("http://h/?")),
            ("http://h/a?b?c", Ok("http://h/a?b?c")),
            ("http://h/?q=a+b", Ok("http://h/?q=a+b")),
            ("http://h/?q=[x]", Ok("http://h/?q=[x]")),
            ("http://h/?q=a%20b", Ok("http://h/?q=a%20b")),
            // Go sends these queries raw; HTTP/1.1 does not allow those bytes.
            ("http://h/?q=a b", Ok("http://h/?q=a%20b")),
            ("http://h/?q=ü", Ok("http://h/?q=%C3%BC")),
            ("http://h/?q=\"<>", Ok("http://h/?q=%22%3C%3E")),
            ("http://h/?q=a|b{c}", Ok("http://h/?q=a%7Cb%7Bc%7D")),
            ("http://h/?q=%zz", Ok("http://h/?q=%25zz")),
            // Go: "/a/b%20c" and "/a%21b%20c" (it re-encodes the decoded path).
            ("http://h/a%2Fb c", Ok("http://h/a%2Fb%20c")),
            ("http://h/a!b c", Ok("http://h/a!b%20c")),
            ("http://h/a%zz", Err("invalid url escape \"%zz\"")),
            ("http://h/a%", Err("invalid url escape \"%\"")),
            ("http://h/a\tb", Err("invalid control character in url")),
            ("http://h/a\x7fb", Err("invalid control character in url")),
            // Origin form, authority form, and a host with a port.
            ("/a b?x=ü", Ok("/a%20b?x=%C3%BC")),
            ("example.com:443", Ok("example.com:443")),
            ("*", Ok("*")),
            ("http://h:8080?q=a b", Ok("http://h:8080?q=a%20b")),
            ("https://u:p@h:1/ä", Ok("https://u:p@h:1/%C3%A4")),
        ];
        for (input, want) in cases {
            let got = escape_url(input).map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                want.map_err(String::from).as_deref(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn clean_urls_are_borrowed() {
        assert!(matches!(
            escape_url("http://h/a/b?c=d").unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            escape_url("http://h/a#f").unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact("http://u:secret@h/p:q@r"), "http://u:xxxxx@h/p:q@r");
        assert_eq!(redact("http://u@h/"), "http://u@h/");
        assert_eq!(redact("http://h/a:b@c"), "http://h/a:b@c");
        assert_eq!(redact("/a:b@c"), "/a:b@c");
    }

    #[test]
    fn lenient_escapes_a_stray_percent() {
        assert_eq!(escape_lenient("/a%zz b").unwrap(), "/a%25zz%20b");
        assert_eq!(escape_lenient("a b/c").unwrap(), "a%20b/c");
        assert_eq!(escape_lenient("?q=x y").unwrap(), "?q=x%20y");
        assert_eq!(escape_lenient("//h:1/a b").unwrap(), "//h:1/a%20b");
    }

    #[test]
    fn every_escaped_target_parses_as_a_uri() {
        for b in 0x20u8..=0xff {
            if b == 0x7f || b == b'#' {
                continue;
            }
            let raw = [b'/', b'a', b, b'?', b'q', b'=', b];
            let s = String::from_utf8_lossy(&raw).into_owned();
            let e = escape_lenient(&s).unwrap();
            assert!(e.parse::<http::Uri>().is_ok(), "{s:?} -> {e:?}");
        }
    }
}
