//! Sans-IO HTTP/1.1 wire core shared by client and server: bytes in, bytes out.
//!
//! Nothing in this module touches a socket, a thread or a clock. It parses message heads
//! ([`head`]), decides how a body is framed ([`framing`]), decodes and encodes bodies
//! ([`body`], [`chunked`]) and writes heads ([`write`](mod@write)); [`client`] runs a client's
//! side of an exchange (request head out, 1xx skipped, framing and reuse decided). The client and the server
//! own the sockets and threads and call into it, so both roles frame messages with the same
//! code. [`uri`] turns a typed URL into a request target that holds only RFC 3986 bytes. Above the framing, [`multipart`] decodes `multipart/form-data` bodies (RFC 7578), [`date`] reads and writes HTTP-dates and [`auth`] `Basic` credentials.
//!
//! [`h2`] (frames, flow-control windows, settings, stream states and field rules: RFC 9113)
//! and `hpack` (header compression, RFC 7541) are the HTTP/2 core, written to the same
//! sans-IO rules, built with feature `http2` (off by default: `h2`'s `ErrorCode` is always
//! there, for `ErrorKind::Http2`). The server's HTTP/2 connections (`server/h2`) call them;
//! the client does not speak HTTP/2 yet (issue 19).
//!
//! The rules are strict on purpose: anything that two HTTP implementations could read two ways
//! (the raw material of request smuggling) is an error here. Each rule cites its section of
//! RFC 9112 (RFC 7578 and RFC 2046 for multipart bodies).
//!
//! ```
//! use nethttp::proto::{self, head::Parsed, Limits};
//!
//! let wire = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello";
//! let Parsed::Complete { head, len } = proto::head::parse_request(wire, &Limits::default())?
//! else {
//!     unreachable!("the head is complete")
//! };
//! assert_eq!(head.uri.path(), "/upload");
//! let framing = proto::framing::request(head.version, &head.headers)?;
//! assert_eq!(framing, proto::framing::Framing::Length(5));
//! assert_eq!(&wire[len..], b"hello");
//! # Ok::<(), nethttp::Error>(())
//! ```
#![cfg_attr(not(feature = "multipart"), doc = "[`multipart`]: crate#features")]

pub mod auth;
pub mod body;
pub mod chunked;
pub mod client;
pub mod date;
pub mod framing;
pub mod h2;
pub mod head;
#[cfg(feature = "http2")]
pub mod hpack;
#[cfg(feature = "multipart")]
pub mod multipart;
pub mod uri;
pub mod write;

/// Size limits applied while parsing. Every limit counts bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message head (request or status line plus header fields plus the blank line),
    /// and the largest trailer section. Default is 1 MiB, as Go's `DefaultMaxHeaderBytes`.
    pub max_head_bytes: usize,
    /// The most header fields in one head, and in one trailer section. Default is 100 (a
    /// server's); [`Limits::response`] has none. Only as many slots as the head has lines are
    /// ever allocated, so `usize::MAX` is a valid "no limit".
    pub max_headers: usize,
    /// The most bytes of chunk extensions in one message (extensions are parsed and ignored).
    /// Default is 4 KiB.
    pub max_chunk_ext_bytes: usize,
}

impl Limits {
    /// The default head limit: 1 MiB.
    pub const DEFAULT_MAX_HEAD_BYTES: usize = 1 << 20;
    /// The default header-count limit: 100.
    pub const DEFAULT_MAX_HEADERS: usize = 100;
    /// The default chunk-extension limit: 4 KiB.
    pub const DEFAULT_MAX_CHUNK_EXT_BYTES: usize = 4096;
}

impl Limits {
    /// The limits a client reads responses with, as Go's: the head bounded by `max_head_bytes`
    /// alone (Go's `Transport.MaxResponseHeaderBytes`, 10 MiB by default) and no separate
    /// field-count limit, so a response with hundreds of `Set-Cookie` fields is read.
    pub fn response(max_head_bytes: usize) -> Limits {
        Limits {
            max_head_bytes,
            max_headers: usize::MAX,
            ..Limits::default()
        }
    }

    /// Go's default response head limit: 10 MiB (`Transport.MaxResponseHeaderBytes` unset).
    pub const DEFAULT_MAX_RESPONSE_HEAD_BYTES: usize = 10 << 20;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: Limits::DEFAULT_MAX_HEAD_BYTES,
            max_headers: Limits::DEFAULT_MAX_HEADERS,
            max_chunk_ext_bytes: Limits::DEFAULT_MAX_CHUNK_EXT_BYTES,
        }
    }
}

