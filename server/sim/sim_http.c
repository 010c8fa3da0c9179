/* sim_http: the simulator's endpoints on libmicrohttpd. See sim_http.h for
 * the thread model.
 *
 * A request goes: accumulate the body (capped) → parse and validate →
 * settings for its model, then x-sim-* headers → hang / latency → status
 * override → error rate → the answer, with the fault applied. Streams are
 * produced lazily by MHD's content reader on the connection's thread: it
 * waits for the first chunk (ttft_ms) and paces words (tokens_per_s) by
 * sleeping in place, and batches every event already due into one write so
 * an unpaced stream costs a single send.
 *
 * Invariants: a request context (sim_req_t) lives from the first handler call
 * to MHD's completion callback; a stream (sim_stream_t) owns copies of all
 * it needs and is freed by MHD with its response, so neither outlives or
 * borrows from the other.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "sim_http.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "sim_answer.h"
#include "sim_anthropic.h"
#include "sim_cohere.h"
#include "sim_completions.h"
#include "sim_embed.h"
#include "sim_request.h"

#define SIM_BODY_MAX (8u << 20)           /* request bodies above this get 413 */
#define SIM_PENDING_MAX (64u << 20)       /* a stream's unsent events */
#define SIM_HANG_MAX_MS 120000            /* a hang ends (connection closed) after this */
#define SIM_CONNECTION_TIMEOUT_S 120      /* idle keep-alive connections */
#define SIM_THREAD_STACK_BYTES (1u << 20) /* jansson parses nested JSON recursively */
#define SIM_STREAM_BLOCK 16384

struct sim_http {
    const sim_config_t *cfg;
    struct MHD_Daemon *daemon;
    uint16_t port;
    uint64_t seed;
    int64_t started_unix;
    atomic_bool stopping;
    int stop_fd;                  /* an eventfd, readable once stopping: every wait polls it */
    atomic_uint_fast64_t next_id; /* chatcmpl-sim-<n> */
    atomic_uint_fast64_t draws;   /* error-rate PRNG position */
};

typedef enum {
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_EMBED,
    ROUTE_MODELS,
    ROUTE_MESSAGES,
    ROUTE_COHERE_CHAT,
    ROUTE_NOT_FOUND
} sim_route_t;

/* Per-request context (MHD's con_cls). */
typedef struct {
    sim_route_t route;
    bool too_large;
    char url[512]; /* the path asked, for x-sim-echo */
    buf_t body;
} sim_req_t;

/* What the shared prelude (hang, latency, status, error rate) decided. */

/* Sleeps up to `ms` watching the client's socket (fd < 0: none) and the
 * stop eventfd, so a thread sleeps the whole time: with thousands of slow
 * streams, waking each every few ms to look at a flag kept the machine's
 * run queue full. 0 when the time passed; -1 when stopping or the client
 * left. */
