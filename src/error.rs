//! The one error type of the crate: a kind, a phase for timeouts, and an optional source.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::proto::h2::ErrorCode;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error from nethttp: what went wrong ([`ErrorKind`]) and, where there is one, the
/// lower-level error that caused it ([`source`](StdError::source)).
///
/// `Error` is `Send + Sync + 'static` and one pointer wide, so `Result<T, Error>` stays small on
/// hot paths.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    source: Option<Source>,
    /// What a connect or lookup was for, for the message: the `host:port` (or socket path)
    /// of a connect, the host of a lookup.
    subject: Option<Box<str>>,
    /// The request the error ended: its method (when known) and URL, password redacted.
    method: Option<http::Method>,
    url: Option<Box<str>>,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O error from the operating system; the source holds the [`io::Error`].
    Io,
    /// A connection could not be made (refused, unreachable, reset during the connect); the
    /// message names the `host:port`, the source holds the [`io::Error`]. A connect that ran
    /// out of time is [`Timeout`](Self::Timeout)`(`[`Connect`](TimeoutPhase::Connect)`)`.
    Connect,
    /// The host name could not be resolved to an address; the message names the host, the
    /// source holds the resolver's error.
    Dns,
    /// A deadline passed; the phase names what was being waited for.
    Timeout(TimeoutPhase),
    /// The operation was canceled by its caller.
    Canceled,
    /// The peer sent bytes that are not valid HTTP/1.x; the value names what was wrong.
    Malformed(Malformed),
    /// A message or one of its parts is larger than the configured limit.
    TooLarge(TooLarge),
    /// The peer sent an HTTP version other than HTTP/1.0 and HTTP/1.1 (a server answers 505).
    UnsupportedVersion,
    /// A `Transfer-Encoding` names a coding this crate does not implement (a server answers 501).
    UnsupportedTransferCoding,
    /// The connection closed before the named part of the message was complete.
    ConnectionClosed(ClosedDuring),
    /// A handler tried to write a body on a response that cannot have one (HEAD, 1xx, 204, 304).
    BodyNotAllowed,
    /// A handler wrote more body bytes than the `Content-Length` it declared.
    ContentLengthMismatch,
    /// The client followed more redirects than its policy allows.
    TooManyRedirects,
    /// The connection was taken over by [`hijack`]; the HTTP layer can no longer use it.
    ///
    #[cfg_attr(
        feature = "server",
        doc = "[`hijack`]: crate::server::ResponseWriter::hijack"
    )]
    #[cfg_attr(not(feature = "server"), doc = "[`hijack`]: crate#features")]
    Hijacked,
    /// The server is shutting down or closed and accepts no more work.
    ServerClosed,
    /// A request or response could not be built from the values given (a bad URL, header or
    /// method); the source says which.
    InvalidInput,
    /// The TLS handshake or a TLS record failed (bad certificate, wrong protocol, alert); the
    /// source says which.
    Tls,
    /// The server answered with a 4xx or 5xx status, from [`Response::error_for_status`].
    ///
    #[cfg_attr(
        feature = "client",
        doc = "[`Response::error_for_status`]: crate::client::Response::error_for_status"
    )]
    #[cfg_attr(
        not(feature = "client"),
        doc = "[`Response::error_for_status`]: crate#features"
    )]
    Status(http::StatusCode),
    /// An HTTP proxy answered a `CONNECT` with a status other than 200; no tunnel was made.
    ProxyConnect(http::StatusCode),
    /// A response body could not be decoded: a corrupt gzip or deflate stream, or JSON that
    /// does not fit the requested type; the source says what was wrong.
    Decode,
    /// A thread the work needs (a connection's reader or writer, a dial) could not be started;
    /// the source holds the operating system's error (usually a thread or memory limit).
    ThreadSpawn,
    /// The HTTP/2 peer broke a rule of RFC 9113 or RFC 7541 (HPACK); the value says whether the
    /// whole connection or one stream must end, and with which error code. The source says
    /// what was wrong.
    Http2(Http2Error),
}

