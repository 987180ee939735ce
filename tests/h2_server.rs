//! The HTTP/2 server on the wire (RFC 9113): frames written by hand with the crate's own
//! encoder over a plain TCP connection (h2c with prior knowledge), answers checked frame by
//! frame. Every wait has a deadline; every server is closed and checked for leftover threads
//! when its `TestServer` drops.

mod h2_support;
mod raw;
mod support;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use h2_support::{H2Client, In, DEADLINE};
use nethttp::proto::h2::frame::{Continuation, Frame, Headers, Settings};
use nethttp::proto::h2::ErrorCode;
use nethttp::server::{Config, Http2Config};
use nethttp::{Request, ResponseWriter};
use support::{test_config, TestServer};

fn h2c_config() -> Config {
    h2c_with(|_| {})
}

/// `h2c_config` with HTTP/2 settings changed by `set`.
fn h2c_with(set: impl FnOnce(&mut Http2Config)) -> Config {
    let mut http2 = Http2Config {
        h2c: true,
        ..Http2Config::default()
    };
    set(&mut http2);
    Config {
        http2,
        ..test_config()
    }
}

fn h2c_server(
    cfg: Config,
    h: impl Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
) -> TestServer {
    TestServer::start(cfg, h)
}

fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = write!(w, "{:?} {} {}", r.version, r.method, r.uri.path());
}

const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":authority", "localhost"),
    (":path", "/"),
];

#[test]
fn settings_exchange_and_ping() {
    let srv = h2c_server(h2c_config(), hello);
    let mut c = H2Client::connect(srv.addr());
    // The server's preface: SETTINGS with its limits, then a connection WINDOW_UPDATE.
    let s = match c.expect("server settings", |f| matches!(f, In::Settings(_))) {
        In::Settings(s) => s,
        _ => unreachable!(),
    };
    assert_eq!(s.max_concurrent_streams, Some(250));
    assert_eq!(s.initial_window_size, Some(256 << 10));
    c.expect("connection window update", |f| {
        matches!(f, In::WindowUpdate { id: 0, .. })
    });
    c.expect("ack of our settings", |f| matches!(f, In::SettingsAck));
    c.send(&Frame::SettingsAck);
    c.ping(*b"nethttp!");
    let got = c.expect("ping ack", |f| matches!(f, In::Ping { .. }));
    assert_eq!(
        got,
        In::Ping {
            ack: true,
            data: *b"nethttp!"
        }
    );
}

#[test]
fn get_is_http2() {
    let srv = h2c_server(h2c_config(), hello);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/a/b?q=1");
    let r = c.response(1);
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), "HTTP/2.0 GET /a/b");
    assert_eq!(r.header("content-length"), Some("17"));
    assert!(r.header("date").is_some());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // A second stream on the same connection; HEAD gets the head only.
    c.headers(
        3,
        &[
            (":method", "HEAD"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/x"),
        ],
        true,
    );
    let r = c.response(3);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("16"));
}

#[test]
fn http1_still_served_with_h2c_on() {
    let srv = h2c_server(h2c_config(), hello);
    let r = support::roundtrip(
        srv.addr(),
        "GET",
        "GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "HTTP/1.1 GET /one");
    // POST shares the preface's first letter.
    let r = support::roundtrip(
        srv.addr(),
        "POST",
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "HTTP/1.1 POST /p");
}

#[test]
fn h2c_off_by_default() {
    let srv = h2c_server(test_config(), hello);
    let mut c = H2Client::connect(srv.addr());
    // The HTTP/1 server sees "PRI * HTTP/2.0" and answers 505/400, not HTTP/2 frames.
    let mut all = Vec::new();
    let _ = c.sock.read_to_end(&mut all);
    assert!(
        all.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&all)
    );
}

/// Echoes the body's length and sum, and its trailers, after reading it all.
fn echo_body(w: &mut dyn ResponseWriter, r: &mut Request) {
    let mut body = Vec::new();
    if let Err(e) = r.body().read_to_end(&mut body) {
        w.write_header(nethttp::StatusCode::BAD_REQUEST);
        let _ = write!(w, "{e}");
        return;
    }
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let trailer = r
        .trailers()
        .and_then(|t| t.get("x-check"))
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let _ = write!(w, "{} {sum} {trailer}", body.len());
}

#[test]
fn post_body_with_flow_control() {
    let cfg = h2c_with(|h| h.max_upload_buffer_per_stream = 16 << 10);
    let srv = h2c_server(cfg, echo_body);
    let mut c = H2Client::connect(srv.addr());
    c.expect("server settings", |f| matches!(f, In::Settings(_)));
    let total = 50_000usize;
    c.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/up"),
            ("content-length", &total.to_string()),
        ],
        false,
    );
    // The stream's window is 16 KiB: send that, then only as the server gives credit back.
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut window = 16usize << 10;
    let mut sent = 0;
    while sent < total {
        let n = window.min(total - sent).min(16 << 10);
        if n == 0 {
            match c.expect("stream window update", |f| {
                matches!(f, In::WindowUpdate { id: 1, .. })
            }) {
                In::WindowUpdate { inc, .. } => window += inc as usize,
                _ => unreachable!(),
            }
            continue;
        }
        c.data(1, &payload[sent..sent + n], sent + n == total);
        sent += n;
        window -= n;
    }
    let r = c.response(1);
    let sum: u64 = payload.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(String::from_utf8_lossy(&r.body), format!("50000 {sum} "));
}

