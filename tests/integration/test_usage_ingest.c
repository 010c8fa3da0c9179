/* test_usage_ingest: UsageService and BudgetService at the RPC level against
 * a real PostgreSQL and a real llmgw-controlplane: exactly-once batches,
 * refusals naming the field (sequence gap, unknown node, bad records),
 * partitions made on demand, lease sizing down to exhaustion, a soft
 * budget's single audit row, a daily budget ignoring yesterday's usage, and
 * each role on the new RPC classes.
 *
 * "Unknown node" means a node id that never subscribed to
 * DistributionService.WatchRoutingTable (no dataplane_nodes row); the test
 * subscribes node "n1" for real and leaves "ghost" unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "buf.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/control.pb-c.h"
#include "llmgw/v1/usage.pb-c.h"

#define TOKEN "usage-test-admin-token-0123456789"
#define DAY_MS 86400000LL

static char g_dir[128];
static char g_url[512];
static harness_proc_t g_cp;
static gc_channel_t *g_ch;
static PGconn *g_db;
static char g_operator[128], g_auditor[128];

/* --- plumbing ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One call; resp (may be NULL) gets the answer, details the status text. */
static grpc_status_code call(const char *token, const char *method, const ProtobufCMessage *req,
                             buf_t *resp, buf_t *details)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    protobuf_c_message_pack(req, bytes);
    if (resp)
        buf_reset(resp);
    buf_reset(details);
    grpc_status_code st = gc_unary(g_ch, method, token, 10000, bytes, len, resp, details);
    free(bytes);
    return st;
}

