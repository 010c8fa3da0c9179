/* Unit tests for the cohere example extension (extensions/cohere) as the
 * data plane uses it: loaded through ext_loader, found in the adapter
 * registry, and driven through adapter_t — request bodies built from a
 * ChatRequest, answers, stream events (fed through the SSE parser split at
 * every byte) and error bodies, against hand-written fixtures in
 * tests/fixtures/cohere/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "adapter.h"
#include "arena.h"
#include "buf.h"
#include "ext_loader.h"
#include "fixture.h"
#include "sse.h"

static const adapter_t *ad;
static table_provider_t prov = {
    .name = "co", .wire_format = "cohere", .api_key = "co-key", .quirks = {.tools = true}};

static int setup(void **state)
{
    const char *bin = getenv("LLMGW_BIN_DIR");
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/ext/cohere.so", bin ? bin : "build");
    ext_load_spec_t spec = {.path = path, .config_json = "{\"max_tokens_default\": 512}"};
    if (ext_loader_load(&spec, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ad = adapter_find("cohere");
    return ad ? 0 : -1;
}

static int teardown(void **state)
{
    ext_loader_unload_all();
    return 0;
}

typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message msgs[4];
    Llmgw__V1__Message *ptrs[4];
} req_t;

static void req_init(req_t *r, const char *system, const char *user)
{
    llmgw__v1__chat_request__init(&r->req);
    r->req.model = "command-a";
    r->req.messages = r->ptrs;
    size_t n = 0;
    const char *roles[2] = {"system", "user"}, *texts[2] = {system, user};
    for (int i = 0; i < 2; i++) {
        if (!texts[i])
            continue;
        llmgw__v1__message__init(&r->msgs[n]);
        r->msgs[n].role = (char *)roles[i];
        r->msgs[n].content = (char *)texts[i];
        r->ptrs[n] = &r->msgs[n];
        n++;
    }
    r->req.n_messages = n;
}

static json_t *build(req_t *r, bool stream, char *err)
{
    buf_t out = BUF_INIT(1 << 20);
    int rc = ad->build_chat_request(&prov, &r->req, "command-a-03-2025", stream, &out, err, 256);
    json_t *j = rc == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    buf_free(&out);
    return j;
}

static void test_ext_cohere_registered_with_path_and_auth(void **state)
{
    assert_string_equal(ad->name, "cohere");
    assert_string_equal(ad->chat_path, "/v2/chat");
    arena_t *a = arena_new(0);
    const char *h[8];
    size_t n = 0;
    assert_int_equal(ad->auth_headers(&prov, a, h, &n, 8), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0], "Authorization: Bearer co-key");
    assert_string_equal(h[1], "Accept: application/json");
    char *url = adapter_chat_url(
        ad, &(table_provider_t){.name = "co", .base_url = "https://api.cohere.com"}, NULL,
        "command-a", a);
    assert_string_equal(url, "https://api.cohere.com/v2/chat");
    arena_free(a);
}

static void test_ext_cohere_request_translated(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r, "be brief", "hello");
    r.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    r.req.top_p = 0.5;
    r.req.stop = (char *[]){"END"};
    r.req.n_stop = 1;
    r.req.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
    r.req.seed = 7;
    json_t *j = build(&r, true, err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "command-a-03-2025");
    assert_true(json_is_true(json_object_get(j, "stream")));
    assert_null(json_object_get(j, "stream_options"));
    assert_null(json_object_get(j, "top_p"));
    assert_true(json_real_value(json_object_get(j, "p")) > 0.49);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "stop_sequences"), 0)),
                        "END");
    assert_int_equal(json_integer_value(json_object_get(j, "seed")), 7);
    /* The config's default when the request has none. */
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 512);
    json_t *m = json_object_get(j, "messages");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")),
                        "hello");
    json_decref(j);
}

static void test_ext_cohere_inexpressible_fields_named(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r, NULL, "hi");
    r.req.extra_body_json = "{\"n\": 3}";
    assert_null(build(&r, false, err));
    assert_string_equal(err, "n: the cohere wire format answers one choice");
    r.req.extra_body_json = "{\"logit_bias\": {\"1\": 2}}";
    assert_null(build(&r, false, err));
    assert_string_equal(err, "logit_bias: the cohere wire format has no such field");
    r.req.extra_body_json = "";
    r.req.tool_choice_json = "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}";
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    assert_null(build(&r, false, err));
    assert_string_equal(err, "tool_choice: the cohere wire format takes auto, required or none");
}

