#!/usr/bin/env bash
# Schema validation and compatibility (docs/compatibility.md), end to end:
# llmgw-sim behind llmgw-dataplane, the sim echoing what it received
# (x-sim-echo) so each check sees the upstream request itself. Over HTTP: a
# 400 naming the JSON path (error.param) at each depth; unknown fields
# passed through; the legacy functions form bridged to tools and the answer
# back as function_call; max_tokens / max_completion_tokens per preset;
# /v1/completions bridged to an Anthropic-format provider (unary and
# streamed) while a provider with the endpoint keeps the raw pass-through;
# the api-version query forwarded to an Azure-style provider (and the Azure
# deployment path); the llmgw-warning header when a field is dropped, on a
# stream too. Over gRPC (compat_rpc.js, grpc-js): INVALID_ARGUMENT with the
# path, the llmgw-warning trailer, ChatRequest.api_version. With the official
# openai SDK (compat_sdk.js): functions, completions.create bridged, the
# AzureOpenAI client (api-key header, deployment path, api-version), the
# warning header, error.param.
#
# Needs curl, jq and node (tests/interop/node_modules). Env: LLMGW_BIN_DIR,
# LLMGW_SRC_DIR (default from here).
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
API_KEY=sk-compat-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_compat

fail() {
    echo "test_compat: FAIL: $*" >&2
    exit 1
}
for tool in curl jq node; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-compat.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
HONOR_KEEP_WORK=1
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim sim
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
SIM=http://127.0.0.1:$SIM_PORT
ECHO='"headers": {"x-sim-echo": "request"}'
M='"models": [{"name": "gpt-4o-mini"}]'

cat >"$WORK/table.json" <<EOF
{"providers": [
   {"name": "sim-echo", "base_url": "$SIM/v1", $ECHO, $M},
   {"name": "oai", "preset": "openai", "base_url": "$SIM/v1", "api_key": "k", $ECHO, $M},
   {"name": "groq", "preset": "groq", "base_url": "$SIM/v1", "api_key": "k", $ECHO, $M},
   {"name": "az", "preset": "azure", "base_url": "$SIM", "api_key": "k",
    "api_version": "2024-06-01", "health": {"interval_ms": 200}, $ECHO, $M},
   {"name": "claude", "preset": "anthropic", "base_url": "$SIM/v1", "api_key": "k",
    "models": [{"name": "claude-x"}]},
   {"name": "claude-echo", "preset": "anthropic", "base_url": "$SIM/v1", "api_key": "k", $ECHO,
    "models": [{"name": "claude-x"}]},
   {"name": "tools", "base_url": "$SIM/v1", "headers": {"x-sim-tool-call": "get_weather"}, $M}],
 "routes": [{"name": "mixed", "strategy": "priority",
   "deployments": [{"provider": "claude", "model": "claude-x", "priority": 0},
                   {"provider": "sim-echo", "model": "gpt-4o-mini", "priority": 1}]}],
 "keys": [{"name": "compat", "sha256": "$KEY_SHA", "team": "test"}]}
EOF

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 1 \
    --http-threads 1 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$WORK/http.port" >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
GRPC_PORT=$(wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane)
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
BASE=http://127.0.0.1:$HTTP_PORT

CODE=
req() {
    local path=$1 body=$2
    CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' --max-time 20 \
        --data-binary "$body" "$BASE$path") || fail "POST $path: curl failed"
}
header() {
    tr -d '\r' <"$WORK/headers" | awk -v h="$1" -F': ' \
        'tolower($1) == h { sub(/^[^:]*: /, ""); print; exit }'
}
expect_code() {
    [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(head -c 400 "$WORK/body")"
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 700 "$WORK/body")"
}
# What the sim received (the echoed answer).
upstream() {
    jq -r '.choices[0].message.content // .choices[0].text' "$WORK/body"
}
expect_upstream() {
    upstream | grep -qF -- "$1" || fail "$2: upstream got '$(upstream | head -c 600)', no '$1'"
}
expect_not_upstream() {
    if upstream | grep -qF -- "$1"; then fail "$2: upstream got '$1': $(upstream | head -c 600)"; fi
}
CHECKS=0
pass() { CHECKS=$((CHECKS + 1)); }

