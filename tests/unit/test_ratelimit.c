/* Unit tests for ratelimit.c: bursts refused, refill on an injected clock,
 * tokens settled on real usage, key and team limits together, reloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

static int64_t fake_now;

static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static char why[256];

static int admit(ratelimit_t *rl, const ratelimit_subject_t *s, int64_t tokens,
                 ratelimit_ticket_t *t, int64_t *retry_ms)
{
    ratelimit_ticket_t local;
    int64_t r_local;
    return ratelimit_admit(rl, s, 1, tokens, t ? t : &local, retry_ms ? retry_ms : &r_local, why,
                           sizeof(why));
}

static void test_ratelimit_unlimited_subjects_are_not_tracked(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "k", .team = "t"};
    ratelimit_ticket_t t;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(admit(rl, &s, 100000, &t, NULL), 0);
    assert_false(t.active);
    assert_int_equal(ratelimit_n_subjects(rl), 0);
    ratelimit_free(rl);
}

static void test_ratelimit_rpm_burst_refused_then_refilled(void **state)
{
    (void)state;
    fake_now = 1000000;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "burst", .key_rpm = 3};
    int64_t retry = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(rl, &s, 10, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 10, NULL, &retry), 1);
    /* 3 per minute: one request every 20 s. */
    assert_int_equal(retry, 20000);
    assert_non_null(strstr(why, "key 'burst' over 3 requests per minute"));
    assert_non_null(strstr(why, "retry in 20.000 s"));
    fake_now += 19999;
    assert_int_equal(admit(rl, &s, 10, NULL, &retry), 1);
    assert_int_equal(retry, 1);
    fake_now += 1;
    assert_int_equal(admit(rl, &s, 10, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 10, NULL, &retry), 1);
    /* A long idle time refills to one burst, not more. */
    fake_now += 3600 * 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(rl, &s, 10, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 10, NULL, &retry), 1);
    ratelimit_free(rl);
}

static void test_ratelimit_tpm_charges_estimate_and_settles(void **state)
{
    (void)state;
    fake_now = 5000;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "tok", .key_tpm = 1000};
    ratelimit_ticket_t t;
    int64_t retry;
    assert_int_equal(admit(rl, &s, 600, &t, &retry), 0);
    assert_true(t.active);
    assert_int_equal(t.charged_tokens, 600);
    /* 400 left: a 500-token estimate waits for 100 tokens = 6 s. */
    assert_int_equal(admit(rl, &s, 500, NULL, &retry), 1);
    assert_int_equal(retry, 6000);
    assert_non_null(strstr(why, "over 1000 tokens per minute"));
    /* The request really used 100: 500 refunded, 900 left. */
    ratelimit_settle(rl, &t, 100);
    assert_false(t.active);
    ratelimit_settle(rl, &t, 0); /* idempotent */
    ratelimit_ticket_t t2;
    assert_int_equal(admit(rl, &s, 900, &t2, &retry), 0);
    assert_int_equal(admit(rl, &s, 1, NULL, &retry), 1);
    /* Used more than estimated: the extra is charged (debt of 300). */
    ratelimit_settle(rl, &t2, 1200);
    assert_int_equal(admit(rl, &s, 1, NULL, &retry), 1);
    assert_int_equal(retry, 301 * 60);
    /* An unknown usage keeps the estimate. */
    fake_now += 60000 * 2;
    assert_int_equal(admit(rl, &s, 1000, &t, &retry), 0);
    ratelimit_settle(rl, &t, -1);
    assert_int_equal(admit(rl, &s, 1, NULL, &retry), 1);
    ratelimit_free(rl);
}

static void test_ratelimit_zero_requests_charge_tokens_only(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "ens", .key_rpm = 1, .key_tpm = 100};
    ratelimit_ticket_t t;
    int64_t retry;
    assert_int_equal(ratelimit_admit(rl, &s, 1, 0, &t, &retry, why, sizeof(why)), 0);
    /* Members of the admitted call: tokens only, the request is not counted again. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(ratelimit_admit(rl, &s, 0, 25, &t, &retry, why, sizeof(why)), 0);
    assert_int_equal(ratelimit_admit(rl, &s, 0, 1, &t, &retry, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "tokens per minute"));
    assert_int_equal(ratelimit_admit(rl, &s, 1, 0, &t, &retry, why, sizeof(why)), 1);
    ratelimit_free(rl);
}

/* A cache hit asks for a request and no tokens: a tokens bucket in debt
 * (a request used more than estimated) does not refuse it. */
static void test_ratelimit_zero_tokens_pass_a_bucket_in_debt(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "debt", .key_tpm = 60};
    ratelimit_ticket_t t;
    int64_t retry;
    assert_int_equal(admit(rl, &s, 54, &t, &retry), 0);
    ratelimit_settle(rl, &t, 400); /* deep in debt */
    assert_int_equal(admit(rl, &s, 1, NULL, &retry), 1);
    assert_true(retry > 0);
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    assert_int_equal(retry, 0);
    ratelimit_free(rl);
}

