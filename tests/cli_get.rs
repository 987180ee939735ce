//! `nethttp get` driven as a script drives curl: each flag against an in-process server that
//! answers with what it received, the `-w` variables, and every failure's exit code (curl's)
//! with its one line on stderr. Raw sockets stand in for servers that misbehave; TLS cases use
//! `httptest::Server::new_tls` and its private CA (feature `httptest-tls`).
//!
//! Every child process runs under a deadline (`cli_support::RUN_DEADLINE`); raw servers stop
//! accepting after `RAW_DEADLINE`; nothing sleeps to synchronise.
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cli_support::*;
use nethttp::server::{Request, ResponseWriter};
use nethttp::StatusCode;
use support::TestServer;

/// A server that answers with the request it received: the request line, then the fields
/// (sorted, `name: value`), an empty line and the body.
fn echo_server() -> TestServer {
    TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let mut fields: Vec<String> = r
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        fields.sort();
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let _ = write!(w, "{} {}\n{}\n\n", r.method, r.uri, fields.join("\n"));
        let _ = w.write_all(&body);
    })
}

/// The fields an echo_server response lists.
fn echoed_fields(out: &str) -> Vec<&str> {
    out.lines().skip(1).take_while(|l| !l.is_empty()).collect()
}

/// `nethttp ARGS` run in `dir`, under [`RUN_DEADLINE`].
fn nethttp_in(dir: &std::path::Path, args: &[&str]) -> Output {
    support::run_bounded(Command::new(BIN).current_dir(dir).args(args), RUN_DEADLINE)
}

/// Asserts a failed run: exit `code`, nothing on stdout, and exactly `line` on stderr.
#[track_caller]
fn assert_fails(out: &Output, code: i32, line: &str) {
    let (got, stdout, stderr) = parts(out);
    assert_eq!(got, Some(code), "stderr: {stderr}");
    assert_eq!(stdout, "", "stdout of a failed run");
    assert_eq!(stderr, format!("nethttp: {line}\n"));
}

