//! The echo server used by the docs and by black-box tests.
//!
//! `cargo run --release --example echo -- [ADDR]` (default `127.0.0.1:8080`) serves:
//! - `/echo`: any method; reads the whole request body, then answers 200 with exactly that body
//!   (400 if the body could not be read: cut short, badly framed, too slow);
//! - `/hijack`: answers `101 Switching Protocols`, takes over the connection and echoes raw
//!   bytes until the client closes its side;
//! - anything else: 404.

use std::io::{Read, Write};

use nethttp::server::{Request, ResponseWriter, Server};
use nethttp::StatusCode;

fn echo(w: &mut dyn ResponseWriter, r: &mut Request) {
    match r.uri.path() {
        "/echo" => {
            let mut body = Vec::new();
            if let Err(e) = r.body().read_to_end(&mut body) {
                w.write_header(StatusCode::BAD_REQUEST);
                let _ = writeln!(w, "bad request body: {e}");
                return;
            }
            if let Ok(ct) = "application/octet-stream".parse() {
                w.headers_mut().insert("content-type", ct);
            }
            let _ = w.write_all(&body);
        }
        "/hijack" => {
            if let Ok(v) = "echo".parse() {
                w.headers_mut().insert("upgrade", v);
            }
            if let Ok(v) = "Upgrade".parse() {
                w.headers_mut().insert("connection", v);
            }
            w.write_header(StatusCode::SWITCHING_PROTOCOLS);
            let mut conn = match w.hijack() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("hijack failed: {e}");
                    return;
                }
            };
            // On the heap: a handler's stack frame is touched when it is entered (a stack
            // probe per page), and a connection thread keeps what it touched while it lives.
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        }
        _ => {
            w.write_header(StatusCode::NOT_FOUND);
            let _ = writeln!(w, "404 page not found");
        }
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let cfg = nethttp::server::Config {
        addr: addr.clone(),
        ..nethttp::server::Config::default()
    };
    let srv = Server::with_config(cfg, echo);
    eprintln!("echo: listening on http://{addr} (/echo, /hijack)");
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}
