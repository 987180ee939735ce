//! TLS with rustls over any [`Stream`]: one session shared by a reader and a writer thread.
//!
//! Available with feature `tls` (on by default); [`ClientTls`] and [`connect`] also need `client`, [`ServerTls`] needs `server`.
//!
//! # How the session is split
//!
//! A pooled client connection has a reader thread and a writer thread, and a response may
//! arrive while a request body is still being written. Both threads must use the same rustls
//! session, so [`TlsStream`] holds it behind a lock that is **never held across socket I/O**:
//!
//! - **Reading** (the read direction is owned by whoever holds `reader`): take plaintext the
//!   session already has; if none, read ciphertext from the socket *without* the session lock,
//!   then lock the session, feed it the bytes and process them. Records the session wants to
//!   send in reply (a key update) are appended to the outgoing queue, never written from the
//!   reading side, so a reader is never stuck behind a full send buffer while the peer waits
//!   for us to read (the full-duplex deadlock).
//! - **Writing** (the write direction is owned by whoever holds `flusher`): first send what is
//!   queued, then lock the session, encrypt the plaintext and append the records to the queue
//!   (still under the session lock, so the queue is in record order), unlock, and send the
//!   queue. If the socket times out after the plaintext was taken, the records stay queued and
//!   [`Stream::flush`] (which `deadline::write_all` calls) sends them under the caller's
//!   deadline.
//!
//! Lock order: `flusher` → `session` → `queue`, and `reader` → `session` → `queue`. No lock but
//! the two direction owners (`reader`, `flusher`) is held across a blocking call.
//!
#![cfg_attr(
    not(feature = "client"),
    doc = "[`ClientTls`]: crate#features",
    doc = "[`connect`]: crate#features"
)]
#![cfg_attr(not(feature = "server"), doc = "[`ServerTls`]: crate#features")]

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
/// The rustls crate this module is built on, for custom `ClientConfig`/`ServerConfig`s
/// ([`ClientTls::config`], [`ServerTls::from_config`]) without a separate dependency.
///
#[cfg_attr(not(feature = "client"), doc = "[`ClientTls::config`]: crate#features")]
#[cfg_attr(
    not(feature = "server"),
    doc = "[`ServerTls::from_config`]: crate#features"
)]
pub use rustls;
#[cfg(feature = "client")]
use rustls::pki_types::ServerName;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName as ServerNameRef};

use crate::deadline::{self, TimeoutSlot};
use crate::error::{ClosedDuring, Error, ErrorKind, Result, TimeoutPhase};
use crate::net::Stream;

/// A TLS connection over a [`Stream`], itself a [`Stream`] usable by a reader thread and a
/// writer thread at once. See the module docs for how the session is shared.
pub struct TlsStream {
    sock: Box<dyn Stream>,
    /// The rustls session; never held across socket I/O.
    session: Mutex<rustls::Connection>,
    /// Encrypted records not yet written, in record order. Appended under `session`, drained
    /// by the holder of `flusher`.
    queue: Mutex<Vec<u8>>,
    /// Held across blocking socket writes: owning it is owning the write direction.
    flusher: Mutex<()>,
    /// Held across blocking socket reads: owning it is owning the read direction; holds
    /// ciphertext read from the socket and not yet taken by the session.
    reader: Mutex<Ciphertext>,
    /// The socket reached EOF.
    eof: AtomicBool,
    /// The first fatal TLS error; once set the session is not touched again.
    failed: Mutex<Option<rustls::Error>>,
}

/// Ciphertext read but not yet fed to the session: `buf[start..end]`. rustls takes at most
/// one record buffer at a time and holds at most 16 KiB of unread plaintext, so a large read
/// is fed in steps as the plaintext is drained.
struct Ciphertext {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the bytes given to the session stand in the record layer.
    records: Records,
}

/// Follows the TLS record framing (RFC 8446 §5.1: a 5-byte header whose last two bytes are
/// the length) of the bytes handed to the session, so an EOF can be told apart at a record
/// boundary (accepted without close_notify, as Go's crypto/tls does) from one in the middle
/// of a record (a truncation: `io.ErrUnexpectedEOF` in Go).
#[derive(Default)]
struct Records {
    header: [u8; 5],
    /// Header bytes seen of the record being started.
    have: usize,
    /// Body bytes still to come of the current record.
    left: usize,
}

