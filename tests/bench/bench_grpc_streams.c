/* bench_grpc_streams: a soak of many concurrent slow streams through the gRPC
 * front door (ChatService/Stream), and what they cost the data plane (not a
 * test: it prints figures).
 *
 *   bench_grpc_streams --target 127.0.0.1:50051 --pid PID [--streams 10000]
 *                      [--channels 16] [--duration-s 600] [--sample-s 30]
 *                      [--words 10] [--idle-s 10] [--model chat]
 *
 * Keeps --streams streams open for --duration-s: each asks for a prompt of
 * its own ("stream <n> <nonce> w0 w1 …", which the simulator echoes back
 * slowly), and when one ends it is checked (status OK, the deltas equal to
 * exactly its own prompt) and replaced by a new one. The calls are spread
 * over --channels HTTP/2 connections, on one completion queue driven by this
 * thread. Every --sample-s it prints the data plane's RSS and descriptors
 * (/proc/PID) with the streams open, started, completed and failed; after
 * the last stream ended and --idle-s of quiet, once more. Flat RSS and
 * descriptor counts after the first samples mean nothing grows per stream.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "llmgw/v1/chat.pb-c.h"
#include "proc_stats.h"

#define GS_TEXT_CAP 1024
#define GS_TAG_START 1u
#define GS_TAG_RECV 2u
#define GS_TAG_STATUS 3u

typedef struct {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    char want[256];
    char text[GS_TEXT_CAP];
    size_t len;
    bool overflow, bad_message, recv_done, status_done, live;
} gs_stream_t;

typedef struct {
    const char *target, *model;
    int pid, streams, channels, duration_s, sample_s, words, idle_s;
} gs_opts_t;

typedef struct {
    gs_opts_t o;
    grpc_completion_queue *cq;
    grpc_channel **ch;
    gs_stream_t *slots;
    long started, completed, wrong, failed;
    int open, max_open;
    double t0;
} gs_bench_t;

static double gs_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *gs_tag(gs_stream_t *s, unsigned kind)
{
    return (void *)((uintptr_t)s | kind);
}

static void gs_post_recv(gs_stream_t *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    if (grpc_call_start_batch(s->call, &op, 1, gs_tag(s, GS_TAG_RECV), NULL) != GRPC_CALL_OK)
        s->recv_done = true; /* the status still arrives */
}

static int gs_start(gs_bench_t *b, gs_stream_t *s, long n)
{
    int w = snprintf(s->want, sizeof(s->want), "stream %ld %08x", n, (unsigned)rand());
    for (int k = 0; k < b->o.words && w > 0 && (size_t)w + 4 < sizeof(s->want); k++)
        w += snprintf(s->want + w, sizeof(s->want) - (size_t)w, " w%d", k % 10);
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[1] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    msg.role = (char *)"user";
    msg.content = s->want;
    req.model = (char *)b->o.model;
    req.n_messages = 1;
    req.messages = msgs;
    grpc_slice body = grpc_slice_malloc(protobuf_c_message_get_packed_size(&req.base));
    protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(body));
    s->send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    s->call = grpc_channel_create_call(
        b->ch[n % b->o.channels], NULL, GRPC_PROPAGATE_DEFAULTS, b->cq,
        grpc_slice_from_static_string("/llmgw.v1.ChatService/Stream"), NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!s->call || !s->send) {
        fprintf(stderr, "bench_grpc_streams: cannot create a call\n");
        return -1;
    }
    s->recv = NULL;
    s->len = 0;
    s->overflow = s->bad_message = s->recv_done = s->status_done = false;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    grpc_op ops[5];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    grpc_op st;
    memset(&st, 0, sizeof(st));
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    st.data.recv_status_on_client.status = &s->status;
    st.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &st, 1, gs_tag(s, GS_TAG_STATUS), NULL) != GRPC_CALL_OK ||
        grpc_call_start_batch(s->call, ops, 5, gs_tag(s, GS_TAG_START), NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "bench_grpc_streams: cannot start a call\n");
        return -1;
    }
    s->live = true;
    b->started++;
    if (++b->open > b->max_open)
        b->max_open = b->open;
    return 0;
}

