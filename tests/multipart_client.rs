//! `multipart::Writer` on the wire: the requests a client sends with
//! `RequestBuilder::multipart`, read by scripted raw servers byte for byte (a sized body, a
//! chunked one, a random boundary, a 307 that sends the body again), a 50 MB upload streamed
//! through a bounded buffer, a round trip through this crate's own server with awkward names,
//! and the errors of bad boundaries and missing files.

mod client_support;
mod policy_support;

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use client_support::{assert_no_leaks, RawConn, RawServer, Watchdog};
use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};
use nethttp::http::header::{HeaderMap, HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use nethttp::multipart::{file_content_disposition, Writer};
use nethttp::proto::head;
use nethttp::{httptest, Body, ErrorKind, Method, ServeMux, StatusCode};

const BOUNDARY: &str = "XyZ-boundary";

/// How long a test waits for what a server thread saw.
const WAIT: Duration = Duration::from_secs(10);

fn client() -> Client {
    Client::with_config(policy_support::config())
}

/// A test client and its transport, for a leak check at the end.
fn client_and_transport() -> (Client, Transport) {
    let t = Transport::with_config(policy_support::no_proxy());
    let c = Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(policy_support::BOUND),
        ..ClientConfig::default()
    });
    (c, t)
}

/// A form with the fixed test boundary.
fn form() -> Writer {
    let mut w = Writer::new();
    w.set_boundary(BOUNDARY).unwrap();
    w
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    /// `name` in a directory of its own under the temporary directory, holding `content`.
    fn new(name: &str, content: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!(
            "nethttp-mpw-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One request as it came off the wire: the head's exact text, and the body with its framing
/// removed.
#[derive(Debug)]
struct Wire {
    head: String,
    path: String,
    body: Vec<u8>,
}

/// Reads the bytes of one request head into `c.buf`; false if the peer closed first.
fn fill_head(c: &mut RawConn) -> bool {
    let mut chunk = [0u8; 16 << 10];
    while head::find_end(&c.buf, 0).is_none() {
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// Reads one whole request off `c`; `None` if the peer closed before a head.
fn read_wire(c: &mut RawConn) -> Option<Wire> {
    if !fill_head(c) {
        return None;
    }
    let end = head::find_end(&c.buf, 0)?;
    let head = String::from_utf8(c.buf[..end].to_vec()).expect("an ASCII head");
    let req = c.read_request()?;
    Some(Wire {
        head,
        path: req.head.uri.to_string(),
        body: req.body,
    })
}

/// A server that answers every request with `200 ok` and hands what it read to the test.
fn recording_server() -> (RawServer, mpsc::Receiver<Wire>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(w) = read_wire(&mut c) {
            let _ = tx.lock().unwrap().send(w);
            if !c.send(client_support::ok_response("ok")) {
                return;
            }
        }
    });
    (srv, rx)
}

/// The head a test request carries: the test's user agent and no compression, so the whole
/// head is known.
fn post(c: &Client, url: &str, w: Writer) -> nethttp::Result<nethttp::Response> {
    c.request(Method::POST, url)
        .header("user-agent", "mpw-test")
        .header("accept-encoding", "identity")
        .multipart(w)
        .send()
}

fn expected_head(port: u16, path: &str, framing: &str) -> String {
    expected_head_with(port, path, "", framing)
}

/// As [`expected_head`], with `extra` (whole lines) after the test's own fields.
fn expected_head_with(port: u16, path: &str, extra: &str, framing: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         user-agent: mpw-test\r\n\
         accept-encoding: identity\r\n\
         content-type: multipart/form-data; boundary={BOUNDARY}\r\n\
         {extra}\
         {framing}\r\n\
         \r\n"
    )
}

/// The body Go's writer makes for the same calls: a field, a file from disk, bytes, and a part
/// with its own headers (sorted, canonical names).
fn four_part_form(file: &TempFile) -> (Writer, Vec<u8>) {
    let mut w = form();
    w.write_field("title", "Q3 report").unwrap();
    w.file("doc", &file.0).unwrap();
    w.form_file("blob", "b.bin", vec![0u8, 1, 2, 255]).unwrap();
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        CONTENT_DISPOSITION,
        file_content_disposition("meta", "meta.json").unwrap(),
    );
    h.insert("x-trace", HeaderValue::from_static("7"));
    w.part(h, r#"{"a":1}"#);

    let mut want = Vec::new();
    want.extend_from_slice(
        b"--XyZ-boundary\r\n\
          Content-Disposition: form-data; name=\"title\"\r\n\
          \r\n\
          Q3 report\r\n\
          --XyZ-boundary\r\n\
          Content-Disposition: form-data; name=\"doc\"; filename=\"report.txt\"\r\n\
          Content-Type: application/octet-stream\r\n\
          \r\n\
          line one\r\n--XyZ-boundarx\r\n\
          --XyZ-boundary\r\n\
          Content-Disposition: form-data; name=\"blob\"; filename=\"b.bin\"\r\n\
          Content-Type: application/octet-stream\r\n\
          \r\n",
    );
    want.extend_from_slice(&[0, 1, 2, 255]);
    want.extend_from_slice(
        b"\r\n--XyZ-boundary\r\n\
          Content-Disposition: form-data; name=\"meta\"; filename=\"meta.json\"\r\n\
          Content-Type: application/json\r\n\
          X-Trace: 7\r\n\
          \r\n\
          {\"a\":1}\r\n\
          --XyZ-boundary--\r\n",
    );
    (w, want)
}

fn report_file() -> TempFile {
    TempFile::new("report.txt", b"line one\r\n--XyZ-boundarx")
}

#[test]
fn sized_form_exact_bytes() {
    let _wd = Watchdog::new("sized_form_exact_bytes", Duration::from_secs(30));
    let (srv, rx) = recording_server();
    let file = report_file();
    let (w, want) = four_part_form(&file);
    let mut resp = post(&client(), &srv.url("/upload"), w).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let got = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        got.head,
        expected_head(
            srv.addr().port(),
            "/upload",
            &format!("Content-Length: {}", want.len())
        )
    );
    assert_eq!(
        String::from_utf8_lossy(&got.body),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(got.body, want);
}

/// A part whose length is not known makes the whole body chunked; the bytes are the same.
#[test]
fn unknown_length_goes_chunked() {
    let _wd = Watchdog::new("unknown_length_goes_chunked", Duration::from_secs(30));
    let (srv, rx) = recording_server();
    let mut w = form();
    w.write_field("a", "1").unwrap();
    w.form_file(
        "log",
        "log.txt",
        Body::from_reader(io::Cursor::new(b"streamed".to_vec())),
    )
    .unwrap();
    let mut resp = post(&client(), &srv.url("/chunked"), w).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let got = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        got.head,
        expected_head(srv.addr().port(), "/chunked", "Transfer-Encoding: chunked")
    );
    assert_eq!(
        String::from_utf8(got.body).unwrap(),
        "--XyZ-boundary\r\n\
         Content-Disposition: form-data; name=\"a\"\r\n\
         \r\n\
         1\r\n\
         --XyZ-boundary\r\n\
         Content-Disposition: form-data; name=\"log\"; filename=\"log.txt\"\r\n\
         Content-Type: application/octet-stream\r\n\
         \r\n\
         streamed\r\n\
         --XyZ-boundary--\r\n"
    );
}

/// An empty form is Go's close delimiter alone, sent with its length.
#[test]
fn empty_form() {
    let _wd = Watchdog::new("empty_form", Duration::from_secs(30));
    let (srv, rx) = recording_server();
    post(&client(), &srv.url("/empty"), form()).unwrap();
    let got = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        got.head,
        expected_head(srv.addr().port(), "/empty", "Content-Length: 20")
    );
    assert_eq!(got.body, b"\r\n--XyZ-boundary--\r\n");
}

