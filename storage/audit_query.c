/* audit_query: filtered pages of audit_log. See audit_query.h. */
#include "audit_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_msg.h"

#define AUDIT_QUERY_COLUMNS                                                                        \
    "SELECT id, floor(extract(epoch FROM at) * 1000)::bigint AS at_ms, actor, actor_role, peer,"   \
    " action, object, detail, prev_hash, row_hash FROM audit_log"
/* $1 since ms, $2 until ms (0: none), $3 actor, $4 action, $5 action family,
 * $6 object patterns ('': none), $7 the page's id bound, $8 the row limit. */
#define AUDIT_QUERY_WHERE                                                                          \
    " WHERE ($1::bigint = 0 OR at >= timestamptz 'epoch' + $1::bigint * interval '1 millisecond')" \
    " AND ($2::bigint = 0 OR at < timestamptz 'epoch' + $2::bigint * interval '1 millisecond')"    \
    " AND ($3::text = '' OR actor LIKE $3)"                                                        \
    " AND ($4::text = '' OR action LIKE $4 OR ($5::text <> '' AND action LIKE $5))"                \
    " AND ($6::text = '' OR object LIKE $6)"

const store_stmt_t audit_query_stmts[] = {
    {"audit_query_list",
     AUDIT_QUERY_COLUMNS AUDIT_QUERY_WHERE
     " AND ($7::bigint = 0 OR id < $7) ORDER BY id DESC LIMIT $8",
     8},
    {"audit_query_export",
     AUDIT_QUERY_COLUMNS AUDIT_QUERY_WHERE " AND id > $7 ORDER BY id LIMIT $8", 8},
    {NULL, NULL, 0},
};

int audit_query_pattern(const char *value, bool family, char *out, size_t outlen)
{
    size_t n = strlen(value), o = 0;
    bool prefix = n > 0 && value[n - 1] == '*';
    if (outlen < 2 * n + 3)
        return -1;
    if (n == 0 || (family && prefix)) {
        out[0] = '\0';
        return 0;
    }
    if (prefix)
        n--;
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '%' || value[i] == '_' || value[i] == '\\')
            out[o++] = '\\';
        out[o++] = value[i];
    }
    if (family)
        out[o++] = '.';
    if (prefix || family)
        out[o++] = '%';
    out[o] = '\0';
    return 0;
}

static Llmgw__V1__AuditRow *audit_query_row(const PGresult *r, int i, bool with_prev)
{
    Llmgw__V1__AuditRow *row = malloc(sizeof(*row));
    if (!row)
        return NULL;
    llmgw__v1__audit_row__init(row);
    row->id = strtoll(store_get(r, i, "id"), NULL, 10);
    row->at_unix_ms = strtoll(store_get(r, i, "at_ms"), NULL, 10);
    if (store_msg_str(&row->actor, store_get(r, i, "actor")) < 0 ||
        store_msg_str(&row->actor_role, store_get(r, i, "actor_role")) < 0 ||
        store_msg_str(&row->peer, store_get(r, i, "peer")) < 0 ||
        store_msg_str(&row->action, store_get(r, i, "action")) < 0 ||
        store_msg_str(&row->object, store_get(r, i, "object")) < 0 ||
        store_msg_str(&row->detail, store_get(r, i, "detail")) < 0 ||
        (with_prev && store_msg_str(&row->prev_hash, store_get(r, i, "prev_hash")) < 0) ||
        store_msg_str(&row->row_hash, store_get(r, i, "row_hash")) < 0) {
        protobuf_c_message_free_unpacked(&row->base, NULL);
        return NULL;
    }
    return row;
}

/* Runs stmt for one page; fills *rows / *n_rows and *next (the last row's
 * id when a row beyond the page exists, else 0). */
static int audit_query_page(PGconn *c, const char *stmt, const Llmgw__V1__AuditFilter *f,
                            int64_t bound, int limit, bool with_prev, Llmgw__V1__AuditRow ***rows,
                            size_t *n_rows, int64_t *next, store_err_t *e)
{
    static const Llmgw__V1__AuditFilter none = LLMGW__V1__AUDIT_FILTER__INIT;
    char since[24], until[24], bounds[24], lim[16];
    char actor[2 * AUDIT_QUERY_MAX_VALUE + 3], action[2 * AUDIT_QUERY_MAX_VALUE + 3],
        family[2 * AUDIT_QUERY_MAX_VALUE + 3], object[2 * AUDIT_QUERY_MAX_VALUE + 3];
    if (!f)
        f = &none;
    if (audit_query_pattern(f->actor, false, actor, sizeof(actor)) < 0 ||
        audit_query_pattern(f->action, false, action, sizeof(action)) < 0 ||
        audit_query_pattern(f->action, true, family, sizeof(family)) < 0 ||
        audit_query_pattern(f->object, false, object, sizeof(object)) < 0)
        return store_fail(e, STORE_INVALID, "audit filter: a value is longer than %d bytes",
                          AUDIT_QUERY_MAX_VALUE);
    snprintf(since, sizeof(since), "%" PRId64, f->since_unix_ms);
    snprintf(until, sizeof(until), "%" PRId64, f->until_unix_ms);
    snprintf(bounds, sizeof(bounds), "%" PRId64, bound);
    snprintf(lim, sizeof(lim), "%d", limit + 1); /* one more tells whether a next page exists */
    const char *params[] = {since, until, actor, action, family, object, bounds, lim};
    PGresult *r = store_exec(c, stmt, 8, params, e);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    int take = n > limit ? limit : n;
    *next = 0;
    if (take > 0 && !(*rows = calloc((size_t)take, sizeof(**rows))))
        rc = store_fail(e, STORE_HARD, "audit log: out of memory");
    for (int i = 0; i < take && rc == 0; i++) {
        if (!((*rows)[*n_rows] = audit_query_row(r, i, with_prev)))
            rc = store_fail(e, STORE_HARD, "audit log: out of memory");
        else
            (*n_rows)++;
    }
    if (rc == 0 && n > limit)
        *next = (*rows)[take - 1]->id;
    PQclear(r);
    return rc;
}

int audit_query_list(PGconn *c, const Llmgw__V1__AuditFilter *f, int64_t before_id, int limit,
                     Llmgw__V1__ListAuditResponse *out, store_err_t *e)
{
    return audit_query_page(c, "audit_query_list", f, before_id, limit, false, &out->rows,
                            &out->n_rows, &out->next_before_id, e);
}

int audit_query_export(PGconn *c, const Llmgw__V1__AuditFilter *f, int64_t after_id, int limit,
                       Llmgw__V1__ExportAuditResponse *out, store_err_t *e)
{
    return audit_query_page(c, "audit_query_export", f, after_id, limit, true, &out->rows,
                            &out->n_rows, &out->next_after_id, e);
}
