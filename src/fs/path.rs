//! URL paths to file paths for the file server: percent-decoding, Go's `path.Clean`, escaping
//! names back into URLs, and keeping resolved paths (symlinks included) inside the root.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Decodes `%XX` escapes in a URL path into raw bytes. `None` if an escape is not two hex
/// digits (Go's URL parser rejects those requests outright) or the result holds a NUL, which
/// no file name can contain.
pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b[i - 1]
        };
        if c == 0 {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `path.Clean` for a rooted path: drops empty and `.` segments and resolves `..`
/// lexically, never above `/`. The result starts with `/` and has no trailing slash unless it
/// is `/` itself.
pub(crate) fn clean(p: &[u8]) -> Vec<u8> {
    let mut segs: Vec<&[u8]> = Vec::new();
    for seg in crate::proto::split_bytes(p, b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = Vec::with_capacity(p.len() + 1);
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Whether a `..` segment appears in `p`, splitting on `/` and `\` (Go's `containsDotDot`).
pub(crate) fn contains_dot_dot(p: &[u8]) -> bool {
    p.split(|&c| c == b'/' || c == b'\\').any(|s| s == b"..")
}

/// Go's `path.Base`: the last element after trailing slashes are removed; `/` for a path of
/// only slashes, `.` for an empty one.
pub(crate) fn base(p: &[u8]) -> &[u8] {
    if p.is_empty() {
        return b".";
    }
    let mut end = p.len();
    while end > 0 && p[end - 1] == b'/' {
        end -= 1;
    }
    if end == 0 {
        return b"/";
    }
    let start = p[..end]
        .iter()
        .rposition(|&c| c == b'/')
        .map_or(0, |i| i + 1);
    &p[start..end]
}

/// A relative file path from the segments of a cleaned URL path (without its leading `/`).
/// `None` for bytes the platform cannot name: non-UTF-8 outside Unix, and on Windows the
/// separators and drive colons that would let one segment name another place.
pub(crate) fn to_rel_path(rel: &[u8]) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(rel)))
    }
    #[cfg(not(unix))]
    {
        let s = std::str::from_utf8(rel).ok()?;
        if cfg!(windows) && s.contains(['\\', ':']) {
            return None;
        }
        Some(PathBuf::from(s))
    }
}

/// The bytes of a file name, for escaping into a URL (lossy outside Unix).
pub(crate) fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().into_owned().into_bytes()
    }
}

/// Percent-encodes `p` for use as a relative URL path in an `href` or a `Location`. Only
/// unreserved characters, `/` and sub-delimiters that are harmless in HTML attributes stay as
/// they are; `:` is escaped so a first segment like `a:b` is not read as a scheme, and `?`,
/// `#`, `%`, `&`, quotes, spaces and non-ASCII bytes are escaped too.
pub(crate) fn escape_path(p: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(p.len());
    for &c in p {
        // Sub-delimiters but `&` and `'`, which an HTML attribute would need escaped.
        let keep = crate::proto::is_unreserved(c)
            || (crate::proto::is_sub_delim(c) && c != b'&' && c != b'\'')
            || matches!(c, b'/' | b'@');
        if keep {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(c >> 4)] as char);
            out.push(HEX[usize::from(c & 15)] as char);
        }
    }
    out
}

pub(crate) use crate::handlers::escape_html;

/// Where a file may be served from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Confine<'a> {
    /// Anywhere: `serve_file`, whose caller chose the path.
    Anywhere,
    /// Only inside this canonical directory: `FileServer`.
    Root(&'a Path),
}

/// The source of the error for a path that resolved outside the root. Its kind is "not
/// found", so a client learns nothing about what lies outside.
#[derive(Debug)]
struct OutsideRoot;

impl std::fmt::Display for OutsideRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("path resolves outside the served root")
    }
}

impl std::error::Error for OutsideRoot {}

