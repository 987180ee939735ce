//! Go's `httputil.ReverseProxy`.
