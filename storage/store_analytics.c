/* store_analytics: merged metrics and the analytics reads. See
 * store_analytics.h.
 *
 * Histograms travel to SQL as jsonb text {"bucket": count} built here from a
 * snapshot's sparse arrays (a parameter, never spliced into SQL), and come
 * back as the text of lathist_sum(...) over the window, parsed with jansson
 * into a lathist_t for the percentiles. */
#include "store_analytics.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lathist.h"
#include "utf8.h"

#define SA_WINDOW                                                                                  \
    " ts >= to_timestamp($1::bigint / 1000.0) AND ts < to_timestamp($2::bigint / 1000.0)"
#define SA_COLS                                                                                    \
    "attempts, successes, errors_connect, errors_timeout, errors_rate_limit, errors_server,"       \
    " errors_bad_response, errors_other, latency, ttft, output_tokens, generation_us, requests,"   \
    " requests_ok, fallbacks, prompt_tokens, completion_tokens, cost_usd, breaker_opened,"         \
    " consistency_samples, consistency_agreed, ensemble_calls, ensemble_cost_usd,"                 \
    " ensemble_savings_usd"
#define SA_ADD(T, c) " " c " = " T "." c " + EXCLUDED." c
/* Kept by hand: clang-format cannot lay out this concatenation readably. */
// clang-format off
#define SA_SET(T)                                                                                  \
    SA_ADD(T, "attempts") "," SA_ADD(T, "successes") "," SA_ADD(T, "errors_connect") ","          \
    SA_ADD(T, "errors_timeout") "," SA_ADD(T, "errors_rate_limit") ","                             \
    SA_ADD(T, "errors_server") "," SA_ADD(T, "errors_bad_response") ","                            \
    SA_ADD(T, "errors_other") ","                                                                  \
    " latency = lathist_merge(" T ".latency, EXCLUDED.latency),"                                   \
    " ttft = lathist_merge(" T ".ttft, EXCLUDED.ttft),"                                            \
    SA_ADD(T, "output_tokens") "," SA_ADD(T, "generation_us") "," SA_ADD(T, "requests") ","       \
    SA_ADD(T, "requests_ok") "," SA_ADD(T, "fallbacks") "," SA_ADD(T, "prompt_tokens") ","        \
    SA_ADD(T, "completion_tokens") "," SA_ADD(T, "cost_usd") "," SA_ADD(T, "breaker_opened") ","  \
    SA_ADD(T, "consistency_samples") "," SA_ADD(T, "consistency_agreed") ","                       \
    SA_ADD(T, "ensemble_calls") "," SA_ADD(T, "ensemble_cost_usd") ","                             \
    SA_ADD(T, "ensemble_savings_usd")
// clang-format on
#define SA_SUMS                                                                                    \
    "sum(attempts), sum(successes), sum(errors_connect), sum(errors_timeout),"                     \
    " sum(errors_rate_limit), sum(errors_server), sum(errors_bad_response), sum(errors_other),"    \
    " lathist_sum(latency), lathist_sum(ttft), sum(output_tokens), sum(generation_us),"            \
    " sum(requests), sum(requests_ok), sum(fallbacks), sum(prompt_tokens),"                        \
    " sum(completion_tokens), sum(cost_usd), sum(breaker_opened), sum(consistency_samples),"       \
    " sum(consistency_agreed), sum(ensemble_calls), sum(ensemble_cost_usd),"                       \
    " sum(ensemble_savings_usd)"
#define SA_HOUR "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
#define SA_COST_SQL(col)                                                                           \
    "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, " col " AS grp,"                  \
    " count(*) AS requests, count(*) FILTER (WHERE status = 0) AS ok_requests,"                    \
    " coalesce(sum(prompt_tokens), 0) AS prompt_tokens,"                                           \
    " coalesce(sum(completion_tokens), 0) AS completion_tokens,"                                   \
    " coalesce(sum(cost_usd), 0) AS cost_usd FROM usage_events WHERE" SA_WINDOW                    \
    " GROUP BY grp, day ORDER BY grp, day"
/* The maintenance lock: one replica rolls up at a time. */
#define SA_MAINT_LOCK "7369009"

