/* Integration: routing intelligence with the real llmgw-dataplane in front of
 * real llmgw-sim processes — the latency strategy learning which sim is
 * fast, the cost strategy, the circuit breaker skipping a failing provider at
 * zero attempts, Retry-After, health going down and back up when a sim is
 * killed and restarted, discovery of a model a sim lists, Explain agreeing
 * with Complete, and the bad-input statuses.
 *
 * Sims: "fast" (5 ms, also lists extra-model on /v1/models), "slow" (60 ms)
 * and "flaky" (killed and restarted on the same port). Providers e503 and
 * e429 are the fast sim told by header to fail.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"
#include "llmgw/v1/routing.pb-c.h"

static harness_proc_t sim_fast, sim_slow, sim_flaky, dp;
static gc_channel_t *ch;

static const char *table_json(int fast, int slow, int flaky)
{
    static char buf[8192];
    snprintf(
        buf, sizeof(buf),
        "{\"providers\": ["
        "{\"name\": \"fast\", \"base_url\": \"http://127.0.0.1:%1$d/v1\", \"discover\": true,"
        " \"health\": {\"interval_ms\": 100},"
        " \"models\": [{\"name\": \"m\", \"input_cost_per_mtok\": 5, \"output_cost_per_mtok\": "
        "5}]},"
        "{\"name\": \"slow\", \"base_url\": \"http://127.0.0.1:%2$d/v1\","
        " \"health\": {\"interval_ms\": 100},"
        " \"models\": [{\"name\": \"m\", \"input_cost_per_mtok\": 1, \"output_cost_per_mtok\": "
        "1}]},"
        "{\"name\": \"e503\", \"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-status\": \"503\"}, \"health\": {\"interval_ms\": 0}, \"retry_after_max_ms\": 0,"
        " \"breaker\": {\"consecutive_failures\": 2, \"cooldown_ms\": 600000},"
        " \"models\": [{\"name\": \"m\"}]},"
        "{\"name\": \"e429\", \"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-status\": \"429\"}, \"health\": {\"interval_ms\": 0}, \"models\": [{\"name\": "
        "\"m\"}]},"
        "{\"name\": \"e500\", \"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-status\": \"500\"}, \"health\": {\"interval_ms\": 0}, \"models\": [{\"name\": "
        "\"m\"}]},"
        "{\"name\": \"flaky\", \"base_url\": \"http://127.0.0.1:%3$d/v1\","
        " \"health\": {\"interval_ms\": 100, \"timeout_ms\": %4$d, \"failures_to_down\": 1},"
        " \"models\": [{\"name\": \"m\"}]}],"
        "\"routes\": ["
        "{\"name\": \"r-latency\", \"strategy\": \"latency\", \"deployments\": ["
        " {\"provider\": \"slow\", \"model\": \"m\"}, {\"provider\": \"fast\", \"model\": \"m\"}]},"
        "{\"name\": \"r-cost\", \"strategy\": \"cost\", \"deployments\": ["
        " {\"provider\": \"fast\", \"model\": \"m\"}, {\"provider\": \"slow\", \"model\": \"m\"}]},"
        "{\"name\": \"r-breaker\", \"strategy\": \"priority\", \"deployments\": ["
        " {\"provider\": \"e503\", \"model\": \"m\", \"priority\": 0},"
        " {\"provider\": \"fast\", \"model\": \"m\", \"priority\": 1}]},"
        "{\"name\": \"r-retry\", \"strategy\": \"priority\", \"deployments\": ["
        " {\"provider\": \"e429\", \"model\": \"m\", \"priority\": 0},"
        " {\"provider\": \"fast\", \"model\": \"m\", \"priority\": 1}]},"
        "{\"name\": \"r-budget\", \"strategy\": \"priority\", \"deployments\": ["
        " {\"provider\": \"e500\", \"model\": \"m\", \"priority\": 0},"
        " {\"provider\": \"fast\", \"model\": \"m\", \"priority\": 1}]},"
        "{\"name\": \"r-flaky\", \"strategy\": \"priority\", \"deployments\": ["
        " {\"provider\": \"flaky\", \"model\": \"m\", \"priority\": 0},"
        " {\"provider\": \"slow\", \"model\": \"m\", \"priority\": 1}]}]}",
        fast, slow, flaky, harness_scale_ms(500)); /* a probe under valgrind is slower */
    return buf;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --- calls ---------------------------------------------------------------- */

