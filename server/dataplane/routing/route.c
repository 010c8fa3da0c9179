/* route: a request's `model` → candidates in the order the pipeline tries them.
 *
 * Invariants: route_plan only reads the table (the caller holds a reference
 * for the whole request) and the inputs, never allocates, and on ROUTE_OK
 * returns at least one candidate. Options are validated before the model is
 * looked up, so a bad strategy is reported as such whatever the model.
 * allow/deny name providers; names absent from the table are allowed and
 * simply match nothing (a policy may outlive a provider). Every deployment
 * of the route ends up either in items (ranked) or in excluded (with why).
 */
#include "route.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ROUTE_SHOW_MAX 64 /* user text quoted in an error message */

/* User text quoted in a message: bounded, control bytes as '?'. */
static const char *show(char out[ROUTE_SHOW_MAX + 4], const char *s)
{
    size_t i = 0;
    for (; i < ROUTE_SHOW_MAX && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

uint64_t route_rand(uint64_t *state)
{
    uint64_t x = *state;
    if (x == 0) /* zero is a fixed point of xorshift; never get stuck there */
        x = 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Uniform in [0, 1) from the top 53 bits. */
static double route_unit(uint64_t *state)
{
    return (double)(route_rand(state) >> 11) * 0x1.0p-53;
}

static bool name_listed(const char *name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], name) == 0)
            return true;
    return false;
}

static route_status_t route_fail(char *err, size_t errlen, route_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static route_status_t route_fail(char *err, size_t errlen, route_status_t st, const char *fmt, ...)
{
    if (errlen == 0)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return st;
}

static const char *const route_strategies[] = {"priority", "weighted", "cost",   "latency",
                                               "quality",  "balanced", "custom", NULL};

static const char *route_strategy_name(const char *s)
{
    for (size_t i = 0; route_strategies[i] != NULL; i++)
        if (strcmp(s, route_strategies[i]) == 0)
            return route_strategies[i];
    return NULL;
}

double route_expected_cost_usd(const table_model_t *m, int64_t prompt_tokens, int64_t max_tokens)
{
    int64_t out = max_tokens > 0 ? max_tokens : m->typical_completion_tokens;
    return ((double)prompt_tokens * m->input_cost_per_mtok +
            (double)out * m->output_cost_per_mtok) /
           1e6;
}

double route_effective_quality(double table_quality, double consistency, uint64_t samples)
{
    if (samples < ROUTE_CONSISTENCY_MIN_SAMPLES || !(consistency >= 0 && consistency <= 1))
        return table_quality;
    return (1 - ROUTE_CONSISTENCY_BLEND) * table_quality + ROUTE_CONSISTENCY_BLEND * consistency;
}

/* --- options ------------------------------------------------------------- */

typedef struct {
    const char *strategy; /* override or NULL */
    table_weights_t weights;
    bool have_weights;
    bool needs_tools, needs_vision, needs_json;
} route_opts_t;

static route_status_t check_options(const Llmgw__V1__RoutingOptions *o, const route_inputs_t *in,
                                    route_opts_t *ro, char *err, size_t errlen)
{
    char s[ROUTE_SHOW_MAX + 4];
    memset(ro, 0, sizeof(*ro));
    if (in) {
        ro->needs_tools = in->needs_tools;
        ro->needs_json = in->needs_json;
    }
    if (o == NULL)
        return ROUTE_OK;
    if (o->strategy != NULL && o->strategy[0] != '\0' &&
        (ro->strategy = route_strategy_name(o->strategy)) == NULL)
        return route_fail(err, errlen, ROUTE_ERR_INVALID,
                          "routing.strategy: expected one of priority, weighted, cost, latency, "
                          "quality, balanced, custom");
    if (o->weights != NULL) {
        const Llmgw__V1__StrategyWeights *w = o->weights;
        const double v[4] = {w->cost, w->latency, w->quality, w->success};
        static const char *const names[4] = {"cost", "latency", "quality", "success"};
        for (int i = 0; i < 4; i++)
            if (!(v[i] >= 0) || isinf(v[i]))
                return route_fail(err, errlen, ROUTE_ERR_INVALID,
                                  "routing.weights.%s: expected a finite number >= 0, got %g",
                                  names[i], v[i]);
        if (v[0] + v[1] + v[2] + v[3] <= 0)
            return route_fail(err, errlen, ROUTE_ERR_INVALID,
                              "routing.weights: expected at least one weight > 0 (all are zero)");
        ro->weights = (table_weights_t){v[0], v[1], v[2], v[3]};
        ro->have_weights = true;
    }
    if (!(o->max_cost_usd >= 0) || isinf(o->max_cost_usd))
        return route_fail(err, errlen, ROUTE_ERR_INVALID,
                          "routing.max_cost_usd: expected a finite number >= 0");
    if (o->max_latency_ms < 0)
        return route_fail(err, errlen, ROUTE_ERR_INVALID,
                          "routing.max_latency_ms: expected an integer >= 0");
    if (o->max_attempts < 0)
        return route_fail(err, errlen, ROUTE_ERR_INVALID,
                          "routing.max_attempts: expected an integer >= 0");
    for (size_t i = 0; i < o->n_required_capabilities; i++) {
        const char *c = o->required_capabilities[i] ? o->required_capabilities[i] : "";
        if (strcmp(c, "tools") == 0)
            ro->needs_tools = true;
        else if (strcmp(c, "vision") == 0)
            ro->needs_vision = true;
        else if (strcmp(c, "json_mode") == 0)
            ro->needs_json = true;
        else
            return route_fail(err, errlen, ROUTE_ERR_INVALID,
                              "routing.required_capabilities[%zu]: expected one of tools, vision, "
                              "json_mode, got '%s'",
                              i, show(s, c));
    }
    return ROUTE_OK;
}

/* --- resolving `model` into deployments ---------------------------------- */

static route_status_t resolve_direct(const table_t *t, const char *model, const route_inputs_t *in,
                                     table_deployment_t *one, char *err, size_t errlen)
{
    char s1[ROUTE_SHOW_MAX + 4], s2[ROUTE_SHOW_MAX + 4];
    /* At the first '/': the provider name cannot hold one, the model may. */
    const char *slash = strchr(model, '/');
    char pname[128];
    size_t plen = (size_t)(slash - model);
    if (plen == 0 || plen >= sizeof(pname))
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                          "model: unknown route or provider/model '%s'", show(s1, model));
    memcpy(pname, model, plen);
    pname[plen] = '\0';
    const table_provider_t *p = table_find_provider(t, pname);
    if (p == NULL)
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND, "model: unknown provider '%s' in '%s'",
                          show(s1, pname), show(s2, model));
    const table_model_t *m = table_provider_find_model(p, slash + 1);
    if (m == NULL && p->discover && in != NULL && in->discovered != NULL)
        m = in->discovered(in->ud, p, slash + 1);
    if (m == NULL)
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                          "model: provider '%s' has no model '%s'%s", show(s1, pname),
                          show(s2, slash + 1),
                          p->discover ? " (not in the table nor in its discovered models)" : "");
    *one = (table_deployment_t){.provider = p, .model = m, .weight = 1, .priority = 0};
    return ROUTE_OK;
}

