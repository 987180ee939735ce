#!/usr/bin/env bash
# HTTP/2 memory (issue 19, "record memory per idle stream and per connection"): resident bytes
# per idle connection and per open idle stream in nethttp's HTTP/2 server (nethttp-hello-tls)
# and Go's net/http (hello over TLS), and per idle connection in nethttp's HTTP/2 client and
# Go's. Not part of CI.
#
#   bash benches/h2_mem.sh               # 1,000 connections, 5 x 200 streams, 2 rounds
#   H2MEM_CONNS=500 H2MEM_ROUNDS=1 bash benches/h2_mem.sh
#
# Servers: benches/h2_mem.py opens H2MEM_CONNS connections with raw frames over TLS (ALPN h2;
# preface, SETTINGS, then idle; then one GET each, then idle again) and then H2MEM_STREAMS
# streams on each of H2MEM_STREAM_CONNS of them (POST /read, no body: the handler sends its
# head and waits for a body that never comes); the server's VmRSS growth per connection and
# per stream (h2_mem.py says why a stream is measured with its handler waiting). nethttp's h2c
# (same frames, no TLS) runs beside them, to tell TLS's share from HTTP/2's.
# Clients: h2-idle-client (benches/peers/rust) and Go's h2idle (benches/peers/go) each open
# H2MEM_CONNS HTTP/2 connections to Go's hello, one origin each (a client shares one
# connection per origin), one GET on each, then idle; their own VmRSS growth per connection.
#
# Settings: H2MEM_CONNS (default 1000), H2MEM_STREAM_CONNS (5), H2MEM_STREAMS (200 per
# connection; both servers allow 250), H2MEM_ROUNDS (2), BENCH_PORT (default 18480),
# PEERS_TARGET_DIR. Needs cargo, go, openssl and python3; `ulimit -n` above H2MEM_CONNS.
# Results: target/bench-results/h2_mem.txt, a table on stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=benches/h2_mem.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
peers="$repo/benches/peers/rust"
target=${PEERS_TARGET_DIR:-$peers/target}
conns=${H2MEM_CONNS:-1000}
stream_conns=${H2MEM_STREAM_CONNS:-5}
streams=${H2MEM_STREAMS:-200}
rounds=${H2MEM_ROUNDS:-2}
port=${BENCH_PORT:-18480}
out="$repo/target/bench-results"
mkdir -p "$out"
require_tools cargo go openssl python3

if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le $((conns + 100)) ]; then
  ulimit -n $((conns + 1000)) 2>/dev/null || {
    echo "$script: ulimit -n must exceed $((conns + 100))" >&2
    exit 1
  }
fi

log "building nethttp-hello-tls and h2-idle-client (release, feature http2), Go's hello and h2idle"
(cd "$peers" && CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --locked --quiet \
  --bin nethttp-hello-tls --bin h2-idle-client)
(cd "$repo/benches/peers/go" && GOPROXY=off nice -n 10 go build -o "$out/go-hello" ./hello \
  && GOPROXY=off nice -n 10 go build -o "$out/go-h2idle" ./h2idle)

tmp=$(mktemp -d)
pid=
trap 'rm -rf "$tmp"; [ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
# P-256 rather than RSA: thousands of handshakes are not what is measured. Not a CA (rustls
# refuses a CA certificate as a server's); *.h2.test names the clients' many origins.
h2_cert "$tmp"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "$script: something already listens on port $port (set BENCH_PORT)" >&2
  exit 1
fi

start() { start_h2_server "$1" "$port" "$tmp" "$target" "$out"; }

log "load before: $(uptime)"
: >"$out/h2_mem.txt"
for ((round = 1; round <= rounds; round++)); do
  for impl in $(rotate "$round" nethttp go nethttp-h2c); do
    log "round $round/$rounds: server $impl, $conns connections, $stream_conns x $streams streams"
    start "$impl"
    cert=$tmp/cert.pem
    [ "$impl" = nethttp-h2c ] && cert=-
    line=$(python3 "$repo/benches/h2_mem.py" "127.0.0.1:$port" "$pid" "$cert" "$conns" \
      "$stream_conns" "$streams")
    stop_pid "$pid"
    pid=
    echo "server $impl $line" | tee -a "$out/h2_mem.txt" >&2
  done
  # The clients talk to Go's server, started afresh, one client after the other.
  start go
  for impl in $(rotate "$round" nethttp go); do
    log "round $round/$rounds: client $impl, $conns connections"
    if [ "$impl" = go ]; then
      line=$("$out/go-h2idle" "$conns" "$port" "$tmp/cert.pem")
    else
      line=$("$target/release/h2-idle-client" "$conns" "$port" "$tmp/cert.pem")
    fi
    echo "client $impl $line" | tee -a "$out/h2_mem.txt" >&2
  done
  stop_pid "$pid"
  pid=
done
log "load after: $(uptime)"

python3 - "$out/h2_mem.txt" "$conns" "$((stream_conns * streams))" <<'PY'
import collections, json, statistics, sys
server = collections.defaultdict(lambda: collections.defaultdict(list))
client = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    role, impl, rest = line.rstrip("\n").split(" ", 2)
    if role == "server":
        for kv in rest.split():
            k, v = kv.split("=")
            server[impl][k].append(int(v))
    else:
        for k, v in json.loads(rest).items():
            if isinstance(v, int):
                client[impl][k].append(v)
med = lambda xs: statistics.median(xs)
print(f"Server, {sys.argv[2]} idle connections, then {sys.argv[3]} open idle streams "
      "(bytes of VmRSS, medians; threads after each step):")
print()
print("| server | per connection, after SETTINGS | per connection, after one GET "
      "| per open idle stream | threads (start, connections, streams) |")
print("| --- | ---: | ---: | ---: | ---: |")
names = {"nethttp": "nethttp (TLS)", "go": "Go net/http (TLS)", "nethttp-h2c": "nethttp (h2c)"}
for impl in ("nethttp", "go", "nethttp-h2c"):
    s = server.get(impl)
    if not s:
        continue
    print(f"| {names[impl]} | {med(s['fresh_per_conn']):,.0f} | {med(s['used_per_conn']):,.0f} "
          f"| {med(s['per_stream']):,.0f} | {med(s['threads0']):.0f}, "
          f"{med(s['threads_used']):.0f}, {med(s['threads_streams']):.0f} |")
if server.get("nethttp") and server.get("go"):
    n, g = server["nethttp"], server["go"]
    print(f"| nethttp / Go (TLS) | {med(n['fresh_per_conn']) / med(g['fresh_per_conn']):.2f} "
          f"| {med(n['used_per_conn']) / med(g['used_per_conn']):.2f} "
          f"| {med(n['per_stream']) / med(g['per_stream']):.2f} | |")
print()
print("| client | per idle HTTP/2 connection (TLS) | connections |")
print("| --- | ---: | ---: |")
for impl, name in (("nethttp", "nethttp (h2-idle-client)"), ("go", "Go net/http (h2idle)")):
    c = client.get(impl)
    if c:
        print(f"| {name} | {med(c['per_conn_bytes']):,.0f} | {med(c['conns']):.0f} |")
PY
