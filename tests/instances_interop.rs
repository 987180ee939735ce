//! nethttp behind haproxy and behind nginx, each run from its configuration template in
//! `docs/deploy/` (the `@NAMES@` filled in) in front of two nethttp instances, as
//! docs/GUIDE.md, "Running many instances", describes:
//!
//! - wrk through the proxy: no socket error, no non-2xx answer, requests reach both instances
//!   over few (keep-alive) upstream connections;
//! - `X-Forwarded-For` is trusted only from the proxy's address (the proxy connects from
//!   127.0.0.2, the test's client from 127.0.0.3), and the proxy replaces what a client sent;
//! - haproxy's health checks reach `/healthz`;
//! - one instance shut down gracefully in the middle of a wrk run costs wrk no error: the
//!   proxy sends what that instance refuses or closes unanswered to the other one.
//!
//! The proxies run in the foreground as the current user, with their pid file, logs and
//! temporary files in a temporary directory, on 127.0.0.1 ports only, and are killed on drop.
//! A missing proxy or wrk prints `skipped: ...` past the harness's capture, or fails the test
//! under `CI=true` (`.ci/install-peers` installs them).

mod peers;
mod support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nethttp::server::{ConnState, Request, ResponseWriter};
use support::{poll_until, require_tool, run_bounded, test_config, RawConn, TestServer};

/// The address the proxies connect to the instances from: the only one whose
/// `X-Forwarded-For` the instances trust.
const PROXY_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The address the test's own requests come from.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// How long a proxy may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// The most a wrk run may take, its own duration included.
const WRK_DEADLINE: Duration = Duration::from_secs(30);

/// The client's address as docs/GUIDE.md's rule finds it: the last address in
/// `X-Forwarded-For` when the request came from the proxy, else the peer's own address.
fn client_ip(r: &Request, proxy: IpAddr) -> Option<IpAddr> {
    let peer = r.remote_addr()?.ip();
    if peer != proxy {
        return Some(peer);
    }
    let forwarded = r.headers.get_all("x-forwarded-for").iter().next_back();
    forwarded
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse().ok())
        .or(Some(peer))
}

/// What one instance counted.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    health_checks: AtomicU64,
    connections: AtomicU64,
}

/// A nethttp instance: `GET /healthz` answers `ok`; every other request `NAME CLIENT-IP`.
struct Instance {
    srv: TestServer,
    counts: Arc<Counts>,
}

impl Instance {
    fn start(name: &'static str) -> Instance {
        let counts = Arc::new(Counts::default());
        let mut cfg = test_config();
        let c = Arc::clone(&counts);
        cfg.conn_state = Some(Arc::new(move |_, state| {
            if state == ConnState::New {
                c.connections.fetch_add(1, Ordering::SeqCst);
            }
        }));
        let c = Arc::clone(&counts);
        let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
            if r.uri.path() == "/healthz" {
                c.health_checks.fetch_add(1, Ordering::SeqCst);
                let _ = w.write_all(b"ok");
                return;
            }
            c.requests.fetch_add(1, Ordering::SeqCst);
            let ip = client_ip(r, PROXY_SOURCE).map_or_else(|| "-".into(), |a| a.to_string());
            let _ = write!(w, "{name} {ip}");
        });
        Instance { srv, counts }
    }

    fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }
}

/// A directory under the system's temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!(
            "nethttp-instances-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The proxies, run from their templates.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Haproxy,
    Nginx,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Haproxy => "haproxy",
            Kind::Nginx => "nginx",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Kind::Haproxy => include_str!("../docs/deploy/haproxy.cfg"),
            Kind::Nginx => include_str!("../docs/deploy/nginx.conf"),
        }
    }

    /// The binary, if it is installed (`/usr/sbin` is often not on a user's `PATH`).
    fn binary(self) -> Option<PathBuf> {
        peers::sbin_binary(self.name())
    }

    fn command(self, bin: &Path, dir: &Path, conf: &Path) -> Command {
        let mut cmd = Command::new(bin);
        match self {
            Kind::Haproxy => {
                cmd.arg("-db").arg("-f").arg(conf);
            }
            Kind::Nginx => {
                cmd.arg("-p")
                    .arg(dir)
                    .arg("-e")
                    .arg(dir.join("error.log"))
                    .arg("-c")
                    .arg(conf)
                    .args(["-g", "daemon off; master_process off;"]);
            }
        }
        cmd
    }
}

