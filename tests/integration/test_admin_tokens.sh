#!/usr/bin/env bash
# test_admin_tokens: admin authentication of the control plane against a real,
# private PostgreSQL (tests/support/pg_cluster.sh; one cluster, two databases).
#
# First start without a configured token prints a one-time token once and
# stores only its hash; wrong, missing and revoked tokens are UNAUTHENTICATED;
# `llmgw token create|list|revoke` and their bad inputs; a token created on
# replica A (or inserted behind the control plane's back, with no NOTIFY) is
# accepted by replica B — also for a data plane's WatchRoutingTable; a
# revocation reaches B at once; a restart keeps the tokens and bootstraps
# nothing; LLMGW_BOOTSTRAP_TOKEN seeds an empty database; every change is
# audited and no token is anywhere in the database.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-tok-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"
sha256_hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

start_cp() { # start_cp NAME [DB_URL]: a replica on a free port; sets NAME_PORT, NAME_PID
  local url=${2:-$PG_URL}
  rm -f "$T/$1.port"
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$url" --migrations-dir "$SRC/migrations" \
    --listen 127.0.0.1:0 --port-file "$T/$1.port" --workers 2 --grace-ms 500 \
    >>"$T/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
  wait_file "$T/$1.port" || { cat "$T/$1.log" >&2; return 1; }
  eval "${1}_PORT=$(cat "$T/$1.port")"
}
stop_cp() { # stop_cp NAME
  local pid_var=${1}_PID rc=0
  kill "${!pid_var}"
  wait "${!pid_var}" || rc=$?
  [ "$rc" = 0 ] && pass "$1 exits 0 on SIGTERM" || fail "$1 exits 0 on SIGTERM (exit $rc)"
}
llmgw_on() { # llmgw_on PORT TOKEN ARGS...: the CLI against one replica
  local port=$1 token=$2
  shift 2
  "$BIN/llmgw" "$@" --target "127.0.0.1:$port" --token "$token"
}

unset LLMGW_ADMIN_TOKEN LLMGW_BOOTSTRAP_TOKEN LLMGW_CONTROL_PLANE_TOKEN LLMGW_CONTROL_TARGET
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"

# --- first start: a one-time token, stored hashed ---------------------------
start_cp cpa
BOOT=$(sed -n 's/^LLMGW_ONE_TIME_ADMIN_TOKEN=\([0-9a-f]\{64\}\)$/\1/p' "$T/cpa.log")
if [ -n "$BOOT" ] && [ "$(grep -c "$BOOT" "$T/cpa.log")" = 1 ] &&
  grep -q "==== llmgw one-time admin token" "$T/cpa.log"; then
  pass "first start prints a one-time token once, in a marked line"
else
  fail "first start prints a one-time token once"
  cat "$T/cpa.log" >&2
fi
[ "$(psql_q "SELECT count(*) FROM admin_tokens WHERE name = 'bootstrap'
  AND sha256 = decode('$(sha256_hex "$BOOT")', 'hex') AND role = 'admin'")" = 1 ] &&
  pass "the database holds the token's sha256" || fail "the database holds the token's sha256"

check "the one-time token authorizes calls" llmgw_on "$cpa_PORT" "$BOOT" provider list
check_fails "a wrong token is UNAUTHENTICATED" 1 "UNAUTHENTICATED: authorization: admin token not valid" \
  llmgw_on "$cpa_PORT" "not-the-admin-token-at-all" provider list
check_fails "a wrong token on the token service is UNAUTHENTICATED" 1 "UNAUTHENTICATED" \
  llmgw_on "$cpa_PORT" "not-the-admin-token-at-all" token list

# --- token create / list / revoke ------------------------------------------
check "token create prints a new token" llmgw_on "$cpa_PORT" "$BOOT" token create ci
CI=$(cat "$T/out")
[[ "$CI" =~ ^[0-9a-f]{64}$ ]] && grep -q "shown only now" "$T/err" &&
  pass "the new token is alone on stdout, the note on stderr" ||
  { fail "the new token is alone on stdout"; cat "$T/out" "$T/err" >&2; }
check "the new token authorizes calls" llmgw_on "$cpa_PORT" "$CI" token list
if grep -q "^ci  *admin  *$(sha256_hex "$CI" | cut -c1-8)\.\.\. .* active$" "$T/out" &&
  grep -q "^bootstrap " "$T/out" && ! grep -qF -e "$CI" -e "$BOOT" -e "$(sha256_hex "$CI")" \
  -e "$(sha256_hex "$BOOT")" "$T/out"; then
  pass "token list shows names and hash prefixes, never a token or a full hash"
else
  fail "token list shows names and hash prefixes only"
  cat "$T/out" >&2
fi
check "token list --output json" llmgw_on "$cpa_PORT" "$CI" token list --output json
python3 -c "
import json,sys; d=json.load(open('$T/out'))
names=[t['name'] for t in d['tokens']]
sys.exit(0 if names==['bootstrap','ci'] and all(len(t['sha256_prefix'])==8 for t in d['tokens']) else 1)" &&
  pass "json listing by name with 8-digit prefixes" || { fail "json listing"; cat "$T/out" >&2; }
