/* cp_work: a small pool of worker threads that run blocking work (PostgreSQL
 * transactions) handed over by completion-queue threads.
 *
 * Invariants: jobs run in submission order per worker, each exactly once;
 * cp_work_free runs every job already queued before joining, so a call
 * handed over is always finished.
 */
#ifndef LLMGW_CP_WORK_H
#define LLMGW_CP_WORK_H

typedef struct cp_work cp_work_t;
typedef void (*cp_work_fn)(void *arg);

/* NULL on failure. */
cp_work_t *cp_work_new(int n_threads);
/* 0, or -1 when out of memory or stopping (the job did not run). */
int cp_work_submit(cp_work_t *w, cp_work_fn fn, void *arg);
/* Drains the queue, joins the threads, frees. */
void cp_work_free(cp_work_t *w);

#endif
