/* cp_rpc: unary call plumbing. See cp_rpc.h.
 *
 * A token the authorization cache does not know yet goes to the worker with
 * the request, which looks it up again after a reload before running the
 * body: the completion-queue thread never waits on PostgreSQL. */
#include "cp_rpc.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_tx.h"

typedef struct {
    const cp_rpc_method_t *m;
    gs_call_t *call;
    bool known; /* false: the token missed the cache, see ticket */
    cp_caller_t caller;
    char peer[96];
    cp_auth_ticket_t ticket;
    uint8_t *msg;
    size_t len;
} cp_rpc_job_t;

typedef struct {
    const audit_actor_t *who;
    const char *method;
    char detail[96];
} cp_denied_t;

static int cp_denied_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_denied_t *d = ctx;
    return audit_append(c, d->who, "access.denied", d->method, d->detail, e);
}

void cp_rpc_deny(cp_t *cp, const audit_actor_t *who, const char *path, cp_access_t cls,
                 char *details, size_t dlen)
{
    cp_denied_t d = {.who = who, .method = path};
    snprintf(d.detail, sizeof(d.detail), "role=%s class=%s", who->role, cp_access_name(cls));
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, cp_denied_tx, &d, &e) < 0)
        log_warn("cannot audit a denied call", "method=%s error=\"%s\"", path, e.msg);
    log_warn("admin call denied", "method=%s token=%s role=%s peer=%s", path, who->name, who->role,
             who->peer);
    snprintf(details, dlen, "permission: role '%s' may not call %s (%s)", who->role,
             path[0] == '/' ? path + 1 : path, cp_access_name(cls));
}

/* Every registered method, in order; written only before the servers start. */
#define CP_RPC_MAX_METHODS 256
static const cp_rpc_method_t *cp_rpc_all[CP_RPC_MAX_METHODS];
static size_t cp_rpc_n;

const cp_rpc_method_t *cp_rpc_find(const char *path)
{
    for (size_t i = 0; i < cp_rpc_n; i++)
        if (strcmp(cp_rpc_all[i]->path, path) == 0)
            return cp_rpc_all[i];
    return NULL;
}

const cp_rpc_method_t *cp_rpc_at(size_t i)
{
    return i < cp_rpc_n ? cp_rpc_all[i] : NULL;
}

grpc_status_code cp_rpc_invoke(const cp_rpc_method_t *m, const audit_actor_t *who,
                               const uint8_t *msg, size_t len, ProtobufCMessage **resp,
                               char *details, size_t dlen)
{
    ProtobufCMessage *req = NULL;
    grpc_status_code st;
    *resp = NULL;
    if (!cp_access_allows(who->role, m->access)) {
        st = GRPC_STATUS_PERMISSION_DENIED;
        cp_rpc_deny(m->cp, who, m->path, m->access, details, dlen);
    } else if (!(req = protobuf_c_message_unpack(m->req_desc, NULL, len, msg))) {
        st = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(details, dlen, "request: not a valid %s", m->req_desc->name);
    } else {
        st = m->fn(m->cp, who, req, resp, details, dlen);
        protobuf_c_message_free_unpacked(req, NULL);
    }
    if (st != GRPC_STATUS_OK && *resp) {
        protobuf_c_message_free_unpacked(*resp, NULL);
        *resp = NULL;
    }
    return st;
}

static void cp_rpc_run(void *arg)
{
    cp_rpc_job_t *j = arg;
    char details[512] = "";
    ProtobufCMessage *resp = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    grpc_status_code st;
    if (!j->known && cp_auth_recheck(j->m->cp->auth, j->call, &j->ticket, &j->caller) < 0) {
        free(j->msg); /* the call was finished */
        free(j);
        return;
    }
    audit_actor_t who = {j->caller.name, j->caller.role, j->peer};
    st = cp_rpc_invoke(j->m, &who, j->msg, j->len, &resp, details, sizeof(details));
    if (st == GRPC_STATUS_OK && resp) {
        out_len = protobuf_c_message_get_packed_size(resp);
        out = malloc(out_len ? out_len : 1);
        if (out)
            protobuf_c_message_pack(resp, out);
        else
            st = GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (st != GRPC_STATUS_OK)
        log_info("control call failed", "method=%s status=%d error=\"%s\"", j->m->path, (int)st,
                 details);
    gs_call_finish(j->call, st, st == GRPC_STATUS_OK ? NULL : details, out, out_len);
    free(out);
    free(j->msg);
    free(j);
}

bool cp_rpc_node_transport(const cp_t *cp, gs_call_t *call, cp_access_t cls)
{
    char who[128];
    if (cls != CP_ACCESS_NODES || !cp->node_cert_required || gs_call_peer_verified(call, who, sizeof(who)))
        return true;
    gs_call_finish(call, GRPC_STATUS_UNAUTHENTICATED,
                   "data-plane methods need mTLS: present a client certificate signed by the "
                   "control plane's --tls-client-ca",
                   NULL, 0);
    return false;
}

static void cp_rpc_on_request(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    const cp_rpc_method_t *m = ctx;
    cp_caller_t caller = {0};
    cp_auth_ticket_t ticket;
    if (!cp_rpc_node_transport(m->cp, call, m->access))
        return;
    cp_auth_result_t ar = cp_auth_check(m->cp->auth, call, &caller, &ticket);
    if (ar == CP_AUTH_REFUSED)
        return;
    cp_rpc_job_t *j = calloc(1, sizeof(*j));
    if (!j || !(j->msg = malloc(len ? len : 1))) {
        free(j);
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "control plane: out of memory", NULL,
                       0);
        return;
    }
    memcpy(j->msg, msg, len);
    j->len = len;
    j->m = m;
    j->call = call;
    j->known = ar == CP_AUTH_OK;
    j->caller = caller;
    j->ticket = ticket;
    gs_call_peer(call, j->peer, sizeof(j->peer));
    if (cp_work_submit(m->cp->work, cp_rpc_run, j) < 0) {
        free(j->msg);
        free(j);
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "control plane: shutting down", NULL, 0);
    }
}

int cp_rpc_register(cp_t *cp, cp_rpc_method_t *methods, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (methods[i].access == 0)
            return -1;
        if (cp_rpc_n == CP_RPC_MAX_METHODS)
            return -1;
        methods[i].cp = cp;
        cp_rpc_all[cp_rpc_n++] = &methods[i];
        if (gs_server_add_method(cp->server, methods[i].path, GS_UNARY, cp_rpc_on_request,
                                 &methods[i]) < 0)
            return -1;
    }
    return 0;
}
