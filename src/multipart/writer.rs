//! `Writer`: a `multipart/form-data` body for a client to send (Go's `multipart.Writer`), laid
//! out when it becomes a [`Body`] and streamed as the request is written; the wire format is
//! `proto::multipart`'s.
//!
//! Go's writer pushes parts into an `io.Writer` as the caller writes them. A request body here
//! is pulled instead (the transport's writer thread reads the [`Body`]), so the parts are listed
//! first and the body is produced on demand: each part's head is encoded when the body is made
//! (a few hundred bytes each), and each part's content is read into the transport's own write
//! buffer as the request goes out. A file is never held in memory, whatever its size.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use http::header::{HeaderMap, HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use parking_lot::Mutex;

use crate::body::Body;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::multipart as wire;

/// The `Content-Type` Go's `CreateFormFile` gives every file part.
const FILE_CONTENT_TYPE: &str = "application/octet-stream";

/// A `multipart/form-data` request body, built part by part (Go's `multipart.Writer`) and
/// streamed when sent: files are opened when added and read only as the request is written,
/// through the transport's write buffer, so an upload of any size takes no more memory than
/// a small one.
///
/// The names follow Go's: [`write_field`](Self::write_field) is `WriteField`,
/// [`form_file`](Self::form_file) is `CreateFormFile` plus the copy of its content,
/// [`file`](Self::file) is that for a file on disk, [`part`](Self::part) is `CreatePart`, and
/// [`form_data_content_type`](Self::form_data_content_type) is `FormDataContentType`. The
/// bytes are Go's too: the same delimiters, part headers in the same order, names escaped the
/// same way.
///
/// [`RequestBuilder::multipart`] sends it with its `Content-Type`; [`into_body`](Self::into_body)
/// gives the [`Body`] alone. The body has a length, so the request gets a `Content-Length`,
/// when every part's content has one (text, bytes, regular files, [`Body::sized`]); otherwise
/// it is sent chunked. It can be sent again for a retry or a 307/308 redirect when every part's
/// content can ([`Body::try_clone`]): text, bytes, files added by path (opened again) and
/// [`Body::replayable`] readers.
///
/// ```
/// use std::io::Read;
/// use nethttp::multipart::Writer;
///
/// let mut form = Writer::new();
/// form.set_boundary("XyZ")?;
/// form.write_field("title", "notes")?
///     .form_file("doc", "a.txt", "hello")?;
/// assert_eq!(form.form_data_content_type(), "multipart/form-data; boundary=XyZ");
///
/// let mut body = form.into_body();
/// let mut wire = String::new();
/// body.read_to_string(&mut wire)?;
/// assert_eq!(
///     wire,
///     "--XyZ\r\n\
///      Content-Disposition: form-data; name=\"title\"\r\n\
///      \r\n\
///      notes\r\n\
///      --XyZ\r\n\
///      Content-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
///      Content-Type: application/octet-stream\r\n\
///      \r\n\
///      hello\r\n\
///      --XyZ--\r\n"
/// );
/// # Ok::<(), nethttp::Error>(())
/// ```
#[cfg_attr(
    feature = "client",
    doc = "[`RequestBuilder::multipart`]: crate::client::RequestBuilder::multipart"
)]
#[cfg_attr(
    not(feature = "client"),
    doc = "[`RequestBuilder::multipart`]: crate#features"
)]
pub struct Writer {
    boundary: String,
    parts: Vec<PartSpec>,
}

/// One part as added: its header fields and its content.
struct PartSpec {
    headers: HeaderMap,
    content: Body,
    /// What an error about the content names ("file /tmp/a.bin", "multipart field \"doc\"");
    /// `None` for a part from [`Writer::part`], named by its position.
    label: Option<String>,
}

impl Writer {
    /// An empty form with a random boundary: 30 random bytes as 60 hex digits, as Go's
    /// `NewWriter` makes.
    pub fn new() -> Writer {
        Writer {
            boundary: random_boundary(),
            parts: Vec::new(),
        }
    }

