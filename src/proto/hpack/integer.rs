//! HPACK's prefixed integers (RFC 7541 §5.1): encoding, and decoding with overflow checks.

use crate::error::{Error, Result};
use crate::proto::h2::ErrorCode;

/// The largest value [`decode`] accepts: 2^32 - 1. Indices, string lengths and table sizes
/// (a `SETTINGS` value is 32 bits) all fit.
pub const MAX_VALUE: u64 = u32::MAX as u64;

/// The most continuation octets [`decode`] reads: five carry 35 bits, enough for
/// [`MAX_VALUE`] after any prefix. Longer encodings (runs of `0x80` octets that add nothing)
/// are refused.
const MAX_CONTINUATION: usize = 5;

/// Appends `value` as an integer with an `prefix_bits`-bit prefix (1 to 8); `first` holds the
/// bits above the prefix in the first octet (a representation's pattern, such as `0x80`).
pub fn encode(value: u64, prefix_bits: u8, first: u8, dst: &mut Vec<u8>) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = (1u64 << prefix_bits) - 1;
    if value < max_prefix {
        dst.push(first | value as u8);
        return;
    }
    dst.push(first | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 128 {
        dst.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    dst.push(rest as u8);
}

/// Decodes an integer with an `prefix_bits`-bit prefix from the start of `src` (the bits above
/// the prefix in the first octet are ignored). Returns the value and how many octets it took.
///
/// # Errors
///
/// A [`Compression`](ErrorCode::Compression) connection error if `src` ends inside the
/// integer (a header block is decoded whole, so this is a truncated block), if the value is
/// above [`MAX_VALUE`], or if it takes more than five continuation octets.
pub fn decode(src: &[u8], prefix_bits: u8) -> Result<(u64, usize)> {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = (1u64 << prefix_bits) - 1;
    let Some(&b0) = src.first() else {
        return Err(truncated());
    };
    let mut value = u64::from(b0) & max_prefix;
    if value < max_prefix {
        return Ok((value, 1));
    }
    for (i, &b) in src[1..].iter().enumerate() {
        if i == MAX_CONTINUATION {
            return Err(overflow());
        }
        // At most 5 * 7 = 35 bits above a prefix of at most 255: no u64 overflow.
        value += u64::from(b & 0x7f) << (7 * i);
        if value > MAX_VALUE {
            return Err(overflow());
        }
        if b & 0x80 == 0 {
            return Ok((value, i + 2));
        }
    }
    Err(truncated())
}

fn truncated() -> Error {
    Error::h2_connection(
        ErrorCode::Compression,
        "header block ends inside an integer",
    )
}

fn overflow() -> Error {
    Error::h2_connection(ErrorCode::Compression, "integer too large in header block")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7541 Appendix C.1, and the edges of each prefix.
    #[test]
    fn examples_and_edges() {
        let cases: &[(&str, u64, u8, &[u8])] = &[
            ("c_1_1_ten_in_5_bits", 10, 5, &[0x0a]),
            ("c_1_2_1337_in_5_bits", 1337, 5, &[0x1f, 0x9a, 0x0a]),
            ("c_1_3_42_in_8_bits", 42, 8, &[0x2a]),
            ("prefix_minus_one", 30, 5, &[0x1e]),
            ("prefix_full", 31, 5, &[0x1f, 0x00]),
            ("zero", 0, 7, &[0x00]),
            ("one_bit_prefix", 1, 1, &[0x01, 0x00]),
            (
                "max_in_8_bits",
                MAX_VALUE,
                8,
                &[0xff, 0x80, 0xfe, 0xff, 0xff, 0x0f],
            ),
            (
                "max_in_1_bit",
                MAX_VALUE,
                1,
                &[0x01, 0xfe, 0xff, 0xff, 0xff, 0x0f],
            ),
        ];
        for (name, value, prefix, wire) in cases {
            let mut enc = Vec::new();
            encode(*value, *prefix, 0, &mut enc);
            assert_eq!(enc, *wire, "{name}");
            // The bits above the prefix do not change the value.
            let mut with_pattern = wire.to_vec();
            if *prefix < 8 {
                with_pattern[0] |= 0xff << prefix;
            }
            for w in [wire.to_vec(), with_pattern] {
                let (got, used) = decode(&w, *prefix).unwrap();
                assert_eq!((got, used), (*value, wire.len()), "{name}");
            }
            // Every cut short of the end is a truncated block, never a wrong value.
            for cut in 0..wire.len() {
                assert!(decode(&wire[..cut], *prefix).is_err(), "{name} cut {cut}");
            }
        }
    }

    #[test]
    fn overflow_and_overlong() {
        let cases: &[(&str, u8, &[u8])] = &[
            (
                "2_pow_32_in_8_bits",
                8,
                &[0xff, 0x81, 0xfe, 0xff, 0xff, 0x0f],
            ),
            (
                "2_pow_32_in_5_bits",
                5,
                &[0x1f, 0xe1, 0xff, 0xff, 0xff, 0x0f],
            ),
            (
                "huge",
                5,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            ),
            (
                "six_continuations",
                5,
                &[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            ),
            ("endless", 5, &[0xff; 64]),
        ];
        for (name, prefix, wire) in cases {
            assert!(decode(wire, *prefix).is_err(), "{name}");
        }
        // Five continuation octets, the last adding nothing: accepted.
        assert_eq!(
            decode(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5).unwrap(),
            (31, 6)
        );
    }
}
