//! Admission at `max_connections`: a new client is admitted by evicting the longest-idle
//! keep-alive connection; only when every connection is busy with a request does it wait in
//! the kernel's backlog. Raw sockets, small limits.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use nethttp::server::{Config, ConnState, Request, ResponseWriter};

use support::{describe, test_config, wait_until, RawConn, ReadError, TestServer, TEARDOWN};

type StateLog = Arc<Mutex<Vec<(SocketAddr, ConnState)>>>;

fn states_of(log: &StateLog, addr: SocketAddr) -> Vec<ConnState> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(a, _)| *a == addr)
        .map(|(_, s)| *s)
        .collect()
}

/// `cfg` with `max_connections` and a hook recording every state change into the log.
fn logged(max: usize) -> (Config, StateLog) {
    let log: StateLog = Arc::default();
    let l = Arc::clone(&log);
    let cfg = Config {
        max_connections: max,
        conn_state: Some(Arc::new(move |a, s| l.lock().unwrap().push((a, s)))),
        ..test_config()
    };
    (cfg, log)
}

/// Waits until the server has reported `c` idle `n` times: its `n`th response is written and
/// the server waits for its next request.
fn wait_idle(log: &StateLog, c: &RawConn, n: usize) {
    let me = c.local_addr();
    wait_until(TEARDOWN, &format!("{me} idle {n} time(s)"), || {
        let s = states_of(log, me);
        s.last() == Some(&ConnState::Idle)
            && s.iter().filter(|&&s| s == ConnState::Idle).count() == n
    });
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

/// A server whose `/slow/N` handler reports that it started, then waits for gate `N` to be
/// released (at most 5 s) and answers `slow done`; every other path answers `hello`.
fn start_gated(cfg: Config, gates: usize) -> (TestServer, Receiver<()>, Vec<Sender<()>>) {
    let (started_tx, started_rx) = bounded::<()>(16);
    let (release, waits): (Vec<_>, Vec<_>) = (0..gates).map(|_| bounded::<()>(4)).unzip();
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let gate = r.uri.path().strip_prefix("/slow/");
        match gate.and_then(|n| waits.get(n.parse::<usize>().ok()?)) {
            Some(wait) => {
                let _ = started_tx.send(());
                let _ = wait.recv_timeout(Duration::from_secs(5));
                let _ = w.write_all(b"slow done");
            }
            None => {
                let _ = w.write_all(b"hello");
            }
        }
    });
    (srv, started_rx, release)
}

fn started(rx: &Receiver<()>) {
    rx.recv_timeout(Duration::from_secs(2))
        .expect("handler started");
}

/// Opens `n` connections, each with one request answered and then idle at the server, in
/// order: the first is the longest idle.
fn idle_conns(srv: &TestServer, log: &StateLog, n: usize) -> Vec<RawConn> {
    (0..n)
        .map(|_| {
            let mut c = srv.connect();
            c.send(get("/small"));
            assert_eq!(c.read_response().body, b"hello");
            wait_idle(log, &c, 1);
            c
        })
        .collect()
}

#[test]
fn all_slots_idle_a_new_client_evicts_the_longest_idle_and_is_answered_at_once() {
    const MAX: usize = 8;
    let (cfg, log) = logged(MAX);
    let (mut srv, _, _) = start_gated(cfg, 0);
    let mut held = idle_conns(&srv, &log, MAX);
    assert_eq!(srv.server().num_connections(), MAX);

    let t0 = Instant::now();
    let mut newcomer = srv.connect();
    newcomer.send(get("/new"));
    let r = newcomer.read_response();
    let took = t0.elapsed();
    assert_eq!(r.body, b"hello");
    assert!(!r.is_close(), "{}", r.raw_head);
    // Not an idle timeout (5 s here, 120 s by default): at once.
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    eprintln!("at max_connections with every slot idle, a new GET was answered in {took:?}");

    // The longest-idle connection was closed cleanly, as an idle timeout closes one.
    let oldest = held.remove(0);
    let oldest_addr = oldest.local_addr();
    let mut oldest = oldest;
    oldest.expect_closed("longest-idle connection after the eviction");
    wait_until(TEARDOWN, "the evicted connection to report Closed", || {
        states_of(&log, oldest_addr).last() == Some(&ConnState::Closed)
    });
    assert_eq!(
        states_of(&log, oldest_addr),
        vec![
            ConnState::New,
            ConnState::Active,
            ConnState::Idle,
            ConnState::Closed
        ]
    );
    assert_eq!(srv.server().num_evicted(), 1);
    // The evicted connection leaves the table once its thread has closed it.
    let s = srv.server();
    wait_until(TEARDOWN, "MAX connections in the table", || {
        s.num_connections() == MAX
    });

    // The rest are untouched and still served.
    for c in &mut held {
        c.send(get("/again"));
        assert_eq!(c.read_response().body, b"hello");
    }
    assert_eq!(srv.server().num_evicted(), 1);

    // Nothing leaks: every thread ends with the server.
    drop((held, newcomer));
    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
    assert_eq!(srv.server().num_connections(), 0);
}

