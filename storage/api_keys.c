/* api_keys: SQL for the api_keys aggregate. See api_keys.h.
 *
 * Times cross as Unix milliseconds (0 = none) and become timestamptz in SQL.
 * Scopes are a bit set in C and a text[] in SQL (so compliance queries read
 * names); they cross as a JSON array parameter.
 */
#include "api_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "audit.h"
#include "secret.h"
#include "store_explain.h"
#include "store_list.h"

#define API_KEYS_COLUMNS                                                                           \
    "name, coalesce(team, '') AS team, array_to_json(scopes)::text AS scopes,"                     \
    " requests_per_min, tokens_per_min, left(encode(sha256, 'hex'), 8) AS sha256_prefix,"          \
    " coalesce((extract(epoch FROM expires_at) * 1000)::bigint, 0) AS expires_ms,"                 \
    " coalesce(left(encode(previous_sha256, 'hex'), 8), '') AS previous_sha256_prefix,"            \
    " coalesce((extract(epoch FROM previous_expires_at) * 1000)::bigint, 0) AS previous_ms,"       \
    " (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms,"                              \
    " coalesce((extract(epoch FROM revoked_at) * 1000)::bigint, 0) AS revoked_ms"

/* Times arrive as Unix ms ($n, 0 = none):
 * CASE WHEN $n::bigint > 0 THEN to_timestamp($n::bigint / 1000.0) END. */
const store_stmt_t api_keys_stmts[] = {
    {"api_keys_insert",
     "INSERT INTO api_keys (name, team, sha256, scopes, requests_per_min, tokens_per_min,"
     " expires_at) VALUES ($1, $2, decode($3, 'hex'),"
     " ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::int, $6::bigint,"
     " CASE WHEN $7::bigint > 0 THEN to_timestamp($7::bigint / 1000.0) END)",
     7},
    {"api_keys_update",
     "UPDATE api_keys SET team = $2, scopes = ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
     " requests_per_min = $4::int, tokens_per_min = $5::bigint,"
     " expires_at = CASE WHEN $6::bigint > 0 THEN to_timestamp($6::bigint / 1000.0) END,"
     " updated_at = now() WHERE name = $1",
     6},
    {"api_keys_rotate",
     "UPDATE api_keys SET previous_sha256 = CASE WHEN $3::bigint > 0 THEN sha256 END,"
     " previous_expires_at = CASE WHEN $3::bigint > 0"
     " THEN now() + $3::bigint * interval '1 millisecond' END,"
     " sha256 = decode($2, 'hex'), updated_at = now() WHERE name = $1 AND revoked_at IS NULL",
     3},
    {"api_keys_revoked", "SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE name = $1",
     1},
    {"api_keys_revoke",
     "UPDATE api_keys SET revoked_at = now(), updated_at = now()"
     " WHERE name = $1 AND revoked_at IS NULL",
     1},
    {"api_keys_delete", "DELETE FROM api_keys WHERE name = $1", 1},
    {"api_keys_get", "SELECT " API_KEYS_COLUMNS " FROM api_keys WHERE name = $1", 1},
    {"api_keys_get_locked", "SELECT " API_KEYS_COLUMNS " FROM api_keys WHERE name = $1 FOR UPDATE",
     1},
    {"api_keys_list", "SELECT " API_KEYS_COLUMNS " FROM api_keys ORDER BY name", 0},
    {"api_keys_list_team",
     "SELECT " API_KEYS_COLUMNS " FROM api_keys WHERE team = $1 ORDER BY name", 1},
    {"api_keys_lookup",
     "SELECT " API_KEYS_COLUMNS " FROM api_keys WHERE (sha256 = decode($1, 'hex')"
     " OR (previous_sha256 = decode($1, 'hex') AND previous_expires_at > now()))"
     " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
     1},
    {NULL, NULL, 0},
};

static const char *const api_keys_scope_names[] = {"chat", "models", "ensembles", "routing"};
#define API_KEYS_N_SCOPES (sizeof(api_keys_scope_names) / sizeof(api_keys_scope_names[0]))

