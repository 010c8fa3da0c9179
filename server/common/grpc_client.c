/* grpc_client: blocking unary and server-streaming calls on the C core API.
 * See grpc_client.h.
 *
 * Each call owns a pluck completion queue, so any number of threads may
 * share one channel and each waits only for its own tags. A stream's
 * RECV_STATUS_ON_CLIENT is posted when it starts and plucked at finish:
 * whatever happens in between (end of stream, cancel, deadline) the status
 * arrives there, and the call is always released through gc_stream_finish.
 */
#include "grpc_client.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "log.h"

#define GC_MAX_RECV_MESSAGE (16 << 20)

struct gc_channel {
    grpc_channel *ch;
};

struct gc_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata auth;
    bool has_auth;
    grpc_byte_buffer *req;
    grpc_byte_buffer *recv;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    bool start_plucked; /* the first batch's completion was taken */
    bool ended;         /* the server sent its status (or the call failed) */
    /* Distinct addresses for the pluck tags. */
    char tag_start, tag_msg, tag_status;
};

gc_channel_t *gc_channel_new(const char *target)
{
    return gc_channel_open(target, NULL);
}

static grpc_channel_credentials *client_credentials(const tls_files_t *tls)
{
    if (!tls)
        return grpc_insecure_credentials_create();
    grpc_ssl_pem_key_cert_pair pair = {.private_key = tls->key_pem, .cert_chain = tls->cert_pem};
    return grpc_ssl_credentials_create(tls->ca_pem, tls->cert_pem ? &pair : NULL, NULL, NULL);
}

gc_channel_t *gc_channel_open(const char *target, const tls_files_t *tls)
{
    grpc_init();
    gc_channel_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    grpc_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.type = GRPC_ARG_INTEGER;
    arg.key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    arg.value.integer = GC_MAX_RECV_MESSAGE;
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = client_credentials(tls);
    if (creds == NULL)
        goto fail;
    c->ch = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (c->ch == NULL)
        goto fail;
    return c;
fail:
    log_error("grpc channel not created", "target=%s", target);
    free(c);
    grpc_shutdown();
    return NULL;
}

void gc_channel_free(gc_channel_t *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->ch);
    free(ch);
    grpc_shutdown();
}

