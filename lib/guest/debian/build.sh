# Recipe of the "debian" image, sourced by lib/guest/build-image.sh (defines build_debian).
# A Debian 12 (bookworm) root filesystem made with debootstrap (needs root), on an ext4 root disk
# root.qcow2 (/dev/vda), with systemd, qemu-guest-agent, openssh-server, systemd-networkd (eth0 static
# 10.0.2.15/24 for QEMU user-net) and the busybox httpd demo app on port 80.

# the mirror is an input of the build (INSTACLONE_DEBIAN_MIRROR or the host's apt sources), chosen
# outside this hashed recipe so that it never changes the image's cache key
# shellcheck source=../debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/../debian-mirror.sh"

build_debian() {
  [[ $(id -u) -eq 0 ]] || die "Building the debian image needs root (debootstrap, chroot); run it as root or use the tiny image."
  need_tool debootstrap debootstrap
  need_tool chroot coreutils
  need_tool qemu-img qemu-utils
  need_tool mkfs.ext4 e2fsprogs
  need_tool readelf binutils
  need_tool xz xz-utils
  check_space "$OUTDIR" 4000000

  WORK=$(mktemp -d "$OUTDIR/.work.XXXXXX")
  local root="$WORK/root" mirror
  mirror=$(debian_mirror) || die "$DEBIAN_MIRROR_MISSING"
  log "mirror: $mirror"

  step "running debootstrap (several minutes)"
  local include="systemd-sysv,udev,dbus,qemu-guest-agent,openssh-server,busybox,iproute2,linux-image-amd64,initramfs-tools,ca-certificates"
  if ! debootstrap --variant=minbase --include="$include" bookworm "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    local reason
    reason=$(grep -E '^(E|W):' "$WORK/debootstrap.log" | tail -n 2 | tr '\n' ' ' | sed 's/ *$//') || true
    [[ -n "$reason" ]] || reason=$(tail -n 1 "$WORK/debootstrap.log")
    tail -n 30 "$WORK/debootstrap.log" >&2
    if [[ $(df -Pk "$OUTDIR" | awk 'NR==2{print $4}') -lt 102400 ]]; then
      die "debootstrap failed because the disk is full; free some space in $OUTDIR and build again."
    fi
    die "debootstrap of Debian bookworm from $mirror failed (${reason}); check that the mirror is reachable (or set INSTACLONE_DEBIAN_MIRROR) and run \`apt-get update\`."
  fi

  step "configuring the root filesystem"
  echo instaclone > "$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tinstaclone\n' > "$root/etc/hosts"
  printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1\n' > "$root/etc/fstab"
  : > "$root/etc/machine-id" # generated at first boot; the engine sets a new one per child
  rm -f "$root/var/lib/dbus/machine-id"
  # root without password on the serial console (autologin), none over ssh
  chroot "$root" passwd -d root >/dev/null
  mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
  cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
  # network: eth0 static for QEMU user-net (net.ifnames=0 on the cmdline keeps the name eth0)
  mkdir -p "$root/etc/systemd/network"
  cat > "$root/etc/systemd/network/10-eth0.network" <<'NET'
[Match]
Name=eth0

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
  chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
  chroot "$root" systemctl disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true
  # demo app: busybox httpd with the same CGI as the tiny image
  mkdir -p "$root/srv/www/cgi-bin"
  cp "$GUEST_DIR/tiny/www/cgi-bin/index.cgi" "$root/srv/www/cgi-bin/index.cgi"
  chmod 755 "$root/srv/www/cgi-bin/index.cgi"
  cp "$RECIPE_DIR/instaclone-httpd.service" "$root/etc/systemd/system/instaclone-httpd.service"
  chroot "$root" systemctl enable instaclone-httpd.service >/dev/null 2>&1
  # the reseed helper
  if command -v gcc >/dev/null && [[ -e /usr/lib/x86_64-linux-gnu/libc.a ]]; then
    gcc -static -O2 -s -o "$root/usr/sbin/instaclone-reseed" "$GUEST_DIR/tiny/instaclone-reseed.c"
  else
    log "warning: gcc or libc6-dev missing: no instaclone-reseed in the debian image"
  fi
  # quiet, quick boot: no timers or services that poll
  local u
  for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer systemd-tmpfiles-clean.timer getty@tty1.service; do
    chroot "$root" systemctl mask "$u" >/dev/null 2>&1 || true
  done
  # smaller: no apt lists or caches
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

  step "copying the kernel and initramfs"
  local vmlinuz initrd kver
  vmlinuz=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1) || true
  [[ -n "$vmlinuz" ]] || die "The debootstrapped system has no kernel in /boot; check that linux-image-amd64 installed (see the build log) and build again."
  kver=${vmlinuz##*/vmlinuz-}
  initrd="$root/boot/initrd.img-$kver"
  # A small initramfs (MODULES=most makes ~36 MB, slow to unpack under TCG): only what /dev/vda needs.
  sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
  printf '%s\n' virtio_pci virtio_blk virtio_net virtio_console ext4 crc32c_generic >> "$root/etc/initramfs-tools/modules"
  chroot "$root" update-initramfs -u -k "$kver" >&2 || die "update-initramfs failed for kernel $kver in the debian image; see the build log above."
  if ! chroot "$root" lsinitramfs "/boot/initrd.img-$kver" 2>/dev/null | grep -q 'virtio_blk'; then
    log "warning: virtio_blk is not in the initramfs (/dev/vda may not be found at boot)"
  fi
  cp "$vmlinuz" "$OUTDIR/vmlinuz"
  cp "$initrd" "$OUTDIR/initrd.img"
  extract_pvh_vmlinux "$OUTDIR/vmlinuz" "$OUTDIR/vmlinux"

  step "creating the root disk"
  local mb
  mb=$(du -sm "$root" | awk '{print $1}')
  mb=$(( (mb * 3 / 2 + 512) / 256 * 256 + 256 ))
  truncate -s "${mb}M" "$WORK/root.raw"
  mkfs.ext4 -q -F -L root -d "$root" "$WORK/root.raw" >/dev/null
  qemu-img convert -q -f raw -O qcow2 "$WORK/root.raw" "$OUTDIR/root.qcow2"
  rm -f "$WORK/root.raw"

  step "writing the manifest"
  local cmdline
  cmdline=$(grep -v '^#' "$RECIPE_DIR/cmdline" | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//')
  write_manifest "$kver" "$cmdline" disk root.qcow2 true
}
