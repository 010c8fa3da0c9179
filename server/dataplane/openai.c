/* openai: OpenAI chat.completions JSON <-> llmgw.v1 messages, with jansson.
 *
 * Building: a jansson tree is assembled from the ChatRequest and dumped
 * compactly into the caller's capped buffer; the tree is freed before
 * returning. On failure the buffer is left as it was.
 *
 * Parsing: the body is loaded into a jansson tree, every string the answer
 * keeps is copied into the request's arena, and the tree is freed before
 * returning, on success and failure alike. Messages are initialized with
 * their protobuf-c __init functions, so a field the provider left out reads
 * as protobuf's default ("" or 0), never NULL. Members we do not model
 * (logprobs, refusal, annotations, token details ...) are ignored; a member
 * we do model with the wrong JSON type is an error naming its path.
 *
 * Numbers: reals are dumped with jansson's default 17 significant digits so
 * every double survives the trip exactly (0.7 is written 0.69999999999999996,
 * which parses back to the same double).
 */
#include "openai.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

/* Keys the caller's extra_body_json may not set: they carry the gateway's
 * own choices (upstream model, the conversation, the transport mode). */
static const char *const openai_reserved_keys[] = {"model", "messages", "stream", "stream_options"};

static void openai_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void openai_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Request building                                                          */

/* Sets obj[key] to the string s. json_string refuses invalid UTF-8, which
 * protobuf-c does not check on input: tell that apart from running out of
 * memory so the error names the field. */
static int openai_set_string(json_t *obj, const char *key, const char *s, const char *field,
                             char *err, size_t errlen)
{
    json_t *v = json_string(s);
    if (!v) {
        json_t *raw = json_string_nocheck(s);
        if (raw) {
            json_decref(raw);
            openai_err(err, errlen, "%s: invalid UTF-8", field);
        } else {
            openai_err(err, errlen, "%s: out of memory", field);
        }
        return -1;
    }
    if (json_object_set_new(obj, key, v) < 0) {
        openai_err(err, errlen, "%s: out of memory", field);
        return -1;
    }
    return 0;
}

static int openai_set_new(json_t *obj, const char *key, json_t *v, char *err, size_t errlen)
{
    /* json_object_set_new takes v even on failure, and fails on NULL. */
    if (json_object_set_new(obj, key, v) < 0) {
        openai_err(err, errlen, "%s: out of memory", key);
        return -1;
    }
    return 0;
}

static int openai_set_real(json_t *obj, const char *key, double d, char *err, size_t errlen)
{
    if (!isfinite(d)) {
        openai_err(err, errlen, "%s: expected a finite number", key);
        return -1;
    }
    return openai_set_new(obj, key, json_real(d), err, errlen);
}

/* Parses a *_json request field. NULL with err on invalid JSON or when the
 * value is not of the type `want` (0: any type). The caller owns the tree. */
static json_t *openai_parse_json_field(const char *text, const char *field, json_type want,
                                       const char *want_name, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v) {
        openai_err(err, errlen, "%s: invalid JSON at line %d column %d: %s", field, jerr.line,
                   jerr.column, jerr.text);
        return NULL;
    }
    if (want_name && json_typeof(v) != want) {
        openai_err(err, errlen, "%s: expected a JSON %s", field, want_name);
        json_decref(v);
        return NULL;
    }
    return v;
}