    /// The boundary that delimits the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Replaces the random boundary, as Go's `SetBoundary`; useful for tests that compare
    /// bytes. It may be called at any time before [`into_body`](Self::into_body), since nothing
    /// is written until then.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] for a boundary that is not 1 to 70 characters of RFC 2046's
    /// `bchars` or that ends in a space (see
    /// [`proto::multipart::check_boundary`](crate::proto::multipart::check_boundary)); the
    /// boundary is then unchanged.
    pub fn set_boundary(&mut self, boundary: &str) -> Result<()> {
        wire::check_boundary(boundary)?;
        self.boundary = boundary.to_owned();
        Ok(())
    }

    /// The request's `Content-Type`: `multipart/form-data; boundary=...`, the boundary quoted
    /// if it needs to be (Go's `FormDataContentType`).
    pub fn form_data_content_type(&self) -> String {
        wire::form_data_content_type(&self.boundary)
    }

    /// Adds a plain field: `Content-Disposition: form-data; name="..."` and `value` (Go's
    /// `WriteField`). The name is escaped as Go escapes it (see
    /// [`file_content_disposition`](crate::proto::multipart::file_content_disposition)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `name` holds a control character other than CR, LF and
    /// tab; nothing is added.
    pub fn write_field(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_DISPOSITION, wire::field_content_disposition(name)?);
        self.parts.push(PartSpec {
            headers,
            content: Body::from(value),
            label: Some(format!("multipart field {name:?}")),
        });
        Ok(self)
    }

    /// Adds a file part with the given content (Go's `CreateFormFile` and the copy into it):
    /// `Content-Disposition: form-data; name="..."; filename="..."` and, as Go always sends,
    /// `Content-Type: application/octet-stream`. For another type, build the headers with
    /// [`file_content_disposition`](crate::proto::multipart::file_content_disposition) and use
    /// [`part`](Self::part).
    ///
    /// `content` is anything that becomes a [`Body`]: text or bytes, [`Body::sized`] or
    /// [`Body::from_reader`] for a reader (read only as the request is sent), or
    /// [`Body::replayable`] for one that can be made again.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] if `name` or `filename` holds a control character other
    /// than CR, LF and tab; nothing is added.
    pub fn form_file(
        &mut self,
        name: &str,
        filename: &str,
        content: impl Into<Body>,
    ) -> Result<&mut Self> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_DISPOSITION,
            wire::file_content_disposition(name, filename)?,
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(FILE_CONTENT_TYPE));
        self.parts.push(PartSpec {
            headers,
            content: content.into(),
            label: Some(format!("multipart field {name:?}")),
        });
        Ok(self)
    }

    /// Adds the file at `path` as a file part, as [`form_file`](Self::form_file) with the
    /// path's last component as the file name (Go's `CreateFormFile(name,
    /// filepath.Base(path))` and `io.Copy` from `os.Open(path)`).
    ///
    /// The file is opened now, so a missing or unreadable file fails here and not halfway
    /// through a request; its content is read only while the request is written. A regular
    /// file's size is taken now and the part has that length; a file that has changed size
    /// by the time it is sent fails the request rather than sending something else. The part
    /// can be sent again (a retry, a 307/308 redirect): the file is opened again for that. A
    /// file that is not a regular file (a pipe, a device) has no length, so the request is
    /// sent chunked, and is read only once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the file cannot be opened or is a directory; the message names
    /// the path ("i/o error: open /tmp/a.bin: No such file or directory (os error 2)").
    /// [`ErrorKind::InvalidInput`] as [`form_file`](Self::form_file), or for a path with no
    /// last component. Nothing is added on error.
    pub fn file(&mut self, name: &str, path: impl AsRef<Path>) -> Result<&mut Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| path_error(path, e))?;
        let meta = file.metadata().map_err(|e| path_error(path, e))?;
        if meta.is_dir() {
            let e = io::Error::new(io::ErrorKind::IsADirectory, "is a directory");
            return Err(path_error(path, e));
        }
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::invalid_input(format!("{} names no file", path.display())))?;
        let content = if meta.is_file() {
            file_body(path.to_path_buf(), file, meta.len())
        } else {
            Body::from_reader(file)
        };
        self.form_file(name, &filename, content)?;
        if let Some(p) = self.parts.last_mut() {
            p.label = Some(format!("file {}", path.display()));
        }
        Ok(self)
    }

    /// Adds a part with any header fields and content (Go's `CreatePart`). The fields go out
    /// as Go writes them: names in canonical form (`Content-Type`), sorted. For a form part,
    /// `headers` should hold a `Content-Disposition` such as
    /// [`file_content_disposition`](crate::proto::multipart::file_content_disposition) makes.
    ///
    /// ```
    /// use nethttp::http::header::{HeaderMap, HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
    /// use nethttp::multipart::{file_content_disposition, Writer};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(CONTENT_DISPOSITION, file_content_disposition("meta", "meta.json")?);
    /// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    /// let mut form = Writer::new();
    /// form.part(headers, r#"{"tags":["a"]}"#);
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn part(&mut self, headers: HeaderMap, content: impl Into<Body>) -> &mut Self {
        self.parts.push(PartSpec {
            headers,
            content: content.into(),
            label: None,
        });
        self
    }

    /// The body, ready to send: each part's head and content in order, then the close
    /// delimiter (Go's `Close`). Its length is known if every part's is; it can be produced
    /// again ([`Body::try_clone`]) if every part's content can.
    ///
    /// Set the request's `Content-Type` to [`form_data_content_type`](Self::form_data_content_type)
    /// (take it before this call); [`RequestBuilder::multipart`] does both. A part's content that
    /// ends before its stated length, or runs past it, fails the request with an error naming the
    /// part.
    ///
    #[cfg_attr(
        feature = "client",
        doc = "[`RequestBuilder::multipart`]: crate::client::RequestBuilder::multipart"
    )]
    #[cfg_attr(
        not(feature = "client"),
        doc = "[`RequestBuilder::multipart`]: crate#features"
    )]
    pub fn into_body(self) -> Body {
        let Writer { boundary, parts } = self;
        let mut segments = Vec::with_capacity(2 * parts.len() + 1);
        let mut len = Some(0u64);
        let mut replayable = true;
        for (i, part) in parts.into_iter().enumerate() {
            let mut head = Vec::with_capacity(128);
            wire::write_part_head(&mut head, &boundary, i == 0, &part.headers);
            let content_len = part.content.len_hint();
            len = match (len, content_len) {
                (Some(l), Some(c)) => l
                    .checked_add(head.len() as u64)
                    .and_then(|l| l.checked_add(c)),
                _ => None,
            };
            replayable &= part.content.try_clone().is_some();
            segments.push(Segment::Bytes(Bytes::from(head)));
            segments.push(Segment::Content {
                body: part.content,
                len: content_len,
                sent: 0,
                label: part
                    .label
                    .unwrap_or_else(|| format!("multipart part {}", i + 1))
                    .into(),
            });
        }
        let mut tail = Vec::with_capacity(boundary.len() + 8);
        wire::write_close(&mut tail, &boundary);
        len = len.and_then(|l| l.checked_add(tail.len() as u64));
        segments.push(Segment::Bytes(Bytes::from(tail)));

        if replayable {
            let template = Mutex::new(segments);
            return Body::replayable(len, move || {
                let copy = template
                    .lock()
                    .iter()
                    .map(Segment::try_clone)
                    .collect::<io::Result<VecDeque<Segment>>>()?;
                Ok(Box::new(Stream { segments: copy }) as Box<dyn Read + Send>)
            });
        }
        let stream = Stream {
            segments: segments.into(),
        };
        match len {
            Some(len) => Body::sized(stream, len),
            None => Body::from_reader(stream),
        }
    }
}

