/* mini_http: a tiny in-process HTTP/1.1 server for tests, on libmicrohttpd.
 *
 * The test supplies one handler; for every request the server calls it (on
 * that connection's own thread — thread-per-connection mode) with the method,
 * path, headers and whole body, and the handler fills in the answer: status,
 * headers, body, an optional delay before answering, optional chunked
 * streaming of pieces with a delay between them, an option to drop the
 * connection mid-body, and one to close without answering at all.
 *
 * The server listens on 127.0.0.1 on a port the kernel picks
 * (mini_http_port / mini_http_url). It counts requests and connections
 * (opened and closed), and lets a test block until a count is reached, so
 * tests wait on events, never on sleeps.
 *
 * Waiting (the delay and the gaps between pieces) ends early when the client
 * closes the connection (the server then closes its side, which counts as a
 * closed connection) or when the server stops. mini_http_stop closes every
 * connection, joins every thread and frees the server.
 *
 * Typical use:
 *     static void handler(void *ud, const mini_http_request_t *req,
 *                         mini_http_response_t *resp)
 *     {
 *         resp->status = 200;
 *         resp->body = "hello";
 *         resp->body_len = 5;
 *     }
 *     mini_http_t *srv = mini_http_start(handler, NULL);
 *     ... requests to mini_http_url(srv) ...
 *     mini_http_stop(srv);
 */
#ifndef LLMGW_MINI_HTTP_H
#define LLMGW_MINI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mini_http mini_http_t;

/* One received request. Everything is borrowed and valid only while the
 * handler runs. */
typedef struct {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* "/v1/chat/completions" (no query string) */
    const char *body;   /* NUL-terminated; "" when there is none */
    size_t body_len;
    /* 1, 2, ... in the order connections were accepted; equal for requests
     * that arrived on the same (kept-alive) connection. */
    unsigned conn_id;
    void *mhd_connection; /* for mini_http_request_header */
} mini_http_request_t;

/* The handler's answer. The server zeroes it before calling the handler;
 * zero means: status 200, no extra headers, empty body, no delay. Pointers
 * need to stay valid only until the handler returns (the server copies). */
typedef struct {
    int status;                 /* 0: 200 */
    const char *const *headers; /* "Name: value" lines */
    size_t n_headers;
    const char *body;
    size_t body_len;
    int delay_ms; /* wait this long before answering */
    /* When n_chunks > 0 the answer is chunked: the pieces go out one chunk
     * each, chunk_delay_ms apart (the first without a wait); `body` is then
     * ignored. */
    const char *const *chunks;
    size_t n_chunks;
    int chunk_delay_ms;
    /* Close the connection mid-body: for a plain body after its first half
     * (Content-Length still announces the whole), for chunks after the last
     * piece (no terminating chunk). */
    bool drop_mid_body;
    /* Close the connection without sending any response. */
    bool close_without_response;
} mini_http_response_t;

typedef void (*mini_http_handler_fn)(void *ud, const mini_http_request_t *req,
                                     mini_http_response_t *resp);

/* Starts listening on 127.0.0.1 on a free port. NULL on failure. */
mini_http_t *mini_http_start(mini_http_handler_fn handler, void *ud);
/* Closes every connection, joins every thread, frees the server. NULL is a
 * no-op. Not from inside the handler. */
void mini_http_stop(mini_http_t *s);

uint16_t mini_http_port(const mini_http_t *s);
/* "http://127.0.0.1:<port>" — borrowed, valid until mini_http_stop. */
const char *mini_http_url(const mini_http_t *s);

/* A request header's value (case-insensitive name), or NULL. Only inside
 * the handler; borrowed. */
const char *mini_http_request_header(const mini_http_request_t *req, const char *name);

/* Counters since start: requests whose headers arrived, connections
 * accepted, connections closed. Thread-safe. */
unsigned mini_http_requests(mini_http_t *s);
unsigned mini_http_connections(mini_http_t *s);
unsigned mini_http_closed(mini_http_t *s);

/* Block until the counter reaches at least n: 0, or -1 after timeout_ms. */
int mini_http_wait_requests(mini_http_t *s, unsigned n, int timeout_ms);
int mini_http_wait_closed(mini_http_t *s, unsigned n, int timeout_ms);

#endif
