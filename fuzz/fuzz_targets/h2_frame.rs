//! Fuzz target for the HTTP/2 frame decoder, `h2::frame::FrameDecoder::decode`, on arbitrary
//! bytes fed in arbitrary pieces, and for `Frame::encode` through round trips.
//!
//! Input layout: five control bytes, then the wire bytes. Control bytes 0-3 are the sizes of the
//! pieces the wire is fed in (each `byte + 1`, used in turn); in byte 4, bit 0 sets a header
//! block limit of 64 octets (so the `ENHANCE_YOUR_CALM` path is reached by short inputs) and
//! bit 1 raises the frame size limit from 2^14 to 2^24 - 1.
//!
//! Properties:
//!
//! - no panic; a frame or a stream error never takes more than the buffer; `Partial` only when
//!   the buffer holds less than a frame header, or less than the frame its header announces;
//! - errors are HTTP/2 errors: `Err` always a connection error, `StreamError` always a stream
//!   error naming the frame's stream;
//! - a decoded frame encodes, and the encoding decodes to the same frame (a `CONTINUATION`
//!   after a `HEADERS` frame that opens its block);
//! - how the input is cut does not matter: the frames and the end state equal those of one
//!   call per frame on the whole input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::error::Http2Error;
use nethttp::proto::h2::frame::{
    Decoded, Frame, FrameDecoder, FrameHeader, FrameLimits, Headers, HEADER_LEN,
    MAX_FRAME_SIZE_LIMIT,
};
use nethttp::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let Some((ctl, wire)) = data.split_first_chunk::<5>() else {
        return;
    };
    let pieces: Vec<usize> = ctl[..4].iter().map(|&b| usize::from(b) + 1).collect();
    let mut limits = FrameLimits::default();
    if ctl[4] & 1 != 0 {
        limits.max_header_block = 64;
    }
    if ctl[4] & 2 != 0 {
        limits.max_frame_size = MAX_FRAME_SIZE_LIMIT;
    }
    let cut = run(wire, &pieces, limits);
    let whole = run(wire, &[wire.len().max(1)], limits);
    assert_eq!(cut, whole, "pieces {pieces:?}");
});

/// Decodes `wire` fed in pieces of the given sizes (in turn) as the decoder asks for more; the
/// outcome of each frame, as text, and of the end.
fn run(wire: &[u8], pieces: &[usize], limits: FrameLimits) -> Vec<String> {
    let mut dec = FrameDecoder::new(limits);
    let mut sizes = pieces.iter().cycle();
    let mut out = Vec::new();
    let (mut pos, mut fed) = (0, 0);
    loop {
        let buf = &wire[pos..fed];
        match dec.decode(buf) {
            Ok(Decoded::Partial) => {
                if let Some(head) = buf.first_chunk::<HEADER_LEN>() {
                    let h = FrameHeader::parse(head);
                    assert!(buf.len() < HEADER_LEN + h.length as usize, "partial with a whole frame");
                }
                if fed == wire.len() {
                    out.push("partial at end".to_string());
                    return out;
                }
                fed = (fed + *sizes.next().expect("cycle")).min(wire.len());
            }
            Ok(Decoded::Frame { frame, len }) => {
                assert!(len >= HEADER_LEN && len <= buf.len(), "frame of {len} in {}", buf.len());
                check_round_trip(&frame);
                out.push(format!("{frame:?}"));
                pos += len;
            }
            Ok(Decoded::StreamError { error, len }) => {
                assert!(len >= HEADER_LEN && len <= buf.len(), "frame of {len} in {}", buf.len());
                let ErrorKind::Http2(Http2Error::Stream { stream_id, .. }) = error.kind() else {
                    panic!("stream error of kind {:?}", error.kind());
                };
                let head = buf.first_chunk::<HEADER_LEN>().expect("a whole frame");
                assert_eq!(stream_id, FrameHeader::parse(head).stream_id);
                out.push(error.to_string());
                pos += len;
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Http2(Http2Error::Connection(_))),
                    "error of kind {:?}",
                    e.kind()
                );
                out.push(e.to_string());
                return out;
            }
        }
    }
}

/// Encodes `frame` and decodes it again on a fresh decoder.
fn check_round_trip(frame: &Frame<'_>) {
    let mut enc = Vec::new();
    let mut dec = FrameDecoder::new(FrameLimits {
        max_frame_size: MAX_FRAME_SIZE_LIMIT,
        ..FrameLimits::default()
    });
    if let Frame::Continuation(c) = frame {
        // A CONTINUATION decodes only inside a block: open one on its stream first.
        let opener = Frame::Headers(Headers {
            stream_id: c.stream_id,
            end_stream: false,
            end_headers: false,
            priority: None,
            fragment: b"",
            padding: None,
        });
        let mut open = Vec::new();
        opener.encode(&mut open).expect("opener encodes");
        assert!(matches!(dec.decode(&open), Ok(Decoded::Frame { .. })));
    }
    frame
        .encode(&mut enc)
        .unwrap_or_else(|e| panic!("decoded frame does not encode: {e}: {frame:?}"));
    match dec.decode(&enc) {
        Ok(Decoded::Frame { frame: again, len }) => {
            assert_eq!(&again, frame, "round trip changed the frame");
            assert_eq!(len, enc.len());
        }
        other => panic!("encoded {frame:?} decodes as {other:?}"),
    }
}
