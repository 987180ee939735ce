//! Fuzz target for the HPACK decoder, `hpack::Decoder::decode`, over a sequence of header
//! blocks on one connection, and for the encoder through round trips.
//!
//! Input layout: one control byte, then the blocks, each a length octet and that many bytes
//! (the last may be short). In the control byte, bits 0-1 pick the table size both ends start
//! with (0, 64, 256 or 4096 octets), bit 2 sets tight limits (a header list of 512 octets,
//! strings of 64) so the limit paths are reached by short inputs, and bits 3-4 pick the
//! encoder's Huffman policy for the round trips.
//!
//! Properties:
//!
//! - no panic, and the only errors are a `COMPRESSION_ERROR` connection error (after which the
//!   connection is done) and `TooLarge::Head` for a header list over its limit, after which
//!   the decoder goes on with the next block;
//! - a decoded list keeps to the limits: its size (RFC 9113 §6.5.2) and each string's length;
//! - whatever decodes round-trips: a second connection encodes each decoded list with an
//!   `Encoder` and decodes it with its own long-lived `Decoder`, which gives the same fields,
//!   never-indexed flags included, and the two ends of that connection agree on their table
//!   size after every block.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::error::{Http2Error, TooLarge};
use nethttp::proto::h2::ErrorCode;
use nethttp::proto::hpack::{header_list_size, Decoder, Encoder, HuffmanPolicy};
use nethttp::ErrorKind;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut rest)) = data.split_first() else {
        return;
    };
    let table_size = [0, 64, 256, 4096][usize::from(ctl & 3)];
    let (max_list, max_string) = if ctl & 4 != 0 {
        (512, 64)
    } else {
        (
            Decoder::DEFAULT_MAX_HEADER_LIST_SIZE,
            Decoder::DEFAULT_MAX_STRING_LEN,
        )
    };
    let policy = match (ctl >> 3) & 3 {
        0 => HuffmanPolicy::Never,
        1 => HuffmanPolicy::Always,
        _ => HuffmanPolicy::WhenShorter,
    };

    let mut dec = Decoder::new(table_size);
    dec.set_max_header_list_size(max_list);
    dec.set_max_string_len(max_string);

    // The second connection, for the round trips.
    let mut enc = Encoder::new(table_size);
    enc.set_huffman(policy);
    let mut dec2 = Decoder::new(table_size);

    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (block, tail) = tail.split_at(n);
        rest = tail;
        let fields = match dec.decode(block) {
            Ok(fields) => fields,
            Err(e) => match e.kind() {
                ErrorKind::TooLarge(TooLarge::Head) => continue,
                ErrorKind::Http2(Http2Error::Connection(ErrorCode::Compression)) => return,
                other => panic!("unexpected error kind {other:?}: {e}"),
            },
        };
        assert!(header_list_size(&fields) <= max_list, "header list over its limit");
        for f in &fields {
            assert!(f.name.len() <= max_string && f.value.len() <= max_string);
        }

        let mut again = Vec::new();
        enc.encode(&fields, &mut again);
        let back = dec2
            .decode(&again)
            .unwrap_or_else(|e| panic!("re-encoded block does not decode: {e}"));
        assert_eq!(back, fields, "round trip changed the fields");
        assert_eq!(enc.table_size(), dec2.table_size(), "tables out of step");
    }
});
