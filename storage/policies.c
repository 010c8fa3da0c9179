/* policies: SQL for the policies aggregate. See policies.h.
 *
 * The lists cross as JSON array parameters and come back as array_to_json
 * text (store_list.h); redaction kinds are a bit set in C and a text[] of
 * names in SQL, so compliance queries read names. References to providers
 * and regions are checked against the registry inside the caller's
 * transaction, so a policy never names what the registry does not have at
 * the moment it is written.
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
    " array_to_json(denied_models)::text AS denied_models,"                                        \
    " array_to_json(allowed_providers)::text AS allowed_providers,"                                \
    " array_to_json(denied_providers)::text AS denied_providers,"                                  \
    " array_to_json(regions)::text AS regions, max_tokens, max_prompt_bytes,"                      \
    " array_to_json(redact)::text AS redact, log_prompts, log_responses,"                          \
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms"

/* Lists arrive as JSON array parameters, unpacked by
 * ARRAY(SELECT jsonb_array_elements_text($n::jsonb)). */
const store_stmt_t policies_stmts[] = {
    {"policies_insert",
     "INSERT INTO policies (name, scope, team, api_key, allowed_models, denied_models,"
     " allowed_providers, denied_providers, regions, max_tokens, max_prompt_bytes, redact,"
     " log_prompts, log_responses) VALUES ($1, $2, $3, $4,"
     " ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($7::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($8::jsonb)),"
     " ARRAY(SELECT jsonb_array_elements_text($9::jsonb)),"
     " $10::int, $11::bigint,"
     " ARRAY(SELECT jsonb_array_elements_text($12::jsonb)),"
     " $13::bool, $14::bool)",
     14},
    {"policies_update",
     "UPDATE policies SET scope = $2, team = $3, api_key = $4,"
     " allowed_models = ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
     " denied_models = ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
     " allowed_providers = ARRAY(SELECT jsonb_array_elements_text($7::jsonb)),"
     " denied_providers = ARRAY(SELECT jsonb_array_elements_text($8::jsonb)),"
     " regions = ARRAY(SELECT jsonb_array_elements_text($9::jsonb)),"
     " max_tokens = $10::int, max_prompt_bytes = $11::bigint,"
     " redact = ARRAY(SELECT jsonb_array_elements_text($12::jsonb)),"
     " log_prompts = $13::bool, log_responses = $14::bool, updated_at = now() WHERE name = $1",
     14},
    {"policies_delete", "DELETE FROM policies WHERE name = $1", 1},
    {"policies_get", "SELECT " POLICIES_COLUMNS " FROM policies WHERE name = $1", 1},
    {"policies_get_locked", "SELECT " POLICIES_COLUMNS " FROM policies WHERE name = $1 FOR UPDATE",
     1},
    {"policies_list", "SELECT " POLICIES_COLUMNS " FROM policies ORDER BY name", 0},
    {"policies_provider_known", "SELECT count(*) FROM providers WHERE name = $1", 1},
    {"policies_region_known", "SELECT count(*) FROM providers WHERE region = $1", 1},
    {"policies_key_revoked",
     "SELECT count(*) FROM api_keys WHERE name = $1 AND revoked_at IS NOT NULL", 1},
    {NULL, NULL, 0},
};

static const char *const policies_redact_names[] = {"email", "phone", "card", "iban"};
#define POLICIES_N_REDACT (sizeof(policies_redact_names) / sizeof(policies_redact_names[0]))

