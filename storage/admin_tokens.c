/* admin_tokens: SQL for admin_tokens. See admin_tokens.h. */
#include "admin_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "store_msg.h"

#define ADMIN_TOKENS_COLUMNS                                                                       \
    "name, role, left(encode(sha256, 'hex'), 8) AS sha256_prefix,"                                 \
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"                              \
    " coalesce((extract(epoch FROM last_used_at) * 1000)::bigint, 0) AS used_ms,"                  \
    " coalesce((extract(epoch FROM revoked_at) * 1000)::bigint, 0) AS revoked_ms"

const store_stmt_t admin_tokens_stmts[] = {
    {"admin_tokens_lock", "SELECT pg_advisory_xact_lock(1819045226)", 0},
    {"admin_tokens_count", "SELECT count(*) FROM admin_tokens", 0},
    {"admin_tokens_count_active", "SELECT count(*) FROM admin_tokens WHERE revoked_at IS NULL", 0},
    {"admin_tokens_insert",
     "INSERT INTO admin_tokens (name, sha256, role) VALUES ($1, decode($2, 'hex'), $3)", 3},
    {"admin_tokens_state",
     "SELECT revoked_at IS NOT NULL AS revoked FROM admin_tokens WHERE name = $1", 1},
    {"admin_tokens_revoke",
     "UPDATE admin_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", 1},
    {"admin_tokens_get", "SELECT " ADMIN_TOKENS_COLUMNS " FROM admin_tokens WHERE name = $1", 1},
    {"admin_tokens_list", "SELECT " ADMIN_TOKENS_COLUMNS " FROM admin_tokens ORDER BY name", 0},
    {"admin_tokens_active",
     "SELECT encode(sha256, 'hex') AS sha256_hex, name, role FROM admin_tokens"
     " WHERE revoked_at IS NULL",
     0},
    {"admin_tokens_touch",
     "UPDATE admin_tokens SET last_used_at = now() WHERE sha256 = decode($1, 'hex')", 1},
    {"admin_tokens_notify", "SELECT pg_notify('" ADMIN_TOKENS_CHANNEL "', '')", 0},
    {NULL, NULL, 0},
};

