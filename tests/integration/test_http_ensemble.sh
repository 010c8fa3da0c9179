#!/usr/bin/env bash
# POST /v1/ensembles on a real llmgw-dataplane in front of a real llmgw-sim,
# with curl: voting (with its early stop), consensus, cascade with a JSON
# schema, the judge, the OpenAI-shaped answer with members and analysis, auth
# first (401 without a key, 403 for a key without scope "ensembles", before
# the body is read), and every bad input answered with an OpenAI error body,
# the right status and a message naming the JSON path.
#
# Needs curl and jq. Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR (default from here).
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
API_KEY=sk-hens-$$-$RANDOM
CHAT_KEY=sk-hens-chat-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_http_ensemble

fail() {
    echo "test_http_ensemble: FAIL: $*" >&2
    show_logs 2>/dev/null || true
    exit 1
}
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for b in llmgw-sim llmgw-dataplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

WORK=$(mktemp -d /tmp/llmgw-hens.XXXXXX)
SIM_PID=
DP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
CHECK_SIM_STOP=0
HONOR_KEEP_WORK=1
trap procs_cleanup EXIT
trap 'exit 130' INT TERM

start_sim sim
SIM=http://127.0.0.1:$SIM_PORT/v1
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
CHAT_SHA=$(printf '%s' "$CHAT_KEY" | sha256sum | cut -d' ' -f1)

# provider NAME ANSWER LATENCY_MS PRICE
provider() {
    printf '{"name": "%s", "base_url": "%s", "timeout_ms": 10000,
      "headers": {"x-sim-answer": %s, "x-sim-latency-ms": "%s"},
      "models": [{"name": "m", "input_cost_per_mtok": %s, "output_cost_per_mtok": %s}]}' \
        "$1" "$SIM" "$(jq -Rn --arg a "$2" '$a')" "$3" "$4" "$4"
}
cat >"$WORK/table.json" <<EOF
{"version": 1,
 "providers": [
   $(provider four-a "The answer is 4." 20 1),
   $(provider four-b "I am sure: 4" 40 1),
   $(provider five-slow "5" 3000 1),
   $(provider cheap "not json at all" 0 0.1),
   $(provider dear '{"city": "Paris"}' 0 10),
   $(provider judge '{"best": 1, "score": 0.9}' 0 0)],
 "routes": [{"name": "fours", "strategy": "priority", "deployments": [{"provider": "four-a", "model": "m"}]}],
 "keys": [{"name": "all", "sha256": "$KEY_SHA"},
          {"name": "chat-only", "sha256": "$CHAT_SHA", "scopes": ["chat"]}]}
EOF

"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 2 \
    --http-threads 2 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$WORK/http.port" >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane >/dev/null
HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
BASE=http://127.0.0.1:$HTTP_PORT

CODE=
# ens BODY [curl args...]: POST /v1/ensembles; body in $WORK/body, headers
# in $WORK/headers, the status in $CODE.
ens() {
    local body=$1
    shift
    CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 20 \
        -H 'Content-Type: application/json' --data-binary "$body" "$@" "$BASE/v1/ensembles") ||
        fail "curl failed"
}
auth=(-H "Authorization: Bearer $API_KEY")
header() {
    tr -d '\r' <"$WORK/headers" | awk -v h="$1" -F': ' \
        'tolower($1) == h { sub(/^[^:]*: /, ""); print; exit }'
}
expect_code() {
    [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(head -c 400 "$WORK/body")"
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 900 "$WORK/body")"
}
# expect_error STATUS TYPE MESSAGE-PREFIX PARAM WHAT
expect_error() {
    expect_code "$1" "$5"
    expect_jq '(.error | keys) == ["code","message","param","type"]' "$5: error body shape"
    expect_jq ".error.type == \"$2\"" "$5: error type"
    expect_jq ".error.message | startswith(\"$3\")" "$5: message"
    if [ -n "$4" ]; then
        expect_jq ".error.param == \"$4\"" "$5: param"
    fi
}

Q='"request": {"messages": [{"role": "user", "content": "what is 2 + 2?"}]}'

# --- voting: two agreeing answers decide, the slow member is cancelled ------
ens "{$Q, \"config\": {\"method\": \"voting\", \"extract_pattern\": \"[0-9]+\",
      \"members\": [\"four-a/m\", {\"model\": \"four-b/m\", \"weight\": 2}, \"five-slow/m\"]}}" \
    "${auth[@]}"
