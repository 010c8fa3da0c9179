/* eval_stats: the figures of `llmgw eval` per candidate and the --gate
 * expressions over them.
 *
 * A gate is a comma-separated list of METRIC OP NUMBER, METRIC one of
 * quality, p50_ms, p95_ms, cost_per_1k, error_rate and OP one of >=, <=, >,
 * <. A candidate passes when every term holds.
 */
#ifndef LLMGW_EVAL_STATS_H
#define LLMGW_EVAL_STATS_H

#include <stddef.h>

#define EVAL_GATE_TERMS_MAX 16

typedef struct {
    double quality;
    double p50_ms;
    double p95_ms;
    double cost_per_1k;
    double error_rate;
} eval_metrics_t;

/* Nearest-rank percentile (p in 0..100) of v[0..n-1]; sorts v in place.
 * 0 when n == 0. */
double eval_percentile(double *v, size_t n, double p);

typedef struct {
    int metric; /* index into the metric names */
    int op;
    double value;
} eval_gate_term_t;

typedef struct {
    eval_gate_term_t terms[EVAL_GATE_TERMS_MAX];
    size_t n;
} eval_gate_t;

/* 0, or -1 with "--gate: term N 'TEXT': …" in err. */
int eval_gate_parse(const char *text, eval_gate_t *g, char *err, size_t errlen);
/* 0 when every term holds; 1 with the failed terms ("p95_ms=2500 > 2000")
 * in why. */
int eval_gate_check(const eval_gate_t *g, const eval_metrics_t *m, char *why, size_t whylen);

#endif
