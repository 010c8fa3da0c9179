#!/usr/bin/env bash
# The response cache end to end over HTTP: llmgw-sim behind llmgw-dataplane
# with routes that cache (one allowing temperature up to 1, one with a short
# TTL) and one that does not. A hit is the stored answer (same id: the sim
# numbers its answers, so an upstream call would show a new one), marked
# x-llmgw-cache: hit and "cache hit" in the route reason, with no attempt,
# cost 0 and zero usage; the analytics count the request but no tokens or
# cost; a key's tokens-per-minute limit is not spent by hits. Bypassed by
# cache-control: no-cache, by temperature above the route's max, by a route
# without "cache" and by provider/model; keys are scoped to the API key and
# ignore JSON member order; entries expire; a streamed hit replays as a
# stream; /metrics counts hits, stores and expirations; a table that
# misconfigures "cache" is refused naming the field.
# Over gRPC (cache_rpc.js, grpc-js): the route decision's cache_hit, and the
# cache-control metadata.
#
# Needs curl, jq and node (with tests/interop/node_modules). Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR (default from here).
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
API_KEY=sk-cache-$$-$RANDOM
OTHER_KEY=sk-cache-other-$$-$RANDOM
TPM_KEY=sk-cache-tpm-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_cache

fail() {
    echo "test_cache: FAIL: $*" >&2
    exit 1
}
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-cache.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
CHECK_SIM_STOP=0
HONOR_KEEP_WORK=1
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim sim-a
SIM=http://127.0.0.1:$SIM_PORT/v1
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# table ROUTE-CACHE-MEMBER: the table with that "cache" member on route "bad"
table() {
    local bad=""
    [ -z "$1" ] || bad=",
   {\"name\": \"bad\", \"strategy\": \"priority\", \"cache\": $1,
    \"deployments\": [{\"provider\": \"sim-a\", \"model\": \"gpt-4o-mini\"}]}"
    cat <<EOF
{"version": 1,
 "providers": [{"name": "sim-a", "base_url": "$SIM", "timeout_ms": 10000,
    "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60}]}],
 "routes": [
   {"name": "cached", "strategy": "priority", "cache": {"ttl_ms": 60000},
    "deployments": [{"provider": "sim-a", "model": "gpt-4o-mini"}]},
   {"name": "warm", "strategy": "priority", "cache": {"ttl_ms": 60000, "max_temperature": 1},
    "deployments": [{"provider": "sim-a", "model": "gpt-4o-mini"}]},
   {"name": "brief", "strategy": "priority", "cache": {"ttl_ms": 300},
    "deployments": [{"provider": "sim-a", "model": "gpt-4o-mini"}]},
   {"name": "plain", "strategy": "priority",
    "deployments": [{"provider": "sim-a", "model": "gpt-4o-mini"}]}$bad],
 "keys": [{"name": "main", "sha256": "$(sha "$API_KEY")"},
          {"name": "other", "sha256": "$(sha "$OTHER_KEY")"},
          {"name": "tpm", "sha256": "$(sha "$TPM_KEY")", "tpm": 60}]}
EOF
}

# Misconfigured "cache" members are refused at load, naming the field.
bad_table() { # CACHE-MEMBER EXPECTED-MESSAGE
    table "$1" >"$WORK/bad.json"
    if "$BIN_DIR/llmgw-dataplane" --table "$WORK/bad.json" --listen 127.0.0.1:0 \
        --http-listen 127.0.0.1:0 >"$WORK/bad.out" 2>&1; then
        fail "table with cache $1 was accepted"
    fi
    grep -qF "$2" "$WORK/bad.out" || fail "cache $1: expected '$2', got: $(cat "$WORK/bad.out")"
}
bad_table '{}' 'routes[4].cache.ttl_ms: required'
bad_table '{"ttl_ms": 0}' 'routes[4].cache.ttl_ms: expected an integer 1..86400000'
bad_table '{"ttl_ms": "5"}' 'routes[4].cache.ttl_ms'
bad_table '{"ttl_ms": 5, "max_temperature": 3}' 'routes[4].cache.max_temperature: expected a number 0..2'
bad_table '{"ttl_ms": 5, "size": 1}' 'routes[4].cache.size'
bad_table '[]' 'routes[4].cache'

table "" >"$WORK/table.json"
"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 1 \
    --http-threads 2 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$WORK/http.port" >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane >/dev/null
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
BASE=http://127.0.0.1:$HTTP_PORT

CODE=
# chat BODY [curl args...]: body in $WORK/body, headers in $WORK/headers.
chat() {
    local body=$1 key=${KEY:-$API_KEY}
    shift
    CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 20 \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        --data-binary "$body" "$@" "$BASE/v1/chat/completions") || fail "curl failed"
    [ "$CODE" = 200 ] || fail "expected 200 for $body, got $CODE: $(cat "$WORK/body")"
}
header() {
    tr -d '\r' <"$WORK/headers" | awk -v h="$1" -F': ' \
        'tolower($1) == h { sub(/^[^:]*: /, ""); print; exit }'
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 600 "$WORK/body")"
}
id() { jq -r .id "$WORK/body"; }
expect_miss() { # WHAT
    [ -z "$(header x-llmgw-cache)" ] || fail "$1: expected a miss, got x-llmgw-cache: $(header x-llmgw-cache)"
    [ "$(header x-llmgw-attempts)" = 1 ] || fail "$1: a miss makes one attempt"
}
expect_hit() { # ID WHAT
    [ "$(header x-llmgw-cache)" = hit ] || fail "$2: no x-llmgw-cache: hit ($(tr -d '\r' <"$WORK/headers"))"
    [ "$(id)" = "$1" ] || fail "$2: a hit should be the stored answer $1, got $(id)"
    [ "$(header x-llmgw-attempts)" = 0 ] || fail "$2: a hit makes no attempt"
    [ "$(header x-llmgw-cost-usd)" = 0.00000000 ] || fail "$2: a hit costs $(header x-llmgw-cost-usd)"
    [[ "$(header x-llmgw-route-reason)" == "cache hit: answer stored "*" ms ago by sim-a/gpt-4o-mini" ]] ||
        fail "$2: route reason '$(header x-llmgw-route-reason)'"
    expect_jq '.usage.prompt_tokens == 0 and .usage.completion_tokens == 0' "$2: usage of a hit"
}
analytics() { # JQ-PATH
    curl -sS -H "Authorization: Bearer $API_KEY" "$BASE/v1/analytics" | jq -r "$1"
}

Q='"messages": [{"role": "user", "content": "cache me"}]'
# --- a unary hit ------------------------------------------------------------------
chat "{\"model\": \"cached\", $Q, \"temperature\": 0, \"response_format\": {\"type\": \"json_object\", \"x\": [1, 2]}}"
expect_miss "first request"
FIRST=$(id)
CONTENT=$(jq -r '.choices[0].message.content' "$WORK/body")
expect_jq '.usage.total_tokens > 0' "first request: usage"
TOKENS_BEFORE=$(analytics '.total.prompt_tokens + .total.completion_tokens')
REQUESTS_BEFORE=$(analytics '.total.requests')
COST_BEFORE=$(analytics '.total.cost_usd')
# The same request, its JSON members in another order and spaced otherwise.
chat "{\"temperature\": 0, \"response_format\": {\"x\": [1,2], \"type\": \"json_object\"}, $Q, \"model\": \"cached\"}"
expect_hit "$FIRST" "second request"
expect_jq ".choices[0].message.content == \"$CONTENT\"" "hit: the stored content"
chat "{\"model\": \"cached\", $Q, \"temperature\": 0, \"response_format\": {\"type\": \"json_object\", \"x\": [1, 2]}}"
expect_hit "$FIRST" "third request"
[ "$(analytics '.total.requests')" = $((REQUESTS_BEFORE + 2)) ] || fail "analytics: hits are requests"
[ "$(analytics '.total.prompt_tokens + .total.completion_tokens')" = "$TOKENS_BEFORE" ] ||
    fail "analytics: hits used tokens"
[ "$(analytics '.total.cost_usd')" = "$COST_BEFORE" ] || fail "analytics: hits cost money"

# --- misses ---------------------------------------------------------------------
chat "{\"model\": \"cached\", $Q, \"temperature\": 0, \"response_format\": {\"type\": \"json_object\", \"x\": [2, 1]}}"
expect_miss "array order counts"
chat "{\"model\": \"cached\", $Q, \"temperature\": 0, \"response_format\": {\"type\": \"json_object\", \"x\": [1, 2]}}" \
    -H 'Cache-Control: no-cache'
expect_miss "cache-control: no-cache"
KEY=$OTHER_KEY chat "{\"model\": \"cached\", $Q, \"temperature\": 0, \"response_format\": {\"type\": \"json_object\", \"x\": [1, 2]}}"
expect_miss "another API key"
for i in 1 2; do
    chat "{\"model\": \"cached\", $Q, \"temperature\": 0.5}"
    expect_miss "temperature above the route's max ($i)"
    chat "{\"model\": \"cached\", $Q}"
    expect_miss "temperature unset counts as 1 ($i)"
    chat "{\"model\": \"plain\", $Q, \"temperature\": 0}"
    expect_miss "a route without cache ($i)"
    chat "{\"model\": \"sim-a/gpt-4o-mini\", $Q, \"temperature\": 0}"
    expect_miss "provider/model ($i)"
done

# --- a route that allows temperature, and a short TTL -----------------------------
chat "{\"model\": \"warm\", $Q, \"temperature\": 0.9}"
expect_miss "warm: first"
WARM=$(id)
chat "{\"model\": \"warm\", $Q, \"temperature\": 0.9}"
expect_hit "$WARM" "warm: temperature within max_temperature"
chat "{\"model\": \"warm\", $Q}"
expect_miss "warm: unset temperature is another request"
WARM=$(id)
chat "{\"model\": \"warm\", $Q}"
expect_hit "$WARM" "warm: unset temperature (1) within max_temperature 1"
chat "{\"model\": \"brief\", $Q, \"temperature\": 0}"
BRIEF=$(id)
chat "{\"model\": \"brief\", $Q, \"temperature\": 0}"
expect_hit "$BRIEF" "brief: within the TTL"
sleep 0.5
chat "{\"model\": \"brief\", $Q, \"temperature\": 0}"
expect_miss "brief: past the TTL"

# --- hits do not spend a key's tokens-per-minute ------------------------------------
# 100 words: the gateway's estimate (about 4 characters a token: 54) fits the
# key's 60 tokens a minute, and the provider's count (the sim: a token a word,
# about 200 with the answer) settles the bucket deep into debt, so the miss
# below is refused however slowly this machine gets there (1 token/s refill).
LONG=$(printf 'w %.0s' $(seq 1 100))
TQ="{\"model\": \"cached\", \"messages\": [{\"role\": \"user\", \"content\": \"$LONG\"}], \"temperature\": 0}"
KEY=$TPM_KEY chat "$TQ"
expect_miss "tpm key: first"
for i in 1 2 3 4 5 6; do
    KEY=$TPM_KEY chat "$TQ"
    [ "$(header x-llmgw-cache)" = hit ] || fail "tpm key: hit $i not served"
done
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $TPM_KEY" \
    -H 'Content-Type: application/json' --data-binary "${TQ/cached/plain}" "$BASE/v1/chat/completions")
[ "$CODE" = 429 ] || fail "tpm key: a miss past the limit should be 429, got $CODE"

# --- a streamed hit replays as a stream ------------------------------------------
stream() { # BODY OUT
    curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        -D "$WORK/headers" --data-binary "$1" "$BASE/v1/chat/completions" >"$2" || fail "stream: curl failed"
}
SQ="{\"model\": \"cached\", $Q, \"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}}"
stream "$SQ" "$WORK/s1"
[ -z "$(header x-llmgw-cache)" ] || fail "stream: first was a hit"
stream "$SQ" "$WORK/s2"
[ "$(header x-llmgw-cache)" = hit ] || fail "stream: second is not marked a hit"
[ "$(header content-type)" = text/event-stream ] || fail "stream: a hit is not a stream"
tail -n 2 "$WORK/s2" | grep -q '^data: \[DONE\]' || fail "stream: the hit does not end with [DONE]"
# The same chunks (ids included), the usage chunk at zero.
grep '^data: {' "$WORK/s1" | grep -v '"choices":\[\]' >"$WORK/c1"
grep '^data: {' "$WORK/s2" | grep -v '"choices":\[\]' >"$WORK/c2"
[ -s "$WORK/c1" ] || fail "stream: no chunks"
cmp -s "$WORK/c1" "$WORK/c2" || fail "stream: the hit's chunks differ: $(diff "$WORK/c1" "$WORK/c2" | head)"
grep '"choices":\[\]' "$WORK/s2" | grep -q '"prompt_tokens":0,"completion_tokens":0' ||
    fail "stream: the hit's usage chunk is not zero: $(grep '"choices":\[\]' "$WORK/s2")"
# A unary request is not answered from a stream's entry (nor the reverse).
chat "{\"model\": \"cached\", $Q, \"temperature\": 0}"
expect_miss "unary after a stream"

# --- /metrics: the cache's figures -------------------------------------------------
curl -sS "$BASE/metrics" >"$WORK/metrics" || fail "/metrics: curl failed"
hits=$(awk '$1 == "llmgw_cache_lookups_total{result=\"hit\"}" { print $2 }' "$WORK/metrics")
stores=$(awk '$1 == "llmgw_cache_stores_total" { print $2 }' "$WORK/metrics")
entries=$(awk '$1 == "llmgw_cache_entries" { print $2 }' "$WORK/metrics")
[ "${hits:-0}" -ge 10 ] || fail "/metrics: llmgw_cache_lookups_total hit is '$hits'"
[ "${stores:-0}" -ge 5 ] && [ "${entries:-0}" -ge 4 ] ||
    fail "/metrics: stores '$stores', entries '$entries'"
grep -q '^llmgw_cache_removals_total{reason="ttl"} [1-9]' "$WORK/metrics" ||
    fail "/metrics: the expired entry is not counted"
grep -q "^llmgw_cache_bytes{kind=\"max\"} $((64 << 20))\$" "$WORK/metrics" ||
    fail "/metrics: llmgw_cache_bytes max is not the default 64 MiB"

# --- gRPC: the route decision marks a hit; cache-control metadata bypasses ---------
command -v node >/dev/null || fail "node: not installed (tests/support/node_deps.sh installs it)"
NODE_PATH="$SRC_DIR/tests/interop/node_modules" node "$SRC_DIR/tests/integration/cache_rpc.js" \
    "127.0.0.1:$(head -n 1 "$WORK/grpc.port")" "$API_KEY" "$SRC_DIR/proto" cached >"$WORK/rpc.out" 2>&1 ||
    fail "gRPC checks: $(cat "$WORK/rpc.out")"

stop "$DP_PID"
DP_PID=
[ "$STOP_RC" = 0 ] || fail "llmgw-dataplane exited with $STOP_RC"
STATUS=0
echo "test_cache: ok"
