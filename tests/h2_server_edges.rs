//! Edges of the HTTP/2 server, from a review (session 21): each test failed against the
//! behaviour it guards.
//! Raw frames over h2c with prior knowledge; every wait has a deadline.

mod h2_support;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use h2_support::{H2Client, DEADLINE};
use nethttp::proto::h2::frame::{Frame, Settings};
use nethttp::proto::h2::ErrorCode;
use nethttp::server::{Config, Http2Config};
use nethttp::{Request, ResponseWriter};
use support::{test_config, TestServer};

fn h2c_config() -> Config {
    Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..test_config()
    }
}

const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "localhost"),
    (":path", "/"),
];

/// One `write` larger than the 4 KiB buffer, made before the head went out, is checked
/// against the handler's `content-length` (it was not: all of it went out as DATA under a
/// smaller content-length, a malformed response by RFC 9113 §8.1.1, ending cleanly).
#[test]
fn a_large_first_write_cannot_pass_the_declared_length() {
    let (res_tx, res_rx) = bounded::<String>(1);
    let srv = TestServer::start(
        h2c_config(),
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert("content-length", "10".parse().unwrap());
            let r = w.write_all(&[b'x'; 20_000]);
            let _ = res_tx.send(format!("{r:?}"));
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let r = c.response(1);
    let wrote = res_rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(
        r.body.len() <= 10,
        "{} body bytes sent under content-length: 10 (reset: {:?}; the handler's write gave {wrote})",
        r.body.len(),
        r.reset
    );
}

/// The same through two writes: the first buffered (3000), the second (3000) past the
/// buffer, under a content-length of 4000.
#[test]
fn two_writes_cannot_pass_the_declared_length() {
    let srv = TestServer::start(
        h2c_config(),
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert("content-length", "4000".parse().unwrap());
            let _ = w.write_all(&[b'a'; 3000]);
            let _ = w.write_all(&[b'b'; 3000]);
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let r = c.response(1);
    assert_eq!(r.header("content-length"), Some("4000"));
    assert!(
        r.body.len() <= 4000,
        "{} body bytes sent under content-length: 4000 (reset: {:?})",
        r.body.len(),
        r.reset
    );
}

/// A client that never reads: responses without a body (HEAD, 204, an empty 200) queued their
/// HEADERS for the writer without any bound (`WRITE_QUEUE_LIMIT` bounded only DATA), so the
/// server held every response's header block in memory, as many as the client asked for.
/// Now a header block waits for room as DATA does (Go's handler waits until its headers are
/// written), so at most `max_concurrent_streams` wait and the rest are refused.
#[test]
fn response_headers_for_a_client_that_never_reads_are_bounded() {
    const PAD: usize = 8000;
    const ENOUGH: usize = 4000; // 4000 × 8 KB = 32 MB, far past the socket buffers
    let done = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&done);
    let cfg = Config {
        // The writer's stall timeout is not what bounds this: a client reading 64 KB a minute
        // defeats it. Long here so the test sees the queue, not the timeout.
        inactivity_timeout: Some(Duration::from_secs(60)),
        ..h2c_config()
    };
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        // A header too large for the HPACK table, so each block carries it whole.
        let n = r.uri.path().len();
        let v = "p".repeat(PAD - n % 7);
        w.headers_mut().insert("x-pad", v.parse().unwrap());
        d.fetch_add(1, Ordering::SeqCst);
    });
    let mut c = H2Client::connect(srv.addr());
    // A small receive buffer, so that the kernel holds little of what the server writes.
    socket2::SockRef::from(&c.sock)
        .set_recv_buffer_size(64 << 10)
        .unwrap();
    let mut id = 1u32;
    let mut sent = 0usize;
    let mut stalled = false;
    while sent < ENOUGH {
        // In batches well under max_concurrent_streams (250), each waited for, so no stream
        // is refused: the client only asks for what the server accepts.
        let mut b = Vec::new();
        for _ in 0..100 {
            let block = c.block(GET);
            nethttp::proto::h2::frame::encode_headers(id, &block, true, 16_384, &mut b).unwrap();
            id += 2;
        }
        if c.try_send_raw(&b).is_err() {
            stalled = true;
            break;
        }
        sent += 100;
        if !support::poll_until(Duration::from_secs(3), || {
            done.load(Ordering::SeqCst) >= sent
        }) {
            stalled = true;
            break;
        }
    }
    let finished = done.load(Ordering::SeqCst);
    assert!(
        stalled,
        "{finished} responses of {PAD}-byte headers (~{} MB) accepted for a client that has read nothing",
        (finished * PAD) >> 20
    );
}

