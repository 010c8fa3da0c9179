#!/usr/bin/env bash
# test_governance: GovernanceService (teams, API keys, policies) through the
# `llmgw team|key|policy` CLI against a real, private PostgreSQL, a control
# plane, llmgw-sim and one managed data plane.
#
# Every RPC's happy path and bad inputs (the message names the field and
# nothing is half-written: rows, audit rows and table versions are counted);
# each change has its audit row with the admin token's name as actor and
# publishes a table version the node ACKs; the published table holds key
# hashes and never a secret (pg_dump); rotation keeps the previous hash with
# its grace; revoked keys and their policies leave the table; an operator
# token may manage keys but not policies. End to end: a key created with the
# CLI authenticates a chat through the data plane, its rotated-out secret
# works within the grace and not after (nor after a rotation without grace),
# an expired key is refused, and a revoked one too; a missing scope and a
# key's policy set with the CLI are enforced there (PERMISSION_DENIED).
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-gov-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"
sha256_hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
L() { "$BIN/llmgw" "$@"; }
version() { psql_q "SELECT coalesce(max(version), 0) FROM routing_table_versions"; }
audits() { psql_q "SELECT count(*) FROM audit_log"; }
# latest_table: the last published document, as nodes get it (secrets redacted)
latest_table() { L table show >"$T/table.json" 2>"$T/table.err"; }
table_py() { # table_py EXPR: python over the latest table d; exit 0 when truthy
  latest_table
  python3 -c "import json,sys; d=json.load(open('$T/table.json')); sys.exit(0 if ($1) else 1)"
}
wait_acked() { # wait_acked VERSION: the node acked it (10 s)
  local i
  for i in $(seq 1 100); do
    [ "$(psql_q "SELECT acked_version FROM dataplane_nodes WHERE node_id = 'gdp'")" = "$1" ] &&
      return 0
    sleep 0.1
  done
  psql_q "SELECT * FROM dataplane_nodes" >&2
  return 1
}
# unchanged NAME BEFORE_V BEFORE_A: a refused change published and audited nothing
unchanged() {
  [ "$(version)" = "$2" ] && [ "$(audits)" = "$3" ] && pass "$1: no version, no audit row" ||
    fail "$1: no version, no audit row (version $(version) vs $2, audit $(audits) vs $3)"
}
chat_as() { # chat_as SECRET: one chat through the data plane ("" sends no key)
  L chat --target "127.0.0.1:$DP_PORT" --model chat ${1:+--key "$1"} "hello governance"
}

unset LLMGW_BOOTSTRAP_TOKEN LLMGW_CONTROL_TARGET LLMGW_API_KEY
export LLMGW_ADMIN_TOKEN=gov-bootstrap-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"

"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
"$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --port-file "$T/cp.port" --workers 2 --grace-ms 500 >"$T/cp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/cp.port" || { cat "$T/cp.log" >&2; exit 1; }
export LLMGW_CONTROL_TARGET=127.0.0.1:$(cat "$T/cp.port")

# The actors: an admin token named gov-admin and an operator.
L token create gov-admin >"$T/admin.tok" 2>/dev/null
L token create ops --role operator >"$T/ops.tok" 2>/dev/null
export LLMGW_ADMIN_TOKEN=$(cat "$T/admin.tok")
OPS=$(cat "$T/ops.tok")

check "provider add" L provider add sim --base-url "http://127.0.0.1:$(cat "$T/sim.port")/v1" \
  --region eu-west-1
check "model add" L model add sim/gpt-4o-mini --input-cost 0.15 --output-cost 0.6
check "route add" L route add chat --deployment sim/gpt-4o-mini
"$BIN/llmgw-dataplane" --insecure-dev --control-plane "$LLMGW_CONTROL_TARGET" --node-id gdp \
  --listen 127.0.0.1:0 --port-file "$T/dp.port" --http-listen 127.0.0.1:0 --threads 1 \
  --grace-ms 500 >"$T/dp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/dp.port" || { cat "$T/dp.log" >&2; exit 1; }
DP_PORT=$(cat "$T/dp.port")
check "before any key exists the data plane is open" chat_as ""

