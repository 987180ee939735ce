//! `multipart/form-data` bodies (RFC 7578 over RFC 2046 §5.1), sans-IO: a strict incremental
//! decoder and the `boundary` of a `Content-Type`; and the pieces of an encoder (Go's
//! `multipart.Writer`): boundary checks, `Content-Type` and `Content-Disposition` values, part
//! heads and the close delimiter, which [`multipart::Writer`](crate::multipart::Writer)
//! streams around the parts' contents.
//!
//! Feature `multipart` (on by default, and with `server`).
//!
//! The decoder is fed the bytes of a request body as they arrive and answers one [`Event`] per
//! call: a part's head, a piece of its body (a range into the caller's input, never a copy), the
//! end of a part, the end of the body. Part bodies are found by searching for the delimiter
//! `CRLF--boundary`; the decoder never hands out a byte that could still turn out to begin a
//! delimiter, so the caller keeps at most [`MultipartDecoder::max_held_back`] bytes of a part's
//! body in its buffer until more input (or the end of the body) decides them.
//!
//! The rules are strict, in the spirit of the rest of `proto`: where two parsers could read a
//! body two ways, it is an error here.
//!
//! - Lines end in CRLF only (RFC 2046 §5.1.1, RFC 7578 §4.1). Go also accepts bare LF; here a
//!   bare LF in a delimiter line or a part header is an error, and in the preamble or a part
//!   body it is ordinary data (so a body written with bare LF has no delimiter and fails).
//! - A delimiter is `CRLF--boundary` anywhere, or `--boundary` at the very start of the body.
//!   Once it is seen, the line must go on with transport padding (spaces and tabs) and CRLF, or
//!   with `--` (the close delimiter); anything else is an error, not data (RFC 2046 §5.1.1: "it
//!   is sufficient that the boundary appear in its entirety following the CRLF"). Go reads
//!   `CRLF--boundaryX` as part body.
//! - The preamble before the first delimiter and the epilogue after the close delimiter are
//!   ignored (RFC 2046 §5.1.1). A body that is only a close delimiter is an empty form, as
//!   browsers send for a form with no fields.
//! - Each part has exactly one `Content-Disposition: form-data` with a non-empty `name` (RFC 7578
//!   §4.2); `Content-Type` and `Content-Transfer-Encoding` appear at most once; a
//!   `Content-Transfer-Encoding` other than `7bit`, `8bit` or `binary` is an error (RFC 7578
//!   §4.7 deprecates it; Go decodes quoted-printable, this decoder returns raw bytes and would
//!   misread it). Other header fields are kept in [`Event::PartStart`]'s `headers`.

use std::ops::Range;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};

use super::is_tchar;
use crate::error::{Error, ErrorKind, Malformed, Result, TooLarge};

/// The longest boundary RFC 2046 §5.1.1 allows.
const MAX_BOUNDARY_LEN: usize = 70;

/// Returns the `boundary` parameter of a `multipart/form-data` `Content-Type` value.
///
/// The type and subtype, and parameter names, are case-insensitive; parameters follow RFC 9110
/// §5.6.6 (`; name=value`, the value a token or a quoted-string, optional whitespace around
/// `;`), and no parameter may appear twice. The boundary is 1 to 70 of RFC 2046's `bchars`, not
/// ending in a space (RFC 2046 §5.1.1); a boundary with a space or `()+,/:=?` must be quoted.
///
/// ```
/// use nethttp::proto::multipart::boundary;
///
/// assert_eq!(boundary("multipart/form-data; boundary=AaB03x")?, "AaB03x");
/// assert_eq!(boundary("Multipart/Form-Data; Boundary=\"a:b c\"")?, "a:b c");
/// assert!(boundary("multipart/mixed; boundary=AaB03x").is_err());
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// [`Malformed::Multipart`] if the value is not `multipart/form-data`, its parameters do not
/// parse, or the boundary is missing or invalid.
pub fn boundary(content_type: &str) -> Result<String> {
    let v = trim_ows(content_type.as_bytes());
    let slash = v.iter().position(|&b| b == b'/').ok_or_else(bad)?;
    let (ty, rest) = (&v[..slash], &v[slash + 1..]);
    let sub_len = rest
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(rest.len());
    // RFC 7578 §4.1 and RFC 9110 §8.3.1: the media type is multipart/form-data, any case.
    if !ty.eq_ignore_ascii_case(b"multipart") || !rest[..sub_len].eq_ignore_ascii_case(b"form-data")
    {
        return Err(bad());
    }
    let params = parse_params(&rest[sub_len..])?;
    let value = param(&params, "boundary").ok_or_else(bad)?;
    if !valid_boundary(value) {
        return Err(bad());
    }
    // valid_boundary admits ASCII only.
    String::from_utf8(value.to_vec()).map_err(|_| bad())
}

/// Limits on a `multipart/form-data` body, checked as it is decoded. There is no "no limit"
/// value: a limit of zero allows nothing; use `usize::MAX` to lift one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// The most parts in one body; the next one is [`TooLarge::Parts`]. Default is 1000, as Go's
    /// `multipartmaxparts`.
    pub max_parts: usize,
    /// The most bytes in the header section of one part, counting its line endings and the empty
    /// line that ends it; more is [`TooLarge::PartHeader`]. Default is 16 KiB.
    pub max_part_header_bytes: usize,
    /// The most header fields in one part; more is [`TooLarge::PartHeader`]. Default is 32.
    pub max_headers_per_part: usize,
}

impl MultipartLimits {
    /// The default part-count limit: 1000.
    pub const DEFAULT_MAX_PARTS: usize = 1000;
    /// The default limit on one part's header section: 16 KiB.
    pub const DEFAULT_MAX_PART_HEADER_BYTES: usize = 16 << 10;
    /// The default limit on one part's header fields: 32.
    pub const DEFAULT_MAX_HEADERS_PER_PART: usize = 32;
}

impl Default for MultipartLimits {
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_parts: MultipartLimits::DEFAULT_MAX_PARTS,
            max_part_header_bytes: MultipartLimits::DEFAULT_MAX_PART_HEADER_BYTES,
            max_headers_per_part: MultipartLimits::DEFAULT_MAX_HEADERS_PER_PART,
        }
    }
}

/// The result of one [`MultipartDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How many bytes from the front of the input were used; the caller drops them from its
    /// buffer before the next call. [`Event::Data`]'s range lies within `..consumed`.
    pub consumed: usize,
    /// What those bytes held.
    pub event: Event,
}

/// What one [`MultipartDecoder::decode`] call found.
///
/// A well-formed body gives `PartStart`, any number of `Data`, `PartEnd`, for each part in turn,
/// then `End`; `NeedMore` may come anywhere before `End`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The input, after `consumed` bytes, does not hold enough to decide the next event: call
    /// again with more input appended (at least one more byte). Never returned when `eof` is
    /// true.
    NeedMore,
    /// The head of the next part (RFC 7578 §4.2).
    PartStart {
        /// The `name` parameter of its `Content-Disposition`: the form field's name; never empty.
        name: String,
        /// The `filename` parameter, reduced to its base name as Go's `FileHeader.Filename`
        /// is: trailing `/` and `\` are dropped, then what follows the last `/` or `\` is kept
        /// (RFC 7578 §4.2: directory information must not be used). `None` if there is no
        /// `filename`, or it reduces to an empty name, `.` or `..`; such a part is then read as
        /// a plain field, as Go's `ReadForm` reads `filename=""` (a file input left empty).
        filename: Option<String>,
        /// The part's `Content-Type`, as sent; `None` if absent (RFC 7578 §4.4: then
        /// `text/plain`).
        content_type: Option<String>,
        /// All the part's header fields, `Content-Disposition` and `Content-Type` included.
        headers: HeaderMap,
    },
    /// Body bytes of the current part: `input[range]`. A part's body may come in any number of
    /// pieces; the range is never empty.
    Data(Range<usize>),
    /// The current part's body is complete (its closing delimiter was seen).
    PartEnd,
    /// The close delimiter `--boundary--` was read: the body is complete. Whatever follows (the
    /// epilogue) is ignored and not consumed; further calls return `End` again, consuming
    /// nothing.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: `matched` bytes of `CRLF--boundary` seen. The body starts as
    /// if after a CRLF, so that `--boundary` is a delimiter at its very start.
    Preamble { matched: usize },
    /// Right after `--boundary`: `--`, transport padding or CRLF must follow.
    AfterBoundary,
    /// Saw the first `-` of a close delimiter.
    CloseDash,
    /// Inside transport padding (spaces and tabs) after the boundary.
    Padding,
    /// Saw the CR that ends a delimiter line.
    DelimiterLf,
    /// Reading a part's header section into `header_buf`.
    Headers,
    /// Inside a part's body.
    Data,
    /// The close delimiter was read.
    Done,
    /// A call failed; every later call fails the same way.
    Failed(ErrorKind),
}

