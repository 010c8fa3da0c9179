/* cmd_audit: `llmgw audit list|verify|export` — the audit log for people and
 * compliance scripts (AuditService, proto/llmgw/v1/audit.proto).
 *
 * `list` pages through ListAudit newest first into an aligned table (or
 * --json); `verify` asks the control plane to recompute the hash chain, or
 * with --database-url recomputes it straight from PostgreSQL
 * (storage/audit.c), so a compliance check needs no control plane running;
 * `export` is cmd_audit_export.c. Here `--target` filters the audited object
 * (as the wording has it); the control plane's address is
 * --control-plane.
 */
#include "cmd_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit.h"
#include "pbjson.h"
#include "store.h"
#include "timefmt.h"

#define AUDIT_LIST_DEFAULT 100
#define AUDIT_MAX_ROWS 10000000LL

static const char audit_usage[] =
    "usage: llmgw audit list [filters] [--limit N] [--json] [flags]\n"
    "       llmgw audit verify [flags | --database-url URL]\n"
    "       llmgw audit export --format csv|jsonl [filters] [--limit N] [--output FILE] [flags]\n"
    "\n"
    "The control plane's append-only, hash-chained audit log: who (admin token name,\n"
    "role, client address) did what to which object, when. Needs an admin or auditor\n"
    "token. list shows the newest rows first; export writes rows oldest first (chain\n"
    "order, with prev_hash); verify recomputes the chain and names the first bad row.\n"
    "\n"
    "filters:\n"
    "  --since T            rows at or after T: Unix ms, YYYY-MM-DD or RFC 3339\n"
    "                       (2026-01-31T12:00:00Z, offsets like +01:00 allowed)\n"
    "  --until T            rows before T (must be after --since)\n"
    "  --actor NAME         admin token name ('controlplane' for the process itself)\n"
    "  --action A           e.g. provider.create; a family like api_key matches api_key.*\n"
    "  --target OBJECT      the object acted on, e.g. provider/openai (alias --object)\n"
    "                       a trailing '*' matches a prefix in --actor, --action, --target\n"
    "\n"
    "flags:\n"
    "  --limit N            at most N rows (list default 100; export default all)\n"
    "  --json               list: JSON instead of a table (same as --output json)\n"
    "  --format csv|jsonl   export: the file format (required)\n"
    "  --output FILE        export: write FILE (replaced only when complete), not stdout;\n"
    "                       list: table|json\n"
    "  --control-plane HOST:PORT  control plane (env LLMGW_CONTROL_TARGET, "
    "default " CTL_DEFAULT_TARGET ")\n"
    "  --token T            admin token (env LLMGW_ADMIN_TOKEN)\n"
    "  --timeout-ms N       deadline of each call, 1..86400000 (default 60000)\n"
    "  --database-url URL   verify: read PostgreSQL directly (env LLMGW_DATABASE_URL,\n"
    "                       used when no --token / --control-plane is given)\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done (verify: chain intact), 1 the call failed or the chain is\n"
    "broken, 2 bad arguments\n";

static int audit_time_flag(cmd_args_t *a, const char *flag, int64_t *out)
{
    const char *v = cmd_args_value(a);
    char err[256];
    if (!v)
        return -1;
    if (timefmt_parse(v, out, err, sizeof(err)) < 0) {
        cmd_usage_error(AUDIT_CMD, "%s: %s", flag, err);
        return -1;
    }
    return 0;
}

/* --actor/--action/--target: the value, refused when empty. */
static int audit_text_flag(cmd_args_t *a, const char *flag, char **out)
{
    const char *v = cmd_args_value(a);
    if (!v)
        return -1;
    if (!v[0]) {
        cmd_usage_error(AUDIT_CMD, "%s: must not be empty", flag);
        return -1;
    }
    *out = (char *)v;
    return 0;
}

