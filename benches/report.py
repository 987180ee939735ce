"""Summarises benches/run.sh results: medians over rounds, ratios, markdown tables.

Usage: python3 benches/report.py OUT_DIR   (without BENCH_META_* set: re-renders OUT_DIR)
       perf script -F trace | python3 benches/report.py sched IMPL MODE REQUESTS

The second form reads `sched:sched_switch` events of one client-bench run and prints one JSON
line: context switches per request by thread name, split into voluntary (the thread blocked)
and preempted (it was still runnable).

Reads OUT_DIR/server.jsonl and OUT_DIR/client.jsonl (one JSON object per measurement, as
run.sh appends them) and the BENCH_META_* environment variables; writes OUT_DIR/server.json,
OUT_DIR/client.json (the raw measurements as arrays), OUT_DIR/meta.json and
OUT_DIR/summary.md, and prints the summary.
"""

import json
import os
import statistics
import sys

SERVER_IMPLS = ["nethttp", "hyper", "go"]
SERVER_SCENARIOS = [
    ("c1", "keep-alive, 1 connection (wrk -t1 -c1)"),
    ("c64", "keep-alive, 64 connections (wrk -t2 -c64)"),
    ("c512", "keep-alive, 512 connections (wrk -t2 -c512)"),
    ("close16", "`Connection: close`, 16 connections (wrk -t2 -c16)"),
    ("close64", "`Connection: close`, 64 connections (wrk -t2 -c64)"),
]
CLIENT_IMPLS = ["nethttp", "ureq", "reqwest", "go"]
CLIENT_MODES = [("seq", "sequential, 1 thread"), ("par", "parallel, 8 threads")]


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_ratio(x):
    return f"{x:.2f}"


def server_summary(rows):
    out = []
    out.append(
        "| scenario | server | req/s (median) | req/s min-max | vs hyper | vs hyper, best rounds "
        "| p50 µs | p99 µs | errors | server CPU µs/req |"
    )
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {}
    for scen, _desc in SERVER_SCENARIOS:
        med_rps = {}
        max_rps = {}
        for impl in SERVER_IMPLS:
            rs = [r for r in rows if r["scenario"] == scen and r["impl"] == impl]
            if not rs:
                continue
            rps = [r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6) for r in rs]
            med_rps[impl] = med(rps)
            max_rps[impl] = max(rps)
        base = med_rps.get("hyper")
        best_base = max_rps.get("hyper")
        for impl in SERVER_IMPLS:
            rs = [r for r in rows if r["scenario"] == scen and r["impl"] == impl]
            if not rs:
                continue
            rps = [r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6) for r in rs]
            errors = sum(sum(r["wrk"]["errors"].values()) for r in rs)
            cpu = med([r["server_cpu_s"] * 1e6 / max(r["wrk"]["requests"], 1) for r in rs])
            ratio = med_rps[impl] / base if base else float("nan")
            ratios[(scen, impl)] = (ratio, max(rps) / best_base if best_base else float("nan"))
            out.append(
                f"| {scen} | {impl} | {fmt_int(med_rps[impl])} | "
                f"{fmt_int(min(rps))}-{fmt_int(max(rps))} | {fmt_ratio(ratio)} | "
                f"{fmt_ratio(max(rps) / best_base) if best_base else 'n/a'} | "
                f"{med([r['wrk']['p50_us'] for r in rs]):.0f} | "
                f"{med([r['wrk']['p99_us'] for r in rs]):.0f} | {errors} | {cpu:.1f} |"
            )
    return out, ratios


def client_summary(rows):
    res = [r["result"] for r in rows]
    out = []
    out.append(
        "| mode | client | req/s (median) | req/s min-max | vs ureq | vs ureq, best rounds "
        "| p50 µs | p99 µs | ctx switches/req | client CPU µs/req | errors |"
    )
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {}
    for mode, _desc in CLIENT_MODES:
        med_rps = {
            impl: med([r["rps"] for r in res if r["mode"] == mode and r["impl"] == impl])
            for impl in CLIENT_IMPLS
        }
        base = med_rps.get("ureq")
        ureq_rps = [r["rps"] for r in res if r["mode"] == mode and r["impl"] == "ureq"]
        best_base = max(ureq_rps) if ureq_rps else None
        for impl in CLIENT_IMPLS:
            rs = [r for r in res if r["mode"] == mode and r["impl"] == impl]
            if not rs:
                continue
            rps = [r["rps"] for r in rs]
            ratio = med_rps[impl] / base if base else float("nan")
            ratios[(mode, impl)] = (ratio, max(rps) / best_base if best_base else float("nan"))
            cs = med([r.get("ctxsw_per_req", float("nan")) for r in rs])
            cpu = med([r.get("cpu_us_per_req", float("nan")) for r in rs])
            out.append(
                f"| {mode} | {impl} | {fmt_int(med_rps[impl])} | "
                f"{fmt_int(min(rps))}-{fmt_int(max(rps))} | {fmt_ratio(ratio)} | "
                f"{fmt_ratio(max(rps) / best_base) if best_base else 'n/a'} | "
                f"{med([r['p50_us'] for r in rs]):.0f} | {med([r['p99_us'] for r in rs]):.0f} | "
                f"{cs:.2f} | {cpu:.1f} | {sum(r['errors'] for r in rs)} |"
            )
    out.append("")
    for mode, _desc in CLIENT_MODES:
        rs = [r for r in res if r["mode"] == mode and r["impl"] == "nethttp"]
        if rs:
            dials = ", ".join(str(r.get("dials", "?")) for r in rs)
            out.append(f"- nethttp {mode}: connections dialled during each round: {dials}.")
    return out, ratios


