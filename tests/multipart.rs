//! Multipart uploads end to end over sockets: `parse_multipart_form` (values in Go's order,
//! files in memory or spilled to temporary files that go with the request), `form_file`,
//! the streaming `multipart_reader`, and hostile bodies that must get a clear 4xx and leave no
//! temporary file behind.

mod policy_support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use nethttp::client::Client;
use nethttp::{httptest, Method, ServeMux, StatusCode};

const BOUNDARY: &str = "XyZ-boundary";

fn client() -> Client {
    Client::with_config(policy_support::config())
}

/// A multipart body: `(name, filename, content)` parts, then the close delimiter unless
/// `truncated`.
fn body(parts: &[(&str, Option<&str>, &[u8])], truncated: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, content) in parts {
        write!(
            out,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
        )
        .unwrap();
        if let Some(f) = filename {
            write!(
                out,
                "; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            )
            .unwrap();
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    }
    if !truncated {
        write!(out, "--{BOUNDARY}--\r\n").unwrap();
    }
    out
}

fn post(c: &Client, url: &str, body: Vec<u8>) -> (StatusCode, String) {
    let mut resp = c
        .request(Method::POST, url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .unwrap();
    (resp.status, resp.text().unwrap())
}

/// Polls `cond` every 5 ms for up to 5 s; whether it came true.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// The files of this process's uploads now in the temporary directory.
fn temp_uploads() -> Vec<PathBuf> {
    let prefix = format!("nethttp-upload-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}

/// Reports what `parse_multipart_form(max_memory)` found, one line per field and file; the
/// temporary file paths go out on `paths`.
fn parse_route(max_memory: u64, paths: mpsc::Sender<PathBuf>) -> ServeMux {
    let paths = Mutex::new(paths);
    let mut mux = ServeMux::new();
    mux.handle_func("POST /parse", move |w, r| {
        if let Err(e) = r.parse_multipart_form(max_memory) {
            let status = e.status_hint().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return nethttp::handlers::error(w, &e.to_string(), status);
        }
        let form = r.form().unwrap().clone();
        for name in form.names() {
            let values: Vec<&str> = form.get_all(name).collect();
            let _ = writeln!(w, "field {name}={}", values.join(","));
        }
        type Seen = (String, String, u64, Vec<u8>, Option<PathBuf>);
        let files: Vec<Seen> = r
            .multipart_form()
            .unwrap()
            .files
            .iter()
            .map(|(n, f)| {
                let mut data = Vec::new();
                f.open().unwrap().read_to_end(&mut data).unwrap();
                (
                    n.clone(),
                    f.filename.clone(),
                    f.size,
                    data,
                    f.temp_path().map(PathBuf::from),
                )
            })
            .collect();
        for (name, filename, size, data, temp) in files {
            assert_eq!(data.len() as u64, size);
            let _ = writeln!(
                w,
                "file {name} {filename} {size} {}",
                if temp.is_some() { "disk" } else { "memory" }
            );
            if let Some(p) = temp {
                let _ = paths.lock().unwrap().send(p);
            }
        }
        let first = r.form_file("doc").map(|f| f.filename.clone());
        let _ = writeln!(w, "form_file doc: {first:?}");
    });
    mux
}

/// Every temp-file-making case is in this one test, so the count of this process's upload
/// files is not disturbed by another test running beside it.
#[test]
fn forms_files_and_hostile_bodies_leave_no_temporary_file() {
    let (tx, rx) = mpsc::channel();
    let ts = httptest::Server::new(parse_route(1024, tx));
    let c = client();
    let url = format!("{}/parse?title=query", ts.url());
    let before = temp_uploads().len();

    // Values (query first, as Go adds multipart values after it), a small file in memory, a
    // large one on disk, a name reduced to its base.
    let big = vec![b'z'; 300_000];
    let (status, text) = post(
        &c,
        &url,
        body(
            &[
                ("title", None, b"body"),
                ("doc", Some("../../etc/passwd"), b"small"),
                ("blob", Some("C:\\dir\\big.bin"), &big),
            ],
            false,
        ),
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        text,
        "field title=query,body\nfile doc passwd 5 memory\nfile blob big.bin 300000 disk\nform_file doc: Ok(\"passwd\")\n"
    );
    let spilled = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // The request is dropped just after its response goes out (as Go removes the files at the
    // end of the request), so the file may outlive the response by a moment.
    assert!(
        eventually(|| !spilled.exists()),
        "the temporary file went with the request"
    );

    // Hostile bodies: each a clear 4xx.
    let many: Vec<(String, Option<&str>, &[u8])> = (0..10_000)
        .map(|i| (format!("f{i}"), None, &b"v"[..]))
        .collect();
    let many: Vec<(&str, Option<&str>, &[u8])> =
        many.iter().map(|(n, f, v)| (n.as_str(), *f, *v)).collect();
    let mut huge_header =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ")
            .into_bytes();
    huge_header.extend(std::iter::repeat_n(b'p', 1 << 20));
    huge_header.extend_from_slice(format!("\r\n\r\nv\r\n--{BOUNDARY}--\r\n").as_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "missing_final_boundary",
            body(&[("doc", Some("a.bin"), &big)], true),
        ),
        ("ten_thousand_parts", body(&many, false)),
        ("one_megabyte_part_header", huge_header),
    ];
    for (name, body) in cases {
        let (status, text) = post(&c, &url, body);
        assert!(status.is_client_error(), "{name}: {status} {text}");
    }
    // A NUL byte in a filename.
    let mut nul = body(&[("doc", Some("aXb"), b"x")], false);
    let at = nul.windows(3).position(|w| w == b"aXb").unwrap() + 1;
    nul[at] = 0;
    let (status, text) = post(&c, &url, nul);
    assert!(status.is_client_error(), "nul: {status} {text}");

    assert!(
        eventually(|| temp_uploads().len() == before),
        "no temporary file is left behind: {:?}",
        temp_uploads()
    );
}

/// The streaming reader: parts straight to their destination, nothing buffered whole.
#[test]
fn multipart_reader_streams_parts() {
    let mut mux = ServeMux::new();
    mux.handle_func("POST /upload", |w, r| {
        let mut parts = match r.multipart_reader() {
            Ok(p) => p,
            Err(e) => return nethttp::handlers::error(w, &e.to_string(), StatusCode::BAD_REQUEST),
        };
        let mut lines = Vec::new();
        loop {
            match parts.next_part() {
                Ok(Some(mut part)) => {
                    let n = std::io::copy(&mut part, &mut std::io::sink()).unwrap();
                    lines.push(match &part.filename {
                        Some(f) => format!("file {} {f} {n}", part.name),
                        None => format!("field {}", part.name),
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    return nethttp::handlers::error(w, &e.to_string(), StatusCode::BAD_REQUEST)
                }
            }
        }
        let _ = write!(w, "{}", lines.join("\n"));
    });
    let ts = httptest::Server::new(mux);
    let c = client();
    let big = vec![b'\r'; 200_000]; // bytes that look like the start of a delimiter
    let (status, text) = post(
        &c,
        &format!("{}/upload", ts.url()),
        body(&[("a", None, b"1"), ("f", Some("x/y.bin"), &big)], false),
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "field a\nfile f y.bin 200000");
    // Not multipart at all.
    let mut resp = c
        .request(Method::POST, &format!("{}/upload", ts.url()))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let _ = resp.text();
}
