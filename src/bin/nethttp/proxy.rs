//! `nethttp proxy`: a reverse proxy (`httputil::ReverseProxy` inside `log_requests`),
//! round-robin over its upstreams, with the same graceful shutdown as `serve`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nethttp::client::{Transport, TransportConfig};
use nethttp::httputil::{ProxyRequest, ReverseProxy};
use nethttp::server::{Config, Server};
use nethttp::{log_requests, Uri};

use crate::serve::{bind_error, run_until_signalled};
use crate::{parse_duration, Failure};

/// Forward requests to one or more upstream servers, with an access log on stderr.
///
/// Requests go to the upstreams in turn (round-robin), with the upstream's host in `Host` and
/// X-Forwarded-For, -Host and -Proto set. Bodies stream both ways; trailers and protocol
/// upgrades (WebSocket) pass through. An unreachable upstream answers 502, one slower than
/// --timeout 504. Ctrl-C or SIGTERM stops as `serve` does.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The servers to forward to: absolute URLs such as http://127.0.0.1:9000 (a path in one
    /// is a prefix: with http://h/api, /x goes to /api/x).
    #[arg(required = true, value_name = "UPSTREAM")]
    upstreams: Vec<String>,

    /// The address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: String,

    /// How long an upstream may take to send its response head before the client gets 504.
    /// Default: no limit.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,

    /// The most connections served at once (0: no limit).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,

    /// How long a shutdown waits for requests in flight before it closes their connections.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_timeout: Duration,

    /// No access log (errors are still printed).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    crate::logger::init(!args.quiet);
    let targets = args
        .upstreams
        .iter()
        .map(|u| match u.parse::<Uri>() {
            Ok(t)
                if matches!(t.scheme_str(), Some("http" | "https")) && t.authority().is_some() =>
            {
                Ok(t)
            }
            _ => Err(Failure::usage(format!(
                "invalid upstream {u:?}: expected an absolute URL such as http://127.0.0.1:9000"
            ))),
        })
        .collect::<Result<Vec<Uri>, Failure>>()?;

    let transport = Transport::with_config(TransportConfig {
        user_agent: None,
        response_header_timeout: args.timeout,
        max_idle_conns: 1024,
        max_idle_conns_per_host: 256,
        ..TransportConfig::default()
    });
    let next = AtomicUsize::new(0);
    let proxy = ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            let i = next.fetch_add(1, Ordering::Relaxed) % targets.len();
            pr.set_url(&targets[i]);
            pr.set_x_forwarded();
        })),
        transport: Some(Arc::new(transport)),
        ..ReverseProxy::default()
    };

    let listener = nethttp::net::listen(&args.addr).map_err(|e| bind_error(&args.addr, &e))?;
    let cfg = Config {
        addr: args.addr.clone(),
        max_connections: args.max_connections,
        ..Config::default()
    };
    let srv = Server::with_config(cfg, log_requests(proxy));
    let what = format!("proxying to {}", args.upstreams.join(", "));
    run_until_signalled(&srv, listener, args.shutdown_timeout, &what)
}
