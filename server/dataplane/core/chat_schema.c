/* chat_schema: see chat_schema.h.
 *
 * Each JSON text is validated whole by jscan and walked in place; members
 * are looked up by name (of duplicates the last counts, as the provider's
 * parser would keep it). Paths are built into a fixed buffer as the walk
 * descends, so a message names the exact element at any depth.
 */
#include "chat_schema.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

#define CS_CACHE_MEMBERS 24

/* The members of the object last looked into, so that checking several
 * members of one object walks it once (jscan validates every value it steps
 * over, nested parameters schemas included). */
typedef struct {
    const char *obj; /* the cached object's first byte; NULL none */
    size_t n;
    bool complete; /* every member is in keys/vals */
    jscan_value_t keys[CS_CACHE_MEMBERS], vals[CS_CACHE_MEMBERS];
} cs_cache_t;

typedef struct {
    char *err;
    size_t errlen;
    cs_cache_t cache;
} cs_t;

static int cs_fail(cs_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cs_fail(cs_t *c, const char *path, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: %s", path, what);
    return -1;
}

/* The last member named `key` of object `obj` (JSCAN_NONE when absent). */
static jscan_value_t cs_get(const jscan_value_t *obj, const char *key)
{
    jscan_value_t found = {0}, k, v;
    jscan_iter_t it;
    if (obj->type != JSCAN_OBJECT || jscan_iter_init(&it, obj) < 0)
        return found;
    while (jscan_object_next(&it, &k, &v, NULL) == 1)
        if (jscan_string_eq(&k, key))
            found = v;
    return found;
}

/* cs_get through the cache: the last member named `key` of `obj`. */
static jscan_value_t cs_lookup(cs_t *c, const jscan_value_t *obj, const char *key)
{
    cs_cache_t *k = &c->cache;
    if (obj->type != JSCAN_OBJECT)
        return (jscan_value_t){0};
    if (k->obj != obj->p) {
        jscan_iter_t it;
        jscan_value_t kk, vv;
        k->obj = obj->p;
        k->n = 0;
        k->complete = true;
        jscan_iter_init(&it, obj);
        while (jscan_object_next(&it, &kk, &vv, NULL) == 1) {
            if (k->n == CS_CACHE_MEMBERS) {
                k->complete = false;
                break;
            }
            k->keys[k->n] = kk;
            k->vals[k->n++] = vv;
        }
    }
    if (!k->complete)
        return cs_get(obj, key);
    jscan_value_t found = {0};
    for (size_t i = 0; i < k->n; i++)
        if (jscan_string_eq(&k->keys[i], key))
            found = k->vals[i];
    return found;
}

static bool cs_absent(const jscan_value_t *v)
{
    return v->type == JSCAN_NONE || v->type == JSCAN_NULL;
}

/* Text that is not JSON can only come from the gRPC door (the HTTP door
 * copies JSON it parsed), so it is named by its ChatRequest field. */
static int cs_parse(cs_t *c, const char *text, const char *path, jscan_value_t *root)
{
    jscan_error_t je;
    if (jscan_document(text, strlen(text), root, &je) < 0)
        return cs_fail(c, path, "invalid JSON at byte %zu: %s", je.offset, je.msg);
    return 0;
}

/* "<base>.<key>" or "<base>[<i>]" into dst. */
static void cs_join(char *dst, size_t n, const char *base, const char *key)
{
    snprintf(dst, n, "%s%s%s", base, base[0] ? "." : "", key);
}

static void cs_index(char *dst, size_t n, const char *base, size_t i)
{
    snprintf(dst, n, "%s[%zu]", base, i);
}

/* An optional member of the expected JSON type; `required` refuses absence.
 * *out gets the value. */
static int cs_member(cs_t *c, const jscan_value_t *obj, const char *base, const char *key,
                     jscan_type_t want, bool required, jscan_value_t *out)
{
    static const char *const names[] = {
        [JSCAN_OBJECT] = "an object", [JSCAN_ARRAY] = "an array", [JSCAN_STRING] = "a string",
        [JSCAN_NUMBER] = "a number",  [JSCAN_TRUE] = "a boolean",
    };
    char path[256];
    cs_join(path, sizeof(path), base, key);
    *out = cs_lookup(c, obj, key);
    if (cs_absent(out)) {
        if (required)
            return cs_fail(c, path, "required");
        return 0;
    }
    bool ok = want == JSCAN_TRUE ? (out->type == JSCAN_TRUE || out->type == JSCAN_FALSE)
                                 : out->type == want;
    if (!ok)
        return cs_fail(c, path, "expected %s", names[want]);
    return 0;
}

/* A string member that must be one of `allowed` (NULL-terminated); `list`
 * is how the message spells the set. */
static int cs_enum(cs_t *c, const jscan_value_t *obj, const char *base, const char *key,
                   bool required, const char *const *allowed, const char *list, jscan_value_t *out)
{
    if (cs_member(c, obj, base, key, JSCAN_STRING, required, out) < 0)
        return -1;
    if (out->type != JSCAN_STRING)
        return 0;
    for (size_t i = 0; allowed[i]; i++)
        if (jscan_string_eq(out, allowed[i]))
            return 0;
    char path[256];
    cs_join(path, sizeof(path), base, key);
    return cs_fail(c, path, "expected one of %s", list);
}

/* OpenAI's function and schema names: ^[a-zA-Z0-9_-]{1,64}$. */
static int cs_name(cs_t *c, const jscan_value_t *obj, const char *base, const char *key)
{
    jscan_value_t v;
    if (cs_member(c, obj, base, key, JSCAN_STRING, true, &v) < 0)
        return -1;
    char path[256], buf[80];
    cs_join(path, sizeof(path), base, key);
    if (v.len > 66)
        return cs_fail(c, path, "expected at most 64 characters of a-z, A-Z, 0-9, '_' or '-'");
    size_t n = jscan_string_decode(&v, buf);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)buf[i]) || buf[i] == '_' || buf[i] == '-';
    if (!ok)
        return cs_fail(c, path, "expected 1 to 64 characters of a-z, A-Z, 0-9, '_' or '-'");
    return 0;
}

