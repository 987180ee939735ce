//! `Body`: the body of a [`Request`](crate::Request), for both roles. A client sends it; a
//! server's comes from the connection, through a reader the server supplies (`Incoming`).

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use http::HeaderMap;

use crate::error::Error;

/// A request body: read it with [`std::io::Read`].
///
/// A client sends it: from memory (`From<Vec<u8>>`, `From<String>`...), from a reader
/// ([`from_reader`](Self::from_reader), [`sized`](Self::sized)) or, to allow retries and 307/308
/// redirects, from a reader made anew each time ([`replayable`](Self::replayable)).
///
/// On a server, a body from the network stops exactly at its framing boundary and reports a body cut short
/// by the client as an error ([`ErrorKind::ConnectionClosed`](crate::ErrorKind::ConnectionClosed)), never as a clean end. If the
/// request carried `Expect: 100-continue`, the first read sends `100 Continue`.
///
/// A body the handler leaves unread is drained by the server (up to 256 KiB) so the connection
/// can be reused; a larger remainder closes the connection after the response.
pub struct Body {
    kind: BodyKind,
    /// Boxed, as rare: a body is moved with its request through every layer, and a
    /// `HeaderMap` inline would make each move 96 bytes longer.
    trailers: Option<Box<HeaderMap>>,
}

enum BodyKind {
    Empty,
    Bytes {
        data: bytes::Bytes,
        pos: usize,
    },
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
    Replayable {
        make: MakeReader,
        len: Option<u64>,
        current: Option<Box<dyn Read + Send>>,
    },
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    Incoming(Box<dyn Incoming>),
}