/* One audit-specific flag: 1 consumed, 0 not ours, -1 bad (message printed). */
static int audit_flag(cmd_args_t *a, audit_opts_t *o)
{
    const char *v;
    if (cmd_args_is(a, "--since"))
        return audit_time_flag(a, "--since", &o->filter.since_unix_ms) < 0 ? -1 : 1;
    if (cmd_args_is(a, "--until"))
        return audit_time_flag(a, "--until", &o->filter.until_unix_ms) < 0 ? -1 : 1;
    if (cmd_args_is(a, "--actor"))
        return audit_text_flag(a, "--actor", &o->filter.actor) < 0 ? -1 : 1;
    if (cmd_args_is(a, "--action"))
        return audit_text_flag(a, "--action", &o->filter.action) < 0 ? -1 : 1;
    if (cmd_args_is(a, "--target") || cmd_args_is(a, "--object")) {
        if (audit_text_flag(a, cmd_args_is(a, "--target") ? "--target" : "--object",
                            &o->filter.object) < 0)
            return -1;
        /* Objects are "kind/name"; HOST:PORT here is the other commands' habit. */
        if (!strchr(o->filter.object, '/') && !strchr(o->filter.object, '*') &&
            strchr(o->filter.object, ':')) {
            cmd_usage_error(AUDIT_CMD,
                            "--target: filters the audited object (kind/name, e.g. "
                            "provider/openai), got '%s'; the control plane's address is "
                            "--control-plane",
                            o->filter.object);
            return -1;
        }
        return 1;
    }
    if (cmd_args_is(a, "--limit")) {
        if (!(v = cmd_args_value(a)) ||
            cmd_parse_int(AUDIT_CMD, "--limit", v, 1, AUDIT_MAX_ROWS, &o->limit) < 0)
            return -1;
        return 1;
    }
    if (cmd_args_is(a, "--json")) {
        if (cmd_args_no_value(a) < 0)
            return -1;
        o->ctl.json = true;
        return 1;
    }
    if (cmd_args_is(a, "--format")) {
        if (!(v = cmd_args_value(a)))
            return -1;
        if (strcmp(v, "csv") != 0 && strcmp(v, "jsonl") != 0) {
            cmd_usage_error(AUDIT_CMD, "--format: expected csv or jsonl, got '%s'", v);
            return -1;
        }
        o->format = v;
        return 1;
    }
    if (cmd_args_is(a, "--control-plane")) {
        if (!(v = cmd_args_value(a)) || cmd_check_target(AUDIT_CMD, "--control-plane", v) < 0)
            return -1;
        o->ctl.target = v;
        o->via_rpc = true;
        return 1;
    }
    if (cmd_args_is(a, "--database-url")) {
        if (!(v = cmd_args_value(a)))
            return -1;
        if (!v[0]) {
            cmd_usage_error(AUDIT_CMD, "--database-url: must not be empty");
            return -1;
        }
        o->database_url = v;
        return 1;
    }
    return 0;
}

/* --output is a file for export and table|json for list. */
static int audit_output_flag(cmd_args_t *a, audit_opts_t *o)
{
    const char *v = cmd_args_value(a);
    if (!v)
        return -1;
    if (!v[0]) {
        cmd_usage_error(AUDIT_CMD, "--output: must not be empty");
        return -1;
    }
    o->output = v;
    return 0;
}

