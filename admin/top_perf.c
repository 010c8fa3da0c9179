/* top_perf: the Performance Analytics panel over the window — throughput
 * (the fleet's requests per second now, on average and at the peak, a bar
 * per minute for the last 30 minutes, and each deployment's rate), latency
 * (p50 / p99 and TTFT p50 from the fleet's merged histograms), success and
 * tokens/s per deployment, and cost per provider (the window's, its share,
 * per 1000 successful requests, and the month's, as the console charts).
 */
#include <stdio.h>
#include <string.h>

#include "top_panel.h"

#define TOP_SPARK_MINUTES 30

static void top_throughput(top_panel_t *p, const Llmgw__V1__ThroughputResponse *r)
{
    char peak_at[16] = "-";
    if (r->peak_unix_ms)
        top_hms(r->peak_unix_ms, peak_at, sizeof(peak_at));
    top_panel_line(
        p, "requests %lld  current %.2f req/s  average %.3f req/s  peak %.2f req/s at %s",
        (long long)r->total_requests, r->current_rps, r->average_rps, r->peak_rps, peak_at);
    /* The last minutes as a bar per minute, oldest left. */
    static const char levels[] = " .:-=+*#%@";
    double max = 0;
    for (size_t i = 0; i < r->n_points; i++)
        if (r->points[i]->requests_per_s > max)
            max = r->points[i]->requests_per_s;
    char spark[TOP_SPARK_MINUTES + 1];
    int64_t end = r->until_unix_ms - r->until_unix_ms % 60000;
    for (int k = 0; k < TOP_SPARK_MINUTES; k++) {
        int64_t minute = end - (int64_t)(TOP_SPARK_MINUTES - 1 - k) * 60000;
        double v = 0;
        for (size_t i = 0; i < r->n_points; i++)
            if (r->points[i]->unix_ms == minute)
                v = r->points[i]->requests_per_s;
        int lv = max > 0 ? (int)(v / max * 9 + 0.999) : 0;
        spark[k] = levels[lv < 0 ? 0 : lv > 9 ? 9 : lv];
    }
    spark[TOP_SPARK_MINUTES] = '\0';
    top_panel_line(p, "last %d min [%s]", TOP_SPARK_MINUTES, spark);
}

static void top_deployments(top_panel_t *p, const Llmgw__V1__ProviderPerformanceResponse *r,
                            double window_s)
{
    top_panel_line(p, "%-28s %8s %7s %8s %8s %8s %8s %7s %7s", "DEPLOYMENT", "ATTEMPTS", "SUCCESS",
                   "P50 MS", "P99 MS", "TTFT P50", "REQ/S", "TOK/S", "BREAKER");
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__DeploymentPerformance *d = r->deployments[i];
        char dep[160];
        snprintf(dep, sizeof(dep), "%s/%s", d->provider, d->model);
        top_panel_line(p, "%-28.28s %8lld %6.1f%% %8.1f %8.1f %8.1f %8.3f %7.1f %7lld", dep,
                       (long long)d->attempts, d->success_rate * 100, d->latency_p50_ms,
                       d->latency_p99_ms, d->ttft_p50_ms,
                       window_s > 0 ? (double)d->requests / window_s : 0.0, d->tokens_per_s,
                       (long long)d->breaker_opened);
    }
    if (r->n_deployments == 0)
        top_panel_line(p, "(no traffic in the window)");
}

static void top_cost(top_panel_t *p, const Llmgw__V1__CostReportResponse *r,
                     const Llmgw__V1__CostReportResponse *mtd)
{
    top_panel_line(p, "%-20s %9s %14s %7s %12s %14s", "PROVIDER", "REQUESTS", "COST", "SHARE",
                   "COST/1K OK", "COST (MTD)");
    for (size_t i = 0; i < r->n_groups; i++) {
        const Llmgw__V1__CostGroup *g = r->groups[i];
        const Llmgw__V1__CostGroup *m = top_cost_group(mtd, g->group);
        top_panel_line(p, "%-20.20s %9lld %14.6f %6.1f%% %12.4f %14.6f",
                       g->group[0] ? g->group : "(none)", (long long)g->requests, g->cost_usd,
                       g->share * 100, g->cost_per_1k_ok_usd, m ? m->cost_usd : 0.0);
    }
    if (r->total)
        top_panel_line(p, "%-20s %9lld %14.6f %6.1f%% %12.4f %14.6f", "TOTAL",
                       (long long)r->total->requests, r->total->cost_usd,
                       r->total->cost_usd > 0 ? 100.0 : 0.0, r->total->cost_per_1k_ok_usd,
                       mtd && mtd->total ? mtd->total->cost_usd : 0.0);
}

void top_perf(top_panel_t *p, const top_data_t *d)
{
    const Llmgw__V1__ThroughputResponse *tr = top_data_get(d, TOP_THROUGHPUT);
    const Llmgw__V1__ProviderPerformanceResponse *pr = top_data_get(d, TOP_PERF);
    const Llmgw__V1__CostReportResponse *cost = top_data_get(d, TOP_COST);
    if (tr)
        top_throughput(p, tr);
    else
        top_panel_line(p, "throughput: %s", top_data_err(d, TOP_THROUGHPUT));
    if (pr)
        top_deployments(p, pr, (double)(pr->until_unix_ms - pr->since_unix_ms) / 1000.0);
    else
        top_panel_line(p, "performance: %s", top_data_err(d, TOP_PERF));
    if (cost)
        top_cost(p, cost, top_data_get(d, TOP_MTD_PROVIDER));
    else
        top_panel_line(p, "cost: %s", top_data_err(d, TOP_COST));
}
