/* Unit tests for openai.c: request bodies built from ChatRequest, and
 * completions / stream chunks parsed from OpenAI's documented wire formats
 * (fixtures under tests/fixtures/openai/), malformed input and allocation
 * failure. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include <jansson.h>

#include "arena.h"
#include "buf.h"
#include "openai.h"
#include "sse.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Reads tests/fixtures/openai/<name>; the caller frees it. */
static char *openai_fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "openai/%s", name);
    return fixture_read(rel, len);
}

/* Per-test state: one arena, one output buffer, torn down even when an
 * assertion fails. */
typedef struct {
    arena_t *arena;
    buf_t out;
    char err[256];
} fx_t;

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    fx->arena = arena_new(0);
    if (!fx->arena) {
        free(fx);
        return -1;
    }
    buf_init(&fx->out, 1 << 20);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    json_set_alloc_funcs(malloc, free);
    arena_free(fx->arena);
    buf_free(&fx->out);
    free(fx);
    return 0;
}

#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

/* Asserts that `got` (a JSON text) equals `want` as JSON values. */
static void assert_json_equal(const char *got, const char *want)
{
    json_error_t e;
    json_t *g = json_loads(got, 0, &e);
    if (!g)
        fail_msg("not JSON (%s): %s", e.text, got);
    json_t *w = json_loads(want, 0, &e);
    if (!w) {
        json_decref(g);
        fail_msg("expected value is not JSON (%s): %s", e.text, want);
    }
    int same = json_equal(g, w);
    json_decref(g);
    json_decref(w);
    if (!same)
        fail_msg("got  %s\nwant %s", got, want);
}

static Llmgw__V1__Message msg(const char *role, const char *content)
{
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT;
    m.role = (char *)role;
    m.content = (char *)content;
    return m;
}

/* A request with one user message "hi" and model "route-a". */
typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message m[4];
    Llmgw__V1__Message *mp[4];
} req_t;

static void req_init(req_t *r)
{
    Llmgw__V1__ChatRequest init = LLMGW__V1__CHAT_REQUEST__INIT;
    r->req = init;
    r->req.model = "route-a";
    r->m[0] = msg("user", "hi");
    for (int i = 0; i < 4; i++)
        r->mp[i] = &r->m[i];
    r->req.messages = r->mp;
    r->req.n_messages = 1;
}

/* The *_json fields the error-table tests set, one per case. */
typedef enum {
    J_TOOLS,
    J_TOOL_CHOICE,
    J_RESPONSE_FORMAT,
    J_EXTRA_BODY,
    J_TOOL_CALLS,    /* on an assistant message added as messages[1] */
    J_CONTENT_PARTS, /* on messages[0] */
} json_field_t;

static void req_set_json(req_t *r, json_field_t field, const char *value)
{
    char *v = (char *)value;
    switch (field) {
    case J_TOOLS:
        r->req.tools_json = v;
        break;
    case J_TOOL_CHOICE:
        r->req.tool_choice_json = v;
        break;
    case J_RESPONSE_FORMAT:
        r->req.response_format_json = v;
        break;
    case J_EXTRA_BODY:
        r->req.extra_body_json = v;
        break;
    case J_TOOL_CALLS:
        r->m[1] = msg("assistant", "");
        r->m[1].tool_calls_json = v;
        r->req.n_messages = 2;
        break;
    case J_CONTENT_PARTS:
        r->m[0].content_parts_json = v;
        break;
    }
}

static int build(fx_t *fx, const req_t *r, bool stream)
{
    fx->err[0] = '\0';
    return openai_build_chat_request(&r->req, "gpt-4o-mini", stream, &fx->out, fx->err,
                                     sizeof(fx->err));
}

/* Expects the build to fail with err starting with `prefix`, leaving the
 * buffer as it was. */
static void expect_build_error(fx_t *fx, const req_t *r, const char *prefix)
{
    buf_reset(&fx->out);
    assert_int_equal(buf_append_str(&fx->out, "keep"), 0);
    assert_int_equal(build(fx, r, false), -1);
    if (strncmp(fx->err, prefix, strlen(prefix)) != 0)
        fail_msg("err \"%s\" does not start with \"%s\"", fx->err, prefix);
    assert_string_equal(buf_cstr(&fx->out), "keep");
}

/* ------------------------------------------------------------------------ */
/* Request building                                                          */

static void test_openai_build_minimal_request_is_compact(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    assert_int_equal(build(fx, &r, false), 0);
    assert_string_equal(buf_cstr(&fx->out),
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"hi\"}]}");
}

static void test_openai_build_uses_request_model_without_upstream_model(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    assert_int_equal(
        openai_build_chat_request(&r.req, NULL, false, &fx->out, fx->err, sizeof(fx->err)), 0);
    assert_json_equal(
        buf_cstr(&fx->out),
        "{\"model\":\"route-a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
}

static void test_openai_build_appends_to_buffer(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    assert_int_equal(buf_append_str(&fx->out, ">>"), 0);
    assert_int_equal(build(fx, &r, false), 0);
    assert_int_equal(strncmp(buf_cstr(&fx->out), ">>{\"model\":", 11), 0);
}

static void test_openai_build_sampling_fields_only_when_set(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    /* Zero values that are set must still be sent: presence is the oneof
     * case, not the value. */
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.0;
    r.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    r.req.top_p = 0.5;
    r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.req.max_tokens = 100;
    r.req.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
    r.req.seed = -9007199254740993LL;
    r.req.presence_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY;
    r.req.presence_penalty = 0.0;
    r.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    r.req.frequency_penalty = -1.5;
    char *stop[] = {"END", "\n\n"};
    r.req.stop = stop;
    r.req.n_stop = 2;
    r.req.user = "user-42";
    assert_int_equal(build(fx, &r, false), 0);
    assert_json_equal(buf_cstr(&fx->out),
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}],\"temperature\":0.0,\"top_p\":0.5,\"max_tokens\":100,"
                      "\"seed\":-9007199254740993,\"presence_penalty\":0.0,"
                      "\"frequency_penalty\":-1.5,\"stop\":[\"END\",\"\\n\\n\"],"
                      "\"user\":\"user-42\"}");

    /* The values themselves (not just the keys) with none set. */
    req_init(&r);
    buf_reset(&fx->out);
    r.req.temperature = 1.5; /* value without the case: not sent */
    r.req.max_tokens = 7;
    assert_int_equal(build(fx, &r, false), 0);
    json_t *j = json_loads(buf_cstr(&fx->out), 0, NULL);
    assert_non_null(j);
    size_t n_keys = json_object_size(j);
    int has_model = json_object_get(j, "model") != NULL;
    int has_messages = json_object_get(j, "messages") != NULL;
    json_decref(j);
    if (n_keys != 2 || !has_model || !has_messages)
        fail_msg("only model and messages expected: %s", buf_cstr(&fx->out));
}

static void test_openai_build_real_survives_round_trip(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.7;
    r.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    r.req.top_p = 0.1 + 0.2;
    assert_int_equal(build(fx, &r, false), 0);
    json_t *j = json_loads(buf_cstr(&fx->out), 0, NULL);
    assert_non_null(j);
    double t = json_real_value(json_object_get(j, "temperature"));
    double p = json_real_value(json_object_get(j, "top_p"));
    json_decref(j);
    assert_true(t == 0.7);
    assert_true(p == 0.1 + 0.2);
}

static void test_openai_build_non_finite_number_refused(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = NAN;
    expect_build_error(fx, &r, "temperature: expected a finite number");
    req_init(&r);
    r.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    r.req.frequency_penalty = INFINITY;
    expect_build_error(fx, &r, "frequency_penalty: expected a finite number");
}

static void test_openai_build_message_optional_members(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.m[0] = msg("system", "be brief");
    r.m[0].name = "ops";
    r.m[1] = msg("assistant", "");
    r.m[1].tool_calls_json = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
                             "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]";
    r.m[2] = msg("tool", "{\"temp\":21}");
    r.m[2].tool_call_id = "call_1";
    r.m[3] = msg("assistant", "");
    r.req.n_messages = 4;
    assert_int_equal(build(fx, &r, false), 0);
    assert_json_equal(
        buf_cstr(&fx->out),
        "{\"model\":\"gpt-4o-mini\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be brief\",\"name\":\"ops\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"content\":\"{\\\"temp\\\":21}\",\"tool_call_id\":\"call_1\"},"
        "{\"role\":\"assistant\",\"content\":\"\"}]}");
}