/* The checks that need every flag; -1 after a message. */
static int audit_check(audit_opts_t *o, bool any_filter)
{
    bool list = strcmp(o->verb, "list") == 0, verify = strcmp(o->verb, "verify") == 0;
    bool export = strcmp(o->verb, "export") == 0;
    if (!list && !verify && !export) {
        cmd_usage_error(AUDIT_CMD, "unknown action '%s' (expected list, verify, export)", o->verb);
        return -1;
    }
    /* An inverted --since/--until is the control plane's to refuse
     * (INVALID_ARGUMENT naming filter.until_unix_ms), as for any client. */
    if (verify && (any_filter || o->limit || o->format || o->output || o->ctl.json)) {
        cmd_usage_error(AUDIT_CMD,
                        "verify: takes no filters, --limit, --format, --output or --json");
        return -1;
    }
    if (!verify && o->database_url) {
        cmd_usage_error(AUDIT_CMD, "--database-url: only for verify");
        return -1;
    }
    if (o->database_url && o->via_rpc) {
        cmd_usage_error(AUDIT_CMD,
                        "--database-url: cannot be combined with --token or --control-plane");
        return -1;
    }
    if (list && o->format) {
        cmd_usage_error(AUDIT_CMD, "--format: only for export");
        return -1;
    }
    if (list && o->output) {
        if (strcmp(o->output, "json") != 0 && strcmp(o->output, "table") != 0) {
            cmd_usage_error(AUDIT_CMD, "--output: expected table or json, got '%s'", o->output);
            return -1;
        }
        o->ctl.json = o->ctl.json || strcmp(o->output, "json") == 0;
        o->output = NULL;
    }
    if (export && !o->format) {
        cmd_usage_error(AUDIT_CMD, "export: --format: required (csv or jsonl)");
        return -1;
    }
    if (export && o->ctl.json) {
        cmd_usage_error(AUDIT_CMD, "--json: only for list (export has --format)");
        return -1;
    }
    if (verify && !o->database_url && !o->via_rpc) {
        const char *env = getenv("LLMGW_DATABASE_URL");
        if (env && env[0])
            o->database_url = env;
    }
    if (o->database_url)
        return 0;
    return ctl_opts_finish(AUDIT_CMD, &o->ctl);
}

