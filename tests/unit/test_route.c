/* Unit tests for route.c: direct provider/model, route lookup, the priority
 * and weighted strategies, allow/deny filters, options and reason texts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route.h"
#include "table.h"

static const char *const table_json =
    "{\"providers\": ["
    " {\"name\": \"sim-a\", \"base_url\": \"http://127.0.0.1:1\","
    "  \"models\": [{\"name\": \"gpt-4o-mini\"}, {\"name\": \"m\"}]},"
    " {\"name\": \"sim-b\", \"base_url\": \"http://127.0.0.1:2\","
    "  \"models\": [{\"name\": \"m\"}, {\"name\": \"org/model-x\"}]},"
    " {\"name\": \"sim-c\", \"base_url\": \"http://127.0.0.1:3\", \"models\": [{\"name\": "
    "\"m\"}]}],"
    " \"routes\": ["
    "  {\"name\": \"chat\", \"strategy\": \"priority\", \"deployments\": ["
    "   {\"provider\": \"sim-b\", \"model\": \"m\", \"priority\": 1},"
    "   {\"provider\": \"sim-a\", \"model\": \"gpt-4o-mini\"},"
    "   {\"provider\": \"sim-c\", \"model\": \"m\", \"priority\": 1}]},"
    "  {\"name\": \"split\", \"strategy\": \"weighted\", \"deployments\": ["
    "   {\"provider\": \"sim-a\", \"model\": \"m\", \"weight\": 1},"
    "   {\"provider\": \"sim-b\", \"model\": \"m\", \"weight\": 3}]},"
    "  {\"name\": \"three\", \"strategy\": \"weighted\", \"deployments\": ["
    "   {\"provider\": \"sim-a\", \"model\": \"m\", \"weight\": 1},"
    "   {\"provider\": \"sim-b\", \"model\": \"m\", \"weight\": 2},"
    "   {\"provider\": \"sim-c\", \"model\": \"m\", \"weight\": 7}]}]}";

typedef struct {
    table_t *t;
    uint64_t rng;
    route_plan_t plan;
    char err[256];
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    memset(&f, 0, sizeof(f));
    f.t = table_load_json(table_json, strlen(table_json), f.err, sizeof(f.err));
    if (f.t == NULL) {
        fprintf(stderr, "table: %s\n", f.err);
        return -1;
    }
    f.rng = 0x1234567887654321ull;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    table_unref(f->t);
    return 0;
}

static route_status_t plan(fixture_t *f, const char *model, const Llmgw__V1__RoutingOptions *o)
{
    f->err[0] = '\0';
    return route_plan(f->t, model, o, &f->rng, &f->plan, f->err, sizeof(f->err));
}

static void assert_candidate(const route_plan_t *p, size_t i, const char *provider,
                             const char *model)
{
    assert_true(i < p->n);
    assert_string_equal(p->items[i].provider->name, provider);
    assert_string_equal(p->items[i].model->name, model);
}

/* ---- direct and lookup ------------------------------------------------------- */

static void test_route_direct_provider_model_is_single_candidate(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "sim-a/gpt-4o-mini", NULL), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
    assert_candidate(&f->plan, 0, "sim-a", "gpt-4o-mini");
    assert_ptr_equal(f->plan.items[0].provider, table_find_provider(f->t, "sim-a"));
    assert_string_equal(f->plan.strategy, "direct");
    assert_null(f->plan.route_name);
    assert_string_equal(f->plan.reason, "direct: sim-a/gpt-4o-mini requested as provider/model");
}

static void test_route_direct_splits_at_first_slash(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "sim-b/org/model-x", NULL), ROUTE_OK);
    assert_candidate(&f->plan, 0, "sim-b", "org/model-x");
}

