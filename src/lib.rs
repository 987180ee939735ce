//! nethttp: Go's `net/http` for synchronous Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

pub mod error;
pub mod proto;

pub use error::{Error, ErrorKind, Result};
pub use http;
pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
