//! nethttp: Go's `net/http` for synchronous Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

mod bufio;
pub mod client;
mod deadline;
pub mod error;
pub mod fs;
pub mod httptest;
pub mod net;
pub mod proto;
pub mod server;

pub use client::{Client, Response, Transport};
pub use error::{Error, ErrorKind, Result};
pub use fs::FileServer;
pub use http;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
pub use server::{listen_and_serve, Handler, Request, ResponseWriter, Server};
