/* top_routing: the Routing Intelligence panel — per route its strategy, the
 * selection and its reason, what the data planes actually picked in the
 * window (RoutingDecisions: deployment, count, reasons) and the fallback
 * chain in the order the route tries it (the console's chain(): by weight,
 * largest first, for "weighted"; else by priority), each deployment with
 * its price, its provider's success this month and, in the window, its
 * fallbacks and breaker openings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"
#include "suggest.h"
#include "top_panel.h"

static double top_weight(const Llmgw__V1__Deployment *d)
{
    return d->weight ? d->weight : 1; /* the console's (d.weight || 1) */
}

/* The route's deployments in the order it tries them (stable: ties keep
 * the configured order, as JavaScript's sort does). */
static void top_chain(const Llmgw__V1__Route *r, const Llmgw__V1__Deployment **out)
{
    bool weighted = strcmp(r->strategy, "weighted") == 0;
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__Deployment *d = r->deployments[i];
        size_t k = i;
        while (k > 0 && (weighted ? top_weight(out[k - 1]) < top_weight(d)
                                  : out[k - 1]->priority > d->priority)) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = d;
    }
}

static const char *top_scored(const char *strategy)
{
    static const char *const s[][2] = {
        {"cost", "the lowest expected cost"},
        {"latency", "the lowest predicted latency"},
        {"quality", "the highest quality score"},
        {"balanced", "the best blend of cost, latency, quality and success"},
        {"custom", "the best score under the route's own weights"},
    };
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        if (strcmp(strategy, s[i][0]) == 0)
            return s[i][1];
    return NULL;
}

static const Llmgw__V1__Model *top_model(const Llmgw__V1__ListRegistryModelsResponse *ms,
                                         const char *provider, const char *name)
{
    for (size_t i = 0; ms && i < ms->n_models; i++)
        if (strcmp(ms->models[i]->provider, provider) == 0 &&
            strcmp(ms->models[i]->name, name) == 0)
            return ms->models[i];
    return NULL;
}

/* "picked: a/fast 8 of 8 (fallback 5, excluded 3); …" from the decisions of
 * route, busiest deployment first. */
static void top_picks(top_panel_t *p, const Llmgw__V1__RoutingDecisionsResponse *rd,
                      const char *route)
{
    long long total = 0;
    for (size_t i = 0; i < rd->n_decisions; i++)
        if (strcmp(rd->decisions[i]->route, route) == 0)
            total += rd->decisions[i]->count;
    if (!total) {
        top_panel_line(p, "  picked: no decisions in the window");
        return;
    }
    char text[TOP_LINE] = "  picked:";
    size_t used = strlen(text);
    bool any = false;
    bool *done = calloc(rd->n_decisions ? rd->n_decisions : 1, sizeof(*done));
    if (!done)
        return;
    for (;;) {
        /* The next deployment: the one with the most decisions left. */
        const char *bp = NULL, *bm = NULL;
        long long best = -1;
        for (size_t i = 0; i < rd->n_decisions; i++) {
            const Llmgw__V1__DecisionRow *x = rd->decisions[i];
            if (done[i] || strcmp(x->route, route) != 0)
                continue;
            long long sum = 0;
            for (size_t k = 0; k < rd->n_decisions; k++) {
                const Llmgw__V1__DecisionRow *y = rd->decisions[k];
                if (!done[k] && strcmp(y->route, route) == 0 &&
                    strcmp(y->provider, x->provider) == 0 && strcmp(y->model, x->model) == 0)
                    sum += y->count;
            }
            if (sum > best) {
                best = sum;
                bp = x->provider;
                bm = x->model;
            }
        }
        if (!bp)
            break;
        top_append(text, sizeof(text), &used, "%s %s/%s %lld of %lld (", any ? ";" : "",
                   bp[0] ? bp : "(none)", bm, best, total);
        any = true;
        bool first = true;
        for (size_t k = 0; k < rd->n_decisions; k++) {
            const Llmgw__V1__DecisionRow *y = rd->decisions[k];
            if (done[k] || strcmp(y->route, route) != 0 || strcmp(y->provider, bp) != 0 ||
                strcmp(y->model, bm) != 0)
                continue;
            top_append(text, sizeof(text), &used, "%s%s %lld", first ? "" : ", ", y->reason,
                       (long long)y->count);
            first = false;
            done[k] = true;
        }
        top_append(text, sizeof(text), &used, ")");
    }
    free(done);
    top_panel_line(p, "%s", text);
}