static int sim_wait(sim_http_t *h, int fd, int64_t ms)
{
    int64_t deadline = clock_now_ms() + ms;
    for (;;) {
        if (atomic_load(&h->stopping))
            return -1;
        int64_t left = deadline - clock_now_ms();
        if (left <= 0)
            return 0;
        /* POLLRDHUP: the client closed (or half-closed) its side. */
        struct pollfd pfd[2] = {{.fd = h->stop_fd, .events = POLLIN},
                                {.fd = fd, .events = POLLRDHUP}};
        int rc = poll(pfd, fd < 0 ? 1 : 2, left > 60000 ? 60000 : (int)left);
        if (rc > 0 && (pfd[0].revents ||
                       (fd >= 0 && (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))))
            return -1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int connection_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

/* Queues `body` (malloc'ed; taken over, also on failure) with `status`. */
static enum MHD_Result queue_body(struct MHD_Connection *conn, unsigned status, char *body,
                                  size_t len, const char *content_type)
{
    if (!body) {
        static const char oom[] = "{\"error\":{\"message\":\"simulator out of memory\","
                                  "\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_YES;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
        ret = MHD_NO;
    if (ret == MHD_YES && (status == 429 || status == 503) &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES)
        ret = MHD_NO;
    if (ret == MHD_YES)
        ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, unsigned status,
                                   const char *message, const char *param)
{
    size_t len = 0;
    char *body = sim_body_error((int)status, message, param, &len);
    return queue_body(conn, status, body, len, "application/json");
}

/* Which API's error shape a handler answers in. */
typedef enum { WIRE_OPENAI = 0, WIRE_ANTHROPIC, WIRE_COHERE } sim_wire_t;

/* An error in the shape of the API asked: Anthropic's for /v1/messages,
 * Cohere's for /v2/chat. */
static enum MHD_Result queue_error_as(struct MHD_Connection *conn, sim_wire_t wire, unsigned status,
                                      const char *message)
{
    size_t len = 0;
    if (wire == WIRE_OPENAI)
        return queue_error(conn, status, message, NULL);
    char *body = wire == WIRE_ANTHROPIC ? sim_anthropic_error((int)status, message, &len)
                                        : sim_cohere_error(message, &len);
    return queue_body(conn, status, body, len, "application/json");
}

/* --- x-sim-* request headers ------------------------------------------- */

typedef struct {
    sim_settings_t *settings;
    char err[256];
    bool failed;
} sim_header_scan_t;

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    sim_header_scan_t *scan = cls;
    if (strncasecmp(key, "x-sim-", 6) != 0)
        return MHD_YES;
    if (!strcasecmp(key, "x-sim-echo") || !strcasecmp(key, "x-sim-tool-call"))
        return MHD_YES; /* read by the chat handlers (echo_text, tool_call_body) */
    if (sim_settings_apply_header(scan->settings, key, value ? value : "", scan->err,
                                  sizeof(scan->err)) < 0) {
        scan->failed = true;
        return MHD_NO; /* stop at the first bad header */
    }
    return MHD_YES;
}

/* --- the steps every answered request shares --------------------------- */

/* Resolves the settings for `model`, then applies hang, latency, the status
 * override and the error rate. True: go on and answer. False: the request
 * is over and *ret is the handler's result (an error queued, or MHD_NO to
 * drop the connection). */
static bool prelude(sim_http_t *h, struct MHD_Connection *conn, const char *model, sim_wire_t wire,
                    sim_settings_t *s, enum MHD_Result *ret)
{
    sim_config_resolve(h->cfg, model, s);
    sim_header_scan_t scan = {.settings = s};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, header_cb, &scan);
    if (scan.failed) {
        *ret = queue_error_as(conn, wire, MHD_HTTP_BAD_REQUEST, scan.err);
        return false;
    }
    int fd = connection_fd(conn);
    if (s->fault == SIM_FAULT_HANG) {
        /* Hold until the client gives up, the sim stops, or the cap. */
        log_debug("hang", "max_ms=%d", SIM_HANG_MAX_MS);
        if (sim_wait(h, fd, SIM_HANG_MAX_MS) < 0 && !atomic_load(&h->stopping))
            log_debug("client gone", "model=%s", model);
        *ret = MHD_NO;
        return false;
    }
    if (s->latency_ms > 0 && sim_wait(h, fd, s->latency_ms) < 0) {
        /* Tests read this line to see that a cancelled request was aborted
         * at the provider, not just forgotten by the gateway. */
        if (!atomic_load(&h->stopping))
            log_debug("client gone", "model=%s", model);
        *ret = MHD_NO;
        return false;
    }
    int status = s->status;
    if (status == 0 && s->error_rate > 0) {
        uint64_t n = atomic_fetch_add(&h->draws, 1);
        double u = (double)(sim_mix64(h->seed ^ sim_mix64(n)) >> 11) * 0x1.0p-53;
        if (u < s->error_rate)
            status = 500;
    }
    if (status != 0) {
        char msg[32];
        snprintf(msg, sizeof(msg), "simulated %d", status);
        *ret = queue_error_as(conn, wire, (unsigned)status, msg);
        return false;
    }
    return true;
}

/* --- non-streamed bodies cut short (drop_mid_stream) -------------------- */

typedef struct {
    char *body;
    size_t len;
} sim_cut_t;

/* Sends the first half of the body, then fails: MHD closes the connection
 * with Content-Length unmet, which every client reports as a short read. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    sim_cut_t *cut = cls;
    size_t half = cut->len / 2;
    if (pos >= half)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = half - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, cut->body + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    sim_cut_t *cut = cls;
    free(cut->body);
    free(cut);
}

static enum MHD_Result queue_cut(struct MHD_Connection *conn, char *body, size_t len)
{
    sim_cut_t *cut = body ? calloc(1, sizeof(*cut)) : NULL;
    if (!cut) {
        free(body);
        return queue_body(conn, 500, NULL, 0, NULL);
    }
    cut->body = body;
    cut->len = len;
    struct MHD_Response *r =
        MHD_create_response_from_callback(len, SIM_STREAM_BLOCK, cut_reader, cut, cut_free);
    if (!r) {
        cut_free(cut);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* A body with a fault applied: malformed_json halves it (an object missing
 * its closing braces is never JSON), drop_mid_stream closes mid-body. */
static enum MHD_Result queue_answer_body(struct MHD_Connection *conn, const sim_settings_t *s,
                                         char *body, size_t len)
{
    if (body && s->fault == SIM_FAULT_MALFORMED_JSON) {
        len /= 2;
        body[len] = '\0';
    }
    if (s->fault == SIM_FAULT_DROP_MID_STREAM)
        return queue_cut(conn, body, len);
    return queue_body(conn, MHD_HTTP_OK, body, len, "application/json");
}

/* --- streams ------------------------------------------------------------ */

typedef enum {
    PHASE_FIRST, /* wait ttft, then the role chunk */
    PHASE_WORDS,
    PHASE_FINISH,
    PHASE_USAGE,
    PHASE_DONE, /* data: [DONE] */
    PHASE_END,
    PHASE_DROP, /* close without [DONE] */
} sim_phase_t;

typedef struct {
    sim_http_t *h;
    int fd;
    sim_settings_t s; /* answer pointer cleared: it may borrow request headers */
    bool include_usage;
    int64_t prompt_tokens;
    sim_answer_t answer;
    char id[48];
    char *model;
    sim_meta_t meta;
    sim_chunker_t *chunker;
    sim_phase_t phase;
    size_t next_word;
    size_t word_limit; /* words sent before a drop, else all */
    int64_t first_us;  /* when the first chunk went out: pacing's origin */
    buf_t pending;     /* events generated, not yet handed to MHD */
    size_t sent;       /* bytes of `pending` already handed over */
} sim_stream_t;

static void stream_free(void *cls)
{
    sim_stream_t *st = cls;
    if (!st)
        return;
    sim_chunker_free(st->chunker);
    sim_answer_free(&st->answer);
    free(st->model);
    buf_free(&st->pending);
    free(st);
}

/* Generates every event that is due now into `pending`, waiting first when
 * nothing is due. Stops early once `max` bytes are ready, so a long answer
 * is produced in pieces. 0, or -1 when the stream must end with an error. */
static int stream_generate(sim_stream_t *st, size_t max)
{
    buf_t *out = &st->pending;
    for (;;) {
        switch (st->phase) {
        case PHASE_FIRST:
            if (st->s.ttft_ms > 0 && sim_wait(st->h, st->fd, st->s.ttft_ms) < 0)
                return -1;
            st->first_us = clock_now_us();
            if (st->s.fault == SIM_FAULT_EMPTY_CHOICES) {
                if (sim_sse_no_choices(st->chunker, st->include_usage ? st->prompt_tokens : -1, 0,
                                       out) < 0)
                    return -1;
                st->phase = PHASE_DONE;
                break;
            }
            if (sim_sse_role(st->chunker, out) < 0)
                return -1;
            if (st->s.fault == SIM_FAULT_MALFORMED_JSON && sim_sse_malformed(st->chunker, out) < 0)
                return -1;
            st->phase = PHASE_WORDS;
            break;
        case PHASE_WORDS:
            if (st->next_word >= st->word_limit) {
                st->phase = st->s.fault == SIM_FAULT_DROP_MID_STREAM ? PHASE_DROP : PHASE_FINISH;
                break;
            }
            if (st->s.tokens_per_s > 0) {
                int64_t due =
                    st->first_us + (int64_t)((double)st->next_word * 1e6 / st->s.tokens_per_s);
                int64_t now = clock_now_us();
                if (due > now) {
                    if (out->len > st->sent)
                        return 0; /* send what is ready before sleeping */
                    if (sim_wait(st->h, st->fd, (due - now + 999) / 1000) < 0)
                        return -1;
                }
            }
            if (sim_sse_word(st->chunker, &st->answer, st->next_word, out) < 0)
                return -1;
            st->next_word++;
            break;
        case PHASE_FINISH:
            if (sim_sse_finish(st->chunker, sim_answer_finish_reason(&st->answer), out) < 0)
                return -1;
            st->phase = st->include_usage ? PHASE_USAGE : PHASE_DONE;
            break;
        case PHASE_USAGE:
            if (sim_sse_no_choices(st->chunker, st->prompt_tokens, (int64_t)st->answer.nwords,
                                   out) < 0)
                return -1;
            st->phase = PHASE_DONE;
            break;
        case PHASE_DONE:
            if (sim_sse_done(out) < 0)
                return -1;
            st->phase = PHASE_END;
            return 0;
        case PHASE_END:
        case PHASE_DROP:
            return 0;
        }
        if (out->len - st->sent >= max)
            return 0;
    }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    sim_stream_t *st = cls;
    if (atomic_load(&st->h->stopping))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (st->sent == st->pending.len) {
        buf_reset(&st->pending);
        st->sent = 0;
        if (st->phase == PHASE_END)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->phase == PHASE_DROP)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (stream_generate(st, max) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (st->pending.len == 0)
            return st->phase == PHASE_END ? MHD_CONTENT_READER_END_OF_STREAM
                                          : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->pending.len - st->sent;
    if (n > max)
        n = max;
    memcpy(buf, st->pending.data + st->sent, n);
    st->sent += n;
    return (ssize_t)n;
}

static enum MHD_Result queue_stream(sim_http_t *h, struct MHD_Connection *conn,
                                    const sim_chat_t *chat, const sim_settings_t *s, uint64_t id)
{
    sim_stream_t *st = calloc(1, sizeof(*st));
    if (!st)
        return queue_body(conn, 500, NULL, 0, NULL);
    st->h = h;
    st->fd = connection_fd(conn);
    st->s = *s;
    st->s.answer = NULL;
    st->include_usage = chat->include_usage;
    st->prompt_tokens = chat->prompt_tokens;
    buf_init(&st->pending, SIM_PENDING_MAX);
    snprintf(st->id, sizeof(st->id), "chatcmpl-sim-%llu", (unsigned long long)id);
    st->model = strdup(chat->model);
    st->meta = (sim_meta_t){.id = st->id, .model = st->model, .created = (int64_t)time(NULL)};
    if (!st->model || sim_answer_build(&st->answer, sim_config_name(h->cfg), s->answer,
                                       chat->user_text, chat->user_len, chat->max_tokens) < 0)
        goto oom;
    st->chunker = sim_chunker_new(&st->meta);
    if (!st->chunker)
        goto oom;
    st->word_limit =
        s->fault == SIM_FAULT_DROP_MID_STREAM ? st->answer.nwords / 2 : st->answer.nwords;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SIM_STREAM_BLOCK,
                                                               stream_reader, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_YES;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES)
        ret = MHD_NO;
    if (ret == MHD_YES)
        ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
oom:
    stream_free(st);
    return queue_body(conn, 500, NULL, 0, NULL);
}

/* --- endpoints ---------------------------------------------------------- */

/* A chat-shaped request's answer (derived from its text) with its id
 * "<prefix><id>" and metadata. False when it cannot be built: a 500 is
 * queued into *ret. Free with sim_answer_free(&r->answer). */
typedef struct {
    sim_answer_t answer;
    char id[48];
    sim_meta_t meta;
} sim_reply_t;

/* x-sim-echo: request — the answer is what the sim received, for tests of
 * what a gateway sent upstream: "path=<path> api-version=<query value or
 * -> body=<body as received>" (max_tokens does not cut it). NULL without
 * the header; *bad set when its value is not "request". malloc'ed. */
static char *echo_text(struct MHD_Connection *conn, const sim_req_t *req, bool *bad)
{
    const char *echo = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-sim-echo");
    *bad = echo && strcmp(echo, "request") != 0;
    if (!echo || *bad)
        return NULL;
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "api-version");
    buf_t b = BUF_INIT(SIM_BODY_MAX + 1024);
    if (buf_printf(&b, "path=%s api-version=%s body=", req->url, v ? v : "-") < 0 ||
        buf_append(&b, buf_cstr(&req->body), req->body.len) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

static bool reply_build(sim_http_t *h, struct MHD_Connection *conn, const sim_settings_t *s,
                        const sim_chat_t *c, const char *id_prefix, uint64_t id, sim_reply_t *r,
                        enum MHD_Result *ret, const char *echo)
{
    if (sim_answer_build(&r->answer, sim_config_name(h->cfg), echo ? echo : s->answer, c->user_text,
                         c->user_len, echo ? -1 : c->max_tokens) < 0) {
        *ret = queue_body(conn, 500, NULL, 0, NULL);
        return false;
    }
    snprintf(r->id, sizeof(r->id), "%s%llu", id_prefix, (unsigned long long)id);
    r->meta = (sim_meta_t){.id = r->id, .model = c->model, .created = (int64_t)time(NULL)};
    return true;
}

static enum MHD_Result handle_chat(sim_http_t *h, struct MHD_Connection *conn, sim_req_t *req)
{
    char err[512];
    char param[128];
    sim_chat_t chat;
    if (sim_chat_parse(&chat, buf_cstr(&req->body), req->body.len, err, sizeof(err), param,
                       sizeof(param)) < 0)
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, err, param);
    enum MHD_Result ret = MHD_NO;
    sim_settings_t s;
    if (!prelude(h, conn, chat.model, WIRE_OPENAI, &s, &ret))
        goto out;
    uint64_t id = atomic_fetch_add(&h->next_id, 1) + 1;
    if (chat.stream) {
        ret = queue_stream(h, conn, &chat, &s, id);
        goto out;
    }
    sim_reply_t r;
    bool bad = false;
    char *echo = echo_text(conn, req, &bad);
    if (bad) {
        ret = queue_error(conn, MHD_HTTP_BAD_REQUEST, "x-sim-echo: expected request", NULL);
        goto out;
    }
    bool ok = reply_build(h, conn, &s, &chat, "chatcmpl-sim-", id, &r, &ret, echo);
    free(echo);
    if (!ok)
        goto out;
    size_t len = 0;
    const char *tool = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-sim-tool-call");
    char *body = tool ? sim_body_tool_call(&r.meta, tool, chat.prompt_tokens, &len)
                      : sim_body_completion(&r.answer, &r.meta, chat.prompt_tokens,
                                            s.fault == SIM_FAULT_EMPTY_CHOICES, &len);
    sim_answer_free(&r.answer);
    ret = queue_answer_body(conn, &s, body, len);
out:
    sim_chat_free(&chat);
    return ret;
}

static enum MHD_Result handle_embeddings(sim_http_t *h, struct MHD_Connection *conn, sim_req_t *req)
{
    char err[512];
    char param[128];
    sim_embed_req_t e;
    if (sim_embed_parse(&e, buf_cstr(&req->body), req->body.len, err, sizeof(err), param,
                        sizeof(param)) < 0)
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, err, param);
    enum MHD_Result ret = MHD_NO;
    sim_settings_t s;
    if (!prelude(h, conn, e.model, WIRE_OPENAI, &s, &ret))
        goto out;
    size_t len = 0;
    char *body = sim_embed_body(&e, &len);
    ret = queue_answer_body(conn, &s, body, len);
out:
    sim_embed_free(&e);
    return ret;
}

