/* Integration: provider presets and the native Anthropic adapter end to end.
 * The real llmgw-dataplane in front of llmgw-sim processes; one sim is
 * reached through the "anthropic" preset (its /v1/messages mode), another
 * through the OpenAI-compatible format. Complete, Stream, fallback from an
 * Anthropic deployment to an OpenAI-compatible one, Anthropic errors,
 * a conversation the Messages API cannot express, a stream cut mid-event,
 * and a table reload naming an unknown preset.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"

static harness_proc_t sim_anth, sim_oai, dp;
static gc_channel_t *ch;
static const char *table_path;
static int http_port; /* the data plane's OpenAI-compatible HTTP API */

static const char *table_json(int port_anth, int port_oai, const char *claude_preset)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             "{\"version\": 1, \"providers\": ["
             "{\"name\": \"claude\", \"preset\": \"%3$s\", \"base_url\": "
             "\"http://127.0.0.1:%1$d/v1\", \"api_key\": \"sk-ant-test\","
             " \"models\": [{\"name\": \"claude-sim\", \"input_cost_per_mtok\": 3, "
             "\"output_cost_per_mtok\": 15}]},"
             "{\"name\": \"claude-busy\", \"preset\": \"anthropic\", \"base_url\": "
             "\"http://127.0.0.1:%1$d/v1\", \"api_key\": \"k\", \"headers\": {\"x-sim-status\": "
             "\"529\"}, \"models\": [{\"name\": \"claude-sim\"}]},"
             "{\"name\": \"claude-bad\", \"preset\": \"anthropic\", \"base_url\": "
             "\"http://127.0.0.1:%1$d/v1\", \"api_key\": \"k\", \"headers\": {\"x-sim-status\": "
             "\"400\"}, \"models\": [{\"name\": \"claude-sim\"}]},"
             "{\"name\": \"claude-cut\", \"preset\": \"anthropic\", \"base_url\": "
             "\"http://127.0.0.1:%1$d/v1\", \"api_key\": \"k\", \"headers\": {\"x-sim-fault\": "
             "\"drop_mid_stream\"}, \"models\": [{\"name\": \"claude-sim\"}]},"
             "{\"name\": \"oai\", \"preset\": \"vllm\", \"base_url\": \"http://127.0.0.1:%2$d/v1\","
             " \"models\": [{\"name\": \"llama\"}]}],"
             "\"routes\": ["
             "{\"name\": \"chat-fallback\", \"strategy\": \"priority\", \"deployments\": ["
             "{\"provider\": \"claude-busy\", \"model\": \"claude-sim\", \"priority\": 0},"
             "{\"provider\": \"oai\", \"model\": \"llama\", \"priority\": 1}]},"
             "{\"name\": \"cut-then-oai\", \"strategy\": \"priority\", \"deployments\": ["
             "{\"provider\": \"claude-cut\", \"model\": \"claude-sim\", \"priority\": 0},"
             "{\"provider\": \"oai\", \"model\": \"llama\", \"priority\": 1}]}]}",
             port_anth, port_oai, claude_preset);
    return buf;
}

/* --- calls --------------------------------------------------------------- */

typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message msgs[4];
    Llmgw__V1__Message *ptrs[4];
} req_t;

static void req_init(req_t *r, const char *model)
{
    llmgw__v1__chat_request__init(&r->req);
    r->req.model = (char *)model;
    r->req.messages = r->ptrs;
}

static void req_add(req_t *r, const char *role, const char *content)
{
    Llmgw__V1__Message *m = &r->msgs[r->req.n_messages];
    llmgw__v1__message__init(m);
    m->role = (char *)role;
    m->content = (char *)content;
    r->ptrs[r->req.n_messages++] = m;
}

typedef struct {
    grpc_status_code status;
    buf_t details;
    Llmgw__V1__ChatResponse *resp;
} call_t;

