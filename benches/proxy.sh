#!/usr/bin/env bash
# Reverse proxies: nethttp's against Go's httputil.ReverseProxy, in one run, through each to the
# same upstream (issue 17). Not part of CI.
#
#   bash benches/proxy.sh                                   # examples/reverse_proxy.rs vs Go
#   PROXY_EXAMPLES="reverse_proxy forwarder" bash benches/proxy.sh   # both, each vs Go
#   NETHTTP_PROXY_CMD="/path/to/proxy --flag" bash benches/proxy.sh  # any command instead
#
# The upstream is nginx (one worker, keep-alive, `return 200 "Hello, World!"`: a 13-byte body
# from memory), started once and shared. It costs about 6 µs of CPU per request at 64
# connections here, half of what Go's hello server (benches/peers/go/hello) costs, so more of
# the two cores goes to the proxy being measured; and its stub_status counts the connections
# each proxy opens to it (the "upstream conns" column: a proxy whose pool keeps too few idle
# connections redials under load).
#
# Each round starts each proxy in turn (the order rotated per round), warms it up for a
# second, then runs wrk through it for BENCH_DURATION seconds with 1 connection (`-t1 -c1`:
# wrk needs at least one connection per thread) and with 64 (`-t2 -c64`), keep-alive. The
# tables give medians over the rounds and the ratio nethttp/Go for each.
#
# The proxies under test:
#   go        benches/peers/go/revproxy: httputil.NewSingleHostReverseProxy on a transport
#             that keeps up to 1024 idle connections per host (Go's DefaultTransport keeps 2);
#   nethttp   each of PROXY_EXAMPLES, an example of this crate built with --release and run
#             as `target/release/examples/NAME ADDR UPSTREAM` (as `cargo run --release
#             --example NAME -- ADDR UPSTREAM` would, without cargo in the measurement); or
#             NETHTTP_PROXY_CMD, run with ADDR and UPSTREAM appended, built by you.
#
# Settings (environment):
#   BENCH_ROUNDS        rounds (default 5)
#   BENCH_DURATION      seconds per measurement (default 5)
#   BENCH_PORT          first of the loopback ports used: the upstream, Go's proxy, then one
#                       per nethttp proxy (default 18280)
#   PROXY_EXAMPLES      nethttp examples to measure, space-separated (default reverse_proxy)
#   NETHTTP_PROXY_CMD   a command to measure instead of the examples, labelled "nethttp"
#
# Needs cargo, go, nginx, wrk, curl and python3 (`bash .ci/install-peers`). The upstream, the
# proxy and wrk share the machine's cores; nothing is pinned. Results go to
# target/bench-results/proxy.tsv and proxy.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/target/bench-results"
rounds=${BENCH_ROUNDS:-5}
dur=${BENCH_DURATION:-5}
port0=${BENCH_PORT:-18280}
examples=${PROXY_EXAMPLES:-reverse_proxy}

script=benches/proxy.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
require_tools cargo go wrk curl python3 nginx
nginx_bin=$(find_nginx)

# --- build ---------------------------------------------------------------------------------
bin="$out/bin"
mkdir -p "$out" "$bin"
impls=(go)
declare -A cmd_of
if [ -n "${NETHTTP_PROXY_CMD:-}" ]; then
  impls+=(nethttp)
  cmd_of[nethttp]=$NETHTTP_PROXY_CMD
else
  for ex in $examples; do
    if [ ! -f "$repo/examples/$ex.rs" ]; then
      echo "benches/proxy.sh: examples/$ex.rs is not in this tree; set PROXY_EXAMPLES" \
        "(e.g. PROXY_EXAMPLES=forwarder) or NETHTTP_PROXY_CMD" >&2
      exit 1
    fi
    log "building examples/$ex.rs (release)"
    (cd "$repo" && nice -n 10 cargo build --release --quiet --example "$ex")
    impls+=("$ex")
    cmd_of[$ex]="$repo/target/release/examples/$ex"
  done
fi
log "building benches/peers/go"
(cd "$repo/benches/peers/go" && GOPROXY=off nice -n 10 go build -o "$bin/go-revproxy" ./revproxy)
cmd_of[go]="$bin/go-revproxy"