static char *sql1(const char *sql)
{
    PGresult *r = PQexec(g_db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
        fail();
    }
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

static void expect_sql(const char *sql, const char *want)
{
    char *v = sql1(sql);
    if (strcmp(v, want) != 0)
        fprintf(stderr, "%s\n  got '%s', want '%s'\n", sql, v, want);
    assert_string_equal(v, want);
    free(v);
}

/* A batch of n records of cost_usd each, dated at_ms. */
typedef struct {
    Llmgw__V1__ReportUsageRequest req;
    Llmgw__V1__UsageRecord recs[8], *ptrs[8];
    char ids[8][32];
} batch_t;

static void batch_init(batch_t *b, const char *node, int64_t epoch, int64_t seq, size_t n,
                       double cost_usd, int64_t at_ms)
{
    static int next_id;
    llmgw__v1__report_usage_request__init(&b->req);
    b->req.node_id = (char *)node;
    b->req.epoch = epoch;
    b->req.seq = seq;
    b->req.n_records = n;
    b->req.records = b->ptrs;
    for (size_t i = 0; i < n; i++) {
        llmgw__v1__usage_record__init(&b->recs[i]);
        snprintf(b->ids[i], sizeof(b->ids[i]), "req-%d", ++next_id);
        b->recs[i].request_id = b->ids[i];
        b->recs[i].key = "k1";
        b->recs[i].team = "t1";
        b->recs[i].route = "chat";
        b->recs[i].provider = "sim";
        b->recs[i].model = "gpt-4o-mini";
        b->recs[i].prompt_tokens = 10;
        b->recs[i].completion_tokens = 20;
        b->recs[i].cost_usd = cost_usd;
        b->recs[i].latency_ms = 12;
        b->recs[i].unix_ms = at_ms;
        b->ptrs[i] = &b->recs[i];
    }
}

static grpc_status_code report(batch_t *b, buf_t *details, bool *duplicate)
{
    buf_t resp = BUF_INIT(1 << 16);
    grpc_status_code st =
        call(TOKEN, "/llmgw.v1.UsageService/ReportUsage", &b->req.base, &resp, details);
    if (st == GRPC_STATUS_OK && duplicate) {
        Llmgw__V1__ReportUsageResponse *r =
            llmgw__v1__report_usage_response__unpack(NULL, resp.len, (const uint8_t *)resp.data);
        assert_non_null(r);
        *duplicate = r->duplicate;
        assert_int_equal(r->acked_seq, b->req.seq);
        llmgw__v1__report_usage_response__free_unpacked(r, NULL);
    }
    buf_free(&resp);
    return st;
}

static grpc_status_code set_budget(const char *token, const char *name, const char *scope,
                                   const char *target, const char *period, double limit, bool hard,
                                   buf_t *details)
{
    Llmgw__V1__Budget b = LLMGW__V1__BUDGET__INIT;
    b.name = (char *)name;
    b.scope = (char *)scope;
    b.target = (char *)target;
    b.period = (char *)period;
    b.limit_usd = limit;
    b.hard = hard;
    Llmgw__V1__SetBudgetRequest r = LLMGW__V1__SET_BUDGET_REQUEST__INIT;
    r.budget = &b;
    return call(token, "/llmgw.v1.BudgetService/SetBudget", &r.base, NULL, details);
}

/* AcquireLease; *out unpacked (free it) when OK. */
static grpc_status_code acquire(const char *node, const char *budget, int64_t prev, double spent,
                                Llmgw__V1__Lease **out, buf_t *details)
{
    Llmgw__V1__AcquireLeaseRequest r = LLMGW__V1__ACQUIRE_LEASE_REQUEST__INIT;
    r.node_id = (char *)node;
    r.budget = (char *)budget;
    r.previous_lease_id = prev;
    r.previous_spent_usd = spent;
    buf_t resp = BUF_INIT(1 << 16);
    grpc_status_code st =
        call(TOKEN, "/llmgw.v1.UsageService/AcquireLease", &r.base, &resp, details);
    *out = st == GRPC_STATUS_OK
               ? llmgw__v1__lease__unpack(NULL, resp.len, (const uint8_t *)resp.data)
               : NULL;
    buf_free(&resp);
    return st;
}

static void mint_token(const char *name, const char *role, char *out, size_t outlen)
{
    Llmgw__V1__CreateAdminTokenRequest r = LLMGW__V1__CREATE_ADMIN_TOKEN_REQUEST__INIT;
    r.name = (char *)name;
    r.role = (char *)role;
    buf_t resp = BUF_INIT(1 << 16), details = BUF_INIT(1024);
    assert_int_equal(
        call(TOKEN, "/llmgw.v1.AdminTokenService/CreateAdminToken", &r.base, &resp, &details),
        GRPC_STATUS_OK);
    Llmgw__V1__CreateAdminTokenResponse *a =
        llmgw__v1__create_admin_token_response__unpack(NULL, resp.len, (const uint8_t *)resp.data);
    assert_non_null(a);
    snprintf(out, outlen, "%s", a->token);
    llmgw__v1__create_admin_token_response__free_unpacked(a, NULL);
    buf_free(&resp);
    buf_free(&details);
}

/* --- setup: cluster, control plane, one subscribed node ----------------------------- */

static int ui_setup(void **state)
{
    (void)state;
    const char *src = getenv("LLMGW_SRC_DIR");
    char cmd[1024], port_file[600], mig[600];
    if (!src)
        src = ".";
    snprintf(g_dir, sizeof(g_dir), "/tmp/llmgw-usage.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    chmod(g_dir, 0755);
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0\"/tests/support/pg_cluster.sh && pg_cluster_start \"$1\"/pg"
             " >&2 && echo \"$PG_URL\"' '%s' '%s'",
             src, g_dir);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(g_url, sizeof(g_url), p)) {
        if (p)
            pclose(p);
        return -1;
    }
    if (pclose(p) != 0)
        return -1;
    g_url[strcspn(g_url, "\n")] = '\0';
    setenv("LLMGW_ADMIN_TOKEN", TOKEN, 1);
    setenv("LLMGW_MASTER_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           1);
    snprintf(port_file, sizeof(port_file), "%s/cp.port", harness_dir());
    snprintf(mig, sizeof(mig), "%s/migrations", src);
    const char *argv[] = {harness_bin("llmgw-controlplane"),
                          "--insecure-dev",
                          "--database-url",
                          g_url,
                          "--migrations-dir",
                          mig,
                          "--listen",
                          "127.0.0.1:0",
                          "--port-file",
                          port_file,
                          "--workers",
                          "2",
                          NULL};
    if (harness_spawn(&g_cp, argv, port_file) < 0)
        return -1;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", g_cp.port);
    if (!(g_ch = gc_channel_new(target)))
        return -1;
    g_db = PQconnectdb(g_url);
    if (PQstatus(g_db) != CONNECTION_OK)
        return -1;
    /* Node n1 subscribes for real: that is what makes it known. */
    Llmgw__V1__NodeHello h = LLMGW__V1__NODE_HELLO__INIT;
    h.node_id = "n1";
    h.group = "";
    uint8_t hello[128];
    size_t hl = llmgw__v1__node_hello__pack(&h, hello);
    gc_stream_t *st = gc_stream_start(g_ch, "/llmgw.v1.DistributionService/WatchRoutingTable",
                                      TOKEN, 0, hello, hl);
    if (!st)
        return -1;
    int known = 0;
    for (int i = 0; i < 100 && !known; i++) {
        PGresult *r = PQexec(g_db, "SELECT 1 FROM dataplane_nodes WHERE node_id = 'n1'");
        known = PQntuples(r) == 1;
        PQclear(r);
        if (!known)
            usleep(100000);
    }
    gc_stream_cancel(st);
    buf_t details = BUF_INIT(1024);
    (void)gc_stream_finish(st, &details);
    buf_free(&details);
    if (!known)
        return -1;
    mint_token("ops", "operator", g_operator, sizeof(g_operator));
    mint_token("audit", "auditor", g_auditor, sizeof(g_auditor));
    return 0;
}

static int ui_teardown(void **state)
{
    (void)state;
    if (g_db)
        PQfinish(g_db);
    if (g_ch)
        gc_channel_free(g_ch);
    harness_stop(&g_cp, 15, 5000);
    harness_cleanup();
    const char *src = getenv("LLMGW_SRC_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0\"/tests/support/pg_cluster.sh && PG_DIR=\"$1\"/pg"
             " pg_cluster_stop; rm -rf \"$1\"' '%s' '%s'",
             src ? src : ".", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* --- usage ---------------------------------------------------------------------------- */

static void test_usage_unknown_node_is_refused_naming_node_id(void **state)
{
    (void)state;
    batch_t b;
    buf_t d = BUF_INIT(4096);
    batch_init(&b, "ghost", 1, 1, 2, 0.01, now_ms());
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(buf_cstr(&d), "node_id: 'ghost' is not a known node"));
    expect_sql("SELECT count(*) FROM usage_events WHERE node_id = 'ghost'", "0");
    expect_sql("SELECT count(*) FROM node_usage_seq WHERE node_id = 'ghost'", "0");
    buf_free(&d);
}

static void test_usage_batch_is_stored_exactly_once(void **state)
{
    (void)state;
    batch_t b;
    buf_t d = BUF_INIT(4096);
    bool dup = true;
    batch_init(&b, "n1", 100, 1, 3, 0.01, now_ms());
    assert_int_equal(report(&b, &d, &dup), GRPC_STATUS_OK);
    assert_false(dup);
    expect_sql("SELECT count(*) FROM usage_events WHERE node_id = 'n1'", "3");
    /* The same batch again (the ACK was lost): acknowledged, not stored. */
    assert_int_equal(report(&b, &d, &dup), GRPC_STATUS_OK);
    assert_true(dup);
    expect_sql("SELECT count(*) FROM usage_events WHERE node_id = 'n1'", "3");
    batch_init(&b, "n1", 100, 2, 2, 0.01, now_ms());
    assert_int_equal(report(&b, &d, &dup), GRPC_STATUS_OK);
    assert_false(dup);
    expect_sql("SELECT count(*) FROM usage_events WHERE node_id = 'n1'", "5");
    expect_sql("SELECT last_seq || '/' || events FROM node_usage_seq WHERE epoch = 100", "2/5");
    expect_sql("SELECT team || ',' || api_key || ',' || route || ',' || provider || ',' || model"
               " || ',' || prompt_tokens || ',' || completion_tokens FROM usage_events LIMIT 1",
               "t1,k1,chat,sim,gpt-4o-mini,10,20");
    buf_free(&d);
}

static void test_usage_sequence_gap_is_refused_naming_seq(void **state)
{
    (void)state;
    batch_t b;
    buf_t d = BUF_INIT(4096);
    batch_init(&b, "n1", 200, 1, 1, 0.01, now_ms());
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_OK);
    batch_init(&b, "n1", 200, 3, 1, 0.01, now_ms());
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(buf_cstr(&d), "seq: expected 2"));
    /* A new stream must start at 1. */
    batch_init(&b, "n1", 300, 2, 1, 0.01, now_ms());
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(buf_cstr(&d), "seq: expected 1"));
    expect_sql("SELECT count(*) FROM node_usage_seq WHERE epoch = 300", "0");
    expect_sql("SELECT count(*) FROM usage_events WHERE node_id = 'n1'", "6");
    buf_free(&d);
}