static void top_route(top_panel_t *p, const top_data_t *d, const Llmgw__V1__Route *r, bool utf8)
{
    const Llmgw__V1__ListRegistryModelsResponse *ms = top_data_get(d, TOP_MODELS);
    const Llmgw__V1__CostReportResponse *mtd = top_data_get(d, TOP_MTD_PROVIDER);
    const Llmgw__V1__RoutingDecisionsResponse *rd = top_data_get(d, TOP_DECISIONS);
    const Llmgw__V1__Deployment **ds = calloc(r->n_deployments ? r->n_deployments : 1, sizeof(*ds));
    if (!ds) {
        top_panel_line(p, "%s: out of memory", r->name);
        return;
    }
    top_chain(r, ds);
    double total = 0;
    for (size_t i = 0; i < r->n_deployments; i++)
        total += top_weight(r->deployments[i]);
    bool weighted = strcmp(r->strategy, "weighted") == 0;
    top_panel_line(p, "%s  strategy %s", r->name, r->strategy);
    char reason[TOP_LINE], share[32];
    const Llmgw__V1__Deployment *first = r->n_deployments ? ds[0] : NULL;
    const char *scored = top_scored(r->strategy);
    if (!first) {
        snprintf(reason, sizeof(reason), "no deployments");
    } else if (weighted) {
        suggest_pct(top_weight(first) / total, share, sizeof(share));
        snprintf(reason, sizeof(reason),
                 "weighted: each request picks by weight; %s/%s has the largest share (%s)",
                 first->provider, first->model, share);
    } else if (scored) {
        snprintf(reason, sizeof(reason),
                 "%s: each data plane ranks these deployments per request by %s from its live "
                 "metrics; the list below is the configured order, and the rest are the fallbacks",
                 r->strategy, scored);
    } else {
        snprintf(reason, sizeof(reason),
                 "priority: %s/%s has the lowest priority (%d); the rest are the fallback chain "
                 "in order",
                 first->provider, first->model, first->priority);
    }
    top_panel_line(p, "  selection: %s", reason);
    if (rd)
        top_picks(p, rd, r->name);
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__Deployment *dep = ds[i];
        char bits[TOP_LINE] = "", a[64], b[64];
        size_t used = 0;
        if (weighted) {
            suggest_pct(top_weight(dep) / total, share, sizeof(share));
            top_append(bits, sizeof(bits), &used, "weight %g (%s)", top_weight(dep), share);
        } else {
            top_append(bits, sizeof(bits), &used, "priority %d", dep->priority);
        }
        const Llmgw__V1__Model *m = top_model(ms, dep->provider, dep->model);
        if (m) {
            suggest_usd(m->input_cost_per_mtok, a, sizeof(a));
            suggest_usd(m->output_cost_per_mtok, b, sizeof(b));
            top_append(bits, sizeof(bits), &used, ", %s/%s per Mtok", a, b);
        }
        const Llmgw__V1__CostGroup *u = top_cost_group(mtd, dep->provider);
        if (u && u->requests) {
            suggest_pct(1 - (double)(u->requests - u->ok_requests) / (double)u->requests, a,
                        sizeof(a));
            top_append(bits, sizeof(bits), &used, ", success %s", a);
        }
        for (size_t k = 0; rd && k < rd->n_deployments; k++) {
            const Llmgw__V1__DeploymentRouting *x = rd->deployments[k];
            if (strcmp(x->provider, dep->provider) == 0 && strcmp(x->model, dep->model) == 0 &&
                (x->fallbacks || x->breaker_opened))
                top_append(bits, sizeof(bits), &used,
                           "; window, all routes: %lld fallbacks, breaker opened %lld",
                           (long long)x->fallbacks, (long long)x->breaker_opened);
        }
        top_panel_line(p, "  %zu. %s/%s %s %s", i + 1, dep->provider, dep->model, top_dash(utf8),
                       bits);
    }
    free(ds);
}

void top_routing(top_panel_t *p, const top_data_t *d, bool utf8)
{
    const Llmgw__V1__ListRoutesResponse *rs = top_data_get(d, TOP_ROUTES);
    const Llmgw__V1__RoutingDecisionsResponse *rd = top_data_get(d, TOP_DECISIONS);
    if (!rs) {
        top_panel_line(p, "routes: %s", top_data_err(d, TOP_ROUTES));
        return;
    }
    if (rd) {
        char reasons[TOP_LINE] = "";
        size_t used = 0;
        for (size_t i = 0; i < rd->n_top_reasons; i++)
            top_append(reasons, sizeof(reasons), &used, " %s=%lld", rd->top_reasons[i]->reason,
                       (long long)rd->top_reasons[i]->count);
        top_panel_line(p, "%zu routes; %lld decisions in the window:%s", rs->n_routes,
                       (long long)rd->total_decisions, reasons[0] ? reasons : " none");
    } else {
        top_panel_line(p, "%zu routes; decisions: %s", rs->n_routes,
                       top_data_err(d, TOP_DECISIONS));
    }
    for (size_t i = 0; i < rs->n_routes; i++)
        top_route(p, d, rs->routes[i], utf8);
}
