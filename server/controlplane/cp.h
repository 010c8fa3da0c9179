/* cp: the state one llmgw-controlplane process shares between its modules.
 *
 * Thread model: the gRPC completion-queue threads only decode requests, check
 * the admin token and hand work to the worker pool (cp_work); workers run the
 * PostgreSQL transactions and finish the calls. One listener thread
 * (cp_dist) holds its own connection, LISTENs for new table versions and
 * pushes them to subscribed nodes. Nothing blocks a completion-queue thread
 * on the database.
 */
#ifndef LLMGW_CP_H
#define LLMGW_CP_H

#include <stdbool.h>

#include "cp_auth.h"
#include "cp_work.h"
#include "grpc_server.h"
#include "pg_pool.h"
#include "secret.h"

typedef struct cp_dist cp_dist_t;
typedef struct cp_console_events cp_console_events_t;

typedef struct {
    pg_pool_t *pool;
    secret_key_t key;
    cp_auth_t *auth;
    cp_work_t *work;
    gs_server_t *server;
    cp_dist_t *dist;
    cp_console_events_t *events; /* new table versions for the console's stream (cp_http) */
    /* mTLS (--tls-client-ca without --insecure-dev): calls of access class
     * "nodes" (subscription, ACKs, usage, leases) must come with a client
     * certificate the listener verified; see cp_rpc_node_transport. */
    bool node_cert_required;
} cp_t;

/* Maps a storage error code to a gRPC status. */
grpc_status_code cp_status_from_store(int store_code);

#endif
