/* cmd_models: `llmgw models` — what a data plane can serve (ListModels), as a
 * table on stdout (or JSON), one row per route and per provider/model.
 *
 * Column widths follow the longest cell, so ids of any length line up; the
 * table version goes to stderr, like every other diagnostic of the CLI.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "pbjson.h"

#define MODELS_CMD "llmgw models"
#define MODELS_MAX_CELL (64u << 10)

static const char models_usage[] =
    "usage: llmgw models [flags]\n"
    "\n"
    "Lists every route and provider/model a data plane's routing table can serve\n"
    "(llmgw.v1.ChatService/ListModels).\n"
    "\n"
    "flags:\n"
    "  --target HOST:PORT  data plane address (env LLMGW_TARGET, default " CMD_DEFAULT_TARGET ")\n"
    "  --key K             API key, sent as 'authorization: Bearer K' (env LLMGW_API_KEY)\n"
    "  --provider P        only the models of provider P\n"
    "  --timeout-ms N      deadline of the call in ms, 1..86400000 (default 60000)\n"
    "  --json              print the whole response as JSON\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 listed, 1 the call failed, 2 bad arguments\n";

typedef struct {
    const char *target;
    const char *key;
    const char *provider;
    bool json;
    int timeout_ms;
} models_opts_t;

static int models_parse(int argc, char **argv, models_opts_t *o)
{
    cmd_args_t a;
    long long n;
    const char *v;

    memset(o, 0, sizeof(*o));
    o->timeout_ms = CMD_DEFAULT_TIMEOUT_MS;
    cmd_args_init(&a, MODELS_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            cmd_usage_error(MODELS_CMD, "unexpected argument '%s'", a.value);
            return -1;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(models_usage, stdout);
            return 1;
        } else if (cmd_args_is(&a, "--json")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->json = true;
        } else if (cmd_args_is(&a, "--target")) {
            if (!(v = cmd_args_value(&a)) || cmd_check_target(MODELS_CMD, "--target", v) < 0)
                return -1;
            o->target = v;
        } else if (cmd_args_is(&a, "--key")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!v[0]) {
                fprintf(stderr, "%s: --key: must not be empty\n", MODELS_CMD);
                return -1;
            }
            o->key = v;
        } else if (cmd_args_is(&a, "--provider")) {
            if (!(o->provider = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--timeout-ms")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(MODELS_CMD, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
                return -1;
            o->timeout_ms = (int)n;
        } else {
            cmd_usage_error(MODELS_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (cmd_env_defaults(MODELS_CMD, &o->target, &o->key) < 0)
        return -1;
    return 0;
}

enum { COL_ID, COL_KIND, COL_SERVED_BY, COL_IN, COL_OUT, COL_QUALITY, COL_DEPLOYMENTS, N_COLS };

static const char *const col_titles[N_COLS] = {
    "ID", "KIND", "STRATEGY/PROVIDER", "IN $/MTOK", "OUT $/MTOK", "QUALITY", "DEPLOYMENTS"};

/* The cells of one row, each a NUL-terminated string in `cells`. */
static int models_row(const Llmgw__V1__ModelInfo *mi, buf_t cells[N_COLS])
{
    int rc = 0;
    bool route = strcmp(mi->kind, "route") == 0;
    for (int c = 0; c < N_COLS; c++)
        buf_reset(&cells[c]);
    rc |= buf_append_str(&cells[COL_ID], mi->id);
    rc |= buf_append_str(&cells[COL_KIND], mi->kind);
    rc |= buf_append_str(&cells[COL_SERVED_BY], route ? mi->strategy : mi->provider);
    if (!route) {
        rc |= buf_printf(&cells[COL_IN], "%.4g", mi->input_cost_per_mtok);
        rc |= buf_printf(&cells[COL_OUT], "%.4g", mi->output_cost_per_mtok);
        rc |= buf_printf(&cells[COL_QUALITY], "%.2f", mi->quality);
    }
    for (size_t i = 0; i < mi->n_deployments; i++)
        rc |= buf_printf(&cells[COL_DEPLOYMENTS], "%s%s", i ? "," : "", mi->deployments[i]);
    return rc ? -1 : 0;
}

static int models_table(const Llmgw__V1__ListModelsResponse *r)
{
    buf_t cells[N_COLS];
    size_t width[N_COLS];
    int rc = -1;

    for (int c = 0; c < N_COLS; c++) {
        buf_init(&cells[c], MODELS_MAX_CELL);
        width[c] = strlen(col_titles[c]);
    }
    /* Two passes: widths first, then the rows padded to them. */
    for (size_t i = 0; i < r->n_models; i++) {
        if (models_row(r->models[i], cells) < 0)
            goto out;
        for (int c = 0; c < N_COLS; c++)
            if (cells[c].len > width[c])
                width[c] = cells[c].len;
    }
    for (int c = 0; c < N_COLS; c++)
        printf("%-*s%s", c + 1 < N_COLS ? (int)width[c] : 0, col_titles[c],
               c + 1 < N_COLS ? "  " : "\n");
    for (size_t i = 0; i < r->n_models; i++) {
        if (models_row(r->models[i], cells) < 0)
            goto out;
        for (int c = 0; c < N_COLS; c++)
            printf("%-*s%s", c + 1 < N_COLS ? (int)width[c] : 0, buf_cstr(&cells[c]),
                   c + 1 < N_COLS ? "  " : "\n");
    }
    rc = 0;
out:
    for (int c = 0; c < N_COLS; c++)
        buf_free(&cells[c]);
    if (rc < 0)
        fprintf(stderr, "error: models table: out of memory\n");
    return rc;
}

int cmd_models(int argc, char **argv)
{
    models_opts_t o;
    cmd_conn_t *conn = NULL;
    ProtobufCMessage *m = NULL;
    int rc = models_parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;

    Llmgw__V1__ListModelsRequest req = LLMGW__V1__LIST_MODELS_REQUEST__INIT;
    if (o.provider)
        req.provider = (char *)o.provider;

    rc = CMD_EXIT_RPC;
    conn = cmd_conn_open(o.target, o.key, o.timeout_ms);
    if (!conn)
        goto out;
    if (cmd_conn_unary(conn, "/llmgw.v1.ChatService/ListModels", &req.base,
                       &llmgw__v1__list_models_response__descriptor, &m) < 0) {
        rc = cmd_conn_report(conn);
        goto out;
    }
    const Llmgw__V1__ListModelsResponse *resp = (const Llmgw__V1__ListModelsResponse *)m;
    if (o.json) {
        json_t *j = pbjson_from_message(m);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            json_decref(j);
            fprintf(stderr, "error: cannot write the JSON answer\n");
            goto out;
        }
        json_decref(j);
        fputc('\n', stdout);
    } else {
        if (models_table(resp) < 0)
            goto out;
        fflush(stdout);
        fprintf(stderr, "table_version=%lld models=%zu\n", (long long)resp->table_version,
                resp->n_models);
    }
    rc = CMD_EXIT_OK;
out:
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    cmd_conn_close(conn);
    return rc;
}
