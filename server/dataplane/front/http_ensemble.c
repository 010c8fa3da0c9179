/* http_ensemble: see http_ensemble.h.
 *
 * An ensemble call is rare next to chat (it fans out to several upstream
 * calls), so the body goes through jansson's tree: duplicate members are
 * refused by the loader, the request object is dumped back to text and
 * handed to http_chat_decode so both endpoints read a chat body the same
 * way. The answer starts from http_chat_encode_response's text, parsed
 * back, so "choices" and "usage" are byte-for-byte the chat endpoint's.
 */
#include "http_ensemble.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ensemble.h"
#include "http_chat.h"

#define HE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

static int he_oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

/* A string member into the arena; absent or null leaves *out as it is. */
static int he_string(json_t *obj, const char *key, const char *path, arena_t *a, char **out,
                     char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: expected a string", path);
        return -1;
    }
    if (!(*out = arena_strndup(a, json_string_value(v), json_string_length(v))))
        return he_oom(err, errlen);
    return 0;
}

static int he_int32(json_t *obj, const char *key, const char *path, int32_t *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
        snprintf(err, errlen, "%s: expected an integer from 0 to %d", path, INT32_MAX);
        return -1;
    }
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int he_number(json_t *obj, const char *key, const char *path, double *out, char *err,
                     size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        snprintf(err, errlen, "%s: expected a number", path);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* "voting" or the proto's "ENSEMBLE_METHOD_VOTING". */
static int he_method(json_t *cfg, Llmgw__V1__EnsembleConfig *c, char *err, size_t errlen)
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
    json_t *v = json_object_get(cfg, "method");
    if (!v) {
        snprintf(err, errlen, "config.method: required");
        return -1;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof(methods) / sizeof(methods[0]); i++) {
        char proto[64];
        snprintf(proto, sizeof(proto), "ENSEMBLE_METHOD_%s", methods[i].name);
        for (char *p = proto; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if (!strcmp(s, methods[i].name) || !strcmp(s, proto)) {
            c->method = methods[i].m;
            return 0;
        }
    }
    snprintf(err, errlen, "config.method: expected one of consensus, voting, weighted, cascade");
    return -1;
}

static int he_normalization(json_t *cfg, Llmgw__V1__EnsembleConfig *c, char *err, size_t errlen)
{
    json_t *v = json_object_get(cfg, "normalization");
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (s && (!strcmp(s, "default") || !strcmp(s, "ENSEMBLE_NORMALIZATION_DEFAULT"))) {
        c->normalization = LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_DEFAULT;
        return 0;
    }
    if (s && (!strcmp(s, "none") || !strcmp(s, "ENSEMBLE_NORMALIZATION_NONE"))) {
        c->normalization = LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_NONE;
        return 0;
    }
    snprintf(err, errlen, "config.normalization: expected \"default\" or \"none\"");
    return -1;
}

/* members: [{"model": "r", "weight": 2}, …]; a bare string is a member
 * with no weight. */
static int he_members(json_t *cfg, arena_t *a, Llmgw__V1__EnsembleConfig *c, char *err,
                      size_t errlen)
{
    json_t *arr = json_object_get(cfg, "members");
    if (!arr) {
        snprintf(err, errlen, "config.members: required");
        return -1;
    }
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "config.members: expected an array");
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n > ENSEMBLE_MAX_MEMBERS) {
        snprintf(err, errlen, "config.members: at most %d members", ENSEMBLE_MAX_MEMBERS);
        return -1;
    }
    c->members = arena_alloc(a, (n ? n : 1) * sizeof(*c->members));
    if (!c->members)
        return he_oom(err, errlen);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        Llmgw__V1__EnsembleMember *mem = arena_alloc(a, sizeof(*mem));
        if (!mem)
            return he_oom(err, errlen);
        llmgw__v1__ensemble_member__init(mem);
        c->members[i] = mem;
        char path[64];
        if (json_is_string(m)) {
            if (!(mem->model = arena_strndup(a, json_string_value(m), json_string_length(m))))
                return he_oom(err, errlen);
            continue;
        }
        if (!json_is_object(m)) {
            snprintf(err, errlen, "config.members[%zu]: expected an object or a string", i);
            return -1;
        }
        const char *key;
        json_t *val;
        json_object_foreach(m, key, val)
        {
            if (strcmp(key, "model") != 0 && strcmp(key, "weight") != 0) {
                snprintf(err, errlen,
                         "config.members[%zu].%.64s: unknown member (expected model, weight)", i,
                         key);
                return -1;
            }
        }
        snprintf(path, sizeof(path), "config.members[%zu].model", i);
        if (!json_object_get(m, "model")) {
            snprintf(err, errlen, "%s: required", path);
            return -1;
        }
        if (he_string(m, "model", path, a, &mem->model, err, errlen) < 0)
            return -1;
        snprintf(path, sizeof(path), "config.members[%zu].weight", i);
        if (he_number(m, "weight", path, &mem->weight, err, errlen) < 0)
            return -1;
    }
    c->n_members = n;
    return 0;
}