# --- teams ----------------------------------------------------------------------
V=$(version)
check "team create" L team create search --description "the search team" --rpm 100 --tpm 50000
grep -q "team search created (table version $((V + 1)))" "$T/out" &&
  pass "team create publishes the next table version" || fail "team create publishes a version"
wait_acked $((V + 1)) && pass "the node ACKs the table with teams" || fail "the node ACKs teams"
table_py "d['teams']==[{'name':'search','rpm':100,'tpm':50000}]" &&
  pass "the table carries the team's limits" || { fail "the table carries the team"; cat "$T/table.json" >&2; }
[ "$(psql_q "SELECT actor || ' ' || actor_role || ' ' || object FROM audit_log WHERE action = 'team.create'")" = \
  "gov-admin admin team/search" ] && pass "team.create audited with the token's name" ||
  fail "team.create audited with the token's name"
check "team create (no limits)" L team create spare
V=$(version) A=$(audits)
check_fails "duplicate team" 1 "ALREADY_EXISTS: team.name: 'search' already exists" L team create search
check_fails "bad team name" 1 "INVALID_ARGUMENT: team.name: invalid character at 3" L team create 'bad name'
check_fails "team description too long" 1 "INVALID_ARGUMENT: team.description: longer than 256 bytes" \
  L team create longdesc --description "$(printf 'x%.0s' $(seq 1 300))"
check_fails "negative team rpm" 2 "--rpm: expected" L team create t2 --rpm -1
check_fails "absurd team tpm" 2 "--tpm: expected" L team create t2 --tpm 99999999999999
check_fails "team update without a setting" 2 "update: name at least one of --description" L team update search
check_fails "team flag of another verb" 2 "--rpm: not a flag of 'delete'" L team delete search --rpm 5
check_fails "unknown team action" 2 "unknown action 'frob'" L team frob
check_fails "team show of an unknown team" 1 "NOT_FOUND: team 'ghost': not found" L team show ghost
check_fails "team update of an unknown team" 1 "NOT_FOUND: team 'ghost': not found" L team update ghost --rpm 1
unchanged "refused team changes" "$V" "$A"
[ "$(psql_q "SELECT count(*) FROM teams")" = 2 ] && pass "refused team changes wrote no row" ||
  fail "refused team changes wrote no row"
check "team update" L team update search --tpm 60000
[ "$(psql_q "SELECT detail FROM audit_log WHERE action = 'team.update'")" = \
  'before: description="the search team" requests_per_min=100 tokens_per_min=50000; after: description="the search team" requests_per_min=100 tokens_per_min=60000' ] &&
  pass "team.update audits before and after" || fail "team.update audits before and after"
check "team list" L team list
grep -q "^search  100  60000  0     the search team$" "$T/out" && grep -q "^spare   -    -      0" "$T/out" &&
  pass "team list is an aligned table" || { fail "team list is an aligned table"; cat "$T/out" >&2; }
check "team show --json" L team show search --json
python3 -c "import json; d=json.load(open('$T/out')); assert d['tokens_per_min']==60000 and d['n_keys']==0" &&
  pass "team show --json" || fail "team show --json"
check "team delete" L team delete spare
# Concurrent changes: each its own version, none lost (rows locked while read and changed).
V=$(version)
JOBS=()
for i in 1 2 3 4 5; do
  L team create "par$i" >/dev/null 2>&1 &
  JOBS+=($!)
done
wait "${JOBS[@]}"
JOBS=()
L team update par1 --rpm 7 >/dev/null 2>&1 &
JOBS+=($!)
L team update par1 --tpm 9 >/dev/null 2>&1 &
JOBS+=($!)
L team update par1 --description both >/dev/null 2>&1 &
JOBS+=($!)
wait "${JOBS[@]}"
[ "$(version)" = $((V + 8)) ] && [ "$(psql_q "SELECT count(DISTINCT version) FROM routing_table_versions
  WHERE version > $V")" = 8 ] && [ "$(psql_q "SELECT requests_per_min || ' ' || tokens_per_min || ' ' ||
  description FROM teams WHERE name = 'par1'")" = "7 9 both" ] &&
  pass "eight concurrent changes: eight versions, no update lost" ||
  { fail "concurrent changes"; psql_q "SELECT * FROM teams" >&2; }
for i in 1 2 3 4 5; do L team delete "par$i" >/dev/null; done

