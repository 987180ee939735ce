//! Router benchmarks: `ServeMux` dispatch with 1,000 routes (static, `{id}` wildcards,
//! `{rest...}`, methods) against a naive linear scan over the same patterns, plus the cost of
//! registering the 1,000 routes (parsing and conflict checks).
//!
//! `cargo bench --bench mux`. Each lookup is a whole `serve_http` call with a no-op handler:
//! routing, setting the path values and the pattern on the request, and, for 404/405, the
//! mux's own error response into a writer that discards it.

use std::hint::black_box;
use std::io;

use criterion::{BenchmarkId, Criterion};
use nethttp::{Handler, HeaderMap, Method, Request, ResponseWriter, ServeMux, StatusCode};

/// The 1,000 patterns: 100 resources with 10 routes each.
fn patterns() -> Vec<String> {
    let mut out = Vec::with_capacity(1000);
    for r in 0..100 {
        out.push(format!("GET /res{r}"));
        out.push(format!("POST /res{r}"));
        out.push(format!("GET /res{r}/{{id}}"));
        out.push(format!("PUT /res{r}/{{id}}"));
        out.push(format!("DELETE /res{r}/{{id}}"));
        out.push(format!("GET /res{r}/{{id}}/meta"));
        out.push(format!("GET /res{r}/{{id}}/items/{{item}}"));
        out.push(format!("GET /res{r}/{{id}}/items/"));
        out.push(format!("/files{r}/{{path...}}"));
        out.push(format!("GET /static/r{r}/index.html"));
    }
    out
}

/// (name, method, path, the pattern that must serve it; "" if the router answers itself)
const REQUESTS: &[(&str, &str, &str, &str)] = &[
    ("static", "GET", "/res57", "GET /res57"),
    (
        "static_3_segments",
        "GET",
        "/static/r57/index.html",
        "GET /static/r57/index.html",
    ),
    ("wildcard", "GET", "/res57/12345", "GET /res57/{id}"),
    (
        "wildcard_delete",
        "DELETE",
        "/res57/12345",
        "DELETE /res57/{id}",
    ),
    (
        "two_wildcards",
        "GET",
        "/res57/12345/items/9",
        "GET /res57/{id}/items/{item}",
    ),
    ("multi", "GET", "/files57/a/b/c.txt", "/files57/{path...}"),
    ("405", "PATCH", "/res57/12345", ""),
    ("404", "GET", "/nope/x", ""),
];

fn noop(_w: &mut dyn ResponseWriter, _r: &mut Request) {}

/// A writer that keeps nothing.
#[derive(Default)]
struct Discard {
    headers: HeaderMap,
    status: Option<StatusCode>,
}

impl io::Write for Discard {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ResponseWriter for Discard {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
    fn write_header(&mut self, status: StatusCode) {
        self.status.get_or_insert(status);
    }
    fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// The naive router: every pattern is tried in turn and the most specific match wins, as
/// pre-1.22 muxes and many small routers do. Same patterns, same answers, no tree.
struct Linear {
    routes: Vec<Route>,
}

struct Route {
    text: String,
    method: Option<Method>,
    segs: Vec<Seg>,
}

enum Seg {
    Lit(String),
    Wild(String),
    Multi(String),
}

impl Linear {
    fn new(patterns: &[String]) -> Linear {
        let routes = patterns
            .iter()
            .map(|p| {
                let (method, path) = match p.split_once(' ') {
                    Some((m, path)) => (Method::from_bytes(m.as_bytes()).ok(), path),
                    None => (None, p.as_str()),
                };
                let segs = path[1..]
                    .split('/')
                    .map(|s| {
                        if let Some(n) = s.strip_prefix('{').and_then(|s| s.strip_suffix("...}")) {
                            Seg::Multi(n.to_string())
                        } else if let Some(n) =
                            s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                        {
                            Seg::Wild(n.to_string())
                        } else if s.is_empty() {
                            Seg::Multi(String::new())
                        } else {
                            Seg::Lit(s.to_string())
                        }
                    })
                    .collect();
                Route {
                    text: p.clone(),
                    method,
                    segs,
                }
            })
            .collect();
        Linear { routes }
    }

    /// Matches `path` against one route's segments; the values it binds, or `None`.
    fn match_path<'a>(route: &'a Route, segs: &[&str], out: &mut Vec<(&'a str, String)>) -> bool {
        out.clear();
        for (i, s) in route.segs.iter().enumerate() {
            match s {
                Seg::Multi(name) => {
                    if !name.is_empty() {
                        out.push((name, segs[i.min(segs.len())..].join("/")));
                    }
                    return segs.len() > i;
                }
                _ if i >= segs.len() => return false,
                Seg::Lit(l) if l != segs[i] => return false,
                Seg::Lit(_) => {}
                Seg::Wild(name) => out.push((name, segs[i].to_string())),
            }
        }
        route.segs.len() == segs.len()
    }

