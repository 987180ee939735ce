//! The HTTP/2 server against independently written HTTP/2 clients: curl (nghttp2 inside)
//! with prior knowledge over plain TCP (h2c) and with ALPN over TLS, h2load (nghttp2's
//! load generator) with a few hundred requests as many streams of one connection, and
//! Python's httpx (`AsyncClient`: httpcore over the `h2` library) over TLS and h2c running
//! `peers/httpx_h2.py`: a GET, a 1 MiB upload echoed back, a 404, eight requests that must
//! be in flight together on one connection, and eight half-MiB uploads echoed at once.
//!
//! The peers are installed by `.ci/install-peers` (`nghttp2-client` for h2load,
//! `httpx[http2]` with pip). A missing peer fails the test under `CI=true` and is otherwise
//! skipped with a note. Every peer process runs under a deadline and is killed if it
//! overruns.

mod peers;
mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nethttp::server::{Config, Handler, Http2Config, Server};
use nethttp::tls::ServerTls;
use nethttp::{Request, ResponseWriter, StatusCode};
use peers::TestPki;
use support::{require_tool, run_bounded, test_config, wait_until, TestServer, TEARDOWN};

const PEER_DEADLINE: Duration = Duration::from_secs(60);

/// `/echo`: the body's length; anything else: the protocol, method and path.
fn handler(w: &mut dyn ResponseWriter, r: &mut Request) {
    if r.uri.path() == "/echo" {
        match r.body().read_to_vec(16 << 20) {
            Ok(b) => {
                let _ = write!(w, "len={}", b.len());
            }
            Err(e) => {
                w.write_header(nethttp::StatusCode::BAD_REQUEST);
                let _ = write!(w, "{e}");
            }
        }
        return;
    }
    let _ = write!(w, "{:?} {} {}", r.version, r.method, r.uri.path());
}

fn h2c_config() -> Config {
    Config {
        http2: Http2Config {
            h2c: true,
            ..Http2Config::default()
        },
        ..test_config()
    }
}

fn curl() -> bool {
    let ok = require_tool("curl", Command::new("curl").arg("--version"));
    if !ok {
        return false;
    }
    let out = run_bounded(Command::new("curl").arg("--version"), PEER_DEADLINE);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !text.contains("HTTP2") {
        // A curl without nghttp2 cannot speak HTTP/2 at all.
        return require_tool("curl with HTTP2", &mut Command::new("false"));
    }
    true
}

fn text(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "peer failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_h2c_prior_knowledge() {
    if !curl() {
        return;
    }
    let srv = TestServer::start(h2c_config(), handler);
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "--http2-prior-knowledge", "-w", " v=%{http_version}"])
            .arg(srv.url("/hello")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), "HTTP/2.0 GET /hello v=2");
    // A 3 MiB upload: flow control over many windows.
    let body = support_file(3 << 20);
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "--http2-prior-knowledge", "--data-binary"])
            .arg(format!("@{}", body.0.display()))
            .arg(srv.url("/echo")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), format!("len={}", 3 << 20));
    // Several URLs on one connection are tested over TLS: curl 7.88 cannot reuse a
    // prior-knowledge connection (curl issue #10634, fixed in 8.0).
}

/// A temporary file of `n` bytes, removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn support_file(n: usize) -> TempFile {
    let p = std::env::temp_dir().join(format!("nethttp-h2-{}-{n}", std::process::id()));
    let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    std::fs::write(&p, data).expect("write temp file");
    TempFile(p)
}

/// A TLS server on 127.0.0.1:0 with a certificate for `localhost` and `127.0.0.1` signed by a
/// fresh test CA; closed, and checked for leftover threads, on drop.
struct TlsServer {
    srv: Server,
    addr: SocketAddr,
    serve: Option<JoinHandle<nethttp::Result<()>>>,
    pki: TestPki,
}

impl TlsServer {
    fn start(cfg: Config) -> TlsServer {
        TlsServer::with_handler(cfg, handler)
    }

