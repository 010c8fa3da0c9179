/* Unit tests for anthropic.c: Messages API bodies built from ChatRequest,
 * answers, stream events (fed through the SSE parser split at every byte)
 * and errors, against hand-written fixtures in tests/fixtures/anthropic/. */
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
#include "anthropic.h"
#include "arena.h"
#include "buf.h"
#include "fixture.h"
#include "sse.h"
#include "utf8.h"

static char *anth_fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "anthropic/%s", name);
    return fixture_read(rel, len);
}

/* A request with up to 8 messages, built on the stack. */
typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message msgs[8];
    Llmgw__V1__Message *ptrs[8];
} req_t;

static void req_init(req_t *r)
{
    llmgw__v1__chat_request__init(&r->req);
    r->req.model = "claude-test";
    r->req.messages = r->ptrs;
}

static Llmgw__V1__Message *req_add(req_t *r, const char *role, const char *content)
{
    Llmgw__V1__Message *m = &r->msgs[r->req.n_messages];
    llmgw__v1__message__init(m);
    m->role = (char *)role;
    m->content = (char *)content;
    r->ptrs[r->req.n_messages++] = m;
    return m;
}

/* Builds the body and parses it back; NULL (with err) when building fails. */
static json_t *build(req_t *r, int max_tokens_default, bool stream, char *err, size_t errlen)
{
    buf_t out = BUF_INIT(1 << 20);
    json_t *root = NULL;
    if (anthropic_build_request(&r->req, "claude-up", max_tokens_default, stream, &out, err,
                                errlen) == 0) {
        root = json_loadb(out.data, out.len, 0, NULL);
        assert_non_null(root);
    } else {
        assert_int_equal(out.len, 0); /* left as it was */
    }
    buf_free(&out);
    return root;
}

/* "messages.0.content": members and array indexes separated by dots. */
static json_t *json_path_get_simple(json_t *root, const char *path)
{
    char part[64];
    json_t *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(part, sizeof(part), "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        if (json_is_array(v))
            v = json_array_get(v, (size_t)strtoul(part, NULL, 10));
        else
            v = json_object_get(v, part);
    }
    return v;
}

static const char *jstr(json_t *root, const char *path)
{
    json_t *v = json_path_get_simple(root, path);
    return json_string_value(v);
}

/* ------------------------------------------------------------------------ */

static void
test_anthropic_request_hoists_leading_system_messages_and_defaults_max_tokens(void **state)
{
    req_t r;
    char err[256];
    req_init(&r);
    req_add(&r, "system", "You are terse.");
    req_add(&r, "system", "Answer in French.");
    req_add(&r, "user", "Hello");
    json_t *root = build(&r, 0, false, err, sizeof(err));
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "model")), "claude-up");
    assert_string_equal(json_string_value(json_object_get(root, "system")),
                        "You are terse.\n\nAnswer in French.");
    assert_int_equal(json_integer_value(json_object_get(root, "max_tokens")), 4096);
    json_t *msgs = json_object_get(root, "messages");
    assert_int_equal(json_array_size(msgs), 1);
    json_t *m0 = json_array_get(msgs, 0);
    assert_string_equal(json_string_value(json_object_get(m0, "role")), "user");
    json_t *blk = json_array_get(json_object_get(m0, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(blk, "text")), "Hello");
    assert_null(json_object_get(root, "stream"));
    json_decref(root);

    /* The preset's default, and the request's own value over both. */
    root = build(&r, 1024, true, err, sizeof(err));
    assert_int_equal(json_integer_value(json_object_get(root, "max_tokens")), 1024);
    assert_true(json_is_true(json_object_get(root, "stream")));
    json_decref(root);
    r.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    r.req.max_tokens = 77;
    root = build(&r, 1024, false, err, sizeof(err));
    assert_int_equal(json_integer_value(json_object_get(root, "max_tokens")), 77);
    json_decref(root);
}

static void test_anthropic_request_merges_turns_and_translates_tool_calls_and_results(void **state)
{
    req_t r;
    char err[256];
    req_init(&r);
    req_add(&r, "user", "Weather in Paris and Rome?");
    req_add(&r, "user", "Celsius please.");
    Llmgw__V1__Message *a = req_add(&r, "assistant", "Checking.");
    a->tool_calls_json =
        "[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}]";
    req_add(&r, "tool", "18C")->tool_call_id = "toolu_1";
    req_add(&r, "tool", "24C")->tool_call_id = "toolu_2";
    req_add(&r, "user", "Thanks");
    json_t *root = build(&r, 0, false, err, sizeof(err));
    assert_non_null(root);
    json_t *msgs = json_object_get(root, "messages");
    /* user+user -> one user turn; assistant; tool+tool+user -> one user turn */
    assert_int_equal(json_array_size(msgs), 3);
    assert_string_equal(jstr(root, "messages.0.role"), "user");
    assert_int_equal(json_array_size(json_path_get_simple(root, "messages.0.content")), 2);
    assert_string_equal(jstr(root, "messages.1.role"), "assistant");
    assert_string_equal(jstr(root, "messages.1.content.0.type"), "text");
    assert_string_equal(jstr(root, "messages.1.content.1.type"), "tool_use");
    assert_string_equal(jstr(root, "messages.1.content.1.id"), "toolu_1");
    assert_string_equal(jstr(root, "messages.1.content.1.name"), "get_weather");
    assert_string_equal(jstr(root, "messages.1.content.2.input.city"), "Rome");
    assert_string_equal(jstr(root, "messages.2.role"), "user");
    assert_string_equal(jstr(root, "messages.2.content.0.type"), "tool_result");
    assert_string_equal(jstr(root, "messages.2.content.0.tool_use_id"), "toolu_1");
    assert_string_equal(jstr(root, "messages.2.content.1.content"), "24C");
    assert_string_equal(jstr(root, "messages.2.content.2.text"), "Thanks");
    json_decref(root);
}

