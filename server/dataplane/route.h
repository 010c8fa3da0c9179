/* route: turns a request's `model` into an ordered list of candidates.
 *
 * This is the seam for the routing strategies: route_plan reads the table
 * (and later live metrics) and returns candidates in the order the pipeline
 * tries them, with a human-readable reason. Strategies here: "priority"
 * (ascending priority, ties by table order) and "weighted" (weighted random
 * order without replacement). `provider/model` is a direct single candidate.
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
} route_candidate_t;

typedef struct {
    route_candidate_t items[TABLE_MAX_DEPLOYMENTS];
    size_t n;
    const char *strategy;   /* "priority", "weighted" or "direct" (static strings) */
    const char *route_name; /* NULL for provider/model; borrowed from the table */
    char reason[256];       /* why items[0] is first */
} route_plan_t;

typedef enum {
    ROUTE_OK = 0,
    ROUTE_ERR_NOT_FOUND = -1,    /* no such route, provider or model */
    ROUTE_ERR_INVALID = -2,      /* bad routing options (names the field) */
    ROUTE_ERR_NO_CANDIDATE = -3, /* every deployment filtered out by allow/deny */
} route_status_t;

/* `opts` may be NULL. `rng` is the caller's xorshift64 state (non-zero). On
 * error, err says why naming the field ("model: unknown route or
 * provider/model 'x'"). disable_fallback keeps only the first candidate. */
route_status_t route_plan(const table_t *t, const char *model,
                          const Llmgw__V1__RoutingOptions *opts, uint64_t *rng, route_plan_t *out,
                          char *err, size_t errlen);

/* xorshift64 step; state must be non-zero. */
uint64_t route_rand(uint64_t *state);

#endif
