/* Unit tests for suggest: the optimization suggestions of the console and
 * `llmgw top` — known inputs give exact lines (the same as console.js's
 * suggestions() prints for them), and the console's money and percent
 * formats digit for digit, JavaScript's rounding of ties included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/suggest.c"

#define DAY_MS 86400000LL

typedef struct {
    char lines[8][SUGGEST_LINE_MAX];
    size_t n;
} got_t;

static void collect(const char *line, void *ctx)
{
    got_t *g = ctx;
    if (g->n < 8)
        snprintf(g->lines[g->n++], SUGGEST_LINE_MAX, "%s", line);
}

static void expect_usd(double x, const char *want)
{
    char got[64];
    suggest_usd(x, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("usd(%.17g): got '%s', want '%s'", x, got, want);
}

static void expect_pct(double x, const char *want)
{
    char got[64];
    suggest_pct(x, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("pct(%.17g): got '%s', want '%s'", x, got, want);
}

static void test_suggest_usd_formats_as_the_console(void **state)
{
    (void)state;
    expect_usd(0, "$0.00");
    expect_usd(28.049999, "$28.05");
    expect_usd(2.3, "$2.30");
    expect_usd(99.994, "$99.99");
    expect_usd(337.4, "$337");
    expect_usd(0.0012, "$0.0012");        /* below a cent: two significant digits */
    expect_usd(0.000012345, "$0.000012"); /* JavaScript's fixed form down to 1e-6 */
    expect_usd(1.2e-7, "$1.2e-7");        /* and its exponent form below */
    expect_usd(0.00999, "$0.010");
    /* Ties: JavaScript rounds the exact half away from zero, printf to even. */
    expect_usd(0.125, "$0.13");
    expect_usd(150.5, "$151");
    expect_usd(-0.5, "$-0.50");
}

static void test_suggest_pct_formats_as_the_console(void **state)
{
    (void)state;
    expect_pct(0, "0%");
    expect_pct(1, "100%");
    expect_pct(0.995, "100%"); /* from 99.5 % no decimal */
    expect_pct(0.028, "2.8%");
    expect_pct(0.1, "10.0%");
    expect_pct(0.0625, "6.3%"); /* 6.25: a tie, rounded up as JavaScript does */
    expect_pct(0.9, "90.0%");
}

/* A route "chat" over a/big ($10 / $30 per Mtok) and b/small ($1 / $2). */
static const suggest_deployment_t chat_deps[] = {{"a", "big"}, {"b", "small"}};
static const suggest_route_t chat = {"chat", chat_deps, 2};
static const suggest_price_t prices[] = {
    {"a", "big", 10, 30},
    {"b", "small", 1, 2},
    {"c", "big", 10, 30},
};

static void test_suggest_route_cost_strategy_saving(void **state)
{
    (void)state;
    const suggest_usage_t by_model[] = {
        {"big", 90, 0, 100000, 50000, 2.5},
        {"small", 10, 0, 10000, 5000, 0.02},
    };
    const suggest_usage_t by_provider[] = {{"a", 90, 0, 100000, 50000, 2.5},
                                           {"b", 10, 0, 10000, 5000, 0.02}};
    suggest_input_t in = {.routes = &chat,
                          .n_routes = 1,
                          .prices = prices,
                          .n_prices = 3,
                          .by_model = by_model,
                          .n_by_model = 2,
                          .by_provider = by_provider,
                          .n_by_provider = 2,
                          .now_unix_ms = 10 * DAY_MS};
    got_t g = {0};
    /* 110 000 prompt and 55 000 completion tokens cost $2.52; all on b/small
     * they would cost $0.22. */
    assert_int_equal(suggest_compute(&in, collect, &g), 1);
    assert_string_equal(g.lines[0],
                        "route chat: cost strategy (all on b/small, success 100%) would have saved "
                        "$2.30 of $2.52 over its models' 100 requests this month at equal success");
}

static void test_suggest_route_needs_equal_success(void **state)
{
    (void)state;
    const suggest_usage_t by_model[] = {
        {"big", 90, 0, 100000, 50000, 2.5},
        {"small", 10, 1, 10000, 5000, 0.02},
    };
    /* b failed 1 of its 10: the cheap deployment is not as reliable, and
     * more than 5 % of b's requests failed. */
    const suggest_usage_t by_provider[] = {{"a", 90, 0, 0, 0, 2.5}, {"b", 10, 1, 0, 0, 0.02}};
    suggest_input_t in = {.routes = &chat,
                          .n_routes = 1,
                          .prices = prices,
                          .n_prices = 3,
                          .by_model = by_model,
                          .n_by_model = 2,
                          .by_provider = by_provider,
                          .n_by_provider = 2,
                          .now_unix_ms = 10 * DAY_MS};
    got_t g = {0};
    assert_int_equal(suggest_compute(&in, collect, &g), 1);
    assert_string_equal(g.lines[0], "provider b: 10.0% of its 10 requests failed this month; test "
                                    "its connection or lower its priority");
}

