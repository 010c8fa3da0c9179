/* lathist: a compact log-linear histogram of durations (microseconds) that
 * merges by adding bucket counts, so percentiles of a fleet come from the
 * merged histogram, never from averaging per-node percentiles.
 *
 * Buckets: values 0..63 µs have a bucket each (exact); above, every doubling
 * [2^e, 2^(e+1)) is cut into 32 equal sub-buckets. A percentile is reported
 * as its bucket's midpoint, so its relative error is at most
 * LATHIST_REL_ERROR (1/64, about 1.6 %) of the true sample value; values of
 * 2^40 µs (about 12.7 days) and more land in the last bucket.
 *
 * Invariants: counts only grow (lathist_add / lathist_merge); the total is
 * the sum of the buckets. A lathist_t is plain memory (no allocation):
 * LATHIST_INIT or memset 0 makes an empty one. Not thread-safe: the owner
 * locks.
 *
 * Wire form (lathist_sparse_*): the non-zero buckets as parallel arrays of
 * indexes (ascending) and counts — what snapshots carry and what the control
 * plane stores.
 */
#ifndef LLMGW_LATHIST_H
#define LLMGW_LATHIST_H

#include <stddef.h>
#include <stdint.h>

#define LATHIST_EXACT 64   /* values below have their own bucket */
#define LATHIST_SUB 32     /* sub-buckets per doubling above */
#define LATHIST_MAX_EXP 40 /* 2^40 µs and above: the last bucket */
#define LATHIST_BUCKETS (LATHIST_EXACT + (LATHIST_MAX_EXP - 6) * LATHIST_SUB)
#define LATHIST_REL_ERROR (1.0 / 64.0)

typedef struct {
    uint64_t count[LATHIST_BUCKETS];
    uint64_t total;
} lathist_t;

#define LATHIST_INIT                                                                               \
    {                                                                                              \
        {0}, 0                                                                                     \
    }

/* The bucket of a value (negative counts as 0). */
size_t lathist_bucket(int64_t value_us);
/* The bucket's range [lo, hi) and the value reported for it (midpoint). */
void lathist_bucket_range(size_t bucket, int64_t *lo_us, int64_t *hi_us);
double lathist_bucket_value(size_t bucket);

void lathist_add(lathist_t *h, int64_t value_us, uint64_t n);
void lathist_merge(lathist_t *into, const lathist_t *from);
/* The q-quantile (0 <= q <= 1) in µs: the value of the bucket holding the
 * ceil(q * total)-th smallest sample (at least the first); 0 when empty. */
double lathist_quantile(const lathist_t *h, double q);

/* Adds n sparse entries. 0, or -1 with err naming the entry when an index is
 * out of range or the indexes are not strictly ascending (nothing is added
 * then). */
int lathist_add_sparse(lathist_t *h, const uint32_t *index, const uint64_t *count, size_t n,
                       char *err, size_t errlen);
/* The non-zero buckets of h: how many there are (at most LATHIST_BUCKETS);
 * index/count (each with room for LATHIST_BUCKETS entries, or NULL to count
 * only) are filled in ascending order. */
size_t lathist_to_sparse(const lathist_t *h, uint32_t *index, uint64_t *count);

#endif
