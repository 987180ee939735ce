//! File server tests: range and precondition tables through `serve_content`, path and
//! directory rules through `FileServer` and `serve_file` on a temporary directory, and
//! end-to-end runs through a real server on 127.0.0.1 with raw sockets and curl.

mod raw;

use raw::TempDir;

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nethttp::fs::{serve_content, serve_file};
use nethttp::http::header::{HeaderName, ETAG};
use nethttp::httptest::{self, ResponseRecorder};
use nethttp::{FileServer, Handler, Request, ResponseWriter, StatusCode};

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// The modification time used throughout: half a second past MOD_DATE, to check that
/// comparisons truncate to the second as `Last-Modified` does.
const MOD_SECS: u64 = 1_700_000_000;
const MOD_DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const MOD_DATE_RFC850: &str = "Tuesday, 14-Nov-23 22:13:20 GMT";
const MOD_DATE_ASCTIME: &str = "Tue Nov 14 22:13:20 2023";
const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
const AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";
const FAR_FUTURE: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

fn modtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(MOD_SECS * 1000 + 500)
}

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = httptest::request(method, target, ());
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).unwrap();
        r.headers.append(name, v.parse().unwrap());
    }
    r
}

/// `serve_content` of the alphabet as `alphabet.txt`, with an optional `ETag` set first.
fn serve_alphabet(
    method: &str,
    headers: &[(&str, &str)],
    etag: Option<&str>,
    modtime: Option<SystemTime>,
) -> ResponseRecorder {
    let mut rec = ResponseRecorder::new();
    if let Some(e) = etag {
        rec.headers_mut().insert(ETAG, e.parse().unwrap());
    }
    let r = request(method, "/alphabet.txt", headers);
    serve_content(&mut rec, &r, "alphabet.txt", modtime, Cursor::new(ALPHABET));
    rec
}

// ---------------------------------------------------------------------------------------
// Ranges

