//! The receiving side: a request's parts read as they arrive, or a whole form read into
//! memory and temporary files (feature `server`).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

use crate::body::Body;
use crate::error::{Error, ErrorKind, Malformed, Result, TimeoutPhase, TooLarge};
use crate::form::Form;
use crate::proto::multipart::{Event, MultipartDecoder, MultipartLimits};

/// How much of the body the reader buffers: far more than the decoder ever holds back (a
/// delimiter's length), and a good size for one body read.
const READ_CHUNK: usize = 64 << 10;

/// The memory [`Request::form_file`](crate::Request::form_file) and
/// [`form_value`](crate::Request::form_value) give a multipart form they parse on demand: 32 MiB,
/// Go's `defaultMaxMemory`.
pub const DEFAULT_MAX_MEMORY: u64 = 32 << 20;

/// Beyond `max_memory`, the most the non-file values of a form may take: 10 MiB, as Go adds.
const VALUE_SLACK: u64 = 10 << 20;

/// The parts of a `multipart/form-data` body, read one after another as they arrive (Go's
/// `multipart.Reader`): nothing is buffered beyond one read of the body, so an upload of any
/// size can go straight to its destination. From
/// [`Request::multipart_reader`](crate::Request::multipart_reader).
pub struct MultipartReader<'a> {
    body: &'a mut Body,
    decoder: MultipartDecoder,
    buf: Vec<u8>,
    /// `buf[start..end]` is read but not yet decoded.
    start: usize,
    end: usize,
    eof: bool,
    /// Body bytes of the current part decoded but not yet handed out.
    pending: Range<usize>,
    /// A part is open and not yet read to its end.
    in_part: bool,
    finished: bool,
}

impl fmt::Debug for MultipartReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartReader")
            .field("in_part", &self.in_part)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// One part of a multipart body: its headers, and its body through [`Read`]. Reading it to
/// its end is not required: the next [`MultipartReader::next_part`] skips what is left.
pub struct Part<'r, 'a> {
    reader: &'r mut MultipartReader<'a>,
    /// The form field's name (`Content-Disposition: form-data; name=...`).
    pub name: String,
    /// The file name, reduced to its base name as Go's `FileHeader.Filename` (`../../x` is
    /// `x`); `None` for a plain field.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if it has one.
    pub content_type: Option<String>,
    /// All of the part's header fields.
    pub headers: HeaderMap,
}

impl fmt::Debug for Part<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl<'a> MultipartReader<'a> {
    pub(crate) fn new(body: &'a mut Body, boundary: &str, limits: MultipartLimits) -> Self {
        MultipartReader {
            body,
            decoder: MultipartDecoder::new(boundary, limits),
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
            pending: 0..0,
            in_part: false,
            finished: false,
        }
    }

    /// The next part, or `None` after the last one. What is left of the previous part is read
    /// and dropped first.
    ///
    /// # Errors
    ///
    /// [`Malformed::Multipart`] for a body that is not well-formed multipart (a missing final
    /// boundary included); [`TooLarge::Parts`] and [`TooLarge::PartHeader`] past the limits;
    /// the body's read errors.
    pub fn next_part(&mut self) -> Result<Option<Part<'_, 'a>>> {
        while self.in_part {
            self.pending = 0..0;
            if self.next_data()?.is_none() {
                break;
            }
        }
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.decode()? {
                Event::PartStart {
                    name,
                    filename,
                    content_type,
                    headers,
                } => {
                    self.in_part = true;
                    return Ok(Some(Part {
                        reader: self,
                        name,
                        filename,
                        content_type,
                        headers,
                    }));
                }
                Event::End => {
                    self.finished = true;
                    return Ok(None);
                }
                Event::Data(_) | Event::PartEnd | Event::NeedMore => {}
            }
        }
    }

    /// The next piece of the current part's body (a range of `buf`), or `None` at its end.
    fn next_data(&mut self) -> Result<Option<Range<usize>>> {
        if !self.pending.is_empty() {
            return Ok(Some(self.pending.clone()));
        }
        loop {
            match self.decode()? {
                Event::Data(r) => {
                    self.pending = r;
                    return Ok(Some(self.pending.clone()));
                }
                Event::PartEnd => {
                    self.in_part = false;
                    return Ok(None);
                }
                Event::End => {
                    self.in_part = false;
                    self.finished = true;
                    return Ok(None);
                }
                Event::PartStart { .. } => {
                    return Err(Error::malformed(Malformed::Multipart));
                }
                Event::NeedMore => {}
            }
        }
    }

    /// One decoder event; reads more of the body when the decoder needs it. A data event's
    /// range is returned as a range of `buf`.
    fn decode(&mut self) -> Result<Event> {
        loop {
            let step = self
                .decoder
                .decode(&self.buf[self.start..self.end], self.eof)?;
            let at = self.start;
            self.start += step.consumed;
            match step.event {
                Event::NeedMore => self.fill()?,
                Event::Data(r) => return Ok(Event::Data(at + r.start..at + r.end)),
                other => return Ok(other),
            }
        }
    }

    /// Reads more of the body after what is buffered.
    fn fill(&mut self) -> Result<()> {
        if self.eof {
            return Err(Error::malformed(Malformed::Multipart));
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // The decoder holds back far less than a buffer; a part header may need more.
            let grow = self.buf.len();
            self.buf.resize(self.buf.len() + grow, 0);
        }
        loop {
            match self.body.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e, TimeoutPhase::ReadBody)),
            }
        }
    }
}

