//! The floor of a thread-per-connection server: what the design costs with no HTTP in it.
//!
//! ```text
//! floor-server ADDR
//! ```
//!
//! One OS thread per accepted connection (spawned, no cache), `TCP_NODELAY`, a blocking `read`,
//! and for every request head found (`\r\n\r\n`) one `write` of a fixed `200 OK` with the
//! 13-byte body nethttp-hello and hyper-hello send. No parsing, no headers map, no `Date`, no
//! timeouts, no limits: it is not a server anyone should run, only the least a thread per
//! connection can cost per request. Comparing it with nethttp-hello and hyper-hello under the
//! same wrk load separates the price of the threading model from the price of nethttp's HTTP
//! work (docs/PERFORMANCE.md, "The floor of a thread per connection").

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

fn serve(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 8192];
    let mut have = 0;
    loop {
        let n = match s.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        have += n;
        // Answer every complete head in the buffer (wrk does not pipeline, so usually one).
        let mut start = 0;
        while let Some(end) = buf[start..have].windows(4).position(|w| w == b"\r\n\r\n") {
            if s.write_all(RESPONSE).is_err() {
                return;
            }
            start += end + 4;
        }
        buf.copy_within(start..have, 0);
        have -= start;
        if have == buf.len() {
            return; // a head larger than the buffer: not this benchmark's traffic
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("floor-server: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    for s in listener.incoming().flatten() {
        std::thread::spawn(move || serve(s));
    }
}