port_of() { # impl
  local i
  [ "$1" = go ] && { echo $((port0 + 1)); return; }
  for ((i = 1; i < ${#impls[@]}; i++)); do
    [ "${impls[$i]}" = "$1" ] && { echo $((port0 + 1 + i)); return; }
  done
}

# --- upstream ------------------------------------------------------------------------------
work=$(mktemp -d /tmp/nethttp-proxy.XXXXXX)
upstream="http://127.0.0.1:$port0"
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
error_log $work/error.log warn;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/client_body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port0;
        location = /nginx_status { stub_status; }
        location / { default_type text/plain; return 200 "Hello, World!"; }
    }
}
EOF

upstream_pid=
proxy_pid=
cleanup() {
  stop_pid "$proxy_pid"
  stop_pid "$upstream_pid"
  rm -rf "$work"
}
trap cleanup EXIT

wait_for_hello() { # url what
  wait_http "$1" "$2" "Hello, World!"
}

for p in $port0 $(for i in "${impls[@]}"; do port_of "$i"; done); do
  require_free "http://127.0.0.1:$p/"
done
"$nginx_bin" -e "$work/error.log" -p "$work" -c "$work/nginx.conf" 2>/dev/null &
upstream_pid=$!
wait_for_hello "$upstream/" "the nginx upstream"

# Connections the upstream has accepted so far, this query's own included.
upstream_accepts() {
  curl -s "$upstream/nginx_status" | awk 'NR == 3 {print $1}'
}

# --- proxies -------------------------------------------------------------------------------
start_proxy() { # impl
  local port
  port=$(port_of "$1")
  # shellcheck disable=SC2086 # NETHTTP_PROXY_CMD may carry arguments
  ${cmd_of[$1]} "127.0.0.1:$port" "$upstream" >/dev/null 2>&1 &
  proxy_pid=$!
  wait_for_hello "http://127.0.0.1:$port/" "the $1 proxy"
}

stop_proxy() {
  stop_pid "$proxy_pid"
  proxy_pid=
}

clk_tck=$(getconf CLK_TCK)

# One wrk run through the running proxy: prints "rps cpu_us_per_request upstream_conns".
measure() { # impl threads conns
  local url report rps t0 t1 a0 a1
  url="http://127.0.0.1:$(port_of "$1")/"
  a0=$(upstream_accepts)
  t0=$(cpu_ticks "$proxy_pid")
  report=$(wrk -t"$2" -c"$3" -d"${dur}s" "$url")
  t1=$(cpu_ticks "$proxy_pid")
  a1=$(upstream_accepts)
  if grep -Eq 'Non-2xx|Socket errors' <<<"$report"; then
    echo "benches/proxy.sh: $1 with $3 connections had errors: $report" >&2
    exit 1
  fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
  awk -v r="${rps:-0}" -v a="$t0" -v b="$t1" -v hz="$clk_tck" -v d="$dur" -v c=$((a1 - a0 - 1)) \
    'BEGIN {printf "%s %.1f %d\n", r, (r > 0 ? (b - a) / hz * 1e6 / (r * d) : 0), c}'
}

log "load before: $(uptime)"
tsv="$out/proxy.tsv"
: >"$tsv"
for ((round = 1; round <= rounds; round++)); do
  for impl in $(rotate "$round" "${impls[@]}"); do
    start_proxy "$impl"
    wrk -t2 -c64 -d1s "http://127.0.0.1:$(port_of "$impl")/" >/dev/null # warm-up
    for tc in "1 1" "2 64"; do
      read -r threads conns <<<"$tc"
      result=$(measure "$impl" "$threads" "$conns")
      read -r rps cpu ups <<<"$result"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$impl" "$conns" "$rps" "$cpu" "$ups" |
        tee -a "$tsv" >&2
    done
    stop_proxy
  done
done
log "load after: $(uptime)"

python3 - "$tsv" "${impls[@]}" <<'PY' | tee "$out/proxy.md"
import collections, statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
impls = sys.argv[2:]
rps = collections.defaultdict(list)
cpu = collections.defaultdict(list)
ups = collections.defaultdict(list)
for _, impl, conns, r, c, u in rows:
    k = (impl, int(conns))
    rps[k].append(float(r))
    cpu[k].append(float(c))
    ups[k].append(int(u))
med = {k: statistics.median(v) for k, v in rps.items()}
print("| proxy | conns | req/s (median; range) | proxy CPU µs/req | upstream conns | vs Go |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for i in impls:
    for c in (1, 64):
        k = (i, c)
        print(f"| {i} | {c} | {med[k]:,.0f} ({min(rps[k]):,.0f}-{max(rps[k]):,.0f}) | "
              f"{statistics.median(cpu[k]):.1f} | {statistics.median(ups[k]):.0f} | "
              f"{med[k] / med[('go', c)]:.2f} |")
print()
print("| nethttp/Go | 1 connection | 64 connections |")
print("| --- | ---: | ---: |")
for i in impls:
    if i != 'go':
        print(f"| {i} | {med[(i, 1)] / med[('go', 1)]:.2f}x | {med[(i, 64)] / med[('go', 64)]:.2f}x |")
print(f"\n{len(rps[(impls[0], 1)])} rounds; medians of one wrk run per proxy, connection count "
      "and round. \"upstream conns\": connections the proxy opened to nginx during the run.")
PY
