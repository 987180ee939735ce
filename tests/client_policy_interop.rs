//! Client policy against real peers on loopback: Python's httpbin under gunicorn (redirects,
//! cookies, gzip and deflate, auth) and tinyproxy as a forwarding proxy and a CONNECT proxy.
//! A missing peer skips the test with a note, and fails it under `CI=true`;
//! `bash .ci/install-peers` installs them.

mod policy_support;

use std::net::SocketAddr;
#[cfg(feature = "clientconn")]
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
#[cfg(feature = "clientconn")]
use std::time::Instant;

#[cfg(feature = "clientconn")]
use nethttp::client::ClientConn;
use nethttp::client::{Client, ClientConfig, Proxy, TransportConfig};
use nethttp::httptest::Server;
use nethttp::{ErrorKind, Method, Request, ResponseWriter, StatusCode};
use policy_support::peers::{free_port, have, tinyproxy, Peer};
use policy_support::{config_bounded, transport};

const BOUND: Duration = Duration::from_secs(20);

fn httpbin() -> Option<Peer> {
    if !have("gunicorn", "gunicorn", &["--version"])
        || !have("python httpbin", "python3", &["-c", "import httpbin"])
    {
        return None;
    }
    let port = free_port();
    let child = Command::new("gunicorn")
        .args(["-b", &format!("127.0.0.1:{port}"), "-w", "2"])
        .args(["--log-level", "warning", "httpbin:app"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gunicorn");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Some(
        Peer {
            child,
            addr,
            dir: None,
        }
        .ready(Duration::from_secs(30)),
    )
}

#[test]
fn httpbin_redirects() {
    let Some(hb) = httpbin() else { return };
    let c = Client::with_config(config_bounded(BOUND));
    for path in [
        "/redirect/3",
        "/absolute-redirect/2",
        "/relative-redirect/2",
    ] {
        let mut resp = c.get(&format!("{}{path}", hb.url())).unwrap();
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.url().path(), "/get", "{path}");
        let text = resp.text().unwrap();
        assert!(text.contains("\"url\""), "{path}: {text}");
    }
    let e = c.get(&format!("{}/redirect/11", hb.url())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyRedirects);
    assert!(c.get(&format!("{}/redirect/10", hb.url())).is_ok());

    // 307 keeps the method and the body; 303 turns to GET without one.
    for (code, method, has_body) in [
        ("307", "POST", true),
        ("308", "POST", true),
        ("303", "GET", false),
    ] {
        let mut resp = c
            .request(Method::POST, &format!("{}/redirect-to", hb.url()))
            .query(&[("url", "/anything"), ("status_code", code)])
            .form(&[("k", "v w")])
            .send()
            .unwrap();
        assert_eq!(resp.status, 200, "{code}");
        let text = resp.text().unwrap();
        assert!(
            text.contains(&format!("\"method\": \"{method}\"")),
            "{code}: {text}"
        );
        assert_eq!(text.contains("\"k\": \"v w\""), has_body, "{code}: {text}");
    }
}

#[cfg(feature = "cookies")]
#[test]
fn httpbin_cookies() {
    let Some(hb) = httpbin() else { return };
    let b = ClientConfig {
        jar: Some(std::sync::Arc::new(nethttp::client::Jar::new())),
        ..config_bounded(BOUND)
    };
    let c = Client::with_config(b);
    // /cookies/set answers with Set-Cookie and a redirect to /cookies.
    let text = c
        .get(&format!("{}/cookies/set?a=b&c=d", hb.url()))
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("\"a\": \"b\""), "{text}");
    assert!(text.contains("\"c\": \"d\""), "{text}");
    let text = c
        .get(&format!("{}/cookies/delete?a", hb.url()))
        .unwrap()
        .text()
        .unwrap();
    assert!(!text.contains("\"a\""), "{text}");
    assert!(text.contains("\"c\": \"d\""), "{text}");
}

#[cfg(feature = "gzip")]
#[test]
fn httpbin_gzip_and_deflate() {
    let Some(hb) = httpbin() else { return };
    let c = Client::with_config(config_bounded(BOUND));
    for (path, flag) in [
        ("/gzip", "\"gzipped\": true"),
        ("/deflate", "\"deflated\": true"),
    ] {
        let mut resp = c.get(&format!("{}{path}", hb.url())).unwrap();
        assert!(resp.uncompressed(), "{path}");
        assert!(resp.headers.get("content-encoding").is_none(), "{path}");
        let text = resp.text().unwrap();
        assert!(text.contains(flag), "{path}: {text}");
        assert!(
            text.contains("\"Accept-Encoding\": \"gzip\""),
            "{path}: {text}"
        );
    }
}

