//! Proxies, against scripted raw servers and tinyproxy: `https://` proxies (TLS to the proxy,
//! through a rustls front written here, then absolute form or `CONNECT` and TLS inside TLS), a
//! proxy chosen per request by a function, extra `CONNECT` fields (static and per target), the
//! hook on the proxy's answer, and SOCKS5. Each case asserts the bytes the proxy saw or the
//! exact error. A missing tinyproxy skips its tests with a note (and fails them under
//! `CI=true`).

mod client_support;
mod policy_support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use client_support::{assert_no_leaks, ok_response, RawConn, RawServer, Watchdog, IO_TIMEOUT};
use nethttp::client::{Client, ClientConfig, Proxy, Transport, TransportConfig};
use nethttp::httptest::Server;
use nethttp::proto::head::ResponseHead;
use nethttp::tls::{rustls, ClientTls};
use nethttp::{Error, ErrorKind, HeaderMap, HeaderValue, Request, ResponseWriter, StatusCode, Uri};
use policy_support::peers::tinyproxy;

/// Every request gives up after this long, so no test can hang.
const BOUND: Duration = Duration::from_secs(10);
/// The whole of one test.
const BUDGET: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Helpers

/// A client over `t`, with [`BOUND`] on each request.
fn client(t: &Transport) -> Client {
    Client::with_config(ClientConfig {
        transport: Some(Arc::new(t.clone())),
        timeout: Some(BOUND),
        gzip: false,
        ..ClientConfig::default()
    })
}

/// Transport settings with `proxy`, no `User-Agent` (so the bytes on the wire are exactly
/// what each test writes down) and the CAs in `roots` trusted.
fn settings(proxy: Proxy, roots: &[&str]) -> TransportConfig {
    let mut tls = ClientTls::default();
    for pem in roots {
        tls.add_root_certificates_pem(pem.as_bytes())
            .expect("test CA");
    }
    TransportConfig {
        proxy,
        tls,
        user_agent: None,
        ..TransportConfig::default()
    }
}

/// An origin over TLS that answers `tls=<bool> <path>`.
fn tls_origin() -> Server {
    Server::new_tls(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let _ = write!(w, "tls={} {}", r.is_tls(), r.uri.path());
    })
}

/// Reads one head off `c` as raw text, blank line included; `None` at EOF before a head.
fn read_raw_head(c: &mut RawConn) -> Option<String> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = c.buf.drain(..i + 4).collect();
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads exactly `n` bytes off `c`.
fn read_n(c: &mut RawConn, n: usize) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 512];
    while c.buf.len() < n {
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(k) => c.buf.extend_from_slice(&chunk[..k]),
        }
    }
    Some(c.buf.drain(..n).collect())
}

/// True if the peer closes `c` before sending another byte (the byte, if one comes, is left
/// unread).
fn closed_without_a_byte(c: &mut RawConn) -> bool {
    let mut b = [0u8; 1];
    c.buf.is_empty() && matches!(c.stream.peek(&mut b), Ok(0))
}

/// Pipes bytes both ways between `c` and a new connection to `upstream` until either side
/// ends, then closes both.
fn relay(c: RawConn, upstream: SocketAddr) {
    let Ok(mut up) = TcpStream::connect_timeout(&upstream, IO_TIMEOUT) else {
        return;
    };
    let _ = up.set_read_timeout(Some(IO_TIMEOUT));
    let _ = up.write_all(&c.buf);
    let mut down = c.stream;
    let (Ok(mut down_r), Ok(mut up_w)) = (down.try_clone(), up.try_clone()) else {
        return;
    };
    let t = std::thread::spawn(move || {
        let _ = io::copy(&mut down_r, &mut up_w);
        let _ = up_w.shutdown(Shutdown::Both);
        let _ = down_r.shutdown(Shutdown::Both);
    });
    let _ = io::copy(&mut up, &mut down);
    let _ = up.shutdown(Shutdown::Both);
    let _ = down.shutdown(Shutdown::Both);
    let _ = t.join();
}

