/* table_versions: building, storing and rendering routing tables. See
 * table_versions.h. */
#include "table_versions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

const store_stmt_t table_versions_stmts[] = {
    {"table_versions_lock", "SELECT pg_advisory_xact_lock(1819045225)", 0},
    {"table_versions_next", "SELECT coalesce(max(version), 0) + 1 FROM routing_table_versions", 0},
    {"table_versions_providers",
     "SELECT name, preset, base_url, auth_style, wire_format, api_version, api_key_sealed,"
     " headers::text AS headers, timeout_ms, region FROM providers WHERE enabled ORDER BY name",
     0},
    {"table_versions_models",
     "SELECT m.provider, m.name, m.input_cost_per_mtok, m.output_cost_per_mtok, m.quality"
     " FROM models m JOIN providers p ON p.name = m.provider WHERE p.enabled"
     " ORDER BY m.provider, m.name",
     0},
    {"table_versions_routes",
     "SELECT r.name, r.strategy, r.weight_cost, r.weight_latency, r.weight_quality,"
     " r.weight_success, r.tolerance, r.max_attempts, r.cache_ttl_ms, r.cache_max_temperature,"
     " d.provider, d.model, d.weight, d.priority FROM routes r"
     " JOIN route_deployments d ON d.route = r.name JOIN providers p ON p.name = d.provider"
     " WHERE p.enabled ORDER BY r.name, d.position",
     0},
    /* Governance sections, built as JSON by PostgreSQL: absent members are
     * NULL and stripped, so a default never reaches the table. Keys are
     * hashes only; a revoked key and the policies of revoked keys are left
     * out, a previous secret only while its grace lasts. */
    {"table_versions_keys",
     "SELECT coalesce(json_agg(json_strip_nulls(json_build_object('name', name,"
     " 'sha256', encode(sha256, 'hex'), 'team', team, 'scopes', scopes,"
     " 'rpm', nullif(requests_per_min, 0), 'tpm', nullif(tokens_per_min, 0),"
     " 'expires_unix_ms', (extract(epoch FROM expires_at) * 1000)::bigint,"
     " 'previous_sha256', CASE WHEN previous_expires_at > now()"
     " THEN encode(previous_sha256, 'hex') END,"
     " 'previous_expires_unix_ms', CASE WHEN previous_expires_at > now()"
     " THEN (extract(epoch FROM previous_expires_at) * 1000)::bigint END)) ORDER BY name),"
     " '[]')::text FROM api_keys WHERE revoked_at IS NULL",
     0},
    {"table_versions_teams",
     "SELECT coalesce(json_agg(json_strip_nulls(json_build_object('name', name,"
     " 'rpm', nullif(requests_per_min, 0), 'tpm', nullif(tokens_per_min, 0))) ORDER BY name),"
     " '[]')::text FROM teams",
     0},
    {"table_versions_policies",
     "SELECT coalesce(json_agg(json_strip_nulls(json_build_object('name', p.name,"
     " 'scope', p.scope, 'team', p.team, 'key', p.api_key,"
     " 'allowed_providers', nullif(p.allowed_providers, '{}'),"
     " 'denied_providers', nullif(p.denied_providers, '{}'),"
     " 'allowed_models', nullif(p.allowed_models, '{}'),"
     " 'denied_models', nullif(p.denied_models, '{}'), 'regions', nullif(p.regions, '{}'),"
     " 'max_tokens', nullif(p.max_tokens, 0), 'max_prompt_bytes', nullif(p.max_prompt_bytes, 0),"
     " 'redact', nullif(p.redact, '{}'), 'log_prompts', p.log_prompts,"
     " 'log_responses', p.log_responses)) ORDER BY p.name), '[]')::text"
     " FROM policies p LEFT JOIN api_keys k ON k.name = p.api_key"
     " WHERE p.api_key IS NULL OR k.revoked_at IS NULL",
     0},
    /* Once any key exists (revoked ones too), nodes refuse callers without
     * one: revoking the last key must close the gateway, not open it. */
    {"table_versions_auth_required", "SELECT EXISTS (SELECT 1 FROM api_keys)", 0},
    {"table_versions_insert",
     "INSERT INTO routing_table_versions (version, checksum, document) VALUES ($1::bigint, $2, $3)",
     3},
    {"table_versions_notify", "SELECT pg_notify('" TABLE_VERSIONS_CHANNEL "', $1)", 1},
    /* The "budgets" section as PostgreSQL builds it: the target under the
     * member its scope names ("team", "key", "provider"; none for org). */
    {"table_versions_budgets",
     "SELECT coalesce(json_agg(json_strip_nulls(json_build_object('name', name,"
     " 'scope', scope, 'team', team, 'key', api_key, 'provider', provider, 'period', period,"
     " 'limit_usd', limit_usd::float8, 'enforcement', enforcement)) ORDER BY name),"
     " '[]')::text FROM budgets",
     0},
    {"table_versions_latest",
     "SELECT version, document FROM routing_table_versions ORDER BY version DESC LIMIT 1", 0},
    {NULL, NULL, 0},
};

