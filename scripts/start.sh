#!/usr/bin/env bash
# npm start: set everything up, build, check the host, and serve the console on $PORT (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
bash scripts/setup.sh
# opt-in QEMU 10 (scripts/qemu10.sh, installed by setup.sh) unless INSTACLONE_QEMU names one already
if [ "${INSTACLONE_QEMU10:-}" = 1 ] && [ -z "${INSTACLONE_QEMU:-}" ]; then
  export INSTACLONE_QEMU=/opt/qemu10/usr/bin/qemu-system-x86_64
fi
bash scripts/build.sh
npx tsx scripts/preflight.ts
# loopback only unless HOST says otherwise: put a TLS front (README) before opening it to a network
echo "Instaclone console: http://${HOST:-127.0.0.1}:${PORT:-3000}/"
exec npx next start -H "${HOST:-127.0.0.1}" -p "${PORT:-3000}"
