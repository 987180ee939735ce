//! Static files over HTTP, as Go's `fs.go`: [`FileServer`], [`serve_file`], [`serve_file_fs`],
//! [`serve_content`]. The file systems served from are in `system.rs`, preconditions in
//! `conditional.rs`, ranges in `range.rs`, listings in `dir.rs` and URL path safety in
//! `path.rs`; this file is the request flow.
//!
//! Available with feature `fs` (on by default; implies `server`).
//!
//! ```no_run
//! use nethttp::FileServer;
//!
//! // Serve ./public on 127.0.0.1:8080: files, index.html for directories, listings otherwise.
//! nethttp::listen_and_serve("127.0.0.1:8080", FileServer::new("public"))?;
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # File systems
//!
//! [`FileServer`] and [`serve_file_fs`] read through the [`FileSystem`] trait (Go's `fs.FS`):
//! `stat`, `open` and `read_dir` on cleaned, `/`-separated paths relative to a root. Two
//! implementations come with the crate: [`Dir`], an OS directory with symlinks resolved and
//! nothing served from outside it (what [`FileServer::new`] uses), and [`MemFs`], files held
//! in memory, typically compiled in with `include_bytes!` as Go's `embed.FS`. Redirects,
//! `index.html`, listings, ranges and preconditions are the same whichever is used.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use nethttp::fs::MemFs;
//! use nethttp::{httptest, FileServer, Handler};
//!
//! let mut files = MemFs::new();
//! files
//!     .add_static("docs/readme.txt", b"read me")
//!     .set_modified(Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
//! let srv = FileServer::from_fs(files);
//!
//! let mut req = httptest::request("GET", "/docs/readme.txt", ());
//! req.headers.insert("range", "bytes=0-3".parse().unwrap());
//! let mut rec = httptest::ResponseRecorder::new();
//! srv.serve_http(&mut rec, &mut req);
//! assert_eq!(rec.status(), 206);
//! assert_eq!(rec.body(), b"read");
//! assert_eq!(rec.header("last-modified"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
//!
//! let mut rec = httptest::ResponseRecorder::new();
//! srv.serve_http(&mut rec, &mut httptest::request("GET", "/docs", ()));
//! assert_eq!(rec.header("location"), Some("docs/"));
//! ```
//!
//! # What a response depends on
//!
//! - **Preconditions** (RFC 9110 §13.2.2, in Go's order): `If-Match` (strong comparison), or
//!   if absent `If-Unmodified-Since`, failing → `412`; then `If-None-Match` (weak comparison)
//!   matching → `304` for GET and HEAD, `412` otherwise, or if absent `If-Modified-Since`
//!   (GET and HEAD) not modified → `304`; then `If-Range` (an entity-tag compared strongly, or
//!   a date equal to the modification time) failing → the `Range` is ignored. Entity-tags are
//!   compared with the `ETag` the caller set on the response before calling: like Go, this
//!   module never invents one.
//! - **`Last-Modified`** is the modification time truncated to the second, and is not sent
//!   when the time is unknown, the Unix epoch (Go's "obviously unspecified") or beyond what an
//!   HTTP date can hold. A `304` drops `Content-Type`, `Content-Length` and
//!   `Content-Encoding`, and `Last-Modified` too when there is an `ETag` (RFC 9110 §15.4.5).
//! - **Ranges** (RFC 9110 §14), for GET and HEAD: one range → `206` with `Content-Range`;
//!   several → `206` `multipart/byteranges` whose parts each carry `Content-Type` and
//!   `Content-Range`, with `Content-Length` computed before the first byte; none satisfiable
//!   or a malformed value → `416` with `Content-Range: bytes */SIZE` (for empty content an
//!   unsatisfiable range is ignored, as in Go). A range set is ignored, and the whole content
//!   sent with `200`, when its ranges add up to more than the content (Go's rule), when it
//!   has more than 200 ranges, or more than two overlaps between ranges (RFC 9110 §14.2).
//! - **Content-Type**: kept if the caller set one (an empty value means "send none"); else
//!   from the name's extension, with `charset=utf-8` added to `text/*` types as Go does;
//!   else `text/plain; charset=utf-8` for content whose first 512 bytes hold no binary
//!   control bytes and `application/octet-stream` for the rest.
//! - `Accept-Ranges: bytes` on `200` and `206`; `Content-Length` always, except on a whole
//!   response the caller marked with `Content-Encoding` (Go's rule for writers that compress
//!   on the fly). A HEAD request gets the same head and no body.
//! - Bodies are streamed, never loaded whole. A file of the OS (from [`Dir`], so from
//!   [`FileServer::new`] and [`serve_file`]) goes through
//!   [`ResponseWriter::write_file`], which the server sends from the kernel (`sendfile(2)`)
//!   over plain TCP on Linux, single ranges and each part of a multi-range response
//!   included; other content, and files over TLS, through a 64 KiB buffer.
//!
//! # Differences from Go, where Go is lax
//!
//! - A malformed `Range` gets `Content-Range: bytes */SIZE` on its `416` too (RFC 9110
//!   §15.5.17), and a `Range` in an unknown unit is ignored instead of answered with `416`
//!   (§14.2). `bytes=-0` is unsatisfiable (§14.1.1), not an empty `206`; positions are digits
//!   only; a last position too large for 64 bits is clamped rather than rejected.
//! - `Range` is ignored on methods other than GET and HEAD (§14.2).
//! - [`FileServer`] refuses symlinks that resolve outside its root (Go's `http.Dir` follows
//!   them) and files that are neither regular files nor directories (FIFOs, devices).
//! - Paths are UTF-8: a request path that is not, once decoded, gets `404`.
//! - Error responses drop `ETag`, `Last-Modified`, `Cache-Control` and `Content-Encoding`,
//!   which describe the content and not the error text (Go 1.23's rule).

