//! `docker attach` over a Unix socket, the way Docker's own client does it: a normal request
//! through a [`Transport`] whose dialer is a Unix socket, then an upgrade on a single
//! connection ([`ClientConn`]) that is hijacked into a raw two-way byte stream.
//!
//! ```sh
//! # Standalone: starts a tiny demo "daemon" on a temporary socket and attaches to it.
//! cargo run --example docker_attach
//! printf 'one\ntwo\n' | cargo run --example docker_attach
//! # A socket nobody listens on: Docker's own error message.
//! cargo run --example docker_attach -- /tmp/no-such.sock
//! # A real Docker daemon and a running container.
//! cargo run --example docker_attach -- /var/run/docker.sock CONTAINER
//! ```
//!
//! Arguments: `[SOCKET [CONTAINER]]`. Without `SOCKET` the demo daemon runs in this process.
//! The client
//!
//! 1. asks `GET /_ping` through a `Transport` built with [`nethttp::net::unix_socket`] (URLs
//!    then name any host; `http://localhost/...` is the convention);
//! 2. opens its own `UnixStream`, wraps it in a `ClientConn` and sends
//!    `POST /containers/CONTAINER/attach?stream=1&stdin=1&stdout=1&stderr=1` with
//!    `Upgrade: tcp` and `Connection: Upgrade`; the daemon answers `101 UPGRADED` (old
//!    daemons: `200`, then the same raw stream);
//! 3. takes the connection with `hijack()` and copies stdin to the socket on one thread
//!    (a fixed demo message if stdin is a terminal), and the socket to stdout on this one,
//!    until the daemon closes. When the input ends it half-closes the socket, as Docker's
//!    `CloseWrite` does, so the other side sees EOF while the output keeps flowing.
//!
//! A real container without a TTY sends Docker's multiplexed stream (8-byte frame headers),
//! which is split back into stdout and stderr here. The demo daemon is a hand-written loop on
//! a `UnixListener` that reads request heads with [`nethttp::proto::head`] — nethttp's
//! server listens on TCP only — and, once upgraded, echoes bytes until the client half-closes.
//!
//! [`Transport`]: nethttp::client::Transport
//! [`ClientConn`]: nethttp::client::ClientConn

#[cfg(unix)]
fn main() {
    attach::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("docker_attach: this example needs Unix-domain sockets");
    std::process::exit(2);
}

#[cfg(unix)]
mod attach {
    use std::io::{self, IsTerminal, Read, Write};
    use std::net::Shutdown;
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use nethttp::client::{ClientConn, Proxy, TransportConfig};
    use nethttp::{Client, Method, Request, StatusCode, Transport};

    /// Sent instead of stdin when stdin is a terminal.
    const DEMO_INPUT: &[u8] = b"hello from nethttp\nthis line goes to the container's stdin\n";

    pub fn main() {
        let mut args = std::env::args().skip(1);
        let socket_arg = args.next();
        let container = args.next().unwrap_or_else(|| "demo".to_string());
        // The demo daemon lives (and its socket file exists) until main returns.
        let daemon = match &socket_arg {
            Some(_) => None,
            None => match daemon::Demo::start() {
                Ok(d) => Some(d),
                Err(e) => fail(&format!("cannot start the demo daemon: {e}")),
            },
        };
        let socket = match (&daemon, socket_arg) {
            (Some(d), _) => d.path().to_path_buf(),
            (None, Some(p)) => PathBuf::from(p),
            (None, None) => unreachable!("either a socket was given or the demo daemon runs"),
        };
        if daemon.is_some() {
            eprintln!(
                "docker_attach: demo daemon listening on unix://{}",
                socket.display()
            );
        }

        ping(&socket);
        attach(&socket, &container);
    }

    /// `GET /_ping` through a pooled transport that dials the Unix socket.
    fn ping(socket: &Path) {
        let client = Client::with_transport(Transport::with_config(TransportConfig {
            dialer: Arc::new(nethttp::net::unix_socket(socket)),
            proxy: Proxy::none(),
            ..TransportConfig::default()
        }));
        let mut resp = match client
            .request(Method::GET, "http://localhost/_ping")
            .timeout(Duration::from_secs(10))
            .send()
        {
            Ok(r) => r,
            Err(e) => fail(&daemon_error(socket, &e)),
        };
        let api = resp
            .headers
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_string();
        let text = resp.text().unwrap_or_default();
        eprintln!(
            "docker_attach: GET /_ping: {} {text:?} (API version {api})",
            resp.status
        );
    }

