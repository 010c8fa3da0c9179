/* Integration: the real llmgw-dataplane in front of real llmgw-sim processes,
 * driven over gRPC. Fallback order, statuses for bad input, streaming,
 * deadlines, cancellation, SIGHUP reload and graceful shutdown.
 *
 * One sim process serves several "providers": the table gives each provider
 * different x-sim-* headers (503, 400, malformed JSON, hang, dropped stream),
 * and provider "down" points at a port where nothing listens.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"

#define TEST_KEY "sk-integration-test"
/* printf %s sk-integration-test | sha256sum */
static char key_sha[65];

static harness_proc_t sim_a, sim_b, dp;
static gc_channel_t *ch;
static char target[64];

static void sha256_hex(const char *s, char out[65]);

/* A port bound but never listened on: connecting to it is refused at once,
 * and no other process can take it while the test runs. */
static int down_fd = -1;
static int down_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    down_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (down_fd < 0 || bind(down_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(down_fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    return ntohs(sa.sin_port);
}

/* The fallback tests hit failing providers again and again: breakers and
 * active probes off here, so every attempt is made (test_routing.c covers
 * them). */
#define NO_BREAKER                                                                                 \
    "\"breaker\": {\"consecutive_failures\": 1000000, \"min_requests\": 1000000}, "                \
    "\"health\": {\"interval_ms\": 0}, \"retry_after_max_ms\": 0, "

static const char *table_json(int port_a, int port_b, int port_down)
{
    static char buf[8192];
    snprintf(
        buf, sizeof(buf),
        "{\"version\": 1, \"providers\": ["
        "{\"name\": \"a\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"api_key\": \"sk-a\","
        " \"models\": [{\"name\": \"m1\", \"input_cost_per_mtok\": 1.0, \"output_cost_per_mtok\": "
        "2.0}]},"
        "{\"name\": \"b\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%2$d/v1\", \"models\": [{\"name\": "
        "\"m1\"}]},"
        "{\"name\": \"down\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%4$d/v1\", \"models\": [{\"name\": "
        "\"m1\"}]},"
        "{\"name\": \"e503\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-status\": \"503\"}, \"models\": [{\"name\": \"m1\"}]},"
        "{\"name\": \"e400\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-status\": \"400\"}, \"models\": [{\"name\": \"m1\"}]},"
        "{\"name\": \"bad\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-fault\": \"malformed_json\"}, \"models\": [{\"name\": \"m1\"}]},"
        "{\"name\": \"hang\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-fault\": \"hang\"}, \"models\": [{\"name\": \"m1\"}]},"
        "{\"name\": \"drop\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-fault\": \"drop_mid_stream\"}, \"models\": [{\"name\": \"m1\"}]},"
        "{\"name\": \"slow\", " NO_BREAKER
        "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"headers\": "
        "{\"x-sim-latency-ms\": \"700\", \"x-sim-tokens-per-s\": \"5\"}, \"models\": "
        "[{\"name\": \"m1\"}]}],"
        "\"routes\": ["
        "{\"name\": \"r-basic\", \"strategy\": \"priority\", \"deployments\": [{\"provider\": "
        "\"a\", \"model\": \"m1\"}]},"
        "{\"name\": \"r-fallback\", \"strategy\": \"priority\", \"deployments\": ["
        "{\"provider\": \"b\", \"model\": \"m1\", \"priority\": 3},"
        "{\"provider\": \"down\", \"model\": \"m1\", \"priority\": 0},"
        "{\"provider\": \"e503\", \"model\": \"m1\", \"priority\": 1},"
        "{\"provider\": \"bad\", \"model\": \"m1\", \"priority\": 2}]},"
        "{\"name\": \"r-nonretry\", \"strategy\": \"priority\", \"deployments\": ["
        "{\"provider\": \"e400\", \"model\": \"m1\", \"priority\": 0},"
        "{\"provider\": \"b\", \"model\": \"m1\", \"priority\": 1}]},"
        "{\"name\": \"r-exhaust\", \"strategy\": \"priority\", \"deployments\": ["
        "{\"provider\": \"down\", \"model\": \"m1\"}, {\"provider\": \"e503\", \"model\": "
        "\"m1\"}]},"
        "{\"name\": \"r-drop\", \"strategy\": \"priority\", \"deployments\": ["
        "{\"provider\": \"drop\", \"model\": \"m1\", \"priority\": 0},"
        "{\"provider\": \"b\", \"model\": \"m1\", \"priority\": 1}]},"
        "{\"name\": \"r-weighted\", \"strategy\": \"weighted\", \"deployments\": ["
        "{\"provider\": \"a\", \"model\": \"m1\", \"weight\": 1},"
        "{\"provider\": \"b\", \"model\": \"m1\", \"weight\": 3}]}],"
        "\"keys\": [{\"name\": \"test\", \"sha256\": \"%3$s\", \"team\": \"qa\"}]}",
        port_a, port_b, key_sha, port_down);
    return buf;
}

/* --- helpers ------------------------------------------------------------- */

typedef struct {
    grpc_status_code status;
    buf_t details;
    Llmgw__V1__ChatResponse *resp;
} call_result_t;

static void call_result_free(call_result_t *r)
{
    buf_free(&r->details);
    if (r->resp)
        llmgw__v1__chat_response__free_unpacked(r->resp, NULL);
}

static Llmgw__V1__ChatRequest *new_request(const char *model, const char *prompt)
{
    static Llmgw__V1__Message msg;
    static Llmgw__V1__Message *msgs[1];
    static Llmgw__V1__ChatRequest req;
    llmgw__v1__message__init(&msg);
    msg.role = "user";
    msg.content = (char *)prompt;
    msgs[0] = &msg;
    llmgw__v1__chat_request__init(&req);
    req.model = (char *)model;
    req.messages = msgs;
    req.n_messages = 1;
    return &req;
}

static call_result_t complete_req(const Llmgw__V1__ChatRequest *req, const char *key,
                                  int timeout_ms)
{
    call_result_t r = {.details = BUF_INIT(1 << 16)};
    size_t len = llmgw__v1__chat_request__get_packed_size(req);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    llmgw__v1__chat_request__pack(req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    r.status = gc_unary(ch, "/llmgw.v1.ChatService/Complete", key, timeout_ms, bytes, len, &resp,
                        &r.details);
    if (r.status == GRPC_STATUS_OK) {
        r.resp = llmgw__v1__chat_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        assert_non_null(r.resp);
    }
    buf_free(&resp);
    free(bytes);
    return r;
}

static call_result_t complete(const char *model, const char *prompt)
{
    return complete_req(new_request(model, prompt), TEST_KEY, 10000);
}

/* --- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    sha256_hex(TEST_KEY, key_sha);
    if (harness_start_sim(&sim_a, "sim-a", NULL) < 0 ||
        harness_start_sim(&sim_b, "sim-b", NULL) < 0)
        return -1;
    int port_down = down_port();
    if (port_down < 0)
        return -1;
    const char *table =
        harness_write("table.json", "%s", table_json(sim_a.port, sim_b.port, port_down));
    if (!table || harness_start_dataplane(&dp, table, NULL) < 0)
        return -1;
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    ch = gc_channel_new(target);
    return ch ? 0 : -1;
}

static int group_teardown(void **state)
{
    gc_channel_free(ch);
    int rc = harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim_a, SIGTERM, 2000);
    harness_stop(&sim_b, SIGTERM, 2000);
    harness_cleanup();
    close(down_fd);
    return rc == 0 ? 0 : -1;
}

/* --- tests --------------------------------------------------------------- */

static void test_complete_through_route_returns_answer_usage_cost_and_route(void **state)
{
    call_result_t r = complete("r-basic", "hello world");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.resp->n_choices, 1);
    assert_string_equal(r.resp->choices[0]->message->content, "[sim-a] hello world");
    assert_string_equal(r.resp->choices[0]->message->role, "assistant");
    assert_string_equal(r.resp->choices[0]->finish_reason, "stop");
    assert_string_equal(r.resp->provider, "a");
    assert_non_null(r.resp->usage);
    assert_int_equal(r.resp->usage->prompt_tokens, 6);     /* 2 words + 4 */
    assert_int_equal(r.resp->usage->completion_tokens, 3); /* "[sim-a] hello world" */
    assert_int_equal(r.resp->usage->total_tokens, 9);
    /* 6 * $1/M + 3 * $2/M */
    assert_true(r.resp->cost_usd > 11.9e-6 && r.resp->cost_usd < 12.1e-6);
    assert_non_null(r.resp->route);
    assert_string_equal(r.resp->route->provider, "a");
    assert_string_equal(r.resp->route->model, "m1");
    assert_string_equal(r.resp->route->strategy, "priority");
    assert_string_equal(r.resp->route->route, "r-basic");
    assert_int_equal(r.resp->route->n_attempts, 1);
    assert_string_equal(r.resp->route->attempts[0]->error, "");
    assert_int_equal(r.resp->route->attempts[0]->http_status, 200);
    call_result_free(&r);
}

static void test_complete_direct_provider_model(void **state)
{
    call_result_t r = complete("b/m1", "direct please");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->choices[0]->message->content, "[sim-b] direct please");
    assert_string_equal(r.resp->route->strategy, "direct");
    assert_string_equal(r.resp->route->route, "");
    call_result_free(&r);
}

static void test_fallback_tries_candidates_in_priority_order(void **state)
{
    call_result_t r = complete("r-fallback", "fall back");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->choices[0]->message->content, "[sim-b] fall back");
    Llmgw__V1__RouteDecision *d = r.resp->route;
    assert_int_equal(d->n_attempts, 4);
    assert_string_equal(d->attempts[0]->provider, "down");
    assert_string_equal(d->attempts[0]->error_type, "connect");
    assert_true(d->attempts[0]->retryable);
    assert_string_equal(d->attempts[1]->provider, "e503");
    assert_string_equal(d->attempts[1]->error_type, "server");
    assert_int_equal(d->attempts[1]->http_status, 503);
    assert_string_equal(d->attempts[2]->provider, "bad");
    assert_string_equal(d->attempts[2]->error_type, "bad_response");
    assert_string_equal(d->attempts[3]->provider, "b");
    assert_string_equal(d->attempts[3]->error, "");
    assert_non_null(strstr(d->reason, "after 3 failed attempts"));
    call_result_free(&r);
}