expect_code 200 voting
expect_jq '.object == "chat.completion" and .choices[0].message.role == "assistant"' "voting: shape"
expect_jq '.choices[0].message.content == "I am sure: 4"' "voting: chosen answer (the heavier member)"
expect_jq '.usage.total_tokens > 0' "voting: usage"
expect_jq '.members | length == 3' "voting: every member"
expect_jq '.members[0].member == "four-a/m" and .members[0].state == "ok" and .members[0].agrees' \
    "voting: member 0"
expect_jq '.members[1].weight == 2 and .members[1].route.provider == "four-b"' "voting: member 1"
expect_jq '.members[2].state == "cancelled" and .members[2].content == null and
           (.members[2].error | test("stopped early"))' "voting: early stop"
expect_jq '.analysis.stopped_early and .analysis.chosen_member == 1 and .analysis.responses == 2 and
           .analysis.agreement == 1 and .analysis.cascade_stage == -1' "voting: analysis"
expect_jq '.analysis.wall_latency_ms < 2500' "voting: did not wait for the slow member"
[ "$(header x-llmgw-provider)" = four-b ] || fail "voting: x-llmgw-provider '$(header x-llmgw-provider)'"

# --- consensus with a route member and the proto's enum names ---------------
ens "{$Q, \"config\": {\"method\": \"ENSEMBLE_METHOD_CONSENSUS\", \"members\": [\"fours\", \"four-b/m\"],
      \"normalization\": \"none\", \"timeout_ms\": 5000}}" "${auth[@]}"
expect_code 200 consensus
expect_jq '.analysis.responses == 2 and (.analysis.outliers | type) == "array"' "consensus: analysis"
expect_jq '.members[0].route.route == "fours"' "consensus: a route member"

# --- cascade: the cheap stage fails the schema, the dear one is accepted -----
ens "{$Q, \"config\": {\"method\": \"cascade\", \"members\": [\"dear/m\", \"cheap/m\"],
      \"json_schema\": {\"type\": \"object\", \"required\": [\"city\"]}}}" "${auth[@]}"
expect_code 200 cascade
expect_jq '.choices[0].message.content == "{\"city\": \"Paris\"}"' "cascade: accepted answer"
expect_jq '.analysis.cascade_stage == 0 and .analysis.accepted and .members[1].state == "ok"' \
    "cascade: escalated from the cheap member"

# --- a judge picks -------------------------------------------------------------
ens "{$Q, \"config\": {\"method\": \"consensus\", \"members\": [\"four-a/m\", \"cheap/m\"],
      \"judge_model\": \"judge/m\"}}" "${auth[@]}"
expect_code 200 judge
expect_jq '.analysis.judge_output | test("score")' "judge: its output"
expect_jq '.analysis.judge_score == 0.9' "judge: its score"

# --- listed among the gateway's extensions -------------------------------------
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' "${auth[@]}" "$BASE/v1/extensions")
expect_code 200 extensions
expect_jq '[.gateway[].name] | index("ensembles") != null and index("response_cache") != null' \
    "extensions list ensembles and the response cache"

# --- auth first ------------------------------------------------------------------
ens "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\"]}}"
expect_error 401 invalid_request_error "" "" "no key"
ens "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\"]}}" \
    -H "Authorization: Bearer $CHAT_KEY"
expect_error 403 permission_error "" "" "a key without scope ensembles"
ens 'not json' -H "Authorization: Bearer $CHAT_KEY"
expect_error 403 permission_error "" "" "auth before the body is read"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' "${auth[@]}" "$BASE/v1/ensembles")
expect_error 405 invalid_request_error "method: " "" "GET /v1/ensembles"