static void test_ext_cohere_answer_parsed(void **state)
{
    size_t len;
    char *body = fixture_read("cohere/chat.json", &len);
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *resp = NULL;
    char err[256];
    assert_int_equal(ad->parse_chat_response(body, len, a, &resp, err, sizeof(err)), 0);
    assert_int_equal(resp->n_choices, 1);
    assert_string_equal(resp->choices[0]->message->content, "Tokyo is the capital of Japan.");
    assert_string_equal(resp->choices[0]->finish_reason, "stop");
    assert_string_equal(resp->id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
    assert_int_equal(resp->usage->prompt_tokens, 210); /* tokens, not billed_units */
    assert_int_equal(resp->usage->completion_tokens, 8);
    free(body);
    body = fixture_read("cohere/chat_tool_call.json", &len);
    assert_int_equal(ad->parse_chat_response(body, len, a, &resp, err, sizeof(err)), 0);
    assert_string_equal(resp->choices[0]->finish_reason, "tool_calls");
    assert_non_null(strstr(resp->choices[0]->message->tool_calls_json, "get_weather"));
    free(body);
    const char *bad = "{\"id\":\"x\",\"finish_reason\":\"ERROR\",\"message\":{\"content\":[]}}";
    assert_int_equal(ad->parse_chat_response(bad, strlen(bad), a, &resp, err, sizeof(err)), -1);
    assert_string_equal(err, "cohere answer: finish_reason ERROR");
    assert_int_equal(ad->parse_chat_response("[1]", 3, a, &resp, err, sizeof(err)), -1);
    arena_free(a);
}

typedef struct {
    adapter_stream_t *s;
    arena_t *a;
    buf_t text, tool_args;
    char finish[32];
    int32_t prompt, completion;
    bool done;
    int chunks, errors;
    char tool_name[64];
} stream_t;

static int on_event(void *ud, const char *event, const char *data, size_t len)
{
    stream_t *st = ud;
    Llmgw__V1__ChatChunk *ch = NULL;
    char err[256];
    if (ad->stream_event(st->s, event, data, len, st->a, &ch, &st->done, err, sizeof(err)) < 0) {
        st->errors++;
        return 0;
    }
    if (!ch)
        return 0;
    st->chunks++;
    if (ch->usage) {
        st->prompt = ch->usage->prompt_tokens;
        st->completion = ch->usage->completion_tokens;
    }
    for (size_t i = 0; i < ch->n_choices; i++) {
        const Llmgw__V1__ChunkChoice *c = ch->choices[i];
        if (c->delta && c->delta->content)
            buf_append_str(&st->text, c->delta->content);
        if (c->finish_reason[0])
            snprintf(st->finish, sizeof(st->finish), "%s", c->finish_reason);
        if (c->delta && c->delta->tool_calls_json[0]) {
            json_t *tc = json_loads(c->delta->tool_calls_json, 0, NULL);
            json_t *fn = json_object_get(json_array_get(tc, 0), "function");
            const char *name = json_string_value(json_object_get(fn, "name"));
            if (name && name[0])
                snprintf(st->tool_name, sizeof(st->tool_name), "%s", name);
            buf_append_str(&st->tool_args, json_string_value(json_object_get(fn, "arguments")));
            json_decref(tc);
        }
    }
    return 0;
}

/* The fixture fed one byte at a time. */
static void run_stream(const char *fixture, stream_t *st)
{
    size_t len;
    char *body = fixture_read(fixture, &len);
    memset(st, 0, sizeof(*st));
    st->s = ad->stream_new();
    st->a = arena_new(0);
    buf_init(&st->text, 1 << 16);
    buf_init(&st->tool_args, 1 << 16);
    sse_parser_t *p = sse_parser_new(1 << 20);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(sse_parser_feed(p, body + i, 1, on_event, st), 0);
    sse_parser_free(p);
    ad->stream_free(st->s);
    free(body);
}

static void stream_free(stream_t *st)
{
    arena_free(st->a);
    buf_free(&st->text);
    buf_free(&st->tool_args);
}

static void test_ext_cohere_stream_text(void **state)
{
    stream_t st;
    run_stream("cohere/stream_text.sse", &st);
    assert_int_equal(st.errors, 0);
    assert_string_equal(buf_cstr(&st.text), "Hello there!");
    assert_string_equal(st.finish, "stop");
    assert_true(st.done);
    assert_int_equal(st.prompt, 196);
    assert_int_equal(st.completion, 3);
    assert_int_equal(st.chunks, 5); /* role, three deltas, the end */
    stream_free(&st);
}

static void test_ext_cohere_stream_tool_call(void **state)
{
    stream_t st;
    run_stream("cohere/stream_tool_call.sse", &st);
    assert_int_equal(st.errors, 0);
    assert_string_equal(st.tool_name, "get_weather");
    assert_string_equal(buf_cstr(&st.tool_args), "{\"location\":\"Toronto\"}");
    assert_string_equal(st.finish, "tool_calls");
    assert_true(st.done);
    stream_free(&st);
}

static void test_ext_cohere_malformed_event(void **state)
{
    adapter_stream_t *s = ad->stream_new();
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatChunk *ch = NULL;
    bool done = false;
    char err[256];
    assert_int_equal(
        ad->stream_event(s, "content-delta", "{\"type\":", 8, a, &ch, &done, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cohere stream event: not a JSON object"));
    const char *end = "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}";
    assert_int_equal(ad->stream_event(s, "", end, strlen(end), a, &ch, &done, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "cohere stream ended with finish_reason ERROR");
    assert_false(done);
    ad->stream_free(s);
    arena_free(a);
}

static void test_ext_cohere_errors_mapped(void **state)
{
    size_t len;
    char *body = fixture_read("cohere/error_invalid.json", &len);
    uerror_t e;
    ad->error_from_http(&e, 400, body, len, NULL);
    assert_string_equal(e.type, "invalid_request");
    assert_false(e.retryable);
    assert_non_null(strstr(e.message, "message must be at least 1 token long"));
    ad->error_from_http(&e, 422, body, len, NULL);
    assert_string_equal(e.type, "invalid_request"); /* reclassified by the plugin */
    free(body);
    body = fixture_read("cohere/error_rate_limit.json", &len);
    ad->error_from_http(&e, 429, body, len, "2");
    assert_string_equal(e.type, "rate_limit");
    assert_true(e.retryable);
    assert_int_equal(e.retry_after_ms, 2000);
    assert_non_null(strstr(e.message, "Trial key"));
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ext_cohere_registered_with_path_and_auth),
        cmocka_unit_test(test_ext_cohere_request_translated),
        cmocka_unit_test(test_ext_cohere_inexpressible_fields_named),
        cmocka_unit_test(test_ext_cohere_answer_parsed),
        cmocka_unit_test(test_ext_cohere_stream_text),
        cmocka_unit_test(test_ext_cohere_stream_tool_call),
        cmocka_unit_test(test_ext_cohere_malformed_event),
        cmocka_unit_test(test_ext_cohere_errors_mapped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
