/* http_gw: the read-only JSON endpoints of the HTTP front door — models
 * (OpenAI's list shape), providers, routing, performance, analytics,
 * capabilities, extensions — and the readiness verdict.
 *
 * Each function reads one table snapshot (and the live figures when the
 * view has them), appends a JSON body to `out` and returns the HTTP status,
 * or -1 when out of memory. Nothing here blocks or keeps state.
 */
#ifndef LLMGW_HTTP_GW_H
#define LLMGW_HTTP_GW_H

#include <stdbool.h>

#include "budget_lease.h"
#include "buf.h"
#include "cache.h"
#include "metrics.h"
#include "table.h"
#include "upstream.h"
#include "usage_log.h"
#include "usage_stats.h"

typedef struct {
    const table_t *table;       /* a reference the caller holds */
    usage_stats_t *stats;       /* may be NULL */
    metrics_t *metrics;         /* may be NULL */
    upstream_t *const *engines; /* may be NULL: n_engines 0 */
    size_t n_engines;
    budget_lease_t *leases; /* may be NULL (standalone: no budgets enforced) */
    usage_log_t *usage_log; /* may be NULL (standalone: no usage records) */
    cache_t *cache;         /* may be NULL (no response cache) */
} http_gw_view_t;

int http_gw_models(const http_gw_view_t *v, buf_t *out);
/* id: a route name or "provider/model"; 404 with an OpenAI error body when unknown. */
int http_gw_model(const http_gw_view_t *v, const char *id, buf_t *out);
int http_gw_providers(const http_gw_view_t *v, buf_t *out);
int http_gw_routing(const http_gw_view_t *v, buf_t *out);
int http_gw_performance(const http_gw_view_t *v, buf_t *out);
/* window_s: 1..USAGE_STATS_WINDOW_MAX_S. */
int http_gw_analytics(const http_gw_view_t *v, int window_s, buf_t *out);
int http_gw_capabilities(const http_gw_view_t *v, buf_t *out);
int http_gw_extensions(const http_gw_view_t *v, buf_t *out);
/* 200 when a table is loaded and at least one provider is not known to be
 * down, else 503; the body says why. */
int http_gw_ready(const http_gw_view_t *v, buf_t *out);

#endif
