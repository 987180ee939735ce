//! Directory listings for the file server: entries sorted by name, escaped for URLs in links
//! and for HTML in text, as Go's `dirList`.

use std::io::Write;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderValue;

use super::path::{escape_html, escape_path};
use super::{DirEntry, FileSystem};
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

/// Renders [`Listing::Detailed`](super::Listing::Detailed): `url` is the directory's URL path
/// (decoded) for the title, `rel` its path in `fs` for looking the entries up.
pub(crate) fn render_detailed(
    fs: &dyn FileSystem,
    rel: &str,
    url: &[u8],
    mut entries: Vec<DirEntry>,
) -> Vec<u8> {
    entries.sort_by(|a, b| (&a.name, a.is_dir).cmp(&(&b.name, b.is_dir)));
    let title = String::from_utf8_lossy(url);
    let title = escape_html(&title);
    let mut out = Vec::with_capacity(512 + entries.len() * 160);
    let _ = write!(
        out,
        "<!doctype html>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width\">\n\
         <title>Index of {title}</title>\n\
         <style>td{{padding:0 1em 0 0}} td.n{{text-align:right}}</style>\n\
         <h1>Index of {title}</h1>\n<table>\n\
         <tr><th align=\"left\">Name</th><th align=\"right\">Size</th>\
         <th align=\"left\">Modified (UTC)</th></tr>\n"
    );
    if url != b"/" {
        out.extend_from_slice(b"<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for DirEntry { name, is_dir } in &entries {
        let mut bytes = name.as_bytes().to_vec();
        if *is_dir {
            bytes.push(b'/');
        }
        let href = escape_path(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let text = escape_html(&text);
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let info = fs.stat(&path).ok();
        let size = match info {
            Some(i) if !i.is_dir => format!(
                "<td class=\"n\" title=\"{0} bytes\">{1}</td>",
                i.size,
                human_size(i.size)
            ),
            _ => "<td class=\"n\">-</td>".to_string(),
        };
        let modified = info
            .and_then(|i| i.modified)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(String::new, |d| utc_minute(d.as_secs()));
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{href}\">{text}</a></td>{size}<td>{modified}</td></tr>"
        );
    }
    out.extend_from_slice(b"</table>\n");
    out
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`.
fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM` in UTC.
fn utc_minute(secs: u64) -> String {
    let c = crate::proto::date::civil(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sizes() {
        assert_eq!(utc_minute(1_709_164_799), "2024-02-28 23:59");
        for (n, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
        ] {
            assert_eq!(human_size(n), want);
        }
    }
}
