//! HTTP/2 (RFC 9113), sans-IO: frames in and out, flow-control windows, settings, stream
//! states, the field rules of requests and responses, and the error codes.
//!
//! The server and the client speak HTTP/2 with feature `http2`: their connection layers, in
//! `server/h2` and `client/h2`, own the socket and the threads and call into these pieces as
//! the HTTP/1 code calls into [`head`](super::head) and [`chunked`](super::chunked). Every
//! piece below is role-neutral; the client's halves of the field rules (request out,
//! response in) are still in `client/h2/message.rs`, to be moved here.
//!
//! - `frame` (feature `http2`): the 9-byte frame header, every frame type of RFC 9113 §6 as a
//!   `Frame`, `FrameDecoder` (bytes in, frames out, with the size, padding,
//!   stream-identifier, `SETTINGS` and `CONTINUATION` rules checked; connection errors and
//!   stream errors apart), `Frame::encode`, `frame::encode_headers` and
//!   `encode_headers_with` (the block written in place); the client connection `PREFACE`.
//! - `flow` (feature `http2`): `SendWindow` and `RecvWindow`, a connection's or a stream's
//!   windows with the overflow rules of §6.9 and batched `WINDOW_UPDATE` credit.
//! - `settings` (feature `http2`): the values in effect at each end, the peer's `SETTINGS`
//!   applied (with the window change of §6.9.2), this end's until acknowledged.
//! - `stream` (feature `http2`): stream states (§5.1) and the identifier rules (§5.1.1).
//! - `message` (feature `http2`): a request's fields checked and split (pseudo-headers,
//!   connection-specific fields, `te`: §8.2, §8.3), a response head and trailers as fields.
//! - [`ErrorCode`]: the error codes of §7, carried by
//!   [`ErrorKind::Http2`](crate::ErrorKind::Http2) errors, which say whether the connection
//!   or only one stream must end ([`Http2Error`](crate::error::Http2Error)).
//!
//! Header blocks are compressed with HPACK, in `proto::hpack`. `frame` and `hpack` are built
//! with feature `http2` (off by default); `ErrorCode` always is.

use std::fmt;

#[cfg(feature = "http2")]
pub mod flow;
#[cfg(feature = "http2")]
pub mod frame;
#[cfg(feature = "http2")]
pub mod message;
#[cfg(feature = "http2")]
pub mod settings;
#[cfg(feature = "http2")]
pub mod stream;

#[cfg(feature = "http2")]
pub use frame::{Decoded, Frame, FrameDecoder, FrameLimits, PREFACE};

/// An HTTP/2 error code (RFC 9113 §7), as carried by `RST_STREAM` and `GOAWAY` frames and by
/// [`ErrorKind::Http2`](crate::ErrorKind::Http2) errors. The names are Go's (`ErrCodeProtocol`
/// is [`ErrorCode::Protocol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `NO_ERROR` (0x0): not the result of an error; a graceful `GOAWAY`.
    NoError,
    /// `PROTOCOL_ERROR` (0x1): an unspecific protocol error.
    Protocol,
    /// `INTERNAL_ERROR` (0x2): the endpoint met an unexpected internal error.
    Internal,
    /// `FLOW_CONTROL_ERROR` (0x3): the peer broke the flow-control protocol.
    FlowControl,
    /// `SETTINGS_TIMEOUT` (0x4): a `SETTINGS` frame was not acknowledged in time.
    SettingsTimeout,
    /// `STREAM_CLOSED` (0x5): a frame arrived after the stream was half-closed.
    StreamClosed,
    /// `FRAME_SIZE_ERROR` (0x6): a frame had an invalid size.
    FrameSize,
    /// `REFUSED_STREAM` (0x7): the stream was refused before any application processing.
    RefusedStream,
    /// `CANCEL` (0x8): the stream is no longer needed.
    Cancel,
    /// `COMPRESSION_ERROR` (0x9): the HPACK state of the connection cannot be kept.
    Compression,
    /// `CONNECT_ERROR` (0xa): the connection of a `CONNECT` request was reset or closed.
    Connect,
    /// `ENHANCE_YOUR_CALM` (0xb): the peer is generating excessive load.
    EnhanceYourCalm,
    /// `INADEQUATE_SECURITY` (0xc): the transport does not meet the security requirements.
    InadequateSecurity,
    /// `HTTP_1_1_REQUIRED` (0xd): the request must be retried over HTTP/1.1.
    Http11Required,
    /// A code RFC 9113 does not define. A receiver must not give it any special meaning
    /// (§7: it may treat it as [`Internal`](Self::Internal)).
    /// [`from_u32`](Self::from_u32) never returns it for a defined code.
    Unknown(u32),
}

impl ErrorCode {
    /// The code for a value read off the wire.
    pub fn from_u32(v: u32) -> ErrorCode {
        match v {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::Protocol,
            0x2 => ErrorCode::Internal,
            0x3 => ErrorCode::FlowControl,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSize,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::Compression,
            0xa => ErrorCode::Connect,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Unknown(other),
        }
    }

    /// The value sent on the wire.
    pub fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::Protocol => 0x1,
            ErrorCode::Internal => 0x2,
            ErrorCode::FlowControl => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSize => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::Compression => 0x9,
            ErrorCode::Connect => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(v) => v,
        }
    }

    /// The code's name in RFC 9113 (`"PROTOCOL_ERROR"`), for logs; `None` for
    /// [`Unknown`](Self::Unknown).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::Protocol => "PROTOCOL_ERROR",
            ErrorCode::Internal => "INTERNAL_ERROR",
            ErrorCode::FlowControl => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSize => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::Compression => "COMPRESSION_ERROR",
            ErrorCode::Connect => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Unknown(_) => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    /// Lowercase words, as the crate's other messages: "protocol error".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::NoError => "no error",
            ErrorCode::Protocol => "protocol error",
            ErrorCode::Internal => "internal error",
            ErrorCode::FlowControl => "flow control error",
            ErrorCode::SettingsTimeout => "settings timeout",
            ErrorCode::StreamClosed => "stream closed",
            ErrorCode::FrameSize => "frame size error",
            ErrorCode::RefusedStream => "refused stream",
            ErrorCode::Cancel => "cancel",
            ErrorCode::Compression => "compression error",
            ErrorCode::Connect => "connect error",
            ErrorCode::EnhanceYourCalm => "enhance your calm",
            ErrorCode::InadequateSecurity => "inadequate security",
            ErrorCode::Http11Required => "http/1.1 required",
            ErrorCode::Unknown(v) => return write!(f, "unknown error code {v:#x}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for v in 0..=0xe {
            let code = ErrorCode::from_u32(v);
            assert_eq!(code.to_u32(), v);
            assert_eq!(code.name().is_some(), v <= 0xd, "{code:?}");
            let text = code.to_string();
            assert_eq!(text, text.to_lowercase());
        }
        assert_eq!(ErrorCode::from_u32(0xb), ErrorCode::EnhanceYourCalm);
        assert_eq!(ErrorCode::from_u32(u32::MAX), ErrorCode::Unknown(u32::MAX));
        assert_eq!(
            ErrorCode::Unknown(0x1f).to_string(),
            "unknown error code 0x1f"
        );
    }
}
