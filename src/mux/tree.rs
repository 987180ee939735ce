//! The routing tree: host, then method, then one node per path segment, so a lookup costs the
//! number of segments, not the number of patterns; patterns are in pattern.rs.
//!
//! Lookup is Go's `routingNode.match`: a host pattern that matches wins over any pattern
//! without a host; an exact method over GET-for-HEAD over no method; and at each segment a
//! literal over `{name}` over `{name...}`, backtracking when a branch fails deeper down.
//! Registration has already rejected every pair of patterns that could make this order pick
//! something other than the most specific match.

use std::borrow::Cow;

use http::Method;

use super::path::unescape_lossless;
use super::pattern::{Pattern, Seg};

/// The patterns of a `ServeMux`, by host, method and path. Leaves hold pattern ids (indexes
/// into the mux's entries).
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// Patterns with a host, by lowercase host.
    hosts: FastMap<Box<str>, MethodNode>,
    /// Patterns without a host.
    any_host: MethodNode,
}

#[derive(Debug, Default)]
struct MethodNode {
    /// Patterns with a method; few, so a list.
    methods: Vec<(Method, PathNode)>,
    /// Patterns without a method.
    any: PathNode,
}

/// A position in the path: what may come next.
#[derive(Debug, Default)]
struct PathNode {
    /// The pattern whose path ends here (the request path is used up).
    leaf: Option<usize>,
    /// Literal next segments.
    lits: Children,
    /// A `{name}` next segment.
    wild: Option<Box<PathNode>>,
    /// A `{$}` here: matches only a trailing slash.
    slash: Option<usize>,
    /// A `{name...}` or trailing `/` here, and whether it has a name (gets a value).
    multi: Option<(usize, bool)>,
}

/// Literal children: a short list scanned in order, or a hash map once there are many.
#[derive(Debug)]
enum Children {
    Few(Vec<(Box<str>, PathNode)>),
    Many(FastMap<Box<str>, PathNode>),
}

/// Above this many literal children a node switches to a hash map.
const FEW: usize = 8;

impl Default for Children {
    fn default() -> Children {
        Children::Few(Vec::new())
    }
}

impl Children {
    fn get(&self, seg: &str) -> Option<&PathNode> {
        match self {
            Children::Few(v) => v.iter().find(|(k, _)| &**k == seg).map(|(_, n)| n),
            Children::Many(m) => m.get(seg),
        }
    }

    fn get_or_insert(&mut self, seg: &str) -> &mut PathNode {
        if let Children::Few(v) = self {
            let known = v.iter().any(|(k, _)| &**k == seg);
            if !known && v.len() >= FEW {
                let map = std::mem::take(v).into_iter().collect();
                *self = Children::Many(map);
            }
        }
        match self {
            Children::Few(v) => {
                let i = match v.iter().position(|(k, _)| &**k == seg) {
                    Some(i) => i,
                    None => {
                        v.push((seg.into(), PathNode::default()));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            Children::Many(m) => m.entry(seg.into()).or_default(),
        }
    }

    #[cfg(test)]
    fn iter(&self) -> Box<dyn Iterator<Item = &PathNode> + '_> {
        match self {
            Children::Few(v) => Box::new(v.iter().map(|(_, n)| n)),
            Children::Many(m) => Box::new(m.values()),
        }
    }
}

impl Tree {
    /// Adds pattern `id`. The caller has checked it conflicts with no registered pattern.
    pub(crate) fn insert(&mut self, pat: &Pattern, id: usize) {
        let by_method = if pat.host.is_empty() {
            &mut self.any_host
        } else {
            self.hosts.entry(pat.host.as_str().into()).or_default()
        };
        let mut node = match &pat.method {
            None => &mut by_method.any,
            Some(m) => {
                let i = match by_method.methods.iter().position(|(k, _)| k == m) {
                    Some(i) => i,
                    None => {
                        by_method.methods.push((m.clone(), PathNode::default()));
                        by_method.methods.len() - 1
                    }
                };
                &mut by_method.methods[i].1
            }
        };
        for seg in &pat.segments {
            node = match seg {
                Seg::Lit(s) => node.lits.get_or_insert(s),
                Seg::Wild(_) => node.wild.get_or_insert_with(Box::default),
                Seg::Slash => {
                    node.slash = Some(id);
                    return;
                }
                Seg::Multi(name) => {
                    node.multi = Some((id, !name.is_empty()));
                    return;
                }
            };
        }
        node.leaf = Some(id);
    }

    /// The pattern that serves `method` on `host` (lowercase, no port; empty if unknown) and
    /// `path` (escaped, starting with `/`), pushing the wildcard values in order onto
    /// `values`. With `slash`, matches as if `path` had one more `/` at its end (for the
    /// trailing-slash redirect, without building that string).
    pub(crate) fn lookup<'p>(
        &self,
        host: &str,
        method: &Method,
        path: &'p str,
        slash: bool,
        values: &mut Vec<Cow<'p, str>>,
    ) -> Option<usize> {
        if !host.is_empty() && !self.hosts.is_empty() {
            if let Some(n) = self.hosts.get(host) {
                if let Some(id) = n.lookup(method, path, slash, values) {
                    return Some(id);
                }
            }
        }
        self.any_host.lookup(method, path, slash, values)
    }

    /// The methods for which some pattern matches `host` and `path`, for a 405's `Allow`;
    /// unsorted, possibly with repeats.
    pub(crate) fn allowed_methods(
        &self,
        host: &str,
        path: &str,
        slash: bool,
        out: &mut Vec<Method>,
    ) {
        let mut scratch = Vec::new();
        let mut add = |n: &MethodNode| {
            for (m, node) in &n.methods {
                scratch.clear();
                if node.match_path(path, slash, &mut scratch).is_some() {
                    out.push(m.clone());
                }
            }
        };
        if !host.is_empty() {
            if let Some(n) = self.hosts.get(host) {
                add(n);
            }
        }
        add(&self.any_host);
    }

    /// How many nodes the tree has (for tests of its shape).
    #[cfg(test)]
    fn node_count(&self) -> usize {
        fn count(n: &PathNode) -> usize {
            1 + n.lits.iter().map(count).sum::<usize>() + n.wild.as_deref().map_or(0, count)
        }
        let per_host =
            |m: &MethodNode| count(&m.any) + m.methods.iter().map(|(_, n)| count(n)).sum::<usize>();
        per_host(&self.any_host) + self.hosts.values().map(per_host).sum::<usize>()
    }
}

impl MethodNode {
    fn lookup<'p>(
        &self,
        method: &Method,
        path: &'p str,
        slash: bool,
        values: &mut Vec<Cow<'p, str>>,
    ) -> Option<usize> {
        let by = |m: &Method| self.methods.iter().find(|(k, _)| k == m).map(|(_, n)| n);
        if let Some(n) = by(method) {
            if let Some(id) = n.match_path(path, slash, values) {
                return Some(id);
            }
        }
        // GET patterns also serve HEAD (an explicit HEAD pattern came first).
        if *method == Method::HEAD {
            if let Some(n) = by(&Method::GET) {
                if let Some(id) = n.match_path(path, slash, values) {
                    return Some(id);
                }
            }
        }
        self.any.match_path(path, slash, values)
    }
}