typedef struct {
    grpc_status_code status;
    buf_t details;
    Llmgw__V1__ChatResponse *resp;
    Llmgw__V1__ExplainResponse *explain;
} result_t;

static void result_free(result_t *r)
{
    buf_free(&r->details);
    if (r->resp)
        llmgw__v1__chat_response__free_unpacked(r->resp, NULL);
    if (r->explain)
        llmgw__v1__explain_response__free_unpacked(r->explain, NULL);
}

static Llmgw__V1__ChatRequest *request(const char *model, Llmgw__V1__RoutingOptions *routing)
{
    static Llmgw__V1__Message msg;
    static Llmgw__V1__Message *msgs[1];
    static Llmgw__V1__ChatRequest req;
    llmgw__v1__message__init(&msg);
    msg.role = "user";
    msg.content = "route me";
    msgs[0] = &msg;
    llmgw__v1__chat_request__init(&req);
    req.model = (char *)model;
    req.messages = msgs;
    req.n_messages = 1;
    req.routing = routing;
    return &req;
}

static result_t call(const char *method, const Llmgw__V1__ChatRequest *req)
{
    result_t r = {.details = BUF_INIT(1 << 16)};
    size_t len = llmgw__v1__chat_request__get_packed_size(req);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    llmgw__v1__chat_request__pack(req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    r.status = gc_unary(ch, method, NULL, 10000, bytes, len, &resp, &r.details);
    if (r.status == GRPC_STATUS_OK && strstr(method, "Complete")) {
        r.resp = llmgw__v1__chat_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        assert_non_null(r.resp);
    } else if (r.status == GRPC_STATUS_OK) {
        r.explain = llmgw__v1__explain_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        assert_non_null(r.explain);
    }
    buf_free(&resp);
    free(bytes);
    return r;
}

static result_t complete(const char *model)
{
    return call("/llmgw.v1.ChatService/Complete", request(model, NULL));
}

static result_t explain(const char *model)
{
    return call("/llmgw.v1.RoutingService/Explain", request(model, NULL));
}

static Llmgw__V1__ProvidersResponse *providers(void)
{
    Llmgw__V1__ProvidersRequest req = LLMGW__V1__PROVIDERS_REQUEST__INIT;
    uint8_t bytes[64];
    size_t len = llmgw__v1__providers_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    grpc_status_code st =
        gc_unary(ch, "/llmgw.v1.RoutingService/Providers", NULL, 5000, bytes, len, &resp, NULL);
    Llmgw__V1__ProvidersResponse *out =
        st == GRPC_STATUS_OK
            ? llmgw__v1__providers_response__unpack(NULL, resp.len, (uint8_t *)resp.data)
            : NULL;
    buf_free(&resp);
    return out;
}

static Llmgw__V1__ListModelsResponse *list_models(void)
{
    Llmgw__V1__ListModelsRequest req = LLMGW__V1__LIST_MODELS_REQUEST__INIT;
    uint8_t bytes[64];
    size_t len = llmgw__v1__list_models_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    grpc_status_code st =
        gc_unary(ch, "/llmgw.v1.ChatService/ListModels", NULL, 5000, bytes, len, &resp, NULL);
    Llmgw__V1__ListModelsResponse *out =
        st == GRPC_STATUS_OK
            ? llmgw__v1__list_models_response__unpack(NULL, resp.len, (uint8_t *)resp.data)
            : NULL;
    buf_free(&resp);
    return out;
}

/* The status of provider `name` ("" when absent); copies into out. */
static void provider_status(const char *name, char out[32])
{
    Llmgw__V1__ProvidersResponse *r = providers();
    out[0] = '\0';
    for (size_t i = 0; r && i < r->n_providers; i++)
        if (strcmp(r->providers[i]->name, name) == 0)
            snprintf(out, 32, "%s", r->providers[i]->status);
    llmgw__v1__providers_response__free_unpacked(r, NULL);
}

/* Polls until provider `name` has status `want`, up to timeout_ms (scaled). */
static bool wait_status(const char *name, const char *want, int timeout_ms)
{
    char st[32];
    timeout_ms = harness_scale_ms(timeout_ms);
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        provider_status(name, st);
        if (strcmp(st, want) == 0)
            return true;
        sleep_ms(50);
    }
    fprintf(stderr, "provider %s: status '%s', want '%s'\n", name, st, want);
    return false;
}

