/* prom: see prom.h.
 *
 * Families are written one at a time (HELP, TYPE, then every sample), as the
 * format requires; a family with no samples still gets its HELP and TYPE.
 * The usage series are walked once per family under usage_stats' lock —
 * cheap next to a scrape interval.
 */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    buf_t *out;
    int rc;
    int family; /* which family the visitor writes */
} prom_ctx_t;

enum {
    PF_REQUESTS,
    PF_DURATION,
    PF_FALLBACKS,
    PF_TOKENS,
    PF_COST,
};

static void prom_check(prom_ctx_t *c, int rc)
{
    if (rc < 0)
        c->rc = -1;
}

/* A label value, escaped: backslash, double quote and newline. */
static void prom_value(prom_ctx_t *c, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            prom_check(c, buf_append_str(c->out, "\\\\"));
        else if (*v == '"')
            prom_check(c, buf_append_str(c->out, "\\\""));
        else if (*v == '\n')
            prom_check(c, buf_append_str(c->out, "\\n"));
        else
            prom_check(c, buf_append_char(c->out, *v));
    }
}

static void prom_label(prom_ctx_t *c, const char *name, const char *value, bool first)
{
    prom_check(c, buf_printf(c->out, "%s%s=\"", first ? "" : ",", name));
    prom_value(c, value);
    prom_check(c, buf_append_char(c->out, '"'));
}

static void prom_head(prom_ctx_t *c, const char *name, const char *type, const char *help)
{
    prom_check(c, buf_printf(c->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type));
}

static void prom_series_labels(prom_ctx_t *c, const usage_series_t *s)
{
    prom_label(c, "route", s->route, true);
    prom_label(c, "provider", s->provider, false);
    prom_label(c, "model", s->model, false);
    prom_label(c, "status", s->status, false);
}

/* A float sample value: Prometheus spells infinity +Inf. */
static void prom_float(prom_ctx_t *c, double v)
{
    if (isinf(v))
        prom_check(c, buf_append_str(c->out, v > 0 ? "+Inf" : "-Inf"));
    else
        prom_check(c, buf_printf(c->out, "%.17g", v));
}

static void prom_usage_one(void *ud, const usage_series_t *s)
{
    prom_ctx_t *c = ud;
    switch (c->family) {
    case PF_REQUESTS:
        prom_check(c, buf_append_str(c->out, "llmgw_requests_total{"));
        prom_series_labels(c, s);
        prom_check(c, buf_printf(c->out, "} %llu\n", (unsigned long long)s->requests));
        break;
    case PF_DURATION:
        for (size_t i = 0; i < USAGE_STATS_N_BUCKETS; i++) {
            prom_check(c, buf_append_str(c->out, "llmgw_request_duration_seconds_bucket{"));
            prom_series_labels(c, s);
            prom_check(c, buf_append_str(c->out, ",le=\""));
            prom_float(c, usage_stats_bucket_s[i]);
            prom_check(c,
                       buf_printf(c->out, "\"} %llu\n", (unsigned long long)s->latency_buckets[i]));
        }
        prom_check(c, buf_append_str(c->out, "llmgw_request_duration_seconds_sum{"));
        prom_series_labels(c, s);
        prom_check(c, buf_append_str(c->out, "} "));
        prom_float(c, s->latency_sum_s);
        prom_check(c, buf_append_str(c->out, "\nllmgw_request_duration_seconds_count{"));
        prom_series_labels(c, s);
        prom_check(c, buf_printf(c->out, "} %llu\n", (unsigned long long)s->requests));
        break;
    case PF_FALLBACKS:
        prom_check(c, buf_append_str(c->out, "llmgw_fallbacks_total{"));
        prom_series_labels(c, s);
        prom_check(c, buf_printf(c->out, "} %llu\n", (unsigned long long)s->fallbacks));
        break;
    case PF_TOKENS:
        for (int k = 0; k < 2; k++) {
            prom_check(c, buf_append_str(c->out, "llmgw_tokens_total{"));
            prom_series_labels(c, s);
            prom_label(c, "type", k ? "completion" : "prompt", false);
            prom_check(
                c, buf_printf(c->out, "} %llu\n",
                              (unsigned long long)(k ? s->completion_tokens : s->prompt_tokens)));
        }
        break;
    case PF_COST:
        prom_check(c, buf_append_str(c->out, "llmgw_cost_usd_total{"));
        prom_series_labels(c, s);
        prom_check(c, buf_append_str(c->out, "} "));
        prom_float(c, s->cost_usd);
        prom_check(c, buf_append_char(c->out, '\n'));
        break;
    default:
        break;
    }
}