#[test]
fn request_trailers_reach_the_handler() {
    let srv = h2c_server(h2c_config(), echo_body);
    let mut c = H2Client::connect(srv.addr());
    c.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/t"),
            ("te", "trailers"),
        ],
        false,
    );
    c.data(1, b"abc", false);
    c.headers(1, &[("x-check", "ok")], true);
    let r = c.response(1);
    assert_eq!(String::from_utf8_lossy(&r.body), "3 294 ok");
}

#[test]
fn stream_flow_control_violation_resets_stream() {
    // The handler does not read, so no credit comes back while the client overruns.
    let (h, started, release) = gated();
    let cfg = h2c_with(|h| h.max_upload_buffer_per_stream = 16 << 10);
    let srv = h2c_server(cfg, h);
    let mut c = H2Client::connect(srv.addr());
    c.expect("server settings", |f| matches!(f, In::Settings(_)));
    c.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/up"),
        ],
        false,
    );
    started.recv_timeout(DEADLINE).unwrap();
    // 16 KiB fills the window; one more octet overruns it (§6.9.1).
    c.data(1, &[0u8; 16 << 10], false);
    c.data(1, b"x", false);
    assert_eq!(c.expect_rst(1), ErrorCode::FlowControl);
    release.send(()).unwrap();
    // The connection goes on.
    c.get(3, "/after");
    release.send(()).unwrap();
    assert_eq!(c.response(3).status, 200);
}

/// What the client sent on a stream before it saw the server's RST_STREAM (more DATA, then
/// trailers) is ignored (RFC 9113 §5.1): no second reset, no connection error.
#[test]
fn frames_after_our_reset_are_ignored() {
    let srv = h2c_server(h2c_config(), echo_body);
    let mut c = H2Client::connect(srv.addr());
    c.expect("server settings", |f| matches!(f, In::Settings(_)));
    let post: &[(&str, &str)] = &[
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", "/up"),
        ("content-length", "5"),
    ];
    c.headers(1, post, false);
    // More than content-length says: a malformed request, reset by the server (§8.1.1).
    c.data(1, b"0123456789", false);
    assert_eq!(c.expect_rst(1), ErrorCode::Protocol);
    // Let the handler see the reset and finish, so the stream is forgotten.
    c.ping(*b"abcdefgh");
    c.expect("ping ack", |f| matches!(f, In::Ping { ack: true, .. }));
    c.data(1, b"more", false);
    c.headers(1, &[("x-trailer", "1")], true);
    c.get(3, "/after");
    assert_eq!(c.response(3).status, 200);
    let seen = c.take_pending(|f| matches!(f, In::Rst { id: 1, .. } | In::GoAway { .. }));
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn response_respects_peer_window_and_frame_size() {
    let srv = h2c_server(
        h2c_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = w.write_all(&[b'z'; 100]);
            let _ = w.flush();
            let _ = w.write_all(&vec![b'y'; 40_000]);
        },
    );
    let mut c = H2Client::connect_raw(srv.addr());
    c.send_raw(nethttp::proto::h2::frame::PREFACE);
    c.send(&Frame::Settings(Settings {
        initial_window_size: Some(10),
        ..Settings::default()
    }));
    c.expect("ack", |f| matches!(f, In::SettingsAck));
    c.get(1, "/");
    let head = c.expect("head", |f| matches!(f, In::Headers { id: 1, .. }));
    assert!(matches!(
        head,
        In::Headers {
            end_stream: false,
            ..
        }
    ));
    let first = c.expect("data", |f| matches!(f, In::Data { id: 1, .. }));
    assert_eq!(
        first,
        In::Data {
            id: 1,
            data: vec![b'z'; 10],
            end_stream: false
        }
    );
    // Nothing more until the window opens: a PING round trip proves the server is idle.
    c.ping(*b"12345678");
    c.expect("ping ack", |f| matches!(f, In::Ping { ack: true, .. }));
    let stray = c.take_pending(|f| matches!(f, In::Data { id: 1, .. }));
    assert!(stray.is_empty(), "data past the window: {stray:?}");
    c.window_update(1, 1 << 20);
    let mut body = vec![b'z'; 10];
    loop {
        match c.expect("data", |f| matches!(f, In::Data { id: 1, .. })) {
            In::Data {
                data, end_stream, ..
            } => {
                assert!(data.len() <= 16_384, "frame over SETTINGS_MAX_FRAME_SIZE");
                body.extend_from_slice(&data);
                if end_stream {
                    break;
                }
            }
            _ => unreachable!(),
        }
    }
    // The whole body fits the connection's initial window (65,535).
    assert_eq!(body.len(), 40_100);
}

