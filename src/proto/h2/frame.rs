//! HTTP/2 frames (RFC 9113 §4 and §6): the frame header, every frame type, an incremental
//! decoder that checks the framing rules, and the encoder.
//!
//! [`FrameDecoder::decode`] takes whatever bytes the connection has buffered and returns one
//! frame borrowing from them and how many bytes it took, or [`Decoded::Partial`]. It checks
//! what can be checked frame by frame: the size limit (from the 9-byte header alone, so an
//! oversized frame is refused before its payload is read), the stream identifier each type
//! requires, fixed payload sizes, padding, `SETTINGS` values, a zero `WINDOW_UPDATE`, and
//! that a header block's `CONTINUATION` frames follow it with nothing in between. Stream
//! states, flow-control windows and which end may send what (`PUSH_PROMISE` to a server,
//! `SETTINGS_ENABLE_PUSH` of 1 from one) are the connection layer's (the server's is
//! `server/h2`, built on `flow`, `settings` and `stream` beside this module).
//!
//! Frame size errors are always connection errors here: RFC 9113 §4.2 makes them so for
//! frames that change connection state, and lets an endpoint treat any stream error as a
//! connection error (§5.4.1), which spares reading an oversized frame to skip it.
//!
//! ```
//! use nethttp::proto::h2::frame::{Decoded, Frame, FrameDecoder, FrameLimits, Ping};
//!
//! let ping = Frame::Ping(Ping { ack: false, data: *b"12345678" });
//! let mut wire = Vec::new();
//! ping.encode(&mut wire)?;
//! assert_eq!(wire.len(), 9 + 8);
//!
//! let mut dec = FrameDecoder::new(FrameLimits::default());
//! assert!(matches!(dec.decode(&wire[..10])?, Decoded::Partial));
//! let Decoded::Frame { frame, len } = dec.decode(&wire)? else {
//!     unreachable!("the frame is complete")
//! };
//! assert_eq!((frame, len), (ping, wire.len()));
//! # Ok::<(), nethttp::Error>(())
//! ```

use std::fmt;

use super::ErrorCode;
use crate::error::{Error, Result};

/// The client connection preface (RFC 9113 §3.4): these 24 octets, then a `SETTINGS` frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The initial `SETTINGS_MAX_FRAME_SIZE`, and the least it may be: 2^14 octets.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// The most `SETTINGS_MAX_FRAME_SIZE` may be: 2^24 - 1 octets, the most a frame header can say.
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// The largest flow-control window, window increment and `SETTINGS_INITIAL_WINDOW_SIZE`:
/// 2^31 - 1 (RFC 9113 §6.9.1).
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;

/// The initial flow-control window of a connection and of each stream: 65535 octets.
pub const DEFAULT_WINDOW_SIZE: u32 = 65_535;

/// The largest stream identifier; the high bit of the 32 is reserved.
pub const MAX_STREAM_ID: u32 = (1 << 31) - 1;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Checks the start of what a client sent for the connection preface. Returns `true` once all
/// of [`PREFACE`] is there (the first frame follows it), `false` while `buf` is a proper
/// prefix of it.
///
/// # Errors
///
/// A `PROTOCOL_ERROR` connection error as soon as `buf` differs from the preface (§3.4).
pub fn check_preface(buf: &[u8]) -> Result<bool> {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        return Err(conn(ErrorCode::Protocol, "invalid connection preface"));
    }
    Ok(n == PREFACE.len())
}

/// A frame type (RFC 9113 §6, §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// `DATA` (0x0).
    Data,
    /// `HEADERS` (0x1).
    Headers,
    /// `PRIORITY` (0x2).
    Priority,
    /// `RST_STREAM` (0x3).
    RstStream,
    /// `SETTINGS` (0x4).
    Settings,
    /// `PUSH_PROMISE` (0x5).
    PushPromise,
    /// `PING` (0x6).
    Ping,
    /// `GOAWAY` (0x7).
    GoAway,
    /// `WINDOW_UPDATE` (0x8).
    WindowUpdate,
    /// `CONTINUATION` (0x9).
    Continuation,
    /// Any other type: an extension, which a receiver ignores (§4.1, §5.5).
    Unknown(u8),
}

impl FrameType {
    /// The type for the octet on the wire.
    pub fn from_u8(v: u8) -> FrameType {
        match v {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The octet on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameType::Data => "data",
            FrameType::Headers => "headers",
            FrameType::Priority => "priority",
            FrameType::RstStream => "rst_stream",
            FrameType::Settings => "settings",
            FrameType::PushPromise => "push_promise",
            FrameType::Ping => "ping",
            FrameType::GoAway => "goaway",
            FrameType::WindowUpdate => "window_update",
            FrameType::Continuation => "continuation",
            FrameType::Unknown(v) => return write!(f, "type {v:#x}"),
        })
    }
}