static void test_upstream_400_is_not_retried(void **state)
{
    call_result_t r = complete("r-nonretry", "no retry");
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "e400/m1"));
    assert_null(strstr(buf_cstr(&r.details), "b/m1"));
    call_result_free(&r);
}

static void test_every_candidate_failing_is_unavailable_listing_attempts(void **state)
{
    call_result_t r = complete("r-exhaust", "nothing works");
    assert_int_equal(r.status, GRPC_STATUS_UNAVAILABLE);
    const char *d = buf_cstr(&r.details);
    assert_non_null(strstr(d, "down/m1: connect"));
    assert_non_null(strstr(d, "e503/m1: server (HTTP 503)"));
    call_result_free(&r);
}

static void test_missing_or_unknown_key_is_unauthenticated(void **state)
{
    call_result_t r = complete_req(new_request("r-basic", "hi"), NULL, 5000);
    assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
    assert_non_null(strstr(buf_cstr(&r.details), "authorization"));
    call_result_free(&r);
    r = complete_req(new_request("r-basic", "hi"), "sk-wrong", 5000);
    assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
    call_result_free(&r);
}

static void test_unknown_model_is_not_found(void **state)
{
    call_result_t r = complete("no-such-route", "hi");
    assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
    assert_non_null(strstr(buf_cstr(&r.details), "model"));
    call_result_free(&r);
    r = complete("a/no-such-model", "hi");
    assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
    call_result_free(&r);
}