/// Reads raw bytes from `c` for `how_long`, at most `step` bytes every `every`; then (if
/// `fast_after`) as fast as they come until the connection closes or `DEADLINE` passes.
fn read_raw(c: &mut H2Client, slow_for: Duration, step: usize, every: Duration) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    let slow_until = Instant::now() + slow_for;
    let hard = slow_until + DEADLINE;
    c.sock
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let now = Instant::now();
        if now >= hard {
            break;
        }
        let slow = now < slow_until;
        let want = if slow { step } else { buf.len() };
        match c.sock.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if slow {
            // Pacing a slow reader (not synchronisation): it takes `step` bytes per `every`.
            std::thread::sleep(every);
        }
    }
    got
}

/// Stream `id`'s DATA octets in raw server bytes (after its preface), and whether its
/// END_STREAM came.
fn data_of(raw: &[u8], id: u32) -> (usize, bool, Vec<String>) {
    use nethttp::proto::h2::frame::{Decoded, FrameDecoder, FrameLimits};
    let mut dec = FrameDecoder::new(FrameLimits {
        max_frame_size: nethttp::proto::h2::frame::MAX_FRAME_SIZE_LIMIT,
        max_header_block: usize::MAX,
    });
    let (mut n, mut end, mut other) = (0, false, Vec::new());
    let mut pos = 0;
    while let Ok(Decoded::Frame { frame, len }) = dec.decode(&raw[pos..]) {
        pos += len;
        match frame {
            Frame::Data(d) if d.stream_id == id => {
                n += d.data.len();
                end |= d.end_stream;
            }
            Frame::Headers(h) if h.stream_id == id => end |= h.end_stream,
            Frame::RstStream(r) => other.push(format!("rst {} {}", r.stream_id, r.code)),
            Frame::GoAway(g) => other.push(format!("goaway {} {}", g.last_stream_id, g.code)),
            _ => {}
        }
    }
    (n, end, other)
}

/// At the end of a connection closing gracefully (here the client's GOAWAY; `shutdown` the
/// same), the connection thread waited for the writer only while `queued_bytes` fell between
/// two looks 2 s apart; it fell only when a whole batch (64 KB or more) was written, so a
/// client still reading at less than ~32 KB/s had its connection cut and the last response
/// truncated. Progress is now the writer's own count, piece by piece.
#[test]
fn a_slow_reader_gets_its_whole_last_response_at_a_graceful_close() {
    const BODY: usize = 400 << 10;
    let (done_tx, done_rx) = bounded::<()>(1);
    let cfg = Config {
        inactivity_timeout: Some(Duration::from_secs(30)),
        ..h2c_config()
    };
    // A small send buffer, as on a slow link (the kernel sizes it to the path, and
    // connections inherit it from the listener), so the kernel does not hold the whole rest.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_send_buffer_size(64 << 10).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(128).unwrap();
    let listener: std::net::TcpListener = sock.into();
    let srv = TestServer::on_listener(
        cfg,
        listener,
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let chunk = [b'z'; 16 << 10];
            for _ in 0..BODY / chunk.len() {
                if w.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = done_tx.send(());
        },
    );
    let mut c = H2Client::connect_raw(srv.addr());
    socket2::SockRef::from(&c.sock)
        .set_recv_buffer_size(32 << 10)
        .unwrap();
    c.send_raw(nethttp::proto::h2::frame::PREFACE);
    c.send(&Frame::Settings(Settings {
        initial_window_size: Some(16 << 20),
        ..Settings::default()
    }));
    c.window_update(0, 16 << 20);
    c.get(1, "/big");
    done_rx
        .recv_timeout(DEADLINE)
        .expect("the handler never finished writing");
    // The client says it is done opening streams; its last response is still coming.
    c.send(&Frame::GoAway(nethttp::proto::h2::frame::GoAway {
        last_stream_id: 0,
        code: ErrorCode::NoError,
        debug_data: b"",
    }));
    // 20 KB/s for 8 s, then as fast as it comes.
    let raw = read_raw(
        &mut c,
        Duration::from_secs(8),
        2048,
        Duration::from_millis(100),
    );
    let (n, end, other) = data_of(&raw, 1);
    assert!(
        end && n == BODY,
        "the response was cut: {n} of {BODY} body bytes, END_STREAM {end}; also {other:?}"
    );
}

