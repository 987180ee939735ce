//! Request router: `ServeMux`, Go 1.22's pattern-matching multiplexer; patterns are in
//! pattern.rs, the routing tree in tree.rs, path cleaning in path.rs.
//!
//! Available with feature `server` (on by default).

mod path;
mod pattern;
mod tree;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;

use http::header::{HeaderValue, ALLOW, CONNECTION};
use http::{Method, StatusCode, Version};

use crate::error::{Error, Result};
use crate::handlers::{error, not_found, redirect};
use crate::server::{Handler, Request, ResponseWriter};
use pattern::{Pattern, Seg};
use tree::Tree;

pub(crate) use path::clean_path;

/// An HTTP request router with Go 1.22's patterns and precedence, as Go's `http.ServeMux`.
///
/// Register a handler per pattern with [`handle`](Self::handle), then serve the mux (it is a
/// [`Handler`]):
///
#[cfg_attr(feature = "client", doc = "```")]
#[cfg_attr(not(feature = "client"), doc = "```ignore")]
/// use std::io::Write;
/// use nethttp::{Request, ResponseWriter, ServeMux};
///
/// let mut mux = ServeMux::new();
/// mux.handle("GET /items/{id}", |w: &mut dyn ResponseWriter, r: &mut Request| {
///     let _ = write!(w, "item {}", r.path_value("id").unwrap_or_default());
/// });
/// mux.handle("POST /items/", |w: &mut dyn ResponseWriter, _r: &mut Request| {
///     w.write_header(nethttp::StatusCode::CREATED);
/// });
/// mux.handle("/static/", nethttp::handlers::not_found);
/// // nethttp::listen_and_serve("127.0.0.1:8080", mux)
///
/// // Or call it directly, as a test would:
/// use nethttp::{httptest, Handler};
/// let mut rec = httptest::ResponseRecorder::new();
/// mux.serve_http(&mut rec, &mut httptest::request("GET", "/items/7", ()));
/// assert_eq!(rec.body(), b"item 7");
/// let mut rec = httptest::ResponseRecorder::new();
/// mux.serve_http(&mut rec, &mut httptest::request("DELETE", "/items/7", ()));
/// assert_eq!(rec.status(), 405);
/// assert_eq!(rec.header("allow"), Some("GET, HEAD, POST"));
/// ```
///
/// # Patterns
///
/// A pattern is `[METHOD ][HOST]/PATH`:
///
/// - `METHOD` (followed by spaces or tabs) limits the pattern to that method; `GET` also
///   matches `HEAD`. Without a method the pattern matches every method.
/// - `HOST` limits it to requests for that host, compared without the request's port and
///   ignoring ASCII case. A pattern host must not have a port itself.
/// - `PATH` is `/`-separated segments. A segment is a literal (percent-decoded when the
///   pattern is parsed, so `%7B` is how to match a literal `{`), or a wildcard that is the whole
///   segment: `{name}` matches one segment, `{name...}` (last only) matches the rest of the
///   path, and `{$}` (last only) matches only the end of a path that ends in `/`. A path ending
///   in `/` matches the whole subtree below it: `/static/` matches `/static/` and
///   `/static/css/a.css`. Wildcard names are identifiers and distinct within a pattern.
///
/// A request path is matched segment by segment, each segment percent-decoded on its own: in
/// `/files/a%2Fb` the segment `a%2Fb` is one segment whose value is `a/b`. The handler gets
/// the values through [`Request::path_value`] and the matched pattern through
/// [`Request::pattern`]. A `{name...}` value is the rest of the path, decoded as a whole.
///
/// # Precedence and conflicts
///
/// When several patterns match a request, the most specific wins: the one that matches a
/// strict subset of the requests the others match. So `/images/thumbnails/` beats
/// `/images/`, `/items/{id}/edit` beats `/items/{rest...}`, `/items/new` beats `/items/{id}`,
/// and `GET /x` beats `/x`. Beyond that, a pattern with a host beats every pattern without
/// one, and an explicit `HEAD` pattern beats a `GET` pattern for `HEAD` requests.
///
/// Two patterns that match some request in common where neither is more specific, such as
/// `/a/{x}` and `/{y}/b`, or `GET /` and `/index.html`, cannot both be registered:
/// [`try_handle`](Self::try_handle) returns an error naming both patterns, where each was
/// registered, and an example path, and [`handle`](Self::handle) panics with it, as Go does.
/// So the match for a request never depends on the order of registration.
///
/// # Answers the mux gives itself
///
/// - **404** with `404 page not found` when no pattern matches.
/// - **405** with an `Allow` header listing the methods (sorted) when the path matches only
///   patterns for other methods.
/// - **307 Temporary Redirect** to `/tree/` for a request for `/tree` when only the subtree
///   `/tree/` is registered; and to the clean path for paths with `//`, `.` or `..` segments
///   (the query is kept in both). 307 keeps the method and body, so a `POST /tree` arrives as a
///   `POST /tree/`. This is what Go does from Go 1.26 (earlier versions sent 301, which clients
///   follow with a `GET`); unlike 308 it is not cached as permanent, so changing the routes
///   later does not leave browsers with stale redirects.
/// - **400** for `OPTIONS *` (and other requests for `*`), with `Connection: close`.
///
/// `CONNECT` requests are matched without cleaning their path.
///
/// # Concurrency
///
/// Registration takes `&mut self`; a mux being served is shared read-only by every
/// connection thread, so lookups take no lock. To change routes while serving, build a new
/// mux and swap it in behind your own lock or `ArcSwap`-style cell.
#[derive(Default)]
pub struct ServeMux {
    entries: Vec<Entry>,
    tree: Tree,
    index: ConflictIndex,
}

