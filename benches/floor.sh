#!/usr/bin/env bash
# The design's floor beside the real implementations, interleaved in one run: floor-server
# against nethttp-hello, Go's hello and hyper-hello under `wrk -c64` and `wrk -c512`,
# under connection churn (`Connection: close`) and at a fixed rate, and floor-client
# against nethttp's and ureq's clients (sequential and 8 threads) talking to hyper-hello.
# Not part of CI.
#
#   bash benches/run.sh                 # builds the binaries into target/bench-results/bin
#   bash benches/floor.sh               # then this
#   BASELINE_BIN=/other/checkout/target/bench-results/bin bash benches/floor.sh
#
# Settings (environment):
#   FLOOR_ROUNDS     rounds; each runs every program once, in a rotated order (default 3)
#   FLOOR_DURATION   seconds per measurement (default 4)
#   FLOOR_CONNS      the servers' connection counts under wrk (default "64 512"; empty skips)
#   FLOOR_CHURN      connection counts of the churn run, `wrk -H 'Connection: close'`: a new
#                    connection per request, the floor server closing after its one response
#                    (default "16"; empty skips it)
#   FLOOR_RATE       requests/s of the open-loop run: each server at 512 connections under
#                    `nethttp bench --rate` (default 20000; 0 skips it), reporting the server's
#                    CPU per request. At a fixed offered load the CPU a request costs is the
#                    measure, not how many a saturated machine completes; each connection then
#                    sees a request every 512/rate seconds, as a busy server's clients do
#   FLOOR_CLIENTS    0 skips the clients' run (default 1)
#   NETHTTP_CLI      the `nethttp` command for that run (default target/release/nethttp,
#                    `cargo build --release --features cli`)
#   BASELINE_BIN     a second bin directory (another commit's `benches/run.sh` output): its
#                    nethttp-hello and client-bench run too, as "nethttp-base", so a change is
#                    a ratio from one run
#   PEERS_TARGET_DIR the cargo target dir of benches/peers/rust (floor-* live in its release/)
#   BENCH_PORT       first of two loopback ports (default 18180)
#
# Prints a markdown table of medians and ratios to stdout. With three rounds or more it also
# prints each ratio taken within every round (the two programs measured seconds apart, under
# the same load from the host) as a median and range: on a guest whose speed swings by 20-30 %
# between minutes, that is the steadier figure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$repo/target/bench-results/bin"
peers_target=${PEERS_TARGET_DIR:-$repo/benches/peers/rust/target}
floor_bin="$peers_target/release"
rounds=${FLOOR_ROUNDS:-3}
dur=${FLOOR_DURATION:-4}
conns_list=${FLOOR_CONNS-64 512}
rate=${FLOOR_RATE:-20000}
cli=${NETHTTP_CLI:-$repo/target/release/nethttp}
port0=${BENCH_PORT:-18180}
base=${BASELINE_BIN:-}

for f in "$bin/nethttp-hello" "$bin/hyper-hello" "$bin/client-bench" "$floor_bin/floor-server" "$floor_bin/floor-client"; do
  [ -x "$f" ] || { echo "benches/floor.sh: missing $f (run benches/run.sh first)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "benches/floor.sh: needs wrk" >&2; exit 1; }

script=benches/floor.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() { wait_http "http://127.0.0.1:$1/" "the server on port $1"; } # port

results=$(mktemp)

# Starts server $1 on $port and waits until it answers; sets pid.
start_server() {
  case $1 in
    hyper) "$bin/hyper-hello" "127.0.0.1:$port" & ;;
    go) "$bin/go-hello" "127.0.0.1:$port" & ;;
    floor) "$floor_bin/floor-server" "127.0.0.1:$port" & ;;
    nethttp) "$bin/nethttp-hello" "127.0.0.1:$port" & ;;
    nethttp-base) "$base/nethttp-hello" "127.0.0.1:$port" & ;;
  esac
  pid=$!
  pids+=("$pid")
  wait_up "$port"
}

# Stops the server started last and moves to the other port (a fresh port: no TIME_WAIT
# clash with the connections just closed).
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local live=() p
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || live+=("$p"); done
  pids=("${live[@]}")
  port=$((port == port0 ? port0 + 1 : port0))
}