void admin_tokens_hash(const char *token, unsigned char sha256[ADMIN_TOKENS_SHA256_LEN],
                       char hex[2 * ADMIN_TOKENS_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    SHA256((const unsigned char *)token, strlen(token), sha256);
    if (!hex)
        return;
    for (int i = 0; i < ADMIN_TOKENS_SHA256_LEN; i++) {
        hex[2 * i] = digits[sha256[i] >> 4];
        hex[2 * i + 1] = digits[sha256[i] & 15];
    }
    hex[2 * ADMIN_TOKENS_SHA256_LEN] = '\0';
}

/* Runs a statement whose result is not needed. */
static int admin_tokens_run(PGconn *c, const char *stmt, int n, const char *const *params,
                            store_err_t *e)
{
    PGresult *r = store_exec(c, stmt, n, params, e);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int admin_tokens_lock(PGconn *c, store_err_t *e)
{
    return admin_tokens_run(c, "admin_tokens_lock", 0, NULL, e);
}

int admin_tokens_notify(PGconn *c, store_err_t *e)
{
    return admin_tokens_run(c, "admin_tokens_notify", 0, NULL, e);
}

int admin_tokens_touch(PGconn *c, const char *sha256_hex, store_err_t *e)
{
    const char *params[] = {sha256_hex};
    return admin_tokens_run(c, "admin_tokens_touch", 1, params, e);
}

int admin_tokens_count(PGconn *c, bool active_only, int64_t *n, store_err_t *e)
{
    PGresult *r =
        store_exec(c, active_only ? "admin_tokens_count_active" : "admin_tokens_count", 0, NULL, e);
    if (!r)
        return -1;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int admin_tokens_insert(PGconn *c, const char *name, const char *sha256_hex, const char *role,
                        store_err_t *e)
{
    const char *params[] = {name, sha256_hex, role};
    if (admin_tokens_run(c, "admin_tokens_insert", 3, params, e) == 0)
        return 0;
    if (e->code == STORE_CONFLICT) {
        if (strstr(e->msg, "admin_tokens_name_key"))
            return store_fail(e, STORE_CONFLICT, "admin_token.name: '%s' already exists", name);
        return store_fail(e, STORE_CONFLICT, "admin_token: this token is already registered");
    }
    return -1;
}

int admin_tokens_revoke(PGconn *c, const char *name, store_err_t *e)
{
    char what[128];
    snprintf(what, sizeof(what), "admin token '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "admin_tokens_state", 1, params, what, e);
    if (!r)
        return -1;
    bool revoked = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (revoked)
        return store_fail(e, STORE_IN_USE, "%s: already revoked", what);
    int64_t active = 0;
    if (admin_tokens_count(c, true, &active, e) < 0)
        return -1;
    if (active <= 1)
        return store_fail(e, STORE_IN_USE,
                          "%s: the last active token cannot be revoked (create another first)",
                          what);
    return admin_tokens_run(c, "admin_tokens_revoke", 1, params, e);
}

/* Row i of an ADMIN_TOKENS_COLUMNS result as a message; NULL when out of
 * memory. */
static Llmgw__V1__AdminToken *admin_tokens_row(const PGresult *r, int i)
{
    Llmgw__V1__AdminToken *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    llmgw__v1__admin_token__init(t);
    t->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    t->last_used_unix_ms = strtoll(store_get(r, i, "used_ms"), NULL, 10);
    t->revoked_unix_ms = strtoll(store_get(r, i, "revoked_ms"), NULL, 10);
    if (store_msg_str(&t->name, store_get(r, i, "name")) < 0 ||
        store_msg_str(&t->role, store_get(r, i, "role")) < 0 ||
        store_msg_str(&t->sha256_prefix, store_get(r, i, "sha256_prefix")) < 0) {
        protobuf_c_message_free_unpacked(&t->base, NULL);
        return NULL;
    }
    return t;
}

Llmgw__V1__AdminToken *admin_tokens_get(PGconn *c, const char *name, store_err_t *e)
{
    char what[128];
    snprintf(what, sizeof(what), "admin token '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "admin_tokens_get", 1, params, what, e);
    if (!r)
        return NULL;
    Llmgw__V1__AdminToken *t = admin_tokens_row(r, 0);
    PQclear(r);
    if (!t)
        store_fail(e, STORE_HARD, "admin tokens: out of memory");
    return t;
}

int admin_tokens_list(PGconn *c, Llmgw__V1__ListAdminTokensResponse *out, store_err_t *e)
{
    PGresult *r = store_exec(c, "admin_tokens_list", 0, NULL, e);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    if (n > 0 && !(out->tokens = calloc((size_t)n, sizeof(*out->tokens))))
        rc = store_fail(e, STORE_HARD, "admin tokens: out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        if (!(out->tokens[out->n_tokens] = admin_tokens_row(r, i)))
            rc = store_fail(e, STORE_HARD, "admin tokens: out of memory");
        else
            out->n_tokens++;
    }
    PQclear(r);
    return rc;
}

static int admin_tokens_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int admin_tokens_active(PGconn *c, admin_tokens_row_t **rows, size_t *n, store_err_t *e)
{
    *rows = NULL;
    *n = 0;
    PGresult *r = store_exec(c, "admin_tokens_active", 0, NULL, e);
    if (!r)
        return -1;
    int count = PQntuples(r), rc = 0;
    admin_tokens_row_t *out = calloc(count > 0 ? (size_t)count : 1, sizeof(*out));
    if (!out)
        rc = store_fail(e, STORE_HARD, "admin tokens: out of memory");
    for (int i = 0; i < count && rc == 0; i++) {
        const char *hex = store_get(r, i, "sha256_hex");
        if (strlen(hex) != 2 * ADMIN_TOKENS_SHA256_LEN) {
            rc = store_fail(e, STORE_HARD, "admin_tokens.sha256: expected 32 bytes");
            break;
        }
        for (int k = 0; k < ADMIN_TOKENS_SHA256_LEN; k++) {
            int hi = admin_tokens_hexval(hex[2 * k]), lo = admin_tokens_hexval(hex[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                rc = store_fail(e, STORE_HARD, "admin_tokens.sha256: not hex");
                break;
            }
            out[i].sha256[k] = (unsigned char)(hi << 4 | lo);
        }
        snprintf(out[i].name, sizeof(out[i].name), "%s", store_get(r, i, "name"));
        snprintf(out[i].role, sizeof(out[i].role), "%s", store_get(r, i, "role"));
    }
    PQclear(r);
    if (rc < 0) {
        free(out);
        return -1;
    }
    *rows = out;
    *n = (size_t)count;
    return 0;
}
