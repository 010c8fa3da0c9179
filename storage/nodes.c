/* nodes: SQL for dataplane_nodes. See nodes.h. */
#include "nodes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "store_msg.h"

const store_stmt_t nodes_stmts[] = {
    {"nodes_seen",
     "INSERT INTO dataplane_nodes (node_id, node_group) VALUES ($1, $2)"
     " ON CONFLICT (node_id) DO UPDATE SET node_group = $2, last_seen = now()",
     2},
    {"nodes_ack",
     "INSERT INTO dataplane_nodes (node_id, acked_version) VALUES ($1, $2::bigint)"
     " ON CONFLICT (node_id) DO UPDATE SET last_seen = now(),"
     " acked_version = greatest(dataplane_nodes.acked_version, $2::bigint)",
     2},
    {"nodes_nack",
     "INSERT INTO dataplane_nodes (node_id, nacked_version, last_nack_error)"
     " VALUES ($1, $2::bigint, $3) ON CONFLICT (node_id) DO UPDATE SET last_seen = now(),"
     " nacked_version = $2::bigint, last_nack_error = $3",
     3},
    {"nodes_list",
     "SELECT node_id, node_group, (extract(epoch FROM last_seen) * 1000)::bigint AS seen_ms,"
     " acked_version, nacked_version, last_nack_error,"
     " (SELECT coalesce(max(version), 0) FROM routing_table_versions) AS latest"
     " FROM dataplane_nodes ORDER BY node_id",
     0},
    {"nodes_latest", "SELECT coalesce(max(version), 0) FROM routing_table_versions", 0},
    {NULL, NULL, 0},
};

int nodes_seen(PGconn *c, const char *node_id, const char *group, store_err_t *e)
{
    const char *params[] = {node_id, group};
    PGresult *r = store_exec(c, "nodes_seen", 2, params, e);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int nodes_ack(PGconn *c, const char *node_id, int64_t version, bool ack, const char *error,
              store_err_t *e)
{
    char vs[24];
    snprintf(vs, sizeof(vs), "%" PRId64, version);
    const char *params[] = {node_id, vs, error};
    PGresult *r = store_exec(c, ack ? "nodes_ack" : "nodes_nack", ack ? 2 : 3, params, e);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int nodes_list(PGconn *c, Llmgw__V1__ListNodesResponse *out, store_err_t *e)
{
    PGresult *r = store_exec(c, "nodes_list", 0, NULL, e);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    if (n > 0 && !(out->nodes = calloc((size_t)n, sizeof(*out->nodes))))
        rc = store_fail(e, STORE_HARD, "nodes: out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        Llmgw__V1__Node *node = malloc(sizeof(*node));
        if (!node) {
            rc = store_fail(e, STORE_HARD, "nodes: out of memory");
            break;
        }
        llmgw__v1__node__init(node);
        out->nodes[out->n_nodes++] = node;
        node->last_seen_unix_ms = strtoll(store_get(r, i, "seen_ms"), NULL, 10);
        node->acked_version = strtoll(store_get(r, i, "acked_version"), NULL, 10);
        node->nacked_version = strtoll(store_get(r, i, "nacked_version"), NULL, 10);
        if (store_msg_str(&node->node_id, store_get(r, i, "node_id")) < 0 ||
            store_msg_str(&node->group, store_get(r, i, "node_group")) < 0 ||
            store_msg_str(&node->last_nack_error, store_get(r, i, "last_nack_error")) < 0)
            rc = store_fail(e, STORE_HARD, "nodes: out of memory");
    }
    if (rc == 0 && n > 0)
        out->latest_version = strtoll(store_get(r, 0, "latest"), NULL, 10);
    PQclear(r);
    if (rc == 0 && n == 0) {
        PGresult *l = store_exec(c, "nodes_latest", 0, NULL, e);
        if (!l)
            return -1;
        out->latest_version = strtoll(PQgetvalue(l, 0, 0), NULL, 10);
        PQclear(l);
    }
    return rc;
}
