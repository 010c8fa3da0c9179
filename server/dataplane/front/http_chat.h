/* http_chat: OpenAI's HTTP JSON <-> llmgw's messages, for the HTTP front door.
 *
 * Decoding turns a /v1/chat/completions body into a ChatRequest allocated in
 * the request's arena (every string copied there): the fields llmgw models
 * are mapped, tools / tool_choice / response_format go to their *_json
 * fields, and every other top-level member passes through to the provider in
 * extra_body_json. Encoding writes OpenAI's exact shapes: `chat.completion`,
 * `chat.completion.chunk` SSE events and the error body. Errors name the
 * field ("messages[1].content: expected a string or an array of parts").
 * Nothing here does I/O or keeps state.
 */
#ifndef LLMGW_HTTP_CHAT_H
#define LLMGW_HTTP_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "pipeline.h"

typedef struct {
    Llmgw__V1__ChatRequest *req;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    /* The caller used the legacy functions / function_call forms (request
     * members or messages): they were bridged to tools / tool_choice, and
     * the answer goes back as message.function_call (HTTP_CHAT_LEGACY). */
    bool legacy_functions;
} http_chat_request_t;

/* 0 with *out filled, or -1 with err naming the field. */
int http_chat_decode(const char *body, size_t len, arena_t *a, http_chat_request_t *out, char *err,
                     size_t errlen);

/* /v1/completions and /v1/embeddings: checks the body is a JSON object with
 * a string "model", and returns (in `a`) the model and the body's other
 * members (stream and stream_options included) as JSON object text for
 * PL_KIND_RAW. `stream` NULL rejects "stream": true; otherwise *stream says
 * whether the body asks for one. 0, or -1 with err. */
int http_chat_decode_raw(const char *body, size_t len, arena_t *a, bool *stream, const char **model,
                         const char **rest_json, char *err, size_t errlen);

/* The chat.completion body. 0, or -1 when out is full / out of memory. */
int http_chat_encode_response(const Llmgw__V1__ChatResponse *resp, buf_t *out);
/* One "data: {chat.completion.chunk}\n\n" event. With include_usage every
 * chunk carries "usage": null, as OpenAI's do. */
int http_chat_encode_chunk(const Llmgw__V1__ChatChunk *chunk, bool include_usage, buf_t *out);
/* The end of a successful stream: the usage chunk (only with include_usage)
 * and "data: [DONE]\n\n". */
int http_chat_encode_stream_end(const Llmgw__V1__ChatChunk *last, bool include_usage, buf_t *out);

/* Answer shapes for the *_as encoders (flags, or'ed):
 * HTTP_CHAT_LEGACY_FUNCTIONS: the first tool call as message.function_call
 *   (delta.function_call), finish_reason "function_call" for "tool_calls",
 *   for a caller that used the legacy functions form;
 * HTTP_CHAT_TEXT_COMPLETION: the legacy /v1/completions shape
 *   ("text_completion", choices[].text) of a completion bridged to chat;
 *   deltas without text (a role, tool calls) write nothing. */
#define HTTP_CHAT_LEGACY_FUNCTIONS 1u
#define HTTP_CHAT_TEXT_COMPLETION 2u
int http_chat_encode_response_as(const Llmgw__V1__ChatResponse *resp, unsigned flags, buf_t *out);
int http_chat_encode_chunk_as(const Llmgw__V1__ChatChunk *chunk, bool include_usage, unsigned flags,
                              buf_t *out);
int http_chat_encode_stream_end_as(const Llmgw__V1__ChatChunk *last, bool include_usage,
                                   unsigned flags, buf_t *out);

/* /v1/completions bridged to chat: the body's prompt (a string, or an array
 * of one string) becomes one user message, the members both APIs share
 * keep their names, max_tokens defaults to 16 as in the legacy API, and
 * what chat cannot express (suffix, echo, best_of > 1, logprobs, several
 * prompts) is refused naming the member. Then decoded as a chat body. 0, or
 * -1 with err. */
int http_chat_decode_completion(const char *body, size_t len, arena_t *a, http_chat_request_t *out,
                                char *err, size_t errlen);

/* The body with "model": model (JSON-escaped) added when it has none, for
 * Azure-style paths that name the deployment; a body whose model differs is
 * refused. *body_out in `a`. 0, or -1 with err. */
int http_chat_with_model(const char *body, size_t len, const char *model, arena_t *a,
                         const char **body_out, size_t *len_out, char *err, size_t errlen);

/* An error as OpenAI reports it. */
typedef struct {
    int http_status;
    const char *type;  /* "invalid_request_error", "rate_limit_error", … */
    const char *code;  /* "model_not_found", … or NULL (JSON null) */
    char param[160];   /* the field the message names (a JSON path), "" when none */
    int retry_after_s; /* for 429: the Retry-After header; 0 none */
} http_error_t;

/* The HTTP error for a pipeline outcome (status + message, and for results,
 * the attempts made and the rate-limit signal). `res` may be NULL (the
 * request ended before any attempt). */
void http_error_from_status(grpc_status_code status, const char *message, const pl_result_t *res,
                            http_error_t *out);
/* {"error": {"message", "type", "param", "code"}} */
int http_chat_encode_error(const http_error_t *e, const char *message, buf_t *out);

#endif