/// The 9-octet header every frame starts with (RFC 9113 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The payload's length (24 bits).
    pub length: u32,
    /// The frame type.
    pub kind: FrameType,
    /// The flags, as sent (a decoded [`Frame`] keeps only those its type defines).
    pub flags: u8,
    /// The stream identifier, the reserved high bit dropped (§4.1: ignored on receipt).
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a frame header.
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: FrameType::from_u8(b[3]),
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_STREAM_ID,
        }
    }

    /// Appends the header: the low 24 bits of the length, the stream identifier without its
    /// reserved bit.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.length.to_be_bytes()[1..]);
        dst.push(self.kind.to_u8());
        dst.push(self.flags);
        dst.extend_from_slice(&(self.stream_id & MAX_STREAM_ID).to_be_bytes());
    }
}

/// A stream's priority as `HEADERS` and `PRIORITY` frames carry it (RFC 9113 §5.3.2, §6.3).
/// RFC 9113 deprecates this scheme; it is decoded so the frames can be checked and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityParam {
    /// The dependency is exclusive.
    pub exclusive: bool,
    /// The stream this one depends on.
    pub dependency: u32,
    /// The weight as sent: the weight minus one (0-255 for weights 1-256).
    pub weight: u8,
}

/// The parameters of a `SETTINGS` frame (RFC 9113 §6.5.2). Each is `None` if the frame did not
/// carry it; when a frame carries one twice, the last value counts (§6.5.3 processes them in
/// order). Parameters of unknown identifiers are ignored (§6.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    /// `SETTINGS_HEADER_TABLE_SIZE` (0x1): the most the peer's HPACK decoder holds.
    pub header_table_size: Option<u32>,
    /// `SETTINGS_ENABLE_PUSH` (0x2): 0 or 1 on the wire.
    pub enable_push: Option<bool>,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (0x3).
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE` (0x4): at most [`MAX_WINDOW_SIZE`].
    pub initial_window_size: Option<u32>,
    /// `SETTINGS_MAX_FRAME_SIZE` (0x5): from [`DEFAULT_MAX_FRAME_SIZE`] to
    /// [`MAX_FRAME_SIZE_LIMIT`].
    pub max_frame_size: Option<u32>,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (0x6): advisory.
    pub max_header_list_size: Option<u32>,
}

impl Settings {
    /// The parameters that are set, as (identifier, value), in identifier order.
    pub fn params(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (0x1, self.header_table_size),
            (0x2, self.enable_push.map(u32::from)),
            (0x3, self.max_concurrent_streams),
            (0x4, self.initial_window_size),
            (0x5, self.max_frame_size),
            (0x6, self.max_header_list_size),
        ]
        .into_iter()
        .filter_map(|(id, v)| Some((id, v?)))
    }

    /// Records one parameter as read off the wire, checking its value (§6.5.2).
    fn set(&mut self, id: u16, value: u32) -> Result<()> {
        match id {
            0x1 => self.header_table_size = Some(value),
            0x2 => {
                self.enable_push = Some(match value {
                    0 => false,
                    1 => true,
                    _ => return Err(conn(ErrorCode::Protocol, "settings_enable_push not 0 or 1")),
                })
            }
            0x3 => self.max_concurrent_streams = Some(value),
            0x4 => {
                if value > MAX_WINDOW_SIZE {
                    return Err(conn(
                        ErrorCode::FlowControl,
                        "settings_initial_window_size above 2^31-1",
                    ));
                }
                self.initial_window_size = Some(value);
            }
            0x5 => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&value) {
                    return Err(conn(
                        ErrorCode::Protocol,
                        "settings_max_frame_size outside 2^14 to 2^24-1",
                    ));
                }
                self.max_frame_size = Some(value);
            }
            0x6 => self.max_header_list_size = Some(value),
            _ => {}
        }
        Ok(())
    }
}

/// A `DATA` frame (RFC 9113 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// `END_STREAM`: the sender's last frame on the stream.
    pub end_stream: bool,
    /// The data, without padding.
    pub data: &'a [u8],
    /// `PADDED`: the number of padding octets (which may be 0), or `None` for no padding.
    pub padding: Option<u8>,
}

impl Data<'_> {
    /// The octets the frame counts against flow-control windows: its whole payload, padding
    /// and the pad length octet included (§6.9).
    pub fn flow_controlled_len(&self) -> u32 {
        let pad = self.padding.map_or(0, |p| u32::from(p) + 1);
        self.data.len() as u32 + pad
    }
}

/// A `HEADERS` frame (RFC 9113 §6.2): it opens a header block, which `CONTINUATION` frames
/// continue unless `end_headers` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    /// The stream (never 0).
    pub stream_id: u32,
    /// `END_STREAM`: no `DATA` follows (trailers or a bodiless message).
    pub end_stream: bool,
    /// `END_HEADERS`: the header block is whole in this frame.
    pub end_headers: bool,
    /// `PRIORITY`: the priority fields, if present.
    pub priority: Option<PriorityParam>,
    /// The header block fragment, for HPACK once the block is whole.
    pub fragment: &'a [u8],
    /// `PADDED`: the number of padding octets, or `None`.
    pub padding: Option<u8>,
}

/// A `PRIORITY` frame (RFC 9113 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream (never 0).
    pub stream_id: u32,
    /// The priority fields.
    pub param: PriorityParam,
}

/// A `RST_STREAM` frame (RFC 9113 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: u32,
    /// Why the stream ends.
    pub code: ErrorCode,
}

/// A `PUSH_PROMISE` frame (RFC 9113 §6.6): like `HEADERS`, it opens a header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushPromise<'a> {
    /// The stream the promise is made on (never 0).
    pub stream_id: u32,
    /// The stream reserved for the pushed response (never 0).
    pub promised_stream_id: u32,
    /// `END_HEADERS`: the header block is whole in this frame.
    pub end_headers: bool,
    /// The header block fragment.
    pub fragment: &'a [u8],
    /// `PADDED`: the number of padding octets, or `None`.
    pub padding: Option<u8>,
}

/// A `PING` frame (RFC 9113 §6.7), on stream 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// `ACK`: the answer to a ping, carrying its data back.
    pub ack: bool,
    /// The opaque data.
    pub data: [u8; 8],
}

/// A `GOAWAY` frame (RFC 9113 §6.8), on stream 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoAway<'a> {
    /// The highest stream the sender may have acted on.
    pub last_stream_id: u32,
    /// Why the connection ends.
    pub code: ErrorCode,
    /// Opaque diagnostic data.
    pub debug_data: &'a [u8],
}

/// A `WINDOW_UPDATE` frame (RFC 9113 §6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection's window.
    pub stream_id: u32,
    /// The increment: 1 to [`MAX_WINDOW_SIZE`].
    pub increment: u32,
}

/// A `CONTINUATION` frame (RFC 9113 §6.10): the next fragment of an open header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation<'a> {
    /// The stream of the header block.
    pub stream_id: u32,
    /// `END_HEADERS`: the last fragment.
    pub end_headers: bool,
    /// The header block fragment.
    pub fragment: &'a [u8],
}

/// A frame of a type RFC 9113 does not define: passed on so the caller can ignore it (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown<'a> {
    /// The type octet (above 0x9).
    pub kind: u8,
    /// The flags, as sent.
    pub flags: u8,
    /// The stream identifier.
    pub stream_id: u32,
    /// The payload.
    pub payload: &'a [u8],
}

/// One frame, its payload borrowed from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `DATA`.
    Data(Data<'a>),
    /// `HEADERS`.
    Headers(Headers<'a>),
    /// `PRIORITY`.
    Priority(Priority),
    /// `RST_STREAM`.
    RstStream(RstStream),
    /// `SETTINGS` with parameters (possibly none).
    Settings(Settings),
    /// `SETTINGS` with `ACK`: the peer applied this end's settings.
    SettingsAck,
    /// `PUSH_PROMISE`.
    PushPromise(PushPromise<'a>),
    /// `PING`.
    Ping(Ping),
    /// `GOAWAY`.
    GoAway(GoAway<'a>),
    /// `WINDOW_UPDATE`.
    WindowUpdate(WindowUpdate),
    /// `CONTINUATION`.
    Continuation(Continuation<'a>),
    /// A frame of an unknown type.
    Unknown(Unknown<'a>),
}

impl Frame<'_> {
    /// The frame's type.
    pub fn kind(&self) -> FrameType {
        match self {
            Frame::Data(_) => FrameType::Data,
            Frame::Headers(_) => FrameType::Headers,
            Frame::Priority(_) => FrameType::Priority,
            Frame::RstStream(_) => FrameType::RstStream,
            Frame::Settings(_) | Frame::SettingsAck => FrameType::Settings,
            Frame::PushPromise(_) => FrameType::PushPromise,
            Frame::Ping(_) => FrameType::Ping,
            Frame::GoAway(_) => FrameType::GoAway,
            Frame::WindowUpdate(_) => FrameType::WindowUpdate,
            Frame::Continuation(_) => FrameType::Continuation,
            Frame::Unknown(u) => FrameType::Unknown(u.kind),
        }
    }

    /// The stream the frame is on; 0 for the connection.
    pub fn stream_id(&self) -> u32 {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::SettingsAck | Frame::Ping(_) | Frame::GoAway(_) => 0,
        }
    }

    /// Appends the frame to `dst`. Padding octets are zeros. The caller keeps frames within
    /// the peer's `SETTINGS_MAX_FRAME_SIZE` ([`encode_headers`] splits a header block).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a frame that breaks the
    /// rules the decoder checks (a stream identifier of the wrong kind or above
    /// [`MAX_STREAM_ID`], a payload over 2^24 - 1, an increment of 0, a setting out of range, a
    /// stream depending on itself, an `Unknown` frame of a defined type); `dst` is unchanged.
    pub fn encode(&self, dst: &mut Vec<u8>) -> Result<()> {
        self.validate()?;
        let start = dst.len();
        let (kind, stream_id) = (self.kind(), self.stream_id());
        // The header, its length filled in once the payload is written.
        let mut flags = 0;
        dst.extend_from_slice(&[0; HEADER_LEN]);
        match self {
            Frame::Data(f) => {
                flags |= flag(f.end_stream, END_STREAM);
                padded(f.padding, &mut flags, dst, |dst| {
                    dst.extend_from_slice(f.data)
                });
            }
            Frame::Headers(f) => {
                flags |= flag(f.end_stream, END_STREAM) | flag(f.end_headers, END_HEADERS);
                flags |= flag(f.priority.is_some(), PRIORITY);
                padded(f.padding, &mut flags, dst, |dst| {
                    if let Some(p) = f.priority {
                        encode_priority(&p, dst);
                    }
                    dst.extend_from_slice(f.fragment);
                });
            }
            Frame::Priority(f) => encode_priority(&f.param, dst),
            Frame::RstStream(f) => dst.extend_from_slice(&f.code.to_u32().to_be_bytes()),
            Frame::Settings(s) => {
                for (id, v) in s.params() {
                    dst.extend_from_slice(&id.to_be_bytes());
                    dst.extend_from_slice(&v.to_be_bytes());
                }
            }
            Frame::SettingsAck => flags |= ACK,
            Frame::PushPromise(f) => {
                flags |= flag(f.end_headers, END_HEADERS);
                padded(f.padding, &mut flags, dst, |dst| {
                    dst.extend_from_slice(&f.promised_stream_id.to_be_bytes());
                    dst.extend_from_slice(f.fragment);
                });
            }
            Frame::Ping(f) => {
                flags |= flag(f.ack, ACK);
                dst.extend_from_slice(&f.data);
            }
            Frame::GoAway(f) => {
                dst.extend_from_slice(&f.last_stream_id.to_be_bytes());
                dst.extend_from_slice(&f.code.to_u32().to_be_bytes());
                dst.extend_from_slice(f.debug_data);
            }
            Frame::WindowUpdate(f) => dst.extend_from_slice(&f.increment.to_be_bytes()),
            Frame::Continuation(f) => {
                flags |= flag(f.end_headers, END_HEADERS);
                dst.extend_from_slice(f.fragment);
            }
            Frame::Unknown(f) => {
                flags = f.flags;
                dst.extend_from_slice(f.payload);
            }
        }
        let length = dst.len() - start - HEADER_LEN;
        if length > MAX_FRAME_SIZE_LIMIT as usize {
            dst.truncate(start);
            return Err(Error::invalid_input(format!(
                "{kind} frame payload of {length} octets, above 2^24-1"
            )));
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        FrameHeader {
            length: length as u32,
            kind,
            flags,
            stream_id,
        }
        .encode(&mut header);
        dst[start..start + HEADER_LEN].copy_from_slice(&header);
        Ok(())
    }

    /// The rules a frame must keep to be sent: the decoder's, seen from the sender.
    fn validate(&self) -> Result<()> {
        let kind = self.kind();
        let stream_id = self.stream_id();
        let bad = |what: &str| Err(Error::invalid_input(format!("{kind} frame: {what}")));
        if stream_id > MAX_STREAM_ID {
            return bad("stream identifier above 2^31-1");
        }
        match stream_rule(kind) {
            StreamRule::Zero if stream_id != 0 => return bad("must be on stream 0"),
            StreamRule::NonZero if stream_id == 0 => return bad("must not be on stream 0"),
            _ => {}
        }
        match self {
            Frame::Headers(Headers {
                priority: Some(p), ..
            })
            | Frame::Priority(Priority { param: p, .. }) => {
                if p.dependency > MAX_STREAM_ID {
                    return bad("stream dependency above 2^31-1");
                }
                if p.dependency == stream_id {
                    return bad("stream depends on itself");
                }
            }
            Frame::Settings(s) => {
                if s.initial_window_size.is_some_and(|v| v > MAX_WINDOW_SIZE) {
                    return bad("initial window size above 2^31-1");
                }
                if s.max_frame_size
                    .is_some_and(|v| !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&v))
                {
                    return bad("max frame size outside 2^14 to 2^24-1");
                }
            }
            Frame::PushPromise(p) if p.promised_stream_id == 0 => {
                return bad("promised stream 0");
            }
            Frame::PushPromise(p) if p.promised_stream_id > MAX_STREAM_ID => {
                return bad("promised stream identifier above 2^31-1");
            }
            Frame::GoAway(g) if g.last_stream_id > MAX_STREAM_ID => {
                return bad("last stream identifier above 2^31-1");
            }
            Frame::WindowUpdate(w) if w.increment == 0 || w.increment > MAX_WINDOW_SIZE => {
                return bad("increment outside 1 to 2^31-1");
            }
            Frame::Unknown(u) if u.kind <= 0x9 => return bad("a defined frame type"),
            _ => {}
        }
        Ok(())
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

/// Writes a payload with the pad length octet before it and zeros after it, if padded.
fn padded(padding: Option<u8>, flags: &mut u8, dst: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    match padding {
        Some(pad) => {
            *flags |= PADDED;
            dst.push(pad);
            body(dst);
            dst.resize(dst.len() + usize::from(pad), 0);
        }
        None => body(dst),
    }
}

fn encode_priority(p: &PriorityParam, dst: &mut Vec<u8>) {
    let e = if p.exclusive { 1 << 31 } else { 0 };
    dst.extend_from_slice(&(p.dependency | e).to_be_bytes());
    dst.push(p.weight);
}

/// Appends a header block as one `HEADERS` frame, followed by as many `CONTINUATION` frames as
/// it takes to keep each frame's payload within `max_frame_size` (the peer's
/// `SETTINGS_MAX_FRAME_SIZE`). `END_HEADERS` is on the last of them, `END_STREAM` on the
/// `HEADERS` frame if `end_stream`.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for stream 0 or above
/// [`MAX_STREAM_ID`], or a `max_frame_size` outside the range the protocol allows.
pub fn encode_headers(
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut Vec<u8>,
) -> Result<()> {
    if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&max_frame_size) {
        return Err(Error::invalid_input(
            "max frame size outside 2^14 to 2^24-1",
        ));
    }
    let mut pieces = block.chunks(max_frame_size as usize);
    let first = pieces.next().unwrap_or(&[]);
    let mut rest = pieces.peekable();
    Frame::Headers(Headers {
        stream_id,
        end_stream,
        end_headers: rest.peek().is_none(),
        priority: None,
        fragment: first,
        padding: None,
    })
    .encode(dst)?;
    encode_continuations(stream_id, rest, dst)
}

/// The `CONTINUATION` frames carrying the rest of a header block, the last with
/// `END_HEADERS`.
fn encode_continuations<'a>(
    stream_id: u32,
    mut rest: std::iter::Peekable<impl Iterator<Item = &'a [u8]>>,
    dst: &mut Vec<u8>,
) -> Result<()> {
    while let Some(fragment) = rest.next() {
        Frame::Continuation(Continuation {
            stream_id,
            end_headers: rest.peek().is_none(),
            fragment,
        })
        .encode(dst)?;
    }
    Ok(())
}

/// [`encode_headers`] with the header block written straight into `dst` by `block`, after
/// room left for the `HEADERS` frame's header, which is filled in once the block's length is
/// known: no buffer of its own for the block and no copy of it (unless it takes more than one
/// frame, when its tail moves into `CONTINUATION` frames). The frames are the same, octet for
/// octet, as `encode_headers` makes of that block.
///
/// # Errors
///
/// As [`encode_headers`], checked before `block` runs; `dst` is then unchanged.
pub fn encode_headers_with(
    stream_id: u32,
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut Vec<u8>,
    block: impl FnOnce(&mut Vec<u8>),
) -> Result<()> {
    if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&max_frame_size) {
        return Err(Error::invalid_input(
            "max frame size outside 2^14 to 2^24-1",
        ));
    }
    if stream_id == 0 || stream_id > MAX_STREAM_ID {
        return Err(Error::invalid_input(format!(
            "{} frame: stream identifier 0 or above 2^31-1",
            FrameType::Headers
        )));
    }
    let start = dst.len();
    dst.extend_from_slice(&[0; HEADER_LEN]);
    block(dst);
    let max = max_frame_size as usize;
    let len = dst.len() - start - HEADER_LEN;
    let tail = (len > max).then(|| dst.split_off(start + HEADER_LEN + max));
    let mut header = [0; HEADER_LEN];
    header[..3].copy_from_slice(&(len.min(max) as u32).to_be_bytes()[1..]);
    header[3] = FrameType::Headers.to_u8();
    header[4] = flag(end_stream, END_STREAM) | flag(tail.is_none(), END_HEADERS);
    header[5..].copy_from_slice(&stream_id.to_be_bytes());
    dst[start..start + HEADER_LEN].copy_from_slice(&header);
    match tail {
        Some(tail) => encode_continuations(stream_id, tail.chunks(max).peekable(), dst),
        None => Ok(()),
    }
}

/// What [`FrameDecoder::decode`] found.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// The buffer does not hold a whole frame yet: read more and call again with all of it.
    Partial,
    /// A frame, which took the first `len` bytes of the buffer.
    Frame {
        /// The frame.
        frame: Frame<'a>,
        /// How many bytes it took; the caller drops them.
        len: usize,
    },
    /// A frame that ends only its stream, which took the first `len` bytes of the buffer:
    /// `error` is a stream error ([`Http2Error::Stream`](crate::error::Http2Error::Stream))
    /// to answer with a `RST_STREAM`. The connection goes on.
    StreamError {
        /// The stream error.
        error: Error,
        /// How many bytes the frame took; the caller drops them.
        len: usize,
    },
}

/// Limits for [`FrameDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// The largest payload accepted: this end's `SETTINGS_MAX_FRAME_SIZE`, once the peer has
    /// acknowledged it. Default is [`DEFAULT_MAX_FRAME_SIZE`] (16 KiB), the protocol's initial
    /// value; values outside 2^14 to 2^24 - 1 are taken as the nearest end of that range, the
    /// only values the setting can have.
    pub max_frame_size: u32,
    /// The most octets one header block may take on the wire: its `HEADERS` or `PUSH_PROMISE`
    /// frame and every `CONTINUATION`, frame headers included, so a stream of empty
    /// `CONTINUATION` frames is bounded too. Past it the connection ends with
    /// `ENHANCE_YOUR_CALM`: a block that is not read whole leaves HPACK out of step. Default is
    /// 2 MiB, twice the HPACK decoder's default header list limit, so that a list somewhat
    /// over that limit still reaches the decoder and fails only its stream. Zero refuses every
    /// header block; `usize::MAX` means no limit.
    pub max_header_block: usize,
}

