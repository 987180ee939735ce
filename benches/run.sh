#!/usr/bin/env bash
# Cross-implementation load benchmarks: nethttp's server against hyper and Go's net/http under
# wrk, and nethttp's client against ureq, reqwest::blocking and Go's client. Not part of CI.
#
#   bash benches/run.sh                  # 5 s per measurement, 3 interleaved rounds
#   BENCH_QUICK=1 bash benches/run.sh    # 1 s per measurement (a smoke test, not numbers)
#
# Settings (environment):
#   BENCH_DURATION  seconds per measurement (default 5; 1 with BENCH_QUICK=1)
#   BENCH_ROUNDS    rounds; each runs every implementation once, in a rotated order (default 3)
#   BENCH_ONLY      "server" or "client" to run one half (default both)
#   BENCH_PORT      first of three loopback ports used (default 18080)
#   BENCH_CLIENT_TARGET  server the client bench talks to: hyper, go or nethttp (default hyper,
#                   the fastest in the server bench, so the server is not the bottleneck)
#   PEERS_TARGET_DIR     cargo target dir for benches/peers/rust (default its own target/)
#   BENCH_PERF      0 skips the per-thread context-switch runs under perf (default 1: run them
#                   if `perf record -e sched:sched_switch` works)
#
# Needs cargo, go (Debian golang-go), wrk and python3: `bash .ci/install-peers` installs them.
# Results: a markdown summary on stdout and in target/bench-results/summary.md; every raw
# measurement in target/bench-results/{server,client}.json; machine and versions in meta.json.
#
# wrk, the client drivers and the servers share the machine's cores: nothing is pinned, so
# every number includes the load generator's own CPU use (on 2 cores, roughly half).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$repo/benches/peers"
out="$repo/target/bench-results"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  dur=${BENCH_DURATION:-1}
else
  dur=${BENCH_DURATION:-5}
fi
rounds=${BENCH_ROUNDS:-3}
only=${BENCH_ONLY:-}
port0=${BENCH_PORT:-18080}
client_target=${BENCH_CLIENT_TARGET:-hyper}
peers_target=${PEERS_TARGET_DIR:-$peers/rust/target}

script=benches/run.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
require_tools cargo go wrk python3 curl

# --- build ---------------------------------------------------------------------------------
bin="$out/bin"
mkdir -p "$out" "$bin"
log "building benches/peers/rust (release)"
(cd "$peers/rust" && CARGO_TARGET_DIR="$peers_target" nice -n 10 cargo build --release --locked --quiet)
for b in nethttp-hello hyper-hello client-bench; do
  cp "$peers_target/release/$b" "$bin/$b"
done
log "building benches/peers/go"
# GOPROXY=off: the module has no dependencies, so the build must never reach a network.
(cd "$peers/go" && GOPROXY=off nice -n 10 go build -o "$bin/go-hello" ./hello \
  && GOPROXY=off nice -n 10 go build -o "$bin/go-client" ./client)

# --- servers -------------------------------------------------------------------------------
server_port() {
  case $1 in
    nethttp) echo $((port0 + 0)) ;;
    hyper) echo $((port0 + 1)) ;;
    go) echo $((port0 + 2)) ;;
  esac
}

server_pid=
start_server() { # impl
  local port
  port=$(server_port "$1")
  require_free "http://127.0.0.1:$port/"
  case $1 in
    nethttp) "$bin/nethttp-hello" "127.0.0.1:$port" & ;;
    hyper) "$bin/hyper-hello" "127.0.0.1:$port" & ;;
    go) "$bin/go-hello" "127.0.0.1:$port" & ;;
  esac
  server_pid=$!
  wait_http "http://127.0.0.1:$port/" "the $1 server"
}

stop_server() {
  stop_pid "$server_pid"
  server_pid=
}
trap stop_server EXIT

clk_tck=$(getconf CLK_TCK)

uptime_before=$(uptime)
log "load before: $uptime_before"

# `rotate` (benches/lib.sh) orders each round differently, so each implementation runs early
# in some rounds and late in others and drift hits all of them alike.

# --- server bench --------------------------------------------------------------------------
if [ "$only" != client ]; then
  : >"$out/server.jsonl"
  for ((round = 1; round <= rounds; round++)); do
    for impl in $(rotate "$round" nethttp hyper go); do
      start_server "$impl"
      url="http://127.0.0.1:$(server_port "$impl")/"
      # Warm-up: fault in code, grow thread caches and runtimes.
      wrk -t2 -c64 -d1s "$url" >/dev/null
      for scenario in c1 c64 c512 close16 close64; do
        case $scenario in
          # wrk needs at least as many connections as threads.
          c1) args=(-t1 -c1) conns=1 keepalive=true ;;
          c64) args=(-t2 -c64) conns=64 keepalive=true ;;
          c512) args=(-t2 -c512) conns=512 keepalive=true ;;
          # wrk reconnects after every response that says Connection: close (it counts one
          # request per connection; cross-checked against the kernel's TcpPassiveOpens).
          close16) args=(-t2 -c16 -H 'Connection: close') conns=16 keepalive=false ;;
          close64) args=(-t2 -c64 -H 'Connection: close') conns=64 keepalive=false ;;
        esac
        log "server round $round/$rounds: $impl $scenario (${dur}s)"
        t0=$(cpu_ticks "$server_pid")
        line=$(wrk "${args[@]}" -d"${dur}s" --timeout 5s -s "$repo/benches/wrk-report.lua" "$url" \
          | sed -n 's/^JSON //p')
        t1=$(cpu_ticks "$server_pid")
        if [ -z "$line" ]; then
          echo "benches/run.sh: wrk printed no result for $impl $scenario" >&2
          exit 1
        fi
        printf '{"bench":"server","round":%d,"impl":"%s","scenario":"%s","conns":%d,"keepalive":%s,"server_cpu_s":%s,"wrk":%s}\n' \
          "$round" "$impl" "$scenario" "$conns" "$keepalive" \
          "$(awk -v t=$((t1 - t0)) -v h="$clk_tck" 'BEGIN{printf "%.2f", t / h}')" "$line" \
          >>"$out/server.jsonl"
        # Let TIME_WAIT sockets and the server settle between runs.
        sleep 1
      done
      stop_server
    done
  done