/* --- constraints --------------------------------------------------------- */

/* Fills c from the inputs; returns NULL when it passes the constraints,
 * else why not (written into why). `unavailable` says the reason is the
 * breaker / Retry-After rather than a constraint. */
static const char *constrain(const table_deployment_t *d, const Llmgw__V1__RoutingOptions *o,
                             const route_opts_t *ro, const route_inputs_t *in, route_candidate_t *c,
                             bool *unavailable, bool *filtered, char *why, size_t whylen)
{
    const table_model_t *m = d->model;
    int64_t prompt = in ? in->prompt_tokens : 0;
    int64_t max_tokens = in ? in->max_tokens : 0;
    *unavailable = false;
    *filtered = false;
    *c = (route_candidate_t){.provider = d->provider, .model = m, .latency_ms = -1, .success = 1};
    c->cost_usd = route_expected_cost_usd(m, prompt, max_tokens);
    route_live_t live = {.latency_ms = -1, .success_rate = 1, .available = true};
    if (in && in->live)
        in->live(in->ud, d->provider, m, &live);
    c->latency_ms = live.latency_ms;
    c->success = live.success_rate;
    c->in_flight = live.in_flight;
    c->consistency = live.consistency;
    c->consistency_samples = live.consistency_samples;
    c->quality = route_effective_quality(m->quality, live.consistency, live.consistency_samples);

    if (in && in->filter.exclude &&
        in->filter.exclude(in->filter.ud, d->provider, m, why, whylen) != NULL)
        *filtered = true;
    else if (o && o->n_allow_providers > 0 &&
             !name_listed(d->provider->name, o->allow_providers, o->n_allow_providers))
        snprintf(why, whylen, "provider not in allow_providers");
    else if (o && name_listed(d->provider->name, o->deny_providers, o->n_deny_providers))
        snprintf(why, whylen, "provider in deny_providers");
    else if (ro->needs_tools && !m->tools)
        snprintf(why, whylen, "no tools capability");
    else if (ro->needs_vision && !m->vision)
        snprintf(why, whylen, "no vision capability");
    else if (ro->needs_json && !m->json_mode)
        snprintf(why, whylen, "no json_mode capability");
    else if (m->context_window > 0 &&
             prompt + (max_tokens > 0 ? max_tokens : 0) > m->context_window)
        snprintf(why, whylen, "context window %lld < %lld estimated tokens",
                 (long long)m->context_window,
                 (long long)(prompt + (max_tokens > 0 ? max_tokens : 0)));
    else if (o && o->max_cost_usd > 0 && c->cost_usd > o->max_cost_usd)
        snprintf(why, whylen, "expected cost $%.6f > max_cost_usd $%.6f", c->cost_usd,
                 o->max_cost_usd);
    else if (o && o->max_latency_ms > 0 && live.latency_ms >= 0 &&
             live.latency_ms > (double)o->max_latency_ms)
        snprintf(why, whylen, "predicted latency %.0f ms > max_latency_ms %lld", live.latency_ms,
                 (long long)o->max_latency_ms);
    else if (!live.available) {
        *unavailable = true;
        snprintf(why, whylen, "%s", live.why ? live.why : "unavailable");
    } else
        return NULL;
    return why;
}

