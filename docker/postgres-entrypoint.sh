#!/bin/sh
# First start: initdb, then the role and database for llmgw. Every start:
# postgres in the foreground (signals reach it: exec).
set -eu
BIN=/usr/lib/postgresql/15/bin
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
case "$POSTGRES_USER$POSTGRES_DB" in
  *[!A-Za-z0-9_]*) echo "llmgw-postgres: POSTGRES_USER and POSTGRES_DB: letters, digits, _ only" >&2; exit 2 ;;
esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --pwfile="$pw" >/dev/null
  rm -f "$pw"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
  # The password travels as a psql variable, quoted by psql (:'pw').
  psql -h /var/run/postgresql -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -v pw="$POSTGRES_PASSWORD" <<SQL
CREATE ROLE $POSTGRES_USER LOGIN PASSWORD :'pw';
CREATE DATABASE $POSTGRES_DB OWNER $POSTGRES_USER;
SQL
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses="$PGHOST" -p "$PGPORT" \
  -k /var/run/postgresql
