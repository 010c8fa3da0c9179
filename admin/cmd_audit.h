/* cmd_audit: what `llmgw audit list|verify|export` share between
 * cmd_audit.c (flags, list, verify) and cmd_audit_export.c (csv / jsonl).
 */
#ifndef LLMGW_CMD_AUDIT_H
#define LLMGW_CMD_AUDIT_H

#include "cmd_ctl.h"
#include "llmgw/v1/audit.pb-c.h"

#define AUDIT_CMD "llmgw audit"

typedef struct {
    ctl_opts_t ctl;
    const char *verb;
    const char *database_url; /* verify straight from PostgreSQL */
    bool via_rpc;             /* --token / --control-plane given */
    Llmgw__V1__AuditFilter filter;
    long long limit;    /* rows at most; 0: list 100, export all */
    const char *format; /* export: "csv" or "jsonl" */
    const char *output; /* export: file, NULL for stdout */
} audit_opts_t;

/* `llmgw audit export`: every matching row, oldest first, paged through
 * ExportAudit, as csv or jsonl on stdout or into o->output (written whole
 * or not at all). Exit status as cmd.h. */
int cmd_audit_export(const audit_opts_t *o);

#endif