/// What a scripted proxy saw: the raw heads, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A scripted HTTP proxy: a `CONNECT` gets `answer(n)` (for the n-th connection) and, if that
/// is a 200, a tunnel to `upstream`; any other request gets `200 forwarded <target>`. Records
/// every head, and `closed early` when the client hangs up after an answer without sending a
/// byte (an aborted dial).
fn scripted_proxy(
    upstream: Option<SocketAddr>,
    answer: impl Fn(usize) -> String + Send + Sync + 'static,
) -> (RawServer, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let server = RawServer::start(move |mut c, n| {
        while let Some(head) = read_raw_head(&mut c) {
            s.push(head.clone());
            if head.starts_with("CONNECT ") {
                let a = answer(n);
                if !c.send(&a) {
                    return;
                }
                if closed_without_a_byte(&mut c) {
                    s.push("closed early");
                    return;
                }
                match upstream {
                    Some(up) if a.starts_with("HTTP/1.1 200") => return relay(c, up),
                    _ => return,
                }
            }
            let target = head.split(' ').nth(1).unwrap_or("").to_string();
            if !c.send(ok_response(&format!("forwarded {target}"))) {
                return;
            }
        }
    });
    (server, seen)
}

/// A CA and a leaf certificate for `127.0.0.1` and `localhost`: (CA, leaf, key), in PEM.
fn certs() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "nethttp proxy test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "proxy");
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// A TLS front on `127.0.0.1:0`: terminates TLS with a certificate from its own CA and relays
/// the plaintext to `upstream`, as nginx's stream module would in front of a proxy. Shuts
/// every connection down on drop.
struct TlsFront {
    addr: SocketAddr,
    ca_pem: String,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    socks: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    fn start(upstream: SocketAddr) -> TlsFront {
        let (ca_pem, leaf, key) = certs();
        let chain = nethttp::tls::certs_from_pem(leaf.as_bytes()).unwrap();
        let key = nethttp::tls::key_from_pem(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let socks = Arc::new(Mutex::new(Vec::new()));
        let (acc, st, sk) = (accepted.clone(), stop.clone(), socks.clone());
        let thread = std::thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = s else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                if let Ok(c) = s.try_clone() {
                    sk.lock().unwrap().push(c);
                }
                let (config, sk) = (config.clone(), sk.clone());
                std::thread::spawn(move || relay_tls(s, config, upstream, &sk));
            }
        });
        TlsFront {
            addr,
            ca_pem,
            accepted,
            stop,
            socks,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for s in self.socks.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// One connection of a [`TlsFront`]: the session is shared by the thread decrypting what the
/// client sends and the thread encrypting what `upstream` answers; each writes records to the
/// client under the session lock, so they go out in order.
fn relay_tls(
    client: TcpStream,
    config: Arc<rustls::ServerConfig>,
    upstream: SocketAddr,
    socks: &Mutex<Vec<TcpStream>>,
) {
    let Ok(up) = TcpStream::connect_timeout(&upstream, IO_TIMEOUT) else {
        return;
    };
    let _ = up.set_read_timeout(Some(IO_TIMEOUT));
    if let Ok(c) = up.try_clone() {
        socks.lock().unwrap().push(c);
    }
    let session = Arc::new(Mutex::new(
        rustls::ServerConnection::new(config).expect("server session"),
    ));
    let (Ok(mut client_r), Ok(mut client_w2), Ok(mut up_w)) =
        (client.try_clone(), client.try_clone(), up.try_clone())
    else {
        return;
    };
    let s2 = session.clone();
    let inbound = std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 << 10];
        'conn: loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut plain = Vec::new();
            {
                let mut s = s2.lock().unwrap();
                let mut data = &buf[..n];
                let mut failed = false;
                while !data.is_empty() && !failed {
                    failed = s.read_tls(&mut data).is_err() || s.process_new_packets().is_err();
                    let mut chunk = [0u8; 4096];
                    while let Ok(k @ 1..) = s.reader().read(&mut chunk) {
                        plain.extend_from_slice(&chunk[..k]);
                    }
                }
                while s.wants_write() {
                    if s.write_tls(&mut client_w2).is_err() {
                        break;
                    }
                }
                if failed {
                    break 'conn;
                }
            }
            if up_w.write_all(&plain).is_err() {
                break;
            }
        }
        let _ = up_w.shutdown(Shutdown::Both);
        let _ = client_w2.shutdown(Shutdown::Both);
    });
    let (mut up_r, mut client_w) = (up, client);
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match up_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut s = session.lock().unwrap();
        if s.writer().write_all(&buf[..n]).is_err() {
            break;
        }
        while s.wants_write() {
            if s.write_tls(&mut client_w).is_err() {
                break;
            }
        }
    }
    {
        let mut s = session.lock().unwrap();
        s.send_close_notify();
        while s.wants_write() {
            if s.write_tls(&mut client_w).is_err() {
                break;
            }
        }
    }
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = up_r.shutdown(Shutdown::Both);
    let _ = inbound.join();
}

