/* cmd_rpc: the CLI's calls to a gRPC server, on the blocking grpc_client.
 *
 * Owns the pack / call / unpack round trip so subcommands deal in protobuf-c
 * messages only. A failed call leaves its status and details in the
 * connection for cmd_conn_report; nothing here prints except on open.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "grpc_client.h"

/* Answers bigger than this are refused by the buffers (a runaway server must
 * not grow the CLI without bound). */
#define CMD_RPC_MAX_MSG (64u << 20)
#define CMD_RPC_MAX_DETAILS (64u << 10)

struct cmd_conn {
    gc_channel_t *ch;
    char *api_key; /* NULL: no authorization metadata */
    int timeout_ms;
    grpc_status_code status; /* of the last failed call */
    buf_t details;
};

cmd_conn_t *cmd_conn_open(const char *target, const char *api_key, int timeout_ms)
{
    cmd_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    buf_init(&c->details, CMD_RPC_MAX_DETAILS);
    c->timeout_ms = timeout_ms;
    if (api_key) {
        c->api_key = strdup(api_key);
        if (!c->api_key)
            goto fail;
    }
    c->ch = cmd_channel_open(target);
    if (!c->ch)
        goto fail;
    return c;
fail:
    fprintf(stderr, "error: cannot create a channel to '%s'\n", target);
    cmd_conn_close(c);
    return NULL;
}

void cmd_conn_close(cmd_conn_t *c)
{
    if (!c)
        return;
    if (c->ch)
        gc_channel_free(c->ch);
    free(c->api_key);
    buf_free(&c->details);
    free(c);
}

/* Records a failure that happened on our side of the wire. */
static int conn_fail(cmd_conn_t *c, grpc_status_code code, const char *what)
{
    c->status = code;
    buf_reset(&c->details);
    (void)buf_append_str(&c->details, what); /* best effort: the status still tells */
    return -1;
}

static int pack(cmd_conn_t *c, const ProtobufCMessage *req, uint8_t **out, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(req);
    /* malloc(0) may return NULL; an empty message packs to zero bytes. */
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return conn_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "request: out of memory");
    protobuf_c_message_pack(req, *out);
    return 0;
}

int cmd_conn_unary(cmd_conn_t *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    buf_t answer = BUF_INIT(CMD_RPC_MAX_MSG);
    int rc = -1;

    *resp = NULL;
    if (pack(c, req, &bytes, &len) < 0)
        goto out;
    buf_reset(&c->details);
    grpc_status_code st =
        gc_unary(c->ch, method, c->api_key, c->timeout_ms, bytes, len, &answer, &c->details);
    if (st != GRPC_STATUS_OK) {
        c->status = st;
        goto out;
    }
    *resp = protobuf_c_message_unpack(resp_desc, NULL, answer.len, (const uint8_t *)answer.data);
    if (!*resp) {
        conn_fail(c, GRPC_STATUS_INTERNAL, "response: cannot decode the protobuf message");
        goto out;
    }
    rc = 0;
out:
    free(bytes);
    buf_free(&answer);
    return rc;
}

int cmd_conn_stream(cmd_conn_t *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *msg_desc, cmd_stream_fn on_msg, void *ctx)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    buf_t msg = BUF_INIT(CMD_RPC_MAX_MSG);
    gc_stream_t *s = NULL;
    int rc = -1;
    bool stopped = false; /* we cancelled: our reason wins over CANCELLED */

    if (pack(c, req, &bytes, &len) < 0)
        goto out;
    s = gc_stream_start(c->ch, method, c->api_key, c->timeout_ms, bytes, len);
    if (!s) {
        conn_fail(c, GRPC_STATUS_INTERNAL, "cannot start the call");
        goto out;
    }
    while (gc_stream_next(s, &msg) == 1) {
        ProtobufCMessage *m =
            protobuf_c_message_unpack(msg_desc, NULL, msg.len, (const uint8_t *)msg.data);
        if (!m) {
            conn_fail(c, GRPC_STATUS_INTERNAL, "stream: cannot decode a protobuf message");
            stopped = true;
            break;
        }
        int cb = on_msg(m, ctx);
        protobuf_c_message_free_unpacked(m, NULL);
        if (cb < 0) {
            conn_fail(c, GRPC_STATUS_CANCELLED, "stream: stopped by the client");
            stopped = true;
            break;
        }
    }
    if (stopped) {
        gc_stream_cancel(s);
        gc_stream_finish(s, NULL);
        s = NULL;
        goto out;
    }
    buf_reset(&c->details);
    grpc_status_code st = gc_stream_finish(s, &c->details);
    s = NULL;
    if (st != GRPC_STATUS_OK) {
        c->status = st;
        goto out;
    }
    rc = 0;
out:
    free(bytes);
    buf_free(&msg);
    return rc;
}

void cmd_conn_error(const cmd_conn_t *c, char *out, size_t outlen)
{
    const char *details = buf_cstr(&c->details);
    snprintf(out, outlen, "%s: %s", gc_status_name(c->status),
             details[0] ? details : "(no details)");
}

int cmd_conn_report(const cmd_conn_t *c)
{
    const char *details = buf_cstr(&c->details);
    fprintf(stderr, "error: %s: %s\n", gc_status_name(c->status),
            details[0] ? details : "(no details)");
    return CMD_EXIT_RPC;
}
