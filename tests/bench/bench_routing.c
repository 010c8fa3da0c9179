/* bench_routing: what routing intelligence costs.
 *
 *   1. decision: route_plan_with over one route of 100 deployments, with the
 *      live figures read from a metrics registry (every deployment measured),
 *      for the latency and balanced strategies: per-decision time p50/p99.
 *   2. failover: the real llmgw-dataplane in front of llmgw-sim; Complete on
 *      a route whose only deployment is healthy, on a route whose first
 *      deployment refuses connections (fallback to the sim), and on a route
 *      whose first deployment's breaker is open (skipped at zero attempts).
 *      Sequential calls; p50/p99 of each and the deltas to the healthy path.
 *
 * Servers are found in $LLMGW_BIN_DIR/bin (default ./build/bin): run from the
 * repository root after building llmgw-sim and llmgw-dataplane. Children are
 * stopped on every exit path (harness_cleanup).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "harness.h"
#include "metrics.h"
#include "planner.h"
#include "route.h"
#include "table.h"

#define BENCH_DEPLOYMENTS 100

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    size_t i = (size_t)ceil(p * (double)n);
    return (double)v[i > 0 ? i - 1 : 0];
}

/* --- 1. decision ---------------------------------------------------------- */

static char *decision_table(void)
{
    buf_t b = BUF_INIT(1 << 20);
    buf_append_str(&b, "{\"providers\": [");
    for (int i = 0; i < BENCH_DEPLOYMENTS; i++)
        buf_printf(&b,
                   "%s{\"name\": \"p%d\", \"base_url\": \"http://127.0.0.1:1\", \"models\": "
                   "[{\"name\": \"m\", \"input_cost_per_mtok\": %d, \"output_cost_per_mtok\": "
                   "%d, \"quality\": %g}]}",
                   i ? "," : "", i, 1 + i % 17, 2 + i % 13, (double)(i % 10) / 10);
    buf_append_str(&b, "], \"routes\": [");
    const char *strategies[] = {"latency", "balanced"};
    for (int s = 0; s < 2; s++) {
        buf_printf(&b, "%s{\"name\": \"r-%s\", \"strategy\": \"%s\", \"deployments\": [",
                   s ? "," : "", strategies[s], strategies[s]);
        for (int i = 0; i < BENCH_DEPLOYMENTS; i++)
            buf_printf(&b, "%s{\"provider\": \"p%d\", \"model\": \"m\"}", i ? "," : "", i);
        buf_append_str(&b, "]}");
    }
    buf_append_str(&b, "]}");
    char *out = strdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

static int bench_decision(void)
{
    char err[512];
    char *json = decision_table();
    table_t *t = json ? table_load_json(json, strlen(json), err, sizeof(err)) : NULL;
    free(json);
    metrics_t *m = metrics_new(NULL);
    route_plan_t *plan = malloc(sizeof(*plan));
    enum { N = 20000 };
    int64_t *ns = malloc(sizeof(*ns) * N);
    if (!t || !m || !plan || !ns) {
        fprintf(stderr, "bench_routing: setup failed: %s\n", t ? "out of memory" : err);
        return 1;
    }
    breaker_config_t bc = BREAKER_CONFIG_DEFAULT;
    for (int i = 0; i < BENCH_DEPLOYMENTS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        metrics_dep_t *d = metrics_dep(m, name, "m");
        for (int k = 0; k < 20; k++) {
            char why[64];
            metrics_attempt_start(d, &bc, why, sizeof(why));
            metrics_outcome_t o = {.cls = k % 10 ? METRICS_OK : METRICS_ERR_SERVER,
                                   .latency_us = 1000 * (50 + (i * 37 + k) % 400),
                                   .ttft_us = -1,
                                   .retry_after_ms = -1};
            metrics_attempt_end(d, &bc, &o);
        }
    }
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    msg.role = "user";
    msg.content = "how long does a routing decision take over a hundred deployments";
    Llmgw__V1__Message *msgs[] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    req.messages = msgs;
    req.n_messages = 1;
    planner_t pl = {.metrics = m};
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    const char *routes[] = {"r-latency", "r-balanced"};
    int rc = 0;
    for (int s = 0; s < 2; s++) {
        req.model = (char *)routes[s];
        for (int i = 0; i < N; i++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            route_status_t st = planner_plan(&pl, t, &req, &rng, plan, err, sizeof(err));
            clock_gettime(CLOCK_MONOTONIC, &b);
            if (st != ROUTE_OK || plan->n != BENCH_DEPLOYMENTS) {
                fprintf(stderr, "bench_routing: plan failed: %s\n", err);
                rc = 1;
                goto out;
            }
            ns[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
        }
        printf("decision  %-9s %d deployments  p50 %6.2f us  p99 %6.2f us  (n=%d)\n", routes[s] + 2,
               BENCH_DEPLOYMENTS, pct(ns, N, 0.50) / 1000, pct(ns, N, 0.99) / 1000, N);
    }
out:
    free(ns);
    free(plan);
    metrics_free(m);
    table_unref(t);
    return rc;
}

/* --- 2. failover ---------------------------------------------------------- */

static int refused_port(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(*fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    return ntohs(sa.sin_port); /* bound, never listening: connect is refused */
}

static int call_complete(gc_channel_t *ch, const char *model, int64_t *us, int *attempts)
{
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    msg.role = "user";
    msg.content = "hello";
    Llmgw__V1__Message *msgs[] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    req.model = (char *)model;
    req.messages = msgs;
    req.n_messages = 1;
    uint8_t bytes[256];
    size_t len = llmgw__v1__chat_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(1 << 20), details = BUF_INIT(4096);
    int64_t t0 = clock_now_us();
    grpc_status_code st =
        gc_unary(ch, "/llmgw.v1.ChatService/Complete", NULL, 10000, bytes, len, &resp, &details);
    *us = clock_now_us() - t0;
    int rc = -1;
    if (st == GRPC_STATUS_OK) {
        Llmgw__V1__ChatResponse *r =
            llmgw__v1__chat_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        if (r && r->route) {
            *attempts = (int)r->route->n_attempts;
            rc = 0;
        }
        llmgw__v1__chat_response__free_unpacked(r, NULL);
    } else {
        fprintf(stderr, "bench_routing: %s: %s %s\n", model, gc_status_name(st),
                buf_cstr(&details));
    }
    buf_free(&resp);
    buf_free(&details);
    return rc;
}

static int bench_failover(void)
{
    harness_proc_t sim, dp;
    int fd = -1, rc = 1;
    gc_channel_t *ch = NULL;
    int down = refused_port(&fd);
    if (down < 0 || harness_start_sim(&sim, "sim", NULL) < 0)
        goto out;
    const char *table = harness_write(
        "table.json",
        "{\"providers\": ["
        "{\"name\": \"sim\", \"base_url\": \"http://127.0.0.1:%1$d/v1\", \"health\": "
        "{\"interval_ms\": 0}, \"models\": [{\"name\": \"m\"}]},"
        "{\"name\": \"refused\", \"base_url\": \"http://127.0.0.1:%2$d/v1\", \"health\": "
        "{\"interval_ms\": 0}, \"breaker\": {\"consecutive_failures\": 1000000, "
        "\"min_requests\": 1000000}, \"models\": [{\"name\": \"m\"}]},"
        "{\"name\": \"open\", \"base_url\": \"http://127.0.0.1:%2$d/v1\", \"health\": "
        "{\"interval_ms\": 0}, \"breaker\": {\"consecutive_failures\": 1, \"cooldown_ms\": "
        "3600000}, \"models\": [{\"name\": \"m\"}]}],"
        "\"routes\": ["
        "{\"name\": \"healthy\", \"strategy\": \"priority\", \"deployments\": [{\"provider\": "
        "\"sim\", \"model\": \"m\"}]},"
        "{\"name\": \"failover\", \"strategy\": \"priority\", \"deployments\": [{\"provider\": "
        "\"refused\", \"model\": \"m\", \"priority\": 0}, {\"provider\": \"sim\", \"model\": "
        "\"m\", \"priority\": 1}]},"
        "{\"name\": \"breaker-open\", \"strategy\": \"priority\", \"deployments\": "
        "[{\"provider\": \"open\", \"model\": \"m\", \"priority\": 0}, {\"provider\": \"sim\", "
        "\"model\": \"m\", \"priority\": 1}]}]}",
        sim.port, down);
    if (!table || harness_start_dataplane(&dp, table, NULL) < 0)
        goto out;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    if (!(ch = gc_channel_new(target)))
        goto out;
    /* Rounds alternate the three routes so drift in a shared machine's load
     * hits them alike. */
    enum { ROUNDS = 10, PER_ROUND = 50, N = ROUNDS * PER_ROUND, WARM = 50 };
    const char *routes[] = {"healthy", "failover", "breaker-open"};
    const int want_attempts[] = {1, 2, 1};
    double p50[3], p99[3];
    static int64_t us[3][N];
    int64_t scratch;
    int attempts = 0;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < WARM; i++) /* the first breaker-open call opens it */
            if (call_complete(ch, routes[r], &scratch, &attempts) < 0)
                goto out;
    for (int round = 0; round < ROUNDS; round++)
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < PER_ROUND; i++) {
                if (call_complete(ch, routes[r], &us[r][round * PER_ROUND + i], &attempts) < 0)
                    goto out;
                if (attempts != want_attempts[r]) {
                    fprintf(stderr, "bench_routing: %s: %d attempts, expected %d\n", routes[r],
                            attempts, want_attempts[r]);
                    goto out;
                }
            }
    for (int r = 0; r < 3; r++) {
        p50[r] = pct(us[r], N, 0.50);
        p99[r] = pct(us[r], N, 0.99);
        printf("complete  %-12s attempts %d  p50 %7.0f us  p99 %7.0f us  (n=%d)\n", routes[r],
               want_attempts[r], p50[r], p99[r], N);
    }
    printf("failover after a refused connection adds  p50 %+.0f us  p99 %+.0f us\n",
           p50[1] - p50[0], p99[1] - p99[0]);
    printf("breaker open vs healthy path              p50 %+.0f us  p99 %+.0f us\n",
           p50[2] - p50[0], p99[2] - p99[0]);
    rc = 0;
out:
    gc_channel_free(ch);
    harness_cleanup();
    if (fd >= 0)
        close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = bench_decision();
    if (rc == 0 && (argc < 2 || strcmp(argv[1], "--decision-only") != 0))
        rc = bench_failover();
    return rc;
}
