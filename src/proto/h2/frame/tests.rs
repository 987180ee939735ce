//! Frame tests: raw-byte tables for each frame type and each rule, both directions.

use super::*;
use crate::error::{ErrorKind, Http2Error};

/// A frame on the wire: the header computed from the payload.
fn raw(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream_id.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn conn_err(code: ErrorCode) -> ErrorKind {
    ErrorKind::Http2(Http2Error::Connection(code))
}

fn decode_one(wire: &[u8]) -> Result<Decoded<'_>> {
    FrameDecoder::new(FrameLimits::default()).decode(wire)
}

/// Well-formed frames of every type. `canonical` frames are what `encode` writes for the
/// decoded frame, byte for byte; the others carry what a decoder drops (an undefined flag, the
/// reserved bit) and must re-encode to a frame that decodes the same.
#[test]
fn good_frames() {
    let prio = PriorityParam {
        exclusive: true,
        dependency: 3,
        weight: 15,
    };
    let mut settings_all = Vec::new();
    for (id, v) in [
        (1u16, 0u32),
        (2, 1),
        (3, 100),
        (4, MAX_WINDOW_SIZE),
        (5, MAX_FRAME_SIZE_LIMIT),
        (6, 8192),
    ] {
        settings_all.extend_from_slice(&id.to_be_bytes());
        settings_all.extend_from_slice(&v.to_be_bytes());
    }
    let settings_all_frame = Settings {
        header_table_size: Some(0),
        enable_push: Some(true),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(MAX_WINDOW_SIZE),
        max_frame_size: Some(MAX_FRAME_SIZE_LIMIT),
        max_header_list_size: Some(8192),
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Frame<'static>, bool)> = vec![
        ("data", raw(0x0, 0x1, 1, b"hello"),
         Frame::Data(Data { stream_id: 1, end_stream: true, data: b"hello", padding: None }), true),
        ("data_empty", raw(0x0, 0x0, 3, b""),
         Frame::Data(Data { stream_id: 3, end_stream: false, data: b"", padding: None }), true),
        ("data_padded", raw(0x0, 0x8, 1, b"\x02hi\0\0"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"hi", padding: Some(2) }), true),
        ("data_padded_zero", raw(0x0, 0x8, 1, b"\x00hi"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"hi", padding: Some(0) }), true),
        ("data_all_padding", raw(0x0, 0x8, 1, b"\x02\0\0"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"", padding: Some(2) }), true),
        ("data_nonzero_padding_accepted", raw(0x0, 0x8, 1, b"\x01hi\x07"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"hi", padding: Some(1) }), false),
        ("data_undefined_flags_dropped", raw(0x0, 0xf6, 1, b"x"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"x", padding: None }), false),
        ("reserved_bit_ignored", raw(0x0, 0x0, 0x8000_0001, b"x"),
         Frame::Data(Data { stream_id: 1, end_stream: false, data: b"x", padding: None }), false),
        ("headers", raw(0x1, 0x5, 1, b"\x82"),
         Frame::Headers(Headers { stream_id: 1, end_stream: true, end_headers: true, priority: None,
                                  fragment: b"\x82", padding: None }), true),
        ("headers_open", raw(0x1, 0x0, 1, b"\x82"),
         Frame::Headers(Headers { stream_id: 1, end_stream: false, end_headers: false, priority: None,
                                  fragment: b"\x82", padding: None }), true),
        ("headers_priority_padded", raw(0x1, 0x2c, 5, b"\x01\x80\x00\x00\x03\x0f\x82\x00"),
         Frame::Headers(Headers { stream_id: 5, end_stream: false, end_headers: true, priority: Some(prio),
                                  fragment: b"\x82", padding: Some(1) }), true),
        ("headers_priority_only", raw(0x1, 0x24, 5, b"\x80\x00\x00\x03\x0f"),
         Frame::Headers(Headers { stream_id: 5, end_stream: false, end_headers: true, priority: Some(prio),
                                  fragment: b"", padding: None }), true),
        ("priority", raw(0x2, 0x0, 5, b"\x80\x00\x00\x03\x0f"),
         Frame::Priority(Priority { stream_id: 5, param: prio }), true),
        ("rst_stream", raw(0x3, 0x0, 7, b"\x00\x00\x00\x08"),
         Frame::RstStream(RstStream { stream_id: 7, code: ErrorCode::Cancel }), true),
        ("rst_stream_unknown_code", raw(0x3, 0x0, 7, b"\x00\x00\x01\x00"),
         Frame::RstStream(RstStream { stream_id: 7, code: ErrorCode::Unknown(256) }), true),
        ("settings_empty", raw(0x4, 0x0, 0, b""), Frame::Settings(Settings::default()), true),
        ("settings_all", raw(0x4, 0x0, 0, &settings_all), Frame::Settings(settings_all_frame), true),
        ("settings_min_frame_size", raw(0x4, 0x0, 0, b"\x00\x05\x00\x00\x40\x00"),
         Frame::Settings(Settings { max_frame_size: Some(16384), ..Settings::default() }), true),
        ("settings_push_off", raw(0x4, 0x0, 0, b"\x00\x02\x00\x00\x00\x00"),
         Frame::Settings(Settings { enable_push: Some(false), ..Settings::default() }), true),
        ("settings_unknown_id_ignored", raw(0x4, 0x0, 0, b"\x00\x08\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff"),
         Frame::Settings(Settings::default()), false),
        ("settings_repeated_last_wins", raw(0x4, 0x0, 0, b"\x00\x03\x00\x00\x00\x01\x00\x03\x00\x00\x00\x02"),
         Frame::Settings(Settings { max_concurrent_streams: Some(2), ..Settings::default() }), false),
        ("settings_ack", raw(0x4, 0x1, 0, b""), Frame::SettingsAck, true),
        ("push_promise", raw(0x5, 0x4, 1, b"\x00\x00\x00\x02\x82"),
         Frame::PushPromise(PushPromise { stream_id: 1, promised_stream_id: 2, end_headers: true,
                                          fragment: b"\x82", padding: None }), true),
        ("push_promise_padded", raw(0x5, 0xc, 1, b"\x02\x00\x00\x00\x02\x82\0\0"),
         Frame::PushPromise(PushPromise { stream_id: 1, promised_stream_id: 2, end_headers: true,
                                          fragment: b"\x82", padding: Some(2) }), true),
        ("ping", raw(0x6, 0x0, 0, b"abcdefgh"), Frame::Ping(Ping { ack: false, data: *b"abcdefgh" }), true),
        ("ping_ack", raw(0x6, 0x1, 0, b"abcdefgh"), Frame::Ping(Ping { ack: true, data: *b"abcdefgh" }), true),
        ("goaway", raw(0x7, 0x0, 0, b"\x00\x00\x00\x05\x00\x00\x00\x00"),
         Frame::GoAway(GoAway { last_stream_id: 5, code: ErrorCode::NoError, debug_data: b"" }), true),
        ("goaway_debug", raw(0x7, 0x0, 0, b"\x00\x00\x00\x05\x00\x00\x00\x0bcalm down"),
         Frame::GoAway(GoAway { last_stream_id: 5, code: ErrorCode::EnhanceYourCalm, debug_data: b"calm down" }), true),
        ("window_update_connection", raw(0x8, 0x0, 0, b"\x00\x00\x10\x00"),
         Frame::WindowUpdate(WindowUpdate { stream_id: 0, increment: 4096 }), true),
        ("window_update_stream_max", raw(0x8, 0x0, 9, b"\x7f\xff\xff\xff"),
         Frame::WindowUpdate(WindowUpdate { stream_id: 9, increment: MAX_WINDOW_SIZE }), true),
        ("window_update_reserved_bit", raw(0x8, 0x0, 9, b"\x80\x00\x00\x01"),
         Frame::WindowUpdate(WindowUpdate { stream_id: 9, increment: 1 }), false),
        ("unknown_type", raw(0xfa, 0x3, 0, b"xyz"),
         Frame::Unknown(Unknown { kind: 0xfa, flags: 0x3, stream_id: 0, payload: b"xyz" }), true),
        ("unknown_type_on_stream", raw(0x0a, 0x0, 11, b""),
         Frame::Unknown(Unknown { kind: 0x0a, flags: 0, stream_id: 11, payload: b"" }), true),
    ];
    for (name, wire, want, canonical) in cases {
        let mut with_next = wire.clone();
        with_next.extend_from_slice(&raw(0x6, 0, 0, b"nextping"));
        match decode_one(&with_next) {
            Ok(Decoded::Frame { frame, len }) => {
                assert_eq!(frame, want, "{name}");
                assert_eq!(len, wire.len(), "{name}: must stop at the frame's end");
            }
            other => panic!("{name}: {other:?}"),
        }
        let mut enc = Vec::new();
        want.encode(&mut enc)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if canonical {
            assert_eq!(enc, wire, "{name}: encoder");
        }
        match decode_one(&enc) {
            Ok(Decoded::Frame { frame, .. }) => assert_eq!(frame, want, "{name}: re-encoded"),
            other => panic!("{name}: re-encoded: {other:?}"),
        }
    }
}

