#!/usr/bin/env bash
# Interop: the official OpenAI Node.js SDK (the `openai` npm package) talks to
# llmgw-dataplane's HTTP API with only its base URL changed. Starts llmgw-sim
# and llmgw-dataplane on free loopback ports (a table with an API key, a
# route that falls back past an unreachable provider, and a provider the sim
# answers with 429), runs openai_client.js, and requires both servers to stop
# cleanly (exit 0) on SIGTERM.
#
# Needs Node.js >= 18 and, once, the npm registry (npm install of the pinned
# packages of package.json into tests/interop/node_modules). Anything missing
# fails the test with a message: it never skips.
#
# Env: LLMGW_BIN_DIR (build dir; binaries in $LLMGW_BIN_DIR/bin),
#      LLMGW_SRC_DIR (repo root). Both default from this script's location.
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
HERE=$SRC_DIR/tests/interop
SIM_NAME=sim-a
API_KEY=sk-openai-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_openai_sdk

fail() {
    echo "test_openai_sdk: $*" >&2
    exit 1
}

# --- Node.js and the npm packages (same rules as test_grpcjs.sh) ------------
# shellcheck source=../support/node_deps.sh
. "$SRC_DIR/tests/support/node_deps.sh"
node_deps_ensure "$HERE" "the packages of package.json"

# --- the servers -------------------------------------------------------------
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-openai.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim "$SIM_NAME"
DOWN_PORT=$(dead_port)
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)

cat >"$WORK/table.json" <<EOF
{"providers": [
   {"name": "sim-down", "base_url": "http://127.0.0.1:$DOWN_PORT/v1", "timeout_ms": 5000,
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "$SIM_NAME", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "api_key": "sk-sim",
    "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60},
               {"name": "text-embedding-3-small", "input_cost_per_mtok": 0.02}]},
   {"name": "sim-limited", "base_url": "http://127.0.0.1:$SIM_PORT/v1",
    "headers": {"x-sim-status": "429"}, "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "chat-default", "strategy": "priority",
   "deployments": [{"provider": "sim-down", "model": "gpt-4o-mini", "priority": 0},
                   {"provider": "$SIM_NAME", "model": "gpt-4o-mini", "priority": 1}]}],
 "keys": [{"name": "sdk", "sha256": "$KEY_SHA", "team": "interop"}]}
EOF

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --port-file "$WORK/grpc.port" --http-port-file "$WORK/http.port" \
    >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane >/dev/null
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)

# --- the client ----------------------------------------------------------------
node "$HERE/openai_client.js" --base-url "http://127.0.0.1:$HTTP_PORT/v1" --key "$API_KEY" \
    --route chat-default --sim-name "$SIM_NAME" --limited-model sim-limited/gpt-4o-mini ||
    fail "openai_client.js reported failures (above)"
STATUS=0
