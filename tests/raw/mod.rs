//! Test support: one HTTP exchange over a raw loopback socket, with deadlines, a check for
//! real peer tools (skipped with a note locally, required under `CI=true`), and temporary
//! directories.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nethttp::proto::head::{parse_response, Parsed, ResponseHead};
use nethttp::proto::Limits;

/// Sends `request` (which should carry `Connection: close`) and reads until the server
/// closes: the parsed head and every byte after it.
pub fn exchange(addr: SocketAddr, request: &str) -> (ResponseHead, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).expect("write request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read response");
    match parse_response(&buf, &Limits::default()).expect("valid response head") {
        Parsed::Complete { head, len } => (head, buf[len..].to_vec()),
        Parsed::Partial => panic!(
            "incomplete response head: {:?}",
            String::from_utf8_lossy(&buf)
        ),
    }
}

/// The value of `name` in `head`, as text.
pub fn header<'a>(head: &'a ResponseHead, name: &str) -> Option<&'a str> {
    head.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the command-line tool `name` runs. A missing tool is a failure under `CI=true`
/// and a printed skip note otherwise.
pub fn have_tool(name: &str) -> bool {
    let ok = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required under CI=true (bash .ci/install-peers installs it)");
        }
        eprintln!("note: {name} not found; skipping this interop test");
    }
    ok
}

/// Polls `cond` every few milliseconds until it holds or `within` passes.
pub fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// A new empty directory named after `tag`, the process and a counter.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "nethttp-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// `rel` inside the directory.
    pub fn join(&self, rel: &str) -> std::path::PathBuf {
        self.0.join(rel)
    }

    /// Writes `data` to `rel`, creating its parent directories.
    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// Creates the directory `rel` and its parents.
    pub fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.0.join(rel)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Blocks SIGPIPE on the calling thread, and so on the threads it starts from then on (a
/// server's, a client's), so that one raised stays pending where [`sigpipe_pending`] sees
/// it, instead of being ignored as Rust's runtime does. What would kill a program that keeps
/// SIGPIPE's default action (a C host, a CLI that restored it); the crate forbids `unsafe`,
/// so a test cannot restore the default itself. Asserts that none is pending yet.
#[cfg(target_os = "linux")]
pub fn block_sigpipe() {
    use nix::sys::signal::{SigSet, Signal};
    SigSet::from(Signal::SIGPIPE).thread_block().unwrap();
    let pending = sigpipe_pending();
    assert!(pending.is_empty(), "SIGPIPE pending already: {pending:?}");
}

/// The threads of this process with SIGPIPE (signal 13, bit 12) pending, thread-directed or
/// process-wide, each as a line naming it.
#[cfg(target_os = "linux")]
pub fn sigpipe_pending() -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            let Some((key, mask)) = line.split_once(':') else {
                continue;
            };
            if key != "SigPnd" && key != "ShdPnd" {
                continue;
            }
            let mask = u64::from_str_radix(mask.trim(), 16).unwrap_or(0);
            if mask & (1 << (13 - 1)) != 0 {
                let name = status.lines().next().unwrap_or("").to_string();
                out.push(format!("task {:?} ({name}): {line}", task.file_name()));
            }
        }
    }
    out
}

/// Sends `GET /` to `addr` and reads until the end of the response's head, then leaves the
/// rest unread, so the server's writes of the body fill the socket buffers and block. The
/// connection, with a 5 s read timeout.
pub fn get_and_stall_after_the_head(addr: SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut buf).expect("response head");
        assert!(n > 0, "closed before the head");
        got.extend_from_slice(&buf[..n]);
    }
    c
}
