//! Go's `DumpRequest`, `DumpRequestOut` and `DumpResponse`: a message in its HTTP/1.x wire
//! form, for debugging. The heads come from the crate's own writers (`proto::write`, and for an
//! outgoing request the transport's `proto::client::encode_request`), so a dump shows the
//! bytes nethttp reads or sends rather than a second rendering of them.
//!
//! A body is dumped only when asked for. It is then read whole into memory, at most
//! [`MAX_DUMP_BODY`] bytes, and replaced by a copy that reads the same bytes, so a handler or a
//! caller can still read it (Go's `drainBody`).

use std::io::{Cursor, Read};

use http::header::{CONTENT_LENGTH, HOST, TRAILER, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, Method, StatusCode, Version};

use crate::body::Body;
use crate::client::{Response, ResponseBody, Transport};
use crate::error::{Error, Result, TimeoutPhase, TooLarge};
use crate::proto::framing::{self, Framing};
use crate::proto::head::{connection_has_token, wants_close};
use crate::proto::{chunked, write};
use crate::Request;

/// The largest body the dump functions read into memory: 10 MiB. A longer body fails the dump
/// with [`TooLarge::Body`] and is left to be read from its start as before: the bytes already
/// read come first, then the rest, unread, from where it was.
pub const MAX_DUMP_BODY: u64 = 10 << 20;

/// The request as a server received it, in HTTP/1.x wire form (Go's `httputil.DumpRequest`),
/// for a handler to log: the request line with the target as it arrived (Go's `RequestURI`),
/// `Host`, the framing fields, the other fields, and with `body` the body.
///
/// - `Host` is the target's authority or else the `Host` field, and is left out for an
///   absolute-form target, which names the host itself, as in Go.
/// - `Transfer-Encoding` and, for an HTTP/1.0 request without keep-alive, `Connection: close`
///   come before the other fields, as Go writes them; `Trailer` is not written.
/// - With `body`, the body is read whole (at most [`MAX_DUMP_BODY`] bytes) and replaced by a
///   copy with the same length and trailers, so the handler can still read it; a chunked body
///   is dumped chunked, as one chunk, without its trailers, as in Go. Without `body`, the body
///   is not touched and nothing follows the head.
///
/// Where it differs from Go's: field names are as the [`HeaderMap`] holds them (lowercase) and
/// in its order, which for a received request is the order of arrival (Go canonicalises and
/// sorts them); `Connection: close` is not written a second time when the request has it.
///
/// ```
/// use nethttp::{httputil, httptest};
///
/// let mut req = httptest::request("POST", "/upload?x=1", "hello")
///     .with_header("content-type", "text/plain")?;
/// let dump = httputil::dump_request(&mut req, true)?;
/// assert_eq!(
///     dump,
///     b"POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\ncontent-type: text/plain\r\n\r\nhello"
/// );
/// // The handler reads the body all the same.
/// assert_eq!(req.body().read_to_vec(100)?, b"hello");
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// With `body`: [`TooLarge::Body`] past [`MAX_DUMP_BODY`], and the body's read errors (a
/// client that went away, a read timeout). Without `body` it does not fail.
pub fn dump_request(req: &mut Request, body: bool) -> Result<Vec<u8>> {
    let data = if body {
        Some(drain_request(req)?)
    } else {
        None
    };
    let mut b = Vec::with_capacity(256 + data.as_ref().map_or(0, |d| d.len() + 32));
    write::request_line(&mut b, &req.method, &req.uri.to_string(), req.version);
    if req.uri.scheme().is_none() {
        let host = match req.uri.authority() {
            Some(a) => Some(a.as_str().as_bytes()),
            None => req.headers.get(HOST).map(|v| v.as_bytes()),
        };
        if let Some(host) = host.filter(|h| !h.is_empty()) {
            write::header(&mut b, "Host", host);
        }
    }
    let codings: Vec<&[u8]> = req
        .headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    if !codings.is_empty() {
        write::header(&mut b, "Transfer-Encoding", &codings.join(&b","[..]));
    }
    // Go writes the `Close` its parser derived: for HTTP/1.0 without keep-alive too.
    if wants_close(req.version, &req.headers) && !connection_has_token(&req.headers, "close") {
        write::header(&mut b, "Connection", b"close");
    }
    write_fields_except(&req.headers, &[HOST, TRANSFER_ENCODING, TRAILER], &mut b);
    write::end(&mut b);
    if let Some(data) = data {
        // The framing the server read the body with (RFC 9112 §6.3).
        if matches!(
            framing::request(req.version, &req.headers),
            Ok(Framing::Chunked)
        ) {
            chunked::encode_chunk(&data, &mut b);
            chunked::encode_last(None, &mut b);
        } else {
            b.extend_from_slice(&data);
        }
    }
    Ok(b)
}

