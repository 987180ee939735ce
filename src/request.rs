//! `Request`: one HTTP request, for both roles (Go's `request.go`). A server hands it to a
//! handler; a client sends it. Client-only per-request settings (deadline, cancel, trace) are
//! not on it: they travel in its extensions as a `client::RequestOptions`, as Go's travel in
//! the request's context.

use std::fmt;
use std::net::SocketAddr;

use http::{Extensions, HeaderMap, Method, Uri, Version};

use crate::body::Body;
use crate::error::{Error, ErrorKind};
use crate::form::Form;
#[cfg(feature = "server")]
use crate::multipart::{read_form, FileHeader, MultipartForm, MultipartReader, DEFAULT_MAX_MEMORY};
#[cfg(feature = "server")]
use crate::proto::multipart::{self as wire, MultipartLimits};

/// The most of a form body [`Request::parse_form`] reads: 10 MiB, Go's limit.
///
#[cfg_attr(
    not(feature = "server"),
    doc = "[`Request::parse_form`]: crate#features"
)]
pub const MAX_FORM_BODY: u64 = 10 << 20;

/// An HTTP request, as Go's `http.Request`: received by a server and handed to a handler, or
/// built by a program (with [`Request::new`]) and sent by a client.
///
/// On the server the body streams from the connection as the handler reads it; on the client
/// it is what gets sent. See [`Body`].
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The request target as sent: usually origin-form (`/path?query`); absolute-form
    /// (`http://host/path`) from proxies; authority-form for `CONNECT`.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields (names lowercase).
    pub headers: HeaderMap,
    /// Typed values for middleware and handlers to pass along (as `http::Extensions`).
    pub extensions: Extensions,
    body: Body,
    remote_addr: Option<SocketAddr>,
    content_length: Option<u64>,
    path_values: Vec<(String, String)>,
    pattern: Option<String>,
    tls: bool,
    /// Set by a [`Client`](crate::Client) that decodes gzip: the transport asks for it on the
    /// wire (`Accept-Encoding: gzip`, as Go's `Transport` adds it) without a field in
    /// `headers`, whose lookups stay those of an empty map.
    #[cfg(feature = "gzip")]
    ask_gzip: bool,
    /// Set by `parse_form`: the body's and the query's values (Go's `r.Form`), and the body's
    /// alone (`r.PostForm`).
    form: Option<Form>,
    post_form: Option<Form>,
    /// Set by `parse_multipart_form`; its temporary files go when the request is dropped.
    #[cfg(feature = "server")]
    multipart: Option<MultipartForm>,
}

impl Request {
    /// A request with the given method and target, an empty body and no remote address: for
    /// tests and for handlers that call other handlers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `target` is not a valid URI.
    ///
    /// A space, a non-ASCII character or another byte RFC 3986 does not allow in the path or
    /// the query is percent-encoded first, as Go's client does (`/a b` becomes `/a%20b`, `/ü`
    /// becomes `/%C3%BC`); escapes already there stay as they are, and the fragment is dropped.
    /// See [`proto::uri`](crate::proto::uri) for the rules and where they differ from Go's.
    ///
    /// ```
    /// use nethttp::{Method, Request};
    /// let r = Request::new(Method::GET, "http://example.com/a b/ü?q=x y")?;
    /// assert_eq!(r.uri, "http://example.com/a%20b/%C3%BC?q=x%20y");
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn new(method: Method, target: &str) -> crate::Result<Request> {
        let invalid = |e: &dyn fmt::Display| {
            Error::invalid_input(format!(
                "invalid url {:?}: {e}",
                crate::proto::uri::redact(target)
            ))
        };
        let escaped = crate::proto::uri::escape_url(target).map_err(|e| invalid(&e))?;
        let uri: Uri = escaped.parse().map_err(|e| invalid(&e))?;
        Ok(Request::from_parts(
            method,
            uri,
            Version::HTTP_11,
            HeaderMap::new(),
            Body::empty(),
            None,
        ))
    }

    pub(crate) fn from_parts(
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        body: Body,
        remote_addr: Option<SocketAddr>,
    ) -> Request {
        let content_length = body.len_hint();
        Request {
            method,
            uri,
            version,
            headers,
            extensions: Extensions::new(),
            body,
            remote_addr,
            content_length,
            path_values: Vec::new(),
            pattern: None,
            tls: false,
            #[cfg(feature = "gzip")]
            ask_gzip: false,
            form: None,
            post_form: None,
            #[cfg(feature = "server")]
            multipart: None,
        }
    }

