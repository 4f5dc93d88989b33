#!/usr/bin/env bash
# Build an Instaclone guest image from Debian packages.
#
#   lib/guest/build-image.sh NAME OUTDIR        NAME: tiny | debian
#
# Writes into OUTDIR (created if missing):
#   tiny:   vmlinuz initrd.img data.qcow2 manifest.json
#   debian: vmlinuz initrd.img root.qcow2 manifest.json   (needs root: debootstrap)
# The recipe files live in lib/guest/NAME/. Normally run through ensureImage() in
# lib/guest/images.ts, which builds into a temporary directory and renames it on success.
#
# Environment:
#   INSTACLONE_KERNEL_PACKAGE   kernel package to use (default: newest linux-image-6.1.0-N-amd64-unsigned)
#   INSTACLONE_RECIPE_HASH      recorded in manifest.json (images.ts passes it)
#   INSTACLONE_IMAGE_FINAL_DIR  directory the image will live in (for absolute paths in manifest.json)
#   INSTACLONE_DEBIAN_MIRROR    debian image: mirror for debootstrap (default: from /etc/apt/sources.list*)
#
# On failure the last line on stderr is "error: ONE SENTENCE saying what failed and what to do".
set -euo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=${1:-}
OUTDIR=${2:-}

STEP="starting"
WORK=""

die() { # one clear sentence, last line of stderr
  echo "error: $*" >&2
  exit 1
}
log() { echo "[build-image $NAME] $*" >&2; }
step() { STEP="$1"; log "$1"; }

on_exit() {
  local rc=$?
  if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
  if [[ $rc -ne 0 && $rc -ne 99 ]]; then
    # An unexpected failure (set -e). Say which step failed; point at a full disk if it is one.
    local avail
    avail=$(df -Pk "${OUTDIR:-/tmp}" 2>/dev/null | awk 'NR==2{print $4}') || avail=""
    if [[ -n "$avail" && "$avail" -lt 102400 ]]; then
      echo "error: Building the $NAME image failed while $STEP because the disk is full (${avail} KiB free in $OUTDIR); free some space and build again." >&2
    elif [[ -z "${DIED:-}" ]]; then
      echo "error: Building the $NAME image failed while $STEP (exit code $rc); see the build log above for the command that failed." >&2
    fi
  fi
}
trap on_exit EXIT
# die() exits 1 after printing its own sentence; mark it so on_exit does not add a second one.
die() { echo "error: $*" >&2; DIED=1; exit 1; }

[[ "$NAME" == "tiny" || "$NAME" == "debian" ]] || die "Unknown image name '${NAME}'; use 'tiny' or 'debian' (usage: build-image.sh NAME OUTDIR)."
[[ -n "$OUTDIR" ]] || die "No output directory given; usage: build-image.sh NAME OUTDIR."
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
FINAL_DIR=${INSTACLONE_IMAGE_FINAL_DIR:-$OUTDIR}
RECIPE_DIR="$GUEST_DIR/$NAME"
[[ -d "$RECIPE_DIR" ]] || die "Recipe directory $RECIPE_DIR is missing; restore lib/guest/$NAME from the repository."

need_tool() { # tool apt-package
  command -v "$1" >/dev/null 2>&1 || die "Required host tool '$1' is missing; install it with \`apt-get install $2\`."
}

check_space() { # dir KiB
  local avail
  avail=$(df -Pk "$1" | awk 'NR==2{print $4}')
  if [[ "$avail" -lt "$2" ]]; then
    die "Not enough disk space to build the $NAME image: ${avail} KiB free in $1, about $2 KiB needed; free some space and build again."
  fi
}

APT_OPTS=(-q -o APT::Sandbox::User=root)

apt_download() { # dir pkg...  (downloads .debs into dir)
  local dir=$1; shift
  local out
  if ! out=$(cd "$dir" && apt-get "${APT_OPTS[@]}" download "$@" 2>&1); then
    local reason
    reason=$(printf '%s\n' "$out" | grep -E '^(E|W):' | head -n 2 | sed 's/^E: //; s/^W: //' | tr '\n' ' ' | sed 's/ *$//')
    [[ -n "$reason" ]] || reason=$(printf '%s\n' "$out" | tail -n 1)
    die "Could not download Debian package(s) $*: apt-get download failed (${reason}). Check that the Debian mirror is reachable and the package name exists, and run \`apt-get update\`."
  fi
}

