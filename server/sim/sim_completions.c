/* sim_completions: see sim_completions.h. */
#include "sim_completions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"

#define SIM_COMPL_PROMPT_MAX (8u << 20)
#define SIM_COMPL_STREAM_MAX (16u << 20)

static int compl_fail(char *err, size_t errlen, char *param, size_t paramlen, const char *field,
                      const char *msg)
{
    snprintf(err, errlen, "%s: %s", field, msg);
    snprintf(param, paramlen, "%s", field);
    return -1;
}

/* The prompt's text: a string, or an array of strings joined by a space. */
static int compl_prompt(sim_chat_t *c, json_t *prompt)
{
    if (json_is_string(prompt)) {
        c->user_text = json_string_value(prompt);
        c->user_len = json_string_length(prompt);
        return 0;
    }
    buf_t text = BUF_INIT(SIM_COMPL_PROMPT_MAX);
    size_t i;
    json_t *p;
    json_array_foreach(prompt, i, p)
    {
        if (!json_is_string(p) || (i && buf_append_char(&text, ' ') < 0) ||
            buf_append(&text, json_string_value(p), json_string_length(p)) < 0) {
            buf_free(&text);
            return -1;
        }
    }
    c->user_len = text.len;
    c->user_owned = buf_take(&text);
    c->user_text = c->user_owned ? c->user_owned : "";
    return c->user_owned || c->user_len == 0 ? 0 : -1;
}

int sim_completions_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen,
                          char *param, size_t paramlen)
{
    json_error_t jerr;
    memset(c, 0, sizeof(*c));
    c->max_tokens = -1;
    c->user_text = "";
    param[0] = '\0';
    c->root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(c->root)) {
        snprintf(err, errlen, "request body: %s", c->root ? "expected a json object" : jerr.text);
        goto fail;
    }
    json_t *model = json_object_get(c->root, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        compl_fail(err, errlen, param, paramlen, "model", "expected a non-empty string");
        goto fail;
    }
    c->model = json_string_value(model);
    json_t *prompt = json_object_get(c->root, "prompt");
    bool ok_type = json_is_string(prompt) || json_is_array(prompt);
    if (!ok_type || compl_prompt(c, prompt) < 0) {
        compl_fail(err, errlen, param, paramlen, "prompt",
                   "expected a string or an array of strings");
        goto fail;
    }
    c->prompt_tokens = (int64_t)sim_count_words(c->user_text, c->user_len);
    json_t *mt = json_object_get(c->root, "max_tokens");
    if (mt && !json_is_null(mt)) {
        if (!json_is_integer(mt) || json_integer_value(mt) < 0) {
            compl_fail(err, errlen, param, paramlen, "max_tokens", "expected an integer >= 0");
            goto fail;
        }
        c->max_tokens = json_integer_value(mt);
    }
    json_t *stream = json_object_get(c->root, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream)) {
        compl_fail(err, errlen, param, paramlen, "stream", "expected a boolean");
        goto fail;
    }
    c->stream = json_is_true(stream);
    c->include_usage =
        json_is_true(json_object_get(json_object_get(c->root, "stream_options"), "include_usage"));
    return 0;
fail:
    sim_chat_free(c);
    return -1;
}

static char *compl_dump(json_t *root, size_t *len)
{
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (s)
        *len = strlen(s);
    return s;
}

static json_t *compl_usage(int64_t prompt_tokens, int64_t completion_tokens)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)prompt_tokens,
                     "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
                     (json_int_t)(prompt_tokens + completion_tokens));
}

/* {"id","object":"text_completion","created","model","system_fingerprint",
 * "choices": choices} plus usage when not NULL (references stolen). */
static json_t *compl_object(const sim_meta_t *m, json_t *choices, json_t *usage)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:o}", "id", m->id, "object", "text_completion",
                          "created", (json_int_t)m->created, "model", m->model,
                          "system_fingerprint", "sim", "choices", choices);
    if (o && usage && json_object_set_new(o, "usage", usage) < 0) {
        json_decref(o);
        return NULL;
    }
    if (!o)
        json_decref(usage);
    return o;
}

static json_t *compl_choice(const char *text, size_t len, const char *finish_reason)
{
    return json_pack("[{s:s%,s:i,s:n,s:s?}]", "text", text, len, "index", 0, "logprobs",
                     "finish_reason", finish_reason);
}

char *sim_completions_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                           size_t *len)
{
    json_t *choices = compl_choice(a->text, a->len, sim_answer_finish_reason(a));
    json_t *usage = compl_usage(prompt_tokens, (int64_t)a->nwords);
    return compl_dump(compl_object(m, choices, usage), len);
}

static int compl_event(buf_t *out, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s)
        return -1;
    int rc = buf_printf(out, "data: %s\n\n", s);
    free(s);
    return rc;
}

char *sim_completions_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                             bool include_usage, size_t *len)
{
    buf_t out = BUF_INIT(SIM_COMPL_STREAM_MAX);
    for (size_t i = 0; i < a->nwords; i++) {
        size_t start = i ? a->word_end[i - 1] : 0;
        size_t end = a->word_end[i];
        if (compl_event(
                &out, compl_object(m, compl_choice(a->text + start, end - start, NULL), NULL)) < 0)
            goto fail;
    }
    if (compl_event(&out, compl_object(m, compl_choice("", 0, sim_answer_finish_reason(a)), NULL)) <
        0)
        goto fail;
    if (include_usage &&
        compl_event(&out, compl_object(m, json_array(),
                                       compl_usage(prompt_tokens, (int64_t)a->nwords))) < 0)
        goto fail;
    if (buf_append_str(&out, "data: [DONE]\n\n") < 0)
        goto fail;
    *len = out.len;
    return buf_take(&out);
fail:
    buf_free(&out);
    return NULL;
}