const store_stmt_t store_analytics_stmts[] = {
    /* A batch's snapshots in one statement each ($1: a jsonb array, see
     * sa_merge_json), merged in key order and summed per key first. */
    {"analytics_merge_metrics",
     "INSERT INTO metrics_minute (ts, provider, model, route, " SA_COLS ")"
     " SELECT to_timestamp(m / 1000.0), p, mo, r, " SA_SUMS
     " FROM jsonb_to_recordset($1::jsonb) AS x(m bigint, p text, mo text, r text,"
     " attempts bigint, successes bigint, errors_connect bigint, errors_timeout bigint,"
     " errors_rate_limit bigint, errors_server bigint, errors_bad_response bigint,"
     " errors_other bigint, latency jsonb, ttft jsonb, output_tokens bigint, generation_us bigint,"
     " requests bigint, requests_ok bigint, fallbacks bigint, prompt_tokens bigint,"
     " completion_tokens bigint, cost_usd float8, breaker_opened bigint,"
     " consistency_samples bigint, consistency_agreed bigint, ensemble_calls bigint,"
     " ensemble_cost_usd float8, ensemble_savings_usd float8)"
     " GROUP BY m, p, mo, r ORDER BY m, p, mo, r"
     " ON CONFLICT (ts, provider, model, route) DO UPDATE SET" SA_SET("metrics_minute"),
     1},
    {"analytics_merge_decisions",
     "INSERT INTO routing_decisions_minute (ts, route, strategy, provider, model, reason, count)"
     " SELECT to_timestamp(m / 1000.0), r, s, p, mo, re, sum(n)"
     " FROM jsonb_to_recordset($1::jsonb) AS x(m bigint, r text, s text, p text, mo text, re text,"
     " n bigint) GROUP BY m, r, s, p, mo, re ORDER BY m, r, s, p, mo, re"
     " ON CONFLICT (ts, route, strategy, provider, model, reason)"
     " DO UPDATE SET count = routing_decisions_minute.count + EXCLUDED.count",
     1},
    {"analytics_maint_lock", "SELECT pg_try_advisory_xact_lock(" SA_MAINT_LOCK ") AS got", 0},
    {"analytics_rollup_metrics",
     "WITH moved AS (DELETE FROM metrics_minute WHERE ts < to_timestamp($1::bigint / 1000.0)"
     " RETURNING *) INSERT INTO metrics_hour (ts, provider, model, route, " SA_COLS ")"
     " SELECT " SA_HOUR ", provider, model, route, " SA_SUMS " FROM moved GROUP BY 1, 2, 3, 4"
     " ON CONFLICT (ts, provider, model, route) DO UPDATE SET" SA_SET("metrics_hour"),
     1},
    {"analytics_rollup_decisions",
     "WITH moved AS (DELETE FROM routing_decisions_minute"
     " WHERE ts < to_timestamp($1::bigint / 1000.0) RETURNING *)"
     " INSERT INTO routing_decisions_hour (ts, route, strategy, provider, model, reason, count)"
     " SELECT " SA_HOUR ", route, strategy, provider, model, reason, sum(count) FROM moved"
     " GROUP BY 1, 2, 3, 4, 5, 6 ON CONFLICT (ts, route, strategy, provider, model, reason)"
     " DO UPDATE SET count = routing_decisions_hour.count + EXCLUDED.count",
     1},
    {"analytics_expire_minute",
     "DELETE FROM metrics_minute WHERE ts < to_timestamp($1::bigint / 1000.0)", 1},
    {"analytics_expire_hour",
     "DELETE FROM metrics_hour WHERE ts < to_timestamp($1::bigint / 1000.0)", 1},
    {"analytics_expire_dec_minute",
     "DELETE FROM routing_decisions_minute WHERE ts < to_timestamp($1::bigint / 1000.0)", 1},
    {"analytics_expire_dec_hour",
     "DELETE FROM routing_decisions_hour WHERE ts < to_timestamp($1::bigint / 1000.0)", 1},
    {"analytics_performance",
     "SELECT provider, model, sum(attempts) AS attempts, sum(successes) AS successes,"
     " sum(errors_connect) AS errors_connect, sum(errors_timeout) AS errors_timeout,"
     " sum(errors_rate_limit) AS errors_rate_limit, sum(errors_server) AS errors_server,"
     " sum(errors_bad_response) AS errors_bad_response, sum(errors_other) AS errors_other,"
     " lathist_sum(latency)::text AS latency, lathist_sum(ttft)::text AS ttft,"
     " sum(output_tokens) AS output_tokens, sum(generation_us) AS generation_us,"
     " sum(requests) AS requests, sum(breaker_opened) AS breaker_opened,"
     " count(DISTINCT ts) FILTER (WHERE attempts > errors_other) AS observed,"
     " count(DISTINCT ts) FILTER (WHERE successes > 0) AS up"
     " FROM metrics_all WHERE" SA_WINDOW " AND provider <> '' AND ($3 = '' OR provider = $3)"
     " GROUP BY provider, model ORDER BY provider, model",
     3},
    {"analytics_cost_provider", SA_COST_SQL("provider"), 2},
    {"analytics_cost_model", SA_COST_SQL("model"), 2},
    {"analytics_cost_route", SA_COST_SQL("route"), 2},
    {"analytics_cost_team", SA_COST_SQL("team"), 2},
    {"analytics_cost_key", SA_COST_SQL("api_key"), 2},
    {"analytics_budgets",
     "SELECT name, scope, coalesce(team, api_key, provider, '') AS target,"
     " limit_usd::float8 AS limit_usd FROM budgets ORDER BY name",
     0},
    {"analytics_decisions",
     "SELECT route, strategy, provider, model, reason, sum(count) AS count"
     " FROM routing_decisions_all WHERE" SA_WINDOW " AND ($3 = '' OR route = $3)"
     " GROUP BY route, strategy, provider, model, reason"
     " ORDER BY count DESC, route, strategy, provider, model, reason",
     3},
    {"analytics_deployment_routing",
     "SELECT provider, model, sum(fallbacks) AS fallbacks, sum(breaker_opened) AS breaker_opened"
     " FROM metrics_all WHERE" SA_WINDOW " AND provider <> '' AND ($3 = '' OR route = $3)"
     " GROUP BY provider, model",
     3},
    {"analytics_quality",
     "SELECT coalesce(m.provider, x.provider) AS provider, coalesce(m.name, x.model) AS model,"
     " coalesce(m.quality, 0) AS quality, coalesce(x.samples, 0) AS samples,"
     " coalesce(x.agreed, 0) AS agreed, coalesce(x.ok, 0) AS ok, coalesce(x.results, 0) AS results,"
     " coalesce(x.attempts, 0) AS attempts, coalesce(x.ens_calls, 0) AS ens_calls,"
     " coalesce(x.ens_cost, 0) AS ens_cost, coalesce(x.ens_saved, 0) AS ens_saved"
     " FROM models m FULL JOIN"
     " (SELECT provider, model, sum(consistency_samples) AS samples,"
     " sum(consistency_agreed) AS agreed, sum(successes) AS ok,"
     " sum(attempts - errors_other) AS results, sum(attempts) AS attempts,"
     " sum(ensemble_calls) AS ens_calls, sum(ensemble_cost_usd) AS ens_cost,"
     " sum(ensemble_savings_usd) AS ens_saved"
     " FROM metrics_all WHERE" SA_WINDOW " AND provider <> '' GROUP BY provider, model) x"
     " ON x.provider = m.provider AND x.model = m.name ORDER BY 1, 2",
     2},
    {"analytics_throughput",
     "SELECT (extract(epoch FROM ts) * 1000)::bigint AS unix_ms, grain, sum(requests) AS requests"
     " FROM metrics_all WHERE" SA_WINDOW " GROUP BY ts, grain ORDER BY ts, grain",
     2},
    {NULL, NULL, 0},
};

