//! The client's halves of HTTP/2 messages (RFC 9113 §8), sans-IO: a request's fields,
//! borrowed for the encoder, a response head or trailer section checked and turned into `http` types.
//!
//! The server's halves are in `proto::h2::message`, whose field rules (`regular_field`) and
//! trailer check (`trailers`) both roles use.

use std::borrow::Cow;

use http::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_LENGTH, HOST, TE, USER_AGENT};
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::error::{Error, Result};
use crate::proto::h2::message::{is_connection_specific, malformed, regular_field, TOO_MANY_NAMES};
use crate::proto::hpack::{Field, FieldRef};

/// A response head as its fields describe it (§8.3.2).
#[derive(Debug)]
pub(crate) struct ResponseParts {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// `content-length`, if sent (§8.1.1: the `DATA` frames must add up to it).
    pub(crate) content_length: Option<u64>,
}

/// The fields of a request (§8.3.1), borrowed from it for the HPACK encoder: the four
/// pseudo-headers, then the header fields minus the connection-specific ones (§8.2.2:
/// `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`; `te` only
/// as `trailers`) and `host`, which `:authority` replaces. A `content-length` is added for a
/// body of known length (unless the request has one), a `user-agent` if the request has
/// none. Nothing is copied: the request's own octets go to the encoder.
pub(crate) struct RequestFields<'a> {
    method: &'a Method,
    scheme: Cow<'a, str>,
    authority: &'a [u8],
    path: &'a str,
    headers: &'a HeaderMap,
    /// The decimal digits of the `content-length` to add, right-aligned, and where they start.
    content_length: Option<([u8; 20], usize)>,
    user_agent: Option<&'a [u8]>,
    /// The client's `accept-encoding`, when the request has none.
    accept_encoding: Option<&'a [u8]>,
}

impl<'a> RequestFields<'a> {
    /// The fields of a request with these parts.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if the URL has no host
    /// and the request no `host` field.
    pub(crate) fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        body_len: Option<u64>,
        user_agent: Option<&'a HeaderValue>,
        accept_encoding: Option<&'a HeaderValue>,
    ) -> Result<RequestFields<'a>> {
        let authority = match headers.get(HOST) {
            Some(h) => h.as_bytes(),
            // Without the URL's userinfo, as HTTP/1's Host (RFC 9113 §8.3.1).
            None => crate::proto::client::request_host(uri)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "url has no host: {}",
                        crate::proto::uri::redact(&uri.to_string())
                    ))
                })?
                .as_bytes(),
        };
        let scheme = uri.scheme_str().unwrap_or("http");
        let scheme = if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(scheme.to_ascii_lowercase())
        } else {
            Cow::Borrowed(scheme)
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        let mut content_length = None;
        if !headers.contains_key(CONTENT_LENGTH) {
            let wants_length = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
            match body_len {
                Some(n) if n > 0 || wants_length => content_length = Some(digits(n)),
                _ => {}
            }
        }
        Ok(RequestFields {
            method,
            scheme,
            authority,
            path,
            headers,
            content_length,
            user_agent: user_agent
                .filter(|_| !headers.contains_key(USER_AGENT))
                .map(HeaderValue::as_bytes),
            accept_encoding: accept_encoding
                .filter(|_| !headers.contains_key(ACCEPT_ENCODING))
                .map(HeaderValue::as_bytes),
        })
    }

    /// The fields, in the order they are sent.
    pub(crate) fn iter(&self) -> impl Iterator<Item = FieldRef<'_>> {
        let connect = *self.method == Method::CONNECT;
        let pseudo = [
            Some(FieldRef::new(b":method", self.method.as_str().as_bytes())),
            (!connect).then(|| FieldRef::new(b":scheme", self.scheme.as_bytes())),
            Some(FieldRef::new(b":authority", self.authority)),
            (!connect).then(|| FieldRef::new(b":path", self.path.as_bytes())),
        ];
        let regular = self.headers.iter().filter_map(|(name, value)| {
            let n = name.as_str().as_bytes();
            if is_connection_specific(n) || *name == HOST {
                return None;
            }
            if *name == TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers") {
                return None;
            }
            // An empty User-Agent means "send none", as over HTTP/1 and in Go.
            if *name == USER_AGENT && value.is_empty() {
                return None;
            }
            Some(FieldRef {
                name: n,
                value: value.as_bytes(),
                sensitive: matches!(n, b"authorization" | b"proxy-authorization" | b"cookie"),
            })
        });
        let length = self
            .content_length
            .as_ref()
            .map(|(buf, at)| FieldRef::new(b"content-length", &buf[*at..]));
        let ua = self.user_agent.map(|v| FieldRef::new(b"user-agent", v));
        let ae = self
            .accept_encoding
            .map(|v| FieldRef::new(b"accept-encoding", v));
        pseudo
            .into_iter()
            .flatten()
            .chain(regular)
            .chain(length)
            .chain(ua)
            .chain(ae)
    }
}