/// The request as nethttp's client would send it, in wire form (Go's
/// `httputil.DumpRequestOut`): written by the encoder a [`Transport`] with the default settings
/// uses for a request to an origin server, so it shows what goes on the wire — the target in
/// origin form, `Host` (the `Host` field, else the URL's authority without the scheme's
/// default port), the default `User-Agent` if the request has none, the request's fields, and
/// the framing the transport chooses (`Content-Length` for a body of known length, including
/// `Content-Length: 0` for an empty POST, PUT or PATCH; else `Transfer-Encoding: chunked`).
///
/// With `body`, the body is read whole (at most [`MAX_DUMP_BODY`] bytes) and replaced by a
/// copy with the same length that can be sent (and, for a retry or a redirect, sent again);
/// the dump shows it framed as the transport's writer sends it (a chunked body in pieces of
/// [`TransportConfig::write_buffer_size`](crate::client::TransportConfig::write_buffer_size)).
/// Without `body`, the body is not touched and the dump is the head alone.
///
/// What a [`Client`](crate::Client) adds before its transport sees the request is not in the
/// dump of a request you built: cookies from its jar, credentials from the URL, and
/// `Accept-Encoding: gzip` (feature `gzip`). A request a `Client` marked to ask for gzip (one
/// a [`RoundTripper`](crate::client::RoundTripper) of yours was handed) is dumped with the
/// `Accept-Encoding: gzip` its transport writes after the fields, as Go's dump shows it.
///
/// ```
/// use nethttp::{httputil, Method, Request};
///
/// let mut req = Request::new(Method::POST, "http://example.com:8080/items")?.with_body("{}");
/// let dump = httputil::dump_request_out(&mut req, true)?;
/// let text = String::from_utf8(dump).unwrap();
/// assert!(text.starts_with("POST /items HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: nethttp/"));
/// assert!(text.ends_with("\r\nContent-Length: 2\r\n\r\n{}"));
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL the transport cannot
/// send (no scheme, no host, a scheme other than `http` and `https`; `https` needs feature
/// `tls`), and for a body that is shorter or longer than its stated length, as the transport
/// refuses it. With `body`: [`TooLarge::Body`] past [`MAX_DUMP_BODY`] and the body's read
/// errors.
pub fn dump_request_out(req: &mut Request, body: bool) -> Result<Vec<u8>> {
    let transport = Transport::new();
    let mut b = Vec::with_capacity(256);
    let len = req.body().len_hint();
    let enc = transport.encode_origin_head(req, len, &mut b)?;
    if !body || enc.body_len == Some(0) {
        return Ok(b);
    }
    let data = drain_request(req)?;
    let got = data.len() as u64;
    match enc.body_len {
        // The transport's own refusals, in its words.
        Some(n) if got < n => Err(Error::invalid_input(
            "request body shorter than its declared length",
        )),
        Some(n) if got > n => Err(Error::invalid_input(
            "request body longer than its declared length",
        )),
        Some(_) => {
            b.extend_from_slice(&data);
            Ok(b)
        }
        None => {
            // The writer sends one chunk per read of its buffer, and a read of the in-memory
            // copy fills the buffer.
            for piece in data.chunks(transport.config().write_buffer_size.max(1)) {
                chunked::encode_chunk(piece, &mut b);
            }
            chunked::encode_last(None, &mut b);
            Ok(b)
        }
    }
}

