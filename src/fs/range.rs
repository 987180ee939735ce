//! Range requests for the file server (RFC 9110 §14): parsing `Range`, the rules for range
//! sets not worth honouring, and the `multipart/byteranges` layout with its length known in
//! advance. mod.rs decides the status and streams the parts.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `sumRangesSize > size` rule: if the ranges add up to more bytes than the content has,
/// the request is an attack or a confused client, and the whole content is sent instead.
/// RFC 9110 §14.2 lets a server ignore such a `Range`.
pub(crate) const RULE_SUM_EXCEEDS_SIZE: &str = "sum_exceeds_size";

/// More ranges than this are answered with the whole content (Apache's `MaxRanges` default;
/// Go has no such limit).
pub(crate) const MAX_RANGES: usize = 200;

/// The rule name for [`MAX_RANGES`].
pub(crate) const RULE_TOO_MANY_RANGES: &str = "too_many_ranges";

/// More overlaps than this between ranges are answered with the whole content: RFC 9110 §14.2
/// names "more than two overlapping ranges" as a sign of a broken client or an attack.
pub(crate) const MAX_OVERLAPS: usize = 2;

/// The rule name for [`MAX_OVERLAPS`].
pub(crate) const RULE_TOO_MANY_OVERLAPS: &str = "too_many_overlaps";

/// One satisfiable byte range: `length` bytes from `start`, both within the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) start: u64,
    pub(crate) length: u64,
}

impl ByteRange {
    /// The `Content-Range` value for this range of content of `size` bytes.
    pub(crate) fn content_range(&self, size: u64) -> String {
        format!(
            "bytes {}-{}/{}",
            self.start,
            self.start + self.length - 1,
            size
        )
    }
}

/// Why a `Range` header cannot be honoured; both are answered with 416.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeError {
    /// The value is not a valid `bytes` ranges-specifier: `bytes=--6`, `bytes=5-1`, `bytes=x`,
    /// `bytes=` with no range.
    Invalid,
    /// Valid, but no range overlaps the content (every first-pos is at or past the end, or
    /// every suffix is `-0`).
    NoOverlap,
}

/// Parses a `Range` value against content of `size` bytes (RFC 9110 §14.1.1, §14.1.2).
///
/// `Ok(None)` means ignore the header: its range unit is not `bytes` (§14.2: "an origin
/// server MUST ignore a Range header field that contains a range unit it does not
/// understand"; Go answers 416). Units compare case-insensitively (§14.1). Otherwise the
/// satisfiable ranges, clamped to the content, in the order given; unsatisfiable ones are
/// dropped. Where Go is lax this is stricter: positions are digits only (no `+`), and a
/// first-pos after last-pos is invalid even when it is past the end. A last-pos or suffix too
/// large for `u64` is clamped rather than rejected.
pub(crate) fn parse(value: &[u8], size: u64) -> Result<Option<Vec<ByteRange>>, RangeError> {
    let s = std::str::from_utf8(value).map_err(|_| RangeError::Invalid)?;
    let (unit, set) = s.split_once('=').ok_or(RangeError::Invalid)?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return if is_token(unit) {
            Ok(None)
        } else {
            Err(RangeError::Invalid)
        };
    }
    let mut ranges = Vec::new();
    let mut specs = 0usize;
    for spec in set.split(',') {
        // RFC 9110 §5.6.1: recipients accept empty list elements and optional whitespace.
        let spec = spec.trim_matches([' ', '\t']);
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        let (first, last) = spec.split_once('-').ok_or(RangeError::Invalid)?;
        let (first, last) = (
            first.trim_matches([' ', '\t']),
            last.trim_matches([' ', '\t']),
        );
        if first.is_empty() {
            // suffix-range = "-" suffix-length: the last N bytes, all of them if N > size.
            let n = digits(last).ok_or(RangeError::Invalid)?;
            let n = n.min(size);
            // §14.1.1: only a non-zero suffix-length is satisfiable (Go sends an empty 206).
            if n > 0 {
                ranges.push(ByteRange {
                    start: size - n,
                    length: n,
                });
            }
            continue;
        }
        let start = digits(first).ok_or(RangeError::Invalid)?;
        let end = if last.is_empty() {
            None
        } else {
            let end = digits(last).ok_or(RangeError::Invalid)?;
            // §14.1.1: an int-range with last-pos < first-pos is invalid.
            if end < start {
                return Err(RangeError::Invalid);
            }
            Some(end)
        };
        if start >= size {
            continue;
        }
        let end = end.map_or(size - 1, |e| e.min(size - 1));
        ranges.push(ByteRange {
            start,
            length: end - start + 1,
        });
    }
    if specs == 0 {
        // §14.1.1: ranges-set = 1#range-spec.
        return Err(RangeError::Invalid);
    }
    if ranges.is_empty() {
        return Err(RangeError::NoOverlap);
    }
    Ok(Some(ranges))
}

