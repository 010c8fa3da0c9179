/* bench_ensemble: what an ensemble costs in wall time.
 *
 * Starts llmgw-sim and llmgw-dataplane (through the test harness) with three
 * providers answering the same text after 100, 200 and 300 ms, then, one
 * call at a time, --rounds times each:
 *   - single:    Complete on the 300 ms member alone (the baseline call);
 *   - consensus: Ensemble CONSENSUS over the three (waits for all);
 *   - voting:    Ensemble VOTING over the three (the two fastest agree, so
 *                it stops early and cancels the 300 ms member).
 * Prints p50 / min / max client-side latency per phase, and the ratios the
 * issue sets: consensus ≤ 1.1 × the slowest member (300 ms), voting ≤ 1.1 ×
 * the second-fastest (200 ms), and consensus against a single call (< 3×).
 * Exit status 1 when a call fails or a target is missed.
 *
 * usage: bench_ensemble [--rounds N]   (LLMGW_BIN_DIR: the build directory)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"

#define BENCH_MAX_ROUNDS 1000
#define BENCH_TARGET_RATIO 1.1

static gc_channel_t *bench_ch;

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One call; returns its client-side latency in ms, or -1 (printed). */
static int64_t bench_call(const char *method, const ProtobufCMessage *req)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *bytes = malloc(len ? len : 1);
    buf_t resp = BUF_INIT(1 << 24), details = BUF_INIT(1 << 16);
    int64_t ms = -1;
    if (!bytes)
        return -1;
    protobuf_c_message_pack(req, bytes);
    int64_t t0 = clock_now_us();
    grpc_status_code st = gc_unary(bench_ch, method, NULL, 10000, bytes, len, &resp, &details);
    if (st == GRPC_STATUS_OK)
        ms = (clock_now_us() - t0) / 1000;
    else
        fprintf(stderr, "bench_ensemble: %s: %s: %s\n", method, gc_status_name(st),
                buf_cstr(&details));
    free(bytes);
    buf_free(&resp);
    buf_free(&details);
    return ms;
}

typedef struct {
    const char *name;
    int64_t p50, min, max;
} bench_phase_t;

static int bench_phase(bench_phase_t *ph, const char *name, const char *method,
                       const ProtobufCMessage *req, int rounds)
{
    int64_t *lat = calloc((size_t)rounds, sizeof(int64_t));
    if (!lat)
        return -1;
    ph->name = name;
    for (int i = 0; i < rounds; i++) {
        lat[i] = bench_call(method, req);
        if (lat[i] < 0) {
            free(lat);
            return -1;
        }
    }
    qsort(lat, (size_t)rounds, sizeof(int64_t), bench_cmp);
    ph->p50 = lat[rounds / 2];
    ph->min = lat[0];
    ph->max = lat[rounds - 1];
    free(lat);
    printf("%-10s p50 %4lld ms  min %4lld ms  max %4lld ms  (%d calls)\n", name, (long long)ph->p50,
           (long long)ph->min, (long long)ph->max, rounds);
    return 0;
}

static const char *bench_table(int port)
{
    static char buf[4096];
    static const int lat[] = {100, 200, 300};
    size_t off = (size_t)snprintf(buf, sizeof(buf), "{\"providers\": [");
    for (int i = 0; i < 3; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                                "%s{\"name\": \"lat%d\", \"base_url\": \"http://127.0.0.1:%d/v1\","
                                " \"headers\": {\"x-sim-answer\": \"the same answer\","
                                " \"x-sim-latency-ms\": \"%d\"}, \"models\": [{\"name\": \"m\"}]}",
                                i ? "," : "", lat[i], port, lat[i]);
    snprintf(buf + off, sizeof(buf) - off, "]}");
    return buf;
}

int main(int argc, char **argv)
{
    int rounds = 10, rc = 1;
    harness_proc_t sim, dp;
    char target[64];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_ensemble [--rounds N]  (N: 1..%d)\n", BENCH_MAX_ROUNDS);
            return 2;
        }
    }
    if (rounds < 1 || rounds > BENCH_MAX_ROUNDS) {
        fprintf(stderr, "bench_ensemble: --rounds: expected 1..%d\n", BENCH_MAX_ROUNDS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (harness_start_sim(&sim, "bench-sim", NULL) < 0)
        goto out;
    const char *table = harness_write("table.json", "%s", bench_table(sim.port));
    if (!table || harness_start_dataplane(&dp, table, NULL) < 0)
        goto out;
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    if (!(bench_ch = gc_channel_new(target)))
        goto out;

    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT, *msgs[1] = {&msg};
    msg.role = "user";
    msg.content = "what is the answer?";
    Llmgw__V1__ChatRequest chat = LLMGW__V1__CHAT_REQUEST__INIT;
    chat.messages = msgs;
    chat.n_messages = 1;
    chat.model = "lat300/m";
    Llmgw__V1__EnsembleMember mem[3], *mems[3];
    static char *const names[] = {"lat100/m", "lat200/m", "lat300/m"};
    for (int i = 0; i < 3; i++) {
        llmgw__v1__ensemble_member__init(&mem[i]);
        mem[i].model = names[i];
        mems[i] = &mem[i];
    }
    Llmgw__V1__EnsembleConfig cfg = LLMGW__V1__ENSEMBLE_CONFIG__INIT;
    cfg.members = mems;
    cfg.n_members = 3;
    Llmgw__V1__EnsembleRequest req = LLMGW__V1__ENSEMBLE_REQUEST__INIT;
    req.request = &chat;
    req.config = &cfg;

    /* One unmeasured call of each kind opens the connections. */
    bench_phase_t single, cons, vote;
    if (bench_call("/llmgw.v1.ChatService/Complete", &chat.base) < 0 ||
        bench_phase(&single, "single", "/llmgw.v1.ChatService/Complete", &chat.base, rounds) < 0)
        goto out;
    cfg.method = LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS;
    if (bench_phase(&cons, "consensus", "/llmgw.v1.ChatService/Ensemble", &req.base, rounds) < 0)
        goto out;
    cfg.method = LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_VOTING;
    if (bench_phase(&vote, "voting", "/llmgw.v1.ChatService/Ensemble", &req.base, rounds) < 0)
        goto out;

    double r_cons = (double)cons.p50 / 300.0, r_vote = (double)vote.p50 / 200.0;
    double r_single = single.p50 > 0 ? (double)cons.p50 / (double)single.p50 : 0;
    printf("consensus p50 / slowest member (300 ms): %.3fx (target <= %.1fx)\n", r_cons,
           BENCH_TARGET_RATIO);
    printf("voting p50 / second-fastest member (200 ms): %.3fx (target <= %.1fx)\n", r_vote,
           BENCH_TARGET_RATIO);
    printf("consensus p50 / single call to the slowest member: %.3fx (target < 3x)\n", r_single);
    rc = r_cons <= BENCH_TARGET_RATIO && r_vote <= BENCH_TARGET_RATIO && r_single < 3 ? 0 : 1;
out:
    gc_channel_free(bench_ch);
    harness_cleanup();
    return rc;
}
