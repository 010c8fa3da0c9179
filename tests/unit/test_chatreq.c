/* chatreq_validate: every rule names its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatreq.h"

typedef struct {
    Llmgw__V1__ChatRequest req;
    Llmgw__V1__Message msg[2];
    Llmgw__V1__Message *msgs[2];
    char err[256];
} fixture_t;

static void fixture_init(fixture_t *f)
{
    llmgw__v1__chat_request__init(&f->req);
    for (int i = 0; i < 2; i++) {
        llmgw__v1__message__init(&f->msg[i]);
        f->msgs[i] = &f->msg[i];
    }
    f->msg[0].role = "system";
    f->msg[0].content = "be brief";
    f->msg[1].role = "user";
    f->msg[1].content = "hello";
    f->req.model = "chat-default";
    f->req.messages = f->msgs;
    f->req.n_messages = 2;
}

static void expect_error(fixture_t *f, const char *field)
{
    assert_int_equal(chatreq_validate(&f->req, f->err, sizeof(f->err)), -1);
    assert_non_null(strstr(f->err, field));
}

static void test_chatreq_accepts_a_plain_request(void **state)
{
    fixture_t f;
    fixture_init(&f);
    assert_int_equal(chatreq_validate(&f.req, f.err, sizeof(f.err)), 0);
}

static void test_chatreq_requires_model_and_messages(void **state)
{
    fixture_t f;
    fixture_init(&f);
    f.req.model = "";
    expect_error(&f, "model: required");
    fixture_init(&f);
    f.req.n_messages = 0;
    expect_error(&f, "messages: at least one");
}

static void test_chatreq_rejects_unknown_role_naming_the_index(void **state)
{
    fixture_t f;
    fixture_init(&f);
    f.msg[1].role = "robot";
    expect_error(&f, "messages[1].role: expected one of");
}

static void test_chatreq_tool_message_needs_tool_call_id(void **state)
{
    fixture_t f;
    fixture_init(&f);
    f.msg[1].role = "tool";
    expect_error(&f, "messages[1].tool_call_id");
    f.msg[1].tool_call_id = "call_1";
    assert_int_equal(chatreq_validate(&f.req, f.err, sizeof(f.err)), 0);
}

static void test_chatreq_empty_user_content_is_rejected_but_assistant_may_be_empty(void **state)
{
    fixture_t f;
    fixture_init(&f);
    f.msg[1].content = "";
    expect_error(&f, "messages[1].content: must not be empty");
    f.msg[1].role = "assistant";
    assert_int_equal(chatreq_validate(&f.req, f.err, sizeof(f.err)), 0);
}

static void test_chatreq_content_over_limit_is_rejected(void **state)
{
    fixture_t f;
    fixture_init(&f);
    size_t n = CHATREQ_MAX_CONTENT_BYTES + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    f.msg[1].content = big;
    expect_error(&f, "messages[1].content");
    free(big);
}

static void test_chatreq_total_over_limit_is_rejected(void **state)
{
    fixture_t f;
    fixture_init(&f);
    size_t n = CHATREQ_MAX_CONTENT_BYTES; /* each at the limit, together over it */
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    f.msg[0].content = big;
    f.msg[1].content = big;
    Llmgw__V1__Message third = f.msg[1];
    Llmgw__V1__Message *msgs[3] = {&f.msg[0], &f.msg[1], &third};
    f.req.messages = msgs;
    f.req.n_messages = 3;
    expect_error(&f, "messages: ");
    free(big);
}

static void test_chatreq_sampling_ranges(void **state)
{
    fixture_t f;
    fixture_init(&f);
    f.req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    f.req.temperature = 2.5;
    expect_error(&f, "temperature");
    f.req.temperature = 0;
    assert_int_equal(chatreq_validate(&f.req, f.err, sizeof(f.err)), 0);

    f.req.top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
    f.req.top_p = -0.1;
    expect_error(&f, "top_p");
    f.req.top_p = 1;

    f.req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    f.req.max_tokens = 0;
    expect_error(&f, "max_tokens");
    f.req.max_tokens = 16;

    f.req.presence_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY;
    f.req.presence_penalty = 3;
    expect_error(&f, "presence_penalty");
    f.req.presence_penalty = 0;

    f.req.frequency_penalty_opt_case =
        LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
    f.req.frequency_penalty = -2.5;
    expect_error(&f, "frequency_penalty");
}

static void test_chatreq_stop_sequences_limited_and_non_empty(void **state)
{
    fixture_t f;
    fixture_init(&f);
    char *stops[5] = {"a", "b", "c", "d", "e"};
    f.req.stop = stops;
    f.req.n_stop = 5;
    expect_error(&f, "stop: at most 4");
    stops[1] = "";
    f.req.n_stop = 2;
    expect_error(&f, "stop[1]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chatreq_accepts_a_plain_request),
        cmocka_unit_test(test_chatreq_requires_model_and_messages),
        cmocka_unit_test(test_chatreq_rejects_unknown_role_naming_the_index),
        cmocka_unit_test(test_chatreq_tool_message_needs_tool_call_id),
        cmocka_unit_test(test_chatreq_empty_user_content_is_rejected_but_assistant_may_be_empty),
        cmocka_unit_test(test_chatreq_content_over_limit_is_rejected),
        cmocka_unit_test(test_chatreq_total_over_limit_is_rejected),
        cmocka_unit_test(test_chatreq_sampling_ranges),
        cmocka_unit_test(test_chatreq_stop_sequences_limited_and_non_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
