#!/usr/bin/env python3
"""Opens N keep-alive connections to a server, sends one GET on each and reads its response,
then holds them all open and idle; prints the server's resident memory before and after, per
connection. Used by benches/idle.sh; not a test.

    idle_conns.py HOST:PORT SERVER_PID N [PATH]
"""
import selectors
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def main():
    addr, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    host, port = addr.rsplit(":", 1)
    port = int(port)
    before = rss_kib(pid)
    request = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    pending = 0
    deadline = time.monotonic() + 300
    # Connect in batches so the listen queue is not what is measured.
    batch = 200
    for start in range(0, n, batch):
        for _ in range(min(batch, n - start)):
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
            socks.append(s)
            pending += 1
        # Read every answer of this batch: a head ending in a blank line and a short body.
        while pending > 0:
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for responses")
            for key, _ in sel.select(timeout=5):
                data = key.fileobj.recv(65536)
                if not data:
                    raise SystemExit("server closed a connection")
                buf = key.data
                buf += data
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    continue
                head = bytes(buf[:head_end]).lower()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(buf) >= head_end + 4 + length:
                    sel.unregister(key.fileobj)
                    pending -= 1
    time.sleep(1.0)  # let the server's threads settle into their idle wait
    after = rss_kib(pid)
    per = (after - before) * 1024 / n
    print(f"conns={n} rss_before_kib={before} rss_after_kib={after} "
          f"per_conn_bytes={per:.0f} threads={threads(pid)}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
