/* provider_quirks: what a provider's preset says about its API, applied to
 * OpenAI-format requests and to URLs.
 *
 * A quirk never changes what a request means: a field the provider rejects
 * (quirks.drop_fields, stream_options when it does not take it) is removed
 * only when it is an optional transport detail or listed as rejected, and a
 * feature the provider lacks (tools, JSON mode, images) is an error naming
 * the field, so the route can fall back or the caller can see why.
 */
#ifndef LLMGW_PROVIDER_QUIRKS_H
#define LLMGW_PROVIDER_QUIRKS_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "table.h"

/* openai_build_chat_request with p's quirks applied (p may be NULL: none).
 * 0, or -1 with err naming the field. */
int provider_quirks_build_openai(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                                 const char *upstream_model, bool stream, buf_t *out, char *err,
                                 size_t errlen);

/* The request as provider p takes it, before its wire format writes it
 * (docs/compatibility.md):
 * - the completion limit under the name p takes (quirks.max_tokens_field;
 *   for the api-key auth style, max_tokens before api-version 2024-09-01);
 * - the fields p cannot take dropped: its quirks.drop_fields, and for the
 *   anthropic wire format the OpenAI-only members (logprobs, logit_bias,
 *   seed, ...; n above 1 is refused);
 * - a caller's api_version kept only for the api-key auth style.
 * *out is req itself when nothing changes, else a copy in `a`; *warning is
 * NULL or what was dropped or ignored ("dropped logprobs, seed for claude"),
 * for the llmgw-warning header. 0, or -1 with err. */
int provider_quirks_prepare(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                            arena_t *a, const Llmgw__V1__ChatRequest **out, const char **warning,
                            char *err, size_t errlen);

/* The api-version an attempt on p sends: req_version when the caller gave
 * one (non-empty) and p has the api-key auth style, else p's own. */
const char *provider_quirks_api_version(const table_provider_t *p, const char *req_version);

/* base_url + path in `a`. For a chat call (`chat`), p's quirks.chat_path
 * replaces path, with "{model}" replaced by the percent-encoded model. The
 * api-key auth style (Azure) appends api-version=<api_version>. NULL when
 * out of memory. */
char *provider_quirks_url(const table_provider_t *p, const char *path, bool chat,
                          const char *upstream_model, arena_t *a);
/* provider_quirks_url with the caller's api-version (NULL or "": p's own). */
char *provider_quirks_url_version(const table_provider_t *p, const char *path, bool chat,
                                  const char *upstream_model, const char *api_version, arena_t *a);

/* Whether the request needs a capability p's quirks say it lacks; fills err
 * ("tools_json: provider 'x' (preset y) does not accept tools"). */
bool provider_quirks_reject(const table_provider_t *p, const Llmgw__V1__ChatRequest *req, char *err,
                            size_t errlen);

/* What deployment (p, m) supports, for ListModels: the model's table flags
 * and the provider's quirks together (both must allow it). In `a`; NULL
 * when out of memory. */
Llmgw__V1__ModelCapabilities *provider_quirks_capabilities(arena_t *a, const table_provider_t *p,
                                                           const table_model_t *m);

#endif
