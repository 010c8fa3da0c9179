/* Unit tests for metrics.c: percentiles from the log-bucketed histograms,
 * window expiry, error classes, in-flight, Retry-After and breaker admission,
 * provider health — all with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "metrics.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static const breaker_config_t bc = {.consecutive_failures = 2,
                                    .error_rate = 0.9,
                                    .min_requests = 100,
                                    .window_ms = 1000,
                                    .cooldown_ms = 1000,
                                    .half_open_probes = 1};

static int setup(void **state)
{
    fake_now = 1000000;
    metrics_config_t cfg = {.window_ms = 60000, .slot_ms = 10000, .now_ms = fake_clock};
    metrics_t *m = metrics_new(&cfg);
    *state = m;
    return m ? 0 : -1;
}

static int teardown(void **state)
{
    metrics_free(*state);
    return 0;
}

static void ok_attempt(metrics_dep_t *d, int64_t latency_ms)
{
    char why[128];
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    metrics_outcome_t o = {.cls = METRICS_OK,
                           .latency_us = latency_ms * 1000,
                           .ttft_us = latency_ms * 500,
                           .output_tokens = 10,
                           .retry_after_ms = -1};
    metrics_attempt_end(d, &bc, &o);
}

static void fail_attempt(metrics_dep_t *d, metrics_class_t c, int64_t retry_after_ms)
{
    char why[128];
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    metrics_outcome_t o = {.cls = c,
                           .latency_us = 1000,
                           .ttft_us = -1,
                           .retry_after_ms = retry_after_ms,
                           .error = "boom"};
    metrics_attempt_end(d, &bc, &o);
}

static void test_metrics_percentiles_within_bucket_width(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    assert_non_null(d);
    /* 1..100 ms: p50 ≈ 50, p90 ≈ 90, p99 ≈ 99 within a 25% bucket */
    for (int i = 1; i <= 100; i++)
        ok_attempt(d, i);
    metrics_snapshot_t s;
    assert_int_equal(metrics_snapshot_one(m, "p", "m", &s), 0);
    assert_true(s.latency_p50_ms > 40 && s.latency_p50_ms < 62);
    assert_true(s.latency_p90_ms > 72 && s.latency_p90_ms < 112);
    assert_true(s.latency_p99_ms > 80 && s.latency_p99_ms < 124);
    assert_true(s.ttft_p50_ms > 20 && s.ttft_p50_ms < 31);
    assert_int_equal(s.window_attempts, 100);
    assert_int_equal(s.window_by_class[METRICS_OK], 100);
    assert_true(s.success_rate == 1.0);
    assert_true(s.output_tokens_per_s > 0);
    assert_true(s.latency_ewma_ms > 80); /* recent samples weigh most */
}

static void test_metrics_window_expires_old_slots(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    for (int i = 0; i < 10; i++)
        ok_attempt(d, 1000);
    fake_now += 30000;
    for (int i = 0; i < 10; i++)
        ok_attempt(d, 10);
    metrics_snapshot_t s;
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.window_attempts, 20);
    assert_true(s.latency_p99_ms > 800);
    /* 60 s after the first batch it has left the window */
    fake_now += 30000;
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.window_attempts, 10);
    assert_true(s.latency_p99_ms < 13);
    assert_int_equal(s.total_attempts, 20);
    fake_now += 60000;
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.window_attempts, 0);
    assert_true(s.latency_p50_ms == 0);
}

static void test_metrics_live_window_counts_follow_records_and_expiry(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    metrics_live_t l;
    metrics_live(d, &bc, &l); /* caches the (empty) window of this epoch */
    assert_int_equal(l.results, 0);
    ok_attempt(d, 5);
    fail_attempt(d, METRICS_ERR_TIMEOUT, -1);
    metrics_live(d, &bc, &l);
    assert_int_equal(l.results, 2);
    assert_true(l.success_rate == 0.5);
    fake_now += 10000; /* next slot: the first two stay in the window */
    ok_attempt(d, 5);
    metrics_live(d, &bc, &l);
    assert_int_equal(l.results, 3);
    fake_now += 55000; /* the first slot leaves the 60 s window */
    metrics_live(d, &bc, &l);
    assert_int_equal(l.results, 1);
    assert_true(l.success_rate == 1.0);
}

