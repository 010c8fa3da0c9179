/* cmd_key: `llmgw key create|list|show|update|revoke|rotate|delete` — the
 * API keys clients present to data planes (GovernanceService).
 *
 * `create` and `rotate` print the new secret alone on stdout (so
 * KEY=$(llmgw key create ci --team t) works) and a note on stderr that it
 * will not be shown again: the control plane keeps only its SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_gov.h"
#include "llmgw/v1/governance.pb-c.h"

#define KEY_CMD "llmgw key"
#define KEY_RPC "/llmgw.v1.GovernanceService/"
#define KEY_DAY_MS 86400000LL

static const char key_usage[] =
    "usage: llmgw key create NAME [--team T] [--scopes S,..] [--rpm N] [--tpm N]\n"
    "                        [--expires RFC3339 | --ttl DURATION] [flags]  (prints the secret "
    "once)\n"
    "       llmgw key list [--team T] [flags]\n"
    "       llmgw key show NAME [flags]\n"
    "       llmgw key update NAME [--team T | --no-team] [--scopes S,..] [--rpm N] [--tpm N]\n"
    "                        [--expires RFC3339 | --ttl DURATION | --no-expiry] [flags]\n"
    "       llmgw key revoke NAME [flags]\n"
    "       llmgw key rotate NAME [--grace DURATION] [flags]  (prints the new secret once)\n"
    "       llmgw key delete NAME [flags]\n"
    "\n"
    "A key is what a service sends to a data plane (Authorization: Bearer <secret>).\n"
    "The control plane mints the secret and stores only its SHA-256: it is shown once,\n"
    "when created or rotated. Data planes receive the hash with the routing table and\n"
    "refuse a revoked or expired key once they have the new table.\n"
    "\n"
    "flags:\n"
    "  --team T             the team the key belongs to (update: --no-team for none)\n"
    "  --scopes S,..        what it may call: chat, models, ensembles, routing (default chat)\n"
    "  --rpm N              requests per minute, 0..10000000 (0 unlimited; per data plane)\n"
    "  --tpm N              tokens per minute, 0..10000000000 (0 unlimited; per data plane)\n"
    "  --expires T          expiry, RFC 3339 (2027-01-31T00:00:00Z) or a date (2027-01-31)\n"
    "  --ttl D              expiry as a duration from now: 90m, 12h, 30d (at most 36500d)\n"
    "  --no-expiry          update: the key never expires\n"
    "  --grace D            rotate: how long the old secret keeps working, 0 to 30d\n"
    "                       (default 1h; 0 ends it at once)\n"
    "  --json               the answer as JSON (same as --output json)\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

enum { K_CREATE, K_LIST, K_SHOW, K_UPDATE, K_REVOKE, K_ROTATE, K_DELETE };
static const char *const key_verbs[] = {"create", "list",   "show",   "update",
                                        "revoke", "rotate", "delete", NULL};
#define K_WRITE (1u << K_CREATE | 1u << K_UPDATE)
enum { F_TEAM, F_NO_TEAM, F_SCOPES, F_RPM, F_TPM, F_EXPIRES, F_TTL, F_NO_EXPIRY, F_GRACE };

static long long key_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void key_status(const Llmgw__V1__ApiKey *k, char *out, size_t n)
{
    char t[32];
    if (k->revoked_unix_ms > 0) {
        gov_time(k->revoked_unix_ms, t);
        snprintf(out, n, "revoked %s", t);
    } else if (k->expires_unix_ms > 0 && k->expires_unix_ms <= key_now_ms()) {
        snprintf(out, n, "expired");
    } else if (k->previous_expires_unix_ms > key_now_ms()) {
        gov_time(k->previous_expires_unix_ms, t);
        snprintf(out, n, "active (old secret until %s)", t);
    } else {
        snprintf(out, n, "active");
    }
}

static void key_print(const Llmgw__V1__ApiKey *k)
{
    char scopes[128], rpm[24], tpm[24], exp[32], prev[32], created[32], status[96];
    gov_join(k->scopes, k->n_scopes, scopes, sizeof(scopes));
    gov_limit(k->requests_per_min, rpm);
    gov_limit(k->tokens_per_min, tpm);
    gov_time(k->expires_unix_ms, exp);
    gov_time(k->previous_expires_unix_ms, prev);
    gov_time(k->created_unix_ms, created);
    key_status(k, status, sizeof(status));
    printf("name:      %s\nteam:      %s\nscopes:    %s\nrpm:       %s\ntpm:       %s\n"
           "expires:   %s\nsha256:    %s...\n",
           k->name, k->team[0] ? k->team : "-", scopes, rpm, tpm, exp, k->sha256_prefix);
    if (k->previous_sha256_prefix[0])
        printf("previous:  %s... (valid until %s)\n", k->previous_sha256_prefix, prev);
    printf("created:   %s\nstatus:    %s\n", created, status);
}

static int key_list_print(const Llmgw__V1__ListApiKeysResponse *l)
{
    static const char *const titles[] = {"NAME", "TEAM",    "SCOPES", "RPM",
                                         "TPM",  "EXPIRES", "SHA256", "STATUS"};
    ctl_table_t *t = ctl_table_new(8, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < l->n_keys && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__ApiKey *k = l->keys[i];
        char scopes[128], rpm[24], tpm[24], exp[32], sha[24], status[96];
        gov_join(k->scopes, k->n_scopes, scopes, sizeof(scopes));
        gov_limit(k->requests_per_min, rpm);
        gov_limit(k->tokens_per_min, tpm);
        gov_time(k->expires_unix_ms, exp);
        snprintf(sha, sizeof(sha), "%.8s...", k->sha256_prefix);
        key_status(k, status, sizeof(status));
        const char *cells[] = {k->name, k->team[0] ? k->team : "-", scopes, rpm, tpm, exp, sha,
                               status};
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

/* --expires / --ttl as Unix ms (0 when neither); -1 when both. */
static int key_expiry(gov_flag_t *f, long long *ms)
{
    *ms = 0;
    int given = f[F_EXPIRES].seen + f[F_TTL].seen + f[F_NO_EXPIRY].seen;
    if (given > 1) {
        cmd_usage_error(KEY_CMD, "--expires, --ttl and --no-expiry exclude each other");
        return -1;
    }
    if (f[F_EXPIRES].seen)
        *ms = f[F_EXPIRES].num;
    else if (f[F_TTL].seen)
        *ms = key_now_ms() + f[F_TTL].num;
    return 0;
}

