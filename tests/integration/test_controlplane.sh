#!/usr/bin/env bash
# test_controlplane: the control plane against a real, private PostgreSQL.
#
# One throwaway cluster (tests/support/pg_cluster.sh) serves every case:
# migrations (fresh, re-run, two replicas at once, a changed file refused),
# registry CRUD through the CLI with its bad inputs, API keys encrypted at
# rest, two control-plane replicas and three data planes (a change made on
# replica A reaches nodes subscribed to replica B through LISTEN/NOTIFY and a
# chat request routes to it), a NACKed table visible in `llmgw nodes` while
# nodes keep the old version, the audit chain, and a data plane restarted
# from its state directory while every control plane is down.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-cp-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

start_cp() { # start_cp NAME: a control-plane replica on a free port; sets CP_PORT
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$T/mig" \
    --listen 127.0.0.1:0 --port-file "$T/$1.port" --workers 2 --grace-ms 500 \
    >"$T/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
  wait_file "$T/$1.port" || { cat "$T/$1.log" >&2; return 1; }
  eval "${1}_PORT=$(cat "$T/$1.port")"
}
launch_dp() { # launch_dp NAME CP_PORT [extra]: a managed data plane; it listens
  local name=$1 cp=$2  # once it has a table (saved or pushed): see wait_dp
  shift 2
  rm -f "$T/$name.port"
  "$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$cp" --node-id "$name" \
    --listen 127.0.0.1:0 --port-file "$T/$name.port" --http-listen 127.0.0.1:0 \
    --threads 1 --grace-ms 500 "$@" >>"$T/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name}_PID=$!"
}
wait_dp() { # wait_dp NAME: sets NAME_PORT
  wait_file "$T/$1.port" || { cat "$T/$1.log" >&2; return 1; }
  eval "${1}_PORT=$(cat "$T/$1.port")"
}
# wait_nodes VERSION: every node in `llmgw nodes` acked VERSION (10 s)
wait_acked() {
  local want=$1 n=$2 i
  for i in $(seq 1 100); do
    if [ "$("$BIN/llmgw" nodes --output json | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(sum(1 for n in d['nodes'] if n['acked_version']==$want))")" = "$n" ]; then return 0; fi
    sleep 0.1
  done
  "$BIN/llmgw" nodes >&2
  return 1
}

export LLMGW_ADMIN_TOKEN=test-admin-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
SECRET=sk-plaintext-$RANDOM$RANDOM$RANDOM
echo "$SECRET" >"$T/key.txt"

pg_cluster_start "$T/pg"
cp -r "$SRC/migrations" "$T/mig"
N_MIG=$(ls "$T/mig"/[0-9][0-9][0-9][0-9]_*.sql | wc -l)

# --- migrations -------------------------------------------------------------
"$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$T/mig" --migrate-only \
  >"$T/m1.log" 2>&1 &
m1=$!
"$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$T/mig" --migrate-only \
  >"$T/m2.log" 2>&1 &
m2=$!
rc1=0 rc2=0
wait $m1 || rc1=$?
wait $m2 || rc2=$?
applied=$(cat "$T/m1.log" "$T/m2.log" | grep -c 'msg="migration applied"' || true)
if [ "$rc1$rc2" = 00 ] && [ "$applied" = "$N_MIG" ] &&
  [ "$(psql_q 'SELECT count(*) FROM schema_migrations')" = "$N_MIG" ]; then
  pass "two replicas migrating at once apply each migration once"
else
  fail "two replicas migrating at once (exit $rc1/$rc2, applied $applied of $N_MIG)"
  cat "$T/m1.log" "$T/m2.log" >&2
fi
check "llmgw migrate on an up-to-date database applies nothing" \
  "$BIN/llmgw" migrate --database-url "$PG_URL" --migrations-dir "$T/mig"
