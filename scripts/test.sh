#!/usr/bin/env bash
# haven's one gate (STYLE.md 13): installs what is missing, then checks
# formatting, lints with warnings as errors, and runs every test.
#
#   bash scripts/test.sh
#
# Tests that need root, QEMU or etcd skip loudly outside CI; with CI=true
# they must run, so this script installs their tools first.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# Debian packages this test suite needs, as "command:package" pairs; only the
# missing ones are installed. The QEMU tests need QEMU, iproute2 and ping;
# scripts/build-guest.sh needs a static busybox, cpio and xz. The build of
# `etcd-client` needs protoc and the protobuf well-known types (a file, not a
# command: entries starting with / are tested as paths); the store tests
# need an etcd server.
APT_NEEDS=(
    qemu-system-x86_64:qemu-system-x86 ip:iproute2 ping:iputils-ping
    busybox:busybox-static cpio:cpio xz:xz-utils
    protoc:protobuf-compiler
    /usr/include/google/protobuf/descriptor.proto:libprotobuf-dev
    etcd:etcd-server
)

install_missing() {
    local missing=()
    for pair in "${APT_NEEDS[@]}"; do
        local need="${pair%%:*}"
        if [[ "$need" == /* ]]; then
            [ -e "$need" ] || missing+=("${pair#*:}")
        else
            command -v "$need" >/dev/null 2>&1 || missing+=("${pair#*:}")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "haven: cargo is not installed; install Rust from your distribution or with rustup, then run this again" >&2
    exit 2
fi
if [ ${#APT_NEEDS[@]} -gt 0 ]; then install_missing; fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        log "adding the rustup component $component"
        rustup component add "$component"
    fi
done

# The test guest (Debian kernel + busybox initramfs) for the QEMU tests,
# built once into a cache before the tests run in parallel.
if [ "$(id -u)" -eq 0 ]; then
    log "test guest"
    bash scripts/build-guest.sh || { apt-get update -qq && bash scripts/build-guest.sh; }
fi

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
log "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --all-features --quiet
log "cargo test"
cargo test --workspace --all-features
