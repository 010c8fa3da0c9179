#!/usr/bin/env bash
# test_eval.sh: `llmgw eval` against a real llmgw-dataplane (standalone
# --table) in front of two llmgw-sim instances seeded to differ: sim "good"
# answers "Paris" fast (model m) and slowly (model slow), sim "bad" answers
# "London". Checks the ranking, --gate (exit 0 for the good candidate, 3 and
# the reason for the bad and the slow ones), the JSON and CSV outputs, the
# judge (and a judge with no grade), schema and agreement scorers, that
# --concurrency bounds the calls in flight, an unreachable candidate, that
# corrupt prompt files and bad flags are refused (exit 2) with a message
# naming FILE:LINE: field, and that the data plane then stops cleanly.
# --store-quality against a real control plane on a private PostgreSQL
# (tests/support/pg_cluster.sh): the measured figures land in the registry
# (a 0 stays 0, also across a later edit), one audited model.update each,
# and a route candidate, an unknown model, no control plane, no token and a
# candidate whose every call failed are refused with the reason and exit
# status. Under a pseudo-terminal (script(1)) the progress bar is drawn on
# stderr.
#
# Needs jq, script (util-linux) and PostgreSQL's server binaries. Env: LLMGW_BIN_DIR, LLMGW_SRC_DIR (default from here).
set -uo pipefail

SRC_DIR=${LLMGW_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN_DIR=${LLMGW_BIN_DIR:-$SRC_DIR/build}/bin
START_TIMEOUT_S=20
TEST_NAME=test_eval
WORK=$(mktemp -d /tmp/llmgw-eval.XXXXXX)
chmod 755 "$WORK" # the PostgreSQL cluster under it may run as another user (pg_cluster.sh)
PIDS=()
FAILS=0

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    pg_cluster_stop
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "$TEST_NAME: FAIL: $*" >&2
    for f in "$WORK"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done
    exit 1
}
bad() {
    echo "FAIL $1" >&2
    FAILS=$((FAILS + 1))
}
ok() { echo "ok   $1"; }
# shellcheck source=../support/procs.sh
. "$SRC_DIR/tests/support/procs.sh"
# shellcheck source=../support/pg_cluster.sh
. "$SRC_DIR/tests/support/pg_cluster.sh"

command -v jq >/dev/null || fail "jq is missing"
command -v script >/dev/null || fail "script (util-linux) is missing"
for b in llmgw-sim llmgw-dataplane llmgw llmgw-controlplane; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
done

# sim NAME CONFIG_JSON: starts a sim; sets PORT
sim() {
    printf '%s' "$2" >"$WORK/$1.json"
    "$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name "$1" --config "$WORK/$1.json" \
        --port-file "$WORK/$1.port" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    PORT=$(wait_port "$!" "$WORK/$1.port" "llmgw-sim $1")
    [ -n "$PORT" ] || fail "llmgw-sim $1 did not start"
}
sim good '{"models": {"m": {"answer": "Paris", "latency_ms": 5},
                      "slow": {"answer": "Paris", "latency_ms": 400},
                      "json": {"answer": "{\"city\": \"Paris\", \"pop\": 2}"}}}'
GOOD=$PORT
sim bad '{"models": {"m": {"answer": "London"}, "judge": {"answer": "Score: 0.75"}}}'
BAD=$PORT

