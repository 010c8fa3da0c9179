/* Unit tests for admin/eval_stats.c: nearest-rank percentiles and the
 * --gate parser (every metric and operator, each bad term named by its
 * position) and evaluator (the failed terms listed). The module's source is
 * compiled in (admin/ builds one executable, no library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/eval_stats.c"

static void test_eval_percentile_nearest_rank(void **state)
{
    (void)state;
    double v[] = {50, 10, 40, 20, 30};
    assert_true(eval_percentile(v, 5, 50) == 30);
    assert_true(eval_percentile(v, 5, 95) == 50);
    assert_true(eval_percentile(v, 5, 0) == 10);
    assert_true(eval_percentile(v, 5, 100) == 50);
    assert_true(eval_percentile(v, 5, 20) == 10);
    assert_true(eval_percentile(v, 5, 21) == 20);
    double one[] = {7};
    assert_true(eval_percentile(one, 1, 95) == 7);
    assert_true(eval_percentile(NULL, 0, 50) == 0);
    double h[100];
    for (int i = 0; i < 100; i++)
        h[i] = 100 - i;
    assert_true(eval_percentile(h, 100, 95) == 95);
    assert_true(eval_percentile(h, 100, 50) == 50);
}

static void test_eval_gate_parse_all_metrics_and_ops(void **state)
{
    (void)state;
    eval_gate_t g;
    char err[256];
    assert_int_equal(eval_gate_parse("quality>=0.8, p95_ms <= 2000,cost_per_1k<0.5,"
                                     "p50_ms>1,error_rate<=0",
                                     &g, err, sizeof(err)),
                     0);
    assert_int_equal(g.n, 5);
    assert_int_equal(g.terms[0].metric, 0);
    assert_int_equal(g.terms[0].op, 0);
    assert_true(g.terms[0].value == 0.8);
    assert_int_equal(g.terms[1].metric, 2);
    assert_int_equal(g.terms[1].op, 1);
    assert_int_equal(g.terms[2].op, 3);
    assert_int_equal(g.terms[3].op, 2);
    assert_int_equal(g.terms[4].metric, 4);
}

static void gate_refused(const char *text, const char *want)
{
    eval_gate_t g;
    char err[256] = "";
    assert_int_equal(eval_gate_parse(text, &g, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("gate '%s': '%s' does not contain '%s'", text, err, want);
}

static void test_eval_gate_parse_names_bad_terms(void **state)
{
    (void)state;
    gate_refused("", "--gate: empty");
    gate_refused("speed>=1", "term 1 'speed>=1': unknown metric");
    gate_refused("quality>=1,latency<5", "term 2 'latency<5': unknown metric");
    gate_refused("quality=1", "term 1 'quality=1': expected an operator");
    gate_refused("quality>=", "term 1 'quality>=': expected a number");
    gate_refused("quality>=x", "expected a number");
    gate_refused("quality>=1x", "expected a number");
    gate_refused("quality>=1 2", "expected a number");
    gate_refused("quality>=nan", "expected a number");
    gate_refused("quality>=inf", "expected a number");
    gate_refused("quality>=1,", "term 2 '': unknown metric");
    gate_refused("quality>=>1", "expected a number");
    char many[512] = "quality>=0";
    for (int i = 0; i < EVAL_GATE_TERMS_MAX; i++)
        strcat(many, ",quality>=0");
    gate_refused(many, "more than 16 terms");
}

static void test_eval_gate_check_lists_failures(void **state)
{
    (void)state;
    eval_gate_t g;
    char err[256], why[256];
    assert_int_equal(
        eval_gate_parse("quality>=0.8,p95_ms<=2000,cost_per_1k<0.5", &g, err, sizeof(err)), 0);
    eval_metrics_t good = {.quality = 0.8, .p95_ms = 2000, .cost_per_1k = 0.4};
    assert_int_equal(eval_gate_check(&g, &good, why, sizeof(why)), 0);
    assert_string_equal(why, "");
    eval_metrics_t bad = {.quality = 0.5, .p95_ms = 2500, .cost_per_1k = 0.5};
    assert_int_equal(eval_gate_check(&g, &bad, why, sizeof(why)), 1);
    assert_string_equal(why, "quality=0.5 (needs >= 0.8), p95_ms=2500 (needs <= 2000), "
                             "cost_per_1k=0.5 (needs < 0.5)");
    assert_int_equal(eval_gate_parse("p50_ms>10,error_rate<0.1", &g, err, sizeof(err)), 0);
    eval_metrics_t m = {.p50_ms = 10, .error_rate = 0.0};
    assert_int_equal(eval_gate_check(&g, &m, why, sizeof(why)), 1);
    assert_string_equal(why, "p50_ms=10 (needs > 10)");
    char tiny[8];
    assert_int_equal(eval_gate_check(&g, &m, tiny, sizeof(tiny)), 1);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_percentile_nearest_rank),
        cmocka_unit_test(test_eval_gate_parse_all_metrics_and_ops),
        cmocka_unit_test(test_eval_gate_parse_names_bad_terms),
        cmocka_unit_test(test_eval_gate_check_lists_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