static const Llmgw__V1__RouteCandidate *candidate(const Llmgw__V1__RouteDecision *d,
                                                  const char *provider)
{
    for (size_t i = 0; i < d->n_candidates; i++)
        if (strcmp(d->candidates[i]->provider, provider) == 0)
            return d->candidates[i];
    return NULL;
}

/* --- setup --------------------------------------------------------------- */

static char flaky_listen[64];

static int group_setup(void **state)
{
    const char *fast_args[] = {"--latency-ms", "5", "--models", "m,extra-model", NULL};
    const char *slow_args[] = {"--latency-ms", "60", NULL};
    if (harness_start_sim(&sim_fast, "fast", fast_args) < 0 ||
        harness_start_sim(&sim_slow, "slow", slow_args) < 0 ||
        harness_start_sim(&sim_flaky, "flaky", NULL) < 0)
        return -1;
    snprintf(flaky_listen, sizeof(flaky_listen), "127.0.0.1:%d", sim_flaky.port);
    const char *table =
        harness_write("table.json", "%s", table_json(sim_fast.port, sim_slow.port, sim_flaky.port));
    if (!table || harness_start_dataplane(&dp, table, NULL) < 0)
        return -1;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    ch = gc_channel_new(target);
    return ch ? 0 : -1;
}

static int group_teardown(void **state)
{
    gc_channel_free(ch);
    int rc = harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim_fast, SIGTERM, 2000);
    harness_stop(&sim_slow, SIGTERM, 2000);
    harness_stop(&sim_flaky, SIGTERM, 2000);
    harness_cleanup();
    return rc == 0 ? 0 : -1;
}

/* --- tests --------------------------------------------------------------- */

static void test_latency_strategy_prefers_fast_sim_after_warm_up(void **state)
{
    /* Both start unmeasured (optimistic prior); a few calls measure both. */
    for (int i = 0; i < 4; i++) {
        result_t r = complete("r-latency");
        assert_int_equal(r.status, GRPC_STATUS_OK);
        result_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        result_t r = complete("r-latency");
        assert_int_equal(r.status, GRPC_STATUS_OK);
        const Llmgw__V1__RouteDecision *d = r.resp->route;
        assert_string_equal(d->strategy, "latency");
        assert_string_equal(d->provider, "fast");
        assert_int_equal(d->n_candidates, 2);
        const Llmgw__V1__RouteCandidate *slow = candidate(d, "slow");
        assert_non_null(slow);
        assert_true(slow->predicted_latency_ms >= 55);
        assert_true(d->predicted_latency_ms < slow->predicted_latency_ms);
        assert_non_null(strstr(d->reason, "latency: fastest (predicted) of 2 candidates: fast/m"));
        result_free(&r);
    }
}

static void test_cost_strategy_picks_cheaper_and_explain_agrees(void **state)
{
    result_t e = explain("r-cost");
    assert_int_equal(e.status, GRPC_STATUS_OK);
    assert_string_equal(e.explain->route->provider, "slow");
    assert_string_equal(e.explain->route->strategy, "cost");
    assert_int_equal(e.explain->route->n_attempts, 0);
    assert_int_equal(e.explain->route->n_candidates, 2);
    assert_string_equal(e.explain->route->candidates[0]->provider, "slow");
    assert_true(e.explain->route->predicted_cost_usd > 0);
    result_t c = complete("r-cost");
    assert_int_equal(c.status, GRPC_STATUS_OK);
    assert_string_equal(c.resp->route->provider, e.explain->route->provider);
    assert_non_null(strstr(c.resp->route->reason, "cost: cheapest of 2 candidates: slow/m $"));
    assert_true(c.resp->route->predicted_cost_usd == e.explain->route->predicted_cost_usd);
    result_free(&e);
    result_free(&c);
}

