#!/usr/bin/env bash
# npm test: install what the tests need, then run every test: unit, engine (real QEMU), browser (Chromium).
# Ends with one line "N passed, N failed" summed over all runners.
set -uo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
# Built images are cached once per user and copied into each INSTACLONE_HOME (tests use fresh homes).
export INSTACLONE_IMAGE_CACHE="${INSTACLONE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/instaclone/images}"
bash scripts/setup.sh --tests || exit 1
# PostgreSQL mode is tested against a real server when one can be started here (root + Debian's postgresql).
# Its error is kept: the PostgreSQL suite names it when it must run (INSTACLONE_TEST_STRICT=1) and cannot.
if [ -z "${INSTACLONE_TEST_PG_URL:-}" ]; then
  pg_err=$(mktemp)
  if INSTACLONE_TEST_PG_URL=$(bash scripts/test-postgres.sh 2>"$pg_err"); then
    export INSTACLONE_TEST_PG_URL
  else
    unset INSTACLONE_TEST_PG_URL
    INSTACLONE_TEST_PG_ERROR=$(tail -n 3 "$pg_err" | tr '\n' ' ')
    export INSTACLONE_TEST_PG_ERROR
  fi
  rm -f "$pg_err"
fi
out=$(mktemp -d /tmp/instaclone-test-results.XXXXXX)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/vitest.json" "$@" || status=1
if [ $# -eq 0 ] && [ -f playwright.config.ts ]; then
  bash scripts/build.sh || status=1
  PLAYWRIGHT_JSON_OUTPUT_NAME="$out/playwright.json" npx playwright test --reporter=list,json || status=1
fi
node scripts/test-summary.mjs "$out" || status=1
exit $status
