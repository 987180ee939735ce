#!/usr/bin/env bash
# What one keep-alive request costs a server's caches: the instructions it runs, the distinct
# 64-byte lines of code they come from, and the distinct 64-byte lines of data it reads or
# writes, for nethttp-hello, floor-server and hyper-hello. Not part of CI; needs valgrind.
#
#   bash benches/footprint.sh
#
# Why lines: on a thread per connection, between two requests of one thread the kernel (the
# socket calls, the scheduler) and the other connections' threads run. At 64 connections on two
# cores we expect little of a request's code or data to be left in the first-level caches when
# the next one on that thread starts, so how many lines a request touches should matter as
# much as how many instructions it runs (docs/PERFORMANCE.md, "Session 16").
#
# How: each server runs under valgrind twice with the same connections and two request counts;
# a count that grows with the requests belongs to them, so the difference, divided by the
# requests between the two runs, is per request and leaves start-up and shutdown out.
#   - instructions and code lines: callgrind with `--dump-instr=yes`; a line counts if its
#     instructions ran at least once per two requests more in the longer run;
#   - data lines: lackey's trace of every load and store; a line counts if it was touched at
#     least once per request more in the longer run (one connection, so its buffers and its
#     thread's stack are the same memory in every request).
#
# Settings (environment):
#   FOOT_CONNS       connections for the code count, served round robin (default 64)
#   FOOT_ROUNDS      the two runs' rounds, a request per connection each (default "10 30")
#   FOOT_DATA_ROUNDS the lackey runs' requests on one connection (default "20 60")
#   FOOT_SERVERS     which servers (default "nethttp-hello floor-server hyper-hello")
#   PEERS_TARGET_DIR the cargo target dir of benches/peers/rust (default: its own target/)
#
# Prints a markdown table. valgrind runs the servers about 50 times slower, so a run takes a
# few minutes. The counts do not follow the machine's load; they vary by about 1 % from run
# to run, with the order in which valgrind runs the threads.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$repo/benches/peers/rust"
target=${PEERS_TARGET_DIR:-$peers/target}
conns=${FOOT_CONNS:-64}
read -r r1 r2 <<<"${FOOT_ROUNDS:-10 30}"
read -r d1 d2 <<<"${FOOT_DATA_ROUNDS:-20 60}"
servers=${FOOT_SERVERS:-nethttp-hello floor-server hyper-hello}
work=$(mktemp -d)
vg=
trap '[ -n "$vg" ] && kill "$vg" 2>/dev/null; rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "footprint.sh: needs valgrind" >&2; exit 1; }
(cd "$peers" && cargo build --release --quiet --target-dir "$target" \
  --bin nethttp-hello --bin floor-server --bin hyper-hello)

