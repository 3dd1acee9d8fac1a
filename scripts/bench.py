#!/usr/bin/env python3
"""Times `hvtriage analyze` and the `evtx` crate's `evtx_dump -o jsonl` on exactly the same
files, side by side in one run (these machines are noisy: only ratios measured together mean
anything), with 1 thread and with all threads, several runs each.

Usage: python3 scripts/bench.py HVTRIAGE EVTX_DUMP CASE_DIR [--runs N] [--label NAME]
Prints a Markdown table: min/median seconds, MB/s, records/s, the ratio of evtx_dump's time to
hvtriage's (above 1: hvtriage is faster), and each tool's peak RSS.

With --batch, CASE_DIR is a queue of cases and `hvtriage batch` is timed with --jobs 1 up to
the number of cores (EVTX_DUMP is not used).
"""
import argparse
import json
import os
import statistics
import subprocess
import time


def evtx_files(case):
    out = []
    for root, _, files in os.walk(case):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                if f.read(8) == b"ElfFile\0":
                    out.append(path)
    return sorted(out)


def run(cmd, env):
    """Wall time and peak RSS (MiB) of one run of cmd."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


def batch(a, env):
    """`hvtriage batch` on a queue with 1 .. all cores' jobs: the speed-up over --jobs 1."""
    import tempfile
    files = evtx_files(a.case)
    size_mb = sum(os.path.getsize(f) for f in files) / 1e6
    cases = sorted(d for d in os.listdir(a.case) if os.path.isdir(os.path.join(a.case, d)))
    print(f"\n### {a.label or a.case}: {len(cases)} cases, {len(files)} EVTX files, {size_mb:.0f} MB\n")
    print("| --jobs | min s | median s | MB/s | speed-up over --jobs 1 | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    base = None
    for jobs in range(1, (os.cpu_count() or 1) + 1):
        times, rss = [], 0.0
        for _ in range(a.runs):
            with tempfile.TemporaryDirectory() as out:
                t, m = run([a.hvtriage, "batch", a.case, "-o", out, "--jobs", str(jobs)], env)
            times.append(t)
            rss = max(rss, m)
        med = statistics.median(times)
        base = base or med
        print(f"| {jobs} | {min(times):.3f} | {med:.3f} | {size_mb / med:.0f} | {base / med:.2f} | {rss:.0f} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("hvtriage")
    p.add_argument("evtx_dump")
    p.add_argument("case")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--label", default=None)
    p.add_argument("--batch", action="store_true")
    a = p.parse_args()
    if a.batch:
        return batch(a, dict(os.environ))
    files = evtx_files(a.case)
    size_mb = sum(os.path.getsize(f) for f in files) / 1e6
    report = subprocess.run([a.hvtriage, "analyze", *files, "--json", "-"], capture_output=True, check=True)
    analysis = json.loads(report.stdout)
    records = sum(i["records"] for i in analysis["inputs"])
    findings = [f["rule"] for f in analysis["findings"]]
    print(f"\n### {a.label or a.case}: {len(files)} EVTX files, {size_mb:.0f} MB, {records:,} records; findings: {findings}\n")
    print("| threads | tool | min s | median s | MB/s | records/s | evtx_dump time / hvtriage time | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in sorted({1, os.cpu_count() or 1}):
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        tools = {
            "hvtriage": lambda: run([a.hvtriage, "analyze", *files, "--json", os.devnull], env),
            "evtx_dump": lambda: run(["sh", "-c", 'for f in "$@"; do "$0" -t ' + str(threads) + ' -o jsonl "$f"; done', a.evtx_dump, *files], env),
        }
        times = {name: [] for name in tools}
        rss = {name: 0.0 for name in tools}
        for _ in range(a.runs):
            for name, go in tools.items():  # alternate, so drift hits both alike
                t, m = go()
                times[name].append(t)
                rss[name] = max(rss[name], m)
        ratio = statistics.median(times["evtx_dump"]) / statistics.median(times["hvtriage"])
        for name in tools:
            tmin, tmed = min(times[name]), statistics.median(times[name])
            shown = f"{ratio:.2f}" if name == "hvtriage" else ""
            print(f"| {threads} | {name} | {tmin:.3f} | {tmed:.3f} | {size_mb / tmed:.0f} | {records / tmed:,.0f} | {shown} | {rss[name]:.0f} |")


if __name__ == "__main__":
    main()