mod conditional;
mod dir;
pub(crate) mod path;
mod range;
mod system;

pub use system::{Dir, DirEntry, FileInfo, FileSystem, MemFs, ReadSeek};

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{
    HeaderName, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION, RANGE, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderValue, Method, StatusCode};

use crate::server::{Handler, Request, ResponseWriter};
use conditional::Decision;
use range::{ByteRange, Multipart, RangeError};

/// The size of the buffer content that is not an OS file is copied through.
const COPY_BUF: usize = 64 << 10;

/// The file a directory is served as, when it has one.
const INDEX: &str = "index.html";

/// A handler that serves the files under a directory, as Go's
/// `http.FileServer(http.Dir(root))`.
///
/// The request's URL path, percent-decoded and cleaned of `.` and `..` segments (it can never
/// climb above the root), names the file. Then:
///
/// - a path ending in `/index.html` is redirected to `./`;
/// - a directory requested without a trailing slash is redirected to `name/`, and a file
///   requested with one to `../name` (relative `Location`s, the query kept, `301`);
/// - a directory is served as its `index.html` if it has one, else as an HTML listing of its
///   entries, sorted by name, names escaped for HTML and for URLs;
/// - a file is served by the rules of [`serve_content`]: preconditions, ranges, content type.
///
/// A path that does not exist, or that leads (through a symlink) outside the root, or to
/// something that is not a regular file or directory, gets `404`; one the process may not
/// read gets `403`. Like Go, files whose names start with a dot are served and listed: do not
/// serve a directory that holds secrets such as `.git`.
///
/// To send an `ETag` (and so answer `If-None-Match` and friends by it), wrap the file server
/// in a handler that sets one on the response before calling it.
///
/// ```no_run
/// use nethttp::server::Server;
/// use nethttp::FileServer;
///
/// Server::new(FileServer::new("/var/www")).listen_and_serve()?;
/// # Ok::<(), nethttp::Error>(())
/// ```
///
/// Under a URL prefix, as Go's `http.StripPrefix("/static/", http.FileServer(...))`, and
/// called directly as a test would:
///
/// ```
/// use nethttp::{httptest, FileServer, Handler, ServeMux};
///
/// let dir = std::env::temp_dir().join(format!("nethttp-doc-fs-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("hello.txt"), "hello, files")?;
///
/// let mut mux = ServeMux::new();
/// mux.handle("/static/", nethttp::strip_prefix("/static", FileServer::new(&dir)));
///
/// let mut rec = httptest::ResponseRecorder::new();
/// mux.serve_http(&mut rec, &mut httptest::request("GET", "/static/hello.txt", ()));
/// assert_eq!(rec.status(), 200);
/// assert_eq!(rec.header("content-type"), Some("text/plain; charset=utf-8"));
/// assert_eq!(rec.body(), b"hello, files");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct FileServer {
    fs: Arc<dyn FileSystem>,
    /// The directory given to [`FileServer::new`]; `None` for [`FileServer::from_fs`].
    root: Option<PathBuf>,
    listing: Listing,
}

