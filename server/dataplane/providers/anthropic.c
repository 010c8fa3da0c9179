/* anthropic: the Messages API wire format. See anthropic.h.
 *
 * Building writes the body straight into the caller's capped buffer; the
 * JSON-valued inputs (tools_json, tool_choice_json, tool_calls_json and its
 * arguments, content_parts_json, response_format_json, extra_body_json) are
 * validated by jscan (strict RFC 8259, with jansson's number range) and
 * copied without the whitespace between tokens, strings and numbers spelled
 * as the caller spelled them. Parsing (answers, stream events, error bodies)
 * validates the body whole with jscan and reads it in place: no tree, and
 * only the strings the answer keeps are decoded into the arena. Of duplicate
 * keys the last one counts, as in jansson. Messages are initialized with
 * protobuf-c's __init, so absent fields read "" or 0. jansson is not used.
 */
#include "anthropic.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jscan.h"
#include "utf8.h"

/* Keys extra_body_json may not set: the gateway's own choices. */
static const char *const anth_reserved_keys[] = {"model", "messages", "stream", "system", NULL};

static void anth_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void anth_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Reading validated JSON                                                    */

/* Whether object key k (a string token) is `name`. Keys are almost never
 * escaped: compare bytes, and decode only when there is a backslash. */
static bool anth_key_is(const jscan_value_t *k, const char *name)
{
    size_t n = k->len - 2;
    if (memchr(k->p + 1, '\\', n))
        return jscan_string_eq(k, name);
    return strncmp(k->p + 1, name, n) == 0 && name[n] == '\0';
}

/* vals[i]: the last member of obj called names[i], or JSCAN_NONE (all of
 * them when obj is not an object). obj was validated whole before. */
static void anth_lookup(const jscan_value_t *obj, const char *const *names, size_t n,
                        jscan_value_t *vals)
{
    jscan_iter_t it;
    jscan_value_t k, v;
    memset(vals, 0, n * sizeof(*vals));
    if (!obj || obj->type != JSCAN_OBJECT || jscan_iter_init(&it, obj) < 0)
        return;
    while (jscan_object_next(&it, &k, &v, NULL) > 0)
        for (size_t i = 0; i < n; i++)
            if (anth_key_is(&k, names[i])) {
                vals[i] = v;
                break;
            }
}

/* One member (see anth_lookup). */
static jscan_value_t anth_get(const jscan_value_t *obj, const char *name)
{
    jscan_value_t v;
    anth_lookup(obj, &name, 1, &v);
    return v;
}

/* Validates text[0..len) as one JSON value with jansson's number range.
 * -1 with err "<what>: invalid JSON at line L column C: <why>". */
static int anth_load(const char *text, size_t len, const char *what, jscan_value_t *root, char *err,
                     size_t errlen)
{
    jscan_error_t jerr;
    if (!text)
        len = 0;
    if (jscan_document_flags(text ? text : "", len, JSCAN_JANSSON_RANGE, root, &jerr) < 0) {
        int line, column;
        /* At the end of the text name the last character read, as jansson. */
        jscan_line_column(text ? text : "", jerr.offset >= len && len > 0 ? len - 1 : jerr.offset,
                          &line, &column);
        anth_err(err, errlen, "%s: invalid JSON at line %d column %d: %s", what, line, column,
                 jerr.msg);
        return -1;
    }
    return 0;
}

static int32_t anth_i32(const jscan_value_t *v)
{
    int64_t n = 0;
    if (v->type != JSCAN_NUMBER || jscan_int64(v, &n) < 0)
        return 0; /* only integers count, as json_is_integer */
    return n < 0 ? 0 : n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* Two counts of anth_i32 added without overflow: a provider may send
 * INT32_MAX in both (found by fuzz_anthropic_stream). */
static int32_t anth_sum_i32(int32_t x, int32_t y)
{
    int64_t n = (int64_t)x + y;
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* A string value decoded into the arena; "" when v is not a string. */
static char *anth_arena_str(arena_t *a, const jscan_value_t *v)
{
    if (v->type != JSCAN_STRING)
        return arena_strdup(a, "");
    return jscan_string_dup(v, a, NULL);
}

/* ------------------------------------------------------------------------ */
/* Request building                                                          */

/* The body is written straight into the caller's buffer: no tree. A member
 * that extra_body_json replaces is still validated (its errors are reported
 * as before) but written "muted", i.e. not at all, and extra_body_json's
 * members are appended at the end, so no key appears twice. */

typedef struct {
    buf_t *out;
    const char *role;  /* role of the open message; NULL before the first */
    bool first_block;  /* no block written yet in the open message */
    bool failed_write; /* the buffer refused an append (cap or memory) */
    bool muted;        /* writing a member that extra_body_json replaces */
    char *err;
    size_t errlen;
} anth_build_t;

static void anth_put(anth_build_t *b, const char *s, size_t n)
{
    if (!b->muted && !b->failed_write && buf_append(b->out, s, n) < 0)
        b->failed_write = true;
}

static void anth_puts(anth_build_t *b, const char *s)
{
    anth_put(b, s, strlen(s));
}

/* A JSON string literal of s[0..n); -1 with err naming `field` on invalid
 * UTF-8. */
static int anth_put_strn(anth_build_t *b, const char *s, size_t n, const char *field)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes at p[i - run, i) to copy as they are */
    anth_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++, run++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, p + n);
            if (l == 0) {
                anth_err(b->err, b->errlen, "%s: invalid UTF-8", field);
                return -1;
            }
            i += l, run += l;
            continue;
        }
        anth_put(b, (const char *)p + i - run, run);
        run = 0;
        char esc[7] = {'\\', (char)c, 0};
        size_t el = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        anth_put(b, esc, el);
        i++;
    }
    anth_put(b, (const char *)p + n - run, run);
    anth_put(b, "\"", 1);
    return 0;
}

static int anth_put_str(anth_build_t *b, const char *s, const char *field)
{
    return anth_put_strn(b, s ? s : "", s ? strlen(s) : 0, field);
}

/* A validated value without the whitespace between its tokens. */
static void anth_put_compact(anth_build_t *b, const jscan_value_t *v)
{
    if (b->muted || b->failed_write)
        return;
    buf_t *o = b->out;
    if (v->len <= o->cap - o->len) {
        char *dst = buf_space(o, v->len);
        if (!dst) {
            b->failed_write = true;
            return;
        }
        buf_commit(o, jscan_compact(v, dst));
        return;
    }
    /* Longer than the room left as spelled; compacted it may still fit. */
    char *tmp = malloc(v->len);
    if (!tmp) {
        b->failed_write = true;
        return;
    }
    anth_put(b, tmp, jscan_compact(v, tmp));
    free(tmp);
}

/* Validates a *_json field as one JSON value of type `want` (JSCAN_NONE:
 * any). -1 with err naming the field. */
static int anth_parse_field(anth_build_t *b, const char *text, const char *field, jscan_type_t want,
                            jscan_value_t *v)
{
    if (anth_load(text, strlen(text), field, v, b->err, b->errlen) < 0)
        return -1;
    if (want != JSCAN_NONE && v->type != want) {
        anth_err(b->err, b->errlen, "%s: expected a JSON %s", field,
                 want == JSCAN_ARRAY ? "array" : "object");
        return -1;
    }
    return 0;
}

/* The decoded text of string value v: in place when it has no escape,
 * else in `local` when it fits, else in *heap (the caller frees it). NULL
 * out of memory. */
