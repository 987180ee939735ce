//! File bodies sent from the kernel (`ResponseWriter::write_file`, which the file server
//! uses): byte-exact over plain TCP across `sendfile` pieces and ranges, the same over TLS
//! through the buffer, a file that comes up short ending in a closed connection and never a
//! clean end, the writer's deadlines holding during a send, and the wrapping writers.
//!
//! Which way the bytes went (kernel or buffer) is checked by the unit tests in
//! `src/server/response.rs`, which can see the connection thread's `sendfile` count.

mod raw;
mod support;

use raw::TempDir;
use support::TestServer;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nethttp::error::{ClosedDuring, ErrorKind, TimeoutPhase};
use nethttp::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use nethttp::http::HeaderValue;
use nethttp::server::Config;
use nethttp::{
    handlers, httptest, sniff, FileServer, Handler, Request, ResponseWriter, StatusCode,
};

const MIB: u64 = 1 << 20;

/// A sparse file of `len` bytes with numbered 64 KiB blocks written at its start, across the
/// 4 MiB boundaries between `sendfile` calls and at its end, so bytes out of place show;
/// returns its contents.
fn sparse_file(path: &Path, len: u64) -> Vec<u8> {
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    let mut want = vec![0u8; len as usize];
    let block = 64 << 10;
    let mut marks = vec![0, len - block];
    let mut at = 4 * MIB - block / 2;
    while at + block < len {
        marks.push(at);
        at += 4 * MIB + 4099;
    }
    let mut f = f;
    for (n, &at) in marks.iter().enumerate() {
        let data: Vec<u8> = (0..block)
            .map(|i| (i as usize * 31 + n * 7 + 1) as u8)
            .collect();
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(at)).unwrap();
        f.write_all(&data).unwrap();
        want[at as usize..(at + block) as usize].copy_from_slice(&data);
    }
    want
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 253) as u8).collect()
}

