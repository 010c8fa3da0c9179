#!/usr/bin/env bash
# test_roles: admin-token roles on every control-plane RPC class, against a
# real PostgreSQL and a real control plane.
#
# Table-driven: CALLS lists, per access class, CLI commands and the RPC each
# makes; ALLOWED is the role x class matrix of server/controlplane/cp_access.h
# (checked against cp_access.c, so the two cannot drift). Every call runs as
# admin, operator and auditor: an allowed call succeeds and leaves no denial;
# a refused one is PERMISSION_DENIED naming role, RPC and class, and leaves
# exactly one "access.denied" audit row naming the token, its role and the
# peer address. Every class some registered RPC uses must have a row here —
# a new service (keys, budgets, policies, usage) fails this test until its
# rows are added. A data plane subscribing with an auditor token is refused
# and audited the same way.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-roles-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

# class | RPC path | llmgw arguments ({r}: the caller's role, for unique names)
CALLS=(
  "registry.read|/llmgw.v1.RegistryService/ListProviders|provider list"
  "registry|/llmgw.v1.RegistryService/CreateProvider|provider add p-{r} --base-url http://127.0.0.1:9/v1"
  "registry.read|/llmgw.v1.RegistryService/GetModel|model show sim/gpt-4o-mini"
  "registry.read|/llmgw.v1.RegistryService/ListRoutes|route list"
  "tokens|/llmgw.v1.AdminTokenService/ListAdminTokens|token list"
  "tokens|/llmgw.v1.AdminTokenService/CreateAdminToken|token create t-{r}"
  "audit|/llmgw.v1.AuditService/ListAudit|audit list"
  "audit|/llmgw.v1.AuditService/VerifyAudit|audit verify"
  "audit|/llmgw.v1.AuditService/ExportAudit|audit export --format csv"
  "keys|/llmgw.v1.GovernanceService/ListTeams|team list"
  "keys|/llmgw.v1.GovernanceService/CreateTeam|team create team-{r}"
  "keys|/llmgw.v1.GovernanceService/CreateApiKey|key create key-{r}"
  "keys|/llmgw.v1.GovernanceService/ListApiKeys|key list"
  "policies|/llmgw.v1.GovernanceService/ListPolicies|policy list"
  "policies|/llmgw.v1.GovernanceService/SetPolicy|policy set pol-{r} --key key-{r}"
  "nodes|/llmgw.v1.DistributionService/ListNodes|nodes"
  "nodes|/llmgw.v1.DistributionService/GetRoutingTable|table show"
  "budgets.write|/llmgw.v1.BudgetService/SetBudget|budget set b-{r} --org --period daily --limit-usd 5"
  "budgets.read|/llmgw.v1.BudgetService/ListBudgets|budget list"
  "budgets.read|/llmgw.v1.BudgetService/GetBudget|budget show b-admin"
  "usage.read|/llmgw.v1.UsageService/GetUsageReport|usage report --by team --since 1d"
  "analytics.read|/llmgw.v1.AnalyticsService/CostReport|report cost --by team --since 1d"
  "analytics.read|/llmgw.v1.AnalyticsService/ProviderPerformance|report providers --since 1d"
)
declare -A ALLOWED=(
  [registry]="admin operator" [registry.read]="admin operator auditor" [keys]="admin operator"
  [budgets.read]="admin auditor" [budgets.write]="admin" [policies]="admin"
  [tokens]="admin" [audit]="admin auditor" [usage.read]="admin auditor"
  [nodes]="admin operator" [analytics.read]="admin operator auditor"
)
ROLES=(admin operator auditor)

allowed() { [[ " ${ALLOWED[$1]} " == *" $2 "* ]]; }

# --- the matrix here is the one in cp_access.c ---------------------------------
python3 - "$SRC/server/controlplane/cp_access.c" "$(for c in "${!ALLOWED[@]}"; do echo "$c=${ALLOWED[$c]}"; done)" <<'PY' &&
import re, sys
src = open(sys.argv[1]).read()
code = {}
for name, roles in re.findall(r'\[CP_ACCESS_\w+\]\s*=\s*\{"([a-z.]+)",\s*([A-Z_ |]+)\}', src):
    code[name] = sorted(r.strip()[5:].lower() for r in roles.split("|"))
spec = {}
for line in sys.argv[2].splitlines():
    name, roles = line.split("=")
    spec[name] = sorted(roles.split())
if code != spec:
    print("cp_access.c:", code, "\ntest:", spec, file=sys.stderr)
    sys.exit(1)
PY
  pass "ALLOWED matches the matrix in cp_access.c" || fail "ALLOWED matches the matrix in cp_access.c"

