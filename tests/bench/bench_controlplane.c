/* bench_controlplane: time from a registry change to every subscribed node
 * having acknowledged the new routing table.
 *
 * Connects to a running llmgw-controlplane (--target, admin token from
 * LLMGW_ADMIN_TOKEN), opens --nodes WatchRoutingTable streams (simulated
 * nodes, one thread each, blocking grpc_client), then makes --changes
 * registry changes (CreateModel) one after another. For each, the clock runs
 * from just before the RPC (so the commit is included) until every node has
 * received the version and its AckRoutingTable returned OK. Prints p50, p99
 * and max in ms. tests/bench/bench_controlplane.sh starts PostgreSQL and two
 * replicas (nodes split across them, so LISTEN/NOTIFY is on the path) and
 * runs this.
 *
 * Invariants: every thread is joined and every stream finished before exit;
 * the figures are printed only when every change reached every node.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "grpc_client.h"
#include "llmgw/v1/control.pb-c.h"

#define BENCH_MAX_NODES 1000
#define BENCH_WAIT_MS 10000

typedef struct {
    int index;
    const char *target;
    gc_channel_t *ch;
    gc_stream_t *stream;
    pthread_t thread;
} bench_node_t;

static pthread_mutex_t bench_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bench_cv = PTHREAD_COND_INITIALIZER;
static int64_t bench_acked[BENCH_MAX_NODES]; /* under bench_mu: highest version acked */
static const char *bench_token;

static int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *bench_node_main(void *arg)
{
    bench_node_t *n = arg;
    buf_t msg = BUF_INIT(64u << 20);
    char id[32];
    snprintf(id, sizeof(id), "bench-node-%d", n->index);
    while (gc_stream_next(n->stream, &msg) == 1) {
        Llmgw__V1__RoutingTable *rt =
            llmgw__v1__routing_table__unpack(NULL, msg.len, (const uint8_t *)msg.data);
        if (!rt)
            continue;
        Llmgw__V1__TableAck a = LLMGW__V1__TABLE_ACK__INIT;
        a.node_id = id;
        a.version = rt->version;
        a.status = LLMGW__V1__ACK_STATUS__ACK_STATUS_ACK;
        uint8_t req[128];
        size_t len = llmgw__v1__table_ack__get_packed_size(&a);
        llmgw__v1__table_ack__pack(&a, req);
        if (gc_unary(n->ch, "/llmgw.v1.DistributionService/AckRoutingTable", bench_token, 5000, req,
                     len, NULL, NULL) == GRPC_STATUS_OK) {
            pthread_mutex_lock(&bench_mu);
            if (rt->version > bench_acked[n->index])
                bench_acked[n->index] = rt->version;
            pthread_cond_broadcast(&bench_cv);
            pthread_mutex_unlock(&bench_mu);
        }
        llmgw__v1__routing_table__free_unpacked(rt, NULL);
    }
    buf_free(&msg);
    return NULL;
}

