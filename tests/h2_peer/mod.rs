//! The server's side of one scripted HTTP/2 connection, for the client's raw tests
//! (`h2_client`, `h2_client_edges`): frames in and out by hand, every read bounded by the
//! socket's 5 s timeout.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use nethttp::proto::h2::frame::{
    self, Data, Decoded, Frame, FrameDecoder, FrameLimits, Settings, PREFACE,
};
use nethttp::proto::h2::ErrorCode;
use nethttp::proto::hpack::{Decoder, Encoder, Field, DEFAULT_TABLE_SIZE};

/// One side of a scripted HTTP/2 server connection.
pub struct Peer {
    pub s: TcpStream,
    pub buf: Vec<u8>,
    pub dec: FrameDecoder,
    pub hpack: Decoder,
    pub enc: Encoder,
    /// Answer the client's PINGs as they are read (`next` still reports them).
    pub ack_pings: bool,
}

/// A frame read by [`Peer`], owned.
#[derive(Debug)]
pub enum Got {
    Headers {
        id: u32,
        fields: Vec<Field>,
        end_stream: bool,
    },
    Data {
        id: u32,
        len: usize,
        end_stream: bool,
    },
    Rst {
        id: u32,
        code: ErrorCode,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    WindowUpdate {
        id: u32,
        inc: u32,
    },
    GoAway {
        code: ErrorCode,
    },
    Other,
}

impl Peer {
    /// Accepts one connection, reads the preface, sends SETTINGS (`extra`).
    pub fn accept(l: &TcpListener, extra: Settings) -> Peer {
        l.set_nonblocking(false).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut p = Peer {
            s,
            buf: Vec::new(),
            dec: FrameDecoder::new(FrameLimits::default()),
            hpack: Decoder::new(DEFAULT_TABLE_SIZE),
            enc: Encoder::new(DEFAULT_TABLE_SIZE),
            ack_pings: false,
        };
        let mut pre = [0u8; 24];
        p.s.read_exact(&mut pre).unwrap();
        assert_eq!(&pre, PREFACE);
        p.send(&Frame::Settings(extra));
        p
    }

    /// [`accept`](Self::accept), answering PINGs as they come.
    pub fn accept_acking(l: &TcpListener, extra: Settings) -> Peer {
        let mut p = Peer::accept(l, extra);
        p.ack_pings = true;
        p
    }

    /// Writes a frame; a client that has gone is not an error here (the test's assertions
    /// are about what the client saw).
    pub fn send(&mut self, f: &Frame<'_>) {
        let mut b = Vec::new();
        f.encode(&mut b).unwrap();
        let _ = self.s.write_all(&b);
    }

    pub fn send_headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) {
        let fields: Vec<Field> = fields.iter().map(|(n, v)| Field::new(*n, *v)).collect();
        let mut block = Vec::new();
        self.enc.encode(&fields, &mut block);
        let mut b = Vec::new();
        frame::encode_headers(id, &block, end_stream, 16_384, &mut b).unwrap();
        let _ = self.s.write_all(&b);
    }

    pub fn data(&mut self, id: u32, data: &[u8], end_stream: bool) {
        self.send(&Frame::Data(Data {
            stream_id: id,
            end_stream,
            data,
            padding: None,
        }));
    }
    /// The next frame; `None` at EOF or after the read timeout.
    pub fn next(&mut self) -> Option<Got> {
        let mut block: Vec<u8> = Vec::new();
        let mut hdr: Option<(u32, bool)> = None;
        loop {
            match self.dec.decode(&self.buf).unwrap() {
                Decoded::Partial => {
                    let mut chunk = [0u8; 16 << 10];
                    let n = self.s.read(&mut chunk).ok()?;
                    if n == 0 {
                        return None;
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Decoded::StreamError { len, .. } => {
                    self.buf.drain(..len);
                }
                Decoded::Frame { frame, len } => {
                    let done = match frame {
                        Frame::Headers(h) => {
                            block.extend_from_slice(h.fragment);
                            hdr = Some((h.stream_id, h.end_stream));
                            h.end_headers
                        }
                        Frame::Continuation(c) => {
                            block.extend_from_slice(c.fragment);
                            c.end_headers
                        }
                        _ => false,
                    };
                    let out = match frame {
                        Frame::Data(d) => Some(Got::Data {
                            id: d.stream_id,
                            len: d.data.len(),
                            end_stream: d.end_stream,
                        }),
                        Frame::RstStream(r) => Some(Got::Rst {
                            id: r.stream_id,
                            code: r.code,
                        }),
                        Frame::Ping(p) => Some(Got::Ping {
                            ack: p.ack,
                            data: p.data,
                        }),
                        Frame::WindowUpdate(w) => Some(Got::WindowUpdate {
                            id: w.stream_id,
                            inc: w.increment,
                        }),
                        Frame::GoAway(g) => Some(Got::GoAway { code: g.code }),
                        Frame::Headers(_) | Frame::Continuation(_) => None,
                        _ => Some(Got::Other),
                    };
                    self.buf.drain(..len);
                    if done {
                        let (id, end_stream) = hdr.take().unwrap();
                        let fields = self.hpack.decode(&block).unwrap();
                        return Some(Got::Headers {
                            id,
                            fields,
                            end_stream,
                        });
                    }
                    if let Some(o) = out {
                        if let Got::Ping { ack: false, data } = o {
                            if self.ack_pings {
                                self.send(&Frame::Ping(frame::Ping { ack: true, data }));
                            }
                        }
                        return Some(o);
                    }
                }
            }
        }
    }

    /// Reads until a request's header block arrives; returns its stream and fields.
    pub fn request(&mut self) -> (u32, Vec<Field>) {
        loop {
            match self.next().expect("connection closed before a request") {
                Got::Headers { id, fields, .. } => return (id, fields),
                _ => continue,
            }
        }
    }

    /// Reads until a request's header block arrives: its stream and END_STREAM flag.
    pub fn request_end(&mut self) -> (u32, bool) {
        loop {
            match self.next().expect("connection closed before a request") {
                Got::Headers { id, end_stream, .. } => return (id, end_stream),
                _ => continue,
            }
        }
    }

    /// Reads frames until the client closes (or 5 s of silence).
    pub fn drain(&mut self) {
        while self.next().is_some() {}
    }
}

/// The value of field `name` among `fields`.
pub fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name == name.as_bytes())
        .map(|f| f.value.as_slice())
}
