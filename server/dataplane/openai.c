/* openai: OpenAI chat.completions JSON <-> llmgw.v1 messages.
 *
 * Building: a jansson tree is assembled from the ChatRequest and dumped
 * compactly into the caller's capped buffer; the tree is freed before
 * returning. On failure the buffer is left as it was.
 *
 * Parsing: the body is validated whole by jscan (strict RFC 8259, as strict
 * as jansson's loader) and then read in place: no tree, no malloc. Only the
 * strings the answer keeps are decoded into the request's arena. Messages are
 * initialized with their protobuf-c __init functions, so a field the provider
 * left out reads as protobuf's default ("" or 0), never NULL. Members we do
 * not model (logprobs, refusal, annotations, ...) are ignored; a member we do
 * model with the wrong JSON type is an error naming its path. Of duplicate
 * keys the last one counts, as in jansson. JSON kept as text (tool_calls_json,
 * extensions_json) is the provider's text with the whitespace between tokens
 * removed: the same values as a jansson dump, strings and numbers spelled as
 * the provider spelled them.
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

#include "jscan.h"

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

/* Members of an object that llmgw does not model, in document order, for
 * extensions_json. Starts in `local`, grows in the arena. */
typedef struct {
    jscan_value_t key, val;
} openai_member_t;

typedef struct {
    openai_member_t *items;
    size_t n, cap;
    openai_member_t local[8];
} openai_members_t;

static void openai_members_init(openai_members_t *l)
{
    l->items = l->local;
    l->n = 0;
    l->cap = sizeof(l->local) / sizeof(l->local[0]);
}

static int openai_members_add(openai_parse_t *ps, openai_members_t *l, const jscan_value_t *key,
                              const jscan_value_t *val)
{
    if (l->n == l->cap) {
        openai_member_t *grown = arena_alloc(ps->arena, 2 * l->cap * sizeof(*grown));
        if (!grown)
            return -1;
        memcpy(grown, l->items, l->n * sizeof(*grown));
        l->items = grown;
        l->cap *= 2;
    }
    l->items[l->n].key = *key;
    l->items[l->n].val = *val;
    l->n++;
    return 0;
}

/* Keys are almost never escaped: compare their bytes directly, and decode
 * only when there is a backslash (jansson compares decoded keys). */
static bool openai_key_is(const jscan_value_t *key, bool escaped, const char *name)
{
    if (escaped)
        return jscan_string_eq(key, name);
    size_t n = key->len - 2;
    return n > 0 && key->p[1] == name[0] && strncmp(key->p + 1, name, n) == 0 && name[n] == '\0';
}

/* Looks up names[0..n) in object `obj` (at `path`) in one walk: vals[k] is
 * the last member called names[k] (jansson keeps the last of duplicate keys)
 * or JSCAN_NONE. Members not among names[0..n_known) go to `extra` when it
 * is not NULL. 0, or -1 with the error set. */
static int openai_lookup(openai_parse_t *ps, const jscan_value_t *obj, const char *path,
                         const char *const *names, size_t n_known, size_t n, jscan_value_t *vals,
                         openai_members_t *extra)
{
    jscan_iter_t it;
    jscan_value_t k, v;
    int rc;
    memset(vals, 0, n * sizeof(*vals));
    if (jscan_iter_init(&it, obj) < 0)
        goto malformed;
    while ((rc = jscan_object_next(&it, &k, &v, NULL)) > 0) {
        bool escaped = memchr(k.p + 1, '\\', k.len - 2) != NULL;
        size_t i = 0;
        while (i < n && !openai_key_is(&k, escaped, names[i]))
            i++;
        if (i < n)
            vals[i] = v;
        if (i >= n_known && extra && openai_members_add(ps, extra, &k, &v) < 0) {
            openai_err(ps->err, ps->errlen, "%s%sextensions: out of memory", path,
                       path[0] ? "." : "");
            return -1;
        }
    }
    if (rc == 0)
        return 0;
malformed:
    /* Unreachable: the whole document was validated before the walk. */
    openai_err(ps->err, ps->errlen, "%s: invalid JSON", path[0] ? path : "body");
    return -1;
}

/* A string member copied into the arena. Missing or null leaves *dst
 * untouched (protobuf's ""). */
static int openai_get_string(openai_parse_t *ps, const jscan_value_t *v, const char *path,
                             const char *key, char **dst)
{
    if (v->type == JSCAN_NONE || v->type == JSCAN_NULL)
        return 0;
    if (v->type != JSCAN_STRING) {
        openai_type_err(ps, path, key, "a string");
        return -1;
    }
    /* The scanner refuses \u0000, so the copy is an exact C string. */
    char *s = jscan_string_dup(v, ps->arena, NULL);
    if (!s) {
        openai_oom(ps, path, key);
        return -1;
    }
    *dst = s;
    return 0;
}

