/* policies: SQL for the policies aggregate. See policies.h.
 *
 * The three lists cross as JSON array parameters and come back as
 * array_to_json text (store_list.h).
 */
#include "policies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store_explain.h"

#define POLICIES_COLUMNS                                                                           \
    "name, scope, coalesce(team, api_key, '') AS target,"                                          \
    " array_to_json(allowed_models)::text AS allowed_models,"                                      \
    " array_to_json(allowed_providers)::text AS allowed_providers,"                                \
    " array_to_json(regions)::text AS regions, max_tokens, pii_redaction, log_prompts,"            \
    " log_responses, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"               \
    " (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms"

/* Lists arrive as JSON array parameters: ARRAY(SELECT jsonb_array_elements_text($n::jsonb)). */
const store_stmt_t policies_stmts[] = {
    {"policies_insert",
     "INSERT INTO policies (name, scope, team, api_key, allowed_models, allowed_providers,"
     " regions, max_tokens, pii_redaction, log_prompts, log_responses) VALUES ($1, $2, $3, $4,"
     " ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($7::jsonb)),"
     " $8::int, $9::bool, $10::bool, $11::bool)",
     11},
    {"policies_update",
     "UPDATE policies SET scope = $2, team = $3, api_key = $4,"
     " allowed_models = ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
     " allowed_providers = ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
     " regions = ARRAY(SELECT jsonb_array_elements_text($7::jsonb)),"
     " max_tokens = $8::int, pii_redaction = $9::bool, log_prompts = $10::bool,"
     " log_responses = $11::bool, updated_at = now() WHERE name = $1",
     11},
    {"policies_delete", "DELETE FROM policies WHERE name = $1", 1},
    {"policies_get", "SELECT " POLICIES_COLUMNS " FROM policies WHERE name = $1", 1},
    {"policies_list", "SELECT " POLICIES_COLUMNS " FROM policies ORDER BY name", 0},
    {NULL, NULL, 0},
};

static const store_explain_t policies_name_map[] = {
    {"policies_pkey", STORE_CONFLICT, "policy.name", "'%s' already exists"},
    {"policies_name_check", STORE_INVALID, "policy.name",
     "'%s' is not 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    {"policies_scope_check", STORE_INVALID, "policy.scope", "expected one of org, team, key"},
    {"policies_max_tokens_check", STORE_INVALID, "policy.max_tokens",
     "expected an integer from 0 to 10000000"},
    {NULL, STORE_OK, NULL, NULL},
};

static const store_explain_t policies_target_map[] = {
    {"policies_team_fkey", STORE_INVALID, "policy.target", "team '%s' does not exist"},
    {"policies_api_key_fkey", STORE_INVALID, "policy.target", "api key '%s' does not exist"},
    {"policies_one_per_target", STORE_CONFLICT, "policy.target", "'%s' already has a policy"},
    {"policies_target", STORE_INVALID, "policy.target", "'%s' does not fit the scope"},
    {NULL, STORE_OK, NULL, NULL},
};

static bool policies_chars_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
                  strchr(extra, ch);
        if (!ok)
            return false;
    }
    return true;
}

static int policies_check_list(const char *field, const store_list_t *l, size_t max,
                               const char *extra, store_err_t *e)
{
    if (l->n > POLICIES_LIST_MAX)
        return store_fail(e, STORE_INVALID, "policy.%s: more than %d entries", field,
                          POLICIES_LIST_MAX);
    for (size_t i = 0; i < l->n; i++)
        if (!l->items[i] || !policies_chars_ok(l->items[i], max, extra))
            return store_fail(e, STORE_INVALID,
                              "policy.%s[%zu]: expected 1 to %zu characters from A-Z a-z 0-9 . "
                              "_ -%s",
                              field, i, max, extra);
    return 0;
}

