/* Unit tests for budget_period (UTC period boundaries) and budget_leases'
 * lease sizing: the pure parts of budgets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "budget_leases.h"
#include "budget_period.h"

#define DAY 86400000LL
/* 2026-12-03T13:45:10.123Z, a Thursday */
#define NOW 1796305510123LL
#define DEC1 1796083200000LL /* 2026-12-01T00:00:00Z */

static void test_budget_period_daily_is_the_utc_day(void **state)
{
    (void)state;
    int64_t s, e;
    assert_int_equal(budget_period_bounds("daily", NOW, &s, &e), 0);
    assert_int_equal(s, DEC1 + 2 * DAY);
    assert_int_equal(e, DEC1 + 3 * DAY);
    /* The boundary itself belongs to the new day. */
    assert_int_equal(budget_period_bounds("daily", DEC1, &s, &e), 0);
    assert_int_equal(s, DEC1);
    assert_int_equal(budget_period_bounds("daily", DEC1 - 1, &s, &e), 0);
    assert_int_equal(e, DEC1);
}

static void test_budget_period_weekly_starts_monday(void **state)
{
    (void)state;
    int64_t s, e;
    assert_int_equal(budget_period_bounds("weekly", NOW, &s, &e), 0);
    assert_int_equal(s, DEC1 - 1 * DAY); /* Monday 2026-11-30 */
    assert_int_equal(e, s + 7 * DAY);
    /* A Monday starts its own week. */
    assert_int_equal(budget_period_bounds("weekly", 4 * DAY, &s, &e), 0);
    assert_int_equal(s, 4 * DAY); /* 1970-01-05, a Monday */
}

static void test_budget_period_monthly_handles_year_and_leap_ends(void **state)
{
    (void)state;
    int64_t s, e;
    assert_int_equal(budget_period_bounds("monthly", NOW, &s, &e), 0);
    assert_int_equal(s, DEC1);
    assert_int_equal(e, DEC1 + 31 * DAY); /* 2027-01-01 */
    /* 2028-02-29 (leap): February 2028 has 29 days. */
    int64_t feb29 = 1835395200000LL;
    assert_int_equal(budget_period_bounds("monthly", feb29 + 5000, &s, &e), 0);
    assert_int_equal(s, feb29 - 28 * DAY);
    assert_int_equal(e, feb29 + DAY);
}

static void test_budget_period_total_never_ends(void **state)
{
    (void)state;
    int64_t s = -1, e = -1;
    assert_int_equal(budget_period_bounds("total", NOW, &s, &e), 0);
    assert_int_equal(s, 0);
    assert_int_equal(e, 0);
}

static void test_budget_period_refuses_bad_input(void **state)
{
    (void)state;
    int64_t s, e;
    assert_int_equal(budget_period_bounds("yearly", NOW, &s, &e), -1);
    assert_int_equal(budget_period_bounds(NULL, NOW, &s, &e), -1);
    assert_int_equal(budget_period_bounds("daily", -1, &s, &e), -1);
    assert_int_equal(budget_period_bounds("daily", 253402300800000LL, &s, &e), -1);
    assert_false(budget_period_valid("Daily"));
    assert_true(budget_period_valid("total"));
}

static void test_budget_leases_size_is_a_slice_of_the_limit(void **state)
{
    (void)state;
    /* Plenty left: 5% of the limit. */
    assert_true(budget_leases_size(100, 100, 1) == 5.0);
    /* Three holders and 20 left: 20 / 6 would be more than 5, so 5. */
    assert_true(budget_leases_size(100, 20, 3) == 3.33333333);
    /* Nothing or less than nothing left: no grant. */
    assert_true(budget_leases_size(100, 0, 1) == 0);
    assert_true(budget_leases_size(100, -3, 1) == 0);
    assert_true(budget_leases_size(0, 10, 1) == 0);
}

static void test_budget_leases_size_shrinks_near_exhaustion(void **state)
{
    (void)state;
    double prev = 1e9;
    for (double left = 100; left > 0.2; left /= 2) {
        double g = budget_leases_size(100, left, 2);
        assert_true(g <= prev);
        assert_true(g <= left);
        assert_true(g > 0);
        prev = g;
    }
    /* The last crumbs (under 0.1% of the limit) are granted whole. */
    assert_true(budget_leases_size(100, 0.05, 4) == 0.05);
}

static void test_budget_leases_grants_never_exceed_the_limit(void **state)
{
    (void)state;
    /* Three nodes spending every grant in full until no grant is left. */
    double limit = 7.0, left = limit, total = 0;
    int rounds = 0;
    for (;; rounds++) {
        double g = budget_leases_size(limit, left, 3);
        if (g <= 0)
            break;
        total += g;
        left -= g;
        assert_true(rounds < 100000);
    }
    assert_true(total <= limit + 1e-9);
    assert_true(total >= limit - 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_period_daily_is_the_utc_day),
        cmocka_unit_test(test_budget_period_weekly_starts_monday),
        cmocka_unit_test(test_budget_period_monthly_handles_year_and_leap_ends),
        cmocka_unit_test(test_budget_period_total_never_ends),
        cmocka_unit_test(test_budget_period_refuses_bad_input),
        cmocka_unit_test(test_budget_leases_size_is_a_slice_of_the_limit),
        cmocka_unit_test(test_budget_leases_size_shrinks_near_exhaustion),
        cmocka_unit_test(test_budget_leases_grants_never_exceed_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
