/* Unit tests for the routing fields of the table (table.c): capabilities,
 * health, breaker, Retry-After cap, discover, strategies and weights — their
 * defaults, and errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "table.h"

static table_t *load(const char *json, char *err, size_t errlen)
{
    return table_load_json(json, strlen(json), err, errlen);
}

static void test_table_routing_defaults(void **state)
{
    char err[256];
    table_t *t = load("{\"providers\": [{\"name\": \"p\", \"base_url\": \"http://x\", \"models\": "
                      "[{\"name\": \"m\"}]}], \"routes\": [{\"name\": \"r\", \"strategy\": "
                      "\"balanced\", \"deployments\": [{\"provider\": \"p\", \"model\": \"m\"}]}]}",
                      err, sizeof(err));
    assert_non_null(t);
    const table_provider_t *p = table_find_provider(t, "p");
    assert_false(p->discover);
    assert_string_equal(p->health_path, "/models");
    assert_string_equal(p->quirks.models_path, "/models");
    assert_int_equal(p->health_interval_ms, 15000);
    assert_int_equal(p->health_timeout_ms, 2000);
    assert_int_equal(p->health_failures_to_down, 2);
    assert_int_equal(p->retry_after_max_ms, 60000);
    assert_int_equal(p->breaker.consecutive_failures, 5);
    assert_int_equal(p->breaker.cooldown_ms, 10000);
    assert_true(p->models[0].tools && p->models[0].json_mode && !p->models[0].vision);
    assert_int_equal(p->models[0].context_window, 0);
    assert_int_equal(p->models[0].typical_completion_tokens, 256);
    const table_route_t *r = table_find_route(t, "r");
    assert_string_equal(r->strategy, "balanced");
    assert_true(r->weights.cost == 0.3 && r->weights.latency == 0.3 && r->weights.quality == 0.2 &&
                r->weights.success == 0.2);
    assert_true(r->tolerance == 0.05);
    assert_int_equal(r->max_attempts, 0);
    table_unref(t);
}

static void test_table_routing_fields_load(void **state)
{
    char err[256];
    table_t *t = load(
        "{\"providers\": [{\"name\": \"p\", \"base_url\": \"http://x\", \"discover\": true,"
        " \"retry_after_max_ms\": 0,"
        " \"health\": {\"path\": \"/health\", \"interval_ms\": 500, \"timeout_ms\": 100,"
        " \"failures_to_down\": 3},"
        " \"breaker\": {\"consecutive_failures\": 2, \"error_rate\": 0.25, \"min_requests\": 4,"
        " \"window_ms\": 1000, \"cooldown_ms\": 50, \"half_open_probes\": 3},"
        " \"models\": [{\"name\": \"m\", \"tools\": false, \"vision\": true, \"json_mode\": false,"
        " \"context_window\": 8192, \"typical_completion_tokens\": 42}]}],"
        " \"routes\": [{\"name\": \"r\", \"strategy\": \"custom\", \"weights\": {\"latency\": 2},"
        " \"tolerance\": 0.2, \"max_attempts\": 3,"
        " \"deployments\": [{\"provider\": \"p\", \"model\": \"m\"}]}]}",
        err, sizeof(err));
    assert_non_null(t);
    const table_provider_t *p = table_find_provider(t, "p");
    assert_true(p->discover);
    assert_string_equal(p->health_path, "/health");
    assert_int_equal(p->health_interval_ms, 500);
    assert_int_equal(p->health_failures_to_down, 3);
    assert_int_equal(p->retry_after_max_ms, 0);
    assert_int_equal(p->breaker.consecutive_failures, 2);
    assert_true(p->breaker.error_rate == 0.25);
    assert_int_equal(p->breaker.half_open_probes, 3);
    assert_false(p->models[0].tools);
    assert_true(p->models[0].vision);
    assert_int_equal(p->models[0].context_window, 8192);
    const table_route_t *r = table_find_route(t, "r");
    assert_true(r->weights.latency == 2 && r->weights.cost == 0);
    assert_true(r->tolerance == 0.2);
    assert_int_equal(r->max_attempts, 3);
    table_unref(t);
}

#define PROV(extra)                                                                                \
    "{\"providers\": [{\"name\": \"p\", \"base_url\": \"http://x\", " extra                        \
    " \"models\": [{\"name\": \"m\"}]}]}"
#define ROUTE(extra)                                                                               \
    "{\"providers\": [{\"name\": \"p\", \"base_url\": \"http://x\", \"models\": [{\"name\": "      \
    "\"m\"}]}], \"routes\": [{\"name\": \"r\", " extra                                             \
    " \"deployments\": [{\"provider\": \"p\", \"model\": \"m\"}]}]}"

/* The probe follows the model listing unless health.path says otherwise; the
 * azure preset lists at /openai/models (Azure answers /models with 404). */