/// How [`FileServer`] lists a directory that has no `index.html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Listing {
    /// Go's: one link per entry in a `<pre>`, sorted by name, directories with a trailing
    /// `/`. The default.
    #[default]
    Plain,
    /// A page for people, as `python3 -m http.server` or miniserve give: a title and heading
    /// naming the directory, a `../` link below the root, and a table of the entries sorted by
    /// name with their sizes (`1.5 KiB`, the exact count on hover) and modification times (UTC,
    /// to the minute). Names are escaped as in [`Listing::Plain`]. Each entry is looked up
    /// once more (`FileSystem::stat`); one that cannot be is listed without size or time.
    Detailed,
}

impl fmt::Debug for FileServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileServer")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl FileServer {
    /// A file server for the directory `root` (a [`Dir`]). The directory is resolved
    /// (symlinks and all) on every request, so it may be created or replaced while the server
    /// runs; while it is missing every request gets `404`.
    pub fn new(root: impl Into<PathBuf>) -> FileServer {
        let root = root.into();
        FileServer {
            fs: Arc::new(Dir::new(root.clone())),
            root: Some(root),
            listing: Listing::Plain,
        }
    }

    /// A file server for any [`FileSystem`], as Go's `http.FileServerFS`: a [`MemFs`] of
    /// files compiled into the program, or a type of your own. Redirects, `index.html`,
    /// listings, ranges and preconditions are the same as for a directory.
    pub fn from_fs(fs: impl FileSystem) -> FileServer {
        FileServer {
            fs: Arc::new(fs),
            root: None,
            listing: Listing::Plain,
        }
    }

    /// The directory being served, as given to [`FileServer::new`]; `None` for a server made
    /// with [`FileServer::from_fs`].
    pub fn root(&self) -> Option<&FsPath> {
        self.root.as_deref()
    }

    /// Chooses how directories without an `index.html` are listed (default
    /// [`Listing::Plain`], Go's). `nethttp serve` uses [`Listing::Detailed`].
    pub fn listing(mut self, listing: Listing) -> FileServer {
        self.listing = listing;
        self
    }
}

impl Handler for FileServer {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        let Some(mut url) = path::percent_decode(r.uri.path()) else {
            serve_error(w, StatusCode::BAD_REQUEST, "invalid URL path");
            return;
        };
        if !url.starts_with(b"/") {
            url.insert(0, b'/');
        }
        let cleaned = path::clean(&url);
        let Ok(rel) = std::str::from_utf8(&cleaned[1..]) else {
            // No file system here names files with bytes that are not UTF-8.
            serve_io_error(w, &io::ErrorKind::NotFound.into());
            return;
        };
        let type_name = rel.rsplit('/').next().unwrap_or_default();
        serve_fs(w, r, &url, &*self.fs, rel, type_name, Some(self.listing));
    }
}

/// Answers with the file or directory at `path`, as Go's `http.ServeFile`.
///
/// `path` is used as given, relative to the current directory, and may lead anywhere: if it
/// is built from user input, clean and confine it first (or use [`FileServer`]). As a
/// precaution, a request whose URL path holds a `..` segment is answered `400`, since that
/// usually means the caller joined the URL path into `path` unchecked. As in Go, a URL path
/// ending in `/index.html` is redirected to `./`, and a directory requested without a
/// trailing slash is redirected to `name/`; otherwise the URL path is not used.
///
/// Files are served by the rules of [`serve_content`]; a directory as its `index.html` or as
/// a listing, as [`FileServer`] does.
pub fn serve_file(w: &mut dyn ResponseWriter, r: &Request, path: impl AsRef<FsPath>) {
    let Some(url) = url_without_dot_dot(w, r) else {
        return;
    };
    let mut p = path.as_ref();
    if p.as_os_str().is_empty() {
        p = FsPath::new(".");
    }
    // The name the caller gave picks the type, not a symlink's target.
    let type_name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fs = Dir::unconfined(p.to_path_buf());
    serve_fs(w, r, &url, &fs, "", &type_name, None);
}