/* The preset and what the row states over it; an empty column is left out
 * so the node's loader takes the preset's value (docs/providers.md). */
static int tv_preset_fields(const PGresult *pr, int i, json_t *p)
{
    static const char *const cols[] = {"base_url", "auth_style", "wire_format", "api_version"};
    const char *preset = store_get(pr, i, "preset");
    if (preset[0] && strcmp(preset, "custom") != 0 &&
        json_object_set_new(p, "preset", json_string(preset)) < 0)
        return -1;
    for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
        const char *v = store_get(pr, i, cols[k]);
        if (v[0] && json_object_set_new(p, cols[k], json_string(v)) < 0)
            return -1;
    }
    return 0;
}

/* The provider's region when it is one a node accepts ([a-z0-9-]{1,32};
 * the registry checks it on write, older rows may hold anything). */
static int tv_region(const PGresult *pr, int i, json_t *p)
{
    const char *region = store_get(pr, i, "region");
    size_t n = strlen(region);
    if (n == 0 || n > 32 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        return 0;
    return json_object_set_new(p, "region", json_string(region));
}

static json_t *tv_providers(PGconn *c, store_err_t *e)
{
    PGresult *pr = store_exec(c, "table_versions_providers", 0, NULL, e);
    PGresult *mr = pr ? store_exec(c, "table_versions_models", 0, NULL, e) : NULL;
    json_t *list = json_array();
    if (!pr || !mr || !list)
        goto fail;
    int mi = 0, mn = PQntuples(mr);
    for (int i = 0; i < PQntuples(pr); i++) {
        const char *name = store_get(pr, i, "name");
        json_t *headers = json_object(), *models = json_array();
        json_t *hs = json_loads(store_get(pr, i, "headers"), 0, NULL);
        for (size_t j = 0; json_is_array(hs) && j < json_array_size(hs); j++) {
            json_t *h = json_array_get(hs, j);
            json_object_set(headers, json_string_value(json_object_get(h, "name")),
                            json_object_get(h, "value"));
        }
        json_decref(hs);
        for (; mi < mn && strcmp(store_get(mr, mi, "provider"), name) == 0; mi++)
            json_array_append_new(models,
                                  json_pack("{s:s, s:f, s:f, s:f}", "name",
                                            store_get(mr, mi, "name"), "input_cost_per_mtok",
                                            strtod(store_get(mr, mi, "input_cost_per_mtok"), NULL),
                                            "output_cost_per_mtok",
                                            strtod(store_get(mr, mi, "output_cost_per_mtok"), NULL),
                                            "quality", strtod(store_get(mr, mi, "quality"), NULL)));
        if (json_array_size(models) == 0) {
            /* Nothing to serve yet: a node's loader requires models. */
            json_decref(headers);
            json_decref(models);
            continue;
        }
        json_t *p =
            json_pack("{s:s, s:i, s:o, s:o}", "name", name, "timeout_ms",
                      atoi(store_get(pr, i, "timeout_ms")), "headers", headers, "models", models);
        if (!p || json_array_append_new(list, p) != 0)
            goto fail;
        if (tv_preset_fields(pr, i, p) < 0 || tv_region(pr, i, p) < 0)
            goto fail;
        if (!store_is_null(pr, i, "api_key_sealed"))
            json_object_set_new(p, "api_key_sealed",
                                json_string(store_get(pr, i, "api_key_sealed")));
    }
    PQclear(pr);
    PQclear(mr);
    return list;
fail:
    if (e->code == STORE_OK)
        store_fail(e, STORE_HARD, "routing table: out of memory");
    PQclear(pr);
    PQclear(mr);
    json_decref(list);
    return NULL;
}

/* The settings a route row sets (NULL columns are the data plane's
 * defaults and stay out of the table). */
static int tv_route_settings(const PGresult *r, int i, json_t *rt)
{
    if (!store_is_null(r, i, "weight_cost")) {
        json_t *w =
            json_pack("{s:f, s:f, s:f, s:f}", "cost", strtod(store_get(r, i, "weight_cost"), NULL),
                      "latency", strtod(store_get(r, i, "weight_latency"), NULL), "quality",
                      strtod(store_get(r, i, "weight_quality"), NULL), "success",
                      strtod(store_get(r, i, "weight_success"), NULL));
        if (json_object_set_new(rt, "weights", w) != 0)
            return -1;
    }
    if (!store_is_null(r, i, "tolerance") &&
        json_object_set_new(rt, "tolerance",
                            json_real(strtod(store_get(r, i, "tolerance"), NULL))) != 0)
        return -1;
    long attempts = strtol(store_get(r, i, "max_attempts"), NULL, 10);
    if (attempts > 0 && json_object_set_new(rt, "max_attempts", json_integer(attempts)) != 0)
        return -1;
    if (!store_is_null(r, i, "cache_ttl_ms")) {
        json_t *cache = json_pack(
            "{s:I, s:f}", "ttl_ms", (json_int_t)strtoll(store_get(r, i, "cache_ttl_ms"), NULL, 10),
            "max_temperature", strtod(store_get(r, i, "cache_max_temperature"), NULL));
        if (json_object_set_new(rt, "cache", cache) != 0)
            return -1;
    }
    return 0;
}

static json_t *tv_routes(PGconn *c, store_err_t *e)
{
    PGresult *r = store_exec(c, "table_versions_routes", 0, NULL, e);
    json_t *list = json_array();
    json_t *deps = NULL;
    const char *cur = NULL;
    if (!r || !list)
        goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = store_get(r, i, "name");
        if (!cur || strcmp(cur, name) != 0) {
            deps = json_array();
            json_t *rt = json_pack("{s:s, s:s, s:o}", "name", name, "strategy",
                                   store_get(r, i, "strategy"), "deployments", deps);
            if (!rt || json_array_append_new(list, rt) != 0 || tv_route_settings(r, i, rt) < 0)
                goto fail;
            cur = name;
        }
        json_t *d =
            json_pack("{s:s, s:s, s:f, s:i}", "provider", store_get(r, i, "provider"), "model",
                      store_get(r, i, "model"), "weight", strtod(store_get(r, i, "weight"), NULL),
                      "priority", atoi(store_get(r, i, "priority")));
        if (!d || json_array_append_new(deps, d) != 0)
            goto fail;
    }
    PQclear(r);
    return list;
fail:
    if (e->code == STORE_OK)
        store_fail(e, STORE_HARD, "routing table: out of memory");
    PQclear(r);
    json_decref(list);
    return NULL;
}

