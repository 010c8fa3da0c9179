/* anthropic: the Messages API wire format. See anthropic.h.
 *
 * Building assembles a jansson tree and dumps it compactly into the caller's
 * capped buffer; parsing loads the body, copies what the answer keeps into
 * the arena and frees the tree, on success and failure alike. Messages are
 * initialized with protobuf-c's __init, so absent fields read "" or 0.
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

#include <jansson.h>

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
/* Request building                                                          */

/* The body is written straight into the caller's buffer: the conversation
 * (the bulk of a request) never becomes a jansson tree, which keeps the
 * translation to a few microseconds (tests/bench/bench_translate.c). Only the
 * small JSON-valued fields (tools, tool calls, images) go through jansson. */

typedef struct {
    buf_t *out;
    const char *role;  /* role of the open message; NULL before the first */
    bool first_block;  /* no block written yet in the open message */
    bool failed_write; /* the buffer refused an append (cap or memory) */
    char *err;
    size_t errlen;
} anth_build_t;

static void anth_put(anth_build_t *b, const char *s, size_t n)
{
    if (!b->failed_write && buf_append(b->out, s, n) < 0)
        b->failed_write = true;
}

static void anth_puts(anth_build_t *b, const char *s)
{
    anth_put(b, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t anth_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* A JSON string literal; -1 with err naming `field` on invalid UTF-8. */
static int anth_put_str(anth_build_t *b, const char *s, const char *field)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    size_t run = 0; /* bytes at p[i - run, i) to copy as they are */
    anth_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++, run++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = anth_utf8_len(p + i, n - i);
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

/* A jansson value, dumped compactly. */
static int anth_put_json(anth_build_t *b, json_t *v, const char *field)
{
    char small[1024];
    size_t n = json_dumpb(v, small, sizeof(small), JSON_COMPACT);
    if (n == 0) {
        anth_err(b->err, b->errlen, "%s: out of memory", field);
        return -1;
    }
    if (n <= sizeof(small)) {
        anth_put(b, small, n);
        return 0;
    }
    char *big = malloc(n);
    if (!big || json_dumpb(v, big, n, JSON_COMPACT) != n) {
        free(big);
        anth_err(b->err, b->errlen, "%s: out of memory", field);
        return -1;
    }
    anth_put(b, big, n);
    free(big);
    return 0;
}

static json_t *anth_parse_field(anth_build_t *b, const char *text, const char *field,
                                json_type want, const char *want_name)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v) {
        anth_err(b->err, b->errlen, "%s: invalid JSON at line %d column %d: %s", field, jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    if (want_name && json_typeof(v) != want) {
        anth_err(b->err, b->errlen, "%s: expected a JSON %s", field, want_name);
        json_decref(v);
        return NULL;
    }
    return v;
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
static int anth_image_block(anth_build_t *b, json_t *part, const char *field)
{
    json_t *iu = json_object_get(part, "image_url");
    const char *url = json_string_value(json_is_object(iu) ? json_object_get(iu, "url") : iu);
    if (!url) {
        anth_err(b->err, b->errlen, "%s.image_url.url: expected a string", field);
        return -1;
    }
    if (strncmp(url, "data:", 5) == 0) {
        const char *comma = strchr(url, ',');
        const char *semi = strchr(url, ';');
        if (!comma || !semi || semi > comma || strncmp(semi, ";base64,", 8) != 0 ||
            semi == url + 5) {
            anth_err(b->err, b->errlen,
                     "%s.image_url.url: a data: URL must be data:<media type>;base64,<data>",
                     field);
            return -1;
        }
        char media[128];
        snprintf(media, sizeof(media), "%.*s", (int)(semi - url - 5), url + 5);
        anth_open_block(b, "user");
        anth_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":");
        if (anth_put_str(b, media, field) < 0)
            return -1;
        anth_puts(b, ",\"data\":");
        if (anth_put_str(b, comma + 1, field) < 0)
            return -1;
        anth_puts(b, "}}");
        return 0;
    }
    if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
        anth_open_block(b, "user");
        anth_puts(b, "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
        if (anth_put_str(b, url, field) < 0)
            return -1;
        anth_puts(b, "}}");
        return 0;
    }
    anth_err(b->err, b->errlen, "%s.image_url.url: expected a data: or http(s) URL", field);
    return -1;
}

/* A user turn's content: its parts when given, else its text. */
static int anth_user_content(anth_build_t *b, const Llmgw__V1__Message *m, size_t i)
{
    char field[96];
    if (m->content_parts_json && m->content_parts_json[0]) {
        snprintf(field, sizeof(field), "messages[%zu].content_parts_json", i);
        json_t *parts = anth_parse_field(b, m->content_parts_json, field, JSON_ARRAY, "array");
        if (!parts)
            return -1;
        int rc = 0;
        size_t k;
        json_t *part;
        json_array_foreach(parts, k, part)
        {
            char pf[128];
            snprintf(pf, sizeof(pf), "%s[%zu]", field, k);
            const char *type = json_string_value(json_object_get(part, "type"));
            if (type && strcmp(type, "text") == 0) {
                const char *t = json_string_value(json_object_get(part, "text"));
                if (!t) {
                    anth_err(b->err, b->errlen, "%s.text: expected a string", pf);
                    rc = -1;
                } else if (t[0]) {
                    rc = anth_text_block(b, "user", t, pf);
                }
            } else if (type && strcmp(type, "image_url") == 0) {
                rc = anth_image_block(b, part, pf);
            } else {
                anth_err(b->err, b->errlen,
                         "%s.type: '%.32s' cannot be expressed in Anthropic's Messages API "
                         "(text and image_url can)",
                         pf, type ? type : "");
                rc = -1;
            }
            if (rc < 0)
                break;
        }
        json_decref(parts);
        return rc;
    }
    if (!m->content || !m->content[0]) {
        anth_err(b->err, b->errlen,
                 "messages[%zu].content: empty (Anthropic's Messages API rejects empty turns)", i);
        return -1;
    }
    snprintf(field, sizeof(field), "messages[%zu].content", i);
    return anth_text_block(b, "user", m->content, field);
}

/* An assistant turn: its text, then a tool_use block per tool call. */
static int anth_assistant_content(anth_build_t *b, const Llmgw__V1__Message *m, size_t i)
{
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
        json_t *calls = anth_parse_field(b, m->tool_calls_json, field, JSON_ARRAY, "array");
        if (!calls)
            return -1;
        int rc = 0;
        size_t k;
        json_t *call;
        json_array_foreach(calls, k, call)
        {
            json_t *fn = json_object_get(call, "function");
            const char *id = json_string_value(json_object_get(call, "id"));
            const char *name = json_string_value(json_object_get(fn, "name"));
            const char *args = json_string_value(json_object_get(fn, "arguments"));
            char cf[128];
            snprintf(cf, sizeof(cf), "%s[%zu]", field, k);
            if (!id || !name) {
                anth_err(b->err, b->errlen, "%s: expected an id and a function.name", cf);
                rc = -1;
                break;
            }
            json_error_t jerr;
            json_t *input = json_loads(args && args[0] ? args : "{}", 0, &jerr);
            if (!json_is_object(input)) {
                json_decref(input);
                anth_err(b->err, b->errlen,
                         "%s.function.arguments: expected a JSON object (Anthropic's tool_use "
                         "input)",
                         cf);
                rc = -1;
                break;
            }
            anth_open_block(b, "assistant");
            anth_puts(b, "{\"type\":\"tool_use\",\"id\":");
            rc = anth_put_str(b, id, cf);
            anth_puts(b, ",\"name\":");
            rc = rc < 0 ? rc : anth_put_str(b, name, cf);
            anth_puts(b, ",\"input\":");
            rc = rc < 0 ? rc : anth_put_json(b, input, cf);
            anth_put(b, "}", 1);
            json_decref(input);
            if (rc < 0)
                break;
            any = true;
        }
        json_decref(calls);
        if (rc < 0)
            return -1;
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
 * parameters}}] -> [{name, description, input_schema}]. */
