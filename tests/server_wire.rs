//! Table-driven raw-wire tests of the server: request-smuggling vectors, bad requests and the
//! framings the server must accept, each sent end to end over a socket.
//!
//! Every rejected request is sent with a second request, `GET /smuggled`, in the same write.
//! The server must answer the first with the table's status and `Connection: close`, then close
//! the connection cleanly; the smuggled request must never be answered nor reach a handler.

mod support;

use std::time::Duration;

use nethttp::server::{Config, Request, ResponseWriter};
use nethttp::{HeaderValue, StatusCode};

use support::{describe, test_config, Calls, RawConn, TestServer};

/// The request hidden behind each rejected one.
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

/// Head limits of the server under test, small so the limit cases stay small.
const MAX_HEADER_BYTES: usize = 4096;
const MAX_HEADERS: usize = 32;

fn wire_config() -> Config {
    let mut cfg = test_config();
    cfg.max_header_bytes = MAX_HEADER_BYTES;
    cfg.max_headers = MAX_HEADERS;
    cfg
}

/// Records each call, reads the whole body and echoes it (with the path in `x-path`); a body
/// that cannot be read is answered 400, as a Go handler using `http.Error` would.
fn start() -> (TestServer, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let srv = TestServer::start(
        wire_config(),
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            c.push(format!("{} {}", r.method, r.uri.path()));
            if let Ok(v) = HeaderValue::from_str(r.uri.path()) {
                w.headers_mut().insert("x-path", v);
            }
            match r.body().read_to_vec(1 << 20) {
                Ok(body) => {
                    let _ = w.write_all(&body);
                }
                Err(e) => {
                    w.write_header(StatusCode::BAD_REQUEST);
                    let _ = write!(w, "bad request body: {e}");
                }
            }
        },
    );
    (srv, calls)
}

/// Whether the rejected request reaches the handler: framing errors in the head are answered
/// by the server alone; errors inside a chunked body surface when the handler reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The server rejects it before any handler runs.
    ServerOnly,
    /// The handler runs (once, for `/`) and its body read fails.
    Handler,
}

type Case<'a> = (&'a str, &'a [u8], u16, Seen);

