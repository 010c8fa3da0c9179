#!/usr/bin/env bash
# Extensions end to end (docs/extensions.md): llmgw-sim and llmgw-dataplane
# with the two example plugins — cohere (the Cohere v2 chat wire format,
# against the sim's /v2/chat) loaded from the routing table, prompt_guard (a
# request hook) from --extension with a config file — and the test plugin.
#
#   - chat and streaming chat through the cohere adapter, usage and finish
#     reasons translated; an OpenAI field Cohere cannot express is refused
#     naming it; a provider error is mapped; fallback from cohere to openai
#   - prompt_guard passes, refuses a big prompt with 413, tags the tenant
#     (a rewrite), requires the tenant header; the same on native
#     /v1/completions ("prompt") and /v1/embeddings ("input"): neither
#     endpoint bypasses the request hooks
#   - the test plugin's rewrite (the answer shows it; an embeddings rewrite
#     goes through), refusal (its 403, on chat, native completions (also
#     streamed) and embeddings, each naming the kind the hook was told; with
#     "kinds": "chat" the hook skips embeddings), async verdict (a worker thread completes: 429), response and usage
#     hooks (counted in its health line)
#   - GET /v1/extensions and RoutingService/Extensions (extensions_rpc.js)
#   - startup refusals: wrong ABI, missing entry point, init failing, init
#     crashing (the probe), a config file that is not JSON, a table naming a
#     wire format nobody registered; an optional broken extension is skipped
#
# Needs curl, jq and node. Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR.
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}
BIN_DIR=$BUILD_DIR/bin
EXT_DIR=$BUILD_DIR/ext
API_KEY=sk-ext-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_extensions

fail() {
    echo "test_extensions: FAIL: $*" >&2
    exit 1
}
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for f in "$BIN_DIR/llmgw-sim" "$BIN_DIR/llmgw-dataplane" "$EXT_DIR/cohere.so" \
    "$EXT_DIR/prompt_guard.so" "$EXT_DIR/test_ext_ok.so"; do
    [ -e "$f" ] || fail "$f: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-ext.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
HONOR_KEEP_WORK=1
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

"$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name sim-c --models gpt-4o-mini,command-a \
    --port-file "$WORK/sim.port" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
SIM_PORT=$(wait_port "$SIM_PID" "$WORK/sim.port" llmgw-sim)
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
SIM=http://127.0.0.1:$SIM_PORT

