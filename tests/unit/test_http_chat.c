/* Unit tests for http_chat: OpenAI JSON <-> ChatRequest / answers, and the
 * pipeline outcome -> OpenAI error mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_chat.h"

static arena_t *arena;

static int setup(void **state)
{
    arena = arena_new(0);
    return arena ? 0 : -1;
}

static int teardown(void **state)
{
    arena_free(arena);
    return 0;
}

static int decode(const char *body, http_chat_request_t *out, char *err, size_t errlen)
{
    return http_chat_decode(body, strlen(body), arena, out, err, errlen);
}

static void test_http_chat_decode_maps_fields_and_passes_unknown_through(void **state)
{
    http_chat_request_t cr;
    char err[256] = "";
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\"}]},"
        "{\"role\":\"tool\",\"content\":\"r\",\"tool_call_id\":\"c1\",\"name\":\"f\"}],"
        "\"temperature\":0.5,\"top_p\":1,\"max_tokens\":7,\"stop\":\"x\",\"seed\":-3,\"user\":"
        "\"u\","
        "\"presence_penalty\":0.1,\"frequency_penalty\":0.2,\"tools\":[{\"type\":\"function\"}],"
        "\"tool_choice\":\"auto\",\"response_format\":{\"type\":\"json_object\"},\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true},\"logit_bias\":{\"1\":2},\"n\":1}";
    assert_int_equal(decode(body, &cr, err, sizeof(err)), 0);
    Llmgw__V1__ChatRequest *r = cr.req;
    assert_string_equal(r->model, "m");
    assert_int_equal(r->n_messages, 3);
    assert_string_equal(r->messages[1]->content, "");
    assert_string_equal(r->messages[1]->tool_calls_json, "[{\"id\":\"c1\"}]");
    assert_string_equal(r->messages[2]->tool_call_id, "c1");
    assert_string_equal(r->messages[2]->name, "f");
    assert_int_equal(r->temperature_opt_case, LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE);
    assert_true(r->temperature == 0.5);
    assert_int_equal(r->top_p_opt_case, LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P);
    assert_int_equal(r->max_tokens, 7);
    assert_int_equal(r->seed, -3);
    assert_int_equal(r->n_stop, 1);
    assert_string_equal(r->stop[0], "x");
    assert_string_equal(r->user, "u");
    assert_string_equal(r->tools_json, "[{\"type\":\"function\"}]");
    assert_string_equal(r->tool_choice_json, "\"auto\"");
    assert_string_equal(r->response_format_json, "{\"type\":\"json_object\"}");
    assert_true(cr.stream);
    assert_true(cr.include_usage);
    /* Unknown members go to the provider; stream and stream_options do not. */
    json_t *extra = json_loads(r->extra_body_json, 0, NULL);
    assert_non_null(extra);
    assert_int_equal(json_object_size(extra), 2);
    assert_non_null(json_object_get(extra, "logit_bias"));
    assert_non_null(json_object_get(extra, "n"));
    json_decref(extra);
}

static void test_http_chat_decode_content_parts_are_concatenated(void **state)
{
    http_chat_request_t cr;
    char err[256];
    assert_int_equal(
        decode("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
               "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}",
               &cr, err, sizeof(err)),
        0);
    assert_string_equal(cr.req->messages[0]->content, "ab");
    assert_false(cr.stream);
    assert_string_equal(cr.req->extra_body_json, "");
}

static void expect_decode_error(const char *body, const char *want)
{
    http_chat_request_t cr;
    char err[256] = "";
    assert_int_equal(decode(body, &cr, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_http_chat_decode_errors_name_the_field(void **state)
{
    expect_decode_error("{\"model\":", "body: invalid JSON at line 1");
    expect_decode_error("[]", "body: expected a JSON object");
    expect_decode_error("{\"messages\":[]}", "model: required");
    expect_decode_error("{\"model\":3,\"messages\":[]}", "model: expected a string");
    expect_decode_error("{\"model\":\"m\"}", "messages: required");
    expect_decode_error("{\"model\":\"m\",\"messages\":{}}", "messages: expected an array");
    expect_decode_error("{\"model\":\"m\",\"messages\":[1]}", "messages[0]: expected an object");
    expect_decode_error("{\"model\":\"m\",\"messages\":[{\"role\":1}]}",
                        "messages[0].role: expected a string");
    expect_decode_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                        "messages[0].content: expected a string or an array");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"temperature\":\"hot\"}",
                        "temperature: expected a number");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"max_tokens\":0}",
                        "max_tokens: expected an integer");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"stop\":[1]}",
                        "stop[0]: expected a string");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}",
                        "stream: expected a boolean");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"tools\":{}}",
                        "tools: expected an array");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"model\":\"n\"}", "body: invalid JSON");
}