fi

# --- client bench --------------------------------------------------------------------------
if [ "$only" != server ]; then
  : >"$out/client.jsonl"
  start_server "$client_target"
  url="http://127.0.0.1:$(server_port "$client_target")/"
  for ((round = 1; round <= rounds; round++)); do
    for impl in $(rotate "$round" nethttp ureq reqwest go); do
      for mode in seq par; do
        log "client round $round/$rounds: $impl $mode (${dur}s) against $client_target"
        if [ "$impl" = go ]; then
          cmd=("$bin/go-client")
        else
          cmd=("$bin/client-bench" --impl "$impl")
        fi
        line=$("${cmd[@]}" --url "$url" --mode "$mode" --threads 8 --duration "${dur}s" --ctxsw)
        printf '{"bench":"client","round":%d,"target":"%s","result":%s}\n' \
          "$round" "$client_target" "$line" >>"$out/client.jsonl"
        sleep 1
      done
    done
  done

  # Where the context switches happen: one more run per client and mode under
  # `perf record -e sched:sched_switch`, counted by thread name. Skipped without perf (or
  # without permission for tracepoints).
  : >"$out/sched.jsonl"
  if [ "${BENCH_PERF:-1}" = 1 ] && perf record -q -e sched:sched_switch -o /dev/null true \
    >/dev/null 2>&1; then
    for impl in nethttp ureq reqwest go; do
      for mode in seq par; do
        log "client context switches by thread: $impl $mode (${dur}s, perf)"
        if [ "$impl" = go ]; then
          cmd=("$bin/go-client")
        else
          cmd=("$bin/client-bench" --impl "$impl")
        fi
        line=$(perf record -q -e sched:sched_switch -o "$out/sched.data" -- \
          "${cmd[@]}" --url "$url" --mode "$mode" --threads 8 --duration "${dur}s" --warmup 200)
        threads=$([ "$mode" = seq ] && echo 1 || echo 8)
        requests=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$line")
        perf script -i "$out/sched.data" -F trace 2>/dev/null \
          | python3 "$repo/benches/report.py" sched "$impl" "$mode" $((requests + 200 * threads)) \
            >>"$out/sched.jsonl"
        rm -f "$out/sched.data"
        sleep 1
      done
    done
  else
    log "perf with sched tracepoints not available: skipping the per-thread context switches"
  fi
  stop_server
fi

uptime_after=$(uptime)
log "load after: $uptime_after"

# --- report --------------------------------------------------------------------------------
lockver() { # crate
  awk -v n="$1" '$0 == "name = \"" n "\"" {getline; gsub(/version = |"/, ""); print; exit}' \
    "$peers/rust/Cargo.lock"
}
export BENCH_META_CPU BENCH_META_NPROC BENCH_META_RUSTC BENCH_META_GO BENCH_META_WRK \
  BENCH_META_HYPER BENCH_META_TOKIO BENCH_META_UREQ BENCH_META_REQWEST BENCH_META_COMMIT \
  BENCH_META_UPTIME_BEFORE BENCH_META_UPTIME_AFTER BENCH_META_DURATION BENCH_META_ROUNDS \
  BENCH_META_CLIENT_TARGET BENCH_META_DATE BENCH_META_ONLY
BENCH_META_CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
BENCH_META_NPROC=$(nproc)
BENCH_META_RUSTC=$(rustc --version)
BENCH_META_GO=$(go version)
BENCH_META_WRK=$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2 || true)
BENCH_META_HYPER=$(lockver hyper)
BENCH_META_TOKIO=$(lockver tokio)
BENCH_META_UREQ=$(lockver ureq)
BENCH_META_REQWEST=$(lockver reqwest)
BENCH_META_COMMIT=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
BENCH_META_UPTIME_BEFORE=$uptime_before
BENCH_META_UPTIME_AFTER=$uptime_after
BENCH_META_DURATION=$dur
BENCH_META_ROUNDS=$rounds
BENCH_META_CLIENT_TARGET=$client_target
BENCH_META_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
BENCH_META_ONLY=$only
python3 "$repo/benches/report.py" "$out"
