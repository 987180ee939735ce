//! `examples/forms.rs` run as a program: each route as its docs say, and a 300 MB upload that
//! keeps the server's resident memory under 64 MB (Linux: `/proc/PID/status`). The example's
//! binary is the one `cargo test` builds beside this test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Example {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the example on a free loopback port; `None` (the test says it skipped) if its binary
/// was not built.
fn start() -> Option<Example> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("forms");
    if !bin.exists() {
        // `cargo test` builds the examples; `cargo test --test forms_example` alone does not.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} not built",
            bin.display()
        );
        println!(
            "skipped: {} not built (run the whole `cargo test`)",
            bin.display()
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("nethttp-forms-example-{}", std::process::id()));
    let mut child = Command::new(bin)
        .arg(&addr)
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The example says it listens on stderr once set up; then wait for the port.
    let mut line = String::new();
    let _ = BufReader::new(child.stderr.take().unwrap()).read_line(&mut line);
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < until, "the example did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Example { child, addr, dir })
}

/// Sends `head` and `body` (streamed, `body_len` bytes from `body`), returns the response.
fn exchange(addr: &str, head: &str, body: &mut dyn Read) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    std::io::copy(body, &mut s).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn routes_and_a_300_mb_upload_in_little_memory() {
    let Some(ex) = start() else { return };
    let b = "XyZ";
    // Upload: a field and a file whose name tries to climb out of DIR.
    let multipart = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n--{b}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"../../x.txt\"\r\n\r\nhello\r\n--{b}--\r\n"
    );
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: {}\r\n\r\n",
        multipart.len()
    );
    let r = exchange(&ex.addr, &head, &mut multipart.as_bytes());
    assert_eq!(body_of(&r), "field title=hi\nfile doc x.txt 5\n", "{r}");
    assert_eq!(std::fs::read(ex.dir.join("x.txt")).unwrap(), b"hello");

    let get = |path: &str, extra: &str| {
        exchange(
            &ex.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"),
            &mut std::io::empty(),
        )
    };
    assert_eq!(body_of(&get("/form?b=2&a=1&a=3", "")), "a=1,3\nb=2\n");
    let r = exchange(
        &ex.addr,
        "POST /form?a=q HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\n",
        &mut &b"a=body"[..],
    );
    assert_eq!(body_of(&r), "a=body,q\n");
    assert!(get("/cookie/set?k=v", "").contains("\r\nset-cookie: k=v; Path=/; HttpOnly\r\n"));
    assert_eq!(
        body_of(&get("/cookie/get", "Cookie: k=v; j=w\r\n")),
        "k=v\nj=w\n"
    );
    assert_eq!(
        body_of(&get("/auth", "Authorization: Basic YWxpY2U6czNjcmV0\r\n")),
        "hello alice"
    );
    let r = get("/auth", "");
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    assert!(
        r.contains("www-authenticate: Basic realm=\"forms\"\r\n"),
        "{r}"
    );

    // 300 MB streamed through the server into a file.
    let size: u64 = 300_000_000;
    let pre = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"big.bin\"\r\n\r\n"
    );
    let post = format!("\r\n--{b}--\r\n");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={b}\r\nContent-Length: {}\r\n\r\n",
        pre.len() as u64 + size + post.len() as u64
    );
    let mut body = pre
        .as_bytes()
        .chain(std::io::repeat(b'z').take(size))
        .chain(post.as_bytes());
    let r = exchange(&ex.addr, &head, &mut body);
    assert_eq!(body_of(&r), "file doc big.bin 300000000\n", "{r}");
    assert_eq!(
        std::fs::metadata(ex.dir.join("big.bin")).unwrap().len(),
        size
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", ex.child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        peak_kb < 64 * 1024,
        "server peak resident memory {peak_kb} kB"
    );
    println!("300 MB upload: server peak resident memory {peak_kb} kB");
}