/* json_schema: an object (or a string holding one, as in the proto). */
static int he_schema(json_t *cfg, arena_t *a, Llmgw__V1__EnsembleConfig *c, char *err,
                     size_t errlen)
{
    json_t *v = json_object_get(cfg, "json_schema");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return he_string(cfg, "json_schema", "config.json_schema", a, &c->json_schema, err, errlen);
    if (!json_is_object(v)) {
        snprintf(err, errlen, "config.json_schema: expected an object");
        return -1;
    }
    char *s = json_dumps(v, HE_JSON_FLAGS);
    if (!s)
        return he_oom(err, errlen);
    c->json_schema = arena_strdup(a, s);
    free(s);
    return c->json_schema ? 0 : he_oom(err, errlen);
}

static int he_config(json_t *cfg, arena_t *a, Llmgw__V1__EnsembleConfig *c, char *err,
                     size_t errlen)
{
    static const char *const known[] = {
        "method",          "members",         "min_responses",     "member_timeout_ms",
        "timeout_ms",      "judge_model",     "judge_prompt",      "normalization",
        "extract_pattern", "judge_threshold", "require_agreement", "json_schema",
    };
    const char *key;
    json_t *val;
    json_object_foreach(cfg, key, val)
    {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
            i++;
        if (i == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errlen, "config.%.64s: unknown member", key);
            return -1;
        }
    }
    if (he_method(cfg, c, err, errlen) < 0 || he_members(cfg, a, c, err, errlen) < 0 ||
        he_int32(cfg, "min_responses", "config.min_responses", &c->min_responses, err, errlen) <
            0 ||
        he_int32(cfg, "member_timeout_ms", "config.member_timeout_ms", &c->member_timeout_ms, err,
                 errlen) < 0 ||
        he_int32(cfg, "timeout_ms", "config.timeout_ms", &c->timeout_ms, err, errlen) < 0 ||
        he_string(cfg, "judge_model", "config.judge_model", a, &c->judge_model, err, errlen) < 0 ||
        he_string(cfg, "judge_prompt", "config.judge_prompt", a, &c->judge_prompt, err, errlen) <
            0 ||
        he_normalization(cfg, c, err, errlen) < 0 ||
        he_string(cfg, "extract_pattern", "config.extract_pattern", a, &c->extract_pattern, err,
                  errlen) < 0 ||
        he_number(cfg, "judge_threshold", "config.judge_threshold", &c->judge_threshold, err,
                  errlen) < 0 ||
        he_schema(cfg, a, c, err, errlen) < 0)
        return -1;
    json_t *ra = json_object_get(cfg, "require_agreement");
    if (ra && !json_is_null(ra)) {
        if (!json_is_boolean(ra)) {
            snprintf(err, errlen, "config.require_agreement: expected a boolean");
            return -1;
        }
        c->require_agreement = json_is_true(ra);
    }
    return 0;
}

/* The request object through the chat decoder; its errors get the
 * "request." prefix of their JSON path. */
static int he_request(json_t *req, arena_t *a, Llmgw__V1__ChatRequest **out, char *err,
                      size_t errlen)
{
    json_t *st = json_object_get(req, "stream");
    if (json_is_true(st)) {
        snprintf(err, errlen, "request.stream: not supported by /v1/ensembles");
        return -1;
    }
    /* Members name their models: one left out is no error. */
    if (!json_object_get(req, "model") && json_object_set_new(req, "model", json_string("")) < 0)
        return he_oom(err, errlen);
    char *text = json_dumps(req, HE_JSON_FLAGS);
    if (!text)
        return he_oom(err, errlen);
    http_chat_request_t cr;
    char cerr[448];
    int rc = http_chat_decode(text, strlen(text), a, &cr, cerr, sizeof(cerr));
    free(text);
    if (rc < 0) {
        if (!strncmp(cerr, "gateway: ", 9))
            snprintf(err, errlen, "%s", cerr);
        else
            snprintf(err, errlen, "request.%s", cerr);
        return -1;
    }
    *out = cr.req;
    return 0;
}

int http_ensemble_decode(const char *body, size_t len, arena_t *a, Llmgw__V1__EnsembleRequest **out,
                         char *err, size_t errlen)
{
    json_error_t je;
    int rc = -1;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "body: invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "body: expected a JSON object");
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "request") != 0 && strcmp(key, "config") != 0) {
            snprintf(err, errlen, "%.64s: unknown member (expected request and config)", key);
            goto fail;
        }
    }
    json_t *req = json_object_get(root, "request");
    json_t *cfg = json_object_get(root, "config");
    if (!req || !json_is_object(req)) {
        snprintf(err, errlen, req ? "request: expected an object" : "request: required");
        goto fail;
    }
    if (!cfg || !json_is_object(cfg)) {
        snprintf(err, errlen, cfg ? "config: expected an object" : "config: required");
        goto fail;
    }
    Llmgw__V1__EnsembleRequest *er = arena_alloc(a, sizeof(*er));
    Llmgw__V1__EnsembleConfig *c = arena_alloc(a, sizeof(*c));
    if (!er || !c) {
        (void)he_oom(err, errlen);
        goto fail;
    }
    llmgw__v1__ensemble_request__init(er);
    llmgw__v1__ensemble_config__init(c);
    er->config = c;
    if (he_request(req, a, &er->request, err, errlen) < 0 || he_config(cfg, a, c, err, errlen) < 0)
        goto fail;
    *out = er;
    rc = 0;
