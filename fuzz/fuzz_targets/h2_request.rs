//! Fuzz target for the HTTP/2 request field rules, `h2::message::request_parts`, the check a
//! server makes on every decoded request header list (RFC 9113 §8.1.1, §8.2, §8.3).
//!
//! Input layout: fields separated by a 0x00 octet, each a name and a value separated by the
//! first 0x01 octet (a field without one has an empty value).
//!
//! Properties:
//!
//! - no panic, and the only error is a `PROTOCOL_ERROR` stream error on the request's stream;
//! - an accepted request has a method, a target in origin form (or `*` for `OPTIONS`, an
//!   authority for `CONNECT`), no connection-specific field, no pseudo-header among its
//!   fields, and `te` only as `trailers`;
//! - its `host` field is the `:authority` when one was sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nethttp::error::Http2Error;
use nethttp::proto::h2::message::{is_connection_specific, request_parts};
use nethttp::proto::h2::ErrorCode;
use nethttp::proto::hpack::Field;
use nethttp::{ErrorKind, Method};

fuzz_target!(|data: &[u8]| {
    let fields: Vec<Field> = data
        .split(|&b| b == 0)
        .map(|f| match f.iter().position(|&b| b == 1) {
            Some(i) => Field::new(&f[..i], &f[i + 1..]),
            None => Field::new(f, &b""[..]),
        })
        .collect();
    let authority = fields
        .iter()
        .find(|f| f.name == b":authority")
        .map(|f| f.value.clone());
    match request_parts(7, fields) {
        Err(e) => assert_eq!(
            e.kind(),
            ErrorKind::Http2(Http2Error::Stream {
                stream_id: 7,
                code: ErrorCode::Protocol
            }),
            "{e}"
        ),
        Ok(p) => {
            let target = p.target.to_string();
            if p.method == Method::CONNECT {
                assert!(p.authority.is_some());
            } else {
                assert!(target.starts_with('/') || (target == "*" && p.method == Method::OPTIONS));
            }
            for (name, value) in &p.headers {
                assert!(!name.as_str().starts_with(':'));
                assert!(!is_connection_specific(name.as_str().as_bytes()));
                if name == "te" {
                    assert_eq!(value, "trailers");
                }
            }
            if let Some(a) = authority {
                assert_eq!(p.headers["host"].as_bytes(), &a[..]);
            }
        }
    }
});
