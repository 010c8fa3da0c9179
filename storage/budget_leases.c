/* budget_leases: lease grants and period spend. See budget_leases.h. */
#include "budget_leases.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget_period.h"
#include "usage.h"

#define BL_TS(n) "to_timestamp($" #n "::bigint / 1000.0)"

const store_stmt_t budget_leases_stmts[] = {
    {"budget_leases_lock",
     "SELECT name, scope, coalesce(team, api_key, provider, '') AS target, period,"
     " limit_usd::float8 AS limit_usd, enforcement FROM budgets WHERE name = $1 FOR UPDATE",
     1},
    {"budget_leases_close",
     "UPDATE budget_leases SET spent_usd = $3::numeric, closed_at = " BL_TS(
         4) " WHERE id = $1::bigint AND node_id = $2 AND closed_at IS NULL",
     4},
    {"budget_leases_expire",
     "UPDATE budget_leases SET spent_usd = granted_usd, closed_at = expires_at"
     " WHERE budget = $1 AND closed_at IS NULL AND expires_at <= " BL_TS(2),
     2},
    {"budget_leases_sums",
     "SELECT coalesce(sum(spent_usd) FILTER (WHERE closed_at IS NOT NULL), 0)::float8 AS closed,"
     " coalesce(sum(granted_usd) FILTER (WHERE closed_at IS NULL), 0)::float8 AS open,"
     " count(DISTINCT node_id) FILTER (WHERE closed_at IS NULL) AS holders"
     " FROM budget_leases WHERE budget = $1 AND period_start = " BL_TS(2),
     2},
    {"budget_leases_insert",
     "INSERT INTO budget_leases (budget, node_id, period_start, granted_usd, expires_at)"
     " VALUES ($1, $2, " BL_TS(3) ", $4::numeric, " BL_TS(5) ") RETURNING id",
     5},
    {"budget_leases_alert",
     "INSERT INTO budget_alerts (budget, period_start, spent_usd) VALUES ($1, " BL_TS(
         2) ", $3::float8) ON CONFLICT DO NOTHING RETURNING budget",
     3},
    {"budget_leases_open",
     "SELECT coalesce(sum(granted_usd), 0)::float8 AS open FROM budget_leases"
     " WHERE budget = $1 AND period_start = " BL_TS(
         2) " AND closed_at IS NULL AND expires_at > " BL_TS(3),
     3},
    {NULL, NULL, 0},
};

double budget_leases_size(double limit_usd, double available_usd, int n_holders)
{
    if (!(limit_usd > 0) || !(available_usd > 0) || !isfinite(limit_usd) ||
        !isfinite(available_usd))
        return 0;
    if (available_usd > limit_usd)
        available_usd = limit_usd;
    double floor_usd = limit_usd * 0.001;
    if (available_usd <= floor_usd)
        return floor(available_usd * 1e8) / 1e8;
    double g = limit_usd * BUDGET_LEASES_MAX_FRACTION;
    double share = available_usd / (2.0 * (n_holders > 1 ? n_holders : 1));
    if (share < g)
        g = share;
    if (g < floor_usd)
        g = floor_usd;
    return floor(g * 1e8) / 1e8;
}

static void bl_ms(char *out, size_t n, int64_t v)
{
    snprintf(out, n, "%" PRId64, v);
}