impl PathNode {
    /// Matches the rest of the path, `path` (empty or starting with `/`), from this node. On
    /// failure `values` is left as it was.
    fn match_path<'p>(
        &self,
        path: &'p str,
        slash: bool,
        values: &mut Vec<Cow<'p, str>>,
    ) -> Option<usize> {
        if path.is_empty() {
            if !slash {
                return self.leaf;
            }
            // The virtual trailing slash.
            return self.slash.or_else(|| self.match_multi("/", values));
        }
        if path == "/" && !slash {
            // A trailing slash: `{$}`, else a multi wildcard; never a `{name}`.
            return self.slash.or_else(|| self.match_multi(path, values));
        }
        let end = path[1..].find('/').map_or(path.len(), |i| i + 1);
        let (raw, rest) = (&path[1..end], &path[end..]);
        // Percent-decode this one segment, so `%2F` stays inside it.
        let seg = unescape_lossless(raw);
        if let Some(child) = self.lits.get(&seg) {
            if let Some(id) = child.match_path(rest, slash, values) {
                return Some(id);
            }
        }
        if let Some(wild) = &self.wild {
            let n = values.len();
            values.push(seg);
            if let Some(id) = wild.match_path(rest, slash, values) {
                return Some(id);
            }
            values.truncate(n);
        }
        self.match_multi(path, values)
    }

    /// A multi wildcard here takes all of `path` (which starts with `/`); its value is the
    /// rest after that slash, percent-decoded as a whole.
    fn match_multi<'p>(&self, path: &'p str, values: &mut Vec<Cow<'p, str>>) -> Option<usize> {
        let (id, named) = self.multi?;
        if named {
            values.push(unescape_lossless(&path[1..]));
        }
        Some(id)
    }
}