static void test_openai_build_json_fields_embedded(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.tools_json = " [ {\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                       "{\"type\":\"object\",\"properties\":{}}}} ] ";
    r.req.tool_choice_json = "\"required\"";
    r.req.response_format_json = "{\"type\":\"json_object\"}";
    assert_int_equal(build(fx, &r, false), 0);
    assert_json_equal(buf_cstr(&fx->out),
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                      "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
                      "\"tool_choice\":\"required\",\"response_format\":{\"type\":"
                      "\"json_object\"}}");
    /* Re-serialized compactly: the padding around tools is gone. */
    assert_null(strstr(buf_cstr(&fx->out), " "));

    buf_reset(&fx->out);
    r.req.tool_choice_json = "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}";
    assert_int_equal(build(fx, &r, false), 0);
    assert_non_null(
        strstr(buf_cstr(&fx->out),
               "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}"));
}

static void test_openai_build_invalid_json_fields_refused(void **state)
{
    fx_t *fx = *state;
    static const struct {
        json_field_t field;
        const char *value;
        const char *err;
    } cases[] = {
        {J_TOOLS, "[1,", "tools_json: invalid JSON at line 1 column 3: "},
        {J_TOOLS, "{\"type\":\"function\"}", "tools_json: expected a JSON array"},
        {J_TOOLS, "\"x\"", "tools_json: expected a JSON array"},
        {J_TOOL_CHOICE, "auto", "tool_choice_json: invalid JSON at line 1 column "},
        {J_TOOL_CHOICE, "{\"type\":", "tool_choice_json: invalid JSON"},
        {J_RESPONSE_FORMAT, "[]", "response_format_json: expected a JSON object"},
        {J_RESPONSE_FORMAT, "{\"type\":\"json_object\"} x", "response_format_json: invalid JSON"},
        {J_EXTRA_BODY, "[]", "extra_body_json: expected a JSON object"},
        {J_EXTRA_BODY, "{\"n\":}", "extra_body_json: invalid JSON"},
        {J_EXTRA_BODY, "null", "extra_body_json: expected a JSON object"},
        {J_TOOL_CALLS, "{}", "messages[1].tool_calls_json: expected a JSON array"},
        {J_TOOL_CALLS, "[", "messages[1].tool_calls_json: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req_t r;
        req_init(&r);
        req_set_json(&r, cases[i].field, cases[i].value);
        expect_build_error(fx, &r, cases[i].err);
    }
}

static void test_openai_build_extra_body_merged(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 1.0;
    r.req.extra_body_json =
        "{\"logit_bias\":{\"50256\":-100},\"n\":2,\"temperature\":0.25,\"metadata\":null}";
    assert_int_equal(build(fx, &r, true), 0);
    assert_json_equal(buf_cstr(&fx->out),
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}],\"temperature\":0.25,\"logit_bias\":{\"50256\":-100},\"n\":2,"
                      "\"metadata\":null,\"stream\":true,\"stream_options\":{\"include_usage\":"
                      "true}}");
    /* An empty object adds nothing. */
    req_init(&r);
    r.req.extra_body_json = "{}";
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    assert_string_equal(buf_cstr(&fx->out),
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"hi\"}]}");
}

