//! Fuzz target for the response-head parser: `head::parse_response`, `head::find_end` and
//! `framing::response` (for a GET and a HEAD) on arbitrary bytes.
//!
//! Beyond "never panics", it checks the properties the client relies on:
//!
//! - a complete head fits in the buffer and in the limits, and tighter limits only ever turn a
//!   complete head into an error, never into a different head;
//! - `find_end` sees the end of every complete head no later than the parser does, and parsing
//!   the buffer cut there never turns a valid head into an error;
//! - the bytes after the head do not change the head, and a head written back out with
//!   `proto::write` parses again to the same head;
//! - RFC 9112 §6.3 rule 1: a response to HEAD, and a 1xx, 204 or 304 response, has no body
//!   whatever its header fields say.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::proto::framing::{self, Framing};
use nethttp::proto::head::{find_end, parse_response, Parsed, ResponseHead};
use nethttp::proto::{write, Limits};
use nethttp::{Method, StatusCode};

/// Tight limits, so that the limit paths (`TooLarge`) are reached by short inputs too.
const SMALL: Limits = Limits {
    max_head_bytes: 128,
    max_headers: 4,
    max_chunk_ext_bytes: Limits::DEFAULT_MAX_CHUNK_EXT_BYTES,
};

fuzz_target!(|data: &[u8]| {
    let full = check(data, &Limits::default());
    let small = check(data, &SMALL);
    if let Some((small_head, small_len)) = small {
        let Some((head, len)) = &full else {
            panic!("complete under small limits but not under the defaults");
        };
        assert_eq!(small_len, *len, "limits changed the head length");
        assert_same_head(&small_head, head);
    }
    if let Some((head, len)) = full {
        check_cut_at_find_end(data, len);
        check_round_trip(&head);
    }
});

/// Parses `data` under `limits`, checks the properties of a complete head, and returns it.
fn check(data: &[u8], limits: &Limits) -> Option<(ResponseHead, usize)> {
    let Ok(Parsed::Complete { head, len }) = parse_response(data, limits) else {
        return None;
    };
    assert!(
        len <= data.len(),
        "head length {len} > buffer {}",
        data.len()
    );
    assert!(
        len <= limits.max_head_bytes,
        "head length {len} over the limit"
    );
    assert!(
        head.headers.len() <= limits.max_headers,
        "{} fields over the limit",
        head.headers.len()
    );
    match find_end(data, 0) {
        Some(end) => assert!(end <= len, "find_end {end} after the parsed end {len}"),
        None => panic!("parser found a complete head of {len} bytes, find_end found none"),
    }

    match parse_response(&data[..len], limits) {
        Ok(Parsed::Complete {
            head: again,
            len: l,
        }) => {
            assert_eq!(l, len, "the same head re-parsed to another length");
            assert_same_head(&again, &head);
        }
        other => panic!("the head alone did not parse: {other:?}"),
    }

    let get = framing::response(&Method::GET, head.status, head.version, &head.headers);
    let s = head.status;
    if s.is_informational() || s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED {
        assert_eq!(get.ok(), Some(Framing::Empty), "{s} must have no body");
    }
    let to_head = framing::response(&Method::HEAD, head.status, head.version, &head.headers);
    assert_eq!(
        to_head.ok(),
        Some(Framing::Empty),
        "a response to HEAD must have no body"
    );
    Some((head, len))
}

/// A client parses when `find_end` first sees an end; a head that parses when complete must not
/// be an error at that point.
fn check_cut_at_find_end(data: &[u8], len: usize) {
    let end = find_end(data, 0).expect("checked in check()");
    match parse_response(&data[..end], &Limits::default()) {
        Ok(Parsed::Partial) => assert!(end < len, "partial at the full head"),
        Ok(Parsed::Complete { len: l, .. }) => assert_eq!(l, len),
        Err(e) => panic!("a valid head is an error when cut at find_end ({end}): {e}"),
    }
}

/// Writes the head back out as the server would and parses it again.
fn check_round_trip(head: &ResponseHead) {
    let mut wire = Vec::new();
    write::status_line(&mut wire, head.version, head.status);
    write::write_fields(&head.headers, &mut wire);
    write::end(&mut wire);
    match parse_response(&wire, &Limits::default()) {
        Ok(Parsed::Complete { head: again, len }) => {
            assert_eq!(len, wire.len());
            assert_same_head(&again, head);
        }
        other => panic!(
            "written head did not parse again: {other:?}\n{}",
            String::from_utf8_lossy(&wire)
        ),
    }
}

fn assert_same_head(a: &ResponseHead, b: &ResponseHead) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.version, b.version);
    assert_eq!(a.headers, b.headers);
}