/// The decoded URL path of `r` for `serve_file` and `serve_file_fs`; `None` (after answering
/// `400`) if it cannot be decoded or holds a `..` segment, which usually means the caller
/// joined the URL path into the file name unchecked.
fn url_without_dot_dot(w: &mut dyn ResponseWriter, r: &Request) -> Option<Vec<u8>> {
    match path::percent_decode(r.uri.path()) {
        Some(url) if !path::contains_dot_dot(&url) => Some(url),
        _ => {
            serve_error(w, StatusCode::BAD_REQUEST, "invalid URL path");
            None
        }
    }
}

/// Answers with the file or directory `name` of `fs`, as Go's `http.ServeFileFS`.
///
/// `name` is cleaned as a URL path is (a leading `/` is optional, `..` cannot climb above the
/// root of `fs`; `""` and `/` name the root). Otherwise it behaves as [`serve_file`]: a
/// request whose URL path holds a `..` segment is answered `400`, a URL path ending in
/// `/index.html` is redirected to `./`, a directory requested without a trailing slash is
/// redirected to `name/`, and a directory is served as its `index.html` or as a listing.
///
/// ```
/// use nethttp::fs::{serve_file_fs, MemFs};
/// use nethttp::httptest;
///
/// let mut files = MemFs::new();
/// files.add_static("reports/q1.csv", b"month,total\n");
///
/// let mut rec = httptest::ResponseRecorder::new();
/// let req = httptest::request("GET", "/download", ());
/// serve_file_fs(&mut rec, &req, &files, "reports/q1.csv");
/// assert_eq!(rec.status(), 200);
/// assert_eq!(rec.header("content-type"), Some("text/csv; charset=utf-8"));
/// ```
pub fn serve_file_fs(w: &mut dyn ResponseWriter, r: &Request, fs: &dyn FileSystem, name: &str) {
    let Some(url) = url_without_dot_dot(w, r) else {
        return;
    };
    let cleaned = path::clean(name.as_bytes());
    let rel = String::from_utf8_lossy(&cleaned[1..]);
    let type_name = rel.rsplit('/').next().unwrap_or_default();
    serve_fs(w, r, &url, fs, &rel, type_name, None);
}

/// Answers with `content`, handling ranges and preconditions, as Go's `http.ServeContent`.
///
/// `name` is used only to choose a `Content-Type` by extension when the response has none
/// yet; it may be empty and is never sent. `modtime` is the content's modification time, sent
/// as `Last-Modified` and used for `If-Modified-Since`, `If-Unmodified-Since` and date-valued
/// `If-Range`; `None` (or the Unix epoch) means unknown. An `ETag` set on `w` before the call
/// is used for `If-Match`, `If-None-Match` and `If-Range`.
///
/// The size of `content` is found by seeking to its end, and ranges by seeking within it;
/// its bytes are streamed through a 64 KiB buffer, never read whole into memory. If seeking
/// fails the answer is `500`. The module documentation lists every rule.
///
/// `content` is copied even when it is a [`File`]: a generic reader cannot be asked whether
/// it is one (Go asks with a type assertion; Rust's `Any` needs a `'static` type, which would
/// rule out borrowed content). [`serve_file`] and [`FileServer`] open their files themselves
/// and send them from the kernel where the connection allows.
///
/// ```
/// use std::io::Cursor;
/// use nethttp::{fs::serve_content, httptest};
///
/// let mut rec = httptest::ResponseRecorder::new();
/// let mut req = httptest::request("GET", "/notes.txt", ());
/// req.headers.insert("range", "bytes=0-4".parse().unwrap());
/// serve_content(&mut rec, &req, "notes.txt", None, Cursor::new(b"hello, world"));
/// assert_eq!(rec.status(), 206);
/// assert_eq!(rec.header("content-range"), Some("bytes 0-4/12"));
/// assert_eq!(rec.body(), b"hello");
/// ```
pub fn serve_content(
    w: &mut dyn ResponseWriter,
    r: &Request,
    name: &str,
    modtime: Option<SystemTime>,
    content: impl Read + Seek,
) {
    serve_sized(w, r, name, modtime, None, Content::Other(content));
}

