#!/usr/bin/env bash
# test_chaos: failures injected into real processes, each bounded in time,
# and what must hold after each: no usage row lost or doubled, the audit
# chain verifies, every data plane converges on the latest table.
#
#   1. kill -9 of the control plane while tables are being pushed;
#   2. PostgreSQL crashed and restarted (immediate mode) during usage ingestion;
#   3. an upstream killed mid-stream: the client gets a clean error (HTTP: the
#      in-band error event; gRPC: a status naming the break), and killed before
#      the first chunk with a healthy fallback: the client gets an answer;
#   4. the state directory full (a small tmpfs): a clear error, the node keeps
#      serving what it installed, the last good table on disk is intact and
#      loads on restart while the control plane is down; usage waits in memory
#      and arrives once the control plane is back.
set -euo pipefail

BIN=${LLMGW_BIN_DIR:?}/bin
SRC=${LLMGW_SRC_DIR:?}
T=$(mktemp -d /tmp/llmgw-chaos-test.XXXXXX)
# shellcheck source=../support/cp_checks.sh
. "$SRC/tests/support/cp_checks.sh"
MOUNTED=
chaos_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
  cleanup
}
trap chaos_cleanup EXIT

CP_FIXED_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
start_cp() { # start_cp: the control plane on the fixed port; sets CP_PID
  rm -f "$T/cp.port"
  "$BIN/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" --migrations-dir "$SRC/migrations" \
    --listen "127.0.0.1:$CP_FIXED_PORT" --port-file "$T/cp.port" --workers 3 --grace-ms 500 \
    >>"$T/cp.log" 2>&1 &
  CP_PID=$!
  PIDS+=($CP_PID)
  wait_file "$T/cp.port" || { cat "$T/cp.log" >&2; return 1; }
}
launch_dp() { # launch_dp NAME STATE_DIR: a managed node; sets NAME_PID
  local name=$1 state=$2
  rm -f "$T/$name.port" "$T/$name.http"
  "$BIN/llmgw-dataplane" --insecure-dev --control-plane "127.0.0.1:$CP_FIXED_PORT" --node-id "$name" \
    --state-dir "$state" --listen 127.0.0.1:0 --port-file "$T/$name.port" \
    --http-listen 127.0.0.1:0 --http-port-file "$T/$name.http" --threads 1 --http-threads 1 \
    --grace-ms 1000 >>"$T/$name.log" 2>&1 &
  eval "${name}_PID=$!"
  PIDS+=($!)
}
wait_dp() { # wait_dp NAME: sets NAME_HTTP and NAME_GRPC
  # Both port files: the HTTP one may be written first.
  { wait_file "$T/$1.http" && wait_file "$T/$1.port"; } || { cat "$T/$1.log" >&2; return 1; }
  eval "${1}_HTTP=$(cat "$T/$1.http")"
  eval "${1}_GRPC=$(cat "$T/$1.port")"
}
start_sim() { # start_sim NAME ARGS...: sets NAME_PORT, NAME_PID
  local name=$1
  shift
  rm -f "$T/$name.port"
  "$BIN/llmgw-sim" --listen 127.0.0.1:0 --port-file "$T/$name.port" --name "$name" "$@" \
    >>"$T/$name.log" 2>&1 &
  eval "${name}_PID=$!"
  PIDS+=($!)
  wait_file "$T/$name.port"
  eval "${name}_PORT=$(cat "$T/$name.port")"
}
chat() { # chat HTTP_PORT MODEL: prints the HTTP status
  curl -s -m 20 -o "$T/chat.$1.$BASHPID" -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
    -H 'content-type: application/json' \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"chaos\"}]}"
}
latest() { psql_q "SELECT max(version) FROM routing_table_versions"; }
wait_converged() { # wait_converged N: every one of N nodes acked the latest version (20 s)
  local i want
  for i in $(seq 1 200); do
    want=$(latest)
    [ "$("$BIN/llmgw" nodes --output json 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(sum(1 for n in d['nodes'] if n['acked_version']==$want))" 2>/dev/null)" = "$1" ] && return 0
    sleep 0.1
  done
  "$BIN/llmgw" nodes >&2 || true
  return 1
}
rows() { psql_q "SELECT count(*) || '/' || count(DISTINCT request_id) FROM usage_events"; }
wait_rows() { # wait_rows N: N rows, all distinct (30 s)
  local i
  for i in $(seq 1 300); do
    [ "$(rows)" = "$1/$1" ] && return 0
    sleep 0.1
  done
  return 1
}
audit_ok() { "$BIN/llmgw" audit verify --database-url "$PG_URL" >"$T/verify" 2>&1; }
tables_ok() { # every stored table's checksum is its document's SHA-256
  [ "$(psql_q "SELECT count(*) FROM routing_table_versions WHERE checksum <> encode(sha256(convert_to(document, 'UTF8')), 'hex')")" = 0 ]
}

