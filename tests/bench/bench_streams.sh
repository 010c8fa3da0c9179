#!/usr/bin/env bash
# Soak of slow streams over HTTP: llmgw-sim streaming at a few tokens/s,
# one standalone llmgw-dataplane in front, bench_streams opening N streams at
# once for B bursts and sampling the data plane's RSS, descriptors and
# CLOSE-WAIT sockets during and after each burst (figures in
# docs/benchmarks.md). Not part of the test suite.
#
# Usage: tests/bench/bench_streams.sh [--streams N] [--bursts B] [--tokens-per-s T]
#                                     [--words W] [--idle-s S] [--http-threads H]
# Env: LLMGW_BIN_DIR (build dir, default ./build; use a Release build).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LLMGW_BIN_DIR:-$SRC_DIR/build}
STREAMS=2000 BURSTS=3 TPS=3 WORDS=10 IDLE=5 HTTP_THREADS=
while [ $# -gt 0 ]; do
    case $1 in
    --streams) STREAMS=$2; shift 2 ;;
    --bursts) BURSTS=$2; shift 2 ;;
    --tokens-per-s) TPS=$2; shift 2 ;;
    --words) WORDS=$2; shift 2 ;;
    --idle-s) IDLE=$2; shift 2 ;;
    --http-threads) HTTP_THREADS=$2; shift 2 ;;
    *) echo "usage: $0 [--streams N] [--bursts B] [--tokens-per-s T] [--words W] [--idle-s S] [--http-threads H]" >&2; exit 2 ;;
    esac
done
for b in bin/llmgw-sim bin/llmgw-dataplane bench_streams; do
    [ -x "$BUILD/$b" ] || { echo "bench_streams: $BUILD/$b missing (build first)" >&2; exit 1; }
done
# Every stream holds a client socket, a server socket and an upstream socket.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((STREAMS * 3 + 1000)) ] ||
    { echo "bench_streams: ulimit -n $(ulimit -n) is too low for $STREAMS streams" >&2; exit 1; }

WORK=$(mktemp -d /tmp/llmgw-bench-streams.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "bench_streams: $1 did not appear" >&2; cat "$WORK"/*.log >&2; exit 1; }

"$BUILD/bin/llmgw-sim" --listen 127.0.0.1:0 --port-file "$WORK/sim.port" --tokens-per-s "$TPS" \
    --max-connections $((STREAMS + 64)) --log-level warn >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$WORK/sim.port"
cat >"$WORK/table.json" <<JSON
{"providers": [{"name": "sim", "base_url": "http://127.0.0.1:$(cat "$WORK/sim.port")/v1", "timeout_ms": 600000,
                "models": [{"name": "m"}]}],
 "routes": [{"name": "chat", "strategy": "priority", "deployments": [{"provider": "sim", "model": "m"}]}]}
JSON
"$BUILD/bin/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --port-file "$WORK/dp.port" \
    --http-listen 127.0.0.1:0 --http-port-file "$WORK/dp.http" ${HTTP_THREADS:+--http-threads "$HTTP_THREADS"} \
    --http-idle-timeout-s 900 --log-level warn >"$WORK/dp.log" 2>&1 &
DP=$!
PIDS+=($DP)
wait_file "$WORK/dp.http"
echo "# $STREAMS streams x $BURSTS bursts, sim at $TPS tokens/s, $((WORDS + 4)) tokens per stream; $(nproc) CPUs; $(date -u +%F)"
"$BUILD/bench_streams" --url "http://127.0.0.1:$(cat "$WORK/dp.http")/v1/chat/completions" --pid "$DP" \
    --streams "$STREAMS" --bursts "$BURSTS" --idle-s "$IDLE" --words "$WORDS"
