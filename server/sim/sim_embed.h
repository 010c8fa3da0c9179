/* sim_embed: deterministic embedding vectors and the embeddings body.
 *
 * A vector is a pure function of its input text (an FNV-1a hash expanded by
 * splitmix64 into SIM_EMBED_DIMS components, scaled to unit length): the
 * same text always embeds to the same vector, different texts almost never
 * collide, and no state is kept between requests.
 */
#ifndef LLMGW_SIM_EMBED_H
#define LLMGW_SIM_EMBED_H

#include <stddef.h>

#include "sim_request.h"

#define SIM_EMBED_DIMS 8

void sim_embed_vector(const char *text, size_t len, float out[SIM_EMBED_DIMS]);

/* The {"object":"list","data":[...],"model","usage"} body for `req`, with
 * vectors as float arrays or base64 (little-endian float32) per the request.
 * malloc'ed (free() it) with *len set; NULL on allocation failure. */
char *sim_embed_body(const sim_embed_req_t *req, size_t *len);

#endif