static void test_bad_requests_are_invalid_argument_naming_the_field(void **state)
{
    Llmgw__V1__ChatRequest *req = new_request("r-basic", "hi");
    req->n_messages = 0;
    call_result_t r = complete_req(req, TEST_KEY, 5000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "messages"));
    call_result_free(&r);

    req = new_request("r-basic", "hi");
    req->messages[0]->role = "wizard";
    r = complete_req(req, TEST_KEY, 5000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "messages[0].role"));
    call_result_free(&r);

    req = new_request("r-basic", "hi");
    req->temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    req->temperature = 7;
    r = complete_req(req, TEST_KEY, 5000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "temperature"));
    call_result_free(&r);

    req = new_request("r-basic", "hi");
    req->tools_json = "[not json";
    r = complete_req(req, TEST_KEY, 5000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "tools_json"));
    call_result_free(&r);

    req = new_request("", "hi");
    r = complete_req(req, TEST_KEY, 5000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "model"));
    call_result_free(&r);
}

static void test_oversized_message_is_rejected(void **state)
{
    size_t n = 5u << 20; /* over the 4 MiB per-message limit */
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    call_result_t r = complete_req(new_request("r-basic", big), TEST_KEY, 10000);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&r.details), "messages[0].content"));
    call_result_free(&r);
    free(big);
}

