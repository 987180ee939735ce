//! Edges of forms, multipart and cookies, from a review (session 21): each test but the
//! decoder's chunking check failed against the behaviour it guards. Mostly no sockets:
//! requests are built with `Request::new` and parsed in-process.

mod policy_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nethttp::http::HeaderValue;
use nethttp::{Method, Request};

/// Runs `f` on a thread and waits at most `limit` for it; `None` if it took longer (the
/// thread is left to finish on its own).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// A urlencoded body of `n` distinct names (`k0=&k1=&...`), well under Go's 10 MiB limit.
fn distinct_keys(n: usize) -> String {
    let mut s = String::with_capacity(n * 9);
    for i in 0..n {
        if i > 0 {
            s.push('&');
        }
        s.push_str(&format!("k{i}="));
    }
    s
}

/// Form finding 1: `parse_form` builds `r.Form` with `Form::merged`, which calls `names()`
/// (a `Vec::contains` per pair) and then `get_all` (a scan of every pair) per name: O(n²) in
/// the number of distinct names. A 0.5 MiB body of 60 000 distinct names (a twentieth of what
/// MAX_FORM_BODY admits) keeps a handler thread busy for many seconds; Go's map does it in
/// milliseconds. The bound here is generous (5 s for ~0.5 MB of parsing).
#[test]
fn many_distinct_form_names_parse_in_linear_time() {
    let body = distinct_keys(60_000);
    assert!(body.len() < 1 << 20);
    let started = Instant::now();
    let done = within(Duration::from_secs(5), move || {
        let mut r = Request::new(Method::POST, "/")
            .unwrap()
            .with_header("content-type", "application/x-www-form-urlencoded")
            .unwrap()
            .with_body(body);
        r.parse_form().unwrap();
        r.form().unwrap().len()
    });
    assert_eq!(
        done,
        Some(60_000),
        "parse_form of 60 000 distinct names did not finish in 5 s ({:?})",
        started.elapsed()
    );
}

/// Form finding 1b: the public `Form::names` alone is quadratic as well.
#[test]
fn form_names_is_linear() {
    let form = nethttp::Form::parse(&distinct_keys(60_000)).unwrap();
    let done = within(Duration::from_secs(5), move || form.names().len());
    assert_eq!(
        done,
        Some(60_000),
        "Form::names of 60 000 names took over 5 s"
    );
}

/// Form finding 2: `parse_form` documents that "well-formed values are kept all the same, as
/// Go keeps them", but one raw non-UTF-8 byte anywhere in the body drops every pair (the
/// whole body goes through `String::from_utf8` before it is split). Go's `ParseQuery` keeps
/// `a=1` here.
#[test]
fn one_raw_non_utf8_byte_keeps_the_other_pairs() {
    let mut r = Request::new(Method::POST, "/")
        .unwrap()
        .with_header("content-type", "application/x-www-form-urlencoded")
        .unwrap()
        .with_body(b"a=1&b=\xff&c=3".to_vec());
    assert!(r.parse_form().is_err(), "the bad pair is reported");
    let post = r.post_form().unwrap();
    assert_eq!(
        (post.get("a"), post.get("c")),
        (Some("1"), Some("3")),
        "the well-formed pairs are kept: {post:?}"
    );
}

/// Cookie finding: one cookie with a non-ASCII byte (obs-text, which `HeaderValue` admits and
/// browsers send for cookies set by JavaScript) makes `HeaderValue::to_str` fail, and
/// `parse_request` then skips the whole `Cookie` field: every other cookie of the request is
/// lost. Go's `readCookies` drops only the invalid pair.
#[test]
fn one_non_ascii_cookie_does_not_hide_the_others() {
    let mut r = Request::new(Method::GET, "/").unwrap();
    r.headers.insert(
        "cookie",
        HeaderValue::from_bytes(b"session=abc; theme=\xc3\xa9t\xc3\xa9; lang=en").unwrap(),
    );
    let names: Vec<String> = r.cookies().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["session", "lang"]);
    assert_eq!(
        r.cookie("session").map(|c| c.value),
        Some("abc".to_string())
    );
}

/// Cookie finding (parsing vs Go): Go's `readCookies` trims `textproto.TrimString` (space
/// and tab) around each pair and around the name, so `a=1;\tb=2` and `c =3` give cookies b
/// and c; here they are dropped as invalid names.
#[test]
fn cookie_pairs_are_trimmed_as_go_trims_them() {
    let mut r = Request::new(Method::GET, "/").unwrap();
    r.headers
        .insert("cookie", HeaderValue::from_static("a=1;\tb=2; c =3"));
    let got: Vec<(String, String)> = r.cookies().into_iter().map(|c| (c.name, c.value)).collect();
    assert_eq!(
        got,
        [
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("c".into(), "3".into())
        ]
    );
}

/// Multipart finding: a file spilled to disk is created with the process umask's default
/// mode (0644 under the usual 022), so any local user can read another user's upload from
/// /tmp while the request runs. Go's `os.CreateTemp` makes it 0600.
#[cfg(unix)]
#[test]
fn spilled_upload_is_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;

    let body = "--xyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"secret.txt\"\r\n\r\nTOP SECRET\r\n--xyz--\r\n";
    let mut r = Request::new(Method::POST, "/")
        .unwrap()
        .with_header("content-type", "multipart/form-data; boundary=xyz")
        .unwrap()
        .with_body(body);
    r.parse_multipart_form(0).unwrap();
    let path = r
        .form_file("f")
        .unwrap()
        .temp_path()
        .expect("spilled")
        .to_path_buf();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "temporary upload {} has mode {:o}",
        path.display(),
        mode & 0o777
    );
    drop(r);
    assert!(!path.exists(), "removed with the request");
}

