/* rpc_routing: RoutingService over grpc_server. See rpc_routing.h.
 *
 * Both RPCs answer on the CQ thread at once: they read snapshots (a table
 * reference, metrics snapshots under per-deployment locks held for
 * microseconds) and never call a provider. Each call builds its answer in
 * its own arena, freed before the handler returns (gs_call_finish copies).
 */
#include "rpc_routing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "chatreq.h"
#include "clock.h"
#include "ext_loader.h"
#include "llmgw/extension.h"
#include "llmgw/v1/routing.pb-c.h"
#include "planner.h"
#include "policy.h"
#include "route.h"

struct rpc_routing {
    table_slot_t *tables;
    metrics_t *metrics;
    discovery_t *discovery;
    consistency_t *consistency; /* may be NULL */
};

static uint8_t *rr_pack(arena_t *a, const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = arena_alloc(a, *len ? *len : 1);
    if (out)
        protobuf_c_message_pack(m, out);
    return out;
}

/* --- Providers ----------------------------------------------------------- */

static Llmgw__V1__DeploymentStatus *rr_deployment(arena_t *a, const metrics_snapshot_t *s,
                                                  const char *model, const char *source)
{
    Llmgw__V1__DeploymentStatus *d = arena_alloc(a, sizeof(*d));
    Llmgw__V1__DeploymentStatus__ErrorsEntry **errs =
        arena_alloc(a, sizeof(*errs) * METRICS_N_CLASSES);
    if (!d || !errs)
        return NULL;
    llmgw__v1__deployment_status__init(d);
    d->model = (char *)model;
    d->source = (char *)source;
    d->breaker = (char *)breaker_state_name(s->breaker);
    d->breaker_reason = arena_strdup(a, s->breaker_reason);
    d->last_error = arena_strdup(a, s->last_error);
    if (!d->breaker_reason || !d->last_error)
        return NULL;
    d->in_flight = s->in_flight;
    d->attempts = (int64_t)s->window_attempts;
    d->successes = (int64_t)s->window_by_class[METRICS_OK];
    for (int c = METRICS_OK + 1; c < METRICS_N_CLASSES; c++) {
        Llmgw__V1__DeploymentStatus__ErrorsEntry *e = arena_alloc(a, sizeof(*e));
        if (!e)
            return NULL;
        llmgw__v1__deployment_status__errors_entry__init(e);
        e->key = (char *)metrics_class_name((metrics_class_t)c);
        e->value = (int64_t)s->window_by_class[c];
        errs[d->n_errors++] = e;
    }
    d->errors = errs;
    d->success_rate = s->success_rate;
    d->latency_p50_ms = s->latency_p50_ms;
    d->latency_p90_ms = s->latency_p90_ms;
    d->latency_p99_ms = s->latency_p99_ms;
    d->ttft_p50_ms = s->ttft_p50_ms;
    d->ttft_p90_ms = s->ttft_p90_ms;
    d->ttft_p99_ms = s->ttft_p99_ms;
    d->latency_ewma_ms = s->latency_ewma_ms;
    d->output_tokens_per_s = s->output_tokens_per_s;
    d->last_error_unix_ms = s->last_error_unix_ms;
    d->retry_after_until_unix_ms = s->retry_after_until_unix_ms;
    return d;
}

typedef struct {
    arena_t *a;
    char **names;
    size_t n, cap;
    bool oom;
} rr_names_t;

static void rr_collect(void *ud, const char *model)
{
    rr_names_t *c = ud;
    if (c->oom)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **grown = arena_alloc(c->a, sizeof(*grown) * cap);
        if (!grown) {
            c->oom = true;
            return;
        }
        if (c->n)
            memcpy(grown, c->names, sizeof(*grown) * c->n);
        c->names = grown;
        c->cap = cap;
    }
    if (!(c->names[c->n] = arena_strdup(c->a, model)))
        c->oom = true;
    else
        c->n++;
}

