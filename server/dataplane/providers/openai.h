/* openai: the OpenAI chat.completions wire format <-> llmgw's messages.
 *
 * Requests are built from the decoded ChatRequest; answers are parsed into
 * ChatResponse / ChatChunk messages allocated from the request's arena (the
 * arena owns every string and sub-message). Nothing here does I/O.
 */
#ifndef LLMGW_OPENAI_H
#define LLMGW_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"

/* Appends the upstream JSON body for `req` to `out`, with "model" set to
 * upstream_model. When `stream`, adds "stream": true and
 * "stream_options": {"include_usage": true}. The *_json fields are parsed and
 * embedded; extra_body_json's members are merged in, except that it may not
 * override model, messages or stream. 0, or -1 with err naming the field
 * ("tools_json: invalid JSON at line 1 column 3"). */
int openai_build_chat_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                              bool stream, buf_t *out, char *err, size_t errlen);

/* Parses a chat.completion body. 0 with *out set, or -1 with err. Requires
 * "choices" to be an array; tolerates missing usage (zeros), id, created. */
int openai_parse_chat_response(const char *body, size_t len, arena_t *a,
                               Llmgw__V1__ChatResponse **out, char *err, size_t errlen);

/* Parses one chat.completion.chunk (an SSE event's data). A chunk with usage
 * and empty choices is valid (the include_usage chunk). 0 or -1 with err. */
int openai_parse_chat_chunk(const char *data, size_t len, arena_t *a, Llmgw__V1__ChatChunk **out,
                            char *err, size_t errlen);

/* True when an SSE event's data is the end marker "[DONE]". */
bool openai_is_done_marker(const char *data, size_t len);

#endif
