/* rpc_chat: ChatService over grpc_server + pipeline. See rpc_chat.h.
 *
 * Per call, an rpc_call_t owns the arena holding the decoded request and the
 * answer. It is freed by grpc_server's on_free, which runs after the handler
 * finished the call and after any cancel callback. The pipeline handle is
 * published atomically because a cancellation may arrive on another CQ
 * thread while pipeline_start is still running.
 */
#include "rpc_chat.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "cache_replay.h"
#include "log.h"
#include "provider_quirks.h"
#include "rpc_routing.h"

#define RPC_ARENA_LIMIT (128u << 20)

struct rpc_chat {
    pipeline_t *pl;
    table_slot_t *tables;
    metrics_t *metrics;     /* ListModels status; NULL: none */
    discovery_t *discovery; /* ListModels discovered models; NULL: none */
};

typedef struct {
    gs_call_t *call;
    arena_t *arena;
    _Atomic(pl_request_t *) pl;
    atomic_bool cancel_requested;
    uint8_t *pack; /* stream chunks are packed here, on the engine thread */
    size_t pack_alloc;
} rpc_call_t;

static void rpc_call_on_cancel(void *user)
{
    rpc_call_t *rc = user;
    atomic_store(&rc->cancel_requested, true);
    pl_request_t *pl = atomic_load(&rc->pl);
    if (pl)
        pipeline_cancel(pl);
}

static void rpc_call_on_free(void *user)
{
    rpc_call_t *rc = user;
    pipeline_release(atomic_load(&rc->pl));
    arena_free(rc->arena);
    free(rc->pack);
    free(rc);
}

/* Packs into the arena; NULL when memory runs out. */
static uint8_t *rpc_pack(arena_t *a, const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = arena_alloc(a, *len ? *len : 1);
    if (out)
        protobuf_c_message_pack(m, out);
    return out;
}

static int rpc_on_chunk(void *ud, const Llmgw__V1__ChatChunk *chunk)
{
    rpc_call_t *rc = ud;
    size_t len = protobuf_c_message_get_packed_size(&chunk->base);
    if (len > rc->pack_alloc) {
        uint8_t *p = realloc(rc->pack, len);
        if (!p)
            return -1;
        rc->pack = p;
        rc->pack_alloc = len;
    }
    protobuf_c_message_pack(&chunk->base, rc->pack);
    return gs_call_send(rc->call, rc->pack, len);
}

/* A rate-limited refusal carries when to retry (ms) in trailing metadata. */
void rpc_chat_retry_trailer(gs_call_t *call, grpc_status_code status, int64_t retry_after_ms)
{
    if (status != GRPC_STATUS_RESOURCE_EXHAUSTED || retry_after_ms <= 0)
        return;
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)retry_after_ms);
    gs_call_set_trailer(call, "retry-after-ms", v);
}

