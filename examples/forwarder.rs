//! A reverse-proxy-like forwarder: the server and the client in one program, streaming both
//! ways, as a small cousin of Go's `httputil.ReverseProxy`.
//!
//! ```sh
//! cargo run --example echo &                                         # an upstream on :8080
//! cargo run --example forwarder -- 127.0.0.1:8081 http://127.0.0.1:8080
//! curl --data-binary @Cargo.toml http://127.0.0.1:8081/echo
//! ```
//!
//! Arguments: `ADDR UPSTREAM`. Each request to `ADDR` is sent to `UPSTREAM` (a base URL; a
//! path in it is a prefix: with `http://h/api`, `/x?y=1` goes to `http://h/api/x?y=1`) with
//!
//! - the same method, path and query;
//! - the same header fields except the hop-by-hop ones (`Connection` and the fields it names,
//!   `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`,
//!   `Trailer`, `Transfer-Encoding`, `Upgrade`) and `Host` (the upstream's is sent);
//! - `X-Forwarded-For` (the client's address appended to any the request had),
//!   `X-Forwarded-Host` and `X-Forwarded-Proto`;
//! - the request body streamed through: the server's `Request` body is moved into the
//!   client's request (both are `nethttp::Request`), so an upload is never held in memory.
//!
//! The response comes back the same way: status, headers minus hop-by-hop ones, and the body
//! streamed and flushed as it arrives. If the upstream cannot be reached or fails before its
//! response head, the client gets `502 Bad Gateway`. If it fails partway through the body, the
//! connection to the client is cut (hijacked and shut down) so the client sees a truncated
//! response, never a clean end — Go's `ReverseProxy` does the same with
//! `panic(http.ErrAbortHandler)`.
//!
//! Not handled, unlike `ReverseProxy`: protocol upgrades (WebSocket) and trailers.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use nethttp::client::{ClientConfig, RedirectPolicy, Transport, TransportConfig};
use nethttp::net::TcpDialer;
use nethttp::server::{Body, Config, Server};
use nethttp::{
    handlers, Client, HeaderMap, HeaderName, HeaderValue, Request, ResponseWriter, StatusCode, Uri,
};

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// non-standard ones proxies have always removed (Go's `hopHeaders`).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, upstream] = args.as_slice() else {
        eprintln!("usage: forwarder ADDR UPSTREAM   (e.g. 127.0.0.1:8081 http://127.0.0.1:8080)");
        std::process::exit(2);
    };
    let base = match upstream.parse::<Uri>() {
        Ok(u) if u.scheme().is_some() && u.authority().is_some() => u,
        _ => {
            eprintln!("forwarder: UPSTREAM must be an absolute URL such as http://host:port");
            std::process::exit(2);
        }
    };
    let prefix = format!(
        "{}://{}{}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map_or("", |a| a.as_str()),
        base.path().trim_end_matches('/')
    );

    let transport = Transport::with_config(TransportConfig {
        dialer: Arc::new(TcpDialer {
            connect_timeout: Some(Duration::from_secs(10)),
            ..TcpDialer::default()
        }),
        // A hung upstream gets a 502 rather than holding the client forever; the body may
        // then stream for as long as it likes (the server's stall timeout still applies).
        response_header_timeout: Some(Duration::from_secs(30)),
        // No User-Agent of our own when the client sent none.
        user_agent: None,
        ..TransportConfig::default()
    });
    let client = Client::with_config(ClientConfig {
        transport: Some(Arc::new(transport)),
        // Redirects are the client's business, not the forwarder's.
        redirect: RedirectPolicy::none(),
        // Pass bodies through as they are encoded; the client decides whether to decode.
        gzip: false,
        ..ClientConfig::default()
    });

    let cfg = Config {
        addr: addr.clone(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        forward(&client, &prefix, w, r)
    });
    eprintln!("forwarder: http://{addr}/ -> {upstream}");
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("forwarder: {e}");
        std::process::exit(1);
    }
}

fn forward(client: &Client, prefix: &str, w: &mut dyn ResponseWriter, r: &mut Request) {
    let path = r.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("{prefix}{path}");
    let mut out = match Request::new(r.method.clone(), &url) {
        Ok(req) => req,
        Err(e) => return handlers::error(w, &format!("bad target: {e}"), StatusCode::BAD_REQUEST),
    };
    copy_end_to_end(&r.headers, &mut out.headers);
    out.headers.remove("host");
    if let Some(peer) = r.remote_addr() {
        let prior: Vec<&str> = r
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let mut chain = prior.join(", ");
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&peer.ip().to_string());
        set(&mut out.headers, "x-forwarded-for", &chain);
    }
    set(&mut out.headers, "x-forwarded-host", r.host());
    set(
        &mut out.headers,
        "x-forwarded-proto",
        if r.is_tls() { "https" } else { "http" },
    );
    // The body streams from the client's connection to the upstream's as the transport's
    // writer thread reads it; its length, if declared, goes along.
    let body = r.replace_body(Body::empty());
    out.replace_body(body);

    let mut resp = match client.send(out) {
        Ok(resp) => resp,
        Err(e) => {
            eprintln!("forwarder: {} {url}: {e}", r.method);
            return handlers::error(w, "502 bad gateway", StatusCode::BAD_GATEWAY);
        }
    };
    copy_end_to_end(&resp.headers, w.headers_mut());
    w.write_header(resp.status);
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = match resp.body().read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("forwarder: {} {url}: reading the body: {e}", r.method);
                return abort(w);
            }
        };
        // Flushing sends each piece on at once (streamed and long-polling responses work).
        if w.write_all(&buf[..n]).and_then(|()| w.flush()).is_err() {
            // The client went away; dropping `resp` closes the upstream connection.
            return;
        }
    }
}

/// Appends every field of `from` to `to` except the hop-by-hop ones and those that `from`'s
/// own `Connection` field names.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named: Vec<String> = from
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    for (name, value) in from {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || named.iter().any(|t| t == n) {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Cuts the client's connection mid-response: the head is out, so no error status can be sent,
/// and ending the body normally would pass a truncated body off as complete.
fn abort(w: &mut dyn ResponseWriter) {
    if let Ok(conn) = w.hijack() {
        let _ = conn.stream().shutdown(std::net::Shutdown::Both);
    }
}