static void test_anthropic_request_rejects_system_message_mid_conversation(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "system", "Be brief.");
    req_add(&r, "user", "Hi");
    req_add(&r, "system", "Now be verbose.");
    req_add(&r, "user", "Again");
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "messages[2].role"));
    assert_non_null(strstr(err, "system message after the conversation started"));
}

static void test_anthropic_request_rejects_conversations_it_cannot_express(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "assistant", "I speak first");
    req_add(&r, "user", "Hi");
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "messages[0].role"));

    req_init(&r);
    req_add(&r, "system", "only a system prompt");
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "at least one user message"));

    req_init(&r);
    req_add(&r, "user", "Hi");
    req_add(&r, "assistant", "")->tool_calls_json =
        "[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}"
        "]";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "messages[1].tool_calls_json[0].function.arguments"));
}

static void test_anthropic_request_translates_tools_choice_stop_sampling_and_user(void **state)
{
    req_t r;
    char err[256];
    req_init(&r);
    req_add(&r, "user", "Hi");
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                       "\"description\":\"Weather now\",\"parameters\":{\"type\":\"object\","
                       "\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
                       "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]";
    r.req.tool_choice_json = "\"required\"";
    char *stop[] = {"END", "STOP"};
    r.req.stop = stop;
    r.req.n_stop = 2;
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.5;
    r.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    r.req.top_p = 0.9;
    r.req.user = "user-42";
    r.req.extra_body_json = "{\"top_k\": 5}";
    json_t *root = build(&r, 0, true, err, sizeof(err));
    assert_non_null(root);
    assert_string_equal(jstr(root, "tools.0.name"), "get_weather");
    assert_string_equal(jstr(root, "tools.0.description"), "Weather now");
    assert_string_equal(jstr(root, "tools.0.input_schema.properties.city.type"), "string");
    assert_string_equal(jstr(root, "tools.1.input_schema.type"), "object");
    assert_string_equal(jstr(root, "tool_choice.type"), "any");
    assert_string_equal(jstr(root, "stop_sequences.1"), "STOP");
    assert_true(json_real_value(json_object_get(root, "temperature")) == 0.5);
    assert_true(json_real_value(json_object_get(root, "top_p")) == 0.9);
    assert_string_equal(jstr(root, "metadata.user_id"), "user-42");
    assert_int_equal(json_integer_value(json_object_get(root, "top_k")), 5);
    json_decref(root);

    r.req.tool_choice_json = "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}";
    root = build(&r, 0, false, err, sizeof(err));
    assert_string_equal(jstr(root, "tool_choice.type"), "tool");
    assert_string_equal(jstr(root, "tool_choice.name"), "now");
    json_decref(root);
    r.req.tool_choice_json = "\"auto\"";
    root = build(&r, 0, false, err, sizeof(err));
    assert_string_equal(jstr(root, "tool_choice.type"), "auto");
    json_decref(root);
}

static void test_anthropic_request_rejects_fields_it_cannot_honour(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "user", "Hi");
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 1.5;
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "temperature: Anthropic's Messages API accepts 0..1"));
    r.req.temperature = 1.0;
    r.req.response_format_json = "{\"type\":\"json_object\"}";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "response_format_json"));
    r.req.response_format_json = "";
    r.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    r.req.frequency_penalty = 0.5;
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "frequency_penalty"));
    r.req.frequency_penalty = 0; /* a client's default: dropped, not an error */
    json_t *root = build(&r, 0, false, err, sizeof(err));
    assert_non_null(root);
    assert_null(json_object_get(root, "frequency_penalty"));
    json_decref(root);
    r.req.extra_body_json = "{\"system\": \"sneaky\"}";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "extra_body_json.system"));
}

static void test_anthropic_request_translates_image_content_parts(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "user", "")->content_parts_json =
        "[{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}}]";
    json_t *root = build(&r, 0, false, err, sizeof(err));
    assert_non_null(root);
    assert_string_equal(jstr(root, "messages.0.content.0.text"), "What is this?");
    assert_string_equal(jstr(root, "messages.0.content.1.type"), "image");
    assert_string_equal(jstr(root, "messages.0.content.1.source.type"), "base64");
    assert_string_equal(jstr(root, "messages.0.content.1.source.media_type"), "image/png");
    assert_string_equal(jstr(root, "messages.0.content.1.source.data"), "iVBORw0K");
    assert_string_equal(jstr(root, "messages.0.content.2.source.type"), "url");
    assert_string_equal(jstr(root, "messages.0.content.2.source.url"),
                        "https://example.com/cat.jpg");
    json_decref(root);

    r.msgs[0].content_parts_json = "[{\"type\":\"input_audio\",\"input_audio\":{}}]";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "messages[0].content_parts_json[0].type"));
    r.msgs[0].content_parts_json =
        "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,notbase64\"}}]";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "image_url.url"));
}

/* ------------------------------------------------------------------------ */