static Llmgw__V1__ProviderStatus *rr_provider(rpc_routing_t *svc, arena_t *a,
                                              const table_provider_t *p)
{
    Llmgw__V1__ProviderStatus *ps = arena_alloc(a, sizeof(*ps));
    rr_names_t disc = {.a = a};
    if (!ps)
        return NULL;
    llmgw__v1__provider_status__init(ps);
    ps->name = (char *)p->name;
    ps->base_url = (char *)p->base_url;
    ps->discover = p->discover;
    if (svc->discovery)
        discovery_each(svc->discovery, p->name, rr_collect, &disc);
    if (disc.oom)
        return NULL;
    ps->discovered_models = disc.names;
    ps->n_discovered_models = disc.n;
    metrics_provider_snapshot_t h = {0};
    if (svc->metrics)
        metrics_provider_snapshot(svc->metrics, p->name, &h);
    ps->status = (char *)metrics_health_name(h.health);
    ps->reason = arena_strdup(a, h.reason);
    ps->since_unix_ms = h.since_unix_ms;
    ps->last_probe_unix_ms = h.last_probe_unix_ms;
    ps->deployments = arena_alloc(a, sizeof(*ps->deployments) * (p->n_models + disc.n + 1));
    metrics_snapshot_t *s = arena_alloc(a, sizeof(*s));
    if (!ps->reason || !ps->deployments || !s)
        return NULL;
    for (size_t i = 0; i < p->n_models + disc.n; i++) {
        bool table_model = i < p->n_models;
        const char *model = table_model ? p->models[i].name : disc.names[i - p->n_models];
        if (!table_model && table_provider_find_model(p, model))
            continue; /* listed by both: shown once, as the table's */
        int known = svc->metrics ? metrics_snapshot_one(svc->metrics, p->name, model, s) : -1;
        if (known < 0 && !table_model)
            continue; /* discovered and never used: listed in discovered_models only */
        if (known < 0) {
            memset(s, 0, sizeof(*s));
            s->success_rate = 1;
            s->latency_ewma_ms = -1;
        }
        Llmgw__V1__DeploymentStatus *d =
            rr_deployment(a, s, model, table_model ? "table" : "discovered");
        if (!d)
            return NULL;
        consistency_stat_t cs;
        if (svc->consistency && consistency_get(svc->consistency, p->name, model, &cs) == 0) {
            d->consistency_score = cs.score;
            d->consistency_samples = (int64_t)cs.samples;
            d->consistency_agreed = (int64_t)cs.agreed;
        }
        ps->deployments[ps->n_deployments++] = d;
    }
    return ps;
}

