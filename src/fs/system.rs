//! File systems the file server reads from, as Go's `fs.FS`: the [`FileSystem`] trait, [`Dir`]
//! (an OS directory, confined to its root) and [`MemFs`] (files held in memory, as Go's
//! `embed.FS`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::path::{self, Confine};

/// What [`FileSystem::stat`] knows about a file or directory, as Go's `fs.FileInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Whether it is a directory (else a regular file).
    pub is_dir: bool,
    /// The size in bytes of a file; unspecified for a directory.
    pub size: u64,
    /// The modification time; `None` when unknown (then no `Last-Modified` is sent).
    pub modified: Option<SystemTime>,
}

/// One entry of a directory, as Go's `fs.DirEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name within its directory (no `/`).
    pub name: String,
    /// Whether it is a directory; listings show those with a trailing `/`.
    pub is_dir: bool,
}

/// Content that can be read and sought: what [`FileSystem::open`] returns. Implemented for
/// every `Read + Seek` type.
pub trait ReadSeek: Read + Seek {}

impl<T: Read + Seek + ?Sized> ReadSeek for T {}

/// A tree of files and directories the file server can serve, as Go's `fs.FS`.
///
/// Every `path` given to these methods is cleaned, `/`-separated and relative to the root:
/// no leading `/`, no `.` or `..` segments, no empty segments; `""` names the root.
///
/// Errors tell the file server what to answer: `NotFound` → `404`, `PermissionDenied` →
/// `403`, `InvalidInput` (a path this file system cannot name) → `400`, any other → `500`.
pub trait FileSystem: Send + Sync + 'static {
    /// What `path` is.
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is there (or nothing that may be served).
    fn stat(&self, path: &str) -> io::Result<FileInfo>;

    /// Opens the regular file at `path` for reading, with what is known about it at the time
    /// of opening (the size the server sends is that one).
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no regular file at `path`.
    fn open(&self, path: &str) -> io::Result<(Box<dyn ReadSeek + Send>, FileInfo)>;

    /// Opens the regular file at `path` as an operating-system [`File`], for a file system
    /// that has one: the server can then send its bytes from the kernel
    /// ([`ResponseWriter::write_file`](crate::server::ResponseWriter::write_file)) instead of
    /// copying them through a buffer. `Ok(None)`, the default, means "no OS file here; use
    /// [`open`](Self::open)". [`Dir`] has them; a file system that wraps a `Dir` passes the
    /// call on to keep that.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    fn open_file(&self, path: &str) -> io::Result<Option<(File, FileInfo)>> {
        let _ = path;
        Ok(None)
    }

    /// The entries of the directory at `path`, in any order.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no directory at `path`.
    fn read_dir(&self, path: &str) -> io::Result<Vec<DirEntry>>;
}

impl<F: FileSystem + ?Sized> FileSystem for Arc<F> {
    fn stat(&self, path: &str) -> io::Result<FileInfo> {
        (**self).stat(path)
    }
    fn open(&self, path: &str) -> io::Result<(Box<dyn ReadSeek + Send>, FileInfo)> {
        (**self).open(path)
    }
    fn open_file(&self, path: &str) -> io::Result<Option<(File, FileInfo)>> {
        (**self).open_file(path)
    }
    fn read_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        (**self).read_dir(path)
    }
}

/// A directory of the operating system's file system, as Go's `http.Dir`, but confined: every
/// symlink is resolved and whatever resolves outside the root is "not found", as are files
/// that are neither regular files nor directories (FIFOs, devices, sockets).
///
/// The root is resolved on every call, so it may be created or replaced while a server runs;
/// while it is missing everything is "not found". Paths must be valid UTF-8, so files whose
/// names are not are neither served nor listed by name (they are listed lossily).
#[derive(Debug, Clone)]
pub struct Dir {
    root: PathBuf,
    /// False only for `serve_file`, whose caller chose the path: then `""` is `root` itself,
    /// used as given.
    confined: bool,
}

impl Dir {
    /// The directory `root`, confined.
    pub fn new(root: impl Into<PathBuf>) -> Dir {
        Dir {
            root: root.into(),
            confined: true,
        }
    }

    /// The path given to `serve_file`, used as given.
    pub(crate) fn unconfined(path: PathBuf) -> Dir {
        Dir {
            root: path,
            confined: false,
        }
    }

