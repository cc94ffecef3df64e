#!/usr/bin/env bash
# A PostgreSQL of the cluster's own for the cluster test and the chaos runs (root, Debian's
# postgresql-common): cluster "cluster" of the newest installed major version on port 5433, with
# the roles `temporal` (Temporal's persistence) and `contacts` (the service's store, database
# contacts_cluster). Its own server because the chaos runs restart it: restarting the "main" one
# would cut every other test file's TEST_DATABASE_URL connections in the middle of `npm test`.
# Idempotent, but for the store database, which it makes anew. Prints the two URLs to export
# (CLUSTER_TEMPORAL_DB_URL, CLUSTER_DATABASE_URL) and nothing else on stdout.
set -euo pipefail

PORT="${CLUSTER_PG_PORT:-5433}"
NAME=cluster
VERSION="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
[[ -n "$VERSION" ]] || { echo "cluster-postgres: no PostgreSQL server under /usr/lib/postgresql" >&2; exit 1; }

if ! pg_lsclusters --no-header | awk -v v="$VERSION" -v n="$NAME" '$1 == v && $2 == n { found = 1 } END { exit !found }'; then
  pg_createcluster "$VERSION" "$NAME" --port "$PORT" >&2
fi
if ! pg_lsclusters --no-header | awk -v v="$VERSION" -v n="$NAME" '$1 == v && $2 == n && $4 == "online" { on = 1 } END { exit !on }'; then
  pg_ctlcluster "$VERSION" "$NAME" start >&2
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p "$PORT"

runuser -u postgres -- psql -p "$PORT" -X -q -v ON_ERROR_STOP=1 >&2 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') THEN
    CREATE ROLE temporal LOGIN CREATEDB PASSWORD 'temporal';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'contacts') THEN
    CREATE ROLE contacts LOGIN CREATEDB PASSWORD 'contacts';
  END IF;
END
$$;
SQL
# The store starts empty on every call: the cluster test and chaos runs expect a database made by
# this checkout's migrations (the store refuses one made by others) and count rows from zero.
runuser -u postgres -- psql -p "$PORT" -X -q -c 'DROP DATABASE IF EXISTS contacts_cluster WITH (FORCE)' -c 'CREATE DATABASE contacts_cluster OWNER contacts' >&2
echo "CLUSTER_TEMPORAL_DB_URL=postgres://temporal:temporal@127.0.0.1:${PORT}/temporal"
echo "CLUSTER_DATABASE_URL=postgres://contacts:contacts@127.0.0.1:${PORT}/contacts_cluster"