#[test]
fn evictions_take_the_longest_idle_first_and_never_a_new_connection() {
    const MAX: usize = 5;
    let (mut cfg, log) = logged(MAX);
    cfg.read_header_timeout = Some(Duration::from_secs(10));
    let (mut srv, _, _) = start_gated(cfg, 0);
    // The oldest connection has not sent a byte (state New): never evicted, though it has
    // waited longest. read_header_timeout (3 s here) bounds how long it may stay silent.
    let mut silent = srv.connect();
    let s = srv.server();
    wait_until(TEARDOWN, "the silent connection to be tracked", || {
        s.num_connections() == 1
    });
    let mut idle = idle_conns(&srv, &log, MAX - 1);
    // Connection 0 serves another request, so it is now the most recently idle; connection 1
    // has been idle longest, then 2.
    idle[0].send(get("/again"));
    assert_eq!(idle[0].read_response().body, b"hello");
    wait_idle(&log, &idle[0], 2);

    let mut newcomers = Vec::new();
    for (n, want_evicted) in [(1, 1), (2, 2)] {
        let mut newcomer = srv.connect();
        newcomer.send(get("/new"));
        assert_eq!(newcomer.read_response().body, b"hello");
        idle[want_evicted].expect_closed(&format!("idle connection {want_evicted}"));
        assert_eq!(srv.server().num_evicted(), n);
        // The newcomer stays, idle now and the most recent: the next eviction takes the next
        // oldest of the first ones.
        wait_idle(&log, &newcomer, 1);
        newcomers.push(newcomer);
    }
    // Connections 0 and 3, and the silent one, were left alone.
    for i in [0, 3] {
        idle[i].send(get("/still"));
        assert_eq!(idle[i].read_response().body, b"hello", "connection {i}");
    }
    silent.send(get("/late-first"));
    assert_eq!(silent.read_response().body, b"hello");
    assert_eq!(srv.server().num_evicted(), 2);
    drop((idle, silent, newcomers));
    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
}