static int cs_integer(cs_t *c, const jscan_value_t *v, const char *path, int64_t lo, int64_t hi)
{
    int64_t n;
    if (v->type != JSCAN_NUMBER || !jscan_number_is_integer(v) || jscan_int64(v, &n) < 0 ||
        n < lo || n > hi)
        return cs_fail(c, path, "expected an integer from %lld to %lld", (long long)lo,
                       (long long)hi);
    return 0;
}

/* --- tools ---------------------------------------------------------------- */

static const char *const cs_tool_types[] = {"function", "custom", NULL};

static int cs_function(cs_t *c, const jscan_value_t *fn, const char *base)
{
    jscan_value_t v;
    if (cs_name(c, fn, base, "name") < 0 ||
        cs_member(c, fn, base, "description", JSCAN_STRING, false, &v) < 0 ||
        cs_member(c, fn, base, "parameters", JSCAN_OBJECT, false, &v) < 0 ||
        cs_member(c, fn, base, "strict", JSCAN_TRUE, false, &v) < 0)
        return -1;
    return 0;
}

static int cs_tools(cs_t *c, const char *text, size_t *n_tools)
{
    jscan_value_t root, t, v;
    if (cs_parse(c, text, "tools_json", &root) < 0)
        return -1;
    if (root.type != JSCAN_ARRAY)
        return cs_fail(c, "tools", "expected an array of tools");
    jscan_iter_t it;
    size_t i = 0;
    jscan_iter_init(&it, &root);
    for (; jscan_array_next(&it, &t, NULL) == 1; i++) {
        char path[64], sub[96];
        cs_index(path, sizeof(path), "tools", i);
        if (i >= CHAT_SCHEMA_MAX_TOOLS)
            return cs_fail(c, "tools", "at most %d tools", CHAT_SCHEMA_MAX_TOOLS);
        if (t.type != JSCAN_OBJECT)
            return cs_fail(c, path, "expected an object");
        if (cs_enum(c, &t, path, "type", true, cs_tool_types, "function, custom", &v) < 0)
            return -1;
        if (jscan_string_eq(&v, "function")) {
            cs_join(sub, sizeof(sub), path, "function");
            if (cs_member(c, &t, path, "function", JSCAN_OBJECT, true, &v) < 0 ||
                cs_function(c, &v, sub) < 0)
                return -1;
        } else {
            cs_join(sub, sizeof(sub), path, "custom");
            if (cs_member(c, &t, path, "custom", JSCAN_OBJECT, true, &v) < 0 ||
                cs_name(c, &v, sub, "name") < 0)
                return -1;
        }
    }
    if (i == 0)
        return cs_fail(c, "tools", "expected at least one tool");
    *n_tools = i;
    return 0;
}

