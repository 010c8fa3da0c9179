/* providers: the providers aggregate (PostgreSQL table `providers`).
 *
 * Invariants: the API key is sealed (secret.h) before it reaches SQL and is
 * never read back into a Provider message — answers carry has_api_key only.
 * Every function runs inside the caller's transaction. Messages returned are
 * malloc'd; free them with protobuf_c_message_free_unpacked(m, NULL).
 */
#ifndef LLMGW_PROVIDERS_H
#define LLMGW_PROVIDERS_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "llmgw/v1/control.pb-c.h"
#include "secret.h"
#include "store.h"

int providers_insert(PGconn *c, const secret_key_t *k, const Llmgw__V1__Provider *p,
                     store_err_t *e);
/* Replaces every setting of the provider named p->name; the sealed key is
 * kept unless p->api_key is non-empty or clear_key. STORE_NOT_FOUND when absent. */
int providers_update(PGconn *c, const secret_key_t *k, const Llmgw__V1__Provider *p, bool clear_key,
                     store_err_t *e);
/* STORE_NOT_FOUND when absent, STORE_IN_USE when a route names its models. */
int providers_delete(PGconn *c, const char *name, store_err_t *e);
Llmgw__V1__Provider *providers_get(PGconn *c, const char *name, store_err_t *e);
/* Fills out->providers (malloc'd); out must be freshly initialised. */
int providers_list(PGconn *c, Llmgw__V1__ListProvidersResponse *out, store_err_t *e);

/* What it takes to call a provider: the key opened. Free with
 * providers_endpoint_free (which wipes the key). */
typedef struct {
    char *preset;     /* "custom" when none */
    char *base_url;   /* "" when the preset's */
    char *auth_style; /* "" when the preset's */
    char *api_key;    /* NULL when none */
    char **headers;   /* "Name: value" lines */
    size_t n_headers;
    int timeout_ms;
} providers_endpoint_t;

/* STORE_NOT_FOUND when absent; STORE_HARD when the key does not open. */
int providers_endpoint(PGconn *c, const secret_key_t *k, const char *name,
                       providers_endpoint_t *out, store_err_t *e);
void providers_endpoint_free(providers_endpoint_t *ep);

#endif
