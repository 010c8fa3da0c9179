/* audit_query: reading audit_log for people and exports — filtered pages of
 * rows as protobuf-c messages (AuditService, proto/llmgw/v1/audit.proto).
 *
 * Invariants: read-only; filter values reach SQL as LIKE patterns built here
 * with their metacharacters escaped, so a name holding '%' or '_' matches
 * only itself; a trailing '*' is the one wildcard (a prefix). Pages are by
 * id: ListAudit newest first (before_id), ExportAudit in chain order
 * (after_id). The filter is validated by the caller (cp_audit.c).
 */
#ifndef LLMGW_AUDIT_QUERY_H
#define LLMGW_AUDIT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "llmgw/v1/audit.pb-c.h"
#include "store.h"

/* Longest filter value accepted (bytes). */
#define AUDIT_QUERY_MAX_VALUE 256

/* The LIKE pattern matching `value` into out (outlen >= 2 * strlen + 3):
 * "" for an empty value (no filter), the escaped value, or — with a
 * trailing '*' — the escaped prefix and '%'. With `family`, the pattern
 * instead matches "<value>.<anything>" ("" when value is empty or ends in
 * '*'). 0, or -1 when out is too small. */
int audit_query_pattern(const char *value, bool family, char *out, size_t outlen);

/* One page of rows matching f (NULL: all), newest first, ids below
 * before_id (0: no bound), at most limit rows (1..1000), appended to
 * out->rows; out->next_before_id set when more rows match. prev_hash is left
 * "". 0 or -1 with e filled. */
int audit_query_list(PGconn *c, const Llmgw__V1__AuditFilter *f, int64_t before_id, int limit,
                     Llmgw__V1__ListAuditResponse *out, store_err_t *e);
/* The same in chain order: ids above after_id, at most limit rows
 * (1..5000), prev_hash set; out->next_after_id when more rows match. */
int audit_query_export(PGconn *c, const Llmgw__V1__AuditFilter *f, int64_t after_id, int limit,
                       Llmgw__V1__ExportAuditResponse *out, store_err_t *e);

#endif