grep -q "(0 applied now)" "$T/out" && pass "re-run reports 0 applied" || fail "re-run reports 0 applied"
cp -r "$T/mig" "$T/mig_changed"
echo "-- edited after it was applied" >>"$T/mig_changed/0001_registry.sql"
check_fails "a changed, applied migration is refused" 1 "0001_registry.sql: changed after it was applied" \
  "$BIN/llmgw" migrate --database-url "$PG_URL" --migrations-dir "$T/mig_changed"
check_fails "an unreachable database is a clear error" 1 "cannot connect" \
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2" \
  --migrations-dir "$T/mig" --migrate-only

# --- replicas, simulator, data planes ---------------------------------------
"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini,sim-extra >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
SIM_PORT=$(cat "$T/sim.port")
start_cp cpa
start_cp cpb
mkdir -p "$T/state1"
# Started before anything is published: they wait for their first table.
launch_dp dp1 "$cpb_PORT" --state-dir "$T/state1"
launch_dp dp2 "$cpb_PORT"
launch_dp dp3 "$cpa_PORT"
export LLMGW_CONTROL_TARGET=127.0.0.1:$cpa_PORT

# --- registry through the CLI (replica A) -----------------------------------
check "provider add" "$BIN/llmgw" provider add sim --base-url "http://127.0.0.1:$SIM_PORT/v1" \
  --api-key-file "$T/key.txt" --header "X-Team: test"
grep -q "no table published" "$T/out" && pass "a provider without models publishes no table" ||
  fail "a provider without models publishes no table"
check "model add" "$BIN/llmgw" model add sim/gpt-4o-mini --input-cost 0.15 --output-cost 0.6 \
  --capability chat --quality 0.7
check "route add" "$BIN/llmgw" route add chat --deployment sim/gpt-4o-mini,weight=1
grep -q "table version 2" "$T/out" && pass "each change publishes the next table version" ||
  fail "each change publishes the next table version"
check_fails "duplicate provider name" 1 "ALREADY_EXISTS: provider.name: 'sim' already exists" \
  "$BIN/llmgw" provider add sim --base-url http://127.0.0.1:1/v1
check_fails "invalid base URL" 1 "INVALID_ARGUMENT: provider.base_url" \
  "$BIN/llmgw" provider add other --base-url ftp://example.com
check_fails "unknown auth style" 1 "INVALID_ARGUMENT: provider.auth_style" \
  "$BIN/llmgw" provider add other --base-url http://x/v1 --auth-style magic
check_fails "route naming an unregistered model" 1 "route.deployments[0]: model 'sim/nope' is not registered" \
  "$BIN/llmgw" route add r2 --deployment sim/nope
check_fails "model of an unknown provider" 1 "NOT_FOUND: model.provider 'ghost'" \
  "$BIN/llmgw" model add ghost/m
check_fails "negative price refused by the CLI" 2 "--input-cost" \
  "$BIN/llmgw" model add sim/m2 --input-cost -1
check_fails "provider still used by a route cannot be removed" 1 "FAILED_PRECONDITION" \
  "$BIN/llmgw" provider remove sim
check_fails "wrong admin token" 1 "UNAUTHENTICATED" \
  "$BIN/llmgw" provider list --token not-the-admin-token
check_fails "missing admin token" 2 "--token: required" env -u LLMGW_ADMIN_TOKEN "$BIN/llmgw" provider list
check_fails "unknown action" 2 "unknown action 'frobnicate'" "$BIN/llmgw" provider frobnicate
check "model edit changes only the given settings" \
  "$BIN/llmgw" model edit sim/gpt-4o-mini --output-cost 0.8
"$BIN/llmgw" model show sim/gpt-4o-mini --output json >"$T/model.json"
python3 -c "
import json,sys; m=json.load(open('$T/model.json'))
sys.exit(0 if m['output_cost_per_mtok']==0.8 and m['input_cost_per_mtok']==0.15 and m['quality']==0.7 and m['capabilities']==['chat'] else 1)" &&
  pass "model show reflects the update" || { fail "model show reflects the update"; cat "$T/model.json" >&2; }