# The client: CONNS keep-alive connections, ROUNDS rounds of one GET on each, every response
# read whole before the next round. Exits non-zero if the server stops answering.
cat >"$work/drive.py" <<'PY'
import socket, sys
port, n, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
req = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: footprint\r\nAccept: */*\r\n\r\n"
conns = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(n)]
def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise SystemExit("the server closed a connection")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        d = s.recv(65536)
        if not d:
            raise SystemExit("the server closed a connection mid-body")
        rest += d
for _ in range(rounds):
    for s in conns:
        s.sendall(req)
    for s in conns:
        read_response(s)
for s in conns:
    s.close()
PY

# Per-request code: instructions, and lines whose instructions' counts grew by at least
# NEED between two callgrind profiles (--dump-instr=yes). Addresses are relative to their
# object (the binary, libc...), so a line is keyed by its object's name and its address.
cat >"$work/code.py" <<'PY'
import sys
def load(path):
    counts, objects, obj, last, skip = {}, {}, "", 0, False
    for line in open(path):
        if line.startswith("ob="):
            v = line[3:].strip()
            if v.startswith("("):
                i = v.index(")")
                if v[i + 1:].strip():
                    objects[v[1:i]] = v[i + 1:].strip()
                obj = objects.get(v[1:i], v)
            else:
                obj = v
            continue
        if line.startswith(("fn=", "cfn=", "fl=", "fi=", "fe=", "cob=", "cfi=", "cfl=")):
            continue
        if line.startswith("calls="):
            skip = True  # the next cost line is the call's inclusive cost
            continue
        if not (line[0].isdigit() or line[0] in "+-*"):
            continue
        parts = line.split()
        p = parts[0]
        if p.startswith("0x"):
            addr = int(p, 16)
        elif p[0] == "+":
            addr = last + int(p[1:])
        elif p[0] == "-":
            addr = last - int(p[1:])
        elif p == "*":
            addr = last
        else:
            addr = int(p)
        last = addr
        if skip:
            skip = False
            continue
        if len(parts) > 2:
            counts[(obj, addr)] = counts.get((obj, addr), 0) + int(parts[2])
    return counts
def total(path):
    for line in open(path):
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
a, b = load(sys.argv[1]), load(sys.argv[2])
requests, need = int(sys.argv[3]), float(sys.argv[3]) / 2
lines = {(obj, addr // 64) for (obj, addr), n in b.items() if n - a.get((obj, addr), 0) >= need}
print((total(sys.argv[2]) - total(sys.argv[1])) / requests, len(lines))
PY

# Per-request data lines from two lackey traces (an access that spans two lines counts on
# both).
cat >"$work/data.py" <<'PY'
import sys
def load(path):
    counts = {}
    for line in open(path):
        if line[:2] in (" L", " S", " M"):
            addr, size = line.split()[1].split(",")
            first = int(addr, 16)
            for l in {first // 64, (first + max(int(size), 1) - 1) // 64}:
                counts[l] = counts.get(l, 0) + 1
    return counts
a, b = load(sys.argv[1]), load(sys.argv[2])
need = int(sys.argv[3])
print(sum(1 for line, n in b.items() if n - a.get(line, 0) >= need))
PY

# Below the ephemeral range (32768 and up), where the driver's own connections take ports.
port=$((20000 + RANDOM % 12000))
# run BIN CONNS ROUNDS TOOL_ARGS...: the server under valgrind on a free port, driven, then
# stopped with SIGTERM (callgrind writes its profile on it; a background job ignores SIGINT).
run() {
  local bin=$1 n=$2 rounds=$3
  shift 3
  port=$((port + 1))
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  valgrind "$@" "$bin" "127.0.0.1:$port" >/dev/null 2>"$work/valgrind.err" &
  vg=$!
  local up=0
  for _ in $(seq 1 600); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  [ "$up" = 1 ] || { echo "footprint.sh: $bin did not start" >&2; cat "$work/valgrind.err" >&2; exit 1; }
  python3 "$work/drive.py" "$port" "$n" "$rounds"
  kill "$vg" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$vg" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$vg" 2>/dev/null || true
  wait "$vg" 2>/dev/null || true
  vg=
}

echo "| server | instructions / request | code lines / request (KiB) | data lines / request (KiB) |"
echo "|---|---:|---:|---:|"
for s in $servers; do
  bin="$target/release/$s"
  for r in "$r1" "$r2"; do
    run "$bin" "$conns" "$r" --tool=callgrind --dump-instr=yes \
      --callgrind-out-file="$work/$s-$r.cg"
  done
  counts=$(python3 "$work/code.py" "$work/$s-$r1.cg" "$work/$s-$r2.cg" $(((r2 - r1) * conns)))
  read -r ir code <<<"$counts"
  for r in "$d1" "$d2"; do
    run "$bin" 1 "$r" --tool=lackey --trace-mem=yes --log-file="$work/$s-$r.lk"
  done
  data=$(python3 "$work/data.py" "$work/$s-$d1.lk" "$work/$s-$d2.lk" $((d2 - d1)))
  rm -f "$work/$s-"*.lk
  awk -v s="$s" -v ir="$ir" -v c="$code" -v d="$data" \
    'BEGIN { printf "| %s | %.0f | %d (%.1f) | %d (%.1f) |\n", s, ir, c, c * 64 / 1024, d, d * 64 / 1024 }'
done
