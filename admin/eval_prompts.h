/* eval_prompts: the prompt set of `llmgw eval`, read from a JSONL file.
 *
 * Every line is untrusted: it is one JSON object with "prompt" (required) and
 * any of "id", "expected", "regex", "schema", "rubric". A bad line fails the
 * whole load with "FILE:LINE: field: what is wrong". Empty lines are skipped.
 * A line without a scorer is scored by agreement, which needs at least two
 * candidates. The regex is compiled (POSIX extended) and the schema checked
 * against the supported subset at load, so scoring cannot fail later.
 */
#ifndef LLMGW_EVAL_PROMPTS_H
#define LLMGW_EVAL_PROMPTS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define EVAL_LINE_MAX (256 * 1024) /* bytes in one JSONL line */
#define EVAL_PROMPTS_MAX 100000    /* lines with a prompt */

typedef enum {
    EVAL_SCORER_EXACT,
    EVAL_SCORER_REGEX,
    EVAL_SCORER_SCHEMA,
    EVAL_SCORER_JUDGE,
    EVAL_SCORER_AGREEMENT,
} eval_scorer_t;

typedef struct {
    char *id;       /* "id", else "LINE" */
    char *prompt;   /* owned */
    char *expected; /* NULL unless given */
    bool has_regex;
    regex_t regex;
    json_t *schema;       /* NULL unless given; one reference owned */
    char *rubric;         /* NULL unless given */
    eval_scorer_t scorer; /* first of expected, regex, schema, rubric; else agreement */
} eval_prompt_t;

typedef struct {
    eval_prompt_t *items;
    size_t n;
} eval_prompts_t;

/* Parses one line (len bytes, not NUL-terminated necessarily) into *p.
 * 0 on success; -1 with "FILE:LINE: field: …" in err. *p needs no freeing
 * on failure. */
int eval_prompts_parse_line(const char *file, size_t lineno, const char *line, size_t len,
                            size_t n_candidates, eval_prompt_t *p, char *err, size_t errlen);
/* Reads the whole file. 0, or -1 with the message in err (out left empty). */
int eval_prompts_load(const char *path, size_t n_candidates, eval_prompts_t *out, char *err,
                      size_t errlen);
void eval_prompt_clear(eval_prompt_t *p);
void eval_prompts_free(eval_prompts_t *s);

#endif
