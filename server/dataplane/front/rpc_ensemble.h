/* rpc_ensemble: the gRPC front door of llmgw.v1.ChatService/Ensemble —
 * decodes the call, hands it to ensemble.c and encodes the answer back. No
 * ensemble logic lives here. */
#ifndef LLMGW_RPC_ENSEMBLE_H
#define LLMGW_RPC_ENSEMBLE_H

#include "ensemble.h"
#include "grpc_server.h"

typedef struct rpc_ensemble rpc_ensemble_t;

/* Registers Ensemble on `server` (before it starts). Borrows the service.
 * NULL on failure. */
rpc_ensemble_t *rpc_ensemble_new(gs_server_t *server, ensemble_service_t *svc);
/* After the server has shut down. */
void rpc_ensemble_free(rpc_ensemble_t *r);

#endif
