/* discovery: per-provider model listings (see discovery.h).
 *
 * Entries live in an append-only array of individually allocated records;
 * a listing update marks the provider's records unlisted, then relists or
 * appends the ones in the body, so pointers stay stable and order follows
 * the first time a model was seen.
 */
#include "discovery.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct {
    char *provider;
    table_model_t model; /* model.name owned here */
    bool listed;
} discovery_entry_t;

struct discovery {
    pthread_mutex_t mu;
    discovery_entry_t **entries;
    size_t n;
};

discovery_t *discovery_new(void)
{
    discovery_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->entries = calloc(DISCOVERY_MAX_MODELS, sizeof(*d->entries));
    if (!d->entries || pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d->entries);
        free(d);
        return NULL;
    }
    return d;
}

void discovery_free(discovery_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->entries[i]->provider);
        free((char *)d->entries[i]->model.name);
        free(d->entries[i]);
    }
    free(d->entries);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Under mu. */
static discovery_entry_t *discovery_lookup(discovery_t *d, const char *provider, const char *model)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->entries[i]->provider, provider) == 0 &&
            strcmp(d->entries[i]->model.name, model) == 0)
            return d->entries[i];
    return NULL;
}

/* Under mu. NULL when full or out of memory. */
static discovery_entry_t *discovery_add(discovery_t *d, const char *provider, const char *model)
{
    if (d->n >= DISCOVERY_MAX_MODELS)
        return NULL;
    discovery_entry_t *e = calloc(1, sizeof(*e));
    char *p = strdup(provider), *m = strdup(model);
    if (!e || !p || !m) {
        free(e);
        free(p);
        free(m);
        return NULL;
    }
    e->provider = p;
    e->model = (table_model_t){.name = m,
                               .quality = 0.5,
                               .tools = true,
                               .json_mode = true,
                               .typical_completion_tokens = 256};
    d->entries[d->n++] = e;
    return e;
}

/* Model ids as a table would accept them: printable, no spaces, bounded. */
static bool discovery_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

int discovery_update(discovery_t *d, const char *provider, const char *body, size_t len, char *err,
                     size_t errlen)
{
    int rc = -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *data = json_object_get(root, "data");
    if (!json_is_array(data)) {
        snprintf(err, errlen, "models: expected {\"data\": [...]}");
        goto out;
    }
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->entries[i]->provider, provider) == 0)
            d->entries[i]->listed = false;
    size_t i;
    json_t *item;
    rc = 0;
    json_array_foreach(data, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        if (!id || !discovery_id_ok(id))
            continue; /* one odd entry does not void the listing */
        discovery_entry_t *e = discovery_lookup(d, provider, id);
        if (!e && !(e = discovery_add(d, provider, id))) {
            snprintf(err, errlen, "models: more than %d discovered models in all",
                     DISCOVERY_MAX_MODELS);
            rc = -1;
            break;
        }
        e->listed = true;
    }
    pthread_mutex_unlock(&d->mu);
out:
    json_decref(root);
    return rc;
}

const table_model_t *discovery_find(discovery_t *d, const char *provider, const char *model)
{
    pthread_mutex_lock(&d->mu);
    discovery_entry_t *e = discovery_lookup(d, provider, model);
    const table_model_t *m = e && e->listed ? &e->model : NULL;
    pthread_mutex_unlock(&d->mu);
    return m;
}

void discovery_each(discovery_t *d, const char *provider, void (*cb)(void *ud, const char *model),
                    void *ud)
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n; i++)
        if (d->entries[i]->listed && strcmp(d->entries[i]->provider, provider) == 0)
            cb(ud, d->entries[i]->model.name);
    pthread_mutex_unlock(&d->mu);
}
