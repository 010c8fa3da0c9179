/* anthropic: Anthropic's Messages API <-> llmgw's OpenAI-shaped messages.
 *
 * Requests: leading system messages become the top-level "system" (joined
 * by a blank line); consecutive turns of one role are merged (the API wants
 * user and assistant to alternate); tool results become user turns with
 * tool_result blocks and assistant tool_calls become tool_use blocks;
 * max_tokens is always sent (the request's, else the given default). A
 * conversation the API cannot express (a system message after the first
 * turn, a sampling field it lacks) is an error naming the field, never a
 * request that silently means something else.
 *
 * Answers: content blocks become the text and the tool_calls of one choice,
 * stop_reason the finish_reason, usage (cache tokens included in
 * prompt_tokens) the usage; stop_reason, stop_sequence and the cache token
 * counts are kept in extensions_json. Stream events become OpenAI-shaped
 * ChatChunks; the per-attempt state (ids, the tool-call index of each
 * content block, input tokens) lives in the adapter's stream state.
 *
 * Everything returned is allocated in the caller's arena; nothing does I/O.
 */
#ifndef LLMGW_ANTHROPIC_H
#define LLMGW_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "uerror.h"

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_MAX_TOKENS_DEFAULT 4096

/* The Messages API as an adapter (POST {base_url}/messages). */
extern const adapter_t adapter_anthropic;

/* Appends the Messages API body for `req` to `out` (left as it was on
 * failure). max_tokens_default is used when the request has none (<= 0:
 * ANTHROPIC_MAX_TOKENS_DEFAULT). 0, or -1 with err naming the field. */
int anthropic_build_request(const Llmgw__V1__ChatRequest *req, const char *upstream_model,
                            int max_tokens_default, bool stream, buf_t *out, char *err,
                            size_t errlen);

/* Parses a Messages API answer ("type": "message"). 0 or -1 with err. */
int anthropic_parse_response(const char *body, size_t len, arena_t *a,
                             Llmgw__V1__ChatResponse **out, char *err, size_t errlen);

/* A non-2xx answer ({"type": "error", "error": {"type", "message"}}) into
 * the normalized error: overloaded_error, api_error and rate_limit_error are
 * retryable; invalid_request_error is INVALID_ARGUMENT, and so on. */
void anthropic_error_from_http(uerror_t *e, long status, const char *body, size_t len,
                               const char *retry_after);

/* "end_turn" -> "stop", "max_tokens" -> "length", "tool_use" ->
 * "tool_calls", ...; unknown reasons pass through as they are. */
const char *anthropic_finish_reason(const char *stop_reason);

#endif