/// An incremental, strict decoder for one `multipart/form-data` body. See the
/// [module documentation](self) for the rules it holds a body to.
///
/// ```
/// use nethttp::proto::multipart::{Event, MultipartDecoder, MultipartLimits};
///
/// let body = b"--XyZ\r\n\
///     Content-Disposition: form-data; name=\"title\"\r\n\r\n\
///     hello\r\n\
///     --XyZ--\r\n";
/// let mut dec = MultipartDecoder::new("XyZ", MultipartLimits::default());
/// let mut input = &body[..];
/// let mut value = Vec::new();
/// loop {
///     let step = dec.decode(input, true)?;
///     match &step.event {
///         Event::PartStart { name, .. } => assert_eq!(name, "title"),
///         Event::Data(range) => value.extend_from_slice(&input[range.clone()]),
///         Event::End => break,
///         _ => {}
///     }
///     input = &input[step.consumed..];
/// }
/// assert_eq!(value, b"hello");
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MultipartDecoder {
    /// `CRLF--boundary`: RFC 2046 §5.1.1's `delimiter`.
    delimiter: Vec<u8>,
    state: State,
    /// The header section of the current part, while in `State::Headers`.
    header_buf: Vec<u8>,
    /// Parts begun so far.
    parts: usize,
    limits: MultipartLimits,
}

impl MultipartDecoder {
    /// A decoder for a body whose parts are delimited by `boundary`, usually the result of
    /// [`boundary`](fn@boundary). A boundary that is not 1 to 70 `bchars` (RFC 2046 §5.1.1)
    /// makes the first [`decode`](Self::decode) fail with [`Malformed::Multipart`].
    pub fn new(boundary: &str, limits: MultipartLimits) -> MultipartDecoder {
        let mut delimiter = Vec::with_capacity(4 + boundary.len());
        delimiter.extend_from_slice(b"\r\n--");
        delimiter.extend_from_slice(boundary.as_bytes());
        let state = if valid_boundary(boundary.as_bytes()) {
            State::Preamble { matched: 2 }
        } else {
            State::Failed(ErrorKind::Malformed(Malformed::Multipart))
        };
        MultipartDecoder {
            delimiter,
            state,
            header_buf: Vec::new(),
            parts: 0,
            limits,
        }
    }

    /// True once the close delimiter has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The most bytes of part body the decoder may leave unconsumed at the end of its input
    /// (with `eof` false) because they could begin a delimiter: the delimiter's length minus
    /// one, at most 73. A caller's buffer must hold more than this many bytes.
    pub fn max_held_back(&self) -> usize {
        self.delimiter.len() - 1
    }

    /// Decodes from the front of `input`, which follows whatever earlier calls consumed; `eof`
    /// says that `input` runs to the end of the body.
    ///
    /// Each call either consumes bytes, or returns [`Event::NeedMore`] having consumed all it
    /// can (then only a held-back possible delimiter start is left), or returns [`Event::End`]
    /// or an error; so a loop that appends input on `NeedMore` always terminates.
    ///
    /// # Errors
    ///
    /// [`Malformed::Multipart`] for a body that breaks the rules in the
    /// [module documentation](self), including one that ends (`eof`) before its close
    /// delimiter; [`TooLarge::Parts`] or [`TooLarge::PartHeader`] when a
    /// [`MultipartLimits`] limit is passed. After an error every later call returns an error
    /// of the same kind.
    pub fn decode(&mut self, input: &[u8], eof: bool) -> Result<Step> {
        let result = self.step(input, eof);
        if let Err(e) = &result {
            self.state = State::Failed(e.kind());
        }
        result
    }

    fn step(&mut self, input: &[u8], eof: bool) -> Result<Step> {
        let mut i = 0;
        loop {
            match self.state {
                State::Failed(kind) => return Err(Error::new(kind)),
                State::Done => return Ok(step(0, Event::End)),
                State::Data => return self.data(input, i, eof),
                _ => {}
            }
            let Some(&b) = input.get(i) else {
                // Outside a part's body every byte is consumed as it is read, so all of the
                // input is used up here.
                if eof {
                    return Err(bad());
                }
                return Ok(step(i, Event::NeedMore));
            };
            i += 1;
            match self.state {
                State::Preamble { matched } => {
                    // RFC 2046 §5.1.1: the preamble is ignored up to the first delimiter. The
                    // delimiter holds a CR only at its start, so after a mismatch a match can
                    // only restart at this byte.
                    self.state = if b == self.delimiter[matched] {
                        if matched + 1 == self.delimiter.len() {
                            State::AfterBoundary
                        } else {
                            State::Preamble {
                                matched: matched + 1,
                            }
                        }
                    } else {
                        State::Preamble {
                            matched: usize::from(b == b'\r'),
                        }
                    };
                }
                // RFC 2046 §5.1.1: `delimiter transport-padding CRLF`, or the close delimiter
                // `delimiter "--"`. A boundary followed by anything else is an error.
                State::AfterBoundary => {
                    self.state = match b {
                        b'-' => State::CloseDash,
                        b' ' | b'\t' => State::Padding,
                        b'\r' => State::DelimiterLf,
                        _ => return Err(bad()),
                    };
                }
                State::CloseDash => {
                    if b != b'-' {
                        return Err(bad());
                    }
                    // RFC 2046 §5.1.1: the epilogue after the close delimiter is ignored.
                    self.state = State::Done;
                    return Ok(step(i, Event::End));
                }
                State::Padding => {
                    self.state = match b {
                        b' ' | b'\t' => State::Padding,
                        b'\r' => State::DelimiterLf,
                        _ => return Err(bad()),
                    };
                }
                State::DelimiterLf => {
                    if b != b'\n' {
                        return Err(bad());
                    }
                    if self.parts >= self.limits.max_parts {
                        return Err(Error::too_large(TooLarge::Parts));
                    }
                    self.parts += 1;
                    self.header_buf.clear();
                    self.state = State::Headers;
                }
                State::Headers => {
                    if let Some(event) = self.header_byte(b)? {
                        self.state = State::Data;
                        return Ok(step(i, event));
                    }
                }
                // Returned from at the top of the loop.
                State::Data | State::Done | State::Failed(_) => return Err(bad()),
            }
        }
    }

    /// Appends one byte of a part's header section; at the empty line that ends it, returns the
    /// part's [`Event::PartStart`].
    fn header_byte(&mut self, b: u8) -> Result<Option<Event>> {
        if self.header_buf.len() >= self.limits.max_part_header_bytes {
            return Err(Error::too_large(TooLarge::PartHeader));
        }
        self.header_buf.push(b);
        if b != b'\n' {
            return Ok(None);
        }
        let buf = &self.header_buf;
        let len = buf.len();
        // RFC 2046 §5.1.1 and RFC 5322 §2.2: header lines end in CRLF; a bare LF is an error.
        if len < 2 || buf[len - 2] != b'\r' {
            return Err(bad());
        }
        // The section ends at an empty line: the CRLF at its very start, or CRLFCRLF.
        if len == 2 || buf.ends_with(b"\r\n\r\n") {
            let event = part_start(buf, &self.limits)?;
            self.header_buf = Vec::new();
            return Ok(Some(event));
        }
        Ok(None)
    }

    /// Inside a part's body, from `input[at..]`: body bytes up to the next delimiter, or the
    /// delimiter itself.
    fn data(&mut self, input: &[u8], at: usize, eof: bool) -> Result<Step> {
        let rest = &input[at..];
        match find(rest, &self.delimiter) {
            Some(0) => {
                self.state = State::AfterBoundary;
                Ok(step(at + self.delimiter.len(), Event::PartEnd))
            }
            Some(n) => Ok(step(at + n, Event::Data(at..at + n))),
            // No delimiter before the end of the body: it was cut short.
            None if eof => Err(bad()),
            None => {
                // Keep back a tail that could begin a delimiter; the next input decides it.
                let n = held_back_start(rest, &self.delimiter);
                if n == 0 {
                    Ok(step(at, Event::NeedMore))
                } else {
                    Ok(step(at + n, Event::Data(at..at + n)))
                }
            }
        }
    }
}

