/* models: SQL for the models aggregate. See models.h.
 *
 * Capabilities travel as a text[] literal built by PostgreSQL from a JSON
 * array parameter, so no SQL is ever assembled from a label.
 */
#include "models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_msg.h"

const store_stmt_t models_stmts[] = {
    {"models_provider_exists", "SELECT 1 FROM providers WHERE name = $1", 1},
    {"models_insert",
     "INSERT INTO models (provider, name, input_cost_per_mtok, output_cost_per_mtok,"
     " context_window, capabilities, quality) VALUES ($1, $2, $3::float8, $4::float8, $5::int,"
     " ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), $7::float8)",
     7},
    {"models_delete", "DELETE FROM models WHERE provider = $1 AND name = $2", 2},
    {"models_update",
     "UPDATE models SET input_cost_per_mtok = $3::float8, output_cost_per_mtok = $4::float8,"
     " context_window = $5::int, capabilities = ARRAY(SELECT jsonb_array_elements_text($6::jsonb)),"
     " quality = $7::float8 WHERE provider = $1 AND name = $2",
     7},
    {"models_get",
     "SELECT provider, name, input_cost_per_mtok, output_cost_per_mtok, context_window,"
     " array_to_json(capabilities)::text AS capabilities, quality FROM models"
     " WHERE provider = $1 AND name = $2",
     2},
    {"models_insert_discovered",
     "INSERT INTO models (provider, name, input_cost_per_mtok, output_cost_per_mtok)"
     " VALUES ($1, $2, 0, 0) ON CONFLICT (provider, name) DO NOTHING",
     2},
    {"models_list",
     "SELECT provider, name, input_cost_per_mtok, output_cost_per_mtok, context_window,"
     " array_to_json(capabilities)::text AS capabilities, quality FROM models"
     " WHERE $1 = '' OR provider = $1 ORDER BY provider, name",
     1},
    {NULL, NULL, 0},
};

/* Runs models_insert or models_update with m's values as parameters. */
static PGresult *models_write(PGconn *c, const char *stmt, const Llmgw__V1__Model *m,
                              store_err_t *e)
{
    json_t *caps = json_array();
    char *caps_text = NULL;
    for (size_t i = 0; caps && i < m->n_capabilities; i++)
        if (json_array_append_new(caps, json_string(m->capabilities[i])) != 0) {
            json_decref(caps);
            caps = NULL;
        }
    if (!caps || !(caps_text = json_dumps(caps, JSON_COMPACT))) {
        json_decref(caps);
        store_fail(e, STORE_HARD, "model.capabilities: out of memory");
        return NULL;
    }
    json_decref(caps);
    char in[32], out[32], ctx[16], q[32];
    snprintf(in, sizeof(in), "%.17g", m->input_cost_per_mtok);
    snprintf(out, sizeof(out), "%.17g", m->output_cost_per_mtok);
    snprintf(ctx, sizeof(ctx), "%d", m->context_window);
    snprintf(q, sizeof(q), "%.17g", m->quality);
    const char *params[] = {m->provider, m->name, in, out, ctx, caps_text, q};
    PGresult *r = store_exec(c, stmt, 7, params, e);
    free(caps_text);
    return r;
}

int models_insert(PGconn *c, const Llmgw__V1__Model *m, store_err_t *e)
{
    const char *pp[] = {m->provider};
    char what[128];
    snprintf(what, sizeof(what), "model.provider '%s'", m->provider);
    PGresult *r = store_exec_one(c, "models_provider_exists", 1, pp, what, e);
    if (!r)
        return -1;
    PQclear(r);
    if (!(r = models_write(c, "models_insert", m, e))) {
        if (e->code == STORE_CONFLICT)
            store_fail(e, STORE_CONFLICT, "model.name: '%s/%s' already exists", m->provider,
                       m->name);
        return -1;
    }
    PQclear(r);
    return 0;
}

int models_update(PGconn *c, const Llmgw__V1__Model *m, store_err_t *e)
{
    PGresult *r = models_write(c, "models_update", m, e);
    if (!r)
        return -1;
    int none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "model '%s/%s': not found", m->provider, m->name);
    return 0;
}

int models_delete(PGconn *c, const char *provider, const char *name, store_err_t *e)
{
    const char *params[] = {provider, name};
    PGresult *r = store_exec(c, "models_delete", 2, params, e);
    if (!r) {
        if (e->code == STORE_IN_USE)
            store_fail(e, STORE_IN_USE, "model '%s/%s': a route still names it", provider, name);
        return -1;
    }
    int none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "model '%s/%s': not found", provider, name);
    return 0;
}

static Llmgw__V1__Model *models_from_row(const PGresult *r, int i)
{
    Llmgw__V1__Model *m = malloc(sizeof(*m));
    json_t *caps = NULL;
    if (!m)
        return NULL;
    llmgw__v1__model__init(m);
    m->input_cost_per_mtok = strtod(store_get(r, i, "input_cost_per_mtok"), NULL);
    m->output_cost_per_mtok = strtod(store_get(r, i, "output_cost_per_mtok"), NULL);
    m->context_window = atoi(store_get(r, i, "context_window"));
    m->quality = strtod(store_get(r, i, "quality"), NULL);
    m->quality_opt_case = LLMGW__V1__MODEL__QUALITY_OPT_QUALITY; /* a reply always carries it */
    if (store_msg_str(&m->provider, store_get(r, i, "provider")) < 0 ||
        store_msg_str(&m->name, store_get(r, i, "name")) < 0)
        goto fail;
    caps = json_loads(store_get(r, i, "capabilities"), 0, NULL);
    size_t n = json_is_array(caps) ? json_array_size(caps) : 0;
    if (n && !(m->capabilities = calloc(n, sizeof(char *))))
        goto fail;
    for (size_t j = 0; j < n; j++) {
        if (store_msg_str(&m->capabilities[j], json_string_value(json_array_get(caps, j))) < 0)
            goto fail;
        m->n_capabilities++;
    }
    json_decref(caps);
    return m;
fail:
    json_decref(caps);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return NULL;
}

int models_list(PGconn *c, const char *provider, Llmgw__V1__ListRegistryModelsResponse *out,
                store_err_t *e)
{
    const char *params[] = {provider};
    PGresult *r = store_exec(c, "models_list", 1, params, e);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    if (n > 0 && !(out->models = calloc((size_t)n, sizeof(*out->models))))
        rc = store_fail(e, STORE_HARD, "models: out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        Llmgw__V1__Model *m = models_from_row(r, i);
        if (!m)
            rc = store_fail(e, STORE_HARD, "models: out of memory");
        else
            out->models[out->n_models++] = m;
    }
    PQclear(r);
    return rc;
}

int models_insert_discovered(PGconn *c, const char *provider, const char *name, bool *added,
                             store_err_t *e)
{
    const char *params[] = {provider, name};
    PGresult *r = store_exec(c, "models_insert_discovered", 2, params, e);
    if (!r)
        return -1;
    *added = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return 0;
}

Llmgw__V1__Model *models_get(PGconn *c, const char *provider, const char *name, store_err_t *e)
{
    char what[256];
    snprintf(what, sizeof(what), "model '%s/%s'", provider, name);
    const char *params[] = {provider, name};
    PGresult *r = store_exec_one(c, "models_get", 2, params, what, e);
    if (!r)
        return NULL;
    Llmgw__V1__Model *m = models_from_row(r, 0);
    PQclear(r);
    if (!m)
        store_fail(e, STORE_HARD, "model: out of memory");
    return m;
}
