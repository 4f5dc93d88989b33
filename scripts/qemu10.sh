#!/usr/bin/env bash
# Unpacks QEMU 10 from Debian's bookworm-backports into a private prefix (default /opt/qemu10) with
# `apt-get download` + `dpkg -x`: the system QEMU (Debian 12: 7.2) is neither upgraded nor replaced.
# Run it with INSTACLONE_QEMU=/opt/qemu10/usr/bin/qemu-system-x86_64 (the engine passes -L for its
# own firmware). `npm run bench` compares it with the system QEMU when it is there.
# Adds the backports suite (same mirror as apt uses, priority 100: never chosen by upgrades) to its
# own sources file unless INSTACLONE_NO_BACKPORTS=1. Prints the binary's path. Needs root.
set -euo pipefail
prefix="${INSTACLONE_QEMU10_PREFIX:-/opt/qemu10}"
bin="$prefix/usr/bin/qemu-system-x86_64"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q 'version 10\.'; then
  echo "$bin"
  exit 0
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "qemu10: this is ${PRETTY_NAME:-an unknown system}, not Debian 12: install its own QEMU (Debian 13 has 10.0) instead." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "qemu10: unpacking QEMU 10 into $prefix needs root: run 'sudo bash scripts/qemu10.sh'." >&2
  exit 1
fi
if ! apt-cache madison qemu-system-x86 2>/dev/null | grep -q bpo12; then
  if [ -n "${INSTACLONE_NO_BACKPORTS:-}" ]; then
    echo "qemu10: bookworm-backports is not an apt source here and INSTACLONE_NO_BACKPORTS is set: add it yourself, or unset INSTACLONE_NO_BACKPORTS." >&2
    exit 1
  fi
  # the mirror apt already uses (or INSTACLONE_DEBIAN_MIRROR)
  # shellcheck source=../lib/guest/debian-mirror.sh
  source "$(dirname "$0")/../lib/guest/debian-mirror.sh"
  mirror="$(debian_mirror)" || { echo "qemu10: $DEBIAN_MIRROR_MISSING" >&2; exit 1; }
  src=/etc/apt/sources.list.d/instaclone-backports.sources
  echo "qemu10: adding bookworm-backports ($mirror) in $src"
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" >"$src"
  apt-get update -qq -o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
fi
v="$(apt-cache madison qemu-system-x86 | awk -F'|' '/bpo12/ {gsub(/ /, "", $2); print $2; exit}')"
[ -n "$v" ] || { echo "qemu10: bookworm-backports offers no qemu-system-x86." >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$prefix.tmp"' EXIT
chmod 755 "$tmp"
(cd "$tmp" && apt-get download -qq qemu-system-x86="$v" qemu-system-common="$v" qemu-system-data="$v" qemu-utils="$v" 2>/dev/null &&
  apt-get download -qq -t bookworm-backports seabios 2>/dev/null)
rm -rf "$prefix.tmp"
mkdir -p "$prefix.tmp"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$prefix.tmp"; done
missing="$(ldd "$prefix.tmp/usr/bin/qemu-system-x86_64" | grep 'not found' || true)"
if [ -n "$missing" ]; then
  echo "qemu10: QEMU $v needs libraries this system lacks: $missing" >&2
  exit 1
fi
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
echo "$bin"