/* 0 parsed, 1 help shown, -1 bad usage (message printed). */
static int audit_parse(int argc, char **argv, audit_opts_t *o)
{
    static const Llmgw__V1__AuditFilter filter_init = LLMGW__V1__AUDIT_FILTER__INIT;
    cmd_args_t a;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    o->filter = filter_init;
    cmd_args_init(&a, AUDIT_CMD, argc, argv);
    bool any_filter = false;
    while (cmd_args_next(&a)) {
        int r;
        if (!a.name) {
            if (o->verb) {
                cmd_usage_error(AUDIT_CMD, "unexpected argument '%s'", a.value);
                return -1;
            }
            o->verb = a.value;
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(audit_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--output")) {
            if (audit_output_flag(&a, o) < 0)
                return -1;
            continue;
        }
        if (cmd_args_is(&a, "--token"))
            o->via_rpc = true;
        any_filter = any_filter || cmd_args_is(&a, "--since") || cmd_args_is(&a, "--until") ||
                     cmd_args_is(&a, "--actor") || cmd_args_is(&a, "--action") ||
                     cmd_args_is(&a, "--target") || cmd_args_is(&a, "--object");
        if ((r = audit_flag(&a, o)) < 0)
            return -1;
        if (r == 0 && !cmd_args_is(&a, "--target") &&
            (r = ctl_common_flag(AUDIT_CMD, &a, &o->ctl)) < 0)
            return -1;
        if (r == 0) {
            cmd_usage_error(AUDIT_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (!o->verb) {
        cmd_usage_error(AUDIT_CMD, "expected an action: list, verify or export");
        return -1;
    }
    return audit_check(o, any_filter);
}

/* --- verify ---------------------------------------------------------------- */

static int audit_verify_db(const char *url)
{
    int rc = CMD_EXIT_RPC;
    store_err_t e = {0};
    audit_verify_t v;
    PGconn *c = PQconnectdb(url);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        const char *why = c ? PQerrorMessage(c) : "out of memory";
        fprintf(stderr, "error: database: cannot connect: %.*s\n", (int)strcspn(why, "\n"), why);
    } else if (store_prepare_all(c, &e) < 0 || audit_verify_report(c, &v, &e) < 0) {
        fprintf(stderr, "error: %s\n", e.msg);
    } else if (v.first_bad_id != 0) {
        fprintf(stderr, "error: audit_log: chain broken at id %lld\n", v.first_bad_id);
    } else {
        printf("audit log intact (%lld rows)\n", v.rows_checked);
        rc = CMD_EXIT_OK;
    }
    PQfinish(c);
    return rc;
}

static int audit_verify_rpc(const audit_opts_t *o)
{
    Llmgw__V1__VerifyAuditRequest req = LLMGW__V1__VERIFY_AUDIT_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int rc = ctl_call(&o->ctl, "/llmgw.v1.AuditService/VerifyAudit", &req.base,
                      &llmgw__v1__verify_audit_response__descriptor, &resp);
    if (rc != CMD_EXIT_OK)
        return rc;
    const Llmgw__V1__VerifyAuditResponse *v = (const void *)resp;
    if (v->ok) {
        printf("audit log intact (%lld rows)\n", (long long)v->rows_checked);
    } else {
        fprintf(stderr, "error: %s\n", v->message);
        rc = CMD_EXIT_RPC;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

/* --- list ------------------------------------------------------------------ */

static int audit_list_row(ctl_table_t *t, json_t *rows, const Llmgw__V1__AuditRow *r)
{
    if (rows) {
        json_t *j = pbjson_from_message(&r->base);
        char at[32];
        timefmt_rfc3339(r->at_unix_ms, at, sizeof(at));
        if (!j || json_object_set_new(j, "at", json_string(at)) < 0)
            goto fail;
        json_object_del(j, "prev_hash"); /* ListAudit never sets it */
        return json_array_append_new(rows, j);
    fail:
        json_decref(j);
        return -1;
    }
    char id[24], at[32];
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    timefmt_rfc3339(r->at_unix_ms, at, sizeof(at));
    const char *cells[] = {id,      at,        r->actor,  r->actor_role,
                           r->peer, r->action, r->object, r->detail};
    return ctl_table_row(t, cells);
}

static int audit_list(const audit_opts_t *o)
{
    static const char *const titles[] = {"ID",   "AT",     "ACTOR",  "ROLE",
                                         "PEER", "ACTION", "OBJECT", "DETAIL"};
    long long want = o->limit ? o->limit : AUDIT_LIST_DEFAULT, got = 0;
    ctl_table_t *t = o->ctl.json ? NULL : ctl_table_new(8, titles);
    json_t *rows = o->ctl.json ? json_array() : NULL;
    cmd_conn_t *c = NULL;
    int rc = CMD_EXIT_RPC;
    int64_t before = 0;
    if ((!t && !rows) || !(c = cmd_conn_open(o->ctl.target, o->ctl.token, o->ctl.timeout_ms)))
        goto out;
    do {
        Llmgw__V1__ListAuditRequest req = LLMGW__V1__LIST_AUDIT_REQUEST__INIT;
        ProtobufCMessage *resp = NULL;
        req.filter = (Llmgw__V1__AuditFilter *)&o->filter;
        req.limit = (int32_t)(want - got < 1000 ? want - got : 1000);
        req.before_id = before;
        if (cmd_conn_unary(c, "/llmgw.v1.AuditService/ListAudit", &req.base,
                           &llmgw__v1__list_audit_response__descriptor, &resp) < 0) {
            rc = cmd_conn_report(c);
            goto out;
        }
        const Llmgw__V1__ListAuditResponse *l = (const void *)resp;
        int bad = 0;
        for (size_t i = 0; i < l->n_rows && !bad; i++)
            bad = audit_list_row(t, rows, l->rows[i]);
        got += (long long)l->n_rows;
        before = l->next_before_id;
        protobuf_c_message_free_unpacked(resp, NULL);
        if (bad) {
            fprintf(stderr, "error: out of memory\n");
            goto out;
        }
    } while (before > 0 && got < want);
    if (rows) {
        json_t *doc = json_pack("{s:O}", "rows", rows);
        rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? CMD_EXIT_OK : CMD_EXIT_RPC;
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        ctl_table_print(t);
        rc = CMD_EXIT_OK;
    }
out:
    cmd_conn_close(c);
    ctl_table_free(t);
    json_decref(rows);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    audit_opts_t o;
    int pr = audit_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    if (strcmp(o.verb, "verify") == 0)
        return o.database_url ? audit_verify_db(o.database_url) : audit_verify_rpc(&o);
    if (strcmp(o.verb, "list") == 0)
        return audit_list(&o);
    return cmd_audit_export(&o);
}
