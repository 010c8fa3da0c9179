/* routes: SQL for the routes aggregate. See routes.h. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_msg.h"

const store_stmt_t routes_stmts[] = {
    {"routes_insert",
     "INSERT INTO routes (name, strategy, weight_cost, weight_latency, weight_quality,"
     " weight_success, tolerance, max_attempts, cache_ttl_ms, cache_max_temperature)"
     " VALUES ($1, $2, $3::float8, $4::float8, $5::float8, $6::float8, $7::float8, $8::int,"
     " $9::bigint, $10::float8)",
     10},
    {"routes_model_exists", "SELECT 1 FROM models WHERE provider = $1 AND name = $2", 2},
    {"routes_insert_deployment",
     "INSERT INTO route_deployments (route, position, provider, model, weight, priority)"
     " VALUES ($1, $2::int, $3, $4, $5::float8, $6::int)",
     6},
    {"routes_delete", "DELETE FROM routes WHERE name = $1", 1},
    {"routes_update",
     "UPDATE routes SET strategy = $2, weight_cost = $3::float8, weight_latency = $4::float8,"
     " weight_quality = $5::float8, weight_success = $6::float8, tolerance = $7::float8,"
     " max_attempts = $8::int, cache_ttl_ms = $9::bigint, cache_max_temperature = $10::float8"
     " WHERE name = $1",
     10},
    {"routes_clear_deployments", "DELETE FROM route_deployments WHERE route = $1", 1},
    {"routes_list",
     "SELECT r.name, r.strategy, r.weight_cost, r.weight_latency, r.weight_quality,"
     " r.weight_success, r.tolerance, r.max_attempts, r.cache_ttl_ms, r.cache_max_temperature,"
     " d.provider, d.model, d.weight, d.priority FROM routes r"
     " JOIN route_deployments d ON d.route = r.name WHERE $1 = '' OR r.name = $1"
     " ORDER BY r.name, d.position",
     1},
    {NULL, NULL, 0},
};

/* Inserts rt's deployments in order, each checked against the models. */
static int routes_write_deployments(PGconn *c, const Llmgw__V1__Route *rt, store_err_t *e)
{
    PGresult *r;
    for (size_t i = 0; i < rt->n_deployments; i++) {
        const Llmgw__V1__Deployment *d = rt->deployments[i];
        const char *mp[] = {d->provider, d->model};
        if (!(r = store_exec(c, "routes_model_exists", 2, mp, e)))
            return -1;
        int found = PQntuples(r) == 1;
        PQclear(r);
        if (!found)
            return store_fail(e, STORE_INVALID,
                              "route.deployments[%zu]: model '%s/%s' is not registered", i,
                              d->provider, d->model);
        char pos[24], w[32], prio[16];
        snprintf(pos, sizeof(pos), "%zu", i);
        snprintf(w, sizeof(w), "%.17g", d->weight);
        snprintf(prio, sizeof(prio), "%d", d->priority);
        const char *dp[] = {rt->name, pos, d->provider, d->model, w, prio};
        if (!(r = store_exec(c, "routes_insert_deployment", 6, dp, e)))
            return -1;
        PQclear(r);
    }
    return 0;
}

/* The route's row as statement parameters $1..$10 (NULL: a setting left to
 * the data plane's default). */
typedef struct {
    char w[4][32], tolerance[32], attempts[16], ttl[24], max_temp[32];
    const char *p[10];
} routes_row_t;

static void routes_row(const Llmgw__V1__Route *rt, routes_row_t *row)
{
    memset(row->p, 0, sizeof(row->p));
    row->p[0] = rt->name;
    row->p[1] = rt->strategy;
    if (rt->weights) {
        const double v[] = {rt->weights->cost, rt->weights->latency, rt->weights->quality,
                            rt->weights->success};
        for (int i = 0; i < 4; i++) {
            snprintf(row->w[i], sizeof(row->w[i]), "%.17g", v[i]);
            row->p[2 + i] = row->w[i];
        }
    }
    if (rt->tolerance_opt_case == LLMGW__V1__ROUTE__TOLERANCE_OPT_TOLERANCE) {
        snprintf(row->tolerance, sizeof(row->tolerance), "%.17g", rt->tolerance);
        row->p[6] = row->tolerance;
    }
    snprintf(row->attempts, sizeof(row->attempts), "%d", rt->max_attempts);
    row->p[7] = row->attempts;
    snprintf(row->max_temp, sizeof(row->max_temp), "%.17g",
             rt->cache ? rt->cache->max_temperature : 0.0);
    row->p[9] = row->max_temp;
    if (rt->cache) {
        snprintf(row->ttl, sizeof(row->ttl), "%lld", (long long)rt->cache->ttl_ms);
        row->p[8] = row->ttl;
    }
}

int routes_insert(PGconn *c, const Llmgw__V1__Route *rt, store_err_t *e)
{
    routes_row_t row;
    routes_row(rt, &row);
    PGresult *r = store_exec(c, "routes_insert", 10, row.p, e);
    if (!r) {
        if (e->code == STORE_CONFLICT)
            store_fail(e, STORE_CONFLICT, "route.name: '%s' already exists", rt->name);
        return -1;
    }
    PQclear(r);
    return routes_write_deployments(c, rt, e);
}