static void test_usage_bad_records_are_refused_naming_the_field(void **state)
{
    (void)state;
    batch_t b;
    buf_t d = BUF_INIT(4096);
    static const struct {
        int what;
        const char *needle;
    } cases[] = {
        {0, "records[1].cost_usd: expected a finite number >= 0"},
        {1, "records[1].status: expected a gRPC status code 0..16"},
        {2, "records[1].unix_ms: expected a time from 2020-01-01"},
        {3, "records[1].request_id: expected printable UTF-8 text"},
        {4, "records[1].prompt_tokens: expected an integer >= 0"},
        {5, "epoch: expected an integer > 0"},
        {6, "records: expected 1 to 10000 records, got 0"},
        {7, "node_id: expected 1 to 64 characters"},
        {8, "records[1].unix_ms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        batch_init(&b, "n1", 400, 1, 2, 0.01, now_ms());
        switch (cases[i].what) {
        case 0:
            b.recs[1].cost_usd = -1;
            break;
        case 1:
            b.recs[1].status = 17;
            break;
        case 2:
            b.recs[1].unix_ms = 0;
            break;
        case 3:
            b.recs[1].request_id = "bad\001id";
            break;
        case 4:
            b.recs[1].prompt_tokens = -5;
            break;
        case 5:
            b.req.epoch = 0;
            break;
        case 6:
            b.req.n_records = 0;
            break;
        case 7:
            b.req.node_id = "no spaces";
            break;
        case 8:
            b.recs[1].unix_ms = now_ms() + 3 * DAY_MS;
            break;
        }
        assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_INVALID_ARGUMENT);
        if (!strstr(buf_cstr(&d), cases[i].needle))
            fprintf(stderr, "case %zu: got '%s'\n", i, buf_cstr(&d));
        assert_non_null(strstr(buf_cstr(&d), cases[i].needle));
    }
    expect_sql("SELECT count(*) FROM node_usage_seq WHERE epoch = 400", "0");
    buf_free(&d);
}