check_fails "edit of an unknown model" 1 "NOT_FOUND: model 'sim/ghost'" \
  "$BIN/llmgw" model edit sim/ghost --input-cost 1
check "route update (alias of edit) replaces strategy, keeps deployments" \
  "$BIN/llmgw" route update chat --strategy weighted
"$BIN/llmgw" route show chat >"$T/route.txt"
grep -q "weighted .*sim/gpt-4o-mini" "$T/route.txt" && pass "route show reflects the update" ||
  { fail "route show reflects the update"; cat "$T/route.txt" >&2; }
check_fails "route update naming an unregistered model changes nothing" 1 "is not registered" \
  "$BIN/llmgw" route update chat --deployment sim/nope
[ "$(psql_q "SELECT count(*) FROM route_deployments WHERE route = 'chat'")" = 1 ] &&
  pass "the failed route update rolled back" || fail "the failed route update rolled back"
check "provider edit changes only the given settings" "$BIN/llmgw" provider edit sim --region eu
"$BIN/llmgw" provider show sim --output json >"$T/prov.json"
python3 -c "
import json,sys; p=json.load(open('$T/prov.json'))
sys.exit(0 if p['region']=='eu' and p['has_api_key'] and p['base_url'].endswith('/v1') else 1)" &&
  pass "provider show reflects the edit, key kept" || { fail "provider show reflects the edit"; cat "$T/prov.json" >&2; }
check "provider list" "$BIN/llmgw" provider list
grep -q "stored" "$T/out" && pass "list says a key is stored" || fail "list says a key is stored"
[ "$(psql_q 'SELECT count(*) FROM providers')" = 1 ] && pass "failed changes left nothing half-written" ||
  fail "failed changes left nothing half-written"

# --- TestConnection / DiscoverModels -----------------------------------------
check "provider test reaches the simulator's /models" "$BIN/llmgw" provider test sim
grep -q "ok, HTTP 200" "$T/out" && grep -q "2 models listed" "$T/out" &&
  pass "test reports status and models listed" || { fail "test reports status and models listed"; cat "$T/out" >&2; }
check "provider add (unreachable)" "$BIN/llmgw" provider add dead --base-url http://127.0.0.1:1/v1
check_fails "provider test of an unreachable provider fails with the cause" 1 \
  "error: provider dead: failed after" "$BIN/llmgw" provider test dead
check_fails "discover on an unreachable provider" 1 "UNAVAILABLE: provider 'dead'" \
  "$BIN/llmgw" provider discover dead
check "provider remove (unused)" "$BIN/llmgw" provider remove dead
check "discover --dry-run lists without registering" "$BIN/llmgw" provider discover sim --dry-run
[ "$(psql_q "SELECT count(*) FROM models WHERE name = 'sim-extra'")" = 0 ] &&
  pass "dry run registered nothing" || fail "dry run registered nothing"
check "discover registers the unknown model" "$BIN/llmgw" provider discover sim
grep -q "sim/sim-extra  (added)" "$T/out" && pass "discover reports what it added" ||
  { fail "discover reports what it added"; cat "$T/out" >&2; }
check "discover again adds nothing" "$BIN/llmgw" provider discover sim
grep -q "none added" "$T/out" && pass "second discover is a no-op" || fail "second discover is a no-op"
TV=$(psql_q "SELECT max(version) FROM routing_table_versions")

# --- API keys at rest and in answers ----------------------------------------
sealed=$(psql_q "SELECT api_key_sealed FROM providers WHERE name = 'sim'")
case "$sealed" in v1:*) pass "api key column holds a sealed value" ;; *) fail "api key column holds a sealed value" ;; esac
if psql_q "SELECT * FROM providers" | grep -qF "$SECRET" ||
  psql_q "SELECT document FROM routing_table_versions" | grep -qF "$SECRET" ||
  psql_q "SELECT detail FROM audit_log" | grep -qF "$SECRET"; then
  fail "plaintext api key found in the database"
