#!/usr/bin/env bash
# test_sim.sh: drives a real llmgw-sim over HTTP with the curl CLI and checks
# the contract in docs/simulator.md: answers and token counts, streams,
# status overrides, faults, validation errors, /v1/models, /v1/embeddings,
# the command line and a clean shutdown. Every sim runs on 127.0.0.1 with a
# port it picks itself (--listen 127.0.0.1:0 --port-file) and is stopped by
# the EXIT trap whatever happens. Exits non-zero when any check fails.
set -u

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin/llmgw-sim
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_sim.XXXXXX")
SIM_PIDS=()
PASS=0
FAIL=0

cleanup() {
    for pid in "${SIM_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() {
    PASS=$((PASS + 1))
    echo "ok   $1"
}
bad() {
    FAIL=$((FAIL + 1))
    echo "FAIL $1: $2"
}
# check NAME EXPECTED ACTUAL
check() {
    if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected '$2', got '$3'"; fi
}
# check_true NAME DESCRIPTION COMMAND...
check_true() {
    local name=$1 what=$2
    shift 2
    if "$@"; then ok "$name"; else bad "$name" "$what"; fi
}
# at_least A B: A >= B as decimals
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

for tool in curl jq awk; do
    command -v "$tool" >/dev/null || { echo "FAIL setup: $tool not installed"; exit 1; }
done
[ -x "$BIN" ] || { echo "FAIL setup: $BIN not built"; exit 1; }

# start_sim NAME ARGS...: starts a sim, sets PORT and LAST_PID.
start_sim() {
    local name=$1
    shift
    rm -f "$WORK/$name.port"
    "$BIN" --listen 127.0.0.1:0 --port-file "$WORK/$name.port" "$@" 2>"$WORK/$name.err" &
    LAST_PID=$!
    SIM_PIDS+=("$LAST_PID")
    for _ in $(seq 100); do
        [ -s "$WORK/$name.port" ] && break
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$WORK/$name.port" ]; then
        echo "FAIL setup: sim $name did not start"
        cat "$WORK/$name.err"
        exit 1
    fi
    PORT=$(cat "$WORK/$name.port")
}

# req METHOD PATH [BODY] [CURL ARGS...]: sets CODE (HTTP status), CRC (curl's
# exit code), TIME (seconds); body in $WORK/body, headers in $WORK/hdr.
req() {
    local method=$1 path=$2 body=${3:-}
    shift 3 2>/dev/null || shift $#
    local out
    if [ -n "$body" ]; then
        out=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code} %{time_total}' \
            -H 'Content-Type: application/json' --data-binary "$body" "$@" \
            "http://127.0.0.1:$PORT$path" 2>"$WORK/curl.err")
    else
        out=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code} %{time_total}' \
            "$@" "http://127.0.0.1:$PORT$path" 2>"$WORK/curl.err")
    fi
    CRC=$?
    CODE=${out%% *}
    TIME=${out##* }
}
jbody() { jq -r "$1" "$WORK/body" 2>/dev/null; }
header() { tr -d '\r' <"$WORK/hdr" | awk -v h="$1" 'BEGIN { FS = ": " } tolower($1) == h { print $2 }'; }
# The JSON objects of a stream, one per line ([DONE] excluded).
events() { sed -n 's/^data: //p' "$WORK/body" | grep -v '^\[DONE\]$'; }
# Concatenated delta contents of a stream.
stream_text() { events | jq -j '.choices[0].delta.content // empty'; }

CHAT='/v1/chat/completions'
USER_MSG='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello  big\nworld"}]'

cat >"$WORK/config.json" <<'EOF'
{
  "default": {"latency_ms": 0},
  "models": {
    "fixed-model": {"answer": "fixed reply text"},
    "slow-model": {"latency_ms": 300},
    "err-model": {"error_rate": 1.0}
  }
}
EOF
start_sim main --name testsim --config "$WORK/config.json" --models extra-model,fixed-model --seed 7
MAIN_PID=$LAST_PID

