/* sim_cohere: the Cohere v2 Chat API mode of the simulator. See
 * sim_cohere.h. Bodies are built with jansson. */
#include "sim_cohere.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

#define SIM_COHERE_STREAM_MAX (64u << 20)

static int cohere_text(json_t *content, buf_t *text, int64_t *words)
{
    if (json_is_string(content)) {
        const char *s = json_string_value(content);
        *words += (int64_t)sim_count_words(s, strlen(s));
        return text && buf_append_str(text, s) < 0 ? -1 : 0;
    }
    if (!json_is_array(content))
        return -1;
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        const char *t = json_string_value(json_object_get(p, "text"));
        if (!type || strcmp(type, "text") != 0 || !t)
            return -1;
        *words += (int64_t)sim_count_words(t, strlen(t));
        if (text && ((text->len && buf_append_char(text, ' ') < 0) || buf_append_str(text, t) < 0))
            return -1;
    }
    return 0;
}

int sim_cohere_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen)
{
    static const char *const openai_only[] = {
        "top_p", "stop", "n", "stream_options", "max_completion_tokens", "user", NULL};
    json_error_t jerr;
    memset(c, 0, sizeof(*c));
    c->max_tokens = -1;
    c->user_text = "";
    c->root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(c->root)) {
        snprintf(err, errlen, "invalid request: %s",
                 c->root ? "expected a json object" : jerr.text);
        goto fail;
    }
    for (size_t i = 0; openai_only[i]; i++)
        if (json_object_get(c->root, openai_only[i])) {
            snprintf(err, errlen, "invalid request: %s is not a valid field", openai_only[i]);
            goto fail;
        }
    json_t *model = json_object_get(c->root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        snprintf(err, errlen, "invalid request: model must be a non-empty string");
        goto fail;
    }
    c->model = json_string_value(model);
    json_t *mt = json_object_get(c->root, "max_tokens");
    if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 1)) {
        snprintf(err, errlen, "invalid request: max_tokens must be an integer >= 1");
        goto fail;
    }
    c->max_tokens = mt ? json_integer_value(mt) : -1;
    json_t *stream = json_object_get(c->root, "stream");
    if (stream && !json_is_boolean(stream)) {
        snprintf(err, errlen, "invalid request: stream must be a boolean");
        goto fail;
    }
    c->stream = json_is_true(stream);
    json_t *msgs = json_object_get(c->root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        snprintf(err, errlen, "invalid request: messages must be a non-empty array");
        goto fail;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
                      strcmp(role, "tool"))) {
            snprintf(err, errlen,
                     "invalid request: messages[%zu].role must be one of system, user, "
                     "assistant, tool",
                     i);
            goto fail;
        }
        bool user = strcmp(role, "user") == 0;
        buf_t text = BUF_INIT(SIM_COHERE_STREAM_MAX);
        int64_t words = 0;
        if (cohere_text(json_object_get(m, "content"), user ? &text : NULL, &words) < 0) {
            buf_free(&text);
            snprintf(err, errlen,
                     "invalid request: messages[%zu].content must be a string or text parts", i);
            goto fail;
        }
        c->prompt_tokens += words + 4;
        if (user) {
            free(c->user_owned);
            c->user_owned = buf_take(&text);
            if (!c->user_owned) {
                c->user_owned = strdup("");
                if (!c->user_owned) {
                    snprintf(err, errlen, "simulator out of memory");
                    goto fail;
                }
            }
            c->user_text = c->user_owned;
            c->user_len = strlen(c->user_owned);
        }
        buf_free(&text);
    }
    return 0;
fail:
    sim_chat_free(c);
    return -1;
}

static char *cohere_dump(json_t *root, size_t *len)
{
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    *len = s ? strlen(s) : 0;
    return s;
}

char *sim_cohere_error(const char *message, size_t *len)
{
    return cohere_dump(json_pack("{s:s}", "message", message), len);
}

static const char *cohere_finish(const sim_answer_t *a)
{
    return a->truncated ? "MAX_TOKENS" : "COMPLETE";
}

static json_t *cohere_usage(const sim_answer_t *a, int64_t prompt_tokens)
{
    return json_pack("{s:{s:I,s:I},s:{s:I,s:I}}", "billed_units", "input_tokens",
                     (json_int_t)prompt_tokens, "output_tokens", (json_int_t)a->nwords, "tokens",
                     "input_tokens", (json_int_t)prompt_tokens, "output_tokens",
                     (json_int_t)a->nwords);
}

char *sim_cohere_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                      size_t *len)
{
    return cohere_dump(json_pack("{s:s,s:s,s:{s:s,s:[{s:s,s:s}]},s:o}", "id", m->id,
                                 "finish_reason", cohere_finish(a), "message", "role", "assistant",
                                 "content", "type", "text", "text", a->text, "usage",
                                 cohere_usage(a, prompt_tokens)),
                       len);
}

/* "event: <type>\ndata: <json>\n\n"; takes `data`. */
static int cohere_event(buf_t *out, const char *type, json_t *data)
{
    char *s = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    int rc = s ? buf_printf(out, "event: %s\ndata: %s\n\n", type, s) : -1;
    free(s);
    return rc;
}

char *sim_cohere_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                        size_t *len)
{
    buf_t out = BUF_INIT(SIM_COHERE_STREAM_MAX);
    if (cohere_event(&out, "message-start",
                     json_pack("{s:s,s:s,s:{s:{s:s,s:[],s:[],s:[]}}}", "id", m->id, "type",
                               "message-start", "delta", "message", "role", "assistant", "content",
                               "tool_calls", "citations")) < 0 ||
        cohere_event(&out, "content-start",
                     json_pack("{s:s,s:i,s:{s:{s:{s:s,s:s}}}}", "type", "content-start", "index", 0,
                               "delta", "message", "content", "type", "text", "text", "")) < 0)
        goto fail;
    for (size_t i = 0; i < a->nwords; i++) {
        size_t start = i == 0 ? 0 : a->word_end[i - 1];
        json_t *d =
            json_pack("{s:s,s:i,s:{s:{s:{s:s%}}}}", "type", "content-delta", "index", 0, "delta",
                      "message", "content", "text", a->text + start, a->word_end[i] - start);
        if (cohere_event(&out, "content-delta", d) < 0)
            goto fail;
    }
    if (cohere_event(&out, "content-end",
                     json_pack("{s:s,s:i}", "type", "content-end", "index", 0)) < 0 ||
        cohere_event(&out, "message-end",
                     json_pack("{s:s,s:{s:s,s:o}}", "type", "message-end", "delta", "finish_reason",
                               cohere_finish(a), "usage", cohere_usage(a, prompt_tokens))) < 0)
        goto fail;
    *len = out.len;
    return buf_take(&out);
fail:
    buf_free(&out);
    *len = 0;
    return NULL;
}