static void rr_providers(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_routing_t *svc = ctx;
    char err[256];
    grpc_status_code status = GRPC_STATUS_OK;
    const char *details = NULL;
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(svc->tables);
    arena_t *a = arena_new(0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    /* Authentication before the message is even decoded. */
    status = auth_authorize(t, gs_call_metadata(call, "authorization"), TABLE_SCOPE_ROUTING, &key,
                            err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        details = err;
        goto done;
    }
    Llmgw__V1__ProvidersRequest *req =
        a ? llmgw__v1__providers_request__unpack(arena_pb_allocator(a), len, msg) : NULL;
    if (!a)
        goto oom;
    if (!req) {
        status = GRPC_STATUS_INVALID_ARGUMENT;
        details = "request: not a valid llmgw.v1.ProvidersRequest message";
        goto done;
    }
    if (req->provider[0] && !table_find_provider(t, req->provider)) {
        status = GRPC_STATUS_NOT_FOUND;
        snprintf(err, sizeof(err), "provider: unknown provider '%.64s'", req->provider);
        details = err;
        goto done;
    }
    Llmgw__V1__ProvidersResponse resp = LLMGW__V1__PROVIDERS_RESPONSE__INIT;
    size_t n = table_n_providers(t);
    resp.providers = arena_alloc(a, sizeof(*resp.providers) * (n ? n : 1));
    if (!resp.providers)
        goto oom;
    resp.table_version = table_version(t);
    for (size_t i = 0; i < n; i++) {
        const table_provider_t *p = table_provider_at(t, i);
        if (req->provider[0] && strcmp(req->provider, p->name) != 0)
            continue;
        if (!(resp.providers[resp.n_providers] = rr_provider(svc, a, p)))
            goto oom;
        resp.n_providers++;
    }
    if (!(out = rr_pack(a, &resp.base, &out_len)))
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

/* --- Extensions ---------------------------------------------------------- */

static Llmgw__V1__ExtensionInfo *rr_extension(arena_t *a, size_t i)
{
    const ext_loader_info_t *in = ext_loader_at(i);
    Llmgw__V1__ExtensionInfo *e = arena_alloc(a, sizeof(*e));
    char msg[256];
    if (!e || !in)
        return NULL;
    llmgw__v1__extension_info__init(e);
    e->name = (char *)in->name;
    e->version = (char *)in->version;
    e->abi_version = in->abi_version;
    e->path = (char *)in->path;
    e->adapters = (char **)in->adapters;
    e->n_adapters = in->n_adapters;
    e->request_hooks = (uint32_t)in->request_hooks;
    e->response_hooks = (uint32_t)in->response_hooks;
    e->usage_hooks = (uint32_t)in->usage_hooks;
    e->healthy = ext_loader_health(i, msg, sizeof(msg));
    e->health_message = arena_strdup(a, msg);
    return e->health_message ? e : NULL;
}

static void rr_extensions(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_routing_t *svc = ctx;
    char err[256];
    const char *details = NULL;
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(svc->tables);
    arena_t *a = arena_new(0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    grpc_status_code status = auth_authorize(t, gs_call_metadata(call, "authorization"),
                                             TABLE_SCOPE_ROUTING, &key, err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        details = err;
        goto done;
    }
    Llmgw__V1__ExtensionsRequest *req =
        a ? llmgw__v1__extensions_request__unpack(arena_pb_allocator(a), len, msg) : NULL;
    if (!a)
        goto oom;
    if (!req) {
        status = GRPC_STATUS_INVALID_ARGUMENT;
        details = "request: not a valid llmgw.v1.ExtensionsRequest message";
        goto done;
    }
    Llmgw__V1__ExtensionsResponse resp = LLMGW__V1__EXTENSIONS_RESPONSE__INIT;
    size_t n = ext_loader_count();
    resp.abi_version = LLMGW_EXT_ABI_VERSION;
    resp.extensions = arena_alloc(a, sizeof(*resp.extensions) * (n ? n : 1));
    if (!resp.extensions)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const ext_loader_info_t *in = ext_loader_at(i);
        if (req->name[0] && strcmp(req->name, in->name) != 0)
            continue;
        if (!(resp.extensions[resp.n_extensions] = rr_extension(a, i)))
            goto oom;
        resp.n_extensions++;
    }
    if (req->name[0] && resp.n_extensions == 0) {
        status = GRPC_STATUS_NOT_FOUND;
        snprintf(err, sizeof(err), "name: no extension '%.64s' is loaded", req->name);
        details = err;
        goto done;
    }
    if (!(out = rr_pack(a, &resp.base, &out_len)))
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

/* --- Explain ------------------------------------------------------------- */

static uint64_t *rr_rng(void)
{
    static _Thread_local uint64_t state;
    if (state == 0)
        state = (uint64_t)clock_now_us() * 0x9E3779B97F4A7C15ull | 1;
    return &state;
}

static grpc_status_code rr_route_status(route_status_t st)
{
    switch (st) {
    case ROUTE_OK:
        return GRPC_STATUS_OK;
    case ROUTE_ERR_NOT_FOUND:
        return GRPC_STATUS_NOT_FOUND;
    case ROUTE_ERR_NO_CANDIDATE:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case ROUTE_ERR_UNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case ROUTE_ERR_DENIED:
        return GRPC_STATUS_PERMISSION_DENIED;
    case ROUTE_ERR_INVALID:
        break;
    }
    return GRPC_STATUS_INVALID_ARGUMENT;
}

static void rr_explain(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    rpc_routing_t *svc = ctx;
    char err[2048];
    grpc_status_code status = GRPC_STATUS_OK;
    const char *details = NULL;
    const table_key_t *key = NULL;
    table_t *t = table_slot_get(svc->tables);
    arena_t *a = arena_new(0);
    route_plan_t *plan = malloc(sizeof(*plan));
    uint8_t *out = NULL;
    size_t out_len = 0;
    /* Authentication before the message is even decoded. */
    status = auth_authorize(t, gs_call_metadata(call, "authorization"), TABLE_SCOPE_ROUTING, &key,
                            err, sizeof(err));
    if (status != GRPC_STATUS_OK) {
        details = err;
        goto done;
    }
    Llmgw__V1__ChatRequest *req =
        a ? llmgw__v1__chat_request__unpack(arena_pb_allocator(a), len, msg) : NULL;
    if (!a || !plan)
        goto oom;
    if (!req) {
        status = GRPC_STATUS_INVALID_ARGUMENT;
        details = "request: not a valid llmgw.v1.ChatRequest message";
        goto done;
    }
    if (chatreq_validate(req, err, sizeof(err)) < 0) {
        status = GRPC_STATUS_INVALID_ARGUMENT;
        details = err;
        goto done;
    }
    planner_t pl = {
        .metrics = svc->metrics, .discovery = svc->discovery, .consistency = svc->consistency};
    /* The caller's policy filters as it would for Complete: the excluded
     * deployments show with "excluded by policy '…' (…)". */
    route_filter_t filter = policy_route_filter(policy_for(t, key));
    route_status_t st =
        planner_plan_filtered(&pl, t, req, &filter, rr_rng(), plan, err, sizeof(err));
    if (st != ROUTE_OK) {
        status = rr_route_status(st);
        details = err;
        goto done;
    }
    Llmgw__V1__RouteDecision *d = arena_alloc(a, sizeof(*d));
    if (!d)
        goto oom;
    llmgw__v1__route_decision__init(d);
    d->provider = (char *)plan->items[0].provider->name;
    d->model = (char *)plan->items[0].model->name;
    d->strategy = (char *)plan->strategy;
    d->route = plan->route_name ? (char *)plan->route_name : "";
    d->reason = plan->reason;
    if (planner_fill_decision(a, plan, 0, d) < 0)
        goto oom;
    Llmgw__V1__ExplainResponse resp = LLMGW__V1__EXPLAIN_RESPONSE__INIT;
    resp.route = d;
    resp.table_version = table_version(t);
    if (!(out = rr_pack(a, &resp.base, &out_len)))
        goto oom;
    goto done;
oom:
    status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    details = "gateway: out of memory";
done:
    gs_call_finish(call, status, details, status == GRPC_STATUS_OK ? out : NULL, out_len);
    free(plan);
    arena_free(a);
    table_unref(t);
}

/* --- ListModels annotations ---------------------------------------------- */

typedef struct {
    arena_t *a;
    const table_provider_t *p;
    Llmgw__V1__ModelInfo **list;
    size_t n, cap;
    bool oom;
} rr_models_t;

static void rr_add_discovered(void *ud, const char *model)
{
    rr_models_t *c = ud;
    if (c->oom || table_provider_find_model(c->p, model))
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap * 2 + 16;
        Llmgw__V1__ModelInfo **grown = arena_alloc(c->a, sizeof(*grown) * cap);
        if (!grown) {
            c->oom = true;
            return;
        }
        memcpy(grown, c->list, sizeof(*grown) * c->n);
        c->list = grown;
        c->cap = cap;
    }
    Llmgw__V1__ModelInfo *mi = arena_alloc(c->a, sizeof(*mi));
    size_t n = strlen(c->p->name) + strlen(model) + 2;
    char *id = arena_alloc(c->a, n);
    char *name = arena_strdup(c->a, model);
    if (!mi || !id || !name) {
        c->oom = true;
        return;
    }
    llmgw__v1__model_info__init(mi);
    snprintf(id, n, "%s/%s", c->p->name, model);
    mi->id = id;
    mi->kind = "discovered";
    mi->provider = (char *)c->p->name;
    mi->model = name;
    mi->quality = 0.5;
    c->list[c->n++] = mi;
}

int rpc_routing_annotate_models(metrics_t *metrics, discovery_t *discovery, arena_t *a,
                                const table_t *t, const char *provider,
                                Llmgw__V1__ListModelsResponse *resp)
{
    rr_models_t c = {.a = a, .list = resp->models, .n = resp->n_models, .cap = resp->n_models};
    for (size_t i = 0; i < table_n_providers(t) && discovery; i++) {
        c.p = table_provider_at(t, i);
        if (provider && provider[0] && strcmp(provider, c.p->name) != 0)
            continue;
        discovery_each(discovery, c.p->name, rr_add_discovered, &c);
        if (c.oom)
            return -1;
    }
    resp->models = c.list;
    resp->n_models = c.n;
    for (size_t i = 0; i < resp->n_models && metrics; i++) {
        Llmgw__V1__ModelInfo *mi = resp->models[i];
        if (strcmp(mi->kind, "route") == 0)
            continue;
        metrics_provider_snapshot_t h;
        metrics_snapshot_t *s = arena_alloc(a, sizeof(*s));
        if (!s)
            return -1;
        metrics_provider_snapshot(metrics, mi->provider, &h);
        mi->status = (char *)metrics_health_name(h.health);
        mi->status_reason = arena_strdup(a, h.reason);
        mi->status_since_unix_ms = h.since_unix_ms;
        metrics_snapshot_one(metrics, mi->provider, mi->model, s);
        mi->breaker = (char *)breaker_state_name(s->breaker);
        if (!mi->status_reason)
            return -1;
    }
    return 0;
}

rpc_routing_t *rpc_routing_new(gs_server_t *server, table_slot_t *tables, metrics_t *metrics,
                               discovery_t *discovery)
{
    rpc_routing_t *svc = calloc(1, sizeof(*svc));
    if (!svc)
        return NULL;
    svc->tables = tables;
    svc->metrics = metrics;
    svc->discovery = discovery;
    if (gs_server_add_method(server, "/llmgw.v1.RoutingService/Providers", GS_UNARY, rr_providers,
                             svc) < 0 ||
        gs_server_add_method(server, "/llmgw.v1.RoutingService/Explain", GS_UNARY, rr_explain,
                             svc) < 0 ||
        gs_server_add_method(server, "/llmgw.v1.RoutingService/Extensions", GS_UNARY, rr_extensions,
                             svc) < 0) {
        free(svc);
        return NULL;
    }
    return svc;
}

void rpc_routing_set_consistency(rpc_routing_t *svc, consistency_t *c)
{
    svc->consistency = c;
}

void rpc_routing_free(rpc_routing_t *svc)
{
    free(svc);
}