/// The response in HTTP/1.x wire form (Go's `httputil.DumpResponse`): the status line, the
/// framing fields, the other fields, and with `body` the body.
///
/// As Go's `Response.Write` does, it writes `Connection: close` when the response asks to close
/// (or its length is unknown on HTTP/1.1 and it is neither chunked nor decoded by the client),
/// `Content-Length` from the length the client read the body with (a positive one before the
/// other fields, a zero one after them, and none for 1xx, 204 and 304) or
/// `Transfer-Encoding: chunked` with the `Trailer` names, then the other fields without
/// `Content-Length`, `Transfer-Encoding` and `Trailer`.
///
/// - With `body`, the body is read whole (at most [`MAX_DUMP_BODY`] bytes) and replaced by a
///   copy (with the same trailers), so the caller can still read it; a chunked body is dumped
///   as one chunk and the trailers. A zero-length response with bytes in its body (one made
///   by a program) is dumped as one of unknown length, as in Go.
/// - Without `body`, the body is not touched and the dump is the head alone; its
///   `Content-Length` is the response's, not the length of what was dumped.
///
/// A [`Response`] does not keep its request's method, so it is written as the answer to a GET:
/// the answer to a HEAD keeps its `Content-Length` and is dumped without a body (an empty
/// chunked one, `0\r\n\r\n`, if it said chunked). Where it differs from Go's: the reason
/// phrase is the status code's canonical one (a `Response` does not keep the one received,
/// and an unknown code has none); field names are lowercase and in the map's order (Go
/// canonicalises and sorts them).
///
/// ```
/// use nethttp::{client::Response, httputil};
///
/// let mut resp = Response::from_http(
///     nethttp::http::Response::builder()
///         .header("content-type", "text/plain")
///         .header("content-length", "2")
///         .body(std::io::Cursor::new("ok"))
///         .unwrap(),
/// );
/// let dump = httputil::dump_response(&mut resp, true)?;
/// assert_eq!(dump, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-type: text/plain\r\n\r\nok");
/// assert_eq!(resp.text()?, "ok");
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// With `body`: [`TooLarge::Body`] past [`MAX_DUMP_BODY`], the body's read errors, and
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a body longer than its
/// `Content-Length` (a response made by a program). For a response whose `Content-Length` or
/// `Transfer-Encoding` does not parse (one the client did not receive), the framing errors of
/// [`framing::decide`].
pub fn dump_response(resp: &mut Response, body: bool) -> Result<Vec<u8>> {
    // The length the client read the body with (Go's `ContentLength`; `None` is its -1).
    let framing = framing::response(&Method::GET, resp.status, resp.version, &resp.headers)?;
    let chunked = framing == Framing::Chunked;
    let mut length = match framing {
        Framing::Empty => Some(0),
        Framing::Length(n) => Some(n),
        Framing::Chunked | Framing::UntilClose => None,
    };
    let (data, trailers) = if body {
        let (data, trailers) = drain_response(resp)?;
        (Some(data), trailers)
    } else {
        (None, None)
    };
    if let Some(data) = &data {
        match length {
            // Go reads a byte of a zero-length body to see whether it is really empty.
            Some(0) if !data.is_empty() => length = None,
            Some(n) if data.len() as u64 > n => {
                return Err(Error::invalid_input(format!(
                    "response body longer than its content-length of {n}"
                )))
            }
            _ => {}
        }
    }
    // Go's `Response.Write`: without a length, an HTTP/1.1 body that is neither chunked nor
    // decoded by the client can only end with the connection.
    let close = wants_close(resp.version, &resp.headers)
        || (length.is_none()
            && resp.version != Version::HTTP_10
            && !chunked
            && !resp.uncompressed());

    let mut b = Vec::with_capacity(256 + data.as_ref().map_or(0, |d| d.len() + 32));
    write::status_line(&mut b, resp.version, resp.status);
    if close && !connection_has_token(&resp.headers, "close") {
        write::header(&mut b, "Connection", b"close");
    }
    if chunked {
        write::header(&mut b, "Transfer-Encoding", b"chunked");
        if let Some(names) = trailer_names(&resp.headers) {
            write::header(&mut b, "Trailer", names.as_bytes());
        }
    } else if let Some(n) = length.filter(|&n| n > 0) {
        write::header_u64(&mut b, "Content-Length", n);
    }
    write_fields_except(
        &resp.headers,
        &[CONTENT_LENGTH, TRANSFER_ENCODING, TRAILER],
        &mut b,
    );
    // The answer to a GET states a zero length after the other fields, where a body is allowed.
    if length == Some(0) && body_allowed(resp.status) {
        write::header(&mut b, "Content-Length", b"0");
    }
    write::end(&mut b);
    if let Some(data) = data {
        if chunked {
            chunked::encode_chunk(&data, &mut b);
            chunked::encode_last(trailers.as_ref(), &mut b);
        } else {
            b.extend_from_slice(&data);
        }
    }
    Ok(b)
}