cat >"$WORK/table.json" <<EOF2
{"version": 1,
 "providers": [
   {"name": "good", "base_url": "http://127.0.0.1:$GOOD/v1", "timeout_ms": 10000,
    "models": [{"name": "m", "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
               {"name": "slow", "input_cost_per_mtok": 1, "output_cost_per_mtok": 1},
               {"name": "json"}]},
   {"name": "bad", "base_url": "http://127.0.0.1:$BAD/v1", "timeout_ms": 10000,
    "models": [{"name": "m", "input_cost_per_mtok": 100, "output_cost_per_mtok": 100},
               {"name": "judge"}]}],
 "routes": [{"name": "fast-paris", "strategy": "priority",
             "deployments": [{"provider": "good", "model": "m"}]}]}
EOF2
"$BIN_DIR/llmgw-dataplane" --table "$WORK/table.json" --listen 127.0.0.1:0 --threads 2 \
    --port-file "$WORK/grpc.port" --http-listen 127.0.0.1:0 --http-port-file "$WORK/http.port" \
    >"$WORK/dataplane.log" 2>&1 &
DP_PID=$!
PIDS+=("$DP_PID")
DP_PORT=$(wait_port "$DP_PID" "$WORK/grpc.port" llmgw-dataplane)
[ -n "$DP_PORT" ] || fail "llmgw-dataplane did not start"
TARGET=127.0.0.1:$DP_PORT

cat >"$WORK/p.jsonl" <<'EOF2'
{"id": "capital", "prompt": "What is the capital of France?", "expected": "  paris "}

{"id": "capital-re", "prompt": "Name the French capital.", "regex": "^Par(is)?$"}
{"prompt": "Capital of France, one word.", "expected": "PARIS"}
{"prompt": "Which city hosts the Louvre?", "regex": "Paris|Lyon"}
EOF2

eval_run() { "$BIN_DIR/llmgw" eval --target "$TARGET" "$@"; }

# --- ranking and the gate ----------------------------------------------------
eval_run --prompts "$WORK/p.jsonl" --candidate bad/m --candidate good/slow \
    --candidate fast-paris --concurrency 3 --gate "quality>=0.8,p95_ms<=300" \
    --output "$WORK/out.json" >"$WORK/table.txt" 2>"$WORK/err.txt"
rc=$?
[ "$rc" = 3 ] && ok "gate: exit 3 when a candidate fails" || bad "gate exit: $rc $(cat "$WORK/err.txt")"
cat "$WORK/table.txt"
line_of() { grep -n " $1 " "$WORK/table.txt" | cut -d: -f1; }
[ "$(awk 'NR==2 {print $2}' "$WORK/table.txt")" = fast-paris ] && ok "rank 1: fast-paris" \
    || bad "rank 1 is not fast-paris"
[ "$(awk 'NR==3 {print $2}' "$WORK/table.txt")" = good/slow ] && ok "rank 2: good/slow" \
    || bad "rank 2 is not good/slow"
[ "$(awk 'NR==4 {print $2}' "$WORK/table.txt")" = bad/m ] && ok "rank 3: bad/m" \
    || bad "rank 3 is not bad/m"
grep -q "gate failed: bad/m: quality=0 (needs >= 0.8)" "$WORK/err.txt" && ok "gate names bad/m's quality" \
    || bad "gate reason for bad/m: $(cat "$WORK/err.txt")"
grep -q "gate failed: good/slow: p95_ms=[0-9.]* (needs <= 300)" "$WORK/err.txt" \
    && ok "gate names good/slow's p95" || bad "gate reason for good/slow: $(cat "$WORK/err.txt")"
grep -q "fast-paris" "$WORK/err.txt" && bad "fast-paris reported as failing" || ok "fast-paris passes"
if grep -v "gate failed" "$WORK/err.txt" | grep -q .; then
    bad "stderr is not a TTY but has more than the gate lines: $(cat "$WORK/err.txt")"
else ok "no progress line when stderr is not a TTY"; fi

# JSON output parses and holds the figures
jq -e '.candidates | length == 3' "$WORK/out.json" >/dev/null && ok "json: 3 candidates" || bad "json candidates"
jq -e '.results | length == 12' "$WORK/out.json" >/dev/null && ok "json: 12 results" || bad "json results"
jq -e '.candidates[] | select(.candidate == "fast-paris") | .quality == 1 and .rank == 1 and .gate == "pass" and .errors == 0 and .cost_usd > 0' \
    "$WORK/out.json" >/dev/null && ok "json: fast-paris figures" || bad "json fast-paris: $(cat "$WORK/out.json")"
jq -e '.candidates[] | select(.candidate == "bad/m") | .quality == 0 and .gate == "fail" and .cost_per_1k > 0' \
    "$WORK/out.json" >/dev/null && ok "json: bad/m figures" || bad "json bad/m"
jq -e '.candidates[] | select(.candidate == "good/slow") | .p50_ms >= 400' \
    "$WORK/out.json" >/dev/null && ok "json: good/slow latency" || bad "json good/slow latency"

# pass for the good candidate alone, CSV output
eval_run --prompts "$WORK/p.jsonl" --candidate fast-paris --gate "quality>=0.8,p95_ms<=300,error_rate<=0" \
    --output "$WORK/out.csv" >"$WORK/table2.txt" 2>"$WORK/err2.txt"
rc=$?
[ "$rc" = 0 ] && ok "gate: exit 0 when every candidate passes" || bad "gate pass exit $rc: $(cat "$WORK/err2.txt")"
head -1 "$WORK/out.csv" | grep -q '^rank,candidate,requests,errors,quality,' && ok "csv header" || bad "csv header"
[ "$(awk -F, 'NR==2 {print $2 "|" $3 "|" $5 "|" $12}' "$WORK/out.csv")" = '"fast-paris"|4|1.000000|pass' ] \
    && ok "csv row" || bad "csv row: $(cat "$WORK/out.csv")"
[ "$(wc -l <"$WORK/out.csv")" = 2 ] && ok "csv: one row per candidate" || bad "csv line count"

# --json on stdout
eval_run --prompts "$WORK/p.jsonl" --candidate good/m --json >"$WORK/o.json" 2>/dev/null \
    && jq -e '.candidates[0].quality == 1' "$WORK/o.json" >/dev/null && ok "--json" || bad "--json"

# --- judge and agreement -----------------------------------------------------
printf '%s\n' '{"id": "j", "prompt": "Capital of France?", "rubric": "Names Paris."}' >"$WORK/j.jsonl"
eval_run --prompts "$WORK/j.jsonl" --candidate good/m --judge bad/judge --json >"$WORK/j.json" 2>"$WORK/j.err"
jq -e '.candidates[0].quality == 0.75 and .results[0].scorer == "judge"' "$WORK/j.json" >/dev/null \
    && ok "judge: score parsed from the judge's reply" || bad "judge: $(cat "$WORK/j.json" "$WORK/j.err")"
eval_run --prompts "$WORK/j.jsonl" --candidate good/m >/dev/null 2>"$WORK/j2.err"
rc=$?
[ "$rc" = 2 ] && grep -q "rubric: needs --judge" "$WORK/j2.err" && ok "rubric without --judge refused" \
    || bad "rubric without judge: $rc $(cat "$WORK/j2.err")"
printf '%s\n' '{"prompt": "Capital of France?"}' >"$WORK/a.jsonl"
eval_run --prompts "$WORK/a.jsonl" --candidate good/m --candidate good/slow --candidate bad/m \
    --json >"$WORK/a.json" 2>/dev/null
jq -e '(.candidates[] | select(.candidate == "good/m") | .quality == 0.5) and
       (.candidates[] | select(.candidate == "bad/m") | .quality == 0) and .results[0].scorer == "agreement"' \
    "$WORK/a.json" >/dev/null && ok "agreement: Jaccard with the other candidates" || bad "agreement: $(cat "$WORK/a.json")"

# a judge whose reply holds no grade scores 0 and is counted
eval_run --prompts "$WORK/j.jsonl" --candidate good/m --judge good/m --json >"$WORK/j3.json" 2>/dev/null
jq -e '.candidates[0].quality == 0 and .candidates[0].judge_failures == 1' "$WORK/j3.json" >/dev/null \
    && ok "judge without a grade: score 0, judge_failures 1" || bad "judge failure: $(cat "$WORK/j3.json")"

# schema: the JSON answer validates, the plain one does not
printf '%s\n' '{"prompt": "City as JSON", "schema": {"type": "object", "required": ["city"],
  "properties": {"city": {"enum": ["Paris"]}, "pop": {"type": "integer"}}}}' | tr -d '\n' >"$WORK/s.jsonl"