/* The secret alone on stdout, the note on stderr. */
static void key_secret_out(const char *verb, const char *name, const char *secret,
                           const Llmgw__V1__ApiKey *k, long long version)
{
    printf("%s\n", secret);
    fprintf(stderr,
            "api key '%s' %s (sha256 %.8s...). This secret is shown only now and will not be "
            "shown again: keep it.\n",
            name, verb, k ? k->sha256_prefix : "");
    if (version > 0)
        fprintf(stderr, "table version %lld published\n", version);
}

static int key_create(gov_cli_t *g, gov_flag_t *f, ProtobufCMessage **resp)
{
    Llmgw__V1__CreateApiKeyRequest req = LLMGW__V1__CREATE_API_KEY_REQUEST__INIT;
    long long exp;
    char **scopes = NULL;
    size_t n_scopes = 0;
    if (key_expiry(f, &exp) < 0)
        return CMD_EXIT_USAGE;
    if (f[F_SCOPES].seen && gov_split(f[F_SCOPES].str, &scopes, &n_scopes) < 0)
        return CMD_EXIT_RPC;
    req.name = (char *)g->name;
    req.team = (char *)(f[F_TEAM].seen ? f[F_TEAM].str : "");
    req.scopes = scopes;
    req.n_scopes = n_scopes;
    req.requests_per_min = (int32_t)f[F_RPM].num;
    req.tokens_per_min = f[F_TPM].num;
    req.expires_unix_ms = exp;
    int rc = ctl_call(&g->ctl, KEY_RPC "CreateApiKey", &req.base,
                      &llmgw__v1__create_api_key_response__descriptor, resp);
    gov_split_free(scopes, n_scopes);
    return rc;
}

