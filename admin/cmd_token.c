/* cmd_token: `llmgw token create|list|revoke` — the admin tokens that
 * authorize control-plane calls (AdminTokenService).
 *
 * `create` prints the new token alone on stdout (so TOKEN=$(llmgw token
 * create ci) works) and a note on stderr: it is the only time the token is
 * shown. `list` shows names, roles and an 8-digit hash prefix — never a
 * token or a full hash, because the control plane has neither to give.
 */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmgw/v1/control.pb-c.h"

#define TOKEN_CMD "llmgw token"

static const char token_usage[] =
    "usage: llmgw token create NAME [--role admin|operator|auditor] [flags]  (prints the token "
    "once)\n"
    "       llmgw token list [flags]\n"
    "       llmgw token revoke NAME [flags]\n"
    "\n"
    "Admin tokens authorize every control-plane call. The control plane stores only\n"
    "their SHA-256: a token is shown once, when created, and cannot be shown again.\n"
    "A revoked token is refused by every replica at once; the last active token\n"
    "cannot be revoked.\n"
    "\n"
    "flags:\n"
    "  --role R             create: the token's role: admin (default), operator, "
    "auditor\n" CTL_COMMON_FLAGS "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

typedef struct {
    ctl_opts_t ctl;
    const char *verb;
    const char *name;
    const char *role;
} token_opts_t;

/* 0 parsed, 1 help shown, -1 bad usage (message printed). */
static int token_parse(int argc, char **argv, token_opts_t *o)
{
    cmd_args_t a;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    cmd_args_init(&a, TOKEN_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (!o->verb) {
                o->verb = a.value;
            } else if (!o->name) {
                o->name = a.value;
            } else {
                cmd_usage_error(TOKEN_CMD, "unexpected argument '%s'", a.value);
                return -1;
            }
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(token_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--role")) {
            if (!(o->role = cmd_args_value(&a)))
                return -1;
            continue;
        }
        if ((common = ctl_common_flag(TOKEN_CMD, &a, &o->ctl)) < 0)
            return -1;
        if (common == 0) {
            cmd_usage_error(TOKEN_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (!o->verb) {
        cmd_usage_error(TOKEN_CMD, "expected an action: create, list or revoke");
        return -1;
    }
    bool list = strcmp(o->verb, "list") == 0;
    if (!list && strcmp(o->verb, "create") != 0 && strcmp(o->verb, "revoke") != 0) {
        cmd_usage_error(TOKEN_CMD, "unknown action '%s' (expected create, list, revoke)", o->verb);
        return -1;
    }
    if (!list && !o->name) {
        cmd_usage_error(TOKEN_CMD, "%s: NAME: required", o->verb);
        return -1;
    }
    if (list && o->name) {
        cmd_usage_error(TOKEN_CMD, "unexpected argument '%s'", o->name);
        return -1;
    }
    if (o->role && strcmp(o->verb, "create") != 0) {
        cmd_usage_error(TOKEN_CMD, "--role: only for create");
        return -1;
    }
    return ctl_opts_finish(TOKEN_CMD, &o->ctl);
}

static void token_time(int64_t unix_ms, char out[32])
{
    if (unix_ms <= 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int token_list_print(const Llmgw__V1__ListAdminTokensResponse *l)
{
    static const char *const titles[] = {"NAME",    "ROLE",      "SHA256",
                                         "CREATED", "LAST USED", "STATUS"};
    ctl_table_t *t = ctl_table_new(6, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < l->n_tokens && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__AdminToken *k = l->tokens[i];
        char created[32], used[32], revoked[32], status[48], prefix[24];
        token_time(k->created_unix_ms, created);
        token_time(k->last_used_unix_ms, used);
        token_time(k->revoked_unix_ms, revoked);
        snprintf(prefix, sizeof(prefix), "%.8s...", k->sha256_prefix);
        if (k->revoked_unix_ms > 0)
            snprintf(status, sizeof(status), "revoked %s", revoked);
        else
            snprintf(status, sizeof(status), "active");
        const char *cells[] = {k->name, k->role, prefix, created, used, status};
        if (ctl_table_row(t, cells) < 0)
            rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK)
        ctl_table_print(t);
    else
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(t);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    token_opts_t o;
    ProtobufCMessage *resp = NULL;
    int rc, pr = token_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;

    if (strcmp(o.verb, "create") == 0) {
        Llmgw__V1__CreateAdminTokenRequest req = LLMGW__V1__CREATE_ADMIN_TOKEN_REQUEST__INIT;
        req.name = (char *)o.name;
        req.role = (char *)(o.role ? o.role : "");
        rc = ctl_call(&o.ctl, "/llmgw.v1.AdminTokenService/CreateAdminToken", &req.base,
                      &llmgw__v1__create_admin_token_response__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        Llmgw__V1__CreateAdminTokenResponse *r = (void *)resp;
        if (o.ctl.json) {
            rc = ctl_print_json(resp);
        } else {
            printf("%s\n", r->token);
            fprintf(stderr,
                    "admin token '%s' created (role %s, sha256 %.8s...): shown only now, keep it\n",
                    o.name, r->info ? r->info->role : "admin",
                    r->info ? r->info->sha256_prefix : "");
        }
    } else if (strcmp(o.verb, "revoke") == 0) {
        Llmgw__V1__RevokeAdminTokenRequest req = LLMGW__V1__REVOKE_ADMIN_TOKEN_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.AdminTokenService/RevokeAdminToken", &req.base,
                      &llmgw__v1__revoke_admin_token_response__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        if (o.ctl.json)
            rc = ctl_print_json(resp);
        else
            printf("admin token %s revoked\n", o.name);
    } else {
        Llmgw__V1__ListAdminTokensRequest req = LLMGW__V1__LIST_ADMIN_TOKENS_REQUEST__INIT;
        rc = ctl_call(&o.ctl, "/llmgw.v1.AdminTokenService/ListAdminTokens", &req.base,
                      &llmgw__v1__list_admin_tokens_response__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        rc = o.ctl.json ? ctl_print_json(resp) : token_list_print((const void *)resp);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
