//! Basic credentials (RFC 7617) in `Authorization` and `Proxy-Authorization` values, sans-IO:
//! written by the client (Go's `basicAuth`), read by the server (Go's `parseBasicAuth`), with
//! the base64 they need (RFC 4648 §4) written out here rather than pulled in as a crate.

/// The field value `Basic <base64 of user:password>` (RFC 7617 §2), as Go's `SetBasicAuth`
/// sends it. Neither name nor password is checked: a `:` in the user name cannot be read back,
/// as in Go.
///
/// ```
/// use nethttp::proto::auth::basic_auth;
/// assert_eq!(basic_auth("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// ```
pub fn basic_auth(user: &str, password: &str) -> String {
    let mut out = String::from("Basic ");
    encode_into(format!("{user}:{password}").as_bytes(), &mut out);
    out
}

/// The user name and password of a `Basic` field value (the scheme name in any case, then
/// base64 of `user:password` in UTF-8), as Go's `parseBasicAuth`: `None` for another scheme,
/// base64 that is not canonical (padding required, no stray bits, no whitespace inside), text
/// that is not UTF-8, or no `:`.
///
/// ```
/// use nethttp::proto::auth::parse_basic_auth;
/// assert_eq!(
///     parse_basic_auth(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
///     Some(("Aladdin".to_string(), "open sesame".to_string()))
/// );
/// assert_eq!(parse_basic_auth(b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), None);
/// ```
pub fn parse_basic_auth(value: &[u8]) -> Option<(String, String)> {
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let text = String::from_utf8(decode(rest.trim_ascii())?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the padded standard base64 of `data` to `out`.
fn encode_into(data: &[u8], out: &mut String) {
    out.reserve(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
        let n = b(0) << 16 | b(1) << 8 | b(2);
        // A group of k bytes gives k + 1 symbols, then `=` to four.
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

/// The value of one base64 symbol; `None` for anything outside the alphabet, `=` included.
fn symbol(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes padded standard base64 strictly: whole groups of four symbols, `=` only as the
/// last one or two, and the bits the padding leaves over zero (RFC 4648 §3.5), so each text
/// has one encoding.
fn decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 4 != 0 {
        return None;
    }
    let groups = s.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (g, group) in s.chunks_exact(4).enumerate() {
        let pad = match (g + 1 == groups, &group[2..]) {
            (true, b"==") => 2,
            (true, [_, b'=']) => 1,
            _ => 0,
        };
        let mut n = 0;
        for &c in &group[..4 - pad] {
            n = n << 6 | symbol(c)?;
        }
        n <<= 6 * pad;
        let [_, bytes @ ..] = n.to_be_bytes();
        let (keep, rest) = bytes.split_at(3 - pad);
        if rest.iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(keep);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        encode_into(data, &mut out);
        out
    }

    #[test]
    fn rfc4648_test_vectors() {
        // RFC 4648 §10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded, "{plain}");
            assert_eq!(
                decode(coded.as_bytes()).as_deref(),
                Some(plain.as_bytes()),
                "{coded}"
            );
        }
        // Every symbol, both ways.
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(encode(&all).as_bytes()), Some(all));
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn decode_rejects() {
        for (name, input) in [
            ("short", "Zm9"),
            ("unpadded", "Zg"),
            ("three_pads", "Z==="),
            ("four_pads", "===="),
            ("pad_in_the_middle", "Zg==Zm9v"),
            ("pad_then_symbol", "Zm=v"),
            ("stray_bits_one_pad", "Zm9="),
            ("stray_bits_two_pads", "Zh=="),
            ("url_alphabet", "-_8="),
            ("space_inside", "Zm9v Yg=="),
            ("newline", "Zm9v\nYmFy"),
            ("non_ascii", "Zm9\u{e9}"),
        ] {
            assert_eq!(decode(input.as_bytes()), None, "{name}");
        }
    }

    /// A case: its name, the field value, and the credentials read (`None`: rejected).
    type Case = (
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn parse_basic_auth_table() {
        let cases: &[Case] = &[
            ("plain", "Basic dTpw", Some(("u", "p"))),
            ("scheme_any_case", "bAsIc dTpw", Some(("u", "p"))),
            ("spaces_around", "Basic   dTpw  ", Some(("u", "p"))),
            ("empty_password", "Basic dTo=", Some(("u", ""))),
            ("empty_user", "Basic OnA=", Some(("", "p"))),
            (
                "colon_in_password",
                "Basic YW5uOnM6Y3JldA==",
                Some(("ann", "s:cret")),
            ),
            ("utf8", "Basic w7w6w7w=", Some(("ü", "ü"))),
            ("no_colon", "Basic dXA=", None),
            ("no_space", "BasicdTpw", None),
            ("other_scheme", "Bearer dTpw", None),
            ("not_base64", "Basic !!!", None),
            ("not_utf8", "Basic /zp4", None),
            ("empty", "", None),
            ("scheme_only", "Basic ", None),
        ];
        for (name, value, want) in cases {
            let want = want.map(|(u, p)| (u.to_string(), p.to_string()));
            assert_eq!(parse_basic_auth(value.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn basic_auth_reads_back() {
        for (user, password) in [("u", "p"), ("", ""), ("ann", "s:cret"), ("ü", "pässwörd")] {
            let v = basic_auth(user, password);
            assert_eq!(
                parse_basic_auth(v.as_bytes()),
                Some((user.to_string(), password.to_string()))
            );
        }
    }
}
