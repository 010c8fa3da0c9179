/* cmd_eval: `llmgw eval` — runs a JSONL prompt set against candidates
 * (routes or provider/model) through a data plane, scores the answers and
 * prints a ranked table; --output writes JSON or CSV, --gate turns the
 * figures into an exit status for CI (3 when a candidate fails a term).
 *
 * --store-quality then writes each provider/model candidate's measured
 * quality to the control plane (ctl_model: GetModel + UpdateModel, so each
 * stored value is validated, published and audited like `llmgw model edit`).
 *
 * The modules: eval_prompts (the file), eval_score (scorers), eval_run (the
 * worker pool), eval_stats (percentiles, gates), eval_report (outputs).
 */
#include "cmd.h"
#include "cmd_ctl.h"
#include "ctl_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eval_prompts.h"
#include "eval_report.h"
#include "eval_run.h"
#include "eval_stats.h"

#define EVAL_CMD "llmgw eval"
#define EVAL_EXIT_GATE 3
#define EVAL_DEFAULT_CONCURRENCY 4

static const char eval_usage[] =
    "usage: llmgw eval --prompts FILE.jsonl --candidate M [--candidate M ...] [flags]\n"
    "\n"
    "Runs every prompt against every candidate (a route name or provider/model)\n"
    "through a data plane's ChatService.Complete, scores each answer and prints\n"
    "a ranked table of quality, latency, errors and cost per candidate.\n"
    "\n"
    "flags:\n"
    "  --target HOST:PORT  data plane address (env LLMGW_TARGET, default " CMD_DEFAULT_TARGET ")\n"
    "  --key K             API key (env LLMGW_API_KEY; prefer the variable)\n"
    "  --prompts FILE      JSONL, one {\"prompt\", \"id\"?, \"expected\"?, \"regex\"?,\n"
    "                      \"schema\"?, \"rubric\"?} per line (required)\n"
    "  --candidate M       route or provider/model; repeatable, at most 32 (required)\n"
    "  --concurrency N     calls in flight, 1..64 (default 4)\n"
    "  --judge M           model that grades answers of prompts with a rubric\n"
    "  --gate EXPR         e.g. \"quality>=0.8,p95_ms<=2000,cost_per_1k<=0.5\"; metrics\n"
    "                      quality, p50_ms, p95_ms, cost_per_1k, error_rate; ops >= <= > <\n"
    "  --output FILE       write the results as JSON (.json) or CSV (.csv)\n"
    "  --json              print the JSON results on stdout instead of the table\n"
    "  --timeout-ms N      deadline of each call, 1..86400000 (default 60000)\n"
    "  --store-quality     after the run, set each candidate's quality in the control\n"
    "                      plane to the measured one (provider/model candidates only)\n"
    "  --control-target HOST:PORT  control plane for --store-quality (env\n"
    "                      LLMGW_CONTROL_TARGET, default " CTL_DEFAULT_TARGET ")\n"
    "  --token T           admin token for --store-quality (env LLMGW_ADMIN_TOKEN)\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 every candidate passed the gate (or no gate), 1 the run failed,\n"
    "2 bad arguments or a bad prompt file, 3 a candidate failed the gate (1 wins\n"
    "over 3 when --store-quality could not store a value)\n";

typedef struct {
    const char *target;
    const char *key;
    const char *prompts;
    const char *candidates[EVAL_CANDIDATES_MAX];
    size_t n_candidates;
    const char *judge;
    const char *gate_text;
    eval_gate_t gate;
    const char *output;
    bool output_csv;
    bool json;
    int concurrency;
    int timeout_ms;
    bool store_quality;
    ctl_opts_t ctl; /* --store-quality's control plane */
} eval_opts_t;