static void test_http_chat_decode_raw_strips_model(void **state)
{
    const char *model = NULL, *rest = NULL;
    char err[256];
    const char *body = "{\"input\":[\"a\"],\"model\":\"emb\",\"dimensions\":8}";
    assert_int_equal(
        http_chat_decode_raw(body, strlen(body), arena, NULL, &model, &rest, err, sizeof(err)), 0);
    assert_string_equal(model, "emb");
    assert_string_equal(rest, "{\"input\":[\"a\"],\"dimensions\":8}");
    body = "{\"model\":\"m\",\"stream\":true}";
    assert_int_equal(
        http_chat_decode_raw(body, strlen(body), arena, NULL, &model, &rest, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "stream:"));
    bool stream = false;
    assert_int_equal(
        http_chat_decode_raw(body, strlen(body), arena, &stream, &model, &rest, err, sizeof(err)),
        0);
    assert_true(stream);
    assert_string_equal(rest, "{\"stream\":true}"); /* the provider streams too */
}

/* Found by fuzz_http_chat: the members of a /v1/completions body pass on as
 * text that a policy loads again with jansson (policy_apply_raw), so a number
 * jansson cannot hold got past the decoder and was then refused as "body:
 * expected a JSON object" by the policy. The decoder refuses it, naming the
 * member. */
static void test_http_chat_decode_raw_refuses_numbers_out_of_range(void **state)
{
    static const char *const cases[][2] = {
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":99999999999999999999}",
         "max_tokens: number out of range"},
        {"{\"model\":\"m\",\"logit_bias\":{\"50256\":1e400}}", "logit_bias: number out of range"},
        {"{\"model\":\"m\",\"input\":[1,2,-9223372036854775809]}", "input: number out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *model = NULL, *rest = NULL;
        char err[256] = "";
        assert_int_equal(http_chat_decode_raw(cases[i][0], strlen(cases[i][0]), arena, NULL, &model,
                                              &rest, err, sizeof(err)),
                         -1);
        assert_string_equal(err, cases[i][1]);
    }
    /* In range, and a real that underflows (jansson reads it as 0), pass. */
    const char *ok = "{\"model\":\"m\",\"max_tokens\":9223372036854775807,\"t\":1e-400}";
    const char *model = NULL, *rest = NULL;
    char err[256] = "";
    assert_int_equal(
        http_chat_decode_raw(ok, strlen(ok), arena, NULL, &model, &rest, err, sizeof(err)), 0);
    assert_string_equal(rest, "{\"max_tokens\":9223372036854775807,\"t\":1e-400}");
}

/* Where llmgw reads members, a duplicate is refused (the gateway and the
 * provider could act on different values); JSON carried as text reaches the
 * provider exactly as sent, whitespace dropped. */