static void test_undecodable_request_is_invalid_argument(void **state)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    buf_t details = BUF_INIT(4096);
    grpc_status_code st = gc_unary(ch, "/llmgw.v1.ChatService/Complete", TEST_KEY, 5000, junk,
                                   sizeof(junk), NULL, &details);
    assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&details), "ChatRequest"));
    buf_free(&details);
}

typedef struct {
    grpc_status_code status;
    buf_t details;
    buf_t content;
    int chunks;
    Llmgw__V1__ChatChunk *last;
} stream_result_t;

static stream_result_t stream_call(const char *model, const char *prompt, int cancel_after)
{
    stream_result_t s = {.details = BUF_INIT(1 << 16), .content = BUF_INIT(1 << 20)};
    Llmgw__V1__ChatRequest *req = new_request(model, prompt);
    size_t len = llmgw__v1__chat_request__get_packed_size(req);
    uint8_t bytes[4096];
    assert_true(len < sizeof(bytes));
    llmgw__v1__chat_request__pack(req, bytes);
    gc_stream_t *st =
        gc_stream_start(ch, "/llmgw.v1.ChatService/Stream", TEST_KEY, 10000, bytes, len);
    assert_non_null(st);
    buf_t msg = BUF_INIT(1 << 20);
    while (gc_stream_next(st, &msg) == 1) {
        Llmgw__V1__ChatChunk *c = llmgw__v1__chat_chunk__unpack(NULL, msg.len, (uint8_t *)msg.data);
        assert_non_null(c);
        s.chunks++;
        for (size_t i = 0; i < c->n_choices; i++)
            if (c->choices[i]->delta)
                buf_append_str(&s.content, c->choices[i]->delta->content);
        if (s.last)
            llmgw__v1__chat_chunk__free_unpacked(s.last, NULL);
        s.last = c;
        if (cancel_after && s.chunks == cancel_after) {
            gc_stream_cancel(st);
            break;
        }
    }
    s.status = gc_stream_finish(st, &s.details);
    buf_free(&msg);
    return s;
}

static void stream_result_free(stream_result_t *s)
{
    buf_free(&s->details);
    buf_free(&s->content);
    if (s->last)
        llmgw__v1__chat_chunk__free_unpacked(s->last, NULL);
}

static void test_stream_deltas_concatenate_and_last_chunk_has_usage_and_route(void **state)
{
    stream_result_t s = stream_call("r-basic", "stream me please", 0);
    assert_int_equal(s.status, GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&s.content), "[sim-a] stream me please");
    assert_true(s.chunks >= 3);
    assert_non_null(s.last);
    assert_non_null(s.last->usage);
    assert_int_equal(s.last->usage->completion_tokens, 4);
    assert_int_equal(s.last->usage->prompt_tokens, 7);
    assert_true(s.last->cost_usd > 0);
    assert_non_null(s.last->route);
    assert_string_equal(s.last->route->provider, "a");
    assert_int_equal(s.last->route->n_attempts, 1);
    stream_result_free(&s);
}

