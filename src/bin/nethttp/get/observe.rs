//! What `get` learns while a request runs: `ClientTrace` hooks (on the transport's threads) and
//! a `RoundTripper` around the transport that sees every hop's response head (on the calling
//! thread). They feed `-v`, `-i` and the `-w` timings.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nethttp::client::{ClientTrace, RedirectAction, RedirectPolicy, RoundTripper, Transport};
use nethttp::{Error, ErrorKind, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};

use crate::human_duration;

/// One response head the client received: a redirect followed with -L, or the last one.
#[derive(Debug, Clone)]
pub struct Hop {
    pub method: Method,
    pub url: Uri,
    pub version: Version,
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Hop {
    /// The head as `-i` writes it: the status line, the fields, an empty line, with CRLFs
    /// as on the wire. Field names are as the client holds them (lowercase); the reason
    /// phrase is the standard one for the code.
    pub fn head_text(&self) -> String {
        let mut s = format!(
            "{} {}\r\n",
            version_str(self.version),
            status_line(self.status)
        );
        for (name, value) in &self.headers {
            s.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        s.push_str("\r\n");
        s
    }
}

/// Shared by the trace hooks, the redirect policy and the recording transport; one per run.
#[derive(Debug)]
pub struct Observer {
    /// -v: print `*`, `>` and `<` lines on stderr. False: only record.
    verbose: bool,
    /// The spelling of each request field the command line set (`-H`, `-A`, `-u`...), by its
    /// lowercase name: the client holds names in lowercase, and -v shows them as written.
    spellings: HashMap<String, String>,
    state: Mutex<State>,
}

/// What one attempt (a try of `--retry`) has seen so far. Reset by [`Observer::begin`].
#[derive(Debug)]
struct State {
    started: Instant,
    /// The request line of the request about to be written; taken by its first field.
    request_line: Option<String>,
    /// `host:port` of the connection being looked for.
    host_port: String,
    hops: Vec<Hop>,
    namelookup: Option<Duration>,
    connect: Option<Duration>,
    first_byte: Option<Duration>,
    /// The address the last connection was made to.
    remote: Option<SocketAddr>,
    /// Writing the request failed (the trace's `wrote_request(false)`).
    write_failed: bool,
}

/// The timings and the address of one attempt, for `-w`.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub namelookup: Duration,
    pub connect: Duration,
    pub starttransfer: Duration,
    pub remote: Option<SocketAddr>,
}

impl Observer {
    pub fn new(verbose: bool, spellings: HashMap<String, String>) -> Observer {
        Observer {
            verbose,
            spellings,
            state: Mutex::new(State::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints one `-v` line on stderr, in one write.
    pub fn line(&self, s: &str) {
        if self.verbose {
            let _ = io::stderr().lock().write_all(format!("{s}\n").as_bytes());
        }
    }

    /// Starts an attempt: clears what the previous one saw and restarts its clock.
    pub fn begin(&self) {
        *self.lock() = State::new();
    }

    /// The response heads received in this attempt, oldest first.
    pub fn hops(&self) -> Vec<Hop> {
        self.lock().hops.clone()
    }

    /// True if a byte of a response arrived in this attempt (a closed connection without
    /// one is curl's "empty reply").
    pub fn got_first_byte(&self) -> bool {
        self.lock().first_byte.is_some()
    }

    pub fn write_failed(&self) -> bool {
        self.lock().write_failed
    }

    pub fn timings(&self) -> Timings {
        let s = self.lock();
        let namelookup = s.namelookup.unwrap_or_default();
        let connect = s.connect.unwrap_or(namelookup);
        Timings {
            namelookup,
            connect,
            starttransfer: s.first_byte.unwrap_or_default(),
            remote: s.remote,
        }
    }

    /// Since the start of this attempt.
    pub fn elapsed(&self) -> Duration {
        self.lock().started.elapsed()
    }

    /// The hooks that feed this observer, for the request's `RequestOptions`.
    pub fn trace(self: &Arc<Self>) -> ClientTrace {
        let o = [(); 8].map(|()| Arc::clone(self));
        let [a, b, c, d, e, f, g, h] = o;
        ClientTrace::new()
            .on_get_conn(move |hp| a.lock().host_port = hp.to_string())
            .on_dns_done(move |_| {
                let mut s = b.lock();
                s.namelookup = Some(s.started.elapsed());
            })
            .on_connect_done(move |(addr, ok)| {
                if ok {
                    let mut s = c.lock();
                    s.connect = Some(s.started.elapsed());
                    s.remote = Some(addr);
                } else {
                    c.line(&format!("* connect to {addr} failed"));
                }
            })
            .on_got_conn(move |info| {
                let hp = d.lock().host_port.clone();
                if info.reused {
                    d.line(&format!(
                        "* connection to {hp} reused (idle {})",
                        human_duration(info.idle_time)
                    ));
                } else {
                    d.line(&format!("* new connection to {hp}"));
                }
            })
            .on_wrote_header_field(move |name, value| {
                let first = e.lock().request_line.take();
                if let Some(l) = first {
                    e.line(&l);
                }
                let shown = e
                    .spellings
                    .get(&name.to_ascii_lowercase())
                    .map_or(name, String::as_str);
                e.line(&format!("> {shown}: {}", String::from_utf8_lossy(value)));
            })
            .on_wrote_headers(move |()| f.line(">"))
            .on_wrote_request(move |ok| {
                if !ok {
                    g.lock().write_failed = true;
                }
            })
            .on_got_first_response_byte(move |()| {
                let mut s = h.lock();
                s.first_byte = Some(s.started.elapsed());
            })
    }

    /// -L: follows at most `max` redirects, saying so with -v.
    pub fn redirect_policy(self: &Arc<Self>, max: usize) -> RedirectPolicy {
        let v = Arc::clone(self);
        RedirectPolicy::custom(move |a| {
            if a.previous().len() > max {
                return RedirectAction::Error(Error::with_source(
                    ErrorKind::TooManyRedirects,
                    format!("at most {max} allowed (--max-redirs)"),
                ));
            }
            v.line(&format!(
                "* {} redirect to {}",
                status_line(a.status()),
                a.url()
            ));
            RedirectAction::Follow
        })
    }

    /// A request is about to go through the transport: its line is printed before its first
    /// field.
    fn sending(&self, method: &Method, uri: &Uri) {
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        self.lock().request_line = Some(format!("> {method} {target} HTTP/1.1"));
    }

    /// A response head arrived: recorded, and printed with -v.
    fn received(&self, method: Method, url: Uri, resp: &Response) {
        self.line(&format!(
            "< {} {}",
            version_str(resp.version),
            status_line(resp.status)
        ));
        for (name, value) in &resp.headers {
            self.line(&format!(
                "< {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        self.line("<");
        self.lock().hops.push(Hop {
            method,
            url,
            version: resp.version,
            status: resp.status,
            headers: resp.headers.clone(),
        });
    }
}

impl State {
    fn new() -> State {
        State {
            started: Instant::now(),
            request_line: None,
            host_port: String::new(),
            hops: Vec::new(),
            namelookup: None,
            connect: None,
            first_byte: None,
            remote: None,
            write_failed: false,
        }
    }
}

/// The transport, watched: every hop of a request (each redirect followed, then the last)
/// passes through `round_trip` on the calling thread, so its head is recorded here before
/// the client decides whether to follow it. The client decodes gzip after this, so the
/// recorded fields are the ones the server sent.
#[derive(Debug)]
pub struct Recording {
    pub transport: Transport,
    pub observer: Arc<Observer>,
    /// -L. Without it a redirect is the answer, and its `Location` is held back from the
    /// client, which would otherwise parse it (Go's order: before asking the policy) and fail
    /// the transfer on one that does not parse; `get` puts it back on the response.
    pub follow: bool,
}

impl RoundTripper for Recording {
    fn round_trip(&self, req: Request) -> nethttp::Result<Response> {
        let (method, url) = (req.method.clone(), req.uri.clone());
        self.observer.sending(&method, &url);
        let mut resp = self.transport.round_trip(req)?;
        self.observer.received(method, url, &resp);
        if !self.follow && resp.status.is_redirection() {
            resp.headers.remove(nethttp::http::header::LOCATION);
        }
        Ok(resp)
    }
}

pub fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/0.9",
    }
}

pub fn status_line(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}