/// Each form gets its own random boundary, 60 hex digits, named in its Content-Type and
/// delimiting its body.
#[test]
fn random_boundary_on_the_wire() {
    let _wd = Watchdog::new("random_boundary_on_the_wire", Duration::from_secs(30));
    let (srv, rx) = recording_server();
    let c = client();
    let mut boundaries = Vec::new();
    for _ in 0..2 {
        let mut w = Writer::new();
        w.write_field("a", "1").unwrap();
        let b = w.boundary().to_owned();
        assert_eq!(b.len(), 60, "{b}");
        assert!(b
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        nethttp::proto::multipart::check_boundary(&b).unwrap();
        assert_eq!(
            w.form_data_content_type(),
            format!("multipart/form-data; boundary={b}")
        );
        c.request(Method::POST, &srv.url("/r"))
            .multipart(w)
            .send()
            .unwrap();
        let got = rx.recv_timeout(WAIT).unwrap();
        let ct = got
            .head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap();
        assert_eq!(nethttp::proto::multipart::boundary(ct).unwrap(), b);
        assert_eq!(
            String::from_utf8(got.body).unwrap(),
            format!("--{b}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--{b}--\r\n")
        );
        boundaries.push(b);
    }
    assert_ne!(boundaries[0], boundaries[1]);
}

/// A 307 sends the same body again, the file read anew; a form that cannot be produced again
/// gets the 307 back unfollowed, as Go does without `GetBody`.
#[test]
fn redirect_307_resends_the_body() {
    let _wd = Watchdog::new("redirect_307_resends_the_body", Duration::from_secs(30));
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        while let Some(w) = read_wire(&mut c) {
            let redirect = w.path == "/first";
            let _ = tx.lock().unwrap().send(w);
            let resp = if redirect {
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"
                    .to_string()
            } else {
                client_support::ok_response("ok")
            };
            if !c.send(resp) {
                return;
            }
        }
    });
    let (c, t) = client_and_transport();
    let file = report_file();
    let (w, want) = four_part_form(&file);
    let mut resp = post(&c, &srv.url("/first"), w).unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text().unwrap(), "ok");
    let port = srv.addr().port();
    let framing = format!("Content-Length: {}", want.len());
    let first = rx.recv_timeout(WAIT).unwrap();
    let second = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(first.head, expected_head(port, "/first", &framing));
    let referer = format!("referer: http://127.0.0.1:{port}/first\r\n");
    assert_eq!(
        second.head,
        expected_head_with(port, "/again", &referer, &framing)
    );
    assert_eq!(first.body, want);
    assert_eq!(second.body, want);

    let mut w = form();
    w.form_file("x", "x", Body::sized(io::Cursor::new(b"once".to_vec()), 4))
        .unwrap();
    let resp = post(&c, &srv.url("/first"), w).unwrap();
    assert_eq!(resp.status, StatusCode::TEMPORARY_REDIRECT);
    let only = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(only.path, "/first");
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    drop((resp, c));
    assert_no_leaks(&t);
}