#[test]
fn include_head_and_method_head() {
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/old" {
            w.headers_mut().insert("location", "/new".parse().unwrap());
            w.write_header(StatusCode::FOUND);
            return;
        }
        w.headers_mut()
            .insert("x-method", r.method.as_str().parse().unwrap());
        let _ = w.write_all(b"body\n");
    });
    let url = srv.url("/new");

    // -i: the head with CRLFs, then the body.
    let (code, out, err) = parts(&nethttp(&["get", "-i", &url]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
    assert!(out.contains("\r\nx-method: GET\r\n"), "{out:?}");
    assert!(out.ends_with("\r\n\r\nbody\n"), "{out:?}");

    // -I and -X HEAD: a HEAD request, its head as the output, and no body.
    for args in [vec!["get", "-I", &url], vec!["get", "-X", "HEAD", &url]] {
        let (code, out, err) = parts(&nethttp(&args));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{args:?}: {out:?}");
        assert!(out.contains("\r\nx-method: HEAD\r\n"), "{args:?}: {out:?}");
        assert!(out.ends_with("\r\n\r\n"), "{args:?}: {out:?}");
        assert_eq!(err, "");
    }

    // With -L, every hop's head, oldest first.
    let (code, out, err) = parts(&nethttp(&["get", "-I", "-L", &srv.url("/old")]));
    assert_eq!(code, Some(0), "{err}");
    let heads: Vec<&str> = out.split("\r\n\r\n").filter(|h| !h.is_empty()).collect();
    assert_eq!(heads.len(), 2, "{out:?}");
    assert!(
        heads[0].starts_with("HTTP/1.1 302 Found\r\nlocation: /new"),
        "{out:?}"
    );
    assert!(heads[1].starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
}

#[test]
fn headers_agent_referer_and_basic_auth() {
    let srv = echo_server();
    let url = srv.url("/h");
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-v",
        "-H",
        "X-Trace-ID: abc",
        "-H",
        "X-Empty;",
        "-A",
        "probe/1.0",
        "-e",
        "http://from.example/",
        "-u",
        "ann:s3cret",
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    let fields = echoed_fields(&out);
    for want in [
        "x-trace-id: abc",
        "x-empty: ",
        "user-agent: probe/1.0",
        "referer: http://from.example/",
        // base64("ann:s3cret")
        "authorization: Basic YW5uOnMzY3JldA==",
    ] {
        assert!(fields.contains(&want), "no {want:?} in {fields:?}");
    }
    // -v prints the names as the command line spelled them, not as the client holds them.
    for want in [
        "> GET /h HTTP/1.1",
        "> X-Trace-ID: abc",
        "> X-Empty: ",
        "> User-Agent: probe/1.0",
        "> Referer: http://from.example/",
        "> Authorization: Basic YW5uOnMzY3JldA==",
        "< HTTP/1.1 200 OK",
    ] {
        assert!(err.lines().any(|l| l == want), "no {want:?} in:\n{err}");
    }
    assert!(!err.contains("> x-trace-id"), "{err}");

    // 'Name:' removes what the tool would send: no User-Agent, no Accept-Encoding.
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-H",
        "User-Agent:",
        "-H",
        "Accept-Encoding:",
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    let fields = echoed_fields(&out);
    assert!(
        !fields
            .iter()
            .any(|f| f.starts_with("user-agent") || f.starts_with("accept-encoding")),
        "{fields:?}"
    );
    // By default the client asks for gzip (with feature gzip) and names itself.
    let (_, out, _) = parts(&nethttp(&["get", &url]));
    let fields = echoed_fields(&out);
    assert_eq!(
        fields.contains(&"accept-encoding: gzip"),
        cfg!(feature = "gzip"),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("user-agent: nethttp/")),
        "{fields:?}"
    );
}

#[test]
fn data_json_and_stdin_bodies() {
    let srv = echo_server();
    let url = srv.url("/b");
    let dir = TempDir::new("bodies");
    let file = dir.write("body.json", b"{\"k\": [1, 2]}\n");
    let at_file = format!("@{}", file.display());

    // Repeated -d and --data-binary pieces are joined with '&', as curl.
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-d",
        "a=1",
        "--data-binary",
        "b=2",
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("POST /b\n"), "{out}");
    assert!(
        echoed_fields(&out).contains(&"content-type: application/x-www-form-urlencoded"),
        "{out}"
    );
    assert!(out.ends_with("\n\na=1&b=2"), "{out:?}");

    // --json: the text, or a file, with JSON's Content-Type and Accept.
    for arg in [r#"{"k": [1, 2]}"#, at_file.as_str()] {
        let (code, out, err) = parts(&nethttp(&["get", "--json", arg, &url]));
        assert_eq!(code, Some(0), "{err}");
        let fields = echoed_fields(&out);
        assert!(out.starts_with("POST /b\n"), "{out}");
        assert!(fields.contains(&"content-type: application/json"), "{out}");
        assert!(fields.contains(&"accept: application/json"), "{out}");
        assert!(out.contains("\n\n{\"k\": [1, 2]}"), "{out:?}");
    }
    // -H's Content-Type wins over the tool's.
    let (_, out, _) = parts(&nethttp(&[
        "get",
        "--json",
        "[]",
        "-H",
        "Content-Type: application/vnd.x+json",
        &url,
    ]));
    let fields = echoed_fields(&out);
    assert!(
        fields.contains(&"content-type: application/vnd.x+json"),
        "{fields:?}"
    );
    assert_eq!(
        fields
            .iter()
            .filter(|f| f.starts_with("content-type"))
            .count(),
        1
    );

    // @- reads standard input, with -d and with --json.
    for flag in ["-d", "--json"] {
        let (code, out, err) = parts(&nethttp_with_stdin(
            &["get", "-X", "PUT", flag, "@-", &url],
            b"from stdin",
        ));
        assert_eq!(code, Some(0), "{flag}: {err}");
        assert!(out.starts_with("PUT /b\n"), "{out}");
        assert!(out.ends_with("\n\nfrom stdin"), "{flag}: {out:?}");
    }
}