# --- bad input: each names its JSON path ---------------------------------------
bad() { # BODY STATUS MESSAGE-PREFIX PARAM
    ens "$1" "${auth[@]}"
    expect_error "$2" invalid_request_error "$3" "$4" "bad body $1"
}
M='"members": ["four-a/m"]'
bad 'not json' 400 "body: invalid JSON at line 1" ""
bad '[1]' 400 "body: expected a JSON object" ""
bad '{"config": {}}' 400 "request: required" ""
bad "{$Q}" 400 "config: required" config
bad "{$Q, \"config\": 3}" 400 "config: expected an object" config
bad "{$Q, \"config\": {$M}, \"extra\": 1}" 400 "extra: unknown member" extra
bad "{$Q, \"config\": {$M}, \"config\": {$M}}" 400 "body: invalid JSON" ""
bad "{$Q, \"config\": {$M}}" 400 "config.method: required" config.method
bad "{$Q, \"config\": {\"method\": \"best\", $M}}" 400 "config.method: expected one of" config.method
bad "{$Q, \"config\": {\"method\": \"voting\"}}" 400 "config.members: required" config.members
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": {}}}" 400 "config.members: expected an array" config.members
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": []}}" 400 "config.members: at least one member" config.members
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [7]}}" 400 "config.members[0]: expected an object or a string" "config.members[0]"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [{\"weight\": 1}]}}" 400 "config.members[0].model: required" "config.members[0].model"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\", {\"model\": \"four-b/m\", \"weight\": \"x\"}]}}" 400 "config.members[1].weight: expected a number" "config.members[1].weight"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\", {\"model\": \"four-b/m\", \"weight\": -1}]}}" 400 "config.members[1].weight: expected a number >= 0" "config.members[1].weight"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\", {\"model\": \"m\", \"wait\": 1}]}}" 400 "config.members[1].wait: unknown member" "config.members[1].wait"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\", \"four-a/m\"]}}" 400 "config.members[1].model: duplicate" "config.members[1].model"
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [$(printf '"p%d/m",' $(seq 1 16))\"x/m\"]}}" 400 "config.members: at most 16" config.members
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"min_responses\": 2}}" 400 "config.min_responses: expected 0..1" config.min_responses
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"timeout_ms\": 1.5}}" 400 "config.timeout_ms: expected an integer" config.timeout_ms
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"member_timeout_ms\": -3}}" 400 "config.member_timeout_ms: expected an integer" config.member_timeout_ms
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"normalization\": \"loose\"}}" 400 "config.normalization: expected" config.normalization
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"require_agreement\": 1}}" 400 "config.require_agreement: expected a boolean" config.require_agreement
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"judge_threshold\": 0.5}}" 400 "config.judge_threshold: needs config.judge_model" config.judge_threshold
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"extract_pattern\": \"(a\"}}" 400 "config.extract_pattern: " config.extract_pattern
bad "{$Q, \"config\": {\"method\": \"cascade\", $M, \"json_schema\": [1]}}" 400 "config.json_schema: expected an object" config.json_schema
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"colour\": 1}}" 400 "config.colour: unknown member" config.colour
bad "{\"request\": {\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}, \"config\": {\"method\": \"voting\", $M}}" 400 "request.messages[0].role: " "request.messages[0].role"
bad "{\"request\": {\"messages\": []}, \"config\": {\"method\": \"voting\", $M}}" 400 "request.messages" ""
bad "{\"request\": {\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": \"hot\"}, \"config\": {\"method\": \"voting\", $M}}" 400 "request.temperature: expected a number" request.temperature
bad "{\"request\": {\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stream\": true}, \"config\": {\"method\": \"voting\", $M}}" 400 "request.stream: not supported" request.stream
bad "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"nowhere/m\"]}}" 404 "config.members[0].model: " "config.members[0].model"
bad "{$Q, \"config\": {\"method\": \"voting\", $M, \"judge_model\": \"nowhere/m\"}}" 404 "config.judge_model: " config.judge_model
ens "{$Q, \"config\": {\"method\": \"voting\", $M}}" "${auth[@]}" -H 'x-llmgw-timeout-ms: soon'
expect_error 400 invalid_request_error "x-llmgw-timeout-ms: " x-llmgw-timeout-ms "bad timeout header"

# --- a deadline: the only member is too slow ----------------------------------
ens "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"five-slow/m\"]}}" "${auth[@]}" \
    -H 'x-llmgw-timeout-ms: 300'
[ "$CODE" = 504 ] || [ "$CODE" = 503 ] || fail "deadline: expected 504 or 503, got $CODE: $(cat "$WORK/body")"
expect_jq '.error.message | length > 0' "deadline: message"

# --- a client that hangs up: the members are cancelled, the gateway lives on ----
curl -sS -o /dev/null --max-time 0.3 "${auth[@]}" -H 'Content-Type: application/json' \
    --data-binary "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"five-slow/m\"]}}" \
    "$BASE/v1/ensembles" 2>/dev/null && fail "hang-up: the slow request answered"
ens "{$Q, \"config\": {\"method\": \"voting\", \"members\": [\"four-a/m\"]}}" "${auth[@]}"
expect_code 200 "after a hang-up"

stop "$DP_PID"
DP_PID=
[ "$STOP_RC" = 0 ] || fail "llmgw-dataplane exited with $STOP_RC"
STATUS=0
echo "test_http_ensemble: ok"