static void test_anthropic_response_text_with_cache_usage_and_extensions(void **state)
{
    size_t len;
    char *body = anth_fixture("message.json", &len);
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *r = NULL;
    char err[256];
    assert_int_equal(anthropic_parse_response(body, len, a, &r, err, sizeof(err)), 0);
    assert_string_equal(r->id, "msg_01HandWrittenText");
    assert_string_equal(r->model, "claude-3-5-sonnet-20241022");
    assert_int_equal(r->n_choices, 1);
    assert_string_equal(r->choices[0]->message->role, "assistant");
    assert_string_equal(r->choices[0]->message->content, "Hi! My name is Claude.");
    assert_string_equal(r->choices[0]->finish_reason, "stop");
    assert_int_equal(r->usage->prompt_tokens, 33); /* 10 + 3 written + 20 read */
    assert_int_equal(r->usage->completion_tokens, 12);
    assert_int_equal(r->usage->total_tokens, 45);
    json_t *ext = json_loads(r->extensions_json, 0, NULL);
    assert_non_null(ext);
    assert_string_equal(jstr(ext, "anthropic.stop_reason"), "end_turn");
    assert_true(json_is_null(json_path_get_simple(ext, "anthropic.stop_sequence")));
    assert_int_equal(
        json_integer_value(json_path_get_simple(ext, "anthropic.cache_read_input_tokens")), 20);
    json_decref(ext);
    arena_free(a);
    free(body);
}

static void test_anthropic_response_tool_use_becomes_tool_calls(void **state)
{
    size_t len;
    char *body = anth_fixture("message_tool_use.json", &len);
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *r = NULL;
    char err[256];
    assert_int_equal(anthropic_parse_response(body, len, a, &r, err, sizeof(err)), 0);
    Llmgw__V1__Message *m = r->choices[0]->message;
    assert_string_equal(m->content, "I'll check the weather in San Francisco.");
    assert_string_equal(r->choices[0]->finish_reason, "tool_calls");
    json_t *calls = json_loads(m->tool_calls_json, 0, NULL);
    assert_int_equal(json_array_size(calls), 1);
    assert_string_equal(jstr(calls, "0.id"), "toolu_01HandWritten");
    assert_string_equal(jstr(calls, "0.type"), "function");
    assert_string_equal(jstr(calls, "0.function.name"), "get_weather");
    json_t *args = json_loads(jstr(calls, "0.function.arguments"), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(args, "location")), "San Francisco, CA");
    json_decref(args);
    json_decref(calls);
    arena_free(a);
    free(body);
}

static void test_anthropic_response_malformed_is_an_error_naming_the_field(void **state)
{
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *r = NULL;
    char err[256];
    const char *bad1 = "{\"type\":\"message\",\"content\":\"text\"}";
    assert_int_equal(anthropic_parse_response(bad1, strlen(bad1), a, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "content: expected an array"));
    const char *bad2 = "{\"content\":[{\"type\":\"tool_use\",\"id\":\"x\"}]}";
    assert_int_equal(anthropic_parse_response(bad2, strlen(bad2), a, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "content[0]"));
    assert_int_equal(anthropic_parse_response("{\"id\":", 6, a, &r, err, sizeof(err)), -1);
    arena_free(a);
}

/* ------------------------------------------------------------------------ */

typedef struct {
    adapter_stream_t *s;
    arena_t *a;
    buf_t content;
    buf_t tool_args;
    char first_role[32];
    char tool_id[64];
    char tool_name[64];
    char finish[32];
    char ext[256];
    int prompt_tokens, completion_tokens;
    int chunks;
    bool done;
    int rc;
    char err[256];
} collect_t;

static int collect_event(void *ud, const char *event, const char *data, size_t len)
{
    collect_t *c = ud;
    Llmgw__V1__ChatChunk *ch = NULL;
    arena_reset(c->a);
    c->rc = adapter_anthropic.stream_event(c->s, event, data, len, c->a, &ch, &c->done, c->err,
                                           sizeof(c->err));
    if (c->rc < 0)
        return 1;
    if (!ch)
        return 0;
    c->chunks++;
    if (ch->usage) {
        c->prompt_tokens = ch->usage->prompt_tokens;
        c->completion_tokens = ch->usage->completion_tokens;
    }
    if (ch->extensions_json[0])
        snprintf(c->ext, sizeof(c->ext), "%s", ch->extensions_json);
    assert_string_not_equal(ch->id, "");
    for (size_t i = 0; i < ch->n_choices; i++) {
        Llmgw__V1__ChunkChoice *cc = ch->choices[i];
        if (c->chunks == 1)
            snprintf(c->first_role, sizeof(c->first_role), "%s", cc->delta->role);
        buf_append_str(&c->content, cc->delta->content);
        if (cc->finish_reason[0])
            snprintf(c->finish, sizeof(c->finish), "%s", cc->finish_reason);
        if (cc->delta->tool_calls_json[0]) {
            json_t *d = json_loads(cc->delta->tool_calls_json, 0, NULL);
            assert_non_null(d);
            assert_int_equal(json_integer_value(json_path_get_simple(d, "0.index")), 0);
            if (jstr(d, "0.id")) {
                snprintf(c->tool_id, sizeof(c->tool_id), "%s", jstr(d, "0.id"));
                snprintf(c->tool_name, sizeof(c->tool_name), "%s", jstr(d, "0.function.name"));
            }
            buf_append_str(&c->tool_args, jstr(d, "0.function.arguments"));
            json_decref(d);
        }
    }
    return 0;
}

/* The arena limit collect_run gives each event (0: none). */
static size_t collect_arena_limit;

/* Feeds `text` through a fresh SSE parser and stream state in two pieces
 * split at `split`. */
static void collect_run(collect_t *c, const char *text, size_t len, size_t split)
{
    memset(c, 0, sizeof(*c));
    c->s = adapter_anthropic.stream_new();
    c->a = arena_new(collect_arena_limit);
    buf_init(&c->content, 1 << 16);
    buf_init(&c->tool_args, 1 << 16);
    sse_parser_t *p = sse_parser_new(1 << 16);
    assert_non_null(c->s);
    assert_non_null(p);
    if (sse_parser_feed(p, text, split, collect_event, c) == 0)
        sse_parser_feed(p, text + split, len - split, collect_event, c);
    sse_parser_free(p);
    adapter_anthropic.stream_free(c->s);
    arena_free(c->a);
}