impl Records {
    fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.left > 0 {
                let k = self.left.min(b.len());
                self.left -= k;
                b = &b[k..];
                continue;
            }
            let k = (5 - self.have).min(b.len());
            self.header[self.have..self.have + k].copy_from_slice(&b[..k]);
            self.have += k;
            b = &b[k..];
            if self.have == 5 {
                self.have = 0;
                self.left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
    }

    fn mid_record(&self) -> bool {
        self.have > 0 || self.left > 0
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.session.lock();
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("protocol", &s.protocol_version())
            .field("alpn", &s.alpn_protocol().map(String::from_utf8_lossy))
            .finish()
    }
}

const CIPHERTEXT_BUF: usize = 18 << 10;

fn tls_io_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, tls_error(e))
}

/// [`ErrorKind::Tls`] for a rustls error, in words a person can act on: the source is a
/// [`TlsFailure`] that says what was wrong ("certificate signed by an unknown authority")
/// and whose own source is the rustls error.
fn tls_error(e: rustls::Error) -> Error {
    Error::with_source(ErrorKind::Tls, TlsFailure::from(e))
}

/// A TLS failure described in words, with the rustls error behind it as its source. Go's
/// wording where Go has one (`x509: certificate signed by unknown authority`).
#[derive(Debug)]
struct TlsFailure {
    words: String,
    cause: rustls::Error,
}

