//! Test support: one HTTP exchange over a raw loopback socket, with deadlines, and a check
//! for real peer tools (skipped with a note locally, required under `CI=true`).

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