/// Request-smuggling vectors (CL.TE, TE.CL, TE.TE obfuscations, bad Content-Length values,
/// bad chunk lines, control bytes in heads). `POST / HTTP/1.1` and `Host: a` unless stated.
const SMUGGLING: &[Case<'static>] = &[
    // CL.TE and TE.CL: both framings on one request.
    (
        "cl_te",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_cl",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_zero_te",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    // TE.TE: obfuscated Transfer-Encoding that some parser may still read as chunked.
    (
        "te_xchunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_chunked_identity",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_identity_chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_gzip_chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_second_line_identity",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_second_line_x",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "te_second_line_chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_chunked_twice_in_list",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_chunked_then_gzip",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_obs_fold_space",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_obs_fold_tab",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\n\tchunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_underscore_name",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_space_before_colon",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_tab_before_colon",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_vertical_tab",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_nbsp",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_quoted",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_with_param",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_empty",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_empty_list_item",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_lf_in_name",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_http10",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "te_http10_keep_alive",
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    // Content-Length values two parsers could read differently.
    (
        "cl_duplicate_differing",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_list_differing",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_plus",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_minus",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_hex",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_empty",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_inner_space",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_decimal_point",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_empty_list_item",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_overflow",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_space_before_colon",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "cl_underscore_name",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    // Control bytes and malformed lines in the head.
    (
        "bare_cr_in_value",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "bare_cr_line_end",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: a\r\r\nContent-Length: 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "nul_in_value",
        b"POST / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\nContent-Length: 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "space_before_colon",
        b"POST / HTTP/1.1\r\nHost: a\r\nX-Foo : bar\r\nContent-Length: 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    (
        "lf_in_name",
        b"POST / HTTP/1.1\r\nHost: a\r\nX\nFoo: bar\r\nContent-Length: 5\r\n\r\nhello",
        400,
        Seen::ServerOnly,
    ),
    // Bad chunk lines: the head is fine, the body is not.
    (
        "chunk_size_empty",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_underscore_0_2e",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0_2e\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_minus_zero",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_plus",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_0x",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_overflow",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_size_inner_space",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_line_bare_cr",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_line_bare_lf",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_data_longer_than_size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_data_bare_lf_after",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_ext_bare_lf",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_ext_bare_cr",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    (
        "chunk_ext_nul",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\0b\r\nhello\r\n0\r\n\r\n",
        400,
        Seen::Handler,
    ),
    // The last chunk without its blank line: the smuggled request lands in the trailer section.
    (
        "last_chunk_without_blank_line",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        400,
        Seen::Handler,
    ),
];

/// Requests that are bad for other reasons: each status the server chooses itself.
const BAD_REQUESTS: &[Case<'static>] = &[
    (
        "missing_host",
        b"GET / HTTP/1.1\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "two_hosts",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "bad_host",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "bad_method_token",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "relative_target",
        b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "asterisk_target_on_get",
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "connect_with_path",
        b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "double_space_in_request_line",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "lowercase_version",
        b"GET / http/1.1\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "garbage_version",
        b"GET / HTTP/x.y\r\nHost: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "whitespace_before_first_header",
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "empty_header_name",
        b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
        400,
        Seen::ServerOnly,
    ),
    (
        "version_1_2",
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        505,
        Seen::ServerOnly,
    ),
    (
        "version_2_0",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        505,
        Seen::ServerOnly,
    ),
    (
        "version_3",
        b"GET / HTTP/3\r\nHost: a\r\n\r\n",
        505,
        Seen::ServerOnly,
    ),
    (
        "unknown_transfer_coding",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br\r\n\r\n",
        501,
        Seen::ServerOnly,
    ),
    (
        "unknown_expectation",
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello",
        417,
        Seen::ServerOnly,
    ),
];

/// Bad requests built at run time: the size limits.
fn limit_cases() -> Vec<(String, Vec<u8>, u16, Seen)> {
    let mut cases = Vec::new();
    let mut add = |name: &str, wire: Vec<u8>, status: u16| {
        cases.push((name.to_string(), wire, status, Seen::ServerOnly));
    };
    // A request line longer than the head limit: 414, whether the whole head arrives in the
    // server's first read or the limit is hit while the line is still arriving.
    let target = format!("/{}", "a".repeat(MAX_HEADER_BYTES + 100));
    add(
        "request_line_too_long_one_read",
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes(),
        414,
    );
    let target = format!("/{}", "a".repeat(5 * MAX_HEADER_BYTES));
    add(
        "request_line_too_long_many_reads",
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes(),
        414,
    );
    // A head over the limit with a short request line: 431, either way.
    add(
        "head_too_large_one_read",
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(MAX_HEADER_BYTES + 100)
        )
        .into_bytes(),
        431,
    );
    add(
        "head_too_large_many_reads",
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(5 * MAX_HEADER_BYTES)
        )
        .into_bytes(),
        431,
    );
    let many: String = (0..MAX_HEADERS + 8)
        .map(|i| format!("X-H{i}: v\r\n"))
        .collect();
    add(
        "too_many_headers",
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").into_bytes(),
        431,
    );
    cases
}

/// Sends `wire` followed by the smuggled request in one write and checks the whole exchange.
fn check_reject(
    srv: &TestServer,
    calls: &Calls,
    name: &str,
    wire: &[u8],
    status: u16,
    seen: Seen,
) -> Result<(), String> {
    let before = calls.len();
    let mut c = srv.connect();
    let mut bytes = wire.to_vec();
    bytes.extend_from_slice(SMUGGLED);
    c.send(&bytes);
    let resp = c
        .try_read_response("POST")
        .map_err(|e| format!("{name}: no response: {}", describe(&e)))?;
    if resp.status != status {
        return Err(format!(
            "{name}: status {} (want {status}); body {:?}",
            resp.status,
            resp.text()
        ));
    }
    if !resp.is_close() {
        return Err(format!(
            "{name}: no `Connection: close` in {:?}",
            resp.raw_head
        ));
    }
    if resp.header("date").is_none() {
        return Err(format!("{name}: no Date in {:?}", resp.raw_head));
    }
    match c.read_to_close() {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => {
            return Err(format!(
                "{name}: a second response followed: {:?}",
                String::from_utf8_lossy(&rest)
            ))
        }
        Err(e) => return Err(format!("{name}: not closed cleanly: {}", describe(&e))),
    }
    let new_calls: Vec<String> = calls.list().split_off(before);
    let want: Vec<String> = match seen {
        Seen::ServerOnly => vec![],
        Seen::Handler => vec![format!("{} /", method_of(wire))],
    };
    if new_calls != want {
        return Err(format!(
            "{name}: handler calls {new_calls:?}, want {want:?}"
        ));
    }
    Ok(())
}

fn method_of(wire: &[u8]) -> String {
    let end = wire.iter().position(|&b| b == b' ').unwrap_or(0);
    String::from_utf8_lossy(&wire[..end]).into_owned()
}

fn run_reject_table(cases: &[(String, Vec<u8>, u16, Seen)]) {
    let (srv, calls) = start();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, wire, status, seen)| {
            check_reject(&srv, &calls, name, wire, *status, *seen).err()
        })
        .collect();
    assert!(
        !calls.any_contains("/smuggled"),
        "a smuggled request reached the handler: {:?}",
        calls.list()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn owned(cases: &[Case<'_>]) -> Vec<(String, Vec<u8>, u16, Seen)> {
    cases
        .iter()
        .map(|(n, w, s, seen)| (n.to_string(), w.to_vec(), *s, *seen))
        .collect()
}

#[test]
fn smuggling_vectors_are_rejected_and_close() {
    run_reject_table(&owned(SMUGGLING));
}

#[test]
fn bad_requests_get_their_status_and_close() {
    run_reject_table(&owned(BAD_REQUESTS));
}

#[test]
fn size_limits_get_414_and_431_and_close() {
    run_reject_table(&limit_cases());
}

/// Framings the server must accept; each request is followed in the same write by
/// `GET /next`, which must be answered too, proving the body ended exactly where it should.
const ACCEPTED: &[(&str, &[u8], &[u8])] = &[
    (
        "content_length",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    (
        "content_length_zero",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        b"",
    ),
    (
        "content_length_same_twice",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    (
        "content_length_same_list",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"hello",
    ),
    (
        "content_length_leading_zeros",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello",
        b"hello",
    ),
    (
        "content_length_ows",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t5 \r\n\r\nhello",
        b"hello",
    ),
    (
        "get_with_body",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"abc",
    ),
    (
        "chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"hello world",
    ),
    (
        "chunked_uppercase_coding",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    (
        "chunked_tab_before_value",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    (
        "chunk_extensions",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0;last\r\n\r\n",
        b"hello",
    ),
    (
        "chunk_bws_before_extension",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=\"q\"\r\nhello\r\n0\r\n\r\n",
        b"hello",
    ),
    (
        "chunk_leading_zeros_and_upper_hex",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n0\r\n\r\n",
        b"0123456789",
    ),
    (
        "chunk_trailers",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
        b"hello",
    ),
    (
        "bare_lf_line_endings",
        b"POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello",
        b"hello",
    ),
    (
        "leading_empty_line",
        b"\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
    (
        "http10_keep_alive_with_length",
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    ),
];

#[test]
fn accepted_framings_end_exactly_at_the_boundary() {
    let (srv, calls) = start();
    let mut failures = Vec::new();
    for (name, wire, want) in ACCEPTED {
        let mut c = srv.connect();
        let mut bytes = wire.to_vec();
        bytes.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        c.send(&bytes);
        let first = c.try_read_response("POST");
        let second = c.try_read_response("GET");
        match (first, second) {
            (Ok(a), Ok(b)) => {
                if a.status != 200 || a.body != *want || a.is_close() {
                    failures.push(format!(
                        "{name}: first response {} close={} body {:?}",
                        a.status,
                        a.is_close(),
                        a.text()
                    ));
                }
                if b.status != 200 || b.header("x-path") != Some("/next") {
                    failures.push(format!("{name}: second response {:?}", b.raw_head));
                }
            }
            (a, b) => failures.push(format!(
                "{name}: {:?} / {:?}",
                a.map(|r| r.status).map_err(|e| describe(&e)),
                b.map(|r| r.status).map_err(|e| describe(&e))
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!calls.any_contains("smuggled"));
}

#[test]
fn bad_request_after_a_good_pipelined_one() {
    let (srv, calls) = start();
    let mut c: RawConn = srv.connect();
    let mut bytes = b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    bytes.extend_from_slice(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    );
    bytes.extend_from_slice(SMUGGLED);
    c.send(&bytes);
    let ok = c.read_response();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-path"), Some("/ok"));
    assert!(!ok.is_close(), "{}", ok.raw_head);
    let bad = c.read_response_for("POST");
    assert_eq!(bad.status, 400);
    assert!(bad.is_close(), "{}", bad.raw_head);
    c.expect_closed("after the 400");
    assert_eq!(calls.list(), vec!["GET /ok".to_string()]);
}

/// A connection reuses one request header map and one response header map for all its
/// messages: nothing of one request's fields, or of one response's, may show in the next.
/// Table of keep-alive exchanges on one connection: the request's extra fields, and what the
/// handler (which echoes the `x-a` values it saw and sets `x-once` on `/first` only) answers.
#[test]
fn header_maps_reused_across_requests_carry_nothing_over() {
    let srv = TestServer::start(
        wire_config(),
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let seen: Vec<&str> = r
                .headers
                .get_all("x-a")
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            let seen = HeaderValue::from_str(&seen.join(",")).unwrap();
            w.headers_mut().insert("x-seen", seen);
            if r.uri.path() == "/first" {
                w.headers_mut()
                    .append("x-once", HeaderValue::from_static("1"));
                w.headers_mut()
                    .append("x-once", HeaderValue::from_static("2"));
            }
            let _ = w.write_all(r.uri.path().as_bytes());
        },
    );
    // (path, extra request fields, x-seen answered, x-once fields answered)
    let cases: &[(&str, &str, &str, usize)] = &[
        ("/first", "X-A: 1\r\nX-A: 2\r\nX-B: b\r\n", "1,2", 2),
        ("/second", "", "", 0),
        ("/third", "X-A: 3\r\n", "3", 0),
        ("/first", "", "", 2),
        ("/fifth", "", "", 0),
    ];
    let mut c: RawConn = srv.connect();
    for (i, (path, extra, seen, once)) in cases.iter().enumerate() {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n"));
        let r = c.read_response();
        assert_eq!(r.status, 200, "case {i}: {}", r.raw_head);
        assert_eq!(r.header("x-seen"), Some(*seen), "case {i}: {}", r.raw_head);
        assert_eq!(r.header_count("x-once"), *once, "case {i}: {}", r.raw_head);
        assert_eq!(r.text(), *path, "case {i}");
        assert!(!r.is_close(), "case {i}: {}", r.raw_head);
    }
}

/// A keep-alive connection that has gone idle gives its buffers back and waits reading into
/// its thread's stack (1 KiB at most); what it reads then starts a fresh buffer. Heads larger
/// than that first read, pipelined pairs and bodies must come through whole, as on a busy
/// connection. The pause is what makes the connection idle (longer than the server's 250 ms
/// grace), not a synchronisation: every assertion holds whichever path served the request.
#[test]
fn an_idle_connection_reads_whole_heads_and_pipelines_after_its_pause() {
    let (srv, calls) = start();
    let mut c: RawConn = srv.connect();
    c.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response().status, 200);
    let long_field = format!("x-long: {}\r\n", "v".repeat(3000));
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        let mut bytes =
            format!("GET /big{round} HTTP/1.1\r\nHost: a\r\n{long_field}\r\n").into_bytes();
        bytes
            .extend_from_slice(b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
        c.send(&bytes);
        let big = c.read_response();
        assert_eq!(big.status, 200, "{}", big.raw_head);
        assert_eq!(big.header("x-path"), Some(format!("/big{round}").as_str()));
        let post = c.read_response_for("POST");
        assert_eq!(post.status, 200, "{}", post.raw_head);
        assert_eq!(post.header("x-path"), Some("/body"));
    }
    assert_eq!(calls.len(), 7, "{:?}", calls.list());
}

/// `Connection: close` with the request read to its end and nothing sent since: the server
/// closes at once (no linger), and the client sees the whole response and then a clean FIN,
/// never a reset.
#[test]
fn connection_close_closes_cleanly_at_once() {
    let (srv, calls) = start();
    for _ in 0..20 {
        let mut c: RawConn = srv.connect();
        c.send(
            b"POST /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
        );
        let resp = c.read_response_for("POST");
        assert_eq!(resp.status, 200, "{}", resp.raw_head);
        assert_eq!(resp.text(), "abc");
        assert!(resp.is_close(), "{}", resp.raw_head);
        c.expect_closed("after a Connection: close response");
    }
    assert_eq!(calls.len(), 20);
}

/// A client that said `Connection: close` but pipelined more bytes after it: the server has
/// them unread, so it lingers as before rather than closing with unread data (which would
/// send a reset that can destroy the response in flight). The response arrives whole, then
/// the connection closes cleanly, and the second request is never served.
#[test]
fn connection_close_with_bytes_after_it_still_lingers() {
    let (srv, calls) = start();
    let mut c: RawConn = srv.connect();
    c.send(b"GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    let resp = c.read_response();
    assert_eq!(resp.status, 200, "{}", resp.raw_head);
    assert_eq!(resp.header("x-path"), Some("/first"));
    c.expect_closed("after the first response");
    assert_eq!(calls.list(), vec!["GET /first".to_string()]);
}
