//! The reverse proxy and a client that half-closes (shuts its sending side and still reads),
//! which its client watch counts as gone, from a review of session 21's own fixes: each test
//! failed against the first version of that watch. Every blocking step has a deadline;
//! nothing sleeps to synchronise.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use nethttp::httputil::{ProxyRequest, ReverseProxy};
use nethttp::server::{Request, ResponseWriter};
use nethttp::Uri;
use support::TestServer;

/// A proxy with `rewrite` routing to `upstream`.
fn proxy_to(upstream: &TestServer) -> TestServer {
    let target: Uri = upstream.url("/").parse().unwrap();
    TestServer::with_handler(ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            pr.set_url(&target);
        })),
        ..ReverseProxy::default()
    })
}

/// Reads from `s` into `buf` until `done(buf)` or EOF or `deadline`; true on EOF.
fn read_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let mut tmp = [0u8; 4096];
    while !done(buf) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "deadline passed; got so far: {:?}",
            String::from_utf8_lossy(buf)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("read: {e}; got so far: {:?}", String::from_utf8_lossy(buf)),
        }
    }
    false
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An upstream whose handler writes `first` (flushed, no length: chunked), then waits for the
/// test's release (at most 10 s) before writing `second`.
fn stalling_upstream(head_first: bool) -> (TestServer, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let up = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        if head_first {
            let _ = w.write_all(b"first part");
            let _ = w.flush();
        }
        let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
        let _ = w.write_all(b"second part");
    });
    (up, tx)
}

/// A client that half-closes (shuts down its sending side, still reading: an HTTP/1.0-style
/// client, `nc -N`) while the proxy copies a chunked upstream body. The watcher takes it for
/// gone and cancels the upstream body; the proxy then returns *without* `abort` (the new
/// `Err(CopyError::Upstream(_)) if watch.is_some() && cancel.is_canceled()` arm), so the
/// server ends the chunked body with its last chunk: the client, which is still reading,
/// gets a truncated body framed as complete. Go aborts the handler (ErrAbortHandler) and the
/// body stays visibly unterminated; before this change nethttp sent the whole body.
#[test]
fn a_half_closed_client_never_gets_a_truncated_body_framed_as_complete() {
    let (up, release) = stalling_upstream(true);
    let proxy = proxy_to(&up);
    let mut c = TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let eof = read_until(&mut c, &mut got, deadline, |b| contains(b, b"first part"));
    assert!(!eof, "closed early: {:?}", String::from_utf8_lossy(&got));
    // We send nothing more, and keep reading.
    c.shutdown(Shutdown::Write).unwrap();
    read_until(&mut c, &mut got, deadline, |_| false);
    drop(release);
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        contains(&got, b"second part") || !got.ends_with(b"\r\n0\r\n\r\n"),
        "the client got a chunked body cut short (no `second part`) but ended with the \
         last chunk, as if complete:\n{text:?}"
    );
}

/// The same half-closed client, before the upstream's head: `round_trip` fails as canceled
/// and the proxy returns without answering, so the server sends `200 OK` with an empty body
/// to a client that is still reading. Go's proxy calls its ErrorHandler (502); before this
/// change nethttp forwarded the upstream's real answer.
#[test]
fn a_half_closed_client_never_gets_an_empty_200_for_a_request_never_answered() {
    let (up, release) = stalling_upstream(false);
    let proxy = proxy_to(&up);
    let mut c = TcpStream::connect_timeout(&proxy.addr(), Duration::from_secs(2)).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let eof = read_until(&mut c, &mut got, deadline, |b| contains(b, b"\r\n\r\n"));
    // Whatever came, the upstream may finish now.
    drop(release);
    if !eof {
        read_until(&mut c, &mut got, deadline, |b| contains(b, b"second part"));
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let empty_ok = text.starts_with("HTTP/1.1 200")
        && !text.contains("second part")
        && text.to_ascii_lowercase().contains("content-length: 0");
    assert!(
        !empty_ok,
        "the proxy answered an unanswered request with an empty 200:\n{text:?}"
    );
}
