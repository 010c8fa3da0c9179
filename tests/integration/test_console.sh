#!/usr/bin/env bash
# test_console: the web console and its JSON admin API (docs/console.md),
# against a real PostgreSQL, llmgw-controlplane --http-listen, llmgw-sim and
# a managed data plane; then in Debian's headless chromium driven by
# playwright-core (tests/console/console.test.js).
#
# API cases (curl): the embedded files with their types and CSP; GET /api/
# lists every registered RPC; no token 401, a bad token 401; bad JSON and a
# wrong field type are 400 naming the field; an unknown RPC 404; a wrong
# method 405; a body over 1 MiB 413; an auditor's write 403 with one
# access.denied audit row, an auditor's read allowed; an admin's change over
# the API is audited as the token; malformed requests and odd JSON bodies
# get an answer and the server stays up; the event stream wants a ticket,
# says "changed" on a CLI change, and a ticket works once. Browser cases
# (tests/console/console.test.js): login with a bad token, the four panels'
# figures against the RPCs (status from ProviderPerformance: a provider on a
# simulator answering 500 is ✗; each route's pick from RoutingDecisions),
# add a provider, test it, switch a route's strategy and see the data plane
# serve with it, edit and remove the provider, the auditor's refused edit, a
# token revoked while signed in, every stream slot taken (the page polls),
# the control plane stopped and restarted; then the audit rows of it all.
# Screenshots: $LLMGW_BIN_DIR/console-*.png.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-console-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"