static void test_stream_falls_back_before_first_chunk(void **state)
{
    /* "down" refuses the connection: nothing was sent, so b serves. */
    stream_result_t s = stream_call("r-exhaust", "x", 0);
    assert_int_equal(s.status, GRPC_STATUS_UNAVAILABLE);
    stream_result_free(&s);
    s = stream_call("r-fallback", "fallback stream", 0);
    assert_int_equal(s.status, GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&s.content), "[sim-b] fallback stream");
    assert_int_equal(s.last->route->n_attempts, 4);
    stream_result_free(&s);
}

static void test_stream_broken_after_first_chunk_is_unavailable_without_fallback(void **state)
{
    stream_result_t s = stream_call("r-drop", "one two three four five six", 0);
    assert_int_equal(s.status, GRPC_STATUS_UNAVAILABLE);
    assert_true(s.chunks >= 1);
    assert_null(strstr(buf_cstr(&s.content), "[sim-b]"));
    assert_non_null(strstr(buf_cstr(&s.details), "after the first chunk"));
    stream_result_free(&s);
}

static void test_unary_drop_falls_back(void **state)
{
    call_result_t r = complete("r-drop", "dropped unary");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->provider, "b");
    assert_int_equal(r.resp->route->n_attempts, 2);
    call_result_free(&r);
}