static enum MHD_Result handle_models(sim_http_t *h, struct MHD_Connection *conn)
{
    char *body = NULL;
    json_t *data = json_array();
    for (size_t i = 0; data && i < sim_config_model_count(h->cfg); i++) {
        json_t *m =
            json_pack("{s:s,s:s,s:I,s:s}", "id", sim_config_model_at(h->cfg, i), "object", "model",
                      "created", (json_int_t)h->started_unix, "owned_by", sim_config_name(h->cfg));
        if (json_array_append_new(data, m) < 0) {
            json_decref(data);
            data = NULL;
        }
    }
    json_t *root = json_pack("{s:s,s:o}", "object", "list", "data", data);
    if (root)
        body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return queue_body(conn, MHD_HTTP_OK, body, body ? strlen(body) : 0, "application/json");
}

/* POST /v1/messages: Anthropic's Messages API (sim_anthropic.h). A stream
 * is sent whole; the faults apply as for chat completions (drop_mid_stream
 * cuts it mid-event, malformed_json halves it). */
static enum MHD_Result handle_messages(sim_http_t *h, struct MHD_Connection *conn, sim_req_t *req)
{
    char err[512];
    sim_chat_t chat;
    if (!MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "anthropic-version"))
        return queue_error_as(conn, WIRE_ANTHROPIC, MHD_HTTP_BAD_REQUEST,
                              "anthropic-version: header is required");
    if (sim_anthropic_parse(&chat, buf_cstr(&req->body), req->body.len, err, sizeof(err)) < 0)
        return queue_error_as(conn, WIRE_ANTHROPIC, MHD_HTTP_BAD_REQUEST, err);
    enum MHD_Result ret = MHD_NO;
    sim_settings_t s;
    if (!prelude(h, conn, chat.model, WIRE_ANTHROPIC, &s, &ret))
        goto out;
    sim_reply_t r;
    bool bad = false;
    char *echo = echo_text(conn, req, &bad);
    if (bad) {
        ret = queue_error_as(conn, true, MHD_HTTP_BAD_REQUEST, "x-sim-echo: expected request");
        goto out;
    }
    bool ok = reply_build(h, conn, &s, &chat, "msg_sim_", atomic_fetch_add(&h->next_id, 1) + 1, &r,
                          &ret, echo);
    free(echo);
    if (!ok)
        goto out;
    size_t len = 0;
    char *body = chat.stream ? sim_anthropic_stream(&r.answer, &r.meta, chat.prompt_tokens, &len)
                             : sim_anthropic_body(&r.answer, &r.meta, chat.prompt_tokens, &len);
    sim_answer_free(&r.answer);
    if (chat.stream && s.fault != SIM_FAULT_DROP_MID_STREAM && s.fault != SIM_FAULT_MALFORMED_JSON)
        ret = queue_body(conn, MHD_HTTP_OK, body, len, "text/event-stream");
    else
        ret = queue_answer_body(conn, &s, body, len);
