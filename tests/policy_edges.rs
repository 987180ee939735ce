//! Edges of the client's policy layer and TLS, from a review (session 21): each test failed
//! against the behaviour it guards. Loopback only; every blocking step is bounded.

mod policy_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use nethttp::client::{Client, ClientConfig, Proxy, TransportConfig};
use nethttp::httptest::Server;
use nethttp::tls::ClientTls;
use nethttp::{HeaderMap, Method, Request, ResponseWriter};
use policy_support::{transport, BOUND};

// -------------------------------------------------------------------------------------------
// TLS: a close-delimited body cut without close_notify.

/// A CA and a leaf for `localhost` signed by it: (CA PEM, leaf DER, key DER).
fn certs() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "review CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.der().to_vec(), key.serialize_der())
}

/// A one-shot TLS server written with rustls directly: it answers the first request with
/// `Connection: close` and no Content-Length (a close-delimited body) sent as two records,
/// `part one, ` and `part two`; of the second record only all but `cut` bytes go out; then the
/// TCP connection is closed without a close_notify. Returns the port and the CA PEM.
fn truncating_tls_server(cut: usize) -> (u16, String, thread::JoinHandle<()>) {
    use nethttp::tls::rustls;
    let (ca_pem, leaf, key) = certs();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(leaf)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(BOUND)).unwrap();
        tcp.set_write_timeout(Some(BOUND)).unwrap();
        let mut conn = rustls::ServerConnection::new(cfg).unwrap();
        let mut req = Vec::new();
        let deadline = Instant::now() + BOUND;
        // Handshake, then read the request head.
        loop {
            assert!(Instant::now() < deadline, "server: no request in time");
            while conn.wants_write() {
                conn.write_tls(&mut tcp).unwrap();
            }
            if !conn.is_handshaking() && req.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            if conn.read_tls(&mut tcp).unwrap() == 0 {
                return;
            }
            conn.process_new_packets().unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        let mut record = |plain: &[u8]| -> Vec<u8> {
            conn.writer().write_all(plain).unwrap();
            let mut out = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut out).unwrap();
            }
            out
        };
        let head = record(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let one = record(b"part one, ");
        let two = record(b"part two");
        tcp.write_all(&head).unwrap();
        tcp.write_all(&one).unwrap();
        tcp.write_all(&two[..two.len() - cut]).unwrap();
        tcp.flush().unwrap();
        // A TCP close with no close_notify (what an attacker injecting a FIN produces).
        let _ = tcp.shutdown(Shutdown::Write);
        // Wait (bounded) for the client to hang up.
        let mut sink = [0u8; 1024];
        while let Ok(n) = tcp.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    });
    (port, ca_pem, h)
}

fn tls_client(ca_pem: &str) -> Client {
    let mut tls = ClientTls::default();
    tls.add_root_certificates_pem(ca_pem.as_bytes()).unwrap();
    Client::with_config(ClientConfig {
        transport: transport(TransportConfig {
            proxy: Proxy::none(),
            tls,
            ..TransportConfig::default()
        }),
        timeout: Some(BOUND),
        ..ClientConfig::default()
    })
}

/// The TCP connection closes in the middle of a TLS record of a close-delimited body, without
/// close_notify. Go's crypto/tls returns `io.ErrUnexpectedEOF` here (it accepts a missing
/// close_notify only at a record boundary), so Go's client fails the body read; RFC 9112 §9.8
/// says such a body is incomplete. nethttp returned the bytes before the cut as a complete
/// body; it now fails the read, as Go. (At a record boundary nethttp accepts the end, as Go
/// does, though RFC 9112 §9.8 would want a closure alert.)
#[test]
fn tls_close_mid_record_of_a_close_delimited_body_is_an_error() {
    let (port, ca, server) = truncating_tls_server(10);
    let client = tls_client(&ca);
    let mut resp = client
        .get(&format!("https://localhost:{port}/"))
        .expect("head arrives whole");
    assert_eq!(resp.status, 200);
    let got = resp.bytes();
    assert!(
        got.is_err(),
        "a body cut in the middle of a TLS record, without close_notify, read as complete: {:?}",
        got.map(|b| String::from_utf8_lossy(&b).into_owned())
    );
    drop(resp);
    server.join().unwrap();
}

// -------------------------------------------------------------------------------------------
// Proxy-Authorization set by the caller reaches an origin after a redirect.

type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

fn recording(seen: &Seen) -> Server {
    let seen = Arc::clone(seen);
    Server::new(move |w: &mut dyn ResponseWriter, r: &mut Request| {
        seen.lock()
            .unwrap()
            .push((r.uri.path().to_string(), r.headers.clone()));
        let _ = w.write_all(b"origin");
    })
}

