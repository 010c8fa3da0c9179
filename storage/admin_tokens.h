/* admin_tokens: the control plane's bearer tokens (table `admin_tokens`),
 * stored only as their SHA-256.
 *
 * Invariants: no function here takes or returns a plaintext token — callers
 * hash first (admin_tokens_hash); listings carry an 8-digit hash prefix, never
 * a full hash. Changes run inside the caller's transaction and end with
 * admin_tokens_notify, so every replica's LISTEN on ADMIN_TOKENS_CHANNEL
 * refreshes its token set when the change commits. admin_tokens_lock
 * serializes the changes that count rows first (bootstrap, revoke).
 */
#ifndef LLMGW_ADMIN_TOKENS_H
#define LLMGW_ADMIN_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "llmgw/v1/control.pb-c.h"
#include "store.h"

#define ADMIN_TOKENS_CHANNEL "llmgw_admin_tokens"
#define ADMIN_TOKENS_SHA256_LEN 32

/* One active token as the authorization cache holds it. */
typedef struct {
    unsigned char sha256[ADMIN_TOKENS_SHA256_LEN];
    char name[72];
    char role[32];
} admin_tokens_row_t;

/* SHA-256 of a plaintext token, raw and as lower-case hex (hex may be NULL). */
void admin_tokens_hash(const char *token, unsigned char sha256[ADMIN_TOKENS_SHA256_LEN],
                       char hex[2 * ADMIN_TOKENS_SHA256_LEN + 1]);
/* Takes the transaction advisory lock of token changes. */
int admin_tokens_lock(PGconn *c, store_err_t *e);
/* Rows in the table (active_only: not revoked). */
int admin_tokens_count(PGconn *c, bool active_only, int64_t *n, store_err_t *e);
/* Inserts a token by hash. STORE_CONFLICT names the taken name (or says the
 * token itself is already registered). */
int admin_tokens_insert(PGconn *c, const char *name, const char *sha256_hex, const char *role,
                        store_err_t *e);
/* Revokes the named token. STORE_NOT_FOUND when absent; STORE_IN_USE when
 * already revoked or the last active token. Call under admin_tokens_lock. */
int admin_tokens_revoke(PGconn *c, const char *name, store_err_t *e);
/* One token's description (malloc'd; free with
 * protobuf_c_message_free_unpacked). NULL with e filled. */
Llmgw__V1__AdminToken *admin_tokens_get(PGconn *c, const char *name, store_err_t *e);
/* Fills out->tokens (malloc'd, by name). */
int admin_tokens_list(PGconn *c, Llmgw__V1__ListAdminTokensResponse *out, store_err_t *e);
/* Every active token: *rows malloc'd (free()), *n of them. */
int admin_tokens_active(PGconn *c, admin_tokens_row_t **rows, size_t *n, store_err_t *e);
/* Sets last_used_at = now() for the token with this hash. */
int admin_tokens_touch(PGconn *c, const char *sha256_hex, store_err_t *e);
/* NOTIFY ADMIN_TOKENS_CHANNEL (delivered at commit). */
int admin_tokens_notify(PGconn *c, store_err_t *e);

#endif