static int key_update(gov_cli_t *g, gov_flag_t *f, ProtobufCMessage **resp)
{
    Llmgw__V1__UpdateApiKeyRequest req = LLMGW__V1__UPDATE_API_KEY_REQUEST__INIT;
    char *mask[5], **scopes = NULL;
    size_t n_scopes = 0;
    long long exp;
    if (f[F_TEAM].seen && f[F_NO_TEAM].seen)
        return cmd_usage_error(KEY_CMD, "--team and --no-team exclude each other");
    if (key_expiry(f, &exp) < 0)
        return CMD_EXIT_USAGE;
    req.name = (char *)g->name;
    req.update_mask = mask;
    if (f[F_TEAM].seen || f[F_NO_TEAM].seen) {
        mask[req.n_update_mask++] = "team";
        req.team = (char *)(f[F_TEAM].seen ? f[F_TEAM].str : "");
    }
    if (f[F_SCOPES].seen) {
        if (gov_split(f[F_SCOPES].str, &scopes, &n_scopes) < 0)
            return CMD_EXIT_RPC;
        mask[req.n_update_mask++] = "scopes";
        req.scopes = scopes;
        req.n_scopes = n_scopes;
    }
    if (f[F_RPM].seen) {
        mask[req.n_update_mask++] = "requests_per_min";
        req.requests_per_min = (int32_t)f[F_RPM].num;
    }
    if (f[F_TPM].seen) {
        mask[req.n_update_mask++] = "tokens_per_min";
        req.tokens_per_min = f[F_TPM].num;
    }
    if (f[F_EXPIRES].seen || f[F_TTL].seen || f[F_NO_EXPIRY].seen) {
        mask[req.n_update_mask++] = "expires_unix_ms";
        req.expires_unix_ms = exp;
    }
    if (req.n_update_mask == 0)
        return cmd_usage_error(KEY_CMD, "update: name at least one of --team, --no-team, "
                                        "--scopes, --rpm, --tpm, --expires, --ttl, --no-expiry");
    int rc = ctl_call(&g->ctl, KEY_RPC "UpdateApiKey", &req.base,
                      &llmgw__v1__api_key_change__descriptor, resp);
    gov_split_free(scopes, n_scopes);
    return rc;
}

/* The one-name calls: show, revoke, rotate, delete, and list. */
static int key_simple(gov_cli_t *g, gov_flag_t *f, ProtobufCMessage **resp)
{
    if (g->verb == K_SHOW) {
        Llmgw__V1__GetApiKeyRequest req = LLMGW__V1__GET_API_KEY_REQUEST__INIT;
        req.name = (char *)g->name;
        return ctl_call(&g->ctl, KEY_RPC "GetApiKey", &req.base, &llmgw__v1__api_key__descriptor,
                        resp);
    }
    if (g->verb == K_REVOKE) {
        Llmgw__V1__RevokeApiKeyRequest req = LLMGW__V1__REVOKE_API_KEY_REQUEST__INIT;
        req.name = (char *)g->name;
        return ctl_call(&g->ctl, KEY_RPC "RevokeApiKey", &req.base,
                        &llmgw__v1__api_key_change__descriptor, resp);
    }
    if (g->verb == K_ROTATE) {
        Llmgw__V1__RotateApiKeyRequest req = LLMGW__V1__ROTATE_API_KEY_REQUEST__INIT;
        req.name = (char *)g->name;
        req.grace_ms = f[F_GRACE].seen ? f[F_GRACE].num : 3600000;
        return ctl_call(&g->ctl, KEY_RPC "RotateApiKey", &req.base,
                        &llmgw__v1__rotate_api_key_response__descriptor, resp);
    }
    if (g->verb == K_DELETE) {
        Llmgw__V1__DeleteApiKeyRequest req = LLMGW__V1__DELETE_API_KEY_REQUEST__INIT;
        req.name = (char *)g->name;
        return ctl_call(&g->ctl, KEY_RPC "DeleteApiKey", &req.base,
                        &llmgw__v1__governance_change__descriptor, resp);
    }
    Llmgw__V1__ListApiKeysRequest req = LLMGW__V1__LIST_API_KEYS_REQUEST__INIT;
    req.team = (char *)(f[F_TEAM].seen ? f[F_TEAM].str : "");
    return ctl_call(&g->ctl, KEY_RPC "ListApiKeys", &req.base,
                    &llmgw__v1__list_api_keys_response__descriptor, resp);
}

