/* harness: starts the project's real binaries for integration tests.
 *
 * Processes run in a per-test-binary temporary directory (removed by
 * harness_cleanup), log to files there, and report their bound ports through
 * --port-file, so tests never guess ports. Every started process is killed by
 * harness_cleanup even when a test fails half-way.
 */
#ifndef LLMGW_HARNESS_H
#define LLMGW_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char log_path[512];
} harness_proc_t;

/* ms times LLMGW_TEST_TIMEOUT_SCALE (1; 10 when the binaries run under
 * valgrind, docs/valgrind.md): every wait for a started process goes
 * through it. */
int harness_scale_ms(int ms);
/* The scratch directory (created on first use). */
const char *harness_dir(void);
/* "$LLMGW_BIN_DIR/bin/<name>" (static buffer per call site is not kept:
 * the result is valid until the next call). */
const char *harness_bin(const char *name);
/* Writes a file under harness_dir(); returns its path (static until the next
 * call) or NULL. */
const char *harness_write(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Starts `argv` (argv[0] a path) with stdout+stderr to a log file and, when
 * port_file is non-NULL, waits up to 10 s (scaled) for it. 0 or -1. */
int harness_spawn(harness_proc_t *p, const char *const argv[], const char *port_file);
/* llmgw-sim --name NAME --listen 127.0.0.1:0 plus extra args (NULL-terminated
 * list, may be NULL). 0 or -1; p->port is the port. */
int harness_start_sim(harness_proc_t *p, const char *name, const char *const extra[]);
/* llmgw-dataplane --table PATH --listen 127.0.0.1:0 plus extra args. */
int harness_start_dataplane(harness_proc_t *p, const char *table_path, const char *const extra[]);
/* Sends sig and waits up to timeout_ms (scaled) for exit; SIGKILL after that. Returns
 * the exit status (0..255), 128+signal when killed by a signal, or -1. */
int harness_stop(harness_proc_t *p, int sig, int timeout_ms);
/* True when the log file of p contains `needle`. */
bool harness_log_contains(const harness_proc_t *p, const char *needle);
/* Kills every process still running and removes the scratch directory. */
void harness_cleanup(void);

#endif
