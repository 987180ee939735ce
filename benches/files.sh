#!/usr/bin/env bash
# Static files: `nethttp serve` against Go's http.FileServer and nginx, in one run. Not part
# of CI.
#
#   bash benches/files.sh
#   NETHTTP_BEFORE=/path/to/older/nethttp bash benches/files.sh   # adds that build as a peer
#
# Two measurements, each repeated BENCH_ROUNDS times with the servers in a rotated order;
# the tables give medians and ratios:
#   big    BIG_REPS downloads of a 1 GiB file over loopback with curl (-o /dev/null), in GB/s
#          (10^9 bytes per second), and the server's CPU time for each;
#   small  a 10 KiB file under `wrk -t2 -c64` (keep-alive) for BENCH_DURATION seconds, req/s.
#
# Settings (environment):
#   BENCH_ROUNDS    rounds (default 5)
#   BIG_REPS        downloads of the big file per server and round (default 3)
#   BENCH_DURATION  seconds per small-file measurement (default 5)
#   BENCH_PORT      first of four loopback ports used (default 18180)
#   FILES_BIG_MIB   size of the big file in MiB (default 1024)
#   NETHTTP_BIN     the nethttp binary to measure (default: built here, release, --features cli)
#   NETHTTP_BEFORE  a second nethttp binary (an older build), measured as "nethttp-before"
#   FILES_DIR       where to put the files (default a new directory under /tmp, removed after)
#
# Needs cargo, go, nginx, wrk, curl and python3 (`bash .ci/install-peers`). The servers and the
# load generator share the machine's cores; nothing is pinned. nginx runs as configured below:
# `worker_processes auto`, sendfile on, no access log (nethttp runs with -q, Go logs nothing).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$repo/target/bench-results"
rounds=${BENCH_ROUNDS:-5}
big_reps=${BIG_REPS:-3}
dur=${BENCH_DURATION:-5}
port0=${BENCH_PORT:-18180}
big_mib=${FILES_BIG_MIB:-1024}

script=benches/files.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
require_tools cargo go wrk curl python3 nginx
nginx_bin=$(find_nginx)

# --- build ---------------------------------------------------------------------------------
bin="$out/bin"
mkdir -p "$out" "$bin"
if [ -z "${NETHTTP_BIN:-}" ]; then
  log "building nethttp (release, --features cli)"
  (cd "$repo" && nice -n 10 cargo build --release --quiet --features cli --bin nethttp)
  NETHTTP_BIN="$repo/target/release/nethttp"
fi
log "building benches/peers/go"
(cd "$repo/benches/peers/go" && GOPROXY=off nice -n 10 go build -o "$bin/go-fileserver" ./fileserver)

impls=(nethttp go nginx)
[ -n "${NETHTTP_BEFORE:-}" ] && impls=(nethttp nethttp-before go nginx)

# --- files ---------------------------------------------------------------------------------
own_dir=0
if [ -z "${FILES_DIR:-}" ]; then
  FILES_DIR=$(mktemp -d /tmp/nethttp-files.XXXXXX)
  own_dir=1
fi
www="$FILES_DIR/www"
mkdir -p "$www"
# nginx's workers may run as another user (nobody, when started as root).
chmod a+rx "$FILES_DIR" "$www"
if [ "$(stat -c %s "$www/big.bin" 2>/dev/null || echo 0)" != $((big_mib << 20)) ]; then
  log "writing a ${big_mib} MiB file"
  head -c $((big_mib << 20)) /dev/urandom >"$www/big.bin"
fi
head -c 10240 /dev/urandom >"$www/small.bin"
chmod a+r "$www/big.bin" "$www/small.bin"
# Every server reads from the page cache, as a busy file server does.
cat "$www/big.bin" >/dev/null

# --- servers -------------------------------------------------------------------------------
port_of() {
  case $1 in
    nethttp) echo $((port0 + 0)) ;;
    nethttp-before) echo $((port0 + 1)) ;;
    go) echo $((port0 + 2)) ;;
    nginx) echo $((port0 + 3)) ;;
  esac
}