impl Read for Part<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || !self.reader.in_part {
            return Ok(0);
        }
        let r = self.reader.next_data().map_err(Error::into_io)?;
        let Some(r) = r else { return Ok(0) };
        let n = r.len().min(out.len());
        out[..n].copy_from_slice(&self.reader.buf[r.start..r.start + n]);
        self.reader.pending = r.start + n..r.end;
        Ok(n)
    }
}

/// A whole multipart form: the values of its plain fields, and its files (Go's
/// `multipart.Form`). From [`Request::parse_multipart_form`](crate::Request::parse_multipart_form).
/// Its temporary files are removed when it is dropped, that is with the request.
#[derive(Debug, Default)]
pub struct MultipartForm {
    /// The plain fields, in order.
    pub values: Form,
    /// The file parts, in order, with their field names.
    pub files: Vec<(String, FileHeader)>,
}

impl MultipartForm {
    /// The first file of field `name`.
    pub fn file(&self, name: &str) -> Option<&FileHeader> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// A file part of a parsed form (Go's `multipart.FileHeader`).
#[derive(Debug)]
pub struct FileHeader {
    /// The file name, reduced to its base name.
    pub filename: String,
    /// Its size in bytes.
    pub size: u64,
    /// The part's `Content-Type`, if it has one.
    pub content_type: Option<String>,
    /// All of the part's header fields.
    pub headers: HeaderMap,
    content: Stored,
}

#[derive(Debug)]
enum Stored {
    Memory(bytes::Bytes),
    Temp(TempFile),
}

impl FileHeader {
    /// The file's bytes, from memory or from its temporary file.
    ///
    /// # Errors
    ///
    /// The temporary file's open error.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        match &self.content {
            Stored::Memory(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Stored::Temp(t) => File::open(&t.path)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|e| Error::with_source(ErrorKind::Io, e)),
        }
    }

    /// The temporary file holding the content, if it was spilled to disk; it is removed when
    /// the form is dropped.
    pub fn temp_path(&self) -> Option<&Path> {
        match &self.content {
            Stored::Temp(t) => Some(&t.path),
            Stored::Memory(_) => None,
        }
    }
}

/// A temporary file removed on drop.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn create() -> Result<(TempFile, File)> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("nethttp-upload-{}-{n}", std::process::id()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            // Readable by the owner alone, as Go's os.CreateTemp makes it: an upload is not
            // for other local users to read from the shared temporary directory.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(f) => return Ok((TempFile { path }, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::with_source(ErrorKind::Io, e)),
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads a whole form from `reader`: values in memory (at most `max_memory` plus 10 MiB), each
/// file in memory while it fits in what is left of `max_memory`, else in a temporary file.
pub(crate) fn read_form(
    reader: &mut MultipartReader<'_>,
    max_memory: u64,
) -> Result<MultipartForm> {
    let mut form = MultipartForm::default();
    let mut memory_left = max_memory;
    let mut values_left = max_memory.saturating_add(VALUE_SLACK);
    let mut chunk = vec![0u8; READ_CHUNK];
    while let Some(mut part) = reader.next_part()? {
        let name = std::mem::take(&mut part.name);
        // What the form keeps of every part beyond its content counts against the values'
        // allowance, as Go's ReadForm counts it (CVE-2023-24536): the name and 100 bytes, and
        // for a file its header fields (name, value and 200 bytes each, 400 for the map) and
        // 200 bytes more for the FileHeader.
        let mut overhead = name.len() as u64 + 100;
        if part.filename.is_some() {
            overhead += 400 + 200;
            for (n, v) in part.headers.iter() {
                overhead += n.as_str().len() as u64 + v.len() as u64 + 200;
            }
        }
        if overhead > values_left {
            return Err(Error::too_large(TooLarge::Body));
        }
        values_left -= overhead;
        let Some(filename) = part.filename.take() else {
            let mut value = Vec::new();
            let mut take = (&mut part).take(values_left.saturating_add(1));
            take.read_to_end(&mut value)
                .map_err(|e| Error::from_io(e, TimeoutPhase::ReadBody))?;
            if value.len() as u64 > values_left {
                return Err(Error::too_large(TooLarge::Body));
            }
            values_left -= value.len() as u64;
            let value =
                String::from_utf8(value).map_err(|_| Error::malformed(Malformed::Multipart))?;
            form.values.add(name, value);
            continue;
        };
        let content_type = part.content_type.take();
        let headers = std::mem::take(&mut part.headers);
        // In memory while it fits; then everything so far and the rest to a temporary file.
        let mut mem = Vec::new();
        let mut spilled: Option<(TempFile, File)> = None;
        let mut size = 0u64;
        loop {
            let n = match part.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(Error::from_io(e, TimeoutPhase::ReadBody)),
            };
            size += n as u64;
            match &mut spilled {
                Some((_, f)) => write_temp(f, &chunk[..n])?,
                None if size <= memory_left => mem.extend_from_slice(&chunk[..n]),
                None => {
                    let (t, mut f) = TempFile::create()?;
                    write_temp(&mut f, &mem)?;
                    write_temp(&mut f, &chunk[..n])?;
                    mem = Vec::new();
                    spilled = Some((t, f));
                }
            }
        }
        let content = match spilled {
            Some((t, f)) => {
                f.sync_all()
                    .map_err(|e| Error::with_source(ErrorKind::Io, e))?;
                Stored::Temp(t)
            }
            None => {
                memory_left -= size;
                Stored::Memory(bytes::Bytes::from(mem))
            }
        };
        form.files.push((
            name,
            FileHeader {
                filename,
                size,
                content_type,
                headers,
                content,
            },
        ));
    }
    Ok(form)
}

fn write_temp(f: &mut File, data: &[u8]) -> Result<()> {
    f.write_all(data)
        .map_err(|e| Error::with_source(ErrorKind::Io, e))
}
