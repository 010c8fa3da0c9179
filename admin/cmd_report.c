/* cmd_report: `llmgw report cost` and `llmgw report providers` — the
 * fleet's spend (AnalyticsService.CostReport, from the stored usage) and the
 * providers' performance (AnalyticsService.ProviderPerformance, from the
 * merged metric snapshots), as an aligned table, CSV or JSON.
 *
 * Times are UTC: RFC 3339 ("2026-12-03T10:00:00Z"), a date ("2026-12-03"),
 * Unix milliseconds, or a span back from now ("90m", "24h", "7d"); the CLI
 * sends RFC 3339, and the control plane checks the window again.
 */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmgw/v1/analytics.pb-c.h"
#include "timefmt.h"

#define REPORT_CMD "llmgw report"

static const char report_usage[] =
    "usage: llmgw report cost --by provider|model|route|team|key [--since T] [--until T]\n"
    "                         [--daily] [--format table|csv|json] [flags]\n"
    "       llmgw report providers [--since T] [--until T] [--provider P]\n"
    "                         [--format table|csv|json] [flags]\n"
    "\n"
    "cost: spend over [since, until) grouped by provider, model, route, team or\n"
    "API key, highest first, with each group's share of the total, its cost per\n"
    "1000 successful requests and the share of a budget on it; --daily adds one\n"
    "row per UTC day. providers: p50/p90/p99 latency and time to first token\n"
    "(from the fleet's merged histograms, within 1.6 %), tokens/s, success rate,\n"
    "availability, errors and breaker openings per deployment.\n"
    "T: RFC 3339 (2026-12-03T10:00:00Z), YYYY-MM-DD, Unix ms, or a span back from\n"
    "now: 90m, 24h, 7d. --since defaults to an hour before --until, --until to now.\n"
    "\n"
    "flags:\n"
    "  --by G               cost: provider, model, route, team or key (required)\n"
    "  --since T, --until T the window\n"
    "  --daily              cost: one row per group and day\n"
    "  --provider P         providers: only P's deployments\n"
    "  --format F           table (default), csv or json (same as --output json)\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

typedef struct {
    ctl_opts_t ctl;
    const char *verb, *by, *format, *provider;
    bool daily, csv;
    int64_t since, until; /* 0: not given */
} report_opts_t;

/* Unix ms of text; -1 after a message naming the flag. */
static int64_t report_parse_time(const char *flag, const char *text)
{
    size_t n = strlen(text);
    char err[160];
    int64_t v = 0;
    if (n > 1 && strchr("mhd", text[n - 1]) && strspn(text, "0123456789") == n - 1) {
        long long k = strtoll(text, NULL, 10);
        if (k <= 100LL * 365 * 24 * 60) {
            long long unit = text[n - 1] == 'm'   ? 60000LL
                             : text[n - 1] == 'h' ? 3600000LL
                                                  : 86400000LL;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t t = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - k * unit;
            if (t >= 0)
                return t;
        }
    } else if (timefmt_parse(text, &v, err, sizeof(err)) == 0) {
        return v;
    }
    cmd_usage_error(REPORT_CMD,
                    "%s: expected an RFC 3339 time (2026-12-03T10:00:00Z), YYYY-MM-DD, Unix ms or "
                    "a span like 24h, got '%s'",
                    flag, text);
    return -1;
}

static bool report_one_of(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return true;
    return false;
}

