/* grpc_health: grpc.health.v1.Health, a service of grpc_server like any
 * other.
 *
 * gs_health_register adds Check and Watch to a server and observes it
 * (gs_server_observe): the status follows gs_server_set_serving, and the
 * services it knows are the ones the server has methods for, asked at call
 * time, so registering it first or last makes no difference.
 *
 * Invariants: one serving flag for the whole server, reported for service ""
 * and for every known service name. Watch streams are ended by the client
 * (cancel) or by the server's shutdown (UNAVAILABLE), never left open.
 */
#ifndef LLMGW_GRPC_HEALTH_H
#define LLMGW_GRPC_HEALTH_H

#include "grpc_server.h"

#define GS_HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define GS_HEALTH_WATCH_PATH "/grpc.health.v1.Health/Watch"

/* Before gs_server_start; starts SERVING; freed by gs_server_free.
 * 0, or -1 on allocation failure. */
int gs_health_register(gs_server_t *s);

#endif