/* Waits until every node acked `version`; false after BENCH_WAIT_MS. */
static bool bench_wait_all(int n_nodes, int64_t version)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BENCH_WAIT_MS / 1000;
    bool ok = false;
    pthread_mutex_lock(&bench_mu);
    for (;;) {
        int done = 0;
        for (int i = 0; i < n_nodes; i++)
            done += bench_acked[i] >= version;
        if (done == n_nodes) {
            ok = true;
            break;
        }
        if (pthread_cond_timedwait(&bench_cv, &bench_mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&bench_mu);
    return ok;
}

/* CreateModel bench/m<i>; the published version or -1. */
static int64_t bench_change(gc_channel_t *ch, int i)
{
    char name[32];
    snprintf(name, sizeof(name), "m%d", i);
    Llmgw__V1__Model m = LLMGW__V1__MODEL__INIT;
    m.provider = "bench";
    m.name = name;
    m.input_cost_per_mtok = 1;
    m.output_cost_per_mtok = 2;
    Llmgw__V1__CreateModelRequest r = LLMGW__V1__CREATE_MODEL_REQUEST__INIT;
    r.model = &m;
    uint8_t req[256];
    size_t len = llmgw__v1__create_model_request__get_packed_size(&r);
    llmgw__v1__create_model_request__pack(&r, req);
    buf_t resp = BUF_INIT(1 << 20), details = BUF_INIT(4096);
    int64_t v = -1;
    grpc_status_code st = gc_unary(ch, "/llmgw.v1.RegistryService/CreateModel", bench_token, 10000,
                                   req, len, &resp, &details);
    if (st == GRPC_STATUS_OK) {
        Llmgw__V1__RegistryChange *c =
            llmgw__v1__registry_change__unpack(NULL, resp.len, (const uint8_t *)resp.data);
        if (c) {
            v = c->table_version;
            llmgw__v1__registry_change__free_unpacked(c, NULL);
        }
    } else {
        fprintf(stderr, "bench_controlplane: CreateModel: %s: %s\n", gc_status_name(st),
                buf_cstr(&details));
    }
    buf_free(&resp);
    buf_free(&details);
    return v;
}

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *target = "127.0.0.1:50052", *target2 = NULL;
    int n_nodes = 50, n_changes = 20, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = argv[++i];
        else if (strcmp(argv[i], "--target2") == 0 && i + 1 < argc)
            target2 = argv[++i];
        else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            n_nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--changes") == 0 && i + 1 < argc)
            n_changes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_controlplane [--target HOST:PORT] [--target2 HOST:PORT]"
                            " [--nodes N] [--changes N]\n  (changes go to --target; nodes "
                            "alternate between --target and --target2)\n");
            return 2;
        }
    }
    bench_token = getenv("LLMGW_ADMIN_TOKEN");
    if (n_nodes < 1 || n_nodes > BENCH_MAX_NODES || n_changes < 1 || n_changes > 10000 ||
        !bench_token) {
        fprintf(stderr, "bench_controlplane: --nodes 1..1000, --changes 1..10000 and "
                        "LLMGW_ADMIN_TOKEN required\n");
        return 2;
    }
    bench_node_t *nodes = calloc((size_t)n_nodes, sizeof(*nodes));
    int64_t *lat = calloc((size_t)n_changes, sizeof(*lat));
    gc_channel_t *admin = gc_channel_new(target);
    int started = 0;
    if (!nodes || !lat || !admin)
        goto out;
    for (; started < n_nodes; started++) {
        bench_node_t *n = &nodes[started];
        char hello_id[32];
        snprintf(hello_id, sizeof(hello_id), "bench-node-%d", started);
        n->index = started;
        n->target = target2 && started % 2 ? target2 : target;
        if (!(n->ch = gc_channel_new(n->target)))
            goto out;
        Llmgw__V1__NodeHello h = LLMGW__V1__NODE_HELLO__INIT;
        h.node_id = hello_id;
        uint8_t req[128];
        size_t len = llmgw__v1__node_hello__get_packed_size(&h);
        llmgw__v1__node_hello__pack(&h, req);
        n->stream = gc_stream_start(n->ch, "/llmgw.v1.DistributionService/WatchRoutingTable",
                                    bench_token, 0, req, len);
        if (!n->stream || pthread_create(&n->thread, NULL, bench_node_main, n) != 0) {
            if (n->stream)
                gc_stream_finish(n->stream, NULL);
            gc_channel_free(n->ch);
            goto out;
        }
    }
    /* Let every stream reach its replica before the first change. */
    int64_t first = bench_change(admin, 0);
    if (first < 1 || !bench_wait_all(n_nodes, first)) {
        fprintf(stderr, "bench_controlplane: the nodes did not all ack the first version\n");
        goto out;
    }
    for (int i = 0; i < n_changes; i++) {
        int64_t t0 = bench_now_us();
        int64_t v = bench_change(admin, i + 1);
        if (v < 1 || !bench_wait_all(n_nodes, v)) {
            fprintf(stderr, "bench_controlplane: change %d did not reach every node\n", i);
            goto out;
        }
        lat[i] = bench_now_us() - t0;
    }
    qsort(lat, (size_t)n_changes, sizeof(*lat), bench_cmp);
    size_t p99 = (size_t)((n_changes - 1) * 0.99 + 0.5);
    printf("registry change -> all %d nodes acked (%d changes, replicas: %s%s%s)\n", n_nodes,
           n_changes, target, target2 ? ", " : "", target2 ? target2 : "");
    printf("  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", lat[n_changes / 2] / 1000.0,
           lat[p99] / 1000.0, lat[n_changes - 1] / 1000.0);
    rc = 0;
out:
    for (int i = 0; i < started; i++) {
        gc_stream_cancel(nodes[i].stream);
        pthread_join(nodes[i].thread, NULL);
        gc_stream_finish(nodes[i].stream, NULL);
        gc_channel_free(nodes[i].ch);
    }
    if (admin)
        gc_channel_free(admin);
    free(nodes);
    free(lat);
    return rc;
}
