/* eval_score: exact, regex, schema-subset and agreement scoring (see the
 * header). The schema is checked once at load (eval_schema_check), so the
 * validator may trust its shape; its recursion is bounded by
 * EVAL_SCHEMA_DEPTH_MAX there and by the answer's own depth here (jansson
 * caps parse depth).
 */
#include "eval_score.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ES_TOKENS_MAX 4096 /* distinct tokens counted per answer */
#define ES_TOKEN_LEN_MAX 64

static const char *const es_types[] = {"string", "number", "integer", "boolean",
                                       "object", "array",  "null"};
static const char *const es_keywords[] = {"type",  "required", "properties", "enum",
                                          "items", "title",    "description"};

static void es_trim(const char *s, const char **start, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *start = s;
    *len = n;
}

double eval_score_exact(const char *answer, const char *expected)
{
    const char *a, *e;
    size_t an, en;
    es_trim(answer, &a, &an);
    es_trim(expected, &e, &en);
    if (an != en)
        return 0.0;
    for (size_t i = 0; i < an; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)e[i]))
            return 0.0;
    return 1.0;
}

double eval_score_regex(const regex_t *re, const char *answer)
{
    return regexec(re, answer, 0, NULL, 0) == 0 ? 1.0 : 0.0;
}

static bool es_is_type_name(const char *s)
{
    for (size_t i = 0; i < sizeof(es_types) / sizeof(es_types[0]); i++)
        if (strcmp(s, es_types[i]) == 0)
            return true;
    return false;
}

static int es_check(const json_t *schema, const char *path, int depth, char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    char sub[512];

    if (depth > EVAL_SCHEMA_DEPTH_MAX) {
        snprintf(err, errlen, "%s: nested deeper than %d", path, EVAL_SCHEMA_DEPTH_MAX);
        return -1;
    }
    if (!json_is_object(schema)) {
        snprintf(err, errlen, "%s: expected an object", path);
        return -1;
    }
    json_object_foreach((json_t *)schema, key, val)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(es_keywords) / sizeof(es_keywords[0]); i++)
            known = known || strcmp(key, es_keywords[i]) == 0;
        if (!known) {
            snprintf(err, errlen,
                     "%s.%.64s: unsupported keyword (expected type, required, properties, enum, "
                     "items)",
                     path, key);
            return -1;
        }
    }
    json_t *type = json_object_get(schema, "type");
    if (type) {
        bool ok = json_is_string(type) && es_is_type_name(json_string_value(type));
        if (json_is_array(type)) {
            size_t i;
            json_t *t;
            ok = json_array_size(type) > 0;
            json_array_foreach(type, i, t) ok =
                ok && json_is_string(t) && es_is_type_name(json_string_value(t));
        }
        if (!ok) {
            snprintf(err, errlen,
                     "%s.type: expected one of string, number, integer, boolean, object, array, "
                     "null (or an array of them)",
                     path);
            return -1;
        }
    }
    json_t *req = json_object_get(schema, "required");
    if (req) {
        size_t i;
        json_t *r;
        if (!json_is_array(req)) {
            snprintf(err, errlen, "%s.required: expected an array of strings", path);
            return -1;
        }
        json_array_foreach(req, i, r)
        {
            if (!json_is_string(r)) {
                snprintf(err, errlen, "%s.required[%zu]: expected a string", path, i);
                return -1;
            }
        }
    }
    json_t *en = json_object_get(schema, "enum");
    if (en && (!json_is_array(en) || json_array_size(en) == 0)) {
        snprintf(err, errlen, "%s.enum: expected a non-empty array", path);
        return -1;
    }
    json_t *props = json_object_get(schema, "properties");
    if (props) {
        if (!json_is_object(props)) {
            snprintf(err, errlen, "%s.properties: expected an object", path);
            return -1;
        }
        json_object_foreach(props, key, val)
        {
            snprintf(sub, sizeof(sub), "%.200s.properties.%.64s", path, key);
            if (es_check(val, sub, depth + 1, err, errlen) < 0)
                return -1;
        }
    }
    json_t *items = json_object_get(schema, "items");
    if (items) {
        snprintf(sub, sizeof(sub), "%.200s.items", path);
        if (es_check(items, sub, depth + 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int eval_schema_check(const json_t *schema, const char *path, char *err, size_t errlen)
{
    return es_check(schema, path, 0, err, errlen);
}

static bool es_type_is(const json_t *v, const char *t)
{
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    return json_is_null(v);
}

static bool es_valid(const json_t *schema, const json_t *v)
{
    json_t *type = json_object_get(schema, "type");
    if (json_is_string(type) && !es_type_is(v, json_string_value(type)))
        return false;
    if (json_is_array(type)) {
        bool any = false;
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) any = any || es_type_is(v, json_string_value(t));
        if (!any)
            return false;
    }
    json_t *en = json_object_get(schema, "enum");
    if (en) {
        bool any = false;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e) any = any || json_equal(e, (json_t *)v);
        if (!any)
            return false;
    }
    if (json_is_object(v)) {
        size_t i;
        json_t *r;
        const char *key;
        json_t *sub;
        json_array_foreach(json_object_get(schema, "required"), i, r)
        {
            if (!json_object_get(v, json_string_value(r)))
                return false;
        }
        json_object_foreach(json_object_get(schema, "properties"), key, sub)
        {
            json_t *m = json_object_get(v, key);
            if (m && !es_valid(sub, m))
                return false;
        }
    }
    json_t *items = json_object_get(schema, "items");
    if (items && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!es_valid(items, e))
                return false;
        }
    }
    return true;
}