/// `n` in decimal, right-aligned in the buffer, and where its digits start.
fn digits(mut n: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (buf, at);
        }
    }
}

/// Checks a response head as received (§8.3.2): exactly one `:status`, first, of three
/// digits; no other pseudo-header; regular fields by the rules of §8.2.
///
/// # Errors
///
/// A `PROTOCOL_ERROR` stream error for `stream_id` if the head is malformed.
pub(crate) fn response_parts(stream_id: u32, fields: Vec<Field>) -> Result<ResponseParts> {
    let mut status = None;
    let mut regular = false;
    let mut headers = crate::proto::h2::message::field_map(fields.len());
    for f in &fields {
        if f.name.starts_with(b":") {
            if regular {
                return Err(malformed(stream_id, "pseudo-header after a regular field"));
            }
            if f.name != b":status" {
                return Err(malformed(
                    stream_id,
                    format!(
                        "pseudo-header {} in a response",
                        String::from_utf8_lossy(&f.name)
                    ),
                ));
            }
            if status.is_some() {
                return Err(malformed(stream_id, "repeated :status"));
            }
            let s = (f.value.len() == 3)
                .then(|| StatusCode::from_bytes(&f.value).ok())
                .flatten()
                .ok_or_else(|| malformed(stream_id, "invalid :status"))?;
            status = Some(s);
            continue;
        }
        regular = true;
        let (name, value) = regular_field(stream_id, f)?;
        if !crate::proto::head::append_field(&mut headers, name, value) {
            return Err(malformed(stream_id, TOO_MANY_NAMES));
        }
    }
    let status = status.ok_or_else(|| malformed(stream_id, "response without :status"))?;
    let mut content_length = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        let n = std::str::from_utf8(v.as_bytes())
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| malformed(stream_id, "invalid content-length"))?;
        if content_length.is_some_and(|c| c != n) {
            return Err(malformed(stream_id, "conflicting content-length values"));
        }
        content_length = Some(n);
    }
    Ok(ResponseParts {
        status,
        headers,
        content_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Http2Error;
    use crate::proto::h2::message::trailers;
    use crate::proto::h2::ErrorCode;
    use crate::ErrorKind;

    fn fields(list: &[(&str, &str)]) -> Vec<Field> {
        list.iter().map(|(n, v)| Field::new(*n, *v)).collect()
    }

    fn request_fields(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body_len: Option<u64>,
        user_agent: Option<&HeaderValue>,
    ) -> Result<Vec<Field>> {
        let f = RequestFields::new(method, uri, headers, body_len, user_agent, None)?;
        Ok(f.iter().map(|f| f.to_field()).collect())
    }

    #[test]
    fn the_clients_accept_encoding_comes_last_unless_the_request_has_one() {
        let uri: Uri = "http://example.com".parse().unwrap();
        let gzip = HeaderValue::from_static("gzip");
        let ua = HeaderValue::from_static("nethttp-test");
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        let f =
            RequestFields::new(&Method::GET, &uri, &h, Some(0), Some(&ua), Some(&gzip)).unwrap();
        let got: Vec<Field> = f.iter().map(|f| f.to_field()).collect();
        assert_eq!(
            got[4..],
            [
                Field::new("x-a", "1"),
                Field::new("user-agent", "nethttp-test"),
                Field::new("accept-encoding", "gzip"),
            ]
        );
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let f = RequestFields::new(&Method::GET, &uri, &h, Some(0), None, Some(&gzip)).unwrap();
        let got: Vec<Field> = f.iter().map(|f| f.to_field()).collect();
        let ae: Vec<&Field> = got
            .iter()
            .filter(|f| f.name == b"accept-encoding")
            .collect();
        assert_eq!(ae, [&Field::new("accept-encoding", "identity")]);
    }

    #[test]
    fn content_length_and_user_agent_are_added() {
        let uri: Uri = "http://example.com".parse().unwrap();
        let ua = HeaderValue::from_static("nethttp-test");
        // (method, body length, the content-length sent)
        let cases = [
            (Method::POST, Some(0), Some("0")),
            (Method::GET, Some(0), None),
            (Method::GET, Some(7), Some("7")),
            (Method::PUT, Some(u64::MAX), Some("18446744073709551615")),
            (Method::POST, None, None),
        ];
        for (method, len, want) in cases {
            let f = request_fields(&method, &uri, &HeaderMap::new(), len, Some(&ua)).unwrap();
            let got = f
                .iter()
                .find(|f| f.name == b"content-length")
                .map(|f| String::from_utf8_lossy(&f.value).into_owned());
            assert_eq!(got.as_deref(), want, "{method} {len:?}");
            assert_eq!(f.last().unwrap(), &Field::new("user-agent", "nethttp-test"));
            assert_eq!(f[2], Field::new(":authority", "example.com"));
        }
        let mut h = HeaderMap::new();
        h.insert(USER_AGENT, HeaderValue::from_static("mine"));
        h.insert("cookie", HeaderValue::from_static("a=b"));
        let f = request_fields(&Method::CONNECT, &uri, &h, None, Some(&ua)).unwrap();
        let names: Vec<&[u8]> = f.iter().map(|f| &f.name[..]).collect();
        assert_eq!(
            names,
            [&b":method"[..], b":authority", b"user-agent", b"cookie"]
        );
        assert!(f[3].sensitive && !f[2].sensitive);
        assert_eq!(f[2].value, b"mine");
        // An empty User-Agent sends none (and the transport's is not added in its place).
        h.insert(USER_AGENT, HeaderValue::from_static(""));
        let f = request_fields(&Method::GET, &uri, &h, None, Some(&ua)).unwrap();
        assert!(!f.iter().any(|f| f.name == b"user-agent"), "{f:?}");
    }

    #[test]
    fn authority_never_carries_the_urls_credentials() {
        // (url, the :authority sent)
        let cases = [
            ("https://user:pw@example.com/", "example.com"),
            ("https://user@example.com:8443/", "example.com:8443"),
            ("https://example.com:443/", "example.com"),
            ("http://[::1]:8080/", "[::1]:8080"),
        ];
        for (url, want) in cases {
            let uri: Uri = url.parse().unwrap();
            let f = request_fields(&Method::GET, &uri, &HeaderMap::new(), Some(0), None).unwrap();
            let got = f
                .iter()
                .find(|f| f.name == b":authority".as_slice())
                .map(|f| String::from_utf8_lossy(&f.value).into_owned());
            assert_eq!(got.as_deref(), Some(want), "{url}");
        }
    }

    #[test]
    fn request_fields_strip_connection_specific() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "keep-alive"),
            ("keep-alive", "5"),
            ("proxy-connection", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
            ("host", "example.org:8080"),
            ("x-a", "1"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        let uri: Uri = "https://example.com/p?q=1".parse().unwrap();
        let f = request_fields(&Method::POST, &uri, &h, Some(3), None).unwrap();
        let got: Vec<(String, String)> = f
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(&f.name).into_owned(),
                    String::from_utf8_lossy(&f.value).into_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "example.org:8080"),
            (":path", "/p?q=1"),
            ("x-a", "1"),
            ("content-length", "3"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
        let mut h = HeaderMap::new();
        h.insert("te", HeaderValue::from_static("trailers"));
        let f = request_fields(&Method::GET, &uri, &h, Some(0), None).unwrap();
        assert!(f.iter().any(|f| f.name == b"te" && f.value == b"trailers"));
        assert!(!f.iter().any(|f| f.name == b"content-length"));
    }

    /// More distinct names than a `HeaderMap` holds: a stream error, never a panic.
    #[test]
    fn more_names_than_a_map_holds() {
        let mut f = fields(&[(":status", "200")]);
        f.extend((0..40_000).map(|i| Field::new(format!("x{i}"), "v")));
        let e = response_parts(1, f).expect_err("refused");
        assert!(e.to_string().contains(TOO_MANY_NAMES), "{e}");
    }

    #[test]
    fn malformed_responses() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("no_status", &[("a", "b")]),
            ("two_statuses", &[(":status", "200"), (":status", "200")]),
            ("late_status", &[("a", "b"), (":status", "200")]),
            ("request_pseudo", &[(":status", "200"), (":path", "/")]),
            ("bad_status", &[(":status", "20")]),
            ("uppercase_name", &[(":status", "200"), ("Xa", "b")]),
            (
                "connection_field",
                &[(":status", "200"), ("connection", "close")],
            ),
            (
                "bad_length",
                &[(":status", "200"), ("content-length", "1x")],
            ),
            (
                "two_lengths",
                &[
                    (":status", "200"),
                    ("content-length", "1"),
                    ("content-length", "2"),
                ],
            ),
            ("value_with_lf", &[(":status", "200"), ("a", "b\nc")]),
        ];
        for (name, list) in cases {
            let e = response_parts(3, fields(list)).expect_err(name);
            assert_eq!(
                e.kind(),
                ErrorKind::Http2(Http2Error::Stream {
                    stream_id: 3,
                    code: ErrorCode::Protocol
                }),
                "{name}"
            );
        }
        let p = response_parts(
            1,
            fields(&[(":status", "204"), ("content-length", "0"), ("x", "y")]),
        )
        .unwrap();
        assert_eq!(p.status, 204);
        assert_eq!(p.content_length, Some(0));
        assert!(trailers(1, &fields(&[(":status", "200")])).is_err());
        assert_eq!(
            trailers(1, &fields(&[("grpc-status", "0")])).unwrap().len(),
            1
        );
    }
}
