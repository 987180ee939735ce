//! TLS for client and server: round trips and pooling over TLS, full-duplex traffic on one
//! session, certificate and protocol failures, handshake timeouts on both sides, hijack and
//! upgrade over TLS, ClientConn over TLS, and interop with curl and nginx.
#![cfg(feature = "httptest-tls")]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "clientconn")]
use nethttp::client::ClientConn;
use nethttp::client::{ClientTrace, Transport, TransportConfig};
use nethttp::error::TimeoutPhase;
use nethttp::net::{Dial, Stream, Target};
use nethttp::server::Body;
use nethttp::tls::{ClientAuth, ClientTls};
use nethttp::{httptest, ErrorKind, Method, Request, ResponseWriter, StatusCode};
use support::{poll_until, require_tool, run_bounded, RawConn};

fn hello(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = write!(w, "hello {} tls={}", r.uri.path(), r.is_tls());
}

/// A streaming echo: each chunk read is written and flushed at once, so request and
/// response bodies flow at the same time over one TLS session.
fn duplex_echo(w: &mut dyn ResponseWriter, r: &mut Request) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.body().read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if w.write_all(&buf[..n]).is_err() || w.flush().is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(1469598103934665603u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(1099511628211)
    })
}

/// A transport that also trusts the CA certificates in `ca_pem`.
fn trusting(ca_pem: &[u8]) -> Transport {
    let mut tls = ClientTls::default();
    tls.add_root_certificates_pem(ca_pem).unwrap();
    Transport::with_config(TransportConfig {
        tls,
        ..Default::default()
    })
}

#[test]
fn round_trips_and_pools_over_tls() {
    let ts = httptest::Server::new_tls(hello);
    assert!(ts.url().starts_with("https://127.0.0.1:"));
    let client = ts.client();
    let reused = Arc::new(AtomicUsize::new(0));
    for i in 0..5 {
        let r2 = Arc::clone(&reused);
        let mut req = Request::new(Method::GET, &format!("{}/p{i}", ts.url())).unwrap();
        nethttp::client::RequestOptions::of_mut(&mut req).trace =
            ClientTrace::new().on_got_conn(move |info| {
                if info.reused {
                    r2.fetch_add(1, Ordering::SeqCst);
                }
            });
        let mut resp = client.send(req).unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.text().unwrap(), format!("hello /p{i} tls=true"));
    }
    assert_eq!(
        reused.load(Ordering::SeqCst),
        4,
        "one TLS connection, reused"
    );
}

#[test]
fn full_duplex_body_over_one_session() {
    let ts = httptest::Server::new_tls(duplex_echo);
    let client = ts.client();
    let body: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    let want = checksum(&body);
    let len = body.len();
    // A reader of unknown length: sent chunked by the writer thread while the reader thread
    // and this thread take the echoed response off the same TLS session.
    let mut req = Request::new(Method::POST, &format!("{}/echo", ts.url())).unwrap();
    req.replace_body(Body::from_reader(std::io::Cursor::new(body)));
    nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(Duration::from_secs(30));
    let mut resp = client.send(req).unwrap();
    let got = resp.bytes_limited(16 << 20).unwrap();
    assert_eq!(got.len(), len);
    assert_eq!(checksum(&got), want);
}

#[test]
fn plain_http_to_the_tls_port_gets_a_clear_400() {
    let ts = httptest::Server::new_tls(hello);
    let mut c = RawConn::connect(ts.addr());
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = c.read_to_close().expect("server answers and closes");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{text}");
    assert!(
        text.contains("Client sent an HTTP request to an HTTPS server."),
        "{text}"
    );
}

#[test]
fn https_client_to_a_plain_server_says_so() {
    let plain = httptest::Server::new(hello);
    let url = plain.url().replace("http://", "https://");
    let err = httptest::Server::new_tls(hello)
        .client()
        .get(&url)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    assert!(
        err.to_string()
            .contains("server gave HTTP response to HTTPS client"),
        "{err}"
    );
}

