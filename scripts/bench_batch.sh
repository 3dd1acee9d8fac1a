#!/usr/bin/env bash
# Batch figures for docs/PERFORMANCE.md: a queue of CASES cases (copies of a generated case of
# MB megabytes, plus the fixture cases), analyzed once, rerun unchanged, rerun with one case
# touched (new time, same bytes) and one changed, and run as two shards (two processes into
# one folder) whose summary must equal one batch's.
# Usage: bash scripts/bench_batch.sh [CASES (default 50)] [MB (default 20)]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
mb=${2:-20}
cargo build --quiet --release --bin hvtriage --example bigcase
bin=target/release/hvtriage
work=$(mktemp -d -p target bench-batch.XXXX)
trap 'rm -rf "$work"' EXIT
./target/release/examples/bigcase "$work/big" "$mb" 2 >/dev/null
mapfile -t fixtures < <(find fixtures -mindepth 1 -maxdepth 1 -type d ! -name hostile | sort)
mkdir -p "$work/queue"
for i in $(seq 1 "$n"); do
  dest="$work/queue/case-$(printf %03d "$i")"
  if (( i % 2 )); then cp -r "$work/big" "$dest"; else cp -r "${fixtures[$(( i % ${#fixtures[@]} ))]}" "$dest"; fi
done
echo "# notes" > "$work/queue/case-007/README.md"
echo "# notes" > "$work/queue/case-013/README.md"
size=$(du -sh "$work/queue" | cut -f1)
# The wall time and the peak RSS of one run.
t() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  local wall rss
  read -r wall rss < <(tail -1 "$work/time")
  echo "$wall s, peak RSS $((rss / 1024)) MiB"
}
echo "queue: $n cases, $size"
echo "first batch (all analyzed):     $(t "$bin" batch "$work/queue" -o "$work/out" --jobs 2)"
echo "rerun, nothing changed:          $(t "$bin" batch "$work/queue" -o "$work/out" --jobs 2)"
touch -d '+1 minute' "$work/queue/case-007/README.md"
echo "rerun, one case touched:         $(t "$bin" batch "$work/queue" -o "$work/out" --jobs 2)"
echo "# changed" >> "$work/queue/case-013/README.md"
echo "rerun, one case changed:         $(t "$bin" batch "$work/queue" -o "$work/out" --jobs 2)"
echo "rerun --force:                   $(t "$bin" batch "$work/queue" -o "$work/out" --jobs 2 --force)"
s0=$(date +%s.%N)
"$bin" batch "$work/queue" -o "$work/shards" --jobs 1 --shard 0/2 >/dev/null &
"$bin" batch "$work/queue" -o "$work/shards" --jobs 1 --shard 1/2 >/dev/null
wait
"$bin" index "$work/shards" >/dev/null
s1=$(date +%s.%N)
echo "two shards (two processes) + index: $(echo "$s1 - $s0" | bc) s"
if cmp -s "$work/out/summary.json" "$work/shards/summary.json"; then
  echo "two shards merged = one batch: same summary.json"
else
  echo "two shards merged differ from one batch" >&2
  exit 1
fi
