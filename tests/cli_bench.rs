//! `nethttp bench` driven as a user drives it, against in-process servers that count and check
//! what arrives: the method, fields and body it sends, exactly `-n` requests, `--rate`'s
//! schedule and its latency from the slot, the back-off against a port that refuses or a
//! server that closes at once, the argument errors, `--latency`'s histogram, and A/B mode's
//! alternating rounds.
//!
//! Nothing here compares throughputs or times a run (the machine may be a loaded 2-core one):
//! the assertions are counts, with wide bounds where load could move them. How bench agrees
//! with wrk, and A/B's ratio of a server against itself, are measured by
//! `benches/bench_vs_wrk.sh` and recorded in docs/PERFORMANCE.md.
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cli_support::*;
use nethttp::server::{Request, ResponseWriter};
use support::{poll_until, TestServer};

/// A server answering `hello, world\n` that counts its requests.
fn counting_server() -> (TestServer, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&served);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
        count.fetch_add(1, Ordering::SeqCst);
        let _ = w.write(b"hello, world\n");
    });
    (srv, served)
}

/// Runs `nethttp bench --json ARGS URL`, expecting exit 0; returns the JSON.
fn bench_json(args: &[&str], url: &str) -> serde_json::Value {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    all.push(url);
    let (code, out, err) = parts(&nethttp(&all));
    assert_eq!(code, Some(0), "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap().port()
}

/// The method, the `X-Test` and `Content-Type` fields and the body bench sends arrive as
/// given, in every request, in both modes (`ClientConn` per thread, `--pool`).
#[test]
fn method_fields_and_body_arrive() {
    // What arrived, as one line per distinct request, with how many came.
    let seen: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let record = Arc::clone(&seen);
    let srv = TestServer::with_handler(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        let field = |n: &str| {
            r.headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "-".into())
        };
        let (x_test, ct) = (field("x-test"), field("content-type"));
        let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
        let key = format!(
            "{} x-test={x_test} ct={ct} len={} fnv={:x}",
            r.method,
            body.len(),
            fnv1a(&body)
        );
        *record.lock().unwrap().entry(key).or_default() += 1;
        let _ = w.write(b"ok\n");
    });
    let url = srv.url("/echo");
    let dir = TempDir::new("bench-body");
    let big = pseudo_random(100 << 10, 7);
    let file = dir.write("body.bin", &big);
    let file = file.to_str().unwrap();
    let key = |m: &str, x: &str, ct: &str, body: &[u8]| {
        format!(
            "{m} x-test={x} ct={ct} len={} fnv={:x}",
            body.len(),
            fnv1a(body)
        )
    };

    let cases: [(&str, &[&str], u64, String); 6] = [
        (
            "method_field_and_body",
            &[
                "-c",
                "2",
                "-n",
                "20",
                "-m",
                "PUT",
                "-H",
                "X-Test: yes",
                "-b",
                "hello",
            ],
            20,
            key("PUT", "yes", "-", b"hello"),
        ),
        (
            "a_body_means_post",
            &["-c", "2", "-n", "10", "-b", "a=1"],
            10,
            key("POST", "-", "-", b"a=1"),
        ),
        (
            "body_file_with_content_type",
            &[
                "-c",
                "3",
                "-n",
                "12",
                "--body-file",
                file,
                "-H",
                "content-type: application/octet-stream",
            ],
            12,
            key("POST", "-", "application/octet-stream", &big),
        ),
        (
            "pooled_client",
            &["-c", "2", "-n", "8", "--pool", "-m", "PATCH", "-b", "x"],
            8,
            key("PATCH", "-", "-", b"x"),
        ),
        (
            "connection_close",
            &["-c", "1", "-n", "6", "--close", "-m", "DELETE"],
            6,
            key("DELETE", "-", "-", b""),
        ),
        (
            "head",
            &["-c", "1", "-n", "5", "-m", "HEAD"],
            5,
            key("HEAD", "-", "-", b""),
        ),
    ];
    for (name, args, n, want) in cases {
        seen.lock().unwrap().clear();
        let v = bench_json(args, &url);
        assert_eq!(v["requests"], n, "{name}: {v}");
        assert_eq!(v["errors"], 0, "{name}: {v}");
        assert_eq!(v["status"]["200"], n, "{name}: {v}");
        assert_eq!(v["method"].as_str(), want.split(' ').next(), "{name}: {v}");
        let got = seen.lock().unwrap().clone();
        assert_eq!(got, BTreeMap::from([(want, n)]), "{name}");
    }
}