fn step(consumed: usize, event: Event) -> Step {
    Step { consumed, event }
}

fn bad() -> Error {
    Error::malformed(Malformed::Multipart)
}

/// The first position of `delimiter` (which holds a CR only at its start) in `hay`. Each byte
/// is compared a bounded number of times: a partial match cannot contain the next candidate CR.
fn find(hay: &[u8], delimiter: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = hay[from..].iter().position(|&b| b == b'\r') {
        let p = from + off;
        if hay[p..].starts_with(delimiter) {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

/// Where the longest tail of `hay` that is a proper prefix of `delimiter` starts; `hay.len()`
/// if there is none. `hay` must not contain the whole delimiter.
fn held_back_start(hay: &[u8], delimiter: &[u8]) -> usize {
    let from = hay.len().saturating_sub(delimiter.len() - 1);
    (from..hay.len())
        .find(|&k| hay[k] == b'\r' && delimiter.starts_with(&hay[k..]))
        .unwrap_or(hay.len())
}

/// Builds the [`Event::PartStart`] for a complete header section (ending in its empty line).
fn part_start(section: &[u8], limits: &MultipartLimits) -> Result<Event> {
    let headers = if section == b"\r\n" {
        HeaderMap::new()
    } else {
        super::head::parse_fields(section, limits.max_headers_per_part, Malformed::Multipart)
            .map_err(|e| match e.kind() {
                ErrorKind::TooLarge(_) => Error::too_large(TooLarge::PartHeader),
                _ => bad(),
            })?
    };
    if headers.len() > limits.max_headers_per_part {
        return Err(Error::too_large(TooLarge::PartHeader));
    }

    // RFC 7578 §4.2: each part has a Content-Disposition of type form-data with a name.
    let disposition = single(&headers, &CONTENT_DISPOSITION)?.ok_or_else(bad)?;
    let value = disposition.as_bytes();
    let type_len = value
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(value.len());
    if !value[..type_len].eq_ignore_ascii_case(b"form-data") {
        return Err(bad());
    }
    let params = parse_params(&value[type_len..])?;
    let name = match param(&params, "name") {
        Some(n) if !n.is_empty() => text(n)?,
        _ => return Err(bad()),
    };
    let filename = match param(&params, "filename") {
        Some(f) => base_name(&text(f)?),
        None => None,
    };

    let content_type = match single(&headers, &CONTENT_TYPE)? {
        Some(v) => Some(v.to_str().map_err(|_| bad())?.to_owned()),
        None => None,
    };
    // RFC 7578 §4.7: Content-Transfer-Encoding is deprecated; only the identity encodings are
    // accepted, since part bodies are returned as sent.
    let cte = HeaderName::from_static("content-transfer-encoding");
    if let Some(v) = single(&headers, &cte)? {
        let v = v.as_bytes();
        if ![&b"7bit"[..], b"8bit", b"binary"]
            .iter()
            .any(|e| v.eq_ignore_ascii_case(e))
        {
            return Err(bad());
        }
    }

    Ok(Event::PartStart {
        name,
        filename,
        content_type,
        headers,
    })
}

/// The value of a header field that may appear at most once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a HeaderValue>> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(bad());
    }
    Ok(first)
}

/// A name or filename as text: UTF-8 (browsers send non-ASCII names as raw UTF-8), without NUL.
fn text(bytes: &[u8]) -> Result<String> {
    if bytes.contains(&0) {
        return Err(bad());
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| bad())
}

/// A filename reduced to its last path element, as Go's `FileHeader.Filename` (`filepath.Base`
/// with both separators); `None` for an empty name, `.` or `..`.
fn base_name(filename: &str) -> Option<String> {
    let is_sep = |c: char| c == '/' || c == '\\';
    let trimmed = filename.trim_end_matches(is_sep);
    let base = trimmed.rsplit(is_sep).next().unwrap_or("");
    match base {
        "" | "." | ".." => None,
        _ => Some(base.to_owned()),
    }
}

/// Parses `*( OWS ";" OWS [ parameter ] )` (RFC 9110 §5.6.6), where `parameter` is `token "="
/// ( token / quoted-string )`. Names are lowercased; a name that appears twice is an error, as
/// a value two parsers could pick differently.
fn parse_params(mut s: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut params: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        s = trim_ows_start(s);
        let Some((&first, rest)) = s.split_first() else {
            return Ok(params);
        };
        if first != b';' {
            return Err(bad());
        }
        s = trim_ows_start(rest);
        if s.is_empty() || s[0] == b';' {
            continue;
        }
        let name_len = s.iter().position(|&b| !is_tchar(b)).unwrap_or(s.len());
        if name_len == 0 || s.get(name_len) != Some(&b'=') {
            return Err(bad());
        }
        let name = s[..name_len].to_ascii_lowercase();
        s = &s[name_len + 1..];
        let (value, rest) = if s.first() == Some(&b'"') {
            quoted_string(&s[1..])?
        } else {
            let n = s.iter().position(|&b| !is_tchar(b)).unwrap_or(s.len());
            if n == 0 {
                return Err(bad());
            }
            (s[..n].to_vec(), &s[n..])
        };
        s = rest;
        if params.iter().any(|(n, _)| *n == name) {
            return Err(bad());
        }
        params.push((name, value));
    }
}

/// Reads a quoted-string (RFC 9110 §5.6.4) whose opening quote is already consumed; returns its
/// content and what follows the closing quote.
///
/// A backslash escapes the byte after it only when that is one of RFC 2045's tspecials
/// (`()<>@,;:\"/[]?=`), as Go's `mime` package reads it; before any other byte it is kept.
/// Browsers do not escape backslashes in names (the HTML standard escapes only `"`, CR and
/// LF, as `%22`, `%0D`, `%0A`), and old ones sent whole Windows paths (`C:\dir\a.txt`), which
/// must keep their separators to be reduced to a base name.
fn quoted_string(s: &[u8]) -> Result<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return Ok((out, &s[i + 1..])),
            b'\\' if s.get(i + 1).is_some_and(|&c| is_tspecial(c)) => {
                out.push(s[i + 1]);
                i += 2;
            }
            // qdtext: HTAB, SP, visible ASCII and obs-text; no other control bytes.
            b'\t' | b' '..=b'~' | 0x80..=0xff => {
                out.push(b);
                i += 1;
            }
            _ => return Err(bad()),
        }
    }
    // No closing quote.
    Err(bad())
}

fn is_tspecial(b: u8) -> bool {
    b"()<>@,;:\\\"/[]?=".contains(&b)
}

/// The value of parameter `name` (lowercase), if present.
fn param<'a>(params: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

/// RFC 2046 §5.1.1: `boundary := 0*69<bchars> bcharsnospace`.
fn valid_boundary(b: &[u8]) -> bool {
    match b.split_last() {
        Some((last, rest)) => {
            b.len() <= MAX_BOUNDARY_LEN
                && is_bchar_nospace(*last)
                && rest.iter().all(|&c| c == b' ' || is_bchar_nospace(c))
        }
        None => false,
    }
}

/// RFC 2046 §5.1.1's `bcharsnospace`: `DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-"
/// / "." / "/" / ":" / "=" / "?"`.
fn is_bchar_nospace(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'\'' | b'(' | b')' | b'+' | b'_' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
        )
}

fn trim_ows_start(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    &s[n..]
}

fn trim_ows(s: &[u8]) -> &[u8] {
    let s = trim_ows_start(s);
    let n = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &s[..n]
}

// ---------------------------------------------------------------------------------------------
// Encoding: the pieces of Go's `multipart.Writer`.