static void prom_attempt_one(void *ud, const usage_attempt_series_t *s)
{
    prom_ctx_t *c = ud;
    prom_check(c, buf_append_str(c->out, "llmgw_upstream_attempts_total{"));
    prom_label(c, "provider", s->provider, true);
    prom_label(c, "model", s->model, false);
    prom_label(c, "outcome", s->outcome, false);
    prom_check(c, buf_printf(c->out, "} %llu\n", (unsigned long long)s->count));
}

static void prom_dep_one(void *ud, const metrics_snapshot_t *s)
{
    prom_ctx_t *c = ud;
    static const char *const states[] = {"closed", "open", "half_open"};
    if (c->family == 0) {
        for (int st = 0; st < 3; st++) {
            prom_check(c, buf_append_str(c->out, "llmgw_breaker_state{"));
            prom_label(c, "provider", s->provider, true);
            prom_label(c, "model", s->model, false);
            prom_label(c, "state", states[st], false);
            prom_check(c, buf_printf(c->out, "} %d\n", (int)s->breaker == st ? 1 : 0));
        }
    } else {
        prom_check(c, buf_append_str(c->out, "llmgw_upstream_in_flight{"));
        prom_label(c, "provider", s->provider, true);
        prom_label(c, "model", s->model, false);
        prom_check(c, buf_printf(c->out, "} %d\n", s->in_flight));
    }
}

static void prom_budget_one(void *ud, const budget_lease_info_t *i)
{
    prom_ctx_t *c = ud;
    static const char *const names[] = {"llmgw_budget_soft_crossings_total",
                                        "llmgw_budget_refusals_total", "llmgw_budget_lease_usd",
                                        "llmgw_budget_lease_spent_usd"};
    prom_check(c, buf_printf(c->out, "%s{", names[c->family]));
    prom_label(c, "budget", i->name, true);
    if (c->family == 0 || c->family == 1)
        prom_check(
            c, buf_printf(c->out, "} %llu\n",
                          (unsigned long long)(c->family == 0 ? i->soft_crossings : i->refusals)));
    else
        prom_check(c,
                   buf_printf(c->out, "} %.8f\n", c->family == 2 ? i->granted_usd : i->spent_usd));
}

/* Budgets (budget_lease.h) and usage delivery (usage_log.h), managed mode. */
static void prom_meter(prom_ctx_t *c, const http_gw_view_t *v)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"llmgw_budget_soft_crossings_total", "counter",
         "Soft budgets found crossed (spend past the limit) this period, by budget."},
        {"llmgw_budget_refusals_total", "counter",
         "Requests refused because a hard budget had no lease left, by budget."},
        {"llmgw_budget_lease_usd", "gauge", "US dollars granted by this node's current lease."},
        {"llmgw_budget_lease_spent_usd", "gauge", "US dollars spent of the current lease."},
    };
    for (int f = 0; f < 4; f++) {
        prom_head(c, fams[f].name, fams[f].type, fams[f].help);
        c->family = f;
        budget_lease_foreach(v->leases, prom_budget_one, c);
    }
    usage_log_stats_t st = {0};
    if (v->usage_log)
        usage_log_stats(v->usage_log, &st);
    prom_head(c, "llmgw_usage_records_total", "counter",
              "Usage records: recorded, acknowledged by the control plane, dropped past a bound.");
    prom_check(c, buf_printf(c->out,
                             "llmgw_usage_records_total{state=\"recorded\"} %llu\n"
                             "llmgw_usage_records_total{state=\"acked\"} %llu\n"
                             "llmgw_usage_records_total{state=\"dropped\"} %llu\n",
                             (unsigned long long)st.recorded, (unsigned long long)st.acked,
                             (unsigned long long)st.dropped));
    prom_head(c, "llmgw_usage_batches", "gauge",
              "Usage batches waiting for an ACK (queued), of them on disk (spilled), refused.");
    prom_check(c, buf_printf(c->out,
                             "llmgw_usage_batches{state=\"queued\"} %llu\n"
                             "llmgw_usage_batches{state=\"spilled\"} %llu\n"
                             "llmgw_usage_batches{state=\"rejected\"} %llu\n",
                             (unsigned long long)st.queued, (unsigned long long)st.spilled,
                             (unsigned long long)st.rejected));
}