int chat_schema_check_functions(const char *functions_json, char *err, size_t errlen)
{
    cs_t c = {.err = err, .errlen = errlen};
    jscan_value_t root, fn;
    if (cs_parse(&c, functions_json, "functions", &root) < 0)
        return -1;
    if (root.type != JSCAN_ARRAY)
        return cs_fail(&c, "functions", "expected an array");
    jscan_iter_t it;
    size_t i = 0;
    jscan_iter_init(&it, &root);
    for (; jscan_array_next(&it, &fn, NULL) == 1; i++) {
        char path[48];
        cs_index(path, sizeof(path), "functions", i);
        if (fn.type != JSCAN_OBJECT)
            return cs_fail(&c, path, "expected an object");
        if (cs_function(&c, &fn, path) < 0)
            return -1;
    }
    if (i == 0)
        return cs_fail(&c, "functions", "expected at least one function");
    if (i > CHAT_SCHEMA_MAX_TOOLS)
        return cs_fail(&c, "functions", "at most %d functions", CHAT_SCHEMA_MAX_TOOLS);
    return 0;
}

/* Whether the tools array names a function `name` (a string value). */
static bool cs_tools_have(const char *tools_text, const jscan_value_t *name)
{
    jscan_value_t root, t;
    jscan_iter_t it;
    if (jscan_document(tools_text, strlen(tools_text), &root, NULL) < 0 || root.type != JSCAN_ARRAY)
        return false;
    jscan_iter_init(&it, &root);
    while (jscan_array_next(&it, &t, NULL) == 1) {
        jscan_value_t fn = cs_get(&t, "function");
        if (fn.type != JSCAN_OBJECT)
            fn = cs_get(&t, "custom");
        jscan_value_t n = cs_get(&fn, "name");
        if (n.type == JSCAN_STRING && jscan_string_same(&n, name))
            return true;
    }
    return false;
}

static int cs_tool_choice(cs_t *c, const char *text, const char *tools_text)
{
    static const char *const modes[] = {"none", "auto", "required", NULL};
    static const char *const types[] = {"function", "allowed_tools", "custom", NULL};
    jscan_value_t root, v, fn;
    if (cs_parse(c, text, "tool_choice_json", &root) < 0)
        return -1;
    bool has_tools = tools_text && tools_text[0];
    if (root.type == JSCAN_STRING) {
        for (size_t i = 0; modes[i]; i++)
            if (jscan_string_eq(&root, modes[i])) {
                if (i == 2 && !has_tools)
                    return cs_fail(c, "tool_choice", "\"required\" needs tools");
                return 0;
            }
        return cs_fail(c, "tool_choice",
                       "expected \"none\", \"auto\", \"required\" or an object naming a tool");
    }
    if (root.type != JSCAN_OBJECT)
        return cs_fail(c, "tool_choice",
                       "expected \"none\", \"auto\", \"required\" or an object naming a tool");
    if (cs_enum(c, &root, "tool_choice", "type", true, types, "function, allowed_tools, custom",
                &v) < 0)
        return -1;
    if (jscan_string_eq(&v, "allowed_tools")) {
        static const char *const am[] = {"auto", "required", NULL};
        jscan_value_t at, x;
        return cs_member(c, &root, "tool_choice", "allowed_tools", JSCAN_OBJECT, true, &at) < 0 ||
                       cs_enum(c, &at, "tool_choice.allowed_tools", "mode", true, am,
                               "auto, required", &x) < 0 ||
                       cs_member(c, &at, "tool_choice.allowed_tools", "tools", JSCAN_ARRAY, true,
                                 &x) < 0
                   ? -1
                   : 0;
    }
    const char *key = jscan_string_eq(&v, "function") ? "function" : "custom";
    char sub[64];
    cs_join(sub, sizeof(sub), "tool_choice", key);
    if (cs_member(c, &root, "tool_choice", key, JSCAN_OBJECT, true, &fn) < 0 ||
        cs_name(c, &fn, sub, "name") < 0)
        return -1;
    if (!has_tools)
        return cs_fail(c, "tool_choice", "naming a tool needs tools");
    jscan_value_t name = cs_lookup(c, &fn, "name");
    if (!cs_tools_have(tools_text, &name)) {
        char path[96];
        cs_join(path, sizeof(path), sub, "name");
        return cs_fail(c, path, "names no tool in tools");
    }
    return 0;
}