out:
    sim_chat_free(&chat);
    return ret;
}

/* POST /v2/chat: Cohere's v2 Chat API (sim_cohere.h), for the cohere
 * extension; a stream is sent whole, the faults apply as for chat. */
static enum MHD_Result handle_cohere_chat(sim_http_t *h, struct MHD_Connection *conn,
                                          sim_req_t *req)
{
    char err[512];
    sim_chat_t chat;
    if (sim_cohere_parse(&chat, buf_cstr(&req->body), req->body.len, err, sizeof(err)) < 0)
        return queue_error_as(conn, WIRE_COHERE, MHD_HTTP_BAD_REQUEST, err);
    enum MHD_Result ret = MHD_NO;
    sim_settings_t s;
    if (!prelude(h, conn, chat.model, WIRE_COHERE, &s, &ret))
        goto out;
    sim_reply_t r;
    if (!reply_build(h, conn, &s, &chat, "cohere-sim-", atomic_fetch_add(&h->next_id, 1) + 1, &r,
                     &ret, NULL))
        goto out;
    size_t len = 0;
    char *body = chat.stream ? sim_cohere_stream(&r.answer, &r.meta, chat.prompt_tokens, &len)
                             : sim_cohere_body(&r.answer, &r.meta, chat.prompt_tokens, &len);
    sim_answer_free(&r.answer);
    if (chat.stream && s.fault != SIM_FAULT_DROP_MID_STREAM && s.fault != SIM_FAULT_MALFORMED_JSON)
        ret = queue_body(conn, MHD_HTTP_OK, body, len, "text/event-stream");
    else
        ret = queue_answer_body(conn, &s, body, len);
out:
    sim_chat_free(&chat);
    return ret;
}

