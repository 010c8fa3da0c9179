/* cmd_ensemble: `llmgw ensemble` — one Ensemble call against a data plane.
 *
 * stdout carries only the chosen answer (or the JSON), so it can be piped;
 * one line per member and the analysis go to stderr, as `llmgw chat` does
 * with its route summary.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "llmgw/v1/chat.pb-c.h"
#include "pbjson.h"

#define ENS_CMD "llmgw ensemble"
#define ENS_MAX_MEMBERS 16

static const char ens_usage[] =
    "usage: llmgw ensemble --method M --member MODEL[:WEIGHT] --member ... [flags] PROMPT\n"
    "\n"
    "Sends one prompt to several members (llmgw.v1.ChatService/Ensemble) and prints\n"
    "the chosen answer on stdout; each member's result and the analysis (agreement,\n"
    "diversity, confidence, outliers, cost, latency) go to stderr.\n"
    "\n"
    "flags:\n"
    "  --target HOST:PORT      data plane address (env LLMGW_TARGET, default " CMD_DEFAULT_TARGET
    ")\n"
    "  --key K                 API key (env LLMGW_API_KEY; prefer the variable)\n"
    "  --method M              consensus, voting, weighted or cascade (required)\n"
    "  --member MODEL[:W]      a route or provider/model, with an optional weight >= 0;\n"
    "                          repeat for each member (1..16)\n"
    "  --min-responses N       answers needed to decide (default 1)\n"
    "  --member-timeout-ms N   each member's time limit\n"
    "  --ensemble-timeout-ms N the whole ensemble's time limit\n"
    "  --extract REGEX         voting: vote with the last match (POSIX extended regex)\n"
    "  --exact                 voting: compare the exact text (no normalization)\n"
    "  --judge MODEL           a judge model that picks (or, in a cascade, scores) answers\n"
    "  --judge-prompt TEXT     the judge's prompt; {question} and {answers} are replaced\n"
    "  --judge-threshold F     cascade: accept a stage the judge scores at least F (0..1)\n"
    "  --require-agreement     cascade: accept a stage only when it agrees with the previous\n"
    "  --json-schema JSON      cascade: accept a stage only when its answer fits the schema\n"
    "  --system TEXT           a system message before the prompt\n"
    "  --timeout-ms N          deadline of the call in ms, 1..86400000 (default 60000)\n"
    "  --json                  print the whole response as JSON\n"
    "  -h, --help              show this help\n"
    "\n"
    "exit status: 0 answered, 1 the call failed, 2 bad arguments\n";

typedef struct {
    const char *target;
    const char *key;
    const char *system;
    const char *prompt;
    Llmgw__V1__EnsembleConfig cfg;
    Llmgw__V1__EnsembleMember member[ENS_MAX_MEMBERS];
    Llmgw__V1__EnsembleMember *members[ENS_MAX_MEMBERS];
    char *names[ENS_MAX_MEMBERS];
    int timeout_ms;
    bool json;
} ens_opts_t;

static void ens_opts_free(ens_opts_t *o)
{
    for (size_t i = 0; i < o->cfg.n_members; i++)
        free(o->names[i]);
}

static int ens_method(const char *v, Llmgw__V1__EnsembleMethod *out)
{
    static const struct {
        const char *name;
        Llmgw__V1__EnsembleMethod m;
    } methods[] = {
        {"consensus", LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS},
        {"voting", LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_VOTING},
        {"weighted", LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED},
        {"cascade", LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CASCADE},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(v, methods[i].name) == 0) {
            *out = methods[i].m;
            return 0;
        }
    fprintf(stderr, "%s: --method: expected consensus, voting, weighted or cascade, got '%s'\n",
            ENS_CMD, v);
    return -1;
}

/* "MODEL" or "MODEL:W". A suffix after the last ':' is a weight only when it
 * is a number, so model names with a ':' ("llama3:8b") stay whole. */
static int ens_add_member(ens_opts_t *o, const char *v)
{
    if (o->cfg.n_members == ENS_MAX_MEMBERS) {
        fprintf(stderr, "%s: --member: at most %d members\n", ENS_CMD, ENS_MAX_MEMBERS);
        return -1;
    }
    size_t i = o->cfg.n_members;
    char *name = strdup(v);
    if (!name) {
        fprintf(stderr, "%s: out of memory\n", ENS_CMD);
        return -1;
    }
    double weight = 0;
    char *colon = strrchr(name, ':');
    if (colon) {
        char *end = NULL;
        double w = strtod(colon + 1, &end);
        if (end != colon + 1 && *end == '\0') {
            if (w < 0) {
                fprintf(stderr, "%s: --member: weight must be >= 0, got '%s'\n", ENS_CMD, v);
                free(name);
                return -1;
            }
            weight = w;
            *colon = '\0';
        }
    }
    if (!name[0]) {
        fprintf(stderr, "%s: --member: must not be empty\n", ENS_CMD);
        free(name);
        return -1;
    }
    llmgw__v1__ensemble_member__init(&o->member[i]);
    o->member[i].model = name;
    o->member[i].weight = weight;
    o->members[i] = &o->member[i];
    o->names[i] = name;
    o->cfg.n_members++;
    return 0;
}

