/* providers: SQL for the providers aggregate. See providers.h.
 *
 * Extra headers are stored as a jsonb array of {"name","value"} objects so
 * their order is kept.
 */
#include "providers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_msg.h"

const store_stmt_t providers_stmts[] = {
    {"providers_insert",
     "INSERT INTO providers (name, preset, base_url, auth_style, api_key_sealed, headers,"
     " timeout_ms, region, enabled, wire_format, api_version)"
     " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::int, $8, $9::bool, $10, $11)",
     11},
    {"providers_update",
     "UPDATE providers SET preset = $2, base_url = $3, auth_style = $4,"
     " api_key_sealed = CASE WHEN $10::bool THEN NULL WHEN $5::text IS NULL THEN api_key_sealed"
     " ELSE $5 END, headers = $6::jsonb, timeout_ms = $7::int, region = $8, enabled = $9::bool,"
     " wire_format = $11, api_version = $12, updated_at = now() WHERE name = $1",
     12},
    {"providers_delete", "DELETE FROM providers WHERE name = $1", 1},
    {"providers_endpoint",
     "SELECT preset, base_url, auth_style, api_key_sealed, headers::text AS headers, timeout_ms"
     " FROM providers WHERE name = $1",
     1},
    {"providers_get",
     "SELECT name, preset, base_url, auth_style, api_key_sealed IS NOT NULL AS has_api_key,"
     " headers::text AS headers, timeout_ms, region, enabled, wire_format, api_version"
     " FROM providers WHERE name = $1",
     1},
    {"providers_list",
     "SELECT name, preset, base_url, auth_style, api_key_sealed IS NOT NULL AS has_api_key,"
     " headers::text AS headers, timeout_ms, region, enabled, wire_format, api_version"
     " FROM providers ORDER BY name",
     0},
    {NULL, NULL, 0},
};

