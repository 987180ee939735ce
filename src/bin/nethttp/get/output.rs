//! Where `get` writes the response: stdout or a file, with a progress meter on a terminal.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use nethttp::error::TimeoutPhase;
use nethttp::http::header;
use nethttp::{Error, HeaderMap};

use super::exit;
use crate::Failure;

/// Where the response goes: -o FILE or -O, else stdout.
#[derive(Debug)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// Where the response goes.
pub enum Sink {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File(io::BufWriter<File>, PathBuf),
}

impl Sink {
    /// Opens the output; a file is created only now, once a response is to be written.
    pub fn open(output: &Output) -> Result<Sink, Failure> {
        Ok(match output {
            Output::Stdout => {
                Sink::Stdout(io::BufWriter::with_capacity(64 << 10, io::stdout().lock()))
            }
            Output::File(path) => {
                let f = File::create(path).map_err(|e| {
                    Failure::with_code(
                        exit::WRITE_ERROR,
                        format!("cannot create {}: {e}", path.display()),
                    )
                })?;
                Sink::File(io::BufWriter::with_capacity(64 << 10, f), path.clone())
            }
        })
    }

    pub fn write(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.write_all(b),
            Sink::File(w, _) => w.write_all(b),
        }
    }

    pub fn finish(mut self) -> Result<(), Failure> {
        let r = match &mut self {
            Sink::Stdout(w) => w.flush(),
            Sink::File(w, _) => w.flush(),
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) if self.closed_pipe(&e) => Ok(()),
            Err(e) => Err(self.write_failure(&e)),
        }
    }

    /// `| head` closed the pipe: the reader has what it wanted, so this is not a failure.
    pub fn closed_pipe(&self, e: &io::Error) -> bool {
        matches!(self, Sink::Stdout(_)) && e.kind() == io::ErrorKind::BrokenPipe
    }

    pub fn write_failure(&self, e: &io::Error) -> Failure {
        let what = match self {
            Sink::Stdout(_) => "stdout".to_string(),
            Sink::File(_, p) => p.display().to_string(),
        };
        Failure::with_code(exit::WRITE_ERROR, format!("cannot write to {what}: {e}"))
    }
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(w) => w.write(b),
            Sink::File(w, _) => w.write(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File(w, _) => w.flush(),
        }
    }
}

pub enum CopyError {
    Read(Error),
    Write(io::Error),
}

/// Copies the body to `out`, calling `progress` with each chunk's size.
pub fn copy_body(
    body: &mut impl Read,
    out: &mut impl Write,
    progress: &mut dyn FnMut(usize),
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(Error::from_io(e, TimeoutPhase::ReadBody))),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        progress(n);
    }
}

pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pub fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    match total {
        Some(n) => {
            let bar = ProgressBar::new(n);
            if let Ok(style) = ProgressStyle::with_template(
                "{bytes:>10} / {total_bytes:<10} [{bar:30}] {binary_bytes_per_sec:>12} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {bytes:>10} {binary_bytes_per_sec:>12}")
            {
                bar.set_style(style);
            }
            bar
        }
    }
}
