# shellcheck shell=bash
# procs.sh: start-and-stop helpers for the shell tests that run llmgw servers
# (llmgw-sim, llmgw-dataplane) as child processes on loopback ports.
#
# Source it after defining fail() (prints and exits), TEST_NAME (message
# prefix), WORK (the test's work directory, logs in WORK/*.log) and
# START_TIMEOUT_S. Every wait is multiplied by LLMGW_TEST_TIMEOUT_SCALE (1;
# 10 under valgrind, docs/valgrind.md). Provides:
#   stop PID           SIGTERM, up to 10 s, then SIGKILL; exit status in STOP_RC
#   show_logs          the last 30 lines of every WORK/*.log, on stderr
#   wait_port PID FILE NAME
#                      prints the port a server wrote to its --port-file; fails
#                      when it exits first or after START_TIMEOUT_S. With
#                      WAIT_PORT_WHOLE_LINE=1 it waits for a whole line and
#                      fails unless the line is a number.
#   dead_port          a loopback port nobody listens on
#   start_sim NAME     llmgw-sim (BIN_DIR/llmgw-sim) serving gpt-4o-mini on a
#                      free port, log in WORK/sim.log; sets SIM_PID, SIM_PORT
#   procs_cleanup      the EXIT trap of a sim + data plane test (see below)

TIMEOUT_SCALE=${LLMGW_TEST_TIMEOUT_SCALE:-1}

# 0 = clean. Not run in a $(...) subshell: only the test's shell can wait for
# its children.
STOP_RC=0
stop() {
    local pid=$1 i
    STOP_RC=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200 * TIMEOUT_SCALE; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$TEST_NAME: pid $pid ignored SIGTERM for $((10 * TIMEOUT_SCALE)) s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

show_logs() {
    local f
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of $(basename "$f") ---" >&2
        tail -n 30 "$f" >&2
    done
}

wait_port() {
    local pid=$1 file=$2 name=$3 i port
    for ((i = 0; i < START_TIMEOUT_S * 20 * TIMEOUT_SCALE; i++)); do
        if [ "${WAIT_PORT_WHOLE_LINE:-0}" = 1 ]; then
            if [ -s "$file" ] && [ "$(wc -l <"$file")" -ge 1 ]; then
                port=$(head -n 1 "$file")
                [[ "$port" =~ ^[0-9]+$ ]] || fail "$name: port file holds '$port'"
                echo "$port"
                return 0
            fi
        elif [ -s "$file" ]; then
            head -n 1 "$file"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name exited before listening"
        sleep 0.05
    done
    fail "$name: not listening after $((START_TIMEOUT_S * TIMEOUT_SCALE))s"
}

dead_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    fail "no free loopback port found"
}

start_sim() {
    "$BIN_DIR/llmgw-sim" --listen 127.0.0.1:0 --name "$1" --models gpt-4o-mini \
        --port-file "$WORK/sim.port" >"$WORK/sim.log" 2>&1 &
    SIM_PID=$!
    # shellcheck disable=SC2034 # read by the sourcing script
    SIM_PORT=$(wait_port "$SIM_PID" "$WORK/sim.port" llmgw-sim)
}

# Stops DP_PID, then SIM_PID, and exits with the script's exit status. Once
# every assertion passed (STATUS=0) a server that does not exit 0 on SIGTERM
# fails the test: calls must not leave it wedged, leaking or crashing. The
# sim's status is checked unless CHECK_SIM_STOP=0. Logs are shown on failure;
# WORK is removed, unless HONOR_KEEP_WORK=1 and KEEP_WORK is set.
procs_cleanup() {
    local rc=$? dp_rc sim_rc
    trap - EXIT INT TERM
    stop "$DP_PID"
    dp_rc=$STOP_RC
    stop "$SIM_PID"
    sim_rc=$STOP_RC
    if [ "$STATUS" = 0 ]; then
        if [ "$dp_rc" != 0 ]; then
            echo "$TEST_NAME: llmgw-dataplane exited with status $dp_rc on SIGTERM" >&2
            rc=1
        fi
        if [ "${CHECK_SIM_STOP:-1}" = 1 ] && [ "$sim_rc" != 0 ]; then
            echo "$TEST_NAME: llmgw-sim exited with status $sim_rc on SIGTERM" >&2
            rc=1
        fi
    fi
    [ "$rc" = 0 ] || show_logs
    if [ "${HONOR_KEEP_WORK:-0}" != 1 ] || [ -z "${KEEP_WORK:-}" ]; then
        rm -rf "$WORK"
    fi
    exit "$rc"
}
