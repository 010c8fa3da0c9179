#!/usr/bin/env bash
# test_tls_http: HTTPS on both HTTP listeners (docs/tls.md), with the test
# certificates of tests/support/tls_certs.sh, curl, grpc-js and the official
# openai SDK.
#
# Data plane, --tls-cert/--tls-key, two HTTP event loops: /v1/models, a chat
# completion, a stream (its content reassembled), a slow stream (many
# suspend/resume turns), a 240 KB body and answer, two requests on one
# kept-alive connection, the openai SDK (NODE_EXTRA_CA_CERTS); plaintext HTTP
# to the TLS port gets no answer; a client trusting another CA refuses the
# server; gRPC over TLS (grpc-js) answers; a silent TCP connection does
# not make the event loop spin. With --tls-client-ca: no client
# certificate 401 (client_certificate_required, the message names the flag),
# probes included; client.pem 200, also for a stream and a second request on
# the connection; rogue.pem (another CA), expired-client.pem and server.pem
# (no clientAuth usage) 401 invalid_client_certificate naming why (the
# handshake completes: libmicrohttpd only asks for a certificate, the door
# refuses); gRPC with client.pem answers, without a certificate fails.
# Start refusals (exit 2): an expired --tls-cert, a key that does not match
# (--tls-key), --tls-cert alone (both named). Control plane: the console
# over HTTPS (GET /, GET /api/ with an admin token); plaintext gets no answer.
# Every server must exit 0 on SIGTERM.
#
# Needs curl, jq, openssl, node >= 18 (npm packages of tests/interop, fetched
# once), PostgreSQL's server binaries. Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR.
set -euo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
INTEROP=$SRC_DIR/tests/interop
API_KEY=sk-tls-$$-$RANDOM
START_TIMEOUT_S=20
TEST_NAME=test_tls_http

fail() {
    echo "test_tls_http: FAIL: $*" >&2
    exit 1
}
for tool in curl jq openssl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/bootstrap installs it)"
done
for b in llmgw-sim llmgw-dataplane llmgw-controlplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done
# shellcheck source=../support/node_deps.sh
. "$SRC_DIR/tests/support/node_deps.sh"
node_deps_ensure "$INTEROP" "grpc-js and openai"

