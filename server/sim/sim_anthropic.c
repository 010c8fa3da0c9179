/* sim_anthropic: the Messages API mode of the simulator. See
 * sim_anthropic.h. Bodies are built with jansson so every string from a
 * request is escaped correctly.
 */
#include "sim_anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

#define SIM_ANTH_STREAM_MAX (64u << 20)

/* The words of a content value (a string or an array of blocks), and its
 * text joined into `text` when `text` is not NULL. -1 when malformed. */
static int anth_content_words(json_t *content, buf_t *text, int64_t *words)
{
    if (json_is_string(content)) {
        const char *s = json_string_value(content);
        *words += (int64_t)sim_count_words(s, strlen(s));
        return text && buf_append_str(text, s) < 0 ? -1 : 0;
    }
    if (!json_is_array(content) || json_array_size(content) == 0)
        return -1;
    size_t i;
    json_t *blk;
    json_array_foreach(content, i, blk)
    {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (!type)
            return -1;
        const char *t = json_string_value(json_object_get(blk, "text"));
        if (strcmp(type, "text") == 0) {
            if (!t || !t[0])
                return -1; /* the API rejects empty text blocks */
            *words += (int64_t)sim_count_words(t, strlen(t));
            if (text &&
                ((text->len && buf_append_char(text, ' ') < 0) || buf_append_str(text, t) < 0))
                return -1;
        }
    }
    return 0;
}

int sim_anthropic_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    memset(c, 0, sizeof(*c));
    c->max_tokens = -1;
    c->user_text = "";
    c->root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(c->root)) {
        snprintf(err, errlen, "request body: %s", c->root ? "expected a json object" : jerr.text);
        goto fail;
    }
    json_t *model = json_object_get(c->root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        snprintf(err, errlen, "model: Field required");
        goto fail;
    }
    c->model = json_string_value(model);
    json_t *mt = json_object_get(c->root, "max_tokens");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1) {
        snprintf(err, errlen, "max_tokens: Field required (an integer >= 1)");
        goto fail;
    }
    c->max_tokens = json_integer_value(mt);
    json_t *stream = json_object_get(c->root, "stream");
    c->stream = json_is_true(stream);
    json_t *system = json_object_get(c->root, "system");
    if (system && anth_content_words(system, NULL, &c->prompt_tokens) < 0) {
        snprintf(err, errlen, "system: expected a string or text blocks");
        goto fail;
    }
    json_t *msgs = json_object_get(c->root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        snprintf(err, errlen, "messages: expected a non-empty array");
        goto fail;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            snprintf(err, errlen, "messages.%zu.role: Input should be 'user' or 'assistant'", i);
            goto fail;
        }
        if (i == 0 && strcmp(role, "user") != 0) {
            snprintf(err, errlen, "messages.0.role: the first message must use the user role");
            goto fail;
        }
        bool user = strcmp(role, "user") == 0;
        buf_t text = BUF_INIT(SIM_ANTH_STREAM_MAX);
        int64_t words = 0;
        if (anth_content_words(json_object_get(m, "content"), user ? &text : NULL, &words) < 0) {
            buf_free(&text);
            snprintf(err, errlen, "messages.%zu.content: expected a non-empty string or blocks", i);
            goto fail;
        }
        c->prompt_tokens += words + 4;
        if (user && text.len) {
            free(c->user_owned);
            c->user_owned = buf_take(&text);
            if (!c->user_owned) {
                snprintf(err, errlen, "simulator out of memory");
                goto fail;
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

static const char *anth_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static char *anth_dump(json_t *root, size_t *len)
{
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    *len = s ? strlen(s) : 0;
    return s;
}

char *sim_anthropic_error(int status, const char *message, size_t *len)
{
    return anth_dump(json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type",
                               anth_error_type(status), "message", message),
                     len);
}

static const char *anth_stop_reason(const sim_answer_t *a)
{
    return a->truncated ? "max_tokens" : "end_turn";
}

char *sim_anthropic_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                         size_t *len)
{
    return anth_dump(json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s,s:n,s:{s:I,s:I}}", "id", m->id,
                               "type", "message", "role", "assistant", "model", m->model, "content",
                               "type", "text", "text", a->text, "stop_reason", anth_stop_reason(a),
                               "stop_sequence", "usage", "input_tokens", (json_int_t)prompt_tokens,
                               "output_tokens", (json_int_t)a->nwords),
                     len);
}

/* "event: <type>\ndata: <json>\n\n"; takes `data`. */
static int anth_event(buf_t *out, const char *type, json_t *data)
{
    char *s = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    int rc = s ? buf_printf(out, "event: %s\ndata: %s\n\n", type, s) : -1;
    free(s);
    return rc;
}

char *sim_anthropic_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                           size_t *len)
{
    buf_t out = BUF_INIT(SIM_ANTH_STREAM_MAX);
    if (anth_event(&out, "message_start",
                   json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:{s:I,s:i}}}", "type",
                             "message_start", "message", "id", m->id, "type", "message", "role",
                             "assistant", "model", m->model, "content", "stop_reason",
                             "stop_sequence", "usage", "input_tokens", (json_int_t)prompt_tokens,
                             "output_tokens", 1)) < 0 ||
        anth_event(&out, "content_block_start",
                   json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start", "index", 0,
                             "content_block", "type", "text", "text", "")) < 0 ||
        anth_event(&out, "ping", json_pack("{s:s}", "type", "ping")) < 0)
        goto fail;
    for (size_t i = 0; i < a->nwords; i++) {
        size_t start = i == 0 ? 0 : a->word_end[i - 1];
        json_t *d =
            json_pack("{s:s,s:i,s:{s:s,s:s%}}", "type", "content_block_delta", "index", 0, "delta",
                      "type", "text_delta", "text", a->text + start, a->word_end[i] - start);
        if (anth_event(&out, "content_block_delta", d) < 0)
            goto fail;
    }
    if (anth_event(&out, "content_block_stop",
                   json_pack("{s:s,s:i}", "type", "content_block_stop", "index", 0)) < 0 ||
        anth_event(&out, "message_delta",
                   json_pack("{s:s,s:{s:s,s:n},s:{s:I}}", "type", "message_delta", "delta",
                             "stop_reason", anth_stop_reason(a), "stop_sequence", "usage",
                             "output_tokens", (json_int_t)a->nwords)) < 0 ||
        anth_event(&out, "message_stop", json_pack("{s:s}", "type", "message_stop")) < 0)
        goto fail;
    *len = out.len;
    return buf_take(&out);
fail:
    buf_free(&out);
    *len = 0;
    return NULL;
}