#[test]
fn response_trailers() {
    let srv = h2c_server(
        h2c_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut().insert("trailer", "x-sum".parse().unwrap());
            let _ = w.write_all(b"body");
            w.headers_mut().insert("x-sum", "42".parse().unwrap());
            if let Some(t) = w.trailers_mut() {
                t.insert("x-late", "yes".parse().unwrap());
            }
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let r = c.response(1);
    assert_eq!(r.body, b"body");
    assert!(r.header("x-sum").is_none(), "announced trailer in the head");
    assert_eq!(
        r.trailers,
        vec![
            ("x-sum".to_string(), "42".to_string()),
            ("x-late".to_string(), "yes".to_string())
        ]
    );
}

/// A handler that tells the test it started, then waits (bounded) to be released.
fn gated() -> (
    impl Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
    Receiver<u32>,
    Sender<()>,
) {
    let (started_tx, started_rx) = bounded::<u32>(1000);
    let (release_tx, release_rx) = bounded::<()>(0);
    let h = move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let _ = started_tx.send(r.uri.path().len() as u32);
        // Released by a message or by the test dropping the sender.
        let _ = release_rx.recv_timeout(DEADLINE);
        let _ = w.write_all(b"released");
    };
    (h, started_rx, release_tx)
}

#[test]
fn client_reset_ends_stream_and_handler_sees_it() {
    let (gone_tx, gone_rx) = bounded::<bool>(1);
    let srv = h2c_server(
        h2c_config(),
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            if r.uri.path() != "/wait" {
                return;
            }
            let deadline = std::time::Instant::now() + DEADLINE;
            while !w.client_gone() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = gone_tx.send(w.client_gone());
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/wait");
    c.rst(1, ErrorCode::Cancel);
    assert_eq!(gone_rx.recv_timeout(DEADLINE), Ok(true));
    c.get(3, "/next");
    assert_eq!(c.response(3).status, 200);
}

/// `client_probe` answers `client_gone` from another thread: a stream the client reset reads
/// as gone there too (what the reverse proxy's watching thread asks).
#[test]
fn a_client_probe_sees_a_reset_from_another_thread() {
    let (gone_tx, gone_rx) = bounded::<bool>(1);
    let srv = h2c_server(
        h2c_config(),
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            if r.uri.path() != "/wait" {
                return;
            }
            let probe = w.client_probe().expect("a stream has a probe");
            let watcher = std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + DEADLINE;
                while !probe.gone() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                probe.gone()
            });
            let _ = gone_tx.send(watcher.join().unwrap_or(false));
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/wait");
    c.rst(1, ErrorCode::Cancel);
    assert_eq!(gone_rx.recv_timeout(DEADLINE), Ok(true));
}

#[test]
fn too_many_streams_refused() {
    let (h, started, release) = gated();
    let cfg = h2c_with(|h| h.max_concurrent_streams = 2);
    let srv = h2c_server(cfg, h);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    c.get(3, "/");
    started.recv_timeout(DEADLINE).unwrap();
    started.recv_timeout(DEADLINE).unwrap();
    c.get(5, "/");
    assert_eq!(c.expect_rst(5), ErrorCode::RefusedStream);
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert_eq!(c.response(1).body, b"released");
    assert_eq!(c.response(3).body, b"released");
    // Room again.
    c.get(7, "/");
    release.send(()).unwrap();
    assert_eq!(c.response(7).status, 200);
}

#[test]
fn rapid_reset_goaway_enhance_your_calm() {
    let (h, started, release) = gated();
    let cfg = h2c_with(|h| h.max_concurrent_streams = 2);
    let srv = h2c_server(cfg, h);
    let mut c = H2Client::connect(srv.addr());
    // Each stream is opened and reset at once: the open-stream limit never trips, but the
    // handlers (two running, blocked) do not finish, so the rest wait, and past four times
    // the limit the connection ends (CVE-2023-44487).
    let mut id = 1;
    let mut goaway = None;
    for _ in 0..100 {
        let mut b = Vec::new();
        let block = c.block(GET);
        nethttp::proto::h2::frame::encode_headers(id, &block, true, 16_384, &mut b).unwrap();
        b.extend(H2Client::encode_frame(&Frame::RstStream(
            nethttp::proto::h2::frame::RstStream {
                stream_id: id,
                code: ErrorCode::Cancel,
            },
        )));
        if c.try_send_raw(&b).is_err() {
            break;
        }
        id += 2;
    }
    for f in c.read_to_close() {
        if let In::GoAway { code, .. } = f {
            goaway = Some(code);
        }
    }
    assert_eq!(goaway, Some(ErrorCode::EnhanceYourCalm));
    assert!(started.recv_timeout(DEADLINE).is_ok());
    drop(release);
}

