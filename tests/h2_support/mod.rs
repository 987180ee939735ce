//! A raw HTTP/2 client for the server's tests, built on the crate's own frame codec and HPACK:
//! frames written by hand, frames read back whole (header blocks joined and decoded). Every
//! read has a deadline (the socket's 2 s timeout, [`DEADLINE`] for a whole exchange).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nethttp::proto::h2::frame::{
    self, Data, Decoded, Frame, FrameDecoder, FrameLimits, Ping, RstStream, Settings, WindowUpdate,
    PREFACE,
};
use nethttp::proto::h2::ErrorCode;
use nethttp::proto::hpack::{Decoder, Encoder, Field, DEFAULT_TABLE_SIZE};

/// The most any one expectation waits.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A frame read from the server, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum In {
    Settings(Settings),
    SettingsAck,
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    /// A whole header block, decoded.
    Headers {
        id: u32,
        fields: Vec<(String, String)>,
        end_stream: bool,
    },
    Data {
        id: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
    Rst {
        id: u32,
        code: ErrorCode,
    },
    GoAway {
        last: u32,
        code: ErrorCode,
        debug: String,
    },
    WindowUpdate {
        id: u32,
        inc: u32,
    },
    Other,
}

/// A response gathered from a stream's frames.
#[derive(Debug, Default)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Interim (1xx) statuses, in order.
    pub interim: Vec<u16>,
    /// The stream was reset by the server, with this code.
    pub reset: Option<ErrorCode>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct H2Client {
    pub sock: TcpStream,
    buf: Vec<u8>,
    dec: FrameDecoder,
    hdec: Decoder,
    pub enc: Encoder,
    block: Option<(u32, Vec<u8>, bool)>,
    /// Frames read but not yet consumed by an expectation.
    pending: Vec<In>,
}

impl H2Client {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub fn connect(addr: SocketAddr) -> H2Client {
        let mut c = H2Client::connect_raw(addr);
        c.send_raw(PREFACE);
        c.send(&Frame::Settings(Settings::default()));
        c
    }

    /// Connects, sending nothing.
    pub fn connect_raw(addr: SocketAddr) -> H2Client {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        H2Client {
            sock,
            buf: Vec::new(),
            dec: FrameDecoder::new(FrameLimits {
                max_frame_size: frame::MAX_FRAME_SIZE_LIMIT,
                max_header_block: usize::MAX,
            }),
            hdec: Decoder::new(DEFAULT_TABLE_SIZE),
            enc: Encoder::new(DEFAULT_TABLE_SIZE),
            block: None,
            pending: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, b: &[u8]) {
        self.sock.write_all(b).expect("write");
    }

    /// Writes, reporting failure (a server that closed may reset).
    pub fn try_send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.sock.write_all(b)
    }

    pub fn send(&mut self, f: &Frame<'_>) {
        let mut b = Vec::new();
        f.encode(&mut b).expect("encode");
        self.send_raw(&b);
    }

    pub fn encode_frame(f: &Frame<'_>) -> Vec<u8> {
        let mut b = Vec::new();
        f.encode(&mut b).expect("encode");
        b
    }

