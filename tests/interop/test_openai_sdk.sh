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

fail() {
    echo "test_openai_sdk: $*" >&2
    exit 1
}

# --- Node.js and the npm packages (same rules as test_grpcjs.sh) ------------
if ! command -v node >/dev/null 2>&1; then
    # A fresh Debian 12 has no node. Only then is Debian's npm right: next to
    # a Node.js from elsewhere (which ships its own npm) it conflicts.
    [ "$(id -u)" = 0 ] || fail "node is missing; install Node.js >= 18 (or run as root to apt-get it)"
    command -v apt-get >/dev/null 2>&1 || fail "node is missing and there is no apt-get; install Node.js >= 18"
    echo "test_openai_sdk: node is missing; installing Debian's nodejs and npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
        fail "apt-get update failed (no network?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2 ||
        fail "apt-get install nodejs npm failed"
fi
command -v npm >/dev/null 2>&1 ||
    fail "node is present but npm is not; install the npm that belongs to this Node.js"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || fail "node $(node --version) is too old; need >= 18"

# Installed when missing, or when the installed versions are not the pinned ones.
deps_ok() {
    (cd "$HERE" && node -e '
        // Read node_modules directly: a package whose "exports" omits
        // ./package.json (openai) cannot be require()d for it.
        const fs = require("fs");
        const want = require("./package.json").dependencies;
        for (const [name, version] of Object.entries(want)) {
            const got = JSON.parse(fs.readFileSync("node_modules/" + name + "/package.json", "utf8"));
            if (got.version !== version) process.exit(1);
        }' 2>/dev/null)
}
if ! deps_ok; then
    echo "test_openai_sdk: npm install in $HERE" >&2
    (cd "$HERE" && npm install --no-audit --no-fund >&2) ||
        fail "npm install failed in $HERE (the npm registry must be reachable once to fetch the packages of package.json)"
    deps_ok || fail "after npm install, node_modules still lacks the pinned versions of package.json"
fi

# --- the servers -------------------------------------------------------------
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-openai.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
STOP_RC=0
stop() {
    local pid=$1 i
    STOP_RC=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "test_openai_sdk: pid $pid ignored SIGTERM for 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}
cleanup() {
    local rc=$? dp_rc sim_rc f
    trap - EXIT INT TERM
    stop "$DP_PID"
    dp_rc=$STOP_RC
    stop "$SIM_PID"
    sim_rc=$STOP_RC
    if [ "$STATUS" = 0 ]; then
        if [ "$dp_rc" != 0 ]; then
            echo "test_openai_sdk: llmgw-dataplane exited with status $dp_rc on SIGTERM" >&2
            rc=1
        fi
        if [ "$sim_rc" != 0 ]; then
            echo "test_openai_sdk: llmgw-sim exited with status $sim_rc on SIGTERM" >&2
            rc=1
        fi
    fi
    if [ "$rc" != 0 ]; then
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "--- last lines of $(basename "$f") ---" >&2
            tail -n 30 "$f" >&2
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    local pid=$1 file=$2 name=$3 i
    for ((i = 0; i < START_TIMEOUT_S * 20; i++)); do
        if [ -s "$file" ]; then
            head -n 1 "$file"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name exited before listening"
        sleep 0.05
    done
    fail "$name: not listening after ${START_TIMEOUT_S}s"
}
dead_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no free loopback port found"
}

"$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name "$SIM_NAME" --models gpt-4o-mini \
    --port-file "$WORK/sim.port" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
SIM_PORT=$(wait_port "$SIM_PID" "$WORK/sim.port" llmgw-sim)
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
