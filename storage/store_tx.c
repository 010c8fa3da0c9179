/* store_tx: BEGIN / callback / COMMIT with bounded retries. See store_tx.h. */
#include "store_tx.h"

#include <string.h>
#include <unistd.h>

#include "log.h"

#define STORE_TX_WAIT_MS 5000

static int store_simple(PGconn *c, const char *sql, store_err_t *e)
{
    /* Fixed SQL text with no parameters (transaction control only). */
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return 0;
    }
    store_fail(e, store_classify(r, c), "%s: %s", sql,
               r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    e->msg[strcspn(e->msg, "\n")] = '\0'; /* libpq's hint lines are dropped */
    PQclear(r);
    return -1;
}

/* *at_begin tells whether a failure happened at BEGIN, before anything ran:
 * only then is it certain that nothing was done. */
static int store_tx_run(PGconn *c, bool serializable, store_tx_fn fn, void *ctx, store_err_t *e,
                        bool *at_begin)
{
    const char *begin = serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                     : "BEGIN ISOLATION LEVEL READ COMMITTED";
    for (int attempt = 1;; attempt++) {
        store_err_t ignored;
        e->code = STORE_OK;
        e->msg[0] = '\0';
        *at_begin = true;
        if (store_simple(c, begin, e) < 0)
            return -1;
        *at_begin = false;
        if (fn(c, ctx, e) == 0 && store_simple(c, "COMMIT", e) == 0)
            return 0;
        if (PQtransactionStatus(c) != PQTRANS_IDLE)
            (void)store_simple(c, "ROLLBACK", &ignored);
        if (e->code != STORE_RETRY || attempt >= STORE_TX_MAX_ATTEMPTS)
            return -1;
        log_info("transaction retried", "attempt=%d cause=\"%s\"", attempt, e->msg);
        usleep((useconds_t)(attempt * 5000));
    }
}

int store_run_transaction(pg_pool_t *pool, bool serializable, store_tx_fn fn, void *ctx,
                          store_err_t *e)
{
    for (int round = 0;; round++) {
        bool at_begin = false;
        PGconn *c = pg_pool_acquire(pool, STORE_TX_WAIT_MS, e);
        if (!c)
            return -1;
        int rc = store_tx_run(c, serializable, fn, ctx, e, &at_begin);
        bool lost = rc < 0 && at_begin && PQstatus(c) != CONNECTION_OK;
        pg_pool_release(pool, c); /* closes a broken connection */
        /* A pooled connection the server dropped (a restart, an idle
         * timeout) is only found out by using it: when BEGIN itself failed
         * nothing ran, so one retry on a fresh connection is safe. */
        if (!lost || round > 0)
            return rc;
        log_info("database connection lost; reconnecting", "cause=\"%s\"", e->msg);
    }
}
