#!/usr/bin/env bash
# test_usage_budgets: usage accounting and budgets with leases, end to end —
# a real PostgreSQL, llmgw-controlplane, llmgw-sim as the provider (a known
# price per token) and managed data planes (docs/usage.md).
#
# Cases: usage re-sent after the control plane was killed (and the node
# restarted from its spill files) is stored exactly once; `llmgw usage
# report` in table, csv and json; the lease bound — concurrent traffic
# through 3 data planes against one small hard budget ends with a spend in
# PostgreSQL <= limit + 3 x lease and HTTP 429 naming the budget; a daily
# budget rolls over at the control plane's next UTC midnight
# (LLMGW_CLOCK_OFFSET_MS); a soft budget crossed writes one audit row and
# never refuses; budget CLI errors name the flag or field.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-usage-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

start_cp() { # start_cp NAME [env...]: sets NAME_PORT; listens on CP_LISTEN
  local name=$1
  shift
  rm -f "$T/$name.port"
  env "$@" "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
    --listen "127.0.0.1:${CP_FIXED_PORT:-0}" --port-file "$T/$name.port" --workers 3 --grace-ms 500 \
    >>"$T/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name}_PID=$!"
  wait_file "$T/$name.port" || { cat "$T/$name.log" >&2; return 1; }
  eval "${name}_PORT=$(cat "$T/$name.port")"
}
launch_dp() { # launch_dp NAME [extra]: a managed data plane on the fixed control-plane port
  local name=$1
  shift
  rm -f "$T/$name.port" "$T/$name.http"
  "$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$CP_FIXED_PORT" --node-id "$name" \
    --listen 127.0.0.1:0 --port-file "$T/$name.port" --http-listen 127.0.0.1:0 \
    --http-port-file "$T/$name.http" --threads 1 --http-threads 2 --grace-ms 1000 "$@" \
    >>"$T/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name}_PID=$!"
  wait_file "$T/$name.http" || { cat "$T/$name.log" >&2; return 1; }
  eval "${name}_HTTP=$(cat "$T/$name.http")"
}
chat() { # chat HTTP_PORT: prints the HTTP status
  curl -s -o "$T/chat.$1.$BASHPID" -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
    -H 'content-type: application/json' \
    -d '{"model":"chat","messages":[{"role":"user","content":"hello there"}]}'
}
rows() { psql_q "SELECT count(*) FROM usage_events"; }
wait_rows() { # wait_rows N: up to 15 s
  local i
  for i in $(seq 1 150); do
    [ "$(rows)" = "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

export LLMGW_ADMIN_TOKEN=test-admin-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"
CP_FIXED_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
SIM_PORT=$(cat "$T/sim.port")
start_cp cp
export LLMGW_CONTROL_TARGET=127.0.0.1:$cp_PORT
# $10 000 per million tokens: a cent a token, so a request costs a few cents.
check "provider add" "$BIN/llmgw" provider add sim --base-url "http://127.0.0.1:$SIM_PORT/v1"
check "model add" "$BIN/llmgw" model add sim/gpt-4o-mini --input-cost 10000 --output-cost 10000
check "route add" "$BIN/llmgw" route add chat --deployment sim/gpt-4o-mini

# --- usage: nothing lost, nothing twice -----------------------------------------
mkdir -p "$T/state1"
launch_dp dp1 --state-dir "$T/state1"
ok=0
for i in $(seq 1 20); do [ "$(chat "$dp1_HTTP")" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 20 ] && pass "20 requests served" || fail "20 requests served ($ok)"
wait_rows 20 && pass "20 requests are 20 usage rows" || fail "20 requests are 20 usage rows ($(rows))"
[ "$(psql_q "SELECT count(*) FROM usage_events WHERE node_id = 'dp1' AND route = 'chat' AND provider = 'sim' AND model = 'gpt-4o-mini' AND status = 0 AND prompt_tokens > 0 AND completion_tokens > 0 AND cost_usd > 0 AND request_id <> ''")" = 20 ] &&
  pass "each row carries node, route, provider, model, tokens, cost, status" ||
  { fail "each row carries node, route, provider, model, tokens, cost, status"; psql_q "SELECT * FROM usage_events LIMIT 3" >&2; }

kill -9 "$cp_PID"
wait "$cp_PID" 2>/dev/null || true
for i in $(seq 1 30); do [ "$(chat "$dp1_HTTP")" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 50 ] && pass "the data plane serves on while the control plane is down" ||
  fail "the data plane serves on while the control plane is down ($ok)"
for i in $(seq 1 50); do
  ls "$T/state1/usage"/batch-*.usage >/dev/null 2>&1 && break
  sleep 0.1
done
ls "$T/state1/usage"/batch-*.usage >/dev/null 2>&1 && pass "unacknowledged batches are spilled to the state dir" ||
  fail "unacknowledged batches are spilled to the state dir"
# Keep a copy of a spilled batch: re-sent later, it must not be stored twice.
first_spill=$(ls "$T/state1/usage"/batch-*.usage | head -1)
cp "$first_spill" "$T/resend.usage"
# The node restarts too: what it had in memory goes to disk at SIGTERM.
kill -TERM "$dp1_PID"
wait "$dp1_PID" 2>/dev/null || true
n_files=$(ls "$T/state1/usage"/batch-*.usage | wc -l)
[ "$n_files" -ge 1 ] && pass "the stopped node left its batches on disk ($n_files)" || fail "the stopped node left its batches on disk"
start_cp cp
launch_dp dp1 --state-dir "$T/state1"
wait_rows 50 && pass "after both restarts: 50 requests, 50 rows (exactly once)" ||
  fail "after both restarts: 50 requests, 50 rows ($(rows))"
for i in $(seq 1 50); do
  ls "$T/state1/usage"/batch-*.usage >/dev/null 2>&1 || break
  sleep 0.1
done
ls "$T/state1/usage"/batch-*.usage >/dev/null 2>&1 && fail "delivered batches are removed from disk" ||
  pass "delivered batches are removed from disk"
kill -TERM "$dp1_PID"
wait "$dp1_PID" 2>/dev/null || true
cp "$T/resend.usage" "$T/state1/usage/$(basename "$first_spill")"
launch_dp dp1 --state-dir "$T/state1"
for i in $(seq 1 100); do
  grep -q "usage batch re-sent; acknowledged again" "$T/cp.log" && break
  sleep 0.1
done
grep -q "usage batch re-sent; acknowledged again" "$T/cp.log" && [ "$(rows)" = 50 ] &&
  pass "a re-sent batch is acknowledged and not stored again" ||
  { fail "a re-sent batch is acknowledged and not stored again ($(rows) rows)"; tail -5 "$T/cp.log" >&2; }
[ "$(psql_q "SELECT count(DISTINCT request_id) FROM usage_events")" = 50 ] &&
  pass "every stored request id is distinct" || fail "every stored request id is distinct"

check "usage report --by model (table)" "$BIN/llmgw" usage report --by model --since 1h
grep -q "gpt-4o-mini .* 50 " "$T/out" && pass "the report counts 50 requests" || { fail "the report counts 50 requests"; cat "$T/out" >&2; }
check "usage report --format csv" "$BIN/llmgw" usage report --by provider --since 2020-01-01 --format csv
head -1 "$T/out" | grep -q "^provider,requests,errors,prompt_tokens,completion_tokens,cost_usd$" &&
  grep -q "^sim,50,0," "$T/out" && pass "csv has a header and one row per provider" || { fail "csv report"; cat "$T/out" >&2; }
check "usage report --format json" "$BIN/llmgw" usage report --by team --since 1d --format json
python3 -c "import json,sys; d=json.load(open('$T/out')); sys.exit(0 if d['rows'][0]['requests']==50 else 1)" &&
  pass "json report parses" || { fail "json report parses"; cat "$T/out" >&2; }
check_fails "usage report: an inverted range is refused" 2 "--until: must be after --since" \
  "$BIN/llmgw" usage report --by team --since 2026-02-01 --until 2026-01-01
check_fails "usage report: --by is checked" 2 "--by: expected team, key, provider or model" \
  "$BIN/llmgw" usage report --by colour --since 1d
[ "$(psql_q "SELECT requests FROM spend_by_team_month")" = 50 ] && pass "spend_by_team_month sums the month" ||
  fail "spend_by_team_month sums the month"

# --- budget CLI and its errors --------------------------------------------------
check_fails "budget: a zero limit is refused by the CLI" 2 "--limit-usd: expected a number > 0" \
  "$BIN/llmgw" budget set b0 --org --limit-usd 0
check_fails "budget: a negative limit is refused" 2 "--limit-usd" "$BIN/llmgw" budget set b0 --org --limit-usd -5
check_fails "budget: an absurd limit is refused" 2 "--limit-usd" "$BIN/llmgw" budget set b0 --org --limit-usd 1e12
check_fails "budget: two targets" 2 "give exactly one" "$BIN/llmgw" budget set b0 --org --team t --limit-usd 5
check_fails "budget: unknown team" 1 "INVALID_ARGUMENT: budget.target: team 'nosuch' does not exist" \
  "$BIN/llmgw" budget set b0 --team nosuch --limit-usd 5
check_fails "budget: a bad period" 2 "--period: expected daily" "$BIN/llmgw" budget set b0 --org --period yearly --limit-usd 5
check_fails "budget: show of an unknown budget" 1 "NOT_FOUND: budget 'ghost'" "$BIN/llmgw" budget show ghost

# --- the lease bound: 3 nodes, one small hard budget ------------------------------
kill -TERM "$dp1_PID"
wait "$dp1_PID" 2>/dev/null || true
LIMIT=5
check "budget set (hard, org, daily)" "$BIN/llmgw" budget set org-daily --org --period daily --limit-usd $LIMIT --hard
grep -q "budget org-daily created (table version" "$T/out" && pass "budget set publishes a table version" ||
  { fail "budget set publishes a table version"; cat "$T/out" >&2; }
# A cached route: an answer stored before the budget is spent is still
# served from the cache after (a hit costs nothing; docs/routing-table.md).
check "route add (cached)" "$BIN/llmgw" route add cached --deployment sim/gpt-4o-mini --cache-ttl-ms 600000
# The requests above count today too: the budget starts from a clean slate.
psql_q "DELETE FROM usage_events" >/dev/null
SPENT0=0
launch_dp n1
launch_dp n2
launch_dp n3
sleep 1
wait_file "$T/n1.port"
"$BIN/llmgw" chat --target "127.0.0.1:$(cat "$T/n1.port")" --model cached --temperature 0 --json \
  "remember me" >"$T/prime.json" 2>"$T/prime.err" &&
  python3 -c "import json,sys; d=json.load(open('$T/prime.json')); sys.exit(0 if not d['route'].get('cache_hit') else 1)" &&
  pass "a cached route's first answer is stored (a miss)" || { fail "a cached route's first answer"; cat "$T/prime.err" >&2; }
for n in n1 n2 n3; do
  port_var=${n}_HTTP
  (for i in $(seq 1 40); do chat "${!port_var}"; echo; done >"$T/codes.$n.a") &
  (for i in $(seq 1 40); do chat "${!port_var}"; echo; done >"$T/codes.$n.b") &
done
wait_all=0
for job in $(jobs -p); do
  case " ${PIDS[*]} " in *" $job "*) ;; *) wait "$job" || wait_all=1 ;; esac
