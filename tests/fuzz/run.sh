#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>/, never written to) and fails on any
# crash, leak, timeout, out-of-memory or sanitizer report. One ctest test per
# target (CMakeLists.txt, LLMGW_FUZZ=ON); scripts/fuzz-long runs it longer.
#
#   bash tests/fuzz/run.sh build-fuzz/fuzz_sse
#
# LLMGW_FUZZ_SECONDS  how long (default 30)
# LLMGW_FUZZ_LOG      also keep libFuzzer's output in this file
# A failing input is copied to ./fuzz-artifacts/ (the ctest build directory)
# and printed as hex: turn it into a unit test in tests/unit/.
set -uo pipefail
bin=$1
name=$(basename "$bin")
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${LLMGW_FUZZ_SECONDS:-30}
corpus=$src/corpus/$name
dict=
case $name in
fuzz_sse | fuzz_*_stream) dict=$src/dict/sse.dict ;;
fuzz_rpc_* | fuzz_usage_spill) dict= ;;
*) dict=$src/dict/json.dict ;;
esac

scratch=$(mktemp -d "${TMPDIR:-/tmp}/llmgw-$name.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/corpus"
if [ -d "$corpus" ]; then
  cp -r "$corpus/." "$scratch/corpus/"
fi
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=1
      -print_final_stats=1 -artifact_prefix="$scratch/")
[ -n "$dict" ] && [ -f "$dict" ] && args+=(-dict="$dict")

# abort_on_error=0 so libFuzzer prints the input and its stats; every UBSan
# report is fatal (the build also has -fno-sanitize-recover=all).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-}
seeds=$(find "$scratch/corpus" -type f | wc -l)
echo "$name: ${seconds}s over $seeds seeds${dict:+, dictionary $(basename "$dict")}"
timeout --kill-after=10 $((seconds + 120)) "$bin" "${args[@]}" "$scratch/corpus" >"$scratch/log" 2>&1
rc=$?
[ -n "${LLMGW_FUZZ_LOG:-}" ] && cp "$scratch/log" "$LLMGW_FUZZ_LOG"

bad=$(grep -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: " "$scratch/log" | head -5)
artifacts=$(find "$scratch" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
# The final figures: executions, rate, coverage, corpus.
grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$scratch/log"
grep -E "^#[0-9]+" "$scratch/log" | tail -1
if [ "$rc" = 0 ] && [ -z "$bad" ] && [ -z "$artifacts" ]; then
  echo "$name: ok"
  exit 0
fi
echo "$name: FAILED (exit $rc)"
grep -v -E "^#[0-9]+|^INFO:|^stat::" "$scratch/log" | tail -60
mkdir -p fuzz-artifacts
for a in $artifacts; do
  cp "$a" "fuzz-artifacts/$name-$(basename "$a")"
  echo "input ($(wc -c <"$a") bytes) kept as fuzz-artifacts/$name-$(basename "$a"):"
  od -An -tx1 -v "$a" | head -20
done
exit 1