start_cp() { # start_cp: (re)starts the control plane on the fixed ports; sets CP_PID, CP_HTTP
  rm -f "$T/cp.port" "$T/cp.http"
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
    --listen "127.0.0.1:$CP_FIXED_PORT" --port-file "$T/cp.port" \
    --http-listen "127.0.0.1:$CP_FIXED_HTTP" --http-port-file "$T/cp.http" \
    --workers 3 --grace-ms 500 >>"$T/cp.log" 2>&1 &
  CP_PID=$!
  PIDS+=("$CP_PID")
  echo "$CP_PID" >"$T/cp.pid"
  wait_file "$T/cp.http" || { cat "$T/cp.log" >&2; return 1; }
  CP_HTTP=$(cat "$T/cp.http")
}
stop_cp() { # stop_cp: SIGTERM, then wait until it has exited
  local pid
  pid=$(cat "$T/cp.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
api() { # api TOKEN RPC BODY: prints the HTTP status; the body is in $T/api.json
  curl -s -o "$T/api.json" -w '%{http_code}' -X POST "http://127.0.0.1:$CP_HTTP/api/$2" \
    -H "authorization: Bearer $1" -H 'content-type: application/json' --data-binary "$3"
}
expect_api() { # expect_api NAME STATUS NEEDLE TOKEN RPC BODY
  local name=$1 want=$2 needle=$3 got
  shift 3
  got=$(api "$@")
  if [ "$got" = "$want" ] && grep -qF -- "$needle" "$T/api.json"; then pass "$name"; else
    fail "$name (HTTP $got, want $want with '$needle')"
    cat "$T/api.json" >&2
    echo >&2
  fi
}
chat() { # chat: prints the HTTP status; the answer is in $T/chat.json
  curl -s -o "$T/chat.json" -w '%{http_code}' "http://127.0.0.1:$DP_HTTP/v1/chat/completions" \
    -H 'content-type: application/json' \
    -d '{"model":"chat","messages":[{"role":"user","content":"hello there"}]}'
}

export LLMGW_ADMIN_TOKEN=console-admin-token-$RANDOM-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
LLMGW_MASTER_KEY=$(openssl rand -hex 32)
export LLMGW_MASTER_KEY
unset LLMGW_BOOTSTRAP_TOKEN LLMGW_DATABASE_URL
pg_cluster_start "$T/pg"
CP_FIXED_PORT=$(free_port)
CP_FIXED_HTTP=$(free_port)
export LLMGW_CONTROL_TARGET=127.0.0.1:$CP_FIXED_PORT

"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/sim.port" --name sim \
  --models gpt-4o-mini,gpt-4o >"$T/sim.log" 2>&1 &
PIDS+=($!)
wait_file "$T/sim.port"
SIM_PORT=$(cat "$T/sim.port")
start_cp
check "provider add sim" "$BIN/llmgw" provider add sim --base-url "http://127.0.0.1:$SIM_PORT/v1"
check "model add sim/gpt-4o-mini" "$BIN/llmgw" model add sim/gpt-4o-mini --input-cost 150 --output-cost 600
check "model add sim/gpt-4o" "$BIN/llmgw" model add sim/gpt-4o --input-cost 2500 --output-cost 10000
check "route add chat" "$BIN/llmgw" route add chat --deployment sim/gpt-4o,priority=0 \
  --deployment sim/gpt-4o-mini,priority=1
check "budget set org-monthly" "$BIN/llmgw" budget set org-monthly --org --period monthly --limit-usd 50
check "token create aud --role auditor" "$BIN/llmgw" token create aud --role auditor
AUD=$(cat "$T/out")
ADM=$LLMGW_ADMIN_TOKEN

"$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$CP_FIXED_PORT" --node-id dp1 \
  --listen 127.0.0.1:0 --port-file "$T/dp.port" --http-listen 127.0.0.1:0 \
  --http-port-file "$T/dp.http" --threads 1 --http-threads 2 --grace-ms 500 >"$T/dp.log" 2>&1 &
PIDS+=($!)
wait_file "$T/dp.http" || { cat "$T/dp.log" >&2; exit 1; }
DP_HTTP=$(cat "$T/dp.http")
ok=0
for _ in $(seq 1 50); do [ "$(chat)" = 200 ] && break; sleep 0.1; done
for _ in $(seq 1 12); do [ "$(chat)" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 12 ] && pass "the data plane serves route chat" || fail "the data plane serves route chat ($ok/12)"
for _ in $(seq 1 100); do
  [ "$(psql_q "SELECT count(*) FROM usage_events")" -ge 13 ] && break
  sleep 0.1
done
[ "$(psql_q "SELECT count(*) FROM usage_events")" -ge 13 ] && pass "its usage reached PostgreSQL" ||
  fail "its usage reached PostgreSQL ($(psql_q "SELECT count(*) FROM usage_events"))"

# --- flags ---------------------------------------------------------------------------------
check_fails "--http-port-file needs --http-listen" 2 "--http-port-file: needs --http-listen" \
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --http-port-file "$T/x.port"
check_fails "a bad --http-listen names the flag" 1 "--http-listen: expected HOST:PORT (IPv4, [IPv6] or localhost; port 0..65535), got 'nowhere'" \
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --http-listen nowhere
check_fails "a taken --http-listen port says so" 1 "--http-listen: cannot listen on 127.0.0.1:$CP_HTTP" \
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
  --listen 127.0.0.1:0 --http-listen "127.0.0.1:$CP_HTTP"

# --- static files ------------------------------------------------------------------
U=http://127.0.0.1:$CP_HTTP
for f in "/|text/html" "/console.js|text/javascript" "/console.css|text/css"; do
  path=${f%%|*} type=${f#*|}
  curl -s -D "$T/h" -o "$T/body" "$U$path"
  grep -qi "^content-type: $type" "$T/h" && grep -qi "^content-security-policy: default-src 'none'" "$T/h" &&
    [ -s "$T/body" ] && pass "GET $path: $type with a strict CSP" || { fail "GET $path"; cat "$T/h" >&2; }
done
cmp -s "$T/body" "$SRC/server/controlplane/console/console.css" && pass "the served file is the embedded source" ||
  fail "the served file is the embedded source"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/nothing-here")" = 404 ] && pass "an unknown file is 404" ||
  fail "an unknown file is 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$U/")" = 405 ] && pass "DELETE / is 405" || fail "DELETE / is 405"
! grep -Eq '(src|href)="(https?:)?//' "$SRC/server/controlplane/console/index.html" &&
  ! grep -Eq "(fetch|EventSource)\(\"(https?:)?//" "$SRC/server/controlplane/console/console.js" &&
  pass "the page loads nothing from elsewhere" ||
  fail "the page loads nothing from elsewhere"

# --- the JSON bridge ------------------------------------------------------------------
st=$(curl -s -o "$T/api.json" -w '%{http_code}' "$U/api/" -H "authorization: Bearer $ADM")
[ "$st" = 200 ] && python3 - "$T/api.json" <<'PY' && pass "GET /api/: the caller and every registered RPC" || { fail "GET /api/ ($st)"; cat "$T/api.json" >&2; }
import json, sys
j = json.load(open(sys.argv[1]))
assert j["caller"] == {"name": "bootstrap", "role": "admin"}, j["caller"]
paths = {m["path"]: m for m in j["methods"]}
for p in ("llmgw.v1.RegistryService/ListProviders", "llmgw.v1.RegistryService/UpdateRoute",
          "llmgw.v1.UsageService/GetUsageReport", "llmgw.v1.BudgetService/ListBudgets",
          "llmgw.v1.AuditService/ListAudit", "llmgw.v1.AdminTokenService/CreateAdminToken"):
    assert p in paths and paths[p]["allowed"], p
assert paths["llmgw.v1.RegistryService/ListProviders"]["access"] == "registry.read"
PY
st=$(curl -s -o "$T/api.json" -w '%{http_code}' -X POST "$U/api/llmgw.v1.RegistryService/ListProviders" -d '{}')
[ "$st" = 401 ] && grep -qF "authorization: expected an 'Authorization: Bearer <admin token>' header" "$T/api.json" &&
  pass "no token: 401 naming the header" || { fail "no token: 401 ($st)"; cat "$T/api.json" >&2; }
expect_api "a bad token: 401" 401 "authorization: admin token not valid" not-a-token \
  llmgw.v1.RegistryService/ListProviders '{}'
expect_api "ListProviders as admin" 200 '"base_url":"http://127.0.0.1:' "$ADM" \
  llmgw.v1.RegistryService/ListProviders '{}'
expect_api "an empty body is the empty request" 200 '"routes":[{"name":"chat"' "$ADM" \
  llmgw.v1.RegistryService/ListRoutes ''
expect_api "bad JSON: 400" 400 "request: not JSON (line 1 column" "$ADM" \
  llmgw.v1.RegistryService/ListProviders '{"x":'
expect_api "a wrong type: 400 naming the field" 400 '"message":"provider.base_url: expected a string"' "$ADM" \
  llmgw.v1.RegistryService/CreateProvider '{"provider":{"name":"x","base_url":5}}'
expect_api "an unknown field: 400 naming it" 400 "route.strategyy: unknown field" "$ADM" \
  llmgw.v1.RegistryService/UpdateRoute '{"route":{"name":"chat","strategyy":"weighted"}}'
expect_api "the RPC's own validation: 400" 400 "route.strategy: expected one of priority, weighted" "$ADM" \
  llmgw.v1.RegistryService/UpdateRoute '{"route":{"name":"chat","strategy":"fastest","deployments":[{"provider":"sim","model":"gpt-4o"}]}}'
expect_api "a missing object: 404" 404 '"code":"NOT_FOUND"' "$ADM" \
  llmgw.v1.RegistryService/GetProvider '{"name":"nobody"}'
expect_api "a duplicate: 409" 409 '"code":"ALREADY_EXISTS"' "$ADM" \
  llmgw.v1.RegistryService/CreateProvider "{\"provider\":{\"name\":\"sim\",\"base_url\":\"http://127.0.0.1:$SIM_PORT/v1\"}}"
expect_api "an unknown RPC: 404" 404 "method: no RPC llmgw.v1.RegistryService/Nope" "$ADM" \
  llmgw.v1.RegistryService/Nope '{}'
st=$(curl -s -o "$T/api.json" -w '%{http_code}' "$U/api/llmgw.v1.RegistryService/ListProviders" -H "authorization: Bearer $ADM")
[ "$st" = 405 ] && pass "GET on an RPC: 405" || fail "GET on an RPC: 405 ($st)"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$T/big.json"
st=$(curl -s -o "$T/api.json" -w '%{http_code}' -X POST "$U/api/llmgw.v1.RegistryService/ListProviders" \
  -H "authorization: Bearer $ADM" --data-binary @"$T/big.json")
[ "$st" = 413 ] && pass "a body over 1 MiB: 413" || fail "a body over 1 MiB: 413 ($st)"
before=$(psql_q "SELECT coalesce(max(id), 0) FROM audit_log")
expect_api "an admin's change over the API" 200 '"table_version":' "$ADM" \
  llmgw.v1.RegistryService/CreateProvider '{"provider":{"name":"spare","base_url":"http://127.0.0.1:9/v1"}}'
[ "$(psql_q "SELECT actor || ' ' || actor_role || ' ' || action || ' ' || object || ' ' || (peer LIKE 'ipv4:127.0.0.1:%')
  FROM audit_log WHERE id > $before")" = "bootstrap admin provider.create provider/spare true" ] &&
  pass "  ... is audited as the token, with the peer" || { fail "  ... audited"; psql_q "SELECT * FROM audit_log WHERE id > $before" >&2; }
expect_api "an auditor reads providers" 200 '"name":"sim"' "$AUD" llmgw.v1.RegistryService/ListProviders '{}'
expect_api "an auditor reads usage" 200 '"rows":[' "$AUD" llmgw.v1.UsageService/GetUsageReport '{"by":"provider"}'
before=$(psql_q "SELECT coalesce(max(id), 0) FROM audit_log")
expect_api "an auditor's write: 403" 403 "permission: role 'auditor' may not call llmgw.v1.RegistryService/DeleteProvider (registry)" \
  "$AUD" llmgw.v1.RegistryService/DeleteProvider '{"name":"spare"}'
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE id > $before AND action = 'access.denied' AND actor = 'aud'
  AND actor_role = 'auditor' AND object = '/llmgw.v1.RegistryService/DeleteProvider' AND peer LIKE 'ipv4:127.0.0.1:%'")" = 1 ] &&
  pass "  ... leaves one access.denied audit row" || { fail "  ... access.denied row"; psql_q "SELECT * FROM audit_log WHERE id > $before" >&2; }