static int report_parse(int argc, char **argv, report_opts_t *o)
{
    static const char *const bys[] = {"provider", "model", "route", "team", "key"};
    static const char *const formats[] = {"table", "csv", "json"};
    cmd_args_t a;
    const char *v;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    cmd_args_init(&a, REPORT_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (o->verb)
                return cmd_usage_error(REPORT_CMD, "unexpected argument '%s'", a.value), -1;
            o->verb = a.value;
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(report_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--by")) {
            if (!(o->by = cmd_args_value(&a)))
                return -1;
            if (!report_one_of(o->by, bys, 5))
                return cmd_usage_error(REPORT_CMD,
                                       "--by: expected one of provider, model, route, team, key, "
                                       "got '%s'",
                                       o->by),
                       -1;
        } else if (cmd_args_is(&a, "--since") || cmd_args_is(&a, "--until")) {
            bool since = cmd_args_is(&a, "--since");
            int64_t t;
            if (!(v = cmd_args_value(&a)) ||
                (t = report_parse_time(since ? "--since" : "--until", v)) < 0)
                return -1;
            *(since ? &o->since : &o->until) = t > 0 ? t : 1;
        } else if (cmd_args_is(&a, "--format")) {
            if (!(o->format = cmd_args_value(&a)))
                return -1;
            if (!report_one_of(o->format, formats, 3))
                return cmd_usage_error(REPORT_CMD,
                                       "--format: expected table, csv or json, got '%s'",
                                       o->format),
                       -1;
        } else if (cmd_args_is(&a, "--daily")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->daily = true;
        } else if (cmd_args_is(&a, "--provider")) {
            if (!(o->provider = cmd_args_value(&a)))
                return -1;
        } else {
            if ((common = ctl_common_flag(REPORT_CMD, &a, &o->ctl)) < 0)
                return -1;
            if (common == 0)
                return cmd_usage_error(REPORT_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                       a.name),
                       -1;
        }
    }
    if (!o->verb)
        return cmd_usage_error(REPORT_CMD, "expected a report: cost or providers"), -1;
    bool cost = strcmp(o->verb, "cost") == 0;
    if (!cost && strcmp(o->verb, "providers") != 0)
        return cmd_usage_error(REPORT_CMD, "unknown report '%s' (expected cost or providers)",
                               o->verb),
               -1;
    if (cost && !o->by)
        return cmd_usage_error(REPORT_CMD, "cost: --by: required"), -1;
    if (!cost && (o->by || o->daily))
        return cmd_usage_error(REPORT_CMD, "providers: %s applies to the cost report only",
                               o->by ? "--by" : "--daily"),
               -1;
    if (cost && o->provider)
        return cmd_usage_error(REPORT_CMD, "cost: --provider applies to the providers report only"),
               -1;
    if (o->since && o->until && o->until <= o->since)
        return cmd_usage_error(REPORT_CMD, "--until: must be after --since"), -1;
    if (o->format && strcmp(o->format, "json") == 0)
        o->ctl.json = true;
    o->csv = o->format && strcmp(o->format, "csv") == 0;
    return ctl_opts_finish(REPORT_CMD, &o->ctl);
}

/* --- cost ------------------------------------------------------------------------ */

static void report_cost_csv(const report_opts_t *o, const Llmgw__V1__CostReportResponse *r)
{
    if (o->daily) {
        printf("day,%s,requests,ok_requests,prompt_tokens,completion_tokens,cost_usd\n", o->by);
        for (size_t i = 0; i < r->n_groups; i++)
            for (size_t k = 0; k < r->groups[i]->n_days; k++) {
                const Llmgw__V1__CostDay *d = r->groups[i]->days[k];
                printf("%s,", d->day);
                cmd_csv_field(stdout, r->groups[i]->group);
                printf(",%lld,%lld,%lld,%lld,%.6f\n", (long long)d->requests,
                       (long long)d->ok_requests, (long long)d->prompt_tokens,
                       (long long)d->completion_tokens, d->cost_usd);
            }
        return;
    }
    printf("%s,requests,ok_requests,prompt_tokens,completion_tokens,cost_usd,share,"
           "cost_per_1k_ok_usd,budget,budget_share\n",
           o->by);
    for (size_t i = 0; i < r->n_groups; i++) {
        const Llmgw__V1__CostGroup *g = r->groups[i];
        cmd_csv_field(stdout, g->group);
        printf(",%lld,%lld,%lld,%lld,%.6f,%.6f,%.6f,", (long long)g->requests,
               (long long)g->ok_requests, (long long)g->prompt_tokens,
               (long long)g->completion_tokens, g->cost_usd, g->share, g->cost_per_1k_ok_usd);
        cmd_csv_field(stdout, g->budget);
        printf(",%.6f\n", g->budget_share);
    }
}

