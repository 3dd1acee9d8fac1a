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
best() { # the best wall time of $runs runs, and the peak RSS of the last
  local best=999999 t rss
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o target/bench-time "$@" >/dev/null
    read -r t rss < <(tail -1 target/bench-time)
    best=$(python3 -c "print(min($best, $t))")
  done
  echo "$best s, $((rss / 1024)) MiB"
}
echo "evtx_dump -o jsonl:                        $(best "$evtx_dump" -o jsonl "$file")"
echo "hvtriage timeline --all --format jsonl:    $(best ./target/release/hvtriage timeline --all --format jsonl "$file")"
echo "  with --since/--until (30 minutes):       $(best ./target/release/hvtriage timeline --all --format jsonl \
  --since 2026-11-20T02:00:00Z --until 2026-11-20T02:30:00Z "$file")"
logs=$(find "$case_dir" -name '*.evtx' | sort)
echo "whole case: $(du -sh "$case_dir" | cut -f1), $(echo "$logs" | wc -l) logs"
echo "evtx_dump -o jsonl, each log in turn:       $(best bash -c "for f in $(echo $logs); do $evtx_dump -o jsonl \$f; done")"
echo "hvtriage timeline --all --format jsonl:    $(best ./target/release/hvtriage timeline --all --format jsonl "$case_dir")"