/* --- checks ------------------------------------------------------------------- */

static int sa_check_text(const char *s, size_t max, size_t i, const char *field, char *err,
                         size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max) {
        snprintf(err, errlen, "metrics[%zu].%s: expected at most %zu bytes", i, field, max);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *end = p + n;
    while (p < end) {
        size_t k = utf8_seq_len(p, end);
        if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f))) {
            snprintf(err, errlen, "metrics[%zu].%s: expected printable UTF-8 text", i, field);
            return -1;
        }
        p += k;
    }
    return 0;
}

static int sa_check_hist(const Llmgw__V1__LatencyHistogram *h, size_t i, const char *field,
                         char *err, size_t errlen)
{
    if (!h)
        return 0;
    if (h->n_bucket != h->n_count) {
        snprintf(err, errlen, "metrics[%zu].%s: %zu buckets but %zu counts", i, field, h->n_bucket,
                 h->n_count);
        return -1;
    }
    for (size_t k = 0; k < h->n_bucket; k++) {
        if (h->bucket[k] >= LATHIST_BUCKETS) {
            snprintf(err, errlen, "metrics[%zu].%s.bucket[%zu]: expected an index below %d", i,
                     field, k, LATHIST_BUCKETS);
            return -1;
        }
        if (k > 0 && h->bucket[k] <= h->bucket[k - 1]) {
            snprintf(err, errlen, "metrics[%zu].%s.bucket[%zu]: expected ascending indexes", i,
                     field, k);
            return -1;
        }
        if (h->count[k] > ((uint64_t)1 << 50)) {
            snprintf(err, errlen, "metrics[%zu].%s.count[%zu]: expected at most 2^50", i, field, k);
            return -1;
        }
    }
    return 0;
}

static int sa_check_count(int64_t v, size_t i, const char *field, char *err, size_t errlen)
{
    if (v < 0 || v > (int64_t)1 << 50) {
        snprintf(err, errlen, "metrics[%zu].%s: expected an integer >= 0", i, field);
        return -1;
    }
    return 0;
}

