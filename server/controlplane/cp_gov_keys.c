/* cp_gov_keys: the API-key RPCs of GovernanceService. See cp_governance.h.
 *
 * Create and Rotate mint the secret before the transaction (a retried
 * attempt stores the same hash) and copy it into the answer only after the
 * commit; the buffer is wiped before the call returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_keys.h"
#include "cp_gov.h"
#include "cp_validate.h"
#include "log.h"
#include "store_msg.h"

#define KEY_EXPIRY_MAX_MS (100LL * 366 * 24 * 3600 * 1000) /* 100 years ahead */

static Llmgw__V1__ApiKey *key_msg(const api_keys_key_t *k)
{
    Llmgw__V1__ApiKey *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    llmgw__v1__api_key__init(m);
    m->requests_per_min = k->requests_per_min;
    m->tokens_per_min = k->tokens_per_min;
    m->expires_unix_ms = k->expires_unix_ms;
    m->previous_expires_unix_ms = k->previous_expires_unix_ms;
    m->created_unix_ms = k->created_unix_ms;
    m->updated_unix_ms = k->updated_unix_ms;
    m->revoked_unix_ms = k->revoked_unix_ms;
    if (store_msg_str(&m->name, k->name) < 0 || store_msg_str(&m->team, k->team) < 0 ||
        store_msg_str(&m->sha256_prefix, k->sha256_prefix) < 0 ||
        store_msg_str(&m->previous_sha256_prefix, k->previous_sha256_prefix) < 0)
        goto fail;
    size_t n = 0;
    for (size_t i = 0; api_keys_scope_name(i); i++)
        n += (k->scopes >> i) & 1u;
    if (n && !(m->scopes = calloc(n, sizeof(*m->scopes))))
        goto fail;
    for (size_t i = 0; api_keys_scope_name(i); i++)
        if ((k->scopes >> i) & 1u) {
            if (store_msg_str(&m->scopes[m->n_scopes], api_keys_scope_name(i)) < 0)
                goto fail;
            m->n_scopes++;
        }
    return m;
fail:
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return NULL;
}

/* Scope names to bits: "key.scopes[1]: expected one of ...". Empty: chat. */
static int key_scopes(char **names, size_t n, unsigned *bits, char *err, size_t errlen)
{
    *bits = n ? 0 : API_KEYS_SCOPE_CHAT;
    for (size_t i = 0; i < n; i++) {
        unsigned b = api_keys_scope_parse(names[i]);
        if (!b) {
            snprintf(err, errlen,
                     "key.scopes[%zu]: expected one of chat, models, ensembles, routing, got "
                     "'%.64s'",
                     i, names[i]);
            return -1;
        }
        *bits |= b;
    }
    return 0;
}

/* 0 never; otherwise in the future and not absurdly far. */
static int key_expiry(int64_t ms, char *err, size_t errlen)
{
    int64_t now = cp_gov_now_ms();
    if (ms == 0)
        return 0;
    if (ms < 0) {
        snprintf(err, errlen, "key.expires_unix_ms: expected Unix milliseconds > 0 (0: never)");
        return -1;
    }
    if (ms <= now) {
        snprintf(err, errlen, "key.expires_unix_ms: %lld is in the past (now %lld)", (long long)ms,
                 (long long)now);
        return -1;
    }
    if (ms - now > KEY_EXPIRY_MAX_MS) {
        snprintf(err, errlen, "key.expires_unix_ms: more than 100 years ahead");
        return -1;
    }
    return 0;
}

/* Checks on a team name given in a key request ("" is none). */
static int key_team(const char *team, char *err, size_t errlen)
{
    return team[0] ? cp_validate_name("key.team", team, 64, "", err, errlen) : 0;
}

static int key_limits(int64_t rpm, int64_t tpm, char *err, size_t errlen)
{
    if (rpm < 0 || rpm > API_KEYS_RPM_MAX) {
        snprintf(err, errlen, "key.requests_per_min: expected 0 to %d", API_KEYS_RPM_MAX);
        return -1;
    }
    if (tpm < 0 || tpm > API_KEYS_TPM_MAX) {
        snprintf(err, errlen, "key.tokens_per_min: expected 0 to %lld", API_KEYS_TPM_MAX);
        return -1;
    }
    return 0;
}

