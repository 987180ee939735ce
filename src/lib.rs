//! nethttp: Go's `net/http` for synchronous Rust — client, connection pool, server, file
//! server, hijacking and test helpers, on blocking `std::net` sockets.
//!
//! # A GET
//!
#![cfg_attr(feature = "client", doc = "```no_run")]
#![cfg_attr(not(feature = "client"), doc = "```ignore")]
//! let client = nethttp::Client::new();
//! let mut resp = client.get("http://127.0.0.1:8080/")?;
//! let body = resp.text()?; // reads to the end: the connection goes back to the pool
//! println!("{} {body}", resp.status);
//! # Ok::<(), nethttp::Error>(())
//! ```
//!
//! # A server
//!
#![cfg_attr(feature = "server", doc = "```no_run")]
#![cfg_attr(not(feature = "server"), doc = "```ignore")]
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
#![cfg_attr(all(feature = "client", feature = "server"), doc = "```")]
#![cfg_attr(not(all(feature = "client", feature = "server")), doc = "```ignore")]
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
//! - [`proto`]: the sans-IO HTTP/1.1 core (heads, framing, chunked), shared by both roles;
//!   also the HTTP/2 wire pieces (frames, HPACK), which neither role uses yet.
//! - [`server`]: [`Server`], [`Handler`], [`ResponseWriter`], hijacking, graceful shutdown.
//! - [`client`]: [`Client`], [`Transport`] (the pool; a reader and a writer thread per
//!   connection, as Go's `persistConn`), [`ClientConn`] (one connection, no pool, hijackable),
//!   tracing, cancellation.
//! - [`fs`]: [`FileServer`] with ranges and conditional requests; [`httptest`]: test servers
//!   and a response recorder; [`net`]: streams and dialers (TCP, Unix sockets); `tls`:
//!   rustls for both roles (feature `tls`, on by default).
//!
//! Names follow Go's where the meaning matches, so `http.Transport` is [`Transport`] and
//! `http.ResponseWriter` is [`ResponseWriter`]. `docs/GUIDE.md` in the repository is a longer
//! tour, ending with a table from Go's names to these; `examples/` has runnable programs.
//!
//! # Features
//!
//! The crate's layers are features, so a build script that only downloads a file compiles
//! only the client. Items that need a feature say so in their docs.
//!
//! | feature | default | what it adds | dependencies it pulls |
//! |---|---|---|---|
//! | (none) | | the wire core ([`proto`], but for `proto::multipart`), [`Request`], [`Body`], [`Error`], [`net::Stream`] | `httparse`, `http`, `bytes`, `crossbeam-channel`, `parking_lot`, `log` |
//! | `client` | yes | [`client`]: `Client`, `Transport`, proxies, tracing; [`net`]'s dialers; [`cookie`] | — |
//! | `tcp-keepalive` | yes | TCP keep-alive probes on the client's dialled connections (`TcpDialer::keepalive`, Go's `Dialer.KeepAlive`; implies `client`) | `socket2` |
//! | `clientconn` | yes | `client::ClientConn`: one connection you dialled, no pool, `hijack` (implies `client`) | — |
//! | `server` | yes | [`server`], [`mux`] (`ServeMux`), [`handlers`], [`sniff`], [`cookie`] (with `Cookie::to_set_cookie`); [`Request`]'s handler side (`parse_form`, `form_value`, `path_value`, `cookies`, `basic_auth`); [`net::listen`] and `ListenConfig`; turns on `multipart` | `socket2` (with its `all` feature, for `SO_REUSEPORT`); `nix` on Linux (`sendfile`) |
//! | `socks` | yes | `socks5://` and `socks5h://` proxies in the client (implies `client`) | — |
//! | `multipart` | yes | [`multipart`] and `proto::multipart`: `multipart::Writer` (`RequestBuilder::multipart`); with `server`, `Request::multipart_reader`, `parse_multipart_form`, `form_file` (Go's `mime/multipart`; on with `server`, since `form_value` parses multipart forms as Go's `FormValue` does) | — |
//! | `fs` | yes | [`fs`]: `FileServer`, `serve_file`, `serve_content` (implies `server`) | `mime_guess` |
//! | `tls` | yes | `https://` in the client, `serve_tls` in the server ([`tls`]; with `client` or `server`) | `rustls` (ring), `webpki-roots` |
//! | `gzip` | yes | transparent gzip and deflate response bodies (implies `client`) | `flate2` |
//! | `json` | | `RequestBuilder::json`, `Response::json` (with `client`); `Request::read_json`, `handlers::write_json` (with `server`) | `serde`, `serde_json` |
//! | `cookies` | | a cookie jar for `Client` (implies `client`) | `cookie_store`, `psl`, `url` |
//! | `native-roots` | | the platform's root certificates (implies `tls`, `client`) | `rustls-native-certs` |
//! | `httptest-tls` | | `httptest::Server::new_tls` (implies `tls`, `client`, `server`) | `rcgen` |
//! | `http2` | | HTTP/2 in the server (ALPN `h2` with `serve_tls`, h2c with prior knowledge when `server::Config::http2` says so) and in the client (ALPN `h2` over TLS by default, h2c with prior knowledge when `client::Protocols` says so), and its sans-IO core: `proto::hpack`, `proto::h2`'s frames, windows, settings, stream states and field rules | — |
//! | `cli` | | the `nethttp` command-line tool | `clap`, `indicatif`, `hdrhistogram`, `ctrlc`, `serde_json` |
//!
//! [`httptest`] and [`httputil`] need both `client` and `server`.
//!
// A name this build's features leave out links to the table above, not to nothing.
#![cfg_attr(
    not(feature = "client"),
    doc = "[`client`]: crate#features",
    doc = "[`Client`]: crate#features",
    doc = "[`Transport`]: crate#features",
    doc = "[`client::RequestOptions`]: crate#features"
)]
#![cfg_attr(feature = "clientconn", doc = "[`ClientConn`]: client::ClientConn")]
#![cfg_attr(not(feature = "clientconn"), doc = "[`ClientConn`]: crate#features")]
#![cfg_attr(
    not(feature = "server"),
    doc = "[`server`]: crate#features",
    doc = "[`server::Config`]: crate#features",
    doc = "[`Server`]: crate#features",
    doc = "[`Handler`]: crate#features",
    doc = "[`ResponseWriter`]: crate#features",
    doc = "[`mux`]: crate#features",
    doc = "[`handlers`]: crate#features",
    doc = "[`sniff`]: crate#features",
    doc = "[`net::listen`]: crate#features"
)]
#![cfg_attr(
    not(any(feature = "client", feature = "server")),
    doc = "[`cookie`]: crate#features"
)]
#![cfg_attr(not(feature = "multipart"), doc = "[`multipart`]: crate#features")]
#![cfg_attr(
    not(feature = "fs"),
    doc = "[`fs`]: crate#features",
    doc = "[`FileServer`]: crate#features"
)]
#![cfg_attr(
    not(all(feature = "tls", any(feature = "client", feature = "server"))),
    doc = "[`tls`]: crate#features"
)]
#![cfg_attr(
    not(all(feature = "client", feature = "server")),
    doc = "[`httptest`]: crate#features",
    doc = "[`httputil`]: crate#features"
)]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod body;
#[cfg(any(feature = "client", feature = "server"))]
mod bufio;
#[cfg(feature = "client")]
pub mod client;
#[cfg(any(feature = "client", feature = "server"))]
pub mod cookie;
#[cfg(any(feature = "client", feature = "server"))]
mod deadline;
pub mod error;
#[cfg(any(feature = "client", feature = "server"))]
mod fnv;
mod form;
#[cfg(feature = "fs")]
pub mod fs;
#[cfg(feature = "server")]
pub mod handlers;
#[cfg(all(feature = "client", feature = "server"))]
pub mod httptest;
#[cfg(all(feature = "client", feature = "server"))]
pub mod httputil;
#[cfg(feature = "multipart")]
pub mod multipart;
#[cfg(feature = "server")]
pub mod mux;
pub mod net;
pub mod proto;
mod request;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod sniff;
#[cfg(all(feature = "tls", any(feature = "client", feature = "server")))]
pub mod tls;

