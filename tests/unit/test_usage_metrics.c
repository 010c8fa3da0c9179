/* Unit tests for usage_metrics.c: attempts and requests accumulate per
 * (minute, deployment, route); usage_metrics_take encodes them as
 * ReportUsageRequest.metrics (decoded back here) and empties the
 * accumulator; the entry bound drops and counts; NULL is a no-op. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lathist.h"
#include "llmgw/v1/usage.pb-c.h"
#include "usage_metrics.h"

#define MINUTE 1764547200000LL /* 2025-12-01T00:00:00Z */

static Llmgw__V1__ReportUsageRequest *take(usage_metrics_t *m, int want)
{
    buf_t b = BUF_INIT(1u << 24);
    assert_int_equal(usage_metrics_take(m, &b), want);
    Llmgw__V1__ReportUsageRequest *r =
        llmgw__v1__report_usage_request__unpack(NULL, b.len, (const uint8_t *)b.data);
    buf_free(&b);
    assert_non_null(r);
    assert_int_equal(r->n_metrics, (size_t)want);
    return r;
}

static const Llmgw__V1__MetricSnapshot *find(const Llmgw__V1__ReportUsageRequest *r, int64_t minute,
                                             const char *provider, const char *route)
{
    for (size_t i = 0; i < r->n_metrics; i++)
        if (r->metrics[i]->minute_unix_ms == minute &&
            strcmp(r->metrics[i]->provider, provider) == 0 &&
            strcmp(r->metrics[i]->route, route) == 0)
            return r->metrics[i];
    fail_msg("no snapshot for %s on %s", provider, route);
    return NULL;
}

static void test_usage_metrics_accumulates_per_minute_and_deployment(void **state)
{
    usage_metrics_t *m = usage_metrics_new();
    assert_non_null(m);
    for (int i = 0; i < 10; i++) {
        usage_metrics_attempt_t a = {.provider = "a",
                                     .model = "fast",
                                     .route = "r",
                                     .cls = USAGE_METRICS_OK,
                                     .latency_us = 50000 + i,
                                     .ttft_us = 20000,
                                     .output_tokens = 10,
                                     .unix_ms = MINUTE + 1000 * i};
        usage_metrics_attempt(m, &a);
    }
    usage_metrics_attempt_t f = {.provider = "a",
                                 .model = "fast",
                                 .route = "r",
                                 .cls = USAGE_METRICS_TIMEOUT,
                                 .latency_us = 9000,
                                 .ttft_us = -1,
                                 .breaker_opened = true,
                                 .unix_ms = MINUTE + 59999};
    usage_metrics_attempt(m, &f);
    f.cls = USAGE_METRICS_OTHER;
    f.breaker_opened = false;
    usage_metrics_attempt(m, &f);
    /* The next minute is another entry. */
    f.unix_ms = MINUTE + 60000;
    f.cls = USAGE_METRICS_SERVER;
    usage_metrics_attempt(m, &f);
    usage_metrics_request_t rq = {.provider = "a",
                                  .model = "fast",
                                  .route = "r",
                                  .ok = true,
                                  .fallback = true,
                                  .prompt_tokens = 3,
                                  .completion_tokens = 4,
                                  .cost_usd = 0.25,
                                  .strategy = "priority",
                                  .reason = "fallback",
                                  .unix_ms = MINUTE + 5};
    usage_metrics_request(m, &rq);
    rq.reason = "first_choice";
    rq.fallback = false;
    usage_metrics_request(m, &rq);
    usage_metrics_request(m, &rq);
    assert_int_equal(usage_metrics_entries(m), 2);

    Llmgw__V1__ReportUsageRequest *r = take(m, 2);
    const Llmgw__V1__MetricSnapshot *s = find(r, MINUTE, "a", "r");
    assert_string_equal(s->model, "fast");
    assert_int_equal(s->attempts, 12);
    assert_int_equal(s->successes, 10);
    assert_int_equal(s->errors_timeout, 1);
    assert_int_equal(s->errors_other, 1);
    assert_int_equal(s->breaker_opened, 1);
    assert_int_equal(s->output_tokens, 100);
    assert_int_equal(s->generation_us, 10 * 30000 + 45);
    assert_int_equal(s->requests, 3);
    assert_int_equal(s->requests_ok, 3);
    assert_int_equal(s->fallbacks, 1);
    assert_int_equal(s->prompt_tokens, 9);
    assert_true(s->cost_usd > 0.7499 && s->cost_usd < 0.7501);
    assert_int_equal(s->n_decisions, 2);
    assert_non_null(s->latency);
    lathist_t h = LATHIST_INIT;
    char err[128];
    assert_int_equal(lathist_add_sparse(&h, s->latency->bucket, s->latency->count,
                                        s->latency->n_bucket, err, sizeof(err)),
                     0);
    assert_int_equal(h.total, 10); /* successes only */
    double p50 = lathist_quantile(&h, 0.5);
    assert_true(p50 > 50000 * (1 - LATHIST_REL_ERROR) && p50 < 50010 * (1 + LATHIST_REL_ERROR));
    assert_int_equal(s->ttft->n_bucket, 1);
    const Llmgw__V1__MetricSnapshot *next = find(r, MINUTE + 60000, "a", "r");
    assert_int_equal(next->errors_server, 1);
    assert_null(next->latency); /* no success: no histogram */
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);

    /* Taken means gone. */
    assert_int_equal(usage_metrics_entries(m), 0);
    r = take(m, 0);
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    usage_metrics_free(m);
}

