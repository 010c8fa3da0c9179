/* http_gw: see http_gw.h.
 *
 * Bodies are built as jansson trees from one table snapshot; live figures
 * come from metrics snapshots (copied values, no lock held while building).
 * A provider API key never appears in any body.
 */
#include "http_gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "ext_loader.h"
#include "http_chat.h"
#include "provider_quirks.h"

#define GW_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* Dumps and frees root into out; the status on success, -1 on failure. */
static int gw_finish(json_t *root, int status, buf_t *out)
{
    if (!root)
        return -1;
    char *s = json_dumps(root, GW_JSON_FLAGS);
    json_decref(root);
    if (!s)
        return -1;
    int rc = buf_append_str(out, s);
    free(s);
    return rc < 0 ? -1 : status;
}

/* Appends `v` (stolen) to arr; -1 when v is NULL or on failure. */
static int gw_push(json_t *arr, json_t *v)
{
    return v ? json_array_append_new(arr, v) : -1;
}

static json_t *gw_list(json_t *data)
{
    return data ? json_pack("{s:s, s:o}", "object", "list", "data", data) : NULL;
}

static json_t *gw_model_obj(const char *id, const char *owned_by)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "id", id, "object", "model", "created", 0, "owned_by",
                     owned_by);
}

int http_gw_models(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    json_t *data = json_array();
    char id[512];
    for (size_t i = 0; data && i < table_n_routes(t); i++)
        if (gw_push(data, gw_model_obj(table_route_at(t, i)->name, "llmgw")) < 0)
            goto fail;
    for (size_t i = 0; data && i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        for (size_t j = 0; j < p->n_models; j++) {
            snprintf(id, sizeof(id), "%s/%s", p->name, p->models[j].name);
            if (gw_push(data, gw_model_obj(id, p->name)) < 0)
                goto fail;
        }
    }
    return gw_finish(gw_list(data), 200, out);
fail:
    json_decref(data);
    return -1;
}

int http_gw_model(const http_gw_view_t *v, const char *id, buf_t *out)
{
    const table_t *t = v->table;
    if (table_find_route(t, id))
        return gw_finish(gw_model_obj(id, "llmgw"), 200, out);
    const char *slash = strchr(id, '/');
    if (slash && (size_t)(slash - id) < 256) {
        char provider[256];
        memcpy(provider, id, (size_t)(slash - id));
        provider[slash - id] = '\0';
        const table_provider_t *p = table_find_provider(t, provider);
        if (p && table_provider_find_model(p, slash + 1))
            return gw_finish(gw_model_obj(id, p->name), 200, out);
    }
    char msg[400];
    snprintf(msg, sizeof(msg), "model: the model '%.300s' does not exist", id);
    http_error_t e = {
        .http_status = 404, .type = "invalid_request_error", .code = "model_not_found"};
    snprintf(e.param, sizeof(e.param), "model");
    return http_chat_encode_error(&e, msg, out) < 0 ? -1 : 404;
}

static json_t *gw_health(const http_gw_view_t *v, const char *provider)
{
    if (!v->metrics)
        return json_pack("{s:s}", "state", "unknown");
    metrics_provider_snapshot_t ps;
    metrics_provider_snapshot(v->metrics, provider, &ps);
    return json_pack("{s:s, s:s, s:I, s:I}", "state", metrics_health_name(ps.health), "reason",
                     ps.reason, "since_unix_ms", (json_int_t)ps.since_unix_ms, "last_probe_unix_ms",
                     (json_int_t)ps.last_probe_unix_ms);
}

int http_gw_providers(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    json_t *data = json_array();
    for (size_t i = 0; data && i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        json_t *models = json_array();
        for (size_t j = 0; models && j < p->n_models; j++)
            if (gw_push(models, json_string(p->models[j].name)) < 0) {
                json_decref(models);
                models = NULL;
            }
        json_t *health = gw_health(v, p->name);
        const char *state = json_string_value(json_object_get(health, "state"));
        json_t *o = models && health
                        ? json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "name", p->name, "base_url",
                                    p->base_url, "wire_format",
                                    p->wire_format ? p->wire_format : "openai", "status",
                                    state && !strcmp(state, "down")       ? "down"
                                    : state && !strcmp(state, "degraded") ? "degraded"
                                                                          : "up",
                                    "health", health, "models", models)
                        : NULL;
        if (!o) {
            json_decref(models);
            json_decref(health);
            goto fail;
        }
        if (gw_push(data, o) < 0)
            goto fail;
    }
    return gw_finish(gw_list(data), 200, out);