static void test_openai_build_extra_body_may_not_override_reserved_keys(void **state)
{
    fx_t *fx = *state;
    static const char *const cases[][2] = {
        {"{\"model\":\"gpt-4o\"}", "extra_body_json.model: may not be overridden"},
        {"{\"n\":1,\"messages\":[]}", "extra_body_json.messages: may not be overridden"},
        {"{\"stream\":false}", "extra_body_json.stream: may not be overridden"},
        {"{\"stream_options\":{}}", "extra_body_json.stream_options: may not be overridden"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req_t r;
        req_init(&r);
        r.req.extra_body_json = (char *)cases[i][0];
        expect_build_error(fx, &r, cases[i][1]);
        assert_string_equal(fx->err, cases[i][1]);
    }
}

static void test_openai_build_stream_asks_for_usage(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    assert_int_equal(build(fx, &r, true), 0);
    assert_string_equal(buf_cstr(&fx->out),
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"hi\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
}

static void test_openai_build_invalid_utf8_names_field(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.m[1] = msg("user", "caf\xC3");
    r.req.n_messages = 2;
    expect_build_error(fx, &r, "messages[1].content: invalid UTF-8");
    req_init(&r);
    r.req.user = "\xFF";
    expect_build_error(fx, &r, "user: invalid UTF-8");
}

static void test_openai_build_over_buffer_cap_fails_cleanly(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    buf_t small = BUF_INIT(40);
    assert_int_equal(buf_append_str(&small, "ab"), 0);
    assert_int_equal(
        openai_build_chat_request(&r.req, "gpt-4o-mini", false, &small, fx->err, sizeof(fx->err)),
        -1);
    assert_string_equal(fx->err, "request body: exceeds the size cap");
    assert_string_equal(buf_cstr(&small), "ab");
    buf_free(&small);
}

/* How many times `needle` occurs in `hay`. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The request body as a jansson object; duplicate keys anywhere fail. */
static json_t *load_body(fx_t *fx)
{
    json_error_t e;
    json_t *j = json_loads(buf_cstr(&fx->out), JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("body does not load (%s): %s", e.text, buf_cstr(&fx->out));
    return j;
}

/* messages[i].content of the built body, compared after a jansson load. */
static void expect_content_round_trip(fx_t *fx, size_t i, const char *want)
{
    json_t *j = load_body(fx);
    json_t *m = json_array_get(json_object_get(j, "messages"), i);
    const char *got = json_string_value(json_object_get(m, "content"));
    int same = got && strcmp(got, want) == 0;
    json_decref(j);
    if (!same)
        fail_msg("messages[%zu].content did not survive: %s", i, buf_cstr(&fx->out));
}

static void test_openai_build_escapes_strings(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    const char *text = "q\"b\\s/ \b\f\n\r\t\x01\x1f\x7f caf\xC3\xA9 \xE2\x80\xA8 \xF0\x9F\x98\x80";
    r.m[0] = msg("user", text);
    assert_int_equal(build(fx, &r, false), 0);
    /* Short forms where RFC 8259 has them, \u00XX for other controls, the
     * rest (DEL, '/', UTF-8, U+2028) as it is. */
    assert_non_null(
        strstr(buf_cstr(&fx->out),
               "\"content\":\"q\\\"b\\\\s/ \\b\\f\\n\\r\\t\\u0001\\u001f\x7f caf\xC3\xA9 "
               "\xE2\x80\xA8 \xF0\x9F\x98\x80\"}"));
    expect_content_round_trip(fx, 0, text);

    /* Every control character, and escapes at both ends of the text. */
    char all[40];
    size_t n = 0;
    all[n++] = '"';
    for (int c = 1; c < 0x20; c++)
        all[n++] = (char)c;
    all[n++] = '\\';
    all[n] = '\0';
    r.m[0] = msg("user", all);
    r.m[0].name = "n\"ame";
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    expect_content_round_trip(fx, 0, all);
    assert_non_null(strstr(buf_cstr(&fx->out), "\"name\":\"n\\\"ame\""));
}

static void test_openai_build_utf8_checked_in_every_string(void **state)
{
    fx_t *fx = *state;
    static const char *const bad[] = {
        "\xC0\x80",         /* overlong NUL */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\x80",     /* overlong */
        "\xED\xA0\x80",     /* surrogate */
        "\xF0\x80\x80\x80", /* overlong */
        "\xF4\x90\x80\x80", /* past U+10FFFF */
        "\xF5\x80\x80\x80", /* no such lead byte */
        "\x80",             /* lone continuation */
        "\xFF",
        "ab\xF0\x9F\x98", /* truncated at the end */
        "\xE2\x82x",      /* truncated before ASCII */
        "\xC3\xC3\xA9",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req_t r;
        req_init(&r);
        r.m[0] = msg(bad[i], "hi");
        expect_build_error(fx, &r, "messages[0].role: invalid UTF-8");
        r.m[0] = msg("user", "hi");
        r.m[1] = msg("tool", "ok");
        r.m[1].tool_call_id = (char *)bad[i];
        r.req.n_messages = 2;
        expect_build_error(fx, &r, "messages[1].tool_call_id: invalid UTF-8");
        r.m[1].tool_call_id = "c";
        r.m[1].name = (char *)bad[i];
        expect_build_error(fx, &r, "messages[1].name: invalid UTF-8");
        r.m[1].name = NULL;
        char *stop[] = {"ok", (char *)bad[i]};
        r.req.stop = stop;
        r.req.n_stop = 2;
        expect_build_error(fx, &r, "stop[1]: invalid UTF-8");
        r.req.n_stop = 0;
        r.req.model = (char *)bad[i];
        fx->err[0] = '\0';
        assert_int_equal(
            openai_build_chat_request(&r.req, NULL, false, &fx->out, fx->err, sizeof(fx->err)), -1);
        assert_string_equal(fx->err, "model: invalid UTF-8");
    }
    /* The edges of what is valid. */
    static const char *const good[] = {"\xC2\x80",         "\xDF\xBF",         "\xE0\xA0\x80",
                                       "\xED\x9F\xBF",     "\xEE\x80\x80",     "\xEF\xBF\xBF",
                                       "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\x7F"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        req_t r;
        req_init(&r);
        r.m[0] = msg("user", good[i]);
        buf_reset(&fx->out);
        assert_int_equal(build(fx, &r, false), 0);
        expect_content_round_trip(fx, 0, good[i]);
    }
}

/* Every double comes back as the same double, every integer as itself. */
static void test_openai_build_numbers_round_trip(void **state)
{
    fx_t *fx = *state;
    double reals[2048] = {0.7,
                          0.1 + 0.2,
                          0.0,
                          -0.0,
                          1.0,
                          -2.0,
                          100.0,
                          1e21,
                          1e-7,
                          5e-324,
                          1e-300,
                          1.7976931348623157e308,
                          2.2250738585072014e-308,
                          0.25,
                          1e15 + 0.3,
                          123456789.0,
                          9007199254740993.0};
    size_t n = 17;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    while (n < sizeof(reals) / sizeof(reals[0])) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        double d;
        memcpy(&d, &seed, sizeof(d));
        if (isfinite(d))
            reals[n++] = d;
    }
    for (size_t i = 0; i < n; i++) {
        req_t r;
        req_init(&r);
        r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
        r.req.temperature = reals[i];
        buf_reset(&fx->out);
        assert_int_equal(build(fx, &r, false), 0);
        json_t *j = load_body(fx);
        json_t *t = json_object_get(j, "temperature");
        int is_real = json_is_real(t);
        double got = json_real_value(t);
        json_decref(j);
        if (!is_real || got != reals[i] || signbit(got) != signbit(reals[i]))
            fail_msg("%.17g came back as %.17g: %s", reals[i], got, buf_cstr(&fx->out));
    }
    /* Integral reals keep a fraction (jansson's spelling), so they stay reals. */
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 1.0;
    r.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    r.req.frequency_penalty = -0.0;
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    assert_non_null(strstr(buf_cstr(&fx->out), "\"temperature\":1.0,"));
    assert_non_null(strstr(buf_cstr(&fx->out), "\"frequency_penalty\":-0.0}"));

    static const struct {
        int32_t max_tokens;
        int64_t seed;
    } ints[] = {{0, 0}, {-1, -1}, {INT32_MAX, INT64_MAX}, {INT32_MIN, INT64_MIN}, {10, 1000000007}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        req_init(&r);
        r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        r.req.max_tokens = ints[i].max_tokens;
        r.req.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
        r.req.seed = ints[i].seed;
        buf_reset(&fx->out);
        assert_int_equal(build(fx, &r, false), 0);
        json_t *j = load_body(fx);
        json_t *mt = json_object_get(j, "max_tokens"), *sd = json_object_get(j, "seed");
        int ok = json_is_integer(mt) && json_is_integer(sd) &&
                 json_integer_value(mt) == ints[i].max_tokens &&
                 json_integer_value(sd) == ints[i].seed;
        json_decref(j);
        if (!ok)
            fail_msg("integers changed: %s", buf_cstr(&fx->out));
    }
}

/* A member of extra_body_json replaces the builder's own: written once,
 * with extra_body's value. */
static void test_openai_build_extra_body_replaces_members_once(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 1.0;
    r.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    r.req.top_p = 0.5;
    r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.req.max_tokens = 10;
    r.req.seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
    r.req.seed = 1;
    r.req.presence_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY;
    r.req.presence_penalty = 0.1;
    r.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    r.req.frequency_penalty = 0.2;
    char *stop[] = {"x"};
    r.req.stop = stop;
    r.req.n_stop = 1;
    r.req.user = "u";
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    r.req.tool_choice_json = "\"auto\"";
    r.req.response_format_json = "{\"type\":\"json_object\"}";
    r.req.extra_body_json =
        "{\"temperature\":0.25,\"top_p\":null,\"max_tokens\":5,\"seed\":2,"
        "\"presence_penalty\":0,\"frequency_penalty\":1,\"stop\":\"y\",\"user\":\"v\","
        "\"tools\":[],\"tool_choice\":\"none\",\"response_format\":{\"type\":\"text\"}}";
    assert_int_equal(build(fx, &r, false), 0);
    static const char *const keys[] = {"\"temperature\":",
                                       "\"top_p\":",
                                       "\"max_tokens\":",
                                       "\"seed\":",
                                       "\"presence_penalty\":",
                                       "\"frequency_penalty\":",
                                       "\"stop\":",
                                       "\"user\":",
                                       "\"tools\":",
                                       "\"tool_choice\":",
                                       "\"response_format\":"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (count_of(buf_cstr(&fx->out), keys[i]) != 1)
            fail_msg("%s not exactly once: %s", keys[i], buf_cstr(&fx->out));
    assert_json_equal(buf_cstr(&fx->out),
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}],\"temperature\":0.25,\"top_p\":null,\"max_tokens\":5,\"seed\":2,"
                      "\"presence_penalty\":0,\"frequency_penalty\":1,\"stop\":\"y\","
                      "\"user\":\"v\",\"tools\":[],\"tool_choice\":\"none\","
                      "\"response_format\":{\"type\":\"text\"}}");

    /* A key spelled with an escape is the same key. */
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 1.0;
    r.req.extra_body_json = "{\"temp\\u0065rature\":0.3}";
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    json_t *j = load_body(fx);
    double t = json_real_value(json_object_get(j, "temperature"));
    json_decref(j);
    assert_true(t == 0.3);
}

/* Of duplicate keys inside extra_body_json the last one is written, once. */
static void test_openai_build_extra_body_duplicate_keys_last_wins(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.extra_body_json = "{\"n\":1,\"temperature\":0.5,\"n\":2,\"logit_bias\":{},\"n\":3,"
                            "\"temperature\":0.75}";
    assert_int_equal(build(fx, &r, false), 0);
    assert_json_equal(buf_cstr(&fx->out),
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"hi\"}],\"n\":3,\"logit_bias\":{},\"temperature\":0.75}");
    json_decref(load_body(fx));

    /* Many members (the keys are sorted, not compared pairwise). */
    buf_t text = BUF_INIT(1 << 16);
    assert_int_equal(buf_append_str(&text, "{"), 0);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 150; k++)
            assert_int_equal(
                buf_printf(&text, "%s\"k%d\":%d", pass || k ? "," : "", k, pass * 1000 + k), 0);
    assert_int_equal(buf_append_str(&text, ",\"k\\u0037\":-1}"), 0); /* "k7" again */
    r.req.extra_body_json = (char *)buf_cstr(&text);
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    json_t *j = load_body(fx);
    assert_int_equal(json_object_size(j), 2 + 150);
    for (int k = 0; k < 150; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        assert_int_equal(json_integer_value(json_object_get(j, key)), k == 7 ? -1 : 1000 + k);
    }
    json_decref(j);
    buf_free(&text);
}