#[test]
fn all_slots_busy_a_new_client_waits_until_one_finishes_its_request() {
    const MAX: usize = 4;
    let (cfg, log) = logged(MAX);
    let (mut srv, start, gate) = start_gated(cfg, MAX);
    // Three handlers blocked until released...
    let mut busy: Vec<RawConn> = (0..MAX - 1)
        .map(|i| {
            let mut c = srv.connect();
            c.send(get(&format!("/slow/{i}")));
            started(&start);
            c
        })
        .collect();
    // ...and one connection partway through its request head (Active from its first byte).
    let mut reading = srv.connect();
    reading.send(b"GET /small HTTP/1.1\r\n");
    let me = reading.local_addr();
    wait_until(
        TEARDOWN,
        "the partial head to make its connection active",
        || states_of(&log, me).last() == Some(&ConnState::Active),
    );

    // The newcomer's TCP handshake completes (the kernel's backlog), but it is not served.
    let mut newcomer = RawConn::try_connect(srv.addr()).expect("TCP connect at the limit");
    newcomer.send(get("/new"));
    newcomer.expect_silent(
        Duration::from_millis(400),
        "new client while every connection is busy",
    );
    assert_eq!(srv.server().num_connections(), MAX);
    assert_eq!(srv.server().num_evicted(), 0);

    // The connection reading its head finishes it and is answered: it was never evicted
    // mid-request. Then it is idle, so the waiting newcomer is admitted by evicting it.
    reading.send(b"Host: a\r\n\r\n");
    let r = reading.read_response();
    assert_eq!(r.body, b"hello");
    assert!(!r.is_close(), "{}", r.raw_head);
    let r = newcomer.read_response();
    assert_eq!(r.body, b"hello");
    reading.expect_closed("the connection evicted once idle");
    assert_eq!(srv.server().num_evicted(), 1);

    // The blocked handlers were never touched: each answers in full when released.
    for (i, c) in busy.iter_mut().enumerate() {
        gate[i].send(()).unwrap();
        let r = c.read_response();
        assert_eq!(r.body, b"slow done");
        assert!(!r.is_close(), "{}", r.raw_head);
    }

    // All busy again; a second newcomer waits until one connection closes after its request.
    busy[0].send(b"GET /slow/0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    started(&start);
    for (i, c) in busy.iter_mut().enumerate().skip(1) {
        c.send(get(&format!("/slow/{i}")));
        started(&start);
    }
    newcomer.send(get("/slow/3"));
    started(&start);
    assert_eq!(srv.server().num_connections(), MAX);
    let mut second = RawConn::try_connect(srv.addr()).expect("TCP connect at the limit");
    second.send(get("/second"));
    second.expect_silent(Duration::from_millis(300), "second new client, all busy");
    gate[0].send(()).unwrap();
    let r = busy[0].read_response();
    assert!(r.is_close(), "{}", r.raw_head);
    busy[0].expect_closed("after Connection: close");
    assert_eq!(second.read_response().body, b"hello");
    assert_eq!(srv.server().num_evicted(), 1);
    for (i, c) in busy
        .iter_mut()
        .enumerate()
        .skip(1)
        .chain([(3, &mut newcomer)])
    {
        gate[i].send(()).unwrap();
        assert_eq!(c.read_response().body, b"slow done", "gate {i}");
    }

    drop((busy, newcomer, second));
    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
    assert_eq!(srv.server().num_connections(), 0);
}

/// Keep-alive clients outnumbering the limit, each sending requests back to back and
/// reconnecting when closed: connections are evicted all the time, often just as their next
/// request arrives. An eviction may only ever close a connection between requests: a request
/// is either answered in full or meets a connection closed before any byte of an answer (the
/// keep-alive race a client retries), and then no handler ran for it.
#[test]
fn evictions_under_churn_never_cut_a_request_short() {
    const MAX: usize = 3;
    const CLIENTS: usize = 6;
    const REQUESTS: usize = 60;
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    let cfg = Config {
        max_connections: MAX,
        ..test_config()
    };
    let mut srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        h.fetch_add(1, Ordering::SeqCst);
        let _ = w.write_all(b"hello");
    });
    let addr = srv.addr();
    let deadline = Instant::now() + Duration::from_secs(20);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || -> Result<(usize, usize), String> {
                let (mut answered, mut refused) = (0, 0);
                let mut conn: Option<RawConn> = None;
                while answered < REQUESTS && Instant::now() < deadline {
                    let c = match &mut conn {
                        Some(c) => c,
                        None => conn.insert(RawConn::try_connect(addr).map_err(|e| e.to_string())?),
                    };
                    if c.try_send(get("/")).is_err() {
                        conn = None;
                        continue;
                    }
                    match c.try_read_response("GET") {
                        Ok(r) if r.body == b"hello" => answered += 1,
                        Ok(r) => return Err(format!("bad response {}: {:?}", r.status, r.text())),
                        Err(ReadError::Closed { .. }) => {
                            refused += 1;
                            conn = None;
                        }
                        Err(e) => return Err(describe(&e)),
                    }
                }
                Ok((answered, refused))
            })
        })
        .collect();
    let (mut answered, mut refused) = (0, 0);
    for c in clients {
        match c.join().expect("client thread") {
            Ok((a, r)) => {
                answered += a;
                refused += r;
            }
            Err(e) => panic!("a request was cut short: {e}"),
        }
    }
    let evicted = srv.server().num_evicted();
    eprintln!(
        "churn: {answered} answered, {refused} met an evicted connection, {evicted} evictions"
    );
    assert_eq!(answered, CLIENTS * REQUESTS, "clients ran out of time");
    assert!(evicted > 0, "no eviction happened");
    assert!(
        refused as u64 <= evicted,
        "{refused} refusals, {evicted} evictions"
    );
    // Every handler call was answered in full: none ran for a request its client saw refused.
    assert_eq!(handled.load(Ordering::SeqCst), answered);
    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
    srv.join_serve();
    srv.wait_no_threads();
    assert_eq!(srv.server().num_connections(), 0);
}