extract_debs() { # dir-with-debs dest
  local d
  for d in "$1"/*.deb; do
    dpkg-deb -x "$d" "$2" || die "Could not unpack Debian package $(basename "$d"); delete it and run \`apt-get update\` before building again."
  done
}

newest_kernel_package() {
  local pkg
  pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n 1 || true)
  [[ -n "$pkg" ]] || die "No linux-image-6.1.0-*-amd64-unsigned package is known to apt; run \`apt-get update\` (the bookworm and bookworm-security suites must be in /etc/apt/sources.list*)."
  echo "$pkg"
}

# Resolve NEEDED shared libraries of ELF files against a staging root. Prints paths relative to root.
resolve_libs() { # root file...
  local root=$1; shift
  local -A seen=()
  local queue=("$@") f lib found d
  local libdirs=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 lib usr/lib)
  while ((${#queue[@]})); do
    f=${queue[0]}; queue=("${queue[@]:1}")
    while read -r lib; do
      [[ -n "$lib" && -z "${seen[$lib]:-}" ]] || continue
      found=""
      for d in "${libdirs[@]}"; do
        if [[ -e "$root/$d/$lib" ]]; then found="$d/$lib"; break; fi
      done
      [[ -n "$found" ]] || die "Shared library $lib needed by $(basename "$f") is not in the downloaded Debian packages; run \`apt-get update\` and build again."
      seen[$lib]=$found
      echo "$found"
      queue+=("$root/$found")
    done < <(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  done
}

# Copy a file from a staging root into the initramfs, following symlinks to the real file.
copy_from_root() { # root relpath dest-root
  local src="$1/$2" dst="$3/$2"
  mkdir -p "$(dirname "$dst")"
  cp -L "$src" "$dst"
}

# Debian's bzImage is xz-compressed: decompressing it under TCG takes ~3 s. Its uncompressed ELF
# (vmlinux) has a Xen PVH entry note, which QEMU boots directly with -kernel (no decompression).
extract_pvh_vmlinux() { # bzImage out
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1) || true
  if [[ -z "$off" ]]; then log "warning: kernel is not xz-compressed; no PVH vmlinux"; return 0; fi
  tail -c +$((off + 1)) "$1" | xz -dcq > "$2" 2>/dev/null || true # trailing data after the xz stream is expected
  if ! readelf -n "$2" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
    log "warning: uncompressed kernel has no PVH entry note; no PVH vmlinux"
    rm -f "$2"
  fi
}

mod_depends() { # ko-file -> comma list
  tr '\0' '\n' < "$1" | sed -n 's/^depends=//p' | head -n 1
}

# ---------------------------------------------------------------------------------------------
build_tiny() {
  need_tool apt-get apt
  need_tool apt-cache apt
  need_tool dpkg-deb dpkg
  need_tool cpio cpio
  need_tool gzip gzip
  need_tool qemu-img qemu-utils
  need_tool mkfs.ext4 e2fsprogs
  need_tool gcc gcc
  need_tool readelf binutils
  need_tool xz xz-utils
  [[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || die "Static C library missing (needed to build instaclone-reseed); install it with \`apt-get install libc6-dev\`."
  check_space "$OUTDIR" 400000

  WORK=$(mktemp -d "$OUTDIR/.work.XXXXXX")
  local debs="$WORK/debs" stage="$WORK/stage" rootfs="$WORK/initramfs"
  mkdir -p "$debs/kernel" "$debs/user" "$stage/kernel" "$stage/user" "$rootfs"

  step "choosing the kernel package"
  local kpkg=${INSTACLONE_KERNEL_PACKAGE:-}
  [[ -n "$kpkg" ]] || kpkg=$(newest_kernel_package)
  log "kernel package: $kpkg"

  step "downloading Debian packages"
  apt_download "$debs/kernel" "$kpkg"
  # qemu-guest-agent and the libraries it needs (the host may not have them installed).
  local user_pkgs
  user_pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances --no-pre-depends qemu-guest-agent 2>/dev/null | grep -E '^[a-z0-9]' | sort -u | tr '\n' ' ') || true
  [[ "$user_pkgs" == *qemu-guest-agent* ]] || die "apt does not know the package qemu-guest-agent; run \`apt-get update\` and build again."
  # shellcheck disable=SC2086
  apt_download "$debs/user" busybox-static $user_pkgs

  step "unpacking Debian packages"
  extract_debs "$debs/kernel" "$stage/kernel"
  extract_debs "$debs/user" "$stage/user"

  local vmlinuz kver kmod
  vmlinuz=$(ls "$stage/kernel"/boot/vmlinuz-* 2>/dev/null | head -n 1) || true
  [[ -n "$vmlinuz" ]] || die "Package $kpkg contains no /boot/vmlinuz-*; set INSTACLONE_KERNEL_PACKAGE to a linux-image-*-amd64-unsigned package."
  kver=${vmlinuz##*/vmlinuz-}
  kmod="$stage/kernel/lib/modules/$kver"
  [[ -d "$kmod" ]] || die "Package $kpkg has no modules for kernel $kver; set INSTACLONE_KERNEL_PACKAGE to a linux-image-*-amd64-unsigned package."
  log "kernel version: $kver"
  local kconfig="$stage/kernel/boot/config-$kver"
  if [[ -e "$kconfig" ]] && ! grep -q '^CONFIG_VMGENID=y' "$kconfig"; then
    log "warning: $kpkg has no CONFIG_VMGENID=y: forked children will not get a vmgenid reseed"
  fi

  step "building the initramfs tree"
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,data,root,var/log,lib/modules,www/cgi-bin}
  ln -s ../run "$rootfs/var/run"
  # busybox with applet symlinks
  cp "$stage/user/bin/busybox" "$rootfs/bin/busybox"
  local applet
  for applet in $("$rootfs/bin/busybox" --list-full); do
    [[ -e "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
  done
  # qemu-ga, its libraries and the ELF interpreter
  local qga="$stage/user/usr/sbin/qemu-ga"
  [[ -x "$qga" ]] || die "Package qemu-guest-agent contains no /usr/sbin/qemu-ga; run \`apt-get update\` and build again."
  cp "$qga" "$rootfs/usr/sbin/qemu-ga"
  local interp
  interp=$(readelf -l "$qga" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  [[ -n "$interp" ]] || die "Could not read the ELF interpreter of qemu-ga; check that binutils works (\`apt-get install --reinstall binutils\`)."
  [[ -e "$stage/user/$interp" ]] || die "The ELF interpreter $interp of qemu-ga is not in the downloaded libc6 package; run \`apt-get update\` and build again."
  copy_from_root "$stage/user" "${interp#/}" "$rootfs"
  local lib
  while read -r lib; do
    copy_from_root "$stage/user" "$lib" "$rootfs"
  done < <(resolve_libs "$stage/user" "$qga")
  # the reseed helper
  step "compiling instaclone-reseed"
  gcc -static -O2 -s -Wall -o "$rootfs/usr/sbin/instaclone-reseed" "$RECIPE_DIR/instaclone-reseed.c"
  # the identity helper (one process applies and reads back a child's identity)
  gcc -static -O2 -s -Wall -o "$rootfs/usr/sbin/instaclone-identity" "$RECIPE_DIR/instaclone-identity.c"
  # kernel modules in dependency order
  step "selecting kernel modules"
  local -A modpath=() loaded=()
  local f m
  while read -r f; do
    m=${f##*/}; m=${m%%.ko*}
    modpath[$m]=$f
    modpath[${m//-/_}]=$f
  done < <(cd "$kmod" && find kernel -name '*.ko*')
  local order=()
  add_module() { # name
    local name=${1//-/_} dep
    [[ -n "${loaded[$name]:-}" ]] && return 0
    loaded[$name]=1
    if [[ -z "${modpath[$name]:-}" ]]; then
      if grep -qE "/${name//_/[-_]}\.ko" "$kmod/modules.builtin" 2>/dev/null; then return 0; fi
      die "Kernel module $name is neither a module nor built into $kver; set INSTACLONE_KERNEL_PACKAGE to a linux-image-*-amd64-unsigned package."
    fi
    local ko="$kmod/${modpath[$name]}"
    local deps
    deps=$(mod_depends_any "$ko")
    for dep in ${deps//,/ }; do add_module "$dep"; done
    order+=("${modpath[$name]}")
  }
  mod_depends_any() {
    case "$1" in
      *.ko.xz) xz -dc "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 ;;
      *.ko.zst) zstd -dc "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 ;;
      *) mod_depends "$1" ;;
    esac
  }
  while read -r m; do
    m=${m%%#*}; m=${m//[[:space:]]/}
    [[ -n "$m" ]] && add_module "$m"
  done < "$RECIPE_DIR/modules"
  : > "$rootfs/lib/modules/load-order"
  local rel base
  for rel in "${order[@]}"; do
    base=${rel##*/}
    case "$rel" in
      *.ko.xz) xz -dc "$kmod/$rel" > "$rootfs/lib/modules/${base%.xz}"; base=${base%.xz} ;;
      *.ko.zst) zstd -qdc "$kmod/$rel" > "$rootfs/lib/modules/${base%.zst}"; base=${base%.zst} ;;
      *) cp "$kmod/$rel" "$rootfs/lib/modules/$base" ;;
    esac
    echo "$base" >> "$rootfs/lib/modules/load-order"
  done
  log "modules: $(tr '\n' ' ' < "$rootfs/lib/modules/load-order")"
  # /init, web app, config
  cp "$RECIPE_DIR/init" "$rootfs/init"
  chmod 755 "$rootfs/init"
  cp -r "$RECIPE_DIR/www/." "$rootfs/www/"
  chmod -R a+rX "$rootfs/www"
  chmod 755 "$rootfs"/www/cgi-bin/* 2>/dev/null || true
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\n' > "$rootfs/etc/group"
  printf 'export PS1="\\h:\\w# "\n' > "$rootfs/etc/profile"
  echo instaclone > "$rootfs/etc/hostname"

  step "packing the initramfs"
  (cd "$rootfs" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -6 -n > "$OUTDIR/initrd.img"
  cp "$vmlinuz" "$OUTDIR/vmlinuz"
  extract_pvh_vmlinux "$OUTDIR/vmlinuz" "$OUTDIR/vmlinux"

  step "creating the data disk"
  local ddir="$WORK/data"
  mkdir -p "$ddir"
  cat > "$ddir/README" <<'README'
This is the Instaclone data disk (/dev/vda, ext4, label "data"), mounted at /data.
Each VM writes to its own qcow2 overlay on top of the image's data.qcow2.
README
  truncate -s 256M "$WORK/data.raw"
  mkfs.ext4 -q -F -L data -E root_owner=0:0 -d "$ddir" "$WORK/data.raw" >/dev/null
  qemu-img convert -q -f raw -O qcow2 "$WORK/data.raw" "$OUTDIR/data.qcow2"
  rm -f "$WORK/data.raw"

  step "writing the manifest"
  local cmdline
  cmdline=$(grep -v '^#' "$RECIPE_DIR/cmdline" | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//')
  write_manifest "$kver" "$cmdline" disk data.qcow2 false
}

write_manifest() { # kver cmdline diskkey diskfile rootDisk
  local size
  size=$(cd "$OUTDIR" && du -cb --apparent-size vmlinuz initrd.img "$4" $([[ -e vmlinux ]] && echo vmlinux) | awk 'END{print $1}')
  local rootdisk_json="" kernel_file=vmlinuz bz_json=""
  if [[ -e "$OUTDIR/vmlinux" ]]; then # boot the PVH ELF (faster under TCG); keep the bzImage as an alternative
    kernel_file=vmlinux
    bz_json=$',\n    "bzImage": "'"$FINAL_DIR"'/vmlinuz"'
  fi

  [[ "$5" == true ]] && rootdisk_json=$',\n  "rootDisk": true'
  cat > "$OUTDIR/manifest.json" <<JSON
{
  "name": "$NAME",
  "kernel": "$1",
  "sizeBytes": $size,
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "recipeHash": "${INSTACLONE_RECIPE_HASH:-}",
  "files": {
    "kernel": "$FINAL_DIR/$kernel_file",
    "initrd": "$FINAL_DIR/initrd.img",
    "disk": "$FINAL_DIR/$4"$bz_json
  },
  "cmdline": "$2"$rootdisk_json
}
JSON
  log "done: $OUTDIR ($size bytes)"
}

case "$NAME" in
  tiny) build_tiny ;;
  debian)
    # shellcheck source=/dev/null
    source "$RECIPE_DIR/build.sh"
    build_debian
    ;;
esac
