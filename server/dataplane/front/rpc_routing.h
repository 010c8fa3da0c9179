/* rpc_routing: the gRPC front door of llmgw.v1.RoutingService (Providers,
 * Explain; proto/llmgw/v1/routing.proto) and the routing annotations of
 * ChatService.ListModels (provider status, breaker, discovered models).
 * It only reads: the table, metrics.c, consistency.c, discovery.c and the
 * planner. */
#ifndef LLMGW_RPC_ROUTING_H
#define LLMGW_RPC_ROUTING_H

#include "arena.h"
#include "consistency.h"
#include "discovery.h"
#include "grpc_server.h"
#include "llmgw/v1/chat.pb-c.h"
#include "metrics.h"
#include "table.h"

typedef struct rpc_routing rpc_routing_t;

/* Registers Providers and Explain on `server` (before it starts). Borrows
 * everything; metrics and discovery may be NULL. NULL on failure. */
rpc_routing_t *rpc_routing_new(gs_server_t *server, table_slot_t *tables, metrics_t *metrics,
                               discovery_t *discovery);
/* Explain ranks on the ensemble consistency scores of `c` and Providers
 * shows them. Borrowed, may be NULL; call before the server starts. */
void rpc_routing_set_consistency(rpc_routing_t *svc, consistency_t *c);
/* After the server has shut down. NULL ok. */
void rpc_routing_free(rpc_routing_t *svc);

/* ListModels: sets status, status_reason, status_since_unix_ms and breaker
 * on the deployment entries of resp, and appends the discovered models of
 * the table's providers (all, or only `provider` when non-empty) that the
 * table does not list, as kind "discovered". Allocates in `a`. 0, or -1 when
 * out of memory. NULL metrics / discovery: that part is skipped. */
int rpc_routing_annotate_models(metrics_t *metrics, discovery_t *discovery, arena_t *a,
                                const table_t *t, const char *provider,
                                Llmgw__V1__ListModelsResponse *resp);

#endif