static void test_usage_partition_made_on_demand(void **state)
{
    (void)state;
    batch_t b;
    buf_t d = BUF_INIT(4096);
    /* Six months back: the migration made partitions only around now. */
    int64_t at = now_ms() - 183 * DAY_MS;
    batch_init(&b, "n1", 500, 1, 1, 0.01, at);
    char sql[256], part[32];
    time_t s = (time_t)(at / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(part, sizeof(part), "usage_events_%Y%m", &tm);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_class WHERE relname = '%s'", part);
    expect_sql(sql, "0");
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_OK);
    expect_sql(sql, "1");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", part);
    expect_sql(sql, "1");
    buf_free(&d);
}

/* --- budgets and leases --------------------------------------------------------------- */

static void test_lease_grants_shrink_and_stop_at_the_limit(void **state)
{
    (void)state;
    buf_t d = BUF_INIT(4096);
    assert_int_equal(set_budget(TOKEN, "all-time", "key", "k-none", "total", 1.0, true, &d),
                     GRPC_STATUS_INVALID_ARGUMENT); /* no such key */
    assert_non_null(strstr(buf_cstr(&d), "budget.target: api key 'k-none' does not exist"));
    assert_int_equal(set_budget(TOKEN, "all-time", "org", "", "total", 1.0, true, &d),
                     GRPC_STATUS_OK);
    /* What is left = limit - max(stored usage, closed leases' spend) - open
     * grants. The leases' spend never reaches usage_events here, so the
     * grants sum to between limit - stored usage and the limit. */
    char *spent_s = sql1("SELECT sum(cost_usd) FROM usage_events");
    double spent = strtod(spent_s, NULL);
    free(spent_s);
    Llmgw__V1__Lease *l = NULL;
    int64_t prev = 0;
    double prev_granted = 0, first = 0, total = 0;
    int rounds = 0;
    for (;; rounds++) {
        assert_int_equal(acquire("n1", "all-time", prev, prev_granted, &l, &d), GRPC_STATUS_OK);
        assert_non_null(l);
        assert_true(l->hard);
        assert_int_equal(l->period_end_unix_ms, 0);
        if (l->lease_id == 0) {
            assert_true(l->granted_usd == 0);
            llmgw__v1__lease__free_unpacked(l, NULL);
            break;
        }
        assert_true(l->ttl_ms > 0 && l->ttl_ms <= 30000);
        if (rounds == 0)
            first = l->granted_usd;
        assert_true(l->granted_usd <= first + 1e-12);
        total += l->granted_usd;
        prev = l->lease_id;
        prev_granted = l->granted_usd;
        llmgw__v1__lease__free_unpacked(l, NULL);
        assert_true(rounds < 10000);
    }
    assert_true(first <= 0.05 + 1e-12);
    assert_true(spent > 0);
    assert_true(total <= 1.0 + 1e-6);
    assert_true(total >= 1.0 - spent - 1e-6);
    /* A second node gets nothing either. */
    assert_int_equal(acquire("n1", "all-time", 0, 0, &l, &d), GRPC_STATUS_OK);
    assert_int_equal(l->lease_id, 0);
    llmgw__v1__lease__free_unpacked(l, NULL);
    assert_int_equal(acquire("ghost", "all-time", 0, 0, &l, &d), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(buf_cstr(&d), "node_id: 'ghost' is not a known node"));
    assert_int_equal(acquire("n1", "nope", 0, 0, &l, &d), GRPC_STATUS_NOT_FOUND);
    assert_non_null(strstr(buf_cstr(&d), "budget 'nope'"));
    assert_int_equal(acquire("n1", "all-time", 0, -1, &l, &d), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&d), "previous_spent_usd"));
    /* Raising the limit frees room again; deleting it drops its leases. */
    assert_int_equal(set_budget(TOKEN, "all-time", "org", "", "total", 2.0, true, &d),
                     GRPC_STATUS_OK);
    assert_int_equal(acquire("n1", "all-time", 0, 0, &l, &d), GRPC_STATUS_OK);
    assert_true(l->lease_id > 0 && l->granted_usd > 0);
    llmgw__v1__lease__free_unpacked(l, NULL);
    Llmgw__V1__DeleteBudgetRequest del = LLMGW__V1__DELETE_BUDGET_REQUEST__INIT;
    del.name = "all-time";
    assert_int_equal(call(TOKEN, "/llmgw.v1.BudgetService/DeleteBudget", &del.base, NULL, &d),
                     GRPC_STATUS_OK);
    expect_sql("SELECT count(*) FROM budget_leases WHERE budget = 'all-time'", "0");
    buf_free(&d);
}