/// At the server-wide handler cap (`Http2Config::max_handlers`), a stream on a connection
/// that has a handler running waits in that connection's queue; but only that connection's
/// own handlers, as they finished, started what waited there. A place freed elsewhere
/// (another connection's handler returning) was not used, so behind a long handler (a
/// stream, a long poll) the request waited for as long as it ran. Now the connection takes a
/// freed place for its queue, oldest first.
#[test]
fn a_stream_queued_at_the_server_wide_cap_starts_once_a_place_is_free() {
    let (started_tx, started_rx) = bounded::<String>(16);
    let (long_tx, long_rx) = bounded::<()>(0);
    let (short_tx, short_rx) = bounded::<()>(0);
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            max_handlers: 2,
            ..Http2Config::default()
        },
        ..test_config()
    };
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let path = r.uri.path().to_string();
        let _ = started_tx.send(path.clone());
        match path.as_str() {
            "/long" => drop(long_rx.recv_timeout(DEADLINE)),
            "/short" => drop(short_rx.recv_timeout(DEADLINE)),
            _ => {}
        }
        let _ = write!(w, "{path}");
    });
    let mut a = H2Client::connect(srv.addr());
    let mut b = H2Client::connect(srv.addr());
    a.get(1, "/long");
    assert_eq!(started_rx.recv_timeout(DEADLINE).unwrap(), "/long");
    b.get(1, "/short");
    assert_eq!(started_rx.recv_timeout(DEADLINE).unwrap(), "/short");
    // Both places taken: this one waits in connection A's queue.
    a.get(3, "/queued");
    // B's handler returns: a place is free.
    short_tx.send(()).unwrap();
    assert_eq!(b.response(1).body, b"/short");
    let got = started_rx.recv_timeout(Duration::from_secs(5));
    assert_eq!(
        got.as_deref(),
        Ok("/queued"),
        "stream 3 did not start within 5 s of a place freeing (it waits for /long to end)"
    );
    assert_eq!(a.response(3).body, b"/queued");
    long_tx.send(()).unwrap();
    assert_eq!(a.response(1).body, b"/long");
}

/// An interim response (103 Early Hints) carries the handler's header map as it stands, but
/// never `content-length` (it did): RFC 9110 §8.6 forbids it in a 1xx (Go's server drops
/// it).
#[test]
fn an_interim_response_carries_no_content_length() {
    let srv = TestServer::start(
        h2c_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert("link", "</style.css>; rel=preload".parse().unwrap());
            w.headers_mut()
                .insert("content-length", "5".parse().unwrap());
            w.write_header(nethttp::http::StatusCode::from_u16(103).unwrap());
            let _ = w.write_all(b"hello");
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let first = c.expect("103", |f| {
        matches!(f, h2_support::In::Headers { id: 1, .. })
    });
    let h2_support::In::Headers { fields, .. } = first else {
        unreachable!()
    };
    assert!(
        fields.contains(&(":status".into(), "103".into())),
        "{fields:?}"
    );
    assert!(
        !fields.iter().any(|(n, _)| n == "content-length"),
        "103 sent with {fields:?}"
    );
    let r = c.response(1);
    assert_eq!(r.body, b"hello");
}

/// A HEAD whose handler writes no body (as handlers may: the server discards a HEAD's body
/// anyway) was answered with `content-length: 0`, which says the GET's body is empty: RFC
/// 9110 §8.6 allows a content-length in a HEAD response only if it is the GET's length. As
/// Go, the server now sets one for a HEAD only when the handler wrote something.
#[test]
fn a_head_without_a_body_written_claims_no_length() {
    let srv = TestServer::start(
        h2c_config(),
        |w: &mut dyn ResponseWriter, r: &mut Request| {
            if r.method != nethttp::http::Method::HEAD {
                let _ = w.write_all(b"a body of 24 octets here");
            }
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.headers(
        1,
        &[
            (":method", "HEAD"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/"),
        ],
        true,
    );
    let r = c.response(1);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        None,
        "HEAD answered with {:?}; a GET gets 24 octets",
        r.headers
    );
}