/// An HTTP/2 protocol error (RFC 9113 §5.4), for [`ErrorKind::Http2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Http2Error {
    /// A connection error (§5.4.1): the connection ends with a `GOAWAY` carrying the code.
    Connection(ErrorCode),
    /// A stream error (§5.4.2): only the stream ends, with a `RST_STREAM` carrying the code;
    /// the connection goes on.
    Stream {
        /// The stream to reset.
        stream_id: u32,
        /// The code to reset it with.
        code: ErrorCode,
    },
}

impl Http2Error {
    /// The error code to send in the `GOAWAY` or `RST_STREAM`.
    pub fn code(&self) -> ErrorCode {
        match *self {
            Http2Error::Connection(code) | Http2Error::Stream { code, .. } => code,
        }
    }
}

/// The phase a [`ErrorKind::Timeout`] happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the TCP connection.
    Connect,
    /// The TLS handshake.
    TlsHandshake,
    /// Writing a request head or body.
    WriteRequest,
    /// Waiting for and reading a response head.
    ReadResponseHead,
    /// Waiting for `100 Continue` before sending a request body.
    ExpectContinue,
    /// Reading a request head (the server's `read_header_timeout`).
    ReadRequestHead,
    /// Reading a message body.
    ReadBody,
    /// Writing a response (the server's `write_timeout`).
    WriteResponse,
    /// A keep-alive connection waiting for its next request.
    Idle,
    /// Waiting for a pooled connection to become free.
    PoolWait,
    /// A whole exchange under one overall deadline (the client's `timeout`).
    Total,
    /// A server's graceful shutdown, waiting for connections to finish.
    Shutdown,
}

/// The part of a message that was malformed, for [`ErrorKind::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The request line (method, target, version).
    RequestLine,
    /// The method token.
    Method,
    /// The request target.
    Target,
    /// The status line of a response.
    StatusLine,
    /// The HTTP-version token.
    Version,
    /// A header field name, including whitespace before the colon.
    HeaderName,
    /// A header field value, including NUL, bare CR and bare LF.
    HeaderValue,
    /// A header line continued on the next line (obs-fold, RFC 9112 §5.2).
    ObsFold,
    /// A line ending that is not CRLF or LF, or a missing line ending.
    LineEnding,
    /// A missing, repeated or invalid `Host` header.
    Host,
    /// A `Content-Length` that is not one decimal number.
    ContentLength,
    /// A `Transfer-Encoding` that cannot frame the message.
    TransferEncoding,
    /// Both `Transfer-Encoding` and `Content-Length` on a request (RFC 9112 §6.1).
    ConflictingFraming,
    /// A chunk-size line.
    ChunkSize,
    /// A chunk extension.
    ChunkExtension,
    /// The CRLF that must follow chunk data.
    ChunkData,
    /// A trailer field.
    Trailer,
    /// The `Location` of a redirect response is not a URL the client can follow.
    Location,
    /// Form values (a query string or an `application/x-www-form-urlencoded` body) with a bad
    /// `%` escape, a `;`, or bytes that are not UTF-8.
    Form,
    /// A `multipart/form-data` body or its `Content-Type`: no usable boundary, a bad delimiter
    /// line or part header, a part that is not `form-data` or has no name, or a body that ends
    /// before its close delimiter.
    Multipart,
}