/* An integer member; an integral real (12.0, sent by some compatible
 * servers) is accepted too. Missing or null leaves *dst untouched. */
static int openai_get_int(openai_parse_t *ps, const jscan_value_t *v, const char *path,
                          const char *key, int64_t *dst)
{
    if (v->type == JSCAN_NONE || v->type == JSCAN_NULL)
        return 0;
    if (jscan_int64(v, dst) == 0)
        return 0;
    double d;
    if (!jscan_number_is_integer(v) && jscan_double(v, &d) == 0 && d == floor(d) && d >= -9.2e18 &&
        d <= 9.2e18) {
        *dst = (int64_t)d;
        return 0;
    }
    openai_type_err(ps, path, key, "an integer");
    return -1;
}

static int32_t openai_clamp_i32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* A JSON value copied compactly into the arena: the provider's own text
 * without the whitespace between tokens, so no tree is built. It differs
 * from a re-serialisation only in spelling (escapes such as \u00e9 and
 * numbers such as 1e2 are kept as sent), never in value. */
static char *openai_compact_into_arena(openai_parse_t *ps, const jscan_value_t *v, const char *path,
                                       const char *key)
{
    char *s = arena_alloc(ps->arena, v->len + 1);
    if (!s) {
        openai_oom(ps, path, key);
        return NULL;
    }
    s[jscan_compact(v, s)] = '\0';
    return s;
}

