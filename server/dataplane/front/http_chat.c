/* http_chat: see http_chat.h.
 *
 * Decoding walks the body once with jscan (no tree, no malloc per value):
 * the members llmgw models are copied into the arena, and JSON carried as
 * text (tools, tool_choice, response_format, tool_calls, the members passed
 * through to the provider) is copied verbatim, whitespace dropped. Duplicate
 * members are refused where llmgw reads them (the body's top level and each
 * message), since the gateway and the provider could otherwise act on
 * different values; inside JSON carried as text the provider sees exactly
 * what the client sent. Answers and stream chunks are written straight into
 * the output buffer (no tree: that runs per chunk); the rare error body is
 * built with jansson.
 */
#include "http_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "chat_schema.h"
#include "jscan.h"

#define HC_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

/* Members of a chat request that are mapped onto ChatRequest fields, in the
 * order they are checked (so the first error reported is stable); every
 * other top-level member goes to extra_body_json. */
typedef enum {
    HC_MODEL = 0,
    HC_MESSAGES,
    HC_TEMPERATURE,
    HC_TOP_P,
    HC_PRESENCE_PENALTY,
    HC_FREQUENCY_PENALTY,
    HC_MAX_TOKENS,
    HC_SEED,
    HC_STOP,
    HC_USER,
    HC_TOOLS,
    HC_TOOL_CHOICE,
    HC_RESPONSE_FORMAT,
    HC_STREAM,
    HC_STREAM_OPTIONS,
    HC_MAX_COMPLETION_TOKENS,
    HC_FUNCTIONS,
    HC_FUNCTION_CALL,
    HC_N_KNOWN,
} hc_field_t;

static const char *const hc_known[HC_N_KNOWN] = {
    [HC_MODEL] = "model",
    [HC_MESSAGES] = "messages",
    [HC_TEMPERATURE] = "temperature",
    [HC_TOP_P] = "top_p",
    [HC_PRESENCE_PENALTY] = "presence_penalty",
    [HC_FREQUENCY_PENALTY] = "frequency_penalty",
    [HC_MAX_TOKENS] = "max_tokens",
    [HC_SEED] = "seed",
    [HC_STOP] = "stop",
    [HC_USER] = "user",
    [HC_TOOLS] = "tools",
    [HC_TOOL_CHOICE] = "tool_choice",
    [HC_RESPONSE_FORMAT] = "response_format",
    [HC_STREAM] = "stream",
    [HC_STREAM_OPTIONS] = "stream_options",
    [HC_MAX_COMPLETION_TOKENS] = "max_completion_tokens",
    [HC_FUNCTIONS] = "functions",
    [HC_FUNCTION_CALL] = "function_call",
};

static int hc_oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

static bool hc_absent(const jscan_value_t *v)
{
    return v->type == JSCAN_NONE || v->type == JSCAN_NULL;
}

/* A value's text, whitespace dropped, NUL-terminated in the arena. */
static char *hc_text(arena_t *a, const jscan_value_t *v)
{
    char *s = arena_alloc(a, v->len + 1);
    if (s)
        s[jscan_compact(v, s)] = '\0';
    return s;
}

static int hc_load(const char *body, size_t len, jscan_value_t *root, char *err, size_t errlen)
{
    jscan_error_t je;
    if (jscan_document(body, len, root, &je) < 0) {
        int line = 1, column = 1;
        jscan_line_column(body, je.offset, &line, &column);
        snprintf(err, errlen, "body: invalid JSON at line %d column %d: %s", line, column, je.msg);
        return -1;
    }
    if (root->type != JSCAN_OBJECT) {
        snprintf(err, errlen, "body: expected a JSON object");
        return -1;
    }
    return 0;
}

/* An object's members that are in `names` (n of them) into slots[i]; a name
 * seen twice is an error ("<where>: duplicate member 'x'"). When `rest` is
 * given, every other member is appended to it as `"key":value` text with a
 * comma between. 0, or -1 with err. */
static int hc_members(const jscan_value_t *obj, const char *const *names, size_t n,
                      jscan_value_t *slots, const char *where, buf_t *rest, char *err,
                      size_t errlen)
{
    jscan_iter_t it;
    jscan_value_t key, val;
    jscan_error_t je = {0};
    int r;
    for (size_t i = 0; i < n; i++)
        slots[i] = (jscan_value_t){0};
    jscan_iter_init(&it, obj);
    while ((r = jscan_object_next(&it, &key, &val, &je)) == 1) {
        size_t i = 0;
        while (i < n && !jscan_string_eq(&key, names[i]))
            i++;
        if (i < n) {
            if (slots[i].type != JSCAN_NONE) {
                snprintf(err, errlen, "%s: invalid JSON: duplicate member '%s'", where, names[i]);
                return -1;
            }
            slots[i] = val;
            continue;
        }
        if (!rest)
            continue;
        char *dst;
        if ((rest->len && buf_append(rest, ",", 1) < 0) || buf_append(rest, key.p, key.len) < 0 ||
            buf_append(rest, ":", 1) < 0 || !(dst = buf_space(rest, val.len)))
            return hc_oom(err, errlen);
        buf_commit(rest, jscan_compact(&val, dst));
    }
    if (r < 0) {
        /* jscan_document validated the whole body: only a bug gets here. */
        snprintf(err, errlen, "%s: invalid JSON: %s", where, je.msg ? je.msg : "malformed");
        return -1;
    }
    return 0;
}

/* Duplicates among the members passed through are refused as well: the
 * provider would pick one, the gateway cannot tell which. Keys are compared
 * decoded ("a" and "\u0061" are one key) by jscan_object_repeats: n log n,
 * for bodies with many members. The members llmgw reads were checked by
 * hc_members, so only members passed through can repeat here. */
static int hc_check_rest_duplicates(const jscan_value_t *root, arena_t *a, char *err, size_t errlen)
{
    jscan_iter_t it;
    jscan_value_t key, val;
    size_t n = 0;
    jscan_iter_init(&it, root);
    while (jscan_object_next(&it, &key, &val, NULL) == 1)
        n++;
    bool *repeated = arena_alloc(a, n ? n : 1);
    if (!repeated || jscan_object_repeats(root, n, repeated) < 0)
        return hc_oom(err, errlen);
    /* Of several repeated keys the message names the one that sorts first. */
    const char *first = NULL;
    size_t i = 0;
    jscan_iter_init(&it, root);
    while (jscan_object_next(&it, &key, &val, NULL) == 1) {
        if (!repeated[i++])
            continue;
        char *k = jscan_string_dup(&key, a, NULL);
        if (!k)
            return hc_oom(err, errlen);
        if (!first || strcmp(k, first) < 0)
            first = k;
    }
    if (first) {
        snprintf(err, errlen, "body: invalid JSON: duplicate member '%.80s'", first);
        return -1;
    }
    return 0;
}

static int hc_string(const jscan_value_t *v, arena_t *a, char **out, const char *field, char *err,
                     size_t errlen)
{
    if (hc_absent(v)) {
        *out = "";
        return 0;
    }
    if (v->type != JSCAN_STRING) {
        snprintf(err, errlen, "%s: expected a string", field);
        return -1;
    }
    if (!(*out = jscan_string_dup(v, a, NULL)))
        return hc_oom(err, errlen);
    return 0;
}

