//! The router, handlers and `httptest`, from a review (session 21): the recorder's sniffing
//! failed before its fix; the other two pin what the review checked and found right (path
//! cleaning and redirects that stay on the site).

#[allow(unused_imports)]
use std::io::Write;

use nethttp::httptest::ResponseRecorder;
use nethttp::{handlers, httptest, Handler, Request, ResponseWriter, ServeMux, StatusCode};

fn serve(h: &dyn Handler, method: &str, target: &str) -> ResponseRecorder {
    let mut rec = ResponseRecorder::new();
    let mut req = httptest::request(method, target, ());
    h.serve_http(&mut rec, &mut req);
    rec
}

fn html_page(w: &mut dyn ResponseWriter, _r: &mut Request) {
    let _ = w.write_all(b"<!DOCTYPE html><html><body>hello</body></html>");
}

/// Go's ResponseRecorder (and nethttp's own server) fill a missing Content-Type by sniffing
/// the first write; the recorder leaves it out, so a handler test sees a different response
/// from what a client gets.
#[test]
fn the_recorder_sniffs_content_type_like_the_server() {
    // What a client of the real server sees.
    let mut srv = httptest::Server::new(html_page);
    let mut resp = srv.client().get(&format!("{}/", srv.url())).expect("GET");
    let served = resp
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = resp.text();
    srv.close().expect("close");
    assert_eq!(
        served.as_deref(),
        Some("text/html; charset=utf-8"),
        "server"
    );

    // What a handler test sees.
    let rec = serve(&html_page, "GET", "/");
    assert_eq!(
        rec.header("content-type"),
        served.as_deref(),
        "recorder differs from the server (Go's recorder sniffs too)"
    );
}

fn echo_values(w: &mut dyn ResponseWriter, r: &mut Request) {
    let _ = write!(
        w,
        "{}|{}|{}",
        r.pattern().unwrap_or("-"),
        r.path_value("x").unwrap_or("-"),
        r.path_value("rest").unwrap_or("-")
    );
}

fn mux() -> ServeMux {
    let mut m = ServeMux::new();
    m.handle_func("GET /files/{x}", echo_values);
    m.handle_func("/tree/", echo_values);
    m.handle_func("/raw/{rest...}", echo_values);
    m.handle_func("POST /only-post", echo_values);
    m.handle_func("Example.COM/host", echo_values);
    m.handle_func("/x/{$}", echo_values);
    m
}

#[test]
fn mux_cleaning_and_redirects_stay_on_the_site() {
    let m = mux();
    // Unclean paths: 307 to the clean path with the query kept.
    for (target, want) in [
        ("/a/../tree/?q=1", "/tree/?q=1"),
        ("//evil.com/../tree/", "/tree/"),
        ("/tree?x=%0D%0A", "/tree/?x=%0D%0A"),
        ("//evil.com", "/evil.com"),
        ("/./files//a", "/files/a"),
    ] {
        let rec = serve(&m, "GET", target);
        assert_eq!(rec.status(), StatusCode::TEMPORARY_REDIRECT, "{target}");
        assert_eq!(rec.header("location"), Some(want), "{target}");
    }
    // %2e%2e is a segment value, not a `..`; %2F stays inside its segment.
    assert_eq!(
        serve(&m, "GET", "/files/%2e%2e").body_string(),
        "GET /files/{x}|..|-"
    );
    assert_eq!(
        serve(&m, "GET", "/files/a%2Fb").body_string(),
        "GET /files/{x}|a/b|-"
    );
    assert_eq!(
        serve(&m, "GET", "/raw/a%2Fb/c").body_string(),
        "/raw/{rest...}|-|a/b/c"
    );
    // HEAD served by GET; 405 with Allow.
    assert_eq!(serve(&m, "HEAD", "/files/a").status(), StatusCode::OK);
    let rec = serve(&m, "PUT", "/files/a");
    assert_eq!(rec.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(rec.header("allow"), Some("GET, HEAD"));
    let rec = serve(&m, "GET", "/only-post");
    assert_eq!(rec.header("allow"), Some("POST"));
    // Host patterns ignore case and port.
    let mut req = httptest::request("GET", "/host", ());
    req.headers
        .insert("host", "EXAMPLE.com:8080".parse().unwrap());
    let mut rec = ResponseRecorder::new();
    m.serve_http(&mut rec, &mut req);
    assert_eq!(rec.status(), StatusCode::OK);
    // {$} does not match an escaped slash.
    assert_eq!(serve(&m, "GET", "/x/").status(), StatusCode::OK);
    assert_eq!(serve(&m, "GET", "/x/%2F").status(), StatusCode::NOT_FOUND);
    // OPTIONS *
    let rec = serve(&m, "OPTIONS", "*");
    assert_eq!(rec.status(), StatusCode::BAD_REQUEST);
    assert_eq!(rec.header("connection"), Some("close"));
}

#[test]
fn redirect_locations_are_safe() {
    for (from, to, want) in [
        (
            "/a/b",
            "c\r\nSet-Cookie: x=1",
            "/a/c%0D%0ASet-Cookie:%20x=1",
        ),
        ("/a/b", "/..//evil.com", "/evil.com"),
        ("/a/b", "../../..//evil.com/x?y", "/evil.com/x?y"),
        ("/a/b", "?q=1", "/a/?q=1"),
    ] {
        let h = handlers::redirect_handler(to, StatusCode::FOUND);
        let rec = serve(&h, "GET", from);
        assert_eq!(rec.header("location"), Some(want), "{to:?}");
    }
}
