/* OpenAI schema checks and compatibility (docs/compatibility.md): a
 * violation at each depth names its JSON path the same way on both doors
 * (the HTTP body through http_chat_decode + chatreq_validate, a gRPC
 * ChatRequest's *_json fields through chatreq_validate), unknown members pass
 * through, the legacy forms are bridged both ways, and provider_quirks_prepare
 * renames and drops per provider, saying what it dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "arena.h"
#include "chat_schema.h"
#include "chatreq.h"
#include "http_chat.h"
#include "openai.h"
#include "provider_quirks.h"
#include "table.h"

static arena_t *arena;

static int setup(void **state)
{
    (void)state;
    arena = arena_new(0);
    return arena ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    arena_free(arena);
    return 0;
}

/* The HTTP door's verdict on a body: "" when accepted, else the message. */
static const char *http_verdict(const char *body, http_chat_request_t *cr)
{
    static char err[512];
    err[0] = '\0';
    if (http_chat_decode(body, strlen(body), arena, cr, err, sizeof(err)) < 0)
        return err;
    if (chatreq_validate(cr->req, err, sizeof(err)) < 0)
        return err;
    return "";
}

/* The body's messages and model around `rest` (top-level members). */
static const char *body_with(const char *messages, const char *rest)
{
    static char body[4096];
    snprintf(body, sizeof(body), "{\"model\":\"m\",\"messages\":%s%s%s}",
             messages ? messages : "[{\"role\":\"user\",\"content\":\"hi\"}]", rest[0] ? "," : "",
             rest);
    return body;
}

static void expect_http(const char *messages, const char *rest, const char *want)
{
    http_chat_request_t cr;
    const char *got = http_verdict(body_with(messages, rest), &cr);
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("body %s\n  got  '%s'\n  want '%s...'", body_with(messages, rest), got, want);
}

static void test_chat_schema_top_level_types_and_ranges(void **state)
{
    (void)state;
    expect_http(NULL, "\"temperature\":\"hot\"", "temperature: expected a number");
    expect_http(NULL, "\"temperature\":2.5", "temperature: expected a number from 0 to 2");
    expect_http(NULL, "\"top_p\":1.5", "top_p: expected a number from 0 to 1");
    expect_http(NULL, "\"presence_penalty\":-3", "presence_penalty: expected a number from -2");
    expect_http(NULL, "\"n\":0", "n: expected an integer from 1 to 128");
    expect_http(NULL, "\"n\":1.5", "n: expected an integer from 1 to 128");
    expect_http(NULL, "\"logit_bias\":{\"50256\":-101}",
                "logit_bias.50256: expected a number from -100 to 100");
    expect_http(NULL, "\"logit_bias\":{\"abc\":1}", "logit_bias: keys must be token ids");
    expect_http(NULL, "\"logit_bias\":[]", "logit_bias: expected an object");
    expect_http(NULL, "\"top_logprobs\":21", "top_logprobs: expected an integer from 0 to 20");
    expect_http(NULL, "\"logprobs\":\"yes\"", "logprobs: expected a boolean");
    expect_http(NULL, "\"parallel_tool_calls\":1", "parallel_tool_calls: expected a boolean");
    expect_http(NULL, "\"metadata\":{\"k\":1}", "metadata.k: expected a string");
    expect_http(NULL, "\"modalities\":[\"text\",2]", "modalities[1]: expected a string");
    expect_http(NULL, "\"stream_options\":{\"include_usage\":\"y\"}", "stream_options: expected");
    expect_http(NULL, "\"max_completion_tokens\":0",
                "max_completion_tokens: expected an integer from 1");
}

