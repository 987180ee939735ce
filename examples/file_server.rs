//! A static file server: Go's `http.FileServer(http.Dir(dir))`.
//!
//! `cargo run --release --example file_server -- [ADDR] [DIR]` serves the directory `DIR`
//! (default `.`) on `ADDR` (default `127.0.0.1:8080`): files with ranges and conditional
//! requests, `index.html` for directories, listings otherwise. Try
//! `curl -r 0-99 http://127.0.0.1:8080/README.md` or open the address in a browser.

use nethttp::server::{Config, Server};
use nethttp::FileServer;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let dir = args.next().unwrap_or_else(|| ".".to_string());
    if !std::path::Path::new(&dir).is_dir() {
        eprintln!("file_server: {dir} is not a directory");
        std::process::exit(2);
    }
    let cfg = Config {
        addr: addr.clone(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, FileServer::new(&dir));
    eprintln!("file_server: serving {dir} on http://{addr}/");
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("file_server: {e}");
        std::process::exit(1);
    }
}
