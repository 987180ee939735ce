//! HTTP messages as HTTP/2 field lists (RFC 9113 §8), sans-IO: a request's fields checked and
//! turned into a method, target and header map (what a server receives), and a response head
//! or trailer section turned into fields (what a server sends). The client's halves (request
//! out, response in) will sit beside these, on the same field rules.
//!
//! Every rule broken makes the message *malformed* (§8.1.1): a `PROTOCOL_ERROR` stream error,
//! which resets only that stream.

use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, COOKIE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri};

use super::ErrorCode;
use crate::error::{Error, Result};
use crate::proto::hpack::Field;

/// A request as its fields describe it (§8.3.1).
#[derive(Debug, Clone)]
pub struct RequestParts {
    /// `:method`.
    pub method: Method,
    /// `:scheme` (absent for `CONNECT`).
    pub scheme: Option<String>,
    /// `:authority`, if sent; it is also put in `headers` as `host` (replacing any `host`
    /// field), where HTTP/1 handlers look for it.
    pub authority: Option<String>,
    /// The request target: `:path` in origin form (or `*`), or the authority for `CONNECT`,
    /// as an HTTP/1 request line would carry it.
    pub target: Uri,
    /// The regular fields, `cookie` fields joined into one (§8.2.3).
    pub headers: HeaderMap,
    /// `content-length`, if sent (§8.1.1: the `DATA` frames must add up to it).
    pub content_length: Option<u64>,
}

/// The fields an HTTP/2 message must not carry (§8.2.2): they are about one HTTP/1
/// connection.
pub fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade"
    )
}

/// An empty map for `count` fields received from a peer. `HeaderMap::with_capacity` panics
/// past http's limit (about 24,000 fields, which a header block within its size limit can
/// carry), so a larger count starts from an empty map, which grows as fields are appended.
pub(crate) fn field_map(count: usize) -> HeaderMap {
    HeaderMap::try_with_capacity(count).unwrap_or_default()
}

/// Why a header block with more distinct names than a `HeaderMap` holds (32,768) is refused.
pub(crate) const TOO_MANY_NAMES: &str = "more distinct header field names than a map holds";

pub(crate) fn malformed(stream_id: u32, what: impl Into<String>) -> Error {
    Error::h2_stream(stream_id, ErrorCode::Protocol, what)
}

/// Checks one regular field (§8.2.1, §8.2.2) and turns it into `http` types.
pub(crate) fn regular_field(stream_id: u32, f: &Field) -> Result<(HeaderName, HeaderValue)> {
    let name = &f.name;
    if name.is_empty()
        || !name
            .iter()
            .all(|&b| crate::proto::is_tchar(b) && !b.is_ascii_uppercase())
    {
        return Err(malformed(
            stream_id,
            format!(
                "invalid field name {:?}",
                String::from_utf8_lossy(name).into_owned()
            ),
        ));
    }
    if is_connection_specific(name) {
        return Err(malformed(
            stream_id,
            format!(
                "connection-specific field {}",
                String::from_utf8_lossy(name).into_owned()
            ),
        ));
    }
    let v = &f.value;
    // §8.2.1: no NUL, CR or LF; no whitespace at either end. `HeaderValue` refuses the other
    // control characters.
    let bad_end = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if v.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) || bad_end(v.first()) || bad_end(v.last())
    {
        return Err(malformed(
            stream_id,
            format!("invalid value for field {}", lossy(name)),
        ));
    }
    let value = HeaderValue::from_bytes(v).map_err(|_| {
        malformed(
            stream_id,
            format!("invalid value for field {}", lossy(name)),
        )
    })?;
    let name = HeaderName::from_bytes(name)
        .map_err(|_| malformed(stream_id, format!("invalid field name {:?}", lossy(name))))?;
    if name == http::header::TE && value.as_bytes() != b"trailers" {
        // §8.2.2: `te` may only say `trailers`.
        return Err(malformed(stream_id, "te field other than trailers"));
    }
    Ok((name, value))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks a request's fields, as a server receives them (§8.3.1), and splits them into the