impl Default for Writer {
    fn default() -> Writer {
        Writer::new()
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("boundary", &self.boundary)
            .field("parts", &self.parts.len())
            .finish()
    }
}

/// A random boundary: 30 bytes as 60 hex digits, the shape of Go's `randomBoundary`.
///
/// Go reads `crypto/rand`. A boundary need not be secret: it must differ between bodies and
/// be unlikely to turn up in a part's content, so anything hard to guess will do. std's
/// `RandomState` gives that without a dependency: its SipHash keys come from the operating
/// system's random source once per thread and change with every `RandomState`, and the
/// process-wide counter, the time, the process and the thread go into each hash as well, so
/// two boundaries never come from the same input.
fn random_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let state = RandomState::new();
    let mut out = String::with_capacity(64);
    for word in 0u64..4 {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(word);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        std::thread::current().id().hash(&mut h);
        for b in h.finish().to_be_bytes() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out.truncate(60);
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The content of a regular file added by path: the handle opened when it was added serves
/// the first send; a replay opens the path again. Either way the file must still have the size
/// it had when added, the length already promised in the request's `Content-Length`.
fn file_body(path: PathBuf, first: File, len: u64) -> Body {
    let first = Mutex::new(Some(first));
    Body::replayable(Some(len), move || {
        let taken = first.lock().take();
        let file = match taken {
            Some(f) => f,
            None => File::open(&path).map_err(|e| path_io_error(&path, e))?,
        };
        let now = file.metadata().map_err(|e| path_io_error(&path, e))?.len();
        if now != len {
            return Err(io::Error::other(format!(
                "file {} changed size since it was added: {len} bytes then, {now} now",
                path.display()
            )));
        }
        Ok(Box::new(file) as Box<dyn Read + Send>)
    })
}

/// An I/O error on `path`, worded as Go's `*PathError`: "open /tmp/a.bin: ...".
#[derive(Debug)]
struct PathError {
    path: PathBuf,
    err: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "open {}: {}", self.path.display(), self.err)
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.err)
    }
}