done
cat "$T"/codes.* | sort | uniq -c >"$T/codes.txt"
served=$(grep -c '^200$' <(cat "$T"/codes.*) || true)
refused=$(grep -c '^429$' <(cat "$T"/codes.*) || true)
[ "$refused" -gt 0 ] && [ $((served + refused)) = 240 ] && pass "once spent, requests are refused with 429 ($served served, $refused refused)" ||
  { fail "once spent, requests are refused with 429"; cat "$T/codes.txt" >&2; }
grep -l "budget 'org-daily' exhausted" "$T"/chat.* >/dev/null 2>&1 &&
  python3 -c "
import json,glob,sys
for f in glob.glob('$T/chat.*'):
    try: d=json.load(open(f))
    except Exception: continue
    e=d.get('error')
    if e and 'org-daily' in e['message']:
        sys.exit(0 if e['type']=='insufficient_quota' and e['code']=='insufficient_quota' else 1)
sys.exit(1)" && pass "the 429 is an OpenAI error body naming the budget" || fail "the 429 is an OpenAI error body naming the budget"
wait_file "$T/n1.port"
check_fails "over gRPC the spent budget is RESOURCE_EXHAUSTED naming it" 1 \
  "RESOURCE_EXHAUSTED: budget 'org-daily' exhausted" \
  "$BIN/llmgw" chat --target "127.0.0.1:$(cat "$T/n1.port")" --model chat hello
