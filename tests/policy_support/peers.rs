//! Real peer processes on loopback for the interop tests: a check that a tool is installed
//! (a missing one skips the test with a note, and fails it under `CI=true`), a process killed
//! on drop, and tinyproxy with a configuration made per test.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `program args` runs; a missing peer fails under `CI=true` and skips otherwise.
pub fn have(what: &str, program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{what} is required under CI=true (bash .ci/install-peers installs it)");
        }
        // Straight to stderr, past the test harness's output capture, so the skip is seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("skipped: {what} not found\n").as_bytes(),
        );
    }
    ok
}

#[path = "../peers/port.rs"]
mod port;
pub use port::free_port;

/// A peer process, killed on drop.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
    /// Removed on drop.
    pub dir: Option<PathBuf>,
}

impl Peer {
    /// Waits until the peer accepts connections, within `within`.
    pub fn ready(mut self, within: Duration) -> Peer {
        let deadline = Instant::now() + within;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return self;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("peer on {} exited early: {status}", self.addr);
            }
            assert!(Instant::now() < deadline, "peer on {} not ready", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://` and the peer's address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // SIGTERM first: gunicorn's master then stops its workers.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// tinyproxy on a free port, allowing CONNECT to `connect_port` only, and asking for
/// `user:secret` when `auth` is set.
pub fn tinyproxy(connect_port: u16, auth: bool) -> Option<Peer> {
    if !have("tinyproxy", "tinyproxy", &["-v"]) {
        return None;
    }
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("nethttp-tinyproxy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("tinyproxy.conf");
    let mut f = std::fs::File::create(&conf).unwrap();
    writeln!(
        f,
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 20\n\
         ConnectPort {connect_port}\nLogLevel Warning"
    )
    .unwrap();
    if auth {
        writeln!(f, "BasicAuth user secret").unwrap();
    }
    drop(f);
    let child = Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tinyproxy");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Some(
        Peer {
            child,
            addr,
            dir: Some(dir),
        }
        .ready(Duration::from_secs(10)),
    )
}
