/* grpc_server: an asynchronous gRPC server on the gRPC C core API.
 *
 * Thread model: one completion queue driven by `n_threads` threads
 * (gs_server_start). Every call is a refcounted gs_call_t; its state machine
 * runs on those threads. Handlers are called on a CQ thread and must not
 * block: they hand work to other threads (the upstream engine) which answer
 * later through gs_call_send / gs_call_finish — both thread-safe (serialized
 * by the call's lock; at most one SEND_MESSAGE outstanding, further messages
 * wait in the call's queue).
 *
 * Call lifecycle, the contract every handler keeps:
 *   1. on_request(call, msg, len, ctx) runs once the request message arrived
 *      (bidi streaming: once per message, then once with NULL; see
 *      gs_handler_fn). The handler now holds the call and MUST eventually
 *      call gs_call_finish exactly once — also after a cancellation.
 *   2. If the client cancels, the deadline passes or the server shuts down,
 *      the call's cancel callback (gs_call_set_user) runs once, on a CQ
 *      thread, possibly concurrently with the handler's own threads.
 *   3. After gs_call_finish the handler must not touch the call again. The
 *      user pointer's free callback runs when the last reference goes, after
 *      the cancel callback (if any) returned.
 *
 * Unknown methods get UNIMPLEMENTED. Services are registered by their owners
 * through gs_server_add_method, grpc.health.v1.Health (grpc_health.c) like
 * any other; an observer (gs_server_observe) follows the server's serving
 * state and shutdown without the server knowing what it is.
 */
#ifndef LLMGW_GRPC_SERVER_H
#define LLMGW_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

#include "tls.h"

typedef struct gs_server gs_server_t;
typedef struct gs_call gs_call_t;

typedef enum { GS_UNARY, GS_SERVER_STREAMING, GS_BIDI_STREAMING } gs_kind_t;

/* Unary and server-streaming: called once, with the request message.
 *
 * Bidi streaming (GS_BIDI_STREAMING, also right for client streaming): called
 * once per message the client sends, in order, never concurrently for one
 * call, on a CQ thread; at most one read is outstanding and the next is
 * posted when fn returns, so a slow handler slows the client down. Then
 * called exactly once more with msg == NULL: no more messages will come —
 * the client half-closed, or the call was cancelled (deadline, client,
 * shutdown). A cancellation may reach the server after the end of input:
 * gs_call_cancelled is then still false, and on_cancel runs later only if
 * the handler has not finished by then. The handler holds the
 * call from its first fn and MUST finish it exactly once: inside any fn, or
 * from any thread after the msg == NULL fn began. Once it finished, no
 * further fn runs, not even the NULL one. */
typedef void (*gs_handler_fn)(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx);

/* NULL on failure (message logged). */
gs_server_t *gs_server_new(void);
/* Register before gs_server_start. `path` like "/llmgw.v1.ChatService/Complete"
 * (copied). 0 or -1. */
int gs_server_add_method(gs_server_t *s, const char *path, gs_kind_t kind, gs_handler_fn fn,
                         void *ctx);
/* TLS for the listener instead of plaintext; before gs_server_start, *t
 * borrowed until it returns. With t->ca_pem clients are asked for a
 * certificate that chains to it: `require_client_cert` refuses the
 * handshake without one, otherwise gs_call_peer_verified tells. */
void gs_server_set_tls(gs_server_t *s, const tls_files_t *t, bool require_client_cert);
/* Binds `addr` ("127.0.0.1:50051", or port 0 for any free port) and starts
 * n_threads CQ threads. Returns the bound port (> 0) or -1 with err filled. */
int gs_server_start(gs_server_t *s, const char *addr, int n_threads, char *err, size_t errlen);
/* Something that follows the server's life (the health service): `serving`
 * on every gs_server_set_serving, `shutdown` when gs_server_shutdown begins
 * (before the grace, so streams that never end by themselves can end),
 * `free` from gs_server_free after every call was released. Any callback
 * may be NULL. */
