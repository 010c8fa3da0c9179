/* bench_meter: what metering adds to a request on the data plane's request
 * path — budget_lease_admit (a table with org, team, key and provider
 * budgets), budget_lease_charge and usage_log_record — in ns per request,
 * from 1 and 2 threads. No network is involved: the lease thread and the usage
 * sender talk to an address nobody listens on, so the leases stay as they
 * are and records wait in memory, exactly as on the request path when the
 * control plane is slow.
 *
 * usage: bench_meter [--requests N] (default 200000 per thread)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget_lease.h"
#include "table.h"
#include "usage_log.h"

static const char bench_table[] =
    "{\"version\":1,\"providers\":[{\"name\":\"sim\",\"base_url\":\"http://127.0.0.1:9/v1\","
    "\"models\":[{\"name\":\"m\"}]}],"
    "\"keys\":[{\"name\":\"k1\",\"team\":\"t1\",\"sha256\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\"}],"
    "\"budgets\":[{\"name\":\"org\",\"scope\":\"org\",\"period\":\"monthly\",\"limit_usd\":100,"
    "\"enforcement\":\"soft\"},"
    "{\"name\":\"team\",\"scope\":\"team\",\"team\":\"t1\",\"period\":\"daily\",\"limit_usd\":10,"
    "\"enforcement\":\"soft\"},"
    "{\"name\":\"key\",\"scope\":\"key\",\"key\":\"k1\",\"period\":\"daily\",\"limit_usd\":5,"
    "\"enforcement\":\"soft\"},"
    "{\"name\":\"prov\",\"scope\":\"provider\",\"provider\":\"sim\",\"period\":\"weekly\","
    "\"limit_usd\":50,\"enforcement\":\"hard\"}]}";

typedef struct {
    budget_lease_t *bl;
    usage_log_t *ul;
    table_t *t;
    const table_key_t *key;
    int n, refused;
    double ns;
} bench_arg_t;

static double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *bench_run(void *p)
{
    bench_arg_t *a = p;
    char err[256];
    double t0 = bench_now_ns();
    for (int i = 0; i < a->n; i++) {
        /* "other" is not the hard budget's provider: admitted; every 8th
         * request hits the hard one without a lease (the refusal path). */
        const char *prov = i % 8 == 0 ? "sim" : "other";
        if (budget_lease_admit(a->bl, a->t, a->key, prov, err, sizeof(err)) < 0)
            a->refused++;
        budget_lease_charge(a->bl, a->t, a->key, prov, 0.0001);
        usage_record_t r = {.key = "k1",
                            .team = "t1",
                            .route = "chat",
                            .provider = prov,
                            .model = "m",
                            .prompt_tokens = 20,
                            .completion_tokens = 40,
                            .cost_usd = 0.0001,
                            .latency_ms = 3};
        usage_log_record(a->ul, &r);
    }
    a->ns = (bench_now_ns() - t0) / a->n;
    return NULL;
}

int main(int argc, char **argv)
{
    int n = 200000;
    if (argc == 3 && strcmp(argv[1], "--requests") == 0)
        n = atoi(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: bench_meter [--requests N]\n");
        return 2;
    }
    char err[512];
    table_t *t = table_load_json(bench_table, strlen(bench_table), err, sizeof(err));
    if (!t) {
        fprintf(stderr, "bench_meter: table: %s\n", err);
        return 1;
    }
    table_slot_t *slot = table_slot_new(table_ref(t));
    budget_lease_config_t bc = {.target = "127.0.0.1:9", .node_id = "bench", .token = "x"};
    usage_log_config_t uc = {.target = "127.0.0.1:9",
                             .node_id = "bench",
                             .token = "x",
                             .flush_ms = 3600000,
                             .batch_max = 10000};
    budget_lease_t *bl = budget_lease_start(&bc, slot);
    usage_log_t *ul = usage_log_start(&uc);
    if (!slot || !bl || !ul)
        return 1;
    /* The caller's key as the table gives it (only name and team matter). */
    table_key_t k = {.name = "k1", .team = "t1"};
    const table_key_t *key = &k;
    for (int threads = 1; threads <= 2; threads++) {
        bench_arg_t a[2];
        pthread_t th[2];
        for (int i = 0; i < threads; i++) {
            a[i] = (bench_arg_t){.bl = bl, .ul = ul, .t = t, .key = key, .n = n};
            pthread_create(&th[i], NULL, bench_run, &a[i]);
        }
        double ns = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            ns += a[i].ns;
        }
        printf("meter: %d thread%s, 4 budgets (1 hard without lease, 1 in 8 requests refused): "
               "%.0f ns per request (admit + charge + usage record)\n",
               threads, threads > 1 ? "s" : "", ns / threads);
    }
    usage_log_stop(ul, 0);
    budget_lease_stop(bl);
    table_slot_free(slot);
    table_unref(t);
    return 0;
}