/// Checks a boundary for a body to be written, as Go's `Writer.SetBoundary` does: 1 to 70
/// bytes of RFC 2046 §5.1.1's `bchars` (letters, digits, space and `'()+_,-./:=?`), not ending
/// in a space. Every boundary that passes is one [`boundary`](fn@boundary) and
/// [`MultipartDecoder`] accept.
///
/// ```
/// use nethttp::proto::multipart::check_boundary;
///
/// assert!(check_boundary("----WebKitFormBoundary7MA4YWxkTrZu0gW").is_ok());
/// let e = check_boundary("a@b").unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "invalid input: multipart boundary \"a@b\" contains '@', which RFC 2046 does not allow"
/// );
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`], with a message saying what is wrong: the length, a character
/// outside `bchars`, or a final space.
pub fn check_boundary(boundary: &str) -> Result<()> {
    let b = boundary.as_bytes();
    if b.is_empty() || b.len() > MAX_BOUNDARY_LEN {
        return Err(Error::invalid_input(format!(
            "multipart boundary must be 1 to {MAX_BOUNDARY_LEN} bytes long, not {}",
            b.len()
        )));
    }
    if let Some(c) = boundary
        .chars()
        .find(|&c| !(c == ' ' || u8::try_from(c).is_ok_and(is_bchar_nospace)))
    {
        return Err(Error::invalid_input(format!(
            "multipart boundary {boundary:?} contains {c:?}, which RFC 2046 does not allow"
        )));
    }
    if b.ends_with(b" ") {
        return Err(Error::invalid_input(format!(
            "multipart boundary {boundary:?} ends in a space, which RFC 2046 does not allow"
        )));
    }
    Ok(())
}

/// The `Content-Type` of a `multipart/form-data` body delimited by `boundary`, as Go's
/// `Writer.FormDataContentType`: the boundary is quoted if it holds a space or one of RFC 2045's
/// tspecials (RFC 9110 §5.6.6: a parameter value that is not a token must be a
/// quoted-string). `boundary` should pass [`check_boundary`]; no `bchar` needs a backslash
/// inside the quotes.
///
/// ```
/// use nethttp::proto::multipart::form_data_content_type;
///
/// assert_eq!(form_data_content_type("AaB03x"), "multipart/form-data; boundary=AaB03x");
/// assert_eq!(form_data_content_type("a:b c"), "multipart/form-data; boundary=\"a:b c\"");
/// ```
pub fn form_data_content_type(boundary: &str) -> String {
    if boundary.bytes().any(|b| b == b' ' || is_tspecial(b)) {
        format!("multipart/form-data; boundary=\"{boundary}\"")
    } else {
        format!("multipart/form-data; boundary={boundary}")
    }
}

/// The `Content-Disposition` of a plain form field, as Go's `FieldContentDisposition`:
/// `form-data; name="..."`, the name escaped as Go escapes it (see
/// [`file_content_disposition`]).
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if `name` holds a control character other than CR, LF and tab
/// (Go would write it raw; no header field may hold it).
pub fn field_content_disposition(name: &str) -> Result<HeaderValue> {
    let mut v = String::with_capacity(name.len() + 18);
    v.push_str("form-data; name=\"");
    push_param(&mut v, "field name", name)?;
    v.push('"');
    header_value(v)
}

/// The `Content-Disposition` of a file part, as Go's `FileContentDisposition`:
/// `form-data; name="..."; filename="..."`.
///
/// Both values are escaped as Go's `escapeQuotes` does: `\` and `"` get a backslash before
/// them, and CR and LF are percent-encoded (`%0D`, `%0A`), so no value can end its
/// quoted-string or its header line early. Everything else, non-ASCII text included, goes as
/// it is (RFC 7578 §4.2 and the HTML standard send names as raw UTF-8). A receiver, this crate's
/// included, reads `%0D` and `%0A` back as those three characters: a CR or LF does not survive
/// the trip, as in browsers.
///
/// ```
/// use nethttp::proto::multipart::file_content_disposition;
///
/// let v = file_content_disposition("doc", "say \"hi\"\r\n.txt")?;
/// assert_eq!(v, "form-data; name=\"doc\"; filename=\"say \\\"hi\\\"%0D%0A.txt\"");
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] if `name` or `filename` holds a control character other than
/// CR, LF and tab.
pub fn file_content_disposition(name: &str, filename: &str) -> Result<HeaderValue> {
    let mut v = String::with_capacity(name.len() + filename.len() + 32);
    v.push_str("form-data; name=\"");
    push_param(&mut v, "field name", name)?;
    v.push_str("\"; filename=\"");
    push_param(&mut v, "file name", filename)?;
    v.push('"');
    header_value(v)
}

/// Appends `value` escaped for a quoted parameter, as Go's `escapeQuotes`. Go's comment says
/// why it is neither RFC 9110's quoted-pair alone nor the HTML standard's `%22`: browsers read
/// an unescaped `\` as an escape, so `\` and `"` are backslash-escaped; CR and LF cannot be
/// escaped inside a header line at all, so they are percent-encoded as the HTML standard does.
fn push_param(out: &mut String, what: &str, value: &str) -> Result<()> {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            '\t' => out.push('\t'),
            c if c.is_ascii_control() => {
                return Err(Error::invalid_input(format!(
                    "multipart {what} {value:?} contains a control character"
                )))
            }
            c => out.push(c),
        }
    }
    Ok(())
}

fn header_value(v: String) -> Result<HeaderValue> {
    HeaderValue::from_bytes(v.as_bytes())
        .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))
}

/// Appends what comes before a part's content, as Go's `Writer.CreatePart` writes it: the
/// delimiter line (`--boundary`, after a CRLF unless this is the first part), the header
/// fields, and the empty line that ends them. Field names go out in Go's canonical form
/// (`Content-Disposition`), sorted as Go sorts them; the values of one name keep their order.
///
/// ```
/// use nethttp::http::header::{HeaderMap, HeaderValue, CONTENT_DISPOSITION};
/// use nethttp::proto::multipart::{field_content_disposition, write_close, write_part_head};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(CONTENT_DISPOSITION, field_content_disposition("title")?);
/// let mut body = Vec::new();
/// write_part_head(&mut body, "XyZ", true, &headers);
/// body.extend_from_slice(b"hello");
/// write_close(&mut body, "XyZ");
/// assert_eq!(
///     body,
///     b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--XyZ--\r\n"
/// );
/// # Ok::<(), nethttp::Error>(())
/// ```
pub fn write_part_head(dst: &mut Vec<u8>, boundary: &str, first: bool, headers: &HeaderMap) {
    if !first {
        dst.extend_from_slice(b"\r\n");
    }
    dst.extend_from_slice(b"--");
    dst.extend_from_slice(boundary.as_bytes());
    dst.extend_from_slice(b"\r\n");
    let mut names: Vec<(String, &HeaderName)> = headers
        .keys()
        .map(|n| (canonical_name(n.as_str()), n))
        .collect();
    // Distinct names have distinct canonical forms.
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (canonical, name) in &names {
        for value in headers.get_all(*name) {
            super::write::header(dst, canonical, value.as_bytes());
        }
    }
    dst.extend_from_slice(b"\r\n");
}

/// Appends the close delimiter that ends a body, as Go's `Writer.Close`: `CRLF--boundary--CRLF`
/// (with its CRLF even when there were no parts, as Go writes it).
pub fn write_close(dst: &mut Vec<u8>, boundary: &str) {
    dst.extend_from_slice(b"\r\n--");
    dst.extend_from_slice(boundary.as_bytes());
    dst.extend_from_slice(b"--\r\n");
}