/// GETs `url` with extra `headers`: the response and its whole body, or the error reading it.
fn get(
    client: &nethttp::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (nethttp::client::Response, nethttp::Result<Vec<u8>>) {
    let mut req = Request::new(nethttp::Method::GET, url).unwrap();
    for (k, v) in headers {
        req.headers.insert(
            nethttp::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let mut resp = client.send(req).unwrap();
    let body = resp.bytes_limited(u64::MAX);
    (resp, body)
}

fn content_length(resp: &nethttp::client::Response) -> Option<u64> {
    resp.headers
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

fn close_and_check_threads(mut srv: httptest::Server) {
    srv.close().expect("graceful close");
    assert!(
        raw::wait_for(Duration::from_secs(5), || srv.server().num_threads() == 0),
        "connection threads left behind: {}",
        srv.server().num_threads()
    );
}

#[test]
fn big_file_arrives_exact_with_its_length() {
    let t = TempDir::new("sendfile-big");
    let want = sparse_file(&t.join("big.bin"), 64 * MIB);
    let srv = httptest::Server::new(FileServer::new(t.path()));
    let (head, body) = raw::exchange(
        srv.addr(),
        "GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(raw::header(&head, "content-length"), Some("67108864"));
    assert_eq!(body.len(), want.len());
    assert!(body == want, "64 MiB body differs");
    close_and_check_threads(srv);
}

#[test]
fn ranges_across_send_pieces_are_exact() {
    let t = TempDir::new("sendfile-ranges");
    let want = sparse_file(&t.join("big.bin"), 24 * MIB);
    let srv = httptest::Server::new(FileServer::new(t.path()));
    let client = srv.client();
    let url = format!("{}/big.bin", srv.url());

    let (first, last) = (4 * MIB - 1000, 13 * MIB + 999);
    let (resp, body) = get(
        &client,
        &url,
        &[("range", &format!("bytes={first}-{last}"))],
    );
    assert_eq!(resp.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(content_length(&resp), Some(last - first + 1));
    assert!(body.unwrap() == want[first as usize..=last as usize]);

    // Several parts, each from the kernel: every part's bytes, in order.
    let parts = [
        (10, 20),
        (4 * MIB - 7, 9 * MIB),
        (24 * MIB - 5000, 24 * MIB - 1),
    ];
    let spec: Vec<String> = parts.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    let (resp, body) = get(
        &client,
        &url,
        &[("range", &format!("bytes={}", spec.join(",")))],
    );
    assert_eq!(resp.status, StatusCode::PARTIAL_CONTENT);
    let body = body.unwrap();
    assert_eq!(content_length(&resp), Some(body.len() as u64));
    let mut from = 0;
    for (a, b) in parts {
        let part = &want[a as usize..=b as usize];
        let at = body[from..]
            .windows(part.len())
            .position(|w| w == part)
            .unwrap_or_else(|| panic!("part {a}-{b} missing or out of order"));
        from += at + part.len();
    }
    close_and_check_threads(srv);
}

#[cfg(feature = "httptest-tls")]
#[test]
fn over_tls_the_buffered_copy_is_exact() {
    let t = TempDir::new("sendfile-tls");
    // Small next to the other tests: rustls is slow in a debug build.
    let want = sparse_file(&t.join("big.bin"), 5 * MIB);
    let srv = httptest::Server::new_tls(FileServer::new(t.path()));
    let url = format!("{}/big.bin", srv.url());
    let (resp, body) = get(&srv.client(), &url, &[]);
    assert_eq!(content_length(&resp), Some(5 * MIB));
    assert!(body.unwrap() == want, "5 MiB body over TLS differs");
    let (resp, body) = get(&srv.client(), &url, &[("range", "bytes=1000000-")]);
    assert_eq!(resp.status, StatusCode::PARTIAL_CONTENT);
    assert!(body.unwrap() == want[1_000_000..]);
    close_and_check_threads(srv);
}

/// A file server whose file `name` is cut to `keep` bytes once its length is in the head to
/// be sent (on `write_header`, just before the body), so the body comes up short.
struct TruncateOnHead {
    dir: PathBuf,
    keep: u64,
}

struct TruncatingWriter<'a> {
    inner: &'a mut dyn ResponseWriter,
    file: PathBuf,
    keep: u64,
}

impl Write for TruncatingWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.inner.write(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ResponseWriter for TruncatingWriter<'_> {
    fn headers(&self) -> &nethttp::http::HeaderMap {
        self.inner.headers()
    }
    fn headers_mut(&mut self) -> &mut nethttp::http::HeaderMap {
        self.inner.headers_mut()
    }
    fn write_header(&mut self, status: StatusCode) {
        File::options()
            .write(true)
            .open(&self.file)
            .unwrap()
            .set_len(self.keep)
            .unwrap();
        self.inner.write_header(status)
    }
    fn status(&self) -> Option<StatusCode> {
        self.inner.status()
    }
    fn write_file(&mut self, file: &File, len: u64) -> std::io::Result<()> {
        self.inner.write_file(file, len)
    }
}

impl Handler for TruncateOnHead {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let mut tw = TruncatingWriter {
            inner: w,
            file: self.dir.join(r.uri.path().trim_start_matches('/')),
            keep: self.keep,
        };
        FileServer::new(&self.dir).serve_http(&mut tw, r);
    }
}

#[test]
fn a_file_that_comes_up_short_closes_the_connection() {
    // (file size, size once the head is decided): from the kernel, and small enough to be
    // buffered with the head.
    for (size, keep) in [(8 * MIB, 3 * MIB + 17), (10 << 10, 5000)] {
        let t = TempDir::new("sendfile-short");
        std::fs::write(t.join("f.bin"), pattern(size as usize)).unwrap();
        let srv = httptest::Server::new(TruncateOnHead {
            dir: t.path().to_path_buf(),
            keep,
        });
        let (resp, body) = get(&srv.client(), &format!("{}/f.bin", srv.url()), &[]);
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(content_length(&resp), Some(size), "{size}");
        let err = body.expect_err("a short body must not end cleanly");
        assert_eq!(
            err.kind(),
            ErrorKind::ConnectionClosed(ClosedDuring::Body),
            "{size}: {err}"
        );
        // The server is fine: the next request gets the (now short) file whole.
        let (_, body) = get(&srv.client(), &format!("{}/f.bin", srv.url()), &[]);
        assert!(body.unwrap() == pattern(size as usize)[..keep as usize]);
        close_and_check_threads(srv);
    }
}

#[test]
fn write_file_past_the_end_of_the_file_is_an_error_for_both_sides() {
    let t = TempDir::new("sendfile-past-end");
    std::fs::write(t.join("f.bin"), pattern(MIB as usize)).unwrap();
    let path = t.join("f.bin");
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let srv = httptest::Server::new(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let file = File::open(&path).unwrap();
        w.headers_mut().insert(CONTENT_LENGTH, (2 * MIB).into());
        let r = w.write_file(&file, 2 * MIB);
        let _ = tx.lock().unwrap().send(r.map_err(|e| e.kind()));
    });
    let (resp, body) = get(&srv.client(), &format!("{}/", srv.url()), &[]);
    assert_eq!(content_length(&resp), Some(2 * MIB));
    let err = body.expect_err("a short body must not end cleanly");
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed(ClosedDuring::Body));
    let handler_saw = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(handler_saw, Err(std::io::ErrorKind::UnexpectedEof));
    close_and_check_threads(srv);
}

/// A handler sending a 64 MiB file to a client that never reads: `write_file` must give up
/// by the writer's deadline (`write_timeout`) or stall timeout (`inactivity_timeout`).
#[test]
fn deadlines_stop_a_send_the_client_does_not_read() {
    for (name, config) in [
        (
            "write_timeout",
            Config {
                write_timeout: Some(Duration::from_millis(400)),
                ..Config::default()
            },
        ),
        (
            "inactivity_timeout",
            Config {
                inactivity_timeout: Some(Duration::from_millis(400)),
                ..Config::default()
            },
        ),
    ] {
        let t = TempDir::new("sendfile-stall");
        let path = t.join("big.bin");
        sparse_file(&path, 64 * MIB);
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let srv = httptest::Server::with_config(
            config,
            move |w: &mut dyn ResponseWriter, _r: &mut Request| {
                let file = File::open(&path).unwrap();
                w.headers_mut().insert(CONTENT_LENGTH, (64 * MIB).into());
                let start = Instant::now();
                let r = w.write_file(&file, 64 * MIB);
                let _ = tx.lock().unwrap().send((r, start.elapsed()));
            },
        );
        let mut client = TcpStream::connect(srv.addr()).unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let (r, took) = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{name}: the send did not stop"));
        let e = nethttp::Error::from_io(r.expect_err(name), TimeoutPhase::WriteResponse);
        assert_eq!(
            e.kind(),
            ErrorKind::Timeout(TimeoutPhase::WriteResponse),
            "{name}"
        );
        assert!(took < Duration::from_secs(10), "{name}: took {took:?}");
        drop(client);
        close_and_check_threads(srv);
    }
}

/// Logs the access lines, so `log_requests` wraps the writer.
struct AccessLog(Mutex<Vec<String>>);

impl log::Log for AccessLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "nethttp::access"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static ACCESS: AccessLog = AccessLog(Mutex::new(Vec::new()));

#[test]
fn wrapping_writers_send_the_file_exact() {
    let _ = log::set_logger(&ACCESS);
    log::set_max_level(log::LevelFilter::Info);
    let t = TempDir::new("sendfile-wrapped");
    let size = 3 * MIB as usize + 5;
    std::fs::write(t.join("f.bin"), pattern(size)).unwrap();
    let dir = t.path().to_path_buf();
    let fs = move || FileServer::new(&dir);
    let cases: Vec<(&str, Box<dyn Handler>)> = vec![
        ("log_requests", Box::new(handlers::log_requests(fs()))),
        (
            "timeout_handler",
            Box::new(handlers::timeout_handler(fs(), Duration::from_secs(30), "")),
        ),
        (
            "max_bytes_handler",
            Box::new(handlers::max_bytes_handler(fs(), 10)),
        ),
        (
            "sniff_content_type",
            Box::new(sniff::sniff_content_type(fs())),
        ),
        ("strip_prefix", Box::new(handlers::strip_prefix("/p", fs()))),
    ];
    for (name, h) in cases {
        let h: Arc<dyn Handler> = Arc::from(h);
        let srv = httptest::Server::new(move |w: &mut dyn ResponseWriter, r: &mut Request| {
            h.serve_http(w, r)
        });
        let path = if name == "strip_prefix" {
            "/p/f.bin"
        } else {
            "/f.bin"
        };
        let (resp, body) = get(&srv.client(), &format!("{}{path}", srv.url()), &[]);
        assert_eq!(resp.status, StatusCode::OK, "{name}");
        assert_eq!(content_length(&resp), Some(size as u64), "{name}");
        assert!(body.unwrap() == pattern(size), "{name}: body differs");
        close_and_check_threads(srv);
    }
    let logged = ACCESS.0.lock().unwrap().clone();
    assert!(
        logged
            .iter()
            .any(|l| l.contains(&format!("\" 200 {size} "))),
        "the access line counts the file's bytes: {logged:?}"
    );
}

#[test]
fn a_sniffed_type_comes_from_the_files_first_bytes() {
    let t = TempDir::new("sendfile-sniff");
    let mut html = b"<!DOCTYPE html><title>x</title>".to_vec();
    html.resize(2 * MIB as usize, b' ');
    std::fs::write(t.join("page"), &html).unwrap();
    let path = t.join("page");
    // The server's own sniffing, and sniff_content_type's in front of it.
    let plain = move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let mut file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        w.headers_mut().insert(CONTENT_LENGTH, len.into());
        w.write_file(&file, len).unwrap();
        // The file's position moved on by what was sent.
        assert_eq!(file.read(&mut [0u8; 1]).unwrap(), 0);
    };
    let handlers: [Box<dyn Handler>; 2] = [
        Box::new(plain.clone()),
        Box::new(sniff::sniff_content_type(plain)),
    ];
    for h in handlers {
        let h: Arc<dyn Handler> = Arc::from(h);
        let srv = httptest::Server::new(move |w: &mut dyn ResponseWriter, r: &mut Request| {
            h.serve_http(w, r)
        });
        let (resp, body) = get(&srv.client(), &format!("{}/", srv.url()), &[]);
        assert_eq!(
            resp.headers.get(CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        assert!(body.unwrap() == html);
        close_and_check_threads(srv);
    }
}

/// Sends the first 1000 bytes of a 2000-byte file with `write_file` (after a `flush` if
/// `flush_first`), reports the file position after it, then copies the rest of the file with
/// `io::copy`. No Content-Length is set: the server counts.
fn first_part_then_copy(
    path: std::path::PathBuf,
    flush_first: bool,
    tx: mpsc::Sender<(String, u64)>,
) -> impl Handler {
    let tx = Mutex::new(tx);
    move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let mut f = File::open(&path).unwrap();
        if flush_first {
            let _ = w.flush();
        }
        w.write_file(&f, 1000).unwrap();
        let pos = f.stream_position().unwrap();
        let _ = tx.lock().unwrap().send((r.method.to_string(), pos));
        std::io::copy(&mut f, w).unwrap();
    }
}

#[test]
fn head_write_file_moves_the_position_and_counts_as_get() {
    for flush_first in [false, true] {
        let t = TempDir::new("sendfile-head-pos");
        std::fs::write(t.join("f.bin"), pattern(2000)).unwrap();
        let (tx, rx) = mpsc::channel();
        let srv = TestServer::with_handler(first_part_then_copy(t.join("f.bin"), flush_first, tx));
        let mut c = srv.connect();
        // HTTP/1.0 so the GET is framed by its length or the close, never chunked.
        c.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
        let g = c.read_response();
        let (_, get_pos) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut c = srv.connect();
        c.send("HEAD / HTTP/1.0\r\nHost: a\r\n\r\n");
        let h = c.read_response_for("HEAD");
        let (_, head_pos) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(g.body.len(), 2000, "flush_first={flush_first}");
        assert_eq!(get_pos, 1000, "GET, flush_first={flush_first}");
        assert_eq!(
            head_pos, 1000,
            "HEAD (flush_first={flush_first}): file position after write_file(1000) is \
             {head_pos}, want 1000 as on GET"
        );
        if !flush_first {
            assert_eq!(
                h.header("content-length"),
                Some("2000"),
                "HEAD's Content-Length differs from the GET's 2000: {}",
                h.raw_head
            );
        }
    }
}

/// sendfile(2) has no MSG_NOSIGNAL: a send to a socket whose writing side is shut down raises
/// SIGPIPE on the connection thread, which kills a program whose SIGPIPE action is the
/// default (a C or Python host, a CLI that restored it). Rust's runtime ignores SIGPIPE and
/// the crate forbids `unsafe`, so the test cannot restore the default; it blocks SIGPIPE on
/// its thread (the server's threads inherit the mask), so that one raised stays pending and
/// shows in /proc/self/task/*/status (`raw::sigpipe_pending`).
#[cfg(target_os = "linux")]
#[test]
fn a_send_cut_off_raises_no_sigpipe() {
    // Inherited by the server's threads, which this thread starts.
    raw::block_sigpipe();

    let t = TempDir::new("sendfile-sigpipe");
    File::create(t.join("big.bin"))
        .unwrap()
        .set_len(256 * MIB)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let path = t.join("big.bin");
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let file = File::open(&path).unwrap();
        w.headers_mut().insert(CONTENT_LENGTH, (256 * MIB).into());
        let r = w.write_file(&file, 256 * MIB);
        let _ = tx.lock().unwrap().send(r.map_err(|e| e.to_string()));
        // Stays alive (a thread's pending signals go with it) until the test has looked.
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
    });
    // The head (with the first 512 bytes) leaves before sendfile starts.
    let _c = raw::get_and_stall_after_the_head(srv.addr());
    // The client reads no more: sendfile fills the socket buffers and blocks. Closing the
    // server shuts the connection down under it.
    srv.server().close();
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("write_file returned");
    assert!(r.is_err(), "{r:?}");
    let pending = raw::sigpipe_pending();
    let _ = release_tx.send(());
    assert!(
        pending.is_empty(),
        "write_file ({r:?}) raised SIGPIPE, which kills a process whose SIGPIPE action is \
         the default:\n{}",
        pending.join("\n")
    );
}

