//! Body decoding for every framing (sans-IO): known length, chunked, until close, empty.
//!
//! A [`BodyDecoder`] is fed the bytes that follow a head. It reports which of them are body
//! bytes, stops exactly at the end of the message, and treats an end of input before the
//! framing is satisfied as an error, never as a clean end of body.

use http::HeaderMap;

use super::chunked::ChunkedDecoder;
pub use super::chunked::Step;
use super::framing::Framing;
use super::Limits;
use crate::error::{ClosedDuring, Error, Result};

/// Decodes one message body under its [`Framing`].
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Length { remaining: u64 },
    Chunked(Box<ChunkedDecoder>),
    UntilClose { eof: bool },
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing, limits: &Limits) -> BodyDecoder {
        let kind = match framing {
            Framing::Empty => Kind::Length { remaining: 0 },
            Framing::Length(n) => Kind::Length { remaining: n },
            Framing::Chunked => Kind::Chunked(Box::new(ChunkedDecoder::new(limits))),
            Framing::UntilClose => Kind::UntilClose { eof: false },
        };
        BodyDecoder { kind }
    }

    /// A decoder for an empty body (already done).
    pub fn empty() -> BodyDecoder {
        BodyDecoder {
            kind: Kind::Length { remaining: 0 },
        }
    }

    /// True once the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        match &self.kind {
            Kind::Length { remaining } => *remaining == 0,
            Kind::Chunked(c) => c.is_done(),
            Kind::UntilClose { eof } => *eof,
        }
    }

    /// True if the body ends only when the connection closes.
    pub fn is_until_close(&self) -> bool {
        matches!(self.kind, Kind::UntilClose { .. })
    }

    /// True if the body is chunked.
    pub fn is_chunked(&self) -> bool {
        matches!(self.kind, Kind::Chunked(_))
    }

    /// The number of body bytes still to come, when the framing says so.
    pub fn remaining(&self) -> Option<u64> {
        match &self.kind {
            Kind::Length { remaining } => Some(*remaining),
            _ => None,
        }
    }

    /// Decodes from `input`, producing at most `max_data` body bytes; see
    /// [`ChunkedDecoder::decode`] for the shape of the result.
    ///
    /// # Errors
    ///
    /// The chunked decoder's errors.
    pub fn decode(&mut self, input: &[u8], max_data: usize) -> Result<Step> {
        match &mut self.kind {
            Kind::Length { remaining } => {
                let n = (*remaining).min(input.len() as u64).min(max_data as u64) as usize;
                *remaining -= n as u64;
                Ok(Step {
                    consumed: n,
                    data: 0..n,
                })
            }
            Kind::Chunked(c) => c.decode(input, max_data),
            Kind::UntilClose { eof } => {
                let n = if *eof { 0 } else { input.len().min(max_data) };
                Ok(Step {
                    consumed: n,
                    data: 0..n,
                })
            }
        }
    }

    /// How many body bytes the caller may read straight from its source into its own buffer,
    /// with no framing bytes among them (used to skip a copy for large bodies). Zero when the
    /// next bytes are framing or the body is done.
    pub fn direct_limit(&self) -> u64 {
        match &self.kind {
            Kind::Length { remaining } => *remaining,
            Kind::Chunked(c) => c.data_remaining(),
            Kind::UntilClose { eof } => {
                if *eof {
                    0
                } else {
                    u64::MAX
                }
            }
        }
    }

    /// Records `n` body bytes read directly (at most [`direct_limit`](Self::direct_limit)).
    pub fn consume_direct(&mut self, n: u64) {
        match &mut self.kind {
            Kind::Length { remaining } => *remaining = remaining.saturating_sub(n),
            Kind::Chunked(c) => c.consume_data(n),
            Kind::UntilClose { .. } => {}
        }
    }

    /// Tells the decoder the input has ended (the peer closed the connection).
    ///
    /// # Errors
    ///
    /// [`ClosedDuring::Body`] unless the body was complete or is delimited by the close.
    pub fn on_eof(&mut self) -> Result<()> {
        if let Kind::UntilClose { eof } = &mut self.kind {
            *eof = true;
        }
        if self.is_done() {
            Ok(())
        } else {
            Err(Error::closed(ClosedDuring::Body))
        }
    }

    /// The trailer fields of a chunked body, once done.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        match &mut self.kind {
            Kind::Chunked(c) => c.take_trailers(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn length_stops_at_boundary_and_truncation_is_an_error() {
        let mut d = BodyDecoder::new(Framing::Length(5), &Limits::default());
        let step = d.decode(b"helloGET /", 100).unwrap();
        assert_eq!(step.consumed, 5);
        assert!(d.is_done());
        assert!(d.on_eof().is_ok());

        let mut d = BodyDecoder::new(Framing::Length(5), &Limits::default());
        d.decode(b"hel", 100).unwrap();
        assert_eq!(
            d.on_eof().unwrap_err().kind(),
            ErrorKind::ConnectionClosed(ClosedDuring::Body)
        );
    }

    #[test]
    fn until_close_ends_cleanly_at_eof() {
        let mut d = BodyDecoder::new(Framing::UntilClose, &Limits::default());
        let step = d.decode(b"abc", 2).unwrap();
        assert_eq!(step.data, 0..2);
        assert!(!d.is_done());
        d.on_eof().unwrap();
        assert!(d.is_done());
    }

    #[test]
    fn empty_is_done() {
        let mut d = BodyDecoder::new(Framing::Empty, &Limits::default());
        assert!(d.is_done());
        assert_eq!(d.decode(b"GET", 10).unwrap().consumed, 0);
        assert_eq!(d.direct_limit(), 0);
    }
}
