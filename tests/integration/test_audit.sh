#!/usr/bin/env bash
# test_audit: the audit log for compliance, against a real, private
# PostgreSQL (tests/support/pg_cluster.sh) and a real control plane.
#
# Update rows name the earlier value of each changed setting;
# `llmgw audit list` (filters by time, actor, action family and prefix,
# object; limits and paging; --json) and its bad inputs, an inverted range
# refused by the control plane naming the field; `audit export` as csv and
# jsonl (to stdout and atomically to a file) whose rows chain by hash;
# `audit verify` over the RPC and straight from PostgreSQL, intact and then
# naming the row a superuser rewrote with the triggers disabled; audit_log
# append-only in the database (UPDATE / DELETE / TRUNCATE refused by trigger
# as the superuser, by grant as the llmgw_app role, and a control plane
# running as that role still works); the compliance views; the RPC's own
# checks and paging from grpc-js (audit_rpc.js); and no secret
# (admin token, provider API key, master key) anywhere in the log or export.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-audit-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

start_cp() { # start_cp NAME URL: a control plane on a free port; sets NAME_PORT
  rm -f "$T/$1.port"
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$2" --migrations-dir "$SRC/migrations" \
    --listen 127.0.0.1:0 --port-file "$T/$1.port" --workers 2 --grace-ms 500 \
    >>"$T/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
  wait_file "$T/$1.port" || { cat "$T/$1.log" >&2; return 1; }
  eval "${1}_PORT=$(cat "$T/$1.port")"
}
audit() { "$BIN/llmgw" audit "$@"; }
psql_app() { psql "$APP_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }
refused() { # refused NAME NEEDLE SQL-RUNNER SQL: the statement fails with NEEDLE
  local name=$1 needle=$2 runner=$3 sql=$4 rc=0
  "$runner" "$sql" >"$T/out" 2>"$T/err" || rc=$?
  if [ "$rc" != 0 ] && grep -qF -- "$needle" "$T/err"; then pass "$name"; else
    fail "$name (exit $rc, want '$needle')"
    cat "$T/out" "$T/err" >&2
  fi
}

unset LLMGW_DATABASE_URL LLMGW_BOOTSTRAP_TOKEN
export LLMGW_ADMIN_TOKEN=audit-admin-token-$RANDOM$RANDOM$RANDOM
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
PROVIDER_KEY=sk-audit-secret-$RANDOM$RANDOM$RANDOM
PROVIDER_KEY2=sk-audit-rotated-$RANDOM$RANDOM$RANDOM
pg_cluster_start "$T/pg"
start_cp cp "$PG_URL"
export LLMGW_CONTROL_TARGET=127.0.0.1:$cp_PORT

# --- some history -------------------------------------------------------------
check "provider add (with an API key)" "$BIN/llmgw" provider add sim \
  --base-url http://127.0.0.1:9/v1 --api-key "$PROVIDER_KEY"
check "provider edit (new API key, timeout)" "$BIN/llmgw" provider edit sim --api-key "$PROVIDER_KEY2" \
  --upstream-timeout-ms 1234
[ "$(psql_q "SELECT detail FROM audit_log WHERE action = 'provider.update'")" = \
  "preset=custom base_url=http://127.0.0.1:9/v1 auth_style=bearer wire_format= api_version= timeout_ms=1234 region= enabled=true headers=0 api_key=replaced before: timeout_ms=60000 api_key=set" ] &&
  pass "an update's detail names the changed settings' earlier values, the key only as set" ||
  { fail "update detail before -> after"; psql_q "SELECT detail FROM audit_log WHERE action = 'provider.update'" >&2; }
check "model add" "$BIN/llmgw" model add sim/m1 --quality 0.5
check "model edit" "$BIN/llmgw" model edit sim/m1 --quality 0.9
[ "$(psql_q "SELECT detail FROM audit_log WHERE action = 'model.update'")" = \
  "input_cost_per_mtok=0 output_cost_per_mtok=0 context_window=0 quality=0.9 before: quality=0.5" ] &&
  pass "a model update names the earlier quality" ||
  { fail "model update detail"; psql_q "SELECT detail FROM audit_log WHERE action = 'model.update'" >&2; }
check "provider add other" "$BIN/llmgw" provider add other_1 --base-url http://127.0.0.1:9/v1
check "token create ci" "$BIN/llmgw" token create ci
CI=$(cat "$T/out")
check "token create auditor" "$BIN/llmgw" token create aud --role auditor
AUD=$(cat "$T/out")
MID=$(psql_q "SELECT (floor(extract(epoch FROM max(at)) * 1000) + 1)::bigint FROM audit_log")
sleep 0.05
check "provider delete as ci" "$BIN/llmgw" provider remove other_1 --token "$CI"
check_fails "a denied call" 1 "PERMISSION_DENIED" "$BIN/llmgw" provider add denied_1 --base-url http://127.0.0.1:9/v1 --token "$AUD"
N=$(psql_q "SELECT count(*) FROM audit_log")

# --- list -------------------------------------------------------------------
check "audit list" audit list
[ "$(sed -n 1p "$T/out" | tr -s ' ')" = "ID AT ACTOR ROLE PEER ACTION OBJECT DETAIL" ] &&
  [ "$(($(wc -l <"$T/out") - 1))" = "$N" ] &&
  sed -n 2p "$T/out" | grep -q "^$N  *20[0-9-]*T[0-9:.]*Z  *aud  *auditor  *ipv4:127.0.0.1:[0-9]*  *access.denied  */llmgw.v1.RegistryService/CreateProvider  *role=auditor class=registry$" &&
  pass "list: an aligned table, newest first, every row" || { fail "list table"; cat "$T/out" >&2; }
check "audit list --json as the auditor" audit list --json --token "$AUD"
python3 - "$T/out" "$N" <<'PY' && pass "list --json: rows with every field, ids descending" || fail "list --json"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
ids = [r["id"] for r in rows]
assert len(rows) == int(sys.argv[2]) and ids == sorted(ids, reverse=True), ids
for k in ("id", "at", "at_unix_ms", "actor", "actor_role", "peer", "action", "object", "detail", "row_hash"):
    assert all(k in r for r in rows), k
assert all(len(r["row_hash"]) == 64 for r in rows)
PY
check "list --action provider (a family)" audit list --action provider --output json
[ "$(python3 -c "import json;print(' '.join(r['action'] for r in json.load(open('$T/out'))['rows']))")" = \
  "provider.delete provider.create provider.update provider.create" ] &&
  pass "an action family matches its verbs, newest first" || { fail "action family"; cat "$T/out" >&2; }
check "list --action admin_token.create (exact)" audit list --action admin_token.create --json
[ "$(python3 -c "import json;print(' '.join(r['object'] for r in json.load(open('$T/out'))['rows']))")" = \
  "admin_token/aud admin_token/ci" ] && pass "an exact action ('_' is no wildcard)" || fail "exact action"
check "list --action 'admin*' (a prefix)" audit list --action 'admin*' --json
[ "$(python3 -c "import json;print(len(json.load(open('$T/out'))['rows']))")" = 3 ] &&
  pass "a trailing * matches a prefix" || fail "prefix action"
check "list --actor ci" audit list --actor ci --json
[ "$(python3 -c "import json;print([(r['actor'],r['action']) for r in json.load(open('$T/out'))['rows']])")" = \
  "[('ci', 'provider.delete')]" ] && pass "--actor names the token" || { fail "--actor"; cat "$T/out" >&2; }
check "list --target provider/sim" audit list --target provider/sim --json
[ "$(python3 -c "import json;print(len(json.load(open('$T/out'))['rows']))")" = 2 ] &&
  pass "--target filters the object" || fail "--target"
check "list --object 'provider/*'" audit list --object 'provider/*' --json
[ "$(python3 -c "import json;print(len(json.load(open('$T/out'))['rows']))")" = 4 ] &&
  pass "--object with a prefix" || fail "--object prefix"
check "list --since (Unix ms)" audit list --since "$MID" --json
[ "$(python3 -c "import json;print(' '.join(r['action'] for r in json.load(open('$T/out'))['rows']))")" = \
  "access.denied provider.delete" ] && pass "--since bounds the start" || { fail "--since"; cat "$T/out" >&2; }
MID_RFC=$(python3 -c "import datetime;print(datetime.datetime.fromtimestamp($MID/1000, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]+'Z')")
check "list --until (RFC 3339)" audit list --until "$MID_RFC" --json
[ "$(python3 -c "import json;print(len(json.load(open('$T/out'))['rows']))")" = $((N - 2)) ] &&
  pass "--until bounds the end (RFC 3339)" || { fail "--until"; cat "$T/out" >&2; }
check "list --since a date --until far future" audit list --since 2020-01-01 --until 9999-01-01T00:00:00+02:00 --json
[ "$(python3 -c "import json;print(len(json.load(open('$T/out'))['rows']))")" = "$N" ] &&
  pass "a date and an offset time" || fail "date bounds"
check "list --limit 2" audit list --limit 2
[ "$(wc -l <"$T/out")" = 3 ] && pass "--limit caps the rows" || fail "--limit"
check "list --actor nobody" audit list --actor nobody
[ "$(wc -l <"$T/out")" = 1 ] && pass "no match: the header alone" || fail "no match"

# --- bad input ----------------------------------------------------------------
check_fails "inverted range: the control plane names the field" 1 \
  "INVALID_ARGUMENT: filter.until_unix_ms: must be after filter.since_unix_ms" \
  audit list --since 2026-02-01 --until 2026-01-01
check_fails "equal bounds are inverted too" 1 "filter.until_unix_ms" audit list --since 5 --until 5
check_fails "a bad --since" 2 "--since: expected Unix milliseconds, YYYY-MM-DD or an RFC 3339 time" \
  audit list --since yesterday
check_fails "an impossible date" 2 "--until: expected" audit list --until 2026-02-30
check_fails "a time without an offset" 2 "missing the UTC offset" audit list --since 2026-01-01T10:00:00
check_fails "a bad --limit" 2 "--limit: expected an integer in 1..10000000, got '0'" audit list --limit 0
check_fails "an empty --actor" 2 "--actor: must not be empty" audit list --actor ''
check_fails "an unknown flag" 2 "unknown flag '--colour'" audit list --colour
check_fails "an unknown action" 2 "unknown action 'purge'" audit purge
check_fails "no action" 2 "expected an action: list, verify or export" audit
check_fails "--target is the object here" 2 "the control plane's address is --control-plane" \
  audit list --target "127.0.0.1:$cp_PORT"
check_fails "a bad --control-plane" 2 "--control-plane: expected HOST:PORT" audit list --control-plane nowhere
check_fails "export needs --format" 2 "export: --format: required" audit export
check_fails "a bad --format" 2 "--format: expected csv or jsonl, got 'xml'" audit export --format xml
check_fails "verify takes no filters" 2 "verify: takes no filters" audit verify --actor ci
check_fails "--database-url is for verify" 2 "--database-url: only for verify" \
  audit list --database-url "$PG_URL"
check_fails "a filter value too long" 1 "INVALID_ARGUMENT: filter.actor: longer than 256 bytes" \
  audit list --actor "$(printf 'a%.0s' $(seq 1 300))"
check_fails "a filter with a control character" 1 "INVALID_ARGUMENT: filter.object: control character at byte 1" \
  audit list --object "$(printf 'a\tb')"
check_fails "a wrong token" 1 "UNAUTHENTICATED" audit list --token not-a-token-at-all-here
check_fails "an unreachable control plane" 1 "UNAVAILABLE" audit list --control-plane 127.0.0.1:1 --timeout-ms 2000

# --- export -------------------------------------------------------------------
check "export --format csv" audit export --format csv --token "$AUD"
cp "$T/out" "$T/audit.csv"
check "export --format jsonl --output FILE" audit export --format jsonl --output "$T/audit.jsonl"
grep -q "$N audit rows written to $T/audit.jsonl" "$T/err" && [ ! -e "$T/out.tmp" ] &&
  [ -z "$(ls "$T" | grep '\.tmp\.')" ] && pass "export to a file reports and leaves no temporary" ||
  { fail "export to a file"; cat "$T/err" >&2; }
python3 - "$T/audit.csv" "$T/audit.jsonl" "$N" <<'PY' && pass "csv and jsonl hold every row in chain order" ||
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))
lines = [json.loads(l) for l in open(sys.argv[2])]
n = int(sys.argv[3])
assert len(rows) == n and len(lines) == n, (len(rows), len(lines))
assert [int(r["id"]) for r in rows] == [l["id"] for l in lines] == sorted(l["id"] for l in lines)
assert rows[0]["prev_hash"] == "0" * 64
for a, b in zip(rows, rows[1:]):
    assert b["prev_hash"] == a["row_hash"]