static void test_chat_schema_messages_at_each_depth(void **state)
{
    (void)state;
    expect_http("[{\"role\":\"robot\",\"content\":\"x\"}]", "",
                "messages[0].role: expected one of system, developer, user, assistant, tool");
    const char *three = "[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                        "\"u\"},{\"role\":\"user\",\"content\":[%s]}]";
    char m[1024];
    snprintf(m, sizeof(m), three, "{\"type\":\"video\"}");
    expect_http(m, "",
                "messages[2].content[0].type: expected one of text, image_url, input_audio, file");
    snprintf(m, sizeof(m), three, "{\"type\":\"image_url\",\"image_url\":{\"url\":\"ftp://x\"}}");
    expect_http(m, "",
                "messages[2].content[0].image_url.url: expected an http(s) URL or a data: URL");
    snprintf(m, sizeof(m), three, "{\"type\":\"image_url\",\"image_url\":{}}");
    expect_http(m, "", "messages[2].content[0].image_url.url: required");
    snprintf(m, sizeof(m), three,
             "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
             "\"https://x/y.png\",\"detail\":\"ultra\"}}");
    expect_http(m, "", "messages[2].content[1].image_url.detail: expected one of auto, low, high");
    snprintf(m, sizeof(m), three,
             "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAA\",\"format\":\"ogg\"}}");
    expect_http(m, "", "messages[2].content[0].input_audio.format: expected one of wav, mp3");
    snprintf(m, sizeof(m), three, "{\"type\":\"text\"}");
    expect_http(m, "", "messages[2].content[0].text: required");
    /* Images belong to user messages. */
    expect_http("[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
                "\"https://x\"}}]},{\"role\":\"user\",\"content\":\"u\"}]",
                "", "messages[0].content[0].type: 'image_url' parts belong to user messages");
    /* A valid image part is kept as parts, not flattened. */
    http_chat_request_t cr;
    snprintf(m, sizeof(m), three,
             "{\"type\":\"text\",\"text\":\"what is it\"},{\"type\":\"image_url\",\"image_url\":"
             "{\"url\":\"data:image/png;base64,AAAA\"}}");
    assert_string_equal(http_verdict(body_with(m, ""), &cr), "");
    assert_non_null(strstr(cr.req->messages[2]->content_parts_json, "image_url"));
    assert_string_equal(cr.req->messages[2]->content, "");
    /* Text-only parts are joined, whatever else they carry: every provider
     * takes text. */
    snprintf(m, sizeof(m), three,
             "{\"type\":\"text\",\"text\":\"a\",\"cache_control\":{\"type\":\"ephemeral\"}},"
             "{\"type\":\"text\",\"text\":\"b\"}");
    assert_string_equal(http_verdict(body_with(m, ""), &cr), "");
    assert_string_equal(cr.req->messages[2]->content, "ab");
    assert_string_equal(cr.req->messages[2]->content_parts_json, "");
    /* The scheme is read decoded: an encoder may escape the slashes. */
    snprintf(m, sizeof(m), three,
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https:\\/\\/x.test\\/a.png\"}}");
    assert_string_equal(http_verdict(body_with(m, ""), &cr), "");
    snprintf(m, sizeof(m), three,
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"\\u0068ttps:\"}}");
    expect_http(m, "", "messages[2].content[0].image_url.url: expected an http(s) URL");
    /* tool_calls of an assistant message. */
    expect_http("[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"tool_calls\":"
                "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}]",
                "", "messages[1].tool_calls[0].function.arguments: required");
    expect_http("[{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"tool_calls\":"
                "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]",
                "", "messages[1].tool_calls[0].id: required");
}