/// A registered pattern and its handler; the tree's leaves are indexes into `entries`.
struct Entry {
    pattern: Pattern,
    handler: Box<dyn Handler>,
}

/// What the mux decided for a request.
enum Route {
    /// Pattern `id` matched, with these wildcard values in order.
    Found {
        id: usize,
        values: Vec<String>,
    },
    /// Redirect (307) to this path and query.
    Redirect(String),
    /// The path matches only under these methods (unsorted, maybe repeated).
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

impl ServeMux {
    /// An empty mux: every request gets 404 until patterns are registered.
    pub fn new() -> ServeMux {
        ServeMux::default()
    }

    /// Registers `handler` for `pattern`, as Go's `ServeMux.Handle`.
    ///
    /// # Panics
    ///
    /// If the pattern is invalid or conflicts with a registered pattern; the message says why,
    /// as [`try_handle`](Self::try_handle)'s error does.
    #[track_caller]
    pub fn handle(&mut self, pattern: &str, handler: impl Handler) -> &mut Self {
        if let Err(e) = self.try_handle(pattern, handler) {
            panic!("{e}");
        }
        self
    }

    /// Registers the function `f` for `pattern`, as Go's `HandleFunc`: unlike
    /// [`handle`](Self::handle), a closure needs no parameter types written out.
    ///
    /// ```
    /// use std::io::Write;
    /// let mut mux = nethttp::ServeMux::new();
    /// mux.handle_func("GET /hello/{name}", |w, r| {
    ///     let _ = write!(w, "hello, {}", r.path_value("name").unwrap_or("world"));
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// As [`handle`](Self::handle).
    pub fn handle_func<F>(&mut self, pattern: &str, f: F) -> &mut Self
    where
        F: Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
    {
        self.handle(pattern, f)
    }