static void rpc_on_done(void *ud, const pl_result_t *res)
{
    rpc_call_t *rc = ud;
    if (res->status != GRPC_STATUS_OK) {
        if (res->rate_limited)
            rpc_chat_retry_trailer(rc->call, res->status, res->retry_after_ms);
        gs_call_finish(rc->call, res->status, res->message, NULL, 0);
        return;
    }
    if (res->warning && res->warning[0]) {
        /* What the serving provider could not take (docs/compatibility.md);
         * metadata values may not hold control characters. */
        char w[512];
        snprintf(w, sizeof(w), "%s", res->warning);
        for (char *c = w; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = ' ';
        gs_call_set_trailer(rc->call, "llmgw-warning", w);
    }
    size_t len = 0;
    const ProtobufCMessage *m = res->response ? &res->response->base : &res->last_chunk->base;
    uint8_t *bytes = rpc_pack(rc->arena, m, &len);
    if (!bytes) {
        gs_call_finish(rc->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "gateway: out of memory", NULL, 0);
        return;
    }
    if (res->response) {
        gs_call_finish(rc->call, GRPC_STATUS_OK, NULL, bytes, len);
        return;
    }
    if (gs_call_send(rc->call, bytes, len) < 0) {
        gs_call_finish(rc->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "stream: the client is not reading fast enough", NULL, 0);
        return;
    }
    gs_call_finish(rc->call, GRPC_STATUS_OK, NULL, NULL, 0);
}

static const pl_callbacks_t rpc_pl_callbacks = {
    .on_chunk = rpc_on_chunk,
    .on_done = rpc_on_done,
};

/* Metadata cache-control: no-cache (or no-store), as the HTTP header. */
static bool rpc_chat_no_cache(gs_call_t *call)
{
    return cache_replay_no_cache(gs_call_metadata(call, "cache-control"));
}

static void rpc_chat_handle(gs_call_t *call, const uint8_t *msg, size_t len, rpc_chat_t *svc,
                            bool stream)
{
    char err[512];
    rpc_call_t *rc = calloc(1, sizeof(*rc));
    arena_t *arena = arena_new(RPC_ARENA_LIMIT);
    if (!rc || !arena) {
        free(rc);
        arena_free(arena);
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "gateway: out of memory", NULL, 0);
        return;
    }
    rc->call = call;
    rc->arena = arena;
    atomic_init(&rc->pl, NULL);
    atomic_init(&rc->cancel_requested, false);
    gs_call_set_user(call, rc, rpc_call_on_cancel, rpc_call_on_free);

    /* Authentication before the message is even decoded. */
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(svc->tables);
    grpc_status_code status = auth_authorize(t, gs_call_metadata(call, "authorization"),
                                             TABLE_SCOPE_CHAT, &key, err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        table_unref(t);
        gs_call_finish(call, status, err, NULL, 0);
        return;
    }
    Llmgw__V1__ChatRequest *req =
        llmgw__v1__chat_request__unpack(arena_pb_allocator(arena), len, msg);
    if (!req) {
        table_unref(t);
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request: not a valid llmgw.v1.ChatRequest message", NULL, 0);
        return;
    }
    pl_params_t params = {
        .req = req,
        .deadline_ms = gs_call_deadline_ms(call),
        .stream = stream,
        .arena = arena,
        .table = t,
        .key = key,
        .no_cache = rpc_chat_no_cache(call),
    };
    pl_request_t *pl =
        pipeline_start(svc->pl, &params, &rpc_pl_callbacks, rc, &status, err, sizeof(err));
    table_unref(t); /* the pipeline holds its own */
    if (!pl) {
        gs_call_finish(call, status, err, NULL, 0);
        return;
    }
    atomic_store(&rc->pl, pl);
    if (atomic_load(&rc->cancel_requested))
        pipeline_cancel(pl);
}

static void rpc_chat_complete(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_chat_handle(call, msg, len, ctx, false);
}

static void rpc_chat_stream(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_chat_handle(call, msg, len, ctx, true);
}

/* --- ListModels ---------------------------------------------------------- */

static Llmgw__V1__ModelInfo *rpc_model_info(arena_t *a, const table_provider_t *p,
                                            const table_model_t *m)
{
    Llmgw__V1__ModelInfo *mi = arena_alloc(a, sizeof(*mi));
    size_t n = strlen(p->name) + strlen(m->name) + 2;
    char *id = arena_alloc(a, n);
    if (!mi || !id)
        return NULL;
    llmgw__v1__model_info__init(mi);
    snprintf(id, n, "%s/%s", p->name, m->name);
    mi->id = id;
    mi->kind = "deployment";
    mi->provider = (char *)p->name;
    mi->model = (char *)m->name;
    mi->input_cost_per_mtok = m->input_cost_per_mtok;
    mi->output_cost_per_mtok = m->output_cost_per_mtok;
    mi->quality = m->quality;
    mi->capabilities = provider_quirks_capabilities(a, p, m);
    return mi->capabilities ? mi : NULL;
}

static Llmgw__V1__ModelInfo *rpc_route_info(arena_t *a, const table_route_t *r)
{
    Llmgw__V1__ModelInfo *mi = arena_alloc(a, sizeof(*mi));
    char **deps = arena_alloc(a, sizeof(char *) * (r->n_deployments ? r->n_deployments : 1));
    if (!mi || !deps)
        return NULL;
    llmgw__v1__model_info__init(mi);
    mi->id = (char *)r->name;
    mi->kind = "route";
    mi->strategy = (char *)r->strategy;
    for (size_t i = 0; i < r->n_deployments; i++) {
        const table_deployment_t *d = &r->deployments[i];
        size_t n = strlen(d->provider->name) + strlen(d->model->name) + 2;
        deps[i] = arena_alloc(a, n);
        if (!deps[i])
            return NULL;
        snprintf(deps[i], n, "%s/%s", d->provider->name, d->model->name);
    }
    mi->deployments = deps;
    mi->n_deployments = r->n_deployments;
    return mi;
}

