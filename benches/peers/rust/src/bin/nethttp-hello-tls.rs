//! Hello-world server on nethttp over TLS: `nethttp-hello-tls ADDR CERT.pem KEY.pem`.
//! Same response as nethttp-hello; one thread per connection, the handshake on that thread.

use nethttp::server::{Config, Request, ResponseWriter, Server};

const BODY: &[u8] = b"Hello, World!";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: nethttp-hello-tls ADDR CERT.pem KEY.pem");
        std::process::exit(2);
    }
    let cfg = Config {
        addr: args[1].clone(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, |w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut().insert(
            "content-type",
            nethttp::HeaderValue::from_static("text/plain"),
        );
        let _ = w.write_all(BODY);
    });
    if let Err(e) = srv.listen_and_serve_tls(&args[2], &args[3]) {
        eprintln!("nethttp-hello-tls: {e}");
        std::process::exit(1);
    }
}