/// Reads the request's body whole and puts back a copy with the same bytes, length and
/// trailers. On failure the body is put back as the bytes read followed by the rest.
fn drain_request(req: &mut Request) -> Result<bytes::Bytes> {
    let len = req.body().len_hint();
    let mut old = req.replace_body(Body::empty());
    match read_whole(&mut old) {
        Ok(data) => {
            let data = bytes::Bytes::from(data);
            let trailers = old.trailers().cloned();
            req.replace_body(Body::read_again(data.clone(), len, trailers));
            Ok(data)
        }
        Err((read, e)) => {
            let rest = Cursor::new(read).chain(old);
            req.replace_body(match len {
                Some(n) => Body::sized(rest, n),
                None => Body::from_reader(rest),
            });
            Err(e)
        }
    }
}

/// As [`drain_request`], for a response; with the body's trailers.
fn drain_response(resp: &mut Response) -> Result<(Vec<u8>, Option<HeaderMap>)> {
    let mut old = resp.replace_body(ResponseBody::from_reader(std::io::empty()));
    match read_whole(&mut old) {
        Ok(data) => {
            let trailers = old.trailers().cloned();
            resp.replace_body(ResponseBody::from_bytes(
                data.clone(),
                trailers.clone().map(Box::new),
            ));
            Ok((data, trailers))
        }
        Err((read, e)) => {
            resp.replace_body(ResponseBody::from_reader(Cursor::new(read).chain(old)));
            Err(e)
        }
    }
}

/// Reads `r` to its end, at most [`MAX_DUMP_BODY`] bytes; on failure, the bytes read so far
/// come back with the error.
fn read_whole(r: &mut impl Read) -> std::result::Result<Vec<u8>, (Vec<u8>, Error)> {
    let mut out = Vec::new();
    match r.take(MAX_DUMP_BODY + 1).read_to_end(&mut out) {
        Err(e) => Err((out, Error::from_io(e, TimeoutPhase::ReadBody))),
        Ok(_) if out.len() as u64 > MAX_DUMP_BODY => Err((out, Error::too_large(TooLarge::Body))),
        Ok(_) => Ok(out),
    }
}

/// Every field of `headers` but those named in `skip`, in the map's order.
fn write_fields_except(headers: &HeaderMap, skip: &[HeaderName], dst: &mut Vec<u8>) {
    for (name, value) in headers {
        if !skip.contains(name) {
            write::header(dst, name.as_str(), value.as_bytes());
        }
    }
}

