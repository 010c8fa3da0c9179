/* http_ensemble: POST /v1/ensembles JSON <-> llmgw.v1.EnsembleRequest /
 * EnsembleResponse, for the HTTP front door.
 *
 * The body is the EnsembleRequest in JSON with the proto's field names:
 * {"request": {an OpenAI chat body; "model" may be left out, members name
 * theirs}, "config": {"method", "members": [{"model", "weight"}], …}}. The
 * request object is decoded exactly as /v1/chat/completions decodes its body
 * (http_chat_decode: the same checks, its unknown members passed through to
 * every member's provider); "stream": true is refused (an ensemble answers
 * once). Every config member is checked here for its JSON type, so an error
 * names the JSON path ("config.members[1].weight: expected a number");
 * ensemble_start's own checks (ranges, duplicates, unknown routes) already
 * name the same paths because the JSON mirrors the proto.
 *
 * The answer is the chosen member's chat.completion (choices, usage of the
 * chosen answer, as /v1/chat/completions would return it) plus "members"
 * (every member's result in configured order) and "analysis".
 *
 * Pure: no I/O, no state; everything decoded lives in the caller's arena.
 */
#ifndef LLMGW_HTTP_ENSEMBLE_H
#define LLMGW_HTTP_ENSEMBLE_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"

/* 0 with *out (arena-owned) filled, or -1 with err naming the JSON path. */
int http_ensemble_decode(const char *body, size_t len, arena_t *a, Llmgw__V1__EnsembleRequest **out,
                         char *err, size_t errlen);

/* The answer body. 0, or -1 when out is full, out of memory, or the
 * response has no chosen answer. */
int http_ensemble_encode(const Llmgw__V1__EnsembleResponse *resp, buf_t *out);

#endif
