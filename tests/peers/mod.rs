//! Real peers for interop tests, run as child processes on 127.0.0.1 with a free port and
//! killed on `Drop`: nginx (static files, `return`, WebDAV `PUT`, keep-alive limits) and
//! Python's httpbin under gunicorn; and what the HTTP/2 peers share: a test CA with a server
//! certificate ([`TestPki`]), and beside this file the scripts they run (`httpx_h2.py`,
//! `h2_app.py`, `goh2/`). A missing peer prints `skipped: <tool> not installed` past the
//! harness's capture, or fails the test under `CI=true` (`.ci/install-peers` installs them).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` every 2 ms until it holds or `timeout` passes; true if it held.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reports a missing tool: fails under `CI=true`, else prints a note; returns false.
pub fn missing(tool: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{tool} not installed (CI=true: interop peers are required)");
    }
    // Straight to stderr, past the test harness's output capture, so the skip is seen.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {tool} not installed\n").as_bytes(),
    );
    false
}

mod port;
pub use port::free_port;

/// A fresh temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "nethttp-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process stopped and reaped on drop: with SIGTERM first if `graceful` (so a
/// pre-forking server takes its workers with it), SIGKILL after a bounded wait.
pub struct Proc {
    pub child: Child,
    pub graceful: bool,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.graceful {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let child = &mut self.child;
            if wait_until(Duration::from_secs(5), || {
                matches!(child.try_wait(), Ok(Some(_)))
            }) {
                return;
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `port` accepts connections while `child` runs; false if the child exited or
/// `within` passed.
pub fn wait_listening(child: &mut Child, port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Deterministic test bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// A test certificate authority and a server certificate it signed for `localhost` and
/// `127.0.0.1`, as PEM: peers that verify (Python's `ssl`, rustls) trust the CA file.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn generate() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "nethttp interop test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nginx

/// A real nginx in the foreground (`daemon off; master_process off`), configured in a temp dir.
pub struct Nginx {
    pub port: u16,
    dir: TempDir,
    _proc: Proc,
}

/// The program `name` if it is installed and answers `-v`: on the `PATH`, or in
/// `/usr/sbin` or `/usr/local/sbin`, which are often not on a user's `PATH` (nginx, haproxy).
pub fn sbin_binary(name: &str) -> Option<PathBuf> {
    [
        PathBuf::from(name),
        PathBuf::from("/usr/sbin").join(name),
        PathBuf::from("/usr/local/sbin").join(name),
    ]
    .into_iter()
    .find(|p| {
        Command::new(p)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

pub fn nginx_binary() -> Option<PathBuf> {
    sbin_binary("nginx")
}

impl Nginx {
    /// Starts nginx, or returns `None` (after [`missing`]) if it is not installed.
    pub fn start() -> Option<Nginx> {
        let Some(bin) = nginx_binary() else {
            missing("nginx");
            return None;
        };
        let dir = TempDir::new("nginx");
        let www = dir.0.join("www");
        std::fs::create_dir_all(www.join("dav")).unwrap();
        std::fs::write(www.join("static.bin"), pattern(200 << 10)).unwrap();
        std::fs::write(www.join("hello.txt"), "hello from nginx\n").unwrap();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let d = dir.0.display();
            let conf = format!(
                r#"daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /ok {{ return 200 "ok\n"; }}
        location /limited/ {{ keepalive_requests 3; return 200 "limited\n"; }}
        location /short-idle/ {{ keepalive_timeout 100ms; return 200 "short\n"; }}
        location /dav/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 16m;
        }}
    }}
}}
"#
            );
            let conf_path = dir.0.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let child = Command::new(&bin)
                .arg("-e")
                .arg(dir.0.join("error.log"))
                .arg("-p")
                .arg(&dir.0)
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx");
            let mut proc = Proc {
                child,
                graceful: false,
            };
            if wait_listening(&mut proc.child, port, Duration::from_secs(10)) {
                return Some(Nginx {
                    port,
                    dir,
                    _proc: proc,
                });
            }
            drop(proc);
            last_log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
        }
        panic!("nginx did not start; error.log:\n{last_log}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn www(&self) -> PathBuf {
        self.dir.0.join("www")
    }
}

// ---------------------------------------------------------------------------------------------
// httpbin under gunicorn

/// httpbin served by gunicorn (one worker, four threads: keep-alive works).
pub struct Httpbin {
    pub port: u16,
    _proc: Proc,
    _dir: TempDir,
}

impl Httpbin {
    /// Starts gunicorn, or returns `None` (after [`missing`]) if httpbin or gunicorn is not
    /// installed.
    pub fn start() -> Option<Httpbin> {
        // Also asks for the interpreter's real path: a launcher such as a pyenv shim may run
        // python as its child, and then signals to the launcher would miss gunicorn.
        let probe = Command::new("python3")
            .args([
                "-c",
                "import sys, httpbin, gunicorn; print(sys.executable); print(gunicorn.__version__)",
            ])
            .stderr(Stdio::null())
            .output();
        let out = match probe {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            _ => {
                missing("httpbin/gunicorn (python3 -m pip install httpbin gunicorn)");
                return None;
            }
        };
        let mut lines = out.lines();
        let python = lines.next().unwrap_or("python3").trim().to_string();
        let version = lines.next().unwrap_or("").trim().to_string();
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let dir = TempDir::new("gunicorn");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log_path = dir.0.join("gunicorn.log");
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "gunicorn", "--workers", "1", "--threads", "4"])
                .args(["--graceful-timeout", "2"])
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .arg("--error-logfile")
                .arg(&log_path)
                .current_dir(&dir.0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if major >= 27 {
                // Its control socket lives at a fixed path in $HOME by default.
                cmd.arg("--no-control-socket");
            }
            let child = cmd.arg("httpbin:app").spawn().expect("start gunicorn");
            let mut proc = Proc {
                child,
                graceful: true,
            };
            if wait_listening(&mut proc.child, port, Duration::from_secs(20)) {
                return Some(Httpbin {
                    port,
                    _proc: proc,
                    _dir: dir,
                });
            }
            drop(proc);
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("gunicorn did not start; log:\n{last_log}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}
