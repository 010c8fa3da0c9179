/* Unit tests for usage_stats (request / attempt counters and the minute
 * window) and prom (the exposition written from them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"
#include "usage_stats.h"

typedef struct {
    usage_series_t seen[8];
    size_t n;
} collect_t;

static void collect(void *ud, const usage_series_t *s)
{
    collect_t *c = ud;
    if (c->n < 8)
        c->seen[c->n++] = *s;
}

static usage_event_t event(const char *route, const char *status, int64_t latency_us)
{
    usage_event_t e = {.route = route,
                       .provider = "p",
                       .model = "m",
                       .status = status,
                       .latency_us = latency_us,
                       .prompt_tokens = 10,
                       .completion_tokens = 5,
                       .cost_usd = 0.5,
                       .attempts = 2};
    return e;
}

static void test_usage_stats_series_keyed_by_labels(void **state)
{
    usage_stats_t *s = usage_stats_new();
    assert_non_null(s);
    usage_stats_request_begin(s);
    usage_stats_request_begin(s);
    assert_int_equal(usage_stats_in_flight(s), 2);
    usage_event_t ok = event("r", "ok", 30000); /* 0.03 s */
    usage_stats_request_end(s, &ok, 1);
    usage_stats_request_end(s, &ok, 1);
    usage_event_t bad = event("r", "unavailable", 2000000);
    usage_stats_request_end(s, &bad, 0); /* never begun: the gauge stays */
    assert_int_equal(usage_stats_in_flight(s), 0);

    collect_t c = {0};
    usage_stats_foreach(s, collect, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.seen[0].status, "ok");
    assert_int_equal(c.seen[0].requests, 2);
    assert_int_equal(c.seen[0].fallbacks, 2);
    assert_int_equal(c.seen[0].prompt_tokens, 20);
    assert_true(c.seen[0].cost_usd == 1.0);
    /* cumulative buckets: 0.03 s is over 0.025 and within 0.05 */
    assert_int_equal(c.seen[0].latency_buckets[2], 0);
    assert_int_equal(c.seen[0].latency_buckets[3], 2);
    assert_int_equal(c.seen[0].latency_buckets[USAGE_STATS_N_BUCKETS - 1], 2);
    assert_int_equal(c.seen[1].latency_buckets[USAGE_STATS_N_BUCKETS - 1], 1);

    collect_t w = {0};
    usage_stats_foreach_window(s, 60, collect, &w);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.seen[0].requests, 2);
    assert_int_equal(w.seen[0].completion_tokens, 10);
    usage_stats_free(s);
}

typedef struct {
    size_t n;
    uint64_t other;
} overflow_t;

static void count_series(void *ud, const usage_series_t *se)
{
    overflow_t *o = ud;
    o->n++;
    if (!strcmp(se->model, "_other"))
        o->other += se->requests;
}

static void test_usage_stats_bounded_series_overflow_into_other(void **state)
{
    usage_stats_t *s = usage_stats_new();
    assert_non_null(s);
    char model[32];
    for (int i = 0; i < USAGE_STATS_MAX_SERIES + 10; i++) {
        snprintf(model, sizeof(model), "m%d", i);
        usage_event_t e = event("r", "ok", 1000);
        e.model = model;
        usage_stats_request_end(s, &e, 0);
    }
    overflow_t o = {0};
    usage_stats_foreach(s, count_series, &o);
    assert_int_equal(o.n, USAGE_STATS_MAX_SERIES + 1);
    assert_int_equal(o.other, 10);
    usage_stats_free(s);
}

static void test_usage_stats_status_names(void **state)
{
    assert_string_equal(usage_stats_status_name(0), "ok");
    assert_string_equal(usage_stats_status_name(1), "cancelled");
    assert_string_equal(usage_stats_status_name(14), "unavailable");
    assert_string_equal(usage_stats_status_name(16), "unauthenticated");
    assert_string_equal(usage_stats_status_name(99), "unknown");
}

static void test_prom_escapes_labels_and_declares_every_family(void **state)
{
    char err[256];
    const char *tj = "{\"version\":9,\"providers\":[{\"name\":\"p\",\"base_url\":\"http://x/v1\","
                     "\"models\":[{\"name\":\"m\"}]}],\"routes\":[]}";
    table_t *t = table_load_json(tj, strlen(tj), err, sizeof(err));
    assert_non_null(t);
    usage_stats_t *s = usage_stats_new();
    usage_event_t e = event("r", "ok", 1000);
    e.model = "we\"ird\\name\nx";
    usage_stats_request_end(s, &e, 0);
    usage_stats_attempt(s, "p", "m", "connect");
    http_gw_view_t v = {.table = t, .stats = s};
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(prom_write(&v, &out), 0);
    const char *text = buf_cstr(&out);
    assert_non_null(strstr(text, "llmgw_requests_total{route=\"r\",provider=\"p\",model="
                                 "\"we\\\"ird\\\\name\\nx\",status=\"ok\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE llmgw_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "llmgw_upstream_attempts_total{provider=\"p\",model=\"m\","
                                 "outcome=\"connect\"} 1\n"));
    assert_non_null(strstr(text, "llmgw_table_version 9\n"));
    assert_non_null(strstr(text, "llmgw_provider_up{provider=\"p\",health=\"unknown\"} 1\n"));
    /* every sample line's family has a TYPE line before it */
    const char *families[] = {"llmgw_requests_total",     "llmgw_fallbacks_total",
                              "llmgw_tokens_total",       "llmgw_cost_usd_total",
                              "llmgw_in_flight_requests", "llmgw_breaker_state"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "# TYPE %s ", families[i]);
        assert_non_null(strstr(text, want));
    }
    buf_free(&out);
    usage_stats_free(s);
    table_unref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_stats_series_keyed_by_labels),
        cmocka_unit_test(test_usage_stats_bounded_series_overflow_into_other),
        cmocka_unit_test(test_usage_stats_status_names),
        cmocka_unit_test(test_prom_escapes_labels_and_declares_every_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