static call_t complete(const Llmgw__V1__ChatRequest *req)
{
    call_t r = {.details = BUF_INIT(1 << 16)};
    size_t len = llmgw__v1__chat_request__get_packed_size(req);
    uint8_t bytes[8192];
    assert_true(len < sizeof(bytes));
    llmgw__v1__chat_request__pack(req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    r.status =
        gc_unary(ch, "/llmgw.v1.ChatService/Complete", NULL, 10000, bytes, len, &resp, &r.details);
    if (r.status == GRPC_STATUS_OK) {
        r.resp = llmgw__v1__chat_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        assert_non_null(r.resp);
    }
    buf_free(&resp);
    return r;
}

static void call_free(call_t *r)
{
    buf_free(&r->details);
    if (r->resp)
        llmgw__v1__chat_response__free_unpacked(r->resp, NULL);
}

typedef struct {
    grpc_status_code status;
    buf_t details;
    buf_t content;
    int chunks;
    char first_role[16];
    Llmgw__V1__ChatChunk *last;
} stream_t;

static stream_t stream(const Llmgw__V1__ChatRequest *req)
{
    stream_t s = {.details = BUF_INIT(1 << 16), .content = BUF_INIT(1 << 20)};
    size_t len = llmgw__v1__chat_request__get_packed_size(req);
    uint8_t bytes[8192];
    assert_true(len < sizeof(bytes));
    llmgw__v1__chat_request__pack(req, bytes);
    gc_stream_t *st = gc_stream_start(ch, "/llmgw.v1.ChatService/Stream", NULL, 10000, bytes, len);
    assert_non_null(st);
    buf_t msg = BUF_INIT(1 << 20);
    while (gc_stream_next(st, &msg) == 1) {
        Llmgw__V1__ChatChunk *c = llmgw__v1__chat_chunk__unpack(NULL, msg.len, (uint8_t *)msg.data);
        assert_non_null(c);
        s.chunks++;
        for (size_t i = 0; i < c->n_choices; i++) {
            if (s.chunks == 1)
                snprintf(s.first_role, sizeof(s.first_role), "%s", c->choices[i]->delta->role);
            buf_append_str(&s.content, c->choices[i]->delta->content);
        }
        if (s.last)
            llmgw__v1__chat_chunk__free_unpacked(s.last, NULL);
        s.last = c;
    }
    s.status = gc_stream_finish(st, &s.details);
    buf_free(&msg);
    return s;
}

static void stream_free(stream_t *s)
{
    buf_free(&s->details);
    buf_free(&s->content);
    if (s->last)
        llmgw__v1__chat_chunk__free_unpacked(s->last, NULL);
}

/* --- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    if (harness_start_sim(&sim_anth, "anth", NULL) < 0 ||
        harness_start_sim(&sim_oai, "oai", NULL) < 0)
        return -1;
    table_path =
        harness_write("table.json", "%s", table_json(sim_anth.port, sim_oai.port, "anthropic"));
    char http_port_file[600];
    snprintf(http_port_file, sizeof(http_port_file), "%s/http.port", harness_dir());
    const char *extra[] = {"--http-port-file", http_port_file, NULL};
    if (!table_path || harness_start_dataplane(&dp, table_path, extra) < 0)
        return -1;
    FILE *f = fopen(http_port_file, "r");
    if (!f || fscanf(f, "%d", &http_port) != 1)
        http_port = -1;
    if (f)
        fclose(f);
    if (http_port <= 0)
        return -1;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    ch = gc_channel_new(target);
    return ch ? 0 : -1;
}

static int group_teardown(void **state)
{
    gc_channel_free(ch);
    int rc = harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim_anth, SIGTERM, 2000);
    harness_stop(&sim_oai, SIGTERM, 2000);
    harness_cleanup();
    return rc == 0 ? 0 : -1;
}

/* --- tests --------------------------------------------------------------- */

static void test_complete_through_anthropic_preset_translates_both_ways(void **state)
{
    req_t r;
    req_init(&r, "claude/claude-sim");
    req_add(&r, "system", "You are a simulator.");
    req_add(&r, "user", "hello from llmgw");
    call_t c = complete(&r.req);
    if (c.status != GRPC_STATUS_OK)
        fail_msg("status %d: %s", c.status, buf_cstr(&c.details));
    assert_string_equal(c.resp->provider, "claude");
    assert_string_equal(c.resp->model, "claude-sim");
    assert_int_equal(c.resp->n_choices, 1);
    assert_string_equal(c.resp->choices[0]->message->content, "[anth] hello from llmgw");
    assert_string_equal(c.resp->choices[0]->finish_reason, "stop");
    /* sim: words + 4 per message, the system prompt counted too */
    assert_int_equal(c.resp->usage->prompt_tokens, 3 + 4 + 4);
    assert_int_equal(c.resp->usage->completion_tokens, 4);
    assert_true(c.resp->cost_usd > 0);
    assert_non_null(strstr(c.resp->extensions_json, "\"stop_reason\":\"end_turn\""));
    assert_true(strncmp(c.resp->id, "msg_sim_", 8) == 0);
    call_free(&c);

    /* max_tokens passes through; "max_tokens" comes back as "length". */
    r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.req.max_tokens = 2;
    c = complete(&r.req);
    assert_int_equal(c.status, GRPC_STATUS_OK);
    assert_string_equal(c.resp->choices[0]->message->content, "[anth] hello");
    assert_string_equal(c.resp->choices[0]->finish_reason, "length");
    call_free(&c);
}

static void test_stream_through_anthropic_preset_yields_openai_shaped_chunks(void **state)
{
    req_t r;
    req_init(&r, "claude/claude-sim");
    req_add(&r, "user", "stream this answer please");
    stream_t s = stream(&r.req);
    if (s.status != GRPC_STATUS_OK)
        fail_msg("status %d: %s", s.status, buf_cstr(&s.details));
    assert_string_equal(buf_cstr(&s.content), "[anth] stream this answer please");
    assert_string_equal(s.first_role, "assistant");
    assert_true(s.chunks >= 3);
    assert_non_null(s.last->usage);
    assert_int_equal(s.last->usage->prompt_tokens, 4 + 4);
    assert_int_equal(s.last->usage->completion_tokens, 5);
    assert_string_equal(s.last->route->provider, "claude");
    stream_free(&s);
}

static void test_overloaded_anthropic_deployment_falls_back_to_openai_compatible(void **state)
{
    req_t r;
    req_init(&r, "chat-fallback");
    req_add(&r, "user", "fall back please");
    call_t c = complete(&r.req);
    if (c.status != GRPC_STATUS_OK)
        fail_msg("status %d: %s", c.status, buf_cstr(&c.details));
    assert_string_equal(c.resp->provider, "oai");
    assert_string_equal(c.resp->choices[0]->message->content, "[oai] fall back please");
    Llmgw__V1__RouteDecision *d = c.resp->route;
    assert_int_equal(d->n_attempts, 2);
    assert_string_equal(d->attempts[0]->provider, "claude-busy");
    assert_int_equal(d->attempts[0]->http_status, 529);
    assert_string_equal(d->attempts[0]->error_type, "server");
    assert_true(d->attempts[0]->retryable);
    assert_non_null(strstr(d->attempts[0]->error, "overloaded_error"));
    call_free(&c);

    stream_t s = stream(&r.req);
    assert_int_equal(s.status, GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&s.content), "[oai] fall back please");
    assert_int_equal(s.last->route->n_attempts, 2);
    stream_free(&s);
}