int policies_validate(const policies_policy_t *p, store_err_t *e)
{
    if (!policies_chars_ok(p->name, 64, ""))
        return store_fail(e, STORE_INVALID,
                          "policy.name: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
    bool org = strcmp(p->scope, "org") == 0;
    if (!org && strcmp(p->scope, "team") != 0 && strcmp(p->scope, "key") != 0)
        return store_fail(e, STORE_INVALID, "policy.scope: expected one of org, team, key");
    if (org && p->target[0])
        return store_fail(e, STORE_INVALID, "policy.target: must be empty for scope org");
    if (!org && !policies_chars_ok(p->target, 64, ""))
        return store_fail(e, STORE_INVALID,
                          "policy.target: expected the %s name (1 to 64 characters from A-Z a-z "
                          "0-9 . _ -)",
                          strcmp(p->scope, "key") == 0 ? "api key" : "team");
    if (policies_check_list("allowed_models", &p->allowed_models, 193, ":/@+", e) < 0 ||
        policies_check_list("allowed_providers", &p->allowed_providers, 64, "", e) < 0 ||
        policies_check_list("regions", &p->regions, 64, "", e) < 0)
        return -1;
    if (p->max_tokens < 0 || p->max_tokens > POLICIES_MAX_TOKENS)
        return store_fail(e, STORE_INVALID, "policy.max_tokens: expected an integer from 0 to %d",
                          POLICIES_MAX_TOKENS);
    return 0;
}

static int policies_write(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, bool update,
                          store_err_t *e)
{
    if (policies_validate(p, e) < 0)
        return -1;
    int rc = -1;
    char maxt[16], object[96], detail[512];
    char *models = store_list_to_json(&p->allowed_models);
    char *providers = store_list_to_json(&p->allowed_providers);
    char *regions = store_list_to_json(&p->regions);
    PGresult *r = NULL;
    if (!models || !providers || !regions) {
        store_fail(e, STORE_HARD, "policy: out of memory");
        goto out;
    }
    snprintf(maxt, sizeof(maxt), "%d", p->max_tokens);
    const char *params[] = {p->name,
                            p->scope,
                            strcmp(p->scope, "team") == 0 ? p->target : NULL,
                            strcmp(p->scope, "key") == 0 ? p->target : NULL,
                            models,
                            providers,
                            regions,
                            maxt,
                            p->pii_redaction ? "true" : "false",
                            p->log_prompts ? "true" : "false",
                            p->log_responses ? "true" : "false"};
    r = store_exec(c, update ? "policies_update" : "policies_insert", 11, params, e);
    if (!r) {
        if (store_explain(e, policies_target_map, p->target) < 0 &&
            strncmp(e->msg, "policy.", 7) != 0)
            store_explain(e, policies_name_map, p->name);
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "0") == 0) {
        store_fail(e, STORE_NOT_FOUND, "policy '%s': not found", p->name);
        goto out;
    }
    snprintf(object, sizeof(object), "policy/%s", p->name);
    snprintf(detail, sizeof(detail),
             "scope=%s target=%s models=%.120s providers=%.120s regions=%.80s max_tokens=%d "
             "pii_redaction=%d log_prompts=%d log_responses=%d",
             p->scope, p->target, models, providers, regions, p->max_tokens, p->pii_redaction,
             p->log_prompts, p->log_responses);
    rc = audit_append(c, who, update ? "policy.update" : "policy.create", object, detail, e);
out:
    PQclear(r);
    free(models);
    free(providers);
    free(regions);
    return rc;
}

int policies_insert(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e)
{
    return policies_write(c, who, p, false, e);
}

int policies_update(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e)
{
    return policies_write(c, who, p, true, e);
}

int policies_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e)
{
    char object[96];
    snprintf(object, sizeof(object), "policy/%s", name);
    const char *params[] = {name};
    PGresult *r = store_exec(c, "policies_delete", 1, params, e);
    if (!r)
        return -1;
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "policy '%s': not found", name);
    return audit_append(c, who, "policy.delete", object, "", e);
}

void policies_free(policies_policy_t *p)
{
    if (!p)
        return;
    store_list_free(&p->allowed_models);
    store_list_free(&p->allowed_providers);
    store_list_free(&p->regions);
}

void policies_list_free(policies_policy_t *ps, size_t n)
{
    for (size_t i = 0; ps && i < n; i++)
        policies_free(&ps[i]);
    free(ps);
}

static int policies_from_row(const PGresult *r, int i, policies_policy_t *p, store_err_t *e)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", store_get(r, i, "name"));
    snprintf(p->scope, sizeof(p->scope), "%s", store_get(r, i, "scope"));
    snprintf(p->target, sizeof(p->target), "%s", store_get(r, i, "target"));
    p->max_tokens = (int32_t)strtol(store_get(r, i, "max_tokens"), NULL, 10);
    p->pii_redaction = strcmp(store_get(r, i, "pii_redaction"), "t") == 0;
    p->log_prompts = strcmp(store_get(r, i, "log_prompts"), "t") == 0;
    p->log_responses = strcmp(store_get(r, i, "log_responses"), "t") == 0;
    p->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    p->updated_unix_ms = strtoll(store_get(r, i, "updated_ms"), NULL, 10);
    if (store_list_from_json(&p->allowed_models, store_get(r, i, "allowed_models")) < 0 ||
        store_list_from_json(&p->allowed_providers, store_get(r, i, "allowed_providers")) < 0 ||
        store_list_from_json(&p->regions, store_get(r, i, "regions")) < 0) {
        policies_free(p);
        return store_fail(e, STORE_HARD, "policy '%s': lists unreadable", p->name);
    }
    return 0;
}

int policies_get(PGconn *c, const char *name, policies_policy_t *out, store_err_t *e)
{
    char what[96];
    snprintf(what, sizeof(what), "policy '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "policies_get", 1, params, what, e);
    if (!r)
        return -1;
    int rc = policies_from_row(r, 0, out, e);
    PQclear(r);
    return rc;
}

int policies_list(PGconn *c, policies_policy_t **out, size_t *n, store_err_t *e)
{
    *out = NULL;
    *n = 0;
    PGresult *r = store_exec(c, "policies_list", 0, NULL, e);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = 0;
    policies_policy_t *ps = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*ps));
    if (!ps)
        rc = store_fail(e, STORE_HARD, "policies: out of memory");
    int done = 0;
    for (; done < rows && rc == 0; done++)
        rc = policies_from_row(r, done, &ps[done], e);
    PQclear(r);
    if (rc < 0) {
        policies_list_free(ps, (size_t)done);
        return -1;
    }
    *out = ps;
    *n = (size_t)rows;
    return 0;
}
