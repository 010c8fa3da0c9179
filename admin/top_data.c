/* top_data: the control-plane calls behind one refresh of `llmgw top` (see
 * top_data.h). The same reads as the web console's load(): the registry,
 * the nodes, the budgets, this month's usage by provider and by model, the
 * last hour in 5-minute buckets — through AnalyticsService's CostReport
 * rather than UsageService, so every role that may read analytics sees the
 * panels — plus AnalyticsService over the window for performance, routing
 * decisions, quality and throughput.
 */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include "top_data.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "llmgw/v1/analytics.pb-c.h"
#include "llmgw/v1/control.pb-c.h"
#include "llmgw/v1/usage.pb-c.h"
#include "timefmt.h"

static int64_t top_data_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t top_data_month_start(int64_t unix_ms)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

/* The statuses that say the control plane itself is not answering us (as
 * opposed to refusing one call): cmd_rpc.c hands the status out as the
 * name heading its message. */
static int top_data_fatal(const char *err)
{
    static const char *const fatal[] = {"UNAVAILABLE:", "DEADLINE_EXCEEDED:", "UNAUTHENTICATED:",
                                        "INTERNAL:",    "CANCELLED:",         "UNKNOWN:"};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (strncmp(err, fatal[i], strlen(fatal[i])) == 0)
            return 1;
    return 0;
}

void top_data_clear(top_data_t *d)
{
    for (int i = 0; i < TOP_CALLS; i++)
        if (d->answer[i].msg)
            protobuf_c_message_free_unpacked(d->answer[i].msg, NULL);
    memset(d, 0, sizeof(*d));
}

const void *top_data_get(const top_data_t *d, top_call_t c)
{
    return d->answer[c].msg;
}

const char *top_data_err(const top_data_t *d, top_call_t c)
{
    return d->answer[c].err;
}

/* One call into d->answer[c]; -1 when it failed fatally (err set). */
static int top_data_call(cmd_conn_t *conn, top_data_t *d, top_call_t c, const char *method,
                         const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                         char *err, size_t errlen)
{
    top_answer_t *a = &d->answer[c];
    if (cmd_conn_unary(conn, method, req, desc, &a->msg) == 0)
        return 0;
    a->msg = NULL;
    cmd_conn_error(conn, a->err, sizeof(a->err));
    if (!top_data_fatal(a->err))
        return 0;
    snprintf(err, errlen, "%s", a->err);
    return -1;
}

int top_data_fetch(const top_source_t *src, top_data_t *d, char *err, size_t errlen)
{
    top_data_clear(d);
    int64_t now = top_data_now_ms();
    d->at_ms = d->until_ms = now;
    d->since_ms = src->span_ms > 0 ? now - src->span_ms : src->since_ms;
    d->month_ms = top_data_month_start(now);
    char since[40], until[40], month[40];
    timefmt_rfc3339(d->since_ms, since, sizeof(since));
    timefmt_rfc3339(now, until, sizeof(until));
    timefmt_rfc3339(d->month_ms, month, sizeof(month));
    cmd_conn_t *c = cmd_conn_open(src->target, src->token, src->timeout_ms);
    if (!c) {
        snprintf(err, errlen, "UNAVAILABLE: cannot open a channel to %s", src->target);
        return -1;
    }
    Llmgw__V1__ListProvidersRequest lp = LLMGW__V1__LIST_PROVIDERS_REQUEST__INIT;
    Llmgw__V1__ListRegistryModelsRequest lm = LLMGW__V1__LIST_REGISTRY_MODELS_REQUEST__INIT;
    Llmgw__V1__ListRoutesRequest lr = LLMGW__V1__LIST_ROUTES_REQUEST__INIT;
    Llmgw__V1__ListNodesRequest ln = LLMGW__V1__LIST_NODES_REQUEST__INIT;
    Llmgw__V1__ListBudgetsRequest lb = LLMGW__V1__LIST_BUDGETS_REQUEST__INIT;
    Llmgw__V1__CostReportRequest mp = LLMGW__V1__COST_REPORT_REQUEST__INIT;
    Llmgw__V1__CostReportRequest mm = LLMGW__V1__COST_REPORT_REQUEST__INIT;
    Llmgw__V1__CostReportRequest wc = LLMGW__V1__COST_REPORT_REQUEST__INIT;
    Llmgw__V1__ProviderPerformanceRequest pr = LLMGW__V1__PROVIDER_PERFORMANCE_REQUEST__INIT;
    Llmgw__V1__RoutingDecisionsRequest rd = LLMGW__V1__ROUTING_DECISIONS_REQUEST__INIT;
    Llmgw__V1__QualityRequest qr = LLMGW__V1__QUALITY_REQUEST__INIT;
    Llmgw__V1__ThroughputRequest tr = LLMGW__V1__THROUGHPUT_REQUEST__INIT;
    mp.since = mm.since = month;
    mp.until = mm.until = until;
    mp.group_by = wc.group_by = "provider";
    mm.group_by = "model";
    wc.since = pr.since = rd.since = qr.since = tr.since = since;
    wc.until = pr.until = rd.until = qr.until = tr.until = until;
    const struct {
        top_call_t c;
        const char *method;
        const ProtobufCMessage *req;
        const ProtobufCMessageDescriptor *desc;
    } calls[] = {
        {TOP_PROVIDERS, "/llmgw.v1.RegistryService/ListProviders", &lp.base,
         &llmgw__v1__list_providers_response__descriptor},
        {TOP_MODELS, "/llmgw.v1.RegistryService/ListModels", &lm.base,
         &llmgw__v1__list_registry_models_response__descriptor},
        {TOP_ROUTES, "/llmgw.v1.RegistryService/ListRoutes", &lr.base,
         &llmgw__v1__list_routes_response__descriptor},
        {TOP_NODES, "/llmgw.v1.DistributionService/ListNodes", &ln.base,
         &llmgw__v1__list_nodes_response__descriptor},
        {TOP_BUDGETS, "/llmgw.v1.BudgetService/ListBudgets", &lb.base,
         &llmgw__v1__list_budgets_response__descriptor},
        {TOP_MTD_PROVIDER, "/llmgw.v1.AnalyticsService/CostReport", &mp.base,
         &llmgw__v1__cost_report_response__descriptor},
        {TOP_MTD_MODEL, "/llmgw.v1.AnalyticsService/CostReport", &mm.base,
         &llmgw__v1__cost_report_response__descriptor},
        {TOP_COST, "/llmgw.v1.AnalyticsService/CostReport", &wc.base,
         &llmgw__v1__cost_report_response__descriptor},
        {TOP_PERF, "/llmgw.v1.AnalyticsService/ProviderPerformance", &pr.base,
         &llmgw__v1__provider_performance_response__descriptor},
        {TOP_DECISIONS, "/llmgw.v1.AnalyticsService/RoutingDecisions", &rd.base,
         &llmgw__v1__routing_decisions_response__descriptor},
        {TOP_QUALITY, "/llmgw.v1.AnalyticsService/Quality", &qr.base,
         &llmgw__v1__quality_response__descriptor},
        {TOP_THROUGHPUT, "/llmgw.v1.AnalyticsService/Throughput", &tr.base,
         &llmgw__v1__throughput_response__descriptor},
    };
    int rc = -1;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
        if (top_data_call(c, d, calls[i].c, calls[i].method, calls[i].req, calls[i].desc, err,
                          errlen) < 0)
            goto out;
    /* The last hour in buckets, oldest first, as the console's series. */
    int64_t hour_start = now - (int64_t)TOP_BUCKETS * TOP_BUCKET_MS;
    for (int k = 0; k < TOP_BUCKETS; k++) {
        char bs[40], be[40];
        timefmt_rfc3339(hour_start + (int64_t)k * TOP_BUCKET_MS, bs, sizeof(bs));
        timefmt_rfc3339(hour_start + (int64_t)(k + 1) * TOP_BUCKET_MS, be, sizeof(be));
        Llmgw__V1__CostReportRequest b = LLMGW__V1__COST_REPORT_REQUEST__INIT;
        b.since = bs;
        b.until = be;
        b.group_by = "provider";
        if (top_data_call(c, d, (top_call_t)(TOP_BUCKET0 + k),
                          "/llmgw.v1.AnalyticsService/CostReport", &b.base,
                          &llmgw__v1__cost_report_response__descriptor, err, errlen) < 0)
            goto out;
    }
    rc = 0;
out:
    cmd_conn_close(c);
    if (rc < 0) {
        int64_t at = d->at_ms;
        top_data_clear(d);
        d->at_ms = at;
    }
    return rc;
}
