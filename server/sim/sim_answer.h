/* sim_answer: the deterministic answer and every body the simulator sends.
 *
 * The answer is "[NAME] " + the last user message (or a fixed answer text),
 * split into whitespace-separated words; a word is a token. Whitespace runs
 * collapse to one space so that a stream's deltas, concatenated, equal the
 * non-streamed content exactly. max_tokens keeps the first N words and makes
 * finish_reason "length".
 *
 * Bodies are built with jansson, so every string from a request (model
 * names, message text) is escaped correctly. Functions returning char *
 * hand malloc'ed memory to the caller (free() it); NULL means out of memory.
 */
#ifndef LLMGW_SIM_ANSWER_H
#define LLMGW_SIM_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct {
    char *text;       /* owned: the words joined by single spaces */
    size_t len;       /* strlen(text) */
    size_t nwords;    /* completion tokens */
    size_t *word_end; /* owned: text offset just past word i */
    bool truncated;   /* max_tokens cut the answer: finish_reason "length" */
} sim_answer_t;

/* Identity of one completion, shared by its body or all of its chunks. */
typedef struct {
    const char *id;    /* "chatcmpl-sim-<n>" */
    const char *model; /* as requested */
    int64_t created;   /* unix seconds */
} sim_meta_t;

/* A well-mixed 64-bit function of x: the source of every deterministic
 * "random" value (embedding components, error-rate draws). */
uint64_t sim_mix64(uint64_t x);

/* Number of whitespace-separated words in s[0..len). */
size_t sim_count_words(const char *s, size_t len);

/* Builds the answer: `fixed` when non-NULL, else "[name] " + user text;
 * max_tokens < 0 means no limit. 0, or -1 on allocation failure. */
int sim_answer_build(sim_answer_t *a, const char *name, const char *fixed, const char *user,
                     size_t user_len, int64_t max_tokens);
void sim_answer_free(sim_answer_t *a);
const char *sim_answer_finish_reason(const sim_answer_t *a);

/* A chat.completion body; `empty_choices` sends "choices": []. */
char *sim_body_completion(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                          bool empty_choices, size_t *len);

/* A chat.completion whose one choice calls function `name` with arguments
 * "{}" (tool call id "call_sim_1", finish_reason "tool_calls"), for
 * x-sim-tool-call. */
char *sim_body_tool_call(const sim_meta_t *m, const char *name, int64_t prompt_tokens, size_t *len);

/* {"error":{"message","type","param","code":null}}; param NULL → null. */
char *sim_body_error(int status, const char *message, const char *param, size_t *len);
/* The OpenAI error type for an HTTP status ("rate_limit_error", ...). */
const char *sim_error_type(int status);

/* Server-sent events of a chat.completion.chunk stream. Each appends one
 * complete "data: ...\n\n" event to `out`; 0, or -1 when `out` is full or
 * memory runs out. */
typedef struct sim_chunker sim_chunker_t;
/* NULL on allocation failure; borrows `m` (which must outlive it). */
sim_chunker_t *sim_chunker_new(const sim_meta_t *m);
void sim_chunker_free(sim_chunker_t *ch);
int sim_sse_role(sim_chunker_t *ch, buf_t *out);
/* Word i of `a`, with a leading space for every word after the first. */
int sim_sse_word(sim_chunker_t *ch, const sim_answer_t *a, size_t i, buf_t *out);
int sim_sse_finish(sim_chunker_t *ch, const char *finish_reason, buf_t *out);
/* {"choices": [], "usage": {...}}, for stream_options.include_usage and
 * for the empty_choices fault (usage omitted when prompt_tokens < 0). */
int sim_sse_no_choices(sim_chunker_t *ch, int64_t prompt_tokens, int64_t completion_tokens,
                       buf_t *out);
/* An event whose data is the first half of a chunk: never valid JSON. */
int sim_sse_malformed(sim_chunker_t *ch, buf_t *out);
int sim_sse_done(buf_t *out);

#endif