WORK=$(mktemp -d /tmp/llmgw-tls-http.XXXXXX)
SIM_PID=
DP_PID=
CP_PID=
STATUS=1
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
# shellcheck source=../support/pg_cluster.sh
. "$SRC_DIR/tests/support/pg_cluster.sh"
# shellcheck source=../support/tls_certs.sh
. "$SRC_DIR/tests/support/tls_certs.sh"
CHECK_SIM_STOP=0
cleanup() {
    local rc=$? cp_rc=0
    if [ -n "$CP_PID" ]; then
        stop "$CP_PID"
        cp_rc=$STOP_RC
    fi
    pg_cluster_stop
    if [ "$STATUS" = 0 ] && [ "$cp_rc" != 0 ]; then
        echo "$TEST_NAME: llmgw-controlplane exited with status $cp_rc on SIGTERM" >&2
        rc=1
    fi
    set +e # hands rc on through $? (procs_cleanup reads it), not an errexit
    (exit "$rc")
    procs_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

C=$WORK/certs
tls_certs "$C" || fail "tls_certs.sh could not make the test certificates"
start_sim sim-a
SIM=http://127.0.0.1:$SIM_PORT/v1
KEY_SHA=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
DRIP_ANSWER=$(for i in $(seq 1 30); do printf 'word%d ' "$i"; done)
cat >"$WORK/table.json" <<EOF
{"version": 1,
 "providers": [
   {"name": "sim-a", "base_url": "$SIM", "api_key": "sk-sim", "timeout_ms": 30000,
    "models": [{"name": "gpt-4o-mini"}, {"name": "text-embedding-3-small"}]},
   {"name": "sim-drip", "base_url": "$SIM",
    "headers": {"x-sim-tokens-per-s": "40", "x-sim-answer": "$DRIP_ANSWER"},
    "models": [{"name": "gpt-4o-mini"}]},
   {"name": "sim-limited", "base_url": "$SIM", "headers": {"x-sim-status": "429"},
    "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "chat-default", "strategy": "priority",
   "deployments": [{"provider": "sim-a", "model": "gpt-4o-mini", "priority": 0}]}],
 "keys": [{"name": "tls", "sha256": "$KEY_SHA", "team": "test"}]}
EOF

# start_dp ARGS...: a data plane on free ports with these TLS flags; sets
# DP_PID, HTTP_PORT, GRPC_PORT.
start_dp() {
    rm -f "$WORK/grpc.port" "$WORK/http.port"
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 2 \
        --http-threads 2 --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 \
        --http-port-file "$WORK/http.port" "$@" >>"$WORK/dataplane.log" 2>&1 &
    DP_PID=$!
    GRPC_PORT=$(wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane)
    HTTP_PORT=$(wait_port "$DP_PID" "$WORK/http.port" llmgw-dataplane)
    BASE=https://127.0.0.1:$HTTP_PORT
}
stop_dp() {
    stop "$DP_PID"
    [ "$STOP_RC" = 0 ] || fail "llmgw-dataplane exited with status $STOP_RC on SIGTERM"
    DP_PID=
}

# req CERT METHOD PATH [BODY] [curl args...]: over HTTPS trusting ca.pem,
# with client certificate CERT (a name in $C, or - for none); body in
# $WORK/body, status in $CODE. The TLS handshake must succeed.
CODE=
req() {
    local cert=$1 method=$2 path=$3 body=${4-}
    shift 4 || shift $#
    local args=(-sS -o "$WORK/body" -w '%{http_code}' -X "$method" --cacert "$C/ca.pem"
        -H "Authorization: Bearer $API_KEY" --max-time 20)
    [ "$cert" = - ] || args+=(--cert "$C/$cert.pem" --key "$C/$cert.key")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    CODE=$(curl "${args[@]}" "$@" "$BASE$path") || fail "$method $path (cert $cert): curl failed"
}
expect_code() {
    [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $(head -c 400 "$WORK/body")"
}
expect_jq() {
    jq -e "$1" "$WORK/body" >/dev/null 2>&1 || fail "$2: $1 is false for $(head -c 600 "$WORK/body")"
}
# The content of the SSE stream in $WORK/body, its deltas joined; fails
# unless it ends with [DONE].
stream_content() {
    [ "$(grep '^data: ' "$WORK/body" | tail -n 1)" = "data: [DONE]" ] ||
        fail "$1: the stream does not end with data: [DONE]: $(tail -c 300 "$WORK/body")"
    grep '^data: {' "$WORK/body" | sed 's/^data: //' | jq -rj '.choices[0].delta.content // empty'
}
# grpc_health CERT: Health/Check over TLS (grpc-js, trusting ca.pem), with
# client certificate CERT or - for none; prints SERVING or "error CODE ...".
grpc_health() {
    NODE_NO_WARNINGS=1 INTEROP=$INTEROP CA=$C/ca.pem CERT=${1/#-/} CDIR=$C TARGET=127.0.0.1:$GRPC_PORT node -e '
        const grpc = require(process.env.INTEROP + "/node_modules/@grpc/grpc-js");
        const fs = require("fs"), e = process.env;
        const creds = e.CERT
            ? grpc.credentials.createSsl(fs.readFileSync(e.CA),
                  fs.readFileSync(`${e.CDIR}/${e.CERT}.key`), fs.readFileSync(`${e.CDIR}/${e.CERT}.pem`))
            : grpc.credentials.createSsl(fs.readFileSync(e.CA));
        const client = new grpc.Client(e.TARGET, creds);
        const id = (b) => b;
        client.makeUnaryRequest("/grpc.health.v1.Health/Check", id, id, Buffer.alloc(0),
            { deadline: Date.now() + 10000 }, (err, res) => {
                // HealthCheckResponse { status = 1 (SERVING) }: bytes 08 01.
                if (err) console.log(`error ${err.code} ${err.details}`);
                else console.log(res.equals(Buffer.from([8, 1])) ? "SERVING" : `answer ${res.toString("hex")}`);
                client.close();
            });'
}

CHAT='{"model":"chat-default","messages":[{"role":"user","content":"hello there"}]}'
STREAM='{"model":"chat-default","stream":true,"messages":[{"role":"user","content":"hello there"}]}'

# --- data plane: HTTPS ----------------------------------------------------------
start_dp --tls-cert "$C/server.pem" --tls-key "$C/server.key"
grep -q 'tls=on' "$WORK/dataplane.log" || fail "the data plane does not log tls=on"

req - GET /v1/models ""
expect_code 200 "https models"
expect_jq '[.data[].id] | index("chat-default") != null' "https models lists the route"

req - POST /v1/chat/completions "$CHAT"
expect_code 200 "https chat"
expect_jq '.choices[0].message.content == "[sim-a] hello there"' "https chat content"

req - POST /v1/chat/completions "$STREAM" -N
expect_code 200 "https stream"
got=$(stream_content "https stream")
[ "$got" = "[sim-a] hello there" ] || fail "https stream: content is '$got'"

# 30 words at 40 tokens/s: the stream waits on the upstream between chunks,
# each wait a suspend and a resume of the TLS connection.
req - POST /v1/chat/completions \
    '{"model":"sim-drip/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}' -N
expect_code 200 "https slow stream"
got=$(stream_content "https slow stream")
[ "$(echo "$got" | wc -w)" -ge 30 ] && [[ "$got" == *word30* ]] ||
    fail "https slow stream: content is '$got'"

# A body and an answer of many TLS records each (16 KB per record).
BIG=$(head -c 240000 /dev/zero | tr '\0' 'a' | fold -w 7 | tr '\n' ' ')
printf '{"model":"chat-default","messages":[{"role":"user","content":"%s"}]}' "$BIG" >"$WORK/big.json"
req - POST /v1/chat/completions "" -H 'Content-Type: application/json' --data-binary "@$WORK/big.json"
expect_code 200 "https 240 KB body"
[ "$(jq -r '.choices[0].message.content | length' "$WORK/body")" -ge 240000 ] ||
    fail "https 240 KB body: the answer is $(jq -r '.choices[0].message.content | length' "$WORK/body") characters"

# Two requests, one connection (keep-alive over TLS).
out=$(curl -sS --cacert "$C/ca.pem" -H "Authorization: Bearer $API_KEY" -o /dev/null -o /dev/null \
    -w '%{http_code} %{num_connects}\n' "$BASE/v1/models" "$BASE/v1/models") ||
    fail "keep-alive: curl failed"
[ "$(echo "$out" | tr '\n' ' ')" = "200 1 200 0 " ] || fail "keep-alive: got '$out' (want 200 1, 200 0)"

# Plaintext HTTP to the TLS port: the handshake fails, no HTTP answer.
rc=0
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$HTTP_PORT/v1/models" \
    2>"$WORK/curl.err") || rc=$?
[ "$rc" != 0 ] && [ "$code" = 000 ] || fail "plaintext to the TLS port: curl rc=$rc code=$code"
# A client that trusts another CA: certificate verification fails (60).
rc=0
curl -sS -o /dev/null --max-time 10 --cacert "$C/other-ca.pem" "$BASE/v1/models" 2>"$WORK/curl.err" ||
    rc=$?
[ "$rc" = 60 ] || fail "another CA's client: curl rc=$rc (want 60): $(cat "$WORK/curl.err")"

got=$(grpc_health -)
[ "$got" = SERVING ] || fail "grpc over TLS: $got"

# A TCP connection that never starts its handshake must not make the event
# loop spin (libmicrohttpd 0.9.75 asks to be run again at once while a
# handshake waits; before ha_run capped it: 58-102 ticks in 2 s, 30-50 % of
# a core). Allowed: 20 ticks (10 %), room for a loaded machine.
cpu_ticks() { sed 's/^.*) //' "/proc/$DP_PID/stat" | awk '{ print $12 + $13 }'; }
exec {silent}<>"/dev/tcp/127.0.0.1/$HTTP_PORT"
sleep 0.3
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
exec {silent}>&-
[ $((t1 - t0)) -le 20 ] ||
    fail "a silent TCP connection cost the data plane $((t1 - t0)) CPU ticks in 2 s (want <= 20)"

# The official SDK, which only needs the CA in Node's trust store.
NODE_EXTRA_CA_CERTS=$C/ca.pem node "$INTEROP/openai_client.js" --base-url "$BASE/v1" \
    --key "$API_KEY" --route chat-default --sim-name sim-a \
    --limited-model sim-limited/gpt-4o-mini >"$WORK/openai.out" 2>&1 ||
    fail "openai SDK over https: $(grep -v '^ok' "$WORK/openai.out" | head -20)"
stop_dp

# --- data plane: HTTPS with client certificates -------------------------------
start_dp --tls-cert "$C/server.pem" --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem"
grep -q 'tls=mtls' "$WORK/dataplane.log" || fail "the data plane does not log tls=mtls"

# expect_refused CERT CODE NEEDLE: 401 with the OpenAI error shape.
expect_refused() {
    req "$1" GET /v1/models ""
    expect_code 401 "client certificate $1"
    expect_jq '(.error | keys) == ["code","message","param","type"]' "client certificate $1: error shape"
    expect_jq ".error.type == \"invalid_request_error\" and .error.code == \"$2\"" \
        "client certificate $1: error code"
    jq -r .error.message "$WORK/body" | grep -qF -- "$3" ||
        fail "client certificate $1: message '$(jq -r .error.message "$WORK/body")' lacks '$3'"
}
expect_refused - client_certificate_required \
    "a client certificate signed by the gateway's --tls-client-ca is required"
req - GET /healthz ""
expect_code 401 "healthz without a client certificate"
req client GET /v1/models ""
expect_code 200 "client.pem"
req client POST /v1/chat/completions "$STREAM" -N
expect_code 200 "client.pem stream"
got=$(stream_content "client.pem stream")
[ "$got" = "[sim-a] hello there" ] || fail "client.pem stream: content is '$got'"
# rogue.pem is by another CA: the handshake completes (GnuTLS was only
# asked to request a certificate) and the door refuses the request.
expect_refused rogue invalid_client_certificate \
    "client certificate \"CN=rogue\" did not verify: not signed by the gateway's --tls-client-ca"
expect_refused expired-client invalid_client_certificate \
    "client certificate \"CN=dp-1\" did not verify: expired"
expect_refused server invalid_client_certificate "not meant for client authentication"
# A verified connection stays verified for its next request.
out=$(curl -sS --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key" \
    -H "Authorization: Bearer $API_KEY" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    "$BASE/v1/models" "$BASE/v1/models") || fail "mtls keep-alive: curl failed"
[ "$(echo "$out" | tr '\n' ' ')" = "200 1 200 0 " ] || fail "mtls keep-alive: got '$out'"
grep -q 'http client certificate refused' "$WORK/dataplane.log" ||
    fail "no log line for a refused client certificate"

got=$(grpc_health client)
[ "$got" = SERVING ] || fail "grpc mtls with client.pem: $got"
got=$(grpc_health -)
[[ "$got" == "error 14 "* ]] || fail "grpc mtls without a client certificate: '$got' (want error 14 UNAVAILABLE)"
stop_dp

# --- data plane: refused at start ------------------------------------------------
# refuse NEEDLE... -- ARGS...: exit 2, every needle in stderr.
refuse() {
    local needles=() rc=0
    while [ "$1" != -- ]; do needles+=("$1"); shift; done
    shift
    "$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 \
        --http-listen 127.0.0.1:0 "$@" >"$WORK/refused.out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "llmgw-dataplane $*: exit $rc (want 2): $(cat "$WORK/refused.out")"
    for n in "${needles[@]}"; do
        grep -qF -- "$n" "$WORK/refused.out" ||
            fail "llmgw-dataplane $*: '$(cat "$WORK/refused.out")' lacks '$n'"
    done
}
refuse --tls-cert expired -- --tls-cert "$C/expired.pem" --tls-key "$C/expired.key"
refuse --tls-key "does not match" -- --tls-cert "$C/server.pem" --tls-key "$C/client.key"
refuse --tls-cert --tls-key -- --tls-cert "$C/server.pem"

# --- control plane: the console over HTTPS ---------------------------------------
export LLMGW_ADMIN_TOKEN=tls-admin-token-$RANDOM-$RANDOM-$RANDOM
LLMGW_MASTER_KEY=$(openssl rand -hex 32)
export LLMGW_MASTER_KEY
unset LLMGW_BOOTSTRAP_TOKEN LLMGW_DATABASE_URL LLMGW_CONTROL_PLANE_TOKEN
chmod 755 "$WORK" # as root the cluster runs as postgres, which must reach $WORK/pg
pg_cluster_start "$WORK/pg" || fail "PostgreSQL did not start"
"$BIN_DIR/llmgw-controlplane" --database-url "$PG_URL" --migrations-dir "$SRC_DIR/migrations" \
    --listen 127.0.0.1:0 --port-file "$WORK/cp.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$WORK/cp-http.port" --tls-cert "$C/server.pem" --tls-key "$C/server.key" \
    --tls-client-ca "$C/ca.pem" --grace-ms 500 >"$WORK/controlplane.log" 2>&1 &
CP_PID=$!
CP_HTTP=$(wait_port "$CP_PID" "$WORK/cp-http.port" llmgw-controlplane)
code=$(curl -sS -o "$WORK/index.html" -w '%{http_code} %{content_type}' --max-time 10 \
    --cacert "$C/ca.pem" "https://127.0.0.1:$CP_HTTP/") || fail "console over https: curl failed"
[[ "$code" == "200 text/html"* ]] || fail "console over https: GET / answered '$code'"
grep -qi '<html' "$WORK/index.html" || fail "console over https: GET / is not the console page"
code=$(curl -sS -o "$WORK/body" -w '%{http_code}' --max-time 10 --cacert "$C/ca.pem" \
    -H "Authorization: Bearer $LLMGW_ADMIN_TOKEN" "https://127.0.0.1:$CP_HTTP/api/") ||
    fail "console api over https: curl failed"
[ "$code" = 200 ] || fail "console api over https: GET /api/ answered $code: $(head -c 300 "$WORK/body")"
rc=0
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$CP_HTTP/" \
    2>"$WORK/curl.err") || rc=$?
[ "$rc" != 0 ] && [ "$code" = 000 ] || fail "plaintext to the console: curl rc=$rc code=$code"
# The console's threads poll their sockets: a silent connection costs nothing.
exec {silent}<>"/dev/tcp/127.0.0.1/$CP_HTTP"
sleep 0.3
t0=$(DP_PID=$CP_PID cpu_ticks)
sleep 2
t1=$(DP_PID=$CP_PID cpu_ticks)
exec {silent}>&-
[ $((t1 - t0)) -le 20 ] ||
    fail "a silent TCP connection cost the control plane $((t1 - t0)) CPU ticks in 2 s (want <= 20)"

STATUS=0
echo "test_tls_http: ok"
