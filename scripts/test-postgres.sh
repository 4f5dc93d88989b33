#!/usr/bin/env bash
# Starts Debian's PostgreSQL for the tests (root only) and prints a DATABASE_URL for a fresh database.
set -euo pipefail
[ "$(id -u)" = 0 ] || exit 1
command -v pg_lsclusters >/dev/null || exit 1
if ! pg_lsclusters -h | grep -q .; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$ver" main >/dev/null
fi
read -r ver cluster port status _ < <(pg_lsclusters -h | head -1)
[ "$status" = online ] || pg_ctlcluster "$ver" "$cluster" start >/dev/null
for _ in $(seq 50); do su postgres -c "psql -p $port -qAtc 'select 1'" >/dev/null 2>&1 && break; sleep 0.2; done
db="instaclone_test_$$"
su postgres -c "psql -p $port -qAt" >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'instaclone') THEN
    CREATE ROLE instaclone LOGIN PASSWORD 'instaclone' CREATEDB;
  END IF;
END \$\$;
CREATE DATABASE $db OWNER instaclone;
SQL
echo "postgresql://instaclone:instaclone@127.0.0.1:$port/$db"