    /// A copy of the request, as Go's `Request.Clone`: method, target, version, fields,
    /// extensions, and a body that can be produced again (bytes, strings,
    /// [`Body::replayable`]). `None` if the body streams from a reader and cannot be read
    /// twice. A multipart form parsed on the original stays with it (its temporary files have
    /// one owner); parsed form values are copied.
    ///
    /// ```
    /// use nethttp::{Method, Request};
    /// let r = Request::new(Method::POST, "http://example.com/a")?.with_body("payload");
    /// let mut copy = r.try_clone().expect("an in-memory body can be cloned");
    /// assert_eq!(copy.uri, r.uri);
    /// assert_eq!(copy.body().read_to_vec(100)?, b"payload");
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn try_clone(&self) -> Option<Request> {
        let body = self.body.try_clone()?;
        let mut r = Request::from_parts(
            self.method.clone(),
            self.uri.clone(),
            self.version,
            self.headers.clone(),
            body,
            self.remote_addr,
        );
        r.extensions = self.extensions.clone();
        r.content_length = self.content_length;
        r.path_values = self.path_values.clone();
        r.pattern = self.pattern.clone();
        r.tls = self.tls;
        #[cfg(feature = "gzip")]
        {
            r.ask_gzip = self.ask_gzip;
        }
        r.form = self.form.clone();
        r.post_form = self.post_form.clone();
        Some(r)
    }

    /// Whether the transport is to add `Accept-Encoding: gzip` as it sends this request (when
    /// the request has no `Accept-Encoding` of its own, which the encoders check): a
    /// [`Client`](crate::Client) that decodes gzip marked it so. [`try_clone`](Self::try_clone)
    /// and [`into_http`](Self::into_http) then [`from_http`](Self::from_http) keep the mark; a
    /// request built anew does not have it.
    #[cfg(feature = "client")]
    pub(crate) fn asks_gzip(&self) -> bool {
        #[cfg(feature = "gzip")]
        return self.ask_gzip;
        #[cfg(not(feature = "gzip"))]
        false
    }

    /// Has the transport add `Accept-Encoding: gzip` ([`asks_gzip`](Self::asks_gzip)).
    #[cfg(feature = "gzip")]
    pub(crate) fn ask_gzip(&mut self) {
        self.ask_gzip = true;
    }

    /// The host the request is for: the authority of an absolute-form target if there is one
    /// (RFC 9112 §3.2.2), else the `Host` header; empty if neither is present.
    pub fn host(&self) -> &str {
        if let Some(a) = self.uri.authority() {
            return a.as_str();
        }
        self.headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    }

    /// The `User-Agent` field, if present and text.
    pub fn user_agent(&self) -> Option<&str> {
        self.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
    }

    /// The `Referer` field, if present and text.
    pub fn referer(&self) -> Option<&str> {
        self.headers
            .get(http::header::REFERER)
            .and_then(|v| v.to_str().ok())
    }