else
  pass "no table holds the plaintext api key"
fi
"$BIN/llmgw" provider show sim --output json >"$T/show.json"
"$BIN/llmgw" table show >"$T/table.json" 2>/dev/null
if grep -qF "$SECRET" "$T/show.json" "$T/table.json" "$T"/cp*.log; then
  fail "plaintext api key returned by a read RPC or logged"
else
  pass "no read RPC or log shows the api key"
fi

# --- distribution: A's change reaches nodes on B (LISTEN/NOTIFY) -----------
wait_dp dp1 && wait_dp dp2 && wait_dp dp3
if wait_acked "$TV" 3; then pass "all three nodes acked the latest version (two via replica B)"; else
  fail "all three nodes acked the latest version"
fi
check "chat through a node subscribed to replica B routes to the new provider" \
  "$BIN/llmgw" chat --target "127.0.0.1:$dp1_PORT" --model chat "hello control plane"
grep -q "hello control plane" "$T/out" && pass "the simulator answered" || fail "the simulator answered"
grep -qF "Bearer $SECRET" "$T/sim.log" && fail "simulator log shows the key" || true
[ "$(stat -c %a "$T/state1/table.json")" = 600 ] && pass "state file is private (0600)" ||
  fail "state file is private (0600)"

# --- llmgw health: both binaries answer grpc.health.v1 ----------------------
check "llmgw health of a control plane" "$BIN/llmgw" health --target "127.0.0.1:$cpa_PORT"
grep -qx SERVING "$T/out" && pass "the control plane is SERVING" || { fail "the control plane is SERVING"; cat "$T/out" >&2; }
check "llmgw health of a data plane" "$BIN/llmgw" health --target "127.0.0.1:$dp1_PORT" --service llmgw.v1.ChatService
grep -qx SERVING "$T/out" && pass "the data plane's ChatService is SERVING" || fail "the data plane's ChatService is SERVING"
check_fails "llmgw health of an unknown service" 1 "NOT_FOUND" \
  "$BIN/llmgw" health --target "127.0.0.1:$dp1_PORT" --service no.Such
check_fails "llmgw health of nothing listening" 1 "UNAVAILABLE" \
  "$BIN/llmgw" health --target 127.0.0.1:1 --timeout-ms 2000
check_fails "llmgw health: a bad timeout" 2 "--timeout-ms" "$BIN/llmgw" health --timeout-ms 0

# --- a provider from a preset: nodes resolve it as in a table file ---------
check_fails "unknown preset names the close one" 1 \
  "INVALID_ARGUMENT: provider.preset: unknown preset 'vlm' (close: vllm" "$BIN/llmgw" provider add p1 --preset vlm
check_fails "a preset without a base URL asks for one" 1 "provider.base_url: required by preset 'azure'" \
  "$BIN/llmgw" provider add p2 --preset azure --api-key-file "$T/key.txt"
check_fails "a custom provider needs a base URL" 2 "--base-url or --preset: required" "$BIN/llmgw" provider add p3
check_fails "unknown wire format" 1 "INVALID_ARGUMENT: provider.wire_format" \
  "$BIN/llmgw" provider add p4 --preset vllm --wire-format grpc
# vLLM's preset (auth none, wire format openai) with the simulator's URL.
check "provider add by preset" "$BIN/llmgw" provider add local --preset vllm \
  --base-url "http://127.0.0.1:$SIM_PORT/v1" --api-key-file "$T/key.txt"
[ "$(psql_q "SELECT preset || '|' || auth_style || '|' || wire_format FROM providers WHERE name = 'local'")" = "vllm||" ] &&
  pass "the registry stores the preset and only what overrides it" || fail "the registry stores the preset"