static const char *anth_str_text(const jscan_value_t *v, char *local, size_t localn, char **heap,
                                 size_t *n)
{
    *heap = NULL;
    if (!memchr(v->p + 1, '\\', v->len - 2)) {
        *n = v->len - 2;
        return v->p + 1;
    }
    char *dst = v->len <= localn ? local : (*heap = malloc(v->len));
    if (!dst)
        return NULL;
    *n = jscan_string_decode(v, dst);
    return dst;
}

/* Opens a block in a message of `role`, merging into the open message when
 * it has the same role: the API wants the roles to alternate. */
static void anth_open_block(anth_build_t *b, const char *role)
{
    if (!b->role || strcmp(b->role, role) != 0) {
        if (b->role)
            anth_puts(b, "]},");
        anth_puts(b, strcmp(role, "user") == 0 ? "{\"role\":\"user\",\"content\":["
                                               : "{\"role\":\"assistant\",\"content\":[");
        b->role = strcmp(role, "user") == 0 ? "user" : "assistant";
        b->first_block = true;
    }
    if (!b->first_block)
        anth_put(b, ",", 1);
    b->first_block = false;
}

static int anth_text_block(anth_build_t *b, const char *role, const char *text, const char *field)
{
    anth_open_block(b, role);
    anth_puts(b, "{\"type\":\"text\",\"text\":");
    if (anth_put_str(b, text, field) < 0)
        return -1;
    anth_put(b, "}", 1);
    return 0;
}

/* OpenAI's image_url part: a data: URL becomes a base64 source, an http(s)
 * URL a url source. */
static int anth_image_block(anth_build_t *b, const jscan_value_t *part, const char *field)
{
    jscan_value_t iu = anth_get(part, "image_url");
    jscan_value_t uv = iu.type == JSCAN_OBJECT ? anth_get(&iu, "url") : iu;
    if (uv.type != JSCAN_STRING) {
        anth_err(b->err, b->errlen, "%s.image_url.url: expected a string", field);
        return -1;
    }
    char local[512], *heap;
    size_t n;
    const char *url = anth_str_text(&uv, local, sizeof(local), &heap, &n);
    int rc = -1;
    if (!url) {
        anth_err(b->err, b->errlen, "%s.image_url.url: out of memory", field);
        return -1;
    }
    if (n >= 5 && memcmp(url, "data:", 5) == 0) {
        const char *comma = memchr(url, ',', n);
        const char *semi = memchr(url, ';', n);
        if (!comma || !semi || semi > comma || (size_t)(url + n - semi) < 8 ||
            memcmp(semi, ";base64,", 8) != 0 || semi == url + 5) {
            anth_err(b->err, b->errlen,
                     "%s.image_url.url: a data: URL must be data:<media type>;base64,<data>",
                     field);
            goto out;
        }
        size_t media_len = (size_t)(semi - url - 5);
        if (media_len > 127)
            media_len = 127; /* as long as a media type can usefully be */
        anth_open_block(b, "user");
        anth_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":");
        if (anth_put_strn(b, url + 5, media_len, field) < 0)
            goto out;
        anth_puts(b, ",\"data\":");
        if (anth_put_strn(b, comma + 1, (size_t)(url + n - comma - 1), field) < 0)
            goto out;
        anth_puts(b, "}}");
        rc = 0;
        goto out;
    }
    if ((n >= 8 && memcmp(url, "https://", 8) == 0) || (n >= 7 && memcmp(url, "http://", 7) == 0)) {
        anth_open_block(b, "user");
        anth_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
        anth_put(b, uv.p, uv.len); /* a valid JSON string as it was sent */
        anth_puts(b, "}}");
        rc = 0;
        goto out;
    }
    anth_err(b->err, b->errlen, "%s.image_url.url: expected a data: or http(s) URL", field);
out:
    free(heap);
    return rc;
}

/* A user turn's content: its parts when given, else its text. */
static int anth_user_content(anth_build_t *b, const Llmgw__V1__Message *m, size_t i)
{
    static const char *const names[] = {"type", "text"};
    char field[96];
    if (m->content_parts_json && m->content_parts_json[0]) {
        snprintf(field, sizeof(field), "messages[%zu].content_parts_json", i);
        jscan_value_t parts, part, f[2];
        if (anth_parse_field(b, m->content_parts_json, field, JSCAN_ARRAY, &parts) < 0)
            return -1;
        jscan_iter_t it;
        jscan_iter_init(&it, &parts);
        for (size_t k = 0; jscan_array_next(&it, &part, NULL) > 0; k++) {
            char pf[128];
            snprintf(pf, sizeof(pf), "%s[%zu]", field, k);
            anth_lookup(&part, names, 2, f);
            if (jscan_string_eq(&f[0], "text")) {
                if (f[1].type != JSCAN_STRING) {
                    anth_err(b->err, b->errlen, "%s.text: expected a string", pf);
                    return -1;
                }
                if (f[1].len > 2) { /* an empty text part is dropped */
                    anth_open_block(b, "user");
                    anth_puts(b, "{\"type\":\"text\",\"text\":");
                    anth_put(b, f[1].p, f[1].len); /* valid JSON, as it was sent */
                    anth_put(b, "}", 1);
                }
            } else if (jscan_string_eq(&f[0], "image_url")) {
                if (anth_image_block(b, &part, pf) < 0)
                    return -1;
            } else {
                char type[33] = "";
                if (f[0].type == JSCAN_STRING && f[0].len <= sizeof(type) + 1)
                    jscan_string_decode(&f[0], type);
                anth_err(b->err, b->errlen,
                         "%s.type: '%.32s' cannot be expressed in Anthropic's Messages API "
                         "(text and image_url can)",
                         pf, type);
                return -1;
            }
        }
        return 0;
    }
    if (!m->content || !m->content[0]) {
        anth_err(b->err, b->errlen,
                 "messages[%zu].content: empty (Anthropic's Messages API rejects empty turns)", i);
        return -1;
    }
    snprintf(field, sizeof(field), "messages[%zu].content", i);
    return anth_text_block(b, "user", m->content, field);
}

/* A tool call's arguments (a string holding JSON text) as the tool_use
 * input: parsed with jscan and written compacted. Missing or empty reads as
 * {}. -1 with err naming `cf`.function.arguments. */
static int anth_put_arguments(anth_build_t *b, const jscan_value_t *args, const char *cf)
{
    char afield[160];
    snprintf(afield, sizeof(afield), "%s.function.arguments", cf);
    if (args->type == JSCAN_NONE || args->type == JSCAN_NULL || args->len == 2) {
        anth_put(b, "{}", 2);
        return 0;
    }
    if (args->type != JSCAN_STRING) {
        anth_err(b->err, b->errlen, "%s: expected a string holding a JSON object", afield);
        return -1;
    }
    char local[1024], *heap;
    size_t n;
    const char *text = anth_str_text(args, local, sizeof(local), &heap, &n);
    if (!text) {
        anth_err(b->err, b->errlen, "%s: out of memory", afield);
        return -1;
    }
    jscan_value_t input;
    int rc = anth_load(text, n, afield, &input, b->err, b->errlen);
    if (rc == 0 && input.type != JSCAN_OBJECT) {
        anth_err(b->err, b->errlen, "%s: expected a JSON object (Anthropic's tool_use input)",
                 afield);
        rc = -1;
    }
    if (rc == 0)
        anth_put_compact(b, &input);
    free(heap);
    return rc;
}