/* One governance section: a JSON array PostgreSQL built. */
static json_t *tv_section(PGconn *c, const char *stmt, store_err_t *e)
{
    PGresult *r = store_exec_one(c, stmt, 0, NULL, stmt, e);
    if (!r)
        return NULL;
    json_error_t je;
    json_t *a = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    PQclear(r);
    if (!json_is_array(a)) {
        json_decref(a);
        store_fail(e, STORE_HARD, "%s: not a JSON array", stmt);
        return NULL;
    }
    return a;
}

/* "keys", "teams", "policies", "budgets" and "auth_required" into doc. 0 or -1. */
static int tv_governance(PGconn *c, json_t *doc, store_err_t *e)
{
    static const struct {
        const char *member, *stmt;
    } sections[] = {{"keys", "table_versions_keys"},
                    {"teams", "table_versions_teams"},
                    {"policies", "table_versions_policies"},
                    {"budgets", "table_versions_budgets"}};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        json_t *a = tv_section(c, sections[i].stmt, e);
        if (!a)
            return -1;
        if (json_object_set_new(doc, sections[i].member, a) < 0)
            return store_fail(e, STORE_HARD, "routing table: out of memory");
    }
    PGresult *r = store_exec_one(c, "table_versions_auth_required", 0, NULL, "auth required", e);
    if (!r)
        return -1;
    bool required = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (required && json_object_set_new(doc, "auth_required", json_true()) < 0)
        return store_fail(e, STORE_HARD, "routing table: out of memory");
    return 0;
}