check "provider test resolves the preset" "$BIN/llmgw" provider test local
check "model add (preset provider)" "$BIN/llmgw" model add local/gpt-4o-mini --input-cost 0 --output-cost 0
check "route add (preset provider)" "$BIN/llmgw" route add via-preset --deployment local/gpt-4o-mini
TV=$(psql_q "SELECT max(version) FROM routing_table_versions")
wait_acked "$TV" 3 && pass "every node accepted the table naming the preset" ||
  fail "every node accepted the table naming the preset"
"$BIN/llmgw" table show >"$T/table2.json" 2>/dev/null
python3 -c "
import json,sys; d=json.load(open('$T/table2.json')); d=d.get('document', d)
d=json.loads(d) if isinstance(d,str) else d
p=[p for p in d['providers'] if p['name']=='local'][0]
sys.exit(0 if p['preset']=='vllm' and 'auth_style' not in p and 'wire_format' not in p else 1)" &&
  pass "the pushed table names the preset" || { fail "the pushed table names the preset"; cat "$T/table2.json" >&2; }
check "chat routes to the preset provider" \
  "$BIN/llmgw" chat --target "127.0.0.1:$dp3_PORT" --model via-preset "hello preset"
grep -q "hello preset" "$T/out" && pass "the simulator answered through the preset" ||
  fail "the simulator answered through the preset"

# --- route settings: every strategy, weights, tolerance, retries, cache ------
check_fails "custom without weights is refused by the control plane" 1 \
  "INVALID_ARGUMENT: route.weights: required by strategy custom" \
  "$BIN/llmgw" route add r-custom --deployment local/gpt-4o-mini --strategy custom
check_fails "an unknown strategy is refused by the CLI" 2 "--strategy: expected priority, weighted, cost" \
  "$BIN/llmgw" route add r-bad --deployment local/gpt-4o-mini --strategy cheapest
check_fails "all-zero weights are refused" 2 "--weights: expected at least one weight > 0" \
  "$BIN/llmgw" route add r-w --deployment local/gpt-4o-mini --strategy custom --weights cost=0
check_fails "an unknown weight is refused" 2 "--weights: expected cost=N" \
  "$BIN/llmgw" route add r-w --deployment local/gpt-4o-mini --strategy custom --weights speed=1
check_fails "a zero cache TTL is refused" 2 "--cache-ttl-ms" \
  "$BIN/llmgw" route edit via-preset --cache-ttl-ms 0
check_fails "a cache temperature without a TTL on an uncached route" 2 "needs --cache-ttl-ms" \
  "$BIN/llmgw" route edit via-preset --cache-max-temperature 1
check_fails "a route named like a provider is refused: the nodes' loader would reject the table" 1 \
  "INVALID_ARGUMENT: the change would publish a routing table the data planes reject: routes[" \
  "$BIN/llmgw" route add local --deployment local/gpt-4o-mini
[ "$(psql_q "SELECT count(*) FROM routes WHERE name = 'local'")" = 0 ] &&
  pass "the refused change was rolled back" || fail "the refused change was rolled back"
check "route add with custom weights" "$BIN/llmgw" route add r-custom --deployment local/gpt-4o-mini \
  --strategy custom --weights cost=2,success=1 --tolerance 0.2
check "route edit: cost strategy, retry budget, cache" "$BIN/llmgw" route edit via-preset --strategy cost \
  --max-attempts 2 --cache-ttl-ms 60000 --cache-max-temperature 0.5
"$BIN/llmgw" route show via-preset >"$T/route2.txt"
grep -q "cost .*max_attempts=2 cache=60000ms(t<=0.5)" "$T/route2.txt" && pass "route show lists the settings" ||
  { fail "route show lists the settings"; cat "$T/route2.txt" >&2; }