/* An assistant turn: its text, then a tool_use block per tool call. */
static int anth_assistant_content(anth_build_t *b, const Llmgw__V1__Message *m, size_t i)
{
    static const char *const call_names[] = {"id", "function"};
    static const char *const fn_names[] = {"name", "arguments"};
    char field[96];
    bool any = false;
    if (m->content && m->content[0]) {
        snprintf(field, sizeof(field), "messages[%zu].content", i);
        if (anth_text_block(b, "assistant", m->content, field) < 0)
            return -1;
        any = true;
    }
    if (m->tool_calls_json && m->tool_calls_json[0]) {
        snprintf(field, sizeof(field), "messages[%zu].tool_calls_json", i);
        jscan_value_t calls, call, c[2], f[2];
        if (anth_parse_field(b, m->tool_calls_json, field, JSCAN_ARRAY, &calls) < 0)
            return -1;
        jscan_iter_t it;
        jscan_iter_init(&it, &calls);
        for (size_t k = 0; jscan_array_next(&it, &call, NULL) > 0; k++) {
            char cf[128];
            snprintf(cf, sizeof(cf), "%s[%zu]", field, k);
            anth_lookup(&call, call_names, 2, c);
            anth_lookup(&c[1], fn_names, 2, f);
            if (c[0].type != JSCAN_STRING || f[0].type != JSCAN_STRING) {
                anth_err(b->err, b->errlen, "%s: expected an id and a function.name", cf);
                return -1;
            }
            anth_open_block(b, "assistant");
            anth_puts(b, "{\"type\":\"tool_use\",\"id\":");
            anth_put(b, c[0].p, c[0].len);
            anth_puts(b, ",\"name\":");
            anth_put(b, f[0].p, f[0].len);
            anth_puts(b, ",\"input\":");
            if (anth_put_arguments(b, &f[1], cf) < 0)
                return -1;
            anth_put(b, "}", 1);
            any = true;
        }
    }
    if (!any) {
        anth_err(b->err, b->errlen,
                 "messages[%zu].content: empty assistant turn (Anthropic's Messages API "
                 "rejects empty turns)",
                 i);
        return -1;
    }
    return 0;
}

static int anth_tool_result(anth_build_t *b, const Llmgw__V1__Message *m, size_t i)
{
    char field[96];
    if (!m->tool_call_id || !m->tool_call_id[0]) {
        anth_err(b->err, b->errlen, "messages[%zu].tool_call_id: required for role tool", i);
        return -1;
    }
    snprintf(field, sizeof(field), "messages[%zu]", i);
    anth_open_block(b, "user");
    anth_puts(b, "{\"type\":\"tool_result\",\"tool_use_id\":");
    if (anth_put_str(b, m->tool_call_id, field) < 0)
        return -1;
    anth_puts(b, ",\"content\":");
    if (anth_put_str(b, m->content, field) < 0)
        return -1;
    anth_put(b, "}", 1);
    return 0;
}

/* OpenAI tools [{"type": "function", "function": {name, description,
 * parameters}}] -> [{name, input_schema, description}]. */
static int anth_tools(anth_build_t *b, const char *tools_json)
{
    static const char *const t_names[] = {"type", "function"};
    static const char *const fn_names[] = {"name", "parameters", "description"};
    jscan_value_t in, t, tf[2], f[3];
    if (anth_parse_field(b, tools_json, "tools_json", JSCAN_ARRAY, &in) < 0)
        return -1;
    jscan_iter_t it;
    jscan_iter_init(&it, &in);
    anth_put(b, "[", 1);
    for (size_t i = 0; jscan_array_next(&it, &t, NULL) > 0; i++) {
        anth_lookup(&t, t_names, 2, tf);
        anth_lookup(&tf[1], fn_names, 3, f);
        if (!jscan_string_eq(&tf[0], "function") || f[0].type != JSCAN_STRING) {
            anth_err(b->err, b->errlen,
                     "tools_json[%zu]: expected {\"type\": \"function\", \"function\": {\"name\"}}",
                     i);
            return -1;
        }
        anth_puts(b, i ? ",{\"name\":" : "{\"name\":");
        anth_put(b, f[0].p, f[0].len);
        anth_puts(b, ",\"input_schema\":");
        /* The API requires an input_schema; a function without parameters
         * takes an empty object. */
        if (f[1].type != JSCAN_NONE)
            anth_put_compact(b, &f[1]);
        else
            anth_puts(b, "{\"type\":\"object\",\"properties\":{}}");
        if (f[2].type == JSCAN_STRING) {
            anth_puts(b, ",\"description\":");
            anth_put(b, f[2].p, f[2].len);
        }
        anth_put(b, "}", 1);
    }
    anth_put(b, "]", 1);
    return 0;
}

/* "auto" / "none" / "required" / {"type": "function", "function": {name}}. */
static int anth_tool_choice(anth_build_t *b, const char *text)
{
    jscan_value_t in;
    if (anth_parse_field(b, text, "tool_choice_json", JSCAN_NONE, &in) < 0)
        return -1;
    if (jscan_string_eq(&in, "auto")) {
        anth_puts(b, "{\"type\":\"auto\"}");
        return 0;
    }
    if (jscan_string_eq(&in, "required")) {
        anth_puts(b, "{\"type\":\"any\"}");
        return 0;
    }
    if (jscan_string_eq(&in, "none")) {
        anth_puts(b, "{\"type\":\"none\"}");
        return 0;
    }
    jscan_value_t fn = anth_get(&in, "function");
    jscan_value_t name = anth_get(&fn, "name");
    if (name.type == JSCAN_STRING) {
        anth_puts(b, "{\"type\":\"tool\",\"name\":");
        anth_put(b, name.p, name.len);
        anth_put(b, "}", 1);
        return 0;
    }
    anth_err(b->err, b->errlen,
             "tool_choice_json: expected \"auto\", \"none\", \"required\" or "
             "{\"type\": \"function\", \"function\": {\"name\"}}");
    return -1;
}

static int anth_put_real(anth_build_t *b, const char *key, double d, double max)
{
    if (!isfinite(d) || d < 0 || d > max) {
        anth_err(b->err, b->errlen, "%s: Anthropic's Messages API accepts 0..%g, got %g", key, max,
                 d);
        return -1;
    }
    char num[48];
    int n = snprintf(num, sizeof(num), ",\"%s\":%.17g", key, d);
    anth_put(b, num, (size_t)n);
    return 0;
}

/* "system": the leading system messages joined by a blank line; a system
 * message after the first turn cannot be expressed and is an error. */
static int anth_system(anth_build_t *b, const Llmgw__V1__ChatRequest *req, size_t *first_turn)
{
    size_t i = 0;
    for (; i < req->n_messages; i++) {
        const char *role = req->messages[i] && req->messages[i]->role ? req->messages[i]->role : "";
        if (strcmp(role, "system") != 0 && strcmp(role, "developer") != 0)
            break;
    }
    *first_turn = i;
    for (size_t k = i; k < req->n_messages; k++) {
        const char *role = req->messages[k] && req->messages[k]->role ? req->messages[k]->role : "";
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            anth_err(b->err, b->errlen,
                     "messages[%zu].role: a system message after the conversation started "
                     "cannot be expressed in Anthropic's Messages API (only leading system "
                     "messages become its system prompt)",
                     k);
            return -1;
        }
    }
    if (i == 0)
        return 0;
    anth_puts(b, ",\"system\":\"");
    for (size_t k = 0; k < i; k++) {
        char field[48];
        snprintf(field, sizeof(field), "messages[%zu].content", k);
        if (k > 0)
            anth_put(b, "\\n\\n", 4);
        /* Written without its quotes: each part continues one string. */
        size_t before = b->out->len;
        if (anth_put_str(b, req->messages[k]->content, field) < 0)
            return -1;
        if (!b->failed_write) {
            memmove(b->out->data + before, b->out->data + before + 1, b->out->len - before - 2);
            b->out->len -= 2;
            b->out->data[b->out->len] = '\0';
        }
    }
    anth_put(b, "\"", 1);
    return 0;
}

