//! `-w FORMAT`: curl's `--write-out`. The format is parsed before anything is sent (an
//! unknown variable is a usage error), and written once the transfer has ended, well or not.

use std::io::{self, Write};
use std::time::Duration;

use nethttp::HeaderMap;

/// What the variables are made of, gathered as the transfer goes.
#[derive(Debug, Default)]
pub struct Report {
    /// The URL as given (with the scheme added).
    pub url: String,
    /// The last URL requested (after redirects).
    pub url_effective: String,
    pub method: String,
    /// The last response's status; 0 when none arrived.
    pub http_code: u16,
    /// `1.1`, `1.0`; `0` when no response arrived.
    pub http_version: &'static str,
    /// The last response's fields.
    pub headers: HeaderMap,
    pub num_redirects: usize,
    /// Where the last response redirects to, when it was not followed.
    pub redirect_url: String,
    /// Body bytes written (after gzip decoding).
    pub size_download: u64,
    /// Bytes of every response head received, as `-i` writes them.
    pub size_header: u64,
    pub time_namelookup: Duration,
    pub time_connect: Duration,
    pub time_starttransfer: Duration,
    pub time_total: Duration,
    pub remote_ip: String,
    pub remote_port: u16,
    /// The file written with -o or -O.
    pub filename_effective: String,
    pub exitcode: u8,
    /// The error line without the `nethttp: ` prefix; empty on success.
    pub errormsg: String,
}

/// A parsed format.
#[derive(Debug)]
pub struct Format(Vec<Piece>);

#[derive(Debug)]
enum Piece {
    Text(String),
    Var(Var),
    /// `%header{name}`.
    Header(String),
    /// `%{stdout}`, `%{stderr}`: where the rest goes.
    To(Stream),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stream {
    Stdout,
    Stderr,
}

macro_rules! vars {
    ($($name:literal => $var:ident,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Var { $($var,)* Json }

        /// Every variable by its curl name, in the order `%{json}` lists them.
        const VARS: &[(&str, Var)] = &[$(($name, Var::$var),)*];
    };
}

vars! {
    "content_type" => ContentType,
    "errormsg" => ErrorMsg,
    "exitcode" => ExitCode,
    "filename_effective" => FilenameEffective,
    "http_code" => HttpCode,
    "http_version" => HttpVersion,
    "method" => Method,
    "num_redirects" => NumRedirects,
    "redirect_url" => RedirectUrl,
    "remote_ip" => RemoteIp,
    "remote_port" => RemotePort,
    "response_code" => ResponseCode,
    "size_download" => SizeDownload,
    "size_header" => SizeHeader,
    "speed_download" => SpeedDownload,
    "time_connect" => TimeConnect,
    "time_namelookup" => TimeNamelookup,
    "time_starttransfer" => TimeStarttransfer,
    "time_total" => TimeTotal,
    "url" => Url,
    "url_effective" => UrlEffective,
}

/// A variable's value: numbers are written bare in `%{json}`, the rest as strings.
enum Value {
    Num(String),
    Str(String),
}

impl Format {
    /// Parses `-w`'s argument (already read from a file for `@FILE`). `%{name}` is a
    /// variable, `%header{name}` a response field, `%%` a `%`; `\n`, `\r`, `\t` and `\\`
    /// are the characters they name (as curl).
    ///
    /// # Errors
    ///
    /// An unknown variable or an unterminated `%{`, in words.
    pub fn parse(s: &str) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let tail = &rest[c.len_utf8()..];
            match c {
                '%' if tail.starts_with('%') => {
                    text.push('%');
                    rest = &tail[1..];
                }
                '%' if tail.starts_with('{') || tail.starts_with("header{") => {
                    let open = tail.find('{').unwrap_or(0);
                    let close = tail
                        .find('}')
                        .ok_or_else(|| format!("unterminated %{} in {s:?}", &tail[..=open]))?;
                    let name = &tail[open + 1..close];
                    let piece = if open > 0 {
                        Piece::Header(name.to_ascii_lowercase())
                    } else {
                        match name {
                            "json" => Piece::Var(Var::Json),
                            "stdout" => Piece::To(Stream::Stdout),
                            "stderr" => Piece::To(Stream::Stderr),
                            _ => Piece::Var(
                                VARS.iter()
                                    .find(|(n, _)| *n == name)
                                    .map(|(_, v)| *v)
                                    .ok_or_else(|| format!("unknown variable %{{{name}}}"))?,
                            ),
                        }
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                    rest = &tail[close + 1..];
                }
                '\\' => {
                    let (out, used) = match tail.chars().next() {
                        Some('n') => ('\n', 1),
                        Some('r') => ('\r', 1),
                        Some('t') => ('\t', 1),
                        Some('\\') => ('\\', 1),
                        _ => ('\\', 0),
                    };
                    text.push(out);
                    rest = &tail[used..];
                }
                c => {
                    text.push(c);
                    rest = tail;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Format(pieces))
    }

    /// The output for `r`: what goes to stdout and what goes to stderr.
    pub fn render(&self, r: &Report) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut to = Stream::Stdout;
        for p in &self.0 {
            let dst = if to == Stream::Stdout {
                &mut out
            } else {
                &mut err
            };
            match p {
                Piece::Text(t) => dst.extend_from_slice(t.as_bytes()),
                Piece::Var(Var::Json) => dst.extend_from_slice(json(r).as_bytes()),
                Piece::Var(v) => match value(*v, r) {
                    Value::Num(s) | Value::Str(s) => dst.extend_from_slice(s.as_bytes()),
                },
                Piece::Header(name) => dst.extend_from_slice(header(r, name).as_bytes()),
                Piece::To(s) => to = *s,
            }
        }
        (out, err)
    }

    /// Writes the output for `r` to stdout and stderr.
    pub fn write(&self, r: &Report) {
        let (out, err) = self.render(r);
        if !out.is_empty() {
            let mut o = io::stdout().lock();
            let _ = o.write_all(&out).and_then(|()| o.flush());
        }
        if !err.is_empty() {
            let _ = io::stderr().lock().write_all(&err);
        }
    }
}

/// Seconds with six decimals, as curl writes times.
fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

fn value(v: Var, r: &Report) -> Value {
    use Value::{Num, Str};
    match v {
        Var::ContentType => Str(header(r, "content-type")),
        Var::ErrorMsg => Str(r.errormsg.clone()),
        Var::ExitCode => Num(r.exitcode.to_string()),
        Var::FilenameEffective => Str(r.filename_effective.clone()),
        Var::HttpCode | Var::ResponseCode => Num(format!("{:03}", r.http_code)),
        Var::HttpVersion => Str(r.http_version.to_string()),
        Var::Method => Str(r.method.clone()),
        Var::NumRedirects => Num(r.num_redirects.to_string()),
        Var::RedirectUrl => Str(r.redirect_url.clone()),
        Var::RemoteIp => Str(r.remote_ip.clone()),
        Var::RemotePort => Num(r.remote_port.to_string()),
        Var::SizeDownload => Num(r.size_download.to_string()),
        Var::SizeHeader => Num(r.size_header.to_string()),
        Var::SpeedDownload => {
            let t = r.time_total.as_secs_f64();
            let speed = if t > 0.0 {
                (r.size_download as f64 / t) as u64
            } else {
                0
            };
            Num(speed.to_string())
        }
        Var::TimeConnect => Num(secs(r.time_connect)),
        Var::TimeNamelookup => Num(secs(r.time_namelookup)),
        Var::TimeStarttransfer => Num(secs(r.time_starttransfer)),
        Var::TimeTotal => Num(secs(r.time_total)),
        Var::Url => Str(r.url.clone()),
        Var::UrlEffective => Str(r.url_effective.clone()),
        Var::Json => Str(json(r)),
    }
}

/// Every value of a field, joined with `, ` as curl does.
fn header(r: &Report, name: &str) -> String {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `%{json}`: every variable in one object.
fn json(r: &Report) -> String {
    let mut map = serde_json::Map::new();
    for (name, v) in VARS {
        let j = match value(*v, r) {
            // "000" is not a JSON number: curl writes 0.
            _ if matches!(v, Var::HttpCode | Var::ResponseCode) => r.http_code.into(),
            Value::Num(s) => serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)),
            Value::Str(s) => serde_json::Value::String(s),
        };
        map.insert((*name).to_string(), j);
    }
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        Report {
            url: "http://h/".into(),
            url_effective: "http://h/b".into(),
            method: "GET".into(),
            http_code: 200,
            http_version: "1.1",
            headers,
            num_redirects: 1,
            size_download: 13,
            time_total: Duration::from_millis(1500),
            ..Report::default()
        }
    }

