/* auth: bearer API keys from gRPC metadata / HTTP headers against the table.
 *
 * Authentication comes before anything else a front door does with a call
 * (decoding, validation): an unauthenticated caller learns nothing but
 * UNAUTHENTICATED / 401. With no keys in the table, auth is off and every
 * caller is anonymous with every scope.
 */
#ifndef LLMGW_AUTH_H
#define LLMGW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

#include "table.h"

/* `authorization` is the raw header value ("Bearer sk-…") or NULL. Returns 0
 * with *key set (NULL when auth is off), or -1 with err ("authorization:
 * missing bearer token", "authorization: unknown API key", "authorization:
 * API key expired" — also a rotated key's previous secret after its grace). */
int auth_check(const table_t *t, const char *authorization, const table_key_t **key, char *err,
               size_t errlen);
/* auth_check at wall-clock time now_unix_ms (tests pass their own). */
int auth_check_at(const table_t *t, const char *authorization, int64_t now_unix_ms,
                  const table_key_t **key, char *err, size_t errlen);

/* auth_check, then the key's scopes must hold `scope` (one TABLE_SCOPE_*).
 * GRPC_STATUS_OK with *key (NULL: auth off), UNAUTHENTICATED, or
 * PERMISSION_DENIED ("authorization: key 'k' lacks scope 'ensembles'"). */
grpc_status_code auth_authorize(const table_t *t, const char *authorization, unsigned scope,
                                const table_key_t **key, char *err, size_t errlen);

/* "chat", "models", "ensembles", "routing" for one TABLE_SCOPE_* bit. */
const char *auth_scope_name(unsigned scope);
/* Wall-clock milliseconds since the Unix epoch (key expiry is wall time). */
int64_t auth_now_unix_ms(void);

#endif
