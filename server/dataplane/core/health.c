/* health: the probe schedule and verdicts (see health.h for the model).
 *
 * Invariants: `mu` guards the provider states and the in-flight count; a
 * probe context owns copies of everything its on_done needs (names, the
 * threshold), never a table pointer, because the table may be reloaded
 * while the probe is in flight. A probe is submitted under `mu`, and its
 * on_done takes `mu` first, so the handle is stored before it is cleared.
 */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "arena.h"
#include "clock.h"
#include "log.h"
#include "provider_quirks.h"

#define HEALTH_MAX_PROVIDERS 1024
#define HEALTH_HEADERS 8 /* auth/format headers an adapter adds */

typedef enum { HEALTH_PROBE = 0, HEALTH_DISCOVER, HEALTH_KINDS } health_kind_t;

typedef struct {
    char name[64];
    int64_t due_ms[HEALTH_KINDS];
    upstream_req_t *inflight[HEALTH_KINDS];
    int failures; /* consecutive failed probes */
    bool down;
} health_prov_t;

typedef struct {
    health_t *h;
    health_kind_t kind;
    size_t prov; /* index into h->provs */
    int failures_to_down;
    bool discover_too; /* the probe path is the model listing: the answer is the listing */
} health_probe_t;

struct health {
    health_config_t cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    int inflight;
    health_prov_t *provs; /* HEALTH_MAX_PROVIDERS */
    size_t n_provs;
};

/* Under mu. */
static size_t health_prov_index(health_t *h, const char *name)
{
    for (size_t i = 0; i < h->n_provs; i++)
        if (strcmp(h->provs[i].name, name) == 0)
            return i;
    if (h->n_provs >= HEALTH_MAX_PROVIDERS || strlen(name) >= sizeof(h->provs[0].name))
        return SIZE_MAX;
    health_prov_t *p = &h->provs[h->n_provs];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    return h->n_provs++;
}

static void health_force_open(breaker_t *b, int64_t now_ms, void *ud)
{
    breaker_force_open(b, now_ms, ud);
}

static void health_half_open(breaker_t *b, int64_t now_ms, void *ud)
{
    /* Only breakers the probe opened: one opened by traffic keeps its own
     * cool-down, the endpoint may answer /models and still fail chat. */
    if (strncmp(b->reason, "health probe failed", 19) == 0)
        breaker_probe_ok(b, now_ms);
}

