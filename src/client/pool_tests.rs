//! Tests of the connection pool and each connection's reader and writer threads, run over an
//! in-memory duplex pipe instead of sockets: a scripted server on the test's thread answers
//! requests on the far ends of the pipes the transport dials.
//!
//! Every wait is bounded: test-side waits by `WAIT`, each request by its deadline. Conditions
//! that settle on other threads (`Transport::stats`) are polled, never slept for.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use http::Method;
use parking_lot::{Condvar, Mutex};

use super::trace::{ClientTrace, GotConnInfo};
use super::transport::{PoolStats, Transport, TransportConfig};
use super::{Proxy, RequestOptions, Response, RoundTripper};
use crate::error::Result;
use crate::net::{Dial, Stream, Target};
use crate::Request;

/// How long the test side waits for anything (a dial, a head, a condition) before it fails.
const WAIT: Duration = Duration::from_secs(2);

/// Each request's own deadline, so no caller thread outlives a failed test by much.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How long one wait of a pipe read with no timeout lasts before it looks again; it only
/// bounds each condition-variable wait (data and shutdowns notify at once).
const UNTIMED_READ_SLICE: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------
// The pipe
// ---------------------------------------------------------------------------------------

/// One direction of a pipe: bytes written by one end and read by the other.
#[derive(Debug, Default)]
struct Direction {
    state: Mutex<DirectionState>,
    /// Notified when bytes arrive or either end shuts this direction down.
    changed: Condvar,
}

/// The bytes in flight in one direction and who has shut it down.
#[derive(Debug, Default)]
struct DirectionState {
    bytes: VecDeque<u8>,
    /// The writing end shut down its write side (or was dropped): reads drain, then see EOF.
    write_shut: bool,
    /// The reading end shut down its read side (or was dropped): its reads return 0 and
    /// writes to it fail with `BrokenPipe`.
    read_shut: bool,
}

/// One end of an in-memory duplex pipe: a [`Stream`] whose reads block until bytes arrive,
/// the read timeout passes (`WouldBlock`) or a shutdown on either end wakes them. Writes never
/// block. Dropping an end shuts both of its directions, as closing a socket does.
#[derive(Debug)]
struct PipeEnd {
    incoming: Arc<Direction>,
    outgoing: Arc<Direction>,
    read_timeout: Mutex<Option<Duration>>,
}

/// A connected pair of pipe ends.
fn pipe() -> (PipeEnd, PipeEnd) {
    let a_to_b = Arc::new(Direction::default());
    let b_to_a = Arc::new(Direction::default());
    let a = PipeEnd {
        incoming: Arc::clone(&b_to_a),
        outgoing: Arc::clone(&a_to_b),
        read_timeout: Mutex::new(None),
    };
    let b = PipeEnd {
        incoming: a_to_b,
        outgoing: b_to_a,
        read_timeout: Mutex::new(None),
    };
    (a, b)
}

impl PipeEnd {
    /// Appends every slice at once, as one segment on the wire.
    fn push(&self, bufs: &[&[u8]]) -> io::Result<usize> {
        let mut st = self.outgoing.state.lock();
        if st.write_shut || st.read_shut {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut n = 0;
        for b in bufs {
            st.bytes.extend(b.iter());
            n += b.len();
        }
        drop(st);
        self.outgoing.changed.notify_all();
        Ok(n)
    }
}

impl Stream for PipeEnd {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let until = self.read_timeout.lock().map(|d| Instant::now() + d);
        let mut st = self.incoming.state.lock();
        loop {
            if st.read_shut {
                return Ok(0);
            }
            if !st.bytes.is_empty() {
                let n = buf.len().min(st.bytes.len());
                for (dst, src) in buf.iter_mut().zip(st.bytes.drain(..n)) {
                    *dst = src;
                }
                return Ok(n);
            }
            if st.write_shut {
                return Ok(0);
            }
            match until {
                Some(until) => {
                    if Instant::now() >= until {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    self.incoming.changed.wait_until(&mut st, until);
                }
                None => {
                    self.incoming.changed.wait_for(&mut st, UNTIMED_READ_SLICE);
                }
            }
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.push(&[buf])
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let parts: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.push(&parts)
    }

    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        if d == Some(Duration::ZERO) {
            // As std's sockets: a zero timeout is an error, not "block forever".
            return Err(io::ErrorKind::InvalidInput.into());
        }
        *self.read_timeout.lock() = d;
        Ok(())
    }

