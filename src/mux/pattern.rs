//! Router patterns: parsing `[METHOD ][HOST]/PATH`, and how two patterns relate (Go 1.22
//! precedence and conflicts); the routing tree is in tree.rs, the `ServeMux` in mod.rs.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;

use http::Method;

use super::path::{clean_path, unescape};

/// One piece of a pattern's path. The representation follows Go's, which keeps the
/// comparisons simple: a trailing `/` is an anonymous multi wildcard, and `{$}` is its own
/// segment that matches only a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A literal segment, percent-decoded.
    Lit(String),
    /// `{name}`: any one segment, but not a trailing slash.
    Wild(String),
    /// `{name...}`, or a trailing `/` (then the name is empty): the rest of the path.
    Multi(String),
    /// `{$}`: the trailing slash and nothing after it.
    Slash,
}

/// A parsed pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern as registered.
    pub(crate) text: String,
    /// `None`: any method.
    pub(crate) method: Option<Method>,
    /// Lowercase; empty: any host.
    pub(crate) host: String,
    /// Never empty: every path has at least one segment.
    pub(crate) segments: Vec<Seg>,
    /// Where `handle` was called, for conflict messages.
    pub(crate) location: &'static Location<'static>,
}

/// How the sets of requests two patterns match relate (Go's `relationship`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    /// Both match exactly the same requests.
    Equivalent,
    /// The first matches a strict subset of what the second matches.
    MoreSpecific,
    /// The first matches a strict superset.
    MoreGeneral,
    /// Some requests match both, and each matches some the other does not.
    Overlaps,
    /// No request matches both.
    Disjoint,
}

impl Rel {
    #[cfg(test)]
    fn inverse(self) -> Rel {
        match self {
            Rel::MoreSpecific => Rel::MoreGeneral,
            Rel::MoreGeneral => Rel::MoreSpecific,
            r => r,
        }
    }

    /// The relation of two patterns from the relations of two independent parts of them.
    fn combine(self, other: Rel) -> Rel {
        match (self, other) {
            (Rel::Disjoint, _) | (_, Rel::Disjoint) => Rel::Disjoint,
            (Rel::Equivalent, r) | (r, Rel::Equivalent) => r,
            (Rel::Overlaps, _) | (_, Rel::Overlaps) => Rel::Overlaps,
            (a, b) if a == b => a,
            // One part more specific, the other more general.
            _ => Rel::Overlaps,
        }
    }
}

/// A pattern that could not be parsed: the offset in the pattern and what was wrong.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) offset: usize,
    pub(crate) msg: Cow<'static, str>,
}