static void collect_free(collect_t *c)
{
    buf_free(&c->content);
    buf_free(&c->tool_args);
}

static void test_anthropic_stream_text_split_anywhere(void **state)
{
    size_t len;
    char *text = anth_fixture("stream_text.sse", &len);
    for (size_t split = 0; split <= len; split++) {
        collect_t c;
        collect_run(&c, text, len, split);
        assert_int_equal(c.rc, 0);
        assert_true(c.done);
        assert_string_equal(buf_cstr(&c.content), "Hello there, friend!");
        assert_string_equal(c.first_role, "assistant");
        assert_string_equal(c.finish, "stop");
        assert_int_equal(c.prompt_tokens, 25);
        assert_int_equal(c.completion_tokens, 15);
        assert_non_null(strstr(c.ext, "\"stop_reason\":\"end_turn\""));
        collect_free(&c);
    }
    free(text);
}

static void test_anthropic_stream_tool_use_becomes_tool_call_deltas(void **state)
{
    size_t len;
    char *text = anth_fixture("stream_tool_use.sse", &len);
    for (size_t split = 0; split <= len; split += 7) {
        collect_t c;
        collect_run(&c, text, len, split);
        assert_int_equal(c.rc, 0);
        assert_true(c.done);
        assert_string_equal(buf_cstr(&c.content), "Let me look that up.");
        assert_string_equal(c.tool_id, "toolu_01HandWrittenStream");
        assert_string_equal(c.tool_name, "get_weather");
        assert_string_equal(buf_cstr(&c.tool_args), "{\"location\": \"Paris\"}");
        assert_string_equal(c.finish, "tool_calls");
        assert_int_equal(c.prompt_tokens, 472);
        assert_int_equal(c.completion_tokens, 89);
        collect_free(&c);
    }
    free(text);
}

static void test_anthropic_stream_error_event_is_an_error(void **state)
{
    size_t len;
    char *text = anth_fixture("stream_error.sse", &len);
    collect_t c;
    collect_run(&c, text, len, len / 3);
    assert_int_equal(c.rc, -1);
    assert_false(c.done);
    assert_non_null(strstr(c.err, "overloaded_error: Overloaded"));
    collect_free(&c);
    free(text);
}

static void test_anthropic_stream_cut_mid_event_never_finishes(void **state)
{
    size_t len;
    char *text = anth_fixture("stream_text.sse", &len);
    /* Cut inside the message_delta event: the parser holds the partial event,
     * so neither the finish nor the end is seen and the pipeline fails the
     * attempt instead of passing off a truncated answer as complete. */
    const char *cut = strstr(text, "\"stop_reason\": \"end_turn\"");
    assert_non_null(cut);
    collect_t c;
    collect_run(&c, text, (size_t)(cut - text), (size_t)(cut - text) / 2);
    assert_int_equal(c.rc, 0);
    assert_false(c.done);
    assert_string_equal(c.finish, "");
    assert_string_equal(buf_cstr(&c.content), "Hello there, friend!");
    collect_free(&c);
    free(text);
}

static void test_anthropic_stream_rejects_events_before_message_start_and_bad_json(void **state)
{
    adapter_stream_t *s = adapter_anthropic.stream_new();
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatChunk *ch;
    bool done = false;
    char err[256];
    const char *ev = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                     "\"text_delta\",\"text\":\"x\"}}";
    assert_int_equal(adapter_anthropic.stream_event(s, "content_block_delta", ev, strlen(ev), a,
                                                    &ch, &done, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "before message_start"));
    assert_int_equal(adapter_anthropic.stream_event(s, "message_start", "{\"type\":", 8, a, &ch,
                                                    &done, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "message_start"));
    adapter_anthropic.stream_free(s);
    arena_free(a);
}

/* ------------------------------------------------------------------------ */

static void check_error(const char *fixture, long status, const char *type, bool retryable,
                        grpc_status_code grpc, const char *message)
{
    size_t len;
    char *body = anth_fixture(fixture, &len);
    uerror_t e;
    anthropic_error_from_http(&e, status, body, len, status == 429 ? "7" : NULL);
    assert_int_equal(e.http_status, status);
    assert_string_equal(e.type, type);
    assert_int_equal(e.retryable, retryable);
    assert_int_equal(e.grpc_status, grpc);
    assert_non_null(strstr(e.message, message));
    if (status == 429)
        assert_int_equal(e.retry_after_ms, 7000);
    free(body);
}

/* Found by fuzz_anthropic_stream: counts near INT32_MAX in message_start and
 * message_delta overflowed total_tokens (signed overflow, undefined). Each
 * count and the total saturate at INT32_MAX, in a stream and in an answer. */
static void test_anthropic_usage_counts_saturate_instead_of_overflowing(void **state)
{
    adapter_stream_t *s = adapter_anthropic.stream_new();
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatChunk *ch = NULL;
    bool done = false;
    char err[256];
    const char *start = "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":"
                        "{\"input_tokens\":472,\"output_tokens\":2},\"content\":[]}}";
    const char *delta = "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                        "\"usage\":{\"output_tokens\":99999999999}}";
    assert_int_equal(adapter_anthropic.stream_event(s, "message_start", start, strlen(start), a,
                                                    &ch, &done, err, sizeof(err)),
                     0);
    assert_int_equal(adapter_anthropic.stream_event(s, "message_delta", delta, strlen(delta), a,
                                                    &ch, &done, err, sizeof(err)),
                     0);
    assert_non_null(ch);
    assert_non_null(ch->usage);
    assert_int_equal(ch->usage->prompt_tokens, 472);
    assert_int_equal(ch->usage->completion_tokens, INT32_MAX);
    assert_int_equal(ch->usage->total_tokens, INT32_MAX);
    adapter_anthropic.stream_free(s);

    const char *body = "{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\","
                       "\"content\":[{\"type\":\"text\",\"text\":\"x\"}],\"stop_reason\":\"end_turn\","
                       "\"usage\":{\"input_tokens\":2147483647,\"cache_read_input_tokens\":5,"
                       "\"output_tokens\":2147483647}}";
    Llmgw__V1__ChatResponse *r = NULL;
    assert_int_equal(anthropic_parse_response(body, strlen(body), a, &r, err, sizeof(err)), 0);
    assert_int_equal(r->usage->prompt_tokens, INT32_MAX);
    assert_int_equal(r->usage->total_tokens, INT32_MAX);
    arena_free(a);
}

