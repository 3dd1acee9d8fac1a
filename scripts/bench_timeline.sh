#!/usr/bin/env bash
# `timeline --all` against `evtx_dump -o jsonl` on the same file, side by side in one run, and
# with a --since/--until window of 30 minutes; then the whole case (every log of both hosts
# merged into one timeline) against evtx_dump run on each of its logs in turn. Generates a case of MB megabytes (examples/
# bigcase) and installs evtx_dump 0.15.1 into target/tools when missing.
# Usage: bash scripts/bench_timeline.sh [MB (default 200)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}
runs=${2:-3}
cargo build --quiet --release --bin hvtriage --example bigcase
case_dir=target/bench-timeline-${mb}mb
[ -d "$case_dir" ] || ./target/release/examples/bigcase "$case_dir" "$mb" 2 >/dev/null
evtx_dump=target/tools/bin/evtx_dump
[ -x "$evtx_dump" ] || cargo install --quiet evtx --version 0.15.1 --locked --root target/tools
file=$case_dir/HV01/System.evtx
echo "file: $file, $(du -h "$file" | cut -f1), $(nproc) cores"
# Runs two commands in alternation, $runs times each, so that the machine's drift hits both
# alike; prints each one's best wall time and peak RSS, and the median over the runs of the
# ratio first/second (evtx_dump's time over hvtriage's: above 1, hvtriage is faster).
paired() {
  python3 - "$runs" "$@" <<'PY'
import os, statistics, subprocess, sys, time
runs, name, commands = int(sys.argv[1]), sys.argv[2], sys.argv[3:5]
times, rss = ([], []), ([], [])
for _ in range(runs):
    for i, cmd in enumerate(commands):
        start = time.perf_counter()
        child = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.DEVNULL)
        _, _, usage = os.wait4(child.pid, 0)
        times[i].append(time.perf_counter() - start)
        rss[i].append(usage.ru_maxrss // 1024)
ratio = statistics.median(a / b for a, b in zip(*times))
print(f"{name}: evtx_dump best {min(times[0]):.3f} s, {max(rss[0])} MiB; "
      f"hvtriage best {min(times[1]):.3f} s, {max(rss[1])} MiB; "
      f"median ratio {ratio:.2f} over {runs} pairs")
PY
}
hv="./target/release/hvtriage timeline --all --format jsonl"
paired "one log (timeline --all)" "$evtx_dump -o jsonl $file" "$hv $file"
paired "one log, --since/--until 30 minutes" "$evtx_dump -o jsonl $file" \
  "$hv --since 2026-11-20T02:00:00Z --until 2026-11-20T02:30:00Z $file"
logs=$(find "$case_dir" -name '*.evtx' | sort)
echo "whole case: $(du -sh "$case_dir" | cut -f1), $(echo "$logs" | wc -l) logs (evtx_dump on each in turn)"
paired "whole case" "for f in $(echo $logs); do $evtx_dump -o jsonl \$f; done" "$hv $case_dir"