check_fails "duplicate token name" 1 "ALREADY_EXISTS: admin_token.name: 'ci' already exists" \
  llmgw_on "$cpa_PORT" "$BOOT" token create ci
check_fails "invalid token name" 1 "INVALID_ARGUMENT: name" \
  llmgw_on "$cpa_PORT" "$BOOT" token create 'bad name'
check_fails "unknown role" 1 "INVALID_ARGUMENT: role: expected one of admin, operator, auditor, got 'root'" \
  llmgw_on "$cpa_PORT" "$BOOT" token create ops --role root
check_fails "revoke of an unknown token" 1 "NOT_FOUND: admin token 'ghost': not found" \
  llmgw_on "$cpa_PORT" "$BOOT" token revoke ghost
check_fails "token without an action" 2 "expected an action" "$BIN/llmgw" token --token x
check_fails "token create without a name" 2 "create: NAME: required" "$BIN/llmgw" token create --token x

# --- a second replica: same tokens, no second bootstrap ---------------------
export LLMGW_BOOTSTRAP_TOKEN=ignored-bootstrap-token-$RANDOM$RANDOM
start_cp cpb
unset LLMGW_BOOTSTRAP_TOKEN
if ! grep -q "ONE_TIME_ADMIN_TOKEN" "$T/cpb.log" && grep -q "LLMGW_BOOTSTRAP_TOKEN ignored" "$T/cpb.log" &&
  [ "$(psql_q 'SELECT count(*) FROM admin_tokens')" = 2 ]; then
  pass "a replica on a database with tokens bootstraps nothing"
else
  fail "a replica on a database with tokens bootstraps nothing"
  cat "$T/cpb.log" >&2
fi
check "replica B accepts a token created on replica A" llmgw_on "$cpb_PORT" "$CI" provider list
check "token created on A, used on B at once" llmgw_on "$cpa_PORT" "$CI" token create ci2
CI2=$(cat "$T/out")
check "replica B accepts it immediately" llmgw_on "$cpb_PORT" "$CI2" token list
# Behind the control plane's back (no NOTIFY): B finds it on the miss.
SQLTOK=sql-token-$RANDOM$RANDOM$RANDOM
psql_q "INSERT INTO admin_tokens (name, sha256) VALUES ('sql', decode('$(sha256_hex "$SQLTOK")', 'hex'))"
check "a token B never heard of is found by the reload on a miss" llmgw_on "$cpb_PORT" "$SQLTOK" provider list
DPTOK=dp-token-$RANDOM$RANDOM$RANDOM
psql_q "INSERT INTO admin_tokens (name, sha256) VALUES ('dp', decode('$(sha256_hex "$DPTOK")', 'hex'))"
LLMGW_CONTROL_PLANE_TOKEN=$DPTOK "$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$cpb_PORT" \
  --node-id dp1 --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --threads 1 --grace-ms 500 \
  >"$T/dp1.log" 2>&1 &
PIDS+=($!)
dp1_PID=$!
for i in $(seq 1 50); do
  llmgw_on "$cpb_PORT" "$CI" nodes >"$T/nodes.txt" 2>&1 || true
  grep -q "^dp1 " "$T/nodes.txt" && break
  sleep 0.1
done
grep -q "^dp1 " "$T/nodes.txt" && pass "a data plane's token (new to B) opens WatchRoutingTable" ||
  { fail "a data plane's token opens WatchRoutingTable"; cat "$T/nodes.txt" "$T/dp1.log" >&2; }

# --- revocation reaches every replica ---------------------------------------
check "token revoke" llmgw_on "$cpa_PORT" "$BOOT" token revoke ci
grep -q "admin token ci revoked" "$T/out" && pass "revoke reports" || fail "revoke reports"
for i in $(seq 1 30); do
  rc=0
  llmgw_on "$cpb_PORT" "$CI" provider list >/dev/null 2>"$T/err" || rc=$?
  [ "$rc" = 1 ] && break
  sleep 0.1
done
[ "$rc" = 1 ] && grep -q UNAUTHENTICATED "$T/err" && pass "a token revoked on A is refused by B" ||
  fail "a token revoked on A is refused by B"
check_fails "a revoked token is refused by A" 1 "UNAUTHENTICATED" llmgw_on "$cpa_PORT" "$CI" provider list
check_fails "revoking twice" 1 "FAILED_PRECONDITION: admin token 'ci': already revoked" \
  llmgw_on "$cpa_PORT" "$BOOT" token revoke ci
