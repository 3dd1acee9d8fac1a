#!/usr/bin/env bash
# Builds haven's tiny test guest: a Debian kernel (vmlinuz) and a busybox
# initramfs (initramfs.cpio.gz) whose init loads e1000.ko and gives eth0 the
# address on the kernel command line:
#
#   haven.ip=10.0.0.5/24 [haven.gw=10.0.0.1]
#
# Usage: bash scripts/build-guest.sh    (prints the guest directory)
#
# The guest goes to ${HAVEN_GUEST_DIR:-$HOME/.cache/haven/guest} and is built
# only when missing; the initramfs is reproducible (sorted cpio, fixed mtimes,
# gzip -n), so the same kernel package gives the same bytes.
set -euo pipefail

out="${HAVEN_GUEST_DIR:-$HOME/.cache/haven/guest}"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ]; then
    echo "$out"
    exit 0
fi

die() { echo "build-guest: $*" >&2; exit 1; }

# "command:package" pairs, so a missing tool names what to install.
for pair in apt-get:apt dpkg-deb:dpkg cpio:cpio gzip:gzip xz:xz-utils flock:util-linux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 ||
        die "${pair%%:*} is missing; install it with: apt-get install ${pair#*:}"
done
busybox=""
for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && ! LC_ALL=C ldd "$candidate" >/dev/null 2>&1; then
        busybox="$candidate"
        break
    fi
done
[ -n "$busybox" ] || die "a statically linked busybox is missing; install it with: apt-get install busybox-static"

mkdir -p "$(dirname "$out")"
# One builder at a time: parallel tests all call this script.
exec 9>"$out.lock"
flock 9
if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ]; then
    echo "$out"
    exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/haven-guest.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The meta package depends on the real, versioned kernel package.
cd "$work"
meta_dep="$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)"
[ -n "$meta_dep" ] || die "apt knows no linux-image-amd64; run apt-get update first"
apt-get download -q "$meta_dep" >/dev/null 2>&1 ||
    die "apt-get download $meta_dep failed; check the network and run apt-get update"
deb="$(ls "$work"/linux-image-*.deb | head -n1)"
dpkg-deb -x "$deb" "$work/kernel"

vmlinuz="$(ls "$work"/kernel/boot/vmlinuz-* 2>/dev/null | head -n1 || true)"
[ -n "$vmlinuz" ] || die "$deb holds no /boot/vmlinuz-*"
module="$(find "$work/kernel/lib/modules" "$work/kernel/usr/lib/modules" \
    -name 'e1000.ko*' -path '*/intel/e1000/*' 2>/dev/null | head -n1 || true)"
[ -n "$module" ] || die "$deb holds no e1000 module"

# The root file system of the initramfs.
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
# busybox's insmod may not read compressed modules: decompress here.
case "$module" in
*.ko.xz) xz -dc "$module" >"$root/lib/modules/e1000.ko" ;;
*.ko.zst) command -v zstd >/dev/null || die "zstd is missing; install it with: apt-get install zstd"
    zstd -dcq "$module" >"$root/lib/modules/e1000.ko" ;;
*.ko) cp "$module" "$root/lib/modules/e1000.ko" ;;
*) die "unknown module format: $module" ;;
esac
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
insmod /lib/modules/e1000.ko
addr=""
gw=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    haven.ip=*) addr="${arg#haven.ip=}" ;;
    haven.gw=*) gw="${arg#haven.gw=}" ;;
    esac
done
ip link set lo up
ip link set eth0 up
[ -n "$addr" ] && ip addr add "$addr" dev eth0
[ -n "$gw" ] && ip route add default via "$gw"
echo "haven-guest: ready addr=$addr"
while :; do sleep 3600; done
EOF
chmod 0755 "$root/init" "$root/bin/busybox"

find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet --reproducible -o -H newc -R 0:0) |
    gzip -n -9 >"$work/initramfs.cpio.gz"

# Publish both files at once, so a half-built guest is never seen.
staged="$out.new.$$"
rm -rf "$staged"
mkdir -p "$staged"
cp "$vmlinuz" "$staged/vmlinuz"
mv "$work/initramfs.cpio.gz" "$staged/initramfs.cpio.gz"
basename "$deb" >"$staged/kernel-package"
rm -rf "$out"
mv "$staged" "$out"
echo "$out"