/* Found by fuzz_anthropic_stream: a message id longer than the stream keeps
 * was cut in the middle of a character, and the chunks carried invalid
 * UTF-8. It is cut between characters now. */
static void test_anthropic_stream_long_id_is_cut_between_characters(void **state)
{
    adapter_stream_t *s = adapter_anthropic.stream_new();
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatChunk *ch = NULL;
    bool done = false;
    char err[256], ev[1024];
    int n = snprintf(ev, sizeof(ev), "{\"type\":\"message_start\",\"message\":{\"id\":\"mx");
    for (int i = 0; i < 100; i++)
        n += snprintf(ev + n, sizeof(ev) - (size_t)n, "\xc3\xa9"); /* é: the cut at 127 falls inside one */
    snprintf(ev + n, sizeof(ev) - (size_t)n, "\",\"usage\":{\"input_tokens\":1},\"content\":[]}}");
    assert_int_equal(adapter_anthropic.stream_event(s, "message_start", ev, strlen(ev), a, &ch,
                                                    &done, err, sizeof(err)),
                     0);
    assert_non_null(ch);
    size_t len = strlen(ch->id);
    assert_true(len > 0 && len < 200);
    const unsigned char *p = (const unsigned char *)ch->id, *end = p + len;
    while (p < end) {
        size_t k = utf8_seq_len(p, end);
        assert_true(k > 0);
        p += k;
    }
    adapter_anthropic.stream_free(s);
    arena_free(a);
}

static void test_anthropic_errors_are_normalized(void **state)
{
    check_error("error_overloaded.json", 529, "server", true, GRPC_STATUS_UNAVAILABLE,
                "overloaded_error: Overloaded");
    check_error("error_invalid_request.json", 400, "invalid_request", false,
                GRPC_STATUS_INVALID_ARGUMENT, "invalid_request_error: messages: roles must");
    check_error("error_authentication.json", 401, "auth", false, GRPC_STATUS_UNAUTHENTICATED,
                "authentication_error: invalid x-api-key");
    check_error("error_rate_limit.json", 429, "rate_limit", true, GRPC_STATUS_RESOURCE_EXHAUSTED,
                "rate_limit_error");
    uerror_t e;
    anthropic_error_from_http(&e, 502, "<html>bad gateway</html>", 24, NULL);
    assert_true(e.retryable); /* not Anthropic's shape: the status decides */
}

static void test_adapter_for_anthropic_wire_format_sends_key_and_version_headers(void **state)
{
    table_provider_t p = {.name = "claude",
                          .base_url = "https://api.anthropic.com/v1",
                          .api_key = "sk-ant-1",
                          .auth_style = "x-api-key",
                          .wire_format = "anthropic"};
    const adapter_t *ad = adapter_for(&p);
    assert_ptr_equal(ad, &adapter_anthropic);
    arena_t *a = arena_new(0);
    const char *h[8];
    size_t n = 0;
    assert_int_equal(ad->auth_headers(&p, a, h, &n, 8), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0], "anthropic-version: 2023-06-01");
    assert_string_equal(h[1], "x-api-key: sk-ant-1");
    char *url = adapter_chat_url(ad, &p, NULL, "claude-x", a);
    assert_string_equal(url, "https://api.anthropic.com/v1/messages");
    p.api_version = "2099-01-01";
    n = 0;
    assert_int_equal(ad->auth_headers(&p, a, h, &n, 8), 0);
    assert_string_equal(h[0], "anthropic-version: 2099-01-01");
    p.wire_format = "openai";
    assert_ptr_equal(adapter_for(&p), &adapter_openai);
    arena_free(a);
}

/* ---- allocation failure ---- */

static long alloc_count;

static void *failing_malloc(size_t n)
{
    (void)n;
    alloc_count++;
    return NULL;
}

static int build_everything(char *err, size_t errlen)
{
    req_t r;
    req_init(&r);
    req_add(&r, "system", "Be brief.");
    req_add(&r, "user", "")->content_parts_json =
        "[{\"type\":\"text\",\"text\":\"What is this?\"},{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"https://example.com/cat.jpg\"}}]";
    req_add(&r, "assistant", "Checking.")->tool_calls_json =
        "[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\":1}\"}}]";
    req_add(&r, "tool", "42")->tool_call_id = "t1";
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    r.req.tool_choice_json = "\"auto\"";
    r.req.extra_body_json = "{\"top_k\": 3, \"top_k\": 4}";
    buf_t out = BUF_INIT(1 << 20);
    int rc = anthropic_build_request(&r.req, "m", 0, true, &out, err, errlen);
    buf_free(&out);
    return rc;
}

/* Every arena limit short of what `parse` needs fails cleanly with "out of
 * memory" (ASan/LSan check that nothing leaks on those paths); the limit it
 * needs succeeds. parse(limit, err) returns the arena bytes used, or -1. */
