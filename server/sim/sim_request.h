/* sim_request: parse and validate the simulator's request bodies.
 *
 * Chat completions and embeddings requests are checked as strictly as a real
 * provider would: the first problem found becomes a 400 whose message names
 * the field ("messages[2].role: expected one of ..."). A parsed request keeps
 * the decoded JSON alive and its strings are borrowed from it, so every
 * string pointer stays valid until the request is freed.
 */
#ifndef LLMGW_SIM_REQUEST_H
#define LLMGW_SIM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
    json_t *root;          /* owned */
    const char *model;     /* borrowed from root */
    bool stream;           /* "stream": true */
    bool include_usage;    /* "stream_options": {"include_usage": true} */
    int64_t max_tokens;    /* max_tokens / max_completion_tokens; -1 when absent */
    const char *user_text; /* content of the last "user" message ("" if none) */
    size_t user_len;
    char *user_owned;      /* user_text's storage when joined from content parts */
    int64_t prompt_tokens; /* sum over messages of (words in content + 4) */
} sim_chat_t;

typedef struct {
    json_t *root;      /* owned */
    const char *model; /* borrowed from root */
    json_t *input;     /* borrowed: a string or a non-empty array of strings */
    bool base64;       /* "encoding_format": "base64" */
} sim_embed_req_t;

/* Parses a chat.completions body. 0 on success (free with
 * sim_chat_free); -1 with `err` naming the field and `param` set to the
 * field path (at most paramlen bytes) when the request is invalid. */
int sim_chat_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen,
                   char *param, size_t paramlen);
void sim_chat_free(sim_chat_t *c);

/* Parses an embeddings body; same error convention as sim_chat_parse. */
int sim_embed_parse(sim_embed_req_t *e, const char *body, size_t len, char *err, size_t errlen,
                    char *param, size_t paramlen);
void sim_embed_free(sim_embed_req_t *e);

#endif