fn path_error(path: &Path, err: io::Error) -> Error {
    Error::with_source(
        ErrorKind::Io,
        PathError {
            path: path.to_path_buf(),
            err,
        },
    )
}

/// As [`path_error`], for a reader: keeps the I/O error's kind.
fn path_io_error(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        PathError {
            path: path.to_path_buf(),
            err,
        },
    )
}

/// One piece of the body: encoded bytes (a part's head, the close delimiter), or a part's
/// content.
enum Segment {
    Bytes(Bytes),
    Content {
        body: Body,
        /// The length the content promised, which the body's length counts on.
        len: Option<u64>,
        /// Bytes of it read so far.
        sent: u64,
        label: Arc<str>,
    },
}

impl Segment {
    /// A fresh copy from the start, for a replay; every content was checked to have one.
    fn try_clone(&self) -> io::Result<Segment> {
        Ok(match self {
            Segment::Bytes(b) => Segment::Bytes(b.clone()),
            Segment::Content {
                body, len, label, ..
            } => Segment::Content {
                body: body
                    .try_clone()
                    .ok_or_else(|| io::Error::other(format!("{label} cannot be produced again")))?,
                len: *len,
                sent: 0,
                label: Arc::clone(label),
            },
        })
    }
}

/// The body's reader: the segments in order, each read straight into the caller's buffer.
struct Stream {
    segments: VecDeque<Segment>,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(front) = self.segments.front_mut() else {
                return Ok(0);
            };
            match front {
                Segment::Bytes(b) => {
                    if b.is_empty() {
                        self.segments.pop_front();
                        continue;
                    }
                    let n = b.len().min(buf.len());
                    buf[..n].copy_from_slice(&b[..n]);
                    b.advance(n);
                    return Ok(n);
                }
                Segment::Content {
                    body,
                    len,
                    sent,
                    label,
                } => {
                    let want = match *len {
                        Some(len) => (len - *sent).min(buf.len() as u64) as usize,
                        None => buf.len(),
                    };
                    if want == 0 {
                        // All the promised bytes are read: the content must end here.
                        let mut probe = [0u8; 1];
                        match body.read(&mut probe) {
                            Ok(0) => {
                                self.segments.pop_front();
                                continue;
                            }
                            Ok(_) => {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!("{label} runs past its length of {sent} bytes"),
                                ))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    let n = body.read(&mut buf[..want])?;
                    if n == 0 {
                        if let Some(len) = *len {
                            // Not UnexpectedEof: a transport reads that from `read_exact` as
                            // the whole body ending early, and would drop this message.
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("{label} ended after {sent} of its {len} bytes"),
                            ));
                        }
                        self.segments.pop_front();
                        continue;
                    }
                    *sent += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads all of `r` with reads of at most `chunk` bytes.
    fn read_in(r: &mut impl Read, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn form() -> Writer {
        let mut w = Writer::new();
        w.set_boundary("bd").unwrap();
        w
    }

    #[test]
    fn random_boundaries_are_valid_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let b = Writer::new().boundary().to_owned();
            assert_eq!(b.len(), 60, "{b}");
            assert!(b.bytes().all(|c| HEX.contains(&c)), "{b}");
            wire::check_boundary(&b).unwrap();
            assert!(seen.insert(b), "a boundary came twice");
        }
        let other_thread = std::thread::spawn(|| Writer::new().boundary().to_owned())
            .join()
            .unwrap();
        assert!(!seen.contains(&other_thread));
    }