/// Multipart finding: part headers are not counted against the form's memory. Go's
/// `ReadForm` takes each file part's header size (and 200 bytes of overhead) from
/// `maxMemory + 10 MiB` and fails with `ErrMessageTooLarge` past it (CVE-2023-24536); here
/// 900 file parts with 15 KiB of headers each are kept, ~13 MiB of `HeaderMap`s, with
/// `max_memory` 0.
#[test]
fn part_headers_count_against_max_memory() {
    let filler = "x".repeat(15 << 10);
    let mut body = String::new();
    for i in 0..900 {
        body.push_str(&format!(
            "--xyz\r\nContent-Disposition: form-data; name=\"f{i}\"; filename=\"a\"\r\nX-Pad: {filler}\r\n\r\n\r\n"
        ));
    }
    body.push_str("--xyz--\r\n");
    let mut r = Request::new(Method::POST, "/")
        .unwrap()
        .with_header("content-type", "multipart/form-data; boundary=xyz")
        .unwrap()
        .with_body(body);
    let got = r.parse_multipart_form(0);
    assert!(
        got.is_err(),
        "900 parts holding {} MiB of headers were accepted with max_memory 0",
        (900 * (15 << 10)) >> 20
    );
}

/// Probe (passes): the sans-IO decoder gives the same parts whatever the input's chunking,
/// and never panics, on mutated bodies.
#[test]
fn decoder_is_chunking_independent_on_mutated_bodies() {
    use nethttp::proto::multipart::{Event, MultipartDecoder, MultipartLimits};
    let base: &[u8] = b"pre\r\n--b1\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\r\n--b1  \r\nContent-Disposition: form-data; name=\"f\"; filename=\"C:\\\\d\\\\..\\\\e.txt\"\r\nContent-Type: text/plain\r\n\r\n\r\n--b2-\r\n--b1--\r\nepi";
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let run = |body: &[u8], chunks: &mut dyn FnMut() -> usize| -> Result<Vec<String>, String> {
        let mut dec = MultipartDecoder::new("b1", MultipartLimits::default());
        let mut out = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut data = Vec::new();
        loop {
            let eof = fed == body.len();
            let step = dec
                .decode(&buf, eof)
                .map_err(|e| format!("{:?}", e.kind()))?;
            match &step.event {
                Event::NeedMore => {
                    assert!(!eof);
                    let n = chunks().min(body.len() - fed).max(1);
                    buf.drain(..step.consumed);
                    buf.extend_from_slice(&body[fed..fed + n]);
                    fed += n;
                    continue;
                }
                Event::PartStart { name, filename, .. } => {
                    out.push(format!("start {name} {filename:?}"))
                }
                Event::Data(r) => data.extend_from_slice(&buf[r.clone()]),
                Event::PartEnd => out.push(format!("end {:?}", std::mem::take(&mut data))),
                Event::End => {
                    out.push("END".into());
                    return Ok(out);
                }
            }
            buf.drain(..step.consumed);
        }
    };
    for round in 0..3000 {
        let mut body = base.to_vec();
        if round > 0 {
            for _ in 0..(rnd() % 4) {
                let i = (rnd() as usize) % body.len();
                match rnd() % 3 {
                    0 => body[i] = b"\r\n-b1\" ;="[(rnd() % 9) as usize],
                    1 => {
                        body.remove(i);
                    }
                    _ => body.insert(i, b"\r\n-b1"[(rnd() % 5) as usize]),
                }
            }
        }
        let whole = run(&body, &mut || usize::MAX);
        let ones = run(&body, &mut || 1);
        let mut r2 = rnd();
        let random = run(&body, &mut || {
            r2 = r2.wrapping_mul(6364136223846793005).wrapping_add(1);
            (r2 >> 60) as usize + 1
        });
        assert_eq!(
            whole,
            ones,
            "round {round}: {:?}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            whole,
            random,
            "round {round}: {:?}",
            String::from_utf8_lossy(&body)
        );
        if round == 0 {
            assert!(whole.is_ok(), "{whole:?}");
        }
    }
}

/// Cookie finding (writing vs Go): Go's `validCookieDomain` accepts an IP address only
/// without a `:` (no IPv6) and sends no `Domain` otherwise; here `Domain=::1` is written, and
/// a browser that cannot domain-match it rejects the whole cookie instead of keeping it
/// host-only.
#[test]
fn ipv6_domain_is_not_sent() {
    let c = nethttp::cookie::Cookie {
        domain: Some("::1".into()),
        ..nethttp::cookie::Cookie::new("a", "b")
    };
    assert_eq!(c.to_set_cookie().as_deref(), Some("a=b"));
}

/// Cookie finding (client side): `Response::cookies` (and the jar, client/cookies.rs:81)
/// skip a `Set-Cookie` field whose bytes are not all visible ASCII (`HeaderValue::to_str`),
/// so an obs-text byte in an attribute the client does not even read loses the cookie. Go's
/// `readSetCookies` keeps the cookie and puts the attribute in `Unparsed`.
#[test]
fn set_cookie_with_a_non_ascii_attribute_keeps_the_cookie() {
    let mut mux = nethttp::ServeMux::new();
    mux.handle_func("/", |w, _r| {
        w.headers_mut().append(
            nethttp::http::header::SET_COOKIE,
            HeaderValue::from_bytes(b"id=abc; Path=/; Comment=caf\xc3\xa9").unwrap(),
        );
    });
    let ts = nethttp::httptest::Server::new(mux);
    let c = nethttp::client::Client::with_config(policy_support::config());
    let resp = c.get(ts.url()).unwrap();
    let got: Vec<(String, String)> = resp
        .cookies()
        .into_iter()
        .map(|c| (c.name, c.value))
        .collect();
    assert_eq!(got, [("id".to_string(), "abc".to_string())]);
}
