/* eval_report: aggregation and the table / JSON / CSV writers (see the
 * header). The JSON holds the summaries and every result (scores, latency,
 * tokens, cost; not the answers, which may hold what a prompt asked for);
 * the CSV holds one row per candidate, RFC 4180 quoted.
 */
#include "eval_report.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int er_rank_cmp(const eval_summary_t *a, const eval_summary_t *b)
{
    if (a->m.quality != b->m.quality)
        return a->m.quality > b->m.quality ? -1 : 1;
    if (a->m.p95_ms != b->m.p95_ms)
        return a->m.p95_ms < b->m.p95_ms ? -1 : 1;
    if (a->cost_usd != b->cost_usd)
        return a->cost_usd < b->cost_usd ? -1 : 1;
    return 0;
}

int eval_report_summarize(const eval_run_t *r, eval_summary_t *s)
{
    size_t np = r->prompts->n, nc = r->n_candidates;
    double *lat = malloc(np * sizeof(*lat));
    if (!lat)
        return -1;
    for (size_t ci = 0; ci < nc; ci++) {
        eval_summary_t *c = &s[ci];
        double qsum = 0.0;
        size_t nl = 0;
        memset(c, 0, sizeof(*c));
        c->name = r->candidates[ci];
        c->requests = np;
        for (size_t pi = 0; pi < np; pi++) {
            const eval_result_t *res = &r->results[pi * nc + ci];
            qsum += res->score;
            c->tokens += res->tokens;
            c->cost_usd += res->cost_usd;
            if (res->error)
                c->errors++;
            else
                lat[nl++] = res->latency_ms;
            if (res->judge_failed)
                c->judge_failures++;
        }
        c->m.quality = qsum / (double)np;
        c->m.p50_ms = eval_percentile(lat, nl, 50.0);
        c->m.p95_ms = eval_percentile(lat, nl, 95.0);
        c->m.error_rate = (double)c->errors / (double)np;
        c->m.cost_per_1k = c->cost_usd / (double)np * 1000.0;
    }
    free(lat);
    for (size_t i = 0; i < nc; i++) {
        int rank = 1;
        for (size_t k = 0; k < nc; k++) {
            int c = er_rank_cmp(&s[k], &s[i]);
            if (c < 0 || (c == 0 && k < i))
                rank++;
        }
        s[i].rank = rank;
    }
    return 0;
}

size_t eval_report_gate(const eval_gate_t *g, eval_summary_t *s, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].gated = true;
        s[i].gate_ok = eval_gate_check(g, &s[i].m, s[i].why, sizeof(s[i].why)) == 0;
        failed += !s[i].gate_ok;
    }
    return failed;
}

int eval_report_table(FILE *out, const eval_summary_t *s, size_t n)
{
    int w = 9;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(s[i].name) > w)
            w = (int)strlen(s[i].name) > 60 ? 60 : (int)strlen(s[i].name);
    fprintf(out, "%-4s  %-*s  %7s  %8s  %8s  %6s  %10s  %11s  %s\n", "rank", w, "candidate",
            "quality", "p50_ms", "p95_ms", "errors", "cost_usd", "cost_per_1k", "gate");
    for (int rank = 1; rank <= (int)n; rank++) {
        for (size_t i = 0; i < n; i++) {
            const eval_summary_t *c = &s[i];
            if (c->rank != rank)
                continue;
            fprintf(out, "%-4d  %-*.*s  %7.3f  %8.0f  %8.0f  %6zu  %10.6f  %11.4f  %s\n", c->rank,
                    w, w, c->name, c->m.quality, c->m.p50_ms, c->m.p95_ms, c->errors, c->cost_usd,
                    c->m.cost_per_1k,
                    !c->gated    ? "-"
                    : c->gate_ok ? "pass"
                                 : "FAIL");
        }
    }
    return ferror(out) ? -1 : 0;
}

static json_t *er_summary_json(const eval_summary_t *c)
{
    json_t *o = json_pack(
        "{s:s, s:i, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:f, s:f}", "candidate", c->name,
        "rank", c->rank, "requests", (json_int_t)c->requests, "errors", (json_int_t)c->errors,
        "judge_failures", (json_int_t)c->judge_failures, "quality", c->m.quality, "p50_ms",
        c->m.p50_ms, "p95_ms", c->m.p95_ms, "error_rate", c->m.error_rate, "tokens",
        (json_int_t)c->tokens, "cost_usd", c->cost_usd, "cost_per_1k", c->m.cost_per_1k);
    if (o && c->gated) {
        json_object_set_new(o, "gate", json_string(c->gate_ok ? "pass" : "fail"));
        if (!c->gate_ok)
            json_object_set_new(o, "gate_failures", json_string(c->why));
    }
    return o;
}

int eval_report_json(FILE *out, const eval_run_t *r, const eval_summary_t *s)
{
    static const char *const scorers[] = {"exact", "regex", "schema", "judge", "agreement"};
    int rc = -1;
    json_t *root = json_object(), *cands = json_array(), *results = json_array();
    if (!root || !cands || !results)
        goto out;
    for (size_t ci = 0; ci < r->n_candidates; ci++) {
        json_t *o = er_summary_json(&s[ci]);
        if (!o || json_array_append_new(cands, o) < 0)
            goto out;
    }
    for (size_t pi = 0; pi < r->prompts->n; pi++) {
        const eval_prompt_t *p = &r->prompts->items[pi];
        for (size_t ci = 0; ci < r->n_candidates; ci++) {
            const eval_result_t *res = &r->results[pi * r->n_candidates + ci];
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:f, s:b, s:f, s:I, s:f}", "id", p->id, "candidate",
                          r->candidates[ci], "scorer", scorers[p->scorer], "score", res->score,
                          "error", res->error, "latency_ms", res->latency_ms, "tokens",
                          (json_int_t)res->tokens, "cost_usd", res->cost_usd);
            if (!o || json_array_append_new(results, o) < 0)
                goto out;
        }
    }
    json_object_set_new(root, "candidates", cands);
    json_object_set_new(root, "results", results);
    cands = results = NULL;
    if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
        goto out;
    fputc('\n', out);
    rc = ferror(out) ? -1 : 0;
out:
    json_decref(cands);
    json_decref(results);
    json_decref(root);
    return rc;
}

static void er_csv_field(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int eval_report_csv(FILE *out, const eval_summary_t *s, size_t n)
{
    fputs("rank,candidate,requests,errors,quality,p50_ms,p95_ms,error_rate,tokens,cost_usd,"
          "cost_per_1k,gate,gate_failures\n",
          out);
    for (int rank = 1; rank <= (int)n; rank++) {
        for (size_t i = 0; i < n; i++) {
            const eval_summary_t *c = &s[i];
            if (c->rank != rank)
                continue;
            fprintf(out, "%d,", c->rank);
            er_csv_field(out, c->name);
            fprintf(out, ",%zu,%zu,%.6f,%.3f,%.3f,%.6f,%lld,%.8f,%.6f,%s,", c->requests, c->errors,
                    c->m.quality, c->m.p50_ms, c->m.p95_ms, c->m.error_rate, c->tokens, c->cost_usd,
                    c->m.cost_per_1k,
                    !c->gated    ? ""
                    : c->gate_ok ? "pass"
                                 : "fail");
            er_csv_field(out, c->gated && !c->gate_ok ? c->why : "");
            fputc('\n', out);
        }
    }
    return ferror(out) ? -1 : 0;
}