/// A header name in Go's canonical MIME form (`textproto.CanonicalMIMEHeaderKey`): the first
/// letter and every letter after a `-` upper case, the rest lower case.
fn canonical_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One decoded part.
    #[derive(Debug, Clone, PartialEq)]
    struct Part {
        name: String,
        filename: Option<String>,
        content_type: Option<String>,
        headers: HeaderMap,
        data: Vec<u8>,
    }

    /// What a test expects of a part: name, filename, content type, body.
    type Want<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    /// Decodes `wire`, handing it to the decoder in pieces that end at `cuts` (increasing) and
    /// then at the end, each piece only when the decoder asks for more. Checks every step's
    /// contract on the way: ranges within what was consumed, progress, the event order, the
    /// held-back tail, and that no part's body holds the delimiter.
    fn decode_cuts(
        wire: &[u8],
        boundary: &str,
        limits: MultipartLimits,
        cuts: &[usize],
    ) -> Result<Vec<Part>> {
        let mut dec = MultipartDecoder::new(boundary, limits);
        let mut cuts = cuts.iter().copied();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut parts: Vec<Part> = Vec::new();
        let mut in_part = false;
        let mut calls = 0;
        loop {
            calls += 1;
            // Each call consumes a byte, or asks for (at least) one more, or ends.
            assert!(calls <= 2 * wire.len() + 2, "no progress");
            let eof = fed == wire.len();
            let step = dec.decode(&buf, eof)?;
            assert!(step.consumed <= buf.len());
            match step.event {
                Event::NeedMore => {
                    assert!(!eof, "need more at eof");
                    assert!(buf.len() - step.consumed <= dec.max_held_back());
                    let end = cuts.find(|&c| c > fed).unwrap_or(wire.len());
                    buf.drain(..step.consumed);
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                    continue;
                }
                Event::PartStart {
                    name,
                    filename,
                    content_type,
                    headers,
                } => {
                    assert!(!in_part && step.consumed > 0);
                    in_part = true;
                    parts.push(Part {
                        name,
                        filename,
                        content_type,
                        headers,
                        data: Vec::new(),
                    });
                }
                Event::Data(range) => {
                    assert!(in_part && !range.is_empty() && range.end <= step.consumed);
                    let part = parts.last_mut().expect("in a part");
                    part.data.extend_from_slice(&buf[range]);
                }
                Event::PartEnd => {
                    assert!(in_part && step.consumed > 0);
                    in_part = false;
                }
                Event::End => {
                    assert!(!in_part && dec.is_done());
                    let again = dec.decode(&buf[step.consumed..], eof).unwrap();
                    assert_eq!(
                        again,
                        Step {
                            consumed: 0,
                            event: Event::End
                        }
                    );
                    let delimiter = format!("\r\n--{boundary}");
                    for p in &parts {
                        assert!(find(&p.data, delimiter.as_bytes()).is_none());
                    }
                    return Ok(parts);
                }
            }
            buf.drain(..step.consumed);
        }
    }

    fn decode_all(wire: &[u8], boundary: &str) -> Result<Vec<Part>> {
        decode_cuts(wire, boundary, MultipartLimits::default(), &[])
    }

    /// Every way of feeding `wire` checked here gives the same result as one call on the whole
    /// body: pieces of 1, 2, 3 and 7 bytes, and two pieces split at every point.
    fn decode_every_way(wire: &[u8], boundary: &str, name: &str) -> Result<Vec<Part>> {
        let whole = decode_all(wire, boundary);
        let limits = MultipartLimits::default();
        let same = |got: Result<Vec<Part>>, how: &str| match (&whole, got) {
            (Ok(w), Ok(g)) => assert_eq!(*w, g, "{name}: {how}"),
            (Err(w), Err(g)) => assert_eq!(w.kind(), g.kind(), "{name}: {how}"),
            (w, g) => panic!("{name}: {how}: {w:?} all at once, {g:?} in pieces"),
        };
        for piece in [1, 2, 3, 7] {
            let cuts: Vec<usize> = (piece..wire.len()).step_by(piece).collect();
            same(
                decode_cuts(wire, boundary, limits, &cuts),
                &format!("pieces of {piece}"),
            );
        }
        for k in 0..=wire.len() {
            same(
                decode_cuts(wire, boundary, limits, &[k]),
                &format!("split at {k}"),
            );
        }
        whole
    }

    const FIELD_A: &str = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n";

    #[test]
    fn good_cases() {
        let near = "x\r\n--bounx\r\n--boun\r\n-\r\n--\r\n\r\r\n\n--boundary\r--boundary \
                    y--boundary\r\n--boundar\r";
        let near_wire = format!(
            "--boundary\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n{near}\
             \r\n--boundary--\r\n"
        );
        let cases: Vec<(&str, &str, Vec<u8>, Vec<Want>)> = vec![
            (
                "simple_fields",
                "b",
                b"--b\r\n\
                  Content-Disposition: form-data; name=\"a\"\r\n\
                  \r\n\
                  1\r\n\
                  --b\r\n\
                  Content-Disposition: form-data; name=\"b\"\r\n\
                  \r\n\
                  two words\r\n\
                  --b--\r\n"
                    .to_vec(),
                vec![("a", None, None, b"1"), ("b", None, None, b"two words")],
            ),
            (
                "file_part",
                "AaB03x",
                b"--AaB03x\r\n\
                  Content-Disposition: form-data; name=\"submit-name\"\r\n\
                  \r\n\
                  Larry\r\n\
                  --AaB03x\r\n\
                  Content-Disposition: form-data; name=\"files\"; filename=\"file1.txt\"\r\n\
                  Content-Type: text/plain\r\n\
                  \r\n\
                  ... contents of file1.txt ...\r\n\
                  --AaB03x--\r\n"
                    .to_vec(),
                vec![
                    ("submit-name", None, None, b"Larry"),
                    (
                        "files",
                        Some("file1.txt"),
                        Some("text/plain"),
                        b"... contents of file1.txt ...",
                    ),
                ],
            ),
            (
                "two_files",
                "X",
                b"--X\r\n\
                  Content-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\
                  Content-Type: text/plain\r\n\
                  \r\n\
                  text\r\n\
                  --X\r\n\
                  Content-Disposition: form-data; name=\"files\"; filename=\"b.bin\"\r\n\
                  Content-Type: application/octet-stream\r\n\
                  \r\n\
                  \x00\xff\r\n\r\x00\n\r\n\
                  --X--"
                    .to_vec(),
                vec![
                    ("files", Some("a.txt"), Some("text/plain"), b"text"),
                    (
                        "files",
                        Some("b.bin"),
                        Some("application/octet-stream"),
                        b"\x00\xff\r\n\r\x00\n",
                    ),
                ],
            ),
            (
                "preamble_and_epilogue",
                "b",
                format!(
                    "This is the preamble.\r\n-- b is not it, nor \n--b or \r--b or x--b\r\n\
                     {FIELD_A}--b--\r\nThe epilogue: --b\r\n--bx\r\n--b\r\n"
                )
                .into_bytes(),
                vec![("a", None, None, b"1")],
            ),
            (
                "empty_preamble_line",
                "b",
                format!("\r\n{FIELD_A}--b--").into_bytes(),
                vec![("a", None, None, b"1")],
            ),
            (
                "quoted_boundary",
                "a:b c",
                b"--a:b c\r\n\
                  Content-Disposition: form-data; name=\"q\"\r\n\
                  \r\n\
                  --a:b\r\n--a:b x\r\n\
                  --a:b c--"
                    .to_vec(),
                vec![("q", None, None, b"--a:b\r\n--a:b x")],
            ),
            (
                "near_boundary",
                "boundary",
                near_wire.into_bytes(),
                vec![("n", None, None, near.as_bytes())],
            ),
            (
                "transport_padding",
                "b",
                b"--b \t \r\n\
                  Content-Disposition: form-data; name=\"a\"\r\n\
                  \r\n\
                  1\r\n\
                  --b\t\r\n\
                  Content-Disposition: form-data; name=\"b\"\r\n\
                  \r\n\
                  2\r\n\
                  --b--"
                    .to_vec(),
                vec![("a", None, None, b"1"), ("b", None, None, b"2")],
            ),
            ("empty_form", "b", b"--b--".to_vec(), vec![]),
            ("empty_form_crlf", "b", b"--b--\r\n".to_vec(), vec![]),
            (
                "empty_bodies",
                "b",
                b"--b\r\n\
                  Content-Disposition: form-data; name=\"empty\"\r\n\
                  \r\n\
                  \r\n\
                  --b\r\n\
                  Content-Disposition: form-data; name=\"upload\"; filename=\"\"\r\n\
                  Content-Type: application/octet-stream\r\n\
                  \r\n\
                  \r\n\
                  --b--\r\n"
                    .to_vec(),
                vec![
                    ("empty", None, None, b""),
                    ("upload", None, Some("application/octet-stream"), b""),
                ],
            ),
            (
                "case_and_whitespace",
                "b",
                b"--b\r\n\
                  content-disposition: FORM-DATA ; NAME=field1;\tFileName=\"x.txt\";\r\n\
                  CONTENT-TYPE: Text/Plain\r\n\
                  Content-Transfer-Encoding: Binary\r\n\
                  \r\n\
                  v\r\n\
                  --b--"
                    .to_vec(),
                vec![("field1", Some("x.txt"), Some("Text/Plain"), b"v")],
            ),
            (
                "escaped_and_utf8_names",
                "b",
                "--b\r\n\
                 Content-Disposition: form-data; name=\"a\\\"b\\\\c\"; filename=\"\u{e9}t\u{e9}.txt\"\r\n\
                 \r\n\
                 v\r\n\
                 --b--"
                    .as_bytes()
                    .to_vec(),
                vec![("a\"b\\c", Some("\u{e9}t\u{e9}.txt"), None, b"v")],
            ),
            (
                "filename_star_ignored",
                "b",
                b"--b\r\n\
                  Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''x.txt\r\n\
                  \r\n\
                  v\r\n\
                  --b--"
                    .to_vec(),
                vec![("f", None, None, b"v")],
            ),
        ];
        for (name, boundary, wire, want) in cases {
            let got =
                decode_every_way(&wire, boundary, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got: Vec<Want> = got
                .iter()
                .map(|p| {
                    (
                        p.name.as_str(),
                        p.filename.as_deref(),
                        p.content_type.as_deref(),
                        p.data.as_slice(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn headers_are_kept() {
        let wire = b"--b\r\n\
                     Content-Disposition: form-data; name=\"a\"\r\n\
                     X-Extra: 1\r\n\
                     \r\n\
                     v\r\n\
                     --b--";
        let parts = decode_all(wire, "b").unwrap();
        assert_eq!(parts[0].headers.len(), 2);
        assert_eq!(parts[0].headers["x-extra"], "1");
        assert_eq!(
            parts[0].headers["content-disposition"],
            "form-data; name=\"a\""
        );
    }

    #[test]
    fn filenames() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("plain", "\"a.txt\"", Some("a.txt")),
            ("token", "a.txt", Some("a.txt")),
            ("unix_path", "\"a/b/c.txt\"", Some("c.txt")),
            ("absolute", "\"/etc/passwd\"", Some("passwd")),
            ("windows_path", "\"C:\\dir\\f.txt\"", Some("f.txt")),
            ("mixed_separators", "\"a\\b/c\\d.txt\"", Some("d.txt")),
            ("escaped_backslash", "\"x\\\\y.txt\"", Some("y.txt")),
            ("escaped_slash", "\"x\\/y.txt\"", Some("y.txt")),
            ("escaped_quote", "\"a\\\"b.txt\"", Some("a\"b.txt")),
            ("trailing_slash", "\"dir/\"", Some("dir")),
            ("dot_dot_up", "\"../../x\"", Some("x")),
            ("empty", "\"\"", None),
            ("dot", "\".\"", None),
            ("dot_dot", "\"..\"", None),
            ("ends_in_dot_dot", "\"a/..\"", None),
            ("only_separators", "\"/\\\\/\"", None),
            ("dot_file", "\".profile\"", Some(".profile")),
        ];
        for (name, value, want) in cases {
            let wire = format!(
                "--b\r\nContent-Disposition: form-data; name=\"f\"; filename={value}\r\n\r\nv\r\n--b--"
            );
            let parts = decode_all(wire.as_bytes(), "b").unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parts[0].filename.as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn bad_cases() {
        use ErrorKind::{Malformed as M, TooLarge as T};
        let m = M(Malformed::Multipart);
        let part = |disposition: &str| {
            format!("--b\r\nContent-Disposition: {disposition}\r\n\r\nv\r\n--b--\r\n").into_bytes()
        };
        let cases: Vec<(&str, &str, Vec<u8>, ErrorKind)> = vec![
            ("empty_body", "b", b"".to_vec(), m),
            ("no_delimiter", "b", b"just some text\r\n".to_vec(), m),
            (
                "missing_final_boundary",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue".to_vec(),
                m,
            ),
            ("truncated_in_delimiter", "b", format!("{FIELD_A}--").into_bytes(), m),
            ("truncated_after_boundary", "b", format!("{FIELD_A}--b").into_bytes(), m),
            ("truncated_after_dash", "b", format!("{FIELD_A}--b-").into_bytes(), m),
            ("truncated_in_padding", "b", format!("{FIELD_A}--b  ").into_bytes(), m),
            (
                "truncated_after_delimiter_line",
                "b",
                format!("{FIELD_A}--b\r\n").into_bytes(),
                m,
            ),
            (
                "truncated_in_headers",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n".to_vec(),
                m,
            ),
            ("truncated_in_preamble_match", "b", b"x\r\n--".to_vec(), m),
            (
                "bare_lf_after_delimiter",
                "b",
                b"--b\nContent-Disposition: form-data; name=a\n\nv\n--b--\n".to_vec(),
                m,
            ),
            (
                "bare_lf_header",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--b--".to_vec(),
                m,
            ),
            (
                "bare_lf_end_of_headers",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\nv\r\n--b--".to_vec(),
                m,
            ),
            ("cr_without_lf", "b", b"--b\rx".to_vec(), m),
            ("boundary_extended", "b", b"--bx\r\n".to_vec(), m),
            ("junk_after_padding", "b", b"--b x\r\n".to_vec(), m),
            ("dash_in_padding", "b", b"--b --".to_vec(), m),
            ("single_dash", "b", format!("{FIELD_A}--b-x").into_bytes(), m),
            (
                "boundary_extended_in_data",
                "b",
                format!("{FIELD_A}--bx\r\n--b--").into_bytes(),
                m,
            ),
            (
                "preamble_line_extends_boundary",
                "b",
                format!("preamble\r\n--bx\r\n{FIELD_A}--b--").into_bytes(),
                m,
            ),
            ("no_headers", "b", b"--b\r\n\r\nv\r\n--b--".to_vec(), m),
            (
                "no_disposition",
                "b",
                b"--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--".to_vec(),
                m,
            ),
            ("attachment", "b", part("attachment; name=\"a\""), m),
            ("inline", "b", part("inline"), m),
            ("no_type", "b", part("; name=\"a\""), m),
            ("no_name", "b", part("form-data; filename=\"f.txt\""), m),
            ("empty_name", "b", part("form-data; name=\"\""), m),
            ("duplicate_name", "b", part("form-data; name=a; name=b"), m),
            (
                "duplicate_filename",
                "b",
                part("form-data; name=a; filename=x; FILENAME=y"),
                m,
            ),
            ("unterminated_quote", "b", part("form-data; name=\"a"), m),
            ("escaped_closing_quote", "b", part("form-data; name=\"a\\\""), m),
            ("junk_after_quote", "b", part("form-data; name=\"a\"x"), m),
            ("no_equals", "b", part("form-data; name"), m),
            ("empty_value", "b", part("form-data; name="), m),
            ("space_before_equals", "b", part("form-data; name =a"), m),
            ("no_semicolon", "b", part("form-data name=a"), m),
            ("non_token_value", "b", part("form-data; name=a/b"), m),
            ("nul_in_name", "b", part("form-data; name=\"a\0b\""), m),
            ("nul_in_filename", "b", part("form-data; name=a; filename=\"a\0b\""), m),
            (
                "escaped_nul_in_filename",
                "b",
                part("form-data; name=a; filename=\"a\\\0\""),
                m,
            ),
            (
                "non_utf8_filename",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a; filename=\"\xff\"\r\n\r\nv\r\n--b--"
                    .to_vec(),
                m,
            ),
            (
                "two_dispositions",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\
                  Content-Disposition: form-data; name=b\r\n\r\nv\r\n--b--"
                    .to_vec(),
                m,
            ),
            (
                "two_content_types",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\
                  Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nv\r\n--b--"
                    .to_vec(),
                m,
            ),
            (
                "base64_transfer_encoding",
                "b",
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\ndg==\r\n--b--"
                    .to_vec(),
                m,
            ),
            (
                "header_without_colon",
                "b",
                b"--b\r\nContent-Disposition form-data; name=a\r\n\r\nv\r\n--b--".to_vec(),
                m,
            ),
            (
                "space_before_colon",
                "b",
                b"--b\r\nContent-Disposition : form-data; name=a\r\n\r\nv\r\n--b--".to_vec(),
                m,
            ),
            (
                "obs_fold",
                "b",
                b"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n--b--".to_vec(),
                m,
            ),
            (
                "too_many_header_fields",
                "b",
                format!(
                    "--b\r\nContent-Disposition: form-data; name=a\r\n{}\r\nv\r\n--b--",
                    "X: y\r\n".repeat(32)
                )
                .into_bytes(),
                T(TooLarge::PartHeader),
            ),
            ("empty_boundary", "", b"----".to_vec(), m),
            ("boundary_with_cr", "a\r", b"--a\r\r\n".to_vec(), m),
            ("boundary_trailing_space", "a ", b"--a \r\n".to_vec(), m),
        ];
        for (name, boundary, wire, want) in cases {
            let got = decode_every_way(&wire, boundary, name)
                .err()
                .map(|e| e.kind());
            assert_eq!(got, Some(want), "{name}");
        }
    }

    /// Builds a body of `n` fields.
    fn many_parts(n: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        for i in 0..n {
            wire.extend_from_slice(
                format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{i}\r\n")
                    .as_bytes(),
            );
        }
        wire.extend_from_slice(b"--b--\r\n");
        wire
    }

    #[test]
    fn part_count_limit() {
        let e = decode_all(&many_parts(10_000), "b").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Parts));
        assert_eq!(decode_all(&many_parts(1000), "b").unwrap().len(), 1000);

        let none = MultipartLimits {
            max_parts: 0,
            ..MultipartLimits::default()
        };
        let e = decode_cuts(&many_parts(1), "b", none, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Parts));
        assert!(decode_cuts(b"--b--", "b", none, &[]).unwrap().is_empty());
    }

    #[test]
    fn part_header_limits() {
        // A 1 MB header line: the limit stops it after 16 KiB, fed whole or in pieces.
        let wire = format!(
            "--b\r\nContent-Disposition: form-data; name=a\r\nX-Big: {}\r\n\r\nv\r\n--b--",
            "a".repeat(1 << 20)
        );
        for cuts in [vec![], (4096..wire.len()).step_by(4096).collect()] {
            let e =
                decode_cuts(wire.as_bytes(), "b", MultipartLimits::default(), &cuts).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::PartHeader));
        }

        // The limit counts the whole section, its final empty line included.
        let section = "Content-Disposition: form-data; name=a\r\n\r\n";
        let wire = format!("--b\r\n{section}v\r\n--b--");
        let exact = MultipartLimits {
            max_part_header_bytes: section.len(),
            ..MultipartLimits::default()
        };
        assert!(decode_cuts(wire.as_bytes(), "b", exact, &[]).is_ok());
        let short = MultipartLimits {
            max_part_header_bytes: section.len() - 1,
            ..MultipartLimits::default()
        };
        let e = decode_cuts(wire.as_bytes(), "b", short, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::PartHeader));

        // 32 header fields pass, 33 do not (bad_cases); zero fields allowed rejects every part.
        let wire = format!(
            "--b\r\nContent-Disposition: form-data; name=a\r\n{}\r\nv\r\n--b--",
            "X: y\r\n".repeat(31)
        );
        assert!(decode_all(wire.as_bytes(), "b").is_ok());
        let zero = MultipartLimits {
            max_headers_per_part: 0,
            ..MultipartLimits::default()
        };
        let e = decode_cuts(&many_parts(1), "b", zero, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::PartHeader));
    }

    /// The exact events and consumed counts: data is handed out zero-copy and a tail that could
    /// begin a delimiter is held back until the next input decides it.
    #[test]
    fn events_and_held_back_bytes() {
        let mut dec = MultipartDecoder::new("b", MultipartLimits::default());
        assert_eq!(dec.max_held_back(), 4);
        let head = b"pre\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n";
        let step = dec.decode(&head[..7], false).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 7,
                event: Event::NeedMore
            }
        );
        let step = dec.decode(&head[7..], false).unwrap();
        assert_eq!(step.consumed, head.len() - 7);
        assert!(matches!(step.event, Event::PartStart { ref name, .. } if name == "a"));

        let step = dec.decode(b"hello\r\n--", false).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 5,
                event: Event::Data(0..5)
            }
        );
        let step = dec.decode(b"\r\n--", false).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 0,
                event: Event::NeedMore
            }
        );
        // Not a delimiter after all: the held-back bytes are body bytes.
        let step = dec.decode(b"\r\n--x\r\n--", false).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 5,
                event: Event::Data(0..5)
            }
        );
        // At eof nothing is held back: the body has no close delimiter.
        let mut truncated = dec.clone();
        let e = truncated.decode(b"\r\n--", true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed(Malformed::Multipart));
        // After an error, every call fails the same way.
        let e = truncated.decode(b"\r\n--b--", true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed(Malformed::Multipart));

        let step = dec.decode(b"\r\n--b--\r\nepilogue", true).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 5,
                event: Event::PartEnd
            }
        );
        let step = dec.decode(b"--\r\nepilogue", true).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 2,
                event: Event::End
            }
        );
        assert!(dec.is_done());
        let step = dec.decode(b"\r\nepilogue", true).unwrap();
        assert_eq!(
            step,
            Step {
                consumed: 0,
                event: Event::End
            }
        );
    }

    /// A body with near-delimiter bytes, fed in three pieces cut at every pair of points.
    #[test]
    fn every_pair_of_split_points() {
        let wire = b"--bd\r\nContent-Disposition: form-data; name=\"n\"; filename=\"f\"\r\n\r\n\
                     a\r\n--b\r\r\n--bx\r\n-\r\n--bd\r\n\
                     Content-Disposition: form-data; name=\"m\"\r\n\r\n\r\n\r\n--bd--";
        let whole = decode_all(wire, "bd").unwrap();
        assert_eq!(whole[0].data, b"a\r\n--b\r\r\n--bx\r\n-");
        assert_eq!(whole[1].data, b"\r\n");
        for i in 0..=wire.len() {
            for j in i..=wire.len() {
                let got = decode_cuts(wire, "bd", MultipartLimits::default(), &[i, j]).unwrap();
                assert_eq!(got, whole, "cuts {i} {j}");
            }
        }
    }

    #[test]
    fn boundary_parameter() {
        let long = "x".repeat(70);
        let good: Vec<(&str, String, &str)> = vec![
            (
                "plain",
                "multipart/form-data; boundary=AaB03x".into(),
                "AaB03x",
            ),
            (
                "no_space",
                "multipart/form-data;boundary=AaB03x".into(),
                "AaB03x",
            ),
            (
                "case",
                "Multipart/Form-Data; BOUNDARY=AaB03x".into(),
                "AaB03x",
            ),
            (
                "quoted",
                "multipart/form-data; boundary=\"AaB03x\"".into(),
                "AaB03x",
            ),
            (
                "quoted_specials",
                "multipart/form-data; boundary=\"a:b c/?=\"".into(),
                "a:b c/?=",
            ),
            (
                "webkit",
                "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW".into(),
                "----WebKitFormBoundary7MA4YWxkTrZu0gW",
            ),
            (
                "other_params",
                " multipart/form-data ; charset=utf-8;boundary=b ;; ".into(),
                "b",
            ),
            (
                "seventy",
                format!("multipart/form-data; boundary={long}"),
                &long,
            ),
        ];
        for (name, ct, want) in good {
            assert_eq!(
                boundary(&ct).unwrap_or_else(|e| panic!("{name}: {e}")),
                want,
                "{name}"
            );
        }
        let too_long = format!("multipart/form-data; boundary={long}x");
        let bad: &[(&str, &str)] = &[
            ("empty", ""),
            ("mixed", "multipart/mixed; boundary=b"),
            ("text", "text/plain; boundary=b"),
            ("no_subtype", "multipart; boundary=b"),
            ("subtype_prefix", "multipart/form-datax; boundary=b"),
            ("no_boundary", "multipart/form-data"),
            (
                "no_boundary_semicolon",
                "multipart/form-data; charset=utf-8",
            ),
            ("empty_boundary", "multipart/form-data; boundary=\"\""),
            ("no_value", "multipart/form-data; boundary="),
            ("too_long", &too_long),
            ("trailing_space", "multipart/form-data; boundary=\"ab \""),
            ("not_bchar", "multipart/form-data; boundary=a@b"),
            (
                "not_bchar_quoted",
                "multipart/form-data; boundary=\"a\\\"b\"",
            ),
            (
                "two_boundaries",
                "multipart/form-data; boundary=a; Boundary=b",
            ),
            ("unterminated_quote", "multipart/form-data; boundary=\"ab"),
            ("missing_semicolon", "multipart/form-data boundary=b"),
            ("space_around_equals", "multipart/form-data; boundary = b"),
            ("junk_after_value", "multipart/form-data; boundary=\"b\"c"),
        ];
        for (name, ct) in bad {
            let e = boundary(ct).expect_err(name);
            assert_eq!(
                e.kind(),
                ErrorKind::Malformed(Malformed::Multipart),
                "{name}"
            );
        }
    }

    #[test]
    fn check_boundary_cases() {
        let seventy = "x".repeat(70);
        for good in [
            "a",
            "AaB03x",
            "----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "'()+_,-./:=?",
            "a b",
            seventy.as_str(),
        ] {
            check_boundary(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
            assert!(valid_boundary(good.as_bytes()), "{good:?}");
        }
        let seventy_one = "x".repeat(71);
        let bad: &[(&str, &str, String)] = &[
            (
                "empty",
                "",
                "multipart boundary must be 1 to 70 bytes long, not 0".into(),
            ),
            (
                "too_long",
                &seventy_one,
                "multipart boundary must be 1 to 70 bytes long, not 71".into(),
            ),
            (
                "at_sign",
                "a@b",
                "multipart boundary \"a@b\" contains '@', which RFC 2046 does not allow".into(),
            ),
            (
                "quote",
                "a\"b",
                "multipart boundary \"a\\\"b\" contains '\"', which RFC 2046 does not allow".into(),
            ),
            (
                "non_ascii",
                "caf\u{e9}",
                "multipart boundary \"caf\u{e9}\" contains '\u{e9}', which RFC 2046 does not allow"
                    .into(),
            ),
            (
                "crlf",
                "a\r\nb",
                "multipart boundary \"a\\r\\nb\" contains '\\r', which RFC 2046 does not allow"
                    .into(),
            ),
            (
                "trailing_space",
                "ab ",
                "multipart boundary \"ab \" ends in a space, which RFC 2046 does not allow".into(),
            ),
        ];
        for (case, boundary, msg) in bad {
            let e = check_boundary(boundary).expect_err(case);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{case}");
            assert_eq!(e.to_string(), format!("invalid input: {msg}"), "{case}");
            assert!(!valid_boundary(boundary.as_bytes()), "{case}");
        }
    }

    #[test]
    fn content_type_quotes_as_go() {
        let cases = [
            ("plain", "AaB03x", "multipart/form-data; boundary=AaB03x"),
            (
                "dashes",
                "--a_b.c'd+e",
                "multipart/form-data; boundary=--a_b.c'd+e",
            ),
            ("space", "a b", "multipart/form-data; boundary=\"a b\""),
            ("colon", "a:b", "multipart/form-data; boundary=\"a:b\""),
            ("parens", "(b)", "multipart/form-data; boundary=\"(b)\""),
            (
                "slash_eq_q",
                "a/b=c?",
                "multipart/form-data; boundary=\"a/b=c?\"",
            ),
            ("comma", "a,b", "multipart/form-data; boundary=\"a,b\""),
        ];
        for (case, b, want) in cases {
            let ct = form_data_content_type(b);
            assert_eq!(ct, want, "{case}");
            // What is written reads back as the same boundary.
            assert_eq!(boundary(&ct).unwrap(), b, "{case}");
        }
    }

    #[test]
    fn dispositions_escape_as_go() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "plain",
                "doc",
                "a.txt",
                r#"form-data; name="doc"; filename="a.txt""#,
            ),
            (
                "quote",
                "a\"b",
                "c\"d",
                r#"form-data; name="a\"b"; filename="c\"d""#,
            ),
            (
                "backslash",
                "a\\b",
                "C:\\dir\\x.txt",
                r#"form-data; name="a\\b"; filename="C:\\dir\\x.txt""#,
            ),
            (
                "crlf",
                "a\r\nb",
                "x\ry\nz",
                r#"form-data; name="a%0D%0Ab"; filename="x%0Dy%0Az""#,
            ),
            (
                "tab",
                "a\tb",
                "c",
                "form-data; name=\"a\tb\"; filename=\"c\"",
            ),
            (
                "non_ascii",
                "caf\u{e9}",
                "\u{65e5}\u{672c}.txt",
                "form-data; name=\"caf\u{e9}\"; filename=\"\u{65e5}\u{672c}.txt\"",
            ),
            (
                "percent_kept",
                "100%",
                "%0D",
                r#"form-data; name="100%"; filename="%0D""#,
            ),
        ];
        for (case, name, filename, want) in cases {
            let v = file_content_disposition(name, filename).unwrap();
            assert_eq!(v.as_bytes(), want.as_bytes(), "{case}");
            let field = field_content_disposition(name).unwrap();
            let want_field = want.split("; filename=").next().unwrap();
            assert_eq!(field.as_bytes(), want_field.as_bytes(), "{case}");
        }
        let bad: &[(&str, &str, &str, &str)] = &[
            (
                "nul_name",
                "a\0b",
                "f",
                "multipart field name \"a\\0b\" contains a control character",
            ),
            (
                "del_name",
                "a\x7fb",
                "f",
                "multipart field name \"a\\u{7f}b\" contains a control character",
            ),
            (
                "bell_filename",
                "n",
                "\x07.txt",
                "multipart file name \"\\u{7}.txt\" contains a control character",
            ),
        ];
        for (case, name, filename, msg) in bad {
            let e = file_content_disposition(name, filename).expect_err(case);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{case}");
            assert_eq!(e.to_string(), format!("invalid input: {msg}"), "{case}");
        }
        assert!(field_content_disposition("a\0").is_err());
    }

    #[test]
    fn part_heads_as_go_writes_them() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(CONTENT_DISPOSITION, field_content_disposition("a").unwrap());
        h.append("x-b", HeaderValue::from_static("1"));
        h.append("x-b", HeaderValue::from_static("2"));
        h.insert("x-a", HeaderValue::from_static("0"));
        h.insert("content-id", HeaderValue::from_static("<c>"));
        let mut out = Vec::new();
        write_part_head(&mut out, "bd", true, &h);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "--bd\r\n\
             Content-Disposition: form-data; name=\"a\"\r\n\
             Content-Id: <c>\r\n\
             Content-Type: text/plain\r\n\
             X-A: 0\r\n\
             X-B: 1\r\n\
             X-B: 2\r\n\
             \r\n"
        );
        let mut out = Vec::new();
        write_part_head(&mut out, "bd", false, &HeaderMap::new());
        assert_eq!(out, b"\r\n--bd\r\n\r\n");
        let mut out = Vec::new();
        write_close(&mut out, "bd");
        assert_eq!(out, b"\r\n--bd--\r\n");
        assert_eq!(canonical_name("content-md5"), "Content-Md5");
        assert_eq!(canonical_name("x-1-y"), "X-1-Y");
    }

    /// What the encoder writes, the decoder reads back: names and file names with awkward
    /// characters included (CR and LF arrive percent-encoded, as from a browser).
    #[test]
    fn encoded_bodies_decode() {
        let names: &[(&str, &str, &str, &str)] = &[
            // (name, filename, name decoded, filename decoded)
            ("plain", "a.txt", "plain", "a.txt"),
            ("q\"uote", "say \"hi\".txt", "q\"uote", "say \"hi\".txt"),
            ("back\\slash", "dir\\x.txt", "back\\slash", "x.txt"),
            (
                "caf\u{e9}",
                "\u{65e5}\u{672c}.txt",
                "caf\u{e9}",
                "\u{65e5}\u{672c}.txt",
            ),
            ("cr\r\nlf", "a\r\nb", "cr%0D%0Alf", "a%0D%0Ab"),
            ("tab\there", "t\t.txt", "tab\there", "t\t.txt"),
        ];
        for boundary in ["bd", "a b:c", "----x"] {
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for (i, (name, filename, dn, df)) in names.iter().enumerate() {
                let mut h = HeaderMap::new();
                h.insert(
                    CONTENT_DISPOSITION,
                    file_content_disposition(name, filename).unwrap(),
                );
                h.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                write_part_head(&mut wire, boundary, i == 0, &h);
                wire.extend_from_slice(name.as_bytes());
                let mut f = HeaderMap::new();
                f.insert(
                    CONTENT_DISPOSITION,
                    field_content_disposition(name).unwrap(),
                );
                write_part_head(&mut wire, boundary, false, &f);
                wire.extend_from_slice(b"\r\n--not-a-delimiter\r\n");
                want.push((
                    dn.to_string(),
                    Some(df.to_string()),
                    name.as_bytes().to_vec(),
                ));
                want.push((dn.to_string(), None, b"\r\n--not-a-delimiter\r\n".to_vec()));
            }
            write_close(&mut wire, boundary);
            let got = decode_all(&wire, boundary).unwrap();
            let got: Vec<_> = got
                .into_iter()
                .map(|p| (p.name, p.filename, p.data))
                .collect();
            assert_eq!(got, want, "boundary {boundary:?}");
        }
        // Go's Close with no parts: CRLF, then the close delimiter; an empty form.
        let mut wire = Vec::new();
        write_close(&mut wire, "bd");
        assert_eq!(decode_all(&wire, "bd").unwrap(), Vec::new());
    }
}