#[test]
fn untrusted_certificate_is_refused() {
    let ts = httptest::Server::new_tls(hello);
    let err = nethttp::Client::new().get(ts.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// Connects every request to one address, whatever the URL says.
#[derive(Debug)]
struct FixedDialer(std::net::SocketAddr);

impl Dial for FixedDialer {
    fn dial(
        &self,
        _t: &Target,
        _d: Option<Instant>,
        _trace: &ClientTrace,
    ) -> nethttp::Result<Box<dyn Stream>> {
        Ok(Box::new(
            TcpStream::connect(self.0).map_err(nethttp::Error::from)?,
        ))
    }
}

#[test]
fn host_name_mismatch_is_refused_and_danger_option_accepts() {
    let ts = httptest::Server::new_tls(hello);
    let mut tls = ClientTls::default();
    tls.add_root_certificates_pem(ts.ca_pem().unwrap().as_bytes())
        .unwrap();
    let client = nethttp::Client::with_transport(Transport::with_config(TransportConfig {
        dialer: Arc::new(FixedDialer(ts.addr())),
        tls,
        ..Default::default()
    }));
    let url = format!("https://not-this-host.test:{}/", ts.addr().port());
    let err = client.get(&url).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");

    let t = Transport::with_config(TransportConfig {
        dialer: Arc::new(FixedDialer(ts.addr())),
        tls: ClientTls {
            danger_accept_invalid_certs: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let mut resp = nethttp::Client::with_transport(t).get(&url).unwrap();
    assert_eq!(resp.text().unwrap(), "hello / tls=true");
}

#[test]
fn client_handshake_timeout_is_its_own_phase() {
    // Accepts and never answers the ClientHello.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let client = nethttp::Client::with_transport(Transport::with_config(TransportConfig {
        tls: ClientTls {
            handshake_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    }));
    let t0 = Instant::now();
    let err = client
        .get(&format!("https://localhost:{}/", addr.port()))
        .unwrap_err();
    assert_eq!(
        err.timeout_phase(),
        Some(TimeoutPhase::TlsHandshake),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    drop(silent);
}

fn test_certs() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), key.serialize_pem())
}

#[test]
fn server_handshake_runs_on_the_connection_thread_with_its_own_timeout() {
    let (ca, leaf, key) = test_certs();
    let mut tls = nethttp::tls::ServerTls::from_pem(leaf.as_bytes(), key.as_bytes()).unwrap();
    tls.handshake_timeout = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = nethttp::Server::new(hello);
    let s2 = srv.clone();
    let serving = std::thread::spawn(move || s2.serve_tls(listener, tls));

    // A client that connects and says nothing does not stall accepting: a real client is
    // served meanwhile, and the silent one is dropped at the handshake timeout.
    let mut silent = RawConn::connect(addr);
    let client = nethttp::Client::with_transport(trusting(ca.as_bytes()));
    let mut resp = client
        .get(&format!("https://localhost:{}/x", addr.port()))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "hello /x tls=true");
    let t0 = Instant::now();
    silent.expect_closed("silent tls client");
    assert!(t0.elapsed() < Duration::from_secs(3));

    drop(client);
    srv.shutdown(Duration::from_secs(5)).unwrap();
    serving.join().unwrap().unwrap();
}

