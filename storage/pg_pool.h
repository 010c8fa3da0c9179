/* pg_pool: a small fixed-size pool of libpq connections.
 *
 * Invariants: a connection handed out by pg_pool_acquire is CONNECTION_OK,
 * idle (no open transaction) and has every statement prepared; it belongs to
 * one thread until pg_pool_release. A connection found broken on release is
 * closed, and the next acquire of its slot connects again — so a database
 * restart costs the requests in flight, not the process. Thread-safe.
 */
#ifndef LLMGW_PG_POOL_H
#define LLMGW_PG_POOL_H

#include <libpq-fe.h>

#include "store.h"

typedef struct pg_pool pg_pool_t;

/* `conninfo` is a libpq connection string or URI (copied). Connects one
 * connection at once so a wrong URL fails here. NULL with err filled. */
pg_pool_t *pg_pool_new(const char *conninfo, int size, store_err_t *err);
/* Waits for a free slot (at most wait_ms), connecting it if needed. NULL with
 * e filled (STORE_UNAVAILABLE) when no connection can be had. */
PGconn *pg_pool_acquire(pg_pool_t *p, int wait_ms, store_err_t *e);
void pg_pool_release(pg_pool_t *p, PGconn *c);
/* After every connection was released. */
void pg_pool_free(pg_pool_t *p);
/* The connection string (borrowed). */
const char *pg_pool_conninfo(const pg_pool_t *p);

#endif
