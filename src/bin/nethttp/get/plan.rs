//! `get`'s command line made into a `Plan`, checked before anything is sent (every usage
//! error is found here), and the request of each attempt made from it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nethttp::client::{ClientConfig, RedirectPolicy, TransportConfig};
use nethttp::http::header::{self, HeaderName, HeaderValue};
use nethttp::multipart::{field_content_disposition, file_content_disposition, Writer};
use nethttp::net::{Resolve, TcpDialer};
use nethttp::server::Body;
use nethttp::{Client, Error, HeaderMap, Method, Request, Transport, Uri};

use super::observe::{Observer, Recording};
use super::output::Output;
use super::{exit, Args};
use crate::{parse_duration, Failure};

/// What the command line asks for, checked: every usage error is found here, before anything
/// is sent.
#[derive(Debug)]
pub struct Plan {
    pub url: String,
    /// `host:port` of the URL, for messages.
    pub target: String,
    pub method: Method,
    /// -I or HEAD: the head is the output and no body is read.
    pub head_only: bool,
    /// The fields to send, in order: -H's, then those the tool adds (-A, -e, -u, the body's
    /// Content-Type) unless -H set or removed them.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// How -v prints each field name the command line set, by its lowercase name.
    pub spellings: HashMap<String, String>,
    /// Ask for gzip and decode it.
    pub gzip: bool,
    pub payload: Payload,
    pub output: Output,
    pub connect_timeout: Option<Duration>,
    pub max_time: Option<Duration>,
    pub retry_delay: Duration,
    #[cfg(feature = "tls")]
    pub tls: nethttp::tls::ClientTls,
}

#[derive(Debug)]
pub enum Payload {
    None,
    Bytes(Bytes),
    /// One `-d @FILE`: streamed, and opened again for a 307/308 or a retry.
    File {
        path: PathBuf,
        len: u64,
    },
    Form(Vec<FormPart>),
}

/// One -F.
#[derive(Debug)]
pub enum FormPart {
    Text {
        name: String,
        value: String,
    },
    /// `name=@path`: a file part, read as the request goes out (a regular file) or read
    /// already (a pipe, a FIFO, a device: no length to declare before reading it).
    File {
        name: String,
        content: FileContent,
        filename: String,
        content_type: String,
    },
    /// `name=<path`: a field whose value is the file's content.
    FileValue {
        name: String,
        value: Bytes,
        content_type: Option<String>,
    },
}

/// A file part's bytes: streamed from a regular file, or read beforehand.
#[derive(Debug)]
pub enum FileContent {
    Stream { path: PathBuf, len: u64 },
    Bytes(Bytes),
}

/// One -H: a field to send, or (`Name:` with no value, as curl) one not to send.
enum HeaderArg {
    Set(HeaderName, HeaderValue, String),
    Remove(HeaderName),
}