static const store_explain_t api_keys_write_map[] = {
    {"api_keys_pkey", STORE_CONFLICT, "key.name", "'%s' already exists"},
    {"api_keys_sha256_key", STORE_CONFLICT, "key.secret", "already registered to another key"},
    {"api_keys_team_fkey", STORE_INVALID, "key.team", "team '%s' does not exist"},
    {"api_keys_scopes_check", STORE_INVALID, "key.scopes",
     "expected chat, models, ensembles or routing"},
    {"api_keys_requests_per_min_check", STORE_INVALID, "key.requests_per_min",
     "expected an integer >= 0"},
    {"api_keys_tokens_per_min_check", STORE_INVALID, "key.tokens_per_min",
     "expected an integer >= 0"},
    {"api_keys_limits_range", STORE_INVALID, "key.requests_per_min",
     "out of range (requests_per_min <= 10000000, tokens_per_min <= 10000000000)"},
    {"api_keys_name_check", STORE_INVALID, "key.name",
     "'%s' is not 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    {NULL, STORE_OK, NULL, NULL},
};

const char *api_keys_scope_name(size_t i)
{
    return i < API_KEYS_N_SCOPES ? api_keys_scope_names[i] : NULL;
}

unsigned api_keys_scope_parse(const char *name)
{
    for (size_t i = 0; i < API_KEYS_N_SCOPES; i++)
        if (strcmp(name, api_keys_scope_names[i]) == 0)
            return 1u << i;
    return 0;
}

int api_keys_mint(char out[API_KEYS_MINT_LEN], store_err_t *e)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33]; /* 32 random bytes, a zero pad for the last group */
    if (RAND_bytes(raw, 32) != 1)
        return store_fail(e, STORE_HARD, "api_key: no random bytes from OpenSSL");
    raw[32] = 0;
    size_t o = (size_t)snprintf(out, API_KEYS_MINT_LEN, "llmgw-");
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 18; k >= 0 && o < API_KEYS_MINT_LEN - 1; k -= 6)
            out[o++] = b64url[(v >> k) & 63];
    }
    out[o] = '\0';
    memset(raw, 0, sizeof(raw));
    return 0;
}

