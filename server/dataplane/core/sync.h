/* sync: a managed data plane's subscription to the control plane.
 *
 * Thread model: one background thread (sync_start) holds a
 * WatchRoutingTable stream open through the blocking grpc_client. For every
 * snapshot it checks the checksum and version, loads it with
 * table_load_json, installs it with table_slot_swap, persists it to the
 * state directory (write to a temporary file, fsync, rename: the file is
 * always a complete good table) and answers AckRoutingTable with ACK — or
 * NACK with the loader's error, keeping the current table. When the stream
 * ends it reconnects on a fresh channel after a jittered exponential backoff
 * (200 ms doubling to 10 s). sync_stop cancels the stream from the caller's
 * thread and joins.
 *
 * Static stability: sync_load_state gives the last good table so a node
 * started while the control plane is down serves at once.
 */
#ifndef LLMGW_SYNC_H
#define LLMGW_SYNC_H

#include <signal.h>
#include <stddef.h>

#include "table.h"
#include "tls.h"

typedef struct sync sync_t;

typedef struct {
    const char *target;    /* control plane "HOST:PORT" */
    const char *node_id;   /* 1..64 characters from [A-Za-z0-9._-] */
    const char *group;     /* may be "" */
    const char *state_dir; /* NULL: nothing persisted */
    const char *token;     /* bearer token; NULL: LLMGW_CONTROL_PLANE_TOKEN, else none */
    /* The channel's TLS (CA, client certificate); NULL: plaintext. Borrowed:
     * outlives the sync (and the usage log and leases, which share it). */
    const tls_files_t *tls;
} sync_config_t;

/* Checks the managed-mode flags: with a target, node_id is required and
 * valid; without one, node_id / group / state_dir are refused. 0 or -1 after
 * printing "llmgw-dataplane: --flag: …" on stderr. */
int sync_check_config(const sync_config_t *cfg);
/* The table to start serving: the one saved in state_dir when valid (may be
 * NULL), else the first good table pushed — waiting for it while polling
 * `stop` (signals the caller blocked) every 200 ms. A new reference, or NULL
 * with err filled when a stop signal came first. */
table_t *sync_first_table(sync_t *s, const char *state_dir, const sigset_t *stop, char *err,
                          size_t errlen);
/* From now on pushed tables are swapped into slot (borrowed; it outlives
 * the sync); one received before this is installed at once. NULL s: no-op. */
void sync_attach(sync_t *s, table_slot_t *slot);
/* The table persisted in state_dir, or NULL (err says why: none yet, or
 * unreadable / invalid). */
table_t *sync_load_state(const char *state_dir, char *err, size_t errlen);
/* Starts the thread (strings are copied); tables received before
 * sync_attach are kept for sync_first_table. NULL on failure. */
sync_t *sync_start(const sync_config_t *cfg);
/* Stops and frees; safe with NULL. */
void sync_stop(sync_t *s);

#endif
