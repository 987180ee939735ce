#!/usr/bin/env bash
# TLS keep-alive throughput: nethttp's serve_tls against hyper + tokio-rustls (both rustls with
# the ring provider), loaded by wrk over https in the same run. Not part of CI.
#
#   bash benches/tls.sh            # 5 s per measurement, 3 interleaved rounds, medians
#   BENCH_DURATION=2 BENCH_ROUNDS=5 bash benches/tls.sh
#
# Needs cargo, wrk (built with TLS, as Debian's is) and openssl (for a throwaway certificate).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers="$repo/benches/peers/rust"
target=${PEERS_TARGET_DIR:-$peers/target}
dur=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-18443}
out="$repo/target/bench-results"
mkdir -p "$out"

for tool in wrk openssl cargo; do
  command -v "$tool" >/dev/null || { echo "benches/tls.sh: $tool is not installed" >&2; exit 1; }
done

echo "building TLS peers (release)..." >&2
(cd "$peers" && CARGO_TARGET_DIR="$target" cargo build --release --quiet \
  --bin nethttp-hello-tls --bin hyper-hello-tls)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 1 \
  -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/leaf.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tmp/ext"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
  -out "$tmp/cert.pem" -days 1 -extfile "$tmp/ext" 2>/dev/null

: >"$out/tls.tsv"
for round in $(seq 1 "$rounds"); do
  order="nethttp hyper"
  [ $((round % 2)) = 0 ] && order="hyper nethttp"
  for impl in $order; do
    "$target/release/$impl-hello-tls" "127.0.0.1:$port" "$tmp/cert.pem" "$tmp/key.pem" \
      >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.05
    done
    for c in 1 64; do
      t=$([ "$c" = 1 ] && echo 1 || echo 2)
      wrk -t"$t" -c"$c" -d1s "https://127.0.0.1:$port/" >/dev/null 2>&1 || true # warm-up
      rps=$(wrk -t"$t" -c"$c" -d"${dur}s" "https://127.0.0.1:$port/" 2>&1 |
        awk '/Requests\/sec/ {print $2}')
      printf '%s\t%s\tc%s\t%s\n' "$round" "$impl" "$c" "${rps:-0}" | tee -a "$out/tls.tsv" >&2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  done
done

python3 - "$out/tls.tsv" <<'PY'
import statistics, sys, collections
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
by = collections.defaultdict(list)
for _, impl, sc, rps in rows:
    by[(sc, impl)].append(float(rps))
print("| connections | nethttp req/s | hyper + tokio-rustls req/s | nethttp / hyper |")
print("| --- | ---: | ---: | ---: |")
for sc in ("c1", "c64"):
    n = statistics.median(by[(sc, "nethttp")]); h = statistics.median(by[(sc, "hyper")])
    print(f"| {sc[1:]} | {n:,.0f} | {h:,.0f} | {n / h:.2f} |")
PY