for r, l in zip(rows, lines):
    assert r["detail"] == l["detail"] and r["at"] == l["at"] and int(r["at_unix_ms"]) == l["at_unix_ms"]
    assert r["peer"] == l["peer"] and r["actor_role"] == l["actor_role"]
PY
  fail "csv and jsonl hold every row in chain order"
check "export with a filter and --limit" audit export --format jsonl --action provider --limit 3
[ "$(wc -l <"$T/out")" = 3 ] && ! grep -qv '"action":"provider\.' "$T/out" &&
  pass "export honours the filter and --limit" || { fail "export filter"; cat "$T/out" >&2; }
check_fails "export into a missing directory" 1 "--output: cannot create" \
  audit export --format csv --output "$T/no/such/dir/a.csv"
echo "keep me" >"$T/old.csv"
check_fails "a failed export leaves the old file" 1 "UNAUTHENTICATED" \
  audit export --format csv --output "$T/old.csv" --token not-a-token-at-all-here
[ "$(cat "$T/old.csv")" = "keep me" ] && [ -z "$(ls "$T" | grep '\.tmp\.')" ] &&
  pass "the old file untouched, no temporary left" || fail "failed export left its mark"

# --- no secret in the log -------------------------------------------------------
pg_dump "$PG_URL" -t audit_log >"$T/audit_dump.sql"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
leak=0
for s in "$PROVIDER_KEY" "$PROVIDER_KEY2" "$LLMGW_ADMIN_TOKEN" "$CI" "$AUD" "$LLMGW_MASTER_KEY" \
  "$(sha "$CI")" "$(sha "$AUD")" "$(sha "$LLMGW_ADMIN_TOKEN")"; do
  grep -qF -- "$s" "$T/audit_dump.sql" "$T/audit.csv" "$T/audit.jsonl" && leak=1
