#!/usr/bin/env bash
# valgrind_scan.sh LOG_DIR TEST...: the verdict of the valgrind stage on the
# memcheck logs of the given ctest tests (docs/valgrind.md).
#
# LOG_DIR/<kind>_<name>/ holds one log per process a test started
# (tests/support/valgrind_wrap.sh.in). A log is bad when its ERROR SUMMARY
# counts an error (errors include definite leaks: --errors-for-leak-kinds=
# definite), when it reports a definite leak, or when it ends without a
# summary (the process was SIGKILLed or is still running) after an error
# record or a crash. Each bad log is printed (200 lines at most). Prints one
# line per bad test: "valgrind: TEST: N bad log(s)", and the names of the bad
# tests on stdout's last line after "bad:"; exit 1 when any is bad.
set -uo pipefail
log_root=$1
shift

# An error record of memcheck, or a crash (not SIGTERM/SIGKILL/SIGINT, which
# the tests send on purpose).
error_re='^==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function|Process terminating with default action of signal (4|6|7|8|11) )'

bad_tests=()
n_logs=0 n_unfinished=0
for t in "$@"; do
  dir=$log_root/${t//\//_}
  [ -d "$dir" ] || continue
  bad=0
  for log in "$dir"/*.log; do
    [ -f "$log" ] || continue
    n_logs=$((n_logs + 1))
    why=
    summary=$(grep -E '== ERROR SUMMARY: [0-9]+ errors' "$log" | tail -1)
    if [ -n "$summary" ]; then
      n=$(echo "$summary" | sed -E 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/')
      [ "$n" = 0 ] || why="$n error(s)"
    else
      n_unfinished=$((n_unfinished + 1))
      grep -qE "$error_re" "$log" && why="an error before the process was killed"
    fi
    lost=$(grep -E '== +definitely lost: ' "$log" | tail -1 | sed -E 's/.*definitely lost: ([0-9,]+) bytes.*/\1/')
    if [ -n "$lost" ] && [ "$lost" != 0 ]; then why="${why:+$why, }$lost bytes definitely lost"; fi
    [ -n "$why" ] || continue
    bad=$((bad + 1))
    echo "=== valgrind: $t: $(basename "$log"): $why" >&2
    head -n 200 "$log" >&2
  done
  if [ "$bad" != 0 ]; then
    echo "valgrind: $t: $bad bad log(s)" >&2
    bad_tests+=("$t")
  fi
done
echo "valgrind: $n_logs process log(s) scanned, $n_unfinished without a summary (killed or still running)" >&2
echo "bad: ${bad_tests[*]}"
[ ${#bad_tests[@]} = 0 ]
