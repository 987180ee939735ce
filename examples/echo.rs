//! The echo server used by the docs and by black-box tests.
//!
//! `cargo run --release --example echo -- [ADDR]` (default `127.0.0.1:8080`) serves every path
//! the client snippets of docs/GUIDE.md use:
//! - `/`: `hello` as text;
//! - `/echo` and `/search`: any method; reads the whole request body, then answers 200 with
//!   exactly that body (400 if the body could not be read: cut short, badly framed, too slow);
//! - `POST /items/`: a JSON object, answered `201 Created` with the object and an `"id"`
//!   added (a numbering, nothing is stored); `DELETE /items/ID`: `204 No Content`;
//! - `/slow`: answers nothing until the client goes away (at most a minute), for cancels;
//! - `/hijack`: answers `101 Switching Protocols`, takes over the connection and echoes raw
//!   bytes until the client closes its side;
//! - anything else: 404.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nethttp::server::{Request, ResponseWriter, Server};
use nethttp::StatusCode;

fn echo(w: &mut dyn ResponseWriter, r: &mut Request) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let path = r.uri.path().to_owned();
    match (r.method.as_str(), path.as_str()) {
        (_, "/") => {
            let _ = w.write_all(b"hello\n");
        }
        ("POST", "/items/") => {
            let mut body = Vec::new();
            let object = match r.body().take(1 << 20).read_to_end(&mut body) {
                Ok(_) => String::from_utf8_lossy(&body).trim().to_owned(),
                Err(_) => String::new(),
            };
            let Some(fields) = object.strip_prefix('{').and_then(|o| o.strip_suffix('}')) else {
                w.write_header(StatusCode::BAD_REQUEST);
                let _ = writeln!(w, "expected a JSON object");
                return;
            };
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let sep = if fields.trim().is_empty() { "" } else { "," };
            if let Ok(ct) = "application/json".parse() {
                w.headers_mut().insert("content-type", ct);
            }
            w.write_header(StatusCode::CREATED);
            let _ = write!(w, "{{\"id\":{id}{sep}{fields}}}");
        }
        ("DELETE", p) if p.starts_with("/items/") => w.write_header(StatusCode::NO_CONTENT),
        (_, "/slow") => {
            let end = Instant::now() + Duration::from_secs(60);
            while !w.client_gone() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        (_, "/echo" | "/search") => {
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
        (_, "/hijack") => {
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
    eprintln!("echo: listening on http://{addr} (/, /echo, /search, /items/, /slow, /hijack)");
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}
