/* metrics: live figures per deployment (provider + model) that the routing
 * strategies, the circuit breakers and the read APIs (RoutingService,
 * /v1/performance, Prometheus) share.
 *
 * Per deployment: latency and time-to-first-token histograms (log-bucketed,
 * 4 buckets per doubling from 1 µs, fixed memory) kept per time slot in a
 * ring covering the window (default 5 minutes of 10 s slots), so p50/p90/p99
 * are over the window; an EWMA of latency; output tokens per second; results
 * by class; in-flight count; last error and when; the circuit breaker; a
 * Retry-After block. Per provider: the active health state (health.c).
 *
 * Invariants:
 * - The registry is keyed by names, never by table pointers: entries survive
 *   table reloads and are only freed by metrics_free. A metrics_dep_t pointer
 *   stays valid until then.
 * - The hot path (attempt start/end) takes one per-deployment mutex for a few
 *   dozen instructions; lookups take a read lock on the registry.
 * - Time comes from the config's now_ms (default clock_now_ms), so tests
 *   inject it; wall-clock "unix ms" values in snapshots are for display.
 *
 * Thread model: every function is safe from any thread.
 *
 * Wiring: main.c creates one registry (metrics_new(NULL)) and hands it to
 * pipeline_set_routing (writes), health_start (probe verdicts), and the read
 * side — rpc_chat_set_routing, rpc_routing_new; other front doors read it
 * through metrics_snapshot_all / metrics_provider_snapshot below.
 */
#ifndef LLMGW_METRICS_H
#define LLMGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

typedef struct metrics metrics_t;
typedef struct metrics_dep metrics_dep_t;

/* Result classes. METRICS_OK and the five error classes of the issue; OTHER
 * is a client-side error (invalid request, auth, not found) that says
 * nothing about the deployment's health. */
typedef enum {
    METRICS_OK = 0,
    METRICS_ERR_CONNECT,
    METRICS_ERR_TIMEOUT,
    METRICS_ERR_RATE_LIMIT,
    METRICS_ERR_SERVER,
    METRICS_ERR_BAD_RESPONSE,
    METRICS_ERR_OTHER,
    METRICS_N_CLASSES
} metrics_class_t;

typedef enum {
    METRICS_HEALTH_UNKNOWN = 0, /* no probe answered yet and no traffic */
    METRICS_HEALTH_HEALTHY,
    METRICS_HEALTH_DEGRADED, /* reachable, but a breaker is open or errors are high */
    METRICS_HEALTH_DOWN,     /* the active probe fails */
} metrics_health_t;

typedef struct {
    int window_ms;           /* default 300000 */
    int slot_ms;             /* default 10000; window_ms / slot_ms slots (1..360) */
    int64_t (*now_ms)(void); /* monotonic; default clock_now_ms */
} metrics_config_t;

/* cfg may be NULL (defaults). NULL on bad config or no memory. */
metrics_t *metrics_new(const metrics_config_t *cfg);
void metrics_free(metrics_t *m);
int64_t metrics_now_ms(const metrics_t *m);

/* The entry of provider/model, created on first use. NULL when out of memory
 * or when the registry holds METRICS_MAX_DEPLOYMENTS entries already. */
#define METRICS_MAX_DEPLOYMENTS 4096
metrics_dep_t *metrics_dep(metrics_t *m, const char *provider, const char *model);
/* Lookup only; NULL when the deployment never had an entry. */
metrics_dep_t *metrics_find(metrics_t *m, const char *provider, const char *model);

/* "connect", "timeout", "rate_limit", "server", "bad_response" (uerror.h
 * types) map to their class; anything else to METRICS_ERR_OTHER. */
metrics_class_t metrics_class_from_type(const char *uerror_type);
const char *metrics_class_name(metrics_class_t c);

/* --- hot path ------------------------------------------------------------ */

/* How long the deployment still waits out a provider's Retry-After: the
 * milliseconds left, 0 when none is pending. */
int64_t metrics_retry_after_left_ms(metrics_dep_t *d);

/* Admits an attempt: false (with `why` filled) when the breaker is open, its
 * half-open probes are taken, or a Retry-After has not passed; then nothing
 * is counted. On true the in-flight count went up and exactly one
 * metrics_attempt_end or metrics_attempt_abandon must follow. */
bool metrics_attempt_start(metrics_dep_t *d, const breaker_config_t *bc, char *why, size_t whylen);

