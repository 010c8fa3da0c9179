/* budgets: SQL for the budgets aggregate. See budgets.h.
 *
 * The target is one text in C and one of three reference columns in SQL
 * (team, api_key, provider), so each reference is a real foreign key.
 */
#include "budgets.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store_explain.h"

#define BUDGETS_COLUMNS                                                                            \
    "name, scope, coalesce(team, api_key, provider, '') AS target, period,"                        \
    " limit_usd::text AS limit_usd, enforcement,"                                                  \
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms"

const store_stmt_t budgets_stmts[] = {
    {"budgets_insert",
     "INSERT INTO budgets (name, scope, team, api_key, provider, period, limit_usd, enforcement)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8)",
     8},
    {"budgets_update",
     "UPDATE budgets SET scope = $2, team = $3, api_key = $4, provider = $5, period = $6,"
     " limit_usd = $7::numeric, enforcement = $8, updated_at = now() WHERE name = $1",
     8},
    {"budgets_delete", "DELETE FROM budgets WHERE name = $1", 1},
    {"budgets_get", "SELECT " BUDGETS_COLUMNS " FROM budgets WHERE name = $1", 1},
    {"budgets_list", "SELECT " BUDGETS_COLUMNS " FROM budgets ORDER BY name", 0},
    {NULL, NULL, 0},
};

static const store_explain_t budgets_name_map[] = {
    {"budgets_pkey", STORE_CONFLICT, "budget.name", "'%s' already exists"},
    {"budgets_name_check", STORE_INVALID, "budget.name",
     "'%s' is not 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    {"budgets_limit_usd_check", STORE_INVALID, "budget.limit_usd", "expected a number > 0"},
    {"budgets_scope_check", STORE_INVALID, "budget.scope",
     "expected one of org, team, key, provider"},
    {"budgets_period_check", STORE_INVALID, "budget.period",
     "expected one of daily, weekly, monthly, total"},
    {"budgets_enforcement_check", STORE_INVALID, "budget.hard", "expected hard or soft"},
    {NULL, STORE_OK, NULL, NULL},
};

static const store_explain_t budgets_target_map[] = {
    {"budgets_team_fkey", STORE_INVALID, "budget.target", "team '%s' does not exist"},
    {"budgets_api_key_fkey", STORE_INVALID, "budget.target", "api key '%s' does not exist"},
    {"budgets_provider_fkey", STORE_INVALID, "budget.target", "provider '%s' does not exist"},
    {"budgets_target_period", STORE_CONFLICT, "budget.target",
     "'%s' already has a budget for this period"},
    {"budgets_target", STORE_INVALID, "budget.target", "'%s' does not fit the scope"},
    {NULL, STORE_OK, NULL, NULL},
};

static bool budgets_one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static bool budgets_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int budgets_validate(const budgets_budget_t *b, store_err_t *e)
{
    static const char *const scopes[] = {"org", "team", "key", "provider", NULL};
    static const char *const periods[] = {"daily", "weekly", "monthly", "total", NULL};
    if (!budgets_name_ok(b->name))
        return store_fail(e, STORE_INVALID,
                          "budget.name: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
    if (!budgets_one_of(b->scope, scopes))
        return store_fail(e, STORE_INVALID,
                          "budget.scope: expected one of org, team, key, "
                          "provider");
    bool org = strcmp(b->scope, "org") == 0;
    if (org && b->target[0])
        return store_fail(e, STORE_INVALID, "budget.target: must be empty for scope org");
    if (!org && !budgets_name_ok(b->target))
        return store_fail(e, STORE_INVALID,
                          "budget.target: expected the %s name (1 to 64 characters from A-Z "
                          "a-z 0-9 . _ -)",
                          strcmp(b->scope, "key") == 0 ? "api key" : b->scope);
    if (!budgets_one_of(b->period, periods))
        return store_fail(e, STORE_INVALID,
                          "budget.period: expected one of daily, weekly, monthly, total");
    if (!isfinite(b->limit_usd) || !(b->limit_usd > 0) || b->limit_usd > BUDGETS_LIMIT_MAX_USD)
        return store_fail(e, STORE_INVALID, "budget.limit_usd: expected a number > 0 and <= %.0f",
                          BUDGETS_LIMIT_MAX_USD);
    return 0;
}

static int budgets_write(PGconn *c, const audit_actor_t *who, const budgets_budget_t *b,
                         bool update, store_err_t *e)
{
    if (budgets_validate(b, e) < 0)
        return -1;
    char limit[40], object[96], detail[256];
    snprintf(limit, sizeof(limit), "%.4f", b->limit_usd);
    const char *t = b->target;
    const char *params[] = {b->name,
                            b->scope,
                            strcmp(b->scope, "team") == 0 ? t : NULL,
                            strcmp(b->scope, "key") == 0 ? t : NULL,
                            strcmp(b->scope, "provider") == 0 ? t : NULL,
                            b->period,
                            limit,
                            b->hard ? "hard" : "soft"};
    PGresult *r = store_exec(c, update ? "budgets_update" : "budgets_insert", 8, params, e);
    if (!r) {
        if (store_explain(e, budgets_target_map, b->target) < 0 &&
            strncmp(e->msg, "budget.", 7) != 0)
            store_explain(e, budgets_name_map, b->name);
        return -1;
    }
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "budget '%s': not found", b->name);
    snprintf(object, sizeof(object), "budget/%s", b->name);
    snprintf(detail, sizeof(detail), "scope=%s target=%s period=%s limit_usd=%s enforcement=%s",
             b->scope, b->target, b->period, limit, b->hard ? "hard" : "soft");
    return audit_append(c, who, update ? "budget.update" : "budget.create", object, detail, e);
}

int budgets_insert(PGconn *c, const audit_actor_t *who, const budgets_budget_t *b, store_err_t *e)
{
    return budgets_write(c, who, b, false, e);
}

int budgets_update(PGconn *c, const audit_actor_t *who, const budgets_budget_t *b, store_err_t *e)
{
    return budgets_write(c, who, b, true, e);
}

int budgets_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e)
{
    char object[96];
    snprintf(object, sizeof(object), "budget/%s", name);
    const char *params[] = {name};
    PGresult *r = store_exec(c, "budgets_delete", 1, params, e);
    if (!r)
        return -1;
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "budget '%s': not found", name);
    return audit_append(c, who, "budget.delete", object, "", e);
}

