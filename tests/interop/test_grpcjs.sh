#!/usr/bin/env bash
# Interop: grpc-js (Node.js), a gRPC stack nobody here wrote, talks to
# llmgw-dataplane. Starts llmgw-sim and llmgw-dataplane on free loopback ports
# with a routing table that has an API key and a provider that cannot be
# reached (so the route's fallback shows in the answer), runs client.js, and
# requires both servers to stop cleanly (exit 0) on SIGTERM.
#
# Needs Node.js >= 18 and, once, the npm registry (npm install of the pinned
# @grpc/grpc-js and @grpc/proto-loader into tests/interop/node_modules). With
# no node at all it installs Debian's nodejs + npm (root only). Anything
# missing fails the test with a message: it never skips.
#
# Env: LLMGW_BIN_DIR (build dir; binaries in $LLMGW_BIN_DIR/bin),
#      LLMGW_SRC_DIR (repo root). Both default from this script's location.
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
HERE=$SRC_DIR/tests/interop
SIM_NAME=sim-a
API_KEY=sk-interop-$$-$RANDOM
START_TIMEOUT_S=20

fail() {
    echo "test_grpcjs: $*" >&2
    exit 1
}

# --- Node.js and the two npm packages ----------------------------------------
if ! command -v node >/dev/null 2>&1; then
    # A fresh Debian 12 has no node. Only then is Debian's npm right: next to
    # a Node.js from elsewhere (which ships its own npm) it conflicts.
    [ "$(id -u)" = 0 ] || fail "node is missing; install Node.js >= 18 (or run as root to apt-get it)"
    command -v apt-get >/dev/null 2>&1 || fail "node is missing and there is no apt-get; install Node.js >= 18"
    echo "test_grpcjs: node is missing; installing Debian's nodejs and npm" >&2
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
    echo "test_grpcjs: npm install in $HERE" >&2
    (cd "$HERE" && npm install --no-audit --no-fund >&2) ||
        fail "npm install failed in $HERE (the npm registry must be reachable once to fetch @grpc/grpc-js and @grpc/proto-loader)"
    deps_ok || fail "after npm install, node_modules still lacks the pinned versions of package.json"
fi

# --- the servers -------------------------------------------------------------
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-interop.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1

# SIGTERM, up to 10 s, then SIGKILL; the exit status lands in STOP_RC (0 =
# clean). Not run in a $(...) subshell: only this shell can wait for its children.
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
        echo "test_grpcjs: pid $pid ignored SIGTERM for 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

show_logs() {
    local f
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $(basename "$f") ---" >&2
        tail -n 30 "$f" >&2
    done
}

cleanup() {
    local rc=$? dp_rc sim_rc
    trap - EXIT INT TERM
    stop "$DP_PID"
    dp_rc=$STOP_RC
    stop "$SIM_PID"
    sim_rc=$STOP_RC
    if [ "$STATUS" = 0 ]; then
        # A clean stop is part of interoperating: calls must not leave the
        # servers wedged, leaking or crashing.
        if [ "$dp_rc" != 0 ]; then
            echo "test_grpcjs: llmgw-dataplane exited with status $dp_rc on SIGTERM" >&2
            rc=1
        fi
        if [ "$sim_rc" != 0 ]; then
            echo "test_grpcjs: llmgw-sim exited with status $sim_rc on SIGTERM" >&2
            rc=1
        fi
    fi
    [ "$rc" = 0 ] || show_logs
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "PORT\n" in a port file written by a server once it listens.
wait_port() {
    local pid=$1 file=$2 name=$3 i
    for ((i = 0; i < START_TIMEOUT_S * 20; i++)); do
        if [ -s "$file" ] && [ "$(wc -l <"$file")" -ge 1 ]; then
            local port
            port=$(head -n 1 "$file")
            [[ "$port" =~ ^[0-9]+$ ]] || fail "$name: port file holds '$port'"
            echo "$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name exited before listening"
        sleep 0.05
    done
    fail "$name: not listening after ${START_TIMEOUT_S}s"
}

# A loopback port nobody listens on, for the provider that must fail to connect.
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
   {"name": "sim-down", "base_url": "http://127.0.0.1:$DOWN_PORT/v1", "api_key": "sk-down",
    "timeout_ms": 5000,
    "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60}]},
   {"name": "$SIM_NAME", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "api_key": "sk-sim",
    "timeout_ms": 30000,
    "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60,
                "quality": 0.70}]}],
 "routes": [{"name": "chat-default", "strategy": "priority",
   "deployments": [{"provider": "sim-down", "model": "gpt-4o-mini", "priority": 0},
                   {"provider": "$SIM_NAME", "model": "gpt-4o-mini", "priority": 1}]}],
 "keys": [{"name": "interop", "sha256": "$KEY_SHA", "team": "interop"}]}
EOF

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --port-file "$WORK/dataplane.port" >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
DP_PORT=$(wait_port "$DP_PID" "$WORK/dataplane.port" llmgw-dataplane)

# --- the client ----------------------------------------------------------------
node "$HERE/client.js" --target "127.0.0.1:$DP_PORT" --key "$API_KEY" --sim-name "$SIM_NAME" \
    --route chat-default --model gpt-4o-mini --failing-provider sim-down \
    --proto-dir "$SRC_DIR/proto" || fail "client.js reported failures (above)"
STATUS=0
