/* sim_answer: the deterministic answer, completion bodies, stream events and
 * error bodies. See sim_answer.h for the answer rules.
 *
 * A stream's chunks differ only in "delta" and "finish_reason", so the
 * chunker keeps one chunk object and swaps those two members per event
 * instead of rebuilding the whole object for every word.
 */
#include "sim_answer.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

uint64_t sim_mix64(uint64_t x)
{
    /* splitmix64 (Steele, Lea, Flood 2014). */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

size_t sim_count_words(const char *s, size_t len)
{
    size_t n = 0;
    int in_word = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_space(s[i]))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            n++;
        }
    }
    return n;
}

int sim_answer_build(sim_answer_t *a, const char *name, const char *fixed, const char *user,
                     size_t user_len, int64_t max_tokens)
{
    memset(a, 0, sizeof(*a));
    int rc = -1;
    buf_t src = BUF_INIT((size_t)-1 / 2);
    if (fixed) {
        if (buf_append_str(&src, fixed) < 0)
            goto fail;
    } else if (buf_printf(&src, "[%s] ", name) < 0 || buf_append(&src, user, user_len) < 0) {
        goto fail;
    }
    size_t words = sim_count_words(buf_cstr(&src), src.len);
    if (max_tokens >= 0 && (uint64_t)max_tokens < words) {
        words = (size_t)max_tokens;
        a->truncated = true;
    }
    a->text = malloc(src.len + 1);
    a->word_end = malloc((words ? words : 1) * sizeof(*a->word_end));
    if (!a->text || !a->word_end)
        goto fail;
    /* Copy word by word, one space between words, stopping after `words`. */
    const char *s = buf_cstr(&src);
    size_t out = 0;
    size_t i = 0;
    while (a->nwords < words) {
        while (i < src.len && is_space(s[i]))
            i++;
        size_t start = i;
        while (i < src.len && !is_space(s[i]))
            i++;
        if (a->nwords > 0)
            a->text[out++] = ' ';
        memcpy(a->text + out, s + start, i - start);
        out += i - start;
        a->word_end[a->nwords++] = out;
    }
    a->text[out] = '\0';
    a->len = out;
    rc = 0;
fail:
    buf_free(&src);
    if (rc < 0)
        sim_answer_free(a);
    return rc;
}

void sim_answer_free(sim_answer_t *a)
{
    free(a->text);
    free(a->word_end);
    memset(a, 0, sizeof(*a));
}

const char *sim_answer_finish_reason(const sim_answer_t *a)
{
    return a->truncated ? "length" : "stop";
}

/* json_dumps with the compact flags every body uses; sets *len. */
static char *dump(json_t *j, size_t *len)
{
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s && len)
        *len = strlen(s);
    return s;
}

static json_t *usage_object(int64_t prompt_tokens, int64_t completion_tokens)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)prompt_tokens,
                     "completion_tokens", (json_int_t)completion_tokens, "total_tokens",
                     (json_int_t)(prompt_tokens + completion_tokens));
}

char *sim_body_completion(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                          bool empty_choices, size_t *len)
{
    json_t *choices = empty_choices
                          ? json_array()
                          : json_pack("[{s:i,s:{s:s,s:s%},s:n,s:s}]", "index", 0, "message", "role",
                                      "assistant", "content", a->text, a->len, "logprobs",
                                      "finish_reason", sim_answer_finish_reason(a));
    /* No choice delivered, no completion tokens billed. */
    json_t *usage = usage_object(prompt_tokens, empty_choices ? 0 : (int64_t)a->nwords);
    /* json_pack's "o" steals the references, also when packing fails. */
    return dump(json_pack("{s:s,s:s,s:I,s:s,s:s,s:o,s:o}", "id", m->id, "object", "chat.completion",
                          "created", (json_int_t)m->created, "model", m->model,
                          "system_fingerprint", "sim", "choices", choices, "usage", usage),
                len);
}

char *sim_body_tool_call(const sim_meta_t *m, const char *name, int64_t prompt_tokens, size_t *len)
{
    json_t *choices = json_pack("[{s:i,s:{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]},s:n,s:s}]", "index", 0,
                                "message", "role", "assistant", "content", "tool_calls", "id",
                                "call_sim_1", "type", "function", "function", "name", name,
                                "arguments", "{}", "logprobs", "finish_reason", "tool_calls");
    json_t *usage = usage_object(prompt_tokens, 1);
    return dump(json_pack("{s:s,s:s,s:I,s:s,s:s,s:o,s:o}", "id", m->id, "object", "chat.completion",
                          "created", (json_int_t)m->created, "model", m->model,
                          "system_fingerprint", "sim", "choices", choices, "usage", usage),
                len);
}