/* A member extra_body_json replaces is still checked as before. */
static void test_openai_build_replaced_member_still_validated(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = NAN;
    r.req.extra_body_json = "{\"temperature\":1}";
    expect_build_error(fx, &r, "temperature: expected a finite number");
    req_init(&r);
    r.req.tools_json = "[";
    r.req.extra_body_json = "{\"tools\":[]}";
    expect_build_error(fx, &r, "tools_json: invalid JSON");
    req_init(&r);
    r.req.user = "\xFF";
    r.req.extra_body_json = "{\"user\":\"x\"}";
    expect_build_error(fx, &r, "user: invalid UTF-8");
    /* extra_body's own error comes after the fields written before it. */
    req_init(&r);
    r.req.user = "\xFF";
    r.req.extra_body_json = "{\"model\":\"x\"}";
    expect_build_error(fx, &r, "user: invalid UTF-8");
}

static void test_openai_build_open_schema_json_checked_and_compacted(void **state)
{
    fx_t *fx = *state;
    static const struct {
        json_field_t field;
        const char *value;
        const char *err;
    } cases[] = {
        {J_TOOLS, "[1e999]", "tools_json: invalid JSON at line 1 column "},
        {J_TOOLS, "[99999999999999999999]", "tools_json: invalid JSON"},
        {J_TOOLS, "[\"\xFF\"]", "tools_json: invalid JSON"},
        {J_TOOLS, "[\"\\u0000\"]", "tools_json: invalid JSON"},
        {J_TOOL_CHOICE, "\"\\ud800\"", "tool_choice_json: invalid JSON"},
        {J_TOOL_CHOICE, "'auto'", "tool_choice_json: invalid JSON"},
        {J_RESPONSE_FORMAT, "{\"a\":01}", "response_format_json: invalid JSON"},
        {J_EXTRA_BODY, "{\"a\":1e999}", "extra_body_json: invalid JSON"},
        {J_EXTRA_BODY, "{\"a\":1,}", "extra_body_json: invalid JSON"},
        {J_CONTENT_PARTS, "{}", "messages[0].content_parts_json: expected a JSON array"},
        {J_CONTENT_PARTS, "[] []", "messages[0].content_parts_json: invalid JSON"},
        {J_CONTENT_PARTS, "[{\"type\":\"text\",\"text\":\"a\tb\"}]",
         "messages[0].content_parts_json: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req_t r;
        req_init(&r);
        req_set_json(&r, cases[i].field, cases[i].value);
        expect_build_error(fx, &r, cases[i].err);
    }

    /* Content parts: passed on compacted, strings and escapes as spelled. */
    req_t r;
    req_init(&r);
    r.m[0].content_parts_json = " [ {\"type\" : \"text\",\n \"text\":\"a b\\u00e9\"} ,\r\n"
                                "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]\t";
    buf_reset(&fx->out);
    assert_int_equal(build(fx, &r, false), 0);
    assert_string_equal(buf_cstr(&fx->out),
                        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                        "[{\"type\":\"text\",\"text\":\"a b\\u00e9\"},{\"type\":\"image_url\","
                        "\"image_url\":{\"url\":\"x\"}}]}]}");
    json_decref(load_body(fx));
}

/* Every cap short of the body fails cleanly; the exact one succeeds, also
 * when a *_json field fits only once its whitespace is gone. */
static void test_openai_build_every_cap_short_of_the_body_fails_cleanly(void **state)
{
    fx_t *fx = *state;
    req_t r;
    req_init(&r);
    r.m[1] = msg("assistant", "");
    r.m[1].tool_calls_json = "[ {\"id\":\"c\", \"type\":\"function\"} ]";
    r.m[2] = msg("tool", "o\"k\n");
    r.m[2].tool_call_id = "c";
    r.req.n_messages = 3;
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.7;
    /* Much longer spelled than compacted: at the exact cap it does not fit
     * as spelled. */
    char tools[300];
    memset(tools, ' ', sizeof(tools));
    tools[0] = '[';
    tools[sizeof(tools) - 2] = ']';
    tools[sizeof(tools) - 1] = '\0';
    r.req.tools_json = tools;
    r.req.extra_body_json = "{\"n\" : 2 , \"logit_bias\" : { } }";
    assert_int_equal(build(fx, &r, true), 0);
    char *want = strdup(buf_cstr(&fx->out));
    assert_non_null(want);
    size_t len = strlen(want);
    for (size_t cap = 0; cap <= len + 2; cap++) {
        buf_t small = BUF_INIT(cap);
        int rc = cap >= 2 ? buf_append_str(&small, "ab") : 0;
        assert_int_equal(rc, 0);
        rc = openai_build_chat_request(&r.req, "gpt-4o-mini", true, &small, fx->err,
                                       sizeof(fx->err));
        if (cap < len + 2) {
            assert_int_equal(rc, -1);
            assert_string_equal(fx->err, "request body: exceeds the size cap");
            assert_string_equal(buf_cstr(&small), cap >= 2 ? "ab" : "");
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(buf_cstr(&small) + 2, want);
        }
        buf_free(&small);
    }
    free(want);
}

/* A small xorshift generator, so the loop below is the same on every run. */
static uint64_t rnd_state = 88172645463325252u;
static uint32_t rnd(uint32_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state % n);
}

/* Random well-formed text: ASCII, controls, quotes, backslashes, UTF-8. */
static void rnd_text(char *dst, size_t room)
{
    static const char *const pieces[] = {"a",
                                         " ",
                                         "\"",
                                         "\\",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "/",
                                         "\x7f",
                                         "\xC3\xA9",
                                         "\xE2\x80\xA8",
                                         "\xF0\x9F\x98\x80",
                                         "\xEF\xBF\xBF",
                                         "\\u0000",
                                         "{}",
                                         "Z"};
    size_t n = 0, want = rnd(24);
    for (size_t i = 0; i < want; i++) {
        const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l + 1 > room)
            break;
        memcpy(dst + n, p, l);
        n += l;
    }
    dst[n] = '\0';
}

/* Whatever the request, the body loads with jansson (no duplicate keys) and
 * gives back the strings and numbers it was built from. */
static void test_openai_build_output_always_loads(void **state)
{
    fx_t *fx = *state;
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    static const char *const extras[] = {NULL,
                                         "{}",
                                         "{\"n\":2}",
                                         "{\"temperature\":0.5,\"n\":1,\"n\":2}",
                                         "{\"stop\":[\"s\"],\"user\":\"e\",\"seed\":3}",
                                         "{ \"logit_bias\" : {\"1\" : -100} }"};
    for (int iter = 0; iter < 3000; iter++) {
        req_t r;
        char texts[4][128], names[4][32], model[64], stop0[32], user[32];
        req_init(&r);
        rnd_text(model, sizeof(model));
        r.req.model = model;
        r.req.n_messages = rnd(5);
        for (size_t i = 0; i < r.req.n_messages; i++) {
            rnd_text(texts[i], sizeof(texts[i]));
            r.m[i] = msg(roles[rnd(4)], texts[i]);
            if (rnd(3) == 0) {
                rnd_text(names[i], sizeof(names[i]));
                r.m[i].name = names[i];
            }
            if (rnd(4) == 0)
                r.m[i].tool_calls_json = "[{\"id\":\"c\",\"type\":\"function\"}]";
        }
        bool has_t = rnd(2);
        if (has_t) {
            r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
            r.req.temperature = (double)rnd(2000001) / 1000.0 - 1000.0;
        }
        if (rnd(2)) {
            r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
            r.req.max_tokens = (int32_t)rnd(100000) - 50000;
        }
        char *stop[] = {stop0, "END"};
        if (rnd(2)) {
            rnd_text(stop0, sizeof(stop0));
            r.req.stop = stop;
            r.req.n_stop = 1 + rnd(2);
        }
        if (rnd(2)) {
            rnd_text(user, sizeof(user));
            r.req.user = user;
        }
        if (rnd(3) == 0)
            r.req.tools_json = " [ { \"type\" : \"function\" } ] ";
        const char *extra = extras[rnd(sizeof(extras) / sizeof(extras[0]))];
        r.req.extra_body_json = (char *)extra;
        bool stream = rnd(2);
        buf_reset(&fx->out);
        fx->err[0] = '\0';
        if (openai_build_chat_request(&r.req, NULL, stream, &fx->out, fx->err, sizeof(fx->err)) < 0)
            fail_msg("iteration %d: %s", iter, fx->err);
        json_t *j = load_body(fx);
        int ok = strcmp(json_string_value(json_object_get(j, "model")), model) == 0;
        json_t *msgs = json_object_get(j, "messages");
        ok = ok && json_array_size(msgs) == r.req.n_messages;
        for (size_t i = 0; ok && i < r.req.n_messages; i++) {
            json_t *c = json_object_get(json_array_get(msgs, i), "content");
            ok = json_is_null(c) || strcmp(json_string_value(c), texts[i]) == 0;
        }
        bool t_replaced = extra && strstr(extra, "temperature");
        if (ok && has_t && !t_replaced)
            ok = json_real_value(json_object_get(j, "temperature")) == r.req.temperature;
        json_decref(j);
        if (!ok)
            fail_msg("iteration %d: values changed: %s", iter, buf_cstr(&fx->out));
    }
}