    fn set_write_timeout(&self, _d: Option<Duration>) -> io::Result<()> {
        // Writes never block: the pipe's buffer has no limit.
        Ok(())
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.incoming.state.lock().read_shut = true;
            self.incoming.changed.notify_all();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.outgoing.state.lock().write_shut = true;
            self.outgoing.changed.notify_all();
        }
        Ok(())
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------
// The dialer and the scripted server
// ---------------------------------------------------------------------------------------

/// A [`Dial`] that hands the transport one end of a new pipe and the test the other (as a
/// [`ServerConn`] on a channel), and records every dial. Like `TcpDialer`, it reports the dial
/// on the trace it is given (`dns_start` with the host), so a test can tell whose hooks a dial
/// ran with.
#[derive(Debug, Clone)]
struct PipeDialer {
    accepted: Sender<ServerConn>,
    log: Arc<Mutex<Vec<DialRecord>>>,
}

/// What one dial was asked for.
#[derive(Debug, Clone)]
struct DialRecord {
    host: String,
    deadline: Option<Instant>,
}

impl Dial for PipeDialer {
    fn dial(
        &self,
        target: &Target,
        deadline: Option<Instant>,
        trace: &ClientTrace,
    ) -> Result<Box<dyn Stream>> {
        trace.dns_start(&target.host);
        let (client, server) = pipe();
        self.log.lock().push(DialRecord {
            host: target.host.clone(),
            deadline,
        });
        let _ = self.accepted.send(ServerConn {
            end: server,
            host: target.host.clone(),
            unread: Vec::new(),
        });
        Ok(Box::new(client))
    }
}

/// The test's side of one dialled connection: reads request heads and writes canned bytes.
#[derive(Debug)]
struct ServerConn {
    end: PipeEnd,
    /// The host the client dialled.
    host: String,
    /// Bytes read past the last head.
    unread: Vec<u8>,
}

impl ServerConn {
    /// Reads bytes into `unread`; `Ok(0)` at EOF, `Err` if nothing came by `until`.
    fn fill(&mut self, until: Instant) -> io::Result<usize> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.end.set_read_timeout(Some(left))?;
        let mut buf = [0u8; 4096];
        let n = self.end.read(&mut buf)?;
        self.unread.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Reads one request head (through its `\r\n\r\n`) and returns its request line.
    #[track_caller]
    fn read_head(&mut self) -> String {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.unread.drain(..i + 4).collect();
                let head = String::from_utf8(head).expect("request head is not UTF-8");
                return head.lines().next().unwrap_or_default().to_string();
            }
            match self.fill(until) {
                Ok(0) => panic!("{}: connection closed before a request head", self.host),
                Ok(_) => {}
                Err(e) => panic!("{}: no request head within {WAIT:?}: {e}", self.host),
            }
        }
    }

    /// Writes `bytes` to the client.
    #[track_caller]
    fn write(&self, bytes: &str) {
        if let Err(e) = self.end.write(bytes.as_bytes()) {
            panic!("{}: write failed: {e}", self.host);
        }
    }

    /// Reads a request head and answers it with `200 OK` and `body`; returns the request line.
    #[track_caller]
    fn answer(&mut self, body: &str) -> String {
        let line = self.read_head();
        self.write(&ok(body));
        line
    }