static void test_chat_schema_tools_choice_and_format(void **state)
{
    (void)state;
    expect_http(NULL,
                "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"parameters\":[]}}]",
                "tools[0].function.parameters: expected an object");
    expect_http(NULL, "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]",
                "tools[0].function.name: expected 1 to 64 characters");
    expect_http(NULL, "\"tools\":[{\"type\":\"function\"}]", "tools[0].function: required");
    expect_http(NULL, "\"tools\":[{\"type\":\"retrieval\"}]",
                "tools[0].type: expected one of function, custom");
    expect_http(NULL, "\"tools\":[]", "tools: expected at least one tool");
    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],";
    char rest[512];
    snprintf(rest, sizeof(rest), "%s\"tool_choice\":\"sometimes\"", tools);
    expect_http(NULL, rest, "tool_choice: expected \"none\", \"auto\", \"required\"");
    snprintf(rest, sizeof(rest), "%s\"tool_choice\":{\"type\":\"function\",\"function\":{}}",
             tools);
    expect_http(NULL, rest, "tool_choice.function.name: required");
    snprintf(rest, sizeof(rest),
             "%s\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}", tools);
    expect_http(NULL, rest, "tool_choice.function.name: names no tool in tools");
    expect_http(NULL, "\"tool_choice\":\"required\"", "tool_choice: \"required\" needs tools");
    snprintf(rest, sizeof(rest), "%s\"tool_choice\":\"required\"", tools);
    expect_http(NULL, rest, "");
    expect_http(NULL, "\"response_format\":{\"type\":\"yaml\"}",
                "response_format.type: expected one of text, json_object, json_schema");
    expect_http(NULL, "\"response_format\":{\"type\":\"json_schema\"}",
                "response_format.json_schema: required");
    expect_http(NULL,
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
                "\"s\",\"schema\":true}}",
                "response_format.json_schema.schema: expected an object");
    expect_http(NULL, "\"response_format\":{\"type\":\"json_object\"}", "");
}

static void test_chat_schema_unknown_members_pass_through(void **state)
{
    (void)state;
    http_chat_request_t cr;
    const char *body = body_with(NULL, "\"some_new_field\":{\"x\":[1,2]},\"reasoning_effort\":"
                                       "\"minimal\",\"store\":false,\"service_tier\":\"flex\"");
    assert_string_equal(http_verdict(body, &cr), "");
    json_t *extra = json_loads(cr.req->extra_body_json, 0, NULL);
    assert_non_null(extra);
    assert_non_null(json_object_get(extra, "some_new_field"));
    assert_string_equal(json_string_value(json_object_get(extra, "reasoning_effort")), "minimal");
    json_decref(extra);
}

/* The gRPC door: the same checks on ChatRequest's *_json fields, the same
 * paths; the legacy forms in extra_body_json are refused naming the field
 * to set. */
static void test_chat_schema_grpc_fields_use_the_same_paths(void **state)
{
    (void)state;
    Llmgw__V1__ChatRequest r = LLMGW__V1__CHAT_REQUEST__INIT;
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT, *mp = &m;
    char err[256];
    m.role = "user";
    m.content = "hi";
    r.model = "m";
    r.messages = &mp;
    r.n_messages = 1;
    r.tools_json = "[{\"type\":\"function\",\"function\":{}}]";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "tools[0].function.name: required");
    r.tools_json = "";
    r.tool_choice_json = "{\"type\":\"function\"}";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "tool_choice.function: required");
    r.tool_choice_json = "";
    m.content_parts_json = "[{\"type\":\"image_url\",\"image_url\":{\"url\":7}}]";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "messages[0].content[0].image_url.url: expected a string");
    m.content_parts_json = "";
    r.extra_body_json = "{\"functions\":[]}";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "functions: set tools_json instead"));
    r.extra_body_json = "{\"max_completion_tokens\":5}";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "max_completion_tokens: set max_tokens instead"));
    r.extra_body_json = "{\"logit_bias\":{\"7\":200}}";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "logit_bias.7: expected a number from -100 to 100");
    r.extra_body_json = "{\"unknown\":1}";
    r.api_version = "yesterday";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "api-version: expected YYYY-MM-DD or YYYY-MM-DD-preview");
    r.api_version = "2024-08-01-preview";
    assert_int_equal(chatreq_validate(&r, err, sizeof(err)), 0);
}

