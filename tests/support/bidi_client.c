/* bidi_client: see bidi_client.h. The status op is posted with the call, so
 * the status is never missed; each other op is its own batch, plucked by tag. */
#include "bidi_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

struct bidi_client {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int got_initial_md;
    int tag_status, tag_op;
};

/* Runs one batch and waits for it. 0 when it succeeded. */
static int bidi_batch(bidi_client_t *b, grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(b->call, ops, n, &b->tag_op, NULL) != GRPC_CALL_OK)
        return -1;
    grpc_event ev = grpc_completion_queue_pluck(b->cq, &b->tag_op, b->deadline, NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        /* Past the deadline the core cancels the call; wait for the op. */
        grpc_call_cancel(b->call, NULL);
        ev = grpc_completion_queue_pluck(b->cq, &b->tag_op, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                         NULL);
        return -1;
    }
    return ev.success ? 0 : -1;
}

bidi_client_t *bidi_start(int port, const char *method, int timeout_ms)
{
    grpc_init();
    bidi_client_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto fail;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    b->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    b->cq = grpc_completion_queue_create_for_pluck(NULL);
    b->deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice m = grpc_slice_from_copied_string(method);
    b->call = grpc_channel_create_call(b->ch, NULL, GRPC_PROPAGATE_DEFAULTS, b->cq, m, NULL,
                                       b->deadline, NULL);
    grpc_slice_unref(m);
    if (b->call == NULL)
        goto fail;
    grpc_metadata_array_init(&b->initial_md);
    grpc_metadata_array_init(&b->trailing_md);
    b->details = grpc_empty_slice();
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &b->trailing_md;
    ops[0].data.recv_status_on_client.status = &b->status;
    ops[0].data.recv_status_on_client.status_details = &b->details;
    if (grpc_call_start_batch(b->call, ops, 1, &b->tag_status, NULL) != GRPC_CALL_OK)
        goto fail;
    memset(ops, 0, sizeof(ops)); /* the union still holds the status op's pointers */
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bidi_batch(b, ops, 1) != 0)
        goto fail_started;
    return b;
fail_started:
    bidi_finish(b, NULL, 0);
    return NULL;
fail:
    fprintf(stderr, "bidi_start: cannot start %s on port %d\n", method, port);
    if (b != NULL) {
        if (b->call != NULL)
            grpc_call_unref(b->call);
        if (b->cq != NULL)
            grpc_completion_queue_destroy(b->cq);
        if (b->ch != NULL)
            grpc_channel_destroy(b->ch);
        free(b);
    }
    grpc_shutdown();
    return NULL;
}

int bidi_send(bidi_client_t *b, const void *msg, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(msg, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    int rc = bidi_batch(b, &op, 1);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int bidi_half_close(bidi_client_t *b)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return bidi_batch(b, &op, 1);
}

int bidi_recv(bidi_client_t *b, uint8_t **msg, size_t *len)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!b->got_initial_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n].data.recv_initial_metadata.recv_initial_metadata = &b->initial_md;
        n++;
        b->got_initial_md = 1;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &bb;
    n++;
    if (bidi_batch(b, ops, n) != 0) {
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        return -1;
    }
    if (bb == NULL)
        return 0;
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(bb);
    *len = GRPC_SLICE_LENGTH(all);
    *msg = malloc(*len ? *len : 1);
    if (*msg != NULL)
        memcpy(*msg, GRPC_SLICE_START_PTR(all), *len);
    grpc_slice_unref(all);
    return *msg != NULL ? 1 : -1;
}

void bidi_cancel(bidi_client_t *b)
{
    grpc_call_cancel(b->call, NULL);
}

grpc_status_code bidi_finish(bidi_client_t *b, char *details, size_t cap)
{
    /* The core reports the status only once every message was read. */
    uint8_t *msg;
    size_t len;
    while (bidi_recv(b, &msg, &len) == 1)
        free(msg);
    grpc_event ev = grpc_completion_queue_pluck(b->cq, &b->tag_status, b->deadline, NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        grpc_call_cancel(b->call, NULL);
        grpc_completion_queue_pluck(b->cq, &b->tag_status, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                    NULL);
    }
    grpc_status_code st = b->status;
    if (details != NULL && cap > 0)
        snprintf(details, cap, "%.*s", (int)GRPC_SLICE_LENGTH(b->details),
                 (const char *)GRPC_SLICE_START_PTR(b->details));
    grpc_slice_unref(b->details);
    grpc_metadata_array_destroy(&b->initial_md);
    grpc_metadata_array_destroy(&b->trailing_md);
    grpc_call_unref(b->call);
    grpc_channel_destroy(b->ch);
    /* Every op of the call completed (each was plucked): nothing to drain. */
    grpc_completion_queue_shutdown(b->cq);
    grpc_completion_queue_destroy(b->cq);
    free(b);
    grpc_shutdown();
    return st;
}
