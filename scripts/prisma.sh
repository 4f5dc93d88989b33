#!/usr/bin/env bash
# Runs the Prisma CLI offline. The CLI still looks for native engines unless these point at an
# existing file; with engine "js" it never runs them (VERIFIED.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$PWD/package.json}"
export PRISMA_QUERY_ENGINE_LIBRARY="${PRISMA_QUERY_ENGINE_LIBRARY:-$PWD/package.json}"
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1
# The PostgreSQL schema is derived from the SQLite one before every command, so the two never drift
# (it is not committed: .gitignore).
mkdir -p prisma/postgresql
sed -e 's/provider = "sqlite"/provider = "postgresql"/' \
    -e 's#output       = "../lib/db/generated/sqlite"#output       = "../../lib/db/generated/postgresql"#' \
    prisma/schema.prisma > prisma/postgresql/schema.prisma
if ! grep -q 'provider = "postgresql"' prisma/postgresql/schema.prisma || ! grep -q 'generated/postgresql"' prisma/postgresql/schema.prisma; then
  echo "scripts/prisma.sh: could not derive the PostgreSQL schema from prisma/schema.prisma (its provider or output line changed); update the sed lines in scripts/prisma.sh." >&2
  exit 1
fi
if [ "${1:-}" = generate ]; then
  # Both clients are generated so DATABASE_URL can switch at run time.
  DATABASE_URL="file:/tmp/unused.db" npx prisma generate --schema prisma/schema.prisma >/dev/null
  DATABASE_URL="postgresql://unused@localhost/unused" npx prisma generate --schema prisma/postgresql/schema.prisma >/dev/null
  exit 0
fi
exec npx prisma "$@"
