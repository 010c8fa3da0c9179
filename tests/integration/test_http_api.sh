#!/usr/bin/env bash
# The OpenAI-compatible HTTP API of llmgw-dataplane, end to end with curl:
# llmgw-sim behind the gateway, every endpoint, every error body and status,
# streaming in OpenAI's chunk format, the body cap (413), a client that sends
# half a body and stalls (closed by the idle timeout), a client that hangs up
# mid-stream (the upstream call is cancelled: /metrics shows nothing in
# flight and a cancelled request), /metrics checked by a strict exposition
# parser, parallel requests over three event loops, and a clean exit on
# SIGTERM with a request in flight (answered first).
#
# Needs curl and jq. Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR (default from here).
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
API_KEY=sk-http-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_http_api
IDLE_TIMEOUT_S=2
MAX_BODY=65536

fail() {
    echo "test_http_api: FAIL: $*" >&2
    exit 1
}
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-http.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
# The sim's exit status is not checked; KEEP_WORK=1 keeps $WORK for debugging.
CHECK_SIM_STOP=0
HONOR_KEEP_WORK=1
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim sim-a
DOWN_PORT=$(dead_port)
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
SIM=http://127.0.0.1:$SIM_PORT/v1
LONG_ANSWER=$(for i in $(seq 1 60); do printf 'word%d ' "$i"; done)

