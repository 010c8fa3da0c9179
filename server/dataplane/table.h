/* table: the routing table — providers, models, routes and API keys.
 *
 * A loaded table is an immutable, refcounted snapshot: readers take a
 * reference (table_slot_get), use it for a whole request and release it, so
 * a reload never changes a table under an in-flight call. Loading validates
 * everything up front; an error names the field ("providers[1].base_url:
 * expected an http:// or https:// URL") and nothing is half-loaded.
 *
 * JSON schema (docs/routing-table.md):
 *   {"version": 7,                                   optional, integer >= 0
 *    "providers": [{"name", "base_url", "api_key"?, "timeout_ms"?, "headers"?: {},
 *                   "models": [{"name", "input_cost_per_mtok"?, "output_cost_per_mtok"?,
 *                               "quality"?}]}],
 *    "routes": [{"name", "strategy": "priority"|"weighted",
 *                "deployments": [{"provider", "model", "weight"?, "priority"?}]}],
 *    "keys": [{"name", "sha256": "<64 hex>", "team"?}]}
 */
#ifndef LLMGW_TABLE_H
#define LLMGW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TABLE_MAX_DEPLOYMENTS 64 /* per route */

typedef struct table table_t;

typedef struct {
    const char *name;
    double input_cost_per_mtok;
    double output_cost_per_mtok;
    double quality; /* 0..1, default 0.5 */
} table_model_t;

typedef struct {
    const char *name;
    const char *base_url;       /* without trailing '/' */
    const char *api_key;        /* NULL when none */
    int timeout_ms;             /* default 60000 */
    const char *const *headers; /* extra "Name: value" lines */
    size_t n_headers;
    const table_model_t *models;
    size_t n_models;
} table_provider_t;

typedef struct {
    const table_provider_t *provider;
    const table_model_t *model;
    double weight; /* > 0, default 1 */
    int priority;  /* lower is tried first, default 0 */
} table_deployment_t;

typedef struct {
    const char *name;
    const char *strategy; /* "priority" or "weighted" */
    const table_deployment_t *deployments;
    size_t n_deployments;
} table_route_t;

typedef struct {
    const char *name;
    const char *team; /* "" when none */
    unsigned char sha256[32];
} table_key_t;

/* NULL with err filled ("path: cannot open: No such file…" or a field error). */
table_t *table_load_file(const char *path, char *err, size_t errlen);
table_t *table_load_json(const char *text, size_t len, char *err, size_t errlen);
table_t *table_ref(table_t *t);
void table_unref(table_t *t);

int64_t table_version(const table_t *t);
size_t table_n_providers(const table_t *t);
const table_provider_t *table_provider_at(const table_t *t, size_t i);
const table_provider_t *table_find_provider(const table_t *t, const char *name);
const table_model_t *table_provider_find_model(const table_provider_t *p, const char *model);
size_t table_n_routes(const table_t *t);
const table_route_t *table_route_at(const table_t *t, size_t i);
const table_route_t *table_find_route(const table_t *t, const char *name);
bool table_auth_enabled(const table_t *t);
/* The key whose sha256 matches `secret`, or NULL. */
const table_key_t *table_find_key(const table_t *t, const char *secret);

/* A slot holding the current table; readers and the reloader share it. */
typedef struct table_slot table_slot_t;
table_slot_t *table_slot_new(table_t *initial); /* takes the reference */
void table_slot_free(table_slot_t *s);
/* A new reference to the current table (release with table_unref). */
table_t *table_slot_get(table_slot_t *s);
/* Installs t (takes the reference); the old table lives on while referenced. */
void table_slot_swap(table_slot_t *s, table_t *t);

#endif