done
[ "$leak" = 0 ] && grep -q "api_key=set" "$T/audit.csv" &&
  pass "no admin token, token hash, provider key or master key in audit_log or its export" ||
  fail "a secret reached the audit log"

# --- verify -------------------------------------------------------------------
check "verify over the RPC (auditor)" audit verify --token "$AUD"
grep -q "^audit log intact ($N rows)$" "$T/out" && pass "verify reports the rows checked" ||
  { fail "verify output"; cat "$T/out" >&2; }
check "verify straight from PostgreSQL" audit verify --database-url "$PG_URL"
check "verify via LLMGW_DATABASE_URL" env LLMGW_DATABASE_URL="$PG_URL" LLMGW_ADMIN_TOKEN= "$BIN/llmgw" audit verify
check_fails "--database-url with --token" 2 "--database-url: cannot be combined" \
  audit verify --database-url "$PG_URL" --token "$AUD"

# --- the RPC itself, from grpc-js: fields the CLI never sends, paging ------------------
# The interop packages, installed here too: on a fresh machine this test may run
# before (or beside) the interop tests; node_deps.sh serializes the installs.
if ! (TEST_NAME=test_audit
  fail() { echo "FAIL - $1" >&2; exit 1; }
  # shellcheck source=../support/node_deps.sh
  . "$SRC/tests/support/node_deps.sh"
  node_deps_ensure "$SRC/tests/interop" "@grpc/grpc-js and @grpc/proto-loader"); then
  fail "node and the interop packages are installed"
