//! Edges of the `nethttp` binary, from a review (session 21): each test failed against the
//! behaviour it guards.
//!
//! Every child process runs under a deadline and is killed on timeout; loopback only; nothing
//! sleeps to synchronise.
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cli_support::*;
use nethttp::server::{Request, ResponseWriter};
use support::TestServer;

/// A server that answers with the request body it received.
fn body_echo() -> TestServer {
    TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let _ = w.write_all(&body);
    })
}

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE (a FIFO opened for reading without blocking, then for writing, then the reader
/// dropped).
#[cfg(target_os = "linux")]
fn broken_pipe(dir: &TempDir) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.path().join("fifo");
    let out = support::run_bounded(Command::new("mkfifo").arg(&path), Duration::from_secs(10));
    assert!(out.status.success(), "mkfifo: {out:?}");
    const O_NONBLOCK: i32 = 0o4000;
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&path)
        .expect("open the fifo for reading");
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the fifo for writing");
    drop(reader);
    writer
}

/// Waits for `child` to exit within `deadline`; kills it and returns `None` if it does not.
fn wait_or_kill(child: &mut KillOnDrop, deadline: Duration) -> Option<std::process::ExitStatus> {
    let exited = support::poll_until(deadline, || matches!(child.0.try_wait(), Ok(Some(_))));
    if exited {
        child.0.wait().ok()
    } else {
        let _ = child.0.kill();
        let _ = child.0.wait();
        None
    }
}

fn kill(pid: u32, signal: &str) {
    let out = support::run_bounded(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "kill -{signal}: {out:?}");
}

/// `nethttp serve 2>&1 | head -n1` (or a log collector that went away): once the reader of
/// stderr is gone, SIGTERM still stops the server. `eprintln!` panics on EPIPE: in the
/// stopper thread before it called `shutdown`, and in the signal handler before `exit(130)`,
/// so the process ignored SIGTERM and SIGINT for ever; the binary's stderr lines never
/// panic now.
#[cfg(target_os = "linux")]
#[test]
fn serve_stops_on_sigterm_after_its_stderr_reader_went_away() {
    let dir = TempDir::new("review-serve-epipe");
    dir.write("a.txt", b"a");
    let child = Command::new(BIN)
        .arg("serve")
        .arg(dir.path())
        .args(["--addr", "127.0.0.1:0", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut child = KillOnDrop(child);
    let stderr = child.0.stderr.take().expect("stderr");
    // Read the serving line on a thread (bounded by the channel's timeout), then close the
    // pipe, as `head -n1` does.
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(stderr);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send((line, r));
    });
    let (line, reader) = rx
        .recv_timeout(SERVE_DEADLINE)
        .expect("no serving line within the deadline");
    assert!(line.contains(" on http://"), "{line:?}");
    drop(reader);

    let pid = child.0.id();
    kill(pid, "TERM");
    let first = wait_or_kill_keep(&mut child, SERVE_DEADLINE);
    if first.is_none() {
        // The documented escape hatch: a second signal stops at once (exit 130).
        kill(pid, "INT");
    }
    let second = wait_or_kill(&mut child, Duration::from_secs(5));
    assert!(
        first.is_some(),
        "serve did not exit within {SERVE_DEADLINE:?} of SIGTERM once its stderr reader had \
         gone; after a second signal: {}",
        match second {
            Some(s) => format!("exited {s}"),
            None => "still running (killed with SIGKILL)".to_string(),
        }
    );
}

/// As [`wait_or_kill`], without the kill: `None` if still running at the deadline.
fn wait_or_kill_keep(
    child: &mut KillOnDrop,
    deadline: Duration,
) -> Option<std::process::ExitStatus> {
    let exited = support::poll_until(deadline, || matches!(child.0.try_wait(), Ok(Some(_))));
    exited.then(|| child.0.wait().expect("wait"))
}