# --- 400 naming the JSON path, at each depth ----------------------------------------
U='{"role":"user","content":"hi"}'
bad() {
    local path=$1 members=$2 messages=${3:-[$U]}
    req /v1/chat/completions "{\"model\":\"sim-echo/gpt-4o-mini\",\"messages\":$messages${members:+,$members}}"
    expect_code 400 "bad $path"
    expect_jq ".error.type == \"invalid_request_error\" and .error.param == \"$path\"" "bad $path: param"
    expect_jq ".error.message | startswith(\"$path: \")" "bad $path: message"
    pass
}
bad temperature '"temperature":"hot"'
bad top_p '"top_p":7'
bad n '"n":0'
bad logit_bias.50256 '"logit_bias":{"50256":300}'
bad 'messages[0].role' '' '[{"role":"robot","content":"x"}]'
IMG='{"type":"image_url","image_url":{"url":"ftp://example.test/cat.png"}}'
bad 'messages[2].content[0].image_url.url' '' "[$U,{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":[$IMG]}]"
bad 'messages[2].content[0].type' '' "[$U,{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]"
bad 'tools[0].function.parameters' '"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]'
bad 'tool_choice' '"tool_choice":"sometimes"'
bad 'response_format.type' '"response_format":{"type":"yaml"}'
bad 'stream_options' '"stream":true,"stream_options":[]'
bad 'functions[0].name' '"functions":[{"parameters":{}}]'
req "/v1/chat/completions?api-version=nope" "{\"model\":\"az/gpt-4o-mini\",\"messages\":[$U]}"
expect_code 400 "bad api-version"
expect_jq '.error.param == "api-version"' "bad api-version: param"
pass

# --- unknown fields pass through; a valid image part reaches the provider -------------
req /v1/chat/completions "{\"model\":\"sim-echo/gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.test/c.png\"}}]}],\"some_new_field\":{\"a\":[1]}}"
expect_code 200 "unknown field"
expect_upstream '"some_new_field":{"a":[1]}' "unknown field passed through"
expect_upstream '"image_url":{"url":"https://example.test/c.png"}' "image part passed through"
pass