# --- keys -----------------------------------------------------------------------
V=$(version)
check "key create" L key create ci --team search --scopes chat,ensembles --rpm 600 --tpm 200000 --ttl 30d
CI=$(cat "$T/out")
[[ "$CI" =~ ^llmgw-[A-Za-z0-9_-]{43}$ ]] && grep -q "will not be shown again" "$T/err" &&
  pass "the secret alone on stdout, the once-only note on stderr" ||
  { fail "the secret alone on stdout"; cat "$T/out" "$T/err" >&2; }
CI_SHA=$(sha256_hex "$CI")
[ "$(psql_q "SELECT encode(sha256, 'hex') FROM api_keys WHERE name = 'ci'")" = "$CI_SHA" ] &&
  pass "the database holds the secret's sha256" || fail "the database holds the secret's sha256"
[ "$(version)" = $((V + 1)) ] && wait_acked $((V + 1)) && pass "key create publishes a version the node ACKs" ||
  fail "key create publishes a version the node ACKs"
table_py "[k for k in d['keys'] if k['name']=='ci' and k['sha256']=='$CI_SHA' and k['team']=='search'
  and k['scopes']==['chat','ensembles'] and k['rpm']==600 and k['tpm']==200000
  and k['expires_unix_ms'] > 0 and 'previous_sha256' not in k]" &&
  pass "the table holds the key's hash, scopes, limits and expiry" ||
  { fail "the table holds the key"; cat "$T/table.json" >&2; }
[ "$(psql_q "SELECT actor || ' ' || detail FROM audit_log WHERE action = 'api_key.create'")" = \
  "gov-admin team=search scopes=[\"chat\",\"ensembles\"] requests_per_min=600 tokens_per_min=200000 expires_unix_ms=$(psql_q "SELECT (extract(epoch FROM expires_at) * 1000)::bigint FROM api_keys WHERE name = 'ci'") sha256_prefix=${CI_SHA:0:8}" ] &&
  pass "api_key.create audited with a hash prefix only" ||
  { fail "api_key.create audited"; psql_q "SELECT detail FROM audit_log WHERE action = 'api_key.create'" >&2; }
check "a key created with the CLI authenticates a chat" chat_as "$CI"
grep -q "hello governance" "$T/out" && pass "the simulator answered the keyed chat" || fail "the simulator answered"
check_fails "once keys exist a chat without one is refused" 1 "UNAUTHENTICATED" chat_as ""
check_fails "a wrong key is refused" 1 "UNAUTHENTICATED" chat_as "llmgw-not-a-real-key-0000000000000000000000000000"

V=$(version) A=$(audits) K=$(psql_q "SELECT count(*) FROM api_keys")
check_fails "unknown scope" 1 "INVALID_ARGUMENT: key.scopes[1]: expected one of chat, models, ensembles, routing" \
  L key create k2 --scopes chat,bogus
check_fails "unknown team" 1 "INVALID_ARGUMENT: key.team: team 'ghost' does not exist" L key create k2 --team ghost
check_fails "expiry in the past" 1 "INVALID_ARGUMENT: key.expires_unix_ms: 1577836800000 is in the past" \
  L key create k2 --expires 2020-01-01T00:00:00Z
check_fails "duplicate key name" 1 "ALREADY_EXISTS: key.name: 'ci' already exists" L key create ci
check_fails "bad key name" 1 "INVALID_ARGUMENT: key.name: invalid character" L key create 'a/b'
check_fails "malformed --expires" 2 "--expires: expected an RFC 3339 time" L key create k2 --expires tomorrow
check_fails "malformed --ttl" 2 "--ttl: expected a duration" L key create k2 --ttl 5x
check_fails "--expires with --ttl" 2 "exclude each other" L key create k2 --ttl 1d --expires 2030-01-01
check_fails "absurd --rpm" 2 "--rpm: expected" L key create k2 --rpm 99999999999
check_fails "empty scope entry" 2 "--scopes: empty entry" L key create k2 --scopes chat,,models
check_fails "--grace on create" 2 "--grace: not a flag of 'create'" L key create k2 --grace 1h
check_fails "too long a grace" 2 "--grace: expected a duration" L key rotate ci --grace 31d
check_fails "key update without a setting" 2 "update: name at least one of" L key update ci
check_fails "key update of an unknown key" 1 "NOT_FOUND: api key 'ghost': not found" L key update ghost --rpm 1
check_fails "rotate of an unknown key" 1 "NOT_FOUND: api key 'ghost': not found" L key rotate ghost
unchanged "refused key changes" "$V" "$A"
[ "$(psql_q "SELECT count(*) FROM api_keys")" = "$K" ] && pass "refused key changes wrote no row" ||
  fail "refused key changes wrote no row"