const char *sim_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *sim_body_error(int status, const char *message, const char *param, size_t *len)
{
    json_t *p = param ? json_string(param) : json_null();
    return dump(json_pack("{s:{s:s,s:s,s:o,s:n}}", "error", "message", message, "type",
                          sim_error_type(status), "param", p, "code"),
                len);
}

struct sim_chunker {
    const sim_meta_t *meta;
    json_t *chunk;  /* {"id","object","created","model","choices":[choice]} */
    json_t *choice; /* borrowed from chunk: {"index":0,"delta":{},"finish_reason":null} */
};

sim_chunker_t *sim_chunker_new(const sim_meta_t *m)
{
    sim_chunker_t *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->meta = m;
    /* OpenAI sends system_fingerprint on every chunk too. */
    ch->chunk =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:{},s:n}]}", "id", m->id, "object",
                  "chat.completion.chunk", "created", (json_int_t)m->created, "model", m->model,
                  "system_fingerprint", "sim", "choices", "index", 0, "delta", "finish_reason");
    if (!ch->chunk) {
        free(ch);
        return NULL;
    }
    ch->choice = json_array_get(json_object_get(ch->chunk, "choices"), 0);
    return ch;
}

void sim_chunker_free(sim_chunker_t *ch)
{
    if (!ch)
        return;
    json_decref(ch->chunk);
    free(ch);
}

static int append_cb(const char *p, size_t n, void *data)
{
    return buf_append(data, p, n);
}

/* Appends "data: <json>\n\n"; on failure `out` is restored to its old length. */
static int append_event(json_t *j, buf_t *out)
{
    size_t mark = out->len;
    if (buf_append_str(out, "data: ") < 0 || json_dump_callback(j, append_cb, out, JSON_COMPACT) ||
        buf_append_str(out, "\n\n") < 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        return -1;
    }
    return 0;
}

/* Sets the shared chunk's delta (stolen) and finish_reason, then appends it. */
static int chunk_event(sim_chunker_t *ch, json_t *delta, const char *finish_reason, buf_t *out)
{
    if (!delta)
        return -1;
    json_t *fr = finish_reason ? json_string(finish_reason) : json_null();
    if (json_object_set_new(ch->choice, "delta", delta) < 0 ||
        json_object_set_new(ch->choice, "finish_reason", fr) < 0)
        return -1;
    return append_event(ch->chunk, out);
}

int sim_sse_role(sim_chunker_t *ch, buf_t *out)
{
    return chunk_event(ch, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL, out);
}

int sim_sse_word(sim_chunker_t *ch, const sim_answer_t *a, size_t i, buf_t *out)
{
    if (i >= a->nwords)
        return -1;
    /* word_end[i-1] is the separating space, so word i > 0 keeps it. */
    size_t start = i == 0 ? 0 : a->word_end[i - 1];
    return chunk_event(ch, json_pack("{s:s%}", "content", a->text + start, a->word_end[i] - start),
                       NULL, out);
}

int sim_sse_finish(sim_chunker_t *ch, const char *finish_reason, buf_t *out)
{
    return chunk_event(ch, json_object(), finish_reason, out);
}

int sim_sse_no_choices(sim_chunker_t *ch, int64_t prompt_tokens, int64_t completion_tokens,
                       buf_t *out)
{
    const sim_meta_t *m = ch->meta;
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:[]}", "id", m->id, "object", "chat.completion.chunk",
                          "created", (json_int_t)m->created, "model", m->model, "choices");
    if (!j)
        return -1;
    int rc = -1;
    if (prompt_tokens >= 0 &&
        json_object_set_new(j, "usage", usage_object(prompt_tokens, completion_tokens)) < 0)
        goto fail;
    rc = append_event(j, out);
fail:
    json_decref(j);
    return rc;
}

int sim_sse_malformed(sim_chunker_t *ch, buf_t *out)
{
    int rc = -1;
    buf_t whole = BUF_INIT(1u << 20);
    if (chunk_event(ch, json_pack("{s:s}", "content", ""), NULL, &whole) < 0)
        goto fail;
    /* "data: {...}\n\n": keep "data: " and the first half of the object,
     * whose braces then cannot balance. */
    size_t json_len = whole.len - 8;
    if (buf_append(out, whole.data, 6 + json_len / 2) < 0 || buf_append_str(out, "\n\n") < 0)
        goto fail;
    rc = 0;
fail:
    buf_free(&whole);
    return rc;
}

int sim_sse_done(buf_t *out)
{
    return buf_append_str(out, "data: [DONE]\n\n");
}