#[test]
fn httpbin_auth() {
    let Some(hb) = httpbin() else { return };
    let c = Client::with_config(config_bounded(BOUND));
    let ok = c
        .request(Method::GET, &format!("{}/basic-auth/u/p", hb.url()))
        .basic_auth("u", Some("p"))
        .send()
        .unwrap();
    assert_eq!(ok.status, 200);
    let bad = c
        .request(Method::GET, &format!("{}/basic-auth/u/p", hb.url()))
        .basic_auth("u", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(bad.status, 401);
    let e = bad.error_for_status().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status(StatusCode::UNAUTHORIZED));
    let in_url = hb.url().replace("http://", "http://u:p@");
    assert_eq!(
        c.get(&format!("{in_url}/basic-auth/u/p")).unwrap().status,
        200
    );

    let ok = c
        .request(Method::GET, &format!("{}/bearer", hb.url()))
        .bearer_auth("token-1")
        .send()
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(c.get(&format!("{}/bearer", hb.url())).unwrap().status, 401);
}

/// An origin server that reports the Via field a proxy adds.
fn origin() -> Server {
    Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        let via = r
            .headers
            .get("via")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let _ = write!(w, "{} {} via={via}", r.method, r.uri.path());
    })
}

#[test]
fn tinyproxy_forwards_requests() {
    let ts = origin();
    let Some(tp) = tinyproxy(ts.addr().port(), true) else {
        return;
    };
    let with_auth = tp.url().replace("http://", "http://user:secret@");
    let b = ClientConfig {
        transport: transport(TransportConfig {
            proxy: Proxy::all(&with_auth).unwrap(),
            ..TransportConfig::default()
        }),
        ..config_bounded(BOUND)
    };
    let c = Client::with_config(b);
    for i in 0..3 {
        let mut resp = c.get(&format!("{}/through/{i}", ts.url())).unwrap();
        assert_eq!(resp.status, 200);
        let text = resp.text().unwrap();
        assert!(
            text.starts_with(&format!("GET /through/{i} via=")),
            "{text}"
        );
        assert!(text.contains("tinyproxy"), "{text}");
    }

    // Without credentials the proxy itself answers 407.
    let b = ClientConfig {
        transport: transport(TransportConfig {
            proxy: Proxy::all(&tp.url()).unwrap(),
            ..TransportConfig::default()
        }),
        ..config_bounded(BOUND)
    };
    let resp = Client::with_config(b)
        .get(&format!("{}/x", ts.url()))
        .unwrap();
    assert_eq!(resp.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);

    // NO_PROXY-style exceptions go direct.
    let b = ClientConfig {
        transport: transport(TransportConfig {
            proxy: Proxy::all(&with_auth).unwrap().no_proxy("127.0.0.1"),
            ..TransportConfig::default()
        }),
        ..config_bounded(BOUND)
    };
    let text = Client::with_config(b)
        .get(&format!("{}/direct", ts.url()))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(text, "GET /direct via=");
}

#[cfg(feature = "clientconn")]
#[test]
fn tinyproxy_connect_tunnel() {
    use nethttp::client::connect_tunnel;
    use nethttp::net::Target;
    let ts = origin();
    let Some(tp) = tinyproxy(ts.addr().port(), true) else {
        return;
    };
    let auth = "Basic dXNlcjpzZWNyZXQ=".parse().unwrap(); // user:secret
    let deadline = Some(Instant::now() + BOUND);
    let target = Target {
        scheme: "http".into(),
        host: "127.0.0.1".into(),
        port: ts.addr().port(),
    };
    let s = TcpStream::connect(tp.addr).unwrap();
    // Plain HTTP through the tunnel stands in for the TLS an https origin would get.
    let tunnel = connect_tunnel(Box::new(s), &target, Some(&auth), deadline).unwrap();
    let conn = ClientConn::new(tunnel);
    for i in 0..2 {
        let mut req = Request::new(Method::GET, &format!("{}/tunnel/{i}", ts.url())).unwrap();
        nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(BOUND);
        let mut resp = conn.send(req).unwrap();
        // No Via: the proxy only relays bytes.
        assert_eq!(resp.text().unwrap(), format!("GET /tunnel/{i} via="));
    }

    // A port the proxy does not allow CONNECT to: an error with its status.
    let other = Target {
        port: tp.addr.port(),
        ..target.clone()
    };
    let s = TcpStream::connect(tp.addr).unwrap();
    let e = connect_tunnel(Box::new(s), &other, Some(&auth), deadline).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ProxyConnect(StatusCode::FORBIDDEN),
        "{e}"
    );

    // Without credentials: 407.
    let s = TcpStream::connect(tp.addr).unwrap();
    let e = connect_tunnel(Box::new(s), &target, None, deadline).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::ProxyConnect(StatusCode::PROXY_AUTHENTICATION_REQUIRED),
        "{e}"
    );
}
