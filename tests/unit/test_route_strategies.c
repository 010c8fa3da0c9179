/* Unit tests for the scoring strategies of route.c (cost, latency, quality,
 * balanced, custom), the constraints, load balancing among near-equal
 * scores, breaker/Retry-After exclusion and the bad-input errors — driven by
 * a fake live-figures callback so every figure is under the test's control.
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

/* cheap: low price, slow, low quality; fast: mid price, fast, mid quality;
 * best: expensive, mid latency, high quality. */
static const char *const table_json =
    "{\"providers\": ["
    " {\"name\": \"cheap\", \"base_url\": \"http://127.0.0.1:1\", \"models\": [{\"name\": \"m\","
    "  \"input_cost_per_mtok\": 0.1, \"output_cost_per_mtok\": 0.2, \"quality\": 0.3,"
    "  \"tools\": false, \"context_window\": 1000}]},"
    " {\"name\": \"fast\", \"base_url\": \"http://127.0.0.1:2\", \"models\": [{\"name\": \"m\","
    "  \"input_cost_per_mtok\": 1, \"output_cost_per_mtok\": 2, \"quality\": 0.6}]},"
    " {\"name\": \"best\", \"base_url\": \"http://127.0.0.1:3\", \"models\": [{\"name\": \"m\","
    "  \"input_cost_per_mtok\": 10, \"output_cost_per_mtok\": 30, \"quality\": 0.95,"
    "  \"vision\": true}]},"
    " {\"name\": \"twin\", \"base_url\": \"http://127.0.0.1:4\", \"models\": [{\"name\": \"m\","
    "  \"input_cost_per_mtok\": 1, \"output_cost_per_mtok\": 2, \"quality\": 0.6}]}],"
    " \"routes\": ["
    "  {\"name\": \"r\", \"strategy\": \"cost\", \"deployments\": ["
    "   {\"provider\": \"cheap\", \"model\": \"m\"}, {\"provider\": \"fast\", \"model\": \"m\"},"
    "   {\"provider\": \"best\", \"model\": \"m\"}]},"
    "  {\"name\": \"custom-q\", \"strategy\": \"custom\", \"weights\": {\"quality\": 1},"
    "   \"deployments\": [{\"provider\": \"cheap\", \"model\": \"m\"},"
    "   {\"provider\": \"best\", \"model\": \"m\"}]},"
    "  {\"name\": \"twins\", \"strategy\": \"cost\", \"tolerance\": 0.01, \"deployments\": ["
    "   {\"provider\": \"fast\", \"model\": \"m\"}, {\"provider\": \"twin\", \"model\": \"m\"}]},"
    "  {\"name\": \"budget\", \"strategy\": \"priority\", \"max_attempts\": 2, \"deployments\": ["
    "   {\"provider\": \"cheap\", \"model\": \"m\"}, {\"provider\": \"fast\", \"model\": \"m\"},"
    "   {\"provider\": \"best\", \"model\": \"m\"}]}]}";

typedef struct {
    const char *provider;
    route_live_t live;
} fake_live_t;

typedef struct {
    table_t *t;
    uint64_t rng;
    route_plan_t plan;
    char err[1024];
    fake_live_t lives[4];
    size_t n_lives;
    route_inputs_t in;
    Llmgw__V1__RoutingOptions opts;
    Llmgw__V1__StrategyWeights weights;
} fixture_t;

static void fake(void *ud, const table_provider_t *p, const table_model_t *m, route_live_t *out)
{
    fixture_t *f = ud;
    for (size_t i = 0; i < f->n_lives; i++)
        if (strcmp(f->lives[i].provider, p->name) == 0)
            *out = f->lives[i].live;
}

static void set_live(fixture_t *f, const char *provider, double latency_ms, double success,
                     int in_flight, bool available, const char *why)
{
    f->lives[f->n_lives++] = (fake_live_t){provider,
                                           {.latency_ms = latency_ms,
                                            .success_rate = success,
                                            .in_flight = in_flight,
                                            .available = available,
                                            .why = why}};
}

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
    f.in = (route_inputs_t){.live = fake, .ud = &f, .prompt_tokens = 100, .max_tokens = 100};
    llmgw__v1__routing_options__init(&f.opts);
    llmgw__v1__strategy_weights__init(&f.weights);
    set_live(&f, "cheap", 900, 0.99, 0, true, NULL);
    set_live(&f, "fast", 50, 0.95, 0, true, NULL);
    set_live(&f, "best", 400, 0.90, 0, true, NULL);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    table_unref(f->t);
    return 0;
}

static route_status_t plan(fixture_t *f, const char *model, const char *strategy)
{
    f->opts.strategy = (char *)(strategy ? strategy : "");
    return route_plan_with(f->t, model, &f->opts, &f->in, &f->rng, &f->plan, f->err,
                           sizeof(f->err));
}

