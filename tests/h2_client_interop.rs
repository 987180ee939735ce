//! The HTTP/2 client against an independently written HTTP/2 server: nghttpd (nghttp2's
//! server, Debian package `nghttp2-server`, installed by `.ci/install-peers`) serving a
//! directory over h2c with prior knowledge and over TLS with ALPN, with `--echo-upload` so
//! request bodies come back and flow control is exercised both ways.
//!
//! A missing nghttpd fails the test under `CI=true` and is otherwise skipped with a note
//! printed past the harness's capture. The server process is killed on drop; every request
//! has a 10 s deadline.

mod peers;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nethttp::client::{Client, ClientConfig, Protocols, Transport, TransportConfig};
use nethttp::Version;
use peers::{free_port, missing, pattern, wait_listening, Proc, TempDir};

/// nghttpd, if installed (it lives in /usr/sbin, often not on a user's `PATH`).
fn nghttpd() -> Option<PathBuf> {
    [
        PathBuf::from("nghttpd"),
        PathBuf::from("/usr/sbin/nghttpd"),
        PathBuf::from("/usr/local/sbin/nghttpd"),
    ]
    .into_iter()
    .find(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A running nghttpd over a temp directory holding `small.txt` and `big.bin` (1 MiB).
struct Nghttpd {
    port: u16,
    _dir: TempDir,
    _proc: Proc,
}

impl Nghttpd {
    /// Starts nghttpd; with `tls`, the certificate and key PEMs to serve with.
    fn start(tls: Option<(&str, &str)>) -> Option<Nghttpd> {
        let Some(bin) = nghttpd() else {
            missing("nghttpd");
            return None;
        };
        let dir = TempDir::new("nghttpd");
        std::fs::write(dir.0.join("small.txt"), b"hello from nghttpd\n").unwrap();
        std::fs::write(dir.0.join("big.bin"), pattern(1 << 20)).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg("-a")
                .arg("127.0.0.1")
                .arg("-d")
                .arg(&dir.0)
                .arg("--echo-upload");
            match tls {
                None => {
                    cmd.arg("--no-tls").arg(port.to_string());
                }
                Some((cert, key)) => {
                    let c = dir.0.join("cert.pem");
                    let k = dir.0.join("key.pem");
                    std::fs::write(&c, cert).unwrap();
                    std::fs::write(&k, key).unwrap();
                    cmd.arg(port.to_string()).arg(&k).arg(&c);
                }
            }
            let child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nghttpd");
            let mut p = Proc {
                child,
                graceful: false,
            };
            if wait_listening(&mut p.child, port, Duration::from_secs(5)) {
                return Some(Nghttpd {
                    port,
                    _dir: dir,
                    _proc: p,
                });
            }
        }
        panic!("nghttpd did not start listening");
    }
}

fn client(t: &Transport) -> Client {
    Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    })
}

/// GETs, an upload echoed back (1 MiB, past every window), and 16 threads at once.
fn exercise(c: &Client, t: &Transport, base: &str) {
    let mut r = c.get(&format!("{base}/small.txt")).unwrap();
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.text().unwrap(), "hello from nghttpd\n");
    let mut r = c.get(&format!("{base}/big.bin")).unwrap();
    assert!(r.bytes().unwrap() == pattern(1 << 20), "big.bin differs");
    let body = pattern(1 << 20);
    let mut r = c
        .post(
            &format!("{base}/small.txt"),
            "application/octet-stream",
            body.clone(),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.bytes().unwrap() == body, "echoed upload differs");
    let r = c.get(&format!("{base}/missing")).unwrap();
    assert_eq!(r.status, 404);
    drop(r);
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{base}/big.bin"));
            thread::spawn(move || c.get(&url).and_then(|mut r| r.bytes()).map(|b| b.len()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), 1 << 20);
    }
    assert_eq!(t.stats().open, 1, "one shared connection");
    t.close_idle_connections();
    let end = Instant::now() + Duration::from_secs(5);
    while t.stats().threads != 0 && Instant::now() < end {
        thread::yield_now();
    }
    assert_eq!(t.stats().threads, 0, "leftover connection threads");
}

#[test]
fn nghttpd_h2c_prior_knowledge() {
    let Some(srv) = Nghttpd::start(None) else {
        return;
    };
    let t = Transport::with_config(TransportConfig {
        protocols: Protocols {
            http1: false,
            unencrypted_http2: true,
            ..Protocols::default()
        },
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    exercise(&client(&t), &t, &format!("http://127.0.0.1:{}", srv.port));
}

#[test]
fn nghttpd_tls_alpn() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "nethttp h2 interop CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let Some(srv) = Nghttpd::start(Some((&leaf.pem(), &leaf_key.serialize_pem()))) else {
        return;
    };
    let mut tls = nethttp::tls::ClientTls::default();
    tls.add_root_certificates_pem(ca.pem().as_bytes()).unwrap();
    let t = Transport::with_config(TransportConfig {
        tls,
        proxy: nethttp::client::Proxy::none(),
        ..TransportConfig::default()
    });
    exercise(&client(&t), &t, &format!("https://localhost:{}", srv.port));
}
