/* ensemble_methods: see ensemble_methods.h for the rules and the similarity. */
#include "ensemble_methods.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENSM_KEY_CAP (1u << 20)
#define ENSM_SCHEMA_DEPTH 16

/* --- votes --------------------------------------------------------------- */

struct ensm_pattern {
    regex_t re;
    bool has_group;
};

ensm_pattern_t *ensm_pattern_compile(const char *pattern, char *err, size_t errlen)
{
    size_t len = strlen(pattern);
    size_t repeats = 0;
    if (len == 0 || len > ENSM_PATTERN_MAX_LEN) {
        snprintf(err, errlen, "config.extract_pattern: expected 1 to %d bytes",
                 ENSM_PATTERN_MAX_LEN);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < len) {
            /* glibc accepts \1..\9 in ERE as an extension; back-references
             * make matching exponential, so they are refused. */
            if (isdigit((unsigned char)pattern[i + 1])) {
                snprintf(err, errlen, "config.extract_pattern: back-references are not allowed");
                return NULL;
            }
            i++;
            continue;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{')
            repeats++;
    }
    if (repeats > ENSM_PATTERN_MAX_REPEATS) {
        snprintf(err, errlen, "config.extract_pattern: more than %d repetition operators",
                 ENSM_PATTERN_MAX_REPEATS);
        return NULL;
    }
    ensm_pattern_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "gateway: out of memory");
        return NULL;
    }
    int rc = regcomp(&p->re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &p->re, msg, sizeof(msg));
        snprintf(err, errlen, "config.extract_pattern: %s", msg);
        free(p);
        return NULL;
    }
    p->has_group = p->re.re_nsub > 0;
    regmatch_t m[1];
    if (regexec(&p->re, "", 1, m, 0) == 0) {
        snprintf(err, errlen, "config.extract_pattern: matches the empty string");
        ensm_pattern_free(p);
        return NULL;
    }
    return p;
}

void ensm_pattern_free(ensm_pattern_t *p)
{
    if (!p)
        return;
    regfree(&p->re);
    free(p);
}

static bool ensm_is_word(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

int ensm_normalize(const char *text, buf_t *out)
{
    buf_reset(out);
    bool space = false;
    for (size_t i = 0; text[i]; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c)) {
            space = out->len > 0;
            continue;
        }
        if (ispunct(c)) {
            /* "3.14" and "1,000" keep their separators: they are part of the
             * number, not sentence punctuation. */
            bool in_number = (c == '.' || c == ',') && i > 0 &&
                             isdigit((unsigned char)text[i - 1]) &&
                             isdigit((unsigned char)text[i + 1]);
            if (!in_number)
                continue;
        }
        if (space && buf_append_char(out, ' ') < 0)
            return -1;
        space = false;
        if (buf_append_char(out, (char)tolower(c)) < 0)
            return -1;
    }
    if (buf_append(out, "", 0) < 0)
        return -1;
    return 0;
}

int ensm_vote_key(const char *answer, ensm_norm_t norm, const ensm_pattern_t *pat, char **key)
{
    *key = NULL;
    const char *src = answer;
    size_t src_len = strlen(answer);
    char *extracted = NULL;
    int rc = -1;
    buf_t b = BUF_INIT(ENSM_KEY_CAP);
    if (pat) {
        if (src_len > ENSM_SUBJECT_MAX_BYTES) {
            src += src_len - ENSM_SUBJECT_MAX_BYTES;
            src_len = ENSM_SUBJECT_MAX_BYTES;
        }
        /* The last match: scan forward, keeping the latest. */
        const char *s = src;
        const char *best = NULL;
        size_t best_len = 0;
        regmatch_t m[2];
        while (*s && regexec(&pat->re, s, 2, m, s == src ? 0 : REG_NOTBOL) == 0) {
            int g = pat->has_group && m[1].rm_so >= 0 ? 1 : 0;
            best = s + m[g].rm_so;
            best_len = (size_t)(m[g].rm_eo - m[g].rm_so);
            s += m[0].rm_eo > 0 ? m[0].rm_eo : 1; /* compile refused empty matches */
        }
        if (!best) {
            rc = 1;
            goto out;
        }
        extracted = strndup(best, best_len);
        if (!extracted)
            goto out;
        src = extracted;
    }
    if (norm == ENSM_NORM_NONE) {
        *key = strdup(src);
    } else {
        if (ensm_normalize(src, &b) < 0)
            goto out;
        *key = buf_take(&b);
    }
    rc = *key ? 0 : -1;
out:
    free(extracted);
    buf_free(&b);
    return rc;
}