#[test]
fn multipart_form() {
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if let Err(e) = r.parse_multipart_form(1 << 20) {
            w.write_header(StatusCode::BAD_REQUEST);
            let _ = write!(w, "{e}");
            return;
        }
        let form = r.multipart_form().expect("parsed");
        for (name, value) in form.values.iter() {
            let _ = writeln!(w, "field {name}={value}");
        }
        for (name, f) in &form.files {
            let mut content = String::new();
            let _ = f.open().unwrap().read_to_string(&mut content);
            let _ = writeln!(
                w,
                "file {name} {} {} {content:?}",
                f.filename,
                f.content_type.as_deref().unwrap_or("-")
            );
        }
    });
    let dir = TempDir::new("form");
    let notes = dir.write("notes.txt", b"some notes");
    let value = dir.write("value.txt", b"from a file");
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-f",
        "-F",
        "title=holiday",
        "-F",
        &format!("doc=@{}", notes.display()),
        "-F",
        &format!(
            "typed=@{};type=text/plain;filename=renamed.txt",
            notes.display()
        ),
        "-F",
        &format!("inline=<{}", value.display()),
        &srv.url("/upload"),
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "field title=holiday\n\
         field inline=from a file\n\
         file doc notes.txt application/octet-stream \"some notes\"\n\
         file typed renamed.txt text/plain \"some notes\"\n"
    );
}

#[cfg(feature = "gzip")]
#[test]
fn compressed_bodies_are_decoded() {
    // gzip("hello, gzip\n")
    const GZ: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0xd7, 0x51, 0x48, 0xaf, 0xca, 0x2c, 0xe0, 0x02, 0x00, 0x86, 0x1f, 0x82, 0xa4, 0x0c, 0x00,
        0x00, 0x00,
    ];
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let gzip = r
            .headers
            .get("accept-encoding")
            .is_some_and(|v| v.to_str().unwrap_or("").contains("gzip"));
        if gzip {
            w.headers_mut()
                .insert("content-encoding", "gzip".parse().unwrap());
            let _ = w.write_all(GZ);
        } else {
            let _ = w.write_all(b"plain\n");
        }
    });
    let url = srv.url("/z");
    for extra in [&[][..], &["--compressed"]] {
        let mut args = vec!["get"];
        args.extend_from_slice(extra);
        args.push(&url);
        let (code, out, err) = parts(&nethttp(&args));
        assert_eq!(
            (code, out.as_str()),
            (Some(0), "hello, gzip\n"),
            "{extra:?}: {err}"
        );
    }
    // Without Accept-Encoding the server sends it plain.
    let (code, out, _) = parts(&nethttp(&["get", "-H", "Accept-Encoding:", &url]));
    assert_eq!((code, out.as_str()), (Some(0), "plain\n"));
    // -w's size is of the decoded body; -i shows the field the server sent.
    let (_, out, _) = parts(&nethttp(&["get", "-i", "-w", "|%{size_download}", &url]));
    assert!(out.contains("\r\ncontent-encoding: gzip\r\n"), "{out:?}");
    assert!(out.ends_with("\r\n\r\nhello, gzip\n|12"), "{out:?}");
}

#[test]
fn output_files() {
    let dir = TempDir::new("files");
    dir.write("srv/report.csv", b"a,b\n1,2\n");
    let srv = Serve::start(&dir.path().join("srv"), &["--quiet"]);
    let out_dir = TempDir::new("files-out");

    // -o FILE (with -i the head goes to the file too), and -o - for stdout.
    let dest = out_dir.path().join("copy.csv");
    let dest_arg = dest.to_str().unwrap();
    let (code, out, err) = parts(&nethttp(&["get", "-o", dest_arg, &srv.url("report.csv")]));
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    assert_eq!(std::fs::read(&dest).unwrap(), b"a,b\n1,2\n");
    let (code, out, _) = parts(&nethttp(&["get", "-o", "-", &srv.url("report.csv")]));
    assert_eq!((code, out.as_str()), (Some(0), "a,b\n1,2\n"));
    let (code, _, _) = parts(&nethttp(&[
        "get",
        "-i",
        "-o",
        dest_arg,
        &srv.url("report.csv"),
    ]));
    assert_eq!(code, Some(0));
    let saved = std::fs::read_to_string(&dest).unwrap();
    assert!(saved.starts_with("HTTP/1.1 200 OK\r\n") && saved.ends_with("\r\n\r\na,b\n1,2\n"));

    // -O: named after the URL, in the current directory; -w names the file.
    let (code, out, err) = parts(&nethttp_in(
        out_dir.path(),
        &[
            "get",
            "-O",
            "-w",
            "%{filename_effective}",
            &srv.url("report.csv?x=1"),
        ],
    ));
    assert_eq!((code, out.as_str()), (Some(0), "report.csv"), "{err}");
    assert_eq!(
        std::fs::read(out_dir.path().join("report.csv")).unwrap(),
        b"a,b\n1,2\n"
    );

    // --fail: no file is created for an error status.
    let missing = out_dir.path().join("missing.txt");
    let (code, _, _) = parts(&nethttp(&[
        "get",
        "-f",
        "-o",
        missing.to_str().unwrap(),
        &srv.url("missing.txt"),
    ]));
    assert_eq!(code, Some(22));
    assert!(!missing.exists());
}