typedef enum { KEY_OUT_KEY, KEY_OUT_CHANGE, KEY_OUT_CREATE, KEY_OUT_ROTATE } key_out_t;

/* Reads key `name` back into t->out as an answer of kind `kind`. */
static int key_out(PGconn *c, cp_gov_tx_t *t, const char *name, key_out_t kind, store_err_t *e)
{
    api_keys_key_t got;
    if (api_keys_get(c, name, &got, e) < 0)
        return -1;
    Llmgw__V1__ApiKey *m = key_msg(&got);
    if (!m)
        return store_fail(e, STORE_HARD, "api keys: out of memory");
    if (kind == KEY_OUT_KEY) {
        t->out = &m->base;
        return 0;
    }
    if (kind == KEY_OUT_CHANGE) {
        Llmgw__V1__ApiKeyChange *out = malloc(sizeof(*out));
        if (out) {
            llmgw__v1__api_key_change__init(out);
            out->key = m;
            t->out = &out->base;
        }
    } else if (kind == KEY_OUT_CREATE) {
        Llmgw__V1__CreateApiKeyResponse *out = malloc(sizeof(*out));
        if (out) {
            llmgw__v1__create_api_key_response__init(out);
            out->key = m;
            t->out = &out->base;
        }
    } else {
        Llmgw__V1__RotateApiKeyResponse *out = malloc(sizeof(*out));
        if (out) {
            llmgw__v1__rotate_api_key_response__init(out);
            out->key = m;
            t->out = &out->base;
        }
    }
    if (!t->out) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return store_fail(e, STORE_HARD, "api keys: out of memory");
    }
    return 0;
}

/* After the commit: the version (and the secret) into the answer. -1 when
 * out of memory (the answer is freed). */
static int key_finish(cp_gov_tx_t *t, key_out_t kind, const char *secret)
{
    char **field = NULL;
    if (kind == KEY_OUT_CHANGE) {
        ((Llmgw__V1__ApiKeyChange *)t->out)->table_version = t->version;
    } else if (kind == KEY_OUT_CREATE) {
        Llmgw__V1__CreateApiKeyResponse *out = (void *)t->out;
        out->table_version = t->version;
        field = &out->secret;
    } else if (kind == KEY_OUT_ROTATE) {
        Llmgw__V1__RotateApiKeyResponse *out = (void *)t->out;
        out->table_version = t->version;
        field = &out->secret;
    }
    if (field && store_msg_str(field, secret) < 0) {
        protobuf_c_message_free_unpacked(t->out, NULL);
        t->out = NULL;
        return -1;
    }
    return 0;
}

