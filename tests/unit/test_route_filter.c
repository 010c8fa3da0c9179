/* Unit tests for route.c's caller filter (route_filter_t): checked before
 * every other constraint, its reasons kept per excluded deployment, and
 * ROUTE_ERR_DENIED when it excludes everything. */
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
    " {\"name\": \"a\", \"base_url\": \"http://127.0.0.1:1\", \"models\": [{\"name\": \"m\"}]},"
    " {\"name\": \"b\", \"base_url\": \"http://127.0.0.1:2\", \"models\": [{\"name\": \"m\"}]}],"
    " \"routes\": [{\"name\": \"r\", \"strategy\": \"priority\", \"deployments\": ["
    "   {\"provider\": \"a\", \"model\": \"m\", \"priority\": 0},"
    "   {\"provider\": \"b\", \"model\": \"m\", \"priority\": 1}]}]}";

static table_t *t;
static route_plan_t plan;
static char err[1024];
static int calls;

/* Excludes the provider named by ud ("*": every one). */
static const char *exclude_named(void *ud, const table_provider_t *p, const table_model_t *m,
                                 char *why, size_t whylen)
{
    (void)m;
    calls++;
    const char *name = ud;
    if (strcmp(name, "*") != 0 && strcmp(name, p->name) != 0)
        return NULL;
    snprintf(why, whylen, "excluded by policy 'x' (provider %s)", p->name);
    return why;
}

static route_status_t plan_with(const char *model, const char *exclude,
                                const Llmgw__V1__RoutingOptions *opts)
{
    uint64_t rng = 42;
    route_inputs_t in = {.filter = {exclude_named, (void *)exclude}};
    return route_plan_with(t, model, opts, &in, &rng, &plan, err, sizeof(err));
}

static int setup(void **state)
{
    (void)state;
    char e[256];
    t = table_load_json(table_json, strlen(table_json), e, sizeof(e));
    return t ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    table_unref(t);
    return 0;
}

static void test_route_filter_excludes_before_ranking_and_says_why(void **state)
{
    (void)state;
    assert_int_equal(plan_with("r", "a", NULL), ROUTE_OK);
    assert_int_equal(plan.n, 1);
    assert_string_equal(plan.items[0].provider->name, "b");
    assert_int_equal(plan.n_excluded, 1);
    assert_true(plan.excluded[0].filtered);
    assert_false(plan.excluded[0].unavailable);
    assert_string_equal(plan.excluded[0].reason, "excluded by policy 'x' (provider a)");
    assert_non_null(strstr(plan.reason, "excluded by policy 'x' (provider a)"));
}

static void test_route_filter_excluding_everything_is_denied(void **state)
{
    (void)state;
    assert_int_equal(plan_with("r", "*", NULL), ROUTE_ERR_DENIED);
    assert_non_null(strstr(err, "a/m: excluded by policy 'x' (provider a)"));
    assert_non_null(strstr(err, "b/m: excluded by policy 'x' (provider b)"));
    assert_int_equal(plan_with("a/m", "a", NULL), ROUTE_ERR_DENIED);
}

static void test_route_filter_comes_before_allow_deny(void **state)
{
    (void)state;
    /* The request's deny list would exclude b too; a is the filter's. */
    char *deny[] = {"b"};
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.deny_providers = deny;
    o.n_deny_providers = 1;
    assert_int_equal(plan_with("r", "a", &o), ROUTE_ERR_NO_CANDIDATE);
    assert_true(plan.excluded[0].filtered);
    assert_false(plan.excluded[1].filtered);
    /* No filter: the callback is never called. */
    calls = 0;
    uint64_t rng = 42;
    assert_int_equal(route_plan_with(t, "r", NULL, NULL, &rng, &plan, err, sizeof(err)), ROUTE_OK);
    assert_int_equal(calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_filter_excludes_before_ranking_and_says_why),
        cmocka_unit_test(test_route_filter_excluding_everything_is_denied),
        cmocka_unit_test(test_route_filter_comes_before_allow_deny),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
