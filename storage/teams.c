/* teams: SQL for the teams aggregate. See teams.h. */
#include "teams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store_explain.h"

#define TEAMS_COLUMNS                                                                              \
    "name, description, requests_per_min, tokens_per_min,"                                         \
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms,"                              \
    " (SELECT count(*) FROM api_keys k WHERE k.team = teams.name) AS n_keys"

const store_stmt_t teams_stmts[] = {
    {"teams_insert",
     "INSERT INTO teams (name, description, requests_per_min, tokens_per_min)"
     " VALUES ($1, $2, $3::int, $4::bigint)",
     4},
    {"teams_update",
     "UPDATE teams SET description = $2, requests_per_min = $3::int, tokens_per_min = $4::bigint,"
     " updated_at = now() WHERE name = $1",
     4},
    {"teams_delete", "DELETE FROM teams WHERE name = $1", 1},
    {"teams_get", "SELECT " TEAMS_COLUMNS " FROM teams WHERE name = $1", 1},
    {"teams_get_locked", "SELECT " TEAMS_COLUMNS " FROM teams WHERE name = $1 FOR UPDATE", 1},
    {"teams_list", "SELECT " TEAMS_COLUMNS " FROM teams ORDER BY name", 0},
    {NULL, NULL, 0},
};

static const store_explain_t teams_write_map[] = {
    {"teams_pkey", STORE_CONFLICT, "team.name", "'%s' already exists"},
    {"teams_name_check", STORE_INVALID, "team.name",
     "'%s' is not 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    {"teams_description_check", STORE_INVALID, "team.description", "longer than 256 characters"},
    {"teams_requests_per_min_check", STORE_INVALID, "team.requests_per_min",
     "expected 0 to 10000000"},
    {"teams_tokens_per_min_check", STORE_INVALID, "team.tokens_per_min",
     "expected 0 to 10000000000"},
    {NULL, STORE_OK, NULL, NULL},
};

static const store_explain_t teams_delete_map[] = {
    {"api_keys_team_fkey", STORE_IN_USE, "team",
     "'%s' still owns API keys (delete them or move them to another team first)"},
    {NULL, STORE_OK, NULL, NULL},
};

static bool teams_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int teams_validate(const teams_team_t *t, store_err_t *e)
{
    if (!teams_name_ok(t->name))
        return store_fail(e, STORE_INVALID,
                          "team.name: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
    if (strlen(t->description) > TEAMS_DESCRIPTION_MAX)
        return store_fail(e, STORE_INVALID, "team.description: longer than %d bytes",
                          TEAMS_DESCRIPTION_MAX);
    if (t->requests_per_min < 0 || t->requests_per_min > TEAMS_RPM_MAX)
        return store_fail(e, STORE_INVALID, "team.requests_per_min: expected 0 to %d",
                          TEAMS_RPM_MAX);
    if (t->tokens_per_min < 0 || t->tokens_per_min > TEAMS_TPM_MAX)
        return store_fail(e, STORE_INVALID, "team.tokens_per_min: expected 0 to %lld",
                          TEAMS_TPM_MAX);
    return 0;
}

/* The settings as the audit log shows them. */
static void teams_describe(const teams_team_t *t, char *out, size_t n)
{
    snprintf(out, n, "description=\"%.200s\" requests_per_min=%d tokens_per_min=%lld",
             t->description, t->requests_per_min, (long long)t->tokens_per_min);
}

/* Runs a change and its audit row; `map` explains refusals. */
static int teams_change(PGconn *c, const char *stmt, int n, const char *const *params,
                        const store_explain_t *map, const audit_actor_t *who, const char *action,
                        const char *name, const char *detail, store_err_t *e)
{
    char object[96];
    snprintf(object, sizeof(object), "team/%s", name);
    PGresult *r = store_exec(c, stmt, n, params, e);
    if (!r)
        return store_explain(e, map, name);
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "team '%s': not found", name);
    return audit_append(c, who, action, object, detail, e);
}

static int teams_write(PGconn *c, const audit_actor_t *who, const teams_team_t *t, bool update,
                       store_err_t *e)
{
    char rpm[16], tpm[24], after[320], detail[700];
    teams_team_t before;
    if (teams_validate(t, e) < 0)
        return -1;
    teams_describe(t, after, sizeof(after));
    if (update) {
        if (teams_get_locked(c, t->name, &before, e) < 0)
            return -1;
        char was[320];
        teams_describe(&before, was, sizeof(was));
        snprintf(detail, sizeof(detail), "before: %s; after: %s", was, after);
    } else {
        snprintf(detail, sizeof(detail), "%s", after);
    }
    snprintf(rpm, sizeof(rpm), "%d", t->requests_per_min);
    snprintf(tpm, sizeof(tpm), "%lld", (long long)t->tokens_per_min);
    const char *params[] = {t->name, t->description, rpm, tpm};
    return teams_change(c, update ? "teams_update" : "teams_insert", 4, params, teams_write_map,
                        who, update ? "team.update" : "team.create", t->name, detail, e);
}

int teams_insert(PGconn *c, const audit_actor_t *who, const teams_team_t *t, store_err_t *e)
{
    return teams_write(c, who, t, false, e);
}

int teams_update(PGconn *c, const audit_actor_t *who, const teams_team_t *t, store_err_t *e)
{
    return teams_write(c, who, t, true, e);
}

int teams_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e)
{
    teams_team_t t;
    if (teams_get_locked(c, name, &t, e) < 0)
        return -1;
    if (t.n_keys > 0)
        return store_fail(e, STORE_IN_USE,
                          "team '%s': still owns %d API key%s (delete them or move them to "
                          "another team first)",
                          name, t.n_keys, t.n_keys == 1 ? "" : "s");
    char detail[320];
    teams_describe(&t, detail, sizeof(detail));
    const char *params[] = {name};
    return teams_change(c, "teams_delete", 1, params, teams_delete_map, who, "team.delete", name,
                        detail, e);
}