/// The limit a [`ErrorKind::TooLarge`] exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TooLarge {
    /// The request line alone is longer than the head limit (a server answers 414).
    RequestLine,
    /// The whole head is longer than the head limit (a server answers 431).
    Head,
    /// There are more header fields than the header-count limit (a server answers 431).
    HeaderCount,
    /// The trailer section is longer than the head limit.
    Trailers,
    /// The chunk extensions of one message are longer than their limit.
    ChunkExtensions,
    /// A body is longer than the limit set for it.
    Body,
    /// More informational (1xx) responses came before the final one than a client accepts
    /// ([`proto::client::MAX_INFORMATIONAL`](crate::proto::client::MAX_INFORMATIONAL)).
    Informational,
    /// A `multipart/form-data` body has more parts than its limit ([`MultipartLimits::max_parts`]).
    ///
    #[cfg_attr(
        feature = "multipart",
        doc = "[`MultipartLimits::max_parts`]: crate::proto::multipart::MultipartLimits::max_parts"
    )]
    #[cfg_attr(
        not(feature = "multipart"),
        doc = "[`MultipartLimits::max_parts`]: crate#features"
    )]
    Parts,
    /// The header section of one multipart part is longer, or has more fields, than its limit
    /// ([`MultipartLimits`]).
    ///
    #[cfg_attr(
        feature = "multipart",
        doc = "[`MultipartLimits`]: crate::proto::multipart::MultipartLimits"
    )]
    #[cfg_attr(
        not(feature = "multipart"),
        doc = "[`MultipartLimits`]: crate#features"
    )]
    PartHeader,
}

/// What was being read when a [`ErrorKind::ConnectionClosed`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedDuring {
    /// The message head (the peer closed partway through it, or before a response began).
    Head,
    /// The message body (fewer bytes than its framing promised).
    Body,
    /// Writing: the peer stopped reading or reset the connection.
    Write,
}

