/* cp_tokens: admin-token RPCs and bootstrap. See cp_tokens.h. */
#include "cp_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin_tokens.h"
#include "audit.h"
#include "cp_rpc.h"
#include "cp_validate.h"
#include "log.h"
#include "store_tx.h"

#define CP_TOKENS_BOOTSTRAP_NAME "bootstrap"

/* The process itself, for changes no admin made. */
static const audit_actor_t cp_tokens_system = {"controlplane", "system", ""};

int cp_tokens_mint(char out[CP_TOKENS_MINTED_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[CP_TOKENS_MINTED_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[CP_TOKENS_MINTED_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

/* --- bootstrap ------------------------------------------------------------- */

typedef struct {
    const char *token_file;
    char token[CP_TOKENS_MAX_LEN + 2];
    const char *source; /* where the token came from; NULL: the table had rows */
    char err[256];
} cp_boot_t;

/* The bootstrap token from the environment or file, else a minted one. */
static int cp_boot_pick(cp_boot_t *b)
{
    const char *env;
    b->token[0] = '\0';
    if ((env = getenv("LLMGW_BOOTSTRAP_TOKEN")) && *env) {
        snprintf(b->token, sizeof(b->token), "%s", env);
        b->source = "LLMGW_BOOTSTRAP_TOKEN";
    } else if ((env = getenv("LLMGW_ADMIN_TOKEN")) && *env) {
        snprintf(b->token, sizeof(b->token), "%s", env);
        b->source = "LLMGW_ADMIN_TOKEN";
    } else if (b->token_file) {
        FILE *f = fopen(b->token_file, "r");
        if (!f) {
            snprintf(b->err, sizeof(b->err), "%s: cannot open the admin token file", b->token_file);
            return -1;
        }
        if (!fgets(b->token, sizeof(b->token), f))
            b->token[0] = '\0';
        fclose(f);
        b->token[strcspn(b->token, "\r\n")] = '\0';
        b->source = "admin-token-file";
    } else {
        if (cp_tokens_mint(b->token) < 0) {
            snprintf(b->err, sizeof(b->err), "admin token: the random generator failed");
            return -1;
        }
        b->source = "generated";
        return 0;
    }
    size_t n = strlen(b->token);
    if (n < CP_TOKENS_MIN_LEN || n > CP_TOKENS_MAX_LEN) {
        snprintf(b->err, sizeof(b->err), "%s: expected %d to %d characters", b->source,
                 CP_TOKENS_MIN_LEN, CP_TOKENS_MAX_LEN);
        return -1;
    }
    return 0;
}

static int cp_boot_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_boot_t *b = ctx;
    int64_t n = 0;
    char hex[2 * ADMIN_TOKENS_SHA256_LEN + 1], detail[128];
    unsigned char sha[ADMIN_TOKENS_SHA256_LEN];
    b->source = NULL;
    OPENSSL_cleanse(b->token, sizeof(b->token));
    if (admin_tokens_lock(c, e) < 0 || admin_tokens_count(c, false, &n, e) < 0)
        return -1;
    if (n > 0)
        return 0;
    if (cp_boot_pick(b) < 0)
        return store_fail(e, STORE_INVALID, "%s", b->err);
    admin_tokens_hash(b->token, sha, hex);
    snprintf(detail, sizeof(detail), "role=admin source=%s sha256_prefix=%.8s", b->source, hex);
    if (admin_tokens_insert(c, CP_TOKENS_BOOTSTRAP_NAME, hex, "admin", e) < 0 ||
        audit_append(c, &cp_tokens_system, "admin_token.bootstrap",
                     "admin_token/" CP_TOKENS_BOOTSTRAP_NAME, detail, e) < 0 ||
        admin_tokens_notify(c, e) < 0)
        return -1;
    return 0;
}

int cp_tokens_bootstrap(cp_t *cp, const char *token_file, char *err, size_t errlen)
{
    cp_boot_t *b = calloc(1, sizeof(*b));
    store_err_t e = {0};
    int rc = -1;
    if (!b) {
        snprintf(err, errlen, "admin token: out of memory");
        return -1;
    }
    b->token_file = token_file;
    if (store_run_transaction(cp->pool, false, cp_boot_tx, b, &e) < 0) {
        snprintf(err, errlen, "admin tokens: %s", e.msg);
        goto out;
    }
    rc = 0;
    if (!b->source) {
        if (getenv("LLMGW_BOOTSTRAP_TOKEN") && *getenv("LLMGW_BOOTSTRAP_TOKEN"))
            log_info("LLMGW_BOOTSTRAP_TOKEN ignored: admin tokens already exist", "%s", "");
        goto out;
    }
    log_info("admin token bootstrapped", "name=" CP_TOKENS_BOOTSTRAP_NAME " source=%s", b->source);
    if (strcmp(b->source, "generated") == 0) {
        /* The only time this token exists outside its holder's hands. */
        fprintf(stderr,
                "\n==== llmgw one-time admin token (name '" CP_TOKENS_BOOTSTRAP_NAME
                "'; stored only hashed, shown only now) ====\n"
                "LLMGW_ONE_TIME_ADMIN_TOKEN=%s\n"
                "==== keep it: export LLMGW_ADMIN_TOKEN=<token> for the llmgw CLI ====\n\n",
                b->token);
        fflush(stderr);
    }
out:
    OPENSSL_cleanse(b, sizeof(*b));
    free(b);
    return rc;
}

/* --- RPCs ------------------------------------------------------------------ */

typedef struct {
    const audit_actor_t *who;
    const char *name;
    const char *token_role;
    char hex[2 * ADMIN_TOKENS_SHA256_LEN + 1];
    ProtobufCMessage *out;
} cp_tok_tx_t;

/* A retried transaction starts over: drop what the last attempt built. */
static void cp_tok_reset(cp_tok_tx_t *t)
{
    if (t->out)
        protobuf_c_message_free_unpacked(t->out, NULL);
    t->out = NULL;
}

static grpc_status_code cp_tok_run(cp_t *cp, store_tx_fn fn, cp_tok_tx_t *t, char *details,
                                   size_t dlen)
{
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, fn, t, &e) < 0) {
        cp_tok_reset(t);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    return GRPC_STATUS_OK;
}

static int tx_create(PGconn *c, void *ctx, store_err_t *e)
{
    cp_tok_tx_t *t = ctx;
    char object[96], detail[96];
    cp_tok_reset(t);
    snprintf(object, sizeof(object), "admin_token/%s", t->name);
    snprintf(detail, sizeof(detail), "role=%s sha256_prefix=%.8s", t->token_role, t->hex);
    if (admin_tokens_insert(c, t->name, t->hex, t->token_role, e) < 0 ||
        audit_append(c, t->who, "admin_token.create", object, detail, e) < 0 ||
        admin_tokens_notify(c, e) < 0)
        return -1;
    Llmgw__V1__AdminToken *info = admin_tokens_get(c, t->name, e);
    if (!info)
        return -1;
    Llmgw__V1__CreateAdminTokenResponse *r = malloc(sizeof(*r));
    if (!r) {
        protobuf_c_message_free_unpacked(&info->base, NULL);
        return store_fail(e, STORE_HARD, "admin tokens: out of memory");
    }
    llmgw__v1__create_admin_token_response__init(r);
    r->info = info;
    t->out = &r->base;
    return 0;
}

static grpc_status_code rpc_create(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                   ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CreateAdminTokenRequest *r = (void *)req;
    char token[CP_TOKENS_MINTED_LEN + 1];
    unsigned char sha[ADMIN_TOKENS_SHA256_LEN];
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    const char *token_role = cp_auth_role(r->role[0] ? r->role : "admin");
    if (!token_role) {
        snprintf(details, dlen, "role: expected one of admin, operator, auditor, got '%.64s'",
                 r->role);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (cp_tokens_mint(token) < 0) {
        snprintf(details, dlen, "admin token: the random generator failed");
        return GRPC_STATUS_INTERNAL;
    }
    cp_tok_tx_t t = {.who = who, .name = r->name, .token_role = token_role};
    admin_tokens_hash(token, sha, t.hex);
    grpc_status_code st = cp_tok_run(cp, tx_create, &t, details, dlen);
    if (st == GRPC_STATUS_OK) {
        Llmgw__V1__CreateAdminTokenResponse *out = (void *)t.out;
        if (!(out->token = strdup(token))) {
            cp_tok_reset(&t);
            snprintf(details, dlen, "control plane: out of memory");
            st = GRPC_STATUS_RESOURCE_EXHAUSTED;
        } else {
            *resp = t.out;
            log_info("admin token created", "name=%s role=%s sha256_prefix=%.8s", r->name,
                     token_role, t.hex);
        }
    }
    OPENSSL_cleanse(token, sizeof(token));
    return st;
}

static int tx_list(PGconn *c, void *ctx, store_err_t *e)
{
    cp_tok_tx_t *t = ctx;
    cp_tok_reset(t);
    Llmgw__V1__ListAdminTokensResponse *out = calloc(1, sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "admin tokens: out of memory");
    llmgw__v1__list_admin_tokens_response__init(out);
    t->out = &out->base;
    return admin_tokens_list(c, out, e);
}

static grpc_status_code rpc_list(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                 ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_tok_tx_t t = {.who = who};
    grpc_status_code st = cp_tok_run(cp, tx_list, &t, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

static int tx_revoke(PGconn *c, void *ctx, store_err_t *e)
{
    cp_tok_tx_t *t = ctx;
    char object[96];
    cp_tok_reset(t);
    snprintf(object, sizeof(object), "admin_token/%s", t->name);
    if (admin_tokens_lock(c, e) < 0 || admin_tokens_revoke(c, t->name, e) < 0 ||
        audit_append(c, t->who, "admin_token.revoke", object, "", e) < 0 ||
        admin_tokens_notify(c, e) < 0)
        return -1;
    Llmgw__V1__AdminToken *info = admin_tokens_get(c, t->name, e);
    if (!info)
        return -1;
    Llmgw__V1__RevokeAdminTokenResponse *r = malloc(sizeof(*r));
    if (!r) {
        protobuf_c_message_free_unpacked(&info->base, NULL);
        return store_fail(e, STORE_HARD, "admin tokens: out of memory");
    }
    llmgw__v1__revoke_admin_token_response__init(r);
    r->info = info;
    t->out = &r->base;
    return 0;
}

static grpc_status_code rpc_revoke(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                   ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__RevokeAdminTokenRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_tok_tx_t t = {.who = who, .name = r->name};
    grpc_status_code st = cp_tok_run(cp, tx_revoke, &t, details, dlen);
    if (st == GRPC_STATUS_OK) {
        *resp = t.out;
        log_info("admin token revoked", "name=%s", r->name);
    }
    return st;
}

#define TOK(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.AdminTokenService/" name, &llmgw__v1__##req##__descriptor, fn,                  \
            CP_ACCESS_TOKENS, NULL                                                                 \
    }

static cp_rpc_method_t cp_tokens_methods[] = {
    TOK("CreateAdminToken", create_admin_token_request, rpc_create),
    TOK("ListAdminTokens", list_admin_tokens_request, rpc_list),
    TOK("RevokeAdminToken", revoke_admin_token_request, rpc_revoke),
};

int cp_tokens_register(cp_t *cp)
{
    return cp_rpc_register(cp, cp_tokens_methods,
                           sizeof(cp_tokens_methods) / sizeof(cp_tokens_methods[0]));
}