/// Frames that end the connection, each alone on a fresh decoder, and the code they carry.
#[test]
fn connection_errors() {
    use ErrorCode::{EnhanceYourCalm, FlowControl, FrameSize, Protocol};
    let big = vec![0u8; 16385];
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        // §4.2: over SETTINGS_MAX_FRAME_SIZE, whatever the type.
        ("data_too_big", raw(0x0, 0, 1, &big), FrameSize),
        ("unknown_too_big", raw(0xfa, 0, 0, &big), FrameSize),
        // Stream identifier rules of §6.
        ("data_stream_0", raw(0x0, 0, 0, b"x"), Protocol),
        ("headers_stream_0", raw(0x1, 0x4, 0, b"\x82"), Protocol),
        ("priority_stream_0", raw(0x2, 0, 0, b"\x00\x00\x00\x01\x0f"), Protocol),
        ("rst_stream_stream_0", raw(0x3, 0, 0, b"\0\0\0\x08"), Protocol),
        ("settings_on_stream", raw(0x4, 0, 1, b""), Protocol),
        ("push_promise_stream_0", raw(0x5, 0x4, 0, b"\0\0\0\x02"), Protocol),
        ("ping_on_stream", raw(0x6, 0, 1, b"abcdefgh"), Protocol),
        ("goaway_on_stream", raw(0x7, 0, 1, b"\0\0\0\0\0\0\0\0"), Protocol),
        ("continuation_stream_0", raw(0x9, 0x4, 0, b""), Protocol),
        // Fixed and minimum sizes.
        ("rst_stream_short", raw(0x3, 0, 1, b"\0\0\0"), FrameSize),
        ("rst_stream_long", raw(0x3, 0, 1, b"\0\0\0\0\0"), FrameSize),
        ("settings_not_multiple_of_6", raw(0x4, 0, 0, b"\0\x01\0\0\0"), FrameSize),
        ("settings_ack_with_payload", raw(0x4, 0x1, 0, b"\0\x01\0\0\0\0"), FrameSize),
        ("ping_short", raw(0x6, 0, 0, b"abcdefg"), FrameSize),
        ("ping_long", raw(0x6, 0, 0, b"abcdefghi"), FrameSize),
        ("goaway_short", raw(0x7, 0, 0, b"\0\0\0\0\0\0\0"), FrameSize),
        ("window_update_short", raw(0x8, 0, 0, b"\0\0\x01"), FrameSize),
        ("window_update_long", raw(0x8, 0, 1, b"\0\0\0\x01\0"), FrameSize),
        ("data_padded_empty", raw(0x0, 0x8, 1, b""), FrameSize),
        ("headers_priority_short", raw(0x1, 0x24, 1, b"\0\0\0\x03"), FrameSize),
        ("headers_padded_priority_short", raw(0x1, 0x2c, 1, b"\0\0\0\0\x03"), FrameSize),
        ("push_promise_short", raw(0x5, 0x4, 1, b"\0\0\x02"), FrameSize),
        ("push_promise_padded_short", raw(0x5, 0xc, 1, b"\0\0\0\x02"), FrameSize),
        // Padding as long as the payload or reaching into its fields (§6.1, §6.2, §6.6).
        ("data_padding_equals_payload", raw(0x0, 0x8, 1, b"\x03ab"), Protocol),
        ("data_padding_past_payload", raw(0x0, 0x8, 1, b"\xff"), Protocol),
        ("headers_padding_too_long", raw(0x1, 0xc, 1, b"\x02\x82"), Protocol),
        ("headers_padding_into_priority", raw(0x1, 0x2c, 1, b"\x01\0\0\0\x03\x0f"), Protocol),
        ("push_promise_padding_into_id", raw(0x5, 0xc, 1, b"\x01\0\0\0\x02"), Protocol),
        // SETTINGS values (§6.5.2).
        ("enable_push_2", raw(0x4, 0, 0, b"\0\x02\0\0\0\x02"), Protocol),
        ("initial_window_too_big", raw(0x4, 0, 0, b"\0\x04\x80\0\0\0"), FlowControl),
        ("max_frame_size_too_small", raw(0x4, 0, 0, b"\0\x05\0\0\x3f\xff"), Protocol),
        ("max_frame_size_too_big", raw(0x4, 0, 0, b"\0\x05\x01\0\0\0"), Protocol),
        ("bad_value_after_good", raw(0x4, 0, 0, b"\0\x03\0\0\0\x01\0\x02\0\0\0\x05"), Protocol),
        // Other values.
        ("window_update_zero_connection", raw(0x8, 0, 0, b"\0\0\0\0"), Protocol),
        ("window_update_zero_reserved_bit", raw(0x8, 0, 0, b"\x80\0\0\0"), Protocol),
        ("push_promise_promised_0", raw(0x5, 0x4, 1, b"\0\0\0\0"), Protocol),
        ("push_promise_promised_0_reserved", raw(0x5, 0x4, 1, b"\x80\0\0\0"), Protocol),
        ("headers_depends_on_itself", raw(0x1, 0x24, 3, b"\0\0\0\x03\x0f"), Protocol),
        // A CONTINUATION with no header block open (§6.10).
        ("continuation_alone", raw(0x9, 0x4, 1, b"\x82"), Protocol),
        // A header block over its limit, from its first frame (checked with a small limit below).
        ("headers_over_block_limit", raw(0x1, 0x4, 1, &[0x82; 100]), EnhanceYourCalm),
    ];
    for (name, wire, code) in cases {
        let mut dec = FrameDecoder::new(FrameLimits {
            max_header_block: 100,
            ..FrameLimits::default()
        });
        let e = dec.decode(&wire).expect_err(name);
        assert_eq!(e.kind(), conn_err(code), "{name}: {e}");
        let text = e.to_string();
        assert_eq!(text, text.to_lowercase(), "{name}");
    }
}

