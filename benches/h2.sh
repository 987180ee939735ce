#!/usr/bin/env bash
# HTTP/2 server throughput: nethttp (feature http2) against Go's net/http HTTP/2 server, both
# over TLS with ALPN h2, loaded by h2load in the same run; nethttp's h2c (prior knowledge) as
# well, which Go 1.19's net/http cannot serve without golang.org/x/net. Not part of CI.
#
#   bash benches/h2.sh                   # 4 s per measurement, 3 interleaved rounds, medians
#   BENCH_DURATION=2 BENCH_ROUNDS=5 bash benches/h2.sh
#
# Scenarios (issue 19): 1 connection x 100 concurrent streams, 8 connections x 10 streams.
# Settings: BENCH_DURATION, BENCH_ROUNDS, BENCH_PORT (default 18450), PEERS_TARGET_DIR.
# Needs cargo, go, h2load (Debian nghttp2-client) and openssl.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=benches/h2.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
peers="$repo/benches/peers/rust"
target=${PEERS_TARGET_DIR:-$peers/target}
dur=${BENCH_DURATION:-4}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-18450}
out="$repo/target/bench-results"
mkdir -p "$out"
require_tools cargo go h2load openssl python3

log "building nethttp-hello-tls (release, feature http2) and Go's hello"
(cd "$peers" && CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --locked --quiet \
  --bin nethttp-hello-tls)
(cd "$repo/benches/peers/go" && GOPROXY=off nice -n 10 go build -o "$out/go-hello" ./hello)

tmp=$(mktemp -d)
pid=
trap 'rm -rf "$tmp"; [ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT
h2_cert "$tmp"

start() { start_h2_server "$1" "$port" "$tmp" "$target" "$out"; }

url() { # impl
  case $1 in
    nethttp-h2c) echo "http://127.0.0.1:$port/" ;;
    *) echo "https://127.0.0.1:$port/" ;;
  esac
}

: >"$out/h2.tsv"
impls=(nethttp go nethttp-h2c)
for ((round = 1; round <= rounds; round++)); do
  for impl in $(rotate "$round" "${impls[@]}"); do
    start "$impl"
    before=$(cpu_ticks "$pid")
    total=0
    for sc in "1 100" "8 10"; do
      read -r c m <<<"$sc"
      # h2load prints "finished in 4.00s, 51234.50 req/s, ..." and fails with a non-zero
      # status on a protocol error: a scenario that errs is reported, never a silent zero.
      res=$(h2load -c "$c" -m "$m" -t 1 -D "$dur" --warm-up-time=1 "$(url "$impl")" 2>&1) || {
        echo "$script: h2load failed against $impl:" >&2
        echo "$res" >&2
        exit 1
      }
      rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$res")
      ok=$(awk '/^requests:/ {print $8}' <<<"$res")
      # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
      errs=$(awk '/^requests:/ {print $10 + $12 + $14}' <<<"$res")
      total=$((total + ok))
      printf '%s\t%s\tc%sxm%s\t%s\t%s\n' "$round" "$impl" "$c" "$m" "${rps:-0}" "${errs:-?}" |
        tee -a "$out/h2.tsv" >&2
    done
    after=$(cpu_ticks "$pid")
    # Server CPU per request over both scenarios (ticks are 10 ms).
    printf '%s\t%s\tcpu\t%s\t-\n' "$round" "$impl" \
      "$(python3 -c "print(($after - $before) * 1e4 / max($total, 1))")" | tee -a "$out/h2.tsv" >&2
    stop_pid "$pid"
    pid=
  done
done

python3 - "$out/h2.tsv" <<'PY'
import collections, statistics, sys
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, impl, sc, v, _ = line.rstrip("\n").split("\t")
    by[(sc, impl)].append(float(v))
med = lambda k: statistics.median(by[k]) if by[k] else float("nan")
print("| scenario | nethttp (TLS) req/s | Go (TLS) req/s | nethttp / Go | nethttp h2c req/s |")
print("| --- | ---: | ---: | ---: | ---: |")
for sc, name in (("c1xm100", "1 connection x 100 streams"), ("c8xm10", "8 connections x 10 streams")):
    n, g, c = med((sc, "nethttp")), med((sc, "go")), med((sc, "nethttp-h2c"))
    print(f"| {name} | {n:,.0f} | {g:,.0f} | {n / g:.2f} | {c:,.0f} |")
n, g, c = med(("cpu", "nethttp")), med(("cpu", "go")), med(("cpu", "nethttp-h2c"))
print(f"| server CPU µs per request | {n:.1f} | {g:.1f} | {g / n:.2f} (Go / nethttp) | {c:.1f} |")
PY
