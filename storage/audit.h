/* audit: the append-only audit log with a hash chain.
 *
 * Invariants: rows are only inserted (a trigger refuses UPDATE and DELETE);
 * each row's row_hash = audit_chain_hash(previous row's row_hash, fields), the
 * first row chaining from 64 zeros, so rewriting or removing any row breaks
 * every hash after it. audit_append runs inside the caller's transaction — the
 * row commits with the change it records or not at all — and takes a
 * transaction advisory lock so two writers never chain from the same row.
 */
#ifndef LLMGW_AUDIT_H
#define LLMGW_AUDIT_H

#include <libpq-fe.h>

#include "store.h"

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Hex sha256 over prev_hex and the length-prefixed fields into out[65]. */
void audit_chain_hash(const char *prev_hex, const char *actor, const char *action,
                      const char *object, const char *detail, char out[65]);
/* Appends one row. 0 or -1 with e filled. */
int audit_append(PGconn *c, const char *actor, const char *action, const char *object,
                 const char *detail, store_err_t *e);
/* Recomputes the chain over every row: 0 when intact, -1 with e naming the
 * first bad row id. */
int audit_verify(PGconn *c, store_err_t *e);

#endif