    /// A header block for `fields`, with this client's encoder.
    pub fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let fields: Vec<Field> = fields.iter().map(|(n, v)| Field::new(*n, *v)).collect();
        let mut b = Vec::new();
        self.enc.encode(&fields, &mut b);
        b
    }

    /// Sends a request's HEADERS on `id`.
    pub fn headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) {
        let block = self.block(fields);
        let mut b = Vec::new();
        frame::encode_headers(id, &block, end_stream, 16_384, &mut b).expect("encode");
        self.send_raw(&b);
    }

    pub fn data(&mut self, id: u32, data: &[u8], end_stream: bool) {
        self.send(&Frame::Data(Data {
            stream_id: id,
            end_stream,
            data,
            padding: None,
        }));
    }

    pub fn rst(&mut self, id: u32, code: ErrorCode) {
        self.send(&Frame::RstStream(RstStream {
            stream_id: id,
            code,
        }));
    }

    pub fn ping(&mut self, data: [u8; 8]) {
        self.send(&Frame::Ping(Ping { ack: false, data }));
    }

    pub fn window_update(&mut self, id: u32, inc: u32) {
        self.send(&Frame::WindowUpdate(WindowUpdate {
            stream_id: id,
            increment: inc,
        }));
    }

    /// A GET for `path` on stream `id`.
    pub fn get(&mut self, id: u32, path: &str) {
        self.headers(
            id,
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "localhost"),
                (":path", path),
            ],
            true,
        );
    }

    /// Reads the next frame; `None` once the server closed the connection.
    pub fn next(&mut self) -> Option<In> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        self.read_frame()
    }

    fn read_frame(&mut self) -> Option<In> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let buf = std::mem::take(&mut self.buf);
            let decoded = self.dec.decode(&buf);
            if let Ok(Decoded::Frame { frame, len }) = decoded {
                let got = self.own(frame);
                self.buf = buf;
                self.buf.drain(..len);
                match got {
                    Some(f) => return Some(f),
                    None => continue,
                }
            }
            let decoded = decoded.map(|d| matches!(d, Decoded::Partial));
            self.buf = buf;
            match decoded {
                Ok(true) => {}
                Ok(false) => panic!("server sent a frame with a stream error"),
                Err(e) => panic!("server sent a bad frame: {e}"),
            }
            assert!(Instant::now() < deadline, "no frame within {DEADLINE:?}");
            let mut chunk = [0u8; 16 << 10];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    fn own(&mut self, f: Frame<'_>) -> Option<In> {
        Some(match f {
            Frame::Settings(s) => In::Settings(s),
            Frame::SettingsAck => In::SettingsAck,
            Frame::Ping(p) => In::Ping {
                ack: p.ack,
                data: p.data,
            },
            Frame::Headers(h) => {
                if !h.end_headers {
                    self.block = Some((h.stream_id, h.fragment.to_vec(), h.end_stream));
                    return None;
                }
                let fields = self.decode(h.fragment);
                In::Headers {
                    id: h.stream_id,
                    fields,
                    end_stream: h.end_stream,
                }
            }
            Frame::Continuation(c) => {
                let (id, mut block, end) = self.block.take().expect("continuation");
                block.extend_from_slice(c.fragment);
                if !c.end_headers {
                    self.block = Some((id, block, end));
                    return None;
                }
                let fields = self.decode(&block);
                In::Headers {
                    id,
                    fields,
                    end_stream: end,
                }
            }
            Frame::Data(d) => In::Data {
                id: d.stream_id,
                data: d.data.to_vec(),
                end_stream: d.end_stream,
            },
            Frame::RstStream(r) => In::Rst {
                id: r.stream_id,
                code: r.code,
            },
            Frame::GoAway(g) => In::GoAway {
                last: g.last_stream_id,
                code: g.code,
                debug: String::from_utf8_lossy(g.debug_data).into_owned(),
            },
            Frame::WindowUpdate(w) => In::WindowUpdate {
                id: w.stream_id,
                inc: w.increment,
            },
            _ => In::Other,
        })
    }

    fn decode(&mut self, block: &[u8]) -> Vec<(String, String)> {
        self.hdec
            .decode(block)
            .expect("hpack")
            .into_iter()
            .map(|f| {
                (
                    String::from_utf8(f.name).unwrap(),
                    String::from_utf8(f.value).unwrap(),
                )
            })
            .collect()
    }

    /// Reads frames until `pred` picks one, keeping the others for later expectations.
    /// Panics if the connection closes first.
    pub fn expect(&mut self, what: &str, mut pred: impl FnMut(&In) -> bool) -> In {
        if let Some(i) = self.pending.iter().position(&mut pred) {
            return self.pending.remove(i);
        }
        loop {
            match self.read_frame() {
                Some(f) if pred(&f) => return f,
                Some(f) => self.pending.push(f),
                None => panic!(
                    "connection closed while waiting for {what}; got {:?}",
                    self.pending
                ),
            }
        }
    }

    /// Takes the frames already read and kept that `pred` picks.
    pub fn take_pending(&mut self, mut pred: impl FnMut(&In) -> bool) -> Vec<In> {
        let (taken, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|f| pred(f));
        self.pending = kept;
        taken
    }

    /// Reads until the server's GOAWAY.
    pub fn expect_goaway(&mut self) -> (u32, ErrorCode, String) {
        match self.expect("goaway", |f| matches!(f, In::GoAway { .. })) {
            In::GoAway { last, code, debug } => (last, code, debug),
            _ => unreachable!(),
        }
    }

    /// Reads until the server resets stream `id`.
    pub fn expect_rst(&mut self, id: u32) -> ErrorCode {
        match self.expect(
            "rst_stream",
            |f| matches!(f, In::Rst { id: i, .. } if *i == id),
        ) {
            In::Rst { code, .. } => code,
            _ => unreachable!(),
        }
    }

    /// Gathers stream `id`'s response until END_STREAM or RST_STREAM.
    pub fn response(&mut self, id: u32) -> Resp {
        let mut r = Resp::default();
        loop {
            let f = self.expect("response frames", |f| match f {
                In::Headers { id: i, .. } | In::Data { id: i, .. } | In::Rst { id: i, .. } => {
                    *i == id
                }
                _ => false,
            });
            match f {
                In::Headers {
                    fields, end_stream, ..
                } => {
                    let status = fields
                        .iter()
                        .find(|(n, _)| n == ":status")
                        .map(|(_, v)| v.parse::<u16>().unwrap());
                    match status {
                        Some(s) if s < 200 => r.interim.push(s),
                        Some(s) => {
                            r.status = s;
                            r.headers = fields;
                        }
                        None => r.trailers = fields,
                    }
                    if end_stream {
                        return r;
                    }
                }
                In::Data {
                    data, end_stream, ..
                } => {
                    r.body.extend_from_slice(&data);
                    if end_stream {
                        return r;
                    }
                }
                In::Rst { code, .. } => {
                    r.reset = Some(code);
                    return r;
                }
                _ => unreachable!(),
            }
        }
    }

    /// Reads until the server closes the connection, returning what came; bounded.
    pub fn read_to_close(&mut self) -> Vec<In> {
        let mut out = std::mem::take(&mut self.pending);
        while let Some(f) = self.read_frame() {
            out.push(f);
        }
        out
    }
}
