/* Unit tests for usage_log against an in-process fake UsageService: records
 * are batched and delivered in order; while the control plane is away the
 * batches are spilled, and a node started again re-sends them first, in
 * order; a batch refused as invalid is set aside and the next one goes on;
 * record strings are cleaned so the control plane's checks pass. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/grpc.h>

#include "grpc_server.h"
#include "llmgw/v1/usage.pb-c.h"
#include "usage_log.h"
#include "usage_spill.h"

typedef enum { FAKE_ACCEPT, FAKE_UNAVAILABLE, FAKE_INVALID_ONCE } fake_mode_t;

typedef struct {
    int64_t epoch, seq;
    size_t n;
} fake_batch_t;

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static fake_mode_t fake_mode;
static fake_batch_t fake_got[256];
static size_t fake_n;
static char fake_first_id[80], fake_first_model[300], fake_auth[128];

static void fake_report(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    (void)ctx;
    Llmgw__V1__ReportUsageRequest *r = llmgw__v1__report_usage_request__unpack(NULL, len, msg);
    if (!r) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "undecodable", NULL, 0);
        return;
    }
    pthread_mutex_lock(&fake_mu);
    fake_mode_t mode = fake_mode;
    if (mode == FAKE_INVALID_ONCE)
        fake_mode = FAKE_ACCEPT;
    if (mode == FAKE_ACCEPT && fake_n < 256) {
        fake_got[fake_n++] = (fake_batch_t){r->epoch, r->seq, r->n_records};
        if (fake_n == 1 && r->n_records > 0) {
            snprintf(fake_first_id, sizeof(fake_first_id), "%s", r->records[0]->request_id);
            snprintf(fake_first_model, sizeof(fake_first_model), "%s", r->records[0]->model);
            const char *a = gs_call_metadata(call, "authorization");
            snprintf(fake_auth, sizeof(fake_auth), "%s", a ? a : "");
        }
    }
    pthread_mutex_unlock(&fake_mu);
    if (mode == FAKE_UNAVAILABLE) {
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "database down", NULL, 0);
    } else if (mode == FAKE_INVALID_ONCE) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "records[0].cost_usd: bad", NULL, 0);
    } else {
        Llmgw__V1__ReportUsageResponse a = LLMGW__V1__REPORT_USAGE_RESPONSE__INIT;
        a.acked_seq = r->seq;
        uint8_t out[64];
        size_t n = llmgw__v1__report_usage_response__pack(&a, out);
        gs_call_finish(call, GRPC_STATUS_OK, NULL, out, n);
    }
    llmgw__v1__report_usage_request__free_unpacked(r, NULL);
}

static gs_server_t *g_srv;
static char g_target[64];

static int ul_setup(void **state)
{
    (void)state;
    char err[256];
    grpc_init();
    if (!(g_srv = gs_server_new()) ||
        gs_server_add_method(g_srv, "/llmgw.v1.UsageService/ReportUsage", GS_UNARY, fake_report,
                             NULL) < 0)
        return -1;
    int port = gs_server_start(g_srv, "127.0.0.1:0", 1, err, sizeof(err));
    if (port < 0)
        return -1;
    snprintf(g_target, sizeof(g_target), "127.0.0.1:%d", port);
    return 0;
}

static int ul_teardown(void **state)
{
    (void)state;
    gs_server_shutdown(g_srv, 0);
    gs_server_free(g_srv);
    grpc_shutdown();
    return 0;
}

static void fake_reset(fake_mode_t mode)
{
    pthread_mutex_lock(&fake_mu);
    fake_mode = mode;
    fake_n = 0;
    fake_first_id[0] = fake_first_model[0] = fake_auth[0] = '\0';
    pthread_mutex_unlock(&fake_mu);
}

static size_t fake_records(void)
{
    size_t n = 0;
    pthread_mutex_lock(&fake_mu);
    for (size_t i = 0; i < fake_n; i++)
        n += fake_got[i].n;
    pthread_mutex_unlock(&fake_mu);
    return n;
}

/* A copy of what the fake received (assertions never run under fake_mu:
 * a failing one jumps out of the test). */
typedef struct {
    fake_batch_t got[256];
    size_t n;
    char id[80], model[300], auth[128];
} fake_seen_t;

static void fake_snapshot(fake_seen_t *f)
{
    pthread_mutex_lock(&fake_mu);
    memcpy(f->got, fake_got, sizeof(fake_got));
    f->n = fake_n;
    memcpy(f->id, fake_first_id, sizeof(f->id));
    memcpy(f->model, fake_first_model, sizeof(f->model));
    memcpy(f->auth, fake_auth, sizeof(f->auth));
    pthread_mutex_unlock(&fake_mu);
}

static bool wait_for(size_t records, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if (fake_records() >= records)
            return true;
        usleep(20000);
    }
    return fake_records() >= records;
}

