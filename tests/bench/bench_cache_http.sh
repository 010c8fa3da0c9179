#!/usr/bin/env bash
# Benchmark of the response cache over HTTP: wrk POSTs the same chat
# completion (temperature 0) in one run against
#   1. llmgw-sim directly (the baseline: an upstream that answers at once),
#   2. llmgw-dataplane's HTTP API on a route without "cache" (every request
#      goes to the sim: the no-cache path),
#   3. the same request on a route with "cache" (after the warm-up every
#      request is a hit: x-llmgw-cache: hit is checked first),
# at concurrency 1 and 64, and prints RPS, p50/p99 and the data plane's CPU
# time per request, then a hit's added p50 at c=1 (over the direct sim, and
# against the no-cache path) and RPS at c=64 of hits against the no-cache
# path.
#
# Needs wrk (Debian package wrk). Not part of the test suite.
#
# Usage: tests/bench/bench_cache_http.sh [--duration S] [--http-threads N]
# Env: LLMGW_BIN_DIR (build dir, default ./build).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
DURATION=5
HTTP_THREADS=
while [ $# -gt 0 ]; do
    case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --http-threads) HTTP_THREADS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--http-threads N]" >&2; exit 2 ;;
    esac
done

# shellcheck source=lib.sh
BENCH_NAME=bench_cache_http
. "$SRC_DIR/tests/bench/lib.sh"
bench_need_tools wrk curl
bench_need_bins llmgw-sim llmgw-dataplane

bench_workdir cache

"$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name sim --port-file "$WORK/sim.port" \
    --log-level error >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
SIM_PORT=$(wait_file "$WORK/sim.port")

cat >"$WORK/table.json" <<EOF
{"providers": [{"name": "sim", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "api_key": "sk-sim",
  "health": {"interval_ms": 0},
  "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6}]}],
 "routes": [{"name": "chat", "strategy": "priority",
             "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]},
            {"name": "cached", "strategy": "priority", "cache": {"ttl_ms": 3600000},
             "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}]}
EOF
dp_args=(--table "$WORK/table.json" --listen 127.0.0.1:0 --port-file "$WORK/grpc.port"
    --http-listen 127.0.0.1:0 --http-port-file "$WORK/http.port" --log-level error)
[ -n "$HTTP_THREADS" ] && dp_args+=(--http-threads "$HTTP_THREADS")
"$BIN_DIR/llmgw-dataplane" "${dp_args[@]}" >"$WORK/dp.log" 2>&1 &
DP_PID=$!
PIDS+=($DP_PID)
wait_file "$WORK/http.port" >/dev/null
LLMGW_PORT=$(head -n 1 "$WORK/http.port")

BODY='{"model":"MODEL","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in five words."}],"max_tokens":16,"temperature":0}'
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
EOF

# The cached route answers hits: store the answer, then check the mark.
for i in 1 2; do
    curl -sS -o /dev/null -D "$WORK/h" -H 'Content-Type: application/json' \
        --data-binary "${BODY/MODEL/cached}" "http://127.0.0.1:$LLMGW_PORT/v1/chat/completions" ||
        fail "curl to the data plane failed"
done
tr -d '\r' <"$WORK/h" | grep -qi '^x-llmgw-cache: hit$' || fail "the cached route did not answer a hit"

CLK_TCK=$(getconf CLK_TCK)
ticks() {
    local total=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}
to_us() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1e6 } }'
}
# run NAME PORT MODEL CONC PIDS: one wrk run; prints a row and sets R_RPS,
# R_P50_US.
run() {
    local name=$1 port=$2 model=$3 conc=$4 pids=$5 threads=1
    [ "$conc" -gt 1 ] && threads=2
    sed "s/MODEL/$model/" "$WORK/post.lua" >"$WORK/run.lua"
    wrk -t"$threads" -c"$conc" -d1s -s "$WORK/run.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
    local before after out reqs non2xx p99 cpu=-
    before=$(ticks $pids)
    out=$(wrk -t"$threads" -c"$conc" -d"${DURATION}s" --latency -s "$WORK/run.lua" \
        "http://127.0.0.1:$port/v1/chat/completions")
    after=$(ticks $pids)
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    [ -z "$non2xx" ] || fail "$name c=$conc: $non2xx non-2xx answers"
    R_RPS=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    R_P50_US=$(echo "$out" | awk '$1 == "50%" { print $2 }' | to_us)
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }' | to_us)
    [ -n "$pids" ] && cpu=$(awk -v d=$((after - before)) -v t="$CLK_TCK" -v n="$reqs" \
        'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    printf '%-20s c=%-3s %9s rps  p50 %8s us  p99 %8s us  data plane CPU %6s us/req\n' \
        "$name" "$conc" "$R_RPS" "$R_P50_US" "$p99" "$cpu"
}

echo "bench_cache_http: $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "bench_cache_http: wrk ${DURATION}s per run; llmgw http-threads=${HTTP_THREADS:-default}"
run direct-sim "$SIM_PORT" gpt-4o-mini 1 ""
D1=$R_P50_US
run llmgw-no-cache "$LLMGW_PORT" chat 1 "$DP_PID"
N1=$R_P50_US
run llmgw-cache-hit "$LLMGW_PORT" cached 1 "$DP_PID"
H1=$R_P50_US
run direct-sim "$SIM_PORT" gpt-4o-mini 64 ""
run llmgw-no-cache "$LLMGW_PORT" chat 64 "$DP_PID"
N64=$R_RPS
run llmgw-cache-hit "$LLMGW_PORT" cached 64 "$DP_PID"
H64=$R_RPS

echo
awk -v d="$D1" -v n="$N1" -v h="$H1" -v n64="$N64" -v h64="$H64" 'BEGIN {
    printf "c=1 p50:   hit %.0f us = %+.0f us over the direct sim; the no-cache path %.0f us (%+.0f us over the sim): a hit saves %.0f us\n", h, h - d, n, n - d, n - h
    printf "c=64 RPS:  hits %d, no-cache path %d: %.2fx\n", h64, n64, h64 / n64
}'
