//! The client's side of one HTTP/1.1 exchange, sans-IO: the request head out, response heads
//! in (1xx skipped), then the framing of the response body and whether the connection can carry
//! another request. hyper keeps this in `proto/h1/role.rs`, ureq in ureq-proto's `Call`; every
//! client of this crate (the pooled connection, `ClientConn`, the `CONNECT` tunnel) runs its
//! exchanges through it and only moves the bytes.
//!
//! ```
//! use nethttp::proto::client::{encode_request, EncodeOptions, Exchange, Next};
//! use nethttp::proto::head::{parse_response, Parsed};
//! use nethttp::proto::{framing::Framing, Limits};
//! use nethttp::{HeaderMap, Method, Uri};
//!
//! let uri: Uri = "http://example.com/items?id=7".parse().unwrap();
//! let mut head = Vec::new();
//! let sent = encode_request(&mut head, &Method::GET, &uri, &HeaderMap::new(), Some(0),
//!     &EncodeOptions::default())?;
//! assert!(head.starts_with(b"GET /items?id=7 HTTP/1.1\r\nHost: example.com\r\n"));
//!
//! let mut exchange = Exchange::new(Method::GET, sent.close_after);
//! let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
//! let mut at = 0;
//! let response = loop {
//!     let Parsed::Complete { head, len } = parse_response(&wire[at..], &Limits::default())?
//!     else { unreachable!() };
//!     at += len;
//!     match exchange.on_head(head)? {
//!         Next::Continue | Next::Informational(_) => continue,
//!         Next::Upgrade(_) => unreachable!(),
//!         Next::Response(r) => break r,
//!     }
//! };
//! assert_eq!(response.framing, Framing::Length(2));
//! assert!(response.reusable);
//! # Ok::<(), nethttp::Error>(())
//! ```

use http::header::{
    ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH, EXPECT, HOST, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};

use super::framing::{self, Framing};
use super::head::{connection_has_token, wants_close, ResponseHead};
use super::write;
use crate::error::{Error, Result, TooLarge};

/// The most informational (1xx) responses accepted before a final one; more is an error
/// ([`TooLarge::Informational`]). Go allows 5 (`max1xxResponses`); servers that send progress
/// with `102 Processing` or hints with `103 Early Hints` may send a few more.
pub const MAX_INFORMATIONAL: usize = 16;

/// The form of a request's target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, Default)]
pub enum TargetForm<'a> {
    /// `/path?query`: to an origin server, or through a tunnel.
    #[default]
    Origin,
    /// `http://host/path?query`: to a forwarding proxy, with the proxy's credentials sent as
    /// `Proxy-Authorization` unless the request sets that field itself.
    Absolute {
        /// The proxy's credentials, if it has any.
        proxy_auth: Option<&'a HeaderValue>,
    },
}

/// How [`encode_request`] writes a head.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncodeOptions<'a> {
    /// The target's form. Default is [`TargetForm::Origin`].
    pub form: TargetForm<'a>,
    /// The `User-Agent` sent when the request has none. Default is `None` (none sent).
    pub user_agent: Option<&'a HeaderValue>,
    /// Ask the server to close the connection after this exchange (`Connection: close`, unless
    /// the request has a `Connection` field of its own). Default is false.
    pub close: bool,
    /// The `Accept-Encoding` sent after the request's fields when it has none: a client that
    /// decodes what it asks for (Go's `Transport` adds `Accept-Encoding: gzip` so). Default is
    /// `None` (none sent).
    pub accept_encoding: Option<&'a HeaderValue>,
}

/// What [`encode_request`] decided about the request it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// How the body goes out: `Some(n)` is `Content-Length: n` (zero for no body), `None` is
    /// chunked.
    pub body_len: Option<u64>,
    /// The request has a body and asked for `100 Continue` before sending it.
    pub expect_continue: bool,
    /// The connection cannot carry another request after this one (the request says
    /// `Connection: close`, or [`EncodeOptions::close`]).
    pub close_after: bool,
}