#[test]
fn continuation_flood_goaway() {
    let cfg = Config {
        max_header_bytes: 4096,
        ..h2c_config()
    };
    let srv = h2c_server(cfg, hello);
    let mut c = H2Client::connect(srv.addr());
    c.send(&Frame::Headers(Headers {
        stream_id: 1,
        end_stream: true,
        end_headers: false,
        priority: None,
        fragment: &[],
        padding: None,
    }));
    let junk = vec![0x40u8; 1000];
    for _ in 0..200 {
        let f = H2Client::encode_frame(&Frame::Continuation(Continuation {
            stream_id: 1,
            end_headers: false,
            fragment: &junk,
        }));
        if c.try_send_raw(&f).is_err() {
            break;
        }
    }
    let got: Vec<_> = c.read_to_close();
    assert!(
        got.iter().any(|f| matches!(
            f,
            In::GoAway {
                code: ErrorCode::EnhanceYourCalm,
                ..
            }
        )),
        "{got:?}"
    );
}

#[test]
fn header_list_over_limit_gets_431() {
    let cfg = Config {
        max_header_bytes: 4096,
        ..h2c_config()
    };
    let srv = h2c_server(cfg, hello);
    let mut c = H2Client::connect(srv.addr());
    let big = "v".repeat(8000);
    let mut fields = GET.to_vec();
    fields.push(("x-big", &big));
    c.headers(1, &fields, true);
    let r = c.response(1);
    assert_eq!(r.status, 431);
    // HPACK is still in step: the next request works.
    c.get(3, "/ok");
    assert_eq!(c.response(3).status, 200);
}

#[test]
fn malformed_requests_reset_with_protocol_error() {
    // (name, fields): each a malformed request (RFC 9113 §8.1.1, §8.2, §8.3).
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("no_method", &[(":scheme", "http"), (":path", "/")]),
        ("no_path", &[(":method", "GET"), (":scheme", "http")]),
        ("no_scheme", &[(":method", "GET"), (":path", "/")]),
        (
            "unknown_pseudo",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":foo", "x"),
            ],
        ),
        (
            "pseudo_after_regular",
            &[
                (":method", "GET"),
                ("a", "b"),
                (":scheme", "http"),
                (":path", "/"),
            ],
        ),
        (
            "uppercase_name",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("X-Up", "1"),
            ],
        ),
        (
            "connection_header",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("connection", "close"),
            ],
        ),
        (
            "keep_alive",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("keep-alive", "1"),
            ],
        ),
        (
            "te_not_trailers",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                ("te", "gzip"),
            ],
        ),
        (
            "duplicate_path",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":path", "/"),
            ],
        ),
    ];
    let calls = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&calls);
    let srv = h2c_server(
        h2c_config(),
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            n.fetch_add(1, Ordering::SeqCst);
            hello(w, r)
        },
    );
    let mut c = H2Client::connect(srv.addr());
    let mut id = 1;
    for (name, fields) in cases {
        c.headers(id, fields, true);
        let code = c.expect_rst(id);
        assert_eq!(code, ErrorCode::Protocol, "{name}");
        id += 2;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a malformed request reached the handler"
    );
    c.get(id, "/fine");
    assert_eq!(c.response(id).status, 200);
}

#[test]
fn hijack_refused() {
    let srv = h2c_server(
        h2c_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let msg = match w.hijack() {
                Ok(_) => "hijacked".to_string(),
                Err(e) => e.to_string(),
            };
            let _ = w.write_all(msg.as_bytes());
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let r = c.response(1);
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains("hijacking is not supported on http/2"),
        "{body}"
    );
}

