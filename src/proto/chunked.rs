//! The chunked transfer coding (RFC 9112 §7.1): a strict incremental decoder and an encoder.
//!
//! The decoder is a byte-at-a-time state machine over whatever input the caller has; it returns
//! where the body bytes are inside that input instead of copying them, and never consumes a byte
//! past the end of the message, so the next message on the connection starts intact.

use std::ops::Range;

use http::HeaderMap;

use super::Limits;
use crate::error::{Error, Malformed, Result, TooLarge};

/// The result of one decoding step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How many input bytes were used; the caller drops them from its buffer.
    pub consumed: usize,
    /// Where the body bytes produced by this step lie in the input (within `..consumed`);
    /// empty if the step produced none.
    pub data: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line or inside its hex digits.
    Size { digits: u8, value: u64 },
    /// Whitespace after the size: only `;` may follow (BWS before a chunk extension).
    SizeWs { value: u64 },
    /// Inside chunk extensions, up to CR.
    Ext { value: u64 },
    /// Saw the CR that ends the size line.
    SizeLf { value: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// After the last chunk: reading the trailer section into the trailer buffer.
    Trailers,
    /// The message is complete.
    Done,
}

/// An incremental, strict decoder for a chunked body.
///
/// Rules: chunk-size is 1 to 16 hex digits (no sign, `0x`, underscore or inner space);
/// whitespace after it is allowed only before `;`; chunk extensions may hold no control bytes
/// but HTAB and are capped per message; lines end in CRLF (a bare CR or LF is an error); the
/// CRLF after chunk data is required; the trailer section is parsed with the header rules and
/// the head limits.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    ext_bytes: usize,
    trailer_buf: Vec<u8>,
    trailers: Option<HeaderMap>,
    limits: Limits,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new(limits: &Limits) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size {
                digits: 0,
                value: 0,
            },
            ext_bytes: 0,
            trailer_buf: Vec::new(),
            trailers: None,
            limits: *limits,
        }
    }

    /// True once the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The trailer fields, once [`is_done`](Self::is_done); `None` if there were none or they
    /// were already taken.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    /// How many bytes of chunk data can be read next without any framing in between: non-zero
    /// only inside chunk data. A caller may read up to this many body bytes straight from its
    /// source and report them with [`consume_data`](Self::consume_data).
    pub fn data_remaining(&self) -> u64 {
        match self.state {
            State::Data { remaining } => remaining,
            _ => 0,
        }
    }

    /// Records that `n` bytes of chunk data (at most [`data_remaining`](Self::data_remaining))
    /// were read by the caller directly.
    pub fn consume_data(&mut self, n: u64) {
        if let State::Data { remaining } = self.state {
            let left = remaining.saturating_sub(n);
            self.state = if left == 0 {
                State::DataCr
            } else {
                State::Data { remaining: left }
            };
        }
    }

    /// Decodes from `input`, producing at most `max_data` body bytes.
    ///
    /// Returns as soon as body bytes are available, or when the input is used up, or when the
    /// message ends. If the returned step has no data and consumed the whole input while the
    /// decoder is not done, the caller needs more input.
    ///
    /// # Errors
    ///
    /// [`Malformed::ChunkSize`], [`Malformed::ChunkExtension`], [`Malformed::ChunkData`],
    /// [`Malformed::Trailer`], [`TooLarge::ChunkExtensions`] or [`TooLarge::Trailers`]. After
    /// an error the decoder must not be used again.
    pub fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Step> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size { digits, value } => {
                    if let Some(d) = hex_val(b) {
                        // 16 hex digits already fill a u64; a 17th is an overflow.
                        if digits == 16 {
                            return Err(Error::malformed(Malformed::ChunkSize));
                        }
                        self.state = State::Size {
                            digits: digits + 1,
                            value: (value << 4) | u64::from(d),
                        };
                    } else if digits == 0 {
                        return Err(Error::malformed(Malformed::ChunkSize));
                    } else {
                        match b {
                            b'\r' => self.state = State::SizeLf { value },
                            b';' => self.state = State::Ext { value },
                            b' ' | b'\t' => self.state = State::SizeWs { value },
                            _ => return Err(Error::malformed(Malformed::ChunkSize)),
                        }
                    }
                    i += 1;
                }
                State::SizeWs { value } => {
                    match b {
                        b' ' | b'\t' => self.count_ext(1)?,
                        b';' => self.state = State::Ext { value },
                        _ => return Err(Error::malformed(Malformed::ChunkSize)),
                    }
                    i += 1;
                }
                State::Ext { value } => {
                    // Extensions are ignored; scan to the CR, allowing no control bytes but
                    // HTAB (so no bare CR, LF or NUL hides inside them).
                    let rest = &input[i..];
                    let end = rest
                        .iter()
                        .position(|&c| c == b'\r' || (c < 0x20 && c != b'\t') || c == 0x7f);
                    let n = end.unwrap_or(rest.len());
                    self.count_ext(n)?;
                    i += n;
                    if let Some(end) = end {
                        if rest[end] != b'\r' {
                            return Err(Error::malformed(Malformed::ChunkExtension));
                        }
                        self.state = State::SizeLf { value };
                        i += 1;
                    }
                }
                State::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(Error::malformed(Malformed::ChunkSize));
                    }
                    i += 1;
                    self.state = if value == 0 {
                        State::Trailers
                    } else {
                        State::Data { remaining: value }
                    };
                }
                State::Data { remaining } => {
                    if max_data == 0 {
                        return Ok(Step {
                            consumed: i,
                            data: i..i,
                        });
                    }
                    let avail = (input.len() - i) as u64;
                    let n = remaining.min(avail).min(max_data as u64) as usize;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok(Step {
                        consumed: i + n,
                        data: i..i + n,
                    });
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(Error::malformed(Malformed::ChunkData));
                    }
                    self.state = State::DataLf;
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(Error::malformed(Malformed::ChunkData));
                    }
                    self.state = State::Size {
                        digits: 0,
                        value: 0,
                    };
                    i += 1;
                }
                State::Trailers => {
                    let used = self.feed_trailers(&input[i..])?;
                    i += used;
                }
                State::Done => break,
            }
        }
        Ok(Step {
            consumed: i,
            data: i..i,
        })
    }

    fn count_ext(&mut self, n: usize) -> Result<()> {
        self.ext_bytes += n;
        if self.ext_bytes > self.limits.max_chunk_ext_bytes {
            return Err(Error::too_large(TooLarge::ChunkExtensions));
        }
        Ok(())
    }

    /// Appends trailer-section bytes up to and including the blank line that ends it; returns
    /// how many of `input` it took.
    fn feed_trailers(&mut self, input: &[u8]) -> Result<usize> {
        // Take bytes up to the end of the section, which we find by scanning what we have.
        for (k, &b) in input.iter().enumerate() {
            self.trailer_buf.push(b);
            let buf = &self.trailer_buf;
            let len = buf.len();
            if len > self.limits.max_head_bytes {
                return Err(Error::too_large(TooLarge::Trailers));
            }
            if b != b'\n' {
                // A CR not followed by LF is an error at once (RFC 9112 §2.2), not a line that
                // never ends while the reader waits for more.
                if len >= 2 && buf[len - 2] == b'\r' {
                    return Err(Error::malformed(Malformed::Trailer));
                }
                continue;
            }
            // Lines in the trailer section end in CRLF; a bare LF is an error.
            if len < 2 || buf[len - 2] != b'\r' {
                return Err(Error::malformed(Malformed::Trailer));
            }
            // The section ends at an empty line: the CRLF right at its start, or CRLFCRLF.
            if len == 2 || (len >= 4 && &buf[len - 4..] == b"\r\n\r\n") {
                if len > 2 {
                    let fields = super::head::parse_fields(
                        &self.trailer_buf,
                        self.limits.max_headers,
                        Malformed::Trailer,
                    )?;
                    self.trailers = Some(fields);
                }
                self.trailer_buf = Vec::new();
                self.state = State::Done;
                return Ok(k + 1);
            }
        }
        Ok(input.len())
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the chunk-size line for a chunk of `len` bytes (`len` must not be 0: that is the
/// last chunk, written by [`encode_last`]).
pub fn encode_chunk_header(len: usize, dst: &mut Vec<u8>) {
    debug_assert!(len > 0);
    let mut tmp = [0u8; 16];
    let mut n = len;
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&tmp[i..]);
    dst.extend_from_slice(b"\r\n");
}

/// Appends one whole chunk holding `data`; an empty `data` appends nothing (an empty chunk would
/// end the body).
pub fn encode_chunk(data: &[u8], dst: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    encode_chunk_header(data.len(), dst);
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and the trailer section, which holds `trailers` if given.
pub fn encode_last(trailers: Option<&HeaderMap>, dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        super::write::write_fields(t, dst);
    }
    dst.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// Decodes `wire` fed in pieces of `piece` bytes; returns the body, the bytes left over after
    /// the message, and the trailers.
    fn decode_all(wire: &[u8], piece: usize) -> Result<(Vec<u8>, Vec<u8>, Option<HeaderMap>)> {
        let mut dec = ChunkedDecoder::new(&Limits::default());
        let mut body = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        while !dec.is_done() {
            if fed < wire.len() {
                let end = (fed + piece).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
            }
            let step = dec.decode(&buf, 7)?;
            body.extend_from_slice(&buf[step.data.clone()]);
            buf.drain(..step.consumed);
            if step.data.is_empty() && !dec.is_done() && fed == wire.len() && buf.is_empty() {
                return Err(Error::closed(crate::error::ClosedDuring::Body));
            }
        }
        buf.extend_from_slice(&wire[fed..]);
        Ok((body, buf, dec.take_trailers()))
    }

    #[test]
    fn good_cases() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("one_chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                "two_chunks",
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                b"hello world",
            ),
            ("upper_hex", b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            ("leading_zeros", b"0005\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                "sixteen_digits",
                b"0000000000000005\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (
                "extension",
                b"5;name=value\r\nhello\r\n0;x\r\n\r\n",
                b"hello",
            ),
            (
                "bws_before_ext",
                b"5 ;a=\"q\"\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            ("empty_body", b"0\r\n\r\n", b""),
        ];
        for (name, wire, want) in cases {
            for piece in [1, 2, 3, 100] {
                let mut with_next = wire.to_vec();
                with_next.extend_from_slice(b"GET /next");
                let (body, rest, _) = decode_all(&with_next, piece)
                    .unwrap_or_else(|e| panic!("{name} piece {piece}: {e}"));
                assert_eq!(body, *want, "{name} piece {piece}");
                assert_eq!(rest, b"GET /next", "{name}: must stop at the boundary");
            }
        }
    }

    #[test]
    fn trailers_are_parsed() {
        let wire = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\nNEXT";
        let (body, rest, trailers) = decode_all(wire, 1).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(rest, b"NEXT");
        let t = trailers.unwrap();
        assert_eq!(t["x-sum"], "1");
        assert_eq!(t["y"], "2");
    }

    #[test]
    fn bad_cases() {
        use ErrorKind::{Malformed as M, TooLarge as T};
        let long_ext = format!("1;{}\r\na\r\n0\r\n\r\n", "x".repeat(5000));
        let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
            (
                "empty_size",
                b"\r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "hex_prefix",
                b"0x5\r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "plus_sign",
                b"+5\r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "minus_zero",
                b"-0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            ("underscore", b"0_2e\r\n".to_vec(), M(Malformed::ChunkSize)),
            ("inner_space", b"1 2\r\n".to_vec(), M(Malformed::ChunkSize)),
            (
                "trailing_space",
                b"5 \r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "leading_space",
                b" 5\r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "seventeen_digits",
                b"00000000000000005\r\nhello\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "overflow",
                b"1ffffffffffffffff\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "bare_lf_size",
                b"5\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "bare_cr_size",
                b"5\rhello\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "bare_cr_in_ext",
                b"5;a\rb\r\nhello\r\n".to_vec(),
                M(Malformed::ChunkSize),
            ),
            (
                "lf_in_ext",
                b"5;a\nb\r\nhello\r\n".to_vec(),
                M(Malformed::ChunkExtension),
            ),
            (
                "nul_in_ext",
                b"5;a\0\r\nhello\r\n".to_vec(),
                M(Malformed::ChunkExtension),
            ),
            (
                "ext_too_long",
                long_ext.into_bytes(),
                T(TooLarge::ChunkExtensions),
            ),
            (
                "missing_data_crlf",
                b"5\r\nhelloX\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkData),
            ),
            (
                "data_lf_only",
                b"5\r\nhello\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkData),
            ),
            (
                "data_too_long",
                b"3\r\nhello\r\n0\r\n\r\n".to_vec(),
                M(Malformed::ChunkData),
            ),
            (
                "trailer_bare_lf",
                b"0\r\nX: y\n\r\n".to_vec(),
                M(Malformed::Trailer),
            ),
            (
                "trailer_end_bare_lf",
                b"0\r\n\n".to_vec(),
                M(Malformed::Trailer),
            ),
            // A bare CR fails where it stands; before, the section waited for a CRLFCRLF
            // that an input like these never sends.
            (
                "trailer_bare_cr_line",
                b"0\r\n\r\r\n".to_vec(),
                M(Malformed::Trailer),
            ),
            (
                "trailer_bare_cr_in_value",
                b"0\r\nX: a\rb".to_vec(),
                M(Malformed::Trailer),
            ),
            (
                "trailer_obs_fold",
                b"0\r\nX: y\r\n z\r\n\r\n".to_vec(),
                M(Malformed::Trailer),
            ),
            (
                "trailer_nul",
                b"0\r\nX: \0\r\n\r\n".to_vec(),
                M(Malformed::Trailer),
            ),
            (
                "trailer_bad_name",
                b"0\r\nX Y: z\r\n\r\n".to_vec(),
                M(Malformed::Trailer),
            ),
        ];
        for (name, wire, want) in cases {
            for piece in [1, 64] {
                let got = decode_all(&wire, piece).err().map(|e| e.kind());
                assert_eq!(got, Some(want), "case {name} piece {piece}");
            }
        }
    }

    #[test]
    fn truncated_is_not_a_clean_end() {
        for wire in [
            &b"5\r\nhel"[..],
            b"5\r\nhello\r\n",
            b"5\r\nhello\r\n0\r\n",
            b"5",
        ] {
            let got = decode_all(wire, 100).err().map(|e| e.kind());
            assert_eq!(
                got,
                Some(ErrorKind::ConnectionClosed(
                    crate::error::ClosedDuring::Body
                )),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn trailer_limit() {
        let limits = Limits {
            max_head_bytes: 32,
            ..Limits::default()
        };
        let mut dec = ChunkedDecoder::new(&limits);
        let wire = format!("0\r\nX: {}\r\n\r\n", "a".repeat(64));
        let e = dec.decode(wire.as_bytes(), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(TooLarge::Trailers));
    }

    #[test]
    fn direct_data_reads() {
        let mut dec = ChunkedDecoder::new(&Limits::default());
        let step = dec.decode(b"a\r\n", 100).unwrap();
        assert_eq!(step.consumed, 3);
        assert_eq!(dec.data_remaining(), 10);
        dec.consume_data(10);
        assert_eq!(dec.data_remaining(), 0);
        let step = dec.decode(b"\r\n0\r\n\r\n", 100).unwrap();
        assert_eq!(step.consumed, 7);
        assert!(dec.is_done());
    }

    #[test]
    fn encoder_round_trips() {
        let mut wire = Vec::new();
        for piece in [&b"hello"[..], b"", b" ", &[b'x'; 300]] {
            encode_chunk(piece, &mut wire);
        }
        let mut t = HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        encode_last(Some(&t), &mut wire);
        assert!(wire.starts_with(b"5\r\nhello\r\n1\r\n \r\n12c\r\n"));
        let (body, rest, trailers) = decode_all(&wire, 5).unwrap();
        assert_eq!(body.len(), 306);
        assert!(rest.is_empty());
        assert_eq!(trailers.unwrap()["x-checksum"], "abc");
    }
}
