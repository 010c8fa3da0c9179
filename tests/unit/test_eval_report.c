/* Unit tests for admin/eval_report.c: per-candidate figures from a run's
 * results (errors score 0 and are left out of the latency percentiles),
 * the ranking (quality, then p95, then cost, then command-line order), the
 * gate marks, and the CSV (RFC 4180 quoting) and JSON writers. The modules'
 * sources are compiled in (admin/ builds one executable, no library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/eval_report.c"
#include "../../admin/eval_stats.c"

static const char *const cands[] = {"slow", "bad", "fast", "quo\"ted"};

/* 2 prompts x 4 candidates: slow and fast right, bad wrong, quo"ted right
 * once and failed once. */
static void make_run(eval_run_t *r, eval_prompts_t *ps, eval_prompt_t items[2],
                     eval_result_t res[8])
{
    memset(items, 0, 2 * sizeof(*items));
    items[0].id = "a";
    items[1].id = "b";
    ps->items = items;
    ps->n = 2;
    memset(r, 0, sizeof(*r));
    r->prompts = ps;
    r->candidates = cands;
    r->n_candidates = 4;
    r->results = res;
    memset(res, 0, 8 * sizeof(*res));
    for (size_t p = 0; p < 2; p++) {
        res[p * 4 + 0] =
            (eval_result_t){.score = 1, .latency_ms = 400 + (double)p, .cost_usd = 0.001};
        res[p * 4 + 1] = (eval_result_t){.score = 0, .latency_ms = 1, .cost_usd = 0.1, .tokens = 5};
        res[p * 4 + 2] =
            (eval_result_t){.score = 1, .latency_ms = 10 + (double)p, .cost_usd = 0.001};
    }
    res[3] = (eval_result_t){.score = 1, .latency_ms = 20};
    res[7] = (eval_result_t){.error = true, .latency_ms = 9000};
}

static void test_eval_report_figures_and_rank(void **state)
{
    (void)state;
    eval_run_t r;
    eval_prompts_t ps;
    eval_prompt_t items[2];
    eval_result_t res[8];
    eval_summary_t s[4];
    make_run(&r, &ps, items, res);
    assert_int_equal(eval_report_summarize(&r, s), 0);
    assert_true(s[2].m.quality == 1.0);
    assert_true(s[2].m.p50_ms == 10 && s[2].m.p95_ms == 11);
    assert_int_equal(s[2].rank, 1);
    assert_int_equal(s[0].rank, 2);
    assert_int_equal(s[3].rank, 3);
    assert_int_equal(s[1].rank, 4);
    assert_int_equal(s[3].errors, 1);
    assert_true(s[3].m.error_rate == 0.5);
    assert_true(s[3].m.quality == 0.5);
    assert_true(s[3].m.p95_ms == 20); /* the failed call's 9000 ms is not a latency */
    assert_true(s[1].cost_usd > 0.1999 && s[1].cost_usd < 0.2001);
    assert_true(s[1].m.cost_per_1k > 99.99 && s[1].m.cost_per_1k < 100.01);
    assert_int_equal(s[1].tokens, 10);
}

static void test_eval_report_ties_keep_command_line_order(void **state)
{
    (void)state;
    eval_run_t r;
    eval_prompts_t ps;
    eval_prompt_t items[2];
    eval_result_t res[8];
    eval_summary_t s[4];
    make_run(&r, &ps, items, res);
    for (size_t i = 0; i < 8; i++)
        res[i] = (eval_result_t){.score = 1, .latency_ms = 5};
    assert_int_equal(eval_report_summarize(&r, s), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s[i].rank, i + 1);
}

static char *capture(int (*write_fn)(FILE *, const eval_run_t *, const eval_summary_t *, size_t),
                     const eval_run_t *r, const eval_summary_t *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(write_fn(f, r, s, 4), 0);
    fclose(f);
    return text;
}

static int csv_fn(FILE *f, const eval_run_t *r, const eval_summary_t *s, size_t n)
{
    (void)r;
    return eval_report_csv(f, s, n);
}

static int json_fn(FILE *f, const eval_run_t *r, const eval_summary_t *s, size_t n)
{
    (void)n;
    return eval_report_json(f, r, s);
}

static void test_eval_report_gate_csv_json(void **state)
{
    (void)state;
    eval_run_t r;
    eval_prompts_t ps;
    eval_prompt_t items[2];
    eval_result_t res[8];
    eval_summary_t s[4];
    eval_gate_t g;
    char err[128];
    make_run(&r, &ps, items, res);
    assert_int_equal(eval_report_summarize(&r, s), 0);
    assert_int_equal(eval_gate_parse("quality>=0.8,p95_ms<=100", &g, err, sizeof(err)), 0);
    assert_int_equal(eval_report_gate(&g, s, 4), 3);
    assert_true(s[2].gate_ok);
    assert_string_equal(s[0].why, "p95_ms=401 (needs <= 100)");

    char *csv = capture(csv_fn, &r, s);
    const char *want_head = "rank,candidate,requests,errors,quality,p50_ms,p95_ms,error_rate,"
                            "tokens,cost_usd,cost_per_1k,gate,gate_failures\n"
                            "1,\"fast\",2,0,1.000000,10.000,11.000,0.000000,0,0.00200000,1.000000,"
                            "pass,\"\"\n";
    assert_memory_equal(csv, want_head, strlen(want_head));
    assert_non_null(strstr(csv, "\n3,\"quo\"\"ted\",2,1,0.500000,"));
    free(csv);

    char *js = capture(json_fn, &r, s);
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "candidates")), 4);
    assert_int_equal(json_array_size(json_object_get(root, "results")), 8);
    json_t *c0 = json_array_get(json_object_get(root, "candidates"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "gate")), "fail");
    assert_string_equal(json_string_value(json_object_get(c0, "gate_failures")),
                        "p95_ms=401 (needs <= 100)");
    json_decref(root);
    free(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_report_figures_and_rank),
        cmocka_unit_test(test_eval_report_ties_keep_command_line_order),
        cmocka_unit_test(test_eval_report_gate_csv_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