static void rpc_chat_list_models(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_chat_t *svc = ctx;
    char err[256];
    grpc_status_code status = GRPC_STATUS_OK;
    const char *details = NULL;
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(svc->tables);
    arena_t *a = arena_new(0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (!a) {
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        details = "gateway: out of memory";
        goto done;
    }
    status = auth_authorize(t, gs_call_metadata(call, "authorization"), TABLE_SCOPE_MODELS, &key,
                            err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        details = err;
        goto done;
    }
    Llmgw__V1__ListModelsRequest *req =
        llmgw__v1__list_models_request__unpack(arena_pb_allocator(a), len, msg);
    if (!req) {
        status = GRPC_STATUS_INVALID_ARGUMENT;
        details = "request: not a valid llmgw.v1.ListModelsRequest message";
        goto done;
    }
    if (req->provider[0] && !table_find_provider(t, req->provider)) {
        status = GRPC_STATUS_NOT_FOUND;
        snprintf(err, sizeof(err), "provider: unknown provider '%.64s'", req->provider);
        details = err;
        goto done;
    }
    size_t cap = table_n_routes(t);
    for (size_t i = 0; i < table_n_providers(t); i++)
        cap += table_provider_at(t, i)->n_models;
    Llmgw__V1__ListModelsResponse resp = LLMGW__V1__LIST_MODELS_RESPONSE__INIT;
    resp.models = arena_alloc(a, sizeof(*resp.models) * (cap ? cap : 1));
    if (!resp.models)
        goto oom;
    resp.table_version = table_version(t);
    if (!req->provider[0]) {
        for (size_t i = 0; i < table_n_routes(t); i++) {
            Llmgw__V1__ModelInfo *mi = rpc_route_info(a, table_route_at(t, i));
            if (!mi)
                goto oom;
            resp.models[resp.n_models++] = mi;
        }
    }
    for (size_t i = 0; i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        if (req->provider[0] && strcmp(req->provider, p->name) != 0)
            continue;
        for (size_t j = 0; j < p->n_models; j++) {
            Llmgw__V1__ModelInfo *mi = rpc_model_info(a, p, &p->models[j]);
            if (!mi)
                goto oom;
            resp.models[resp.n_models++] = mi;
        }
    }
    if (rpc_routing_annotate_models(svc->metrics, svc->discovery, a, t, req->provider, &resp) < 0)
        goto oom;
    out = rpc_pack(a, &resp.base, &out_len);
    if (!out)
        goto oom;
    goto done;
oom:
    status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    details = "gateway: out of memory";
done:
    gs_call_finish(call, status, details, status == GRPC_STATUS_OK ? out : NULL, out_len);
    arena_free(a);
    table_unref(t);
}

rpc_chat_t *rpc_chat_new(gs_server_t *server, pipeline_t *pl, table_slot_t *tables)
{
    rpc_chat_t *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return NULL;
    svc->pl = pl;
    svc->tables = tables;
    if (gs_server_add_method(server, "/llmgw.v1.ChatService/Complete", GS_UNARY, rpc_chat_complete,
                             svc) < 0 ||
        gs_server_add_method(server, "/llmgw.v1.ChatService/Stream", GS_SERVER_STREAMING,
                             rpc_chat_stream, svc) < 0 ||
        gs_server_add_method(server, "/llmgw.v1.ChatService/ListModels", GS_UNARY,
                             rpc_chat_list_models, svc) < 0) {
        free(svc);
        return NULL;
    }
    return svc;
}

void rpc_chat_free(rpc_chat_t *svc)
{
    free(svc);
}

void rpc_chat_set_routing(rpc_chat_t *svc, metrics_t *metrics, discovery_t *discovery)
{
    svc->metrics = metrics;
    svc->discovery = discovery;
}
