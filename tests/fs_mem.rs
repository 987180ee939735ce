//! The file server over an in-memory [`MemFs`] and over a directory with the same files: the
//! same requests must get the same answers (status, `Location`, `Content-Range`, body), and
//! the checks Go's `FileServerFS` tests make hold for `MemFs` on its own.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nethttp::fs::{serve_file_fs, FileSystem, MemFs};
use nethttp::http::header::{HeaderName, ETAG};
use nethttp::httptest::{self, ResponseRecorder};
use nethttp::{FileServer, Handler, Request, ResponseWriter, StatusCode};

const LICENSE: &[u8] = include_bytes!("../LICENSE");
const MOD_DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

/// (path, contents): the tree both file systems hold.
const FILES: &[(&str, &[u8])] = &[
    ("a.txt", b"alpha\n"),
    ("page.html", b"<p>hi</p>"),
    ("sub/b.txt", b"bravo\n"),
    ("site/index.html", b"<h1>index</h1>"),
    ("list/b.txt", b""),
    ("list/.hidden", b""),
    ("list/a&<x>.txt", b""),
    ("list/zdir/z.txt", b"z"),
    ("list/Adir/y.txt", b"y"),
    ("LICENSE", LICENSE),
];

fn modtime() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn mem() -> MemFs {
    let mut fs = MemFs::new();
    for (path, data) in FILES {
        fs.add_static(path, data);
    }
    fs.set_modified(Some(modtime()));
    fs
}

/// A temporary directory with the same files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("nethttp-fs-mem-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, data) in FILES {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
        }
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = httptest::request(method, target, ());
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).unwrap();
        r.headers.append(name, v.parse().unwrap());
    }
    r
}

fn get(h: &impl Handler, method: &str, target: &str, headers: &[(&str, &str)]) -> ResponseRecorder {
    let mut rec = ResponseRecorder::new();
    let mut r = request(method, target, headers);
    h.serve_http(&mut rec, &mut r);
    rec
}

/// (name, method, target, request headers, status, Location, Content-Range, body)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    u16,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static [u8]>,
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("file", "GET", "/a.txt", &[], 200, None, None, Some(b"alpha\n")),
    ("file_in_subdir", "GET", "/sub/b.txt", &[], 200, None, None, Some(b"bravo\n")),
    ("head", "HEAD", "/a.txt", &[], 200, None, None, Some(b"")),
    ("range", "GET", "/a.txt", &[("range", "bytes=1-3")], 206, None, Some("bytes 1-3/6"), Some(b"lph")),
    ("suffix_range", "GET", "/a.txt", &[("range", "bytes=-2")], 206, None, Some("bytes 4-5/6"), Some(b"a\n")),
    ("unsatisfiable_range", "GET", "/a.txt", &[("range", "bytes=10-")], 416, None, Some("bytes */6"), None),
    ("missing", "GET", "/nope.txt", &[], 404, None, None, Some(b"404 page not found\n")),
    ("under_a_file", "GET", "/a.txt/x", &[], 404, None, None, None),
    ("dir_redirect", "GET", "/sub", &[], 301, Some("sub/"), None, Some(b"")),
    ("dir_redirect_keeps_query", "GET", "/sub?x=1", &[], 301, Some("sub/?x=1"), None, None),
    ("file_slash_redirect", "GET", "/a.txt/", &[], 301, Some("../a.txt"), None, None),
    ("index_html_redirect", "GET", "/site/index.html", &[], 301, Some("./"), None, None),
    ("dir_index", "GET", "/site/", &[], 200, None, None, Some(b"<h1>index</h1>")),
    ("dot_dot_above_root", "GET", "/../a.txt", &[], 200, None, None, Some(b"alpha\n")),
    ("nul_byte", "GET", "/a%00.txt", &[], 400, None, None, Some(b"invalid URL path\n")),
    ("precondition_failed", "GET", "/a.txt", &[("if-unmodified-since", BEFORE)], 412, None, None, None),
    ("listing_not_modified", "GET", "/list/", &[("if-modified-since", MOD_DATE)], 304, None, None, None),
];

fn check(name: &str, rec: &ResponseRecorder, want: &Case) {
    let (_, _, _, _, status, location, range, body) = want;
    assert_eq!(rec.status().as_u16(), *status, "{name}");
    assert_eq!(rec.header("location"), *location, "{name}");
    assert_eq!(rec.header("content-range"), *range, "{name}");
    if let Some(b) = body {
        assert_eq!(rec.body(), *b, "{name}");
    }
}

#[test]
fn mem_fs_table() {
    let srv = FileServer::from_fs(mem());
    assert!(srv.root().is_none());
    for case in CASES {
        let (name, method, target, headers, ..) = case;
        let rec = get(&srv, method, target, headers);
        check(&format!("mem/{name}"), &rec, case);
    }
}

/// The directory gets the same answers, except where a date is involved (its files have
/// today's modification time): those cases are left out.
#[test]
fn mem_fs_and_dir_agree() {
    let t = TempDir::new();
    let dir = FileServer::new(&t.0);
    let mem = FileServer::from_fs(mem());
    for case in CASES {
        let (name, method, target, headers, ..) = case;
        if headers
            .iter()
            .any(|(k, _)| k.starts_with("if-") && k.contains("since"))
        {
            continue;
        }
        let a = get(&dir, method, target, headers);
        let b = get(&mem, method, target, headers);
        check(&format!("dir/{name}"), &a, case);
        assert_eq!(a.status(), b.status(), "{name}");
        assert_eq!(a.body(), b.body(), "{name}");
        for h in [
            "content-type",
            "content-length",
            "content-range",
            "location",
        ] {
            assert_eq!(a.header(h), b.header(h), "{name}: {h}");
        }
    }
    // Listings are the same bytes.
    for target in ["/", "/list/"] {
        let a = get(&dir, "GET", target, &[]);
        let b = get(&mem, "GET", target, &[]);
        assert_eq!(a.body_string(), b.body_string(), "{target}");
    }
}

