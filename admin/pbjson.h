/* pbjson: any protobuf-c message as a jansson JSON object, driven by the
 * message's descriptor, for `--json` output.
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

#endif
