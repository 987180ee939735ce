//! Directory listings for the file server: entries sorted by name, escaped for URLs in links
//! and for HTML in text, as Go's `dirList`.

use std::io::Write;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderValue;

use super::path::{escape_html, escape_path};
use super::DirEntry;
use crate::server::ResponseWriter;

/// Renders a directory's listing: one link per entry, directories with a trailing `/`,
/// sorted by name bytes. Hidden entries are listed and `..` is not, as in Go.
pub(crate) fn render(mut entries: Vec<DirEntry>) -> Vec<u8> {
    entries.sort_by(|a, b| (&a.name, a.is_dir).cmp(&(&b.name, b.is_dir)));
    let mut out = Vec::with_capacity(128 + entries.len() * 64);
    out.extend_from_slice(
        b"<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for DirEntry { name, is_dir } in &entries {
        let mut bytes = name.as_bytes().to_vec();
        if *is_dir {
            bytes.push(b'/');
        }
        let href = escape_path(&bytes);
        let name = String::from_utf8_lossy(&bytes);
        let text = escape_html(&name);
        // The href holds only characters escape_path keeps, none of them special in HTML.
        let _ = writeln!(out, "<a href=\"{href}\">{text}</a>");
    }
    out.extend_from_slice(b"</pre>\n");
    out
}

/// Sends a rendered listing as `text/html; charset=utf-8` with its length.
pub(crate) fn send(w: &mut dyn ResponseWriter, listing: &[u8]) {
    let h = w.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(listing.len()));
    if let Err(e) = w.write_all(listing) {
        log::debug!("file server: writing directory listing: {e}");
    }
}