#[test]
fn handler_panic_resets_stream() {
    support::quiet_expected_panics();
    let srv = h2c_server(
        h2c_config(),
        |_w: &mut dyn ResponseWriter, r: &mut Request| {
            if r.uri.path() == "/panic" {
                panic!("{}", support::EXPECTED_PANIC);
            }
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/panic");
    assert_eq!(c.expect_rst(1), ErrorCode::Internal);
    c.get(3, "/");
    assert_eq!(c.response(3).status, 200);
}

#[test]
fn connection_errors_goaway() {
    // (name, raw bytes after the preface and SETTINGS, expected GOAWAY code).
    let rst_idle =
        H2Client::encode_frame(&Frame::RstStream(nethttp::proto::h2::frame::RstStream {
            stream_id: 9,
            code: ErrorCode::Cancel,
        }));
    let data_idle = H2Client::encode_frame(&Frame::Data(nethttp::proto::h2::frame::Data {
        stream_id: 11,
        end_stream: true,
        data: b"x",
        padding: None,
    }));
    let even_stream = {
        let mut enc = nethttp::proto::hpack::Encoder::new(4096);
        let mut block = Vec::new();
        let fields: Vec<_> = GET
            .iter()
            .map(|(n, v)| nethttp::proto::hpack::Field::new(*n, *v))
            .collect();
        enc.encode(&fields, &mut block);
        let mut b = Vec::new();
        nethttp::proto::h2::frame::encode_headers(2, &block, true, 16_384, &mut b).unwrap();
        b
    };
    let bad_hpack = {
        let mut b = Vec::new();
        nethttp::proto::h2::frame::encode_headers(
            1,
            &[0xff, 0xff, 0xff, 0xff],
            true,
            16_384,
            &mut b,
        )
        .unwrap();
        b
    };
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("rst_on_idle_stream", rst_idle, ErrorCode::Protocol),
        ("data_on_idle_stream", data_idle, ErrorCode::Protocol),
        ("even_stream_from_client", even_stream, ErrorCode::Protocol),
        ("bad_hpack", bad_hpack, ErrorCode::Compression),
        (
            "garbage_frame_size",
            b"\xff\xff\xff\x00\x00\x00\x00\x00\x01".to_vec(),
            ErrorCode::FrameSize,
        ),
    ];
    let srv = h2c_server(h2c_config(), hello);
    for (name, raw, code) in cases {
        let mut c = H2Client::connect(srv.addr());
        c.send_raw(&raw);
        let got = c.read_to_close();
        let goaway = got.iter().find_map(|f| match f {
            In::GoAway { code, .. } => Some(*code),
            _ => None,
        });
        assert_eq!(goaway, Some(code), "{name}: {got:?}");
    }
    // A bad preface: closed without serving.
    let mut c = H2Client::connect_raw(srv.addr());
    c.send_raw(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    let _ = c.read_to_close();
}

#[test]
fn graceful_shutdown_sends_goaway_and_finishes_streams() {
    let (h, started, release) = gated();
    let srv = h2c_server(h2c_config(), h);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/in-flight");
    started.recv_timeout(DEADLINE).unwrap();
    let stopper = srv.server().clone();
    let shutdown = std::thread::spawn(move || stopper.shutdown(Duration::from_secs(10)));
    let (last, code, _) = c.expect_goaway();
    assert_eq!((last, code), (1, ErrorCode::NoError));
    release.send(()).unwrap();
    let r = c.response(1);
    assert_eq!(r.body, b"released");
    // Then the server closes the connection.
    let rest = c.read_to_close();
    assert!(
        rest.iter()
            .all(|f| !matches!(f, In::Headers { .. } | In::Data { .. })),
        "{rest:?}"
    );
    assert!(shutdown.join().unwrap().is_ok());
}

/// Body bytes that arrived before the client reset the stream are dropped with it: the
/// handler's read fails instead of returning them (and the server holds no memory for them).
#[test]
fn reset_stream_body_is_dropped_not_read() {
    let (read_tx, read_rx) = bounded::<std::io::Result<usize>>(1);
    let (go_tx, go_rx) = bounded::<()>(1);
    let srv = h2c_server(
        h2c_config(),
        move |_w: &mut dyn ResponseWriter, r: &mut Request| {
            // Wait (bounded) until the test has sent the body and the reset.
            let _ = go_rx.recv_timeout(DEADLINE);
            let mut buf = [0u8; 64];
            let _ = read_tx.send(r.body().read(&mut buf));
        },
    );
    let mut c = H2Client::connect(srv.addr());
    let post: &[(&str, &str)] = &[
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", "/upload"),
    ];
    c.headers(1, post, false);
    c.data(1, b"partial body", false);
    c.rst(1, ErrorCode::Cancel);
    // A PING round trip: the server has handled everything sent before it.
    c.ping(*b"12345678");
    c.expect("ping ack", |f| matches!(f, In::Ping { ack: true, .. }));
    go_tx.send(()).unwrap();
    match read_rx.recv_timeout(DEADLINE).unwrap() {
        Err(_) => {}
        Ok(n) => panic!("read {n} bytes of a reset stream's body"),
    }
}

/// A client that sends the preface's magic but never its SETTINGS is given the read-header
/// timeout, not the idle timeout (Go gives it a couple of seconds).
#[test]
fn preface_without_settings_gets_the_read_header_timeout() {
    let cfg = Config {
        read_header_timeout: Some(Duration::from_millis(200)),
        idle_timeout: Some(Duration::from_secs(60)),
        ..h2c_config()
    };
    let srv = h2c_server(cfg, hello);
    let mut c = H2Client::connect_raw(srv.addr());
    c.send_raw(nethttp::proto::h2::PREFACE);
    let start = std::time::Instant::now();
    let _ = c.read_to_close();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "closed after {took:?}: the idle timeout, not the read-header timeout"
    );
}

#[test]
fn graceful_shutdown_of_idle_connection() {
    let srv = h2c_server(h2c_config(), hello);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    assert_eq!(c.response(1).status, 200);
    srv.server().shutdown(Duration::from_secs(10)).unwrap();
    let (last, code, _) = c.expect_goaway();
    assert_eq!((last, code), (1, ErrorCode::NoError));
    let _ = c.read_to_close();
}

#[test]
fn idle_timeout_goaway() {
    let cfg = Config {
        idle_timeout: Some(Duration::from_millis(200)),
        ..h2c_config()
    };
    let srv = h2c_server(cfg, hello);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    assert_eq!(c.response(1).status, 200);
    let (last, code, _) = c.expect_goaway();
    assert_eq!((last, code), (1, ErrorCode::NoError));
    let _ = c.read_to_close();
}

#[test]
fn ping_flood_ends_the_connection() {
    // A client that sends pings and never reads: the server stops at its control-frame
    // bound instead of queueing answers without limit. The stall and idle timeouts are long,
    // so only that bound can end the connection within the test's deadline (checked: with
    // the bound lifted, this test fails).
    let cfg = Config {
        inactivity_timeout: Some(Duration::from_secs(60)),
        idle_timeout: Some(Duration::from_secs(60)),
        ..h2c_config()
    };
    let srv = h2c_server(cfg, hello);
    let mut c = H2Client::connect(srv.addr());
    c.sock
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let one = H2Client::encode_frame(&Frame::Ping(nethttp::proto::h2::frame::Ping {
        ack: false,
        data: [7; 8],
    }));
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
    // Up to a million pings (17 MB): their acknowledgements overflow any socket buffers, so
    // the server's queue of answers passes its bound unless the server stops it.
    for _ in 0..1000 {
        if c.try_send_raw(&batch).is_err() {
            break;
        }
    }
    // The server closes the connection while the client still holds it open.
    support::wait_until(
        DEADLINE,
        "the server to close the flooding connection",
        || srv.server().num_connections() == 0,
    );
    drop(c);
}

#[test]
fn zero_window_stall_bounded_by_write_timeout() {
    let (res_tx, res_rx) = bounded::<String>(1);
    let cfg = Config {
        write_timeout: Some(Duration::from_millis(300)),
        ..h2c_config()
    };
    let srv = h2c_server(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() != "/stall" {
            return;
        }
        let _ = w.flush();
        let r = w.write_all(&[b'x'; 10_000]).and_then(|()| w.flush());
        let _ = res_tx.send(match r {
            Ok(()) => "ok".into(),
            Err(e) => e.kind().to_string(),
        });
    });
    let mut c = H2Client::connect_raw(srv.addr());
    c.send_raw(nethttp::proto::h2::frame::PREFACE);
    // The client never opens its window: the response cannot move.
    c.send(&Frame::Settings(Settings {
        initial_window_size: Some(0),
        ..Settings::default()
    }));
    c.get(1, "/stall");
    let got = res_rx
        .recv_timeout(DEADLINE)
        .expect("the write never gave up");
    assert!(got.contains("timed out"), "{got}");
    assert_eq!(c.expect_rst(1), ErrorCode::Internal);
    // Other streams go on.
    c.get(3, "/other");
    assert_eq!(c.response(3).status, 200);
}

