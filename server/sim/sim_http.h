/* sim_http: the simulator's HTTP server (libmicrohttpd).
 *
 * Thread model: MHD runs one thread per connection (plus its listening
 * thread). A request's whole life, including every delay the settings ask
 * for and the pacing of a stream, runs on its connection's thread, so a
 * sleeping request never holds up another connection. Shared state is the
 * read-only config and a few atomics (completion ids, the error-rate PRNG,
 * the stop flag). Every wait is sliced so that sim_http_stop is seen within
 * about 20 ms, and a wait ends early when the client goes away.
 */
#ifndef LLMGW_SIM_HTTP_H
#define LLMGW_SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sim_config.h"

typedef struct sim_http sim_http_t;

/* Starts serving on `addr` (port 0 picks a free port). `cfg` is borrowed and
 * must outlive the server; `seed` seeds the error-rate PRNG; at most
 * max_connections connections at once (a thread each; 0: SIM_HTTP_MAX_CONNECTIONS).
 * NULL with `err` set when the socket cannot be bound or memory runs out. */
#define SIM_HTTP_MAX_CONNECTIONS 4096
sim_http_t *sim_http_start(const sim_config_t *cfg, const struct sockaddr *addr, uint64_t seed,
                           unsigned max_connections, char *err, size_t errlen);

/* The bound port. */
uint16_t sim_http_port(const sim_http_t *h);

/* Ends every held or paced request, closes all connections, frees `h`. */
void sim_http_stop(sim_http_t *h);

#endif