static void test_ratelimit_estimate_above_limit_needs_full_bucket(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t s = {.key = "big", .key_tpm = 100};
    int64_t retry;
    assert_int_equal(admit(rl, &s, 5000, NULL, &retry), 0);
    /* In debt for a whole minute at most. */
    assert_int_equal(admit(rl, &s, 1, NULL, &retry), 1);
    assert_true(retry <= 2 * 60000 && retry > 60000);
    ratelimit_free(rl);
}

static void test_ratelimit_team_limit_shared_by_keys_and_atomic(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    ratelimit_subject_t a = {.key = "a", .key_rpm = 10, .team = "t", .team_rpm = 3};
    ratelimit_subject_t b = {.key = "b", .key_rpm = 1, .team = "t", .team_rpm = 3};
    int64_t retry;
    assert_int_equal(admit(rl, &a, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &b, 0, NULL, &retry), 0);
    /* b's own limit refuses; the team is not charged for the refusal. */
    assert_int_equal(admit(rl, &b, 0, NULL, &retry), 1);
    assert_non_null(strstr(why, "key 'b'"));
    assert_int_equal(admit(rl, &a, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &a, 0, NULL, &retry), 1);
    assert_non_null(strstr(why, "team 't' over 3 requests per minute"));
    ratelimit_free(rl);
}

static void test_ratelimit_state_survives_reload_and_limit_changes(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    char name1[8] = "reload", name2[8] = "reload"; /* a new table: new strings, same name */
    ratelimit_subject_t s = {.key = name1, .key_rpm = 2};
    int64_t retry;
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    s.key = name2;
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 1);
    /* A raised limit refills at the new rate; the level is kept. */
    s.key_rpm = 60;
    fake_now += 1000;
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 1);
    /* A lowered limit clamps the level to the new burst. */
    fake_now += 60000;
    s.key_rpm = 1;
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 1);
    /* Limit removed: admitted, nothing tracked for it any more matters. */
    s.key_rpm = 0;
    assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    ratelimit_free(rl);
}

static void test_ratelimit_full_map_drops_refilled_subjects(void **state)
{
    (void)state;
    fake_now = 0;
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    char name[32];
    int64_t retry;
    for (int i = 0; i < RATELIMIT_MAX_SUBJECTS; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        ratelimit_subject_t s = {.key = name, .key_rpm = 5};
        assert_int_equal(admit(rl, &s, 0, NULL, &retry), 0);
    }
    assert_int_equal(ratelimit_n_subjects(rl), RATELIMIT_MAX_SUBJECTS);
    /* Nothing refilled yet: a new subject is admitted untracked. */
    ratelimit_subject_t n = {.key = "new", .key_rpm = 1};
    assert_int_equal(admit(rl, &n, 0, NULL, &retry), 0);
    assert_int_equal(admit(rl, &n, 0, NULL, &retry), 0);
    /* After a minute every old bucket is full and carries no state. */
    fake_now += 60000;
    assert_int_equal(admit(rl, &n, 0, NULL, &retry), 0);
    assert_int_equal(ratelimit_n_subjects(rl), 1);
    assert_int_equal(admit(rl, &n, 0, NULL, &retry), 1);
    ratelimit_free(rl);
}

typedef struct {
    ratelimit_t *rl;
    int admitted;
} worker_t;

static void *worker(void *ud)
{
    worker_t *w = ud;
    ratelimit_subject_t s = {.key = "shared", .key_rpm = 1000, .key_tpm = 1000000};
    for (int i = 0; i < 2000; i++) {
        ratelimit_ticket_t t;
        int64_t retry;
        char buf[128];
        if (ratelimit_admit(w->rl, &s, 1, 10, &t, &retry, buf, sizeof(buf)) == 0) {
            w->admitted++;
            ratelimit_settle(w->rl, &t, 10);
        }
    }
    return NULL;
}

static void test_ratelimit_threads_admit_exactly_the_burst(void **state)
{
    (void)state;
    fake_now = 0; /* frozen: no refill */
    ratelimit_t *rl = ratelimit_new(fake_clock, NULL);
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){rl, 0};
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].admitted;
    }
    assert_int_equal(total, 1000);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_unlimited_subjects_are_not_tracked),
        cmocka_unit_test(test_ratelimit_rpm_burst_refused_then_refilled),
        cmocka_unit_test(test_ratelimit_tpm_charges_estimate_and_settles),
        cmocka_unit_test(test_ratelimit_zero_requests_charge_tokens_only),
        cmocka_unit_test(test_ratelimit_zero_tokens_pass_a_bucket_in_debt),
        cmocka_unit_test(test_ratelimit_estimate_above_limit_needs_full_bucket),
        cmocka_unit_test(test_ratelimit_team_limit_shared_by_keys_and_atomic),
        cmocka_unit_test(test_ratelimit_state_survives_reload_and_limit_changes),
        cmocka_unit_test(test_ratelimit_full_map_drops_refilled_subjects),
        cmocka_unit_test(test_ratelimit_threads_admit_exactly_the_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
