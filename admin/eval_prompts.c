/* eval_prompts: reads and validates the JSONL prompt set (see the header).
 *
 * Lines are read into a buffer capped at EVAL_LINE_MAX, so a file with no
 * newline cannot make us hold or parse gigabytes. Every
 * message names the file, the line and the field, first what is wrong.
 */
#include "eval_prompts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "eval_score.h"

static const char *const ep_fields[] = {"prompt", "id", "expected", "regex", "schema", "rubric"};

void eval_prompt_clear(eval_prompt_t *p)
{
    free(p->id);
    free(p->prompt);
    free(p->expected);
    free(p->rubric);
    if (p->has_regex)
        regfree(&p->regex);
    json_decref(p->schema);
    memset(p, 0, sizeof(*p));
}

void eval_prompts_free(eval_prompts_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        eval_prompt_clear(&s->items[i]);
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

/* A string member as a fresh copy: 1 copied, 0 absent, -1 wrong type (err). */
static int ep_string(json_t *obj, const char *key, bool nonempty, char **out, const char *file,
                     size_t lineno, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s:%zu: %s: expected a string", file, lineno, key);
        return -1;
    }
    if (nonempty && json_string_length(v) == 0) {
        snprintf(err, errlen, "%s:%zu: %s: must not be empty", file, lineno, key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    if (!*out) {
        snprintf(err, errlen, "%s:%zu: %s: out of memory", file, lineno, key);
        return -1;
    }
    return 1;
}

int eval_prompts_parse_line(const char *file, size_t lineno, const char *line, size_t len,
                            size_t n_candidates, eval_prompt_t *p, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *obj = NULL;
    const char *key;
    json_t *val;
    char sub[256];

    memset(p, 0, sizeof(*p));
    if (len > EVAL_LINE_MAX) {
        snprintf(err, errlen, "%s:%zu: line: longer than %d bytes", file, lineno, EVAL_LINE_MAX);
        goto fail;
    }
    /* without JSON_ALLOW_NUL jansson refuses "\u0000", so strings are C strings */
    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(err, errlen, "%s:%zu: line: invalid JSON: %s", file, lineno, jerr.text);
        goto fail;
    }
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%s:%zu: line: expected a JSON object", file, lineno);
        goto fail;
    }
    json_object_foreach(obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(ep_fields) / sizeof(ep_fields[0]); i++)
            known = known || strcmp(key, ep_fields[i]) == 0;
        if (!known) {
            snprintf(err, errlen,
                     "%s:%zu: %.64s: unknown field (expected prompt, id, expected, "
                     "regex, schema, rubric)",
                     file, lineno, key);
            goto fail;
        }
    }
    int r = ep_string(obj, "prompt", true, &p->prompt, file, lineno, err, errlen);
    if (r < 0)
        goto fail;
    if (r == 0) {
        snprintf(err, errlen, "%s:%zu: prompt: required", file, lineno);
        goto fail;
    }
    if (ep_string(obj, "id", true, &p->id, file, lineno, err, errlen) < 0 ||
        ep_string(obj, "expected", false, &p->expected, file, lineno, err, errlen) < 0 ||
        ep_string(obj, "rubric", true, &p->rubric, file, lineno, err, errlen) < 0)
        goto fail;
    char *re_src = NULL;
    r = ep_string(obj, "regex", true, &re_src, file, lineno, err, errlen);
    if (r < 0)
        goto fail;
    if (r > 0) {
        int rc = regcomp(&p->regex, re_src, REG_EXTENDED | REG_NOSUB);
        free(re_src);
        if (rc != 0) {
            char why[128];
            regerror(rc, &p->regex, why, sizeof(why));
            snprintf(err, errlen, "%s:%zu: regex: invalid: %s", file, lineno, why);
            goto fail;
        }
        p->has_regex = true;
    }
    json_t *schema = json_object_get(obj, "schema");
    if (schema) {
        if (eval_schema_check(schema, "schema", sub, sizeof(sub)) < 0) {
            snprintf(err, errlen, "%s:%zu: %s", file, lineno, sub);
            goto fail;
        }
        p->schema = json_incref(schema);
    }
    if (p->expected)
        p->scorer = EVAL_SCORER_EXACT;
    else if (p->has_regex)
        p->scorer = EVAL_SCORER_REGEX;
    else if (p->schema)
        p->scorer = EVAL_SCORER_SCHEMA;
    else if (p->rubric)
        p->scorer = EVAL_SCORER_JUDGE;
    else if (n_candidates >= 2)
        p->scorer = EVAL_SCORER_AGREEMENT;
    else {
        snprintf(err, errlen,
                 "%s:%zu: line: no scorer (expected, regex, schema or rubric) and agreement "
                 "needs at least 2 candidates",
                 file, lineno);
        goto fail;
    }
    if (!p->id) {
        char num[32];
        snprintf(num, sizeof(num), "%zu", lineno);
        p->id = strdup(num);
        if (!p->id) {
            snprintf(err, errlen, "%s:%zu: id: out of memory", file, lineno);
            goto fail;
        }
    }
    json_decref(obj);
    return 0;
fail:
    json_decref(obj);
    eval_prompt_clear(p);
    return -1;
}

/* One line without its newline into b: 1 read, 0 end of file, -2 longer
 * than the cap, -1 read error. */
static int ep_read_line(FILE *f, buf_t *b)
{
    int c;
    buf_reset(b);
    while ((c = getc(f)) != EOF) {
        if (c == '\n')
            return 1;
        if (buf_append_char(b, (char)c) < 0)
            return -2;
    }
    if (ferror(f))
        return -1;
    return b->len > 0 ? 1 : 0;
}

int eval_prompts_load(const char *path, size_t n_candidates, eval_prompts_t *out, char *err,
                      size_t errlen)
{
    FILE *f = NULL;
    buf_t lb = BUF_INIT(EVAL_LINE_MAX);
    size_t lineno = 0;
    size_t alloc = 0;

    out->items = NULL;
    out->n = 0;
    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    for (;;) {
        errno = 0;
        int r = ep_read_line(f, &lb);
        if (r == 0)
            break;
        lineno++;
        if (r == -2) {
            snprintf(err, errlen, "%s:%zu: line: longer than %d bytes", path, lineno,
                     EVAL_LINE_MAX);
            goto fail;
        }
        if (r < 0) {
            snprintf(err, errlen, "%s:%zu: cannot read: %s", path, lineno, strerror(errno));
            goto fail;
        }
        const char *line = buf_cstr(&lb);
        size_t len = lb.len;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        size_t sp = strspn(line, " \t");
        if (sp >= len)
            continue; /* blank line */
        if (out->n >= EVAL_PROMPTS_MAX) {
            snprintf(err, errlen, "%s:%zu: line: more than %d prompts", path, lineno,
                     EVAL_PROMPTS_MAX);
            goto fail;
        }
        if (out->n == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            eval_prompt_t *ni = realloc(out->items, na * sizeof(*ni));
            if (!ni) {
                snprintf(err, errlen, "%s:%zu: out of memory", path, lineno);
                goto fail;
            }
            out->items = ni;
            alloc = na;
        }
        if (eval_prompts_parse_line(path, lineno, line, len, n_candidates, &out->items[out->n], err,
                                    errlen) < 0)
            goto fail;
        out->n++;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no prompts", path);
        goto fail;
    }
    buf_free(&lb);
    fclose(f);
    return 0;
fail:
    buf_free(&lb);
    if (f)
        fclose(f);
    eval_prompts_free(out);
    return -1;
}
