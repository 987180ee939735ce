//! Go's `net/http/httputil`: [`ReverseProxy`] and the dump helpers
//! ([`dump_request`], [`dump_request_out`], [`dump_response`]).
//!
//! Built with both `client` and `server` (a reverse proxy is a handler that sends with a
//! client).

mod dump;
mod reverse_proxy;

#[allow(unused_imports)]
pub use dump::*;
#[allow(unused_imports)]
pub use reverse_proxy::*;