impl FrameLimits {
    /// The default header block limit: 2 MiB.
    pub const DEFAULT_MAX_HEADER_BLOCK: usize = 2 << 20;
}

impl Default for FrameLimits {
    fn default() -> FrameLimits {
        FrameLimits {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_block: FrameLimits::DEFAULT_MAX_HEADER_BLOCK,
        }
    }
}

/// Decodes the frames a connection receives, one at a time, from the bytes it has buffered.
///
/// It keeps one piece of state between frames: whether a header block is open (a `HEADERS` or
/// `PUSH_PROMISE` frame without `END_HEADERS`), in which case the next frame must be a
/// `CONTINUATION` on the same stream (§6.10). An `Err` is a connection error (the connection
/// must end with a `GOAWAY` carrying its code); the decoder must not be used after one.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    limits: FrameLimits,
    /// The open header block: its stream, and the octets its frames have taken so far.
    open_block: Option<(u32, usize)>,
}

impl FrameDecoder {
    /// A decoder at the start of a connection (after the client preface).
    pub fn new(limits: FrameLimits) -> FrameDecoder {
        FrameDecoder {
            limits,
            open_block: None,
        }
    }

    /// Sets the largest payload accepted, for when this end's `SETTINGS_MAX_FRAME_SIZE` is
    /// acknowledged (see [`FrameLimits::max_frame_size`]).
    pub fn set_max_frame_size(&mut self, n: u32) {
        self.limits.max_frame_size = n;
    }