    fn with_handler(cfg: Config, h: impl Handler) -> TlsServer {
        let pki = TestPki::generate();
        let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
        let listener = nethttp::net::listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let srv = Server::with_config(cfg, h);
        let s = srv.clone();
        let serve = std::thread::spawn(move || s.serve_tls(listener, tls));
        TlsServer {
            srv,
            addr,
            serve: Some(serve),
            pki,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn resolve(&self) -> String {
        format!("localhost:{}:127.0.0.1", self.addr.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.srv.close();
        if let Some(h) = self.serve.take() {
            wait_until(TEARDOWN, "serve_tls to return", || h.is_finished());
            let _ = h.join();
        }
        let srv = &self.srv;
        wait_until(TEARDOWN, "connection threads to exit", || {
            srv.num_threads() == 0
        });
    }
}

#[test]
fn curl_tls_alpn_h2() {
    if !curl() {
        return;
    }
    let srv = TlsServer::start(test_config());
    let out = run_bounded(
        Command::new("curl")
            .args([
                "-sS",
                "-k",
                "--http2",
                "-w",
                " v=%{http_version}",
                "--resolve",
            ])
            .arg(srv.resolve())
            .arg(srv.url("/tls")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), "HTTP/2.0 GET /tls v=2");
    // Several URLs: streams of one connection.
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "-k", "--http2", "--resolve"])
            .arg(srv.resolve())
            .arg(srv.url("/a"))
            .arg(srv.url("/b"))
            .arg(srv.url("/c")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), "HTTP/2.0 GET /aHTTP/2.0 GET /bHTTP/2.0 GET /c");
    // A client that offers only http/1.1 still gets it.
    let out = run_bounded(
        Command::new("curl")
            .args([
                "-sS",
                "-k",
                "--http1.1",
                "-w",
                " v=%{http_version}",
                "--resolve",
            ])
            .arg(srv.resolve())
            .arg(srv.url("/tls")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), "HTTP/1.1 GET /tls v=1.1");
}

#[test]
fn curl_tls_http2_disabled() {
    if !curl() {
        return;
    }
    let cfg = Config {
        http2: Http2Config {
            enabled: false,
            ..Http2Config::default()
        },
        ..test_config()
    };
    let srv = TlsServer::start(cfg);
    let out = run_bounded(
        Command::new("curl")
            .args([
                "-sS",
                "-k",
                "--http2",
                "-w",
                " v=%{http_version}",
                "--resolve",
            ])
            .arg(srv.resolve())
            .arg(srv.url("/off")),
        PEER_DEADLINE,
    );
    assert_eq!(text(&out), "HTTP/1.1 GET /off v=1.1");
}

/// h2load's summary line: "requests: N total, N started, N done, N succeeded, F failed, ...".
fn h2load_counts(out: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no summary in h2load output:\n{out}"));
    let num = |word: &str| -> u64 {
        line.split(',')
            .find(|p| p.trim().ends_with(word))
            .and_then(|p| p.split_whitespace().find_map(|t| t.parse().ok()))
            .unwrap_or_else(|| panic!("no {word} in {line}"))
    };
    (num("succeeded"), num("failed"))
}

#[test]
fn h2load_many_streams_one_connection() {
    if !require_tool("h2load", Command::new("h2load").arg("--version")) {
        return;
    }
    let srv = TestServer::start(h2c_config(), handler);
    // 400 requests over 1 connection, up to 50 streams at a time (plain TCP: h2c).
    let out = run_bounded(
        Command::new("h2load")
            .args(["-n", "400", "-c", "1", "-m", "50"])
            .arg(srv.url("/load")),
        PEER_DEADLINE,
    );
    let stdout = text(&out);
    assert_eq!(h2load_counts(&stdout), (400, 0), "{stdout}");
    assert!(stdout.contains("h2c"), "{stdout}");
}

#[test]
fn h2load_over_tls_with_uploads() {
    if !require_tool("h2load", Command::new("h2load").arg("--version")) {
        return;
    }
    let srv = TlsServer::start(test_config());
    let body = support_file(100 << 10);
    let out = run_bounded(
        Command::new("h2load")
            .args(["-n", "200", "-c", "1", "-m", "20", "-d"])
            .arg(&body.0)
            .arg(format!("https://127.0.0.1:{}/echo", srv.addr.port())),
        PEER_DEADLINE,
    );
    let stdout = text(&out);
    assert_eq!(h2load_counts(&stdout), (200, 0), "{stdout}");
    assert!(stdout.contains("Application protocol: h2"), "{stdout}");
}