impl Pattern {
    /// Parses `[METHOD ][HOST]/PATH` (Go 1.22's syntax; several spaces or tabs may follow the
    /// method, as in Go 1.23).
    pub(crate) fn parse(
        text: &str,
        location: &'static Location<'static>,
    ) -> Result<Pattern, ParseError> {
        let err = |offset: usize, msg: &'static str| ParseError {
            offset,
            msg: Cow::Borrowed(msg),
        };
        if text.is_empty() {
            return Err(err(0, "empty pattern"));
        }
        let (method, rest, rest_off) = match text.find([' ', '\t']) {
            Some(i) => {
                let after = text[i..].trim_start_matches([' ', '\t']);
                let off = text.len() - after.len();
                let m = &text[..i];
                let method = Method::from_bytes(m.as_bytes()).map_err(|_| ParseError {
                    offset: 0,
                    msg: Cow::Owned(format!("invalid method {m:?}")),
                })?;
                (Some(method), after, off)
            }
            None => (None, text, 0),
        };
        let slash = rest
            .find('/')
            .ok_or_else(|| err(rest_off, "host/path missing /"))?;
        let host = &rest[..slash];
        if host.contains('{') {
            return Err(err(rest_off, "host contains '{' (missing initial '/'?)"));
        }
        if host_has_port(host) {
            // Requests are matched by host without port, so this could never match.
            return Err(err(
                rest_off,
                "host contains a port (the port of a request is ignored)",
            ));
        }
        let path = &rest[slash..];
        let path_off = rest_off + slash;
        // Requests are cleaned (and redirected) before matching, so an unclean pattern with a
        // method other than CONNECT could never match.
        if method.as_ref().is_some_and(|m| *m != Method::CONNECT) && clean_path(path) != path {
            return Err(err(
                path_off,
                "non-CONNECT pattern with unclean path can never match",
            ));
        }

        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut pos = 0; // index of the '/' starting the current segment, within path
        while pos < path.len() {
            let start = pos + 1;
            if start == path.len() {
                // A trailing slash: the subtree.
                segments.push(Seg::Multi(String::new()));
                break;
            }
            let end = path[start..].find('/').map_or(path.len(), |i| start + i);
            let seg = &path[start..end];
            let seg_off = path_off + start;
            pos = end;
            let Some(brace) = seg.find('{') else {
                let lit = unescape(seg)
                    .ok_or_else(|| err(seg_off, "invalid percent-encoding in literal segment"))?;
                segments.push(Seg::Lit(lit.into_owned()));
                continue;
            };
            if brace != 0 {
                return Err(err(seg_off, "bad wildcard segment (must start with '{')"));
            }
            if !seg.ends_with('}') {
                return Err(err(seg_off, "bad wildcard segment (must end with '}')"));
            }
            let inner = &seg[1..seg.len() - 1];
            let at_end = end == path.len();
            if inner == "$" {
                if !at_end {
                    return Err(err(seg_off, "{$} not at end"));
                }
                segments.push(Seg::Slash);
                break;
            }
            let (name, multi) = match inner.strip_suffix("...") {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if multi && !at_end {
                return Err(err(seg_off, "{...} wildcard not at end"));
            }
            if name.is_empty() {
                return Err(err(seg_off, "empty wildcard name"));
            }
            if !valid_wildcard_name(name) {
                return Err(ParseError {
                    offset: seg_off,
                    msg: Cow::Owned(format!("bad wildcard name {name:?}")),
                });
            }
            if names.contains(&name) {
                return Err(ParseError {
                    offset: seg_off,
                    msg: Cow::Owned(format!("duplicate wildcard name {name:?}")),
                });
            }
            names.push(name);
            segments.push(if multi {
                Seg::Multi(name.to_string())
            } else {
                Seg::Wild(name.to_string())
            });
        }
        Ok(Pattern {
            text: text.to_string(),
            method,
            host: host.to_ascii_lowercase(),
            segments,
            location,
        })
    }

    /// True if the path ends in a multi wildcard (named, or a trailing slash).
    pub(crate) fn ends_in_multi(&self) -> bool {
        matches!(self.segments.last(), Some(Seg::Multi(_)))
    }