/* --- response_format ------------------------------------------------------ */

static int cs_response_format(cs_t *c, const char *text)
{
    static const char *const types[] = {"text", "json_object", "json_schema", NULL};
    jscan_value_t root, v, js;
    if (cs_parse(c, text, "response_format_json", &root) < 0)
        return -1;
    if (root.type != JSCAN_OBJECT)
        return cs_fail(c, "response_format", "expected an object");
    if (cs_enum(c, &root, "response_format", "type", true, types, "text, json_object, json_schema",
                &v) < 0)
        return -1;
    if (!jscan_string_eq(&v, "json_schema"))
        return 0;
    const char *base = "response_format.json_schema";
    if (cs_member(c, &root, "response_format", "json_schema", JSCAN_OBJECT, true, &js) < 0 ||
        cs_name(c, &js, base, "name") < 0 ||
        cs_member(c, &js, base, "description", JSCAN_STRING, false, &v) < 0 ||
        cs_member(c, &js, base, "schema", JSCAN_OBJECT, false, &v) < 0 ||
        cs_member(c, &js, base, "strict", JSCAN_TRUE, false, &v) < 0)
        return -1;
    return 0;
}

/* --- messages ------------------------------------------------------------- */

static int cs_tool_calls(cs_t *c, const char *text, size_t i)
{
    char base[64];
    snprintf(base, sizeof(base), "messages[%zu].tool_calls_json", i);
    jscan_value_t root, t, v;
    if (cs_parse(c, text, base, &root) < 0)
        return -1;
    snprintf(base, sizeof(base), "messages[%zu].tool_calls", i);
    if (root.type != JSCAN_ARRAY)
        return cs_fail(c, base, "expected an array");
    jscan_iter_t it;
    jscan_iter_init(&it, &root);
    for (size_t j = 0; jscan_array_next(&it, &t, NULL) == 1; j++) {
        char path[96], sub[112];
        cs_index(path, sizeof(path), base, j);
        if (t.type != JSCAN_OBJECT)
            return cs_fail(c, path, "expected an object");
        if (cs_member(c, &t, path, "id", JSCAN_STRING, true, &v) < 0 ||
            cs_enum(c, &t, path, "type", true, cs_tool_types, "function, custom", &v) < 0)
            return -1;
        bool custom = jscan_string_eq(&v, "custom");
        cs_join(sub, sizeof(sub), path, custom ? "custom" : "function");
        if (cs_member(c, &t, path, custom ? "custom" : "function", JSCAN_OBJECT, true, &v) < 0 ||
            cs_member(c, &v, sub, "name", JSCAN_STRING, true, &t) < 0 ||
            cs_member(c, &v, sub, custom ? "input" : "arguments", JSCAN_STRING, true, &t) < 0)
            return -1;
    }
    return 0;
}

/* http(s)://host… or data:… (the scheme read from the decoded text: an
 * encoder may write "https:\/\/"). */
static bool cs_url_ok(const jscan_value_t *v)
{
    char head[16];
    size_t n = 0;
    if (memchr(v->p, '\\', v->len < 64 ? v->len : 64)) {
        /* Escapes near the start: decode the whole string (rare). */
        char *all = malloc(v->len);
        if (!all)
            return false;
        n = jscan_string_decode(v, all);
        n = n < sizeof(head) - 1 ? n : sizeof(head) - 1;
        memcpy(head, all, n);
        free(all);
    } else {
        n = v->len - 2 < sizeof(head) - 1 ? v->len - 2 : sizeof(head) - 1;
        memcpy(head, v->p + 1, n);
    }
    head[n] = '\0';
    return (!strncmp(head, "https://", 8) && n > 8) || (!strncmp(head, "http://", 7) && n > 7) ||
           !strncmp(head, "data:", 5);
}

