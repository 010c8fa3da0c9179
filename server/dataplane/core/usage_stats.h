/* usage_stats: request, token and cost counters of the data plane, by route,
 * provider, model and status, for /metrics and /v1/analytics.
 *
 * Every finished request (whatever front door) is one usage_stats_request_end
 * call; every upstream attempt one usage_stats_attempt call. Series are keyed
 * by their label values (copied; a table reload does not invalidate them).
 * Each request series keeps lifetime counters, a latency histogram and a ring
 * of per-minute counters covering the last USAGE_STATS_WINDOW_MAX_S seconds.
 *
 * Thread-safe: one mutex guards everything; the read functions call their
 * visitor with that mutex held, so a visitor must not call back in.
 * Past USAGE_STATS_MAX_SERIES distinct label sets, new ones are counted
 * under the label value "_other" so memory stays bounded.
 */
#ifndef LLMGW_USAGE_STATS_H
#define LLMGW_USAGE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "redact.h"

#define USAGE_STATS_MAX_SERIES 2048
#define USAGE_STATS_WINDOW_MAX_S 3600
#define USAGE_STATS_N_BUCKETS 14 /* latency histogram upper bounds, +Inf last */

typedef struct usage_stats usage_stats_t;

typedef struct {
    const char *route;    /* the requested route, or "" for provider/model */
    const char *provider; /* the last candidate tried, or "" when none */
    const char *model;    /* its model, or the requested model when none */
    const char *status;   /* "ok" or a gRPC status name ("unavailable") */
    int64_t latency_us;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double cost_usd;
    unsigned attempts;          /* upstream attempts made (fallbacks = attempts - 1) */
    redact_counts_t redactions; /* PII replaced in the prompt (its policy's "redact") */
} usage_event_t;

typedef struct {
    const char *route, *provider, *model, *status;
    uint64_t requests;
    uint64_t attempts;
    uint64_t fallbacks;
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
    double cost_usd;
    double latency_sum_s;
    uint64_t latency_buckets[USAGE_STATS_N_BUCKETS]; /* cumulative counts */
} usage_series_t;

typedef struct {
    const char *provider, *model, *outcome; /* outcome: "ok" or uerror type */
    uint64_t count;
} usage_attempt_series_t;

/* "ok", "unavailable", …: the lower-case name of a gRPC status code. */
const char *usage_stats_status_name(int grpc_status);

/* The histogram's upper bounds in seconds (the last is +Inf). */
extern const double usage_stats_bucket_s[USAGE_STATS_N_BUCKETS];

/* NULL on allocation failure. */
usage_stats_t *usage_stats_new(void);
void usage_stats_free(usage_stats_t *s);

/* A request entered the pipeline (the in-flight gauge). */
void usage_stats_request_begin(usage_stats_t *s);
/* A request ended; `begun` says whether usage_stats_request_begin counted it. */
void usage_stats_request_end(usage_stats_t *s, const usage_event_t *e, int begun);
void usage_stats_attempt(usage_stats_t *s, const char *provider, const char *model,
                         const char *outcome);

int64_t usage_stats_in_flight(usage_stats_t *s);
/* Lifetime counters, one call per series. */
void usage_stats_foreach(usage_stats_t *s, void (*fn)(void *ud, const usage_series_t *se),
                         void *ud);
void usage_stats_foreach_attempt(usage_stats_t *s,
                                 void (*fn)(void *ud, const usage_attempt_series_t *se), void *ud);
/* Counters over the last window_s seconds (1..USAGE_STATS_WINDOW_MAX_S, at
 * minute granularity: the current minute counts in full), one call per
 * series with any request in the window; latency and attempts fields are 0. */
void usage_stats_foreach_window(usage_stats_t *s, int window_s,
                                void (*fn)(void *ud, const usage_series_t *se), void *ud);

#endif
