# Sourced by the debian image recipe, the foreign test disks and scripts/qemu10.sh: prints the
# Debian mirror to use — INSTACLONE_DEBIAN_MIRROR, else the first Debian archive in the host's apt
# sources (one-line and deb822, the security archive left out) — or fails (callers then say
# DEBIAN_MIRROR_MISSING). It is
# outside the hashed recipe on purpose: the mirror is an input of a build, not part of what it builds.
DEBIAN_MIRROR_MISSING="No Debian mirror found in /etc/apt/sources.list*: set INSTACLONE_DEBIAN_MIRROR to one (a URL ending in /debian)."

debian_mirror() {
  if [[ -n "${INSTACLONE_DEBIAN_MIRROR:-}" ]]; then echo "$INSTACLONE_DEBIAN_MIRROR"; return 0; fi
  local m
  m=$( { grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
         grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources | sed -E 's/^\s*URIs:\s*//' | tr ' ' '\n'; } \
       | grep -E '^(https?|file)://[^ ]*/debian/?$' | grep -v security | head -n 1) || true
  [[ -n "$m" ]] || return 1
  echo "${m%/}"
}