static json_t *anth_tools(anth_build_t *b, const char *tools_json)
{
    json_t *in = anth_parse_field(b, tools_json, "tools_json", JSON_ARRAY, "array");
    json_t *out = in ? json_array() : NULL;
    if (!out) {
        if (in)
            anth_err(b->err, b->errlen, "tools_json: out of memory");
        json_decref(in);
        return NULL;
    }
    size_t i;
    json_t *t;
    json_array_foreach(in, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        json_t *fn = json_object_get(t, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!type || strcmp(type, "function") != 0 || !name) {
            anth_err(b->err, b->errlen,
                     "tools_json[%zu]: expected {\"type\": \"function\", \"function\": {\"name\"}}",
                     i);
            goto fail;
        }
        json_t *schema = json_object_get(fn, "parameters");
        /* The API requires an input_schema; a function without parameters
         * takes an empty object. */
        json_t *sch =
            schema ? json_incref(schema) : json_pack("{s:s,s:{}}", "type", "object", "properties");
        json_t *tool = sch ? json_pack("{s:s,s:o}", "name", name, "input_schema", sch) : NULL;
        json_t *desc = json_object_get(fn, "description");
        if (tool && json_is_string(desc) && json_object_set(tool, "description", desc) < 0) {
            json_decref(tool);
            tool = NULL;
        }
        if (!tool || json_array_append_new(out, tool) < 0) {
            anth_err(b->err, b->errlen, "tools_json[%zu]: out of memory", i);
            goto fail;
        }
    }
    json_decref(in);
    return out;
fail:
    json_decref(in);
    json_decref(out);
    return NULL;
}

