/* route: turns a request's `model` into an ordered list of candidates.
 *
 * route_plan_with reads the table, the request's routing options and a view
 * of the live figures (route_inputs_t: callbacks the caller backs with
 * metrics.c, or test doubles) and returns candidates in the order the
 * pipeline tries them, with scores, predictions, the excluded deployments
 * with the reason, and a human-readable reason for the choice. It is pure
 * given its inputs and the rng state.
 *
 * Strategies: "priority" (ascending priority, ties by table order),
 * "weighted" (weighted random order without replacement), "cost" (cheapest
 * expected cost), "latency" (lowest predicted latency; unmeasured
 * deployments get an optimistic prior of 0 ms so they are tried), "quality"
 * (highest effective quality), "balanced" and "custom" (weighted sum of
 * normalized cost, latency, effective quality and success rate). The
 * effective quality is the table's quality until the deployment has
 * ROUTE_CONSISTENCY_MIN_SAMPLES ensemble observations, then
 * (1 - ROUTE_CONSISTENCY_BLEND) × table + ROUTE_CONSISTENCY_BLEND ×
 * consistency (how often its ensemble answers agreed with the chosen one). For the scoring
 * strategies, candidates whose score is within the route's tolerance of the best are load-balanced
 * by power-of-two-choices on in-flight attempts. `provider/model` is a direct single candidate.
 *
 * Constraints filter before scoring, in this order: the caller's filter (the
 * key's policy, route_filter_t), allow/deny providers,
 * required capabilities, context window, max_cost_usd, max_latency_ms, then
 * availability (circuit breaker open or a Retry-After pending) — so an
 * unavailable deployment costs zero attempts.
 */
#ifndef LLMGW_ROUTE_H
#define LLMGW_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "llmgw/v1/chat.pb-c.h"
#include "table.h"

typedef struct {
    const table_provider_t *provider;
    const table_model_t *model;
    double score;      /* higher is better; see RouteCandidate.score in chat.proto */
    double latency_ms; /* predicted (live EWMA); < 0 unmeasured */
    double cost_usd;   /* expected cost of this request */
    double success;    /* window success rate, 0..1 */
    int in_flight;
    double quality;               /* effective quality (route_effective_quality) */
    double consistency;           /* observed ensemble consistency, 0..1 */
    uint64_t consistency_samples; /* ensemble observations behind it; 0: none */
} route_candidate_t;

typedef struct {
    const table_provider_t *provider;
    const table_model_t *model;
    bool unavailable; /* breaker or Retry-After, not a constraint */
    bool filtered;    /* by the caller's route_filter_t */
    char reason[160];
} route_excluded_t;

typedef struct {
    route_candidate_t items[TABLE_MAX_DEPLOYMENTS];
    size_t n;
    route_excluded_t excluded[TABLE_MAX_DEPLOYMENTS];
    size_t n_excluded;
    const char *strategy;   /* a strategy name or "direct" (static strings) */
    const char *route_name; /* NULL for provider/model; borrowed from the table */
    int max_attempts;       /* retry budget; 0: every candidate */
    char reason[512];       /* why items[0] is first */
} route_plan_t;

typedef enum {
    ROUTE_OK = 0,
    ROUTE_ERR_NOT_FOUND = -1,    /* no such route, provider or model */
    ROUTE_ERR_INVALID = -2,      /* bad routing options (names the field) */
    ROUTE_ERR_NO_CANDIDATE = -3, /* every deployment excluded by a constraint */
    ROUTE_ERR_UNAVAILABLE = -4,  /* every remaining deployment's breaker is open or waits
                                    out a Retry-After */
    ROUTE_ERR_DENIED = -5,       /* every deployment excluded by the caller's filter */
} route_status_t;

/* Live figures of one deployment, as the caller's metrics see them. */
typedef struct {
    double latency_ms;   /* predicted; < 0 unmeasured */
    double success_rate; /* 0..1; 1 when unknown */
    int in_flight;
    bool available;               /* false: breaker open / Retry-After pending */
    const char *why;              /* when !available; copied into the plan */
    double consistency;           /* ensemble agreement score, 0..1 (consistency.h) */
    uint64_t consistency_samples; /* its ensemble observations; 0: none */
} route_live_t;

/* The consistency score counts in the effective quality once it rests on
 * this many ensemble observations (fewer: too noisy, the table decides). */
#define ROUTE_CONSISTENCY_MIN_SAMPLES 5
/* Its share of the effective quality; the table's quality has the rest. */
#define ROUTE_CONSISTENCY_BLEND 0.5

/* The quality the quality strategy (and the quality term of balanced /
 * custom) ranks on: table_quality with fewer than
 * ROUTE_CONSISTENCY_MIN_SAMPLES samples, else
 * (1 - ROUTE_CONSISTENCY_BLEND) * table_quality + ROUTE_CONSISTENCY_BLEND * consistency. */
double route_effective_quality(double table_quality, double consistency, uint64_t samples);

/* A constraint of the caller's own, checked before any other (the data
 * plane's policies): NULL when p/m may serve, else why not, written into
 * `why` ("excluded by policy 'eu-only' (region)"). */
typedef struct {
    const char *(*exclude)(void *ud, const table_provider_t *p, const table_model_t *m, char *why,
                           size_t whylen);
    void *ud;
} route_filter_t;

typedef struct {
    /* Fills the figures of p/m; NULL: every deployment is unmeasured and available. */
    void (*live)(void *ud, const table_provider_t *p, const table_model_t *m, route_live_t *out);
    /* A model `name` that provider p (with discover: true) listed on its /models, or
     * NULL. The pointer must stay valid for the request. NULL callback: none. */
    const table_model_t *(*discovered)(void *ud, const table_provider_t *p, const char *name);
    void *ud;
    int64_t prompt_tokens;        /* estimated prompt size */
    int64_t max_tokens;           /* the request's; 0: the model's typical completion length */
    bool needs_tools, needs_json; /* implied by the request (tools_json, response_format) */
    route_filter_t filter;        /* exclude NULL: none */
} route_inputs_t;

/* `opts` may be NULL. `rng` is the caller's xorshift64 state (non-zero). On
 * error, err says why naming the field ("model: unknown route or
 * provider/model 'x'"). disable_fallback keeps only the first candidate. */
route_status_t route_plan(const table_t *t, const char *model,
                          const Llmgw__V1__RoutingOptions *opts, uint64_t *rng, route_plan_t *out,
                          char *err, size_t errlen);
/* The same with live figures and request estimates; `in` may be NULL. On
 * ROUTE_ERR_NO_CANDIDATE / ROUTE_ERR_UNAVAILABLE, err lists every deployment
 * with why it was excluded, and out->excluded holds them too. */
route_status_t route_plan_with(const table_t *t, const char *model,
                               const Llmgw__V1__RoutingOptions *opts, const route_inputs_t *in,
                               uint64_t *rng, route_plan_t *out, char *err, size_t errlen);
/* Expected cost (USD) of a request on model m: pricing × prompt tokens plus
 * max_tokens (or the model's typical completion length). */
double route_expected_cost_usd(const table_model_t *m, int64_t prompt_tokens, int64_t max_tokens);

/* xorshift64 step; state must be non-zero. */
uint64_t route_rand(uint64_t *state);

#endif
