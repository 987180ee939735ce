#!/usr/bin/env bash
# Issue 16's starvation case: `examples/echo` (default Config: max_connections 10,000) with every
# slot held by an idle keep-alive connection, then one more client's GET, timed. Before
# eviction that GET waited for an idle timeout (97 s measured; up to idle_timeout, 120 s);
# now the longest-idle connection is closed and the GET is answered at once. Also a burst of
# 1,000 connects to the cold server, with the listen-queue overflows it caused. Not part of CI.
#
#   bash benches/admission.sh            # 10,000 idle connections
#   ADMISSION_CONNS=2000 bash benches/admission.sh
#
# Settings (environment):
#   ADMISSION_CONNS  idle connections to hold (default 10000, echo's max_connections; a
#                    smaller number measures nothing but the set-up)
#   BENCH_PORT       loopback port (default 18280)
#
# Needs cargo, curl and python3. The client and the server each need ADMISSION_CONNS + a few
# file descriptors: the script raises `ulimit -n` to the hard limit and stops if that is too
# low. The server runs one thread per connection (10,000 threads, mostly parked).
# Everything is bounded: the client gives up after 120 s, and the script kills the server.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
conns=${ADMISSION_CONNS:-10000}
port=${BENCH_PORT:-18280}

for tool in cargo curl python3; do
  command -v "$tool" >/dev/null || { echo "benches/admission.sh: $tool is not installed" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((conns + 64)) ]; then
  echo "benches/admission.sh: ulimit -n is $(ulimit -n), need $((conns + 64))" >&2
  exit 1
fi

echo "building examples/echo (release)..." >&2
(cd "$repo" && cargo build --release --quiet --example echo)

pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
"$repo/target/release/examples/echo" "127.0.0.1:$port" 2>/dev/null &
pid=$!

timeout 150 python3 - "$port" "$conns" <<'PY'
import selectors, socket, subprocess, sys, time

port, n = int(sys.argv[1]), int(sys.argv[2])
addr = ("127.0.0.1", port)
deadline = time.monotonic() + 120


def overflows():
    try:
        lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
        return int(lines[1][lines[0].index("ListenOverflows")])
    except Exception:
        return None


for _ in range(200):
    try:
        socket.create_connection(addr, timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)

# A burst of 1,000 non-blocking connects to the server, which has no thread cached yet.
before = overflows()
burst = []
for _ in range(1000):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(addr)
    burst.append(s)
# Wait (at most 3 s) for every handshake: one whose SYN was dropped retries after 1 s.
wsel = selectors.DefaultSelector()
for s in burst:
    wsel.register(s, selectors.EVENT_WRITE)
left, until = len(burst), time.monotonic() + 3
while left and time.monotonic() < until:
    for key, _ in wsel.select(timeout=0.1):
        wsel.unregister(key.fileobj)
        left -= 1
after = overflows()
for s in burst:
    s.close()
if before is not None and after is not None:
    print(f"burst of 1000 connects to a cold server: ListenOverflows +{after - before}, "
          f"{1000 - left} connected within 3 s")

# Hold n keep-alive connections, each idle after one answered request.
req = b"GET /idle HTTP/1.1\r\nHost: bench\r\n\r\n"
sel = selectors.DefaultSelector()
socks = []
t0 = time.monotonic()
for i in range(n):
    s = socket.create_connection(addr, timeout=10)
    s.sendall(req)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, bytearray())
    socks.append(s)
pending = n
while pending and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        buf = key.data
        chunk = key.fileobj.recv(4096)
        if not chunk:
            sys.exit(f"a connection closed before its first response")
        buf += chunk
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            length = 0
            for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(buf) >= head_end + 4 + length:
                sel.unregister(key.fileobj)
                pending -= 1
if pending:
    sys.exit(f"{pending} connections unanswered")
print(f"{n} idle keep-alive connections held ({time.monotonic() - t0:.1f} s to set up)")

# One more client, as curl: answered at once, by evicting the longest-idle connection.
out = subprocess.run(
    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "130",
     f"http://127.0.0.1:{port}/new"],
    capture_output=True, text=True, timeout=140,
).stdout.split()
print(f"one more GET at the limit: status {out[0]} in {float(out[1]) * 1000:.1f} ms")

# Which idle connections were closed: expect exactly one, among the first answered (the
# longest idle; the order the server answered them in is not quite the order they connected).
for s in socks:
    s.setblocking(False)
closed = []
for i, s in enumerate(socks):
    try:
        if s.recv(1) == b"":
            closed.append(i)
    except BlockingIOError:
        pass
print(f"idle connections closed by the server: {len(closed)} {closed[:5]}")
for s in socks:
    s.close()
PY
