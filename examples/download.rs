//! A build-script-style download: fetch a URL into a file, with a progress line on stderr and
//! a SHA-256 to check it by.
//!
//! ```sh
//! cargo run --example download -- URL OUT [SHA256]
//! cargo run --example file_server -- 127.0.0.1:8080 . &   # something to download from
//! cargo run --example download -- http://127.0.0.1:8080/Cargo.toml /tmp/Cargo.toml
//! ```
//!
//! The body streams to `OUT.part`, which is renamed to `OUT` only once the whole body has
//! arrived (and, if `SHA256` was given, matched it), so an interrupted or corrupt download
//! never leaves a file that looks complete — what a `build.rs` wants before unpacking a
//! tarball. The progress line is a percentage when the server sends `Content-Length`, else a
//! byte count; on a terminal it redraws in place, otherwise it prints a line per 10%.
//!
//! Timeouts: 30 seconds to connect, 30 seconds for the response head, and 10 minutes for the
//! whole download, body included (`ClientConfig::timeout`, Go's `Client.Timeout`). Redirects
//! are followed (up to 10), and `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured, as in Go.
//! A 4xx or 5xx status is an error.
//!
//! In a real `build.rs`, the same code would download to `OUT_DIR`, and print
//! `cargo:rerun-if-env-changed=...` lines for whatever chooses the URL.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nethttp::client::{Client, ClientConfig, Transport, TransportConfig};
use nethttp::net::TcpDialer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.len() > 3 {
        eprintln!("usage: download URL OUT [SHA256]");
        std::process::exit(2);
    }
    let (url, out) = (&args[0], Path::new(&args[1]));
    let want = args.get(2).map(|s| s.to_ascii_lowercase());
    match download(url, out, want.as_deref()) {
        Ok((n, sha, took)) => {
            println!("{sha}  {}", out.display());
            eprintln!(
                "download: {n} bytes in {:.1}s to {}",
                took.as_secs_f64(),
                out.display()
            );
        }
        Err(e) => {
            eprintln!("download: {url}: {e}");
            std::process::exit(1);
        }
    }
}

/// Downloads `url` to `out`; returns the size, the SHA-256 in hex, and the time taken.
fn download(
    url: &str,
    out: &Path,
    want: Option<&str>,
) -> Result<(u64, String, Duration), Box<dyn std::error::Error>> {
    let start = Instant::now();
    // Connection settings are the transport's; the overall timeout is the client's.
    let transport = Transport::with_config(TransportConfig {
        dialer: Arc::new(TcpDialer {
            connect_timeout: Some(Duration::from_secs(30)),
            ..TcpDialer::default()
        }),
        response_header_timeout: Some(Duration::from_secs(30)),
        ..TransportConfig::default()
    });
    let client = Client::with_config(ClientConfig {
        transport: Some(Arc::new(transport)),
        timeout: Some(Duration::from_secs(600)),
        ..ClientConfig::default()
    });

    let mut resp = client.get(url)?.error_for_status()?;
    // Known only if the server sent it and the client did not decode gzip on the way.
    let total: Option<u64> = resp
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());

    let part = out.with_file_name(format!(
        "{}.part",
        out.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("download")
    ));
    let mut file = File::create(&part)?;
    let mut hasher = Sha256::new();
    let mut progress = Progress::new(total);
    let r = copy_body(resp.body(), &mut file, &mut hasher, &mut progress)
        .and_then(|n| file.sync_all().map(|()| n));
    progress.finish();
    let n = match r {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            // Unwraps the nethttp error a body read carries ("connection closed before ...").
            return Err(nethttp::Error::from(e).into());
        }
    };
    drop(file);
    let sha = hasher.finish_hex();
    if let Some(want) = want {
        if want != sha {
            let _ = std::fs::remove_file(&part);
            return Err(format!("sha-256 mismatch: got {sha}, want {want}").into());
        }
    }
    std::fs::rename(&part, out)?;
    Ok((n, sha, start.elapsed()))
}

/// Copies the body to `file` and the hasher; returns how many bytes it copied.
fn copy_body(
    body: &mut impl Read,
    file: &mut File,
    hasher: &mut Sha256,
    progress: &mut Progress,
) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut n: u64 = 0;
    loop {
        // The body stops at its framed end; a connection cut short is an error here, never a
        // clean end, so a truncated file cannot pass for a whole one.
        let got = match body.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..got])?;
        hasher.update(&buf[..got]);
        n += got as u64;
        progress.update(n);
    }
}

/// The progress line on stderr.
struct Progress {
    total: Option<u64>,
    tty: bool,
    /// The last percentage (or MiB count) shown.
    shown: Option<u64>,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        Progress {
            total,
            tty: io::stderr().is_terminal(),
            shown: None,
        }
    }

    fn update(&mut self, n: u64) {
        let (mark, line) = match self.total {
            Some(t) if t > 0 => {
                let pct = n.min(t) * 100 / t;
                // Off a terminal, a line per 10% is enough.
                let mark = if self.tty { pct } else { pct / 10 * 10 };
                (mark, format!("{mark:3}% ({} of {})", size(n), size(t)))
            }
            _ => {
                let mark = n >> 20;
                (mark, format!("{} received", size(n)))
            }
        };
        if self.shown == Some(mark) {
            return;
        }
        self.shown = Some(mark);
        if self.tty {
            eprint!("\rdownload: {line}   ");
        } else {
            eprintln!("download: {line}");
        }
    }

    /// Ends the redrawn line on a terminal.
    fn finish(&mut self) {
        if self.tty && self.shown.is_some() {
            eprintln!();
        }
    }
}

/// `n` bytes for people: `512 B`, `3.2 KiB`, `41.0 MiB`.
fn size(n: u64) -> String {
    match n {
        0..=1023 => format!("{n} B"),
        1024..=1048575 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1048576.0),
    }
}

/// SHA-256 (FIPS 180-4), small and unoptimised: enough to check a download without a
/// dependency. Compare the result with `sha256sum OUT`.
struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    filled: usize,
    len: u64,
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    fn new() -> Sha256 {
        Sha256 {
            state: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            filled: 0,
            len: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = (64 - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == 64 {
                self.compress();
                self.filled = 0;
            }
        }
    }

    fn finish_hex(mut self) -> String {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        self.state.iter().map(|w| format!("{w:08x}")).collect()
    }

    fn compress(&mut self) {
        let mut w = [0u32; 64];
        for (i, c) in self.block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = self.state;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    }
}