#[test]
fn upgrade_over_tls_echoes_both_ways() {
    let ts = httptest::Server::new_tls(|w: &mut dyn ResponseWriter, _r: &mut Request| {
        w.headers_mut().insert("upgrade", "echo".parse().unwrap());
        w.headers_mut()
            .insert("connection", "Upgrade".parse().unwrap());
        w.write_header(StatusCode::SWITCHING_PROTOCOLS);
        let mut conn = w.hijack().expect("hijack over tls");
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let req = Request::new(Method::GET, &format!("{}/up", ts.url()))
        .unwrap()
        .with_header("Upgrade", "echo")
        .unwrap()
        .with_header("Connection", "Upgrade")
        .unwrap();
    let mut resp = ts.client().send(req).unwrap();
    assert_eq!(resp.status, StatusCode::SWITCHING_PROTOCOLS);
    let mut conn = resp.upgrade().unwrap();
    for msg in ["one", "two, longer", "three"] {
        conn.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        conn.stream()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.as_bytes());
    }
}

#[cfg(feature = "clientconn")]
#[test]
fn client_conn_over_tls() {
    let ts = httptest::Server::new_tls(hello);
    let mut tls = ClientTls::default();
    tls.add_root_certificates_pem(ts.ca_pem().unwrap().as_bytes())
        .unwrap();
    let sock = TcpStream::connect(ts.addr()).unwrap();
    let stream = nethttp::tls::connect(Box::new(sock), "localhost", &tls, None).unwrap();
    assert_eq!(stream.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    let cc = ClientConn::new(stream);
    for path in ["/a", "/b"] {
        let mut resp = cc
            .send(Request::new(Method::GET, &format!("https://localhost{path}")).unwrap())
            .unwrap();
        assert_eq!(resp.text().unwrap(), format!("hello {path} tls=true"));
    }
}

#[test]
fn no_connection_threads_left_after_close() {
    let ts = httptest::Server::new_tls(hello);
    let transport = { trusting(ts.ca_pem().unwrap().as_bytes()) };
    let client = nethttp::Client::with_transport(transport.clone());
    for _ in 0..3 {
        client.get(ts.url()).unwrap().bytes().unwrap();
    }
    assert_eq!(transport.stats().threads, 2);
    transport.close_idle_connections();
    assert!(
        poll_until(Duration::from_secs(5), || transport.stats().threads == 0),
        "reader/writer threads left: {:?}",
        transport.stats()
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("nethttp-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn curl_trusts_our_tls_server_with_cacert() {
    if !require_tool("curl", std::process::Command::new("curl").arg("--version")) {
        return;
    }
    let ts = httptest::Server::new_tls(hello);
    let dir = temp_dir("curl");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ts.ca_pem().unwrap()).unwrap();
    let out = run_bounded(
        std::process::Command::new("curl")
            .args(["-sS", "--http1.1", "--cacert"])
            .arg(&ca)
            .arg(format!("{}/curl", ts.url()))
            .arg(format!("{}/again", ts.url())),
        Duration::from_secs(20),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello /curl tls=truehello /again tls=true"
    );
}

/// A real nginx serving TLS on a free port, with certificates made for the test.
struct Nginx {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
    ca: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_bin() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

fn start_nginx() -> Option<Nginx> {
    let Some(bin) = nginx_bin() else {
        require_tool(
            "nginx",
            &mut std::process::Command::new("nginx-not-installed"),
        );
        return None;
    };
    let (ca, leaf, key) = test_certs();
    let dir = temp_dir("nginx");
    std::fs::write(dir.join("cert.pem"), &leaf).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/hello.txt"), "hello from nginx\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n\
         fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n\
         keepalive_requests 1000;\n\
         server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {d}/cert.pem;\n\
         ssl_certificate_key {d}/key.pem;\n  root {d}/www;\n }}\n}}\n"
    );
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = std::process::Command::new(bin)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nginx");
    let n = Nginx {
        child,
        dir,
        port,
        ca,
    };
    let up = poll_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", n.port)).is_ok()
    });
    assert!(up, "nginx did not start on port {}", n.port);
    Some(n)
}

#[test]
fn our_client_against_nginx_tls() {
    let Some(nginx) = start_nginx() else { return };
    let client = nethttp::Client::with_transport(trusting(nginx.ca.as_bytes()));
    let reused = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let r2 = Arc::clone(&reused);
        let mut req = Request::new(
            Method::GET,
            &format!("https://localhost:{}/hello.txt", nginx.port),
        )
        .unwrap();
        nethttp::client::RequestOptions::of_mut(&mut req).trace =
            ClientTrace::new().on_got_conn(move |i| {
                if i.reused {
                    r2.fetch_add(1, Ordering::SeqCst);
                }
            });
        nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(Duration::from_secs(10));
        let mut resp = client.send(req).unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.text().unwrap(), "hello from nginx\n");
    }
    assert_eq!(
        reused.load(Ordering::SeqCst),
        2,
        "keep-alive over TLS with nginx"
    );
    let resp = client
        .get(&format!("https://localhost:{}/missing", nginx.port))
        .unwrap();
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
}

