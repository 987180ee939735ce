#!/usr/bin/env bash
# HTTP/2 client throughput: nethttp's client (feature http2) against Go's net/http client, each
# with every thread sharing ONE HTTP/2 connection over TLS (ALPN h2), 8 and then 64 threads,
# against one server: nethttp-hello-tls, then Go's hello over TLS as a second row. Not part
# of CI.
#
#   bash benches/h2_client.sh            # 4 s per measurement, 3 interleaved rounds, medians
#   BENCH_DURATION=2 BENCH_ROUNDS=3 bash benches/h2_client.sh
#
# Issue 19: "the client against Go's client over one shared connection with 8 and 64 threads;
# target at least Go's throughput". Each run is `client-bench --impl nethttp` or Go's client
# with `--mode par --tls-ca CERT --h2`: every response must come over HTTP/2, or the run
# fails. Connections are counted twice: the client's own dial counter (warm-up included), and
# the most connections to the server's port that `ss` sees established while the client
# runs; both must be 1. Client CPU per request is the client process's own (getrusage, timed
# part only); server CPU per request covers the client's whole run, warm-up included.
#
# Settings: BENCH_DURATION, BENCH_ROUNDS, BENCH_PORT (default 18460), BENCH_SERVERS (default
# "nethttp go"), BENCH_THREADS (default "8 64"), PEERS_TARGET_DIR. Needs cargo, go, openssl,
# python3 and ss (iproute2). Results: target/bench-results/h2_client.tsv, a table on stdout.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=benches/h2_client.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
peers="$repo/benches/peers/rust"
target=${PEERS_TARGET_DIR:-$peers/target}
dur=${BENCH_DURATION:-4}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-18460}
read -r -a servers <<<"${BENCH_SERVERS:-nethttp go}"
read -r -a thread_counts <<<"${BENCH_THREADS:-8 64}"
warmup=200
out="$repo/target/bench-results"
mkdir -p "$out"
require_tools cargo go openssl python3 ss

log "building client-bench and nethttp-hello-tls (release, feature http2), Go's client and hello"
(cd "$peers" && CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --locked --quiet \
  --bin client-bench --bin nethttp-hello-tls)
(cd "$repo/benches/peers/go" && GOPROXY=off nice -n 10 go build -o "$out/go-hello" ./hello \
  && GOPROXY=off nice -n 10 go build -o "$out/go-client" ./client)

tmp=$(mktemp -d)
pid=
trap 'rm -rf "$tmp"; [ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
# Not a CA: rustls refuses a CA certificate as a server's (openssl's default is a CA).
h2_cert "$tmp"
url="https://127.0.0.1:$port/"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "$script: something already listens on port $port (set BENCH_PORT)" >&2
  exit 1
fi

start() { start_h2_server "$1" "$port" "$tmp" "$target" "$out"; }

# Established connections whose far end is the server's port: the client's side of each.
conns_now() {
  ss -Htn state established "( dport = :$port )" | wc -l
}

# Runs one client (in the background, `ss` sampled every 0.2 s meanwhile); prints its JSON
# line, then the most connections seen, on one line.
run_client() { # client threads
  local cmd cpid max=0 n
  if [ "$1" = go ]; then
    cmd=("$out/go-client")
  else
    cmd=("$target/release/client-bench" --impl nethttp)
  fi
  "${cmd[@]}" --url "$url" --mode par --threads "$2" --duration "${dur}s" --warmup "$warmup" \
    --ctxsw --tls-ca "$tmp/cert.pem" --h2 >"$tmp/client.json" &
  cpid=$!
  while kill -0 "$cpid" 2>/dev/null; do
    n=$(conns_now)
    ((n > max)) && max=$n
    sleep 0.2
  done
  wait "$cpid" || {
    echo "$script: the $1 client failed (threads $2)" >&2
    exit 1
  }
  echo "$(cat "$tmp/client.json") $max"
}

log "load before: $(uptime)"
: >"$out/h2_client.tsv"
for server in "${servers[@]}"; do
  start "$server"
  for ((round = 1; round <= rounds; round++)); do
    for client in $(rotate "$round" nethttp go); do
      for threads in "${thread_counts[@]}"; do
        before=$(cpu_ticks "$pid")
        res=$(run_client "$client" "$threads")
        after=$(cpu_ticks "$pid")
        python3 - "$round" "$server" "$client" "$threads" $((after - before)) "$warmup" \
          "$res" <<'PY' | tee -a "$out/h2_client.tsv" >&2
import json, sys
rnd, server, client, threads, ticks, warmup, res = sys.argv[1:]
line, conns = res.rsplit(" ", 1)
r = json.loads(line)
if r["errors"] or r.get("version") != "HTTP/2.0":
    sys.exit(f"benches/h2_client.sh: {client} against {server}: {r}")
# Requests the server answered during the client's run: the timed ones, the warm-up ones
# and the one sent alone first.
served = r["requests"] + int(threads) * int(warmup) + 1
server_cpu = int(ticks) * 1e4 / served
print("\t".join(map(str, (rnd, server, client, threads, r["rps"], r["cpu_us_per_req"],
                          f"{server_cpu:.1f}", conns, r["dials_total"], r["p50_us"], r["p99_us"],
                          r["ctxsw_per_req"]))))
PY
      done
    done
  done
  stop_pid "$pid"
  pid=
done
log "load after: $(uptime)"

python3 - "$out/h2_client.tsv" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, server, client, threads, rps, ccpu, scpu, conns, dials, p50, p99, cs = line.split("\t")
    rows[(server, threads, client)].append(
        (float(rps), float(ccpu), float(scpu), int(conns), int(dials), float(p50), float(cs)))
def med(key, i):
    return statistics.median(r[i] for r in rows[key])
def span(key, i):
    vals = [r[i] for r in rows[key]]
    return f"{min(vals):,.0f}-{max(vals):,.0f}"
def most(key, i):
    return max(r[i] for r in rows[key])
print("| server | threads | nethttp client req/s | Go client req/s | nethttp / Go "
      "| client CPU µs/req (nethttp, Go) | client context switches/req (nethttp, Go) "
      "| server CPU µs/req under each client (nethttp, Go) "
      "| connections dialled / seen by ss (nethttp; Go) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for server, threads in sorted({(s, t) for s, t, _ in rows}, key=lambda k: (k[0] != "nethttp", int(k[1]))):
    n, g = (server, threads, "nethttp"), (server, threads, "go")
    if not rows[n] or not rows[g]:
        continue
    print(f"| {server} | {threads} | {med(n, 0):,.0f} ({span(n, 0)}) | {med(g, 0):,.0f} ({span(g, 0)}) "
          f"| **{med(n, 0) / med(g, 0):.2f}** | {med(n, 1):.1f}, {med(g, 1):.1f} "
          f"| {med(n, 6):.1f}, {med(g, 6):.1f} "
          f"| {med(n, 2):.1f}, {med(g, 2):.1f} | {most(n, 4)} / {most(n, 3)}; {most(g, 4)} / {most(g, 3)} |")
PY