check "key update" L key update ci --rpm 10 --no-expiry
table_py "[k for k in d['keys'] if k['name']=='ci' and k['rpm']==10 and 'expires_unix_ms' not in k]" &&
  pass "key update reaches the table" || { fail "key update reaches the table"; cat "$T/table.json" >&2; }
psql_q "SELECT detail FROM audit_log WHERE action = 'api_key.update'" | grep -q "^before: .*requests_per_min=600 .*; after: .*requests_per_min=10 .*expires_unix_ms=0$" &&
  pass "api_key.update audits before and after" || fail "api_key.update audits before and after"
check "key list --team" L key list --team search
grep -q "^ci    search  chat,ensembles  10   200000  -        ${CI_SHA:0:8}\.\.\.  active$" "$T/out" &&
  pass "key list is an aligned table with a hash prefix" || { fail "key list table"; cat "$T/out" >&2; }
check "key show --json" L key show ci --json
! grep -qF "$CI_SHA" "$T/out" && ! grep -qF "$CI" "$T/out" && pass "key show holds neither the secret nor the full hash" ||
  fail "key show holds neither the secret nor the full hash"

# --- rotation -------------------------------------------------------------------
check "key rotate --grace 1h" L key rotate ci --grace 1h
CI2=$(cat "$T/out")
CI2_SHA=$(sha256_hex "$CI2")
[[ "$CI2" =~ ^llmgw- ]] && [ "$CI2" != "$CI" ] && grep -q "old secret keeps working until" "$T/err" &&
  pass "rotate prints the new secret once" || fail "rotate prints the new secret once"
[ "$(psql_q "SELECT encode(sha256, 'hex') || ' ' || encode(previous_sha256, 'hex') || ' ' ||
  (previous_expires_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes')
  FROM api_keys WHERE name = 'ci'")" = "$CI2_SHA $CI_SHA true" ] &&
  pass "rotation stores the previous hash and its grace" || fail "rotation stores the previous hash and its grace"
wait_acked "$(version)" && table_py "[k for k in d['keys'] if k['name']=='ci' and k['sha256']=='$CI2_SHA'
  and k['previous_sha256']=='$CI_SHA' and k['previous_expires_unix_ms'] > 0]" &&
  pass "the table carries the previous hash with its end" || { fail "the table carries the previous hash"; cat "$T/table.json" >&2; }
check "the new secret authenticates" chat_as "$CI2"
check "the old secret still works within the grace" chat_as "$CI"
check "key rotate --grace 0" L key rotate ci --grace 0
CI3=$(cat "$T/out")
wait_acked "$(version)"
check_fails "after a rotation without grace the old secret is refused" 1 "UNAUTHENTICATED" chat_as "$CI2"
check "the newest secret authenticates" chat_as "$CI3"
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'api_key.rotate' AND actor = 'gov-admin'")" = 2 ] &&
  pass "each rotation audited" || fail "each rotation audited"