/* --- similarity ---------------------------------------------------------- */

typedef struct {
    char **tokens; /* sorted, unique */
    size_t n;
    char *store; /* the lower-cased copy the tokens point into */
} ensm_tokens_t;

static int ensm_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ensm_tokens_free(ensm_tokens_t *t)
{
    free(t->tokens);
    free(t->store);
    memset(t, 0, sizeof(*t));
}

static int ensm_tokenize(const char *text, ensm_tokens_t *t)
{
    size_t len = strlen(text);
    memset(t, 0, sizeof(*t));
    t->store = malloc(len + 1);
    t->tokens = malloc(sizeof(char *) * (len / 2 + 1));
    if (!t->store || !t->tokens) {
        ensm_tokens_free(t);
        return -1;
    }
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        t->store[i] = ensm_is_word(c) ? (char)tolower(c) : '\0';
    }
    for (size_t i = 0; i < len; i++) {
        if (t->store[i] && (i == 0 || !t->store[i - 1]))
            t->tokens[t->n++] = &t->store[i];
    }
    qsort(t->tokens, t->n, sizeof(char *), ensm_cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < t->n; i++)
        if (u == 0 || strcmp(t->tokens[u - 1], t->tokens[i]) != 0)
            t->tokens[u++] = t->tokens[i];
    t->n = u;
    return 0;
}