    /// The attach request on a connection of our own, then the raw stream in both directions.
    fn attach(socket: &Path, container: &str) {
        let sock = match UnixStream::connect(socket) {
            Ok(s) => s,
            Err(e) => fail(&daemon_error(socket, &nethttp::Error::from(e))),
        };
        let cc = ClientConn::new(sock);
        let url = format!(
            "http://docker/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1"
        );
        let mut req = match Request::new(Method::POST, &url)
            .and_then(|r| r.with_header("Upgrade", "tcp"))
            .and_then(|r| r.with_header("Connection", "Upgrade"))
        {
            Ok(r) => r,
            Err(e) => fail(&format!("bad container name {container:?}: {e}")),
        };
        // Bounds the request and its response head; the hijacked stream has no deadline.
        nethttp::client::RequestOptions::of_mut(&mut req).set_timeout(Duration::from_secs(10));
        let mut resp = match cc.send(req) {
            Ok(r) => r,
            Err(e) => fail(&format!("attach: {e}")),
        };
        if resp.status != StatusCode::SWITCHING_PROTOCOLS && resp.status != StatusCode::OK {
            let msg = resp.text().unwrap_or_default();
            fail(&format!("attach: {}: {}", resp.status, msg.trim()));
        }
        let multiplexed = resp
            .headers
            .get("content-type")
            .is_some_and(|v| v == "application/vnd.docker.multiplexed-stream");
        eprintln!("docker_attach: attached to {container} ({})", resp.status);

        // Docker's hijack: the stream plus any bytes already read past the response head.
        let mut raw = match cc.hijack() {
            Ok(c) => c,
            Err(e) => fail(&format!("hijack: {e}")),
        };
        // The request deadline armed the socket's timeouts; the attached stream may be quiet
        // for as long as the container likes.
        let _ = raw.stream().set_read_timeout(None);
        let _ = raw.stream().set_write_timeout(None);

        let mut to_daemon = raw.writer();
        std::thread::spawn(move || {
            let stdin = io::stdin();
            let r = if stdin.is_terminal() {
                to_daemon.write_all(DEMO_INPUT)
            } else {
                io::copy(&mut stdin.lock(), &mut to_daemon).map(drop)
            };
            if let Err(e) = r {
                eprintln!("docker_attach: sending input: {e}");
            }
            // Docker's CloseWrite: no more input, but keep reading the output.
            let _ = to_daemon.stream().shutdown(Shutdown::Write);
        });

        let r = if multiplexed {
            demux(&mut raw)
        } else {
            copy_flushing(&mut raw, &mut io::stdout())
        };
        match r {
            Ok(()) => eprintln!("docker_attach: the daemon closed the stream"),
            Err(e) => fail(&format!("reading output: {e}")),
        }
        // Returning ends the process, and with it the input thread if it still waits on stdin.
    }

    /// Copies `r` to `w`, flushing after every read so output shows up as it arrives.
    fn copy_flushing(r: &mut impl Read, w: &mut impl Write) -> io::Result<()> {
        let mut buf = [0u8; 16 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            w.write_all(&buf[..n])?;
            w.flush()?;
        }
    }

    /// Docker's multiplexed stream: frames of an 8-byte header (stream: 1 stdout, 2 stderr;
    /// three zero bytes; a big-endian `u32` length) and that many payload bytes.
    fn demux(r: &mut impl Read) -> io::Result<()> {
        let mut header = [0u8; 8];
        loop {
            let mut got = 0;
            while got < header.len() {
                match r.read(&mut header[got..]) {
                    Ok(0) if got == 0 => return Ok(()),
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let len = u64::from(u32::from_be_bytes([
                header[4], header[5], header[6], header[7],
            ]));
            let mut payload = r.take(len);
            let copied = if header[0] == 2 {
                io::copy(&mut payload, &mut io::stderr())?
            } else {
                let mut out = io::stdout();
                let n = io::copy(&mut payload, &mut out)?;
                out.flush()?;
                n
            };
            if copied < len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Docker's wording for a daemon it cannot reach; any other error as it is.
    fn daemon_error(socket: &Path, e: &nethttp::Error) -> String {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                        return format!(
                            "Cannot connect to the Docker daemon at unix://{}. \
                             Is the docker daemon running?",
                            socket.display()
                        )
                    }
                    io::ErrorKind::PermissionDenied => {
                        return format!(
                            "permission denied while trying to connect to the Docker daemon \
                             socket at unix://{}",
                            socket.display()
                        )
                    }
                    _ => {}
                }
            }
            cause = c.source();
        }
        format!("error during connect: {e}")
    }