/// Resolves `p` to the path to open. Inside a root, every symlink is resolved and the result
/// must still lie under the root; otherwise the error is `NotFound`.
///
/// What is opened is the canonical path, so a symlink swapped in after the check cannot
/// redirect the last component; a directory higher up swapped for a symlink in that window
/// still could (closing that needs `openat2(RESOLVE_BENEATH)`, which std does not offer).
pub(crate) fn resolve(p: &Path, confine: Confine<'_>) -> io::Result<PathBuf> {
    match confine {
        Confine::Anywhere => Ok(p.to_path_buf()),
        Confine::Root(root) => {
            let real = fs::canonicalize(p)?;
            if real.starts_with(root) {
                Ok(real)
            } else {
                log::debug!("file server: refused {}: {OutsideRoot}", p.display());
                Err(io::Error::new(io::ErrorKind::NotFound, OutsideRoot))
            }
        }
    }
}

/// Go's `mapOpenError`: an error other than "not found" or "permission denied" becomes "not
/// found" when some parent of `full` (below `start`) is a file, as in `/file.txt/x`; otherwise
/// it stays what it was.
pub(crate) fn map_open_error(err: io::Error, full: &Path, start: &Path) -> io::Error {
    if matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
    ) {
        return err;
    }
    let mut ancestors: Vec<&Path> = full
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(start) && *a != start)
        .collect();
    ancestors.reverse();
    for a in ancestors {
        match fs::metadata(a) {
            Ok(m) if !m.is_dir() => return io::ErrorKind::NotFound.into(),
            Ok(_) => {}
            Err(_) => return err,
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("root", "/", "/"),
            ("empty", "", "/"),
            ("plain", "/a/b", "/a/b"),
            ("trailing_slash_dropped", "/a/b/", "/a/b"),
            ("double_slash", "//a//b", "/a/b"),
            ("dot", "/a/./b/.", "/a/b"),
            ("dot_dot", "/a/../b", "/b"),
            ("dot_dot_above_root", "/../../etc/passwd", "/etc/passwd"),
            ("only_dot_dot", "/..", "/"),
            ("dot_dot_at_end", "/a/b/..", "/a"),
            ("dots_in_name", "/a/..b/c..", "/a/..b/c.."),
        ];
        for (name, input, want) in cases {
            let got = clean(input.as_bytes());
            assert_eq!(std::str::from_utf8(&got).unwrap(), *want, "{name}");
        }
    }

    #[test]
    fn percent_decode_table() {
        let cases: &[(&str, &str, Option<&[u8]>)] = &[
            ("plain", "/a/b", Some(b"/a/b")),
            ("space", "/a%20b", Some(b"/a b")),
            ("slash_escaped", "/a%2Fb", Some(b"/a/b")),
            ("dot_dot_escaped", "/%2e%2E/x", Some(b"/../x")),
            ("lowercase_hex", "/%c3%a9", Some("/\u{e9}".as_bytes())),
            ("plus_kept", "/a+b", Some(b"/a+b")),
            ("truncated_escape", "/a%2", None),
            ("bad_hex", "/a%zz", None),
            ("nul", "/a%00b", None),
        ];
        for (name, input, want) in cases {
            assert_eq!(percent_decode(input).as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn base_and_dot_dot() {
        assert_eq!(base(b"/a/b/"), b"b");
        assert_eq!(base(b"/a/b"), b"b");
        assert_eq!(base(b"/"), b"/");
        assert_eq!(base(b""), b".");
        assert!(contains_dot_dot(b"/a/../b"));
        assert!(contains_dot_dot(b"/a\\..\\b"));
        assert!(!contains_dot_dot(b"/a/..b/c.."));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_path(b"a b?c#d%e"), "a%20b%3Fc%23d%25e");
        assert_eq!(escape_path(b"a:b/"), "a%3Ab/");
        assert_eq!(escape_path(b"<x>&'\""), "%3Cx%3E%26%27%22");
        assert_eq!(escape_path("é".as_bytes()), "%C3%A9");
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"
        );
    }
}