# Starts server $1, runs wrk with $2 connections and the wrk arguments after them (a second's
# warm-up, then the measurement) and stops it; sets rps.
measure_wrk() {
  local s=$1 conns=$2
  shift 2
  start_server "$s"
  wrk -t2 -c"$conns" -d1s "$@" "http://127.0.0.1:$port/" >/dev/null
  rps=$(wrk -t2 -c"$conns" -d"${dur}s" "$@" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
  stop_server
  [ -n "$rps" ] || { echo "benches/floor.sh: wrk reported no rate ($s, $conns connections)" >&2; exit 1; }
}

# --- servers under wrk -c64 and -c512 -------------------------------------------------------
servers=(hyper floor nethttp)
[ -x "$bin/go-hello" ] && servers+=(go)
[ -n "$base" ] && servers+=(nethttp-base)
port=$port0
for ((round = 1; round <= rounds; round++)); do
  for conns in $conns_list; do
    for s in $(rotate "$round" "${servers[@]}"); do
      log "server round $round/$rounds: $s, $conns connections"
      measure_wrk "$s" "$conns"
      echo "server-$conns $s $rps $round" >>"$results"
    done
  done
  for conns in ${FLOOR_CHURN-16}; do
    for s in $(rotate "$round" "${servers[@]}"); do
      log "churn round $round/$rounds: $s, $conns connections, Connection: close"
      measure_wrk "$s" "$conns" -H 'Connection: close'
      echo "close-$conns $s $rps $round" >>"$results"
    done
  done
done

# --- servers at a fixed rate: CPU per request ------------------------------------------------
if [ "$rate" != 0 ] && [ -x "$cli" ]; then
  for ((round = 1; round <= rounds; round++)); do
    for s in $(rotate "$round" "${servers[@]}"); do
      start_server "$s"
      "$cli" bench -c 512 -z 1s --rate "$rate" "http://127.0.0.1:$port/" >/dev/null 2>&1
      log "fixed rate round $round/$rounds: $s, $rate/s over 512 connections"
      read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
      sent=$("$cli" bench -c 512 -z "${dur}s" --rate "$rate" --json "http://127.0.0.1:$port/" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
      read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
      hz=$(getconf CLK_TCK)
      # CPU µs per request; the table takes requests per CPU second, so that higher is better
      # as in the other tables (1e6 / µs).
      per=$(python3 -c "import sys; t=(int(sys.argv[1])-int(sys.argv[2]))/int(sys.argv[3]); print(f'{int(sys.argv[4])/t:.0f}' if t > 0 else 0)" \
        "$((u1 + s1))" "$((u0 + s0))" "$hz" "$sent")
      echo "fixed-$rate $s $per $round" >>"$results"
      stop_server
    done
  done
else
  log "fixed-rate run skipped (FLOOR_RATE=0 or no $cli)"
fi

# --- clients against hyper-hello ----------------------------------------------------------
if [ "${FLOOR_CLIENTS:-1}" = 0 ]; then
  log "clients' run skipped (FLOOR_CLIENTS=0)"
else
  clients=(ureq floor nethttp)
  [ -n "$base" ] && clients+=(nethttp-base)
  "$bin/hyper-hello" "127.0.0.1:$port" &
  pids+=("$!")
  wait_up "$port"
  url="http://127.0.0.1:$port/"
  for ((round = 1; round <= rounds; round++)); do
    for mode in seq par; do
      for c in $(rotate "$round" "${clients[@]}"); do
        log "client round $round/$rounds: $c $mode"
        case $c in
          floor) line=$("$floor_bin/floor-client" --url "$url" --mode "$mode" --threads 8 --duration "${dur}s") ;;
          ureq) line=$("$bin/client-bench" --impl ureq --url "$url" --mode "$mode" --threads 8 --duration "${dur}s") ;;
          nethttp) line=$("$bin/client-bench" --impl nethttp --url "$url" --mode "$mode" --threads 8 --duration "${dur}s") ;;
          nethttp-base) line=$("$base/client-bench" --impl nethttp --url "$url" --mode "$mode" --threads 8 --duration "${dur}s") ;;
        esac
        rps=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rps"])' "$line")
        echo "client-$mode $c $rps $round" >>"$results"
      done
    done
  done
fi

python3 - "$results" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
by_round = defaultdict(dict)  # (what, round) -> impl -> rps
for line in open(sys.argv[1]):
    what, impl, rps, rnd = line.split()
    runs[(what, impl)].append(float(rps))
    by_round[(what, rnd)][impl] = float(rps)


def per_round(what, impl, other):
    """impl/other within each round (measured seconds apart, so under the same load): the
    median and range, or '-' with fewer than three rounds."""
    r = [v[impl] / v[other] for (w, _), v in by_round.items()
         if w == what and impl in v and other in v]
    if len(r) < 3:
        return "-"
    return f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f})"
whats = sorted({w for w, _ in runs if w.startswith("server-")}, key=lambda w: int(w[7:]))
whats += sorted({w for w, _ in runs if w.startswith("close-")}, key=lambda w: int(w[6:]))
whats += sorted({w for w, _ in runs if w.startswith("fixed-")})
whats += [w for w in ("client-seq", "client-par") if any(x == w for x, _ in runs)]
has_go = any(i == "go" for _, i in runs)
for what in whats:
    if what.startswith("server-"):
        # The issue's server targets are against Go's server; hyper without Go.
        ref = "go" if has_go else "hyper"
        title = f"Server, {what[7:]} connections (wrk)"
    elif what.startswith("close-"):
        ref = "go" if has_go else "hyper"
        title = f"Server, churn: {what[6:]} connections, `Connection: close` (wrk)"
    elif what.startswith("fixed-"):
        ref = "go" if has_go else "hyper"
        title = (f"Server at {what[6:]} requests/s over 512 connections (open loop): "
                 "requests per CPU second of the server (1e6 / CPU µs per request)")
    else:
        ref = "ureq"
        title = {"client-seq": "Client, sequential", "client-par": "Client, 8 threads"}[what]
    print(f"\n### {title}\n")
    unit = "requests per CPU s" if what.startswith("fixed-") else "req/s"
    print(f"| program | {unit} (median) | min-max | vs {ref} | vs floor "
          f"| vs {ref}, per round | vs floor, per round |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    med = {i: statistics.median(v) for (w, i), v in runs.items() if w == what}
    for impl in sorted(med, key=lambda i: -med[i]):
        v = runs[(what, impl)]
        print(f"| {impl} | {med[impl]:,.0f} | {min(v):,.0f}-{max(v):,.0f} | "
              f"{med[impl] / med[ref]:.2f} | {med[impl] / med['floor']:.2f} | "
              f"{per_round(what, impl, ref)} | {per_round(what, impl, 'floor')} |")
PY
rm -f "$results"