/// A minimal CONNECT proxy for one tunnel: reads `CONNECT host:port`, connects to `origin`
/// (whatever the host), answers 200 and splices bytes both ways. Records the CONNECT line.
fn connect_proxy(
    origin: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        let Ok((mut client, _)) = listener.accept() else {
            return;
        };
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if client.read(&mut b).unwrap_or(0) == 0 {
                return;
            }
            head.push(b[0]);
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        seen2.lock().unwrap().push(line);
        let upstream = TcpStream::connect(origin).unwrap();
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        client.set_read_timeout(None).unwrap();
        let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let (mut c1, mut u1) = (client, upstream);
        let a = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c1, &mut u1);
            let _ = u1.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(std::net::Shutdown::Write);
        let _ = a.join();
    });
    (addr, seen)
}

#[test]
fn https_through_a_connect_proxy_runs_tls_inside_the_tunnel() {
    let ts = httptest::Server::new_tls(hello);
    let (proxy_addr, seen) = connect_proxy(ts.addr());
    let mut tls = ClientTls::default();
    tls.add_root_certificates_pem(ts.ca_pem().unwrap().as_bytes())
        .unwrap();
    let client = nethttp::Client::with_transport(Transport::with_config(TransportConfig {
        proxy: nethttp::client::Proxy::all(&format!("http://{proxy_addr}")).unwrap(),
        tls,
        ..Default::default()
    }));
    let url = format!("https://localhost:{}/tunnelled", ts.addr().port());
    for _ in 0..2 {
        let mut resp = client.get(&url).unwrap();
        assert_eq!(resp.text().unwrap(), "hello /tunnelled tls=true");
    }
    let lines = seen.lock().unwrap().clone();
    assert_eq!(
        lines,
        vec![format!("CONNECT localhost:{} HTTP/1.1", ts.addr().port())],
        "one tunnel, reused for both requests"
    );
}

#[test]
fn client_certificates_for_a_server_that_requires_them() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // One CA issues the server's certificate and the client's.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "mtls CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let srv_key = KeyPair::generate().unwrap();
    let srv_cert = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let cli_key = KeyPair::generate().unwrap();
    let mut cli_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    cli_params
        .distinguished_name
        .push(DnType::CommonName, "client one");
    let cli_cert = cli_params.signed_by(&cli_key, &ca, &ca_key).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![srv_cert.der().clone()],
            PrivateKeyDer::from_pem_slice(srv_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    let tls = nethttp::tls::ServerTls::from_config(std::sync::Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = nethttp::Server::new(hello);
    let s2 = srv.clone();
    let serving = std::thread::spawn(move || s2.serve_tls(listener, tls));
    let url = format!("https://localhost:{}/mtls", addr.port());

    let client_with = |auth: bool| {
        let tls = ClientTls {
            extra_roots: vec![CertificateDer::from(ca.der().to_vec())],
            client_auth: auth.then(|| ClientAuth {
                chain: vec![CertificateDer::from(cli_cert.der().to_vec())],
                key: PrivateKeyDer::from_pem_slice(cli_key.serialize_pem().as_bytes()).unwrap(),
            }),
            ..Default::default()
        };
        nethttp::Client::with_transport(Transport::with_config(TransportConfig {
            tls,
            ..Default::default()
        }))
    };
    let mut resp = client_with(true).get(&url).unwrap();
    assert_eq!(resp.text().unwrap(), "hello /mtls tls=true");
    // Without a certificate the server refuses: in TLS 1.3 the client learns it when it
    // reads, so the error may come from the handshake or from the first response read.
    let err = client_with(false).get(&url).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Tls | ErrorKind::ConnectionClosed(_) | ErrorKind::Io
        ),
        "{err:?}"
    );
    srv.shutdown(Duration::from_secs(5)).unwrap();
    serving.join().unwrap().unwrap();
}