static void test_anthropic_invalid_request_is_invalid_argument_without_fallback(void **state)
{
    req_t r;
    req_init(&r, "claude-bad/claude-sim");
    req_add(&r, "user", "x");
    call_t c = complete(&r.req);
    assert_int_equal(c.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&c.details), "invalid_request_error"));
    call_free(&c);
}

static void test_conversation_anthropic_cannot_express_is_a_clear_error(void **state)
{
    req_t r;
    req_init(&r, "claude/claude-sim");
    req_add(&r, "user", "hi");
    req_add(&r, "assistant", "hello");
    req_add(&r, "system", "from now on, shout");
    req_add(&r, "user", "again");
    call_t c = complete(&r.req);
    assert_int_equal(c.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(buf_cstr(&c.details), "messages[2].role"));
    assert_non_null(strstr(buf_cstr(&c.details), "system message after the conversation started"));
    call_free(&c);
}

static void test_anthropic_stream_cut_mid_event_is_an_error_not_a_short_answer(void **state)
{
    req_t r;
    req_init(&r, "claude-cut/claude-sim");
    req_add(&r, "user", "one two three four five six seven eight nine ten");
    stream_t s = stream(&r.req);
    assert_int_equal(s.status, GRPC_STATUS_UNAVAILABLE);
    assert_true(strncmp("[anth] one two three four five six seven eight nine ten",
                        buf_cstr(&s.content), s.content.len) == 0);
    assert_true(s.content.len < strlen("[anth] one two three four five six seven eight nine ten"));
    stream_free(&s);

    /* Unary: the cut body is a retryable bad answer, so the route falls back. */
    req_init(&r, "cut-then-oai");
    req_add(&r, "user", "cut unary");
    call_t c = complete(&r.req);
    assert_int_equal(c.status, GRPC_STATUS_OK);
    assert_string_equal(c.resp->provider, "oai");
    assert_int_equal(c.resp->route->n_attempts, 2);
    call_free(&c);
}