/* The headers as the jsonb text; malloc'd or NULL. */
static char *providers_headers_json(const Llmgw__V1__Provider *p)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t i = 0; i < p->n_headers; i++) {
        json_t *h =
            json_pack("{s:s, s:s}", "name", p->headers[i]->name, "value", p->headers[i]->value);
        if (!h || json_array_append_new(a, h) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int providers_write(PGconn *c, const secret_key_t *k, const Llmgw__V1__Provider *p,
                           bool update, bool clear_key, store_err_t *e)
{
    int rc = -1;
    char *sealed = NULL, *headers = NULL;
    char err[256], timeout[16];
    PGresult *r = NULL;
    if (p->api_key && p->api_key[0]) {
        if (!(sealed = secret_seal(k, p->name, p->api_key, err, sizeof(err)))) {
            store_fail(e, STORE_HARD, "%s", err);
            goto out;
        }
    }
    if (!(headers = providers_headers_json(p))) {
        store_fail(e, STORE_HARD, "provider.headers: out of memory");
        goto out;
    }
    snprintf(timeout, sizeof(timeout), "%d", p->timeout_ms);
    /* The insert has no clear_key parameter: its $10, $11 are the update's
     * $11, $12. */
    const char *params[] = {p->name,
                            p->preset,
                            p->base_url,
                            p->auth_style,
                            sealed,
                            headers,
                            timeout,
                            p->region,
                            p->enabled ? "true" : "false",
                            update ? (clear_key ? "true" : "false") : p->wire_format,
                            update ? p->wire_format : p->api_version,
                            p->api_version};
    r = store_exec(c, update ? "providers_update" : "providers_insert", update ? 12 : 11, params,
                   e);
    if (!r) {
        if (e->code == STORE_CONFLICT)
            store_fail(e, STORE_CONFLICT, "provider.name: '%s' already exists", p->name);
        goto out;
    }
    if (update && strcmp(PQcmdTuples(r), "0") == 0) {
        store_fail(e, STORE_NOT_FOUND, "provider '%s': not found", p->name);
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    free(sealed);
    free(headers);
    return rc;
}

int providers_insert(PGconn *c, const secret_key_t *k, const Llmgw__V1__Provider *p, store_err_t *e)
{
    return providers_write(c, k, p, false, false, e);
}

int providers_update(PGconn *c, const secret_key_t *k, const Llmgw__V1__Provider *p, bool clear_key,
                     store_err_t *e)
{
    return providers_write(c, k, p, true, clear_key, e);
}

int providers_delete(PGconn *c, const char *name, store_err_t *e)
{
    const char *params[] = {name};
    PGresult *r = store_exec(c, "providers_delete", 1, params, e);
    if (!r) {
        if (e->code == STORE_IN_USE)
            store_fail(e, STORE_IN_USE, "provider '%s': a route still names one of its models",
                       name);
        return -1;
    }
    int none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "provider '%s': not found", name);
    return 0;
}

static Llmgw__V1__Provider *providers_from_row(const PGresult *r, int i, store_err_t *e)
{
    Llmgw__V1__Provider *p = malloc(sizeof(*p));
    json_t *hs = NULL;
    if (!p)
        goto oom;
    llmgw__v1__provider__init(p);
    p->timeout_ms = atoi(store_get(r, i, "timeout_ms"));
    p->has_api_key = strcmp(store_get(r, i, "has_api_key"), "t") == 0;
    p->enabled = strcmp(store_get(r, i, "enabled"), "t") == 0;
    if (store_msg_str(&p->name, store_get(r, i, "name")) < 0 ||
        store_msg_str(&p->preset, store_get(r, i, "preset")) < 0 ||
        store_msg_str(&p->base_url, store_get(r, i, "base_url")) < 0 ||
        store_msg_str(&p->auth_style, store_get(r, i, "auth_style")) < 0 ||
        store_msg_str(&p->api_key, "") < 0 ||
        store_msg_str(&p->region, store_get(r, i, "region")) < 0 ||
        store_msg_str(&p->wire_format, store_get(r, i, "wire_format")) < 0 ||
        store_msg_str(&p->api_version, store_get(r, i, "api_version")) < 0)
        goto oom;
    hs = json_loads(store_get(r, i, "headers"), 0, NULL);
    size_t n = json_is_array(hs) ? json_array_size(hs) : 0;
    if (n) {
        p->headers = calloc(n, sizeof(*p->headers));
        if (!p->headers)
            goto oom;
        for (size_t j = 0; j < n; j++) {
            json_t *h = json_array_get(hs, j);
            Llmgw__V1__Header *m = malloc(sizeof(*m));
            if (!m)
                goto oom;
            llmgw__v1__header__init(m);
            p->headers[p->n_headers++] = m;
            if (store_msg_str(&m->name, json_string_value(json_object_get(h, "name"))) < 0 ||
                store_msg_str(&m->value, json_string_value(json_object_get(h, "value"))) < 0)
                goto oom;
        }
    }
    json_decref(hs);
    return p;
oom:
    json_decref(hs);
    if (p)
        protobuf_c_message_free_unpacked(&p->base, NULL);
    store_fail(e, STORE_HARD, "provider: out of memory");
    return NULL;
}

Llmgw__V1__Provider *providers_get(PGconn *c, const char *name, store_err_t *e)
{
    char what[128];
    snprintf(what, sizeof(what), "provider '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "providers_get", 1, params, what, e);
    if (!r)
        return NULL;
    Llmgw__V1__Provider *p = providers_from_row(r, 0, e);
    PQclear(r);
    return p;
}

int providers_list(PGconn *c, Llmgw__V1__ListProvidersResponse *out, store_err_t *e)
{
    PGresult *r = store_exec(c, "providers_list", 0, NULL, e);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    if (n > 0 && !(out->providers = calloc((size_t)n, sizeof(*out->providers))))
        rc = store_fail(e, STORE_HARD, "providers: out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        Llmgw__V1__Provider *p = providers_from_row(r, i, e);
        if (!p)
            rc = -1;
        else
            out->providers[out->n_providers++] = p;
    }
    PQclear(r);
    return rc;
}

void providers_endpoint_free(providers_endpoint_t *ep)
{
    if (!ep)
        return;
    free(ep->preset);
    free(ep->base_url);
    free(ep->auth_style);
    if (ep->api_key) {
        memset(ep->api_key, 0, strlen(ep->api_key));
        free(ep->api_key);
    }
    for (size_t i = 0; i < ep->n_headers; i++)
        free(ep->headers[i]);
    free(ep->headers);
    memset(ep, 0, sizeof(*ep));
}

int providers_endpoint(PGconn *c, const secret_key_t *k, const char *name,
                       providers_endpoint_t *out, store_err_t *e)
{
    char what[128], err[256];
    json_t *hs = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(what, sizeof(what), "provider '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "providers_endpoint", 1, params, what, e);
    if (!r)
        return -1;
    out->timeout_ms = atoi(store_get(r, 0, "timeout_ms"));
    if (!(out->preset = strdup(store_get(r, 0, "preset"))) ||
        !(out->base_url = strdup(store_get(r, 0, "base_url"))) ||
        !(out->auth_style = strdup(store_get(r, 0, "auth_style"))))
        goto oom;
    if (!store_is_null(r, 0, "api_key_sealed") &&
        !(out->api_key =
              secret_open(k, name, store_get(r, 0, "api_key_sealed"), err, sizeof(err)))) {
        store_fail(e, STORE_HARD, "provider '%s': %s", name, err);
        goto fail;
    }
    hs = json_loads(store_get(r, 0, "headers"), 0, NULL);
    size_t n = json_is_array(hs) ? json_array_size(hs) : 0;
    if (n && !(out->headers = calloc(n, sizeof(char *))))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(hs, i);
        const char *hn = json_string_value(json_object_get(h, "name"));
        const char *hv = json_string_value(json_object_get(h, "value"));
        size_t len = strlen(hn ? hn : "") + strlen(hv ? hv : "") + 3;
        if (!(out->headers[i] = malloc(len)))
            goto oom;
        snprintf(out->headers[i], len, "%s: %s", hn ? hn : "", hv ? hv : "");
        out->n_headers++;
    }
    json_decref(hs);
    PQclear(r);
    return 0;
oom:
    store_fail(e, STORE_HARD, "provider: out of memory");
fail:
    json_decref(hs);
    PQclear(r);
    providers_endpoint_free(out);
    return -1;
}
