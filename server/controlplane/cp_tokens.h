/* cp_tokens: AdminTokenService (create / list / revoke admin tokens) and the
 * first-start bootstrap of the first token.
 *
 * Invariants: a plaintext token exists only in the process that minted it,
 * for as long as it takes to hash it and hand it out once (the
 * CreateAdminToken answer, or one marked stderr line at bootstrap); only its
 * SHA-256 reaches PostgreSQL, the audit log or a log line. Each change is one
 * transaction: the row, its audit_log row and NOTIFY llmgw_admin_tokens.
 */
#ifndef LLMGW_CP_TOKENS_H
#define LLMGW_CP_TOKENS_H

#include <stddef.h>

#include "cp.h"

/* Hex characters of a minted token (32 random bytes). */
#define CP_TOKENS_MINTED_LEN 64
/* A provided bootstrap token's accepted length. */
#define CP_TOKENS_MIN_LEN 16
#define CP_TOKENS_MAX_LEN 512

/* Registers the methods; 0 or -1. cp must outlive the server. */
int cp_tokens_register(cp_t *cp);

/* When admin_tokens is empty (first start), stores the hash of the bootstrap
 * token as token 'bootstrap': LLMGW_BOOTSTRAP_TOKEN, else LLMGW_ADMIN_TOKEN,
 * else the first line of token_file (NULL: none), else a minted one, which
 * is printed once to stderr. A table with rows (revoked ones too) is left
 * alone and those sources are not read. Replicas starting at once serialize
 * on an advisory lock: one bootstraps. 0, or -1 with err filled. */
int cp_tokens_bootstrap(cp_t *cp, const char *token_file, char *err, size_t errlen);

/* 32 bytes from the OpenSSL RNG as lower-case hex into out[65]; 0 or -1. */
int cp_tokens_mint(char out[CP_TOKENS_MINTED_LEN + 1]);

#endif
