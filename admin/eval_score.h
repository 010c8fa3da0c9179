/* eval_score: the scorers of `llmgw eval`. Pure functions over untrusted
 * answer text; none allocate what the caller must free.
 *
 * exact: both sides trimmed of ASCII whitespace and compared case-folded.
 * regex: POSIX extended, matched anywhere in the answer.
 * schema: the answer parsed as JSON (surrounding whitespace allowed) and
 *   validated against the subset: type (string, number, integer, boolean,
 *   object, array, null, or an array of these), required, properties, enum,
 *   items. Other keywords are refused when the schema is checked at load.
 * agreement: token-set Jaccard over lower-cased alphanumeric runs.
 */
#ifndef LLMGW_EVAL_SCORE_H
#define LLMGW_EVAL_SCORE_H

#include <regex.h>
#include <stddef.h>

#include <jansson.h>

#define EVAL_SCHEMA_DEPTH_MAX 32

double eval_score_exact(const char *answer, const char *expected);
double eval_score_regex(const regex_t *re, const char *answer);
/* Checks that `schema` uses only the subset; -1 with "PATH: …" in err. */
int eval_schema_check(const json_t *schema, const char *path, char *err, size_t errlen);
/* 1.0 when the answer is JSON valid under the (checked) schema, else 0.0. */
double eval_score_schema(const json_t *schema, const char *answer);
/* |A ∩ B| / |A ∪ B| of the token sets; 1.0 when both have no tokens. */
double eval_jaccard(const char *a, const char *b);
/* The first number in a judge's reply, which must lie in 0..1: 0 and *out,
 * or -1 when there is none or it is out of range. */
int eval_judge_parse(const char *reply, double *out);

#endif