cat >"$WORK/table.json" <<EOF
{"version": 3,
 "providers": [
   {"name": "sim-down", "base_url": "http://127.0.0.1:$DOWN_PORT/v1", "timeout_ms": 3000,
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "sim-a", "base_url": "$SIM", "api_key": "sk-sim", "timeout_ms": 30000,
    "models": [{"name": "gpt-4o-mini", "input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.60},
               {"name": "text-embedding-3-small", "input_cost_per_mtok": 0.02}]},
   {"name": "sim-429", "base_url": "$SIM", "headers": {"x-sim-status": "429"},
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "sim-500", "base_url": "$SIM", "headers": {"x-sim-status": "500"},
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "sim-slow", "base_url": "$SIM", "headers": {"x-sim-latency-ms": "3000"},
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "sim-drip", "base_url": "$SIM",
    "headers": {"x-sim-tokens-per-s": "5", "x-sim-answer": "$LONG_ANSWER"},
    "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "chat-default", "strategy": "priority",
   "deployments": [{"provider": "sim-down", "model": "gpt-4o-mini", "priority": 0},
                   {"provider": "sim-a", "model": "gpt-4o-mini", "priority": 1}]}],
 "keys": [{"name": "http", "sha256": "$KEY_SHA", "team": "test"}]}
EOF

# Three HTTP event loops on a shared socket: requests land on whichever
# loop accepts them, so every check below runs across loops.
"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 2 \
    --http-threads 3 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 --http-port-file "$WORK/http.port" \
    --http-max-body-bytes "$MAX_BODY" --http-idle-timeout-s "$IDLE_TIMEOUT_S" \
    >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane >/dev/null
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
BASE=http://127.0.0.1:$HTTP_PORT

# req METHOD PATH [BODY] [extra curl args...]: body in $WORK/body, headers in
# $WORK/headers, the status in $CODE.
CODE=
req() {
    local method=$1 path=$2 body=${3-}
    shift 3 || shift $#
    local args=(-sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $API_KEY" --max-time 20)
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    CODE=$(curl "${args[@]}" "$@" "$BASE$path") || fail "$method $path: curl failed"
}
header() {
    tr -d '\r' <"$WORK/headers" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
        'tolower($1) == h { sub(/^[^:]*: /, ""); print; exit }'
}
expect_code() {
    [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(head -c 400 "$WORK/body")"
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 600 "$WORK/body")"
}
# An OpenAI error body with this type (and code when given).
expect_error() {
    local code=$1 type=$2 ecode=$3 what=$4
    expect_code "$code" "$what"
    expect_jq '(.error | keys) == ["code","message","param","type"]' "$what: error body shape"
    expect_jq ".error.type == \"$type\" and (.error.message | length > 0)" "$what: error type"
    if [ -n "$ecode" ]; then
        expect_jq ".error.code == \"$ecode\"" "$what: error code"
    fi
}

CHAT='{"model":"chat-default","messages":[{"role":"user","content":"hello there"}]}'

# --- health ---------------------------------------------------------------------
req GET /healthz ""
expect_code 200 healthz
expect_jq '.status == "ok"' healthz
req GET /readyz ""
expect_code 200 readyz
expect_jq '.status == "ready" and .table_version == 3' readyz

# --- chat: unary, through a fallback ----------------------------------------------
req POST /v1/chat/completions "$CHAT"
expect_code 200 "chat"
expect_jq '.object == "chat.completion" and .choices[0].message.role == "assistant"' "chat shape"
expect_jq '.choices[0].message.content == "[sim-a] hello there"' "chat content"
expect_jq '.choices[0].finish_reason == "stop" and .usage.total_tokens > 0' "chat usage"
expect_jq '.system_fingerprint == "sim"' "chat: the provider's system_fingerprint passes through"
[ "$(header x-llmgw-provider)" = sim-a ] || fail "chat: x-llmgw-provider is '$(header x-llmgw-provider)'"
[ "$(header x-llmgw-attempts)" = 2 ] || fail "chat: x-llmgw-attempts is '$(header x-llmgw-attempts)'"
[ -n "$(header x-llmgw-route-reason)" ] || fail "chat: no x-llmgw-route-reason"
[[ "$(header x-llmgw-cost-usd)" =~ ^0\.[0-9]{8}$ ]] || fail "chat: x-llmgw-cost-usd is '$(header x-llmgw-cost-usd)'"

# Unknown fields pass through to the provider (the sim rejects none; the
# answer still arrives), tools and sampling options are accepted.
req POST /v1/chat/completions '{"model":"sim-a/gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}],"temperature":0.2,"max_tokens":50,"stop":["zz"],"seed":7,"user":"u1","logit_bias":{},"metadata":{"k":"v"}}'
expect_code 200 "chat with extra fields"
expect_jq '.choices[0].message.content == "[sim-a] parts"' "content parts"

# --- chat: streaming --------------------------------------------------------------
stream() {
    curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        -D "$WORK/headers" --data-binary "$1" "$BASE/v1/chat/completions" >"$WORK/stream" ||
        fail "stream: curl failed"
}
stream '{"model":"chat-default","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three"}]}'
grep -q '^content-type: text/event-stream' <(tr -d '\r' <"$WORK/headers" | tr 'A-Z' 'a-z') ||
    fail "stream: content-type is not text/event-stream"
[ "$(grep '^data: ' "$WORK/stream" | tail -n 1)" = "data: [DONE]" ] || fail "stream: does not end with data: [DONE]"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' >"$WORK/chunks"
jq -e -s 'all(.[]; .object == "chat.completion.chunk" and has("usage"))' "$WORK/chunks" >/dev/null ||
    fail "stream: a chunk is not a chat.completion.chunk with a usage member"
[ "$(jq -r -s '[.[] | .choices[0].delta.content // empty] | join("")' "$WORK/chunks")" = "[sim-a] one two three" ] ||
    fail "stream: content is '$(jq -r -s '[.[] | .choices[0].delta.content // empty] | join("")' "$WORK/chunks")'"
jq -e -s '.[0].choices[0].delta.role == "assistant" and ([.[1:][] | .choices[0].delta | select(has("role"))] | length) == 0' \
    "$WORK/chunks" >/dev/null || fail "stream: the role is not on the first delta only"
jq -e -s '.[-1].choices == [] and .[-1].usage.completion_tokens > 0 and ([.[] | select(.usage != null)] | length) == 1' \
    "$WORK/chunks" >/dev/null || fail "stream: the last chunk is not the one usage chunk"
jq -e -s '[.[] | .choices[0].finish_reason // empty] == ["stop"]' "$WORK/chunks" >/dev/null ||
    fail "stream: finish_reason is not stop exactly once"
jq -e -s '[.[] | select(.choices != []) | .system_fingerprint] | all(. == "sim")' "$WORK/chunks" >/dev/null ||
    fail "stream: a chunk lost the provider's system_fingerprint"
[ "$(header x-llmgw-provider)" = sim-a ] || fail "stream: x-llmgw-provider"

stream '{"model":"chat-default","stream":true,"messages":[{"role":"user","content":"no usage"}]}'
grep '^data: {' "$WORK/stream" | sed 's/^data: //' >"$WORK/chunks"
jq -e -s 'all(.[]; has("usage") | not) and all(.[]; (.choices | length) == 1)' "$WORK/chunks" >/dev/null ||
    fail "stream without include_usage: a chunk has usage or no choice"

# --- completions and embeddings -------------------------------------------------------
req POST /v1/embeddings '{"model":"sim-a/text-embedding-3-small","input":["a","b"]}'
expect_code 200 embeddings
expect_jq '.object == "list" and (.data | length) == 2 and (.data[0].embedding | length) > 0' embeddings
[ "$(header x-llmgw-provider)" = sim-a ] || fail "embeddings: x-llmgw-provider"
req POST /v1/embeddings '{"input":"a"}'
expect_error 400 invalid_request_error "" "embeddings without model"
expect_jq '.error.param == "model"' "embeddings without model: param"
# Completions go to the provider's /completions through the route (the
# fallback past sim-down included), JSON and streamed.
req POST /v1/completions '{"model":"chat-default","prompt":"say this","max_tokens":5}'
expect_code 200 "completions"
expect_jq '.object == "text_completion" and .choices[0].text == "[sim-a] say this" and .usage.completion_tokens == 3' "completions body"
[ "$(header x-llmgw-provider)" = sim-a ] || fail "completions: x-llmgw-provider"
[ "$(header x-llmgw-attempts)" = 2 ] || fail "completions: x-llmgw-attempts is '$(header x-llmgw-attempts)'"
curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" -D "$WORK/headers" \
    --data-binary '{"model":"chat-default","prompt":"stream me","stream":true,"stream_options":{"include_usage":true}}' \
    "$BASE/v1/completions" >"$WORK/stream" || fail "completions stream: curl failed"
grep -q '^content-type: text/event-stream' <(tr -d '\r' <"$WORK/headers" | tr 'A-Z' 'a-z') ||
    fail "completions stream: content-type is not text/event-stream"
[ "$(grep '^data: ' "$WORK/stream" | tail -n 1)" = "data: [DONE]" ] || fail "completions stream: does not end with data: [DONE]"
[ "$(grep -c '^data: \[DONE\]' "$WORK/stream")" = 1 ] || fail "completions stream: [DONE] is not sent exactly once"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' >"$WORK/chunks"
[ "$(jq -j -s '[.[] | .choices[0].text // empty] | join("")' "$WORK/chunks")" = "[sim-a] stream me" ] ||
    fail "completions stream: text is '$(jq -j -s '[.[] | .choices[0].text // empty] | join("")' "$WORK/chunks")'"
jq -e -s 'all(.[]; .object == "text_completion") and .[-1].usage.completion_tokens == 3' "$WORK/chunks" >/dev/null ||
    fail "completions stream: not text_completion events ending with the usage"
[ "$(header x-llmgw-provider)" = sim-a ] || fail "completions stream: x-llmgw-provider"
req POST /v1/completions '{"model":"sim-500/gpt-4o-mini","prompt":"x","stream":true}'
expect_error 502 upstream_error "" "completions stream failing before its first event"
req POST /v1/completions '{"model":"nope","prompt":"x"}'
expect_error 404 invalid_request_error model_not_found "completions unknown model"
req POST /v1/completions '{"model":"chat-default","prompt":"x","stream":"yes"}'
expect_error 400 invalid_request_error "" "completions stream of the wrong type"
req POST /v1/embeddings '{"model":"sim-a/text-embedding-3-small","input":"a","stream":true}'
expect_error 400 invalid_request_error "" "embeddings stream"

# --- models ------------------------------------------------------------------------
req GET /v1/models ""
expect_code 200 models
expect_jq '.object == "list" and ([.data[].id] | index("chat-default") != null) and ([.data[].id] | index("sim-a/gpt-4o-mini") != null)' models
expect_jq 'all(.data[]; .object == "model" and (.owned_by | type) == "string")' "models shape"
req GET /v1/models/sim-a/gpt-4o-mini ""
expect_code 200 "model by id"
expect_jq '.id == "sim-a/gpt-4o-mini" and .object == "model"' "model by id"
req GET /v1/models/chat-default ""
expect_code 200 "route by id"
req GET /v1/models/nope ""
expect_error 404 invalid_request_error model_not_found "unknown model id"

# --- gateway endpoints ---------------------------------------------------------------
req GET /v1/providers ""
expect_code 200 providers
expect_jq '([.data[].name] | length) == 6 and (.data[] | select(.name == "sim-a") | .models | index("gpt-4o-mini") != null)' providers
expect_jq 'all(.data[]; has("status") and has("health")) and ((. | tostring) | contains("sk-sim") | not)' "providers: status, no secrets"
req GET /v1/routing ""
expect_code 200 routing
expect_jq '.routes[0].name == "chat-default" and .routes[0].strategy == "priority" and (.routes[0].deployments[0].breaker.state | type) == "string"' routing
req GET /v1/performance ""
expect_code 200 performance
expect_jq '.object == "list" and (.data[] | select(.provider == "sim-a" and .model == "gpt-4o-mini") | .window_attempts > 0 and .success_rate > 0 and .latency_ms.p50 > 0 and .breaker == "closed")' performance
req GET "/v1/analytics?window=600" ""
expect_code 200 analytics
expect_jq '.window_s == 600 and .total.requests >= 4 and .by_route["chat-default"].requests >= 3 and .by_provider["sim-a"].prompt_tokens > 0 and .total.cost_usd > 0' analytics
req GET "/v1/analytics?window=abc" ""
expect_error 400 invalid_request_error "" "analytics bad window"
req GET /v1/capabilities ""
expect_code 200 capabilities
expect_jq '(.data[] | select(.id == "sim-a/gpt-4o-mini") | .supports.chat and .supports.streaming)' capabilities
expect_jq '(.data[] | select(.id == "sim-a/gpt-4o-mini") | .wire_format == "openai" and .supports.tools and .supports.json_mode and (.supports.vision | not) and .supports.stream_usage and .supports.completions)' "capabilities per model"
req GET /v1/extensions ""
expect_code 200 extensions
expect_jq '(.gateway | length) > 0 and (.providers | length) == 6' extensions
for path in /v1/models /v1/providers /v1/routing /v1/performance /v1/analytics /v1/capabilities /v1/extensions; do
    CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$BASE$path")
    expect_error 401 invalid_request_error invalid_api_key "$path without a key"
done

# --- errors --------------------------------------------------------------------------
req POST /v1/chat/completions '{"model":'
expect_error 400 invalid_request_error "" "invalid JSON"
req POST /v1/chat/completions '[1,2]'
expect_error 400 invalid_request_error "" "JSON array body"
req POST /v1/chat/completions '{"model":"chat-default"}'
expect_error 400 invalid_request_error "" "missing messages"
expect_jq '.error.param == "messages"' "missing messages: param"
req POST /v1/chat/completions '{"model":"chat-default","messages":[{"role":"user","content":"x"}],"temperature":"hot"}'
expect_error 400 invalid_request_error "" "temperature of the wrong type"
expect_jq '.error.param == "temperature"' "temperature: param"
req POST /v1/chat/completions '{"model":"chat-default","messages":[{"role":"wizard","content":"x"}]}'
expect_error 400 invalid_request_error "" "bad role"
req POST /v1/chat/completions '{"model":"nope","messages":[{"role":"user","content":"x"}]}'
expect_error 404 invalid_request_error model_not_found "unknown model"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H 'Authorization: Bearer sk-wrong' \
    --data-binary "$CHAT" "$BASE/v1/chat/completions")
expect_error 401 invalid_request_error invalid_api_key "wrong key"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' --data-binary "$CHAT" "$BASE/v1/chat/completions")
expect_error 401 invalid_request_error invalid_api_key "no key"
req POST /v1/chat/completions '{"model":"sim-429/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'
expect_error 429 rate_limit_error rate_limit_exceeded "provider 429"
[[ "$(header retry-after)" =~ ^[0-9]+$ ]] || fail "429 without Retry-After"
# Right after, the deployment still waits out the provider's Retry-After
# (1 s): no attempt is made and the answer is a 429 with Retry-After.
req POST /v1/chat/completions '{"model":"sim-429/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'
expect_error 429 rate_limit_error rate_limit_exceeded "every deployment waits out Retry-After"
expect_jq '.error.message | contains("retry-after")' "waiting 429: message names the Retry-After"
[ "$(header retry-after)" = 1 ] || fail "waiting 429: Retry-After is '$(header retry-after)'"
req POST /v1/chat/completions '{"model":"sim-500/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'
expect_error 502 upstream_error "" "provider 500"
req POST /v1/chat/completions '{"model":"sim-down/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}'
expect_error 503 service_unavailable "" "provider unreachable"
req POST /v1/chat/completions '{"model":"sim-slow/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}' \
    -H 'x-llmgw-timeout-ms: 300'
expect_error 504 timeout_error "" "deadline"
stream '{"model":"sim-429/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}'
jq -e '.error.type == "rate_limit_error"' "$WORK/stream" >/dev/null ||
    fail "stream failing before its first chunk: not a JSON error body: $(head -c 300 "$WORK/stream")"
req GET /v1/chat/completions ""
expect_error 405 invalid_request_error method_not_allowed "GET on chat"
req GET /v1/nothing ""
expect_error 404 invalid_request_error unknown_url "unknown path"

# Bodies over the cap: declared (Content-Length) and chunked.
head -c $((MAX_BODY + 1000)) /dev/zero | tr '\0' 'a' >"$WORK/big"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
    --data-binary @"$WORK/big" "$BASE/v1/chat/completions")
