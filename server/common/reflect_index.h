/* reflect_index: an index over a serialized google.protobuf.FileDescriptorSet,
 * for gRPC server reflection (grpc_reflection.c): files by name, the file that
 * defines each fully-qualified symbol, and a file's transitive dependencies.
 *
 * The set is read with a small protobuf wire reader (only the fields named
 * below) rather than generated code: llmgw has no copy of descriptor.proto,
 * and reflection hands out each file's bytes untouched anyway.
 *
 * Symbols indexed: messages and nested messages, their fields, oneofs and
 * extensions, enums (top-level and nested) and their values (scoped like
 * protoc: a value lives beside its enum), services and their methods.
 *
 * Invariants: the index borrows the set's bytes (they must outlive it) and is
 * immutable after ri_index_new, so any thread may read it without a lock.
 * Every dependency a file names is in the set (include_imports), or
 * ri_index_new fails.
 */
#ifndef LLMGW_REFLECT_INDEX_H
#define LLMGW_REFLECT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ri_index ri_index_t;

typedef enum {
    RI_SYM_MESSAGE,
    RI_SYM_FIELD,
    RI_SYM_ONEOF,
    RI_SYM_ENUM,
    RI_SYM_ENUM_VALUE,
    RI_SYM_SERVICE,
    RI_SYM_METHOD,
} ri_sym_kind_t;

/* NULL with err filled when the set is malformed or a dependency is missing.
 * Free with ri_index_free. */
ri_index_t *ri_index_new(const uint8_t *set, size_t len, char *err, size_t errlen);
void ri_index_free(ri_index_t *ix);

size_t ri_file_count(const ri_index_t *ix);
/* Name ("llmgw/v1/chat.proto") and serialized FileDescriptorProto of file i
 * (borrowed). */
const char *ri_file_name(const ri_index_t *ix, size_t i);
void ri_file_bytes(const ri_index_t *ix, size_t i, const uint8_t **data, size_t *len);

/* Index of the file named `name` (`len` bytes), or -1. */
long ri_find_file(const ri_index_t *ix, const char *name, size_t len);
/* Index of the file defining fully-qualified `name` (no leading dot), or -1;
 * *kind (may be NULL) says what the symbol is. */
long ri_find_symbol(const ri_index_t *ix, const char *name, size_t len, ri_sym_kind_t *kind);
/* File `file` followed by its transitive dependencies, each once, into out
 * (room for ri_file_count entries). Returns how many. */
size_t ri_closure(const ri_index_t *ix, size_t file, size_t *out);

#endif