static int report_cost_row(ctl_table_t *t, const char *day, const char *group,
                           const Llmgw__V1__CostGroup *g, const Llmgw__V1__CostDay *d)
{
    char req[24], ok[24], pt[24], ct[24], cost[32], share[16] = "", per1k[32] = "", budget[96] = "";
    snprintf(req, sizeof(req), "%lld", (long long)(g ? g->requests : d->requests));
    snprintf(ok, sizeof(ok), "%lld", (long long)(g ? g->ok_requests : d->ok_requests));
    snprintf(pt, sizeof(pt), "%lld", (long long)(g ? g->prompt_tokens : d->prompt_tokens));
    snprintf(ct, sizeof(ct), "%lld", (long long)(g ? g->completion_tokens : d->completion_tokens));
    snprintf(cost, sizeof(cost), "$%.6f", g ? g->cost_usd : d->cost_usd);
    if (g) {
        snprintf(share, sizeof(share), "%.1f%%", g->share * 100);
        snprintf(per1k, sizeof(per1k), "$%.4f", g->cost_per_1k_ok_usd);
        if (g->budget[0])
            snprintf(budget, sizeof(budget), "%s %.1f%%", g->budget, g->budget_share * 100);
    }
    const char *cells[] = {day, group, req, ok, pt, ct, cost, share, per1k, budget};
    return ctl_table_row(t, day ? cells : cells + 1);
}

static int report_cost_table(const report_opts_t *o, const Llmgw__V1__CostReportResponse *r)
{
    char title[16];
    snprintf(title, sizeof(title), "%s", o->by);
    for (char *p = title; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    const char *titles[] = {
        "DAY",  title,   "REQUESTS",   "OK",    "PROMPT TOKENS", "COMPLETION TOKENS",
        "COST", "SHARE", "COST/1K OK", "BUDGET"};
    size_t n = o->daily ? 10 : 9;
    ctl_table_t *t = ctl_table_new(n, o->daily ? titles : titles + 1);
    int rc = t ? 0 : -1;
    for (size_t i = 0; i < r->n_groups && rc == 0; i++) {
        const Llmgw__V1__CostGroup *g = r->groups[i];
        const char *name = g->group[0] ? g->group : "(none)";
        if (o->daily) {
            for (size_t k = 0; k < g->n_days && rc == 0; k++)
                rc = report_cost_row(t, g->days[k]->day, name, NULL, g->days[k]);
            if (rc == 0)
                rc = report_cost_row(t, "all", name, g, NULL);
        } else {
            rc = report_cost_row(t, NULL, name, g, NULL);
        }
    }
    if (rc == 0 && r->total)
        rc = report_cost_row(t, o->daily ? "all" : NULL, "TOTAL", r->total, NULL);
    if (rc == 0)
        ctl_table_print(t);
    else
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(t);
    return rc == 0 ? CMD_EXIT_OK : CMD_EXIT_RPC;
}

/* --- providers ------------------------------------------------------------------------ */

static void report_providers_csv(const Llmgw__V1__ProviderPerformanceResponse *r)
{
    printf("provider,model,attempts,successes,success_rate,availability,latency_p50_ms,"
           "latency_p90_ms,latency_p99_ms,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,tokens_per_s,"
           "errors_connect,errors_timeout,errors_rate_limit,errors_server,errors_bad_response,"
           "errors_other,requests,breaker_opened\n");
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__DeploymentPerformance *d = r->deployments[i];
        cmd_csv_field(stdout, d->provider);
        putchar(',');
        cmd_csv_field(stdout, d->model);
        printf(",%lld,%lld,%.6f,%.6f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%lld,%lld,%lld,%lld,%lld,"
               "%lld,%lld,%lld\n",
               (long long)d->attempts, (long long)d->successes, d->success_rate, d->availability,
               d->latency_p50_ms, d->latency_p90_ms, d->latency_p99_ms, d->ttft_p50_ms,
               d->ttft_p90_ms, d->ttft_p99_ms, d->tokens_per_s, (long long)d->errors_connect,
               (long long)d->errors_timeout, (long long)d->errors_rate_limit,
               (long long)d->errors_server, (long long)d->errors_bad_response,
               (long long)d->errors_other, (long long)d->requests, (long long)d->breaker_opened);
    }
}

