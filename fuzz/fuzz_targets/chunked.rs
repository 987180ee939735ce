//! Fuzz target for `chunked::ChunkedDecoder`: arbitrary bytes fed in arbitrary pieces.
//!
//! Input layout: six control bytes, then the wire bytes. Control bytes 0-3 are the sizes of the
//! pieces the wire is fed in (each `byte + 1`, used in turn), byte 4 is `max_data` for each
//! call (0 means unlimited), and in byte 5 bit 0 reads chunk data the "direct" way
//! (`data_remaining` + `consume_data`, as a caller reading straight into its own buffer does) and
//! bit 1 uses tight limits. A sentinel, the start of a next request, is appended to the wire.
//!
//! Properties:
//!
//! - no panic, and a step never claims more input than it was given: `consumed <= input.len()`
//!   and `data` lies within `..consumed` and holds at most `max_data` bytes;
//! - the decoder always makes progress while it has input (with `max_data >= 1`);
//! - it never reads past the end of the message: once done, all the sentinel is still unread,
//!   and further calls consume nothing;
//! - how the input is cut does not matter: body, end state (done with the same length and
//!   trailers, needs more input, or the same error) equal those of one call on the whole input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::proto::chunked::ChunkedDecoder;
use nethttp::proto::Limits;
use nethttp::{ErrorKind, HeaderMap};

/// The start of the next message on the connection, appended after the fuzz input. It holds no
/// LF, so it can never complete a chunked message that the input left open.
const SENTINEL: &[u8] = b"GET /next";

/// Tight limits, so that the limit paths (`TooLarge`) are reached by short inputs too.
const SMALL: Limits = Limits {
    max_head_bytes: 64,
    max_headers: 4,
    max_chunk_ext_bytes: 16,
};

/// How a decoding run ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The message ended after `consumed` bytes of the stream.
    Done {
        consumed: usize,
        trailers: Option<HeaderMap>,
    },
    /// The stream ran out first.
    NeedMore,
    /// The decoder rejected the stream.
    Error(ErrorKind),
}

#[derive(Debug, PartialEq)]
struct Outcome {
    body: Vec<u8>,
    end: End,
}

fuzz_target!(|data: &[u8]| {
    let Some((ctl, wire)) = data.split_first_chunk::<6>() else {
        return;
    };
    let pieces: Vec<usize> = ctl[..4].iter().map(|&b| usize::from(b) + 1).collect();
    let max_data = match ctl[4] {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let direct = ctl[5] & 1 != 0;
    let limits = if ctl[5] & 2 != 0 {
        SMALL
    } else {
        Limits::default()
    };

    let mut stream = wire.to_vec();
    stream.extend_from_slice(SENTINEL);

    let cut = run(&stream, &pieces, max_data, direct, &limits);
    let whole = run(&stream, &[stream.len()], usize::MAX, false, &limits);
    if let End::Done { consumed, .. } = whole.end {
        assert!(
            stream[consumed..].ends_with(SENTINEL),
            "read {consumed} bytes, past the end of the {}-byte input",
            wire.len()
        );
    }
    assert_eq!(
        cut, whole,
        "pieces {pieces:?}, max_data {max_data}, direct {direct}"
    );
});

/// Decodes `stream`, feeding it in pieces of the given sizes (in turn) as the decoder asks for
/// more, and checks each step.
fn run(stream: &[u8], pieces: &[usize], max_data: usize, direct: bool, limits: &Limits) -> Outcome {
    let mut dec = ChunkedDecoder::new(limits);
    let mut sizes = pieces.iter().cycle();
    let mut body = Vec::new();
    // Bytes fed to the decoder but not yet consumed, as in a connection's read buffer.
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut consumed = 0;
    loop {
        let remaining = dec.data_remaining();
        if direct && remaining > 0 && !pending.is_empty() {
            let n = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(pending.len())
                .min(max_data);
            body.extend_from_slice(&pending[..n]);
            pending.drain(..n);
            dec.consume_data(n as u64);
            consumed += n;
            continue;
        }

        let step = match dec.decode(&pending, max_data) {
            Ok(step) => step,
            Err(e) => {
                return Outcome {
                    body,
                    end: End::Error(e.kind()),
                }
            }
        };
        assert!(
            step.consumed <= pending.len(),
            "consumed {} of {} bytes",
            step.consumed,
            pending.len()
        );
        assert!(
            step.data.start <= step.data.end && step.data.end <= step.consumed,
            "data {:?} outside ..{}",
            step.data,
            step.consumed
        );
        assert!(step.data.len() <= max_data, "more than max_data");
        body.extend_from_slice(&pending[step.data.clone()]);
        pending.drain(..step.consumed);
        consumed += step.consumed;

        if dec.is_done() {
            let again = dec
                .decode(&pending, max_data)
                .expect("decode after the end is not an error");
            assert_eq!(
                again.consumed, 0,
                "consumed bytes after the end of the message"
            );
            assert!(again.data.is_empty(), "produced data after the end");
            return Outcome {
                body,
                end: End::Done {
                    consumed,
                    trailers: dec.take_trailers(),
                },
            };
        }
        if step.consumed == 0 {
            assert!(
                pending.is_empty(),
                "no progress with {} bytes of input",
                pending.len()
            );
            if fed == stream.len() {
                return Outcome {
                    body,
                    end: End::NeedMore,
                };
            }
            let n = (*sizes.next().expect("cycle")).min(stream.len() - fed);
            pending.extend_from_slice(&stream[fed..fed + n]);
            fed += n;
        }
    }
}