/* content: a string, null, or an array of parts. Parts that are all
 * {"type":"text","text":…} are concatenated into `content` (every provider
 * takes text); any other part (image_url, input_audio, file, refusal) keeps
 * the array as content_parts_json, checked against OpenAI's schema by
 * chatreq_validate and passed to providers that take it. */
static bool hc_text_parts_only(const jscan_value_t *v)
{
    jscan_iter_t it;
    jscan_value_t part;
    jscan_iter_init(&it, v);
    size_t n = 0;
    for (; jscan_array_next(&it, &part, NULL) == 1; n++) {
        jscan_iter_t pi;
        jscan_value_t k, val, type = {0}, text = {0};
        if (part.type != JSCAN_OBJECT)
            return false;
        jscan_iter_init(&pi, &part);
        while (jscan_object_next(&pi, &k, &val, NULL) == 1) {
            if (jscan_string_eq(&k, "type"))
                type = val;
            else if (jscan_string_eq(&k, "text"))
                text = val;
            /* other members (cache_control, …) do not make a part non-text:
             * text parts are joined, as every provider takes text */
        }
        if (!jscan_string_eq(&type, "text") || text.type != JSCAN_STRING)
            return false;
    }
    return n > 0;
}

static int hc_content(const jscan_value_t *v, size_t i, arena_t *a, Llmgw__V1__Message *msg,
                      char *err, size_t errlen)
{
    char field[48];
    snprintf(field, sizeof(field), "messages[%zu].content", i);
    if (v->type != JSCAN_ARRAY) {
        if (!hc_absent(v) && v->type != JSCAN_STRING) {
            snprintf(err, errlen, "%s: expected a string or an array of parts", field);
            return -1;
        }
        return hc_string(v, a, &msg->content, field, err, errlen);
    }
    if (!hc_text_parts_only(v)) {
        if (!(msg->content_parts_json = hc_text(a, v)))
            return hc_oom(err, errlen);
        return 0;
    }
    /* Decoded text is never longer than its JSON: the array's span bounds
     * the concatenation. */
    char *text = arena_alloc(a, v->len + 1);
    if (!text)
        return hc_oom(err, errlen);
    size_t len = 0;
    jscan_iter_t it;
    jscan_value_t part;
    jscan_iter_init(&it, v);
    while (jscan_array_next(&it, &part, NULL) == 1) {
        static const char *const names[] = {"type", "text"};
        jscan_value_t f[2] = {{0}};
        if (hc_members(&part, names, 2, f, field, NULL, err, errlen) < 0)
            return -1;
        len += jscan_string_decode(&f[1], text + len);
    }
    text[len] = '\0';
    msg->content = text;
    return 0;
}

/* The legacy assistant "function_call": {"name", "arguments"} becomes one
 * tool call whose id the following "function" message answers. */
static int hc_legacy_function_call(const jscan_value_t *fc, size_t i, arena_t *a,
                                   Llmgw__V1__Message *msg, const char **call_id, char *err,
                                   size_t errlen)
{
    static const char *const names[] = {"name", "arguments"};
    jscan_value_t f[2];
    char where[64];
    snprintf(where, sizeof(where), "messages[%zu].function_call", i);
    if (fc->type != JSCAN_OBJECT) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }
    if (hc_members(fc, names, 2, f, where, NULL, err, errlen) < 0)
        return -1;
    if (f[0].type != JSCAN_STRING || f[1].type != JSCAN_STRING) {
        snprintf(err, errlen, "%s.%s: %s", where, f[0].type != JSCAN_STRING ? "name" : "arguments",
                 f[0].type == JSCAN_NONE || f[1].type == JSCAN_NONE ? "required"
                                                                    : "expected a string");
        return -1;
    }
    if (msg->tool_calls_json && msg->tool_calls_json[0]) {
        snprintf(err, errlen, "%s: cannot be combined with tool_calls", where);
        return -1;
    }
    char *id = arena_alloc(a, 32);
    size_t cap = f[0].len + f[1].len + 96;
    char *tc = arena_alloc(a, cap);
    if (!id || !tc)
        return hc_oom(err, errlen);
    snprintf(id, 32, "call_llmgw_%zu", i);
    int n = snprintf(tc, cap, "[{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", id);
    n += (int)jscan_compact(&f[0], tc + n);
    n += snprintf(tc + n, cap - (size_t)n, ",\"arguments\":");
    n += (int)jscan_compact(&f[1], tc + n);
    snprintf(tc + n, cap - (size_t)n, "}}]");
    msg->tool_calls_json = tc;
    *call_id = id;
    return 0;
}