static void run_arena_limits(long (*parse)(size_t limit, char *err, size_t errlen), size_t max)
{
    size_t limit;
    for (limit = 1; limit < max; limit++) {
        char err[256] = "";
        long used = parse(limit, err, sizeof(err));
        if (used >= 0)
            break;
        if (!strstr(err, "out of memory"))
            fail_msg("arena limit %zu: err \"%s\"", limit, err);
    }
    assert_true(limit > 1 && limit < max);
}

static long parse_tool_answer(size_t limit, char *err, size_t errlen)
{
    size_t len;
    char *body = anth_fixture("message_tool_use.json", &len);
    arena_t *a = arena_new(limit);
    assert_non_null(a);
    Llmgw__V1__ChatResponse *r = NULL;
    int rc = anthropic_parse_response(body, len, a, &r, err, errlen);
    long used = rc == 0 ? (long)arena_used(a) : -1;
    if (rc == 0) {
        assert_string_equal(r->choices[0]->finish_reason, "tool_calls");
        assert_non_null(strstr(r->choices[0]->message->tool_calls_json, "San Francisco"));
    }
    arena_free(a);
    free(body);
    return used;
}

static long stream_tool_answer(size_t limit, char *err, size_t errlen)
{
    size_t len;
    char *text = anth_fixture("stream_tool_use.sse", &len);
    collect_t c;
    collect_arena_limit = limit;
    collect_run(&c, text, len, len / 2);
    collect_arena_limit = 0;
    long rc = c.rc < 0 ? -1 : 0;
    if (rc == 0)
        assert_true(c.done);
    snprintf(err, errlen, "%s", c.err);
    collect_free(&c);
    free(text);
    return rc;
}

/* Written directly and parsed with jscan: neither needs jansson, so with
 * every jansson allocation failing both still work (the stream is checked
 * with jansson by collect_event, so it is left out there). The arena is the
 * only allocator the parsers use for what they keep. */
static void test_anthropic_translation_fails_cleanly_when_allocation_fails(void **state)
{
    char err[256] = "";
    alloc_count = 0;
    json_set_alloc_funcs(failing_malloc, free);
    int rc = build_everything(err, sizeof(err));
    long parse_used = parse_tool_answer(0, err, sizeof(err));
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(rc, 0);
    assert_true(parse_used > 0);
    assert_int_equal(alloc_count, 0);
    run_arena_limits(parse_tool_answer, 1 << 16);
    run_arena_limits(stream_tool_answer, 1 << 16);
}

/* ---- malformed input anywhere ---- */

/* Every truncation of an answer, and every byte of it replaced by a byte
 * that breaks JSON, is an error with a message, never a crash or a read past
 * the end (each attempt parses an exact-size heap copy, for ASan). */
static void test_anthropic_response_malformed_at_every_offset_is_an_error(void **state)
{
    size_t len;
    char *body = anth_fixture("message_tool_use.json", &len);
    arena_t *a = arena_new(0);
    while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == ' '))
        len--; /* so every shorter prefix is unterminated */
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, body, cut);
        Llmgw__V1__ChatResponse *r = NULL;
        char err[256] = "";
        arena_reset(a);
        int rc = anthropic_parse_response(copy, cut, a, &r, err, sizeof(err));
        free(copy);
        if (rc != -1 || !strstr(err, "body: invalid JSON at line"))
            fail_msg("cut at %zu: rc=%d err \"%s\"", cut, rc, err);
    }
    static const char breakers[] = {'\x01', '"', '{', ']', '\xff'};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(breakers); k++) {
            char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, body, len);
            copy[i] = breakers[k];
            Llmgw__V1__ChatResponse *r = NULL;
            char err[256] = "";
            arena_reset(a);
            int rc = anthropic_parse_response(copy, len, a, &r, err, sizeof(err));
            free(copy);
            if (rc == 0)
                assert_non_null(r);
            else if (rc != -1 || err[0] == '\0')
                fail_msg("byte %zu set to 0x%02x: rc=%d err \"%s\"", i, (unsigned char)breakers[k],
                         rc, err);
        }
    }
    arena_free(a);
    free(body);
}

/* The same for each stream event's data cut at every byte. */
static void test_anthropic_stream_event_cut_at_every_offset_is_an_error(void **state)
{
    static const char *const events[][2] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\","
                          "\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":2}}}"},
        {"content_block_start",
         "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\","
         "\"id\":\"t\",\"name\":\"f\",\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                                "\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
                          "\"usage\":{\"output_tokens\":7}}"},
    };
    adapter_stream_t *s = adapter_anthropic.stream_new();
    arena_t *a = arena_new(0);
    for (size_t e = 0; e < 4; e++) {
        size_t len = strlen(events[e][1]);
        for (size_t cut = 1; cut < len; cut++) {
            char *copy = malloc(cut);
            assert_non_null(copy);
            memcpy(copy, events[e][1], cut);
            Llmgw__V1__ChatChunk *ch = NULL;
            bool done = false;
            char err[256] = "";
            arena_reset(a);
            int rc = adapter_anthropic.stream_event(s, events[e][0], copy, cut, a, &ch, &done, err,
                                                    sizeof(err));
            free(copy);
            if (rc != -1 || ch || !strstr(err, events[e][0]))
                fail_msg("%s cut at %zu: rc=%d err \"%s\"", events[e][0], cut, rc, err);
        }
        /* Whole, it is accepted (so the next event has its context). */
        Llmgw__V1__ChatChunk *ch = NULL;
        bool done = false;
        char err[256] = "";
        arena_reset(a);
        assert_int_equal(adapter_anthropic.stream_event(s, events[e][0], events[e][1], len, a, &ch,
                                                        &done, err, sizeof(err)),
                         0);
        assert_non_null(ch);
        if (e == 3) {
            assert_string_equal(ch->choices[0]->finish_reason, "tool_calls");
            assert_int_equal(ch->usage->prompt_tokens, 7);
            assert_string_equal(ch->extensions_json, "{\"anthropic\":{\"stop_reason\":\"tool_use\","
                                                     "\"cache_read_input_tokens\":2}}");
        }
    }
    adapter_anthropic.stream_free(s);
    arena_free(a);
}