static bool api_keys_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int api_keys_validate(const api_keys_key_t *k, const char *secret, store_err_t *e)
{
    if (!api_keys_name_ok(k->name))
        return store_fail(e, STORE_INVALID,
                          "key.name: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
    if (k->team[0] && !api_keys_name_ok(k->team))
        return store_fail(e, STORE_INVALID,
                          "key.team: expected 1 to 64 characters from A-Z a-z 0-9 . _ -");
    if (k->scopes == 0 || (k->scopes & ~API_KEYS_SCOPE_ALL))
        return store_fail(e, STORE_INVALID,
                          "key.scopes: expected one or more of chat, models, ensembles, "
                          "routing");
    if (k->requests_per_min < 0)
        return store_fail(e, STORE_INVALID, "key.requests_per_min: expected an integer >= 0");
    if (k->requests_per_min > API_KEYS_RPM_MAX)
        return store_fail(e, STORE_INVALID, "key.requests_per_min: expected 0 to %d",
                          API_KEYS_RPM_MAX);
    if (k->tokens_per_min < 0)
        return store_fail(e, STORE_INVALID, "key.tokens_per_min: expected an integer >= 0");
    if (k->tokens_per_min > API_KEYS_TPM_MAX)
        return store_fail(e, STORE_INVALID, "key.tokens_per_min: expected 0 to %lld",
                          API_KEYS_TPM_MAX);
    if (k->expires_unix_ms < 0)
        return store_fail(e, STORE_INVALID,
                          "key.expires_unix_ms: expected Unix milliseconds > 0 (0: never)");
    if (secret) {
        size_t n = strlen(secret);
        if (n < API_KEYS_SECRET_MIN || n > API_KEYS_SECRET_MAX)
            return store_fail(e, STORE_INVALID, "key.secret: expected %d to %d bytes",
                              API_KEYS_SECRET_MIN, API_KEYS_SECRET_MAX);
    }
    return 0;
}

/* The scopes as a JSON array (malloc'd) or NULL. */
static char *api_keys_scopes_json(unsigned scopes)
{
    char *items[API_KEYS_N_SCOPES];
    store_list_t l = {items, 0};
    for (size_t i = 0; i < API_KEYS_N_SCOPES; i++)
        if (scopes & (1u << i))
            items[l.n++] = (char *)api_keys_scope_names[i];
    return store_list_to_json(&l);
}

/* The settings as the audit log shows them (never the secret). */
static void api_keys_describe(const api_keys_key_t *k, const char *scopes, char *out, size_t n)
{
    snprintf(out, n,
             "team=%s scopes=%s requests_per_min=%d tokens_per_min=%lld expires_unix_ms=%lld",
             k->team, scopes, k->requests_per_min, (long long)k->tokens_per_min,
             (long long)k->expires_unix_ms);
}

/* Insert (secret_hex set) or update; then the audit row. */
static int api_keys_write(PGconn *c, const audit_actor_t *who, const api_keys_key_t *k,
                          const char *secret_hex, store_err_t *e)
{
    int rc = -1;
    char rpm[16], tpm[24], exp[24], object[96], after[320], detail[720];
    char *scopes = api_keys_scopes_json(k->scopes), *was_scopes = NULL;
    PGresult *r = NULL;
    if (!scopes) {
        store_fail(e, STORE_HARD, "key.scopes: out of memory");
        goto out;
    }
    api_keys_describe(k, scopes, after, sizeof(after));
    if (secret_hex) {
        /* The new secret is named by its hash prefix only. */
        snprintf(detail, sizeof(detail), "%s sha256_prefix=%.8s", after, secret_hex);
    } else {
        api_keys_key_t before;
        char was[320];
        if (api_keys_get_locked(c, k->name, &before, e) < 0)
            goto out;
        if (before.revoked_unix_ms > 0) {
            store_fail(e, STORE_IN_USE, "api key '%s': revoked", k->name);
            goto out;
        }
        if (!(was_scopes = api_keys_scopes_json(before.scopes))) {
            store_fail(e, STORE_HARD, "key.scopes: out of memory");
            goto out;
        }
        api_keys_describe(&before, was_scopes, was, sizeof(was));
        snprintf(detail, sizeof(detail), "before: %s; after: %s", was, after);
    }
    snprintf(rpm, sizeof(rpm), "%d", k->requests_per_min);
    snprintf(tpm, sizeof(tpm), "%lld", (long long)k->tokens_per_min);
    snprintf(exp, sizeof(exp), "%lld", (long long)k->expires_unix_ms);
    const char *team = k->team[0] ? k->team : NULL;
    if (secret_hex) {
        const char *params[] = {k->name, team, secret_hex, scopes, rpm, tpm, exp};
        r = store_exec(c, "api_keys_insert", 7, params, e);
    } else {
        const char *params[] = {k->name, team, scopes, rpm, tpm, exp};
        r = store_exec(c, "api_keys_update", 6, params, e);
    }
    if (!r) {
        store_explain(e, api_keys_write_map,
                      e->msg[0] && strstr(e->msg, "api_keys_team_fkey") ? k->team : k->name);
        goto out;
    }
    if (!secret_hex && strcmp(PQcmdTuples(r), "0") == 0) {
        store_fail(e, STORE_NOT_FOUND, "api key '%s': not found", k->name);
        goto out;
    }
    snprintf(object, sizeof(object), "api_key/%s", k->name);
    rc = audit_append(c, who, secret_hex ? "api_key.create" : "api_key.update", object, detail, e);
out:
    PQclear(r);
    free(scopes);
    free(was_scopes);
    return rc;
}

int api_keys_insert(PGconn *c, const audit_actor_t *who, const api_keys_key_t *k,
                    const char *secret, store_err_t *e)
{
    if (!secret)
        return store_fail(e, STORE_INVALID, "key.secret: required");
    if (api_keys_validate(k, secret, e) < 0)
        return -1;
    char hex[65];
    secret_sha256_hex(secret, strlen(secret), hex);
    return api_keys_write(c, who, k, hex, e);
}

int api_keys_update(PGconn *c, const audit_actor_t *who, const api_keys_key_t *k, store_err_t *e)
{
    if (api_keys_validate(k, NULL, e) < 0)
        return -1;
    return api_keys_write(c, who, k, NULL, e);
}

int api_keys_rotate(PGconn *c, const audit_actor_t *who, const char *name, const char *secret,
                    int64_t grace_ms, store_err_t *e)
{
    api_keys_key_t before;
    char hex[65], grace[24], object[96], detail[160];
    size_t n = secret ? strlen(secret) : 0;
    if (n < API_KEYS_SECRET_MIN || n > API_KEYS_SECRET_MAX)
        return store_fail(e, STORE_INVALID, "key.secret: expected %d to %d bytes",
                          API_KEYS_SECRET_MIN, API_KEYS_SECRET_MAX);
    if (grace_ms < 0 || grace_ms > API_KEYS_GRACE_MAX_MS)
        return store_fail(e, STORE_INVALID, "grace_ms: expected 0 to %lld (30 days)",
                          API_KEYS_GRACE_MAX_MS);
    if (api_keys_get_locked(c, name, &before, e) < 0)
        return -1;
    if (before.revoked_unix_ms > 0)
        return store_fail(e, STORE_IN_USE, "api key '%s': revoked", name);
    secret_sha256_hex(secret, n, hex);
    snprintf(grace, sizeof(grace), "%lld", (long long)grace_ms);
    const char *params[] = {name, hex, grace};
    PGresult *r = store_exec(c, "api_keys_rotate", 3, params, e);
    if (!r)
        return store_explain(e, api_keys_write_map, name);
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "api key '%s': not found", name);
    snprintf(object, sizeof(object), "api_key/%s", name);
    snprintf(detail, sizeof(detail), "sha256_prefix=%.8s previous_sha256_prefix=%s grace_ms=%lld",
             hex, grace_ms > 0 ? before.sha256_prefix : "", (long long)grace_ms);
    return audit_append(c, who, "api_key.rotate", object, detail, e);
}