static int cs_part(cs_t *c, const jscan_value_t *p, const char *path, const char *role)
{
    static const char *const types[] = {"text", "image_url", "input_audio",
                                        "file", "refusal",   NULL};
    static const char *const details[] = {"auto", "low", "high", NULL};
    static const char *const formats[] = {"wav", "mp3", NULL};
    jscan_value_t type, v, o;
    char sub[160];
    if (p->type != JSCAN_OBJECT)
        return cs_fail(c, path, "expected an object");
    if (cs_enum(c, p, path, "type", true, types, "text, image_url, input_audio, file, refusal",
                &type) < 0)
        return -1;
    bool user = !strcmp(role, "user");
    bool assistant = !strcmp(role, "assistant");
    if (jscan_string_eq(&type, "text"))
        return cs_member(c, p, path, "text", JSCAN_STRING, true, &v);
    if (jscan_string_eq(&type, "refusal")) {
        if (!assistant) {
            cs_join(sub, sizeof(sub), path, "type");
            return cs_fail(c, sub, "'refusal' parts belong to assistant messages");
        }
        return cs_member(c, p, path, "refusal", JSCAN_STRING, true, &v);
    }
    if (!user) {
        cs_join(sub, sizeof(sub), path, "type");
        char t[16] = "";
        if (type.len < sizeof(t))
            jscan_string_decode(&type, t);
        return cs_fail(c, sub, "'%s' parts belong to user messages, not %s", t, role);
    }
    if (jscan_string_eq(&type, "image_url")) {
        cs_join(sub, sizeof(sub), path, "image_url");
        if (cs_member(c, p, path, "image_url", JSCAN_OBJECT, true, &o) < 0 ||
            cs_member(c, &o, sub, "url", JSCAN_STRING, true, &v) < 0)
            return -1;
        if (!cs_url_ok(&v)) {
            char u[192];
            cs_join(u, sizeof(u), sub, "url");
            return cs_fail(c, u, "expected an http(s) URL or a data: URL");
        }
        return cs_enum(c, &o, sub, "detail", false, details, "auto, low, high", &v);
    }
    if (jscan_string_eq(&type, "input_audio")) {
        cs_join(sub, sizeof(sub), path, "input_audio");
        return cs_member(c, p, path, "input_audio", JSCAN_OBJECT, true, &o) < 0 ||
                       cs_member(c, &o, sub, "data", JSCAN_STRING, true, &v) < 0 ||
                       cs_enum(c, &o, sub, "format", true, formats, "wav, mp3", &v) < 0
                   ? -1
                   : 0;
    }
    /* file */
    cs_join(sub, sizeof(sub), path, "file");
    if (cs_member(c, p, path, "file", JSCAN_OBJECT, true, &o) < 0 ||
        cs_member(c, &o, sub, "file_data", JSCAN_STRING, false, &v) < 0 ||
        cs_member(c, &o, sub, "file_id", JSCAN_STRING, false, &v) < 0 ||
        cs_member(c, &o, sub, "filename", JSCAN_STRING, false, &v) < 0)
        return -1;
    jscan_value_t data = cs_lookup(c, &o, "file_data"), id = cs_lookup(c, &o, "file_id");
    if (cs_absent(&data) && cs_absent(&id))
        return cs_fail(c, sub, "expected file_data or file_id");
    return 0;
}

int chat_schema_check_parts(const char *parts_json, size_t i, const char *role, char *err,
                            size_t errlen)
{
    cs_t c = {.err = err, .errlen = errlen};
    char base[48];
    snprintf(base, sizeof(base), "messages[%zu].content_parts_json", i);
    jscan_value_t root, p;
    if (cs_parse(&c, parts_json, base, &root) < 0)
        return -1;
    snprintf(base, sizeof(base), "messages[%zu].content", i);
    if (root.type != JSCAN_ARRAY)
        return cs_fail(&c, base, "expected a string or an array of parts");
    jscan_iter_t it;
    size_t j = 0;
    jscan_iter_init(&it, &root);
    for (; jscan_array_next(&it, &p, NULL) == 1; j++) {
        char path[64];
        cs_index(path, sizeof(path), base, j);
        if (cs_part(&c, &p, path, role ? role : "") < 0)
            return -1;
    }
    if (j == 0)
        return cs_fail(&c, base, "expected at least one part");
    return 0;
}

