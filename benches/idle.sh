#!/usr/bin/env bash
# Resident memory per idle keep-alive connection: nethttp's `examples/echo` (default Config)
# against Go's net/http server, in one run. Each server gets N connections (default 10,000),
# each sends one GET and reads the answer, then all stay open and idle; the server's VmRSS
# before and after, divided by N, is the cost of one idle connection. Not part of CI.
#
#   bash benches/idle.sh            # N=10000, 2 rounds
#   IDLE_CONNS=2000 IDLE_ROUNDS=1 bash benches/idle.sh
#
# Needs go and python3 (bash .ci/install-peers), and `ulimit -n` above N (the client and
# the server each hold N sockets).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${IDLE_CONNS:-10000}
rounds=${IDLE_ROUNDS:-2}
port=${BENCH_PORT:-18380}
out="$repo/target/bench-results/idle"
mkdir -p "$out"

if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le "$n" ]; then
  ulimit -n $((n + 1000)) 2>/dev/null || { echo "benches/idle.sh: ulimit -n must exceed $n" >&2; exit 1; }
fi

echo "building examples/echo (release) and the Go server" >&2
(cd "$repo" && cargo build --release --quiet --example echo)
(cd "$repo/benches/peers/go/hello" && go build -o "$out/go-hello" .)
cp "$repo/target/release/examples/echo" "$out/nethttp-echo"

measure() { # name binary
  "$2" "127.0.0.1:$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && break
    sleep 0.05
  done
  local line
  line=$(python3 "$repo/benches/idle_conns.py" "127.0.0.1:$port" "$pid" "$n" /)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$1 $line"
  port=$((port + 1))
}

results=()
for ((r = 1; r <= rounds; r++)); do
  results+=("$(measure go "$out/go-hello")")
  results+=("$(measure nethttp "$out/nethttp-echo")")
done
printf '%s\n' "${results[@]}" >&2
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
per = {}
for line in sys.stdin:
    f = line.split()
    kv = dict(x.split("=") for x in f[1:])
    per.setdefault(f[0], []).append(int(kv["per_conn_bytes"]))
go = statistics.median(per["go"]); nh = statistics.median(per["nethttp"])
print("| server | resident bytes per idle connection (median) | ratio to Go |")
print("|---|---|---|")
print(f"| Go net/http | {go:.0f} | 1.00 |")
print(f"| nethttp (examples/echo, default Config) | {nh:.0f} | {nh/go:.2f} |")
'