static double ensm_jaccard(const ensm_tokens_t *a, const ensm_tokens_t *b)
{
    if (a->n == 0 && b->n == 0)
        return 1;
    size_t i = 0, j = 0, both = 0;
    while (i < a->n && j < b->n) {
        int c = strcmp(a->tokens[i], b->tokens[j]);
        if (c == 0) {
            both++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    return (double)both / (double)(a->n + b->n - both);
}

double ensm_similarity(const char *a, const char *b)
{
    ensm_tokens_t ta, tb;
    double s = 0;
    if (ensm_tokenize(a, &ta) < 0)
        return 0;
    if (ensm_tokenize(b, &tb) == 0) {
        s = ensm_jaccard(&ta, &tb);
        ensm_tokens_free(&tb);
    }
    ensm_tokens_free(&ta);
    return s;
}

int ensm_similarity_matrix(const char *const *texts, size_t n, double *out)
{
    ensm_tokens_t *t = calloc(n ? n : 1, sizeof(*t));
    int rc = -1;
    if (!t)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (ensm_tokenize(texts[i], &t[i]) < 0)
            goto out;
    for (size_t i = 0; i < n; i++) {
        out[i * n + i] = 1;
        for (size_t j = i + 1; j < n; j++)
            out[i * n + j] = out[j * n + i] = ensm_jaccard(&t[i], &t[j]);
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        ensm_tokens_free(&t[i]);
    free(t);
    return rc;
}

/* --- deciding ------------------------------------------------------------ */

static int ensm_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void ensm_mark_outliers(const double *mean_similarity, size_t n, bool *outlier)
{
    double sorted[ENSM_MAX_ANSWERS];
    for (size_t i = 0; i < n; i++)
        outlier[i] = false;
    if (n < 3 || n > ENSM_MAX_ANSWERS)
        return;
    memcpy(sorted, mean_similarity, sizeof(double) * n);
    qsort(sorted, n, sizeof(double), ensm_cmp_double);
    double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    for (size_t i = 0; i < n; i++)
        outlier[i] = mean_similarity[i] < median / 2;
}

/* The similarity matrix plus each answer's mean similarity to the others and
 * the mean over all pairs. `sim` holds n*n doubles. */
static int ensm_common(const ensm_input_t *in, double *sim, ensm_result_t *out, double *pair_mean)
{
    size_t n = in->n;
    if (ensm_similarity_matrix(in->texts, n, sim) < 0)
        return -1;
    double total = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            s += sim[i * n + j];
            if (j > i) {
                total += sim[i * n + j];
                pairs++;
            }
        }
        out->similarity[i] = n > 1 ? s / (double)(n - 1) : 1;
    }
    *pair_mean = pairs ? total / (double)pairs : 1;
    out->diversity = 1 - *pair_mean;
    ensm_mark_outliers(out->similarity, n, out->outlier);
    return 0;
}

/* Is member a preferred over member b as the representative (weight, then
 * quality, then the lower index)? */
static bool ensm_prefer(const ensm_input_t *in, size_t a, size_t b)
{
    if (in->weights[a] != in->weights[b])
        return in->weights[a] > in->weights[b];
    if (in->quality[a] != in->quality[b])
        return in->quality[a] > in->quality[b];
    return a < b;
}

int ensm_vote(const ensm_input_t *in, bool weighted, ensm_result_t *out)
{
    size_t n = in->n;
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > ENSM_MAX_ANSWERS)
        return -2;
    double *sim = malloc(sizeof(double) * n * n);
    double pair_mean = 0;
    if (!sim || ensm_common(in, sim, out, &pair_mean) < 0) {
        free(sim);
        return -1;
    }
    /* group[i]: the first member with i's key (the group's id). */
    size_t group[ENSM_MAX_ANSWERS];
    double votes[ENSM_MAX_ANSWERS] = {0}, wsum[ENSM_MAX_ANSWERS] = {0};
    double wsim[ENSM_MAX_ANSWERS] = {0}, bestq[ENSM_MAX_ANSWERS] = {0};
    size_t voters = 0, agreeing_pairs = 0, pairs = 0;
    double total_votes = 0;
    for (size_t i = 0; i < n; i++) {
        group[i] = SIZE_MAX;
        if (!in->keys[i])
            continue;
        for (size_t j = 0; j < i && group[i] == SIZE_MAX; j++)
            if (in->keys[j] && strcmp(in->keys[i], in->keys[j]) == 0)
                group[i] = group[j];
        if (group[i] == SIZE_MAX)
            group[i] = i;
        size_t g = group[i];
        double v = weighted ? in->weights[i] : 1;
        votes[g] += v;
        total_votes += v;
        wsum[g] += in->weights[i];
        for (size_t j = 0; j < n; j++)
            if (j != i)
                wsim[g] += in->weights[j] * sim[i * n + j];
        if (in->quality[i] > bestq[g])
            bestq[g] = in->quality[i];
        voters++;
    }
    if (voters == 0) {
        free(sim);
        return -2;
    }
    size_t win = SIZE_MAX;
    for (size_t g = 0; g < n; g++) {
        if (group[g] != g)
            continue;
        if (win == SIZE_MAX) {
            win = g;
            continue;
        }
        /* Earlier groups have lower indexes, so "strictly better" keeps the
         * lowest index on a full tie. */
        bool better = votes[g] > votes[win] ||
                      (votes[g] == votes[win] &&
                       (wsum[g] > wsum[win] ||
                        (wsum[g] == wsum[win] &&
                         ((weighted && wsim[g] > wsim[win]) ||
                          ((!weighted || wsim[g] == wsim[win]) && bestq[g] > bestq[win])))));
        if (better)
            win = g;
    }
    size_t chosen = win;
    for (size_t i = 0; i < n; i++)
        if (group[i] == win && ensm_prefer(in, i, chosen))
            chosen = i;
    for (size_t i = 0; i < n; i++) {
        out->agrees[i] = group[i] == win;
        for (size_t j = i + 1; j < n; j++) {
            if (group[i] == SIZE_MAX || group[j] == SIZE_MAX)
                continue;
            pairs++;
            agreeing_pairs += group[i] == group[j];
        }
    }
    out->chosen = chosen;
    out->agreement = pairs ? (double)agreeing_pairs / (double)pairs : 1;
    out->confidence = total_votes > 0 ? votes[win] / total_votes : 0;
    free(sim);
    return 0;
}

int ensm_consensus(const ensm_input_t *in, bool weighted, ensm_result_t *out)
{
    size_t n = in->n;
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > ENSM_MAX_ANSWERS)
        return -1;
    double *sim = malloc(sizeof(double) * n * n);
    double pair_mean = 0;
    if (!sim || ensm_common(in, sim, out, &pair_mean) < 0) {
        free(sim);
        return -1;
    }
    size_t best = 0;
    double best_score = -1;
    for (size_t i = 0; i < n; i++) {
        double score = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i)
                score += (weighted ? in->weights[j] : 1) * sim[i * n + j];
        /* Scores are sums of the same pairwise values in another order:
         * compare with a tolerance so rounding does not break ties. */
        if (score > best_score + 1e-12 ||
            (fabs(score - best_score) <= 1e-12 && ensm_prefer(in, i, best))) {
            best = i;
            best_score = score;
        }
    }
    for (size_t i = 0; i < n; i++)
        out->agrees[i] = i == best || sim[i * n + best] >= 0.5;
    out->chosen = best;
    out->agreement = pair_mean;
    out->confidence = out->similarity[best];
    free(sim);
    return 0;
}