/// The flow shared by [`FileServer`], [`serve_file`] and [`serve_file_fs`] (Go's
/// `serveFile`). `url` is the decoded URL path, `rel` the path within `fs` to serve and
/// `type_name` the name whose extension picks the type; `redirect` turns on the
/// canonical-path redirects of the file server.
fn serve_fs(
    w: &mut dyn ResponseWriter,
    r: &Request,
    url: &[u8],
    fs: &dyn FileSystem,
    rel: &str,
    type_name: &str,
    // `Some` for the file server, which redirects to canonical paths; `None` for
    // `serve_file`, which does not and lists as Go does.
    server: Option<Listing>,
) {
    let redirect = server.is_some();
    // Go redirects .../index.html to .../ with a relative Location, which keeps working under
    // a router that strips a prefix.
    if url.ends_with(b"/index.html") {
        local_redirect(w, r, "./");
        return;
    }
    // An OS file is opened at once: the common case costs one lookup of the path (Go stats,
    // then opens). A directory, a file system without OS files, or nothing: stat it.
    let opened = match fs.open_file(rel) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return serve_lookup_error(w, &e),
    };
    let info = match &opened {
        Some((_, info)) => *info,
        None => match fs.stat(rel) {
            Ok(info) => info,
            Err(e) => return serve_lookup_error(w, &e),
        },
    };

    if redirect {
        if info.is_dir && !url.ends_with(b"/") {
            let to = format!("{}/", path::escape_path(path::base(url)));
            local_redirect(w, r, &to);
            return;
        }
        if !info.is_dir && url.ends_with(b"/") {
            let base = path::base(url);
            if base == b"/" || base == b"." {
                // The root itself is a file: there is nowhere to redirect to.
                serve_error(
                    w,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "attempting to traverse a non-directory",
                );
                return;
            }
            let to = format!("../{}", path::escape_path(base));
            local_redirect(w, r, &to);
            return;
        }
    }

    if info.is_dir {
        if !url.ends_with(b"/") {
            let to = format!("{}/", path::escape_path(path::base(url)));
            local_redirect(w, r, &to);
            return;
        }
        if let Some((content, index_info)) = open_index(fs, rel) {
            serve_sized(
                w,
                r,
                INDEX,
                index_info.modified,
                Some(index_info.size),
                content,
            );
            return;
        }
        let modtime = conditional::known_secs(info.modified);
        if conditional::not_modified_since(&r.headers, &r.method, modtime) {
            write_not_modified(w);
            return;
        }
        if let Some(m) = modtime {
            set(w, LAST_MODIFIED, conditional::http_date(m));
        }
        match fs.read_dir(rel) {
            Ok(entries) => {
                let page = match server {
                    Some(Listing::Detailed) => dir::render_detailed(fs, rel, url, entries),
                    _ => dir::render(entries),
                };
                dir::send(w, &page)
            }
            Err(e) => {
                log::debug!("file server: reading directory /{rel}: {e}");
                serve_error(
                    w,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error reading directory",
                );
            }
        }
        return;
    }

    let found = match opened {
        Some((file, info)) => Ok((Content::File(file), info)),
        None => open_content(fs, rel),
    };
    match found {
        Ok((content, info)) => {
            serve_sized(w, r, type_name, info.modified, Some(info.size), content)
        }
        Err(e) => serve_io_error(w, &e),
    }
}

/// The answer when looking up the requested path failed.
fn serve_lookup_error(w: &mut dyn ResponseWriter, e: &io::Error) {
    if e.kind() == io::ErrorKind::InvalidInput {
        serve_error(w, StatusCode::BAD_REQUEST, "invalid URL path");
    } else {
        serve_io_error(w, e);
    }
}

