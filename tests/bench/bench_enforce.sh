#!/usr/bin/env bash
# Benchmark of governance on the request path over HTTP: wrk POSTs bench_http.sh's
# 195-byte chat completion to two llmgw-dataplanes in front of one llmgw-sim,
#   off: the caller's key has no limits and no policy (auth on, budgets off),
#   on:  the key and its team have rpm/tpm limits (high enough never to refuse)
#        and the key a policy (allowed providers, denied models, regions that
#        exclude the route's second deployment, max_tokens, max_prompt_bytes,
#        redaction of all four PII kinds),
# at concurrency 1 and 64, in interleaved rounds, and prints per run RPS, p50,
# p99 and server CPU per request, then the medians and the p50 "on" adds.
# Target (issue 11, part 10): added p50 within 5 us. bench_enforce (C) splits
# the added cost by part, in process.
#
# Needs wrk (installed with apt-get when missing, root only). Not part of the
# test suite.
#
# Usage: tests/bench/bench_enforce.sh [--duration S] [--rounds N]
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
BENCH_NAME=bench_enforce
. "$SRC_DIR/tests/bench/lib.sh"
bench_need_tools wrk
bench_need_bins llmgw-sim llmgw-dataplane

bench_workdir enforce

"$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name sim --port-file "$WORK/sim.port" \
    --log-level error >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
SIM_PORT=$(wait_file "$WORK/sim.port")

KEY=sk-bench-enforce
SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
PROVIDERS="\"providers\": [
  {\"name\": \"sim\", \"region\": \"eu-west-1\", \"base_url\": \"http://127.0.0.1:$SIM_PORT/v1\",
   \"api_key\": \"sk-sim\", \"health\": {\"interval_ms\": 0},
   \"models\": [{\"name\": \"gpt-4o-mini\", \"input_cost_per_mtok\": 0.15, \"output_cost_per_mtok\": 0.6}]},
  {\"name\": \"sim-us\", \"region\": \"us-east-1\", \"base_url\": \"http://127.0.0.1:$SIM_PORT/v1\",
   \"health\": {\"interval_ms\": 0}, \"models\": [{\"name\": \"gpt-4o-mini\"}]}],
 \"routes\": [{\"name\": \"chat\", \"strategy\": \"priority\",
   \"deployments\": [{\"provider\": \"sim\", \"model\": \"gpt-4o-mini\"},
                     {\"provider\": \"sim-us\", \"model\": \"gpt-4o-mini\", \"priority\": 1}]}]"
cat >"$WORK/off.json" <<EOF
{$PROVIDERS, "keys": [{"name": "bench", "sha256": "$SHA"}]}
EOF
cat >"$WORK/on.json" <<EOF
{$PROVIDERS,
 "teams": [{"name": "bench-team", "rpm": 1000000000, "tpm": 1000000000000}],
 "keys": [{"name": "bench", "sha256": "$SHA", "team": "bench-team", "scopes": ["chat"],
           "rpm": 1000000000, "tpm": 1000000000000}],
 "policies": [{"name": "bench-policy", "scope": "key", "key": "bench",
               "allowed_providers": ["sim", "sim-us"], "denied_models": ["gpt-4"],
               "regions": ["eu-west-1"], "max_tokens": 4096, "max_prompt_bytes": 65536,
               "redact": ["email", "phone", "card", "iban"]}]}
EOF
start_dp() { # name
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/$1.json" --listen 127.0.0.1:0 \
        --port-file "$WORK/$1.grpc" --http-listen 127.0.0.1:0 --http-port-file "$WORK/$1.http" \
        --log-level error >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
    wait_file "$WORK/$1.grpc" >/dev/null
    eval "PORT_$1=$(head -n 1 "$WORK/$1.http")"
}
start_dp off
start_dp on

cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = '{"model":"chat","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark in five words."}],"max_tokens":16,"temperature":0}'
EOF
for n in off on; do
    port_var=PORT_$n
    code=$(curl -s -o "$WORK/check" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' --data "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$WORK/post.lua")" \
        "http://127.0.0.1:${!port_var}/v1/chat/completions")
    [ "$code" = 200 ] || fail "$n: HTTP $code: $(head -c 300 "$WORK/check")"
done

CLK_TCK=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
to_us() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1e6 } }'
}
# run NAME CONC: one wrk run; appends "p50 rps cpu" to $WORK/NAME-CONC.results
run() {
    local name=$1 conc=$2 threads=1 port_var=PORT_$1 pid_var=PID_$1
    [ "$conc" -gt 1 ] && threads=2
    local url="http://127.0.0.1:${!port_var}/v1/chat/completions"
    wrk -t"$threads" -c"$conc" -d1s -s "$WORK/post.lua" "$url" >/dev/null
    local before after out
    before=$(ticks "${!pid_var}")
    out=$(wrk -t"$threads" -c"$conc" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$url")
    after=$(ticks "${!pid_var}")
    local reqs non2xx rps p50 p99 cpu
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    [ -z "$non2xx" ] || fail "$name c=$conc: $non2xx non-2xx answers"
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    p50=$(echo "$out" | awk '$1 == "50%" { print $2 }' | to_us)
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }' | to_us)
    cpu=$(awk -v d=$((after - before)) -v t="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
    printf '%-4s c=%-3s %9s rps  p50 %8s us  p99 %8s us  server CPU %6s us/req\n' \
        "$name" "$conc" "$rps" "$p50" "$p99" "$cpu"
    echo "$p50 $rps $cpu" >>"$WORK/$name-$conc.results"
}
median() { # file column
    sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "bench_enforce: $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "bench_enforce: wrk ${DURATION}s per run, $ROUNDS interleaved rounds, 195-byte chat body"
for ((r = 1; r <= ROUNDS; r++)); do
    for c in 1 64; do
        run off "$c"
        run on "$c"
    done
done
echo
for c in 1 64; do
    off50=$(median "$WORK/off-$c.results" 1); on50=$(median "$WORK/on-$c.results" 1)
    offr=$(median "$WORK/off-$c.results" 2); onr=$(median "$WORK/on-$c.results" 2)
    offc=$(median "$WORK/off-$c.results" 3); onc=$(median "$WORK/on-$c.results" 3)
    awk -v c="$c" -v a="$off50" -v b="$on50" -v ar="$offr" -v br="$onr" -v ac="$offc" -v bc="$onc" 'BEGIN {
        printf "c=%-3s median p50 off %.0f us, on %.0f us: added %.0f us (target <= 5 us); RPS %d -> %d; CPU %.1f -> %.1f us/req\n",
            c, a, b, b - a, ar, br, ac, bc }'
done
