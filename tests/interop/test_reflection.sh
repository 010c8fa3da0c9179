#!/usr/bin/env bash
# Interop: gRPC server reflection. grpc-js-reflection-client with @grpc/grpc-js
# (clients nobody here wrote) discovers a data plane's services over
# grpc.reflection.v1alpha and v1, fetches the descriptors and calls
# ChatService/Complete with no .proto file given (reflection_client.js).
# Starts llmgw-sim and llmgw-dataplane on free loopback ports and requires the
# data plane to stop cleanly (exit 0) on SIGTERM. Then a control plane on a
# private PostgreSQL (tests/support/pg_cluster.sh) must list and describe its
# own services the same way.
#
# Needs Node.js >= 18 and, once, the npm registry (npm install of the pinned
# packages into tests/interop/node_modules). grpc-js-reflection-client is
# pinned at 1.3.0, the newest whose peer range accepts the pinned
# @grpc/grpc-js 1.12.6; it requires google-protobuf without declaring it, so
# package.json pins that too. Anything missing fails the test
# with a message: it never skips.
#
# Env: LLMGW_BIN_DIR (build dir; binaries in $LLMGW_BIN_DIR/bin),
#      LLMGW_SRC_DIR (repo root). Both default from this script's location.
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
HERE=$SRC_DIR/tests/interop
SIM_NAME=sim-r
API_KEY=sk-reflect-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_reflection
WAIT_PORT_WHOLE_LINE=1

fail() {
    echo "test_reflection: $*" >&2
    exit 1
}

# --- Node.js and the two npm packages ----------------------------------------
# shellcheck source=../support/node_deps.sh
. "$SRC_DIR/tests/support/node_deps.sh"
node_deps_ensure "$HERE" "@grpc/grpc-js and grpc-js-reflection-client"

# --- the servers -------------------------------------------------------------
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-interop.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim "$SIM_NAME"
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)

cat >"$WORK/table.json" <<EOF
{"providers": [
   {"name": "$SIM_NAME", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "api_key": "sk-sim",
    "timeout_ms": 30000, "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "chat-default", "strategy": "priority",
   "deployments": [{"provider": "$SIM_NAME", "model": "gpt-4o-mini", "priority": 0}]}],
 "keys": [{"name": "reflect", "sha256": "$KEY_SHA", "team": "reflect"}]}
EOF

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --port-file "$WORK/dataplane.port" >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
DP_PORT=$(wait_port "$DP_PID" "$WORK/dataplane.port" llmgw-dataplane)

# --- the client ----------------------------------------------------------------
node "$HERE/reflection_client.js" --target "127.0.0.1:$DP_PORT" --key "$API_KEY" \
    --sim-name "$SIM_NAME" --route chat-default || fail "reflection_client.js reported failures (above)"

# --- the control plane ---------------------------------------------------------
[ -x "$BIN_DIR/llmgw-controlplane" ] || fail "$BIN_DIR/llmgw-controlplane: missing (build first)"
# shellcheck source=../support/pg_cluster.sh
. "$SRC_DIR/tests/support/pg_cluster.sh"
CP_PID=
cp_cleanup() {
    stop "$CP_PID"
    pg_cluster_stop >/dev/null 2>&1 || true
    [ -z "${PG_TOP:-}" ] || rm -rf "$PG_TOP"
}
trap 'cp_cleanup; procs_cleanup' EXIT
# The cluster's owner (postgres, when run as root) must reach its directory:
# WORK is private (mktemp -d), so the cluster lives in a directory of its own.
PG_TOP=$(mktemp -d /tmp/llmgw-reflect-pg.XXXXXX)
chmod 755 "$PG_TOP"
pg_cluster_start "$PG_TOP/pg" >"$WORK/pg.log" 2>&1 || { cat "$WORK/pg.log" >&2; fail "cannot start PostgreSQL"; }
LLMGW_ADMIN_TOKEN=reflect-admin-$RANDOM LLMGW_MASTER_KEY=$(openssl rand -hex 32) \
    "$BIN_DIR/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC_DIR/migrations" \
    --listen 127.0.0.1:0 --port-file "$WORK/cp.port" --workers 1 --grace-ms 500 \
    >"$WORK/controlplane.log" 2>&1 &
CP_PID=$!
CP_PORT=$(wait_port "$CP_PID" "$WORK/cp.port" llmgw-controlplane)
node "$HERE/reflection_client.js" --target "127.0.0.1:$CP_PORT" --control-plane ||
    fail "reflection_client.js reported failures against the control plane (above)"
stop "$CP_PID"
CP_PID=
[ "$STOP_RC" = 0 ] || fail "llmgw-controlplane exited with status $STOP_RC on SIGTERM"
STATUS=0