static const char *first(const fixture_t *f)
{
    return f->plan.items[0].provider->name;
}

static void test_route_cost_picks_cheapest_expected_cost(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_string_equal(f->plan.strategy, "cost");
    assert_string_equal(first(f), "cheap");
    assert_string_equal(f->plan.items[1].provider->name, "fast");
    assert_string_equal(f->plan.items[2].provider->name, "best");
    /* 100 prompt × 0.1 + 100 out × 0.2 per Mtok */
    assert_true(f->plan.items[0].cost_usd > 0.0000299 && f->plan.items[0].cost_usd < 0.0000301);
    assert_non_null(strstr(f->plan.reason, "cost: cheapest of 3 candidates: cheap/m $0.000030 "
                                           "vs fast/m $0.000300"));
}

static void test_route_cost_uses_typical_completion_without_max_tokens(void **state)
{
    fixture_t *f = *state;
    f->in.max_tokens = 0;
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    /* 100 × 0.1 + 256 × 0.2 = 61.2 µ$ */
    assert_true(f->plan.items[0].cost_usd > 0.0000611 && f->plan.items[0].cost_usd < 0.0000613);
}

static void test_route_latency_picks_lowest_predicted_latency(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "r", "latency"), ROUTE_OK);
    assert_string_equal(f->plan.strategy, "latency");
    assert_string_equal(first(f), "fast");
    assert_string_equal(f->plan.items[1].provider->name, "best");
    assert_non_null(strstr(f->plan.reason, "fast/m 50 ms vs best/m 400 ms"));
}

static void test_route_latency_tries_unmeasured_deployment_first(void **state)
{
    fixture_t *f = *state;
    f->lives[2].live.latency_ms = -1; /* best: never measured */
    assert_int_equal(plan(f, "r", "latency"), ROUTE_OK);
    assert_string_equal(first(f), "best");
    assert_non_null(strstr(f->plan.reason, "unmeasured (optimistic prior 0 ms)"));
}

static void test_route_quality_picks_highest_quality(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "r", "quality"), ROUTE_OK);
    assert_string_equal(first(f), "best");
    assert_string_equal(f->plan.items[2].provider->name, "cheap");
}

static void test_route_quality_flips_when_ensembles_find_the_better_model_inconsistent(void **state)
{
    fixture_t *f = *state;
    /* best (table 0.95) rarely agrees with its ensembles, fast (0.6) mostly
     * does; below the sample minimum the table still decides. */
    f->lives[2].live.consistency = 0.1;
    f->lives[2].live.consistency_samples = ROUTE_CONSISTENCY_MIN_SAMPLES - 1;
    f->lives[1].live.consistency = 0.9;
    f->lives[1].live.consistency_samples = ROUTE_CONSISTENCY_MIN_SAMPLES - 1;
    assert_int_equal(plan(f, "r", "quality"), ROUTE_OK);
    assert_string_equal(first(f), "best");
    assert_float_equal(f->plan.items[0].quality, 0.95, 1e-9);
    assert_null(strstr(f->plan.reason, "consistency"));

    /* Enough observations: best 0.5*0.95 + 0.5*0.1 = 0.525, fast 0.5*0.6 +
     * 0.5*0.9 = 0.75. */
    f->lives[2].live.consistency_samples = 10;
    f->lives[1].live.consistency_samples = 10;
    assert_int_equal(plan(f, "r", "quality"), ROUTE_OK);
    assert_string_equal(first(f), "fast");
    assert_float_equal(f->plan.items[0].quality, 0.75, 1e-9);
    assert_float_equal(f->plan.items[1].quality, 0.525, 1e-9);
    assert_string_equal(f->plan.items[1].provider->name, "best");
    assert_non_null(strstr(f->plan.reason, "fast/m 0.75 (table 0.60, consistency 0.90 over 10"));
    assert_non_null(strstr(f->plan.reason, "best/m 0.53 (table 0.95, consistency 0.10 over 10"));

    /* The quality term of custom: cheap (0.3, always agreeing: 0.65) now
     * outranks best (0.525). */
    f->lives[0].live.consistency = 1;
    f->lives[0].live.consistency_samples = 10;
    assert_int_equal(plan(f, "custom-q", NULL), ROUTE_OK);
    assert_string_equal(first(f), "cheap");
}