export LLMGW_ADMIN_TOKEN=test-admin-token-$RANDOM-$RANDOM
export LLMGW_CONTROL_PLANE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)
export LLMGW_CONTROL_TARGET=127.0.0.1:$CP_FIXED_PORT
pg_cluster_start "$T/pg"
start_sim fast --models m0
start_sim slow --models m0 --ttft-ms 4000
start_sim drip --models m0 --tokens-per-s 5
start_cp
for p in fast slow drip; do
  port_var=${p}_PORT
  check "provider add $p" "$BIN/llmgw" provider add "$p" --base-url "http://127.0.0.1:${!port_var}/v1"
  check "model add $p/m0" "$BIN/llmgw" model add "$p/m0" --input-cost 1 --output-cost 1
done
check "route chat" "$BIN/llmgw" route add chat --deployment fast/m0
check "route fb (slow first, then fast)" "$BIN/llmgw" route add fb \
  --deployment slow/m0,priority=0 --deployment fast/m0,priority=1
check "route trickle" "$BIN/llmgw" route add trickle --deployment drip/m0
mkdir -p "$T/s1" "$T/s2"
launch_dp n1 "$T/s1"
launch_dp n2 "$T/s2"
wait_dp n1 && wait_dp n2
wait_converged 2 && pass "two nodes on the first tables" || fail "two nodes on the first tables"

# --- 1. kill -9 of the control plane during table pushes ------------------------
(for i in $(seq 1 40); do "$BIN/llmgw" model add "fast/k$i" --input-cost 1 --output-cost 1 >/dev/null 2>&1 || true; done) &
pusher=$!
sleep 0.4
kill -9 "$CP_PID"
wait "$CP_PID" 2>/dev/null || true
wait "$pusher" 2>/dev/null || true
echo "# $(psql_q "SELECT count(*) FROM models WHERE name LIKE 'k%'") of 40 changes committed before the kill"
start_cp
check "a change after the restart" "$BIN/llmgw" model add fast/after-kill --input-cost 1 --output-cost 1
wait_converged 2 && pass "after kill -9 mid-push both nodes converge on the latest table" ||
  fail "after kill -9 mid-push both nodes converge on the latest table"
tables_ok && pass "every stored table matches its checksum" || fail "every stored table matches its checksum"
[ "$(psql_q "SELECT count(*) FROM models WHERE provider = 'fast' AND name <> 'm0'")" = \
  "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'model.create' AND object LIKE 'model/fast/%' AND object <> 'model/fast/m0'")" ] &&
  pass "each committed change has its audit row, no half-written change" ||
  fail "each committed change has its audit row"
audit_ok && pass "llmgw audit verify passes after the kill" || { fail "llmgw audit verify after the kill"; cat "$T/verify" >&2; }

# --- 2. PostgreSQL crashes during usage ingestion -----------------------------------
psql_q "DELETE FROM usage_events" >/dev/null
for n in n1 n2; do
  port_var=${n}_HTTP
  (for i in $(seq 1 100); do chat "${!port_var}" chat; echo; done >"$T/codes.$n") &
done
sleep 0.5
pg_cluster__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 restart >/dev/null
for job in $(jobs -p); do
  case " ${PIDS[*]} " in *" $job "*) ;; *) wait "$job" || true ;; esac
done
served=$(cat "$T"/codes.n1 "$T"/codes.n2 | grep -c '^200$' || true)
[ "$served" = 200 ] && pass "200 requests served while PostgreSQL crashed and restarted" ||
  fail "200 requests served while PostgreSQL restarted ($served)"
wait_rows 200 && pass "200 requests are 200 usage rows, none doubled" || fail "200 usage rows, none doubled ($(rows))"
audit_ok && pass "llmgw audit verify passes after the crash" || { fail "llmgw audit verify after the crash"; cat "$T/verify" >&2; }

# --- 3. an upstream killed mid-stream ---------------------------------------------------
long="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
curl -sN -m 30 "http://127.0.0.1:$n1_HTTP/v1/chat/completions" -H 'content-type: application/json' \
  -d "{\"model\":\"trickle\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$long $long\"}]}" \
  >"$T/stream.http" 2>&1 &
curl_pid=$!
"$BIN/llmgw" chat --target "127.0.0.1:$n2_GRPC" --model trickle --stream --timeout-ms 30000 "$long $long" \
  >"$T/stream.grpc" 2>"$T/stream.grpc.err" &
grpc_pid=$!
# Both streams under way (the CLI's first delta too) before the upstream dies.
for _ in $(seq 1 $((50 * ${LLMGW_TEST_TIMEOUT_SCALE:-1}))); do
  grep -q '"content"' "$T/stream.http" 2>/dev/null && [ -s "$T/stream.grpc" ] && break
  sleep 0.1
done
sleep 0.5
kill -9 "$drip_PID"
t0=$(date +%s)
wait "$curl_pid" || true
grpc_rc=0
wait "$grpc_pid" || grpc_rc=$?
[ $(( $(date +%s) - t0 )) -le 10 ] && pass "both streams end promptly after the upstream died" ||
  fail "both streams end promptly after the upstream died"
