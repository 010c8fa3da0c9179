# The setup the HTTP benchmark scripts share (bench_http.sh, bench_cache_http.sh,
# bench_enforce.sh, bench_tls_http.sh). Source it after setting BENCH_NAME
# (the script's name, for messages) and SRC_DIR / BIN_DIR.
#   fail MSG               print "BENCH_NAME: MSG" and exit 1
#   bench_need_tools T...  tools missing from PATH (or /usr/sbin) installed with
#                          apt-get when root (the Debian package has the tool's name)
#   bench_need_bins B...   BIN_DIR/B must exist (build first)
#   bench_workdir TAG      WORK=/tmp/llmgw-bench-TAG.XXXXXX and PIDS=(); on exit
#                          every pid in PIDS gets SIGTERM and is waited for, WORK removed
#   wait_file FILE         waits up to 10 s for FILE to be non-empty; prints its first line

fail() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

bench_need_tools() {
    local t need=()
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || need+=("$t")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || fail "missing ${need[*]}; install them (apt-get install ${need[*]})"
    echo "$BENCH_NAME: installing ${need[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2; } ||
        fail "apt-get install ${need[*]} failed"
}

bench_need_bins() {
    local b
    for b in "$@"; do
        [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b: missing (build first)"
    done
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}

bench_workdir() {
    WORK=$(mktemp -d "/tmp/llmgw-bench-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}

wait_file() {
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$1" ] && { head -n 1 "$1"; return 0; }
        sleep 0.05
    done
    fail "$1 did not appear"
}
