/* grpc_client: a small blocking gRPC client on the C core API, for the CLI,
 * the integration tests and tools. Each call runs on its own completion queue
 * (grpc_completion_queue_pluck), so a channel may be shared by threads.
 * Messages are raw protobuf bytes: callers pack / unpack with protobuf-c.
 */
#ifndef LLMGW_GRPC_CLIENT_H
#define LLMGW_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

#include "buf.h"
#include "tls.h"

typedef struct gc_channel gc_channel_t;
typedef struct gc_stream gc_stream_t;

/* Calls grpc_init (balanced by gc_channel_free). NULL on failure. */
gc_channel_t *gc_channel_new(const char *target);
/* gc_channel_new over TLS when tls is not NULL: the server's certificate
 * must chain to tls->ca_pem and name the target's host; tls->cert_pem and
 * key_pem (both or neither) are this client's certificate for mTLS. The
 * files are copied by the core. */
gc_channel_t *gc_channel_open(const char *target, const tls_files_t *tls);
void gc_channel_free(gc_channel_t *ch);

/* One unary call. `bearer` adds "authorization: Bearer <bearer>" (NULL: none).
 * timeout_ms <= 0: no deadline. The response bytes are appended to `resp`,
 * status details to `details` (either may be NULL). Returns the gRPC status. */
grpc_status_code gc_unary(gc_channel_t *ch, const char *method, const char *bearer, int timeout_ms,
                          const void *req, size_t req_len, buf_t *resp, buf_t *details);

/* gc_unary that also appends the trailing metadata to `trailers` (may be
 * NULL), one "key: value\n" line each. */
grpc_status_code gc_unary_trailers(gc_channel_t *ch, const char *method, const char *bearer,
                                   int timeout_ms, const void *req, size_t req_len, buf_t *resp,
                                   buf_t *details, buf_t *trailers);

/* A server-streaming call. NULL when it cannot start. */
gc_stream_t *gc_stream_start(gc_channel_t *ch, const char *method, const char *bearer,
                             int timeout_ms, const void *req, size_t req_len);
/* 1: one message appended to msg (after buf_reset); 0: the stream ended. */
int gc_stream_next(gc_stream_t *s, buf_t *msg);
/* Cancels the call (the server sees the cancellation). */
void gc_stream_cancel(gc_stream_t *s);
/* Waits for the status (after next returned 0, or after cancel), appends
 * details, frees the stream. Returns the gRPC status. */
grpc_status_code gc_stream_finish(gc_stream_t *s, buf_t *details);

/* "OK", "CANCELLED", … for printing. */
const char *gc_status_name(grpc_status_code code);

#endif