static void record_n(usage_log_t *l, int n)
{
    for (int i = 0; i < n; i++) {
        usage_record_t r = {.key = "k",
                            .team = "t",
                            .route = "chat",
                            .provider = "sim",
                            .model = "m",
                            .prompt_tokens = 1,
                            .completion_tokens = 2,
                            .cost_usd = 0.001,
                            .latency_ms = 3};
        usage_log_record(l, &r);
    }
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void test_usage_log_batches_in_order(void **state)
{
    (void)state;
    fake_reset(FAKE_ACCEPT);
    usage_log_config_t cfg = {
        .target = g_target, .node_id = "n1", .token = "tok", .flush_ms = 50, .batch_max = 10};
    usage_log_t *l = usage_log_start(&cfg);
    assert_non_null(l);
    record_n(l, 25);
    assert_true(wait_for(25, 5000));
    usage_log_stats_t st;
    usage_log_stats(l, &st);
    usage_log_stop(l, 1000);
    assert_int_equal(st.recorded, 25);
    static fake_seen_t f;
    fake_snapshot(&f);
    assert_true(f.n >= 3);
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(f.got[i].seq, (int64_t)i + 1);
        assert_int_equal(f.got[i].epoch, f.got[0].epoch);
        assert_true(f.got[i].n <= 10);
    }
    assert_string_equal(f.auth, "Bearer tok");
}

static void test_usage_log_spills_and_resends_after_restart(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-ul-test.XXXXXX", spill[600];
    assert_non_null(mkdtemp(dir));
    snprintf(spill, sizeof(spill), "%s/usage", dir);
    fake_reset(FAKE_UNAVAILABLE);
    usage_log_config_t cfg = {
        .target = g_target, .node_id = "n1", .state_dir = dir, .flush_ms = 50, .batch_max = 5};
    usage_log_t *l = usage_log_start(&cfg);
    assert_non_null(l);
    record_n(l, 12);
    usage_log_stats_t st = {0};
    for (int i = 0; i < 250 && st.spilled < 2; i++) {
        usleep(20000);
        usage_log_stats(l, &st);
    }
    assert_true(st.spilled >= 2);
    record_n(l, 3);
    usage_log_stop(l, 200); /* still away: the rest goes to disk too */
    size_t files = count_files(spill, ".usage");
    assert_true(files >= 3);
    /* Back: a new run re-sends the old batches first, in order, then its own. */
    fake_reset(FAKE_ACCEPT);
    l = usage_log_start(&cfg);
    assert_non_null(l);
    record_n(l, 4);
    assert_true(wait_for(19, 10000));
    usage_log_stop(l, 1000);
    assert_int_equal(fake_records(), 19);
    static fake_seen_t f;
    fake_snapshot(&f);
    int64_t old_epoch = f.got[0].epoch;
    for (size_t i = 0; i < files; i++) {
        assert_int_equal(f.got[i].epoch, old_epoch);
        assert_int_equal(f.got[i].seq, (int64_t)i + 1);
    }
    assert_true(f.got[files].epoch > old_epoch);
    assert_int_equal(f.got[files].seq, 1);
    assert_int_equal(count_files(spill, ".usage"), 0);
    assert_int_equal(rmdir(spill), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_usage_log_sets_an_invalid_batch_aside(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-ul-test.XXXXXX", spill[600];
    assert_non_null(mkdtemp(dir));
    snprintf(spill, sizeof(spill), "%s/usage", dir);
    fake_reset(FAKE_INVALID_ONCE);
    usage_log_config_t cfg = {
        .target = g_target, .node_id = "n1", .state_dir = dir, .flush_ms = 50, .batch_max = 3};
    usage_log_t *l = usage_log_start(&cfg);
    assert_non_null(l);
    record_n(l, 3);
    usleep(300000);
    record_n(l, 3);
    assert_true(wait_for(3, 5000));
    usage_log_stats_t st;
    usage_log_stats(l, &st);
    usage_log_stop(l, 1000);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(count_files(spill, ".rejected"), 1);
    static fake_seen_t f;
    fake_snapshot(&f);
    assert_int_equal(f.got[0].seq, 2); /* the next batch went on */
    DIR *d = opendir(spill);
    struct dirent *de;
    char path[900];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", spill, de->d_name);
        unlink(path);
    }
    closedir(d);
    assert_int_equal(rmdir(spill), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_usage_log_cleans_strings_and_makes_request_ids(void **state)
{
    (void)state;
    fake_reset(FAKE_ACCEPT);
    usage_log_config_t cfg = {.target = g_target, .node_id = "n1", .flush_ms = 50};
    usage_log_t *l = usage_log_start(&cfg);
    assert_non_null(l);
    char longm[400];
    memset(longm, 'x', sizeof(longm) - 1);
    longm[sizeof(longm) - 1] = '\0';
    longm[0] = 'a';
    longm[1] = '\n';
    longm[2] = (char)0xff; /* not UTF-8 */
    usage_record_t r = {.model = longm, .status = 99, .cost_usd = -5};
    usage_log_record(l, &r);
    assert_true(wait_for(1, 5000));
    usage_log_stop(l, 1000);
    static fake_seen_t f;
    fake_snapshot(&f);
    assert_true(strlen(f.id) > 0);
    assert_true(strlen(f.model) == 256);
    assert_memory_equal(f.model, "a??xxx", 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_log_batches_in_order),
        cmocka_unit_test(test_usage_log_spills_and_resends_after_restart),
        cmocka_unit_test(test_usage_log_sets_an_invalid_batch_aside),
        cmocka_unit_test(test_usage_log_cleans_strings_and_makes_request_ids),
    };
    return cmocka_run_group_tests(tests, ul_setup, ul_teardown);
}
