//! Hello-world plaintext server on nethttp: `nethttp-hello [ADDR]` (default 127.0.0.1:8080).
//!
//! Every request gets `200 OK`, `Content-Type: text/plain` and the 13-byte body
//! `Hello, World!` (nethttp adds Content-Length and Date), with keep-alive, as hyper-hello
//! and the Go hello server do. Default `Config`: one thread per connection. With
//! `HELLO_REUSE_PORT` set in the environment the listener shares its port (`reuse_port`),
//! which on Linux also switches the accept loop to its polling form (accept until the queue
//! is empty, then poll): a diagnostic for the churn benchmarks (docs/PERFORMANCE.md).

use nethttp::server::{Config, Request, ResponseWriter, Server};

const BODY: &[u8] = b"Hello, World!";

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let cfg = Config {
        addr,
        reuse_port: std::env::var_os("HELLO_REUSE_PORT").is_some(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let h = w.headers_mut();
        // The name as a constant, as hyper-hello writes it: the same handler work in both.
        h.insert(
            nethttp::http::header::CONTENT_TYPE,
            nethttp::HeaderValue::from_static("text/plain"),
        );
        let _ = w.write_all(BODY);
    });
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("nethttp-hello: {e}");
        std::process::exit(1);
    }
}
