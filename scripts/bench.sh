#!/usr/bin/env bash
# The benchmark: hvtriage against evtx_dump (the evtx crate's own CLI) on the same files in the
# same run. Generates a large case once (target/bench-case, reused when present), installs
# evtx_dump 0.15.1 into target/tools when missing (never python-evtx's script of the same name).
# Then times `hvtriage batch` on a queue of 8 copies of a 100 MB case (target/bench-queue)
# with --jobs 1 up to the number of cores.
# Usage: bash scripts/bench.sh [TOTAL_MB (default 1200)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
total_mb=${1:-1200}
runs=${2:-3}
case_dir=target/bench-case-${total_mb}mb
cargo build --quiet --release --bin hvtriage --example bigcase
if [ ! -d "$case_dir" ]; then
  echo "generating $case_dir (${total_mb} MB, 4 hosts)…" >&2
  ./target/release/examples/bigcase "$case_dir.tmp" "$total_mb" 4
  mv "$case_dir.tmp" "$case_dir"
fi
evtx_dump=target/tools/bin/evtx_dump
if [ ! -x "$evtx_dump" ]; then
  echo "installing evtx_dump 0.15.1 into target/tools…" >&2
  cargo install --quiet evtx --version 0.15.1 --locked --root target/tools
fi
echo "machine: $(nproc) cores, $(uname -sr); hvtriage $(git describe --always --dirty)"
python3 scripts/bench.py ./target/release/hvtriage "$evtx_dump" "$case_dir" --runs "$runs" --label "generated case, ${total_mb} MB"
samples=../shared/evtx-samples
[ -d "$samples" ] || samples=/work/shared/evtx-samples
python3 scripts/bench.py ./target/release/hvtriage "$evtx_dump" "$samples" --runs "$runs" --label "../shared/evtx-samples"
queue=target/bench-queue
if [ ! -d "$queue" ]; then
  echo "generating $queue (8 copies of a 100 MB case)…" >&2
  ./target/release/examples/bigcase "$queue.tmp/case-1" 100 2
  for n in 2 3 4 5 6 7 8; do cp -r "$queue.tmp/case-1" "$queue.tmp/case-$n"; done
  mv "$queue.tmp" "$queue"
fi
python3 scripts/bench.py ./target/release/hvtriage "$evtx_dump" "$queue" --runs "$runs" --batch --label "batch: 8 copies of a 100 MB case"