/* The received message's delta appended to the stream's text. */
static void gs_take_message(gs_stream_t *s)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, s->recv)) {
        s->bad_message = true;
        goto out;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    Llmgw__V1__ChatChunk *c = llmgw__v1__chat_chunk__unpack(NULL, GRPC_SLICE_LENGTH(all),
                                                            GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    if (!c) {
        s->bad_message = true;
        goto out;
    }
    for (size_t i = 0; i < c->n_choices; i++) {
        const char *piece = c->choices[i]->delta ? c->choices[i]->delta->content : NULL;
        size_t n = piece ? strlen(piece) : 0;
        if (s->len + n >= GS_TEXT_CAP) {
            s->overflow = true;
            continue;
        }
        memcpy(s->text + s->len, piece ? piece : "", n);
        s->len += n;
    }
    llmgw__v1__chat_chunk__free_unpacked(c, NULL);
out:
    grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
}

/* The simulator's echo without its "[name] " prefix. */
static const char *gs_echo(const char *text)
{
    const char *sp = text[0] == '[' ? strchr(text, ' ') : NULL;
    return sp ? sp + 1 : text;
}

/* Both halves ended: check, count, release. */
static void gs_finish(gs_bench_t *b, gs_stream_t *s)
{
    s->text[s->len] = '\0';
    if (s->status != GRPC_STATUS_OK) {
        if (b->failed < 5)
            fprintf(stderr, "bench_grpc_streams: status %d: %.*s\n", (int)s->status,
                    (int)GRPC_SLICE_LENGTH(s->details), GRPC_SLICE_START_PTR(s->details));
        b->failed++;
    } else if (s->overflow || s->bad_message || strcmp(gs_echo(s->text), s->want) != 0) {
        if (b->wrong < 5)
            fprintf(stderr, "bench_grpc_streams: wrong content: want '%s' got '%s'\n", s->want,
                    s->text);
        b->wrong++;
    } else {
        b->completed++;
    }
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    grpc_byte_buffer_destroy(s->send);
    grpc_call_unref(s->call);
    s->call = NULL;
    s->live = false;
    b->open--;
}

static void gs_print(gs_bench_t *b, const char *when)
{
    proc_stats_t p;
    proc_stats_sample(b->o.pid, &p);
    printf("%-8s t=%5.0fs open=%5d started=%7ld completed=%7ld wrong=%ld failed=%ld "
           "rss=%6.1fMiB hwm=%6.1fMiB fds=%5d close_wait=%d\n",
           when, gs_now_s() - b->t0, b->open, b->started, b->completed, b->wrong, b->failed,
           (double)p.rss_kib / 1024.0, (double)p.hwm_kib / 1024.0, p.fds, p.close_wait);
    fflush(stdout);
}

static int gs_parse(int argc, char **argv, gs_opts_t *o)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},  {"pid", required_argument, NULL, 'p'},
        {"streams", required_argument, NULL, 'n'}, {"channels", required_argument, NULL, 'c'},
        {"duration-s", required_argument, NULL, 'd'}, {"sample-s", required_argument, NULL, 's'},
        {"words", required_argument, NULL, 'w'},   {"idle-s", required_argument, NULL, 'i'},
        {"model", required_argument, NULL, 'm'},   {NULL, 0, NULL, 0},
    };
    *o = (gs_opts_t){.model = "chat",
                     .streams = 10000,
                     .channels = 16,
                     .duration_s = 600,
                     .sample_s = 30,
                     .words = 10,
                     .idle_s = 10};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        long v = 0;
        if (c != 't' && c != 'm' && c != '?') {
            v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > 10000000) {
                fprintf(stderr, "bench_grpc_streams: %s: expected a number\n", argv[optind - 1]);
                return -1;
            }
        }
        switch (c) {
        case 't': o->target = optarg; break;
        case 'm': o->model = optarg; break;
        case 'p': o->pid = (int)v; break;
        case 'n': o->streams = (int)v; break;
        case 'c': o->channels = (int)v; break;
        case 'd': o->duration_s = (int)v; break;
        case 's': o->sample_s = (int)v; break;
        case 'w': o->words = (int)v; break;
        case 'i': o->idle_s = (int)v; break;
        default: return -1;
        }
    }
    if (!o->target || o->pid <= 0 || o->streams < 1 || o->channels < 1 || o->sample_s < 1) {
        fprintf(stderr, "usage: bench_grpc_streams --target HOST:PORT --pid PID [--streams N] "
                        "[--channels C] [--duration-s D] [--sample-s S] [--words W] "
                        "[--idle-s I] [--model M]\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    gs_bench_t b = {0};
    int rc = 1;
    if (gs_parse(argc, argv, &b.o) < 0)
        return 2;
    srand((unsigned)time(NULL));
    grpc_init();
    b.cq = grpc_completion_queue_create_for_next(NULL);
    b.ch = calloc((size_t)b.o.channels, sizeof(*b.ch));
    b.slots = calloc((size_t)b.o.streams, sizeof(*b.slots));
    if (!b.ch || !b.slots)
        goto out;
    /* A local subchannel pool per channel: otherwise channels to one target
     * share a connection. Messages are small; no other argument. */
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (int i = 0; i < b.o.channels; i++)
        b.ch[i] = grpc_channel_create(b.o.target, creds, &args);
    grpc_channel_credentials_release(creds);

    b.t0 = gs_now_s();
    printf("# %d streams over %d channels for %d s, %d words each; data plane pid %d\n",
           b.o.streams, b.o.channels, b.o.duration_s, b.o.words, b.o.pid);
    gs_print(&b, "start");
    for (int i = 0; i < b.o.streams; i++)
        if (gs_start(&b, &b.slots[i], b.started) < 0)
            goto out;
    double next_sample = b.t0 + b.o.sample_s, end = b.t0 + b.o.duration_s;
    while (b.open > 0) {
        grpc_event ev = grpc_completion_queue_next(
            b.cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN)),
            NULL);
        double now = gs_now_s();
        if (now >= next_sample) {
            gs_print(&b, now < end ? "running" : "draining");
            next_sample += b.o.sample_s;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        gs_stream_t *s = (gs_stream_t *)((uintptr_t)ev.tag & ~(uintptr_t)7);
        unsigned kind = (unsigned)((uintptr_t)ev.tag & 7);
        if (kind == GS_TAG_STATUS) {
            s->status_done = true;
        } else if (!ev.success || !s->recv) {
            s->recv_done = true; /* end of stream (or the call failed) */
        } else {
            gs_take_message(s);
            gs_post_recv(s);
        }
        if (s->status_done && s->recv_done) {
            gs_finish(&b, s);
            if (now < end && gs_start(&b, s, b.started) < 0)
                goto out;
        }
    }
    gs_print(&b, "ended");
    sleep((unsigned)b.o.idle_s);
    gs_print(&b, "idle");
    printf("streams: started %ld, completed with their own content %ld, wrong %ld, failed %ld; "
           "at most %d open\n",
           b.started, b.completed, b.wrong, b.failed, b.max_open);
    rc = b.completed == b.started ? 0 : 1;
out:
    for (int i = 0; b.slots && i < b.o.streams; i++) /* an early end: their tags still come */
        if (b.slots[i].live)
            grpc_call_cancel(b.slots[i].call, NULL);
    for (int i = 0; b.ch && i < b.o.channels; i++)
        if (b.ch[i])
            grpc_channel_destroy(b.ch[i]);
    if (b.cq) {
        grpc_completion_queue_shutdown(b.cq);
        while (grpc_completion_queue_next(b.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(b.cq);
    }
    free(b.ch);
    free(b.slots);
    grpc_shutdown();
    return rc;
}