int routes_update(PGconn *c, const Llmgw__V1__Route *rt, store_err_t *e)
{
    routes_row_t row;
    routes_row(rt, &row);
    const char *const *params = row.p;
    PGresult *r = store_exec(c, "routes_update", 10, params, e);
    if (!r)
        return -1;
    int none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "route '%s': not found", rt->name);
    if (!(r = store_exec(c, "routes_clear_deployments", 1, params, e)))
        return -1;
    PQclear(r);
    return routes_write_deployments(c, rt, e);
}

int routes_delete(PGconn *c, const char *name, store_err_t *e)
{
    const char *params[] = {name};
    PGresult *r = store_exec(c, "routes_delete", 1, params, e);
    if (!r)
        return -1;
    int none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "route '%s': not found", name);
    return 0;
}

/* The settings columns of row i into rt (sub-messages malloc'd). */
static int routes_read_settings(const PGresult *r, int i, Llmgw__V1__Route *rt)
{
    if (!store_is_null(r, i, "weight_cost")) {
        if (!(rt->weights = malloc(sizeof(*rt->weights))))
            return -1;
        llmgw__v1__route_weights__init(rt->weights);
        rt->weights->cost = strtod(store_get(r, i, "weight_cost"), NULL);
        rt->weights->latency = strtod(store_get(r, i, "weight_latency"), NULL);
        rt->weights->quality = strtod(store_get(r, i, "weight_quality"), NULL);
        rt->weights->success = strtod(store_get(r, i, "weight_success"), NULL);
    }
    if (!store_is_null(r, i, "tolerance")) {
        rt->tolerance_opt_case = LLMGW__V1__ROUTE__TOLERANCE_OPT_TOLERANCE;
        rt->tolerance = strtod(store_get(r, i, "tolerance"), NULL);
    }
    rt->max_attempts = atoi(store_get(r, i, "max_attempts"));
    if (!store_is_null(r, i, "cache_ttl_ms")) {
        if (!(rt->cache = malloc(sizeof(*rt->cache))))
            return -1;
        llmgw__v1__route_cache__init(rt->cache);
        rt->cache->ttl_ms = strtoll(store_get(r, i, "cache_ttl_ms"), NULL, 10);
        rt->cache->max_temperature = strtod(store_get(r, i, "cache_max_temperature"), NULL);
    }
    return 0;
}

/* Rows are ordered by route, so one route's deployments are adjacent. */
static int routes_collect(const PGresult *r, Llmgw__V1__Route ***out, size_t *n_out)
{
    int rows = PQntuples(r);
    Llmgw__V1__Route **list = rows ? calloc((size_t)rows, sizeof(*list)) : NULL;
    size_t n = 0;
    if (rows && !list)
        return -1;
    *out = list;
    for (int i = 0; i < rows; i++) {
        const char *name = store_get(r, i, "name");
        Llmgw__V1__Route *rt = n ? list[n - 1] : NULL;
        if (!rt || strcmp(rt->name, name) != 0) {
            if (!(rt = malloc(sizeof(*rt))))
                goto fail;
            llmgw__v1__route__init(rt);
            list[n++] = rt;
            *n_out = n;
            if (store_msg_str(&rt->name, name) < 0 ||
                store_msg_str(&rt->strategy, store_get(r, i, "strategy")) < 0 ||
                !(rt->deployments = calloc((size_t)(rows - i), sizeof(*rt->deployments))) ||
                routes_read_settings(r, i, rt) < 0)
                goto fail;
        }
        Llmgw__V1__Deployment *d = malloc(sizeof(*d));
        if (!d)
            goto fail;
        llmgw__v1__deployment__init(d);
        rt->deployments[rt->n_deployments++] = d;
        d->weight = strtod(store_get(r, i, "weight"), NULL);
        d->priority = atoi(store_get(r, i, "priority"));
        if (store_msg_str(&d->provider, store_get(r, i, "provider")) < 0 ||
            store_msg_str(&d->model, store_get(r, i, "model")) < 0)
            goto fail;
    }
    *n_out = n;
    return 0;
fail:
    return -1; /* the caller frees what was collected (n_out is current) */
}

Llmgw__V1__Route *routes_get(PGconn *c, const char *name, store_err_t *e)
{
    Llmgw__V1__ListRoutesResponse all = LLMGW__V1__LIST_ROUTES_RESPONSE__INIT;
    const char *params[] = {name};
    PGresult *r = store_exec(c, "routes_list", 1, params, e);
    Llmgw__V1__Route *rt = NULL;
    if (!r)
        return NULL;
    if (routes_collect(r, &all.routes, &all.n_routes) < 0)
        store_fail(e, STORE_HARD, "routes: out of memory");
    else if (all.n_routes == 0)
        store_fail(e, STORE_NOT_FOUND, "route '%s': not found", name);
    else
        rt = all.routes[0];
    if (rt)
        all.n_routes = 0; /* handed to the caller */
    for (size_t i = 0; i < all.n_routes; i++)
        protobuf_c_message_free_unpacked(&all.routes[i]->base, NULL);
    free(all.routes);
    PQclear(r);
    return rt;
}

int routes_list(PGconn *c, Llmgw__V1__ListRoutesResponse *out, store_err_t *e)
{
    const char *params[] = {""};
    PGresult *r = store_exec(c, "routes_list", 1, params, e);
    if (!r)
        return -1;
    int rc = routes_collect(r, &out->routes, &out->n_routes);
    PQclear(r);
    if (rc < 0)
        return store_fail(e, STORE_HARD, "routes: out of memory");
    return 0;
}
