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

# kubernetes-validate: checks the Kubernetes manifests of deploy/ against the API's schemas,
# offline (kubectl's dry run needs a cluster).
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  step "installing kubernetes-validate (pip)"
  python3 -m pip install --quiet kubernetes-validate || python3 -m pip install --quiet --break-system-packages kubernetes-validate
fi

# Chromium, CJK fonts for the Japanese report and poppler-utils: the browser test opens the HTML
# reports in Chromium and prints them to PDF. Without them that test fails, saying how to install
# them; it is never skipped.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# pdftotext/pdfinfo read the PDF the browser test prints.
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# Without a font that covers Japanese the Japanese report renders as boxes.
{ command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=ja family)" ]; } || missing+=(fonts-noto-cjk fontconfig)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
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

step "deployment manifests"
python3 -m kubernetes_validate --strict --quiet deploy/k8s/*.yaml
python3 scripts/check_deploy.py

step "all passed"
