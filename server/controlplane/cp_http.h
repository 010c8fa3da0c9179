/* cp_http: the control plane's HTTP front door (--http-listen) — the web
 * console's static files and its JSON admin API (docs/console.md).
 *
 *   GET  /, /console.css, /console.js   the console, embedded at build time
 *   GET  /api/                          the caller and every registered method
 *   POST /api/<package.Service>/<Method> any unary RPC of cp_rpc's table: JSON
 *                                       body -> request message (pbjson), the
 *                                       same token, role check, denial audit
 *                                       row and body on the same workers as
 *                                       gRPC; the answer as JSON
 *   POST /api/events/ticket             a single-use ticket for the stream
 *   GET  /api/events?ticket=T           server-sent events: "hello", then
 *                                       "changed" on each new routing-table
 *                                       version and "tick" every few seconds
 *
 * Every /api call except the stream carries `Authorization: Bearer <admin
 * token>`; an EventSource cannot set headers, so the stream takes a ticket
 * minted by an authenticated call (random, valid CP_HTTP_TICKET_TTL_MS, used
 * once) instead of the token in the URL. Errors are JSON {"error": {"code",
 * "status", "message"}} with the HTTP status of the gRPC code.
 *
 * Thread model: libmicrohttpd runs one thread per connection (the console
 * has few clients); a connection thread hands each API call to the cp_work
 * pool and waits for it; a stream's thread waits on cp_console_events.
 */
#ifndef LLMGW_CP_HTTP_H
#define LLMGW_CP_HTTP_H

#include <stddef.h>

#include "cp.h"
#include "cp_console_events.h"
#include "tls.h"

#define CP_HTTP_BODY_MAX (1u << 20)
#define CP_HTTP_TICKET_TTL_MS 60000
#define CP_HTTP_TICK_MS 5000
#define CP_HTTP_MAX_STREAMS 16

typedef struct cp_http cp_http_t;

/* Listens on `listen` (HOST:PORT, port 0: any free one); *port is the bound
 * port. cp and events are borrowed and must outlive cp_http_stop. tls
 * (borrowed, may be NULL: plaintext) serves HTTPS with its certificate and
 * key; its ca_pem is not used (browsers log in with admin tokens). NULL with
 * err filled when the address is bad or taken. */
cp_http_t *cp_http_start(cp_t *cp, cp_console_events_t *events, const char *listen,
                         const tls_files_t *tls, int *port, char *err, size_t errlen);
/* Ends the streams, waits for every connection thread and frees h. The
 * workers must still be running (a call in progress finishes on them). */
void cp_http_stop(cp_http_t *h);

/* The HTTP status for a gRPC status code (INVALID_ARGUMENT 400, …). Pure. */
unsigned cp_http_status_of(grpc_status_code st);

#endif
