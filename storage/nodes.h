/* nodes: what the control plane knows of each data-plane node (table
 * `dataplane_nodes`): last seen, acked version, last NACK. Each function is
 * one statement, run in autocommit or inside the caller's transaction. */
#ifndef LLMGW_NODES_H
#define LLMGW_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "llmgw/v1/control.pb-c.h"
#include "store.h"

/* Creates the node or refreshes its group and last_seen. */
int nodes_seen(PGconn *c, const char *node_id, const char *group, store_err_t *e);
/* Records an ACK (acked_version only grows) or a NACK (version and error). */
int nodes_ack(PGconn *c, const char *node_id, int64_t version, bool ack, const char *error,
              store_err_t *e);
/* Fills out->nodes (malloc'd, by id) and out->latest_version. */
int nodes_list(PGconn *c, Llmgw__V1__ListNodesResponse *out, store_err_t *e);

#endif
