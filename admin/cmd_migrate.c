/* cmd_migrate: `llmgw migrate` — applies pending migrations straight to
 * PostgreSQL (storage/migrate.c), the same way llmgw-controlplane does at
 * start: forward-only, one transaction each, refused when an applied file
 * changed, serialized between concurrent runs by an advisory lock. */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define MIGRATE_CMD "llmgw migrate"

#ifndef LLMGW_MIGRATIONS_DIR
#define LLMGW_MIGRATIONS_DIR "migrations"
#endif

static const char migrate_usage[] =
    "usage: llmgw migrate [--database-url URL] [--migrations-dir DIR]\n"
    "\n"
    "Applies the pending migrations/NNNN_name.sql files to the database.\n"
    "\n"
    "  --database-url URL    libpq connection string or URI (env LLMGW_DATABASE_URL)\n"
    "  --migrations-dir DIR  default " LLMGW_MIGRATIONS_DIR "\n"
    "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 up to date, 1 a migration failed or was changed, 2 bad arguments\n";

int cmd_migrate(int argc, char **argv)
{
    cmd_args_t a;
    const char *url = getenv("LLMGW_DATABASE_URL"), *dir = LLMGW_MIGRATIONS_DIR;
    cmd_args_init(&a, MIGRATE_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name)
            return cmd_usage_error(MIGRATE_CMD, "unexpected argument '%s'", a.value);
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(migrate_usage, stdout);
            return CMD_EXIT_OK;
        } else if (cmd_args_is(&a, "--database-url")) {
            if (!(url = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--migrations-dir")) {
            if (!(dir = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
        } else {
            return cmd_usage_error(MIGRATE_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                   a.name);
        }
    }
    if (!url || !*url)
        return cmd_usage_error(MIGRATE_CMD, "--database-url: required (or LLMGW_DATABASE_URL)");
    char err[1024];
    int applied = 0;
    if (migrate_run(url, dir, &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "error: %s\n", err);
        return CMD_EXIT_RPC;
    }
    printf("migrations up to date (%d applied now)\n", applied);
    return CMD_EXIT_OK;
}