fail:
    json_decref(data);
    return -1;
}

static json_t *gw_breaker(const http_gw_view_t *v, const char *provider, const char *model)
{
    metrics_snapshot_t s;
    if (!v->metrics || metrics_snapshot_one(v->metrics, provider, model, &s) < 0)
        return json_pack("{s:s}", "state", "closed");
    return json_pack("{s:s, s:s, s:I}", "state", breaker_state_name(s.breaker), "reason",
                     s.breaker_reason, "since_unix_ms", (json_int_t)s.breaker_since_unix_ms);
}

int http_gw_routing(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    json_t *routes = json_array();
    for (size_t i = 0; routes && i < table_n_routes(t); i++) {
        const table_route_t *r = table_route_at(t, i);
        json_t *deps = json_array();
        for (size_t j = 0; deps && j < r->n_deployments; j++) {
            const table_deployment_t *d = &r->deployments[j];
            json_t *o =
                json_pack("{s:s, s:s, s:f, s:i, s:o}", "provider", d->provider->name, "model",
                          d->model->name, "weight", d->weight, "priority", d->priority, "breaker",
                          gw_breaker(v, d->provider->name, d->model->name));
            if (gw_push(deps, o) < 0) {
                json_decref(deps);
                deps = NULL;
            }
        }
        json_t *o =
            deps ? json_pack("{s:s, s:s, s:i, s:o}", "name", r->name, "strategy", r->strategy,
                             "max_attempts", r->max_attempts, "deployments", deps)
                 : NULL;
        if (gw_push(routes, o) < 0)
            goto fail;
    }
    if (!routes)
        return -1;
    return gw_finish(
        json_pack("{s:I, s:o}", "table_version", (json_int_t)table_version(t), "routes", routes),
        200, out);
fail:
    json_decref(routes);
    return -1;
}

typedef struct {
    json_t *data;
    int failed;
} gw_perf_t;

static void gw_perf_one(void *ud, const metrics_snapshot_t *s)
{
    gw_perf_t *p = ud;
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:f, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}, s:f, s:i, s:s, s:s}",
                  "provider", s->provider, "model", s->model, "window_attempts",
                  (json_int_t)s->window_attempts, "success_rate", s->success_rate, "latency_ms",
                  "p50", s->latency_p50_ms, "p90", s->latency_p90_ms, "p99", s->latency_p99_ms,
                  "ttft_ms", "p50", s->ttft_p50_ms, "p90", s->ttft_p90_ms, "p99", s->ttft_p99_ms,
                  "output_tokens_per_s", s->output_tokens_per_s, "in_flight", s->in_flight,
                  "breaker", breaker_state_name(s->breaker), "last_error", s->last_error);
    if (gw_push(p->data, o) < 0)
        p->failed = 1;
}

int http_gw_performance(const http_gw_view_t *v, buf_t *out)
{
    gw_perf_t p = {.data = json_array()};
    if (!p.data)
        return -1;
    if (v->metrics)
        metrics_snapshot_all(v->metrics, gw_perf_one, &p);
    if (p.failed) {
        json_decref(p.data);
        return -1;
    }
    return gw_finish(gw_list(p.data), 200, out);
}

typedef struct {
    json_t *by_route, *by_provider, *by_model, *series;
    json_t *totals;
    int failed;
} gw_analytics_t;