int store_analytics_check(const Llmgw__V1__ReportUsageRequest *r, int64_t now_unix_ms, char *err,
                          size_t errlen)
{
    if (r->n_metrics > STORE_ANALYTICS_MAX_SNAPSHOTS) {
        snprintf(err, errlen, "metrics: expected at most %d snapshots, got %zu",
                 STORE_ANALYTICS_MAX_SNAPSHOTS, r->n_metrics);
        return -1;
    }
    for (size_t i = 0; i < r->n_metrics; i++) {
        const Llmgw__V1__MetricSnapshot *m = r->metrics[i];
        if (m->minute_unix_ms < 1577836800000LL || m->minute_unix_ms > now_unix_ms + 86400000LL ||
            m->minute_unix_ms % 60000 != 0) {
            snprintf(err, errlen,
                     "metrics[%zu].minute_unix_ms: expected a minute's start from 2020-01-01 to "
                     "a day from now",
                     i);
            return -1;
        }
        if (sa_check_text(m->provider, 64, i, "provider", err, errlen) < 0 ||
            sa_check_text(m->model, 256, i, "model", err, errlen) < 0 ||
            sa_check_text(m->route, 64, i, "route", err, errlen) < 0)
            return -1;
        const struct {
            int64_t v;
            const char *name;
        } counts[] = {
            {m->attempts, "attempts"},
            {m->successes, "successes"},
            {m->errors_connect, "errors_connect"},
            {m->errors_timeout, "errors_timeout"},
            {m->errors_rate_limit, "errors_rate_limit"},
            {m->errors_server, "errors_server"},
            {m->errors_bad_response, "errors_bad_response"},
            {m->errors_other, "errors_other"},
            {m->output_tokens, "output_tokens"},
            {m->generation_us, "generation_us"},
            {m->requests, "requests"},
            {m->requests_ok, "requests_ok"},
            {m->fallbacks, "fallbacks"},
            {m->prompt_tokens, "prompt_tokens"},
            {m->completion_tokens, "completion_tokens"},
            {m->breaker_opened, "breaker_opened"},
            {m->consistency_samples, "consistency_samples"},
            {m->consistency_agreed, "consistency_agreed"},
            {m->ensemble_calls, "ensemble_calls"},
        };
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
            if (sa_check_count(counts[k].v, i, counts[k].name, err, errlen) < 0)
                return -1;
        if (!isfinite(m->cost_usd) || m->cost_usd < 0 || m->cost_usd > 1e12) {
            snprintf(err, errlen, "metrics[%zu].cost_usd: expected a finite number >= 0", i);
            return -1;
        }
        /* Ensemble amounts: what the calls paid and what they saved (an
         * estimate, never negative: docs/ensembles.md, "Savings"). A saving
         * without a call, or one past a million dollars a call, is a node's
         * bug or a forgery, not a figure to merge. */
        const struct {
            double v;
            const char *name;
        } ens[] = {{m->ensemble_cost_usd, "ensemble_cost_usd"},
                   {m->ensemble_savings_usd, "ensemble_savings_usd"}};
        for (size_t k = 0; k < 2; k++) {
            if (!isfinite(ens[k].v) || ens[k].v < 0 || ens[k].v > 1e12) {
                snprintf(err, errlen, "metrics[%zu].%s: expected a finite number >= 0", i,
                         ens[k].name);
                return -1;
            }
            if (ens[k].v > 1e6 * (double)m->ensemble_calls) {
                snprintf(err, errlen,
                         "metrics[%zu].%s: %.2f for %" PRId64
                         " ensemble calls, expected at most $1000000 a call",
                         i, ens[k].name, ens[k].v, m->ensemble_calls);
                return -1;
            }
        }
        if (sa_check_hist(m->latency, i, "latency", err, errlen) < 0 ||
            sa_check_hist(m->ttft, i, "ttft", err, errlen) < 0)
            return -1;
        for (size_t k = 0; k < m->n_decisions; k++) {
            const Llmgw__V1__DecisionCount *d = m->decisions[k];
            char field[48];
            snprintf(field, sizeof(field), "decisions[%zu].strategy", k);
            if (sa_check_text(d->strategy, 32, i, field, err, errlen) < 0)
                return -1;
            snprintf(field, sizeof(field), "decisions[%zu].reason", k);
            if (sa_check_text(d->reason, 32, i, field, err, errlen) < 0)
                return -1;
            snprintf(field, sizeof(field), "decisions[%zu].count", k);
            if (sa_check_count(d->count, i, field, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

/* --- merge -------------------------------------------------------------------- */

static json_t *sa_hist_json(const Llmgw__V1__LatencyHistogram *h)
{
    json_t *o = json_object();
    char key[16];
    for (size_t k = 0; o && h && k < h->n_bucket; k++) {
        snprintf(key, sizeof(key), "%u", h->bucket[k]);
        if (json_object_set_new(o, key, json_integer((json_int_t)h->count[k])) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int sa_set(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

/* The batch's snapshots and decisions as two jsonb arrays for
 * jsonb_to_recordset (strings escaped by jansson, never spliced into SQL).
 * 0, or -1 when out of memory. */
static int sa_merge_json(const Llmgw__V1__ReportUsageRequest *r, char **metrics, char **decisions)
{
    json_t *ms = json_array(), *ds = json_array();
    int rc = -1;
    *metrics = *decisions = NULL;
    if (!ms || !ds)
        goto out;
    for (size_t i = 0; i < r->n_metrics; i++) {
        const Llmgw__V1__MetricSnapshot *m = r->metrics[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(ms, o) != 0)
            goto out;
        const struct {
            const char *k;
            int64_t v;
        } ints[] = {{"m", m->minute_unix_ms},
                    {"attempts", m->attempts},
                    {"successes", m->successes},
                    {"errors_connect", m->errors_connect},
                    {"errors_timeout", m->errors_timeout},
                    {"errors_rate_limit", m->errors_rate_limit},
                    {"errors_server", m->errors_server},
                    {"errors_bad_response", m->errors_bad_response},
                    {"errors_other", m->errors_other},
                    {"output_tokens", m->output_tokens},
                    {"generation_us", m->generation_us},
                    {"requests", m->requests},
                    {"requests_ok", m->requests_ok},
                    {"fallbacks", m->fallbacks},
                    {"prompt_tokens", m->prompt_tokens},
                    {"completion_tokens", m->completion_tokens},
                    {"breaker_opened", m->breaker_opened},
                    {"consistency_samples", m->consistency_samples},
                    {"consistency_agreed", m->consistency_agreed},
                    {"ensemble_calls", m->ensemble_calls}};
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
            if (sa_set(o, ints[k].k, json_integer((json_int_t)ints[k].v)) < 0)
                goto out;
        if (sa_set(o, "p", json_string(m->provider)) < 0 ||
            sa_set(o, "mo", json_string(m->model)) < 0 ||
            sa_set(o, "r", json_string(m->route)) < 0 ||
            sa_set(o, "cost_usd", json_real(m->cost_usd)) < 0 ||
            sa_set(o, "ensemble_cost_usd", json_real(m->ensemble_cost_usd)) < 0 ||
            sa_set(o, "ensemble_savings_usd", json_real(m->ensemble_savings_usd)) < 0 ||
            sa_set(o, "latency", sa_hist_json(m->latency)) < 0 ||
            sa_set(o, "ttft", sa_hist_json(m->ttft)) < 0)
            goto out;
        for (size_t k = 0; k < m->n_decisions; k++) {
            const Llmgw__V1__DecisionCount *d = m->decisions[k];
            json_t *x = json_object();
            if (!x || json_array_append_new(ds, x) != 0 ||
                sa_set(x, "m", json_integer((json_int_t)m->minute_unix_ms)) < 0 ||
                sa_set(x, "r", json_string(m->route)) < 0 ||
                sa_set(x, "s", json_string(d->strategy)) < 0 ||
                sa_set(x, "p", json_string(m->provider)) < 0 ||
                sa_set(x, "mo", json_string(m->model)) < 0 ||
                sa_set(x, "re", json_string(d->reason)) < 0 ||
                sa_set(x, "n", json_integer((json_int_t)d->count)) < 0)
                goto out;
        }
    }
    if (!(*metrics = json_dumps(ms, JSON_COMPACT)) || !(*decisions = json_dumps(ds, JSON_COMPACT)))
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        free(*metrics);
        free(*decisions);
        *metrics = *decisions = NULL;
    }
    json_decref(ms);
    json_decref(ds);
    return rc;
}

int store_analytics_merge(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, store_err_t *e)
{
    char *metrics = NULL, *decisions = NULL;
    int rc = -1;
    if (r->n_metrics == 0)
        return 0;
    if (sa_merge_json(r, &metrics, &decisions) < 0)
        return store_fail(e, STORE_HARD, "metrics: out of memory");
    const char *p1[] = {metrics}, *p2[] = {decisions};
    PGresult *q = store_exec(c, "analytics_merge_metrics", 1, p1, e);
    if (!q)
        goto out;
    PQclear(q);
    if (strcmp(decisions, "[]") != 0) {
        if (!(q = store_exec(c, "analytics_merge_decisions", 1, p2, e)))
            goto out;
        PQclear(q);
    }
    rc = 0;
out:
    free(metrics);
    free(decisions);
    return rc;
}

/* --- maintenance ------------------------------------------------------------------ */

static long sa_exec_count(PGconn *c, const char *stmt, const char *arg, store_err_t *e)
{
    const char *p[] = {arg};
    PGresult *q = store_exec(c, stmt, 1, p, e);
    if (!q)
        return -1;
    long n = strtol(PQcmdTuples(q), NULL, 10);
    PQclear(q);
    return n;
}

int store_analytics_maintain(PGconn *c, int64_t rollup_before_unix_ms,
                             int64_t delete_before_unix_ms, store_analytics_maint_t *out,
                             store_err_t *e)
{
    memset(out, 0, sizeof(*out));
    PGresult *q = store_exec(c, "analytics_maint_lock", 0, NULL, e);
    if (!q)
        return -1;
    bool got = strcmp(store_get(q, 0, "got"), "t") == 0;
    PQclear(q);
    if (!got)
        return 0;
    out->ran = true;
    char rollup[24], expire[24];
    snprintf(rollup, sizeof(rollup), "%" PRId64, rollup_before_unix_ms);
    snprintf(expire, sizeof(expire), "%" PRId64, delete_before_unix_ms);
    static const char *const expires[] = {"analytics_expire_minute", "analytics_expire_hour",
                                          "analytics_expire_dec_minute",
                                          "analytics_expire_dec_hour"};
    for (size_t i = 0; i < 4; i++) {
        long n = sa_exec_count(c, expires[i], expire, e);
        if (n < 0)
            return -1;
        out->deleted += n;
    }
    long a = sa_exec_count(c, "analytics_rollup_metrics", rollup, e);
    if (a < 0)
        return -1;
    long b = sa_exec_count(c, "analytics_rollup_decisions", rollup, e);
    if (b < 0)
        return -1;
    out->rolled_up = a + b;
    return 0;
}

/* --- reads ------------------------------------------------------------------------ */

static int64_t sa_int(const PGresult *r, int row, const char *col)
{
    return strtoll(store_get(r, row, col), NULL, 10);
}

static double sa_num(const PGresult *r, int row, const char *col)
{
    return strtod(store_get(r, row, col), NULL);
}

/* Parses lathist_sum's jsonb text into h (zeroed first). 0 or -1. */
static int sa_hist_parse(const char *text, lathist_t *h)
{
    memset(h, 0, sizeof(*h));
    if (!text || !*text)
        return 0;
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char *end = NULL;
        unsigned long idx = strtoul(key, &end, 10);
        json_int_t n = json_integer_value(v);
        if (*end != '\0' || idx >= LATHIST_BUCKETS || !json_is_integer(v) || n < 0) {
            json_decref(o);
            return -1;
        }
        h->count[idx] += (uint64_t)n;
        h->total += (uint64_t)n;
    }
    json_decref(o);
    return 0;
}

#define SA_WINDOW_PARAMS(since, until)                                                             \
    char since_s[24], until_s[24];                                                                 \
    snprintf(since_s, sizeof(since_s), "%" PRId64, since);                                         \
    snprintf(until_s, sizeof(until_s), "%" PRId64, until)

static int sa_oom(store_err_t *e)
{
    return store_fail(e, STORE_HARD, "analytics: out of memory");
}

int store_analytics_performance(PGconn *c, int64_t since, int64_t until, const char *provider,
                                Llmgw__V1__ProviderPerformanceResponse *out, store_err_t *e)
{
    SA_WINDOW_PARAMS(since, until);
    const char *p[] = {since_s, until_s, provider ? provider : ""};
    PGresult *r = store_exec(c, "analytics_performance", 3, p, e);
    lathist_t *h = malloc(sizeof(*h));
    int rc = -1;
    if (!r) {
        free(h);
        return -1;
    }
    int rows = PQntuples(r);
    if (!h ||
        !(out->deployments = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->deployments)))) {
        sa_oom(e);
        goto out;
    }
    out->since_unix_ms = since;
    out->until_unix_ms = until;
    for (int i = 0; i < rows; i++) {
        Llmgw__V1__DeploymentPerformance *d = malloc(sizeof(*d));
        if (!d) {
            sa_oom(e);
            goto out;
        }
        llmgw__v1__deployment_performance__init(d);
        out->deployments[out->n_deployments++] = d;
        if (!(d->provider = strdup(store_get(r, i, "provider"))) ||
            !(d->model = strdup(store_get(r, i, "model")))) {
            sa_oom(e);
            goto out;
        }
        d->attempts = sa_int(r, i, "attempts");
        d->successes = sa_int(r, i, "successes");
        d->errors_connect = sa_int(r, i, "errors_connect");
        d->errors_timeout = sa_int(r, i, "errors_timeout");
        d->errors_rate_limit = sa_int(r, i, "errors_rate_limit");
        d->errors_server = sa_int(r, i, "errors_server");
        d->errors_bad_response = sa_int(r, i, "errors_bad_response");
        d->errors_other = sa_int(r, i, "errors_other");
        int64_t results = d->attempts - d->errors_other;
        d->success_rate = results > 0 ? (double)d->successes / (double)results : 1.0;
        int64_t observed = sa_int(r, i, "observed"), up = sa_int(r, i, "up");
        d->availability = observed > 0 ? (double)up / (double)observed : 1.0;
        if (sa_hist_parse(store_get(r, i, "latency"), h) < 0) {
            store_fail(e, STORE_HARD, "metrics: latency histogram of %s/%s unreadable", d->provider,
                       d->model);
            goto out;
        }
        d->latency_samples = (int64_t)h->total;
        d->latency_p50_ms = lathist_quantile(h, 0.50) / 1000.0;
        d->latency_p90_ms = lathist_quantile(h, 0.90) / 1000.0;
        d->latency_p99_ms = lathist_quantile(h, 0.99) / 1000.0;
        if (sa_hist_parse(store_get(r, i, "ttft"), h) < 0) {
            store_fail(e, STORE_HARD, "metrics: ttft histogram of %s/%s unreadable", d->provider,
                       d->model);
            goto out;
        }
        d->ttft_samples = (int64_t)h->total;
        d->ttft_p50_ms = lathist_quantile(h, 0.50) / 1000.0;
        d->ttft_p90_ms = lathist_quantile(h, 0.90) / 1000.0;
        d->ttft_p99_ms = lathist_quantile(h, 0.99) / 1000.0;
        int64_t gen_us = sa_int(r, i, "generation_us");
        d->tokens_per_s =
            gen_us > 0 ? (double)sa_int(r, i, "output_tokens") * 1e6 / (double)gen_us : 0;
        d->requests = sa_int(r, i, "requests");
        d->breaker_opened = sa_int(r, i, "breaker_opened");
    }
    rc = 0;
out:
    free(h);
    PQclear(r);
    return rc;
}

/* --- cost ------------------------------------------------------------------------- */

static Llmgw__V1__CostGroup *sa_group_new(const char *name)
{
    Llmgw__V1__CostGroup *g = malloc(sizeof(*g));
    if (!g)
        return NULL;
    llmgw__v1__cost_group__init(g);
    if (!(g->group = strdup(name))) {
        free(g);
        return NULL;
    }
    return g;
}

static int sa_group_cmp(const void *a, const void *b)
{
    const Llmgw__V1__CostGroup *x = *(Llmgw__V1__CostGroup *const *)a;
    const Llmgw__V1__CostGroup *y = *(Llmgw__V1__CostGroup *const *)b;
    if (x->cost_usd != y->cost_usd)
        return x->cost_usd > y->cost_usd ? -1 : 1;
    return strcmp(x->group, y->group);
}

/* The budget whose scope matches group_by and whose target is the group. */
static void sa_group_budget(Llmgw__V1__CostGroup *g, const PGresult *b, const char *scope)
{
    if (!scope)
        return;
    for (int i = 0; i < PQntuples(b); i++) {
        if (strcmp(store_get(b, i, "scope"), scope) == 0 &&
            strcmp(store_get(b, i, "target"), g->group) == 0) {
            char *name = strdup(store_get(b, i, "name"));
            if (!name)
                return;
            if (g->budget != protobuf_c_empty_string)
                free(g->budget);
            g->budget = name;
            g->budget_limit_usd = sa_num(b, i, "limit_usd");
            g->budget_share = g->budget_limit_usd > 0 ? g->cost_usd / g->budget_limit_usd : 0;
            return;
        }
    }
}

int store_analytics_cost(PGconn *c, int64_t since, int64_t until, const char *group_by,
                         Llmgw__V1__CostReportResponse *out, store_err_t *e)
{
    static const struct {
        const char *by, *stmt, *scope;
    } bys[] = {
        {"provider", "analytics_cost_provider", "provider"},
        {"model", "analytics_cost_model", NULL},
        {"route", "analytics_cost_route", NULL},
        {"team", "analytics_cost_team", "team"},
        {"key", "analytics_cost_key", "key"},
    };
    size_t which = 0;
    while (which < 5 && strcmp(bys[which].by, group_by) != 0)
        which++;
    if (which == 5)
        return store_fail(e, STORE_INVALID,
                          "group_by: expected one of provider, model, route, team, key");
    SA_WINDOW_PARAMS(since, until);
    const char *p[] = {since_s, until_s};
    PGresult *r = store_exec(c, bys[which].stmt, 2, p, e), *b = NULL;
    int rc = -1;
    if (!r)
        return -1;
    if (!(b = store_exec(c, "analytics_budgets", 0, NULL, e)))
        goto out;
    int rows = PQntuples(r);
    out->since_unix_ms = since;
    out->until_unix_ms = until;
    if (!(out->groups = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->groups))) ||
        !(out->total = sa_group_new(""))) {
        sa_oom(e);
        goto out;
    }
    Llmgw__V1__CostGroup *g = NULL, *t = out->total;
    for (int i = 0; i < rows; i++) {
        const char *grp = store_get(r, i, "grp");
        if (!g || strcmp(g->group, grp) != 0) {
            if (!(g = sa_group_new(grp))) {
                sa_oom(e);
                goto out;
            }
            out->groups[out->n_groups++] = g;
            if (!(g->days = calloc((size_t)rows, sizeof(*g->days)))) {
                sa_oom(e);
                goto out;
            }
        }
        Llmgw__V1__CostDay *d = malloc(sizeof(*d));
        if (!d) {
            sa_oom(e);
            goto out;
        }
        llmgw__v1__cost_day__init(d);
        g->days[g->n_days++] = d;
        if (!(d->day = strdup(store_get(r, i, "day")))) {
            sa_oom(e);
            goto out;
        }
        d->requests = sa_int(r, i, "requests");
        d->ok_requests = sa_int(r, i, "ok_requests");
        d->prompt_tokens = sa_int(r, i, "prompt_tokens");
        d->completion_tokens = sa_int(r, i, "completion_tokens");
        d->cost_usd = sa_num(r, i, "cost_usd");
        g->requests += d->requests;
        g->ok_requests += d->ok_requests;
        g->prompt_tokens += d->prompt_tokens;
        g->completion_tokens += d->completion_tokens;
        g->cost_usd += d->cost_usd;
        t->requests += d->requests;
        t->ok_requests += d->ok_requests;
        t->prompt_tokens += d->prompt_tokens;
        t->completion_tokens += d->completion_tokens;
        t->cost_usd += d->cost_usd;
    }
    /* The total's days: every group's day summed (days are few; quadratic is fine). */
    for (size_t k = 0; k < out->n_groups; k++) {
        for (size_t j = 0; j < out->groups[k]->n_days; j++) {
            const Llmgw__V1__CostDay *d = out->groups[k]->days[j];
            size_t m = 0;
            while (m < t->n_days && strcmp(t->days[m]->day, d->day) != 0)
                m++;
            if (m == t->n_days) {
                Llmgw__V1__CostDay **grown = realloc(t->days, (m + 1) * sizeof(*grown));
                Llmgw__V1__CostDay *nd = grown ? malloc(sizeof(*nd)) : NULL;
                if (grown)
                    t->days = grown;
                if (!nd) {
                    sa_oom(e);
                    goto out;
                }
                llmgw__v1__cost_day__init(nd);
                t->days[t->n_days++] = nd;
                if (!(nd->day = strdup(d->day))) {
                    sa_oom(e);
                    goto out;
                }
            }
            Llmgw__V1__CostDay *td = t->days[m];
            td->requests += d->requests;
            td->ok_requests += d->ok_requests;
            td->prompt_tokens += d->prompt_tokens;
            td->completion_tokens += d->completion_tokens;
            td->cost_usd += d->cost_usd;
        }
    }
    /* Days in order (the groups' already are; the total's may interleave). */
    for (size_t a = 1; a < t->n_days; a++)
        for (size_t k = a; k > 0 && strcmp(t->days[k - 1]->day, t->days[k]->day) > 0; k--) {
            Llmgw__V1__CostDay *tmp = t->days[k];
            t->days[k] = t->days[k - 1];
            t->days[k - 1] = tmp;
        }
    for (size_t k = 0; k <= out->n_groups; k++) {
        Llmgw__V1__CostGroup *x = k < out->n_groups ? out->groups[k] : t;
        x->share = t->cost_usd > 0 ? x->cost_usd / t->cost_usd : 0;
        x->cost_per_1k_ok_usd =
            x->ok_requests > 0 ? x->cost_usd * 1000.0 / (double)x->ok_requests : 0;
        if (x != t)
            sa_group_budget(x, b, bys[which].scope);
    }
    qsort(out->groups, out->n_groups, sizeof(*out->groups), sa_group_cmp);
    rc = 0;
out:
    PQclear(b);
    PQclear(r);
    return rc;
}

/* --- routing decisions -------------------------------------------------------------- */

static Llmgw__V1__DeploymentRouting *sa_dep_find(Llmgw__V1__RoutingDecisionsResponse *out,
                                                 const char *provider, const char *model, bool *oom)
{
    for (size_t i = 0; i < out->n_deployments; i++)
        if (strcmp(out->deployments[i]->provider, provider) == 0 &&
            strcmp(out->deployments[i]->model, model) == 0)
            return out->deployments[i];
    Llmgw__V1__DeploymentRouting **grown =
        realloc(out->deployments, (out->n_deployments + 1) * sizeof(*grown));
    if (!grown) {
        *oom = true;
        return NULL;
    }
    out->deployments = grown;
    Llmgw__V1__DeploymentRouting *d = malloc(sizeof(*d));
    if (!d) {
        *oom = true;
        return NULL;
    }
    llmgw__v1__deployment_routing__init(d);
    out->deployments[out->n_deployments++] = d;
    if (!(d->provider = strdup(provider)) || !(d->model = strdup(model))) {
        *oom = true;
        return NULL;
    }
    return d;
}

static int sa_dep_cmp(const void *a, const void *b)
{
    const Llmgw__V1__DeploymentRouting *x = *(Llmgw__V1__DeploymentRouting *const *)a;
    const Llmgw__V1__DeploymentRouting *y = *(Llmgw__V1__DeploymentRouting *const *)b;
    if (x->picks != y->picks)
        return x->picks > y->picks ? -1 : 1;
    int c = strcmp(x->provider, y->provider);
    return c ? c : strcmp(x->model, y->model);
}

static int sa_reason_cmp(const void *a, const void *b)
{
    const Llmgw__V1__ReasonCount *x = *(Llmgw__V1__ReasonCount *const *)a;
    const Llmgw__V1__ReasonCount *y = *(Llmgw__V1__ReasonCount *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->reason, y->reason);
}

int store_analytics_routing(PGconn *c, int64_t since, int64_t until, const char *route,
                            Llmgw__V1__RoutingDecisionsResponse *out, store_err_t *e)
{
    SA_WINDOW_PARAMS(since, until);
    const char *p[] = {since_s, until_s, route ? route : ""};
    PGresult *r = store_exec(c, "analytics_decisions", 3, p, e), *m = NULL;
    int rc = -1;
    bool oom = false;
    if (!r)
        return -1;
    if (!(m = store_exec(c, "analytics_deployment_routing", 3, p, e)))
        goto out;
    int rows = PQntuples(r);
    out->since_unix_ms = since;
    out->until_unix_ms = until;
    if (!(out->decisions = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->decisions))) ||
        !(out->top_reasons = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->top_reasons)))) {
        sa_oom(e);
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        Llmgw__V1__DecisionRow *d = malloc(sizeof(*d));
        if (!d) {
            sa_oom(e);
            goto out;
        }
        llmgw__v1__decision_row__init(d);
        out->decisions[out->n_decisions++] = d;
        if (!(d->route = strdup(store_get(r, i, "route"))) ||
            !(d->strategy = strdup(store_get(r, i, "strategy"))) ||
            !(d->provider = strdup(store_get(r, i, "provider"))) ||
            !(d->model = strdup(store_get(r, i, "model"))) ||
            !(d->reason = strdup(store_get(r, i, "reason")))) {
            sa_oom(e);
            goto out;
        }
        d->count = sa_int(r, i, "count");
        out->total_decisions += d->count;
        Llmgw__V1__DeploymentRouting *dep =
            d->provider[0] ? sa_dep_find(out, d->provider, d->model, &oom) : NULL;
        if (oom) {
            sa_oom(e);
            goto out;
        }
        if (dep)
            dep->picks += d->count;
        size_t k = 0;
        while (k < out->n_top_reasons && strcmp(out->top_reasons[k]->reason, d->reason) != 0)
            k++;
        if (k == out->n_top_reasons) {
            Llmgw__V1__ReasonCount *rc_ = malloc(sizeof(*rc_));
            if (!rc_) {
                sa_oom(e);
                goto out;
            }
            llmgw__v1__reason_count__init(rc_);
            out->top_reasons[out->n_top_reasons++] = rc_;
            if (!(rc_->reason = strdup(d->reason))) {
                sa_oom(e);
                goto out;
            }
        }
        out->top_reasons[k]->count += d->count;
    }
    /* Each row's share of its route and strategy. */
    for (size_t i = 0; i < out->n_decisions; i++) {
        int64_t sum = 0;
        for (size_t k = 0; k < out->n_decisions; k++)
            if (strcmp(out->decisions[k]->route, out->decisions[i]->route) == 0 &&
                strcmp(out->decisions[k]->strategy, out->decisions[i]->strategy) == 0)
                sum += out->decisions[k]->count;
        out->decisions[i]->share = sum > 0 ? (double)out->decisions[i]->count / (double)sum : 0;
    }
    for (int i = 0; i < PQntuples(m); i++) {
        Llmgw__V1__DeploymentRouting *dep =
            sa_dep_find(out, store_get(m, i, "provider"), store_get(m, i, "model"), &oom);
        if (oom) {
            sa_oom(e);
            goto out;
        }
        dep->fallbacks = sa_int(m, i, "fallbacks");
        dep->breaker_opened = sa_int(m, i, "breaker_opened");
    }
    if (out->n_deployments)
        qsort(out->deployments, out->n_deployments, sizeof(*out->deployments), sa_dep_cmp);
    if (out->n_top_reasons)
        qsort(out->top_reasons, out->n_top_reasons, sizeof(*out->top_reasons), sa_reason_cmp);
    rc = 0;
