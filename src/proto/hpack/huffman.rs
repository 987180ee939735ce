//! The Huffman code of HPACK (RFC 7541 §5.2 and Appendix B): encoding, and a strict decoder.
//!
//! The code is canonical: within one length, codes count up in symbol order, and the first
//! code of each length follows the last code of the length before. So the table's lengths
//! alone determine every code; the decoder is built from them at compile time (a count and a
//! first code per length, and the symbols in code order), and a test checks the typed codes
//! against the lengths. Decoding walks one bit at a time; strings in header blocks are short.

use crate::error::{Error, Result};
use crate::proto::h2::ErrorCode;

/// The end-of-string symbol. It must never appear inside a string (§5.2).
const EOS: u16 = 256;

/// The longest code, in bits (EOS and a few control bytes).
const MAX_LEN: usize = 30;

/// Appendix B: the code of each symbol 0-255 and EOS (256), aligned to the least significant
/// bit, and its length in bits. Typed in from the RFC's "code as hex" and "len" columns.
#[rustfmt::skip]
pub(super) const CODES: [(u32, u8); 257] = [
    // 0-15
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    // 16-31
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    // 32-47: ' ' ! " # $ % & ' ( ) * + , - . /
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    // 48-63: 0-9 : ; < = > ?
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    // 64-79: @ A-O
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    // 80-95: P-Z [ \ ] ^ _
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    // 96-111: ` a-o
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    // 112-127: p-z { | } ~ DEL
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    // 128-143
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    // 144-159
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    // 160-175
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    // 176-191
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    // 192-207
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    // 208-223
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    // 224-239
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    // 240-255
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    // 256: EOS
    (0x3fffffff, 30),
];

/// The canonical decoding tables, derived from the code lengths.
struct Canonical {
    /// How many codes have each length.
    count: [u16; MAX_LEN + 1],
    /// The first (smallest) code of each length.
    first: [u32; MAX_LEN + 1],
    /// Where the symbols of each length start in `symbols`.
    offset: [u16; MAX_LEN + 1],
    /// All symbols, ordered by (length, symbol): the order of their codes.
    symbols: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut count = [0u16; MAX_LEN + 1];
    let mut i = 0;
    while i < CODES.len() {
        count[CODES[i].1 as usize] += 1;
        i += 1;
    }
    let mut first = [0u32; MAX_LEN + 1];
    let mut offset = [0u16; MAX_LEN + 1];
    let mut code = 0u32;
    let mut seen = 0u16;
    let mut len = 1;
    while len <= MAX_LEN {
        code = (code + count[len - 1] as u32) << 1;
        first[len] = code;
        offset[len] = seen;
        seen += count[len];
        len += 1;
    }
    let mut symbols = [0u16; 257];
    let mut next = offset;
    let mut sym = 0;
    while sym < CODES.len() {
        let l = CODES[sym].1 as usize;
        symbols[next[l] as usize] = sym as u16;
        next[l] += 1;
        sym += 1;
    }
    Canonical {
        count,
        first,
        offset,
        symbols,
    }
}

static CANONICAL: Canonical = canonical();

/// How many bytes `src` takes Huffman-encoded.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-encoded to `dst`, padded to a whole byte with the most significant
/// bits of EOS (ones), as §5.2 requires.
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Bits not yet written, right-aligned in `acc`; fewer than 8 between symbols, so a 30-bit
    // code always fits.
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        n += u32::from(len);
        while n >= 8 {
            n -= 8;
            dst.push((acc >> n) as u8);
        }
        acc &= (1 << n) - 1;
    }
    if n > 0 {
        let pad = 8 - n;
        dst.push(((acc << pad) | ((1 << pad) - 1)) as u8);
    }
}

/// Decodes the Huffman-encoded `src`, appending to `dst` at most `max_len` bytes.
///
/// # Errors
///
/// A [`Compression`](ErrorCode::Compression) connection error if `src` holds the EOS symbol,
/// ends in padding longer than 7 bits or padding that is not all ones (§5.2), or decodes to
/// more than `max_len` bytes.
pub fn decode(src: &[u8], dst: &mut Vec<u8>, max_len: usize) -> Result<()> {
    let t = &CANONICAL;
    let start = dst.len();
    // The bits read since the last whole symbol, and how many.
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let idx = code.wrapping_sub(t.first[len]);
            if idx < u32::from(t.count[len]) {
                let sym = t.symbols[usize::from(t.offset[len]) + idx as usize];
                if sym == EOS {
                    return Err(huffman_error("eos symbol in a huffman-coded string"));
                }
                if dst.len() - start == max_len {
                    return Err(huffman_error("huffman-coded string longer than its limit"));
                }
                dst.push(sym as u8);
                code = 0;
                len = 0;
            } else if len == MAX_LEN {
                // Cannot happen with the complete code of Appendix B (every 30-bit string
                // holds a code), but an index must never go past the tables.
                return Err(huffman_error("invalid huffman code"));
            }
        }
    }
    // What is left must be a prefix of EOS (all ones) shorter than a byte.
    if len > 7 {
        return Err(huffman_error("huffman padding longer than 7 bits"));
    }
    if code != (1 << len) - 1 {
        return Err(huffman_error("huffman padding not all ones"));
    }
    Ok(())
}