static int ens_int_flag(cmd_args_t *a, const char *flag, long long max, int32_t *out)
{
    long long n;
    const char *v = cmd_args_value(a);
    if (!v || cmd_parse_int(ENS_CMD, flag, v, 0, max, &n) < 0)
        return -1;
    *out = (int32_t)n;
    return 0;
}

/* 0: parsed; 1: help was printed; -1: a message was printed. */
static int ens_parse(int argc, char **argv, ens_opts_t *o)
{
    cmd_args_t a;
    long long n;
    const char *v;
    bool have_method = false;

    o->timeout_ms = CMD_DEFAULT_TIMEOUT_MS;
    llmgw__v1__ensemble_config__init(&o->cfg);
    o->cfg.members = o->members;
    cmd_args_init(&a, ENS_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            if (o->prompt) {
                cmd_usage_error(ENS_CMD, "unexpected argument '%s' (quote the prompt)", a.value);
                return -1;
            }
            o->prompt = a.value;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(ens_usage, stdout);
            return 1;
        } else if (cmd_args_is(&a, "--json")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->json = true;
        } else if (cmd_args_is(&a, "--exact")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->cfg.normalization = LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_NONE;
        } else if (cmd_args_is(&a, "--require-agreement")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->cfg.require_agreement = true;
        } else if (cmd_args_is(&a, "--target")) {
            if (!(v = cmd_args_value(&a)) || cmd_check_target(ENS_CMD, "--target", v) < 0)
                return -1;
            o->target = v;
        } else if (cmd_args_is(&a, "--key")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            o->key = v[0] ? v : NULL;
        } else if (cmd_args_is(&a, "--method")) {
            if (!(v = cmd_args_value(&a)) || ens_method(v, &o->cfg.method) < 0)
                return -1;
            have_method = true;
        } else if (cmd_args_is(&a, "--member")) {
            if (!(v = cmd_args_value(&a)) || ens_add_member(o, v) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--min-responses")) {
            if (ens_int_flag(&a, "--min-responses", ENS_MAX_MEMBERS, &o->cfg.min_responses) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--member-timeout-ms")) {
            if (ens_int_flag(&a, "--member-timeout-ms", CMD_MAX_TIMEOUT_MS,
                             &o->cfg.member_timeout_ms) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--ensemble-timeout-ms")) {
            if (ens_int_flag(&a, "--ensemble-timeout-ms", CMD_MAX_TIMEOUT_MS, &o->cfg.timeout_ms) <
                0)
                return -1;
        } else if (cmd_args_is(&a, "--extract")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            o->cfg.extract_pattern = (char *)v;
        } else if (cmd_args_is(&a, "--judge")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            o->cfg.judge_model = (char *)v;
        } else if (cmd_args_is(&a, "--judge-prompt")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            o->cfg.judge_prompt = (char *)v;
        } else if (cmd_args_is(&a, "--judge-threshold")) {
            if (!(v = cmd_args_value(&a)) || cmd_parse_double(ENS_CMD, "--judge-threshold", v, 0.0,
                                                              1.0, &o->cfg.judge_threshold) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--json-schema")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            o->cfg.json_schema = (char *)v;
        } else if (cmd_args_is(&a, "--system")) {
            if (!(o->system = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--timeout-ms")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(ENS_CMD, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
                return -1;
            o->timeout_ms = (int)n;
        } else {
            cmd_usage_error(ENS_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (cmd_env_defaults(ENS_CMD, &o->target, &o->key) < 0)
        return -1;
    if (!have_method) {
        cmd_usage_error(ENS_CMD, "--method: required (consensus, voting, weighted or cascade)");
        return -1;
    }
    if (o->cfg.n_members == 0) {
        cmd_usage_error(ENS_CMD, "--member: at least one is required");
        return -1;
    }
    if (!o->prompt || !o->prompt[0]) {
        cmd_usage_error(ENS_CMD, "prompt: missing (give it as the last argument)");
        return -1;
    }
    return 0;
}

static void ens_print_summary(const Llmgw__V1__EnsembleResponse *r)
{
    for (size_t i = 0; i < r->n_members; i++) {
        const Llmgw__V1__MemberResult *m = r->members[i];
        fprintf(stderr, "member[%zu]: %s state=%s", i, m->member, m->state);
        if (m->provider[0])
            fprintf(stderr, " served_by=%s/%s", m->provider, m->model);
        fprintf(stderr, " weight=%g latency_ms=%lld cost_usd=%.8f", m->weight,
                (long long)m->latency_ms, m->cost_usd);
        if (!strcmp(m->state, "ok"))
            fprintf(stderr, " similarity=%.3f agrees=%s", m->similarity, m->agrees ? "yes" : "no");
        if (m->error[0])
            fprintf(stderr, " error=\"%s\"", m->error);
        fputc('\n', stderr);
    }
    const Llmgw__V1__EnsembleAnalysis *a = r->analysis;
    if (!a)
        return;
    fprintf(stderr,
            "analysis: chosen=member[%d] responses=%d agreement=%.3f diversity=%.3f "
            "confidence=%.3f outliers=",
            a->chosen_member, a->responses, a->agreement, a->diversity, a->confidence);
    for (size_t i = 0; i < a->n_outliers; i++)
        fprintf(stderr, "%s%d", i ? "," : "", a->outliers[i]);
    if (a->n_outliers == 0)
        fputs("none", stderr);
    fprintf(stderr, " total_cost_usd=%.8f wall_latency_ms=%lld parallel_efficiency=%.2f",
            a->total_cost_usd, (long long)a->wall_latency_ms, a->parallel_efficiency);
    if (a->stopped_early)
        fputs(" stopped_early=yes", stderr);
    if (a->cascade_stage >= 0)
        fprintf(stderr, " cascade_stage=%d accepted=%s savings_usd=%.8f", a->cascade_stage,
                a->accepted ? "yes" : "no", a->savings_usd);
    if (a->judge_score >= 0)
        fprintf(stderr, " judge_score=%.3f", a->judge_score);
    fputc('\n', stderr);
}

int cmd_ensemble(int argc, char **argv)
{
    ens_opts_t o;
    cmd_conn_t *conn = NULL;
    ProtobufCMessage *m = NULL;
    memset(&o, 0, sizeof(o));
    int rc = ens_parse(argc, argv, &o);
    if (rc != 0) {
        ens_opts_free(&o);
        return rc > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    }
    Llmgw__V1__Message sys = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message user = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[2];
    size_t n_msgs = 0;
    Llmgw__V1__ChatRequest chat = LLMGW__V1__CHAT_REQUEST__INIT;
    Llmgw__V1__EnsembleRequest req = LLMGW__V1__ENSEMBLE_REQUEST__INIT;
    /* protobuf-c's generated structs hold non-const char *; packing never
     * writes through them. */
    if (o.system) {
        sys.role = "system";
        sys.content = (char *)o.system;
        msgs[n_msgs++] = &sys;
    }
    user.role = "user";
    user.content = (char *)o.prompt;
    msgs[n_msgs++] = &user;
    chat.messages = msgs;
    chat.n_messages = n_msgs;
    req.request = &chat;
    req.config = &o.cfg;

    rc = CMD_EXIT_RPC;
    conn = cmd_conn_open(o.target, o.key, o.timeout_ms);
    if (!conn)
        goto out;
    if (cmd_conn_unary(conn, "/llmgw.v1.ChatService/Ensemble", &req.base,
                       &llmgw__v1__ensemble_response__descriptor, &m) < 0) {
        rc = cmd_conn_report(conn);
        goto out;
    }
    const Llmgw__V1__EnsembleResponse *resp = (const Llmgw__V1__EnsembleResponse *)m;
    if (o.json) {
        json_t *j = pbjson_from_message(m);
        int bad = !j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ||
                  fputc('\n', stdout) == EOF;
        json_decref(j);
        if (bad) {
            fprintf(stderr, "error: cannot write the JSON answer\n");
            goto out;
        }
        rc = CMD_EXIT_OK;
        goto out;
    }
    const Llmgw__V1__ChatResponse *c = resp->chosen;
    if (c && c->n_choices > 0 && c->choices[0]->message)
        fputs(c->choices[0]->message->content, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    ens_print_summary(resp);
    rc = CMD_EXIT_OK;
out:
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    cmd_conn_close(conn);
    ens_opts_free(&o);
    return rc;
}