/* ---- JSON-valued request fields ---- */

static void test_anthropic_request_refuses_tool_call_arguments_that_are_not_json(void **state)
{
    static const char *const cases[][2] = {
        {"\"{\\\"city\\\":\"", "messages[1].tool_calls_json[0].function.arguments: invalid JSON"},
        {"\"not json\"", "messages[1].tool_calls_json[0].function.arguments: invalid JSON"},
        {"\"{\\\"n\\\":1e999}\"",
         "messages[1].tool_calls_json[0].function.arguments: invalid JSON"},
        {"\"{} {}\"", "messages[1].tool_calls_json[0].function.arguments: invalid JSON"},
        {"\"\\\"str\\\"\"",
         "messages[1].tool_calls_json[0].function.arguments: expected a JSON object"},
        {"{\"city\":\"Paris\"}",
         "messages[1].tool_calls_json[0].function.arguments: expected a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char calls[256];
        snprintf(calls, sizeof(calls),
                 "[{\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                 "\"arguments\":%s}}]",
                 cases[i][0]);
        req_t r;
        char err[256] = "";
        req_init(&r);
        req_add(&r, "user", "Hi");
        req_add(&r, "assistant", "")->tool_calls_json = calls;
        assert_null(build(&r, 0, false, err, sizeof(err)));
        if (strncmp(err, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("arguments %s: err \"%s\", want \"%s...\"", cases[i][0], err, cases[i][1]);
    }
    /* Missing or empty arguments are an empty input. */
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "user", "Hi");
    req_add(&r, "assistant", "")->tool_calls_json =
        "[{\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}},"
        "{\"id\":\"u\",\"function\":{\"name\":\"g\"}}]";
    json_t *root = build(&r, 0, false, err, sizeof(err));
    assert_non_null(root);
    assert_int_equal(json_object_size(json_path_get_simple(root, "messages.1.content.0.input")), 0);
    assert_true(json_is_object(json_path_get_simple(root, "messages.1.content.1.input")));
    json_decref(root);
}

/* JSON-valued fields are written compacted, values and spelling as sent;
 * extra_body_json replaces the builder's own member without a duplicate key,
 * and of its own duplicate keys the last wins. */
static void test_anthropic_request_writes_json_fields_compacted_without_duplicates(void **state)
{
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "user", "Hi");
    req_add(&r, "assistant", "")->tool_calls_json =
        "[ {\"id\" : \"t\", \"function\": {\"name\": \"f\", \"arguments\": "
        "\"{ \\\"x\\\" : [1e2, \\\"\\\\u00e9\\\"] }\"}} ]";
    r.req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
                       "{ \"type\" : \"object\" , \"properties\" : { } }}}]";
    r.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    r.req.temperature = 0.5;
    r.req.extra_body_json = "{\"max_tokens\": 1, \"temperature\": 0.25, \"top_k\": 1, "
                            "\"top_k\": 2}";
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(anthropic_build_request(&r.req, "m", 0, false, &out, err, sizeof(err)), 0);
    assert_non_null(strstr(out.data, "\"input\":{\"x\":[1e2,\"\\u00e9\"]}"));
    assert_non_null(strstr(out.data, "\"input_schema\":{\"type\":\"object\",\"properties\":{}}"));
    json_error_t jerr;
    json_t *root = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg("%s: %s", jerr.text, out.data);
    assert_int_equal(json_integer_value(json_object_get(root, "max_tokens")), 1);
    assert_true(json_real_value(json_object_get(root, "temperature")) == 0.25);
    assert_int_equal(json_integer_value(json_object_get(root, "top_k")), 2);
    json_decref(root);
    buf_free(&out);

    /* A builder error still wins over extra_body_json's own. */
    r.req.temperature = 2;
    r.req.extra_body_json = "{\"model\": \"x\"}";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "temperature"));
    r.req.temperature = 0.5;
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "extra_body_json.model: may not be overridden"));
    r.req.extra_body_json = "{\"top_k\": ";
    assert_null(build(&r, 0, false, err, sizeof(err)));
    assert_non_null(strstr(err, "extra_body_json: invalid JSON at line 1"));
}

/* Escaped strings are decoded before they are read: a data: URL spelled
 * with \/ (as some encoders write it) and long enough to be decoded on the
 * heap, and long tool-call arguments full of escapes. */
static void test_anthropic_request_decodes_escaped_urls_and_long_arguments(void **state)
{
    size_t n = 3000;
    char *parts = malloc(n + 200), *calls = malloc(2 * n + 200);
    assert_non_null(parts);
    assert_non_null(calls);
    int k = snprintf(parts, n + 200,
                     "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image\\/png;base64,");
    for (size_t i = 0; i < n; i++)
        parts[k++] = 'A';
    memcpy(parts + k, "\"}}]", sizeof("\"}}]"));
    k = snprintf(calls, 2 * n + 200,
                 "[{\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"s\\\":\\\"");
    for (size_t i = 0; i < n / 2; i++) {
        memcpy(calls + k, "\\\\n", 3); /* \\n: a newline escaped twice */
        k += 3;
    }
    memcpy(calls + k, "\\\"}\"}}]", sizeof("\\\"}\"}}]"));
    req_t r;
    char err[256] = "";
    req_init(&r);
    req_add(&r, "user", "")->content_parts_json = parts;
    req_add(&r, "assistant", "")->tool_calls_json = calls;
    json_t *root = build(&r, 0, false, err, sizeof(err));
    if (!root)
        fail_msg("%s", err);
    assert_string_equal(jstr(root, "messages.0.content.0.source.media_type"), "image/png");
    assert_int_equal(strlen(jstr(root, "messages.0.content.0.source.data")), n);
    assert_int_equal(strlen(jstr(root, "messages.1.content.0.input.s")), n / 2);
    json_decref(root);
    free(parts);
    free(calls);
}