eval_run --prompts "$WORK/s.jsonl" --candidate good/json --candidate good/m --json >"$WORK/s.json" 2>/dev/null
jq -e '(.candidates[] | select(.candidate == "good/json") | .quality == 1) and
       (.candidates[] | select(.candidate == "good/m") | .quality == 0)' "$WORK/s.json" >/dev/null \
    && ok "schema scorer" || bad "schema: $(cat "$WORK/s.json")"

# --concurrency bounds the calls in flight: 6 prompts x 400 ms
for i in 1 2 3 4 5 6; do printf '{"prompt": "q%d", "expected": "paris"}\n' "$i"; done >"$WORK/c.jsonl"
t0=$(date +%s%N)
eval_run --prompts "$WORK/c.jsonl" --candidate good/slow --concurrency 1 >/dev/null 2>&1
t1=$(date +%s%N)
eval_run --prompts "$WORK/c.jsonl" --candidate good/slow --concurrency 6 >/dev/null 2>&1
t2=$(date +%s%N)
serial_ms=$(((t1 - t0) / 1000000))
parallel_ms=$(((t2 - t1) / 1000000))
[ "$serial_ms" -ge 2400 ] && ok "--concurrency 1: one call at a time (${serial_ms} ms)" \
    || bad "--concurrency 1 took ${serial_ms} ms, expected >= 2400"