static void test_route_balanced_weighs_all_terms(void **state)
{
    fixture_t *f = *state;
    /* defaults 0.3 cost, 0.3 latency, 0.2 quality, 0.2 success:
     * cheap 0.3 + 0 + 0 + .198 = .498; fast .3*.9697 + .3 + .2*.4615 + .19 = .874;
     * best 0 + .3*.5882 + .2 + .18 = .556 */
    assert_int_equal(plan(f, "r", "balanced"), ROUTE_OK);
    assert_string_equal(first(f), "fast");
    assert_string_equal(f->plan.items[1].provider->name, "best");
    assert_true(f->plan.items[0].score > 0.86 && f->plan.items[0].score < 0.89);
    assert_non_null(strstr(f->plan.reason, "weights cost 0.3, latency 0.3, quality 0.2"));
}

static void test_route_custom_weights_from_request_and_route(void **state)
{
    fixture_t *f = *state;
    f->weights.success = 1;
    f->opts.weights = &f->weights;
    f->lives[1].live.success_rate = 0.5; /* outside the 5% tolerance of cheap's 0.99 */
    assert_int_equal(plan(f, "r", "custom"), ROUTE_OK);
    assert_string_equal(first(f), "cheap"); /* highest success rate */
    f->opts.weights = NULL;
    assert_int_equal(plan(f, "custom-q", NULL), ROUTE_OK);
    assert_string_equal(f->plan.strategy, "custom");
    assert_string_equal(first(f), "best");
}

static void test_route_near_equal_scores_balance_on_in_flight(void **state)
{
    fixture_t *f = *state;
    f->lives[1].live.in_flight = 5; /* fast: busy */
    set_live(f, "twin", 50, 0.95, 0, true, NULL);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(plan(f, "twins", NULL), ROUTE_OK);
        /* both cost the same: power of two choices always prefers the idle one */
        assert_string_equal(first(f), "twin");
        assert_non_null(strstr(f->plan.reason, "2 within tolerance"));
    }
}

static void test_route_open_breaker_excluded_with_reason(void **state)
{
    fixture_t *f = *state;
    f->lives[0].live.available = false;
    f->lives[0].live.why = "breaker open: 5 consecutive failures";
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_int_equal(f->plan.n, 2);
    assert_string_equal(first(f), "fast");
    assert_int_equal(f->plan.n_excluded, 1);
    assert_true(f->plan.excluded[0].unavailable);
    assert_string_equal(f->plan.excluded[0].reason, "breaker open: 5 consecutive failures");
}

static void test_route_all_unavailable_is_unavailable_listing_each(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++) {
        f->lives[i].live.available = false;
        f->lives[i].live.why = "retry-after: skipped for another 900 ms";
    }
    assert_int_equal(plan(f, "r", NULL), ROUTE_ERR_UNAVAILABLE);
    assert_string_equal(f->err,
                        "routing: every deployment of route 'r' is unavailable: cheap/m: "
                        "retry-after: skipped for another 900 ms; fast/m: retry-after: skipped "
                        "for another 900 ms; best/m: retry-after: skipped for another 900 ms");
}

static void test_route_constraints_exclude_with_reasons(void **state)
{
    fixture_t *f = *state;
    f->opts.max_cost_usd = 0.001; /* best costs 0.004 */
    f->opts.max_latency_ms = 500; /* cheap is at 900 */
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
    assert_string_equal(first(f), "fast");
    assert_int_equal(f->plan.n_excluded, 2);
    assert_string_equal(f->plan.excluded[0].reason,
                        "predicted latency 900 ms > max_latency_ms 500");
    assert_string_equal(f->plan.excluded[1].reason,
                        "expected cost $0.004000 > max_cost_usd $0.001000");
    assert_false(f->plan.excluded[0].unavailable);
}

static void test_route_capabilities_and_context_window_exclude(void **state)
{
    fixture_t *f = *state;
    f->in.needs_tools = true;
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_string_equal(first(f), "fast");
    assert_string_equal(f->plan.excluded[0].reason, "no tools capability");
    f->in.needs_tools = false;
    char *vision[] = {"vision"};
    f->opts.required_capabilities = vision;
    f->opts.n_required_capabilities = 1;
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_int_equal(f->plan.n, 1);
    assert_string_equal(first(f), "best");
    f->opts.n_required_capabilities = 0;
    f->in.prompt_tokens = 950;
    assert_int_equal(plan(f, "r", NULL), ROUTE_OK);
    assert_string_equal(first(f), "fast");
    assert_string_equal(f->plan.excluded[0].reason, "context window 1000 < 1050 estimated tokens");
}

static void test_route_nothing_satisfies_is_failed_precondition_listing_each(void **state)
{
    fixture_t *f = *state;
    f->opts.max_cost_usd = 0.00001;
    assert_int_equal(plan(f, "r", NULL), ROUTE_ERR_NO_CANDIDATE);
    assert_string_equal(f->err,
                        "routing: every deployment of route 'r' was excluded: cheap/m: expected "
                        "cost $0.000030 > max_cost_usd $0.000010; fast/m: expected cost "
                        "$0.000300 > max_cost_usd $0.000010; best/m: expected cost $0.004000 > "
                        "max_cost_usd $0.000010");
    assert_int_equal(f->plan.n_excluded, 3);
}