/* --- ordering ------------------------------------------------------------ */

/* Ascending priority; insertion sort keeps ties in table order. */
static void order_priority(route_candidate_t *c, const int *prio, size_t n)
{
    int p[TABLE_MAX_DEPLOYMENTS];
    memcpy(p, prio, n * sizeof(*p));
    for (size_t i = 1; i < n; i++) {
        route_candidate_t x = c[i];
        int px = p[i];
        size_t j = i;
        while (j > 0 && p[j - 1] > px) {
            c[j] = c[j - 1];
            p[j] = p[j - 1];
            j--;
        }
        c[j] = x;
        p[j] = px;
    }
}

/* Weighted random order without replacement: each pick is proportional to
 * weight (the score) among the candidates not yet picked. Returns the total. */
static double order_weighted(route_candidate_t *c, size_t n, uint64_t *rng)
{
    double all = 0;
    for (size_t i = 0; i < n; i++)
        all += c[i].score;
    double left = all;
    for (size_t i = 0; i + 1 < n; i++) {
        double r = route_unit(rng) * left;
        size_t pick = n - 1; /* rounding can leave r just past the last weight */
        for (size_t j = i; j < n; j++) {
            if (r < c[j].score) {
                pick = j;
                break;
            }
            r -= c[j].score;
        }
        route_candidate_t x = c[pick];
        /* Shift rather than swap so the rest keep table order. */
        memmove(&c[i + 1], &c[i], (pick - i) * sizeof(*c));
        c[i] = x;
        left -= x.score;
    }
    return all;
}

typedef struct {
    double score;
    size_t index;
} route_rank_t;

/* a before b: higher score, ties in table order */
static bool rank_before(const route_rank_t *a, const route_rank_t *b)
{
    return a->score > b->score || (a->score == b->score && a->index < b->index);
}

/* Descending score, ties in table order: a bottom-up merge sort of 16-byte
 * keys, then each candidate moved once. Insertion-sorting the candidates
 * themselves (or qsort's indirect calls) cost more than the rest of a
 * 100-deployment decision. */
static void order_score(route_candidate_t *c, size_t n)
{
    route_rank_t a[TABLE_MAX_DEPLOYMENTS], b[TABLE_MAX_DEPLOYMENTS];
    route_candidate_t tmp[TABLE_MAX_DEPLOYMENTS];
    route_rank_t *src = a, *dst = b;
    for (size_t i = 0; i < n; i++)
        a[i] = (route_rank_t){c[i].score, i};
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = rank_before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        route_rank_t *swap = src;
        src = dst;
        dst = swap;
    }
    for (size_t i = 0; i < n; i++)
        tmp[i] = c[src[i].index];
    memcpy(c, tmp, n * sizeof(*c));
}

/* Among the leading candidates within `tolerance` (relative) of the best
 * score, power of two choices: two picked at random, the one with fewer
 * attempts in flight goes first. Returns how many tied. */
