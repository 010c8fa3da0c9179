/* api_keys: the keys clients present to data planes (table `api_keys`),
 * stored only as the SHA-256 of their secret.
 *
 * Invariants: the plaintext secret is taken by api_keys_insert and
 * api_keys_lookup only to be hashed — it never reaches SQL, a log line or the
 * audit log, and no read returns it (answers carry an 8-digit hash prefix).
 * Every change runs inside the caller's transaction and appends its audit row
 * there (create and rotate name the new secret by an 8-digit hash prefix;
 * an update shows the settings before and after). A revoked key keeps its
 * row; api_keys_lookup never matches it. After a rotation the previous
 * secret's hash is kept with the instant its grace ends (both or neither).
 * GovernanceService (cp_governance.c) calls this and publishes a
 * routing-table version in the same transaction.
 */
#ifndef LLMGW_API_KEYS_H
#define LLMGW_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "audit.h"
#include "store.h"

/* What a key may call (a bit set). */
enum {
    API_KEYS_SCOPE_CHAT = 1u << 0,      /* ChatService, /v1/chat/completions */
    API_KEYS_SCOPE_MODELS = 1u << 1,    /* model listings */
    API_KEYS_SCOPE_ENSEMBLES = 1u << 2, /* EnsembleService */
    API_KEYS_SCOPE_ROUTING = 1u << 3,   /* RoutingService */
};
#define API_KEYS_SCOPE_ALL 0xfu

#define API_KEYS_SECRET_MIN 16
#define API_KEYS_SECRET_MAX 256
#define API_KEYS_MINT_LEN 50 /* "llmgw-" + 43 base64url characters + NUL */
#define API_KEYS_RPM_MAX 10000000
#define API_KEYS_TPM_MAX 10000000000LL
#define API_KEYS_GRACE_MAX_MS 2592000000LL /* 30 days */

typedef struct {
    char name[72];            /* [A-Za-z0-9._-]{1,64} */
    char team[72];            /* "" when the key belongs to no team */
    unsigned scopes;          /* API_KEYS_SCOPE_* bits, at least one */
    int32_t requests_per_min; /* 0 unlimited */
    int64_t tokens_per_min;   /* 0 unlimited */
    int64_t expires_unix_ms;  /* 0 never */
    /* Output only. */
    char sha256_prefix[9];
    char previous_sha256_prefix[9];                            /* "" when no previous secret */
    int64_t previous_expires_unix_ms;                          /* 0 when no previous secret */
    int64_t created_unix_ms, updated_unix_ms, revoked_unix_ms; /* revoked 0: active */
} api_keys_key_t;

/* The scope bit of "chat", "models", "ensembles" or "routing"; 0 when unknown. */
unsigned api_keys_scope_parse(const char *name);
/* The name of scope i (0..3), NULL past the end. */
const char *api_keys_scope_name(size_t i);
/* A fresh secret: "llmgw-" and 32 random bytes in base64url. 0 or -1. */
int api_keys_mint(char out[API_KEYS_MINT_LEN], store_err_t *e);
/* Field checks before any SQL (secret may be NULL: not checked). */
int api_keys_validate(const api_keys_key_t *k, const char *secret, store_err_t *e);
/* Stores k with the hash of `secret`. STORE_CONFLICT for a taken name or a
 * secret already registered; STORE_INVALID "key.team: team 'x' does not
 * exist". Messages name fields "key.<field>". */
int api_keys_insert(PGconn *c, const audit_actor_t *who, const api_keys_key_t *k,
                    const char *secret, store_err_t *e);
/* Replaces team, scopes, limits and expiry of key k->name (never the
 * secret). STORE_NOT_FOUND when absent, STORE_IN_USE when revoked. */
int api_keys_update(PGconn *c, const audit_actor_t *who, const api_keys_key_t *k, store_err_t *e);
/* Replaces the secret of an active key with `secret`; with grace_ms > 0 the
 * old one stays valid until now + grace_ms, with 0 it stops at once (a
 * previous secret still in its grace is dropped either way).
 * STORE_NOT_FOUND when absent, STORE_IN_USE when revoked. */
int api_keys_rotate(PGconn *c, const audit_actor_t *who, const char *name, const char *secret,
                    int64_t grace_ms, store_err_t *e);
/* STORE_NOT_FOUND when absent, STORE_IN_USE when already revoked. */
int api_keys_revoke(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
/* Deletes the key and its budgets and policies. STORE_NOT_FOUND when absent. */
int api_keys_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
int api_keys_get(PGconn *c, const char *name, api_keys_key_t *out, store_err_t *e);
/* api_keys_get with the row locked until the transaction ends. */
int api_keys_get_locked(PGconn *c, const char *name, api_keys_key_t *out, store_err_t *e);
/* Keys by name (of `team` only unless NULL); *out malloc'd (free()). */
int api_keys_list(PGconn *c, const char *team, api_keys_key_t **out, size_t *n, store_err_t *e);
/* The active, unexpired key whose secret (or previous secret, within its
 * grace) this is; STORE_NOT_FOUND for an unknown, revoked or expired one. */
int api_keys_lookup(PGconn *c, const char *secret, api_keys_key_t *out, store_err_t *e);

#endif