int budget_leases_acquire(PGconn *c, const audit_actor_t *who, const budget_leases_ask_t *ask,
                          budget_leases_grant_t *out, store_err_t *e)
{
    char what[96], now[24], start[24], expires[24], amount[40], prev[24];
    memset(out, 0, sizeof(*out));
    snprintf(what, sizeof(what), "budget '%s'", ask->budget);
    bl_ms(now, sizeof(now), ask->now_unix_ms);
    const char *p_name[] = {ask->budget};
    PGresult *r = store_exec_one(c, "budget_leases_lock", 1, p_name, what, e);
    if (!r)
        return -1;
    char scope[12], target[72], period[12];
    snprintf(scope, sizeof(scope), "%s", store_get(r, 0, "scope"));
    snprintf(target, sizeof(target), "%s", store_get(r, 0, "target"));
    snprintf(period, sizeof(period), "%s", store_get(r, 0, "period"));
    out->limit_usd = strtod(store_get(r, 0, "limit_usd"), NULL);
    out->hard = strcmp(store_get(r, 0, "enforcement"), "hard") == 0;
    PQclear(r);
    if (budget_period_bounds(period, ask->now_unix_ms, &out->period_start_unix_ms,
                             &out->period_end_unix_ms) < 0)
        return store_fail(e, STORE_INVALID, "budget.period: '%s' at this time", period);
    bl_ms(start, sizeof(start), out->period_start_unix_ms);

    if (ask->previous_lease_id > 0) {
        bl_ms(prev, sizeof(prev), ask->previous_lease_id);
        snprintf(amount, sizeof(amount), "%.8f", ask->previous_spent_usd);
        const char *p[] = {prev, ask->node_id, amount, now};
        if (!(r = store_exec(c, "budget_leases_close", 4, p, e)))
            return -1;
        PQclear(r);
    }
    const char *p_exp[] = {ask->budget, now};
    if (!(r = store_exec(c, "budget_leases_expire", 2, p_exp, e)))
        return -1;
    PQclear(r);
    const char *p_sum[] = {ask->budget, start};
    if (!(r = store_exec_one(c, "budget_leases_sums", 2, p_sum, "lease sums", e)))
        return -1;
    double closed = strtod(store_get(r, 0, "closed"), NULL);
    double open = strtod(store_get(r, 0, "open"), NULL);
    int holders = atoi(store_get(r, 0, "holders"));
    PQclear(r);
    double used = 0;
    if (usage_spend(c, scope, target, out->period_start_unix_ms, &used, e) < 0)
        return -1;
    out->spent_usd = used > closed ? used : closed;
    /* Stored usage includes what closed leases spent once their nodes'
     * batches arrived (and spend no lease covered); open grants are
     * reserved in full. */
    double committed = (used > closed ? used : closed) + open;
    double grant = budget_leases_size(out->limit_usd, out->limit_usd - committed, holders + 1);
    if (!out->hard && grant <= 0)
        grant = out->limit_usd * BUDGET_LEASES_MAX_FRACTION; /* soft: never refused */

    if (!out->hard && out->spent_usd >= out->limit_usd) {
        out->soft_exceeded = true;
        snprintf(amount, sizeof(amount), "%.8f", out->spent_usd);
        const char *p[] = {ask->budget, start, amount};
        if (!(r = store_exec(c, "budget_leases_alert", 3, p, e)))
            return -1;
        out->soft_crossed_now = PQntuples(r) == 1;
        PQclear(r);
        if (out->soft_crossed_now) {
            char object[96], detail[256];
            snprintf(object, sizeof(object), "budget/%s", ask->budget);
            snprintf(detail, sizeof(detail),
                     "spent_usd=%.6f limit_usd=%.4f period=%s period_start_unix_ms=%s node=%s",
                     out->spent_usd, out->limit_usd, period, start, ask->node_id);
            if (audit_append(c, who, "budget.soft_exceeded", object, detail, e) < 0)
                return -1;
        }
    }
    if (grant <= 0)
        return 0;
    int64_t exp_ms = ask->now_unix_ms + BUDGET_LEASES_TTL_MS;
    if (out->period_end_unix_ms > 0 && exp_ms > out->period_end_unix_ms)
        exp_ms = out->period_end_unix_ms;
    bl_ms(expires, sizeof(expires), exp_ms);
    snprintf(amount, sizeof(amount), "%.8f", grant);
    const char *p_ins[] = {ask->budget, ask->node_id, start, amount, expires};
    if (!(r = store_exec_one(c, "budget_leases_insert", 5, p_ins, "lease", e)))
        return -1;
    out->lease_id = strtoll(store_get(r, 0, "id"), NULL, 10);
    PQclear(r);
    out->granted_usd = grant;
    out->ttl_ms = exp_ms - ask->now_unix_ms;
    return 0;
}

int budget_leases_return(PGconn *c, const char *node_id, int64_t lease_id, double spent_usd,
                         int64_t now_unix_ms, bool *closed, store_err_t *e)
{
    char id[24], amount[40], now[24];
    bl_ms(id, sizeof(id), lease_id);
    bl_ms(now, sizeof(now), now_unix_ms);
    snprintf(amount, sizeof(amount), "%.8f", spent_usd);
    const char *p[] = {id, node_id, amount, now};
    PGresult *r = store_exec(c, "budget_leases_close", 4, p, e);
    if (!r)
        return -1;
    *closed = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return 0;
}

int budget_leases_status(PGconn *c, const budgets_budget_t *b, int64_t now_unix_ms,
                         budget_leases_status_t *out, store_err_t *e)
{
    char start[24], now[24];
    memset(out, 0, sizeof(*out));
    if (budget_period_bounds(b->period, now_unix_ms, &out->period_start_unix_ms,
                             &out->period_end_unix_ms) < 0)
        return store_fail(e, STORE_INVALID, "budget.period: '%s' at this time", b->period);
    if (usage_spend(c, b->scope, b->target, out->period_start_unix_ms, &out->spent_usd, e) < 0)
        return -1;
    bl_ms(start, sizeof(start), out->period_start_unix_ms);
    bl_ms(now, sizeof(now), now_unix_ms);
    const char *p[] = {b->name, start, now};
    PGresult *r = store_exec_one(c, "budget_leases_open", 3, p, "open leases", e);
    if (!r)
        return -1;
    out->leased_usd = strtod(store_get(r, 0, "open"), NULL);
    PQclear(r);
    return 0;
}
