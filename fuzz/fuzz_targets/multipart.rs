//! Fuzz target for `multipart::MultipartDecoder` and `multipart::boundary`: arbitrary bytes fed
//! in arbitrary pieces.
//!
//! Input layout: six control bytes, then the wire bytes. Control bytes 0-3 are the sizes of the
//! pieces the wire is fed in (each `byte + 1`, used in turn); bits 0-1 of byte 4 pick the
//! boundary (`b`, `AaB03x`, `a:b c` or `--`), and bit 2 uses tight limits. Byte 5 is unused
//! but kept so the layout matches the chunked target's. The wire, read as UTF-8 (lossily), is
//! also given to `boundary` as a `Content-Type`.
//!
//! Properties:
//!
//! - no panic, and a step never claims more input than it was given: `consumed <= input.len()`
//!   and a data range is non-empty and lies within `..consumed`;
//! - progress: every step consumes bytes, or asks for more (and then leaves at most
//!   `max_held_back` bytes unconsumed), or ends; `NeedMore` never comes at eof;
//! - events come in order (`PartStart`, `Data`..., `PartEnd`, ..., `End`); after `End` further
//!   calls consume nothing; no part's body holds the delimiter `CRLF--boundary`;
//! - how the input is cut does not matter: the parts (heads and bodies) and the end state (the
//!   end, or the same error) equal those of one call on the whole input;
//! - a boundary that `boundary` returns is 1 to 70 bytes and accepted by the decoder.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::proto::multipart::{boundary, Event, MultipartDecoder, MultipartLimits};
use nethttp::ErrorKind;

const BOUNDARIES: [&str; 4] = ["b", "AaB03x", "a:b c", "--"];

/// Tight limits, so that the limit paths (`TooLarge`) are reached by short inputs too.
const SMALL: MultipartLimits = MultipartLimits {
    max_parts: 3,
    max_part_header_bytes: 96,
    max_headers_per_part: 2,
};

/// A part as decoded: its head, as `Debug` text (name, filename, content type, headers), and
/// its body.
type Part = (String, Vec<u8>);

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The close delimiter was read.
    End(Vec<Part>),
    /// The decoder rejected the body.
    Error(ErrorKind),
}

fuzz_target!(|data: &[u8]| {
    let Some((ctl, wire)) = data.split_first_chunk::<6>() else {
        return;
    };
    let pieces: Vec<usize> = ctl[..4].iter().map(|&b| usize::from(b) + 1).collect();
    let boundary_str = BOUNDARIES[usize::from(ctl[4] & 3)];
    let limits = if ctl[4] & 4 != 0 {
        SMALL
    } else {
        MultipartLimits::default()
    };

    let cut = run(wire, &pieces, boundary_str, limits);
    let whole = run(wire, &[wire.len().max(1)], boundary_str, limits);
    assert_eq!(cut, whole, "pieces {pieces:?}, boundary {boundary_str:?}");

    if let Ok(b) = boundary(&String::from_utf8_lossy(wire)) {
        assert!((1..=70).contains(&b.len()), "boundary {b:?}");
        let mut dec = MultipartDecoder::new(&b, MultipartLimits::default());
        let step = dec
            .decode(format!("--{b}--").as_bytes(), true)
            .expect("a boundary from boundary() is accepted");
        assert_eq!(step.event, Event::End);
    }
});

/// Decodes `wire`, feeding it in pieces of the given sizes (in turn) as the decoder asks for
/// more, and checks each step.
fn run(wire: &[u8], pieces: &[usize], boundary: &str, limits: MultipartLimits) -> Outcome {
    let mut dec = MultipartDecoder::new(boundary, limits);
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut sizes = pieces.iter().cycle();
    let mut parts: Vec<Part> = Vec::new();
    let mut in_part = false;
    // Bytes fed to the decoder but not yet consumed, as in a reader's buffer.
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        let eof = fed == wire.len();
        let step = match dec.decode(&pending, eof) {
            Ok(step) => step,
            Err(e) => {
                let again = dec.decode(&pending, eof).expect_err("an error is sticky");
                assert_eq!(again.kind(), e.kind());
                return Outcome::Error(e.kind());
            }
        };
        assert!(
            step.consumed <= pending.len(),
            "consumed {} of {} bytes",
            step.consumed,
            pending.len()
        );
        match step.event {
            Event::NeedMore => {
                assert!(!eof, "need more at eof");
                assert!(
                    pending.len() - step.consumed <= dec.max_held_back(),
                    "held back {} bytes",
                    pending.len() - step.consumed
                );
                pending.drain(..step.consumed);
                let n = (*sizes.next().expect("cycle")).min(wire.len() - fed);
                pending.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
                continue;
            }
            Event::PartStart { .. } => {
                assert!(!in_part && step.consumed > 0, "part start out of order");
                in_part = true;
                parts.push((format!("{:?}", step.event), Vec::new()));
            }
            Event::Data(ref range) => {
                assert!(
                    in_part && !range.is_empty() && range.end <= step.consumed,
                    "data {range:?} outside ..{}",
                    step.consumed
                );
                let part = parts.last_mut().expect("in a part");
                part.1.extend_from_slice(&pending[range.clone()]);
            }
            Event::PartEnd => {
                assert!(in_part && step.consumed > 0, "part end out of order");
                in_part = false;
            }
            Event::End => {
                assert!(!in_part && dec.is_done(), "end inside a part");
                let again = dec
                    .decode(&pending[step.consumed..], eof)
                    .expect("decode after the end is not an error");
                assert_eq!(again.consumed, 0, "consumed bytes after the end");
                assert_eq!(again.event, Event::End);
                for (_, body) in &parts {
                    assert!(
                        !body.windows(delimiter.len()).any(|w| w == delimiter),
                        "a part body holds the delimiter"
                    );
                }
                return Outcome::End(parts);
            }
        }
        pending.drain(..step.consumed);
    }
}