grep -q '^data: {"error"' "$T/stream.http" && ! grep -q '\[DONE\]' "$T/stream.http" &&
  pass "HTTP: the stream ends with OpenAI's in-band error event, no [DONE]" ||
  { fail "HTTP: the stream ends with an error event"; tail -5 "$T/stream.http" >&2; }
[ "$grpc_rc" = 1 ] && grep -q "UNAVAILABLE.*stream broke after the first chunk" "$T/stream.grpc.err" &&
  pass "gRPC: the stream ends UNAVAILABLE naming the break" ||
  { fail "gRPC: the stream ends UNAVAILABLE naming the break (exit $grpc_rc)"; cat "$T/stream.grpc.err" >&2; }
curl -sN -m 30 "http://127.0.0.1:$n1_HTTP/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"fb","stream":true,"messages":[{"role":"user","content":"rescued answer"}]}' \
  >"$T/fb.http" 2>&1 &
curl_pid=$!
sleep 1
kill -9 "$slow_PID"
wait "$curl_pid" || true
grep -q 'rescued' "$T/fb.http" && grep -q '\[DONE\]' "$T/fb.http" && ! grep -q '"error"' "$T/fb.http" &&
  pass "killed before the first chunk, the stream is answered by the fallback" ||
  { fail "killed before the first chunk, the stream is answered by the fallback"; cat "$T/fb.http" >&2; }

# --- 4. the state directory is full -------------------------------------------------------
mkdir -p "$T/full"
if mount -t tmpfs -o size=256k tmpfs "$T/full"; then
  MOUNTED=$T/full
  launch_dp n3 "$T/full"
  wait_dp n3
  wait_converged 3 && pass "a node with its state on a small tmpfs joins" || fail "a node with its state on a small tmpfs joins"
  good=$(python3 -c "import json; print(json.load(open('$T/full/table.json'))['version'])")
  dd if=/dev/zero of="$T/full/filler" bs=4k >/dev/null 2>&1 || true
  check "a change while the node's disk is full" "$BIN/llmgw" route add full-route --deployment fast/m0
  wait_converged 3 && pass "the node still installs and acks the new table" || fail "the node installs the new table"
  grep -q 'cannot persist the routing table.*No space left on device' "$T/n3.log" &&
    pass "the node logs why it cannot persist the table" || fail "the node logs why it cannot persist the table"
  [ "$(chat "$n3_HTTP" full-route)" = 200 ] && pass "and serves the new route from memory" || fail "and serves the new route from memory"
  python3 -c "
import json,sys; d=json.load(open('$T/full/table.json')); sys.exit(0 if d['version']==$good else 1)" &&
    pass "the table on disk is the last good one, intact (version $good)" || fail "the table on disk is intact"
  # The request above must be counted before the slate is cleaned, or its
  # row could arrive after the DELETE.
  for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM usage_events WHERE route = 'full-route'")" = 1 ] && break
    sleep 0.1
  done
  psql_q "DELETE FROM usage_events" >/dev/null
  kill -9 "$CP_PID"
  wait "$CP_PID" 2>/dev/null || true
  ok=0
  for i in $(seq 1 10); do [ "$(chat "$n3_HTTP" chat)" = 200 ] && ok=$((ok + 1)); done
  [ "$ok" = 10 ] && pass "control plane down, disk full: the node serves on" || fail "control plane down, disk full: the node serves on ($ok)"
  # Its usage cannot be spilled; it waits in memory and is not lost.
  for _ in $(seq 1 50); do grep -q "cannot spill a usage batch; kept in memory" "$T/n3.log" && break; sleep 0.1; done
  grep -q 'cannot spill a usage batch; kept in memory.*No space left on device' "$T/n3.log" &&
    pass "the node says it cannot spill usage and keeps it in memory" ||
    { fail "the node says it cannot spill usage"; grep -i spill "$T/n3.log" >&2; }
  rm -f "$T/full/filler"
  start_cp
  wait_rows 10 && pass "usage held in memory arrives once the control plane is back (10 rows)" ||
    fail "usage held in memory arrives ($(rows))"
  kill -TERM "$n3_PID"
  wait "$n3_PID" 2>/dev/null || true
  kill -9 "$CP_PID"
  wait "$CP_PID" 2>/dev/null || true
  launch_dp n3 "$T/full"
  wait_dp n3 && [ "$(chat "$n3_HTTP" chat)" = 200 ] &&
    pass "restarted with the control plane down, the node serves its last good table" ||
    fail "restarted with the control plane down, the node serves its last good table"
  start_cp
  wait_converged 3 && pass "with the control plane back every node converges on the latest table" ||
    fail "with the control plane back every node converges"
else
  fail "mount a small tmpfs for the full-disk case (needs root and CAP_SYS_ADMIN)"
fi
audit_ok && pass "llmgw audit verify passes at the end" || { fail "llmgw audit verify at the end"; cat "$T/verify" >&2; }

[ "$FAILS" = 0 ] || { tail -n 20 "$T"/n1.log "$T"/cp.log >&2; exit 1; }