bool ensm_vote_certain(const char *const *keys, size_t n, size_t pending)
{
    size_t lead = 0, second = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i])
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = keys[j] && strcmp(keys[i], keys[j]) == 0;
        if (seen)
            continue;
        size_t c = 0;
        for (size_t j = i; j < n; j++)
            c += keys[j] && strcmp(keys[i], keys[j]) == 0;
        if (c > lead) {
            second = lead;
            lead = c;
        } else if (c > second) {
            second = c;
        }
    }
    return lead > 0 && lead > second + pending;
}

/* --- judge --------------------------------------------------------------- */

const char *const ENSM_JUDGE_PROMPT =
    "You are judging candidate answers to a question.\n\n"
    "Question:\n{question}\n\n"
    "Candidate answers:\n{answers}\n\n"
    "Pick the best answer and say how confident you are that it is correct. "
    "Reply with JSON only: {\"best\": <the number of the best answer>, "
    "\"score\": <a confidence from 0 to 1>}";

int ensm_judge_prompt(const char *tmpl, const char *question, const char *const *answers, size_t n,
                      buf_t *out)
{
    buf_reset(out);
    if (!tmpl || !tmpl[0])
        tmpl = ENSM_JUDGE_PROMPT;
    for (const char *s = tmpl; *s;) {
        if (strncmp(s, "{question}", 10) == 0) {
            if (buf_append_str(out, question) < 0)
                return -1;
            s += 10;
        } else if (strncmp(s, "{answers}", 9) == 0) {
            for (size_t i = 0; i < n; i++)
                if (buf_printf(out, "%s[%zu] %s", i ? "\n\n" : "", i + 1, answers[i]) < 0)
                    return -1;
            s += 9;
        } else {
            if (buf_append_char(out, *s++) < 0)
                return -1;
        }
    }
    return buf_append(out, "", 0);
}

/* A score given as 0..1, or as a percentage / 0..10 scale, into 0..1. */
static double ensm_score_unit(double v)
{
    if (v > 1 && v <= 10)
        v /= 10;
    else if (v > 10 && v <= 100)
        v /= 100;
    return v >= 0 && v <= 1 ? v : -1;
}

/* Number after `word` (case-insensitive) and separators like ':', '=' or '"'. */
static bool ensm_number_after(const char *text, const char *word, double *v)
{
    size_t wl = strlen(word);
    for (const char *s = text; *s; s++) {
        if (strncasecmp(s, word, wl) != 0)
            continue;
        const char *p = s + wl;
        while (*p == '"' || *p == '\'' || *p == ':' || *p == '=' || *p == ' ' || *p == '#')
            p++;
        char *end = NULL;
        double d = strtod(p, &end);
        if (end != p) {
            *v = d;
            return true;
        }
    }
    return false;
}

int ensm_judge_parse(const char *text, size_t n_answers, int *pick, double *score)
{
    *pick = -1;
    *score = -1;
    bool saw_json = false;
    /* 1. A JSON object somewhere in the text (models like fences). */
    for (const char *s = strchr(text, '{'); s; s = strchr(s + 1, '{')) {
        json_error_t je;
        json_t *o = json_loads(s, JSON_DISABLE_EOF_CHECK, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        json_t *b = json_object_get(o, "best");
        json_t *sc = json_object_get(o, "score");
        if (json_is_number(b)) {
            double v = json_number_value(b);
            if (v >= 1 && v <= (double)n_answers && v == floor(v))
                *pick = (int)v - 1;
        }
        if (json_is_number(sc))
            *score = ensm_score_unit(json_number_value(sc));
        json_decref(o);
        if (*pick >= 0 || *score >= 0)
            return 0;
        saw_json = true;
    }
    /* A JSON answer without a usable member is not re-read as prose: its
     * numbers mean something else. */
    if (saw_json)
        return -1;
    /* 2. "best: 2", "score = 0.8". */
    double v;
    if (ensm_number_after(text, "best", &v) && v >= 1 && v <= (double)n_answers && v == floor(v))
        *pick = (int)v - 1;
    if (ensm_number_after(text, "score", &v))
        *score = ensm_score_unit(v);
    if (*pick >= 0 || *score >= 0)
        return 0;
    /* 3. A lone number. */
    for (const char *s = text; *s; s++) {
        if (!isdigit((unsigned char)*s))
            continue;
        char *end = NULL;
        double d = strtod(s, &end);
        bool percent = *end == '%';
        if (!percent && !memchr(s, '.', (size_t)(end - s)) && d >= 1 && d <= (double)n_answers) {
            *pick = (int)d - 1;
            return 0;
        }
        *score = ensm_score_unit(percent ? d / 100 : d);
        return *score >= 0 ? 0 : -1;
    }
    return -1;
}

/* --- cascade: a JSON schema subset --------------------------------------- */

static bool ensm_type_is(const json_t *v, const char *type)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    return false;
}

