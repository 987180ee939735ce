//! Conditional requests for the file server (RFC 9110 §13): `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range`, evaluated in Go's `checkPreconditions`
//! order. Pure functions of the request headers, the response's `ETag` and the modification
//! time; mod.rs writes the responses.

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{
    HeaderName, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
};
use http::{HeaderMap, Method};

/// The first second after the largest date an IMF-fixdate can carry (year 9999).
const YEAR_10000: u64 = 253_402_300_800;

/// A modification time as whole seconds since the Unix epoch, if it is known: `None` for no
/// time, the epoch itself (Go's `isZeroTime`: "obviously unspecified"), times before it, and
/// times an HTTP date cannot express. Sub-second precision is dropped, as `Last-Modified`
/// drops it.
pub(crate) fn known_secs(t: Option<SystemTime>) -> Option<u64> {
    let secs = t?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs > 0 && secs < YEAR_10000).then_some(secs)
}

/// The IMF-fixdate for `secs` since the epoch (a value from [`known_secs`]).
pub(crate) fn http_date(secs: u64) -> String {
    crate::proto::date::imf_fixdate(secs as i64)
}

/// Parses an HTTP date in any of the three forms RFC 9110 §5.6.7 requires recipients to accept.
fn parse_date(v: &[u8]) -> Option<u64> {
    crate::proto::date::parse_http_date(v)
}

/// The result of one precondition (Go's `condResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    /// The header is absent or does not apply.
    None,
    True,
    False,
}

/// What the preconditions decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Serve the content. `honor_range` is false when `If-Range` says the client's partial
    /// copy is stale, so any `Range` is ignored and the whole content is sent.
    Serve { honor_range: bool },
    /// Answer `304 Not Modified`.
    NotModified,
    /// Answer `412 Precondition Failed`.
    PreconditionFailed,
}

/// Go's `checkPreconditions`, which follows RFC 9110 §13.2.2:
/// 1. `If-Match`, or if absent `If-Unmodified-Since`: false → 412.
/// 2. `If-None-Match`: false → 304 for GET and HEAD, 412 otherwise; if absent,
///    `If-Modified-Since` (GET and HEAD only): false → 304.
/// 3. `If-Range` (GET and HEAD only): false → ignore `Range`.
///
/// `etag` is the response's `ETag` as set by the caller; `modtime` is from [`known_secs`].
pub(crate) fn evaluate(
    h: &HeaderMap,
    method: &Method,
    etag: Option<&[u8]>,
    modtime: Option<u64>,
) -> Decision {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    let mut c = if_match(h, etag);
    if c == Cond::None {
        c = if_unmodified_since(h, modtime);
    }
    if c == Cond::False {
        return Decision::PreconditionFailed;
    }
    match if_none_match(h, etag) {
        Cond::False if get_or_head => return Decision::NotModified,
        Cond::False => return Decision::PreconditionFailed,
        Cond::None if get_or_head && if_modified_since(h, modtime) == Cond::False => {
            return Decision::NotModified
        }
        _ => {}
    }
    Decision::Serve {
        honor_range: !(get_or_head && if_range(h, etag, modtime) == Cond::False),
    }
}

/// Go's directory-listing check: only `If-Modified-Since`, and only for GET and HEAD. True
/// when the client's copy is current (answer 304).
pub(crate) fn not_modified_since(h: &HeaderMap, method: &Method, modtime: Option<u64>) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && if_modified_since(h, modtime) == Cond::False
}

/// All field lines of `name` joined by commas (RFC 9110 §5.3), or `None` if there are none or
/// they are all empty (Go treats an empty value as an absent header).
fn field(h: &HeaderMap, name: HeaderName) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for v in h.get_all(name) {
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(v.as_bytes());
    }
    (!out.trim_ascii().is_empty()).then_some(out)
}

/// The first field line of `name`, if not empty.
fn first(h: &HeaderMap, name: HeaderName) -> Option<&[u8]> {
    h.get(name)
        .map(|v| v.as_bytes())
        .filter(|v| !v.trim_ascii().is_empty())
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ' && c != b'\t');
    let Some(start) = start else {
        return &[];
    };
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .unwrap_or(start);
    &s[start..=end]
}

/// Scans one entity-tag (RFC 9110 §8.8.3: `[W/] DQUOTE *etagc DQUOTE`) at the start of `s`
/// after optional whitespace: the tag and the rest, or `None` if there is no valid tag.
pub(crate) fn scan_etag(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = trim_ows(s);
    let start = if s.starts_with(b"W/") { 2 } else { 0 };
    if s.len() < start + 2 || s[start] != b'"' {
        return None;
    }
    for (i, &c) in s.iter().enumerate().skip(start + 1) {
        match c {
            // etagc = %x21 / %x23-7E / obs-text
            0x21 | 0x23..=0x7E | 0x80..=0xFF => {}
            b'"' => return Some((&s[..=i], &s[i + 1..])),
            _ => return None,
        }
    }
    None
}

