//! Parsing request and response heads (sans-IO) with `httparse`, into `http` types.
//!
//! Incomplete input is not an error: the parsers return [`Parsed::Partial`] and the caller reads
//! more bytes and calls again with the whole buffer. [`find_end`] tells cheaply whether a buffer
//! holds a whole head yet, so a head that arrives a byte at a time is not re-parsed each time.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::Limits;
use crate::error::{Error, ErrorKind, Malformed, Result, TooLarge};

/// The outcome of parsing a head from a buffer.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole head was parsed; it took `len` bytes, and the body (or the next message) starts
    /// at `buf[len..]`.
    Complete {
        /// The parsed head.
        head: T,
        /// How many bytes of the buffer the head took.
        len: usize,
    },
    /// The buffer ends before the head does: read more and call again.
    Partial,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request target, as sent (origin-, absolute-, authority- or asterisk-form).
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, names lowercased, values as sent.
    pub headers: HeaderMap,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, names lowercased, values as sent.
    pub headers: HeaderMap,
}

/// Looks for the blank line that ends a head in `buf`, starting the search at `from` (pass the
/// length the previous call saw, so each byte is scanned about once). Returns the length of the
/// head including the blank line.
///
/// A line may end in CRLF or, as RFC 9112 §2.2 allows a recipient to accept, a bare LF.
pub fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3).min(buf.len());
    let mut i = start;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// How much of a partial request head [`HeadScanner`] checks early for an invalid request line.
const EARLY_CHECK: usize = 256;

/// Whether a check of `buf`'s first [`EARLY_CHECK`] bytes covers the request line: it is
/// whole in them, or they are all there are to check.
fn early_check_done(buf: &[u8]) -> bool {
    buf.len() >= EARLY_CHECK || buf[..buf.len().min(EARLY_CHECK)].contains(&b'\n')
}

/// Finds and parses one message head in a buffer that grows as bytes arrive: the one
/// head-reading logic of the crate, which the server, the pooled client connection,
/// `ClientConn` and the `CONNECT` tunnel all run (the I/O loop around it is
/// `bufio::read_head_into`).
///
/// Call [`scan`](Self::scan) with everything buffered each time more arrives; it remembers how
/// far it looked, so each byte is searched about once. For requests it also skips the empty
/// lines RFC 9112 §2.2 allows before a request line (and, as httparse does, before a status
/// line), and rejects a request line that is already invalid without waiting for the rest of
/// the head (a TLS ClientHello on a plain port, say).
///
/// ```
/// use nethttp::proto::head::{HeadScanner, Scan};
/// use nethttp::proto::Limits;
///
/// let mut scanner = HeadScanner::response(Limits::default());
/// let mut buf = b"HTTP/1.1 204 No Content\r\n".to_vec();
/// assert!(matches!(scanner.scan(&buf)?, Scan::Partial));
/// buf.extend_from_slice(b"\r\nnext");
/// let Scan::Complete { head, len } = scanner.scan(&buf)? else { unreachable!() };
/// assert_eq!((head.status.as_u16(), &buf[len..]), (204, &b"next"[..]));
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeadScanner<T> {
    parse: ParseInto<T>,
    limits: Limits,
    /// A map from an earlier message, emptied, for the next head's fields ([`recycle`]).
    ///
    /// [`recycle`]: Self::recycle
    spare: HeaderMap,
    /// How many bytes of the buffer have been searched for the end of the head.
    scanned: usize,
    /// Requests: skip leading empty lines and check the request line early.
    request: bool,
    /// The request line has been checked (or is past `EARLY_CHECK` bytes).
    line_checked: bool,
}

/// What [`HeadScanner::scan`] found.
#[derive(Debug)]
pub enum Scan<T> {
    /// A whole head: the first `len` bytes of the buffer.
    Complete {
        /// The parsed head.
        head: T,
        /// Its length on the wire, blank line included.
        len: usize,
    },
    /// The first `n` bytes are empty lines before a request or status line: consume them and
    /// scan again.
    Skip(usize),
    /// No whole head yet: read more and scan again.
    Partial,
}

/// A head parser that writes a whole head into `out` and returns its length, or `None` for a
/// partial one; the fields go into the map it is given (emptied). `out` is meaningful only
/// when a length is returned: a parse that ends in an error may have written it.
///
/// The head is written where the caller keeps it rather than returned: a returned head (about
/// 220 bytes) was copied once per layer on its way up to the connection's loop, each copy to
/// stack memory of its own, and on a server with hundreds of connections every such line is
/// a cache miss (docs/PERFORMANCE.md, "Session 12").
type ParseInto<T> = fn(&[u8], &Limits, &mut HeaderMap, &mut Option<T>) -> Result<Option<usize>>;

impl HeadScanner<RequestHead> {
    /// A scanner for request heads.
    pub fn request(limits: Limits) -> HeadScanner<RequestHead> {
        HeadScanner::new(parse_request_into, limits, true)
    }
}

impl HeadScanner<ResponseHead> {
    /// A scanner for response heads.
    pub fn response(limits: Limits) -> HeadScanner<ResponseHead> {
        HeadScanner::new(parse_response_into, limits, false)
    }
}

impl<T> HeadScanner<T> {
    fn new(parse: ParseInto<T>, limits: Limits, request: bool) -> Self {
        HeadScanner {
            parse,
            limits,
            spare: HeaderMap::new(),
            scanned: 0,
            request,
            line_checked: false,
        }
    }

    /// The limits heads are parsed with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Gives the scanner a map that an earlier message no longer needs: the next head's fields
    /// go into it (emptied), so a connection that carries many messages reuses one map's
    /// memory instead of allocating one per head. A map that has grown past 64 entries is
    /// dropped instead; an empty new map frees the one held.
    pub fn recycle(&mut self, headers: HeaderMap) {
        self.spare = emptied(headers);
    }

    /// Looks for a whole head at the start of `buf`. After [`Scan::Complete`] the scanner is
    /// ready for the next head (the caller consumes `len` bytes); after [`Scan::Skip`] the
    /// caller consumes the empty lines.
    ///
    /// # Errors
    ///
    /// The parse errors of [`parse_request`] or [`parse_response`];
    /// [`TooLarge::Head`] (or, for a request line that alone is
    /// too long, `RequestLine`) once `buf` holds `max_head_bytes` without a whole head.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Scan<T>> {
        let mut out = None;
        Ok(match (self.scan_into(buf, &mut out)?, out) {
            (Scan::Complete { len, .. }, Some(head)) => Scan::Complete { head, len },
            (Scan::Skip(n), _) => Scan::Skip(n),
            // `scan_into` fills `out` whenever it reports a whole head.
            (Scan::Complete { .. } | Scan::Partial, _) => Scan::Partial,
        })
    }

    /// [`scan`](Self::scan), a whole head written into `out` (`Scan::Complete` then carries
    /// only its length), so it is not copied on its way to the caller. `out` is meaningful
    /// only after `Scan::Complete`.
    pub(crate) fn scan_into(&mut self, buf: &[u8], out: &mut Option<T>) -> Result<Scan<()>> {
        // Empty lines before the first line are skipped in both roles: were one taken for the
        // blank line that ends a head, the search would go on past the real end and wait for
        // bytes that never come.
        let skip = leading_empty_lines(buf);
        if skip > 0 {
            self.scanned = 0;
            return Ok(Scan::Skip(skip));
        }
        if self.scanned == 0 {
            // Most heads arrive whole in one read: parse at once rather than first searching
            // for the head's end. The parser stops at that end by itself, and reaches it only
            // where the search would have found it. An error found here is not returned: the
            // way below finds it again, so it is the one (and comes when) the head alone
            // gives, not one that bytes past its end or a read that split it would give. A
            // head not yet whole is searched for from the next read on, so a slowly sent one
            // is parsed in full at most twice, not once per read.
            match (self.parse)(buf, &self.limits, &mut self.spare, out) {
                Ok(Some(len)) => {
                    self.line_checked = false;
                    return Ok(Scan::Complete { head: (), len });
                }
                // Partial and nothing wrong so far: `buf` holds no end to search for, and what
                // it holds of the request line has passed the check below; nor is it over the
                // head limit (that parse would have said so).
                Ok(None) => {
                    self.line_checked = early_check_done(buf);
                    self.scanned = buf.len();
                    return Ok(Scan::Partial);
                }
                Err(_) => {}
            }
        }
        if let Some(end) = find_end(buf, self.scanned) {
            if let Some(len) = (self.parse)(&buf[..end], &self.limits, &mut self.spare, out)? {
                self.scanned = 0;
                self.line_checked = false;
                return Ok(Scan::Complete { head: (), len });
            }
        } else if self.request && !self.line_checked {
            // httparse reports errors on partial input. Only a short prefix is checked: parsing
            // the whole buffer on every read would make a slowly sent long line cost O(n²).
            let prefix = &buf[..buf.len().min(EARLY_CHECK)];
            (self.parse)(prefix, &self.limits, &mut self.spare, out)?;
            self.line_checked = early_check_done(buf);
        }
        self.scanned = buf.len();
        if buf.len() >= self.limits.max_head_bytes {
            // Classify: a request line that alone is too long is 414, the rest 431.
            (self.parse)(buf, &self.limits, &mut self.spare, out)?;
            return Err(Error::too_large(TooLarge::Head));
        }
        Ok(Scan::Partial)
    }
}