/* The answer's tool_use input becomes arguments as sent, compacted. */
static void test_anthropic_response_keeps_tool_input_spelling(void **state)
{
    const char *body = "{\"id\":\"m\",\"model\":\"c\",\"content\":[{\"type\":\"tool_use\","
                       "\"id\":\"t\\u0031\",\"name\":\"f\",\"input\":{ \"n\" : 1E2 , \"s\" : "
                       "\"\\u00e9\\\"\" }}],\"stop_reason\":\"tool_use\",\"stop_reason\":"
                       "\"end_turn\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}";
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *r = NULL;
    char err[256];
    assert_int_equal(anthropic_parse_response(body, strlen(body), a, &r, err, sizeof(err)), 0);
    assert_string_equal(r->choices[0]->message->tool_calls_json,
                        "[{\"id\":\"t\\u0031\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                        "\"arguments\":\"{\\\"n\\\":1E2,\\\"s\\\":\\\"\\\\u00e9\\\\\\\"\\\"}\"}}]");
    json_t *calls = json_loads(r->choices[0]->message->tool_calls_json, 0, NULL);
    assert_string_equal(jstr(calls, "0.id"), "t1");
    json_t *args = json_loads(jstr(calls, "0.function.arguments"), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(args, "s")), "\xc3\xa9\"");
    json_decref(args);
    json_decref(calls);
    /* Of duplicate keys the last counts, as in jansson. */
    assert_string_equal(r->choices[0]->finish_reason, "stop");
    assert_string_equal(r->extensions_json, "{\"anthropic\":{\"stop_reason\":\"end_turn\"}}");
    assert_int_equal(r->usage->total_tokens, 7);
    /* A scalar body is not an answer. */
    assert_int_equal(anthropic_parse_response("[1]", 3, a, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "body: expected a JSON object");
    arena_free(a);
}

/* Normalization across adapters: the OpenAI parser keeps what it does not
 * model in extensions_json too, keyed by its format. */
static void test_openai_answer_keeps_unmodelled_fields_in_extensions(void **state)
{
    size_t len;
    char *body = fixture_read("openai/chat_completion.json", &len);
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatResponse *r = NULL;
    char err[256];
    assert_int_equal(adapter_openai.parse_chat_response(body, len, a, &r, err, sizeof(err)), 0);
    json_t *ext = json_loads(r->extensions_json, 0, NULL);
    assert_non_null(ext);
    assert_string_equal(jstr(ext, "openai.system_fingerprint"), "fp_fc9f1d7035");
    assert_null(json_path_get_simple(ext, "openai.choices"));
    json_decref(ext);
    const char *plain = "{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}";
    assert_int_equal(
        adapter_openai.parse_chat_response(plain, strlen(plain), a, &r, err, sizeof(err)), 0);
    assert_string_equal(r->extensions_json, "");
    arena_free(a);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_anthropic_request_hoists_leading_system_messages_and_defaults_max_tokens),
        cmocka_unit_test(test_anthropic_request_merges_turns_and_translates_tool_calls_and_results),
        cmocka_unit_test(test_anthropic_request_rejects_system_message_mid_conversation),
        cmocka_unit_test(test_anthropic_request_rejects_conversations_it_cannot_express),
        cmocka_unit_test(test_anthropic_request_translates_tools_choice_stop_sampling_and_user),
        cmocka_unit_test(test_anthropic_request_rejects_fields_it_cannot_honour),
        cmocka_unit_test(test_anthropic_request_translates_image_content_parts),
        cmocka_unit_test(test_anthropic_response_text_with_cache_usage_and_extensions),
        cmocka_unit_test(test_anthropic_response_tool_use_becomes_tool_calls),
        cmocka_unit_test(test_anthropic_response_malformed_is_an_error_naming_the_field),
        cmocka_unit_test(test_anthropic_stream_text_split_anywhere),
        cmocka_unit_test(test_anthropic_stream_tool_use_becomes_tool_call_deltas),
        cmocka_unit_test(test_anthropic_stream_error_event_is_an_error),
        cmocka_unit_test(test_anthropic_stream_cut_mid_event_never_finishes),
        cmocka_unit_test(test_anthropic_stream_rejects_events_before_message_start_and_bad_json),
        cmocka_unit_test(test_anthropic_usage_counts_saturate_instead_of_overflowing),
        cmocka_unit_test(test_anthropic_stream_long_id_is_cut_between_characters),
        cmocka_unit_test(test_anthropic_errors_are_normalized),
        cmocka_unit_test(test_adapter_for_anthropic_wire_format_sends_key_and_version_headers),
        cmocka_unit_test(test_openai_answer_keeps_unmodelled_fields_in_extensions),
        cmocka_unit_test(test_anthropic_translation_fails_cleanly_when_allocation_fails),
        cmocka_unit_test(test_anthropic_response_malformed_at_every_offset_is_an_error),
        cmocka_unit_test(test_anthropic_stream_event_cut_at_every_offset_is_an_error),
        cmocka_unit_test(test_anthropic_request_refuses_tool_call_arguments_that_are_not_json),
        cmocka_unit_test(test_anthropic_request_writes_json_fields_compacted_without_duplicates),
        cmocka_unit_test(test_anthropic_response_keeps_tool_input_spelling),
        cmocka_unit_test(test_anthropic_request_decodes_escaped_urls_and_long_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
