/* cp_usage: usage ingestion, leases and usage reports. See cp_usage.h. */
#include "cp_usage.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget_leases.h"
#include "cp_budgets.h"
#include "cp_rpc.h"
#include "cp_validate.h"
#include "llmgw/v1/usage.pb-c.h"
#include "log.h"
#include "store_tx.h"
#include "usage.h"

static pthread_once_t cp_usage_clock_once = PTHREAD_ONCE_INIT;
static int64_t cp_usage_offset_ms;

static void cp_usage_clock_init(void)
{
    const char *s = getenv("LLMGW_CLOCK_OFFSET_MS");
    char *end = NULL;
    if (s && *s) {
        long long v = strtoll(s, &end, 10);
        if (*end == '\0' && v > -100LL * 365 * 86400000 && v < 100LL * 365 * 86400000) {
            cp_usage_offset_ms = v;
            log_warn("budget clock offset in effect", "offset_ms=%lld", v);
        } else {
            log_error("LLMGW_CLOCK_OFFSET_MS: expected an integer (ms); ignored", "value=\"%s\"",
                      s);
        }
    }
}

int64_t cp_usage_now_ms(void)
{
    pthread_once(&cp_usage_clock_once, cp_usage_clock_init);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + cp_usage_offset_ms;
}

static grpc_status_code cp_usage_oom(char *details, size_t dlen)
{
    snprintf(details, dlen, "control plane: out of memory");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* --- ReportUsage ------------------------------------------------------------ */

typedef struct {
    const Llmgw__V1__ReportUsageRequest *req;
    usage_ingest_result_t res;
} cp_ingest_t;

static int tx_ingest(PGconn *c, void *ctx, store_err_t *e)
{
    cp_ingest_t *in = ctx;
    if (usage_ingest(c, in->req, &in->res, e) < 0)
        return -1;
    /* A refusal stores nothing: roll back the seq row it may have made. */
    if (in->res.outcome == USAGE_GAP || in->res.outcome == USAGE_UNKNOWN_NODE)
        return store_fail(e, STORE_OK, "%s", in->res.msg);
    return 0;
}

typedef struct {
    const Llmgw__V1__ReportUsageRequest *req;
} cp_parts_t;

static int tx_partitions(PGconn *c, void *ctx, store_err_t *e)
{
    cp_parts_t *p = ctx;
    return usage_ensure_partitions(c, p->req, e);
}

static grpc_status_code rpc_report_usage(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ReportUsageRequest *r = (void *)req;
    if (usage_check_batch(r, cp_usage_now_ms(), details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    store_err_t e = {0};
    cp_parts_t parts = {r};
    if (!usage_partitions_cached(r) &&
        store_run_transaction(cp->pool, false, tx_partitions, &parts, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    cp_ingest_t in = {.req = r};
    if (store_run_transaction(cp->pool, false, tx_ingest, &in, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        if (in.res.outcome == USAGE_GAP || in.res.outcome == USAGE_UNKNOWN_NODE) {
            log_warn("usage batch refused",
                     "node=%s epoch=%" PRId64 " seq=%" PRId64 " cause=\"%s\"", r->node_id, r->epoch,
                     r->seq, in.res.msg);
            return GRPC_STATUS_FAILED_PRECONDITION;
        }
        return cp_status_from_store(e.code);
    }
    Llmgw__V1__ReportUsageResponse *out = malloc(sizeof(*out));
    if (!out)
        return cp_usage_oom(details, dlen);
    llmgw__v1__report_usage_response__init(out);
    out->acked_seq = in.res.acked_seq;
    out->duplicate = in.res.outcome == USAGE_DUPLICATE;
    if (out->duplicate)
        log_info("usage batch re-sent; acknowledged again",
                 "node=%s epoch=%" PRId64 " seq=%" PRId64, r->node_id, r->epoch, r->seq);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* --- leases --------------------------------------------------------------------- */

typedef struct {
    const audit_actor_t *who;
    budget_leases_ask_t ask;
    budget_leases_grant_t grant;
    bool unknown_node;
} cp_lease_t;

static int cp_node_known(PGconn *c, const char *node_id, bool *known, store_err_t *e)
{
    const char *p[] = {node_id};
    PGresult *r = store_exec(c, "usage_node_known", 1, p, e);
    if (!r)
        return -1;
    *known = PQntuples(r) == 1;
    PQclear(r);
    return 0;
}

static int tx_acquire(PGconn *c, void *ctx, store_err_t *e)
{
    cp_lease_t *l = ctx;
    bool known = false;
    if (cp_node_known(c, l->ask.node_id, &known, e) < 0)
        return -1;
    if (!known) {
        l->unknown_node = true;
        return store_fail(e, STORE_OK,
                          "node_id: '%s' is not a known node (it never subscribed to "
                          "WatchRoutingTable)",
                          l->ask.node_id);
    }
    return budget_leases_acquire(c, l->who, &l->ask, &l->grant, e);
}

static int cp_check_spent(const char *field, double v, char *details, size_t dlen)
{
    if (!isfinite(v) || v < 0 || v > 1e9) {
        snprintf(details, dlen, "%s: expected a finite number >= 0", field);
        return -1;
    }
    return 0;
}

static grpc_status_code rpc_acquire_lease(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                          ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__AcquireLeaseRequest *r = (void *)req;
    if (cp_validate_name("node_id", r->node_id, 64, "", details, dlen) < 0 ||
        cp_validate_name("budget", r->budget, 64, "", details, dlen) < 0 ||
        cp_check_spent("previous_spent_usd", r->previous_spent_usd, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (r->previous_lease_id < 0) {
        snprintf(details, dlen, "previous_lease_id: expected an integer >= 0");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    cp_lease_t l = {.who = who,
                    .ask = {.node_id = r->node_id,
                            .budget = r->budget,
                            .previous_lease_id = r->previous_lease_id,
                            .previous_spent_usd = r->previous_spent_usd,
                            .now_unix_ms = cp_usage_now_ms()}};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, tx_acquire, &l, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return l.unknown_node ? GRPC_STATUS_FAILED_PRECONDITION : cp_status_from_store(e.code);
    }
    const budget_leases_grant_t *g = &l.grant;
    if (g->soft_crossed_now)
        log_warn("soft budget crossed", "budget=%s spent_usd=%.6f limit_usd=%.4f node=%s",
                 r->budget, g->spent_usd, g->limit_usd, r->node_id);
    if (g->hard && g->lease_id == 0)
        log_info("budget exhausted; no lease granted", "budget=%s node=%s spent_usd=%.6f",
                 r->budget, r->node_id, g->spent_usd);
    Llmgw__V1__Lease *out = malloc(sizeof(*out));
    if (!out || !(out->budget = strdup(r->budget))) {
        free(out);
        return cp_usage_oom(details, dlen);
    }
    char *name = out->budget;
    llmgw__v1__lease__init(out);
    out->budget = name;
    out->lease_id = g->lease_id;
    out->granted_usd = g->granted_usd;
    out->ttl_ms = g->ttl_ms;
    out->period_start_unix_ms = g->period_start_unix_ms;
    out->period_end_unix_ms = g->period_end_unix_ms;
    out->limit_usd = g->limit_usd;
    out->spent_usd = g->spent_usd;
    out->hard = g->hard;
    out->soft_exceeded = g->soft_exceeded;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

typedef struct {
    const Llmgw__V1__ReturnLeaseRequest *req;
    bool closed;
} cp_return_t;

static int tx_return(PGconn *c, void *ctx, store_err_t *e)
{
    cp_return_t *t = ctx;
    return budget_leases_return(c, t->req->node_id, t->req->lease_id, t->req->spent_usd,
                                cp_usage_now_ms(), &t->closed, e);
}

static grpc_status_code rpc_return_lease(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ReturnLeaseRequest *r = (void *)req;
    if (cp_validate_name("node_id", r->node_id, 64, "", details, dlen) < 0 ||
        cp_check_spent("spent_usd", r->spent_usd, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (r->lease_id <= 0) {
        snprintf(details, dlen, "lease_id: expected an integer > 0");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    cp_return_t t = {.req = r};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, tx_return, &t, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    Llmgw__V1__ReturnLeaseResponse *out = malloc(sizeof(*out));
    if (!out)
        return cp_usage_oom(details, dlen);
    llmgw__v1__return_lease_response__init(out);
    out->closed = t.closed;
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

/* --- GetUsageReport --------------------------------------------------------------- */

typedef struct {
    const char *by;
    int64_t since, until;
    Llmgw__V1__UsageReportResponse *out;
} cp_report_t;

static int tx_report(PGconn *c, void *ctx, store_err_t *e)
{
    cp_report_t *rp = ctx;
    if (rp->out)
        protobuf_c_message_free_unpacked(&rp->out->base, NULL);
    if (!(rp->out = malloc(sizeof(*rp->out))))
        return store_fail(e, STORE_HARD, "usage report: out of memory");
    llmgw__v1__usage_report_response__init(rp->out);
    return usage_report(c, rp->by, rp->since, rp->until, rp->out, e);
}

static grpc_status_code rpc_usage_report(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__UsageReportRequest *r = (void *)req;
    static const char *const bys[] = {"team", "key", "provider", "model"};
    bool by_ok = false;
    for (size_t i = 0; i < 4 && !by_ok; i++)
        by_ok = strcmp(r->by, bys[i]) == 0;
    if (!by_ok) {
        snprintf(details, dlen, "by: expected one of team, key, provider, model");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    int64_t until = r->until_unix_ms ? r->until_unix_ms : cp_usage_now_ms() + 1;
    if (r->since_unix_ms < 0 || until <= r->since_unix_ms) {
        snprintf(details, dlen, "since_unix_ms: must be >= 0 and before until_unix_ms");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    cp_report_t rp = {.by = r->by, .since = r->since_unix_ms, .until = until};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, tx_report, &rp, &e) < 0) {
        if (rp.out)
            protobuf_c_message_free_unpacked(&rp.out->base, NULL);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = &rp.out->base;
    return GRPC_STATUS_OK;
}

#define REG(name, req, fn, cls)                                                                    \
    {                                                                                              \
        "/llmgw.v1.UsageService/" name, &llmgw__v1__##req##__descriptor, fn, cls, NULL             \
    }

static cp_rpc_method_t cp_usage_methods[] = {
    REG("ReportUsage", report_usage_request, rpc_report_usage, CP_ACCESS_NODES),
    REG("AcquireLease", acquire_lease_request, rpc_acquire_lease, CP_ACCESS_NODES),
    REG("ReturnLease", return_lease_request, rpc_return_lease, CP_ACCESS_NODES),
    REG("GetUsageReport", usage_report_request, rpc_usage_report, CP_ACCESS_USAGE_READ),
};

int cp_usage_register(cp_t *cp)
{
    if (cp_rpc_register(cp, cp_usage_methods,
                        sizeof(cp_usage_methods) / sizeof(cp_usage_methods[0])) < 0)
        return -1;
    return cp_budgets_register(cp);
}
