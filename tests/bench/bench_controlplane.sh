#!/usr/bin/env bash
# bench_controlplane.sh: PostgreSQL (private, throwaway) + two control-plane
# replicas + bench_controlplane with 50 simulated nodes split across them.
# Usage: tests/bench/bench_controlplane.sh [BUILD_DIR] [bench flags...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
[ $# -gt 0 ] && shift
T=$(mktemp -d /tmp/llmgw-bench-cp.XXXXXX)
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
for r in a b; do
  "$BUILD/bin/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
    --listen 127.0.0.1:0 --port-file "$T/$r.port" --log-level warn >"$T/$r.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 1 100); do [ -s "$T/$r.port" ] && break; sleep 0.1; done
done
A=127.0.0.1:$(cat "$T/a.port")
B=127.0.0.1:$(cat "$T/b.port")
LLMGW_CONTROL_TARGET=$A "$BUILD/bin/llmgw" provider add bench --base-url http://127.0.0.1:9/v1 >/dev/null
"$BUILD/bench_controlplane" --target "$A" --target2 "$B" --nodes 50 "$@"
