//! `nethttp serve`: a static file server (`FileServer` inside `log_requests`) with a graceful
//! shutdown on SIGINT and SIGTERM; with `--reuse-port`, one of several processes on one port,
//! which is how it restarts without a failed request.
//!
//! Threads: the main thread runs the accept loop (`Server::serve`); ctrlc's signal thread
//! only forwards signals over a channel; a `stopper` thread waits on that channel and runs
//! `Server::shutdown`, which returns once every in-flight response has finished.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nethttp::fs::Listing;
use nethttp::handlers::LogFormat;
use nethttp::server::{Config, Server};
use nethttp::StatusCode;
use nethttp::{log_requests, FileServer, Handler, HeaderValue, Method, Request, ResponseWriter};

use crate::{human_duration, parse_duration, Failure};

/// Serve a directory over HTTP, with an access log on stderr.
///
/// Files are served with ranges and conditional requests, directories as their index.html or
/// as a listing. Ctrl-C or SIGTERM stops accepting, lets requests in flight finish (up to
/// --shutdown-timeout) and exits 0; a second signal closes every connection at once.
///
/// A restart without a failed request (Linux): run the new process with --reuse-port on the
/// same --addr as the old one (also started with --reuse-port), wait for its "serving" line,
/// then send the old one SIGTERM.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to serve. Default: the current directory.
    dir: Option<PathBuf>,

    /// The address to listen on: HOST:PORT, :PORT (every interface, as Go's ":8080") or PORT
    /// (on 127.0.0.1). Port 0 picks a free port. Default: 127.0.0.1:8080.
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,

    /// The port to listen on (the host from --addr, or 127.0.0.1).
    #[arg(short, long, value_name = "PORT")]
    port: Option<u16>,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) for --tls-cert.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Ask every request for these credentials (HTTP Basic): USER:PASS. Others get 401.
    #[arg(long, value_name = "USER:PASS")]
    basic_auth: Option<String>,

    /// Allow cross-origin requests from any origin: Access-Control-Allow-Origin: * on every
    /// response, and preflight OPTIONS requests answered 204.
    #[arg(long)]
    cors: bool,

    /// The access log's format: "default" (address, request, status, bytes, time) or
    /// "common" (the Common Log Format of Apache and nginx). A download the client did not
    /// receive whole ends with "cut" in either.
    #[arg(long, value_name = "FORMAT", default_value = "default", value_parser = ["default", "common"])]
    log_format: String,

    /// The most connections served at once. At the limit a new client is admitted by closing
    /// the longest-idle keep-alive connection; only when every connection is busy with a
    /// request does it wait in the kernel's backlog. 0 means no limit.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,

    /// Per-client time limits: a client must send a whole request (head and body) within
    /// this time, and no single read or write may stall for longer. A slow download that
    /// keeps moving is not cut off. Default: 10s for the request head, no limit for a whole
    /// request body, 60s for a stalled read or write.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,

    /// Listen with SO_REUSEPORT (Linux only): several processes started with this flag can
    /// listen on one --addr, and the kernel spreads new connections over them. On SIGTERM
    /// such a process first serves the connections already queued for it, then closes its
    /// listener, and only then its idle connections, so their clients reconnect to the
    /// others.
    #[arg(long)]
    reuse_port: bool,

    /// How long a shutdown waits for requests in flight before it closes their connections
    /// (and exits 1).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_timeout: Duration,

    /// No access log (errors are still printed).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<(), Failure> {
    crate::logger::init(!args.quiet);
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let addr = listen_addr(args.addr.as_deref(), args.port)?;
    let auth = match &args.basic_auth {
        Some(a) => match a.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Some((user.to_string(), pass.to_string())),
            _ => {
                return Err(Failure::usage(format!(
                    "invalid --basic-auth {a:?}: expected USER:PASS"
                )))
            }
        },
        None => None,
    };
    #[cfg(feature = "tls")]
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            nethttp::tls::ServerTls::from_pem_files(cert, key)
                .map_err(|e| Failure::new(format!("cannot use --tls-cert/--tls-key: {e}")))?,
        ),
        _ => None,
    };
    if !dir.is_dir() {
        return Err(Failure::new(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let shown = dir.canonicalize().unwrap_or_else(|_| dir.clone());

    // The system's largest backlog, not std's 128: a burst of connects is queued, not dropped.
    let listener = nethttp::net::ListenConfig {
        reuse_port: args.reuse_port,
    }
    .listen(&addr)
    .map_err(|e| bind_error(&addr, &e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(format!("cannot listen on {addr}: {e}")))?;

    let mut cfg = Config {
        addr: local.to_string(),
        max_connections: args.max_connections,
        reuse_port: args.reuse_port,
        ..Config::default()
    };
    if let Some(t) = args.timeout {
        cfg.read_header_timeout = Some(t);
        cfg.read_timeout = Some(t);
        cfg.inactivity_timeout = Some(t);
    }
    let files = FileServer::new(&dir).listing(Listing::Detailed);
    let site = Site {
        files,
        auth,
        cors: args.cors,
    };
    let format = if args.log_format == "common" {
        LogFormat::Common
    } else {
        LogFormat::Default
    };
    let srv = Server::with_config(cfg, log_requests(site).format(format));

    let what = format!("serving {}", shown.display());
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        return run_until_signalled_tls(&srv, listener, args.shutdown_timeout, &what, tls);
    }
    run_until_signalled(&srv, listener, args.shutdown_timeout, &what)
}

/// `--addr` and `--port` as one address: `HOST:PORT`, `:PORT` (every interface) or `PORT`
/// (loopback); `--port` replaces the port.
fn listen_addr(addr: Option<&str>, port: Option<u16>) -> Result<String, Failure> {
    let given = addr.unwrap_or("127.0.0.1:8080");
    let (host, p) = if let Some(p) = given.strip_prefix(':') {
        ("0.0.0.0".to_string(), p.to_string())
    } else if given.bytes().all(|b| b.is_ascii_digit()) && !given.is_empty() {
        ("127.0.0.1".to_string(), given.to_string())
    } else {
        match given.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (h.to_string(), p.to_string()),
            _ => {
                return Err(Failure::usage(format!(
                    "invalid --addr {given:?}: expected HOST:PORT, :PORT or PORT"
                )))
            }
        }
    };
    let p: u16 = match port {
        Some(p) => p,
        None => p.parse().map_err(|_| {
            Failure::usage(format!(
                "invalid --addr {given:?}: the port must be a number from 0 to 65535"
            ))
        })?,
    };
    Ok(format!("{host}:{p}"))
}

/// The file server with the optional Basic-auth check and CORS fields around it.
struct Site {
    files: FileServer,
    auth: Option<(String, String)>,
    cors: bool,
}

impl Handler for Site {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        if self.cors {
            w.headers_mut()
                .insert("access-control-allow-origin", HeaderValue::from_static("*"));
            if r.method == Method::OPTIONS
                && r.headers.contains_key("access-control-request-method")
            {
                let h = w.headers_mut();
                h.insert(
                    "access-control-allow-methods",
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                if let Some(asked) = r.headers.get("access-control-request-headers") {
                    h.insert("access-control-allow-headers", asked.clone());
                }
                h.insert("access-control-max-age", HeaderValue::from_static("86400"));
                return w.write_header(StatusCode::NO_CONTENT);
            }
        }
        if let Some((user, pass)) = &self.auth {
            let ok = r.basic_auth().is_some_and(|(u, p)| {
                // Both compared whole, whatever the first difference, so the time taken
                // does not tell how much of a guess was right.
                constant_time_eq(u.as_bytes(), user.as_bytes())
                    & constant_time_eq(p.as_bytes(), pass.as_bytes())
            });
            if !ok {
                w.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Basic realm=\"nethttp\", charset=\"UTF-8\""),
                );
                return nethttp::handlers::error(w, "401 unauthorized", StatusCode::UNAUTHORIZED);
            }
        }
        self.files.serve_http(w, r);
    }
}