    /// The handler and the pattern a request would be dispatched to, as Go's
    /// `ServeMux.Handler`; `None` when the mux would answer itself: a redirect to a cleaner
    /// path or to a subtree's `/`, a 405 or a 404. The request is not changed (its path values
    /// are set only when the mux serves it).
    ///
    /// ```
    /// let mut mux = nethttp::ServeMux::new();
    /// mux.handle_func("GET /items/{id}", |_w, _r| {});
    /// let r = nethttp::Request::new(nethttp::Method::GET, "/items/7")?;
    /// assert_eq!(mux.handler(&r).map(|(_, p)| p), Some("GET /items/{id}"));
    /// let r = nethttp::Request::new(nethttp::Method::POST, "/items/7")?;
    /// assert!(mux.handler(&r).is_none()); // 405
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn handler(&self, r: &Request) -> Option<(&dyn Handler, &str)> {
        match self.route(r) {
            Route::Found { id, .. } => {
                let e = &self.entries[id];
                Some((&*e.handler, e.pattern.text.as_str()))
            }
            Route::Redirect(_) | Route::MethodNotAllowed(_) | Route::NotFound => None,
        }
    }

    /// Registers `handler` for `pattern`, or says why it cannot.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if the pattern does not
    /// parse (the message gives the offset), or if it conflicts with a registered pattern:
    /// the message names both patterns, the source location each was registered from, and
    /// why they conflict:
    ///
    /// ```
    /// let mut mux = nethttp::ServeMux::new();
    /// mux.handle("/a/{x}", nethttp::handlers::not_found);
    /// let err = mux.try_handle("/{y}/b", nethttp::handlers::not_found).unwrap_err();
    /// let msg = err.to_string();
    /// assert!(msg.contains(r#"pattern "/{y}/b""#), "{msg}");
    /// assert!(msg.contains(r#"conflicts with pattern "/a/{x}""#), "{msg}");
    /// assert!(msg.contains(r#"like "/a/b""#), "{msg}");
    /// ```
    #[track_caller]
    pub fn try_handle(&mut self, pattern: &str, handler: impl Handler) -> Result<&mut Self> {
        let location = Location::caller();
        let pat = Pattern::parse(pattern, location).map_err(|e| {
            Error::invalid_input(format!(
                "parsing pattern {pattern:?}: at offset {}: {}",
                e.offset, e.msg
            ))
        })?;
        for id in self.index.candidates(&pat) {
            let other = &self.entries[id].pattern;
            if pat.conflicts_with(other) {
                return Err(Error::invalid_input(format!(
                    "pattern {pat} (registered at {location}) conflicts with pattern {other} \
                     (registered at {}): {}",
                    other.location,
                    pat.describe_conflict(other)
                )));
            }
        }
        let id = self.entries.len();
        self.tree.insert(&pat, id);
        self.index.add(&pat, id);
        self.entries.push(Entry {
            pattern: pat,
            handler: Box::new(handler),
        });
        Ok(self)
    }

    /// The registered patterns, in registration order.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.pattern.text.as_str())
    }

    /// Decides how to answer `r`: Go's `findHandler` and `matchOrRedirect`.
    fn route(&self, r: &Request) -> Route {
        let method = &r.method;
        let host = normalize_host(r.host());
        let query = r.uri.query().filter(|q| !q.is_empty());
        let escaped = r.uri.path();
        let path = if *method == Method::CONNECT {
            Cow::Borrowed(escaped)
        } else {
            clean_path(escaped)
        };
        if !path.starts_with('/') {
            // An authority-form CONNECT target: no path to route.
            return Route::NotFound;
        }
        let path = match path {
            Cow::Borrowed(p) => p,
            Cow::Owned(clean) => {
                // Unclean: redirect to the clean path, or straight to its subtree.
                let mut to = clean;
                if self.wants_slash(&host, method, &to) {
                    to.push('/');
                }
                return Route::Redirect(with_query(to, query));
            }
        };
        let mut values = Vec::new();
        let found = self.tree.lookup(&host, method, path, false, &mut values);
        let exact = found.is_some_and(|id| self.is_exact(id, path, false));
        if !exact && self.slash_matches_exactly(&host, method, path) {
            return Route::Redirect(with_query(format!("{path}/"), query));
        }
        if let Some(id) = found {
            let values = values.into_iter().map(Cow::into_owned).collect();
            return Route::Found { id, values };
        }
        let mut methods = Vec::new();
        self.tree.allowed_methods(&host, path, false, &mut methods);
        if !path.ends_with('/') {
            self.tree.allowed_methods(&host, path, true, &mut methods);
        }
        if methods.is_empty() {
            Route::NotFound
        } else {
            Route::MethodNotAllowed(methods)
        }
    }

