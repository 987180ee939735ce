//! Connection and server lifecycle over raw sockets: hijacking as Docker uses it, graceful
//! shutdown, close, the conn_state hook, the thread cache, and servers sharing a port
//! (`SO_REUSEPORT`). The connection limit is in `server_admission.rs`; restarts of the
//! `nethttp` binary under load in `many_instances.rs`.

mod raw;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use nethttp::error::TimeoutPhase;
use nethttp::server::{ConnState, Request, ResponseWriter};
use nethttp::{ErrorKind, HeaderValue, StatusCode};

use support::{
    describe, nethttp_kind, poll_until, roundtrip, test_config, wait_until, Calls, RawConn,
    ReadError, TestServer, TEARDOWN,
};

type StateLog = Arc<Mutex<Vec<(SocketAddr, ConnState)>>>;

fn states_of(log: &StateLog, addr: SocketAddr) -> Vec<ConnState> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(a, _)| *a == addr)
        .map(|(_, s)| *s)
        .collect()
}

/// How the `/attach` handler starts the raw stream.
#[derive(Debug, Clone, Copy)]
enum Upgrade {
    /// `write_header(101)` through the writer, then `hijack()`: the server sends the head.
    ServerHead,
    /// `hijack()` first, then the 101 head written raw on the socket, as Docker's daemon does.
    RawHead,
}

/// A server whose `/attach-*` handlers switch protocols and then, on the raw socket, greet,
/// echo every byte upper-cased until the client half-closes, and say `bye`. What the
/// `ResponseWriter` does after the hijack is recorded in `calls`.
fn start_attach(cfg: nethttp::server::Config) -> (TestServer, Calls) {
    let calls = Calls::default();
    let c = calls.clone();
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let mode = match r.uri.path() {
            "/attach-server-head" => Upgrade::ServerHead,
            "/attach-raw-head" => Upgrade::RawHead,
            _ => {
                let _ = w.write_all(b"hello");
                return;
            }
        };
        if let Upgrade::ServerHead = mode {
            w.headers_mut()
                .insert("upgrade", HeaderValue::from_static("tcp"));
            w.headers_mut()
                .insert("connection", HeaderValue::from_static("Upgrade"));
            w.write_header(StatusCode::SWITCHING_PROTOCOLS);
        }
        let mut conn = match w.hijack() {
            Ok(conn) => conn,
            Err(e) => {
                c.push(format!("hijack failed: {e}"));
                return;
            }
        };
        c.push(format!(
            "after hijack: write {:?}, flush {:?}, hijack {:?}",
            w.write(b"x").map_err(|e| nethttp_kind(&e)),
            w.flush().map_err(|e| nethttp_kind(&e)),
            w.hijack().map(|_| ()).map_err(|e| e.kind()),
        ));
        if let Upgrade::RawHead = mode {
            let _ = conn.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                  Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            );
        }
        let _ = conn.write_all(b"server-hello\n");
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if conn.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = conn.write_all(b"bye\n");
    });
    (srv, calls)
}

