#!/usr/bin/env bash
# Benchmark: what HTTPS adds on llmgw-dataplane's HTTP door. Two data planes
# in front of one llmgw-sim, one plaintext and one with --tls-cert/--tls-key
# (a P-256 certificate from tests/support/tls_certs.sh); wrk POSTs a
# non-streaming chat completion (195-byte body) at concurrency 1, on a kept-
# alive connection and with a new connection per request (Connection: close,
# so every HTTPS request pays a full handshake). Rounds are interleaved
# (plain, tls, plain, tls, …) so a busy machine skews both alike; prints each
# round, then the medians: p50, RPS, the data plane's CPU per request, and
# the p50 HTTPS adds.
#
# Needs wrk (with OpenSSL: Debian's is) and openssl. Not part of the test suite.
# Usage: tests/bench/bench_tls_http.sh [--duration S] [--rounds N]
# Env: LLMGW_BIN_DIR (build dir, default ./build).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
DURATION=5
ROUNDS=3
while [ $# -gt 0 ]; do
    case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--rounds N]" >&2; exit 2 ;;
    esac
done
# shellcheck source=lib.sh
BENCH_NAME=bench_tls_http
. "$SRC_DIR/tests/bench/lib.sh"
bench_need_tools wrk openssl
bench_need_bins llmgw-sim llmgw-dataplane

bench_workdir tls
# shellcheck source=../support/tls_certs.sh
. "$SRC_DIR/tests/support/tls_certs.sh"
tls_certs "$WORK/certs" || fail "tls_certs.sh failed"

"$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name sim --port-file "$WORK/sim.port" \
    --log-level error >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
SIM_PORT=$(wait_file "$WORK/sim.port")
cat >"$WORK/table.json" <<EOF
{"providers": [{"name": "sim", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "api_key": "sk-sim",
  "health": {"interval_ms": 0},
  "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6}]}],
 "routes": [{"name": "chat", "strategy": "priority",
   "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}]}
EOF
# start_dp NAME ARGS...: sets PORT_<NAME>, PID_<NAME>
start_dp() {
    local name=$1
    shift
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
        --port-file "$WORK/$name.grpc" --http-listen 127.0.0.1:0 --http-port-file "$WORK/$name.http" \
        --log-level error "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
    printf -v "PORT_$name" '%s' "$(wait_file "$WORK/$name.http")"
}
start_dp plain
start_dp tls --tls-cert "$WORK/certs/server.pem" --tls-key "$WORK/certs/server.key"

cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"chat","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in five words."}],"max_tokens":16,"temperature":0}'
EOF

CLK_TCK=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
to_us() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1e6 } }'
}
# run KIND CONN: one wrk run against data plane KIND (plain|tls), CONN
# keepalive|close; appends "p50_us rps cpu_us" to $WORK/KIND-CONN.
run() {
    local kind=$1 conn=$2 scheme=http pid port args=() out before after reqs
    [ "$kind" = tls ] && scheme=https
    pid=PID_$kind port=PORT_$kind
    [ "$conn" = close ] && args+=(-H "Connection: close")
    before=$(ticks "${!pid}")
    out=$(wrk -t1 -c1 -d"${DURATION}s" --latency "${args[@]}" -s "$WORK/post.lua" \
        "$scheme://127.0.0.1:${!port}/v1/chat/completions")
    after=$(ticks "${!pid}")
    ! echo "$out" | grep -q 'Non-2xx\|Socket errors' || fail "$kind $conn: errors: $out"
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    local p50 rps cpu
    p50=$(echo "$out" | awk '$1 == "50%" { print $2 }' | to_us)
    rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    cpu=$(awk -v d=$((after - before)) -v t="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    echo "$p50 $rps $cpu" >>"$WORK/$kind-$conn"
    printf '  %-6s %-9s p50 %8s us  %6s rps  data plane CPU %6s us/req\n' "$kind" "$conn" "$p50" "$rps" "$cpu"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$WORK/$1" | median; }

echo "bench_tls_http: $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "bench_tls_http: wrk -t1 -c1, ${DURATION}s per run, $ROUNDS interleaved rounds, non-streaming chat via llmgw-sim"
for conn in keepalive close; do
    for kind in plain tls; do # warm-up
        wrk -t1 -c1 -d1s -s "$WORK/post.lua" "$([ $kind = tls ] && echo https || echo http)://127.0.0.1:$(eval echo \$PORT_$kind)/v1/chat/completions" >/dev/null
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        run plain "$conn"
        run tls "$conn"
    done
done
echo
for conn in keepalive close; do
    pp=$(col "plain-$conn" 1) tp=$(col "tls-$conn" 1)
    printf '%-9s median p50: http %s us, https %s us: HTTPS adds %s us; rps %s vs %s; CPU/req %s vs %s us\n' \
        "$conn" "$pp" "$tp" "$(awk -v a="$tp" -v b="$pp" 'BEGIN { printf "%.0f", a - b }')" \
        "$(col "plain-$conn" 2)" "$(col "tls-$conn" 2)" "$(col "plain-$conn" 3)" "$(col "tls-$conn" 3)"
done