#[test]
fn write_out_variables() {
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, r: &mut Request| {
        match r.uri.path() {
            "/start" => {
                w.headers_mut().insert("location", "/end".parse().unwrap());
                w.write_header(StatusCode::MOVED_PERMANENTLY);
            }
            _ => {
                w.headers_mut()
                    .insert("content-type", "text/plain".parse().unwrap());
                w.headers_mut().insert("x-n", "7".parse().unwrap());
                let _ = w.write_all(b"twelve bytes");
            }
        }
    });
    let start = srv.url("/start");
    let end = srv.url("/end");
    let port = srv.addr().port();
    let format = "code=%{http_code} size=%{size_download} redirects=%{num_redirects} \
                  type=%{content_type} url=%{url_effective} given=%{url} method=%{method} \
                  version=%{http_version} exit=%{exitcode} ip=%{remote_ip} port=%{remote_port} \
                  x=%header{X-N} 100%%\\n";
    let (code, out, err) = parts(&nethttp(&[
        "get", "-s", "-L", "-o", "-", "-w", format, &start,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "twelve bytescode=200 size=12 redirects=1 type=text/plain url={end} \
             given={start} method=GET version=1.1 exit=0 ip=127.0.0.1 port={port} x=7 100%\n"
        )
    );

    // Not followed: the redirect's own code and where it leads.
    let (_, out, _) = parts(&nethttp(&[
        "get",
        "-w",
        "%{http_code} %{redirect_url} %{num_redirects}",
        &start,
    ]));
    assert_eq!(out, format!("301 {end} 0"));

    // Times: seconds with six decimals, in order, within the total.
    let (_, out, _) = parts(&nethttp(&[
        "get",
        "-w",
        "%{time_namelookup} %{time_connect} %{time_starttransfer} %{time_total}",
        &end,
    ]));
    let times: Vec<f64> = out
        .trim_start_matches("twelve bytes")
        .split(' ')
        .map(|t| t.parse().unwrap_or_else(|_| panic!("{out:?}")))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]) && times[3] > 0.0 && times[3] < 60.0,
        "{out:?}"
    );

    // %{json} holds them all; -w @FILE reads the format.
    let dir = TempDir::new("wout");
    let f = dir.write("fmt", b"%{json}");
    let (_, out, _) = parts(&nethttp(&[
        "get",
        "-o",
        "/dev/null",
        "-w",
        &format!("@{}", f.display()),
        &end,
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["http_code"], 200);
    assert_eq!(v["size_download"], 12);
    assert_eq!(v["content_type"], "text/plain");
    assert_eq!(v["exitcode"], 0);

    // After a failure, -w still writes, with the exit code and the message.
    let (_sock, refused) = support::refusing_port();
    let url = format!("http://127.0.0.1:{refused}/");
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-w",
        "%{http_code} %{exitcode} %{errormsg}\\n",
        &url,
    ]));
    assert_eq!(code, Some(7), "{err}");
    assert_eq!(
        out,
        format!("000 7 connection refused: is a server listening on 127.0.0.1:{refused}?\n")
    );
}