static json_t *openai_build_message(const Llmgw__V1__Message *m, size_t i, char *err, size_t errlen)
{
    char field[64];
    json_t *obj = json_object();
    if (!obj) {
        openai_err(err, errlen, "messages[%zu]: out of memory", i);
        return NULL;
    }
    snprintf(field, sizeof(field), "messages[%zu].role", i);
    if (openai_set_string(obj, "role", m->role ? m->role : "", field, err, errlen) < 0)
        goto fail;

    bool has_tool_calls = m->tool_calls_json && m->tool_calls_json[0];
    const char *content = m->content ? m->content : "";
    /* OpenAI documents content as null for an assistant turn that only
     * calls tools. */
    if (m->content_parts_json && m->content_parts_json[0]) {
        /* Content parts (text, image_url, ...) are passed on as given. */
        snprintf(field, sizeof(field), "messages[%zu].content_parts_json", i);
        json_t *parts =
            openai_parse_json_field(m->content_parts_json, field, JSON_ARRAY, "array", err, errlen);
        if (!parts || openai_set_new(obj, "content", parts, err, errlen) < 0)
            goto fail;
    } else if (!content[0] && has_tool_calls && m->role && strcmp(m->role, "assistant") == 0) {
        if (openai_set_new(obj, "content", json_null(), err, errlen) < 0)
            goto fail;
    } else {
        snprintf(field, sizeof(field), "messages[%zu].content", i);
        if (openai_set_string(obj, "content", content, field, err, errlen) < 0)
            goto fail;
    }
    if (m->name && m->name[0]) {
        snprintf(field, sizeof(field), "messages[%zu].name", i);
        if (openai_set_string(obj, "name", m->name, field, err, errlen) < 0)
            goto fail;
    }
    if (m->tool_call_id && m->tool_call_id[0]) {
        snprintf(field, sizeof(field), "messages[%zu].tool_call_id", i);
        if (openai_set_string(obj, "tool_call_id", m->tool_call_id, field, err, errlen) < 0)
            goto fail;
    }
    if (has_tool_calls) {
        snprintf(field, sizeof(field), "messages[%zu].tool_calls_json", i);
        json_t *tc =
            openai_parse_json_field(m->tool_calls_json, field, JSON_ARRAY, "array", err, errlen);
        if (!tc || openai_set_new(obj, "tool_calls", tc, err, errlen) < 0)
            goto fail;
    }
    return obj;

fail:
    json_decref(obj);
    return NULL;
}

typedef struct {
    buf_t *out;
    bool too_large;
} openai_dump_ctx_t;

static int openai_dump_to_buf(const char *p, size_t n, void *ud)
{
    openai_dump_ctx_t *ctx = ud;
    if (n > ctx->out->cap - ctx->out->len) {
        ctx->too_large = true;
        return -1;
    }
    return buf_append(ctx->out, p, n);
}

