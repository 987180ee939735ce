//! Hello, world: the smallest useful server, with a graceful shutdown.
//!
//! `cargo run --example hello -- [ADDR]` (default `127.0.0.1:8080`) answers every request with
//! `hello, PATH`. Try `curl http://127.0.0.1:8080/world`.
//!
//! Stopping: run from a terminal, press Enter and the server shuts down gracefully — it stops
//! accepting, closes idle connections, lets requests in flight finish (for at most 5 seconds)
//! and exits. Otherwise (stdin not a terminal) it serves until it is killed. A real daemon
//! would call the same `Server::shutdown` from a SIGTERM handler; see "Shutdown" in
//! `docs/GUIDE.md`.

use std::io::IsTerminal;
use std::time::Duration;

use nethttp::server::{Config, Server};
use nethttp::{Request, ResponseWriter};

fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = writeln!(w, "hello, {}", r.uri.path());
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let cfg = Config {
        addr: addr.clone(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, hello);

    // `serve` returns as soon as a shutdown begins; the thread that called `shutdown` learns
    // when the connections are done, and tells main through this channel.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    if std::io::stdin().is_terminal() {
        let stopper = srv.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_line(&mut String::new());
            eprintln!("hello: shutting down");
            let _ = done_tx.send(stopper.shutdown(Duration::from_secs(5)));
        });
        eprintln!("hello: listening on http://{addr}/ (press Enter to stop)");
    } else {
        drop(done_tx);
        eprintln!("hello: listening on http://{addr}/");
    }

    if let Err(e) = srv.listen_and_serve() {
        eprintln!("hello: {e}");
        std::process::exit(1);
    }
    match done_rx.recv() {
        Ok(Ok(())) => eprintln!("hello: every connection finished; bye"),
        Ok(Err(e)) => eprintln!("hello: {e}; exiting anyway"),
        Err(_) => {}
    }
}
