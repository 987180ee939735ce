//! Writing request and response heads into a buffer (sans-IO).
//!
//! Header names from a [`HeaderMap`] go out as the map holds them (lowercase, since `http`
//! normalises names); names this crate generates itself (`Date`, `Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Host`, `User-Agent`) are written in Title-Case through
//! [`header`]. Values in a `HeaderMap` cannot hold CR, LF or NUL, so nothing written here can
//! split a head.

use http::{HeaderMap, Method, StatusCode, Version};

/// Appends a request line: `METHOD target HTTP/1.x\r\n`. `target` must be a valid request target
/// (the caller takes it from a parsed [`http::Uri`]).
pub fn request_line(dst: &mut Vec<u8>, method: &Method, target: &str, version: Version) {
    dst.extend_from_slice(method.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(target.as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(version_str(version).as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// Appends a status line: `HTTP/1.x 200 OK\r\n`. An unknown code gets an empty reason phrase, as
/// RFC 9112 §4 allows.
pub fn status_line(dst: &mut Vec<u8>, version: Version, status: StatusCode) {
    dst.extend_from_slice(version_str(version).as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    dst.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

/// Appends one field line `name: value\r\n`. The caller guarantees `name` is a token and
/// `value` holds no CR, LF or NUL; use it for names and values the crate generates.
pub fn header(dst: &mut Vec<u8>, name: &str, value: &[u8]) {
    dst.extend_from_slice(name.as_bytes());
    dst.extend_from_slice(b": ");
    dst.extend_from_slice(value);
    dst.extend_from_slice(b"\r\n");
}

/// Appends a field line whose value is a decimal number, without allocating.
pub fn header_u64(dst: &mut Vec<u8>, name: &str, value: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = value;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    header(dst, name, &tmp[i..]);
}

/// Appends every field of `headers`, in the map's order.
pub fn write_fields(headers: &HeaderMap, dst: &mut Vec<u8>) {
    for (name, value) in headers {
        header(dst, name.as_str(), value.as_bytes());
    }
}

/// Appends the blank line that ends a head.
pub fn end(dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"\r\n");
}

/// `HTTP/1.0` or `HTTP/1.1` (anything newer is written as HTTP/1.1, the only other version this
/// crate speaks).
pub fn version_str(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{head, Limits};

    #[test]
    fn response_head_round_trips_through_the_parser() {
        let mut buf = Vec::new();
        status_line(&mut buf, Version::HTTP_11, StatusCode::NOT_FOUND);
        let mut h = HeaderMap::new();
        h.insert(
            "x-custom",
            "v\u{7f}".replace('\u{7f}', "1").parse().unwrap(),
        );
        write_fields(&h, &mut buf);
        header_u64(&mut buf, "Content-Length", 1234567890);
        header(&mut buf, "Date", b"Sun, 06 Nov 1994 08:49:37 GMT");
        end(&mut buf);
        let text = String::from_utf8(buf.clone()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nx-custom: v1\r\nContent-Length: 1234567890\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
        let head::Parsed::Complete { head, len } =
            head::parse_response(&buf, &Limits::default()).unwrap()
        else {
            panic!("partial")
        };
        assert_eq!(len, buf.len());
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.headers["content-length"], "1234567890");
    }

    #[test]
    fn unknown_status_has_empty_reason_and_numbers_format() {
        let mut buf = Vec::new();
        status_line(
            &mut buf,
            Version::HTTP_10,
            StatusCode::from_u16(599).unwrap(),
        );
        header_u64(&mut buf, "N", 0);
        assert_eq!(buf, b"HTTP/1.0 599 \r\nN: 0\r\n");
    }

    #[test]
    fn request_line_format() {
        let mut buf = Vec::new();
        request_line(&mut buf, &Method::PATCH, "/a?b", Version::HTTP_11);
        assert_eq!(buf, b"PATCH /a?b HTTP/1.1\r\n");
    }
}