int openai_build_chat_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                              bool stream, buf_t *out, char *err, size_t errlen)
{
    int rc = -1;
    size_t orig_len = out->len;
    json_t *extra = NULL;
    json_t *root = json_object();
    json_t *msgs = json_array();
    if (!root || !msgs) {
        json_decref(msgs);
        openai_err(err, errlen, "request: out of memory");
        goto done;
    }

    const char *model = upstream_model ? upstream_model : req->model;
    if (openai_set_string(root, "model", model ? model : "", "model", err, errlen) < 0)
        goto done_msgs;
    for (size_t i = 0; i < req->n_messages; i++) {
        if (!req->messages[i]) {
            openai_err(err, errlen, "messages[%zu]: missing", i);
            goto done_msgs;
        }
        json_t *m = openai_build_message(req->messages[i], i, err, errlen);
        if (!m)
            goto done_msgs;
        if (json_array_append_new(msgs, m) < 0) {
            openai_err(err, errlen, "messages[%zu]: out of memory", i);
            goto done_msgs;
        }
    }
    if (openai_set_new(root, "messages", msgs, err, errlen) < 0)
        goto done;

    if (req->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE &&
        openai_set_real(root, "temperature", req->temperature, err, errlen) < 0)
        goto done;
    if (req->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P &&
        openai_set_real(root, "top_p", req->top_p, err, errlen) < 0)
        goto done;
    if (req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS &&
        openai_set_new(root, "max_tokens", json_integer(req->max_tokens), err, errlen) < 0)
        goto done;
    if (req->seed_opt_case == LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED &&
        openai_set_new(root, "seed", json_integer(req->seed), err, errlen) < 0)
        goto done;
    if (req->presence_penalty_opt_case ==
            LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY &&
        openai_set_real(root, "presence_penalty", req->presence_penalty, err, errlen) < 0)
        goto done;
    if (req->frequency_penalty_opt_case ==
            LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY &&
        openai_set_real(root, "frequency_penalty", req->frequency_penalty, err, errlen) < 0)
        goto done;

    if (req->n_stop > 0) {
        json_t *stop = json_array();
        if (openai_set_new(root, "stop", stop, err, errlen) < 0)
            goto done;
        for (size_t i = 0; i < req->n_stop; i++) {
            char field[32];
            snprintf(field, sizeof(field), "stop[%zu]", i);
            json_t *s = json_string(req->stop[i] ? req->stop[i] : "");
            if (!s) {
                openai_err(err, errlen, "%s: invalid UTF-8 or out of memory", field);
                goto done;
            }
            if (json_array_append_new(stop, s) < 0) {
                openai_err(err, errlen, "%s: out of memory", field);
                goto done;
            }
        }
    }
    if (req->user && req->user[0] &&
        openai_set_string(root, "user", req->user, "user", err, errlen) < 0)
        goto done;

    if (req->tools_json && req->tools_json[0]) {
        json_t *v = openai_parse_json_field(req->tools_json, "tools_json", JSON_ARRAY, "array", err,
                                            errlen);
        if (!v || openai_set_new(root, "tools", v, err, errlen) < 0)
            goto done;
    }
    if (req->tool_choice_json && req->tool_choice_json[0]) {
        /* A string ("auto", "none", "required") or an object. */
        json_t *v = openai_parse_json_field(req->tool_choice_json, "tool_choice_json", JSON_NULL,
                                            NULL, err, errlen);
        if (!v || openai_set_new(root, "tool_choice", v, err, errlen) < 0)
            goto done;
    }
    if (req->response_format_json && req->response_format_json[0]) {
        json_t *v = openai_parse_json_field(req->response_format_json, "response_format_json",
                                            JSON_OBJECT, "object", err, errlen);
        if (!v || openai_set_new(root, "response_format", v, err, errlen) < 0)
            goto done;
    }
    if (req->extra_body_json && req->extra_body_json[0]) {
        extra = openai_parse_json_field(req->extra_body_json, "extra_body_json", JSON_OBJECT,
                                        "object", err, errlen);
        if (!extra)
            goto done;
        const char *key;
        json_t *value;
        json_object_foreach(extra, key, value)
        {
            for (size_t k = 0; k < sizeof(openai_reserved_keys) / sizeof(openai_reserved_keys[0]);
                 k++) {
                if (strcmp(key, openai_reserved_keys[k]) == 0) {
                    openai_err(err, errlen, "extra_body_json.%s: may not be overridden", key);
                    goto done;
                }
            }
            /* Later members win: extra_body may replace a sampling field. */
            if (json_object_set(root, key, value) < 0) {
                openai_err(err, errlen, "extra_body_json.%s: out of memory", key);
                goto done;
            }
        }
    }

    if (stream) {
        if (openai_set_new(root, "stream", json_true(), err, errlen) < 0 ||
            openai_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1), err,
                           errlen) < 0)
            goto done;
    }

    openai_dump_ctx_t ctx = {out, false};
    if (json_dump_callback(root, openai_dump_to_buf, &ctx, JSON_COMPACT) < 0) {
        openai_err(err, errlen, "request body: %s",
                   ctx.too_large ? "exceeds the size cap" : "out of memory");
        goto done;
    }
    rc = 0;
    goto done;

done_msgs:
    json_decref(msgs);
done:
    if (rc < 0 && out->len > orig_len) {
        out->len = orig_len;
        out->data[orig_len] = '\0';
    }
    json_decref(extra);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Response and chunk parsing                                                */

typedef struct {
    arena_t *arena;
    char *err;
    size_t errlen;
} openai_parse_t;

/* `path` names the object holding `key` ("" at the top level). */
static void openai_type_err(openai_parse_t *ps, const char *path, const char *key,
                            const char *expected)
{
    openai_err(ps->err, ps->errlen, "%s%s%s: expected %s", path, path[0] ? "." : "", key, expected);
}

static void openai_oom(openai_parse_t *ps, const char *path, const char *key)
{
    openai_err(ps->err, ps->errlen, "%s%s%s: out of memory", path, path[0] ? "." : "", key);
}

/* A string member copied into the arena. Missing or null leaves *dst
 * untouched (protobuf's ""). */
static int openai_get_string(openai_parse_t *ps, json_t *obj, const char *path, const char *key,
                             char **dst)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        openai_type_err(ps, path, key, "a string");
        return -1;
    }
    /* Without JSON_ALLOW_NUL jansson refuses \u0000, so strlen is exact. */
    char *s = arena_strdup(ps->arena, json_string_value(v));
    if (!s) {
        openai_oom(ps, path, key);
        return -1;
    }
    *dst = s;
    return 0;
}

/* An integer member; an integral real (12.0, sent by some compatible
 * servers) is accepted too. Missing or null leaves *dst untouched. */
