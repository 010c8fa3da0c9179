/* Unit tests for lathist.c: bucket boundaries, the stated percentile error
 * bound over a wide range of values, merging equals recording everything in
 * one histogram, and the sparse wire form with its bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lathist.h"

static void test_lathist_buckets_are_contiguous_and_cover_values(void **state)
{
    int64_t prev_hi = 0;
    for (size_t b = 0; b < LATHIST_BUCKETS; b++) {
        int64_t lo, hi;
        lathist_bucket_range(b, &lo, &hi);
        assert_int_equal(lo, prev_hi); /* no gap, no overlap */
        assert_true(hi > lo);
        assert_int_equal(lathist_bucket(lo), b);
        assert_int_equal(lathist_bucket(hi - 1), b);
        prev_hi = hi;
    }
    assert_int_equal(prev_hi, (int64_t)1 << LATHIST_MAX_EXP);
    assert_int_equal(lathist_bucket(-5), 0);
    assert_int_equal(lathist_bucket(63), 63);
    assert_int_equal(lathist_bucket(64), 64);
    assert_int_equal(lathist_bucket(INT64_MAX), LATHIST_BUCKETS - 1);
}

static void test_lathist_bucket_value_within_stated_error(void **state)
{
    /* Every value from 1 µs to 2^40 µs (sampled) is reported within 1/64. */
    for (int64_t v = 1; v < ((int64_t)1 << LATHIST_MAX_EXP); v += 1 + v / 37) {
        double got = lathist_bucket_value(lathist_bucket(v));
        double rel = (got - (double)v) / (double)v;
        if (rel < 0)
            rel = -rel;
        if (rel > LATHIST_REL_ERROR)
            fail_msg("value %lld reported as %.1f (error %.4f > %.4f)", (long long)v, got, rel,
                     LATHIST_REL_ERROR);
    }
}

static void test_lathist_quantiles_of_known_samples(void **state)
{
    lathist_t *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    assert_true(lathist_quantile(h, 0.5) == 0); /* empty */
    /* 1..1000 ms: p50 is 500 ms, p99 990 ms, p100 1000 ms, within the error. */
    for (int64_t ms = 1; ms <= 1000; ms++)
        lathist_add(h, ms * 1000, 1);
    assert_int_equal(h->total, 1000);
    struct {
        double q, want_us;
    } cases[] = {{0.5, 500000}, {0.9, 900000}, {0.99, 990000}, {1.0, 1000000}, {0, 1000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = lathist_quantile(h, cases[i].q);
        double rel = (got - cases[i].want_us) / cases[i].want_us;
        if (rel < 0)
            rel = -rel;
        if (rel > LATHIST_REL_ERROR)
            fail_msg("q=%.2f: got %.0f µs, want %.0f (error %.4f)", cases[i].q, got,
                     cases[i].want_us, rel);
    }
    /* Out-of-range q is clamped. */
    assert_true(lathist_quantile(h, 2.0) == lathist_quantile(h, 1.0));
    assert_true(lathist_quantile(h, -1.0) == lathist_quantile(h, 0.0));
    free(h);
}

static void test_lathist_merge_equals_one_histogram(void **state)
{
    lathist_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
              *all = calloc(1, sizeof(*all));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(all);
    /* Two "nodes" with different latency: a fast, b slow. Merged p50 sits
     * between, which averaging per-node p50s would not give for skewed counts. */
    for (int i = 0; i < 900; i++) {
        lathist_add(a, 10000 + i, 1);
        lathist_add(all, 10000 + i, 1);
    }
    for (int i = 0; i < 100; i++) {
        lathist_add(b, 500000 + i * 10, 1);
        lathist_add(all, 500000 + i * 10, 1);
    }
    lathist_merge(a, b);
    assert_int_equal(a->total, 1000);
    assert_memory_equal(a->count, all->count, sizeof(a->count));
    assert_true(lathist_quantile(a, 0.5) < 11000);   /* the merged median is a fast one */
    assert_true(lathist_quantile(a, 0.95) > 490000); /* the tail is b's */
    free(a);
    free(b);
    free(all);
}

static void test_lathist_sparse_round_trip(void **state)
{
    lathist_t *h = calloc(1, sizeof(*h)), *back = calloc(1, sizeof(*back));
    uint32_t *idx = calloc(LATHIST_BUCKETS, sizeof(*idx));
    uint64_t *cnt = calloc(LATHIST_BUCKETS, sizeof(*cnt));
    char err[128];
    assert_non_null(h);
    assert_non_null(back);
    assert_non_null(idx);
    assert_non_null(cnt);
    lathist_add(h, 5, 3);
    lathist_add(h, 250000, 2);
    lathist_add(h, 7, 1);
    size_t n = lathist_to_sparse(h, idx, cnt);
    assert_int_equal(n, 3);
    assert_int_equal(lathist_to_sparse(h, NULL, NULL), 3);
    assert_int_equal(idx[0], 5);
    assert_int_equal(cnt[0], 3);
    assert_int_equal(idx[1], 7);
    assert_int_equal(lathist_add_sparse(back, idx, cnt, n, err, sizeof(err)), 0);
    assert_memory_equal(h, back, sizeof(*h));
    free(h);
    free(back);
    free(idx);
    free(cnt);
}

static void test_lathist_sparse_bad_input_adds_nothing(void **state)
{
    lathist_t *h = calloc(1, sizeof(*h));
    char err[128] = "";
    assert_non_null(h);
    uint32_t out_of_range[] = {3, LATHIST_BUCKETS};
    uint64_t c2[] = {1, 1};
    assert_int_equal(lathist_add_sparse(h, out_of_range, c2, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bucket[1]: expected an index below"));
    assert_int_equal(h->total, 0);
    uint32_t unsorted[] = {9, 4};
    assert_int_equal(lathist_add_sparse(h, unsorted, c2, 2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bucket[1]: indexes must be strictly ascending"));
    uint32_t dup[] = {4, 4};
    assert_int_equal(lathist_add_sparse(h, dup, c2, 2, err, sizeof(err)), -1);
    uint32_t ok[] = {4};
    uint64_t huge[] = {((uint64_t)1 << 50) + 1};
    assert_int_equal(lathist_add_sparse(h, ok, huge, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "count[0]"));
    assert_int_equal(h->total, 0);
    assert_int_equal(lathist_to_sparse(h, NULL, NULL), 0);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lathist_buckets_are_contiguous_and_cover_values),
        cmocka_unit_test(test_lathist_bucket_value_within_stated_error),
        cmocka_unit_test(test_lathist_quantiles_of_known_samples),
        cmocka_unit_test(test_lathist_merge_equals_one_histogram),
        cmocka_unit_test(test_lathist_sparse_round_trip),
        cmocka_unit_test(test_lathist_sparse_bad_input_adds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