# Expiry and the end of a grace, on the data plane's own clock. 3 s, times
# LLMGW_TEST_TIMEOUT_SCALE x 2 under valgrind, where five CLI calls take longer.
TTL_S=3
[ "${LLMGW_TEST_TIMEOUT_SCALE:-1}" = 1 ] || TTL_S=$((6 * LLMGW_TEST_TIMEOUT_SCALE))
check "key create --ttl ${TTL_S}s" L key create brief --ttl "${TTL_S}s"
BRIEF=$(cat "$T/out")
check "key create" L key create rot2
OLD2=$(cat "$T/out")
check "key rotate --grace ${TTL_S}s" L key rotate rot2 --grace "${TTL_S}s"
NEW2=$(cat "$T/out")
wait_acked "$(version)"
check "a key before its expiry authenticates" chat_as "$BRIEF"
check "a rotated-out secret within its grace authenticates" chat_as "$OLD2"
sleep "$TTL_S.2"
check_fails "an expired key is refused" 1 "UNAUTHENTICATED" chat_as "$BRIEF"
check_fails "a rotated-out secret after its grace is refused" 1 "UNAUTHENTICATED" chat_as "$OLD2"
check "the rotated key's new secret still authenticates" chat_as "$NEW2"
check "key list shows the expired key" L key list
grep -q "^brief .* expired$" "$T/out" && pass "key list marks an expired key" || { fail "key list marks an expired key"; cat "$T/out" >&2; }
check "key delete brief" L key delete brief
check "key delete rot2" L key delete rot2
check "key create --expires with an offset" L key create tz --expires 2099-01-31T12:00:00+02:00
[ "$(psql_q "SELECT expires_at = '2099-01-31 10:00:00+00' FROM api_keys WHERE name = 'tz'")" = t ] &&
  pass "--expires honours the UTC offset" || fail "--expires honours the UTC offset"
check "key delete tz" L key delete tz
check_fails "an impossible date" 2 "--expires: expected an RFC 3339 time" L key create k3 --expires 2099-02-30

# --- roles -----------------------------------------------------------------------
check "an operator may create keys" L key create opkey --team search --token "$OPS"
OPKEY=$(cat "$T/out")
[ "$(psql_q "SELECT actor_role FROM audit_log WHERE action = 'api_key.create' AND object = 'api_key/opkey'")" = operator ] &&
  pass "the operator's change is audited as operator" || fail "the operator's change is audited as operator"
V=$(version)
check_fails "an operator may not set policies" 1 "PERMISSION_DENIED" L policy set p0 --token "$OPS"
check_fails "an operator may not list policies" 1 "PERMISSION_DENIED" L policy list --token "$OPS"
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = 'ops'
  AND object = '/llmgw.v1.GovernanceService/SetPolicy'")" = 1 ] && [ "$(version)" = "$V" ] &&
  [ "$(psql_q "SELECT count(*) FROM policies")" = 0 ] &&
  pass "the refusal is audited and changed nothing" || fail "the refusal is audited and changed nothing"

# --- policies ---------------------------------------------------------------------
V=$(version)
check "policy set (team)" L policy set eu --team search --regions eu-west-1 --redact email,card \
  --max-tokens 1000 --max-prompt-bytes 65536 --allow-providers sim --deny-models gpt-4
grep -q "policy eu created (table version $((V + 1)))" "$T/out" && pass "policy set publishes a version" ||
  fail "policy set publishes a version"
wait_acked $((V + 1)) && table_py "d['policies']==[{'name':'eu','scope':'team','team':'search',
  'allowed_providers':['sim'],'denied_models':['gpt-4'],'regions':['eu-west-1'],'max_tokens':1000,
  'max_prompt_bytes':65536,'redact':['email','card'],'log_prompts':False,'log_responses':False}]" &&
  table_py "[p for p in d['providers'] if p['name']=='sim' and p['region']=='eu-west-1']" &&
  pass "the node ACKs the policy and the provider's region" || { fail "the policy in the table"; cat "$T/table.json" >&2; }
check "policy set again replaces it" L policy set eu --team search --log-prompts
grep -q "policy eu replaced" "$T/out" && table_py "d['policies']==[{'name':'eu','scope':'team',
  'team':'search','log_prompts':True,'log_responses':False}]" &&
  pass "set replaces every setting" || { fail "set replaces every setting"; cat "$T/table.json" >&2; }
psql_q "SELECT detail FROM audit_log WHERE action = 'policy.update' AND actor = 'gov-admin'" |
  grep -q "^before: scope=team target=search .*regions=\[\"eu-west-1\"\].*; after: .*regions=\[\] .*log_prompts=1" &&
  pass "policy.update audits before and after" || fail "policy.update audits before and after"
V=$(version) A=$(audits) P=$(psql_q "SELECT count(*) FROM policies")
check_fails "a region no provider is in" 1 "INVALID_ARGUMENT: policy.regions[1]: no provider is in region 'mars-1'" \
  L policy set p1 --regions eu-west-1,mars-1
