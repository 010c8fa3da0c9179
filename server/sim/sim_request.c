/* sim_request: parse and validate chat.completions and embeddings bodies.
 * See sim_request.h. Unknown fields are accepted and ignored, as a provider
 * does; the fields the simulator reads are type-checked.
 */
#include "sim_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sim_answer.h"

/* The largest text joined from content parts; bodies are capped earlier. */
#define SIM_PARTS_TEXT_MAX (16u << 20)

static const char *const sim_roles[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};

/* Sets the error message and the field path it names. */
__attribute__((format(printf, 6, 7))) static void req_err(char *err, size_t errlen, char *param,
                                                          size_t paramlen, const char *field,
                                                          const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", field, msg);
    if (param && paramlen)
        snprintf(param, paramlen, "%s", field);
}

/* Decodes `body` into an object. NULL with the error set otherwise. */
static json_t *load_object(const char *body, size_t len, char *err, size_t errlen, char *param,
                           size_t paramlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        req_err(err, errlen, param, paramlen, "request body",
                "invalid json at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        req_err(err, errlen, param, paramlen, "request body", "expected a json object");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int read_model(json_t *root, const char **model, char *err, size_t errlen, char *param,
                      size_t paramlen)
{
    json_t *m = json_object_get(root, "model");
    if (!json_is_string(m) || json_string_length(m) == 0 ||
        strlen(json_string_value(m)) != json_string_length(m)) {
        req_err(err, errlen, param, paramlen, "model", "expected a non-empty string");
        return -1;
    }
    *model = json_string_value(m);
    return 0;
}

/* An optional boolean: absent or null is false. */
static int read_bool(json_t *obj, const char *key, const char *field, bool *out, char *err,
                     size_t errlen, char *param, size_t paramlen)
{
    json_t *v = json_object_get(obj, key);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        req_err(err, errlen, param, paramlen, field, "expected a boolean");
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* Checks message i's content and counts its words. When `text` is non-NULL,
 * the content's text (string, or text parts joined by spaces) is appended. */
static int read_content(json_t *msg, size_t i, size_t *words, buf_t *text, char *err, size_t errlen,
                        char *param, size_t paramlen)
{
    char field[64];
    snprintf(field, sizeof(field), "messages[%zu].content", i);
    json_t *c = json_object_get(msg, "content");
    *words = 0;
    if (!c || json_is_null(c))
        return 0;
    if (json_is_string(c)) {
        *words = sim_count_words(json_string_value(c), json_string_length(c));
        if (text && buf_append(text, json_string_value(c), json_string_length(c)) < 0)
            goto too_big;
        return 0;
    }
    if (!json_is_array(c)) {
        req_err(err, errlen, param, paramlen, field,
                "expected a string, an array of content parts or null");
        return -1;
    }
    size_t j;
    json_t *part;
    json_array_foreach(c, j, part)
    {
        char pfield[96];
        snprintf(pfield, sizeof(pfield), "%s[%zu]", field, j);
        json_t *type = json_object_get(part, "type");
        if (!json_is_object(part) || !json_is_string(type)) {
            req_err(err, errlen, param, paramlen, pfield, "expected an object with a string type");
            return -1;
        }
        if (strcmp(json_string_value(type), "text") != 0)
            continue; /* images, audio, files: no text to echo */
        json_t *t = json_object_get(part, "text");
        if (!json_is_string(t)) {
            snprintf(pfield, sizeof(pfield), "%s[%zu].text", field, j);
            req_err(err, errlen, param, paramlen, pfield, "expected a string");
            return -1;
        }
        *words += sim_count_words(json_string_value(t), json_string_length(t));
        if (text && ((text->len && buf_append_char(text, ' ') < 0) ||
                     buf_append(text, json_string_value(t), json_string_length(t)) < 0))
            goto too_big;
    }
    return 0;
too_big:
    req_err(err, errlen, param, paramlen, field, "text too large");
    return -1;
}

static int read_messages(sim_chat_t *c, char *err, size_t errlen, char *param, size_t paramlen)
{
    json_t *msgs = json_object_get(c->root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        req_err(err, errlen, param, paramlen, "messages", "expected a non-empty array of messages");
        return -1;
    }
    /* The answer echoes the last user message: find it first so only its
     * parts are joined. */
    size_t last_user = (size_t)-1;
    size_t i;
    json_t *msg;
    json_array_foreach(msgs, i, msg)
    {
        char field[64];
        snprintf(field, sizeof(field), "messages[%zu]", i);
        if (!json_is_object(msg)) {
            req_err(err, errlen, param, paramlen, field, "expected an object");
            return -1;
        }
        json_t *role = json_object_get(msg, "role");
        size_t r = 0;
        if (json_is_string(role))
            for (; r < sizeof(sim_roles) / sizeof(sim_roles[0]); r++)
                if (strcmp(json_string_value(role), sim_roles[r]) == 0)
                    break;
        if (!json_is_string(role) || r == sizeof(sim_roles) / sizeof(sim_roles[0])) {
            snprintf(field, sizeof(field), "messages[%zu].role", i);
            req_err(err, errlen, param, paramlen, field,
                    "expected one of system, developer, user, assistant, tool, function");
            return -1;
        }
        if (strcmp(sim_roles[r], "user") == 0)
            last_user = i;
    }
    int rc = -1;
    buf_t text = BUF_INIT(SIM_PARTS_TEXT_MAX);
    c->prompt_tokens = 0;
    json_array_foreach(msgs, i, msg)
    {
        size_t words = 0;
        json_t *content = json_object_get(msg, "content");
        bool want_text = i == last_user;
        if (want_text && json_is_string(content)) {
            /* The common case: borrow the string instead of copying it. */
            c->user_text = json_string_value(content);
            c->user_len = json_string_length(content);
            want_text = false;
        }
        if (read_content(msg, i, &words, want_text ? &text : NULL, err, errlen, param, paramlen) <
            0)
            goto fail;
        if (want_text) {
            c->user_owned = buf_take(&text);
            if (!c->user_owned) {
                req_err(err, errlen, param, paramlen, "messages", "out of memory");
                goto fail;
            }
            c->user_text = c->user_owned;
            c->user_len = strlen(c->user_owned);
        }
        c->prompt_tokens += (int64_t)words + 4;
    }
    rc = 0;
fail:
    buf_free(&text);
    return rc;
}

static int read_max_tokens(sim_chat_t *c, char *err, size_t errlen, char *param, size_t paramlen)
{
    static const char *const keys[] = {"max_completion_tokens", "max_tokens"};
    c->max_tokens = -1;
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(c->root, keys[k]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            req_err(err, errlen, param, paramlen, keys[k], "expected an integer >= 1");
            return -1;
        }
        /* Both given: the stricter limit wins. */
        if (c->max_tokens < 0 || json_integer_value(v) < c->max_tokens)
            c->max_tokens = json_integer_value(v);
    }
    return 0;
}

int sim_chat_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen,
                   char *param, size_t paramlen)
{
    memset(c, 0, sizeof(*c));
    c->user_text = "";
    c->max_tokens = -1;
    c->root = load_object(body, len, err, errlen, param, paramlen);
    if (!c->root)
        goto fail;
    if (read_model(c->root, &c->model, err, errlen, param, paramlen) < 0)
        goto fail;
    if (read_messages(c, err, errlen, param, paramlen) < 0)
        goto fail;
    if (read_max_tokens(c, err, errlen, param, paramlen) < 0)
        goto fail;
    if (read_bool(c->root, "stream", "stream", &c->stream, err, errlen, param, paramlen) < 0)
        goto fail;
    json_t *opts = json_object_get(c->root, "stream_options");
    if (opts && !json_is_null(opts)) {
        if (!json_is_object(opts)) {
            req_err(err, errlen, param, paramlen, "stream_options", "expected an object");
            goto fail;
        }
        if (read_bool(opts, "include_usage", "stream_options.include_usage", &c->include_usage, err,
                      errlen, param, paramlen) < 0)
            goto fail;
    }
    return 0;
fail:
    sim_chat_free(c);
    return -1;
}