static size_t balance_ties(route_candidate_t *c, size_t n, double tolerance, uint64_t *rng)
{
    double best = c[0].score;
    double slack = tolerance * (fabs(best) > 1e-12 ? fabs(best) : 1e-12);
    size_t tied = 1;
    while (tied < n && c[tied].score >= best - slack)
        tied++;
    if (tied < 2)
        return tied;
    size_t a = (size_t)(route_rand(rng) % tied);
    size_t b = (size_t)(route_rand(rng) % (tied - 1));
    if (b >= a)
        b++;
    size_t pick = c[b].in_flight < c[a].in_flight ? b : a;
    route_candidate_t x = c[pick];
    memmove(&c[1], &c[0], pick * sizeof(*c));
    c[0] = x;
    return tied;
}

typedef enum { SCORE_COST, SCORE_LATENCY, SCORE_QUALITY, SCORE_WEIGHTED } route_score_kind_t;

#define ROUTE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ROUTE_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Scores for the scoring strategies (higher is better). */
static void score_all(route_candidate_t *c, size_t n, const char *strategy,
                      const table_weights_t *w)
{
    route_score_kind_t kind = strcmp(strategy, "cost") == 0      ? SCORE_COST
                              : strcmp(strategy, "latency") == 0 ? SCORE_LATENCY
                              : strcmp(strategy, "quality") == 0 ? SCORE_QUALITY
                                                                 : SCORE_WEIGHTED;
    /* Unmeasured deployments get the optimistic prior: 0 ms, so they are
     * tried and measured. */
    double cmin = INFINITY, cmax = -INFINITY, lmin = INFINITY, lmax = -INFINITY;
    double qmin = INFINITY, qmax = -INFINITY;
    for (size_t i = 0; i < n && kind == SCORE_WEIGHTED; i++) {
        double lat = c[i].latency_ms < 0 ? 0 : c[i].latency_ms;
        cmin = ROUTE_MIN(cmin, c[i].cost_usd);
        cmax = ROUTE_MAX(cmax, c[i].cost_usd);
        lmin = ROUTE_MIN(lmin, lat);
        lmax = ROUTE_MAX(lmax, lat);
        qmin = ROUTE_MIN(qmin, c[i].quality);
        qmax = ROUTE_MAX(qmax, c[i].quality);
    }
    double wsum = w->cost + w->latency + w->quality + w->success;
    for (size_t i = 0; i < n; i++) {
        double lat = c[i].latency_ms < 0 ? 0 : c[i].latency_ms;
        switch (kind) {
        case SCORE_COST:
            c[i].score = -c[i].cost_usd;
            break;
        case SCORE_LATENCY:
            c[i].score = -lat;
            break;
        case SCORE_QUALITY:
            c[i].score = c[i].quality;
            break;
        case SCORE_WEIGHTED: {
            /* 1 = best of the candidates; a term equal for all counts fully. */
            double cn = cmax > cmin ? (cmax - c[i].cost_usd) / (cmax - cmin) : 1;
            double ln = lmax > lmin ? (lmax - lat) / (lmax - lmin) : 1;
            double qn = qmax > qmin ? (c[i].quality - qmin) / (qmax - qmin) : 1;
            c[i].score =
                (w->cost * cn + w->latency * ln + w->quality * qn + w->success * c[i].success) /
                wsum;
            break;
        }
        }
    }
}

static void describe(const route_candidate_t *c, const char *strategy, char *out, size_t n)
{
    const char *p = c->provider->name, *m = c->model->name;
    if (strcmp(strategy, "cost") == 0)
        snprintf(out, n, "%s/%s $%.6f", p, m, c->cost_usd);
    else if (strcmp(strategy, "latency") == 0) {
        if (c->latency_ms < 0)
            snprintf(out, n, "%s/%s unmeasured (optimistic prior 0 ms)", p, m);
        else
            snprintf(out, n, "%s/%s %.0f ms", p, m, c->latency_ms);
    } else if (strcmp(strategy, "quality") == 0) {
        if (c->consistency_samples >= ROUTE_CONSISTENCY_MIN_SAMPLES)
            snprintf(out, n, "%s/%s %.2f (table %.2f, consistency %.2f over %llu ensembles)", p, m,
                     c->quality, c->model->quality, c->consistency,
                     (unsigned long long)c->consistency_samples);
        else
            snprintf(out, n, "%s/%s %.2f", p, m, c->quality);
    } else
        snprintf(out, n, "%s/%s %.3f", p, m, c->score);
}