#[test]
fn expect_100_continue() {
    let srv = h2c_server(h2c_config(), echo_body);
    let mut c = H2Client::connect(srv.addr());
    c.headers(
        1,
        &[
            (":method", "PUT"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/up"),
            ("expect", "100-continue"),
        ],
        false,
    );
    // The handler's first read sends 100 before any body byte was sent.
    let interim = c.expect("100 continue", |f| matches!(f, In::Headers { id: 1, .. }));
    match interim {
        In::Headers {
            fields, end_stream, ..
        } => {
            assert_eq!(fields, vec![(":status".to_string(), "100".to_string())]);
            assert!(!end_stream);
        }
        _ => unreachable!(),
    }
    c.data(1, b"hello", true);
    let r = c.response(1);
    assert_eq!(String::from_utf8_lossy(&r.body), "5 532 ");
}

#[test]
fn frames_on_streams_after_goaway_are_ignored() {
    let (h, started, release) = gated();
    let srv = h2c_server(h2c_config(), h);
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    started.recv_timeout(DEADLINE).unwrap();
    let stopper = srv.server().clone();
    let shutdown = std::thread::spawn(move || stopper.shutdown(Duration::from_secs(10)));
    let (last, _, _) = c.expect_goaway();
    assert_eq!(last, 1);
    // A stream the client opened as the GOAWAY crossed it, with a body: ignored, and the
    // connection goes on for stream 1.
    c.headers(
        3,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/late"),
        ],
        false,
    );
    c.data(3, b"late body", false);
    c.window_update(3, 100);
    c.rst(3, ErrorCode::Cancel);
    release.send(()).unwrap();
    let r = c.response(1);
    assert_eq!(r.body, b"released");
    let rest = c.read_to_close();
    assert!(
        rest.iter()
            .all(|f| !matches!(f, In::GoAway { code, .. } if *code != ErrorCode::NoError)),
        "{rest:?}"
    );
    assert!(shutdown.join().unwrap().is_ok());
}

#[test]
fn declared_length_caps_the_body() {
    let srv = h2c_server(
        h2c_config(),
        |w: &mut dyn ResponseWriter, _r: &mut Request| {
            w.headers_mut()
                .insert("content-length", "3".parse().unwrap());
            let _ = w.write_all(b"abcdef");
        },
    );
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let r = c.response(1);
    assert_eq!(r.header("content-length"), Some("3"));
    assert_eq!(r.body, b"abc");
    assert_eq!(r.reset, None);
}

