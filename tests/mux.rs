//! ServeMux: Go 1.22's routing rules as a table of (patterns, request) → (handler, status,
//! Allow, Location, path values), conflict detection, and end-to-end checks over sockets.

mod routing_support;

use std::io::Write;

use nethttp::{Request, ResponseWriter, ServeMux, StatusCode};
use routing_support::{read_response, request, serve, TestServer};

/// A mux where each pattern's handler writes the pattern as the body.
fn mux_of(patterns: &[&str]) -> ServeMux {
    let mut mux = ServeMux::new();
    for p in patterns {
        let name = p.to_string();
        mux.handle(p, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let _ = w.write_all(name.as_bytes());
        });
    }
    mux
}

struct Case {
    name: &'static str,
    patterns: &'static [&'static str],
    method: &'static str,
    target: &'static str,
    host: &'static str,
    /// The pattern whose handler ran; `None` if the mux answered itself.
    handler: Option<&'static str>,
    status: u16,
    allow: Option<&'static str>,
    location: Option<&'static str>,
    values: &'static [(&'static str, &'static str)],
}

const BASE: Case = Case {
    name: "",
    patterns: &[],
    method: "GET",
    target: "/",
    host: "example.com",
    handler: None,
    status: 200,
    allow: None,
    location: None,
    values: &[],
};