static void test_metrics_error_classes_and_last_error(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    assert_int_equal(metrics_class_from_type("connect"), METRICS_ERR_CONNECT);
    assert_int_equal(metrics_class_from_type("rate_limit"), METRICS_ERR_RATE_LIMIT);
    assert_int_equal(metrics_class_from_type("auth"), METRICS_ERR_OTHER);
    ok_attempt(d, 5);
    fail_attempt(d, METRICS_ERR_OTHER, -1);
    fail_attempt(d, METRICS_ERR_SERVER, -1);
    metrics_snapshot_t s;
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.window_by_class[METRICS_ERR_SERVER], 1);
    assert_int_equal(s.window_by_class[METRICS_ERR_OTHER], 1);
    /* client errors do not count against the deployment */
    assert_true(s.success_rate > 0.49 && s.success_rate < 0.51);
    assert_string_equal(s.last_error, "server: boom");
    assert_true(s.last_error_unix_ms > 0);
}

static void test_metrics_in_flight_counts_started_attempts(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    char why[128];
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    metrics_live_t l;
    metrics_live(d, &bc, &l);
    assert_int_equal(l.in_flight, 2);
    metrics_attempt_abandon(d, &bc);
    metrics_live(d, &bc, &l);
    assert_int_equal(l.in_flight, 1);
    assert_true(l.latency_ms < 0); /* never measured */
}

static void test_metrics_retry_after_blocks_until_it_passes(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    fail_attempt(d, METRICS_ERR_RATE_LIMIT, 2000);
    char why[128];
    assert_false(metrics_attempt_start(d, &bc, why, sizeof(why)));
    assert_non_null(strstr(why, "retry-after"));
    metrics_live_t l;
    metrics_live(d, &bc, &l);
    assert_false(l.available);
    fake_now += 2000;
    metrics_live(d, &bc, &l);
    assert_true(l.available);
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    metrics_attempt_abandon(d, &bc);
}

static void test_metrics_breaker_opens_and_refuses_admission(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *d = metrics_dep(m, "p", "m");
    fail_attempt(d, METRICS_ERR_CONNECT, -1);
    fail_attempt(d, METRICS_ERR_CONNECT, -1);
    char why[128];
    assert_false(metrics_attempt_start(d, &bc, why, sizeof(why)));
    assert_non_null(strstr(why, "breaker open"));
    metrics_snapshot_t s;
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.breaker, BREAKER_OPEN);
    metrics_provider_snapshot_t ps;
    metrics_provider_snapshot(m, "p", &ps);
    assert_int_equal(ps.health, METRICS_HEALTH_DEGRADED);
    assert_non_null(strstr(ps.reason, "breaker open"));
    fake_now += 1000;
    assert_true(metrics_attempt_start(d, &bc, why, sizeof(why)));
    metrics_outcome_t o = {.cls = METRICS_OK, .latency_us = 1000, .ttft_us = -1};
    metrics_attempt_end(d, &bc, &o);
    metrics_snapshot_one(m, "p", "m", &s);
    assert_int_equal(s.breaker, BREAKER_CLOSED);
}

static void test_metrics_provider_probe_sets_health(void **state)
{
    metrics_t *m = *state;
    metrics_provider_snapshot_t ps;
    metrics_provider_snapshot(m, "x", &ps);
    assert_int_equal(ps.health, METRICS_HEALTH_UNKNOWN);
    metrics_provider_probe(m, "x", false, "connect: refused");
    metrics_provider_snapshot(m, "x", &ps);
    assert_int_equal(ps.health, METRICS_HEALTH_DOWN);
    assert_string_equal(ps.reason, "connect: refused");
    assert_string_equal(metrics_health_name(ps.health), "down");
    metrics_provider_probe(m, "x", true, "HTTP 200");
    metrics_provider_snapshot(m, "x", &ps);
    assert_int_equal(ps.health, METRICS_HEALTH_HEALTHY);
    assert_true(ps.since_unix_ms > 0);
}

typedef struct {
    int n;
    char names[4][64];
} seen_t;

static void collect(void *ud, const metrics_snapshot_t *s)
{
    seen_t *seen = ud;
    if (seen->n < 4)
        strcpy(seen->names[seen->n], s->provider);
    seen->n++;
}

static void test_metrics_registry_keyed_by_name_and_snapshot_all(void **state)
{
    metrics_t *m = *state;
    metrics_dep_t *a = metrics_dep(m, "a", "m");
    metrics_dep_t *b = metrics_dep(m, "b", "m");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(metrics_dep(m, "a", "m"), a);
    assert_ptr_equal(metrics_find(m, "b", "m"), b);
    assert_null(metrics_find(m, "c", "m"));
    seen_t seen = {0};
    metrics_snapshot_all(m, collect, &seen);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.names[0], "a");
    assert_string_equal(seen.names[1], "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_percentiles_within_bucket_width, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_window_expires_old_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_live_window_counts_follow_records_and_expiry,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_error_classes_and_last_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_in_flight_counts_started_attempts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_retry_after_blocks_until_it_passes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_breaker_opens_and_refuses_admission, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_provider_probe_sets_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_registry_keyed_by_name_and_snapshot_all, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