void sim_chat_free(sim_chat_t *c)
{
    json_decref(c->root);
    free(c->user_owned);
    memset(c, 0, sizeof(*c));
}

int sim_embed_parse(sim_embed_req_t *e, const char *body, size_t len, char *err, size_t errlen,
                    char *param, size_t paramlen)
{
    memset(e, 0, sizeof(*e));
    e->root = load_object(body, len, err, errlen, param, paramlen);
    if (!e->root)
        goto fail;
    if (read_model(e->root, &e->model, err, errlen, param, paramlen) < 0)
        goto fail;
    json_t *in = json_object_get(e->root, "input");
    bool ok = json_is_string(in) || (json_is_array(in) && json_array_size(in) > 0);
    size_t i;
    json_t *item;
    if (json_is_array(in)) {
        json_array_foreach(in, i, item)
        {
            if (!json_is_string(item))
                ok = false;
        }
    }
    if (!ok) {
        req_err(err, errlen, param, paramlen, "input",
                "expected a string or a non-empty array of strings");
        goto fail;
    }
    e->input = in;
    json_t *fmt = json_object_get(e->root, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt) || (strcmp(json_string_value(fmt), "float") != 0 &&
                                     strcmp(json_string_value(fmt), "base64") != 0)) {
            req_err(err, errlen, param, paramlen, "encoding_format",
                    "expected one of float, base64");
            goto fail;
        }
        e->base64 = strcmp(json_string_value(fmt), "base64") == 0;
    }
    return 0;
fail:
    sim_embed_free(e);
    return -1;
}

void sim_embed_free(sim_embed_req_t *e)
{
    json_decref(e->root);
    memset(e, 0, sizeof(*e));
}