static void reason_scored(route_plan_t *out, const char *strategy, const table_weights_t *w,
                          size_t n, size_t tied)
{
    static const char *const lead[][2] = {{"cost", "cheapest"},
                                          {"latency", "fastest (predicted)"},
                                          {"quality", "highest quality"},
                                          {"balanced", "best balanced score"},
                                          {"custom", "best weighted score"}};
    const char *what = "best";
    for (size_t i = 0; i < sizeof(lead) / sizeof(lead[0]); i++)
        if (strcmp(lead[i][0], strategy) == 0)
            what = lead[i][1];
    char first[200], second[200];
    describe(&out->items[0], strategy, first, sizeof(first));
    size_t used =
        (size_t)snprintf(out->reason, sizeof(out->reason), "%s: %s of %zu candidate%s: %s",
                         strategy, what, n, n == 1 ? "" : "s", first);
    if (n > 1 && used < sizeof(out->reason)) {
        describe(&out->items[1], strategy, second, sizeof(second));
        used += (size_t)snprintf(out->reason + used, sizeof(out->reason) - used, " vs %s", second);
    }
    if (tied > 1 && used < sizeof(out->reason))
        used += (size_t)snprintf(out->reason + used, sizeof(out->reason) - used,
                                 " (%zu within tolerance, balanced on in-flight)", tied);
    if ((strcmp(strategy, "balanced") == 0 || strcmp(strategy, "custom") == 0) &&
        used < sizeof(out->reason))
        snprintf(out->reason + used, sizeof(out->reason) - used,
                 " (weights cost %g, latency %g, quality %g, success %g)", w->cost, w->latency,
                 w->quality, w->success);
}

/* err: "routing: every deployment of route 'r' was excluded: a/m: why; b/m: why". */
static route_status_t fail_excluded(const route_plan_t *out, const char *what, char *err,
                                    size_t errlen)
{
    bool all_unavailable = true;
    for (size_t i = 0; i < out->n_excluded; i++)
        all_unavailable = all_unavailable && out->excluded[i].unavailable;
    route_status_t st = all_unavailable ? ROUTE_ERR_UNAVAILABLE : ROUTE_ERR_NO_CANDIDATE;
    if (errlen == 0)
        return st;
    size_t used = (size_t)snprintf(err, errlen, "routing: %s %s: ", what,
                                   all_unavailable ? "is unavailable" : "was excluded");
    for (size_t i = 0; i < out->n_excluded && used < errlen; i++) {
        const route_excluded_t *x = &out->excluded[i];
        used += (size_t)snprintf(err + used, errlen - used, "%s%s/%s: %s", i ? "; " : "",
                                 x->provider->name, x->model->name, x->reason);
    }
    return st;
}