[ "$(psql_q "SELECT count(*) FROM providers WHERE name = 'spare'")" = 1 ] && pass "  ... and changed nothing" ||
  fail "  ... and changed nothing"

# --- whatever arrives, the server answers and stays up --------------------------------------
python3 - "$CP_HTTP" <<'PY' && pass "malformed requests get an answer or a closed socket, never a crash" || fail "malformed requests"
import socket, sys
port = int(sys.argv[1])
cases = [
    b"GARBAGE\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n",
    b"POST /api/llmgw.v1.RegistryService/ListProviders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /api/llmgw.v1.RegistryService/ListProviders HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",
    b"GET /api/events?ticket=%00%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\x01\x02\xff\r\n\r\n",
]
for c in cases:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:  # reset, broken pipe, timeout, or closed before shutdown (ENOTCONN)
        pass
    s.close()
PY
for body in '[]' '"x"' '12' 'null' "$(python3 -c 'print("["*3000 + "]"*3000)')" '{"provider":{"name":"\ud800"}}' \
  '{"provider":{"timeout_ms":1e400}}' '{"provider":{"headers":[1,2]}}'; do
  st=$(api "$ADM" llmgw.v1.RegistryService/CreateProvider "$body")
  [ "$st" = 400 ] || { odd_bad=1; fail "CreateProvider with ${body:0:40}: 400 (got $st)"; cat "$T/api.json" >&2; }
