/* openai: OpenAI chat.completions JSON <-> llmgw.v1 messages.
 *
 * Building: the body is written straight into the caller's capped buffer
 * (see "Request building" below for escaping and the *_json fields). On
 * failure the buffer is left as it was.
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
 * Numbers: reals are written with 17 significant digits (jansson's default) so
 * every double survives the trip exactly (0.7 is written 0.69999999999999996,
 * which parses back to the same double).
 */
#include "openai.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "utf8.h"

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

/* The body is written straight into the caller's buffer: no tree, and no
 * malloc beyond the buffer's own growth, but one for extra_body_json's keys
 * when it has several members and one for a *_json field that fits the cap
 * only once compacted. Strings are escaped here (RFC 8259: the short
 * forms \" \\ \b \f \n \r \t, other control characters as \u00XX, everything
 * else, UTF-8 included, as it is). protobuf-c does not check that a string
 * field holds UTF-8, so invalid UTF-8 is refused naming the field, as
 * jansson's json_string did. The *_json fields are validated by jscan, with
 * jansson's number range, and copied without the whitespace between tokens:
 * the same values as before, strings and numbers spelled as the caller spelled
 * them. Any failure rolls `out` back to its length on entry. */

/* Members extra_body_json may replace. The jansson object let a later member
 * win; written directly, the builder's own member is still validated (its
 * errors are reported as before) but not written, so no key appears twice. */
enum {
    OPENAI_F_TEMPERATURE,
    OPENAI_F_TOP_P,
    OPENAI_F_MAX_TOKENS,
    OPENAI_F_SEED,
    OPENAI_F_PRESENCE_PENALTY,
    OPENAI_F_FREQUENCY_PENALTY,
    OPENAI_F_STOP,
    OPENAI_F_USER,
    OPENAI_F_TOOLS,
    OPENAI_F_TOOL_CHOICE,
    OPENAI_F_RESPONSE_FORMAT,
    OPENAI_N_F
};
static const char *const openai_field_keys[OPENAI_N_F] = {
    "temperature", "top_p", "max_tokens", "seed",        "presence_penalty", "frequency_penalty",
    "stop",        "user",  "tools",      "tool_choice", "response_format"};

/* Where the body is written. Once an append is refused, nothing more is
 * written but validation goes on, so a field's error still wins over the
 * size cap (the tree was complete before it was dumped). */
typedef struct {
    buf_t *out;
    bool muted;     /* validating a member extra_body_json replaces */
    bool failed;    /* the buffer refused an append */
    bool too_large; /* ... because of its cap */
} openai_writer_t;

static void ow_put(openai_writer_t *w, const void *s, size_t n)
{
    if (w->muted || w->failed)
        return;
    if (n > w->out->cap - w->out->len) {
        w->failed = w->too_large = true;
        return;
    }
    if (buf_append(w->out, s, n) < 0)
        w->failed = true;
}

#define OW_LIT(w, s) ow_put((w), (s), sizeof(s) - 1)

/* The JSON string literal of s (NULL reads as ""). -1 on invalid UTF-8; the
 * caller names the field. */
static int ow_string(openai_writer_t *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    size_t i = 0, start = 0; /* p[start, i) is copied as it is */
    ow_put(w, "\"", 1);
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, p + n);
            if (l == 0)
                return -1;
            i += l;
            continue;
        }
        ow_put(w, p + start, i - start);
        char esc[6] = {'\\', (char)c, '0', '0', '0', '0'};
        size_t el = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
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
            esc[1] = 'u';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
            break;
        }
        ow_put(w, esc, el);
        start = ++i;
    }
    ow_put(w, p + start, i - start);
    ow_put(w, "\"", 1);
    return 0;
}

/* ,"key": */
static void ow_key(openai_writer_t *w, const char *key)
{
    ow_put(w, ",\"", 2);
    ow_put(w, key, strlen(key));
    ow_put(w, "\":", 2);
}

/* A double as jansson dumped it: 17 significant digits, so every double
 * reads back exactly, and ".0" when that looks like an integer. -1 when it
 * is not finite (JSON has no spelling for it). */
static int ow_real(openai_writer_t *w, double d)
{
    if (!isfinite(d))
        return -1;
    char num[40];
    int n = snprintf(num, sizeof(num) - 2, "%.17g", d);
    bool integral = true;
    for (int i = 0; i < n; i++) {
        if (num[i] == ',')
            num[i] = '.'; /* a locale's decimal comma */
        if (num[i] != '-' && (num[i] < '0' || num[i] > '9'))
            integral = false;
    }
    if (integral) {
        num[n++] = '.';
        num[n++] = '0';
    }
    ow_put(w, num, (size_t)n);
    return 0;
}