static void budgets_from_row(const PGresult *r, int i, budgets_budget_t *b)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "%s", store_get(r, i, "name"));
    snprintf(b->scope, sizeof(b->scope), "%s", store_get(r, i, "scope"));
    snprintf(b->target, sizeof(b->target), "%s", store_get(r, i, "target"));
    snprintf(b->period, sizeof(b->period), "%s", store_get(r, i, "period"));
    b->limit_usd = strtod(store_get(r, i, "limit_usd"), NULL);
    b->hard = strcmp(store_get(r, i, "enforcement"), "hard") == 0;
    b->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    b->updated_unix_ms = strtoll(store_get(r, i, "updated_ms"), NULL, 10);
}

int budgets_get(PGconn *c, const char *name, budgets_budget_t *out, store_err_t *e)
{
    char what[96];
    snprintf(what, sizeof(what), "budget '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "budgets_get", 1, params, what, e);
    if (!r)
        return -1;
    budgets_from_row(r, 0, out);
    PQclear(r);
    return 0;
}

int budgets_list(PGconn *c, budgets_budget_t **out, size_t *n, store_err_t *e)
{
    *out = NULL;
    *n = 0;
    PGresult *r = store_exec(c, "budgets_list", 0, NULL, e);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    budgets_budget_t *bs = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*bs));
    if (!bs) {
        PQclear(r);
        return store_fail(e, STORE_HARD, "budgets: out of memory");
    }
    for (int i = 0; i < rows; i++)
        budgets_from_row(r, i, &bs[i]);
    PQclear(r);
    *out = bs;
    *n = (size_t)rows;
    return 0;
}