    #[test]
    fn set_boundary_keeps_the_old_one_on_error() {
        let mut w = Writer::new();
        let before = w.boundary().to_owned();
        let e = w.set_boundary("").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(w.boundary(), before);
        w.set_boundary("a b").unwrap();
        assert_eq!(w.boundary(), "a b");
        assert_eq!(
            w.form_data_content_type(),
            "multipart/form-data; boundary=\"a b\""
        );
    }

    #[test]
    fn empty_form_is_gos_close_alone() {
        let mut body = form().into_body();
        assert_eq!(body.len_hint(), Some(10));
        assert_eq!(read_in(&mut body, 64).unwrap(), b"\r\n--bd--\r\n");
        assert!(body.try_clone().is_some());
    }

    /// The same bytes come out whatever the size of the reads, and the length is exact.
    #[test]
    fn any_read_size_gives_the_same_bytes() {
        let mut w = form();
        w.write_field("a", "1").unwrap();
        w.form_file("f", "f.bin", vec![7u8; 300]).unwrap();
        w.write_field("empty", "").unwrap();
        let whole = read_in(&mut w.into_body(), 1 << 16).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(b"--bd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1");
        want.extend_from_slice(
            b"\r\n--bd\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n",
        );
        want.extend_from_slice(&[7u8; 300]);
        want.extend_from_slice(
            b"\r\n--bd\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--bd--\r\n",
        );
        assert_eq!(whole, want);
        for chunk in [1, 2, 3, 7, 64, 299, 301] {
            let mut w = form();
            w.write_field("a", "1").unwrap();
            w.form_file("f", "f.bin", vec![7u8; 300]).unwrap();
            w.write_field("empty", "").unwrap();
            let mut body = w.into_body();
            assert_eq!(body.len_hint(), Some(want.len() as u64));
            assert_eq!(read_in(&mut body, chunk).unwrap(), want, "chunk {chunk}");
        }
    }

