/* Unit tests for ensemble_methods.c (normalization, extraction, similarity,
 * voting, consensus, weighted voting, outliers, judge parsing, the JSON
 * schema subset) and consistency.c (the per-deployment score).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consistency.h"
#include "ensemble_methods.h"

#define EPS 1e-9

static char *key_of(const char *answer, ensm_norm_t norm, const char *pattern)
{
    char err[256];
    ensm_pattern_t *p = NULL;
    if (pattern) {
        p = ensm_pattern_compile(pattern, err, sizeof(err));
        assert_non_null(p);
    }
    char *key = NULL;
    int rc = ensm_vote_key(answer, norm, p, &key);
    ensm_pattern_free(p);
    assert_true(rc == 0 || rc == 1);
    return key;
}

static void test_normalization_trims_folds_case_and_strips_punctuation(void **state)
{
    char *k = key_of("  The answer is:   PARIS!! ", ENSM_NORM_DEFAULT, NULL);
    assert_string_equal(k, "the answer is paris");
    free(k);
    k = key_of("Pi is 3.14, roughly 1,000/318.", ENSM_NORM_DEFAULT, NULL);
    assert_string_equal(k, "pi is 3.14 roughly 1,000318");
    free(k);
    k = key_of("  Keep It  ", ENSM_NORM_NONE, NULL);
    assert_string_equal(k, "  Keep It  ");
    free(k);
}

static void test_extraction_takes_the_last_match_or_its_group(void **state)
{
    char *k = key_of("2 + 2 = 4, so the total is 42.", ENSM_NORM_DEFAULT, "[0-9]+");
    assert_string_equal(k, "42");
    free(k);
    k = key_of("Answer: B (because A is wrong)", ENSM_NORM_DEFAULT, "Answer: ([A-D])");
    assert_string_equal(k, "b");
    free(k);
    assert_null(key_of("no digits here", ENSM_NORM_DEFAULT, "[0-9]+"));
}

static void test_bad_or_costly_patterns_are_refused_naming_the_field(void **state)
{
    char err[256];
    assert_null(ensm_pattern_compile("([0-9]+", err, sizeof(err)));
    assert_non_null(strstr(err, "config.extract_pattern"));
    assert_null(ensm_pattern_compile("(a)\\1", err, sizeof(err)));
    assert_non_null(strstr(err, "back-references"));
    assert_null(ensm_pattern_compile("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", err, sizeof(err)));
    assert_non_null(strstr(err, "repetition"));
    char big[ENSM_PATTERN_MAX_LEN + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_null(ensm_pattern_compile(big, err, sizeof(err)));
    assert_null(ensm_pattern_compile("", err, sizeof(err)));
    assert_null(ensm_pattern_compile("[0-9]*", err, sizeof(err)));
    assert_non_null(strstr(err, "empty string"));
}

static void test_jaccard_similarity_on_known_inputs(void **state)
{
    assert_true(fabs(ensm_similarity("the sky is blue", "The sky is BLUE!") - 1) < EPS);
    /* {the, sky, is, blue} vs {the, sky, is, grey}: 3 / 5 */
    assert_true(fabs(ensm_similarity("the sky is blue", "the sky is grey") - 0.6) < EPS);
    assert_true(fabs(ensm_similarity("alpha beta", "gamma delta")) < EPS);
    assert_true(fabs(ensm_similarity("", "...") - 1) < EPS);
    /* duplicates count once: {a, b} vs {a}: 1 / 2 */
    assert_true(fabs(ensm_similarity("a a a b", "a") - 0.5) < EPS);
}

typedef struct {
    const char *texts[8];
    char *keys[8];
    double weights[8];
    double quality[8];
    ensm_input_t in;
} fixture_t;

static void fixture_init(fixture_t *f, size_t n, const char *const *texts, const char *pattern)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        f->texts[i] = texts[i];
        f->keys[i] = key_of(texts[i], ENSM_NORM_DEFAULT, pattern);
        f->weights[i] = 1;
        f->quality[i] = 0.5;
    }
    f->in.n = n;
    f->in.texts = f->texts;
    f->in.keys = (const char *const *)f->keys;
    f->in.weights = f->weights;
    f->in.quality = f->quality;
}

static void fixture_free(fixture_t *f)
{
    for (size_t i = 0; i < f->in.n; i++)
        free(f->keys[i]);
}

static void test_voting_majority_wins_after_normalization(void **state)
{
    const char *t[] = {"Paris.", "London", "paris", "  PARIS  "};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 4, t, NULL);
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 0);
    assert_true(fabs(r.confidence - 0.75) < EPS);
    /* pairs agreeing: (0,2) (0,3) (2,3) of 6 */
    assert_true(fabs(r.agreement - 0.5) < EPS);
    assert_true(r.agrees[0] && !r.agrees[1] && r.agrees[2] && r.agrees[3]);
    fixture_free(&f);
}