static void test_suggest_route_without_a_saving_says_nothing(void **state)
{
    (void)state;
    const suggest_usage_t by_model[] = {{"big", 20, 0, 1000, 1000, 0.04}};
    const suggest_usage_t by_provider[] = {{"a", 20, 0, 1000, 1000, 0.04}};
    /* Equal prices (a/big, c/big: one model name, counted once), a single
     * priced deployment, a route whose models saw no traffic. */
    const suggest_deployment_t same[] = {{"a", "big"}, {"c", "big"}};
    const suggest_deployment_t one[] = {{"a", "big"}, {"x", "unpriced"}};
    const suggest_deployment_t idle[] = {{"b", "small"}, {"a", "nothing"}};
    const suggest_price_t p2[] = {
        {"a", "big", 10, 30}, {"c", "big", 10, 30}, {"b", "small", 1, 2}, {"a", "nothing", 5, 5}};
    const suggest_route_t routes[] = {{"same", same, 2}, {"one", one, 2}, {"idle", idle, 2}};
    suggest_input_t in = {.routes = routes,
                          .n_routes = 3,
                          .prices = p2,
                          .n_prices = 4,
                          .by_model = by_model,
                          .n_by_model = 1,
                          .by_provider = by_provider,
                          .n_by_provider = 1,
                          .now_unix_ms = 10 * DAY_MS};
    got_t g = {0};
    assert_int_equal(suggest_compute(&in, collect, &g), 0);
}

static void test_suggest_budget_pace(void **state)
{
    (void)state;
    int64_t start = 100 * DAY_MS;
    const suggest_budget_t budgets[] = {
        /* 2 of 10 days gone, $50 spent: $250 at this pace, over $100. */
        {"eng-cap", 100, 50, start, start + 10 * DAY_MS},
        /* Under its limit at this pace. */
        {"ops", 1000, 50, start, start + 10 * DAY_MS},
        /* "total": no period end, no pace. */
        {"all", 10, 50, 0, 0},
        /* 1 % of its period gone: too early to say. */
        {"new", 1, 50, start + 2 * DAY_MS - DAY_MS / 10, start + 12 * DAY_MS - DAY_MS / 10},
    };
    suggest_input_t in = {.budgets = budgets, .n_budgets = 4, .now_unix_ms = start + 2 * DAY_MS};
    got_t g = {0};
    assert_int_equal(suggest_compute(&in, collect, &g), 1);
    assert_string_equal(
        g.lines[0], "budget eng-cap: at this pace it ends the period at $250, over its $100 limit");
}

static void test_suggest_failing_providers_in_the_console_order(void **state)
{
    (void)state;
    /* JavaScript enumerates index-like keys ("2", "10") first, ascending,
     * then the others by first appearance; fewer than 10 requests or at
     * most 5 % failed say nothing. */
    const suggest_usage_t by_provider[] = {
        {"zeta", 20, 2, 0, 0, 1}, {"10", 10, 10, 0, 0, 1}, {"few", 9, 9, 0, 0, 1},
        {"2", 40, 3, 0, 0, 1},    {"ok", 100, 5, 0, 0, 1}, {"alpha", 16, 1, 0, 0, 1},
        {"", 30, 30, 0, 0, 0}, /* refused before any provider: no line */
    };
    suggest_input_t in = {.by_provider = by_provider, .n_by_provider = 7};
    got_t g = {0};
    assert_int_equal(suggest_compute(&in, collect, &g), 4);
    assert_string_equal(g.lines[0],
                        "provider 2: 7.5% of its 40 requests failed this month; test its "
                        "connection or lower its priority");
    assert_string_equal(g.lines[1], "provider 10: 100% of its 10 requests failed this month; test "
                                    "its connection or lower its priority");
    assert_string_equal(g.lines[2], "provider zeta: 10.0% of its 20 requests failed this month; "
                                    "test its connection or lower its priority");
    assert_string_equal(g.lines[3], "provider alpha: 6.3% of its 16 requests failed this month; "
                                    "test its connection or lower its priority");
}

static void test_suggest_rules_in_order(void **state)
{
    (void)state;
    const suggest_usage_t by_model[] = {{"big", 90, 0, 100000, 50000, 2.5},
                                        {"small", 10, 0, 10000, 5000, 0.02}};
    const suggest_usage_t by_provider[] = {
        {"c", 30, 30, 0, 0, 0}, {"a", 90, 0, 0, 0, 2.5}, {"b", 10, 0, 0, 0, 0.02}};
    const suggest_budget_t budget = {"cap", 1, 2.52, 1, 101};
    suggest_input_t in = {.routes = &chat,
                          .n_routes = 1,
                          .prices = prices,
                          .n_prices = 3,
                          .by_model = by_model,
                          .n_by_model = 2,
                          .by_provider = by_provider,
                          .n_by_provider = 3,
                          .budgets = &budget,
                          .n_budgets = 1,
                          .now_unix_ms = 51};
    got_t g = {0};
    assert_int_equal(suggest_compute(&in, collect, &g), 3);
    assert_true(strncmp(g.lines[0], "route chat: ", 12) == 0);
    assert_string_equal(
        g.lines[1], "budget cap: at this pace it ends the period at $5.04, over its $1.00 limit");
    assert_string_equal(g.lines[2],
                        "provider c: 100% of its 30 requests failed this month; test its "
                        "connection or lower its priority");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suggest_usd_formats_as_the_console),
        cmocka_unit_test(test_suggest_pct_formats_as_the_console),
        cmocka_unit_test(test_suggest_route_cost_strategy_saving),
        cmocka_unit_test(test_suggest_route_needs_equal_success),
        cmocka_unit_test(test_suggest_route_without_a_saving_says_nothing),
        cmocka_unit_test(test_suggest_budget_pace),
        cmocka_unit_test(test_suggest_failing_providers_in_the_console_order),
        cmocka_unit_test(test_suggest_rules_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