pub use body::Body;
#[cfg(feature = "client")]
pub use client::{Client, Response, Transport};
#[cfg(feature = "server")]
pub use cookie::set_cookie;
#[cfg(any(feature = "client", feature = "server"))]
pub use cookie::Cookie;
pub use error::{Error, ErrorKind, Result};
pub use form::Form;
#[cfg(feature = "fs")]
pub use fs::FileServer;
#[cfg(feature = "server")]
pub use handlers::{
    allow_query_semicolons, chain, log_requests, max_bytes_handler, max_bytes_reader, middleware,
    not_found, redirect, redirect_handler, strip_prefix, timeout_handler, Middleware,
};
pub use http;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
#[cfg(feature = "server")]
pub use mux::ServeMux;
pub use request::Request;
pub use request::MAX_FORM_BODY;
#[cfg(feature = "server")]
pub use server::{listen_and_serve, Handler, ResponseWriter, Server};
#[cfg(feature = "server")]
pub use sniff::detect_content_type;

/// The README's examples, compiled and run as doc tests (they use the default features).
#[cfg(all(doctest, feature = "client", feature = "server", feature = "fs"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// docs/GUIDE.md's examples, compiled and run as doc tests. Its snippets use every feature
/// and Unix sockets, so they are checked when all of those are there (as in CI).
#[cfg(all(
    doctest,
    unix,
    feature = "fs",
    feature = "json",
    feature = "cookies",
    feature = "httptest-tls",
    feature = "clientconn"
))]
#[doc = include_str!("../docs/GUIDE.md")]
struct GuideDoctests;