/// A client that sends its Finished, a close_notify and more bytes in one write: rustls takes
/// nothing after close_notify, and the server's handshake loop must not spin on the rest.
#[test]
fn close_notify_with_trailing_bytes_in_the_handshake_does_not_spin_the_server() {
    let ts = httptest::Server::new_tls(hello);
    let mut roots = rustls::RootCertStore::empty();
    let ca: Vec<u8> = ts.ca_pem().unwrap().as_bytes().to_vec();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut sock = TcpStream::connect(ts.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        while conn.wants_write() {
            conn.write_tls(&mut pending).unwrap();
        }
        if !conn.is_handshaking() {
            break; // `pending` holds the client's Finished, not sent yet
        }
        sock.write_all(&pending).unwrap();
        pending.clear();
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "server closed during handshake");
        let mut data = &buf[..n];
        while !data.is_empty() {
            conn.read_tls(&mut data).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
    conn.send_close_notify();
    conn.write_tls(&mut pending).unwrap();
    pending.extend(std::iter::repeat_n(0x17u8, 5000));
    sock.write_all(&pending).unwrap();
    // The server gives up on this connection: EOF or reset, never silence.
    let t0 = Instant::now();
    loop {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "server did not close the connection"
    );
    assert!(
        poll_until(Duration::from_secs(5), || ts.server().num_connections()
            == 0),
        "connection still tracked"
    );
}

/// Serves `hello` over TLS with the certificate chain and key given (PEM) on 127.0.0.1 until
/// the returned guard is dropped.
struct TlsServer {
    srv: nethttp::Server,
    addr: std::net::SocketAddr,
    serving: Option<std::thread::JoinHandle<nethttp::Result<()>>>,
}

impl TlsServer {
    fn start(cert_pem: &str, key_pem: &str) -> TlsServer {
        let tls = nethttp::tls::ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
            .expect("server certificate");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let srv = nethttp::Server::new(hello);
        let s2 = srv.clone();
        let serving = Some(std::thread::spawn(move || s2.serve_tls(listener, tls)));
        TlsServer { srv, addr, serving }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.srv.shutdown(Duration::from_secs(5));
        if let Some(h) = self.serving.take() {
            let _ = h.join();
        }
    }
}

/// Certificate failures say what is wrong in words (Go's wording where Go has one), after
/// the request they ended, and `is_tls` tells them from other failures.
#[test]
fn certificate_errors_are_said_in_words() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf = |names: &[&str], edit: &dyn Fn(&mut CertificateParams)| {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        edit(&mut p);
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    // A CA certificate (for localhost) served as the server's own.
    let ca_leaf_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_leaf = p.self_signed(&ca_leaf_key).unwrap();

    let cases: Vec<(&str, (String, String), String, &str)> = vec![
        (
            "unknown authority",
            leaf(&["localhost"], &|_| {}),
            String::new(),
            "certificate signed by an unknown authority",
        ),
        (
            "ca as end entity",
            (ca_leaf.pem(), ca_leaf_key.serialize_pem()),
            ca_leaf.pem(),
            "certificate is a CA certificate, not a server's",
        ),
        (
            "expired",
            leaf(&["localhost"], &|p| {
                p.not_before = rcgen::date_time_ymd(2019, 1, 1);
                p.not_after = rcgen::date_time_ymd(2020, 2, 29);
            }),
            ca.pem(),
            "certificate expired on 2020-02-29 00:00:00 UTC",
        ),
        (
            "not yet valid",
            leaf(&["localhost"], &|p| {
                p.not_before = rcgen::date_time_ymd(2999, 12, 31);
                p.not_after = rcgen::date_time_ymd(3000, 1, 1);
            }),
            ca.pem(),
            "certificate is not valid until 2999-12-31 00:00:00 UTC",
        ),
        (
            "name mismatch",
            leaf(&["other.test", "*.other.test"], &|_| {}),
            ca.pem(),
            "certificate name does not match: it is valid for other.test, *.other.test, not localhost",
        ),
    ];
    for (name, (cert, key), trust, words) in cases {
        let srv = TlsServer::start(&cert, &key);
        let mut tls = ClientTls::default();
        if !trust.is_empty() {
            tls.add_root_certificates_pem(trust.as_bytes()).unwrap();
        }
        let t = Transport::with_config(TransportConfig {
            tls,
            ..Default::default()
        });
        let url = format!("https://localhost:{}/", srv.addr.port());
        let err = nethttp::Client::with_transport(t.clone())
            .get(&url)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{name}: {err}");
        assert!(
            err.is_tls() && !err.is_connect() && !err.is_timeout(),
            "{name}"
        );
        assert_eq!(
            err.to_string(),
            format!("GET {url}: tls error: {words}"),
            "{name}"
        );
        // The rustls error is still there for programs that want it.
        let rustls_err = std::error::Error::source(&err)
            .and_then(std::error::Error::source)
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        assert!(rustls_err.is_some(), "{name}: {err:?}");
    }
}