static void test_voting_with_extraction_counts_the_final_number(void **state)
{
    const char *t[] = {"Step 1: 3, total 12", "I think 7", "Adding up: 5 + 7 = 12", "no idea"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 4, t, "[0-9]+");
    assert_null(f.keys[3]);
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_string_equal(f.keys[r.chosen], "12");
    assert_int_equal(r.chosen, 0);
    assert_true(fabs(r.confidence - 2.0 / 3.0) < EPS);
    assert_false(r.agrees[3]);
    fixture_free(&f);
}

static void test_voting_without_any_vote_is_reported(void **state)
{
    const char *t[] = {"none", "nothing"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 2, t, "[0-9]+");
    assert_int_equal(ensm_vote(&f.in, false, &r), -2);
    fixture_free(&f);
}

static void test_voting_tie_is_broken_by_weight_then_quality_then_order(void **state)
{
    const char *t[] = {"yes", "no"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 2, t, NULL);
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 0); /* full tie: the first member */
    f.quality[1] = 0.9;
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 1); /* quality */
    f.weights[0] = 2;
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 0); /* weight beats quality */
    assert_true(fabs(r.confidence - 0.5) < EPS);
    fixture_free(&f);
}

static void test_weighted_voting_lets_heavy_members_outvote_a_majority(void **state)
{
    const char *t[] = {"blue", "green", "green"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 3, t, NULL);
    f.weights[0] = 3;
    assert_int_equal(ensm_vote(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 1); /* unweighted: the two greens */
    assert_int_equal(ensm_vote(&f.in, true, &r), 0);
    assert_int_equal(r.chosen, 0); /* weighted: 3 against 2 */
    assert_true(fabs(r.confidence - 0.6) < EPS);
    fixture_free(&f);
}

static void test_weighted_tie_goes_to_the_weighted_medoid(void **state)
{
    /* Three singletons of equal weight: the answer closest to the others
     * wins. */
    const char *t[] = {"the cat sat", "the cat sat on the mat", "a dog ran"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 3, t, NULL);
    assert_int_equal(ensm_vote(&f.in, true, &r), 0);
    assert_true(r.chosen == 0 || r.chosen == 1);
    /* sim(0,1) = 3/6, sim(0,2) = 0, sim(1,2) = 0: tie between 0 and 1 on
     * similarity, lowest index. */
    assert_int_equal(r.chosen, 0);
    fixture_free(&f);
}

static void test_consensus_picks_the_medoid_and_reports_agreement(void **state)
{
    const char *t[] = {"the sky is blue", "the sky is blue today", "bananas are yellow"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 3, t, NULL);
    assert_int_equal(ensm_consensus(&f.in, false, &r), 0);
    /* sim(0,1) = 4/5, sim(0,2) = 0, sim(1,2) = 0: 0 and 1 tie, 0 first */
    assert_int_equal(r.chosen, 0);
    assert_true(fabs(r.agreement - 0.8 / 3) < EPS);
    assert_true(fabs(r.diversity - (1 - 0.8 / 3)) < EPS);
    assert_true(fabs(r.confidence - 0.4) < EPS);
    assert_true(fabs(r.similarity[2]) < EPS);
    assert_true(r.outlier[2]);
    assert_false(r.outlier[0] || r.outlier[1]);
    assert_true(r.agrees[1] && !r.agrees[2]);
    fixture_free(&f);
}

static void test_consensus_of_one_answer_is_that_answer(void **state)
{
    const char *t[] = {"alone"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 1, t, NULL);
    assert_int_equal(ensm_consensus(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 0);
    assert_true(fabs(r.agreement - 1) < EPS);
    assert_false(r.outlier[0]);
    fixture_free(&f);
}

static void test_weighted_consensus_follows_the_weights(void **state)
{
    /* 1 is close to 0, 2 is close to 3 (each pair 3/5); member 3 weighs
     * most, so the answer closest to it (2) wins the weighted medoid. */
    const char *t[] = {"a b c d", "a b c e", "w x y z", "w x y q"};
    fixture_t f;
    ensm_result_t r;
    fixture_init(&f, 4, t, NULL);
    f.weights[3] = 5;
    assert_int_equal(ensm_consensus(&f.in, false, &r), 0);
    assert_int_equal(r.chosen, 3); /* a four-way tie: the heaviest member */
    assert_int_equal(ensm_consensus(&f.in, true, &r), 0);
    assert_int_equal(r.chosen, 2);
    fixture_free(&f);
}

static void test_outliers_need_three_answers_and_a_clear_gap(void **state)
{
    bool o[4];
    double two[] = {0, 1};
    ensm_mark_outliers(two, 2, o);
    assert_false(o[0] || o[1]);
    double flat[] = {0, 0, 0};
    ensm_mark_outliers(flat, 3, o);
    assert_false(o[0] || o[1] || o[2]);
    double gap[] = {0.8, 0.7, 0.1, 0.75};
    ensm_mark_outliers(gap, 4, o);
    assert_true(o[2]);
    assert_false(o[0] || o[1] || o[3]);
}

static void test_early_stop_is_certain_only_when_the_leader_cannot_be_caught(void **state)
{
    const char *a[] = {"x", "x"};
    assert_true(ensm_vote_certain(a, 2, 1));  /* 2 > 0 + 1 */
    assert_false(ensm_vote_certain(a, 2, 2)); /* 2 = 0 + 2 */
    const char *b[] = {"x", "y"};
    assert_false(ensm_vote_certain(b, 2, 1));
    const char *c[] = {"x", "x", "y"};
    assert_false(ensm_vote_certain(c, 3, 1)); /* 2 = 1 + 1 */
    assert_true(ensm_vote_certain(c, 3, 0));
    const char *d[] = {NULL, NULL};
    assert_false(ensm_vote_certain(d, 2, 0));
}

static void test_judge_prompt_fills_the_template(void **state)
{
    buf_t b = BUF_INIT(1 << 16);
    const char *answers[] = {"four", "five"};
    assert_int_equal(ensm_judge_prompt(NULL, "2+2?", answers, 2, &b), 0);
    assert_non_null(strstr(buf_cstr(&b), "Question:\n2+2?"));
    assert_non_null(strstr(buf_cstr(&b), "[1] four\n\n[2] five"));
    assert_int_equal(ensm_judge_prompt("Q={question} A={answers}", "q", answers, 1, &b), 0);
    assert_string_equal(buf_cstr(&b), "Q=q A=[1] four");
    buf_free(&b);
}

static void test_judge_answers_are_parsed_robustly(void **state)
{
    int pick;
    double score;
    assert_int_equal(
        ensm_judge_parse("```json\n{\"best\": 2, \"score\": 0.9}\n```", 3, &pick, &score), 0);
    assert_int_equal(pick, 1);
    assert_true(fabs(score - 0.9) < EPS);
    assert_int_equal(ensm_judge_parse("Best: 3. Score = 85%", 3, &pick, &score), 0);
    assert_int_equal(pick, 2);
    assert_true(fabs(score - 0.85) < EPS);
    assert_int_equal(ensm_judge_parse("{\"score\": 0.2}", 1, &pick, &score), 0);
    assert_int_equal(pick, -1);
    assert_true(fabs(score - 0.2) < EPS);
    assert_int_equal(ensm_judge_parse("0.75", 1, &pick, &score), 0);
    assert_true(fabs(score - 0.75) < EPS);
    assert_int_equal(ensm_judge_parse("I pick 2", 2, &pick, &score), 0);
    assert_int_equal(pick, 1);
    assert_int_equal(ensm_judge_parse("{\"best\": 9}", 2, &pick, &score), -1);
    assert_int_equal(ensm_judge_parse("no idea at all", 2, &pick, &score), -1);
}

static void test_json_schema_subset_accepts_and_rejects(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"required\": [\"name\", \"age\"],"
        " \"properties\": {\"name\": {\"type\": \"string\"},"
        " \"age\": {\"type\": \"integer\"},"
        " \"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\"]}}}}";
    char err[256];
    assert_int_equal(ensm_json_schema_valid(schema, err, sizeof(err)), 0);
    assert_int_equal(ensm_json_check("{\"name\": \"x\", \"age\": 3, \"tags\": [\"a\"]}", schema,
                                     err, sizeof(err)),
                     0);
    assert_int_equal(ensm_json_check("Sure:\n```json\n{\"name\": \"x\", \"age\": 3}\n```", schema,
                                     err, sizeof(err)),
                     0);
    assert_int_equal(ensm_json_check("{\"name\": \"x\"}", schema, err, sizeof(err)), -1);
    assert_string_equal(err, "answer.age: required");
    assert_int_equal(ensm_json_check("{\"name\": 1, \"age\": 3}", schema, err, sizeof(err)), -1);
    assert_string_equal(err, "answer.name: expected string");
    assert_int_equal(ensm_json_check("{\"name\": \"x\", \"age\": 3, \"tags\": [\"c\"]}", schema,
                                     err, sizeof(err)),
                     -1);
    assert_string_equal(err, "answer.tags[0]: not one of the enum values");
    assert_int_equal(ensm_json_check("not json", schema, err, sizeof(err)), -1);
    assert_int_equal(ensm_json_schema_valid("[1]", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "config.json_schema"));
}

static void test_consistency_scores_agreement_per_deployment(void **state)
{
    consistency_t *c = consistency_new();
    consistency_stat_t s;
    assert_non_null(c);
    assert_int_equal(consistency_get(c, "a", "m", &s), -1);
    consistency_record(c, "a", "m", true);
    consistency_record(c, "a", "m", false);
    consistency_record(c, "b", "m", true);
    assert_int_equal(consistency_get(c, "a", "m", &s), 0);
    assert_int_equal(s.samples, 2);
    assert_int_equal(s.agreed, 1);
    assert_true(fabs(s.score - (1 - CONSISTENCY_ALPHA)) < EPS);
    assert_int_equal(consistency_get(c, "b", "m", &s), 0);
    assert_true(fabs(s.score - 1) < EPS);
    consistency_free(c);
}

/* Doubles within eps, printing both sides (cmocka's float assert is float). */
static void assert_near(double got, double want, double eps)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("got %.12g, want %.12g (within %g)", got, want, eps);
}

/* Savings: only members not run to completion count, each priced at its
 * own prices for the chosen answer's tokens. */
static void test_savings_price_the_members_not_completed(void **state)
{
    (void)state;
    /* A cascade of three: the $1/$2 stage answered, the $3/$6 and $10/$30
     * stages were never reached. Chosen answer: 1000 prompt, 500 completion
     * tokens. */
    ensm_member_cost_t m[3] = {{1, 2, true}, {3, 6, false}, {10, 30, false}};
    double want = (1000 * 3.0 + 500 * 6.0) / 1e6 + (1000 * 10.0 + 500 * 30.0) / 1e6;
    assert_near(ensm_savings_usd(m, 3, 1000, 500), want, 1e-12);
    assert_near(ensm_savings_usd(m, 3, 1000, 500), 0.031, 1e-12);
    /* Every member completed (a vote that did not stop early): nothing saved. */
    m[1].completed = m[2].completed = true;
    assert_near(ensm_savings_usd(m, 3, 1000, 500), 0, 0);
    /* A failed member counts as completed; a stopped one does not. */
    m[2].completed = false;
    assert_near(ensm_savings_usd(m, 3, 2000000, 0), 20, 1e-9);
    assert_near(ensm_savings_usd(m, 0, 1000, 500), 0, 0);
}

static void test_savings_ignore_bad_prices_and_tokens(void **state)
{
    (void)state;
    ensm_member_cost_t m[4] = {
        {NAN, 5, false}, {-3, INFINITY, false}, {1e308, 1e308, false}, {2, 4, false}};
    /* Negative tokens count as 0; NaN and negative prices as 0. */
    assert_near(ensm_savings_usd(m, 2, -5, 1000000), 5, 1e-12);
    assert_near(ensm_savings_usd(m, 2, 1000000, -1), 0, 0);
    /* A sum that would overflow gives no estimate rather than inf. */
    double v = ensm_savings_usd(m, 4, INT64_MAX, INT64_MAX);
    assert_true(isfinite(v));
    assert_near(v, 0, 0);
    assert_near(ensm_savings_usd(m + 3, 1, 500000, 250000), 2.0, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalization_trims_folds_case_and_strips_punctuation),
        cmocka_unit_test(test_extraction_takes_the_last_match_or_its_group),
        cmocka_unit_test(test_bad_or_costly_patterns_are_refused_naming_the_field),
        cmocka_unit_test(test_jaccard_similarity_on_known_inputs),
        cmocka_unit_test(test_voting_majority_wins_after_normalization),
        cmocka_unit_test(test_voting_with_extraction_counts_the_final_number),
        cmocka_unit_test(test_voting_without_any_vote_is_reported),
        cmocka_unit_test(test_voting_tie_is_broken_by_weight_then_quality_then_order),
        cmocka_unit_test(test_weighted_voting_lets_heavy_members_outvote_a_majority),
        cmocka_unit_test(test_weighted_tie_goes_to_the_weighted_medoid),
        cmocka_unit_test(test_consensus_picks_the_medoid_and_reports_agreement),
        cmocka_unit_test(test_consensus_of_one_answer_is_that_answer),
        cmocka_unit_test(test_weighted_consensus_follows_the_weights),
        cmocka_unit_test(test_outliers_need_three_answers_and_a_clear_gap),
        cmocka_unit_test(test_early_stop_is_certain_only_when_the_leader_cannot_be_caught),
        cmocka_unit_test(test_judge_prompt_fills_the_template),
        cmocka_unit_test(test_judge_answers_are_parsed_robustly),
        cmocka_unit_test(test_json_schema_subset_accepts_and_rejects),
        cmocka_unit_test(test_consistency_scores_agreement_per_deployment),
        cmocka_unit_test(test_savings_price_the_members_not_completed),
        cmocka_unit_test(test_savings_ignore_bad_prices_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