fi
NODE_PATH="$SRC/tests/interop/node_modules" node "$SRC/tests/integration/audit_rpc.js" \
  "127.0.0.1:$cp_PORT" "$AUD" "$SRC/proto" "$N" >"$T/rpc.txt" 2>&1 || true
cat "$T/rpc.txt"
[ "$(grep -c '^ok - ' "$T/rpc.txt")" = 12 ] && ! grep -q '^not ok' "$T/rpc.txt" &&
  pass "AuditService over grpc-js: 12 checks" || fail "AuditService over grpc-js"

# --- append-only in the database ---------------------------------------------------
refused "UPDATE as the superuser: the trigger" "audit_log is append-only" psql_q \
  "UPDATE audit_log SET actor = 'mallory' WHERE id = 1"
refused "DELETE as the superuser: the trigger" "audit_log is append-only" psql_q \
  "DELETE FROM audit_log WHERE id = 1"
refused "TRUNCATE as the superuser: the trigger" "audit_log is append-only" psql_q "TRUNCATE audit_log"
[ "$(psql_q "SELECT count(*) FROM audit_log")" = "$N" ] && pass "every row still there" || fail "rows lost"
psql_q "CREATE ROLE llmgw_cp LOGIN IN ROLE llmgw_app" >/dev/null
APP_URL="postgresql://llmgw_cp@127.0.0.1:$PG_PORT/postgres"
refused "UPDATE as the application role: the grant" "permission denied for table audit_log" psql_app \
  "UPDATE audit_log SET actor = 'mallory' WHERE id = 1"
refused "DELETE as the application role: the grant" "permission denied for table audit_log" psql_app \
  "DELETE FROM audit_log"
refused "TRUNCATE as the application role: the grant" "permission denied for table audit_log" psql_app \
  "TRUNCATE audit_log"