def sched_main(impl, mode, requests):
    counts = {}
    for line in sys.stdin:
        fields = dict(
            kv.split("=", 1) for kv in line.split() if "=" in kv and kv.startswith("prev_")
        )
        name = fields.get("prev_comm")
        state = fields.get("prev_state", "")
        if not name:
            continue
        kind = "preempted" if state.startswith("R") else "voluntary"
        counts.setdefault(name, {"voluntary": 0, "preempted": 0})[kind] += 1
    n = max(int(requests), 1)
    per = {
        name: {k: round(v / n, 3) for k, v in c.items()} for name, c in sorted(counts.items())
    }
    print(json.dumps({"impl": impl, "mode": mode, "requests": n, "per_req": per}))


def sched_summary(rows):
    out = []
    out.append("| mode | client | thread | voluntary/req | preempted/req |")
    out.append("| --- | --- | --- | ---: | ---: |")
    for mode, _desc in CLIENT_MODES:
        for impl in CLIENT_IMPLS:
            for r in rows:
                if r["mode"] != mode or r["impl"] != impl:
                    continue
                for name, c in r["per_req"].items():
                    if c["voluntary"] < 0.01 and c["preempted"] < 0.01:
                        continue  # the main thread, a dial thread: noise
                    out.append(
                        f"| {mode} | {impl} | {name} | {c['voluntary']:.2f} | "
                        f"{c['preempted']:.2f} |"
                    )
    return out


def verdict(r):
    med_r, best_r = r

    def word(x):
        return "met" if x >= 1.0 else "missed"

    return (
        f"{word(med_r)} on medians ({med_r:.2f}x), {word(best_r)} on best rounds ({best_r:.2f}x)"
    )


def main():
    if sys.argv[1] == "sched":
        sched_main(*sys.argv[2:5])
        return
    out_dir = sys.argv[1]
    env = os.environ
    meta = {
        k[len("BENCH_META_"):].lower(): v for k, v in env.items() if k.startswith("BENCH_META_")
    }
    if not meta and os.path.exists(os.path.join(out_dir, "meta.json")):
        # Re-rendering an earlier run: keep its metadata.
        with open(os.path.join(out_dir, "meta.json")) as f:
            meta = json.load(f)
    only = meta.get("only", "")
    server = load_jsonl(os.path.join(out_dir, "server.jsonl")) if only != "client" else []
    client = load_jsonl(os.path.join(out_dir, "client.jsonl")) if only != "server" else []
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    md = []
    md.append(
        f"Date {meta.get('date', '?')}; commit {meta.get('commit', '?')}; "
        f"{meta.get('nproc', '?')} cores, {meta.get('cpu', '?')}; "
        f"{meta.get('duration', '?')} s per measurement, median of {meta.get('rounds', '?')} "
        f"interleaved rounds."
    )
    md.append("")
    md.append(
        f"Tools: {meta.get('rustc', '?')}; {meta.get('go', '?')}; {meta.get('wrk', '?')}; "
        f"hyper {meta.get('hyper', '?')} (tokio {meta.get('tokio', '?')}); "
        f"ureq {meta.get('ureq', '?')}; reqwest {meta.get('reqwest', '?')}."
    )
    md.append("")
    md.append(f"Load before: `{meta.get('uptime_before', '?').strip()}`")
    md.append("")
    md.append(f"Load after: `{meta.get('uptime_after', '?').strip()}`")
    md.append("")
    if server:
        with open(os.path.join(out_dir, "server.json"), "w") as f:
            json.dump(server, f, indent=1)
        lines, ratios = server_summary(server)
        md.append("### Server (hello world, wrk)")
        md.append("")
        md.extend(lines)
        md.append("")
        for scen in ("c1", "c64"):
            r = ratios.get((scen, "nethttp"))
            if r is not None:
                md.append(f"- Target nethttp >= hyper at {scen}: {verdict(r)}.")
        md.append("")
    if client:
        with open(os.path.join(out_dir, "client.json"), "w") as f:
            json.dump(client, f, indent=1)
        lines, ratios = client_summary(client)
        md.append(f"### Client (GET hello world from the {meta.get('client_target', '?')} server)")
        md.append("")
        md.extend(lines)
        md.append("")
        for mode in ("seq", "par"):
            r = ratios.get((mode, "nethttp"))
            if r is not None:
                md.append(f"- Target nethttp >= ureq, {mode}: {verdict(r)}.")
        md.append("")
    sched = load_jsonl(os.path.join(out_dir, "sched.jsonl")) if only != "server" else []
    if sched:
        with open(os.path.join(out_dir, "sched.json"), "w") as f:
            json.dump(sched, f, indent=1)
        md.append("### Client context switches by thread (perf, sched:sched_switch)")
        md.append("")
        md.append(
            "One extra run per client and mode under `perf record -e sched:sched_switch`; "
            "per request, warm-up requests included."
        )
        md.append("")
        md.extend(sched_summary(sched))
        md.append("")
    text = "\n".join(md)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