/// `nethttp get URL 2>&1 | grep -q x` style: the error line cannot be written, but the exit
/// code must still be curl's (7 here), not 101 from a panic in `eprintln!`.
#[cfg(target_os = "linux")]
#[test]
fn get_keeps_its_exit_code_when_stderr_is_a_broken_pipe() {
    let dir = TempDir::new("review-get-epipe");
    let refused = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = refused.local_addr().unwrap().port();
    drop(refused);
    let err = broken_pipe(&dir);
    let child = Command::new(BIN)
        .args(["get", &format!("http://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn get");
    let mut child = KillOnDrop(child);
    let status = wait_or_kill(&mut child, RUN_DEADLINE).expect("get overran its deadline");
    assert_eq!(status.code(), Some(7), "exit status {status}");
}

/// `-d @FILE`, `--json @FILE` and `-F name=@FILE` where FILE is not a regular file (a pipe:
/// `@<(cmd)`, a FIFO, `/dev/stdin`): curl sends what the file yields. The length is taken from
/// `metadata().len()` (0 for a pipe) made `-d` and `--json` send an empty body and `-F` fail;
/// such a file is now read whole first.
#[cfg(target_os = "linux")]
#[test]
fn get_sends_a_body_file_that_is_a_pipe() {
    let srv = body_echo();
    let url = srv.url("/");
    for (args, want) in [
        (vec!["get", "-d", "@/dev/stdin", &url], "hello-pipe"),
        (vec!["get", "--json", "@/dev/stdin", &url], "hello-pipe"),
        (vec!["get", "-F", "f=@/dev/stdin", &url], "hello-pipe"),
    ] {
        let (code, out, err) = parts(&nethttp_with_stdin(&args, b"hello-pipe"));
        assert!(
            code == Some(0) && out.contains(want),
            "nethttp {args:?} with a pipe: exit {code:?}, server received {out:?}, stderr {err:?}"
        );
    }
}

/// Without -L a redirect is the answer (curl prints it), also when its Location does not
/// parse (that failed the transfer with exit 8).
#[test]
fn get_without_l_writes_a_redirect_whose_location_does_not_parse() {
    let (url, t) = raw_server(
        b"HTTP/1.1 302 Found\r\nLocation: http://exa mple/\r\nContent-Length: 5\r\n\r\nmoved",
    );
    let (code, out, err) = parts(&nethttp(&["get", &url]));
    t.join().unwrap();
    assert_eq!((code, out.as_str()), (Some(0), "moved"), "stderr: {err}");
}

/// --rate below 1/(2^64 s): the second ticket's slot does not fit a Duration (a worker
/// panicked); it is past the end of the run.
#[test]
fn bench_tiny_rate_does_not_panic() {
    let srv = body_echo();
    let (code, _, err) = parts(&nethttp(&[
        "bench",
        "-c",
        "1",
        "-z",
        "1s",
        "--rate",
        "0.00000000000000000001",
        &srv.url("/"),
    ]));
    assert!(!err.contains("panicked"), "exit {code:?}, stderr: {err}");
}

/// -z or --timeout longer than an Instant can hold (2^63 s): `Instant + Duration` panicked,
/// on the main thread (-z: exit 101) or a worker (--timeout); durations over 100 years are
/// usage errors.
#[test]
fn bench_huge_durations_do_not_panic() {
    let srv = body_echo();
    let url = srv.url("/");
    for flag in ["-z", "--timeout"] {
        let (code, _, err) = parts(&nethttp(&[
            "bench",
            "-c",
            "1",
            "-n",
            "1",
            flag,
            "10000000000000000000",
            &url,
        ]));
        assert!(
            !err.contains("panicked") && code != Some(101),
            "bench {flag} 10000000000000000000: exit {code:?}, stderr: {err}"
        );
    }
}

/// serve --shutdown-timeout longer than an Instant can hold: the stopper thread panicked in
/// `shutdown` ("the shutdown thread panicked", exit 1). Shutting down cleanly or refusing the
/// value up front (exit 2) both pass.
#[test]
fn serve_huge_shutdown_timeout_shuts_down_cleanly_or_is_refused() {
    let dir = TempDir::new("review-serve-grace");
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg(dir.path())
        .args(["--addr", "127.0.0.1:0", "-q"])
        .args(["--shutdown-timeout", "10000000000000000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(SERVE_DEADLINE)
        .expect("no line on stderr within the deadline");
    if first.contains(" on http://") {
        kill(child.0.id(), "TERM");
    }
    let status = wait_or_kill(&mut child, SERVE_DEADLINE).expect("serve did not exit");
    let mut log = vec![first.clone()];
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        log.push(l);
    }
    let panicked = log.iter().any(|l| l.contains("panicked"));
    let ok = if first.contains(" on http://") {
        status.success()
    } else {
        status.code() == Some(2)
    };
    assert!(ok && !panicked, "exit {status}; stderr: {log:#?}");
}

/// `bench -z 1s` against a server that accepts and never answers ends near -z, as wrk and oha
/// do (it lasted --timeout, 10 s by default): requests still waiting 1 s after the end are
/// cut, not counted.
#[test]
fn bench_run_ends_near_its_duration_when_the_server_stalls() {
    // Listening but never accepting: connects complete in the backlog, nothing answers.
    let stall = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", stall.local_addr().unwrap());
    let started = Instant::now();
    let out = nethttp(&["bench", "-c", "2", "-z", "1s", &url]);
    let took = started.elapsed();
    let (code, stdout, _) = parts(&out);
    assert!(
        took < Duration::from_secs(5),
        "bench -z 1s took {took:?} (exit {code:?}): {stdout}"
    );
    drop(stall);
}
