//! `httputil::ReverseProxy` between real peers: curl and Python's `requests` as clients,
//! nginx and httpbin (under gunicorn) as upstreams. The proxy runs in process; the peers run
//! as child processes (`tests/peers`) on 127.0.0.1 and are killed on `Drop`. A missing peer
//! prints `skipped: ...` past the harness's capture, or fails under `CI=true`.

mod peers;
mod support;

use std::process::Command;
use std::time::Duration;

use nethttp::httputil::{ProxyRequest, ReverseProxy};
use nethttp::Uri;
use peers::{Httpbin, Nginx, TempDir};
use support::{require_tool, run_bounded, TestServer};

const RUN: Duration = Duration::from_secs(30);

fn proxy_to(upstream: &str) -> TestServer {
    let target: Uri = upstream.parse().unwrap();
    TestServer::with_handler(ReverseProxy {
        rewrite: Some(Box::new(move |pr: &mut ProxyRequest<'_>| {
            pr.set_url(&target);
            pr.set_x_forwarded();
        })),
        ..ReverseProxy::default()
    })
}

fn curl(args: &[&str]) -> (bool, String, String) {
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args),
        RUN,
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_through_the_proxy_to_nginx() {
    if !require_tool("curl", Command::new("curl").arg("--version")) {
        return;
    }
    let Some(nginx) = Nginx::start() else { return };
    let proxy = proxy_to(&nginx.url(""));

    // A static file, twice on one connection (keep-alive both sides).
    let url = proxy.url("/hello.txt");
    let (ok, out, err) = curl(&[&url, &url]);
    assert!(ok, "{err}");
    assert_eq!(out, "hello from nginx\nhello from nginx\n");

    // A 200 KiB file whose bytes must arrive intact, and nginx's 404.
    let (ok, out, err) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        &proxy.url("/static.bin"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, format!("200 {}", 200 << 10));
    let (ok, out, _) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &proxy.url("/missing"),
    ]);
    assert!(ok);
    assert_eq!(out, "404");

    // A chunked upload (curl -T - streams stdin) through the proxy into nginx's WebDAV PUT,
    // then read back directly from nginx.
    let dir = TempDir::new("proxy-upload");
    let src = dir.0.join("up.bin");
    let data = peers::pattern(300 << 10);
    std::fs::write(&src, &data).unwrap();
    let out = run_bounded(
        Command::new("sh").args([
            "-c",
            &format!(
                "curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}' -T - {} < {}",
                proxy.url("/dav/up.bin"),
                src.display()
            ),
        ]),
        RUN,
    );
    let code = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(code.as_ref(), "201" | "204"),
        "PUT answered {code}"
    );
    assert_eq!(std::fs::read(nginx.www().join("dav/up.bin")).unwrap(), data);
}

#[test]
fn python_requests_through_the_proxy_to_httpbin() {
    if !require_tool(
        "python3 requests",
        Command::new("python3").args(["-c", "import requests"]),
    ) {
        return;
    }
    let Some(hb) = Httpbin::start() else { return };
    let proxy = proxy_to(&hb.url(""));
    let script = r#"
import json, sys, requests
base = sys.argv[1]
s = requests.Session()
# show_env: httpbin hides the X-Forwarded-* fields without it.
r = s.post(base + "/anything/x?q=1&show_env=1", data=b"payload", headers={"X-Test": "yes"}, timeout=10)
j = r.json()
print(r.status_code)
print(j["method"], j["url"].split("/", 3)[3], j["data"])
h = {k.lower(): v for k, v in j["headers"].items()}
print(h.get("x-test"), h.get("x-forwarded-for"), h.get("x-forwarded-proto"))
def gen():
    yield b"chunk-one,"
    yield b"chunk-two"
r = s.put(base + "/anything", data=gen(), timeout=10)
print(r.status_code, r.json()["data"])
r = s.get(base + "/status/418", timeout=10)
print(r.status_code)
"#;
    let out = run_bounded(
        Command::new("python3").args(["-c", script, &proxy.url("")]),
        RUN,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "200",
            "POST anything/x?q=1&show_env=1 payload",
            "yes 127.0.0.1 http",
            "200 chunk-one,chunk-two",
            "418"
        ],
        "{text}"
    );
}