/// A HEAD for a file under a caller's `Content-Encoding` (a pre-compressed `.gz`): the file
/// server sends no length for a whole response then (as Go), and HEAD must not claim an empty
/// body (`Content-Length: 0`) where the GET sends the file.
#[test]
fn head_of_an_encoded_file_does_not_claim_an_empty_body() {
    let t = TempDir::new("sendfile-head-ce");
    for (name, size) in [("small.gz", 3000usize), ("big.gz", 200_000usize)] {
        std::fs::write(t.join(name), pattern(size)).unwrap();
    }
    let fs = FileServer::new(t.path());
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut()
            .insert("content-encoding", HeaderValue::from_static("gzip"));
        fs.serve_http(w, r)
    });
    for (name, size) in [("small.gz", 3000usize), ("big.gz", 200_000usize)] {
        let mut c = srv.connect();
        c.send(format!("GET /{name} HTTP/1.1\r\nHost: a\r\n\r\n"));
        let g = c.read_response();
        assert_eq!(g.body.len(), size, "{name}");
        c.send(format!("HEAD /{name} HTTP/1.1\r\nHost: a\r\n\r\n"));
        let h = c.read_response_for("HEAD");
        let head_cl = h.header("content-length");
        assert!(
            head_cl.is_none() || head_cl == g.header("content-length"),
            "{name}: HEAD says Content-Length {head_cl:?}, the GET sent {size} bytes \
             (its Content-Length {:?})\nHEAD head:\n{}",
            g.header("content-length"),
            h.raw_head
        );
    }
}