/// A forwarding HTTP proxy that answers its one request itself with a 302 to `location`,
/// and hands back the request head it got.
fn redirecting_proxy(location: String) -> (u16, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => break,
            }
        }
        let resp = format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = s.write_all(resp.as_bytes());
        String::from_utf8_lossy(&head).into_owned()
    });
    (port, h)
}

/// The caller authenticates to its proxy with a `Proxy-Authorization` field; the proxy's
/// answer redirects to the same host on another port, which NO_PROXY sends direct. The proxy
/// credential then goes to the origin server. Proxy-Authorization "applies only to the next
/// inbound proxy" (RFC 9110 §11.7.2), so nethttp no longer copies a caller's
/// `Proxy-Authorization` to any redirect (credentials in the proxy's URL are added per hop).
#[test]
fn caller_proxy_authorization_does_not_reach_an_origin_after_a_redirect() {
    let seen: Seen = Arc::default();
    let origin = recording(&seen);
    let origin_port = origin.addr().port();
    let (proxy_port, proxy) = redirecting_proxy(format!("http://127.0.0.1:{origin_port}/next"));
    let p = Proxy::all(&format!("http://127.0.0.1:{proxy_port}"))
        .unwrap()
        .no_proxy(&format!("127.0.0.1:{origin_port}"));
    let client = Client::with_config(ClientConfig {
        transport: transport(TransportConfig {
            proxy: p,
            ..TransportConfig::default()
        }),
        timeout: Some(BOUND),
        ..ClientConfig::default()
    });
    // The first hop goes through the proxy (any port but the origin's).
    let mut req = Request::new(Method::GET, "http://127.0.0.1:9/start").unwrap();
    req.headers.insert(
        "proxy-authorization",
        "Basic cHJveHk6c2VjcmV0".parse().unwrap(),
    );
    let mut resp = client.send(req).unwrap();
    assert_eq!(resp.text().unwrap(), "origin");
    let proxy_head = proxy.join().unwrap();
    assert!(
        proxy_head
            .to_ascii_lowercase()
            .contains("proxy-authorization"),
        "the proxy got the credential: {proxy_head}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].1.contains_key("proxy-authorization"),
        "the origin server at {} received the proxy credential: {:?}",
        seen[0].0,
        seen[0].1.get("proxy-authorization")
    );
}

// -------------------------------------------------------------------------------------------
// NO_PROXY matching.

fn via(p: &Proxy, url: &str) -> Option<String> {
    p.url_for(&url.parse().unwrap())
        .unwrap()
        .map(|u| u.to_string())
}

/// An entry whose port is not a number matches nothing in Go (its port string is compared as
/// it is); nethttp dropped the port and matched every port of the host, sending those
/// requests direct. Such an entry is now skipped.
#[test]
fn no_proxy_entry_with_a_bad_port_matches_nothing() {
    let p = Proxy::from_vars("proxy:3128", "", "example.com:http,10.1.2.3:x");
    assert_eq!(
        via(&p, "http://example.com/").as_deref(),
        Some("http://proxy:3128/"),
        "NO_PROXY=example.com:http bypassed the proxy for example.com:80"
    );
    assert_eq!(
        via(&p, "http://10.1.2.3/").as_deref(),
        Some("http://proxy:3128/"),
        "NO_PROXY=10.1.2.3:x bypassed the proxy for 10.1.2.3:80"
    );
}

/// Go compares NO_PROXY addresses with `net.IP.Equal`, for which an IPv4-mapped IPv6 address
/// and the IPv4 address are the same (as nethttp did for CIDR entries only).
#[test]
fn no_proxy_ip_matches_its_ipv4_mapped_form() {
    let p = Proxy::from_vars("proxy:3128", "", "10.1.2.3");
    assert_eq!(via(&p, "http://10.1.2.3/"), None);
    assert_eq!(
        via(&p, "http://[::ffff:10.1.2.3]/"),
        None,
        "NO_PROXY=10.1.2.3 did not match [::ffff:10.1.2.3]"
    );
}

/// Go's `IsLoopback` holds for `::ffff:127.0.0.1`, so proxies from the environment are not
/// used for it (nethttp sent it to the proxy).
#[test]
fn environment_proxies_skip_ipv4_mapped_loopback() {
    let p = Proxy::from_vars("proxy:3128", "", "");
    assert_eq!(via(&p, "http://127.0.0.1/"), None);
    assert_eq!(
        via(&p, "http://[::ffff:127.0.0.1]/"),
        None,
        "a request to [::ffff:127.0.0.1] went to the environment's proxy"
    );
}