/// The tree's maps: keys are registered literals and hosts, and lookups of request strings
/// cannot add entries, so a keyed hash buys no flooding resistance here.
type FastMap<K, V> = crate::fnv::FnvMap<K, V>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::Location;

    fn tree(patterns: &[&str]) -> (Tree, Vec<Pattern>) {
        let mut t = Tree::default();
        let pats: Vec<Pattern> = patterns
            .iter()
            .map(|s| Pattern::parse(s, Location::caller()).unwrap_or_else(|e| panic!("{}", e.msg)))
            .collect();
        for (i, p) in pats.iter().enumerate() {
            t.insert(p, i);
        }
        (t, pats)
    }

    #[test]
    fn shares_prefixes() {
        let (t, _) = tree(&["/a/b/c", "/a/b/d", "/a/{x}/e", "GET /a/b/c"]);
        // any: root, a, b, c, d, {x}, e; GET: root, a, b, c.
        assert_eq!(t.node_count(), 11);
    }

    #[test]
    fn switches_to_map_with_many_children() {
        let names: Vec<String> = (0..50).map(|i| format!("/r{i}")).collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let (t, _) = tree(&refs);
        assert!(matches!(t.any_host.any.lits, Children::Many(_)));
        for i in 0..50 {
            let path = format!("/r{i}");
            let mut v = Vec::new();
            assert_eq!(t.lookup("", &Method::GET, &path, false, &mut v), Some(i));
        }
    }

    #[test]
    fn virtual_slash() {
        let (t, _) = tree(&["/a/", "/b/{$}", "/c/{rest...}"]);
        let mut v = Vec::new();
        assert_eq!(t.lookup("", &Method::GET, "/a", false, &mut v), None);
        assert_eq!(t.lookup("", &Method::GET, "/a", true, &mut v), Some(0));
        assert_eq!(t.lookup("", &Method::GET, "/b", true, &mut v), Some(1));
        assert_eq!(t.lookup("", &Method::GET, "/c", true, &mut v), Some(2));
        assert_eq!(v, [""]);
    }

    /// Matches `method host path` and returns the pattern text and the values.
    fn find(
        t: &Tree,
        pats: &[Pattern],
        method: &str,
        host: &str,
        path: &str,
    ) -> (String, Vec<String>) {
        let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let mut v = Vec::new();
        match t.lookup(host, &m, path, false, &mut v) {
            Some(id) => (
                pats[id].text.clone(),
                v.into_iter().map(Cow::into_owned).collect(),
            ),
            None => (String::new(), Vec::new()),
        }
    }

    #[test]
    fn go_tree_cases() {
        let (t, p) = tree(&[
            "/item/",
            "POST /item/{user}",
            "GET /item/{user}",
            "/item/{user}",
            "/item/{user}/{id}",
            "/item/{user}/new",
            "/item/{$}",
            "POST alt.com/item/{user}",
            "GET /headwins",
            "HEAD /headwins",
            "/path/{p...}",
        ]);
        let cases: &[(&str, &str, &str, &str, &[&str])] = &[
            ("GET", "", "/item/jba", "GET /item/{user}", &["jba"]),
            ("POST", "", "/item/jba", "POST /item/{user}", &["jba"]),
            ("HEAD", "", "/item/jba", "GET /item/{user}", &["jba"]),
            // Methods are case-sensitive: "get" is not GET.
            ("get", "", "/item/jba", "/item/{user}", &["jba"]),
            (
                "POST",
                "",
                "/item/jba/17",
                "/item/{user}/{id}",
                &["jba", "17"],
            ),
            ("GET", "", "/item/jba/new", "/item/{user}/new", &["jba"]),
            ("GET", "", "/item/", "/item/{$}", &[]),
            ("GET", "", "/item/jba/17/line2", "/item/", &[]),
            (
                "POST",
                "alt.com",
                "/item/jba",
                "POST alt.com/item/{user}",
                &["jba"],
            ),
            ("GET", "alt.com", "/item/jba", "GET /item/{user}", &["jba"]),
            ("GET", "", "/item", "", &[]),
            ("GET", "", "/headwins", "GET /headwins", &[]),
            ("HEAD", "", "/headwins", "HEAD /headwins", &[]),
            ("GET", "", "/path/to/file", "/path/{p...}", &["to/file"]),
            ("GET", "", "/path/*", "/path/{p...}", &["*"]),
        ];
        for (m, h, path, want, vals) in cases {
            let (got, v) = find(&t, &p, m, h, path);
            assert_eq!(
                (
                    got.as_str(),
                    v.iter().map(|s| s.as_str()).collect::<Vec<_>>()
                ),
                (*want, vals.to_vec()),
                "{m} {h} {path}"
            );
        }
    }

    #[test]
    fn connect_paths_keep_empty_segments() {
        let (t, p) = tree(&["CONNECT /a//b", "/a/{x}/b", "/{x}/{y...}"]);
        let cases: &[(&str, &str, &[&str])] = &[
            ("/a//b", "CONNECT /a//b", &[]),
            ("/a/z/b", "/a/{x}/b", &["z"]),
            ("//c", "/{x}/{y...}", &["", "c"]),
            ("/a//c", "/{x}/{y...}", &["a", "/c"]),
        ];
        for (path, want, vals) in cases {
            let (got, v) = find(&t, &p, "CONNECT", "", path);
            assert_eq!(
                (
                    got.as_str(),
                    v.iter().map(|s| s.as_str()).collect::<Vec<_>>()
                ),
                (*want, vals.to_vec()),
                "{path}"
            );
        }
    }

    #[test]
    fn allowed_methods_by_host() {
        let (t, _) = tree(&["GET a.com/", "PUT b.com/", "POST /foo/{x}"]);
        let cases = [
            ("", "/foo", ""),
            ("", "/foo/bar", "POST"),
            ("a.com", "/foo/bar", "GET,POST"),
            ("b.com", "/bar", "PUT"),
        ];
        for (host, path, want) in cases {
            let mut ms = Vec::new();
            t.allowed_methods(host, path, false, &mut ms);
            let mut names: Vec<&str> = ms.iter().map(|m| m.as_str()).collect();
            names.sort_unstable();
            assert_eq!(names.join(","), want, "{host} {path}");
        }
    }
}