/* POST /v1/completions: the legacy text completions API
 * (sim_completions.h); a stream is sent whole, the faults apply as for chat. */
static enum MHD_Result handle_completions(sim_http_t *h, struct MHD_Connection *conn,
                                          sim_req_t *req)
{
    char err[512];
    char param[128];
    sim_chat_t c;
    if (sim_completions_parse(&c, buf_cstr(&req->body), req->body.len, err, sizeof(err), param,
                              sizeof(param)) < 0)
        return queue_error(conn, MHD_HTTP_BAD_REQUEST, err, param[0] ? param : NULL);
    enum MHD_Result ret = MHD_NO;
    sim_settings_t s;
    if (!prelude(h, conn, c.model, WIRE_OPENAI, &s, &ret))
        goto out;
    sim_reply_t r;
    bool bad = false;
    char *echo = echo_text(conn, req, &bad);
    if (bad) {
        ret = queue_error(conn, MHD_HTTP_BAD_REQUEST, "x-sim-echo: expected request", NULL);
        goto out;
    }
    bool ok = reply_build(h, conn, &s, &c, "cmpl-sim-", atomic_fetch_add(&h->next_id, 1) + 1, &r,
                          &ret, echo);
    free(echo);
    if (!ok)
        goto out;
    size_t len = 0;
    char *body = c.stream ? sim_completions_stream(&r.answer, &r.meta, c.prompt_tokens,
                                                   c.include_usage, &len)
                          : sim_completions_body(&r.answer, &r.meta, c.prompt_tokens, &len);
    sim_answer_free(&r.answer);
    if (c.stream && s.fault != SIM_FAULT_DROP_MID_STREAM && s.fault != SIM_FAULT_MALFORMED_JSON)
        ret = queue_body(conn, MHD_HTTP_OK, body, len, "text/event-stream");
    else
        ret = queue_answer_body(conn, &s, body, len);
out:
    sim_chat_free(&c);
    return ret;
}