static void test_chat_schema_legacy_functions_bridge_to_tools(void **state)
{
    (void)state;
    http_chat_request_t cr;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}},"
        "{\"role\":\"function\",\"name\":\"get_weather\",\"content\":\"-3C\"}],"
        "\"functions\":[{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}],"
        "\"function_call\":{\"name\":\"get_weather\"}}";
    assert_string_equal(http_verdict(body, &cr), "");
    assert_true(cr.legacy_functions);
    assert_string_equal(cr.req->tools_json, "[{\"type\":\"function\",\"function\":{\"name\":"
                                            "\"get_weather\",\"parameters\":{\"type\":\"object\"}}}"
                                            "]");
    assert_string_equal(cr.req->tool_choice_json,
                        "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}");
    assert_string_equal(cr.req->messages[1]->tool_calls_json,
                        "[{\"id\":\"call_llmgw_1\",\"type\":\"function\",\"function\":{\"name\":"
                        "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]");
    assert_string_equal(cr.req->messages[2]->role, "tool");
    assert_string_equal(cr.req->messages[2]->tool_call_id, "call_llmgw_1");
    assert_string_equal(cr.req->extra_body_json, "");
    /* Errors on the legacy forms name the legacy path. */
    expect_http(NULL, "\"functions\":[{\"description\":\"x\"}]", "functions[0].name: required");
    expect_http(NULL, "\"functions\":[{\"name\":\"f\"}],\"tools\":[]",
                "functions: cannot be combined with tools");
    expect_http(NULL, "\"function_call\":\"always\"", "function_call: expected \"none\"");
    expect_http("[{\"role\":\"function\",\"name\":\"f\",\"content\":\"x\"}]", "",
                "messages[0].role: a 'function' message must follow an assistant function_call");
    /* "none" / "auto" stay strings. */
    assert_string_equal(
        http_verdict(body_with(NULL, "\"functions\":[{\"name\":\"f\"}],\"function_call\":\"auto\""),
                     &cr),
        "");
    assert_string_equal(cr.req->tool_choice_json, "\"auto\"");
}

/* "And back": a legacy caller gets message.function_call and
 * finish_reason "function_call", streamed as delta.function_call. */
static void test_chat_schema_legacy_answer_shape(void **state)
{
    (void)state;
    Llmgw__V1__ChatResponse resp = LLMGW__V1__CHAT_RESPONSE__INIT;
    Llmgw__V1__Choice c = LLMGW__V1__CHOICE__INIT, *cp = &c;
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT;
    m.role = "assistant";
    m.tool_calls_json = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                        "\"arguments\":\"{\\\"a\\\":1}\"}}]";
    c.message = &m;
    c.finish_reason = "tool_calls";
    resp.id = "x";
    resp.model = "m";
    resp.created = 1;
    resp.choices = &cp;
    resp.n_choices = 1;
    buf_t out = BUF_INIT(1 << 16);
    assert_int_equal(http_chat_encode_response_as(&resp, HTTP_CHAT_LEGACY_FUNCTIONS, &out), 0);
    json_t *root = json_loads(buf_cstr(&out), 0, NULL);
    assert_non_null(root);
    json_t *msg = json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
    assert_null(json_object_get(msg, "tool_calls"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(msg, "function_call"), "arguments")),
        "{\"a\":1}");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(root, "choices"), 0), "finish_reason")),
                        "function_call");
    json_decref(root);
    /* The new shape without the flag. */
    buf_reset(&out);
    assert_int_equal(http_chat_encode_response_as(&resp, 0, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "\"tool_calls\":[{\"id\":\"call_1\""));
    /* A delta. */
    Llmgw__V1__ChatChunk ch = LLMGW__V1__CHAT_CHUNK__INIT;
    Llmgw__V1__ChunkChoice cc = LLMGW__V1__CHUNK_CHOICE__INIT, *ccp = &cc;
    Llmgw__V1__Message d = LLMGW__V1__MESSAGE__INIT;
    d.tool_calls_json = "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]";
    cc.delta = &d;
    ch.id = "x";
    ch.model = "m";
    ch.created = 1;
    ch.choices = &ccp;
    ch.n_choices = 1;
    buf_reset(&out);
    assert_int_equal(http_chat_encode_chunk_as(&ch, false, HTTP_CHAT_LEGACY_FUNCTIONS, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "\"delta\":{\"function_call\":{\"arguments\":"
                                           "\"{\\\"a\\\"\"}}"));
    buf_free(&out);
}

