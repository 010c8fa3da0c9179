/* chat_schema: OpenAI's chat-completions schema, checked field by field on
 * the parts of a ChatRequest that travel as JSON text, whatever front door
 * they came through.
 *
 * Both doors carry tools, tool_choice, response_format, a message's
 * tool_calls and content parts, and the members llmgw does not model
 * (extra_body_json) as JSON text; the HTTP door has already checked the
 * JSON types of the members it maps. This module checks the rest: types,
 * enums and ranges, with an error naming the OpenAI JSON path of the first
 * problem, the same on both doors ("messages[2].content[0].image_url.url:
 * expected an http(s) or data: URL", "tools[0].function.name: required").
 *
 * It refuses only what OpenAI documents as invalid; a member it does not
 * know passes through untouched (a newer SDK's field must keep working).
 * Enums are checked only where their set is closed (roles, part types,
 * response_format.type, tool_choice's strings); open sets (reasoning_effort,
 * service_tier) are checked for their JSON type only.
 *
 * Pure: no state, no allocation beyond jscan_object_repeats' scratch.
 */
#ifndef LLMGW_CHAT_SCHEMA_H
#define LLMGW_CHAT_SCHEMA_H

#include <stddef.h>

#include "llmgw/v1/chat.pb-c.h"

/* Most logit_bias entries, n choices, top_logprobs (OpenAI's limits). */
#define CHAT_SCHEMA_MAX_N 128
#define CHAT_SCHEMA_MAX_TOP_LOGPROBS 20
#define CHAT_SCHEMA_MAX_TOOLS 128

/* 0, or -1 with err "<json path>: <what is wrong>". */
int chat_schema_check(const Llmgw__V1__ChatRequest *r, char *err, size_t errlen);

/* One message's content parts (the JSON array text of content_parts_json)
 * for message i of `role`: 0, or -1 with err. */
int chat_schema_check_parts(const char *parts_json, size_t i, const char *role, char *err,
                            size_t errlen);

/* The legacy "functions" array (JSON text): each a function object with a
 * valid name; paths "functions[1].name". 0, or -1 with err. */
int chat_schema_check_functions(const char *functions_json, char *err, size_t errlen);

/* Whether an api-version value has Azure's shape: YYYY-MM-DD, optionally
 * followed by "-preview". */
int chat_schema_api_version_ok(const char *v);

#endif