    /// True once the client has closed the connection (EOF or an error), false if it is
    /// still open after `WAIT`. Bytes that arrive meanwhile are kept.
    fn closed_by_client(&mut self) -> bool {
        let until = Instant::now() + WAIT;
        loop {
            match self.fill(until) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => return !is_timeout(&e),
            }
        }
    }

    /// True if the client has not closed the connection: a read that finds nothing returns
    /// at once with a timeout rather than EOF.
    fn still_open(&mut self) -> bool {
        match self.fill(Instant::now() + Duration::from_millis(1)) {
            Ok(n) => n > 0,
            Err(e) => is_timeout(&e),
        }
    }
}

/// True for the errors a read timeout produces.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A complete `200 OK` response carrying `body`.
fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A `200 OK` head announcing a body of `len` bytes, followed by the first `part` of it: the
/// reader thread cannot finish it, so it lends the body to the caller.
fn partial(len: usize, part: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n{part}")
}

// ---------------------------------------------------------------------------------------
// The client side
// ---------------------------------------------------------------------------------------

/// A transport that dials pipes, and the test's ends of them.
struct Harness {
    transport: Transport,
    accepted: Receiver<ServerConn>,
    dials: Arc<Mutex<Vec<DialRecord>>>,
}

impl Harness {
    /// A transport over pipes with proxies off and `configure`'s settings.
    fn new(configure: impl FnOnce(&mut TransportConfig)) -> Harness {
        let (tx, accepted) = crossbeam_channel::unbounded();
        let dials = Arc::new(Mutex::new(Vec::new()));
        let mut cfg = TransportConfig {
            dialer: Arc::new(PipeDialer {
                accepted: tx,
                log: Arc::clone(&dials),
            }),
            proxy: Proxy::none(),
            ..TransportConfig::default()
        };
        configure(&mut cfg);
        Harness {
            transport: Transport::with_config(cfg),
            accepted,
            dials,
        }
    }

    /// Starts `GET url` on its own thread with the default request deadline.
    fn call(&self, url: &str) -> Call {
        self.call_until(url, Instant::now() + REQUEST_DEADLINE)
    }