/* ------------------------------------------------------------------------ */
/* Completions from fixtures                                                 */

static void test_openai_parse_fixture_chat_completion(void **state)
{
    fx_t *fx = *state;
    size_t len;
    char *body = openai_fixture("chat_completion.json", &len);
    Llmgw__V1__ChatResponse *r = NULL;
    int rc = openai_parse_chat_response(body, len, fx->arena, &r, fx->err, sizeof(fx->err));
    free(body);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    assert_string_equal(r->id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_string_equal(r->model, "gpt-4o-2024-08-06");
    assert_int_equal(r->created, 1741569952);
    assert_string_equal(r->provider, "");
    assert_int_equal(r->n_choices, 1);
    assert_int_equal(r->choices[0]->index, 0);
    assert_string_equal(r->choices[0]->message->role, "assistant");
    assert_string_equal(r->choices[0]->message->content, "Hello! How can I assist you today?");
    assert_string_equal(r->choices[0]->message->tool_calls_json, "");
    assert_string_equal(r->choices[0]->finish_reason, "stop");
    assert_non_null(r->usage);
    assert_int_equal(r->usage->prompt_tokens, 19);
    assert_int_equal(r->usage->completion_tokens, 10);
    assert_int_equal(r->usage->total_tokens, 29);

    /* Every message is a valid protobuf: it packs. */
    size_t packed = llmgw__v1__chat_response__get_packed_size(r);
    assert_true(packed > 0);
}

static void test_openai_parse_fixture_tool_calls(void **state)
{
    fx_t *fx = *state;
    size_t len;
    char *body = openai_fixture("chat_completion_tool_calls.json", &len);
    Llmgw__V1__ChatResponse *r = NULL;
    int rc = openai_parse_chat_response(body, len, fx->arena, &r, fx->err, sizeof(fx->err));
    free(body);
    assert_int_equal(rc, 0);
    assert_int_equal(r->n_choices, 1);
    Llmgw__V1__Message *m = r->choices[0]->message;
    assert_string_equal(m->content, "");
    assert_string_equal(m->tool_calls_json,
                        "[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{\"name\":"
                        "\"get_current_weather\",\"arguments\":\"{\\n\\\"location\\\": "
                        "\\\"Boston, MA\\\"\\n}\"}}]");
    assert_string_equal(r->choices[0]->finish_reason, "tool_calls");
    assert_int_equal(r->usage->prompt_tokens, 82);
    assert_int_equal(r->usage->completion_tokens, 17);
    assert_int_equal(r->usage->total_tokens, 99);
}

static void test_openai_parse_error_bodies_report_provider_message(void **state)
{
    fx_t *fx = *state;
    static const char *const cases[][2] = {
        {"error_invalid_api_key.json", "error: Incorrect API key provided"},
        {"error_rate_limit.json", "error: Rate limit reached"},
        {"error_invalid_request.json", "error: Invalid type for 'messages[0].content'"},
        {"error_server.json", "error: The server had an error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *body = openai_fixture(cases[i][0], &len);
        Llmgw__V1__ChatResponse *r = NULL;
        int rc = openai_parse_chat_response(body, len, fx->arena, &r, fx->err, sizeof(fx->err));
        free(body);
        assert_int_equal(rc, -1);
        if (strncmp(fx->err, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("%s: err \"%s\"", cases[i][0], fx->err);
        /* The same body as a stream chunk. */
        body = openai_fixture(cases[i][0], &len);
        Llmgw__V1__ChatChunk *c = NULL;
        rc = openai_parse_chat_chunk(body, len, fx->arena, &c, fx->err, sizeof(fx->err));
        free(body);
        assert_int_equal(rc, -1);
        assert_int_equal(strncmp(fx->err, cases[i][1], strlen(cases[i][1])), 0);
    }
}

/* ------------------------------------------------------------------------ */
/* Streams from fixtures, through the SSE parser                             */

typedef struct {
    fx_t *fx;
    buf_t content;
    buf_t tool_calls; /* each delta's tool_calls_json, one per line */
    char role[32];
    char finish[32];
    char id[64];
    int chunks;
    int chunks_with_usage;
    bool done;
    bool event_after_done;
    Llmgw__V1__Usage usage;
} stream_t;

static int on_stream_event(void *ud, const char *event, const char *data, size_t len)
{
    stream_t *s = ud;
    if (s->done)
        s->event_after_done = true;
    if (openai_is_done_marker(data, len)) {
        s->done = true;
        return 0;
    }
    Llmgw__V1__ChatChunk *c = NULL;
    if (openai_parse_chat_chunk(data, len, s->fx->arena, &c, s->fx->err, sizeof(s->fx->err)) < 0)
        return 1;
    s->chunks++;
    snprintf(s->id, sizeof(s->id), "%s", c->id);
    for (size_t i = 0; i < c->n_choices; i++) {
        Llmgw__V1__Message *d = c->choices[i]->delta;
        if (d->role[0])
            snprintf(s->role, sizeof(s->role), "%s", d->role);
        if (buf_append_str(&s->content, d->content) < 0)
            return 1;
        if (d->tool_calls_json[0] && (buf_append_str(&s->tool_calls, d->tool_calls_json) < 0 ||
                                      buf_append_char(&s->tool_calls, '\n') < 0))
            return 1;
        if (c->choices[i]->finish_reason[0])
            snprintf(s->finish, sizeof(s->finish), "%s", c->choices[i]->finish_reason);
    }
    if (c->usage) {
        s->chunks_with_usage++;
        s->usage = *c->usage;
    }
    return 0;
}

/* Parses a fixture stream fed `step` bytes at a time. */
static void run_stream(fx_t *fx, const char *name, size_t step, stream_t *s)
{
    memset(s, 0, sizeof(*s));
    s->fx = fx;
    buf_init(&s->content, 1 << 16);
    buf_init(&s->tool_calls, 1 << 16);
    size_t len;
    char *bytes = openai_fixture(name, &len);
    sse_parser_t *p = sse_parser_new(1 << 16);
    assert_non_null(p);
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += step)
        rc = sse_parser_feed(p, bytes + at, len - at < step ? len - at : step, on_stream_event, s);
    bool partial = sse_parser_has_partial(p);
    sse_parser_free(p);
    free(bytes);
    if (rc != 0)
        fail_msg("%s: stream failed (%d): %s", name, rc, fx->err);
    assert_false(partial);
}

static void stream_free(stream_t *s)
{
    buf_free(&s->content);
    buf_free(&s->tool_calls);
}

static void test_openai_stream_fixture_text(void **state)
{
    fx_t *fx = *state;
    size_t steps[] = {1 << 16, 1, 7};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        stream_t s;
        run_stream(fx, "chat_stream.sse", steps[i], &s);
        assert_string_equal(buf_cstr(&s.content), "Hello! How can I help?");
        assert_string_equal(s.role, "assistant");
        assert_string_equal(s.finish, "stop");
        assert_string_equal(s.id, "chatcmpl-123");
        assert_int_equal(s.chunks, 5);
        assert_int_equal(s.chunks_with_usage, 0);
        assert_true(s.done);
        assert_false(s.event_after_done);
        stream_free(&s);
    }
}

static void test_openai_stream_fixture_include_usage(void **state)
{
    fx_t *fx = *state;
    stream_t s;
    run_stream(fx, "chat_stream_include_usage.sse", 13, &s);
    assert_string_equal(buf_cstr(&s.content), "Hi");
    assert_string_equal(s.finish, "length");
    assert_int_equal(s.chunks, 4);
    /* "usage": null on the first three chunks does not count as usage. */
    assert_int_equal(s.chunks_with_usage, 1);
    assert_int_equal(s.usage.prompt_tokens, 9);
    assert_int_equal(s.usage.completion_tokens, 1);
    assert_int_equal(s.usage.total_tokens, 10);
    assert_true(s.done);
    stream_free(&s);
}

static void test_openai_stream_fixture_tool_calls(void **state)
{
    fx_t *fx = *state;
    stream_t s;
    run_stream(fx, "chat_stream_tool_calls.sse", 1 << 16, &s);
    assert_string_equal(buf_cstr(&s.content), "");
    assert_string_equal(s.finish, "tool_calls");
    assert_string_equal(
        buf_cstr(&s.tool_calls),
        "[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]\n"
        "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"location\\\":\"}}]\n"
        "[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]\n");
    stream_free(&s);
}

/* ------------------------------------------------------------------------ */
/* Tolerated variations                                                      */

static Llmgw__V1__ChatResponse *parse_ok(fx_t *fx, const char *body)
{
    Llmgw__V1__ChatResponse *r = NULL;
    if (openai_parse_chat_response(body, strlen(body), fx->arena, &r, fx->err, sizeof(fx->err)) < 0)
        fail_msg("%s: %s", body, fx->err);
    assert_non_null(r);
    return r;
}

static Llmgw__V1__ChatChunk *chunk_ok(fx_t *fx, const char *data)
{
    Llmgw__V1__ChatChunk *c = NULL;
    if (openai_parse_chat_chunk(data, strlen(data), fx->arena, &c, fx->err, sizeof(fx->err)) < 0)
        fail_msg("%s: %s", data, fx->err);
    assert_non_null(c);
    return c;
}

static void test_openai_parse_minimal_response_defaults(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r = parse_ok(fx, "{\"choices\":[]}");
    assert_string_equal(r->id, "");
    assert_string_equal(r->model, "");
    assert_int_equal(r->created, 0);
    assert_int_equal(r->n_choices, 0);
    assert_non_null(r->usage);
    assert_int_equal(r->usage->prompt_tokens, 0);
    assert_int_equal(r->usage->completion_tokens, 0);
    assert_int_equal(r->usage->total_tokens, 0);

    r = parse_ok(fx, "{\"id\":null,\"choices\":[{\"message\":{\"content\":null},"
                     "\"finish_reason\":null}],\"usage\":null}");
    assert_int_equal(r->n_choices, 1);
    assert_int_equal(r->choices[0]->index, 0);
    assert_string_equal(r->choices[0]->message->role, "assistant");
    assert_string_equal(r->choices[0]->message->content, "");
    assert_string_equal(r->choices[0]->finish_reason, "");
    assert_int_equal(r->usage->total_tokens, 0);
}

static void test_openai_parse_usage_total_computed_and_integral_reals(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r =
        parse_ok(fx, "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30}}");
    assert_int_equal(r->usage->total_tokens, 42);
    r = parse_ok(fx, "{\"choices\":[],\"created\":1.7e9,\"usage\":{\"prompt_tokens\":12.0,"
                     "\"completion_tokens\":3,\"total_tokens\":15.0}}");
    assert_int_equal(r->created, 1700000000);
    assert_int_equal(r->usage->prompt_tokens, 12);
    assert_int_equal(r->usage->total_tokens, 15);
}

static void test_openai_parse_several_choices_keep_their_index(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r =
        parse_ok(fx, "{\"choices\":[{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":"
                     "\"b\"}},{\"index\":0,\"message\":{\"content\":\"a\"},\"finish_reason\":"
                     "\"length\"}]}");
    assert_int_equal(r->n_choices, 2);
    assert_int_equal(r->choices[0]->index, 1);
    assert_string_equal(r->choices[0]->message->content, "b");
    assert_int_equal(r->choices[1]->index, 0);
    assert_string_equal(r->choices[1]->finish_reason, "length");
}

static void test_openai_parse_unicode_content_kept(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r = parse_ok(
        fx, "{\"choices\":[{\"message\":{\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"}}]}");
    assert_string_equal(r->choices[0]->message->content, "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\"");
}