/// Reads exactly `n` body bytes off `c` (after its head), handing each piece to `each` as it
/// comes, so a large body is checked without holding it.
fn stream_body(c: &mut RawConn, mut n: u64, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    let buffered = std::mem::take(&mut c.buf);
    let take = (buffered.len() as u64).min(n) as usize;
    each(&buffered[..take]);
    n -= take as u64;
    let mut chunk = vec![0u8; 64 << 10];
    while n > 0 {
        let want = (chunk.len() as u64).min(n) as usize;
        let got = c.stream.read(&mut chunk[..want])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        each(&chunk[..got]);
        n -= got as u64;
    }
    Ok(())
}

/// What a large upload's server saw: the head's text, and the body's length, its first and
/// last bytes, and how many bytes in between were not zero.
#[derive(Debug, Default)]
struct Large {
    head: String,
    len: u64,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    nonzero_middle: u64,
    /// How much the content's reader had produced when the first 1 MiB of body arrived.
    produced_at_1mib: Option<u64>,
}

const PREFIX: usize = 200;
const SUFFIX: usize = 40;

/// A server for one large upload: reads it through [`stream_body`], then answers.
fn large_server(produced: Option<Arc<AtomicU64>>) -> (RawServer, mpsc::Receiver<Large>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let srv = RawServer::start(move |mut c, _| {
        let _ = c.stream.set_read_timeout(Some(Duration::from_secs(20)));
        if !fill_head(&mut c) {
            return;
        }
        let end = head::find_end(&c.buf, 0).unwrap();
        let mut seen = Large {
            head: String::from_utf8_lossy(&c.buf[..end]).into_owned(),
            ..Large::default()
        };
        let req = c.read_head().unwrap();
        let len: u64 = req.headers["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut at = 0u64;
        let mut tail = Vec::new();
        let r = stream_body(&mut c, len, |piece| {
            for &b in piece {
                if (at as usize) < PREFIX {
                    seen.prefix.push(b);
                } else if b != 0 {
                    seen.nonzero_middle += 1;
                }
                at += 1;
            }
            tail.extend_from_slice(piece);
            if tail.len() > 4 * SUFFIX {
                tail.drain(..tail.len() - SUFFIX);
            }
            if at >= 1 << 20 && seen.produced_at_1mib.is_none() {
                seen.produced_at_1mib = produced.as_ref().map(|p| p.load(Ordering::SeqCst));
            }
        });
        if r.is_err() {
            return;
        }
        let keep = tail.len().min(SUFFIX);
        seen.suffix = tail[tail.len() - keep..].to_vec();
        // The suffix's bytes were counted as middle bytes; take back the non-zero ones.
        seen.nonzero_middle -= seen.suffix.iter().filter(|&&b| b != 0).count() as u64;
        seen.len = at;
        let _ = tx.lock().unwrap().send(seen);
        c.send(client_support::ok_response("ok"));
    });
    (srv, rx)
}

const LARGE: u64 = 50 << 20;

/// A 50 MB file added by path goes out with its exact length and content (a sparse file:
/// zeros), read as the request is written.
#[test]
fn large_file_by_path() {
    let _wd = Watchdog::new("large_file_by_path", Duration::from_secs(120));
    let file = TempFile::new("big.bin", b"");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file.0)
        .unwrap()
        .set_len(LARGE)
        .unwrap();
    let (srv, rx) = large_server(None);
    let mut w = form();
    w.file("big", &file.0).unwrap();
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"big\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let total = head.len() as u64 + LARGE + tail.len() as u64;
    let mut resp = post(&client_bounded(), &srv.url("/big"), w).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let seen = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        seen.head,
        expected_head(
            srv.addr().port(),
            "/big",
            &format!("Content-Length: {total}")
        )
    );
    assert_eq!(seen.len, total);
    let mut want_prefix = head.as_bytes().to_vec();
    want_prefix.resize(PREFIX, 0);
    assert_eq!(seen.prefix, want_prefix);
    let mut want_suffix = vec![0u8; SUFFIX - tail.len()];
    want_suffix.extend_from_slice(tail.as_bytes());
    assert_eq!(seen.suffix, want_suffix);
    assert_eq!(seen.nonzero_middle, 0);
}