server_pid=
start_server() { # impl
  local port
  port=$(port_of "$1")
  require_free "http://127.0.0.1:$port/small.bin"
  case $1 in
    nethttp) "$NETHTTP_BIN" serve -q --addr "127.0.0.1:$port" "$www" 2>/dev/null & ;;
    nethttp-before) "$NETHTTP_BEFORE" serve -q --addr "127.0.0.1:$port" "$www" 2>/dev/null & ;;
    go) "$bin/go-fileserver" "$www" "127.0.0.1:$port" 2>/dev/null & ;;
    nginx)
      local d="$FILES_DIR/nginx"
      mkdir -p "$d"
      cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes auto;
error_log $d/error.log warn;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $www;
    }
}
EOF
      "$nginx_bin" -e "$d/error.log" -p "$d" -c "$d/nginx.conf" 2>/dev/null &
      ;;
  esac
  server_pid=$!
  wait_http "http://127.0.0.1:$port/small.bin" "the $1 server"
}

stop_server() {
  stop_pid "$server_pid"
  server_pid=
}
cleanup() {
  stop_server
  if [ "$own_dir" = 1 ]; then rm -rf "$FILES_DIR"; fi
}
trap cleanup EXIT

clk_tck=$(getconf CLK_TCK)

log "load before: $(uptime)"
tsv="$out/files.tsv"
: >"$tsv"
for ((round = 1; round <= rounds; round++)); do
  for impl in $(rotate "$round" "${impls[@]}"); do
    start_server "$impl"
    url="http://127.0.0.1:$(port_of "$impl")"
    curl -s -o /dev/null "$url/big.bin" # warm-up
    for ((rep = 1; rep <= big_reps; rep++)); do
      t0=$(cpu_ticks "$server_pid")
      read -r code size bps < <(curl -s -o /dev/null \
        -w '%{http_code} %{size_download} %{speed_download}\n' "$url/big.bin")
      t1=$(cpu_ticks "$server_pid")
      if [ "$code" != 200 ] || [ "$size" != $((big_mib << 20)) ]; then
        echo "benches/files.sh: $impl answered $code with $size bytes for big.bin" >&2
        exit 1
      fi
      cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$clk_tck" 'BEGIN {printf "%.2f", (b - a) / hz}')
      printf '%s\t%s\tbig\t%s\t%s\n' "$round" "$impl" "$bps" "$cpu" | tee -a "$tsv" >&2
    done
    wrk -t2 -c64 -d1s "$url/small.bin" >/dev/null # warm-up
    report=$(wrk -t2 -c64 -d"${dur}s" "$url/small.bin")
    if grep -q 'Non-2xx' <<<"$report"; then
      echo "benches/files.sh: $impl answered small.bin with errors: $report" >&2
      exit 1
    fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
    printf '%s\t%s\tsmall\t%s\t-\n' "$round" "$impl" "${rps:-0}" | tee -a "$tsv" >&2
    stop_server
  done
done
log "load after: $(uptime)"

python3 - "$tsv" "$big_mib" "${impls[@]}" <<'PY' | tee "$out/files.md"
import collections, statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
big_mib = int(sys.argv[2])
big = f"{big_mib >> 10} GiB" if big_mib % 1024 == 0 else f"{big_mib} MiB"
impls = sys.argv[3:]
by = collections.defaultdict(list)
cpu = collections.defaultdict(list)
for _, impl, what, value, c in rows:
    by[(what, impl)].append(float(value))
    if c != '-':
        cpu[impl].append(float(c))
med = {k: statistics.median(v) for k, v in by.items()}
def spread(k, scale, digits):
    v = by[k]
    return f"{min(v) / scale:,.{digits}f}-{max(v) / scale:,.{digits}f}"
print(f"| server | {big} download, GB/s (median; range) | server CPU s | vs Go | vs nginx "
      "| 10 KiB, 64 conns, req/s (median; range) | vs Go | vs nginx |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for i in impls:
    b, s = med[('big', i)], med[('small', i)]
    print(f"| {i} | {b / 1e9:.2f} ({spread(('big', i), 1e9, 2)}) | "
          f"{statistics.median(cpu[i]):.2f} | "
          f"{b / med[('big', 'go')]:.2f} | {b / med[('big', 'nginx')]:.2f} | "
          f"{s:,.0f} ({spread(('small', i), 1, 0)}) | "
          f"{s / med[('small', 'go')]:.2f} | {s / med[('small', 'nginx')]:.2f} |")
print(f"\n{len(by[('small', impls[0])])} rounds; medians of {len(by[('big', impls[0])])} "
      f"downloads and of {len(by[('small', impls[0])])} wrk runs per server.")
PY
