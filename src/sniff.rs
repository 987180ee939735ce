//! Content-Type sniffing (Go's `DetectContentType`): a pure function over body bytes, and a
//! handler wrapper that applies it to responses; the server's writer is in server/response.rs.
//!
//! Available with feature `server` (on by default).
//!
//! The table follows the WHATWG MIME Sniffing Standard's "rules for identifying an unknown MIME
//! type" in the subset Go implements: HTML and XML by their opening markup, a few document,
//! image, audio, video, font and archive signatures, then plain text versus binary. It never
//! returns a type that makes a browser run script unless the body starts with markup, and an
//! unrecognised binary body is `application/octet-stream`.

use std::io::{self, Write};

use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::Result;
use crate::server::{Handler, Hijacked, Request, ResponseWriter};

/// How many leading body bytes [`detect_content_type`] looks at: 512, as Go and the WHATWG
/// standard.
pub const SNIFF_LEN: usize = 512;

/// The MIME type of `data` judged from at most its first [`SNIFF_LEN`] bytes, as Go's
/// `http.DetectContentType`. Always returns a valid type; `application/octet-stream` when
/// nothing else fits. Text types carry a charset (`text/plain; charset=utf-8`).
///
/// ```
/// use nethttp::sniff::detect_content_type;
///
/// assert_eq!(detect_content_type(b"  <!DOCTYPE html><p>hi"), "text/html; charset=utf-8");
/// assert_eq!(detect_content_type(b"\x89PNG\r\n\x1a\n...."), "image/png");
/// assert_eq!(detect_content_type(b"plain words\n"), "text/plain; charset=utf-8");
/// assert_eq!(detect_content_type(b"\x00\x01\x02\x03\x04"), "application/octet-stream");
/// ```
pub fn detect_content_type(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(SNIFF_LEN)];
    // Markup may follow leading whitespace (WHATWG: "skip whitespace" for these rules only).
    let trimmed = skip_ws(data);
    for tag in HTML_TAGS {
        if html_tag_at_start(trimmed, tag) {
            return "text/html; charset=utf-8";
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    for sig in SIGNATURES {
        if sig.matches(data) {
            return sig.content_type;
        }
    }
    if is_mp4(data) {
        return "video/mp4";
    }
    if data.iter().any(|&b| is_binary_byte(b)) {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Sets `Content-Type` in `headers` from the first bytes of the body when the handler set none,
/// as Go's server does: not when `Content-Encoding` is set (the bytes are compressed, so they
/// say nothing about the type), not for a status that has no body, and not for an empty body.
/// Returns true if it set the header.
///
/// The body's start may be split in two: `buffered`, the bytes a writer holds, and `next`, the
/// write in progress (either may be empty); at most [`SNIFF_LEN`] bytes of the two are looked
/// at. This is the hook a response writer calls just before it sends the head.
pub fn fill_content_type(
    headers: &mut HeaderMap,
    status: StatusCode,
    buffered: &[u8],
    next: &[u8],
) -> bool {
    if (buffered.is_empty() && next.is_empty())
        || crate::proto::has_field(headers, &CONTENT_TYPE)
        || crate::proto::has_field(headers, &CONTENT_ENCODING)
        || !body_allowed(status)
    {
        return false;
    }
    let ct = if buffered.len() >= SNIFF_LEN || next.is_empty() {
        detect_content_type(buffered)
    } else if buffered.is_empty() {
        detect_content_type(next)
    } else {
        let mut joined = [0u8; SNIFF_LEN];
        let take = next.len().min(SNIFF_LEN - buffered.len());
        joined[..buffered.len()].copy_from_slice(buffered);
        joined[buffered.len()..buffered.len() + take].copy_from_slice(&next[..take]);
        detect_content_type(&joined[..buffered.len() + take])
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    true
}

fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

/// WHATWG whitespace bytes for sniffing: TAB, LF, FF, CR, SPACE.
fn is_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn skip_ws(data: &[u8]) -> &[u8] {
    let n = data.iter().take_while(|&&b| is_ws(b)).count();
    &data[n..]
}

/// Bytes that never occur in text (WHATWG "binary data byte").
fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f)
}

/// Opening markup that makes a body HTML, matched case-insensitively and followed by a space
/// or `>` (the WHATWG "tag-terminating byte").
const HTML_TAGS: &[&[u8]] = &[
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

fn html_tag_at_start(data: &[u8], tag: &[u8]) -> bool {
    if data.len() <= tag.len() {
        return false;
    }
    let head_matches = data
        .iter()
        .zip(tag)
        .all(|(d, t)| d.to_ascii_uppercase() == *t);
    head_matches && matches!(data[tag.len()], b' ' | b'>')
}

/// A byte signature: `data[i] & mask[i] == pattern[i]` for every `i` of `pattern`. An empty
/// mask means all bits matter.
struct Signature {
    pattern: &'static [u8],
    mask: &'static [u8],
    content_type: &'static str,
}

impl Signature {
    fn matches(&self, data: &[u8]) -> bool {
        if data.len() < self.pattern.len() {
            return false;
        }
        if self.mask.is_empty() {
            return data.starts_with(self.pattern);
        }
        self.pattern
            .iter()
            .zip(self.mask)
            .zip(data)
            .all(|((p, m), d)| d & m == *p)
    }
}

const fn exact(pattern: &'static [u8], content_type: &'static str) -> Signature {
    Signature {
        pattern,
        mask: &[],
        content_type,
    }
}

const fn masked(
    pattern: &'static [u8],
    mask: &'static [u8],
    content_type: &'static str,
) -> Signature {
    Signature {
        pattern,
        mask,
        content_type,
    }
}

/// `RIFF` + any 4-byte size + the given 4-byte form type.
const RIFF_MASK: &[u8] = b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff";

/// The signature table, in the standard's order (after HTML and XML, before mp4 and text).
const SIGNATURES: &[Signature] = &[
    exact(b"%PDF-", "application/pdf"),
    exact(b"%!PS-Adobe-", "application/postscript"),
    // Byte order marks: the text that follows is in that encoding.
    masked(b"\xfe\xff", b"\xff\xff", "text/plain; charset=utf-16be"),
    masked(b"\xff\xfe", b"\xff\xff", "text/plain; charset=utf-16le"),
    exact(b"\xef\xbb\xbf", "text/plain; charset=utf-8"),
    // Images.
    exact(b"\x00\x00\x01\x00", "image/x-icon"),
    exact(b"\x00\x00\x02\x00", "image/x-icon"),
    exact(b"BM", "image/bmp"),
    exact(b"GIF87a", "image/gif"),
    exact(b"GIF89a", "image/gif"),
    masked(
        b"RIFF\x00\x00\x00\x00WEBPVP",
        b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff",
        "image/webp",
    ),
    exact(b"\x89PNG\r\n\x1a\n", "image/png"),
    exact(b"\xff\xd8\xff", "image/jpeg"),
    // Audio and video (mp4 needs a parser: see is_mp4).
    masked(b"FORM\x00\x00\x00\x00AIFF", RIFF_MASK, "audio/aiff"),
    exact(b"ID3", "audio/mpeg"),
    exact(b"OggS\x00", "application/ogg"),
    exact(b"MThd\x00\x00\x00\x06", "audio/midi"),
    masked(b"RIFF\x00\x00\x00\x00AVI ", RIFF_MASK, "video/avi"),
    masked(b"RIFF\x00\x00\x00\x00WAVE", RIFF_MASK, "audio/wave"),
    exact(b"\x1a\x45\xdf\xa3", "video/webm"),
    // Fonts. Embedded OpenType has "LP" at offset 34.
    masked(
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
          \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00LP",
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
          \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff",
        "application/vnd.ms-fontobject",
    ),
    exact(b"\x00\x01\x00\x00", "font/ttf"),
    exact(b"OTTO", "font/otf"),
    exact(b"ttcf", "font/collection"),
    exact(b"wOFF", "font/woff"),
    exact(b"wOF2", "font/woff2"),
    // Archives.
    exact(b"\x1f\x8b\x08", "application/x-gzip"),
    exact(b"PK\x03\x04", "application/zip"),
    // RAR 1.5-4 and RAR 5 (rarlab.com's signatures; the standard's are wrong).
    exact(b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    exact(b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    exact(b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    exact(b"\x00asm", "application/wasm"),
];

/// WHATWG "matches the signature for MP4": an `ftyp` box whose major or a compatible brand
/// starts with `mp4`.
fn is_mp4(data: &[u8]) -> bool {
    if data.len() < 12 {
        return false;
    }
    let box_size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    if box_size % 4 != 0 || data.len() < box_size || &data[4..8] != b"ftyp" {
        return false;
    }
    // Brands are 4 bytes each from offset 8; offset 12 is the minor version, not a brand.
    (8..box_size)
        .step_by(4)
        .filter(|&at| at != 12)
        .any(|at| data.get(at..at + 3) == Some(b"mp4".as_slice()))
}

/// Wraps `h` so a response without a `Content-Type` gets one sniffed from its first 512 body
/// bytes, as Go's server does for every response. Skipped when the handler sets
/// `Content-Type` or `Content-Encoding` before the head is sent.
///
/// The wrapper holds back up to 512 body bytes until it has enough to decide (or the handler
/// flushes, hijacks or returns), then passes everything on.
///
/// ```
/// use std::io::Write;
/// use nethttp::{Request, ResponseWriter};
///
/// let h = nethttp::sniff::sniff_content_type(|w: &mut dyn ResponseWriter, _r: &mut Request| {
///     let _ = w.write_all(b"<html><body>hello</body></html>");
/// });
/// // Responses from `h` carry `Content-Type: text/html; charset=utf-8`.
/// # let _ = h;
/// ```
pub fn sniff_content_type<H: Handler>(h: H) -> SniffContentType<H> {
    SniffContentType { inner: h }
}

/// The handler returned by [`sniff_content_type`].
pub struct SniffContentType<H> {
    inner: H,
}

impl<H> std::fmt::Debug for SniffContentType<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniffContentType").finish_non_exhaustive()
    }
}

impl<H: Handler> Handler for SniffContentType<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let mut sw = SniffWriter {
            inner: w,
            pending: Vec::new(),
            decided: false,
            implied_ok: false,
        };
        self.inner.serve_http(&mut sw, r);
        // The handler is done: whatever it wrote is all there is to judge.
        let _ = sw.decide();
    }
}

/// Holds back the first body bytes until the Content-Type is decided. Owned by one request.
struct SniffWriter<'a> {
    inner: &'a mut dyn ResponseWriter,
    pending: Vec<u8>,
    decided: bool,
    /// A write held back in `pending` came before any status: it chose 200, as a write
    /// through the server's writer does, so a later `write_header` is superfluous.
    implied_ok: bool,
}

impl SniffWriter<'_> {
    /// Sets the sniffed type if it is still open, then passes the held bytes on.
    fn decide(&mut self) -> io::Result<()> {
        if self.decided {
            return Ok(());
        }
        self.decided = true;
        let status = self.inner.status().unwrap_or(StatusCode::OK);
        fill_content_type(self.inner.headers_mut(), status, &self.pending, &[]);
        let pending = std::mem::take(&mut self.pending);
        self.inner.write_all(&pending)
    }
}