/// The length of the empty lines (CRLF or bare LF) at the start of `buf`.
pub(crate) fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut skip = 0;
    loop {
        match &buf[skip..] {
            [b'\r', b'\n', ..] => skip += 2,
            [b'\n', ..] => skip += 1,
            _ => return skip,
        }
    }
}

/// True if a `Connection` field lists `token` (case-insensitive), RFC 9110 §7.6.1.
pub fn connection_has_token(headers: &HeaderMap, token: &str) -> bool {
    super::field_values(headers, &http::header::CONNECTION).any(|v| {
        crate::proto::split_bytes(v.as_bytes(), b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// True if a message asks for its connection to close after it: `Connection: close`, or
/// HTTP/1.0 without `Connection: keep-alive` (RFC 9112 §9.3).
pub fn wants_close(version: Version, headers: &HeaderMap) -> bool {
    if connection_has_token(headers, "close") {
        return true;
    }
    version == Version::HTTP_10 && !connection_has_token(headers, "keep-alive")
}

/// Header slots parsed on the stack: a head with more fields than this is parsed again into
/// a heap array of one slot per line ([`header_slots`]). The slots are left uninitialised
/// (`MaybeUninit`): httparse writes each before reading it, so a parse pays neither an
/// allocation nor zeroing per head.
/// Kept small (1 KiB) because a connection thread's stack pages, once touched, stay resident
/// for as long as the thread lives: each idle connection would pay for a larger array.
const STACK_HEADERS: usize = 32;

/// The slots of the first parse, on the stack: `max_headers` if it is smaller.
fn stack_slots(limits: &Limits) -> usize {
    limits.max_headers.min(STACK_HEADERS)
}

/// Whether a parse that found more fields than [`stack_slots`] gets a second parse into
/// [`header_slots`] on the heap, rather than the error: only if `max_headers` allows more.
fn parse_again(e: httparse::Error, limits: &Limits) -> bool {
    e == httparse::Error::TooManyHeaders && limits.max_headers > STACK_HEADERS
}

/// How many header slots a head too large for the stack gets: `max_headers`, but never more
/// than `buf`'s head could hold (one field per line), so a generous or unlimited
/// `max_headers` (a client's, bounded only by the head's size as in Go) costs no more than
/// the head needs.
fn header_slots(buf: &[u8], limits: &Limits) -> usize {
    let head = &buf[..buf.len().min(limits.max_head_bytes.saturating_add(1))];
    // Only the head's own lines: `buf` may go on with a body or the next request, whose lines
    // would otherwise each get a slot (a read buffer of newlines, thousands of them).
    let head = &head[..find_end(head, 0).unwrap_or(head.len())];
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    limits.max_headers.min(lines + 1)
}

/// Parses a request head from the start of `buf`.
///
/// Checks, beyond `httparse`'s token and line rules: the head and header-count limits (a
/// request line that alone fills the head limit is [`TooLarge::RequestLine`], for a 414),
/// an HTTP version other than 1.0 and 1.1 ([`ErrorKind::UnsupportedVersion`], for a 505),
/// obs-fold, the form of the request target for the method, exactly one valid `Host` on
/// HTTP/1.1 (RFC 9112 §3.2), and header names that only an underscore separates from a framing
/// header (`Transfer_Encoding`, `Content_Length`), which some proxies merge with the real ones.
///
/// # Errors
///
/// [`ErrorKind::Malformed`], [`ErrorKind::TooLarge`] or [`ErrorKind::UnsupportedVersion`].
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed<RequestHead>> {
    let mut out = None;
    let len = parse_request_into(buf, limits, &mut HeaderMap::new(), &mut out)?;
    Ok(parsed(len, out))
}

/// A whole head and its length as a [`Parsed`]; `Partial` for none.
fn parsed<T>(len: Option<usize>, head: Option<T>) -> Parsed<T> {
    match (len, head) {
        (Some(len), Some(head)) => Parsed::Complete { head, len },
        _ => Parsed::Partial,
    }
}

/// [`parse_request`], the head written into `out` and its length returned (`None` for a
/// partial head), the fields going into `spare` (emptied) if the head is complete.
fn parse_request_into(
    buf: &[u8],
    limits: &Limits,
    spare: &mut HeaderMap,
    out: &mut Option<RequestHead>,
) -> Result<Option<usize>> {
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap;
    let mut req = httparse::Request::new(&mut []);
    // Most heads fit the stack's slots, so their lines are never counted.
    let parsed = match req.parse_with_uninit_headers(buf, &mut stack[..stack_slots(limits)]) {
        Err(e) if parse_again(e, limits) => {
            heap = vec![MaybeUninit::uninit(); header_slots(buf, limits)];
            req = httparse::Request::new(&mut []);
            req.parse_with_uninit_headers(buf, &mut heap)
        }
        other => other,
    };
    let status = match parsed {
        Ok(s) => s,
        // Whether a bad version is a 505 (a well-formed version we do not speak) or a 400 (a
        // malformed line) takes the whole line to tell: until it is here, read on.
        Err(httparse::Error::Version) if first_line(buf).is_none() => {
            check_partial(buf, limits, true)?;
            return Ok(None);
        }
        Err(e) => return Err(map_request_error(e, buf, limits)),
    };
    let len = match status {
        httparse::Status::Partial => {
            check_partial(buf, limits, true)?;
            return Ok(None);
        }
        httparse::Status::Complete(len) => len,
    };
    if len > limits.max_head_bytes {
        return Err(over_limit(buf, limits, true));
    }

    let version = match req.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Error::malformed(Malformed::Version)),
    };
    let method = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or_else(|| Error::malformed(Malformed::Method))?;
    let target = req
        .path
        .ok_or_else(|| Error::malformed(Malformed::Target))?;
    // The root target is parsed from a static (no copy), so it is not one of the pieces.
    let pieces = req.headers.len() + usize::from(target != "/");
    let shared = HeadBytes::new(&buf[..len], pieces);
    let uri = parse_target(&method, target, &shared)?;
    let (headers, facts) = to_header_map_into(req.headers, std::mem::take(spare), &shared)?;
    check_request_headers(version, facts)?;
    *out = Some(RequestHead {
        method,
        uri,
        version,
        headers,
    });
    Ok(Some(len))
}

/// Parses a response head from the start of `buf`.
///
/// # Errors
///
/// [`ErrorKind::Malformed`], [`ErrorKind::TooLarge`] or [`ErrorKind::UnsupportedVersion`].
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Parsed<ResponseHead>> {
    let mut out = None;
    let len = parse_response_into(buf, limits, &mut HeaderMap::new(), &mut out)?;
    Ok(parsed(len, out))
}

/// [`parse_response`], the head written into `out` and its length returned (`None` for a
/// partial head), the fields going into `spare` (emptied) if the head is complete.
fn parse_response_into(
    buf: &[u8],
    limits: &Limits,
    spare: &mut HeaderMap,
    out: &mut Option<ResponseHead>,
) -> Result<Option<usize>> {
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap;
    let mut res = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    // Most heads fit the stack's slots, so their lines are never counted.
    let parsed = match config.parse_response_with_uninit_headers(
        &mut res,
        buf,
        &mut stack[..stack_slots(limits)],
    ) {
        Err(e) if parse_again(e, limits) => {
            heap = vec![MaybeUninit::uninit(); header_slots(buf, limits)];
            res = httparse::Response::new(&mut []);
            config.parse_response_with_uninit_headers(&mut res, buf, &mut heap)
        }
        other => other,
    };
    let status = match parsed {
        Ok(s) => s,
        Err(e) => return Err(map_response_error(e, buf, limits)),
    };
    let len = match status {
        httparse::Status::Partial => {
            check_partial(buf, limits, false)?;
            return Ok(None);
        }
        httparse::Status::Complete(len) => len,
    };
    if len > limits.max_head_bytes {
        return Err(Error::too_large(TooLarge::Head));
    }
    let version = match res.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Err(Error::malformed(Malformed::Version)),
    };
    let status = res
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| Error::malformed(Malformed::StatusLine))?;
    let shared = HeadBytes::new(&buf[..len], res.headers.len());
    let (headers, _) = to_header_map_into(res.headers, std::mem::take(spare), &shared)?;
    *out = Some(ResponseHead {
        status,
        version,
        headers,
    });
    Ok(Some(len))
}