impl Plan {
    pub fn new(args: &Args) -> Result<Plan, Failure> {
        let (url, uri) = crate::parse_url(&args.url).map_err(|f| Failure {
            code: exit::URL_MALFORMED,
            ..f
        })?;
        let scheme = uri.scheme_str().unwrap_or_default();
        let https = cfg!(feature = "tls") && scheme.eq_ignore_ascii_case("https");
        if !(scheme.eq_ignore_ascii_case("http") || https) {
            let speaks = if cfg!(feature = "tls") {
                "http and https"
            } else {
                "http only (built without feature tls)"
            };
            return Err(Failure::with_code(
                exit::UNSUPPORTED_PROTOCOL,
                format!("unsupported scheme {scheme:?} in {url:?}: nethttp speaks {speaks}"),
            ));
        }

        let connect_timeout =
            duration_flag("--connect-timeout", &args.connect_timeout, Zero::Refused)?;
        let max_time = duration_flag("--max-time", &args.max_time, Zero::Refused)?;
        // Zero is a wait like any other here: try again at once.
        let retry_delay =
            duration_flag("--retry-delay", &args.retry_delay, Zero::Allowed)?.unwrap_or_default();

        let payload = payload(args)?;
        let method = match (&args.method, &payload) {
            (Some(m), _) => Method::from_bytes(m.as_bytes())
                .map_err(|_| Failure::usage(format!("invalid method {m:?}")))?,
            (None, _) if args.head => Method::HEAD,
            (None, Payload::None) => Method::GET,
            (None, _) => Method::POST,
        };
        let head_only = args.head || method == Method::HEAD;
        if head_only && !matches!(payload, Payload::None) {
            return Err(Failure::usage(
                "-I (or -X HEAD) cannot send a body: drop -d, --json or -F",
            ));
        }

        let mut gzip = ClientConfig::default().gzip;
        let mut set: Vec<(HeaderName, HeaderValue)> = Vec::new();
        let mut removed: Vec<HeaderName> = Vec::new();
        let mut spellings = HashMap::new();
        for h in &args.headers {
            match header_arg(h)? {
                HeaderArg::Set(name, value, spelling) => {
                    spellings.insert(name.as_str().to_string(), spelling);
                    set.push((name, value));
                }
                HeaderArg::Remove(name) => {
                    if name == header::ACCEPT_ENCODING {
                        gzip = false;
                    }
                    set.retain(|(n, _)| *n != name);
                    removed.push(name);
                }
            }
        }
        if args.compressed && !cfg!(feature = "gzip") {
            return Err(Failure::usage(
                "--compressed needs nethttp built with feature gzip",
            ));
        }
        gzip |= args.compressed;
        // An empty User-Agent means none (the library's rule, and curl's -H 'User-Agent:').
        if removed.contains(&header::USER_AGENT) {
            set.push((header::USER_AGENT, HeaderValue::from_static("")));
        }

        // The fields the tool adds, each unless -H set it or removed it.
        let mut tool: Vec<(HeaderName, String)> = Vec::new();
        if let Some(ua) = &args.user_agent {
            tool.push((header::USER_AGENT, ua.clone()));
        }
        if let Some(r) = &args.referer {
            tool.push((header::REFERER, r.clone()));
        }
        if let Some(u) = &args.user {
            let Some((user, password)) = u.split_once(':') else {
                return Err(Failure::usage(format!(
                    "-u {u:?}: give the password as {u}:PASSWORD (nethttp does not prompt)"
                )));
            };
            tool.push((
                header::AUTHORIZATION,
                nethttp::proto::auth::basic_auth(user, password),
            ));
        }
        if !args.json.is_empty() {
            tool.push((header::CONTENT_TYPE, "application/json".into()));
            tool.push((header::ACCEPT, "application/json".into()));
        } else if !args.data.is_empty() {
            tool.push((
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            ));
        }
        for (name, value) in tool {
            if set.iter().any(|(n, _)| *n == name) || removed.contains(&name) {
                continue;
            }
            let value = HeaderValue::from_str(&value)
                .map_err(|_| Failure::usage(format!("invalid {name} value {value:?}")))?;
            spellings.insert(name.as_str().to_string(), canonical(&name));
            set.push((name, value));
        }

        let output = match (&args.output, args.remote_name) {
            (Some(p), _) if p.as_os_str() == "-" => Output::Stdout,
            (Some(p), _) => Output::File(p.clone()),
            (None, true) => Output::File(remote_name(&uri)?),
            (None, false) => Output::Stdout,
        };

        #[cfg(feature = "tls")]
        let tls = client_tls(args, connect_timeout)?;

        Ok(Plan {
            target: crate::target_of(&uri),
            url,
            method,
            head_only,
            headers: set,
            spellings,
            gzip,
            payload,
            output,
            connect_timeout,
            max_time,
            retry_delay,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// The client for every attempt: its transport (dialer, TLS) wrapped to record each hop.
    pub fn client(&self, args: &Args, observer: &Arc<Observer>) -> Client {
        let mut dialer = TcpDialer {
            resolver: Some(Arc::new(Resolver)),
            ..TcpDialer::default()
        };
        if let Some(t) = self.connect_timeout {
            dialer.connect_timeout = Some(t);
        }
        let transport = Transport::with_config(TransportConfig {
            dialer: Arc::new(dialer),
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            ..Default::default()
        });
        Client::with_config(ClientConfig {
            transport: Some(Arc::new(Recording {
                transport,
                observer: Arc::clone(observer),
                follow: args.location,
            })),
            timeout: self.max_time,
            redirect: if args.location {
                observer.redirect_policy(args.max_redirs)
            } else {
                RedirectPolicy::none()
            },
            gzip: self.gzip,
            ..Default::default()
        })
    }

    /// The request of one attempt; files are opened again for each.
    pub fn request(&self, client: &Client, observer: &Arc<Observer>) -> Result<Request, Failure> {
        let mut b = client.request(self.method.clone(), &self.url);
        for (name, value) in &self.headers {
            b = b.header(name.clone(), value.clone());
        }
        b = match &self.payload {
            Payload::None => b,
            Payload::Bytes(bytes) => b.body(bytes.clone()),
            Payload::File { path, len } => b.body(file_body(path, *len)),
            Payload::Form(parts) => b.multipart(form_writer(parts)?),
        };
        b.trace(observer.trace())
            .build()
            .map_err(|e| Failure::usage(format!("invalid request: {e}")))
    }
}

/// Whether a duration flag may be zero. A zero limit would fail every request at once (curl
/// takes it to mean no limit, which leaving the flag out already says).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Zero {
    Allowed,
    Refused,
}

/// A duration flag: a number and a unit, not negative. Parsed here rather than by clap so the
/// error is one line, as every other.
fn duration_flag(
    flag: &str,
    value: &Option<String>,
    zero: Zero,
) -> Result<Option<Duration>, Failure> {
    let Some(s) = value else { return Ok(None) };
    let bad = |why: &str| Failure::usage(format!("invalid {flag} {s:?}: {why}"));
    if s.trim_start().starts_with('-') {
        return Err(bad(match zero {
            Zero::Allowed => "must not be negative",
            Zero::Refused => "must be more than zero",
        }));
    }
    let d = parse_duration(s).map_err(|e| {
        // parse_duration says `invalid duration "2x": why` or `invalid duration unit ...`.
        let prefix = format!("invalid duration {:?}: ", s.trim());
        match e.strip_prefix(&prefix) {
            Some(why) => bad(why),
            None => bad(&e.replacen("invalid duration unit", "unknown unit", 1)),
        }
    })?;
    if d.is_zero() && zero == Zero::Refused {
        return Err(bad("must be more than zero (leave it out for no limit)"));
    }
    Ok(Some(d))
}

/// Parses one -H.
fn header_arg(s: &str) -> Result<HeaderArg, Failure> {
    let bad = || Failure::usage(format!("invalid header {s:?}: expected 'Name: value'"));
    let name_of = |n: &str| HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| bad());
    // curl's `Name;`: the field, empty.
    if let Some(n) = s.strip_suffix(';').filter(|n| !n.contains(':')) {
        return Ok(HeaderArg::Set(
            name_of(n)?,
            HeaderValue::from_static(""),
            n.trim().to_string(),
        ));
    }
    let (n, v) = s.split_once(':').ok_or_else(bad)?;
    if v.trim().is_empty() {
        return Ok(HeaderArg::Remove(name_of(n)?));
    }
    let (name, value) = crate::parse_header(s)?;
    Ok(HeaderArg::Set(name, value, n.trim().to_string()))
}

/// `Content-Type` for `content-type`: how the tool's own fields are shown by -v.
fn canonical(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The body from -d, --json or -F.
fn payload(args: &Args) -> Result<Payload, Failure> {
    let kinds = [
        !args.data.is_empty(),
        !args.json.is_empty(),
        !args.form.is_empty(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(Failure::usage(
            "-d, --json and -F each make the body: use one of them",
        ));
    }
    if !args.form.is_empty() {
        let parts = args
            .form
            .iter()
            .map(|f| form_part(f))
            .collect::<Result<Vec<_>, _>>()?;
        // Built once now so a bad field name is a usage error before anything is sent.
        form_writer(&parts)?;
        return Ok(Payload::Form(parts));
    }
    let (pieces, sep): (&[String], &[u8]) = if args.json.is_empty() {
        (&args.data, b"&")
    } else {
        (&args.json, b"")
    };
    match pieces {
        [] => Ok(Payload::None),
        // One file: streamed, not read into memory.
        [one] if one.starts_with('@') && one != "@-" => {
            let path = PathBuf::from(&one[1..]);
            match file_len(&path)? {
                Some(len) => Ok(Payload::File { path, len }),
                // A pipe (`@<(cmd)`), a FIFO or a device: its length is known only once
                // read, and its metadata says 0.
                None => Ok(Payload::Bytes(Bytes::from(
                    read_source(&one[1..]).map_err(|e| read_failure(&one[1..], &e))?,
                ))),
            }
        }
        _ => {
            let mut body = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    body.extend_from_slice(sep);
                }
                match p.strip_prefix('@') {
                    Some(src) => body.extend(read_source(src).map_err(|e| read_failure(src, &e))?),
                    None => body.extend_from_slice(p.as_bytes()),
                }
            }
            Ok(Payload::Bytes(Bytes::from(body)))
        }
    }
}

/// Parses one -F: `name=value`, `name=@path[;type=..][;filename=..]`, `name=<path[;type=..]`.
fn form_part(s: &str) -> Result<FormPart, Failure> {
    let bad = |why: &str| Failure::usage(format!("invalid -F {s:?}: {why}"));
    let (name, rest) = s
        .split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| bad("expected NAME=VALUE, NAME=@FILE or NAME=<FILE"))?;
    let name = name.to_string();
    let (file, from_file) = match (rest.strip_prefix('@'), rest.strip_prefix('<')) {
        (Some(f), _) => (f, true),
        (None, Some(f)) => (f, false),
        (None, None) => {
            return Ok(FormPart::Text {
                name,
                value: rest.to_string(),
            })
        }
    };
    let mut params = file.split(';');
    let path = PathBuf::from(params.next().unwrap_or_default());
    if path.as_os_str().is_empty() {
        return Err(bad("no file name after @ or <"));
    }
    let (mut content_type, mut filename) = (None, None);
    for p in params {
        match p.split_once('=') {
            Some(("type", t)) => content_type = Some(t.to_string()),
            Some(("filename", f)) if from_file => filename = Some(f.to_string()),
            _ => {
                return Err(bad(&format!(
                    "unknown parameter {p:?}: expected type= or filename="
                )))
            }
        }
    }
    if !from_file {
        let value =
            std::fs::read(&path).map_err(|e| read_failure(&path.display().to_string(), &e))?;
        return Ok(FormPart::FileValue {
            name,
            value: Bytes::from(value),
            content_type,
        });
    }
    let content = match file_len(&path)? {
        Some(len) => FileContent::Stream {
            path: path.clone(),
            len,
        },
        None => FileContent::Bytes(Bytes::from(
            std::fs::read(&path).map_err(|e| read_failure(&path.display().to_string(), &e))?,
        )),
    };
    let filename = filename.unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(FormPart::File {
        name,
        content,
        filename,
        content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
    })
}