/// `--rate`: requests go out on a schedule, not as fast as they come back. Within `-z 1s` at
/// 50/s there are exactly 50 slots, so the server sees at most 50 (at least half, however
/// loaded the machine); `-n` still counts exactly.
#[test]
fn rate_sends_on_a_schedule() {
    let (srv, served) = counting_server();
    let url = srv.url("/rate");

    let v = bench_json(&["-c", "2", "--rate", "50", "-z", "1s"], &url);
    let counted = v["requests"].as_u64().unwrap();
    poll_until(Duration::from_secs(5), || {
        served.load(Ordering::SeqCst) >= counted
    });
    let server = served.load(Ordering::SeqCst);
    assert!(
        (25..=50).contains(&server) && counted == server,
        "bench counted {counted}, the server served {server}: {v}"
    );
    assert_eq!(v["rate"]["target_per_s"], 50.0, "{v}");
    assert_eq!(v["rate"]["sent"], counted, "{v}");
    assert!(v["rate"]["late"].as_u64().unwrap() <= counted, "{v}");

    served.store(0, Ordering::SeqCst);
    let v = bench_json(&["-c", "4", "--rate", "400", "-n", "40"], &url);
    assert_eq!(v["requests"], 40, "{v}");
    assert_eq!(served.load(Ordering::SeqCst), 40);
}

/// `--rate` is open loop: with one connection to a server that takes 100 ms per request,
/// slots every 25 ms fall behind, and a request's latency counts from its slot, so the wait
/// for the connection is in it (coordinated omission corrected). Measured from the send,
/// every latency would be about 100 ms; from the slot, the third request's is already over
/// 200 ms. Load can only make the lag longer.
#[test]
fn rate_latency_counts_from_the_slot() {
    const SERVICE: Duration = Duration::from_millis(100);
    let srv = TestServer::with_handler(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        // The server's service time, not a synchronisation: what a slow server does.
        std::thread::sleep(SERVICE);
        let _ = w.write(b"slow\n");
    });
    let v = bench_json(&["-c", "1", "--rate", "40", "-z", "2s"], &srv.url("/slow"));
    let n = v["requests"].as_u64().unwrap();
    assert!(n >= 3, "too few requests to see a queue: {v}");
    assert!(v["rate"]["late"].as_u64().unwrap() >= n - 1, "{v}");
    let max_us = v["latency_us"]["max"].as_u64().unwrap();
    assert!(max_us >= 2 * SERVICE.as_micros() as u64, "{v}");
    assert!(v["rate"]["max_lag_us"].as_u64().unwrap() > 0, "{v}");
}

