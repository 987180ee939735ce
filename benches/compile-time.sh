#!/usr/bin/env bash
# Compile-time benchmark: clean release builds of one-line programs against nethttp and ureq
# with matching features, one after another in one run, and the ratios. Not part of CI.
#
#   bash benches/compile-time.sh
#   BASELINE=/path/to/older/nethttp bash benches/compile-time.sh   # adds that checkout's builds
#
# Settings (environment):
#   RUNS       clean builds per program, in rounds over all programs; the fastest counts
#              (default 1). With RUNS of 3 or more each ratio is also taken within every
#              round (two programs built minutes apart share the host's load) and the median
#              of those is printed beside the ratio of the fastest builds: on a host whose
#              speed swings by a third within the hour, that median is the steadier figure
#   BASELINE   another nethttp checkout whose `client` and default builds are measured too
#              (e.g. the commit before a change), so "no slower than before" is a ratio from
#              this run (ONLY names them nethttp-baseline-client and nethttp-baseline-default)
#   UREQ       the ureq version requirement (default "3")
#   ONLY       space-separated program names to build (default all; the ratio table then
#              shows the ratios it has the programs for)
#
# Each program is its own project under target/compile-bench/ (its own workspace and lock
# file). Dependencies are downloaded first (`cargo fetch`, not timed); then each build starts
# from an empty target directory with `cargo build --release`, so every crate of the graph is
# compiled, as in a CI job or a build script's first build. The table counts the crates built.
#
# Needs cargo and the crates.io registry. Run it on a quiet machine: the numbers are wall-clock
# times, and anything else running on the cores slows them.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work="$repo/target/compile-bench"
runs=${RUNS:-1}
ureq=${UREQ:-3}
mkdir -p "$work"

script=benches/compile-time.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"

# name | dependency line | main.rs
programs=(
  "nethttp-core|nethttp = { path = \"$repo\", default-features = false }|fn main() { let _ = nethttp::proto::head::parse_request(b\"GET / HTTP/1.1\\r\\n\\r\\n\", &Default::default()); }"
  "nethttp-client|nethttp = { path = \"$repo\", default-features = false, features = [\"client\"] }|fn main() { let _ = nethttp::Client::new().get(\"http://127.0.0.1:9/\"); }"
  "nethttp-client-tls|nethttp = { path = \"$repo\", default-features = false, features = [\"client\", \"tls\"] }|fn main() { let _ = nethttp::Client::new().get(\"https://127.0.0.1:9/\"); }"
  "nethttp-client-tls-gzip|nethttp = { path = \"$repo\", default-features = false, features = [\"client\", \"tls\", \"gzip\"] }|fn main() { let _ = nethttp::Client::new().get(\"https://127.0.0.1:9/\"); }"
  "nethttp-server|nethttp = { path = \"$repo\", default-features = false, features = [\"server\"] }|fn main() { let _ = nethttp::listen_and_serve(\"127.0.0.1:0\", nethttp::ServeMux::new()); }"
  "nethttp-default|nethttp = { path = \"$repo\" }|fn main() { let _ = nethttp::Client::new().get(\"http://127.0.0.1:9/\"); }"
  "ureq-none|ureq = { version = \"$ureq\", default-features = false }|fn main() { let _ = ureq::get(\"http://127.0.0.1:9/\").call(); }"
  "deps-floor|http = \"1\"\nhttparse = \"1.9\"\ncrossbeam-channel = \"0.5\"\nparking_lot = \"0.12\"\nlog = \"0.4\"|fn main() { let (tx, rx) = crossbeam_channel::bounded::<http::Method>(1); let _ = tx.send(http::Method::GET); let m = parking_lot::Mutex::new(rx.recv().ok()); let _ = httparse::Request::new(&mut []); log::info!(\"{:?}\", m.lock()); }"
  "ureq-default|ureq = \"$ureq\"|fn main() { let _ = ureq::get(\"https://127.0.0.1:9/\").call(); }"
)
if [ -n "${BASELINE:-}" ]; then
  base=$(cd "$BASELINE" && pwd)
  programs+=("nethttp-baseline-client|nethttp = { path = \"$base\", default-features = false, features = [\"client\"] }|fn main() { let _ = nethttp::Client::new().get(\"http://127.0.0.1:9/\"); }")
  programs+=("nethttp-baseline-default|nethttp = { path = \"$base\" }|fn main() { let _ = nethttp::Client::new().get(\"http://127.0.0.1:9/\"); }")
