/* cp_analytics: AnalyticsService and metrics maintenance. See cp_analytics.h. */
#include "cp_analytics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_rpc.h"
#include "cp_usage.h"
#include "llmgw/v1/analytics.pb-c.h"
#include "log.h"
#include "store_analytics.h"
#include "store_tx.h"
#include "timefmt.h"

/* --- windows ------------------------------------------------------------------ */

int cp_analytics_window(const char *since, const char *until, int64_t now_ms, int64_t *since_ms,
                        int64_t *until_ms, char *details, size_t dlen)
{
    char err[160];
    if (until && *until) {
        if (timefmt_parse(until, until_ms, err, sizeof(err)) < 0) {
            snprintf(details, dlen,
                     "until: expected an RFC 3339 time like 2026-12-03T10:00:00Z: %s", err);
            return -1;
        }
    } else {
        *until_ms = now_ms;
    }
    if (since && *since) {
        if (timefmt_parse(since, since_ms, err, sizeof(err)) < 0) {
            snprintf(details, dlen,
                     "since: expected an RFC 3339 time like 2026-12-03T10:00:00Z: %s", err);
            return -1;
        }
    } else {
        *since_ms = *until_ms - 3600000;
    }
    if (*until_ms <= *since_ms) {
        char a[40], b[40];
        timefmt_rfc3339(*since_ms, a, sizeof(a));
        timefmt_rfc3339(*until_ms, b, sizeof(b));
        snprintf(details, dlen, "until: must be after since (since %s, until %s)", a, b);
        return -1;
    }
    if (*until_ms - *since_ms > CP_ANALYTICS_MAX_WINDOW_MS) {
        snprintf(details, dlen, "since: the window is at most 400 days");
        return -1;
    }
    return 0;
}

/* --- the RPCs --------------------------------------------------------------------- */

/* One read: which query, its window and filter, the answer being built. */
typedef enum { CA_PERF, CA_COST, CA_ROUTING, CA_QUALITY, CA_THROUGHPUT } ca_kind_t;

typedef struct {
    ca_kind_t kind;
    int64_t since, until;
    const char *arg; /* provider, group_by or route */
    ProtobufCMessage *out;
} ca_read_t;

static void ca_free_out(ca_read_t *rd)
{
    if (rd->out)
        protobuf_c_message_free_unpacked(rd->out, NULL);
    rd->out = NULL;
}

static int tx_read(PGconn *c, void *ctx, store_err_t *e)
{
    ca_read_t *rd = ctx;
    ca_free_out(rd); /* a retried transaction starts afresh */
    switch (rd->kind) {
    case CA_PERF: {
        Llmgw__V1__ProviderPerformanceResponse *o = malloc(sizeof(*o));
        if (!o)
            break;
        llmgw__v1__provider_performance_response__init(o);
        rd->out = &o->base;
        return store_analytics_performance(c, rd->since, rd->until, rd->arg, o, e);
    }
    case CA_COST: {
        Llmgw__V1__CostReportResponse *o = malloc(sizeof(*o));
        if (!o)
            break;
        llmgw__v1__cost_report_response__init(o);
        rd->out = &o->base;
        return store_analytics_cost(c, rd->since, rd->until, rd->arg, o, e);
    }
    case CA_ROUTING: {
        Llmgw__V1__RoutingDecisionsResponse *o = malloc(sizeof(*o));
        if (!o)
            break;
        llmgw__v1__routing_decisions_response__init(o);
        rd->out = &o->base;
        return store_analytics_routing(c, rd->since, rd->until, rd->arg, o, e);
    }
    case CA_QUALITY: {
        Llmgw__V1__QualityResponse *o = malloc(sizeof(*o));
        if (!o)
            break;
        llmgw__v1__quality_response__init(o);
        rd->out = &o->base;
        return store_analytics_quality(c, rd->since, rd->until, o, e);
    }
    case CA_THROUGHPUT: {
        Llmgw__V1__ThroughputResponse *o = malloc(sizeof(*o));
        if (!o)
            break;
        llmgw__v1__throughput_response__init(o);
        rd->out = &o->base;
        return store_analytics_throughput(c, rd->since, rd->until, o, e);
    }
    }
    return store_fail(e, STORE_HARD, "analytics: out of memory");
}