fail:
    json_decref(root);
    return rc;
}

/* --- the answer ------------------------------------------------------------ */

static json_t *he_usage(const Llmgw__V1__Usage *u)
{
    if (!u)
        return json_null();
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "completion_tokens", (json_int_t)u->completion_tokens, "total_tokens",
                     (json_int_t)u->total_tokens);
}

static json_t *he_str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

/* A double that is not finite cannot be JSON: null. */
static json_t *he_real(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

static json_t *he_route(const Llmgw__V1__RouteDecision *d)
{
    if (!d)
        return json_null();
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "route", he_str_or_null(d->route),
                     "provider", he_str_or_null(d->provider), "model", he_str_or_null(d->model),
                     "strategy", he_str_or_null(d->strategy), "reason", he_str_or_null(d->reason),
                     "attempts", (json_int_t)d->n_attempts);
}

static json_t *he_member(const Llmgw__V1__MemberResult *m)
{
    bool ok = m->state && !strcmp(m->state, "ok");
    return json_pack("{s:s?, s:o, s:o, s:s?, s:o, s:o, s:i, s:I, s:o, s:o, s:o, s:o, s:b, s:o}",
                     "member", m->member, "provider", he_str_or_null(m->provider), "model",
                     he_str_or_null(m->model), "state", m->state, "content",
                     ok ? json_string(m->content ? m->content : "") : json_null(), "error",
                     he_str_or_null(m->error), "status_code", (int)m->status_code, "latency_ms",
                     (json_int_t)m->latency_ms, "usage", he_usage(m->usage), "cost_usd",
                     he_real(m->cost_usd), "weight", he_real(m->weight), "similarity",
                     he_real(m->similarity), "agrees", (int)m->agrees, "route", he_route(m->route));
}

static json_t *he_analysis(const Llmgw__V1__EnsembleAnalysis *an)
{
    json_t *outliers = json_array();
    if (!outliers)
        return NULL;
    for (size_t i = 0; i < an->n_outliers; i++)
        if (json_array_append_new(outliers, json_integer(an->outliers[i])) < 0) {
            json_decref(outliers);
            return NULL;
        }
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:i, s:o, s:i, s:o, s:i, s:b, "
                  "s:b, s:o}",
                  "agreement", he_real(an->agreement), "diversity", he_real(an->diversity),
                  "confidence", he_real(an->confidence), "outliers", outliers, "total_cost_usd",
                  he_real(an->total_cost_usd), "wall_latency_ms", (json_int_t)an->wall_latency_ms,
                  "parallel_efficiency", he_real(an->parallel_efficiency), "cascade_stage",
                  (int)an->cascade_stage, "savings_usd", he_real(an->savings_usd), "chosen_member",
                  (int)an->chosen_member, "judge_output", he_str_or_null(an->judge_output),
                  "responses", (int)an->responses, "stopped_early", (int)an->stopped_early,
                  "accepted", (int)an->accepted, "judge_score", he_real(an->judge_score));
    return o;
}

int http_ensemble_encode(const Llmgw__V1__EnsembleResponse *resp, buf_t *out)
{
    if (!resp || !resp->chosen || !resp->analysis)
        return -1;
    buf_t chat = BUF_INIT(out->cap);
    json_t *root = NULL, *members = NULL, *analysis = NULL;
    int rc = -1;
    if (http_chat_encode_response(resp->chosen, &chat) < 0)
        goto fail;
    root = json_loadb(chat.data, chat.len, 0, NULL);
    members = json_array();
    analysis = he_analysis(resp->analysis);
    if (!root || !members || !analysis)
        goto fail;
    for (size_t i = 0; i < resp->n_members; i++) {
        json_t *m = he_member(resp->members[i]);
        if (!m || json_array_append_new(members, m) < 0)
            goto fail;
    }
    if (json_object_set_new(root, "members", members) < 0) {
        members = NULL; /* taken, even on failure */
        goto fail;
    }
    members = NULL;
    if (json_object_set_new(root, "analysis", analysis) < 0) {
        analysis = NULL;
        goto fail;
    }
    analysis = NULL;
    char *s = json_dumps(root, HE_JSON_FLAGS);
    if (!s)
        goto fail;
    rc = buf_append_str(out, s);
    free(s);
fail:
    json_decref(members);
    json_decref(analysis);
    json_decref(root);
    buf_free(&chat);
    return rc;
}