/// Holds `/together` requests until [`TOGETHER`] of them are in, or 10 s pass.
#[derive(Default)]
struct Gate {
    arrived: Mutex<usize>,
    all_in: Condvar,
}

/// How many `/together` requests `peers/httpx_h2.py` sends at once.
const TOGETHER: usize = 8;

/// [`handler`]'s paths and those `peers/httpx_h2.py` asks for: `/mirror` (the body back, with
/// the request's `x-tag`, an `x-body-len` and a trailer), `/missing` (404) and `/together`
/// ("together" once [`TOGETHER`] such requests are in at once, else "alone"; `x-remote` is
/// the client's address, which tells the connection).
fn httpx_handler() -> impl Handler {
    let gate = Arc::new(Gate::default());
    move |w: &mut dyn ResponseWriter, r: &mut Request| match r.uri.path() {
        "/mirror" => {
            let body = match r.body().read_to_vec(16 << 20) {
                Ok(b) => b,
                Err(e) => {
                    w.write_header(StatusCode::BAD_REQUEST);
                    let _ = write!(w, "{e}");
                    return;
                }
            };
            if let Some(tag) = r.headers.get("x-tag") {
                w.headers_mut().insert("x-tag", tag.clone());
            }
            w.headers_mut()
                .insert("x-body-len", body.len().to_string().parse().unwrap());
            let _ = w.write_all(&body);
            if let Some(t) = w.trailers_mut() {
                t.insert("x-mirrored", "yes".parse().unwrap());
            }
        }
        "/missing" => nethttp::handlers::not_found(w, r),
        "/together" => {
            let mut n = gate.arrived.lock().unwrap();
            *n += 1;
            gate.all_in.notify_all();
            let (n, _) = gate
                .all_in
                .wait_timeout_while(n, Duration::from_secs(10), |n| *n < TOGETHER)
                .unwrap();
            let met = *n >= TOGETHER;
            drop(n);
            if let Some(a) = r.remote_addr() {
                w.headers_mut()
                    .insert("x-remote", a.to_string().parse().unwrap());
            }
            let _ = w.write_all(if met { b"together" } else { b"alone" });
        }
        _ => handler(w, r),
    }
}

/// `python3` with httpx and h2, or `None` after [`peers::missing`].
fn httpx() -> Option<()> {
    let ok = Command::new("python3")
        .args(["-c", "import httpx, h2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(())
    } else {
        peers::missing("python3 httpx[http2] (python3 -m pip install 'httpx[http2]')");
        None
    }
}

/// Runs `peers/httpx_h2.py` against `base` (trusting `ca`, a PEM file, or h2c if `None`) and
/// checks every line it printed.
fn run_httpx(base: &str, ca: Option<&std::path::Path>) {
    let out = run_bounded(
        Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg("-c")
            .arg(include_str!("peers/httpx_h2.py"))
            .arg(base)
            .arg(ca.map(|p| p.as_os_str()).unwrap_or_default()),
        PEER_DEADLINE,
    );
    let stdout = text(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    let len = (1 << 20) + 1;
    assert_eq!(
        lines,
        [
            "get HTTP/2 200 HTTP/2.0 GET /hello",
            &format!("post HTTP/2 200 {len} True httpx {len}"),
            "missing HTTP/2 404",
            &format!("together {TOGETHER} connections 1"),
            "uploads 8",
        ],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn httpx_tls_alpn_h2() {
    if httpx().is_none() {
        return;
    }
    let srv = TlsServer::with_handler(test_config(), httpx_handler());
    let dir = peers::TempDir::new("httpx");
    let ca = dir.0.join("ca.pem");
    std::fs::write(&ca, &srv.pki.ca_pem).unwrap();
    run_httpx(&format!("https://127.0.0.1:{}", srv.addr.port()), Some(&ca));
}

#[test]
fn httpx_h2c_prior_knowledge() {
    if httpx().is_none() {
        return;
    }
    let srv = TestServer::start(h2c_config(), httpx_handler());
    run_httpx(&srv.url(""), None);
}