static sim_route_t route_of(const char *method, const char *url)
{
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/messages") == 0)
        return ROUTE_MESSAGES;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v2/chat") == 0)
        return ROUTE_COHERE_CHAT;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/chat/completions") == 0)
        return ROUTE_CHAT;
    /* Azure OpenAI's shape: /openai/deployments/{deployment}/chat/completions */
    static const char az[] = "/openai/deployments/", tail[] = "/chat/completions";
    size_t n = strlen(url);
    if (strcmp(method, "POST") == 0 && strncmp(url, az, sizeof(az) - 1) == 0 &&
        n > sizeof(az) - 1 + sizeof(tail) - 1 && strcmp(url + n - (sizeof(tail) - 1), tail) == 0)
        return ROUTE_CHAT;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/completions") == 0)
        return ROUTE_COMPLETIONS;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/embeddings") == 0)
        return ROUTE_EMBED;
    if (strcmp(method, "GET") == 0 &&
        (strcmp(url, "/v1/models") == 0 || strcmp(url, "/openai/models") == 0))
        return ROUTE_MODELS;
    return ROUTE_NOT_FOUND;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    sim_http_t *h = cls;
    sim_req_t *req = *con_cls;
    if (!req) {
        /* First call: headers only. Queue nothing yet unless refusing the
         * body outright, which MHD then skips. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > SIM_BODY_MAX)
            return queue_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                               "request body: larger than 8388608 bytes", NULL);
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->route = route_of(method, url);
        snprintf(req->url, sizeof(req->url), "%s", url);
        buf_init(&req->body, SIM_BODY_MAX);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        /* A chunked body past the cap: keep reading, discard, answer 413. */
        if (!req->too_large && buf_append(&req->body, upload_data, *upload_data_size) < 0) {
            req->too_large = true;
            buf_free(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large)
        return queue_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                           "request body: larger than 8388608 bytes", NULL);
    /* Azure OpenAI answers every /openai/ path without an api-version query
     * with 404 "Resource not found", so a gateway that forgets it fails here
     * as it would there. */
    if (strncmp(req->url, "/openai/", 8) == 0 &&
        !MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "api-version"))
        return queue_error(conn, MHD_HTTP_NOT_FOUND, "Resource not found", NULL);
    switch (req->route) {
    case ROUTE_CHAT:
        return handle_chat(h, conn, req);
    case ROUTE_COMPLETIONS:
        return handle_completions(h, conn, req);
    case ROUTE_EMBED:
        return handle_embeddings(h, conn, req);
    case ROUTE_MODELS:
        return handle_models(h, conn);
    case ROUTE_MESSAGES:
        return handle_messages(h, conn, req);
    case ROUTE_COHERE_CHAT:
        return handle_cohere_chat(h, conn, req);
    case ROUTE_NOT_FOUND:
        break;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "unknown endpoint %.16s %.120s", method, url);
    return queue_error(conn, MHD_HTTP_NOT_FOUND, msg, NULL);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sim_req_t *req = *con_cls;
    if (!req)
        return;
    buf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

/* MHD's own messages (aborted clients, mostly the ones the faults cause). */
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    for (char *p = line; *p; p++)
        if (*p == '"')
            *p = '\'';
    log_debug("mhd", "detail=\"%s\"", line);
}

sim_http_t *sim_http_start(const sim_config_t *cfg, const struct sockaddr *addr, uint64_t seed,
                           unsigned max_connections, char *err, size_t errlen)
{
    sim_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->seed = seed;
    h->started_unix = (int64_t)time(NULL);
    atomic_init(&h->stopping, false);
    atomic_init(&h->next_id, 0);
    atomic_init(&h->draws, 0);
    h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->stop_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(h);
        return NULL;
    }
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (addr->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, h,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SIM_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, max_connections ? max_connections : SIM_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)SIM_THREAD_STACK_BYTES, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "--listen: cannot listen (address in use or not available)");
        close(h->stop_fd);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    return h;
}

uint16_t sim_http_port(const sim_http_t *h)
{
    return h->port;
}

void sim_http_stop(sim_http_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    uint64_t one = 1; /* stays readable: wakes every wait, now and later */
    if (write(h->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        log_warn("sim: cannot wake the waits; they end within a minute", "%s", "");
    MHD_stop_daemon(h->daemon);
    close(h->stop_fd);
    free(h);
}