# --- every class a registered RPC uses has rows ----------------------------------
for cls in $(grep -ho 'CP_ACCESS_[A-Z_]*' "$SRC"/server/controlplane/*.c |
  grep -v '^CP_ACCESS_N$' | sort -u); do
  files=$(grep -l "$cls" "$SRC"/server/controlplane/*.c | grep -v '/cp_access\.c$' || true)
  [ -n "$files" ] || continue
  name=$(echo "${cls#CP_ACCESS_}" | tr 'A-Z_' 'a-z.')
  # grep without -q reads all of its input: with -q it may exit before printf
  # is done, and pipefail turns printf's SIGPIPE into a failed match.
  if printf '%s\n' "${CALLS[@]}" | grep "^$name|" >/dev/null; then
    pass "class $name (used in $(basename -a $files | paste -sd' ')) has calls in the table"
  else
    fail "class $name is used by a registered RPC but has no row in CALLS"
  fi
done

unset LLMGW_BOOTSTRAP_TOKEN LLMGW_DATABASE_URL
export LLMGW_ADMIN_TOKEN=roles-admin-token-$RANDOM$RANDOM$RANDOM
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
pg_cluster_start "$T/pg"
"$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --port-file "$T/cp.port" --workers 2 --grace-ms 500 >"$T/cp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/cp.port" || { cat "$T/cp.log" >&2; exit 1; }
CP_PORT=$(cat "$T/cp.port")
export LLMGW_CONTROL_TARGET=127.0.0.1:$CP_PORT

# A published table, so every read has something to read.
check "provider add" "$BIN/llmgw" provider add sim --base-url http://127.0.0.1:9/v1
check "model add" "$BIN/llmgw" model add sim/gpt-4o-mini
check "token create ops --role operator" "$BIN/llmgw" token create ops --role operator
declare -A TOKEN=([admin]=$LLMGW_ADMIN_TOKEN [operator]=$(cat "$T/out"))
declare -A TOKEN_NAME=([admin]=bootstrap [operator]=ops [auditor]=aud)
check "token create aud --role auditor" "$BIN/llmgw" token create aud --role auditor
TOKEN[auditor]=$(cat "$T/out")

# --- each call as each role ---------------------------------------------------------
for row in "${CALLS[@]}"; do
  IFS='|' read -r cls path args <<<"$row"
  for role in "${ROLES[@]}"; do
    read -r -a argv <<<"${args//\{r\}/$role}"
    before=$(psql_q "SELECT coalesce(max(id), 0) FROM audit_log")
    rc=0
    "$BIN/llmgw" "${argv[@]}" --token "${TOKEN[$role]}" >"$T/out" 2>"$T/err" || rc=$?
    denied=$(psql_q "SELECT count(*) FROM audit_log WHERE id > $before AND action = 'access.denied'")
    if allowed "$cls" "$role"; then
      if [ "$rc" = 0 ] && [ "$denied" = 0 ]; then pass "$role may call $path ($cls)"; else
        fail "$role may call $path ($cls): exit $rc, $denied denial rows"
        cat "$T/err" >&2
      fi
      continue
    fi
    want="PERMISSION_DENIED: permission: role '$role' may not call ${path#/} ($cls)"
    if [ "$rc" = 1 ] && grep -qF "$want" "$T/err"; then pass "$role may not call $path ($cls)"; else
      fail "$role may not call $path ($cls): exit $rc, want '$want'"
      cat "$T/err" >&2
    fi
    [ "$(psql_q "SELECT count(*) FROM audit_log WHERE id > $before AND action = 'access.denied'
        AND actor = '${TOKEN_NAME[$role]}' AND actor_role = '$role' AND object = '$path'
        AND detail = 'role=$role class=$cls' AND peer LIKE 'ipv4:127.0.0.1:%'")" = 1 ] && [ "$denied" = 1 ] &&
      pass "  ... audited once as access.denied by token ${TOKEN_NAME[$role]}, role $role, with the peer" ||
      { fail "  ... the denial of $path to $role is audited"; psql_q "SELECT * FROM audit_log WHERE id > $before" >&2; }
  done
done

# --- a refused call changed nothing -----------------------------------------------------
[ "$(psql_q "SELECT string_agg(name, ' ' ORDER BY name) FROM providers")" = "p-admin p-operator sim" ] &&
  [ "$(psql_q "SELECT string_agg(name, ' ' ORDER BY name) FROM admin_tokens")" = "aud bootstrap ops t-admin" ] &&
  [ "$(psql_q "SELECT string_agg(name, ' ' ORDER BY name) FROM teams")" = "team-admin team-operator" ] &&
  [ "$(psql_q "SELECT string_agg(name, ' ' ORDER BY name) FROM api_keys")" = "key-admin key-operator" ] &&
  [ "$(psql_q "SELECT string_agg(name, ' ' ORDER BY name) FROM policies")" = "pol-admin" ] &&
  pass "refused writes left no provider, token, team, key or policy behind" || fail "refused writes left rows"

# --- a data plane subscribing with an auditor token ------------------------------------------
before=$(psql_q "SELECT coalesce(max(id), 0) FROM audit_log")
LLMGW_CONTROL_PLANE_TOKEN=${TOKEN[auditor]} "$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$CP_PORT" \
  --node-id dp-aud --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --threads 1 --grace-ms 500 \
  >"$T/dp.log" 2>&1 &
DP=$!
PIDS+=($DP)
for i in $(seq 1 100); do
  n=$(psql_q "SELECT count(*) FROM audit_log WHERE id > $before AND action = 'access.denied'
    AND actor = 'aud' AND actor_role = 'auditor' AND detail = 'role=auditor class=nodes'
    AND object = '/llmgw.v1.DistributionService/WatchRoutingTable'")
  [ "$n" -ge 1 ] && break
  sleep 0.1
done
[ "$n" -ge 1 ] && pass "an auditor token may not subscribe a data plane: refused and audited" ||
  { fail "WatchRoutingTable refused to an auditor"; tail "$T/dp.log" >&2; }
kill "$DP" 2>/dev/null || true
wait "$DP" 2>/dev/null || true
"$BIN/llmgw" nodes >"$T/out"
! grep -q "^dp-aud " "$T/out" && pass "the refused node never registered" || fail "the refused node registered"

check "the audit chain is intact after all of it" "$BIN/llmgw" audit verify

if grep -l "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T"/*.log; then
  fail "sanitizer reports in process logs"
fi
if [ "$FAILS" != 0 ]; then
  echo "$FAILS check(s) failed; logs:" >&2
  tail -n 30 "$T"/*.log >&2 || true
  exit 1
fi
echo "all role checks passed"