/// Parses a block of header fields ending in a blank line, such as a chunked trailer section.
/// `buf` must hold the whole block.
///
/// # Errors
///
/// [`ErrorKind::Malformed`] with `what` for a bad field, or [`TooLarge::HeaderCount`].
pub(crate) fn parse_fields(buf: &[u8], max_headers: usize, what: Malformed) -> Result<HeaderMap> {
    let lines = buf.iter().filter(|&&b| b == b'\n').count();
    let mut heap = vec![httparse::EMPTY_HEADER; max_headers.min(lines + 1).max(1)];
    match httparse::parse_headers(buf, &mut heap) {
        Ok(httparse::Status::Complete((_, fields))) => {
            to_header_map(fields).map_err(|e| match e.kind() {
                ErrorKind::TooLarge(_) => e,
                _ => Error::malformed(what),
            })
        }
        Ok(httparse::Status::Partial) => Err(Error::malformed(what)),
        Err(httparse::Error::TooManyHeaders) => Err(Error::too_large(TooLarge::HeaderCount)),
        Err(_) => Err(Error::malformed(what)),
    }
}

fn check_partial(buf: &[u8], limits: &Limits, request: bool) -> Result<()> {
    if buf.len() < limits.max_head_bytes {
        return Ok(());
    }
    Err(over_limit(buf, limits, request))
}

/// The error for a head that does not fit in the limit, whether or not it is complete in `buf`:
/// if the first line has not ended within the limit, the request line alone is too long (414
/// rather than 431).
fn over_limit(buf: &[u8], limits: &Limits, request: bool) -> Error {
    let within = &buf[..limits.max_head_bytes.min(buf.len())];
    if request && !within.contains(&b'\n') {
        return Error::too_large(TooLarge::RequestLine);
    }
    Error::too_large(TooLarge::Head)
}

fn map_request_error(e: httparse::Error, buf: &[u8], limits: &Limits) -> Error {
    match e {
        httparse::Error::Version => {
            // RFC 9112 §2.3: a well-formed version we do not speak gets 505, not 400. A line
            // with more than three parts ("GET /a b HTTP/1.1": a space in the target) is a bad
            // request line whatever its last token says.
            let line = first_line(buf);
            let parts = line.map_or(0, |l| crate::proto::split_bytes(l, b' ').count());
            if parts != 3 {
                Error::malformed(Malformed::RequestLine)
            } else if line.and_then(looks_like_version).is_some() {
                Error::new(ErrorKind::UnsupportedVersion)
            } else {
                Error::malformed(Malformed::Version)
            }
        }
        httparse::Error::TooManyHeaders => {
            if buf.len() > limits.max_head_bytes {
                Error::too_large(TooLarge::Head)
            } else {
                Error::too_large(TooLarge::HeaderCount)
            }
        }
        httparse::Error::Token => Error::malformed(Malformed::RequestLine),
        other => map_common_error(other, buf),
    }
}

fn map_response_error(e: httparse::Error, buf: &[u8], limits: &Limits) -> Error {
    match e {
        httparse::Error::Version => {
            let version = first_line(buf).and_then(|l| crate::proto::split_bytes(l, b' ').next());
            if version.and_then(looks_like_version_token).is_some() {
                Error::new(ErrorKind::UnsupportedVersion)
            } else {
                Error::malformed(Malformed::Version)
            }
        }
        httparse::Error::TooManyHeaders if buf.len() > limits.max_head_bytes => {
            Error::too_large(TooLarge::Head)
        }
        httparse::Error::TooManyHeaders => Error::too_large(TooLarge::HeaderCount),
        httparse::Error::Status | httparse::Error::Token => Error::malformed(Malformed::StatusLine),
        other => map_common_error(other, buf),
    }
}

fn map_common_error(e: httparse::Error, buf: &[u8]) -> Error {
    match e {
        httparse::Error::HeaderName if has_obs_fold(buf) => Error::malformed(Malformed::ObsFold),
        httparse::Error::HeaderName => Error::malformed(Malformed::HeaderName),
        httparse::Error::HeaderValue => Error::malformed(Malformed::HeaderValue),
        httparse::Error::NewLine => Error::malformed(Malformed::LineEnding),
        _ => Error::malformed(Malformed::RequestLine),
    }
}

