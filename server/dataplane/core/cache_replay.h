/* cache_replay: what the response cache stores for a chat answer, and the
 * rule of which requests use it.
 *
 * A unary answer is stored as its packed ChatResponse; a stream as the
 * chunks that went to the client, in order, each a 4-byte little-endian
 * length and a packed ChatChunk, the closing chunk (route, finish) last. A
 * hit is replayed from that text: the same chunks again for a stream, so a
 * streamed hit is a stream. Unary and streaming requests have different
 * keys (cache_key_chat's `stream`), so a value is always read as what it
 * was written as; a value that does not decode is a miss.
 *
 * Pure: no state, no I/O, no locks.
 */
#ifndef LLMGW_CACHE_REPLAY_H
#define LLMGW_CACHE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"
#include "table.h"

/* How long this request's answer may be cached: the route's ttl, or 0 (no
 * cache) when there is no route (provider/model), the route does not cache,
 * the caller said no-cache, or the temperature (1, a provider's usual
 * default, when unset) is above the route's max_temperature. */
int64_t cache_replay_ttl_ms(const table_route_t *route, const Llmgw__V1__ChatRequest *req,
                            bool no_cache);

/* Whether a Cache-Control value (HTTP header or gRPC metadata; NULL:
 * absent) holds the directive no-cache or no-store (case-insensitive,
 * comma-separated, `no-cache="field"` counts too). */
bool cache_replay_no_cache(const char *cache_control);

/* The unary value. 0, or -1 when `out` is full / out of memory. */
int cache_replay_pack_response(const Llmgw__V1__ChatResponse *resp, buf_t *out);
/* Appends one stream chunk to the value being built. 0 or -1 (full). */
int cache_replay_add_chunk(buf_t *out, const Llmgw__V1__ChatChunk *chunk);

/* The stored ChatResponse, decoded into `a`; NULL when it does not decode. */
Llmgw__V1__ChatResponse *cache_replay_response(const char *data, size_t len, arena_t *a);
/* The next stored chunk from *off (advanced): 1 with *out (in `a`), 0 at
 * the end, -1 when the value is corrupt. */
int cache_replay_next_chunk(const char *data, size_t len, size_t *off, arena_t *a,
                            Llmgw__V1__ChatChunk **out);

/* The route decision of a hit (in `a`): route, the provider/model that
 * produced the answer, strategy "cache", cache_hit set, no attempts, and a
 * reason saying how old the entry is. NULL when out of memory. */
Llmgw__V1__RouteDecision *cache_replay_decision(arena_t *a, const char *route, const char *provider,
                                                const char *model, int64_t age_ms);

#endif
