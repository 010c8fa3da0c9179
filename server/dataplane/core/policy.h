/* policy: a caller's policy (table_policy_t) enforced on one request, before
 * routing and before anything leaves the gateway.
 *
 * The policy that applies is the key's effective one (the table resolves
 * key > team > org, no merging), or the org's for anonymous callers when
 * auth is off. Enforcement:
 *   - allowed/denied providers and models, regions: a route filter the
 *     planner checks first, so only allowed deployments are candidates and
 *     Explain lists the others as "excluded by policy 'p' (region …)";
 *     with every deployment excluded the request is PERMISSION_DENIED;
 *   - max_tokens: a request asking for more is refused; one asking for none
 *     gets the cap (so the provider's default cannot exceed it);
 *   - max_prompt_bytes: the bytes of every message's content (content parts
 *     included) over the cap are refused;
 *   - redact: PII kinds replaced in every message content (text parts of
 *     content_parts_json, the "prompt" / "input" strings of a raw body)
 *     before the request leaves, counted per kind;
 *   - log_prompts / log_responses: the only switch that lets a prompt or a
 *     response reach a log line (policy_log_prompt / policy_log_response);
 *     without a policy nothing of either is ever logged.
 * Refusals name the policy and the field ("policy 'small': max_tokens 5000
 * over the policy's max_tokens 1000").
 *
 * Pure apart from the log helpers: no state; thread-safe. The request
 * copies it makes live in the caller's arena and share unchanged parts with
 * the original.
 */
#ifndef LLMGW_POLICY_H
#define LLMGW_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "llmgw/v1/chat.pb-c.h"
#include "redact.h"
#include "route.h"
#include "table.h"

typedef enum {
    POLICY_OK = 0,
    POLICY_DENIED = -1, /* err names the policy and the field */
    POLICY_NOMEM = -2,
} policy_status_t;

/* The policy `key` is under; for key NULL (auth off) the org's. NULL: none. */
const table_policy_t *policy_for(const table_t *t, const table_key_t *key);

/* A route filter enforcing pol's provider, model and region lists (pol
 * borrowed; exclude NULL when pol restricts none of them). */
route_filter_t policy_route_filter(const table_policy_t *pol);

/* Checks and adapts a chat request: *out is req itself when nothing
 * changed, else a copy in `a` (max_tokens capped in, contents redacted).
 * Redactions are added to *counts. */
policy_status_t policy_apply_chat(const table_policy_t *pol, arena_t *a,
                                  const Llmgw__V1__ChatRequest *req,
                                  const Llmgw__V1__ChatRequest **out, redact_counts_t *counts,
                                  char *err, size_t errlen);

/* The same for a raw body (/v1/completions, /v1/embeddings: a JSON object's
 * text): "max_tokens", the bytes of "prompt" / "input" strings, and their
 * redaction. *out_json is raw_json when nothing changed, else a copy in `a`. */
policy_status_t policy_apply_raw(const table_policy_t *pol, arena_t *a, const char *raw_json,
                                 const char **out_json, redact_counts_t *counts, char *err,
                                 size_t errlen);

/* One log line with the prompt / the response text, only when pol allows
 * it (never without a policy). Debug level. */
void policy_log_prompt(const table_policy_t *pol, const char *key,
                       const Llmgw__V1__ChatRequest *req);
void policy_log_response(const table_policy_t *pol, const char *key, const char *text);

#endif