static void test_return_lease_closes_it_once(void **state)
{
    (void)state;
    buf_t d = BUF_INIT(4096), resp = BUF_INIT(1024);
    assert_int_equal(set_budget(TOKEN, "month-soft", "provider", "nosuch", "monthly", 5, false, &d),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&d), "budget.target: provider 'nosuch' does not exist"));
    assert_int_equal(set_budget(TOKEN, "month", "org", "", "monthly", 1000, true, &d),
                     GRPC_STATUS_OK);
    Llmgw__V1__Lease *l = NULL;
    assert_int_equal(acquire("n1", "month", 0, 0, &l, &d), GRPC_STATUS_OK);
    int64_t id = l->lease_id;
    assert_true(id > 0 && l->granted_usd == 50.0);
    llmgw__v1__lease__free_unpacked(l, NULL);
    Llmgw__V1__ReturnLeaseRequest r = LLMGW__V1__RETURN_LEASE_REQUEST__INIT;
    r.node_id = "n1";
    r.lease_id = id;
    r.spent_usd = 1.25;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call(TOKEN, "/llmgw.v1.UsageService/ReturnLease", &r.base, &resp, &d),
                         GRPC_STATUS_OK);
        Llmgw__V1__ReturnLeaseResponse *a =
            llmgw__v1__return_lease_response__unpack(NULL, resp.len, (const uint8_t *)resp.data);
        assert_non_null(a);
        assert_int_equal(a->closed, i == 0);
        llmgw__v1__return_lease_response__free_unpacked(a, NULL);
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT spent_usd FROM budget_leases WHERE id = %lld",
             (long long)id);
    expect_sql(sql, "1.25000000");
    buf_free(&d);
    buf_free(&resp);
}

