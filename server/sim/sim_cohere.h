/* sim_cohere: the simulator's Cohere v2 Chat API mode (POST /v2/chat), so
 * the cohere extension (extensions/cohere) is tested end to end.
 *
 * The answer follows the same deterministic rule as chat completions
 * (sim_answer.h). Requests are checked as the v2 API documents them: model
 * and a non-empty messages array required, roles system/user/assistant/tool,
 * content a string or text parts, and OpenAI-only fields (top_p, stop, n,
 * stream_options, max_completion_tokens, user) rejected — so a request the
 * adapter failed to translate fails here. Errors are {"message": "..."}.
 * Streams are sent whole: message-start, content-start, one content-delta
 * per word, content-end, message-end (finish_reason and usage).
 *
 * Functions returning char * hand malloc'ed memory to the caller (free()
 * it); NULL means out of memory.
 */
#ifndef LLMGW_SIM_COHERE_H
#define LLMGW_SIM_COHERE_H

#include <stddef.h>
#include <stdint.h>

#include "sim_answer.h"
#include "sim_request.h"

/* 0 (free with sim_chat_free), or -1 with err naming the field. */
int sim_cohere_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen);
/* {"message": message}. */
char *sim_cohere_error(const char *message, size_t *len);
/* The v2 chat answer. */
char *sim_cohere_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                      size_t *len);
/* The whole event stream of the answer. */
char *sim_cohere_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                        size_t *len);

#endif