/// Errors that end only their stream: the frame is consumed and the connection goes on.
#[test]
fn stream_errors() {
    use ErrorCode::{FrameSize, Protocol};
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, u32, ErrorCode)> = vec![
        ("priority_short", raw(0x2, 0, 3, b"\0\0\0\x01"), 3, FrameSize),
        ("priority_long", raw(0x2, 0, 3, b"\0\0\0\x01\x0f\0"), 3, FrameSize),
        ("priority_depends_on_itself", raw(0x2, 0, 3, b"\0\0\0\x03\x0f"), 3, Protocol),
        ("window_update_zero_stream", raw(0x8, 0, 5, b"\0\0\0\0"), 5, Protocol),
    ];
    for (name, wire, stream_id, code) in cases {
        let mut buf = wire.clone();
        buf.extend_from_slice(&raw(0x6, 0, 0, b"nextping"));
        let mut dec = FrameDecoder::new(FrameLimits::default());
        match dec.decode(&buf) {
            Ok(Decoded::StreamError { error, len }) => {
                assert_eq!(
                    error.kind(),
                    ErrorKind::Http2(Http2Error::Stream { stream_id, code }),
                    "{name}"
                );
                assert_eq!(len, wire.len(), "{name}");
                assert!(matches!(
                    dec.decode(&buf[len..]),
                    Ok(Decoded::Frame {
                        frame: Frame::Ping(_),
                        ..
                    })
                ));
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// Every cut of a frame short of its end is `Partial`; rules the header decides are reported
/// as soon as the header is there, before the payload.
#[test]
fn partial_input_and_early_errors() {
    let wire = raw(0x0, 0x1, 1, b"hello world");
    for cut in 0..wire.len() {
        assert!(
            matches!(decode_one(&wire[..cut]), Ok(Decoded::Partial)),
            "cut {cut}"
        );
    }
    // Header only, payload still to come: the error is known now.
    let early: &[(&str, Vec<u8>)] = &[
        ("oversized", raw(0x0, 0, 1, &[0; 20000])[..9].to_vec()),
        ("data_stream_0", raw(0x0, 0, 0, &[0; 100])[..9].to_vec()),
        ("ping_long", raw(0x6, 0, 0, &[0; 100])[..9].to_vec()),
        (
            "continuation_alone",
            raw(0x9, 0, 1, &[0; 100])[..9].to_vec(),
        ),
    ];
    for (name, head) in early {
        assert!(decode_one(head).is_err(), "{name}");
    }
}

#[test]
fn max_frame_size_limit() {
    let at = raw(0x0, 0, 1, &[7; 16384]);
    assert!(matches!(decode_one(&at), Ok(Decoded::Frame { .. })));
    let over = raw(0x0, 0, 1, &[7; 16385]);
    let mut dec = FrameDecoder::new(FrameLimits::default());
    assert_eq!(
        dec.decode(&over).unwrap_err().kind(),
        conn_err(ErrorCode::FrameSize)
    );
    let mut dec = FrameDecoder::new(FrameLimits::default());
    dec.set_max_frame_size(1 << 20);
    assert!(matches!(dec.decode(&over), Ok(Decoded::Frame { .. })));
    // Below the protocol's floor is taken as the floor.
    let mut dec = FrameDecoder::new(FrameLimits {
        max_frame_size: 0,
        ..FrameLimits::default()
    });
    assert!(matches!(dec.decode(&at), Ok(Decoded::Frame { .. })));
}

/// Runs a sequence of frames through one decoder: the result of each, as a short word.
fn run(frames: &[Vec<u8>], limits: FrameLimits) -> Vec<String> {
    let mut dec = FrameDecoder::new(limits);
    let mut out = Vec::new();
    for wire in frames {
        out.push(match dec.decode(wire) {
            Ok(Decoded::Frame { frame, .. }) => frame.kind().to_string(),
            Ok(Decoded::StreamError { .. }) => "stream error".to_string(),
            Ok(Decoded::Partial) => "partial".to_string(),
            Err(e) => match e.kind() {
                ErrorKind::Http2(Http2Error::Connection(code)) => format!("{code}"),
                other => format!("{other:?}"),
            },
        });
        if out
            .last()
            .is_some_and(|s| s.contains("error") || s.contains("calm"))
        {
            break;
        }
    }
    out
}

#[test]
fn continuation_rules() {
    let h_open = raw(0x1, 0x0, 1, b"\x82");
    let pp_open = raw(0x5, 0x0, 1, b"\0\0\0\x02\x82");
    let c_more = raw(0x9, 0x0, 1, b"\x84");
    let c_end = raw(0x9, 0x4, 1, b"\x86");
    let c_other_stream = raw(0x9, 0x4, 3, b"\x86");
    let ping = raw(0x6, 0, 0, b"abcdefgh");
    let data = raw(0x0, 0, 1, b"x");
    let unknown = raw(0xfa, 0, 0, b"");
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    /// A name, the frames in order, and the outcome of each.
    type Case = (&'static str, Vec<Vec<u8>>, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "headers_continued",
            vec![h_open.clone(), c_more.clone(), c_end.clone(), ping.clone()],
            s(&["headers", "continuation", "continuation", "ping"]),
        ),
        (
            "push_promise_continued",
            vec![pp_open.clone(), c_end.clone(), data.clone()],
            s(&["push_promise", "continuation", "data"]),
        ),
        (
            "ping_inside_block",
            vec![h_open.clone(), ping.clone()],
            s(&["headers", "protocol error"]),
        ),
        (
            "data_inside_block",
            vec![h_open.clone(), c_more.clone(), data.clone()],
            s(&["headers", "continuation", "protocol error"]),
        ),
        (
            "unknown_inside_block",
            vec![h_open.clone(), unknown.clone()],
            s(&["headers", "protocol error"]),
        ),
        (
            "continuation_other_stream",
            vec![h_open.clone(), c_other_stream],
            s(&["headers", "protocol error"]),
        ),
        (
            "headers_inside_block",
            vec![h_open.clone(), h_open.clone()],
            s(&["headers", "protocol error"]),
        ),
        (
            "continuation_after_end",
            vec![h_open.clone(), c_end.clone(), c_end.clone()],
            s(&["headers", "continuation", "protocol error"]),
        ),
    ];
    for (name, frames, want) in cases {
        assert_eq!(run(&frames, FrameLimits::default()), want, "{name}");
    }

    // The block limit counts every frame of the block, headers included: 10 + 10 + 10 octets
    // fit in 30, a fourth frame does not, even an empty one.
    let limits = FrameLimits {
        max_header_block: 30,
        ..FrameLimits::default()
    };
    let empty = raw(0x9, 0x0, 1, b"");
    assert_eq!(
        run(&[h_open.clone(), c_more.clone(), c_end.clone()], limits),
        s(&["headers", "continuation", "continuation"])
    );
    assert_eq!(
        run(&[h_open, c_more.clone(), c_more, empty], limits),
        s(&[
            "headers",
            "continuation",
            "continuation",
            "enhance your calm"
        ])
    );
}

#[test]
fn encoder_refuses_invalid_frames() {
    let data = |stream_id| {
        Frame::Data(Data {
            stream_id,
            end_stream: false,
            data: b"",
            padding: None,
        })
    };
    let prio = |stream_id, dependency| {
        Frame::Priority(Priority {
            stream_id,
            param: PriorityParam {
                exclusive: false,
                dependency,
                weight: 0,
            },
        })
    };
    let big = vec![0u8; MAX_FRAME_SIZE_LIMIT as usize];
    let cases: Vec<(&str, Frame<'_>)> = vec![
        ("data_stream_0", data(0)),
        ("stream_id_reserved_bit", data(1 << 31)),
        (
            "data_too_long_with_padding",
            Frame::Data(Data {
                stream_id: 1,
                end_stream: false,
                data: &big,
                padding: Some(0),
            }),
        ),
        ("priority_self", prio(3, 3)),
        ("priority_dependency_reserved_bit", prio(3, 1 << 31)),
        (
            "settings_window",
            Frame::Settings(Settings {
                initial_window_size: Some(1 << 31),
                ..Settings::default()
            }),
        ),
        (
            "settings_frame_size",
            Frame::Settings(Settings {
                max_frame_size: Some(100),
                ..Settings::default()
            }),
        ),
        (
            "ping_on_stream",
            Frame::Unknown(Unknown {
                kind: 0x6,
                flags: 0,
                stream_id: 0,
                payload: b"",
            }),
        ),
        (
            "window_update_zero",
            Frame::WindowUpdate(WindowUpdate {
                stream_id: 0,
                increment: 0,
            }),
        ),
        (
            "window_update_too_big",
            Frame::WindowUpdate(WindowUpdate {
                stream_id: 1,
                increment: 1 << 31,
            }),
        ),
        (
            "push_promise_promised_0",
            Frame::PushPromise(PushPromise {
                stream_id: 1,
                promised_stream_id: 0,
                end_headers: true,
                fragment: b"",
                padding: None,
            }),
        ),
        (
            "goaway_last_stream_reserved_bit",
            Frame::GoAway(GoAway {
                last_stream_id: 1 << 31,
                code: ErrorCode::NoError,
                debug_data: b"",
            }),
        ),
        (
            "rst_stream_stream_0",
            Frame::RstStream(RstStream {
                stream_id: 0,
                code: ErrorCode::Cancel,
            }),
        ),
    ];
    for (name, frame) in cases {
        let mut dst = b"before".to_vec();
        let e = frame.encode(&mut dst).expect_err(name);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
        assert_eq!(dst, b"before", "{name}: dst unchanged");
    }
    // The largest payload there is, exactly: accepted.
    let mut dst = Vec::new();
    Frame::Data(Data {
        stream_id: 1,
        end_stream: false,
        data: &big,
        padding: None,
    })
    .encode(&mut dst)
    .unwrap();
    assert_eq!(dst[..3], [0xff, 0xff, 0xff]);
}

#[test]
fn header_blocks_split_into_continuations() {
    let block: Vec<u8> = (0..40000u32).map(|i| i as u8).collect();
    for (len, max, want_frames) in [
        (0, 16384, 1),
        (100, 16384, 1),
        (16384, 16384, 1),
        (16385, 16384, 2),
        (40000, 16384, 3),
        (40000, 1 << 20, 1),
    ] {
        let mut wire = Vec::new();
        encode_headers(7, &block[..len], true, max, &mut wire).unwrap();
        let mut dec = FrameDecoder::new(FrameLimits::default());
        dec.set_max_frame_size(max);
        let (mut got, mut frames, mut pos) = (Vec::new(), 0, 0);
        while pos < wire.len() {
            let Ok(Decoded::Frame { frame, len }) = dec.decode(&wire[pos..]) else {
                panic!("len {len} max {max}: frame {frames}");
            };
            match frame {
                Frame::Headers(h) => {
                    assert!(h.end_stream && h.stream_id == 7);
                    assert_eq!(h.end_headers, want_frames == 1);
                    got.extend_from_slice(h.fragment);
                }
                Frame::Continuation(c) => got.extend_from_slice(c.fragment),
                other => panic!("{other:?}"),
            }
            frames += 1;
            pos += len;
        }
        assert_eq!(got, &block[..len]);
        assert_eq!(frames, want_frames, "len {len} max {max}");
        assert!(!dec.in_header_block());
    }
    assert!(encode_headers(0, b"", true, 16384, &mut Vec::new()).is_err());
    assert!(encode_headers(1, b"", true, 100, &mut Vec::new()).is_err());
}

#[test]
fn header_blocks_written_in_place_match_encode_headers() {
    let block: Vec<u8> = (0..40000u32).map(|i| (i * 7) as u8).collect();
    for (len, max, end_stream) in [
        (0, 16384, true),
        (100, 16384, false),
        (16384, 16384, true),
        (16385, 16384, false),
        (40000, 16384, true),
        (40000, 1 << 20, false),
    ] {
        let mut want = b"before".to_vec();
        encode_headers(9, &block[..len], end_stream, max, &mut want).unwrap();
        let mut got = b"before".to_vec();
        encode_headers_with(9, end_stream, max, &mut got, |dst| {
            dst.extend_from_slice(&block[..len])
        })
        .unwrap();
        assert_eq!(got, want, "len {len} max {max}");
    }
    for (id, max) in [(0, 16384), (1 << 31, 16384), (1, 100)] {
        let mut dst = b"x".to_vec();
        let r = encode_headers_with(id, true, max, &mut dst, |_| panic!("block written"));
        assert!(r.is_err());
        assert_eq!(dst, b"x");
    }
}

#[test]
fn preface() {
    assert!(check_preface(PREFACE).unwrap());
    let mut more = PREFACE.to_vec();
    more.extend_from_slice(&raw(0x4, 0, 0, b""));
    assert!(check_preface(&more).unwrap());
    for cut in 0..PREFACE.len() {
        assert!(!check_preface(&PREFACE[..cut]).unwrap(), "cut {cut}");
    }
    for bad in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\n",
        b"x",
    ] {
        let e = check_preface(bad).unwrap_err();
        assert_eq!(e.kind(), conn_err(ErrorCode::Protocol));
    }
}

/// A small deterministic generator (xorshift64*), for inputs without a new dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Seeds for the fuzz target, run here too: random frames (valid headers, random payloads and
/// flags) decode to a frame, a stream error or a connection error, never a panic; every frame
/// re-encodes to one that decodes the same; and how the bytes are cut does not matter.
#[test]
fn seed_inputs_never_panic() {
    let mut rng = Rng(0x00f1_2a3e);
    for _ in 0..3000 {
        let mut stream = Vec::new();
        for _ in 0..(rng.next() % 6) {
            let kind = (rng.next() % 12) as u8;
            let flags = rng.next() as u8;
            let sid = (rng.next() % 4) as u32;
            let len = (rng.next() % 24) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8 % 8).collect();
            stream.extend_from_slice(&raw(kind, flags, sid, &payload));
        }
        let whole = outcomes(&stream, stream.len().max(1));
        let cut = outcomes(&stream, 1 + (rng.next() % 7) as usize);
        assert_eq!(whole, cut, "{stream:02x?}");
    }
}

