/* store: statement tables, execution and error classification. See store.h.
 *
 * Every aggregate module exports one NULL-terminated statement table; this
 * file lists them so a new connection prepares all of them at once and a
 * statement name unknown to the server is caught on connect, not mid-request.
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store_stmts.h"

static const store_stmt_t *const store_tables[] = {
    providers_stmts, models_stmts,       routes_stmts, audit_stmts,         table_versions_stmts,
    nodes_stmts,     admin_tokens_stmts, teams_stmts,  api_keys_stmts,      budgets_stmts,
    policies_stmts,  audit_query_stmts,  usage_stmts,  budget_leases_stmts, store_analytics_stmts,
};

int store_fail(store_err_t *e, store_code_t code, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    e->code = code;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* libpq messages end with a newline and may add hint lines; ours are one
 * line, so the first line is kept. */
static void store_trim(char *s)
{
    s[strcspn(s, "\n")] = '\0';
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
}

int store_prepare_all(PGconn *c, store_err_t *e)
{
    for (size_t t = 0; t < sizeof(store_tables) / sizeof(store_tables[0]); t++) {
        for (const store_stmt_t *s = store_tables[t]; s->name; s++) {
            PGresult *r = PQprepare(c, s->name, s->sql, s->n_params, NULL);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                store_fail(e, store_classify(r, c), "prepare %s: %s", s->name,
                           PQresultErrorMessage(r));
                store_trim(e->msg);
                PQclear(r);
                return -1;
            }
            PQclear(r);
        }
    }
    return 0;
}

store_code_t store_classify(const PGresult *r, PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK)
        return STORE_UNAVAILABLE;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return r ? STORE_HARD : STORE_UNAVAILABLE;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return STORE_RETRY;
    if (strcmp(state, "23505") == 0)
        return STORE_CONFLICT;
    if (strcmp(state, "23503") == 0)
        return STORE_IN_USE;
    if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        return STORE_INVALID;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return STORE_UNAVAILABLE;
    return STORE_HARD;
}

PGresult *store_exec(PGconn *c, const char *stmt, int n, const char *const *params, store_err_t *e)
{
    PGresult *r = PQexecPrepared(c, stmt, n, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    store_fail(e, store_classify(r, c), "%s: %s", stmt,
               r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    store_trim(e->msg);
    PQclear(r);
    return NULL;
}

PGresult *store_exec_one(PGconn *c, const char *stmt, int n, const char *const *params,
                         const char *what, store_err_t *e)
{
    PGresult *r = store_exec(c, stmt, n, params, e);
    if (!r)
        return NULL;
    int rows = PQntuples(r);
    if (rows == 1)
        return r;
    PQclear(r);
    if (rows == 0)
        store_fail(e, STORE_NOT_FOUND, "%s: not found", what);
    else
        store_fail(e, STORE_HARD, "%s: %d rows where one was expected", stmt, rows);
    return NULL;
}

const char *store_get(const PGresult *r, int row, const char *name)
{
    int col = PQfnumber(r, name);
    if (col < 0) {
        log_error("result has no such column", "column=%s", name);
        return "";
    }
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

bool store_is_null(const PGresult *r, int row, const char *name)
{
    int col = PQfnumber(r, name);
    return col < 0 || PQgetisnull(r, row, col);
}