typedef struct {
    metrics_class_t cls;
    int64_t latency_us;     /* whole attempt */
    int64_t ttft_us;        /* first body byte / first chunk; < 0 unknown */
    int64_t output_tokens;  /* completion tokens; 0 unknown */
    int64_t retry_after_ms; /* from Retry-After; < 0 none */
    const char *error;      /* what went wrong (NULL on success) */
} metrics_outcome_t;

/* True when this result opened the deployment's circuit breaker. */
bool metrics_attempt_end(metrics_dep_t *d, const breaker_config_t *bc, const metrics_outcome_t *o);
/* The attempt ended without a result that says anything (client cancel). */
void metrics_attempt_abandon(metrics_dep_t *d, const breaker_config_t *bc);

/* --- routing read: cheap, no percentiles -------------------------------- */

typedef struct {
    double latency_ms;   /* EWMA of attempt latency; < 0 when never measured */
    double success_rate; /* over the window; 1 when no result */
    uint64_t results;    /* results in the window */
    int in_flight;
    bool available; /* breaker_available and no pending Retry-After */
    char why[160];  /* when !available: why ("breaker open: ...", "retry-after ...") */
} metrics_live_t;

void metrics_live(metrics_dep_t *d, const breaker_config_t *bc, metrics_live_t *out);
/* The same at a time the caller read once (metrics_now_ms) for a whole
 * decision: one clock read per decision instead of one per deployment. */
void metrics_live_at(metrics_dep_t *d, const breaker_config_t *bc, int64_t now_ms,
                     metrics_live_t *out);

/* --- health (written by health.c) ---------------------------------------- */

/* The active probe's verdict on a provider: HEALTHY or DOWN with a reason. */
void metrics_provider_probe(metrics_t *m, const char *provider, bool ok, const char *reason);
/* Applies fn to every deployment entry of `provider` under its lock (health.c
 * opens or half-opens breakers with it). */
void metrics_provider_each_breaker(metrics_t *m, const char *provider,
                                   void (*fn)(breaker_t *b, int64_t now_ms, void *ud), void *ud);

/* --- snapshots: for RoutingService, /v1/performance, Prometheus ---------- */

typedef struct {
    char provider[64];
    char model[160];
    /* Lifetime counters (monotonic, for Prometheus counters). */
    uint64_t total_attempts;
    uint64_t total_by_class[METRICS_N_CLASSES];
    /* Over the window. */
    uint64_t window_attempts;
    uint64_t window_by_class[METRICS_N_CLASSES];
    double success_rate; /* OK / (results that are not OTHER); 1 when none */
    double latency_p50_ms, latency_p90_ms, latency_p99_ms; /* 0 when no sample */
    double ttft_p50_ms, ttft_p90_ms, ttft_p99_ms;
    double latency_ewma_ms;     /* < 0 when never measured */
    double output_tokens_per_s; /* output tokens / generation seconds over the window */
    int in_flight;
    breaker_state_t breaker;
    char breaker_reason[128];
    int64_t breaker_since_unix_ms;
    int64_t retry_after_until_unix_ms; /* 0 when none pending */
    char last_error[160];              /* "" when none */
    metrics_class_t last_error_class;
    int64_t last_error_unix_ms; /* 0 when none */
} metrics_snapshot_t;

typedef struct {
    char provider[64];
    metrics_health_t health; /* probe verdict combined with passive health */
    char reason[160];
    int64_t since_unix_ms;      /* when the state last changed; 0 unknown */
    int64_t last_probe_unix_ms; /* 0 when never probed */
} metrics_provider_snapshot_t;

/* Calls cb once per deployment entry (in creation order) with a snapshot
 * valid during the call. No registry lock is held during cb. */
void metrics_snapshot_all(metrics_t *m, void (*cb)(void *ud, const metrics_snapshot_t *s),
                          void *ud);
/* 0, or -1 when provider/model has no entry (out is zeroed and named). */
int metrics_snapshot_one(metrics_t *m, const char *provider, const char *model,
                         metrics_snapshot_t *out);
/* Always fills out: DOWN when the probe fails; DEGRADED when reachable (or
 * unprobed) but a deployment's breaker is not closed or its window success
 * rate is under 0.8 with at least 5 results; HEALTHY when probed OK or with
 * successful traffic; UNKNOWN otherwise. */
void metrics_provider_snapshot(metrics_t *m, const char *provider,
                               metrics_provider_snapshot_t *out);
/* "unknown", "healthy", "degraded", "down". */
const char *metrics_health_name(metrics_health_t h);

#endif