/// Equality that looks at every byte of the longer input.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Runs `srv` on `listener` until SIGINT or SIGTERM, then shuts it down gracefully within
/// `grace` (a second signal closes every connection and exits 130). Prints `nethttp: {what}
/// on http://ADDR/ (Ctrl-C to stop)` once listening; `serve` and `proxy` share it.
pub fn run_until_signalled(
    srv: &Server,
    listener: std::net::TcpListener,
    grace: Duration,
    what: &str,
) -> Result<(), Failure> {
    run_with(srv, listener, grace, what, "http", |srv, l| srv.serve(l))
}

/// As [`run_until_signalled`], serving HTTPS.
#[cfg(feature = "tls")]
fn run_until_signalled_tls(
    srv: &Server,
    listener: std::net::TcpListener,
    grace: Duration,
    what: &str,
    tls: nethttp::tls::ServerTls,
) -> Result<(), Failure> {
    run_with(srv, listener, grace, what, "https", move |srv, l| {
        srv.serve_tls(l, tls)
    })
}

fn run_with(
    srv: &Server,
    listener: std::net::TcpListener,
    grace: Duration,
    what: &str,
    scheme: &str,
    serve: impl FnOnce(&Server, std::net::TcpListener) -> nethttp::Result<()>,
) -> Result<(), Failure> {
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(format!("cannot read the listening address: {e}")))?;
    // The signal thread must not block: it hands the first signal to the stopper thread
    // and handles a second one itself.
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let signals = AtomicUsize::new(0);
    let closer = srv.clone();
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = tx.try_send(());
        } else {
            say!("nethttp: second signal: closing every connection now");
            closer.close();
            std::process::exit(130);
        }
    })
    .map_err(|e| Failure::new(format!("cannot install the signal handler: {e}")))?;

    let stopper_srv = srv.clone();
    let stopper = thread::Builder::new()
        .name("nethttp-stopper".into())
        .spawn(move || -> Result<(), Failure> {
            if rx.recv().is_err() {
                return Ok(());
            }
            say!(
                "nethttp: shutting down: no new connections; waiting up to {} for {} \
                 open connection(s) (signal again to stop at once)",
                human_duration(grace),
                stopper_srv.num_connections()
            );
            match stopper_srv.shutdown(grace) {
                Ok(()) => {
                    say!("nethttp: shut down cleanly");
                    Ok(())
                }
                Err(_) => {
                    let left = stopper_srv.num_connections();
                    stopper_srv.close();
                    Err(Failure::new(format!(
                        "{left} connection(s) still busy after {}; closed them",
                        human_duration(grace)
                    )))
                }
            }
        })
        .map_err(|e| Failure::new(format!("cannot start a thread: {e}")))?;

    say!("nethttp: {what} on {scheme}://{local}/ (Ctrl-C to stop)");
    serve(srv, listener).map_err(Failure::new)?;
    // serve returns only once shutdown has begun; the stopper says how it ended.
    stopper
        .join()
        .unwrap_or_else(|_| Err(Failure::new("the shutdown thread panicked")))
}

