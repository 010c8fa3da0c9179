/* audit: hash-chained audit rows. See audit.h. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secret.h"

const store_stmt_t audit_stmts[] = {
    {"audit_lock", "SELECT pg_advisory_xact_lock(1819045224)", 0},
    {"audit_last", "SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1", 0},
    {"audit_insert",
     "INSERT INTO audit_log (actor, action, object, detail, prev_hash, row_hash, actor_role, peer)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
     8},
    {"audit_all",
     "SELECT id, actor, actor_role, peer, action, object, detail, prev_hash, row_hash"
     " FROM audit_log ORDER BY id",
     0},
    {NULL, NULL, 0},
};

void audit_chain_hash(const char *prev_hex, const audit_actor_t *who, const char *action,
                      const char *object, const char *detail, char out[65])
{
    /* Length prefixes keep ("a","bc") and ("ab","c") apart. */
    buf_t b = BUF_INIT(1u << 24);
    const char *role = who->role ? who->role : "", *peer = who->peer ? who->peer : "";
    const char *parts[] = {prev_hex, who->name, action, object, detail, role, peer};
    size_t n = role[0] || peer[0] ? 7 : 5;
    int ok = 0;
    for (size_t i = 0; i < n && ok == 0; i++)
        ok = buf_printf(&b, "%zu:%s;", strlen(parts[i]), parts[i]);
    if (ok != 0)
        memset(out, 'x', 64); /* never equals a real digest */
    else
        secret_sha256_hex(b.data, b.len, out);
    out[64] = '\0';
    buf_free(&b);
}

int audit_append(PGconn *c, const audit_actor_t *who, const char *action, const char *object,
                 const char *detail, store_err_t *e)
{
    PGresult *r = store_exec(c, "audit_lock", 0, NULL, e);
    if (!r)
        return -1;
    PQclear(r);
    if (!(r = store_exec(c, "audit_last", 0, NULL, e)))
        return -1;
    char prev[65];
    snprintf(prev, sizeof(prev), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : AUDIT_GENESIS);
    PQclear(r);
    char hash[65];
    audit_chain_hash(prev, who, action, object, detail, hash);
    const char *params[] = {who->name, action, object, detail, prev, hash,
                            who->role ? who->role : "", who->peer ? who->peer : ""};
    if (!(r = store_exec(c, "audit_insert", 8, params, e)))
        return -1;
    PQclear(r);
    return 0;
}

int audit_verify(PGconn *c, store_err_t *e)
{
    PGresult *r = store_exec(c, "audit_all", 0, NULL, e);
    if (!r)
        return -1;
    char prev[65] = AUDIT_GENESIS;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        char hash[65];
        audit_actor_t who = {store_get(r, i, "actor"), store_get(r, i, "actor_role"),
                             store_get(r, i, "peer")};
        audit_chain_hash(prev, &who, store_get(r, i, "action"), store_get(r, i, "object"),
                         store_get(r, i, "detail"), hash);
        if (strcmp(store_get(r, i, "prev_hash"), prev) != 0 ||
            strcmp(store_get(r, i, "row_hash"), hash) != 0)
            rc = store_fail(e, STORE_INVALID, "audit_log: chain broken at id %s",
                            store_get(r, i, "id"));
        snprintf(prev, sizeof(prev), "%s", store_get(r, i, "row_hash"));
    }
    PQclear(r);
    return rc;
}
