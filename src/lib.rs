//! nethttp: Go's `net/http` for synchronous Rust — client, connection pool, server, file
//! server, hijacking and test helpers, on blocking `std::net` sockets.
//!
//! # A GET
//!
//! ```no_run
//! let client = nethttp::Client::new();
//! let mut resp = client.get("http://127.0.0.1:8080/")?;
//! let body = resp.text()?; // reads to the end: the connection goes back to the pool
//! println!("{} {body}", resp.status);
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # A server
//!
//! ```no_run
//! use std::io::Write;
//! use nethttp::{Request, ResponseWriter};
//!
//! nethttp::listen_and_serve("127.0.0.1:8080", |w: &mut dyn ResponseWriter, r: &mut Request| {
//!     let _ = writeln!(w, "hello from {}", r.uri.path());
//! })?;
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # Testing a handler end to end
//!
//! ```
//! use std::io::Write;
//! use nethttp::{httptest, Request, ResponseWriter};
//!
//! let ts = httptest::Server::new(|w: &mut dyn ResponseWriter, _r: &mut Request| {
//!     let _ = w.write_all(b"ok");
//! });
//! assert_eq!(ts.client().get(ts.url())?.text()?, "ok");
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # Rules to know
//!
//! - **Read a response body to its end, or drop it.** Only a body read to its end lets its
//!   connection carry another request; dropping it early closes the connection.
//! - **Create one [`Client`] and reuse it.** It is cheap to clone and clones share the pool.
//! - **Handlers run on the connection's own thread** and may block. A panicking handler is
//!   caught: the client gets a 500 (if nothing was sent) and the connection closes.
//! - **Defaults are safe for untrusted peers**: the server has head-read, idle and stall
//!   timeouts and a connection limit; the client has a connect timeout; see each `Config`.
//! - **Every blocking call has a deadline** when you set one: [`client::RequestOptions`] on the
//!   client; the server's timeouts in [`server::Config`].
//!
//! # Layers
//!
//! - [`proto`]: the sans-IO HTTP/1.1 core (heads, framing, chunked), shared by both roles.
//! - [`server`]: [`Server`], [`Handler`], [`ResponseWriter`], hijacking, graceful shutdown.
//! - [`client`]: [`Client`], [`Transport`] (the pool; a reader and a writer thread per
//!   connection, as Go's `persistConn`), [`ClientConn`](client::ClientConn) (one connection,
//!   no pool, hijackable), tracing, cancellation.
//! - [`fs`]: [`FileServer`] with ranges and conditional requests; [`httptest`]: test servers
//!   and a response recorder; [`net`]: streams and dialers (TCP, Unix sockets); `tls`:
//!   rustls for both roles (feature `tls`, on by default).
//!
//! Names follow Go's where the meaning matches, so `http.Transport` is [`Transport`] and
//! `http.ResponseWriter` is [`ResponseWriter`]. `docs/GUIDE.md` in the repository is a longer
//! tour, ending with a table from Go's names to these; `examples/` has runnable programs.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod body;
mod bufio;
pub mod client;
mod deadline;
pub mod error;
pub mod fs;
pub mod handlers;
pub mod httptest;
pub mod mux;
pub mod net;
pub mod proto;
mod request;
pub mod server;
pub mod sniff;
#[cfg(feature = "tls")]
pub mod tls;

pub use body::Body;
pub use client::{Client, Response, Transport};
pub use error::{Error, ErrorKind, Result};
pub use fs::FileServer;
pub use handlers::{
    chain, log_requests, max_bytes_handler, max_bytes_reader, middleware, not_found, redirect,
    redirect_handler, strip_prefix, timeout_handler, Middleware,
};
pub use http;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
pub use mux::ServeMux;
pub use request::Request;
pub use server::{listen_and_serve, Handler, ResponseWriter, Server};
pub use sniff::detect_content_type;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// docs/GUIDE.md's examples, compiled and run as doc tests. Its snippets use every feature
/// and Unix sockets, so they are checked when all of those are there (as in CI).
#[cfg(all(
    doctest,
    unix,
    feature = "json",
    feature = "cookies",
    feature = "httptest-tls"
))]
#[doc = include_str!("../docs/GUIDE.md")]
struct GuideDoctests;