pub fn bind_error(addr: &str, e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    Failure::new(match e.kind() {
        K::AddrInUse => format!(
            "address {addr} already in use: is another server listening there? \
             (--addr 127.0.0.1:0 picks a free port; --reuse-port shares it with servers \
             that also set it)"
        ),
        K::PermissionDenied => format!("permission denied listening on {addr}"),
        K::AddrNotAvailable => format!("cannot listen on {addr}: no such local address"),
        _ => format!("cannot listen on {addr}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::listen_addr;

    #[test]
    fn address_forms() {
        for (addr, port, want) in [
            (None, None, "127.0.0.1:8080"),
            (Some(":8080"), None, "0.0.0.0:8080"),
            (Some("9000"), None, "127.0.0.1:9000"),
            (Some("10.0.0.1:81"), None, "10.0.0.1:81"),
            (Some("[::1]:82"), None, "[::1]:82"),
            (None, Some(3000), "127.0.0.1:3000"),
            (Some(":1"), Some(2), "0.0.0.0:2"),
        ] {
            assert_eq!(
                listen_addr(addr, port).ok().as_deref(),
                Some(want),
                "{addr:?}"
            );
        }
        for bad in ["", "host", "h:x", "h:70000", ":"] {
            assert!(listen_addr(Some(bad), None).is_err(), "{bad:?}");
        }
    }
}
