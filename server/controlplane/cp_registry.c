/* cp_registry: RegistryService bodies. See cp_registry.h.
 *
 * A change runs as cp_change_t through one transaction: validate (before
 * the transaction), apply, audit, publish. The audit detail never holds an
 * API key — only whether one was set. An update's detail also names what
 * each changed setting was before (read in the same transaction).
 */
#include "cp_registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cp_presets.h"
#include "cp_probe.h"
#include "cp_publish.h"
#include "cp_rpc.h"
#include "cp_validate.h"
#include "log.h"
#include "models.h"
#include "providers.h"
#include "routes.h"
#include "store_tx.h"
#include "table_versions.h"

typedef struct cp_change cp_change_t;
struct cp_change {
    cp_t *cp;
    const audit_actor_t *who;
    void *req;
    int (*apply)(PGconn *c, cp_change_t *ch, store_err_t *e);
    /* Updates: the stored settings as "k=v ..." into out, before apply. */
    int (*before)(PGconn *c, cp_change_t *ch, char *out, size_t n, store_err_t *e);
    const char *action;
    char object[256];
    char detail[512];
    int64_t version;
    bool unchanged; /* set by apply: nothing changed, so no audit row, no version */
};

grpc_status_code cp_status_from_store(int code)
{
    switch ((store_code_t)code) {
    case STORE_OK:
        return GRPC_STATUS_OK;
    case STORE_NOT_FOUND:
        return GRPC_STATUS_NOT_FOUND;
    case STORE_CONFLICT:
        return GRPC_STATUS_ALREADY_EXISTS;
    case STORE_INVALID:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case STORE_IN_USE:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case STORE_RETRY:
        return GRPC_STATUS_ABORTED;
    case STORE_UNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case STORE_HARD:
        break;
    }
    return GRPC_STATUS_INTERNAL;
}

static int cp_change_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_change_t *ch = ctx;
    char before[512] = "", detail[1024];
    ch->unchanged = false;
    /* A missing row is left for apply to report in its own words. */
    if (ch->before && ch->before(c, ch, before, sizeof(before), e) < 0) {
        if (e->code != STORE_NOT_FOUND)
            return -1;
        before[0] = '\0';
        *e = (store_err_t){0};
    }
    if (ch->apply(c, ch, e) < 0)
        return -1;
    if (ch->unchanged) {
        ch->version = 0;
        return 0;
    }
    audit_detail_before(ch->detail, before, detail, sizeof(detail));
    if (audit_append(c, ch->who, ch->action, ch->object, detail, e) < 0)
        return -1;
    return cp_publish(c, &ch->version, e);
}