/// Strong comparison (RFC 9110 §8.8.3.2): both tags strong and byte-equal.
fn strong_match(a: &[u8], b: Option<&[u8]>) -> bool {
    b.is_some_and(|b| a == b && a.first() == Some(&b'"'))
}

/// Weak comparison: equal once any `W/` prefix is removed.
fn weak_match(a: &[u8], b: Option<&[u8]>) -> bool {
    fn opaque(t: &[u8]) -> &[u8] {
        t.strip_prefix(b"W/").unwrap_or(t)
    }
    b.is_some_and(|b| opaque(a) == opaque(b))
}

/// Walks a comma-separated list of entity-tags or `*`. `on_star` is the result for `*`,
/// `matches` is applied to each tag; a match yields `on_match`; a syntax error or the end of
/// the list yields `otherwise`.
fn scan_list(
    mut list: &[u8],
    on_star: Cond,
    on_match: Cond,
    otherwise: Cond,
    matches: impl Fn(&[u8]) -> bool,
) -> Cond {
    loop {
        list = trim_ows(list);
        match list.first() {
            None => return otherwise,
            Some(b',') => list = &list[1..],
            Some(b'*') => return on_star,
            Some(_) => {
                let Some((tag, rest)) = scan_etag(list) else {
                    return otherwise;
                };
                if matches(tag) {
                    return on_match;
                }
                list = rest;
            }
        }
    }
}

/// RFC 9110 §13.1.1: true if `*` or any listed tag matches the current one strongly.
fn if_match(h: &HeaderMap, etag: Option<&[u8]>) -> Cond {
    let Some(v) = field(h, IF_MATCH) else {
        return Cond::None;
    };
    scan_list(&v, Cond::True, Cond::True, Cond::False, |t| {
        strong_match(t, etag)
    })
}

/// RFC 9110 §13.1.4: true if the content was not modified after the given date. Ignored
/// without a known modification time or with an unparsable date.
fn if_unmodified_since(h: &HeaderMap, modtime: Option<u64>) -> Cond {
    let (Some(v), Some(m)) = (first(h, IF_UNMODIFIED_SINCE), modtime) else {
        return Cond::None;
    };
    match parse_date(v) {
        Some(t) if m <= t => Cond::True,
        Some(_) => Cond::False,
        None => Cond::None,
    }
}

/// RFC 9110 §13.1.2: false if `*` or any listed tag matches the current one weakly.
fn if_none_match(h: &HeaderMap, etag: Option<&[u8]>) -> Cond {
    let Some(v) = field(h, IF_NONE_MATCH) else {
        return Cond::None;
    };
    scan_list(&v, Cond::False, Cond::False, Cond::True, |t| {
        weak_match(t, etag)
    })
}

/// RFC 9110 §13.1.3: false (not modified) if the content was not modified after the date.
fn if_modified_since(h: &HeaderMap, modtime: Option<u64>) -> Cond {
    let (Some(v), Some(m)) = (first(h, IF_MODIFIED_SINCE), modtime) else {
        return Cond::None;
    };
    match parse_date(v) {
        Some(t) if m <= t => Cond::False,
        Some(_) => Cond::True,
        None => Cond::None,
    }
}

/// RFC 9110 §13.1.5: true if the validator still matches, so the range may be sent. An
/// entity-tag must match strongly; a date must equal the modification time exactly (Go's
/// rule; golang.org/issue/8367). Anything else, including an unknown time, is false.
fn if_range(h: &HeaderMap, etag: Option<&[u8]>, modtime: Option<u64>) -> Cond {
    let Some(v) = first(h, IF_RANGE) else {
        return Cond::None;
    };
    if let Some((tag, _)) = scan_etag(v) {
        return if strong_match(tag, etag) {
            Cond::True
        } else {
            Cond::False
        };
    }
    match (modtime, parse_date(v)) {
        (Some(m), Some(t)) if m == t => Cond::True,
        _ => Cond::False,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn scan_etag_table() {
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            ("strong", "\"abc\"", Some(("\"abc\"", ""))),
            ("weak", "W/\"abc\", x", Some(("W/\"abc\"", ", x"))),
            ("leading_space", "  \"a\"", Some(("\"a\"", ""))),
            ("empty_tag", "\"\"", Some(("\"\"", ""))),
            ("unquoted", "abc", None),
            ("unterminated", "\"abc", None),
            ("space_inside", "\"a b\"", None),
            ("lone_quote", "\"", None),
            ("lowercase_w", "w/\"a\"", None),
        ];
        for (name, input, want) in cases {
            let got = scan_etag(input.as_bytes()).map(|(t, r)| {
                (
                    std::str::from_utf8(t).unwrap(),
                    std::str::from_utf8(r).unwrap(),
                )
            });
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn known_secs_rules() {
        assert_eq!(known_secs(None), None);
        assert_eq!(known_secs(Some(UNIX_EPOCH)), None);
        assert_eq!(
            known_secs(Some(UNIX_EPOCH + Duration::from_millis(1_500))),
            Some(1)
        );
        assert_eq!(
            known_secs(Some(UNIX_EPOCH + Duration::from_secs(YEAR_10000))),
            None
        );
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