static int openai_parse_usage(openai_parse_t *ps, const jscan_value_t *v, Llmgw__V1__Usage **out,
                              openai_members_t *extra)
{
    static const char *const names[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    if (v->type != JSCAN_OBJECT) {
        openai_type_err(ps, "", "usage", "an object");
        return -1;
    }
    Llmgw__V1__Usage *u = arena_alloc(ps->arena, sizeof(*u));
    if (!u) {
        openai_oom(ps, "", "usage");
        return -1;
    }
    llmgw__v1__usage__init(u);
    jscan_value_t f[3];
    if (openai_lookup(ps, v, "usage", names, 3, 3, f, extra) < 0)
        return -1;
    int64_t prompt = 0, completion = 0, total = -1;
    if (openai_get_int(ps, &f[0], "usage", "prompt_tokens", &prompt) < 0 ||
        openai_get_int(ps, &f[1], "usage", "completion_tokens", &completion) < 0 ||
        openai_get_int(ps, &f[2], "usage", "total_tokens", &total) < 0)
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
static int openai_parse_message(openai_parse_t *ps, const jscan_value_t *obj, const char *path,
                                Llmgw__V1__Message *m)
{
    static const char *const names[] = {"role", "content", "name", "tool_call_id", "tool_calls"};
    jscan_value_t f[5];
    if (openai_lookup(ps, obj, path, names, 5, 5, f, NULL) < 0 ||
        openai_get_string(ps, &f[0], path, "role", &m->role) < 0 ||
        openai_get_string(ps, &f[1], path, "content", &m->content) < 0 ||
        openai_get_string(ps, &f[2], path, "name", &m->name) < 0 ||
        openai_get_string(ps, &f[3], path, "tool_call_id", &m->tool_call_id) < 0)
        return -1;
    const jscan_value_t *tc = &f[4];
    if (tc->type != JSCAN_NONE && tc->type != JSCAN_NULL) {
        if (tc->type != JSCAN_ARRAY) {
            openai_type_err(ps, path, "tool_calls", "an array");
            return -1;
        }
        m->tool_calls_json = openai_compact_into_arena(ps, tc, path, "tool_calls");
        if (!m->tool_calls_json)
            return -1;
    }
    return 0;
}

/* One element of "choices". `delta` selects the chunk shape: the body is
 * under "delta" and may be absent; in a completion "message" is required. */
static int openai_parse_choice(openai_parse_t *ps, const jscan_value_t *c, size_t i, bool delta,
                               int32_t *index, Llmgw__V1__Message **msg, char **finish_reason)
{
    char path[48];
    snprintf(path, sizeof(path), "choices[%zu]", i);
    if (c->type != JSCAN_OBJECT) {
        openai_err(ps->err, ps->errlen, "%s: expected an object", path);
        return -1;
    }
    const char *key = delta ? "delta" : "message";
    const char *const names[] = {"index", "finish_reason", key};
    jscan_value_t f[3];
    if (openai_lookup(ps, c, path, names, 3, 3, f, NULL) < 0)
        return -1;
    int64_t idx = (int64_t)i;
    if (openai_get_int(ps, &f[0], path, "index", &idx) < 0 ||
        openai_get_string(ps, &f[1], path, "finish_reason", finish_reason) < 0)
        return -1;
    *index = openai_clamp_i32(idx);

    jscan_value_t body = f[2];
    if (body.type == JSCAN_NULL && delta)
        body.type = JSCAN_NONE;
    if ((body.type != JSCAN_NONE || !delta) && body.type != JSCAN_OBJECT) {
        openai_type_err(ps, path, key, "an object");
        return -1;
    }
    Llmgw__V1__Message *m = arena_alloc(ps->arena, sizeof(*m));
    if (!m) {
        openai_oom(ps, path, key);
        return -1;
    }
    llmgw__v1__message__init(m);
    if (body.type == JSCAN_OBJECT) {
        char mpath[64];
        snprintf(mpath, sizeof(mpath), "%s.%s", path, key);
        if (openai_parse_message(ps, &body, mpath, m) < 0)
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
 * plain type error. `e` is the body's "error" member (JSCAN_NONE if absent). */
static void openai_missing_choices(openai_parse_t *ps, const jscan_value_t *e)
{
    static const char *const names[] = {"message"};
    jscan_value_t m = *e;
    if (e->type == JSCAN_OBJECT && openai_lookup(ps, e, "error", names, 1, 1, &m, NULL) < 0)
        return;
    if (m.type == JSCAN_STRING) {
        char local[1024];
        char *text = m.len <= sizeof(local) ? local : jscan_string_dup(&m, ps->arena, NULL);
        if (text == local)
            jscan_string_decode(&m, local);
        if (text) {
            openai_err(ps->err, ps->errlen, "error: %s", text);
            return;
        }
    }
    if (e->type != JSCAN_NONE)
        openai_err(ps->err, ps->errlen, "error: upstream sent an error object");
    else
        openai_type_err(ps, "", "choices", "an array");
}

/* Validates the whole body (so a syntax error anywhere is reported before
 * any field) and requires an object, as jansson's json_loadb did. */
static int openai_load_object(openai_parse_t *ps, const char *what, const char *text, size_t len,
                              jscan_value_t *root)
{
    jscan_error_t jerr;
    int line, column;
    if (!text)
        len = 0;
    /* jansson's number range too: the body failed on an overflowing number
     * before, and kept text (tool_calls_json, extensions_json) must load
     * with jansson again. */
    if (jscan_document_flags(text, len, JSCAN_JANSSON_RANGE, root, &jerr) < 0) {
        jscan_line_column(text, jerr.offset, &line, &column);
        openai_err(ps->err, ps->errlen, "%s: invalid JSON at line %d column %d: %s", what, line,
                   column, jerr.msg);
        return -1;
    }
    if (root->type == JSCAN_ARRAY) {
        openai_err(ps->err, ps->errlen, "%s: expected a JSON object", what);
        return -1;
    }
    if (root->type != JSCAN_OBJECT) {
        /* jansson, without JSON_DECODE_ANY, refuses a bare scalar as JSON. */
        jscan_line_column(text, (size_t)(root->p - text), &line, &column);
        openai_err(ps->err, ps->errlen,
                   "%s: invalid JSON at line %d column %d: '[' or '{' expected", what, line,
                   column);
        return -1;
    }
    return 0;
}

/* The top-level members both shapes read, in this order. */
enum {
    OPENAI_ID,
    OPENAI_OBJECT,
    OPENAI_CREATED,
    OPENAI_MODEL,
    OPENAI_CHOICES,
    OPENAI_USAGE,
    OPENAI_ERROR,
    OPENAI_N_TOP
};
/* Names before "error" are modelled; "error" and the rest go to extensions. */
static const char *const openai_top_names[OPENAI_N_TOP] = {"id",      "object", "created", "model",
                                                           "choices", "usage",  "error"};

static int openai_parse_header(openai_parse_t *ps, const jscan_value_t *top, char **id,
                               char **model, int64_t *created)
{
    if (openai_get_string(ps, &top[OPENAI_ID], "", "id", id) < 0 ||
        openai_get_string(ps, &top[OPENAI_MODEL], "", "model", model) < 0 ||
        openai_get_int(ps, &top[OPENAI_CREATED], "", "created", created) < 0)
        return -1;
    return 0;
}

/* Element count of an array (validated already). */
static size_t openai_array_size(const jscan_value_t *arr)
{
    jscan_iter_t it;
    jscan_value_t v;
    size_t n = 0;
    if (jscan_iter_init(&it, arr) < 0)
        return 0;
    while (jscan_array_next(&it, &v, NULL) > 0)
        n++;
    return n;
}

/* Whether member i of l is written to extensions: not null, and not followed
 * by a member of the same name (the last one wins, as in jansson). The check
 * is quadratic, so past 64 unknown members duplicates are all written and a
 * reader keeps the last. */
static bool openai_member_kept(const openai_members_t *l, size_t i)
{
    if (l->items[i].val.type == JSCAN_NULL)
        return false;
    for (size_t j = i + 1; l->n <= 64 && j < l->n; j++)
        if (jscan_string_same(&l->items[i].key, &l->items[j].key))
            return false;
    return true;
}

static size_t openai_members_write(const openai_members_t *l, char *s, size_t n)
{
    bool first = true;
    for (size_t i = 0; i < l->n; i++) {
        if (!openai_member_kept(l, i))
            continue;
        if (!first)
            s[n++] = ',';
        first = false;
        memcpy(s + n, l->items[i].key.p, l->items[i].key.len);
        n += l->items[i].key.len;
        s[n++] = ':';
        n += jscan_compact(&l->items[i].val, s + n);
    }
    return n;
}

/* Members llmgw does not model (system_fingerprint, service_tier, usage
 * details, ...) as {"openai": {...}} in the arena, for extensions_json;
 * *out stays NULL when there are none. 0, or -1 (out of memory). */
static int openai_extensions(openai_parse_t *ps, const openai_members_t *top,
                             const openai_members_t *usage, char **out)
{
    static const char head[] = "{\"openai\":{", usage_head[] = "\"usage\":{";
    size_t need = sizeof(head) + sizeof(usage_head) + 8;
    bool any_top = false, any_usage = false;
    for (size_t i = 0; i < top->n; i++)
        if (openai_member_kept(top, i)) {
            need += top->items[i].key.len + top->items[i].val.len + 2;
            any_top = true;
        }
    for (size_t i = 0; i < usage->n; i++)
        if (openai_member_kept(usage, i)) {
            need += usage->items[i].key.len + usage->items[i].val.len + 2;
            any_usage = true;
        }
    if (!any_top && !any_usage)
        return 0;
    char *s = arena_alloc(ps->arena, need);
    if (!s) {
        openai_oom(ps, "", "extensions");
        return -1;
    }
    size_t n = sizeof(head) - 1;
    memcpy(s, head, n);
    n = openai_members_write(top, s, n);
    if (any_usage) {
        if (any_top)
            s[n++] = ',';
        memcpy(s + n, usage_head, sizeof(usage_head) - 1);
        n = openai_members_write(usage, s, n + sizeof(usage_head) - 1);
        s[n++] = '}';
    }
    s[n++] = '}';
    s[n++] = '}';
    s[n] = '\0';
    *out = s;
    return 0;
}

int openai_parse_chat_response(const char *body, size_t len, arena_t *a,
                               Llmgw__V1__ChatResponse **out, char *err, size_t errlen)
{
    openai_parse_t ps = {a, err, errlen};
    jscan_value_t root, top[OPENAI_N_TOP];
    openai_members_t extra, usage_extra;
    openai_members_init(&extra);
    openai_members_init(&usage_extra);
    if (openai_load_object(&ps, "response body", body, len, &root) < 0)
        return -1;

    Llmgw__V1__ChatResponse *r = arena_alloc(a, sizeof(*r));
    if (!r) {
        openai_err(err, errlen, "response: out of memory");
        return -1;
    }
    llmgw__v1__chat_response__init(r);
    if (openai_lookup(&ps, &root, "", openai_top_names, OPENAI_ERROR, OPENAI_N_TOP, top, &extra) <
            0 ||
        openai_parse_header(&ps, top, &r->id, &r->model, &r->created) < 0)
        return -1;

    const jscan_value_t *choices = &top[OPENAI_CHOICES];
    if (choices->type != JSCAN_ARRAY) {
        if (choices->type == JSCAN_NONE || choices->type == JSCAN_NULL)
            openai_missing_choices(&ps, &top[OPENAI_ERROR]);
        else
            openai_type_err(&ps, "", "choices", "an array");
        return -1;
    }
    size_t n = openai_array_size(choices);
    if (n > 0) {
        r->choices = arena_alloc(a, n * sizeof(*r->choices));
        if (!r->choices) {
            openai_oom(&ps, "", "choices");
            return -1;
        }
    }
    jscan_iter_t it;
    jscan_value_t cv;
    jscan_iter_init(&it, choices);
    for (size_t i = 0; i < n && jscan_array_next(&it, &cv, NULL) > 0; i++) {
        Llmgw__V1__Choice *c = arena_alloc(a, sizeof(*c));
        if (!c) {
            openai_oom(&ps, "", "choices");
            return -1;
        }
        llmgw__v1__choice__init(c);
        if (openai_parse_choice(&ps, &cv, i, false, &c->index, &c->message, &c->finish_reason) < 0)
            return -1;
        r->choices[i] = c;
        r->n_choices = i + 1;
    }

    const jscan_value_t *usage = &top[OPENAI_USAGE];
    if (usage->type != JSCAN_NONE && usage->type != JSCAN_NULL) {
        if (openai_parse_usage(&ps, usage, &r->usage, &usage_extra) < 0)
            return -1;
    } else {
        /* Missing usage reads as zeros, so callers never see NULL. */
        r->usage = arena_alloc(a, sizeof(*r->usage));
        if (!r->usage) {
            openai_oom(&ps, "", "usage");
            return -1;
        }
        llmgw__v1__usage__init(r->usage);
    }
    char *ext = NULL;
    if (openai_extensions(&ps, &extra, &usage_extra, &ext) < 0)
        return -1;
    if (ext)
        r->extensions_json = ext;
    *out = r;
    return 0;
}

int openai_parse_chat_chunk(const char *data, size_t len, arena_t *a, Llmgw__V1__ChatChunk **out,
                            char *err, size_t errlen)
{
    openai_parse_t ps = {a, err, errlen};
    jscan_value_t root, top[OPENAI_N_TOP];
    openai_members_t extra, usage_extra;
    openai_members_init(&extra);
    openai_members_init(&usage_extra);
    if (openai_load_object(&ps, "chunk", data, len, &root) < 0)
        return -1;

    Llmgw__V1__ChatChunk *ch = arena_alloc(a, sizeof(*ch));
    if (!ch) {
        openai_err(err, errlen, "chunk: out of memory");
        return -1;
    }
    llmgw__v1__chat_chunk__init(ch);
    if (openai_lookup(&ps, &root, "", openai_top_names, OPENAI_ERROR, OPENAI_N_TOP, top, &extra) <
            0 ||
        openai_parse_header(&ps, top, &ch->id, &ch->model, &ch->created) < 0)
        return -1;

    const jscan_value_t *choices = &top[OPENAI_CHOICES];
    const jscan_value_t *usage = &top[OPENAI_USAGE];
    bool has_usage = usage->type != JSCAN_NONE && usage->type != JSCAN_NULL;
    if (choices->type == JSCAN_NONE || choices->type == JSCAN_NULL) {
        /* Some compatible servers (vLLM) send the usage-only chunk with
         * choices null or absent; without usage it is an error object or
         * junk. */
        if (!has_usage) {
            openai_missing_choices(&ps, &top[OPENAI_ERROR]);
            return -1;
        }
    } else if (choices->type != JSCAN_ARRAY) {
        openai_type_err(&ps, "", "choices", "an array");
        return -1;
    }
    size_t n = choices->type == JSCAN_ARRAY ? openai_array_size(choices) : 0;
    if (n > 0) {
        ch->choices = arena_alloc(a, n * sizeof(*ch->choices));
        if (!ch->choices) {
            openai_oom(&ps, "", "choices");
            return -1;
        }
    }
    jscan_iter_t it = {0};
    jscan_value_t cv;
    if (n > 0)
        jscan_iter_init(&it, choices);
    for (size_t i = 0; i < n && jscan_array_next(&it, &cv, NULL) > 0; i++) {
        Llmgw__V1__ChunkChoice *c = arena_alloc(a, sizeof(*c));
        if (!c) {
            openai_oom(&ps, "", "choices");
            return -1;
        }
        llmgw__v1__chunk_choice__init(c);
        if (openai_parse_choice(&ps, &cv, i, true, &c->index, &c->delta, &c->finish_reason) < 0)
            return -1;
        ch->choices[i] = c;
        ch->n_choices = i + 1;
    }
    /* include_usage sends "usage": null on every chunk but the last. */
    if (has_usage && openai_parse_usage(&ps, usage, &ch->usage, &usage_extra) < 0)
        return -1;
    char *ext = NULL;
    if (openai_extensions(&ps, &extra, &usage_extra, &ext) < 0)
        return -1;
    if (ext)
        ch->extensions_json = ext;
    *out = ch;
    return 0;
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
