//! Hello-world server on nethttp over TLS: `nethttp-hello-tls ADDR CERT.pem KEY.pem`.
//! Same response as nethttp-hello; one thread per connection, the handshake on that thread.
//! HTTP/2 is offered through ALPN (feature `http2`, on in this crate), so a client that asks
//! for it (h2load, curl) gets it; wrk gets HTTP/1.1. With `HELLO_H2C` set in the environment,
//! `nethttp-hello-tls ADDR` serves plain TCP with h2c (HTTP/2 with prior knowledge) accepted
//! beside HTTP/1.1 (benches/h2.sh).
//!
//! `/read` sends the response head at once, then reads the request body to its end before
//! the body: a request whose body never ends holds its handler, as in Go's hello
//! (benches/h2_mem.sh).

use nethttp::server::{Config, Request, ResponseWriter, Server};

const BODY: &[u8] = b"Hello, World!";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let h2c = std::env::var_os("HELLO_H2C").is_some();
    if args.len() != 4 && !(h2c && args.len() == 2) {
        eprintln!("usage: nethttp-hello-tls ADDR CERT.pem KEY.pem");
        std::process::exit(2);
    }
    let mut cfg = Config {
        addr: args[1].clone(),
        ..Config::default()
    };
    cfg.http2.h2c = h2c;
    let srv = Server::with_config(cfg, |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut().insert(
            "content-type",
            nethttp::HeaderValue::from_static("text/plain"),
        );
        if r.uri.path() == "/read" {
            let _ = w.flush();
            let _ = std::io::copy(r.body(), &mut std::io::sink());
        }
        let _ = w.write_all(BODY);
    });
    let served = if h2c {
        srv.listen_and_serve()
    } else {
        srv.listen_and_serve_tls(&args[2], &args[3])
    };
    if let Err(e) = served {
        eprintln!("nethttp-hello-tls: {e}");
        std::process::exit(1);
    }
}