static int report_providers_table(const Llmgw__V1__ProviderPerformanceResponse *r)
{
    const char *titles[] = {"DEPLOYMENT", "ATTEMPTS", "SUCCESS", "AVAIL",
                            "P50 MS",     "P90 MS",   "P99 MS",  "TTFT P50",
                            "TTFT P99",   "TOK/S",    "ERRORS",  "BREAKER OPENS"};
    ctl_table_t *t = ctl_table_new(12, titles);
    int rc = t ? 0 : -1;
    for (size_t i = 0; i < r->n_deployments && rc == 0; i++) {
        const Llmgw__V1__DeploymentPerformance *d = r->deployments[i];
        char dep[256], att[24], ok[16], av[16], p50[24], p90[24], p99[24], t50[24], t99[24],
            tps[24], errs[160], br[24];
        snprintf(dep, sizeof(dep), "%s/%s", d->provider, d->model);
        snprintf(att, sizeof(att), "%lld", (long long)d->attempts);
        snprintf(ok, sizeof(ok), "%.1f%%", d->success_rate * 100);
        snprintf(av, sizeof(av), "%.1f%%", d->availability * 100);
        snprintf(p50, sizeof(p50), "%.1f", d->latency_p50_ms);
        snprintf(p90, sizeof(p90), "%.1f", d->latency_p90_ms);
        snprintf(p99, sizeof(p99), "%.1f", d->latency_p99_ms);
        snprintf(t50, sizeof(t50), "%.1f", d->ttft_p50_ms);
        snprintf(t99, sizeof(t99), "%.1f", d->ttft_p99_ms);
        snprintf(tps, sizeof(tps), "%.1f", d->tokens_per_s);
        snprintf(br, sizeof(br), "%lld", (long long)d->breaker_opened);
        errs[0] = '\0';
        const struct {
            const char *name;
            int64_t n;
        } classes[] = {{"connect", d->errors_connect},           {"timeout", d->errors_timeout},
                       {"rate_limit", d->errors_rate_limit},     {"server", d->errors_server},
                       {"bad_response", d->errors_bad_response}, {"other", d->errors_other}};
        size_t used = 0;
        for (size_t k = 0; k < 6; k++)
            if (classes[k].n && used < sizeof(errs))
                used += (size_t)snprintf(errs + used, sizeof(errs) - used, "%s%s=%lld",
                                         used ? " " : "", classes[k].name, (long long)classes[k].n);
        const char *cells[] = {dep, att, ok, av, p50, p90, p99, t50, t99, tps, errs[0] ? errs : "-",
                               br};
        rc = ctl_table_row(t, cells);
    }
    if (rc == 0)
        ctl_table_print(t);
    else
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(t);
    return rc == 0 ? CMD_EXIT_OK : CMD_EXIT_RPC;
}

int cmd_report(int argc, char **argv)
{
    report_opts_t o;
    ProtobufCMessage *resp = NULL;
    int pr = report_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    char since[40] = "", until[40] = "";
    if (o.since)
        timefmt_rfc3339(o.since, since, sizeof(since));
    if (o.until)
        timefmt_rfc3339(o.until, until, sizeof(until));
    int rc;
    bool cost = strcmp(o.verb, "cost") == 0;
    if (cost) {
        Llmgw__V1__CostReportRequest req = LLMGW__V1__COST_REPORT_REQUEST__INIT;
        req.since = since;
        req.until = until;
        req.group_by = (char *)o.by;
        rc = ctl_call(&o.ctl, "/llmgw.v1.AnalyticsService/CostReport", &req.base,
                      &llmgw__v1__cost_report_response__descriptor, &resp);
    } else {
        Llmgw__V1__ProviderPerformanceRequest req = LLMGW__V1__PROVIDER_PERFORMANCE_REQUEST__INIT;
        req.since = since;
        req.until = until;
        req.provider = o.provider ? (char *)o.provider : "";
        rc = ctl_call(&o.ctl, "/llmgw.v1.AnalyticsService/ProviderPerformance", &req.base,
                      &llmgw__v1__provider_performance_response__descriptor, &resp);
    }
    if (rc != CMD_EXIT_OK)
        return rc;
    if (o.ctl.json) {
        rc = ctl_print_json(resp);
    } else if (cost) {
        if (o.csv)
            report_cost_csv(&o, (const void *)resp);
        else
            rc = report_cost_table(&o, (const void *)resp);
    } else {
        if (o.csv)
            report_providers_csv((const void *)resp);
        else
            rc = report_providers_table((const void *)resp);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