/* Runs a key change and finishes its answer. */
static grpc_status_code key_change(cp_t *cp, cp_gov_tx_t *t, key_out_t kind,
                                   ProtobufCMessage **resp, char *details, size_t dlen)
{
    grpc_status_code st = cp_gov_run(cp, t, true, details, dlen);
    if (st != GRPC_STATUS_OK)
        return st;
    if (key_finish(t, kind, t->secret) < 0) {
        snprintf(details, dlen, "control plane: out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    *resp = t->out;
    return GRPC_STATUS_OK;
}

/* --- create ---------------------------------------------------------------- */

static int tx_key_create(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const api_keys_key_t *k = t->req;
    if (api_keys_insert(c, t->who, k, t->secret, e) < 0)
        return -1;
    return key_out(c, t, k->name, KEY_OUT_CREATE, e);
}

static grpc_status_code rpc_key_create(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CreateApiKeyRequest *r = (void *)req;
    api_keys_key_t k;
    char secret[API_KEYS_MINT_LEN];
    memset(&k, 0, sizeof(k));
    if (cp_validate_name("key.name", r->name, 64, "", details, dlen) < 0 ||
        key_team(r->team, details, dlen) < 0 ||
        key_scopes(r->scopes, r->n_scopes, &k.scopes, details, dlen) < 0 ||
        key_limits(r->requests_per_min, r->tokens_per_min, details, dlen) < 0 ||
        key_expiry(r->expires_unix_ms, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    snprintf(k.name, sizeof(k.name), "%s", r->name);
    snprintf(k.team, sizeof(k.team), "%s", r->team);
    k.requests_per_min = r->requests_per_min;
    k.tokens_per_min = r->tokens_per_min;
    k.expires_unix_ms = r->expires_unix_ms;
    store_err_t e = {0};
    if (api_keys_mint(secret, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return GRPC_STATUS_INTERNAL;
    }
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_key_create,
                     .req = &k,
                     .secret = secret,
                     .action = "api_key.create",
                     .object = k.name};
    grpc_status_code st = key_change(cp, &t, KEY_OUT_CREATE, resp, details, dlen);
    OPENSSL_cleanse(secret, sizeof(secret));
    return st;
}

/* --- update ---------------------------------------------------------------- */

static const char *const key_mask_fields[] = {
    "team", "scopes", "requests_per_min", "tokens_per_min", "expires_unix_ms", NULL};

/* Checks the request's values of the fields its mask names. */
static int key_update_check(const Llmgw__V1__UpdateApiKeyRequest *r, unsigned bits,
                            unsigned *scopes, char *err, size_t errlen)
{
    if ((bits & 1u) && key_team(r->team, err, errlen) < 0)
        return -1;
    if ((bits & 2u) && r->n_scopes == 0) {
        snprintf(err, errlen, "key.scopes: name at least one of chat, models, ensembles, routing");
        return -1;
    }
    if ((bits & 2u) && key_scopes(r->scopes, r->n_scopes, scopes, err, errlen) < 0)
        return -1;
    if (key_limits((bits & 4u) ? r->requests_per_min : 0, (bits & 8u) ? r->tokens_per_min : 0, err,
                   errlen) < 0)
        return -1;
    return (bits & 16u) ? key_expiry(r->expires_unix_ms, err, errlen) : 0;
}

static int tx_key_update(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const Llmgw__V1__UpdateApiKeyRequest *r = t->req;
    api_keys_key_t k;
    unsigned bits = 0, scopes = 0;
    char err[256];
    if (cp_gov_mask(r->update_mask, r->n_update_mask, key_mask_fields, &bits, err, sizeof(err)) <
            0 ||
        key_update_check(r, bits, &scopes, err, sizeof(err)) < 0)
        return store_fail(e, STORE_INVALID, "%s", err);
    if (api_keys_get_locked(c, r->name, &k, e) < 0)
        return -1;
    if (bits & 1u)
        snprintf(k.team, sizeof(k.team), "%s", r->team);
    if (bits & 2u)
        k.scopes = scopes;
    if (bits & 4u)
        k.requests_per_min = r->requests_per_min;
    if (bits & 8u)
        k.tokens_per_min = r->tokens_per_min;
    if (bits & 16u)
        k.expires_unix_ms = r->expires_unix_ms;
    if (api_keys_update(c, t->who, &k, e) < 0)
        return -1;
    return key_out(c, t, r->name, KEY_OUT_CHANGE, e);
}

static grpc_status_code rpc_key_update(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__UpdateApiKeyRequest *r = (void *)req;
    unsigned bits, scopes;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0 ||
        cp_gov_mask(r->update_mask, r->n_update_mask, key_mask_fields, &bits, details, dlen) < 0 ||
        key_update_check(r, bits, &scopes, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {
        .who = who, .fn = tx_key_update, .req = r, .action = "api_key.update", .object = r->name};
    return key_change(cp, &t, KEY_OUT_CHANGE, resp, details, dlen);
}

/* --- revoke, rotate, delete -------------------------------------------------- */

static int tx_key_revoke(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    if (api_keys_revoke(c, t->who, t->req, e) < 0)
        return -1;
    return key_out(c, t, t->req, KEY_OUT_CHANGE, e);
}

static grpc_status_code rpc_key_revoke(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__RevokeApiKeyRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_key_revoke,
                     .req = r->name,
                     .action = "api_key.revoke",
                     .object = r->name};
    return key_change(cp, &t, KEY_OUT_CHANGE, resp, details, dlen);
}

static int tx_key_rotate(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const Llmgw__V1__RotateApiKeyRequest *r = t->req;
    if (api_keys_rotate(c, t->who, r->name, t->secret, r->grace_ms, e) < 0)
        return -1;
    return key_out(c, t, r->name, KEY_OUT_ROTATE, e);
}

static grpc_status_code rpc_key_rotate(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__RotateApiKeyRequest *r = (void *)req;
    char secret[API_KEYS_MINT_LEN];
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (r->grace_ms < 0 || r->grace_ms > API_KEYS_GRACE_MAX_MS) {
        snprintf(details, dlen, "grace_ms: expected 0 to %lld (30 days)", API_KEYS_GRACE_MAX_MS);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    store_err_t e = {0};
    if (api_keys_mint(secret, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return GRPC_STATUS_INTERNAL;
    }
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_key_rotate,
                     .req = r,
                     .secret = secret,
                     .action = "api_key.rotate",
                     .object = r->name};
    grpc_status_code st = key_change(cp, &t, KEY_OUT_ROTATE, resp, details, dlen);
    OPENSSL_cleanse(secret, sizeof(secret));
    return st;
}

static int tx_key_delete(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    if (api_keys_delete(c, t->who, t->req, e) < 0)
        return -1;
    Llmgw__V1__GovernanceChange *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "api keys: out of memory");
    llmgw__v1__governance_change__init(out);
    t->out = &out->base;
    return 0;
}

static grpc_status_code rpc_key_delete(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeleteApiKeyRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_key_delete,
                     .req = r->name,
                     .action = "api_key.delete",
                     .object = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__GovernanceChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

/* --- reads ------------------------------------------------------------------- */

static int tx_key_get(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    return key_out(c, t, t->req, KEY_OUT_KEY, e);
}

static grpc_status_code rpc_key_get(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                    ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetApiKeyRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who, .fn = tx_key_get, .req = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

static int tx_key_list(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const char *team = t->req;
    api_keys_key_t *rows = NULL;
    size_t n = 0;
    if (api_keys_list(c, team[0] ? team : NULL, &rows, &n, e) < 0)
        return -1;
    Llmgw__V1__ListApiKeysResponse *out = malloc(sizeof(*out));
    if (!out)
        goto oom;
    llmgw__v1__list_api_keys_response__init(out);
    t->out = &out->base;
    if (n && !(out->keys = calloc(n, sizeof(*out->keys))))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!(out->keys[i] = key_msg(&rows[i])))
            goto oom;
        out->n_keys = i + 1;
    }
    free(rows);
    return 0;
oom:
    free(rows);
    return store_fail(e, STORE_HARD, "api keys: out of memory");
}

static grpc_status_code rpc_key_list(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                     ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__ListApiKeysRequest *r = (void *)req;
    if (r->team[0] && cp_validate_name("team", r->team, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who, .fn = tx_key_list, .req = r->team};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

#define KEY(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.GovernanceService/" name, &llmgw__v1__##req##__descriptor, fn, CP_ACCESS_KEYS,  \
            NULL                                                                                   \
    }

cp_rpc_method_t cp_gov_key_methods[] = {
    KEY("CreateApiKey", create_api_key_request, rpc_key_create),
    KEY("GetApiKey", get_api_key_request, rpc_key_get),
    KEY("ListApiKeys", list_api_keys_request, rpc_key_list),
    KEY("UpdateApiKey", update_api_key_request, rpc_key_update),
    KEY("RevokeApiKey", revoke_api_key_request, rpc_key_revoke),
    KEY("RotateApiKey", rotate_api_key_request, rpc_key_rotate),
    KEY("DeleteApiKey", delete_api_key_request, rpc_key_delete),
};
const size_t cp_gov_n_key_methods = sizeof(cp_gov_key_methods) / sizeof(cp_gov_key_methods[0]);
