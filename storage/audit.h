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

/* Who made a change: the admin token's name ("controlplane" for the
 * process itself), its role ("admin", "operator", "auditor"; "system" for
 * the process) and the client's address ("" when none). Borrowed strings. */
typedef struct {
    const char *name;
    const char *role;
    const char *peer;
} audit_actor_t;

/* Hex sha256 over prev_hex and the length-prefixed fields into out[65].
 * Rows with no role and no peer (written before migration 0005) hash the
 * first five fields only. */
void audit_chain_hash(const char *prev_hex, const audit_actor_t *who, const char *action,
                      const char *object, const char *detail, char out[65]);
/* An update's detail: `after` ("k=v k=v ...", values without spaces), then
 * " before: k=v ..." with the earlier value of every key of `before` whose
 * value differs in (or is missing from) `after`; `after` alone when nothing
 * differs. Truncated to fit out (n > 0). */
void audit_detail_before(const char *after, const char *before, char *out, size_t n);
/* Appends one row. 0 or -1 with e filled. */
int audit_append(PGconn *c, const audit_actor_t *who, const char *action, const char *object,
                 const char *detail, store_err_t *e);
/* The outcome of a chain check: rows looked at (up to and including the
 * first bad one) and the first bad row's id (0: the chain is intact). */
typedef struct {
    long long rows_checked;
    long long first_bad_id;
} audit_verify_t;

/* Recomputes the chain over every row, in pages of ids; 0 with *out filled
 * (a broken chain is a result, not an error), -1 with e filled when the log
 * cannot be read. */
int audit_verify_report(PGconn *c, audit_verify_t *out, store_err_t *e);
/* Recomputes the chain over every row: 0 when intact, -1 with e naming the
 * first bad row id. */
int audit_verify(PGconn *c, store_err_t *e);

#endif
