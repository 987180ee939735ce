//! How a message body is delimited (RFC 9112 §6): one decision function for both roles.

use http::header::{HeaderMap, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};

use crate::error::{Error, ErrorKind, Malformed, Result};

/// How a message's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// A chunked body follows (RFC 9112 §7.1).
    Chunked,
    /// The body runs until the connection closes (responses only).
    UntilClose,
}

/// Which kind of message is being framed.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// A request.
    Request,
    /// A response to a request with `request_method`.
    Response {
        /// The method of the request this answers.
        request_method: &'a Method,
        /// The response's status.
        status: StatusCode,
    },
}

/// Decides the framing of a request body. See [`decide`].
///
/// # Errors
///
/// As [`decide`].
pub fn request(version: Version, headers: &HeaderMap) -> Result<Framing> {
    decide(Role::Request, version, headers)
}

/// Decides the framing of a response body to a request with `method`. See [`decide`].
///
/// # Errors
///
/// As [`decide`].
pub fn response(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
) -> Result<Framing> {
    decide(
        Role::Response {
            request_method: method,
            status,
        },
        version,
        headers,
    )
}

/// Decides how the body of a message is framed, by RFC 9112 §6.3, taking the strict option
/// wherever the RFC allows one:
///
/// 1. A response to HEAD, a 1xx, 204 or 304 response, or a 2xx answer to CONNECT has no body.
/// 2. `Transfer-Encoding` on an HTTP/1.0 message: an error (§6.1: the framing is faulty).
/// 3. A request with both `Transfer-Encoding` and `Content-Length`: an error (§6.1 lets a server
///    reject it; we do, since it is the classic smuggling vector).
/// 4. `Transfer-Encoding`: `chunked` must be the only coding, because this crate decodes no
///    other transfer coding. Anything else is [`ErrorKind::UnsupportedTransferCoding`] naming
///    the first other coding (a server answers 501), except a request whose list does not end
///    in `chunked`, which is malformed (400). On a response, as in Go, `gzip, chunked` and a
///    lone `gzip` are errors too (RFC 9112 would read the first as chunked and the second until
///    close, and hand the caller gzip bytes it did not ask for); a `Content-Length` beside
///    `chunked` is ignored.
/// 5. `Content-Length`: that many bytes. It must be `1*DIGIT` without sign, space or overflow;
///    repeated identical values (`5, 5` or two fields of `5`) are accepted, anything else is an
///    error.
/// 6. Otherwise a request has no body and a response runs until the connection closes.
///
/// # Errors
///
/// [`ErrorKind::Malformed`] naming `TransferEncoding`, `ContentLength` or
/// `ConflictingFraming`, or [`ErrorKind::UnsupportedTransferCoding`].
pub fn decide(role: Role<'_>, version: Version, headers: &HeaderMap) -> Result<Framing> {
    if let Role::Response {
        request_method,
        status,
    } = role
    {
        if request_method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || (request_method == Method::CONNECT && status.is_success())
        {
            return Ok(Framing::Empty);
        }
    }

    let is_request = matches!(role, Role::Request);
    let has_te = super::has_field(headers, &TRANSFER_ENCODING);
    let has_cl = super::has_field(headers, &CONTENT_LENGTH);

    if has_te {
        if version == Version::HTTP_10 {
            return Err(Error::malformed(Malformed::TransferEncoding));
        }
        if is_request && has_cl {
            return Err(Error::malformed(Malformed::ConflictingFraming));
        }
        let codings = transfer_codings(headers)?;
        let last_is_chunked = codings.last() == Some(&Coding::Chunked);
        let chunked_count = codings.iter().filter(|c| **c == Coding::Chunked).count();
        if is_request {
            if codings.contains(&Coding::Unknown) {
                return Err(unsupported_coding(headers));
            }
            if !last_is_chunked || chunked_count > 1 {
                return Err(Error::malformed(Malformed::TransferEncoding));
            }
            if codings.len() > 1 {
                // A known coding (gzip, deflate, compress) under chunked: valid HTTP, but a
                // server here would hand the handler coded bytes it cannot know about.
                return Err(unsupported_coding(headers));
            }
            return Ok(Framing::Chunked);
        }
        // RFC 9112 §7.1: chunked must not be applied more than once.
        if chunked_count > 1 {
            return Err(Error::malformed(Malformed::TransferEncoding));
        }
        // A response may be framed by any list ending in chunked, or by a final coding read
        // until close (§6.3 rule 3); but the body would reach the caller still coded, which
        // nothing here undoes. Go refuses every coding but chunked, and so do we.
        if codings.len() > 1 || !last_is_chunked {
            return Err(unsupported_coding(headers));
        }
        return Ok(Framing::Chunked);
    }

    if has_cl {
        return Ok(Framing::Length(content_length(headers)?));
    }
    Ok(if is_request {
        Framing::Empty
    } else {
        Framing::UntilClose
    })
}