/// The multipart body of -F, made for each attempt (files are opened as it is sent).
fn form_writer(parts: &[FormPart]) -> Result<Writer, Failure> {
    let bad = |e: Error| Failure::usage(format!("invalid -F: {e}"));
    let content_type = |t: &str| {
        HeaderValue::from_str(t).map_err(|_| Failure::usage(format!("invalid -F type {t:?}")))
    };
    let mut w = Writer::new();
    for p in parts {
        match p {
            FormPart::Text { name, value } => {
                w.write_field(name, value).map_err(bad)?;
            }
            FormPart::File {
                name,
                content,
                filename,
                content_type: ct,
            } => {
                let mut h = HeaderMap::new();
                h.insert(
                    header::CONTENT_DISPOSITION,
                    file_content_disposition(name, filename).map_err(bad)?,
                );
                h.insert(header::CONTENT_TYPE, content_type(ct)?);
                match content {
                    FileContent::Stream { path, len } => w.part(h, file_body(path, *len)),
                    FileContent::Bytes(b) => w.part(h, b.clone()),
                };
            }
            FormPart::FileValue {
                name,
                value,
                content_type: ct,
            } => {
                let mut h = HeaderMap::new();
                h.insert(
                    header::CONTENT_DISPOSITION,
                    field_content_disposition(name).map_err(bad)?,
                );
                if let Some(ct) = ct {
                    h.insert(header::CONTENT_TYPE, content_type(ct)?);
                }
                w.part(h, value.clone());
            }
        }
    }
    Ok(w)
}