int api_keys_revoke(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e)
{
    char what[96], object[96];
    snprintf(what, sizeof(what), "api key '%s'", name);
    snprintf(object, sizeof(object), "api_key/%s", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, "api_keys_revoked", 1, params, what, e);
    if (!r)
        return -1;
    bool revoked = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (revoked)
        return store_fail(e, STORE_IN_USE, "%s: already revoked", what);
    if (!(r = store_exec(c, "api_keys_revoke", 1, params, e)))
        return -1;
    PQclear(r);
    return audit_append(c, who, "api_key.revoke", object, "", e);
}

int api_keys_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e)
{
    char object[96];
    snprintf(object, sizeof(object), "api_key/%s", name);
    const char *params[] = {name};
    PGresult *r = store_exec(c, "api_keys_delete", 1, params, e);
    if (!r)
        return -1;
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none)
        return store_fail(e, STORE_NOT_FOUND, "api key '%s': not found", name);
    return audit_append(c, who, "api_key.delete", object, "", e);
}

static int api_keys_from_row(const PGresult *r, int i, api_keys_key_t *k, store_err_t *e)
{
    store_list_t scopes;
    memset(k, 0, sizeof(*k));
    snprintf(k->name, sizeof(k->name), "%s", store_get(r, i, "name"));
    snprintf(k->team, sizeof(k->team), "%s", store_get(r, i, "team"));
    snprintf(k->sha256_prefix, sizeof(k->sha256_prefix), "%s", store_get(r, i, "sha256_prefix"));
    k->requests_per_min = (int32_t)strtol(store_get(r, i, "requests_per_min"), NULL, 10);
    k->tokens_per_min = strtoll(store_get(r, i, "tokens_per_min"), NULL, 10);
    k->expires_unix_ms = strtoll(store_get(r, i, "expires_ms"), NULL, 10);
    snprintf(k->previous_sha256_prefix, sizeof(k->previous_sha256_prefix), "%s",
             store_get(r, i, "previous_sha256_prefix"));
    k->previous_expires_unix_ms = strtoll(store_get(r, i, "previous_ms"), NULL, 10);
    k->created_unix_ms = strtoll(store_get(r, i, "created_ms"), NULL, 10);
    k->updated_unix_ms = strtoll(store_get(r, i, "updated_ms"), NULL, 10);
    k->revoked_unix_ms = strtoll(store_get(r, i, "revoked_ms"), NULL, 10);
    if (store_list_from_json(&scopes, store_get(r, i, "scopes")) < 0)
        return store_fail(e, STORE_HARD, "api key '%s': scopes unreadable", k->name);
    for (size_t j = 0; j < scopes.n; j++)
        k->scopes |= api_keys_scope_parse(scopes.items[j]);
    store_list_free(&scopes);
    return 0;
}

static int api_keys_get_one(PGconn *c, const char *stmt, const char *name, api_keys_key_t *out,
                            store_err_t *e)
{
    char what[96];
    snprintf(what, sizeof(what), "api key '%s'", name);
    const char *params[] = {name};
    PGresult *r = store_exec_one(c, stmt, 1, params, what, e);
    if (!r)
        return -1;
    int rc = api_keys_from_row(r, 0, out, e);
    PQclear(r);
    return rc;
}

int api_keys_get(PGconn *c, const char *name, api_keys_key_t *out, store_err_t *e)
{
    return api_keys_get_one(c, "api_keys_get", name, out, e);
}

int api_keys_get_locked(PGconn *c, const char *name, api_keys_key_t *out, store_err_t *e)
{
    return api_keys_get_one(c, "api_keys_get_locked", name, out, e);
}

int api_keys_lookup(PGconn *c, const char *secret, api_keys_key_t *out, store_err_t *e)
{
    char hex[65];
    secret_sha256_hex(secret, strlen(secret), hex);
    const char *params[] = {hex};
    PGresult *r = store_exec_one(c, "api_keys_lookup", 1, params, "api key", e);
    if (!r)
        return -1;
    int rc = api_keys_from_row(r, 0, out, e);
    PQclear(r);
    return rc;
}

int api_keys_list(PGconn *c, const char *team, api_keys_key_t **out, size_t *n, store_err_t *e)
{
    *out = NULL;
    *n = 0;
    const char *params[] = {team};
    PGresult *r = team ? store_exec(c, "api_keys_list_team", 1, params, e)
                       : store_exec(c, "api_keys_list", 0, NULL, e);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = 0;
    api_keys_key_t *ks = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*ks));
    if (!ks)
        rc = store_fail(e, STORE_HARD, "api keys: out of memory");
    for (int i = 0; i < rows && rc == 0; i++)
        rc = api_keys_from_row(r, i, &ks[i], e);
    PQclear(r);
    if (rc < 0) {
        free(ks);
        return -1;
    }
    *out = ks;
    *n = (size_t)rows;
    return 0;
}