static void test_openai_chunk_variants(void **state)
{
    fx_t *fx = *state;
    /* Empty delta with finish_reason. */
    Llmgw__V1__ChatChunk *c =
        chunk_ok(fx, "{\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                     "\"stop\"}]}");
    assert_int_equal(c->n_choices, 1);
    assert_string_equal(c->choices[0]->delta->role, "");
    assert_string_equal(c->choices[0]->delta->content, "");
    assert_string_equal(c->choices[0]->finish_reason, "stop");
    assert_null(c->usage);

    /* Delta missing or null. */
    c = chunk_ok(fx, "{\"choices\":[{\"index\":2,\"finish_reason\":\"content_filter\"}]}");
    assert_int_equal(c->choices[0]->index, 2);
    assert_non_null(c->choices[0]->delta);
    c = chunk_ok(fx, "{\"choices\":[{\"delta\":null}]}");
    assert_non_null(c->choices[0]->delta);

    /* Usage-only chunks: choices empty (OpenAI), null or absent (vLLM). */
    const char *usage_only[] = {
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"choices\":null,\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
        "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}",
    };
    for (size_t i = 0; i < 3; i++) {
        c = chunk_ok(fx, usage_only[i]);
        assert_int_equal(c->n_choices, 0);
        assert_non_null(c->usage);
        assert_int_equal(c->usage->total_tokens, 3);
    }

    /* "usage": null leaves usage unset. */
    c = chunk_ok(fx, "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}");
    assert_null(c->usage);
    assert_string_equal(c->choices[0]->delta->content, "x");
}

/* jansson semantics kept by the scanner: the last of duplicate keys wins,
 * keys compare decoded, and JSON kept as text is compact. */
static void test_openai_parse_duplicate_and_escaped_keys_like_jansson(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r =
        parse_ok(fx, "{\"id\":5,\"id\":\"x\",\"mo\\u0064el\":\"m\",\"choices\":[{\"message\":"
                     "{\"content\":\"a\",\"content\":null}}],\"usage\":{\"prompt_tokens\":-1,"
                     "\"prompt_tokens\":2}}");
    assert_string_equal(r->id, "x");
    assert_string_equal(r->model, "m");
    assert_string_equal(r->choices[0]->message->content, "");
    assert_int_equal(r->usage->prompt_tokens, 2);
    assert_int_equal(r->usage->total_tokens, 2);
}

static void test_openai_parse_extensions_are_compact_json(void **state)
{
    fx_t *fx = *state;
    Llmgw__V1__ChatResponse *r = parse_ok(
        fx, "{ \"choices\" : [ ] , \"a\" : 1 , \"b\" : null, \"a\" : { \"k\" : [ 1 , \" x \" ] },"
            " \"\\u0061\": 3, \"service_tier\": \"default\", \"usage\": { \"prompt_tokens\": 1,"
            " \"prompt_tokens_details\": { \"cached_tokens\": 0 }, \"z\": null } }");
    /* "a" three times: only the last (spelled escaped) is kept, where it
     * stands; nulls are dropped. */
    assert_string_equal(r->extensions_json,
                        "{\"openai\":{\"\\u0061\":3,\"service_tier\":\"default\",\"usage\":{"
                        "\"prompt_tokens_details\":{\"cached_tokens\":0}}}}");
    assert_json_equal(r->extensions_json,
                      "{\"openai\":{\"a\":3,\"service_tier\":\"default\",\"usage\":{"
                      "\"prompt_tokens_details\":{\"cached_tokens\":0}}}}");
    assert_null(strchr(r->extensions_json, ' '));

    size_t len;
    char *body = openai_fixture("chat_completion_tool_calls.json", &len);
    r = NULL;
    int rc = openai_parse_chat_response(body, len, fx->arena, &r, fx->err, sizeof(fx->err));
    free(body);
    assert_int_equal(rc, 0);
    assert_json_equal(r->extensions_json,
                      "{\"openai\":{\"usage\":{\"completion_tokens_details\":{\"reasoning_tokens\":"
                      "0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}}");
    assert_null(strchr(r->extensions_json, ' '));
    assert_null(strchr(r->extensions_json, '\n'));
}