# --- answers -----------------------------------------------------------------
req POST "$CHAT" "$USER_MSG}"
check test_chat_status_200 200 "$CODE"
check test_chat_echoes_last_user_message "[testsim] hello big world" "$(jbody '.choices[0].message.content')"
check test_chat_finish_reason_stop stop "$(jbody '.choices[0].finish_reason')"
check test_chat_object_and_fingerprint "chat.completion sim gpt-4o-mini assistant" \
    "$(jbody '[.object, .system_fingerprint, .model, .choices[0].message.role] | join(" ")')"
check_true test_chat_id_has_sim_prefix "id $(jbody .id)" grep -q '^chatcmpl-sim-[0-9]*$' <<<"$(jbody .id)"
# prompt: (2 words + 4) + (3 words + 4); completion: 4 words.
check test_chat_usage_counts_words "13 4 17" \
    "$(jbody '[.usage.prompt_tokens, .usage.completion_tokens, .usage.total_tokens] | join(" ")')"
check test_chat_content_type_json application/json "$(header content-type)"

req POST "$CHAT" "$USER_MSG,\"max_tokens\":2}"
check test_max_tokens_truncates_answer "[testsim] hello length 2" \
    "$(jbody '[.choices[0].message.content, .choices[0].finish_reason, .usage.completion_tokens] | join(" ")')"

req POST "$CHAT" '{"model":"fixed-model","messages":[{"role":"user","content":"ignored"}]}'
check test_config_fixed_answer_per_model "fixed reply text" "$(jbody '.choices[0].message.content')"

req POST "$CHAT" '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"two"}]}]}'
check test_content_parts_joined "[testsim] part one two" "$(jbody '.choices[0].message.content')"

req POST "$CHAT" "$USER_MSG}" -H 'x-sim-answer: from the header'
check test_header_answer_overrides "from the header" "$(jbody '.choices[0].message.content')"

# --- streams ------------------------------------------------------------------
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N
check test_stream_status_200 200 "$CODE"
check test_stream_content_type text/event-stream "$(header content-type)"
check test_stream_first_chunk_is_role '{"role":"assistant","content":""}' \
    "$(events | head -1 | jq -c '.choices[0].delta')"
check test_stream_one_chunk_per_word '["[testsim]"," hello"," big"," world"]' \
    "$(events | jq -c 'select(.choices[0].delta.content != null and .choices[0].delta.role == null) | .choices[0].delta.content' | jq -sc .)"
check test_stream_text_equals_answer "[testsim] hello big world" "$(stream_text)"
check test_stream_finish_chunk '{} stop' \
    "$(events | tail -1 | jq -r '"\(.choices[0].delta | tojson) \(.choices[0].finish_reason)"')"
check test_stream_chunk_object chat.completion.chunk "$(events | jq -r .object | sort -u)"
check test_stream_ends_with_done "data: [DONE]" "$(grep -v '^$' "$WORK/body" | tail -1)"
check test_stream_no_usage_unless_asked 0 "$(events | jq -s 'map(select(.usage)) | length')"

req POST "$CHAT" "$USER_MSG,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" -N
check test_stream_include_usage_chunk '[] 13 4 17' \
    "$(events | tail -1 | jq -r '"\(.choices | tojson) \(.usage.prompt_tokens) \(.usage.completion_tokens) \(.usage.total_tokens)"')"
check test_stream_usage_then_done "data: [DONE]" "$(grep -v '^$' "$WORK/body" | tail -1)"

req POST "$CHAT" "$USER_MSG,\"stream\":true,\"max_tokens\":3}" -N
check test_stream_max_tokens_length "[testsim] hello big length" \
    "$(stream_text) $(events | tail -1 | jq -r '.choices[0].finish_reason')"

# --- timing -------------------------------------------------------------------
req POST "$CHAT" '{"model":"slow-model","messages":[{"role":"user","content":"x"}]}'
check_true test_config_latency_delays_answer "took ${TIME}s, want >= 0.3s" at_least "$TIME" 0.29
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-latency-ms: 200'
check_true test_header_latency_delays_answer "took ${TIME}s, want >= 0.2s" at_least "$TIME" 0.19
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N -H 'x-sim-ttft-ms: 250'
check_true test_ttft_delays_first_chunk "took ${TIME}s, want >= 0.25s" at_least "$TIME" 0.24
# 4 words at 20/s: the last word goes out 3 intervals after the first.
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N -H 'x-sim-tokens-per-s: 20'
check_true test_tokens_per_s_paces_words "took ${TIME}s, want >= 0.15s" at_least "$TIME" 0.14
check test_paced_stream_complete "[testsim] hello big world" "$(stream_text)"

