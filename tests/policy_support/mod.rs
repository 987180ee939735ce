//! Client settings shared by the client-policy tests (own server and interop): no proxy from
//! the environment, and a bound on every request.
#![allow(dead_code)] // Each test crate uses a different part of this module.

pub mod peers;

use std::sync::Arc;
use std::time::Duration;

use nethttp::client::{ClientConfig, Proxy, RoundTripper, Transport, TransportConfig};

/// Every test client gives up after this long, so no test can hang.
pub const BOUND: Duration = Duration::from_secs(10);

/// A transport with the settings `cfg`, for [`ClientConfig::transport`].
pub fn transport(cfg: TransportConfig) -> Option<Arc<dyn RoundTripper>> {
    Some(Arc::new(Transport::with_config(cfg)))
}

/// Transport settings that use no proxy, whatever the environment says.
pub fn no_proxy() -> TransportConfig {
    TransportConfig {
        proxy: Proxy::none(),
        ..TransportConfig::default()
    }
}

/// The settings every test client starts from: no proxy, and [`BOUND`] on each request. Each
/// call makes a new transport.
pub fn config() -> ClientConfig {
    config_bounded(BOUND)
}

/// As [`config`], with `bound` on each request.
pub fn config_bounded(bound: Duration) -> ClientConfig {
    ClientConfig {
        transport: transport(no_proxy()),
        timeout: Some(bound),
        ..ClientConfig::default()
    }
}