static void test_breaker_opens_and_open_deployment_costs_zero_attempts(void **state)
{
    for (int i = 0; i < 2; i++) {
        result_t r = complete("r-breaker");
        assert_int_equal(r.status, GRPC_STATUS_OK);
        assert_int_equal(r.resp->route->n_attempts, 2);
        assert_string_equal(r.resp->route->attempts[0]->provider, "e503");
        result_free(&r);
    }
    /* two consecutive failures: open for the 10-minute cool-down */
    for (int i = 0; i < 3; i++) {
        result_t r = complete("r-breaker");
        assert_int_equal(r.status, GRPC_STATUS_OK);
        assert_int_equal(r.resp->route->n_attempts, 1);
        assert_string_equal(r.resp->route->provider, "fast");
        const Llmgw__V1__RouteCandidate *c = candidate(r.resp->route, "e503");
        assert_non_null(c);
        assert_true(c->excluded);
        assert_non_null(strstr(c->reason, "breaker open: 2 consecutive failures"));
        result_free(&r);
    }
    result_t e = explain("r-breaker");
    assert_int_equal(e.status, GRPC_STATUS_OK);
    assert_string_equal(e.explain->route->provider, "fast");
    result_free(&e);
    Llmgw__V1__ProvidersResponse *p = providers();
    assert_non_null(p);
    bool seen = false;
    for (size_t i = 0; i < p->n_providers; i++) {
        if (strcmp(p->providers[i]->name, "e503") != 0)
            continue;
        seen = true;
        assert_string_equal(p->providers[i]->status, "degraded");
        assert_string_equal(p->providers[i]->deployments[0]->breaker, "open");
        assert_non_null(strstr(p->providers[i]->deployments[0]->last_error, "server"));
    }
    assert_true(seen);
    llmgw__v1__providers_response__free_unpacked(p, NULL);
    /* direct to an open deployment: UNAVAILABLE at once, naming the breaker */
    result_t d = complete("e503/m");
    assert_int_equal(d.status, GRPC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(buf_cstr(&d.details), "e503/m: breaker open"));
    result_free(&d);
}

static void test_retry_after_skips_deployment_until_it_passes(void **state)
{
    result_t r = complete("r-retry");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.resp->route->n_attempts, 2);
    assert_string_equal(r.resp->route->attempts[0]->error_type, "rate_limit");
    result_free(&r);
    /* the sim says Retry-After: 1 */
    r = complete("r-retry");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.resp->route->n_attempts, 1);
    const Llmgw__V1__RouteCandidate *c = candidate(r.resp->route, "e429");
    assert_non_null(c);
    assert_true(c->excluded);
    assert_non_null(strstr(c->reason, "retry-after"));
    result_free(&r);
    /* direct to the waiting deployment: no attempt, RESOURCE_EXHAUSTED (back off) */
    r = complete("e429/m");
    assert_int_equal(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(buf_cstr(&r.details), "retry-after"));
    result_free(&r);
    sleep_ms(1100);
    r = complete("r-retry");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.resp->route->n_attempts, 2);
    result_free(&r);
}

static void test_retry_budget_limits_attempts(void **state)
{
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.max_attempts = 1;
    result_t r = call("/llmgw.v1.ChatService/Complete", request("r-budget", &o));
    assert_int_equal(r.status, GRPC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(buf_cstr(&r.details),
                           "retry budget of 1 attempts spent: e500/m: server (HTTP 500)"));
    result_free(&r);
    r = complete("r-budget"); /* without a budget the fallback serves it */
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.resp->route->n_attempts, 2);
    result_free(&r);
}