/// A client for the large uploads: a 64 KiB write buffer, and time enough for 50 MB in a
/// debug build on a busy machine.
fn client_bounded() -> Client {
    Client::with_config(ClientConfig {
        transport: policy_support::transport(TransportConfig {
            write_buffer_size: 64 << 10,
            ..policy_support::no_proxy()
        }),
        timeout: Some(Duration::from_secs(100)),
        ..ClientConfig::default()
    })
}

/// A content reader that makes `left` zero bytes, counting what it produced and the largest
/// read asked of it.
struct Zeros {
    left: u64,
    produced: Arc<AtomicU64>,
    max_ask: Arc<AtomicU64>,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.max_ask.fetch_max(buf.len() as u64, Ordering::SeqCst);
        let n = (buf.len() as u64).min(self.left) as usize;
        buf[..n].fill(0);
        self.left -= n as u64;
        self.produced.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

/// The content is read only as the request is written, one write buffer at a time: never more
/// than the buffer is asked of it at once, and when the server has 1 MiB of the body the reader
/// has produced at most that plus what the sockets hold, nowhere near the 50 MB a body built in
/// memory first would have taken.
#[test]
fn large_upload_is_streamed_not_buffered() {
    let _wd = Watchdog::new(
        "large_upload_is_streamed_not_buffered",
        Duration::from_secs(120),
    );
    let produced = Arc::new(AtomicU64::new(0));
    let max_ask = Arc::new(AtomicU64::new(0));
    let (srv, rx) = large_server(Some(Arc::clone(&produced)));
    let mut w = form();
    let zeros = Zeros {
        left: LARGE,
        produced: Arc::clone(&produced),
        max_ask: Arc::clone(&max_ask),
    };
    w.form_file("big", "big.bin", Body::sized(zeros, LARGE))
        .unwrap();
    let mut resp = post(&client_bounded(), &srv.url("/big"), w).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let seen = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(produced.load(Ordering::SeqCst), LARGE);
    assert!(seen.len > LARGE);
    assert_eq!(seen.nonzero_middle, 0);
    let at_1mib = seen.produced_at_1mib.unwrap();
    assert!(
        at_1mib < LARGE / 2,
        "the reader had produced {at_1mib} bytes when 1 MiB had arrived"
    );
    let ask = max_ask.load(Ordering::SeqCst);
    assert!(ask <= 64 << 10, "a read asked for {ask} bytes");
}

/// What this crate's server reads back from a form with awkward names: quotes and backslashes
/// survive, CR and LF arrive percent-encoded (as from a browser), file names are base names.
#[test]
fn round_trip_through_own_server() {
    let _wd = Watchdog::new("round_trip_through_own_server", Duration::from_secs(30));
    let mut mux = ServeMux::new();
    mux.handle_func("POST /form", |w, r| {
        if let Err(e) = r.parse_multipart_form(1 << 20) {
            let _ = write!(w, "error: {e}");
            return;
        }
        let mut out = String::new();
        let doc_size = r.form_file("doc").map(|f| f.size).unwrap_or(0);
        let form = r.multipart_form().unwrap();
        for (name, value) in form.values.iter() {
            out.push_str(&format!("value {name:?} = {value:?}\n"));
        }
        for (name, f) in &form.files {
            let mut content = String::new();
            f.open().unwrap().read_to_string(&mut content).unwrap();
            out.push_str(&format!(
                "file {name:?} {:?} {:?} {} {content:?}\n",
                f.filename, f.content_type, f.size
            ));
        }
        out.push_str(&format!("doc {doc_size}\n"));
        let _ = w.write_all(out.as_bytes());
    });
    let ts = httptest::Server::new(mux);
    let file = TempFile::new("caf\u{e9} \"notes\".txt", "h\u{e9}llo".as_bytes());
    let mut w = Writer::new();
    w.write_field("plain", "v1").unwrap();
    w.write_field("q\"uote", "v\"2").unwrap();
    w.write_field("back\\slash", "C:\\dir").unwrap();
    w.write_field("caf\u{e9} \u{2615}", "\u{65e5}\u{672c}")
        .unwrap();
    w.write_field("cr\r\nlf", "line1\r\nline2").unwrap();
    w.file("doc", &file.0).unwrap();
    w.form_file("up", "..\\dir\\evil\r\n.txt", "x").unwrap();
    let mut resp = client()
        .request(Method::POST, &format!("{}/form", ts.url()))
        .multipart(w)
        .send()
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        resp.text().unwrap(),
        "value \"plain\" = \"v1\"\n\
         value \"q\\\"uote\" = \"v\\\"2\"\n\
         value \"back\\\\slash\" = \"C:\\\\dir\"\n\
         value \"caf\u{e9} \u{2615}\" = \"\u{65e5}\u{672c}\"\n\
         value \"cr%0D%0Alf\" = \"line1\\r\\nline2\"\n\
         file \"doc\" \"caf\u{e9} \\\"notes\\\".txt\" Some(\"application/octet-stream\") 6 \"h\u{e9}llo\"\n\
         file \"up\" \"evil%0D%0A.txt\" Some(\"application/octet-stream\") 1 \"x\"\n\
         doc 6\n"
    );
}