int table_versions_publish(PGconn *c, int64_t *version, store_err_t *e)
{
    int rc = -1;
    json_t *doc = NULL, *providers = NULL, *routes = NULL;
    char *text = NULL;
    PGresult *r = store_exec(c, "table_versions_lock", 0, NULL, e);
    if (!r)
        return -1;
    PQclear(r);
    if (!(r = store_exec_one(c, "table_versions_next", 0, NULL, "next version", e)))
        return -1;
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!(providers = tv_providers(c, e)) || !(routes = tv_routes(c, e)))
        goto out;
    if (json_array_size(providers) == 0) {
        /* A table without a servable provider is one no node accepts: the
         * change commits, the nodes keep what they have. */
        *version = 0;
        rc = 0;
        goto out;
    }
    doc = json_pack("{s:I, s:O, s:O}", "version", (json_int_t)v, "providers", providers, "routes",
                    routes);
    if (doc && tv_governance(c, doc, e) < 0)
        goto out;
    if (!doc || !(text = json_dumps(doc, JSON_COMPACT))) {
        store_fail(e, STORE_HARD, "routing table: out of memory");
        goto out;
    }
    char sum[65], vs[24];
    secret_sha256_hex(text, strlen(text), sum);
    snprintf(vs, sizeof(vs), "%" PRId64, v);
    const char *params[] = {vs, sum, text};
    if (!(r = store_exec(c, "table_versions_insert", 3, params, e)))
        goto out;
    PQclear(r);
    if (!(r = store_exec(c, "table_versions_notify", 1, params, e)))
        goto out;
    PQclear(r);
    *version = v;
    rc = 0;
out:
    json_decref(providers);
    json_decref(routes);
    json_decref(doc);
    free(text);
    return rc;
}

int table_versions_latest(PGconn *c, int64_t *version, char **document, store_err_t *e)
{
    PGresult *r = store_exec_one(c, "table_versions_latest", 0, NULL, "routing table", e);
    if (!r)
        return -1;
    *version = strtoll(store_get(r, 0, "version"), NULL, 10);
    *document = strdup(store_get(r, 0, "document"));
    PQclear(r);
    if (!*document)
        return store_fail(e, STORE_HARD, "routing table: out of memory");
    return 0;
}

char *table_versions_render(const char *document, const secret_key_t *k, bool redact, char *err,
                            size_t errlen)
{
    json_error_t je;
    char *out = NULL;
    json_t *doc = json_loads(document, 0, &je);
    if (!doc) {
        snprintf(err, errlen, "routing table document: %s", je.text);
        return NULL;
    }
    json_t *providers = json_object_get(doc, "providers");
    for (size_t i = 0; json_is_array(providers) && i < json_array_size(providers); i++) {
        json_t *p = json_array_get(providers, i);
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *style = json_string_value(json_object_get(p, "auth_style"));
        const char *sealed = json_string_value(json_object_get(p, "api_key_sealed"));
        /* No auth_style: the preset's (the node knows it). */
        if (sealed && name && (!style || strcmp(style, "none") != 0)) {
            char *key = redact ? strdup("<redacted>") : secret_open(k, name, sealed, err, errlen);
            if (!key) {
                if (redact)
                    snprintf(err, errlen, "routing table: out of memory");
                goto out;
            }
            /* The node sends the key as its auth_style says (adapter.c). */
            json_object_set_new(p, "api_key", json_string(key));
            memset(key, 0, strlen(key));
            free(key);
        }
        json_object_del(p, "api_key_sealed");
    }
    if (!(out = json_dumps(doc, JSON_COMPACT)))
        snprintf(err, errlen, "routing table: out of memory");
out:
    json_decref(doc);
    return out;
}