static void test_deadline_bounds_an_upstream_that_never_answers(void **state)
{
    int64_t t0 = clock_now_ms();
    call_result_t r = complete_req(new_request("hang/m1", "hello?"), TEST_KEY, 400);
    int64_t took = clock_now_ms() - t0;
    assert_int_equal(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_true(took < 2000);
    call_result_free(&r);
}

static void test_client_cancel_ends_stream_promptly(void **state)
{
    int64_t t0 = clock_now_ms();
    /* slow: 700 ms before headers, then 5 words/s — cancel after the first chunk */
    stream_result_t s = stream_call("slow/m1", "a b c d e f g h i j k l m n o p", 1);
    int64_t took = clock_now_ms() - t0;
    assert_int_equal(s.status, GRPC_STATUS_CANCELLED);
    assert_true(took < 2500);
    stream_result_free(&s);
    /* The gateway is still healthy afterwards. */
    call_result_t r = complete("r-basic", "still alive");
    assert_int_equal(r.status, GRPC_STATUS_OK);
    call_result_free(&r);
}

static void test_weighted_route_spreads_by_weight(void **state)
{
    int a = 0, b = 0;
    for (int i = 0; i < 60; i++) {
        call_result_t r = complete("r-weighted", "w");
        assert_int_equal(r.status, GRPC_STATUS_OK);
        if (strcmp(r.resp->provider, "a") == 0)
            a++;
        else
            b++;
        assert_string_equal(r.resp->route->strategy, "weighted");
        call_result_free(&r);
    }
    /* weight 1:3 → expect ~15:45; generous bounds keep this from flaking */
    assert_true(a >= 3);
    assert_true(b > a);
}

static void test_list_models_shows_routes_and_deployments(void **state)
{
    Llmgw__V1__ListModelsRequest req = LLMGW__V1__LIST_MODELS_REQUEST__INIT;
    uint8_t bytes[64];
    size_t len = llmgw__v1__list_models_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(1 << 20);
    assert_int_equal(
        gc_unary(ch, "/llmgw.v1.ChatService/ListModels", TEST_KEY, 5000, bytes, len, &resp, NULL),
        GRPC_STATUS_OK);
    Llmgw__V1__ListModelsResponse *lm =
        llmgw__v1__list_models_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
    assert_non_null(lm);
    assert_int_equal(lm->table_version, 1);
    bool route = false, dep = false;
    for (size_t i = 0; i < lm->n_models; i++) {
        if (strcmp(lm->models[i]->id, "r-fallback") == 0) {
            route = true;
            assert_string_equal(lm->models[i]->kind, "route");
            assert_int_equal(lm->models[i]->n_deployments, 4);
        }
        if (strcmp(lm->models[i]->id, "a/m1") == 0) {
            dep = true;
            assert_string_equal(lm->models[i]->kind, "deployment");
            assert_true(lm->models[i]->output_cost_per_mtok == 2.0);
        }
    }
    assert_true(route && dep);
    llmgw__v1__list_models_response__free_unpacked(lm, NULL);
    buf_free(&resp);
    assert_int_equal(
        gc_unary(ch, "/llmgw.v1.ChatService/ListModels", NULL, 5000, bytes, len, NULL, NULL),
        GRPC_STATUS_UNAUTHENTICATED);
}

static void test_health_check_reports_serving(void **state)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    uint8_t bytes[64];
    size_t len = grpc__health__v1__health_check_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(4096);
    assert_int_equal(
        gc_unary(ch, "/grpc.health.v1.Health/Check", NULL, 5000, bytes, len, &resp, NULL),
        GRPC_STATUS_OK);
    Grpc__Health__V1__HealthCheckResponse *h =
        grpc__health__v1__health_check_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
    assert_non_null(h);
    assert_int_equal(h->status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc__health__v1__health_check_response__free_unpacked(h, NULL);
    buf_free(&resp);
}

static void test_unknown_method_is_unimplemented(void **state)
{
    assert_int_equal(
        gc_unary(ch, "/llmgw.v1.ChatService/NoSuchThing", TEST_KEY, 5000, "", 0, NULL, NULL),
        GRPC_STATUS_UNIMPLEMENTED);
}

/* --- own data plane per test: reload and shutdown -------------------------- */

static const char *small_table(const char *name, int version, int port)
{
    return harness_write(name,
                         "{\"version\": %d, \"providers\": [{\"name\": \"p\", \"base_url\": "
                         "\"http://127.0.0.1:%d/v1\", \"models\": [{\"name\": \"m\"}]}],"
                         "\"routes\": [{\"name\": \"r\", \"strategy\": \"priority\", "
                         "\"deployments\": [{\"provider\": \"p\", \"model\": \"m\"}]}]}",
                         version, port);
}

static void test_sighup_reloads_table_and_rejects_a_bad_one(void **state)
{
    harness_proc_t own;
    char path[512];
    snprintf(path, sizeof(path), "%s", small_table("reload.json", 1, sim_a.port));
    assert_int_equal(harness_start_dataplane(&own, path, NULL), 0);
    char t[64];
    snprintf(t, sizeof(t), "127.0.0.1:%d", own.port);
    gc_channel_t *c = gc_channel_new(t);
    gc_channel_t *saved = ch;
    ch = c;
    call_result_t r = complete_req(new_request("r", "v1"), NULL, 5000);
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->choices[0]->message->content, "[sim-a] v1");
    call_result_free(&r);

    /* Point the same route at sim-b and reload. */
    assert_non_null(small_table("reload.json.new", 2, sim_b.port));
    char newpath[600];
    snprintf(newpath, sizeof(newpath), "%s.new", path);
    assert_int_equal(rename(newpath, path), 0);
    kill(own.pid, SIGHUP);
    bool switched = false;
    for (int i = 0; i < 100 && !switched; i++) {
        r = complete_req(new_request("r", "v2"), NULL, 5000);
        assert_int_equal(r.status, GRPC_STATUS_OK);
        switched = strcmp(r.resp->choices[0]->message->content, "[sim-b] v2") == 0;
        call_result_free(&r);
        if (!switched)
            usleep(20000);
    }
    assert_true(switched);

    /* A bad file is refused with the field named; the old table stays. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"providers\": [{\"name\": \"p\", \"base_url\": \"ftp://x\", \"models\": []}]}", f);
    fclose(f);
    kill(own.pid, SIGHUP);
    bool logged = false;
    for (int i = 0; i < 100 && !logged; i++) {
        logged = harness_log_contains(&own, "table reload rejected") &&
                 harness_log_contains(&own, "providers[0]");
        if (!logged)
            usleep(20000);
    }
    assert_true(logged);
    r = complete_req(new_request("r", "still v2"), NULL, 5000);
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.resp->choices[0]->message->content, "[sim-b] still v2");
    call_result_free(&r);

    ch = saved;
    gc_channel_free(c);
    assert_int_equal(harness_stop(&own, SIGTERM, 5000), 0);
}

typedef struct {
    gc_channel_t *ch;
    grpc_status_code status;
    char content[256];
} slow_call_t;

static void *slow_call_thread(void *arg)
{
    slow_call_t *sc = arg;
    Llmgw__V1__ChatRequest *req = new_request("r", "in flight");
    uint8_t bytes[256];
    size_t len = llmgw__v1__chat_request__pack(req, bytes);
    buf_t resp = BUF_INIT(1 << 20);
    sc->status = gc_unary(sc->ch, "/llmgw.v1.ChatService/Complete", NULL, harness_scale_ms(10000),
                          bytes, len, &resp, NULL);
    if (sc->status == GRPC_STATUS_OK) {
        Llmgw__V1__ChatResponse *cr =
            llmgw__v1__chat_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        if (cr) {
            snprintf(sc->content, sizeof(sc->content), "%s", cr->choices[0]->message->content);
            llmgw__v1__chat_response__free_unpacked(cr, NULL);
        }
    }
    buf_free(&resp);
    return NULL;
}

static void test_sigterm_finishes_in_flight_calls_then_exits(void **state)
{
    harness_proc_t slow_sim, own;
    /* Scaled: under valgrind the call takes longer than 200 ms to arrive. */
    char latency[16];
    snprintf(latency, sizeof(latency), "%d", harness_scale_ms(600));
    const char *sim_args[] = {"--latency-ms", latency, NULL};
    assert_int_equal(harness_start_sim(&slow_sim, "sim-slow", sim_args), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s", small_table("shutdown.json", 1, slow_sim.port));
    assert_int_equal(harness_start_dataplane(&own, path, NULL), 0);
    char t[64];
    snprintf(t, sizeof(t), "127.0.0.1:%d", own.port);
    slow_call_t sc = {.ch = gc_channel_new(t)};
    pthread_t th;
    pthread_create(&th, NULL, slow_call_thread, &sc);
    usleep((useconds_t)harness_scale_ms(200) * 1000); /* the call now waits on the upstream */
    int64_t t0 = clock_now_ms();
    kill(own.pid, SIGTERM);
    pthread_join(th, NULL);
    assert_int_equal(sc.status, GRPC_STATUS_OK);
    assert_string_equal(sc.content, "[sim-slow] in flight");
    assert_int_equal(harness_stop(&own, 0, 5000), 0); /* signal 0: just wait */
    assert_true(clock_now_ms() - t0 < harness_scale_ms(5000));
    gc_channel_free(sc.ch);
    harness_stop(&slow_sim, SIGTERM, 2000);
}

/* --- sha256 via OpenSSL ---------------------------------------------------- */
#include <openssl/sha.h>
static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_through_route_returns_answer_usage_cost_and_route),
        cmocka_unit_test(test_complete_direct_provider_model),
        cmocka_unit_test(test_fallback_tries_candidates_in_priority_order),
        cmocka_unit_test(test_upstream_400_is_not_retried),
        cmocka_unit_test(test_every_candidate_failing_is_unavailable_listing_attempts),
        cmocka_unit_test(test_missing_or_unknown_key_is_unauthenticated),
        cmocka_unit_test(test_unknown_model_is_not_found),
        cmocka_unit_test(test_bad_requests_are_invalid_argument_naming_the_field),
        cmocka_unit_test(test_oversized_message_is_rejected),
        cmocka_unit_test(test_undecodable_request_is_invalid_argument),
        cmocka_unit_test(test_stream_deltas_concatenate_and_last_chunk_has_usage_and_route),
        cmocka_unit_test(test_stream_falls_back_before_first_chunk),
        cmocka_unit_test(test_stream_broken_after_first_chunk_is_unavailable_without_fallback),
        cmocka_unit_test(test_unary_drop_falls_back),
        cmocka_unit_test(test_deadline_bounds_an_upstream_that_never_answers),
        cmocka_unit_test(test_client_cancel_ends_stream_promptly),
        cmocka_unit_test(test_weighted_route_spreads_by_weight),
        cmocka_unit_test(test_list_models_shows_routes_and_deployments),
        cmocka_unit_test(test_health_check_reports_serving),
        cmocka_unit_test(test_unknown_method_is_unimplemented),
        cmocka_unit_test(test_sighup_reloads_table_and_rejects_a_bad_one),
        cmocka_unit_test(test_sigterm_finishes_in_flight_calls_then_exits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
