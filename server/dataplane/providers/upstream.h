/* upstream: the HTTP client engine — libcurl multi on its own thread.
 *
 * Thread model: upstream_new starts one thread that owns the curl multi
 * handle and every easy handle, and polls them (libcurl's socket interface)
 * on one epoll set. Other threads talk to it only through upstream_submit /
 * upstream_cancel, which push onto one mutex-protected queue and wake the
 * thread (an eventfd); from the engine thread itself they only queue. All
 * callbacks run on the engine thread, with no engine lock held, so a
 * callback may submit a new request (fallback) or cancel one. A guest event
 * loop (upstream_set_guest: the HTTP front door) can share the thread.
 *
 * One multi handle means one connection cache: connections to a provider are
 * reused across requests; HTTP/2 is negotiated over TLS when the provider
 * offers it (and multiplexed).
 *
 * Ownership: upstream_submit copies the spec. The returned handle carries one
 * reference for the caller (upstream_req_unref). on_done runs exactly once
 * per successful submit — on completion, failure, timeout, cancellation or
 * engine shutdown — and after it returns the engine never touches `ud` again.
 */
#ifndef LLMGW_UPSTREAM_H
#define LLMGW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct upstream upstream_t;
typedef struct upstream_req upstream_req_t;

typedef enum {
    UPSTREAM_OK = 0,        /* an HTTP response arrived (any status) */
    UPSTREAM_ERR_CONNECT,   /* refused, DNS, TLS handshake, reset before a response */
    UPSTREAM_ERR_TIMEOUT,   /* the attempt's timeout_ms passed */
    UPSTREAM_ERR_CANCELLED, /* upstream_cancel or engine shutdown */
    UPSTREAM_ERR_TOO_LARGE, /* the body exceeded max_body_bytes */
    UPSTREAM_ERR_ABORTED,   /* on_data returned non-zero */
    UPSTREAM_ERR_TRANSFER,  /* the connection broke after the response began */
} upstream_outcome_t;

typedef struct {
    upstream_outcome_t outcome;
    long http_status; /* 0 when no response status arrived */
    /* The buffered body: the whole body for non-streaming requests, and for
     * streaming requests whose status is not 2xx (so errors can be parsed).
     * Empty for 2xx streams (bytes went to on_data). Borrowed. */
    const char *body;
    size_t body_len;
    const char *error;       /* curl's message when outcome != OK, else "" */
    const char *retry_after; /* Retry-After header value, or NULL */
    int64_t latency_us;      /* submit → done */
    int64_t ttfb_us;         /* submit → first body byte (-1 if none) */
} upstream_result_t;

typedef struct {
    /* Streaming requests with a 2xx status only: body bytes as they arrive.
     * Return 0 to go on, non-zero to abort (outcome UPSTREAM_ERR_ABORTED). */
    int (*on_data)(void *ud, const char *bytes, size_t n);
    /* Exactly once. */
    void (*on_done)(void *ud, const upstream_result_t *res);
} upstream_callbacks_t;

typedef struct {
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t n_headers;
    const char *body; /* POST when non-NULL, else GET */
    size_t body_len;
    int timeout_ms;         /* whole attempt; > 0 */
    int connect_timeout_ms; /* 0: min(timeout_ms, 10000) */
    bool stream;
    size_t max_body_bytes; /* cap on a buffered body; 0: 16 MiB */
} upstream_spec_t;

/* A guest event loop the engine thread runs beside its own: the HTTP front
 * door's libmicrohttpd daemon, so a request and its upstream call stay on
 * one thread. The engine polls `fd` for input with its own sockets and
 * calls run(ud) on its thread when fd is readable, when upstream_guest_wake
 * asks, and when the time run() returned last (ms; < 0: none) has passed,
 * at least every second. */
typedef struct {
    int fd;
    int (*run)(void *ud);
    void *ud;
} upstream_guest_t;

/* Starts the engine thread. NULL on failure. */
upstream_t *upstream_new(void);
/* Cancels everything in flight (each on_done sees UPSTREAM_ERR_CANCELLED),
 * joins the thread, frees the engine. Not from the engine thread. */
void upstream_free(upstream_t *u);
/* NULL on allocation failure or after shutdown began (then on_done never
 * runs). Any thread, including the engine thread inside a callback. */
upstream_req_t *upstream_submit(upstream_t *u, const upstream_spec_t *spec,
                                const upstream_callbacks_t *cb, void *ud);
/* Any thread. on_done(UPSTREAM_ERR_CANCELLED) follows unless it already ran. */
void upstream_cancel(upstream_t *u, upstream_req_t *r);
void upstream_req_unref(upstream_req_t *r);
/* Sets (g) or removes (NULL) the engine's one guest, replacing any other.
 * Returns once the engine thread has applied it: after a removal, run is
 * never called again, so the guest may be torn down. -1 on a bad guest,
 * from the engine thread itself (it would wait for itself) or once the
 * engine is stopping. Submits from run() need no wake-up. */
int upstream_set_guest(upstream_t *u, const upstream_guest_t *g);
/* Asks the engine to run its guest soon, from any thread: for work the
 * guest's fd does not signal (libmicrohttpd's resumed connections). */
void upstream_guest_wake(upstream_t *u);
/* Runs fn(ud, false) once on the engine thread, soon, from any thread (a
 * request that waited on work elsewhere resumes on its loop). A task queued
 * when the engine stops runs with stopping = true (no submit will succeed).
 * 0, or -1 (out of memory, or the engine is stopping: fn never runs). */
int upstream_post(upstream_t *u, void (*fn)(void *ud, bool stopping), void *ud);
/* Requests submitted and not yet done (for tests and metrics). */
int upstream_in_flight(upstream_t *u);

#endif