fn first_line(buf: &[u8]) -> Option<&[u8]> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line = &buf[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// For a request line, the last space-separated token if it is `HTTP/<digit>.<digit>` or
/// `HTTP/<digit>`.
fn looks_like_version(line: &[u8]) -> Option<()> {
    let token = line.rsplit(|&b| b == b' ').next()?;
    looks_like_version_token(token)
}

fn looks_like_version_token(token: &[u8]) -> Option<()> {
    let rest = token.strip_prefix(b"HTTP/")?;
    match rest {
        [a] if a.is_ascii_digit() => Some(()),
        [a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => Some(()),
        _ => None,
    }
}

fn has_obs_fold(buf: &[u8]) -> bool {
    let end = find_end(buf, 0).unwrap_or(buf.len());
    buf[..end]
        .windows(2)
        .any(|w| w[0] == b'\n' && (w[1] == b' ' || w[1] == b'\t'))
}

fn to_header_map(fields: &[httparse::Header<'_>]) -> Result<HeaderMap> {
    to_header_map_into(fields, HeaderMap::new(), &HeadBytes::new(&[], 0)).map(|(map, _)| map)
}

/// One message head copied once into shared bytes, of which its header values (and a
/// request's target) are slices: two allocations per head (the copy, and the count the first
/// slice adds) instead of one per value. Used when a head has at least three such pieces;
/// below that, each is copied on its own, which is no more allocations. A value kept from a
/// message keeps the whole head's copy alive, as hyper's values keep its read buffer.
struct HeadBytes<'a> {
    head: &'a [u8],
    copy: Option<Bytes>,
}

impl<'a> HeadBytes<'a> {
    fn new(head: &'a [u8], pieces: usize) -> HeadBytes<'a> {
        HeadBytes {
            head,
            copy: (pieces >= 3).then(|| Bytes::copy_from_slice(head)),
        }
    }

    /// `part` (a slice of the head) as a slice of the copy; `None` without a copy, or for a
    /// part that is empty or not inside the head.
    fn slice(&self, part: &[u8]) -> Option<Bytes> {
        let copy = self.copy.as_ref()?;
        let start = (part.as_ptr() as usize).checked_sub(self.head.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        (!part.is_empty() && end <= self.head.len()).then(|| copy.slice(start..end))
    }
}

/// The most entries a map may have room for and still be kept for reuse
/// ([`HeadScanner::recycle`]): more than a typical head's fields, so a map from a rare head
/// with hundreds of fields is not held for the rest of the connection.
const RECYCLE_MAX: usize = 64;

/// `map` emptied for reuse, or a new map (which holds no memory) if `map` has room for more
/// than [`RECYCLE_MAX`] entries.
pub(crate) fn emptied(mut map: HeaderMap) -> HeaderMap {
    empty_in_place(&mut map);
    map
}

/// [`emptied`], in place.
pub(crate) fn empty_in_place(map: &mut HeaderMap) {
    if map.capacity() > RECYCLE_MAX {
        *map = HeaderMap::new();
    } else {
        map.clear();
    }
}

/// What a request's checks need to know of its fields, gathered while they are added to the
/// map so the checks take no second pass over it ([`check_request_headers`]).
#[derive(Clone, Copy, Default)]
struct FieldFacts {
    /// `Host` fields seen (saturating at 255: only 0, 1 and more matter).
    hosts: u8,
    /// Whether the first `Host` field's value reads as a host.
    host_valid: bool,
    /// A name that only underscores tell from a framing header.
    framing_lookalike: bool,
}

/// [`to_header_map`] into `map` (empty; its memory reused when it has room), with the facts a
/// request's checks need.
fn to_header_map_into(
    fields: &[httparse::Header<'_>],
    mut map: HeaderMap,
    shared: &HeadBytes<'_>,
) -> Result<(HeaderMap, FieldFacts)> {
    debug_assert!(map.is_empty());
    // Room for every field at once, in a new map or a reused one. `HeaderMap::with_capacity`
    // would panic past http's limit (about 24,000 fields; a response head has no field-count
    // limit by default, only a size one, as in Go): then the map grows as fields come.
    let _ = map.try_reserve(fields.len());
    let mut facts = FieldFacts::default();
    for f in fields {
        // httparse has checked names are tokens and values hold no CTLs but HTAB; the http
        // types check the same again (a common name, by matching it exactly). obs-text
        // (0x80-0xFF) is kept as opaque bytes.
        let name = field_name(f.name.as_bytes())?;
        if name == header::HOST {
            if facts.hosts == 0 {
                facts.host_valid = valid_host(f.value);
            }
            facts.hosts = facts.hosts.saturating_add(1);
        } else if matches!(f.name.len(), 14 | 17) && f.name.as_bytes().contains(&b'_') {
            // Names one underscore away from a framing header (which are 14 and 17 bytes
            // long): some intermediaries treat `_` as `-`, so a request carrying one could be
            // framed two ways along the path.
            let n = name.as_str().as_bytes();
            facts.framing_lookalike |=
                dashes_as(n, b"transfer-encoding") || dashes_as(n, b"content-length");
        }
        let value = match shared.slice(f.value) {
            Some(b) => HeaderValue::from_maybe_shared(b),
            None => HeaderValue::from_bytes(f.value),
        }
        .map_err(|_| Error::malformed(Malformed::HeaderValue))?;
        if !append_field(&mut map, name, value) {
            return Err(Error::too_large(TooLarge::HeaderCount));
        }
    }
    Ok((map, facts))
}

/// A name most heads carry (in either role), as its lowercase bytes and its `HeaderName`.
type Known = (&'static [u8], HeaderName);

/// The common names of each length that has some ([`field_name`]).
static NAMES_4: [Known; 4] = [
    (b"host", header::HOST),
    (b"date", header::DATE),
    (b"etag", header::ETAG),
    (b"vary", header::VARY),
];
static NAMES_6: [Known; 4] = [
    (b"accept", header::ACCEPT),
    (b"server", header::SERVER),
    (b"cookie", header::COOKIE),
    (b"expect", header::EXPECT),
];
static NAMES_8: [Known; 1] = [(b"location", header::LOCATION)];
static NAMES_10: [Known; 3] = [
    (b"user-agent", header::USER_AGENT),
    (b"connection", header::CONNECTION),
    (b"set-cookie", header::SET_COOKIE),
];
static NAMES_12: [Known; 1] = [(b"content-type", header::CONTENT_TYPE)];
static NAMES_13: [Known; 4] = [
    (b"cache-control", header::CACHE_CONTROL),
    (b"last-modified", header::LAST_MODIFIED),
    (b"accept-ranges", header::ACCEPT_RANGES),
    (b"authorization", header::AUTHORIZATION),
];
static NAMES_14: [Known; 1] = [(b"content-length", header::CONTENT_LENGTH)];
static NAMES_15: [Known; 2] = [
    (b"accept-encoding", header::ACCEPT_ENCODING),
    (b"accept-language", header::ACCEPT_LANGUAGE),
];
static NAMES_16: [Known; 1] = [(b"content-encoding", header::CONTENT_ENCODING)];
static NAMES_17: [Known; 1] = [(b"transfer-encoding", header::TRANSFER_ENCODING)];

/// A field's name from the wire, as `HeaderName::from_bytes` makes it (lowercase, checked).
///
/// The names most heads carry are matched first, by length and then bytes, without
/// `from_bytes`'s general path (which lowercases the name into a buffer and then looks it up
/// among all of http's standard names): a head's parse runs this once per field, and the
/// general path is a large function whose code a busy server fetches again for each request.
fn field_name(raw: &[u8]) -> Result<HeaderName> {
    let known: &[Known] = match raw.len() {
        4 => &NAMES_4,
        6 => &NAMES_6,
        8 => &NAMES_8,
        10 => &NAMES_10,
        12 => &NAMES_12,
        13 => &NAMES_13,
        14 => &NAMES_14,
        15 => &NAMES_15,
        16 => &NAMES_16,
        17 => &NAMES_17,
        _ => &[],
    };
    for (bytes, name) in known {
        if same_name(raw, bytes) {
            return Ok(name.clone());
        }
    }
    HeaderName::from_bytes(raw).map_err(|_| Error::malformed(Malformed::HeaderName))
}

/// Whether `raw` is `lower` in any case, where `lower` is 4 to 24 bytes of lowercase letters
/// and `-`: compared a word at a time (two or three words, which may overlap), not a byte at
/// a time.
///
/// A letter matches in either case: its 0x20 bit, taken from the letter itself (bit 6 shifted
/// down: set in every lowercase letter, clear in `-`), is set in the byte compared. A `-` gets
/// no such bit and matches only itself.
fn same_name(raw: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    fn w8(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    }
    fn w4(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    }
    fn same(r: u64, k: u64) -> bool {
        (r | ((k >> 1) & CASE)) == k
    }
    let n = lower.len();
    if raw.len() != n {
        return false;
    }
    // Words at the start and at the end, and past 16 bytes one between: together every byte.
    match n {
        4..=7 => same(w4(raw, 0), w4(lower, 0)) && same(w4(raw, n - 4), w4(lower, n - 4)),
        8..=24 => {
            same(w8(raw, 0), w8(lower, 0))
                && same(w8(raw, n - 8), w8(lower, n - 8))
                && (n <= 16 || same(w8(raw, 8), w8(lower, 8)))
        }
        _ => false,
    }
}

/// Appends a field received from a peer; false if the map is full. A `HeaderMap` holds at
/// most 32,768 distinct names, and its `append` panics past that; repeated names (hundreds of
/// `Set-Cookie`, say) have no such limit.
pub(crate) fn append_field(map: &mut HeaderMap, name: HeaderName, value: HeaderValue) -> bool {
    map.try_append(name, value).is_ok()
}

fn parse_target(method: &Method, target: &str, shared: &HeadBytes<'_>) -> Result<Uri> {
    let bad = || Error::malformed(Malformed::Target);
    // RFC 9112 §3.2: origin-form, absolute-form, authority-form (CONNECT only) and
    // asterisk-form (OPTIONS only).
    if method == Method::CONNECT {
        let uri: Uri = target.parse().map_err(|_| bad())?;
        let authority_only = uri.scheme().is_none()
            && uri.authority().is_some()
            && uri.path_and_query().is_none_or(|p| p.as_str().is_empty());
        return if authority_only && uri.port().is_some() {
            Ok(uri)
        } else {
            Err(bad())
        };
    }
    if target == "*" {
        return if method == Method::OPTIONS {
            target.parse().map_err(|_| bad())
        } else {
            Err(bad())
        };
    }
    if target == "/" {
        // The most common target of all: no copy, no parse.
        return Ok(Uri::from_static("/"));
    }
    let uri = match shared.slice(target.as_bytes()) {
        Some(b) => Uri::from_maybe_shared(b),
        None => target.parse(),
    }
    .map_err(|_| bad())?;
    if target.starts_with('/') || (uri.scheme().is_some() && uri.authority().is_some()) {
        Ok(uri)
    } else {
        Err(bad())
    }
}

fn check_request_headers(version: Version, facts: FieldFacts) -> Result<()> {
    if facts.framing_lookalike {
        return Err(Error::malformed(Malformed::HeaderName));
    }
    match facts.hosts {
        // RFC 9112 §3.2: a server MUST respond with 400 to an HTTP/1.1 request that lacks a
        // Host field or has more than one.
        0 if version == Version::HTTP_11 => Err(Error::malformed(Malformed::Host)),
        0 => Ok(()),
        1 if facts.host_valid => Ok(()),
        _ => Err(Error::malformed(Malformed::Host)),
    }
}

/// True if `name` reads as `framing` with each `_` taken for a `-` (names are lowercase).
fn dashes_as(name: &[u8], framing: &[u8]) -> bool {
    name.len() == framing.len()
        && name
            .iter()
            .zip(framing)
            .all(|(&a, &b)| a == b || (a == b'_' && b == b'-'))
}

/// The bytes of RFC 3986's `host [":" port]`: unreserved, sub-delims, `%`, `:` and the IPv6
/// brackets.
pub(crate) fn valid_host(h: &[u8]) -> bool {
    h.iter().all(|&b| {
        super::is_unreserved(b) || super::is_sub_delim(b) || matches!(b, b'%' | b':' | b'[' | b']')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(wire: &str) -> Result<Parsed<RequestHead>> {
        parse_request(wire.as_bytes(), &Limits::default())
    }

    fn kind(r: Result<Parsed<RequestHead>>) -> Option<ErrorKind> {
        r.err().map(|e| e.kind())
    }

    /// The root target comes from a static, not the head: it must still be the URI a parse
    /// gives, for every method that may carry it, and still refused where it is not a target.
    #[test]
    fn root_target_is_the_parsed_uri() {
        let parsed: Uri = "/".parse().unwrap();
        for method in ["GET", "POST", "OPTIONS", "HEAD"] {
            let wire = format!("{method} / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
            let Parsed::Complete { head, .. } = req(&wire).unwrap() else {
                panic!("partial")
            };
            assert_eq!(head.uri, parsed, "{method}");
            assert_eq!(head.uri.path(), "/");
            assert_eq!(head.uri.query(), None);
            assert_eq!(
                (&head.headers["a"], &head.headers["b"]),
                (
                    &"1".parse::<http::HeaderValue>().unwrap(),
                    &"2".parse::<http::HeaderValue>().unwrap()
                )
            );
        }
        // CONNECT takes an authority, never a path.
        assert_eq!(
            kind(req("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n")),
            Some(ErrorKind::Malformed(Malformed::Target))
        );
    }

    /// The common names' shortcut gives what `HeaderName::from_bytes` gives: for every name it
    /// knows in three cases, for each of them with any one byte replaced by every byte value
    /// or cut out, or with a byte added, and for names it leaves to `from_bytes` (bad ones
    /// included, which both refuse).
    #[test]
    fn field_name_agrees_with_from_bytes() {
        let known: Vec<&[u8]> = [
            &NAMES_4[..],
            &NAMES_6,
            &NAMES_8,
            &NAMES_10,
            &NAMES_12,
            &NAMES_13,
            &NAMES_14,
            &NAMES_15,
            &NAMES_16,
            &NAMES_17,
        ]
        .iter()
        .flat_map(|t| t.iter().map(|(b, _)| *b))
        .collect();
        let mut names: Vec<Vec<u8>> = Vec::new();
        for k in &known {
            // Each table entry is the standard name's own spelling.
            assert_eq!(HeaderName::from_bytes(k).unwrap().as_str().as_bytes(), *k);
            names.push(k.to_vec());
            names.push(k.to_ascii_uppercase());
            // Title-Case, as most clients send them.
            let mut title = k.to_vec();
            let mut start = true;
            for b in &mut title {
                if start {
                    b.make_ascii_uppercase();
                }
                start = *b == b'-';
            }
            names.push(title);
            for i in 0..k.len() {
                // One byte changed to every other byte, cut off, or one added.
                for b in 0..=255u8 {
                    let mut off = k.to_vec();
                    off[i] = b;
                    names.push(off);
                }
                let mut cut = k.to_vec();
                cut.remove(i);
                names.push(cut);
            }
            names.push([*k, b"s"].concat());
        }
        for other in [
            &b"x-trace"[..],
            b"age",
            b"te",
            b"a",
            b"bad name",
            b"b\xe4d",
            b"",
            b"x(y)",
        ] {
            names.push(other.to_vec());
        }
        for raw in &names {
            let ours = field_name(raw).ok();
            let theirs = HeaderName::from_bytes(raw).ok();
            assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    /// Heads with three pieces or more (target and values) share one copy of the head: every
    /// value and the target must come out as they were, empty and obs-text values included,
    /// and a value must outlive the map and the buffer it came from.
    #[test]
    fn values_sliced_from_one_copy_of_the_head() {
        let wire = b"GET /a/b?q=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Obs: caf\xe9\r\n\
                     X-Pad:   spaced  \r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n"
            .to_vec();
        let Parsed::Complete { head, .. } = parse_request(&wire, &Limits::default()).unwrap()
        else {
            panic!("partial")
        };
        assert_eq!(head.uri, "/a/b?q=1");
        let h = &head.headers;
        assert_eq!(h["host"], "h");
        assert_eq!(h["x-empty"], "");
        assert_eq!(h["x-obs"].as_bytes(), b"caf\xe9");
        assert_eq!(h["x-pad"], "spaced");
        let dups: Vec<_> = h.get_all("x-dup").iter().collect();
        assert_eq!(dups, ["1", "2"]);
        let kept = h["x-pad"].clone();
        drop(head);
        drop(wire);
        assert_eq!(kept, "spaced");

        let wire = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: \r\nD: 4\r\n\r\n";
        let Parsed::Complete { head, .. } = parse_response(wire, &Limits::default()).unwrap()
        else {
            panic!("partial")
        };
        let got: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| head.headers[*n].to_str().unwrap())
            .collect();
        assert_eq!(got, ["1", "2", "", "4"]);
    }

    /// What a scanner made of one read: `Ok(Some(len))` for a whole head, `Ok(None)` for a
    /// partial one.
    fn scan_outcome<T>(scanner: &mut HeadScanner<T>, buf: &[u8]) -> Result<Option<usize>> {
        scanner.scan(buf).map(|s| match s {
            Scan::Complete { len, .. } => Some(len),
            Scan::Partial => None,
            Scan::Skip(_) => panic!("no empty lines in these cases"),
        })
    }

    /// [`scan_outcome`] of each read in turn, errors as their kinds.
    fn scan_outcomes<T>(
        mut scanner: HeadScanner<T>,
        bufs: &[&[u8]],
    ) -> Vec<std::result::Result<Option<usize>, ErrorKind>> {
        bufs.iter()
            .map(|b| scan_outcome(&mut scanner, b).map_err(|e| e.kind()))
            .collect()
    }

    #[test]
    fn a_first_read_is_taken_at_once_only_when_it_holds_a_whole_valid_head() {
        // A head's first read is parsed at once; only a whole, valid head is taken from that
        // parse. Anything else has the outcome it had when the head's end was searched for
        // first: a partial head waits for its end (even where the bytes so far are already
        // wrong), and an error is the one the head alone gives.
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..30 {
            many.push_str(&format!("x-field-{i}: v\r\n"));
        }
        many.push_str("Bad Field: v\r\n");
        assert!(many.len() > EARLY_CHECK);
        use ErrorKind::{Malformed as M, UnsupportedVersion};
        type Outcome = std::result::Result<Option<usize>, ErrorKind>;
        /// Name, request?, the first read, the rest, the first outcome, the outcome with all.
        type Case<'a> = (&'a str, bool, Vec<u8>, &'a [u8], Outcome, Outcome);
        let cases: Vec<Case<'_>> = vec![
            (
                "status_line_split_inside_a_version_we_do_not_speak",
                false,
                b"HTTP/2 2".to_vec(),
                b"00 OK\r\n\r\n",
                Ok(None),
                Err(UnsupportedVersion),
            ),
            (
                "partial_response_with_a_bad_field_name_so_far",
                false,
                b"HTTP/1.1 200 OK\r\n:".to_vec(),
                b"x\r\n\r\n",
                Ok(None),
                Err(M(Malformed::HeaderName)),
            ),
            (
                "partial_request_with_a_bad_field_past_the_early_check",
                true,
                many.clone().into_bytes(),
                b"\r\n",
                Ok(None),
                Err(M(Malformed::HeaderName)),
            ),
            (
                "request_followed_by_the_next_one",
                true,
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HT".to_vec(),
                b"TP/1.1\r\n",
                Ok(Some(27)),
                Ok(Some(27)),
            ),
            (
                "response_followed_by_body_bytes",
                false,
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab".to_vec(),
                b"c",
                Ok(Some(38)),
                Ok(Some(38)),
            ),
            (
                "bare_lf_head_then_junk",
                false,
                b"HTTP/1.1 204 No Content\n\n\x00\xff".to_vec(),
                b"",
                Ok(Some(25)),
                Ok(Some(25)),
            ),
        ];
        for (name, request, first, rest, want_first, want_whole) in cases {
            let mut whole = first.clone();
            whole.extend_from_slice(rest);
            let run = |bufs: &[&[u8]]| -> Vec<Outcome> {
                let limits = if request {
                    Limits::default()
                } else {
                    Limits::response(Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES)
                };
                if request {
                    scan_outcomes(HeadScanner::request(limits), bufs)
                } else {
                    scan_outcomes(HeadScanner::response(limits), bufs)
                }
            };
            assert_eq!(
                run(&[&first, &whole]),
                vec![want_first, want_whole],
                "{name}"
            );
            // The whole buffer in one read gives the same final outcome.
            assert_eq!(run(&[&whole]), vec![want_whole], "{name}, in one read");
        }
    }

    #[test]
    fn a_large_heads_slots_count_its_own_lines_only() {
        // 40 fields (more than the stack's slots), then a body of newlines in the same read.
        let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..40 {
            buf.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        let head_len = buf.len();
        buf.extend_from_slice(&[b'\n'; 10_000]);
        let limits = Limits::response(Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES);
        assert_eq!(header_slots(&buf, &limits), 43);
        let Parsed::Complete { head, len } = parse_response(&buf, &limits).unwrap() else {
            panic!("partial")
        };
        assert_eq!((head.headers.len(), len), (40, head_len));
        // Without a blank line yet, every line so far counts.
        assert_eq!(header_slots(&buf[..head_len - 2], &limits), 42);
    }

    #[test]
    fn a_head_over_its_limit_gets_the_same_error_whatever_max_headers() {
        // A head longer than `max_head_bytes`, whole in the buffer, with fewer fields than the
        // stack's slots. Its fields used to be counted within the limit only when
        // `max_headers` was over the stack's slots, and too few slots then became the error
        // (431 rather than 414 or 400). A head with more fields than the stack holds is
        // still counted within the limit, and gets 431 whatever `max_headers` is.
        let pad = "a".repeat(5000);
        let cases = [
            (
                "request_line_past_the_limit",
                format!("GET /{pad} HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"),
                ErrorKind::TooLarge(TooLarge::RequestLine),
            ),
            (
                "bad_field_past_the_limit",
                format!("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: {pad}\r\nBad Field: v\r\n\r\n"),
                ErrorKind::Malformed(Malformed::HeaderName),
            ),
            (
                "good_fields_past_the_limit",
                format!("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: {pad}\r\nX: y\r\nY: z\r\n\r\n"),
                ErrorKind::TooLarge(TooLarge::Head),
            ),
        ];
        for (name, head, want) in cases {
            for max_headers in [2, 3, STACK_HEADERS, STACK_HEADERS + 1, 100, usize::MAX] {
                let limits = Limits {
                    max_head_bytes: 4096,
                    max_headers,
                    ..Limits::default()
                };
                let err = parse_request(head.as_bytes(), &limits).expect_err(name);
                assert_eq!(err.kind(), want, "{name}, max_headers {max_headers}");
            }
        }
    }

    #[test]
    fn field_counts_around_the_stack_slots_parse_or_are_too_many() {
        // A head is parsed into the stack's slots first and, when it has more fields than
        // they hold, again on the heap: the outcome must depend only on `max_headers`.
        for max_headers in [0, 5, STACK_HEADERS, STACK_HEADERS + 1, 50, usize::MAX] {
            let limits = Limits {
                max_headers,
                ..Limits::default()
            };
            for fields in [
                0,
                1,
                5,
                6,
                STACK_HEADERS - 1,
                STACK_HEADERS,
                STACK_HEADERS + 1,
                50,
                51,
                70,
            ] {
                let mut req = b"GET / HTTP/1.1\r\n".to_vec();
                let mut res = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..fields {
                    // The first field is the request's Host.
                    let line = if i == 0 {
                        "host: h\r\n".to_string()
                    } else {
                        format!("x{i}: v\r\n")
                    };
                    req.extend_from_slice(line.as_bytes());
                    res.extend_from_slice(line.as_bytes());
                }
                for (head, is_req) in [(req, true), (res, false)] {
                    // Without its last line the head is partial, whatever its fields.
                    let partial = if is_req {
                        parse_request(&head, &limits).map(|p| matches!(p, Parsed::Partial))
                    } else {
                        parse_response(&head, &limits).map(|p| matches!(p, Parsed::Partial))
                    };
                    let mut whole = head.clone();
                    whole.extend_from_slice(b"\r\n");
                    let count = if is_req {
                        parse_request(&whole, &limits).map(|p| match p {
                            Parsed::Complete { head, .. } => head.headers.len(),
                            Parsed::Partial => usize::MAX,
                        })
                    } else {
                        parse_response(&whole, &limits).map(|p| match p {
                            Parsed::Complete { head, .. } => head.headers.len(),
                            Parsed::Partial => usize::MAX,
                        })
                    };
                    let case =
                        format!("{fields} fields, max_headers {max_headers}, request {is_req}");
                    if fields <= max_headers {
                        assert!(partial.unwrap(), "{case}");
                        if is_req && fields == 0 {
                            // HTTP/1.1 without Host.
                            assert!(count.is_err(), "{case}");
                        } else {
                            assert_eq!(count.unwrap(), fields, "{case}");
                        }
                    } else {
                        for r in [partial.map(|_| 0), count] {
                            let err = r.expect_err(&case);
                            assert_eq!(
                                err.kind(),
                                ErrorKind::TooLarge(TooLarge::HeaderCount),
                                "{case}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn more_fields_than_a_header_map_holds_is_an_error_not_a_panic() {
        // http's HeaderMap holds at most 32,768 entries and panics past that; a response head
        // has no field-count limit by default (Go's), only its size.
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..40_000 {
            head.extend_from_slice(format!("x{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let limits = Limits::response(Limits::DEFAULT_MAX_RESPONSE_HEAD_BYTES);
        let err = parse_response(&head, &limits).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::TooLarge(TooLarge::HeaderCount),
            "{err}"
        );
        // The same count of one repeated name is only values appended to one entry: read,
        // as Go reads it (the head's size is the limit).
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..40_000 {
            head.extend_from_slice(b"set-cookie: a=b\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let Parsed::Complete { head: h, .. } = parse_response(&head, &limits).unwrap() else {
            panic!("partial")
        };
        assert_eq!(h.headers.get_all("set-cookie").iter().count(), 40_000);
        // A server whose `max_headers` is raised past the map's size refuses such a request
        // with 431 rather than panic.
        let mut req = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..40_000 {
            req.extend_from_slice(format!("x{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let limits = Limits {
            max_headers: 100_000,
            ..Limits::default()
        };
        let err = parse_request(&req, &limits).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::TooLarge(TooLarge::HeaderCount),
            "{err}"
        );
        // A trailer section (a client's has no field-count limit either).
        let err = parse_fields(
            &req[req.iter().position(|&b| b == b'\n').unwrap() + 1..],
            usize::MAX,
            Malformed::Trailer,
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::TooLarge(TooLarge::HeaderCount),
            "{err}"
        );
    }

    /// A first line that has not ended yet cannot be judged on its version: it might yet
    /// turn out well-formed (505) or not (400). Seen when the line arrives in two reads.
    #[test]
    fn version_verdict_waits_for_the_whole_line() {
        let l = Limits::default();
        for partial in [&b"GET /a HTTP/1.2"[..], b"GET /a b HTT", b"GET /a HTTP/9"] {
            assert!(
                matches!(parse_request(partial, &l), Ok(Parsed::Partial)),
                "{:?}",
                String::from_utf8_lossy(partial)
            );
        }
        let e = |b: &[u8]| parse_request(b, &l).err().map(|e| e.kind());
        assert_eq!(
            e(b"GET /a HTTP/1.2\r\n"),
            Some(ErrorKind::UnsupportedVersion)
        );
        assert_eq!(
            e(b"GET /a b HTTP/1.1\r\n"),
            Some(ErrorKind::Malformed(Malformed::RequestLine))
        );
    }

    #[test]
    fn find_end_handles_crlf_lf_and_resumes() {
        let cases: &[(&str, &[u8], Option<usize>)] = &[
            ("crlf", b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", Some(24)),
            ("bare_lf", b"GET / HTTP/1.1\nA: b\n\nrest", Some(21)),
            ("mixed", b"GET / HTTP/1.1\r\nA: b\n\r\n", Some(23)),
            ("partial", b"GET / HTTP/1.1\r\nA: b\r\n", None),
            ("partial_cr", b"GET / HTTP/1.1\r\n\r", None),
        ];
        for (name, buf, want) in cases {
            assert_eq!(find_end(buf, 0), *want, "{name}");
            // Resuming from any earlier point finds the same end.
            for from in 0..buf.len() {
                if want.is_none_or(|w| from < w) {
                    assert_eq!(find_end(buf, from), *want, "{name} from {from}");
                }
            }
        }
    }

    #[test]
    fn request_rules() {
        use ErrorKind::{Malformed as M, UnsupportedVersion};
        let cases: &[(&str, &[u8], Option<ErrorKind>)] = &[
            ("simple_get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", None),
            ("http10_no_host", b"GET / HTTP/1.0\r\n\r\n", None),
            (
                "host_in_any_case",
                b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n",
                None,
            ),
            (
                "leading_crlf_ignored",
                b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
                None,
            ),
            (
                "absolute_form",
                b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
                None,
            ),
            (
                "connect_authority",
                b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
                None,
            ),
            (
                "options_star",
                b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                None,
            ),
            ("empty_host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", None),
            (
                "ipv6_host",
                b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
                None,
            ),
            (
                "obs_text_value_kept",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: \xa0\r\n\r\n",
                None,
            ),
            (
                "missing_host",
                b"GET / HTTP/1.1\r\n\r\n",
                Some(M(Malformed::Host)),
            ),
            (
                "two_hosts",
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                Some(M(Malformed::Host)),
            ),
            (
                "two_hosts_in_two_cases",
                b"GET / HTTP/1.1\r\nHOST: a\r\nhost: a\r\n\r\n",
                Some(M(Malformed::Host)),
            ),
            (
                "second_host_bad",
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: a/b\r\n\r\n",
                Some(M(Malformed::Host)),
            ),
            (
                "bad_host_char",
                b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                Some(M(Malformed::Host)),
            ),
            (
                "space_before_colon",
                b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "obs_fold",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
                Some(M(Malformed::ObsFold)),
            ),
            (
                "obs_fold_tab",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
                Some(M(Malformed::ObsFold)),
            ),
            (
                "empty_name",
                b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "non_token_name",
                b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "nbsp_in_name",
                b"GET / HTTP/1.1\r\nHost: a\r\nX\xa0: b\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "nul_in_value",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
                Some(M(Malformed::HeaderValue)),
            ),
            (
                "bare_cr_in_value",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
                Some(M(Malformed::HeaderValue)),
            ),
            (
                "underscore_te",
                b"GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "underscore_cl",
                b"GET / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "underscore_both_te",
                b"GET / HTTP/1.1\r\nHost: a\r\nTransfer_encoding: chunked\r\n\r\n",
                Some(M(Malformed::HeaderName)),
            ),
            (
                "underscore_in_other_names",
                b"GET / HTTP/1.1\r\nHost: a\r\nX_Trace: 1\r\nContent_Length_X: 5\r\n\r\n",
                None,
            ),
            (
                "http2",
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                Some(UnsupportedVersion),
            ),
            (
                "http12",
                b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
                Some(UnsupportedVersion),
            ),
            (
                "http3_short",
                b"GET / HTTP/3\r\nHost: a\r\n\r\n",
                Some(UnsupportedVersion),
            ),
            (
                "space_in_target",
                b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::RequestLine)),
            ),
            (
                "garbage_version",
                b"GET / HTXP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::Version)),
            ),
            (
                "lowercase_version",
                b"GET / http/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::Version)),
            ),
            (
                "no_slash_target",
                b"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::Target)),
            ),
            (
                "star_not_options",
                b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::Target)),
            ),
            (
                "connect_path",
                b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::Target)),
            ),
            (
                "double_space",
                b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::RequestLine)),
            ),
            (
                "bad_method",
                b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
                Some(M(Malformed::RequestLine)),
            ),
        ];
        for (name, wire, want) in cases {
            let got = kind(parse_request(wire, &Limits::default()));
            assert_eq!(got, *want, "case {name}");
        }
    }

    #[test]
    fn complete_head_reports_length_and_values() {
        let wire = "POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nx-a: 2\r\n\r\nBODY";
        let Parsed::Complete { head, len } = req(wire).unwrap() else {
            panic!("partial")
        };
        assert_eq!(&wire[len..], "BODY");
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri.path(), "/a");
        assert_eq!(head.uri.query(), Some("b=c"));
        assert_eq!(head.version, Version::HTTP_11);
        let xs: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(xs, ["1", "2"]);
    }

    #[test]
    fn partial_then_limits() {
        assert!(matches!(
            req("GET / HTTP/1.1\r\nHost: a\r\n"),
            Ok(Parsed::Partial)
        ));
        let limits = Limits {
            max_head_bytes: 64,
            ..Limits::default()
        };
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100));
        let e = parse_request(long_line.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::RequestLine));

        let long_head = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100));
        let e = parse_request(long_head.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Head));

        let complete_but_long = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", "a".repeat(100));
        let e = parse_request(complete_but_long.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Head));

        // A whole head in the buffer whose request line alone passes the limit: still 414.
        let complete_long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100));
        let e = parse_request(complete_long_line.as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::RequestLine));

        let few = Limits {
            max_headers: 2,
            ..Limits::default()
        };
        let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
        let e = parse_request(many.as_bytes(), &few).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::HeaderCount));

        let lots = Limits {
            max_headers: 200,
            ..Limits::default()
        };
        let mut big = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..150 {
            big.push_str(&format!("X-{i}: v\r\n"));
        }
        big.push_str("\r\n");
        assert!(matches!(
            parse_request(big.as_bytes(), &lots),
            Ok(Parsed::Complete { .. })
        ));

        // The default limit (100 fields) on the stack slots: 100 parse, 101 do not; the same
        // for responses.
        let def = Limits::default();
        for (fields, ok) in [(100, true), (101, false)] {
            let mut req = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
            let mut resp = String::from("HTTP/1.1 200 OK\r\nA: b\r\n");
            for i in 1..fields {
                req.push_str(&format!("X-{i}: v\r\n"));
                resp.push_str(&format!("X-{i}: v\r\n"));
            }
            req.push_str("\r\n");
            resp.push_str("\r\n");
            for r in [
                parse_request(req.as_bytes(), &def).map(|_| ()),
                parse_response(resp.as_bytes(), &def).map(|_| ()),
            ] {
                match r {
                    Ok(()) => assert!(ok, "{fields} fields parsed"),
                    Err(e) => {
                        assert!(!ok, "{fields} fields: {e}");
                        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::HeaderCount));
                    }
                }
            }
        }
    }

    #[test]
    fn response_rules() {
        let lim = Limits::default();
        let ok = parse_response(b"HTTP/1.1 204 No Content\r\nA: b\r\n\r\n", &lim).unwrap();
        let Parsed::Complete { head, len } = ok else {
            panic!()
        };
        assert_eq!(head.status, StatusCode::NO_CONTENT);
        assert_eq!(len, 33);
        let cases: &[(&str, &[u8], ErrorKind)] = &[
            (
                "bad_code",
                b"HTTP/1.1 2x0 OK\r\n\r\n",
                ErrorKind::Malformed(Malformed::StatusLine),
            ),
            (
                "code_below_100",
                b"HTTP/1.1 099 X\r\n\r\n",
                ErrorKind::Malformed(Malformed::StatusLine),
            ),
            (
                "http2",
                b"HTTP/2.0 200 OK\r\n\r\n",
                ErrorKind::UnsupportedVersion,
            ),
            (
                "obs_fold",
                b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
                ErrorKind::Malformed(Malformed::ObsFold),
            ),
            (
                "nul",
                b"HTTP/1.1 200 OK\r\nA: \0\r\n\r\n",
                ErrorKind::Malformed(Malformed::HeaderValue),
            ),
        ];
        for (name, wire, want) in cases {
            let got = parse_response(wire, &lim).err().map(|e| e.kind());
            assert_eq!(got, Some(*want), "case {name}");
        }
    }

    /// Runs a scanner over `wire` as `bufio::read_head_into` does, the bytes arriving in
    /// pieces of `step`: the head's first line and the bytes after the head.
    fn scan_wire<T>(
        scanner: &mut HeadScanner<T>,
        wire: &[u8],
        step: usize,
        first_line: impl Fn(&T) -> String,
    ) -> (String, Vec<u8>) {
        let (mut buf, mut fed) = (Vec::new(), 0);
        loop {
            match scanner.scan(&buf).unwrap() {
                Scan::Skip(n) => drop(buf.drain(..n)),
                Scan::Complete { head, len } => {
                    let mut rest = buf.split_off(len);
                    rest.extend_from_slice(&wire[fed..]);
                    return (first_line(&head), rest);
                }
                Scan::Partial => {
                    assert!(fed < wire.len(), "no head found in {wire:?}");
                    let n = step.min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    /// Both scanners find the head whether it arrives whole or a byte at a time, with empty
    /// lines before it or not. Before, a response's leading empty line was taken for the end
    /// of a head: the scanner then searched on from past the real end and waited for bytes
    /// that never came.
    #[test]
    fn scanner_finds_heads_after_empty_lines_in_both_roles() {
        let requests: &[(&str, &[u8])] = &[
            ("plain", b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nrest"),
            (
                "crlf_before",
                b"\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\nrest",
            ),
            ("lf_before", b"\n\nGET /a HTTP/1.1\r\nHost: h\r\n\r\nrest"),
        ];
        let responses: &[(&str, &[u8])] = &[
            ("plain", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrest"),
            (
                "crlf_before",
                b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrest",
            ),
            ("lf_before", b"\n\nHTTP/1.1 200 OK\n\nrest"),
        ];
        for step in [1, 3, usize::MAX] {
            for (name, wire) in requests {
                let mut sc = HeadScanner::request(Limits::default());
                let got = scan_wire(&mut sc, wire, step, |h| format!("{} {}", h.method, h.uri));
                assert_eq!(
                    got,
                    ("GET /a".to_string(), b"rest".to_vec()),
                    "{name}, {step}"
                );
            }
            for (name, wire) in responses {
                let mut sc = HeadScanner::response(Limits::default());
                let got = scan_wire(&mut sc, wire, step, |h| h.status.as_u16().to_string());
                assert_eq!(got, ("200".to_string(), b"rest".to_vec()), "{name}, {step}");
            }
        }
    }
}