type MakeReader = Arc<dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// A body that arrives over a connection: the server's request bodies. The message layer
/// knows nothing of connections; the role that owns the connection implements this (so a
/// build without feature `server` never makes one).
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) trait Incoming: Send {
    /// Reads body bytes; `Ok(0)` at the end of the body.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// The length the framing states, if it states one.
    fn known_len(&self) -> Option<u64>;
    /// The trailer fields, once the body has been read to its end.
    fn take_trailers(&mut self) -> Option<HeaderMap>;
    /// A handler's limit on the body ran out: the rest must not be read.
    fn mark_over_limit(&self);
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            kind: BodyKind::Empty,
            trailers: None,
        }
    }

    /// A body that reads from `r`, of unknown length (a client sends it chunked).
    pub fn from_reader(r: impl Read + Send + 'static) -> Body {
        Body {
            kind: BodyKind::Reader {
                reader: Box::new(r),
                len: None,
            },
            trailers: None,
        }
    }

    /// A body that reads exactly `len` bytes from `r` (a client sends `Content-Length: len`;
    /// a reader that ends early or runs long makes the request fail).
    pub fn sized(r: impl Read + Send + 'static, len: u64) -> Body {
        Body {
            kind: BodyKind::Reader {
                reader: Box::new(r),
                len: Some(len),
            },
            trailers: None,
        }
    }

    /// A body that can be produced again, by calling `make` for a fresh reader each time: a
    /// client can then retry the request or follow a 307/308 redirect with it (Go's
    /// `GetBody`). `len` is the length each reader yields, if known.
    ///
    /// ```
    /// use nethttp::Body;
    /// let path = std::env::temp_dir().join("upload.bin");
    /// let body = Body::replayable(None, move || {
    ///     Ok(Box::new(std::fs::File::open(&path)?) as Box<dyn std::io::Read + Send>)
    /// });
    /// assert!(body.try_clone().is_some());
    /// ```
    pub fn replayable<F>(len: Option<u64>, make: F) -> Body
    where
        F: Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync + 'static,
    {
        Body {
            kind: BodyKind::Replayable {
                make: Arc::new(make),
                len,
                current: None,
            },
            trailers: None,
        }
    }

    /// A copy of this body from its start, if it can be produced again: empty and in-memory
    /// bodies and [`replayable`](Self::replayable) ones can; streams cannot.
    pub fn try_clone(&self) -> Option<Body> {
        let kind = match &self.kind {
            BodyKind::Empty => BodyKind::Empty,
            BodyKind::Bytes { data, .. } => BodyKind::Bytes {
                data: data.clone(),
                pos: 0,
            },
            BodyKind::Replayable { make, len, .. } => BodyKind::Replayable {
                make: Arc::clone(make),
                len: *len,
                current: None,
            },
            BodyKind::Reader { .. } | BodyKind::Incoming(_) => return None,
        };
        Some(Body {
            kind,
            trailers: None,
        })
    }

    /// A body read whole, to be read again (Go's `drainBody` in `httputil`): it yields `data`
    /// from the start each time it is cloned, states `len` as the body it replaces did (so the
    /// message's framing stays as it was) and carries that body's `trailers`.
    #[cfg(all(feature = "client", feature = "server"))]
    pub(crate) fn read_again(
        data: bytes::Bytes,
        len: Option<u64>,
        trailers: Option<HeaderMap>,
    ) -> Body {
        let mut body = Body::replayable(len, move || {
            Ok(Box::new(io::Cursor::new(data.clone())) as Box<dyn Read + Send>)
        });
        body.trailers = trailers.map(Box::new);
        body
    }

    /// The body's length, when known before reading it.
    pub fn len_hint(&self) -> Option<u64> {
        self.known_len()
    }

    /// True if the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.known_len() == Some(0)
    }

    /// A body read from a connection by `incoming`.
    #[cfg(feature = "server")]
    pub(crate) fn incoming(incoming: Box<dyn Incoming>) -> Body {
        Body {
            kind: BodyKind::Incoming(incoming),
            trailers: None,
        }
    }

    /// Tells the server that a handler's limit on this body ran out (`MaxBytesReader`): it
    /// must not read the rest, so the connection closes after the response. Does nothing for
    /// a body that is not a server connection's.
    #[cfg(feature = "server")]
    pub(crate) fn mark_over_limit(&self) {
        if let BodyKind::Incoming(c) = &self.kind {
            c.mark_over_limit();
        }
    }

    /// The trailer fields of a chunked body, once the body has been read to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_deref()
    }

    fn known_len(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Bytes { data, pos } => Some((data.len() - pos) as u64),
            BodyKind::Reader { len, .. } | BodyKind::Replayable { len, .. } => *len,
            BodyKind::Incoming(c) => c.known_len(),
        }
    }

    /// Reads the whole body into memory, failing with [`crate::error::TooLarge::Body`] once it
    /// passes `limit` bytes.
    ///
    /// # Errors
    ///
    /// The body's read errors, or the size limit.
    pub fn read_to_vec(&mut self, limit: u64) -> crate::Result<Vec<u8>> {
        let mut out = Vec::new();
        read_to_end_with(&mut |b| self.read(b), &mut out, limit.saturating_add(1))
            .map_err(|e| Error::from_io(e, crate::error::TimeoutPhase::ReadBody))?;
        if out.len() as u64 > limit {
            return Err(Error::too_large(crate::error::TooLarge::Body));
        }
        // The buffer grows 8 KiB at a time; a small body need not keep that much.
        if out.capacity() - out.len() > 1024 {
            out.shrink_to_fit();
        }
        Ok(out)
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.kind {
            BodyKind::Empty => Ok(0),
            BodyKind::Bytes { data, pos } => {
                let n = (data.len() - *pos).min(buf.len());
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            BodyKind::Reader { reader, .. } => reader.read(buf),
            BodyKind::Replayable { make, current, .. } => {
                if current.is_none() {
                    *current = Some(make()?);
                }
                match current {
                    Some(r) => r.read(buf),
                    None => Ok(0),
                }
            }
            BodyKind::Incoming(c) => {
                let n = c.read(buf)?;
                if n == 0 && !buf.is_empty() && self.trailers.is_none() {
                    self.trailers = c.take_trailers().map(Box::new);
                }
                Ok(n)
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            BodyKind::Empty => "empty",
            BodyKind::Bytes { .. } => "bytes",
            BodyKind::Reader { .. } => "reader",
            BodyKind::Replayable { .. } => "replayable",
            BodyKind::Incoming(_) => "connection",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<bytes::Bytes> for Body {
    fn from(data: bytes::Bytes) -> Body {
        Body {
            kind: BodyKind::Bytes { data, pos: 0 },
            trailers: None,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(bytes::Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(s: &[u8]) -> Body {
        Body::from(s.to_vec())
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

/// `Read::read_to_end` through `read`, stopping after `limit` bytes. std's version is generic
/// and large (its buffer probing), and is compiled again for every reader type it is used
/// with, including each type made into a `dyn Read`; the crate's readers go through this one
/// function instead (compile time, docs/PERFORMANCE.md). The buffer grows with what has
/// been read, 8 KiB at first.
pub(crate) fn read_to_end_with(
    read: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
    out: &mut Vec<u8>,
    limit: u64,
) -> io::Result<usize> {
    let first = out.len();
    // `out[..filled]` holds what was there and what has been read; beyond it, zeroed room for
    // the next reads. The room is zeroed once (no `unsafe` here) and grown only when full, so
    // each byte costs the same however small the reads are.
    let mut filled = first;
    let result = loop {
        let room = limit.saturating_sub((filled - first) as u64);
        if room == 0 {
            break Ok(());
        }
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        if filled == out.len() {
            out.resize(filled + room.min((filled - first).max(8 << 10)), 0);
        }
        let end = out.len().min(filled.saturating_add(room));
        match read(&mut out[filled..end]) {
            Ok(0) => break Ok(()),
            Ok(n) => filled += n.min(end - filled),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    // What was read is kept, an error or not (as std's `read_to_end`).
    out.truncate(filled);
    result.map(|()| filled - first)
}

/// `Read::read_exact` through `read` (see [`read_to_end_with`]): `UnexpectedEof` if the
/// reader ends first. (Used by the client's readers.)
#[cfg(feature = "client")]
pub(crate) fn read_exact_with(
    read: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
    mut buf: &mut [u8],
) -> io::Result<()> {
    while !buf.is_empty() {
        match read(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "failed to fill whole buffer",
                ))
            }
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io;

    /// A reader of `data` in reads of at most `step` bytes, failing with `Interrupted` before
    /// every other read and with `err` (if any) once `data` runs out.
    fn chunks(
        data: &[u8],
        step: usize,
        err: Option<io::ErrorKind>,
    ) -> impl FnMut(&mut [u8]) -> io::Result<usize> + '_ {
        let (mut at, mut calls) = (0, 0);
        move |buf| {
            calls += 1;
            if calls % 2 == 1 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if at == data.len() {
                return err.map_or(Ok(0), |k| Err(k.into()));
            }
            let n = step.min(buf.len()).min(data.len() - at);
            buf[..n].copy_from_slice(&data[at..at + n]);
            at += n;
            Ok(n)
        }
    }

    #[test]
    fn read_to_end_with_reads_all_up_to_the_limit_and_keeps_what_was_there() {
        let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        for (limit, want) in [
            (u64::MAX, 50_000),
            (50_000, 50_000),
            (10_000, 10_000),
            (0, 0),
        ] {
            let mut out = b"head".to_vec();
            let n =
                super::read_to_end_with(&mut chunks(&data, 3_000, None), &mut out, limit).unwrap();
            assert_eq!(n, want, "limit {limit}");
            assert_eq!(&out[..4], b"head");
            assert_eq!(&out[4..], &data[..want], "limit {limit}");
        }
        let mut out = Vec::new();
        let e = super::read_to_end_with(
            &mut chunks(b"abc", 2, Some(io::ErrorKind::ConnectionReset)),
            &mut out,
            u64::MAX,
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(out, b"abc", "the bytes read before the error are kept");
    }

    /// A body read a byte at a time (a slow peer's small segments): every byte arrives, and
    /// the buffer grows only when full rather than being zeroed again for every read.
    #[test]
    fn read_to_end_with_one_byte_reads() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut at = 0;
        let mut one = |buf: &mut [u8]| -> io::Result<usize> {
            if at == data.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = data[at];
            at += 1;
            Ok(1)
        };
        let mut out = Vec::new();
        let n = super::read_to_end_with(&mut one, &mut out, u64::MAX).unwrap();
        assert_eq!((n, out == data), (data.len(), true));
    }

    #[test]
    #[cfg(feature = "client")]
    fn read_exact_with_fills_the_buffer_or_reports_a_short_reader() {
        let mut buf = [0u8; 5];
        super::read_exact_with(&mut chunks(b"hello world", 2, None), &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let e = super::read_exact_with(&mut chunks(b"hey", 2, None), &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