# table FILE EXTENSIONS_JSON: the routing table with that "extensions" array.
table() {
    cat >"$1" <<JSON
{"version": 1,
 "extensions": $2,
 "providers": [
   {"name": "cohere-sim", "base_url": "$SIM", "wire_format": "cohere", "api_key": "co-key",
    "models": [{"name": "command-a", "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10}]},
   {"name": "cohere-500", "base_url": "$SIM", "wire_format": "cohere",
    "headers": {"x-sim-status": "500"}, "models": [{"name": "command-a"}]},
   {"name": "cohere-401", "base_url": "$SIM", "wire_format": "cohere",
    "headers": {"x-sim-status": "401"}, "models": [{"name": "command-a"}]},
   {"name": "openai-sim", "base_url": "$SIM/v1", "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "fallback", "strategy": "priority",
   "deployments": [{"provider": "cohere-500", "model": "command-a", "priority": 0},
                   {"provider": "openai-sim", "model": "gpt-4o-mini", "priority": 1}]}],
 "keys": [{"name": "ext-key", "sha256": "$KEY_SHA", "team": "ext-team"}]}
JSON
}
COHERE_EXT='[{"name": "cohere", "path": "'$EXT_DIR/cohere.so'", "config": {"max_tokens_default": 512}}]'
table "$WORK/table.json" "$COHERE_EXT"
echo '{"max_prompt_bytes": 200, "tenant_header": "X-Tenant"}' >"$WORK/guard.json"

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 1 \
    --http-threads 2 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$WORK/http.port" --extension "$EXT_DIR/prompt_guard.so:$WORK/guard.json" \
    >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
GRPC_PORT=$(wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane)
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
BASE=http://127.0.0.1:$HTTP_PORT

CODE=
req() {
    local method=$1 path=$2 body=${3-}
    shift 3 || shift $#
    local args=(-sS -o "$WORK/body" -w '%{http_code}' -X "$method"
        -H "Authorization: Bearer $API_KEY" --max-time 20)
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    CODE=$(curl "${args[@]}" "$@" "$BASE$path") || fail "$method $path: curl failed"
}
expect_code() {
    [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(head -c 400 "$WORK/body")"
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 600 "$WORK/body")"
}
chat() { # MODEL TEXT [extra JSON members]
    printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]%s}' "$1" "$2" "${3:-}"
}

# --- the cohere adapter ---------------------------------------------------------
req POST /v1/chat/completions "$(chat cohere-sim/command-a 'hello cohere')"
expect_code 200 "chat via cohere"
expect_jq '.object == "chat.completion" and .choices[0].message.content == "[sim-c] hello cohere"' "cohere content"
expect_jq '.choices[0].finish_reason == "stop" and .usage.completion_tokens == 3 and .usage.prompt_tokens == 6' "cohere usage"
expect_jq '(.id | startswith("cohere-sim-")) and .model == "command-a"' "cohere id kept, the model filled in"

req POST /v1/chat/completions "$(chat cohere-sim/command-a 'one two three four five' ',"max_tokens":2,"top_p":0.5,"stop":"zzz"')"
expect_code 200 "cohere: max_tokens, top_p and stop translated (the sim refuses top_p and stop)"
expect_jq '.choices[0].finish_reason == "length" and .choices[0].message.content == "[sim-c] one"' "cohere MAX_TOKENS -> length"

curl -sS -N -o "$WORK/stream" -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    --max-time 20 --data-binary "$(chat cohere-sim/command-a 'stream me please' ',"stream":true,"stream_options":{"include_usage":true}')" \
    "$BASE/v1/chat/completions" || fail "cohere stream: curl failed"
grep -q '^data: \[DONE\]' "$WORK/stream" || fail "cohere stream: no [DONE]: $(head -c 600 "$WORK/stream")"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' | jq -s -e 'all(.[]; .model == "command-a")' >/dev/null ||
    fail "cohere stream: chunks without the model: $(head -c 400 "$WORK/stream")"
TEXT=$(grep '^data: {' "$WORK/stream" | sed 's/^data: //' | jq -rj '.choices[0].delta.content // empty')
[ "$TEXT" = "[sim-c] stream me please" ] || fail "cohere stream text: '$TEXT'"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' | jq -s -e 'any(.[]; .choices[0].finish_reason == "stop")' >/dev/null ||
    fail "cohere stream: no finish_reason stop"
grep '^data: {' "$WORK/stream" | sed 's/^data: //' | jq -s -e 'any(.[]; .usage.completion_tokens == 4)' >/dev/null ||
    fail "cohere stream: no usage chunk with 4 completion tokens: $(cat "$WORK/stream")"

req POST /v1/chat/completions "$(chat cohere-sim/command-a 'hi' ',"n":2')"
expect_code 400 "cohere: n=2 refused"
expect_jq '.error.message | test("n: the cohere wire format answers one choice")' "cohere: n named"
req POST /v1/chat/completions "$(chat cohere-sim/command-a 'hi' ',"logprobs":true')"
expect_code 400 "cohere: logprobs refused"
expect_jq '.error.message | test("logprobs: the cohere wire format has no such field")' "cohere: logprobs named"

req POST /v1/chat/completions "$(chat cohere-401/command-a 'hi')"
# A provider's 401 is the gateway's problem (its key), not the caller's: 500.
expect_code 500 "cohere: provider 401"
expect_jq '.error.message | test("cohere-401/command-a: auth \\(HTTP 401\\): simulated 401")' "cohere: the {message} error body is read"

req POST /v1/chat/completions "$(chat fallback 'fall back')"
expect_code 200 "fallback from cohere 500 to openai"
expect_jq '.choices[0].message.content == "[sim-c] fall back"' "fallback answer"

# --- prompt_guard: pass, refuse, tag --------------------------------------------
BIG=$(head -c 300 /dev/zero | tr '\0' 'x')
req POST /v1/chat/completions "$(chat openai-sim/gpt-4o-mini "$BIG")"
expect_code 413 "prompt_guard refuses 300 bytes"
expect_jq '.error.message | test("extension prompt_guard: prompt is 300 bytes, over the limit of 200 \\(max_prompt_bytes\\)")' "prompt_guard message"
expect_jq '.error.code == "extension_refused" and .error.type == "invalid_request_error"' "refusal body"
grep -q 'upstream\|POST /v1/chat' "$WORK/sim.log" && true
req POST /v1/chat/completions "$(chat openai-sim/gpt-4o-mini 'small prompt')" -H 'X-Tenant: acme'
expect_code 200 "prompt_guard passes and tags"
expect_jq '.choices[0].message.content == "[sim-c] small prompt"' "tagged request answered"

# the native completions and embeddings endpoints run the hook too
req POST /v1/completions "{\"model\":\"openai-sim/gpt-4o-mini\",\"prompt\":\"$BIG\"}"
expect_code 413 "prompt_guard refuses a 300-byte completions prompt"
expect_jq '.error.message | test("extension prompt_guard: prompt is 300 bytes, over the limit of 200")' "completions refusal message"
HALF=$(head -c 150 /dev/zero | tr '\0' 'y')
req POST /v1/embeddings "{\"model\":\"openai-sim/gpt-4o-mini\",\"input\":[\"$HALF\",\"$HALF\"]}"
expect_code 413 "prompt_guard refuses 2 x 150 bytes of embeddings input"
expect_jq '.error.message | test("extension prompt_guard: input is 300 bytes, over the limit of 200")' "embeddings refusal message"
expect_jq '.error.code == "extension_refused"' "embeddings refusal body"
req POST /v1/embeddings '{"model":"openai-sim/gpt-4o-mini","input":"small input"}' -H 'X-Tenant: acme'
expect_code 200 "prompt_guard passes and tags an embeddings request (a raw rewrite)"
expect_jq '.object == "list" and (.data | length) == 1' "tagged embeddings answered"
req POST /v1/completions '{"model":"openai-sim/gpt-4o-mini","prompt":"small prompt"}'
expect_code 200 "prompt_guard passes a small completions prompt"

# --- listing ----------------------------------------------------------------------
req GET /v1/extensions ""
expect_code 200 "/v1/extensions"
expect_jq '.plugins.abi_version == 1 and (.plugins.loaded | length) == 2' "two plugins"
expect_jq '.plugins.loaded[0].name == "prompt_guard" and .plugins.loaded[0].request_hooks == 1 and .plugins.loaded[0].healthy' "prompt_guard listed"
expect_jq '.plugins.loaded[0].health_message == "passed=10 refused=3 tagged=2"' "prompt_guard counters: ten passed (two tagged), three refused"
expect_jq '.plugins.loaded[1].name == "cohere" and .plugins.loaded[1].adapters == ["cohere"] and .plugins.loaded[1].version == "1.0.0"' "cohere listed"
expect_jq '(.providers[] | select(.provider == "cohere-sim") | .wire_format) == "cohere"' "provider wire format"
# A plugin adapter translates chat only: raw OpenAI-shaped endpoints are refused by name
# (the adapter registry says which formats serve them; see docs/extensions.md).
req POST /v1/embeddings '{"model":"cohere-sim/command-a","input":"a"}'
expect_code 400 "embeddings to a plugin wire format"
expect_jq '.error.message | test("/embeddings: provider .cohere-sim. speaks the cohere wire format, which has no /embeddings endpoint")' "raw refusal names the format"
# /v1/completions to a format without OpenAI's endpoint is bridged to chat
req POST /v1/completions '{"model":"cohere-sim/command-a","prompt":"complete cohere"}'
expect_code 200 "completions via cohere (bridged to chat)"
expect_jq '.object == "text_completion" and .choices[0].text == "[sim-c] complete cohere"' "cohere: completions bridged"

# --- RoutingService and the gRPC door -----------------------------------------------
command -v node >/dev/null || fail "node: not installed (tests/support/node_deps.sh installs it)"
NODE_PATH="$SRC_DIR/tests/interop/node_modules" node "$SRC_DIR/tests/integration/extensions_rpc.js" \
    "127.0.0.1:$GRPC_PORT" "$API_KEY" "$SRC_DIR/proto" >"$WORK/rpc.out" 2>&1 ||
    fail "gRPC checks: $(cat "$WORK/rpc.out")"

stop "$DP_PID"
DP_PID=
[ "$STOP_RC" = 0 ] || fail "llmgw-dataplane exited with $STOP_RC"

# --- the test plugin: rewrite, refuse, async, response and usage hooks ----------------
# dp_run NAME ARGS...: a data plane on fresh ports; sets DP_PID and BASE.
dp_run() {
    local name=$1
    shift
    rm -f "$WORK/grpc.port" "$WORK/http.port"
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 1 \
        --http-threads 1 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
        --http-port-file "$WORK/http.port" "$@" >"$WORK/$name.log" 2>&1 &
    DP_PID=$!
    wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane >/dev/null
    BASE=http://127.0.0.1:$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
}
for mode in rewrite refuse refuse_chat_only async bad_status; do
    if [ "$mode" = refuse_chat_only ]; then
        echo '{"mode": "refuse", "kinds": "chat"}' >"$WORK/mode.json"
    else
        echo "{\"mode\": \"$mode\"}" >"$WORK/mode.json"
    fi
    dp_run "dp-$mode" --extension "$EXT_DIR/test_ext_ok.so:$WORK/mode.json"
    req POST /v1/chat/completions "$(chat cohere-sim/command-a 'original text')"
    case $mode in
    rewrite)
        expect_code 200 "rewrite"
        expect_jq '.choices[0].message.content == "[sim-c] rewritten by test"' "the rewritten request was sent"
        curl -sS -N -o "$WORK/stream" -H "Authorization: Bearer $API_KEY" --max-time 20 \
            --data-binary "$(chat cohere-sim/command-a 'a b' ',"stream":true')" "$BASE/v1/chat/completions"
        grep -q '^data: \[DONE\]' "$WORK/stream" || fail "rewrite: stream"
        req GET /v1/extensions ""
        # one unary answer, one stream of 5 chunks (role chunk held back: "[sim-c]", "rewritten", "by", "test", finish)
        expect_jq '.plugins.loaded[0].health_message | test("^requests=2 responses=1 chunks=[1-9][0-9]* usage=2$")' "response and usage hooks ran"
        # an embeddings request rewritten (to itself) still reaches the provider
        req POST /v1/embeddings '{"model":"openai-sim/gpt-4o-mini","input":"rewrite me"}'
        expect_code 200 "rewrite: embeddings"
        expect_jq '.object == "list"' "rewrite: embeddings answer"
        ;;
    refuse)
        expect_code 403 "refuse"
        expect_jq '.error.message == "extension test_ok: refused by test (door=http key=ext-key kind=chat)" and .error.type == "permission_error"' "refusal message"
        req POST /v1/completions '{"model":"openai-sim/gpt-4o-mini","prompt":"hi"}'
        expect_code 403 "refuse: native completions"
        expect_jq '.error.message == "extension test_ok: refused by test (door=http key=ext-key kind=completion)"' "refusal names kind completion"
        req POST /v1/embeddings '{"model":"openai-sim/gpt-4o-mini","input":["a","b"]}'
        expect_code 403 "refuse: embeddings"
        expect_jq '.error.message == "extension test_ok: refused by test (door=http key=ext-key kind=embedding)"' "refusal names kind embedding"
        curl -sS -N -o "$WORK/stream" -w '%{http_code}' -H "Authorization: Bearer $API_KEY" --max-time 20 \
            --data-binary '{"model":"openai-sim/gpt-4o-mini","prompt":"hi","stream":true}' \
            "$BASE/v1/completions" >"$WORK/code" || fail "refuse: completions stream: curl failed"
        [ "$(cat "$WORK/code")" = 403 ] || fail "refuse: a streamed completions request: HTTP $(cat "$WORK/code")"
        ;;
    refuse_chat_only)
        expect_code 403 "refuse, chat only: chat refused"
        req POST /v1/embeddings '{"model":"openai-sim/gpt-4o-mini","input":"a"}'
        expect_code 200 "refuse, chat only: the hook opted out of embeddings"
        ;;
    async)
        expect_code 429 "async verdict from a worker thread"
        expect_jq '.error.message == "extension test_ok: async verdict: slow down"' "async message"
        # A stream waits for the verdict as well: refused before any chunk.
        req POST /v1/chat/completions "$(chat cohere-sim/command-a 'stream me' ',"stream":true')"
        expect_code 429 "async verdict on a stream"
        expect_jq '.error.code == "extension_refused"' "async stream refusal body"
        # A raw request decided later: it outlives the front door's call frame.
        req POST /v1/embeddings '{"model":"openai-sim/gpt-4o-mini","input":"later"}'
        expect_code 429 "async verdict on embeddings"
        expect_jq '.error.message == "extension test_ok: async verdict: slow down"' "async embeddings message"
        ;;
    bad_status)
        expect_code 500 "a refusal with status 200 becomes 500"
        ;;
    esac
    stop "$DP_PID"
    DP_PID=
    [ "$STOP_RC" = 0 ] || fail "$mode: llmgw-dataplane exited with $STOP_RC"
