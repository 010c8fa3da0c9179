/* rpc_chat: the gRPC front door of llmgw.v1.ChatService — decodes calls,
 * hands them to the pipeline and encodes its answers back. No routing or
 * upstream logic lives here. */
#ifndef LLMGW_RPC_CHAT_H
#define LLMGW_RPC_CHAT_H

#include "discovery.h"
#include "grpc_server.h"
#include "metrics.h"
#include "pipeline.h"
#include "table.h"

typedef struct rpc_chat rpc_chat_t;

/* Registers Complete, Stream and ListModels on `server` (before it starts).
 * Borrows the pipeline and the slot. NULL on failure. */
rpc_chat_t *rpc_chat_new(gs_server_t *server, pipeline_t *pl, table_slot_t *tables);
/* After the server has shut down. */
void rpc_chat_free(rpc_chat_t *svc);
/* ListModels then shows provider status and breakers from `metrics` and the
 * discovered models from `discovery` (both borrowed, may be NULL). */
void rpc_chat_set_routing(rpc_chat_t *svc, metrics_t *metrics, discovery_t *discovery);
/* Before gs_call_finish: a RESOURCE_EXHAUSTED answer with a retry time
 * (> 0 ms) gets the trailing metadata "retry-after-ms" (ensemble calls too). */
void rpc_chat_retry_trailer(gs_call_t *call, grpc_status_code status, int64_t retry_after_ms);

#endif