    /// Go's trailing-slash rule: `path` has no exact match but `path/` has one.
    fn wants_slash(&self, host: &str, method: &Method, path: &str) -> bool {
        let mut scratch = Vec::new();
        if let Some(id) = self.tree.lookup(host, method, path, false, &mut scratch) {
            if self.is_exact(id, path, false) {
                return false;
            }
        }
        self.slash_matches_exactly(host, method, path)
    }

    /// True if `path` has no trailing slash and `path/` matches a pattern exactly.
    fn slash_matches_exactly(&self, host: &str, method: &Method, path: &str) -> bool {
        if path.ends_with('/') {
            return false;
        }
        let mut scratch = Vec::new();
        self.tree
            .lookup(host, method, path, true, &mut scratch)
            .is_some_and(|id| self.is_exact(id, path, true))
    }

    /// True if pattern `id` matched `path` (plus a trailing slash if `slash`) without its
    /// multi wildcard taking any segment: `/a/` matches `/a/` exactly but `/a/b` only by
    /// its subtree.
    fn is_exact(&self, id: usize, path: &str, slash: bool) -> bool {
        let pat = &self.entries[id].pattern;
        if !pat.ends_in_multi() {
            return true;
        }
        if !slash && !path.ends_with('/') {
            return false;
        }
        pat.segments.len() == path.matches('/').count() + usize::from(slash)
    }
}

impl Handler for ServeMux {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        if r.uri == "*" {
            if r.version >= Version::HTTP_11 {
                w.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            w.write_header(StatusCode::BAD_REQUEST);
            return;
        }
        let (id, values) = match self.route(r) {
            Route::Found { id, values } => (id, values),
            Route::Redirect(to) => {
                redirect(w, r, &to, StatusCode::TEMPORARY_REDIRECT);
                return;
            }
            Route::MethodNotAllowed(mut methods) => {
                if methods.contains(&Method::GET) {
                    methods.push(Method::HEAD);
                }
                methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                methods.dedup();
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    w.headers_mut().insert(ALLOW, v);
                }
                error(w, "Method Not Allowed", StatusCode::METHOD_NOT_ALLOWED);
                return;
            }
            Route::NotFound => {
                not_found(w, r);
                return;
            }
        };
        let entry = &self.entries[id];
        for (name, value) in entry.pattern.wildcard_names().zip(values) {
            r.set_path_value(name, value);
        }
        r.set_pattern(entry.pattern.text.as_str());
        entry.handler.serve_http(w, r);
    }
}

impl fmt::Debug for ServeMux {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeMux")
            .field("patterns", &self.patterns().collect::<Vec<_>>())
            .finish()
    }
}