/* Human output of a successful call. */
static int key_report(gov_cli_t *g, ProtobufCMessage *resp)
{
    if (g->verb == K_CREATE) {
        Llmgw__V1__CreateApiKeyResponse *r = (void *)resp;
        key_secret_out("created", g->name, r->secret, r->key, r->table_version);
    } else if (g->verb == K_ROTATE) {
        Llmgw__V1__RotateApiKeyResponse *r = (void *)resp;
        key_secret_out("rotated", g->name, r->secret, r->key, r->table_version);
        if (r->key && r->key->previous_sha256_prefix[0]) {
            char until[32];
            gov_time(r->key->previous_expires_unix_ms, until);
            fprintf(stderr, "the old secret keeps working until %s\n", until);
        }
    } else if (g->verb == K_UPDATE || g->verb == K_REVOKE) {
        ctl_change_line("api key", g->name, g->verb == K_UPDATE ? "updated" : "revoked",
                        ((Llmgw__V1__ApiKeyChange *)resp)->table_version);
    } else if (g->verb == K_DELETE) {
        ctl_change_line("api key", g->name, "deleted",
                        ((Llmgw__V1__GovernanceChange *)resp)->table_version);
    } else if (g->verb == K_SHOW) {
        key_print((const void *)resp);
    } else {
        return key_list_print((const void *)resp);
    }
    return CMD_EXIT_OK;
}

int cmd_key(int argc, char **argv)
{
    gov_flag_t flags[] = {
        [F_TEAM] = {"--team", GOV_STR, 0, 0, K_WRITE | 1u << K_LIST, false, NULL, 0},
        [F_NO_TEAM] = {"--no-team", GOV_BOOL, 0, 0, 1u << K_UPDATE, false, NULL, 0},
        [F_SCOPES] = {"--scopes", GOV_LIST, 0, 0, K_WRITE, false, NULL, 0},
        [F_RPM] = {"--rpm", GOV_INT, 0, 10000000, K_WRITE, false, NULL, 0},
        [F_TPM] = {"--tpm", GOV_INT, 0, 10000000000LL, K_WRITE, false, NULL, 0},
        [F_EXPIRES] = {"--expires", GOV_TIME, 0, 0, K_WRITE, false, NULL, 0},
        [F_TTL] = {"--ttl", GOV_DURATION, 1, 36500 * KEY_DAY_MS, K_WRITE, false, NULL, 0},
        [F_NO_EXPIRY] = {"--no-expiry", GOV_BOOL, 0, 0, 1u << K_UPDATE, false, NULL, 0},
        [F_GRACE] = {"--grace", GOV_DURATION, 0, 30 * KEY_DAY_MS, 1u << K_ROTATE, false, NULL, 0},
    };
    gov_cli_t g = {.cmd = KEY_CMD,
                   .usage = key_usage,
                   .verbs = key_verbs,
                   .verbs_with_name = ~(1u << K_LIST),
                   .flags = flags,
                   .n_flags = sizeof(flags) / sizeof(flags[0])};
    int pr = gov_parse(&g, argc, argv);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    ProtobufCMessage *resp = NULL;
    int rc = g.verb == K_CREATE   ? key_create(&g, flags, &resp)
             : g.verb == K_UPDATE ? key_update(&g, flags, &resp)
                                  : key_simple(&g, flags, &resp);
    if (rc != CMD_EXIT_OK)
        return rc;
    rc = g.ctl.json ? ctl_print_json(resp) : key_report(&g, resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