# --- errors -------------------------------------------------------------------
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-status: 429'
check test_status_429 429 "$CODE"
check test_status_429_retry_after 1 "$(header retry-after)"
check test_status_429_error_body "simulated 429 rate_limit_error" "$(jbody '.error.message + " " + .error.type')"
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -H 'x-sim-status: 503'
check test_status_503_on_stream_with_retry_after "503 1 server_error" "$CODE $(header retry-after) $(jbody .error.type)"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-status: 500'
check test_status_500_no_retry_after "500 " "$CODE $(header retry-after)"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-status: 401'
check test_status_401_type "401 authentication_error" "$CODE $(jbody .error.type)"
req POST "$CHAT" '{"model":"err-model","messages":[{"role":"user","content":"x"}]}'
check test_error_rate_one_answers_500 "500 simulated 500" "$CODE $(jbody .error.message)"
req POST "$CHAT" '{"model":"err-model","messages":[{"role":"user","content":"x"}]}' -H 'x-sim-error-rate: 0'
check test_header_error_rate_overrides_config 200 "$CODE"

# --- faults -------------------------------------------------------------------
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-fault: malformed_json'
check test_malformed_json_status_200 200 "$CODE"
check_true test_malformed_json_body_not_json "body parsed as JSON" \
    bash -c "! jq . '$WORK/body' >/dev/null 2>&1"
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N -H 'x-sim-fault: malformed_json'
check_true test_malformed_json_stream_has_bad_chunk "every chunk parsed as JSON" \
    bash -c "! (sed -n 's/^data: //p' '$WORK/body' | grep -v '^\[DONE\]$' | jq -s . >/dev/null 2>&1)"

req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N -H 'x-sim-fault: drop_mid_stream'
check test_drop_mid_stream_curl_incomplete 18 "$CRC"
check test_drop_mid_stream_sends_half "[testsim] hello" "$(stream_text)"
check_true test_drop_mid_stream_no_done "[DONE] was sent" bash -c "! grep -q 'DONE' '$WORK/body'"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-fault: drop_mid_stream'
check test_drop_nonstream_curl_incomplete 18 "$CRC"

req POST "$CHAT" "$USER_MSG}" -H 'x-sim-fault: empty_choices'
check test_empty_choices "200 0" "$CODE $(jbody '.choices | length')"
req POST "$CHAT" "$USER_MSG,\"stream\":true}" -N -H 'x-sim-fault: empty_choices'
check test_empty_choices_stream "[] data: [DONE]" \
    "$(events | jq -c .choices | sort -u) $(grep -v '^$' "$WORK/body" | tail -1)"

req POST "$CHAT" "$USER_MSG}" -m 1 -H 'x-sim-fault: hang'
check test_hang_never_answers 28 "$CRC"
check_true test_hang_holds_until_client_gives_up "took ${TIME}s" at_least "$TIME" 0.95

req POST "$CHAT" "$USER_MSG}" -H 'x-sim-fault: slow_headers' -H 'x-sim-latency-ms: 150'
check_true test_slow_headers_waits_latency "$CODE after ${TIME}s" at_least "$TIME" 0.14

# --- request validation -------------------------------------------------------
req POST "$CHAT" '{"model":"m","messages":'
check test_bad_json_400 "400 request body invalid_request_error" "$CODE $(jbody .error.param) $(jbody .error.type)"
req POST "$CHAT" '{"model":"m","messages":[]}'
check test_empty_messages_400 "400 messages" "$CODE $(jbody .error.param)"
check_true test_empty_messages_message_names_field "$(jbody .error.message)" \
    grep -q '^messages: ' <<<"$(jbody .error.message)"