    /// True while a header block is open and only a `CONTINUATION` of it may come next.
    pub fn in_header_block(&self) -> bool {
        self.open_block.is_some()
    }

    /// Decodes the frame at the start of `buf`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Http2`](crate::ErrorKind::Http2) connection error, with the RFC 9113
    /// code: `FRAME_SIZE_ERROR` for a frame over the size limit or a payload of the wrong
    /// size for its type; `PROTOCOL_ERROR` for a stream identifier its type forbids, padding
    /// as long as the payload, a frame other than the `CONTINUATION` an open header block
    /// needs, a `CONTINUATION` with no open block, a bad `SETTINGS_ENABLE_PUSH` or
    /// `SETTINGS_MAX_FRAME_SIZE`, a `WINDOW_UPDATE` of 0 for the connection, a `HEADERS`
    /// frame whose stream depends on itself (a stream error the RFC lets us treat as a
    /// connection error, since the block it opens must be decoded for HPACK's sake);
    /// `FLOW_CONTROL_ERROR` for a `SETTINGS_INITIAL_WINDOW_SIZE` over 2^31 - 1;
    /// `ENHANCE_YOUR_CALM` for a header block over its limit. Stream errors are not `Err`:
    /// see [`Decoded::StreamError`].
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>> {
        let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(Decoded::Partial);
        };
        let h = FrameHeader::parse(head);
        self.check_header(&h)?;
        let len = HEADER_LEN + h.length as usize;
        let Some(payload) = buf.get(HEADER_LEN..len) else {
            return Ok(Decoded::Partial);
        };
        let frame = match parse(&h, payload) {
            Ok(frame) => frame,
            Err(error) if is_stream_error(&error) => {
                return Ok(Decoded::StreamError { error, len })
            }
            Err(error) => return Err(error),
        };
        // The header block: opened, continued or ended.
        let taken = self.open_block.map_or(0, |(_, taken)| taken) + len;
        let (stream_id, end_headers) = match frame {
            Frame::Headers(f) => (f.stream_id, f.end_headers),
            Frame::PushPromise(f) => (f.stream_id, f.end_headers),
            Frame::Continuation(f) => (f.stream_id, f.end_headers),
            _ => return Ok(Decoded::Frame { frame, len }),
        };
        self.open_block = if end_headers {
            None
        } else {
            Some((stream_id, taken))
        };
        Ok(Decoded::Frame { frame, len })
    }

    /// The rules a frame header alone decides, checked before its payload is waited for.
    fn check_header(&self, h: &FrameHeader) -> Result<()> {
        let kind = h.kind;
        let opens_block = matches!(
            kind,
            FrameType::Headers | FrameType::PushPromise | FrameType::Continuation
        );
        match self.open_block {
            Some((stream_id, _)) if kind != FrameType::Continuation || h.stream_id != stream_id => {
                return Err(conn(
                    ErrorCode::Protocol,
                    format!(
                        "{kind} frame on stream {} inside the header block of stream {stream_id}",
                        h.stream_id
                    ),
                ));
            }
            None if kind == FrameType::Continuation => {
                return Err(conn(
                    ErrorCode::Protocol,
                    "continuation frame without a header block",
                ));
            }
            _ => {}
        }
        let max = self
            .limits
            .max_frame_size
            .clamp(DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT);
        if h.length > max {
            return Err(conn(
                ErrorCode::FrameSize,
                format!("{kind} frame of {} octets, above {max}", h.length),
            ));
        }
        if opens_block {
            let taken = self.open_block.map_or(0, |(_, taken)| taken);
            if taken + HEADER_LEN + h.length as usize > self.limits.max_header_block {
                return Err(conn(
                    ErrorCode::EnhanceYourCalm,
                    format!("header block over {} octets", self.limits.max_header_block),
                ));
            }
        }
        match stream_rule(kind) {
            StreamRule::Zero if h.stream_id != 0 => {
                return Err(conn(
                    ErrorCode::Protocol,
                    format!("{kind} frame on stream {}", h.stream_id),
                ));
            }
            StreamRule::NonZero if h.stream_id == 0 => {
                return Err(conn(
                    ErrorCode::Protocol,
                    format!("{kind} frame on stream 0"),
                ));
            }
            _ => {}
        }
        let fixed = match kind {
            FrameType::RstStream | FrameType::WindowUpdate => Some(4),
            FrameType::Ping => Some(8),
            FrameType::Settings if h.flags & ACK != 0 => Some(0),
            _ => None,
        };
        if fixed.is_some_and(|n| h.length != n)
            || (kind == FrameType::Settings && h.length % 6 != 0)
            || (kind == FrameType::GoAway && h.length < 8)
        {
            return Err(conn(
                ErrorCode::FrameSize,
                format!("{kind} frame of {} octets", h.length),
            ));
        }
        Ok(())
    }
}