grep -q "action=route.update\|route.update" <(psql_q "SELECT action || ' ' || detail FROM audit_log WHERE object = 'route/via-preset' ORDER BY id DESC LIMIT 1") &&
  psql_q "SELECT detail FROM audit_log WHERE object = 'route/via-preset' ORDER BY id DESC LIMIT 1" | grep -q "cache_ttl_ms=60000" &&
  pass "the audit row names the new settings" || fail "the audit row names the new settings"
TV=$(psql_q "SELECT max(version) FROM routing_table_versions")
wait_acked "$TV" 3 && pass "every node accepted the table with route settings" ||
  fail "every node accepted the table with route settings"
"$BIN/llmgw" table show >"$T/table3.json" 2>/dev/null
python3 -c "
import json,sys; d=json.load(open('$T/table3.json')); d=d.get('document', d)
d=json.loads(d) if isinstance(d,str) else d
r={r['name']: r for r in d['routes']}
v, c = r['via-preset'], r['r-custom']
ok = (v['strategy']=='cost' and v['max_attempts']==2 and v['cache']=={'ttl_ms':60000,'max_temperature':0.5}
      and 'weights' not in v and 'tolerance' not in v
      and c['strategy']=='custom' and c['weights']=={'cost':2.0,'latency':0.0,'quality':0.0,'success':1.0}
      and c['tolerance']==0.2 and 'cache' not in c)
sys.exit(0 if ok else 1)" && pass "the pushed table carries strategy, weights, tolerance, max_attempts and cache" ||
  { fail "the pushed table carries the route settings"; cat "$T/table3.json" >&2; }
"$BIN/llmgw" chat --target "127.0.0.1:$dp3_PORT" --model via-preset --temperature 0 --json "cache me" >"$T/c1.json" 2>"$T/c1.err"
"$BIN/llmgw" chat --target "127.0.0.1:$dp3_PORT" --model via-preset --temperature 0 --json "cache me" >"$T/c2.json" 2>"$T/c2.err"
python3 -c "
import json,sys; a=json.load(open('$T/c1.json')); b=json.load(open('$T/c2.json'))
ok = (not a['route'].get('cache_hit') and a['route']['strategy']=='cost'
      and b['route'].get('cache_hit') is True and b['id']==a['id'])
sys.exit(0 if ok else 1)" && pass "a managed node serves the route by cost and answers the repeat from its cache" ||
  { fail "a managed node serves the route with the pushed settings"; cat "$T/c1.json" "$T/c2.json" >&2; }
check "route edit --no-cache" "$BIN/llmgw" route edit via-preset --no-cache
[ "$(psql_q "SELECT coalesce(cache_ttl_ms::text, 'none') FROM routes WHERE name = 'via-preset'")" = none ] &&
  pass "--no-cache clears the cache setting" || fail "--no-cache clears the cache setting"
check "route remove r-custom" "$BIN/llmgw" route remove r-custom
TV=$(psql_q "SELECT max(version) FROM routing_table_versions")

# --- NACK: a table the nodes reject leaves them on the old version ----------
BAD=$((TV + 1))
psql_q "INSERT INTO routing_table_versions (version, checksum, document) VALUES ($BAD, 'x',
  '{\"version\":$BAD,\"providers\":[{\"name\":\"bad\",\"base_url\":\"ftp://nowhere\",\"models\":[]}],\"routes\":[]}');
  SELECT pg_notify('llmgw_table', '$BAD')" >/dev/null
