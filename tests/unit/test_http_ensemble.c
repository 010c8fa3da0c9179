/* Unit tests for http_ensemble: the /v1/ensembles body -> EnsembleRequest
 * (every config field, the proto's enum names, errors naming the JSON path,
 * the chat request decoded as /v1/chat/completions decodes it) and the
 * answer: the chosen chat.completion plus members and analysis. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_ensemble.h"

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

#define Q "\"request\":{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}"

static int decode(const char *body, Llmgw__V1__EnsembleRequest **out, char *err, size_t errlen)
{
    return http_ensemble_decode(body, strlen(body), arena, out, err, errlen);
}

static void expect_error(const char *body, const char *message)
{
    Llmgw__V1__EnsembleRequest *r = NULL;
    char err[512] = "";
    assert_int_equal(decode(body, &r, err, sizeof(err)), -1);
    assert_string_equal(err, message);
}

static void test_http_ensemble_decode_every_config_field(void **state)
{
    (void)state;
    Llmgw__V1__EnsembleRequest *r = NULL;
    char err[512] = "";
    const char *body =
        "{\"request\":{\"model\":\"ignored\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
        "\"temperature\":0.3,\"logit_bias\":{\"1\":2}},"
        "\"config\":{\"method\":\"cascade\",\"members\":[\"a/m\",{\"model\":\"b/"
        "m\",\"weight\":2.5}],"
        "\"min_responses\":1,\"member_timeout_ms\":100,\"timeout_ms\":2000,\"judge_model\":\"j/m\","
        "\"judge_prompt\":\"{question} {answers}\",\"normalization\":\"none\","
        "\"extract_pattern\":\"[0-9]+\",\"judge_threshold\":0.7,\"require_agreement\":true,"
        "\"json_schema\":{\"type\":\"object\",\"required\":[\"x\"]}}}";
    assert_int_equal(decode(body, &r, err, sizeof(err)), 0);
    const Llmgw__V1__EnsembleConfig *c = r->config;
    assert_int_equal(c->method, LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CASCADE);
    assert_int_equal(c->n_members, 2);
    assert_string_equal(c->members[0]->model, "a/m");
    assert_true(c->members[0]->weight == 0);
    assert_string_equal(c->members[1]->model, "b/m");
    assert_true(c->members[1]->weight == 2.5);
    assert_int_equal(c->min_responses, 1);
    assert_int_equal(c->member_timeout_ms, 100);
    assert_int_equal(c->timeout_ms, 2000);
    assert_string_equal(c->judge_model, "j/m");
    assert_string_equal(c->judge_prompt, "{question} {answers}");
    assert_int_equal(c->normalization,
                     LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_NONE);
    assert_string_equal(c->extract_pattern, "[0-9]+");
    assert_true(c->judge_threshold == 0.7);
    assert_true(c->require_agreement);
    assert_string_equal(c->json_schema, "{\"type\":\"object\",\"required\":[\"x\"]}");
    /* The chat request as /v1/chat/completions reads it, unknown members
     * passed through. */
    assert_int_equal(r->request->n_messages, 1);
    assert_string_equal(r->request->messages[0]->content, "q");
    assert_true(r->request->temperature == 0.3);
    assert_string_equal(r->request->extra_body_json, "{\"logit_bias\":{\"1\":2}}");
}

static void test_http_ensemble_decode_defaults_and_proto_names(void **state)
{
    (void)state;
    Llmgw__V1__EnsembleRequest *r = NULL;
    char err[512] = "";
    assert_int_equal(decode("{" Q ",\"config\":{\"method\":\"ENSEMBLE_METHOD_WEIGHTED\","
                            "\"members\":[\"a/m\"],\"normalization\":"
                            "\"ENSEMBLE_NORMALIZATION_DEFAULT\",\"json_schema\":\"{}\","
                            "\"judge_model\":null}}",
                            &r, err, sizeof(err)),
                     0);
    const Llmgw__V1__EnsembleConfig *c = r->config;
    assert_int_equal(c->method, LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED);
    assert_int_equal(c->normalization,
                     LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_DEFAULT);
    assert_string_equal(c->json_schema, "{}");
    assert_string_equal(c->judge_model, "");
    assert_string_equal(c->extract_pattern, "");
    assert_int_equal(c->timeout_ms, 0);
    assert_false(c->require_agreement);
    /* No model: members name theirs. */
    assert_string_equal(r->request->model, "");
    static const char *const methods[] = {"consensus", "voting", "weighted", "cascade"};
    for (size_t i = 0; i < 4; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{" Q ",\"config\":{\"method\":\"%s\",\"members\":[\"a\"]}}",
                 methods[i]);
        assert_int_equal(decode(body, &r, err, sizeof(err)), 0);
        assert_int_equal(r->config->method, (int)i + 1);
    }
}