fn huffman_error(what: &'static str) -> Error {
    Error::h2_connection(ErrorCode::Compression, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Http2Error};

    /// The typed codes are the canonical code their lengths define, and the code is complete
    /// (Kraft's sum is exactly 1): one wrong digit or length in the table fails here.
    #[test]
    fn table_is_the_canonical_code_of_its_lengths() {
        let t = &CANONICAL;
        let mut want = [0u32; MAX_LEN + 1];
        want.copy_from_slice(&t.first);
        for &sym in t.symbols.iter() {
            let (code, len) = CODES[usize::from(sym)];
            assert_eq!(code, want[usize::from(len)], "symbol {sym}");
            want[usize::from(len)] += 1;
        }
        let kraft: u64 = CODES
            .iter()
            .map(|&(_, l)| 1u64 << (MAX_LEN - usize::from(l)))
            .sum();
        assert_eq!(kraft, 1 << MAX_LEN);
        assert_eq!(CODES[usize::from(EOS)], (0x3fff_ffff, 30));
        assert_eq!(CODES[usize::from(b'/')], (0x18, 6), "the RFC's example");
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Every Huffman-coded string of RFC 7541 Appendix C.4 and C.6.
    #[test]
    fn appendix_c_strings() {
        let cases: &[(&str, &str)] = &[
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("302", "6402"),
            ("307", "640e ff"),
            ("private", "aec3 771a 4b"),
            (
                "Mon, 21 Oct 2013 20:13:21 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            ),
            (
                "Mon, 21 Oct 2013 20:13:22 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff",
            ),
            (
                "https://www.example.com",
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            ),
            ("gzip", "9bd9 ab"),
            (
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ),
        ];
        for (text, hex) in cases {
            let wire = unhex(hex);
            let mut enc = Vec::new();
            encode(text.as_bytes(), &mut enc);
            assert_eq!(enc, wire, "{text}");
            assert_eq!(encoded_len(text.as_bytes()), wire.len(), "{text}");
            let mut dec = Vec::new();
            decode(&wire, &mut dec, usize::MAX).unwrap();
            assert_eq!(dec, text.as_bytes());
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for s in [&all[..], b"", b"a", &[0xff; 3], &[0; 7]] {
            let mut enc = Vec::new();
            encode(s, &mut enc);
            let mut dec = Vec::new();
            decode(&enc, &mut dec, s.len()).unwrap();
            assert_eq!(dec, s);
        }
        // Each byte alone, so every code meets the padding rule at the end.
        for b in 0..=255u8 {
            let mut enc = Vec::new();
            encode(&[b], &mut enc);
            let mut dec = Vec::new();
            decode(&enc, &mut dec, 1).unwrap();
            assert_eq!(dec, [b]);
        }
    }

    #[test]
    fn bad_strings() {
        let cases: &[(&str, &[u8], usize)] = &[
            // 30 ones, then two bits of padding: the EOS symbol itself.
            ("eos", &[0xff, 0xff, 0xff, 0xff], 10),
            // 'a' (00011) then EOS.
            ("eos_after_symbol", &[0x1f, 0xff, 0xff, 0xff, 0xff], 10),
            // A whole byte of ones after 'a' + padding: 3 + 8 = 11 bits of padding.
            ("padding_too_long", &[0x1f, 0xff], 10),
            ("padding_byte_alone", &[0xff], 10),
            // 'a' then 000 padding.
            ("padding_zeros", &[0x18], 10),
            // '0' (00000) then 101 padding.
            ("padding_mixed", &[0x05], 10),
            // "aa": two symbols where one is allowed.
            ("over_limit", &[0x18, 0xff], 1),
        ];
        for (name, wire, max) in cases {
            let mut dst = Vec::new();
            let e = decode(wire, &mut dst, *max).expect_err(name);
            assert_eq!(
                e.kind(),
                ErrorKind::Http2(Http2Error::Connection(ErrorCode::Compression)),
                "{name}"
            );
        }
        // The good forms of the same: 'a' with 111 padding; an empty string.
        let mut dst = Vec::new();
        decode(&[0x1f], &mut dst, 1).unwrap();
        assert_eq!(dst, b"a");
        dst.clear();
        decode(&[], &mut dst, 0).unwrap();
        assert!(dst.is_empty());
    }
}