static void teams_from_row(const PGresult *r, int i, teams_team_t *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", store_get(r, i, "name"));
    snprintf(t->description, sizeof(t->description), "%s", store_get(r, i, "description"));
    t->requests_per_min = (int32_t)strtol(store_get(r, i, "requests_per_min"), NULL, 10);
    t->tokens_per_min = strtoll(store_get(r, i, "tokens_per_min"), NULL, 10);
    t->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    t->updated_unix_ms = strtoll(store_get(r, i, "updated_ms"), NULL, 10);
    t->n_keys = (int32_t)strtol(store_get(r, i, "n_keys"), NULL, 10);
}

static int teams_get_one(PGconn *c, const char *stmt, const char *name, teams_team_t *out,
                         store_err_t *e)
{
    char what[96];
    snprintf(what, sizeof(what), "team '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, stmt, 1, params, what, e);
    if (!r)
        return -1;
    teams_from_row(r, 0, out);
    PQclear(r);
    return 0;
}

int teams_get(PGconn *c, const char *name, teams_team_t *out, store_err_t *e)
{
    return teams_get_one(c, "teams_get", name, out, e);
}

int teams_get_locked(PGconn *c, const char *name, teams_team_t *out, store_err_t *e)
{
    return teams_get_one(c, "teams_get_locked", name, out, e);
}

int teams_list(PGconn *c, teams_team_t **out, size_t *n, store_err_t *e)
{
    *out = NULL;
    *n = 0;
    PGresult *r = store_exec(c, "teams_list", 0, NULL, e);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    teams_team_t *ts = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*ts));
    if (!ts) {
        PQclear(r);
        return store_fail(e, STORE_HARD, "teams: out of memory");
    }
    for (int i = 0; i < rows; i++)
        teams_from_row(r, i, &ts[i]);
    PQclear(r);
    *out = ts;
    *n = (size_t)rows;
    return 0;
}
