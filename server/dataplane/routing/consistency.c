/* consistency: see consistency.h. A flat array scanned linearly: ensembles
 * touch a handful of deployments, and a scan of a few hundred names under
 * one mutex costs less than a hash table's upkeep. */
#include "consistency.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *provider;
    char *model;
    consistency_stat_t stat;
} consistency_entry_t;

struct consistency {
    pthread_mutex_t mu;
    consistency_entry_t *entries; /* guarded by mu */
    size_t n, cap;
};

consistency_t *consistency_new(void)
{
    consistency_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void consistency_free(consistency_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->entries[i].provider);
        free(c->entries[i].model);
    }
    free(c->entries);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static consistency_entry_t *consistency_find(consistency_t *c, const char *provider,
                                             const char *model)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->entries[i].provider, provider) == 0 &&
            strcmp(c->entries[i].model, model) == 0)
            return &c->entries[i];
    return NULL;
}

/* Under mu. NULL when full or out of memory. */
static consistency_entry_t *consistency_add(consistency_t *c, const char *provider,
                                            const char *model)
{
    if (c->n == CONSISTENCY_MAX)
        return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        consistency_entry_t *e = realloc(c->entries, cap * sizeof(*e));
        if (!e)
            return NULL;
        c->entries = e;
        c->cap = cap;
    }
    consistency_entry_t *e = &c->entries[c->n];
    memset(e, 0, sizeof(*e));
    e->provider = strdup(provider);
    e->model = strdup(model);
    if (!e->provider || !e->model) {
        free(e->provider);
        free(e->model);
        return NULL;
    }
    c->n++;
    return e;
}

void consistency_record(consistency_t *c, const char *provider, const char *model, bool agreed)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    consistency_entry_t *e = consistency_find(c, provider, model);
    if (!e)
        e = consistency_add(c, provider, model);
    if (e) {
        double x = agreed ? 1.0 : 0.0;
        e->stat.score =
            e->stat.samples == 0 ? x : e->stat.score + CONSISTENCY_ALPHA * (x - e->stat.score);
        e->stat.samples++;
        e->stat.agreed += agreed;
    }
    pthread_mutex_unlock(&c->mu);
}

int consistency_get(consistency_t *c, const char *provider, const char *model,
                    consistency_stat_t *out)
{
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!c)
        return -1;
    pthread_mutex_lock(&c->mu);
    consistency_entry_t *e = consistency_find(c, provider, model);
    if (e) {
        *out = e->stat;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