    /// The wildcard names in path order, one per matched value; the anonymous multi of a
    /// trailing slash has no name and no value.
    pub(crate) fn wildcard_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Seg::Wild(n) => Some(n.as_str()),
            Seg::Multi(n) if !n.is_empty() => Some(n.as_str()),
            _ => None,
        })
    }

    /// True if the two patterns match some request in common and neither is more specific:
    /// registering both is an error. A pattern with a host and one without never conflict (the
    /// host wins), nor do patterns for different hosts.
    pub(crate) fn conflicts_with(&self, other: &Pattern) -> bool {
        if self.host != other.host {
            return false;
        }
        matches!(
            self.compare_methods_and_paths(other),
            Rel::Equivalent | Rel::Overlaps
        )
    }

    fn compare_methods_and_paths(&self, other: &Pattern) -> Rel {
        let m = self.compare_methods(other);
        if m == Rel::Disjoint {
            return m;
        }
        m.combine(self.compare_paths(other))
    }

    /// Methods: none matches every method, and GET also matches HEAD.
    pub(crate) fn compare_methods(&self, other: &Pattern) -> Rel {
        match (&self.method, &other.method) {
            (a, b) if a == b => Rel::Equivalent,
            (None, _) => Rel::MoreGeneral,
            (_, None) => Rel::MoreSpecific,
            (Some(a), Some(b)) if *a == Method::GET && *b == Method::HEAD => Rel::MoreGeneral,
            (Some(a), Some(b)) if *a == Method::HEAD && *b == Method::GET => Rel::MoreSpecific,
            _ => Rel::Disjoint,
        }
    }

    /// Paths, segment by segment.
    pub(crate) fn compare_paths(&self, other: &Pattern) -> Rel {
        let (a, b) = (&self.segments, &other.segments);
        // Without a multi wildcard, a pattern matches only paths of its own length.
        if a.len() != b.len() && !self.ends_in_multi() && !other.ends_in_multi() {
            return Rel::Disjoint;
        }
        let mut rel = Rel::Equivalent;
        for (x, y) in a.iter().zip(b) {
            rel = rel.combine(compare_segments(x, y));
            if rel == Rel::Disjoint {
                return rel;
            }
        }
        // One pattern ran out of segments; only one ending in a multi can match the other's
        // remaining segments.
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Equal => rel,
            std::cmp::Ordering::Less if self.ends_in_multi() => rel.combine(Rel::MoreGeneral),
            std::cmp::Ordering::Greater if other.ends_in_multi() => rel.combine(Rel::MoreSpecific),
            _ => Rel::Disjoint,
        }
    }

    /// Says why two conflicting patterns conflict, with example paths when their paths
    /// overlap.
    pub(crate) fn describe_conflict(&self, other: &Pattern) -> String {
        let m = self.compare_methods(other);
        let p = self.compare_paths(other);
        match m.combine(p) {
            Rel::Equivalent => format!("{self} matches the same requests as {other}"),
            _ if p == Rel::Overlaps => format!(
                "{self} and {other} both match some paths, like {:?}, but neither is more \
                 specific: {self} matches {:?}, but {other} doesn't; {other} matches {:?}, but \
                 {self} doesn't",
                common_path(self, other),
                difference_path(self, other),
                difference_path(other, self),
            ),
            _ if m == Rel::MoreGeneral && p == Rel::MoreSpecific => format!(
                "{self} matches more methods than {other}, but has a more specific path pattern"
            ),
            _ if m == Rel::MoreSpecific && p == Rel::MoreGeneral => format!(
                "{self} matches fewer methods than {other}, but has a more general path pattern"
            ),
            rel => format!("{self} and {other} overlap (methods {m:?}, paths {p:?}: {rel:?})"),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

/// One segment against another (Go's `compareSegments`).
fn compare_segments(x: &Seg, y: &Seg) -> Rel {
    use Seg::*;
    match (x, y) {
        (Multi(_), Multi(_)) => Rel::Equivalent,
        (Multi(_), _) => Rel::MoreGeneral,
        (_, Multi(_)) => Rel::MoreSpecific,
        (Wild(_), Wild(_)) | (Slash, Slash) => Rel::Equivalent,
        // A single wildcard never matches the trailing slash.
        (Wild(_), Slash) | (Slash, Wild(_)) => Rel::Disjoint,
        (Wild(_), Lit(_)) => Rel::MoreGeneral,
        (Lit(_), Wild(_)) => Rel::MoreSpecific,
        (Lit(a), Lit(b)) if a == b => Rel::Equivalent,
        _ => Rel::Disjoint,
    }
}

/// Appends `/seg` as an example path would show it: a wildcard by its name, a multi or `{$}`
/// as nothing after the slash.
fn push_example(out: &mut String, s: &Seg) {
    out.push('/');
    match s {
        Seg::Lit(l) => out.push_str(l),
        Seg::Wild(n) => out.push_str(n),
        Seg::Multi(_) | Seg::Slash => {}
    }
}

/// A path both patterns match (they must overlap).
fn common_path(p1: &Pattern, p2: &Pattern) -> String {
    let mut out = String::new();
    let (a, b) = (&p1.segments, &p2.segments);
    for (x, y) in a.iter().zip(b) {
        // Where one has a wildcard, the other's segment fits both.
        push_example(&mut out, if matches!(x, Seg::Wild(_)) { y } else { x });
    }
    let n = a.len().min(b.len());
    for s in a[n..].iter().chain(&b[n..]) {
        push_example(&mut out, s);
    }
    out
}

/// A path `p1` matches and `p2` does not (they must overlap, and `p1` must not be more
/// specific).
fn difference_path(p1: &Pattern, p2: &Pattern) -> String {
    let mut out = String::new();
    let (a, b) = (&p1.segments, &p2.segments);
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            // From here on both match the same paths; the difference came earlier.
            (Seg::Multi(_), Seg::Multi(_)) => {
                out.push('/');
                return out;
            }
            // p1 takes the rest, p2 a trailing slash or one more segment: a trailing slash
            // tells them apart, unless p2 is `{$}`, where any segment does.
            (Seg::Multi(name), _) => {
                out.push('/');
                if *y == Seg::Slash {
                    out.push_str(if name.is_empty() { "x" } else { name });
                }
                return out;
            }
            // A wildcard against a literal: any other segment, preferably the name.
            (Seg::Wild(name), Seg::Lit(lit)) => {
                out.push('/');
                if name == lit {
                    out.push_str(lit);
                    out.push('x');
                } else {
                    out.push_str(name);
                }
            }
            _ => push_example(&mut out, x),
        }
    }
    let n = a.len().min(b.len());
    for s in a[n..].iter().chain(&b[n..]) {
        push_example(&mut out, s);
    }
    out
}