static int hc_message(const jscan_value_t *m, size_t i, arena_t *a, Llmgw__V1__Message **out,
                      const char **call_id, bool *legacy, char *err, size_t errlen)
{
    static const char *const names[] = {"role",         "content",    "name",
                                        "tool_call_id", "tool_calls", "function_call"};
    jscan_value_t f[6];
    char where[48];
    snprintf(where, sizeof(where), "messages[%zu]", i);
    if (m->type != JSCAN_OBJECT) {
        snprintf(err, errlen, "%s: expected an object", where);
        return -1;
    }
    if (hc_members(m, names, 6, f, where, NULL, err, errlen) < 0)
        return -1;
    Llmgw__V1__Message *msg = arena_alloc(a, sizeof(*msg));
    if (!msg)
        return hc_oom(err, errlen);
    llmgw__v1__message__init(msg);
    char field[80];
    snprintf(field, sizeof(field), "%s.role", where);
    if (hc_string(&f[0], a, &msg->role, field, err, errlen) < 0 ||
        hc_content(&f[1], i, a, msg, err, errlen) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.name", where);
    if (hc_string(&f[2], a, &msg->name, field, err, errlen) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.tool_call_id", where);
    if (hc_string(&f[3], a, &msg->tool_call_id, field, err, errlen) < 0)
        return -1;
    if (!hc_absent(&f[4])) {
        if (f[4].type != JSCAN_ARRAY) {
            snprintf(err, errlen, "%s.tool_calls: expected an array", where);
            return -1;
        }
        if (!(msg->tool_calls_json = hc_text(a, &f[4])))
            return hc_oom(err, errlen);
    }
    if (!hc_absent(&f[5])) {
        if (strcmp(msg->role, "assistant") != 0) {
            snprintf(err, errlen, "%s.function_call: only assistant messages call functions",
                     where);
            return -1;
        }
        if (hc_legacy_function_call(&f[5], i, a, msg, call_id, err, errlen) < 0)
            return -1;
        *legacy = true;
    }
    if (strcmp(msg->role, "function") == 0) {
        /* The legacy function result: a tool message answering the last
         * assistant function_call. */
        if (!*call_id) {
            snprintf(err, errlen,
                     "%s.role: a 'function' message must follow an assistant function_call", where);
            return -1;
        }
        if (!msg->name[0]) {
            snprintf(err, errlen, "%s.name: required for role function", where);
            return -1;
        }
        msg->role = "tool";
        msg->tool_call_id = (char *)*call_id;
        msg->name = "";
        *call_id = NULL;
        *legacy = true;
    }
    *out = msg;
    return 0;
}

static int hc_messages(const jscan_value_t *v, arena_t *a, Llmgw__V1__ChatRequest *req,
                       bool *legacy, char *err, size_t errlen)
{
    if (v->type == JSCAN_NONE) {
        snprintf(err, errlen, "messages: required");
        return -1;
    }
    if (v->type != JSCAN_ARRAY) {
        snprintf(err, errlen, "messages: expected an array of message objects");
        return -1;
    }
    jscan_iter_t it;
    jscan_value_t m;
    size_t n = 0;
    jscan_iter_init(&it, v);
    while (jscan_array_next(&it, &m, NULL) == 1)
        n++;
    req->messages = arena_alloc(a, sizeof(*req->messages) * (n ? n : 1));
    if (!req->messages)
        return hc_oom(err, errlen);
    const char *call_id = NULL;
    jscan_iter_init(&it, v);
    while (jscan_array_next(&it, &m, NULL) == 1) {
        if (hc_message(&m, req->n_messages, a, &req->messages[req->n_messages], &call_id, legacy,
                       err, errlen) < 0)
            return -1;
        req->n_messages++;
    }
    return 0;
}

static int hc_number(const jscan_value_t *v, const char *key, bool *set, double *out, char *err,
                     size_t errlen)
{
    *set = false;
    if (hc_absent(v))
        return 0;
    if (v->type != JSCAN_NUMBER || jscan_double(v, out) < 0) {
        snprintf(err, errlen, "%s: expected a number", key);
        return -1;
    }
    *set = true;
    return 0;
}

static int hc_integer(const jscan_value_t *v, const char *key, int64_t lo, int64_t hi, bool *set,
                      int64_t *out, char *err, size_t errlen)
{
    *set = false;
    if (hc_absent(v))
        return 0;
    int64_t n = 0;
    if (v->type != JSCAN_NUMBER || !jscan_number_is_integer(v) || jscan_int64(v, &n) < 0 ||
        n < lo || n > hi) {
        snprintf(err, errlen, "%s: expected an integer from %lld to %lld", key, (long long)lo,
                 (long long)hi);
        return -1;
    }
    *out = n;
    *set = true;
    return 0;
}

static int hc_stop(const jscan_value_t *v, arena_t *a, Llmgw__V1__ChatRequest *req, char *err,
                   size_t errlen)
{
    if (hc_absent(v))
        return 0;
    if (v->type == JSCAN_STRING) {
        req->stop = arena_alloc(a, sizeof(char *));
        if (!req->stop || !(req->stop[0] = jscan_string_dup(v, a, NULL)))
            return hc_oom(err, errlen);
        req->n_stop = 1;
        return 0;
    }
    if (v->type != JSCAN_ARRAY) {
        snprintf(err, errlen, "stop: expected a string or an array of strings");
        return -1;
    }
    jscan_iter_t it;
    jscan_value_t s;
    size_t n = 0;
    jscan_iter_init(&it, v);
    while (jscan_array_next(&it, &s, NULL) == 1)
        n++;
    req->stop = arena_alloc(a, sizeof(char *) * (n ? n : 1));
    if (!req->stop)
        return hc_oom(err, errlen);
    jscan_iter_init(&it, v);
    while (jscan_array_next(&it, &s, NULL) == 1) {
        if (s.type != JSCAN_STRING) {
            snprintf(err, errlen, "stop[%zu]: expected a string", req->n_stop);
            return -1;
        }
        if (!(req->stop[req->n_stop] = jscan_string_dup(&s, a, NULL)))
            return hc_oom(err, errlen);
        req->n_stop++;
    }
    return 0;
}

/* tools / tool_choice / response_format: any JSON, carried as text. */
static int hc_json_field(const jscan_value_t *v, const char *key, jscan_type_t want,
                         const char *want_name, arena_t *a, char **out, char *err, size_t errlen)
{
    if (hc_absent(v))
        return 0;
    if (want != JSCAN_NONE && v->type != want) {
        snprintf(err, errlen, "%s: expected %s", key, want_name);
        return -1;
    }
    if (!(*out = hc_text(a, v)))
        return hc_oom(err, errlen);
    return 0;
}

/* The legacy "functions" / "function_call" become tools / tool_choice; the
 * answer then goes back in the legacy shape (message.function_call). */
static int hc_legacy_functions(const jscan_value_t *f, arena_t *a, http_chat_request_t *out,
                               char *err, size_t errlen)
{
    const jscan_value_t *fns = &f[HC_FUNCTIONS], *fc = &f[HC_FUNCTION_CALL];
    Llmgw__V1__ChatRequest *req = out->req;
    if (!hc_absent(fns)) {
        if (!hc_absent(&f[HC_TOOLS])) {
            snprintf(err, errlen, "functions: cannot be combined with tools");
            return -1;
        }
        if (fns->type != JSCAN_ARRAY) {
            snprintf(err, errlen, "functions: expected an array");
            return -1;
        }
        char *text = hc_text(a, fns);
        if (!text)
            return hc_oom(err, errlen);
        if (chat_schema_check_functions(text, err, errlen) < 0)
            return -1;
        buf_t b = BUF_INIT(fns->len * 2 + 64);
        jscan_iter_t it;
        jscan_value_t fn;
        int rc = buf_append_char(&b, '[');
        jscan_iter_init(&it, fns);
        for (size_t i = 0; rc == 0 && jscan_array_next(&it, &fn, NULL) == 1; i++) {
            char *dst;
            rc = buf_append_str(&b, i ? ",{\"type\":\"function\",\"function\":"
                                      : "{\"type\":\"function\",\"function\":");
            if (rc == 0 && (dst = buf_space(&b, fn.len)) != NULL)
                buf_commit(&b, jscan_compact(&fn, dst));
            else
                rc = -1;
            if (rc == 0)
                rc = buf_append_char(&b, '}');
        }
        if (rc == 0)
            rc = buf_append_char(&b, ']');
        req->tools_json = rc == 0 ? arena_strdup(a, buf_cstr(&b)) : NULL;
        buf_free(&b);
        if (!req->tools_json)
            return hc_oom(err, errlen);
        out->legacy_functions = true;
    }
    if (!hc_absent(fc)) {
        if (!hc_absent(&f[HC_TOOL_CHOICE])) {
            snprintf(err, errlen, "function_call: cannot be combined with tool_choice");
            return -1;
        }
        if (fc->type == JSCAN_STRING) {
            if (!jscan_string_eq(fc, "none") && !jscan_string_eq(fc, "auto")) {
                snprintf(err, errlen,
                         "function_call: expected \"none\", \"auto\" or {\"name\": string}");
                return -1;
            }
            req->tool_choice_json = hc_text(a, fc);
        } else {
            static const char *const names[] = {"name"};
            jscan_value_t name = {0};
            if (fc->type != JSCAN_OBJECT ||
                hc_members(fc, names, 1, &name, "function_call", NULL, err, errlen) < 0 ||
                name.type != JSCAN_STRING) {
                snprintf(err, errlen,
                         "function_call: expected \"none\", \"auto\" or {\"name\": string}");
                return -1;
            }
            size_t cap = name.len + 64;
            char *tc = arena_alloc(a, cap);
            if (!tc)
                return hc_oom(err, errlen);
            int k = snprintf(tc, cap, "{\"type\":\"function\",\"function\":{\"name\":");
            k += (int)jscan_compact(&name, tc + k);
            snprintf(tc + k, cap - (size_t)k, "}}");
            req->tool_choice_json = tc;
        }
        if (!req->tool_choice_json)
            return hc_oom(err, errlen);
        out->legacy_functions = true;
    }
    return 0;
}

static int hc_decode_fields(const jscan_value_t *f, arena_t *a, http_chat_request_t *out, char *err,
                            size_t errlen)
{
    Llmgw__V1__ChatRequest *req = out->req;
    if (f[HC_MODEL].type == JSCAN_NONE) {
        snprintf(err, errlen, "model: required");
        return -1;
    }
    if (f[HC_MODEL].type != JSCAN_STRING) {
        snprintf(err, errlen, "model: expected a string");
        return -1;
    }
    if (!(req->model = jscan_string_dup(&f[HC_MODEL], a, NULL)))
        return hc_oom(err, errlen);
    bool legacy_messages = false;
    if (hc_messages(&f[HC_MESSAGES], a, req, &legacy_messages, err, errlen) < 0)
        return -1;

    bool set = false;
    double d = 0;
    int64_t n = 0;
    if (hc_number(&f[HC_TEMPERATURE], "temperature", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
        req->temperature = d;
    }
    if (hc_number(&f[HC_TOP_P], "top_p", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
        req->top_p = d;
    }
    if (hc_number(&f[HC_PRESENCE_PENALTY], "presence_penalty", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->presence_penalty_opt_case =
            LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY;
        req->presence_penalty = d;
    }
    if (hc_number(&f[HC_FREQUENCY_PENALTY], "frequency_penalty", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->frequency_penalty_opt_case =
            LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
        req->frequency_penalty = d;
    }
    if (hc_integer(&f[HC_MAX_TOKENS], "max_tokens", 1, INT32_MAX, &set, &n, err, errlen) < 0)
        return -1;
    /* max_completion_tokens is OpenAI's newer name for the same limit: one
     * field here, sent under the name each provider takes. */
    int64_t mct = 0;
    bool mct_set = false;
    if (hc_integer(&f[HC_MAX_COMPLETION_TOKENS], "max_completion_tokens", 1, INT32_MAX, &mct_set,
                   &mct, err, errlen) < 0)
        return -1;
    if (mct_set && set && mct != n) {
        snprintf(err, errlen, "max_completion_tokens: differs from max_tokens (set one of them)");
        return -1;
    }
    if (mct_set) {
        set = true;
        n = mct;
    }
    if (set) {
        req->max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        req->max_tokens = (int32_t)n;
    }
    if (hc_integer(&f[HC_SEED], "seed", INT64_MIN, INT64_MAX, &set, &n, err, errlen) < 0)
        return -1;
    if (set) {
        req->seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
        req->seed = n;
    }
    if (hc_stop(&f[HC_STOP], a, req, err, errlen) < 0)
        return -1;
    if (!hc_absent(&f[HC_USER]) && hc_string(&f[HC_USER], a, &req->user, "user", err, errlen) < 0)
        return -1;
    if (hc_legacy_functions(f, a, out, err, errlen) < 0)
        return -1;
    out->legacy_functions = out->legacy_functions || legacy_messages;
    if (hc_json_field(&f[HC_TOOLS], "tools", JSCAN_ARRAY, "an array", a, &req->tools_json, err,
                      errlen) < 0 ||
        hc_json_field(&f[HC_TOOL_CHOICE], "tool_choice", JSCAN_NONE, NULL, a,
                      &req->tool_choice_json, err, errlen) < 0 ||
        hc_json_field(&f[HC_RESPONSE_FORMAT], "response_format", JSCAN_OBJECT, "an object", a,
                      &req->response_format_json, err, errlen) < 0)
        return -1;

    const jscan_value_t *st = &f[HC_STREAM];
    if (!hc_absent(st) && st->type != JSCAN_TRUE && st->type != JSCAN_FALSE) {
        snprintf(err, errlen, "stream: expected a boolean");
        return -1;
    }
    out->stream = st->type == JSCAN_TRUE;
    const jscan_value_t *so = &f[HC_STREAM_OPTIONS];
    if (!hc_absent(so)) {
        static const char *const names[] = {"include_usage"};
        jscan_value_t iu = {0};
        if (so->type != JSCAN_OBJECT ||
            hc_members(so, names, 1, &iu, "stream_options", NULL, err, errlen) < 0 ||
            (iu.type != JSCAN_NONE && iu.type != JSCAN_TRUE && iu.type != JSCAN_FALSE)) {
            snprintf(err, errlen, "stream_options: expected {\"include_usage\": boolean}");
            return -1;
        }
        out->include_usage = iu.type == JSCAN_TRUE;
    }
    return 0;
}

int http_chat_decode(const char *body, size_t len, arena_t *a, http_chat_request_t *out, char *err,
                     size_t errlen)
{
    jscan_value_t root, f[HC_N_KNOWN];
    buf_t rest = BUF_INIT(len + 16);
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (hc_load(body, len, &root, err, errlen) < 0 ||
        hc_members(&root, hc_known, HC_N_KNOWN, f, "body", &rest, err, errlen) < 0)
        goto done;
    if (rest.len && hc_check_rest_duplicates(&root, a, err, errlen) < 0)
        goto done;
    out->req = arena_alloc(a, sizeof(*out->req));
    if (!out->req) {
        (void)hc_oom(err, errlen);
        goto done;
    }
    llmgw__v1__chat_request__init(out->req);
    if (hc_decode_fields(f, a, out, err, errlen) < 0)
        goto done;
    if (rest.len) {
        char *extra = arena_alloc(a, rest.len + 3);
        if (!extra) {
            (void)hc_oom(err, errlen);
            goto done;
        }
        extra[0] = '{';
        memcpy(extra + 1, rest.data, rest.len);
        extra[rest.len + 1] = '}';
        extra[rest.len + 2] = '\0';
        out->req->extra_body_json = extra;
    }
    rc = 0;
done:
    buf_free(&rest);
    return rc;
}

/* The members of a raw body pass on as text that a policy loads again with
 * jansson (policy_apply_raw): a number jansson cannot hold (an integer beyond
 * int64_t, a real that overflows a double) is refused here, naming its
 * member, instead of failing there as "expected a JSON object". */
static int hc_check_rest_range(const jscan_value_t *root, arena_t *a, char *err, size_t errlen)
{
    jscan_iter_t it;
    jscan_value_t key, val, tmp;
    jscan_error_t je;
    if (jscan_iter_init(&it, root) < 0)
        return 0;
    while (jscan_object_next(&it, &key, &val, NULL) == 1) {
        if (jscan_document_flags(val.p, val.len, JSCAN_JANSSON_RANGE, &tmp, &je) == 0)
            continue;
        const char *name = jscan_string_dup(&key, a, NULL);
        snprintf(err, errlen, "%.80s: %s", name ? name : "body", je.msg);
        return -1;
    }
    return 0;
}

int http_chat_decode_raw(const char *body, size_t len, arena_t *a, bool *stream, const char **model,
                         const char **rest_json, char *err, size_t errlen)
{
    static const char *const names[] = {"model", "stream"};
    jscan_value_t root, f[2];
    buf_t rest = BUF_INIT(len + 16);
    int rc = -1;
    if (hc_load(body, len, &root, err, errlen) < 0 ||
        hc_members(&root, names, 2, f, "body", &rest, err, errlen) < 0)
        goto done;
    if (rest.len && hc_check_rest_duplicates(&root, a, err, errlen) < 0)
        goto done;
    if (hc_check_rest_range(&root, a, err, errlen) < 0)
        goto done;
    if (f[0].type == JSCAN_NONE) {
        snprintf(err, errlen, "model: required");
        goto done;
    }
    if (f[0].type != JSCAN_STRING) {
        snprintf(err, errlen, "model: expected a string");
        goto done;
    }
    if (!hc_absent(&f[1]) && f[1].type != JSCAN_TRUE && f[1].type != JSCAN_FALSE) {
        snprintf(err, errlen, "stream: expected a boolean");
        goto done;
    }
    if (!stream && f[1].type == JSCAN_TRUE) {
        snprintf(err, errlen, "stream: streaming is not supported on this endpoint");
        goto done;
    }
    if (stream)
        *stream = f[1].type == JSCAN_TRUE;
    /* "stream" goes on to the provider with the other members. */
    if (f[1].type != JSCAN_NONE) {
        char *dst;
        if ((rest.len && buf_append(&rest, ",", 1) < 0) ||
            buf_append(&rest, "\"stream\":", 9) < 0 || !(dst = buf_space(&rest, f[1].len))) {
            (void)hc_oom(err, errlen);
            goto done;
        }
        buf_commit(&rest, jscan_compact(&f[1], dst));
    }
    char *text = arena_alloc(a, rest.len + 3);
    *model = jscan_string_dup(&f[0], a, NULL);
    if (!text || !*model) {
        (void)hc_oom(err, errlen);
        goto done;
    }
    text[0] = '{';
    if (rest.len)
        memcpy(text + 1, rest.data, rest.len);
    text[rest.len + 1] = '}';
    text[rest.len + 2] = '\0';
    *rest_json = text;
    rc = 0;
done:
    buf_free(&rest);
    return rc;
}

int http_chat_decode_completion(const char *body, size_t len, arena_t *a, http_chat_request_t *out,
                                char *err, size_t errlen)
{
    jscan_value_t root, k, v, prompt = {0};
    jscan_iter_t it;
    bool has_max = false;
    buf_t chat = BUF_INIT(len * 2 + 128);
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (hc_load(body, len, &root, err, errlen) < 0)
        goto done;
    if (hc_check_rest_duplicates(&root, a, err, errlen) < 0)
        goto done;
    jscan_iter_init(&it, &root);
    while (jscan_object_next(&it, &k, &v, NULL) == 1) {
        if (jscan_string_eq(&k, "prompt")) {
            prompt = v;
            continue;
        }
        if (jscan_string_eq(&k, "messages")) {
            snprintf(err, errlen, "messages: not a member of a completions request (use prompt)");
            goto done;
        }
        /* What chat cannot express: refused rather than silently changed. */
        if ((jscan_string_eq(&k, "suffix") || jscan_string_eq(&k, "logprobs")) && !hc_absent(&v)) {
            snprintf(err, errlen, "%s: not supported when the completion is bridged to chat",
                     jscan_string_eq(&k, "suffix") ? "suffix" : "logprobs");
            goto done;
        }
        if (jscan_string_eq(&k, "echo") && v.type == JSCAN_TRUE) {
            snprintf(err, errlen, "echo: not supported when the completion is bridged to chat");
            goto done;
        }
        if (jscan_string_eq(&k, "best_of")) {
            int64_t n = 1;
            if (!hc_absent(&v) && (v.type != JSCAN_NUMBER || jscan_int64(&v, &n) < 0 || n != 1)) {
                snprintf(err, errlen,
                         "best_of: only 1 is supported when the completion is bridged to chat");
                goto done;
            }
            continue;
        }
        if (jscan_string_eq(&k, "suffix") || jscan_string_eq(&k, "logprobs") ||
            jscan_string_eq(&k, "echo"))
            continue; /* null / false: the default */
        if (jscan_string_eq(&k, "max_tokens"))
            has_max = true;
        char *dst;
        if (buf_append_char(&chat, ',') < 0 || buf_append(&chat, k.p, k.len) < 0 ||
            buf_append_char(&chat, ':') < 0 || !(dst = buf_space(&chat, v.len))) {
            (void)hc_oom(err, errlen);
            goto done;
        }
        buf_commit(&chat, jscan_compact(&v, dst));
    }
    if (prompt.type == JSCAN_NONE) {
        snprintf(err, errlen, "prompt: required");
        goto done;
    }
    if (prompt.type == JSCAN_ARRAY) {
        jscan_value_t one, two;
        jscan_iter_t pi;
        jscan_iter_init(&pi, &prompt);
        if (jscan_array_next(&pi, &one, NULL) != 1 || one.type != JSCAN_STRING ||
            jscan_array_next(&pi, &two, NULL) != 0) {
            snprintf(err, errlen,
                     "prompt: only a string or an array of one string can be "
                     "bridged to chat");
            goto done;
        }
        prompt = one;
    }
    if (prompt.type != JSCAN_STRING) {
        snprintf(err, errlen, "prompt: expected a string or an array of strings");
        goto done;
    }
    /* The legacy API's default limit is 16 tokens. */
    size_t cap = chat.len + prompt.len + 96;
    char *text = arena_alloc(a, cap);
    if (!text) {
        (void)hc_oom(err, errlen);
        goto done;
    }
    int n = snprintf(text, cap, "{\"messages\":[{\"role\":\"user\",\"content\":");
    n += (int)jscan_compact(&prompt, text + n);
    n += snprintf(text + n, cap - (size_t)n, "}]%s%s}", has_max ? "" : ",\"max_tokens\":16",
                  chat.len ? buf_cstr(&chat) : "");
    rc = http_chat_decode(text, (size_t)n, a, out, err, errlen);
done:
    buf_free(&chat);
    return rc;
}

int http_chat_with_model(const char *body, size_t len, const char *model, arena_t *a,
                         const char **body_out, size_t *len_out, char *err, size_t errlen)
{
    jscan_value_t root, k, v, found = {0};
    jscan_iter_t it;
    if (hc_load(body, len, &root, err, errlen) < 0)
        return -1;
    jscan_iter_init(&it, &root);
    while (jscan_object_next(&it, &k, &v, NULL) == 1)
        if (jscan_string_eq(&k, "model"))
            found = v;
    if (found.type != JSCAN_NONE) {
        if (!jscan_string_eq(&found, model)) {
            snprintf(err, errlen, "model: differs from the deployment named in the path");
            return -1;
        }
        *body_out = body;
        *len_out = len;
        return 0;
    }
    json_t *m = json_string(model);
    char *quoted = m ? json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(m);
    if (!quoted)
        return hc_oom(err, errlen);
    /* root.p is the object's '{'; its members follow. */
    size_t rest = len - (size_t)(root.p + 1 - body);
    size_t cap = strlen(quoted) + rest + 16;
    char *text = arena_alloc(a, cap);
    if (!text) {
        free(quoted);
        return hc_oom(err, errlen);
    }
    jscan_iter_init(&it, &root);
    bool empty = jscan_object_next(&it, &k, &v, NULL) != 1;
    int n = snprintf(text, cap, "{\"model\":%s%s", quoted, empty ? "" : ",");
    free(quoted);
    memcpy(text + n, root.p + 1, rest);
    text[(size_t)n + rest] = '\0';
    *body_out = text;
    *len_out = (size_t)n + rest;
    return 0;
}

/* --- encoding ----------------------------------------------------------- */

/* Answers are written straight into the buffer, without a JSON tree: this
 * runs once per request and once per stream chunk. Strings are escaped per
 * RFC 8259 (they are valid UTF-8: they came through jansson); tool_calls
 * text is JSON that openai.c wrote, so it is embedded as it is. */

static int hc_str(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_append_char(b, '"') < 0)
        return -1;
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (buf_append(b, run, (size_t)(s - run)) < 0)
            return -1;
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
            break;
        }
        if (buf_append(b, esc, n) < 0)
            return -1;
        run = s + 1;
    }
    if (buf_append(b, run, (size_t)(s - run)) < 0)
        return -1;
    return buf_append_char(b, '"');
}

/* A decimal integer, without printf: this runs several times per chunk. */
static int hc_int(buf_t *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    return buf_append(b, tmp + i, sizeof(tmp) - i);
}

static int64_t hc_created(int64_t created)
{
    return created ? created : (int64_t)time(NULL);
}

/* {"id":…,"object":…,"created":…,"model":…, */
static int hc_head(buf_t *b, const char *id, const char *object, int64_t created, const char *model)
{
    if (buf_append_str(b, "{\"id\":") < 0 || hc_str(b, id && id[0] ? id : "chatcmpl-llmgw") < 0 ||
        buf_append_str(b, ",\"object\":\"") < 0 || buf_append_str(b, object) < 0 ||
        buf_append_str(b, "\",\"created\":") < 0 || hc_int(b, hc_created(created)) < 0 ||
        buf_append_str(b, ",\"model\":") < 0 || hc_str(b, model ? model : "") < 0)
        return -1;
    return buf_append_char(b, ',');
}

static int hc_json_member(buf_t *b, const char *key, json_t *v);

/* The usage object; `extra` (may be NULL) is an object of provider usage
 * details (prompt_tokens_details, ...) merged after the three counts. */
static int hc_usage_with(buf_t *b, const Llmgw__V1__Usage *u, json_t *extra)
{
    if (buf_append_str(b, "{\"prompt_tokens\":") < 0 || hc_int(b, u ? u->prompt_tokens : 0) < 0 ||
        buf_append_str(b, ",\"completion_tokens\":") < 0 ||
        hc_int(b, u ? u->completion_tokens : 0) < 0 ||
        buf_append_str(b, ",\"total_tokens\":") < 0 || hc_int(b, u ? u->total_tokens : 0) < 0)
        return -1;
    const char *key;
    json_t *v;
    json_object_foreach(json_is_object(extra) ? extra : NULL, key, v)
    {
        if (!strcmp(key, "prompt_tokens") || !strcmp(key, "completion_tokens") ||
            !strcmp(key, "total_tokens"))
            continue;
        if (hc_json_member(b, key, v) < 0)
            return -1;
    }
    return buf_append_char(b, '}');
}

static int hc_usage(buf_t *b, const Llmgw__V1__Usage *u)
{
    return hc_usage_with(b, u, NULL);
}

/* --- provider-specific members (extensions_json) -------------------------
 *
 * extensions_json is {"<wire format>": {members llmgw does not model}}. The
 * members of "openai" go to the top level of the answer, where OpenAI sends
 * them (system_fingerprint, service_tier, ...), and its "usage" details into
 * usage; another format's object goes under its own name ("anthropic":
 * {...}). A member never overrides one the encoder writes. The common case,
 * {"openai": {...}} without usage details, is spliced as text after a check
 * of its top-level keys; anything else goes through jansson. */

static bool hc_is_standard(const char *key, size_t len)
{
    static const char *const std[] = {"id", "object", "created", "model", "choices", "usage"};
    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
        if (strlen(std[i]) == len && !memcmp(std[i], key, len))
            return true;
    return false;
}

/* ,"key":<v> */
static int hc_json_member(buf_t *b, const char *key, json_t *v)
{
    char *text = json_dumps(v, HC_JSON_FLAGS | JSON_ENCODE_ANY);
    int rc = text && buf_append_char(b, ',') == 0 && hc_str(b, key) == 0 &&
                     buf_append_char(b, ':') == 0 && buf_append_str(b, text) == 0
                 ? 0
                 : -1;
    free(text);
    return rc;
}

/* The inner members' text of ext when it is {"openai":{...}} whose
 * top-level keys are all non-standard (sets inner and len), else false. */
static bool hc_ext_fast(const char *ext, const char **inner, size_t *len)
{
    static const char pre[] = "{\"openai\":{";
    size_t n = strlen(ext), np = sizeof(pre) - 1;
    if (n < np + 2 || memcmp(ext, pre, np) != 0 || ext[n - 1] != '}' || ext[n - 2] != '}')
        return false;
    const char *p = ext + np, *end = ext + n - 2;
    int depth = 0;
    bool expect_key = true;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            const char *s = ++p;
            while (p < end && *p != '"')
                p += *p == '\\' ? 2 : 1;
            if (p >= end)
                return false;
            if (depth == 0 && expect_key && hc_is_standard(s, (size_t)(p - s)))
                return false;
            expect_key = false;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return false; /* the "openai" object closes early: more formats follow */
        } else if (c == ',' && depth == 0) {
            expect_key = true;
        }
        p++;
    }
    if (depth != 0)
        return false;
    *inner = ext + np;
    *len = (size_t)(end - *inner);
    return true;
}

typedef struct {
    const char *inner; /* fast path: the members' text */
    size_t len;
    json_t *root; /* slow path: the parsed extensions */
} hc_ext_t;

static void hc_ext_open(hc_ext_t *x, const char *ext)
{
    memset(x, 0, sizeof(*x));
    if (!ext || !ext[0] || hc_ext_fast(ext, &x->inner, &x->len))
        return;
    x->root = json_loads(ext, 0, NULL);
    if (!json_is_object(x->root)) {
        json_decref(x->root);
        x->root = NULL;
    }
}

static json_t *hc_ext_usage(const hc_ext_t *x)
{
    return json_object_get(json_object_get(x->root, "openai"), "usage");
}

static int hc_ext_members(buf_t *b, hc_ext_t *x)
{
    if (x->inner)
        return x->len == 0 ? 0 : buf_append_char(b, ',') < 0 ? -1 : buf_append(b, x->inner, x->len);
    const char *fmt, *key;
    json_t *obj, *v;
    json_object_foreach(x->root, fmt, obj)
    {
        if (strcmp(fmt, "openai") != 0) {
            if (!hc_is_standard(fmt, strlen(fmt)) && hc_json_member(b, fmt, obj) < 0)
                return -1;
            continue;
        }
        json_object_foreach(json_is_object(obj) ? obj : NULL, key, v)
        {
            if (!hc_is_standard(key, strlen(key)) && hc_json_member(b, key, v) < 0)
                return -1;
        }
    }
    return 0;
}

static void hc_ext_close(hc_ext_t *x)
{
    json_decref(x->root);
    x->root = NULL;
}

static int hc_finish_reason_as(buf_t *b, const char *reason, unsigned flags)
{
    if (buf_append_str(b, ",\"logprobs\":null,\"finish_reason\":") < 0)
        return -1;
    if (!reason || !reason[0])
        return buf_append_str(b, "null}");
    if ((flags & HTTP_CHAT_LEGACY_FUNCTIONS) && !strcmp(reason, "tool_calls"))
        reason = "function_call";
    if (hc_str(b, reason) < 0)
        return -1;
    return buf_append_char(b, '}');
}

static int hc_finish_reason(buf_t *b, const char *reason)
{
    return hc_finish_reason_as(b, reason, 0);
}

/* The legacy answer: the first tool call of tool_calls_json (JSON text
 * openai.c or anthropic.c wrote) as "function_call":{"name","arguments"};
 * in a delta only the members present. Calls past the first have no legacy
 * form and are left out (a legacy caller asked for one function). Nothing
 * is written when there is no function call. */
static int hc_function_call(buf_t *b, const char *tool_calls_json, const char *sep)
{
    jscan_value_t root, call, fn = {0}, k, v, name = {0}, args = {0};
    jscan_iter_t it;
    if (jscan_document(tool_calls_json, strlen(tool_calls_json), &root, NULL) < 0 ||
        root.type != JSCAN_ARRAY || jscan_iter_init(&it, &root) < 0 ||
        jscan_array_next(&it, &call, NULL) != 1 || call.type != JSCAN_OBJECT)
        return 0;
    jscan_iter_init(&it, &call);
    bool first = true;
    while (jscan_object_next(&it, &k, &v, NULL) == 1) {
        if (jscan_string_eq(&k, "function"))
            fn = v;
        else if (jscan_string_eq(&k, "index") && !(v.len == 1 && v.p[0] == '0'))
            first = false;
    }
    if (!first || fn.type != JSCAN_OBJECT)
        return 0;
    jscan_iter_init(&it, &fn);
    while (jscan_object_next(&it, &k, &v, NULL) == 1) {
        if (jscan_string_eq(&k, "name"))
            name = v;
        else if (jscan_string_eq(&k, "arguments"))
            args = v;
    }
    if (buf_append_str(b, sep) < 0 || buf_append_str(b, "\"function_call\":{") < 0)
        return -1;
    const char *inner = "";
    if (name.type == JSCAN_STRING) {
        if (buf_append_str(b, "\"name\":") < 0 || buf_append(b, name.p, name.len) < 0)
            return -1;
        inner = ",";
    }
    if (args.type == JSCAN_STRING &&
        (buf_append_str(b, inner) < 0 || buf_append_str(b, "\"arguments\":") < 0 ||
         buf_append(b, args.p, args.len) < 0))
        return -1;
    return buf_append_char(b, '}');
}

/* A text_completion choice: {"text","index","logprobs":null,"finish_reason"}. */
static int hc_text_choice(buf_t *b, int32_t index, const char *text, const char *reason)
{
    if (buf_append_str(b, "{\"text\":") < 0 || hc_str(b, text ? text : "") < 0 ||
        buf_append_str(b, ",\"index\":") < 0 || hc_int(b, index) < 0)
        return -1;
    return hc_finish_reason(b, reason);
}

int http_chat_encode_response(const Llmgw__V1__ChatResponse *resp, buf_t *out)
{
    return http_chat_encode_response_as(resp, 0, out);
}

int http_chat_encode_response_as(const Llmgw__V1__ChatResponse *resp, unsigned flags, buf_t *out)
{
    bool text = flags & HTTP_CHAT_TEXT_COMPLETION;
    if (hc_head(out, resp->id, text ? "text_completion" : "chat.completion", resp->created,
                resp->model) < 0 ||
        buf_append_str(out, "\"choices\":[") < 0)
        return -1;
    for (size_t i = 0; i < resp->n_choices; i++) {
        const Llmgw__V1__Choice *c = resp->choices[i];
        const Llmgw__V1__Message *m = c->message;
        if (text) {
            if ((i && buf_append_char(out, ',') < 0) ||
                hc_text_choice(out, c->index, m ? m->content : "", c->finish_reason) < 0)
                return -1;
            continue;
        }
        bool tools = m && m->tool_calls_json[0];
        bool legacy = tools && (flags & HTTP_CHAT_LEGACY_FUNCTIONS);
        if ((i && buf_append_char(out, ',') < 0) || buf_append_str(out, "{\"index\":") < 0 ||
            hc_int(out, c->index) < 0 || buf_append_str(out, ",\"message\":{\"role\":") < 0 ||
            hc_str(out, m && m->role[0] ? m->role : "assistant") < 0 ||
            buf_append_str(out, ",\"content\":") < 0)
            return -1;
        if (tools && !m->content[0] ? buf_append_str(out, "null") < 0
                                    : hc_str(out, m ? m->content : "") < 0)
            return -1;
        if (legacy && hc_function_call(out, m->tool_calls_json, ",") < 0)
            return -1;
        if (tools && !legacy &&
            (buf_append_str(out, ",\"tool_calls\":") < 0 ||
             buf_append_str(out, m->tool_calls_json) < 0))
            return -1;
        if (buf_append_char(out, '}') < 0 || hc_finish_reason_as(out, c->finish_reason, flags) < 0)
            return -1;
    }
    hc_ext_t x;
    hc_ext_open(&x, resp->extensions_json);
    int rc = -1;
    if (buf_append_str(out, "],\"usage\":") < 0 ||
        hc_usage_with(out, resp->usage, hc_ext_usage(&x)) < 0 || hc_ext_members(out, &x) < 0)
        goto done;
    rc = buf_append_char(out, '}');
done:
    hc_ext_close(&x);
    return rc;
}

int http_chat_encode_chunk(const Llmgw__V1__ChatChunk *chunk, bool include_usage, buf_t *out)
{
    return http_chat_encode_chunk_as(chunk, include_usage, 0, out);
}

int http_chat_encode_chunk_as(const Llmgw__V1__ChatChunk *chunk, bool include_usage, unsigned flags,
                              buf_t *out)
{
    bool text = flags & HTTP_CHAT_TEXT_COMPLETION;
    if (text) {
        /* A role-only or tool-call delta has no text_completion form. */
        bool any = false;
        for (size_t i = 0; i < chunk->n_choices; i++) {
            const Llmgw__V1__ChunkChoice *c = chunk->choices[i];
            any = any || (c->delta && c->delta->content[0]) || c->finish_reason[0];
        }
        if (!any)
            return 0;
    }
    if (buf_append_str(out, "data: ") < 0 ||
        hc_head(out, chunk->id, text ? "text_completion" : "chat.completion.chunk", chunk->created,
                chunk->model) < 0 ||
        buf_append_str(out, "\"choices\":[") < 0)
        return -1;
    for (size_t i = 0; i < chunk->n_choices; i++) {
        const Llmgw__V1__ChunkChoice *c = chunk->choices[i];
        const Llmgw__V1__Message *d = c->delta;
        const char *sep = "";
        if (text) {
            if ((i && buf_append_char(out, ',') < 0) ||
                hc_text_choice(out, c->index, d ? d->content : "", c->finish_reason) < 0)
                return -1;
            continue;
        }
        if ((i && buf_append_char(out, ',') < 0) || buf_append_str(out, "{\"index\":") < 0 ||
            hc_int(out, c->index) < 0 || buf_append_str(out, ",\"delta\":{") < 0)
            return -1;
        if (d && d->role[0]) {
            if (buf_append_str(out, "\"role\":") < 0 || hc_str(out, d->role) < 0)
                return -1;
            sep = ",";
        }
        if (d && (d->content[0] || d->role[0])) {
            if (buf_append_str(out, sep) < 0 || buf_append_str(out, "\"content\":") < 0 ||
                hc_str(out, d->content) < 0)
                return -1;
            sep = ",";
        }
        if (d && d->tool_calls_json[0] && (flags & HTTP_CHAT_LEGACY_FUNCTIONS)) {
            if (hc_function_call(out, d->tool_calls_json, sep) < 0)
                return -1;
        } else if (d && d->tool_calls_json[0] &&
                   (buf_append_str(out, sep) < 0 || buf_append_str(out, "\"tool_calls\":") < 0 ||
                    buf_append_str(out, d->tool_calls_json) < 0)) {
            return -1;
        }
        if (buf_append_char(out, '}') < 0 || hc_finish_reason_as(out, c->finish_reason, flags) < 0)
            return -1;
    }
    if (buf_append_char(out, ']') < 0 ||
        (include_usage && buf_append_str(out, ",\"usage\":null") < 0))
        return -1;
    if (chunk->extensions_json && chunk->extensions_json[0]) {
        hc_ext_t x;
        hc_ext_open(&x, chunk->extensions_json);
        int rc = hc_ext_members(out, &x);
        hc_ext_close(&x);
        if (rc < 0)
            return -1;
    }
    return buf_append_str(out, "}\n\n");
}

int http_chat_encode_stream_end(const Llmgw__V1__ChatChunk *last, bool include_usage, buf_t *out)
{
    return http_chat_encode_stream_end_as(last, include_usage, 0, out);
}

int http_chat_encode_stream_end_as(const Llmgw__V1__ChatChunk *last, bool include_usage,
                                   unsigned flags, buf_t *out)
{
    const char *object =
        flags & HTTP_CHAT_TEXT_COMPLETION ? "text_completion" : "chat.completion.chunk";
    if (include_usage && (buf_append_str(out, "data: ") < 0 ||
                          hc_head(out, last->id, object, last->created, last->model) < 0 ||
                          buf_append_str(out, "\"choices\":[],\"usage\":") < 0 ||
                          hc_usage(out, last->usage) < 0 || buf_append_str(out, "}\n\n") < 0))
        return -1;
    return buf_append_str(out, "data: [DONE]\n\n");
}

/* An error body is rare: jansson keeps it simple. */
static int hc_dump_into(json_t *root, buf_t *out)
{
    char *s = json_dumps(root, HC_JSON_FLAGS);
    json_decref(root);
    if (!s)
        return -1;
    int rc = buf_append_str(out, s);
    free(s);
    return rc;
}

/* --- errors -------------------------------------------------------------- */

/* "messages[2].role: expected …" names its field before ": ". */
static void hc_param(const char *message, char *param, size_t len)
{
    param[0] = '\0';
    const char *colon = strstr(message, ": ");
    if (!colon || (size_t)(colon - message) >= len)
        return;
    for (const char *p = message; p < colon; p++)
        if (*p == ' ')
            return;
    memcpy(param, message, (size_t)(colon - message));
    param[colon - message] = '\0';
    if (!strcmp(param, "gateway") || !strcmp(param, "request") || !strcmp(param, "body") ||
        !strcmp(param, "authorization") || !strcmp(param, "routing"))
        param[0] = '\0';
}

static bool hc_all_attempts(const pl_result_t *res, const char *type)
{
    if (!res || res->n_attempts == 0)
        return false;
    for (size_t i = 0; i < res->n_attempts; i++)
        if (strcmp(res->attempts[i]->error_type, type) != 0)
            return false;
    return true;
}

static bool hc_any_response(const pl_result_t *res)
{
    for (size_t i = 0; res && i < res->n_attempts; i++)
        if (res->attempts[i]->http_status > 0 ||
            !strcmp(res->attempts[i]->error_type, "bad_response"))
            return true;
    return false;
}

void http_error_from_status(grpc_status_code status, const char *message, const pl_result_t *res,
                            http_error_t *out)
{
    memset(out, 0, sizeof(*out));
    out->type = "invalid_request_error";
    hc_param(message ? message : "", out->param, sizeof(out->param));
    bool upstream = res && res->n_attempts > 0;
    /* Every attempt rate-limited, or no attempt made because every
     * deployment still waits out a provider's Retry-After (the pipeline's
     * rate_limited signal): either way the caller should back off, which is
     * what 429 tells OpenAI clients. */
    if (hc_all_attempts(res, "rate_limit") || (res && res->rate_limited)) {
        out->http_status = 429;
        out->type = "rate_limit_error";
        out->code = "rate_limit_exceeded";
        int64_t ms = res ? res->retry_after_ms : -1;
        out->retry_after_s = ms > 0 ? (int)((ms + 999) / 1000) : 1;
        return;
    }
    switch (status) {
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
        out->http_status = 400;
        break;
    case GRPC_STATUS_UNAUTHENTICATED:
        out->http_status = upstream ? 502 : 401;
        out->type = upstream ? "upstream_error" : "invalid_request_error";
        out->code = upstream ? NULL : "invalid_api_key";
        break;
    case GRPC_STATUS_PERMISSION_DENIED:
        out->http_status = upstream ? 502 : 403;
        out->type = upstream ? "upstream_error" : "permission_error";
        break;
    case GRPC_STATUS_NOT_FOUND:
        out->http_status = 404;
        out->code = upstream ? NULL : "model_not_found";
        break;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        out->http_status = 504;
        out->type = "timeout_error";
        break;
    case GRPC_STATUS_CANCELLED:
        out->http_status = 499;
        out->type = "cancelled";
        break;
    case GRPC_STATUS_UNAVAILABLE:
        out->http_status = hc_any_response(res) ? 502 : 503;
        out->type = hc_any_response(res) ? "upstream_error" : "service_unavailable";
        break;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        /* A hard budget without a lease (budget_lease.h): a quota, 429 as
         * OpenAI answers an exhausted quota. */
        if (message && strncmp(message, "budget '", 8) == 0) {
            out->http_status = 429;
            out->type = "insufficient_quota";
            out->code = "insufficient_quota";
            break;
        }
        out->http_status = 503;
        out->type = "service_unavailable";
        break;
    default:
        out->http_status = 500;
        out->type = "server_error";
        break;
    }
}

int http_chat_encode_error(const http_error_t *e, const char *message, buf_t *out)
{
    json_t *err = json_pack("{s:s, s:s, s:o, s:o}", "message", message ? message : "", "type",
                            e->type, "param", e->param[0] ? json_string(e->param) : json_null(),
                            "code", e->code ? json_string(e->code) : json_null());
    json_t *root = err ? json_pack("{s:o}", "error", err) : NULL;
    if (!root)
        return -1;
    return hc_dump_into(root, out);
}
