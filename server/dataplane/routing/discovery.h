/* discovery: the models each provider lists on GET {base_url}/models.
 *
 * health.c fetches the listings (at start and on every probe interval) and
 * feeds them here; ListModels shows them, and a provider with
 * "discover": true in the table lets requests route to them as
 * provider/model (route.h's `discovered` input).
 *
 * Invariants: entries are keyed by provider and model names and never
 * freed before discovery_free, so a table_model_t pointer handed out stays
 * valid for any request that holds it; a model that drops out of a listing is
 * only marked unlisted. A discovered model has no pricing (cost 0), quality
 * 0.5 and the table's default capabilities. Thread-safe (one mutex).
 */
#ifndef LLMGW_DISCOVERY_H
#define LLMGW_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "table.h"

typedef struct discovery discovery_t;

#define DISCOVERY_MAX_MODELS 16384 /* entries over all providers */

discovery_t *discovery_new(void);
void discovery_free(discovery_t *d);
/* Replaces the listing of `provider` from an OpenAI-style /models body
 * ({"data": [{"id": ...}, ...]}). 0, or -1 with err filled when the body is
 * not such a listing (the previous listing stays). */
int discovery_update(discovery_t *d, const char *provider, const char *body, size_t len, char *err,
                     size_t errlen);
/* The entry of provider/model when the last listing of provider had it; NULL
 * otherwise. Valid until discovery_free. */
const table_model_t *discovery_find(discovery_t *d, const char *provider, const char *model);
/* cb for every model the last listing of provider had, in listing order.
 * Runs under the module's lock: cb must not call back into discovery. */
void discovery_each(discovery_t *d, const char *provider, void (*cb)(void *ud, const char *model),
                    void *ud);

#endif