static grpc_status_code ca_run(cp_t *cp, ca_read_t *rd, const char *since, const char *until,
                               ProtobufCMessage **resp, char *details, size_t dlen)
{
    if (cp_analytics_window(since, until, cp_usage_now_ms(), &rd->since, &rd->until, details,
                            dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, tx_read, rd, &e) < 0) {
        ca_free_out(rd);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = rd->out;
    return GRPC_STATUS_OK;
}

/* A filter name: "" or 1..64 characters of [A-Za-z0-9._-] (what names are). */
static int ca_check_name(const char *field, const char *s, char *details, size_t dlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 64 ||
        strspn(s ? s : "", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
            n) {
        snprintf(details, dlen,
                 "%s: expected a name of at most 64 characters from A-Z a-z 0-9 . _ -", field);
        return -1;
    }
    return 0;
}

static grpc_status_code rpc_performance(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ProviderPerformanceRequest *r = (void *)req;
    if (ca_check_name("provider", r->provider, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    ca_read_t rd = {.kind = CA_PERF, .arg = r->provider};
    return ca_run(cp, &rd, r->since, r->until, resp, details, dlen);
}

static grpc_status_code rpc_cost(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                 ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CostReportRequest *r = (void *)req;
    static const char *const bys[] = {"provider", "model", "route", "team", "key"};
    bool ok = false;
    for (size_t i = 0; i < 5 && !ok; i++)
        ok = strcmp(r->group_by, bys[i]) == 0;
    if (!ok) {
        snprintf(details, dlen,
                 "group_by: expected one of provider, model, route, team, key, got '%.64s'",
                 r->group_by);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    ca_read_t rd = {.kind = CA_COST, .arg = r->group_by};
    return ca_run(cp, &rd, r->since, r->until, resp, details, dlen);
}

static grpc_status_code rpc_routing(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                    ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__RoutingDecisionsRequest *r = (void *)req;
    if (ca_check_name("route", r->route, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    ca_read_t rd = {.kind = CA_ROUTING, .arg = r->route};
    return ca_run(cp, &rd, r->since, r->until, resp, details, dlen);
}

static grpc_status_code rpc_quality(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                    ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__QualityRequest *r = (void *)req;
    ca_read_t rd = {.kind = CA_QUALITY};
    return ca_run(cp, &rd, r->since, r->until, resp, details, dlen);
}

static grpc_status_code rpc_throughput(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ThroughputRequest *r = (void *)req;
    ca_read_t rd = {.kind = CA_THROUGHPUT};
    return ca_run(cp, &rd, r->since, r->until, resp, details, dlen);
}

#define REG(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.AnalyticsService/" name, &llmgw__v1__##req##__descriptor, fn,                   \
            CP_ACCESS_ANALYTICS_READ, NULL                                                         \
    }

static cp_rpc_method_t cp_analytics_methods[] = {
    REG("ProviderPerformance", provider_performance_request, rpc_performance),
    REG("CostReport", cost_report_request, rpc_cost),
    REG("RoutingDecisions", routing_decisions_request, rpc_routing),
    REG("Quality", quality_request, rpc_quality),
    REG("Throughput", throughput_request, rpc_throughput),
};

int cp_analytics_register(cp_t *cp)
{
    return cp_rpc_register(cp, cp_analytics_methods,
                           sizeof(cp_analytics_methods) / sizeof(cp_analytics_methods[0]));
}

/* --- maintenance -------------------------------------------------------------------- */

struct cp_analytics {
    cp_t *cp;
    cp_analytics_config_t cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
};

typedef struct {
    int64_t rollup_before, delete_before;
    store_analytics_maint_t res;
} ca_maint_t;

static int tx_maintain(PGconn *c, void *ctx, store_err_t *e)
{
    ca_maint_t *m = ctx;
    return store_analytics_maintain(c, m->rollup_before, m->delete_before, &m->res, e);
}

static void ca_maintain_once(cp_analytics_t *a)
{
    int64_t now = cp_usage_now_ms();
    int64_t minute = now - now % 60000;
    /* rollup_hours 0: every minute that has ended (the current one keeps
     * taking batches). */
    ca_maint_t m = {
        .rollup_before =
            a->cfg.rollup_hours > 0 ? now - (int64_t)a->cfg.rollup_hours * 3600000 : minute,
        .delete_before = now - (int64_t)a->cfg.retention_days * 86400000,
    };
    store_err_t e = {0};
    if (store_run_transaction(a->cp->pool, false, tx_maintain, &m, &e) < 0) {
        log_warn("metrics maintenance failed; retried next interval", "error=\"%s\"", e.msg);
        return;
    }
    if (m.res.ran && (m.res.rolled_up || m.res.deleted))
        log_info("metrics maintenance", "rolled_up_rows=%ld deleted_rows=%ld", m.res.rolled_up,
                 m.res.deleted);
}

static void *ca_main(void *arg)
{
    cp_analytics_t *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        ca_maintain_once(a);
        pthread_mutex_lock(&a->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += a->cfg.maint_ms / 1000;
        ts.tv_nsec += (long)(a->cfg.maint_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

cp_analytics_t *cp_analytics_start(cp_t *cp, const cp_analytics_config_t *cfg)
{
    cp_analytics_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->cp = cp;
    a->cfg = *cfg;
    if (a->cfg.maint_ms <= 0)
        a->cfg.maint_ms = CP_ANALYTICS_MAINT_MS;
    if (a->cfg.retention_days <= 0)
        a->cfg.retention_days = CP_ANALYTICS_RETENTION_DAYS;
    if (a->cfg.rollup_hours < 0)
        a->cfg.rollup_hours = CP_ANALYTICS_ROLLUP_HOURS;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, ca_main, a) != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    log_info("metrics maintenance started", "rollup_hours=%d retention_days=%d interval_ms=%d",
             a->cfg.rollup_hours, a->cfg.retention_days, a->cfg.maint_ms);
    return a;
}

void cp_analytics_stop(cp_analytics_t *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
