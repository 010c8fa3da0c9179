/* Unit tests for admin/eval_prompts.c: each field accepted, the scorer
 * picked, and every refusal named FILE:LINE: field (bad JSON, unknown field,
 * wrong types, no scorer with one candidate, invalid regex, bad schema,
 * huge lines, blank lines skipped, empty files, missing files).
 *
 * The CLI's modules are not in a library the tests link (admin/ builds one
 * executable), so the module's source is compiled into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../admin/eval_prompts.c"
#include "../../admin/eval_score.c"

static char ep_err[1024];

static int parse(const char *line, size_t n_cand, eval_prompt_t *p)
{
    return eval_prompts_parse_line("f.jsonl", 7, line, strlen(line), n_cand, p, ep_err,
                                   sizeof(ep_err));
}

static void refused(const char *line, size_t n_cand, const char *want)
{
    eval_prompt_t p;
    ep_err[0] = '\0';
    assert_int_equal(parse(line, n_cand, &p), -1);
    if (strstr(ep_err, want) == NULL)
        fail_msg("message '%s' does not contain '%s'", ep_err, want);
}

static void test_eval_prompts_exact_with_id(void **state)
{
    (void)state;
    eval_prompt_t p;
    assert_int_equal(parse("{\"id\": \"q1\", \"prompt\": \"2+2?\", \"expected\": \"4\"}", 1, &p),
                     0);
    assert_string_equal(p.id, "q1");
    assert_string_equal(p.prompt, "2+2?");
    assert_string_equal(p.expected, "4");
    assert_int_equal(p.scorer, EVAL_SCORER_EXACT);
    eval_prompt_clear(&p);
}

static void test_eval_prompts_default_id_is_line(void **state)
{
    (void)state;
    eval_prompt_t p;
    assert_int_equal(parse("{\"prompt\": \"x\", \"regex\": \"^a+$\"}", 1, &p), 0);
    assert_string_equal(p.id, "7");
    assert_int_equal(p.scorer, EVAL_SCORER_REGEX);
    assert_true(eval_score_regex(&p.regex, "aaa") == 1.0);
    assert_true(eval_score_regex(&p.regex, "aab") == 0.0);
    eval_prompt_clear(&p);
}

static void test_eval_prompts_schema_judge_agreement(void **state)
{
    (void)state;
    eval_prompt_t p;
    assert_int_equal(parse("{\"prompt\": \"x\", \"schema\": {\"type\": \"object\"}}", 1, &p), 0);
    assert_int_equal(p.scorer, EVAL_SCORER_SCHEMA);
    eval_prompt_clear(&p);
    assert_int_equal(parse("{\"prompt\": \"x\", \"rubric\": \"be brief\"}", 1, &p), 0);
    assert_int_equal(p.scorer, EVAL_SCORER_JUDGE);
    eval_prompt_clear(&p);
    assert_int_equal(parse("{\"prompt\": \"x\"}", 2, &p), 0);
    assert_int_equal(p.scorer, EVAL_SCORER_AGREEMENT);
    eval_prompt_clear(&p);
}

static void test_eval_prompts_refusals_name_line_and_field(void **state)
{
    (void)state;
    refused("{\"prompt\": ", 1, "f.jsonl:7: line: invalid JSON");
    refused("[1]", 1, "f.jsonl:7: line: expected a JSON object");
    refused("{\"prompt\": \"a\", \"expected\": \"b\", \"extra\": 1}", 1,
            "f.jsonl:7: extra: unknown field");
    refused("{\"expected\": \"b\"}", 1, "f.jsonl:7: prompt: required");
    refused("{\"prompt\": \"\", \"expected\": \"b\"}", 1, "f.jsonl:7: prompt: must not be empty");
    refused("{\"prompt\": 1, \"expected\": \"b\"}", 1, "f.jsonl:7: prompt: expected a string");
    refused("{\"prompt\": \"a\", \"expected\": 4}", 1, "f.jsonl:7: expected: expected a string");
    refused("{\"prompt\": \"a\", \"id\": 4, \"expected\": \"b\"}", 1, "f.jsonl:7: id: expected");
    refused("{\"prompt\": \"a\\u0000b\", \"expected\": \"b\"}", 1, "f.jsonl:7: line: invalid JSON");
    refused("{\"prompt\": \"a\"}", 1, "f.jsonl:7: line: no scorer");
    refused("{\"prompt\": \"a\", \"regex\": \"a[\"}", 1, "f.jsonl:7: regex: invalid");
    refused("{\"prompt\": \"a\", \"schema\": 3}", 1, "f.jsonl:7: schema: expected an object");
    refused("{\"prompt\": \"a\", \"schema\": {\"items\": {\"type\": 1}}}", 1,
            "f.jsonl:7: schema.items.type: expected one of");
    refused("{\"prompt\": \"a\", \"rubric\": \"\"}", 1, "f.jsonl:7: rubric: must not be empty");
}

static void test_eval_prompts_huge_line_refused_before_parsing(void **state)
{
    (void)state;
    eval_prompt_t p;
    size_t n = EVAL_LINE_MAX + 1;
    char *line = malloc(n);
    assert_non_null(line);
    memset(line, ' ', n);
    assert_int_equal(eval_prompts_parse_line("f", 1, line, n, 1, &p, ep_err, sizeof(ep_err)), -1);
    assert_non_null(strstr(ep_err, "f:1: line: longer than"));
    free(line);
}

static char *write_tmp(const char *content, size_t len)
{
    char *path = strdup("/tmp/test_eval_prompts.XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_eval_prompts_load_skips_blank_lines(void **state)
{
    (void)state;
    const char *text = "\n{\"prompt\": \"a\", \"expected\": \"b\"}\r\n   \n"
                       "{\"prompt\": \"c\", \"regex\": \"d\"}";
    char *path = write_tmp(text, strlen(text));
    eval_prompts_t s;
    assert_int_equal(eval_prompts_load(path, 1, &s, ep_err, sizeof(ep_err)), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.items[0].id, "2");
    assert_string_equal(s.items[1].id, "4");
    eval_prompts_free(&s);
    unlink(path);
    free(path);
}

static void test_eval_prompts_load_names_the_bad_line(void **state)
{
    (void)state;
    const char *text =
        "{\"prompt\": \"a\", \"expected\": \"b\"}\n{\"prompt\": \"c\", \"regex\": 1}\n";
    char *path = write_tmp(text, strlen(text));
    eval_prompts_t s;
    char want[256];
    assert_int_equal(eval_prompts_load(path, 1, &s, ep_err, sizeof(ep_err)), -1);
    snprintf(want, sizeof(want), "%s:2: regex: expected a string", path);
    assert_string_equal(ep_err, want);
    assert_int_equal(s.n, 0);
    assert_null(s.items);
    unlink(path);
    free(path);
}

static void test_eval_prompts_load_huge_line_without_newline(void **state)
{
    (void)state;
    size_t n = 2 * EVAL_LINE_MAX;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    char *path = write_tmp(big, n);
    eval_prompts_t s;
    assert_int_equal(eval_prompts_load(path, 1, &s, ep_err, sizeof(ep_err)), -1);
    assert_non_null(strstr(ep_err, ":1: line: longer than"));
    unlink(path);
    free(path);
    free(big);
}

static void test_eval_prompts_load_empty_and_missing(void **state)
{
    (void)state;
    eval_prompts_t s;
    char *path = write_tmp("\n\n", 2);
    assert_int_equal(eval_prompts_load(path, 1, &s, ep_err, sizeof(ep_err)), -1);
    assert_non_null(strstr(ep_err, ": no prompts"));
    unlink(path);
    assert_int_equal(eval_prompts_load(path, 1, &s, ep_err, sizeof(ep_err)), -1);
    assert_non_null(strstr(ep_err, ": cannot open"));
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_prompts_exact_with_id),
        cmocka_unit_test(test_eval_prompts_default_id_is_line),
        cmocka_unit_test(test_eval_prompts_schema_judge_agreement),
        cmocka_unit_test(test_eval_prompts_refusals_name_line_and_field),
        cmocka_unit_test(test_eval_prompts_huge_line_refused_before_parsing),
        cmocka_unit_test(test_eval_prompts_load_skips_blank_lines),
        cmocka_unit_test(test_eval_prompts_load_names_the_bad_line),
        cmocka_unit_test(test_eval_prompts_load_huge_line_without_newline),
        cmocka_unit_test(test_eval_prompts_load_empty_and_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