/// [`ErrorKind::UnsupportedTransferCoding`] naming the first coding in `headers` other than
/// `chunked`: `unsupported transfer coding: "gzip"`.
fn unsupported_coding(headers: &HeaderMap) -> Error {
    let name = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| crate::proto::split_bytes(v.as_bytes(), b','))
        .map(|item| trim_ows(crate::proto::split_bytes(item, b';').next().unwrap_or(item)))
        .find(|name| !name.eq_ignore_ascii_case(b"chunked"))
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .unwrap_or_default();
    Error::with_source(ErrorKind::UnsupportedTransferCoding, format!("{name:?}"))
}

#[derive(Debug, PartialEq, Eq)]
enum Coding {
    Chunked,
    Known,
    Unknown,
}

/// The codings listed by all `Transfer-Encoding` fields, in order.
fn transfer_codings(headers: &HeaderMap) -> Result<Vec<Coding>> {
    let bad = || Error::malformed(Malformed::TransferEncoding);
    let mut out = Vec::with_capacity(1);
    for value in super::field_values(headers, &TRANSFER_ENCODING) {
        for item in crate::proto::split_bytes(value.as_bytes(), b',') {
            let item = trim_ows(item);
            // Empty list elements are legal list syntax but no sender needs them; reject them
            // rather than let two parsers disagree about `chunked,,`.
            if item.is_empty() {
                return Err(bad());
            }
            // A coding is a token, optionally followed by parameters; chunked takes none.
            let (name, params) = match item.iter().position(|&b| b == b';') {
                Some(i) => (trim_ows(&item[..i]), true),
                None => (item, false),
            };
            if name.is_empty() || !name.iter().all(|&b| super::is_tchar(b)) {
                return Err(bad());
            }
            let coding = if name.eq_ignore_ascii_case(b"chunked") {
                if params {
                    return Err(bad());
                }
                Coding::Chunked
            } else if [
                &b"gzip"[..],
                b"x-gzip",
                b"deflate",
                b"compress",
                b"x-compress",
            ]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k))
            {
                Coding::Known
            } else {
                Coding::Unknown
            };
            out.push(coding);
        }
    }
    Ok(out)
}

/// Parses `Content-Length` strictly: every field and every comma-separated element must be
/// `1*DIGIT`, fit in a `u64`, and all must be equal (RFC 9110 §8.6).
///
/// # Errors
///
/// [`Malformed::ContentLength`].
pub fn content_length(headers: &HeaderMap) -> Result<u64> {
    let bad = || Error::malformed(Malformed::ContentLength);
    let mut found: Option<u64> = None;
    for value in super::field_values(headers, &CONTENT_LENGTH) {
        for item in crate::proto::split_bytes(value.as_bytes(), b',') {
            let n = parse_decimal(trim_ows(item)).ok_or_else(bad)?;
            match found {
                Some(prev) if prev != n => return Err(bad()),
                _ => found = Some(n),
            }
        }
    }
    found.ok_or_else(bad)
}

/// `1*DIGIT` as a `u64`: no sign, no space, no hex, no overflow.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Fields a trailer must not carry (RFC 9110 §6.5.1: framing, routing, request modifiers,
/// authentication, content handling), as Go's `badTrailer` list. The server leaves them out
/// of a response's trailers, the client out of a request's.
pub fn forbidden_trailer(name: &http::HeaderName) -> bool {
    use http::header::*;
    [
        AUTHORIZATION,
        CACHE_CONTROL,
        CONNECTION,
        CONTENT_ENCODING,
        CONTENT_LENGTH,
        CONTENT_RANGE,
        CONTENT_TYPE,
        EXPECT,
        HOST,
        MAX_FORWARDS,
        PRAGMA,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        RANGE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        WWW_AUTHENTICATE,
    ]
    .contains(name)
        || name == "keep-alive"
        || name == "proxy-connection"
}

