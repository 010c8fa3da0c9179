/* eval_stats: percentiles and the --gate parser/evaluator (see the header).
 * The gate text is untrusted: each term is parsed strictly (a metric name,
 * an operator, a finite number and nothing else) and a bad term is named by
 * its position and text.
 */
#include "eval_stats.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const es_metrics[] = {"quality", "p50_ms", "p95_ms", "cost_per_1k",
                                         "error_rate"};
static const char *const es_ops[] = {">=", "<=", ">", "<"};

#define ES_N_METRICS (sizeof(es_metrics) / sizeof(es_metrics[0]))

static int es_dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double eval_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof(*v), es_dcmp);
    if (p <= 0.0)
        return v[0];
    /* nearest rank: the smallest value with at least p% at or below it */
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static double es_metric(const eval_metrics_t *m, int i)
{
    switch (i) {
    case 0:
        return m->quality;
    case 1:
        return m->p50_ms;
    case 2:
        return m->p95_ms;
    case 3:
        return m->cost_per_1k;
    default:
        return m->error_rate;
    }
}

int eval_gate_parse(const char *text, eval_gate_t *g, char *err, size_t errlen)
{
    const char *s = text;
    g->n = 0;
    if (!*text) {
        snprintf(err, errlen, "--gate: empty");
        return -1;
    }
    for (;;) {
        size_t tl = strcspn(s, ",");
        size_t no = g->n + 1;
        if (g->n == EVAL_GATE_TERMS_MAX) {
            snprintf(err, errlen, "--gate: more than %d terms", EVAL_GATE_TERMS_MAX);
            return -1;
        }
        const char *p = s, *end = s + tl;
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *name = p;
        while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
        size_t nl = (size_t)(p - name);
        int metric = -1;
        for (size_t i = 0; i < ES_N_METRICS; i++)
            if (strlen(es_metrics[i]) == nl && strncmp(name, es_metrics[i], nl) == 0)
                metric = (int)i;
        if (metric < 0) {
            snprintf(err, errlen,
                     "--gate: term %zu '%.*s': unknown metric (expected quality, p50_ms, p95_ms, "
                     "cost_per_1k, error_rate)",
                     no, (int)(tl > 80 ? 80 : tl), s);
            return -1;
        }
        while (p < end && isspace((unsigned char)*p))
            p++;
        int op = -1;
        for (size_t i = 0; i < 4 && op < 0; i++) {
            size_t ol = strlen(es_ops[i]);
            if ((size_t)(end - p) >= ol && strncmp(p, es_ops[i], ol) == 0) {
                op = (int)i;
                p += ol;
            }
        }
        if (op < 0) {
            snprintf(err, errlen, "--gate: term %zu '%.*s': expected an operator >=, <=, >, <", no,
                     (int)(tl > 80 ? 80 : tl), s);
            return -1;
        }
        char num[64];
        while (p < end && isspace((unsigned char)*p))
            p++;
        size_t numl = (size_t)(end - p);
        while (numl > 0 && isspace((unsigned char)p[numl - 1]))
            numl--;
        char *nend = NULL;
        double v = 0;
        if (numl > 0 && numl < sizeof(num)) {
            memcpy(num, p, numl);
            num[numl] = '\0';
            v = strtod(num, &nend);
        }
        if (numl == 0 || numl >= sizeof(num) || *nend != '\0' || !isfinite(v) ||
            isspace((unsigned char)num[0])) {
            snprintf(err, errlen, "--gate: term %zu '%.*s': expected a number after the operator",
                     no, (int)(tl > 80 ? 80 : tl), s);
            return -1;
        }
        g->terms[g->n].metric = metric;
        g->terms[g->n].op = op;
        g->terms[g->n].value = v;
        g->n++;
        if (s[tl] == '\0')
            break;
        s += tl + 1;
    }
    return 0;
}

int eval_gate_check(const eval_gate_t *g, const eval_metrics_t *m, char *why, size_t whylen)
{
    int failed = 0;
    size_t used = 0;
    if (whylen)
        why[0] = '\0';
    for (size_t i = 0; i < g->n; i++) {
        const eval_gate_term_t *t = &g->terms[i];
        double x = es_metric(m, t->metric);
        bool ok = t->op == 0   ? x >= t->value
                  : t->op == 1 ? x <= t->value
                  : t->op == 2 ? x > t->value
                               : x < t->value;
        if (ok)
            continue;
        failed = 1;
        if (used < whylen) {
            int w = snprintf(why + used, whylen - used, "%s%s=%g (needs %s %g)", used ? ", " : "",
                             es_metrics[t->metric], x, es_ops[t->op], t->value);
            if (w > 0)
                used += (size_t)w;
        }
    }
    return failed;
}