impl Error {
    /// Creates an error of `kind` with no source.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                source: None,
                subject: None,
                method: None,
                url: None,
            }),
        }
    }

    /// Creates an error of `kind` caused by `source`.
    pub fn with_source<E>(kind: ErrorKind, source: E) -> Error
    where
        E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    {
        let mut e = Error::new(kind);
        e.inner.source = Some(source.into());
        e
    }

    /// Names what a connect or a lookup was for (`host:port`, a host, a socket path), unless
    /// a name is already there: "cannot connect to 127.0.0.1:1".
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_subject(mut self, subject: impl fmt::Display) -> Error {
        if self.inner.subject.is_none() {
            self.inner.subject = Some(subject.to_string().into());
        }
        self
    }

    /// Names the request the error ended (`GET http://host/path`, password redacted), unless
    /// one is already named. `method` is `None` where only the URL is known.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_request(mut self, method: Option<&http::Method>, url: &http::Uri) -> Error {
        if self.inner.url.is_none() {
            let url = url.to_string();
            self.inner.url = Some(crate::proto::uri::redact(&url).into());
            self.inner.method = method.cloned();
        }
        self
    }

    /// Creates an [`ErrorKind::Malformed`] error.
    pub fn malformed(what: Malformed) -> Error {
        Error::new(ErrorKind::Malformed(what))
    }

    /// Creates an [`ErrorKind::TooLarge`] error.
    pub fn too_large(what: TooLarge) -> Error {
        Error::new(ErrorKind::TooLarge(what))
    }

    /// Creates an [`ErrorKind::Timeout`] error.
    pub fn timeout(phase: TimeoutPhase) -> Error {
        Error::new(ErrorKind::Timeout(phase))
    }

    /// Creates an [`ErrorKind::ConnectionClosed`] error.
    pub fn closed(during: ClosedDuring) -> Error {
        Error::new(ErrorKind::ConnectionClosed(during))
    }

    /// Creates an [`ErrorKind::ThreadSpawn`] error for the thread named `what` ("connection
    /// reader"), caused by `err`, the error `std::thread::Builder::spawn` returned.
    #[cfg(any(feature = "client", test))]
    pub(crate) fn thread_spawn(what: &str, err: io::Error) -> Error {
        Error::with_source(ErrorKind::ThreadSpawn, format!("{what}: {err}"))
    }

    /// Creates an [`ErrorKind::Http2`] connection error with `code`; `what` says what the peer
    /// did ("data frame on stream 0").
    pub fn h2_connection(code: ErrorCode, what: impl Into<String>) -> Error {
        Error::with_source(ErrorKind::Http2(Http2Error::Connection(code)), what.into())
    }

    /// Creates an [`ErrorKind::Http2`] stream error: `stream_id` is reset with `code`; `what`
    /// says what the peer did.
    pub fn h2_stream(stream_id: u32, code: ErrorCode, what: impl Into<String>) -> Error {
        let kind = ErrorKind::Http2(Http2Error::Stream { stream_id, code });
        Error::with_source(kind, what.into())
    }

    /// Creates an [`ErrorKind::InvalidInput`] error with a message naming what was wrong.
    pub fn invalid_input(msg: impl Into<String>) -> Error {
        Error::with_source(ErrorKind::InvalidInput, msg.into())
    }

    /// Wraps an I/O error met while doing `phase`: a timeout becomes
    /// [`ErrorKind::Timeout`]`(phase)`, an unexpected EOF or reset becomes
    /// [`ErrorKind::ConnectionClosed`], anything else [`ErrorKind::Io`].
    pub fn from_io(err: io::Error, phase: TimeoutPhase) -> Error {
        // Errors we made ourselves and passed through io::Read come back out unchanged.
        if err.get_ref().is_some_and(|e| e.is::<Error>()) {
            if let Some(inner) = err.into_inner() {
                if let Ok(e) = inner.downcast::<Error>() {
                    return *e;
                }
            }
            return Error::new(ErrorKind::Io);
        }
        let kind = match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout(phase),
            io::ErrorKind::UnexpectedEof => ErrorKind::ConnectionClosed(match phase {
                TimeoutPhase::ReadBody => ClosedDuring::Body,
                TimeoutPhase::WriteRequest | TimeoutPhase::WriteResponse => ClosedDuring::Write,
                _ => ClosedDuring::Head,
            }),
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
                if matches!(
                    phase,
                    TimeoutPhase::WriteRequest | TimeoutPhase::WriteResponse
                ) =>
            {
                ErrorKind::ConnectionClosed(ClosedDuring::Write)
            }
            _ => ErrorKind::Io,
        };
        Error::with_source(kind, err)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The URL of the request this error ended, with any password replaced by `xxxxx`; `None`
    /// for errors outside a client request (a server's, a parser's).
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// True if a deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout(_))
    }

    /// True if no connection could be made: the connect failed ([`ErrorKind::Connect`]), the
    /// host did not resolve ([`ErrorKind::Dns`]) or the connect timed out. Nothing of the
    /// request was sent, so it is safe to try again elsewhere.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Timeout(TimeoutPhase::Connect)
        )
    }

    /// True if the host name did not resolve ([`ErrorKind::Dns`]).
    pub fn is_dns(&self) -> bool {
        self.inner.kind == ErrorKind::Dns
    }

    /// True for a TLS failure ([`ErrorKind::Tls`]): a certificate that was not accepted, a
    /// protocol the peer does not speak, an alert. A handshake that ran out of time is a
    /// timeout instead.
    pub fn is_tls(&self) -> bool {
        self.inner.kind == ErrorKind::Tls
    }

    /// True for a 4xx or 5xx status turned into an error by [`error_for_status`];
    /// [`status`](Self::status) gives it.
    ///
    #[cfg_attr(
        feature = "client",
        doc = "[`error_for_status`]: crate::client::Response::error_for_status"
    )]
    #[cfg_attr(not(feature = "client"), doc = "[`error_for_status`]: crate#features")]
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Status(_))
    }

    /// The phase that timed out, if this is a timeout.
    pub fn timeout_phase(&self) -> Option<TimeoutPhase> {
        match self.inner.kind {
            ErrorKind::Timeout(p) => Some(p),
            _ => None,
        }
    }

    /// True if the operation was canceled.
    pub fn is_canceled(&self) -> bool {
        self.inner.kind == ErrorKind::Canceled
    }

    /// True if the peer sent something that is not valid HTTP/1.x, an unsupported version or
    /// transfer coding, or a message larger than a limit: the cases a server answers with 4xx
    /// or 5xx and then closes.
    pub fn is_parse(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Malformed(_)
                | ErrorKind::TooLarge(_)
                | ErrorKind::UnsupportedVersion
                | ErrorKind::UnsupportedTransferCoding
        )
    }

    /// True if the connection closed before a message was complete.
    pub fn is_closed(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::ConnectionClosed(_))
    }

    /// The status of an [`ErrorKind::Status`] or [`ErrorKind::ProxyConnect`] error.
    pub fn status(&self) -> Option<http::StatusCode> {
        match self.inner.kind {
            ErrorKind::Status(s) | ErrorKind::ProxyConnect(s) => Some(s),
            _ => None,
        }
    }

    /// True if the error came from the operating system's I/O.
    pub fn is_io(&self) -> bool {
        self.inner.kind == ErrorKind::Io
    }

    /// The status code a server answers this error with, for errors caused by the request's
    /// bytes; `None` for the rest.
    pub fn status_hint(&self) -> Option<http::StatusCode> {
        use http::StatusCode as S;
        Some(match self.inner.kind {
            ErrorKind::Malformed(_) => S::BAD_REQUEST,
            ErrorKind::TooLarge(TooLarge::RequestLine) => S::URI_TOO_LONG,
            ErrorKind::TooLarge(TooLarge::Head | TooLarge::HeaderCount) => {
                S::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ErrorKind::TooLarge(TooLarge::Body) => S::PAYLOAD_TOO_LARGE,
            // A request body a handler could not decode (`Request::read_json`).
            ErrorKind::Decode => S::BAD_REQUEST,
            ErrorKind::TooLarge(_) => S::BAD_REQUEST,
            ErrorKind::UnsupportedVersion => S::HTTP_VERSION_NOT_SUPPORTED,
            ErrorKind::UnsupportedTransferCoding => S::NOT_IMPLEMENTED,
            _ => return None,
        })
    }

    /// Turns this error into an [`io::Error`] that carries it, for returning from
    /// [`io::Read`] and [`io::Write`]; [`Error::from_io`] unwraps it again.
    ///
    /// A cancel becomes [`io::ErrorKind::Other`], never `Interrupted`: std's `read_to_end`,
    /// `read_exact` and `io::copy` (and readers built on them, such as a decompressor's) retry
    /// on `Interrupted`, so a cancel must not look like one.
    pub fn into_io(self) -> io::Error {
        let kind = match self.inner.kind {
            ErrorKind::Timeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::ConnectionClosed(_) => io::ErrorKind::UnexpectedEof,
            ErrorKind::Malformed(_)
            | ErrorKind::TooLarge(_)
            | ErrorKind::Decode
            | ErrorKind::Http2(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io => f.write_str("i/o error"),
            ErrorKind::Connect => f.write_str("cannot connect"),
            ErrorKind::Dns => f.write_str("cannot resolve host"),
            ErrorKind::Timeout(p) => write!(f, "timed out {p}"),
            ErrorKind::Canceled => f.write_str("request canceled"),
            ErrorKind::Malformed(m) => write!(f, "malformed message: {m}"),
            ErrorKind::TooLarge(t) => write!(f, "{t}"),
            ErrorKind::UnsupportedVersion => f.write_str("unsupported http version"),
            ErrorKind::UnsupportedTransferCoding => f.write_str("unsupported transfer coding"),
            ErrorKind::ConnectionClosed(ClosedDuring::Head) => {
                f.write_str("connection closed before message head was complete")
            }
            ErrorKind::ConnectionClosed(ClosedDuring::Body) => {
                f.write_str("connection closed before message body was complete")
            }
            ErrorKind::ConnectionClosed(ClosedDuring::Write) => {
                f.write_str("connection closed by peer while writing")
            }
            ErrorKind::BodyNotAllowed => f.write_str("response status does not allow a body"),
            ErrorKind::ContentLengthMismatch => {
                f.write_str("wrote more body bytes than the declared content-length")
            }
            ErrorKind::TooManyRedirects => f.write_str("stopped after too many redirects"),
            ErrorKind::Hijacked => f.write_str("connection has been hijacked"),
            ErrorKind::ServerClosed => f.write_str("server closed"),
            ErrorKind::InvalidInput => f.write_str("invalid input"),
            ErrorKind::Tls => f.write_str("tls error"),
            ErrorKind::Status(s) => write!(f, "server answered {}", StatusText(*s)),
            ErrorKind::ProxyConnect(s) => {
                write!(f, "proxy refused to open a tunnel: {}", StatusText(*s))
            }
            ErrorKind::Decode => f.write_str("cannot decode response body"),
            ErrorKind::ThreadSpawn => f.write_str("cannot start a thread"),
            ErrorKind::Http2(Http2Error::Connection(code)) => {
                write!(f, "http/2 connection error: {code}")
            }
            ErrorKind::Http2(Http2Error::Stream { stream_id, code }) => {
                write!(f, "http/2 stream error on stream {stream_id}: {code}")
            }
        }
    }
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::TlsHandshake => "during tls handshake",
            TimeoutPhase::WriteRequest => "writing request",
            TimeoutPhase::ReadResponseHead => "awaiting response head",
            TimeoutPhase::ExpectContinue => "awaiting 100 continue",
            TimeoutPhase::ReadRequestHead => "reading request head",
            TimeoutPhase::ReadBody => "reading body",
            TimeoutPhase::WriteResponse => "writing response",
            TimeoutPhase::Idle => "waiting on idle connection",
            TimeoutPhase::PoolWait => "waiting for a pooled connection",
            TimeoutPhase::Total => "before request completed",
            TimeoutPhase::Shutdown => "waiting for connections to finish",
        })
    }
}

