/* routes: the routes aggregate (tables `routes` and `route_deployments`).
 * Runs inside the caller's transaction; answers are malloc'd (free with
 * protobuf_c_message_free_unpacked(m, NULL)). */
#ifndef LLMGW_ROUTES_H
#define LLMGW_ROUTES_H

#include <libpq-fe.h>

#include "llmgw/v1/control.pb-c.h"
#include "store.h"

/* STORE_CONFLICT when the name is taken; STORE_INVALID naming the deployment
 * whose provider/model does not exist. */
int routes_insert(PGconn *c, const Llmgw__V1__Route *rt, store_err_t *e);
/* Replaces the strategy and deployments of route rt->name. STORE_NOT_FOUND
 * when absent; STORE_INVALID as for routes_insert. */
int routes_update(PGconn *c, const Llmgw__V1__Route *rt, store_err_t *e);
int routes_delete(PGconn *c, const char *name, store_err_t *e);
/* name NULL: every route into out (a ListRoutesResponse); else one route. */
Llmgw__V1__Route *routes_get(PGconn *c, const char *name, store_err_t *e);
int routes_list(PGconn *c, Llmgw__V1__ListRoutesResponse *out, store_err_t *e);

#endif