/* The response cache (cache.h): zeros when there is none. */
static void prom_cache(prom_ctx_t *c, const http_gw_view_t *v)
{
    cache_stats_t st = {0};
    if (v->cache)
        cache_stats(v->cache, &st);
    prom_head(c, "llmgw_cache_lookups_total", "counter",
              "Response cache lookups of requests on caching routes, by result.");
    prom_check(c, buf_printf(c->out,
                             "llmgw_cache_lookups_total{result=\"hit\"} %llu\n"
                             "llmgw_cache_lookups_total{result=\"miss\"} %llu\n",
                             (unsigned long long)st.hits, (unsigned long long)st.misses));
    prom_head(c, "llmgw_cache_removals_total", "counter",
              "Response cache entries removed: evicted for room (lru) or expired (ttl).");
    prom_check(c, buf_printf(c->out,
                             "llmgw_cache_removals_total{reason=\"lru\"} %llu\n"
                             "llmgw_cache_removals_total{reason=\"ttl\"} %llu\n",
                             (unsigned long long)st.evictions, (unsigned long long)st.expirations));
    prom_head(c, "llmgw_cache_stores_total", "counter", "Answers stored in the response cache.");
    prom_check(
        c, buf_printf(c->out, "llmgw_cache_stores_total %llu\n", (unsigned long long)st.stores));
    prom_head(c, "llmgw_cache_entries", "gauge", "Answers held by the response cache.");
    prom_check(c, buf_printf(c->out, "llmgw_cache_entries %zu\n", st.entries));
    prom_head(c, "llmgw_cache_bytes", "gauge",
              "Bytes the response cache holds (entries with overhead) and its cap.");
    prom_check(c, buf_printf(c->out,
                             "llmgw_cache_bytes{kind=\"used\"} %zu\n"
                             "llmgw_cache_bytes{kind=\"max\"} %zu\n",
                             st.bytes, st.max_bytes));
}

int prom_write(const http_gw_view_t *v, buf_t *out)
{
    prom_ctx_t c = {.out = out};
    static const struct {
        int family;
        const char *name, *type, *help;
    } usage_families[] = {
        {PF_REQUESTS, "llmgw_requests_total", "counter",
         "Requests finished, by route, provider, model and status."},
        {PF_DURATION, "llmgw_request_duration_seconds", "histogram",
         "Request latency from pipeline start to the answer, in seconds."},
        {PF_FALLBACKS, "llmgw_fallbacks_total", "counter",
         "Fallbacks: upstream attempts beyond the first, by the request's labels."},
        {PF_TOKENS, "llmgw_tokens_total", "counter", "Tokens reported by providers, by type."},
        {PF_COST, "llmgw_cost_usd_total", "counter", "Cost of answered requests in US dollars."},
    };
    for (size_t i = 0; i < sizeof(usage_families) / sizeof(usage_families[0]); i++) {
        prom_head(&c, usage_families[i].name, usage_families[i].type, usage_families[i].help);
        c.family = usage_families[i].family;
        if (v->stats)
            usage_stats_foreach(v->stats, prom_usage_one, &c);
    }
    prom_head(&c, "llmgw_upstream_attempts_total", "counter",
              "Upstream attempts, by provider, model and outcome (ok or the error class).");
    if (v->stats)
        usage_stats_foreach_attempt(v->stats, prom_attempt_one, &c);

    prom_head(&c, "llmgw_in_flight_requests", "gauge", "Requests in the pipeline now.");
    prom_check(&c, buf_printf(out, "llmgw_in_flight_requests %lld\n",
                              (long long)(v->stats ? usage_stats_in_flight(v->stats) : 0)));
    prom_head(&c, "llmgw_upstream_requests_in_flight", "gauge",
              "HTTP requests to providers in flight in the upstream engine.");
    long upstream_in_flight_n = 0;
    for (size_t i = 0; i < v->n_engines; i++)
        upstream_in_flight_n += upstream_in_flight(v->engines[i]);
    prom_check(&c,
               buf_printf(out, "llmgw_upstream_requests_in_flight %ld\n", upstream_in_flight_n));
    prom_head(&c, "llmgw_table_version", "gauge", "Version of the routing table in use.");
    prom_check(&c,
               buf_printf(out, "llmgw_table_version %lld\n", (long long)table_version(v->table)));

    prom_head(&c, "llmgw_breaker_state", "gauge",
              "Circuit breaker state per deployment: 1 for the current state.");
    c.family = 0;
    if (v->metrics)
        metrics_snapshot_all(v->metrics, prom_dep_one, &c);
    prom_head(&c, "llmgw_upstream_in_flight", "gauge", "Attempts in flight per deployment.");
    c.family = 1;
    if (v->metrics)
        metrics_snapshot_all(v->metrics, prom_dep_one, &c);

    prom_head(&c, "llmgw_provider_up", "gauge",
              "1 when the provider is not known to be down (active probe and passive health).");
    for (size_t i = 0; i < table_n_providers(v->table); i++) {
        const char *name = table_provider_at(v->table, i)->name;
        metrics_provider_snapshot_t ps = {.health = METRICS_HEALTH_UNKNOWN};
        if (v->metrics)
            metrics_provider_snapshot(v->metrics, name, &ps);
        prom_check(&c, buf_append_str(out, "llmgw_provider_up{"));
        prom_label(&c, "provider", name, true);
        prom_label(&c, "health", metrics_health_name(ps.health), false);
        prom_check(&c, buf_printf(out, "} %d\n", ps.health != METRICS_HEALTH_DOWN));
    }
    prom_meter(&c, v);
    prom_cache(&c, v);
    return c.rc;
}