fn hit(
    name: &'static str,
    patterns: &'static [&'static str],
    method: &'static str,
    target: &'static str,
    handler: &'static str,
) -> Case {
    Case {
        name,
        patterns,
        method,
        target,
        handler: Some(handler),
        ..BASE
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Literals and subtrees.
        hit("literal", &["/a"], "GET", "/a", "/a"),
        Case {
            name: "literal_miss",
            patterns: &["/a"],
            target: "/b",
            status: 404,
            ..BASE
        },
        Case {
            name: "literal_no_trailing_slash_match",
            patterns: &["/a"],
            target: "/a/",
            status: 404,
            ..BASE
        },
        hit("subtree_deep", &["/a/"], "GET", "/a/b/c", "/a/"),
        hit("subtree_itself", &["/a/"], "GET", "/a/", "/a/"),
        hit("root_catches_all", &["/"], "GET", "/x/y", "/"),
        hit(
            "longer_subtree_wins",
            &["/images/", "/images/thumbnails/"],
            "GET",
            "/images/thumbnails/1.png",
            "/images/thumbnails/",
        ),
        hit(
            "shorter_subtree_for_rest",
            &["/images/", "/images/thumbnails/"],
            "GET",
            "/images/1.png",
            "/images/",
        ),
        hit(
            "literal_percent_decoded_in_pattern",
            &["/a%20b"],
            "GET",
            "/a%20b",
            "/a%20b",
        ),
        // {$}
        hit("end_anchor_root", &["/{$}"], "GET", "/", "/{$}"),
        Case {
            name: "end_anchor_only_root",
            patterns: &["/{$}"],
            target: "/x",
            status: 404,
            ..BASE
        },
        hit(
            "end_anchor_beats_root_subtree",
            &["/", "/{$}"],
            "GET",
            "/",
            "/{$}",
        ),
        hit("root_subtree_for_others", &["/", "/{$}"], "GET", "/x", "/"),
        hit(
            "end_anchor_after_segment",
            &["/a/{$}"],
            "GET",
            "/a/",
            "/a/{$}",
        ),
        Case {
            name: "end_anchor_not_subtree",
            patterns: &["/a/{$}"],
            target: "/a/b",
            status: 404,
            ..BASE
        },
        // Wildcards.
        Case {
            values: &[("id", "42")],
            ..hit(
                "wildcard",
                &["/items/{id}"],
                "GET",
                "/items/42",
                "/items/{id}",
            )
        },
        Case {
            name: "wildcard_not_trailing_slash",
            patterns: &["/items/{id}"],
            target: "/items/",
            status: 404,
            ..BASE
        },
        Case {
            name: "wildcard_one_segment_only",
            patterns: &["/items/{id}"],
            target: "/items/1/2",
            status: 404,
            ..BASE
        },
        Case {
            values: &[("name", "a/b")],
            ..hit(
                "escaped_slash_stays_in_segment",
                &["/files/{name}"],
                "GET",
                "/files/a%2Fb",
                "/files/{name}",
            )
        },
        Case {
            values: &[("name", "Jürgen")],
            ..hit(
                "wildcard_value_decoded",
                &["/u/{name}"],
                "GET",
                "/u/J%C3%BCrgen",
                "/u/{name}",
            )
        },
        Case {
            values: &[("rest", "a/b/c")],
            ..hit(
                "multi_rest",
                &["/files/{rest...}"],
                "GET",
                "/files/a%2Fb/c",
                "/files/{rest...}",
            )
        },
        Case {
            values: &[("rest", "")],
            ..hit(
                "multi_empty",
                &["/files/{rest...}"],
                "GET",
                "/files/",
                "/files/{rest...}",
            )
        },
        Case {
            values: &[("bucket", "k"), ("objectname", "a/b/c")],
            ..hit(
                "go_doc_bucket",
                &["/b/{bucket}/o/{objectname...}"],
                "GET",
                "/b/k/o/a/b/c",
                "/b/{bucket}/o/{objectname...}",
            )
        },
        hit(
            "literal_beats_wildcard",
            &["/items/{id}", "/items/new"],
            "GET",
            "/items/new",
            "/items/new",
        ),
        Case {
            values: &[("id", "7")],
            ..hit(
                "wildcard_when_literal_differs",
                &["/items/{id}", "/items/new"],
                "GET",
                "/items/7",
                "/items/{id}",
            )
        },
        hit(
            "wildcard_beats_subtree",
            &["/items/{id}", "/items/"],
            "GET",
            "/items/7",
            "/items/{id}",
        ),
        hit(
            "subtree_below_wildcard",
            &["/items/{id}", "/items/"],
            "GET",
            "/items/7/x",
            "/items/",
        ),
        Case {
            values: &[("x", "b")],
            ..hit(
                "backtracks_from_literal",
                &["/a/b/c", "/a/{x}/d"],
                "GET",
                "/a/b/d",
                "/a/{x}/d",
            )
        },
        // Methods.
        hit("method", &["GET /x"], "GET", "/x", "GET /x"),
        hit("get_serves_head", &["GET /x"], "HEAD", "/x", "GET /x"),
        hit(
            "explicit_head_wins",
            &["GET /x", "HEAD /x"],
            "HEAD",
            "/x",
            "HEAD /x",
        ),
        hit(
            "get_still_get",
            &["GET /x", "HEAD /x"],
            "GET",
            "/x",
            "GET /x",
        ),
        hit(
            "method_beats_none",
            &["GET /x", "/x"],
            "GET",
            "/x",
            "GET /x",
        ),
        hit(
            "none_for_other_methods",
            &["GET /x", "/x"],
            "POST",
            "/x",
            "/x",
        ),
        Case {
            name: "405_with_allow",
            patterns: &["GET /x"],
            method: "POST",
            target: "/x",
            status: 405,
            allow: Some("GET, HEAD"),
            ..BASE
        },
        Case {
            name: "405_allow_sorted",
            patterns: &["PUT /r", "DELETE /r", "GET /r", "PATCH /r/{id}"],
            method: "POST",
            target: "/r",
            status: 405,
            allow: Some("DELETE, GET, HEAD, PUT"),
            ..BASE
        },
        Case {
            name: "405_for_head_without_get",
            patterns: &["POST /p"],
            method: "HEAD",
            target: "/p",
            status: 405,
            allow: Some("POST"),
            ..BASE
        },
        Case {
            name: "405_via_trailing_slash",
            patterns: &["GET /t/"],
            method: "POST",
            target: "/t",
            status: 405,
            allow: Some("GET, HEAD"),
            ..BASE
        },
        Case {
            name: "404_when_no_method_matches_path",
            patterns: &["GET /x"],
            method: "POST",
            target: "/y",
            status: 404,
            ..BASE
        },
        Case {
            name: "405_lists_methods_of_wildcard_patterns",
            patterns: &["GET /items/{id}", "DELETE /items/{id}", "POST /items/"],
            method: "PUT",
            target: "/items/3",
            status: 405,
            allow: Some("DELETE, GET, HEAD, POST"),
            ..BASE
        },
        // Hosts.
        hit(
            "host_pattern",
            &["example.com/", "/"],
            "GET",
            "/",
            "example.com/",
        ),
        Case {
            host: "other.org",
            ..hit(
                "other_host_falls_back",
                &["example.com/", "/"],
                "GET",
                "/",
                "/",
            )
        },
        Case {
            host: "example.com:8080",
            ..hit(
                "host_port_ignored",
                &["example.com/", "/"],
                "GET",
                "/",
                "example.com/",
            )
        },
        Case {
            host: "EXAMPLE.com",
            ..hit(
                "host_case_ignored",
                &["example.com/", "/"],
                "GET",
                "/",
                "example.com/",
            )
        },
        hit(
            "host_beats_more_specific_path",
            &["example.com/", "/a"],
            "GET",
            "/a",
            "example.com/",
        ),
        hit(
            "host_miss_falls_back_to_no_host",
            &["example.com/a", "/b"],
            "GET",
            "/b",
            "/b",
        ),
        Case {
            target: "http://example.com/a",
            host: "",
            ..hit(
                "absolute_form_host",
                &["example.com/a", "/a"],
                "GET",
                "",
                "example.com/a",
            )
        },
        // Redirects: trailing slash and clean paths, 307, query kept.
        Case {
            name: "subtree_redirect",
            patterns: &["/a/"],
            target: "/a",
            status: 307,
            location: Some("/a/"),
            ..BASE
        },
        Case {
            name: "subtree_redirect_keeps_query",
            patterns: &["/a/"],
            target: "/a?x=1&y=%20",
            status: 307,
            location: Some("/a/?x=1&y=%20"),
            ..BASE
        },
        Case {
            name: "subtree_redirect_keeps_method",
            patterns: &["/a/"],
            method: "POST",
            target: "/a",
            status: 307,
            location: Some("/a/"),
            ..BASE
        },
        Case {
            name: "end_anchor_redirect",
            patterns: &["/a/{$}"],
            target: "/a",
            status: 307,
            location: Some("/a/"),
            ..BASE
        },
        Case {
            name: "multi_redirect",
            patterns: &["/files/{rest...}"],
            target: "/files",
            status: 307,
            location: Some("/files/"),
            ..BASE
        },
        hit(
            "no_redirect_when_exact_exists",
            &["/a/", "/a"],
            "GET",
            "/a",
            "/a",
        ),
        Case {
            name: "redirect_even_with_root_subtree",
            patterns: &["/", "/a/"],
            target: "/a",
            status: 307,
            location: Some("/a/"),
            ..BASE
        },
        Case {
            name: "clean_double_slash",
            patterns: &["/a/b"],
            target: "/a//b",
            status: 307,
            location: Some("/a/b"),
            ..BASE
        },
        Case {
            name: "clean_dot_keeps_query",
            patterns: &["/a/b"],
            target: "/a/./b?q=1",
            status: 307,
            location: Some("/a/b?q=1"),
            ..BASE
        },
        Case {
            name: "clean_dotdot",
            patterns: &["/a/b"],
            target: "/x/../a/b",
            status: 307,
            location: Some("/a/b"),
            ..BASE
        },
        Case {
            name: "clean_then_subtree_slash",
            patterns: &["/a/"],
            target: "/x/../a",
            status: 307,
            location: Some("/a/"),
            ..BASE
        },
        Case {
            name: "clean_redirect_even_without_match",
            patterns: &["/z"],
            target: "/a/../b",
            status: 307,
            location: Some("/b"),
            ..BASE
        },
        hit(
            "connect_not_cleaned",
            &["CONNECT /a//b"],
            "CONNECT",
            "/a//b",
            "CONNECT /a//b",
        ),
        // The mux's own answers.
        Case {
            name: "empty_mux",
            patterns: &[],
            target: "/",
            status: 404,
            ..BASE
        },
        Case {
            name: "options_star",
            patterns: &["/"],
            method: "OPTIONS",
            target: "*",
            status: 400,
            ..BASE
        },
    ]
}

