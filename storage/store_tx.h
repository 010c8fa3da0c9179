/* store_tx: the one way storage changes are made — an explicit transaction
 * around a callback, committed or rolled back as a whole.
 *
 * Serialization failures and deadlocks (SQLSTATE 40001 / 40P01) are retried
 * up to STORE_TX_MAX_ATTEMPTS times with the callback run afresh, so the
 * callback must not keep effects outside the database between attempts. A
 * lost connection is reported (STORE_UNAVAILABLE) and the pool reconnects on
 * the next acquire.
 */
#ifndef LLMGW_STORE_TX_H
#define LLMGW_STORE_TX_H

#include "pg_pool.h"
#include "store.h"

#define STORE_TX_MAX_ATTEMPTS 4

/* 0 to commit, -1 (with e filled) to roll back. */
typedef int (*store_tx_fn)(PGconn *c, void *ctx, store_err_t *e);

/* 0 when committed; -1 with e filled. `serializable` picks SERIALIZABLE
 * isolation instead of READ COMMITTED. */
int store_run_transaction(pg_pool_t *pool, bool serializable, store_tx_fn fn, void *ctx,
                          store_err_t *e);

#endif
