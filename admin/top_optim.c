/* top_optim: the Optimization panel — this month's cost, every budget's
 * spend against its limit (%), the quality score (the registry's per-model
 * quality weighted by this month's requests), the consistency score (1 − the
 * spread of the last hour's 5-minute success rates), the ensembles' observed
 * consistency per model and their estimated savings, and the suggestions
 * (suggest.c). The same figures and formulas as the console's
 * renderOptimization().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"
#include "llmgw/v1/usage.pb-c.h"
#include "suggest.h"
#include "top_panel.h"

#define TOP_METER 20

static void top_budgets(top_panel_t *p, const top_data_t *d, bool utf8)
{
    const Llmgw__V1__ListBudgetsResponse *bs = top_data_get(d, TOP_BUDGETS);
    if (!bs) {
        top_panel_line(p, "budgets: %s", top_data_err(d, TOP_BUDGETS));
        return;
    }
    if (!bs->n_budgets)
        top_panel_line(p, "no budgets set (llmgw budget set %s)", utf8 ? "\xe2\x80\xa6" : "...");
    for (size_t i = 0; i < bs->n_budgets; i++) {
        const Llmgw__V1__BudgetStatus *s = bs->budgets[i];
        const Llmgw__V1__Budget *b = s->budget;
        if (!b)
            continue;
        char spent[64], limit[64], pct[400], meter[TOP_METER + 1];
        suggest_usd(s->spent_usd, spent, sizeof(spent));
        suggest_usd(b->limit_usd, limit, sizeof(limit));
        suggest_fixed(s->percent, 1, pct, sizeof(pct));
        int fill = (int)(s->percent / 100 * TOP_METER + 0.5);
        for (int k = 0; k < TOP_METER; k++)
            meter[k] = k < fill ? '#' : '.';
        meter[TOP_METER] = '\0';
        top_panel_line(p, "budget %s (%s%s%s, %s): %s of %s %s %s%% [%s]%s", b->name, b->scope,
                       b->target[0] ? " " : "", b->target, b->period, spent, limit, top_dash(utf8),
                       pct, meter,
                       s->percent >= 100  ? " over"
                       : s->percent >= 80 ? " near"
                                          : "");
    }
}

static void top_scores(top_panel_t *p, const top_data_t *d)
{
    const Llmgw__V1__CostReportResponse *mtd = top_data_get(d, TOP_MTD_PROVIDER);
    const Llmgw__V1__CostReportResponse *by_model = top_data_get(d, TOP_MTD_MODEL);
    const Llmgw__V1__ListRegistryModelsResponse *ms = top_data_get(d, TOP_MODELS);
    char v[400];
    if (mtd) {
        double cost = 0;
        for (size_t i = 0; i < mtd->n_groups; i++)
            cost += mtd->groups[i]->cost_usd;
        suggest_usd(cost, v, sizeof(v));
        top_panel_line(p, "cost, month to date: %s", v);
    } else {
        top_panel_line(p, "cost, month to date: %s", top_data_err(d, TOP_MTD_PROVIDER));
    }
    /* Quality: the registry's score of each model name (averaged over the
     * providers that serve it), weighted by this month's requests. */
    double qn = 0, qs = 0;
    for (size_t i = 0; by_model && i < by_model->n_groups; i++) {
        const Llmgw__V1__CostGroup *r = by_model->groups[i];
        double sum = 0;
        size_t n = 0;
        for (size_t k = 0; ms && k < ms->n_models; k++)
            if (strcmp(ms->models[k]->name, r->group) == 0) {
                sum += ms->models[k]->quality;
                n++;
            }
        if (n) {
            qs += (double)r->requests * sum / (double)n;
            qn += (double)r->requests;
        }
    }
    if (qn)
        suggest_fixed(qs / qn, 2, v, sizeof(v));
    top_panel_line(p, "quality (registry scores x requests): %s", qn ? v : "no requests yet");
    /* Consistency: 1 − the spread of the 5-minute buckets' success rates. */
    double lo = 2, hi = -1;
    for (int k = 0; k < TOP_BUCKETS; k++) {
        const Llmgw__V1__CostReportResponse *b = top_data_get(d, (top_call_t)(TOP_BUCKET0 + k));
        double req = 0, err = 0;
        for (size_t i = 0; b && i < b->n_groups; i++) {
            req += (double)b->groups[i]->requests;
            err += (double)(b->groups[i]->requests - b->groups[i]->ok_requests);
        }
        if (req) {
            double rate = 1 - err / req;
            lo = rate < lo ? rate : lo;
            hi = rate > hi ? rate : hi;
        }
    }
    if (hi >= 0)
        suggest_fixed(1 - (hi - lo), 2, v, sizeof(v));
    top_panel_line(p, "consistency (1 - success-rate spread, last hour): %s",
                   hi >= 0 ? v : "no requests in the last hour");
    const Llmgw__V1__QualityResponse *q = top_data_get(d, TOP_QUALITY);
    if (!q) {
        top_panel_line(p, "ensemble consistency: Quality: %s", top_data_err(d, TOP_QUALITY));
        return;
    }
    char text[TOP_LINE] = "";
    size_t used = 0;
    for (size_t i = 0; i < q->n_models; i++) {
        const Llmgw__V1__ModelQuality *m = q->models[i];
        if (m->consistency_samples <= 0)
            continue;
        suggest_fixed(m->consistency, 2, v, sizeof(v));
        top_append(text, sizeof(text), &used, "%s%s/%s %s (%lld)", used ? ", " : "", m->provider,
                   m->model, v, (long long)m->consistency_samples);
    }
    if (used)
        top_panel_line(p, "ensemble consistency (window): %s", text);
    /* Ensemble savings: the estimated cost of the members ensembles did not
     * run to completion (docs/ensembles.md, "Savings"), as the console. */
    if (q->ensemble_calls) {
        char saved[64], paid[64];
        suggest_usd(q->ensemble_savings_usd, saved, sizeof(saved));
        suggest_usd(q->ensemble_cost_usd, paid, sizeof(paid));
        top_panel_line(
            p,
            "ensemble savings (window, est.): %s over %lld ensemble call%s (paid %s; vs. "
            "running every member to completion)",
            saved, (long long)q->ensemble_calls, q->ensemble_calls == 1 ? "" : "s", paid);
    } else {
        top_panel_line(p, "ensemble savings (window, est.): no ensemble calls in the window");
    }
}

