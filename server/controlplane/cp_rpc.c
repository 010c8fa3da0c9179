/* cp_rpc: unary call plumbing. See cp_rpc.h.
 *
 * A token the authorization cache does not know yet goes to the worker with
 * the request, which looks it up again after a reload before running the
 * body: the completion-queue thread never waits on PostgreSQL. */
#include "cp_rpc.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct {
    const cp_rpc_method_t *m;
    gs_call_t *call;
    const char *role; /* NULL: the token missed the cache, see ticket */
    cp_auth_ticket_t ticket;
    uint8_t *msg;
    size_t len;
} cp_rpc_job_t;

static void cp_rpc_run(void *arg)
{
    cp_rpc_job_t *j = arg;
    char details[512] = "";
    ProtobufCMessage *resp = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    grpc_status_code st;
    if (!j->role && !(j->role = cp_auth_recheck(j->m->cp->auth, j->call, &j->ticket))) {
        free(j->msg); /* the call was finished */
        free(j);
        return;
    }
    ProtobufCMessage *req = protobuf_c_message_unpack(j->m->req_desc, NULL, j->len, j->msg);
    if (!req) {
        st = GRPC_STATUS_INVALID_ARGUMENT;
        snprintf(details, sizeof(details), "request: not a valid %s", j->m->req_desc->name);
    } else {
        st = j->m->fn(j->m->cp, j->role, req, &resp, details, sizeof(details));
        protobuf_c_message_free_unpacked(req, NULL);
    }
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

static void cp_rpc_on_request(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    const cp_rpc_method_t *m = ctx;
    const char *role = NULL;
    cp_auth_ticket_t ticket;
    if (cp_auth_check(m->cp->auth, call, &role, &ticket) == CP_AUTH_REFUSED)
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
    j->role = role;
    j->ticket = ticket;
    if (cp_work_submit(m->cp->work, cp_rpc_run, j) < 0) {
        free(j->msg);
        free(j);
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "control plane: shutting down", NULL, 0);
    }
}

int cp_rpc_register(cp_t *cp, cp_rpc_method_t *methods, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        methods[i].cp = cp;
        if (gs_server_add_method(cp->server, methods[i].path, GS_UNARY, cp_rpc_on_request,
                                 &methods[i]) < 0)
            return -1;
    }
    return 0;
}