/// Opens the regular file at `rel`: as an OS file if `fs` has one, else as it opens it.
fn open_content(fs: &dyn FileSystem, rel: &str) -> io::Result<(Content<Opened>, FileInfo)> {
    if let Some((file, info)) = fs.open_file(rel)? {
        return Ok((Content::File(file), info));
    }
    let (content, info) = fs.open(rel)?;
    Ok((Content::Other(content), info))
}

/// The directory's `index.html`, if it is a regular file.
fn open_index(fs: &dyn FileSystem, dir: &str) -> Option<(Content<Opened>, FileInfo)> {
    let index = if dir.is_empty() {
        INDEX.to_string()
    } else {
        format!("{dir}/{INDEX}")
    };
    if fs.stat(&index).ok()?.is_dir {
        return None;
    }
    let (content, info) = open_content(fs, &index).ok()?;
    (!info.is_dir).then_some((content, info))
}

/// What [`FileSystem::open`] gives.
type Opened = Box<dyn ReadSeek + Send>;

/// What a response's bytes are read from: an OS file, which the writer may send from the
/// kernel ([`ResponseWriter::write_file`]), or other content, copied through a buffer.
enum Content<R> {
    File(File),
    Other(R),
}

impl<R: Read> Read for Content<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Content::File(f) => f.read(buf),
            Content::Other(r) => r.read(buf),
        }
    }
}

impl<R: Seek> Seek for Content<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Content::File(f) => f.seek(pos),
            Content::Other(r) => r.seek(pos),
        }
    }
}

/// What the body of a successful response is.
enum Payload {
    Whole,
    Single(ByteRange),
    Multi(Vec<ByteRange>, Multipart),
}

