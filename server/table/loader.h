/* loader: what the parts of the table loader share — the table's pool,
 * error messages naming the JSON path, and the field readers.
 *
 * Private to server/table/: struct table is defined here so the files that
 * load one (table.c: providers and routes; table_access.c: keys, teams,
 * policies, budgets) fill the same snapshot. Nothing outside this folder
 * includes it; everyone else sees table.h.
 *
 * Every reader returns 0, or -1 with the loader's error naming `path.field`
 * ("providers[1].base_url: expected an http:// or https:// URL"). Memory comes
 * from the table's pool (jansson's allocator, see table.c) and lives until the
 * table's last unref.
 */
#ifndef LLMGW_LOADER_H
#define LLMGW_LOADER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "table.h"

#define TABLE_NAME_MAX 64 /* providers, routes, keys, teams, policies, budgets */
#define TABLE_SHOW_MAX 64 /* user text quoted in an error message */

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, size;
    max_align_t data[]; /* max_align_t elements keep every allocation aligned */
} pool_chunk_t;

struct table {
    atomic_long refs;
    json_malloc_t malloc_fn;
    json_free_t free_fn;
    pool_chunk_t *chunks;

    int64_t version;
    table_provider_t *providers;
    size_t n_providers;
    table_route_t *routes;
    size_t n_routes;
    /* Sorted by name for bsearch; point into providers / routes. */
    const table_provider_t **providers_by_name;
    const table_route_t **routes_by_name;
    /* table_access.c */
    bool auth_required; /* callers need a key even when "keys" is empty */
    table_key_t *keys;
    size_t n_keys;
    table_team_t *teams; /* sorted by name */
    size_t n_teams;
    table_policy_t *policies;
    size_t n_policies;
    const table_policy_t *org_policy;
    table_budget_t *budgets;
    size_t n_budgets;
};

/* A name with its place in the document, for sorting: duplicates become
 * neighbours, and lookups during the load become binary searches. `group` is
 * the provider index for models, 0 otherwise. */
typedef struct {
    const char *name;
    size_t group;
    size_t index;
} loader_ref_t;

typedef struct {
    table_t *t;
    char *err;
    size_t errlen;
    loader_ref_t *models_sorted; /* every model of every provider, by (provider, name) */
    size_t n_models_sorted;
} loader_t;

/* The pool: zeroed, aligned memory freed with the table. NULL when out of memory. */
void *loader_alloc(table_t *t, size_t n);
void *loader_array(table_t *t, size_t count, size_t size);
char *loader_strdup(table_t *t, const char *s);

/* Formats the error; always returns -1. */
int loader_fail(loader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* User text quoted in a message: at most TABLE_SHOW_MAX characters, control
 * and non-ASCII bytes as '?'. Returns out. */
const char *loader_show(char out[TABLE_SHOW_MAX + 4], const char *s);

/* A member that is missing or JSON null counts as absent (NULL). */
json_t *loader_field(json_t *obj, const char *name);
void loader_join_path(char *out, size_t outlen, const char *path, const char *name);
/* -1 naming the first member of obj not in `allowed` (NULL-terminated). */
int loader_check_fields(loader_t *ld, json_t *obj, const char *path, const char *const *allowed);
bool loader_has_crlf(const char *s);
bool loader_has_control(const char *s);

/* A required name: 1..max characters from [A-Za-z0-9._-] plus `extra`; a
 * pool copy, or NULL with the error set. */
const char *loader_read_name(loader_t *ld, json_t *obj, const char *path, const char *fname,
                             size_t max, const char *extra);
/* Optional members; *out gets the default when absent. Strings are borrowed
 * from the JSON document (copy them into the pool to keep them). */
int loader_read_opt_string(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           const char **out);
int loader_read_opt_number(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           double lo, double hi, double dflt, const char *expect, double *out);
int loader_read_opt_int(loader_t *ld, json_t *obj, const char *path, const char *fname,
                        json_int_t lo, json_int_t hi, json_int_t dflt, const char *expect,
                        json_int_t *out);
int loader_read_opt_bool(loader_t *ld, json_t *obj, const char *path, const char *fname, bool dflt,
                         bool *out);
/* An optional array (*out NULL when absent); `non_empty`: required and non-empty. */
int loader_read_array(loader_t *ld, json_t *obj, const char *path, const char *fname,
                      bool non_empty, json_t **out);
/* An optional object checked against `allowed`; sub gets its path. */
int loader_read_opt_object(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           const char *const *allowed, char *sub, size_t sublen, json_t **out);
/* One of `allowed` (a static string), allowed[0] when absent. */
int loader_read_opt_enum(loader_t *ld, json_t *obj, const char *path, const char *fname,
                         const char *const *allowed, const char *expect, const char **out);

/* Same order as the sort without the index: finds an entry by (group, name). */
int loader_ref_key_cmp(const void *a, const void *b);
/* Sorts refs and returns the one that repeats an earlier name with the
 * smallest (group, index) — the first duplicate in document order — or NULL. */
const loader_ref_t *loader_sort_find_duplicate(loader_ref_t *refs, size_t n);

/* A region label: at most 64 bytes, no control characters ("" is no region). */
bool table_region_valid(const char *s);
/* table_access.c: keys, teams, policies and budgets of the document. */
int table_access_load(loader_t *ld, json_t *root);

#endif