typedef struct {
    void (*serving)(void *ctx, bool serving);
    void (*shutdown)(void *ctx);
    void (*free)(void *ctx);
    void *ctx;
} gs_observer_t;
/* Before gs_server_start; *o is copied. 0 or -1. */
int gs_server_observe(gs_server_t *s, const gs_observer_t *o);
/* True when a registered method belongs to `service` ("pkg.Service", `len`
 * bytes, not NUL-terminated); "" (len 0) is the whole server. Reads the
 * method list, which is fixed once the server starts. */
bool gs_server_has_service(const gs_server_t *s, const char *service, size_t len);
/* The registered method paths, in registration order ("/pkg.Service/Method"),
 * for enumerating services (reflection). Borrowed, valid until
 * gs_server_free; the list is fixed once the server starts. NULL past the end. */
size_t gs_server_method_count(const gs_server_t *s);
const char *gs_server_method_path(const gs_server_t *s, size_t i);
/* Tells every observer (health reports it for "" and every service). */
void gs_server_set_serving(gs_server_t *s, bool serving);
/* Graceful stop: refuses new calls, waits up to grace_ms for in-flight calls
 * to finish (a bidi call waiting for the client's next message with every
 * answer sent is not in flight: reflection streams left open by a client do
 * not hold the grace), then cancels the rest (their cancel callbacks run; handlers still
 * finish them), waits for every call to be released, joins the threads.
 * Call once, from a thread that is not a CQ thread. */
void gs_server_shutdown(gs_server_t *s, int grace_ms);
/* After gs_server_shutdown (or before start). */
void gs_server_free(gs_server_t *s);
/* Calls currently alive (for tests and metrics). */
int gs_server_active_calls(gs_server_t *s);

/* --- per call: usable from any thread until gs_call_finish ------------------ */

/* Deadline as absolute CLOCK_MONOTONIC ms (see clock.h); INT64_MAX when none. */
int64_t gs_call_deadline_ms(const gs_call_t *call);
/* Value of request metadata `key` (lower-case) as a borrowed NUL-terminated
 * string valid until gs_call_finish, or NULL when absent. */
const char *gs_call_metadata(const gs_call_t *call, const char *key);
/* The client's address as the core reports it ("ipv4:127.0.0.1:53412"),
 * copied into out (truncated to cap; "" when unknown). */
void gs_call_peer(const gs_call_t *call, char *out, size_t cap);
/* True when the client presented a certificate that chains to the
 * listener's client CA (gs_server_set_tls); the certificate's identity
 * (CN or first SAN) is copied into out when out is not NULL. */
bool gs_call_peer_verified(const gs_call_t *call, char *out, size_t cap);
/* The method path of this call (borrowed). */
const char *gs_call_method(const gs_call_t *call);
/* Attach handler state. on_cancel may be NULL; on_free may be NULL. */
void gs_call_set_user(gs_call_t *call, void *user, void (*on_cancel)(void *user),
                      void (*on_free)(void *user));
/* True once the client cancelled, the deadline passed or shutdown cancelled it. */
bool gs_call_cancelled(const gs_call_t *call);
/* Server-streaming and bidi only: queue one message (copied). Initial metadata goes
 * with the first. -1 when the call is cancelled, or when more than the
 * queue cap (4 MiB) is waiting — the handler should then stop producing and
 * finish with RESOURCE_EXHAUSTED. */
int gs_call_send(gs_call_t *call, const uint8_t *msg, size_t len);
/* Trailing metadata sent with the status ("retry-after-ms": "1500"); `key`
 * lower-case, both copied. Before gs_call_finish; at most GS_MAX_TRAILERS
 * per call. 0, or -1 (finished already, too many). */
#define GS_MAX_TRAILERS 4
int gs_call_set_trailer(gs_call_t *call, const char *key, const char *value);
/* Ends the call. Unary: msg (copied) is the response when status is
 * GRPC_STATUS_OK (msg may be NULL otherwise). Streaming: msg must be NULL;
 * queued messages are sent first, then the status. `details` is copied
 * (NULL: none). Exactly once per call. */
void gs_call_finish(gs_call_t *call, grpc_status_code status, const char *details,
                    const uint8_t *msg, size_t len);

#endif