refused "UPDATE through a compliance view" "permission denied for view audit_key_activity" psql_app \
  "UPDATE audit_key_activity SET actor = 'mallory'"
[ "$(psql_app "SELECT count(*) FROM audit_denied_calls")" = 1 ] &&
  pass "the application role reads the views" || fail "app role reads the views"
[ "$(psql_q "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants
  WHERE grantee = 'llmgw_app' AND table_name = 'audit_log'")" = "INSERT,SELECT" ] &&
  pass "llmgw_app holds INSERT and SELECT on audit_log, nothing more" || fail "llmgw_app grants"
start_cp cpapp "$APP_URL"
check "a control plane running as the application role makes changes" \
  "$BIN/llmgw" provider add app --base-url http://127.0.0.1:9/v1 --target "127.0.0.1:$cpapp_PORT"
[ "$(psql_q "SELECT actor || ' ' || action || ' ' || object FROM audit_log ORDER BY id DESC LIMIT 1")" = \
  "bootstrap provider.create provider/app" ] && pass "its change is audited" ||
  { fail "app-role change audited"; psql_q "SELECT * FROM audit_log ORDER BY id DESC LIMIT 2" >&2; }
check "the chain is intact after its row" audit verify --control-plane "127.0.0.1:$cpapp_PORT"

# --- compliance views ----------------------------------------------------------
[ "$(psql_q "SELECT token || ' ' || role || ' ' || method || ' ' || access_class || ' ' || (peer LIKE 'ipv4:127.0.0.1:%')
  FROM audit_denied_calls")" = "aud auditor llmgw.v1.RegistryService/CreateProvider registry true" ] &&
  pass "audit_denied_calls: token, role, method, class, peer" || fail "audit_denied_calls"
psql_q "ALTER TABLE audit_log DISABLE TRIGGER USER;
  INSERT INTO audit_log (actor, action, object, detail, prev_hash, row_hash, actor_role, peer) VALUES
   ('fin', 'budget.create', 'budget/team-a-monthly', 'limit_usd=500', '', 'v1', 'admin', 'ipv4:10.0.0.1:1'),
   ('sec', 'policy.update', 'policy/eu-only', 'regions=eu-west-1', '', 'v2', 'admin', 'ipv4:10.0.0.2:1'),
   ('ops', 'api_key.revoke', 'api_key/svc', '', '', 'v3', 'operator', 'ipv4:10.0.0.3:1'),
   ('ops', 'team.create', 'team/search', '', '', 'v4', 'operator', 'ipv4:10.0.0.3:1');
  ALTER TABLE audit_log ENABLE TRIGGER USER" >/dev/null
[ "$(psql_q "SELECT string_agg(kind || ':' || operation || ':' || name || ':' || actor, ' ' ORDER BY id)
  FROM audit_policy_budget_changes")" = "budget:create:team-a-monthly:fin policy:update:eu-only:sec" ] &&
  pass "audit_policy_budget_changes: kind, operation, name, actor" || fail "audit_policy_budget_changes"
[ "$(psql_q "SELECT string_agg(kind || ':' || operation || ':' || name, ' ' ORDER BY id) FROM audit_key_activity")" = \
  "api_key:revoke:svc team:create:search" ] && pass "audit_key_activity: api_key.* and team.*" ||
  fail "audit_key_activity"
psql_q "ALTER TABLE audit_log DISABLE TRIGGER USER;
  DELETE FROM audit_log WHERE actor IN ('fin', 'sec', 'ops');
  ALTER TABLE audit_log ENABLE TRIGGER USER" >/dev/null

# --- tampering is found --------------------------------------------------------------
BAD=$(psql_q "SELECT id FROM audit_log WHERE action = 'admin_token.create' AND object = 'admin_token/ci'")
psql_q "ALTER TABLE audit_log DISABLE TRIGGER USER;
  UPDATE audit_log SET detail = 'role=auditor sha256_prefix=00000000' WHERE id = $BAD;
  ALTER TABLE audit_log ENABLE TRIGGER USER" >/dev/null
check_fails "verify over the RPC names the rewritten row" 1 "error: audit_log: chain broken at id $BAD" \
  audit verify --token "$AUD"
check_fails "verify from PostgreSQL names it too" 1 "audit_log: chain broken at id $BAD" \
  audit verify --database-url "$PG_URL"

if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T"/*.log; then
  fail "sanitizer reports in process logs"
fi
if [ "$FAILS" != 0 ]; then
  echo "$FAILS check(s) failed; logs:" >&2
  tail -n 20 "$T"/cp*.log >&2 || true
  exit 1
fi
echo "all audit checks passed"