    /// Specificity for this route set: a method, then more literal segments, then no multi.
    fn rank(route: &Route) -> (bool, usize, bool) {
        let lits = route
            .segs
            .iter()
            .filter(|s| matches!(s, Seg::Lit(_)))
            .count();
        let multi = matches!(route.segs.last(), Some(Seg::Multi(_)));
        (route.method.is_some(), lits, !multi)
    }
}

impl Handler for Linear {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let path = r.uri.path().to_string();
        let segs: Vec<&str> = path[1..].split('/').collect();
        let mut best: Option<(&Route, Vec<(&str, String)>)> = None;
        let mut allowed: Vec<&Method> = Vec::new();
        let mut vals = Vec::new();
        for route in &self.routes {
            if !Linear::match_path(route, &segs, &mut vals) {
                continue;
            }
            let method_ok = match &route.method {
                None => true,
                Some(m) => *m == r.method || (*m == Method::GET && r.method == Method::HEAD),
            };
            if !method_ok {
                if let Some(m) = &route.method {
                    allowed.push(m);
                }
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(b, _)| Linear::rank(route) > Linear::rank(b))
            {
                best = Some((route, std::mem::take(&mut vals)));
            }
        }
        match best {
            Some((route, values)) => {
                for (k, v) in values {
                    r.set_path_value(k, v);
                }
                r.set_pattern(route.text.as_str());
                noop(w, r);
            }
            None if !allowed.is_empty() => {
                let mut names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                if let Ok(v) = names.join(", ").parse() {
                    w.headers_mut().insert("allow", v);
                }
                nethttp::handlers::error(w, "Method Not Allowed", StatusCode::METHOD_NOT_ALLOWED);
            }
            None => nethttp::not_found(w, r),
        }
    }
}

fn build_mux(patterns: &[String]) -> ServeMux {
    let mut mux = ServeMux::new();
    for p in patterns {
        mux.handle(p, noop);
    }
    mux
}

fn request(method: &str, path: &str) -> Request {
    let m = Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = Request::new(m, path).expect("path");
    r.headers
        .insert("host", "bench.example".parse().expect("host"));
    r
}

/// Serves `r` once and returns the pattern chosen and the status.
fn dispatch(h: &dyn Handler, r: &mut Request) -> (String, StatusCode) {
    let mut w = Discard::default();
    h.serve_http(&mut w, r);
    (
        r.pattern().unwrap_or_default().to_string(),
        w.status.unwrap_or(StatusCode::OK),
    )
}

fn bench_lookup(c: &mut Criterion) {
    let pats = patterns();
    assert_eq!(pats.len(), 1000);
    let mux = build_mux(&pats);
    let linear = Linear::new(&pats);

    // Both routers must agree before their speed means anything.
    for (name, method, path, want) in REQUESTS {
        for (router, h) in [("tree", &mux as &dyn Handler), ("linear", &linear)] {
            let mut r = request(method, path);
            let (pattern, status) = dispatch(h, &mut r);
            assert_eq!(pattern, *want, "{router} {name}");
            match *name {
                "405" => assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{router}"),
                "404" => assert_eq!(status, StatusCode::NOT_FOUND, "{router}"),
                _ => assert_eq!(status, StatusCode::OK, "{router} {name}"),
            }
        }
    }

    let mut group = c.benchmark_group("mux_1000_routes");
    for (name, method, path, _) in REQUESTS {
        for (router, h) in [("tree", &mux as &dyn Handler), ("linear", &linear)] {
            let mut r = request(method, path);
            group.bench_with_input(BenchmarkId::new(router, name), name, |b, _| {
                b.iter(|| {
                    let mut w = Discard::default();
                    h.serve_http(&mut w, black_box(&mut r));
                    black_box(w.status)
                })
            });
        }
    }
    group.finish();
}

fn bench_register(c: &mut Criterion) {
    let pats = patterns();
    c.bench_function("mux_register_1000_routes", |b| {
        b.iter(|| black_box(build_mux(black_box(&pats))))
    });
}

/// Runs every benchmark, taking criterion's options from the command line (written out: the
/// function `criterion_group!` generates has no doc comment, which fails `missing_docs`).
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_lookup(&mut c);
    bench_register(&mut c);
    c.final_summary();
}