double eval_score_schema(const json_t *schema, const char *answer)
{
    json_error_t jerr;
    json_t *v = json_loads(answer, JSON_DECODE_ANY, &jerr);
    if (!v)
        return 0.0;
    double s = es_valid(schema, v) ? 1.0 : 0.0;
    json_decref(v);
    return s;
}

typedef struct {
    char tok[ES_TOKENS_MAX][ES_TOKEN_LEN_MAX + 1];
    size_t n;
} es_set_t;

static int es_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Sorted distinct tokens; tokens longer than ES_TOKEN_LEN_MAX are cut, past
 * ES_TOKENS_MAX the rest is ignored. */
static void es_tokens(const char *s, es_set_t *set)
{
    set->n = 0;
    while (*s && set->n < ES_TOKENS_MAX) {
        while (*s && !isalnum((unsigned char)*s))
            s++;
        size_t k = 0;
        while (*s && isalnum((unsigned char)*s)) {
            if (k < ES_TOKEN_LEN_MAX)
                set->tok[set->n][k++] = (char)tolower((unsigned char)*s);
            s++;
        }
        if (k > 0) {
            set->tok[set->n][k] = '\0';
            set->n++;
        }
    }
    qsort(set->tok, set->n, sizeof(set->tok[0]), es_cmp);
    size_t w = 0;
    for (size_t i = 0; i < set->n; i++)
        if (w == 0 || strcmp(set->tok[w - 1], set->tok[i]) != 0)
            memmove(set->tok[w++], set->tok[i], sizeof(set->tok[0]));
    set->n = w;
}

double eval_jaccard(const char *a, const char *b)
{
    es_set_t *sa = malloc(sizeof(*sa));
    es_set_t *sb = malloc(sizeof(*sb));
    double j = 0.0;
    if (!sa || !sb)
        goto out;
    es_tokens(a, sa);
    es_tokens(b, sb);
    if (sa->n == 0 && sb->n == 0) {
        j = 1.0;
        goto out;
    }
    size_t i = 0, k = 0, inter = 0;
    while (i < sa->n && k < sb->n) {
        int c = strcmp(sa->tok[i], sb->tok[k]);
        if (c == 0) {
            inter++;
            i++;
            k++;
        } else if (c < 0) {
            i++;
        } else {
            k++;
        }
    }
    j = (double)inter / (double)(sa->n + sb->n - inter);
out:
    free(sa);
    free(sb);
    return j;
}

int eval_judge_parse(const char *reply, double *out)
{
    const char *s = reply;
    while (*s) {
        if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
            if (s > reply && s[-1] == '-')
                return -1; /* a negative grade is out of range, not its absolute value */
            char *end;
            double v = strtod(s, &end);
            if (end == s || !isfinite(v) || v < 0.0 || v > 1.0)
                return -1;
            *out = v;
            return 0;
        }
        s++;
    }
    return -1;
}
