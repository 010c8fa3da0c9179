/* http_chat: see http_chat.h.
 *
 * jansson parses the body once; everything the request keeps is copied into
 * the arena so the JSON tree is freed before the pipeline starts. Answers
 * and stream chunks are written straight into the output buffer (no tree:
 * that runs per chunk); the rare error body is built with jansson.
 */
#include "http_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define HC_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

/* Members of a chat request that are mapped onto ChatRequest fields; every
 * other top-level member goes to extra_body_json. */
static const char *const hc_known[] = {"model",
                                       "messages",
                                       "temperature",
                                       "top_p",
                                       "max_tokens",
                                       "stop",
                                       "seed",
                                       "user",
                                       "tools",
                                       "tool_choice",
                                       "response_format",
                                       "presence_penalty",
                                       "frequency_penalty",
                                       "stream",
                                       "stream_options",
                                       NULL};

static bool hc_is_known(const char *key)
{
    for (size_t i = 0; hc_known[i]; i++)
        if (!strcmp(hc_known[i], key))
            return true;
    return false;
}

static char *hc_dup(arena_t *a, const char *s)
{
    return arena_strdup(a, s ? s : "");
}

/* json_dumps into the arena; NULL when out of memory. */
static char *hc_dump(arena_t *a, const json_t *v)
{
    char *s = json_dumps(v, HC_JSON_FLAGS | JSON_ENCODE_ANY);
    if (!s)
        return NULL;
    char *copy = arena_strdup(a, s);
    free(s);
    return copy;
}

static int hc_load(const char *body, size_t len, json_t **root, char *err, size_t errlen)
{
    json_error_t je;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!*root) {
        snprintf(err, errlen, "body: invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return -1;
    }
    if (!json_is_object(*root)) {
        snprintf(err, errlen, "body: expected a JSON object");
        json_decref(*root);
        *root = NULL;
        return -1;
    }
    return 0;
}

/* content: a string, null, or an array of {"type":"text","text":…} parts
 * (concatenated; other part types cannot be carried). */
static int hc_content(json_t *v, size_t i, arena_t *a, char **out, char *err, size_t errlen)
{
    if (!v || json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (json_is_string(v)) {
        *out = arena_strndup(a, json_string_value(v), json_string_length(v));
        if (!*out)
            goto oom;
        return 0;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "messages[%zu].content: expected a string or an array of parts", i);
        return -1;
    }
    buf_t text = BUF_INIT(64u << 20);
    size_t j;
    json_t *part;
    json_array_foreach(v, j, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        json_t *t = json_object_get(part, "text");
        if (!type || strcmp(type, "text") != 0 || !json_is_string(t)) {
            snprintf(err, errlen,
                     "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": string} "
                     "parts are supported",
                     i, j);
            buf_free(&text);
            return -1;
        }
        if (buf_append(&text, json_string_value(t), json_string_length(t)) < 0) {
            buf_free(&text);
            goto oom;
        }
    }
    *out = arena_strndup(a, buf_cstr(&text), text.len);
    buf_free(&text);
    if (!*out)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

static int hc_string_field(json_t *obj, const char *key, const char *where, size_t i, arena_t *a,
                           char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s[%zu].%s: expected a string", where, i, key);
        return -1;
    }
    *out = arena_strndup(a, json_string_value(v), json_string_length(v));
    if (!*out) {
        snprintf(err, errlen, "gateway: out of memory");
        return -1;
    }
    return 0;
}

static int hc_messages(json_t *v, arena_t *a, Llmgw__V1__ChatRequest *req, char *err, size_t errlen)
{
    if (!v) {
        snprintf(err, errlen, "messages: required");
        return -1;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "messages: expected an array of message objects");
        return -1;
    }
    size_t n = json_array_size(v);
    req->messages = arena_alloc(a, sizeof(*req->messages) * (n ? n : 1));
    if (!req->messages)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(v, i);
        if (!json_is_object(m)) {
            snprintf(err, errlen, "messages[%zu]: expected an object", i);
            return -1;
        }
        Llmgw__V1__Message *msg = arena_alloc(a, sizeof(*msg));
        if (!msg)
            goto oom;
        llmgw__v1__message__init(msg);
        if (hc_string_field(m, "role", "messages", i, a, &msg->role, err, errlen) < 0 ||
            hc_content(json_object_get(m, "content"), i, a, &msg->content, err, errlen) < 0 ||
            hc_string_field(m, "name", "messages", i, a, &msg->name, err, errlen) < 0 ||
            hc_string_field(m, "tool_call_id", "messages", i, a, &msg->tool_call_id, err, errlen) <
                0)
            return -1;
        json_t *tc = json_object_get(m, "tool_calls");
        if (tc && !json_is_null(tc)) {
            if (!json_is_array(tc)) {
                snprintf(err, errlen, "messages[%zu].tool_calls: expected an array", i);
                return -1;
            }
            if (!(msg->tool_calls_json = hc_dump(a, tc)))
                goto oom;
        }
        req->messages[req->n_messages++] = msg;
    }
    return 0;
oom:
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