/// The names a `Trailer` field announces, lowercase, sorted and without repeats, joined by
/// commas as Go writes them; `None` without any. Names that may not be trailers
/// (`Content-Length`, `Transfer-Encoding`, `Trailer`) are left out.
fn trailer_names(headers: &HeaderMap) -> Option<String> {
    let mut names: Vec<String> = headers
        .get_all(TRAILER)
        .iter()
        .flat_map(|v| crate::proto::split_bytes(v.as_bytes(), b','))
        .map(|n| String::from_utf8_lossy(n.trim_ascii()).to_ascii_lowercase())
        .filter(|n| {
            !n.is_empty()
                && !matches!(
                    n.as_str(),
                    "content-length" | "transfer-encoding" | "trailer"
                )
        })
        .collect();
    names.sort();
    names.dedup();
    (!names.is_empty()).then(|| names.join(","))
}

/// RFC 9110 §15: 1xx, 204 and 304 responses have no content.
fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};
    use std::net::SocketAddr;

    use super::*;
    use crate::proto::head::{parse_request, parse_response, Parsed};
    use crate::proto::Limits;
    use crate::ErrorKind;

    const UA: &str = concat!("nethttp/", env!("CARGO_PKG_VERSION"));

    /// A request as the server hands it to a handler: the head parsed from `wire`, the body
    /// `content` framed as the head says (a stream of unknown length when chunked).
    fn received(wire: &str, content: &'static [u8]) -> Request {
        let Parsed::Complete { head, .. } =
            parse_request(wire.as_bytes(), &Limits::default()).unwrap()
        else {
            panic!("partial head: {wire:?}")
        };
        let body = match framing::request(head.version, &head.headers).unwrap() {
            Framing::Chunked => Body::from_reader(content),
            Framing::Length(n) => Body::sized(content, n),
            _ => Body::empty(),
        };
        let addr = SocketAddr::from(([192, 0, 2, 1], 1234));
        Request::from_parts(
            head.method,
            head.uri,
            head.version,
            head.headers,
            body,
            Some(addr),
        )
    }

    /// A response as the client hands it over: the head parsed from `wire`, the body
    /// `content` with `trailers` at its end.
    fn response(wire: &str, content: &[u8], trailers: &[(&str, &str)]) -> Response {
        let Parsed::Complete { head, .. } =
            parse_response(wire.as_bytes(), &Limits::default()).unwrap()
        else {
            panic!("partial head: {wire:?}")
        };
        let trailers = (!trailers.is_empty()).then(|| {
            let mut t = HeaderMap::new();
            for (k, v) in trailers {
                t.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            t
        });
        let body = ResponseBody::from_bytes(content.to_vec(), trailers.map(Box::new));
        Response::new(head, body, "http://h/".parse().unwrap(), None)
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn dump_request_table() {
        // (name, head as received, body, dump the body, dump)
        let cases: &[(&str, &str, &[u8], bool, &str)] = &[
            (
                "origin_form",
                "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n",
                b"",
                true,
                "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nuser-agent: x\r\n\r\n",
            ),
            (
                "content_length",
                "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
                b"hello",
                true,
                "POST /up HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\nhello",
            ),
            (
                "content_length_head_only",
                "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
                b"hello",
                false,
                "POST /up HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\n",
            ),
            (
                "chunked_one_chunk_no_trailer_field",
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n",
                b"abc",
                true,
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            ),
            (
                "chunked_empty",
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"",
                true,
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
            (
                "chunked_head_only",
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"a",
                false,
                "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                "absolute_form_has_no_host_line",
                "GET http://foo.com/x HTTP/1.1\r\nHost: other\r\n\r\n",
                b"",
                true,
                "GET http://foo.com/x HTTP/1.1\r\n\r\n",
            ),
            (
                "authority_form",
                "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                b"",
                true,
                "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            ),
            (
                "asterisk_form",
                "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
                b"",
                true,
                "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            ),
            (
                "http10_closes",
                "GET /old HTTP/1.0\r\n\r\n",
                b"",
                true,
                "GET /old HTTP/1.0\r\nConnection: close\r\n\r\n",
            ),
            (
                "http10_keep_alive",
                "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                b"",
                true,
                "GET /ka HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
            ),
            (
                "connection_close_once",
                "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                b"",
                true,
                "GET /c HTTP/1.1\r\nHost: h\r\nconnection: close\r\n\r\n",
            ),
            (
                "repeated_fields_together_in_order",
                "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX-Y: 1\r\nAccept: b\r\n\r\n",
                b"",
                false,
                "GET / HTTP/1.1\r\nHost: h\r\naccept: a\r\naccept: b\r\nx-y: 1\r\n\r\n",
            ),
        ];
        for &(name, wire, content, body, want) in cases {
            let mut req = received(wire, content);
            let before = req.content_length();
            let got = dump_request(&mut req, body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(text(&got), want, "{name}");
            // The handler still reads the whole body, framed as before.
            assert_eq!(req.content_length(), before, "{name}");
            assert_eq!(req.body().read_to_vec(100).unwrap(), content, "{name}");
        }
    }

    #[test]
    fn dump_request_body_can_be_cloned_and_keeps_trailers() {
        let mut req = received(
            "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n",
            b"abc",
        );
        dump_request(&mut req, true).unwrap();
        let mut copy = req.try_clone().expect("the body is in memory now");
        assert_eq!(copy.body().read_to_vec(10).unwrap(), b"abc");
        assert_eq!(req.body().read_to_vec(10).unwrap(), b"abc");
    }

    #[test]
    fn dump_request_out_table() {
        type MakeBody = fn() -> Body;
        // (name, method, url, fields, body, dump the body, dump)
        type Case<'a> = (
            &'a str,
            Method,
            &'a str,
            &'a [(&'a str, &'a str)],
            MakeBody,
            bool,
            String,
        );
        let cases: &[Case<'_>] = &[
            (
                "get",
                Method::GET,
                "http://example.com/foo",
                &[],
                Body::empty,
                true,
                format!("GET /foo HTTP/1.1\r\nHost: example.com\r\nUser-Agent: {UA}\r\n\r\n"),
            ),
            (
                "length",
                Method::POST,
                "http://example.com:8080/items",
                &[("content-type", "application/json")],
                || Body::from("{}"),
                true,
                format!(
                    "POST /items HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: {UA}\r\n\
                     content-type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
                ),
            ),
            (
                "length_head_only",
                Method::POST,
                "http://post.tld/",
                &[],
                || Body::from("abcdef"),
                false,
                format!(
                    "POST / HTTP/1.1\r\nHost: post.tld\r\nUser-Agent: {UA}\r\n\
                     Content-Length: 6\r\n\r\n"
                ),
            ),
            (
                "empty_post_states_zero",
                Method::POST,
                "http://example.com:80/foo",
                &[],
                Body::empty,
                true,
                format!(
                    "POST /foo HTTP/1.1\r\nHost: example.com\r\nUser-Agent: {UA}\r\n\
                     Content-Length: 0\r\n\r\n"
                ),
            ),
            (
                "chunked",
                Method::PUT,
                "http://post.tld/test",
                &[],
                || Body::from_reader(&b"abc"[..]),
                true,
                format!(
                    "PUT /test HTTP/1.1\r\nHost: post.tld\r\nUser-Agent: {UA}\r\n\
                     Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                ),
            ),
            (
                "chunked_head_only",
                Method::PUT,
                "http://post.tld/test",
                &[],
                || Body::from_reader(&b"abc"[..]),
                false,
                format!(
                    "PUT /test HTTP/1.1\r\nHost: post.tld\r\nUser-Agent: {UA}\r\n\
                     Transfer-Encoding: chunked\r\n\r\n"
                ),
            ),
            (
                "own_host_agent_and_framing_fields",
                Method::GET,
                "http://example.com/",
                &[
                    ("host", "other"),
                    ("user-agent", "me"),
                    ("content-length", "99"),
                    ("x-a", "1"),
                ],
                Body::empty,
                true,
                "GET / HTTP/1.1\r\nHost: other\r\nuser-agent: me\r\nx-a: 1\r\n\r\n".into(),
            ),
        ];
        for (name, method, url, fields, make_body, body, want) in cases {
            let mut req = Request::new(method.clone(), url)
                .unwrap()
                .with_body(make_body());
            for (k, v) in *fields {
                req = req.with_header(k, v).unwrap();
            }
            let got = dump_request_out(&mut req, *body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(text(&got), *want, "{name}");
            let mut sent = Vec::new();
            req.body().read_to_end(&mut sent).unwrap();
            assert_eq!(
                sent,
                text(&make_body().read_to_vec(100).unwrap()).as_bytes(),
                "{name}"
            );
        }
    }

    #[test]
    fn dump_request_out_chunks_as_the_writer_sends() {
        let size = 70 << 10;
        let mut req = Request::new(Method::PUT, "http://h/")
            .unwrap()
            .with_body(Body::from_reader(io::repeat(b'a').take(size)));
        let got = dump_request_out(&mut req, true).unwrap();
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut want = Vec::new();
        for n in [32 << 10, 32 << 10, 6 << 10] {
            want.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            want.extend(std::iter::repeat_n(b'a', n));
            want.extend_from_slice(b"\r\n");
        }
        want.extend_from_slice(b"0\r\n\r\n");
        assert!(got[..head_end].ends_with(b"Transfer-Encoding: chunked\r\n\r\n"));
        assert!(got[head_end..] == want[..], "chunks differ");
        // Still chunked: the copy states no length, as the original did not.
        assert_eq!(req.body().len_hint(), None);
        assert_eq!(req.body().read_to_vec(size).unwrap().len() as u64, size);
    }

    #[test]
    fn dump_request_out_refuses_what_the_transport_refuses() {
        let mut no_host = Request::new(Method::GET, "/foo").unwrap();
        let e = dump_request_out(&mut no_host, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);

        let mut ftp = Request::new(Method::GET, "ftp://h/x").unwrap();
        assert_eq!(
            dump_request_out(&mut ftp, false).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );

        let mut short = Request::new(Method::POST, "http://h/")
            .unwrap()
            .with_body(Body::sized(&b"ab"[..], 5));
        let e = dump_request_out(&mut short, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: request body shorter than its declared length"
        );
        let mut rest = Vec::new();
        short.body().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"ab");
    }

    #[test]
    fn dump_response_table() {
        // (name, head as received, body, trailers, dump the body, dump)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [u8],
            &'a [(&'a str, &'a str)],
            bool,
            &'a str,
        );
        let cases: &[Case<'_>] = &[
            (
                "length",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n",
                b"ok",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-a: 1\r\n\r\nok",
            ),
            (
                "length_head_only",
                "HTTP/1.1 200 OK\r\nContent-Length: 50\r\nX-A: 1\r\n\r\n",
                b"foo",
                &[],
                false,
                "HTTP/1.1 200 OK\r\nContent-Length: 50\r\nx-a: 1\r\n\r\n",
            ),
            (
                "zero_length_after_the_fields",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n",
                b"",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "zero_length_head_only",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n",
                b"",
                &[],
                false,
                "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "chunked_one_chunk_and_trailers",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T, X-A\r\nX-A: 1\r\n\r\n",
                b"ok!",
                &[("x-t", "v")],
                true,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-a,x-t\r\nx-a: 1\r\n\r\n\
                 3\r\nok!\r\n0\r\nx-t: v\r\n\r\n",
            ),
            (
                "chunked_head_only",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
                b"ok",
                &[],
                false,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-a: 1\r\n\r\n",
            ),
            (
                "until_close",
                "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n",
                b"until close",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nConnection: close\r\nx-a: 1\r\n\r\nuntil close",
            ),
            (
                "until_close_head_only",
                "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n",
                b"until close",
                &[],
                false,
                "HTTP/1.1 200 OK\r\nConnection: close\r\nx-a: 1\r\n\r\n",
            ),
            (
                "http10_length_closes",
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                b"ok",
                &[],
                true,
                "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            ),
            (
                "http10_until_close",
                "HTTP/1.0 200 OK\r\n\r\n",
                b"ok",
                &[],
                true,
                "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nok",
            ),
            (
                "no_content_has_no_length",
                "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
                b"",
                &[],
                true,
                "HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n",
            ),
            (
                "not_modified_head_only",
                "HTTP/1.1 304 Not Modified\r\nX-A: 1\r\n\r\n",
                b"",
                &[],
                false,
                "HTTP/1.1 304 Not Modified\r\nx-a: 1\r\n\r\n",
            ),
            (
                "connection_close_once",
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
                b"ok",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: close\r\n\r\nok",
            ),
            (
                "answer_to_head_keeps_its_length",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                b"",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            ),
            (
                "unknown_status_has_no_reason",
                "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
                b"",
                &[],
                true,
                "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "zero_length_with_bytes_is_unknown_length",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                b"x",
                &[],
                true,
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nx",
            ),
        ];
        for &(name, wire, content, trailers, body, want) in cases {
            let mut resp = response(wire, content, trailers);
            let got = dump_response(&mut resp, body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(text(&got), want, "{name}");
            // The caller still reads the whole body, then the trailers.
            assert_eq!(resp.bytes().unwrap(), content, "{name}");
            assert_eq!(
                resp.trailers().map_or(0, |t| t.len()),
                trailers.len(),
                "{name}"
            );
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn dump_response_decoded_by_the_client_does_not_close() {
        let mut resp = response("HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n", b"", &[]);
        resp.set_decoded_body(ResponseBody::from_reader(&b"plain"[..]));
        let got = dump_response(&mut resp, true).unwrap();
        assert_eq!(text(&got), "HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nplain");
        assert_eq!(resp.text().unwrap(), "plain");
    }

    #[test]
    fn dump_response_refusals() {
        let mut long = response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", b"ab", &[]);
        let e = dump_response(&mut long, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "invalid input: response body longer than its content-length of 1"
        );
        assert_eq!(long.bytes().unwrap(), b"ab");

        let mut bad = response("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", b"", &[]);
        let e = dump_response(&mut bad, false).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Malformed(_)), "{e:?}");
    }

    /// Reads `good` bytes, then fails.
    struct FailsAfter {
        good: &'static [u8],
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good.is_empty() {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
            }
            let n = self.good.len().min(buf.len());
            buf[..n].copy_from_slice(&self.good[..n]);
            self.good = &self.good[n..];
            Ok(n)
        }
    }

    /// Past the limit, or at a read error, the dump fails and the body reads from its start
    /// as before: what was read, then the rest (and the error again).
    #[test]
    fn a_failed_body_read_leaves_the_body_whole() {
        let over = MAX_DUMP_BODY + 10;
        let mut req = Request::new(Method::POST, "http://h/")
            .unwrap()
            .with_body(Body::sized(io::repeat(b'a').take(over), over));
        let e = dump_request(&mut req, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Body));
        assert_eq!(req.content_length(), Some(over));
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match req.body().read(&mut buf).unwrap() {
                0 => break,
                k => n += k as u64,
            }
        }
        assert_eq!(n, over);

        let mut req = Request::new(Method::POST, "http://h/")
            .unwrap()
            .with_body(Body::from_reader(FailsAfter { good: b"abc" }));
        assert!(dump_request_out(&mut req, true).is_err());
        let mut got = [0u8; 8];
        assert_eq!(req.body().read(&mut got).unwrap(), 3);
        assert_eq!(&got[..3], b"abc");
        assert!(req.body().read(&mut got).is_err());

        let mut resp = response("HTTP/1.1 200 OK\r\n\r\n", b"", &[]);
        resp.replace_body(ResponseBody::from_reader(FailsAfter { good: b"xyz" }));
        let e = dump_response(&mut resp, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        let mut got = [0u8; 8];
        assert_eq!(resp.body().read(&mut got).unwrap(), 3);
        assert!(resp.body().read(&mut got).is_err());
    }
}