/// Decodes `stream` fed `piece` bytes at a time; the outcome of each frame.
fn outcomes(stream: &[u8], piece: usize) -> Vec<String> {
    let mut dec = FrameDecoder::new(FrameLimits {
        max_header_block: 64,
        ..FrameLimits::default()
    });
    let mut out = Vec::new();
    let (mut fed, mut pos) = (0, 0);
    loop {
        match dec.decode(&stream[pos..fed]) {
            Ok(Decoded::Partial) => {
                if fed == stream.len() {
                    return out;
                }
                fed = (fed + piece).min(stream.len());
            }
            Ok(Decoded::Frame { frame, len }) => {
                assert!(len <= fed - pos);
                let mut enc = Vec::new();
                frame.encode(&mut enc).expect("a decoded frame encodes");
                let mut dec2 = FrameDecoder::new(FrameLimits::default());
                match (frame, dec2.decode(&enc)) {
                    // A CONTINUATION decodes only inside its block.
                    (Frame::Continuation(_), _) => {}
                    (frame, Ok(Decoded::Frame { frame: again, .. })) => assert_eq!(again, frame),
                    (frame, other) => panic!("{frame:?} re-decoded as {other:?}"),
                }
                out.push(format!("{frame:?}"));
                pos += len;
            }
            Ok(Decoded::StreamError { error, len }) => {
                out.push(error.to_string());
                pos += len;
            }
            Err(e) => {
                out.push(e.to_string());
                return out;
            }
        }
    }
}
