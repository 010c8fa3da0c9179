/* Unit tests for admin/eval_score.c: exact (trim, case-fold), regex, the
 * schema subset (checker and validator, each keyword), token-set Jaccard and
 * the judge's number. The module's source is compiled in (admin/ builds one
 * executable, no library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../admin/eval_score.c"

static json_t *schema(const char *text)
{
    json_error_t e;
    json_t *s = json_loads(text, 0, &e);
    assert_non_null(s);
    char err[256];
    if (eval_schema_check(s, "schema", err, sizeof(err)) < 0)
        fail_msg("schema '%s' refused: %s", text, err);
    return s;
}

static void test_eval_score_exact_trims_and_folds_case(void **state)
{
    (void)state;
    assert_true(eval_score_exact("  Paris\n", "paris") == 1.0);
    assert_true(eval_score_exact("PARIS", " paris ") == 1.0);
    assert_true(eval_score_exact("Paris.", "paris") == 0.0);
    assert_true(eval_score_exact("", "") == 1.0);
    assert_true(eval_score_exact("Par is", "paris") == 0.0);
}

static void test_eval_score_regex_extended(void **state)
{
    (void)state;
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]+ (apples|pears)$", REG_EXTENDED | REG_NOSUB), 0);
    assert_true(eval_score_regex(&re, "12 pears") == 1.0);
    assert_true(eval_score_regex(&re, "12 plums") == 0.0);
    regfree(&re);
}

static void test_eval_score_schema_types_required_properties(void **state)
{
    (void)state;
    json_t *s = schema("{\"type\": \"object\", \"required\": [\"city\"], \"properties\": "
                       "{\"city\": {\"type\": \"string\"}, \"pop\": {\"type\": \"integer\"}}}");
    assert_true(eval_score_schema(s, " {\"city\": \"Paris\", \"pop\": 2} ") == 1.0);
    assert_true(eval_score_schema(s, "{\"city\": \"Paris\", \"pop\": 2.0}") == 1.0);
    assert_true(eval_score_schema(s, "{\"city\": \"Paris\", \"pop\": 2.5}") == 0.0);
    assert_true(eval_score_schema(s, "{\"pop\": 2}") == 0.0);
    assert_true(eval_score_schema(s, "{\"city\": 3}") == 0.0);
    assert_true(eval_score_schema(s, "[]") == 0.0);
    assert_true(eval_score_schema(s, "The city is Paris") == 0.0);
    assert_true(eval_score_schema(s, "") == 0.0);
    json_decref(s);
}

static void test_eval_score_schema_enum_items_type_list(void **state)
{
    (void)state;
    json_t *s = schema("{\"type\": \"array\", \"items\": {\"enum\": [\"a\", 1, null]}}");
    assert_true(eval_score_schema(s, "[\"a\", 1, null]") == 1.0);
    assert_true(eval_score_schema(s, "[]") == 1.0);
    assert_true(eval_score_schema(s, "[\"b\"]") == 0.0);
    json_decref(s);
    s = schema("{\"type\": [\"string\", \"null\"]}");
    assert_true(eval_score_schema(s, "null") == 1.0);
    assert_true(eval_score_schema(s, "\"x\"") == 1.0);
    assert_true(eval_score_schema(s, "true") == 0.0);
    json_decref(s);
    s = schema("{\"type\": \"boolean\"}");
    assert_true(eval_score_schema(s, "false") == 1.0);
    assert_true(eval_score_schema(s, "0") == 0.0);
    json_decref(s);
}

static void check_refused(const char *text, const char *want)
{
    json_error_t e;
    char err[256] = "";
    json_t *s = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(s);
    assert_int_equal(eval_schema_check(s, "schema", err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("'%s' does not contain '%s'", err, want);
    json_decref(s);
}

static void test_eval_schema_check_refuses_outside_subset(void **state)
{
    (void)state;
    check_refused("[]", "schema: expected an object");
    check_refused("{\"type\": \"float\"}", "schema.type: expected one of");
    check_refused("{\"type\": []}", "schema.type: expected one of");
    check_refused("{\"required\": \"a\"}", "schema.required: expected an array");
    check_refused("{\"required\": [1]}", "schema.required[0]: expected a string");
    check_refused("{\"enum\": []}", "schema.enum: expected a non-empty array");
    check_refused("{\"properties\": []}", "schema.properties: expected an object");
    check_refused("{\"properties\": {\"a\": {\"minimum\": 1}}}",
                  "schema.properties.a.minimum: unsupported keyword");
    check_refused("{\"items\": {\"items\": 3}}", "schema.items.items: expected an object");
    /* nesting deeper than the cap */
    char deep[1024] = "";
    for (int i = 0; i < EVAL_SCHEMA_DEPTH_MAX + 2; i++)
        strcat(deep, "{\"items\": ");
    strcat(deep, "{}");
    for (int i = 0; i < EVAL_SCHEMA_DEPTH_MAX + 2; i++)
        strcat(deep, "}");
    check_refused(deep, "nested deeper than");
}

static void test_eval_jaccard_token_sets(void **state)
{
    (void)state;
    assert_true(eval_jaccard("The answer is 4.", "the ANSWER is 4") == 1.0);
    assert_true(eval_jaccard("a b", "b c") > 0.333 && eval_jaccard("a b", "b c") < 0.334);
    assert_true(eval_jaccard("a a a b", "a b b") == 1.0);
    assert_true(eval_jaccard("Paris", "London") == 0.0);
    assert_true(eval_jaccard("", "...") == 1.0);
    assert_true(eval_jaccard("", "x") == 0.0);
}

static void test_eval_judge_parse_first_number(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(eval_judge_parse("0.8", &v), 0);
    assert_true(v == 0.8);
    assert_int_equal(eval_judge_parse("Score: 1", &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(eval_judge_parse("score .25 of 1", &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(eval_judge_parse("7/10", &v), -1);
    assert_int_equal(eval_judge_parse("good", &v), -1);
    assert_int_equal(eval_judge_parse("", &v), -1);
    assert_int_equal(eval_judge_parse("1e999", &v), -1);
    assert_int_equal(eval_judge_parse("-0.5", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_score_exact_trims_and_folds_case),
        cmocka_unit_test(test_eval_score_regex_extended),
        cmocka_unit_test(test_eval_score_schema_types_required_properties),
        cmocka_unit_test(test_eval_score_schema_enum_items_type_list),
        cmocka_unit_test(test_eval_schema_check_refuses_outside_subset),
        cmocka_unit_test(test_eval_jaccard_token_sets),
        cmocka_unit_test(test_eval_judge_parse_first_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