static void top_emit(const char *line, void *ctx)
{
    top_panel_line(ctx, "  %s", line);
}

/* The suggestions' input from the answers; the arrays borrow the answers'
 * strings. */
static void top_suggestions(top_panel_t *p, const top_data_t *d)
{
    const Llmgw__V1__ListRoutesResponse *rs = top_data_get(d, TOP_ROUTES);
    const Llmgw__V1__ListRegistryModelsResponse *ms = top_data_get(d, TOP_MODELS);
    const Llmgw__V1__CostReportResponse *bp = top_data_get(d, TOP_MTD_PROVIDER);
    const Llmgw__V1__CostReportResponse *bm = top_data_get(d, TOP_MTD_MODEL);
    const Llmgw__V1__ListBudgetsResponse *bs = top_data_get(d, TOP_BUDGETS);
    suggest_input_t in = {.now_unix_ms = d->at_ms};
    size_t n_deps = 0;
    for (size_t i = 0; rs && i < rs->n_routes; i++)
        n_deps += rs->routes[i]->n_deployments;
    in.n_routes = rs ? rs->n_routes : 0;
    in.n_prices = ms ? ms->n_models : 0;
    in.n_by_provider = bp ? bp->n_groups : 0;
    in.n_by_model = bm ? bm->n_groups : 0;
    in.n_budgets = bs ? bs->n_budgets : 0;
    suggest_route_t *routes = calloc(in.n_routes + 1, sizeof(*routes));
    suggest_deployment_t *deps = calloc(n_deps + 1, sizeof(*deps));
    suggest_price_t *prices = calloc(in.n_prices + 1, sizeof(*prices));
    suggest_usage_t *byp = calloc(in.n_by_provider + 1, sizeof(*byp));
    suggest_usage_t *bym = calloc(in.n_by_model + 1, sizeof(*bym));
    suggest_budget_t *budgets = calloc(in.n_budgets + 1, sizeof(*budgets));
    if (!routes || !deps || !prices || !byp || !bym || !budgets) {
        top_panel_line(p, "  (out of memory)");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < in.n_routes; i++) {
        const Llmgw__V1__Route *r = rs->routes[i];
        routes[i].name = r->name;
        routes[i].deployments = &deps[k];
        routes[i].n_deployments = r->n_deployments;
        for (size_t j = 0; j < r->n_deployments; j++, k++) {
            deps[k].provider = r->deployments[j]->provider;
            deps[k].model = r->deployments[j]->model;
        }
    }
    for (size_t i = 0; i < in.n_prices; i++)
        prices[i] = (suggest_price_t){ms->models[i]->provider, ms->models[i]->name,
                                      ms->models[i]->input_cost_per_mtok,
                                      ms->models[i]->output_cost_per_mtok};
    for (int which = 0; which < 2; which++) {
        const Llmgw__V1__CostReportResponse *r = which ? bm : bp;
        suggest_usage_t *u = which ? bym : byp;
        for (size_t i = 0; r && i < r->n_groups; i++) {
            const Llmgw__V1__CostGroup *g = r->groups[i];
            u[i] = (suggest_usage_t){
                g->group,         g->requests,          g->requests - g->ok_requests,
                g->prompt_tokens, g->completion_tokens, g->cost_usd};
        }
    }
    size_t nb = 0;
    for (size_t i = 0; i < in.n_budgets; i++) {
        const Llmgw__V1__BudgetStatus *s = bs->budgets[i];
        if (s->budget)
            budgets[nb++] = (suggest_budget_t){s->budget->name, s->budget->limit_usd, s->spent_usd,
                                               s->period_start_unix_ms, s->period_end_unix_ms};
    }
    in.n_budgets = nb;
    in.routes = routes;
    in.prices = prices;
    in.by_provider = byp;
    in.by_model = bym;
    in.budgets = budgets;
    if (suggest_compute(&in, top_emit, p) == 0)
        top_panel_line(p, "  %s", SUGGEST_NONE);
out:
    free(routes);
    free(deps);
    free(prices);
    free(byp);
    free(bym);
    free(budgets);
}

void top_optim(top_panel_t *p, const top_data_t *d, bool utf8)
{
    top_scores(p, d);
    top_budgets(p, d, utf8);
    top_panel_line(p, "suggestions:");
    top_suggestions(p, d);
}
