//! The HTTP/2 client against independently written HTTP/2 servers, each serving the same
//! paths (`/small.txt`, a 1 MiB `/big.bin` of `peers::pattern`, request bodies echoed back,
//! 404 for the rest) over TLS with ALPN `h2` and, where the server can, over h2c with prior
//! knowledge:
//!
//! - nghttpd (nghttp2's server, Debian package `nghttp2-server`) serving a directory, with
//!   `--echo-upload`; h2c and TLS.
//! - hypercorn (Python, an ASGI server on the `h2` library) running `peers/h2_app.py`; h2c
//!   and TLS.
//! - Go's `net/http` server (`peers/goh2`, built once per test process with `go build` into
//!   the target directory, offline); TLS only, as Go 1.19 speaks h2c only with `x/net`.
//!
//! Each runs [`exercise`]: GETs, a 1 MiB upload echoed back (flow control both ways), a 404
//! and 16 threads at once, all on one connection, and no connection thread left after.
//! hypercorn and Go also say which protocol they served (`x-http-version`) and send a
//! response trailer ([`check_trailers`]).
//! `.ci/install-peers` installs the peers. A missing one fails the test under `CI=true` and
//! is otherwise skipped with a note printed past the harness's capture. Server processes run
//! on 127.0.0.1, are killed on drop, and every request has a 10 s deadline.

mod client_support;
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};
use nethttp::Version;
use peers::{free_port, missing, pattern, wait_listening, Proc, TempDir, TestPki};