/// The request host as patterns see it: no userinfo, no port, ASCII lowercase.
fn normalize_host(host: &str) -> Cow<'_, str> {
    // An absolute-form target's authority may carry `user@`.
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.rfind(']') {
        // [v6]:port or [v6]
        Some(i) if host.starts_with('[') => &host[..=i],
        _ => match host.split_once(':') {
            Some((h, port)) if !port.contains(':') => h,
            _ => host,
        },
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

fn with_query(mut path: String, query: Option<&str>) -> String {
    if let Some(q) = query {
        path.push('?');
        path.push_str(q);
    }
    path
}

/// Finds the registered patterns a new pattern might conflict with, without comparing it to
/// all of them (Go's `routingIndex`, simplified).
///
/// Every request a pattern matches has, at each position where the pattern has a literal, that
/// literal (and at a `{$}`, the trailing slash). A pattern that overlaps it must match that
/// segment too: with the same literal or a `{name}` at that position (for `{$}`: a `{$}`), or
/// with a multi wildcard at that position or before it. So patterns are indexed by (position,
/// segment) and by the position of their multi wildcard, and the new pattern's most selective
/// position gives the candidates. A pattern of wildcards only is compared with all.
#[derive(Debug, Default)]
struct ConflictIndex {
    /// Every pattern, under each of its segments except a multi wildcard.
    by_seg: HashMap<(usize, Key), Vec<usize>>,
    /// Patterns ending in a multi wildcard, by its position.
    multi_at: Vec<Vec<usize>>,
    /// How many patterns in all.
    count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Lit(String),
    Wild,
    Slash,
}

impl ConflictIndex {
    fn add(&mut self, pat: &Pattern, id: usize) {
        self.count += 1;
        for (i, seg) in pat.segments.iter().enumerate() {
            let key = match seg {
                Seg::Lit(s) => Key::Lit(s.clone()),
                Seg::Wild(_) => Key::Wild,
                Seg::Slash => Key::Slash,
                Seg::Multi(_) => {
                    if self.multi_at.len() <= i {
                        self.multi_at.resize_with(i + 1, Vec::new);
                    }
                    self.multi_at[i].push(id);
                    continue;
                }
            };
            self.by_seg.entry((i, key)).or_default().push(id);
        }
    }

    /// The id lists whose union holds every pattern that can match the segment `seg` at
    /// position `i`; `None` for a wildcard segment, which says nothing.
    fn lists_at(&self, i: usize, seg: &Seg) -> Option<Vec<&[usize]>> {
        let get = |k: Key| self.by_seg.get(&(i, k)).map_or(&[][..], |v| v.as_slice());
        let mut lists = match seg {
            Seg::Lit(s) => vec![get(Key::Lit(s.clone())), get(Key::Wild)],
            Seg::Slash => vec![get(Key::Slash)],
            Seg::Wild(_) | Seg::Multi(_) => return None,
        };
        let upto = (i + 1).min(self.multi_at.len());
        lists.extend(self.multi_at[..upto].iter().map(|v| v.as_slice()));
        Some(lists)
    }

    /// Ids of registered patterns that may conflict with `pat` (a superset, maybe with
    /// repeats).
    fn candidates(&self, pat: &Pattern) -> Vec<usize> {
        let best = pat
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, seg)| self.lists_at(i, seg))
            .min_by_key(|lists| lists.iter().map(|l| l.len()).sum::<usize>());
        match best {
            Some(lists) => lists.concat(),
            None => (0..self.count).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_case() {
        let cases = [
            ("example.com", "example.com"),
            ("Example.COM:8080", "example.com"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("user:pw@Example.com:80", "example.com"),
            ("", ""),
        ];
        for (h, want) in cases {
            assert_eq!(normalize_host(h), want, "{h}");
        }
    }

    #[test]
    fn index_finds_every_conflict() {
        // Every pair among these either conflicts or not; the index must never hide one.
        let patterns = [
            "/a/b",
            "/a/{x}",
            "/{x}/b",
            "/a/",
            "/a/{$}",
            "/{x}/{$}",
            "GET /a/b",
            "/{x}/{y}",
            "/c/{x...}",
            "/a/b/{x...}",
            "/{x}/b/",
            "/{x}/b/{$}",
            "/a/{$}",
            "GET /a/{x}/c/",
            "h.com/a/b",
            "/",
            "/{x...}",
            "/{$}",
        ];
        let parse = |p: &str| {
            Pattern::parse(p, Location::caller()).unwrap_or_else(|e| panic!("{p}: {}", e.msg))
        };
        for p1 in &patterns {
            for p2 in &patterns {
                let (a, b) = (parse(p1), parse(p2));
                let mut index = ConflictIndex::default();
                index.add(&a, 0);
                if a.conflicts_with(&b) {
                    assert!(index.candidates(&b).contains(&0), "{p1} then {p2}");
                }
            }
        }
    }
}