/// Request bodies that handlers do not read hold at most the connection's window (1 MiB)
/// on one connection, not streams × the stream window: the connection's credit comes back
/// only as handlers read (or bytes are dropped), as in Go's server. A client that sends past
/// it gets `GOAWAY FLOW_CONTROL_ERROR`.
#[test]
fn unread_bodies_hold_at_most_the_connection_window() {
    let (h, started, release) = gated();
    let srv = h2c_server(h2c_config(), h);
    let mut c = H2Client::connect(srv.addr());
    c.expect("server settings", |f| matches!(f, In::Settings(_)));
    let post = |c: &mut H2Client, id: u32| {
        c.headers(
            id,
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", "localhost"),
                (":path", "/up"),
            ],
            false,
        );
    };
    for id in [1, 3, 5, 7, 9] {
        post(&mut c, id);
        started.recv_timeout(DEADLINE).unwrap();
    }
    // 4 streams × 256 KiB (each stream's whole window) = 1 MiB: the connection's window.
    let chunk = vec![7u8; 16 << 10];
    for id in [1, 3, 5, 7] {
        for _ in 0..16 {
            c.data(id, &chunk, false);
        }
    }
    // One octet more, on a stream with window to spare, overruns the connection's window.
    c.data(9, b"x", false);
    let (_, code, _) = c.expect_goaway();
    assert_eq!(code, ErrorCode::FlowControl);
    drop(release);
}

/// At `max_connections`, an HTTP/2 connection with no stream open counts as idle, as an
/// HTTP/1 connection between requests does: a new client is admitted at once by closing it,
/// with a `GOAWAY` (NO_ERROR, its last stream), so a request it sends meanwhile is retried
/// elsewhere rather than lost.
#[test]
fn idle_http2_connection_is_evicted_at_max_connections() {
    let mut cfg = h2c_config();
    cfg.max_connections = 1;
    let srv = h2c_server(cfg, hello);
    let mut a = H2Client::connect(srv.addr());
    a.get(1, "/a");
    assert_eq!(a.response(1).status, 200);
    let mut b = srv.connect();
    b.send("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(b.read_response().text(), "HTTP/1.1 GET /b");
    let (last, code, _) = a.expect_goaway();
    assert_eq!((last, code), (1, ErrorCode::NoError));
    assert_eq!(srv.server().num_evicted(), 1);
}

/// An HTTP/2 connection that goes idle while an accept loop waits at `max_connections` is
/// evicted, whatever the connection-state hook does meanwhile: here the hook holds the
/// connection's thread at its `Idle` report until the newcomer is served (at most 3 s). With
/// the hook called under the connection's `core`, the eviction (which takes `core` under the
/// server's table lock) and the connection's notice to the accept loop (which takes the table
/// lock under `core`) deadlocked, and the whole server with them. Two listeners, so that one
/// accept loop waits at the limit while the other may be in `accept`.
#[test]
fn an_http2_connection_going_idle_as_it_is_evicted_does_not_deadlock() {
    let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (newcomer_tx, newcomer_rx) = bounded::<()>(1);
    let (started_tx, started_rx) = bounded::<()>(1);
    let (release_tx, release_rx) = bounded::<()>(1);
    let hold = Arc::clone(&held);
    let mut cfg = h2c_config();
    cfg.max_connections = 1;
    cfg.conn_state = Some(Arc::new(move |_, s| {
        if s == nethttp::server::ConnState::Idle && hold.swap(false, Ordering::SeqCst) {
            let _ = newcomer_rx.recv_timeout(Duration::from_secs(3));
        }
    }));
    let srv = nethttp::server::Server::with_config(
        cfg,
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            match r.uri.path() {
                "/slow" => {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv_timeout(DEADLINE);
                }
                "/newcomer" => {
                    let _ = newcomer_tx.try_send(());
                }
                _ => {}
            }
            let _ = w.write_all(r.uri.path().as_bytes());
        },
    );
    let listeners = [
        nethttp::net::listen("127.0.0.1:0").unwrap(),
        nethttp::net::listen("127.0.0.1:0").unwrap(),
    ];
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let serving: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let s = srv.clone();
            std::thread::spawn(move || s.serve(l))
        })
        .collect();
    // The one slot: an HTTP/2 connection whose stream's handler runs.
    let mut h = H2Client::connect(addrs[0]);
    h.get(1, "/slow");
    started_rx
        .recv_timeout(DEADLINE)
        .expect("the first handler");
    // A newcomer on the other listener waits at the limit.
    let mut n = support::RawConn::connect(addrs[1]);
    n.send("GET /newcomer HTTP/1.1\r\nHost: h\r\n\r\n");
    held.store(true, Ordering::SeqCst);
    release_tx.send(()).unwrap();
    assert_eq!(h.response(1).status, 200);
    // A frame wakes the connection's reader, which then sees its last stream ended and goes
    // idle (else it would look again only at its next 1 s tick).
    h.send(&Frame::Ping(nethttp::proto::h2::frame::Ping {
        ack: false,
        data: [7; 8],
    }));
    assert_eq!(n.read_response().text(), "/newcomer");
    let (last, code, _) = h.expect_goaway();
    assert_eq!((last, code), (1, ErrorCode::NoError));
    assert_eq!(srv.num_evicted(), 1);
    assert!(srv.shutdown(Duration::from_secs(3)).is_ok());
    for s in serving {
        let _ = s.join().expect("a serve thread");
    }
}