#[test]
fn hijack_streams_raw_bytes_both_ways_as_docker_does() {
    for mode in [Upgrade::ServerHead, Upgrade::RawHead] {
        let log: StateLog = Arc::default();
        let mut cfg = test_config();
        let l = Arc::clone(&log);
        cfg.conn_state = Some(Arc::new(move |a, s| l.lock().unwrap().push((a, s))));
        let (mut srv, calls) = start_attach(cfg);
        let path = match mode {
            Upgrade::ServerHead => "/attach-server-head",
            Upgrade::RawHead => "/attach-raw-head",
        };
        let mut c = srv.connect();
        // The first stream bytes travel in the same write as the request head.
        c.send(format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nearly-bytes\n"
        ));
        let head = c.read_response_for("POST");
        assert_eq!(head.status, 101, "{mode:?}: {}", head.raw_head);
        assert_eq!(head.header("upgrade"), Some("tcp"), "{mode:?}");
        assert!(
            head.connection_has("upgrade"),
            "{mode:?}: {}",
            head.raw_head
        );
        assert!(
            !head.connection_has("close"),
            "{mode:?}: a 101 must not say close: {}",
            head.raw_head
        );
        assert_eq!(c.read_raw(13), b"server-hello\n", "{mode:?}");
        assert_eq!(c.read_raw(12), b"EARLY-BYTES\n", "{mode:?}");
        c.send(b"more\n");
        assert_eq!(c.read_raw(5), b"MORE\n", "{mode:?}");

        // The server let go of the connection.
        let me = c.local_addr();
        assert_eq!(
            states_of(&log, me),
            vec![ConnState::New, ConnState::Active, ConnState::Hijacked],
            "{mode:?}"
        );
        assert_eq!(srv.server().num_connections(), 0, "{mode:?}");
        assert_eq!(
            calls.list(),
            vec![format!(
                "after hijack: write Err(Some({:?})), flush Err(Some({:?})), hijack Err({:?})",
                ErrorKind::Hijacked,
                ErrorKind::Hijacked,
                ErrorKind::Hijacked
            )],
            "{mode:?}"
        );

        // Shutdown does not wait for it, nor touch it.
        let t0 = Instant::now();
        let r = srv.server().shutdown(Duration::from_secs(3));
        assert!(r.is_ok(), "{mode:?}: {r:?}");
        assert!(t0.elapsed() < Duration::from_secs(1), "{mode:?}");
        srv.join_serve();
        c.send(b"after shutdown\n");
        assert_eq!(c.read_raw(15), b"AFTER SHUTDOWN\n", "{mode:?}");

        // The client half-closes; the handler says bye and returns, freeing its thread.
        c.shutdown_write();
        assert_eq!(c.read_raw(4), b"bye\n", "{mode:?}");
        c.expect_closed("after bye");
        srv.wait_no_threads();
        assert!(
            !states_of(&log, me).contains(&ConnState::Closed),
            "{mode:?}"
        );
    }
}

/// A server whose `/slow` handler reports that it started, waits to be released, then
/// answers `slow done`; `/stream` sends a first chunk before waiting.
fn start_gated(cfg: nethttp::server::Config) -> (TestServer, Receiver<()>, Sender<()>) {
    let listener = nethttp::net::listen("127.0.0.1:0").expect("listen");
    start_gated_on(cfg, listener)
}

/// [`start_gated`] on a listener the test made.
fn start_gated_on(
    cfg: nethttp::server::Config,
    listener: TcpListener,
) -> (TestServer, Receiver<()>, Sender<()>) {
    let (started_tx, started_rx) = bounded::<()>(8);
    let (release_tx, release_rx) = bounded::<()>(8);
    let srv = TestServer::on_listener(
        cfg,
        listener,
        move |w: &mut dyn ResponseWriter, r: &mut Request| match r.uri.path() {
            "/slow" => {
                let _ = started_tx.send(());
                let _ = release_rx.recv_timeout(Duration::from_secs(5));
                let _ = w.write_all(b"slow done");
            }
            "/stream" => {
                let _ = w.write_all(b"part one;");
                let _ = w.flush();
                let _ = started_tx.send(());
                let _ = release_rx.recv_timeout(Duration::from_secs(5));
                let _ = w.write_all(b"part two");
            }
            _ => {
                let _ = w.write_all(b"hello");
            }
        },
    );
    (srv, started_rx, release_tx)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

#[test]
fn shutdown_closes_idle_connections_and_lets_active_requests_finish() {
    let (mut srv, started, release) = start_gated(test_config());
    let addr = srv.addr();
    let mut idle = srv.connect();
    idle.send(get("/small"));
    assert!(!idle.read_response().is_close());
    let mut active = srv.connect();
    active.send(get("/slow"));
    started
        .recv_timeout(Duration::from_secs(2))
        .expect("handler started");
    // Connected, not a byte sent yet (state New).
    let mut fresh = srv.connect();
    let s = srv.server();
    wait_until(TEARDOWN, "three connections", || s.num_connections() == 3);

    // From another thread, as a signal handler would.
    let s = srv.server().clone();
    let shutdown = thread::spawn(move || s.shutdown(Duration::from_secs(5)));

    // The idle connection is closed at once, with nothing sent on it.
    idle.expect_closed("idle connection at shutdown");
    // The new one has shutdown_new_conn_grace (5 s, as Go) to send its first request, which
    // is served with `Connection: close`: it may have been on its way when shutdown began.
    fresh.send(get("/small"));
    let r = fresh.read_response();
    assert_eq!(r.status, 200);
    assert!(r.is_close(), "{}", r.raw_head);
    fresh.expect_closed("new connection after its one response");
    // New connections are refused once serve() has returned.
    srv.join_serve();
    assert!(
        RawConn::try_connect(addr).is_err(),
        "accepted after shutdown"
    );
    // The active request is still running, so shutdown is still waiting.
    assert!(
        !shutdown.is_finished(),
        "shutdown returned with a request active"
    );

    release.send(()).unwrap();
    let r = active.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"slow done");
    assert!(r.is_close(), "{}", r.raw_head);
    active.expect_closed("active connection after its response");

    wait_until(TEARDOWN, "shutdown to return", || shutdown.is_finished());
    let result = shutdown.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    srv.wait_no_threads();
    assert_eq!(srv.server().num_connections(), 0);
}