static int hc_number(json_t *root, const char *key, bool *set, double *out, char *err,
                     size_t errlen)
{
    json_t *v = json_object_get(root, key);
    *set = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        snprintf(err, errlen, "%s: expected a number", key);
        return -1;
    }
    *out = json_number_value(v);
    *set = true;
    return 0;
}

static int hc_integer(json_t *root, const char *key, int64_t lo, int64_t hi, bool *set,
                      int64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    *set = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "%s: expected an integer from %lld to %lld", key, (long long)lo,
                 (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    *set = true;
    return 0;
}

static int hc_stop(json_t *v, arena_t *a, Llmgw__V1__ChatRequest *req, char *err, size_t errlen)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        req->stop = arena_alloc(a, sizeof(char *));
        if (!req->stop || !(req->stop[0] = hc_dup(a, json_string_value(v))))
            goto oom;
        req->n_stop = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "stop: expected a string or an array of strings");
        return -1;
    }
    size_t n = json_array_size(v);
    req->stop = arena_alloc(a, sizeof(char *) * (n ? n : 1));
    if (!req->stop)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            snprintf(err, errlen, "stop[%zu]: expected a string", i);
            return -1;
        }
        if (!(req->stop[i] = hc_dup(a, json_string_value(s))))
            goto oom;
        req->n_stop++;
    }
    return 0;
oom:
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

/* tools / tool_choice / response_format: any JSON, carried as text. */
static int hc_json_field(json_t *root, const char *key, arena_t *a, char **out, char *err,
                         size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!strcmp(key, "tools") && !json_is_array(v)) {
        snprintf(err, errlen, "tools: expected an array");
        return -1;
    }
    if (!strcmp(key, "response_format") && !json_is_object(v)) {
        snprintf(err, errlen, "response_format: expected an object");
        return -1;
    }
    if (!(*out = hc_dump(a, v))) {
        snprintf(err, errlen, "gateway: out of memory");
        return -1;
    }
    return 0;
}

static int hc_decode_fields(json_t *root, arena_t *a, http_chat_request_t *out, char *err,
                            size_t errlen)
{
    Llmgw__V1__ChatRequest *req = out->req;
    json_t *model = json_object_get(root, "model");
    if (!model) {
        snprintf(err, errlen, "model: required");
        return -1;
    }
    if (!json_is_string(model)) {
        snprintf(err, errlen, "model: expected a string");
        return -1;
    }
    if (!(req->model = hc_dup(a, json_string_value(model))))
        goto oom;
    if (hc_messages(json_object_get(root, "messages"), a, req, err, errlen) < 0)
        return -1;

    bool set = false;
    double d = 0;
    int64_t n = 0;
    if (hc_number(root, "temperature", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
        req->temperature = d;
    }
    if (hc_number(root, "top_p", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->top_p_opt_case = LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P;
        req->top_p = d;
    }
    if (hc_number(root, "presence_penalty", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->presence_penalty_opt_case =
            LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY;
        req->presence_penalty = d;
    }
    if (hc_number(root, "frequency_penalty", &set, &d, err, errlen) < 0)
        return -1;
    if (set) {
        req->frequency_penalty_opt_case =
            LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY;
        req->frequency_penalty = d;
    }
    if (hc_integer(root, "max_tokens", 1, INT32_MAX, &set, &n, err, errlen) < 0)
        return -1;
    if (set) {
        req->max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        req->max_tokens = (int32_t)n;
    }
    if (hc_integer(root, "seed", INT64_MIN, INT64_MAX, &set, &n, err, errlen) < 0)
        return -1;
    if (set) {
        req->seed_opt_case = LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED;
        req->seed = n;
    }
    if (hc_stop(json_object_get(root, "stop"), a, req, err, errlen) < 0)
        return -1;
    json_t *user = json_object_get(root, "user");
    if (user && !json_is_null(user)) {
        if (!json_is_string(user)) {
            snprintf(err, errlen, "user: expected a string");
            return -1;
        }
        if (!(req->user = hc_dup(a, json_string_value(user))))
            goto oom;
    }
    if (hc_json_field(root, "tools", a, &req->tools_json, err, errlen) < 0 ||
        hc_json_field(root, "tool_choice", a, &req->tool_choice_json, err, errlen) < 0 ||
        hc_json_field(root, "response_format", a, &req->response_format_json, err, errlen) < 0)
        return -1;

    json_t *stream = json_object_get(root, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream)) {
        snprintf(err, errlen, "stream: expected a boolean");
        return -1;
    }
    out->stream = json_is_true(stream);
    json_t *so = json_object_get(root, "stream_options");
    if (so && !json_is_null(so)) {
        json_t *iu = json_object_get(so, "include_usage");
        if (!json_is_object(so) || (iu && !json_is_boolean(iu))) {
            snprintf(err, errlen, "stream_options: expected {\"include_usage\": boolean}");
            return -1;
        }
        out->include_usage = json_is_true(iu);
    }
    return 0;
oom:
    snprintf(err, errlen, "gateway: out of memory");
    return -1;
}

int http_chat_decode(const char *body, size_t len, arena_t *a, http_chat_request_t *out, char *err,
                     size_t errlen)
{
    json_t *root = NULL, *extra = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (hc_load(body, len, &root, err, errlen) < 0)
        return -1;
    out->req = arena_alloc(a, sizeof(*out->req));
    extra = json_object();
    if (!out->req || !extra) {
        snprintf(err, errlen, "gateway: out of memory");
        goto done;
    }
    llmgw__v1__chat_request__init(out->req);
    if (hc_decode_fields(root, a, out, err, errlen) < 0)
        goto done;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!hc_is_known(key) && json_object_set(extra, key, v) < 0) {
            snprintf(err, errlen, "gateway: out of memory");
            goto done;
        }
    }
    if (json_object_size(extra) && !(out->req->extra_body_json = hc_dump(a, extra))) {
        snprintf(err, errlen, "gateway: out of memory");
        goto done;
    }
    rc = 0;
done:
    json_decref(extra);
    json_decref(root);
    return rc;
}

