#!/usr/bin/env bash
# test_governance_e2e: the governance story of issue 11 as one user lives it,
# across every service — a real PostgreSQL, llmgw-controlplane, llmgw-sim as
# the provider (a known price per token, echoing what it receives) and a
# managed data plane, driven only through the llmgw CLI and the two front
# doors.
#
# An admin creates a team and a key (secret shown once) and a service calls
# the data plane with it over gRPC and HTTP; finance sets a hard monthly team
# budget and, once spent, both front doors refuse naming it while `budget
# list` shows it spent; security sets a team policy with PII redaction and a
# token cap, and the simulator never sees the email or card number; `usage
# report --by team` counts the team's requests; compliance lists and verifies
# the audit log as an auditor, whose token may read budgets but not create
# keys (PERMISSION_DENIED, itself audited).
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-gov-e2e.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

L() { "$BIN/llmgw" "$@"; }
version() { psql_q "SELECT coalesce(max(version), 0) FROM routing_table_versions"; }
wait_acked() { # wait_acked VERSION: the node acked it (10 s)
  local i
  for i in $(seq 1 100); do
    [ "$(psql_q "SELECT acked_version FROM dataplane_nodes WHERE node_id = 'e2e'")" -ge "$1" ] &&
      return 0
    sleep 0.1
  done
  return 1
}
http_chat() { # http_chat SECRET BODY: prints the HTTP status; the body lands in $T/http.out
  curl -s -o "$T/http.out" -w '%{http_code}' "http://127.0.0.1:$DP_HTTP/v1/chat/completions" \
    -H 'content-type: application/json' -H "authorization: Bearer $1" -d "$2"
}
HELLO='{"model":"chat","messages":[{"role":"user","content":"hello governance"}]}'

unset LLMGW_CONTROL_TARGET LLMGW_API_KEY
export LLMGW_ADMIN_TOKEN=e2e-admin-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"

"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
SIM_PORT=$(cat "$T/sim.port")
"$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --port-file "$T/cp.port" --workers 3 --grace-ms 500 >"$T/cp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/cp.port" || { cat "$T/cp.log" >&2; exit 1; }
CP_PORT=$(cat "$T/cp.port")
export LLMGW_CONTROL_TARGET=127.0.0.1:$CP_PORT

# $10 000 per million tokens: a cent a token, so a request costs a few cents.
check "provider add" L provider add sim --base-url "http://127.0.0.1:$SIM_PORT/v1"
check "model add" L model add sim/gpt-4o-mini --input-cost 10000 --output-cost 10000
check "route add" L route add chat --deployment sim/gpt-4o-mini
mkdir -p "$T/state"
"$BIN/llmgw-dataplane" --insecure-dev --control-plane "$LLMGW_CONTROL_TARGET" --node-id e2e \
  --listen 127.0.0.1:0 --port-file "$T/dp.port" --http-listen 127.0.0.1:0 \
  --http-port-file "$T/dp.http" --state-dir "$T/state" --threads 1 --http-threads 1 \
  --grace-ms 500 >"$T/dp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/dp.http" || { cat "$T/dp.log" >&2; exit 1; }
DP_PORT=$(cat "$T/dp.port")
DP_HTTP=$(cat "$T/dp.http")

# --- an admin: a team and a key; the secret is shown once --------------------------
check "team create" L team create search --description "search team"
check "key create" L key create svc --team search --scopes chat,ensembles --rpm 600 --tpm 200000
SVC=$(cat "$T/out")
grep -q "not be shown again" "$T/err" && pass "the secret is printed once, with a warning" ||
  fail "the secret is printed once, with a warning"
wait_acked "$(version)" || fail "the node acks the table with the key"
check "the key calls the data plane over gRPC" \
  L chat --target "127.0.0.1:$DP_PORT" --key "$SVC" --model chat "hello governance"
[ "$(http_chat "$SVC" "$HELLO")" = 200 ] && pass "the key calls the data plane over HTTP" ||
  { fail "the key calls the data plane over HTTP"; cat "$T/http.out" >&2; }
[ "$(http_chat "not-a-key" '{"model":')" = 401 ] &&
  pass "an unknown key with a malformed body gets 401 only" || fail "an unknown key with a malformed body gets 401 only"
check_fails "the key lacks the models scope" 1 "PERMISSION_DENIED" \
  L models --target "127.0.0.1:$DP_PORT" --key "$SVC"
KEYLIST=$(L key list --json)
if grep -qF "$SVC" <<<"$KEYLIST"; then fail "key list never shows the secret"; else pass "key list never shows the secret"; fi

# --- security: a team policy with redaction and a token cap ------------------------
check "policy set (team)" L policy set search-rules --scope team --team search \
  --redact email,card --max-tokens 64
wait_acked "$(version)" || fail "the node acks the table with the policy"
PII='{"model":"chat","messages":[{"role":"user","content":"mail ann@example.com card 4111 1111 1111 1111"}]}'
[ "$(http_chat "$SVC" "$PII")" = 200 ] && pass "a prompt with PII is served" ||
  { fail "a prompt with PII is served"; cat "$T/http.out" >&2; }
if grep -qF -e "ann@example.com" -e "4111 1111 1111 1111" "$T/http.out"; then
  fail "the simulator never saw the email or the card number"
  cat "$T/http.out" >&2
elif grep -qF "[REDACTED_EMAIL]" "$T/http.out" && grep -qF "[REDACTED_CARD]" "$T/http.out"; then
  pass "the simulator never saw the email or the card number (it echoed the redacted text)"
else
  fail "the simulator echoed the redacted text"
  cat "$T/http.out" >&2
