//! Test support for the `nethttp` binary's tests: `nethttp serve` as a child process that is
//! killed on drop, bounded runs of the other subcommands, and temporary directories.
//!
//! Nothing here sleeps to synchronise: readiness is the `serving ... on http://...` line on
//! the server's stderr, read by a thread and waited for with a deadline; exits are waited for
//! with bounded polls.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::support::run_bounded;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nethttp");

/// The most any one client run (`get`, `bench`) may take.
pub const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// How long `raw_server` waits for its one connection.
pub const RAW_DEADLINE: Duration = Duration::from_secs(30);

/// How long a server may take to start, or to exit once told to.
pub const SERVE_DEADLINE: Duration = Duration::from_secs(15);

/// Runs `nethttp ARGS` to completion under [`RUN_DEADLINE`].
pub fn nethttp(args: &[&str]) -> Output {
    run_bounded(Command::new(BIN).args(args), RUN_DEADLINE)
}

/// The exit code, stdout and stderr of a run, for assertions.
pub fn parts(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory under the system's temp directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("nethttp-cli-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` inside the directory (creating parent directories).
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` bytes that are not a short repeating pattern (xorshift), so a misplaced chunk shows.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// FNV-1a, 64 bits: a checksum to name in messages instead of printing megabytes.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Reads from `s` until the end of the response head; returns the head and the body bytes
/// read past it.
pub fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        let n = s.read(&mut chunk).expect("read response head");
        assert!(n > 0, "connection closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            return (head, buf[i + 4..].to_vec());
        }
    }
}

/// `nethttp serve` on `127.0.0.1:0`, its stderr read line by line. Killed on drop if it is
/// still running.
pub struct Serve {
    child: Child,
    lines: Receiver<String>,
    /// Every stderr line read so far.
    pub log: Vec<String>,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    pub addr: SocketAddr,
}

impl Serve {
    /// Serves `dir` (quietly: no access log), with `extra` arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra);
        Serve::spawn(cmd)
    }

    /// Runs `cmd` (a `nethttp serve` command) and waits until it says where it serves.
    pub fn spawn(mut cmd: Command) -> Serve {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nethttp serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Serve {
            child,
            lines: rx,
            log: Vec::new(),
            url: String::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let line = s.wait_line("the serving line", |l| {
            l.contains(" on http://") || l.contains(" on https://")
        });
        let url = line
            .split(" on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        s.addr = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
        s.url = url;
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    /// Waits (at most [`SERVE_DEADLINE`]) for a stderr line matching `pred` and returns it.
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.log.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + SERVE_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} on stderr within {SERVE_DEADLINE:?}: {:#?}",
                        self.log
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("serve closed stderr before {what}: {:#?}", self.log)
                }
            }
        }
    }

    /// Sends `signal` (`INT`, `TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let out = run_bounded(
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(self.pid().to_string()),
            Duration::from_secs(10),
        );
        assert!(out.status.success(), "kill -{signal} failed: {out:?}");
    }

    /// Waits (at most [`SERVE_DEADLINE`]) for the process to exit, then reads the rest of
    /// its stderr.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + SERVE_DEADLINE;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(s) => break s,
                None if Instant::now() < deadline => {
                    // Reading stderr meanwhile is the wait: it blocks until a line or 20 ms.
                    if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(20)) {
                        self.log.push(l);
                    }
                }
                None => panic!(
                    "serve did not exit within {SERVE_DEADLINE:?}: {:#?}",
                    self.log
                ),
            }
        };
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(l);
        }
        status
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A child process killed on drop if it is still running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `nethttp ARGS` with `input` on its stdin (a pipe, so `/dev/stdin` is one too), under
/// [`RUN_DEADLINE`].
pub fn nethttp_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let (mut out, mut err) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut child = KillOnDrop(child);
    let exited =
        crate::support::poll_until(RUN_DEADLINE, || matches!(child.0.try_wait(), Ok(Some(_))));
    assert!(exited, "nethttp {args:?} overran {RUN_DEADLINE:?}");
    let status = child.0.wait().expect("wait");
    let _ = writer.join();
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// A server on a raw socket for what a real server will not do: it accepts one connection,
/// reads the request head, writes `response` and closes.
pub fn raw_server(response: &'static [u8]) -> (String, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let t = thread::spawn(move || {
        let deadline = Instant::now() + RAW_DEADLINE;
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("raw server: no connection within {RAW_DEADLINE:?}: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(response);
    });
    (format!("http://{addr}/"), t)
}
