#!/usr/bin/env bash
# `nethttp bench` against wrk on the same `nethttp serve`, in one run, then bench's A/B mode
# with that server against itself. Not part of CI: a throughput comparison is a measurement,
# not a test (tests/cli.rs and tests/cli_bench.rs check that bench counts exactly what the
# server served, and A/B mode's rounds).
#
#   bash benches/bench_vs_wrk.sh
#
# Rounds alternate wrk and bench (same connections; wrk with one thread per connection, as
# bench has), each for BENCH_DURATION seconds against GET /hello.txt (13 bytes), keep-alive.
# Prints each tool's median requests/s, the spread of its runs (fastest / slowest) and
# bench's median over wrk's. Then `nethttp bench --rounds BENCH_ROUNDS URL URL` (the same
# URL as A and B, rounds of BENCH_DURATION seconds each) prints its two medians, their
# spreads and the ratio B/A, which should be 1 but for noise.
#
# Settings (environment):
#   BENCH_ROUNDS       rounds (default 5)
#   BENCH_DURATION     seconds per run (default 2)
#   BENCH_CONNECTIONS  connections, comma-separated (default 4,16)
#   BENCH_PIN          1: server on CPU 0, load generator on CPU 1 (taskset; default 0)
#   BENCH_PORT         loopback port for the server (default 18190)
#   NETHTTP_BIN        the nethttp binary (default: built here, release, --features cli)
#
# Needs cargo, wrk, curl and python3 (`bash .ci/install-peers`).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${BENCH_ROUNDS:-5}
dur=${BENCH_DURATION:-2}
conns=${BENCH_CONNECTIONS:-4,16}
pin=${BENCH_PIN:-0}
port=${BENCH_PORT:-18190}
script=benches/bench_vs_wrk.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
require_tools wrk python3 curl
if [ -z "${NETHTTP_BIN:-}" ]; then
    (cd "$repo" && cargo build --release --features cli --bin nethttp >&2)
    NETHTTP_BIN=$repo/target/release/nethttp
fi
srv_cpu=() load_cpu=()
if [ "$pin" = 1 ]; then srv_cpu=(taskset -c 0) load_cpu=(taskset -c 1); fi

dir=$(mktemp -d)
printf 'hello, world\n' >"$dir/hello.txt"
"${srv_cpu[@]}" "$NETHTTP_BIN" serve -q --addr "127.0.0.1:$port" "$dir" 2>/dev/null &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$dir"' EXIT
url=http://127.0.0.1:$port/hello.txt
wait_http "$url" "nethttp serve"

results=$(mktemp)
for c in ${conns//,/ }; do
    for r in $(seq "$rounds"); do
        w=$("${load_cpu[@]}" wrk -t "$c" -c "$c" -d "${dur}s" "$url" |
            awk '/^Requests\/sec:/ {print $2}')
        b=$("${load_cpu[@]}" "$NETHTTP_BIN" bench --json -c "$c" -z "${dur}s" "$url" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_per_s"])')
        echo "$c wrk $w" >>"$results"
        echo "$c bench $b" >>"$results"
        echo "c=$c round $r: wrk $w, bench $b" >&2
    done
done
python3 - "$results" "$pin" "$dur" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
pinned = "pinned (server CPU 0, load CPU 1)" if sys.argv[2] == "1" else "shared CPUs"
print(f"nethttp bench vs wrk, runs of {sys.argv[3]} s, {pinned}, requests/s\n")
print("| connections | wrk median | spread | bench median | spread | bench / wrk |")
print("| --- | --- | --- | --- | --- | --- |")
for c in sorted({r[0] for r in rows}, key=int):
    w = [float(r[2]) for r in rows if r[0] == c and r[1] == "wrk"]
    b = [float(r[2]) for r in rows if r[0] == c and r[1] == "bench"]
    mw, mb = statistics.median(w), statistics.median(b)
    print(f"| {c} | {mw:,.0f} | {max(w)/min(w):.2f}x | {mb:,.0f} | {max(b)/min(b):.2f}x "
          f"| {mb/mw:.3f} |")
PY
rm -f "$results"

# A/B mode, the server against itself: the ratio measures the mode's own bias and noise.
echo >&2
echo
echo "nethttp bench A/B, the same URL as A and B, $rounds rounds of ${dur} s, requests/s"
echo
echo "| connections | A median | spread | B median | spread | B / A | per round |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
ab=$(mktemp)
for c in ${conns//,/ }; do
    "${load_cpu[@]}" "$NETHTTP_BIN" bench --json -c "$c" -z "${dur}s" --rounds "$rounds" \
        "$url" "$url" >"$ab"
    python3 - "$ab" "$c" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
a, b = v["a"], v["b"]
r = [x for x in v["ratio_per_round"] if x is not None]
ma, mb = a["median_requests_per_s"], b["median_requests_per_s"]
print(f"| {sys.argv[2]} | {ma:,.0f} | {a['spread']:.2f}x | {mb:,.0f} | {b['spread']:.2f}x "
      f"| {v['ratio_b_over_a']:.3f} | {min(r):.2f}-{max(r):.2f} |")
PY
    echo "c=$c A/B done" >&2
done
rm -f "$ab"