done
[ -z "${odd_bad:-}" ] && pass "odd JSON bodies (array, string, number, null, nested 3000 deep, lone surrogate, 1e400, wrong element types) are 400"
st=$(curl -s -o "$T/api.json" -w '%{http_code}' -X POST "$U/api/llmgw.v1.RegistryService/%ff%c3" -H "authorization: Bearer $ADM")
[ "$st" = 404 ] && grep -qF '"message":"method: no RPC llmgw.v1.RegistryService/??' "$T/api.json" &&
  pass "a method name that is not UTF-8: 404, the bytes shown as ?" || { fail "a non-UTF-8 method name: 404 ($st)"; cat "$T/api.json" >&2; }
expect_api "still serving after all that" 200 '"providers":[' "$ADM" llmgw.v1.RegistryService/ListProviders '{}'

# --- the event stream ------------------------------------------------------------------
st=$(curl -s -o "$T/api.json" -w '%{http_code}' "$U/api/events?ticket=0000")
[ "$st" = 401 ] && grep -qF "ticket: expected a fresh ticket" "$T/api.json" && pass "a stream without a ticket: 401" ||
  fail "a stream without a ticket: 401 ($st)"
st=$(curl -s -o "$T/api.json" -w '%{http_code}' -X POST "$U/api/events/ticket" -H "authorization: Bearer $AUD")
TICKET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ticket"])' "$T/api.json" 2>/dev/null || true)
[ "$st" = 200 ] && [ ${#TICKET} = 64 ] && pass "a ticket for the stream" || fail "a ticket for the stream ($st)"
# Open 4 s (times LLMGW_TEST_TIMEOUT_SCALE: the CLI's change takes longer under valgrind).
curl -s -N --max-time $((4 * ${LLMGW_TEST_TIMEOUT_SCALE:-1})) "$U/api/events?ticket=$TICKET" >"$T/sse" 2>/dev/null &
SSE=$!
sleep 1
check "a change while the stream is open" "$BIN/llmgw" route update chat --strategy weighted \
  --deployment sim/gpt-4o,priority=0 --deployment sim/gpt-4o-mini,priority=1
wait "$SSE" || true
grep -q '^event: hello' "$T/sse" && grep -q '"caller":"aud"' "$T/sse" && grep -q '^event: changed' "$T/sse" &&
  pass "the stream says hello, then 'changed' on a new table version" || { fail "the stream events"; cat "$T/sse" >&2; }
st=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$U/api/events?ticket=$TICKET" || true)
[ "$st" = 401 ] && pass "a ticket works once" || fail "a ticket works once ($st)"
ticket() { curl -s -X POST "$U/api/events/ticket" -H "authorization: Bearer $ADM" |
  sed -n 's/.*"ticket":"\([0-9a-f]*\)".*/\1/p'; }
SSES=()
for k in $(seq 1 16); do
  tk=$(ticket)
  curl -s -N --max-time 30 "$U/api/events?ticket=$tk" >"$T/sse.$k" 2>/dev/null &
  SSES+=($!)
done
for _ in $(seq 1 100); do # until all 16 said hello
  [ "$(cat "$T"/sse.* 2>/dev/null | grep -c '^event: hello')" = 16 ] && break
  sleep 0.1
done
st=$(curl -s -o "$T/api.json" --max-time 3 -w '%{http_code}' "$U/api/events?ticket=$(ticket)" || true)
[ "$st" = 503 ] && grep -qF "events: too many open streams" "$T/api.json" &&
  pass "a 17th open stream: 503" || fail "a 17th open stream: 503 ($st)"
kill "${SSES[@]}" 2>/dev/null || true
wait "${SSES[@]}" 2>/dev/null || true
# Closed clients free their streams at once (the server watches the sockets).
sleep 1.5
st=$(curl -s -o "$T/sse.after" --max-time 2 -w '%{http_code}' "$U/api/events?ticket=$(ticket)" || true)
[ "$st" = 200 ] && grep -q '^event: hello' "$T/sse.after" &&
  pass "  ... and once those clients hang up, a stream opens again" || fail "  ... a stream opens again ($st)"
check "route back to priority" "$BIN/llmgw" route update chat --strategy priority \
  --deployment sim/gpt-4o,priority=0 --deployment sim/gpt-4o-mini,priority=1
for _ in $(seq 1 100); do
  r=$(curl -s -D - -o /dev/null "http://127.0.0.1:$DP_HTTP/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"chat","messages":[{"role":"user","content":"hello there"}]}' | tr -d '\r' | sed -n 's/^x-llmgw-route-reason: //Ip')
  [[ "$r" == priority:* ]] && break
  sleep 0.1
done
[[ "$r" == "priority: sim/gpt-4o has the lowest priority (0) of 2 deployments" ]] &&
  pass "the data plane is back on priority" || fail "the data plane is back on priority ('$r')"

# --- a provider that fails --------------------------------------------------------------------
# A second simulator answering 500 to everything, first in route flaky: its
# requests fall back to sim until its breaker opens (5 consecutive failures,
# docs/routing-table.md), then skip it. The console shows it ✗ from
# ProviderPerformance and route flaky's picks from RoutingDecisions.
"$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/bad.port" --name bad --status 500 \
  --models flaky-1 >"$T/bad.log" 2>&1 &
PIDS+=($!)
wait_file "$T/bad.port"
check "provider add bad" "$BIN/llmgw" provider add bad --base-url "http://127.0.0.1:$(cat "$T/bad.port")/v1"
check "model add bad/flaky-1" "$BIN/llmgw" model add bad/flaky-1 --input-cost 5000 --output-cost 20000
check "route add flaky" "$BIN/llmgw" route add flaky --deployment bad/flaky-1,priority=0 \
  --deployment sim/gpt-4o-mini,priority=1
flaky() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DP_HTTP/v1/chat/completions" \
  -H 'content-type: application/json' -d '{"model":"flaky","messages":[{"role":"user","content":"hello there"}]}'; }
# Waits stretched by LLMGW_TEST_TIMEOUT_SCALE, as in console.test.js.
for _ in $(seq 1 $((100 * ${LLMGW_TEST_TIMEOUT_SCALE:-1}))); do [ "$(flaky)" = 200 ] && break; sleep 0.1; done
ok=0
for _ in $(seq 1 9); do [ "$(flaky)" = 200 ] && ok=$((ok + 1)); done
[ "$ok" = 9 ] && pass "route flaky serves every request from its fallback" || fail "route flaky serves from its fallback ($ok/9)"
for _ in $(seq 1 $((100 * ${LLMGW_TEST_TIMEOUT_SCALE:-1}))); do
  api "$ADM" llmgw.v1.AnalyticsService/ProviderPerformance '{"provider":"bad"}' >/dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["deployments"]; sys.exit(0 if d and int(d[0].get("breaker_opened", 0)) > 0 else 1)' \
    "$T/api.json" 2>/dev/null && break
  sleep 0.1
done
grep -q '"breaker_opened":[1-9]' "$T/api.json" && pass "  ... and bad's breaker opening reached ProviderPerformance" ||
  { fail "  ... bad's breaker opening in ProviderPerformance"; cat "$T/api.json" >&2; }

# --- in the browser ------------------------------------------------------------------------
# Debian's chromium and the pinned playwright-core (tests/console/package.json).
if ! [ -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { fail "chromium is missing (apt-get install chromium, or run as root)"; exit 1; }
  echo "test_console: installing Debian's chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2; } ||
    { fail "apt-get install chromium failed"; exit 1; }
fi
# shellcheck source=../support/node_deps.sh
. "$SRC/tests/support/node_deps.sh"
(fail() { echo "FAIL - $1" >&2; exit 1; }; TEST_NAME=test_console node_deps_ensure "$SRC/tests/console" playwright-core) ||
  { fail "playwright-core installed"; exit 1; }
export -f start_cp stop_cp wait_file
export BIN SRC T PG_URL CP_FIXED_PORT CP_FIXED_HTTP
before=$(psql_q "SELECT coalesce(max(id), 0) FROM audit_log")
rc=0
NODE_PATH=$SRC/tests/console/node_modules CONSOLE_URL="http://127.0.0.1:$CP_HTTP" ADMIN_TOKEN=$ADM \
  AUDITOR_TOKEN=$AUD DP_URL="http://127.0.0.1:$DP_HTTP" SIM_URL="http://127.0.0.1:$SIM_PORT" \
  OUT_DIR=$LLMGW_BIN_DIR CP_STOP_CMD="stop_cp" CP_START_CMD="PIDS=(); start_cp" \
  node "$SRC/tests/console/console.test.js" || rc=$?
PIDS+=("$(cat "$T/cp.pid")")
[ "$rc" = 0 ] && pass "the console in headless chromium" || fail "the console in headless chromium (exit $rc)"
[ "$(psql_q "SELECT string_agg(actor || ' ' || action || ' ' || object, ', ' ORDER BY id) FROM audit_log
  WHERE id > $before AND action <> 'access.denied'")" = \
  "bootstrap provider.create provider/added-local, bootstrap route.update route/chat, bootstrap provider.update provider/added-local, bootstrap provider.delete provider/added-local, bootstrap admin_token.revoke admin_token/aud" ] &&
  pass "the console's changes are audited admin actions" ||
  { fail "the console's changes are audited"; psql_q "SELECT id, actor, action, object FROM audit_log WHERE id > $before" >&2; }
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE id > $before AND action = 'access.denied' AND actor = 'aud'
  AND object = '/llmgw.v1.RegistryService/UpdateProvider' AND detail = 'role=auditor class=registry'")" = 1 ] &&
  pass "the auditor's refused edit left one access.denied row" || fail "the auditor's refused edit left one access.denied row"
ls "$LLMGW_BIN_DIR"/console-admin.png "$LLMGW_BIN_DIR"/console-auditor.png "$LLMGW_BIN_DIR"/console-unreachable.png >/dev/null &&
  pass "screenshots in $LLMGW_BIN_DIR" || fail "screenshots in $LLMGW_BIN_DIR"
stop_cp || fail "the control plane stops on SIGTERM"
! grep -q "Sanitizer\|runtime error:" "$T/cp.log" && pass "the control plane's log is sanitizer-clean" ||
  { fail "the control plane's log is sanitizer-clean"; grep -A20 "Sanitizer\|runtime error:" "$T/cp.log" >&2; }

[ "$FAILS" = 0 ] || { echo "$FAILS failure(s)" >&2; tail -30 "$T/cp.log" >&2; exit 1; }
echo "all console checks passed"
