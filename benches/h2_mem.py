#!/usr/bin/env python3
"""An HTTP/2 server's resident memory per idle connection and per open idle stream, measured
with raw frames over TLS (ALPN h2), so no HTTP/2 library is needed. Used by
benches/h2_mem.sh; not a test.

    h2_mem.py HOST:PORT SERVER_PID CERT.pem CONNS STREAM_CONNS STREAMS_PER_CONN

CERT.pem is the certificate to trust (its names must cover `localhost`); `-` speaks h2c
(HTTP/2 with prior knowledge, no TLS) instead.

1. Warm-up: one connection serves one GET and closes, so what the server allocates once (TLS
   configuration, code pages) is not counted. Then the server's VmRSS: `rss0`.
2. CONNS connections each send the preface and an empty SETTINGS, acknowledge the server's
   SETTINGS and wait for the acknowledgement of theirs, then idle: `fresh_per_conn` is
   (VmRSS - rss0) / CONNS.
3. Each of them sends one GET and reads the response to its END_STREAM, then idles again:
   `used_per_conn` is (VmRSS - rss0) / CONNS (a connection that has served a request, as
   one a client keeps in its pool).
4. On STREAM_CONNS of those connections, STREAMS_PER_CONN streams each: HEADERS for
   `POST /read` without END_STREAM and no DATA. The servers' /read handler sends its
   response head at once and then waits for the body, so each stream is open on both
   sides with its handler waiting; the script waits for every response head, so each
   handler is known to run. `per_stream` is the growth over step 3 divided by the streams.

Why a handler that waits: neither server keeps a stream without running its handler (both
start it when the request's HEADERS arrive), so an open, idle stream is one whose handler
waits for a body that does not come: a slow upload, or a long poll. Its cost is the
stream's state plus what runs the handler (nethttp: a thread; Go: a goroutine). Streams
per connection stay below both servers' SETTINGS_MAX_CONCURRENT_STREAMS (250).

Prints one line of key=value pairs: rss0_kib, fresh_kib, used_kib, streams_kib,
fresh_per_conn, used_per_conn, per_stream (bytes), and the server's thread count after
each step (threads0, threads_fresh, threads_used, threads_streams).
"""
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
# How long the server's memory is left to settle before it is read (both servers free some
# buffers shortly after a connection goes quiet).
SETTLE = 1.0


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise SystemExit(f"h2_mem.py: no {key} for pid {pid}")


def frame(typ, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """HPACK literal header field without indexing, name from static table entry `index`
    (RFC 7541 §6.2.2), value not Huffman-coded; short values only."""
    v = value.encode()
    assert index < 15 and len(v) < 127
    return bytes([index, len(v)]) + v


def request_block(authority, scheme, method, path):
    # Static table (RFC 7541 Appendix A): 2 :method GET, 3 :method POST, 4 :path /,
    # 6 :scheme http, 7 :scheme https, 1 :authority.
    block = bytes([0x82 if method == "GET" else 0x83, 0x87 if scheme == "https" else 0x86])
    block += bytes([0x84]) if path == "/" else literal(4, path)
    return block + literal(1, authority)


class Conn:
    """One HTTP/2 connection over a blocking TLS socket."""

    def __init__(self, ctx, host, port, authority):
        self.sock = socket.create_connection((host, port), timeout=30)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            if self.sock.selected_alpn_protocol() != "h2":
                alpn = self.sock.selected_alpn_protocol()
                raise SystemExit(f"h2_mem.py: ALPN chose {alpn!r}, not h2")
        self.authority = authority
        self.scheme = "http" if ctx is None else "https"
        self.buf = bytearray()
        self.next_stream = 1
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            typ, flags, _, _ = self.read_frame()
            if typ == SETTINGS:
                if flags & ACK:
                    got_ack = True
                else:
                    got_settings = True  # read_frame acknowledged it

    def read_frame(self):
        """The next frame as (type, flags, stream, payload); answers SETTINGS and PING."""
        while True:
            while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
                data = self.sock.recv(65536)
                if not data:
                    raise SystemExit("h2_mem.py: server closed a connection")
                self.buf += data
            n = int.from_bytes(self.buf[:3], "big")
            typ, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(self.buf[9 : 9 + n])
            del self.buf[: 9 + n]
            if typ == SETTINGS and not flags & ACK:
                self.sock.sendall(frame(SETTINGS, ACK, 0))
            elif typ == PING and not flags & ACK:
                self.sock.sendall(frame(PING, ACK, 0, payload))
            elif typ == GOAWAY:
                code = int.from_bytes(payload[4:8], "big")
                raise SystemExit(f"h2_mem.py: GOAWAY {code}: {payload[8:]!r}")
            elif typ == RST_STREAM:
                code = int.from_bytes(payload[:4], "big")
                raise SystemExit(f"h2_mem.py: RST_STREAM {code} on stream {stream}")
            return typ, flags, stream, payload

    def open_stream(self, method, path, end_stream):
        sid = self.next_stream
        self.next_stream += 2
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        self.sock.sendall(frame(HEADERS, flags, sid, request_block(self.authority, self.scheme, method, path)))
        return sid

    def get(self):
        """One GET /, read to its END_STREAM."""
        sid = self.open_stream("GET", "/", True)
        while True:
            typ, flags, stream, _ = self.read_frame()
            if stream == sid and typ in (HEADERS, DATA) and flags & END_STREAM:
                return

    def wait_heads(self, sids):
        """Reads until every stream in `sids` has its response HEADERS."""
        left = set(sids)
        while left:
            typ, _, stream, _ = self.read_frame()
            if typ == HEADERS:
                left.discard(stream)


def settle(pid):
    time.sleep(SETTLE)
    return status(pid, "VmRSS"), status(pid, "Threads")


def main():
    addr, pid, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conns, stream_conns, per_conn = (int(a) for a in sys.argv[4:7])
    if stream_conns > conns:
        raise SystemExit("h2_mem.py: STREAM_CONNS must not exceed CONNS")
    host, port = addr.rsplit(":", 1)
    port = int(port)
    ctx = None
    if cert != "-":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cert)
        ctx.set_alpn_protocols(["h2"])

    warm = Conn(ctx, host, port, addr)
    warm.get()
    warm.sock.close()
    rss0, threads0 = settle(pid)

    held = [Conn(ctx, host, port, addr) for _ in range(conns)]
    fresh, threads_fresh = settle(pid)

    for c in held:
        c.get()
    used, threads_used = settle(pid)

    for c in held[:stream_conns]:
        sids = [c.open_stream("POST", "/read", False) for _ in range(per_conn)]
        c.wait_heads(sids)
    streams, threads_streams = settle(pid)

    n_streams = max(stream_conns * per_conn, 1)
    print(
        f"rss0_kib={rss0} fresh_kib={fresh} used_kib={used} streams_kib={streams} "
        f"fresh_per_conn={(fresh - rss0) * 1024 // conns} "
        f"used_per_conn={(used - rss0) * 1024 // conns} "
        f"per_stream={(streams - used) * 1024 // n_streams} "
        f"threads0={threads0} threads_fresh={threads_fresh} threads_used={threads_used} "
        f"threads_streams={threads_streams}"
    )
    for c in held:
        c.sock.close()


if __name__ == "__main__":
    main()
