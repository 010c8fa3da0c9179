/* pg_pool: fixed slots, a mutex and a condition variable. See pg_pool.h.
 *
 * Connecting happens outside the lock (it can take a while when the server
 * is away); the slot is marked busy first so no other thread takes it.
 */
#include "pg_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct {
    PGconn *conn; /* NULL: not connected */
    bool busy;
} pg_slot_t;

struct pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    int size;
    pg_slot_t *slots;
};

static void pg_silent_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *pg_connect(const char *conninfo, store_err_t *e)
{
    PGconn *c = PQconnectdb(conninfo);
    if (!c) {
        store_fail(e, STORE_UNAVAILABLE, "database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        store_fail(e, STORE_UNAVAILABLE, "database: cannot connect: %s", PQerrorMessage(c));
        size_t n = strlen(e->msg);
        while (n > 0 && e->msg[n - 1] == '\n')
            e->msg[--n] = '\0';
        PQfinish(c);
        return NULL;
    }
    /* Quiet NOTICEs (e.g. "relation already exists, skipping") stay off stderr. */
    PQsetNoticeProcessor(c, pg_silent_notice, NULL);
    if (store_prepare_all(c, e) < 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

pg_pool_t *pg_pool_new(const char *conninfo, int size, store_err_t *err)
{
    pg_pool_t *p = calloc(1, sizeof(*p));
    if (!p || size < 1) {
        store_fail(err, STORE_HARD, "pg_pool: out of memory or size < 1");
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->size = size;
    p->conninfo = strdup(conninfo);
    p->slots = calloc((size_t)size, sizeof(*p->slots));
    if (!p->conninfo || !p->slots) {
        store_fail(err, STORE_HARD, "pg_pool: out of memory");
        goto fail;
    }
    p->slots[0].conn = pg_connect(conninfo, err);
    if (!p->slots[0].conn)
        goto fail;
    return p;
fail:
    pg_pool_free(p);
    return NULL;
}

PGconn *pg_pool_acquire(pg_pool_t *p, int wait_ms, store_err_t *e)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pg_slot_t *slot = NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Prefer a connected slot, so a pool of N does not open N at once. */
        for (int i = 0; i < p->size && !slot; i++)
            if (!p->slots[i].busy && p->slots[i].conn)
                slot = &p->slots[i];
        for (int i = 0; i < p->size && !slot; i++)
            if (!p->slots[i].busy)
                slot = &p->slots[i];
        if (slot)
            break;
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            store_fail(e, STORE_UNAVAILABLE, "database: no free connection within %d ms", wait_ms);
            return NULL;
        }
    }
    slot->busy = true;
    pthread_mutex_unlock(&p->mu);

    if (slot->conn && PQstatus(slot->conn) != CONNECTION_OK) {
        PQfinish(slot->conn);
        slot->conn = NULL;
    }
    if (!slot->conn) {
        slot->conn = pg_connect(p->conninfo, e);
        if (!slot->conn) {
            pthread_mutex_lock(&p->mu);
            slot->busy = false;
            pthread_cond_signal(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        log_info("database connected", "slot=%d", (int)(slot - p->slots));
    }
    return slot->conn;
}

void pg_pool_release(pg_pool_t *p, PGconn *c)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++) {
        pg_slot_t *s = &p->slots[i];
        if (s->conn != c)
            continue;
        /* A connection left inside a transaction or broken is not reused. */
        bool broken = PQstatus(c) != CONNECTION_OK;
        if (broken || PQtransactionStatus(c) != PQTRANS_IDLE) {
            PQfinish(c);
            s->conn = NULL;
        }
        s->busy = false;
        /* A dead connection usually means a server restart: the idle ones
         * are dead too, so they reconnect on their next use instead of
         * failing one request each. */
        for (int j = 0; broken && j < p->size; j++) {
            if (!p->slots[j].busy && p->slots[j].conn) {
                PQfinish(p->slots[j].conn);
                p->slots[j].conn = NULL;
            }
        }
        break;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void pg_pool_free(pg_pool_t *p)
{
    if (!p)
        return;
    if (p->slots)
        for (int i = 0; i < p->size; i++)
            if (p->slots[i].conn)
                PQfinish(p->slots[i].conn);
    free(p->slots);
    free(p->conninfo);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const char *pg_pool_conninfo(const pg_pool_t *p)
{
    return p->conninfo;
}