/* Adds a series' figures into group[key]. */
static void gw_add(gw_analytics_t *a, json_t *group, const char *key, const usage_series_t *s)
{
    json_t *o = json_object_get(group, key);
    if (!o) {
        o = json_pack("{s:I, s:I, s:I, s:I, s:f}", "requests", (json_int_t)0, "errors",
                      (json_int_t)0, "prompt_tokens", (json_int_t)0, "completion_tokens",
                      (json_int_t)0, "cost_usd", 0.0);
        if (!o || json_object_set_new(group, key, o) < 0) {
            a->failed = 1;
            return;
        }
    }
    bool ok = !strcmp(s->status, "ok");
    json_object_set_new(
        o, "requests",
        json_integer(json_integer_value(json_object_get(o, "requests")) + (json_int_t)s->requests));
    json_object_set_new(o, "errors",
                        json_integer(json_integer_value(json_object_get(o, "errors")) +
                                     (json_int_t)(ok ? 0 : s->requests)));
    json_object_set_new(o, "prompt_tokens",
                        json_integer(json_integer_value(json_object_get(o, "prompt_tokens")) +
                                     (json_int_t)s->prompt_tokens));
    json_object_set_new(o, "completion_tokens",
                        json_integer(json_integer_value(json_object_get(o, "completion_tokens")) +
                                     (json_int_t)s->completion_tokens));
    json_object_set_new(o, "cost_usd",
                        json_real(json_real_value(json_object_get(o, "cost_usd")) + s->cost_usd));
}

static void gw_analytics_one(void *ud, const usage_series_t *s)
{
    gw_analytics_t *a = ud;
    char key[512];
    gw_add(a, a->by_route, s->route[0] ? s->route : "(direct)", s);
    gw_add(a, a->by_provider, s->provider[0] ? s->provider : "(none)", s);
    snprintf(key, sizeof(key), "%s/%s", s->provider, s->model);
    gw_add(a, a->by_model, s->provider[0] ? key : s->model, s);
    gw_add(a, a->totals, "all", s);
}

int http_gw_analytics(const http_gw_view_t *v, int window_s, buf_t *out)
{
    gw_analytics_t a = {.by_route = json_object(),
                        .by_provider = json_object(),
                        .by_model = json_object(),
                        .totals = json_object()};
    if (a.by_route && a.by_provider && a.by_model && a.totals && v->stats)
        usage_stats_foreach_window(v->stats, window_s, gw_analytics_one, &a);
    if (!a.by_route || !a.by_provider || !a.by_model || !a.totals || a.failed) {
        json_decref(a.by_route);
        json_decref(a.by_provider);
        json_decref(a.by_model);
        json_decref(a.totals);
        return -1;
    }
    json_t *total = json_incref(json_object_get(a.totals, "all"));
    json_decref(a.totals);
    if (!total)
        total = json_pack("{s:i, s:i, s:i, s:i, s:f}", "requests", 0, "errors", 0, "prompt_tokens",
                          0, "completion_tokens", 0, "cost_usd", 0.0);
    return gw_finish(json_pack("{s:i, s:o, s:o, s:o, s:o}", "window_s", window_s, "total", total,
                               "by_route", a.by_route, "by_provider", a.by_provider, "by_model",
                               a.by_model),
                     200, out);
}

/* Per deployment, the same capabilities the gRPC ListModels reports
 * (provider_quirks_capabilities: the model's fields and its provider's
 * quirks), plus what the HTTP API adds: completions and embeddings go
 * through the OpenAI wire format only. */
int http_gw_capabilities(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    json_t *data = json_array();
    arena_t *a = arena_new(0);
    char id[512];
    if (!a)
        goto fail;
    for (size_t i = 0; data && i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        for (size_t j = 0; j < p->n_models; j++) {
            const table_model_t *m = &p->models[j];
            const Llmgw__V1__ModelCapabilities *c = provider_quirks_capabilities(a, p, m);
            if (!c)
                goto fail;
            bool openai = !strcmp(c->wire_format, "openai");
            snprintf(id, sizeof(id), "%s/%s", p->name, m->name);
            json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b, "
                "s:b}, s:I, s:f, s:f, s:f}",
                "id", id, "provider", p->name, "model", m->name, "wire_format", c->wire_format,
                "preset", c->preset, "supports", "chat", 1, "streaming", 1, "stream_usage",
                c->stream_usage, "tools", c->tools, "json_mode", c->json_mode, "vision", c->vision,
                "completions", openai, "embeddings", openai, "context_window",
                (json_int_t)m->context_window, "input_cost_per_mtok", m->input_cost_per_mtok,
                "output_cost_per_mtok", m->output_cost_per_mtok, "quality", m->quality);
            if (gw_push(data, o) < 0)
                goto fail;
        }
    }
    arena_free(a);
    return gw_finish(gw_list(data), 200, out);