expect_error 413 invalid_request_error request_too_large "huge body"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
    -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big" "$BASE/v1/chat/completions")
expect_error 413 invalid_request_error request_too_large "huge chunked body"

# Half a body, then silence: the idle timeout closes the connection.
t0=$(date +%s%N)
exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 200\r\n\r\n{"model":' "$API_KEY" >&3
timeout $((IDLE_TIMEOUT_S + 5)) cat <&3 >/dev/null || fail "a stalled half body was not closed within $((IDLE_TIMEOUT_S + 5))s"
exec 3<&-
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -ge $((IDLE_TIMEOUT_S * 1000 - 500)) ] || fail "stalled connection closed too early (${elapsed_ms} ms)"

# --- a client that hangs up mid-stream cancels the upstream -------------------------------
metric() {
    curl -sS "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
curl -sS -N --max-time 1 -H "Authorization: Bearer $API_KEY" \
    --data-binary '{"model":"sim-drip/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}' \
    "$BASE/v1/chat/completions" >"$WORK/drip" 2>/dev/null || true
grep -q 'word1' "$WORK/drip" || fail "mid-stream disconnect: no chunk arrived before the hang-up"
# 60 words at 5/s would take 12 s; the cancellation must end it within ~1 s.
ok=0
for ((i = 0; i < 40; i++)); do
    if [ "$(metric llmgw_in_flight_requests)" = 0 ] && [ "$(metric llmgw_upstream_requests_in_flight)" = 0 ]; then
        ok=1
        break
    fi
    sleep 0.1
done
[ "$ok" = 1 ] || fail "mid-stream disconnect: the upstream call is still in flight after 4 s"
curl -sS "$BASE/metrics" >"$WORK/metrics"
grep -q '^llmgw_requests_total{route="",provider="sim-drip",model="gpt-4o-mini",status="cancelled"} 1$' "$WORK/metrics" ||
    fail "mid-stream disconnect: no cancelled request counted: $(grep 'requests_total.*sim-drip' "$WORK/metrics")"

# A client that hangs up while its (unary) request still waits for the
# provider (3 s latency): the hang-up watcher cancels the upstream call.
curl -sS --max-time 0.5 -H "Authorization: Bearer $API_KEY" \
    --data-binary '{"model":"sim-slow/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}' \
    "$BASE/v1/chat/completions" >/dev/null 2>&1 || true
ok=0
for ((i = 0; i < 15; i++)); do
    if [ "$(metric llmgw_in_flight_requests)" = 0 ] && [ "$(metric llmgw_upstream_requests_in_flight)" = 0 ]; then
        ok=1
        break
    fi
    sleep 0.1
done
[ "$ok" = 1 ] || fail "hang-up while waiting: the upstream call is still in flight 1.5 s later"
curl -sS "$BASE/metrics" >"$WORK/metrics"
grep -q '^llmgw_requests_total{route="",provider="sim-slow",model="gpt-4o-mini",status="cancelled"} 1$' "$WORK/metrics" ||
    fail "hang-up while waiting: no cancelled request counted: $(grep 'requests_total.*sim-slow' "$WORK/metrics")"

# --- /metrics: a strict exposition parser -------------------------------------------------
curl -sS -D "$WORK/headers" "$BASE/metrics" >"$WORK/metrics"
header content-type | grep -q '^text/plain; version=0.0.4' || fail "metrics: content-type is '$(header content-type)'"
awk '
function bad(msg) { printf "metrics line %d: %s: %s\n", NR, msg, $0 > "/dev/stderr"; err = 1; exit 1 }
BEGIN { name = "[a-zA-Z_:][a-zA-Z0-9_:]*"; lname = "[a-zA-Z_][a-zA-Z0-9_]*"
        value = "([-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]Inf|NaN)"
        lval = "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\"" }
/^# HELP / { if ($3 !~ "^" name "$") bad("bad HELP name"); if ($3 in help) bad("second HELP"); help[$3] = 1; next }
/^# TYPE / {
    if (NF != 4 || $3 !~ "^" name "$" || $4 !~ /^(counter|gauge|histogram|summary|untyped)$/) bad("bad TYPE")
    if ($3 in type) bad("second TYPE"); if ($3 in seen_family) bad("TYPE after samples")
    type[$3] = $4; next }