for i in $(seq 1 100); do
  n=$("$BIN/llmgw" nodes --output json | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(sum(1 for n in d['nodes'] if n['nacked_version']==$BAD and 'base_url' in n['last_nack_error'] and n['acked_version']==$TV))")
  [ "$n" = 3 ] && break
  sleep 0.1
done
[ "$n" = 3 ] && pass "every node NACKed the bad version naming the field and stayed on the last good one" ||
  { fail "NACK recorded"; "$BIN/llmgw" nodes >&2; }
"$BIN/llmgw" nodes >"$T/nodes.txt"
grep -q "v$BAD: providers\[0\].base_url" "$T/nodes.txt" && pass "llmgw nodes shows the last NACK" ||
  { fail "llmgw nodes shows the last NACK"; cat "$T/nodes.txt" >&2; }
check "a node that NACKed still serves the old table" \
  "$BIN/llmgw" chat --target "127.0.0.1:$dp2_PORT" --model chat "still here"
check "a good change after the NACK" "$BIN/llmgw" model add sim/gpt-4o --input-cost 2.5 --output-cost 10
wait_acked $((BAD + 1)) 3 && pass "nodes recover with the next good version" || fail "nodes recover with the next good version"

# --- PostgreSQL restarts: pooled and LISTEN connections come back ----------
pg_cluster_restart
check "a change right after a database restart succeeds" \
  "$BIN/llmgw" model add sim/after-restart --input-cost 1 --output-cost 1
AFTER=$(psql_q "SELECT max(version) FROM routing_table_versions")
wait_acked "$AFTER" 3 && pass "listeners reconnected: every node acked the change" ||
  fail "listeners reconnected: every node acked the change"

# --- audit log --------------------------------------------------------------
# 18 registry changes and the admin-token bootstrap (from LLMGW_ADMIN_TOKEN).
[ "$(psql_q 'SELECT count(*) FROM audit_log')" = 19 ] && pass "one audit row per committed change" ||
  fail "one audit row per committed change"
chain_ok=$(psql_q "SELECT bool_and(a.prev_hash = b.row_hash) FROM audit_log a JOIN audit_log b ON b.id = a.id - 1")
[ "$chain_ok" = t ] && pass "audit rows chain by hash" || fail "audit rows chain by hash"
if psql_q "UPDATE audit_log SET actor = 'mallory'" >/dev/null 2>&1; then
  fail "audit_log refuses UPDATE"
else
  pass "audit_log refuses UPDATE"
fi
check "llmgw audit verify: intact chain" "$BIN/llmgw" audit verify --database-url "$PG_URL"
# A superuser can bypass the trigger; the chain still tells.
psql_q "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change;
  UPDATE audit_log SET detail = 'rewritten' WHERE id = 2;
  ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change" >/dev/null
check_fails "llmgw audit verify names the rewritten row" 1 "audit_log: chain broken at id 2" \
  "$BIN/llmgw" audit verify --database-url "$PG_URL"

# --- static stability: control planes down, a node restarts from disk -------
kill "$cpa_PID" "$cpb_PID"
wait "$cpa_PID" 2>/dev/null || true
wait "$cpb_PID" 2>/dev/null || true
kill "$dp1_PID"
wait "$dp1_PID" 2>/dev/null || true
launch_dp dp1 "$cpb_PORT" --state-dir "$T/state1"
wait_dp dp1
grep -q "serving the saved routing table" "$T/dp1.log" && pass "restarted node loads its state dir" ||
  fail "restarted node loads its state dir"
check "restarted node serves a chat with every control plane down" \
  "$BIN/llmgw" chat --target "127.0.0.1:$dp1_PORT" --model chat "static stability"

# --- shutdown is clean ------------------------------------------------------
for name in dp1 dp2 dp3; do
  pid_var=${name}_PID
  kill "${!pid_var}"
  rc=0
  wait "${!pid_var}" || rc=$?
  [ "$rc" = 0 ] && pass "$name exits 0 on SIGTERM" || fail "$name exits 0 on SIGTERM (exit $rc)"
done
if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T"/*.log; then
  fail "sanitizer reports in process logs"
fi

if [ "$FAILS" != 0 ]; then
  echo "$FAILS check(s) failed; logs in $T were:" >&2
  tail -n 20 "$T"/cp*.log "$T"/dp*.log >&2 || true
  exit 1
fi
echo "all control-plane checks passed"