/// `(name, value)` pairs of `h`, in order, for comparing.
fn fields(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CONNECT fields and the hook

#[test]
fn connect_sends_extra_fields_after_the_url_credentials() {
    let _w = Watchdog::new(
        "connect_sends_extra_fields_after_the_url_credentials",
        BUDGET,
    );
    let origin = tls_origin();
    let (proxy, seen) = scripted_proxy(Some(origin.addr()), |_| {
        "HTTP/1.1 200 Connection established\r\n\r\n".into()
    });
    let mut extra = HeaderMap::new();
    extra.insert("x-corp-id", HeaderValue::from_static("42"));
    // The URL's credentials replace this one, as in Go.
    extra.insert("proxy-authorization", HeaderValue::from_static("Bearer x"));
    extra.insert("user-agent", HeaderValue::from_static("corp-agent/1"));
    let t = Transport::with_config(TransportConfig {
        proxy_connect_header: extra,
        ..settings(
            Proxy::all(&format!("http://u:p@{}", proxy.addr())).unwrap(),
            &[origin.ca_pem().unwrap()],
        )
    });
    let c = client(&t);
    for path in ["/a", "/b"] {
        let body = c.get(&format!("{}{path}", origin.url())).unwrap().text();
        assert_eq!(body.unwrap(), format!("tls=true {path}"));
    }
    let port = origin.addr().port();
    // One CONNECT: the second request reused the tunnel.
    assert_eq!(
        seen.all(),
        [format!(
            "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Proxy-Authorization: Basic dTpw\r\nx-corp-id: 42\r\nuser-agent: corp-agent/1\r\n\r\n"
        )]
    );
    drop(c);
    assert_no_leaks(&t);
}

/// What the hook was shown: proxy URL, request method, URI and fields, answer status and
/// fields.
type HookView = (
    String,
    String,
    String,
    Vec<(String, String)>,
    u16,
    Vec<(String, String)>,
);

#[test]
fn connect_hook_sees_every_answer_and_can_abort() {
    let _w = Watchdog::new("connect_hook_sees_every_answer_and_can_abort", BUDGET);
    let origin = tls_origin();
    let (proxy, seen) = scripted_proxy(Some(origin.addr()), |n| match n {
        0 => "HTTP/1.1 200 Connection established\r\nX-Hop: p1\r\n\r\n".into(),
        1 => "HTTP/1.1 407 Proxy Authentication Required\r\n\
              Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n"
            .into(),
        _ => "HTTP/1.1 200 Connection established\r\nX-Abort: yes\r\n\r\n".into(),
    });
    let views: Arc<Mutex<Vec<HookView>>> = Arc::default();
    let v = views.clone();
    let hook = move |url: &Uri, req: &http::Request<()>, resp: &ResponseHead| {
        v.lock().unwrap().push((
            url.to_string(),
            req.method().to_string(),
            req.uri().to_string(),
            fields(req.headers()),
            resp.status.as_u16(),
            fields(&resp.headers),
        ));
        if resp.headers.contains_key("x-abort") {
            return Err(Error::invalid_input("hook refused the tunnel"));
        }
        Ok(())
    };
    let mut extra = HeaderMap::new();
    extra.insert("x-corp-id", HeaderValue::from_static("42"));
    let t = Transport::with_config(TransportConfig {
        proxy_connect_header: extra,
        on_proxy_connect_response: Some(Arc::new(hook)),
        ..settings(
            Proxy::all(&format!("http://u:p@{}", proxy.addr())).unwrap(),
            &[origin.ca_pem().unwrap()],
        )
    });
    let c = client(&t);
    let url = format!("{}/x", origin.url());
    let (pport, oport) = (proxy.addr().port(), origin.addr().port());

    // 200: the hook sees it, then the tunnel is used.
    assert_eq!(c.get(&url).unwrap().text().unwrap(), "tls=true /x");
    let sent = vec![
        ("x-corp-id".to_string(), "42".to_string()),
        ("proxy-authorization".into(), "Basic dTpw".into()),
    ];
    assert_eq!(
        views.lock().unwrap()[0],
        (
            format!("http://127.0.0.1:{pport}/"),
            "CONNECT".into(),
            format!("127.0.0.1:{oport}"),
            sent.clone(),
            200,
            vec![("x-hop".into(), "p1".into())],
        )
    );

    // 407: Go calls the hook for every answer; then the status fails the dial.
    t.close_idle_connections();
    let e = c.get(&url).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ProxyConnect(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert_eq!(
        e.to_string(),
        format!("GET {url}: proxy refused to open a tunnel: 407 proxy authentication required")
    );
    let v = views.lock().unwrap()[1].clone();
    assert_eq!((v.4, v.5[0].1.as_str()), (407, "Basic realm=\"corp\""));

    // The hook's error aborts the dial as it is, even after a 200; no TLS is attempted.
    let e = c.get(&url).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        format!("GET {url}: invalid input: hook refused the tunnel")
    );
    assert_eq!(views.lock().unwrap().len(), 3);
    client_support::eventually("the proxy sees the aborted dial close", || {
        seen.all().last().map(String::as_str) == Some("closed early")
    });
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn connect_fields_per_target_and_their_error() {
    let _w = Watchdog::new("connect_fields_per_target_and_their_error", BUDGET);
    let origin = tls_origin();
    let (proxy, seen) = scripted_proxy(Some(origin.addr()), |_| {
        "HTTP/1.1 200 Connection established\r\n\r\n".into()
    });
    let oport = origin.addr().port();
    let get = move |url: &Uri, target: &str| {
        if target != format!("127.0.0.1:{oport}") {
            return Err(Error::invalid_input(format!(
                "no tunnel allowed to {target}"
            )));
        }
        let mut h = HeaderMap::new();
        h.insert("x-target", HeaderValue::from_str(target).unwrap());
        h.insert("x-proxy", HeaderValue::from_str(&url.to_string()).unwrap());
        Ok(h)
    };
    let get: Arc<nethttp::client::ProxyConnectHeaderFn> = Arc::new(get);
    let mut fixed = HeaderMap::new();
    fixed.insert("x-static", HeaderValue::from_static("never sent"));
    let t = Transport::with_config(TransportConfig {
        proxy_connect_header: fixed,
        get_proxy_connect_header: Some(get.clone()),
        ..settings(
            Proxy::all(&format!("http://{}", proxy.addr())).unwrap(),
            &[origin.ca_pem().unwrap()],
        )
    });
    let c = client(&t);
    assert_eq!(
        c.get(&format!("{}/y", origin.url()))
            .unwrap()
            .text()
            .unwrap(),
        "tls=true /y"
    );
    let pport = proxy.addr().port();
    assert_eq!(
        seen.all(),
        [format!(
            "CONNECT 127.0.0.1:{oport} HTTP/1.1\r\nHost: 127.0.0.1:{oport}\r\n\
             x-target: 127.0.0.1:{oport}\r\nx-proxy: http://127.0.0.1:{pport}/\r\n\r\n"
        )]
    );

    // With a User-Agent set on the transport, the CONNECT carries it too, as Go's does.
    let with_ua = Transport::with_config(TransportConfig {
        user_agent: Some(HeaderValue::from_static("corp-bot/2")),
        get_proxy_connect_header: Some(get),
        ..settings(
            Proxy::all(&format!("http://{}", proxy.addr())).unwrap(),
            &[origin.ca_pem().unwrap()],
        )
    });
    let got = client(&with_ua).get(&format!("{}/ua", origin.url()));
    assert_eq!(got.unwrap().text().unwrap(), "tls=true /ua");
    assert_eq!(
        seen.all()[1],
        format!(
            "CONNECT 127.0.0.1:{oport} HTTP/1.1\r\nHost: 127.0.0.1:{oport}\r\n\
             x-target: 127.0.0.1:{oport}\r\nx-proxy: http://127.0.0.1:{pport}/\r\n\
             user-agent: corp-bot/2\r\n\r\n"
        )
    );
    assert_no_leaks(&with_ua);

    // The function's error fails the request as it is; nothing reaches the proxy.
    let e = c.get("https://127.0.0.1:1/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "GET https://127.0.0.1:1/: invalid input: no tunnel allowed to 127.0.0.1:1"
    );
    assert_eq!(seen.all().len(), 2);
    drop(c);
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// A proxy chosen by a function

#[test]
fn proxy_chosen_per_request_by_a_function() {
    let _w = Watchdog::new("proxy_chosen_per_request_by_a_function", BUDGET);
    let origin = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        if r.uri.path() == "/redirect" {
            w.headers_mut()
                .insert("location", HeaderValue::from_static("/z"));
            w.write_header(StatusCode::FOUND);
            return;
        }
        let _ = write!(w, "direct {}", r.uri.path());
    });
    let (a, seen_a) = scripted_proxy(None, |_| String::new());
    let (b, seen_b) = scripted_proxy(None, |_| String::new());
    let (a_url, b_url) = (format!("http://u:p@{}", a.addr()), b.url(""));
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let choose = move |req: &Request| {
        n.fetch_add(1, Ordering::SeqCst);
        let route = req.headers.get("x-route").map(HeaderValue::as_bytes);
        match route {
            Some(b"a") => Ok(Some(a_url.parse::<Uri>().unwrap())),
            Some(b"b") => Ok(Some(b_url.parse::<Uri>().unwrap())),
            Some(b"deny") => Err(Error::invalid_input("route denied")),
            _ => Ok(None),
        }
    };
    let t = Transport::with_config(settings(Proxy::custom(choose), &[]));
    let c = client(&t);
    let oport = origin.addr().port();
    let send = |path: &str, route: &str| {
        c.request(nethttp::Method::GET, &format!("{}{path}", origin.url()))
            .header("x-route", route)
            .send()
    };
    assert_eq!(
        send("/x", "a").unwrap().text().unwrap(),
        format!("forwarded http://127.0.0.1:{oport}/x")
    );
    assert_eq!(
        send("/y", "b").unwrap().text().unwrap(),
        format!("forwarded http://127.0.0.1:{oport}/y")
    );
    assert_eq!(send("/z", "none").unwrap().text().unwrap(), "direct /z");
    assert_eq!(
        seen_a.all(),
        [format!(
            "GET http://127.0.0.1:{oport}/x HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
             Host: 127.0.0.1:{oport}\r\nx-route: a\r\n\r\n"
        )]
    );
    assert_eq!(
        seen_b.all(),
        [format!(
            "GET http://127.0.0.1:{oport}/y HTTP/1.1\r\nHost: 127.0.0.1:{oport}\r\nx-route: b\r\n\r\n"
        )]
    );

    // The function's error fails the request as it is, before any connection.
    let accepted = (a.accepted(), b.accepted());
    let e = send("/x", "deny").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().ends_with("/x: invalid input: route denied"),
        "{e}"
    );
    assert_eq!((a.accepted(), b.accepted()), accepted);

    // It is asked again for each redirect hop.
    calls.store(0, Ordering::SeqCst);
    assert_eq!(
        c.get(&format!("{}/redirect", origin.url()))
            .unwrap()
            .text()
            .unwrap(),
        "direct /z"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    drop(c);
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// https:// proxies

#[test]
fn https_proxy_forwards_and_tunnels_over_tls() {
    let _w = Watchdog::new("https_proxy_forwards_and_tunnels_over_tls", BUDGET);
    let origin = tls_origin();
    let (proxy, seen) = scripted_proxy(Some(origin.addr()), |_| {
        "HTTP/1.1 200 Connection established\r\n\r\n".into()
    });
    let front = TlsFront::start(proxy.addr());
    let proxy_url = format!("https://u:p@127.0.0.1:{}", front.addr.port());
    let t = Transport::with_config(settings(
        Proxy::all(&proxy_url).unwrap(),
        &[&front.ca_pem, origin.ca_pem().unwrap()],
    ));
    let c = client(&t);

    // An http:// origin: absolute form, over TLS to the proxy.
    for path in ["/plain", "/again"] {
        let body = c.get(&format!("http://origin.test{path}")).unwrap().text();
        assert_eq!(body.unwrap(), format!("forwarded http://origin.test{path}"));
    }
    // An https:// origin: CONNECT over TLS, then TLS to the origin inside it.
    for path in ["/secure", "/again"] {
        let body = c.get(&format!("{}{path}", origin.url())).unwrap().text();
        assert_eq!(body.unwrap(), format!("tls=true {path}"));
    }
    let oport = origin.addr().port();
    assert_eq!(
        seen.all(),
        [
            "GET http://origin.test/plain HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
             Host: origin.test\r\n\r\n"
                .to_string(),
            "GET http://origin.test/again HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\
             Host: origin.test\r\n\r\n"
                .to_string(),
            format!(
                "CONNECT 127.0.0.1:{oport} HTTP/1.1\r\nHost: 127.0.0.1:{oport}\r\n\
                 Proxy-Authorization: Basic dTpw\r\n\r\n"
            ),
        ]
    );
    // One connection to the proxy for the forwarded requests, one for the tunnel.
    assert_eq!(front.accepted(), 2);
    assert_eq!(t.stats().open, 2);
    drop(c);
    assert_no_leaks(&t);

    // The proxy's certificate is checked, with the transport's roots, for the proxy's name.
    let untrusted = Transport::with_config(settings(
        Proxy::all(&proxy_url).unwrap(),
        &[origin.ca_pem().unwrap()],
    ));
    let e = client(&untrusted).get("http://origin.test/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls);
    assert_eq!(
        e.to_string(),
        "GET http://origin.test/: tls error: certificate signed by an unknown authority"
    );
    // A name the certificate does not cover, on the same front (the dialer connects every
    // name there).
    let wrong_name = Transport::with_config(TransportConfig {
        dialer: Arc::new(DialTo(front.addr)),
        ..settings(Proxy::all("https://proxy.test").unwrap(), &[&front.ca_pem])
    });
    let e = client(&wrong_name).get("http://origin.test/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert_eq!(
        e.to_string(),
        "GET http://origin.test/: tls error: certificate name does not match: \
         it is valid for 127.0.0.1, localhost, not proxy.test"
    );
    assert_no_leaks(&untrusted);
    assert_no_leaks(&wrong_name);
}

/// A dialer that connects every target to one address.
#[derive(Debug)]
struct DialTo(SocketAddr);

impl nethttp::net::Dial for DialTo {
    fn dial(
        &self,
        _target: &nethttp::net::Target,
        _deadline: Option<std::time::Instant>,
        _trace: &nethttp::client::ClientTrace,
    ) -> nethttp::Result<Box<dyn nethttp::net::Stream>> {
        let s = TcpStream::connect_timeout(&self.0, IO_TIMEOUT).map_err(Error::from)?;
        Ok(Box::new(s))
    }
}

// ---------------------------------------------------------------------------------------------
// SOCKS5

/// How a scripted SOCKS5 server answers.
#[derive(Clone, Copy)]
struct SocksPlan {
    /// The method it picks.
    method: u8,
    /// Its answer to the username and password.
    auth_status: u8,
    /// Its reply code to the CONNECT.
    reply: u8,
}

const SOCKS_OK: SocksPlan = SocksPlan {
    method: 0,
    auth_status: 0,
    reply: 0,
};

/// A scripted SOCKS5 server: records each message the client sends (greeting, credentials,
/// request), answers as `plan` says and, on success, relays to `origin`.
fn socks_server(origin: SocketAddr, plan: SocksPlan) -> (RawServer, Arc<Mutex<Vec<Vec<u8>>>>) {
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s = seen.clone();
    let server = RawServer::start(move |mut c, _| {
        let record = |b: &[u8]| s.lock().unwrap().push(b.to_vec());
        let Some(head) = read_n(&mut c, 2) else {
            return;
        };
        let Some(methods) = read_n(&mut c, usize::from(head[1])) else {
            return;
        };
        record(&[head, methods].concat());
        if !c.send([5, plan.method]) || plan.method == 0xff {
            return;
        }
        if plan.method == 2 {
            let Some(v_ulen) = read_n(&mut c, 2) else {
                return;
            };
            let Some(user) = read_n(&mut c, usize::from(v_ulen[1])) else {
                return;
            };
            let Some(plen) = read_n(&mut c, 1) else {
                return;
            };
            let Some(pass) = read_n(&mut c, usize::from(plen[0])) else {
                return;
            };
            record(&[v_ulen, user, plen, pass].concat());
            if !c.send([1, plan.auth_status]) || plan.auth_status != 0 {
                return;
            }
        }
        let Some(req) = read_n(&mut c, 4) else { return };
        let addr_len = match req[3] {
            1 => 4,
            4 => 16,
            _ => match read_n(&mut c, 1) {
                Some(l) => {
                    c.buf.insert(0, l[0]);
                    1 + usize::from(l[0])
                }
                None => return,
            },
        };
        let Some(rest) = read_n(&mut c, addr_len + 2) else {
            return;
        };
        record(&[req, rest].concat());
        // A domain-name bound address, to be skipped by the client.
        let answer = [&[5, plan.reply, 0, 3, 5][..], b"relay", &[0x1f, 0x90]].concat();
        if !c.send(&answer) || plan.reply != 0 {
            return;
        }
        relay(c, origin);
    });
    (server, seen)
}

#[test]
fn socks5_table() {
    let _w = Watchdog::new("socks5_table", BUDGET);
    let origin = tls_origin();
    let plain = Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let _ = write!(w, "{} {} host={}", r.method, r.uri, r.host());
    });
    let (op, tp) = (plain.addr().port(), origin.addr().port());
    let [ph, pl] = op.to_be_bytes();
    let [th, tl] = tp.to_be_bytes();
    // (name, proxy URL with {} for the address, plan, URL, body wanted or error wanted, the
    // messages the server saw)
    type Case = (
        &'static str,
        &'static str,
        SocksPlan,
        String,
        Result<String, String>,
        Vec<Vec<u8>>,
    );
    let cases: Vec<Case> = vec![
        (
            "no_auth_ip",
            "socks5://{}",
            SOCKS_OK,
            format!("http://127.0.0.1:{op}/a"),
            Ok(format!("GET /a host=127.0.0.1:{op}")),
            vec![vec![5, 1, 0], vec![5, 1, 0, 1, 127, 0, 0, 1, ph, pl]],
        ),
        (
            "auth_and_a_name_for_the_proxy_to_resolve",
            "socks5h://user:pw@{}",
            SocksPlan {
                method: 2,
                ..SOCKS_OK
            },
            format!("http://localhost:{op}/b"),
            Ok(format!("GET /b host=localhost:{op}")),
            vec![
                vec![5, 2, 0, 2],
                [&[1, 4][..], b"user", &[2], b"pw"].concat(),
                [&[5, 1, 0, 3, 9][..], b"localhost", &[ph, pl]].concat(),
            ],
        ),
        (
            "tls_inside_the_tunnel",
            "socks5://{}",
            SOCKS_OK,
            format!("{}/c", origin.url()),
            Ok("tls=true /c".into()),
            vec![vec![5, 1, 0], vec![5, 1, 0, 1, 127, 0, 0, 1, th, tl]],
        ),
        (
            "password_rejected",
            "socks5://user:bad@{}",
            SocksPlan {
                method: 2,
                auth_status: 1,
                ..SOCKS_OK
            },
            format!("http://127.0.0.1:{op}/"),
            Err("i/o error: socks5 proxy rejected the username and password".into()),
            vec![
                vec![5, 2, 0, 2],
                [&[1, 4][..], b"user", &[3], b"bad"].concat(),
            ],
        ),
        (
            "no_acceptable_method",
            "socks5://{}",
            SocksPlan {
                method: 0xff,
                ..SOCKS_OK
            },
            format!("http://127.0.0.1:{op}/"),
            Err(
                "i/o error: socks5 proxy accepts none of the offered authentication methods".into(),
            ),
            vec![vec![5, 1, 0]],
        ),
        (
            "connection_refused",
            "socks5://{}",
            SocksPlan {
                reply: 5,
                ..SOCKS_OK
            },
            "http://example.test:81/".into(),
            Err("cannot connect to example.test:81: socks5 proxy: connection refused".into()),
            vec![
                vec![5, 1, 0],
                [&[5, 1, 0, 3, 12][..], b"example.test", &[0, 81]].concat(),
            ],
        ),
        (
            "method_not_offered",
            "socks5://{}",
            SocksPlan {
                method: 2,
                ..SOCKS_OK
            },
            format!("http://127.0.0.1:{op}/"),
            Err(
                "i/o error: invalid socks5 reply: authentication method 2, which was not offered"
                    .into(),
            ),
            vec![vec![5, 1, 0]],
        ),
    ];
    for (name, proxy_fmt, plan, url, want, messages) in cases {
        let upstream = if url.starts_with("https:") {
            origin.addr()
        } else {
            plain.addr()
        };
        let (socks, seen) = socks_server(upstream, plan);
        let proxy = Proxy::all(&proxy_fmt.replace("{}", &socks.addr().to_string())).unwrap();
        let t = Transport::with_config(settings(proxy, &[origin.ca_pem().unwrap()]));
        let got = client(&t).get(&url).and_then(|mut r| r.text());
        match (&got, &want) {
            (Ok(body), Ok(w)) => assert_eq!(body, w, "{name}"),
            (Err(e), Err(w)) => {
                // A target the proxy could not reach is a connect error; other refusals
                // are I/O errors. Either way the message starts with the request.
                let kind = if name == "connection_refused" {
                    ErrorKind::Connect
                } else {
                    ErrorKind::Io
                };
                assert_eq!(e.kind(), kind, "{name}");
                assert_eq!(e.to_string(), format!("GET {url}: {w}"), "{name}");
            }
            _ => panic!("{name}: got {got:?}, want {want:?}"),
        }
        assert_eq!(*seen.lock().unwrap(), messages, "{name}");
        assert_no_leaks(&t);
    }

    // An HTTP server where a SOCKS5 proxy was expected: its answer is no SOCKS5 reply.
    let http = RawServer::start(|mut c, _| {
        let _ = read_n(&mut c, 3);
        c.send("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let t = Transport::with_config(settings(
        Proxy::all(&format!("socks5://{}", http.addr())).unwrap(),
        &[],
    ));
    let e = client(&t).get("http://example.test/").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        "GET http://example.test/: i/o error: invalid socks5 reply: version 72"
    );
    assert_no_leaks(&t);
}

// ---------------------------------------------------------------------------------------------
// tinyproxy

/// An origin that reports the Via field a proxy adds.
fn via_origin() -> Server {
    Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let via = r
            .headers
            .get("via")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let _ = write!(w, "{} via={via}", r.uri.path());
    })
}