static void test_route_direct_unknown_provider_or_model_is_not_found(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "nope/m", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: unknown provider 'nope' in 'nope/m'");
    assert_int_equal(plan(f, "sim-c/gpt-4o-mini", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: provider 'sim-c' has no model 'gpt-4o-mini'");
    assert_int_equal(plan(f, "sim-a/", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: provider 'sim-a' has no model ''");
    assert_int_equal(plan(f, "/m", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: unknown route or provider/model '/m'");
    assert_int_equal(f->plan.n, 0);
}

static void test_route_unknown_route_is_not_found(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "gpt-5", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: unknown route or provider/model 'gpt-5'");
    /* A provider name alone is not a route. */
    assert_int_equal(plan(f, "sim-a", NULL), ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: unknown route or provider/model 'sim-a'");
}

static void test_route_empty_model_is_invalid(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "", NULL), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "model: required");
    assert_int_equal(plan(f, NULL, NULL), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "model: required");
}

/* ---- priority ------------------------------------------------------------------ */

static void test_route_priority_orders_ascending_and_keeps_ties_in_table_order(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "chat", NULL), ROUTE_OK);
    assert_int_equal(f->plan.n, 3);
    assert_candidate(&f->plan, 0, "sim-a", "gpt-4o-mini");
    assert_candidate(&f->plan, 1, "sim-b", "m");
    assert_candidate(&f->plan, 2, "sim-c", "m");
    assert_string_equal(f->plan.strategy, "priority");
    assert_string_equal(f->plan.route_name, "chat");
    assert_string_equal(f->plan.reason,
                        "priority: sim-a/gpt-4o-mini has the lowest priority (0) of 3 deployments");
}

static void test_route_priority_is_deterministic_across_calls(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(plan(f, "chat", NULL), ROUTE_OK);
        assert_candidate(&f->plan, 0, "sim-a", "gpt-4o-mini");
        assert_candidate(&f->plan, 1, "sim-b", "m");
        assert_candidate(&f->plan, 2, "sim-c", "m");
    }
}

/* ---- weighted ------------------------------------------------------------------ */

static void test_route_weighted_first_pick_is_proportional_to_weight(void **state)
{
    fixture_t *f = *state;
    enum { DRAWS = 20000 };
    int first_b = 0;
    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(plan(f, "split", NULL), ROUTE_OK);
        assert_int_equal(f->plan.n, 2);
        /* Without replacement: the other deployment comes second. */
        assert_ptr_not_equal(f->plan.items[0].provider, f->plan.items[1].provider);
        if (strcmp(f->plan.items[0].provider->name, "sim-b") == 0)
            first_b++;
    }
    double share = (double)first_b / DRAWS;
    if (share < 0.73 || share > 0.77)
        fail_msg("sim-b (weight 3 of 4) went first %.3f of the time, want about 0.75", share);
}

static void test_route_weighted_three_way_shares_and_second_place(void **state)
{
    fixture_t *f = *state;
    enum { DRAWS = 30000 };
    int first[3] = {0}, a_second_when_c_first = 0, c_first = 0;
    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(plan(f, "three", NULL), ROUTE_OK);
        assert_int_equal(f->plan.n, 3);
        int idx = f->plan.items[0].provider->name[4] - 'a';
        first[idx]++;
        if (idx == 2) {
            c_first++;
            if (f->plan.items[1].provider->name[4] == 'a')
                a_second_when_c_first++;
        }
    }
    const double want[3] = {0.1, 0.2, 0.7};
    for (int i = 0; i < 3; i++) {
        double share = (double)first[i] / DRAWS;
        if (share < want[i] - 0.02 || share > want[i] + 0.02)
            fail_msg("deployment %d went first %.3f of the time, want about %.2f", i, share,
                     want[i]);
    }
    /* With sim-c taken, the rest are drawn 1:2, so sim-a is second a third of the time. */
    double second = (double)a_second_when_c_first / c_first;
    if (second < 0.30 || second > 0.37)
        fail_msg("sim-a was second %.3f of the time after sim-c, want about 0.33", second);
}

static void test_route_weighted_reason_names_pick_and_weights(void **state)
{
    fixture_t *f = *state;
    bool saw_a = false, saw_b = false;
    for (int i = 0; i < 200 && !(saw_a && saw_b); i++) {
        assert_int_equal(plan(f, "split", NULL), ROUTE_OK);
        assert_string_equal(f->plan.strategy, "weighted");
        if (strcmp(f->plan.items[0].provider->name, "sim-b") == 0) {
            assert_string_equal(f->plan.reason, "weighted: picked sim-b/m by weight 3 of total 4");
            saw_b = true;
        } else {
            assert_string_equal(f->plan.reason, "weighted: picked sim-a/m by weight 1 of total 4");
            saw_a = true;
        }
    }
    assert_true(saw_a && saw_b);
}

static void test_route_weighted_same_seed_gives_same_order(void **state)
{
    fixture_t *f = *state;
    char first[64][16], again[64][16];
    memset(first, 0, sizeof(first));
    memset(again, 0, sizeof(again));
    f->rng = 42;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(plan(f, "three", NULL), ROUTE_OK);
        snprintf(first[i], sizeof(first[i]), "%s", f->plan.items[0].provider->name);
    }
    f->rng = 42;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(plan(f, "three", NULL), ROUTE_OK);
        snprintf(again[i], sizeof(again[i]), "%s", f->plan.items[0].provider->name);
    }
    assert_memory_equal(first, again, sizeof(first));
}

/* ---- options ------------------------------------------------------------------- */

