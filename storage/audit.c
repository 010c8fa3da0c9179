/* audit: hash-chained audit rows. See audit.h. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secret.h"

#define AUDIT_VERIFY_PAGE 5000
#define AUDIT_VERIFY_PAGE_S "5000"

const store_stmt_t audit_stmts[] = {
    {"audit_lock", "SELECT pg_advisory_xact_lock(1819045224)", 0},
    {"audit_last", "SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1", 0},
    {"audit_insert",
     "INSERT INTO audit_log (actor, action, object, detail, prev_hash, row_hash, actor_role, peer)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
     8},
    /* Pages keep a long log from landing in one result. */
    {"audit_page",
     "SELECT id, actor, actor_role, peer, action, object, detail, prev_hash, row_hash"
     " FROM audit_log WHERE id > $1 ORDER BY id LIMIT " AUDIT_VERIFY_PAGE_S,
     1},
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

/* The value of key (len klen) in a "k=v k=v" text, its length in *vlen; NULL when absent. */
static const char *audit_detail_value(const char *text, const char *key, size_t klen, size_t *vlen)
{
    for (const char *p = text; *p;) {
        size_t tlen = strcspn(p, " ");
        if (tlen > klen && p[klen] == '=' && strncmp(p, key, klen) == 0) {
            *vlen = tlen - klen - 1;
            return p + klen + 1;
        }
        p += tlen;
        p += strspn(p, " ");
    }
    return NULL;
}

void audit_detail_before(const char *after, const char *before, char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "%s", after);
    const char *sep = " before:";
    for (const char *p = before; *p && o < n;) {
        size_t tlen = strcspn(p, " "), klen = strcspn(p, "= "), vlen = 0;
        if (klen < tlen) {
            const char *v = audit_detail_value(after, p, klen, &vlen);
            if (!v || vlen != tlen - klen - 1 || strncmp(v, p + klen + 1, vlen) != 0) {
                o += (size_t)snprintf(out + o, n - o, "%s %.*s", sep, (int)tlen, p);
                sep = "";
            }
        }
        p += tlen;
        p += strspn(p, " ");
    }
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
    const char *params[] = {who->name,
                            action,
                            object,
                            detail,
                            prev,
                            hash,
                            who->role ? who->role : "",
                            who->peer ? who->peer : ""};
    if (!(r = store_exec(c, "audit_insert", 8, params, e)))
        return -1;
    PQclear(r);
    return 0;
}

int audit_verify_report(PGconn *c, audit_verify_t *out, store_err_t *e)
{
    char prev[65] = AUDIT_GENESIS, after[24] = "0";
    out->rows_checked = 0;
    out->first_bad_id = 0;
    for (;;) {
        const char *params[] = {after};
        PGresult *r = store_exec(c, "audit_page", 1, params, e);
        if (!r)
            return -1;
        int n = PQntuples(r);
        for (int i = 0; i < n && out->first_bad_id == 0; i++) {
            char hash[65];
            audit_actor_t who = {store_get(r, i, "actor"), store_get(r, i, "actor_role"),
                                 store_get(r, i, "peer")};
            audit_chain_hash(prev, &who, store_get(r, i, "action"), store_get(r, i, "object"),
                             store_get(r, i, "detail"), hash);
            out->rows_checked++;
            if (strcmp(store_get(r, i, "prev_hash"), prev) != 0 ||
                strcmp(store_get(r, i, "row_hash"), hash) != 0)
                out->first_bad_id = strtoll(store_get(r, i, "id"), NULL, 10);
            snprintf(prev, sizeof(prev), "%s", store_get(r, i, "row_hash"));
        }
        if (n > 0)
            snprintf(after, sizeof(after), "%s", store_get(r, n - 1, "id"));
        PQclear(r);
        if (out->first_bad_id != 0 || n < AUDIT_VERIFY_PAGE)
            return 0;
    }
}

int audit_verify(PGconn *c, store_err_t *e)
{
    audit_verify_t v;
    if (audit_verify_report(c, &v, e) < 0)
        return -1;
    if (v.first_bad_id != 0)
        return store_fail(e, STORE_INVALID, "audit_log: chain broken at id %lld",
                          (long long)v.first_bad_id);
    return 0;
}