static bool eval_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* 0 parsed, 1 help printed, -1 a message was printed. */
static int eval_parse(int argc, char **argv, eval_opts_t *o)
{
    cmd_args_t a;
    long long n;
    const char *v;
    char err[512];

    memset(o, 0, sizeof(*o));
    o->concurrency = EVAL_DEFAULT_CONCURRENCY;
    o->timeout_ms = CMD_DEFAULT_TIMEOUT_MS;
    ctl_opts_init(&o->ctl);
    cmd_args_init(&a, EVAL_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            cmd_usage_error(EVAL_CMD, "unexpected argument '%s'", a.value);
            return -1;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(eval_usage, stdout);
            return 1;
        } else if (cmd_args_is(&a, "--json")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->json = true;
        } else if (cmd_args_is(&a, "--store-quality")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->store_quality = true;
        } else if (cmd_args_is(&a, "--control-target")) {
            if (!(v = cmd_args_value(&a)) || cmd_check_target(EVAL_CMD, "--control-target", v) < 0)
                return -1;
            o->ctl.target = v;
        } else if (cmd_args_is(&a, "--token")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!v[0]) {
                cmd_usage_error(EVAL_CMD, "--token: must not be empty");
                return -1;
            }
            o->ctl.token = v;
        } else if (cmd_args_is(&a, "--target")) {
            if (!(v = cmd_args_value(&a)) || cmd_check_target(EVAL_CMD, "--target", v) < 0)
                return -1;
            o->target = v;
        } else if (cmd_args_is(&a, "--key") || cmd_args_is(&a, "--prompts") ||
                   cmd_args_is(&a, "--judge") || cmd_args_is(&a, "--candidate") ||
                   cmd_args_is(&a, "--output")) {
            const char *flag = cmd_args_is(&a, "--key")       ? "--key"
                               : cmd_args_is(&a, "--prompts") ? "--prompts"
                               : cmd_args_is(&a, "--judge")   ? "--judge"
                               : cmd_args_is(&a, "--output")  ? "--output"
                                                              : "--candidate";
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!v[0]) {
                cmd_usage_error(EVAL_CMD, "%s: must not be empty", flag);
                return -1;
            }
            if (strcmp(flag, "--key") == 0) {
                o->key = v;
            } else if (strcmp(flag, "--prompts") == 0) {
                o->prompts = v;
            } else if (strcmp(flag, "--judge") == 0) {
                o->judge = v;
            } else if (strcmp(flag, "--output") == 0) {
                if (!eval_ends_with(v, ".json") && !eval_ends_with(v, ".csv")) {
                    cmd_usage_error(EVAL_CMD,
                                    "--output: expected a name ending in .json or "
                                    ".csv, got '%s'",
                                    v);
                    return -1;
                }
                o->output = v;
                o->output_csv = eval_ends_with(v, ".csv");
            } else {
                if (o->n_candidates == EVAL_CANDIDATES_MAX) {
                    cmd_usage_error(EVAL_CMD, "--candidate: at most %d", EVAL_CANDIDATES_MAX);
                    return -1;
                }
                for (size_t i = 0; i < o->n_candidates; i++) {
                    if (strcmp(o->candidates[i], v) == 0) {
                        cmd_usage_error(EVAL_CMD, "--candidate: '%s' given twice", v);
                        return -1;
                    }
                }
                o->candidates[o->n_candidates++] = v;
            }
        } else if (cmd_args_is(&a, "--gate")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (eval_gate_parse(v, &o->gate, err, sizeof(err)) < 0) {
                cmd_usage_error(EVAL_CMD, "%s", err);
                return -1;
            }
            o->gate_text = v;
        } else if (cmd_args_is(&a, "--concurrency")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(EVAL_CMD, "--concurrency", v, 1, EVAL_CONCURRENCY_MAX, &n) < 0)
                return -1;
            o->concurrency = (int)n;
        } else if (cmd_args_is(&a, "--timeout-ms")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(EVAL_CMD, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
                return -1;
            o->timeout_ms = (int)n;
        } else {
            cmd_usage_error(EVAL_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (!o->prompts) {
        cmd_usage_error(EVAL_CMD, "--prompts: required (a JSONL file)");
        return -1;
    }
    if (o->n_candidates == 0) {
        cmd_usage_error(EVAL_CMD, "--candidate: required (a route name or provider/model)");
        return -1;
    }
    if (!o->store_quality && (o->ctl.target || o->ctl.token)) {
        cmd_usage_error(EVAL_CMD, "%s: only used with --store-quality",
                        o->ctl.target ? "--control-target" : "--token");
        return -1;
    }
    if (o->store_quality) {
        /* Refused, not resolved to its deployments: a route's figures mix
         * whichever deployments served each call, so no one model earned
         * them. Refused before any call, so nothing is spent. */
        for (size_t i = 0; i < o->n_candidates; i++) {
            if (!strchr(o->candidates[i], '/')) {
                cmd_usage_error(EVAL_CMD,
                                "--store-quality: candidate '%s' is a route, not a "
                                "provider/model (its figures mix the deployments that "
                                "served it; evaluate those as provider/model candidates)",
                                o->candidates[i]);
                return -1;
            }
        }
        o->ctl.timeout_ms = o->timeout_ms;
        if (ctl_opts_finish(EVAL_CMD, &o->ctl) < 0)
            return -1;
    }
    if (cmd_env_defaults(EVAL_CMD, &o->target, &o->key) < 0)
        return -1;
    return 0;
}

/* Before any call: every candidate must be a model the control plane knows
 * (and the control plane reachable with the token), so a typo costs no
 * run. CMD_EXIT_OK or CMD_EXIT_RPC after a message. */
static int eval_store_check(const eval_opts_t *o)
{
    for (size_t i = 0; i < o->n_candidates; i++) {
        char prov[CTL_MODEL_PROVIDER_MAX];
        const char *name;
        Llmgw__V1__Model *m = NULL;
        if (ctl_model_split(o->candidates[i], prov, sizeof(prov), &name) < 0) {
            fprintf(stderr, "%s: --store-quality: candidate '%s': expected PROVIDER/MODEL\n",
                    EVAL_CMD, o->candidates[i]);
            return CMD_EXIT_USAGE;
        }
        if (ctl_model_get(&o->ctl, prov, name, &m) != CMD_EXIT_OK) {
            fprintf(stderr,
                    "%s: --store-quality: candidate '%s': not readable from the control "
                    "plane at %s (nothing was run)\n",
                    EVAL_CMD, o->candidates[i], o->ctl.target);
            return CMD_EXIT_RPC;
        }
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    return CMD_EXIT_OK;
}

/* After the run: one audited UpdateModel per candidate. A candidate whose
 * every call failed measured nothing about its answers (an outage, a bad
 * key), so its stored quality is kept and the run fails. CMD_EXIT_OK, or
 * CMD_EXIT_RPC when any value was not stored. */
static int eval_store(const eval_opts_t *o, const eval_summary_t *sum)
{
    int rc = CMD_EXIT_OK;
    for (size_t i = 0; i < o->n_candidates; i++) {
        const eval_summary_t *s = NULL;
        for (size_t k = 0; k < o->n_candidates && !s; k++)
            if (strcmp(sum[k].name, o->candidates[i]) == 0)
                s = &sum[k];
        if (!s)
            continue;
        if (s->requests == 0 || s->errors == s->requests) {
            fprintf(stderr, "%s: --store-quality: %s: quality not stored: every call failed\n",
                    EVAL_CMD, s->name);
            rc = CMD_EXIT_RPC;
            continue;
        }
        char prov[CTL_MODEL_PROVIDER_MAX];
        const char *name;
        Llmgw__V1__RegistryChange *change = NULL;
        ctl_model_edit_t e = {.quality_set = true, .quality = s->m.quality};
        if (ctl_model_split(s->name, prov, sizeof(prov), &name) < 0 ||
            ctl_model_update(&o->ctl, prov, name, &e, &change) != CMD_EXIT_OK) {
            fprintf(stderr, "%s: --store-quality: %s: quality %.4g not stored\n", EVAL_CMD, s->name,
                    s->m.quality);
            rc = CMD_EXIT_RPC;
            continue;
        }
        fprintf(stderr, "%s: --store-quality: %s: quality %.4g stored (table version %lld)\n",
                EVAL_CMD, s->name, s->m.quality, (long long)change->table_version);
        protobuf_c_message_free_unpacked(&change->base, NULL);
    }
    return rc;
}

static int eval_write_output(const eval_opts_t *o, const eval_run_t *r, const eval_summary_t *s)
{
    FILE *f = fopen(o->output, "w");
    if (!f) {
        fprintf(stderr, "%s: --output: cannot open '%s': %s\n", EVAL_CMD, o->output,
                strerror(errno));
        return -1;
    }
    int rc = o->output_csv ? eval_report_csv(f, s, r->n_candidates) : eval_report_json(f, r, s);
    if (fclose(f) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "%s: --output: cannot write '%s'\n", EVAL_CMD, o->output);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts_t o;
    eval_prompts_t prompts = {0};
    eval_run_t run = {0};
    eval_summary_t *sum = NULL;
    char err[1024];
    int rc = eval_parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;

    if (eval_prompts_load(o.prompts, o.n_candidates, &prompts, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", EVAL_CMD, err);
        return CMD_EXIT_USAGE;
    }
    rc = CMD_EXIT_USAGE;
    if (!o.judge) {
        for (size_t i = 0; i < prompts.n; i++) {
            if (prompts.items[i].scorer == EVAL_SCORER_JUDGE) {
                fprintf(stderr, "%s: %s: prompt %s: rubric: needs --judge MODEL\n", EVAL_CMD,
                        o.prompts, prompts.items[i].id);
                goto out;
            }
        }
    }
    if (o.store_quality && (rc = eval_store_check(&o)) != CMD_EXIT_OK)
        goto out;
    rc = CMD_EXIT_RPC;
    run.prompts = &prompts;
    run.candidates = o.candidates;
    run.n_candidates = o.n_candidates;
    run.target = o.target;
    run.key = o.key;
    run.judge = o.judge;
    run.timeout_ms = o.timeout_ms;
    run.concurrency = o.concurrency;
    run.progress = isatty(STDERR_FILENO) == 1;
    if (eval_run(&run) < 0)
        goto out;
    sum = calloc(o.n_candidates, sizeof(*sum));
    if (!sum || eval_report_summarize(&run, sum) < 0) {
        fprintf(stderr, "%s: out of memory\n", EVAL_CMD);
        goto out;
    }
    size_t failed = o.gate_text ? eval_report_gate(&o.gate, sum, o.n_candidates) : 0;
    if (o.json ? eval_report_json(stdout, &run, sum) < 0
               : eval_report_table(stdout, sum, o.n_candidates) < 0) {
        fprintf(stderr, "%s: stdout: cannot write\n", EVAL_CMD);
        goto out;
    }
    if (o.output && eval_write_output(&o, &run, sum) < 0)
        goto out;
    /* Stored whatever the gate says: the figure is what was measured. */
    int store_rc = o.store_quality ? eval_store(&o, sum) : CMD_EXIT_OK;
    for (size_t i = 0; i < o.n_candidates; i++)
        if (sum[i].gated && !sum[i].gate_ok)
            fprintf(stderr, "%s: gate failed: %s: %s\n", EVAL_CMD, sum[i].name, sum[i].why);
    rc = store_rc != CMD_EXIT_OK ? store_rc : failed ? EVAL_EXIT_GATE : CMD_EXIT_OK;
out:
    free(sum);
    eval_run_free(&run);
    eval_prompts_free(&prompts);
    return rc;
}