/* "auto" / "none" / "required" / {"type": "function", "function": {name}}. */
static json_t *anth_tool_choice(anth_build_t *b, const char *text)
{
    json_t *in = anth_parse_field(b, text, "tool_choice_json", JSON_NULL, NULL);
    if (!in)
        return NULL;
    json_t *out = NULL;
    const char *s = json_string_value(in);
    const char *name = json_string_value(json_object_get(json_object_get(in, "function"), "name"));
    if (s && strcmp(s, "auto") == 0)
        out = json_pack("{s:s}", "type", "auto");
    else if (s && strcmp(s, "required") == 0)
        out = json_pack("{s:s}", "type", "any");
    else if (s && strcmp(s, "none") == 0)
        out = json_pack("{s:s}", "type", "none");
    else if (name)
        out = json_pack("{s:s,s:s}", "type", "tool", "name", name);
    else
        anth_err(b->err, b->errlen,
                 "tool_choice_json: expected \"auto\", \"none\", \"required\" or "
                 "{\"type\": \"function\", \"function\": {\"name\"}}");
    if (!out && (s || name))
        anth_err(b->err, b->errlen, "tool_choice_json: out of memory");
    json_decref(in);
    return out;
}

/* ,"key":<v> for a jansson value (taken; NULL: its builder set err). */
static int anth_put_member_json(anth_build_t *b, const char *key, json_t *v)
{
    if (!v)
        return -1; /* its builder said why */
    anth_put(b, ",\"", 2);
    anth_puts(b, key);
    anth_put(b, "\":", 2);
    int rc = anth_put_json(b, v, key);
    json_decref(v);
    return rc;
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

/* extra_body_json's members replace or add top-level members: the built
 * body is parsed back and merged (only requests that carry extra_body pay). */
static int anth_merge_extra(anth_build_t *b, size_t start, const char *extra_json)
{
    json_t *extra = anth_parse_field(b, extra_json, "extra_body_json", JSON_OBJECT, "object");
    if (!extra)
        return -1;
    int rc = -1;
    json_t *root = json_loadb(b->out->data + start, b->out->len - start, 0, NULL);
    const char *key;
    json_t *value;
    if (!root) {
        anth_err(b->err, b->errlen, "request: out of memory");
        goto out;
    }
    json_object_foreach(extra, key, value)
    {
        for (size_t k = 0; anth_reserved_keys[k]; k++)
            if (strcmp(key, anth_reserved_keys[k]) == 0) {
                anth_err(b->err, b->errlen, "extra_body_json.%s: may not be overridden", key);
                goto out;
            }
        if (json_object_set(root, key, value) < 0) {
            anth_err(b->err, b->errlen, "extra_body_json.%s: out of memory", key);
            goto out;
        }
    }
    b->out->len = start;
    b->out->data[start] = '\0';
    rc = anth_put_json(b, root, "request body");
out:
    json_decref(root);
    json_decref(extra);
    return rc;
}

int anthropic_build_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                            int max_tokens_default, bool stream, buf_t *out, char *err,
                            size_t errlen)
{
    size_t orig_len = out->len;
    anth_build_t b = {.out = out, .err = err, .errlen = errlen};
    size_t first_turn = 0;
    const char *model = upstream_model ? upstream_model : req->model;
    anth_puts(&b, "{\"model\":");
    if (anth_put_str(&b, model, "model") < 0 || anth_system(&b, req, &first_turn) < 0 ||
        anth_messages(&b, req, first_turn) < 0)
        goto fail;

    int64_t max_tokens = max_tokens_default > 0 ? max_tokens_default : ANTHROPIC_MAX_TOKENS_DEFAULT;
    if (req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS)
        max_tokens = req->max_tokens;
    char num[48];
    anth_put(&b, num, (size_t)snprintf(num, sizeof(num), ",\"max_tokens\":%" PRId64, max_tokens));
    if (req->temperature_opt_case == LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE &&
        anth_put_real(&b, "temperature", req->temperature, 1.0) < 0)
        goto fail;
    if (req->top_p_opt_case == LLMGW__V1__CHAT_REQUEST__TOP_P_OPT_TOP_P &&
        anth_put_real(&b, "top_p", req->top_p, 1.0) < 0)
        goto fail;
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
        anth_puts(&b, ",\"metadata\":{\"user_id\":");
        if (anth_put_str(&b, req->user, "user") < 0)
            goto fail;
        anth_put(&b, "}", 1);
    }
    if (req->tools_json && req->tools_json[0] &&
        anth_put_member_json(&b, "tools", anth_tools(&b, req->tools_json)) < 0)
        goto fail;
    if (req->tool_choice_json && req->tool_choice_json[0] &&
        anth_put_member_json(&b, "tool_choice", anth_tool_choice(&b, req->tool_choice_json)) < 0)
        goto fail;
    if (req->response_format_json && req->response_format_json[0]) {
        json_t *rf = anth_parse_field(&b, req->response_format_json, "response_format_json",
                                      JSON_OBJECT, "object");
        if (!rf)
            goto fail;
        const char *type = json_string_value(json_object_get(rf, "type"));
        bool text = type && strcmp(type, "text") == 0;
        json_decref(rf);
        if (!text) {
            anth_err(err, errlen,
                     "response_format_json: Anthropic's Messages API has no JSON mode "
                     "(use a tool with an input_schema instead)");
            goto fail;
        }
    }
    if (stream)
        anth_puts(&b, ",\"stream\":true");
    anth_put(&b, "}", 1);
    if (!b.failed_write && req->extra_body_json && req->extra_body_json[0] &&
        anth_merge_extra(&b, orig_len, req->extra_body_json) < 0)
        goto fail;
    if (b.failed_write) {
        anth_err(err, errlen, "request body: exceeds the size cap or out of memory");
        goto fail;
    }
    return 0;