    /// The user name and password of an `Authorization: Basic` field (RFC 7617), as Go's
    /// `r.BasicAuth`: `None` without one, or when it is not valid base64 of `user:password` in
    /// UTF-8.
    #[cfg(feature = "server")]
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let v = self.headers.get(http::header::AUTHORIZATION)?;
        crate::proto::auth::parse_basic_auth(v.as_bytes())
    }

    /// Reads the body (at most `limit` bytes) and parses it as JSON into `T` (feature `json`):
    /// Go's `json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(&v)` in one call.
    ///
    /// # Errors
    ///
    /// [`TooLarge::Body`](crate::error::TooLarge::Body) past `limit` (413 from
    /// [`Error::status_hint`]); [`ErrorKind::Decode`] for a body that is not JSON of that shape
    /// (400); the body's read errors.
    #[cfg(feature = "json")]
    pub fn read_json<T: serde::de::DeserializeOwned>(&mut self, limit: u64) -> crate::Result<T> {
        let bytes = self.body.read_to_vec(limit)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::with_source(ErrorKind::Decode, e))
    }

    /// The first cookie named `name` in the request's `Cookie` fields, as Go's `r.Cookie`;
    /// cookies with an invalid name or value are skipped.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn cookie(&self, name: &str) -> Option<crate::cookie::Cookie> {
        crate::cookie::Cookie::parse_request(
            self.headers.get_all(http::header::COOKIE).iter(),
            Some(name),
        )
        .into_iter()
        .next()
    }

    /// Every valid cookie in the request's `Cookie` fields, in order, as Go's `r.Cookies`.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn cookies(&self) -> Vec<crate::cookie::Cookie> {
        crate::cookie::Cookie::parse_request(
            self.headers.get_all(http::header::COOKIE).iter(),
            None,
        )
    }

    /// Adds `cookie`'s name and value to the request's `Cookie` field, as Go's `AddCookie`:
    /// appended after `; ` to the field there is, or a new field. Its attributes are not sent
    /// (a request carries none). A cookie with an invalid name is not added and `false` comes
    /// back; value bytes RFC 6265 does not allow are dropped.
    ///
    /// ```
    /// use nethttp::{Cookie, Method, Request};
    /// let mut r = Request::new(Method::GET, "http://example.com/")?;
    /// r.add_cookie(&Cookie::new("session", "abc"));
    /// r.add_cookie(&Cookie::new("theme", "dark mode"));
    /// assert_eq!(r.headers["cookie"], "session=abc; theme=\"dark mode\"");
    /// assert!(!r.add_cookie(&Cookie::new("bad name", "x")));
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    #[cfg(any(feature = "client", feature = "server"))]
    pub fn add_cookie(&mut self, cookie: &crate::cookie::Cookie) -> bool {
        let Some(pair) = cookie.to_request_pair() else {
            return false;
        };
        let line = match self.headers.get(http::header::COOKIE) {
            Some(old) if !old.is_empty() => {
                format!("{}; {pair}", String::from_utf8_lossy(old.as_bytes()))
            }
            _ => pair,
        };
        match http::HeaderValue::from_str(&line) {
            Ok(v) => {
                self.headers.insert(http::header::COOKIE, v);
                true
            }
            Err(_) => false,
        }
    }

    /// Parses the query and, for POST, PUT and PATCH with `Content-Type:
    /// application/x-www-form-urlencoded`, the body, as Go's `r.ParseForm`: afterwards
    /// [`form`](Self::form) holds both (for each name the body's values first, then the
    /// query's) and [`post_form`](Self::post_form) the body's alone. The body is read up to
    /// [`MAX_FORM_BODY`]; a second call does nothing. `multipart/form-data` bodies are not read
    /// here.
    ///
    /// ```
    /// use nethttp::{Method, Request};
    ///
    /// let mut r = Request::new(Method::POST, "/search?q=go&page=2")?
    ///     .with_header("content-type", "application/x-www-form-urlencoded")?
    ///     .with_body("q=rust&lang=en");
    /// r.parse_form()?;
    /// let form = r.form().unwrap();
    /// assert_eq!(form.get_all("q").collect::<Vec<_>>(), ["rust", "go"]); // body first
    /// assert_eq!(r.post_form().unwrap().get("page"), None);
    /// assert_eq!(r.form_value("page"), Some("2"));
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TooLarge::Body`](crate::error::TooLarge::Body) for a body over the limit (a handler
    /// answers 413, [`Error::status_hint`]); [`Malformed::Form`](crate::error::Malformed::Form)
    /// for a bad escape, a `;` or text that is not UTF-8 (400); the body's read errors. The
    /// well-formed values are kept all the same, as Go keeps them.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn parse_form(&mut self) -> crate::Result<()> {
        if self.form.is_some() {
            return Ok(());
        }
        let mut first_err = None;
        let post = if matches!(self.method, Method::POST | Method::PUT | Method::PATCH)
            && self.content_type_is("application/x-www-form-urlencoded")
        {
            match self.body.read_to_vec(MAX_FORM_BODY) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        let (f, e) = Form::parse_lenient(&text);
                        first_err = e;
                        f
                    }
                    Err(e) => {
                        // Keep the pairs that are UTF-8, as Go's ParseQuery keeps the rest of
                        // the body; only the pairs with a raw non-UTF-8 byte are lost.
                        first_err = Some(Error::malformed(crate::error::Malformed::Form));
                        let mut form = Form::new();
                        for pair in e.as_bytes().split(|&b| b == b'&') {
                            if let Ok(p) = std::str::from_utf8(pair) {
                                let (f, _) = Form::parse_lenient(p);
                                for (n, v) in f.iter() {
                                    form.add(n, v);
                                }
                            }
                        }
                        form
                    }
                },
                Err(e) => {
                    first_err = Some(e);
                    Form::new()
                }
            }
        } else {
            Form::new()
        };
        let (query, e) = Form::parse_lenient(self.uri.query().unwrap_or(""));
        first_err = first_err.or(e);
        self.form = Some(Form::merged(&post, &query));
        self.post_form = Some(post);
        first_err.map_or(Ok(()), Err)
    }

    /// The values [`parse_form`](Self::parse_form) found, body and query (Go's `r.Form`);
    /// `None` before it ran.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn form(&self) -> Option<&Form> {
        self.form.as_ref()
    }

    /// The body's values alone (Go's `r.PostForm`); `None` before
    /// [`parse_form`](Self::parse_form) ran.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn post_form(&self) -> Option<&Form> {
        self.post_form.as_ref()
    }

    /// The first value of `name` in the form, body before query, as Go's `r.FormValue`: runs
    /// [`parse_form`](Self::parse_form) if it has not run, ignoring its error (call it yourself
    /// to see one).
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn form_value(&mut self, name: &str) -> Option<&str> {
        self.parse_any_form();
        self.form.as_ref()?.get(name)
    }

    /// The first value of `name` in the body's form alone, as Go's `r.PostFormValue`.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn post_form_value(&mut self, name: &str) -> Option<&str> {
        self.parse_any_form();
        self.post_form.as_ref()?.get(name)
    }

    /// What Go's `FormValue` parses on demand: a multipart form (with
    /// `multipart::DEFAULT_MAX_MEMORY`) or an
    /// urlencoded one.
    #[cfg(feature = "server")]
    fn parse_any_form(&mut self) {
        if self.multipart.is_none() && self.content_type_is("multipart/form-data") {
            let _ = self.parse_multipart_form(DEFAULT_MAX_MEMORY);
            return;
        }
        let _ = self.parse_form();
    }

    #[cfg(feature = "server")]
    fn content_type_is(&self, media_type: &str) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type))
    }

    /// The parts of a `multipart/form-data` body, one at a time as they arrive, as Go's
    /// `r.MultipartReader`: for uploads that should go straight to their destination, never
    /// into memory or a temporary file. Each part's file name is already reduced to its base
    /// name. Feature `server`.
    ///
    /// ```
    /// use std::io::Read;
    /// use nethttp::{Method, Request};
    ///
    /// let body = "--xyz\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"../a.txt\"\r\n\r\nhello\r\n--xyz--\r\n";
    /// let mut r = Request::new(Method::POST, "/upload")?
    ///     .with_header("content-type", "multipart/form-data; boundary=xyz")?
    ///     .with_body(body);
    /// let mut parts = r.multipart_reader()?;
    /// let mut part = parts.next_part()?.expect("one part");
    /// assert_eq!((part.name.as_str(), part.filename.as_deref()), ("doc", Some("a.txt")));
    /// let mut data = String::new();
    /// part.read_to_string(&mut data).map_err(nethttp::Error::from)?;
    /// assert_eq!(data, "hello");
    /// assert!(parts.next_part()?.is_none());
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Malformed::Multipart`](crate::error::Malformed::Multipart) if the body is not
    /// `multipart/form-data` with a valid boundary; [`ErrorKind::InvalidInput`] after
    /// [`parse_multipart_form`](Self::parse_multipart_form) read the body.
    #[cfg(feature = "server")]
    pub fn multipart_reader(&mut self) -> crate::Result<MultipartReader<'_>> {
        if self.multipart.is_some() {
            return Err(Error::invalid_input(
                "the multipart body was already read by parse_multipart_form",
            ));
        }
        let ct = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let boundary = wire::boundary(ct)?;
        Ok(MultipartReader::new(
            &mut self.body,
            &boundary,
            MultipartLimits::default(),
        ))
    }

    /// Reads a whole `multipart/form-data` body, as Go's `r.ParseMultipartForm(max_memory)`:
    /// the plain fields' values in memory (at most `max_memory` plus 10 MiB), each file in
    /// memory while it fits in what is left of `max_memory`, else in a temporary file, removed
    /// when the request is dropped. The values are added after the query's in
    /// [`form`](Self::form) and to [`post_form`](Self::post_form), as Go adds them; the files
    /// are in [`multipart_form`](Self::multipart_form) and [`form_file`](Self::form_file).
    /// A second call does nothing. Feature `server`.
    ///
    /// # Errors
    ///
    /// [`Malformed::Multipart`](crate::error::Malformed::Multipart) for a body that is not
    /// well-formed multipart (400), [`TooLarge::Parts`](crate::error::TooLarge::Parts) and
    /// [`TooLarge::PartHeader`](crate::error::TooLarge::PartHeader) past the parser's limits,
    /// [`TooLarge::Body`](crate::error::TooLarge::Body) for values over their limit; the body's
    /// read errors and a temporary file's write errors. No temporary file is left behind by a
    /// failed call.
    #[cfg(feature = "server")]
    pub fn parse_multipart_form(&mut self, max_memory: u64) -> crate::Result<()> {
        if self.multipart.is_some() {
            return Ok(());
        }
        let query_err = self.parse_form().err();
        let form = {
            let mut reader = self.multipart_reader()?;
            read_form(&mut reader, max_memory)?
        };
        for (name, value) in form.values.iter() {
            if let Some(f) = self.form.as_mut() {
                f.add(name, value);
            }
            if let Some(f) = self.post_form.as_mut() {
                f.add(name, value);
            }
        }
        self.multipart = Some(form);
        query_err.map_or(Ok(()), Err)
    }

    /// The form [`parse_multipart_form`](Self::parse_multipart_form) read; `None` before.
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn multipart_form(&self) -> Option<&MultipartForm> {
        self.multipart.as_ref()
    }

    /// The first file of field `name`, as Go's `r.FormFile`: parses the multipart form (with
    /// [`DEFAULT_MAX_MEMORY`](crate::multipart::DEFAULT_MAX_MEMORY)) if that has not been done.
    /// Read it with [`FileHeader::open`]. Feature `server`.
    ///
    /// # Errors
    ///
    /// As [`parse_multipart_form`](Self::parse_multipart_form);
    /// [`ErrorKind::InvalidInput`] if the form has no such file (Go's `ErrMissingFile`).
    #[cfg(feature = "server")]
    pub fn form_file(&mut self, name: &str) -> crate::Result<&FileHeader> {
        self.parse_multipart_form(DEFAULT_MAX_MEMORY)?;
        self.multipart
            .as_ref()
            .and_then(|m| m.file(name))
            .ok_or_else(|| Error::invalid_input(format!("no file field {name:?} in the form")))
    }

    /// True if the request arrived over TLS (Go's `r.TLS != nil`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    #[cfg(feature = "server")]
    pub(crate) fn set_tls(&mut self, tls: bool) {
        self.tls = tls;
    }

    /// The address of the client, if the request came over a network connection.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The body length when the framing states it (`Content-Length`, or zero for a request
    /// without a body); `None` for a chunked body.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The request body, to read from.
    pub fn body(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Replaces the body (for middleware that wraps it), returning the old one.
    pub fn replace_body(&mut self, body: Body) -> Body {
        self.content_length = body.len_hint();
        std::mem::replace(&mut self.body, body)
    }

    /// The value a router matched for the wildcard `name` (`{name}` or `{name...}` in the
    /// pattern), already percent-decoded; `None` if there is no such wildcard.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn path_value(&self, name: &str) -> Option<&str> {
        self.path_values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets the value of the wildcard `name`, as Go's `Request.SetPathValue`.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn set_path_value(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        if let Some(slot) = self.path_values.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.path_values.push((name, value));
        }
    }

    /// The router pattern that matched this request, if a router dispatched it.
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Records the pattern that matched (set by routers).
    ///
    /// Feature `server`.
    #[cfg(feature = "server")]
    pub fn set_pattern(&mut self, pattern: impl Into<String>) {
        self.pattern = Some(pattern.into());
    }

    /// The trailer fields of a chunked body, once the body has been read to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.body.trailers()
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.replace_body(body.into());
        self
    }

    /// Adds a header (builder style).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for an invalid name or value.
    pub fn with_header(mut self, name: &str, value: &str) -> crate::Result<Self> {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
        let v = http::HeaderValue::from_str(value)
            .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
        self.headers.append(n, v);
        Ok(self)
    }

    /// Converts an `http::Request` whose body can become a [`Body`].
    pub fn from_http<B: Into<Body>>(req: http::Request<B>) -> Request {
        let (parts, body) = req.into_parts();
        let mut r = Request::from_parts(
            parts.method,
            parts.uri,
            parts.version,
            parts.headers,
            body.into(),
            None,
        );
        r.extensions = parts.extensions;
        #[cfg(feature = "gzip")]
        {
            r.ask_gzip = r.extensions.remove::<AskGzip>().is_some();
        }
        r
    }

    /// Converts into an `http::Request` carrying the streaming body. A request a `Client`
    /// marked to ask for gzip (feature `gzip`) keeps the mark in the extensions, so that
    /// [`from_http`](Self::from_http) gives it back.
    pub fn into_http(self) -> http::Request<Body> {
        let mut req = http::Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers;
        *req.extensions_mut() = self.extensions;
        #[cfg(feature = "gzip")]
        if self.ask_gzip {
            req.extensions_mut().insert(AskGzip);
        }
        req
    }
}

/// The mark of [`Request::asks_gzip`] while the request is an `http::Request`
/// ([`Request::into_http`]); private, so only [`Request::from_http`] reads it.
#[cfg(feature = "gzip")]
#[derive(Clone, Copy, Debug)]
struct AskGzip;

impl<B: Into<Body>> From<http::Request<B>> for Request {
    fn from(req: http::Request<B>) -> Request {
        Request::from_http(req)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("remote_addr", &self.remote_addr)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}
