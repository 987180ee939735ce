//! Leak check at the OS level, in a test binary of its own so no other test's threads are
//! counted: after a mixed workload, dropping every `Client`, `Transport` and response — with
//! no `close_idle_connections()` — must leave no client reader, writer or dial thread alive
//! (Go's tests check for leftover `readLoop` goroutines the same way).

mod client_support;

use std::io::{Read, Write};
use std::time::Duration;

use client_support::*;
use nethttp::client::{CancelToken, Client, Transport};
use nethttp::{HeaderValue, Method, Request, ResponseWriter, StatusCode};

/// The client's threads alive in this process, by name (`nethttp-read`, `-write`, `-dial`).
#[cfg(target_os = "linux")]
fn client_threads() -> Vec<String> {
    let mut names = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return names;
    };
    for t in tasks.flatten() {
        if let Ok(name) = std::fs::read_to_string(t.path().join("comm")) {
            let name = name.trim().to_string();
            if ["nethttp-read", "nethttp-write", "nethttp-dial"].contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names
}

#[cfg(target_os = "linux")]
#[test]
fn no_client_threads_left_after_dropping_everything() {
    let _wd = Watchdog::new(
        "no_client_threads_left_after_dropping_everything",
        Duration::from_secs(60),
    );
    let srv = TestServer::start(|w: &mut dyn ResponseWriter, r: &mut Request| {
        match r.uri.path() {
            "/big" => {
                for _ in 0..64 {
                    if w.write_all(&[b'x'; 16 << 10]).is_err() {
                        return;
                    }
                }
            }
            "/slow" => {
                std::thread::sleep(Duration::from_millis(500)); // a slow handler
                let _ = w.write_all(b"late");
            }
            "/upgrade" => {
                w.headers_mut()
                    .insert("upgrade", HeaderValue::from_static("echo"));
                w.headers_mut()
                    .insert("connection", HeaderValue::from_static("Upgrade"));
                w.write_header(StatusCode::SWITCHING_PROTOCOLS);
                if let Ok(mut h) = w.hijack() {
                    let mut b = [0u8; 16];
                    let _ = h.stream().set_read_timeout(Some(Duration::from_secs(5)));
                    while let Ok(n @ 1..) = h.read(&mut b) {
                        let _ = h.write_all(&b[..n]);
                    }
                }
            }
            _ => {
                let _ = w.write_all(b"ok");
            }
        }
    });
    {
        let t = Transport::new();
        let c = Client::with_transport(t.clone());
        // Idle pooled connections.
        let held: Vec<_> = (0..3)
            .map(|_| c.send(request(Method::GET, &srv.url("/ok"))).unwrap())
            .collect();
        for mut r in held {
            r.text().unwrap();
        }
        // A body dropped early.
        let mut early = c.send(request(Method::GET, &srv.url("/big"))).unwrap();
        let mut some = [0u8; 10];
        early.body().read_exact(&mut some).unwrap();
        drop(early);
        // A response still unread when everything is dropped.
        let unread = c.send(request(Method::GET, &srv.url("/big"))).unwrap();
        // A timed-out and a canceled request.
        let mut slow = request(Method::GET, &srv.url("/slow"));
        nethttp::client::RequestOptions::of_mut(&mut slow).set_timeout(Duration::from_millis(100));
        assert!(c.send(slow).unwrap_err().is_timeout());
        let token = CancelToken::new();
        token.cancel();
        let mut canceled = request(Method::GET, &srv.url("/ok"));
        nethttp::client::RequestOptions::of_mut(&mut canceled).cancel = Some(token);
        assert!(c.send(canceled).unwrap_err().is_canceled());
        // An upgraded connection, used and dropped.
        let mut up = request(Method::GET, &srv.url("/upgrade"))
            .with_header("Upgrade", "echo")
            .unwrap();
        nethttp::client::RequestOptions::of_mut(&mut up).set_timeout(REQ_TIMEOUT);
        let mut resp = c.send(up).unwrap();
        let mut conn = resp.upgrade().unwrap();
        conn.write_all(b"hi").unwrap();
        let mut two = [0u8; 2];
        conn.read_exact(&mut two).unwrap();
        assert!(!client_threads().is_empty());
        drop((c, t, unread, resp, conn));
    }
    let left = wait_until(Duration::from_secs(5), || client_threads().is_empty());
    assert!(left, "client threads left: {:?}", client_threads());
}