# --- legacy functions: bridged to tools, the answer back as function_call -------------
FN='"functions":[{"name":"get_weather","parameters":{"type":"object","properties":{}}}],"function_call":{"name":"get_weather"}'
req /v1/chat/completions "{\"model\":\"sim-echo/gpt-4o-mini\",\"messages\":[$U],$FN}"
expect_code 200 "legacy functions"
expect_upstream '"tools":[{"type":"function","function":{"name":"get_weather"' "functions became tools"
expect_upstream '"tool_choice":{"type":"function","function":{"name":"get_weather"}}' "function_call became tool_choice"
expect_not_upstream '"functions"' "no functions upstream"
req /v1/chat/completions "{\"model\":\"tools/gpt-4o-mini\",\"messages\":[$U],$FN}"
expect_code 200 "legacy functions answer"
expect_jq '.choices[0].message.function_call.name == "get_weather" and .choices[0].message.function_call.arguments == "{}"' "function_call back"
expect_jq '(.choices[0].message | has("tool_calls") | not) and .choices[0].finish_reason == "function_call"' "no tool_calls for a legacy caller"
req /v1/chat/completions "{\"model\":\"tools/gpt-4o-mini\",\"messages\":[$U],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}]}"
expect_jq '.choices[0].message.tool_calls[0].function.name == "get_weather" and .choices[0].finish_reason == "tool_calls"' "tools caller keeps tool_calls"
# A legacy caller's stream of text is an ordinary stream.
curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" \
    --data-binary "{\"model\":\"claude/claude-x\",\"stream\":true,\"messages\":[$U],$FN}" \
    "$BASE/v1/chat/completions" >"$WORK/stream" || fail "legacy stream: curl failed"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' >"$WORK/chunks"
[ "$(jq -r -s '[.[] | .choices[0].delta.content // empty] | join("")' "$WORK/chunks")" = "[sim] hi" ] ||
    fail "legacy stream: text is '$(jq -r -s '[.[] | .choices[0].delta.content // empty] | join("")' "$WORK/chunks")'"
# The conversation continued in the legacy form: function_call turn + function result.
req /v1/chat/completions "{\"model\":\"sim-echo/gpt-4o-mini\",\"messages\":[$U,{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}},{\"role\":\"function\",\"name\":\"get_weather\",\"content\":\"sunny\"}],$FN}"
expect_code 200 "legacy conversation"
expect_upstream '"tool_calls":[{"id":"call_llmgw_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]' "function_call turn as tool_calls"
expect_upstream '{"role":"tool","content":"sunny","tool_call_id":"call_llmgw_1"}' "function result as a tool message"
pass

# --- max_tokens / max_completion_tokens per provider ------------------------------------
req /v1/chat/completions "{\"model\":\"oai/gpt-4o-mini\",\"messages\":[$U],\"max_tokens\":7}"
expect_upstream '"max_completion_tokens":7' "openai preset takes max_completion_tokens"
expect_not_upstream '"max_tokens"' "openai preset: no max_tokens"
req /v1/chat/completions "{\"model\":\"groq/gpt-4o-mini\",\"messages\":[$U],\"max_completion_tokens\":7}"
expect_upstream '"max_tokens":7' "groq takes max_tokens"
expect_not_upstream 'max_completion_tokens' "groq: no max_completion_tokens"
pass

# --- api-version: forwarded to the Azure-style provider, shape by version ----------------
req /v1/chat/completions "{\"model\":\"az/gpt-4o-mini\",\"messages\":[$U],\"max_tokens\":5}"
expect_upstream 'path=/openai/deployments/gpt-4o-mini/chat/completions api-version=2024-06-01 ' "azure: the table's api-version"
expect_upstream '"max_tokens":5' "azure 2024-06-01: max_tokens"
req "/v1/chat/completions?api-version=2024-10-21" "{\"model\":\"az/gpt-4o-mini\",\"messages\":[$U],\"max_tokens\":5}"
expect_upstream 'api-version=2024-10-21 ' "azure: the caller's api-version"
expect_upstream '"max_completion_tokens":5' "azure 2024-10-21: max_completion_tokens"
[ -z "$(header llmgw-warning)" ] || fail "azure: unexpected llmgw-warning '$(header llmgw-warning)'"
req "/openai/deployments/az%2Fgpt-4o-mini/chat/completions?api-version=2024-08-01-preview" "{\"messages\":[$U]}"
expect_code 200 "azure deployment path"
expect_upstream 'api-version=2024-08-01-preview ' "azure path: api-version"
req "/openai/deployments/sim-echo%2Fgpt-4o-mini/embeddings?api-version=2024-10-21" '{"input":"embed me"}'
expect_code 200 "azure embeddings path"
expect_jq '.object == "list" and (.data[0].embedding | length) > 0' "azure embeddings path: the provider's list"
req "/v1/chat/completions?api-version=2024-10-21" "{\"model\":\"sim-echo/gpt-4o-mini\",\"messages\":[$U]}"
expect_upstream 'api-version=- ' "not azure: no api-version upstream"
[ "$(header llmgw-warning)" = "api-version ignored for sim-echo" ] || fail "not azure: llmgw-warning is '$(header llmgw-warning)'"
pass

# The preset's health probe: Azure lists at /openai/models and answers 404 without the
# api-version query, so a probe of /models (or without the query) marks it down.
az_health() {
    curl -sS --max-time 5 -H "Authorization: Bearer $API_KEY" "$BASE/v1/providers" |
        jq -r '.data[] | select(.name == "az") | "\(.health.state) \(.health.reason)"'
}
for _ in $(seq 1 50); do
    case $(az_health) in healthy*) break ;; esac
    sleep 0.1
done
sleep 0.5 # two more probes
case $(az_health) in
healthy*) ;;
*) fail "azure: the preset's health probe: az is '$(az_health)'" ;;
esac
pass

