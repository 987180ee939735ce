//! `nethttp serve`: a static file server (`FileServer` inside `log_requests`) with a graceful
//! shutdown on SIGINT and SIGTERM; with `--reuse-port`, one of several processes on one port,
//! which is how it restarts without a failed request.
//!
//! Threads: the main thread runs the accept loop (`Server::serve`); ctrlc's signal thread
//! only forwards signals over a channel; a `stopper` thread waits on that channel and runs
//! `Server::shutdown`, which returns once every in-flight response has finished.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use nethttp::server::{Config, Server};
use nethttp::{log_requests, FileServer};

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
    /// The directory to serve. Default: ./docs if it exists (the repository's documentation
    /// when run from its root), else the current directory.
    dir: Option<PathBuf>,

    /// The address to listen on, HOST:PORT (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: String,

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
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None if Path::new("docs").is_dir() => PathBuf::from("docs"),
        None => PathBuf::from("."),
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
    .listen(&args.addr)
    .map_err(|e| bind_error(&args.addr, &e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::new(format!("cannot listen on {}: {e}", args.addr)))?;

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
    let srv = Server::with_config(cfg, log_requests(FileServer::new(&dir)));

    let what = format!("serving {}", shown.display());
    run_until_signalled(&srv, listener, args.shutdown_timeout, &what)
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
            eprintln!("nethttp: second signal: closing every connection now");
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
            eprintln!(
                "nethttp: shutting down: no new connections; waiting up to {} for {} \
                 open connection(s) (signal again to stop at once)",
                human_duration(grace),
                stopper_srv.num_connections()
            );
            match stopper_srv.shutdown(grace) {
                Ok(()) => {
                    eprintln!("nethttp: shut down cleanly");
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

    eprintln!("nethttp: {what} on http://{local}/ (Ctrl-C to stop)");
    srv.serve(listener).map_err(Failure::new)?;
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