/// Which streams a frame type may be on.
enum StreamRule {
    /// Only stream 0: the frame is about the connection.
    Zero,
    /// Never stream 0.
    NonZero,
    /// Either (`WINDOW_UPDATE`; extensions).
    Any,
}

fn stream_rule(kind: FrameType) -> StreamRule {
    match kind {
        FrameType::Data
        | FrameType::Headers
        | FrameType::Priority
        | FrameType::RstStream
        | FrameType::PushPromise
        | FrameType::Continuation => StreamRule::NonZero,
        FrameType::Settings | FrameType::Ping | FrameType::GoAway => StreamRule::Zero,
        FrameType::WindowUpdate | FrameType::Unknown(_) => StreamRule::Any,
    }
}

/// Parses a payload whose header passed [`FrameDecoder::check_header`].
fn parse<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<Frame<'a>> {
    let sid = h.stream_id;
    Ok(match h.kind {
        FrameType::Data => {
            let (data, padding) = unpad(h, p, 0)?;
            Frame::Data(Data {
                stream_id: sid,
                end_stream: h.flags & END_STREAM != 0,
                data,
                padding,
            })
        }
        FrameType::Headers => {
            let has_priority = h.flags & PRIORITY != 0;
            let (rest, padding) = unpad(h, p, if has_priority { 5 } else { 0 })?;
            let (priority, fragment) = if has_priority {
                let param = parse_priority(&rest[..5]);
                if param.dependency == sid {
                    // §5.3.1 makes this a stream error; it is a connection error here, as
                    // §5.4.1 allows, because the header block must still reach HPACK.
                    return Err(conn(
                        ErrorCode::Protocol,
                        format!("headers frame: stream {sid} depends on itself"),
                    ));
                }
                (Some(param), &rest[5..])
            } else {
                (None, rest)
            };
            Frame::Headers(Headers {
                stream_id: sid,
                end_stream: h.flags & END_STREAM != 0,
                end_headers: h.flags & END_HEADERS != 0,
                priority,
                fragment,
                padding,
            })
        }
        FrameType::Priority => {
            if p.len() != 5 {
                return Err(Error::h2_stream(
                    sid,
                    ErrorCode::FrameSize,
                    format!("priority frame of {} octets", p.len()),
                ));
            }
            let param = parse_priority(p);
            if param.dependency == sid {
                return Err(Error::h2_stream(
                    sid,
                    ErrorCode::Protocol,
                    format!("priority frame: stream {sid} depends on itself"),
                ));
            }
            Frame::Priority(Priority {
                stream_id: sid,
                param,
            })
        }
        FrameType::RstStream => Frame::RstStream(RstStream {
            stream_id: sid,
            code: ErrorCode::from_u32(be32(p)),
        }),
        FrameType::Settings if h.flags & ACK != 0 => Frame::SettingsAck,
        FrameType::Settings => {
            let mut s = Settings::default();
            for param in p.chunks_exact(6) {
                let id = u16::from_be_bytes([param[0], param[1]]);
                s.set(id, be32(&param[2..]))?;
            }
            Frame::Settings(s)
        }
        FrameType::PushPromise => {
            let (rest, padding) = unpad(h, p, 4)?;
            let promised = be32(rest) & MAX_STREAM_ID;
            if promised == 0 {
                return Err(conn(
                    ErrorCode::Protocol,
                    "push_promise frame: promised stream 0",
                ));
            }
            Frame::PushPromise(PushPromise {
                stream_id: sid,
                promised_stream_id: promised,
                end_headers: h.flags & END_HEADERS != 0,
                fragment: &rest[4..],
                padding,
            })
        }
        FrameType::Ping => {
            let mut data = [0; 8];
            data.copy_from_slice(p);
            Frame::Ping(Ping {
                ack: h.flags & ACK != 0,
                data,
            })
        }
        FrameType::GoAway => Frame::GoAway(GoAway {
            last_stream_id: be32(p) & MAX_STREAM_ID,
            code: ErrorCode::from_u32(be32(&p[4..])),
            debug_data: &p[8..],
        }),
        FrameType::WindowUpdate => {
            let increment = be32(p) & MAX_WINDOW_SIZE;
            if increment == 0 {
                // §6.9: a stream error on a stream, a connection error on the connection.
                let what = "window_update frame with an increment of 0";
                return Err(if sid == 0 {
                    conn(ErrorCode::Protocol, what)
                } else {
                    Error::h2_stream(sid, ErrorCode::Protocol, what)
                });
            }
            Frame::WindowUpdate(WindowUpdate {
                stream_id: sid,
                increment,
            })
        }
        FrameType::Continuation => Frame::Continuation(Continuation {
            stream_id: sid,
            end_headers: h.flags & END_HEADERS != 0,
            fragment: p,
        }),
        FrameType::Unknown(kind) => Frame::Unknown(Unknown {
            kind,
            flags: h.flags,
            stream_id: sid,
            payload: p,
        }),
    })
}

