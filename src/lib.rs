//! nethttp: Go's `net/http` for synchronous Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod deadline;
pub mod error;
pub mod handlers;
pub mod mux;
pub mod proto;
pub mod server;
pub mod sniff;

pub use error::{Error, ErrorKind, Result};
pub use handlers::{
    chain, log_requests, max_bytes_handler, max_bytes_reader, middleware, not_found, redirect,
    redirect_handler, strip_prefix, timeout_handler, Middleware,
};
pub use http;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
pub use mux::ServeMux;
pub use server::{listen_and_serve, Handler, Request, ResponseWriter, Server};
pub use sniff::detect_content_type;