route_status_t route_plan_with(const table_t *t, const char *model,
                               const Llmgw__V1__RoutingOptions *opts, const route_inputs_t *in,
                               uint64_t *rng, route_plan_t *out, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    out->n = 0;
    out->n_excluded = 0;
    out->strategy = NULL;
    out->route_name = NULL;
    out->max_attempts = 0;
    out->reason[0] = '\0';

    route_opts_t ro;
    route_status_t st = check_options(opts, in, &ro, err, errlen);
    if (st != ROUTE_OK)
        return st;
    if (model == NULL || model[0] == '\0')
        return route_fail(err, errlen, ROUTE_ERR_INVALID, "model: required");

    table_deployment_t one;
    const table_deployment_t *deps;
    size_t n_deps;
    const table_route_t *r = NULL;
    char what[160];
    if (strchr(model, '/') != NULL) {
        if ((st = resolve_direct(t, model, in, &one, err, errlen)) != ROUTE_OK)
            return st;
        deps = &one;
        n_deps = 1;
        snprintf(what, sizeof(what), "deployment");
    } else {
        r = table_find_route(t, model);
        if (r == NULL) {
            char s[ROUTE_SHOW_MAX + 4];
            return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                              "model: unknown route or provider/model '%s'", show(s, model));
        }
        deps = r->deployments;
        n_deps =
            r->n_deployments < TABLE_MAX_DEPLOYMENTS ? r->n_deployments : TABLE_MAX_DEPLOYMENTS;
        snprintf(what, sizeof(what), "every deployment of route '%s'", r->name);
    }

    const char *strategy = r == NULL ? "direct" : ro.strategy ? ro.strategy : r->strategy;
    table_weights_t w =
        r ? r->weights
          : (table_weights_t){.cost = 0.3, .latency = 0.3, .quality = 0.2, .success = 0.2};
    if (ro.have_weights)
        w = ro.weights;
    else if (ro.strategy && strcmp(ro.strategy, "custom") == 0 && r &&
             strcmp(r->strategy, "custom") != 0)
        return route_fail(err, errlen, ROUTE_ERR_INVALID,
                          "routing.weights: required by strategy custom (route '%s' has none)",
                          r->name);

    int prio[TABLE_MAX_DEPLOYMENTS];
    size_t n = 0, by_allow_deny = 0, by_filter = 0;
    for (size_t i = 0; i < n_deps; i++) {
        route_candidate_t c;
        bool unavailable, filtered;
        char why[160];
        if (constrain(&deps[i], opts, &ro, in, &c, &unavailable, &filtered, why, sizeof(why)) ==
            NULL) {
            prio[n] = deps[i].priority;
            c.score = strcmp(strategy, "weighted") == 0 ? deps[i].weight : -deps[i].priority;
            out->items[n++] = c;
            continue;
        }
        route_excluded_t *x = &out->excluded[out->n_excluded++];
        x->provider = deps[i].provider;
        x->model = deps[i].model;
        x->unavailable = unavailable;
        x->filtered = filtered;
        snprintf(x->reason, sizeof(x->reason), "%s", why);
        if (filtered)
            by_filter++;
        else if (strstr(why, "allow_providers") || strstr(why, "deny_providers"))
            by_allow_deny++;
    }
    if (n == 0) {
        if (by_filter == n_deps) {
            (void)fail_excluded(out, what, err, errlen);
            return ROUTE_ERR_DENIED;
        }
        if (r == NULL && by_allow_deny == 1)
            return route_fail(err, errlen, ROUTE_ERR_NO_CANDIDATE,
                              "routing: provider '%s' is excluded by allow/deny providers",
                              deps[0].provider->name);
        if (r != NULL && by_allow_deny == n_deps)
            return route_fail(err, errlen, ROUTE_ERR_NO_CANDIDATE,
                              "routing: every deployment of route '%s' was excluded by "
                              "allow/deny providers",
                              r->name);
        return fail_excluded(out, what, err, errlen);
    }

    const char *of = n == 1 ? "deployment" : "deployments";
    if (strcmp(strategy, "direct") == 0) {
        out->strategy = "direct";
        snprintf(out->reason, sizeof(out->reason), "direct: %s/%s requested as provider/model",
                 out->items[0].provider->name, out->items[0].model->name);
    } else if (strcmp(strategy, "weighted") == 0) {
        double total = order_weighted(out->items, n, rng);
        out->strategy = "weighted";
        snprintf(out->reason, sizeof(out->reason),
                 "weighted: picked %s/%s by weight %g of total %g", out->items[0].provider->name,
                 out->items[0].model->name, out->items[0].score, total);
    } else if (strcmp(strategy, "priority") == 0) {
        order_priority(out->items, prio, n);
        out->strategy = "priority";
        snprintf(out->reason, sizeof(out->reason),
                 "priority: %s/%s has the lowest priority (%d) of %zu %s",
                 out->items[0].provider->name, out->items[0].model->name, (int)-out->items[0].score,
                 n, of);
    } else {
        score_all(out->items, n, strategy, &w);
        order_score(out->items, n);
        size_t tied = balance_ties(out->items, n, r ? r->tolerance : 0.05, rng);
        out->strategy = strategy;
        reason_scored(out, strategy, &w, n, tied);
    }
    if (out->n_excluded > 0) {
        size_t used = strlen(out->reason);
        if (by_allow_deny == out->n_excluded)
            snprintf(out->reason + used, sizeof(out->reason) - used,
                     " (%zu excluded by allow/deny)", out->n_excluded);
        else
            snprintf(out->reason + used, sizeof(out->reason) - used,
                     " (%zu excluded, first %s/%s: %s)", out->n_excluded,
                     out->excluded[0].provider->name, out->excluded[0].model->name,
                     out->excluded[0].reason);
    }

    if (opts != NULL && opts->disable_fallback)
        n = 1;
    out->n = n;
    out->route_name = r ? r->name : NULL;
    out->max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts
                        : r                            ? r->max_attempts
                                                       : 0;
    return ROUTE_OK;
}

route_status_t route_plan(const table_t *t, const char *model,
                          const Llmgw__V1__RoutingOptions *opts, uint64_t *rng, route_plan_t *out,
                          char *err, size_t errlen)
{
    return route_plan_with(t, model, opts, NULL, rng, out, err, errlen);
}