refused=$((refused + 1))
"$BIN/llmgw" chat --target "127.0.0.1:$(cat "$T/n1.port")" --model cached --temperature 0 --json \
  "remember me" >"$T/hit.json" 2>"$T/hit.err" &&
  python3 -c "
import json,sys; a=json.load(open('$T/prime.json')); b=json.load(open('$T/hit.json'))
sys.exit(0 if b['route'].get('cache_hit') is True and b['id']==a['id'] and b.get('cost_usd',0)==0 else 1)" &&
  pass "with the hard budget spent, a cache hit is still served and costs nothing" ||
  { fail "with the hard budget spent, a cache hit is still served"; cat "$T/hit.err" "$T/hit.json" >&2; }
for n in n1 n2 n3; do eval "kill -TERM \$${n}_PID; wait \$${n}_PID 2>/dev/null || true"; done
wait_rows 243 && pass "every request of the three nodes is one row (240 HTTP, 3 gRPC)" ||
  fail "every request of the three nodes is one row ($(rows))"
[ "$(psql_q "SELECT count(*) FILTER (WHERE cost_usd = 0 AND prompt_tokens = 0) || '/' || count(*) FROM usage_events WHERE route = 'cached'")" = 1/2 ] &&
  pass "the hit's usage row has 0 tokens and 0 USD" || fail "the hit's usage row has 0 tokens and 0 USD"