static void test_table_routing_health_path_follows_models_path(void **state)
{
    char err[256];
    table_t *t = load("{\"providers\": [{\"name\": \"az\", \"preset\": \"azure\", \"base_url\": "
                      "\"https://r.openai.azure.com\", \"api_key\": \"k\", \"models\": [{\"name\": "
                      "\"d\"}]}, {\"name\": \"q\", \"base_url\": \"http://x\", \"quirks\": "
                      "{\"models_path\": \"/api/tags\"}, \"health\": {\"path\": \"/ping\"}, "
                      "\"models\": [{\"name\": \"m\"}]}]}",
                      err, sizeof(err));
    assert_non_null(t);
    const table_provider_t *az = table_find_provider(t, "az");
    assert_string_equal(az->quirks.models_path, "/openai/models");
    assert_string_equal(az->health_path, "/openai/models");
    const table_provider_t *q = table_find_provider(t, "q");
    assert_string_equal(q->quirks.models_path, "/api/tags");
    assert_string_equal(q->health_path, "/ping");
    table_unref(t);
}

static void test_table_routing_bad_fields_name_the_field(void **state)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {PROV("\"discover\": 1,"), "providers[0].discover: expected true or false"},
        {PROV("\"health\": [],"), "providers[0].health: expected an object"},
        {PROV("\"health\": {\"path\": \"models\"},"),
         "providers[0].health.path: expected a path starting with '/'"},
        {PROV("\"health\": {\"interval\": 1},"), "providers[0].health.interval: unknown field"},
        {PROV("\"quirks\": {\"models_path\": \"models\"},"),
         "providers[0].quirks.models_path: expected a path starting with '/'"},
        {PROV("\"breaker\": {\"error_rate\": 0},"),
         "providers[0].breaker.error_rate: expected a number > 0 and <= 1"},
        {PROV("\"breaker\": {\"consecutive_failures\": 0},"),
         "providers[0].breaker.consecutive_failures: expected an integer 1..1000000"},
        {PROV("\"retry_after_max_ms\": -1,"),
         "providers[0].retry_after_max_ms: expected an integer 0..3600000"},
        {ROUTE("\"strategy\": \"custom\","), "routes[0].weights: required by strategy custom"},
        {ROUTE("\"strategy\": \"balanced\", \"weights\": {\"cost\": 0},"),
         "routes[0].weights: expected at least one weight > 0"},
        {ROUTE("\"strategy\": \"balanced\", \"weights\": {\"cost\": -1},"),
         "routes[0].weights.cost: expected a number 0..1000000"},
        {ROUTE("\"strategy\": \"cost\", \"tolerance\": 2,"),
         "routes[0].tolerance: expected a number 0..1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        table_t *t = load(cases[i].json, err, sizeof(err));
        if (t != NULL || strcmp(err, cases[i].want) != 0)
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].want);
        assert_null(t);
        assert_string_equal(err, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_routing_defaults),
        cmocka_unit_test(test_table_routing_fields_load),
        cmocka_unit_test(test_table_routing_health_path_follows_models_path),
        cmocka_unit_test(test_table_routing_bad_fields_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