static void test_http_ensemble_decode_errors_name_the_json_path(void **state)
{
    (void)state;
    expect_error("", "body: invalid JSON at line 1 column 0: '[' or '{' expected near end of file");
    expect_error("[]", "body: expected a JSON object");
    expect_error("{\"config\":{}}", "request: required");
    expect_error("{\"request\":[],\"config\":{}}", "request: expected an object");
    expect_error("{" Q "}", "config: required");
    expect_error("{" Q ",\"config\":{},\"x\":1}",
                 "x: unknown member (expected request and config)");
    expect_error("{" Q ",\"config\":{\"members\":[\"a\"]}}", "config.method: required");
    expect_error("{" Q ",\"config\":{\"method\":3,\"members\":[\"a\"]}}",
                 "config.method: expected one of consensus, voting, weighted, cascade");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\"}}", "config.members: required");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":\"a\"}}",
                 "config.members: expected an array");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\",null]}}",
                 "config.members[1]: expected an object or a string");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[{}]}}",
                 "config.members[0].model: required");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[{\"model\":1}]}}",
                 "config.members[0].model: expected a string");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[{\"model\":\"a\","
                 "\"weight\":true}]}}",
                 "config.members[0].weight: expected a number");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[{\"model\":\"a\","
                 "\"w\":1}]}}",
                 "config.members[0].w: unknown member (expected model, weight)");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"timeout_ms\":-1}}",
                 "config.timeout_ms: expected an integer from 0 to 2147483647");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"min_responses\":4294967296}}",
                 "config.min_responses: expected an integer from 0 to 2147483647");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"member_timeout_ms\":\"5\"}}",
                 "config.member_timeout_ms: expected an integer from 0 to 2147483647");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"judge_model\":[]}}",
                 "config.judge_model: expected a string");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"normalization\":\"NONE\"}}",
                 "config.normalization: expected \"default\" or \"none\"");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"judge_threshold\":\"high\"}}",
                 "config.judge_threshold: expected a number");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"require_agreement\":\"yes\"}}",
                 "config.require_agreement: expected a boolean");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],"
                 "\"json_schema\":5}}",
                 "config.json_schema: expected an object");
    expect_error("{" Q ",\"config\":{\"method\":\"voting\",\"members\":[\"a\"],\"judge\":{}}}",
                 "config.judge: unknown member");
    /* The chat request's own errors, with their path under request. */
    expect_error("{\"request\":{\"messages\":[{\"role\":\"user\",\"content\":5}]},"
                 "\"config\":{\"method\":\"voting\",\"members\":[\"a\"]}}",
                 "request.messages[0].content: expected a string or an array of parts");
    expect_error("{\"request\":{\"model\":7,\"messages\":[]},"
                 "\"config\":{\"method\":\"voting\",\"members\":[\"a\"]}}",
                 "request.model: expected a string");
    expect_error("{\"request\":{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                 "\"stream\":true},\"config\":{\"method\":\"voting\",\"members\":[\"a\"]}}",
                 "request.stream: not supported by /v1/ensembles");
}

static void test_http_ensemble_decode_refuses_duplicates_and_too_many_members(void **state)
{
    (void)state;
    Llmgw__V1__EnsembleRequest *r = NULL;
    char err[512] = "";
    assert_int_equal(decode("{" Q ",\"config\":{\"method\":\"voting\",\"method\":\"voting\","
                            "\"members\":[\"a\"]}}",
                            &r, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "body: invalid JSON"));
    assert_non_null(strstr(err, "duplicate object key"));
    char body[1024];
    int n = snprintf(body, sizeof(body), "{" Q ",\"config\":{\"method\":\"voting\",\"members\":[");
    for (int i = 0; i < 17; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s\"p%d/m\"", i ? "," : "", i);
    snprintf(body + n, sizeof(body) - (size_t)n, "]}}");
    expect_error(body, "config.members: at most 16 members");
}

