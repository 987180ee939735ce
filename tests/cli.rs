//! The `nethttp` binary, driven as a user drives it: `serve` a temporary directory, `get`
//! from it (and from in-process servers for what a file server cannot answer), `bench` it,
//! and stop it with signals while a download is in flight.
//!
//! Every child process runs under a deadline and is killed if it overruns or outlives its
//! test; servers listen on `127.0.0.1` only.
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use cli_support::*;
use nethttp::server::{Request, ResponseWriter};
use nethttp::StatusCode;
use support::{poll_until, TestServer};

#[test]
fn help_on_every_subcommand() {
    for cmd in [&[][..], &["serve"], &["get"], &["bench"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (code, out, err) = parts(&nethttp(&args));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.contains("Usage: nethttp"), "{args:?}: {out}");
    }
    // No subcommand, or an unknown flag: a usage error.
    assert_eq!(nethttp(&[]).status.code(), Some(2));
    assert_eq!(
        nethttp(&["get", "--no-such-flag", "x"]).status.code(),
        Some(2)
    );
}

#[test]
fn serve_and_get_round_trip() {
    let dir = TempDir::new("roundtrip");
    dir.write("hello.txt", b"hello, world\n");
    dir.write("sub/file.txt", b"inside\n");
    let mut srv = Serve::start(dir.path(), &[]);

    let (code, out, err) = parts(&nethttp(&["get", &srv.url("hello.txt")]));
    assert_eq!((code, out.as_str()), (Some(0), "hello, world\n"), "{err}");
    assert_eq!(err, "", "nothing on stderr without -v");

    // -v: the request head as sent, the response head, the connection.
    let (code, out, err) = parts(&nethttp(&["get", "-v", &srv.url("hello.txt")]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "hello, world\n");
    let want = [
        format!("* new connection to {}", srv.addr),
        "> GET /hello.txt HTTP/1.1".to_string(),
        format!("> Host: {}", srv.addr),
        "> User-Agent: nethttp/".to_string(),
        ">".to_string(),
        "< HTTP/1.1 200 OK".to_string(),
        "< content-length: 13".to_string(),
        "<".to_string(),
    ];
    let lines: Vec<&str> = err.lines().collect();
    let mut at = 0;
    for w in &want {
        let found = lines[at..].iter().position(|l| l.starts_with(w.as_str()));
        let found = found.unwrap_or_else(|| panic!("no {w:?} after line {at} in:\n{err}"));
        at += found + 1;
    }

    // The access log names the request (serve logs unless --quiet).
    srv.wait_line("the access log line", |l| {
        l.contains("\"GET /hello.txt HTTP/1.1\" 200 13")
    });

    // A directory without its slash is a redirect: returned as is, or followed with -L
    // over the same connection.
    let (code, out, err) = parts(&nethttp(&["get", "-v", &srv.url("sub")]));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("< HTTP/1.1 301 Moved Permanently"), "{err}");
    assert!(!out.contains("file.txt"), "{out}");
    let (code, out, err) = parts(&nethttp(&["get", "-v", "-L", &srv.url("sub")]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("file.txt"), "{out}");
    assert!(
        err.contains(&format!(
            "* 301 Moved Permanently redirect to {}",
            srv.url("sub/")
        )),
        "{err}"
    );
    assert!(err.contains("> GET /sub/ HTTP/1.1"), "{err}");
    assert!(
        err.contains(&format!("* connection to {} reused (idle", srv.addr)),
        "{err}"
    );
}

#[test]
fn fail_exits_22_on_404() {
    let dir = TempDir::new("fail");
    let srv = Serve::start(dir.path(), &["--quiet"]);
    let (code, out, err) = parts(&nethttp(&["get", "--fail", &srv.url("missing")]));
    assert_eq!(code, Some(22), "{err}");
    assert_eq!(out, "", "no body with --fail");
    assert_eq!(
        err,
        format!(
            "nethttp: {}: server answered 404 not found\n",
            srv.url("missing")
        )
    );

    // Without --fail a 404 is a response like any other.
    let (code, out, err) = parts(&nethttp(&["get", &srv.url("missing")]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "404 page not found\n");
}

#[test]
fn download_to_file_matches_checksum() {
    let dir = TempDir::new("download");
    let data = pseudo_random(4 << 20, 0x5eed);
    dir.write("big.bin", &data);
    let out_dir = TempDir::new("download-out");
    let dest = out_dir.path().join("copy.bin");
    let srv = Serve::start(dir.path(), &["--quiet"]);

    let dest_arg = dest.to_str().unwrap();
    let (code, out, err) = parts(&nethttp(&["get", "-o", dest_arg, &srv.url("big.bin")]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "", "the body goes to the file");
    // stderr is a pipe here, not a terminal: no progress bar.
    assert_eq!(err, "");
    let got = std::fs::read(&dest).expect("downloaded file");
    assert_eq!(got.len(), data.len());
    assert_eq!(fnv1a(&got), fnv1a(&data), "checksum of the download");
    assert!(got == data);
}

/// An in-process server answering with what it received, for what a file server cannot show.
fn echo_server() -> TestServer {
    TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let header = |n: &str| {
            r.headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "-".into())
        };
        let line = format!(
            "{} {} ct={} x-test={}",
            r.method,
            r.uri.path(),
            header("content-type"),
            header("x-test")
        );
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let _ = writeln!(w, "{line}");
        let _ = w.write_all(&body);
    })
}