/// A request pipelined behind another arrived while that one was served: after the first
/// response the connection does not wait for anything, so an eviction must not take it and
/// drop that request. Here the hook holds the connection's thread at its `Idle` report (where
/// the state word used to say `Idle` too) for up to a second, while a newcomer waits at the
/// limit: the accept loop, which re-checks every 250 ms, must find nothing to evict, and both
/// pipelined requests are answered before the newcomer is admitted.
#[test]
fn a_pipelined_request_already_read_is_not_lost_to_an_eviction() {
    let held = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (newcomer_tx, newcomer_rx) = bounded::<()>(1);
    let hold = Arc::clone(&held);
    let cfg = Config {
        max_connections: 1,
        conn_state: Some(Arc::new(move |_, s| {
            if s == ConnState::Idle && hold.swap(false, Ordering::SeqCst) {
                // Released at once if the newcomer is served meanwhile (that is, the
                // pipelining connection was evicted); the bound is the test's window.
                let _ = newcomer_rx.recv_timeout(Duration::from_secs(1));
            }
        })),
        ..test_config()
    };
    let (started_tx, started_rx) = bounded::<()>(1);
    let (release_tx, release_rx) = bounded::<()>(1);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    let srv = TestServer::start(cfg, move |w: &mut dyn ResponseWriter, r: &mut Request| {
        h.fetch_add(1, Ordering::SeqCst);
        match r.uri.path() {
            "/slow" => {
                let _ = started_tx.send(());
                let _ = release_rx.recv_timeout(TEARDOWN);
            }
            "/newcomer" => {
                let _ = newcomer_tx.try_send(());
            }
            _ => {}
        }
        let _ = w.write_all(r.uri.path().as_bytes());
    });
    let mut p = srv.connect();
    p.send([get("/slow"), get("/second")].concat());
    started_rx
        .recv_timeout(TEARDOWN)
        .expect("the first handler");
    // The one slot is busy: the newcomer waits in the backlog.
    let mut n = srv.connect();
    n.send(get("/newcomer"));
    held.store(true, Ordering::SeqCst);
    release_tx.send(()).unwrap();
    assert_eq!(p.read_response().text(), "/slow");
    let second = p.try_read_response("GET").map_err(|e| describe(&e));
    assert_eq!(
        second.map(|r| r.text()),
        Ok("/second".to_string()),
        "the pipelined request was dropped"
    );
    // Idle now with nothing buffered: evicted for the newcomer.
    assert_eq!(n.read_response().text(), "/newcomer");
    assert_eq!(handled.load(Ordering::SeqCst), 3);
    assert_eq!(srv.server().num_evicted(), 1);
}

/// A server with `max` slots (0: no limit) and a connection that has been answered once and
/// then sent a CRLF (RFC 9112 §2.2: some clients send one after a body), which is no request:
/// the connection waits idle behind it.
fn idle_behind_a_crlf(max: usize) -> (TestServer, RawConn) {
    let (cfg, log) = logged(max);
    let srv = TestServer::start(cfg, |w: &mut dyn ResponseWriter, r: &mut Request| {
        let _ = w.write_all(r.uri.path().as_bytes());
    });
    let mut a = srv.connect();
    a.send([get("/a"), b"\r\n".to_vec()].concat());
    assert_eq!(a.read_response().text(), "/a");
    wait_idle(&log, &a, 1);
    (srv, a)
}

/// A newcomer at the limit evicts a connection idle behind a stray CRLF at once.
#[test]
fn an_idle_connection_with_a_stray_crlf_is_evicted() {
    let (srv, _a) = idle_behind_a_crlf(1);
    let mut b = srv.connect();
    b.send(get("/b"));
    let answered = b.try_read_response("GET").map_err(|e| describe(&e));
    assert_eq!(answered.map(|r| r.text()), Ok("/b".to_string()));
    assert_eq!(srv.server().num_evicted(), 1);
}

/// A graceful shutdown closes a connection idle behind a stray CRLF at once, not waited for.
#[test]
fn an_idle_connection_with_a_stray_crlf_does_not_hold_up_shutdown() {
    let (srv, _a) = idle_behind_a_crlf(0);
    assert!(srv.server().shutdown(Duration::from_secs(3)).is_ok());
}