    /// The directory, as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path to open for `rel`: resolved, checked and with its metadata (symlinks
    /// followed). Errors are mapped as Go's `mapOpenError`.
    fn locate(&self, rel: &str) -> io::Result<(PathBuf, Metadata)> {
        let Some(rel_path) = path::to_rel_path(rel.as_bytes()) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let (full, root) = if self.confined {
            let root = fs::canonicalize(&self.root).inspect_err(|e| {
                log::debug!("file server: root {}: {e}", self.root.display());
            })?;
            (root.join(rel_path), Some(root))
        } else if rel.is_empty() {
            (self.root.clone(), None)
        } else {
            (self.root.join(rel_path), None)
        };
        let confine = match &root {
            Some(r) => Confine::Root(r),
            None => Confine::Anywhere,
        };
        let below = root.as_deref().unwrap_or(Path::new(""));
        let found = path::resolve(&full, confine).and_then(|real| {
            let meta = fs::metadata(&real)?;
            Ok((real, meta))
        });
        let (real, meta) = found.map_err(|e| path::map_open_error(e, &full, below))?;
        if !meta.is_dir() && !meta.is_file() {
            // Opening a FIFO would block the connection thread; devices and sockets are not
            // content either.
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok((real, meta))
    }

    /// The regular file at `path`, opened, with what is known about it once open.
    fn open_os(&self, path: &str) -> io::Result<(File, FileInfo)> {
        let (real, meta) = self.locate(path)?;
        if !meta.is_file() {
            return Err(io::ErrorKind::NotFound.into());
        }
        // What is opened is the canonical path, so a symlink swapped in after the check
        // cannot redirect the last component.
        let (file, meta) = open_regular(&real)?;
        Ok((file, os_info(&meta)))
    }
}

/// Opens `real` if it is a regular file, with what is known about it once open; `NotFound`
/// for anything else. On Linux the open does not wait: a FIFO swapped in after the caller's
/// check would otherwise block the connection thread in `open(2)` until some writer opened
/// it (the flag changes nothing for a regular file's reads).
fn open_regular(real: &Path) -> io::Result<(File, Metadata)> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, nix::libc::O_NONBLOCK);
    let file = options.open(real)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok((file, meta))
}

#[cfg(all(test, target_os = "linux"))]
mod open_tests {
    use std::time::Duration;

    /// A FIFO (what a file could be swapped for between the check and the open) is refused
    /// at once, not waited on.
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = std::env::temp_dir().join(format!("nethttp-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(super::open_regular(&path).map(drop).map_err(|e| e.kind()));
        });
        let got = rx.recv_timeout(Duration::from_secs(5));
        if got.is_err() {
            // Let the blocked open end, so the thread does not outlive the test.
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            got.expect("open of a FIFO still waiting for a writer after 5 s"),
            Err(std::io::ErrorKind::NotFound)
        );
    }
}

fn os_info(meta: &Metadata) -> FileInfo {
    FileInfo {
        is_dir: meta.is_dir(),
        size: meta.len(),
        modified: meta.modified().ok(),
    }
}

impl FileSystem for Dir {
    fn stat(&self, path: &str) -> io::Result<FileInfo> {
        self.locate(path).map(|(_, meta)| os_info(&meta))
    }

    fn open(&self, path: &str) -> io::Result<(Box<dyn ReadSeek + Send>, FileInfo)> {
        let (file, info) = self.open_os(path)?;
        Ok((Box::new(file), info))
    }

    fn open_file(&self, path: &str) -> io::Result<Option<(File, FileInfo)>> {
        self.open_os(path).map(Some)
    }

    fn read_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        let (real, _) = self.locate(path)?;
        let mut entries = Vec::new();
        for e in fs::read_dir(&real)? {
            let e = e?;
            // Classified without following symlinks, so a link to a directory has no `/`.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let name = String::from_utf8_lossy(&path::name_bytes(&e.file_name())).into_owned();
            entries.push(DirEntry { name, is_dir });
        }
        Ok(entries)
    }
}

/// The bytes of one [`MemFs`] file: borrowed for the program's life or shared.
#[derive(Clone)]
enum Data {
    Static(&'static [u8]),
    Shared(Arc<[u8]>),
}

impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        match self {
            Data::Static(b) => b,
            Data::Shared(b) => b,
        }
    }
}