#[test]
fn go_1_22_routing_table() {
    let mut failures = Vec::new();
    for c in cases() {
        let mux = mux_of(c.patterns);
        let (w, r) = serve(&mux, request(c.method, c.target, c.host));
        let mut check = |what: &str, ok: bool, got: String| {
            if !ok {
                failures.push(format!("{}: {what}: got {got}", c.name));
            }
        };
        check(
            "status",
            w.code().as_u16() == c.status,
            w.code().as_u16().to_string(),
        );
        let ran = if c.handler.is_some() {
            Some(w.body_str())
        } else {
            None
        };
        check("handler", ran == c.handler, format!("{ran:?}"));
        check(
            "pattern",
            r.pattern() == c.handler,
            format!("{:?}", r.pattern()),
        );
        check(
            "allow",
            w.header("allow") == c.allow,
            format!("{:?}", w.header("allow")),
        );
        check(
            "location",
            w.header("location") == c.location,
            format!("{:?}", w.header("location")),
        );
        for (name, want) in c.values {
            check(
                &format!("path value {name}"),
                r.path_value(name) == Some(*want),
                format!("{:?}", r.path_value(name)),
            );
        }
        if c.status == 404 {
            check(
                "404 body",
                w.body_str() == "404 page not found\n",
                w.body_str().to_string(),
            );
        }
        if c.status == 405 {
            check(
                "405 body",
                w.body_str() == "Method Not Allowed\n",
                w.body_str().to_string(),
            );
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn options_star_closes() {
    let mux = mux_of(&["/"]);
    let (w, _) = serve(&mux, request("OPTIONS", "*", "h"));
    assert_eq!(w.header("connection"), Some("close"));
}

#[test]
fn redirect_body_for_get_only() {
    let mux = mux_of(&["/a/"]);
    let (w, _) = serve(&mux, request("GET", "/a", "h"));
    assert_eq!(w.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(w.body_str(), "<a href=\"/a/\">Temporary Redirect</a>.\n");
    let (w, _) = serve(&mux, request("POST", "/a", "h"));
    assert!(w.body.is_empty());
    assert_eq!(w.header("content-type"), None);
}

/// (name, registered first, registered second, what the error must say; None: no conflict).
const CONFLICTS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "identical",
        "/a",
        "/a",
        Some(r#""/a" matches the same requests as "/a""#),
    ),
    (
        "same_wildcards",
        "/{x}",
        "/{y}",
        Some(r#""/{y}" matches the same requests as "/{x}""#),
    ),
    (
        "subtree_and_named_multi",
        "/a/",
        "/a/{rest...}",
        Some("matches the same requests as"),
    ),
    (
        "crossing_wildcards",
        "/a/{x}",
        "/{y}/b",
        Some(
            r#""/{y}/b" and "/a/{x}" both match some paths, like "/a/b", but neither is more specific: "/{y}/b" matches "/y/b", but "/a/{x}" doesn't; "/a/{x}" matches "/a/x", but "/{y}/b" doesn't"#,
        ),
    ),
    (
        "method_vs_path",
        "GET /",
        "/index.html",
        Some(
            r#""/index.html" matches more methods than "GET /", but has a more specific path pattern"#,
        ),
    ),
    (
        "method_vs_path_reversed",
        "/index.html",
        "GET /",
        Some(
            r#""GET /" matches fewer methods than "/index.html", but has a more general path pattern"#,
        ),
    ),
    (
        "get_wildcard_vs_literal",
        "GET /a/{x}",
        "/a/b",
        Some("matches more methods"),
    ),
    (
        "same_host",
        "h.com/{x}",
        "h.com/{y}",
        Some("matches the same requests"),
    ),
    ("literal_and_wildcard", "/a/b", "/a/{x}", None),
    ("get_and_head", "GET /a", "HEAD /a", None),
    ("get_and_post", "GET /a", "POST /a", None),
    ("host_and_no_host", "h.com/a/{x}", "/{y}/b", None),
    ("different_hosts", "a.com/", "b.com/", None),
    ("end_anchor_and_wildcard", "/{x}/{$}", "/a/{y}", None),
    ("end_anchor_and_subtree", "/a/{$}", "/a/", None),
    ("different_lengths", "/a/{x}", "/a/{x}/{y}", None),
    ("multi_and_deeper", "/a/{x...}", "/a/{y}/c", None),
];

#[test]
fn conflicts() {
    for (name, first, second, want) in CONFLICTS {
        let mut mux = ServeMux::new();
        mux.handle(first, nethttp::not_found);
        let got = mux.try_handle(second, nethttp::not_found);
        match (want, got) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{name}: unexpected conflict: {e}"),
            (Some(_), Ok(_)) => panic!("{name}: no conflict reported"),
            (Some(want), Err(e)) => {
                assert_eq!(e.kind(), nethttp::ErrorKind::InvalidInput, "{name}");
                let msg = e.to_string();
                assert!(msg.contains(want), "{name}: {msg}");
                // Both patterns, and where each was registered.
                assert!(
                    msg.contains(&format!("pattern {second:?} (registered at tests/mux.rs:")),
                    "{name}: {msg}"
                );
                assert!(
                    msg.contains(&format!(
                        "conflicts with pattern {first:?} (registered at tests/mux.rs:"
                    )),
                    "{name}: {msg}"
                );
            }
        }
    }
}

#[test]
fn invalid_patterns_are_errors() {
    let cases = [
        ("", "empty pattern"),
        (
            "/{x",
            r#"parsing pattern "/{x": at offset 1: bad wildcard segment (must end with '}')"#,
        ),
        ("GET /a/{x...}/b", "{...} wildcard not at end"),
        ("/{a}/{a}", r#"duplicate wildcard name "a""#),
        ("GET /a/../b", "unclean path"),
        ("example.com", "missing /"),
    ];
    for (pattern, want) in cases {
        let mut mux = ServeMux::new();
        let e = mux
            .try_handle(pattern, nethttp::not_found)
            .expect_err(pattern);
        let msg = e.to_string();
        assert!(msg.contains(want), "{pattern:?}: {msg}");
        assert!(msg.starts_with("invalid input: parsing pattern"), "{msg}");
    }
}

#[test]
#[should_panic(expected = r#"pattern "/{y}/b" (registered at tests/mux.rs:"#)]
fn handle_panics_on_conflict() {
    let mut mux = ServeMux::new();
    mux.handle("/a/{x}", nethttp::not_found);
    mux.handle("/{y}/b", nethttp::not_found);
}

#[test]
fn registration_order_does_not_matter() {
    let patterns = [
        "/items/",
        "/items/{id}",
        "/items/new",
        "GET /items/{id}/edit",
        "/",
    ];
    let mut reversed = patterns;
    reversed.reverse();
    for target in [
        "/items/new",
        "/items/3",
        "/items/3/edit",
        "/items/3/x",
        "/other",
    ] {
        let a = serve(&mux_of(&patterns), request("GET", target, "h")).0;
        let b = serve(&mux_of(&reversed), request("GET", target, "h")).0;
        assert_eq!(a.body, b.body, "{target}");
    }
}

#[test]
fn many_routes_match_like_few() {
    // 1,000 routes of mixed shapes: each request finds its own.
    let mut mux = ServeMux::new();
    for i in 0..250 {
        for (p, body) in [
            (format!("GET /api/v{i}/users"), format!("list{i}")),
            (format!("GET /api/v{i}/users/{{id}}"), format!("get{i}")),
            (format!("DELETE /api/v{i}/users/{{id}}"), format!("del{i}")),
            (format!("/static{i}/{{path...}}"), format!("static{i}")),
        ] {
            mux.handle(&p, move |w: &mut dyn ResponseWriter, _r: &mut Request| {
                let _ = w.write_all(body.as_bytes());
            });
        }
    }
    for i in [0, 1, 77, 249] {
        let cases = [
            ("GET", format!("/api/v{i}/users"), format!("list{i}"), None),
            (
                "GET",
                format!("/api/v{i}/users/9"),
                format!("get{i}"),
                Some(("id", "9")),
            ),
            (
                "DELETE",
                format!("/api/v{i}/users/9"),
                format!("del{i}"),
                Some(("id", "9")),
            ),
            (
                "GET",
                format!("/static{i}/a/b.css"),
                format!("static{i}"),
                Some(("path", "a/b.css")),
            ),
        ];
        for (m, target, body, value) in cases {
            let (w, r) = serve(&mux, request(m, &target, "h"));
            assert_eq!(w.body_str(), body, "{m} {target}");
            if let Some((k, v)) = value {
                assert_eq!(r.path_value(k), Some(v), "{m} {target}");
            }
        }
        let (w, _) = serve(&mux, request("POST", &format!("/api/v{i}/users/9"), "h"));
        assert_eq!(w.code(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(w.header("allow"), Some("DELETE, GET, HEAD"));
    }
}

// End to end, through a real server and raw sockets.

#[test]
fn e2e_405_with_allow_then_keep_alive() {
    let ts = TestServer::start(mux_of(&["GET /x", "PUT /x"]));
    let mut s = ts.connect();
    s.write_all(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
        .expect("write");
    let mut buf = Vec::new();
    let resp = read_response(&mut s, &mut buf);
    assert_eq!(resp.head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.header("allow"), Some("GET, HEAD, PUT"));
    assert_eq!(resp.body, b"Method Not Allowed\n");
    // The connection is still good for the next request.
    s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        .expect("write");
    let resp = read_response(&mut s, &mut buf);
    assert_eq!(resp.head.status, StatusCode::OK);
    assert_eq!(resp.body, b"GET /x");
}

#[test]
fn e2e_redirects_keep_query() {
    let ts = TestServer::start(mux_of(&["/tree/", "/a/b"]));
    let mut s = ts.connect();
    let mut buf = Vec::new();
    for (req, location) in [
        (
            &b"GET /tree?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            "/tree/?x=1&y=2",
        ),
        (
            &b"GET /a//./b?q=%20 HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            "/a/b?q=%20",
        ),
        (
            &b"POST /tree HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"[..],
            "/tree/",
        ),
    ] {
        s.write_all(req).expect("write");
        let resp = read_response(&mut s, &mut buf);
        assert_eq!(resp.head.status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(resp.header("location"), Some(location));
    }
}
