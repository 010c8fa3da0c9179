/* ext_adapter: an extension's provider adapter (llmgw/extension.h) as an
 * adapter_t in the registry (adapter.h).
 *
 * A plugin adapter speaks OpenAI's chat JSON on the gateway's side, so the
 * wrapper composes it with the built-in OpenAI format: the request is built
 * as the OpenAI body (provider quirks applied) and handed to the plugin's
 * build_request; the plugin's chat.completion / chat.completion.chunk JSON
 * is parsed by the OpenAI parsers; an error body first gets the normalized
 * reading of its HTTP status, which the plugin may reclassify.
 *
 * adapter_t's functions carry no pointer to the adapter itself, so each
 * wrapped adapter takes one of EXT_ADAPTER_SLOTS fixed slots whose
 * functions know their slot. Registration is startup-only, like the
 * registry's.
 */
#ifndef LLMGW_EXT_ADAPTER_H
#define LLMGW_EXT_ADAPTER_H

#include <stddef.h>

#include "buf.h"
#include "llmgw/extension.h"

#define EXT_ADAPTER_SLOTS 8

/* A plugin's view of a gateway buffer: llmgw_ext_buf_t is a buf_t. */
static inline llmgw_ext_buf_t *ext_buf(buf_t *b)
{
    return (llmgw_ext_buf_t *)(void *)b;
}
/* api->buf_append: 0, or -1 past the buffer's cap / out of memory. */
int ext_buf_append(llmgw_ext_buf_t *b, const char *data, size_t len);

/* Checks pa (struct size, wire format name, the functions every adapter
 * needs) and registers it under pa->wire_format. pa and state are borrowed
 * for the process's life; `plugin` (copied) names the extension in logs.
 * 0, or -1 with err naming the field ("adapter.wire_format: 'openai' is
 * already registered"). */
/* The checks of ext_adapter_register alone (room for it included), so a
 * plugin's registrations can be refused before any of them takes effect. */
int ext_adapter_check(const llmgw_ext_adapter_t *pa, char *err, size_t errlen);
int ext_adapter_register(const llmgw_ext_adapter_t *pa, void *state, const char *plugin, char *err,
                         size_t errlen);

#endif
