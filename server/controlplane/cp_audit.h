/* cp_audit: AuditService (proto/llmgw/v1/audit.proto) — ListAudit,
 * VerifyAudit and ExportAudit over audit_log, for admins and auditors
 * (access class CP_ACCESS_AUDIT).
 *
 * Invariants: read-only (the log is written by the changes it records, in
 * their own transactions); every filter field is checked before any SQL runs
 * and a bad one is INVALID_ARGUMENT naming the field; a broken chain is a
 * VerifyAudit answer, not an RPC error.
 */
#ifndef LLMGW_CP_AUDIT_H
#define LLMGW_CP_AUDIT_H

#include <stddef.h>

#include "cp.h"
#include "llmgw/v1/audit.pb-c.h"

/* Instants accepted in a filter: 0 (no bound) .. the end of year 9999 UTC. */
#define CP_AUDIT_MAX_UNIX_MS 253402300799999LL
#define CP_AUDIT_LIST_MAX 1000
#define CP_AUDIT_LIST_DEFAULT 100
#define CP_AUDIT_EXPORT_MAX 5000
#define CP_AUDIT_EXPORT_DEFAULT 1000

/* Checks a filter (NULL: none); 0, or -1 with err naming the field
 * ("filter.until_unix_ms: must be after filter.since_unix_ms"). */
int cp_audit_check_filter(const Llmgw__V1__AuditFilter *f, char *err, size_t errlen);

/* Registers the methods; 0 or -1. cp must outlive the server. */
int cp_audit_register(cp_t *cp);

#endif