impl From<rustls::Error> for TlsFailure {
    fn from(cause: rustls::Error) -> TlsFailure {
        TlsFailure {
            words: describe(&cause),
            cause,
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words)
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// What a rustls error means, in words.
fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return e.to_string();
    };
    match cert {
        C::UnknownIssuer => "certificate signed by an unknown authority".into(),
        C::Expired => "certificate has expired".into(),
        C::ExpiredContext { not_after, .. } => {
            format!("certificate expired on {}", utc(not_after.as_secs()))
        }
        C::NotValidYet => "certificate is not valid yet".into(),
        C::NotValidYetContext { not_before, .. } => {
            format!(
                "certificate is not valid until {}",
                utc(not_before.as_secs())
            )
        }
        C::NotValidForName => "certificate name does not match the host".into(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                ServerNameRef::DnsName(d) => d.as_ref().to_string(),
                ServerNameRef::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            format!(
                "certificate name does not match: it is valid for {}, not {expected}",
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    // rustls gives them as `DnsName("a.example")` or `IpAddress(127.0.0.1)`.
                    let plain = |p: &String| {
                        p.split_once('(')
                            .and_then(|(_, rest)| rest.strip_suffix(')'))
                            .map(|inner| inner.trim_matches('"'))
                            .map_or_else(|| p.clone(), str::to_string)
                    };
                    presented.iter().map(plain).collect::<Vec<_>>().join(", ")
                }
            )
        }
        C::Revoked => "certificate has been revoked".into(),
        C::BadSignature => "certificate signature is invalid".into(),
        C::BadEncoding => "certificate is malformed".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "certificate is not for this purpose (server or client authentication)".into()
        }
        C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                "certificate is a CA certificate, not a server's".into()
            }
            Some(webpki::Error::EndEntityUsedAsCa) => {
                "certificate chain uses a server's certificate as a CA".into()
            }
            Some(webpki::Error::PathLenConstraintViolated) => {
                "certificate chain is longer than a CA allows".into()
            }
            Some(webpki::Error::NameConstraintViolation) => {
                "certificate violates its CA's name constraints".into()
            }
            _ => format!("invalid certificate: {other}"),
        },
        other => format!("invalid certificate: {other:?}"),
    }
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(secs: u64) -> String {
    let t = crate::proto::date::civil(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

impl TlsStream {
    /// Runs the handshake of `conn` over `sock` by `deadline`, then returns the stream.
    fn handshake(
        sock: Box<dyn Stream>,
        mut conn: rustls::Connection,
        deadline: Option<Instant>,
    ) -> Result<TlsStream> {
        let is_client = matches!(conn, rustls::Connection::Client(_));
        let mut rslot = TimeoutSlot::default();
        let mut wslot = TimeoutSlot::default();
        let mut buf = vec![0u8; CIPHERTEXT_BUF];
        let mut first = true;
        let mut records = Records::default();
        let io_err = |e: io::Error| Error::from_io(e, TimeoutPhase::TlsHandshake);
        loop {
            while conn.wants_write() {
                let mut out = Vec::new();
                conn.write_tls(&mut out).map_err(io_err)?;
                deadline::write_all(&*sock, &mut wslot, deadline, &[&out]).map_err(io_err)?;
            }
            if !conn.is_handshaking() {
                break;
            }
            let n = deadline::read(&*sock, &mut rslot, deadline, &mut buf).map_err(io_err)?;
            if n == 0 {
                return Err(Error::closed(ClosedDuring::Head));
            }
            if first && is_client && buf[..n].starts_with(b"HTTP/") {
                // Go's check: the first bytes are a plain HTTP response, not a TLS record.
                return Err(Error::with_source(
                    ErrorKind::Tls,
                    "server gave HTTP response to HTTPS client",
                ));
            }
            if first && !is_client && looks_like_http(&buf[..n]) {
                // Go's answer, in plain text since there is no session.
                let _ = deadline::write_all(
                    &*sock,
                    &mut wslot,
                    deadline,
                    &[b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"],
                );
                return Err(Error::with_source(
                    ErrorKind::Tls,
                    "client sent an HTTP request to an HTTPS server",
                ));
            }
            first = false;
            let mut data = &buf[..n];
            while !data.is_empty() {
                // rustls takes nothing more once the peer has sent close_notify: without this
                // check the loop would spin forever on the bytes after it.
                let taken = conn.read_tls(&mut data).map_err(io_err)?;
                if taken == 0 {
                    return Err(Error::closed(ClosedDuring::Head));
                }
                let at = n - data.len();
                records.feed(&buf[at - taken..at]);
                if let Err(e) = conn.process_new_packets() {
                    // Tell the peer why before giving up.
                    let mut out = Vec::new();
                    let _ = conn.write_tls(&mut out);
                    let _ = deadline::write_all(&*sock, &mut wslot, deadline, &[&out]);
                    return Err(tls_error(e));
                }
            }
        }
        Ok(TlsStream {
            sock,
            session: Mutex::new(conn),
            queue: Mutex::new(Vec::new()),
            flusher: Mutex::new(()),
            reader: Mutex::new(Ciphertext {
                buf: Vec::new(),
                start: 0,
                end: 0,
                records,
            }),
            eof: AtomicBool::new(false),
            failed: Mutex::new(None),
        })
    }

    /// The ALPN protocol agreed, if any.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.session.lock().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// The TLS version agreed.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.session.lock().protocol_version()
    }

    /// Sends queued records; the caller holds `flusher`.
    fn flush_queue(&self) -> io::Result<()> {
        loop {
            let chunk = {
                let mut q = self.queue.lock();
                if q.is_empty() {
                    return Ok(());
                }
                std::mem::take(&mut *q)
            };
            let mut off = 0;
            while off < chunk.len() {
                match self.sock.write(&chunk[off..]) {
                    Ok(0) => {
                        self.requeue(&chunk[off..]);
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    Ok(k) => off += k,
                    Err(e) => {
                        self.requeue(&chunk[off..]);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Puts unsent bytes back at the front of the queue.
    fn requeue(&self, rest: &[u8]) {
        let mut q = self.queue.lock();
        let mut v = rest.to_vec();
        v.extend_from_slice(&q);
        *q = v;
    }
}

fn looks_like_http(b: &[u8]) -> bool {
    // A TLS record starts with a content type of 20..=24; an HTTP request with a method.
    !b.is_empty() && b[0].is_ascii_uppercase()
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Stream for TlsStream {
    fn read(&self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut ct = self.reader.lock();
        loop {
            if let Some(e) = self.failed.lock().clone() {
                return Err(tls_io_error(e));
            }
            {
                let mut s = self.session.lock();
                match s.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify. At a record boundary this is
                    // EOF, as in Go (HTTP frames its own messages, so a cut-off body is
                    // still caught by its framing; RFC 9112 §9.8 would want the alert for a
                    // body delimited by the close, which Go and most clients do not); in the
                    // middle of a record it is a truncation, as in Go: an error.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        if ct.records.mid_record() || ct.start < ct.end {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "tls: connection closed in the middle of a record",
                            ));
                        }
                        return Ok(0);
                    }
                    Err(e) => return Err(e),
                }
                if ct.start < ct.end {
                    // Feed buffered ciphertext, one step: the plaintext is drained above
                    // before more is taken.
                    let mut data = &ct.buf[ct.start..ct.end];
                    let before = data.len();
                    s.read_tls(&mut data)?;
                    let used = before - data.len();
                    let start = ct.start;
                    let Ciphertext { buf, records, .. } = &mut *ct;
                    records.feed(&buf[start..start + used]);
                    ct.start += used;
                    if let Err(e) = s.process_new_packets() {
                        *self.failed.lock() = Some(e.clone());
                        let mut q = self.queue.lock();
                        let _ = s.write_tls(&mut *q);
                        return Err(tls_io_error(e));
                    }
                    if s.wants_write() {
                        let mut q = self.queue.lock();
                        s.write_tls(&mut *q)?;
                    }
                    if used > 0 {
                        continue;
                    }
                }
                if self.eof.load(Ordering::SeqCst) {
                    return Ok(0);
                }
            }
            // Nothing to decrypt: read more ciphertext, holding no session lock.
            if ct.buf.len() < CIPHERTEXT_BUF {
                ct.buf.resize(CIPHERTEXT_BUF, 0);
            }
            if ct.start < ct.end {
                // The session took nothing although bytes are waiting: it needs the rest of
                // a record; keep what we have and append.
                let (start, end) = (ct.start, ct.end);
                ct.buf.copy_within(start..end, 0);
                ct.end = end - start;
                ct.start = 0;
                if ct.end == ct.buf.len() {
                    let len = ct.buf.len() * 2;
                    ct.buf.resize(len, 0);
                }
            } else {
                ct.start = 0;
                ct.end = 0;
            }
            let end = ct.end;
            let n = self.sock.read(&mut ct.buf[end..])?;
            if n == 0 {
                self.eof.store(true, Ordering::SeqCst);
                let mut s = self.session.lock();
                let _ = s.read_tls(&mut io::empty());
                let _ = s.process_new_packets();
                continue;
            }
            ct.end += n;
        }
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        let _owner = self.flusher.lock();
        // Earlier records first; failing here consumes no plaintext.
        self.flush_queue()?;
        let n = {
            let mut s = self.session.lock();
            let n = s.writer().write(data)?;
            let mut q = self.queue.lock();
            while s.wants_write() {
                s.write_tls(&mut *q)?;
            }
            n
        };
        match self.flush_queue() {
            Ok(()) => Ok(n),
            // The plaintext is taken and its records are queued: flush() sends them.
            Err(e) if is_timeout(&e) => Ok(n),
            Err(e) => Err(e),
        }
    }

    fn flush(&self) -> io::Result<()> {
        let _owner = self.flusher.lock();
        self.flush_queue()
    }

    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(d)
    }

    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(d)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        // Closing the write side (a server's lingering close) sends a close_notify first if the
        // write side is free, never waiting for it. A full shutdown (closing a connection from
        // another thread, in a Drop) only shuts the socket, so it never blocks.
        if how == Shutdown::Write {
            if let Some(_owner) = self.flusher.try_lock() {
                let mut s = self.session.lock();
                s.send_close_notify();
                let mut q = self.queue.lock();
                let _ = s.write_tls(&mut *q);
                drop(q);
                drop(s);
                let _ = self
                    .sock
                    .set_write_timeout(Some(Duration::from_millis(100)));
                let _ = self.flush_queue();
            }
        }
        self.sock.shutdown(how)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.sock.peer_addr()
    }
}

// ---------------------------------------------------------------------------------------------
// Client side.

/// TLS settings of a client transport (the client half of Go's `tls.Config` plus the
/// transport's `TLSHandshakeTimeout`). Set the fields, starting from `Default`:
///
/// ```
/// use std::time::Duration;
/// use nethttp::tls::ClientTls;
///
/// let tls = ClientTls {
///     handshake_timeout: Duration::from_secs(5),
///     ..ClientTls::default()
/// };
/// # let _ = tls;
/// ```
///
/// The default verifies certificates and host names against Mozilla's roots (or the
/// platform's with the `native-roots` feature), presents no client certificate, offers ALPN
/// `http/1.1` (a [`Transport`](crate::Transport) with HTTP/2 on, feature `http2`, offers `h2`
/// first), and allows 10 seconds for the handshake. A `Transport` builds the rustls
/// configuration from these settings once, at its first `https` dial, and keeps it.
#[cfg(feature = "client")]
#[derive(Clone)]
pub struct ClientTls {
    /// Certificates (DER) trusted as roots besides the default roots (Mozilla's, or the
    /// platform's with feature `native-roots`). Empty means the default roots only. Default is
    /// empty. Not used when [`config`](Self::config) is set or
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs) is true.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The certificate chain and key presented when a server asks for a client certificate.
    /// `None` presents none. Default is `None`. Not used when [`config`](Self::config) is set.
    pub client_auth: Option<ClientAuth>,
    /// **Danger:** with `true`, any server certificate is accepted, for any host name (the
    /// handshake signatures are still checked). Anyone on the path can then read and change
    /// the traffic; only for tests against throwaway certificates. Default is `false`. Not
    /// used when [`config`](Self::config) is set.
    pub danger_accept_invalid_certs: bool,
    /// A rustls configuration used as is. `Some` overrides `extra_roots`, `client_auth` and
    /// `danger_accept_invalid_certs`, and ALPN is left as the configuration has it. `None`
    /// means one is built from the other fields. Default is `None`.
    pub config: Option<Arc<rustls::ClientConfig>>,
    /// How long the TLS handshake may take, counted from its start (the request's own
    /// deadline still applies if it is sooner). Zero fails every handshake at once; there is
    /// no value meaning "no limit" (Go's zero), use a long duration instead. Default is 10
    /// seconds.
    pub handshake_timeout: Duration,
}

/// A client certificate chain and its private key, for [`ClientTls::client_auth`].
#[cfg(feature = "client")]
pub struct ClientAuth {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the leaf certificate.
    pub key: PrivateKeyDer<'static>,
}

#[cfg(feature = "client")]
impl Clone for ClientAuth {
    fn clone(&self) -> Self {
        ClientAuth {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

#[cfg(feature = "client")]
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "client")]
impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("extra_roots", &self.extra_roots.len())
            .field("client_auth", &self.client_auth)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("config", &self.config.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

#[cfg(feature = "client")]
impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            extra_roots: Vec::new(),
            client_auth: None,
            danger_accept_invalid_certs: false,
            config: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[cfg(feature = "client")]
impl ClientTls {
    /// Also trusts every certificate in the PEM text `pem` (appends them to
    /// [`extra_roots`](Self::extra_roots)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if the PEM holds no certificate or cannot be parsed; then
    /// `extra_roots` is unchanged.
    pub fn add_root_certificates_pem(&mut self, pem: &[u8]) -> Result<()> {
        let certs = certs_from_pem(pem)?;
        self.extra_roots.extend(certs);
        Ok(())
    }

    /// The rustls configuration these settings describe: [`config`](Self::config) if set,
    /// else a new one built from the other fields (loading the root store, so each call costs
    /// as much as the first; a [`Transport`](crate::Transport) calls it once and keeps the
    /// result).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if a root certificate or the client certificate and key are
    /// rejected.
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        if let Some(c) = &self.config {
            return Ok(Arc::clone(c));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_source(ErrorKind::Tls, e))?;
        let builder = if self.danger_accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            add_default_roots(&mut roots);
            for c in &self.extra_roots {
                roots
                    .add(c.clone())
                    .map_err(|e| Error::with_source(ErrorKind::Tls, e))?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.client_auth {
            Some(auth) => builder
                .with_client_auth_cert(auth.chain.clone(), auth.key.clone_key())
                .map_err(|e| Error::with_source(ErrorKind::Tls, e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(feature = "client")]
#[cfg(feature = "native-roots")]
fn add_default_roots(roots: &mut rustls::RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::warn!("loading a platform root certificate: {e}");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    log::debug!("platform roots: {added} added, {ignored} ignored");
}

#[cfg(feature = "client")]
#[cfg(not(feature = "native-roots"))]
fn add_default_roots(roots: &mut rustls::RootCertStore) {
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
}

/// Runs a client handshake for `host` over `sock` within `tls`'s handshake timeout (and
/// `deadline`), e.g. to run a [`ClientConn`] over TLS. Each call gets its rustls configuration
/// from [`ClientTls::rustls_config`]; to make many connections with one, build it once and
/// pass it in [`ClientTls::config`].
///
/// # Errors
///
/// [`ErrorKind::Tls`] for a certificate or protocol failure,
/// [`ErrorKind::Timeout`]([`TimeoutPhase::TlsHandshake`]) at the deadline, I/O errors.
///
#[cfg_attr(
    feature = "clientconn",
    doc = "[`ClientConn`]: crate::client::ClientConn"
)]
#[cfg_attr(not(feature = "clientconn"), doc = "[`ClientConn`]: crate#features")]
#[cfg(feature = "client")]
pub fn connect(
    sock: Box<dyn Stream>,
    host: &str,
    tls: &ClientTls,
    deadline: Option<Instant>,
) -> Result<TlsStream> {
    connect_with(
        sock,
        host,
        tls.rustls_config()?,
        tls.handshake_timeout,
        deadline,
    )
}

/// As [`connect`], with a rustls configuration already built (the transport's cached one).
#[cfg(feature = "client")]
pub(crate) fn connect_with(
    sock: Box<dyn Stream>,
    host: &str,
    config: Arc<rustls::ClientConfig>,
    handshake_timeout: Duration,
    deadline: Option<Instant>,
) -> Result<TlsStream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Error::with_source(ErrorKind::InvalidInput, e))?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| Error::with_source(ErrorKind::Tls, e))?;
    let deadline = deadline::earliest(deadline, deadline::after(Some(handshake_timeout)));
    TlsStream::handshake(sock, rustls::Connection::Client(conn), deadline)
}

/// The verifier behind [`ClientTls::danger_accept_invalid_certs`]: any certificate passes,
/// but handshake signatures are still checked (so the session keys are still the peer's).
#[cfg(feature = "client")]
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

#[cfg(feature = "client")]
impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Server side and PEM helpers.

/// A server's TLS settings: a certificate chain and key, ALPN `http/1.1` (and `h2` before it
/// when the server speaks HTTP/2: feature `http2`, `server::Http2Config::enabled`), and a
/// handshake timeout (10 seconds by default), applied on each connection's own thread.
#[cfg(feature = "server")]
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    /// How long a client may take to complete the handshake, counted from the start of the
    /// connection's thread. Zero fails every handshake at once; there is no value meaning
    /// "no limit". Default is 10 seconds.
    pub handshake_timeout: Duration,
}

#[cfg(feature = "server")]
impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "server")]
impl ServerTls {
    /// From a certificate chain (leaf first) and its private key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if the key does not match or is unsupported.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_source(ErrorKind::Tls, e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::with_source(ErrorKind::Tls, e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls::from_config(Arc::new(config)))
    }

    /// From PEM text: the certificate chain and the private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] if either cannot be parsed.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let chain = certs_from_pem(cert_pem)?;
        let key = key_from_pem(key_pem)?;
        ServerTls::new(chain, key)
    }

    /// From PEM files, as Go's `ListenAndServeTLS(certFile, keyFile)`.
    ///
    /// # Errors
    ///
    /// The read error, or as [`from_pem`](Self::from_pem).
    pub fn from_pem_files(
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::with_source(ErrorKind::Io, e))
        };
        ServerTls::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// A ready rustls configuration, used as is.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        ServerTls {
            config,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// These settings with ALPN offering HTTP/2 (`h2` first, then what was there, with
    /// `http/1.1` added if missing: Go's `http2.ConfigureServer`) if `h2`, else without `h2`.
    /// The rustls configuration is copied only if its list changes.
    pub(crate) fn with_h2(self, h2: bool) -> ServerTls {
        let has = self.config.alpn_protocols.iter().any(|p| p == b"h2");
        let has_h1 = self.config.alpn_protocols.iter().any(|p| p == b"http/1.1");
        if h2 == has && (!h2 || has_h1) {
            return self;
        }
        let mut config = (*self.config).clone();
        config.alpn_protocols.retain(|p| p != b"h2");
        if h2 {
            config.alpn_protocols.insert(0, b"h2".to_vec());
            if !has_h1 {
                config.alpn_protocols.push(b"http/1.1".to_vec());
            }
        }
        ServerTls {
            config: Arc::new(config),
            ..self
        }
    }

    /// Runs the server handshake over `sock`.
    pub(crate) fn accept(&self, sock: Box<dyn Stream>) -> Result<TlsStream> {
        let conn = rustls::ServerConnection::new(Arc::clone(&self.config))
            .map_err(|e| Error::with_source(ErrorKind::Tls, e))?;
        let deadline = deadline::after(Some(self.handshake_timeout));
        TlsStream::handshake(sock, rustls::Connection::Server(conn), deadline)
    }
}

/// Every certificate in PEM text.
///
/// # Errors
///
/// [`ErrorKind::Tls`] if there is none or one cannot be parsed.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| Error::with_source(ErrorKind::Tls, format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(Error::with_source(ErrorKind::Tls, "no certificate in pem"));
    }
    Ok(certs)
}

/// The first private key in PEM text.
///
/// # Errors
///
/// [`ErrorKind::Tls`] if there is none or it cannot be parsed.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| Error::with_source(ErrorKind::Tls, format!("{e:?}")))
}