/// `1*DIGIT` as a number, saturating at `u64::MAX`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, c| {
        n.saturating_mul(10).saturating_add(u64::from(c - b'0'))
    }))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// The rule, if any, by which a parsed range set is ignored in favour of the whole content.
pub(crate) fn ignore_rule(ranges: &[ByteRange], size: u64) -> Option<&'static str> {
    let sum = ranges.iter().fold(0u64, |s, r| s.saturating_add(r.length));
    if sum > size {
        return Some(RULE_SUM_EXCEEDS_SIZE);
    }
    if ranges.len() > MAX_RANGES {
        return Some(RULE_TOO_MANY_RANGES);
    }
    if overlaps(ranges) > MAX_OVERLAPS {
        return Some(RULE_TOO_MANY_OVERLAPS);
    }
    None
}

/// How many ranges start before the end of some range that starts no later.
fn overlaps(ranges: &[ByteRange]) -> usize {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut n = 0;
    let mut max_end = 0u64;
    for (i, r) in sorted.iter().enumerate() {
        if i > 0 && r.start < max_end {
            n += 1;
        }
        max_end = max_end.max(r.start + r.length);
    }
    n
}

/// A `multipart/byteranges` body laid out in advance (RFC 9110 §14.6): the head of each part,
/// the closing delimiter and the total length, so `Content-Length` is exact before a byte is
/// sent. Part `i` is `heads[i]` followed by the bytes of range `i`; the body ends with `tail`.
#[derive(Debug)]
pub(crate) struct Multipart {
    pub(crate) boundary: String,
    pub(crate) heads: Vec<Vec<u8>>,
    pub(crate) tail: Vec<u8>,
    pub(crate) len: u64,
}

impl Multipart {
    /// Lays out `ranges` of content of `size` bytes whose type is `ctype` (may be empty, then
    /// parts carry no `Content-Type`).
    pub(crate) fn new(ranges: &[ByteRange], ctype: &str, size: u64) -> Multipart {
        Multipart::with_boundary(new_boundary(), ranges, ctype, size)
    }

    pub(crate) fn with_boundary(
        boundary: String,
        ranges: &[ByteRange],
        ctype: &str,
        size: u64,
    ) -> Multipart {
        let mut heads = Vec::with_capacity(ranges.len());
        let mut len = 0u64;
        for (i, r) in ranges.iter().enumerate() {
            // RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter.
            let mut h = String::new();
            if i > 0 {
                h.push_str("\r\n");
            }
            h.push_str("--");
            h.push_str(&boundary);
            h.push_str("\r\n");
            if !ctype.is_empty() {
                h.push_str("Content-Type: ");
                h.push_str(ctype);
                h.push_str("\r\n");
            }
            h.push_str("Content-Range: ");
            h.push_str(&r.content_range(size));
            h.push_str("\r\n\r\n");
            len += h.len() as u64 + r.length;
            heads.push(h.into_bytes());
        }
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        len += tail.len() as u64;
        Multipart {
            boundary,
            heads,
            tail,
            len,
        }
    }

    /// The response's `Content-Type`.
    pub(crate) fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }
}