/// Files held in memory, as Go's `embed.FS`: typically `include_bytes!` of files compiled
/// into the program. Directories are implied by the files' paths.
///
/// Every file and directory has the same modification time, `None` (unknown, as for Go's
/// `embed.FS`) unless set with [`MemFs::set_modified`]. Cloning is cheap: contents are
/// shared.
///
/// ```
/// use nethttp::fs::MemFs;
/// use nethttp::{httptest, FileServer, Handler};
///
/// let mut files = MemFs::new();
/// files
///     .add_static("index.html", b"<h1>home</h1>")
///     .add_static("css/site.css", include_bytes!("../../LICENSE"))
///     .add("notes.txt", format!("built by {}", "me"));
/// let srv = FileServer::from_fs(files);
///
/// let mut rec = httptest::ResponseRecorder::new();
/// srv.serve_http(&mut rec, &mut httptest::request("GET", "/", ()));
/// assert_eq!(rec.body(), b"<h1>home</h1>");
/// ```
#[derive(Clone, Default)]
pub struct MemFs {
    files: BTreeMap<String, Data>,
    /// Every directory but the root, implied by the files.
    dirs: BTreeSet<String>,
    modified: Option<SystemTime>,
}

impl fmt::Debug for MemFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFs")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("modified", &self.modified)
            .finish()
    }
}

impl MemFs {
    /// An empty file system: only the root directory.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// Adds (or replaces) the file at `path` with bytes that live for the whole program, such
    /// as `include_bytes!("static/app.js")`. `path` is cleaned as a URL path is (a leading
    /// `/` is optional); its parent directories are implied.
    ///
    /// # Panics
    ///
    /// If `path` names the root, a directory (a file was added below it) or lies below a file.
    pub fn add_static(&mut self, path: &str, data: &'static [u8]) -> &mut Self {
        self.insert(path, Data::Static(data))
    }

    /// Adds (or replaces) the file at `path` with owned bytes, as
    /// [`add_static`](MemFs::add_static) does.
    ///
    /// # Panics
    ///
    /// As [`add_static`](MemFs::add_static).
    pub fn add(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        self.insert(path, Data::Shared(data.into().into()))
    }

    /// Sets the modification time of every file and directory; `None` means unknown.
    pub fn set_modified(&mut self, modified: Option<SystemTime>) -> &mut Self {
        self.modified = modified;
        self
    }

    fn insert(&mut self, path: &str, data: Data) -> &mut Self {
        let cleaned = path::clean(path.as_bytes());
        let key = String::from_utf8_lossy(&cleaned[1..]).into_owned();
        assert!(!key.is_empty(), "MemFs: a file cannot be the root");
        assert!(
            !self.dirs.contains(&key),
            "MemFs: {key} is already a directory"
        );
        let mut dir = key.as_str();
        while let Some(i) = dir.rfind('/') {
            dir = &dir[..i];
            assert!(
                !self.files.contains_key(dir),
                "MemFs: {dir} is already a file"
            );
            self.dirs.insert(dir.to_string());
        }
        self.files.insert(key, data);
        self
    }

    fn info(&self, is_dir: bool, size: u64) -> FileInfo {
        FileInfo {
            is_dir,
            size,
            modified: self.modified,
        }
    }
}

impl FileSystem for MemFs {
    fn stat(&self, path: &str) -> io::Result<FileInfo> {
        if path.is_empty() || self.dirs.contains(path) {
            return Ok(self.info(true, 0));
        }
        match self.files.get(path) {
            Some(d) => Ok(self.info(false, d.as_ref().len() as u64)),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn open(&self, path: &str) -> io::Result<(Box<dyn ReadSeek + Send>, FileInfo)> {
        match self.files.get(path) {
            Some(d) => Ok((
                Box::new(Cursor::new(d.clone())),
                self.info(false, d.as_ref().len() as u64),
            )),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn read_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        if !path.is_empty() && !self.dirs.contains(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let child = |p: &String| {
            p.strip_prefix(&prefix)
                .filter(|rest| !rest.contains('/'))
                .map(str::to_string)
        };
        let dirs = self
            .dirs
            .iter()
            .filter_map(child)
            .map(|name| DirEntry { name, is_dir: true });
        let files = self.files.keys().filter_map(child).map(|name| DirEntry {
            name,
            is_dir: false,
        });
        Ok(dirs.chain(files).collect())
    }
}