static void test_http_chat_decode_refuses_duplicates_it_would_read(void **state)
{
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"n\":1,\"n\":2}",
                        "body: invalid JSON: duplicate member 'n'");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"n\":1,\"\\u006e\":2}",
                        "duplicate member 'n'");
    expect_decode_error("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}",
                        "messages[0]: invalid JSON: duplicate member 'role'");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"stream\":true,\"stream\":false}",
                        "duplicate member 'stream'");
    /* Of several repeated keys the one that sorts first is named. */
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"z\":1,\"b\":1,\"z\":2,\"b\":2}",
                        "body: invalid JSON: duplicate member 'b'");
    expect_decode_error("{\"model\":\"m\",\"messages\":[\"x\"]", "body: invalid JSON at line 1");
    expect_decode_error("{\"model\":\"m\",\"messages\":[]} x", "body: invalid JSON at line 1");
    expect_decode_error("{\"model\":\"m\\u0000\",\"messages\":[]}", "body: invalid JSON");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"max_tokens\":1.5}",
                        "max_tokens: expected an integer");
    expect_decode_error("{\"model\":\"m\",\"messages\":[],\"seed\":99999999999999999999}",
                        "seed: expected an integer");

    http_chat_request_t cr;
    char err[256] = "";
    assert_int_equal(decode("{ \"model\" : \"m\", \"messages\" : [ ] ,"
                            " \"tools\" : [ {\"a\": 1, \"a\": 2} ],"
                            " \"x\" : { \"k\" : \" v \" } , \"y\":[1, 2.50e1]}",
                            &cr, err, sizeof(err)),
                     0);
    assert_string_equal(cr.req->tools_json, "[{\"a\":1,\"a\":2}]");
    assert_string_equal(cr.req->extra_body_json, "{\"x\":{\"k\":\" v \"},\"y\":[1,2.50e1]}");
}

/* A body of many members is checked in n log n, not n^2. */
static void test_http_chat_decode_many_members(void **state)
{
    buf_t body = BUF_INIT(8u << 20);
    assert_int_equal(buf_append_str(&body, "{\"model\":\"m\",\"messages\":[]"), 0);
    for (int i = 0; i < 200000; i++)
        assert_int_equal(buf_printf(&body, ",\"k%d\":%d", i, i), 0);
    assert_int_equal(buf_append_str(&body, "}"), 0);
    http_chat_request_t cr;
    char err[256] = "";
    assert_int_equal(http_chat_decode(body.data, body.len, arena, &cr, err, sizeof(err)), 0);
    assert_int_equal(buf_append_str(&body, ""), 0);
    body.data[body.len - 1] = ','; /* a duplicate of the first extra member at the end */
    assert_int_equal(buf_append_str(&body, "\"k0\":1}"), 0);
    assert_int_equal(http_chat_decode(body.data, body.len, arena, &cr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "duplicate member 'k0'"));
    buf_free(&body);
}

/* Encodes resp and parses the answer (the caller json_decref's it). */
static json_t *encode_and_load(const Llmgw__V1__ChatResponse *resp)
{
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(http_chat_encode_response(resp, &out), 0);
    json_t *j = json_loads(buf_cstr(&out), 0, NULL);
    buf_free(&out);
    assert_non_null(j);
    return j;
}

static void test_http_chat_encode_merges_provider_extensions(void **state)
{
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    msg.content = "x";
    Llmgw__V1__Choice choice = LLMGW__V1__CHOICE__INIT;
    choice.message = &msg;
    Llmgw__V1__Choice *choices[] = {&choice};
    Llmgw__V1__Usage usage = LLMGW__V1__USAGE__INIT;
    usage.total_tokens = 5;
    Llmgw__V1__ChatResponse resp = LLMGW__V1__CHAT_RESPONSE__INIT;
    resp.id = "chatcmpl-1";
    resp.model = "gpt";
    resp.choices = choices;
    resp.n_choices = 1;
    resp.usage = &usage;

    /* The common case (spliced as text): top-level members, "id" kept ours. */
    resp.extensions_json = "{\"openai\":{\"system_fingerprint\":\"fp_1\",\"meta\":{\"id\":1}}}";
    json_t *j = encode_and_load(&resp);
    assert_string_equal(json_string_value(json_object_get(j, "system_fingerprint")), "fp_1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meta"), "id")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "chatcmpl-1");
    json_decref(j);

    /* A standard name never overrides ours; usage details merge into usage;
     * another wire format's members stay under its name. */
    resp.extensions_json = "{\"openai\":{\"model\":\"evil\",\"service_tier\":\"default\",\"usage\":"
                           "{\"total_tokens\":99,\"prompt_tokens_details\":{\"cached_tokens\":2}}},"
                           "\"anthropic\":{\"stop_reason\":\"end_turn\"}}";
    j = encode_and_load(&resp);
    assert_string_equal(json_string_value(json_object_get(j, "model")), "gpt");
    assert_string_equal(json_string_value(json_object_get(j, "service_tier")), "default");
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "prompt_tokens_details"),
                                                        "cached_tokens")),
                     2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "anthropic"), "stop_reason")),
        "end_turn");
    json_decref(j);

    /* A chunk carries its members too. */
    Llmgw__V1__ChunkChoice cc = LLMGW__V1__CHUNK_CHOICE__INIT;
    Llmgw__V1__ChunkChoice *ccs[] = {&cc};
    Llmgw__V1__ChatChunk ch = LLMGW__V1__CHAT_CHUNK__INIT;
    ch.choices = ccs;
    ch.n_choices = 1;
    ch.extensions_json = "{\"openai\":{\"system_fingerprint\":\"fp_2\"}}";
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(http_chat_encode_chunk(&ch, false, &out), 0);
    j = json_loads(buf_cstr(&out) + strlen("data: "), JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "system_fingerprint")), "fp_2");
    json_decref(j);
    buf_free(&out);
}