    /// Starts `GET url` on its own thread with deadline `deadline`.
    fn call_until(&self, url: &str, deadline: Instant) -> Call {
        let mut req = Request::new(Method::GET, url).expect("test url");
        let seen = Arc::new(Seen::default());
        let (s1, s2, s3) = (Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen));
        let opts = RequestOptions::of_mut(&mut req);
        opts.deadline = Some(deadline);
        opts.trace = ClientTrace::new()
            .on_got_conn(move |info| *s1.got_conn.lock() = Some(info))
            .on_dns_start(move |host| s2.dials.lock().push(host.to_string()))
            .on_put_idle_conn(move |r| s3.put_idle.lock().push(r.map(str::to_string)));
        let (tx, result) = crossbeam_channel::bounded(1);
        let t = self.transport.clone();
        thread::Builder::new()
            .name("pool-test-call".into())
            .spawn(move || {
                let _ = tx.send(t.round_trip(req));
            })
            .expect("spawn a caller thread");
        Call {
            result,
            deadline,
            seen,
        }
    }

    /// The server end of the next dial.
    #[track_caller]
    fn accept(&self) -> ServerConn {
        match self.accepted.recv_timeout(WAIT) {
            Ok(conn) => conn,
            Err(_) => panic!("no dial within {WAIT:?}"),
        }
    }

    /// How many dials the transport has made.
    fn dials(&self) -> usize {
        self.dials.lock().len()
    }

    /// The transport's pool counts.
    fn stats(&self) -> PoolStats {
        self.transport.stats()
    }

    /// Polls `cond` until it holds; fails after `WAIT` with the pool's counts.
    #[track_caller]
    fn wait_for(&self, what: &str, cond: impl Fn(&Harness) -> bool) {
        let until = Instant::now() + WAIT;
        while !cond(self) {
            assert!(
                Instant::now() < until,
                "{what}: not true within {WAIT:?} (stats {:?}, {} dials)",
                self.stats(),
                self.dials()
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Closes the idle connections and checks that nothing is left: no connection counted
    /// against a host, no reader or writer thread alive (Go's leaked-goroutine check), and
    /// no per-host entry in the pool's map.
    #[track_caller]
    fn assert_no_leaks(&self) {
        self.transport.close_idle_connections();
        let none = PoolStats {
            idle: 0,
            open: 0,
            threads: 0,
        };
        self.wait_for("no connection, thread or host entry left", |h| {
            h.stats() == none && h.transport.pool_hosts() == 0
        });
    }
}

/// A request running on its own thread, as a concurrent caller.
struct Call {
    result: Receiver<Result<Response>>,
    deadline: Instant,
    seen: Arc<Seen>,
}

/// What one call's trace hooks saw.
#[derive(Default)]
struct Seen {
    got_conn: Mutex<Option<GotConnInfo>>,
    /// The hosts of the dials made under this call's trace.
    dials: Mutex<Vec<String>>,
    /// `on_put_idle_conn`'s reasons (`None`: pooled).
    put_idle: Mutex<Vec<Option<String>>>,
}

impl Call {
    /// The response (its head; the body may still be on the connection).
    #[track_caller]
    fn response(&self) -> Response {
        match self.result.recv_timeout(WAIT) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("request failed: {e}"),
            Err(_) => panic!("no response within {WAIT:?}"),
        }
    }

    /// True while the call has no response yet.
    fn is_waiting(&self) -> bool {
        self.result.is_empty()
    }

    fn got_conn(&self) -> Option<GotConnInfo> {
        *self.seen.got_conn.lock()
    }

    fn dials(&self) -> Vec<String> {
        self.seen.dials.lock().clone()
    }

    fn put_idle(&self) -> Vec<Option<String>> {
        self.seen.put_idle.lock().clone()
    }
}

/// What `GotConnInfo` says for a connection taken from the idle pool (ignoring idle time).
fn from_idle_pool(info: Option<GotConnInfo>) -> bool {
    matches!(
        info,
        Some(GotConnInfo {
            reused: true,
            was_idle: true,
            ..
        })
    )
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The pipe itself: read timeouts, shutdowns that wake blocked readers, broken pipes.
#[test]
fn pipe_honours_read_timeout_and_shutdown() {
    let (a, b) = pipe();

    // A read with a timeout and nothing to read returns WouldBlock at the timeout.
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let started = Instant::now();
    let e = a.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert!(started.elapsed() < WAIT);

    // Bytes pass in order; a read takes what is there.
    b.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"abcd");

    // A reader blocked without a timeout is woken by the peer's shutdown and sees EOF.
    a.set_read_timeout(None).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let reader = thread::spawn(move || {
        let r = a.read(&mut [0u8; 8]);
        let _ = tx.send(r.map_err(|e| e.kind()));
        a
    });
    b.shutdown(Shutdown::Both).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).expect("reader woken"), Ok(0));
    let a = reader.join().unwrap();

    // Writes to a peer that has shut down fail.
    assert_eq!(a.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    // And an end's own read shutdown ends its reads.
    let (c, d) = pipe();
    d.write(b"unread").unwrap();
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    assert_eq!(d.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}

/// A response read to its end puts the connection back in the pool before the caller sees
/// the end, and the next request to the host reuses it: one dial.
#[test]
fn body_read_to_end_pools_connection_for_reuse() {
    // (name, what the server sends first, the rest of the body sent once the caller holds
    // the response)
    let cases = [
        ("small_body_read_by_reader_thread", ok("hello"), None),
        (
            "streamed_body_read_by_caller",
            partial(5, "hel"),
            Some("lo"),
        ),
    ];
    for (name, first, rest) in cases {
        let h = Harness::new(|_| {});
        let call = h.call("http://a.test/one");
        let mut s = h.accept();
        assert_eq!(s.read_head(), "GET /one HTTP/1.1", "{name}");
        assert_eq!(h.dials.lock()[0].deadline, Some(call.deadline), "{name}");
        s.write(&first);
        let mut resp = call.response();
        if let Some(rest) = rest {
            // The caller holds the body: the connection is busy, not idle.
            assert_eq!(h.stats().idle, 0, "{name}: idle while the body is held");
            assert_eq!(h.stats().open, 1, "{name}");
            s.write(rest);
        }
        assert_eq!(resp.text().unwrap(), "hello", "{name}");
        // Back in the pool before the caller saw the end: no wait needed.
        assert_eq!(h.stats().idle, 1, "{name}: pooled at the end of the body");
        assert_eq!(call.put_idle(), vec![None], "{name}");

        let again = h.call("http://a.test/two");
        assert_eq!(s.answer("again"), "GET /two HTTP/1.1", "{name}");
        assert_eq!(again.response().text().unwrap(), "again", "{name}");
        assert_eq!(h.dials(), 1, "{name}: the second request dialled");
        assert!(
            from_idle_pool(again.got_conn()),
            "{name}: {:?}",
            again.got_conn()
        );
        assert_eq!(h.stats().idle, 1, "{name}");
        assert_eq!(h.stats().open, 1, "{name}");
        h.assert_no_leaks();
        assert!(
            s.closed_by_client(),
            "{name}: closed by close_idle_connections"
        );
    }
}

/// `max_idle_conns_per_host`: a connection that would exceed it is closed, not pooled.
#[test]
fn max_idle_conns_per_host_closes_the_extra_connection() {
    let h = Harness::new(|b| {
        b.max_idle_conns_per_host = 1;
    });
    // Two callers at once hold one connection each.
    let first = h.call("http://a.test/1");
    let mut s1 = h.accept();
    s1.read_head();
    s1.write(&partial(4, "ab"));
    let mut r1 = first.response();
    let second = h.call("http://a.test/2");
    let mut s2 = h.accept();
    s2.read_head();
    s2.write(&partial(4, "ab"));
    let mut r2 = second.response();
    assert_eq!(h.dials(), 2);
    assert_eq!(h.stats().open, 2);

    s1.write("cd");
    assert_eq!(r1.text().unwrap(), "abcd");
    assert_eq!(h.stats().idle, 1);
    s2.write("cd");
    assert_eq!(r2.text().unwrap(), "abcd");
    assert_eq!(
        second.put_idle(),
        vec![Some("too many idle connections for host".to_string())]
    );
    assert!(
        s2.closed_by_client(),
        "the connection over the limit stays open"
    );
    h.wait_for("the extra connection is gone", |h| {
        h.stats().open == 1 && h.stats().threads == 2
    });
    assert_eq!(h.stats().idle, 1);
    assert!(s1.still_open(), "the pooled connection was closed");

    // The pooled one is the first connection.
    let third = h.call("http://a.test/3");
    assert_eq!(s1.answer("three"), "GET /3 HTTP/1.1");
    assert_eq!(third.response().text().unwrap(), "three");
    assert!(from_idle_pool(third.got_conn()));
    assert_eq!(h.dials(), 2);
    h.assert_no_leaks();
}

/// `max_idle_conns` across hosts: over the limit, the least recently *used* idle connection
/// is closed (not the first one pooled).
#[test]
fn max_idle_conns_evicts_least_recently_used() {
    let h = Harness::new(|b| {
        b.max_idle_conns = 2;
    });
    let call = h.call("http://a.test/");
    let mut a = h.accept();
    a.answer("a");
    assert_eq!(call.response().text().unwrap(), "a");

    let call = h.call("http://b.test/");
    let mut b = h.accept();
    b.answer("b");
    assert_eq!(call.response().text().unwrap(), "b");
    assert_eq!(h.stats().idle, 2);

    // a is used again, so b is now the least recently used.
    let call = h.call("http://a.test/");
    a.answer("a2");
    assert_eq!(call.response().text().unwrap(), "a2");
    assert!(from_idle_pool(call.got_conn()));
    assert_eq!(h.dials(), 2);

    // A third idle connection exceeds the limit: b goes.
    let call = h.call("http://c.test/");
    let mut c = h.accept();
    c.answer("c");
    assert_eq!(call.response().text().unwrap(), "c");
    assert_eq!(h.stats().idle, 2);
    assert!(
        b.closed_by_client(),
        "the least recently used connection (b) stays open"
    );
    assert!(
        a.still_open(),
        "a was closed, though used more recently than b"
    );
    assert!(c.still_open(), "c was closed");
    h.wait_for("b's threads exit", |h| {
        h.stats().threads == 4 && h.stats().open == 2
    });

    // a and c are reused; b needs a new dial.
    for (url, conn, body) in [
        ("http://a.test/", &mut a, "a3"),
        ("http://c.test/", &mut c, "c2"),
    ] {
        let call = h.call(url);
        conn.answer(body);
        assert_eq!(call.response().text().unwrap(), body);
        assert!(from_idle_pool(call.got_conn()), "{url}");
    }
    assert_eq!(h.dials(), 3);
    let call = h.call("http://b.test/");
    let mut b2 = h.accept();
    assert_eq!(b2.host, "b.test");
    b2.answer("b2");
    assert_eq!(call.response().text().unwrap(), "b2");
    let hosts: Vec<String> = h.dials.lock().iter().map(|d| d.host.clone()).collect();
    assert_eq!(hosts, ["a.test", "b.test", "c.test", "b.test"]);
    h.assert_no_leaks();
}

/// `max_conns_per_host = 1`: a second caller waits while the first holds the body, and gets
/// the same connection, handed over when the body ends (Go's idleConnWait), with no dial.
#[test]
fn max_conns_per_host_waiter_gets_connection_put_back() {
    let h = Harness::new(|b| {
        b.max_conns_per_host = 1;
    });
    let first = h.call("http://a.test/first");
    let mut s = h.accept();
    s.read_head();
    s.write(&partial(4, "ab"));
    let mut r1 = first.response();

    let second = h.call("http://a.test/second");
    h.wait_for("the second caller queues for the slot", |h| {
        h.transport.slot_waiters() == 1
    });
    assert!(second.is_waiting());
    assert_eq!(h.dials(), 1);

    s.write("cd");
    assert_eq!(r1.text().unwrap(), "abcd");
    // The connection went to the waiter, not to the idle pool.
    assert_eq!(s.answer("second"), "GET /second HTTP/1.1");
    assert_eq!(second.response().text().unwrap(), "second");
    assert_eq!(
        second.got_conn(),
        Some(GotConnInfo {
            reused: true,
            was_idle: false,
            idle_time: Duration::ZERO,
        })
    );
    assert_eq!(h.dials(), 1);
    assert!(second.dials().is_empty());
    assert_eq!(h.stats().open, 1);
    assert_eq!(h.stats().idle, 1);
    assert_eq!(h.transport.slot_waiters(), 0);
    h.assert_no_leaks();
}

/// `max_conns_per_host = 1`: when the held connection closes instead (its body dropped
/// early), the freed slot dials for the waiting caller, under that caller's own deadline and
/// trace hooks. Regression test: that dial once ran with default options.
#[test]
fn max_conns_per_host_waiter_dials_with_own_options_when_slot_frees() {
    let h = Harness::new(|b| {
        b.max_conns_per_host = 1;
    });
    let first = h.call("http://a.test/first");
    let mut s1 = h.accept();
    s1.read_head();
    s1.write(&partial(4, "ab"));
    let r1 = first.response();

    // A deadline of the waiter's own, unlike the first caller's.
    let waiter_deadline = Instant::now() + REQUEST_DEADLINE + Duration::from_millis(777);
    let second = h.call_until("http://a.test/second", waiter_deadline);
    h.wait_for("the second caller queues for the slot", |h| {
        h.transport.slot_waiters() == 1
    });
    assert_eq!(h.dials(), 1);

    drop(r1);
    assert!(
        s1.closed_by_client(),
        "a body dropped early leaves its connection open"
    );
    let mut s2 = h.accept();
    assert_eq!(s2.answer("second"), "GET /second HTTP/1.1");
    assert_eq!(second.response().text().unwrap(), "second");

    assert_eq!(h.dials(), 2);
    let dial = h.dials.lock()[1].clone();
    assert_eq!(dial.host, "a.test");
    assert_eq!(
        dial.deadline,
        Some(waiter_deadline),
        "the waiter's dial did not run under its deadline"
    );
    assert_eq!(
        second.dials(),
        vec!["a.test".to_string()],
        "the waiter's dial did not run with its trace hooks"
    );
    assert_eq!(
        first.dials(),
        vec!["a.test".to_string()],
        "the first caller's dials"
    );
    assert_eq!(
        second.got_conn(),
        Some(GotConnInfo {
            reused: false,
            was_idle: false,
            idle_time: Duration::ZERO,
        })
    );
    assert_eq!(h.stats().open, 1);
    h.assert_no_leaks();
}

/// A server that closes an idle connection: the reader thread sees it at once, takes the
/// connection out of the pool, and both of its threads exit. The next request dials.
#[test]
fn server_closing_idle_connection_removes_it_and_stops_threads() {
    let h = Harness::new(|_| {});
    let call = h.call("http://a.test/");
    let mut s = h.accept();
    s.answer("x");
    assert_eq!(call.response().text().unwrap(), "x");
    assert_eq!(
        h.stats(),
        PoolStats {
            idle: 1,
            open: 1,
            threads: 2
        }
    );

    drop(s);
    h.wait_for("the closed connection leaves the pool", |h| {
        h.stats()
            == PoolStats {
                idle: 0,
                open: 0,
                threads: 0,
            }
    });

    let call = h.call("http://a.test/");
    let mut s2 = h.accept();
    s2.answer("y");
    assert_eq!(call.response().text().unwrap(), "y");
    assert_eq!(call.got_conn().map(|i| i.reused), Some(false));
    assert_eq!(h.dials(), 2);
    h.assert_no_leaks();
}

/// `close_idle_connections` closes every idle connection and no reader or writer thread is
/// left behind.
#[test]
fn close_idle_connections_leaves_no_threads() {
    let h = Harness::new(|_| {});
    let mut servers = Vec::new();
    for host in ["a.test", "b.test", "c.test"] {
        let call = h.call(&format!("http://{host}/"));
        let mut s = h.accept();
        s.answer(host);
        assert_eq!(call.response().text().unwrap(), host);
        servers.push(s);
    }
    assert_eq!(
        h.stats(),
        PoolStats {
            idle: 3,
            open: 3,
            threads: 6
        }
    );

    h.transport.close_idle_connections();
    h.wait_for("every thread exits", |h| {
        h.stats()
            == PoolStats {
                idle: 0,
                open: 0,
                threads: 0,
            }
    });
    for s in &mut servers {
        assert!(s.closed_by_client(), "{} left open", s.host);
    }
    h.assert_no_leaks();
}

/// A host's entry in the pool goes with its last connection, whether the server closes it
/// idle after answering or closes it before answering (the request fails). A client that
/// talks to many hosts over its life does not keep an entry for every host it ever saw.
#[test]
fn host_entries_go_with_their_last_connection() {
    let h = Harness::new(|_| {});
    for i in 0..20 {
        let host = format!("h{i}.test");
        let call = h.call(&format!("http://{host}/"));
        let mut s = h.accept();
        if i % 2 == 0 {
            // The server answers and then closes the idle connection.
            s.answer(&host);
            assert_eq!(call.response().text().unwrap(), host);
            drop(s);
        } else {
            // The server closes before answering: the request fails.
            s.read_head();
            drop(s);
            assert!(call.result.recv_timeout(WAIT).expect("an answer").is_err());
        }
    }
    h.wait_for("every host entry goes", |h| {
        h.transport.pool_hosts() == 0 && h.stats().open == 0
    });
    h.assert_no_leaks();
}

/// A thread that makes round trips one after another on the same transport, as a program's
/// worker thread does: each `call` is sent to it and answered on the `Call`'s channel.
struct Worker {
    jobs: Option<Sender<(String, Sender<Result<Response>>)>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Worker {
    fn new(t: &Transport) -> Worker {
        let (jobs, rx) = crossbeam_channel::unbounded::<(String, Sender<Result<Response>>)>();
        let t = t.clone();
        let handle = thread::Builder::new()
            .name("pool-test-worker".into())
            .spawn(move || {
                while let Ok((url, reply)) = rx.recv() {
                    let mut req = Request::new(Method::GET, &url).expect("test url");
                    RequestOptions::of_mut(&mut req).deadline =
                        Some(Instant::now() + REQUEST_DEADLINE);
                    let _ = reply.send(t.round_trip(req));
                }
            })
            .expect("spawn a worker thread");
        Worker {
            jobs: Some(jobs),
            handle: Some(handle),
        }
    }

    /// Starts `GET url` on this worker's thread.
    fn call(&self, url: &str) -> Call {
        let (tx, result) = crossbeam_channel::bounded(1);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send((url.to_string(), tx));
        }
        Call {
            result,
            deadline: Instant::now() + REQUEST_DEADLINE,
            seen: Arc::new(Seen::default()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread after its current round trip, which is
        // bounded by its deadline.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A thread gets back the idle connection it used last, even when another is more recently
/// used; a thread with none of its own gets the most recently used one (Go's choice).
#[test]
fn idle_connection_goes_back_to_the_thread_that_used_it() {
    let h = Harness::new(|_| {});
    let (w1, w2, w3) = (
        Worker::new(&h.transport),
        Worker::new(&h.transport),
        Worker::new(&h.transport),
    );
    // Both workers hold a response at once, so each has a connection of its own.
    let c1 = w1.call("http://a.test/1");
    let mut s1 = h.accept();
    s1.read_head();
    s1.write(&partial(2, "a"));
    let mut r1 = c1.response();
    let c2 = w2.call("http://a.test/2");
    let mut s2 = h.accept();
    s2.read_head();
    s2.write(&partial(2, "b"));
    let mut r2 = c2.response();
    // w1's connection goes back first, w2's last: w2's is the most recently used.
    s1.write("a");
    assert_eq!(r1.text().unwrap(), "aa");
    s2.write("b");
    assert_eq!(r2.text().unwrap(), "bb");
    h.wait_for("both pooled", |h| h.stats().idle == 2);

    // w1 asks again: it gets its own connection, not the most recently used one.
    let again = w1.call("http://a.test/again");
    assert_eq!(s1.answer("one"), "GET /again HTTP/1.1");
    assert_eq!(again.response().text().unwrap(), "one");
    h.wait_for("pooled again", |h| h.stats().idle == 2);
    // w3 has used neither: it gets the most recently used, now w1's.
    let third = w3.call("http://a.test/third");
    assert_eq!(s1.answer("three"), "GET /third HTTP/1.1");
    assert_eq!(third.response().text().unwrap(), "three");
    assert_eq!(h.dials(), 2);
    drop((w1, w2, w3));
    h.assert_no_leaks();
    assert!(s2.closed_by_client());
}
