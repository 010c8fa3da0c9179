/* cp_dist: DistributionService — routing tables pushed to data-plane nodes.
 *
 * Thread model: one listener thread owns a dedicated PostgreSQL connection
 * that LISTENs on llmgw_table. On every notification (and after every
 * (re)connect, so nothing published while it was away is missed) it loads the
 * latest version, renders it for nodes (API keys opened) and queues it on
 * every subscribed WatchRoutingTable stream with gs_call_send. The same
 * thread LISTENs on llmgw_admin_tokens and reloads the admin-token set
 * (cp_auth_load) on each notification, each reconnect and every
 * CP_AUTH_RELOAD_MS. Subscribers
 * live in a list under one mutex; a subscriber is finished exactly once — by
 * its cancel callback, by a failed send, or by cp_dist_stop.
 * AckRoutingTable, ListNodes and GetRoutingTable run on the worker pool.
 */
#ifndef LLMGW_CP_DIST_H
#define LLMGW_CP_DIST_H

#include "cp.h"

/* Registers the methods and starts the listener. NULL on failure. */
cp_dist_t *cp_dist_start(cp_t *cp);
/* Finishes every stream (UNAVAILABLE), stops the listener. Before
 * gs_server_shutdown, so streams do not hold the grace period. */
void cp_dist_stop(cp_dist_t *d);
/* After the server is down. */
void cp_dist_free(cp_dist_t *d);

#endif