static void health_on_done(void *ud, const upstream_result_t *res)
{
    health_probe_t *pr = ud;
    health_t *h = pr->h;
    bool ok = res->outcome == UPSTREAM_OK && res->http_status >= 200 && res->http_status < 300;
    char reason[160];
    if (ok)
        snprintf(reason, sizeof(reason), "probe answered HTTP %ld in %lld ms", res->http_status,
                 (long long)(res->latency_us / 1000));
    else if (res->outcome == UPSTREAM_OK)
        snprintf(reason, sizeof(reason), "probe answered HTTP %ld", res->http_status);
    else if (res->outcome == UPSTREAM_ERR_TIMEOUT)
        snprintf(reason, sizeof(reason), "probe timed out");
    else
        snprintf(reason, sizeof(reason), "probe failed: %.120s", res->error);

    pthread_mutex_lock(&h->mu);
    health_prov_t *p = &h->provs[pr->prov];
    upstream_req_t *done = p->inflight[pr->kind];
    p->inflight[pr->kind] = NULL;
    bool cancelled = res->outcome == UPSTREAM_ERR_CANCELLED;
    bool went_down = false, newly_down = false, came_up = false;
    char name[64];
    snprintf(name, sizeof(name), "%s", p->name);
    if (pr->kind == HEALTH_PROBE && !cancelled) {
        p->failures = ok ? 0 : p->failures + 1;
        went_down = !ok && p->failures >= pr->failures_to_down;
        came_up = ok && p->down;
        newly_down = went_down && !p->down;
        if (went_down)
            p->down = true;
        if (ok)
            p->down = false;
    }
    pthread_mutex_unlock(&h->mu);
    upstream_req_unref(done);

    if (pr->kind == HEALTH_PROBE && !cancelled && (ok || went_down)) {
        metrics_provider_probe(h->cfg.metrics, name, ok, reason);
        /* Every failed probe while down restarts the breakers' cool-down, so
         * traffic does not probe a provider the health check knows is down. */
        if (went_down)
            metrics_provider_each_breaker(h->cfg.metrics, name, health_force_open, reason);
        else
            metrics_provider_each_breaker(h->cfg.metrics, name, health_half_open, NULL);
        if (newly_down || came_up)
            log_info(newly_down ? "provider down" : "provider healthy", "provider=%s reason=\"%s\"",
                     name, reason);
    }
    if (ok && h->cfg.discovery && (pr->kind == HEALTH_DISCOVER || pr->discover_too)) {
        char err[160];
        if (discovery_update(h->cfg.discovery, name, res->body, res->body_len, err, sizeof(err)) <
                0 &&
            pr->kind == HEALTH_DISCOVER)
            log_warn("model discovery failed", "provider=%s error=\"%s\"", name, err);
    }
    free(pr);
    pthread_mutex_lock(&h->mu);
    h->inflight--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static const upstream_callbacks_t health_cb = {.on_done = health_on_done};

/* Where p lists its models (the table's quirks.models_path). */
static const char *health_models_path(const table_provider_t *p)
{
    return p->quirks.models_path ? p->quirks.models_path : "/models";
}

/* The probe's path: health.path, else the model listing. */
static const char *health_probe_path(const table_provider_t *p)
{
    return p->health_path ? p->health_path : health_models_path(p);
}

/* One GET against provider p. Under mu. */
static void health_submit(health_t *h, const table_provider_t *p, size_t idx, health_kind_t kind)
{
    const char *models = health_models_path(p);
    const char *path = kind == HEALTH_PROBE ? health_probe_path(p) : models;
    arena_t *a = arena_new(0);
    health_probe_t *pr = calloc(1, sizeof(*pr));
    size_t cap = p->n_headers + HEALTH_HEADERS, n = 0;
    const char **headers = a ? arena_alloc(a, sizeof(char *) * cap) : NULL;
    /* As every other call to p: an Azure-style provider gets its api-version
     * query (without it Azure answers 404 and the probe would mark it down). */
    char *url = a ? provider_quirks_url(p, path, false, NULL, a) : NULL;
    const adapter_t *ad = adapter_for(p);
    if (!pr || !headers || !url || !ad || ad->auth_headers(p, a, headers, &n, cap) < 0)
        goto fail;
    for (size_t i = 0; i < p->n_headers && n < cap; i++)
        headers[n++] = p->headers[i];
    *pr = (health_probe_t){.h = h,
                           .kind = kind,
                           .prov = idx,
                           .failures_to_down = p->health_failures_to_down,
                           .discover_too = kind == HEALTH_PROBE && strcmp(path, models) == 0};
    upstream_spec_t spec = {.url = url,
                            .headers = headers,
                            .n_headers = n,
                            .timeout_ms = p->health_timeout_ms > 0 ? p->health_timeout_ms : 2000,
                            .max_body_bytes = 4u << 20};
    upstream_req_t *req = upstream_submit(h->cfg.engine, &spec, &health_cb, pr);
    if (!req)
        goto fail;
    h->provs[idx].inflight[kind] = req;
    h->inflight++;
    arena_free(a);
    return;
fail:
    free(pr);
    arena_free(a);
}

/* One pass over the table: submit what is due. */
static void health_tick(health_t *h)
{
    table_t *t = table_slot_get(h->cfg.tables);
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < table_n_providers(t); i++) {
        const table_provider_t *p = table_provider_at(t, i);
        /* Entries for every table deployment, so a provider that goes down
         * before any traffic has breakers to open. */
        for (size_t j = 0; j < p->n_models; j++)
            metrics_dep(h->cfg.metrics, p->name, p->models[j].name);
        int interval = p->health_interval_ms;
        if (interval <= 0)
            continue;
        pthread_mutex_lock(&h->mu);
        size_t idx = health_prov_index(h, p->name);
        if (idx != SIZE_MAX && !h->stopping) {
            health_prov_t *s = &h->provs[idx];
            bool separate_discovery =
                p->discover && strcmp(health_probe_path(p), health_models_path(p)) != 0;
            for (int k = 0; k < HEALTH_KINDS; k++) {
                if (k == HEALTH_DISCOVER && (!separate_discovery || !h->cfg.discovery))
                    continue;
                if (s->inflight[k] || now < s->due_ms[k])
                    continue;
                s->due_ms[k] = now + interval;
                health_submit(h, p, idx, (health_kind_t)k);
            }
        }
        pthread_mutex_unlock(&h->mu);
    }
    table_unref(t);
}

static void *health_main(void *arg)
{
    health_t *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->mu);
        health_tick(h);
        pthread_mutex_lock(&h->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)h->cfg.tick_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!h->stopping && pthread_cond_timedwait(&h->cv, &h->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

health_t *health_start(const health_config_t *cfg)
{
    health_t *h = calloc(1, sizeof(*h));
    if (!h || !cfg->engine || !cfg->tables || !cfg->metrics)
        goto fail_free;
    h->cfg = *cfg;
    if (h->cfg.tick_ms <= 0)
        h->cfg.tick_ms = 50;
    h->provs = calloc(HEALTH_MAX_PROVIDERS, sizeof(*h->provs));
    if (!h->provs)
        goto fail_free;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, health_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        goto fail_free;
    }
    return h;
fail_free:
    if (h)
        free(h->provs);
    free(h);
    return NULL;
}

void health_stop(health_t *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n_provs; i++)
        for (int k = 0; k < HEALTH_KINDS; k++)
            if (h->provs[i].inflight[k])
                upstream_cancel(h->cfg.engine, h->provs[i].inflight[k]);
    while (h->inflight > 0)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->provs);
    free(h);
}
