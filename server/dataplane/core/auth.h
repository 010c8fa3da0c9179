/* auth: bearer API keys from gRPC metadata / HTTP headers against the table.
 * With no keys in the table, auth is off and every caller is anonymous. */
#ifndef LLMGW_AUTH_H
#define LLMGW_AUTH_H

#include <stddef.h>

#include "table.h"

/* `authorization` is the raw header value ("Bearer sk-…") or NULL. Returns 0
 * with *key set (NULL when auth is off), or -1 with err ("authorization:
 * missing bearer token", "authorization: unknown API key"). */
int auth_check(const table_t *t, const char *authorization, const table_key_t **key, char *err,
               size_t errlen);

#endif
