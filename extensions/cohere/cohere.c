/* cohere: an llmgw extension adding the "cohere" wire format — Cohere's v2
 * Chat API (POST /v2/chat), after its public API reference.
 *
 *   request   OpenAI chat.completions JSON -> {"model", "messages", "stream",
 *             "max_tokens", "temperature", "p", "stop_sequences", "seed",
 *             "frequency_penalty", "presence_penalty", "tools", "tool_choice",
 *             "response_format"}; a field Cohere cannot express is an error
 *             naming it ("n: the cohere wire format answers one choice")
 *   answer    {"id", "finish_reason", "message": {"content": [{"type": "text",
 *             "text"}], "tool_calls"}, "usage": {"tokens": {"input_tokens",
 *             "output_tokens"}}} -> chat.completion
 *   stream    typed events (message-start, content-delta, tool-call-start,
 *             tool-call-delta, message-end, ...) -> chat.completion.chunk; the
 *             stream ends with message-end, which carries finish_reason and usage
 *   errors    {"message": "..."} bodies; the HTTP status decides the class
 *
 * Config: {"max_tokens_default"?: N} — sent when the request has no
 * max_tokens. Stateless apart from the config, so every function may run on
 * several event loops at once; per stream it keeps the message id and the
 * tool-call count. Only llmgw/extension.h and jansson are used.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/extension.h"

typedef struct {
    json_int_t max_tokens_default; /* 0: none */
} cohere_t;

typedef struct {
    char id[128];
    int tool_calls; /* tool-call-start events seen */
} cohere_stream_t;

static const llmgw_ext_api_t *api;

static int emit(llmgw_ext_buf_t *out, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    int rc = s ? api->buf_append(out, s, strlen(s)) : -1;
    free(s);
    json_decref(v);
    return rc;
}

/* --- request ------------------------------------------------------------- */

/* An OpenAI content value (string or parts) as Cohere content: a string, or
 * text parts. */
static json_t *cohere_content(json_t *c, size_t i, char *err, size_t errlen)
{
    if (json_is_string(c) || json_is_null(c))
        return json_string(json_is_string(c) ? json_string_value(c) : "");
    if (!json_is_array(c)) {
        snprintf(err, errlen, "messages[%zu].content: expected a string or text parts", i);
        return NULL;
    }
    json_t *parts = json_array();
    size_t k;
    json_t *p;
    json_array_foreach(c, k, p)
    {
        const char *type = json_string_value(json_object_get(p, "type"));
        const char *text = json_string_value(json_object_get(p, "text"));
        if (!type || strcmp(type, "text") != 0 || !text) {
            snprintf(err, errlen,
                     "messages[%zu].content[%zu].type: the cohere wire format takes text parts "
                     "only",
                     i, k);
            json_decref(parts);
            return NULL;
        }
        json_array_append_new(parts, json_pack("{s:s,s:s}", "type", "text", "text", text));
    }
    return parts;
}