    /// A reader part is read only into the caller's buffer, never more than asked.
    #[test]
    fn reads_go_straight_to_the_content() {
        struct Counting {
            left: u64,
            max_ask: Arc<AtomicU64>,
        }
        impl Read for Counting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.max_ask.fetch_max(buf.len() as u64, Ordering::Relaxed);
                let n = (buf.len() as u64).min(self.left) as usize;
                buf[..n].fill(b'x');
                self.left -= n as u64;
                Ok(n)
            }
        }
        let max_ask = Arc::new(AtomicU64::new(0));
        let mut w = form();
        let src = Counting {
            left: 1 << 20,
            max_ask: Arc::clone(&max_ask),
        };
        w.form_file("f", "f", Body::sized(src, 1 << 20)).unwrap();
        let mut body = w.into_body();
        assert!(
            body.try_clone().is_none(),
            "a plain reader is not replayable"
        );
        let got = read_in(&mut body, 4096).unwrap();
        assert!(got.ends_with(b"\r\n--bd--\r\n"));
        assert_eq!(body.len_hint(), Some(got.len() as u64));
        assert_eq!(max_ask.load(Ordering::Relaxed), 4096);
    }

    #[test]
    fn unknown_length_makes_an_unsized_body() {
        let mut w = form();
        w.write_field("a", "1").unwrap();
        w.form_file("f", "f", Body::from_reader(&b"abc"[..]))
            .unwrap();
        let mut body = w.into_body();
        assert_eq!(body.len_hint(), None);
        assert!(body.try_clone().is_none());
        let got = read_in(&mut body, 5).unwrap();
        assert!(got.windows(9).any(|w| w == b"\r\n\r\nabc\r\n"));
    }

    #[test]
    fn contents_must_keep_their_length() {
        let mut w = form();
        w.form_file("short", "s", Body::sized(&b"abc"[..], 5))
            .unwrap();
        let e = read_in(&mut w.into_body(), 64).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "multipart field \"short\" ended after 3 of its 5 bytes"
        );

        let mut w = form();
        w.part(HeaderMap::new(), Body::sized(&b"abcdef"[..], 5));
        let e = read_in(&mut w.into_body(), 64).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "multipart part 1 runs past its length of 5 bytes"
        );
    }

    #[test]
    fn bad_names_add_nothing() {
        let mut w = form();
        let e = w.write_field("a\0", "v").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "invalid input: multipart field name \"a\\0\" contains a control character"
        );
        let e = w.form_file("f", "x\u{7f}", "v").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: multipart file name \"x\\u{7f}\" contains a control character"
        );
        assert_eq!(read_in(&mut w.into_body(), 64).unwrap(), b"\r\n--bd--\r\n");
    }

    /// A replayable form gives the same bytes every time, files opened again.
    #[test]
    fn replays_are_identical() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("nethttp-mpw-unit-{}.txt", std::process::id()));
        std::fs::write(&path, b"file content").unwrap();
        let mut w = form();
        w.write_field("a", "1").unwrap();
        w.file("f", &path).unwrap();
        w.form_file(
            "r",
            "r",
            Body::replayable(Some(2), || Ok(Box::new(&b"rr"[..]) as Box<dyn Read + Send>)),
        )
        .unwrap();
        let body = w.into_body();
        let mut first = body.try_clone().unwrap();
        let mut second = body.try_clone().unwrap();
        let a = read_in(&mut first, 3).unwrap();
        let b = read_in(&mut second, 4096).unwrap();
        assert_eq!(a, b);
        assert_eq!(body.len_hint(), Some(a.len() as u64));
        assert!(a.windows(12).any(|w| w == b"file content"));

        // A file that changed size fails the replay and names itself.
        std::fs::write(&path, b"longer file content").unwrap();
        let e = read_in(&mut body.try_clone().unwrap(), 64).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "file {} changed size since it was added: 12 bytes then, 19 now",
                path.display()
            )
        );
        std::fs::remove_file(&path).unwrap();
        let e = read_in(&mut body.try_clone().unwrap(), 64).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with(&format!("open {}: ", path.display())),
            "{e}"
        );
    }

    #[test]
    fn file_errors_name_the_path() {
        let missing = std::env::temp_dir().join("nethttp-mpw-unit-missing/none.bin");
        let mut w = form();
        let e = w.file("f", &missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        let os = File::open(&missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("i/o error: open {}: {os}", missing.display())
        );
        if cfg!(unix) {
            let dir = std::env::temp_dir();
            let e = w.file("f", &dir).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("i/o error: open {}: is a directory", dir.display())
            );
        }
        assert_eq!(read_in(&mut w.into_body(), 64).unwrap(), b"\r\n--bd--\r\n");
    }
}
