//! Transparent gzip and deflate decoding of response bodies (feature `gzip`), as Go's
//! transport does for gzip when it asked for it; the policy deciding when is in mod.rs.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{Method, StatusCode};

use super::response::{Response, ResponseBody};
use crate::error::{Error, ErrorKind, TimeoutPhase};

/// The codings we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// Replaces the body of `resp` with its decoded bytes if it is encoded with a single coding
/// we know (`gzip`, `x-gzip` or `deflate`), and removes `Content-Encoding` and
/// `Content-Length`, which described the encoded bytes. Other codings are left alone.
pub(crate) fn decode_response(resp: &mut Response, method: &Method) {
    if *method == Method::HEAD
        || resp.status == StatusCode::NO_CONTENT
        || resp.status == StatusCode::NOT_MODIFIED
    {
        return;
    }
    let mut codings = resp.headers.get_all(CONTENT_ENCODING).iter();
    let (Some(only), None) = (codings.next(), codings.next()) else {
        return;
    };
    let coding = match only.as_bytes().trim_ascii() {
        b if b.eq_ignore_ascii_case(b"gzip") || b.eq_ignore_ascii_case(b"x-gzip") => Coding::Gzip,
        b if b.eq_ignore_ascii_case(b"deflate") => Coding::Deflate,
        _ => return,
    };
    resp.headers.remove(CONTENT_ENCODING);
    resp.headers.remove(CONTENT_LENGTH);
    let body = resp.take_body();
    resp.set_decoded_body(ResponseBody::from_reader(Decoder {
        state: State::Start(coding, BufReader::with_capacity(8 << 10, body)),
    }));
}

/// A decoding reader that starts lazily (an empty body decodes to nothing, as in Go), tells
/// zlib-wrapped from raw deflate by its header, and checks that nothing follows the
/// compressed stream, so the connection underneath sees its end and can be reused.
struct Decoder {
    state: State,
}

enum State {
    Start(Coding, BufReader<ResponseBody>),
    Gzip(MultiGzDecoder<BufReader<ResponseBody>>),
    Zlib(ZlibDecoder<BufReader<ResponseBody>>),
    Raw(DeflateDecoder<BufReader<ResponseBody>>),
    Done,
    /// A read failed; later reads fail the same way rather than look like a clean end.
    Failed(ErrorKind),
}

impl Decoder {
    /// Picks the decoder once the first bytes are in; false for an empty body.
    fn start(&mut self) -> io::Result<bool> {
        let (coding, inner) = match &mut self.state {
            State::Start(coding, inner) => (*coding, inner),
            State::Done => return Ok(false),
            State::Failed(kind) => return Err(Error::new(*kind).into_io()),
            State::Gzip(_) | State::Zlib(_) | State::Raw(_) => return Ok(true),
        };
        let head = inner.fill_buf()?;
        if head.is_empty() {
            self.state = State::Done;
            return Ok(false);
        }
        // RFC 9110 §8.4.1.2: "deflate" is the zlib format (RFC 1950), but some servers send
        // a raw deflate stream (RFC 1951); browsers accept both, and so do we.
        let zlib = head.len() >= 2
            && head[0] & 0x0f == 8
            && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
        let State::Start(_, inner) = std::mem::replace(&mut self.state, State::Done) else {
            unreachable!("matched above");
        };
        self.state = match coding {
            Coding::Gzip => State::Gzip(MultiGzDecoder::new(inner)),
            Coding::Deflate if zlib => State::Zlib(ZlibDecoder::new(inner)),
            Coding::Deflate => State::Raw(DeflateDecoder::new(inner)),
        };
        Ok(true)
    }

    fn inner(&mut self) -> Option<&mut BufReader<ResponseBody>> {
        match &mut self.state {
            State::Gzip(d) => Some(d.get_mut()),
            State::Zlib(d) => Some(d.get_mut()),
            State::Raw(d) => Some(d.get_mut()),
            State::Start(..) | State::Done | State::Failed(_) => None,
        }
    }