/^#/ { next }
/^$/ { bad("empty line") }
{
    if ($0 !~ "^" name "(\\{(" lname "=" lval "(," lname "=" lval ")*)?\\})? " value "$") bad("not a sample")
    m = $0; sub(/[{ ].*/, "", m); fam = m
    if (!(fam in type)) { f2 = fam; sub(/_(bucket|sum|count)$/, "", f2); if (type[f2] == "histogram") fam = f2 }
    if (!(fam in type)) bad("sample of an undeclared family")
    if (type[fam] == "counter" && fam !~ /_total$/) bad("counter not ending in _total")
    if (fam != prev && (fam in seen_family)) bad("family interleaved")
    prev = fam; seen_family[fam] = 1
    series = $0; sub(/ [^ ]*$/, "", series)
    if (series in seen_series) bad("duplicate series"); seen_series[series] = 1
    if (m ~ /_bucket$/ && type[fam] == "histogram") {
        if (series !~ /le="/) bad("bucket without le")
        if (series ~ /le="\+Inf"/) inf[fam]++
    }
    if (m ~ /_count$/ && type[fam] == "histogram") count[fam]++
    n++
}
END { if (err) exit 1
      for (f in count) if (count[f] != inf[f]) { print "histogram " f ": +Inf buckets and counts differ" > "/dev/stderr"; exit 1 }
      if (n < 10) { print "metrics: only " n " samples" > "/dev/stderr"; exit 1 } }
' "$WORK/metrics" || fail "/metrics is not valid exposition (above)"
for fam in llmgw_requests_total llmgw_request_duration_seconds llmgw_upstream_attempts_total \
    llmgw_fallbacks_total llmgw_tokens_total llmgw_cost_usd_total llmgw_in_flight_requests \
    llmgw_table_version llmgw_breaker_state; do
    grep -q "^# TYPE $fam " "$WORK/metrics" || fail "metrics: family $fam missing"
done
grep -q '^llmgw_table_version 3$' "$WORK/metrics" || fail "metrics: table version"
grep -q '^llmgw_breaker_state{provider="sim-a",model="gpt-4o-mini",state="closed"} 1$' "$WORK/metrics" ||
    fail "metrics: breaker state of sim-a/gpt-4o-mini"
grep -q '^llmgw_upstream_attempts_total{provider="sim-down",model="gpt-4o-mini",outcome="connect"} [1-9]' "$WORK/metrics" ||
    fail "metrics: failed attempts against sim-down not counted"
grep -q '^llmgw_fallbacks_total{route="chat-default",provider="sim-a",model="gpt-4o-mini",status="ok"} [1-9]' "$WORK/metrics" ||
    fail "metrics: fallbacks not counted"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$WORK/metrics" || fail "promtool rejects /metrics"
fi

# --- parallel requests over many connections (spread over the event loops) ---------
N_PAR=24
par_pids=()
for i in $(seq 1 $N_PAR); do
    curl -sS -o "$WORK/par.$i" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
        -H 'Content-Type: application/json' --max-time 20 \
        --data-binary "{\"model\":\"sim-a/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"par $i\"}]}" \
        "$BASE/v1/chat/completions" >"$WORK/par.$i.code" &
    par_pids+=($!)
done
for p in "${par_pids[@]}"; do wait "$p" || fail "parallel request: curl failed"; done
for i in $(seq 1 $N_PAR); do
    [ "$(cat "$WORK/par.$i.code")" = 200 ] || fail "parallel request $i: HTTP $(cat "$WORK/par.$i.code")"
    # the sim's answer is derived from the prompt: no answer went to the wrong client
    jq -e --arg p "par $i" '.choices[0].message.content | contains($p)' "$WORK/par.$i" >/dev/null ||
        fail "parallel request $i: answer is not its own: $(head -c 300 "$WORK/par.$i")"
done

# --- bad HTTP flags: exit 2 with the flag named -------------------------------------
for bad in "--http-threads 0" "--http-threads 65" "--http-threads two" "--http-max-body-bytes -1" \
    "--http-idle-timeout-s 0" "--http-listen 127.0.0.1:99999"; do
    # shellcheck disable=SC2086 # word splitting is the point: flag and value
    rc=0
    timeout 10 "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 $bad \
        >"$WORK/badflag.log" 2>&1 || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "$bad: expected a refusal, got exit $rc"
    grep -q -- "${bad%% *}" "$WORK/badflag.log" || grep -q "http listen" "$WORK/badflag.log" ||
        fail "$bad: the message does not name the flag: $(cat "$WORK/badflag.log")"
done

# --- a second data plane on the same HTTP address is refused, not let in -----------
# (the loops bind with SO_REUSEPORT; without a check it would share our connections)
if timeout 10 "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
    --http-listen "127.0.0.1:$HTTP_PORT" --http-threads 2 >"$WORK/second.log" 2>&1; then
    fail "a second data plane started on the HTTP port in use"
fi
grep -q "cannot serve on 127.0.0.1:$HTTP_PORT: Address already in use" "$WORK/second.log" ||
    fail "second data plane: unclear error: $(cat "$WORK/second.log")"

# --- SIGTERM with a request in flight: it is answered, then a clean exit ------------
curl -sS -o "$WORK/inflight" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" \
    -H 'Content-Type: application/json' --max-time 20 \
    --data-binary '{"model":"sim-slow/gpt-4o-mini","messages":[{"role":"user","content":"late"}]}' \
    "$BASE/v1/chat/completions" >"$WORK/inflight.code" &
INFLIGHT_PID=$!
sleep 0.5
kill -TERM "$DP_PID"
wait "$INFLIGHT_PID" || fail "in-flight request at SIGTERM: curl failed"
[ "$(cat "$WORK/inflight.code")" = 200 ] ||
    fail "in-flight request at SIGTERM: HTTP $(cat "$WORK/inflight.code"): $(head -c 300 "$WORK/inflight")"
for _ in $(seq 1 100); do kill -0 "$DP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DP_PID" 2>/dev/null && fail "llmgw-dataplane still running 10 s after SIGTERM"
wait "$DP_PID" && dp_exit=0 || dp_exit=$?
[ "$dp_exit" = 0 ] || fail "llmgw-dataplane exited with status $dp_exit after SIGTERM"
DP_PID=

# --- a fixed port with several loops ------------------------------------------------
FIXED_PORT=$(dead_port)
"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --port-file "$WORK/grpc2.port" \
    --http-listen "127.0.0.1:$FIXED_PORT" --http-threads 2 >"$WORK/dataplane2.log" 2>&1 &
DP_PID=$!
wait_port "$DP_PID" "$WORK/grpc2.port" llmgw-dataplane >/dev/null
BASE=http://127.0.0.1:$FIXED_PORT
for _ in $(seq 1 50); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
for i in 1 2 3 4; do
    req POST /v1/chat/completions "$CHAT"
    expect_code 200 "fixed port, request $i"
done

STATUS=0
echo "test_http_api: all checks passed"
