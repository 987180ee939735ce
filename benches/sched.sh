#!/usr/bin/env bash
# Where a client's round trip spends its wall time, thread by thread, from the scheduler's
# own trace: floor-client, nethttp's client and ureq's, one after the other, each against
# hyper-hello. Not part of CI; needs `perf` with access to the `sched` tracepoints (root, or
# `kernel.perf_event_paranoid` at most 1). No hardware counters are used.
#
#   bash benches/run.sh                 # builds the binaries into target/bench-results/bin
#   bash benches/sched.sh               # then this
#
# For each client, `perf record -a -e sched:sched_switch,sched:sched_wakeup` runs while the
# client sends requests for SCHED_SECS seconds. Threads are told apart by name: the callers
# (`caller`, or floor-client's main thread), the writer and reader threads (`*write*`,
# `*read*`) and the server (hyper-hello's `tokio-rt-worker`s). Per request, for each role:
#   - runs: how often a thread of that role was switched in;
#   - wait: the time from a thread's wake-up to its running (the scheduler's latency);
#   - run:  the time from its switch-in to its switch-out (its own code and the system calls it
#           makes, such as `send` on loopback, which also runs the receiver's TCP input).
# and the wake-ups of the client's and server's threads: made on the CPU the woken thread then
# runs on while the waker still runs ("on the waker's CPU"), or delivered to another CPU that
# was idle, whose halted vCPU the hypervisor must wake ("on an idle CPU"; the trace shows
# these as made by that CPU's idle task).
#
# A second table runs each client for SCHED_SECS with everything (server and client) pinned
# to one CPU (`taskset -c 0`), then with both CPUs, then with the server on CPU 1 and the
# client's threads together on CPU 0, SCHED_ROUNDS times in turn: what the same work costs
# without a wake-up across CPUs, and with only the server's on the other CPU. hyper-hello
# starts a worker per CPU it may use: one in the pinned placements, two with both CPUs free.
# A diagnostic of this host, not a way to run.
#
# Settings (environment):
#   SCHED_SECS       seconds per client (default 3)
#   SCHED_THREADS    calling threads (default 1: the sequential client; 8 is the parallel one)
#   SCHED_ROUNDS     rounds of the pinned table (default 3; 0 skips it)
#   PEERS_TARGET_DIR the cargo target dir of benches/peers/rust (floor-client lives in its
#                    release/)
#   BENCH_PORT       the server's loopback port (default 18190)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$repo/target/bench-results/bin"
peers_target=${PEERS_TARGET_DIR:-$repo/benches/peers/rust/target}
floor_client="$peers_target/release/floor-client"
secs=${SCHED_SECS:-3}
threads=${SCHED_THREADS:-1}
rounds=${SCHED_ROUNDS:-3}
port=${BENCH_PORT:-18190}
mode=seq
[ "$threads" = 1 ] || mode=par

script=benches/sched.sh
# shellcheck source=benches/lib.sh
. "$repo/benches/lib.sh"
require_tools perf curl python3 taskset
for f in "$bin/hyper-hello" "$bin/client-bench" "$floor_client"; do
  [ -x "$f" ] || { echo "$script: missing $f (run benches/run.sh first)" >&2; exit 1; }
done
require_free "http://127.0.0.1:$port/"

work=$(mktemp -d)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# client IMPL: the command line of that client, without its duration.
client() {
  if [ "$1" = floor ]; then
    echo "$floor_client --url http://127.0.0.1:$port/ --mode $mode --threads $threads"
  else
    echo "$bin/client-bench --impl $1 --url http://127.0.0.1:$port/ --mode $mode --threads $threads"
  fi
}

# start_server [CPUS]: hyper-hello on $port, pinned to CPUS if given.
start_server() {
  if [ -n "${1:-}" ]; then
    taskset -c "$1" "$bin/hyper-hello" "127.0.0.1:$port" >/dev/null 2>&1 &
  else
    "$bin/hyper-hello" "127.0.0.1:$port" >/dev/null 2>&1 &
  fi
  srv=$!
  wait_http "http://127.0.0.1:$port/" "hyper-hello"
}
stop_server() { stop_pid "$srv"; srv=; }

# The per-role table from one `perf script` output and the client's JSON line.
cat >"$work/roles.py" <<'PY'
import collections, json, re, sys
trace, result, impl = sys.argv[1], sys.argv[2], sys.argv[3]
n = json.loads(open(result).read().strip().splitlines()[-1])["requests"]
def role(comm):
    if comm.startswith(("tokio-rt-worker", "hyper-hello")):
        return "server"
    if "write" in comm:
        return "writer"
    if "read" in comm:
        return "reader"
    if comm in ("caller", "floor-client"):
        return "caller"
    return None
