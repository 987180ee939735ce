//! Benchmarks of the sans-IO wire core (`nethttp::proto`): parsing and framing request and
//! response heads, and decoding and encoding chunked bodies, on in-memory buffers.
//!
//! Run with `cargo bench --bench proto`; results are recorded in `docs/PERFORMANCE.md`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use nethttp::proto::chunked::{self, ChunkedDecoder};
use nethttp::proto::framing::{self, Framing};
use nethttp::proto::head::{self, Parsed};
use nethttp::proto::Limits;
use nethttp::Method;

/// A request head as a desktop browser sends it for a page: about 500 bytes, 11 fields.
const BROWSER_REQUEST: &[u8] = b"GET /articles/2024/03/http-parsing?ref=home&page=2 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/\r\n\
Cookie: session=3f2a9c1e7b4d4e0f8a6b; theme=dark; consent=1\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
\r\n";

/// A request head as `curl https://example.com/` sends it: 3 fields.
const CURL_REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

/// A response head for a small HTML page, as a typical origin server sends it: 9 fields.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Date: Tue, 12 Mar 2024 10:15:42 GMT\r\n\
Server: nginx/1.24.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Length: 15320\r\n\
Last-Modified: Mon, 11 Mar 2024 18:02:11 GMT\r\n\
ETag: \"65ef47a3-3bd8\"\r\n\
Cache-Control: max-age=600\r\n\
Vary: Accept-Encoding\r\n\
Connection: keep-alive\r\n\
\r\n";

/// The size of the chunked bodies: 64 KiB.
const BODY_LEN: usize = 64 * 1024;

/// Parses and frames a request head; panics if it is not a complete, valid head.
fn request_head(wire: &[u8], limits: &Limits) -> Framing {
    let Ok(Parsed::Complete { head, len }) = head::parse_request(wire, limits) else {
        panic!("bench request head does not parse");
    };
    assert_eq!(len, wire.len());
    framing::request(head.version, &head.headers).expect("bench request head frames")
}

/// Parses a request head and decides its framing: what a server does for each request.
fn bench_request_heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_request");
    for (name, wire) in [("browser", BROWSER_REQUEST), ("curl", CURL_REQUEST)] {
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), wire, |b, wire| {
            b.iter(|| request_head(black_box(wire), &limits))
        });
    }
    group.finish();
}

/// Parses a response head and decides its framing: what a client does for each response.
fn bench_response_head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_response");
    group.throughput(Throughput::Bytes(RESPONSE.len() as u64));
    group.bench_function("typical", |b| {
        b.iter(|| {
            let Ok(Parsed::Complete { head, .. }) =
                head::parse_response(black_box(RESPONSE), &limits)
            else {
                panic!("bench response head does not parse");
            };
            framing::response(&Method::GET, head.status, head.version, &head.headers)
                .expect("bench response head frames")
        })
    });
    group.finish();
}

/// A body of `BODY_LEN` bytes that is not all one value.
fn body() -> Vec<u8> {
    (0..BODY_LEN).map(|i| (i % 251) as u8).collect()
}

/// `body` in the chunked coding, in chunks of `chunk` bytes, with the last chunk.
fn chunked_wire(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(body.len() + body.len() / chunk * 8 + 8);
    for piece in body.chunks(chunk) {
        chunked::encode_chunk(piece, &mut wire);
    }
    chunked::encode_last(None, &mut wire);
    wire
}

/// Decodes a whole chunked message held in one buffer, as after a large read, copying the body
/// into `out` as a body reader copies it into its caller's buffer; returns the body length.
///
/// The copy is part of what is measured: the decoder itself only reports where the body bytes
/// lie, so without it the 4 KiB case would time nothing but sixteen size lines.
fn decode_all(wire: &[u8], limits: &Limits, out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut dec = ChunkedDecoder::new(limits);
    let mut pos = 0;
    while !dec.is_done() {
        let step = dec
            .decode(&wire[pos..], usize::MAX)
            .expect("bench body decodes");
        out.extend_from_slice(&wire[pos..][step.data]);
        pos += step.consumed;
    }
    out.len()
}

/// Decodes a 64 KiB chunked body cut in 4 KiB and in 16-byte chunks, copying it out.
fn bench_chunked_decode(c: &mut Criterion) {
    let limits = Limits::default();
    let body = body();
    let mut out = Vec::with_capacity(BODY_LEN);
    let mut group = c.benchmark_group("chunked_decode_64KiB");
    group.throughput(Throughput::Bytes(BODY_LEN as u64));
    for (name, chunk) in [("4KiB_chunks", 4096), ("16B_chunks", 16)] {
        let wire = chunked_wire(&body, chunk);
        assert_eq!(decode_all(&wire, &limits, &mut out), BODY_LEN);
        assert_eq!(out, body);
        group.bench_with_input(BenchmarkId::from_parameter(name), &wire, |b, wire| {
            b.iter(|| decode_all(black_box(wire), &limits, &mut out))
        });
    }
    group.finish();
}

/// Encodes a 64 KiB body as 4 KiB chunks plus the last chunk into a reused buffer.
fn bench_chunked_encode(c: &mut Criterion) {
    let body = body();
    let mut dst = Vec::with_capacity(BODY_LEN + 1024);
    let mut group = c.benchmark_group("chunked_encode_64KiB");
    group.throughput(Throughput::Bytes(BODY_LEN as u64));
    group.bench_function("4KiB_chunks", |b| {
        b.iter(|| {
            dst.clear();
            for piece in black_box(&body).chunks(4096) {
                chunked::encode_chunk(piece, &mut dst);
            }
            chunked::encode_last(None, &mut dst);
            dst.len()
        })
    });
    group.finish();
}

/// Runs every benchmark, taking criterion's options from the command line. Written out rather
/// than with `criterion_group!`, whose generated function has no doc comment and so fails the
/// crate's `missing_docs` lint.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_request_heads(&mut c);
    bench_response_head(&mut c);
    bench_chunked_decode(&mut c);
    bench_chunked_encode(&mut c);
    c.final_summary();
}