static void test_list_models_reports_capabilities_from_presets(void **state)
{
    Llmgw__V1__ListModelsRequest req = LLMGW__V1__LIST_MODELS_REQUEST__INIT;
    uint8_t bytes[64];
    size_t len = llmgw__v1__list_models_request__pack(&req, bytes);
    buf_t resp = BUF_INIT(1 << 20);
    assert_int_equal(
        gc_unary(ch, "/llmgw.v1.ChatService/ListModels", NULL, 5000, bytes, len, &resp, NULL),
        GRPC_STATUS_OK);
    Llmgw__V1__ListModelsResponse *lm =
        llmgw__v1__list_models_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
    assert_non_null(lm);
    int seen = 0;
    for (size_t i = 0; i < lm->n_models; i++) {
        const Llmgw__V1__ModelInfo *mi = lm->models[i];
        if (strcmp(mi->id, "claude/claude-sim") == 0) {
            seen++;
            assert_non_null(mi->capabilities);
            assert_string_equal(mi->capabilities->wire_format, "anthropic");
            assert_string_equal(mi->capabilities->preset, "anthropic");
            assert_true(mi->capabilities->tools);
            assert_false(mi->capabilities->json_mode); /* the preset: no JSON mode */
            assert_true(mi->capabilities->stream_usage);
        }
        if (strcmp(mi->id, "oai/llama") == 0) {
            seen++;
            assert_string_equal(mi->capabilities->wire_format, "openai");
            assert_string_equal(mi->capabilities->preset, "vllm");
            assert_true(mi->capabilities->json_mode);
        }
    }
    assert_int_equal(seen, 2);
    llmgw__v1__list_models_response__free_unpacked(lm, NULL);
    buf_free(&resp);
}

static size_t http_body_cb(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

/* POST to the data plane's HTTP API; the status, body in *out. */
static long http_post(const char *path, const char *body, buf_t *out)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port, path);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

