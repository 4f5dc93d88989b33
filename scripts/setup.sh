#!/usr/bin/env bash
# Installs what Instaclone needs on a fresh Debian 12 machine, idempotently:
# Debian packages (needs root, or sudo), npm packages, the Prisma clients, the database, the tiny image.
# Usage: scripts/setup.sh [--tests]   (--tests adds what the test suite needs: Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
# Built images are cached once per user and copied into each INSTACLONE_HOME (tests use fresh homes).
export INSTACLONE_IMAGE_CACHE="${INSTACLONE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/instaclone/images}"

# ovmf: UEFI firmware for imported images (--firmware uefi)
apt_packages=(qemu-system-x86 qemu-utils busybox-static cpio e2fsprogs gcc libc6-dev procps iproute2 zstd ca-certificates ovmf)
# the foreign test disks (tests/fixtures/foreign/build.sh): partitions, boot loaders, an ESP
[ "${1:-}" = "--tests" ] && apt_packages+=(chromium postgresql debootstrap extlinux syslinux-common fdisk dosfstools mtools grub-efi-amd64-bin)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}. Run 'apt-get install ${missing[*]}' as root, then try again." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# QEMU 10 beside the system QEMU (opt-in, INSTACLONE_QEMU10=1): Debian 12's 7.2 stays the default
# because the side-by-side benchmark (bench/qemu/compare.ts, README "QEMU") did not show 10.0
# faster under TCG. scripts/qemu10.sh unpacks it into /opt/qemu10 from bookworm-backports
# (INSTACLONE_NO_BACKPORTS=1: never add that suite); start.sh then points INSTACLONE_QEMU at it.
if [ "${INSTACLONE_QEMU10:-}" = 1 ]; then
  bash scripts/qemu10.sh >/dev/null
fi

# QEMU drops to its own unprivileged user with -runas when the engine runs as root (lib/engine/argv.ts,
# INSTACLONE_QEMU_USER; empty disables it). Created once, only when we are root.
qemu_user="${INSTACLONE_QEMU_USER-instaclone-qemu}"
if [ -n "$qemu_user" ] && [ "$(id -u)" = 0 ] && ! id -u "$qemu_user" >/dev/null 2>&1; then
  echo "setup: creating the system user $qemu_user for QEMU"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$qemu_user"
fi

# npm packages: only when package.json or the lock changed since the last install.
stamp=node_modules/.instaclone-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

bash scripts/prisma.sh generate
bash scripts/build-cli.sh
npx tsx scripts/ensure-image.ts tiny

# The foreign test disks (issue 14: operators' own VMs, tests/engine/byovm*.test.ts): one debootstrap
# (several minutes the first time, needs the Debian mirror), then each variant; cached by recipe hash
# in INSTACLONE_FOREIGN_CACHE. Root only (debootstrap, chroot, a loop mount); INSTACLONE_TEST_FOREIGN=0 skips.
if [ "${1:-}" = "--tests" ] && [ "$(id -u)" = 0 ] && [ "${INSTACLONE_TEST_FOREIGN:-1}" != 0 ]; then
  foreign_cache="${INSTACLONE_FOREIGN_CACHE:-$HOME/.cache/instaclone/foreign}"  # as tests/fixtures/foreign/disks.ts
  t0=$(date +%s)
  bash tests/fixtures/foreign/build.sh "$foreign_cache" networkd ifupdown nm noagent uefi >/dev/null
  if [ $(( $(date +%s) - t0 )) -gt 5 ]; then echo "setup: foreign test disks built in $(( $(date +%s) - t0 )) s ($foreign_cache)"; fi
fi
