/* Unit tests for breaker.c: the closed → open → half-open → closed state
 * machine, driven with explicit times (no sleeps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "breaker.h"

static const breaker_config_t cfg = {.consecutive_failures = 3,
                                     .error_rate = 0.5,
                                     .min_requests = 10,
                                     .window_ms = 1000,
                                     .cooldown_ms = 500,
                                     .half_open_probes = 1};

static void fail_n(breaker_t *b, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        assert_true(breaker_acquire(b, &cfg, now));
        breaker_record(b, &cfg, BREAKER_FAILURE, now, "connect refused");
    }
}

static void test_breaker_opens_after_consecutive_failures(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    fail_n(&b, 2, 10);
    assert_int_equal(b.state, BREAKER_CLOSED);
    fail_n(&b, 1, 20);
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_non_null(strstr(b.reason, "3 consecutive failures"));
    assert_non_null(strstr(b.reason, "connect refused"));
    assert_false(breaker_available(&b, &cfg, 100));
    assert_false(breaker_acquire(&b, &cfg, 100));
}

static void test_breaker_success_resets_consecutive_count(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    fail_n(&b, 2, 10);
    breaker_record(&b, &cfg, BREAKER_SUCCESS, 11, NULL);
    fail_n(&b, 2, 12);
    assert_int_equal(b.state, BREAKER_CLOSED);
}

static void test_breaker_neutral_results_do_not_count(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    for (int i = 0; i < 20; i++)
        breaker_record(&b, &cfg, BREAKER_NEUTRAL, 1, NULL);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(b.consecutive, 0);
}

static void test_breaker_opens_on_error_rate_over_window(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    /* alternate: never 3 in a row, but half of the results fail */
    for (int i = 0; i < 5; i++) {
        breaker_record(&b, &cfg, BREAKER_FAILURE, 10, "HTTP 500");
        assert_int_equal(b.state, BREAKER_CLOSED);
        breaker_record(&b, &cfg, BREAKER_SUCCESS, 10, NULL);
    }
    breaker_record(&b, &cfg, BREAKER_FAILURE, 10, "HTTP 500");
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_non_null(strstr(b.reason, "error rate 6/11"));
}

static void test_breaker_error_rate_window_expires(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    for (int i = 0; i < 5; i++) {
        breaker_record(&b, &cfg, BREAKER_FAILURE, 10, NULL);
        breaker_record(&b, &cfg, BREAKER_SUCCESS, 10, NULL);
    }
    /* the window started at 0; at 1000 it starts over with this result */
    breaker_record(&b, &cfg, BREAKER_FAILURE, 1000, NULL);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(b.window_results, 1);
}

static void test_breaker_half_opens_after_cooldown_and_closes_on_success(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    fail_n(&b, 3, 100);
    assert_false(breaker_available(&b, &cfg, 599));
    assert_true(breaker_available(&b, &cfg, 600));
    assert_true(breaker_acquire(&b, &cfg, 600));
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    /* one probe at a time */
    assert_false(breaker_available(&b, &cfg, 601));
    assert_false(breaker_acquire(&b, &cfg, 601));
    breaker_record(&b, &cfg, BREAKER_SUCCESS, 650, NULL);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_string_equal(b.reason, "");
    assert_true(breaker_acquire(&b, &cfg, 651));
}

static void test_breaker_half_open_failure_reopens(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    fail_n(&b, 3, 0);
    assert_true(breaker_acquire(&b, &cfg, 500));
    breaker_record(&b, &cfg, BREAKER_FAILURE, 520, "timeout");
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_non_null(strstr(b.reason, "half-open probe failed"));
    /* the cool-down starts over from the failed probe */
    assert_false(breaker_available(&b, &cfg, 1000));
    assert_true(breaker_available(&b, &cfg, 1020));
}

static void test_breaker_half_open_neutral_frees_the_probe_slot(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    fail_n(&b, 3, 0);
    assert_true(breaker_acquire(&b, &cfg, 500));
    breaker_record(&b, &cfg, BREAKER_NEUTRAL, 510, NULL);
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    assert_true(breaker_acquire(&b, &cfg, 511));
}

static void test_breaker_health_probe_forces_open_and_half_open(void **state)
{
    breaker_t b;
    breaker_init(&b, 0);
    breaker_force_open(&b, 10, "HTTP 503");
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_non_null(strstr(b.reason, "health probe failed: HTTP 503"));
    breaker_probe_ok(&b, 20);
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    assert_true(breaker_acquire(&b, &cfg, 21));
    assert_string_equal(breaker_state_name(b.state), "half_open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_breaker_opens_after_consecutive_failures),
        cmocka_unit_test(test_breaker_success_resets_consecutive_count),
        cmocka_unit_test(test_breaker_neutral_results_do_not_count),
        cmocka_unit_test(test_breaker_opens_on_error_rate_over_window),
        cmocka_unit_test(test_breaker_error_rate_window_expires),
        cmocka_unit_test(test_breaker_half_opens_after_cooldown_and_closes_on_success),
        cmocka_unit_test(test_breaker_half_open_failure_reopens),
        cmocka_unit_test(test_breaker_half_open_neutral_frees_the_probe_slot),
        cmocka_unit_test(test_breaker_health_probe_forces_open_and_half_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
