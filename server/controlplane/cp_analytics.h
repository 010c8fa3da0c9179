/* cp_analytics: AnalyticsService (proto/llmgw/v1/analytics.proto,
 * docs/analytics.md) — ProviderPerformance, CostReport, RoutingDecisions,
 * Quality, Throughput — and the metrics maintenance thread that rolls
 * minutes up into hours and deletes what is past retention.
 *
 * Thread model: the RPCs are like every control-plane RPC (cp_rpc.h): one
 * read transaction on a worker, access class analytics.read. The
 * maintenance thread is the module's own: it wakes every interval, runs one
 * transaction (store_analytics_maintain; replicas serialize on an advisory
 * lock, so one does the work) and sleeps on a condition variable that
 * cp_analytics_stop signals.
 */
#ifndef LLMGW_CP_ANALYTICS_H
#define LLMGW_CP_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "cp.h"

#define CP_ANALYTICS_ROLLUP_HOURS 48
#define CP_ANALYTICS_RETENTION_DAYS 90
#define CP_ANALYTICS_MAINT_MS 60000
#define CP_ANALYTICS_MAX_WINDOW_MS (400LL * 86400000)

typedef struct cp_analytics cp_analytics_t;

typedef struct {
    int rollup_hours;   /* minutes older than this become hour rows (0: every past minute) */
    int retention_days; /* rows older than this are deleted (>= 1) */
    int maint_ms;       /* how often maintenance runs */
} cp_analytics_config_t;

/* Registers AnalyticsService; 0 or -1. cp must outlive the server. */
int cp_analytics_register(cp_t *cp);
/* Starts the maintenance thread; NULL when it cannot be had. */
cp_analytics_t *cp_analytics_start(cp_t *cp, const cp_analytics_config_t *cfg);
/* Stops and frees; safe with NULL. */
void cp_analytics_stop(cp_analytics_t *a);

/* The window of a request: since/until as RFC 3339 (or what timefmt_parse
 * takes); until "" is now_ms, since "" an hour before until. 0, or -1 with
 * details naming the field (an inverted or empty window names "until"). */
int cp_analytics_window(const char *since, const char *until, int64_t now_ms, int64_t *since_ms,
                        int64_t *until_ms, char *details, size_t dlen);

#endif
