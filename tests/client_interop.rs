//! Client interop tests against independent servers: a real nginx (static files, `return`,
//! HEAD, 404, chunked and 100-continue uploads through WebDAV PUT, `keepalive_requests` and
//! `keepalive_timeout` closing connections) and Python's httpbin under gunicorn.
//!
//! Both run as child processes (`tests/peers`) on 127.0.0.1 with a free port and are killed on
//! `Drop`. When a tool is missing the test prints `skipped: <tool> not installed` and passes,
//! unless `CI=true`, where it fails (`.ci/install-peers` installs both).

mod client_support;
mod peers;

use std::time::{Duration, Instant};

use client_support::*;
use nethttp::client::{Client, Transport, TransportConfig};
use nethttp::error::TimeoutPhase;
use nethttp::server::Body;
use nethttp::{Method, StatusCode};
use peers::*;

const BUDGET: Duration = Duration::from_secs(120);

fn client_for(t: &Transport) -> Client {
    Client::with_transport(t.clone())
}

#[test]
fn nginx_static_file_with_keep_alive() {
    let _wd = Watchdog::new("nginx_static_file_with_keep_alive", BUDGET);
    let Some(ng) = Nginx::start() else { return };
    let t = Transport::new();
    let c = client_for(&t);
    let want = pattern(200 << 10);
    for i in 0..4 {
        let ev = Events::new();
        let mut resp = c
            .send(get_traced(&ng.url("/static.bin"), ev.trace()))
            .unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.headers["content-length"], "204800");
        assert!(resp.headers["server"]
            .to_str()
            .unwrap()
            .starts_with("nginx"));
        assert!(resp.bytes().unwrap() == want, "request {i}: body differs");
        assert_eq!(ev.got_conn().reused, i > 0, "request {i}");
        assert_eq!(ev.put_idles(), vec![None]);
    }
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn nginx_return_head_and_404_on_one_connection() {
    let _wd = Watchdog::new("nginx_return_head_and_404_on_one_connection", BUDGET);
    let Some(ng) = Nginx::start() else { return };
    let t = Transport::new();
    let c = client_for(&t);
    let ev = Events::new();
    let send = |method: Method, path: &str| {
        let mut r = request(method, &ng.url(path));
        nethttp::client::RequestOptions::of_mut(&mut r).trace = ev.trace();
        c.send(r).unwrap()
    };
    let mut ok = send(Method::GET, "/ok");
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(text(&mut ok), "ok\n");

    let mut head = send(Method::HEAD, "/hello.txt");
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-length"], "17");
    assert_eq!(text(&mut head), "", "HEAD has no body");

    let mut missing = send(Method::GET, "/missing.txt");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(text(&mut missing).contains("404 Not Found"));

    let mut hello = send(Method::GET, "/hello.txt");
    assert_eq!(text(&mut hello), "hello from nginx\n");

    let reused: Vec<bool> = ev.got_conns().iter().map(|i| i.reused).collect();
    assert_eq!(reused, [false, true, true, true], "all on one connection");
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn nginx_uploads_chunked_sized_and_with_100_continue() {
    let _wd = Watchdog::new("nginx_uploads_chunked_sized_and_with_100_continue", BUDGET);
    let Some(ng) = Nginx::start() else { return };
    let t = Transport::with_config(TransportConfig {
        expect_continue_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = client_for(&t);
    let data = pattern(300 << 10);
    type MakeBody = Box<dyn Fn(Vec<u8>) -> Body>;
    // (name, body, Expect: 100-continue)
    let cases: Vec<(&str, MakeBody, bool)> = vec![
        (
            "chunked",
            Box::new(|d| Body::from_reader(std::io::Cursor::new(d))),
            false,
        ),
        ("content_length", Box::new(Body::from), false),
        (
            "chunked_expect_continue",
            Box::new(|d| Body::from_reader(std::io::Cursor::new(d))),
            true,
        ),
    ];
    for (name, make, expect) in cases {
        let path = format!("/dav/{name}/upload.bin");
        let ev = Events::new();
        let mut put = request(Method::PUT, &ng.url(&path)).with_body(make(data.clone()));
        if expect {
            put = put.with_header("Expect", "100-continue").unwrap();
        }
        nethttp::client::RequestOptions::of_mut(&mut put).set_timeout(REQ_TIMEOUT);
        nethttp::client::RequestOptions::of_mut(&mut put).trace = ev.trace();
        let start = Instant::now();
        let mut resp = c.send(put).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(resp.status, StatusCode::CREATED, "{name}");
        resp.bytes().unwrap();
        assert_eq!(ev.saw(&Ev::Got100), expect, "{name}: {:?}", ev.all());
        assert!(start.elapsed() < Duration::from_secs(4), "{name}");
        // nginx wrote what it read: the file and a GET of it match what was sent.
        let on_disk = std::fs::read(ng.www().join(path.trim_start_matches('/'))).unwrap();
        assert!(on_disk == data, "{name}: stored file differs");
        let mut back = c.send(request(Method::GET, &ng.url(&path))).unwrap();
        assert!(back.bytes().unwrap() == data, "{name}: GET differs");
    }
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn nginx_keepalive_requests_limit_closes_and_the_client_redials() {
    let _wd = Watchdog::new(
        "nginx_keepalive_requests_limit_closes_and_the_client_redials",
        BUDGET,
    );
    let Some(ng) = Nginx::start() else { return };
    let t = Transport::new();
    let c = client_for(&t);
    let ev = Events::new();
    for _ in 0..6 {
        let mut r = c
            .send(get_traced(&ng.url("/limited/"), ev.trace()))
            .unwrap();
        assert_eq!(text(&mut r), "limited\n");
    }
    let reused: Vec<bool> = ev.got_conns().iter().map(|i| i.reused).collect();
    // The third response on each connection says Connection: close.
    assert_eq!(reused, [false, true, true, false, true, true]);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn nginx_closing_an_idle_connection() {
    let _wd = Watchdog::new("nginx_closing_an_idle_connection", BUDGET);
    let Some(ng) = Nginx::start() else { return };
    let t = Transport::new();
    let c = client_for(&t);
    let mut r = c
        .send(request(Method::GET, &ng.url("/short-idle/")))
        .unwrap();
    assert_eq!(text(&mut r), "short\n");
    assert_eq!(t.stats().idle, 1);
    eventually("nginx's idle close to reach the pool", || {
        t.stats().open == 0
    });
    let ev = Events::new();
    let mut r = c.send(get_traced(&ng.url("/ok"), ev.trace())).unwrap();
    assert_eq!(text(&mut r), "ok\n");
    assert!(!ev.got_conn().reused);
    drop(c);
    assert_no_leaks(&t);
}

/// Removes all whitespace, so JSON can be matched whatever its indentation.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

type Case = fn(&Httpbin, &Client, &Transport);

fn hb_get(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut r = request(Method::GET, &hb.url("/get?x=1"))
        .with_header("X-Test", "yes")
        .unwrap();
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(REQ_TIMEOUT);
    let mut resp = c.send(r).unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-type"], "application/json");
    let body = squash(&text(&mut resp));
    assert!(body.contains(r#""X-Test":"yes""#), "{body}");
    assert!(body.contains(r#""x":"1""#), "{body}");
    let ua = format!(r#""User-Agent":"nethttp/{}""#, env!("CARGO_PKG_VERSION"));
    assert!(body.contains(&ua), "{body}");
}

fn hb_post_json(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut resp = c
        .post(
            &hb.url("/post"),
            "application/json",
            r#"{"hello": "world", "n": 3}"#,
        )
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    let body = squash(&text(&mut resp));
    assert!(body.contains(r#""json":{"hello":"world","n":3}"#), "{body}");
    assert!(body.contains(r#""Content-Length":"26""#), "{body}");
}

fn hb_post_chunked(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut r = request(Method::POST, &hb.url("/post")).with_body(Body::from_reader(
        std::io::Cursor::new(b"streamed without a length".to_vec()),
    ));
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(REQ_TIMEOUT);
    let mut resp = c.send(r).unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    let body = squash(&text(&mut resp));
    assert!(
        body.contains(r#""data":"streamedwithoutalength""#),
        "{body}"
    );
}

fn hb_status_418(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut resp = c.get(&hb.url("/status/418")).unwrap();
    assert_eq!(resp.status.as_u16(), 418);
    assert!(text(&mut resp).contains("teapot"));
}

fn hb_stream_chunked(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut resp = c.get(&hb.url("/stream/5")).unwrap();
    assert_eq!(resp.headers["transfer-encoding"], "chunked");
    let body = text(&mut resp);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 5, "{body}");
    for (i, line) in lines.iter().enumerate() {
        assert!(squash(line).contains(&format!(r#""id":{i}"#)), "{line}");
    }
    assert!(
        resp.trailers().is_none_or(|t| t.is_empty()),
        "no trailers were sent: {:?}",
        resp.trailers()
    );
}

fn hb_bytes(hb: &Httpbin, c: &Client, _t: &Transport) {
    for n in [0usize, 1, 12345, 100_000] {
        let mut resp = c.get(&hb.url(&format!("/bytes/{n}"))).unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.bytes().unwrap().len(), n, "/bytes/{n}");
    }
}

fn hb_response_headers(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut resp = c
        .get(&hb.url("/response-headers?X-Custom=abc&X-Other=d%20e"))
        .unwrap();
    assert_eq!(resp.headers["x-custom"], "abc");
    assert_eq!(resp.headers["x-other"], "d e");
    text(&mut resp);
}

fn hb_keep_alive(hb: &Httpbin, c: &Client, t: &Transport) {
    t.close_idle_connections();
    let ev = Events::new();
    for _ in 0..3 {
        let mut r = c.send(get_traced(&hb.url("/get"), ev.trace())).unwrap();
        text(&mut r);
    }
    let reused: Vec<bool> = ev.got_conns().iter().map(|i| i.reused).collect();
    assert_eq!(reused, [false, true, true]);
}

fn hb_delay_times_out_in_read_response_head(hb: &Httpbin, c: &Client, _t: &Transport) {
    let mut r = request(Method::GET, &hb.url("/delay/1"));
    nethttp::client::RequestOptions::of_mut(&mut r).set_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = c.send(r).unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(TimeoutPhase::ReadResponseHead),
        "{err:?}"
    );
    assert!(err.to_string().contains("awaiting response head"), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn httpbin_under_gunicorn() {
    let _wd = Watchdog::new("httpbin_under_gunicorn", BUDGET);
    let Some(hb) = Httpbin::start() else { return };
    let t = Transport::new();
    let c = client_for(&t);
    let cases: &[(&str, Case)] = &[
        ("get", hb_get),
        ("post_json", hb_post_json),
        ("post_chunked", hb_post_chunked),
        ("status_418", hb_status_418),
        ("stream_chunked", hb_stream_chunked),
        ("bytes", hb_bytes),
        ("response_headers", hb_response_headers),
        ("keep_alive", hb_keep_alive),
        ("delay_times_out", hb_delay_times_out_in_read_response_head),
    ];
    // Every case runs against the one gunicorn; failures are collected and reported together.
    let mut failed = Vec::new();
    for (name, case) in cases {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&hb, &c, &t)));
        if r.is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed httpbin cases: {failed:?}");
    drop(c);
    assert_no_leaks(&t);
}