/// A proxy in the foreground, killed on drop.
struct Proxy {
    kind: Kind,
    port: u16,
    child: Child,
    dir: TempDir,
}

impl Proxy {
    /// Starts `kind` (the binary `bin`) in front of `apps`.
    fn start(kind: Kind, bin: &Path, apps: [SocketAddr; 2]) -> Proxy {
        let name = kind.name();
        let dir = TempDir::new(name);
        let mut log = String::new();
        // A free port is found by binding and releasing it; another process may take it
        // meanwhile, so a failed start is retried on a new one.
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let conf = fill(
                kind.template(),
                &[
                    ("@RUN_DIR@", dir.0.display().to_string()),
                    ("@LISTEN@", format!("127.0.0.1:{port}")),
                    ("@APP1@", apps[0].to_string()),
                    ("@APP2@", apps[1].to_string()),
                    ("@SOURCE@", PROXY_SOURCE.to_string()),
                ],
            );
            let conf_path = dir.0.join(format!("{name}.conf"));
            std::fs::write(&conf_path, conf).expect("write the configuration");
            let out = dir.0.join("stderr.log");
            let mut child = kind
                .command(bin, &dir.0, &conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&out).expect("create stderr.log"))
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"));
            if wait_listening(&mut child, port) {
                return Proxy {
                    kind,
                    port,
                    child,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            log = logs(kind, &dir.0);
        }
        panic!("{name} did not start:\n{log}");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        logs(self.kind, &self.dir.0)
    }
}

/// `template` with each placeholder replaced, outside comments (which name them).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::new();
    for line in template.lines() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            let mut line = line.to_string();
            for (name, value) in values {
                line = line.replace(name, value);
            }
            assert!(!line.contains('@'), "a placeholder left in {line:?}");
            out.push_str(&line);
        }
        out.push('\n');
    }
    out
}

/// Polls (bounded) until `port` accepts connections; false if `child` exited first.
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    poll_until(START_DEADLINE, || {
        matches!(child.try_wait(), Ok(Some(_)))
            || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }) && matches!(child.try_wait(), Ok(None))
}

/// A proxy's stderr and error log, for failure messages.
fn logs(kind: Kind, dir: &Path) -> String {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    format!(
        "{} stderr:\n{}\nerror.log:\n{}",
        kind.name(),
        read("stderr.log"),
        read("error.log")
    )
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The outcome of one wrk run.
struct Wrk {
    requests: u64,
    text: String,
}

/// Runs wrk against `url` for `secs` seconds (bounded) and parses its summary.
fn wrk(url: &str, secs: u32) -> Wrk {
    let out = run_bounded(
        Command::new("wrk").args(["-t2", "-c16", &format!("-d{secs}s"), "--timeout", "2s", url]),
        WRK_DEADLINE,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    Wrk { requests, text }
}

/// A GET of `path` from `from` to `to` with a forged `X-Forwarded-For`; the body.
fn get_forged(from: IpAddr, to: SocketAddr, path: &str) -> String {
    let mut c = RawConn::connect_from(from, to);
    c.send(format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"
    ));
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.raw_head);
    r.text()
}