/* A response as ensemble.c builds it, in the arena. */
static Llmgw__V1__EnsembleResponse *response(void)
{
    Llmgw__V1__EnsembleResponse *r = arena_alloc(arena, sizeof(*r));
    Llmgw__V1__ChatResponse *c = arena_alloc(arena, sizeof(*c));
    Llmgw__V1__Usage *u = arena_alloc(arena, sizeof(*u));
    Llmgw__V1__EnsembleAnalysis *an = arena_alloc(arena, sizeof(*an));
    Llmgw__V1__MemberResult **ms = arena_alloc(arena, 2 * sizeof(*ms));
    Llmgw__V1__RouteDecision *d = arena_alloc(arena, sizeof(*d));
    int32_t *outliers = arena_alloc(arena, sizeof(int32_t));
    assert_non_null(outliers);
    llmgw__v1__ensemble_response__init(r);
    llmgw__v1__chat_response__init(c);
    llmgw__v1__usage__init(u);
    llmgw__v1__ensemble_analysis__init(an);
    llmgw__v1__route_decision__init(d);
    u->prompt_tokens = 3;
    u->completion_tokens = 2;
    u->total_tokens = 5;
    c->id = "chatcmpl-1";
    c->model = "m";
    Llmgw__V1__Choice *ch = arena_alloc(arena, sizeof(*ch));
    Llmgw__V1__Choice **chs = arena_alloc(arena, sizeof(*chs));
    Llmgw__V1__Message *msg = arena_alloc(arena, sizeof(*msg));
    assert_non_null(chs);
    llmgw__v1__choice__init(ch);
    llmgw__v1__message__init(msg);
    msg->role = "assistant";
    msg->content = "four";
    ch->message = msg;
    ch->finish_reason = "stop";
    chs[0] = ch;
    c->choices = chs;
    c->n_choices = 1;
    c->usage = u;
    d->provider = "p";
    d->reason = "direct";
    for (int i = 0; i < 2; i++) {
        ms[i] = arena_alloc(arena, sizeof(**ms));
        llmgw__v1__member_result__init(ms[i]);
    }
    ms[0]->member = "p/m";
    ms[0]->provider = "p";
    ms[0]->state = "ok";
    ms[0]->content = "four";
    ms[0]->usage = u;
    ms[0]->cost_usd = 0.25;
    ms[0]->weight = 1;
    ms[0]->agrees = true;
    ms[0]->route = d;
    ms[1]->member = "q/m";
    ms[1]->state = "failed";
    ms[1]->content = "should not show";
    ms[1]->error = "upstream 500";
    ms[1]->status_code = 14;
    ms[1]->similarity = NAN;
    outliers[0] = 1;
    an->outliers = outliers;
    an->n_outliers = 1;
    an->chosen_member = 0;
    an->cascade_stage = -1;
    an->judge_score = -1;
    an->total_cost_usd = 0.25;
    an->responses = 1;
    r->chosen = c;
    r->members = ms;
    r->n_members = 2;
    r->analysis = an;
    return r;
}

static void test_http_ensemble_encode_chat_completion_with_members_and_analysis(void **state)
{
    (void)state;
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(http_ensemble_encode(response(), &out), 0);
    json_error_t je;
    json_t *root = json_loads(buf_cstr(&out), 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "object")), "chat.completion");
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(choice, "message"), "content")), "four");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(root, "usage"), "total_tokens")), 5);
    json_t *members = json_object_get(root, "members");
    assert_int_equal(json_array_size(members), 2);
    json_t *m0 = json_array_get(members, 0), *m1 = json_array_get(members, 1);
    assert_string_equal(json_string_value(json_object_get(m0, "member")), "p/m");
    assert_string_equal(json_string_value(json_object_get(m0, "content")), "four");
    assert_true(json_is_true(json_object_get(m0, "agrees")));
    assert_true(json_is_null(json_object_get(m0, "error")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m0, "route"), "provider")), "p");
    assert_true(json_real_value(json_object_get(m0, "cost_usd")) == 0.25);
    /* A failed member: no content, its error and status, null usage and
     * route; a NaN figure is null, not invalid JSON. */
    assert_true(json_is_null(json_object_get(m1, "content")));
    assert_string_equal(json_string_value(json_object_get(m1, "error")), "upstream 500");
    assert_int_equal(json_integer_value(json_object_get(m1, "status_code")), 14);
    assert_true(json_is_null(json_object_get(m1, "usage")));
    assert_true(json_is_null(json_object_get(m1, "route")));
    assert_true(json_is_null(json_object_get(m1, "similarity")));
    assert_true(json_is_null(json_object_get(m1, "provider")));
    json_t *an = json_object_get(root, "analysis");
    assert_int_equal(json_integer_value(json_object_get(an, "chosen_member")), 0);
    assert_int_equal(json_integer_value(json_object_get(an, "cascade_stage")), -1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(an, "outliers"), 0)), 1);
    assert_true(json_is_null(json_object_get(an, "judge_output")));
    json_decref(root);
    buf_free(&out);
}

static void test_http_ensemble_encode_refuses_incomplete_and_full(void **state)
{
    (void)state;
    Llmgw__V1__EnsembleResponse *r = response();
    buf_t small = BUF_INIT(64);
    assert_int_equal(http_ensemble_encode(r, &small), -1);
    buf_free(&small);
    r->chosen = NULL;
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(http_ensemble_encode(r, &out), -1);
    assert_int_equal(http_ensemble_encode(NULL, &out), -1);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_ensemble_decode_every_config_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_ensemble_decode_defaults_and_proto_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_ensemble_decode_errors_name_the_json_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_http_ensemble_decode_refuses_duplicates_and_too_many_members, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_http_ensemble_encode_chat_completion_with_members_and_analysis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_ensemble_encode_refuses_incomplete_and_full,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
