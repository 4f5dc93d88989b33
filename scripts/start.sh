#!/usr/bin/env bash
# npm start: set everything up, build, check the host, and serve the console on $PORT (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
bash scripts/setup.sh
bash scripts/build.sh
npx tsx scripts/preflight.ts
# loopback only unless HOST says otherwise: put a TLS front (README) before opening it to a network
echo "Instaclone console: http://${HOST:-127.0.0.1}:${PORT:-3000}/"
exec npx next start -H "${HOST:-127.0.0.1}" -p "${PORT:-3000}"
