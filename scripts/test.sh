#!/usr/bin/env bash
# The whole test suite, after installing whatever is missing. CI runs exactly this
# (.ci/run). Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# python-evtx: the independent parser the EVTX writer's files are checked against.
if ! python3 -c 'import Evtx.Evtx' 2>/dev/null; then
  step "installing python-evtx (pip)"
  if ! command -v pip3 >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
  fi
  python3 -m pip install --quiet python-evtx || python3 -m pip install --quiet --break-system-packages python-evtx
fi

# Chromium (and Japanese fonts) for the browser test of the HTML report.
if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk
fi

step "format"
cargo fmt --check

step "lint"
cargo clippy --all-targets --quiet -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

step "tests"
cargo test --quiet

step "rule files"
cargo run --quiet -- rules check rules

step "rules against their fixtures"
cargo run --quiet -- rules test

step "all passed"