req POST "$CHAT" '{"model":"m"}'
check test_missing_messages_400 "400 messages" "$CODE $(jbody .error.param)"
req POST "$CHAT" '{"model":"m","messages":[{"role":"user","content":"x"},{"role":"robot","content":"y"}]}'
check test_bad_role_400_names_index "400 messages[1].role" "$CODE $(jbody .error.param)"
req POST "$CHAT" '{"messages":[{"role":"user","content":"x"}]}'
check test_missing_model_400 "400 model" "$CODE $(jbody .error.param)"
req POST "$CHAT" "$USER_MSG,\"max_tokens\":0}"
check test_max_tokens_zero_400 "400 max_tokens" "$CODE $(jbody .error.param)"
req POST "$CHAT" "$USER_MSG,\"stream\":\"yes\"}"
check test_stream_not_bool_400 "400 stream" "$CODE $(jbody .error.param)"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-latency-ms: soon'
check test_bad_header_400_names_header "400 x-sim-latency-ms" "$CODE $(jbody .error.message | cut -d: -f1)"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-fault: explode'
check test_unknown_fault_header_400 "400 x-sim-fault" "$CODE $(jbody .error.message | cut -d: -f1)"
head -c 9000000 /dev/zero | tr '\0' a >"$WORK/big"
req POST "$CHAT" "@$WORK/big"
check test_body_over_8mib_413 413 "$CODE"

# --- other endpoints ----------------------------------------------------------
req GET /v1/models
check test_models_lists_config_then_flag_models "fixed-model slow-model err-model extra-model" \
    "$(jbody '[.data[].id] | join(" ")')"
check test_models_shape "list model testsim" "$(jbody '[.object, (.data[0].object), (.data[0].owned_by)] | join(" ")')"

req POST /v1/embeddings '{"model":"emb","input":["one two","three"]}'
check test_embeddings_status 200 "$CODE"
check test_embeddings_two_vectors_of_8 "2 8 8" "$(jbody '[(.data | length), (.data[0].embedding | length), (.data[1].embedding | length)] | join(" ")')"
check test_embeddings_usage_counts_words "3 3 emb" "$(jbody '[.usage.prompt_tokens, .usage.total_tokens, .model] | join(" ")')"
FIRST=$(jbody '.data[0].embedding | tojson')
check_true test_embeddings_differ_per_text "identical vectors" test "$FIRST" != "$(jbody '.data[1].embedding | tojson')"
check_true test_embeddings_unit_length "norm $(jbody '[.data[0].embedding[] | . * .] | add')" \
    awk -v n="$(jbody '[.data[0].embedding[] | . * .] | add')" 'BEGIN { exit !(n > 0.999 && n < 1.001) }'
req POST /v1/embeddings '{"model":"emb","input":"one two"}'
check test_embeddings_deterministic "$FIRST" "$(jbody '.data[0].embedding | tojson')"
req POST /v1/embeddings '{"model":"emb","input":"one two","encoding_format":"base64"}'
check test_embeddings_base64_32_bytes 32 "$(jbody '.data[0].embedding' | base64 -d | wc -c)"
req POST /v1/embeddings '{"model":"emb","input":[1,2]}'
check test_embeddings_bad_input_400 "400 input" "$CODE $(jbody .error.param)"

# --- legacy completions --------------------------------------------------------
req POST /v1/completions '{"model":"cm","prompt":"hello  big world","max_tokens":3}'
check test_completions_text_completion_shape "200 text_completion cm [testsim] hello big length" \
    "$CODE $(jbody '[.object, .model, .choices[0].text, .choices[0].finish_reason] | join(" ")')"
check test_completions_usage_counts_prompt_words "3 3 6" \
    "$(jbody '[.usage.prompt_tokens, .usage.completion_tokens, .usage.total_tokens] | join(" ")')"
req POST /v1/completions '{"model":"cm","prompt":["one","two"],"stream":true,"stream_options":{"include_usage":true}}'
check test_completions_stream_text "[testsim] one two" "$(events | jq -j '.choices[0].text // empty')"
check test_completions_stream_ends_with_usage_and_done "text_completion stop 3 [DONE]" \
    "$(events | jq -r -s '[.[0].object, (.[-2].choices[0].finish_reason), (.[-1].usage.completion_tokens | tostring)] | join(" ")') $(sed -n 's/^data: //p' "$WORK/body" | tail -n 1)"