static void test_soft_budget_crossing_is_audited_once_and_never_refused(void **state)
{
    (void)state;
    buf_t d = BUF_INIT(4096);
    assert_int_equal(set_budget(TOKEN, "soft-day", "org", "", "daily", 0.05, false, &d),
                     GRPC_STATUS_OK);
    for (int i = 0; i < 3; i++) {
        Llmgw__V1__Lease *l = NULL;
        assert_int_equal(acquire("n1", "soft-day", 0, 0, &l, &d), GRPC_STATUS_OK);
        assert_false(l->hard);
        assert_true(l->soft_exceeded); /* today's usage is past 0.05 */
        assert_true(l->lease_id > 0 && l->granted_usd > 0);
        llmgw__v1__lease__free_unpacked(l, NULL);
    }
    expect_sql("SELECT count(*) FROM audit_log WHERE action = 'budget.soft_exceeded'"
               " AND object = 'budget/soft-day'",
               "1");
    expect_sql("SELECT count(*) FROM budget_alerts WHERE budget = 'soft-day'", "1");
    buf_free(&d);
}

static void test_daily_budget_ignores_yesterdays_usage(void **state)
{
    (void)state;
    buf_t d = BUF_INIT(4096), resp = BUF_INIT(1 << 16);
    /* A daily budget scoped to a provider nothing else used. */
    PGresult *r = PQexec(g_db, "INSERT INTO providers (name, base_url, auth_style, timeout_ms)"
                               " VALUES ('p-day', 'http://127.0.0.1:1/v1', 'none', 1000)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_int_equal(set_budget(TOKEN, "p-day", "provider", "p-day", "daily", 1.0, true, &d),
                     GRPC_STATUS_OK);
    /* Yesterday the provider spent 5 dollars. */
    batch_t b;
    int64_t today0 = now_ms() / DAY_MS * DAY_MS;
    batch_init(&b, "n1", 600, 1, 2, 2.5, today0 - 1000);
    b.recs[0].provider = b.recs[1].provider = "p-day";
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_OK);
    Llmgw__V1__GetBudgetRequest g = LLMGW__V1__GET_BUDGET_REQUEST__INIT;
    g.name = "p-day";
    assert_int_equal(call(g_auditor, "/llmgw.v1.BudgetService/GetBudget", &g.base, &resp, &d),
                     GRPC_STATUS_OK);
    Llmgw__V1__BudgetStatus *s =
        llmgw__v1__budget_status__unpack(NULL, resp.len, (const uint8_t *)resp.data);
    assert_non_null(s);
    assert_true(s->spent_usd == 0);
    assert_true(s->remaining_usd == 1.0);
    assert_int_equal(s->period_start_unix_ms, today0);
    assert_int_equal(s->period_end_unix_ms, today0 + DAY_MS);
    llmgw__v1__budget_status__free_unpacked(s, NULL);
    Llmgw__V1__Lease *l = NULL;
    assert_int_equal(acquire("n1", "p-day", 0, 0, &l, &d), GRPC_STATUS_OK);
    assert_true(l->granted_usd > 0);
    llmgw__v1__lease__free_unpacked(l, NULL);
    /* Today's spend of the same size exhausts it. */
    batch_init(&b, "n1", 600, 2, 2, 2.5, now_ms());
    b.recs[0].provider = b.recs[1].provider = "p-day";
    assert_int_equal(report(&b, &d, NULL), GRPC_STATUS_OK);
    assert_int_equal(acquire("n1", "p-day", 0, 0, &l, &d), GRPC_STATUS_OK);
    assert_int_equal(l->lease_id, 0);
    assert_true(l->spent_usd == 5.0);
    llmgw__v1__lease__free_unpacked(l, NULL);
    buf_free(&d);
    buf_free(&resp);
}