check_fails "a revoked name stays taken" 1 "ALREADY_EXISTS" llmgw_on "$cpa_PORT" "$BOOT" token create ci
check "revoke ci2" llmgw_on "$cpb_PORT" "$BOOT" token revoke ci2
check "revoke sql" llmgw_on "$cpb_PORT" "$BOOT" token revoke sql
check "revoke dp" llmgw_on "$cpb_PORT" "$BOOT" token revoke dp
check_fails "the last active token cannot be revoked" 1 \
  "FAILED_PRECONDITION: admin token 'bootstrap': the last active token cannot be revoked" \
  llmgw_on "$cpa_PORT" "$BOOT" token revoke bootstrap
check "token list after revocations" llmgw_on "$cpa_PORT" "$BOOT" token list
grep -q "^ci .*revoked 20" "$T/out" && pass "list marks revoked tokens" || { fail "list marks revoked tokens"; cat "$T/out" >&2; }
for i in $(seq 1 30); do
  [ "$(psql_q "SELECT count(*) FROM admin_tokens WHERE name = 'bootstrap' AND last_used_at IS NOT NULL")" = 1 ] && break
  sleep 0.1
done
[ "$i" -lt 30 ] && pass "last_used_at is recorded" || fail "last_used_at is recorded"

# --- audit, and no token anywhere in the database ---------------------------
[ "$(psql_q "SELECT string_agg(action || ' ' || object, ',' ORDER BY id) FROM audit_log")" = \
  "admin_token.bootstrap admin_token/bootstrap,admin_token.create admin_token/ci,admin_token.create admin_token/ci2,admin_token.revoke admin_token/ci,admin_token.revoke admin_token/ci2,admin_token.revoke admin_token/sql,admin_token.revoke admin_token/dp" ] &&
  pass "each token change has its audit row" ||
  { fail "each token change has its audit row"; psql_q "SELECT id, actor, action, object, detail FROM audit_log" >&2; }
pg_dump "$PG_URL" >"$T/dump.sql"
if grep -qF -e "$BOOT" -e "$CI" -e "$CI2" -e "$SQLTOK" "$T/dump.sql"; then
  fail "a plaintext token found in the database"
else
  pass "no plaintext token anywhere in the database (pg_dump)"
fi
if grep -qF -e "$CI" -e "$CI2" "$T"/cp*.log; then fail "a created token was logged"; else
  pass "created tokens are never logged"
fi

# --- restart keeps the tokens -----------------------------------------------
kill "$dp1_PID"
wait "$dp1_PID" 2>/dev/null || true
stop_cp cpa
stop_cp cpb
start_cp cpa
[ "$(grep -c "ONE_TIME_ADMIN_TOKEN" "$T/cpa.log")" = 1 ] && pass "a restart prints no second token" ||
  fail "a restart prints no second token"
check "the bootstrap token still works after a restart" llmgw_on "$cpa_PORT" "$BOOT" token list
check_fails "the revoked token stays revoked after a restart" 1 "UNAUTHENTICATED" \
  llmgw_on "$cpa_PORT" "$CI" token list
stop_cp cpa

# --- LLMGW_BOOTSTRAP_TOKEN seeds an empty database ---------------------------
psql_q "CREATE DATABASE boot2" >/dev/null
BOOT2=operator-chosen-token-$RANDOM$RANDOM
LLMGW_BOOTSTRAP_TOKEN=$BOOT2 LLMGW_ADMIN_TOKEN=not-this-one-$RANDOM$RANDOM start_cp cpc \
  "postgresql://postgres@127.0.0.1:$PG_PORT/boot2"
! grep -q "ONE_TIME_ADMIN_TOKEN" "$T/cpc.log" && grep -q "source=LLMGW_BOOTSTRAP_TOKEN" "$T/cpc.log" &&
  pass "LLMGW_BOOTSTRAP_TOKEN is taken and not printed" || { fail "LLMGW_BOOTSTRAP_TOKEN is taken"; cat "$T/cpc.log" >&2; }
check "LLMGW_BOOTSTRAP_TOKEN authorizes calls" llmgw_on "$cpc_PORT" "$BOOT2" token list
stop_cp cpc
psql_q "CREATE DATABASE boot3" >/dev/null
check_fails "a too short bootstrap token stops the first start" 1 \
  "LLMGW_BOOTSTRAP_TOKEN: expected 16 to 512 characters" \
  env LLMGW_BOOTSTRAP_TOKEN=short "$BIN/llmgw-controlplane" --insecure-dev \
  --database-url "postgresql://postgres@127.0.0.1:$PG_PORT/boot3" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0
[ "$(psql "postgresql://postgres@127.0.0.1:$PG_PORT/boot3" -X -q -t -A -c 'SELECT count(*) FROM admin_tokens')" = 0 ] &&
  pass "the refused bootstrap left no row" || fail "the refused bootstrap left no row"

if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T"/*.log; then
  fail "sanitizer reports in process logs"
fi
if [ "$FAILS" != 0 ]; then
  echo "$FAILS check(s) failed; logs in $T were:" >&2
  tail -n 20 "$T"/cp*.log "$T"/dp*.log >&2 || true
  exit 1
fi
echo "all admin-token checks passed"