#[test]
fn set_boundary_errors() {
    let seventy_one = "b".repeat(71);
    let cases: &[(&str, &str, String)] = &[
        (
            "empty",
            "",
            "multipart boundary must be 1 to 70 bytes long, not 0".into(),
        ),
        (
            "too_long",
            &seventy_one,
            "multipart boundary must be 1 to 70 bytes long, not 71".into(),
        ),
        (
            "bad_char",
            "semi;colon",
            "multipart boundary \"semi;colon\" contains ';', which RFC 2046 does not allow".into(),
        ),
        (
            "trailing_space",
            "ends ",
            "multipart boundary \"ends \" ends in a space, which RFC 2046 does not allow".into(),
        ),
    ];
    for (case, boundary, msg) in cases {
        let mut w = Writer::new();
        let before = w.boundary().to_owned();
        let e = w.set_boundary(boundary).expect_err(case);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{case}");
        assert_eq!(e.to_string(), format!("invalid input: {msg}"), "{case}");
        assert_eq!(w.boundary(), before, "{case}: the boundary changed");
    }
    let mut w = Writer::new();
    w.set_boundary("a'()+_,-./:=? z").unwrap();
    assert_eq!(
        w.form_data_content_type(),
        "multipart/form-data; boundary=\"a'()+_,-./:=? z\""
    );
}

/// A missing file fails when it is added, naming its path; nothing reaches the server.
#[test]
fn missing_file_names_the_path() {
    let _wd = Watchdog::new("missing_file_names_the_path", Duration::from_secs(30));
    let (srv, _rx) = recording_server();
    let missing = std::env::temp_dir().join(format!(
        "nethttp-mpw-missing-{}/upload.bin",
        std::process::id()
    ));
    let mut w = form();
    let e = w.file("doc", &missing).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let os = std::fs::File::open(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("i/o error: open {}: {os}", missing.display())
    );
    // The form is still usable, without the part.
    let mut resp = post(&client(), &srv.url("/after"), w).unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(srv.accepted(), 1);
}

/// A content that ends before its stated length fails the request with an error naming the
/// part, and the server sees a body cut short rather than a well-formed one.
#[test]
fn short_content_fails_the_request() {
    let _wd = Watchdog::new("short_content_fails_the_request", Duration::from_secs(30));
    let (srv, rx) = recording_server();
    let mut w = form();
    w.form_file(
        "doc",
        "d",
        Body::sized(io::Cursor::new(b"abc".to_vec()), 10),
    )
    .unwrap();
    let (c, t) = client_and_transport();
    let e = post(&c, &srv.url("/short"), w).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        format!(
            "POST {}: i/o error: multipart field \"doc\" ended after 3 of its 10 bytes",
            srv.url("/short")
        )
    );
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    drop(c);
    assert_no_leaks(&t);
}