/// Go's `serveContent`: `size` is known for files (from their metadata) and found by seeking
/// otherwise.
fn serve_sized<R: Read + Seek>(
    w: &mut dyn ResponseWriter,
    r: &Request,
    name: &str,
    modtime: Option<SystemTime>,
    size: Option<u64>,
    mut content: Content<R>,
) {
    let modtime = conditional::known_secs(modtime);
    if let Some(m) = modtime {
        set(w, LAST_MODIFIED, conditional::http_date(m));
    }
    let etag = w.headers().get(ETAG).map(|v| v.as_bytes().to_vec());
    let honor_range = match conditional::evaluate(&r.headers, &r.method, etag.as_deref(), modtime) {
        Decision::NotModified => {
            write_not_modified(w);
            return;
        }
        Decision::PreconditionFailed => {
            w.write_header(StatusCode::PRECONDITION_FAILED);
            return;
        }
        Decision::Serve { honor_range } => honor_range,
    };

    let ctype = match w.headers().get(CONTENT_TYPE) {
        // An empty Content-Type means "send none, and do not guess" (Go's nil slice).
        Some(v) if v.is_empty() => {
            w.headers_mut().remove(CONTENT_TYPE);
            String::new()
        }
        Some(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        None => {
            let t = match type_by_extension(name) {
                Some(t) => t,
                None => {
                    let mut head = [0u8; 512];
                    let n = read_full(&mut content, &mut head);
                    if content.seek(SeekFrom::Start(0)).is_err() {
                        serve_error(w, StatusCode::INTERNAL_SERVER_ERROR, "seeker can't seek");
                        return;
                    }
                    crate::sniff::detect_content_type(&head[..n]).to_string()
                }
            };
            set(w, CONTENT_TYPE, t.clone());
            t
        }
    };

    let size = match size {
        Some(s) => s,
        None => match content_size(&mut content) {
            Ok(s) => s,
            Err(e) => {
                log::debug!("file server: sizing {name}: {e}");
                serve_error(w, StatusCode::INTERNAL_SERVER_ERROR, "seeker can't seek");
                return;
            }
        },
    };

    // RFC 9110 §14.2: range handling is defined for GET (and HEAD answers as GET would).
    let get_or_head = r.method == Method::GET || r.method == Method::HEAD;
    let mut ranges = Vec::new();
    if let Some(v) = r.headers.get(RANGE).filter(|_| honor_range && get_or_head) {
        match range::parse(v.as_bytes(), size) {
            Ok(None) => {}
            Ok(Some(rs)) => match range::ignore_rule(&rs, size) {
                Some(rule) => log::debug!("file server: ignoring range for {name}: {rule}"),
                None => ranges = rs,
            },
            // Clients that put a Range on every request should not fail on empty content.
            Err(RangeError::NoOverlap) if size == 0 => {}
            Err(e) => {
                set(w, CONTENT_RANGE, format!("bytes */{size}"));
                let msg = match e {
                    RangeError::NoOverlap => "invalid range: failed to overlap",
                    RangeError::Invalid => "invalid range",
                };
                serve_error(w, StatusCode::RANGE_NOT_SATISFIABLE, msg);
                return;
            }
        }
    }

    let (status, len, body) = match ranges.len() {
        0 => (StatusCode::OK, size, Payload::Whole),
        1 => {
            let ra = ranges[0];
            if let Err(e) = content.seek(SeekFrom::Start(ra.start)) {
                log::debug!("file server: seeking in {name}: {e}");
                serve_error(w, StatusCode::INTERNAL_SERVER_ERROR, "seeker can't seek");
                return;
            }
            set(w, CONTENT_RANGE, ra.content_range(size));
            (StatusCode::PARTIAL_CONTENT, ra.length, Payload::Single(ra))
        }
        _ => {
            let mp = Multipart::new(&ranges, &ctype, size);
            set(w, CONTENT_TYPE, mp.content_type());
            (
                StatusCode::PARTIAL_CONTENT,
                mp.len,
                Payload::Multi(ranges, mp),
            )
        }
    };
    let h = w.headers_mut();
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Go leaves Content-Length out of a whole response the caller marked Content-Encoding:
    // some wrap the writer to compress on the fly, so the file's size would be wrong.
    if !matches!(body, Payload::Whole) || !h.contains_key(CONTENT_ENCODING) {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    w.write_header(status);
    if r.method == Method::HEAD || len == 0 {
        return;
    }

    let mut buf = match content {
        Content::File(_) => Vec::new(),
        Content::Other(_) => vec![0u8; COPY_BUF.min(usize::try_from(len).unwrap_or(COPY_BUF))],
    };
    let sent = match body {
        Payload::Whole => send_n(w, &mut content, size, &mut buf),
        Payload::Single(ra) => send_n(w, &mut content, ra.length, &mut buf),
        Payload::Multi(ranges, mp) => copy_parts(w, &mut content, &ranges, &mp, &mut buf),
    };
    if let Err(e) = sent {
        // The head is out: all we can do is stop; the server closes the connection when the
        // body falls short of its Content-Length.
        log::debug!("file server: sending {name}: {e}");
    }
}

/// Writes a `multipart/byteranges` body: each part's head, then its range of `src` (from
/// the kernel for a file, as a single range is).
fn copy_parts<R: Read + Seek>(
    w: &mut dyn ResponseWriter,
    src: &mut Content<R>,
    ranges: &[ByteRange],
    mp: &Multipart,
    buf: &mut [u8],
) -> io::Result<()> {
    for (head, ra) in mp.heads.iter().zip(ranges) {
        w.write_all(head)?;
        src.seek(SeekFrom::Start(ra.start))?;
        send_n(w, src, ra.length, buf)?;
    }
    w.write_all(&mp.tail)
}

/// Sends the next `n` bytes of `src`: a file through [`ResponseWriter::write_file`], other
/// content through `buf`. Content that ends early is an error.
fn send_n<R: Read>(
    w: &mut dyn ResponseWriter,
    src: &mut Content<R>,
    n: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    match src {
        Content::File(f) => w.write_file(f, n),
        Content::Other(r) => copy_n(w, r, n, buf),
    }
}

/// Copies exactly `n` bytes from `src` to `w`. Content that ends early is an error.
fn copy_n(
    w: &mut dyn ResponseWriter,
    src: &mut impl Read,
    mut n: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    while n > 0 {
        let want = usize::try_from(n).map_or(buf.len(), |n| n.min(buf.len()));
        let got = match src.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "content ended before its size",
                ))
            }
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..got])?;
        n -= got as u64;
    }
    Ok(())
}