out:
    PQclear(m);
    PQclear(r);
    return rc;
}

/* --- quality and throughput ------------------------------------------------------------ */

int store_analytics_quality(PGconn *c, int64_t since, int64_t until,
                            Llmgw__V1__QualityResponse *out, store_err_t *e)
{
    SA_WINDOW_PARAMS(since, until);
    const char *p[] = {since_s, until_s};
    PGresult *r = store_exec(c, "analytics_quality", 2, p, e);
    int rc = -1;
    if (!r)
        return -1;
    int rows = PQntuples(r);
    out->since_unix_ms = since;
    out->until_unix_ms = until;
    if (!(out->models = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->models)))) {
        sa_oom(e);
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        Llmgw__V1__ModelQuality *q = malloc(sizeof(*q));
        if (!q) {
            sa_oom(e);
            goto out;
        }
        llmgw__v1__model_quality__init(q);
        out->models[out->n_models++] = q;
        if (!(q->provider = strdup(store_get(r, i, "provider"))) ||
            !(q->model = strdup(store_get(r, i, "model")))) {
            sa_oom(e);
            goto out;
        }
        q->quality = sa_num(r, i, "quality");
        q->consistency_samples = sa_int(r, i, "samples");
        q->consistency = q->consistency_samples > 0
                             ? (double)sa_int(r, i, "agreed") / (double)q->consistency_samples
                             : 0;
        int64_t results = sa_int(r, i, "results");
        q->success_rate = results > 0 ? (double)sa_int(r, i, "ok") / (double)results : 1.0;
        q->attempts = sa_int(r, i, "attempts");
        q->ensemble_calls = sa_int(r, i, "ens_calls");
        q->ensemble_cost_usd = sa_num(r, i, "ens_cost");
        q->ensemble_savings_usd = sa_num(r, i, "ens_saved");
        out->ensemble_calls += q->ensemble_calls;
        out->ensemble_cost_usd += q->ensemble_cost_usd;
        out->ensemble_savings_usd += q->ensemble_savings_usd;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

int store_analytics_throughput(PGconn *c, int64_t since, int64_t until,
                               Llmgw__V1__ThroughputResponse *out, store_err_t *e)
{
    SA_WINDOW_PARAMS(since, until);
    const char *p[] = {since_s, until_s};
    PGresult *r = store_exec(c, "analytics_throughput", 2, p, e);
    int rc = -1;
    if (!r)
        return -1;
    int rows = PQntuples(r);
    out->since_unix_ms = since;
    out->until_unix_ms = until;
    if (!(out->points = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*out->points)))) {
        sa_oom(e);
        goto out;
    }
    int64_t current_minute = until - until % 60000 - 60000;
    for (int i = 0; i < rows; i++) {
        Llmgw__V1__ThroughputPoint *pt = malloc(sizeof(*pt));
        if (!pt) {
            sa_oom(e);
            goto out;
        }
        llmgw__v1__throughput_point__init(pt);
        out->points[out->n_points++] = pt;
        bool hour = strcmp(store_get(r, i, "grain"), "hour") == 0;
        pt->unix_ms = sa_int(r, i, "unix_ms");
        pt->requests = sa_int(r, i, "requests");
        pt->requests_per_s = (double)pt->requests / (hour ? 3600.0 : 60.0);
        out->total_requests += pt->requests;
        if (pt->requests_per_s > out->peak_rps) {
            out->peak_rps = pt->requests_per_s;
            out->peak_unix_ms = pt->unix_ms;
        }
        if (!hour && pt->unix_ms == current_minute)
            out->current_rps = pt->requests_per_s;
    }
    double secs = (double)(until - since) / 1000.0;
    out->average_rps = secs > 0 ? (double)out->total_requests / secs : 0;
    rc = 0;
out:
    PQclear(r);
    return rc;
}
