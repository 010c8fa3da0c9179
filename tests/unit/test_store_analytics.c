/* Unit tests for store_analytics_check: a batch's metric snapshots are
 * checked field by field before any SQL, and a bad one is refused naming the
 * snapshot and the field (the control plane answers INVALID_ARGUMENT with
 * the message and stores nothing of the batch). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_analytics.h"

#define NOW 1764547200000LL /* 2025-12-01T00:00:00Z */

typedef struct {
    Llmgw__V1__ReportUsageRequest req;
    Llmgw__V1__MetricSnapshot snap[2];
    Llmgw__V1__MetricSnapshot *ptrs[2];
    Llmgw__V1__LatencyHistogram hist;
    uint32_t bucket[3];
    uint64_t count[3];
    Llmgw__V1__DecisionCount dec;
    Llmgw__V1__DecisionCount *decp;
} batch_t;

/* A valid batch of two snapshots, the first with a histogram and a decision. */
static void batch_init(batch_t *b)
{
    memset(b, 0, sizeof(*b));
    llmgw__v1__report_usage_request__init(&b->req);
    llmgw__v1__latency_histogram__init(&b->hist);
    llmgw__v1__decision_count__init(&b->dec);
    b->bucket[0] = 5;
    b->bucket[1] = 700;
    b->bucket[2] = 1100;
    b->count[0] = b->count[1] = b->count[2] = 2;
    b->hist.bucket = b->bucket;
    b->hist.count = b->count;
    b->hist.n_bucket = b->hist.n_count = 3;
    b->dec.strategy = "priority";
    b->dec.reason = "first_choice";
    b->dec.count = 4;
    b->decp = &b->dec;
    for (int i = 0; i < 2; i++) {
        llmgw__v1__metric_snapshot__init(&b->snap[i]);
        b->snap[i].minute_unix_ms = NOW - 60000 * i;
        b->snap[i].provider = "openai";
        b->snap[i].model = "gpt-4o-mini";
        b->snap[i].route = "chat";
        b->snap[i].attempts = 6;
        b->snap[i].successes = 6;
        b->snap[i].cost_usd = 0.25;
        b->ptrs[i] = &b->snap[i];
    }
    b->snap[0].latency = &b->hist;
    b->snap[0].ttft = &b->hist;
    b->snap[0].decisions = &b->decp;
    b->snap[0].n_decisions = 1;
    b->req.metrics = b->ptrs;
    b->req.n_metrics = 2;
}

static void refused(batch_t *b, const char *want)
{
    char err[256] = "";
    assert_int_equal(store_analytics_check(&b->req, NOW, err, sizeof(err)), -1);
    if (strcmp(err, want) != 0)
        fail_msg("got '%s', want '%s'", err, want);
}

static void test_store_analytics_check_accepts_a_valid_batch(void **state)
{
    batch_t b;
    char err[256] = "";
    batch_init(&b);
    assert_int_equal(store_analytics_check(&b.req, NOW, err, sizeof(err)), 0);
    b.req.n_metrics = 0; /* a batch without snapshots (an older node's) */
    assert_int_equal(store_analytics_check(&b.req, NOW, err, sizeof(err)), 0);
}

static void test_store_analytics_check_names_the_bad_field(void **state)
{
    batch_t b;
    batch_init(&b);
    b.snap[1].minute_unix_ms = NOW + 30000;
    refused(&b, "metrics[1].minute_unix_ms: expected a minute's start from 2020-01-01 to a day "
                "from now");
    batch_init(&b);
    b.snap[0].minute_unix_ms = 1500000000000LL - 1500000000000LL % 60000; /* 2017 */
    refused(&b, "metrics[0].minute_unix_ms: expected a minute's start from 2020-01-01 to a day "
                "from now");
    batch_init(&b);
    b.snap[1].provider = "bad\001name";
    refused(&b, "metrics[1].provider: expected printable UTF-8 text");
    batch_init(&b);
    b.snap[0].model = "\xff\xfe";
    refused(&b, "metrics[0].model: expected printable UTF-8 text");
    batch_init(&b);
    char long_route[80];
    memset(long_route, 'r', sizeof(long_route) - 1);
    long_route[sizeof(long_route) - 1] = '\0';
    b.snap[0].route = long_route;
    refused(&b, "metrics[0].route: expected at most 64 bytes");
    batch_init(&b);
    b.snap[1].errors_timeout = -1;
    refused(&b, "metrics[1].errors_timeout: expected an integer >= 0");
    batch_init(&b);
    b.snap[0].cost_usd = NAN;
    refused(&b, "metrics[0].cost_usd: expected a finite number >= 0");
    batch_init(&b);
    b.snap[0].cost_usd = -0.5;
    refused(&b, "metrics[0].cost_usd: expected a finite number >= 0");
}