fi
OVER='{"model":"chat","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}'
[ "$(http_chat "$SVC" "$OVER")" = 403 ] && grep -q "search-rules" "$T/http.out" &&
  pass "max_tokens over the policy's cap is 403 naming the policy" ||
  { fail "max_tokens over the policy's cap is 403 naming the policy"; cat "$T/http.out" >&2; }

# --- finance: a hard monthly team budget -------------------------------------------
check "budget set (team, monthly, hard)" L budget set search-monthly --team search --period monthly \
  --limit-usd 2 --hard
wait_acked "$(version)" || fail "the node acks the table with the budget"
# A node that used up its lease refuses until the control plane grants the
# next slice, so one 429 may come before the budget is spent: spend until the
# node has refused several times in a row with time to renew in between.
served=0 refused=0 in_a_row=0
for i in $(seq 1 400); do
  code=$(http_chat "$SVC" "$HELLO")
  case $code in
  200) served=$((served + 1)) in_a_row=0 ;;
  429) refused=$((refused + 1)) in_a_row=$((in_a_row + 1)); sleep 0.3 ;;
  *) fail "unexpected status $code while spending"; cat "$T/http.out" >&2; break ;;
  esac
  [ "$in_a_row" -ge 5 ] && break
done
[ "$in_a_row" -ge 5 ] && grep -q "budget 'search-monthly'" "$T/http.out" &&
  pass "once spent, HTTP answers 429 naming the budget ($served served)" ||
  { fail "once spent, HTTP answers 429 naming the budget ($served served)"; cat "$T/http.out" >&2; }
check_fails "once spent, gRPC answers RESOURCE_EXHAUSTED naming the budget" 1 \
  "RESOURCE_EXHAUSTED: budget 'search-monthly'" \
  L chat --target "127.0.0.1:$DP_PORT" --key "$SVC" --model chat "one more"
for i in $(seq 1 100); do
  L budget list --output json >"$T/budgets.json" 2>/dev/null || true
  python3 -c "
import json,sys
d=json.load(open('$T/budgets.json'))
b=[x for x in d.get('budgets', []) if x.get('budget', {}).get('name')=='search-monthly']
sys.exit(0 if b and float(b[0].get('percent', 0)) >= 90 else 1)" 2>/dev/null && break
  sleep 0.1
done
check "budget list" L budget list
grep -q "search-monthly" "$T/out" && pass "budget list shows the team budget near or past its limit" ||
  { fail "budget list shows the team budget"; cat "$T/out" >&2; }

# --- usage by team -----------------------------------------------------------------
for i in $(seq 1 100); do
  [ "$(psql_q "SELECT count(*) FROM usage_events WHERE team = 'search' AND api_key = 'svc'")" -ge $((served + refused + 5)) ] && break
  sleep 0.1
done
check "usage report --by team" L usage report --by team --since 1h --format csv
# Served: the budget loop's, plus the first gRPC and HTTP calls and the PII one;
# the refusals after authentication (policy 403, every budget 429 and the gRPC
# one) are counted as errors.
awk -F, -v want=$((served + 3)) -v errs=$((refused + 2)) \
  '$1 == "search" && $2 - $3 == want && $3 == errs { ok = 1 } END { exit !ok }' "$T/out" &&
  pass "usage report counts every request of the team (served and refused)" ||
  { fail "usage report counts every served request of the team"; cat "$T/out" >&2; }

# --- compliance: an auditor reads, may not write, and the denial is audited ---------
L token create compliance --role auditor >"$T/auditor.tok" 2>/dev/null
AUD=$(cat "$T/auditor.tok")
check "the auditor lists the audit log" env LLMGW_ADMIN_TOKEN="$AUD" "$BIN/llmgw" audit list --limit 50
grep -q "api_key.create" "$T/out" && grep -q "budget" "$T/out" && grep -q "policy" "$T/out" &&
  pass "the audit log shows the key, policy and budget changes" ||
  { fail "the audit log shows the key, policy and budget changes"; cat "$T/out" >&2; }
check "the auditor lists budgets" env LLMGW_ADMIN_TOKEN="$AUD" "$BIN/llmgw" budget list
check_fails "the auditor may not create keys" 1 "PERMISSION_DENIED" \
  env LLMGW_ADMIN_TOKEN="$AUD" "$BIN/llmgw" key create sneaky --team search
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = 'compliance' AND actor_role = 'auditor' AND peer <> ''")" = 1 ] &&
  pass "the denied call is audited with the token's name, role and address" ||
  fail "the denied call is audited with the token's name, role and address"
check "audit verify" env LLMGW_ADMIN_TOKEN="$AUD" "$BIN/llmgw" audit verify
if grep -qF -e "$SVC" -e "$LLMGW_ADMIN_TOKEN" -e "$AUD" <(pg_dump "$PG_URL"); then
  fail "no secret in the database"
else
  pass "no secret in the database"
fi

# --- revoking the key refuses it at once; the gateway stays closed ---------------------
check "key revoke" L key revoke svc
wait_acked "$(version)" || fail "the node acks the table without the key"
[ "$(http_chat "$SVC" "$HELLO")" = 401 ] && pass "the revoked key is refused (401)" ||
  fail "the revoked key is refused (401)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DP_HTTP/v1/chat/completions" \
  -H 'content-type: application/json' -d "$HELLO")" = 401 ] &&
  pass "with no key left, callers without one are still refused" ||
  fail "with no key left, callers without one are still refused"

[ "$FAILS" = 0 ] || { echo "$FAILS check(s) failed; the logs ended:" >&2; tail -n 5 "$T"/*.log >&2; exit 1; }
echo "all governance end-to-end checks passed"