LEASE=$(python3 -c "print($LIMIT * 0.05)")
python3 - "$SPENT0" "$(psql_q "SELECT sum(cost_usd) FROM usage_events")" "$LIMIT" "$LEASE" <<'PY' && pass "spend <= limit + 3 x lease" || fail "spend <= limit + 3 x lease"
import sys
before, after, limit, lease = map(float, sys.argv[1:])
print(f"spend {after:.4f} (before the budget: {before:.4f}) limit {limit} lease {lease}", file=sys.stderr)
sys.exit(0 if after <= limit + 3 * lease + 1e-9 and after >= limit * 0.8 else 1)
PY
[ "$(psql_q "SELECT count(*) FROM usage_events WHERE status = 8")" = "$refused" ] &&
  pass "refused requests are recorded as RESOURCE_EXHAUSTED" || fail "refused requests are recorded as RESOURCE_EXHAUSTED"
check "budget list" "$BIN/llmgw" budget list
grep -Eq 'org-daily +org +- +daily +\$5\.00 +\$[0-9.]+ +\$0\.0000 +1[0-9][0-9]\.[0-9]% +[0-9T:-]+Z +hard' "$T/out" &&
  pass "budget list shows the budget spent (percent >= 100)" || { fail "budget list shows the budget spent"; cat "$T/out" >&2; }
"$BIN/llmgw" budget show org-daily --output json >"$T/show.json"
python3 -c "
import json,sys,time
d=json.load(open('$T/show.json'))
end=d['period_end_unix_ms']; day=86400000
sys.exit(0 if d['remaining_usd']==0 and end%day==0 and 0<end-time.time()*1000<=day else 1)" &&
  pass "budget show: remaining 0, period ends at the next UTC midnight" || { fail "budget show"; cat "$T/show.json" >&2; }