/// What a range request should get.
#[derive(Debug)]
enum Want {
    /// 200 with the whole content.
    Whole,
    /// 206 with one range: its Content-Range and bytes.
    Part(&'static str, &'static [u8]),
    /// 206 multipart/byteranges with these inclusive ranges, in order.
    Parts(&'static [(u64, u64)]),
    /// 416 with `Content-Range: bytes */26`.
    Unsatisfiable,
}

/// One part of a multipart/byteranges body: its Content-Type, Content-Range and bytes.
type Part = (String, String, Vec<u8>);

fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {content_type}"));
    let delim = format!("\r\n--{boundary}");
    let mut data = b"\r\n".to_vec();
    data.extend_from_slice(body);
    let mut pieces = Vec::new();
    let mut rest = &data[..];
    loop {
        assert!(rest.starts_with(delim.as_bytes()), "missing delimiter");
        rest = &rest[delim.len()..];
        if rest == b"--\r\n" {
            break;
        }
        assert!(rest.starts_with(b"\r\n"), "delimiter not followed by CRLF");
        rest = &rest[2..];
        let end = find(rest, delim.as_bytes()).expect("part not terminated");
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    pieces
        .into_iter()
        .map(|p| {
            let split = find(p, b"\r\n\r\n").expect("part head");
            let head = std::str::from_utf8(&p[..split]).unwrap();
            let mut ctype = String::new();
            let mut crange = String::new();
            for line in head.split("\r\n") {
                let (k, v) = line.split_once(": ").unwrap();
                match k {
                    "Content-Type" => ctype = v.to_string(),
                    "Content-Range" => crange = v.to_string(),
                    other => panic!("unexpected part header {other}"),
                }
            }
            (ctype, crange, p[split + 4..].to_vec())
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Checks `rec` against `want` for the alphabet, as any client would see it.
fn check_range(name: &str, method: &str, rec: &ResponseRecorder, want: &Want) {
    let head = method == "HEAD";
    if head {
        assert!(rec.body().is_empty(), "{name}: HEAD has no body");
    }
    // An error text has no Content-Length of its own: the server frames it.
    let cl: u64 = match want {
        Want::Unsatisfiable => rec.body().len() as u64,
        _ => rec
            .header("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or_else(|| panic!("{name}: no content-length")),
    };
    if !head {
        assert_eq!(cl, rec.body().len() as u64, "{name}: content-length");
    }
    match want {
        Want::Whole => {
            assert_eq!(rec.status(), StatusCode::OK, "{name}");
            assert_eq!(cl, 26, "{name}");
            assert_eq!(rec.header("content-range"), None, "{name}");
            assert_eq!(rec.header("accept-ranges"), Some("bytes"), "{name}");
            if !head {
                assert_eq!(rec.body(), ALPHABET, "{name}");
            }
        }
        Want::Part(crange, bytes) => {
            assert_eq!(rec.status(), StatusCode::PARTIAL_CONTENT, "{name}");
            assert_eq!(rec.header("content-range"), Some(*crange), "{name}");
            assert_eq!(rec.header("accept-ranges"), Some("bytes"), "{name}");
            assert_eq!(
                rec.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "{name}"
            );
            assert_eq!(cl, bytes.len() as u64, "{name}");
            if !head {
                assert_eq!(rec.body(), *bytes, "{name}");
            }
        }
        Want::Parts(ranges) => {
            assert_eq!(rec.status(), StatusCode::PARTIAL_CONTENT, "{name}");
            assert_eq!(rec.header("content-range"), None, "{name}");
            let ctype = rec.header("content-type").unwrap();
            if head {
                assert!(
                    ctype.starts_with("multipart/byteranges; boundary="),
                    "{name}"
                );
                return;
            }
            let parts = parse_multipart(ctype, rec.body());
            assert_eq!(parts.len(), ranges.len(), "{name}: part count");
            for ((pt, pr, data), (first, last)) in parts.iter().zip(ranges.iter()) {
                assert_eq!(pt, "text/plain; charset=utf-8", "{name}");
                assert_eq!(pr, &format!("bytes {first}-{last}/26"), "{name}");
                assert_eq!(
                    &data[..],
                    &ALPHABET[*first as usize..=*last as usize],
                    "{name}"
                );
            }
        }
        Want::Unsatisfiable => {
            assert_eq!(rec.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{name}");
            assert_eq!(rec.header("content-range"), Some("bytes */26"), "{name}");
            assert_eq!(
                rec.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "{name}"
            );
            assert_eq!(rec.header("last-modified"), None, "{name}");
        }
    }
}

/// Every range rule as a named case: (name, method, Range value, expected answer).
#[rustfmt::skip]
const RANGE_CASES: &[(&str, &str, &str, Want)] = &[
    ("no_range", "GET", "", Want::Whole),
    ("single", "GET", "bytes=0-4", Want::Part("bytes 0-4/26", b"abcde")),
    ("single_middle", "GET", "bytes=2-5", Want::Part("bytes 2-5/26", b"cdef")),
    ("single_last_byte", "GET", "bytes=25-25", Want::Part("bytes 25-25/26", b"z")),
    ("suffix", "GET", "bytes=-3", Want::Part("bytes 23-25/26", b"xyz")),
    ("suffix_longer_than_content", "GET", "bytes=-100", Want::Part("bytes 0-25/26", ALPHABET)),
    ("open", "GET", "bytes=20-", Want::Part("bytes 20-25/26", b"uvwxyz")),
    ("open_from_zero", "GET", "bytes=0-", Want::Part("bytes 0-25/26", ALPHABET)),
    ("last_pos_clamped", "GET", "bytes=20-100", Want::Part("bytes 20-25/26", b"uvwxyz")),
    ("last_pos_beyond_u64", "GET", "bytes=24-99999999999999999999999", Want::Part("bytes 24-25/26", b"yz")),
    ("unit_case_insensitive", "GET", "Bytes=0-1", Want::Part("bytes 0-1/26", b"ab")),
    ("whitespace_and_empty_elements", "GET", "bytes= 1-2 ,, ", Want::Part("bytes 1-2/26", b"bc")),
    ("unsatisfiable_element_dropped", "GET", "bytes=100-200,0-1", Want::Part("bytes 0-1/26", b"ab")),
    ("multiple", "GET", "bytes=0-1,4-5", Want::Parts(&[(0, 1), (4, 5)])),
    ("multiple_with_suffix", "GET", "bytes=0-0,-2", Want::Parts(&[(0, 0), (24, 25)])),
    ("multiple_kept_in_order", "GET", "bytes=10-11,0-1", Want::Parts(&[(10, 11), (0, 1)])),
    ("two_overlaps_allowed", "GET", "bytes=0-2,1-3,2-4", Want::Parts(&[(0, 2), (1, 3), (2, 4)])),
    ("head_single", "HEAD", "bytes=0-4", Want::Part("bytes 0-4/26", b"abcde")),
    ("head_multiple", "HEAD", "bytes=0-1,4-5", Want::Parts(&[(0, 1), (4, 5)])),
    ("no_overlap_open", "GET", "bytes=26-", Want::Unsatisfiable),
    ("no_overlap_all", "GET", "bytes=30-40,50-", Want::Unsatisfiable),
    ("suffix_zero", "GET", "bytes=-0", Want::Unsatisfiable),
    ("malformed_double_dash", "GET", "bytes=--6", Want::Unsatisfiable),
    ("malformed_first_after_last", "GET", "bytes=5-1", Want::Unsatisfiable),
    ("malformed_no_dash", "GET", "bytes=5", Want::Unsatisfiable),
    ("malformed_empty_set", "GET", "bytes=", Want::Unsatisfiable),
    ("malformed_letters", "GET", "bytes=a-b", Want::Unsatisfiable),
    ("malformed_plus_sign", "GET", "bytes=+1-2", Want::Unsatisfiable),
    ("malformed_negative_last", "GET", "bytes=1--2", Want::Unsatisfiable),
    ("malformed_no_equals", "GET", "bytes 0-1", Want::Unsatisfiable),
    ("malformed_one_bad_element", "GET", "bytes=0-1,x", Want::Unsatisfiable),
    ("unknown_unit_ignored", "GET", "items=0-1", Want::Whole),
    ("sum_exceeds_size", "GET", "bytes=0-,0-", Want::Whole),
    ("many_overlapping_sum_exceeds", "GET", "bytes=0-20,0-20,0-20", Want::Whole),
    ("many_overlapping_small", "GET", "bytes=0-5,1-6,2-7,3-8", Want::Whole),
    ("repeated_single_byte", "GET", "bytes=0-0,0-0,0-0,0-0", Want::Whole),
    ("post_ignores_range", "POST", "bytes=0-4", Want::Whole),
];

#[test]
fn range_table() {
    for (name, method, range, want) in RANGE_CASES {
        let headers: &[(&str, &str)] = if range.is_empty() {
            &[]
        } else {
            &[("range", range)]
        };
        let rec = serve_alphabet(method, headers, None, Some(modtime()));
        check_range(name, method, &rec, want);
    }
}

#[test]
fn multipart_head_length_matches_get() {
    // The Content-Length of a HEAD equals the length of the GET body for the same ranges
    // (boundaries differ per response but have the same length).
    let head = serve_alphabet("HEAD", &[("range", "bytes=0-1,4-5,-3")], None, None);
    let get = serve_alphabet("GET", &[("range", "bytes=0-1,4-5,-3")], None, None);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(
        get.header("content-length").unwrap(),
        get.body().len().to_string()
    );
}

#[test]
fn range_count_limit() {
    let content: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let spec = |n: u64| {
        let list: Vec<String> = (0..n).map(|i| format!("{}-{}", i * 3, i * 3)).collect();
        format!("bytes={}", list.join(","))
    };
    for (name, n, want) in [
        ("at_limit_served", 200u64, StatusCode::PARTIAL_CONTENT),
        ("over_limit_whole", 201, StatusCode::OK),
    ] {
        let mut rec = ResponseRecorder::new();
        let r = request("GET", "/x.bin", &[("range", &spec(n))]);
        serve_content(&mut rec, &r, "x.bin", None, Cursor::new(&content));
        assert_eq!(rec.status(), want, "{name}");
        if want == StatusCode::PARTIAL_CONTENT {
            let parts = parse_multipart(rec.header("content-type").unwrap(), rec.body());
            assert_eq!(parts.len(), n as usize, "{name}");
            assert_eq!(parts[1].0, "application/octet-stream", "{name}");
            assert_eq!(parts[1].2, vec![content[3]], "{name}");
        } else {
            assert_eq!(rec.body(), &content[..], "{name}");
        }
    }
}

#[test]
fn empty_content_ignores_unsatisfiable_range() {
    let mut rec = ResponseRecorder::new();
    let r = request("GET", "/empty.txt", &[("range", "bytes=0-")]);
    serve_content(&mut rec, &r, "empty.txt", None, Cursor::new(b""));
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-length"), Some("0"));
    assert!(rec.body().is_empty());

    // A malformed range is still refused.
    let mut rec = ResponseRecorder::new();
    let r = request("GET", "/empty.txt", &[("range", "bytes=--6")]);
    serve_content(&mut rec, &r, "empty.txt", None, Cursor::new(b""));
    assert_eq!(rec.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(rec.header("content-range"), Some("bytes */0"));
}

// ---------------------------------------------------------------------------------------
// Preconditions

/// Every precondition rule as a named case: (name, method, request headers, response ETag,
/// modification time known, expected status).
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const PRECONDITION_CASES: &[(&str, &str, &[(&str, &str)], Option<&str>, bool, u16)] = &[
    ("no_conditions", "GET", &[], None, true, 200),
    // If-Match: strong comparison; RFC 9110 §13.1.1.
    ("if_match_star", "GET", &[("if-match", "*")], None, true, 200),
    ("if_match_equal", "GET", &[("if-match", "\"v1\"")], Some("\"v1\""), true, 200),
    ("if_match_in_list", "GET", &[("if-match", "\"x\", \"v1\"")], Some("\"v1\""), true, 200),
    ("if_match_across_field_lines", "GET", &[("if-match", "\"x\""), ("if-match", "\"v1\"")], Some("\"v1\""), true, 200),
    ("if_match_differs", "GET", &[("if-match", "\"v2\"")], Some("\"v1\""), true, 412),
    ("if_match_weak_tag", "GET", &[("if-match", "W/\"v1\"")], Some("\"v1\""), true, 412),
    ("if_match_weak_response_tag", "GET", &[("if-match", "W/\"v1\"")], Some("W/\"v1\""), true, 412),
    ("if_match_no_etag", "GET", &[("if-match", "\"v1\"")], None, true, 412),
    ("if_match_malformed", "GET", &[("if-match", "v1")], Some("v1"), true, 412),
    ("if_match_put_fails", "PUT", &[("if-match", "\"v2\"")], Some("\"v1\""), true, 412),
    // If-Unmodified-Since, only when If-Match is absent; RFC 9110 §13.1.4.
    ("if_match_overrides_if_unmodified_since", "GET", &[("if-match", "*"), ("if-unmodified-since", BEFORE)], None, true, 200),
    ("if_unmodified_since_after", "GET", &[("if-unmodified-since", AFTER)], None, true, 200),
    ("if_unmodified_since_equal_truncated", "GET", &[("if-unmodified-since", MOD_DATE)], None, true, 200),
    ("if_unmodified_since_before", "GET", &[("if-unmodified-since", BEFORE)], None, true, 412),
    ("if_unmodified_since_unparsable", "GET", &[("if-unmodified-since", "yesterday")], None, true, 200),
    ("if_unmodified_since_unknown_modtime", "GET", &[("if-unmodified-since", BEFORE)], None, false, 200),
    // If-None-Match: weak comparison; 304 for GET/HEAD, 412 otherwise; RFC 9110 §13.1.2.
    ("if_none_match_equal", "GET", &[("if-none-match", "\"v1\"")], Some("\"v1\""), true, 304),
    ("if_none_match_weak_equal", "GET", &[("if-none-match", "W/\"v1\"")], Some("\"v1\""), true, 304),
    ("if_none_match_in_list", "HEAD", &[("if-none-match", "\"a\",\"v1\"")], Some("\"v1\""), true, 304),
    ("if_none_match_star", "GET", &[("if-none-match", "*")], None, true, 304),
    ("if_none_match_differs", "GET", &[("if-none-match", "\"v2\"")], Some("\"v1\""), true, 200),
    ("if_none_match_no_etag", "GET", &[("if-none-match", "\"v1\"")], None, true, 200),
    ("if_none_match_equal_post", "POST", &[("if-none-match", "\"v1\"")], Some("\"v1\""), true, 412),
    ("if_none_match_overrides_if_modified_since", "GET", &[("if-none-match", "\"v2\""), ("if-modified-since", AFTER)], Some("\"v1\""), true, 200),
    ("if_match_checked_before_if_none_match", "GET", &[("if-match", "\"v2\""), ("if-none-match", "\"v1\"")], Some("\"v1\""), true, 412),
    // If-Modified-Since: GET and HEAD only; RFC 9110 §13.1.3.
    ("if_modified_since_after", "GET", &[("if-modified-since", AFTER)], None, true, 304),
    ("if_modified_since_equal_truncated", "GET", &[("if-modified-since", MOD_DATE)], None, true, 304),
    ("if_modified_since_rfc850", "GET", &[("if-modified-since", MOD_DATE_RFC850)], None, true, 304),
    ("if_modified_since_asctime", "HEAD", &[("if-modified-since", MOD_DATE_ASCTIME)], None, true, 304),
    ("if_modified_since_before", "GET", &[("if-modified-since", BEFORE)], None, true, 200),
    ("if_modified_since_post", "POST", &[("if-modified-since", AFTER)], None, true, 200),
    ("if_modified_since_unparsable", "GET", &[("if-modified-since", "Tue, 14 Nov 2023")], None, true, 200),
    ("if_modified_since_unknown_modtime", "GET", &[("if-modified-since", AFTER)], None, false, 200),
    // If-Range with a Range: strong ETag or exact date, else the whole content; §13.1.5.
    ("if_range_etag_equal", "GET", &[("range", "bytes=0-4"), ("if-range", "\"v1\"")], Some("\"v1\""), true, 206),
    ("if_range_etag_differs", "GET", &[("range", "bytes=0-4"), ("if-range", "\"v2\"")], Some("\"v1\""), true, 200),
    ("if_range_weak_etag", "GET", &[("range", "bytes=0-4"), ("if-range", "W/\"v1\"")], Some("W/\"v1\""), true, 200),
    ("if_range_date_equal", "GET", &[("range", "bytes=0-4"), ("if-range", MOD_DATE)], None, true, 206),
    ("if_range_date_later", "GET", &[("range", "bytes=0-4"), ("if-range", AFTER)], None, true, 200),
    ("if_range_date_unknown_modtime", "GET", &[("range", "bytes=0-4"), ("if-range", MOD_DATE)], None, false, 200),
    ("if_range_garbage", "GET", &[("range", "bytes=0-4"), ("if-range", "soon")], None, true, 200),
    ("if_range_stale_skips_bad_range", "GET", &[("range", "bytes=--6"), ("if-range", "\"v2\"")], Some("\"v1\""), true, 200),
    ("if_range_without_range", "GET", &[("if-range", "\"v2\"")], Some("\"v1\""), true, 200),
];

#[test]
fn precondition_table() {
    for (name, method, headers, etag, known, want) in PRECONDITION_CASES {
        let mt = known.then(modtime);
        let rec = serve_alphabet(method, headers, *etag, mt);
        let status = rec.status().as_u16();
        assert_eq!(status, *want, "{name}");
        match status {
            200 => {
                assert_eq!(rec.header("content-length"), Some("26"), "{name}");
                if *method != "HEAD" {
                    assert_eq!(rec.body(), ALPHABET, "{name}");
                }
            }
            206 => assert_eq!(rec.body(), b"abcde", "{name}"),
            304 | 412 => assert!(rec.body().is_empty(), "{name}"),
            _ => unreachable!(),
        }
        if status != 304 {
            let lm = if *known { Some(MOD_DATE) } else { None };
            assert_eq!(rec.header("last-modified"), lm, "{name}");
        }
    }
}

#[test]
fn not_modified_strips_representation_headers() {
    // With an ETag: Content-Type, Content-Length, Content-Encoding and Last-Modified go.
    let mut rec = ResponseRecorder::new();
    let h = rec.headers_mut();
    h.insert(ETAG, "\"v1\"".parse().unwrap());
    h.insert("content-type", "text/x-custom".parse().unwrap());
    h.insert("content-encoding", "gzip".parse().unwrap());
    h.insert("cache-control", "max-age=60".parse().unwrap());
    let r = request("GET", "/a", &[("if-none-match", "\"v1\"")]);
    serve_content(
        &mut rec,
        &r,
        "a.txt",
        Some(modtime()),
        Cursor::new(ALPHABET),
    );
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    for gone in [
        "content-type",
        "content-length",
        "content-encoding",
        "last-modified",
    ] {
        assert_eq!(rec.header(gone), None, "{gone}");
    }
    assert_eq!(rec.header("etag"), Some("\"v1\""));
    assert_eq!(rec.header("cache-control"), Some("max-age=60"));

    // Without an ETag, Last-Modified stays to guide caches.
    let rec = serve_alphabet(
        "GET",
        &[("if-modified-since", AFTER)],
        None,
        Some(modtime()),
    );
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(rec.header("last-modified"), Some(MOD_DATE));
    assert_eq!(rec.header("content-type"), None);
}

#[test]
fn last_modified_rules() {
    // Truncated to the second.
    let rec = serve_alphabet("GET", &[], None, Some(modtime()));
    assert_eq!(rec.header("last-modified"), Some(MOD_DATE));
    // Not sent for unknown times: none, the epoch, before the epoch.
    for (name, t) in [
        ("none", None),
        ("epoch", Some(UNIX_EPOCH)),
        (
            "before_epoch",
            UNIX_EPOCH.checked_sub(Duration::from_secs(10)),
        ),
    ] {
        let rec = serve_alphabet("GET", &[], None, t);
        assert_eq!(rec.status(), StatusCode::OK, "{name}");
        assert_eq!(rec.header("last-modified"), None, "{name}");
    }
}

#[test]
fn content_type_rules() {
    let serve = |name: &str, preset: Option<&str>, content: &'static [u8]| {
        let mut rec = ResponseRecorder::new();
        if let Some(t) = preset {
            rec.headers_mut().insert("content-type", t.parse().unwrap());
        }
        let r = request("GET", "/", &[]);
        serve_content(&mut rec, &r, name, None, Cursor::new(content));
        assert_eq!(rec.body(), content, "{name}");
        rec.header("content-type").map(str::to_string)
    };
    // (name, file name, Content-Type set by the caller, content, Content-Type sent)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], Option<&'a str>);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("by_extension_html", "a.html", None, b"<p>", Some("text/html; charset=utf-8")),
        ("by_extension_png", "a.png", None, b"\x89PNG", Some("image/png")),
        ("by_extension_case", "A.CSS", None, b"", Some("text/css; charset=utf-8")),
        ("sniffed_text", "README", None, b"plain words\n", Some("text/plain; charset=utf-8")),
        ("sniffed_binary", "blob", None, b"\x00\x01\x02", Some("application/octet-stream")),
        ("empty_name", "", None, b"text", Some("text/plain; charset=utf-8")),
        ("caller_set_kept", "a.html", Some("text/x-mine"), b"x", Some("text/x-mine")),
        ("caller_empty_means_none", "a.html", Some(""), b"x", None),
    ];
    for (name, file, preset, content, want) in cases {
        assert_eq!(serve(file, *preset, content).as_deref(), *want, "{name}");
    }
}

#[test]
fn content_encoding_skips_length_on_whole_response() {
    let mut rec = ResponseRecorder::new();
    rec.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let r = request("GET", "/", &[]);
    serve_content(&mut rec, &r, "a.txt", None, Cursor::new(ALPHABET));
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-length"), None);

    // A range response always has its length.
    let mut rec = ResponseRecorder::new();
    rec.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let r = request("GET", "/", &[("range", "bytes=0-1")]);
    serve_content(&mut rec, &r, "a.txt", None, Cursor::new(ALPHABET));
    assert_eq!(rec.header("content-length"), Some("2"));
}

#[test]
fn error_responses_drop_content_metadata() {
    let mut rec = ResponseRecorder::new();
    rec.headers_mut().insert(ETAG, "\"v1\"".parse().unwrap());
    rec.headers_mut()
        .insert("cache-control", "max-age=60".parse().unwrap());
    let r = request("GET", "/", &[("range", "bytes=100-")]);
    serve_content(
        &mut rec,
        &r,
        "a.txt",
        Some(modtime()),
        Cursor::new(ALPHABET),
    );
    assert_eq!(rec.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    for gone in ["etag", "last-modified", "cache-control"] {
        assert_eq!(rec.header(gone), None, "{gone}");
    }
    assert_eq!(rec.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(rec.body_string(), "invalid range: failed to overlap\n");
}

/// A reader whose seeks fail: `serve_content` answers 500 rather than guessing.
struct NoSeek;

impl std::io::Read for NoSeek {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl std::io::Seek for NoSeek {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::other("no seeking here"))
    }
}

#[test]
fn unseekable_content_is_500() {
    let mut rec = ResponseRecorder::new();
    let r = request("GET", "/", &[]);
    serve_content(&mut rec, &r, "a.txt", None, NoSeek);
    assert_eq!(rec.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(rec.body_string(), "seeker can't seek\n");
}

// ---------------------------------------------------------------------------------------
// FileServer and serve_file on a temporary directory

const SECRET: &[u8] = b"top secret";

/// `T/secret.txt` outside the served `T/root`, and a few files and directories inside it.
fn fixture(tag: &str) -> TempDir {
    let t = TempDir::new(&format!("fs-{tag}"));
    t.write("secret.txt", SECRET);
    t.write("root/a.txt", b"alpha\n");
    t.write("root/page.html", b"<p>hi</p>");
    t.write("root/noext", b"\x00\x01binary");
    t.write("root/sub/b.txt", b"bravo\n");
    t.write("root/site/index.html", b"<h1>index</h1>");
    t.mkdir("root/empty");
    t
}

fn get(h: &impl Handler, method: &str, target: &str, headers: &[(&str, &str)]) -> ResponseRecorder {
    let mut rec = ResponseRecorder::new();
    let mut r = request(method, target, headers);
    h.serve_http(&mut rec, &mut r);
    rec
}

/// (name, target, status, Location, body)
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const PATH_CASES: &[(&str, &str, u16, Option<&str>, Option<&[u8]>)] = &[
    ("file", "/a.txt", 200, None, Some(b"alpha\n")),
    ("file_escaped_name", "/%61.txt", 200, None, Some(b"alpha\n")),
    ("file_in_subdir", "/sub/b.txt", 200, None, Some(b"bravo\n")),
    ("missing", "/nope.txt", 404, None, Some(b"404 page not found\n")),
    ("under_a_file", "/a.txt/x", 404, None, None),
    ("dir_redirect", "/sub", 301, Some("sub/"), Some(b"")),
    ("dir_redirect_keeps_query", "/sub?x=1&y=2", 301, Some("sub/?x=1&y=2"), None),
    ("file_slash_redirect", "/a.txt/", 301, Some("../a.txt"), None),
    ("index_html_redirect", "/site/index.html", 301, Some("./"), None),
    ("index_html_redirect_query", "/index.html?q=1", 301, Some("./?q=1"), None),
    ("dir_index", "/site/", 200, None, Some(b"<h1>index</h1>")),
    ("dot_dot_cleaned_inside", "/sub/../a.txt", 200, None, Some(b"alpha\n")),
    ("dot_dot_above_root", "/../secret.txt", 404, None, None),
    ("dot_dot_many", "/../../../../secret.txt", 404, None, None),
    ("dot_dot_escaped", "/%2e%2e/secret.txt", 404, None, None),
    ("dot_dot_escaped_slashes", "/sub/..%2f..%2fsecret.txt", 404, None, None),
    ("nul_byte", "/a%00.txt", 400, None, Some(b"invalid URL path\n")),
    ("bad_escape", "/a%zz", 400, None, None),
];

#[test]
fn file_server_path_table() {
    let t = fixture("paths");
    let fs = FileServer::new(t.path().join("root"));
    for (name, target, status, location, body) in PATH_CASES {
        let rec = get(&fs, "GET", target, &[]);
        assert_eq!(rec.status().as_u16(), *status, "{name}");
        assert_eq!(rec.header("location"), *location, "{name}");
        if let Some(b) = body {
            assert_eq!(rec.body(), *b, "{name}");
        }
        assert!(
            !rec.body().windows(SECRET.len()).any(|w| w == SECRET),
            "{name}: leaked the secret"
        );
    }
}

#[test]
fn file_server_headers() {
    let t = fixture("headers");
    let fs = FileServer::new(t.path().join("root"));

    let rec = get(&fs, "GET", "/page.html", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(rec.header("content-length"), Some("9"));
    assert_eq!(rec.header("accept-ranges"), Some("bytes"));
    let lm = rec
        .header("last-modified")
        .expect("last-modified")
        .to_string();

    // The date it sent makes the next request conditional.
    let rec = get(&fs, "GET", "/page.html", &[("if-modified-since", &lm)]);
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);

    let rec = get(&fs, "GET", "/noext", &[]);
    assert_eq!(rec.header("content-type"), Some("application/octet-stream"));

    let rec = get(&fs, "HEAD", "/a.txt", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-length"), Some("6"));
    assert!(rec.body().is_empty());

    let rec = get(&fs, "GET", "/a.txt", &[("range", "bytes=1-3")]);
    assert_eq!(rec.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(rec.body(), b"lph");
    assert_eq!(rec.header("content-range"), Some("bytes 1-3/6"));

    let rec = get(&fs, "GET", "/site/", &[]);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
}

#[test]
fn file_server_etag_from_wrapping_handler() {
    let t = fixture("etag");
    let fs = FileServer::new(t.path().join("root"));
    let with_etag = move |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut().insert(ETAG, "\"abc\"".parse().unwrap());
        fs.serve_http(w, r);
    };
    let rec = get(&with_etag, "GET", "/a.txt", &[("if-none-match", "\"abc\"")]);
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(rec.header("etag"), Some("\"abc\""));
    assert_eq!(rec.header("last-modified"), None);

    let rec = get(
        &with_etag,
        "GET",
        "/a.txt",
        &[("range", "bytes=0-0"), ("if-range", "\"abc\"")],
    );
    assert_eq!(rec.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(rec.body(), b"a");

    let rec = get(&with_etag, "PUT", "/a.txt", &[("if-match", "\"old\"")]);
    assert_eq!(rec.status(), StatusCode::PRECONDITION_FAILED);
}

#[test]
fn detailed_directory_listing() {
    let t = fixture("listing-detailed");
    t.write("root/list/b.txt", b"0123456789");
    t.write("root/list/big.bin", &vec![7u8; 1536]);
    t.mkdir("root/list/Adir");
    if cfg!(unix) {
        t.write("root/list/a&<x>.txt", b"");
    }
    let fs = FileServer::new(t.path().join("root")).listing(nethttp::fs::Listing::Detailed);
    let rec = get(&fs, "GET", "/list/", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
    let body = rec.body_string();
    assert!(body.contains("<title>Index of /list/</title>"), "{body}");
    assert!(body.contains("<h1>Index of /list/</h1>"), "{body}");
    let rows: Vec<&str> = body.lines().filter(|l| l.starts_with("<tr><td>")).collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| {
            r.split("\">")
                .nth(1)
                .and_then(|x| x.split("</a>").next())
                .unwrap()
        })
        .collect();
    let mut want = vec!["../", "Adir/"];
    if cfg!(unix) {
        want.push("a&amp;&lt;x&gt;.txt");
    }
    want.extend(["b.txt", "big.bin"]);
    assert_eq!(names, want, "{body}");
    let row = |name: &str| *rows.iter().find(|r| r.contains(name)).unwrap();
    assert!(
        row(">b.txt<").contains("title=\"10 bytes\">10 B</td>"),
        "{body}"
    );
    assert!(
        row(">big.bin<").contains("title=\"1536 bytes\">1.5 KiB</td>"),
        "{body}"
    );
    assert!(row(">Adir/<").contains("<td class=\"n\">-</td>"), "{body}");
    // Modified: YYYY-MM-DD HH:MM.
    let date = row(">b.txt<")
        .rsplit("<td>")
        .next()
        .unwrap()
        .trim_end_matches("</td></tr>");
    assert_eq!(date.len(), 16, "{date}");
    assert_eq!(
        (&date[4..5], &date[10..11], &date[13..14]),
        ("-", " ", ":"),
        "{date}"
    );

    // No parent link at the root.
    let body = get(&fs, "GET", "/", &[]).body_string();
    assert!(body.contains("<title>Index of /</title>"), "{body}");
    assert!(!body.contains("../"), "{body}");
}

#[test]
fn directory_listing() {
    let t = fixture("listing");
    t.write("root/list/b.txt", b"");
    t.write("root/list/.hidden", b"");
    t.mkdir("root/list/zdir");
    t.mkdir("root/list/Adir");
    if cfg!(unix) {
        // Names that need escaping for URLs and for HTML.
        t.write("root/list/a&<x>.txt", b"");
        t.write("root/list/sp ace?#.txt", b"");
        t.write("root/list/c:d", b"");
        t.write("root/list/quote\"'.txt", b"");
        t.write("root/list/\u{e9}t\u{e9}.txt", b"");
    }
    let fs = FileServer::new(t.path().join("root"));
    let rec = get(&fs, "GET", "/list/", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(rec.header("last-modified").is_some());
    let body = rec.body_string();
    let links: Vec<&str> = body.lines().filter(|l| l.starts_with("<a ")).collect();
    let mut want = vec![
        "<a href=\".hidden\">.hidden</a>",
        "<a href=\"Adir/\">Adir/</a>",
    ];
    if cfg!(unix) {
        want.push("<a href=\"a%26%3Cx%3E.txt\">a&amp;&lt;x&gt;.txt</a>");
    }
    want.push("<a href=\"b.txt\">b.txt</a>");
    if cfg!(unix) {
        want.push("<a href=\"c%3Ad\">c:d</a>");
        want.push("<a href=\"quote%22%27.txt\">quote&#34;&#39;.txt</a>");
        want.push("<a href=\"sp%20ace%3F%23.txt\">sp ace?#.txt</a>");
    }
    want.push("<a href=\"zdir/\">zdir/</a>");
    if cfg!(unix) {
        want.push("<a href=\"%C3%A9t%C3%A9.txt\">\u{e9}t\u{e9}.txt</a>");
    }
    assert_eq!(links, want);
    assert!(!body.contains(".."), "no parent link");

    // Each escaped link leads back to its file.
    if cfg!(unix) {
        let rec = get(&fs, "GET", "/list/sp%20ace%3F%23.txt", &[]);
        assert_eq!(rec.status(), StatusCode::OK);
    }

    // A listing answers If-Modified-Since (and only that precondition, as in Go).
    let rec = get(&fs, "GET", "/list/", &[("if-modified-since", FAR_FUTURE)]);
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    let rec = get(&fs, "GET", "/empty/", &[]);
    assert_eq!(
        rec.body_string(),
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n</pre>\n"
    );
    let rec = get(&fs, "GET", "/", &[]);
    assert!(rec.body_string().contains("<a href=\"sub/\">sub/</a>"));
}

#[cfg(unix)]
#[test]
fn symlinks_are_confined_to_the_root() {
    use std::os::unix::fs::symlink;
    let t = fixture("symlinks");
    let root = t.path().join("root");
    symlink("a.txt", root.join("inlink.txt")).unwrap();
    symlink(t.path().join("secret.txt"), root.join("outlink.txt")).unwrap();
    symlink("../secret.txt", root.join("relout.txt")).unwrap();
    symlink(t.path(), root.join("outdir")).unwrap();
    symlink("sub", root.join("subdir_link")).unwrap();
    let fs = FileServer::new(&root);
    let cases: &[(&str, &str, u16)] = &[
        ("inside_link", "/inlink.txt", 200),
        ("inside_dir_link", "/subdir_link/b.txt", 200),
        ("absolute_link_out", "/outlink.txt", 404),
        ("relative_link_out", "/relout.txt", 404),
        ("dir_link_out", "/outdir/secret.txt", 404),
        ("dir_link_out_listing", "/outdir/", 404),
    ];
    for (name, target, status) in cases {
        let rec = get(&fs, "GET", target, &[]);
        assert_eq!(rec.status().as_u16(), *status, "{name}");
        assert!(
            !rec.body().windows(SECRET.len()).any(|w| w == SECRET),
            "{name}"
        );
    }
    // The type comes from the name asked for, not the link's target.
    let rec = get(&fs, "GET", "/inlink.txt", &[]);
    assert_eq!(rec.body(), b"alpha\n");
    assert_eq!(
        rec.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // An index.html that is a link out of the root is not served: the listing is.
    t.write("root/trap/x", b"");
    symlink(t.path().join("secret.txt"), root.join("trap/index.html")).unwrap();
    let rec = get(&fs, "GET", "/trap/", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert!(rec.body_string().contains("<a href=\"x\">x</a>"));

    // A root that is itself a link is fine.
    symlink(&root, t.path().join("rootlink")).unwrap();
    let rec = get(
        &FileServer::new(t.path().join("rootlink")),
        "GET",
        "/a.txt",
        &[],
    );
    assert_eq!(rec.body(), b"alpha\n");
}

#[cfg(unix)]
#[test]
fn special_files_are_not_served() {
    let t = fixture("fifo");
    let fifo = t.path().join("root/pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("note: mkfifo unavailable; skipping");
        return;
    }
    // Opening a FIFO for reading would block until a writer appears: it must be refused.
    let rec = get(&FileServer::new(t.path().join("root")), "GET", "/pipe", &[]);
    assert_eq!(rec.status(), StatusCode::NOT_FOUND);
}

#[test]
fn missing_or_file_root() {
    let t = fixture("roots");
    let rec = get(
        &FileServer::new(t.path().join("nowhere")),
        "GET",
        "/a.txt",
        &[],
    );
    assert_eq!(rec.status(), StatusCode::NOT_FOUND);
    // A root that is a file: "/" names it, with a trailing slash (Go answers 500).
    let fs = FileServer::new(t.path().join("secret.txt"));
    let rec = get(&fs, "GET", "/", &[]);
    assert_eq!(rec.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn serve_file_rules() {
    let t = fixture("serve-file");
    let a = t.path().join("root/a.txt");
    let site = t.path().join("root/site");
    let sub = t.path().join("root/sub");
    let call = |target: &str, path: &Path, headers: &[(&str, &str)]| {
        let mut rec = ResponseRecorder::new();
        let r = request("GET", target, headers);
        serve_file(&mut rec, &r, path);
        rec
    };
    // The URL path does not choose the file.
    let rec = call("/download/anything", &a, &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.body(), b"alpha\n");
    assert_eq!(
        rec.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // No canonical-path redirect for a file requested with a trailing slash.
    assert_eq!(call("/dl/", &a, &[]).status(), StatusCode::OK);
    // Ranges and preconditions apply.
    let rec = call("/dl", &a, &[("range", "bytes=-2")]);
    assert_eq!(rec.body(), b"a\n");
    // A ".." in the URL path is refused, whatever the file.
    for target in ["/x/../a.txt", "/..", "/x/%2e%2e/y"] {
        let rec = call(target, &a, &[]);
        assert_eq!(rec.status(), StatusCode::BAD_REQUEST, "{target}");
    }
    // .../index.html redirects; a directory without a slash redirects; with one it is
    // served as its index or listed.
    assert_eq!(
        call("/x/index.html", &a, &[]).header("location"),
        Some("./")
    );
    assert_eq!(call("/docs", &site, &[]).header("location"), Some("docs/"));
    assert_eq!(call("/docs/", &site, &[]).body(), b"<h1>index</h1>");
    assert!(call("/s/", &sub, &[]).body_string().contains("b.txt"));
    assert_eq!(
        call("/x", &t.path().join("nope"), &[]).status(),
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------------------------------
// End to end through a real server

/// A deterministic, non-repeating-looking byte pattern.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// FNV-1a, to report a mismatch in an 8 MiB body by checksum rather than by dumping it.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const BIG: usize = 8 << 20;

fn close_and_check_threads(srv: &mut httptest::Server) {
    srv.close().expect("graceful close");
    assert!(
        raw::wait_for(Duration::from_secs(5), || srv.server().num_threads() == 0),
        "connection threads left behind: {}",
        srv.server().num_threads()
    );
}

#[test]
fn end_to_end_raw_socket() {
    let t = fixture("e2e-raw");
    let big = pattern(BIG);
    t.write("root/big.bin", &big);
    let mut srv = httptest::Server::new(FileServer::new(t.path().join("root")));
    let addr = srv.addr();
    let send = |req: &str| raw::exchange(addr, req);

    let (head, body) = send("GET /../secret.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_ne!(head.status, StatusCode::OK);
    assert!(!body.windows(SECRET.len()).any(|w| w == SECRET));

    let (head, body) = send("GET /sub?a=b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(raw::header(&head, "location"), Some("sub/?a=b"));
    assert!(body.is_empty());

    let (head, body) = send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(raw::header(&head, "content-length"), Some("8388608"));
    assert!(body.is_empty());

    let (head, body) = send(
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9,4000000-4000009,-10\r\n\
         Connection: close\r\n\r\n",
    );
    assert_eq!(head.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        raw::header(&head, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(raw::header(&head, "transfer-encoding"), None);
    let parts = parse_multipart(raw::header(&head, "content-type").unwrap(), &body);
    let want = [(0, 9), (4_000_000, 4_000_009), (BIG - 10, BIG - 1)];
    assert_eq!(parts.len(), 3);
    for ((_, crange, data), (first, last)) in parts.iter().zip(want) {
        assert_eq!(crange, &format!("bytes {first}-{last}/{BIG}"));
        assert_eq!(&data[..], &big[first..=last]);
    }

    let (head, body) = send(&format!(
        "GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: {FAR_FUTURE}\r\n\
         Connection: close\r\n\r\n"
    ));
    assert_eq!(head.status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (head, body) = send("GET /big.bin HTTP/1.0\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(body.len(), BIG);
    assert!(body == big, "whole file over HTTP/1.0 differs");

    close_and_check_threads(&mut srv);
}

#[test]
fn end_to_end_curl() {
    if !raw::have_tool("curl") {
        return;
    }
    let t = fixture("e2e-curl");
    let big = pattern(BIG);
    t.write("root/big.bin", &big);
    let mut srv = httptest::Server::new(FileServer::new(t.path().join("root")));
    let out = t.path().join("out");
    let curl = |args: &[&str]| -> String {
        let o = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "60", "-o"])
            .arg(&out)
            .args(["-w", "%{http_code}"])
            .args(args)
            .output()
            .expect("run curl");
        assert!(
            o.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let url = format!("{}/big.bin", srv.url());

    assert_eq!(curl(&["-r", "0-99", &url]), "206");
    assert_eq!(std::fs::read(&out).unwrap(), &big[..100]);

    assert_eq!(curl(&["-r", "-100", &url]), "206");
    assert_eq!(std::fs::read(&out).unwrap(), &big[BIG - 100..]);

    assert_eq!(curl(&[&url]), "200");
    let got = std::fs::read(&out).unwrap();
    assert_eq!(got.len(), BIG);
    assert_eq!(fnv1a(&got), fnv1a(&big), "8 MiB body checksum");

    // curl follows the directory redirect and gets the index.
    assert_eq!(curl(&["-L", &format!("{}/site", srv.url())]), "200");
    assert_eq!(std::fs::read(&out).unwrap(), b"<h1>index</h1>");

    // Resuming a partial download: curl -C sends Range from the existing length.
    std::fs::write(&out, &big[..1000]).unwrap();
    assert_eq!(curl(&["-C", "-", &url]), "206");
    let got = std::fs::read(&out).unwrap();
    assert_eq!(fnv1a(&got), fnv1a(&big), "resumed body checksum");

    close_and_check_threads(&mut srv);
}
