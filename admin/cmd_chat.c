/* cmd_chat: `llmgw chat` — one chat completion against a data plane.
 *
 * stdout carries only the answer (or the JSON), so it can be piped; the route
 * decision, usage and cost go to stderr. With --stream the deltas are written
 * and flushed as they arrive, and the route comes from the last chunk that
 * carried one (the data plane puts usage, cost and route on the last chunk).
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "pbjson.h"

#define CHAT_CMD "llmgw chat"
#define CHAT_MAX_SUMMARY (64u << 10)

static const char chat_usage[] =
    "usage: llmgw chat --model M [flags] PROMPT\n"
    "\n"
    "Sends one chat completion to a data plane (llmgw.v1.ChatService) and prints\n"
    "the answer on stdout; the route decision, usage and cost go to stderr.\n"
    "\n"
    "flags:\n"
    "  --target HOST:PORT  data plane address (env LLMGW_TARGET, default " CMD_DEFAULT_TARGET ")\n"
    "  --model M           route name or provider/model (required)\n"
    "  --key K             API key, sent as 'authorization: Bearer K' (env LLMGW_API_KEY;\n"
    "                      prefer the variable: flags show up in ps)\n"
    "  --system TEXT       a system message before the prompt\n"
    "  --temperature F     sampling temperature, 0..2\n"
    "  --max-tokens N      most tokens to generate, 1..2147483647\n"
    "  --timeout-ms N      deadline of the call in ms, 1..86400000 (default 60000)\n"
    "  --stream            print the answer as it arrives (the Stream RPC)\n"
    "  --json              print the whole response as JSON (with --stream: one chunk\n"
    "                      per line)\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 answered, 1 the call failed, 2 bad arguments\n";

typedef struct {
    const char *target;
    const char *model;
    const char *key;
    const char *system;
    const char *prompt;
    bool stream;
    bool json;
    bool has_temperature;
    double temperature;
    bool has_max_tokens;
    int max_tokens;
    int timeout_ms;
} chat_opts_t;

/* 0: parsed; 1: help was printed; -1: a message was printed. */
static int chat_parse(int argc, char **argv, chat_opts_t *o)
{
    cmd_args_t a;
    long long n;
    const char *v;

    memset(o, 0, sizeof(*o));
    o->timeout_ms = CMD_DEFAULT_TIMEOUT_MS;
    cmd_args_init(&a, CHAT_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            if (o->prompt) {
                cmd_usage_error(CHAT_CMD, "unexpected argument '%s' (quote the prompt)", a.value);
                return -1;
            }
            o->prompt = a.value;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(chat_usage, stdout);
            return 1;
        } else if (cmd_args_is(&a, "--stream")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->stream = true;
        } else if (cmd_args_is(&a, "--json")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->json = true;
        } else if (cmd_args_is(&a, "--target")) {
            if (!(v = cmd_args_value(&a)) || cmd_check_target(CHAT_CMD, "--target", v) < 0)
                return -1;
            o->target = v;
        } else if (cmd_args_is(&a, "--model")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!v[0]) {
                fprintf(stderr, "%s: --model: must not be empty\n", CHAT_CMD);
                return -1;
            }
            o->model = v;
        } else if (cmd_args_is(&a, "--key")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!v[0]) {
                fprintf(stderr, "%s: --key: must not be empty\n", CHAT_CMD);
                return -1;
            }
            o->key = v;
        } else if (cmd_args_is(&a, "--system")) {
            if (!(o->system = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--temperature")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_double(CHAT_CMD, "--temperature", v, 0.0, 2.0, &o->temperature) < 0)
                return -1;
            o->has_temperature = true;
        } else if (cmd_args_is(&a, "--max-tokens")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(CHAT_CMD, "--max-tokens", v, 1, INT32_MAX, &n) < 0)
                return -1;
            o->has_max_tokens = true;
            o->max_tokens = (int)n;
        } else if (cmd_args_is(&a, "--timeout-ms")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(CHAT_CMD, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
                return -1;
            o->timeout_ms = (int)n;
        } else {
            cmd_usage_error(CHAT_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }

    if (cmd_env_defaults(CHAT_CMD, &o->target, &o->key) < 0)
        return -1;
    if (!o->model) {
        cmd_usage_error(CHAT_CMD, "--model: required (a route name or provider/model)");
        return -1;
    }
    if (!o->prompt) {
        cmd_usage_error(CHAT_CMD, "prompt: missing (give it as the last argument)");
        return -1;
    }
    if (!o->prompt[0]) {
        fprintf(stderr, "%s: prompt: must not be empty\n", CHAT_CMD);
        return -1;
    }
    return 0;
}

/* A value for a key=value line: quoted when it has blanks or is empty. */
static int kv(buf_t *b, const char *key, const char *val)
{
    if (val[0] && !strpbrk(val, " \t\"="))
        return buf_printf(b, " %s=%s", key, val);
    return buf_printf(b, " %s=\"%s\"", key, val);
}

/* "route: provider=… model=… strategy=… route=… reason=… attempts=N (failures)"
 * then "usage: …" — the stderr summary of a response or a last chunk. */
static int chat_summary(buf_t *b, const Llmgw__V1__RouteDecision *r, const Llmgw__V1__Usage *u,
                        double cost_usd, long long latency_ms, bool has_latency)
{
    int rc = 0;
    buf_reset(b);
    if (r) {
        rc |= buf_append_str(b, "route:");
        rc |= kv(b, "provider", r->provider);
        rc |= kv(b, "model", r->model);
        rc |= kv(b, "strategy", r->strategy);
        if (r->route[0])
            rc |= kv(b, "route", r->route);
        rc |= kv(b, "reason", r->reason);
        rc |= buf_printf(b, " attempts=%zu", r->n_attempts);
        /* Only the failed attempts explain anything; the last one served. */
        bool any_failed = false;
        for (size_t i = 0; i < r->n_attempts; i++) {
            const Llmgw__V1__Attempt *at = r->attempts[i];
            if (!at->error[0] && !at->error_type[0])
                continue;
            rc |= buf_printf(b, "%s%s: %s%s%s", any_failed ? "; " : " (", at->provider,
                             at->error_type, at->error_type[0] && at->error[0] ? ": " : "",
                             at->error);
            any_failed = true;
        }
        if (any_failed)
            rc |= buf_append_char(b, ')');
        rc |= buf_append_char(b, '\n');
    }
    if (u) {
        rc |= buf_printf(b, "usage: prompt_tokens=%d completion_tokens=%d total_tokens=%d",
                         u->prompt_tokens, u->completion_tokens, u->total_tokens);
        rc |= buf_printf(b, " cost_usd=%.8f", cost_usd);
        if (has_latency)
            rc |= buf_printf(b, " latency_ms=%lld", latency_ms);
        rc |= buf_append_char(b, '\n');
    }
    return rc ? -1 : 0;
}

static int print_json(const ProtobufCMessage *m, size_t flags)
{
    json_t *j = pbjson_from_message(m);
    int rc = -1;
    if (!j)
        goto out;
    if (json_dumpf(j, stdout, flags) < 0)
        goto out;
    if (fputc('\n', stdout) == EOF)
        goto out;
    rc = 0;
out:
    json_decref(j);
    if (rc < 0)
        fprintf(stderr, "error: cannot write the JSON answer\n");
    return rc;
}

static int chat_complete(cmd_conn_t *conn, const chat_opts_t *o, Llmgw__V1__ChatRequest *req)
{
    ProtobufCMessage *m = NULL;
    buf_t summary = BUF_INIT(CHAT_MAX_SUMMARY);
    int rc = CMD_EXIT_RPC;

    if (cmd_conn_unary(conn, "/llmgw.v1.ChatService/Complete", &req->base,
                       &llmgw__v1__chat_response__descriptor, &m) < 0) {
        rc = cmd_conn_report(conn);
        goto out;
    }
    const Llmgw__V1__ChatResponse *resp = (const Llmgw__V1__ChatResponse *)m;
    if (o->json) {
        if (print_json(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
            goto out;
        rc = CMD_EXIT_OK;
        goto out;
    }
    for (size_t i = 0; i < resp->n_choices; i++) {
        const Llmgw__V1__Choice *c = resp->choices[i];
        fputs(c->message ? c->message->content : "", stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    if (chat_summary(&summary, resp->route, resp->usage, resp->cost_usd,
                     (long long)resp->latency_ms, true) < 0) {
        fprintf(stderr, "error: route summary: out of memory\n");
        goto out;
    }
    fputs(buf_cstr(&summary), stderr);
    rc = CMD_EXIT_OK;
out:
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    buf_free(&summary);
    return rc;
}

typedef struct {
    bool json;
    bool mid_line; /* content written without a final newline */
    bool have_summary;
    buf_t summary; /* from the last chunk carrying a route or usage */
} chat_stream_t;

static int on_chunk(const ProtobufCMessage *m, void *ctx)
{
    chat_stream_t *st = ctx;
    const Llmgw__V1__ChatChunk *ch = (const Llmgw__V1__ChatChunk *)m;

    if (st->json) {
        if (print_json(m, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0)
            return -1;
    } else {
        for (size_t i = 0; i < ch->n_choices; i++) {
            const Llmgw__V1__Message *d = ch->choices[i]->delta;
            if (d && d->content[0]) {
                fputs(d->content, stdout);
                st->mid_line = d->content[strlen(d->content) - 1] != '\n';
            }
        }
    }
    /* Deltas must show as they arrive, not when stdio's buffer fills. */
    if (fflush(stdout) == EOF)
        return -1;
    if (ch->route || ch->usage) {
        if (chat_summary(&st->summary, ch->route, ch->usage, ch->cost_usd, 0, false) < 0)
            return -1;
        st->have_summary = true;
    }
    return 0;
}

static int chat_stream(cmd_conn_t *conn, const chat_opts_t *o, Llmgw__V1__ChatRequest *req)
{
    chat_stream_t st = {.json = o->json, .summary = BUF_INIT(CHAT_MAX_SUMMARY)};
    int rc = CMD_EXIT_RPC;

    int call = cmd_conn_stream(conn, "/llmgw.v1.ChatService/Stream", &req->base,
                               &llmgw__v1__chat_chunk__descriptor, on_chunk, &st);
    /* End the answer's line before anything else is printed. */
    if (st.mid_line) {
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (call < 0) {
        rc = cmd_conn_report(conn);
        goto out;
    }
    if (!o->json && st.have_summary)
        fputs(buf_cstr(&st.summary), stderr);
    rc = CMD_EXIT_OK;
out:
    buf_free(&st.summary);
    return rc;
}

int cmd_chat(int argc, char **argv)
{
    chat_opts_t o;
    cmd_conn_t *conn = NULL;
    int rc = chat_parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;

    Llmgw__V1__Message sys = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message user = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[2];
    size_t n_msgs = 0;
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;

    /* protobuf-c's generated structs hold non-const char *; it never writes
     * through them when packing. */
    if (o.system) {
        sys.role = "system";
        sys.content = (char *)o.system;
        msgs[n_msgs++] = &sys;
    }
    user.role = "user";
    user.content = (char *)o.prompt;
    msgs[n_msgs++] = &user;
    req.model = (char *)o.model;
    req.n_messages = n_msgs;
    req.messages = msgs;
    if (o.has_temperature) {
        req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
        req.temperature = o.temperature;
    }
    if (o.has_max_tokens) {
        req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        req.max_tokens = o.max_tokens;
    }

    conn = cmd_conn_open(o.target, o.key, o.timeout_ms);
    if (!conn)
        return CMD_EXIT_RPC;
    rc = o.stream ? chat_stream(conn, &o, &req) : chat_complete(conn, &o, &req);
    cmd_conn_close(conn);
    return rc;
}
