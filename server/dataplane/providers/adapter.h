/* adapter: one provider wire format, as the pipeline sees it.
 *
 * The pipeline never speaks a provider's format itself: it asks the
 * provider's adapter for the URL path, the auth headers, the request body,
 * and to turn answers, stream events and error bodies into llmgw's
 * messages and the normalized uerror_t. Adding a format (Anthropic's
 * Messages API, …) is adding an adapter, not touching the attempt loop.
 *
 * Adapters are stateless tables; a stream's per-attempt state lives in an
 * adapter_stream_t the adapter allocates (stream_new) and the pipeline frees.
 *
 * The registry: every wire format is registered by name through
 * adapter_register — the built-in openai and anthropic adapters (on first
 * use) exactly as the ones extensions bring (ext_adapter.h). Registration
 * happens at startup, before any request; lookups after that read an
 * array that no longer changes, so they take no lock.
 */
#ifndef LLMGW_ADAPTER_H
#define LLMGW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "table.h"
#include "uerror.h"

typedef struct adapter_stream adapter_stream_t;

typedef struct {
    const char *name; /* "openai" */
    /* Appended to the provider's base_url for chat. */
    const char *chat_path;
    /* The headers every request to provider p carries (auth and any format
     * headers), allocated in `a`; the provider's extra headers are added by
     * the caller. 0 or -1 (out of memory). */
    int (*auth_headers)(const table_provider_t *p, arena_t *a, const char **out, size_t *n,
                        size_t cap);
    /* The body for provider p (its quirks: fields it rejects, defaults). */
    int (*build_chat_request)(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                              const char *upstream_model, bool stream, buf_t *out, char *err,
                              size_t errlen);
    int (*parse_chat_response)(const char *body, size_t len, arena_t *a,
                               Llmgw__V1__ChatResponse **out, char *err, size_t errlen);
    /* Per-attempt stream state; NULL on allocation failure. */
    adapter_stream_t *(*stream_new)(void);
    void (*stream_free)(adapter_stream_t *s);
    /* One SSE event. Sets *out to a chunk (in `a`) when the event carries
     * one, else NULL; sets *done at the format's end of stream. 0, or -1
     * with err when the event is malformed or is the provider's error. */
    int (*stream_event)(adapter_stream_t *s, const char *event, const char *data, size_t len,
                        arena_t *a, Llmgw__V1__ChatChunk **out, bool *done, char *err,
                        size_t errlen);
    /* A non-2xx answer into the normalized error. */
    void (*error_from_http)(uerror_t *e, long status, const char *body, size_t len,
                            const char *retry_after);
    /* The OpenAI-shaped endpoints besides chat this format serves verbatim
     * ("/completions", "/embeddings"; NULL-terminated): the pipeline's raw
     * calls forward their body to base_url + path unchanged, with only
     * "model" put in. NULL: none (a raw call to such a provider is refused). */
    const char *const *raw_paths;
} adapter_t;

#define ADAPTER_MAX 16 /* wire formats one process can know */

/* Adds `a` (borrowed for the process's life) under a->name. 0, or -1 with
 * err when the name is taken, empty or the registry is full. The built-in
 * adapters are registered first, so an extension cannot replace them. */
int adapter_register(const adapter_t *a, char *err, size_t errlen);
/* The adapter registered as `wire_format`; NULL when none. */
const adapter_t *adapter_find(const char *wire_format);
/* The registered adapters, in registration order (for listings). */
size_t adapter_count(void);
const adapter_t *adapter_at(size_t i);

/* The adapter for provider p: the one registered under its wire_format
 * ("openai" when it names none, docs/providers.md); NULL when the format it
 * names has no adapter (an extension that is not loaded). */
const adapter_t *adapter_for(const table_provider_t *p);

/* The chat URL of provider p in `a`: base_url + the adapter's chat_path (or
 * the provider's quirks.chat_path, "{model}" replaced by upstream_model), or
 * base_url + `path` when path is not NULL; "?api-version=..." appended for
 * the api-key auth style (Azure). NULL when out of memory. */
char *adapter_chat_url(const adapter_t *ad, const table_provider_t *p, const char *path,
                       const char *upstream_model, arena_t *a);

/* The API key header of p's auth_style ("Authorization: Bearer k",
 * "x-api-key: k", "api-key: k"; none for "none" or no key). 0 or -1. */
int adapter_key_header(const table_provider_t *p, arena_t *a, const char **out, size_t *n,
                       size_t cap);

/* Whether ad serves the raw (OpenAI-shaped) endpoint `path`. */
bool adapter_serves_raw(const adapter_t *ad, const char *path);

/* The OpenAI chat.completions format. */
extern const adapter_t adapter_openai;

#endif