[ "$parallel_ms" -lt 2000 ] && ok "--concurrency 6: calls overlap (${parallel_ms} ms)" \
    || bad "--concurrency 6 took ${parallel_ms} ms, expected < 2000"

# --- an unreachable candidate counts errors, does not hang --------------------
eval_run --prompts "$WORK/p.jsonl" --candidate nowhere/m --gate "error_rate<=0" --json \
    >"$WORK/e.json" 2>"$WORK/e.err"
rc=$?
[ "$rc" = 3 ] && jq -e '.candidates[0].errors == 4 and .candidates[0].error_rate == 1' "$WORK/e.json" >/dev/null \
    && ok "unknown candidate: errors counted, gate fails" || bad "unknown candidate: $rc $(cat "$WORK/e.err")"

# --- corrupt prompt files and bad flags: exit 2, message names the place ------
# refuse NAME FILE_CONTENT EXPECTED_MESSAGE [CANDIDATES...]
refuse() {
    local name=$1 content=$2 want=$3
    shift 3
    printf '%s' "$content" >"$WORK/bad.jsonl"
    local c=(--candidate good/m)
    [ $# -gt 0 ] && c=("$@")
    eval_run --prompts "$WORK/bad.jsonl" "${c[@]}" >/dev/null 2>"$WORK/bad.err"
    local rc=$?
    if [ "$rc" = 2 ] && grep -qF "$want" "$WORK/bad.err"; then ok "refused: $name"; else
        bad "refused $name: rc=$rc $(cat "$WORK/bad.err")"; fi
}
B=$WORK/bad.jsonl
refuse "bad JSON" $'{"prompt": "a", "expected": "b"}\n{"prompt": \n' "$B:2: line: invalid JSON"
refuse "unknown field" $'{"prompt": "a", "expected": "b", "colour": 1}\n' "$B:1: colour: unknown field"
refuse "no prompt" $'\n\n{"expected": "b"}\n' "$B:3: prompt: required"
refuse "prompt not a string" $'{"prompt": 7, "expected": "b"}\n' "$B:1: prompt: expected a string"
refuse "no scorer, one candidate" $'{"prompt": "a"}\n' "$B:1: line: no scorer"
refuse "bad regex" $'{"prompt": "a", "regex": "(a"}\n' "$B:1: regex: invalid"
refuse "bad schema" $'{"prompt": "a", "schema": {"type": "thing"}}\n' "$B:1: schema.type: expected one of"
refuse "schema keyword" $'{"prompt": "a", "schema": {"properties": {"x": {"pattern": "a"}}}}\n' \
    "$B:1: schema.properties.x.pattern: unsupported keyword"
refuse "not an object" $'[1, 2]\n' "$B:1: line: expected a JSON object"
refuse "duplicate key" $'{"prompt": "a", "prompt": "b", "expected": "c"}\n' "$B:1: line: invalid JSON"
refuse "empty file" '' "$B: no prompts"
head -c 300000 /dev/zero | tr '\0' 'x' >"$WORK/huge.txt"
refuse "huge line" "{\"prompt\": \"a\", \"expected\": \"b\"}
$(cat "$WORK/huge.txt")" "$B:2: line: longer than 262144 bytes"
refuse "binary" $'\x01\x02\xff\n' "$B:1: line: invalid JSON"
eval_run --prompts "$WORK/nope.jsonl" --candidate good/m >/dev/null 2>"$WORK/bad.err"
[ $? = 2 ] && grep -q "nope.jsonl: cannot open" "$WORK/bad.err" && ok "missing file" || bad "missing file"
for g in "quality>=" "speed<=1" "quality=1" "quality>=0.8,,p95_ms<=1" "p95_ms<=1x" ""; do
    eval_run --prompts "$WORK/p.jsonl" --candidate good/m --gate "$g" >/dev/null 2>"$WORK/bad.err"
    [ $? = 2 ] && grep -q -- "--gate: " "$WORK/bad.err" && ok "bad gate '$g'" || bad "bad gate '$g': $(cat "$WORK/bad.err")"
done
eval_run --prompts "$WORK/p.jsonl" >/dev/null 2>"$WORK/bad.err"
[ $? = 2 ] && grep -q -- "--candidate: required" "$WORK/bad.err" && ok "no candidate" || bad "no candidate"
eval_run --prompts "$WORK/p.jsonl" --candidate a --output x.txt >/dev/null 2>"$WORK/bad.err"
[ $? = 2 ] && grep -q -- "--output: expected" "$WORK/bad.err" && ok "bad --output" || bad "bad --output"
eval_run --prompts "$WORK/p.jsonl" --candidate a --concurrency 0 >/dev/null 2>"$WORK/bad.err"
[ $? = 2 ] && ok "bad --concurrency" || bad "bad --concurrency"

# --- a progress bar on stderr when it is a terminal ----------------------------
# script(1) runs the command on a pseudo-terminal; stdout goes to a file, so
# whatever the typescript holds came from stderr.
script -qec "'$BIN_DIR/llmgw' eval --target '$TARGET' --prompts '$WORK/p.jsonl' --candidate good/m \
    --concurrency 1 >'$WORK/tty.out'" "$WORK/tty.typescript" >/dev/null 2>&1 </dev/null
rc=$?
[ "$rc" = 0 ] && grep -q 'eval \[##############################\] 4/4' "$WORK/tty.typescript" \
    && grep -q 'eval \[#######\.*\] 1/4' "$WORK/tty.typescript" && ok "tty: progress bar drawn on stderr, 1/4 .. 4/4" \
    || bad "tty progress: rc=$rc $(cat -v "$WORK/tty.typescript")"
grep -q 'eval \[' "$WORK/tty.out" && bad "tty: progress bar on stdout" || ok "tty: stdout holds no progress bar"
grep -q '^1 *good/m' "$WORK/tty.out" && ok "tty: the table still on stdout" || bad "tty table: $(cat "$WORK/tty.out")"

# --- --store-quality: the measured quality becomes the model's in the registry --
unset LLMGW_DATABASE_URL LLMGW_BOOTSTRAP_TOKEN LLMGW_CONTROL_TARGET
export LLMGW_ADMIN_TOKEN=eval-admin-token-$RANDOM$RANDOM$RANDOM
LLMGW_MASTER_KEY=$(openssl rand -hex 32)
export LLMGW_MASTER_KEY
pg_cluster_start "$WORK/pg" >"$WORK/pg.log" 2>&1 || fail "PostgreSQL did not start"
"$BIN_DIR/llmgw-controlplane" --insecure-dev --database-url "$PG_URL" \
    --migrations-dir "$SRC_DIR/migrations" --listen 127.0.0.1:0 --port-file "$WORK/cp.port" \
    --workers 2 --grace-ms 500 >"$WORK/controlplane.log" 2>&1 &
PIDS+=($!)
CP_PORT=$(wait_port "$!" "$WORK/cp.port" llmgw-controlplane)
[ -n "$CP_PORT" ] || fail "llmgw-controlplane did not start"
CP=127.0.0.1:$CP_PORT
cp_ok() { # cp_ok NAME CMD...: a control-plane command that must succeed
    local name=$1
    shift
    "$BIN_DIR/llmgw" "$@" --target "$CP" >"$WORK/cp.out" 2>&1 && ok "$name" || bad "$name: $(cat "$WORK/cp.out")"
}
cp_ok "registry: provider good" provider add good --base-url "http://127.0.0.1:$GOOD/v1"
cp_ok "registry: provider bad" provider add bad --base-url "http://127.0.0.1:$BAD/v1"
cp_ok "registry: provider nowhere" provider add nowhere --base-url "http://127.0.0.1:9/v1"
cp_ok "registry: good/m at 0.5" model add good/m --quality 0.5
cp_ok "registry: good/slow at 0.5" model add good/slow --quality 0.5
cp_ok "registry: bad/m at 0.9" model add bad/m --quality 0.9 --input-cost 100
cp_ok "registry: nowhere/m at 0.6" model add nowhere/m --quality 0.6
quality_of() { "$BIN_DIR/llmgw" model get "$1" --target "$CP" --output json | jq -r .quality; }
psql_q() { psql "$PG_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# three of four prompts expect Paris, one London: good/* 0.75, bad/m 0.25
{ grep . "$WORK/p.jsonl" | head -3; printf '%s\n' '{"id": "uk", "prompt": "Capital of the UK?", "expected": "london"}'; } \
    >"$WORK/q.jsonl"
eval_run --prompts "$WORK/q.jsonl" --candidate good/m --candidate bad/m --store-quality \
    --control-target "$CP" --json >"$WORK/sq.json" 2>"$WORK/sq.err"
rc=$?
[ "$rc" = 0 ] && ok "--store-quality: exit 0" || bad "--store-quality exit $rc: $(cat "$WORK/sq.err")"
jq -e '.candidates | length == 2' "$WORK/sq.json" >/dev/null && ok "--store-quality: stdout is still the JSON" \
    || bad "--store-quality stdout: $(cat "$WORK/sq.json")"
[ "$(quality_of good/m)" = 0.75 ] && ok "good/m: stored quality 0.75" || bad "good/m quality: $(quality_of good/m)"
[ "$(quality_of bad/m)" = 0.25 ] && ok "bad/m: stored quality 0.25" || bad "bad/m quality: $(quality_of bad/m)"
grep -q "good/m: quality 0.75 stored (table version [0-9]*)" "$WORK/sq.err" && ok "stderr names what was stored" \
    || bad "store lines: $(cat "$WORK/sq.err")"
"$BIN_DIR/llmgw" model get good/m --target "$CP" | grep -q '^good  *m  .* 0\.75 ' \
    && ok "model get shows 0.75" || bad "model get table: $("$BIN_DIR/llmgw" model get good/m --target "$CP")"

# a model that is always wrong is stored as 0, not read back as the 0.5 default
eval_run --prompts "$WORK/p.jsonl" --candidate bad/m --candidate good/slow --store-quality \
    --control-target "$CP" --gate "quality>=0.8" >/dev/null 2>"$WORK/sq0.err"
rc=$?
[ "$rc" = 3 ] && ok "--store-quality with a failing gate: exit 3, still stored" || bad "gate+store exit $rc: $(cat "$WORK/sq0.err")"
[ "$(quality_of bad/m)" = 0 ] && ok "bad/m: measured 0 stored as 0" || bad "bad/m quality 0: $(quality_of bad/m)"
[ "$(quality_of good/slow)" = 1 ] && ok "good/slow: stored 1" || bad "good/slow quality: $(quality_of good/slow)"
cp_ok "edit another setting of bad/m" model edit bad/m --input-cost 5
[ "$(quality_of bad/m)" = 0 ] && ok "bad/m: quality 0 kept across an edit of its price" \
    || bad "bad/m quality after edit: $(quality_of bad/m)"
[ "$(psql_q "SELECT string_agg(detail, '|' ORDER BY id) FROM audit_log WHERE action = 'model.update' AND object = 'model/bad/m'")" = \
  "input_cost_per_mtok=100 output_cost_per_mtok=0 context_window=0 quality=0.25 before: quality=0.9|input_cost_per_mtok=100 output_cost_per_mtok=0 context_window=0 quality=0 before: quality=0.25|input_cost_per_mtok=5 output_cost_per_mtok=0 context_window=0 quality=0 before: input_cost_per_mtok=100" ] \
    && ok "audit: one model.update per stored value, naming the earlier quality" \
    || bad "audit rows: $(psql_q "SELECT detail FROM audit_log WHERE object = 'model/bad/m' ORDER BY id")"
# good/m once, good/slow once, bad/m twice by eval and once by the edit
[ "$(psql_q "SELECT count(*) FROM audit_log WHERE action = 'model.update'")" = 5 ] \
    && ok "audit: 5 model.update rows in all" || bad "audit count: $(psql_q "SELECT count(*) FROM audit_log WHERE action = 'model.update'")"

# store_refused NAME RC NEEDLE ARGS...: exit RC, NEEDLE on stderr, nothing changed
store_refused() {
    local name=$1 want=$2 needle=$3
    shift 3
    local before
    before=$(psql_q "SELECT count(*) FROM audit_log")
    eval_run --prompts "$WORK/p.jsonl" --store-quality "$@" >/dev/null 2>"$WORK/sr.err"
    local rc=$?
    if [ "$rc" = "$want" ] && grep -qF -- "$needle" "$WORK/sr.err" &&
        [ "$(psql_q "SELECT count(*) FROM audit_log")" = "$before" ]; then ok "refused: $name"; else
        bad "refused $name: rc=$rc (want $want) $(cat "$WORK/sr.err")"; fi
}
store_refused "a route candidate" 2 "--store-quality: candidate 'fast-paris' is a route" \
    --candidate good/m --candidate fast-paris --control-target "$CP"
store_refused "an unknown model" 1 "candidate 'good/nosuch': not readable from the control plane" \
    --candidate good/nosuch --control-target "$CP"
grep -q "NOT_FOUND" "$WORK/sr.err" && ok "unknown model: the status is named" || bad "unknown model status: $(cat "$WORK/sr.err")"
store_refused "no control plane" 1 "UNAVAILABLE" --candidate good/m --control-target 127.0.0.1:9
store_refused "a wrong token" 1 "UNAUTHENTICATED" --candidate good/m --control-target "$CP" --token wrong-token
eval_run --prompts "$WORK/p.jsonl" --candidate good/m --control-target "$CP" >/dev/null 2>"$WORK/sr.err"
[ $? = 2 ] && grep -q -- "--control-target: only used with --store-quality" "$WORK/sr.err" \
    && ok "refused: --control-target without --store-quality" || bad "--control-target alone: $(cat "$WORK/sr.err")"
eval_run --prompts "$WORK/p.jsonl" --candidate good/m --token x >/dev/null 2>"$WORK/sr.err"
[ $? = 2 ] && grep -q -- "--token: only used with --store-quality" "$WORK/sr.err" && ok "refused: --token without --store-quality" \
    || bad "--token alone: $(cat "$WORK/sr.err")"
(unset LLMGW_ADMIN_TOKEN; eval_run --prompts "$WORK/p.jsonl" --candidate good/m --store-quality \
    --control-target "$CP" >/dev/null 2>"$WORK/sr.err")
[ $? = 2 ] && grep -q -- "--token: required" "$WORK/sr.err" && ok "refused: no admin token" \
    || bad "no admin token: $(cat "$WORK/sr.err")"
eval_run --prompts "$WORK/p.jsonl" --candidate nowhere/m --candidate good/m --store-quality \
    --control-target "$CP" >/dev/null 2>"$WORK/sr.err"
rc=$?
[ "$rc" = 1 ] && grep -q "nowhere/m: quality not stored: every call failed" "$WORK/sr.err" \
    && [ "$(quality_of nowhere/m)" = 0.6 ] && [ "$(quality_of good/m)" = 1 ] \
    && ok "every call failed: quality kept, the others stored, exit 1" \
    || bad "all failed: rc=$rc $(quality_of nowhere/m) $(cat "$WORK/sr.err")"

# the data plane survived every run and stops cleanly
stop "$DP_PID"
[ "$STOP_RC" = 0 ] && ok "llmgw-dataplane exits 0 on SIGTERM" || bad "llmgw-dataplane exited $STOP_RC"

[ "$FAILS" = 0 ] || fail "$FAILS checks failed"
echo "$TEST_NAME: all checks passed"
