#!/usr/bin/env bash
# Builds the console when its sources changed since the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
bash scripts/build-cli.sh
if [ -f .next/BUILD_ID ] && [ -z "$(find app components lib instrumentation.ts next.config.js package.json -newer .next/BUILD_ID -not -path 'lib/db/generated/*' -print -quit)" ]; then
  exit 0
fi
echo "build: building the console"
# a fresh name: root runs this, and a fixed name in /tmp could be a local user's symlink to any file
log="$(mktemp /tmp/instaclone-next-build.XXXXXX)"
npx next build >"$log" 2>&1 || { tail -40 "$log" >&2; echo "build: next build failed (full log: $log)" >&2; exit 1; }
rm -f "$log"
