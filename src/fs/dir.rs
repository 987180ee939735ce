//! Directory listings for the file server: entries sorted by name, escaped for URLs in links
//! and for HTML in text, as Go's `dirList`.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderValue;

use super::path::{escape_html, escape_path, name_bytes};
use crate::server::ResponseWriter;

/// Reads `dir` and renders its listing: one link per entry, directories with a trailing `/`,
/// sorted by name bytes. Hidden entries are listed and `..` is not, as in Go. Entries are
/// classified without following symlinks, so a link to a directory has no trailing `/`.
pub(crate) fn render(dir: &Path) -> io::Result<Vec<u8>> {
    let mut entries: Vec<(OsString, bool)> = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        entries.push((e.file_name(), is_dir));
    }
    entries.sort();
    let mut out = Vec::with_capacity(128 + entries.len() * 64);
    out.extend_from_slice(
        b"<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for (name, is_dir) in &entries {
        let mut bytes = name_bytes(name);
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
    Ok(out)
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
