/* sim_anthropic: the simulator's Anthropic Messages API mode (POST
 * /v1/messages), so the gateway's Anthropic adapter is tested end to end.
 *
 * The answer follows the same deterministic rule as chat completions
 * (sim_answer.h): "[NAME] " + the last user message's text, max_tokens
 * words at most. Requests are checked the way the real API checks them
 * (max_tokens required, roles user/assistant only, the first turn a user
 * turn, non-empty content) and rejected with Anthropic's error shape
 * {"type": "error", "error": {"type", "message"}}. Streams are produced
 * whole, as one body of events (message_start, content_block_start, ping,
 * content_block_delta per word, content_block_stop, message_delta,
 * message_stop); they are not paced.
 *
 * Functions returning char * hand malloc'ed memory to the caller (free()
 * it); NULL means out of memory.
 */
#ifndef LLMGW_SIM_ANTHROPIC_H
#define LLMGW_SIM_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_answer.h"
#include "sim_request.h"

/* Parses a Messages API body into the chat fields the answer needs (the
 * system prompt counts toward prompt_tokens). 0 (free with sim_chat_free),
 * or -1 with err naming the field. */
int sim_anthropic_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen);

/* {"type": "error", "error": {"type": <for status>, "message"}}. */
char *sim_anthropic_error(int status, const char *message, size_t *len);

/* A "type": "message" body. */
char *sim_anthropic_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                         size_t *len);

/* The whole event stream of the answer. */
char *sim_anthropic_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                           size_t *len);

#endif