/// nghttpd, if installed (it lives in /usr/sbin, often not on a user's `PATH`).
fn nghttpd() -> Option<PathBuf> {
    [
        PathBuf::from("nghttpd"),
        PathBuf::from("/usr/sbin/nghttpd"),
        PathBuf::from("/usr/local/sbin/nghttpd"),
    ]
    .into_iter()
    .find(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A server process listening on 127.0.0.1, with the temp directory it serves from or keeps
/// its certificate in; the process is stopped on drop.
struct Upstream {
    port: u16,
    _dir: TempDir,
    _proc: Proc,
}

impl Upstream {
    /// Runs `cmd(port)` on a free port until one listens within `within` (5 tries); `graceful`
    /// as [`Proc::graceful`].
    fn spawn(
        name: &str,
        dir: TempDir,
        within: Duration,
        graceful: bool,
        cmd: impl Fn(u16) -> Command,
    ) -> Upstream {
        for _ in 0..5 {
            let port = free_port();
            let child = cmd(port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(dir.0.join("stderr.log")).unwrap(),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
            let mut p = Proc { child, graceful };
            if wait_listening(&mut p.child, port, within) {
                return Upstream {
                    port,
                    _dir: dir,
                    _proc: p,
                };
            }
        }
        let log = std::fs::read_to_string(dir.0.join("stderr.log")).unwrap_or_default();
        panic!("{name} did not start listening; stderr:\n{log}");
    }

    fn base(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// Writes the certificate and key for a TLS upstream into `dir`; their paths.
fn write_cert(dir: &TempDir, pki: &TestPki) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&c, &pki.cert_pem).unwrap();
    std::fs::write(&k, &pki.key_pem).unwrap();
    (c, k)
}

/// Starts nghttpd over a temp directory holding `small.txt` and `big.bin` (1 MiB), with
/// `tls` or over h2c; `None` (after [`missing`]) if it is not installed.
fn start_nghttpd(tls: Option<&TestPki>) -> Option<Upstream> {
    let Some(bin) = nghttpd() else {
        missing("nghttpd");
        return None;
    };
    let dir = TempDir::new("nghttpd");
    std::fs::write(dir.0.join("small.txt"), b"hello from nghttpd\n").unwrap();
    std::fs::write(dir.0.join("big.bin"), pattern(1 << 20)).unwrap();
    let cert = tls.map(|pki| write_cert(&dir, pki));
    let root = dir.0.clone();
    Some(Upstream::spawn(
        "nghttpd",
        dir,
        Duration::from_secs(5),
        false,
        |port| {
            let mut cmd = Command::new(&bin);
            cmd.arg("-a")
                .arg("127.0.0.1")
                .arg("-d")
                .arg(&root)
                .arg("--echo-upload");
            match &cert {
                None => cmd.arg("--no-tls").arg(port.to_string()),
                Some((c, k)) => cmd.arg(port.to_string()).arg(k).arg(c),
            };
            cmd
        },
    ))
}

/// The interpreter that has hypercorn, by its real path (a launcher such as a pyenv shim
/// may run python as its child, and then signals to the launcher would miss hypercorn);
/// `None` (after [`missing`]) if hypercorn is not installed.
fn hypercorn_python() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import sys, hypercorn; print(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().into()),
        _ => {
            missing("hypercorn (python3 -m pip install hypercorn)");
            None
        }
    }
}

/// Starts hypercorn (one process, asyncio) running `peers/h2_app.py`, with `tls` or over
/// h2c; `None` (after [`missing`]) if it is not installed.
fn start_hypercorn(tls: Option<&TestPki>) -> Option<Upstream> {
    let python = hypercorn_python()?;
    let dir = TempDir::new("hypercorn");
    let app = dir.0.join("h2_app.py");
    std::fs::write(&app, include_str!("peers/h2_app.py")).unwrap();
    let cert = tls.map(|pki| write_cert(&dir, pki));
    Some(Upstream::spawn(
        "hypercorn",
        dir,
        Duration::from_secs(20),
        true,
        |port| {
            let mut cmd = Command::new(&python);
            cmd.env("PYTHONDONTWRITEBYTECODE", "1")
                .args([
                    "-m",
                    "hypercorn",
                    "--workers",
                    "0",
                    "--graceful-timeout",
                    "1",
                ])
                .args(["--bind", &format!("127.0.0.1:{port}")]);
            if let Some((c, k)) = &cert {
                cmd.arg("--certfile").arg(c).arg("--keyfile").arg(k);
            }
            cmd.arg(format!("{}:app", app.display()));
            cmd
        },
    ))
}

/// `peers/goh2` built with the installed Go into the target's temp directory, once per test
/// process: `None` if Go is not installed, `Err` with Go's output if the build failed.
fn goh2() -> Option<Result<PathBuf, String>> {
    static BUILT: OnceLock<Option<Result<PathBuf, String>>> = OnceLock::new();
    BUILT.get_or_init(build_goh2).clone()
}

fn build_goh2() -> Option<Result<PathBuf, String>> {
    let has_go = Command::new("go")
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_go {
        return None;
    }
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goh2");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bin = out_dir.join("goh2");
    let log = out_dir.join("build.log");
    // Offline and self-contained: no module proxy (the program needs none), no C compiler,
    // caches under the target directory.
    let child = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/goh2"))
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GOENV", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", out_dir.join("gocache"))
        .env("GOPATH", out_dir.join("gopath"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("spawn go build");
    let mut build = Proc {
        child,
        graceful: false,
    };
    // A cold cache compiles the standard library without cgo: seconds here, bounded anyway.
    let end = Instant::now() + Duration::from_secs(300);
    let status = loop {
        match build.child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    Some(match status {
        Some(s) if s.success() => Ok(bin),
        Some(s) => Err(format!("go build failed ({s}):\n{log}")),
        None => Err(format!("go build overran 300 s:\n{log}")),
    })
}

/// Starts Go's server (`peers/goh2`) over TLS; `None` (after [`missing`]) without Go.
fn start_go(pki: &TestPki) -> Option<Upstream> {
    let bin = match goh2() {
        None => {
            missing("go");
            return None;
        }
        Some(Err(e)) => panic!("{e}"),
        Some(Ok(bin)) => bin,
    };
    let dir = TempDir::new("goh2");
    let (c, k) = write_cert(&dir, pki);
    Some(Upstream::spawn(
        "goh2",
        dir,
        Duration::from_secs(10),
        false,
        |port| {
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("127.0.0.1:{port}")).arg(&c).arg(&k);
            cmd
        },
    ))
}

/// A transport for h2c with prior knowledge (HTTP/1 off, unencrypted HTTP/2 on).
fn h2c_transport() -> Transport {
    Transport::with_config(client_support::h2c_transport_config())
}

/// A transport for `https://` that trusts `pki`'s CA (ALPN offers `h2` and `http/1.1`).
fn tls_transport(pki: &TestPki) -> Transport {
    let mut tls = nethttp::tls::ClientTls::default();
    tls.add_root_certificates_pem(pki.ca_pem.as_bytes())
        .unwrap();
    Transport::with_config(TransportConfig {
        tls,
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    })
}

fn client(t: &Transport) -> Client {
    Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    })
}

