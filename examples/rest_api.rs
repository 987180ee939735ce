//! A small CRUD service over an in-memory map: `ServeMux` patterns with methods and path
//! values, the mux's own 404s, 405s and redirects, a body limit, and an access log.
//!
//! `cargo run --example rest_api -- [ADDR]` (default `127.0.0.1:8080`) serves:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | this list, as text |
//! | `GET /items/` | every item, as JSON |
//! | `POST /items/` | creates an item from the body (UTF-8 text); 201 with `Location` |
//! | `GET /items/{id}` | the item, as JSON; 404 if there is none |
//! | `PUT /items/{id}` | replaces the item's text; 204, or 404 |
//! | `DELETE /items/{id}` | deletes it; 204, or 404 |
//!
//! Anything else gets the mux's answers: `PATCH /items/1` is 405 with
//! `Allow: DELETE, GET, HEAD, PUT`, `GET /items` redirects (307) to `/items/`, an unknown path
//! is 404. Bodies over 64 KiB get 413 and the connection closes.
//!
//! ```sh
//! curl -i -d 'buy milk' http://127.0.0.1:8080/items/
//! curl -i http://127.0.0.1:8080/items/1
//! curl -i -X PATCH http://127.0.0.1:8080/items/1
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

use nethttp::handlers::{self, chain, log_requests, max_bytes_handler, middleware};
use nethttp::server::{Config, Server};
use nethttp::{Error, HeaderValue, Request, ResponseWriter, ServeMux, StatusCode};

/// The items, by id. Shared by every connection thread behind one lock, held only while
/// the map is read or changed, never while writing a response.
#[derive(Default)]
struct Store {
    items: BTreeMap<u64, String>,
    next_id: u64,
}

type Shared = Arc<Mutex<Store>>;

fn lock(s: &Shared) -> MutexGuard<'_, Store> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    log::set_logger(&STDERR_LOGGER).ok();
    log::set_max_level(log::LevelFilter::Info);

    let store: Shared = Arc::default();
    let mut mux = ServeMux::new();
    mux.handle("GET /{$}", index);
    let s = Arc::clone(&store);
    mux.handle(
        "GET /items/{$}",
        move |w: &mut dyn ResponseWriter, _r: &mut Request| {
            let body = {
                let st = lock(&s);
                let items: Vec<String> = st.items.iter().map(|(id, t)| item_json(*id, t)).collect();
                format!("[{}]\n", items.join(","))
            };
            json(w, StatusCode::OK, &body);
        },
    );
    let s = Arc::clone(&store);
    mux.handle(
        "POST /items/{$}",
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let Some(text) = read_text(w, r) else { return };
            let id = {
                let mut st = lock(&s);
                st.next_id += 1;
                let id = st.next_id;
                st.items.insert(id, text.clone());
                id
            };
            if let Ok(loc) = HeaderValue::from_str(&format!("/items/{id}")) {
                w.headers_mut().insert("location", loc);
            }
            json(
                w,
                StatusCode::CREATED,
                &format!("{}\n", item_json(id, &text)),
            );
        },
    );
    let s = Arc::clone(&store);
    mux.handle(
        "GET /items/{id}",
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let Some(id) = item_id(w, r) else { return };
            let found = lock(&s).items.get(&id).cloned();
            match found {
                Some(text) => json(w, StatusCode::OK, &format!("{}\n", item_json(id, &text))),
                None => handlers::not_found(w, r),
            }
        },
    );
    let s = Arc::clone(&store);
    mux.handle(
        "PUT /items/{id}",
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let Some(id) = item_id(w, r) else { return };
            let Some(text) = read_text(w, r) else { return };
            let replaced = lock(&s).items.get_mut(&id).map(|t| *t = text).is_some();
            if replaced {
                w.write_header(StatusCode::NO_CONTENT);
            } else {
                handlers::not_found(w, r);
            }
        },
    );
    let s = Arc::clone(&store);
    mux.handle(
        "DELETE /items/{id}",
        move |w: &mut dyn ResponseWriter, r: &mut Request| {
            let Some(id) = item_id(w, r) else { return };
            if lock(&s).items.remove(&id).is_some() {
                w.write_header(StatusCode::NO_CONTENT);
            } else {
                handlers::not_found(w, r);
            }
        },
    );

    let handler = chain(
        mux,
        [
            middleware(log_requests),
            middleware(|h| max_bytes_handler(h, 64 << 10)),
        ],
    );
    let cfg = Config {
        addr: addr.clone(),
        ..Config::default()
    };
    let srv = Server::with_config(cfg, handler);
    eprintln!("rest_api: listening on http://{addr}/ (GET / for the routes)");
    if let Err(e) = srv.listen_and_serve() {
        eprintln!("rest_api: {e}");
        std::process::exit(1);
    }
}

fn index(w: &mut dyn ResponseWriter, _r: &mut Request) {
    w.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let _ = w.write_all(
        b"GET /items/\nPOST /items/\nGET /items/{id}\nPUT /items/{id}\nDELETE /items/{id}\n",
    );
}

/// The `{id}` path value as a number; answers 400 and returns `None` if it is not one.
fn item_id(w: &mut dyn ResponseWriter, r: &Request) -> Option<u64> {
    let raw = r.path_value("id").unwrap_or_default();
    match raw.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            handlers::error(w, &format!("bad item id {raw:?}"), StatusCode::BAD_REQUEST);
            None
        }
    }
}

/// The body as UTF-8; answers 413 (over the body limit) or 400 and returns `None` otherwise.
fn read_text(w: &mut dyn ResponseWriter, r: &mut Request) -> Option<String> {
    let mut body = Vec::new();
    if let Err(e) = r.body().read_to_end(&mut body) {
        let e = Error::from(e);
        let code = e.status_hint().unwrap_or(StatusCode::BAD_REQUEST);
        handlers::error(w, &format!("reading body: {e}"), code);
        return None;
    }
    match String::from_utf8(body) {
        Ok(s) => Some(s.trim_end().to_string()),
        Err(_) => {
            handlers::error(w, "body is not utf-8 text", StatusCode::BAD_REQUEST);
            None
        }
    }
}

fn json(w: &mut dyn ResponseWriter, code: StatusCode, body: &str) {
    w.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    w.write_header(code);
    let _ = w.write_all(body.as_bytes());
}

fn item_json(id: u64, text: &str) -> String {
    format!("{{\"id\":{id},\"text\":{}}}", json_string(text))
}

/// A JSON string literal (RFC 8259 §7).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints log records (the access log included) to stderr.
struct StderrLogger;

static STDERR_LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("{} {}", r.target(), r.args());
        }
    }
    fn flush(&self) {}
}