/* ------------------------------------------------------------------------ */
/* Malformed input                                                           */

static void test_openai_parse_response_malformed(void **state)
{
    fx_t *fx = *state;
    static const char *const cases[][2] = {
        {"", "response body: invalid JSON"},
        {"not json", "response body: invalid JSON at line 1 column "},
        {"{\"choices\":[", "response body: invalid JSON"},
        {"{\"choices\":[]} trailing", "response body: invalid JSON"},
        {"[]", "response body: expected a JSON object"},
        {"\"choices\"", "response body: invalid JSON"},
        {"{}", "choices: expected an array"},
        {"{\"choices\":null}", "choices: expected an array"},
        {"{\"choices\":{}}", "choices: expected an array"},
        {"{\"choices\":\"[]\"}", "choices: expected an array"},
        {"{\"choices\":[1]}", "choices[0]: expected an object"},
        {"{\"choices\":[null]}", "choices[0]: expected an object"},
        {"{\"choices\":[{}]}", "choices[0].message: expected an object"},
        {"{\"choices\":[{\"message\":null}]}", "choices[0].message: expected an object"},
        {"{\"choices\":[{\"message\":\"hi\"}]}", "choices[0].message: expected an object"},
        {"{\"choices\":[{\"message\":{\"content\":5}}]}",
         "choices[0].message.content: expected a string"},
        {"{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\"}]}}]}",
         "choices[0].message.content: expected a string"},
        {"{\"choices\":[{\"message\":{\"content\":false}}]}",
         "choices[0].message.content: expected a string"},
        {"{\"choices\":[{\"message\":{\"role\":1}}]}",
         "choices[0].message.role: expected a string"},
        {"{\"choices\":[{\"message\":{\"tool_calls\":{}}}]}",
         "choices[0].message.tool_calls: expected an array"},
        {"{\"choices\":[{\"message\":{\"tool_calls\":\"[]\"}}]}",
         "choices[0].message.tool_calls: expected an array"},
        {"{\"choices\":[{\"message\":{},\"finish_reason\":1}]}",
         "choices[0].finish_reason: expected a string"},
        {"{\"choices\":[{\"message\":{},\"index\":\"0\"}]}",
         "choices[0].index: expected an integer"},
        {"{\"choices\":[{\"message\":{},\"index\":1.5}]}", "choices[0].index: expected an integer"},
        {"{\"choices\":[{\"message\":{}},{\"message\":{\"content\":{}}}]}",
         "choices[1].message.content: expected a string"},
        {"{\"id\":5,\"choices\":[]}", "id: expected a string"},
        {"{\"model\":[],\"choices\":[]}", "model: expected a string"},
        {"{\"created\":\"1700000000\",\"choices\":[]}", "created: expected an integer"},
        {"{\"created\":true,\"choices\":[]}", "created: expected an integer"},
        {"{\"choices\":[],\"usage\":[]}", "usage: expected an object"},
        {"{\"choices\":[],\"usage\":7}", "usage: expected an object"},
        {"{\"choices\":[],\"usage\":{\"prompt_tokens\":\"1\"}}",
         "usage.prompt_tokens: expected an integer"},
        {"{\"choices\":[],\"usage\":{\"completion_tokens\":{}}}",
         "usage.completion_tokens: expected an integer"},
        {"{\"choices\":[],\"usage\":{\"total_tokens\":0.5}}",
         "usage.total_tokens: expected an integer"},
        {"{\"choices\":[],\"usage\":{\"completion_tokens\":-1}}",
         "usage.completion_tokens: expected a non-negative integer"},
        {"{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}", "error: boom"},
        {"{\"error\":\"overloaded\"}", "error: overloaded"},
        {"{\"error\":{\"code\":500}}", "error: upstream sent an error object"},
        {"{\"choices\":[{\"message\":{\"content\":\"a\\u0000b\"}}]}",
         "response body: invalid JSON"},
        /* Numbers jansson cannot hold fail the body as they did with jansson,
         * so kept text (extensions_json) always loads again. */
        {"{\"choices\":[],\"x\":1e400}", "response body: invalid JSON"},
        {"{\"choices\":[],\"created\":99999999999999999999}", "response body: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Llmgw__V1__ChatResponse *r = NULL;
        fx->err[0] = '\0';
        int rc = openai_parse_chat_response(cases[i][0], strlen(cases[i][0]), fx->arena, &r,
                                            fx->err, sizeof(fx->err));
        if (rc != -1 || strncmp(fx->err, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("body %s: rc=%d err \"%s\", want \"%s\"", cases[i][0], rc, fx->err,
                     cases[i][1]);
        assert_null(r);
    }
}

static void test_openai_parse_chunk_malformed(void **state)
{
    fx_t *fx = *state;
    static const char *const cases[][2] = {
        {"", "chunk: invalid JSON"},
        {"[DONE]", "chunk: invalid JSON"},
        {"{\"choices\":[]", "chunk: invalid JSON"},
        {"42", "chunk: invalid JSON"},
        {"[{}]", "chunk: expected a JSON object"},
        {"{}", "choices: expected an array"},
        {"{\"choices\":\"x\"}", "choices: expected an array"},
        {"{\"choices\":{},\"usage\":{}}", "choices: expected an array"},
        {"{\"choices\":[[]]}", "choices[0]: expected an object"},
        {"{\"choices\":[{\"delta\":[]}]}", "choices[0].delta: expected an object"},
        {"{\"choices\":[{\"delta\":\"x\"}]}", "choices[0].delta: expected an object"},
        {"{\"choices\":[{\"delta\":{\"content\":1}}]}",
         "choices[0].delta.content: expected a string"},
        {"{\"choices\":[{\"delta\":{\"role\":false}}]}",
         "choices[0].delta.role: expected a string"},
        {"{\"choices\":[{\"delta\":{\"tool_calls\":\"x\"}}]}",
         "choices[0].delta.tool_calls: expected an array"},
        {"{\"choices\":[{\"delta\":{},\"finish_reason\":{}}]}",
         "choices[0].finish_reason: expected a string"},
        {"{\"choices\":[{\"delta\":{},\"index\":null},{\"index\":[]}]}",
         "choices[1].index: expected an integer"},
        {"{\"id\":[],\"choices\":[]}", "id: expected a string"},
        {"{\"model\":1,\"choices\":[]}", "model: expected a string"},
        {"{\"created\":\"now\",\"choices\":[]}", "created: expected an integer"},
        {"{\"choices\":[],\"usage\":\"x\"}", "usage: expected an object"},
        {"{\"choices\":[],\"usage\":{\"total_tokens\":\"3\"}}",
         "usage.total_tokens: expected an integer"},
        {"{\"choices\":[],\"usage\":{\"prompt_tokens\":-4}}",
         "usage.prompt_tokens: expected a non-negative integer"},
        {"{\"error\":{\"message\":\"overloaded\"}}", "error: overloaded"},
        {"{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":9223372036854775808}]}}]}",
         "chunk: invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Llmgw__V1__ChatChunk *c = NULL;
        fx->err[0] = '\0';
        int rc = openai_parse_chat_chunk(cases[i][0], strlen(cases[i][0]), fx->arena, &c, fx->err,
                                         sizeof(fx->err));
        if (rc != -1 || strncmp(fx->err, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("chunk %s: rc=%d err \"%s\", want \"%s\"", cases[i][0], rc, fx->err,
                     cases[i][1]);
        assert_null(c);
    }
}

static void test_openai_parse_reads_only_len_bytes(void **state)
{
    fx_t *fx = *state;
    /* The valid object is followed by bytes outside len, and by a NUL
     * inside len in the second case. */
    const char text[] = "{\"choices\":[]}garbage";
    Llmgw__V1__ChatChunk *c = NULL;
    assert_int_equal(openai_parse_chat_chunk(text, 14, fx->arena, &c, fx->err, sizeof(fx->err)), 0);
    const char nul[] = "{\"choices\":[]}\0";
    c = NULL;
    assert_int_equal(
        openai_parse_chat_chunk(nul, sizeof(nul) - 1, fx->arena, &c, fx->err, sizeof(fx->err)), -1);
    assert_null(c);
}

