/* bidi_client: a blocking bidi-streaming gRPC client on the C core API, for
 * the tests of grpc_server's bidi calls and of reflection (grpc_client.c has
 * unary and server streaming only). One channel per stream; every operation
 * waits for its own completion (grpc_completion_queue_pluck) with a deadline,
 * so a test that goes wrong fails instead of hanging. One thread per stream.
 */
#ifndef LLMGW_BIDI_CLIENT_H
#define LLMGW_BIDI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

typedef struct bidi_client bidi_client_t;

/* Starts a call to `method` on 127.0.0.1:port; timeout_ms bounds the whole
 * call. NULL on failure. */
bidi_client_t *bidi_start(int port, const char *method, int timeout_ms);
/* Sends one message; 0, or -1 when the call is over. */
int bidi_send(bidi_client_t *b, const void *msg, size_t len);
/* Ends the client's side of the stream; 0 or -1. */
int bidi_half_close(bidi_client_t *b);
/* 1: a message (*msg malloc'd, caller frees; *len its size); 0: the server
 * ended the stream; -1: error. */
int bidi_recv(bidi_client_t *b, uint8_t **msg, size_t *len);
/* Cancels the call. */
void bidi_cancel(bidi_client_t *b);
/* Reads (and drops) messages not read yet, waits for the status, copies its details into details
 * (may be NULL), frees everything. */
grpc_status_code bidi_finish(bidi_client_t *b, char *details, size_t cap);

#endif
