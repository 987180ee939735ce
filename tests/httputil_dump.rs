//! httputil's dumps over real connections: a request as the server received it and a response
//! as the client received it, each still readable after the dump; and `dump_request_out`
//! byte for byte against what the transport puts on the wire.

mod raw;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread;
use std::time::Duration;

use nethttp::client::RoundTripper;
use nethttp::{httptest, httputil, Body, Method, Request, ResponseWriter, StatusCode, Transport};

/// A handler that dumps the request with its body, then reads the body itself: it answers
/// `dump|body|number of trailers`.
fn dump_then_read(w: &mut dyn ResponseWriter, r: &mut Request) {
    let dump = match httputil::dump_request(r, true) {
        Ok(d) => d,
        Err(e) => return nethttp::handlers::error(w, &e.to_string(), StatusCode::BAD_REQUEST),
    };
    let body = r.body().read_to_vec(1 << 20).unwrap_or_default();
    let trailers = r.trailers().map_or(0, |t| t.len());
    w.write_all(&dump).unwrap();
    write!(w, "|{}|{trailers}", String::from_utf8_lossy(&body)).unwrap();
}

#[test]
fn a_received_request_is_dumped_and_the_handler_still_reads_it() {
    let ts = httptest::Server::new(dump_then_read);
    // (name, request as sent, handler's answer)
    let cases = [
        (
            "content_length",
            "POST /echo?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            "POST /echo?x=1 HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello\
             |hello|0",
        ),
        (
            "chunked_with_trailer",
            "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\
             Connection: close\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: v\r\n\r\n",
            "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nconnection: close\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n|hello|1",
        ),
        (
            "absolute_form_no_body",
            "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "GET http://example.com/x HTTP/1.1\r\nconnection: close\r\n\r\n||0",
        ),
    ];
    for (name, wire, want) in cases {
        let (head, body) = raw::exchange(ts.addr(), wire);
        assert_eq!(head.status, StatusCode::OK, "{name}");
        assert_eq!(String::from_utf8_lossy(&body), want, "{name}");
    }
}

#[test]
fn a_received_response_is_dumped_and_the_caller_still_reads_it() {
    let mut ts = httptest::Server::new(|w: &mut dyn ResponseWriter, r: &mut Request| {
        w.headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        w.headers_mut().insert("x-a", "1".parse().unwrap());
        if r.uri.path() == "/chunked" {
            w.headers_mut().insert("trailer", "X-T".parse().unwrap());
            w.write_all(b"hello ").unwrap();
            w.flush().unwrap();
            w.write_all(b"world").unwrap();
            w.headers_mut().insert("x-t", "v".parse().unwrap());
        } else {
            w.headers_mut()
                .insert("content-length", "11".parse().unwrap());
            w.write_all(b"hello world").unwrap();
        }
    });
    let client = ts.client();
    // (path, dump without its Date field)
    let cases = [
        (
            "/length",
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\ncontent-type: text/plain\r\nx-a: 1\r\n\r\n\
             hello world",
        ),
        (
            "/chunked",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\
             content-type: text/plain\r\nx-a: 1\r\n\r\nb\r\nhello world\r\n0\r\nx-t: v\r\n\r\n",
        ),
    ];
    for (path, want) in cases {
        let mut resp = client.get(&format!("{}{path}", ts.url())).unwrap();
        let dump = httputil::dump_response(&mut resp, true).unwrap();
        let dump = String::from_utf8(dump).unwrap();
        let without_date: String = dump
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("date: "))
            .collect();
        assert_eq!(without_date, want, "{path}");
        assert_eq!(resp.text().unwrap(), "hello world", "{path}");
        let trailers = resp.trailers().map_or(0, |t| t.len());
        assert_eq!(trailers, usize::from(path == "/chunked"), "{path}");
    }
    // The dump read each body to its end, so each connection went back to the pool.
    assert_eq!(ts.server().num_connections(), 1);
    ts.close().unwrap();
}

/// Accepts one connection, reads `expect` bytes (or until 5 s pass), answers 204 with
/// `Connection: close`, and returns every byte the client sent until it closed.
fn record_one_request(listener: TcpListener, expect: usize) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; expect];
        let mut n = 0;
        while n < expect {
            match s.read(&mut got[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        got.truncate(n);
        s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
        let _ = s.shutdown(Shutdown::Write);
        let _ = s.read_to_end(&mut got);
        got
    })
}

#[test]
fn dump_request_out_is_what_the_transport_sends() {
    let transport = Transport::new();
    type MakeBody = fn() -> Body;
    let cases: [(&str, Method, &str, MakeBody); 4] = [
        ("get", Method::GET, "/items?q=1", Body::empty),
        ("length", Method::POST, "/items", || Body::from("{\"a\":1}")),
        ("empty_put", Method::PUT, "/items/7", Body::empty),
        ("chunked", Method::PUT, "/upload", || {
            Body::from_reader(std::io::repeat(b'z').take(70 << 10))
        }),
    ];
    for (name, method, path, body) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let mut req = Request::new(method, &url)
            .unwrap()
            .with_header("x-trace", "abc")
            .unwrap()
            .with_body(body());
        let dump = httputil::dump_request_out(&mut req, true).unwrap();
        let server = record_one_request(listener, dump.len());
        let resp = transport.round_trip(req).unwrap();
        assert_eq!(resp.status, StatusCode::NO_CONTENT, "{name}");
        let wire = server.join().unwrap();
        assert!(
            wire == dump,
            "{name}: the dump differs from the wire\ndump: {:?}\nwire: {:?}",
            String::from_utf8_lossy(&dump),
            String::from_utf8_lossy(&wire)
        );
    }
    // No connection or thread is left over.
    assert!(raw::wait_for(Duration::from_secs(5), || transport
        .stats()
        .threads
        == 0));
}