static void test_openai_http_api_reaches_anthropic_provider_and_refuses_raw_paths(void **state)
{
    buf_t out = BUF_INIT(1 << 20);
    long st = http_post("/v1/chat/completions",
                        "{\"model\": \"claude/claude-sim\", \"messages\": [{\"role\": "
                        "\"user\", \"content\": \"over http\"}]}",
                        &out);
    assert_int_equal(st, 200);
    json_t *root = json_loads(buf_cstr(&out), 0, NULL);
    assert_non_null(root);
    json_t *msg = json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
    assert_string_equal(json_string_value(json_object_get(msg, "content")), "[anth] over http");
    json_decref(root);
    /* Embeddings are OpenAI-only: a clear error, not a body Anthropic would misread. */
    buf_reset(&out);
    st = http_post("/v1/embeddings", "{\"model\": \"claude/claude-sim\", \"input\": \"x\"}", &out);
    assert_int_equal(st, 400);
    assert_non_null(strstr(buf_cstr(&out), "anthropic wire format"));
    buf_free(&out);
}

static void test_discover_local_registers_a_local_server_with_its_models(void **state)
{
    /* A port bound but never listened on: the other local presets find nothing. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    int closed = ntohs(sa.sin_port);
    char ports[256];
    snprintf(ports, sizeof(ports),
             "--discover-local=vllm:%d,ollama:%d,lmstudio:%d,localai:%d,text-generation-webui:%d",
             sim_oai.port, closed, closed, closed, closed);
    const char *table =
        harness_write("local.json",
                      "{\"providers\": [{\"name\": \"x\", \"base_url\": "
                      "\"http://127.0.0.1:%d/v1\", \"models\": [{\"name\": \"m\"}]}]}",
                      closed);
    assert_non_null(table);
    const char *extra[] = {ports, NULL};
    harness_proc_t local;
    assert_int_equal(harness_start_dataplane(&local, table, extra), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", local.port);
    gc_channel_t *saved = ch;
    ch = gc_channel_new(target);
    assert_non_null(ch);
    req_t r;
    req_init(&r, "local-vllm/sim-model");
    req_add(&r, "user", "found you");
    call_t c = complete(&r.req);
    if (c.status != GRPC_STATUS_OK)
        fail_msg("status %d: %s", c.status, buf_cstr(&c.details));
    assert_string_equal(c.resp->provider, "local-vllm");
    assert_string_equal(c.resp->choices[0]->message->content, "[oai] found you");
    call_free(&c);
    gc_channel_free(ch);
    ch = saved;
    assert_true(harness_log_contains(&local, "local server found"));
    assert_int_equal(harness_stop(&local, SIGTERM, 5000), 0);
    close(fd);
}

static void test_reload_with_unknown_preset_is_rejected_naming_it(void **state)
{
    assert_non_null(
        harness_write("table.json", "%s", table_json(sim_anth.port, sim_oai.port, "antropic")));
    kill(dp.pid, SIGHUP);
    int64_t until = clock_now_ms() + 5000;
    while (!harness_log_contains(&dp, "unknown preset 'antropic' (close: anthropic)") &&
           clock_now_ms() < until)
        usleep(20000);
    assert_true(harness_log_contains(&dp, "providers[0].preset: unknown preset 'antropic'"));
    /* The old table still serves. */
    req_t r;
    req_init(&r, "claude/claude-sim");
    req_add(&r, "user", "still here");
    call_t c = complete(&r.req);
    assert_int_equal(c.status, GRPC_STATUS_OK);
    call_free(&c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_through_anthropic_preset_translates_both_ways),
        cmocka_unit_test(test_stream_through_anthropic_preset_yields_openai_shaped_chunks),
        cmocka_unit_test(test_overloaded_anthropic_deployment_falls_back_to_openai_compatible),
        cmocka_unit_test(test_anthropic_invalid_request_is_invalid_argument_without_fallback),
        cmocka_unit_test(test_conversation_anthropic_cannot_express_is_a_clear_error),
        cmocka_unit_test(test_anthropic_stream_cut_mid_event_is_an_error_not_a_short_answer),
        cmocka_unit_test(test_list_models_reports_capabilities_from_presets),
        cmocka_unit_test(test_openai_http_api_reaches_anthropic_provider_and_refuses_raw_paths),
        cmocka_unit_test(test_discover_local_registers_a_local_server_with_its_models),
        cmocka_unit_test(test_reload_with_unknown_preset_is_rejected_naming_it),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