    #[test]
    fn formats() {
        let cases = [
            ("plain", "plain"),
            ("%{http_code}\\n", "200\n"),
            ("%{url_effective} %{num_redirects}", "http://h/b 1"),
            ("%{content_type}|%header{X-A}", "text/plain|1, 2"),
            ("100%% %{size_download}", "100% 13"),
            ("%{time_total}\\t%{speed_download}", "1.500000\t8"),
            ("a\\qb\\\\", "a\\qb\\"),
            ("%{exitcode} %{errormsg}.", "0 ."),
        ];
        for (f, want) in cases {
            let (out, err) = Format::parse(f).unwrap().render(&report());
            assert_eq!(String::from_utf8(out).unwrap(), want, "{f:?}");
            assert!(err.is_empty());
        }
        let (out, err) = Format::parse("a%{stderr}b%{stdout}c")
            .unwrap()
            .render(&report());
        assert_eq!((out.as_slice(), err.as_slice()), (&b"ac"[..], &b"b"[..]));
        let r = Report::default();
        let (out, _) = Format::parse("%{http_code}").unwrap().render(&r);
        assert_eq!(out, b"000");
    }

    #[test]
    fn json_has_every_variable() {
        let (out, _) = Format::parse("%{json}").unwrap().render(&report());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["http_code"], 200);
        assert_eq!(v["url_effective"], "http://h/b");
        assert_eq!(v.as_object().unwrap().len(), VARS.len());
    }

    #[test]
    fn bad_formats() {
        assert_eq!(
            Format::parse("%{nope}").unwrap_err(),
            "unknown variable %{nope}"
        );
        assert!(Format::parse("%{http_code").is_err());
    }
}