static void test_chat_schema_completion_bridge_both_ways(void **state)
{
    (void)state;
    http_chat_request_t cr;
    char err[256];
    const char *body = "{\"model\":\"claude/c\",\"prompt\":\"Say hi\",\"temperature\":0.5,"
                       "\"echo\":false,\"best_of\":1,\"stream\":true}";
    assert_int_equal(http_chat_decode_completion(body, strlen(body), arena, &cr, err, sizeof(err)),
                     0);
    assert_string_equal(cr.req->model, "claude/c");
    assert_int_equal(cr.req->n_messages, 1);
    assert_string_equal(cr.req->messages[0]->role, "user");
    assert_string_equal(cr.req->messages[0]->content, "Say hi");
    assert_int_equal(cr.req->max_tokens, 16); /* the legacy default */
    assert_true(cr.stream);
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"{\"model\":\"m\"}", "prompt: required"},
        {"{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt: only a string or an array of one"},
        {"{\"model\":\"m\",\"prompt\":\"a\",\"suffix\":\"z\"}", "suffix: not supported"},
        {"{\"model\":\"m\",\"prompt\":\"a\",\"echo\":true}", "echo: not supported"},
        {"{\"model\":\"m\",\"prompt\":\"a\",\"best_of\":3}", "best_of: only 1"},
        {"{\"model\":\"m\",\"prompt\":\"a\",\"logprobs\":2}", "logprobs: not supported"},
        {"{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":0}", "max_tokens: expected an integer"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(http_chat_decode_completion(bad[i].body, strlen(bad[i].body), arena, &cr,
                                                     err, sizeof(err)),
                         -1);
        if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("%s: got '%s', want '%s'", bad[i].body, err, bad[i].want);
    }
    /* The chat answer as a text_completion. */
    Llmgw__V1__ChatResponse resp = LLMGW__V1__CHAT_RESPONSE__INIT;
    Llmgw__V1__Choice c = LLMGW__V1__CHOICE__INIT, *cp = &c;
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT;
    m.content = "hi!";
    c.message = &m;
    c.finish_reason = "length";
    resp.id = "msg_1";
    resp.model = "c";
    resp.created = 7;
    resp.choices = &cp;
    resp.n_choices = 1;
    buf_t out = BUF_INIT(1 << 16);
    assert_int_equal(http_chat_encode_response_as(&resp, HTTP_CHAT_TEXT_COMPLETION, &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "{\"id\":\"msg_1\",\"object\":\"text_completion\",\"created\":7,\"model\":"
                        "\"c\",\"choices\":[{\"text\":\"hi!\",\"index\":0,\"logprobs\":null,"
                        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":0,"
                        "\"completion_tokens\":0,\"total_tokens\":0}}");
    /* A role-only delta has no text_completion form. */
    Llmgw__V1__ChatChunk ch = LLMGW__V1__CHAT_CHUNK__INIT;
    Llmgw__V1__ChunkChoice cc = LLMGW__V1__CHUNK_CHOICE__INIT, *ccp = &cc;
    Llmgw__V1__Message d = LLMGW__V1__MESSAGE__INIT;
    d.role = "assistant";
    cc.delta = &d;
    ch.choices = &ccp;
    ch.n_choices = 1;
    buf_reset(&out);
    assert_int_equal(http_chat_encode_chunk_as(&ch, false, HTTP_CHAT_TEXT_COMPLETION, &out), 0);
    assert_int_equal(out.len, 0);
    d.role = "";
    d.content = " there";
    assert_int_equal(http_chat_encode_chunk_as(&ch, false, HTTP_CHAT_TEXT_COMPLETION, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "\"object\":\"text_completion\""));
    assert_non_null(strstr(buf_cstr(&out), "\"choices\":[{\"text\":\" there\",\"index\":0"));
    buf_free(&out);
}