    fn fail(msg: &str) -> ! {
        eprintln!("docker_attach: {msg}");
        std::process::exit(1);
    }

    /// The demo daemon: `/_ping`, and an attach endpoint whose "container" echoes its input.
    mod daemon {
        use std::io::{self, Read, Write};
        use std::net::Shutdown;
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::path::{Path, PathBuf};
        use std::time::Duration;

        use nethttp::proto::framing::{self, Framing};
        use nethttp::proto::head::{self, Parsed, RequestHead};
        use nethttp::proto::Limits;

        /// A daemon listening on a socket file that is removed on drop.
        pub struct Demo {
            path: PathBuf,
        }

        impl Demo {
            pub fn start() -> io::Result<Demo> {
                let path = std::env::temp_dir()
                    .join(format!("nethttp-docker-demo-{}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                let listener = UnixListener::bind(&path)?;
                std::thread::spawn(move || {
                    for conn in listener.incoming().flatten() {
                        std::thread::spawn(move || serve(conn));
                    }
                });
                Ok(Demo { path })
            }

            pub fn path(&self) -> &Path {
                &self.path
            }
        }

        impl Drop for Demo {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.path);
            }
        }

        /// One connection: requests without bodies, until an attach takes it over.
        fn serve(mut conn: UnixStream) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
            let mut buf = Vec::new();
            while let Some(req) = read_head(&mut conn, &mut buf) {
                if !matches!(
                    framing::request(req.version, &req.headers),
                    Ok(Framing::Empty | Framing::Length(0))
                ) {
                    let _ = conn.write_all(
                        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                    );
                    return;
                }
                let path = req.uri.path();
                if path == "/_ping" {
                    let r = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Type: text/plain\r\n\
                          Content-Length: 2\r\n\r\nOK",
                    );
                    if r.is_err() {
                        return;
                    }
                } else if let Some(id) = path
                    .strip_prefix("/containers/")
                    .and_then(|p| p.strip_suffix("/attach"))
                {
                    let id = id.to_string();
                    // Whatever followed the head is already the client's input.
                    return echo(conn, &id, std::mem::take(&mut buf));
                } else {
                    let body = b"{\"message\":\"page not found\"}";
                    let head = format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
                        return;
                    }
                }
            }
        }

        /// Reads one request head into `buf` and parses it, leaving any bytes after it in
        /// `buf`; `None` at EOF, on errors and on malformed heads.
        fn read_head(conn: &mut UnixStream, buf: &mut Vec<u8>) -> Option<RequestHead> {
            let limits = Limits::default();
            loop {
                if let Some(end) = head::find_end(buf, 0) {
                    return match head::parse_request(&buf[..end], &limits) {
                        Ok(Parsed::Complete { head, len }) => {
                            buf.drain(..len);
                            Some(head)
                        }
                        Ok(Parsed::Partial) => None,
                        Err(e) => {
                            let msg = format!(
                                "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\
                                 Content-Length: {}\r\n\r\n{e}",
                                e.to_string().len()
                            );
                            let _ = conn.write_all(msg.as_bytes());
                            None
                        }
                    };
                }
                if buf.len() > limits.max_head_bytes {
                    return None;
                }
                let mut chunk = [0u8; 4096];
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }

        /// Answers the attach with `101 UPGRADED` and becomes the "container": a greeting on
        /// its output, then every input byte echoed, until the client half-closes.
        fn echo(mut conn: UnixStream, id: &str, early: Vec<u8>) {
            let _ = conn.set_read_timeout(None);
            let greeting = format!("[{id}] attached; echoing your input\n");
            let ok = conn
                .write_all(
                    b"HTTP/1.1 101 UPGRADED\r\n\
                      Content-Type: application/vnd.docker.raw-stream\r\n\
                      Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                )
                .and_then(|()| conn.write_all(greeting.as_bytes()))
                .and_then(|()| conn.write_all(&early));
            if ok.is_err() {
                return;
            }
            let mut buf = [0u8; 16 << 10];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = conn.write_all(format!("[{id}] input closed; exiting\n").as_bytes());
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}