/// GETs (`/small.txt` must say `small`), an upload echoed back (1 MiB, past every window), a
/// 404 and 16 threads at once, on one connection; then no connection thread is left.
fn exercise(c: &Client, t: &Transport, base: &str, small: &str) {
    let mut r = c.get(&format!("{base}/small.txt")).unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.text().unwrap(), small);
    let mut r = c.get(&format!("{base}/big.bin")).unwrap();
    assert!(r.bytes().unwrap() == pattern(1 << 20), "big.bin differs");
    let body = pattern(1 << 20);
    let mut r = c
        .post(
            &format!("{base}/small.txt"),
            "application/octet-stream",
            body.clone(),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.bytes().unwrap() == body, "echoed upload differs");
    let r = c.get(&format!("{base}/missing")).unwrap();
    assert_eq!(r.status, 404);
    drop(r);
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{base}/big.bin"));
            thread::spawn(move || c.get(&url).and_then(|mut r| r.bytes()).map(|b| b.len()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), 1 << 20);
    }
    assert_eq!(t.stats().open, 1, "one shared connection");
    t.close_idle_connections();
    let end = Instant::now() + Duration::from_secs(5);
    while t.stats().threads != 0 && Instant::now() < end {
        thread::yield_now();
    }
    assert_eq!(t.stats().threads, 0, "leftover connection threads");
}

/// The protocol the upstream says it served `/small.txt` over (its `x-http-version`).
fn served_over(c: &Client, base: &str) -> String {
    let mut r = c.get(&format!("{base}/small.txt")).unwrap();
    let v = r
        .headers
        .get("x-http-version")
        .map(|v| v.to_str().unwrap().to_string());
    r.text().unwrap();
    v.unwrap_or_default()
}

/// `/trailers`: a line, then `x-sum: 42` in a trailing `HEADERS` frame; asked for with
/// `te: trailers`, which hypercorn needs before it sends trailers.
fn check_trailers(c: &Client, base: &str) {
    let mut r = c
        .request(nethttp::Method::GET, &format!("{base}/trailers"))
        .header("te", "trailers")
        .send()
        .unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.text().unwrap(), "body\n");
    let sum = r.trailers().and_then(|t| t.get("x-sum"));
    assert_eq!(
        sum.map(|v| v.to_str().unwrap()),
        Some("42"),
        "{:?}",
        r.trailers()
    );
}

#[test]
fn nghttpd_h2c_prior_knowledge() {
    let Some(srv) = start_nghttpd(None) else {
        return;
    };
    let t = h2c_transport();
    exercise(&client(&t), &t, &srv.base("http"), "hello from nghttpd\n");
}

#[test]
fn nghttpd_tls_alpn() {
    let pki = TestPki::generate();
    let Some(srv) = start_nghttpd(Some(&pki)) else {
        return;
    };
    let t = tls_transport(&pki);
    let base = format!("https://localhost:{}", srv.port);
    exercise(&client(&t), &t, &base, "hello from nghttpd\n");
}

#[test]
fn hypercorn_h2c_prior_knowledge() {
    let Some(srv) = start_hypercorn(None) else {
        return;
    };
    let t = h2c_transport();
    let c = client(&t);
    assert_eq!(served_over(&c, &srv.base("http")), "2");
    check_trailers(&c, &srv.base("http"));
    exercise(&c, &t, &srv.base("http"), "hello from hypercorn\n");
}

#[test]
fn hypercorn_tls_alpn() {
    let pki = TestPki::generate();
    let Some(srv) = start_hypercorn(Some(&pki)) else {
        return;
    };
    let t = tls_transport(&pki);
    let c = client(&t);
    assert_eq!(served_over(&c, &srv.base("https")), "2");
    check_trailers(&c, &srv.base("https"));
    exercise(&c, &t, &srv.base("https"), "hello from hypercorn\n");
}

#[test]
fn go_tls_alpn() {
    let pki = TestPki::generate();
    let Some(srv) = start_go(&pki) else {
        return;
    };
    let t = tls_transport(&pki);
    let c = client(&t);
    assert_eq!(served_over(&c, &srv.base("https")), "HTTP/2.0");
    check_trailers(&c, &srv.base("https"));
    exercise(&c, &t, &srv.base("https"), "hello from go\n");
}