static void test_openai_done_marker(void **state)
{
    assert_true(openai_is_done_marker("[DONE]", 6));
    assert_true(openai_is_done_marker(" [DONE]\r\n", 9));
    assert_false(openai_is_done_marker("[DONE]", 5));
    assert_false(openai_is_done_marker("[DONE]x", 7));
    assert_false(openai_is_done_marker("[done]", 6));
    assert_false(openai_is_done_marker("", 0));
    assert_false(openai_is_done_marker("{\"choices\":[]}", 14));
    assert_false(openai_is_done_marker(NULL, 0));
}

/* ------------------------------------------------------------------------ */
/* Allocation failure                                                        */

static void test_openai_parse_fails_cleanly_when_arena_runs_out(void **state)
{
    fx_t *fx = *state;
    size_t len;
    char *body = openai_fixture("chat_completion_tool_calls.json", &len);
    Llmgw__V1__ChatResponse *r = NULL;
    assert_int_equal(openai_parse_chat_response(body, len, fx->arena, &r, fx->err, sizeof(fx->err)),
                     0);
    size_t need = arena_used(fx->arena);
    assert_true(need > 0);
    /* Every limit below what the parse needs fails with a message; ASan
     * checks that no jansson tree leaks on the way out. */
    for (size_t limit = 1; limit < need; limit++) {
        arena_t *a = arena_new(limit);
        assert_non_null(a);
        r = NULL;
        fx->err[0] = '\0';
        int rc = openai_parse_chat_response(body, len, a, &r, fx->err, sizeof(fx->err));
        arena_free(a);
        if (rc != -1 || !strstr(fx->err, "out of memory")) {
            free(body);
            fail_msg("limit %zu of %zu: rc=%d err \"%s\"", limit, need, rc, fx->err);
        }
    }
    arena_t *a = arena_new(need);
    assert_non_null(a);
    int rc = openai_parse_chat_response(body, len, a, &r, fx->err, sizeof(fx->err));
    arena_free(a);
    free(body);
    assert_int_equal(rc, 0);
}

/* jansson allocations fail from the fail_at-th on (counting from 0). */
static long json_allocs;
static long json_fail_at;

static void *failing_malloc(size_t n)
{
    if (json_allocs++ >= json_fail_at)
        return NULL;
    return malloc(n);
}

static int build_full_request(fx_t *fx)
{
    req_t r;
    req_init(&r);
    r.m[1] = msg("assistant", "");
    r.m[1].tool_calls_json = "[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                             "\"arguments\":\"{}\"}}]";
    r.m[1].name = "bot";
    r.m[2] = msg("tool", "ok");
    r.m[2].tool_call_id = "c";
    r.req.n_messages = 3;
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.5;
    r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.req.max_tokens = 9;
    char *stop[] = {"x"};
    r.req.stop = stop;
    r.req.n_stop = 1;
    r.req.user = "u";
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    r.req.tool_choice_json = "\"auto\"";
    r.req.response_format_json = "{\"type\":\"text\"}";
    r.req.extra_body_json = "{\"n\":1,\"logit_bias\":{\"1\":2}}";
    buf_reset(&fx->out);
    int rc = build(fx, &r, true);
    if (rc < 0 && fx->out.len != 0)
        fail_msg("failed build left %zu bytes", fx->out.len);
    return rc;
}

/* The body is written directly, not through a jansson tree: with every
 * jansson allocation failing, the full request still builds. */
static void test_openai_build_needs_no_jansson_allocation(void **state)
{
    fx_t *fx = *state;
    json_allocs = 0;
    json_fail_at = 0;
    json_set_alloc_funcs(failing_malloc, free);
    int rc = build_full_request(fx);
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(rc, 0);
    assert_int_equal(json_allocs, 0);
    assert_non_null(strstr(buf_cstr(&fx->out), "\"logit_bias\":{\"1\":2}"));
}

static int parse_fixture_response(fx_t *fx)
{
    static const char body[] =
        "{\"id\":\"a\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
        "\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}";
    Llmgw__V1__ChatResponse *r = NULL;
    return openai_parse_chat_response(body, sizeof(body) - 1, fx->arena, &r, fx->err,
                                      sizeof(fx->err));
}

static int parse_fixture_chunk(fx_t *fx)
{
    static const char data[] = "{\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                               "\"x\",\"tool_calls\":[{\"index\":0}]},\"finish_reason\":null}],"
                               "\"usage\":{\"prompt_tokens\":1}}";
    Llmgw__V1__ChatChunk *c = NULL;
    return openai_parse_chat_chunk(data, sizeof(data) - 1, fx->arena, &c, fx->err, sizeof(fx->err));
}

/* Answers are read with jscan, not jansson: with every jansson allocation
 * failing, parsing still succeeds (arena exhaustion is tested above). */
static void test_openai_parse_needs_no_jansson_allocation(void **state)
{
    fx_t *fx = *state;
    json_allocs = 0;
    json_fail_at = 0;
    json_set_alloc_funcs(failing_malloc, free);
    int rc_response = parse_fixture_response(fx);
    int rc_chunk = parse_fixture_chunk(fx);
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(rc_response, 0);
    assert_int_equal(rc_chunk, 0);
    assert_int_equal(json_allocs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_openai_build_minimal_request_is_compact),
        FX_TEST(test_openai_build_uses_request_model_without_upstream_model),
        FX_TEST(test_openai_build_appends_to_buffer),
        FX_TEST(test_openai_build_sampling_fields_only_when_set),
        FX_TEST(test_openai_build_real_survives_round_trip),
        FX_TEST(test_openai_build_non_finite_number_refused),
        FX_TEST(test_openai_build_message_optional_members),
        FX_TEST(test_openai_build_json_fields_embedded),
        FX_TEST(test_openai_build_invalid_json_fields_refused),
        FX_TEST(test_openai_build_extra_body_merged),
        FX_TEST(test_openai_build_extra_body_may_not_override_reserved_keys),
        FX_TEST(test_openai_build_stream_asks_for_usage),
        FX_TEST(test_openai_build_invalid_utf8_names_field),
        FX_TEST(test_openai_build_over_buffer_cap_fails_cleanly),
        FX_TEST(test_openai_build_escapes_strings),
        FX_TEST(test_openai_build_utf8_checked_in_every_string),
        FX_TEST(test_openai_build_numbers_round_trip),
        FX_TEST(test_openai_build_extra_body_replaces_members_once),
        FX_TEST(test_openai_build_extra_body_duplicate_keys_last_wins),
        FX_TEST(test_openai_build_replaced_member_still_validated),
        FX_TEST(test_openai_build_open_schema_json_checked_and_compacted),
        FX_TEST(test_openai_build_every_cap_short_of_the_body_fails_cleanly),
        FX_TEST(test_openai_build_output_always_loads),
        FX_TEST(test_openai_parse_fixture_chat_completion),
        FX_TEST(test_openai_parse_fixture_tool_calls),
        FX_TEST(test_openai_parse_error_bodies_report_provider_message),
        FX_TEST(test_openai_stream_fixture_text),
        FX_TEST(test_openai_stream_fixture_include_usage),
        FX_TEST(test_openai_stream_fixture_tool_calls),
        FX_TEST(test_openai_parse_minimal_response_defaults),
        FX_TEST(test_openai_parse_usage_total_computed_and_integral_reals),
        FX_TEST(test_openai_parse_several_choices_keep_their_index),
        FX_TEST(test_openai_parse_unicode_content_kept),
        FX_TEST(test_openai_chunk_variants),
        FX_TEST(test_openai_parse_duplicate_and_escaped_keys_like_jansson),
        FX_TEST(test_openai_parse_extensions_are_compact_json),
        FX_TEST(test_openai_parse_response_malformed),
        FX_TEST(test_openai_parse_chunk_malformed),
        FX_TEST(test_openai_parse_reads_only_len_bytes),
        FX_TEST(test_openai_done_marker),
        FX_TEST(test_openai_parse_fails_cleanly_when_arena_runs_out),
        FX_TEST(test_openai_build_needs_no_jansson_allocation),
        FX_TEST(test_openai_parse_needs_no_jansson_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