/// Reads until `buf` is full or the content ends; read errors end it too (Go ignores them
/// here as well: the later copy reports them).
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

fn content_size(content: &mut impl Seek) -> io::Result<u64> {
    let size = content.seek(SeekFrom::End(0))?;
    content.seek(SeekFrom::Start(0))?;
    Ok(size)
}

/// The type for `name`'s extension, with `charset=utf-8` added to `text/*` as Go's `mime`
/// package does; JavaScript as `text/javascript` (RFC 9239).
fn type_by_extension(name: &str) -> Option<String> {
    let ext = FsPath::new(name).extension()?.to_str()?;
    let t = mime_guess::from_ext(ext).first_raw()?;
    let t = if t == "application/javascript" {
        "text/javascript"
    } else {
        t
    };
    Some(if t.starts_with("text/") && !t.contains("charset") {
        format!("{t}; charset=utf-8")
    } else {
        t.to_string()
    })
}

/// Sets a header from a string we built; a value that is not a valid field value is dropped
/// (and logged), never sent.
fn set(w: &mut dyn ResponseWriter, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(v) => {
            w.headers_mut().insert(name, v);
        }
        Err(_) => log::warn!("file server: invalid value for {name}; not sent"),
    }
}

/// Go's `writeNotModified` (RFC 9110 §15.4.5): a 304 carries no representation metadata
/// except what guides caches.
fn write_not_modified(w: &mut dyn ResponseWriter) {
    let h = w.headers_mut();
    h.remove(CONTENT_TYPE);
    h.remove(CONTENT_LENGTH);
    h.remove(CONTENT_ENCODING);
    if h.contains_key(ETAG) {
        h.remove(LAST_MODIFIED);
    }
    w.write_header(StatusCode::NOT_MODIFIED);
}

/// Go's `localRedirect`: a 301 to a relative `Location` (so it works under a stripped
/// prefix), keeping the query.
fn local_redirect(w: &mut dyn ResponseWriter, r: &Request, to: &str) {
    let to = match r.uri.query() {
        Some(q) if !q.is_empty() => format!("{to}?{q}"),
        _ => to.to_string(),
    };
    set(w, LOCATION, to);
    w.write_header(StatusCode::MOVED_PERMANENTLY);
}

/// An error answer in plain text, as Go's `serveError`: the headers that describe the
/// content, not this text, are removed first.
fn serve_error(w: &mut dyn ResponseWriter, status: StatusCode, msg: &str) {
    let h = w.headers_mut();
    for name in [
        CONTENT_LENGTH,
        CONTENT_ENCODING,
        ETAG,
        LAST_MODIFIED,
        CACHE_CONTROL,
    ] {
        h.remove(name);
    }
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    w.write_header(status);
    let _ = w.write_all(msg.as_bytes());
    let _ = w.write_all(b"\n");
}

/// Go's `toHTTPError`: the message never includes the error's text, which could leak paths.
fn serve_io_error(w: &mut dyn ResponseWriter, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::NotFound => serve_error(w, StatusCode::NOT_FOUND, "404 page not found"),
        io::ErrorKind::PermissionDenied => serve_error(w, StatusCode::FORBIDDEN, "403 Forbidden"),
        _ => {
            log::debug!("file server: {e}");
            serve_error(
                w,
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        let cases = [
            ("page.html", Some("text/html; charset=utf-8")),
            ("PAGE.HTM", Some("text/html; charset=utf-8")),
            ("style.css", Some("text/css; charset=utf-8")),
            ("app.js", Some("text/javascript; charset=utf-8")),
            ("notes.txt", Some("text/plain; charset=utf-8")),
            ("image.png", Some("image/png")),
            ("data.json", Some("application/json")),
            ("archive.tar.gz", Some("application/gzip")),
            ("README", None),
            (".bashrc", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(type_by_extension(name).as_deref(), want, "{name}");
        }
    }
}