woken, running, on_cpu = {}, {}, {}
runs = collections.Counter()
wait = collections.Counter()
run = collections.Counter()
wakes = collections.Counter()
line_re = re.compile(r"\s*(.+?)\s+(\d+) \[(\d+)\]\s+([\d.]+):\s+sched:(\w+): (.*)")
for line in open(trace):
    m = line_re.match(line)
    if not m:
        continue
    cpu, t, event, rest = int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
    if event == "sched_wakeup":
        w = re.search(r"comm=(.*?) pid=(\d+) .*target_cpu=(\d+)", rest)
        r = role(w.group(1))
        if r is None:
            continue
        woken[w.group(2)] = t
        target = int(w.group(3))
        if target != cpu:
            wakes["to a busy CPU" if not on_cpu.get(target, "").startswith("swapper") else "on an idle CPU"] += 1
        elif m.group(1).startswith("swapper"):
            wakes["on an idle CPU"] += 1
        else:
            wakes["on the waker's CPU"] += 1
    elif event == "sched_switch":
        s = re.search(r"prev_pid=(\d+) .*==> next_comm=(.*?) next_pid=(\d+)", rest)
        prev, ncomm, nxt = s.group(1), s.group(2), s.group(3)
        on_cpu[cpu] = ncomm
        if prev in running:
            t0, r = running.pop(prev)
            run[r] += t - t0
        r = role(ncomm)
        if r is not None:
            running[nxt] = (t, r)
            runs[r] += 1
            if nxt in woken:
                wait[r] += t - woken.pop(nxt)
for r in ("caller", "writer", "reader", "server"):
    if runs[r]:
        print("| %s | %s | %.2f | %.1f | %.1f |" % (impl, r, runs[r] / n, wait[r] / n * 1e6, run[r] / n * 1e6))
print("| %s | all | wake-ups: %s | %.1f | %.1f |" % (
    impl,
    ", ".join("%.2f %s" % (v / n, k) for k, v in sorted(wakes.items())),
    sum(wait.values()) / n * 1e6,
    sum(run.values()) / n * 1e6,
))
PY

rate() { python3 -c 'import json,sys; print(round(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["rps"]))' "$1"; }

log "scheduler trace, $mode, $threads calling thread(s), ${secs}s per client"
start_server
echo "### Per request, by thread role ($mode, $threads calling thread(s), hyper-hello)"
echo
echo "| client | role | runs | wait (µs) | run (µs) |"
echo "|---|---|---:|---:|---:|"
rates=()
for impl in floor nethttp ureq; do
  # shellcheck disable=SC2046
  perf record -q -a -e sched:sched_switch,sched:sched_wakeup -o "$work/perf.data" -- \
    $(client "$impl") --duration "${secs}s" >"$work/$impl.json" 2>"$work/perf.err" ||
    { cat "$work/perf.err" >&2; exit 1; }
  perf script -i "$work/perf.data" -F comm,tid,cpu,time,event,trace >"$work/trace.txt" 2>/dev/null
  python3 "$work/roles.py" "$work/trace.txt" "$work/$impl.json" "$impl"
  rates+=("$impl $(rate "$work/$impl.json")")
done
stop_server
echo
echo "Rates under the trace: ${rates[*]} requests/s."

[ "$rounds" -gt 0 ] || exit 0
echo
echo "### Requests/s by placement ($mode, $threads calling thread(s))"
echo
echo "CPUs: the server's / the client's (all its threads)."
echo
echo "| round | CPUs | floor | nethttp | ureq | nethttp / ureq | nethttp / floor |"
echo "|---|---|---:|---:|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
  # server CPUs:client CPUs
  for placement in 0:0 0-1:0-1 1:0; do
    start_server "${placement%%:*}"
    row=()
    for impl in floor nethttp ureq; do
      # shellcheck disable=SC2046
      taskset -c "${placement##*:}" $(client "$impl") --duration "${secs}s" >"$work/pin.json"
      row+=("$(rate "$work/pin.json")")
    done
    stop_server
    awk -v r="$r" -v c="${placement%%:*} / ${placement##*:}" -v f="${row[0]}" -v n="${row[1]}" -v u="${row[2]}" \
      'BEGIN { printf "| %d | %s | %d | %d | %d | %.2f | %.2f |\n", r, c, f, n, u, n / u, n / f }'
  done
done
