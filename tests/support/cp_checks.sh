# shellcheck shell=bash
# cp_checks.sh: the shared preamble of the control-plane shell tests
# (test_admin_tokens.sh, test_controlplane.sh).
#
# Source it after setting BIN (binaries), SRC (repo root) and T (a fresh work
# directory). It loads pg_cluster.sh, keeps the pids of started processes in
# PIDS (killed and reaped on exit, then the cluster is stopped and T removed),
# counts failures in FAILS, and defines pass/fail/check/check_fails/wait_file/
# psql_q. A failing check does not stop the script: it ends by testing FAILS.
chmod 755 "$T"
PIDS=()
# shellcheck source=pg_cluster.sh
source "$SRC/tests/support/pg_cluster.sh"

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_cluster_stop
  rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
pass() { echo "ok - $1"; }
fail() {
  echo "FAIL - $1" >&2
  FAILS=$((FAILS + 1))
}
clean_err() { ! grep -q "Sanitizer\|runtime error:" "$T/err"; }
check() { # check NAME CMD...: the command must succeed
  local name=$1
  shift
  if "$@" >"$T/out" 2>"$T/err" && clean_err; then pass "$name"; else
    fail "$name"
    cat "$T/out" "$T/err" >&2
  fi
}
check_fails() { # check_fails NAME EXIT_CODE NEEDLE CMD...: exit code and stderr text
  local name=$1 want=$2 needle=$3
  shift 3
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  if [ "$rc" = "$want" ] && grep -qF -- "$needle" "$T/err" && clean_err; then pass "$name"; else
    fail "$name (exit $rc, want $want with '$needle')"
    cat "$T/out" "$T/err" >&2
  fi
}
# wait_file PATH: up to 10 s times LLMGW_TEST_TIMEOUT_SCALE (10 under
# valgrind, docs/valgrind.md). It reads the variable itself: tests export the
# function to other shells.
wait_file() {
  local i
  for i in $(seq 1 $((100 * ${LLMGW_TEST_TIMEOUT_SCALE:-1}))); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
psql_q() { psql "$PG_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }
