/* store_analytics: the fleet's merged metrics (tables metrics_minute,
 * metrics_hour, routing_decisions_minute / _hour; migrations/0009) and the
 * AnalyticsService reads over them and over usage_events.
 *
 * Invariants: a batch's snapshots are merged inside the transaction that
 * stores its usage records (usage_ingest), so a batch counts once; merging
 * adds counters and histogram buckets (lathist_merge in SQL), never averages
 * percentiles. Percentiles are computed here from the merged histogram of
 * the whole window. Every statement is a prepared one with $n parameters.
 */
#ifndef LLMGW_STORE_ANALYTICS_H
#define LLMGW_STORE_ANALYTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "llmgw/v1/analytics.pb-c.h"
#include "llmgw/v1/usage.pb-c.h"
#include "store.h"

#define STORE_ANALYTICS_MAX_SNAPSHOTS 4096

/* Field checks of a batch's metric snapshots before any SQL (as
 * usage_check_batch does for records): 0, or -1 with err naming the field
 * ("metrics[2].latency.bucket[0]: …"). */
int store_analytics_check(const Llmgw__V1__ReportUsageRequest *r, int64_t now_unix_ms, char *err,
                          size_t errlen);
/* Inside the caller's (ingest) transaction: merges every snapshot of r. */
int store_analytics_merge(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, store_err_t *e);

typedef struct {
    bool ran;       /* false: another replica holds the maintenance lock */
    long rolled_up; /* hour rows written from minutes */
    long deleted;   /* rows past retention */
} store_analytics_maint_t;

/* Inside a transaction: moves minute rows older than rollup_before_unix_ms
 * into hour rows, deletes rows (either grain) older than
 * delete_before_unix_ms. Serialized across replicas by a transaction
 * advisory lock; a replica that does not get it does nothing. */
int store_analytics_maintain(PGconn *c, int64_t rollup_before_unix_ms,
                             int64_t delete_before_unix_ms, store_analytics_maint_t *out,
                             store_err_t *e);

/* Reads over [since, until) (Unix ms). Each fills a response initialized by
 * the caller; repeated fields malloc'd (freed with the message). */
int store_analytics_performance(PGconn *c, int64_t since, int64_t until, const char *provider,
                                Llmgw__V1__ProviderPerformanceResponse *out, store_err_t *e);
/* group_by: provider, model, route, team or key (else STORE_INVALID). */
int store_analytics_cost(PGconn *c, int64_t since, int64_t until, const char *group_by,
                         Llmgw__V1__CostReportResponse *out, store_err_t *e);
int store_analytics_routing(PGconn *c, int64_t since, int64_t until, const char *route,
                            Llmgw__V1__RoutingDecisionsResponse *out, store_err_t *e);
int store_analytics_quality(PGconn *c, int64_t since, int64_t until,
                            Llmgw__V1__QualityResponse *out, store_err_t *e);
int store_analytics_throughput(PGconn *c, int64_t since, int64_t until,
                               Llmgw__V1__ThroughputResponse *out, store_err_t *e);

#endif
