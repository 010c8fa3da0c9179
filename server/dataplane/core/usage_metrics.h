/* usage_metrics: the node's per-minute metric snapshots — per UTC minute and
 * deployment (provider, model, route): attempts by result class, latency and
 * time-to-first-token histograms (lathist.h), output tokens and generation
 * time, finished requests, fallbacks, tokens, cost, breaker openings,
 * ensemble consistency, ensemble calls with their cost and estimated savings,
 * and routing decisions by strategy and reason.
 *
 * The usage log (usage_log.c) takes the snapshots with each batch it cuts
 * (usage_metrics_take encodes them as ReportUsageRequest.metrics), so they
 * travel, spill and are acknowledged exactly like the records: the control
 * plane merges a batch once (node, epoch, seq) and a re-sent batch adds
 * nothing.
 *
 * Bounds: at most USAGE_METRICS_MAX_ENTRIES (minute, deployment) entries are
 * held between two batches (about 18 KiB each with both histograms); past
 * it new observations are dropped and counted (usage_metrics_dropped).
 *
 * Thread model: every function is safe from any thread (one mutex, held for
 * a few dozen instructions on the hot path; usage_metrics_take encodes under
 * it). Every function accepts a NULL accumulator as a no-op.
 */
#ifndef LLMGW_USAGE_METRICS_H
#define LLMGW_USAGE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define USAGE_METRICS_MAX_ENTRIES 512
#define USAGE_METRICS_MAX_DECISIONS 8 /* (strategy, reason) pairs per entry */

typedef struct usage_metrics usage_metrics_t;

/* Result classes, in the order of metrics.h's metrics_class_t. */
typedef enum {
    USAGE_METRICS_OK = 0,
    USAGE_METRICS_CONNECT,
    USAGE_METRICS_TIMEOUT,
    USAGE_METRICS_RATE_LIMIT,
    USAGE_METRICS_SERVER,
    USAGE_METRICS_BAD_RESPONSE,
    USAGE_METRICS_OTHER,
} usage_metrics_class_t;

typedef struct {
    const char *provider, *model, *route; /* NULL as "" */
    usage_metrics_class_t cls;
    int64_t latency_us;
    int64_t ttft_us; /* < 0 unknown */
    int64_t output_tokens;
    bool breaker_opened; /* this result opened the deployment's breaker */
    int64_t unix_ms;     /* 0: now */
} usage_metrics_attempt_t;

typedef struct {
    const char *provider, *model, *route; /* the last attempt's; "" provider when none */
    bool ok;
    bool fallback; /* served after at least one failed attempt */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    const char *strategy; /* NULL: no decision made (refused before routing) */
    const char *reason;   /* "first_choice", "fallback", "excluded", "failed" */
    int64_t unix_ms;      /* 0: now */
} usage_metrics_request_t;

/* NULL when out of memory. */
usage_metrics_t *usage_metrics_new(void);
void usage_metrics_free(usage_metrics_t *m);

void usage_metrics_attempt(usage_metrics_t *m, const usage_metrics_attempt_t *a);
void usage_metrics_request(usage_metrics_t *m, const usage_metrics_request_t *r);
void usage_metrics_consistency(usage_metrics_t *m, const char *provider, const char *model,
                               bool agreed);
/* One finished ensemble call whose chosen answer (provider, model) served:
 * what it paid (members and judge) and the estimated savings of not running
 * every member to completion (ensm_savings_usd). Negative or non-finite
 * amounts count as 0. */
void usage_metrics_ensemble(usage_metrics_t *m, const char *provider, const char *model,
                            double cost_usd, double savings_usd);

/* Appends every entry to out as ReportUsageRequest field 5 (MetricSnapshot)
 * and empties the accumulator. Returns how many were appended, or -1 when
 * out cannot grow (the entries are kept for the next batch). */
int usage_metrics_take(usage_metrics_t *m, buf_t *out);
/* Entries held now, and observations dropped past the bound (lifetime). */
size_t usage_metrics_entries(usage_metrics_t *m);
uint64_t usage_metrics_dropped(usage_metrics_t *m);

#endif