static json_t *cohere_messages(json_t *msgs, char *err, size_t errlen)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
                      strcmp(role, "tool") && strcmp(role, "developer"))) {
            snprintf(err, errlen, "messages[%zu].role: expected system, user, assistant or tool",
                     i);
            goto fail;
        }
        json_t *content = cohere_content(json_object_get(m, "content"), i, err, errlen);
        if (!content)
            goto fail;
        json_t *cm = json_pack("{s:s,s:o}", "role", strcmp(role, "developer") ? role : "system",
                               "content", content);
        json_t *tc = json_object_get(m, "tool_calls");
        if (tc && !strcmp(role, "assistant"))
            json_object_set(cm, "tool_calls", tc); /* the same shape in v2 */
        json_t *tcid = json_object_get(m, "tool_call_id");
        if (!strcmp(role, "tool")) {
            if (!json_is_string(tcid)) {
                snprintf(err, errlen, "messages[%zu].tool_call_id: required for a tool message", i);
                json_decref(cm);
                goto fail;
            }
            json_object_set(cm, "tool_call_id", tcid);
        }
        json_array_append_new(out, cm);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static int cohere_build(void *state, const char *openai_json, size_t len, int stream,
                        llmgw_ext_buf_t *out, char *err, size_t errlen)
{
    cohere_t *c = state;
    json_error_t jerr;
    json_t *in = json_loadb(openai_json, len, 0, &jerr);
    json_t *body = json_object();
    if (!json_is_object(in)) {
        snprintf(err, errlen, "request: not a JSON object");
        goto fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (json_is_null(v) || !strcmp(k, "stream") || !strcmp(k, "stream_options") ||
            !strcmp(k, "user"))
            continue; /* transport details and metadata Cohere has no field for */
        if (!strcmp(k, "model")) {
            json_object_set(body, "model", v);
        } else if (!strcmp(k, "messages")) {
            json_t *m = json_is_array(v) ? cohere_messages(v, err, errlen) : NULL;
            if (!m) {
                if (!json_is_array(v))
                    snprintf(err, errlen, "messages: expected an array");
                goto fail;
            }
            json_object_set_new(body, "messages", m);
        } else if (!strcmp(k, "max_tokens") || !strcmp(k, "max_completion_tokens")) {
            json_object_set(body, "max_tokens", v);
        } else if (!strcmp(k, "temperature") || !strcmp(k, "seed") ||
                   !strcmp(k, "frequency_penalty") || !strcmp(k, "presence_penalty") ||
                   !strcmp(k, "tools") || !strcmp(k, "response_format")) {
            json_object_set(body, k, v);
        } else if (!strcmp(k, "top_p")) {
            json_object_set(body, "p", v);
        } else if (!strcmp(k, "stop")) {
            json_t *arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
            json_object_set_new(body, "stop_sequences", arr);
        } else if (!strcmp(k, "tool_choice")) {
            const char *s = json_string_value(v);
            if (s && !strcmp(s, "auto"))
                continue;
            if (!s || (strcmp(s, "required") && strcmp(s, "none"))) {
                snprintf(err, errlen,
                         "tool_choice: the cohere wire format takes auto, required or none");
                goto fail;
            }
            json_object_set_new(body, "tool_choice",
                                json_string(strcmp(s, "none") ? "REQUIRED" : "NONE"));
        } else if (!strcmp(k, "n")) {
            if (json_integer_value(v) != 1) {
                snprintf(err, errlen, "n: the cohere wire format answers one choice");
                goto fail;
            }
        } else {
            snprintf(err, errlen, "%.64s: the cohere wire format has no such field", k);
            goto fail;
        }
    }
    if (!json_object_get(body, "max_tokens") && c->max_tokens_default > 0)
        json_object_set_new(body, "max_tokens", json_integer(c->max_tokens_default));
    json_object_set_new(body, "stream", json_boolean(stream));
    json_decref(in);
    return emit(out, body) < 0 ? (snprintf(err, errlen, "request: too large"), -1) : 0;
fail:
    json_decref(in);
    json_decref(body);
    return -1;
}

/* --- answers --------------------------------------------------------------- */

static const char *cohere_finish(const char *r)
{
    if (!r)
        return NULL;
    if (!strcmp(r, "COMPLETE") || !strcmp(r, "STOP_SEQUENCE"))
        return "stop";
    if (!strcmp(r, "MAX_TOKENS"))
        return "length";
    if (!strcmp(r, "TOOL_CALL"))
        return "tool_calls";
    return NULL; /* ERROR, TIMEOUT: the answer failed */
}

/* usage.tokens (what the model used) -> OpenAI usage; billed_units when absent. */
static json_t *cohere_usage(json_t *u)
{
    json_t *t = json_object_get(u, "tokens");
    if (!json_is_object(t))
        t = json_object_get(u, "billed_units");
    json_int_t in = json_integer_value(json_object_get(t, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(t, "output_tokens"));
    if (json_is_real(json_object_get(t, "input_tokens")))
        in = (json_int_t)json_real_value(json_object_get(t, "input_tokens"));
    if (json_is_real(json_object_get(t, "output_tokens")))
        out = (json_int_t)json_real_value(json_object_get(t, "output_tokens"));
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", in, "completion_tokens", out, "total_tokens",
                     in + out);
}