#[test]
fn mem_fs_headers_and_preconditions() {
    let srv = FileServer::from_fs(mem());
    let rec = get(&srv, "GET", "/page.html", &[]);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(rec.header("content-length"), Some("9"));
    assert_eq!(rec.header("accept-ranges"), Some("bytes"));
    assert_eq!(rec.header("last-modified"), Some(MOD_DATE));

    let rec = get(
        &srv,
        "GET",
        "/page.html",
        &[("if-modified-since", MOD_DATE)],
    );
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    let rec = get(&srv, "GET", "/page.html", &[("if-modified-since", BEFORE)]);
    assert_eq!(rec.status(), StatusCode::OK);

    // An ETag set by a wrapping handler answers If-None-Match and If-Range.
    let with_etag = move |w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut().insert(ETAG, "\"v1\"".parse().unwrap());
        srv.serve_http(w, r);
    };
    let rec = get(&with_etag, "GET", "/a.txt", &[("if-none-match", "\"v1\"")]);
    assert_eq!(rec.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(rec.header("etag"), Some("\"v1\""));
    assert_eq!(rec.header("last-modified"), None);
    let rec = get(
        &with_etag,
        "GET",
        "/a.txt",
        &[("range", "bytes=0-0"), ("if-range", "\"v0\"")],
    );
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.body(), b"alpha\n");

    // Without a modification time nothing is dated.
    let mut undated = mem();
    undated.set_modified(None);
    let rec = get(&FileServer::from_fs(undated), "GET", "/a.txt", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("last-modified"), None);
}

#[test]
fn mem_fs_listing() {
    let srv = FileServer::from_fs(mem());
    let rec = get(&srv, "GET", "/list/", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(rec.header("last-modified"), Some(MOD_DATE));
    let body = rec.body_string();
    let links: Vec<&str> = body.lines().filter(|l| l.starts_with("<a ")).collect();
    assert_eq!(
        links,
        [
            "<a href=\".hidden\">.hidden</a>",
            "<a href=\"Adir/\">Adir/</a>",
            "<a href=\"a%26%3Cx%3E.txt\">a&amp;&lt;x&gt;.txt</a>",
            "<a href=\"b.txt\">b.txt</a>",
            "<a href=\"zdir/\">zdir/</a>",
        ]
    );
    let rec = get(&srv, "GET", "/list/a%26%3Cx%3E.txt", &[]);
    assert_eq!(rec.status(), StatusCode::OK);

    let empty = FileServer::from_fs(MemFs::new());
    assert_eq!(
        get(&empty, "GET", "/", &[]).body_string(),
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n</pre>\n"
    );
    assert_eq!(
        get(&empty, "GET", "/x", &[]).status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn include_bytes_file() {
    let rec = get(&FileServer::from_fs(mem()), "GET", "/LICENSE", &[]);
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.body(), LICENSE);
    assert_eq!(
        rec.header("content-length"),
        Some(LICENSE.len().to_string().as_str())
    );
    assert_eq!(
        rec.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn serve_file_fs_rules() {
    let fs = mem();
    let call = |target: &str, name: &str, headers: &[(&str, &str)]| {
        let mut rec = ResponseRecorder::new();
        serve_file_fs(&mut rec, &request("GET", target, headers), &fs, name);
        rec
    };
    // The URL path does not choose the file; the name is cleaned.
    assert_eq!(call("/download", "a.txt", &[]).body(), b"alpha\n");
    assert_eq!(call("/download", "/sub/../a.txt", &[]).body(), b"alpha\n");
    assert_eq!(call("/dl/", "a.txt", &[]).status(), StatusCode::OK);
    let rec = call("/dl", "a.txt", &[("range", "bytes=-2")]);
    assert_eq!(rec.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(rec.body(), b"a\n");
    assert_eq!(
        call("/x/../a", "a.txt", &[]).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(call("/docs", "site", &[]).header("location"), Some("docs/"));
    assert_eq!(call("/docs/", "site", &[]).body(), b"<h1>index</h1>");
    assert!(call("/s/", "sub", &[]).body_string().contains("b.txt"));
    assert_eq!(call("/x", "nope", &[]).status(), StatusCode::NOT_FOUND);
}

#[test]
fn mem_fs_trait_directly() {
    let fs = mem();
    assert!(fs.stat("").unwrap().is_dir);
    assert!(fs.stat("list/zdir").unwrap().is_dir);
    assert_eq!(fs.stat("sub/b.txt").unwrap().size, 6);
    assert!(fs.open("sub").is_err());
    assert_eq!(
        fs.read_dir("nope").unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    let mut names: Vec<String> = fs
        .read_dir("")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["LICENSE", "a.txt", "list", "page.html", "site", "sub"]
    );
    // Owned contents and a leading slash.
    let mut owned = MemFs::new();
    owned.add("/gen/data.json", b"{}".to_vec());
    let rec = get(&FileServer::from_fs(owned), "GET", "/gen/data.json", &[]);
    assert_eq!(rec.body(), b"{}");
    assert_eq!(rec.header("content-type"), Some("application/json"));
}
