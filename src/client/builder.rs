//! `RequestBuilder`: one request built step by step (headers, query, form, multipart, JSON,
//! credentials); a client's settings (`ClientConfig`) and the policy are in mod.rs.

use std::fmt;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};

use super::redirect::basic_auth;
use super::response::Response;
use super::trace::{CancelToken, ClientTrace};
use super::Client;
use super::RequestOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::{Body, Request};

/// One request, built step by step and sent with [`send`](Self::send); from
/// [`Client::request`]. Each step that can fail (a bad header, say) keeps the first error and
/// `send` returns it.
///
/// ```no_run
/// # let client = nethttp::Client::new();
/// let resp = client
///     .request(nethttp::Method::GET, "http://127.0.0.1:8080/items")
///     .query(&[("tag", "a b"), ("limit", "10")])
///     .header("accept", "application/json")
///     .basic_auth("ann", Some("secret"))
///     .send()?;
/// # let _ = resp; Ok::<(), nethttp::Error>(())
/// ```
#[must_use = "a request builder does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    req: Result<Request>,
    timeout: Option<Duration>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("request", &self.req)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client,
            req: Request::new(method, url),
            timeout: None,
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Request) -> Result<()>) -> Self {
        if let Ok(req) = &mut self.req {
            if let Err(e) = f(req) {
                self.req = Err(e);
            }
        }
        self
    }

    /// Adds a header field (after any of the same name).
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.with(|req| {
            let n = HeaderName::try_from(name).map_err(|e| Error::from(e.into()))?;
            let v = HeaderValue::try_from(value).map_err(|e| Error::from(e.into()))?;
            req.headers.append(n, v);
            Ok(())
        })
    }

    /// Adds every field of `headers`.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|req| {
            let mut last = None;
            for (name, value) in headers {
                if let Some(n) = name {
                    last = Some(n);
                }
                if let Some(n) = &last {
                    req.headers.append(n.clone(), value);
                }
            }
            Ok(())
        })
    }

    /// Appends `pairs` to the URL's query, `application/x-www-form-urlencoded` as HTML forms
    /// and Go's `url.Values.Encode` do (`a b&c` becomes `a+b%26c`).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.with(|req| {
            if pairs.is_empty() {
                return Ok(());
            }
            let encoded = encode_pairs(pairs);
            let mut parts = req.uri.clone().into_parts();
            let (path, old) = match &parts.path_and_query {
                Some(pq) => (pq.path().to_string(), pq.query().map(str::to_string)),
                None => ("/".to_string(), None),
            };
            let query = match old.filter(|q| !q.is_empty()) {
                Some(q) => format!("{q}&{encoded}"),
                None => encoded,
            };
            parts.path_and_query = Some(
                format!("{path}?{query}")
                    .parse()
                    .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?,
            );
            req.uri = Uri::from_parts(parts)
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            Ok(())
        })
    }

    /// Sends `pairs` as an `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        self.with(|req| {
            req.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            req.replace_body(Body::from(encode_pairs(pairs)));
            Ok(())
        })
    }

    /// Sends `form` as a `multipart/form-data` body, with the `Content-Type` that names its
    /// boundary (Go's `multipart.Writer` and `FormDataContentType`). The parts are streamed as
    /// the request is written, files read from disk as they go; see
    /// [`multipart::Writer`](crate::multipart::Writer) for when the request has a
    /// `Content-Length` and when it can follow a 307/308 redirect. Feature `multipart`.
    ///
    /// ```no_run
    /// # let client = nethttp::Client::new();
    /// let mut form = nethttp::multipart::Writer::new();
    /// form.write_field("title", "holiday")?
    ///     .file("photo", "/tmp/beach.jpg")?;
    /// let resp = client
    ///     .request(nethttp::Method::POST, "http://127.0.0.1:8080/upload")
    ///     .multipart(form)
    ///     .send()?;
    /// # let _ = resp; Ok::<(), nethttp::Error>(())
    /// ```
    #[cfg(feature = "multipart")]
    pub fn multipart(self, form: crate::multipart::Writer) -> Self {
        self.with(|req| {
            let ct = HeaderValue::try_from(form.form_data_content_type())
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            req.headers.insert(header::CONTENT_TYPE, ct);
            req.replace_body(form.into_body());
            Ok(())
        })
    }

    /// Sends `value` serialised as JSON, with `Content-Type: application/json`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        self.with(|req| {
            let body = serde_json::to_vec(value)
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            req.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            req.replace_body(Body::from(body));
            Ok(())
        })
    }

    /// Sets `Authorization: Basic` for `user` and `password` (RFC 7617).
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.with(|req| {
            req.headers
                .insert(header::AUTHORIZATION, basic_auth(user, password));
            Ok(())
        })
    }

    /// Sets `Authorization: Bearer token` (RFC 6750).
    pub fn bearer_auth(self, token: &str) -> Self {
        self.with(|req| {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
            v.set_sensitive(true);
            req.headers.insert(header::AUTHORIZATION, v);
            Ok(())
        })
    }

    /// A time limit for this request as a whole (redirects and body included), counted from
    /// [`send`](Self::send) (or [`build`](Self::build)); the client's own timeout still
    /// applies if it is sooner. Replaces a [`deadline`](Self::deadline) set before; the last
    /// of the two wins.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.with(|req| {
            RequestOptions::of_mut(req).deadline = None;
            Ok(())
        })
    }

    /// A deadline for this request as a whole (redirects and body included); the client's own
    /// timeout still applies if it is sooner. Replaces a [`timeout`](Self::timeout) set
    /// before; the last of the two wins.
    pub fn deadline(mut self, deadline: std::time::Instant) -> Self {
        self.timeout = None;
        self.with(|req| {
            RequestOptions::of_mut(req).deadline = Some(deadline);
            Ok(())
        })
    }

    /// The token that cancels this request from another thread ([`RequestOptions::cancel`]).
    pub fn cancel(self, token: CancelToken) -> Self {
        self.with(|req| {
            RequestOptions::of_mut(req).cancel = Some(token);
            Ok(())
        })
    }

    /// Hooks that observe this request going through the transport
    /// ([`RequestOptions::trace`]).
    pub fn trace(self, trace: ClientTrace) -> Self {
        self.with(|req| {
            RequestOptions::of_mut(req).trace = trace;
            Ok(())
        })
    }

    /// Sets the body: anything that converts into a [`Body`] (`&str`, `String`, `Vec<u8>`,
    /// `bytes::Bytes`, a [`Body::replayable`] or [`Body::from_reader`]).
    pub fn body(self, body: impl Into<Body>) -> Self {
        let body = body.into();
        self.with(|req| {
            req.replace_body(body);
            Ok(())
        })
    }

    /// The request as built, without sending it.
    ///
    /// # Errors
    ///
    /// The first error of a building step ([`ErrorKind::InvalidInput`]).
    pub fn build(self) -> Result<Request> {
        let mut req = self.req?;
        if let Some(t) = self.timeout {
            RequestOptions::of_mut(&mut req).set_timeout(t);
        }
        Ok(req)
    }

    /// Sends the request through the client.
    ///
    /// # Errors
    ///
    /// The first error of a building step, or as [`Client::send`].
    pub fn send(self) -> Result<Response> {
        let client = self.client.clone();
        client.send(self.build()?)
    }
}

fn encode_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        crate::form::append_pair(&mut out, k.as_ref(), v.as_ref());
    }
    out
}