static int cohere_parse(void *state, const char *body, size_t len, llmgw_ext_buf_t *out, char *err,
                        size_t errlen)
{
    json_error_t jerr;
    json_t *r = json_loadb(body, len, 0, &jerr);
    json_t *msg = json_object_get(r, "message");
    json_t *content = json_object_get(msg, "content");
    if (!json_is_object(r) || !json_is_object(msg)) {
        snprintf(err, errlen, "cohere answer: expected an object with \"message\"");
        json_decref(r);
        return -1;
    }
    const char *reason = json_string_value(json_object_get(r, "finish_reason"));
    const char *finish = cohere_finish(reason);
    if (!finish) {
        snprintf(err, errlen, "cohere answer: finish_reason %.32s", reason ? reason : "missing");
        json_decref(r);
        return -1;
    }
    /* The text parts joined; other part types (thinking) are not answer text. */
    size_t cap = 1, used = 0, i;
    json_t *p;
    json_array_foreach(content, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "text"));
        const char *type = json_string_value(json_object_get(p, "type"));
        if (t && (!type || !strcmp(type, "text")))
            cap += strlen(t);
    }
    char *text = malloc(cap);
    if (!text) {
        json_decref(r);
        return -1;
    }
    json_array_foreach(content, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "text"));
        const char *type = json_string_value(json_object_get(p, "type"));
        if (t && (!type || !strcmp(type, "text"))) {
            memcpy(text + used, t, strlen(t));
            used += strlen(t);
        }
    }
    text[used] = '\0';
    json_t *m = json_pack("{s:s,s:s}", "role", "assistant", "content", text);
    free(text);
    json_t *tc = json_object_get(msg, "tool_calls");
    if (json_is_array(tc) && json_array_size(tc) > 0)
        json_object_set(m, "tool_calls", tc);
    const char *id = json_string_value(json_object_get(r, "id"));
    json_t *o = json_pack("{s:s,s:s,s:[{s:i,s:o,s:s}],s:o}", "id", id ? id : "", "object",
                          "chat.completion", "choices", "index", 0, "message", m, "finish_reason",
                          finish, "usage", cohere_usage(json_object_get(r, "usage")));
    json_decref(r);
    if (emit(out, o) < 0) {
        snprintf(err, errlen, "cohere answer: too large");
        return -1;
    }
    return 0;
}

/* --- streams ---------------------------------------------------------------- */

static void *cohere_stream_new(void *state)
{
    return calloc(1, sizeof(cohere_stream_t));
}

static void cohere_stream_free(void *state, void *stream)
{
    free(stream);
}

/* A chunk with one choice whose delta is `delta` (taken). */
static json_t *chunk(cohere_stream_t *s, json_t *delta, const char *finish)
{
    return json_pack("{s:s,s:s,s:[{s:i,s:o,s:s?}]}", "id", s->id, "object", "chat.completion.chunk",
                     "choices", "index", 0, "delta", delta, "finish_reason", finish);
}