static void ow_int(openai_writer_t *w, int64_t v)
{
    char num[24];
    size_t n = sizeof(num);
    /* Digits from the end; negate as unsigned so INT64_MIN works. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        num[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        num[--n] = '-';
    ow_put(w, num + n, sizeof(num) - n);
}

/* A validated value without the whitespace between its tokens. */
static void ow_compact(openai_writer_t *w, const jscan_value_t *v)
{
    if (w->muted || w->failed)
        return;
    buf_t *o = w->out;
    if (v->len <= o->cap - o->len) {
        char *dst = buf_space(o, v->len);
        if (!dst) {
            w->failed = true;
            return;
        }
        buf_commit(o, jscan_compact(v, dst));
        return;
    }
    /* Longer than the room left as spelled; compacted it may still fit. */
    char *tmp = malloc(v->len);
    if (!tmp) {
        w->failed = true;
        return;
    }
    ow_put(w, tmp, jscan_compact(v, tmp));
    free(tmp);
}

/* The name of a field for messages: `name`, or messages[msg].name unless
 * msg is SIZE_MAX. */
static const char *openai_field(char *dst, size_t n, size_t msg, const char *name)
{
    if (msg == SIZE_MAX)
        return name;
    snprintf(dst, n, "messages[%zu].%s", msg, name);
    return dst;
}

/* Validates the text of a *_json field as one JSON value of type `want`
 * (JSCAN_NONE: any), with *v set to it. -1 with err naming the field. */
static int openai_json_field(const char *text, jscan_type_t want, size_t msg, const char *name,
                             jscan_value_t *v, char *err, size_t errlen)
{
    char field[80];
    jscan_error_t jerr;
    /* jansson's number range: the text loaded with jansson before, and a
     * provider's parser may be no more lenient. */
    size_t len = strlen(text);
    if (jscan_document_flags(text, len, JSCAN_JANSSON_RANGE, v, &jerr) < 0) {
        int line, column;
        /* At the end of the text jansson named the last character read
         * ("[1," fails at column 3): keep the message as it was. */
        jscan_line_column(text, jerr.offset >= len && len > 0 ? len - 1 : jerr.offset, &line,
                          &column);
        openai_err(err, errlen, "%s: invalid JSON at line %d column %d: %s",
                   openai_field(field, sizeof(field), msg, name), line, column, jerr.msg);
        return -1;
    }
    if (want != JSCAN_NONE && v->type != want) {
        openai_err(err, errlen, "%s: expected a JSON %s",
                   openai_field(field, sizeof(field), msg, name),
                   want == JSCAN_ARRAY ? "array" : "object");
        return -1;
    }
    return 0;
}

static int ow_json(openai_writer_t *w, const char *text, jscan_type_t want, size_t msg,
                   const char *name, char *err, size_t errlen)
{
    jscan_value_t v;
    if (openai_json_field(text, want, msg, name, &v, err, errlen) < 0)
        return -1;
    ow_compact(w, &v);
    return 0;
}

static int openai_write_message(openai_writer_t *w, const Llmgw__V1__Message *m, size_t i,
                                char *err, size_t errlen)
{
    const char *bad; /* the member holding invalid UTF-8 */
    OW_LIT(w, "{\"role\":");
    if (ow_string(w, m->role) < 0) {
        bad = "role";
        goto utf8;
    }
    bool has_tool_calls = m->tool_calls_json && m->tool_calls_json[0];
    const char *content = m->content ? m->content : "";
    OW_LIT(w, ",\"content\":");
    if (m->content_parts_json && m->content_parts_json[0]) {
        /* Content parts (text, image_url, ...) are passed on as given. */
        if (ow_json(w, m->content_parts_json, JSCAN_ARRAY, i, "content_parts_json", err, errlen) <
            0)
            return -1;
    } else if (!content[0] && has_tool_calls && m->role && strcmp(m->role, "assistant") == 0) {
        /* OpenAI documents content as null for an assistant turn that only
         * calls tools. */
        OW_LIT(w, "null");
    } else if (ow_string(w, content) < 0) {
        bad = "content";
        goto utf8;
    }
    if (m->name && m->name[0]) {
        OW_LIT(w, ",\"name\":");
        if (ow_string(w, m->name) < 0) {
            bad = "name";
            goto utf8;
        }
    }
    if (m->tool_call_id && m->tool_call_id[0]) {
        OW_LIT(w, ",\"tool_call_id\":");
        if (ow_string(w, m->tool_call_id) < 0) {
            bad = "tool_call_id";
            goto utf8;
        }
    }
    if (has_tool_calls) {
        OW_LIT(w, ",\"tool_calls\":");
        if (ow_json(w, m->tool_calls_json, JSCAN_ARRAY, i, "tool_calls_json", err, errlen) < 0)
            return -1;
    }
    OW_LIT(w, "}");
    return 0;

utf8:
    openai_err(err, errlen, "messages[%zu].%s: invalid UTF-8", i, bad);
    return -1;
}

/* extra_body_json, checked before anything is written: which members it
 * replaces, and which of its own members are written. Of duplicate keys the
 * last one is written (jansson kept the last), so none appears twice. */
typedef struct {
    jscan_value_t root; /* JSCAN_NONE when there is none */
    unsigned replaces;  /* bit f: it sets openai_field_keys[f] */
    bool *drop;         /* drop[k]: member k is followed by one of the same key (malloc; NULL
                         * when there are fewer than two members) */
} openai_extra_t;

/* Validates extra_body_json (an object without reserved keys) and fills x.
 * -1 with err naming the field. */
static int openai_extra_scan(const char *text, openai_extra_t *x, char *err, size_t errlen)
{
    if (openai_json_field(text, JSCAN_OBJECT, SIZE_MAX, "extra_body_json", &x->root, err, errlen) <
        0)
        return -1;
    jscan_iter_t it;
    jscan_value_t k, v;
    size_t n = 0;
    jscan_iter_init(&it, &x->root);
    while (jscan_object_next(&it, &k, &v, NULL) > 0) {
        for (size_t r = 0; r < sizeof(openai_reserved_keys) / sizeof(openai_reserved_keys[0]);
             r++) {
            if (jscan_string_eq(&k, openai_reserved_keys[r])) {
                openai_err(err, errlen, "extra_body_json.%s: may not be overridden",
                           openai_reserved_keys[r]);
                return -1;
            }
        }
        for (unsigned f = 0; f < OPENAI_N_F; f++)
            if (jscan_string_eq(&k, openai_field_keys[f]))
                x->replaces |= 1u << f;
        n++;
    }
    if (n >= 2 && (!(x->drop = malloc(n)) || jscan_object_repeats(&x->root, n, x->drop) < 0)) {
        openai_err(err, errlen, "extra_body_json: out of memory");
        return -1;
    }
    return 0;
}

static void ow_extra(openai_writer_t *w, const openai_extra_t *x)
{
    jscan_iter_t it;
    jscan_value_t k, v;
    size_t i = 0;
    jscan_iter_init(&it, &x->root);
    while (jscan_object_next(&it, &k, &v, NULL) > 0) {
        if (!x->drop || !x->drop[i]) {
            ow_put(w, ",", 1);
            ow_put(w, k.p, k.len);
            ow_put(w, ":", 1);
            ow_compact(w, &v);
        }
        i++;
    }
}

/* Starts member f: its key, or nothing (and validation only) when
 * extra_body_json replaces it. */
static void ow_member(openai_writer_t *w, const openai_extra_t *x, unsigned f)
{
    w->muted = (x->replaces >> f) & 1u;
    ow_key(w, openai_field_keys[f]);
}

/* A real member (as ow_member), refused when not finite. */
static int ow_real_member(openai_writer_t *w, const openai_extra_t *x, unsigned f, double d,
                          char *err, size_t errlen)
{
    ow_member(w, x, f);
    if (ow_real(w, d) < 0) {
        openai_err(err, errlen, "%s: expected a finite number", openai_field_keys[f]);
        return -1;
    }
    return 0;
}

int openai_build_chat_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                              bool stream, buf_t *out, char *err, size_t errlen)
{
    int rc = -1;
    size_t orig_len = out->len;
    openai_writer_t w = {out, false, false, false};
    openai_extra_t x = {{NULL, 0, JSCAN_NONE}, 0, NULL};
    /* extra_body_json is read first, to know what it replaces, but its
     * errors are reported where they were when it was merged last. */
    char extra_err[256] = "";
    if (req->extra_body_json && req->extra_body_json[0] &&
        openai_extra_scan(req->extra_body_json, &x, extra_err, sizeof(extra_err)) < 0)
        x.replaces = 0;

    const char *model = upstream_model ? upstream_model : req->model;
    OW_LIT(&w, "{\"model\":");
    if (ow_string(&w, model) < 0) {
        openai_err(err, errlen, "model: invalid UTF-8");
        goto done;
    }
    OW_LIT(&w, ",\"messages\":[");
    for (size_t i = 0; i < req->n_messages; i++) {
        if (!req->messages[i]) {
            openai_err(err, errlen, "messages[%zu]: missing", i);
            goto done;
        }
        if (i > 0)
            OW_LIT(&w, ",");
        if (openai_write_message(&w, req->messages[i], i, err, errlen) < 0)
            goto done;
    }
    OW_LIT(&w, "]");

    if ((req->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE &&
         ow_real_member(&w, &x, OPENAI_F_TEMPERATURE, req->temperature, err, errlen) < 0) ||
        (req->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P &&
         ow_real_member(&w, &x, OPENAI_F_TOP_P, req->top_p, err, errlen) < 0))
        goto done;
    if (req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS) {
        ow_member(&w, &x, OPENAI_F_MAX_TOKENS);
        ow_int(&w, req->max_tokens);
    }
    if (req->seed_opt_case == LLMGW__V1__CHAT_REQUEST__SEED_OPT_SEED) {
        ow_member(&w, &x, OPENAI_F_SEED);
        ow_int(&w, req->seed);
    }
    if ((req->presence_penalty_opt_case ==
             LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY &&
         ow_real_member(&w, &x, OPENAI_F_PRESENCE_PENALTY, req->presence_penalty, err, errlen) <
             0) ||
        (req->frequency_penalty_opt_case ==
             LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY &&
         ow_real_member(&w, &x, OPENAI_F_FREQUENCY_PENALTY, req->frequency_penalty, err, errlen) <
             0))
        goto done;
    if (req->n_stop > 0) {
        ow_member(&w, &x, OPENAI_F_STOP);
        OW_LIT(&w, "[");
        for (size_t i = 0; i < req->n_stop; i++) {
            if (i > 0)
                OW_LIT(&w, ",");
            if (ow_string(&w, req->stop[i]) < 0) {
                openai_err(err, errlen, "stop[%zu]: invalid UTF-8", i);
                goto done;
            }
        }
        OW_LIT(&w, "]");
    }
    if (req->user && req->user[0]) {
        ow_member(&w, &x, OPENAI_F_USER);
        if (ow_string(&w, req->user) < 0) {
            openai_err(err, errlen, "user: invalid UTF-8");
            goto done;
        }
    }
    if (req->tools_json && req->tools_json[0]) {
        ow_member(&w, &x, OPENAI_F_TOOLS);
        if (ow_json(&w, req->tools_json, JSCAN_ARRAY, SIZE_MAX, "tools_json", err, errlen) < 0)
            goto done;
    }
    if (req->tool_choice_json && req->tool_choice_json[0]) {
        /* A string ("auto", "none", "required") or an object. */
        ow_member(&w, &x, OPENAI_F_TOOL_CHOICE);
        if (ow_json(&w, req->tool_choice_json, JSCAN_NONE, SIZE_MAX, "tool_choice_json", err,
                    errlen) < 0)
            goto done;
    }
    if (req->response_format_json && req->response_format_json[0]) {
        ow_member(&w, &x, OPENAI_F_RESPONSE_FORMAT);
        if (ow_json(&w, req->response_format_json, JSCAN_OBJECT, SIZE_MAX, "response_format_json",
                    err, errlen) < 0)
            goto done;
    }
    w.muted = false;
    if (extra_err[0]) {
        openai_err(err, errlen, "%s", extra_err);
        goto done;
    }
    if (x.root.type == JSCAN_OBJECT)
        ow_extra(&w, &x);
    if (stream)
        OW_LIT(&w, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    OW_LIT(&w, "}");
    if (w.failed) {
        openai_err(err, errlen, "request body: %s",
                   w.too_large ? "exceeds the size cap" : "out of memory");
        goto done;
    }
    rc = 0;

done:
    if (rc < 0 && out->len > orig_len) {
        out->len = orig_len;
        out->data[orig_len] = '\0';
    }
    free(x.drop);
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