static void test_chat_schema_azure_model_from_path(void **state)
{
    (void)state;
    const char *out = NULL;
    size_t len = 0;
    char err[128];
    const char *body = "{\"messages\":[]}";
    assert_int_equal(
        http_chat_with_model(body, strlen(body), "gpt-4o", arena, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(out, "{\"model\":\"gpt-4o\",\"messages\":[]}");
    assert_int_equal(len, strlen(out));
    assert_int_equal(http_chat_with_model("{}", 2, "d", arena, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(out, "{\"model\":\"d\"}");
    body = "{\"model\":\"other\"}";
    assert_int_equal(
        http_chat_with_model(body, strlen(body), "d", arena, &out, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "model: differs from the deployment named in the path");
}

/* --- per provider --------------------------------------------------------- */

static table_t *load(const char *providers)
{
    char json[2048], err[256];
    snprintf(json, sizeof(json), "{\"providers\": [%s]}", providers);
    table_t *t = table_load_json(json, strlen(json), err, sizeof(err));
    if (!t)
        fail_msg("table: %s", err);
    return t;
}

static const char *built(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                         const char **warning)
{
    static char body[4096];
    char err[256];
    const Llmgw__V1__ChatRequest *prep = NULL;
    if (provider_quirks_prepare(p, req, arena, &prep, warning, err, sizeof(err)) < 0) {
        snprintf(body, sizeof(body), "ERROR %s", err);
        return body;
    }
    buf_t out = BUF_INIT(1 << 16);
    if (provider_quirks_build_openai(p, prep, "up", false, &out, err, sizeof(err)) < 0)
        snprintf(body, sizeof(body), "ERROR %s", err);
    else
        snprintf(body, sizeof(body), "%s", buf_cstr(&out));
    buf_free(&out);
    return body;
}

static void test_chat_schema_renames_per_provider(void **state)
{
    (void)state;
#define MODELS "\"models\":[{\"name\":\"dep\"}]"
    table_t *t = load("{\"name\":\"oai\",\"preset\":\"openai\",\"api_key\":\"k\"},"
                      "{\"name\":\"groq\",\"preset\":\"groq\",\"api_key\":\"k\"},"
                      "{\"name\":\"az\",\"preset\":\"azure\",\"base_url\":\"https://r.test\","
                      "\"api_key\":\"k\"," MODELS "},"
                      "{\"name\":\"az-old\",\"preset\":\"azure\",\"base_url\":\"https://r.test\","
                      "\"api_key\":\"k\",\"api_version\":\"2024-06-01\"," MODELS "},"
                      "{\"name\":\"plain\",\"base_url\":\"http://x.test/v1\"," MODELS "}");
#undef MODELS
    Llmgw__V1__ChatRequest r = LLMGW__V1__CHAT_REQUEST__INIT;
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT, *mp = &m;
    m.role = "user";
    m.content = "hi";
    r.model = "m";
    r.messages = &mp;
    r.n_messages = 1;
    r.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.max_tokens = 9;
    const char *w = NULL;
    const char *b = built(table_find_provider(t, "oai"), &r, &w);
    assert_non_null(strstr(b, "\"max_completion_tokens\":9"));
    assert_null(strstr(b, "\"max_tokens\""));
    assert_null(w);
    b = built(table_find_provider(t, "groq"), &r, &w);
    assert_non_null(strstr(b, "\"max_tokens\":9"));
    assert_null(strstr(b, "max_completion_tokens"));
    /* Azure: by api-version, the table's or the caller's. */
    b = built(table_find_provider(t, "az"), &r, &w);
    assert_non_null(strstr(b, "\"max_completion_tokens\":9"));
    b = built(table_find_provider(t, "az-old"), &r, &w);
    assert_non_null(strstr(b, "\"max_tokens\":9"));
    r.api_version = "2024-10-21";
    b = built(table_find_provider(t, "az-old"), &r, &w);
    assert_non_null(strstr(b, "\"max_completion_tokens\":9"));
    assert_null(w);
    char *url = provider_quirks_url_version(table_find_provider(t, "az-old"), "/x", true, "dep",
                                            r.api_version, arena);
    assert_string_equal(url, "https://r.test/openai/deployments/dep/chat/completions?api-version="
                             "2024-10-21");
    /* Elsewhere the caller's api-version is ignored, with a warning. */
    b = built(table_find_provider(t, "plain"), &r, &w);
    assert_non_null(strstr(b, "\"max_tokens\":9"));
    assert_string_equal(w, "api-version ignored for plain");
    table_unref(t);
}

static void test_chat_schema_drops_with_a_warning(void **state)
{
    (void)state;
    table_t *t = load("{\"name\":\"groq\",\"preset\":\"groq\",\"api_key\":\"k\"},"
                      "{\"name\":\"claude\",\"preset\":\"anthropic\",\"api_key\":\"k\"}");
    Llmgw__V1__ChatRequest r = LLMGW__V1__CHAT_REQUEST__INIT;
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT, *mp = &m;
    m.role = "user";
    m.content = "hi";
    r.model = "m";
    r.messages = &mp;
    r.n_messages = 1;
    r.extra_body_json = "{\"logprobs\":true,\"top_logprobs\":2,\"keep\":1}";
    const char *w = NULL;
    const char *b = built(table_find_provider(t, "groq"), &r, &w);
    assert_null(strstr(b, "logprobs"));
    assert_non_null(strstr(b, "\"keep\":1"));
    assert_string_equal(w, "dropped logprobs, top_logprobs for groq");
    /* Anthropic: OpenAI-only members and seed dropped, n > 1 refused. */
    const table_provider_t *claude = table_find_provider(t, "claude");
    const Llmgw__V1__ChatRequest *prep = NULL;
    char err[256];
    r.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
    r.seed = 4;
    r.extra_body_json = "{\"logprobs\":true,\"n\":1,\"top_k\":5}";
    assert_int_equal(provider_quirks_prepare(claude, &r, arena, &prep, &w, err, sizeof(err)), 0);
    assert_string_equal(w, "dropped seed, logprobs for claude");
    assert_string_equal(prep->extra_body_json, "{\"top_k\":5}");
    assert_int_equal(prep->seed_opt_case, LLMGW__V1__CHAT_REQUEST__SEED_OPT__NOT_SET);
    r.extra_body_json = "{\"n\":3}";
    assert_int_equal(provider_quirks_prepare(claude, &r, arena, &prep, &w, err, sizeof(err)), -1);
    assert_string_equal(err, "n: provider 'claude' (wire format anthropic) returns one choice");
    /* Nothing to change: the request itself, no warning. */
    Llmgw__V1__ChatRequest plain = r;
    plain.extra_body_json = "";
    plain.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT__NOT_SET;
    assert_int_equal(provider_quirks_prepare(claude, &plain, arena, &prep, &w, err, sizeof(err)),
                     0);
    assert_ptr_equal(prep, &plain);
    assert_null(w);
    table_unref(t);
}

/* The two quirks this adds are checked by the table loader. */
static void test_chat_schema_quirks_load_checked(void **state)
{
    (void)state;
    char err[256];
    const char *bad = "{\"providers\":[{\"name\":\"p\",\"base_url\":\"http://x.test\","
                      "\"quirks\":{\"max_tokens_field\":\"max\"},\"models\":[{\"name\":\"m\"}]}]}";
    assert_null(table_load_json(bad, strlen(bad), err, sizeof(err)));
    assert_non_null(strstr(err, "quirks.max_tokens_field: 'max' is not one of max_tokens, "
                                "max_completion_tokens"));
    const char *bad2 = "{\"providers\":[{\"name\":\"p\",\"base_url\":\"http://x.test\","
                       "\"quirks\":{\"completions\":1},\"models\":[{\"name\":\"m\"}]}]}";
    assert_null(table_load_json(bad2, strlen(bad2), err, sizeof(err)));
    assert_non_null(strstr(err, "quirks.completions"));
    table_t *t = load("{\"name\":\"p\",\"base_url\":\"http://x.test\",\"models\":[{\"name\":"
                      "\"m\"}]},{\"name\":\"c\",\"preset\":\"anthropic\",\"api_key\":\"k\"}");
    const table_provider_t *p = table_find_provider(t, "p");
    assert_string_equal(p->quirks.max_tokens_field, "max_tokens");
    assert_true(p->quirks.completions);
    assert_false(table_find_provider(t, "c")->quirks.completions);
    table_unref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chat_schema_top_level_types_and_ranges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_messages_at_each_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_tools_choice_and_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_unknown_members_pass_through, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_grpc_fields_use_the_same_paths, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_legacy_functions_bridge_to_tools, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_legacy_answer_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_completion_bridge_both_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_azure_model_from_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_renames_per_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_drops_with_a_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_schema_quirks_load_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
