/* consistency: a per-deployment consistency score — how often a deployment's
 * answer agreed with the answer its ensembles chose. Ensembles write it;
 * routing (the quality strategy) and the read APIs may read it.
 *
 * Invariants: entries are keyed by provider and model names (not table
 * pointers), so they survive table reloads; at most CONSISTENCY_MAX entries
 * (later deployments are not tracked). The score is an exponentially weighted
 * mean (alpha CONSISTENCY_ALPHA) of 1 (agreed) / 0 (disagreed), starting at
 * the first sample.
 *
 * Thread model: every function is safe from any thread (one mutex).
 */
#ifndef LLMGW_CONSISTENCY_H
#define LLMGW_CONSISTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSISTENCY_MAX 4096
#define CONSISTENCY_ALPHA 0.1

typedef struct consistency consistency_t;

typedef struct {
    double score;     /* 0..1, the weighted mean of recent agreements */
    uint64_t samples; /* ensemble answers seen */
    uint64_t agreed;  /* of which agreed with the choice */
} consistency_stat_t;

/* NULL when out of memory. */
consistency_t *consistency_new(void);
void consistency_free(consistency_t *c);
/* One ensemble answer of provider/model: agreed with the chosen one or not. */
void consistency_record(consistency_t *c, const char *provider, const char *model, bool agreed);
/* 0 with *out filled, or -1 when provider/model has no sample. */
int consistency_get(consistency_t *c, const char *provider, const char *model,
                    consistency_stat_t *out);

#endif
