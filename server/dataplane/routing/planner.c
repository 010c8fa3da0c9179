/* planner: request estimates and live inputs for route.c (see planner.h). */
#include "planner.h"

#include <stdio.h>
#include <string.h>

int64_t planner_estimate_prompt_tokens(const Llmgw__V1__ChatRequest *req)
{
    size_t chars = 0;
    int64_t tokens = 0;
    for (size_t i = 0; i < req->n_messages; i++) {
        const Llmgw__V1__Message *m = req->messages[i];
        if (!m)
            continue;
        chars += (m->content ? strlen(m->content) : 0) + (m->name ? strlen(m->name) : 0) +
                 (m->tool_calls_json ? strlen(m->tool_calls_json) : 0);
        tokens += 4; /* role and framing */
    }
    if (req->tools_json)
        chars += strlen(req->tools_json);
    return tokens + (int64_t)(chars + 3) / 4;
}

typedef struct {
    const planner_t *pl;
    int64_t now_ms; /* read once per decision */
} planner_ctx_t;

static void planner_live(void *ud, const table_provider_t *p, const table_model_t *m,
                         route_live_t *out)
{
    /* The why text must outlive this call: route.c copies it at once. */
    static _Thread_local metrics_live_t live;
    const planner_ctx_t *c = ud;
    consistency_stat_t cs;
    if (c->pl->consistency && consistency_get(c->pl->consistency, p->name, m->name, &cs) == 0) {
        out->consistency = cs.score;
        out->consistency_samples = cs.samples;
    }
    if (!c->pl->metrics)
        return;
    metrics_dep_t *d = metrics_find(c->pl->metrics, p->name, m->name);
    if (!d)
        return; /* never used: unmeasured and available (route.c's defaults) */
    metrics_live_at(d, &p->breaker, c->now_ms, &live);
    out->latency_ms = live.latency_ms;
    out->success_rate = live.success_rate;
    out->in_flight = live.in_flight;
    out->available = live.available;
    out->why = live.why;
}

static const table_model_t *planner_discovered(void *ud, const table_provider_t *p,
                                               const char *name)
{
    const planner_ctx_t *c = ud;
    return c->pl->discovery ? discovery_find(c->pl->discovery, p->name, name) : NULL;
}

route_status_t planner_plan(const planner_t *pl, const table_t *t,
                            const Llmgw__V1__ChatRequest *req, uint64_t *rng, route_plan_t *out,
                            char *err, size_t errlen)
{
    return planner_plan_filtered(pl, t, req, NULL, rng, out, err, errlen);
}

route_status_t planner_plan_filtered(const planner_t *pl, const table_t *t,
                                     const Llmgw__V1__ChatRequest *req,
                                     const route_filter_t *filter, uint64_t *rng, route_plan_t *out,
                                     char *err, size_t errlen)
{
    planner_ctx_t ctx = {pl, pl->metrics ? metrics_now_ms(pl->metrics) : 0};
    const char *rf = req->response_format_json ? req->response_format_json : "";
    route_inputs_t in = {
        .live = planner_live,
        .discovered = planner_discovered,
        .ud = &ctx,
        .prompt_tokens = planner_estimate_prompt_tokens(req),
        .max_tokens = req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS
                          ? req->max_tokens
                          : 0,
        .needs_tools = req->tools_json && req->tools_json[0] != '\0',
        .needs_json = strstr(rf, "json_object") != NULL || strstr(rf, "json_schema") != NULL,
    };
    if (filter)
        in.filter = *filter;
    return route_plan_with(t, req->model, req->routing, &in, rng, out, err, errlen);
}

static Llmgw__V1__RouteCandidate *planner_candidate(arena_t *a, const route_candidate_t *c,
                                                    size_t rank)
{
    Llmgw__V1__RouteCandidate *x = arena_alloc(a, sizeof(*x));
    char why[160];
    int used;
    if (!x)
        return NULL;
    llmgw__v1__route_candidate__init(x);
    x->provider = (char *)c->provider->name;
    x->model = (char *)c->model->name;
    x->score = c->score;
    x->predicted_latency_ms = c->latency_ms < 0 ? 0 : c->latency_ms;
    x->predicted_cost_usd = c->cost_usd;
    x->success_probability = c->success;
    x->in_flight = c->in_flight;
    if (c->latency_ms < 0)
        used = snprintf(why, sizeof(why), "rank %zu (unmeasured: optimistic prior)", rank);
    else
        used = snprintf(why, sizeof(why), "rank %zu", rank);
    /* The quality it ranked on, when ensembles moved it off the table's. */
    if (c->consistency_samples >= ROUTE_CONSISTENCY_MIN_SAMPLES && used > 0 &&
        (size_t)used < sizeof(why))
        snprintf(why + used, sizeof(why) - (size_t)used,
                 " (quality %.3f = %.1f*table %.2f + %.1f*consistency %.2f over %llu ensembles)",
                 c->quality, 1 - ROUTE_CONSISTENCY_BLEND, c->model->quality,
                 ROUTE_CONSISTENCY_BLEND, c->consistency,
                 (unsigned long long)c->consistency_samples);
    x->reason = arena_strdup(a, why);
    return x->reason ? x : NULL;
}

int planner_fill_decision(arena_t *a, const route_plan_t *plan, size_t chosen,
                          Llmgw__V1__RouteDecision *d)
{
    size_t n = plan->n + plan->n_excluded;
    Llmgw__V1__RouteCandidate **list = arena_alloc(a, sizeof(*list) * (n ? n : 1));
    if (!list)
        return -1;
    for (size_t i = 0; i < plan->n; i++)
        if (!(list[i] = planner_candidate(a, &plan->items[i], i + 1)))
            return -1;
    for (size_t i = 0; i < plan->n_excluded; i++) {
        const route_excluded_t *e = &plan->excluded[i];
        Llmgw__V1__RouteCandidate *x = arena_alloc(a, sizeof(*x));
        if (!x)
            return -1;
        llmgw__v1__route_candidate__init(x);
        x->provider = (char *)e->provider->name;
        x->model = (char *)e->model->name;
        x->excluded = true;
        x->reason = (char *)e->reason;
        list[plan->n + i] = x;
    }
    d->candidates = list;
    d->n_candidates = n;
    if (chosen < plan->n) {
        const route_candidate_t *c = &plan->items[chosen];
        d->predicted_latency_ms = c->latency_ms < 0 ? 0 : c->latency_ms;
        d->predicted_cost_usd = c->cost_usd;
        d->success_probability = c->success;
    }
    return 0;
}