    fn read_decoded(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.start()? {
            return Ok(0);
        }
        let n = match &mut self.state {
            State::Gzip(d) => d.read(buf)?,
            State::Zlib(d) => d.read(buf)?,
            State::Raw(d) => d.read(buf)?,
            State::Start(..) | State::Done | State::Failed(_) => return Ok(0),
        };
        if n == 0 {
            // The compressed stream ended: the body must end with it.
            let trailing = match self.inner() {
                Some(inner) => !inner.fill_buf()?.is_empty(),
                None => false,
            };
            if trailing {
                return Err(corrupt("data after the end of the compressed stream"));
            }
            self.state = State::Done;
        }
        Ok(n)
    }
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_decoded(buf).map_err(|e| {
            let e = passthrough(e);
            let kind = match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                Some(err) => err.kind(),
                None => ErrorKind::Io,
            };
            self.state = State::Failed(kind);
            e
        })
    }
}

/// Errors of the body underneath (timeouts, a connection cut short) carry our [`Error`] and
/// pass through as they are; anything else came from the decoder: the stream is corrupt.
fn passthrough(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return e;
    }
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            Error::with_source(ErrorKind::Timeout(TimeoutPhase::ReadBody), e).into_io()
        }
        _ => Error::with_source(ErrorKind::Decode, e).into_io(),
    }
}

fn corrupt(why: &str) -> io::Error {
    Error::with_source(ErrorKind::Decode, why.to_string()).into_io()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn response(encoding: &str, body: Vec<u8>) -> Response {
        let r = http::Response::builder()
            .header("content-encoding", encoding)
            .header("content-length", body.len())
            .body(io::Cursor::new(body))
            .unwrap();
        Response::from_http(r)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_each_coding() {
        let data = b"hello, hello, hello, compressed world".repeat(20);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        let mut two_members = gzip(&data[..100]);
        two_members.extend(gzip(&data[100..]));
        let cases = [
            ("gzip", gzip(&data)),
            ("X-GZIP", gzip(&data)),
            ("deflate", zlib.finish().unwrap()),
            ("deflate", raw.finish().unwrap()),
            ("gzip", two_members),
        ];
        for (coding, body) in cases {
            let mut resp = response(coding, body);
            decode_response(&mut resp, &Method::GET);
            assert!(resp.uncompressed(), "{coding}");
            assert!(!resp.headers.contains_key(CONTENT_ENCODING));
            assert!(!resp.headers.contains_key(CONTENT_LENGTH));
            assert_eq!(resp.bytes().unwrap(), data, "{coding}");
        }
    }

    #[test]
    fn leaves_other_codings_and_head_alone() {
        for (coding, method) in [
            ("br", Method::GET),
            ("gzip, br", Method::GET),
            ("gzip", Method::HEAD),
        ] {
            let mut resp = response(coding, b"xyz".to_vec());
            decode_response(&mut resp, &method);
            assert!(!resp.uncompressed(), "{coding} {method}");
            assert!(resp.headers.contains_key(CONTENT_ENCODING));
        }
    }

    #[test]
    fn empty_body_is_empty() {
        let mut resp = response("gzip", Vec::new());
        decode_response(&mut resp, &Method::GET);
        assert_eq!(resp.bytes().unwrap(), b"");
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let good = gzip(b"some data to compress");
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 6);
        let mut flipped = good.clone();
        flipped[12] ^= 0xff;
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        for (name, body) in [
            ("not gzip", b"plain text".to_vec()),
            ("truncated", truncated),
            ("flipped", flipped),
            ("trailing", trailing),
        ] {
            let mut resp = response("gzip", body);
            decode_response(&mut resp, &Method::GET);
            let e = resp.bytes().expect_err(name);
            assert_eq!(e.kind(), ErrorKind::Decode, "{name}: {e:?}");
            // Still an error, not a clean end, when read again.
            let mut one = [0u8; 1];
            assert!(resp.body().read(&mut one).is_err(), "{name}");
        }
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let mut resp = response("gzip", bomb);
        decode_response(&mut resp, &Method::GET);
        let e = resp.bytes_limited(1 << 20).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge(crate::error::TooLarge::Body));
    }
}