/// `Http2Config::max_handlers` caps HTTP/2 handlers across the server: at the cap, a stream
/// on a connection with no handler running is refused (`REFUSED_STREAM`, which clients
/// retry), and one on a connection with a handler running waits for it.
#[test]
fn server_wide_handler_cap() {
    let (h, started, release) = gated();
    let cfg = h2c_with(|h| h.max_handlers = 1);
    let srv = h2c_server(cfg, h);
    let mut a = H2Client::connect(srv.addr());
    a.get(1, "/a");
    started.recv_timeout(DEADLINE).unwrap();
    // The one place is taken: another connection's stream is refused...
    let mut b = H2Client::connect(srv.addr());
    b.get(1, "/b");
    assert_eq!(b.expect_rst(1), ErrorCode::RefusedStream);
    // ...and the first connection's next stream waits for its running handler.
    a.get(3, "/a3");
    release.send(()).unwrap();
    assert_eq!(a.response(1).status, 200);
    started.recv_timeout(DEADLINE).unwrap();
    release.send(()).unwrap();
    assert_eq!(a.response(3).status, 200);
    // Once the first connection has closed (its handler thread gave the place back before
    // the connection could end), the other connection is served.
    drop(a);
    let s = srv.server();
    support::wait_until(DEADLINE, "the first connection to close", || {
        s.num_connections() == 1
    });
    b.get(3, "/b3");
    started.recv_timeout(DEADLINE).unwrap();
    release.send(()).unwrap();
    assert_eq!(b.response(3).status, 200);
}

/// A body short of its content-length must not end its stream cleanly (RFC 9113 §8.1.1: a
/// response with fewer DATA bytes than its content-length is malformed): the stream is reset,
/// as HTTP/1 closes the connection. A file that comes up short (truncated after its size was
/// read), and a handler that declares a length and writes nothing.
#[test]
fn a_body_short_of_its_content_length_does_not_end_cleanly() {
    let t = raw::TempDir::new("h2-short-file");
    std::fs::write(t.join("f.bin"), vec![7u8; 100_000]).unwrap();
    let path = t.join("f.bin");
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..test_config()
    };
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut()
            .insert(nethttp::http::header::CONTENT_LENGTH, 200_000u64.into());
        if r.uri.path() == "/file" {
            // Tries to send more than the file holds.
            let file = std::fs::File::open(&path).unwrap();
            let _ = w.write_file(&file, 200_000);
        }
    });
    let mut c = H2Client::connect(srv.addr());
    // Room for the whole body without WINDOW_UPDATEs from the test.
    c.window_update(0, 1 << 20);
    c.send(&Frame::Settings(Settings {
        initial_window_size: Some(1 << 20),
        ..Default::default()
    }));
    for (id, path, sent) in [(1, "/file", 100_000), (3, "/nothing", 0)] {
        c.get(id, path);
        let resp = c.response(id);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.header("content-length"), Some("200000"), "{path}");
        assert_eq!(resp.body.len(), sent, "{path}");
        assert_eq!(
            resp.reset,
            Some(ErrorCode::Internal),
            "{path}: the stream ended without a reset, with {} of its 200000 declared body \
             bytes",
            resp.body.len()
        );
    }
}

/// `write_file` of more than a declared content-length leaves room for fails with
/// `ContentLengthMismatch` and sends nothing (a small file would have been buffered and cut at
/// the head); the handler can then write the body it declared.
#[test]
fn write_file_longer_than_the_declared_length_is_refused_whole() {
    let t = raw::TempDir::new("h2-over-declared");
    std::fs::write(t.join("f.bin"), vec![7u8; 1000]).unwrap();
    let path = t.join("f.bin");
    let (tx, rx) = bounded(1);
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..test_config()
    };
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert(nethttp::http::header::CONTENT_LENGTH, 500u64.into());
        let file = std::fs::File::open(&path).unwrap();
        let refused = w
            .write_file(&file, 1000)
            .map_err(|e| nethttp::Error::from(e).kind());
        let _ = tx.send(refused);
        std::io::Write::write_all(w, &[b'x'; 500]).unwrap();
    });
    let mut c = H2Client::connect(srv.addr());
    c.get(1, "/");
    let resp = c.response(1);
    let refused = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(refused, Err(nethttp::ErrorKind::ContentLengthMismatch));
    assert_eq!(resp.header("content-length"), Some("500"));
    assert_eq!(resp.reset, None);
    assert!(
        resp.body == [b'x'; 500],
        "the body is not the 500 bytes written after"
    );
}