static void test_store_analytics_check_histograms_and_decisions(void **state)
{
    batch_t b;
    batch_init(&b);
    b.hist.n_count = 2;
    refused(&b, "metrics[0].latency: 3 buckets but 2 counts");
    batch_init(&b);
    b.bucket[2] = 1152;
    refused(&b, "metrics[0].latency.bucket[2]: expected an index below 1152");
    batch_init(&b);
    b.bucket[1] = 5;
    refused(&b, "metrics[0].latency.bucket[1]: expected ascending indexes");
    batch_init(&b);
    b.count[0] = ((uint64_t)1 << 50) + 1;
    refused(&b, "metrics[0].latency.count[0]: expected at most 2^50");
    batch_init(&b);
    b.snap[0].latency = NULL; /* then ttft is the one checked */
    b.bucket[1] = 2000;
    refused(&b, "metrics[0].ttft.bucket[1]: expected an index below 1152");
    batch_init(&b);
    b.dec.count = -3;
    refused(&b, "metrics[0].decisions[0].count: expected an integer >= 0");
    batch_init(&b);
    b.dec.reason = "tab\there";
    refused(&b, "metrics[0].decisions[0].reason: expected printable UTF-8 text");
}

static void test_store_analytics_check_ensemble_amounts(void **state)
{
    batch_t b;
    char err[256] = "";
    batch_init(&b);
    b.snap[0].ensemble_calls = 3;
    b.snap[0].ensemble_cost_usd = 1.5;
    b.snap[0].ensemble_savings_usd = 4.25;
    assert_int_equal(store_analytics_check(&b.req, NOW, err, sizeof(err)), 0);
    b.snap[0].ensemble_savings_usd = -0.01;
    refused(&b, "metrics[0].ensemble_savings_usd: expected a finite number >= 0");
    b.snap[0].ensemble_savings_usd = NAN;
    refused(&b, "metrics[0].ensemble_savings_usd: expected a finite number >= 0");
    b.snap[0].ensemble_savings_usd = 1e13;
    refused(&b, "metrics[0].ensemble_savings_usd: expected a finite number >= 0");
    b.snap[0].ensemble_savings_usd = 3000001; /* absurd for 3 calls */
    refused(&b, "metrics[0].ensemble_savings_usd: 3000001.00 for 3 ensemble calls, expected at "
                "most $1000000 a call");
    batch_init(&b);
    b.snap[1].ensemble_savings_usd = 0.5; /* savings without a call */
    refused(&b, "metrics[1].ensemble_savings_usd: 0.50 for 0 ensemble calls, expected at most "
                "$1000000 a call");
    batch_init(&b);
    b.snap[1].ensemble_cost_usd = -INFINITY;
    refused(&b, "metrics[1].ensemble_cost_usd: expected a finite number >= 0");
    batch_init(&b);
    b.snap[0].ensemble_calls = -2;
    refused(&b, "metrics[0].ensemble_calls: expected an integer >= 0");
}

static void test_store_analytics_check_bounds_the_snapshot_count(void **state)
{
    batch_t b;
    batch_init(&b);
    b.req.n_metrics = STORE_ANALYTICS_MAX_SNAPSHOTS + 1; /* checked before any is read */
    refused(&b, "metrics: expected at most 4096 snapshots, got 4097");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_analytics_check_accepts_a_valid_batch),
        cmocka_unit_test(test_store_analytics_check_names_the_bad_field),
        cmocka_unit_test(test_store_analytics_check_histograms_and_decisions),
        cmocka_unit_test(test_store_analytics_check_ensemble_amounts),
        cmocka_unit_test(test_store_analytics_check_bounds_the_snapshot_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