/* Runs the change; on success *resp is a RegistryChange. */
static grpc_status_code cp_change_run(cp_change_t *ch, ProtobufCMessage **resp, char *details,
                                      size_t dlen)
{
    store_err_t e = {0};
    if (store_run_transaction(ch->cp->pool, false, cp_change_tx, ch, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    Llmgw__V1__RegistryChange *rc = malloc(sizeof(*rc));
    if (!rc) {
        snprintf(details, dlen, "control plane: out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    llmgw__v1__registry_change__init(rc);
    rc->table_version = ch->version;
    *resp = &rc->base;
    log_info("registry changed", "action=%s object=%s table_version=%" PRId64, ch->action,
             ch->object, ch->version);
    return GRPC_STATUS_OK;
}

/* --- providers ----------------------------------------------------------- */

static int apply_provider_create(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return providers_insert(c, &ch->cp->key, ch->req, e);
}

static int apply_provider_update(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    Llmgw__V1__UpdateProviderRequest *r = ch->req;
    return providers_update(c, &ch->cp->key, r->provider, r->clear_api_key, e);
}

static void provider_fields(char *out, size_t n, const Llmgw__V1__Provider *p, const char *key_note)
{
    snprintf(out, n,
             "preset=%s base_url=%s auth_style=%s wire_format=%s api_version=%s timeout_ms=%d"
             " region=%s enabled=%s headers=%zu api_key=%s",
             p->preset, p->base_url, p->auth_style, p->wire_format, p->api_version, p->timeout_ms,
             p->region, p->enabled ? "true" : "false", p->n_headers, key_note);
}

static void provider_detail(cp_change_t *ch, const Llmgw__V1__Provider *p, const char *key_note)
{
    snprintf(ch->object, sizeof(ch->object), "provider/%s", p->name);
    provider_fields(ch->detail, sizeof(ch->detail), p, key_note);
}

static int before_provider(PGconn *c, cp_change_t *ch, char *out, size_t n, store_err_t *e)
{
    const Llmgw__V1__UpdateProviderRequest *r = ch->req;
    Llmgw__V1__Provider *p = providers_get(c, r->provider->name, e);
    if (!p)
        return -1;
    provider_fields(out, n, p, p->has_api_key ? "set" : "none");
    protobuf_c_message_free_unpacked(&p->base, NULL);
    return 0;
}

static grpc_status_code rpc_create_provider(cp_t *cp, const audit_actor_t *who,
                                            ProtobufCMessage *req, ProtobufCMessage **resp,
                                            char *details, size_t dlen)
{
    Llmgw__V1__CreateProviderRequest *r = (void *)req;
    if (cp_validate_provider(r->provider, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp,
                      .who = who,
                      .req = r->provider,
                      .apply = apply_provider_create,
                      .action = "provider.create"};
    provider_detail(&ch, r->provider, r->provider->api_key[0] ? "set" : "none");
    return cp_change_run(&ch, resp, details, dlen);
}

static grpc_status_code rpc_update_provider(cp_t *cp, const audit_actor_t *who,
                                            ProtobufCMessage *req, ProtobufCMessage **resp,
                                            char *details, size_t dlen)
{
    Llmgw__V1__UpdateProviderRequest *r = (void *)req;
    if (cp_validate_provider(r->provider, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp,
                      .who = who,
                      .req = r,
                      .apply = apply_provider_update,
                      .before = before_provider,
                      .action = "provider.update"};
    provider_detail(&ch, r->provider,
                    r->clear_api_key          ? "cleared"
                    : r->provider->api_key[0] ? "replaced"
                                              : "kept");
    return cp_change_run(&ch, resp, details, dlen);
}

static int apply_provider_delete(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return providers_delete(c, ch->req, e);
}

static grpc_status_code rpc_delete_provider(cp_t *cp, const audit_actor_t *who,
                                            ProtobufCMessage *req, ProtobufCMessage **resp,
                                            char *details, size_t dlen)
{
    Llmgw__V1__DeleteProviderRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp,
                      .who = who,
                      .req = r->name,
                      .apply = apply_provider_delete,
                      .action = "provider.delete"};
    snprintf(ch.object, sizeof(ch.object), "provider/%s", r->name);
    return cp_change_run(&ch, resp, details, dlen);
}

typedef struct {
    const char *provider; /* models only */
    const char *name;
    ProtobufCMessage *out;
} cp_read_t;

/* A retried transaction starts over: drop what the last attempt built. */
static void cp_read_reset(cp_read_t *rd)
{
    if (rd->out)
        protobuf_c_message_free_unpacked(rd->out, NULL);
    rd->out = NULL;
}

static int tx_get_provider(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__Provider *p = providers_get(c, rd->name, e);
    rd->out = p ? &p->base : NULL;
    return p ? 0 : -1;
}

static grpc_status_code cp_read(cp_t *cp, store_tx_fn fn, cp_read_t *rd, ProtobufCMessage **resp,
                                char *details, size_t dlen)
{
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, fn, rd, &e) < 0) {
        cp_read_reset(rd);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = rd->out;
    return GRPC_STATUS_OK;
}

static grpc_status_code rpc_get_provider(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetProviderRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_read_t rd = {.name = r->name};
    return cp_read(cp, tx_get_provider, &rd, resp, details, dlen);
}

static int tx_list_providers(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__ListProvidersResponse *out = calloc(1, sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "providers: out of memory");
    llmgw__v1__list_providers_response__init(out);
    rd->out = &out->base;
    return providers_list(c, out, e);
}

static grpc_status_code rpc_list_providers(cp_t *cp, const audit_actor_t *who,
                                           ProtobufCMessage *req, ProtobufCMessage **resp,
                                           char *details, size_t dlen)
{
    cp_read_t rd = {0};
    return cp_read(cp, tx_list_providers, &rd, resp, details, dlen);
}

/* --- models ---------------------------------------------------------------- */

static int apply_model_create(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return models_insert(c, ch->req, e);
}

static void model_fields(char *out, size_t n, const Llmgw__V1__Model *m)
{
    snprintf(out, n, "input_cost_per_mtok=%g output_cost_per_mtok=%g context_window=%d quality=%g",
             m->input_cost_per_mtok, m->output_cost_per_mtok, m->context_window, m->quality);
}

static int before_model(PGconn *c, cp_change_t *ch, char *out, size_t n, store_err_t *e)
{
    const Llmgw__V1__Model *want = ch->req;
    Llmgw__V1__Model *m = models_get(c, want->provider, want->name, e);
    if (!m)
        return -1;
    model_fields(out, n, m);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return 0;
}

/* Create and update share validation and the audit text; only the store
 * call and the action differ. */
static grpc_status_code model_change(cp_t *cp, const audit_actor_t *who, Llmgw__V1__Model *m,
                                     int (*apply)(PGconn *, cp_change_t *, store_err_t *),
                                     const char *action, ProtobufCMessage **resp, char *details,
                                     size_t dlen)
{
    if (cp_validate_model(m, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp, .who = who, .req = m, .apply = apply, .action = action};
    if (apply != apply_model_create)
        ch.before = before_model;
    snprintf(ch.object, sizeof(ch.object), "model/%s/%s", m->provider, m->name);
    model_fields(ch.detail, sizeof(ch.detail), m);
    return cp_change_run(&ch, resp, details, dlen);
}

static grpc_status_code rpc_create_model(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CreateModelRequest *r = (void *)req;
    return model_change(cp, who, r->model, apply_model_create, "model.create", resp, details, dlen);
}

static int apply_model_update(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return models_update(c, ch->req, e);
}

static grpc_status_code rpc_update_model(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__UpdateModelRequest *r = (void *)req;
    return model_change(cp, who, r->model, apply_model_update, "model.update", resp, details, dlen);
}

static int tx_get_model(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__Model *m = models_get(c, rd->provider, rd->name, e);
    rd->out = m ? &m->base : NULL;
    return m ? 0 : -1;
}

static grpc_status_code rpc_get_model(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetModelRequest *r = (void *)req;
    if (cp_validate_name("provider", r->provider, 64, "", details, dlen) < 0 ||
        cp_validate_name("name", r->name, 128, ":/@+", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_read_t rd = {.provider = r->provider, .name = r->name};
    return cp_read(cp, tx_get_model, &rd, resp, details, dlen);
}

static int apply_model_delete(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    Llmgw__V1__DeleteModelRequest *r = ch->req;
    return models_delete(c, r->provider, r->name, e);
}

static grpc_status_code rpc_delete_model(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeleteModelRequest *r = (void *)req;
    if (cp_validate_name("provider", r->provider, 64, "", details, dlen) < 0 ||
        cp_validate_name("name", r->name, 128, ":/@+", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {
        .cp = cp, .who = who, .req = r, .apply = apply_model_delete, .action = "model.delete"};
    snprintf(ch.object, sizeof(ch.object), "model/%s/%s", r->provider, r->name);
    return cp_change_run(&ch, resp, details, dlen);
}

static int tx_list_models(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__ListRegistryModelsResponse *out = calloc(1, sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "models: out of memory");
    llmgw__v1__list_registry_models_response__init(out);
    rd->out = &out->base;
    return models_list(c, rd->provider, out, e);
}

static grpc_status_code rpc_list_models(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ListRegistryModelsRequest *r = (void *)req;
    cp_read_t rd = {.provider = r->provider};
    return cp_read(cp, tx_list_models, &rd, resp, details, dlen);
}

/* --- routes ---------------------------------------------------------------- */

static int apply_route_create(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return routes_insert(c, ch->req, e);
}

/* The audit text of a route: its strategy, size and the settings it sets. */
static void route_detail(const Llmgw__V1__Route *rt, char *out, size_t n)
{
    int len = snprintf(out, n, "strategy=%s deployments=%zu", rt->strategy, rt->n_deployments);
    if (len >= 0 && (size_t)len < n && rt->weights)
        len += snprintf(out + len, n - (size_t)len, " weights=%g/%g/%g/%g", rt->weights->cost,
                        rt->weights->latency, rt->weights->quality, rt->weights->success);
    if (len >= 0 && (size_t)len < n && rt->tolerance_opt_case)
        len += snprintf(out + len, n - (size_t)len, " tolerance=%g", rt->tolerance);
    if (len >= 0 && (size_t)len < n && rt->max_attempts)
        len += snprintf(out + len, n - (size_t)len, " max_attempts=%d", rt->max_attempts);
    if (len >= 0 && (size_t)len < n && rt->cache)
        snprintf(out + len, n - (size_t)len, " cache_ttl_ms=%lld cache_max_temperature=%g",
                 (long long)rt->cache->ttl_ms, rt->cache->max_temperature);
}

static int before_route(PGconn *c, cp_change_t *ch, char *out, size_t n, store_err_t *e)
{
    const Llmgw__V1__Route *want = ch->req;
    Llmgw__V1__Route *rt = routes_get(c, want->name, e);
    if (!rt)
        return -1;
    route_detail(rt, out, n);
    protobuf_c_message_free_unpacked(&rt->base, NULL);
    return 0;
}

/* Create and update share validation and the audit text. */
static grpc_status_code route_change(cp_t *cp, const audit_actor_t *who, Llmgw__V1__Route *rt,
                                     int (*apply)(PGconn *, cp_change_t *, store_err_t *),
                                     const char *action, ProtobufCMessage **resp, char *details,
                                     size_t dlen)
{
    if (cp_validate_route(rt, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp, .who = who, .req = rt, .apply = apply, .action = action};
    if (apply != apply_route_create)
        ch.before = before_route;
    snprintf(ch.object, sizeof(ch.object), "route/%s", rt->name);
    route_detail(rt, ch.detail, sizeof(ch.detail));
    return cp_change_run(&ch, resp, details, dlen);
}

static grpc_status_code rpc_create_route(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CreateRouteRequest *r = (void *)req;
    return route_change(cp, who, r->route, apply_route_create, "route.create", resp, details, dlen);
}

static int apply_route_update(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return routes_update(c, ch->req, e);
}

static grpc_status_code rpc_update_route(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__UpdateRouteRequest *r = (void *)req;
    return route_change(cp, who, r->route, apply_route_update, "route.update", resp, details, dlen);
}

static int apply_route_delete(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    return routes_delete(c, ch->req, e);
}

static grpc_status_code rpc_delete_route(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeleteRouteRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_change_t ch = {.cp = cp,
                      .who = who,
                      .req = r->name,
                      .apply = apply_route_delete,
                      .action = "route.delete"};
    snprintf(ch.object, sizeof(ch.object), "route/%s", r->name);
    return cp_change_run(&ch, resp, details, dlen);
}

static int tx_get_route(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__Route *rt = routes_get(c, rd->name, e);
    rd->out = rt ? &rt->base : NULL;
    return rt ? 0 : -1;
}

static grpc_status_code rpc_get_route(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetRouteRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_read_t rd = {.name = r->name};
    return cp_read(cp, tx_get_route, &rd, resp, details, dlen);
}

static int tx_list_routes(PGconn *c, void *ctx, store_err_t *e)
{
    cp_read_t *rd = ctx;
    cp_read_reset(rd);
    Llmgw__V1__ListRoutesResponse *out = calloc(1, sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "routes: out of memory");
    llmgw__v1__list_routes_response__init(out);
    rd->out = &out->base;
    return routes_list(c, out, e);
}

static grpc_status_code rpc_list_routes(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_read_t rd = {0};
    return cp_read(cp, tx_list_routes, &rd, resp, details, dlen);
}

/* --- provider probes ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const secret_key_t *key;
    providers_endpoint_t ep;
} cp_endpoint_tx_t;

static int tx_endpoint(PGconn *c, void *ctx, store_err_t *e)
{
    cp_endpoint_tx_t *t = ctx;
    providers_endpoint_free(&t->ep);
    return providers_endpoint(c, t->key, t->name, &t->ep, e);
}

/* Reads the provider's endpoint (key opened) and probes /models. The
 * database transaction is over before the HTTP call starts. */
static grpc_status_code cp_probe_provider(cp_t *cp, const char *name, cp_probe_t *probe,
                                          int *probe_rc, char *details, size_t dlen)
{
    if (cp_validate_name("name", name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_endpoint_tx_t t = {.name = name, .key = &cp->key};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, tx_endpoint, &t, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    if (cp_presets_endpoint(&t.ep, details, dlen) < 0) {
        providers_endpoint_free(&t.ep);
        return GRPC_STATUS_INTERNAL;
    }
    *probe_rc = cp_probe_models(&t.ep, probe);
    providers_endpoint_free(&t.ep);
    return GRPC_STATUS_OK;
}

static grpc_status_code rpc_test_connection(cp_t *cp, const audit_actor_t *who,
                                            ProtobufCMessage *req, ProtobufCMessage **resp,
                                            char *details, size_t dlen)
{
    Llmgw__V1__TestConnectionRequest *r = (void *)req;
    cp_probe_t probe;
    int probe_rc = -1;
    memset(&probe, 0, sizeof(probe));
    grpc_status_code st = cp_probe_provider(cp, r->name, &probe, &probe_rc, details, dlen);
    if (st != GRPC_STATUS_OK)
        return st;
    Llmgw__V1__TestConnectionResponse *out = malloc(sizeof(*out));
    if (out) {
        llmgw__v1__test_connection_response__init(out);
        out->ok = probe_rc == 0;
        out->http_status = probe.http_status;
        out->latency_ms = probe.latency_ms;
        out->models_listed = (int32_t)probe.n_ids;
        if (!(out->error = strdup(probe.error))) {
            free(out);
            out = NULL;
        }
    }
    cp_probe_free(&probe);
    if (!out) {
        snprintf(details, dlen, "control plane: out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    log_info("provider tested", "provider=%s ok=%d http_status=%d latency_ms=%lld", r->name,
             out->ok, out->http_status, (long long)out->latency_ms);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

typedef struct {
    const char *provider;
    const cp_probe_t *probe;
    Llmgw__V1__DiscoverModelsResponse *out;
} cp_discover_t;

static int apply_discover(PGconn *c, cp_change_t *ch, store_err_t *e)
{
    cp_discover_t *d = ch->req;
    char field[64], err[256];
    /* A retried transaction starts over. */
    for (size_t i = 0; i < d->out->n_added; i++)
        free(d->out->added[i]);
    d->out->n_added = 0;
    for (size_t i = 0; i < d->probe->n_ids; i++) {
        bool added = false;
        snprintf(field, sizeof(field), "models[%zu].id", i);
        if (cp_validate_name(field, d->probe->ids[i], 128, ":/@+", err, sizeof(err)) < 0)
            continue; /* an id our tables cannot carry is listed, not registered */
        if (models_insert_discovered(c, d->provider, d->probe->ids[i], &added, e) < 0)
            return -1;
        if (added && !(d->out->added[d->out->n_added++] = strdup(d->probe->ids[i])))
            return store_fail(e, STORE_HARD, "discover: out of memory");
    }
    snprintf(ch->detail, sizeof(ch->detail), "listed=%zu added=%zu", d->probe->n_ids,
             d->out->n_added);
    ch->unchanged = d->out->n_added == 0;
    return 0;
}

static grpc_status_code rpc_discover_models(cp_t *cp, const audit_actor_t *who,
                                            ProtobufCMessage *req, ProtobufCMessage **resp,
                                            char *details, size_t dlen)
{
    Llmgw__V1__DiscoverModelsRequest *r = (void *)req;
    cp_probe_t probe;
    int probe_rc = -1;
    memset(&probe, 0, sizeof(probe));
    grpc_status_code st = cp_probe_provider(cp, r->name, &probe, &probe_rc, details, dlen);
    if (st != GRPC_STATUS_OK)
        return st;
    if (probe_rc < 0) {
        snprintf(details, dlen, "provider '%s': %s", r->name, probe.error);
        cp_probe_free(&probe);
        return GRPC_STATUS_UNAVAILABLE;
    }
    Llmgw__V1__DiscoverModelsResponse *out = calloc(1, sizeof(*out));
    if (!out)
        goto oom;
    llmgw__v1__discover_models_response__init(out);
    if (probe.n_ids && (!(out->listed = calloc(probe.n_ids, sizeof(char *))) ||
                        !(out->added = calloc(probe.n_ids, sizeof(char *)))))
        goto oom;
    for (size_t i = 0; i < probe.n_ids; i++)
        if (!(out->listed[out->n_listed++] = strdup(probe.ids[i])))
            goto oom;
    if (!r->dry_run) {
        cp_discover_t d = {.provider = r->name, .probe = &probe, .out = out};
        cp_change_t ch = {
            .cp = cp, .who = who, .req = &d, .apply = apply_discover, .action = "model.discover"};
        snprintf(ch.object, sizeof(ch.object), "provider/%s", r->name);
        ProtobufCMessage *change = NULL;
        st = cp_change_run(&ch, &change, details, dlen);
        if (st != GRPC_STATUS_OK) {
            protobuf_c_message_free_unpacked(&out->base, NULL);
            cp_probe_free(&probe);
            return st;
        }
        out->table_version = ((Llmgw__V1__RegistryChange *)change)->table_version;
        protobuf_c_message_free_unpacked(change, NULL);
    }
    cp_probe_free(&probe);
    *resp = &out->base;
    return GRPC_STATUS_OK;
oom:
    if (out)
        protobuf_c_message_free_unpacked(&out->base, NULL);
    cp_probe_free(&probe);
    snprintf(details, dlen, "control plane: out of memory");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

#define REG(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.RegistryService/" name, &llmgw__v1__##req##__descriptor, fn,                    \
            CP_ACCESS_REGISTRY, NULL                                                               \
    }
/* Reads: the auditor sees what it may not change. */
#define REG_READ(name, req, fn)                                                                    \
    {                                                                                              \
        "/llmgw.v1.RegistryService/" name, &llmgw__v1__##req##__descriptor, fn,                    \
            CP_ACCESS_REGISTRY_READ, NULL                                                          \
    }

static cp_rpc_method_t cp_registry_methods[] = {
    REG("CreateProvider", create_provider_request, rpc_create_provider),
    REG_READ("GetProvider", get_provider_request, rpc_get_provider),
    REG_READ("ListProviders", list_providers_request, rpc_list_providers),
    REG("UpdateProvider", update_provider_request, rpc_update_provider),
    REG("DeleteProvider", delete_provider_request, rpc_delete_provider),
    REG("CreateModel", create_model_request, rpc_create_model),
    REG_READ("GetModel", get_model_request, rpc_get_model),
    REG_READ("ListModels", list_registry_models_request, rpc_list_models),
    REG("UpdateModel", update_model_request, rpc_update_model),
    REG("DeleteModel", delete_model_request, rpc_delete_model),
    REG("CreateRoute", create_route_request, rpc_create_route),
    REG_READ("GetRoute", get_route_request, rpc_get_route),
    REG_READ("ListRoutes", list_routes_request, rpc_list_routes),
    REG("UpdateRoute", update_route_request, rpc_update_route),
    REG("DeleteRoute", delete_route_request, rpc_delete_route),
    REG("TestConnection", test_connection_request, rpc_test_connection),
    REG("DiscoverModels", discover_models_request, rpc_discover_models),
};

int cp_registry_register(cp_t *cp)
{
    return cp_rpc_register(cp, cp_registry_methods,
                           sizeof(cp_registry_methods) / sizeof(cp_registry_methods[0]));
}