static void test_route_bad_options_name_the_field(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "r", "fastest"), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.strategy: expected one of priority, weighted, cost, "
                                "latency, quality, balanced, custom");
    f->opts.weights = &f->weights;
    assert_int_equal(plan(f, "r", "custom"), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.weights: expected at least one weight > 0 (all are zero)");
    f->weights.latency = -1;
    assert_int_equal(plan(f, "r", "custom"), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.weights.latency: expected a finite number >= 0, got -1");
    f->opts.weights = NULL;
    assert_int_equal(plan(f, "r", "custom"), ROUTE_ERR_INVALID);
    assert_string_equal(f->err,
                        "routing.weights: required by strategy custom (route 'r' has none)");
    f->opts.max_cost_usd = -1;
    assert_int_equal(plan(f, "r", NULL), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.max_cost_usd: expected a finite number >= 0");
    f->opts.max_cost_usd = 0;
    char *caps[] = {"telepathy"};
    f->opts.required_capabilities = caps;
    f->opts.n_required_capabilities = 1;
    assert_int_equal(plan(f, "r", NULL), ROUTE_ERR_INVALID);
    assert_string_equal(f->err, "routing.required_capabilities[0]: expected one of tools, vision, "
                                "json_mode, got 'telepathy'");
}

static void test_route_retry_budget_from_route_and_request(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(plan(f, "budget", NULL), ROUTE_OK);
    assert_int_equal(f->plan.max_attempts, 2);
    assert_int_equal(f->plan.n, 3);
    f->opts.max_attempts = 1;
    assert_int_equal(plan(f, "budget", NULL), ROUTE_OK);
    assert_int_equal(f->plan.max_attempts, 1);
}

static const table_model_t discovered_model = {.name = "new-model",
                                               .quality = 0.5,
                                               .tools = true,
                                               .json_mode = true,
                                               .typical_completion_tokens = 256};

static const table_model_t *fake_discovered(void *ud, const table_provider_t *p, const char *name)
{
    return strcmp(p->name, "disc") == 0 && strcmp(name, "new-model") == 0 ? &discovered_model
                                                                          : NULL;
}

static void test_route_discovered_model_routes_only_with_discover_flag(void **state)
{
    fixture_t *f = *state;
    const char *json =
        "{\"providers\": [{\"name\": \"disc\", \"base_url\": \"http://127.0.0.1:1\", "
        "\"discover\": true, \"models\": [{\"name\": \"m\"}]},"
        "{\"name\": \"nodisc\", \"base_url\": \"http://127.0.0.1:2\", \"models\": [{\"name\": "
        "\"m\"}]}]}";
    table_t *t = table_load_json(json, strlen(json), f->err, sizeof(f->err));
    assert_non_null(t);
    f->in.discovered = fake_discovered;
    assert_int_equal(route_plan_with(t, "disc/new-model", NULL, &f->in, &f->rng, &f->plan, f->err,
                                     sizeof(f->err)),
                     ROUTE_OK);
    assert_string_equal(f->plan.items[0].model->name, "new-model");
    assert_int_equal(route_plan_with(t, "nodisc/new-model", NULL, &f->in, &f->rng, &f->plan, f->err,
                                     sizeof(f->err)),
                     ROUTE_ERR_NOT_FOUND);
    assert_string_equal(f->err, "model: provider 'nodisc' has no model 'new-model'");
    table_unref(t);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_route_cost_picks_cheapest_expected_cost),
        T(test_route_cost_uses_typical_completion_without_max_tokens),
        T(test_route_latency_picks_lowest_predicted_latency),
        T(test_route_latency_tries_unmeasured_deployment_first),
        T(test_route_quality_picks_highest_quality),
        T(test_route_quality_flips_when_ensembles_find_the_better_model_inconsistent),
        T(test_route_balanced_weighs_all_terms),
        T(test_route_custom_weights_from_request_and_route),
        T(test_route_near_equal_scores_balance_on_in_flight),
        T(test_route_open_breaker_excluded_with_reason),
        T(test_route_all_unavailable_is_unavailable_listing_each),
        T(test_route_constraints_exclude_with_reasons),
        T(test_route_capabilities_and_context_window_exclude),
        T(test_route_nothing_satisfies_is_failed_precondition_listing_each),
        T(test_route_bad_options_name_the_field),
        T(test_route_retry_budget_from_route_and_request),
        T(test_route_discovered_model_routes_only_with_discover_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
