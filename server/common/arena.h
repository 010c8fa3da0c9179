/* arena: per-request bump allocator.
 *
 * Everything a request builds (protobuf-c messages for the answer, strings
 * parsed from upstream JSON) is allocated here and freed at once when the
 * request ends: no per-field free, no leak on an error path. Not thread-safe:
 * one owner at a time. Allocations are 16-byte aligned and zeroed.
 */
#ifndef LLMGW_ARENA_H
#define LLMGW_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena arena_t;

/* NULL on allocation failure. `limit` caps the total bytes handed out
 * (0: unlimited); past it every allocation returns NULL. */
arena_t *arena_new(size_t limit);
void arena_free(arena_t *a);
/* Zeroed memory owned by the arena, or NULL. */
void *arena_alloc(arena_t *a, size_t n);
/* Copies of s owned by the arena, or NULL. */
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);
/* A protobuf-c allocator drawing from the arena (free is a no-op), for
 * unpacking messages whose lifetime is the request's. */
ProtobufCAllocator *arena_pb_allocator(arena_t *a);
/* Drops everything allocated so far but keeps one block for reuse: a
 * streaming request parses each chunk into the same arena without growing. */
void arena_reset(arena_t *a);
/* Bytes handed out so far. */
size_t arena_used(const arena_t *a);

#endif
