/* cache: the response cache's store and its key. An exact-match map from a
 * 32-byte key (SHA-256 of a canonical request, cache_key_chat) to an opaque
 * value (what cache_replay.h packs), in memory, with a byte cap, LRU
 * eviction and a TTL per entry.
 *
 * Invariants:
 * - The bytes in use (cache_entry_cost of every entry) never exceed the cap:
 *   a put evicts least recently used entries until the new one fits, and a
 *   value that cannot fit even in an empty cache is refused.
 * - An entry is never returned at or after its expiry: a get of an expired
 *   entry removes it and misses. Time comes from the injected clock
 *   (monotonic ms), so tests control it.
 * - A get copies the value out under the lock: nothing handed out points
 *   into the cache, so entries can be evicted at any time.
 *
 * Thread model: every function may be called from any thread; one mutex
 * guards the map, the LRU list and the counters (held for a lookup plus one
 * memcpy of the value, never across a callback).
 */
#ifndef LLMGW_CACHE_H
#define LLMGW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "llmgw/v1/chat.pb-c.h"

#define CACHE_KEY_LEN 32

typedef struct cache cache_t;

typedef struct {
    unsigned char b[CACHE_KEY_LEN];
} cache_key_t;

/* Monotonic milliseconds. */
typedef int64_t (*cache_clock_fn)(void *ud);

typedef struct {
    size_t entries;
    size_t bytes; /* sum of cache_entry_cost */
    size_t max_bytes;
    uint64_t hits, misses, stores, evictions, expirations;
} cache_stats_t;

/* max_bytes > 0. clock NULL: clock_now_ms. NULL when out of memory. */
cache_t *cache_new(size_t max_bytes, cache_clock_fn clock, void *clock_ud);
/* NULL is a no-op. */
void cache_free(cache_t *c);

/* What an entry with a value of `len` bytes counts against the cap. */
size_t cache_entry_cost(size_t len);

/* Stores a copy of data[0..len) under k for ttl_ms (> 0), replacing an
 * entry with the same key, and makes it the most recently used. 0, or -1
 * when it cannot fit in the cap or memory is short (nothing changed). */
int cache_put(cache_t *c, const cache_key_t *k, const void *data, size_t len, int64_t ttl_ms);

/* 1 on a hit: the value appended to `out` (cleared first), the entry made
 * the most recently used, *age_ms (may be NULL) how long ago it was stored.
 * 0 on a miss (absent or expired), -1 when `out` cannot take the value
 * (counted as a miss). */
int cache_get(cache_t *c, const cache_key_t *k, buf_t *out, int64_t *age_ms);

void cache_stats(cache_t *c, cache_stats_t *out);

/* The key of a chat request: SHA-256 over a canonical JSON text of the
 * scope (whose entries these are: the API key's name, "" when auth is
 * off), the target (route name, or provider/model), whether it streams, the
 * messages (role, content, name, tool_call_id, tool_calls, content parts),
 * the sampling fields (temperature, top_p, penalties, max_tokens, seed,
 * stop), tools, tool_choice, response_format, the members passed through
 * (extra_body_json) and the routing options. JSON carried as text is parsed
 * and written back with object members sorted and whitespace dropped, so
 * two requests that differ only in member order or spacing share a key;
 * text that is not JSON is hashed as a string. Array order, numbers' values
 * and every string's bytes count. 0, or -1 when out of memory. */
int cache_key_chat(const Llmgw__V1__ChatRequest *req, const char *scope, const char *target,
                   bool stream, cache_key_t *out);

#endif