# --- dropped with a warning header -------------------------------------------------------
req /v1/chat/completions "{\"model\":\"groq/gpt-4o-mini\",\"messages\":[$U],\"logprobs\":true,\"top_logprobs\":2}"
expect_code 200 "groq drops"
[ "$(header llmgw-warning)" = "dropped logprobs, top_logprobs for groq" ] || fail "groq: llmgw-warning is '$(header llmgw-warning)'"
expect_not_upstream 'logprobs' "groq: dropped upstream"
req /v1/chat/completions "{\"model\":\"claude-echo/claude-x\",\"messages\":[$U],\"seed\":3,\"logit_bias\":{\"1\":2}}"
expect_code 200 "anthropic drops"
[ "$(header llmgw-warning)" = "dropped seed, logit_bias for claude-echo" ] || fail "anthropic: llmgw-warning is '$(header llmgw-warning)'"
expect_upstream 'path=/v1/messages ' "anthropic: Messages API"
expect_not_upstream 'logit_bias' "anthropic: logit_bias dropped upstream"
req /v1/chat/completions "{\"model\":\"claude/claude-x\",\"messages\":[$U],\"n\":2}"
expect_code 400 "anthropic n=2"
expect_jq '.error.message | startswith("n: provider '"'"'claude'"'"'")' "anthropic n=2 refused"
curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" -D "$WORK/headers" \
    --data-binary "{\"model\":\"claude/claude-x\",\"stream\":true,\"messages\":[$U],\"logprobs\":true}" \
    "$BASE/v1/chat/completions" >"$WORK/stream" || fail "stream: curl failed"
[ "$(header llmgw-warning)" = "dropped logprobs for claude" ] || fail "stream: llmgw-warning is '$(header llmgw-warning)'"
grep -q '^data: \[DONE\]' "$WORK/stream" || fail "stream: no [DONE]"
pass

# --- /v1/completions: bridged where the provider has none, raw elsewhere ------------------
req /v1/completions '{"model":"claude/claude-x","prompt":"complete me","max_tokens":20}'
expect_code 200 "completions bridged"
expect_jq '.object == "text_completion" and .choices[0].text == "[sim] complete me" and .choices[0].finish_reason == "stop"' "bridged answer"
expect_jq '.usage.completion_tokens == 3' "bridged usage"
req /v1/completions '{"model":"claude-echo/claude-x","prompt":"complete me"}'
expect_upstream 'path=/v1/messages ' "bridged: Messages API upstream"
expect_upstream '"messages":[{"role":"user","content":[{"type":"text","text":"complete me"}]}]' "bridged: prompt as a user message"
expect_upstream '"max_tokens":16' "bridged: the legacy default of 16"
req /v1/completions '{"model":"mixed","prompt":"route me"}'
expect_jq '.object == "text_completion" and .choices[0].text == "[sim] route me"' "a route with one provider lacking it is bridged"
req /v1/completions '{"model":"sim-echo/gpt-4o-mini","prompt":"raw"}'
expect_upstream 'path=/v1/completions ' "a provider with the endpoint keeps the raw pass-through"
expect_jq '.id | startswith("cmpl-sim-")' "raw answer as the provider sent it"
req /v1/completions '{"model":"claude/claude-x","prompt":"x","suffix":"y"}'
expect_code 400 "bridge refuses suffix"
expect_jq '.error.param == "suffix"' "suffix param"
curl -sS -N --max-time 20 -H "Authorization: Bearer $API_KEY" \
    --data-binary '{"model":"claude/claude-x","prompt":"stream this now","stream":true,"stream_options":{"include_usage":true}}' \
    "$BASE/v1/completions" >"$WORK/stream" || fail "bridged stream: curl failed"
[ "$(grep '^data: ' "$WORK/stream" | tail -n 1)" = "data: [DONE]" ] || fail "bridged stream: no [DONE]"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' >"$WORK/chunks"
jq -e -s 'all(.[]; .object == "text_completion")' "$WORK/chunks" >/dev/null ||
    fail "bridged stream: a chunk is not a text_completion: $(head -c 400 "$WORK/chunks")"
[ "$(jq -r -s '[.[] | .choices[0].text // empty] | join("")' "$WORK/chunks")" = "[sim] stream this now" ] ||
    fail "bridged stream: text is '$(jq -r -s '[.[] | .choices[0].text // empty] | join("")' "$WORK/chunks")'"
jq -e -s '.[-1].choices == [] and .[-1].usage.completion_tokens == 4' "$WORK/chunks" >/dev/null ||
    fail "bridged stream: no final usage chunk"
pass

# --- gRPC ------------------------------------------------------------------------------------
NODE_PATH="$SRC_DIR/tests/interop/node_modules" node "$SRC_DIR/tests/integration/compat_rpc.js" \
    "127.0.0.1:$GRPC_PORT" "$API_KEY" "$SRC_DIR/proto" >"$WORK/rpc.out" 2>&1 || {
    cat "$WORK/rpc.out" >&2
    fail "compat_rpc.js reported failures"
}
grep -q '^not ok' "$WORK/rpc.out" && fail "compat_rpc.js: $(grep '^not ok' "$WORK/rpc.out")"
RPC_OK=$(grep -c '^ok' "$WORK/rpc.out")
[ "$RPC_OK" -ge 13 ] || fail "compat_rpc.js: only $RPC_OK checks ran"

# --- the official openai SDK (and its AzureOpenAI client) -----------------------------------
NODE_PATH="$SRC_DIR/tests/interop/node_modules" node "$SRC_DIR/tests/integration/compat_sdk.js" \
    "$BASE" "$API_KEY" >"$WORK/sdk.out" 2>&1 || {
    cat "$WORK/sdk.out" >&2
    fail "compat_sdk.js reported failures"
}
SDK_OK=$(grep -c '^ok' "$WORK/sdk.out")
[ "$SDK_OK" -ge 5 ] || fail "compat_sdk.js: only $SDK_OK checks ran"

STATUS=0
echo "test_compat: all checks passed ($CHECKS HTTP groups, $RPC_OK gRPC checks, $SDK_OK SDK checks)"
