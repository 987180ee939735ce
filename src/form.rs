//! Form values (Go's `url.Values`): the decoded pairs of a query string or an
//! `application/x-www-form-urlencoded` body, and their strict parser. `Request::parse_form`
//! (request.rs) fills them in, as Go's `ParseForm` does. With feature `client`, `append_pair`
//! encodes a pair for `RequestBuilder::query` and `form`.

use crate::error::{Error, Malformed, Result};

/// Form values: name and value pairs in the order they came, as Go's `url.Values` keeps the
/// values of each name in order. A name may have several values.
///
/// ```
/// use nethttp::Form;
///
/// let form = Form::parse("a=1&b=x+y&a=2&c=%2F")?;
/// assert_eq!(form.get("a"), Some("1"));
/// assert_eq!(form.get_all("a").collect::<Vec<_>>(), ["1", "2"]);
/// assert_eq!(form.get("b"), Some("x y"));
/// assert_eq!(form.get("c"), Some("/"));
/// assert!(Form::parse("bad=%zz").is_err());
/// # Ok::<(), nethttp::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// No values.
    pub fn new() -> Form {
        Form::default()
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body), as
    /// Go's `url.ParseQuery`: pairs separated by `&`, a name without `=` has an empty value,
    /// `+` is a space, `%XX` a byte.
    ///
    /// # Errors
    ///
    /// [`Malformed::Form`] for a `%` not followed by two hex digits, a `;` in a pair (not a
    /// separator since Go 1.17, and refused rather than guessed at), or text that does not
    /// decode to UTF-8. The well-formed pairs are not returned then: use
    /// [`parse_lenient`](Self::parse_lenient) to keep them.
    pub fn parse(text: &str) -> Result<Form> {
        let (form, err) = Form::parse_lenient(text);
        match err {
            Some(e) => Err(e),
            None => Ok(form),
        }
    }

    /// As [`parse`](Self::parse), but keeps every well-formed pair and returns the first error
    /// beside them, as Go's `ParseQuery` fills its map and still reports the error.
    pub fn parse_lenient(text: &str) -> (Form, Option<Error>) {
        let mut form = Form::new();
        let mut first_err = None;
        for pair in text.split('&') {
            if pair.is_empty() {
                continue;
            }
            let decoded = if pair.contains(';') {
                Err(Error::malformed(Malformed::Form))
            } else {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                unescape(name).and_then(|n| unescape(value).map(|v| (n, v)))
            };
            match decoded {
                Ok((n, v)) => form.pairs.push((n, v)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        (form, first_err)
    }

    /// The first value of `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if `name` has at least one value.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// Adds a value for `name` after its others.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The distinct names, in the order each first appeared.
    pub fn names(&self) -> Vec<&str> {
        // A set beside the list: `Vec::contains` per pair is quadratic in the distinct names.
        let mut seen = std::collections::HashSet::new();
        self.pairs
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| seen.insert(*n))
            .collect()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True if there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Appends the values of `other` after this form's own, name by name: Go's `r.Form`,
    /// where the body's values of a name come before the query's.
    #[cfg(feature = "server")]
    pub(crate) fn merged(body: &Form, query: &Form) -> Form {
        // Values grouped by name in one pass (a scan of every pair per name is quadratic).
        let mut order: Vec<&str> = Vec::new();
        let mut groups: std::collections::HashMap<&str, Vec<&str>> =
            std::collections::HashMap::new();
        for (n, v) in body.iter().chain(query.iter()) {
            groups
                .entry(n)
                .or_insert_with(|| {
                    order.push(n);
                    Vec::new()
                })
                .push(v);
        }
        let mut out = Form::new();
        out.pairs.reserve(body.len() + query.len());
        for name in order {
            for v in &groups[name] {
                out.add(name, *v);
            }
        }
        out
    }
}

/// Appends `name=value`, each `application/x-www-form-urlencoded` (the WHATWG URL standard's
/// serializer, which the `form_urlencoded` crate implemented before this did: ASCII letters,
/// digits and `*-._` as they are, a space as `+`, every other byte of the UTF-8 as `%XX` in
/// upper case), after a `&` unless `out` is empty.
#[cfg(feature = "client")]
pub(crate) fn append_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    append_escaped(out, name);
    out.push('=');
    append_escaped(out, value);
}

#[cfg(feature = "client")]
fn append_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

/// Decodes `+` and `%XX` strictly.
fn unescape(s: &str) -> Result<String> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(Error::malformed(Malformed::Form)),
                }
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::malformed(Malformed::Form))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case: its name, the input, and the pairs it parses to (`None`: an error).
    type Case = (
        &'static str,
        &'static str,
        Option<&'static [(&'static str, &'static str)]>,
    );

    #[test]
    fn parsing_table() {
        let cases: &[Case] = &[
            ("empty", "", Some(&[])),
            ("one", "a=1", Some(&[("a", "1")])),
            ("no_value", "a", Some(&[("a", "")])),
            ("empty_value", "a=", Some(&[("a", "")])),
            ("repeated", "a=1&a=2", Some(&[("a", "1"), ("a", "2")])),
            ("plus_is_space", "q=a+b", Some(&[("q", "a b")])),
            ("escapes", "k%20=%2B%26%3D", Some(&[("k ", "+&=")])),
            ("utf8", "n=%C3%BC", Some(&[("n", "ü")])),
            ("empty_pairs", "&&a=1&", Some(&[("a", "1")])),
            ("equals_in_value", "a=b=c", Some(&[("a", "b=c")])),
            ("bad_escape", "a=%zz", None),
            ("short_escape", "a=%2", None),
            ("semicolon", "a=1;b=2", None),
            ("not_utf8", "a=%ff", None),
        ];
        for (name, input, want) in cases {
            match (Form::parse(input), want) {
                (Ok(f), Some(pairs)) => {
                    let got: Vec<(&str, &str)> = f.iter().collect();
                    assert_eq!(got, *pairs, "{name}");
                }
                (Err(e), None) => assert_eq!(
                    e.kind(),
                    crate::ErrorKind::Malformed(Malformed::Form),
                    "{name}"
                ),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }

    #[cfg(feature = "client")]
    #[test]
    fn encoding_table() {
        for (name, pairs, want) in [
            ("none", &[][..], ""),
            ("one", &[("a", "1")][..], "a=1"),
            ("two", &[("a", "1"), ("b", "")][..], "a=1&b="),
            ("kept_as_is", &[("azAZ09", "*-._")][..], "azAZ09=*-._"),
            ("space_is_plus", &[("q", "a b")][..], "q=a+b"),
            ("plus_escaped", &[("q", "1+1")][..], "q=1%2B1"),
            (
                "delimiters",
                &[("a&b=c", "d=e&f")][..],
                "a%26b%3Dc=d%3De%26f",
            ),
            ("tilde_escaped", &[("~", "%")][..], "%7E=%25"),
            ("utf8_upper_hex", &[("n", "ü€")][..], "n=%C3%BC%E2%82%AC"),
            ("controls", &[("n", "\r\n\0")][..], "n=%0D%0A%00"),
        ] {
            let mut out = String::new();
            for (n, v) in pairs {
                append_pair(&mut out, n, v);
            }
            assert_eq!(out, want, "{name}");
            let back = Form::parse(&out).unwrap();
            assert_eq!(back.iter().collect::<Vec<_>>(), pairs, "{name} reads back");
        }
    }

    #[test]
    fn lenient_keeps_the_good_pairs() {
        let (f, e) = Form::parse_lenient("a=1&b=%zz&c=3;x&d=4");
        assert!(e.is_some());
        assert_eq!(f.iter().collect::<Vec<_>>(), [("a", "1"), ("d", "4")]);
    }

    #[cfg(feature = "server")]
    #[test]
    fn merged_puts_body_values_first() {
        let body = Form::parse("b=1&a=2").unwrap();
        let query = Form::parse("a=3&c=4&b=5").unwrap();
        let m = Form::merged(&body, &query);
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [("b", "1"), ("b", "5"), ("a", "2"), ("a", "3"), ("c", "4")]
        );
    }
}