fi

declare -A secs crates round_secs
chosen=()
for p in "${programs[@]}"; do
  IFS='|' read -r name dep main <<<"$p"
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  dir="$work/$name"
  mkdir -p "$dir/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n\n[dependencies]\n%b\n' \
    "cb-$name" "$dep" >"$dir/Cargo.toml"
  printf '%s\n' "$main" >"$dir/src/main.rs"
  (cd "$dir" && cargo fetch --quiet)
  chosen+=("$name")
done
# Round by round, every program once per round, so a change in the machine's load during the
# run falls on all of them alike rather than on whichever was built last.
for r in $(seq "$runs"); do
  for name in "${chosen[@]}"; do
    dir="$work/$name"
    rm -rf "$dir/target"
    log "building $name"
    start=$(date +%s.%N)
    (cd "$dir" && cargo build --release 2>"$dir/build.log")
    end=$(date +%s.%N)
    t=$(python3 -c "print(round($end - $start, 1))")
    round_secs[$name,$r]=$t
    best=${secs[$name]:-}
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then secs[$name]=$t; fi
    crates[$name]=$(grep -c '^ *Compiling ' "$dir/build.log" || true)
  done
done

ratio() { # a b: a/b, or "-" if either was not built
  if [ -z "$1" ] || [ -z "$2" ]; then echo "-"; else python3 -c "print(f'{$1 / $2:.2f}x')"; fi
}

rratio() { # name-a name-b: the ratio of the fastest builds, and with 3 or more rounds the
  # median of the per-round ratios and their range
  local best per=() r
  best=$(ratio "${secs[$1]:-}" "${secs[$2]:-}")
  if [ "$best" = "-" ] || [ "$runs" -lt 3 ]; then echo "$best"; return; fi
  for r in $(seq "$runs"); do per+=("${round_secs[$1,$r]}/${round_secs[$2,$r]}"); done
  python3 - "$best" "${per[@]}" <<'PY'
import statistics, sys
best, per = sys.argv[1], [eval(x) for x in sys.argv[2:]]
print(f"{best} (per round: median {statistics.median(per):.2f}x, {min(per):.2f}-{max(per):.2f}x)")
PY
}

echo "## Clean release build of a one-line program ($(rustc --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| program | features | build | crates compiled |"
echo "|---|---|---|---|"
for p in "${programs[@]}"; do
  IFS='|' read -r name dep _ <<<"$p"
  [ -n "${secs[$name]:-}" ] || continue
  if [ "$name" = deps-floor ]; then
    echo "| the design's dependencies alone (http, httparse, crossbeam-channel, parking_lot, log) | — | ${secs[$name]} s | ${crates[$name]} |"
    continue
  fi
  feats=$(sed -n 's/.*features = \[\(.*\)\].*/\1/p' <<<"$dep" | tr -d '"')
  case $dep in *"default-features = false"*) [ -n "$feats" ] || feats="none" ;; *) feats="default" ;; esac
  label=${name%%-*}
  [[ $name != nethttp-baseline-* ]] || label="nethttp at $(basename "$base")"
  echo "| $label | $feats | ${secs[$name]} s | ${crates[$name]} |"
done
echo
echo "| ratio | value | target |"
echo "|---|---|---|"
echo "| nethttp \`client\` / ureq none | $(rratio nethttp-client ureq-none) | at most 1.5x |"
echo "| nethttp \`client,tls\` / ureq default (rustls, gzip) | $(rratio nethttp-client-tls ureq-default) | at most 1.0x |"
echo "| nethttp \`client,tls,gzip\` / ureq default (rustls, gzip) | $(rratio nethttp-client-tls-gzip ureq-default) | (same features as ureq's default) |"
echo "| the design's dependencies alone / ureq none | $(rratio deps-floor ureq-none) | (the floor of this design) |"
if [ -n "${BASELINE:-}" ]; then
  echo "| nethttp \`client\` / baseline \`client\` | $(rratio nethttp-client nethttp-baseline-client) | (this change's effect) |"
  echo "| nethttp default / baseline default | $(rratio nethttp-default nethttp-baseline-default) | at most 1.0x |"
fi