#[test]
fn fail_and_retry() {
    // 503 (with Retry-After: 0, so no wait) for the first `failures` requests, then 200.
    let seen = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(2));
    let (s, f) = (Arc::clone(&seen), Arc::clone(&failures));
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let n = s.fetch_add(1, Ordering::SeqCst);
        if n < f.load(Ordering::SeqCst) {
            w.headers_mut().insert("retry-after", "0".parse().unwrap());
            w.write_header(StatusCode::SERVICE_UNAVAILABLE);
            let _ = w.write_all(b"busy\n");
        } else {
            let _ = w.write_all(b"done\n");
        }
    });
    let url = srv.url("/r");

    let (code, out, err) = parts(&nethttp(&["get", "--retry", "3", &url]));
    assert_eq!((code, out.as_str()), (Some(0), "done\n"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(
        err,
        "nethttp: warning: server answered 503 Service Unavailable; trying again in 0µs (3 retries left)\n\
         nethttp: warning: server answered 503 Service Unavailable; trying again in 0µs (2 retries left)\n"
    );

    // Out of retries: the last answer stands (with --fail, exit 22); -s hides the warnings.
    seen.store(0, Ordering::SeqCst);
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-s",
        "--retry",
        "1",
        "--retry-delay",
        "10ms",
        "--fail",
        &url,
    ]));
    assert_eq!((code, out.as_str()), (Some(22), ""));
    assert_eq!(
        err,
        format!("nethttp: {url}: server answered 503 service unavailable\n")
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    // -w after --fail: the status and the exit code.
    seen.store(0, Ordering::SeqCst);
    let (code, out, _) = parts(&nethttp(&[
        "get",
        "-f",
        "-w",
        "%{http_code} %{exitcode}",
        &url,
    ]));
    assert_eq!((code, out.as_str()), (Some(22), "503 22"));

    // Without --retry, one request.
    seen.store(0, Ordering::SeqCst);
    let (code, out, _) = parts(&nethttp(&["get", &url]));
    assert_eq!((code, out.as_str()), (Some(0), "busy\n"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // A refused connection is tried again only with --retry-connrefused.
    let (_sock, port) = support::refusing_port();
    let refused = format!("http://127.0.0.1:{port}/");
    let (code, _, err) = parts(&nethttp(&["get", "--retry", "2", &refused]));
    assert_eq!(code, Some(7));
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, err) = parts(&nethttp(&[
        "get",
        "--retry",
        "2",
        "--retry-delay",
        "10ms",
        "--retry-connrefused",
        &refused,
    ]));
    assert_eq!(code, Some(7));
    let refusal = format!("connection refused: is a server listening on 127.0.0.1:{port}?");
    assert_eq!(
        err,
        format!(
            "nethttp: warning: {refusal}; trying again in 10.00ms (2 retries left)\n\
             nethttp: warning: {refusal}; trying again in 10.00ms (1 retry left)\n\
             nethttp: {refusal}\n"
        )
    );
}

#[test]
fn timeouts_exit_28() {
    // A handler that answers only when the test ends (or after 10 s).
    // Dropping `release` wakes every handler at once.
    let (release, wait) = std::sync::mpsc::sync_channel::<()>(1);
    let wait = std::sync::Mutex::new(wait);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(10));
        w.write_header(StatusCode::NO_CONTENT);
    });
    for flag in ["--max-time", "--timeout", "-m"] {
        let started = Instant::now();
        let (code, out, err) = parts(&nethttp(&["get", flag, "300ms", &srv.url("/slow")]));
        assert_eq!((code, out.as_str()), (Some(28), ""), "{flag}: {err}");
        assert!(
            err.starts_with("nethttp: timed out awaiting response head after ")
                && err.lines().count() == 1,
            "{flag}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(8), "{flag}");
    }
    drop(release);
}