/// The fields of `trailers` that may be sent as a trailer section: without the
/// [`forbidden_trailer`] ones.
pub fn sendable_trailers(trailers: &http::HeaderMap) -> http::HeaderMap {
    let mut kept = http::HeaderMap::new();
    for (name, value) in trailers {
        if !forbidden_trailer(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in fields {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn request_framing_table() {
        use ErrorKind::{Malformed as M, UnsupportedTransferCoding as Unsup};
        use Framing::*;
        let v11 = Version::HTTP_11;
        let v10 = Version::HTTP_10;
        type Case<'a> = (
            &'a str,
            Version,
            &'a [(&'a str, &'a str)],
            Result<Framing, ErrorKind>,
        );
        let cases: &[Case<'_>] = &[
            ("no_body", v11, &[], Ok(Empty)),
            ("cl", v11, &[("content-length", "5")], Ok(Length(5))),
            ("cl_zero", v11, &[("content-length", "0")], Ok(Length(0))),
            (
                "cl_leading_zeros",
                v11,
                &[("content-length", "007")],
                Ok(Length(7)),
            ),
            (
                "cl_same_twice",
                v11,
                &[("content-length", "5"), ("content-length", "5")],
                Ok(Length(5)),
            ),
            (
                "cl_same_list",
                v11,
                &[("content-length", "5, 5")],
                Ok(Length(5)),
            ),
            (
                "cl_max",
                v11,
                &[("content-length", "18446744073709551615")],
                Ok(Length(u64::MAX)),
            ),
            (
                "cl_differ",
                v11,
                &[("content-length", "5"), ("content-length", "6")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_differ_list",
                v11,
                &[("content-length", "5, 6")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_plus",
                v11,
                &[("content-length", "+5")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_minus",
                v11,
                &[("content-length", "-5")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_hex",
                v11,
                &[("content-length", "0x5")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_empty",
                v11,
                &[("content-length", "")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_inner_space",
                v11,
                &[("content-length", "1 2")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_overflow",
                v11,
                &[("content-length", "18446744073709551616")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_empty_list_item",
                v11,
                &[("content-length", "5,")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "cl_float",
                v11,
                &[("content-length", "5.0")],
                Err(M(Malformed::ContentLength)),
            ),
            (
                "te_chunked",
                v11,
                &[("transfer-encoding", "chunked")],
                Ok(Chunked),
            ),
            (
                "te_chunked_upper",
                v11,
                &[("transfer-encoding", "CHUNKED")],
                Ok(Chunked),
            ),
            (
                "cl_te",
                v11,
                &[("content-length", "5"), ("transfer-encoding", "chunked")],
                Err(M(Malformed::ConflictingFraming)),
            ),
            (
                "te_http10",
                v10,
                &[("transfer-encoding", "chunked")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_xchunked",
                v11,
                &[("transfer-encoding", "xchunked")],
                Err(Unsup),
            ),
            (
                "te_chunked_identity",
                v11,
                &[("transfer-encoding", "chunked, identity")],
                Err(Unsup),
            ),
            (
                "te_second_line",
                v11,
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "identity"),
                ],
                Err(Unsup),
            ),
            (
                "te_twice_chunked",
                v11,
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_chunked_gzip",
                v11,
                &[("transfer-encoding", "chunked, gzip")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_gzip_chunked",
                v11,
                &[("transfer-encoding", "gzip, chunked")],
                Err(Unsup),
            ),
            (
                "te_gzip_only",
                v11,
                &[("transfer-encoding", "gzip")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_empty",
                v11,
                &[("transfer-encoding", "")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_empty_item",
                v11,
                &[("transfer-encoding", "chunked,")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_params",
                v11,
                &[("transfer-encoding", "chunked;q=1")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_quoted",
                v11,
                &[("transfer-encoding", "\"chunked\"")],
                Err(M(Malformed::TransferEncoding)),
            ),
            (
                "te_nbsp",
                v11,
                &[("transfer-encoding", "chunked\u{a0}")],
                Err(M(Malformed::TransferEncoding)),
            ),
        ];
        for (name, version, fields, want) in cases {
            let h = if *name == "te_nbsp" {
                let mut h = HeaderMap::new();
                h.insert(
                    TRANSFER_ENCODING,
                    HeaderValue::from_bytes(b"chunked\xa0").unwrap(),
                );
                h
            } else {
                headers(fields)
            };
            let got = request(*version, &h).map_err(|e| e.kind());
            assert_eq!(&got, want, "case {name}");
        }
    }

    #[test]
    fn response_framing_table() {
        use Framing::*;
        let get = Method::GET;
        let head = Method::HEAD;
        let connect = Method::CONNECT;
        type Case<'a> = (
            &'a str,
            &'a Method,
            u16,
            &'a [(&'a str, &'a str)],
            Result<Framing, ErrorKind>,
        );
        let cases: &[Case<'_>] = &[
            (
                "head_with_cl",
                &head,
                200,
                &[("content-length", "10")],
                Ok(Empty),
            ),
            (
                "status_204",
                &get,
                204,
                &[("content-length", "10")],
                Ok(Empty),
            ),
            (
                "status_304",
                &get,
                304,
                &[("content-length", "10")],
                Ok(Empty),
            ),
            ("status_100", &get, 100, &[], Ok(Empty)),
            ("connect_200", &connect, 200, &[], Ok(Empty)),
            (
                "connect_407",
                &connect,
                407,
                &[("content-length", "3")],
                Ok(Length(3)),
            ),
            ("no_framing", &get, 200, &[], Ok(UntilClose)),
            ("cl", &get, 200, &[("content-length", "3")], Ok(Length(3))),
            (
                "te_wins_over_cl",
                &get,
                200,
                &[("content-length", "3"), ("transfer-encoding", "chunked")],
                Ok(Chunked),
            ),
            (
                "te_gzip_chunked",
                &get,
                200,
                &[("transfer-encoding", "gzip, chunked")],
                Err(ErrorKind::UnsupportedTransferCoding),
            ),
            (
                "te_not_last",
                &get,
                200,
                &[("transfer-encoding", "chunked, gzip")],
                Err(ErrorKind::UnsupportedTransferCoding),
            ),
            (
                "te_unknown",
                &get,
                200,
                &[("transfer-encoding", "foo")],
                Err(ErrorKind::UnsupportedTransferCoding),
            ),
            (
                "te_double_chunked",
                &get,
                200,
                &[("transfer-encoding", "chunked, chunked")],
                Err(ErrorKind::Malformed(Malformed::TransferEncoding)),
            ),
            (
                "bad_cl",
                &get,
                200,
                &[("content-length", "abc")],
                Err(ErrorKind::Malformed(Malformed::ContentLength)),
            ),
        ];
        for (name, method, status, fields, want) in cases {
            let got = response(
                method,
                StatusCode::from_u16(*status).unwrap(),
                Version::HTTP_11,
                &headers(fields),
            )
            .map_err(|e| e.kind());
            assert_eq!(&got, want, "case {name}");
        }
        let te10 = response(
            &get,
            StatusCode::OK,
            Version::HTTP_10,
            &headers(&[("transfer-encoding", "chunked")]),
        );
        assert!(te10.is_err());
    }

    #[test]
    fn unsupported_coding_is_named() {
        let get = Method::GET;
        let cases = [
            ("gzip, chunked", "unsupported transfer coding: \"gzip\""),
            (
                "chunked, x-custom;q=1",
                "unsupported transfer coding: \"x-custom\"",
            ),
            ("br", "unsupported transfer coding: \"br\""),
        ];
        for (te, want) in cases {
            let e = response(
                &get,
                StatusCode::OK,
                Version::HTTP_11,
                &headers(&[("transfer-encoding", te)]),
            )
            .unwrap_err();
            assert_eq!(e.to_string(), want, "{te}");
        }
        let mut two = headers(&[("transfer-encoding", "gzip")]);
        two.append(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        let e = response(&get, StatusCode::OK, Version::HTTP_11, &two).unwrap_err();
        assert_eq!(e.to_string(), "unsupported transfer coding: \"gzip\"");
    }
}
