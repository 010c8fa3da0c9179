/* eval_run: runs every prompt against every candidate through the data
 * plane's ChatService.Complete with a bounded pool of threads, then scores
 * the answers (the judge calls go through the same pool, one after each
 * judged answer).
 *
 * Thread model: `concurrency` workers, each with its own connection; they
 * take the next job index under one mutex, write only their own job's
 * result slot, and print (first error per candidate, the progress line)
 * under the same mutex. Agreement scores are computed after every worker
 * has joined, on the main thread.
 */
#ifndef LLMGW_EVAL_RUN_H
#define LLMGW_EVAL_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "eval_prompts.h"

#define EVAL_CONCURRENCY_MAX 64
#define EVAL_CANDIDATES_MAX 32
#define EVAL_ANSWER_MAX (1u << 20) /* bytes of an answer kept for scoring */

typedef struct {
    char *answer;      /* owned; NULL when the call failed */
    bool error;        /* the call failed */
    bool judge_failed; /* judged answer, but the judge's call or reply was bad (score 0) */
    double latency_ms; /* client wall time of the call */
    long long tokens;  /* usage.total_tokens */
    double cost_usd;
    double score; /* 0..1 */
} eval_result_t;

typedef struct {
    const eval_prompts_t *prompts;
    const char *const *candidates;
    size_t n_candidates;
    const char *target;
    const char *key;   /* NULL: no authorization */
    const char *judge; /* NULL: no judge (then no prompt may carry a rubric) */
    int timeout_ms;
    int concurrency;
    bool progress;          /* draw the progress line on stderr */
    eval_result_t *results; /* [prompt * n_candidates + candidate], set by eval_run */
} eval_run_t;

/* Runs and scores everything. 0, or -1 after printing when the pool could
 * not be started (no memory, no thread). Failed calls are results with
 * error set, not a failure of the run. */
int eval_run(eval_run_t *r);
void eval_run_free(eval_run_t *r);

#endif