/// Strips the padding of a frame that may be `PADDED`; `fixed` octets of other fields must
/// remain before the padding. Returns what lies between the pad length and the padding.
fn unpad<'a>(h: &FrameHeader, p: &'a [u8], fixed: usize) -> Result<(&'a [u8], Option<u8>)> {
    let kind = h.kind;
    if h.flags & PADDED == 0 {
        if p.len() < fixed {
            return Err(conn(
                ErrorCode::FrameSize,
                format!("{kind} frame of {} octets", p.len()),
            ));
        }
        return Ok((p, None));
    }
    let Some((&pad, rest)) = p.split_first() else {
        return Err(conn(
            ErrorCode::FrameSize,
            format!("padded {kind} frame of 0 octets"),
        ));
    };
    if rest.len() < fixed {
        return Err(conn(
            ErrorCode::FrameSize,
            format!("{kind} frame of {} octets", p.len()),
        ));
    }
    // §6.1, §6.2, §6.6: padding that reaches into the payload's other fields, or past its
    // end, is a protocol error. Padding octets are not checked for zeros (§6.1 allows either).
    let Some(content_len) = (rest.len() - fixed).checked_sub(usize::from(pad)) else {
        return Err(conn(
            ErrorCode::Protocol,
            format!(
                "{kind} frame: {pad} octets of padding in a payload of {}",
                p.len()
            ),
        ));
    };
    Ok((&rest[..fixed + content_len], Some(pad)))
}

fn parse_priority(p: &[u8]) -> PriorityParam {
    let word = be32(p);
    PriorityParam {
        exclusive: word & (1 << 31) != 0,
        dependency: word & MAX_STREAM_ID,
        weight: p[4],
    }
}

/// The big-endian `u32` at the start of `p` (which has at least 4 octets).
fn be32(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[0], p[1], p[2], p[3]])
}

fn conn(code: ErrorCode, what: impl Into<String>) -> Error {
    Error::h2_connection(code, what)
}

fn is_stream_error(e: &Error) -> bool {
    matches!(
        e.kind(),
        crate::ErrorKind::Http2(crate::error::Http2Error::Stream { .. })
    )
}

#[cfg(test)]
mod tests;