check_fails "a provider both allowed and denied" 1 \
  "INVALID_ARGUMENT: policy.denied_providers[0]: 'sim' is also in allowed_providers" \
  L policy set p1 --allow-providers sim --deny-providers sim
check_fails "a model both allowed and denied" 1 "policy.denied_models[0]: 'sim/gpt-4o-mini' is also in allowed_models" \
  L policy set p1 --allow-models sim/gpt-4o-mini --deny-models sim/gpt-4o-mini
check_fails "an unregistered provider" 1 "INVALID_ARGUMENT: policy.allowed_providers[0]: provider 'ghost' is not registered" \
  L policy set p1 --allow-providers ghost
check_fails "an unknown redaction kind" 1 "INVALID_ARGUMENT: policy.redact[1]: expected one of email, phone, card, iban" \
  L policy set p1 --redact email,ssn
check_fails "a bad region name" 1 "INVALID_ARGUMENT: policy.regions[0]: expected 1 to 32 characters from a-z 0-9 -" \
  L policy set p1 --regions EU_West
check_fails "a second policy for one target" 1 "ALREADY_EXISTS: policy.target: 'search' already has a policy" \
  L policy set p1 --team search
check_fails "a policy for an unknown team" 1 "INVALID_ARGUMENT: policy.target: team 'ghost' does not exist" \
  L policy set p1 --team ghost
check_fails "zero --max-tokens" 2 "--max-tokens: expected" L policy set p1 --max-tokens 0
check_fails "absurd --max-prompt-bytes" 2 "--max-prompt-bytes: expected" L policy set p1 --max-prompt-bytes 1000000000000
check_fails "--scope key without --key" 2 "--scope key: requires --key" L policy set p1 --scope key
check_fails "--team with --scope org" 2 "--team: not with --scope org" L policy set p1 --scope org --team search
check_fails "unknown --scope" 2 "--scope: expected org, team or key" L policy set p1 --scope world
check_fails "policy show of an unknown policy" 1 "NOT_FOUND: policy 'ghost': not found" L policy show ghost
unchanged "refused policy changes" "$V" "$A"
[ "$(psql_q "SELECT count(*) FROM policies")" = "$P" ] && pass "refused policy changes wrote no row" ||
  fail "refused policy changes wrote no row"
check "policy set (org)" L policy set org-default --redact email,phone,card,iban
check "policy set (key)" L policy set op-only --key opkey --allow-models sim/gpt-4o-mini
check "policy list" L policy list
grep -q "^op-only      key    opkey   -          sim/gpt-4o-mini  -  " "$T/out" && grep -q "^eu  " "$T/out" &&
  pass "policy list is an aligned table" || { fail "policy list is an aligned table"; cat "$T/out" >&2; }
check "policy show" L policy show eu
grep -q "^log prompts:       yes$" "$T/out" && pass "policy show" || fail "policy show"
wait_acked "$(version)" && table_py "len(d['policies'])==3" && pass "three policies in an ACKed table" ||
  fail "three policies in an ACKed table"

# What the CLI set is what the data plane enforces: a scope, a key's policy.
check "key create (models only)" L key create lister --scopes models
LISTER=$(cat "$T/out")
check "key create (blocked)" L key create blocked
BLOCKED=$(cat "$T/out")
check "policy set (key, deny the only provider)" L policy set no-sim --key blocked --deny-providers sim
wait_acked "$(version)"
check_fails "a key without the chat scope is refused" 1 \
  "PERMISSION_DENIED: authorization: key 'lister' lacks scope 'chat'" chat_as "$LISTER"
check_fails "a key whose policy denies the provider is refused naming the policy" 1 \
  "policy 'no-sim'" chat_as "$BLOCKED"
grep -q "PERMISSION_DENIED" "$T/err" && pass "  ... as PERMISSION_DENIED" || { fail "  ... as PERMISSION_DENIED"; cat "$T/err" >&2; }
check "key delete lister" L key delete lister
check "key delete blocked (its policy goes with it)" L key delete blocked
[ "$(psql_q "SELECT count(*) FROM policies WHERE name = 'no-sim'")" = 0 ] &&
  pass "a deleted key's policy is gone" || fail "a deleted key's policy is gone"