static void test_route_allow_providers_keeps_only_listed(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    char *allow[] = {"sim-c", "not-in-table"};
    o.allow_providers = allow;
    o.n_allow_providers = 2;
    assert_int_equal(plan(f, "chat", &o), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
    assert_candidate(&f->plan, 0, "sim-c", "m");
    assert_string_equal(f->plan.reason, "priority: sim-c/m has the lowest priority (1) of 1 "
                                        "deployment (2 excluded by allow/deny)");
}

static void test_route_deny_providers_drops_listed(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    char *deny[] = {"sim-a", "ghost"};
    o.deny_providers = deny;
    o.n_deny_providers = 2;
    assert_int_equal(plan(f, "chat", &o), ROUTE_OK);
    assert_int_equal(f->plan.n, 2);
    assert_candidate(&f->plan, 0, "sim-b", "m");
    assert_candidate(&f->plan, 1, "sim-c", "m");
}

static void test_route_allow_and_deny_excluding_all_is_no_candidate(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    char *allow[] = {"sim-a", "sim-b"};
    char *deny[] = {"sim-a", "sim-b"};
    o.allow_providers = allow;
    o.n_allow_providers = 2;
    o.deny_providers = deny;
    o.n_deny_providers = 2;
    assert_int_equal(plan(f, "chat", &o), ROUTE_ERR_NO_CANDIDATE);
    assert_string_equal(f->err, "routing: every deployment of route 'chat' was excluded by "
                                "allow/deny providers");
    assert_int_equal(f->plan.n, 0);

    char *only_unknown[] = {"ghost"};
    o.allow_providers = only_unknown;
    o.n_allow_providers = 1;
    o.n_deny_providers = 0;
    assert_int_equal(plan(f, "split", &o), ROUTE_ERR_NO_CANDIDATE);
    assert_string_equal(f->err, "routing: every deployment of route 'split' was excluded by "
                                "allow/deny providers");
}

static void test_route_deny_applies_to_direct_requests(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    char *deny[] = {"sim-a"};
    o.deny_providers = deny;
    o.n_deny_providers = 1;
    assert_int_equal(plan(f, "sim-a/m", &o), ROUTE_ERR_NO_CANDIDATE);
    assert_string_equal(f->err, "routing: provider 'sim-a' is excluded by allow/deny providers");
    assert_int_equal(plan(f, "sim-b/m", &o), ROUTE_OK);
}

static void test_route_strategy_override_replaces_the_routes(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.strategy = "priority";
    /* "split" is weighted; forced to priority, equal priorities keep table order. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(plan(f, "split", &o), ROUTE_OK);
        assert_string_equal(f->plan.strategy, "priority");
        assert_candidate(&f->plan, 0, "sim-a", "m");
        assert_candidate(&f->plan, 1, "sim-b", "m");
    }
    o.strategy = "weighted";
    bool saw_non_priority_order = false;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(plan(f, "chat", &o), ROUTE_OK);
        assert_string_equal(f->plan.strategy, "weighted");
        if (strcmp(f->plan.items[0].provider->name, "sim-a") != 0)
            saw_non_priority_order = true;
    }
    assert_true(saw_non_priority_order);
}

static void test_route_unknown_strategy_override_is_invalid(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.strategy = "fastest";
    assert_int_equal(plan(f, "chat", &o), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.strategy: expected one of priority, weighted, cost, "
                                "latency, quality, balanced, custom");
    assert_int_equal(plan(f, "sim-a/m", &o), ROUTE_ERR_INVALID);
}

static void test_route_disable_fallback_keeps_only_first(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.disable_fallback = 1;
    assert_int_equal(plan(f, "chat", &o), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
    assert_candidate(&f->plan, 0, "sim-a", "gpt-4o-mini");
    assert_string_equal(f->plan.reason,
                        "priority: sim-a/gpt-4o-mini has the lowest priority (0) of 3 deployments");
    assert_int_equal(plan(f, "three", &o), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
}

static void test_route_empty_options_change_nothing(void **state)
{
    fixture_t *f = *state;
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    assert_int_equal(plan(f, "chat", &o), ROUTE_OK);
    assert_int_equal(f->plan.n, 3);
    assert_candidate(&f->plan, 0, "sim-a", "gpt-4o-mini");
}

/* ---- route_rand -------------------------------------------------------------------- */

static void test_route_rand_is_xorshift64(void **state)
{
    uint64_t s = 1;
    /* 1 ^ 1<<13 = 0x2001; ^ >>7 = 0x2041; ^ <<17 = 0x40822041. */
    assert_true(route_rand(&s) == 0x40822041ull);
    assert_true(s == 0x40822041ull);
    uint64_t z = 0;
    assert_true(route_rand(&z) != 0);
    assert_true(z != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_route_direct_provider_model_is_single_candidate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_direct_splits_at_first_slash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_direct_unknown_provider_or_model_is_not_found,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_unknown_route_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_empty_model_is_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_route_priority_orders_ascending_and_keeps_ties_in_table_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_priority_is_deterministic_across_calls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_weighted_first_pick_is_proportional_to_weight,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_weighted_three_way_shares_and_second_place,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_weighted_reason_names_pick_and_weights, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_weighted_same_seed_gives_same_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_allow_providers_keeps_only_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_deny_providers_drops_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_allow_and_deny_excluding_all_is_no_candidate,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_deny_applies_to_direct_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_strategy_override_replaces_the_routes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_unknown_strategy_override_is_invalid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_disable_fallback_keeps_only_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_empty_options_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_rand_is_xorshift64, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