/// request's parts.
///
/// # Errors
///
/// A `PROTOCOL_ERROR` stream error for `stream_id` if the request is malformed: a missing,
/// repeated, unknown, empty or late pseudo-header (`:method` always; `:scheme` and `:path`
/// except for `CONNECT`, which has only `:authority`), a field name with uppercase letters or
/// other bytes outside a token, a connection-specific field, `te` other than `trailers`, a bad
/// value, an invalid `content-length` (§8.1.1).
pub fn request_parts(stream_id: u32, fields: Vec<Field>) -> Result<RequestParts> {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut headers = field_map(fields.len());
    let mut cookies: Vec<Vec<u8>> = Vec::new();
    let mut regular = false;
    for f in fields {
        if let Some(pseudo) = f.name.strip_prefix(b":") {
            if regular {
                return Err(malformed(stream_id, "pseudo-header after a regular field"));
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => {
                    return Err(malformed(
                        stream_id,
                        format!("unknown pseudo-header {}", lossy(&f.name)),
                    ))
                }
            };
            if slot.is_some() {
                return Err(malformed(
                    stream_id,
                    format!("repeated pseudo-header {}", lossy(&f.name)),
                ));
            }
            *slot = Some(f.value);
            continue;
        }
        regular = true;
        if f.name == b"cookie" {
            // §8.2.3: cookie crumbs are joined with "; " before an HTTP/1 view sees them.
            regular_field(stream_id, &f)?;
            cookies.push(f.value);
            continue;
        }
        let (name, value) = regular_field(stream_id, &f)?;
        if !crate::proto::head::append_field(&mut headers, name, value) {
            return Err(malformed(stream_id, TOO_MANY_NAMES));
        }
    }
    if !cookies.is_empty() {
        let joined = cookies.join(&b"; "[..]);
        let v = HeaderValue::from_bytes(&joined)
            .map_err(|_| malformed(stream_id, "invalid cookie field"))?;
        headers.insert(COOKIE, v);
    }
    let Some(method) = method else {
        return Err(malformed(stream_id, "missing :method"));
    };
    let method = Method::from_bytes(&method)
        .map_err(|_| malformed(stream_id, format!("invalid :method {:?}", lossy(&method))))?;
    let text = |v: Option<Vec<u8>>, what: &str| -> Result<Option<String>> {
        match v {
            None => Ok(None),
            Some(v) if v.is_empty() => Err(malformed(stream_id, format!("empty {what}"))),
            Some(v) => String::from_utf8(v)
                .map(Some)
                .map_err(|_| malformed(stream_id, format!("invalid {what}"))),
        }
    };
    let scheme = text(scheme, ":scheme")?;
    let authority = text(authority, ":authority")?;
    let path = text(path, ":path")?;
    let target = if method == Method::CONNECT {
        // §8.5: CONNECT names only the authority (extended CONNECT, RFC 8441, is not
        // supported: `:protocol` is an unknown pseudo-header here).
        if scheme.is_some() || path.is_some() {
            return Err(malformed(
                stream_id,
                "connect request with :scheme or :path",
            ));
        }
        let Some(a) = &authority else {
            return Err(malformed(stream_id, "connect request without :authority"));
        };
        a.parse::<Uri>()
            .map_err(|_| malformed(stream_id, "invalid :authority"))?
    } else {
        let (Some(_), Some(p)) = (&scheme, &path) else {
            return Err(malformed(stream_id, "missing :scheme or :path"));
        };
        // §8.3.1: origin form, or `*` for a server-wide OPTIONS.
        if !(p.starts_with('/') || (p == "*" && method == Method::OPTIONS)) {
            return Err(malformed(stream_id, format!("invalid :path {p:?}")));
        }
        p.parse::<Uri>()
            .map_err(|_| malformed(stream_id, format!("invalid :path {p:?}")))?
    };
    if let Some(a) = &authority {
        if a.parse::<http::uri::Authority>().is_err() {
            return Err(malformed(stream_id, "invalid :authority"));
        }
        let v = HeaderValue::from_str(a).map_err(|_| malformed(stream_id, "invalid :authority"))?;
        headers.insert(HOST, v);
    }
    let content_length = if headers.contains_key(CONTENT_LENGTH) {
        Some(
            crate::proto::framing::content_length(&headers)
                .map_err(|_| malformed(stream_id, "invalid content-length"))?,
        )
    } else {
        None
    };
    Ok(RequestParts {
        method,
        scheme,
        authority,
        target,
        headers,
        content_length,
    })
}

/// Checks a trailer section as received (§8.1: no pseudo-headers) and turns it into a map.
///
/// # Errors
///
/// A `PROTOCOL_ERROR` stream error for `stream_id` for a pseudo-header or a field that breaks
/// the rules of [`request_parts`].
pub fn trailers(stream_id: u32, fields: &[Field]) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for f in fields {
        if f.name.starts_with(b":") {
            return Err(malformed(stream_id, "pseudo-header in trailers"));
        }
        let (name, value) = regular_field(stream_id, f)?;
        if !crate::proto::head::append_field(&mut map, name, value) {
            return Err(malformed(stream_id, TOO_MANY_NAMES));
        }
    }
    Ok(map)
}

/// The fields of a response head (§8.3.2): `:status`, then the header fields the map holds,
/// except connection-specific ones (§8.2.2, which a handler written for HTTP/1 may set; Go
/// drops them too) and those `skip` names (trailers announced in the head). Names are
/// already lowercase in a `HeaderMap`.
pub fn response_fields(
    status: StatusCode,
    headers: &HeaderMap,
    skip: &dyn Fn(&HeaderName) -> bool,
) -> Vec<Field> {
    let mut out = Vec::with_capacity(headers.len() + 1);
    out.push(Field::new(":status", status.as_str()));
    for (name, value) in headers {
        if is_connection_specific(name.as_str().as_bytes())
            || *name == http::header::TE
            || skip(name)
        {
            continue;
        }
        out.push(Field::new(name.as_str(), value.as_bytes()));
    }
    out
}