/// A host with a `:port` after it (IPv6 literals are in brackets).
fn host_has_port(host: &str) -> bool {
    let after_bracket = host.rfind(']').map_or(host, |i| &host[i + 1..]);
    after_bracket.contains(':')
}

/// A wildcard name must be an identifier: a letter or `_`, then letters, digits or `_` (Go
/// requires a Go identifier).
fn valid_wildcard_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s, Location::caller()).unwrap_or_else(|e| panic!("{s}: {}", e.msg))
    }

    #[test]
    fn parses_segments() {
        use Seg::*;
        let lit = |s: &str| Lit(s.to_string());
        let cases: &[(&str, Option<Method>, &str, Vec<Seg>)] = &[
            ("/", None, "", vec![Multi(String::new())]),
            ("/a", None, "", vec![lit("a")]),
            ("/a/", None, "", vec![lit("a"), Multi(String::new())]),
            ("/a/{$}", None, "", vec![lit("a"), Slash]),
            ("/{$}", None, "", vec![Slash]),
            (
                "GET  Example.COM/b/{bucket}/o/{name...}",
                Some(Method::GET),
                "example.com",
                vec![
                    lit("b"),
                    Wild("bucket".into()),
                    lit("o"),
                    Multi("name".into()),
                ],
            ),
            ("/a%2Fb/%7Bx%7D", None, "", vec![lit("a/b"), lit("{x}")]),
            ("POST\t/x", Some(Method::POST), "", vec![lit("x")]),
        ];
        for (text, method, host, segs) in cases {
            let pat = p(text);
            assert_eq!(&pat.method, method, "{text}");
            assert_eq!(pat.host, *host, "{text}");
            assert_eq!(&pat.segments, segs, "{text}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("", "empty pattern"),
            ("GET", "host/path missing /"),
            ("example.com", "host/path missing /"),
            ("{x}/a", "host contains '{'"),
            ("example.com:80/", "host contains a port"),
            ("/a{x}", "must start with '{'"),
            ("/{x", "must end with '}'"),
            ("/{$}/a", "{$} not at end"),
            ("/{x...}/a", "{...} wildcard not at end"),
            ("/{}", "empty wildcard name"),
            ("/{...}", "empty wildcard name"),
            ("/{1x}", "bad wildcard name"),
            ("/{a-b}", "bad wildcard name"),
            ("/{x}/{x}", "duplicate wildcard name"),
            ("GET /a/../b", "unclean path"),
            ("GET /a//b", "unclean path"),
            ("G(T /a", "invalid method"),
            ("/a%zz", "invalid percent-encoding"),
        ];
        for (text, want) in cases {
            match Pattern::parse(text, Location::caller()) {
                Ok(_) => panic!("{text:?} parsed"),
                Err(e) => assert!(e.msg.contains(want), "{text:?}: {}", e.msg),
            }
        }
        // Unclean paths are allowed without a method (they can match CONNECT requests).
        p("/a/../b");
        p("CONNECT /a//b");
        p("[::1]/");
    }

    #[test]
    fn relations() {
        use Rel::*;
        let cases = [
            ("/a", "/a", Equivalent),
            ("/a", "/b", Disjoint),
            ("/a", "/{x}", MoreSpecific),
            ("/{x}", "/{y}", Equivalent),
            ("/a/", "/a/b", MoreGeneral),
            ("/a/{$}", "/a/", MoreSpecific),
            ("/{x}/{$}", "/a/{y}", Disjoint),
            ("/{x}/b", "/a/{y}", Overlaps),
            ("/", "/a", MoreGeneral),
            ("/{rest...}", "/", Equivalent),
            ("GET /a", "/a", MoreSpecific),
            ("GET /a", "HEAD /a", MoreGeneral),
            ("GET /a", "POST /a", Disjoint),
            ("GET /", "/a", Overlaps),
            ("/{x}", "/{$}", Disjoint),
            ("/a/{x...}", "/a/{y}/c", MoreGeneral),
        ];
        for (x, y, want) in cases {
            let (px, py) = (p(x), p(y));
            assert_eq!(px.compare_methods_and_paths(&py), want, "{x} vs {y}");
            assert_eq!(
                py.compare_methods_and_paths(&px),
                want.inverse(),
                "{y} vs {x}"
            );
        }
    }

    #[test]
    fn conflict_descriptions() {
        let (a, b) = (p("/a/{x}"), p("/{y}/b"));
        let d = a.describe_conflict(&b);
        assert!(d.contains(r#"like "/a/b""#), "{d}");
        assert!(d.contains(r#""/a/{x}" matches "/a/x""#), "{d}");
        assert!(d.contains(r#""/{y}/b" matches "/y/b""#), "{d}");

        let (a, b) = (p("GET /"), p("/a"));
        let d = a.describe_conflict(&b);
        assert!(
            d.contains("fewer methods") && d.contains("more general path"),
            "{d}"
        );

        let (a, b) = (p("/{x}"), p("/{y}"));
        assert_eq!(
            a.describe_conflict(&b),
            r#""/{x}" matches the same requests as "/{y}""#
        );
    }

    #[test]
    fn example_paths() {
        // (p1, p2, a path both match) for overlapping paths.
        let common = [
            ("/a/{x}", "/{x}/a", "/a/a"),
            ("/a/{z}/", "/{z}/a/", "/a/a/"),
            ("/a/{z}/{m...}", "/{z}/a/", "/a/a/"),
            ("/{z}/{$}", "/a/", "/a/"),
            ("/{z}/{$}", "/a/{x...}", "/a/"),
            ("/a/{z}/{$}", "/{z}/a/", "/a/a/"),
            ("/a/{x}/b/{y...}", "/{x}/c/{y...}", "/a/c/b/"),
            ("/a/{x}/b/", "/{x}/c/{y...}", "/a/c/b/"),
            ("/a/{x}/b/{$}", "/{x}/c/{y...}", "/a/c/b/"),
            ("/a/{z}/{x...}", "/{z}/b/{y...}", "/a/b/"),
        ];
        for (a, b, want) in common {
            let (pa, pb) = (p(a), p(b));
            assert_eq!(pa.compare_paths(&pb), Rel::Overlaps, "{a} {b}");
            assert_eq!(common_path(&pa, &pb), want, "{a} {b}");
        }
        // (p1, p2, a path p1 matches and p2 does not).
        let difference = [
            ("/a/{x}", "/{x}/a", "/a/x"),
            ("/{x}/a", "/a/{x}", "/x/a"),
            ("/a/{z}/", "/{z}/a/", "/a/z/"),
            ("/{z}/a/", "/a/{z}/", "/z/a/"),
            ("/{a}/a/", "/a/{z}/", "/ax/a/"),
            ("/a/{z}/{x...}", "/{z}/b/{y...}", "/a/z/"),
            ("/{z}/b/{y...}", "/a/{z}/{x...}", "/z/b/"),
            ("/a/b/", "/a/b/c", "/a/b/"),
            ("/a/b/{x...}", "/a/b/c", "/a/b/"),
            ("/a/b/{x...}", "/a/b/c/d", "/a/b/"),
            ("/a/b/{x...}", "/a/b/c/d/", "/a/b/"),
            ("/a/{z}/{m...}", "/{z}/a/", "/a/z/"),
            ("/{z}/a/", "/a/{z}/{m...}", "/z/a/"),
            ("/{z}/{$}", "/a/", "/z/"),
            ("/a/", "/{z}/{$}", "/a/x"),
            ("/{z}/{$}", "/a/{x...}", "/z/"),
            ("/a/{foo...}", "/{z}/{$}", "/a/foo"),
            ("/a/{z}/{$}", "/{z}/a/", "/a/z/"),
            ("/{z}/a/", "/a/{z}/{$}", "/z/a/x"),
            ("/a/{x}/b/{y...}", "/{x}/c/{y...}", "/a/x/b/"),
            ("/{x}/c/{y...}", "/a/{x}/b/{y...}", "/x/c/"),
            ("/a/{c}/b/", "/{x}/c/{y...}", "/a/cx/b/"),
            ("/{x}/c/{y...}", "/a/{c}/b/", "/x/c/"),
        ];
        for (a, b, want) in difference {
            assert_eq!(difference_path(&p(a), &p(b)), want, "{a} {b}");
        }
    }
}