static void test_usage_metrics_bound_drops_and_counts(void **state)
{
    usage_metrics_t *m = usage_metrics_new();
    assert_non_null(m);
    char name[32];
    for (int i = 0; i < USAGE_METRICS_MAX_ENTRIES + 5; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        usage_metrics_attempt_t a = {
            .provider = name, .model = "m", .cls = USAGE_METRICS_OTHER, .unix_ms = MINUTE};
        usage_metrics_attempt(m, &a);
    }
    assert_int_equal(usage_metrics_entries(m), USAGE_METRICS_MAX_ENTRIES);
    assert_int_equal(usage_metrics_dropped(m), 5);
    /* Decisions past the per-entry bound are dropped and counted too. */
    Llmgw__V1__ReportUsageRequest *r = take(m, USAGE_METRICS_MAX_ENTRIES);
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    char reason[16];
    for (int i = 0; i < USAGE_METRICS_MAX_DECISIONS + 2; i++) {
        snprintf(reason, sizeof(reason), "r%d", i);
        usage_metrics_request_t rq = {
            .provider = "a", .model = "m", .strategy = "cost", .reason = reason, .unix_ms = MINUTE};
        usage_metrics_request(m, &rq);
    }
    assert_int_equal(usage_metrics_dropped(m), 7);
    r = take(m, 1);
    assert_int_equal(r->metrics[0]->n_decisions, USAGE_METRICS_MAX_DECISIONS);
    assert_int_equal(r->metrics[0]->requests, USAGE_METRICS_MAX_DECISIONS + 2);
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    usage_metrics_free(m);
}

static void test_usage_metrics_consistency_and_long_names(void **state)
{
    usage_metrics_t *m = usage_metrics_new();
    assert_non_null(m);
    char model[400];
    memset(model, 'x', sizeof(model) - 1);
    model[sizeof(model) - 1] = '\0';
    usage_metrics_consistency(m, "a", model, true);
    usage_metrics_consistency(m, "a", model, false);
    usage_metrics_consistency(m, "a", model, true);
    assert_int_equal(usage_metrics_entries(m), 1); /* the cut name matches itself */
    Llmgw__V1__ReportUsageRequest *r = take(m, 1);
    assert_int_equal(strlen(r->metrics[0]->model), 256);
    assert_int_equal(r->metrics[0]->consistency_samples, 3);
    assert_int_equal(r->metrics[0]->consistency_agreed, 2);
    assert_int_equal(r->metrics[0]->minute_unix_ms % 60000, 0);
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    usage_metrics_free(m);
}

/* Doubles within eps, printing both sides (cmocka's float assert is float). */
static void assert_near(double got, double want, double eps)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("got %.12g, want %.12g (within %g)", got, want, eps);
}

static void test_usage_metrics_ensemble_calls_cost_and_savings(void **state)
{
    usage_metrics_t *m = usage_metrics_new();
    assert_non_null(m);
    usage_metrics_ensemble(m, "a", "fast", 0.25, 0.75);
    usage_metrics_ensemble(m, "a", "fast", 0.5, 0);
    /* Bad amounts count as 0; the call still counts. */
    usage_metrics_ensemble(m, "a", "fast", -1, NAN);
    usage_metrics_ensemble(m, "a", "fast", INFINITY, 1e10);
    usage_metrics_ensemble(m, "b", "slow", 1, 2);
    Llmgw__V1__ReportUsageRequest *r = take(m, 2);
    const Llmgw__V1__MetricSnapshot *a = find(r, r->metrics[0]->minute_unix_ms, "a", "");
    const Llmgw__V1__MetricSnapshot *b = find(r, r->metrics[0]->minute_unix_ms, "b", "");
    assert_int_equal(a->ensemble_calls, 4);
    assert_near(a->ensemble_cost_usd, 0.75, 1e-12);
    assert_near(a->ensemble_savings_usd, 0.75, 1e-12);
    assert_int_equal(b->ensemble_calls, 1);
    assert_near(b->ensemble_cost_usd, 1, 1e-12);
    assert_near(b->ensemble_savings_usd, 2, 1e-12);
    assert_int_equal(a->requests, 0); /* an ensemble call is not a request of its own */
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
    usage_metrics_ensemble(NULL, "a", "fast", 1, 1);
    usage_metrics_free(m);
}

static void test_usage_metrics_null_is_a_no_op(void **state)
{
    usage_metrics_attempt_t a = {.provider = "a"};
    usage_metrics_request_t rq = {.provider = "a"};
    buf_t b = BUF_INIT(64);
    usage_metrics_attempt(NULL, &a);
    usage_metrics_request(NULL, &rq);
    usage_metrics_consistency(NULL, "a", "m", true);
    assert_int_equal(usage_metrics_take(NULL, &b), 0);
    assert_int_equal(usage_metrics_entries(NULL), 0);
    assert_int_equal(usage_metrics_dropped(NULL), 0);
    usage_metrics_free(NULL);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_metrics_accumulates_per_minute_and_deployment),
        cmocka_unit_test(test_usage_metrics_bound_drops_and_counts),
        cmocka_unit_test(test_usage_metrics_consistency_and_long_names),
        cmocka_unit_test(test_usage_metrics_ensemble_calls_cost_and_savings),
        cmocka_unit_test(test_usage_metrics_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