fail:
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

static char *anth_arena_dump(arena_t *a, json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    char *s = n > 0 ? arena_alloc(a, n + 1) : NULL;
    if (!s || json_dumpb(v, s, n, JSON_COMPACT) != n)
        return NULL;
    s[n] = '\0';
    return s;
}

static char *anth_arena_str(arena_t *a, json_t *v)
{
    const char *s = json_string_value(v);
    return arena_strdup(a, s ? s : "");
}

static int32_t anth_i32(json_t *v)
{
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    return n < 0 ? 0 : n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* Input tokens as OpenAI counts them: cached and cache-writing tokens are
 * part of the prompt. */
static int32_t anth_prompt_tokens(json_t *usage)
{
    int64_t n = (int64_t)anth_i32(json_object_get(usage, "input_tokens")) +
                anth_i32(json_object_get(usage, "cache_creation_input_tokens")) +
                anth_i32(json_object_get(usage, "cache_read_input_tokens"));
    return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

/* A JSON value from a parsed answer, appended as JSON text: strings
 * escaped, integers and null directly, anything else dumped. */
static int anth_buf_json(buf_t *out, json_t *v)
{
    anth_build_t b = {.out = out};
    if (json_is_string(v)) {
        if (anth_put_str(&b, json_string_value(v), "") < 0)
            return -1;
    } else if (json_is_integer(v)) {
        char num[32];
        anth_put(
            &b, num,
            (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
    } else if (!v || json_is_null(v)) {
        anth_put(&b, "null", 4);
    } else if (anth_put_json(&b, v, "") < 0) {
        return -1;
    }
    return b.failed_write ? -1 : 0;
}

/* {"anthropic": {stop_reason, stop_sequence, cache_*_input_tokens}} for the
 * members present; NULL (no extensions) when none is, "" on no memory. */
static char *anth_extensions(arena_t *a, json_t *stop_src, json_t *usage)
{
    static const char *const keys[] = {"stop_reason", "stop_sequence",
                                       "cache_creation_input_tokens", "cache_read_input_tokens"};
    buf_t out = BUF_INIT(1 << 20);
    size_t n = 0;
    char *s = "";
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(i < 2 ? stop_src : usage, keys[i]);
        if (!v)
            continue;
        if (buf_printf(&out, "%s\"%s\":", n++ ? "," : "{\"anthropic\":{", keys[i]) < 0 ||
            anth_buf_json(&out, v) < 0)
            goto out;
    }
    if (n == 0) {
        s = NULL;
        goto out;
    }
    if (buf_append_str(&out, "}}") < 0)
        goto out;
    s = arena_strndup(a, out.data, out.len);
    if (!s)
        s = "";
out:
    buf_free(&out);
    return s;
}

/* Content blocks -> text and tool_calls_json of `msg`. */
static int anth_blocks(arena_t *a, json_t *content, Llmgw__V1__Message *msg, char *err,
                       size_t errlen)
{
    buf_t text = BUF_INIT(SIZE_MAX / 2);
    buf_t calls = BUF_INIT(SIZE_MAX / 2);
    buf_t args = BUF_INIT(SIZE_MAX / 2);
    int rc = -1;
    size_t i;
    json_t *blk;
    json_array_foreach(content, i, blk)
    {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (!type) {
            anth_err(err, errlen, "content[%zu].type: expected a string", i);
            goto out;
        }
        if (strcmp(type, "text") == 0) {
            const char *t = json_string_value(json_object_get(blk, "text"));
            if (!t) {
                anth_err(err, errlen, "content[%zu].text: expected a string", i);
                goto out;
            }
            if (buf_append_str(&text, t) < 0)
                goto oom;
        } else if (strcmp(type, "tool_use") == 0) {
            json_t *id = json_object_get(blk, "id");
            json_t *name = json_object_get(blk, "name");
            json_t *input = json_object_get(blk, "input");
            if (!json_is_string(id) || !json_is_string(name) || !json_is_object(input)) {
                anth_err(err, errlen, "content[%zu]: a tool_use needs id, name and an input object",
                         i);
                goto out;
            }
            /* OpenAI's arguments are the input object as a JSON string. */
            buf_reset(&args);
            anth_build_t ab = {.out = &args};
            if (anth_put_json(&ab, input, "") < 0 || ab.failed_write)
                goto oom;
            anth_build_t cb = {.out = &calls};
            anth_puts(&cb, calls.len ? ",{\"id\":" : "[{\"id\":");
            if (anth_buf_json(&calls, id) < 0)
                goto oom;
            anth_puts(&cb, ",\"type\":\"function\",\"function\":{\"name\":");
            if (anth_buf_json(&calls, name) < 0)
                goto oom;
            anth_puts(&cb, ",\"arguments\":");
            if (anth_put_str(&cb, buf_cstr(&args), "") < 0)
                goto oom;
            anth_puts(&cb, "}}");
            if (cb.failed_write)
                goto oom;
        }
        /* thinking / redacted_thinking blocks are not part of the answer. */
    }
    msg->content = arena_strndup(a, text.data ? text.data : "", text.len);
    if (!msg->content)
        goto oom;
    if (calls.len && (buf_append_char(&calls, ']') < 0 ||
                      !(msg->tool_calls_json = arena_strndup(a, calls.data, calls.len))))
        goto oom;
    rc = 0;
    goto out;
oom:
    anth_err(err, errlen, "content: out of memory");
out:
    buf_free(&text);
    buf_free(&calls);
    buf_free(&args);
    return rc;
}

int anthropic_parse_response(const char *body, size_t len, arena_t *a,
                             Llmgw__V1__ChatResponse **out, char *err, size_t errlen)
{
    json_error_t jerr;
    int rc = -1;
    json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &jerr);
    if (!json_is_object(root)) {
        anth_err(err, errlen, "body: %s", root ? "expected a JSON object" : jerr.text);
        goto out;
    }
    json_t *content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        anth_err(err, errlen, "content: expected an array");
        goto out;
    }
    Llmgw__V1__ChatResponse *r = arena_alloc(a, sizeof(*r));
    Llmgw__V1__Choice *c = arena_alloc(a, sizeof(*c));
    Llmgw__V1__Choice **cs = arena_alloc(a, sizeof(*cs));
    Llmgw__V1__Message *m = arena_alloc(a, sizeof(*m));
    Llmgw__V1__Usage *u = arena_alloc(a, sizeof(*u));
    if (!r || !c || !cs || !m || !u)
        goto oom;
    llmgw__v1__chat_response__init(r);
    llmgw__v1__choice__init(c);
    llmgw__v1__message__init(m);
    llmgw__v1__usage__init(u);
    m->role = "assistant";
    if (anth_blocks(a, content, m, err, errlen) < 0)
        goto out;
    const char *stop = json_string_value(json_object_get(root, "stop_reason"));
    c->finish_reason = arena_strdup(a, anthropic_finish_reason(stop));
    c->message = m;
    cs[0] = c;
    r->choices = cs;
    r->n_choices = 1;
    json_t *usage = json_object_get(root, "usage");
    u->prompt_tokens = anth_prompt_tokens(usage);
    u->completion_tokens = anth_i32(json_object_get(usage, "output_tokens"));
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    r->usage = u;
    r->id = anth_arena_str(a, json_object_get(root, "id"));
    r->model = anth_arena_str(a, json_object_get(root, "model"));
    r->created = (int64_t)time(NULL); /* the API sends no timestamp */
    char *ext = anth_extensions(a, root, usage);
    if (ext)
        r->extensions_json = ext;
    if (!c->finish_reason || !r->id || !r->model || (ext && !ext[0]))
        goto oom;
    *out = r;
    rc = 0;
    goto out;
oom:
    anth_err(err, errlen, "answer: out of memory");
out:
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

#define ANTH_MAX_BLOCKS 256 /* content blocks tracked per answer */

typedef struct {
    char id[128];
    char model[128];
    int64_t created;
    int32_t input_tokens;                /* from message_start, cache tokens included */
    json_t *start_usage;                 /* message_start's usage, for the extensions */
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
        json_decref(s->start_usage);
    free(s);
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

/* [{"index": k, ...}] for one tool call delta, dumped into the arena. */
static char *anth_tool_delta(arena_t *a, int index, const char *id, const char *name,
                             const char *args)
{
    json_t *call = id ? json_pack("[{s:i,s:s,s:s,s:{s:s,s:s}}]", "index", index, "id", id, "type",
                                  "function", "function", "name", name, "arguments", "")
                      : json_pack("[{s:i,s:{s:s}}]", "index", index, "function", "arguments", args);
    char *s = call ? anth_arena_dump(a, call) : NULL;
    json_decref(call);
    return s;
}

static int anth_event(anth_stream_t *s, json_t *ev, const char *type, arena_t *a,
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
        json_t *e = json_object_get(ev, "error");
        anth_err(err, errlen, "provider sent an error event: %s: %.160s",
                 json_string_value(json_object_get(e, "type")) ?: "error",
                 json_string_value(json_object_get(e, "message")) ?: "");
        return -1;
    }
    if (strcmp(type, "message_start") == 0) {
        json_t *m = json_object_get(ev, "message");
        if (!json_is_object(m)) {
            anth_err(err, errlen, "message_start.message: expected an object");
            return -1;
        }
        snprintf(s->id, sizeof(s->id), "%s", json_string_value(json_object_get(m, "id")) ?: "");
        snprintf(s->model, sizeof(s->model), "%s",
                 json_string_value(json_object_get(m, "model")) ?: "");
        s->created = (int64_t)time(NULL);
        json_t *usage = json_object_get(m, "usage");
        s->input_tokens = anth_prompt_tokens(usage);
        json_decref(s->start_usage);
        s->start_usage = json_incref(usage);
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
    json_t *jidx = json_object_get(ev, "index");
    json_int_t idx = json_is_integer(jidx) ? json_integer_value(jidx) : -1;
    if (strcmp(type, "content_block_start") == 0 || strcmp(type, "content_block_delta") == 0) {
        if (idx < 0 || idx >= ANTH_MAX_BLOCKS) {
            anth_err(err, errlen, "%s.index: expected an integer 0..%d", type, ANTH_MAX_BLOCKS - 1);
            return -1;
        }
    }
    if (strcmp(type, "content_block_start") == 0) {
        json_t *blk = json_object_get(ev, "content_block");
        const char *bt = json_string_value(json_object_get(blk, "type"));
        if (!bt || strcmp(bt, "tool_use") != 0)
            return 0; /* text arrives in deltas; thinking is not the answer */
        const char *id = json_string_value(json_object_get(blk, "id"));
        const char *name = json_string_value(json_object_get(blk, "name"));
        if (!id || !name) {
            anth_err(err, errlen,
                     "content_block_start.content_block: a tool_use needs id and name");
            return -1;
        }
        s->tool_index[idx] = (int16_t)s->n_tools++;
        if (!(*out = anth_chunk(s, a, &c)) ||
            !(c->delta->tool_calls_json = anth_tool_delta(a, s->tool_index[idx], id, name, NULL)))
            goto oom;
        return 0;
    }
    if (strcmp(type, "content_block_delta") == 0) {
        json_t *d = json_object_get(ev, "delta");
        const char *dt = json_string_value(json_object_get(d, "type"));
        if (dt && strcmp(dt, "text_delta") == 0) {
            const char *t = json_string_value(json_object_get(d, "text"));
            if (!t) {
                anth_err(err, errlen, "content_block_delta.delta.text: expected a string");
                return -1;
            }
            if (!(*out = anth_chunk(s, a, &c)) || !(c->delta->content = arena_strdup(a, t)))
                goto oom;
        } else if (dt && strcmp(dt, "input_json_delta") == 0) {
            const char *pj = json_string_value(json_object_get(d, "partial_json"));
            if (!pj || s->tool_index[idx] < 0) {
                anth_err(err, errlen,
                         "content_block_delta: input_json_delta without a tool_use block");
                return -1;
            }
            if (!(*out = anth_chunk(s, a, &c)) || !(c->delta->tool_calls_json = anth_tool_delta(
                                                        a, s->tool_index[idx], NULL, NULL, pj)))
                goto oom;
        }
        return 0; /* thinking_delta, signature_delta: not the answer */
    }
    if (strcmp(type, "message_delta") == 0) {
        json_t *d = json_object_get(ev, "delta");
        json_t *usage = json_object_get(ev, "usage");
        Llmgw__V1__Usage *u = arena_alloc(a, sizeof(*u));
        if (!u || !(*out = anth_chunk(s, a, &c)))
            goto oom;
        llmgw__v1__usage__init(u);
        u->prompt_tokens = s->input_tokens;
        u->completion_tokens = anth_i32(json_object_get(usage, "output_tokens"));
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
        (*out)->usage = u;
        const char *stop = json_string_value(json_object_get(d, "stop_reason"));
        c->finish_reason = arena_strdup(a, anthropic_finish_reason(stop ? stop : "end_turn"));
        char *ext = anth_extensions(a, d, s->start_usage);
        if (!c->finish_reason || (ext && !ext[0]))
            goto oom;
        if (ext)
            (*out)->extensions_json = ext;
        return 0;
    }
    return 0; /* event types added later are ignored, as Anthropic asks */
oom:
    anth_err(err, errlen, "%s: out of memory", type);
    return -1;
}

static int anth_stream_event(adapter_stream_t *as, const char *event, const char *data, size_t len,
                             arena_t *a, Llmgw__V1__ChatChunk **out, bool *done, char *err,
                             size_t errlen)
{
    anth_stream_t *s = (anth_stream_t *)as;
    *out = NULL;
    if (len == 0)
        return 0;
    json_error_t jerr;
    json_t *ev = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(ev)) {
        anth_err(err, errlen, "event %.40s: %s", event[0] ? event : "(unnamed)",
                 ev ? "expected a JSON object" : jerr.text);
        json_decref(ev);
        return -1;
    }
    /* The data's "type" is authoritative; the SSE event name repeats it. */
    const char *type = json_string_value(json_object_get(ev, "type"));
    int rc = anth_event(s, ev, type ? type : event, a, out, done, err, errlen);
    json_decref(ev);
    return rc;
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
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *type = json_string_value(json_object_get(json_object_get(root, "error"), "type"));
    for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(type, map[i].anth) != 0)
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
    json_decref(root);
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
