/* cmd_ctl: common flags, calls and output of the control-plane subcommands.
 * See cmd_ctl.h. */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pbjson.h"

void ctl_opts_init(ctl_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = CMD_DEFAULT_TIMEOUT_MS;
}

int ctl_common_flag(const char *cmd, cmd_args_t *a, ctl_opts_t *o)
{
    const char *v;
    long long n;
    if (cmd_args_is(a, "--target")) {
        if (!(v = cmd_args_value(a)) || cmd_check_target(cmd, "--target", v) < 0)
            return -1;
        o->target = v;
        return 1;
    }
    if (cmd_args_is(a, "--token")) {
        if (!(v = cmd_args_value(a)))
            return -1;
        if (!v[0]) {
            fprintf(stderr, "%s: --token: must not be empty\n", cmd);
            return -1;
        }
        o->token = v;
        return 1;
    }
    if (cmd_args_is(a, "--output")) {
        if (!(v = cmd_args_value(a)))
            return -1;
        if (strcmp(v, "json") != 0 && strcmp(v, "table") != 0) {
            fprintf(stderr, "%s: --output: expected table or json, got '%s'\n", cmd, v);
            return -1;
        }
        o->json = strcmp(v, "json") == 0;
        return 1;
    }
    if (cmd_args_is(a, "--timeout-ms")) {
        if (!(v = cmd_args_value(a)) ||
            cmd_parse_int(cmd, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
            return -1;
        o->timeout_ms = (int)n;
        return 1;
    }
    return 0;
}

int ctl_opts_finish(const char *cmd, ctl_opts_t *o)
{
    if (!o->target) {
        const char *env = getenv("LLMGW_CONTROL_TARGET");
        if (env && *env) {
            if (cmd_check_target(cmd, "LLMGW_CONTROL_TARGET", env) < 0)
                return -1;
            o->target = env;
        } else {
            o->target = CTL_DEFAULT_TARGET;
        }
    }
    if (!o->token) {
        const char *env = getenv("LLMGW_ADMIN_TOKEN");
        if (!env || !*env) {
            cmd_usage_error(cmd, "--token: required (or set LLMGW_ADMIN_TOKEN)");
            return -1;
        }
        o->token = env;
    }
    return 0;
}

int ctl_call(const ctl_opts_t *o, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    cmd_conn_t *c = cmd_conn_open(o->target, o->token, o->timeout_ms);
    if (!c)
        return CMD_EXIT_RPC;
    int rc = CMD_EXIT_OK;
    if (cmd_conn_unary(c, method, req, resp_desc, resp) < 0)
        rc = cmd_conn_report(c);
    cmd_conn_close(c);
    return rc;
}

void ctl_change_line(const char *what, const char *name, const char *done, long long version)
{
    if (version > 0)
        printf("%s %s %s (table version %lld)\n", what, name, done, version);
    else
        printf("%s %s %s (no table published: no enabled provider has a model yet)\n", what, name,
               done);
}

int ctl_print_json(const ProtobufCMessage *m)
{
    json_t *j = pbjson_from_message(m);
    if (!j) {
        fprintf(stderr, "error: out of memory\n");
        return CMD_EXIT_RPC;
    }
    int rc = json_dumpf(j, stdout, JSON_INDENT(2)) == 0 ? CMD_EXIT_OK : CMD_EXIT_RPC;
    fputc('\n', stdout);
    json_decref(j);
    return rc;
}

struct ctl_table {
    size_t n_cols, n_rows, alloc;
    const char *const *titles;
    char **cells; /* n_rows * n_cols */
};

ctl_table_t *ctl_table_new(size_t n_cols, const char *const *titles)
{
    ctl_table_t *t = calloc(1, sizeof(*t));
    if (t) {
        t->n_cols = n_cols;
        t->titles = titles;
    }
    return t;
}

int ctl_table_row(ctl_table_t *t, const char *const *cells)
{
    if (t->n_rows == t->alloc) {
        size_t na = t->alloc ? t->alloc * 2 : 16;
        char **nc = realloc(t->cells, na * t->n_cols * sizeof(*nc));
        if (!nc)
            return -1;
        t->cells = nc;
        t->alloc = na;
    }
    char **row = &t->cells[t->n_rows * t->n_cols];
    for (size_t c = 0; c < t->n_cols; c++) {
        if (!(row[c] = strdup(cells[c] ? cells[c] : ""))) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            return -1;
        }
    }
    t->n_rows++;
    return 0;
}

void ctl_table_print(const ctl_table_t *t)
{
    size_t width[16] = {0};
    size_t nc = t->n_cols < 16 ? t->n_cols : 16;
    for (size_t c = 0; c < nc; c++)
        width[c] = strlen(t->titles[c]);
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t n = strlen(t->cells[r * t->n_cols + c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t c = 0; c < nc; c++)
        printf("%-*s%s", c + 1 < nc ? (int)width[c] : 0, t->titles[c], c + 1 < nc ? "  " : "\n");
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < nc; c++)
            printf("%-*s%s", c + 1 < nc ? (int)width[c] : 0, t->cells[r * t->n_cols + c],
                   c + 1 < nc ? "  " : "\n");
}

void ctl_table_free(ctl_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