/// A port that refuses and a server that closes every connection at once: bench backs off
/// (1 ms, doubling, up to 1 s) instead of reconnecting tens of thousands of times a second.
/// With 2 connections for 1 s that is about 20 attempts; the bound is 100.
#[test]
fn backs_off_when_connections_fail() {
    // Refused.
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err) = parts(&nethttp(&["bench", "--json", "-c", "2", "-z", "1s", &url]));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "nethttp: no request to {url} succeeded: connection refused: is a server \
             listening on 127.0.0.1:{port}?\n"
        )
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON even when all failed");
    let errors = v["errors"].as_u64().unwrap();
    assert!((1..100).contains(&errors), "{errors} connects in 1 s: {v}");
    assert_eq!(v["requests"], 0);

    // Accepted, then closed without an answer.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (count, stop) = (Arc::clone(&accepted), Arc::clone(&done));
    std::thread::spawn(move || {
        for s in l.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if s.is_ok() {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let url = format!("http://{addr}/");
    let (code, out, err) = parts(&nethttp(&["bench", "--json", "-c", "2", "-z", "1s", &url]));
    done.store(true, Ordering::SeqCst);
    // Wakes the accept loop so it sees `done` (bounded: a connect to a listening port).
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let errors = v["errors"].as_u64().unwrap();
    assert!((1..100).contains(&errors), "{errors} failures in 1 s: {v}");
    let n = accepted.load(Ordering::SeqCst);
    assert!(n < 100, "{n} connections accepted in 1 s");
}

/// Arguments that cannot make a run: exit 2 with one line naming the problem, before any
/// request is sent.
#[test]
fn argument_errors_are_one_line_and_exit_2() {
    let (srv, served) = counting_server();
    let url = srv.url("/");
    let url2 = srv.url("/b");
    let dir = TempDir::new("bench-args");
    let file = dir.write("body", b"x");
    let file = file.to_str().unwrap();
    let cases: [(&str, Vec<&str>, &str); 17] = [
        (
            "old_d",
            vec!["-d", "10s", &url],
            "-d no longer sets the duration: use -z DURATION (as oha and hey); -b DATA sets \
             a request body",
        ),
        ("n_zero", vec!["-n", "0", &url], "-n must be at least 1"),
        ("c_zero", vec!["-c", "0", &url], "-c must be at least 1"),
        (
            "z_zero",
            vec!["-z", "0s", &url],
            "-z must be longer than 0s",
        ),
        (
            "timeout_zero",
            vec!["--timeout", "0ms", &url],
            "--timeout must be longer than 0s",
        ),
        (
            "rate_zero",
            vec!["--rate", "0", &url],
            "--rate must be a number of requests per second above 0",
        ),
        (
            "rate_negative",
            vec!["--rate=-5", &url],
            "--rate must be a number of requests per second above 0",
        ),
        (
            "rate_infinite",
            vec!["--rate", "inf", &url],
            "--rate must be a number of requests per second above 0",
        ),
        (
            "c_over_n",
            vec!["-c", "8", "-n", "4", &url],
            "-c 8 is more than -n 4: some connections would send nothing",
        ),
        (
            "rounds_one_url",
            vec!["--rounds", "3", &url],
            "--rounds needs two URLs to compare (URL_A URL_B)",
        ),
        (
            "rounds_zero",
            vec!["--rounds", "0", &url, &url2],
            "--rounds must be at least 1",
        ),
        (
            "three_urls",
            vec![&url, &url2, &url],
            "bench takes one URL, or two to compare (URL_A URL_B, or URL --compare URL_B)",
        ),
        (
            "two_urls_and_compare",
            vec![&url, &url2, "--compare", &url],
            "bench takes one URL, or two to compare (URL_A URL_B, or URL --compare URL_B)",
        ),
        (
            "body_twice",
            vec!["-b", "x", "--body-file", file, &url],
            "-b and --body-file cannot be used together",
        ),
        (
            "bad_method",
            vec!["-m", "BAD METHOD", &url],
            "invalid method \"BAD METHOD\"",
        ),
        (
            "bad_header",
            vec!["-H", "no colon", &url],
            "invalid header \"no colon\": expected 'Name: value'",
        ),
        (
            "bad_url",
            vec!["http://exa mple/"],
            "invalid URL \"http://exa mple/\": ",
        ),
    ];
    for (name, args, want) in cases {
        let mut all = vec!["bench"];
        all.extend_from_slice(&args);
        let (code, out, err) = parts(&nethttp(&all));
        assert_eq!(code, Some(2), "{name}: {err}");
        assert_eq!(out, "", "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.starts_with(&format!("nethttp: {want}")),
            "{name}: {err}"
        );
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "a usage error sent requests"
    );

    // -n below the default of 10 connections without -c: as many connections as requests.
    let v = bench_json(&["-n", "3"], &url);
    assert_eq!(
        (v["requests"].as_u64(), v["connections"].as_u64()),
        (Some(3), Some(3))
    );
}

/// `--latency`: a histogram whose buckets hold every response, in the summary (with bars)
/// and in the JSON.
#[test]
fn latency_histogram() {
    let (srv, _) = counting_server();
    let url = srv.url("/h");
    let (code, out, err) = parts(&nethttp(&[
        "bench",
        "-c",
        "2",
        "-n",
        "200",
        "--latency",
        &url,
    ]));
    assert_eq!(code, Some(0), "{err}");
    let hist: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("  histogram"))
        .skip(1)
        .collect();
    assert!(!hist.is_empty() && hist.len() <= 12, "{out}");
    let mut total = 0;
    for l in &hist {
        // `    ≤    101µs       14132   67.6%  ■■■■`
        let fields: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(fields[0], "≤", "{l}");
        let n: u64 = fields[2].parse().unwrap_or_else(|_| panic!("{l}"));
        assert_eq!(
            n > 0,
            l.contains('■'),
            "a bar for every bucket that has responses: {l}"
        );
        total += n;
    }
    assert_eq!(total, 200, "{out}");

    let v = bench_json(&["-c", "2", "-n", "100", "--latency"], &url);
    let buckets = v["latency_histogram"]
        .as_array()
        .expect("latency_histogram");
    let sum: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(sum, 100, "{v}");
    let bounds: Vec<u64> = buckets
        .iter()
        .map(|b| b["le_us"].as_u64().unwrap())
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{v}");
    assert_eq!(
        bounds.last(),
        v["latency_us"]["max"].as_u64().as_ref(),
        "{v}"
    );
    // Without --latency, no histogram in the JSON.
    let v = bench_json(&["-c", "1", "-n", "5"], &url);
    assert!(v.get("latency_histogram").is_none(), "{v}");
    assert!(v["rate"].is_null(), "{v}");
}

/// A/B mode: rounds alternate the order (A B, B A, A B), one URL at a time, each run with
/// its own -n; the summary has both medians, spreads and the ratio B/A.
#[test]
fn compare_runs_alternating_rounds() {
    // Which server answered, in order: runs of the same letter are one URL's run (or two
    // back to back, where a round's order flips).
    let log = Arc::new(Mutex::new(String::new()));
    let server = |tag: char| {
        let log = Arc::clone(&log);
        TestServer::with_handler(move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            log.lock().unwrap().push(tag);
            let _ = w.write(b"hello, world\n");
        })
    };
    let (a, b) = (server('A'), server('B'));
    let (url_a, url_b) = (a.url("/a"), b.url("/b"));
    let blocks = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.dedup();
        v.into_iter().collect::<String>()
    };

    let (code, out, err) = parts(&nethttp(&[
        "bench", "--json", "-c", "2", "-n", "10", "--rounds", "3", &url_a, &url_b,
    ]));
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let got = log.lock().unwrap().clone();
    assert_eq!(got.matches('A').count(), 30, "{got}");
    assert_eq!(got.matches('B').count(), 30, "{got}");
    // A | B B | A A | B: rounds 1, 2 and 3 with the order flipped in round 2.
    assert_eq!(blocks(&got), "ABAB", "{got}");
    assert_eq!(v["mode"], "compare", "{v}");
    assert_eq!(v["rounds"], 3, "{v}");
    for side in ["a", "b"] {
        let s = &v[side];
        assert_eq!(s["requests"], 30, "{side}: {v}");
        assert_eq!(s["errors"], 0, "{side}: {v}");
        assert_eq!(s["requests_per_s"].as_array().map(Vec::len), Some(3), "{v}");
        assert!(s["median_requests_per_s"].as_f64().unwrap() > 0.0, "{v}");
        assert!(s["spread"].as_f64().unwrap() >= 1.0, "{v}");
        assert!(s["latency_us"]["p50"].as_u64().is_some(), "{v}");
    }
    assert_eq!(v["a"]["url"], url_a.as_str());
    assert_eq!(v["b"]["url"], url_b.as_str());
    let ratio = v["ratio_b_over_a"].as_f64().unwrap();
    let (ma, mb) = (
        v["a"]["median_requests_per_s"].as_f64().unwrap(),
        v["b"]["median_requests_per_s"].as_f64().unwrap(),
    );
    assert!((ratio - mb / ma).abs() < 1e-9, "{v}");
    assert_eq!(
        v["ratio_per_round"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );

    // --compare, and the human summary.
    log.lock().unwrap().clear();
    let (code, out, err) = parts(&nethttp(&[
        "bench",
        "-c",
        "1",
        "-n",
        "4",
        "--rounds",
        "2",
        &url_a,
        "--compare",
        &url_b,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(blocks(&log.lock().unwrap()), "ABA");
    for want in [
        format!("  A  {url_a}\n"),
        format!("  B  {url_b}\n"),
        "median ".to_string(),
        "spread ".to_string(),
        "status 200: 8  errors 0".to_string(),
        "  B/A  ".to_string(),
        "  round  A requests/s  B requests/s    B/A\n".to_string(),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    let rounds = out
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2']));
    assert_eq!(rounds.count(), 2, "{out}");

    // A URL where nothing succeeds: the summary, then exit 1 naming it.
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let (code, out, err) = parts(&nethttp(&[
        "bench", "--json", "-c", "1", "-n", "3", "--rounds", "1", &url_a, &refused,
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with(&format!("nethttp: no request to {refused} succeeded: ")),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (v["a"]["requests"].as_u64(), v["b"]["errors"].as_u64()),
        (Some(3), Some(3))
    );
}