static void test_health_goes_down_when_sim_killed_and_up_when_restarted(void **state)
{
    assert_true(wait_status("flaky", "healthy", 3000));
    assert_int_equal(harness_stop(&sim_flaky, SIGTERM, 2000), 0);
    assert_true(wait_status("flaky", "down", 3000));
    /* down: its breakers are open, so the route skips it at zero attempts */
    result_t r = complete("r-flaky");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->route->provider, "slow");
    assert_int_equal(r.resp->route->n_attempts, 1);
    result_free(&r);
    Llmgw__V1__ListModelsResponse *lm = list_models();
    assert_non_null(lm);
    bool seen = false;
    for (size_t i = 0; i < lm->n_models; i++)
        if (strcmp(lm->models[i]->id, "flaky/m") == 0) {
            seen = true;
            assert_string_equal(lm->models[i]->status, "down");
            assert_non_null(strstr(lm->models[i]->status_reason, "probe failed"));
            assert_true(lm->models[i]->status_since_unix_ms > 0);
        }
    assert_true(seen);
    llmgw__v1__list_models_response__free_unpacked(lm, NULL);

    const char *again[] = {"--listen", flaky_listen, NULL};
    assert_int_equal(harness_start_sim(&sim_flaky, "flaky", again), 0);
    /* reachable again: breakers half-open, so degraded until traffic confirms */
    assert_true(wait_status("flaky", "degraded", 3000));
    r = complete("r-flaky"); /* the half-open breaker admits it and closes */
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->route->provider, "flaky");
    result_free(&r);
    assert_true(wait_status("flaky", "healthy", 0));
}

static void test_discovery_lists_and_routes_a_model_the_sim_lists(void **state)
{
    bool listed = false;
    for (int waited = 0; waited < 3000 && !listed; waited += 50) {
        Llmgw__V1__ListModelsResponse *lm = list_models();
        assert_non_null(lm);
        for (size_t i = 0; i < lm->n_models; i++)
            if (strcmp(lm->models[i]->id, "fast/extra-model") == 0) {
                listed = true;
                assert_string_equal(lm->models[i]->kind, "discovered");
                assert_string_equal(lm->models[i]->provider, "fast");
            }
        llmgw__v1__list_models_response__free_unpacked(lm, NULL);
        if (!listed)
            sleep_ms(50);
    }
    assert_true(listed);
    result_t r = complete("fast/extra-model");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->route->model, "extra-model");
    result_free(&r);
    /* slow has no "discover": its listing does not make models routable */
    r = complete("slow/extra-model");
    assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
    result_free(&r);
}

static void test_bad_routing_options_are_rejected_with_reasons(void **state)
{
    Llmgw__V1__RoutingOptions o = LLMGW__V1__ROUTING_OPTIONS__INIT;
    o.strategy = "fastest";
    result_t r = call("/llmgw.v1.ChatService/Complete", request("r-cost", &o));
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "routing.strategy: expected one of"));
    result_free(&r);
    o.strategy = "";
    o.max_cost_usd = 1e-12;
    r = call("/llmgw.v1.RoutingService/Explain", request("r-cost", &o));
    assert_int_equal(r.status, GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(buf_cstr(&r.details), "fast/m: expected cost"));
    assert_non_null(strstr(buf_cstr(&r.details), "slow/m: expected cost"));
    result_free(&r);
    r = call("/llmgw.v1.ChatService/Complete", request("r-cost", &o));
    assert_int_equal(r.status, GRPC_STATUS_FAILED_PRECONDITION);
    result_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latency_strategy_prefers_fast_sim_after_warm_up),
        cmocka_unit_test(test_cost_strategy_picks_cheaper_and_explain_agrees),
        cmocka_unit_test(test_breaker_opens_and_open_deployment_costs_zero_attempts),
        cmocka_unit_test(test_retry_after_skips_deployment_until_it_passes),
        cmocka_unit_test(test_retry_budget_limits_attempts),
        cmocka_unit_test(test_health_goes_down_when_sim_killed_and_up_when_restarted),
        cmocka_unit_test(test_discovery_lists_and_routes_a_model_the_sim_lists),
        cmocka_unit_test(test_bad_routing_options_are_rejected_with_reasons),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