# --- rollover: the control plane's clock a day later -------------------------------
kill -TERM "$cp_PID"
wait "$cp_PID" 2>/dev/null || true
start_cp cp LLMGW_CLOCK_OFFSET_MS=86400000
"$BIN/llmgw" budget show org-daily --output json >"$T/show2.json"
python3 -c "
import json,sys
d=json.load(open('$T/show2.json')); sys.exit(0 if d['spent_usd']==0 and d['percent']==0 else 1)" &&
  pass "the next day the daily budget starts from zero" || { fail "the next day the daily budget starts from zero"; cat "$T/show2.json" >&2; }
launch_dp n1
code=000
for i in $(seq 1 30); do
  code=$(chat "$n1_HTTP")
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] && pass "after the rollover the node gets a lease and serves" || fail "after the rollover the node gets a lease and serves ($code)"
kill -TERM "$n1_PID"
wait "$n1_PID" 2>/dev/null || true
kill -TERM "$cp_PID"
wait "$cp_PID" 2>/dev/null || true
start_cp cp

# --- soft budgets: alert, never refuse ------------------------------------------------
check "budget delete" "$BIN/llmgw" budget delete org-daily
check "budget set (soft, provider)" "$BIN/llmgw" budget set sim-soft --provider sim --period monthly --limit-usd 0.5 --soft
"$BIN/llmgw" table show >"$T/table.json" 2>/dev/null
python3 -c "
import json,sys
b=json.load(open('$T/table.json'))['budgets']
sys.exit(0 if b==[{'name':'sim-soft','scope':'provider','provider':'sim','period':'monthly','limit_usd':0.5,'enforcement':'soft'}] else 1)" &&
  pass "the published table carries the budget with its target" || { fail "the published table carries the budget"; cat "$T/table.json" >&2; }
launch_dp n1
sleep 1
ok=0
for i in $(seq 1 30); do [ "$(chat "$n1_HTTP")" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 30 ] && pass "a crossed soft budget never refuses" || fail "a crossed soft budget never refuses ($ok of 30)"
for i in $(seq 1 100); do
  [ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'budget.soft_exceeded' AND object = 'budget/sim-soft'")" = 1 ] && break
  sleep 0.1
done
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'budget.soft_exceeded' AND object = 'budget/sim-soft'")" = 1 ] &&
  pass "crossing the soft budget wrote one audit row" || fail "crossing the soft budget wrote one audit row"
for i in $(seq 1 50); do grep -q 'msg="soft budget crossed" budget=sim-soft' "$T/n1.log" && break; sleep 0.1; done
grep -q 'msg="soft budget crossed" budget=sim-soft' "$T/n1.log" && pass "the node logs the soft crossing" ||
  { fail "the node logs the soft crossing"; tail -5 "$T/n1.log" >&2; }
for i in $(seq 1 50); do
  curl -s "http://127.0.0.1:$n1_HTTP/metrics" >"$T/metrics.txt"
  grep -q 'llmgw_budget_soft_crossings_total{budget="sim-soft"} 1' "$T/metrics.txt" && break
  sleep 0.1
done
grep -q 'llmgw_budget_soft_crossings_total{budget="sim-soft"} 1' "$T/metrics.txt" &&
  pass "/metrics counts the soft crossing" || { fail "/metrics counts the soft crossing"; grep budget "$T/metrics.txt" >&2; }
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action IN ('budget.create','budget.update','budget.delete')")" -ge 3 ] &&
  pass "budget changes are audited" || fail "budget changes are audited"
"$BIN/llmgw" audit verify --database-url "$PG_URL" >"$T/verify.txt" 2>&1 && pass "the audit chain verifies" ||
  { fail "the audit chain verifies"; cat "$T/verify.txt" >&2; }
if grep -q "Sanitizer\|runtime error:" "$T"/*.log; then
  fail "no sanitizer reports in the logs"
  grep -l "Sanitizer\|runtime error:" "$T"/*.log >&2
else
  pass "no sanitizer reports in the logs"
fi
[ "$FAILS" = 0 ]
