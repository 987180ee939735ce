//! Interop with real, independently written clients: curl, Python's `http.client` and
//! `requests`, and wrk for a bounded load burst.
//!
//! The peers are installed by `.ci/install-peers`. A missing peer fails the test under
//! `CI=true` and is otherwise skipped with a note. Every peer process runs under a deadline
//! and is killed if it overruns.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nethttp::server::{Request, ResponseWriter};
use nethttp::StatusCode;

use support::{require_tool, run_bounded, Calls, TestServer};

/// How long any one peer invocation may run.
const PEER_DEADLINE: Duration = Duration::from_secs(30);

/// `/port`: the client's port (to tell whether requests shared a connection); `/echo`: the
/// request body, recording how it was framed; `/reject`: 413 without reading the body.
fn start() -> (TestServer, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        match r.uri.path() {
            "/port" => {
                let port = r.remote_addr().map_or(0, |a| a.port());
                let _ = writeln!(w, "port={port}");
            }
            "/echo" => {
                let (te, expect) = (header("transfer-encoding"), header("expect"));
                match r.body().read_to_vec(16 << 20) {
                    Ok(body) => {
                        c.push(format!("echo te={te} expect={expect} len={}", body.len()));
                        let _ = w.write_all(&body);
                    }
                    Err(e) => {
                        c.push(format!("echo error: {e}"));
                        w.write_header(StatusCode::BAD_REQUEST);
                    }
                }
            }
            "/reject" => {
                c.push(format!("reject expect={}", header("expect")));
                w.write_header(StatusCode::PAYLOAD_TOO_LARGE);
                let _ = w.write_all(b"too large\n");
            }
            _ => {
                let _ = w.write_all(b"hello\n");
            }
        }
    });
    (srv, calls)
}

/// A file under the temp directory that is removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("nethttp-interop-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn curl_arg(&self) -> String {
        format!("@{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn have_curl() -> bool {
    require_tool("curl", Command::new("curl").arg("--version"))
}

fn curl(args: &[&str]) -> (Vec<u8>, String) {
    let out = run_bounded(
        Command::new("curl").args(["--max-time", "20"]).args(args),
        PEER_DEADLINE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "curl {args:?} failed: {stderr}");
    (out.stdout, stderr)
}

#[test]
fn curl_keep_alive_reuses_the_connection() {
    if !have_curl() {
        return;
    }
    let (srv, _) = start();
    let url = srv.url("/port");
    let (out, err) = curl(&["-sv", &url, &url, &url]);
    let out = String::from_utf8(out).unwrap();
    let ports: Vec<&str> = out.lines().collect();
    assert_eq!(ports.len(), 3, "{out}");
    assert!(ports.iter().all(|p| *p == ports[0]), "{out}");
    assert!(err.contains("Re-using existing connection"), "{err}");
    assert!(err.contains("left intact"), "{err}");
    assert!(!err.contains("Closing connection"), "{err}");
}

#[test]
fn curl_chunked_upload() {
    if !have_curl() {
        return;
    }
    let (srv, calls) = start();
    let body = pattern(200 << 10);
    let file = TempFile::new("chunked", &body);
    let (out, err) = curl(&[
        "-sv",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &file.curl_arg(),
        &srv.url("/echo"),
    ]);
    assert!(out == body, "echoed {} bytes; curl said: {err}", out.len());
    assert!(
        calls
            .list()
            .iter()
            .any(|c| c.starts_with("echo te=chunked") && c.ends_with("len=204800")),
        "{:?}",
        calls.list()
    );
}

#[test]
fn curl_expect_continue_on_a_large_upload() {
    if !have_curl() {
        return;
    }
    let (srv, calls) = start();
    // Large enough that curl sends `Expect: 100-continue` on its own (over 1 KiB before curl
    // 8.7, over 1 MiB since).
    let body = pattern(1536 << 10);
    let file = TempFile::new("expect", &body);
    let (out, err) = curl(&["-sv", "--data-binary", &file.curl_arg(), &srv.url("/echo")]);
    assert!(out == body, "echoed {} bytes; curl said: {err}", out.len());
    assert!(err.contains("> Expect: 100-continue"), "{err}");
    assert!(err.contains("< HTTP/1.1 100 Continue"), "{err}");
    assert!(
        calls
            .list()
            .contains(&"echo te=- expect=100-continue len=1572864".to_string()),
        "{:?}",
        calls.list()
    );

    // Refused without reading: no 100, the final status at once, and the connection closes.
    let small = TempFile::new("expect-refused", &pattern(64 << 10));
    let (out, err) = curl(&[
        "-sv",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &small.curl_arg(),
        &srv.url("/reject"),
    ]);
    assert_eq!(out, b"too large\n", "{err}");
    assert!(err.contains("< HTTP/1.1 413 Payload Too Large"), "{err}");
    assert!(!err.contains("100 Continue"), "{err}");
    assert!(err.contains("< Connection: close"), "{err}");
}