fail:
    arena_free(a);
    json_decref(data);
    return -1;
}

int http_gw_extensions(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    json_t *gateway = json_pack(
        "[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name",
        "extra_body_passthrough", "description",
        "unknown top-level request fields are forwarded to the provider unchanged", "name",
        "route_headers", "description",
        "x-llmgw-provider, x-llmgw-route-reason, x-llmgw-attempts, x-llmgw-cost-usd, "
        "x-llmgw-cache on answers",
        "name", "ensembles", "description",
        "POST /v1/ensembles: one request to several members, answers combined (consensus, "
        "voting, weighted, cascade, judge)",
        "name", "response_cache", "description",
        "routes with \"cache\" answer exact repeats from memory at no cost; cache-control: "
        "no-cache bypasses it",
        "name", "routes_as_models", "description",
        "a route name or provider/model is accepted wherever OpenAI expects a model", "name",
        "stream_usage", "description",
        "stream_options.include_usage is honoured even when the provider needs it translated");
    json_t *providers = json_array();
    for (size_t i = 0; gateway && providers && i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        const table_quirks_t *q = &p->quirks;
        json_t *drop = json_array();
        for (size_t j = 0; drop && j < q->n_drop_fields; j++)
            if (gw_push(drop, json_string(q->drop_fields[j])) < 0) {
                json_decref(drop);
                drop = NULL;
            }
        json_t *o =
            drop ? json_pack(
                       "{s:s, s:s, s:s, s:s?, s:s?, s:{s:b, s:b, s:b, s:b, s:i, s:s?, s:s?, s:o}}",
                       "provider", p->name, "wire_format",
                       p->wire_format ? p->wire_format : "openai", "auth_style",
                       p->auth_style ? p->auth_style : "bearer", "preset", p->preset, "api_version",
                       p->api_version, "quirks", "stream_options", q->stream_options, "tools",
                       q->tools, "json_mode", q->json_mode, "vision", q->vision,
                       "max_tokens_default", q->max_tokens_default, "chat_path", q->chat_path,
                       "models_path", q->models_path, "drop_fields", drop)
                 : NULL;
        if (gw_push(providers, o) < 0) {
            json_decref(gateway);
            json_decref(providers);
            return -1;
        }
    }
    if (!gateway || !providers) {
        json_decref(gateway);
        json_decref(providers);
        return -1;
    }
    /* The plugins this process loaded (docs/extensions.md). */
    json_t *plugins = ext_loader_list();
    if (!plugins) {
        json_decref(gateway);
        json_decref(providers);
        return -1;
    }
    return gw_finish(json_pack("{s:o, s:o, s:o}", "gateway", gateway, "providers", providers,
                               "plugins", plugins),
                     200, out);
}

int http_gw_ready(const http_gw_view_t *v, buf_t *out)
{
    const table_t *t = v->table;
    size_t up = 0;
    for (size_t i = 0; i < table_n_providers(t); i++) {
        metrics_provider_snapshot_t ps = {.health = METRICS_HEALTH_UNKNOWN};
        if (v->metrics)
            metrics_provider_snapshot(v->metrics, table_provider_at(t, i)->name, &ps);
        if (ps.health != METRICS_HEALTH_DOWN)
            up++;
    }
    bool ready = table_n_providers(t) > 0 && up > 0;
    json_t *o = json_pack("{s:s, s:I, s:i, s:i}", "status", ready ? "ready" : "not_ready",
                          "table_version", (json_int_t)table_version(t), "providers",
                          (int)table_n_providers(t), "providers_not_down", (int)up);
    return gw_finish(o, ready ? 200 : 503, out);
}
