#!/usr/bin/env bash
# test_tls: mTLS between the planes, against a real PostgreSQL, with
# certificates made here by OpenSSL (tests/support/tls_certs.sh).
#
# Without --insecure-dev the control plane refuses to start without the
# three --tls flags and a data plane refuses --control-plane without its
# client certificate (the pushed table carries provider secrets); expired
# certificates and mismatched keys are refused at start, naming the flag. A
# control plane with mTLS serves the CLI (LLMGW_TLS_CA) and pushes tables
# to a data plane with a client certificate, which then serves chat; a data
# plane trusting the wrong CA, presenting a certificate of another CA, or
# none at all, never receives a table.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-tls-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"
# shellcheck source=../support/tls_certs.sh
. "$SRC/tests/support/tls_certs.sh"

C=$T/certs
tls_certs "$C"
export LLMGW_ADMIN_TOKEN=test-admin-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"

CP=("$BIN/llmgw-controlplane" --database-url "$PG_URL" --migrations-dir "$SRC/migrations"
  --listen 127.0.0.1:0 --workers 2 --grace-ms 500)
MTLS=(--tls-cert "$C/server.pem" --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem")
NODE=(--cp-ca "$C/ca.pem" --cp-cert "$C/client.pem" --cp-key "$C/client.key")

# --- refused at start -------------------------------------------------------
check_fails "a control plane without TLS needs --insecure-dev" 2 \
  "--tls-cert: required: data planes receive provider secrets only over mTLS" "${CP[@]}"
check_fails "a control plane without a client CA" 2 "--tls-client-ca: required" \
  "${CP[@]}" --tls-cert "$C/server.pem" --tls-key "$C/server.key"
check_fails "an expired control-plane certificate" 2 "--tls-cert $C/expired.pem: certificate 1 expired on Jan  2" \
  "${CP[@]}" --tls-cert "$C/expired.pem" --tls-key "$C/expired.key" --tls-client-ca "$C/ca.pem"
check_fails "a key of another certificate" 2 "--tls-key $C/client.key: the key does not match" \
  "${CP[@]}" --tls-cert "$C/server.pem" --tls-key "$C/client.key" --tls-client-ca "$C/ca.pem"
check_fails "a certificate without its key" 2 "--tls-cert and --tls-key: give both or neither" \
  "${CP[@]}" --tls-cert "$C/server.pem" --tls-client-ca "$C/ca.pem"
check_fails "a key file that is not PEM" 2 "no unencrypted PEM private key" \
  "${CP[@]}" --tls-cert "$C/server.pem" --tls-key "$C/ca.pem" --tls-client-ca "$C/ca.pem"
check_fails "a missing CA file" 2 "--tls-client-ca $T/none.pem: No such file or directory" \
  "${CP[@]}" "${MTLS[@]:0:4}" --tls-client-ca "$T/none.pem"
check_fails "a data plane without its client certificate" 2 "--cp-ca: required with --control-plane" \
  "$BIN/llmgw-dataplane" --control-plane 127.0.0.1:1 --node-id n1
check_fails "a data plane with only the CA" 2 "--cp-cert: required with --control-plane" \
  "$BIN/llmgw-dataplane" --control-plane 127.0.0.1:1 --node-id n1 --cp-ca "$C/ca.pem"
check_fails "an expired client certificate" 2 "--cp-cert $C/expired-client.pem: certificate 1 expired" \
  "$BIN/llmgw-dataplane" --control-plane 127.0.0.1:1 --node-id n1 --cp-ca "$C/ca.pem" \
  --cp-cert "$C/expired-client.pem" --cp-key "$C/expired-client.key"
check_fails "control-plane TLS flags without --control-plane" 2 "only with --control-plane" \
  "$BIN/llmgw-dataplane" --table /dev/null --cp-ca "$C/ca.pem"

# --- a control plane with mTLS ----------------------------------------------
"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
SIM_PORT=$(cat "$T/sim.port")
"${CP[@]}" "${MTLS[@]}" --port-file "$T/cp.port" >"$T/cp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/cp.port" || { cat "$T/cp.log" >&2; exit 1; }
CP_PORT=$(cat "$T/cp.port")
export LLMGW_CONTROL_TARGET=127.0.0.1:$CP_PORT
grep -q 'tls=mtls' "$T/cp.log" && pass "the control plane logs mtls" || fail "the control plane logs mtls"

check_fails "the CLI in plaintext is refused" 1 "UNAVAILABLE" "$BIN/llmgw" provider list --timeout-ms 3000
check_fails "the CLI trusting another CA is refused" 1 "UNAVAILABLE" \
  env LLMGW_TLS_CA="$C/other-ca.pem" "$BIN/llmgw" provider list --timeout-ms 3000
check_fails "the CLI with a CA file that is not PEM" 1 "LLMGW_TLS_CA $C/ca.key: no PEM certificate" \
  env LLMGW_TLS_CA="$C/ca.key" "$BIN/llmgw" provider list --timeout-ms 3000
export LLMGW_TLS_CA=$C/ca.pem
check "an admin over TLS with a token (no client certificate)" \
  "$BIN/llmgw" provider add sim --base-url "http://127.0.0.1:$SIM_PORT/v1" --api-key sk-over-tls-secret
check "model add over TLS" "$BIN/llmgw" model add sim/gpt-4o-mini --input-cost 0.15 --output-cost 0.6
check "route add over TLS" "$BIN/llmgw" route add chat --deployment sim/gpt-4o-mini,weight=1
check "health over TLS" "$BIN/llmgw" health --target "127.0.0.1:$CP_PORT"

launch_dp() { # NAME FLAGS...: a managed data plane (it listens once it has a table)
  local name=$1
  shift
  "$BIN/llmgw-dataplane" --control-plane "127.0.0.1:$CP_PORT" --node-id "$name" \
    --listen 127.0.0.1:0 --port-file "$T/$name.port" --http-listen 127.0.0.1:0 \
    --threads 1 --grace-ms 500 "$@" >"$T/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name}_PID=$!"
}
launch_dp good "${NODE[@]}"
launch_dp wrongca --cp-ca "$C/other-ca.pem" --cp-cert "$C/client.pem" --cp-key "$C/client.key"
launch_dp rogue --cp-ca "$C/ca.pem" --cp-cert "$C/rogue.pem" --cp-key "$C/rogue.key"
launch_dp nocert --insecure-dev --cp-ca "$C/ca.pem"
if wait_file "$T/good.port"; then
  pass "a data plane with a client certificate receives the table"
  if env -u LLMGW_TLS_CA "$BIN/llmgw" chat --target "127.0.0.1:$(cat "$T/good.port")" --model chat "over mtls" \
    >"$T/chat.out" 2>"$T/chat.err" && [ -s "$T/chat.out" ]; then
    pass "and serves chat from it"
  else
    fail "and serves chat from it"
    cat "$T/chat.err" "$T/good.log" >&2
  fi
else
  fail "a data plane with a client certificate receives the table"
  cat "$T/good.log" "$T/cp.log" >&2
fi
# The bad ones had as long as the good one, and more: none got a table.
sleep 2
for n in wrongca rogue nocert; do
  if [ -e "$T/$n.port" ]; then fail "$n: no table"; else pass "$n: no table"; fi
done
grep -qi "certificate verify failed\|CERTIFICATE_VERIFY_FAILED\|handshake" "$T/wrongca.log" &&
  pass "a data plane trusting another CA says the handshake failed" ||
  { fail "a data plane trusting another CA says the handshake failed"; cat "$T/wrongca.log" >&2; }
grep -q "UNAUTHENTICATED\|data-plane methods need mTLS" "$T/nocert.log" &&
  pass "a data plane without a certificate is told it needs one" ||
  { fail "a data plane without a certificate is told it needs one"; cat "$T/nocert.log" >&2; }
if grep -q "over-tls-secret" "$T"/wrongca.log "$T"/rogue.log "$T"/nocert.log; then
  fail "no secret in the refused nodes' logs"
else pass "no secret in the refused nodes' logs"; fi

# --- the client-facing gRPC listener with mTLS ------------------------------
unset LLMGW_TLS_CA
cat >"$T/table.json" <<EOF
{"version": 1,
 "providers": [{"name": "sim", "base_url": "http://127.0.0.1:$SIM_PORT/v1",
   "models": [{"name": "gpt-4o-mini"}]}],
 "routes": [{"name": "chat", "strategy": "priority",
   "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}]}
EOF
"$BIN/llmgw-dataplane" --table "$T/table.json" --listen 127.0.0.1:0 --port-file "$T/edge.port" \
  --http-listen 127.0.0.1:0 --threads 1 --grace-ms 500 \
  --tls-cert "$C/server.pem" --tls-key "$C/server.key" --tls-client-ca "$C/ca.pem" \
  >"$T/edge.log" 2>&1 &
PIDS+=($!)
wait_file "$T/edge.port" || { cat "$T/edge.log" >&2; exit 1; }
EDGE=127.0.0.1:$(cat "$T/edge.port")
check "a client with a certificate of the client CA is served" \
  env LLMGW_TLS_CA="$C/ca.pem" LLMGW_TLS_CERT="$C/client.pem" LLMGW_TLS_KEY="$C/client.key" \
  "$BIN/llmgw" chat --target "$EDGE" --model chat "edge mtls"
check_fails "a client without a certificate is refused" 1 "UNAVAILABLE" \
  env LLMGW_TLS_CA="$C/ca.pem" "$BIN/llmgw" chat --target "$EDGE" --model chat --timeout-ms 3000 "x"
check_fails "a client with a certificate of another CA is refused" 1 "UNAVAILABLE" \
  env LLMGW_TLS_CA="$C/ca.pem" LLMGW_TLS_CERT="$C/rogue.pem" LLMGW_TLS_KEY="$C/rogue.key" \
  "$BIN/llmgw" chat --target "$EDGE" --model chat --timeout-ms 3000 "x"
check_fails "a plaintext client is refused" 1 "UNAVAILABLE" \
  "$BIN/llmgw" chat --target "$EDGE" --model chat --timeout-ms 3000 "x"
check_fails "the CLI refuses an expired client certificate before dialling" 1 \
  "LLMGW_TLS_CERT $C/expired-client.pem: certificate 1 expired" \
  env LLMGW_TLS_CA="$C/ca.pem" LLMGW_TLS_CERT="$C/expired-client.pem" \
  LLMGW_TLS_KEY="$C/expired-client.key" "$BIN/llmgw" chat --target "$EDGE" --model chat "x"
# A client that does present the expired certificate (openssl's s_client
# checks nothing of its own): the listener fails the handshake ("certificate
# verify failed" in its log) and closes without an answer, while the same
# handshake with a good certificate completes. TLS 1.2, where the client
# certificate is checked inside the handshake.
s_client() { # CERT: the handshake's output
  openssl s_client -tls1_2 -connect "$EDGE" -alpn h2 -CAfile "$C/ca.pem" -cert "$C/$1.pem" \
    -key "$C/$1.key" </dev/null 2>&1 || true
}
s_client client >"$T/s_good.out"
s_client expired-client >"$T/s_expired.out"
if ! grep -q "unexpected eof" "$T/s_good.out" && grep -q "unexpected eof" "$T/s_expired.out" &&
  grep -q "certificate verify failed" "$T/edge.log"; then
  pass "a presented expired certificate fails the handshake"
else
  fail "a presented expired certificate fails the handshake"
  grep -i "error\|verify" "$T/s_good.out" "$T/s_expired.out" "$T/edge.log" >&2
fi

echo "$FAILS failed"
[ "$FAILS" = 0 ]
