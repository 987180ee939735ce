//! A round-robin reverse proxy over `httputil::ReverseProxy`, as a Go user would write it.
//!
//! ```sh
//! cargo run --example echo &                       # an upstream on 127.0.0.1:8080
//! cargo run --example reverse_proxy -- 127.0.0.1:8081 http://127.0.0.1:8080
//! curl --data-binary @Cargo.toml http://127.0.0.1:8081/echo
//! ```
//!
//! Arguments: `ADDR UPSTREAM...`. Each request goes to the next upstream in turn, with its
//! path joined to the upstream's (`http://h/api` and `/x` make `/api/x`), the upstream's host
//! in `Host`, and `X-Forwarded-For`, `-Host` and `-Proto` set. Bodies stream both ways,
//! trailers and protocol upgrades (WebSocket) pass through, an unreachable upstream answers
//! 502 and a timeout 504. `nethttp proxy` is the same with an access log.

use std::sync::atomic::{AtomicUsize, Ordering};

use nethttp::httputil::{ProxyRequest, ReverseProxy};
use nethttp::server::{Config, Server};
use nethttp::Uri;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((addr, upstreams)) = args.split_first().filter(|(_, u)| !u.is_empty()) else {
        eprintln!(
            "usage: reverse_proxy ADDR UPSTREAM...   (e.g. 127.0.0.1:8081 http://127.0.0.1:8080)"
        );
        std::process::exit(2);
    };
    let targets: Vec<Uri> = upstreams
        .iter()
        .map(|u| match u.parse::<Uri>() {
            Ok(t) if t.scheme().is_some() && t.authority().is_some() => t,
            _ => {
                eprintln!("reverse_proxy: {u:?} is not an absolute URL such as http://host:port");
                std::process::exit(2);
            }
        })
        .collect();

    let next = AtomicUsize::new(0);
    let proxy = ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            let i = next.fetch_add(1, Ordering::Relaxed) % targets.len();
            pr.set_url(&targets[i]);
            pr.set_x_forwarded();
        })),
        ..ReverseProxy::default()
    };
    let cfg = Config {
        addr: addr.clone(),
        ..Config::default()
    };
    eprintln!("reverse_proxy: http://{addr}/ -> {}", upstreams.join(", "));
    if let Err(e) = Server::with_config(cfg, proxy).listen_and_serve() {
        eprintln!("reverse_proxy: {e}");
        std::process::exit(1);
    }
}