/// Writes the head of a request to `dst`: the request line with the target in `opts.form`,
/// `Host` (the request's own field, else the URI's authority without the scheme's default
/// port), a default `User-Agent`, the request's fields, a default `Accept-Encoding`, and the
/// framing fields for a body of `body_len` bytes (`None`: unknown, sent chunked). The
/// request's own `Host`, `Content-Length` and `Transfer-Encoding` fields are replaced by ours:
/// the framing is ours to decide. An empty body is framed with `Content-Length: 0` for
/// methods that normally carry one (POST, PUT, PATCH), as Go does, and with nothing for the
/// rest.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if there is no `Host` field and
/// the URI has no authority.
pub fn encode_request(
    dst: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body_len: Option<u64>,
    opts: &EncodeOptions<'_>,
) -> Result<Encoded> {
    let path = match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => pq.as_str(),
        _ => "/",
    };
    // An origin-form target is an absolute path (or `*` for OPTIONS).
    let slash = if path.starts_with('/') || path == "*" {
        ""
    } else {
        "/"
    };
    let target = match opts.form {
        TargetForm::Origin if slash.is_empty() => std::borrow::Cow::Borrowed(path),
        TargetForm::Origin => format!("/{path}").into(),
        TargetForm::Absolute { .. } => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let authority = uri.authority().map_or("", |a| a.as_str());
            // Credentials in the URL are never sent on the wire.
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{authority}{slash}{path}").into()
        }
    };
    write::request_line(dst, method, &target, Version::HTTP_11);
    if let TargetForm::Absolute {
        proxy_auth: Some(auth),
    } = opts.form
    {
        if !headers.contains_key(PROXY_AUTHORIZATION) {
            write::header(dst, "Proxy-Authorization", auth.as_bytes());
        }
    }
    match headers.get(HOST) {
        Some(h) => write::header(dst, "Host", h.as_bytes()),
        None => {
            let host = request_host(uri).ok_or_else(|| Error::invalid_input("url has no host"))?;
            write::header(dst, "Host", host.as_bytes());
        }
    }
    if !headers.contains_key(USER_AGENT) {
        if let Some(ua) = opts.user_agent {
            write::header(dst, "User-Agent", ua.as_bytes());
        }
    }
    for (name, value) in headers {
        if name == HOST || name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        // An empty User-Agent asks for none at all, as in Go (a proxy passing on a request
        // that had none sets it so).
        if name == USER_AGENT && value.is_empty() {
            continue;
        }
        write::header(dst, name.as_str(), value.as_bytes());
    }
    if let Some(ae) = opts.accept_encoding {
        if !headers.contains_key(ACCEPT_ENCODING) {
            write::header(dst, "Accept-Encoding", ae.as_bytes());
        }
    }
    let close_after = opts.close || connection_has_token(headers, "close");
    if opts.close && !headers.contains_key(CONNECTION) {
        write::header(dst, "Connection", b"close");
    }
    match body_len {
        Some(0) => {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                write::header(dst, "Content-Length", b"0");
            }
        }
        Some(n) => write::header_u64(dst, "Content-Length", n),
        None => write::header(dst, "Transfer-Encoding", b"chunked"),
    }
    write::end(dst);
    let expect_continue = body_len != Some(0)
        && headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Ok(Encoded {
        body_len,
        expect_continue,
        close_after,
    })
}

/// Writes a `CONNECT` request for a tunnel to `authority` (`host:port`, RFC 9110 §9.3.6): `Host`,
/// the proxy's credentials if there are any, then the fields of `headers` (Go's
/// `ProxyConnectHeader`) in the map's order. `proxy_auth` replaces a `Proxy-Authorization` in
/// `headers`, as the credentials of a proxy URL do in Go; `Host`, `Content-Length` and
/// `Transfer-Encoding` in `headers` are not sent (a `CONNECT` has no body).
///
/// ```
/// use nethttp::proto::client::encode_connect;
/// use nethttp::{HeaderMap, HeaderValue};
/// let mut headers = HeaderMap::new();
/// headers.insert("x-tenant", HeaderValue::from_static("blue"));
/// let mut dst = Vec::new();
/// encode_connect(&mut dst, "example.com:443", None, &headers);
/// assert_eq!(dst, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nx-tenant: blue\r\n\r\n");
/// ```
pub fn encode_connect(
    dst: &mut Vec<u8>,
    authority: &str,
    proxy_auth: Option<&HeaderValue>,
    headers: &HeaderMap,
) {
    write::request_line(dst, &Method::CONNECT, authority, Version::HTTP_11);
    write::header(dst, "Host", authority.as_bytes());
    if let Some(a) = proxy_auth {
        write::header(dst, "Proxy-Authorization", a.as_bytes());
    }
    for (name, value) in headers {
        if name == HOST
            || name == CONTENT_LENGTH
            || name == TRANSFER_ENCODING
            || (proxy_auth.is_some() && name == PROXY_AUTHORIZATION)
        {
            continue;
        }
        write::header(dst, name.as_str(), value.as_bytes());
    }
    write::end(dst);
}