static int ensm_check(const json_t *v, const json_t *schema, const char *path, int depth, char *err,
                      size_t errlen)
{
    if (depth > ENSM_SCHEMA_DEPTH || !json_is_object(schema))
        return 0;
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (type && !ensm_type_is(v, type)) {
        snprintf(err, errlen, "%s: expected %s", path, type);
        return -1;
    }
    const json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        bool found = false;
        size_t i;
        const json_t *e;
        json_array_foreach(en, i, e) found = found || json_equal((json_t *)e, (json_t *)v);
        if (!found) {
            snprintf(err, errlen, "%s: not one of the enum values", path);
            return -1;
        }
    }
    char sub[256];
    if (json_is_object(v)) {
        const json_t *req = json_object_get(schema, "required");
        size_t i;
        const json_t *r;
        json_array_foreach(req, i, r)
        {
            const char *name = json_string_value(r);
            if (name && !json_object_get(v, name)) {
                snprintf(err, errlen, "%s.%s: required", path, name);
                return -1;
            }
        }
        const char *k;
        const json_t *ps;
        json_t *props = json_object_get(schema, "properties");
        json_object_foreach(props, k, ps)
        {
            const json_t *pv = json_object_get(v, k);
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            if (pv && ensm_check(pv, ps, sub, depth + 1, err, errlen) < 0)
                return -1;
        }
    }
    if (json_is_array(v)) {
        const json_t *items = json_object_get(schema, "items");
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (ensm_check(item, items, sub, depth + 1, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

int ensm_json_schema_valid(const char *schema, char *err, size_t errlen)
{
    json_error_t je;
    json_t *s = json_loads(schema, 0, &je);
    int rc = 0;
    if (!json_is_object(s)) {
        snprintf(err, errlen, "config.json_schema: expected a JSON object");
        rc = -1;
    }
    json_decref(s);
    return rc;
}

int ensm_json_check(const char *text, const char *schema, char *err, size_t errlen)
{
    json_error_t je;
    int rc = -1;
    json_t *s = json_loads(schema, 0, &je);
    /* Models often wrap JSON in a Markdown fence: read from the first brace
     * or bracket. */
    const char *start = text + strcspn(text, "{[");
    json_t *v = *start ? json_loads(start, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je) : NULL;
    if (!json_is_object(s)) {
        snprintf(err, errlen, "schema: expected a JSON object");
        goto out;
    }
    if (!v) {
        snprintf(err, errlen, "answer: not JSON");
        goto out;
    }
    rc = ensm_check(v, s, "answer", 0, err, errlen);
out:
    json_decref(s);
    json_decref(v);
    return rc;
}

/* --- savings ---------------------------------------------------------------- */

static double ensm_price(double per_mtok)
{
    return isfinite(per_mtok) && per_mtok > 0 ? per_mtok : 0;
}

double ensm_savings_usd(const ensm_member_cost_t *members, size_t n, int64_t prompt_tokens,
                        int64_t completion_tokens)
{
    double pt = prompt_tokens > 0 ? (double)prompt_tokens : 0;
    double ct = completion_tokens > 0 ? (double)completion_tokens : 0;
    double saved = 0;
    for (size_t i = 0; i < n; i++) {
        if (members[i].completed)
            continue;
        saved += (pt * ensm_price(members[i].price_in_per_mtok) +
                  ct * ensm_price(members[i].price_out_per_mtok)) /
                 1e6;
    }
    /* Huge finite prices can still overflow to inf. */
    return isfinite(saved) ? saved : 0;
}
