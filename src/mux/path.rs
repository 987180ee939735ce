//! Path helpers for routing: Go's `cleanPath`, per-segment percent-decoding; used by the
//! patterns (pattern.rs), the tree (tree.rs) and `redirect` (handlers.rs).

use std::borrow::Cow;

/// Cleans a `/`-rooted path the way Go's `ServeMux` does: adds a leading `/`, collapses
/// repeated slashes, removes `.` segments and `..` segments with the segment before them
/// (never climbing above the root), and keeps a trailing slash. Borrows when the path is
/// already clean, which is the common case.
pub(crate) fn clean_path(p: &str) -> Cow<'_, str> {
    if is_clean(p) {
        return Cow::Borrowed(p);
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(p.len() + 1);
    for s in &parts {
        out.push('/');
        out.push_str(s);
    }
    // path.Clean drops a trailing slash; Go puts it back when the input ended in one.
    if out.is_empty() || p.ends_with('/') {
        out.push('/');
    }
    Cow::Owned(out)
}

/// True if `clean_path` would return `p` unchanged.
fn is_clean(p: &str) -> bool {
    if !p.starts_with('/') {
        return false;
    }
    // Every segment between slashes (the last one may be empty: a trailing slash).
    let mut segs = p[1..].split('/').peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        match seg {
            "." | ".." => return false,
            "" if !last => return false,
            _ => {}
        }
    }
    true
}

/// Percent-decodes one path segment. `None` if an escape is malformed or the result is not
/// UTF-8. Borrows when there is nothing to decode.
pub(crate) fn unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Decodes a segment of a request path; a segment that does not decode is matched as sent
/// (Go does the same for bad escapes).
pub(crate) fn unescape_lossless(s: &str) -> Cow<'_, str> {
    unescape(s).unwrap_or(Cow::Borrowed(s))
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("a/b", "/a/b"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//", "/"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/.", "/a"),
            ("/a/./", "/a/"),
            ("/a/../b", "/b"),
            ("/a/..", "/"),
            ("/../a", "/a"),
            ("/../../", "/"),
            ("/a/b/../../c/", "/c/"),
            ("/a%2F../b", "/a%2F../b"),
            ("/.a/..b/", "/.a/..b/"),
        ];
        for (in_, want) in cases {
            assert_eq!(clean_path(in_), want, "{in_:?}");
            assert_eq!(is_clean(in_), in_ == want, "{in_:?}");
        }
    }

    #[test]
    fn unescape_segments() {
        assert_eq!(unescape("abc").as_deref(), Some("abc"));
        assert_eq!(unescape("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(unescape("%e2%82%ac").as_deref(), Some("€"));
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%2"), None);
        assert_eq!(unescape("%ff"), None);
        assert_eq!(unescape_lossless("%zz"), "%zz");
    }
}
