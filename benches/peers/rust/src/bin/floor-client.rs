//! The floor of the client design: a caller, a writer thread and a reader thread per
//! connection, with no HTTP in them.
//!
//! ```text
//! floor-client --url http://127.0.0.1:PORT/ --mode seq|par [--threads 8] [--duration 3s]
//! ```
//!
//! Each calling thread owns one keep-alive connection with a writer thread and a reader thread,
//! as nethttp's pooled connections have. Per request the caller sends a prepared `GET` to the
//! writer over a crossbeam channel and unparks it; the writer writes it; the reader reads until
//! a whole response is in (head plus `Content-Length` bytes; no other parsing), sends it to the
//! caller over a crossbeam channel and unparks it. Waits are `try_recv` plus `park`, as
//! nethttp's are. No pool, no headers map, no timeouts, no error handling worth the name: only
//! the three hand-offs the design mandates. Comparing it with `client-bench --impl ureq` and
//! `--impl nethttp` separates the price of the design from the price of nethttp's HTTP work
//! (docs/PERFORMANCE.md, "The floor of the client design"). Prints one JSON line like
//! client-bench: `{impl, mode, threads, requests, seconds, rps}`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

/// Receives from `rx`, parking while it is empty (the sender unparks this thread).
fn recv_parked<T>(rx: &Receiver<T>) -> Option<T> {
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => thread::park(),
        }
    }
}

/// The end of the first response in `buf`, if it is all there.
fn response_end(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    (buf.len() >= head_end + len).then_some(head_end + len)
}

struct Conn {
    to_writer: crossbeam_channel::Sender<Arc<Vec<u8>>>,
    writer: Thread,
    from_reader: Receiver<usize>,
}

/// Dials `addr` and starts the connection's writer and reader threads; both report to the
/// current thread.
fn connect(addr: &str) -> Conn {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let caller = thread::current();
    let (to_writer, writer_rx) = crossbeam_channel::bounded::<Arc<Vec<u8>>>(1);
    let (to_caller, from_reader) = crossbeam_channel::bounded::<usize>(1);
    let mut ws = s.try_clone().expect("clone");
    let writer = thread::Builder::new()
        .name("floor-write".into())
        .spawn(move || {
            while let Some(req) = recv_parked(&writer_rx) {
                if ws.write_all(&req).is_err() {
                    return;
                }
            }
        })
        .expect("spawn writer")
        .thread()
        .clone();
    let mut rs = s;
    thread::Builder::new()
        .name("floor-read".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            loop {
                let end = loop {
                    if let Some(end) = response_end(&buf) {
                        break end;
                    }
                    match rs.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                buf.drain(..end);
                if to_caller.send(end).is_err() {
                    return;
                }
                caller.unpark();
            }
        })
        .expect("spawn reader");
    Conn {
        to_writer,
        writer,
        from_reader,
    }
}

fn main() {
    let mut url = String::new();
    let mut par = false;
    let mut threads = 8usize;
    let mut duration = Duration::from_secs(3);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--url" => url = v,
            "--mode" => par = v == "par",
            "--threads" => threads = v.parse().expect("--threads"),
            "--duration" => {
                duration =
                    Duration::from_secs_f64(v.trim_end_matches('s').parse().expect("--duration"))
            }
            _ => {
                eprintln!(
                    "usage: floor-client --url URL --mode seq|par [--threads N] [--duration 3s]"
                );
                std::process::exit(2);
            }
        }
    }
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let threads = if par { threads } else { 1 };
    let req = Arc::new(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (addr, req, stop, count, start) = (
            addr.clone(),
            Arc::clone(&req),
            Arc::clone(&stop),
            Arc::clone(&count),
            Arc::clone(&start),
        );
        handles.push(thread::spawn(move || {
            let c = connect(&addr);
            let round = |c: &Conn| {
                c.to_writer.send(Arc::clone(&req)).expect("writer alive");
                c.writer.unpark();
                recv_parked(&c.from_reader).expect("reader alive");
            };
            for _ in 0..200 {
                round(&c); // warm-up
            }
            start.wait();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                round(&c);
                n += 1;
            }
            count.fetch_add(n, Ordering::Relaxed);
        }));
    }
    start.wait();
    let t0 = Instant::now();
    thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("caller");
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    println!(
        "{{\"impl\":\"floor\",\"mode\":\"{}\",\"threads\":{threads},\"requests\":{n},\"seconds\":{secs:.3},\"rps\":{:.1}}}",
        if par { "par" } else { "seq" },
        n as f64 / secs
    );
}