static void test_roles_on_usage_and_budget_rpcs(void **state)
{
    (void)state;
    buf_t d = BUF_INIT(4096);
    batch_t b;
    batch_init(&b, "n1", 700, 1, 1, 0.01, now_ms());
    Llmgw__V1__UsageReportRequest rep = LLMGW__V1__USAGE_REPORT_REQUEST__INIT;
    rep.by = "team";
    rep.since_unix_ms = 1;
    /* operator: nodes yes, budgets.write no, usage.read no */
    assert_int_equal(call(g_operator, "/llmgw.v1.UsageService/ReportUsage", &b.req.base, NULL, &d),
                     GRPC_STATUS_OK);
    assert_int_equal(set_budget(g_operator, "x", "org", "", "weekly", 1, true, &d),
                     GRPC_STATUS_PERMISSION_DENIED);
    assert_int_equal(call(g_operator, "/llmgw.v1.UsageService/GetUsageReport", &rep.base, NULL, &d),
                     GRPC_STATUS_PERMISSION_DENIED);
    /* auditor: reads yes, nodes no */
    assert_int_equal(call(g_auditor, "/llmgw.v1.UsageService/GetUsageReport", &rep.base, NULL, &d),
                     GRPC_STATUS_OK);
    b.req.seq = 2;
    assert_int_equal(call(g_auditor, "/llmgw.v1.UsageService/ReportUsage", &b.req.base, NULL, &d),
                     GRPC_STATUS_PERMISSION_DENIED);
    Llmgw__V1__ListBudgetsRequest lb = LLMGW__V1__LIST_BUDGETS_REQUEST__INIT;
    assert_int_equal(call(g_auditor, "/llmgw.v1.BudgetService/ListBudgets", &lb.base, NULL, &d),
                     GRPC_STATUS_OK);
    assert_int_equal(set_budget(g_auditor, "x", "org", "", "weekly", 1, true, &d),
                     GRPC_STATUS_PERMISSION_DENIED);
    expect_sql("SELECT count(*) >= 4 FROM audit_log WHERE action = 'access.denied'", "t");
    /* an inverted report range names the field */
    rep.since_unix_ms = 2000;
    rep.until_unix_ms = 1000;
    assert_int_equal(call(TOKEN, "/llmgw.v1.UsageService/GetUsageReport", &rep.base, NULL, &d),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&d), "since_unix_ms"));
    rep.by = "colour";
    assert_int_equal(call(TOKEN, "/llmgw.v1.UsageService/GetUsageReport", &rep.base, NULL, &d),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&d), "by: expected one of team, key, provider, model"));
    buf_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_unknown_node_is_refused_naming_node_id),
        cmocka_unit_test(test_usage_batch_is_stored_exactly_once),
        cmocka_unit_test(test_usage_sequence_gap_is_refused_naming_seq),
        cmocka_unit_test(test_usage_bad_records_are_refused_naming_the_field),
        cmocka_unit_test(test_usage_partition_made_on_demand),
        cmocka_unit_test(test_lease_grants_shrink_and_stop_at_the_limit),
        cmocka_unit_test(test_return_lease_closes_it_once),
        cmocka_unit_test(test_soft_budget_crossing_is_audited_once_and_never_refused),
        cmocka_unit_test(test_daily_budget_ignores_yesterdays_usage),
        cmocka_unit_test(test_roles_on_usage_and_budget_rpcs),
    };
    return cmocka_run_group_tests(tests, ui_setup, ui_teardown);
}
