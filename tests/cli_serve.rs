//! `nethttp serve`'s flags driven through the real binary: the address forms, the detailed
//! listing, `--basic-auth`, `--cors`, the Common Log Format, a cut download in the log, and
//! HTTPS with `--tls-cert`/`--tls-key`. Every run is bounded (see `cli_support`).
#![cfg(feature = "cli")]

mod cli_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cli_support::*;

/// A raw GET (or `method`) with extra header lines; returns the whole response text.
fn raw(srv: &Serve, method: &str, path: &str, extra: &str) -> String {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn addresses_ports_and_their_errors() {
    let dir = TempDir::new("addr");
    dir.write("a.txt", b"a");
    // PORT alone is on 127.0.0.1; -p replaces the port of --addr.
    for args in [&["--addr", "0"][..], &["--addr", "127.0.0.1:1", "-p", "0"]] {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("serve").arg(dir.path()).arg("-q").args(args);
        let srv = Serve::spawn(cmd);
        assert!(srv.addr.ip().is_loopback(), "{args:?}: {}", srv.addr);
        assert_ne!(srv.addr.port(), 0);
        let (code, out, _) = parts(&nethttp(&["get", &srv.url("a.txt")]));
        assert_eq!((code, out.as_str()), (Some(0), "a"), "{args:?}");
    }
    for (args, want) in [
        (
            &["--addr", "127.0.0.1:99999"][..],
            "nethttp: invalid --addr \"127.0.0.1:99999\": the port must be a number from 0 to 65535",
        ),
        (
            &["--addr", "nohost"][..],
            "nethttp: invalid --addr \"nohost\": expected HOST:PORT, :PORT or PORT",
        ),
        (
            &["--basic-auth", "nocolon"][..],
            "nethttp: invalid --basic-auth \"nocolon\": expected USER:PASS",
        ),
    ] {
        let mut all = vec!["serve", dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        let (code, _, err) = parts(&nethttp(&all));
        assert_eq!((code, err.trim_end()), (Some(2), want), "{args:?}");
    }
}

#[test]
fn the_listing_is_for_people() {
    let dir = TempDir::new("listing");
    dir.write("b.txt", b"0123456789");
    dir.write("sub/c.txt", b"c");
    let srv = Serve::start(dir.path(), &["-q"]);
    let (code, out, _) = parts(&nethttp(&["get", &srv.url("")]));
    assert_eq!(code, Some(0));
    assert!(out.contains("<title>Index of /</title>"), "{out}");
    assert!(
        out.contains(">b.txt</a></td><td class=\"n\" title=\"10 bytes\">10 B</td>"),
        "{out}"
    );
    let (_, out, _) = parts(&nethttp(&["get", &srv.url("sub/")]));
    assert!(out.contains("<a href=\"../\">../</a>"), "{out}");
}

#[test]
fn basic_auth_and_cors() {
    let dir = TempDir::new("auth");
    dir.write("a.txt", b"secret");
    let srv = Serve::start(
        dir.path(),
        &["-q", "--basic-auth", "ann:pw:with:colons", "--cors"],
    );
    let url = srv.url("a.txt");
    let (code, out, err) = parts(&nethttp(&["get", "-u", "ann:pw:with:colons", &url]));
    assert_eq!((code, out.as_str()), (Some(0), "secret"), "{err}");
    for creds in [None, Some("ann:wrong"), Some("bob:pw:with:colons")] {
        let mut args = vec!["get", "-i", &url];
        if let Some(c) = creds {
            args.extend(["-u", c]);
        }
        let (_, out, _) = parts(&nethttp(&args));
        assert!(out.starts_with("HTTP/1.1 401"), "{creds:?}: {out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"nethttp\""),
            "{out}"
        );
        assert!(!out.contains("secret"), "{out}");
    }
    // CORS: every response allows any origin; a preflight is answered before the
    // credentials are asked for (browsers send none with it).
    let resp = raw(&srv, "GET", "/a.txt", "Origin: http://x.example\r\n");
    assert!(
        resp.to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "{resp}"
    );
    let resp = raw(
        &srv,
        "OPTIONS",
        "/a.txt",
        "Origin: http://x.example\r\nAccess-Control-Request-Method: GET\r\n\
         Access-Control-Request-Headers: x-token\r\n",
    );
    let lower = resp.to_ascii_lowercase();
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    for want in [
        "access-control-allow-origin: *",
        "access-control-allow-methods: get, head, options",
        "access-control-allow-headers: x-token",
    ] {
        assert!(lower.contains(want), "{want}: {resp}");
    }
}

#[test]
fn common_log_format_and_a_cut_download() {
    let dir = TempDir::new("clf");
    dir.write("a.txt", b"0123456789");
    // Larger than loopback's socket buffers, so the server is still writing when the
    // client goes away.
    dir.write("big.bin", &vec![7u8; 64 << 20]);
    let mut srv = Serve::start(dir.path(), &["--log-format", "common"]);
    let (code, _, _) = parts(&nethttp(&["get", "-u", "ann:pw", &srv.url("a.txt")]));
    assert_eq!(code, Some(0));
    let line = srv.wait_line("a CLF line", |l| l.contains("\"GET /a.txt HTTP/1.1\""));
    // 127.0.0.1 - ann [02/Dec/2026:16:13:08 +0000] "GET /a.txt HTTP/1.1" 200 10
    let (who, rest) = line.split_once(" [").expect(&line);
    assert!(who.ends_with("127.0.0.1 - ann"), "{line}");
    assert!(
        rest.ends_with("+0000] \"GET /a.txt HTTP/1.1\" 200 10"),
        "{line}"
    );

    // A client that reads a little of a big file and hangs up.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 4096];
    let n = s.read(&mut first).unwrap();
    assert!(n > 0);
    drop(s);
    let line = srv.wait_line("the cut download's line", |l| l.contains("/big.bin"));
    assert!(line.ends_with(" cut"), "{line}");
    assert!(line.contains("\" 200 "), "{line}");
}

#[cfg(feature = "tls")]
#[test]
fn https_with_a_certificate_and_key() {
    let dir = TempDir::new("tls");
    dir.write("a.txt", b"over tls");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_file = dir.write("cert.pem", cert.pem().as_bytes());
    let key_file = dir.write("key.pem", key.serialize_pem().as_bytes());
    let (c, k) = (cert_file.to_str().unwrap(), key_file.to_str().unwrap());
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("serve").arg(dir.path()).args([
        "-q",
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        k,
    ]);
    let srv = Serve::spawn(cmd);
    assert!(
        srv.log[0].contains(" on https://127.0.0.1:"),
        "{:?}",
        srv.log
    );
    let url = format!("https://localhost:{}/a.txt", srv.addr.port());
    let (code, out, err) = parts(&nethttp(&["get", "--cacert", c, &url]));
    assert_eq!((code, out.as_str()), (Some(0), "over tls"), "{err}");

    // One without the other is a usage error; a key that is not one is a clear failure.
    let (code, _, err) = parts(&nethttp(&["serve", "--tls-cert", c]));
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = parts(&nethttp(&[
        "serve",
        dir.path().to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        c,
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("nethttp: cannot use --tls-cert/--tls-key: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