/// A listener whose accept queue is full drops new SYNs (Linux, without
/// `tcp_abort_on_overflow`), so a connect to it hangs until the connect timeout.
#[cfg(target_os = "linux")]
#[test]
fn connect_timeout_exits_28() {
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    l.bind(&any.into()).unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    // Fill the queue: connect until one connect times out (the queue is then full).
    let mut held = Vec::new();
    let full =
        (0..8).any(
            |_| match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => {
                    held.push(s);
                    false
                }
                Err(_) => true,
            },
        );
    assert!(
        full,
        "the accept queue never filled; cannot test a connect timeout here"
    );

    let started = Instant::now();
    let url = format!("http://{addr}/");
    let out = nethttp(&["get", "--connect-timeout", "300ms", &url]);
    let (code, _, err) = parts(&out);
    assert_eq!(code, Some(28), "{err}");
    assert!(
        err.starts_with(&format!("nethttp: timed out connecting to {addr} after "))
            && err.lines().count() == 1,
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn bad_input_is_one_line_with_curls_exit_code() {
    let srv = echo_server();
    let url = srv.url("/x");
    let root = srv.url("/");
    let dir = TempDir::new("bad");
    let not_pem = dir.write("not.pem", b"hello");
    let missing = dir.path().join("missing");
    let missing_s = missing.display().to_string();
    let at_missing = format!("@{missing_s}");
    let into_missing = missing.join("out").display().to_string();
    let enoent = "No such file or directory (os error 2)";
    let mut cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["get", "http://exa mple/"],
            3,
            "invalid URL \"http://exa mple/\": invalid uri character".into(),
        ),
        (
            vec!["get", "http://"],
            3,
            "invalid URL \"http://\": no host".into(),
        ),
        (
            vec!["get", "http://:80/"],
            3,
            "invalid URL \"http://:80/\": no host".into(),
        ),
        (
            vec!["get", "http://h.invalid:99999/"],
            3,
            "invalid URL \"http://h.invalid:99999/\": the port is not a number from 0 to 65535"
                .into(),
        ),
        (
            vec!["get", "ftp://files.example/a"],
            1,
            format!(
                "unsupported scheme \"ftp\" in \"ftp://files.example/a\": nethttp speaks {}",
                if cfg!(feature = "tls") {
                    "http and https"
                } else {
                    "http only (built without feature tls)"
                }
            ),
        ),
        (
            vec!["get", "-H", "no colon", &url],
            2,
            "invalid header \"no colon\": expected 'Name: value'".into(),
        ),
        (
            vec!["get", "-H", "bad name: v", &url],
            2,
            "invalid header \"bad name: v\": expected 'Name: value'".into(),
        ),
        (
            vec!["get", "-X", "BAD METHOD", &url],
            2,
            "invalid method \"BAD METHOD\"".into(),
        ),
        (
            vec!["get", "--max-time", "soon", &url],
            2,
            "invalid --max-time \"soon\": expected a number and a unit, as 2s".into(),
        ),
        (
            vec!["get", "--max-time", "3 weeks", &url],
            2,
            "invalid --max-time \"3 weeks\": unknown unit \"weeks\": use ms, s, m or h".into(),
        ),
        (
            vec!["get", "--timeout", "0", &url],
            2,
            "invalid --max-time \"0\": must be more than zero (leave it out for no limit)".into(),
        ),
        (
            vec!["get", "--connect-timeout", "-1s", &url],
            2,
            "invalid --connect-timeout \"-1s\": must be more than zero".into(),
        ),
        (
            vec!["get", "-w", "%{http_code} %{nope}", &url],
            2,
            "invalid -w format: unknown variable %{nope}".into(),
        ),
        (
            vec!["get", "-u", "ann", &url],
            2,
            "-u \"ann\": give the password as ann:PASSWORD (nethttp does not prompt)".into(),
        ),
        (
            vec!["get", "-I", "-d", "x", &url],
            2,
            "-I (or -X HEAD) cannot send a body: drop -d, --json or -F".into(),
        ),
        (
            vec!["get", "-d", "x", "-F", "a=b", &url],
            2,
            "-d, --json and -F each make the body: use one of them".into(),
        ),
        (
            vec!["get", "-F", "novalue", &url],
            2,
            "invalid -F \"novalue\": expected NAME=VALUE, NAME=@FILE or NAME=<FILE".into(),
        ),
        (
            vec!["get", "-O", &root],
            23,
            format!("-O: {root} has no file name to save to; use -o FILE"),
        ),
        (
            vec!["get", "-o", &into_missing, &url],
            23,
            format!("cannot create {into_missing}: {enoent}"),
        ),
        (
            vec!["get", "-d", &at_missing, &url],
            26,
            format!("cannot read {missing_s}: {enoent}"),
        ),
    ];
    let form_missing = format!("f=@{missing_s}");
    cases.push((
        vec!["get", "-F", &form_missing, &url],
        26,
        format!("cannot read {missing_s}: {enoent}"),
    ));
    let not_pem_s = not_pem.display().to_string();
    if cfg!(feature = "tls") {
        cases.push((
            vec!["get", "--cacert", &missing_s, &url],
            77,
            format!("cannot use --cacert {missing_s}: {enoent}"),
        ));
        cases.push((
            vec!["get", "--cacert", &not_pem_s, &url],
            77,
            format!("cannot use --cacert {not_pem_s}: no certificate in pem"),
        ));
    }
    for (args, code, line) in &cases {
        let out = nethttp(args);
        let (got, stdout, stderr) = parts(&out);
        assert_eq!(
            (got, stdout.as_str(), stderr.as_str()),
            (Some(*code), "", format!("nethttp: {line}\n").as_str()),
            "{args:?}"
        );
    }
}