/// The size of a file to send, checking now that it can be opened (exit 26 if not); `None`
/// if it is not a regular file (a pipe, a FIFO, a device), whose metadata does not give the
/// length it will yield.
fn file_len(path: &Path) -> Result<Option<u64>, Failure> {
    let cannot = |e: io::Error| read_failure(&path.display().to_string(), &e);
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if meta.is_dir() {
        return Err(cannot(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    File::open(path).map_err(cannot)?;
    Ok(Some(meta.len()))
}

/// A file's bytes as a body, opened again each time it is sent (a retry, a 307 or 308).
fn file_body(path: &Path, len: u64) -> Body {
    let path = path.to_path_buf();
    Body::replayable(Some(len), move || {
        Ok(Box::new(File::open(&path)?) as Box<dyn Read + Send>)
    })
}

/// `@FILE` or `@-`'s bytes.
pub fn read_source(src: &str) -> io::Result<Vec<u8>> {
    if src == "-" {
        let mut buf = Vec::new();
        io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(src)
    }
}

fn read_failure(src: &str, e: &io::Error) -> Failure {
    let what = if src == "-" { "standard input" } else { src };
    Failure::with_code(exit::READ_ERROR, format!("cannot read {what}: {e}"))
}

/// -O: the URL's last path segment, as curl (not decoded); exit 23 if there is none.
fn remote_name(uri: &Uri) -> Result<PathBuf, Failure> {
    let name = uri.path().rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err(Failure::with_code(
            exit::WRITE_ERROR,
            format!("-O: {uri} has no file name to save to; use -o FILE"),
        ));
    }
    Ok(PathBuf::from(name))
}

/// --cacert and -k.
#[cfg(feature = "tls")]
fn client_tls(
    args: &Args,
    connect_timeout: Option<Duration>,
) -> Result<nethttp::tls::ClientTls, Failure> {
    let mut tls = nethttp::tls::ClientTls {
        danger_accept_invalid_certs: args.insecure,
        ..Default::default()
    };
    if let Some(t) = connect_timeout {
        tls.handshake_timeout = t;
    }
    if let Some(path) = &args.cacert {
        let bad = |why: String| {
            Failure::with_code(
                exit::SSL_CACERT_BADFILE,
                format!("cannot use --cacert {}: {why}", path.display()),
            )
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        tls.add_root_certificates_pem(&pem).map_err(|e| {
            use std::error::Error as _;
            bad(e.source().map_or_else(|| e.to_string(), |s| s.to_string()))
        })?;
    }
    Ok(tls)
}

/// The system's resolver, except that names under `.invalid` fail at once: RFC 6761 §6.4
/// says they never resolve and resolvers should say so without asking a DNS server (which
/// offline costs its timeout).
#[derive(Debug)]
struct Resolver;

impl Resolve for Resolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        if h == "invalid" || h.ends_with(".invalid") {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "names under .invalid never resolve (RFC 6761)",
            ));
        }
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_args() {
        let set = |s: &str| match header_arg(s) {
            Ok(HeaderArg::Set(n, v, spelling)) => {
                (n.to_string(), v.to_str().unwrap().to_string(), spelling)
            }
            _ => panic!("{s:?} is not a field to set"),
        };
        assert_eq!(
            set("X-Trace-ID:  a: b "),
            ("x-trace-id".into(), "a: b".into(), "X-Trace-ID".into())
        );
        assert_eq!(
            set("X-Empty;"),
            ("x-empty".into(), "".into(), "X-Empty".into())
        );
        assert!(
            matches!(header_arg("Accept-Encoding:"), Ok(HeaderArg::Remove(n)) if n == header::ACCEPT_ENCODING)
        );
        for bad in ["no colon", "bad name: v", ": v", ";"] {
            assert_eq!(header_arg(bad).err().map(|f| f.code), Some(2), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        let d = |s: &str| duration_flag("--max-time", &Some(s.to_string()), Zero::Refused);
        assert_eq!(d("1.5s").unwrap(), Some(Duration::from_millis(1500)));
        for (input, want) in [
            (
                "0",
                "invalid --max-time \"0\": must be more than zero (leave it out for no limit)",
            ),
            ("-1s", "invalid --max-time \"-1s\": must be more than zero"),
            (
                "abc",
                "invalid --max-time \"abc\": expected a number and a unit, as 2s",
            ),
            (
                "2w",
                "invalid --max-time \"2w\": unknown unit \"w\": use ms, s, m or h",
            ),
        ] {
            let f = d(input).unwrap_err();
            assert_eq!((f.code, f.message.as_str()), (2, want), "{input:?}");
        }
        let delay = |s: &str| duration_flag("--retry-delay", &Some(s.to_string()), Zero::Allowed);
        assert_eq!(delay("0s").unwrap(), Some(Duration::ZERO));
        assert_eq!(
            delay("-2s").unwrap_err().message,
            "invalid --retry-delay \"-2s\": must not be negative"
        );
    }

    #[test]
    fn form_parts() {
        assert!(
            matches!(form_part("a=b;type=x"), Ok(FormPart::Text { value, .. }) if value == "b;type=x")
        );
        for (bad, want) in [
            ("novalue", "expected NAME=VALUE"),
            ("=x", "expected NAME=VALUE"),
            ("f=@", "no file name"),
        ] {
            let f = form_part(bad).unwrap_err();
            assert!(
                f.code == 2 && f.message.contains(want),
                "{bad:?}: {}",
                f.message
            );
        }
        let missing = form_part("f=@/nonexistent/x").unwrap_err();
        assert_eq!(missing.code, exit::READ_ERROR);
    }

    #[test]
    fn remote_names() {
        let n = |u: &str| remote_name(&u.parse().unwrap()).map_err(|f| f.code);
        assert_eq!(n("http://h/a/b.tar.gz?x=1"), Ok(PathBuf::from("b.tar.gz")));
        assert_eq!(n("http://h/"), Err(exit::WRITE_ERROR));
        assert_eq!(n("http://h/a/.."), Err(exit::WRITE_ERROR));
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical(&header::CONTENT_TYPE), "Content-Type");
        assert_eq!(canonical(&header::USER_AGENT), "User-Agent");
    }
}