static void test_http_chat_encode_response_has_openai_shape(void **state)
{
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    msg.role = "assistant";
    msg.content = "hi \"there\" \\ \n\t\x01 \xc3\xa9";
    Llmgw__V1__Choice choice = LLMGW__V1__CHOICE__INIT;
    choice.message = &msg;
    choice.finish_reason = "stop";
    Llmgw__V1__Choice *choices[] = {&choice};
    Llmgw__V1__Usage usage = LLMGW__V1__USAGE__INIT;
    usage.prompt_tokens = 3;
    usage.completion_tokens = 2;
    usage.total_tokens = 5;
    Llmgw__V1__ChatResponse resp = LLMGW__V1__CHAT_RESPONSE__INIT;
    resp.id = "chatcmpl-1";
    resp.model = "gpt";
    resp.created = 42;
    resp.choices = choices;
    resp.n_choices = 1;
    resp.usage = &usage;
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(http_chat_encode_response(&resp, &out), 0);
    json_t *j = json_loads(buf_cstr(&out), 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_int_equal(json_integer_value(json_object_get(j, "created")), 42);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c0, "message"), "content")),
        "hi \"there\" \\ \n\t\x01 \xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "stop");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens")), 5);
    json_decref(j);

    /* A tool call: content null, tool_calls embedded as JSON. */
    msg.content = "";
    msg.tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\"}]";
    choice.finish_reason = "tool_calls";
    buf_reset(&out);
    assert_int_equal(http_chat_encode_response(&resp, &out), 0);
    j = json_loads(buf_cstr(&out), 0, NULL);
    assert_non_null(j);
    json_t *m0 = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    assert_true(json_is_null(json_object_get(m0, "content")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(m0, "tool_calls"), 0), "id")),
                        "c1");
    json_decref(j);
    buf_free(&out);
}