# --- revocation ------------------------------------------------------------------
check "key revoke" L key revoke opkey
wait_acked "$(version)" && table_py "not [k for k in d['keys'] if k['name']=='opkey']
  and not [p for p in d['policies'] if p['name']=='op-only']" &&
  pass "a revoked key and its policy leave the table; the node ACKs it" ||
  { fail "a revoked key leaves the table"; cat "$T/table.json" >&2; }
check_fails "a revoked key is refused by the data plane" 1 "UNAUTHENTICATED" chat_as "$OPKEY"
check_fails "a policy for a revoked key" 1 "INVALID_ARGUMENT: policy.target: api key 'opkey' is revoked" \
  L policy set p2 --key opkey
check_fails "revoking twice" 1 "FAILED_PRECONDITION: api key 'opkey': already revoked" L key revoke opkey
check_fails "a revoked key cannot be rotated" 1 "FAILED_PRECONDITION: api key 'opkey': revoked" L key rotate opkey
check_fails "a team with keys is not deleted" 1 \
  "FAILED_PRECONDITION: team 'search': still owns 2 API keys (delete them or move them to another team first)" \
  L team delete search
check "key delete" L key delete opkey
check "key create (no team)" L key create loose --scopes chat,models,ensembles,routing
LOOSE=$(cat "$T/out")
check "key revoke ci" L key revoke ci
wait_acked "$(version)"
check_fails "the revoked key is refused" 1 "UNAUTHENTICATED" chat_as "$CI3"
check "another key still authenticates" chat_as "$LOOSE"
check "key revoke loose (the last active key)" L key revoke loose
wait_acked "$(version)"
table_py "d['keys']==[] and d.get('auth_required') is True" && pass "a table with every key revoked requires auth" ||
  fail "a table with every key revoked requires auth"
check_fails "with every key revoked the data plane stays closed" 1 "UNAUTHENTICATED" chat_as ""
check_fails "with every key revoked a revoked key is still refused" 1 "UNAUTHENTICATED" chat_as "$LOOSE"
check "key delete ci" L key delete ci
check "key delete loose" L key delete loose
check "policy delete" L policy delete eu
check_fails "policy delete twice" 1 "NOT_FOUND: policy 'eu': not found" L policy delete eu
check "a team without keys is deleted" L team delete search
wait_acked "$(version)" && table_py "d['keys']==[] and d['teams']==[]" && pass "the emptied table is ACKed" ||
  fail "the emptied table is ACKed"
# Only deleting every key row (revoked ones too) returns to a keyless, open
# table: a deliberate act, audited like any other (docs/control-plane.md).
check "with every key deleted the data plane is open again" chat_as ""

# --- no secret anywhere ----------------------------------------------------------
pg_dump "$PG_URL" >"$T/dump.sql"
grep -qF "$CI_SHA" "$T/dump.sql" && pass "pg_dump holds the key's hash" || fail "pg_dump holds the key's hash"
if grep -qF -e "$CI" -e "$CI2" -e "$CI3" -e "$OPKEY" -e "$LOOSE" -e "$BRIEF" -e "$OLD2" -e "$NEW2" -e "$LISTER" -e "$BLOCKED" "$T/dump.sql"; then
  fail "a key secret found in the database (pg_dump)"
else
  pass "no key secret anywhere in the database (pg_dump)"
fi
if grep -qF -e "$CI" -e "$CI2" -e "$CI3" -e "$OPKEY" -e "$LOOSE" -e "$BRIEF" -e "$OLD2" -e "$NEW2" -e "$LISTER" -e "$BLOCKED" "$T/cp.log" "$T/dp.log"; then
  fail "a key secret was logged"
else
  pass "no key secret in the control-plane or data-plane log"
fi
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE (action LIKE 'team.%' OR action LIKE 'api_key.%'
  OR action LIKE 'policy.%') AND actor NOT IN ('gov-admin', 'ops')")" = 0 ] &&
  pass "every governance audit row names its token" || fail "every governance audit row names its token"
check "the audit chain verifies" L audit verify --database-url "$PG_URL"

if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T"/*.log; then
  fail "sanitizer reports in process logs"
fi
if [ "$FAILS" != 0 ]; then
  echo "$FAILS check(s) failed; logs:" >&2
  tail -n 30 "$T"/cp.log "$T"/dp.log >&2 || true
  exit 1
fi
echo "all governance checks passed"
