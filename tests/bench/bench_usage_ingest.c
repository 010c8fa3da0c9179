/* bench_usage_ingest: usage ingestion into PostgreSQL through a real
 * llmgw-controlplane (UsageService.ReportUsage): N simulated nodes send B
 * batches of S records each, concurrently, as data planes do. Batches are
 * packed before the clock starts, so the figure is the control plane's and
 * PostgreSQL's (decode, checks, exactly-once sequence row, COPY, commit).
 *
 * Prints one line: events, seconds, events/s. The nodes must be known to
 * the control plane (bench_usage_ingest.sh registers them).
 *
 * With --snapshots K each batch also carries K metric snapshots (docs/analytics.md:
 * K deployments of the same minute, a 12-bucket latency histogram and a
 * routing decision each), merged into metrics_minute in the batch's
 * transaction; every node merges into the same K rows, the contended case.
 *
 * usage: bench_usage_ingest --target HOST:PORT [--nodes 8] [--batches 50]
 *        [--batch-size 1000] [--snapshots 0] [--token T (or LLMGW_ADMIN_TOKEN)]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "grpc_client.h"
#include "llmgw/v1/usage.pb-c.h"

typedef struct {
    int index;
    const char *target, *token;
    int batches, batch_size, snapshots;
    uint8_t **packed;
    size_t *lens;
    pthread_t thread;
    int failures;
} bench_node_t;

static atomic_int bench_ready;
static atomic_int bench_go;

static int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int bench_pack(bench_node_t *n, int64_t epoch)
{
    char node[32];
    snprintf(node, sizeof(node), "bench-%d", n->index + 1);
    Llmgw__V1__UsageRecord *recs = calloc((size_t)n->batch_size, sizeof(*recs));
    Llmgw__V1__UsageRecord **ptrs = calloc((size_t)n->batch_size, sizeof(*ptrs));
    char(*ids)[32] = calloc((size_t)n->batch_size, 32);
    n->packed = calloc((size_t)n->batches, sizeof(*n->packed));
    n->lens = calloc((size_t)n->batches, sizeof(*n->lens));
    if (!recs || !ptrs || !ids || !n->packed || !n->lens)
        return -1;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    static const char *const teams[] = {"search", "support", "ads", "infra"};
    static const char *const models[] = {"gpt-4o-mini", "gpt-4o", "claude-3-5-haiku"};
    int k_snap = n->snapshots;
    Llmgw__V1__MetricSnapshot *snaps = calloc((size_t)k_snap + 1, sizeof(*snaps));
    Llmgw__V1__MetricSnapshot **sptrs = calloc((size_t)k_snap + 1, sizeof(*sptrs));
    Llmgw__V1__LatencyHistogram *hists = calloc((size_t)k_snap + 1, sizeof(*hists));
    Llmgw__V1__DecisionCount *decs = calloc((size_t)k_snap + 1, sizeof(*decs));
    Llmgw__V1__DecisionCount **dptrs = calloc((size_t)k_snap + 1, sizeof(*dptrs));
    char(*snames)[32] = calloc((size_t)k_snap + 1, 32);
    static uint32_t buckets[12] = {600, 601, 602, 603, 604, 605, 606, 607, 608, 610, 640, 700};
    static uint64_t counts[12] = {3, 9, 20, 31, 40, 31, 20, 9, 3, 2, 1, 1};
    if (!snaps || !sptrs || !hists || !decs || !dptrs || !snames)
        return -1;
    for (int k = 0; k < k_snap; k++) {
        Llmgw__V1__MetricSnapshot *m = &snaps[k];
        llmgw__v1__metric_snapshot__init(m);
        llmgw__v1__latency_histogram__init(&hists[k]);
        llmgw__v1__decision_count__init(&decs[k]);
        snprintf(snames[k], 32, "model-%d", k);
        hists[k].n_bucket = hists[k].n_count = 12;
        hists[k].bucket = buckets;
        hists[k].count = counts;
        decs[k].strategy = "priority";
        decs[k].reason = "first_choice";
        decs[k].count = 170;
        dptrs[k] = &decs[k];
        m->minute_unix_ms = ms - ms % 60000;
        m->provider = "openai";
        m->model = snames[k];
        m->route = "chat";
        m->attempts = m->successes = m->requests = m->requests_ok = 170;
        m->latency = m->ttft = &hists[k];
        m->output_tokens = 20000;
        m->generation_us = 30000000;
        m->cost_usd = 0.0123;
        m->n_decisions = 1;
        m->decisions = &dptrs[k];
        sptrs[k] = m;
    }
    for (int b = 0; b < n->batches; b++) {
        for (int i = 0; i < n->batch_size; i++) {
            Llmgw__V1__UsageRecord *u = &recs[i];
            llmgw__v1__usage_record__init(u);
            snprintf(ids[i], 32, "%d-%d-%d", n->index, b, i);
            u->request_id = ids[i];
            u->key = "key-svc-1";
            u->team = (char *)teams[i % 4];
            u->route = "chat";
            u->provider = "openai";
            u->model = (char *)models[i % 3];
            u->prompt_tokens = 200 + i % 50;
            u->completion_tokens = 120 + i % 70;
            u->cost_usd = 0.000123 * (1 + i % 5);
            u->latency_ms = 300 + i % 200;
            u->unix_ms = ms;
            ptrs[i] = u;
        }
        Llmgw__V1__ReportUsageRequest r = LLMGW__V1__REPORT_USAGE_REQUEST__INIT;
        r.node_id = node;
        r.epoch = epoch;
        r.seq = b + 1;
        r.n_records = (size_t)n->batch_size;
        r.records = ptrs;
        r.n_metrics = (size_t)k_snap;
        r.metrics = sptrs;
        n->lens[b] = llmgw__v1__report_usage_request__get_packed_size(&r);
        if (!(n->packed[b] = malloc(n->lens[b])))
            return -1;
        llmgw__v1__report_usage_request__pack(&r, n->packed[b]);
    }
    free(recs);
    free(ptrs);
    free(ids);
    free(snaps);
    free(sptrs);
    free(hists);
    free(decs);
    free(dptrs);
    free(snames);
    return 0;
}

static void *bench_node_main(void *arg)
{
    bench_node_t *n = arg;
    gc_channel_t *ch = gc_channel_new(n->target);
    buf_t details = BUF_INIT(4096);
    atomic_fetch_add(&bench_ready, 1);
    while (!atomic_load(&bench_go))
        ;
    for (int b = 0; ch && b < n->batches; b++) {
        buf_reset(&details);
        grpc_status_code st = gc_unary(ch, "/llmgw.v1.UsageService/ReportUsage", n->token, 30000,
                                       n->packed[b], n->lens[b], NULL, &details);
        if (st != GRPC_STATUS_OK) {
            fprintf(stderr, "node %d batch %d: %s: %s\n", n->index + 1, b + 1, gc_status_name(st),
                    buf_cstr(&details));
            n->failures++;
            b--; /* the same batch again, as a node does */
            if (n->failures > 20)
                break;
        }
    }
    buf_free(&details);
    if (ch)
        gc_channel_free(ch);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *target = NULL, *token = getenv("LLMGW_ADMIN_TOKEN");
    int nodes = 8, batches = 50, batch_size = 1000, snapshots = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batches") == 0 && i + 1 < argc)
            batches = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc)
            batch_size = atoi(argv[++i]);
        else if (strcmp(argv[i], "--snapshots") == 0 && i + 1 < argc)
            snapshots = atoi(argv[++i]);
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else {
            fprintf(stderr, "bench_usage_ingest: unknown or incomplete flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!target || nodes < 1 || nodes > 256 || batches < 1 || batch_size < 1 ||
        batch_size > 10000 || snapshots < 0 || snapshots > 4096) {
        fprintf(stderr, "usage: bench_usage_ingest --target HOST:PORT [--nodes 1..256] "
                        "[--batches N] [--batch-size 1..10000] [--snapshots 0..4096]\n");
        return 2;
    }
    bench_node_t *ns = calloc((size_t)nodes, sizeof(*ns));
    if (!ns)
        return 1;
    int64_t epoch = bench_now_us();
    for (int i = 0; i < nodes; i++) {
        ns[i] = (bench_node_t){.index = i,
                               .target = target,
                               .token = token,
                               .batches = batches,
                               .batch_size = batch_size,
                               .snapshots = snapshots};
        if (bench_pack(&ns[i], epoch) < 0) {
            fprintf(stderr, "bench_usage_ingest: out of memory\n");
            return 1;
        }
    }
    for (int i = 0; i < nodes; i++)
        if (pthread_create(&ns[i].thread, NULL, bench_node_main, &ns[i]) != 0)
            return 1;
    while (atomic_load(&bench_ready) < nodes)
        ;
    int64_t t0 = bench_now_us();
    atomic_store(&bench_go, 1);
    int failures = 0;
    for (int i = 0; i < nodes; i++) {
        pthread_join(ns[i].thread, NULL);
        failures += ns[i].failures;
    }
    double s = (double)(bench_now_us() - t0) / 1e6;
    long long events = (long long)nodes * batches * batch_size;
    printf("usage ingest: %lld events from %d nodes in %d-record batches with %d metric snapshots"
           " each: %.2f s, %.0f events/s, %.0f batches/s (%d retried batches)\n",
           events, nodes, batch_size, snapshots, s, (double)events / s, (double)nodes * batches / s,
           failures);
    for (int i = 0; i < nodes; i++) {
        for (int b = 0; b < batches; b++)
            free(ns[i].packed[b]);
        free(ns[i].packed);
        free(ns[i].lens);
    }
    free(ns);
    return failures > 20 ? 1 : 0;
}
