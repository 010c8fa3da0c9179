/* sim_completions: the simulator's legacy completions mode (POST
 * /v1/completions), so the gateway's completions pass-through (JSON and
 * stream) is tested end to end.
 *
 * The answer follows the same deterministic rule as chat completions
 * (sim_answer.h), applied to `prompt`: "[NAME] " + the prompt (an array of
 * strings is joined by a space), max_tokens words at most. Bodies are
 * OpenAI's `text_completion` shape; a stream is one `text_completion` event
 * per word, a last one with finish_reason, with stream_options.include_usage
 * a usage event with "choices": [], then data: [DONE]. Streams are produced
 * whole (not paced). Functions returning char * hand malloc'ed memory to the
 * caller (free() it); NULL means out of memory.
 */
#ifndef LLMGW_SIM_COMPLETIONS_H
#define LLMGW_SIM_COMPLETIONS_H

#include <stddef.h>
#include <stdint.h>

#include "sim_answer.h"
#include "sim_request.h"

/* Parses a completions body: model (string), prompt (string or array of
 * strings), max_tokens, stream, stream_options. 0 (free with sim_chat_free;
 * prompt_tokens = words in the prompt), or -1 with err naming the field and
 * param set to it. */
int sim_completions_parse(sim_chat_t *c, const char *body, size_t len, char *err, size_t errlen,
                          char *param, size_t paramlen);

/* The "object": "text_completion" body. */
char *sim_completions_body(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                           size_t *len);

/* The whole event stream of the answer, ending with data: [DONE]. */
char *sim_completions_stream(const sim_answer_t *a, const sim_meta_t *m, int64_t prompt_tokens,
                             bool include_usage, size_t *len);

#endif