int http_chat_decode_raw(const char *body, size_t len, arena_t *a, bool *stream, const char **model,
                         const char **rest_json, char *err, size_t errlen)
{
    json_t *root = NULL;
    int rc = -1;
    if (hc_load(body, len, &root, err, errlen) < 0)
        return -1;
    json_t *m = json_object_get(root, "model");
    if (!m) {
        snprintf(err, errlen, "model: required");
        goto done;
    }
    if (!json_is_string(m)) {
        snprintf(err, errlen, "model: expected a string");
        goto done;
    }
    json_t *st = json_object_get(root, "stream");
    if (st && !json_is_null(st) && !json_is_boolean(st)) {
        snprintf(err, errlen, "stream: expected a boolean");
        goto done;
    }
    if (!stream && json_is_true(st)) {
        snprintf(err, errlen, "stream: streaming is not supported on this endpoint");
        goto done;
    }
    if (stream)
        *stream = json_is_true(st);
    *model = hc_dup(a, json_string_value(m));
    json_object_del(root, "model");
    *rest_json = hc_dump(a, root);
    if (!*model || !*rest_json) {
        snprintf(err, errlen, "gateway: out of memory");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
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

static int hc_finish_reason(buf_t *b, const char *reason)
{
    if (buf_append_str(b, ",\"logprobs\":null,\"finish_reason\":") < 0)
        return -1;
    if (!reason || !reason[0])
        return buf_append_str(b, "null}");
    if (hc_str(b, reason) < 0)
        return -1;
    return buf_append_char(b, '}');
}

int http_chat_encode_response(const Llmgw__V1__ChatResponse *resp, buf_t *out)
{
    if (hc_head(out, resp->id, "chat.completion", resp->created, resp->model) < 0 ||
        buf_append_str(out, "\"choices\":[") < 0)
        return -1;
    for (size_t i = 0; i < resp->n_choices; i++) {
        const Llmgw__V1__Choice *c = resp->choices[i];
        const Llmgw__V1__Message *m = c->message;
        bool tools = m && m->tool_calls_json[0];
        if ((i && buf_append_char(out, ',') < 0) || buf_append_str(out, "{\"index\":") < 0 ||
            hc_int(out, c->index) < 0 || buf_append_str(out, ",\"message\":{\"role\":") < 0 ||
            hc_str(out, m && m->role[0] ? m->role : "assistant") < 0 ||
            buf_append_str(out, ",\"content\":") < 0)
            return -1;
        if (tools && !m->content[0] ? buf_append_str(out, "null") < 0
                                    : hc_str(out, m ? m->content : "") < 0)
            return -1;
        if (tools && (buf_append_str(out, ",\"tool_calls\":") < 0 ||
                      buf_append_str(out, m->tool_calls_json) < 0))
            return -1;
        if (buf_append_char(out, '}') < 0 || hc_finish_reason(out, c->finish_reason) < 0)
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
    if (buf_append_str(out, "data: ") < 0 ||
        hc_head(out, chunk->id, "chat.completion.chunk", chunk->created, chunk->model) < 0 ||
        buf_append_str(out, "\"choices\":[") < 0)
        return -1;
    for (size_t i = 0; i < chunk->n_choices; i++) {
        const Llmgw__V1__ChunkChoice *c = chunk->choices[i];
        const Llmgw__V1__Message *d = c->delta;
        const char *sep = "";
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
        if (d && d->tool_calls_json[0] &&
            (buf_append_str(out, sep) < 0 || buf_append_str(out, "\"tool_calls\":") < 0 ||
             buf_append_str(out, d->tool_calls_json) < 0))
            return -1;
        if (buf_append_char(out, '}') < 0 || hc_finish_reason(out, c->finish_reason) < 0)
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
    if (include_usage &&
        (buf_append_str(out, "data: ") < 0 ||
         hc_head(out, last->id, "chat.completion.chunk", last->created, last->model) < 0 ||
         buf_append_str(out, "\"choices\":[],\"usage\":") < 0 || hc_usage(out, last->usage) < 0 ||
         buf_append_str(out, "}\n\n") < 0))
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