static const store_explain_t policies_name_map[] = {
    {"policies_pkey", STORE_CONFLICT, "policy.name", "'%s' already exists"},
    {"policies_name_check", STORE_INVALID, "policy.name",
     "'%s' is not 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    {"policies_scope_check", STORE_INVALID, "policy.scope", "expected one of org, team, key"},
    {"policies_max_tokens_check", STORE_INVALID, "policy.max_tokens",
     "expected an integer from 0 to 10000000"},
    {"policies_max_prompt_bytes_check", STORE_INVALID, "policy.max_prompt_bytes",
     "expected an integer from 0 to 67108864"},
    {"policies_redact_check", STORE_INVALID, "policy.redact",
     "expected email, phone, card or iban"},
    {NULL, STORE_OK, NULL, NULL},
};

static const store_explain_t policies_target_map[] = {
    {"policies_team_fkey", STORE_INVALID, "policy.target", "team '%s' does not exist"},
    {"policies_api_key_fkey", STORE_INVALID, "policy.target", "api key '%s' does not exist"},
    {"policies_one_per_target", STORE_CONFLICT, "policy.target", "'%s' already has a policy"},
    {"policies_target", STORE_INVALID, "policy.target", "'%s' does not fit the scope"},
    {NULL, STORE_OK, NULL, NULL},
};

unsigned policies_redact_parse(const char *name)
{
    for (size_t i = 0; name && i < POLICIES_N_REDACT; i++)
        if (strcmp(name, policies_redact_names[i]) == 0)
            return 1u << i;
    return 0;
}

const char *policies_redact_name(size_t i)
{
    return i < POLICIES_N_REDACT ? policies_redact_names[i] : NULL;
}

bool policies_region_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

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

static bool policies_list_has(const store_list_t *l, size_t before, const char *s)
{
    for (size_t i = 0; i < before && i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

static int policies_check_list(const char *field, const store_list_t *l, size_t max,
                               const char *extra, store_err_t *e)
{
    if (l->n > POLICIES_LIST_MAX)
        return store_fail(e, STORE_INVALID, "policy.%s: more than %d entries", field,
                          POLICIES_LIST_MAX);
    for (size_t i = 0; i < l->n; i++) {
        if (!l->items[i] || !policies_chars_ok(l->items[i], max, extra))
            return store_fail(e, STORE_INVALID,
                              "policy.%s[%zu]: expected 1 to %zu characters from A-Z a-z 0-9 . "
                              "_ -%s",
                              field, i, max, extra);
        if (policies_list_has(l, i, l->items[i]))
            return store_fail(e, STORE_INVALID, "policy.%s[%zu]: '%s' is listed twice", field, i,
                              l->items[i]);
    }
    return 0;
}

/* A name both allowed and denied is a contradiction, not a precedence rule. */
static int policies_check_disjoint(const char *allowed_field, const store_list_t *allowed,
                                   const char *denied_field, const store_list_t *denied,
                                   store_err_t *e)
{
    for (size_t i = 0; i < denied->n; i++)
        if (policies_list_has(allowed, allowed->n, denied->items[i]))
            return store_fail(e, STORE_INVALID, "policy.%s[%zu]: '%s' is also in %s", denied_field,
                              i, denied->items[i], allowed_field);
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
        policies_check_list("denied_models", &p->denied_models, 193, ":/@+", e) < 0 ||
        policies_check_list("allowed_providers", &p->allowed_providers, 64, "", e) < 0 ||
        policies_check_list("denied_providers", &p->denied_providers, 64, "", e) < 0 ||
        policies_check_list("regions", &p->regions, 64, "", e) < 0)
        return -1;
    for (size_t i = 0; i < p->regions.n; i++)
        if (!policies_region_ok(p->regions.items[i]))
            return store_fail(e, STORE_INVALID,
                              "policy.regions[%zu]: expected 1 to 32 characters from a-z 0-9 -", i);
    if (policies_check_disjoint("allowed_providers", &p->allowed_providers, "denied_providers",
                                &p->denied_providers, e) < 0 ||
        policies_check_disjoint("allowed_models", &p->allowed_models, "denied_models",
                                &p->denied_models, e) < 0)
        return -1;
    if (p->max_tokens < 0 || p->max_tokens > POLICIES_MAX_TOKENS)
        return store_fail(e, STORE_INVALID, "policy.max_tokens: expected an integer from 0 to %d",
                          POLICIES_MAX_TOKENS);
    if (p->max_prompt_bytes < 0 || p->max_prompt_bytes > POLICIES_MAX_PROMPT_BYTES)
        return store_fail(e, STORE_INVALID,
                          "policy.max_prompt_bytes: expected an integer from 0 to %lld",
                          POLICIES_MAX_PROMPT_BYTES);
    if (p->redact & ~POLICIES_REDACT_ALL)
        return store_fail(e, STORE_INVALID,
                          "policy.redact: expected one or more of email, phone, card, iban");
    return 0;
}

/* count(*) of one-parameter statement `stmt` > 0. -1 on error. */
static int policies_known(PGconn *c, const char *stmt, const char *value, store_err_t *e)
{
    const char *params[] = {value};
    PGresult *r = store_exec_one(c, stmt, 1, params, stmt, e);
    if (!r)
        return -1;
    int known = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    return known;
}

/* Named providers are registered; named regions are some provider's. */
static int policies_check_refs(PGconn *c, const policies_policy_t *p, store_err_t *e)
{
    const struct {
        const char *field;
        const store_list_t *l;
    } provs[] = {{"allowed_providers", &p->allowed_providers},
                 {"denied_providers", &p->denied_providers}};
    for (size_t f = 0; f < 2; f++)
        for (size_t i = 0; i < provs[f].l->n; i++) {
            int k = policies_known(c, "policies_provider_known", provs[f].l->items[i], e);
            if (k < 0)
                return -1;
            if (!k)
                return store_fail(e, STORE_INVALID,
                                  "policy.%s[%zu]: provider '%s' is not registered", provs[f].field,
                                  i, provs[f].l->items[i]);
        }
    /* A revoked key's policy would govern nothing (it is left out of tables). */
    if (strcmp(p->scope, "key") == 0) {
        int k = policies_known(c, "policies_key_revoked", p->target, e);
        if (k < 0)
            return -1;
        if (k)
            return store_fail(e, STORE_INVALID, "policy.target: api key '%s' is revoked",
                              p->target);
    }
    for (size_t i = 0; i < p->regions.n; i++) {
        int k = policies_known(c, "policies_region_known", p->regions.items[i], e);
        if (k < 0)
            return -1;
        if (!k)
            return store_fail(e, STORE_INVALID,
                              "policy.regions[%zu]: no provider is in region '%s'", i,
                              p->regions.items[i]);
    }
    return 0;
}

/* The redaction kinds as a JSON array of names (malloc'd) or NULL. */
static char *policies_redact_json(unsigned redact)
{
    char *items[POLICIES_N_REDACT];
    store_list_t l = {items, 0};
    for (size_t i = 0; i < POLICIES_N_REDACT; i++)
        if (redact & (1u << i))
            items[l.n++] = (char *)policies_redact_names[i];
    return store_list_to_json(&l);
}

/* The lists of a policy as JSON texts, in statement parameter order. */
typedef struct {
    char *v[6]; /* allowed_models, denied_models, allowed_providers, denied_providers, regions,
                   redact */
} policies_json_t;

static void policies_json_free(policies_json_t *j)
{
    for (size_t i = 0; i < 6; i++)
        free(j->v[i]);
}

static int policies_json(const policies_policy_t *p, policies_json_t *j, store_err_t *e)
{
    memset(j, 0, sizeof(*j));
    j->v[0] = store_list_to_json(&p->allowed_models);
    j->v[1] = store_list_to_json(&p->denied_models);
    j->v[2] = store_list_to_json(&p->allowed_providers);
    j->v[3] = store_list_to_json(&p->denied_providers);
    j->v[4] = store_list_to_json(&p->regions);
    j->v[5] = policies_redact_json(p->redact);
    for (size_t i = 0; i < 6; i++)
        if (!j->v[i]) {
            policies_json_free(j);
            return store_fail(e, STORE_HARD, "policy: out of memory");
        }
    return 0;
}

/* The settings as the audit log shows them. */
static void policies_describe(const policies_policy_t *p, const policies_json_t *j, char *out,
                              size_t n)
{
    snprintf(out, n,
             "scope=%s target=%s allowed_models=%.200s denied_models=%.200s"
             " allowed_providers=%.120s denied_providers=%.120s regions=%.120s max_tokens=%d"
             " max_prompt_bytes=%lld redact=%s log_prompts=%d log_responses=%d",
             p->scope, p->target, j->v[0], j->v[1], j->v[2], j->v[3], j->v[4], p->max_tokens,
             (long long)p->max_prompt_bytes, j->v[5], p->log_prompts, p->log_responses);
}

/* `before` set: a replacement of that policy; NULL: an insert. */
static int policies_write(PGconn *c, const audit_actor_t *who, const policies_policy_t *p,
                          const policies_policy_t *before, store_err_t *e)
{
    if (policies_validate(p, e) < 0 || policies_check_refs(c, p, e) < 0)
        return -1;
    int rc = -1;
    char maxt[16], maxb[24], object[96], after[1400], detail[2900];
    policies_json_t j, bj;
    PGresult *r = NULL;
    if (policies_json(p, &j, e) < 0)
        return -1;
    policies_describe(p, &j, after, sizeof(after));
    if (before) {
        char was[1400];
        if (policies_json(before, &bj, e) < 0)
            goto out;
        policies_describe(before, &bj, was, sizeof(was));
        policies_json_free(&bj);
        snprintf(detail, sizeof(detail), "before: %s; after: %s", was, after);
    } else {
        snprintf(detail, sizeof(detail), "%s", after);
    }
    snprintf(maxt, sizeof(maxt), "%d", p->max_tokens);
    snprintf(maxb, sizeof(maxb), "%lld", (long long)p->max_prompt_bytes);
    const char *params[] = {p->name,
                            p->scope,
                            strcmp(p->scope, "team") == 0 ? p->target : NULL,
                            strcmp(p->scope, "key") == 0 ? p->target : NULL,
                            j.v[0],
                            j.v[1],
                            j.v[2],
                            j.v[3],
                            j.v[4],
                            maxt,
                            maxb,
                            j.v[5],
                            p->log_prompts ? "true" : "false",
                            p->log_responses ? "true" : "false"};
    r = store_exec(c, before ? "policies_update" : "policies_insert", 14, params, e);
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
    rc = audit_append(c, who, before ? "policy.update" : "policy.create", object, detail, e);
out:
    PQclear(r);
    policies_json_free(&j);
    return rc;
}

static int policies_get_one(PGconn *c, const char *stmt, const char *name, policies_policy_t *out,
                            store_err_t *e);

int policies_insert(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e)
{
    return policies_write(c, who, p, NULL, e);
}

int policies_update(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e)
{
    policies_policy_t before;
    if (policies_get_one(c, "policies_get_locked", p->name, &before, e) < 0)
        return -1;
    int rc = policies_write(c, who, p, &before, e);
    policies_free(&before);
    return rc;
}

int policies_set(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, bool *created,
                 store_err_t *e)
{
    policies_policy_t before;
    *created = false;
    if (policies_validate(p, e) < 0)
        return -1;
    if (policies_get_one(c, "policies_get_locked", p->name, &before, e) < 0) {
        if (e->code != STORE_NOT_FOUND)
            return -1;
        *created = true;
        return policies_write(c, who, p, NULL, e);
    }
    int rc = policies_write(c, who, p, &before, e);
    policies_free(&before);
    return rc;
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
    store_list_free(&p->denied_models);
    store_list_free(&p->allowed_providers);
    store_list_free(&p->denied_providers);
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
    store_list_t redact = STORE_LIST_INIT;
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", store_get(r, i, "name"));
    snprintf(p->scope, sizeof(p->scope), "%s", store_get(r, i, "scope"));
    snprintf(p->target, sizeof(p->target), "%s", store_get(r, i, "target"));
    p->max_tokens = (int32_t)strtol(store_get(r, i, "max_tokens"), NULL, 10);
    p->max_prompt_bytes = strtoll(store_get(r, i, "max_prompt_bytes"), NULL, 10);
    p->log_prompts = strcmp(store_get(r, i, "log_prompts"), "t") == 0;
    p->log_responses = strcmp(store_get(r, i, "log_responses"), "t") == 0;
    p->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    p->updated_unix_ms = strtoll(store_get(r, i, "updated_ms"), NULL, 10);
    if (store_list_from_json(&p->allowed_models, store_get(r, i, "allowed_models")) < 0 ||
        store_list_from_json(&p->denied_models, store_get(r, i, "denied_models")) < 0 ||
        store_list_from_json(&p->allowed_providers, store_get(r, i, "allowed_providers")) < 0 ||
        store_list_from_json(&p->denied_providers, store_get(r, i, "denied_providers")) < 0 ||
        store_list_from_json(&p->regions, store_get(r, i, "regions")) < 0 ||
        store_list_from_json(&redact, store_get(r, i, "redact")) < 0) {
        policies_free(p);
        return store_fail(e, STORE_HARD, "policy '%s': lists unreadable", p->name);
    }
    for (size_t k = 0; k < redact.n; k++)
        p->redact |= policies_redact_parse(redact.items[k]);
    store_list_free(&redact);
    return 0;
}

static int policies_get_one(PGconn *c, const char *stmt, const char *name, policies_policy_t *out,
                            store_err_t *e)
{
    char what[96];
    snprintf(what, sizeof(what), "policy '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, stmt, 1, params, what, e);
    if (!r)
        return -1;
    int rc = policies_from_row(r, 0, out, e);
    PQclear(r);
    return rc;
}

int policies_get(PGconn *c, const char *name, policies_policy_t *out, store_err_t *e)
{
    return policies_get_one(c, "policies_get", name, out, e);
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
        policies_list_free(ps, (size_t)(done > 0 ? done - 1 : 0));
        return -1;
    }
    *out = ps;
    *n = (size_t)rows;
    return 0;
}