#[test]
fn data_headers_and_methods() {
    let srv = echo_server();
    let url = srv.url("/echo");

    // -d: POST, form content type (as curl), the text as the body.
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-d",
        "a=1&b=2",
        "-H",
        "X-Test: yes",
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "POST /echo ct=application/x-www-form-urlencoded x-test=yes\na=1&b=2"
    );

    // -X and -d @FILE with the caller's content type.
    let dir = TempDir::new("data");
    let file = dir.write("body.json", b"{\"k\": [1, 2]}\n");
    let at_file = format!("@{}", file.display());
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "-d",
        &at_file,
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "PUT /echo ct=application/json x-test=-\n{\"k\": [1, 2]}\n"
    );

    // A URL without a scheme is http.
    let bare = url.trim_start_matches("http://");
    let (code, out, _) = parts(&nethttp(&["get", "-X", "DELETE", bare]));
    assert_eq!(code, Some(0));
    assert!(out.starts_with("DELETE /echo "), "{out}");

    // Usage errors: exit 2 with one line (a malformed URL is curl's 3; tests/cli_get.rs has
    // the rest of get's).
    for (args, want, want_code) in [
        (
            vec!["get", "-H", "no colon", url.as_str()],
            "invalid header",
            2,
        ),
        (
            vec!["get", "-X", "BAD METHOD", url.as_str()],
            "invalid method",
            2,
        ),
        (vec!["get", "http://exa mple/"], "invalid URL", 3),
    ] {
        let (code, _, err) = parts(&nethttp(&args));
        assert_eq!(code, Some(want_code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("nethttp: ") && err.contains(want), "{err}");
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

#[test]
fn transport_errors_are_one_clear_line() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    for cmd in ["get", "bench"] {
        let args: Vec<&str> = match cmd {
            "get" => vec!["get", &url],
            _ => vec!["bench", "-c", "1", "-n", "3", &url],
        };
        let (code, _, err) = parts(&nethttp(&args));
        // get exits as curl does (7: cannot connect).
        let want_code = if cmd == "get" { 7 } else { 1 };
        assert_eq!(code, Some(want_code), "{cmd}: {err}");
        let want = format!("connection refused: is a server listening on 127.0.0.1:{port}?");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("nethttp: ") && last.ends_with(&want),
            "{cmd}: {err}"
        );
    }
    let (_, _, err) = parts(&nethttp(&["get", &url]));
    assert_eq!(err.lines().count(), 1, "{err}");

    // A server that answers too late: the timeout names its phase.
    let (release, wait) = mpsc::sync_channel::<()>(1);
    let wait = std::sync::Mutex::new(wait);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        // Held until the test ends (or 10 s): the client's timeout fires first.
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
        w.write_header(StatusCode::NO_CONTENT);
    });
    let (code, _, err) = parts(&nethttp(&["get", "--timeout", "300ms", &srv.url("/slow")]));
    let _ = release.try_send(());
    assert_eq!(code, Some(28), "{err}");
    assert!(
        err.starts_with("nethttp: timed out awaiting response head after "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn serve_errors_are_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("inuse");
    let dir_arg = dir.path().to_str().unwrap();
    let (code, _, err) = parts(&nethttp(&["serve", dir_arg, "--addr", &addr]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with(&format!("nethttp: address {addr} already in use")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let missing = dir.path().join("missing");
    let (code, _, err) = parts(&nethttp(&["serve", missing.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!("nethttp: {} is not a directory\n", missing.display())
    );
}

#[test]
fn serve_max_connections_evicts_an_idle_client_and_holds_back_behind_a_busy_one() {
    let dir = TempDir::new("maxconn");
    dir.write("a.txt", b"a");
    let srv = Serve::start(dir.path(), &["--quiet", "--max-connections", "1"]);
    // One keep-alive connection, answered and kept open idle: the server is at its limit.
    let mut idle = TcpStream::connect(srv.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let (head, _) = read_head(&mut idle);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");

    // The next client is served at once: the idle connection is closed to make room.
    let (code, out, err) = parts(&nethttp(&["get", "--timeout", "5s", &srv.url("a.txt")]));
    assert_eq!((code, out.as_str()), (Some(0), "a"), "{err}");
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest)
        .expect("the idle connection closed cleanly");

    // A connection partway through its request is busy, never evicted: the next client
    // waits in the backlog, unanswered.
    let mut busy = TcpStream::connect(srv.addr).expect("connect");
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.write_all(b"GET /a.txt HTTP/1.1\r\n").unwrap();
    let (code, _, err) = parts(&nethttp(&["get", "--timeout", "500ms", &srv.url("a.txt")]));
    assert_eq!(code, Some(28), "{err}");
    assert!(err.contains("timed out"), "{err}");

    // It finishes its request and is answered; then, idle, it makes room for the next.
    busy.write_all(b"Host: test\r\n\r\n").unwrap();
    let (head, _) = read_head(&mut busy);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let (code, out, err) = parts(&nethttp(&["get", "--timeout", "10s", &srv.url("a.txt")]));
    assert_eq!((code, out.as_str()), (Some(0), "a"), "{err}");
}

#[test]
fn serve_defaults_to_the_current_directory() {
    let root = TempDir::new("default-dir");
    root.write("index.html", b"<p>here</p>\n");
    // A docs/ folder no longer takes over (issue 18: run inside a project, serve served it).
    root.write("docs/index.html", b"<p>docs</p>\n");
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(root.path())
        .args(["serve", "--quiet", "--addr", "127.0.0.1:0"]);
    let srv = Serve::spawn(cmd);
    let here = root.path().canonicalize().unwrap();
    assert!(
        srv.log[0].contains(&format!("serving {} on", here.display())),
        "{:?}",
        srv.log
    );
    let (code, out, _) = parts(&nethttp(&["get", &srv.url("")]));
    assert_eq!((code, out.as_str()), (Some(0), "<p>here</p>\n"));
}

#[test]
fn bench_two_seconds_without_errors() {
    let dir = TempDir::new("bench");
    dir.write("hello.txt", b"hello, world\n");
    let srv = Serve::start(dir.path(), &["--quiet"]);
    let url = srv.url("hello.txt");

    let runs: [&[&str]; 3] = [
        &["-c", "4", "-z", "2s"],
        &["-c", "2", "-z", "1s", "--pool"],
        &["-c", "2", "-n", "300", "--close"],
    ];
    for extra in runs {
        let mut args = vec!["bench", "--json"];
        args.extend_from_slice(extra);
        args.push(&url);
        let (code, out, err) = parts(&nethttp(&args));
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{extra:?}: not JSON ({e}): {out}"));
        let requests = v["requests"].as_u64().unwrap();
        assert!(requests > 0, "{extra:?}: {out}");
        assert_eq!(v["errors"], 0, "{extra:?}: {out}");
        assert_eq!(
            v["status"]["200"].as_u64(),
            Some(requests),
            "{extra:?}: {out}"
        );
        let lat = &v["latency_us"];
        let (p50, p99, max) = (
            lat["p50"].as_u64(),
            lat["p99"].as_u64(),
            lat["max"].as_u64(),
        );
        assert!(
            p50 <= p99 && p99 <= max && max.unwrap() > 0,
            "{extra:?}: {out}"
        );
        assert!(
            v["requests_per_s"].as_f64().unwrap() > 0.0,
            "{extra:?}: {out}"
        );
        if extra.contains(&"-n") {
            assert_eq!(requests, 300, "{out}");
        }
    }

    // The human summary names every part.
    let (code, out, err) = parts(&nethttp(&["bench", "-c", "2", "-n", "50", &url]));
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "requests   50 in ",
        "requests/s",
        "transfer",
        "status     200: 50",
        "errors     0",
        "p99.9",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
}

#[test]
fn bench_ctrl_c_prints_what_it_did() {
    let dir = TempDir::new("bench-int");
    dir.write("hello.txt", b"hello, world\n");
    let mut srv = Serve::start(dir.path(), &[]);
    let out_dir = TempDir::new("bench-int-out");
    let out_path = out_dir.path().join("stdout.txt");
    let out_file = std::fs::File::create(&out_path).unwrap();
    let bench = std::process::Command::new(BIN)
        .args(["bench", "-c", "2", "-z", "60s", &srv.url("hello.txt")])
        .stdin(std::process::Stdio::null())
        .stdout(out_file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn bench");
    let mut bench = KillOnDrop(bench);
    // Running once the server has logged one of its requests.
    srv.wait_line("a bench request in the access log", |l| {
        l.contains("\"GET /hello.txt HTTP/1.1\" 200")
    });
    let kill = support::run_bounded(
        std::process::Command::new("kill").args(["-INT", &bench.0.id().to_string()]),
        Duration::from_secs(10),
    );
    assert!(kill.status.success(), "{kill:?}");
    let exited = poll_until(SERVE_DEADLINE, || matches!(bench.0.try_wait(), Ok(Some(_))));
    assert!(
        exited,
        "bench did not stop within {SERVE_DEADLINE:?} of Ctrl-C"
    );
    assert_eq!(bench.0.wait().unwrap().code(), Some(0));
    let out = std::fs::read_to_string(&out_path).unwrap();
    assert!(out.contains("status     200: "), "{out}");
    assert!(out.contains("errors     0"), "{out}");
}

#[test]
fn ctrl_c_lets_an_in_flight_download_finish() {
    let dir = TempDir::new("ctrl-c");
    // Far more than the socket buffers hold: the server is mid-body when the signal comes.
    let data = pseudo_random(64 << 20, 0xc7c);
    dir.write("big.bin", &data);
    let mut srv = Serve::start(dir.path(), &[]);

    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let (head, mut body) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(body.len() < data.len());

    // Ctrl-C while the download is in flight (we have stopped reading).
    srv.signal("INT");
    srv.wait_line("the shutting-down line", |l| l.contains("shutting down"));
    // The listener goes away: new connections are refused.
    assert!(
        poll_until(SERVE_DEADLINE, || TcpStream::connect(srv.addr).is_err()),
        "still accepting connections after the signal"
    );

    // The rest of the body arrives, then the server closes the connection.
    s.read_to_end(&mut body).expect("read the rest of the body");
    assert_eq!(body.len(), data.len(), "whole body");
    assert_eq!(fnv1a(&body), fnv1a(&data), "checksum of the body");

    let status = srv.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", srv.log);
    assert!(
        srv.log
            .iter()
            .any(|l| l.contains("\"GET /big.bin HTTP/1.1\" 200 67108864")),
        "{:#?}",
        srv.log
    );
    assert!(
        srv.log.iter().any(|l| l.contains("shut down cleanly")),
        "{:#?}",
        srv.log
    );
}

#[test]
fn sigterm_stops_an_idle_server() {
    let dir = TempDir::new("sigterm");
    dir.write("a.txt", b"a");
    let mut srv = Serve::start(dir.path(), &["--quiet"]);
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = TcpStream::connect(srv.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /a.txt HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let (head, mut body) = read_head(&mut idle);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");

    srv.signal("TERM");
    let status = srv.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", srv.log);
    // The idle connection was closed (EOF, not a read timeout) after its response.
    idle.read_to_end(&mut body)
        .expect("EOF on the idle connection");
    assert_eq!(body, b"a");
}

/// `bench` counts what the server served. A timed run stops with up to one request per
/// connection in flight, which the server may answer after bench stopped counting; a run of
/// `-n N` counts exactly N on both sides. Its rate is its own count over its own duration.
/// (How bench's rate compares with wrk's is measured in `benches/bench_vs_wrk.sh`: a
/// throughput comparison is a benchmark, not a test.)
#[test]
fn bench_counts_what_the_server_served() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let served = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&served);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        count.fetch_add(1, Ordering::SeqCst);
        let _ = w.write(b"hello, world\n");
    });
    let url = srv.url("/count");
    let runs: [(&[&str], u64); 4] = [
        (&["-c", "4", "-n", "1000"], 0),
        (&["-c", "3", "-n", "301", "--close"], 0),
        (&["-c", "2", "-n", "200", "--pool"], 0),
        (&["-c", "4", "-z", "1s"], 4),
    ];
    for (extra, in_flight) in runs {
        served.store(0, Ordering::SeqCst);
        let mut args = vec!["bench", "--json"];
        args.extend_from_slice(extra);
        args.push(&url);
        let (code, out, err) = parts(&nethttp(&args));
        assert_eq!(code, Some(0), "{extra:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{extra:?}: not JSON ({e}): {out}"));
        assert_eq!(v["errors"], 0, "{extra:?}: {out}");
        let counted = v["requests"].as_u64().unwrap();
        // The server thread that answers a request bench has not waited for can still be
        // counting: give it until the deadline to settle.
        poll_until(Duration::from_secs(5), || {
            served.load(Ordering::SeqCst) >= counted
        });
        let server = served.load(Ordering::SeqCst);
        assert!(
            counted <= server && server <= counted + in_flight,
            "{extra:?}: bench counted {counted}, the server served {server}"
        );
        if let Some(i) = extra.iter().position(|a| *a == "-n") {
            assert_eq!(counted.to_string(), extra[i + 1], "{extra:?}: {out}");
        }
        // Every response is the same size on the wire (head and 13-byte body).
        let bytes = v["bytes"].as_u64().unwrap();
        assert!(
            bytes % counted == 0 && bytes / counted > 13,
            "{extra:?}: {bytes} bytes for {counted} responses: {out}"
        );
        let (rate, secs) = (
            v["requests_per_s"].as_f64().unwrap(),
            v["duration_s"].as_f64().unwrap(),
        );
        assert!(
            (rate * secs - counted as f64).abs() < 0.5,
            "{extra:?}: {rate}/s over {secs} s is not {counted}: {out}"
        );
    }
}

/// `nethttp proxy`: requests reach the upstreams in turn with the forwarding fields, each is
/// in the access log, an unreachable upstream answers 502, and a bad upstream URL is a usage
/// error.
#[test]
fn proxy_forwards_round_robin_with_an_access_log() {
    let upstream = |name: &'static str| {
        TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let xff = r
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let _ = write!(w, "{name} {} {xff}", r.uri);
        })
    };
    let (a, b) = (upstream("a"), upstream("b"));
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["proxy", "--addr", "127.0.0.1:0", &a.url(""), &b.url("/b")]);
    let mut srv = Serve::spawn(cmd);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (code, out, err) = parts(&nethttp(&["get", &srv.url("x?y=1")]));
        assert_eq!(code, Some(0), "{err}");
        seen.push(out);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "a /x?y=1 127.0.0.1",
            "a /x?y=1 127.0.0.1",
            "b /b/x?y=1 127.0.0.1",
            "b /b/x?y=1 127.0.0.1"
        ]
    );
    srv.wait_line("an access-log line", |l| {
        l.contains("\"GET /x HTTP/1.1\" 200")
    });

    // An upstream that is gone: 502.
    drop(a);
    drop(b);
    let (code, _, err) = parts(&nethttp(&["get", "--fail", &srv.url("gone")]));
    assert_eq!(code, Some(22), "{err}");
    assert!(err.contains("502"), "{err}");

    let (code, _, err) = parts(&nethttp(&["proxy", "--addr", "127.0.0.1:0", "not a url"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("nethttp: invalid upstream \"not a url\""),
        "{err}"
    );
    let (code, _, err) = parts(&nethttp(&["proxy"]));
    assert_eq!(code, Some(2), "{err}");
}