/// A status code and its reason phrase in lowercase: "404 not found".
struct StatusText(http::StatusCode);

impl fmt::Display for StatusText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_u16())?;
        if let Some(reason) = self.0.canonical_reason() {
            write!(f, " {}", reason.to_ascii_lowercase())?;
        }
        Ok(())
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::RequestLine => "invalid request line",
            Malformed::Method => "invalid method",
            Malformed::Target => "invalid request target",
            Malformed::StatusLine => "invalid status line",
            Malformed::Version => "invalid http version",
            Malformed::HeaderName => "invalid header name",
            Malformed::HeaderValue => "invalid header value",
            Malformed::ObsFold => "obsolete line folding in header",
            Malformed::LineEnding => "invalid line ending",
            Malformed::Host => "missing, repeated or invalid host header",
            Malformed::ContentLength => "invalid content-length",
            Malformed::TransferEncoding => "invalid transfer-encoding",
            Malformed::ConflictingFraming => "both transfer-encoding and content-length",
            Malformed::ChunkSize => "invalid chunk size line",
            Malformed::ChunkExtension => "invalid chunk extension",
            Malformed::ChunkData => "chunk data not followed by crlf",
            Malformed::Trailer => "invalid trailer field",
            Malformed::Location => "invalid location in redirect",
            Malformed::Form => "invalid form encoding",
            Malformed::Multipart => "invalid multipart form data",
        })
    }
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TooLarge::RequestLine => "request line too long",
            TooLarge::Head => "message head too large",
            TooLarge::HeaderCount => "too many header fields",
            TooLarge::Trailers => "trailer section too large",
            TooLarge::ChunkExtensions => "chunk extensions too long",
            TooLarge::Body => "body larger than limit",
            TooLarge::Informational => "too many informational (1xx) responses",
            TooLarge::Parts => "too many multipart parts",
            TooLarge::PartHeader => "multipart part header too large",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.method, &self.inner.url) {
            (Some(m), Some(u)) => write!(f, "{m} {u}: ")?,
            (None, Some(u)) => write!(f, "{u}: ")?,
            _ => {}
        }
        fmt::Display::fmt(&self.inner.kind, f)?;
        if let Some(subject) = &self.inner.subject {
            match self.inner.kind {
                ErrorKind::Connect | ErrorKind::Timeout(TimeoutPhase::Connect) => {
                    write!(f, " to {subject}")?
                }
                ErrorKind::Dns => write!(f, " {subject}")?,
                _ => {}
            }
        }
        // For these kinds the kind alone says little: show what the source says inline
        // ("i/o error: connection refused"); messages given to invalid_input, and what a
        // decoder or a redirect limit reported, are the whole story.
        if matches!(
            self.inner.kind,
            ErrorKind::InvalidInput
                | ErrorKind::Tls
                | ErrorKind::Io
                | ErrorKind::Connect
                | ErrorKind::Dns
                | ErrorKind::Decode
                | ErrorKind::TooManyRedirects
                | ErrorKind::ThreadSpawn
                | ErrorKind::UnsupportedTransferCoding
                | ErrorKind::Malformed(Malformed::Location)
                | ErrorKind::Http2(_)
        ) {
            if let Some(src) = &self.inner.source {
                write!(f, ": {src}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(u) = &self.inner.url {
            d.field("url", u);
        }
        if let Some(s) = &self.inner.subject {
            d.field("subject", s);
        }
        if let Some(src) = &self.inner.source {
            d.field("source", src);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

impl From<io::Error> for Error {
    /// An I/O error outside any timed phase; a timeout is reported as
    /// [`TimeoutPhase::Total`]. Prefer [`Error::from_io`], which names the phase.
    fn from(err: io::Error) -> Error {
        Error::from_io(err, TimeoutPhase::Total)
    }
}

impl From<http::Error> for Error {
    fn from(err: http::Error) -> Error {
        Error::with_source(ErrorKind::InvalidInput, err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        err.into_io()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static_and_small() {
        fn assert_traits<T: Send + Sync + 'static + StdError>() {}
        assert_traits::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn display_is_lowercase_without_trailing_punctuation() {
        let cases = [
            Error::timeout(TimeoutPhase::ReadResponseHead),
            Error::malformed(Malformed::ContentLength),
            Error::too_large(TooLarge::HeaderCount),
            Error::closed(ClosedDuring::Head),
            Error::new(ErrorKind::Hijacked),
            Error::invalid_input("bad url"),
            Error::new(ErrorKind::Status(http::StatusCode::NOT_FOUND)),
            Error::new(ErrorKind::ProxyConnect(http::StatusCode::FORBIDDEN)),
            Error::with_source(ErrorKind::Decode, "corrupt deflate stream"),
            Error::with_source(ErrorKind::TooManyRedirects, "at most 10 allowed"),
            Error::too_large(TooLarge::Informational),
            Error::malformed(Malformed::Multipart),
            Error::too_large(TooLarge::Parts),
            Error::too_large(TooLarge::PartHeader),
            Error::thread_spawn("connection reader", io::ErrorKind::WouldBlock.into()),
            Error::with_source(ErrorKind::Connect, "refused").with_subject("h:1"),
            Error::with_source(ErrorKind::Dns, "no such host").with_subject("h"),
            Error::h2_connection(ErrorCode::FrameSize, "ping frame of 9 bytes"),
            Error::h2_stream(3, ErrorCode::Protocol, "window update of 0"),
            Error::h2_connection(ErrorCode::Unknown(0xabc), "x"),
        ];
        for e in cases {
            let s = e.to_string();
            assert!(!s.is_empty());
            assert_eq!(s, s.to_lowercase(), "{s}");
            assert!(!s.ends_with('.'), "{s}");
        }
        assert_eq!(
            Error::closed(ClosedDuring::Head).to_string(),
            "connection closed before message head was complete"
        );
        assert_eq!(
            Error::new(ErrorKind::Status(http::StatusCode::NOT_FOUND)).to_string(),
            "server answered 404 not found"
        );
        assert_eq!(
            Error::new(ErrorKind::ProxyConnect(http::StatusCode::FORBIDDEN)).to_string(),
            "proxy refused to open a tunnel: 403 forbidden"
        );
        assert_eq!(
            Error::malformed(Malformed::Multipart).to_string(),
            "malformed message: invalid multipart form data"
        );
        assert_eq!(
            Error::too_large(TooLarge::Parts).to_string(),
            "too many multipart parts"
        );
        assert_eq!(
            Error::too_large(TooLarge::PartHeader).to_string(),
            "multipart part header too large"
        );
        assert_eq!(
            Error::h2_connection(ErrorCode::Protocol, "data frame on stream 0").to_string(),
            "http/2 connection error: protocol error: data frame on stream 0"
        );
        assert_eq!(
            Error::h2_stream(5, ErrorCode::FlowControl, "window overflow").to_string(),
            "http/2 stream error on stream 5: flow control error: window overflow"
        );
    }

    #[test]
    fn context_names_the_request_and_the_address() {
        let e = Error::with_source(ErrorKind::Connect, io::Error::other("connection refused"))
            .with_subject("10.0.0.1:80")
            .with_subject("ignored: the first name stays");
        assert_eq!(
            e.to_string(),
            "cannot connect to 10.0.0.1:80: connection refused"
        );
        let e = e.with_request(
            Some(&http::Method::POST),
            &"http://u:pw@10.0.0.1/a?b".parse().unwrap(),
        );
        assert_eq!(e.url(), Some("http://u:xxxxx@10.0.0.1/a?b"));
        assert_eq!(
            e.to_string(),
            "POST http://u:xxxxx@10.0.0.1/a?b: cannot connect to 10.0.0.1:80: connection refused"
        );
        let t = Error::timeout(TimeoutPhase::Connect).with_subject("10.0.0.1:80");
        assert_eq!(t.to_string(), "timed out connecting to 10.0.0.1:80");
        assert!(t.is_connect() && t.is_timeout());
        // A subject means nothing to other kinds and is not shown.
        let other = Error::new(ErrorKind::Canceled).with_subject("x");
        assert_eq!(other.to_string(), "request canceled");
    }

    #[test]
    fn io_errors_map_to_phase_and_round_trip() {
        let e = Error::from_io(io::ErrorKind::WouldBlock.into(), TimeoutPhase::ReadBody);
        assert_eq!(e.timeout_phase(), Some(TimeoutPhase::ReadBody));
        assert!(e.source().is_some());

        let e = Error::from_io(io::ErrorKind::UnexpectedEof.into(), TimeoutPhase::ReadBody);
        assert_eq!(e.kind(), ErrorKind::ConnectionClosed(ClosedDuring::Body));

        let inner = Error::malformed(Malformed::ChunkSize);
        let back = Error::from_io(inner.into_io(), TimeoutPhase::ReadBody);
        assert_eq!(back.kind(), ErrorKind::Malformed(Malformed::ChunkSize));
    }

    /// std's read loops retry `Interrupted`: a cancel that looked like one would be read past
    /// (a second `read_to_end` on a cancelled gzip body spun forever).
    #[test]
    fn cancel_is_not_interrupted() {
        let io = Error::new(ErrorKind::Canceled).into_io();
        assert_ne!(io.kind(), io::ErrorKind::Interrupted);
        assert!(Error::from_io(io, TimeoutPhase::ReadBody).is_canceled());

        struct Canceled;
        impl io::Read for Canceled {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(Error::new(ErrorKind::Canceled).into_io())
            }
        }
        let mut out = Vec::new();
        let e = io::Read::read_to_end(&mut Canceled, &mut out).unwrap_err();
        assert!(Error::from_io(e, TimeoutPhase::ReadBody).is_canceled());
    }

    #[test]
    fn status_hints() {
        use http::StatusCode as S;
        let cases = [
            (ErrorKind::Malformed(Malformed::Host), Some(S::BAD_REQUEST)),
            (
                ErrorKind::TooLarge(TooLarge::RequestLine),
                Some(S::URI_TOO_LONG),
            ),
            (
                ErrorKind::TooLarge(TooLarge::Head),
                Some(S::REQUEST_HEADER_FIELDS_TOO_LARGE),
            ),
            (
                ErrorKind::UnsupportedVersion,
                Some(S::HTTP_VERSION_NOT_SUPPORTED),
            ),
            (
                ErrorKind::UnsupportedTransferCoding,
                Some(S::NOT_IMPLEMENTED),
            ),
            (ErrorKind::Io, None),
        ];
        for (kind, want) in cases {
            assert_eq!(Error::new(kind).status_hint(), want, "{kind:?}");
        }
    }
}
