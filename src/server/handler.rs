//! The `Handler` trait: what a server calls for each request.

use std::sync::Arc;

use super::{Request, ResponseWriter};

/// Responds to an HTTP request, as Go's `http.Handler`.
///
/// A handler writes the response head and body through `w` and reads the request, including
/// its streaming body, from `r`. It runs on the connection's own thread, so it may block.
/// When it returns, the server finishes the response (flushes, ends a chunked body) and, if
/// the connection can be kept, reads the next request.
///
/// Closures with the same signature are handlers, as are `Arc<H>` and `Box<dyn Handler>`:
///
/// ```
/// use nethttp::server::{Handler, Request, ResponseWriter};
/// use std::io::Write;
///
/// fn hello(w: &mut dyn ResponseWriter, _r: &mut Request) {
///     let _ = w.write_all(b"hello\n");
/// }
/// let boxed: Box<dyn Handler> = Box::new(hello);
/// # let _ = boxed;
/// ```
///
/// A handler that panics does not take the server down: the panic is caught and logged, the
/// client gets a 500 if nothing was written yet, and the connection is closed.
pub trait Handler: Send + Sync + 'static {
    /// Serves one request.
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request);
}

impl<F> Handler for F
where
    F: Fn(&mut dyn ResponseWriter, &mut Request) + Send + Sync + 'static,
{
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        self(w, r)
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        (**self).serve_http(w, r)
    }
}

impl Handler for Box<dyn Handler> {
    fn serve_http(&self, w: &mut dyn ResponseWriter, r: &mut Request) {
        (**self).serve_http(w, r)
    }
}