done

# --- startup refusals ---------------------------------------------------------------
# refused WHAT PATTERN ARGS...: the data plane must exit 1 with PATTERN on stderr.
refused() {
    local what=$1 pattern=$2 rc=0
    shift 2
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
        --http-listen 127.0.0.1:0 "$@" >"$WORK/refused.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "$what: exit status $rc, expected 1: $(tail -5 "$WORK/refused.log")"
    grep -q -- "$pattern" "$WORK/refused.log" || fail "$what: no '$pattern' in: $(tail -5 "$WORK/refused.log")"
}
refused "wrong ABI" "info.abi_version 99, this data plane speaks ABI 1" --extension "$EXT_DIR/test_ext_wrong_abi.so"
refused "no entry point" "no entry point llmgw_extension()" --extension "$EXT_DIR/test_ext_no_entry.so"
refused "init fails" "init failed: config.always: this plugin always fails" --extension "$EXT_DIR/test_ext_init_fails.so"
refused "init crashes" "test_ext_init_crashes.so: .*not loaded" --extension "$EXT_DIR/test_ext_init_crashes.so"
refused "missing file" "cannot load" --extension "$WORK/nope.so"
echo 'not json' >"$WORK/bad.json"
refused "config not JSON" "config: expected a JSON object" --extension "$EXT_DIR/prompt_guard.so:$WORK/bad.json"
echo '{"max_prompt_bytes": 0}' >"$WORK/bad.json"
refused "prompt_guard config" "config.max_prompt_bytes: expected an integer >= 1" --extension "$EXT_DIR/prompt_guard.so:$WORK/bad.json"
table "$WORK/table.json" '[]'
refused "unregistered wire format" "providers\[0\].wire_format: 'cohere' is not a wire format"
table "$WORK/table.json" '[{"name": "cohere", "path": "'$EXT_DIR/cohere.so'", "config": {"max_tokens_default": "x"}}]'
refused "table config" "extensions\[0\] (cohere): .*config.max_tokens_default: expected an integer >= 1"
table "$WORK/table.json" '[{"name": "other", "path": "'$EXT_DIR/cohere.so'"}]'
refused "table name mismatch" "the table names it 'other' but the plugin is 'cohere'"
table "$WORK/table.json" '[{"name": "cohere", "path": "x", "color": 1}]'
refused "table unknown field" "extensions\[0\].color: unknown field"

# An optional extension that fails is skipped; the node starts with the rest.
table "$WORK/table.json" "[{\"name\": \"test_plugin\", \"path\": \"$EXT_DIR/test_ext_init_crashes.so\", \"optional\": true},
  {\"name\": \"cohere\", \"path\": \"$EXT_DIR/cohere.so\"}]"
dp_run dp-optional
grep -q 'optional extension not loaded; starting without it.*ext=test_plugin' "$WORK/dp-optional.log" ||
    fail "optional: no warning: $(tail -5 "$WORK/dp-optional.log")"
req POST /v1/chat/completions "$(chat cohere-sim/command-a 'still here')"
expect_code 200 "optional: served without the broken extension"
req GET /v1/extensions ""
expect_jq '(.plugins.loaded | map(.name)) == ["cohere"]' "optional: only cohere loaded"

STATUS=0
echo "test_extensions: ok"
