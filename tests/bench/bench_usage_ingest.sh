#!/usr/bin/env bash
# bench_usage_ingest.sh: PostgreSQL (private, throwaway, fsync on) + one
# control plane + bench_usage_ingest with simulated nodes; checks afterwards
# that PostgreSQL holds exactly the events sent.
# Usage: tests/bench/bench_usage_ingest.sh [BUILD_DIR] [bench flags...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
[ $# -gt 0 ] && shift
T=$(mktemp -d /tmp/llmgw-bench-usage.XXXXXX)
chmod 755 "$T"
PIDS=()
source "$SRC/tests/support/pg_cluster.sh"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  pg_cluster_stop
  rm -rf "$T"
}
trap cleanup EXIT
export LLMGW_ADMIN_TOKEN=bench-admin-token-$RANDOM$RANDOM
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"
# The test clusters run with fsync off; a benchmark of durable ingestion must not.
pg_cluster__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 restart \
  -o "-p $PG_PORT -k $PG_SOCKDIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100" \
  >/dev/null
"$BUILD/bin/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --port-file "$T/cp.port" --log-level warn --workers 4 >"$T/cp.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do [ -s "$T/cp.port" ] && break; sleep 0.1; done
# The simulated nodes, as if each had subscribed (what makes a node known).
psql "$PG_URL" -X -q -c "INSERT INTO dataplane_nodes (node_id) SELECT 'bench-' || i FROM generate_series(1, 256) AS i"
"$BUILD/bench_usage_ingest" --target "127.0.0.1:$(cat "$T/cp.port")" "$@"
echo "stored: $(psql "$PG_URL" -X -q -t -A -c 'SELECT count(*) FROM usage_events') events," \
  "$(psql "$PG_URL" -X -q -t -A -c 'SELECT coalesce(sum(requests), 0) FROM metrics_minute') snapshot requests" \
  "(fsync=$(psql "$PG_URL" -X -q -t -A -c 'SHOW fsync'))"
