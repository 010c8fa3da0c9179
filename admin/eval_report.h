/* eval_report: per-candidate figures of an eval run, their ranking, and the
 * outputs: the aligned table, JSON and CSV.
 *
 * Ranking: higher mean quality first, then lower p95 latency, then lower
 * cost, then the order given on the command line.
 */
#ifndef LLMGW_EVAL_REPORT_H
#define LLMGW_EVAL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "eval_run.h"
#include "eval_stats.h"

typedef struct {
    const char *name; /* borrowed from the run */
    size_t requests;
    size_t errors;
    size_t judge_failures;
    long long tokens;
    double cost_usd;
    eval_metrics_t m;
    int rank; /* 1 = best */
    bool gated;
    bool gate_ok;
    char why[512]; /* the failed gate terms */
} eval_summary_t;

/* Fills s[0..n_candidates-1] from the run and ranks them. 0, or -1 on
 * allocation failure. */
int eval_report_summarize(const eval_run_t *r, eval_summary_t *s);
/* Applies the gate to each summary. Returns the number that failed. */
size_t eval_report_gate(const eval_gate_t *g, eval_summary_t *s, size_t n);
/* 0, or -1 when writing failed. */
int eval_report_table(FILE *out, const eval_summary_t *s, size_t n);
int eval_report_json(FILE *out, const eval_run_t *r, const eval_summary_t *s);
int eval_report_csv(FILE *out, const eval_summary_t *s, size_t n);

#endif
