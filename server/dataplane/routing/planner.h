/* planner: the glue between a chat request, the live figures and route.c —
 * used by the pipeline (Complete / Stream) and by RoutingService.Explain so
 * both take the same decision from the same inputs.
 *
 * It estimates the request (prompt tokens from the message lengths, the
 * capabilities tools_json / response_format imply), backs route.h's inputs
 * with metrics.c (EWMA latency, window success rate, in-flight, breaker and
 * Retry-After availability), consistency.c (the ensemble agreement score
 * that feeds the effective quality) and discovery.c, and turns a plan into
 * the candidates and predictions of a RouteDecision.
 *
 * Invariants: a planner_t only borrows its registries; with NULL metrics
 * every deployment is unmeasured and available, with NULL consistency every
 * deployment ranks on its table quality, with NULL discovery no discovered
 * model routes. Thread-safe as its registries are.
 */
#ifndef LLMGW_PLANNER_H
#define LLMGW_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "consistency.h"
#include "discovery.h"
#include "llmgw/v1/chat.pb-c.h"
#include "metrics.h"
#include "route.h"
#include "table.h"

typedef struct {
    metrics_t *metrics;         /* may be NULL */
    discovery_t *discovery;     /* may be NULL */
    consistency_t *consistency; /* may be NULL */
} planner_t;

/* Estimated prompt tokens: about 4 characters per token over the contents,
 * names, tool calls and tools, plus 4 per message. */
int64_t planner_estimate_prompt_tokens(const Llmgw__V1__ChatRequest *req);

/* route_plan_with for req->model and req->routing with the live inputs. */
route_status_t planner_plan(const planner_t *pl, const table_t *t,
                            const Llmgw__V1__ChatRequest *req, uint64_t *rng, route_plan_t *out,
                            char *err, size_t errlen);
/* The same with the caller's filter checked first (NULL: none), e.g. the
 * key's policy: ROUTE_ERR_DENIED when it excludes every deployment. */
route_status_t planner_plan_filtered(const planner_t *pl, const table_t *t,
                                     const Llmgw__V1__ChatRequest *req,
                                     const route_filter_t *filter, uint64_t *rng, route_plan_t *out,
                                     char *err, size_t errlen);

/* Fills d->candidates (the plan's items in order, then the excluded ones)
 * and the predictions of candidate `chosen` (an index into plan->items).
 * Strings are borrowed from the table or the plan (which must outlive d) or
 * allocated in `a`. 0, or -1 when out of memory. */
int planner_fill_decision(arena_t *a, const route_plan_t *plan, size_t chosen,
                          Llmgw__V1__RouteDecision *d);

#endif
