/* grpc_health: the built-in grpc.health.v1.Health service of grpc_server.
 *
 * Internal to grpc_server.c, which creates one per server, feeds it every
 * registered method path (the service names Check and Watch know) and
 * registers gs_health_check / gs_health_watch as ordinary handlers.
 *
 * Invariants: one serving flag for the whole server, reported for service ""
 * and for every known service name; the service list is fixed before the
 * server starts and read without a lock afterwards. Watch streams are ended
 * by the client (cancel) or by gs_health_shutdown, never left open.
 */
#ifndef LLMGW_GRPC_HEALTH_H
#define LLMGW_GRPC_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc_server.h"

#define GS_HEALTH_CHECK_PATH "/grpc.health.v1.Health/Check"
#define GS_HEALTH_WATCH_PATH "/grpc.health.v1.Health/Watch"

typedef struct gs_health gs_health_t;

/* Starts SERVING. NULL on allocation failure. */
gs_health_t *gs_health_new(void);
/* After every Watch call was released. */
void gs_health_free(gs_health_t *h);
/* Records the service of a method path ("/pkg.Service/Method" ->
 * "pkg.Service"); duplicates are ignored. Before the server starts. 0 / -1. */
int gs_health_add_service(gs_health_t *h, const char *path);
/* Sends the new status to every Watch stream when it changes. */
void gs_health_set_serving(gs_health_t *h, bool serving);
/* Reports NOT_SERVING and ends every Watch stream (UNAVAILABLE); Watch calls
 * arriving later end at once. */
void gs_health_shutdown(gs_health_t *h);

/* Handlers; ctx is the gs_health_t. */
void gs_health_check(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx);
void gs_health_watch(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx);

#endif