#[test]
fn tinyproxy_behind_a_tls_front() {
    let _w = Watchdog::new("tinyproxy_behind_a_tls_front", BUDGET);
    let plain = via_origin();
    let origin = tls_origin();
    let Some(tp) = tinyproxy(origin.addr().port(), true) else {
        return;
    };
    let front = TlsFront::start(tp.addr);
    let t = Transport::with_config(settings(
        Proxy::all(&format!(
            "https://user:secret@127.0.0.1:{}",
            front.addr.port()
        ))
        .unwrap(),
        &[&front.ca_pem, origin.ca_pem().unwrap()],
    ));
    let c = client(&t);
    // Forwarded over TLS to tinyproxy, which adds its Via.
    let text = c
        .get(&format!("{}/fwd", plain.url()))
        .unwrap()
        .text()
        .unwrap();
    assert!(text.starts_with("/fwd via=1.1 "), "{text}");
    assert!(text.contains("tinyproxy"), "{text}");
    // CONNECT over TLS to tinyproxy, TLS to the origin inside.
    let text = c
        .get(&format!("{}/tun", origin.url()))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "tls=true /tun");
    assert_eq!(front.accepted(), 2);
    drop(c);
    assert_no_leaks(&t);
}

#[test]
fn tinyproxy_gets_connect_fields_and_the_hook_sees_its_answer() {
    let _w = Watchdog::new(
        "tinyproxy_gets_connect_fields_and_the_hook_sees_its_answer",
        BUDGET,
    );
    let origin = tls_origin();
    let Some(tp) = tinyproxy(origin.addr().port(), true) else {
        return;
    };
    // "status proxy-agent" of each answer.
    let answers = Seen::default();
    let a = answers.clone();
    let hook = move |_: &Uri, _: &http::Request<()>, resp: &ResponseHead| {
        let agent = resp.headers.get("proxy-agent").map(HeaderValue::as_bytes);
        let agent = String::from_utf8_lossy(agent.unwrap_or(b"-")).into_owned();
        a.push(format!("{} {agent}", resp.status.as_u16()));
        Ok(())
    };
    let hook: Arc<nethttp::client::ProxyConnectResponseFn> = Arc::new(hook);
    let url = format!("{}/in", origin.url());
    let proxy = || Proxy::all(&tp.url()).unwrap();

    // The credentials go only in the CONNECT fields: tinyproxy lets the tunnel through.
    let mut auth = HeaderMap::new();
    auth.insert(
        "proxy-authorization",
        HeaderValue::from_static("Basic dXNlcjpzZWNyZXQ="), // user:secret
    );
    let t = Transport::with_config(TransportConfig {
        proxy_connect_header: auth.clone(),
        on_proxy_connect_response: Some(hook.clone()),
        ..settings(proxy(), &[origin.ca_pem().unwrap()])
    });
    assert_eq!(
        client(&t).get(&url).unwrap().text().unwrap(),
        "tls=true /in"
    );
    // The same from a function of the target.
    let per_target = move |_: &Uri, target: &str| {
        assert!(target.starts_with("127.0.0.1:"), "{target}");
        Ok(auth.clone())
    };
    let t2 = Transport::with_config(TransportConfig {
        get_proxy_connect_header: Some(Arc::new(per_target)),
        on_proxy_connect_response: Some(hook.clone()),
        ..settings(proxy(), &[origin.ca_pem().unwrap()])
    });
    assert_eq!(
        client(&t2).get(&url).unwrap().text().unwrap(),
        "tls=true /in"
    );
    // Without them: 407, which the hook sees too.
    let t3 = Transport::with_config(TransportConfig {
        on_proxy_connect_response: Some(hook),
        ..settings(proxy(), &[origin.ca_pem().unwrap()])
    });
    let e = client(&t3).get(&url).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ProxyConnect(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    let answers = answers.all();
    assert_eq!(answers.len(), 3, "{answers:?}");
    for a in &answers[..2] {
        // "Proxy-agent: tinyproxy/1.11.1"
        assert!(a.starts_with("200 tinyproxy/"), "{answers:?}");
    }
    assert_eq!(answers[2], "407 -");
    for t in [t, t2, t3] {
        assert_no_leaks(&t);
    }
}
