//! What the HTTP/2 server holds in memory, measured as the process's resident memory (so this
//! binary has one test, which nothing else runs beside); from a review (session 21).

mod h2_support;
mod support;

use crossbeam_channel::bounded;
use h2_support::{H2Client, In, DEADLINE};
use nethttp::proto::h2::frame::{Data, Frame};
use nethttp::server::{Config, Http2Config};
use nethttp::{Request, ResponseWriter};
use support::{test_config, TestServer};

/// This process's resident memory, in KiB (Linux: /proc/self/status); the server runs in it.
fn rss_kib() -> isize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A request body sent as one-octet DATA frames was kept as one allocation per frame (plus a
/// 24-octet `VecDeque` slot): the windows bound the octets (1 MiB a connection), not what
/// holding them costs, so a client made the server hold some 30 times its window per
/// connection. Small frames now go into chunks of up to 16 KiB, as Go's body buffer packs
/// them.
#[test]
fn tiny_data_frames_cost_no_more_than_the_window() {
    let (started_tx, started_rx) = bounded::<()>(8);
    let (release_tx, release_rx) = bounded::<()>(0);
    let cfg = Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..test_config()
    };
    let srv = TestServer::start(cfg, move |_w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = started_tx.send(());
        // Does not read its body; released by the test (or its end).
        let _ = release_rx.recv_timeout(DEADLINE);
    });
    let mut c = H2Client::connect(srv.addr());
    c.expect("server settings", |f| matches!(f, In::Settings(_)));
    let post = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", "/up"),
    ];
    for id in [1, 3] {
        c.headers(id, &post, false);
        started_rx.recv_timeout(DEADLINE).unwrap();
    }
    let rss0 = rss_kib();
    // Each stream's whole window (256 KiB), one octet a frame: 512 Ki frames, 5 MB.
    const PER_STREAM: usize = 256 << 10;
    for id in [1u32, 3] {
        let one = H2Client::encode_frame(&Frame::Data(Data {
            stream_id: id,
            end_stream: false,
            data: b"x",
            padding: None,
        }));
        let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 4096).collect();
        for _ in 0..PER_STREAM / 4096 {
            c.send_raw(&batch);
        }
    }
    // Everything before the ping is processed once its answer comes.
    c.ping(*b"counted!");
    c.expect("ping ack", |f| matches!(f, In::Ping { ack: true, .. }));
    let grew = rss_kib() - rss0;
    drop(release_tx);
    let window = (2 * PER_STREAM as isize) >> 10;
    // The bytes themselves, plus room for the rest of what a connection allocates.
    assert!(
        grew < 8 * window,
        "resident memory grew by {grew} KiB to hold {window} KiB of request body"
    );
}