static int anth_messages(anth_build_t *b, const Llmgw__V1__ChatRequest *req, size_t first)
{
    anth_puts(b, ",\"messages\":[");
    for (size_t i = first; i < req->n_messages; i++) {
        const Llmgw__V1__Message *m = req->messages[i];
        const char *role = m && m->role ? m->role : "";
        int rc;
        if (strcmp(role, "user") == 0) {
            rc = anth_user_content(b, m, i);
        } else if (strcmp(role, "assistant") == 0) {
            if (!b->role) {
                anth_err(b->err, b->errlen,
                         "messages[%zu].role: Anthropic's Messages API needs the conversation "
                         "to start with a user message",
                         i);
                return -1;
            }
            rc = anth_assistant_content(b, m, i);
        } else if (strcmp(role, "tool") == 0) {
            rc = anth_tool_result(b, m, i);
        } else {
            anth_err(b->err, b->errlen,
                     "messages[%zu].role: expected one of system, user, assistant, tool", i);
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    if (!b->role) {
        anth_err(b->err, b->errlen,
                 "messages: Anthropic's Messages API needs at least one user message");
        return -1;
    }
    anth_puts(b, "]}]");
    return 0;
}

/* Top-level members extra_body_json may replace (the others it may not set
 * are anth_reserved_keys; any other key it adds). */
enum {
    ANTH_F_MAX_TOKENS,
    ANTH_F_TEMPERATURE,
    ANTH_F_TOP_P,
    ANTH_F_STOP_SEQUENCES,
    ANTH_F_METADATA,
    ANTH_F_TOOLS,
    ANTH_F_TOOL_CHOICE,
    ANTH_N_F
};
static const char *const anth_field_keys[ANTH_N_F] = {
    "max_tokens", "temperature", "top_p", "stop_sequences", "metadata", "tools", "tool_choice"};

/* extra_body_json, checked before anything is written: which members it
 * replaces, and which of its members are written (of duplicate keys the
 * last, as jansson kept). */
typedef struct {
    jscan_value_t root; /* JSCAN_NONE when there is none */
    unsigned replaces;  /* bit f: it sets anth_field_keys[f] */
    bool *drop;         /* drop[k]: member k is followed by one of the same key (malloc; NULL
                         * when there are fewer than two members) */
} anth_extra_t;

static int anth_extra_scan(anth_build_t *b, const char *text, anth_extra_t *x)
{
    if (anth_parse_field(b, text, "extra_body_json", JSCAN_OBJECT, &x->root) < 0)
        return -1;
    jscan_iter_t it;
    jscan_value_t k, v;
    size_t n = 0;
    jscan_iter_init(&it, &x->root);
    while (jscan_object_next(&it, &k, &v, NULL) > 0) {
        for (size_t r = 0; anth_reserved_keys[r]; r++)
            if (jscan_string_eq(&k, anth_reserved_keys[r])) {
                anth_err(b->err, b->errlen, "extra_body_json.%s: may not be overridden",
                         anth_reserved_keys[r]);
                return -1;
            }
        for (unsigned f = 0; f < ANTH_N_F; f++)
            if (jscan_string_eq(&k, anth_field_keys[f]))
                x->replaces |= 1u << f;
        n++;
    }
    if (n >= 2 && (!(x->drop = malloc(n)) || jscan_object_repeats(&x->root, n, x->drop) < 0)) {
        anth_err(b->err, b->errlen, "extra_body_json: out of memory");
        return -1;
    }
    return 0;
}

static void anth_put_extra(anth_build_t *b, const anth_extra_t *x)
{
    jscan_iter_t it;
    jscan_value_t k, v;
    size_t i = 0;
    jscan_iter_init(&it, &x->root);
    while (jscan_object_next(&it, &k, &v, NULL) > 0) {
        if (!x->drop || !x->drop[i]) {
            anth_put(b, ",", 1);
            anth_put(b, k.p, k.len);
            anth_put(b, ":", 1);
            anth_put_compact(b, &v);
        }
        i++;
    }
}

/* Starts member f: written unless extra_body_json replaces it. */
static void anth_member(anth_build_t *b, const anth_extra_t *x, unsigned f)
{
    b->muted = (x->replaces >> f) & 1u;
}

int anthropic_build_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                            int max_tokens_default, bool stream, buf_t *out, char *err,
                            size_t errlen)
{
    size_t orig_len = out->len;
    anth_build_t b = {.out = out, .err = err, .errlen = errlen};
    anth_extra_t x = {{NULL, 0, JSCAN_NONE}, 0, NULL};
    size_t first_turn = 0;
    /* extra_body_json is read first, to know what it replaces, but its
     * errors are reported last, where they were when it was merged. */
    char extra_err[256] = "";
    if (req->extra_body_json && req->extra_body_json[0]) {
        anth_build_t xb = {.err = extra_err, .errlen = sizeof(extra_err)};
        if (anth_extra_scan(&xb, req->extra_body_json, &x) < 0)
            x.replaces = 0;
    }
    const char *model = upstream_model ? upstream_model : req->model;
    anth_puts(&b, "{\"model\":");
    if (anth_put_str(&b, model, "model") < 0 || anth_system(&b, req, &first_turn) < 0 ||
        anth_messages(&b, req, first_turn) < 0)
        goto fail;

    int64_t max_tokens = max_tokens_default > 0 ? max_tokens_default : ANTHROPIC_MAX_TOKENS_DEFAULT;
    if (req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS)
        max_tokens = req->max_tokens;
    char num[48];
    anth_member(&b, &x, ANTH_F_MAX_TOKENS);
    anth_put(&b, num, (size_t)snprintf(num, sizeof(num), ",\"max_tokens\":%" PRId64, max_tokens));
    anth_member(&b, &x, ANTH_F_TEMPERATURE);
    if (req->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE &&
        anth_put_real(&b, "temperature", req->temperature, 1.0) < 0)
        goto fail;
    anth_member(&b, &x, ANTH_F_TOP_P);
    if (req->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P &&
        anth_put_real(&b, "top_p", req->top_p, 1.0) < 0)
        goto fail;
    b.muted = false;
    /* Penalties have no Anthropic equivalent: 0 (a client's default) means
     * nothing and is dropped; anything else would be silently ignored. */
    if ((req->presence_penalty_opt_case ==
             LLMGW__V1__CHAT_REQUEST__PRESENCE_PENALTY_OPT_PRESENCE_PENALTY &&
         req->presence_penalty != 0) ||
        (req->frequency_penalty_opt_case ==
             LLMGW__V1__CHAT_REQUEST__FREQUENCY_PENALTY_OPT_FREQUENCY_PENALTY &&
         req->frequency_penalty != 0)) {
        anth_err(err, errlen, "%s: Anthropic's Messages API has no penalties",
                 req->presence_penalty != 0 ? "presence_penalty" : "frequency_penalty");
        goto fail;
    }
    if (req->n_stop > 0) {
        anth_member(&b, &x, ANTH_F_STOP_SEQUENCES);
        anth_puts(&b, ",\"stop_sequences\":[");
        for (size_t i = 0; i < req->n_stop; i++) {
            char field[32];
            snprintf(field, sizeof(field), "stop[%zu]", i);
            if (i > 0)
                anth_put(&b, ",", 1);
            if (anth_put_str(&b, req->stop[i], field) < 0)
                goto fail;
        }
        anth_put(&b, "]", 1);
    }
    if (req->user && req->user[0]) {
        anth_member(&b, &x, ANTH_F_METADATA);
        anth_puts(&b, ",\"metadata\":{\"user_id\":");
        if (anth_put_str(&b, req->user, "user") < 0)
            goto fail;
        anth_put(&b, "}", 1);
    }
    if (req->tools_json && req->tools_json[0]) {
        anth_member(&b, &x, ANTH_F_TOOLS);
        anth_puts(&b, ",\"tools\":");
        if (anth_tools(&b, req->tools_json) < 0)
            goto fail;
    }
    if (req->tool_choice_json && req->tool_choice_json[0]) {
        anth_member(&b, &x, ANTH_F_TOOL_CHOICE);
        anth_puts(&b, ",\"tool_choice\":");
        if (anth_tool_choice(&b, req->tool_choice_json) < 0)
            goto fail;
    }
    b.muted = false;
    if (req->response_format_json && req->response_format_json[0]) {
        jscan_value_t rf;
        if (anth_parse_field(&b, req->response_format_json, "response_format_json", JSCAN_OBJECT,
                             &rf) < 0)
            goto fail;
        jscan_value_t type = anth_get(&rf, "type");
        if (!jscan_string_eq(&type, "text")) {
            anth_err(err, errlen,
                     "response_format_json: Anthropic's Messages API has no JSON mode "
                     "(use a tool with an input_schema instead)");
            goto fail;
        }
    }
    if (x.root.type == JSCAN_OBJECT && !extra_err[0])
        anth_put_extra(&b, &x);
    if (stream)
        anth_puts(&b, ",\"stream\":true");
    anth_put(&b, "}", 1);
    if (b.failed_write) {
        anth_err(err, errlen, "request body: exceeds the size cap or out of memory");
        goto fail;
    }
    if (extra_err[0]) {
        anth_err(err, errlen, "%s", extra_err);
        goto fail;
    }
    free(x.drop);
    return 0;
fail:
    free(x.drop);
    if (out->len > orig_len) {
        out->len = orig_len;
        out->data[orig_len] = '\0';
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                   */

const char *anthropic_finish_reason(const char *stop_reason)
{
    static const char *const map[][2] = {
        {"end_turn", "stop"},       {"stop_sequence", "stop"},     {"max_tokens", "length"},
        {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"},
    };
    if (!stop_reason)
        return "";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(stop_reason, map[i][0]) == 0)
            return map[i][1];
    return stop_reason;
}

/* The finish_reason of a stop_reason value (a string, else `dflt`), in the
 * arena; NULL out of memory. */
static char *anth_finish(arena_t *a, const jscan_value_t *stop, const char *dflt)
{
    char local[64];
    if (stop->type != JSCAN_STRING)
        return arena_strdup(a, anthropic_finish_reason(dflt));
    if (stop->len <= sizeof(local)) {
        jscan_string_decode(stop, local);
        return arena_strdup(a, anthropic_finish_reason(local));
    }
    char *s = jscan_string_dup(stop, a, NULL); /* unknown: passed through */
    return s;
}

/* The usage members read, in this order. */
enum { ANTH_U_INPUT, ANTH_U_CACHE_WRITE, ANTH_U_CACHE_READ, ANTH_U_OUTPUT, ANTH_N_U };
static const char *const anth_usage_names[ANTH_N_U] = {
    "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"};

/* Input tokens as OpenAI counts them: cached and cache-writing tokens are
 * part of the prompt. */
static int32_t anth_prompt_tokens(const jscan_value_t *u)
{
    int64_t n = (int64_t)anth_i32(&u[ANTH_U_INPUT]) + anth_i32(&u[ANTH_U_CACHE_WRITE]) +
                anth_i32(&u[ANTH_U_CACHE_READ]);
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* {"anthropic": {stop_reason, stop_sequence, cache_creation_input_tokens,
 * cache_read_input_tokens}} for the members present (vals[i] not
 * JSCAN_NONE), compacted as the provider spelled them, in the arena. *out
 * stays NULL when none is present. 0, or -1 out of memory. */
static int anth_extensions(arena_t *a, const jscan_value_t vals[4], char **out)
{
    static const char *const keys[] = {"stop_reason", "stop_sequence",
                                       "cache_creation_input_tokens", "cache_read_input_tokens"};
    static const char head[] = "{\"anthropic\":{";
    size_t need = sizeof(head) + 3;
    bool any = false;
    for (size_t i = 0; i < 4; i++)
        if (vals[i].type != JSCAN_NONE) {
            need += strlen(keys[i]) + vals[i].len + 4;
            any = true;
        }
    if (!any)
        return 0;
    char *s = arena_alloc(a, need);
    if (!s)
        return -1;
    size_t n = sizeof(head) - 1;
    memcpy(s, head, n);
    for (size_t i = 0; i < 4; i++) {
        if (vals[i].type == JSCAN_NONE)
            continue;
        if (n > sizeof(head) - 1)
            s[n++] = ',';
        s[n++] = '"';
        memcpy(s + n, keys[i], strlen(keys[i]));
        n += strlen(keys[i]);
        s[n++] = '"';
        s[n++] = ':';
        n += jscan_compact(&vals[i], s + n);
    }
    memcpy(s + n, "}}", 3);
    *out = s;
    return 0;
}

/* s[0..n) as the inside of a JSON string: " and \ escaped. s is compacted
 * valid JSON text, so it holds no control character and its UTF-8 is valid:
 * the result is at most 2n bytes. Returns its length. */
static size_t anth_escape_json_text(char *dst, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            dst[k++] = '\\';
        dst[k++] = s[i];
    }
    return k;
}

/* The members of a content block read, in this order. */
enum { ANTH_B_TYPE, ANTH_B_TEXT, ANTH_B_ID, ANTH_B_NAME, ANTH_B_INPUT, ANTH_N_B };
static const char *const anth_block_names[ANTH_N_B] = {"type", "text", "id", "name", "input"};

/* Content blocks -> text and tool_calls_json of `msg`: one pass checks the
 * blocks and sizes the output, a second writes it into the arena. */
static int anth_blocks(arena_t *a, const jscan_value_t *content, Llmgw__V1__Message *msg, char *err,
                       size_t errlen)
{
    static const char call_head[] = "{\"id\":",
                      call_mid[] = ",\"type\":\"function\",\"function\":{\"name\":",
                      call_args[] = ",\"arguments\":\"", call_tail[] = "\"}}";
    jscan_iter_t it;
    jscan_value_t blk, f[ANTH_N_B];
    size_t text_need = 1, calls_need = 2, scratch_need = 0, n_calls = 0;
    jscan_iter_init(&it, content);
    for (size_t i = 0; jscan_array_next(&it, &blk, NULL) > 0; i++) {
        anth_lookup(&blk, anth_block_names, ANTH_N_B, f);
        if (f[ANTH_B_TYPE].type != JSCAN_STRING) {
            anth_err(err, errlen, "content[%zu].type: expected a string", i);
            return -1;
        }
        if (jscan_string_eq(&f[ANTH_B_TYPE], "text")) {
            if (f[ANTH_B_TEXT].type != JSCAN_STRING) {
                anth_err(err, errlen, "content[%zu].text: expected a string", i);
                return -1;
            }
            text_need += f[ANTH_B_TEXT].len;
        } else if (jscan_string_eq(&f[ANTH_B_TYPE], "tool_use")) {
            if (f[ANTH_B_ID].type != JSCAN_STRING || f[ANTH_B_NAME].type != JSCAN_STRING ||
                f[ANTH_B_INPUT].type != JSCAN_OBJECT) {
                anth_err(err, errlen, "content[%zu]: a tool_use needs id, name and an input object",
                         i);
                return -1;
            }
            calls_need += sizeof(call_head) + sizeof(call_mid) + sizeof(call_args) +
                          sizeof(call_tail) + f[ANTH_B_ID].len + f[ANTH_B_NAME].len +
                          2 * f[ANTH_B_INPUT].len;
            if (f[ANTH_B_INPUT].len > scratch_need)
                scratch_need = f[ANTH_B_INPUT].len;
            n_calls++;
        }
        /* thinking / redacted_thinking blocks are not part of the answer. */
    }
    char *text = arena_alloc(a, text_need);
    char *calls = n_calls ? arena_alloc(a, calls_need) : NULL;
    char *scratch = n_calls ? arena_alloc(a, scratch_need) : NULL;
    if (!text || (n_calls && (!calls || !scratch))) {
        anth_err(err, errlen, "content: out of memory");
        return -1;
    }
    size_t tn = 0, cn = 0;
    jscan_iter_init(&it, content);
    while (jscan_array_next(&it, &blk, NULL) > 0) {
        anth_lookup(&blk, anth_block_names, ANTH_N_B, f);
        if (jscan_string_eq(&f[ANTH_B_TYPE], "text")) {
            tn += jscan_string_decode(&f[ANTH_B_TEXT], text + tn);
        } else if (jscan_string_eq(&f[ANTH_B_TYPE], "tool_use")) {
            /* OpenAI's arguments are the input object as a JSON string. */
            calls[cn] = cn == 0 ? '[' : ',';
            cn++;
#define ANTH_CAT(p, n)                                                                             \
    do {                                                                                           \
        memcpy(calls + cn, (p), (n));                                                              \
        cn += (n);                                                                                 \
    } while (0)
            ANTH_CAT(call_head, sizeof(call_head) - 1);
            ANTH_CAT(f[ANTH_B_ID].p, f[ANTH_B_ID].len);
            ANTH_CAT(call_mid, sizeof(call_mid) - 1);
            ANTH_CAT(f[ANTH_B_NAME].p, f[ANTH_B_NAME].len);
            ANTH_CAT(call_args, sizeof(call_args) - 1);
            cn += anth_escape_json_text(calls + cn, scratch,
                                        jscan_compact(&f[ANTH_B_INPUT], scratch));
            ANTH_CAT(call_tail, sizeof(call_tail) - 1);
#undef ANTH_CAT
        }
    }
    text[tn] = '\0';
    msg->content = text;
    if (n_calls) {
        calls[cn++] = ']';
        calls[cn] = '\0';
        msg->tool_calls_json = calls;
    }
    return 0;
}

/* The members of an answer read, in this order. */
enum {
    ANTH_R_ID,
    ANTH_R_MODEL,
    ANTH_R_CONTENT,
    ANTH_R_STOP,
    ANTH_R_STOP_SEQ,
    ANTH_R_USAGE,
    ANTH_N_R
};
static const char *const anth_answer_names[ANTH_N_R] = {"id",          "model",         "content",
                                                        "stop_reason", "stop_sequence", "usage"};

int anthropic_parse_response(const char *body, size_t len, arena_t *a,
                             Llmgw__V1__ChatResponse **out, char *err, size_t errlen)
{
    jscan_value_t root, f[ANTH_N_R], u[ANTH_N_U];
    if (anth_load(body, len, "body", &root, err, errlen) < 0)
        return -1;
    if (root.type != JSCAN_OBJECT) {
        anth_err(err, errlen, "body: expected a JSON object");
        return -1;
    }
    anth_lookup(&root, anth_answer_names, ANTH_N_R, f);
    if (f[ANTH_R_CONTENT].type != JSCAN_ARRAY) {
        anth_err(err, errlen, "content: expected an array");
        return -1;
    }
    Llmgw__V1__ChatResponse *r = arena_alloc(a, sizeof(*r));
    Llmgw__V1__Choice *c = arena_alloc(a, sizeof(*c));
    Llmgw__V1__Choice **cs = arena_alloc(a, sizeof(*cs));
    Llmgw__V1__Message *m = arena_alloc(a, sizeof(*m));
    Llmgw__V1__Usage *us = arena_alloc(a, sizeof(*us));
    if (!r || !c || !cs || !m || !us)
        goto oom;
    llmgw__v1__chat_response__init(r);
    llmgw__v1__choice__init(c);
    llmgw__v1__message__init(m);
    llmgw__v1__usage__init(us);
    m->role = "assistant";
    if (anth_blocks(a, &f[ANTH_R_CONTENT], m, err, errlen) < 0)
        return -1;
    c->finish_reason = anth_finish(a, &f[ANTH_R_STOP], NULL);
    c->message = m;
    cs[0] = c;
    r->choices = cs;
    r->n_choices = 1;
    anth_lookup(&f[ANTH_R_USAGE], anth_usage_names, ANTH_N_U, u);
    us->prompt_tokens = anth_prompt_tokens(u);
    us->completion_tokens = anth_i32(&u[ANTH_U_OUTPUT]);
    us->total_tokens = anth_sum_i32(us->prompt_tokens, us->completion_tokens);
    r->usage = us;
    r->id = anth_arena_str(a, &f[ANTH_R_ID]);
    r->model = anth_arena_str(a, &f[ANTH_R_MODEL]);
    r->created = (int64_t)time(NULL); /* the API sends no timestamp */
    jscan_value_t ext_vals[4] = {f[ANTH_R_STOP], f[ANTH_R_STOP_SEQ], u[ANTH_U_CACHE_WRITE],
                                 u[ANTH_U_CACHE_READ]};
    char *ext = NULL;
    if (!c->finish_reason || !r->id || !r->model || anth_extensions(a, ext_vals, &ext) < 0)
        goto oom;
    if (ext)
        r->extensions_json = ext;
    *out = r;
    return 0;
oom:
    anth_err(err, errlen, "answer: out of memory");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

#define ANTH_MAX_BLOCKS 256 /* content blocks tracked per answer */

typedef struct {
    char id[128];
    char model[128];
    int64_t created;
    int32_t input_tokens; /* from message_start, cache tokens included */
    /* message_start's cache token counts, for the extensions: spans into
     * cache_text (malloc, owned), JSCAN_NONE when absent. */
    jscan_value_t cache[2];
    char *cache_text;
    int n_tools;                         /* tool_use blocks seen: the next OpenAI tool index */
    int16_t tool_index[ANTH_MAX_BLOCKS]; /* content block -> tool index, -1 text */
    bool started;
} anth_stream_t;

static adapter_stream_t *anth_stream_new(void)
{
    anth_stream_t *s = calloc(1, sizeof(*s));
    if (s)
        memset(s->tool_index, 0xff, sizeof(s->tool_index));
    return (adapter_stream_t *)s;
}

static void anth_stream_free(adapter_stream_t *as)
{
    anth_stream_t *s = (anth_stream_t *)as;
    if (s)
        free(s->cache_text);
    free(s);
}

/* Keeps message_start's cache token counts (compacted) past the event's
 * data. 0, or -1 out of memory. */
static int anth_stream_keep_cache(anth_stream_t *s, const jscan_value_t *u)
{
    const jscan_value_t *v[2] = {&u[ANTH_U_CACHE_WRITE], &u[ANTH_U_CACHE_READ]};
    free(s->cache_text);
    s->cache_text = NULL;
    memset(s->cache, 0, sizeof(s->cache));
    if (v[0]->type == JSCAN_NONE && v[1]->type == JSCAN_NONE)
        return 0;
    char *t = malloc(v[0]->len + v[1]->len + 1);
    if (!t)
        return -1;
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        if (v[i]->type == JSCAN_NONE)
            continue;
        size_t k = jscan_compact(v[i], t + n);
        s->cache[i] = (jscan_value_t){t + n, k, v[i]->type};
        n += k;
    }
    s->cache_text = t;
    return 0;
}

/* An empty chunk with one choice and its delta, stamped with the stream's
 * id and model. */
static Llmgw__V1__ChatChunk *anth_chunk(anth_stream_t *s, arena_t *a, Llmgw__V1__ChunkChoice **cc)
{
    Llmgw__V1__ChatChunk *ch = arena_alloc(a, sizeof(*ch));
    Llmgw__V1__ChunkChoice *c = arena_alloc(a, sizeof(*c));
    Llmgw__V1__ChunkChoice **cs = arena_alloc(a, sizeof(*cs));
    Llmgw__V1__Message *d = arena_alloc(a, sizeof(*d));
    char *id = arena_strdup(a, s->id), *model = arena_strdup(a, s->model);
    if (!ch || !c || !cs || !d || !id || !model)
        return NULL;
    llmgw__v1__chat_chunk__init(ch);
    llmgw__v1__chunk_choice__init(c);
    llmgw__v1__message__init(d);
    c->delta = d;
    cs[0] = c;
    ch->choices = cs;
    ch->n_choices = 1;
    ch->id = id;
    ch->model = model;
    ch->created = s->created;
    *cc = c;
    return ch;
}

/* [{"index": k, ...}] for one tool call delta, in the arena: the call's
 * start (id and name, string values) or a piece of its arguments. */
static char *anth_tool_delta(arena_t *a, int index, const jscan_value_t *id,
                             const jscan_value_t *name, const jscan_value_t *args)
{
    size_t need = 128 + (id ? id->len + name->len : args->len);
    char *s = arena_alloc(a, need);
    if (!s)
        return NULL;
    size_t n = (size_t)snprintf(s, need, "[{\"index\":%d,", index);
#define ANTH_CAT(p, k)                                                                             \
    do {                                                                                           \
        memcpy(s + n, (p), (k));                                                                   \
        n += (k);                                                                                  \
    } while (0)
#define ANTH_LIT(lit) ANTH_CAT(lit, sizeof(lit) - 1)
    if (id) {
        ANTH_LIT("\"id\":");
        ANTH_CAT(id->p, id->len);
        ANTH_LIT(",\"type\":\"function\",\"function\":{\"name\":");
        ANTH_CAT(name->p, name->len);
        ANTH_LIT(",\"arguments\":\"\"}}]");
    } else {
        ANTH_LIT("\"function\":{\"arguments\":");
        ANTH_CAT(args->p, args->len);
        ANTH_LIT("}}]");
    }
#undef ANTH_LIT
#undef ANTH_CAT
    s[n] = '\0';
    return s;
}

/* A string value decoded into dst[0..n) (cut to fit), "" otherwise. */
static void anth_copy_str(char *dst, size_t n, const jscan_value_t *v, arena_t *a)
{
    dst[0] = '\0';
    if (v->type != JSCAN_STRING)
        return;
    if (v->len <= n) {
        jscan_string_decode(v, dst);
        return;
    }
    size_t len = 0;
    char *s = jscan_string_dup(v, a, &len);
    if (!s)
        return;
    /* Cut on a character boundary: a provider's id may be any length. */
    len = utf8_prefix_len(s, len, n - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* The members of an event read, in this order. */
enum {
    ANTH_E_TYPE,
    ANTH_E_MESSAGE,
    ANTH_E_INDEX,
    ANTH_E_BLOCK,
    ANTH_E_DELTA,
    ANTH_E_USAGE,
    ANTH_E_ERROR,
    ANTH_N_E
};
static const char *const anth_event_names[ANTH_N_E] = {"type",  "message", "index", "content_block",
                                                       "delta", "usage",   "error"};

static int anth_event(anth_stream_t *s, const jscan_value_t *f, const char *type, arena_t *a,
                      Llmgw__V1__ChatChunk **out, bool *done, char *err, size_t errlen)
{
    Llmgw__V1__ChunkChoice *c = NULL;
    if (strcmp(type, "ping") == 0 || strcmp(type, "content_block_stop") == 0)
        return 0;
    if (strcmp(type, "message_stop") == 0) {
        *done = true;
        return 0;
    }
    if (strcmp(type, "error") == 0) {
        static const char *const names[] = {"type", "message"};
        jscan_value_t e[2];
        char etype[64], emsg[161];
        anth_lookup(&f[ANTH_E_ERROR], names, 2, e);
        anth_copy_str(etype, sizeof(etype), &e[0], a);
        anth_copy_str(emsg, sizeof(emsg), &e[1], a);
        anth_err(err, errlen, "provider sent an error event: %s: %.160s",
                 e[0].type == JSCAN_STRING ? etype : "error", emsg);
        return -1;
    }
    if (strcmp(type, "message_start") == 0) {
        static const char *const names[] = {"id", "model", "usage"};
        jscan_value_t m[3], u[ANTH_N_U];
        if (f[ANTH_E_MESSAGE].type != JSCAN_OBJECT) {
            anth_err(err, errlen, "message_start.message: expected an object");
            return -1;
        }
        anth_lookup(&f[ANTH_E_MESSAGE], names, 3, m);
        anth_copy_str(s->id, sizeof(s->id), &m[0], a);
        anth_copy_str(s->model, sizeof(s->model), &m[1], a);
        s->created = (int64_t)time(NULL);
        anth_lookup(&m[2], anth_usage_names, ANTH_N_U, u);
        s->input_tokens = anth_prompt_tokens(u);
        if (anth_stream_keep_cache(s, u) < 0)
            goto oom;
        s->started = true;
        if (!(*out = anth_chunk(s, a, &c)))
            goto oom;
        c->delta->role = "assistant";
        return 0;
    }
    if (!s->started) {
        anth_err(err, errlen, "%s: event before message_start", type);
        return -1;
    }
    int64_t idx = -1;
    if (f[ANTH_E_INDEX].type != JSCAN_NUMBER || jscan_int64(&f[ANTH_E_INDEX], &idx) < 0)
        idx = -1;
    if (strcmp(type, "content_block_start") == 0 || strcmp(type, "content_block_delta") == 0) {
        if (idx < 0 || idx >= ANTH_MAX_BLOCKS) {
            anth_err(err, errlen, "%s.index: expected an integer 0..%d", type, ANTH_MAX_BLOCKS - 1);
            return -1;
        }
    }
    if (strcmp(type, "content_block_start") == 0) {
        static const char *const names[] = {"type", "id", "name"};
        jscan_value_t blk[3];
        anth_lookup(&f[ANTH_E_BLOCK], names, 3, blk);
        if (!jscan_string_eq(&blk[0], "tool_use"))
            return 0; /* text arrives in deltas; thinking is not the answer */
        if (blk[1].type != JSCAN_STRING || blk[2].type != JSCAN_STRING) {
            anth_err(err, errlen,
                     "content_block_start.content_block: a tool_use needs id and name");
            return -1;
        }
        s->tool_index[idx] = (int16_t)s->n_tools++;
        if (!(*out = anth_chunk(s, a, &c)) || !(c->delta->tool_calls_json = anth_tool_delta(
                                                    a, s->tool_index[idx], &blk[1], &blk[2], NULL)))
            goto oom;
        return 0;
    }
    if (strcmp(type, "content_block_delta") == 0) {
        static const char *const names[] = {"type", "text", "partial_json"};
        jscan_value_t d[3];
        anth_lookup(&f[ANTH_E_DELTA], names, 3, d);
        if (jscan_string_eq(&d[0], "text_delta")) {
            if (d[1].type != JSCAN_STRING) {
                anth_err(err, errlen, "content_block_delta.delta.text: expected a string");
                return -1;
            }
            if (!(*out = anth_chunk(s, a, &c)) ||
                !(c->delta->content = jscan_string_dup(&d[1], a, NULL)))
                goto oom;
        } else if (jscan_string_eq(&d[0], "input_json_delta")) {
            if (d[2].type != JSCAN_STRING || s->tool_index[idx] < 0) {
                anth_err(err, errlen,
                         "content_block_delta: input_json_delta without a tool_use block");
                return -1;
            }
            if (!(*out = anth_chunk(s, a, &c)) || !(c->delta->tool_calls_json = anth_tool_delta(
                                                        a, s->tool_index[idx], NULL, NULL, &d[2])))
                goto oom;
        }
        return 0; /* thinking_delta, signature_delta: not the answer */
    }
    if (strcmp(type, "message_delta") == 0) {
        static const char *const names[] = {"stop_reason", "stop_sequence"};
        jscan_value_t d[2];
        anth_lookup(&f[ANTH_E_DELTA], names, 2, d);
        jscan_value_t out_tokens = anth_get(&f[ANTH_E_USAGE], "output_tokens");
        Llmgw__V1__Usage *u = arena_alloc(a, sizeof(*u));
        if (!u || !(*out = anth_chunk(s, a, &c)))
            goto oom;
        llmgw__v1__usage__init(u);
        u->prompt_tokens = s->input_tokens;
        u->completion_tokens = anth_i32(&out_tokens);
        u->total_tokens = anth_sum_i32(u->prompt_tokens, u->completion_tokens);
        (*out)->usage = u;
        c->finish_reason = anth_finish(a, &d[0], "end_turn");
        jscan_value_t ext_vals[4] = {d[0], d[1], s->cache[0], s->cache[1]};
        char *ext = NULL;
        if (!c->finish_reason || anth_extensions(a, ext_vals, &ext) < 0)
            goto oom;
        if (ext)
            (*out)->extensions_json = ext;
        return 0;
    }
    return 0; /* event types added later are ignored, as Anthropic asks */
oom:
    *out = NULL;
    anth_err(err, errlen, "%s: out of memory", type);
    return -1;
}

static int anth_stream_event(adapter_stream_t *as, const char *event, const char *data, size_t len,
                             arena_t *a, Llmgw__V1__ChatChunk **out, bool *done, char *err,
                             size_t errlen)
{
    anth_stream_t *s = (anth_stream_t *)as;
    jscan_value_t ev, f[ANTH_N_E];
    char what[64];
    *out = NULL;
    if (len == 0)
        return 0;
    snprintf(what, sizeof(what), "event %.40s", event[0] ? event : "(unnamed)");
    if (anth_load(data, len, what, &ev, err, errlen) < 0)
        return -1;
    if (ev.type != JSCAN_OBJECT) {
        anth_err(err, errlen, "%s: expected a JSON object", what);
        return -1;
    }
    anth_lookup(&ev, anth_event_names, ANTH_N_E, f);
    /* The data's "type" is authoritative; the SSE event name repeats it. */
    const char *type = event;
    char local[64];
    if (f[ANTH_E_TYPE].type == JSCAN_STRING) {
        type = f[ANTH_E_TYPE].len <= sizeof(local) ? local
                                                   : jscan_string_dup(&f[ANTH_E_TYPE], a, NULL);
        if (type == local)
            jscan_string_decode(&f[ANTH_E_TYPE], local);
        if (!type) {
            anth_err(err, errlen, "%s: out of memory", what);
            return -1;
        }
    }
    return anth_event(s, f, type, a, out, done, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

void anthropic_error_from_http(uerror_t *e, long status, const char *body, size_t len,
                               const char *retry_after)
{
    static const struct {
        const char *anth;
        const char *type;
        bool retryable;
        grpc_status_code grpc;
    } map[] = {
        {"invalid_request_error", "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {"authentication_error", "auth", false, GRPC_STATUS_UNAUTHENTICATED},
        {"permission_error", "permission", false, GRPC_STATUS_PERMISSION_DENIED},
        {"not_found_error", "not_found", false, GRPC_STATUS_NOT_FOUND},
        {"request_too_large", "too_large", false, GRPC_STATUS_INVALID_ARGUMENT},
        {"rate_limit_error", "rate_limit", true, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {"api_error", "server", true, GRPC_STATUS_UNAVAILABLE},
        {"overloaded_error", "server", true, GRPC_STATUS_UNAVAILABLE},
        {"timeout_error", "timeout", true, GRPC_STATUS_DEADLINE_EXCEEDED},
    };
    uerror_from_http(e, status, body, len, retry_after);
    if (!body || len == 0 || len > 256 * 1024)
        return;
    jscan_value_t root;
    if (jscan_document_flags(body, len, JSCAN_JANSSON_RANGE, &root, NULL) < 0 ||
        root.type != JSCAN_OBJECT)
        return;
    jscan_value_t err_obj = anth_get(&root, "error");
    jscan_value_t type = anth_get(&err_obj, "type");
    for (size_t i = 0; type.type == JSCAN_STRING && i < sizeof(map) / sizeof(map[0]); i++) {
        if (!jscan_string_eq(&type, map[i].anth))
            continue;
        e->type = map[i].type;
        e->retryable = map[i].retryable;
        e->grpc_status = map[i].grpc;
        /* "overloaded_error: Overloaded": the class is worth reading. */
        size_t pre = strlen(map[i].anth) + 2, cur = strlen(e->message);
        if (pre + cur >= sizeof(e->message)) {
            cur = sizeof(e->message) - pre - 1;
            while (cur > 0 && (e->message[cur] & 0xC0) == 0x80)
                cur--; /* cut between UTF-8 characters */
        }
        memmove(e->message + pre, e->message, cur);
        memcpy(e->message, map[i].anth, pre - 2);
        memcpy(e->message + pre - 2, ": ", 2);
        e->message[pre + cur] = '\0';
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The adapter                                                               */

static int anth_auth_headers(const table_provider_t *p, arena_t *a, const char **out, size_t *n,
                             size_t cap)
{
    const char *version = p->api_version ? p->api_version : ANTHROPIC_VERSION;
    size_t vlen = strlen(version) + sizeof("anthropic-version: ");
    char *v = arena_alloc(a, vlen);
    if (!v || *n >= cap)
        return -1;
    snprintf(v, vlen, "anthropic-version: %s", version);
    out[(*n)++] = v;
    return adapter_key_header(p, a, out, n, cap);
}

static int anth_build(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                      const char *upstream_model, bool stream, buf_t *out, char *err, size_t errlen)
{
    return anthropic_build_request(req, upstream_model, p ? p->quirks.max_tokens_default : 0,
                                   stream, out, err, errlen);
}

const adapter_t adapter_anthropic = {
    .name = "anthropic",
    .chat_path = "/messages",
    .auth_headers = anth_auth_headers,
    .build_chat_request = anth_build,
    .parse_chat_response = anthropic_parse_response,
    .stream_new = anth_stream_new,
    .stream_free = anth_stream_free,
    .stream_event = anth_stream_event,
    .error_from_http = anthropic_error_from_http,
};