static gpr_timespec client_deadline(int timeout_ms)
{
    if (timeout_ms <= 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

static grpc_event client_pluck(grpc_completion_queue *cq, void *tag)
{
    /* The call's deadline (or a cancel) bounds every operation. */
    return grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
}

/* Fills the authorization metadata; the value slice is the caller's to unref. */
static void client_auth(grpc_metadata *md, const char *bearer)
{
    static const char prefix[] = "Bearer ";
    size_t plen = sizeof(prefix) - 1, blen = strlen(bearer);
    memset(md, 0, sizeof(*md));
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_malloc(plen + blen);
    memcpy(GRPC_SLICE_START_PTR(md->value), prefix, plen);
    memcpy(GRPC_SLICE_START_PTR(md->value) + plen, bearer, blen);
}

static grpc_byte_buffer *client_message(const void *req, size_t req_len)
{
    grpc_slice s = req_len == 0 ? grpc_empty_slice()
                                : grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Appends a received message to out. 0, or -1 when it exceeds out's cap. */
static int client_read(grpc_byte_buffer *bb, buf_t *out)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return -1;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    int rc = buf_append(out, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
    grpc_slice_unref(all);
    return rc;
}

static void client_details(buf_t *details, grpc_slice s)
{
    if (details != NULL && GRPC_SLICE_LENGTH(s) > 0)
        buf_append(details, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
}

static void client_cq_free(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
}

grpc_status_code gc_unary(gc_channel_t *ch, const char *method, const char *bearer, int timeout_ms,
                          const void *req, size_t req_len, buf_t *resp, buf_t *details)
{
    return gc_unary_trailers(ch, method, bearer, timeout_ms, req, req_len, resp, details, NULL);
}

grpc_status_code gc_unary_trailers(gc_channel_t *ch, const char *method, const char *bearer,
                                   int timeout_ms, const void *req, size_t req_len, buf_t *resp,
                                   buf_t *details, buf_t *trailers)
{
    grpc_status_code status = GRPC_STATUS_INTERNAL;
    grpc_slice status_details = grpc_empty_slice();
    grpc_metadata auth;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *req_bb = NULL, *resp_bb = NULL;
    grpc_call *call = NULL;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    if (bearer != NULL)
        client_auth(&auth, bearer);

    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    if (cq == NULL)
        goto local_fail;
    call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                    grpc_slice_from_static_string(method), NULL,
                                    client_deadline(timeout_ms), NULL);
    if (call == NULL)
        goto local_fail;
    req_bb = client_message(req, req_len);

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = bearer != NULL ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = bearer != NULL ? &auth : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &status_details;
    if (grpc_call_start_batch(call, ops, 6, &ops[0], NULL) != GRPC_CALL_OK)
        goto local_fail;
    client_pluck(cq, &ops[0]);

    if (status == GRPC_STATUS_OK && resp_bb != NULL && resp != NULL &&
        client_read(resp_bb, resp) != 0) {
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        if (details != NULL)
            buf_append_str(details, "response: exceeds the buffer cap");
    } else {
        client_details(details, status_details);
    }
    for (size_t i = 0; trailers != NULL && i < trailing_md.count; i++) {
        const grpc_metadata *m = &trailing_md.metadata[i];
        buf_append(trailers, GRPC_SLICE_START_PTR(m->key), GRPC_SLICE_LENGTH(m->key));
        buf_append_str(trailers, ": ");
        buf_append(trailers, GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
        buf_append_char(trailers, '\n');
    }
    goto out;

local_fail:
    status = GRPC_STATUS_INTERNAL;
    if (details != NULL)
        buf_append_str(details, "gc_unary: cannot start the call");
out:
    if (call != NULL)
        grpc_call_unref(call);
    if (cq != NULL)
        client_cq_free(cq);
    if (req_bb != NULL)
        grpc_byte_buffer_destroy(req_bb);
    if (resp_bb != NULL)
        grpc_byte_buffer_destroy(resp_bb);
    if (bearer != NULL)
        grpc_slice_unref(auth.value);
    grpc_slice_unref(status_details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    return status;
}

static void stream_free(gc_stream_t *s)
{
    if (s->call != NULL)
        grpc_call_unref(s->call);
    if (s->cq != NULL)
        client_cq_free(s->cq);
    if (s->req != NULL)
        grpc_byte_buffer_destroy(s->req);
    if (s->recv != NULL)
        grpc_byte_buffer_destroy(s->recv);
    if (s->has_auth)
        grpc_slice_unref(s->auth.value);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    free(s);
}

gc_stream_t *gc_stream_start(gc_channel_t *ch, const char *method, const char *bearer,
                             int timeout_ms, const void *req, size_t req_len)
{
    gc_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->details = grpc_empty_slice();
    s->status = GRPC_STATUS_UNKNOWN;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    if (bearer != NULL) {
        client_auth(&s->auth, bearer);
        s->has_auth = true;
    }
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (s->cq == NULL)
        goto fail;
    s->call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
                                       grpc_slice_from_static_string(method), NULL,
                                       client_deadline(timeout_ms), NULL);
    if (s->call == NULL)
        goto fail;
    s->req = client_message(req, req_len);

    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = s->has_auth ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = s->has_auth ? &s->auth : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    if (grpc_call_start_batch(s->call, ops, 4, &s->tag_start, NULL) != GRPC_CALL_OK)
        goto fail;

    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &op, 1, &s->tag_status, NULL) != GRPC_CALL_OK) {
        /* The first batch is in flight: end it before freeing what it uses. */
        grpc_call_cancel(s->call, NULL);
        client_pluck(s->cq, &s->tag_start);
        goto fail;
    }
    return s;
fail:
    log_error("grpc stream not started", "method=%s", method);
    stream_free(s);
    return NULL;
}

int gc_stream_next(gc_stream_t *s, buf_t *msg)
{
    if (s->ended)
        return 0;
    if (!s->start_plucked) {
        s->start_plucked = true;
        grpc_event ev = client_pluck(s->cq, &s->tag_start);
        if (!ev.success) {
            s->ended = true;
            return 0;
        }
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    if (grpc_call_start_batch(s->call, &op, 1, &s->tag_msg, NULL) != GRPC_CALL_OK) {
        grpc_call_cancel_with_status(s->call, GRPC_STATUS_INTERNAL,
                                     "gc_stream_next: cannot read the next message", NULL);
        s->ended = true;
        return 0;
    }
    grpc_event ev = client_pluck(s->cq, &s->tag_msg);
    if (!ev.success || s->recv == NULL) {
        s->ended = true;
        return 0;
    }
    buf_reset(msg);
    int rc = client_read(s->recv, msg);
    grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
    if (rc != 0) {
        grpc_call_cancel_with_status(s->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "message: exceeds the buffer cap", NULL);
        s->ended = true;
        return 0;
    }
    return 1;
}

void gc_stream_cancel(gc_stream_t *s)
{
    grpc_call_cancel(s->call, NULL);
}

grpc_status_code gc_stream_finish(gc_stream_t *s, buf_t *details)
{
    if (!s->start_plucked) {
        s->start_plucked = true;
        client_pluck(s->cq, &s->tag_start);
    }
    client_pluck(s->cq, &s->tag_status);
    grpc_status_code status = s->status;
    client_details(details, s->details);
    stream_free(s);
    return status;
}

const char *gc_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((int)code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[code];
}