static int openai_get_int(openai_parse_t *ps, json_t *obj, const char *path, const char *key,
                          int64_t *dst)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *dst = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
            *dst = (int64_t)d;
            return 0;
        }
    }
    openai_type_err(ps, path, key, "an integer");
    return -1;
}

static int32_t openai_clamp_i32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* A JSON value dumped compactly into the arena. */
static char *openai_dump_into_arena(openai_parse_t *ps, json_t *v, const char *path,
                                    const char *key)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    char *s = n > 0 ? arena_alloc(ps->arena, n + 1) : NULL;
    if (!s || json_dumpb(v, s, n, JSON_COMPACT) != n) {
        openai_oom(ps, path, key);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static int openai_parse_usage(openai_parse_t *ps, json_t *v, Llmgw__V1__Usage **out)
{
    if (!json_is_object(v)) {
        openai_type_err(ps, "", "usage", "an object");
        return -1;
    }
    Llmgw__V1__Usage *u = arena_alloc(ps->arena, sizeof(*u));
    if (!u) {
        openai_oom(ps, "", "usage");
        return -1;
    }
    llmgw__v1__usage__init(u);
    int64_t prompt = 0, completion = 0, total = -1;
    if (openai_get_int(ps, v, "usage", "prompt_tokens", &prompt) < 0 ||
        openai_get_int(ps, v, "usage", "completion_tokens", &completion) < 0 ||
        openai_get_int(ps, v, "usage", "total_tokens", &total) < 0)
        return -1;
    if (prompt < 0 || completion < 0) {
        openai_type_err(ps, "usage", prompt < 0 ? "prompt_tokens" : "completion_tokens",
                        "a non-negative integer");
        return -1;
    }
    if (total < 0)
        total = prompt + completion;
    u->prompt_tokens = openai_clamp_i32(prompt);
    u->completion_tokens = openai_clamp_i32(completion);
    u->total_tokens = openai_clamp_i32(total);
    *out = u;
    return 0;
}

/* A message or delta object at `path`: role, content (null is ""),
 * tool_calls (kept as compact JSON). */
static int openai_parse_message(openai_parse_t *ps, json_t *obj, const char *path,
                                Llmgw__V1__Message *m)
{
    if (openai_get_string(ps, obj, path, "role", &m->role) < 0 ||
        openai_get_string(ps, obj, path, "content", &m->content) < 0 ||
        openai_get_string(ps, obj, path, "name", &m->name) < 0 ||
        openai_get_string(ps, obj, path, "tool_call_id", &m->tool_call_id) < 0)
        return -1;
    json_t *tc = json_object_get(obj, "tool_calls");
    if (tc && !json_is_null(tc)) {
        if (!json_is_array(tc)) {
            openai_type_err(ps, path, "tool_calls", "an array");
            return -1;
        }
        m->tool_calls_json = openai_dump_into_arena(ps, tc, path, "tool_calls");
        if (!m->tool_calls_json)
            return -1;
    }
    return 0;
}

/* One element of "choices". `delta` selects the chunk shape: the body is
 * under "delta" and may be absent; in a completion "message" is required. */
static int openai_parse_choice(openai_parse_t *ps, json_t *c, size_t i, bool delta, int32_t *index,
                               Llmgw__V1__Message **msg, char **finish_reason)
{
    char path[48];
    snprintf(path, sizeof(path), "choices[%zu]", i);
    if (!json_is_object(c)) {
        openai_err(ps->err, ps->errlen, "%s: expected an object", path);
        return -1;
    }
    int64_t idx = (int64_t)i;
    if (openai_get_int(ps, c, path, "index", &idx) < 0 ||
        openai_get_string(ps, c, path, "finish_reason", finish_reason) < 0)
        return -1;
    *index = openai_clamp_i32(idx);

    const char *key = delta ? "delta" : "message";
    json_t *body = json_object_get(c, key);
    if (json_is_null(body) && delta)
        body = NULL;
    if ((body || !delta) && !json_is_object(body)) {
        openai_type_err(ps, path, key, "an object");
        return -1;
    }
    Llmgw__V1__Message *m = arena_alloc(ps->arena, sizeof(*m));
    if (!m) {
        openai_oom(ps, path, key);
        return -1;
    }
    llmgw__v1__message__init(m);
    if (body) {
        char mpath[64];
        snprintf(mpath, sizeof(mpath), "%s.%s", path, key);
        if (openai_parse_message(ps, body, mpath, m) < 0)
            return -1;
    }
    /* A completion's message is the assistant's even if the role was left
     * out; a delta's role is only on the first chunk and stays empty. */
    if (!delta && !m->role[0]) {
        m->role = arena_strdup(ps->arena, "assistant");
        if (!m->role) {
            openai_oom(ps, path, key);
            return -1;
        }
    }
    *msg = m;
    return 0;
}

/* For a body without choices: "error: <provider message>" when it is an
 * error object (OpenAI sends these inside a 200 stream too), else the
 * plain type error. */
static void openai_missing_choices(openai_parse_t *ps, json_t *root)
{
    json_t *e = json_object_get(root, "error");
    json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
    if (json_is_string(m))
        openai_err(ps->err, ps->errlen, "error: %s", json_string_value(m));
    else if (e)
        openai_err(ps->err, ps->errlen, "error: upstream sent an error object");
    else
        openai_type_err(ps, "", "choices", "an array");
}

static json_t *openai_load_object(openai_parse_t *ps, const char *what, const char *text,
                                  size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", text ? len : 0, 0, &jerr);
    if (!root) {
        openai_err(ps->err, ps->errlen, "%s: invalid JSON at line %d column %d: %s", what,
                   jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        openai_err(ps->err, ps->errlen, "%s: expected a JSON object", what);
        json_decref(root);
        return NULL;
    }
    return root;
}

static int openai_parse_header(openai_parse_t *ps, json_t *root, char **id, char **model,
                               int64_t *created)
{
    if (openai_get_string(ps, root, "", "id", id) < 0 ||
        openai_get_string(ps, root, "", "model", model) < 0 ||
        openai_get_int(ps, root, "", "created", created) < 0)
        return -1;
    return 0;
}

/* Members llmgw does not model (system_fingerprint, service_tier, usage
 * details, ...) as {"openai": {...}} in the arena, for extensions_json;
 * *out stays NULL when there are none. 0, or -1 (out of memory). */
static int openai_extensions(openai_parse_t *ps, json_t *root, char **out)
{
    static const char *const known[] = {"id", "object", "created", "model", "choices", "usage"};
    static const char *const usage_known[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    json_t *ext = json_object();
    json_t *usage = json_object_get(root, "usage");
    const char *key;
    json_t *v;
    int rc = -1;
    if (!ext)
        goto out;
    json_object_foreach(root, key, v)
    {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(key, known[k]) != 0)
            k++;
        if (k == sizeof(known) / sizeof(known[0]) && !json_is_null(v) &&
            json_object_set(ext, key, v) < 0)
            goto out;
    }
    json_object_foreach(json_is_object(usage) ? usage : NULL, key, v)
    {
        size_t k = 0;
        while (k < 3 && strcmp(key, usage_known[k]) != 0)
            k++;
        if (k < 3 || json_is_null(v))
            continue;
        if (!json_object_get(ext, "usage") && json_object_set_new(ext, "usage", json_object()) < 0)
            goto out;
        if (json_object_set(json_object_get(ext, "usage"), key, v) < 0)
            goto out;
    }
    if (json_object_size(ext) == 0) {
        rc = 0;
        goto out;
    }
    json_t *wrap = json_pack("{s:O}", "openai", ext);
    *out = wrap ? openai_dump_into_arena(ps, wrap, "", "extensions") : NULL;
    json_decref(wrap);
    rc = *out ? 0 : -1;
out:
    if (rc < 0)
        openai_oom(ps, "", "extensions");
    json_decref(ext);
    return rc;
}

int openai_parse_chat_response(const char *body, size_t len, arena_t *a,
                               Llmgw__V1__ChatResponse **out, char *err, size_t errlen)
{
    openai_parse_t ps = {a, err, errlen};
    int rc = -1;
    json_t *root = openai_load_object(&ps, "response body", body, len);
    if (!root)
        return -1;

    Llmgw__V1__ChatResponse *r = arena_alloc(a, sizeof(*r));
    if (!r) {
        openai_err(err, errlen, "response: out of memory");
        goto done;
    }
    llmgw__v1__chat_response__init(r);
    if (openai_parse_header(&ps, root, &r->id, &r->model, &r->created) < 0)
        goto done;

    json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices)) {
        if (!choices || json_is_null(choices))
            openai_missing_choices(&ps, root);
        else
            openai_type_err(&ps, "", "choices", "an array");
        goto done;
    }
    size_t n = json_array_size(choices);
    if (n > 0) {
        r->choices = arena_alloc(a, n * sizeof(*r->choices));
        if (!r->choices) {
            openai_oom(&ps, "", "choices");
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        Llmgw__V1__Choice *c = arena_alloc(a, sizeof(*c));
        if (!c) {
            openai_oom(&ps, "", "choices");
            goto done;
        }
        llmgw__v1__choice__init(c);
        if (openai_parse_choice(&ps, json_array_get(choices, i), i, false, &c->index, &c->message,
                                &c->finish_reason) < 0)
            goto done;
        r->choices[i] = c;
        r->n_choices = i + 1;
    }

    json_t *usage = json_object_get(root, "usage");
    if (usage && !json_is_null(usage)) {
        if (openai_parse_usage(&ps, usage, &r->usage) < 0)
            goto done;
    } else {
        /* Missing usage reads as zeros, so callers never see NULL. */
        r->usage = arena_alloc(a, sizeof(*r->usage));
        if (!r->usage) {
            openai_oom(&ps, "", "usage");
            goto done;
        }
        llmgw__v1__usage__init(r->usage);
    }
    char *ext = NULL;
    if (openai_extensions(&ps, root, &ext) < 0)
        goto done;
    if (ext)
        r->extensions_json = ext;
    *out = r;
    rc = 0;

done:
    json_decref(root);
    return rc;
}

int openai_parse_chat_chunk(const char *data, size_t len, arena_t *a, Llmgw__V1__ChatChunk **out,
                            char *err, size_t errlen)
{
    openai_parse_t ps = {a, err, errlen};
    int rc = -1;
    json_t *root = openai_load_object(&ps, "chunk", data, len);
    if (!root)
        return -1;

    Llmgw__V1__ChatChunk *ch = arena_alloc(a, sizeof(*ch));
    if (!ch) {
        openai_err(err, errlen, "chunk: out of memory");
        goto done;
    }
    llmgw__v1__chat_chunk__init(ch);
    if (openai_parse_header(&ps, root, &ch->id, &ch->model, &ch->created) < 0)
        goto done;

    json_t *choices = json_object_get(root, "choices");
    json_t *usage = json_object_get(root, "usage");
    bool has_usage = usage && !json_is_null(usage);
    if (!choices || json_is_null(choices)) {
        /* Some compatible servers (vLLM) send the usage-only chunk with
         * choices null or absent; without usage it is an error object or
         * junk. */
        if (!has_usage) {
            openai_missing_choices(&ps, root);
            goto done;
        }
    } else if (!json_is_array(choices)) {
        openai_type_err(&ps, "", "choices", "an array");
        goto done;
    }
    size_t n = json_array_size(choices);
    if (n > 0) {
        ch->choices = arena_alloc(a, n * sizeof(*ch->choices));
        if (!ch->choices) {
            openai_oom(&ps, "", "choices");
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        Llmgw__V1__ChunkChoice *c = arena_alloc(a, sizeof(*c));
        if (!c) {
            openai_oom(&ps, "", "choices");
            goto done;
        }
        llmgw__v1__chunk_choice__init(c);
        if (openai_parse_choice(&ps, json_array_get(choices, i), i, true, &c->index, &c->delta,
                                &c->finish_reason) < 0)
            goto done;
        ch->choices[i] = c;
        ch->n_choices = i + 1;
    }
    /* include_usage sends "usage": null on every chunk but the last. */
    if (has_usage && openai_parse_usage(&ps, usage, &ch->usage) < 0)
        goto done;
    char *ext = NULL;
    if (openai_extensions(&ps, root, &ext) < 0)
        goto done;
    if (ext)
        ch->extensions_json = ext;
    *out = ch;
    rc = 0;

done:
    json_decref(root);
    return rc;
}

bool openai_is_done_marker(const char *data, size_t len)
{
    if (!data)
        return false;
    while (len > 0 && (data[0] == ' ' || data[0] == '\t' || data[0] == '\r' || data[0] == '\n')) {
        data++;
        len--;
    }
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t' || data[len - 1] == '\r' ||
                       data[len - 1] == '\n'))
        len--;
    return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}
