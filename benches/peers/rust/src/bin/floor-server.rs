//! The floor of a thread-per-connection server: what the design costs with no HTTP in it.
//!
//! ```text
//! floor-server ADDR
//! ```
//!
//! One OS thread per accepted connection, `TCP_NODELAY`, a blocking `read`,
//! and for every request head found (`\r\n\r\n`) one `write` of a fixed `200 OK` with the
//! 13-byte body nethttp-hello and hyper-hello send. A head that contains the bytes
//! `connection: close` in any case (as wrk's `-H 'Connection: close'` writes it; a byte
//! search, not a parse) gets the same response with `Connection: close` and the connection is closed
//! after it, so `wrk -H 'Connection: close'` measures the floor of connection churn: one
//! spawned thread per connection, one read, one write, one close. No parsing, no headers
//! map, no `Date`, no timeouts, no limits: it is not a server anyone should run, only the
//! least a thread per connection can cost per request.
//!
//! A connection's thread goes back to a LIFO cache when its connection ends and the accept
//! loop hands the next connection to the most recently parked one (spawning only when none is
//! parked), as nethttp's server does: under churn a spawn per connection costs more than the
//! hand-off, and the floor should be the cheaper of the two. `FLOOR_SPAWN=1` spawns a thread
//! for every connection instead. Comparing it with nethttp-hello and hyper-hello under the
//! same wrk load separates the price of the threading model from the price of nethttp's HTTP
//! work (docs/PERFORMANCE.md, "The floor of a thread per connection").

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const RESPONSE_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";

/// Whether `head` carries `Connection: close` (a byte search, case-insensitive).
fn asks_close(head: &[u8]) -> bool {
    const WANT: &[u8] = b"connection: close";
    head.windows(WANT.len())
        .any(|w| w.eq_ignore_ascii_case(WANT))
}

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
            if asks_close(&buf[start..start + end]) {
                // The client sent nothing more, so dropping the socket sends a FIN, not a reset.
                let _ = s.write_all(RESPONSE_CLOSE);
                return;
            }
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
    if std::env::var_os("FLOOR_SPAWN").is_some_and(|v| v == "1") {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
        return;
    }
    // Parked threads, each waiting on its own channel for its next connection; the last
    // parked is handed the next connection (its stack and caches are the warmest).
    let parked: Arc<Mutex<Vec<SyncSender<TcpStream>>>> = Arc::default();
    for mut s in listener.incoming().flatten() {
        loop {
            let Some(tx) = parked.lock().unwrap().pop() else {
                let parked = Arc::clone(&parked);
                std::thread::spawn(move || worker(s, &parked));
                break;
            };
            match tx.send(s) {
                Ok(()) => break,
                Err(e) => s = e.0, // that thread is gone: try the next
            }
        }
    }
}

/// Serves `s`, then parks in the cache and serves whatever connection it is handed next.
fn worker(mut s: TcpStream, parked: &Mutex<Vec<SyncSender<TcpStream>>>) {
    loop {
        serve(s);
        let (tx, rx) = sync_channel(1);
        parked.lock().unwrap().push(tx);
        match rx.recv() {
            Ok(next) => s = next,
            Err(_) => return,
        }
    }
}
