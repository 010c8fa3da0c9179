/* cmd_audit: `llmgw audit verify` — recomputes the audit_log hash chain
 * straight from PostgreSQL (storage/audit.c) and names the first row that
 * does not match, so a compliance check needs no control plane running. */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "store.h"

#define AUDIT_CMD "llmgw audit"

static const char audit_usage[] =
    "usage: llmgw audit verify [--database-url URL]\n"
    "\n"
    "Recomputes the hash chain of audit_log; exit 0 when every row matches, 1 naming\n"
    "the first row that does not (or when the database cannot be read).\n"
    "\n"
    "  --database-url URL    libpq connection string or URI (env LLMGW_DATABASE_URL)\n"
    "  -h, --help            show this help\n";

int cmd_audit(int argc, char **argv)
{
    cmd_args_t a;
    const char *url = getenv("LLMGW_DATABASE_URL"), *verb = NULL;
    cmd_args_init(&a, AUDIT_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            if (verb)
                return cmd_usage_error(AUDIT_CMD, "unexpected argument '%s'", a.value);
            verb = a.value;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(audit_usage, stdout);
            return CMD_EXIT_OK;
        } else if (cmd_args_is(&a, "--database-url")) {
            if (!(url = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
        } else {
            return cmd_usage_error(AUDIT_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                   a.name);
        }
    }
    if (!verb || strcmp(verb, "verify") != 0)
        return cmd_usage_error(AUDIT_CMD, "expected the action 'verify'");
    if (!url || !*url)
        return cmd_usage_error(AUDIT_CMD, "--database-url: required (or LLMGW_DATABASE_URL)");
    int rc = CMD_EXIT_RPC;
    store_err_t e = {0};
    PGconn *c = PQconnectdb(url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        const char *why = c ? PQerrorMessage(c) : "out of memory";
        fprintf(stderr, "error: database: cannot connect: %.*s\n", (int)strcspn(why, "\n"), why);
    } else if (store_prepare_all(c, &e) < 0 || audit_verify(c, &e) < 0) {
        fprintf(stderr, "error: %s\n", e.msg);
    } else {
        printf("audit log intact\n");
        rc = CMD_EXIT_OK;
    }
    PQfinish(c);
    return rc;
}