req POST /v1/completions '{"model":"cm","prompt":7}'
check test_completions_bad_prompt_400 "400 prompt" "$CODE $(jbody .error.param)"

req GET /v1/nope
check test_unknown_path_404 "404 not_found_error" "$CODE $(jbody .error.type)"
req GET "$CHAT"
check test_wrong_method_404 404 "$CODE"

# Two requests in one curl run share one keep-alive connection.
CONNECTS=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "http://127.0.0.1:$PORT/v1/models" \
    "http://127.0.0.1:$PORT/v1/models")
check test_keep_alive_reuses_connection "1 0 " "$CONNECTS"

# --- a second sim: flags only, no config ------------------------------------
start_sim flags --status 503 --latency-ms 0
FLAGS_PID=$LAST_PID
req GET /v1/models
check test_models_default_sim_model "sim-model sim" "$(jbody '[.data[].id, .data[0].owned_by] | join(" ")')"
req POST "$CHAT" "$USER_MSG}"
check test_status_flag_applies 503 "$CODE"
req POST "$CHAT" "$USER_MSG}" -H 'x-sim-status: 0'
check test_header_status_0_restores_normal "200 [sim] hello big world" "$CODE $(jbody '.choices[0].message.content')"

# A held request must not delay shutdown.
curl -s -m 10 -o /dev/null "http://127.0.0.1:$PORT$CHAT" -H 'x-sim-fault: hang' \
    -d "$USER_MSG}" 2>/dev/null &
CURL_PID=$!
sleep 0.3
T0=$(date +%s.%N)
kill -TERM "$FLAGS_PID"
wait "$FLAGS_PID"
RC=$?
T1=$(date +%s.%N)
wait "$CURL_PID" 2>/dev/null
check test_sigterm_exits_zero 0 "$RC"
check_true test_sigterm_ends_held_request_promptly "took $(awk -v a="$T0" -v b="$T1" 'BEGIN { print b - a }')s" \
    awk -v a="$T0" -v b="$T1" 'BEGIN { exit !(b - a < 2) }'

# --- command line ------------------------------------------------------------
"$BIN" --latency-ms -5 >/dev/null 2>"$WORK/usage.err"
check test_bad_flag_exits_2 2 "$?"
check_true test_bad_flag_names_flag_and_prints_usage "$(head -2 "$WORK/usage.err")" \
    bash -c "grep -q -- '--latency-ms: expected' '$WORK/usage.err' && grep -q '^usage:' '$WORK/usage.err'"
"$BIN" --no-such-flag >/dev/null 2>&1
check test_unknown_flag_exits_2 2 "$?"
for v in 0 100001 many; do
    "$BIN" --max-connections "$v" >/dev/null 2>"$WORK/maxconn.err"
    check "test_max_connections_${v}_exits_2" 2 "$?"
    check_true "test_max_connections_${v}_names_flag" "$(head -1 "$WORK/maxconn.err")" \
        grep -q -- '--max-connections: expected an integer 1..100000' "$WORK/maxconn.err"
done
echo '{"models":{"m":{"latency_ms":"slow"}}}' >"$WORK/bad.json"
"$BIN" --config "$WORK/bad.json" >/dev/null 2>"$WORK/cfg.err"
check test_bad_config_exits_2 2 "$?"
check_true test_bad_config_names_field "$(cat "$WORK/cfg.err")" grep -q 'models.m.latency_ms: expected' "$WORK/cfg.err"
"$BIN" --help >/dev/null 2>&1
check test_help_exits_0 0 "$?"

# --- the main sim stops cleanly and its log is clean -------------------------
kill -TERM "$MAIN_PID"
wait "$MAIN_PID"
check test_main_sim_exits_zero 0 "$?"
check_true test_sim_logs_listening_port "$(head -1 "$WORK/main.err")" grep -q "listening.*port=[0-9]" "$WORK/main.err"
check_true test_no_sanitizer_reports "$(grep -h -m3 'Sanitizer\|runtime error' "$WORK"/*.err)" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$WORK'/*.err"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
