#!/usr/bin/env bash
# Regenerates every fixture case: the Event XML from fixtures/generate.py, then the .evtx beside
# each .xml with `hvtriage fixture`. Both are committed; tests check the .evtx are up to date.
# Usage: bash scripts/fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 fixtures/generate.py
cargo build --quiet --release
find fixtures -name '*.xml' -print0 | sort -z | while IFS= read -r -d '' xml; do
  ./target/release/hvtriage fixture "$xml" -o "${xml%.xml}.evtx"
done
# seed 001 in the collector's layout: zips of the .evtx just written (fixtures/collector_zips.py).
python3 fixtures/collector_zips.py
echo "fixtures written: $(find fixtures -name '*.evtx' | wc -l) .evtx files"
