//! Fuzz target for the request-head parser: `head::parse_request`, `head::find_end` and
//! `framing::request` on arbitrary bytes.
//!
//! Beyond "never panics", it checks the properties the server relies on:
//!
//! - a complete head fits in the buffer and in the limits, and tighter limits only ever turn a
//!   complete head into an error, never into a different head;
//! - `find_end` sees the end of every complete head no later than the parser does (it may see
//!   one earlier: `parse_request` skips empty lines before the request line, as RFC 9112 §2.2
//!   allows, and `find_end` counts such a line as the end of a head);
//! - parsing the buffer cut where `find_end` first sees an end never turns a valid head into an
//!   error, so a server that waits for `find_end` before parsing accepts what the parser accepts;
//! - `find_end` resumed from an earlier buffer length finds the same end as a fresh scan;
//! - the bytes after the head do not change the head, and a head written back out with
//!   `proto::write` parses again to the same head;
//! - a request never reads until close.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::proto::framing::{self, Framing};
use nethttp::proto::head::{find_end, parse_request, Parsed, RequestHead};
use nethttp::proto::{write, Limits};

/// Tight limits, so that the limit paths (`TooLarge`) are reached by short inputs too.
const SMALL: Limits = Limits {
    max_head_bytes: 128,
    max_headers: 4,
    max_chunk_ext_bytes: Limits::DEFAULT_MAX_CHUNK_EXT_BYTES,
};

fuzz_target!(|data: &[u8]| {
    check_find_end_resumes(data);
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
fn check(data: &[u8], limits: &Limits) -> Option<(RequestHead, usize)> {
    let Ok(Parsed::Complete { head, len }) = parse_request(data, limits) else {
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

    // The head is a function of its own bytes only.
    match parse_request(&data[..len], limits) {
        Ok(Parsed::Complete {
            head: again,
            len: l,
        }) => {
            assert_eq!(l, len, "the same head re-parsed to another length");
            assert_same_head(&again, &head);
        }
        other => panic!("the head alone did not parse: {other:?}"),
    }

    // Framing must not panic, and a request never reads until close.
    if let Ok(f) = framing::request(head.version, &head.headers) {
        assert_ne!(f, Framing::UntilClose, "a request framed until close");
    }
    Some((head, len))
}

/// A server parses when `find_end` first sees an end; a head that parses when complete must not
/// be an error at that point.
fn check_cut_at_find_end(data: &[u8], len: usize) {
    let end = find_end(data, 0).expect("checked in check()");
    match parse_request(&data[..end], &Limits::default()) {
        Ok(Parsed::Partial) => assert!(end < len, "partial at the full head"),
        Ok(Parsed::Complete { len: l, .. }) => assert_eq!(l, len),
        Err(e) => panic!("a valid head is an error when cut at find_end ({end}): {e}"),
    }
}

/// `find_end(buf, from)` where `buf[..from]` held no end must give what `find_end(buf, 0)` does.
fn check_find_end_resumes(data: &[u8]) {
    let whole = find_end(data, 0);
    let n = data.len();
    for from in [
        1,
        2,
        3,
        n / 3,
        n / 2,
        n.saturating_sub(3),
        n.saturating_sub(1),
        n,
    ] {
        let from = from.min(n);
        if find_end(&data[..from], 0).is_none() {
            assert_eq!(find_end(data, from), whole, "resumed at {from}");
        }
    }
}

/// Writes the head back out as the client would and parses it again.
fn check_round_trip(head: &RequestHead) {
    let target = head.uri.to_string();
    let mut wire = Vec::new();
    write::request_line(&mut wire, &head.method, &target, head.version);
    write::write_fields(&head.headers, &mut wire);
    write::end(&mut wire);
    match parse_request(&wire, &Limits::default()) {
        Ok(Parsed::Complete { head: again, len }) => {
            assert_eq!(len, wire.len());
            assert_eq!(again.method, head.method);
            assert_eq!(again.version, head.version);
            assert_eq!(again.headers, head.headers);
            assert_eq!(
                again.uri.to_string(),
                target,
                "the target is not a fixed point"
            );
        }
        other => panic!(
            "written head did not parse again: {other:?}\n{}",
            String::from_utf8_lossy(&wire)
        ),
    }
}

fn assert_same_head(a: &RequestHead, b: &RequestHead) {
    assert_eq!(a.method, b.method);
    assert_eq!(a.uri, b.uri);
    assert_eq!(a.version, b.version);
    assert_eq!(a.headers, b.headers);
}