/* --- members passed through ----------------------------------------------- */

static int cs_logit_bias(cs_t *c, const jscan_value_t *lb)
{
    if (lb->type != JSCAN_OBJECT)
        return cs_fail(c, "logit_bias", "expected an object of token ids to numbers");
    jscan_iter_t it;
    jscan_value_t k, v;
    size_t n = 0;
    jscan_iter_init(&it, lb);
    while (jscan_object_next(&it, &k, &v, NULL) == 1) {
        char key[32] = "", path[48];
        bool digits = k.len >= 3 && k.len <= sizeof(key); /* decoding needs k.len bytes */
        if (digits)
            jscan_string_decode(&k, key);
        for (size_t i = 0; digits && key[i]; i++)
            digits = isdigit((unsigned char)key[i]);
        if (!digits || !key[0]) {
            snprintf(path, sizeof(path), "logit_bias");
            return cs_fail(c, path, "keys must be token ids (decimal integers)");
        }
        snprintf(path, sizeof(path), "logit_bias.%s", key);
        double d;
        if (v.type != JSCAN_NUMBER || jscan_double(&v, &d) < 0 || d < -100 || d > 100)
            return cs_fail(c, path, "expected a number from -100 to 100");
        if (++n > 1024)
            return cs_fail(c, "logit_bias", "at most 1024 entries");
    }
    return 0;
}

/* Members of extra_body_json whose schema OpenAI documents: one pass over
 * the members, each checked by its key (a body carries many members and
 * this runs per request). */
typedef enum {
    CS_X_MOVED,
    CS_X_N,
    CS_X_TOP_LOGPROBS,
    CS_X_LOGIT_BIAS,
    CS_X_BOOL,
    CS_X_STRING,
    CS_X_OBJECT,
    CS_X_MODALITIES,
    CS_X_METADATA,
} cs_extra_kind_t;

static const struct {
    const char *key;
    cs_extra_kind_t kind;
    const char *use; /* CS_X_MOVED: the ChatRequest field to set instead */
} cs_extra_keys[] = {
    /* Legacy and renamed forms have their own field on ChatRequest; the HTTP
     * door maps them, so here they came in extra_body_json over gRPC. */
    {"functions", CS_X_MOVED, "tools_json"},
    {"function_call", CS_X_MOVED, "tool_choice_json"},
    {"max_completion_tokens", CS_X_MOVED, "max_tokens"},
    {"n", CS_X_N, NULL},
    {"top_logprobs", CS_X_TOP_LOGPROBS, NULL},
    {"logit_bias", CS_X_LOGIT_BIAS, NULL},
    {"logprobs", CS_X_BOOL, NULL},
    {"parallel_tool_calls", CS_X_BOOL, NULL},
    {"store", CS_X_BOOL, NULL},
    {"reasoning_effort", CS_X_STRING, NULL},
    {"service_tier", CS_X_STRING, NULL},
    {"verbosity", CS_X_STRING, NULL},
    {"prompt_cache_key", CS_X_STRING, NULL},
    {"safety_identifier", CS_X_STRING, NULL},
    {"prediction", CS_X_OBJECT, NULL},
    {"audio", CS_X_OBJECT, NULL},
    {"web_search_options", CS_X_OBJECT, NULL},
    {"modalities", CS_X_MODALITIES, NULL},
    {"metadata", CS_X_METADATA, NULL},
};