/// RFC 3986 §2.3 `unreserved`: letters, digits, `-`, `.`, `_`, `~`.
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 `sub-delims`: `!` `$` `&` `'` `(` `)` `*` `+` `,` `;` `=`.
pub(crate) const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// `s` split at each `sep`, as `s.split(|&b| b == sep)`. Every closure passed to `split` is a
/// type of its own, for which the compiler makes the whole iterator again; splitting through
/// this one function compiles it once for the crate (compile time, docs/PERFORMANCE.md).
pub(crate) fn split_bytes(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    s.split(move |&b| b == sep)
}

/// True for the bytes RFC 9110 §5.6.2 allows in a token (method names, header names, codings).
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Maps of at most this many distinct field names are searched by a pass over their fields
/// ([`has_field`], [`field_values`]).
const SCAN_FIELDS: usize = 8;

/// True if `headers` has a field `name`. Most messages carry a few fields (a load generator's
/// request one, a handler's response two or three), and for those a pass comparing names
/// (an integer compare for a standard name) costs less than hashing the name and probing
/// `HeaderMap`'s index, about 65 instructions a lookup; a request and its response look up
/// about a dozen names. Larger maps use the index.
pub(crate) fn has_field(headers: &http::HeaderMap, name: &http::header::HeaderName) -> bool {
    if headers.keys_len() <= SCAN_FIELDS {
        headers.keys().any(|k| k == name)
    } else {
        headers.contains_key(name)
    }
}

/// The values of field `name` in `headers`, in order (`HeaderMap::get_all`). A small map is
/// first looked through by name (see [`has_field`] for why): a name that is not there, the
/// common case for most lookups (`Connection`, `Transfer-Encoding`, `Expect`), costs that
/// pass and no hash. One that is there is then taken from the index: a second pass over the
/// fields (`HeaderMap::iter`, which walks every value) costs more than the hash (measured:
/// 130 instructions more per hello request, 140 more per client request).
pub(crate) fn field_values<'a>(
    headers: &'a http::HeaderMap,
    name: &http::header::HeaderName,
) -> FieldValues<'a> {
    if headers.keys_len() <= SCAN_FIELDS && !headers.keys().any(|k| k == name) {
        return FieldValues::Absent;
    }
    FieldValues::Index(headers.get_all(name).into_iter())
}

/// The iterator of [`field_values`].
pub(crate) enum FieldValues<'a> {
    /// The map has no field of the name.
    Absent,
    Index(http::header::ValueIter<'a, http::HeaderValue>),
}

impl<'a> Iterator for FieldValues<'a> {
    type Item = &'a http::HeaderValue;

    fn next(&mut self) -> Option<&'a http::HeaderValue> {
        match self {
            FieldValues::Absent => None,
            FieldValues::Index(values) => values.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST};
    use http::HeaderMap;

    /// `has_field` and `field_values` agree with `contains_key` and `get_all` on maps below,
    /// at and above the size where they stop scanning, with repeated and custom names.
    #[test]
    fn field_lookups_agree_with_the_index() {
        let custom = HeaderName::from_static("x-custom");
        let absent = HeaderName::from_static("x-absent");
        for fields in [
            0,
            1,
            2,
            super::SCAN_FIELDS - 1,
            super::SCAN_FIELDS,
            super::SCAN_FIELDS + 1,
            20,
        ] {
            let mut h = HeaderMap::new();
            for i in 0..fields {
                let name = HeaderName::try_from(format!("x-f{i}")).unwrap();
                h.append(name, HeaderValue::from(i));
            }
            // Repeated names, added last so that a scan must find values after other fields.
            h.append(CONNECTION, HeaderValue::from_static("keep-alive"));
            h.append(custom.clone(), HeaderValue::from_static("a"));
            h.append(CONNECTION, HeaderValue::from_static("upgrade"));
            h.append(custom.clone(), HeaderValue::from_static("b"));
            for name in [&CONNECTION, &custom, &absent, &HOST, &CONTENT_LENGTH] {
                assert_eq!(
                    super::has_field(&h, name),
                    h.contains_key(name),
                    "{fields} fields, {name}"
                );
                let scanned: Vec<_> = super::field_values(&h, name).collect();
                let indexed: Vec<_> = h.get_all(name).iter().collect();
                assert_eq!(scanned, indexed, "{fields} fields, {name}");
            }
        }
    }
}