/// The response side of one exchange: feed it each response head as it is parsed, and it says
/// what the head means for the exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    method: Method,
    close_after: bool,
    informational: usize,
}

/// What a response head means, from [`Exchange::on_head`].
#[derive(Debug)]
pub enum Next {
    /// `100 Continue`: send the body now, then read the next head.
    Continue,
    /// Another 1xx (`102`, `103`...): read the next head.
    Informational(ResponseHead),
    /// `101 Switching Protocols`: the connection now speaks another protocol; the bytes after
    /// this head are that protocol's.
    Upgrade(ResponseHead),
    /// The final response.
    Response(Final),
}

/// A final response head, with what follows from it.
#[derive(Debug)]
pub struct Final {
    /// The head.
    pub head: ResponseHead,
    /// How its body is framed (RFC 9112 §6.3).
    pub framing: Framing,
    /// The connection can carry another request once this body is read to its end: neither
    /// side asked to close, and the body does not run until the connection closes.
    pub reusable: bool,
}

impl Exchange {
    /// An exchange for a request with `method`; `close_after` as [`Encoded::close_after`].
    pub fn new(method: Method, close_after: bool) -> Exchange {
        Exchange {
            method,
            close_after,
            informational: 0,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Takes the next response head.
    ///
    /// # Errors
    ///
    /// [`TooLarge::Informational`] after more than [`MAX_INFORMATIONAL`] 1xx responses; the
    /// framing errors of [`framing::response`].
    pub fn on_head(&mut self, head: ResponseHead) -> Result<Next> {
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(Next::Upgrade(head));
        }
        if head.status.is_informational() {
            self.informational += 1;
            if self.informational > MAX_INFORMATIONAL {
                return Err(Error::too_large(TooLarge::Informational));
            }
            return Ok(if head.status == StatusCode::CONTINUE {
                Next::Continue
            } else {
                Next::Informational(head)
            });
        }
        let mut head = head;
        let framing = framing::response(&self.method, head.status, head.version, &head.headers)?;
        if framing == Framing::Chunked {
            // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and a recipient that
            // passes the message on must remove it (Go's `fixLength` deletes it): a proxy
            // copying these fields would otherwise frame the decoded body by the wrong length.
            head.headers.remove(CONTENT_LENGTH);
        }
        let reusable = !self.close_after
            && !wants_close(head.version, &head.headers)
            && framing != Framing::UntilClose;
        Ok(Next::Response(Final {
            head,
            framing,
            reusable,
        }))
    }
}

/// What a request to `uri` names as its host (HTTP/1's `Host`, HTTP/2's `:authority`): the
/// URL's authority without its userinfo (RFC 9110 §7.2, RFC 9113 §8.3.1: credentials never
/// travel there) and without the scheme's default port, as browsers and Go write it. `None`
/// for a URL with no authority.
pub(crate) fn request_host(uri: &Uri) -> Option<&str> {
    let host_port = super::uri::after_userinfo(uri.authority()?.as_str());
    Some(match (super::uri::explicit_port(uri), uri.scheme_str()) {
        (Some(80), Some("http")) | (Some(443), Some("https")) => super::uri::host_in(host_port),
        _ => host_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::head::{parse_response, Parsed};
    use crate::proto::Limits;
    use crate::ErrorKind;

    fn encode(method: Method, url: &str, fields: &[(&str, &str)], len: Option<u64>) -> String {
        encode_with(method, url, fields, len, &EncodeOptions::default())
    }

    fn encode_with(
        method: Method,
        url: &str,
        fields: &[(&str, &str)],
        len: Option<u64>,
        opts: &EncodeOptions<'_>,
    ) -> String {
        let mut headers = HeaderMap::new();
        for (n, v) in fields {
            headers.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut dst = Vec::new();
        encode_request(
            &mut dst,
            &method,
            &url.parse().unwrap(),
            &headers,
            len,
            opts,
        )
        .unwrap();
        String::from_utf8(dst).unwrap()
    }

    #[test]
    fn request_heads() {
        let ua = HeaderValue::from_static("nethttp/test");
        let gzip = HeaderValue::from_static("gzip");
        let auth = HeaderValue::from_static("Basic dTpw");
        let proxied = EncodeOptions {
            form: TargetForm::Absolute {
                proxy_auth: Some(&auth),
            },
            ..EncodeOptions::default()
        };
        let cases: [(&str, String, &str); 12] = [
            (
                "get_origin_form",
                encode(Method::GET, "http://h.example/a?b=1", &[], Some(0)),
                "GET /a?b=1 HTTP/1.1\r\nHost: h.example\r\n\r\n",
            ),
            (
                "default_port_omitted",
                encode(Method::GET, "http://h.example:80/", &[], Some(0)),
                "GET / HTTP/1.1\r\nHost: h.example\r\n\r\n",
            ),
            (
                "other_port_kept",
                encode(Method::GET, "http://h.example:8080", &[], Some(0)),
                "GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n",
            ),
            (
                "empty_post_says_zero",
                encode(Method::POST, "http://h/", &[], Some(0)),
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            ),
            (
                "sized_body",
                encode(Method::PUT, "http://h/x", &[("content-length", "99")], Some(5)),
                "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
            ),
            (
                "unknown_length_is_chunked",
                encode(Method::POST, "http://h/", &[("transfer-encoding", "gzip")], None),
                "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                "own_host_wins",
                encode(Method::GET, "http://h/", &[("host", "other")], Some(0)),
                "GET / HTTP/1.1\r\nHost: other\r\n\r\n",
            ),
            (
                "absolute_form_for_proxy",
                encode_with(Method::GET, "http://u:p@h:81/a", &[], Some(0), &proxied),
                "GET http://h:81/a HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\nHost: h:81\r\n\r\n",
            ),
            (
                "user_agent_and_close",
                encode_with(
                    Method::GET,
                    "http://h/",
                    &[],
                    Some(0),
                    &EncodeOptions {
                        user_agent: Some(&ua),
                        close: true,
                        ..EncodeOptions::default()
                    },
                ),
                "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: nethttp/test\r\nConnection: close\r\n\r\n",
            ),
            (
                "own_user_agent_kept",
                encode_with(
                    Method::GET,
                    "http://h/",
                    &[("user-agent", "mine")],
                    Some(0),
                    &EncodeOptions {
                        user_agent: Some(&ua),
                        ..EncodeOptions::default()
                    },
                ),
                "GET / HTTP/1.1\r\nHost: h\r\nuser-agent: mine\r\n\r\n",
            ),
            (
                "accept_encoding_after_the_fields",
                encode_with(
                    Method::POST,
                    "http://h/",
                    &[("x-a", "1")],
                    Some(2),
                    &EncodeOptions {
                        accept_encoding: Some(&gzip),
                        ..EncodeOptions::default()
                    },
                ),
                "POST / HTTP/1.1\r\nHost: h\r\nx-a: 1\r\nAccept-Encoding: gzip\r\nContent-Length: 2\r\n\r\n",
            ),
            (
                "own_accept_encoding_kept",
                encode_with(
                    Method::GET,
                    "http://h/",
                    &[("accept-encoding", "identity")],
                    Some(0),
                    &EncodeOptions {
                        accept_encoding: Some(&gzip),
                        ..EncodeOptions::default()
                    },
                ),
                "GET / HTTP/1.1\r\nHost: h\r\naccept-encoding: identity\r\n\r\n",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn request_decisions() {
        let mut dst = Vec::new();
        let mut headers = HeaderMap::new();
        headers.insert(EXPECT, HeaderValue::from_static("100-continue"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        let uri: Uri = "http://h/".parse().unwrap();
        let e = encode_request(
            &mut dst,
            &Method::PUT,
            &uri,
            &headers,
            Some(3),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(
            e,
            Encoded {
                body_len: Some(3),
                expect_continue: true,
                close_after: true
            }
        );
        // No body: nothing to wait for.
        let e = encode_request(
            &mut dst,
            &Method::PUT,
            &uri,
            &headers,
            Some(0),
            &Default::default(),
        )
        .unwrap();
        assert!(!e.expect_continue);
        // No host anywhere.
        let rel: Uri = "/only/a/path".parse().unwrap();
        let err = encode_request(
            &mut dst,
            &Method::GET,
            &rel,
            &HeaderMap::new(),
            Some(0),
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn connect_head() {
        let mut dst = Vec::new();
        let auth = HeaderValue::from_static("Basic eDp5");
        encode_connect(
            &mut dst,
            "origin.example:443",
            Some(&auth),
            &HeaderMap::new(),
        );
        assert_eq!(
            dst,
            b"CONNECT origin.example:443 HTTP/1.1\r\nHost: origin.example:443\r\nProxy-Authorization: Basic eDp5\r\n\r\n"
        );

        // Extra fields follow; the URL's credentials replace the map's, and framing and Host
        // fields in the map are not sent.
        let mut extra = HeaderMap::new();
        extra.insert("x-corp-id", HeaderValue::from_static("42"));
        extra.insert("proxy-authorization", HeaderValue::from_static("Bearer t"));
        extra.insert("host", HeaderValue::from_static("evil.example"));
        extra.insert("content-length", HeaderValue::from_static("5"));
        extra.append("x-corp-id", HeaderValue::from_static("43"));
        let cases: &[(&str, Option<&HeaderValue>, &[u8])] = &[
            (
                "url_credentials_win",
                Some(&auth),
                b"CONNECT o:443 HTTP/1.1\r\nHost: o:443\r\nProxy-Authorization: Basic eDp5\r\nx-corp-id: 42\r\nx-corp-id: 43\r\n\r\n",
            ),
            (
                "map_credentials_without_url_ones",
                None,
                b"CONNECT o:443 HTTP/1.1\r\nHost: o:443\r\nx-corp-id: 42\r\nx-corp-id: 43\r\nproxy-authorization: Bearer t\r\n\r\n",
            ),
        ];
        for (name, auth, want) in cases {
            let mut dst = Vec::new();
            encode_connect(&mut dst, "o:443", *auth, &extra);
            assert_eq!(
                String::from_utf8_lossy(&dst),
                String::from_utf8_lossy(want),
                "{name}"
            );
        }
    }

    fn head(wire: &str) -> ResponseHead {
        match parse_response(wire.as_bytes(), &Limits::default()).unwrap() {
            Parsed::Complete { head, .. } => head,
            Parsed::Partial => panic!("partial head in test: {wire:?}"),
        }
    }

    /// Feeds `heads` to an exchange; returns what the last one meant, as text.
    fn run(method: Method, close_after: bool, heads: &[&str]) -> String {
        let mut ex = Exchange::new(method, close_after);
        let mut last = String::new();
        for h in heads {
            last = match ex.on_head(head(h)) {
                Ok(Next::Continue) => "continue".into(),
                Ok(Next::Informational(h)) => format!("informational {}", h.status.as_u16()),
                Ok(Next::Upgrade(_)) => "upgrade".into(),
                Ok(Next::Response(f)) => {
                    format!(
                        "{} {:?} reusable={}",
                        f.head.status.as_u16(),
                        f.framing,
                        f.reusable
                    )
                }
                Err(e) => format!("error: {e}"),
            };
        }
        last
    }

    #[test]
    fn response_heads() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
        let cases: [(&str, String, &str); 9] = [
            (
                "sized",
                run(Method::GET, false, &[ok]),
                "200 Length(3) reusable=true",
            ),
            (
                "continue_then_final",
                run(Method::PUT, false, &["HTTP/1.1 100 Continue\r\n\r\n", ok]),
                "200 Length(3) reusable=true",
            ),
            (
                "early_hints",
                run(
                    Method::GET,
                    false,
                    &["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"],
                ),
                "informational 103",
            ),
            (
                "upgrade",
                run(
                    Method::GET,
                    false,
                    &["HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"],
                ),
                "upgrade",
            ),
            (
                "request_said_close",
                run(Method::GET, true, &[ok]),
                "200 Length(3) reusable=false",
            ),
            (
                "server_said_close",
                run(
                    Method::GET,
                    false,
                    &["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"],
                ),
                "200 Length(0) reusable=false",
            ),
            (
                "until_close",
                run(Method::GET, false, &["HTTP/1.1 200 OK\r\n\r\n"]),
                "200 UntilClose reusable=false",
            ),
            (
                "http10_default_close",
                run(
                    Method::GET,
                    false,
                    &["HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"],
                ),
                "200 Length(1) reusable=false",
            ),
            (
                "head_has_no_body",
                run(Method::HEAD, false, &[ok]),
                "200 Empty reusable=true",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn too_many_informational_responses() {
        let hint = "HTTP/1.1 103 Early Hints\r\n\r\n";
        let mut heads = vec![hint; MAX_INFORMATIONAL];
        heads.push("HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(run(Method::GET, false, &heads), "204 Empty reusable=true");
        let heads = vec![hint; MAX_INFORMATIONAL + 1];
        assert_eq!(
            run(Method::GET, false, &heads),
            "error: too many informational (1xx) responses"
        );
    }
}