static int cs_extra_member(cs_t *c, size_t i, const jscan_value_t *v)
{
    const char *key = cs_extra_keys[i].key;
    if (cs_extra_keys[i].kind == CS_X_MOVED)
        return cs_fail(c, key, "set %s instead (llmgw sends it under the name the provider takes)",
                       cs_extra_keys[i].use);
    if (cs_absent(v))
        return 0;
    jscan_iter_t it;
    jscan_value_t k, m;
    switch (cs_extra_keys[i].kind) {
    case CS_X_N:
        return cs_integer(c, v, key, 1, CHAT_SCHEMA_MAX_N);
    case CS_X_TOP_LOGPROBS:
        return cs_integer(c, v, key, 0, CHAT_SCHEMA_MAX_TOP_LOGPROBS);
    case CS_X_LOGIT_BIAS:
        return cs_logit_bias(c, v);
    case CS_X_BOOL:
        return v->type == JSCAN_TRUE || v->type == JSCAN_FALSE
                   ? 0
                   : cs_fail(c, key, "expected a boolean");
    case CS_X_STRING:
        return v->type == JSCAN_STRING ? 0 : cs_fail(c, key, "expected a string");
    case CS_X_OBJECT:
        return v->type == JSCAN_OBJECT ? 0 : cs_fail(c, key, "expected an object");
    case CS_X_MODALITIES:
        if (v->type != JSCAN_ARRAY)
            return cs_fail(c, key, "expected an array");
        jscan_iter_init(&it, v);
        for (size_t j = 0; jscan_array_next(&it, &m, NULL) == 1; j++)
            if (m.type != JSCAN_STRING) {
                char path[32];
                cs_index(path, sizeof(path), "modalities", j);
                return cs_fail(c, path, "expected a string");
            }
        return 0;
    case CS_X_METADATA:
        if (v->type != JSCAN_OBJECT)
            return cs_fail(c, key, "expected an object");
        jscan_iter_init(&it, v);
        while (jscan_object_next(&it, &k, &m, NULL) == 1)
            if (m.type != JSCAN_STRING) {
                char name[72] = "", path[96];
                if (k.len < sizeof(name))
                    jscan_string_decode(&k, name);
                snprintf(path, sizeof(path), "metadata.%s", name);
                return cs_fail(c, path, "expected a string");
            }
        return 0;
    case CS_X_MOVED:
        break;
    }
    return 0;
}

static int cs_extra(cs_t *c, const char *text)
{
    jscan_value_t root, k, v;
    if (cs_parse(c, text, "extra_body_json", &root) < 0)
        return -1;
    if (root.type != JSCAN_OBJECT)
        return cs_fail(c, "extra_body_json", "expected a JSON object");
    jscan_iter_t it;
    jscan_iter_init(&it, &root);
    while (jscan_object_next(&it, &k, &v, NULL) == 1) {
        if (k.len > 24)
            continue; /* longer than any key above */
        for (size_t i = 0; i < sizeof(cs_extra_keys) / sizeof(cs_extra_keys[0]); i++)
            if (jscan_string_eq(&k, cs_extra_keys[i].key)) {
                if (cs_extra_member(c, i, &v) < 0)
                    return -1;
                break;
            }
    }
    return 0;
}

int chat_schema_check(const Llmgw__V1__ChatRequest *r, char *err, size_t errlen)
{
    cs_t c = {.err = err, .errlen = errlen};
    size_t n_tools = 0;
    if (r->tools_json && r->tools_json[0] && cs_tools(&c, r->tools_json, &n_tools) < 0)
        return -1;
    if (r->tool_choice_json && r->tool_choice_json[0] &&
        cs_tool_choice(&c, r->tool_choice_json, r->tools_json) < 0)
        return -1;
    if (r->response_format_json && r->response_format_json[0] &&
        cs_response_format(&c, r->response_format_json) < 0)
        return -1;
    for (size_t i = 0; i < r->n_messages; i++) {
        const Llmgw__V1__Message *m = r->messages[i];
        if (m->tool_calls_json && m->tool_calls_json[0]) {
            if (strcmp(m->role, "assistant") != 0) {
                char path[48];
                snprintf(path, sizeof(path), "messages[%zu].tool_calls", i);
                return cs_fail(&c, path, "only assistant messages call tools");
            }
            if (cs_tool_calls(&c, m->tool_calls_json, i) < 0)
                return -1;
        }
        if (m->content_parts_json && m->content_parts_json[0] &&
            chat_schema_check_parts(m->content_parts_json, i, m->role, err, errlen) < 0)
            return -1;
    }
    if (r->extra_body_json && r->extra_body_json[0] && cs_extra(&c, r->extra_body_json) < 0)
        return -1;
    return 0;
}

int chat_schema_api_version_ok(const char *v)
{
    /* YYYY-MM-DD */
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (!v[i] || (dash ? v[i] != '-' : !isdigit((unsigned char)v[i])))
            return 0;
    }
    return v[10] == '\0' || strcmp(v + 10, "-preview") == 0;
}