#[test]
fn unreachable_and_unresolvable_hosts() {
    let (_sock, port) = support::refusing_port();
    assert_fails(
        &nethttp(&["get", &format!("http://127.0.0.1:{port}/")]),
        7,
        &format!("connection refused: is a server listening on 127.0.0.1:{port}?"),
    );
    // RFC 6761: names under .invalid never resolve, and fail without asking a DNS server.
    let started = Instant::now();
    assert_fails(
        &nethttp(&["get", "http://no-such-host.invalid/"]),
        6,
        "cannot resolve host no-such-host.invalid: names under .invalid never resolve (RFC 6761)",
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn broken_responses() {
    // Closed before a byte: curl's "empty reply" (52).
    let (url, t) = raw_server(b"");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert_fails(
        &nethttp(&["get", &url]),
        52,
        &format!("empty reply from {addr}: the connection closed before a response"),
    );
    t.join().unwrap();

    // A body cut short of its Content-Length (18); what arrived is written.
    let (url, t) = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    let (code, out, err) = parts(&nethttp(&["get", &url]));
    assert_eq!((code, out.as_str()), (Some(18), "only this"), "{err}");
    assert_eq!(
        err,
        "nethttp: connection closed before the body was complete (9 B received)\n"
    );
    t.join().unwrap();

    // Not HTTP: a weird server reply (8).
    let (url, t) = raw_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
    let (code, out, err) = parts(&nethttp(&["get", &url]));
    assert_eq!((code, out.as_str()), (Some(8), ""), "{err}");
    assert!(
        err.starts_with("nethttp: GET ") && err.contains("malformed message"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    t.join().unwrap();

    // A gzip body that is not gzip: bad content encoding (61).
    if !cfg!(feature = "gzip") {
        return;
    }
    let (url, t) = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip",
    );
    let (code, _, err) = parts(&nethttp(&["get", &url]));
    assert_eq!(code, Some(61), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    t.join().unwrap();
}

#[test]
fn redirect_limits_exit_47() {
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut().insert("location", "/loop".parse().unwrap());
        w.write_header(StatusCode::FOUND);
    });
    let url = srv.url("/loop");
    let (code, out, err) = parts(&nethttp(&[
        "get",
        "-L",
        "--max-redirs",
        "3",
        "-w",
        "%{num_redirects}",
        &url,
    ]));
    assert_eq!((code, out.as_str()), (Some(47), "3"), "{err}");
    assert_eq!(
        err,
        format!(
            "nethttp: GET {url}: stopped after too many redirects: at most 3 allowed (--max-redirs)\n"
        )
    );
    // Without -L the redirect is the answer.
    let (code, _, _) = parts(&nethttp(&["get", &url]));
    assert_eq!(code, Some(0));
}

#[cfg(target_os = "linux")]
#[test]
fn write_errors_exit_23() {
    let srv = echo_server();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    // run_bounded pipes stdout; this one goes to /dev/full.
    let mut child = Command::new(BIN)
        .args(["get", &srv.url("/x")])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let mut child = KillOnDrop(child);
    let exited = support::poll_until(RUN_DEADLINE, || matches!(child.0.try_wait(), Ok(Some(_))));
    assert!(exited, "nethttp get overran {RUN_DEADLINE:?}");
    let out = Output {
        status: child.0.wait().unwrap(),
        stdout: Vec::new(),
        stderr: err_t.join().unwrap_or_default(),
    };
    let (code, _, err) = parts(&out);
    assert_eq!(code, Some(23), "{err}");
    assert_eq!(
        err,
        "nethttp: cannot write to stdout: No space left on device (os error 28)\n"
    );
}

/// The progress meter and the summary are drawn only on a terminal: run under script(1),
/// which gives the command a pseudo-terminal.
#[test]
fn progress_meter_and_summary_on_a_terminal() {
    if !support::require_tool("script", Command::new("script").arg("--version")) {
        return;
    }
    let dir = TempDir::new("meter");
    let data = pseudo_random(1 << 20, 7);
    dir.write("srv/big.bin", &data);
    let srv = Serve::start(&dir.path().join("srv"), &["--quiet"]);
    let dest = dir.path().join("copy.bin");
    let on_tty = |extra: &str| {
        let cmd = format!(
            "{BIN} get {extra} -o {} {}",
            dest.display(),
            srv.url("big.bin")
        );
        let out = support::run_bounded(
            Command::new("script").args(["-qec", &cmd, "/dev/null"]),
            RUN_DEADLINE,
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = on_tty("");
    let last = tty
        .rsplit('\r')
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let last = last.trim_start_matches("\u{1b}[2K");
    assert!(
        last.starts_with("1.00 MiB in ")
            && last
                .trim_end()
                .ends_with(&format!("/s) to {}", dest.display())),
        "{tty:?}"
    );
    assert!(tty.contains(" / 1.00 MiB"), "no meter in {tty:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    // -s: nothing.
    assert_eq!(on_tty("-s").trim(), "");
    // With stderr not a terminal (the other tests), nothing either: see output_files.
}

#[cfg(feature = "httptest-tls")]
mod tls {
    use super::*;
    use nethttp::httptest;

    fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
        let _ = write!(w, "hello tls={}", r.is_tls());
    }

    #[test]
    fn private_ca_needs_cacert_or_insecure() {
        let ts = httptest::Server::new_tls(hello);
        let url = format!("{}/", ts.url());
        let target = ts.addr().to_string();
        assert_fails(
            &nethttp(&["get", &url]),
            60,
            &format!(
                "{target}: certificate signed by an unknown authority; use --cacert FILE to \
                 trust a private CA, or -k to skip verification"
            ),
        );
        let dir = TempDir::new("cacert");
        let ca = dir.write("ca.pem", ts.ca_pem().unwrap().as_bytes());
        let ca = ca.to_str().unwrap();
        for args in [vec!["get", "--cacert", ca, &url], vec!["get", "-k", &url]] {
            let (code, out, err) = parts(&nethttp(&args));
            assert_eq!(
                (code, out.as_str()),
                (Some(0), "hello tls=true"),
                "{args:?}: {err}"
            );
        }
        // Plain HTTP to a TLS server's port is not TLS's business: the server answers 400.
        // TLS to a plain server fails the handshake (35).
        let plain = echo_server();
        let https = plain.url("/").replacen("http://", "https://", 1);
        assert_fails(
            &nethttp(&["get", &https]),
            35,
            &format!(
                "tls handshake with {} failed: server gave HTTP response to HTTPS client",
                plain.addr()
            ),
        );
    }

    #[test]
    fn expired_certificate_exits_60() {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 2, 29);
        let leaf = p.signed_by(&key, &ca, &ca_key).unwrap();

        let tls = nethttp::tls::ServerTls::from_pem(
            leaf.pem().as_bytes(),
            key.serialize_pem().as_bytes(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let srv = nethttp::Server::new(hello);
        let s2 = srv.clone();
        let serving = thread::spawn(move || s2.serve_tls(listener, tls));

        let dir = TempDir::new("expired");
        let ca_file = dir.write("ca.pem", ca.pem().as_bytes());
        let url = format!("https://localhost:{port}/");
        let out = nethttp(&["get", "--cacert", ca_file.to_str().unwrap(), &url]);
        let out_k = nethttp(&["get", "-k", &url]);
        let _ = srv.shutdown(Duration::from_secs(5));
        let _ = serving.join();

        assert_fails(
            &out,
            60,
            &format!(
                "localhost:{port}: certificate expired on 2020-02-29 00:00:00 UTC; use -k to \
                 skip verification"
            ),
        );
        assert_eq!(parts(&out_k).1, "hello tls=true");
    }
}
