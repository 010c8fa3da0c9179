/* models: the models aggregate (table `models`, keyed by provider + name).
 * Runs inside the caller's transaction; answers are malloc'd (free with
 * protobuf_c_message_free_unpacked(m, NULL)). */
#ifndef LLMGW_MODELS_H
#define LLMGW_MODELS_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "llmgw/v1/control.pb-c.h"
#include "store.h"

/* STORE_NOT_FOUND when the provider is absent, STORE_CONFLICT when taken. */
int models_insert(PGconn *c, const Llmgw__V1__Model *m, store_err_t *e);
/* Registers provider/name with zero prices unless known; *added says
 * which. For discovery. */
int models_insert_discovered(PGconn *c, const char *provider, const char *name, bool *added,
                             store_err_t *e);
/* STORE_NOT_FOUND when absent, STORE_IN_USE when a route names it. */
int models_delete(PGconn *c, const char *provider, const char *name, store_err_t *e);
/* Replaces the settings of m->provider/m->name. STORE_NOT_FOUND when absent. */
int models_update(PGconn *c, const Llmgw__V1__Model *m, store_err_t *e);
/* One model (malloc'd) or NULL with e filled (STORE_NOT_FOUND when absent). */
Llmgw__V1__Model *models_get(PGconn *c, const char *provider, const char *name, store_err_t *e);
/* provider "" lists every model. */
int models_list(PGconn *c, const char *provider, Llmgw__V1__ListRegistryModelsResponse *out,
                store_err_t *e);

#endif
