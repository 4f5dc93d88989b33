#!/usr/bin/env bash
# npm start: set everything up, build, check the host, and serve the console on $PORT (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
bash scripts/setup.sh
bash scripts/build.sh
npx tsx scripts/preflight.ts
echo "Instaclone console: http://localhost:${PORT:-3000}/"
exec npx next start -p "${PORT:-3000}"