/// Both instances behind `kind`: the whole sequence the module documentation lists.
fn behind(kind: Kind) {
    let name = kind.name();
    // A missing peer fails under CI=true, and is otherwise reported as skipped.
    let bin = kind.binary().unwrap_or_else(|| PathBuf::from(name));
    if !require_tool(name, Command::new(&bin).arg("-v"))
        || !require_tool("wrk", Command::new("sh").args(["-c", "command -v wrk"]))
    {
        return;
    }
    let apps = [Instance::start("app1"), Instance::start("app2")];
    let proxy = Proxy::start(kind, &bin, [apps[0].srv.addr(), apps[1].srv.addr()]);

    // Through the proxy: the instance trusts the proxy's X-Forwarded-For, which names the
    // test's client, not the address the client forged.
    let body = get_forged(CLIENT, proxy.addr(), "/whoami");
    assert!(body.ends_with(&format!(" {CLIENT}")), "{name}: {body}");
    for app in &apps {
        // Straight to an instance the header is not trusted...
        let body = get_forged(CLIENT, app.srv.addr(), "/whoami");
        assert!(body.ends_with(&format!(" {CLIENT}")), "{body}");
        // ...but from the proxy's address it is: the rule is the address, nothing else.
        let body = get_forged(PROXY_SOURCE, app.srv.addr(), "/whoami");
        assert!(body.ends_with(" 6.6.6.6"), "{body}");
    }

    if let Kind::Haproxy = kind {
        let checked = poll_until(START_DEADLINE, || {
            apps.iter()
                .all(|a| a.counts.health_checks.load(Ordering::SeqCst) > 0)
        });
        assert!(
            checked,
            "haproxy's health checks did not reach both instances"
        );
    }

    // Under wrk: no error, both instances, few upstream connections.
    let before: Vec<u64> = apps.iter().map(Instance::requests).collect();
    let conns_before: u64 = apps
        .iter()
        .map(|a| a.counts.connections.load(Ordering::SeqCst))
        .sum();
    let run = wrk(&proxy.url("/"), 2);
    assert!(
        !run.text.contains("Socket errors") && !run.text.contains("Non-2xx"),
        "{name}: {}\n{}",
        run.text,
        proxy.logs()
    );
    let served: Vec<u64> = apps
        .iter()
        .zip(&before)
        .map(|(a, b)| a.requests() - b)
        .collect();
    assert!(
        served.iter().all(|&n| n > 0),
        "{name}: requests by instance {served:?}"
    );
    let conns: u64 = apps
        .iter()
        .map(|a| a.counts.connections.load(Ordering::SeqCst))
        .sum::<u64>()
        - conns_before;
    assert!(
        conns * 20 <= run.requests,
        "{name}: {conns} upstream connections for {} requests: keep-alive is off",
        run.requests
    );

    // One instance shut down gracefully in the middle of a run: the proxy retries what it
    // refuses or closes unanswered on the other one, and wrk sees no error.
    let url = proxy.url("/");
    let during = thread::spawn(move || wrk(&url, 3));
    let start = apps[0].requests();
    let reached = poll_until(WRK_DEADLINE, || apps[0].requests() >= start + 200);
    assert!(reached, "{name}: the second run did not reach app1");
    let stopping = Instant::now();
    let stopped = apps[0].srv.server().shutdown(Duration::from_secs(5));
    assert!(stopped.is_ok(), "{name}: {stopped:?}");
    let after_stop = apps[1].requests();
    let run = during.join().expect("wrk thread");
    assert!(
        !run.text.contains("Socket errors") && !run.text.contains("Non-2xx"),
        "{name}, app1 stopped {:?} before the end of the run: {}\n{}",
        stopping.elapsed(),
        run.text,
        proxy.logs()
    );
    assert!(
        apps[1].requests() > after_stop,
        "{name}: app2 served nothing after app1 stopped"
    );
    let _ = writeln!(
        std::io::stderr(),
        "{name}: {} requests through two instances, then {} with one stopped midway; \
         {conns} upstream connections in the first run",
        served.iter().sum::<u64>(),
        run.requests
    );
    drop(proxy);
}

#[test]
fn haproxy_in_front_of_two_instances() {
    behind(Kind::Haproxy);
}

#[test]
fn nginx_in_front_of_two_instances() {
    behind(Kind::Nginx);
}
