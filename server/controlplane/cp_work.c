/* cp_work: a mutex-protected FIFO and n threads. See cp_work.h. */
#include "cp_work.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct cp_job {
    struct cp_job *next;
    cp_work_fn fn;
    void *arg;
} cp_job_t;

struct cp_work {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cp_job_t *head, *tail;
    bool stopping;
    int n;
    pthread_t *threads;
};

static void *cp_work_main(void *arg)
{
    cp_work_t *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        cp_job_t *j = w->head;
        if (j) {
            w->head = j->next;
            if (!w->head)
                w->tail = NULL;
        }
        pthread_mutex_unlock(&w->mu);
        if (!j)
            return NULL; /* stopping and drained */
        j->fn(j->arg);
        free(j);
    }
}

cp_work_t *cp_work_new(int n_threads)
{
    cp_work_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    if (!w->threads)
        goto fail;
    for (; w->n < n_threads; w->n++)
        if (pthread_create(&w->threads[w->n], NULL, cp_work_main, w) != 0)
            goto fail;
    return w;
fail:
    cp_work_free(w);
    return NULL;
}

int cp_work_submit(cp_work_t *w, cp_work_fn fn, void *arg)
{
    cp_job_t *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return -1;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void cp_work_free(cp_work_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