fn have_python() -> bool {
    require_tool(
        "python3",
        Command::new("python3").args(["-c", "import http.client"]),
    )
}

fn python(script: &str, port: u16) -> KeyValues {
    let out = run_bounded(
        Command::new("python3").args(["-c", script, &port.to_string()]),
        PEER_DEADLINE,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    KeyValues(stdout.trim().to_string())
}

/// What a Python script printed: one line of `key=value` pairs.
struct KeyValues(String);

impl KeyValues {
    fn get(&self, key: &str) -> &str {
        self.0
            .split(' ')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {key} in {:?}", self.0))
    }
}

const HTTP_CLIENT_SCRIPT: &str = r#"
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ports = []
def get_port():
    c.request("GET", "/port")
    r = c.getresponse()
    assert r.status == 200, r.status
    ports.append(r.read().decode().strip())
get_port()
get_port()
want = b"".join(bytes([97 + i % 26]) * 1024 for i in range(100))
def gen():
    for i in range(100):
        yield bytes([97 + i % 26]) * 1024
# An iterable body without a length goes out chunked.
c.request("POST", "/echo", body=gen())
r = c.getresponse()
body = r.read()
get_port()
print("status=%d echo_ok=%s ports=%s" % (r.status, body == want, ",".join(ports)))
"#;

#[test]
fn python_http_client_keep_alive_and_chunked_post() {
    if !have_python() {
        return;
    }
    let (srv, calls) = start();
    let out = python(HTTP_CLIENT_SCRIPT, srv.addr().port());
    assert_eq!(out.get("status"), "200");
    assert_eq!(out.get("echo_ok"), "True");
    let ports: Vec<&str> = out.get("ports").split(',').collect();
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    assert!(
        calls
            .list()
            .contains(&"echo te=chunked expect=- len=102400".to_string()),
        "{:?}",
        calls.list()
    );
}

const REQUESTS_SCRIPT: &str = r#"
import requests, sys
port = int(sys.argv[1])
base = "http://127.0.0.1:%d" % port
s = requests.Session()
ports = []
for _ in range(2):
    r = s.get(base + "/port", timeout=10)
    r.raise_for_status()
    ports.append(r.text.strip())
want = b"".join(bytes([97 + i % 26]) * 1024 for i in range(100))
def gen():
    for i in range(100):
        yield bytes([97 + i % 26]) * 1024
r = s.post(base + "/echo", data=gen(), timeout=10)
echo_ok = r.content == want
r2 = s.get(base + "/port", timeout=10)
ports.append(r2.text.strip())
print("status=%d echo_ok=%s ports=%s" % (r.status_code, echo_ok, ",".join(ports)))
"#;

#[test]
fn python_requests_keep_alive_and_chunked_post() {
    if !require_tool(
        "python3 requests",
        Command::new("python3").args(["-c", "import requests"]),
    ) {
        return;
    }
    let (srv, calls) = start();
    let out = python(REQUESTS_SCRIPT, srv.addr().port());
    assert_eq!(out.get("status"), "200");
    assert_eq!(out.get("echo_ok"), "True");
    let ports: Vec<&str> = out.get("ports").split(',').collect();
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    assert!(
        calls
            .list()
            .contains(&"echo te=chunked expect=- len=102400".to_string()),
        "{:?}",
        calls.list()
    );
}

#[test]
fn wrk_burst_has_no_errors() {
    if !require_tool("wrk", Command::new("sh").args(["-c", "command -v wrk"])) {
        return;
    }
    let (srv, _) = start();
    let out = run_bounded(
        Command::new("wrk").args(["-t2", "-c32", "-d2s", "--timeout", "2s", &srv.url("/")]),
        PEER_DEADLINE,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    assert!(requests > 0, "{text}");
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    eprintln!("wrk: {requests} requests in 2 s, no errors");
}