static void test_http_chat_stream_usage_only_with_include_usage(void **state)
{
    Llmgw__V1__Message delta = LLMGW__V1__MESSAGE__INIT;
    delta.content = "x";
    Llmgw__V1__ChunkChoice cc = LLMGW__V1__CHUNK_CHOICE__INIT;
    cc.delta = &delta;
    Llmgw__V1__ChunkChoice *ccs[] = {&cc};
    Llmgw__V1__Usage usage = LLMGW__V1__USAGE__INIT;
    usage.completion_tokens = 1;
    Llmgw__V1__ChatChunk ch = LLMGW__V1__CHAT_CHUNK__INIT;
    ch.id = "c";
    ch.model = "m";
    ch.created = 1;
    ch.choices = ccs;
    ch.n_choices = 1;
    ch.usage = &usage;
    buf_t out = BUF_INIT(1 << 20);

    assert_int_equal(http_chat_encode_chunk(&ch, false, &out), 0);
    assert_int_equal(http_chat_encode_stream_end(&ch, false, &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                        "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},"
                        "\"logprobs\":null,\"finish_reason\":null}]}\n\ndata: [DONE]\n\n");
    buf_reset(&out);
    assert_int_equal(http_chat_encode_chunk(&ch, true, &out), 0);
    assert_int_equal(http_chat_encode_stream_end(&ch, true, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "\"finish_reason\":null}],\"usage\":null}\n\n"));
    assert_non_null(strstr(buf_cstr(&out),
                           "\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":1,"
                           "\"total_tokens\":0}}\n\ndata: [DONE]\n\n"));
    buf_free(&out);
}

static void test_http_error_maps_status_and_attempts(void **state)
{
    http_error_t e;
    http_error_from_status(GRPC_STATUS_UNAUTHENTICATED, "authorization: unknown API key", NULL, &e);
    assert_int_equal(e.http_status, 401);
    assert_string_equal(e.code, "invalid_api_key");
    assert_string_equal(e.param, "");

    http_error_from_status(GRPC_STATUS_INVALID_ARGUMENT, "messages[2].role: expected one of x",
                           NULL, &e);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.param, "messages[2].role");

    http_error_from_status(GRPC_STATUS_NOT_FOUND, "model: unknown route", NULL, &e);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(e.code, "model_not_found");

    Llmgw__V1__Attempt a1 = LLMGW__V1__ATTEMPT__INIT, a2 = LLMGW__V1__ATTEMPT__INIT;
    a1.error_type = "rate_limit";
    a1.http_status = 429;
    a2.error_type = "rate_limit";
    a2.http_status = 429;
    Llmgw__V1__Attempt *list[] = {&a1, &a2};
    pl_result_t res = {.attempts = list, .n_attempts = 2, .retry_after_ms = 2500};
    http_error_from_status(GRPC_STATUS_UNAVAILABLE, "every candidate failed", &res, &e);
    assert_int_equal(e.http_status, 429);
    assert_int_equal(e.retry_after_s, 3);
    assert_string_equal(e.type, "rate_limit_error");

    a2.error_type = "connect";
    a2.http_status = 0;
    res.n_attempts = 2;
    http_error_from_status(GRPC_STATUS_UNAVAILABLE, "every candidate failed", &res, &e);
    assert_int_equal(e.http_status, 502); /* one provider answered */
    res.attempts = &list[1];
    res.n_attempts = 1;
    http_error_from_status(GRPC_STATUS_UNAVAILABLE, "every candidate failed", &res, &e);
    assert_int_equal(e.http_status, 503); /* nobody answered */
    http_error_from_status(GRPC_STATUS_UNAUTHENTICATED, "provider refused our key", &res, &e);
    assert_int_equal(e.http_status, 502); /* the provider's key, not the caller's */
    http_error_from_status(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded", &res, &e);
    assert_int_equal(e.http_status, 504);

    /* No attempt: every deployment waits out a Retry-After (the pipeline's
     * signal, not the message text). */
    pl_result_t waiting = {.retry_after_ms = 1200, .rate_limited = true};
    http_error_from_status(GRPC_STATUS_RESOURCE_EXHAUSTED, "routing: unavailable", &waiting, &e);
    assert_int_equal(e.http_status, 429);
    assert_int_equal(e.retry_after_s, 2);
    assert_string_equal(e.code, "rate_limit_exceeded");
    http_error_from_status(GRPC_STATUS_UNAVAILABLE, "a/m: retry-after: skipped", NULL, &e);
    assert_int_equal(e.http_status, 503); /* text alone says nothing */

    buf_t out = BUF_INIT(4096);
    http_error_from_status(GRPC_STATUS_NOT_FOUND, "model: unknown", NULL, &e);
    assert_int_equal(http_chat_encode_error(&e, "model: unknown", &out), 0);
    assert_string_equal(buf_cstr(&out), "{\"error\":{\"message\":\"model: unknown\",\"type\":"
                                        "\"invalid_request_error\",\"param\":\"model\",\"code\":"
                                        "\"model_not_found\"}}");
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_http_chat_decode_maps_fields_and_passes_unknown_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_content_parts_are_concatenated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_errors_name_the_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_raw_strips_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_raw_refuses_numbers_out_of_range,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_refuses_duplicates_it_would_read,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_decode_many_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_chat_encode_merges_provider_extensions, setup,
                                        teardown),
        cmocka_unit_test(test_http_chat_encode_response_has_openai_shape),
        cmocka_unit_test(test_http_chat_stream_usage_only_with_include_usage),
        cmocka_unit_test(test_http_error_maps_status_and_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