/// A boundary unlikely to occur in any content: 32 hex digits from std's randomly keyed
/// hasher (seeded by the OS once per thread, different for every `RandomState`) over the time
/// and a process-wide counter.
fn new_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = String::with_capacity(32);
    for salt in 0..2u8 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(nanos);
        h.write_u8(salt);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, length: u64) -> ByteRange {
        ByteRange { start, length }
    }

    type Want = Result<Option<Vec<ByteRange>>, RangeError>;

    #[test]
    fn parse_table() {
        use RangeError::*;
        let size = 10;
        let cases: Vec<(&str, &str, Want)> = vec![
            ("single", "bytes=0-4", Ok(Some(vec![r(0, 5)]))),
            ("single_last_byte", "bytes=9-9", Ok(Some(vec![r(9, 1)]))),
            ("open", "bytes=2-", Ok(Some(vec![r(2, 8)]))),
            ("suffix", "bytes=-3", Ok(Some(vec![r(7, 3)]))),
            (
                "suffix_larger_than_size",
                "bytes=-20",
                Ok(Some(vec![r(0, 10)])),
            ),
            ("last_pos_clamped", "bytes=5-100", Ok(Some(vec![r(5, 5)]))),
            (
                "last_pos_overflows_u64",
                "bytes=5-99999999999999999999999",
                Ok(Some(vec![r(5, 5)])),
            ),
            ("multiple", "bytes=0-0,-2", Ok(Some(vec![r(0, 1), r(8, 2)]))),
            (
                "whitespace_and_empty_elements",
                "bytes= 0-1 , ,\t3-4,",
                Ok(Some(vec![r(0, 2), r(3, 2)])),
            ),
            (
                "unit_case_insensitive",
                "Bytes=0-1",
                Ok(Some(vec![r(0, 2)])),
            ),
            (
                "unsatisfiable_dropped",
                "bytes=20-30,0-1",
                Ok(Some(vec![r(0, 2)])),
            ),
            ("unknown_unit_ignored", "items=0-1", Ok(None)),
            ("start_at_size", "bytes=10-", Err(NoOverlap)),
            ("start_past_size", "bytes=11-20", Err(NoOverlap)),
            ("suffix_zero", "bytes=-0", Err(NoOverlap)),
            ("double_dash", "bytes=--6", Err(Invalid)),
            ("first_after_last", "bytes=5-1", Err(Invalid)),
            ("first_after_last_past_end", "bytes=50-10", Err(Invalid)),
            ("no_dash", "bytes=5", Err(Invalid)),
            ("only_dash", "bytes=-", Err(Invalid)),
            ("empty_set", "bytes=", Err(Invalid)),
            ("only_commas", "bytes=,,", Err(Invalid)),
            ("plus_sign", "bytes=+1-2", Err(Invalid)),
            ("negative_last", "bytes=1--2", Err(Invalid)),
            ("letters", "bytes=a-b", Err(Invalid)),
            ("no_equals", "bytes 0-1", Err(Invalid)),
            ("space_in_unit", "by tes=0-1", Err(Invalid)),
            ("hex", "bytes=0x1-2", Err(Invalid)),
        ];
        for (name, input, want) in cases {
            assert_eq!(parse(input.as_bytes(), size), want, "{name}");
        }
    }

    #[test]
    fn empty_content() {
        assert_eq!(parse(b"bytes=0-", 0), Err(RangeError::NoOverlap));
        assert_eq!(parse(b"bytes=-5", 0), Err(RangeError::NoOverlap));
    }

    #[test]
    fn ignore_rules() {
        let cases: Vec<(&str, Vec<ByteRange>, u64, Option<&str>)> = vec![
            ("fine", vec![r(0, 2), r(5, 2)], 10, None),
            ("adjacent_not_overlapping", vec![r(0, 5), r(5, 5)], 10, None),
            (
                "two_overlaps_allowed",
                vec![r(0, 2), r(1, 2), r(2, 2)],
                10,
                None,
            ),
            (
                "sum_exceeds_size",
                vec![r(0, 10), r(0, 10)],
                10,
                Some(RULE_SUM_EXCEEDS_SIZE),
            ),
            (
                "three_overlaps",
                vec![r(0, 1), r(0, 1), r(0, 1), r(0, 1)],
                10,
                Some(RULE_TOO_MANY_OVERLAPS),
            ),
            (
                "too_many_ranges",
                (0..=MAX_RANGES as u64).map(|i| r(i * 2, 1)).collect(),
                10_000,
                Some(RULE_TOO_MANY_RANGES),
            ),
        ];
        for (name, ranges, size, want) in cases {
            assert_eq!(ignore_rule(&ranges, size), want, "{name}");
        }
    }

    #[test]
    fn multipart_length_matches_layout() {
        let ranges = [r(0, 1), r(8, 2)];
        let m = Multipart::with_boundary("B".into(), &ranges, "text/plain", 10);
        let body: Vec<u8> = [&m.heads[0][..], b"0", &m.heads[1][..], b"89", &m.tail[..]].concat();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n0\
             \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\
             \r\n--B--\r\n"
        );
        assert_eq!(m.len, body.len() as u64);
        assert_eq!(m.content_type(), "multipart/byteranges; boundary=B");
    }

    #[test]
    fn boundaries_differ() {
        let a = new_boundary();
        let b = new_boundary();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
