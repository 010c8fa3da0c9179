#!/usr/bin/env bash
# Soak of slow streams: llmgw-sim streaming at a few tokens/s, one standalone
# llmgw-dataplane in front. Over HTTP, bench_streams opens N streams at once
# for B bursts; with --grpc SECONDS, bench_grpc_streams keeps N streams open
# over gRPC for that long, replacing each one that ends. Both sample the data
# plane's RSS, descriptors and CLOSE-WAIT sockets as they go and after the
# last stream (figures in docs/benchmarks.md). Not part of the test suite.
#
# Usage: tests/bench/bench_streams.sh [--streams N] [--bursts B] [--tokens-per-s T]
#                                     [--words W] [--idle-s S] [--http-threads H]
#                                     [--grpc SECONDS [--sample-s S]]
# Env: LLMGW_BIN_DIR (build dir, default ./build; use a Release build).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LLMGW_BIN_DIR:-$SRC_DIR/build}
STREAMS=2000 BURSTS=3 TPS=3 WORDS=10 IDLE=5 HTTP_THREADS= GRPC_S= SAMPLE_S=30
while [ $# -gt 0 ]; do
    case $1 in
    --streams) STREAMS=$2; shift 2 ;;
    --bursts) BURSTS=$2; shift 2 ;;
    --tokens-per-s) TPS=$2; shift 2 ;;
    --words) WORDS=$2; shift 2 ;;
    --idle-s) IDLE=$2; shift 2 ;;
    --http-threads) HTTP_THREADS=$2; shift 2 ;;
    --grpc) GRPC_S=$2; shift 2 ;;
    --sample-s) SAMPLE_S=$2; shift 2 ;;
    *) echo "usage: $0 [--streams N] [--bursts B] [--tokens-per-s T] [--words W] [--idle-s S] [--http-threads H]" >&2; exit 2 ;;
    esac
done
for b in bin/llmgw-sim bin/llmgw-dataplane bench_streams bench_grpc_streams; do
    [ -x "$BUILD/$b" ] || { echo "bench_streams: $BUILD/$b missing (build first)" >&2; exit 1; }
done
# Each process has its own limit: over HTTP the data plane holds two sockets
# per stream (client, upstream), over gRPC one (upstream; the streams share
# a few HTTP/2 connections).
ulimit -n "$(ulimit -Hn)"
PER_STREAM=2
[ -z "$GRPC_S" ] || PER_STREAM=1
[ "$(ulimit -n)" -ge $((STREAMS * PER_STREAM + 200)) ] ||
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

# Headroom over --streams: streams replaced as they end open new upstream
# connections while the sim still counts the closing ones.
"$BUILD/bin/llmgw-sim" --listen 127.0.0.1:0 --port-file "$WORK/sim.port" --tokens-per-s "$TPS" \
    --max-connections $((STREAMS * 3 / 2 + 256)) --log-level warn >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$WORK/sim.port"
cat >"$WORK/table.json" <<JSON
{"providers": [{"name": "sim", "base_url": "http://127.0.0.1:$(cat "$WORK/sim.port")/v1", "timeout_ms": 600000,
                "health": {"interval_ms": 0},
                "models": [{"name": "m"}]}],
 "routes": [{"name": "chat", "strategy": "priority", "deployments": [{"provider": "sim", "model": "m"}]}]}
JSON
"$BUILD/bin/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --port-file "$WORK/dp.port" \
    --http-listen 127.0.0.1:0 --http-port-file "$WORK/dp.http" ${HTTP_THREADS:+--http-threads "$HTTP_THREADS"} \
    --http-idle-timeout-s 900 --log-level warn >"$WORK/dp.log" 2>&1 &
DP=$!
PIDS+=($DP)
wait_file "$WORK/dp.http"
if [ -n "$GRPC_S" ]; then
    echo "# gRPC: $STREAMS streams kept open for $GRPC_S s, sim at $TPS tokens/s, $((WORDS + 4)) tokens per stream; $(nproc) CPUs; $(date -u +%F)"
    "$BUILD/bench_grpc_streams" --target "127.0.0.1:$(cat "$WORK/dp.port")" --pid "$DP" \
        --streams "$STREAMS" --duration-s "$GRPC_S" --sample-s "$SAMPLE_S" --idle-s "$IDLE" --words "$WORDS"
    exit 0
fi
echo "# $STREAMS streams x $BURSTS bursts, sim at $TPS tokens/s, $((WORDS + 4)) tokens per stream; $(nproc) CPUs; $(date -u +%F)"
"$BUILD/bench_streams" --url "http://127.0.0.1:$(cat "$WORK/dp.http")/v1/chat/completions" --pid "$DP" \
    --streams "$STREAMS" --bursts "$BURSTS" --idle-s "$IDLE" --words "$WORDS"
