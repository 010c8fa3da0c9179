/* cp_console_events: a seq counter under one mutex and condition variable.
 * See cp_console_events.h. */
#include "cp_console_events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct cp_console_events {
    pthread_mutex_t mu; /* seq, version, stopped */
    pthread_cond_t cv;  /* signalled on publish and stop */
    uint64_t seq;
    int64_t version;
    bool stopped;
};

cp_console_events_t *cp_console_events_new(void)
{
    cp_console_events_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    return e;
}

void cp_console_events_free(cp_console_events_t *e)
{
    if (!e)
        return;
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

void cp_console_events_publish(cp_console_events_t *e, int64_t table_version)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->seq++;
    e->version = table_version;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void cp_console_events_now(cp_console_events_t *e, uint64_t *seq, int64_t *table_version)
{
    pthread_mutex_lock(&e->mu);
    *seq = e->seq;
    *table_version = e->version;
    pthread_mutex_unlock(&e->mu);
}

int cp_console_events_wait(cp_console_events_t *e, uint64_t *seq, int64_t *table_version,
                           int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    while (!e->stopped && e->seq == *seq)
        if (pthread_cond_timedwait(&e->cv, &e->mu, &until) != 0)
            break; /* ETIMEDOUT */
    if (e->stopped) {
        rc = -1;
    } else if (e->seq != *seq) {
        *seq = e->seq;
        *table_version = e->version;
        rc = 1;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void cp_console_events_stop(cp_console_events_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopped = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}