/// `write_file` of more than a declared `Content-Length` leaves room for fails with
/// `ContentLengthMismatch` and sends nothing, also for a small file the server would buffer
/// with the head (it was buffered and cut at the head before); the handler can then write the
/// body it declared.
#[test]
fn write_file_longer_than_the_declared_length_is_refused_whole() {
    let t = TempDir::new("sendfile-over-declared");
    for (name, size) in [("small.bin", 1000usize), ("big.bin", 100_000)] {
        std::fs::write(t.join(name), pattern(size)).unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let dir = t.path().to_path_buf();
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let file = File::open(dir.join(&r.uri.path()[1..])).unwrap();
        let len = file.metadata().unwrap().len();
        w.headers_mut().insert(CONTENT_LENGTH, 500u64.into());
        let refused = w
            .write_file(&file, len)
            .map_err(|e| nethttp::Error::from(e).kind());
        let _ = tx.lock().unwrap().send(refused);
        w.write_all(&[b'x'; 500]).unwrap();
    });
    for name in ["small.bin", "big.bin"] {
        let mut c = srv.connect();
        c.send(format!("GET /{name} HTTP/1.1\r\nHost: a\r\n\r\n"));
        let resp = c.read_response();
        let refused = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(
            refused,
            Err(ErrorKind::ContentLengthMismatch),
            "{name}: write_file of more than the declared 500 bytes"
        );
        assert_eq!(resp.header("content-length"), Some("500"), "{name}");
        assert!(
            resp.body == [b'x'; 500],
            "{name}: the body is not the 500 bytes written after"
        );
    }
}