static int cohere_event(void *state, void *stream, const char *event, const char *data, size_t len,
                        llmgw_ext_buf_t *out, int *done, char *err, size_t errlen)
{
    cohere_stream_t *s = stream;
    if (len == 0)
        return 0;
    json_error_t jerr;
    json_t *e = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(e)) {
        snprintf(err, errlen, "cohere stream event: not a JSON object (%s)",
                 e ? "another value" : jerr.text);
        json_decref(e);
        return -1;
    }
    const char *type = json_string_value(json_object_get(e, "type"));
    if (!type)
        type = event;
    json_t *delta = json_object_get(e, "delta");
    json_t *dmsg = json_object_get(delta, "message");
    json_t *c = NULL;
    int rc = 0;
    if (!strcmp(type, "message-start")) {
        const char *id = json_string_value(json_object_get(e, "id"));
        snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
        c = chunk(s, json_pack("{s:s}", "role", "assistant"), NULL);
    } else if (!strcmp(type, "content-delta")) {
        const char *t =
            json_string_value(json_object_get(json_object_get(dmsg, "content"), "text"));
        if (t)
            c = chunk(s, json_pack("{s:s}", "content", t), NULL);
    } else if (!strcmp(type, "tool-call-start") || !strcmp(type, "tool-call-delta")) {
        json_t *tc = json_object_get(dmsg, "tool_calls");
        json_t *fn = json_object_get(tc, "function");
        const char *args = json_string_value(json_object_get(fn, "arguments"));
        json_t *call;
        if (!strcmp(type, "tool-call-start")) {
            const char *id = json_string_value(json_object_get(tc, "id"));
            const char *name = json_string_value(json_object_get(fn, "name"));
            call = json_pack("{s:i,s:s,s:s,s:{s:s,s:s}}", "index", s->tool_calls++, "id",
                             id ? id : "", "type", "function", "function", "name", name ? name : "",
                             "arguments", args ? args : "");
        } else {
            call = json_pack("{s:i,s:{s:s}}", "index", s->tool_calls > 0 ? s->tool_calls - 1 : 0,
                             "function", "arguments", args ? args : "");
        }
        c = chunk(s, json_pack("{s:[o]}", "tool_calls", call), NULL);
    } else if (!strcmp(type, "message-end")) {
        const char *reason = json_string_value(json_object_get(delta, "finish_reason"));
        const char *finish = cohere_finish(reason);
        if (!finish) {
            snprintf(err, errlen, "cohere stream ended with finish_reason %.32s",
                     reason ? reason : "missing");
            rc = -1;
        } else {
            c = chunk(s, json_object(), finish);
            json_object_set_new(c, "usage", cohere_usage(json_object_get(delta, "usage")));
            *done = 1;
        }
    }
    /* content-start, content-end, tool-plan-delta, tool-call-end, citation-*,
     * debug: nothing for an OpenAI client. */
    json_decref(e);
    if (c && emit(out, c) < 0) {
        snprintf(err, errlen, "cohere stream event: too large");
        return -1;
    }
    return rc;
}

static void cohere_map_error(void *state, const char *body, size_t len, llmgw_ext_error_t *e)
{
    json_t *r = json_loadb(body, len, 0, NULL);
    const char *m = json_string_value(json_object_get(r, "message"));
    if (m)
        snprintf(e->message, sizeof(e->message), "%s", m);
    if (e->http_status == 422)
        e->klass = LLMGW_EXT_ERR_INVALID_REQUEST;
    json_decref(r);
}

/* --- lifecycle ---------------------------------------------------------------- */

static const char *const cohere_headers[] = {"Accept: application/json", NULL};

static const llmgw_ext_adapter_t cohere_adapter = {
    .struct_size = sizeof(llmgw_ext_adapter_t),
    .wire_format = "cohere",
    .chat_path = "/v2/chat",
    .headers = cohere_headers,
    .build_request = cohere_build,
    .parse_response = cohere_parse,
    .stream_new = cohere_stream_new,
    .stream_free = cohere_stream_free,
    .stream_event = cohere_event,
    .map_error = cohere_map_error,
};

static int cohere_init(const llmgw_ext_api_t *a, const char *config_json, void **state, char *err,
                       size_t errlen)
{
    json_error_t jerr;
    json_t *cfg = json_loads(config_json, 0, &jerr);
    cohere_t *c = calloc(1, sizeof(*c));
    const char *k;
    json_t *v;
    if (!c || !json_is_object(cfg)) {
        snprintf(err, errlen, "config: expected an object");
        goto fail;
    }
    json_object_foreach(cfg, k, v)
    {
        if (strcmp(k, "max_tokens_default") != 0) {
            snprintf(err, errlen, "config.%.64s: unknown field (expected max_tokens_default)", k);
            goto fail;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(err, errlen, "config.max_tokens_default: expected an integer >= 1");
            goto fail;
        }
        c->max_tokens_default = json_integer_value(v);
    }
    json_decref(cfg);
    api = a;
    if (a->register_adapter(a->host, &cohere_adapter) < 0) {
        snprintf(err, errlen, "the cohere adapter was refused");
        free(c);
        return -1;
    }
    *state = c;
    return 0;
fail:
    json_decref(cfg);
    free(c);
    return -1;
}

static void cohere_shutdown(void *state)
{
    free(state);
}

static const llmgw_ext_info_t cohere_info = {
    .struct_size = sizeof(llmgw_ext_info_t),
    .abi_version = LLMGW_EXT_ABI_VERSION,
    .name = "cohere",
    .version = "1.0.0",
    .init = cohere_init,
    .shutdown = cohere_shutdown,
};

const llmgw_ext_info_t *llmgw_extension(void)
{
    return &cohere_info;
}
