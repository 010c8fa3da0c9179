/* pbjson: protobuf-c messages to and from jansson JSON, driven by the
 * message's descriptor: the CLI's `--json` output and the control plane's
 * JSON admin API (cp_http.c), which turns any registered RPC's JSON body into
 * its request message with no per-method code.
 *
 * Field names are the .proto names (snake_case, as the rest of our JSON and
 * OpenAI's); every scalar field is written, defaults included, so scripts
 * never have to guess a missing key; an unset sub-message or an unset oneof
 * member is left out; int64 values are JSON integers (exact below 2^63);
 * enums are their value names; bytes are base64 (RFC 4648).
 */
#ifndef LLMGW_PBJSON_H
#define LLMGW_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new reference (json_decref it), or NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *m);

/* The reverse: a JSON object (NULL: an empty message) as a new message of
 * type d, freed by the caller with protobuf_c_message_free_unpacked(m, NULL).
 * Accepts what pbjson_from_message writes: .proto field names, null for an
 * absent field, integers (int64 also as a decimal string), numbers for
 * float/double, true/false, enum value names or numbers, base64 for bytes.
 * Strict: an unknown field, a wrong type, an out-of-range integer or a
 * nesting deeper than PBJSON_MAX_DEPTH is NULL with err naming the field
 * ("provider.base_url: expected a string", "route.deployments[1].weight:
 * expected a number"). NULL with "out of memory" on allocation failure. */
#define PBJSON_MAX_DEPTH 32
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *d, const json_t *j, char *err,
                                    size_t errlen);

#endif