#[test]
fn shutdown_closes_a_silent_new_connection_after_its_grace() {
    let mut cfg = test_config();
    cfg.shutdown_new_conn_grace = Duration::from_secs(1);
    // Only the grace may close it (not the head timeout).
    cfg.read_header_timeout = None;
    let (srv, _started, _release) = start_gated(cfg);
    let mut silent = srv.connect();
    let s = srv.server();
    wait_until(TEARDOWN, "the connection to be tracked", || {
        s.num_connections() == 1
    });
    let s = srv.server().clone();
    let shutdown = thread::spawn(move || s.shutdown(Duration::from_secs(10)));
    // Not closed at once (the grace is far longer than this window)...
    silent.expect_silent(
        Duration::from_millis(200),
        "new connection during its grace",
    );
    // ...but once the grace is over, as an idle one.
    silent.expect_closed("new connection after its grace");
    wait_until(TEARDOWN, "shutdown to return", || shutdown.is_finished());
    let result = shutdown.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn shutdown_with_no_grace_closes_new_connections_at_once() {
    let mut cfg = test_config();
    cfg.shutdown_new_conn_grace = Duration::ZERO;
    let (srv, _started, _release) = start_gated(cfg);
    let mut fresh = srv.connect();
    let s = srv.server();
    wait_until(TEARDOWN, "the connection to be tracked", || {
        s.num_connections() == 1
    });
    let s = srv.server().clone();
    let shutdown = thread::spawn(move || s.shutdown(Duration::from_secs(10)));
    fresh.expect_closed("new connection at shutdown");
    wait_until(TEARDOWN, "shutdown to return", || shutdown.is_finished());
    assert!(shutdown.join().unwrap().is_ok());
}

#[test]
fn shutdown_reports_its_timeout_and_the_request_still_finishes() {
    let (mut srv, started, release) = start_gated(test_config());
    let mut active = srv.connect();
    active.send(get("/slow"));
    started
        .recv_timeout(Duration::from_secs(2))
        .expect("handler started");
    let t0 = Instant::now();
    let err = srv
        .server()
        .shutdown(Duration::from_millis(200))
        .expect_err("shutdown must time out while a handler runs");
    let took = t0.elapsed();
    assert_eq!(err.timeout_phase(), Some(TimeoutPhase::Shutdown), "{err:?}");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    release.send(()).unwrap();
    let r = active.read_response();
    assert_eq!(r.body, b"slow done");
    assert!(r.is_close());
    active.expect_closed("after the late response");
    // A second shutdown now finds nothing left.
    assert!(srv.server().shutdown(Duration::from_secs(2)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
}

#[test]
fn close_cuts_every_connection_now() {
    let (mut srv, started, release) = start_gated(test_config());
    let mut idle = srv.connect();
    idle.send(get("/small"));
    idle.read_response();
    let mut active = srv.connect();
    active.send(get("/stream"));
    started
        .recv_timeout(Duration::from_secs(2))
        .expect("handler started");

    let s = srv.server().clone();
    thread::spawn(move || s.close()).join().unwrap();

    // The streaming response is cut off while its handler is still blocked.
    match active.try_read_response("GET") {
        Err(ReadError::Truncated { got, .. }) => {
            let text = String::from_utf8_lossy(&got);
            assert!(text.contains("part one;"), "{text}");
            assert!(!text.contains("part two"), "{text}");
        }
        other => panic!(
            "want a cut-off response, got {:?}",
            other.map(|r| r.raw_head).map_err(|e| describe(&e))
        ),
    }
    idle.expect_closed("idle connection at close");
    srv.join_serve();
    release.send(()).unwrap();
    srv.wait_no_threads();
}

#[test]
fn conn_state_hook_sees_every_state() {
    let log: StateLog = Arc::default();
    let mut cfg = test_config();
    let l = Arc::clone(&log);
    cfg.conn_state = Some(Arc::new(move |a, s| l.lock().unwrap().push((a, s))));
    let (srv, _) = start_attach(cfg);

    // Keep-alive, two requests, closed by the client.
    let mut c = srv.connect();
    let me = c.local_addr();
    for _ in 0..2 {
        c.send(get("/small"));
        c.read_response();
    }
    drop(c);
    wait_until(TEARDOWN, "Closed", || {
        states_of(&log, me).last() == Some(&ConnState::Closed)
    });
    assert_eq!(
        states_of(&log, me),
        vec![
            ConnState::New,
            ConnState::Active,
            ConnState::Idle,
            ConnState::Active,
            ConnState::Idle,
            ConnState::Closed
        ]
    );

    // Closed by the server after `Connection: close`.
    let mut c = srv.connect();
    let me = c.local_addr();
    c.send(b"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    c.read_response();
    c.expect_closed("after Connection: close");
    wait_until(TEARDOWN, "Closed", || {
        states_of(&log, me).last() == Some(&ConnState::Closed)
    });
    assert_eq!(
        states_of(&log, me),
        vec![ConnState::New, ConnState::Active, ConnState::Closed]
    );

    // Hijacked: the last state the server reports.
    let mut c = srv.connect();
    let me = c.local_addr();
    c.send(b"GET /attach-raw-head HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.read_response_for("GET").status, 101);
    assert_eq!(c.read_raw(13), b"server-hello\n");
    c.shutdown_write();
    assert_eq!(c.read_raw(4), b"bye\n");
    c.expect_closed("after bye");
    assert_eq!(
        states_of(&log, me),
        vec![ConnState::New, ConnState::Active, ConnState::Hijacked]
    );
}

/// One short-lived connection: a request with `Connection: close`, its answer, the close.
fn one_shot(addr: SocketAddr) {
    let mut c = RawConn::connect(addr);
    c.send(b"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response().body, b"hello");
    c.expect_closed("one-shot connection");
}

#[test]
fn thread_cache_stays_bounded_under_churn_and_empties_after_shutdown() {
    let (mut srv, _, _) = start_gated(test_config());
    let addr = srv.addr();
    let mut most = 0;
    for _ in 0..150 {
        one_shot(addr);
        most = most.max(srv.server().num_threads());
    }
    assert!(
        most <= 4,
        "sequential churn grew the thread cache to {most}"
    );
    // Concurrent churn: bounded by the concurrency, not by the number of connections.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let s = srv.server().clone();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut most = 0;
            while !done.load(Ordering::SeqCst) {
                most = most.max(s.num_threads());
                thread::sleep(Duration::from_millis(1));
            }
            most
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || (0..40).for_each(|_| one_shot(addr))))
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let most = sampler.join().unwrap();
    assert!(
        most <= 12,
        "4 concurrent clients grew the thread cache to {most}"
    );
    assert!(srv.server().num_threads() >= 1, "no thread was cached");

    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
}

#[test]
fn cached_threads_retire_after_thread_idle_timeout() {
    let mut cfg = test_config();
    cfg.thread_idle_timeout = Duration::from_millis(100);
    let (srv, _, _) = start_gated(cfg);
    for _ in 0..5 {
        one_shot(srv.addr());
    }
    // Still serving, but every thread has retired.
    assert!(
        poll_until(TEARDOWN, || srv.server().num_threads() == 0),
        "{} threads still cached",
        srv.server().num_threads()
    );
    one_shot(srv.addr());
}

// ---------------------------------------------------------------------------------------------
// Servers sharing a port (SO_REUSEPORT, Linux)

/// A listener on a free loopback port that other listeners may share.
#[cfg(target_os = "linux")]
fn shared_listener(addr: &str) -> TcpListener {
    nethttp::net::ListenConfig { reuse_port: true }
        .listen(addr)
        .expect("listen with SO_REUSEPORT")
}

/// Answers every request with `name`.
fn named(name: &'static str) -> impl nethttp::server::Handler {
    move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        let _ = w.write_all(name.as_bytes());
    }
}

#[cfg(target_os = "linux")]
#[test]
fn servers_with_reuse_port_share_one_address_and_both_accept() {
    use nethttp::server::{Config, Server};

    let a = TestServer::on_listener(test_config(), shared_listener("127.0.0.1:0"), named("a"));
    let addr = a.addr();
    // The second binds the same address itself, through `Config::reuse_port`.
    let b = Server::with_config(
        Config {
            addr: addr.to_string(),
            reuse_port: true,
            ..test_config()
        },
        named("b"),
    );
    let serving = b.clone();
    let b_serve = thread::spawn(move || serving.listen_and_serve());

    // The kernel picks a listener by a hash of the client's address and port, so a few new
    // connections reach both (until b has bound, all reach a).
    let mut seen = [0u32; 2];
    let both = poll_until(TEARDOWN, || {
        let r = roundtrip(addr, "GET", get("/"));
        assert_eq!(r.status, 200);
        match r.body.as_slice() {
            b"a" => seen[0] += 1,
            b"b" => seen[1] += 1,
            other => panic!("answered by {:?}", String::from_utf8_lossy(other)),
        }
        seen[0] > 0 && seen[1] > 0
    });
    assert!(
        both,
        "connections reached a {} and b {} times; b's serve: {}",
        seen[0],
        seen[1],
        if b_serve.is_finished() {
            format!("{:?}", b_serve.join().unwrap())
        } else {
            "running".into()
        }
    );

    // Once b has shut down, and so closed its listener, a takes every connection.
    assert!(b.shutdown(TEARDOWN).is_ok());
    let served = b_serve.join().unwrap();
    assert!(served.is_ok(), "{served:?}");
    for _ in 0..20 {
        assert_eq!(roundtrip(addr, "GET", get("/")).body, b"a");
    }
}

/// Connections the kernel completed on a shared port's listener, but the server had not yet
/// accepted, are reset when the listener closes (`inet_csk_listen_stop`): a shutdown accepts
/// and serves them first.
#[cfg(target_os = "linux")]
#[test]
fn shutdown_serves_the_connections_queued_on_a_shared_port() {
    // One connection at a time, held busy: the next ones wait in the accept queue.
    let mut cfg = test_config();
    cfg.max_connections = 1;
    let (mut srv, started, release) = start_gated_on(cfg, shared_listener("127.0.0.1:0"));
    let addr = srv.addr();
    let mut busy = srv.connect();
    busy.send(get("/slow"));
    started
        .recv_timeout(Duration::from_secs(2))
        .expect("handler started");
    let mut queued: Vec<RawConn> = (0..8)
        .map(|_| {
            let mut c = srv.connect();
            c.send(get("/small"));
            c
        })
        .collect();
    assert_eq!(srv.server().num_connections(), 1, "accepted past the limit");

    let s = srv.server().clone();
    let shutdown = thread::spawn(move || s.shutdown(Duration::from_secs(5)));
    for (i, c) in queued.iter_mut().enumerate() {
        let r = c
            .try_read_response("GET")
            .unwrap_or_else(|e| panic!("queued connection {i}: {}", describe(&e)));
        assert_eq!((r.status, r.text().as_str()), (200, "hello"), "queued {i}");
        // Closed after its response: with `Connection: close` if the listener was closed by
        // then, else as an idle connection once it is.
        c.expect_closed(&format!("queued {i} after its response"));
    }
    srv.join_serve();
    assert!(
        RawConn::try_connect(addr).is_err(),
        "accepted after shutdown"
    );

    release.send(()).unwrap();
    let r = busy.read_response();
    assert_eq!(r.body, b"slow done");
    assert!(r.is_close(), "{}", r.raw_head);
    wait_until(TEARDOWN, "shutdown to return", || shutdown.is_finished());
    let result = shutdown.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    srv.wait_no_threads();
}

/// A client whose idle connection a shutdown closes reconnects at once. The listeners are
/// closed first, as Go's `Shutdown` closes them, so that reconnect never lands in this
/// server's accept queue (which the close would reset); with a shared port it reaches
/// another server.
#[test]
fn shutdown_closes_idle_connections_only_after_its_listeners() {
    let listeners: Vec<(&str, TcpListener)> = vec![
        (
            "own port",
            nethttp::net::listen("127.0.0.1:0").expect("listen"),
        ),
        #[cfg(target_os = "linux")]
        ("shared port", shared_listener("127.0.0.1:0")),
    ];
    for (kind, listener) in listeners {
        let mut srv = TestServer::on_listener(test_config(), listener, named("a"));
        let addr = srv.addr();
        let mut idle = srv.connect();
        idle.send(get("/"));
        assert!(!idle.read_response().is_close(), "{kind}");
        let s = srv.server().clone();
        let shutdown = thread::spawn(move || s.shutdown(Duration::from_secs(5)));
        idle.expect_closed(kind);
        assert!(
            RawConn::try_connect(addr).is_err(),
            "{kind}: the listener still accepted once the idle connection was closed"
        );
        wait_until(TEARDOWN, "shutdown to return", || shutdown.is_finished());
        assert!(shutdown.join().unwrap().is_ok(), "{kind}");
        srv.join_serve();
    }
}

/// A response write cut off under its handler (`Server::close` shuts the connection down, so
/// the next write fails with EPIPE) raises no SIGPIPE: std's vectored write (`writev`) would,
/// killing a program that keeps SIGPIPE's default action (a C host, a CLI that restored it);
/// the crate's socket writes carry `MSG_NOSIGNAL`.
#[cfg(target_os = "linux")]
#[test]
fn a_response_write_cut_off_raises_no_sigpipe() {
    // Inherited by the server's threads, which this thread starts.
    raw::block_sigpipe();
    let (tx, rx) = bounded(1);
    let (release_tx, release_rx) = bounded::<()>(1);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut()
            .insert("content-length", (64u64 << 20).into());
        let chunk = vec![b'x'; 64 << 10];
        let mut r = Ok(());
        for _ in 0..1024 {
            if let Err(e) = w.write_all(&chunk) {
                r = Err(e.to_string());
                break;
            }
        }
        let _ = tx.send(r);
        // Alive until the test has looked: a thread's pending signals end with it.
        let _ = release_rx.recv_timeout(Duration::from_secs(20));
    });
    let _c = raw::get_and_stall_after_the_head(srv.addr());
    // The client reads no more: the handler's writes fill the socket buffers and block.
    srv.server().close();
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the handler's writes ended");
    assert!(r.is_err(), "{r:?}");
    let pending = raw::sigpipe_pending();
    let _ = release_tx.send(());
    assert!(
        pending.is_empty(),
        "the response write ({r:?}) raised SIGPIPE, which kills a process whose SIGPIPE \
         action is the default:\n{}",
        pending.join("\n")
    );
}