/// The fields of a trailer section to send: the map's fields, connection-specific ones left
/// out (§8.2.2).
pub fn trailer_fields(trailers: &HeaderMap) -> Vec<Field> {
    trailers
        .iter()
        .filter(|(n, _)| !is_connection_specific(n.as_str().as_bytes()))
        .map(|(n, v)| Field::new(n.as_str(), v.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Http2Error;
    use crate::ErrorKind;

    fn fields(list: &[(&str, &str)]) -> Vec<Field> {
        list.iter().map(|(n, v)| Field::new(*n, *v)).collect()
    }

    const GET: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/a?b=c"),
    ];

    #[test]
    fn valid_requests() {
        let p = request_parts(1, fields(GET)).unwrap();
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.target, "/a?b=c");
        assert_eq!(p.headers[HOST], "example.com");
        let mut list = GET.to_vec();
        list.extend([
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("te", "trailers"),
            ("content-length", "5"),
        ]);
        let p = request_parts(3, fields(&list)).unwrap();
        assert_eq!(p.headers[COOKIE], "a=1; b=2");
        assert_eq!(p.content_length, Some(5));
        let p = request_parts(
            5,
            fields(&[(":method", "CONNECT"), (":authority", "example.com:443")]),
        )
        .unwrap();
        assert_eq!(p.target, "example.com:443");
        let p = request_parts(
            7,
            fields(&[(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")]),
        )
        .unwrap();
        assert_eq!(p.target, "*");
    }

    /// More distinct names than a `HeaderMap` holds: a stream error, never a panic; many values
    /// of one name are kept.
    #[test]
    fn more_names_than_a_map_holds() {
        let mut f = fields(GET);
        f.extend((0..40_000).map(|i| Field::new(format!("x{i}"), "v")));
        let e = request_parts(1, f).expect_err("refused");
        assert!(e.to_string().contains(TOO_MANY_NAMES), "{e}");
        let many: Vec<Field> = (0..40_000)
            .map(|i| Field::new(format!("x{i}"), "v"))
            .collect();
        assert!(trailers(1, &many).is_err());
        let mut f = fields(GET);
        f.extend((0..40_000).map(|_| Field::new("x-same", "v")));
        let p = request_parts(1, f).unwrap();
        assert_eq!(p.headers.get_all("x-same").iter().count(), 40_000);
    }

    #[test]
    fn malformed_requests() {
        // (name, fields): each a PROTOCOL_ERROR stream error (RFC 9113 §8.1.1).
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("no_method", &[(":scheme", "http"), (":path", "/")]),
            ("no_path", &[(":method", "GET"), (":scheme", "http")]),
            ("no_scheme", &[(":method", "GET"), (":path", "/")]),
            (
                "empty_path",
                &[(":method", "GET"), (":scheme", "http"), (":path", "")],
            ),
            (
                "relative_path",
                &[(":method", "GET"), (":scheme", "http"), (":path", "a")],
            ),
            (
                "star_not_options",
                &[(":method", "GET"), (":scheme", "http"), (":path", "*")],
            ),
            (
                "repeated_method",
                &[
                    (":method", "GET"),
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                ],
            ),
            (
                "unknown_pseudo",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    (":protocol", "ws"),
                ],
            ),
            (
                "pseudo_after_regular",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    ("a", "b"),
                    (":path", "/"),
                ],
            ),
            (
                "uppercase_name",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("X-A", "b"),
                ],
            ),
            (
                "connection_field",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("connection", "x"),
                ],
            ),
            (
                "transfer_encoding",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("transfer-encoding", "chunked"),
                ],
            ),
            (
                "te_gzip",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("te", "gzip"),
                ],
            ),
            (
                "value_with_lf",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("a", "b\nc"),
                ],
            ),
            (
                "value_leading_space",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("a", " b"),
                ],
            ),
            (
                "bad_content_length",
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/"),
                    ("content-length", "x"),
                ],
            ),
            (
                "connect_with_path",
                &[
                    (":method", "CONNECT"),
                    (":authority", "a:1"),
                    (":path", "/"),
                ],
            ),
            ("connect_no_authority", &[(":method", "CONNECT")]),
        ];
        for (name, list) in cases {
            let e = request_parts(9, fields(list)).expect_err(name);
            assert_eq!(
                e.kind(),
                ErrorKind::Http2(Http2Error::Stream {
                    stream_id: 9,
                    code: ErrorCode::Protocol
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn response_and_trailer_fields() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.insert("connection", HeaderValue::from_static("close"));
        h.insert("x-sum", HeaderValue::from_static("1"));
        let skip = |n: &HeaderName| n == "x-sum";
        let f = response_fields(StatusCode::NOT_FOUND, &h, &skip);
        assert_eq!(
            f,
            fields(&[(":status", "404"), ("content-type", "text/plain")])
        );
        assert_eq!(trailer_fields(&h).len(), 2);
        assert!(trailers(1, &fields(&[("x-sum", "1")])).is_ok());
        assert!(trailers(1, &fields(&[(":status", "200")])).is_err());
    }
}
