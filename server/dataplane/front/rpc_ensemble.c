/* rpc_ensemble: ChatService.Ensemble over grpc_server + ensemble. See
 * rpc_ensemble.h.
 *
 * Per call, an rpc_ens_call_t owns the arena holding the decoded request and
 * the answer; grpc_server's on_free releases it after the call finished and
 * after any cancel callback. The ensemble handle is published atomically
 * because a cancellation may arrive on another CQ thread while
 * ensemble_start is still running.
 */
#include "rpc_ensemble.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "auth.h"
#include "rpc_chat.h"

#define RPC_ENS_ARENA_LIMIT (128u << 20)

struct rpc_ensemble {
    ensemble_service_t *svc;
};

typedef struct {
    gs_call_t *call;
    arena_t *arena;
    _Atomic(ensemble_t *) ens;
    atomic_bool cancel_requested;
} rpc_ens_call_t;

static void rpc_ens_on_cancel(void *user)
{
    rpc_ens_call_t *rc = user;
    atomic_store(&rc->cancel_requested, true);
    ensemble_t *e = atomic_load(&rc->ens);
    if (e)
        ensemble_cancel(e);
}

static void rpc_ens_on_free(void *user)
{
    rpc_ens_call_t *rc = user;
    ensemble_release(atomic_load(&rc->ens));
    arena_free(rc->arena);
    free(rc);
}

static void rpc_ens_on_done(void *ud, const ensemble_result_t *res)
{
    rpc_ens_call_t *rc = ud;
    if (res->status != GRPC_STATUS_OK) {
        gs_call_finish(rc->call, res->status, res->message, NULL, 0);
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(&res->response->base);
    uint8_t *bytes = arena_alloc(rc->arena, len ? len : 1);
    if (!bytes) {
        gs_call_finish(rc->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "gateway: out of memory", NULL, 0);
        return;
    }
    protobuf_c_message_pack(&res->response->base, bytes);
    gs_call_finish(rc->call, GRPC_STATUS_OK, NULL, bytes, len);
}

static void rpc_ens_handle(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_ensemble_t *svc = ctx;
    char err[512];
    rpc_ens_call_t *rc = calloc(1, sizeof(*rc));
    arena_t *arena = arena_new(RPC_ENS_ARENA_LIMIT);
    if (!rc || !arena) {
        free(rc);
        arena_free(arena);
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "gateway: out of memory", NULL, 0);
        return;
    }
    rc->call = call;
    rc->arena = arena;
    atomic_init(&rc->ens, NULL);
    atomic_init(&rc->cancel_requested, false);
    gs_call_set_user(call, rc, rpc_ens_on_cancel, rpc_ens_on_free);

    /* Authentication before the message is even decoded. */
    const char *authz = gs_call_metadata(call, "authorization");
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(ensemble_service_tables(svc->svc));
    grpc_status_code status =
        auth_authorize(t, authz, TABLE_SCOPE_ENSEMBLES, &key, err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        table_unref(t);
        gs_call_finish(call, status, err, NULL, 0);
        return;
    }
    Llmgw__V1__EnsembleRequest *req =
        llmgw__v1__ensemble_request__unpack(arena_pb_allocator(arena), len, msg);
    if (!req) {
        table_unref(t);
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request: not a valid llmgw.v1.EnsembleRequest message", NULL, 0);
        return;
    }
    int64_t retry_ms = 0;
    ensemble_params_t params = {
        .req = req,
        .authorization = authz,
        .deadline_ms = gs_call_deadline_ms(call),
        .arena = arena,
        .table = t,
        .key = key,
        .retry_after_ms = &retry_ms,
    };
    ensemble_t *e =
        ensemble_start(svc->svc, &params, rpc_ens_on_done, rc, &status, err, sizeof(err));
    table_unref(t); /* the ensemble holds its own */
    if (!e) {
        rpc_chat_retry_trailer(call, status, retry_ms);
        gs_call_finish(call, status, err, NULL, 0);
        return;
    }
    atomic_store(&rc->ens, e);
    if (atomic_load(&rc->cancel_requested))
        ensemble_cancel(e);
}

rpc_ensemble_t *rpc_ensemble_new(gs_server_t *server, ensemble_service_t *svc)
{
    rpc_ensemble_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->svc = svc;
    if (gs_server_add_method(server, "/llmgw.v1.ChatService/Ensemble", GS_UNARY, rpc_ens_handle,
                             r) < 0) {
        free(r);
        return NULL;
    }
    return r;
}

void rpc_ensemble_free(rpc_ensemble_t *r)
{
    free(r);
}
