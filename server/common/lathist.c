/* lathist: log-linear duration histogram. See lathist.h. */
#include "lathist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

size_t lathist_bucket(int64_t value_us)
{
    if (value_us < LATHIST_EXACT)
        return value_us < 0 ? 0 : (size_t)value_us;
    uint64_t v = (uint64_t)value_us;
    int e = 63 - __builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 6 */
    if (e >= LATHIST_MAX_EXP)
        return LATHIST_BUCKETS - 1;
    size_t sub = (size_t)((v >> (e - 5)) & (LATHIST_SUB - 1));
    return LATHIST_EXACT + (size_t)(e - 6) * LATHIST_SUB + sub;
}

void lathist_bucket_range(size_t bucket, int64_t *lo_us, int64_t *hi_us)
{
    if (bucket >= LATHIST_BUCKETS)
        bucket = LATHIST_BUCKETS - 1;
    if (bucket < LATHIST_EXACT) {
        *lo_us = (int64_t)bucket;
        *hi_us = (int64_t)bucket + 1;
        return;
    }
    size_t k = bucket - LATHIST_EXACT;
    int e = 6 + (int)(k / LATHIST_SUB);
    int64_t sub = (int64_t)(k % LATHIST_SUB);
    *lo_us = (LATHIST_SUB + sub) << (e - 5);
    *hi_us = *lo_us + ((int64_t)1 << (e - 5));
}

double lathist_bucket_value(size_t bucket)
{
    int64_t lo, hi;
    lathist_bucket_range(bucket, &lo, &hi);
    if (bucket < LATHIST_EXACT)
        return (double)lo; /* exact */
    return ((double)lo + (double)hi) / 2.0;
}

void lathist_add(lathist_t *h, int64_t value_us, uint64_t n)
{
    h->count[lathist_bucket(value_us)] += n;
    h->total += n;
}

void lathist_merge(lathist_t *into, const lathist_t *from)
{
    for (size_t i = 0; i < LATHIST_BUCKETS; i++)
        into->count[i] += from->count[i];
    into->total += from->total;
}

double lathist_quantile(const lathist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    if (!(q >= 0))
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LATHIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank)
            return lathist_bucket_value(i);
    }
    return lathist_bucket_value(LATHIST_BUCKETS - 1);
}

int lathist_add_sparse(lathist_t *h, const uint32_t *index, const uint64_t *count, size_t n,
                       char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (index[i] >= LATHIST_BUCKETS) {
            snprintf(err, errlen, "bucket[%zu]: expected an index below %d, got %u", i,
                     LATHIST_BUCKETS, index[i]);
            return -1;
        }
        if (i > 0 && index[i] <= index[i - 1]) {
            snprintf(err, errlen, "bucket[%zu]: indexes must be strictly ascending", i);
            return -1;
        }
        if (count[i] > ((uint64_t)1 << 50)) {
            snprintf(err, errlen, "count[%zu]: expected at most 2^50", i);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        h->count[index[i]] += count[i];
        h->total += count[i];
    }
    return 0;
}

size_t lathist_to_sparse(const lathist_t *h, uint32_t *index, uint64_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < LATHIST_BUCKETS; i++) {
        if (!h->count[i])
            continue;
        if (index)
            index[n] = (uint32_t)i;
        if (count)
            count[n] = h->count[i];
        n++;
    }
    return n;
}