impl Write for SniffWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.decided {
            return self.inner.write(data);
        }
        let status = self.inner.status().unwrap_or(StatusCode::OK);
        if !body_allowed(status) {
            // No body can follow; let the writer report it.
            self.decided = true;
            return self.inner.write(data);
        }
        if self.inner.status().is_none() && !data.is_empty() {
            self.implied_ok = true;
        }
        let room = SNIFF_LEN - self.pending.len();
        let n = data.len().min(room);
        self.pending.extend_from_slice(&data[..n]);
        if self.pending.len() == SNIFF_LEN {
            self.decide()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.decide()?;
        self.inner.flush()
    }
}

impl ResponseWriter for SniffWriter<'_> {
    fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    fn write_header(&mut self, status: StatusCode) {
        if self.implied_ok && self.inner.status().is_none() {
            log::warn!("superfluous write_header({status}) ignored");
            return;
        }
        self.inner.write_header(status)
    }

    fn status(&self) -> Option<StatusCode> {
        self.inner
            .status()
            .or(self.implied_ok.then_some(StatusCode::OK))
    }

    fn hijack(&mut self) -> Result<Hijacked> {
        self.decide()
            .map_err(|e| crate::Error::from_io(e, crate::error::TimeoutPhase::WriteResponse))?;
        self.inner.hijack()
    }

    fn write_file(&mut self, file: &std::fs::File, len: u64) -> io::Result<()> {
        if self.decided {
            return self.inner.write_file(file, len);
        }
        // The bytes the type is judged from go through `write`; the rest is passed on.
        let first = len.min((SNIFF_LEN - self.pending.len()) as u64);
        crate::server::response::copy_file(self, file, first)?;
        if len == first {
            return Ok(());
        }
        self.decide()?;
        self.inner.write_file(file, len - first)
    }

    crate::server::response::forward_connection_methods!(inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_text() {
        // As Go: no binary byte in nothing.
        assert_eq!(detect_content_type(b""), "text/plain; charset=utf-8");
    }

    #[test]
    fn only_the_first_512_bytes_count() {
        let mut data = vec![b'a'; SNIFF_LEN];
        data.push(0);
        assert_eq!(detect_content_type(&data), "text/plain; charset=utf-8");
        data[SNIFF_LEN - 1] = 0;
        assert_eq!(detect_content_type(&data), "application/octet-stream");
    }

    #[test]
    fn fill_skips_set_type_encoding_and_bodiless_status() {
        let mut h = HeaderMap::new();
        assert!(fill_content_type(&mut h, StatusCode::OK, b"<html>", b""));
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");

        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let gz = b"\x1f\x8b\x08\x00";
        assert!(!fill_content_type(&mut h, StatusCode::OK, gz, b""));
        assert!(!h.contains_key(CONTENT_TYPE));

        let mut h = HeaderMap::new();
        assert!(!fill_content_type(
            &mut h,
            StatusCode::NO_CONTENT,
            b"x",
            b""
        ));
        assert!(!fill_content_type(&mut h, StatusCode::OK, b"", b""));
        assert!(h.is_empty());
    }

    #[test]
    fn fill_joins_buffered_and_next() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (b"<ht", b"ml>", "text/html; charset=utf-8"),
            (b"", b"%PDF-1.4", "application/pdf"),
            (b"%PDF-1.4", b"", "application/pdf"),
            // Only the first 512 bytes count, wherever they come from.
            (&[b'a'; 300], &[0u8; 300], "application/octet-stream"),
        ];
        for (a, b, want) in cases {
            let mut h = HeaderMap::new();
            assert!(fill_content_type(&mut h, StatusCode::OK, a, b));
            assert_eq!(h[CONTENT_TYPE], want);
        }
        let mut h = HeaderMap::new();
        fill_content_type(&mut h, StatusCode::OK, &[b'a'; SNIFF_LEN], &[0u8; 10]);
        assert_eq!(h[CONTENT_TYPE], "text/plain; charset=utf-8");
    }
}
