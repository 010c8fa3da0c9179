#!/usr/bin/env bash
# Benchmark of llmgw's OpenAI-compatible HTTP API: wrk POSTs a chat
# completion (a 195-byte body) in one run against
#   1. llmgw-sim directly (the baseline),
#   2. llmgw-dataplane's HTTP API in front of the same sim,
#   3. an nginx proxy_pass hop (upstream keepalive) in front of the same sim,
# at concurrency 1 and 64, and prints: RPS, p50/p99, the p50 each hop adds
# over the direct baseline at c=1, and the server CPU time per request
# (utime+stime from /proc/PID/stat before and after, all nginx workers summed).
#
# Needs wrk and nginx: when missing, installs Debian's packages with apt-get
# (root only). Not part of the test suite.
#
# With --rate R, instead: bench_rate sends R requests/s, open loop, for
# --duration S to the sim directly and then through llmgw, and prints the
# p50 / p99 llmgw adds at that rate (latency counted from when each request
# was due, so queueing shows).
#
# Usage: tests/bench/bench_http.sh [--duration S] [--threads N] [--http-threads N] [--rate R]
# Env: LLMGW_BIN_DIR (build dir, default ./build).
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
DURATION=5
THREADS=
HTTP_THREADS=
RATE=
while [ $# -gt 0 ]; do
    case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --http-threads) HTTP_THREADS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--threads N] [--http-threads N] [--rate R]" >&2; exit 2 ;;
    esac
done

# shellcheck source=lib.sh
BENCH_NAME=bench_http
. "$SRC_DIR/tests/bench/lib.sh"
bench_need_tools wrk nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bench_need_bins llmgw-sim llmgw-dataplane

bench_workdir http

free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no free port"
}

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
dp_args=(--table "$WORK/table.json" --listen 127.0.0.1:0 --port-file "$WORK/grpc.port"
    --http-listen 127.0.0.1:0 --http-port-file "$WORK/http.port" --log-level error)
[ -n "$THREADS" ] && dp_args+=(--threads "$THREADS")
[ -n "$HTTP_THREADS" ] && dp_args+=(--http-threads "$HTTP_THREADS")
"$BIN_DIR/llmgw-dataplane" "${dp_args[@]}" >"$WORK/dp.log" 2>&1 &
DP_PID=$!
PIDS+=($DP_PID)
wait_file "$WORK/http.port" >/dev/null
LLMGW_PORT=$(head -n 1 "$WORK/http.port")

NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream sim { server 127.0.0.1:$SIM_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/out.log" 2>&1 &
NGINX_PID=$!
PIDS+=($NGINX_PID)
for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null && break
    sleep 0.05
done

cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"MODEL","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in five words."}],"max_tokens":16,"temperature":0}'
EOF

CLK_TCK=$(getconf CLK_TCK)
# Total CPU ticks of a process and its children's threads: utime + stime.
ticks() {
    local total=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}
nginx_pids() {
    echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
}

# run NAME PORT MODEL CONC: one wrk run; prints a result row and sets
# R_RPS, R_P50_US, R_CPU_US.
run() {
    local name=$1 port=$2 model=$3 conc=$4 pids=$5 threads=1
    [ "$conc" -gt 1 ] && threads=2
    sed "s/MODEL/$model/" "$WORK/post.lua" >"$WORK/run.lua"
    # warm-up: connections, caches
    wrk -t"$threads" -c"$conc" -d1s -s "$WORK/run.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
    local before after out
    before=$(ticks $pids)
    out=$(wrk -t"$threads" -c"$conc" -d"${DURATION}s" --latency -s "$WORK/run.lua" \
        "http://127.0.0.1:$port/v1/chat/completions")
    after=$(ticks $pids)
    echo "$out" >"$WORK/$name-$conc.txt"
    local reqs non2xx
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    [ -z "$non2xx" ] || fail "$name c=$conc: $non2xx non-2xx answers"
    R_RPS=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    R_P50_US=$(echo "$out" | awk '$1 == "50%" { print $2 }' | to_us)
    local p99
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }' | to_us)
    if [ -n "$pids" ]; then
        R_CPU_US=$(awk -v d=$((after - before)) -v t="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    else
        R_CPU_US=-
    fi
    printf '%-22s c=%-3s %9s rps  p50 %8s us  p99 %8s us  server CPU %6s us/req\n' \
        "$name" "$conc" "$R_RPS" "$R_P50_US" "$p99" "$R_CPU_US"
}
# wrk prints 61.00us, 1.23ms, 2.00s
to_us() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1e6 } }'
}

if [ -n "$RATE" ]; then
    BENCH_RATE=$(dirname "$BIN_DIR")/bench_rate
    [ -x "$BENCH_RATE" ] || fail "$BENCH_RATE: missing (build first)"
    echo "bench_http: $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg); $RATE requests/s for ${DURATION}s, open loop"
    # rate_run NAME PORT MODEL: sets P50, P99 (µs)
    rate_run() {
        local out
        out=$("$BENCH_RATE" --url "http://127.0.0.1:$2/v1/chat/completions" --rate "$RATE" \
            --duration-s "$DURATION" --model "$3") || { echo "$out"; fail "$1: errors at $RATE/s"; }
        printf '%-12s %s\n' "$1" "$(echo "$out" | tr '\n' ' ')"
        P50=$(echo "$out" | awk '/latency/ { print $4 }')
        P99=$(echo "$out" | awk '/latency/ { print $8 }')
    }
    "$BENCH_RATE" --url "http://127.0.0.1:$LLMGW_PORT/v1/chat/completions" --rate 1000 \
        --duration-s 1 --model chat >/dev/null || true # warm-up
    rate_run direct-sim "$SIM_PORT" gpt-4o-mini
    DP50=$P50 DP99=$P99
    rate_run llmgw-http "$LLMGW_PORT" chat
    echo "added by llmgw at $RATE/s: p50 $((P50 - DP50)) us, p99 $((P99 - DP99)) us"
    exit 0
fi
echo "bench_http: $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "bench_http: wrk ${DURATION}s per run, 195-byte chat body; llmgw threads=${THREADS:-default} http-threads=${HTTP_THREADS:-default}"
run direct-sim "$SIM_PORT" gpt-4o-mini 1 ""
D1=$R_P50_US
run llmgw-http "$LLMGW_PORT" chat 1 "$DP_PID"
L1=$R_P50_US
L1CPU=$R_CPU_US
run nginx-proxy "$NGINX_PORT" gpt-4o-mini 1 "$(nginx_pids)"
N1=$R_P50_US
run direct-sim "$SIM_PORT" gpt-4o-mini 64 ""
run llmgw-http "$LLMGW_PORT" chat 64 "$DP_PID"
L64=$R_RPS
L64CPU=$R_CPU_US
run nginx-proxy "$NGINX_PORT" gpt-4o-mini 64 "$(nginx_pids)"
N64=$R_RPS
N64CPU=$R_CPU_US

echo
awk -v d="$D1" -v l="$L1" -v n="$N1" -v l64="$L64" -v n64="$N64" -v lc="$L64CPU" -v nc="$N64CPU" -v lc1="$L1CPU" 'BEGIN {
    printf "added p50 at c=1:  llmgw %.0f us, nginx hop %.0f us (target: llmgw <= 50 us)\n", l - d, n - d
    printf "RPS at c=64:       llmgw %d, nginx hop %d: llmgw/nginx = %.2f (target >= 0.50)\n", l64, n64, l64 / n64
    printf "CPU per request:   llmgw %s us at c=64 (%s us at c=1), nginx %s us at c=64\n", lc, lc1, nc
}'
