//! Forms, uploads, cookies and Basic auth: Go's everyday handler API.
//!
//! ```text
//! cargo run --example forms -- [ADDR] [DIR]      # default 127.0.0.1:8080 and ./uploads
//! curl -F title=hi -F doc=@Cargo.toml http://127.0.0.1:8080/upload
//! curl 'http://127.0.0.1:8080/form?b=2&a=1'
//! curl -u alice:s3cret http://127.0.0.1:8080/auth
//! ```
//!
//! - `POST /upload` (multipart/form-data): every file part is streamed into DIR under its base
//!   file name (never outside DIR); the answer is one line per part, in order:
//!   `field NAME=VALUE` or `file NAME FILENAME SIZE`.
//! - `GET /form?...` and `POST /form` (urlencoded): one line `NAME=V1,V2` per field name,
//!   sorted by name, values in Go's `r.Form` order (the body's before the query's).
//! - `GET /cookie/set?NAME=VALUE` sets `NAME=VALUE; Path=/; HttpOnly`; `GET /cookie/get`
//!   answers one line `NAME=VALUE` per request cookie.
//! - `GET /auth`: `hello alice` for Basic `alice:s3cret`, else 401 with
//!   `WWW-Authenticate: Basic realm="forms"`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nethttp::handlers::error;
use nethttp::{Cookie, HeaderValue, ResponseWriter, ServeMux, StatusCode};

fn main() -> nethttp::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "uploads".into()));
    std::fs::create_dir_all(&dir).map_err(nethttp::Error::from)?;
    let dir = Arc::new(dir);
    let upload_dir = Arc::clone(&dir);

    let mut mux = ServeMux::new();
    mux.handle_func("POST /upload", move |w, r| {
        let dir = &upload_dir;
        let mut lines = String::new();
        let mut parts = match r.multipart_reader() {
            Ok(p) => p,
            Err(e) => return fail(w, &e),
        };
        loop {
            let mut part = match parts.next_part() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return fail(w, &e),
            };
            match part.filename.clone() {
                Some(filename) => match store(&mut part, dir, &filename) {
                    Ok(size) => lines.push_str(&format!("file {} {filename} {size}\n", part.name)),
                    Err(e) => return fail(w, &e),
                },
                None => {
                    let mut value = String::new();
                    if let Err(e) = part.read_to_string(&mut value) {
                        return fail(w, &nethttp::Error::from(e));
                    }
                    lines.push_str(&format!("field {}={value}\n", part.name));
                }
            }
        }
        text(w, &lines);
    });
    mux.handle_func("/form", |w, r| {
        if let Err(e) = r.parse_form() {
            return fail(w, &e);
        }
        let form = r.form().expect("parsed");
        let mut names = form.names();
        names.sort_unstable();
        let mut lines = String::new();
        for name in names {
            let values: Vec<&str> = form.get_all(name).collect();
            lines.push_str(&format!("{name}={}\n", values.join(",")));
        }
        text(w, &lines);
    });
    mux.handle_func("GET /cookie/set", |w, r| {
        let pairs: Vec<(String, String)> = match r.parse_form() {
            Ok(()) => r
                .form()
                .expect("parsed")
                .iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
            Err(e) => return fail(w, &e),
        };
        for (name, value) in pairs {
            let c = Cookie {
                path: Some("/".into()),
                http_only: true,
                ..Cookie::new(name, value)
            };
            nethttp::set_cookie(w, &c);
        }
        text(w, "");
    });
    mux.handle_func("GET /cookie/get", |w, r| {
        let lines: String = r
            .cookies()
            .iter()
            .map(|c| format!("{}={}\n", c.name, c.value))
            .collect();
        text(w, &lines);
    });
    mux.handle_func("GET /auth", |w, r| match r.basic_auth() {
        Some((user, password)) if user == "alice" && password == "s3cret" => {
            text(w, "hello alice");
        }
        _ => {
            w.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"forms\""),
            );
            error(w, "unauthorized", StatusCode::UNAUTHORIZED);
        }
    });
    eprintln!("forms: http://{addr}/ storing uploads in {}", dir.display());
    nethttp::listen_and_serve(addr.as_str(), mux)
}

/// Streams a file part into `dir` under `filename`, which the parser has already reduced to
/// a base name (`../../x` is `x`), so it cannot land outside `dir`.
fn store(part: &mut impl Read, dir: &Path, filename: &str) -> nethttp::Result<u64> {
    let path = dir.join(filename);
    let mut file = std::fs::File::create(&path).map_err(nethttp::Error::from)?;
    std::io::copy(part, &mut file).map_err(nethttp::Error::from)
}

fn text(w: &mut dyn ResponseWriter, body: &str) {
    w.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let _ = w.write_all(body.as_bytes());
}

fn fail(w: &mut dyn ResponseWriter, e: &nethttp::Error) {
    let status = e.status_hint().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(w, &e.to_string(), status);
}
