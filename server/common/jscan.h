/* jscan: a strict, non-allocating JSON (RFC 8259) pull scanner over a byte span.
 *
 * Nothing is built: a value is a span of the input (jscan_value_t) that the
 * caller walks with an iterator, decodes on demand, or copies verbatim. The
 * scanner is for hot paths that read a few members of a larger document (a
 * provider's answer) without a malloc per value.
 *
 * Invariants:
 * - Nothing reads past `len`; the input needs no NUL terminator and may hold
 *   NUL bytes (which are then an error, like any other stray byte).
 * - Everything RFC 8259 rejects is rejected: bad numbers (01, 1., .5, +1,
 *   -), bad or unknown escapes, raw control characters in strings, invalid
 *   UTF-8 (overlongs, surrogates, > U+10FFFF, truncated sequences), lone or
 *   reversed \u surrogates, unterminated input, trailing bytes after the
 *   value. Like jansson's default, \u0000 is refused too, so a decoded string
 *   is always a valid C string.
 * - Nesting is capped at JSCAN_MAX_DEPTH containers (an error past it), and
 *   scanning never recurses: the stack use is fixed.
 * - Duplicate keys are not an error; the iterator returns every member in
 *   order, so a caller that keeps the last one gets jansson's "last wins".
 * - Numbers are not range-checked by jscan_document (RFC 8259 leaves range
 *   to the reader): jscan_int64 / jscan_double refuse what does not fit.
 *   jscan_document_flags(JSCAN_JANSSON_RANGE) also refuses what jansson's
 *   loader refuses (an integer beyond int64_t, a real that overflows a
 *   double; underflow reads as 0), for callers whose kept text must load
 *   with jansson again.
 *
 * Spans handed out point into the caller's input and are valid as long as it.
 */
#ifndef LLMGW_JSCAN_H
#define LLMGW_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define JSCAN_MAX_DEPTH 64

typedef enum {
    JSCAN_NONE = 0, /* no value (a member that was not found) */
    JSCAN_OBJECT,
    JSCAN_ARRAY,
    JSCAN_STRING,
    JSCAN_NUMBER,
    JSCAN_TRUE,
    JSCAN_FALSE,
    JSCAN_NULL,
} jscan_type_t;

/* One value's text: for a string the quotes are included, for a container
 * the brackets. A zeroed jscan_value_t is JSCAN_NONE. */
typedef struct {
    const char *p;
    size_t len;
    jscan_type_t type;
} jscan_value_t;

/* Where and why scanning stopped. `msg` is a static string. */
typedef struct {
    size_t offset; /* bytes from the start of the scanned span */
    const char *msg;
} jscan_error_t;

/* Walks one object's members or one array's elements. */
typedef struct {
    const char *p, *end; /* unread part of the container's span */
    bool object;
    bool started;
    const char *base; /* the container's first byte, for error offsets */
} jscan_iter_t;

/* Validates that text[0..len) is exactly one JSON value (any type) with only
 * whitespace around it, and sets *root to it. 0, or -1 with *err set. */
int jscan_document(const char *text, size_t len, jscan_value_t *root, jscan_error_t *err);

/* jscan_document_flags: numbers must be in jansson's range (see above). */
#define JSCAN_JANSSON_RANGE 1u

/* jscan_document with flags (0 or JSCAN_JANSSON_RANGE). */
int jscan_document_flags(const char *text, size_t len, unsigned flags, jscan_value_t *root,
                         jscan_error_t *err);

/* 1-based line and byte column of `offset` in text, for messages. */
void jscan_line_column(const char *text, size_t offset, int *line, int *column);

/* Starts iterating `v`, an object or an array. -1 if it is neither. */
int jscan_iter_init(jscan_iter_t *it, const jscan_value_t *v);

/* The next member of an object: 1 with *key (a JSCAN_STRING, quotes
 * included) and *val set; 0 at the end; -1 on malformed input (err may be
 * NULL). Each value is validated as it is stepped over. */
int jscan_object_next(jscan_iter_t *it, jscan_value_t *key, jscan_value_t *val, jscan_error_t *err);

/* The next element of an array; same returns as jscan_object_next. */
int jscan_array_next(jscan_iter_t *it, jscan_value_t *val, jscan_error_t *err);

/* True when the string value v decodes to exactly the C string s. Does not
 * allocate. False for non-strings. */
bool jscan_string_eq(const jscan_value_t *v, const char *s);

/* True when the string values a and b decode to the same text. */
bool jscan_string_same(const jscan_value_t *a, const jscan_value_t *b);

/* The decoded text of a valid string value written to dst, which must have
 * room for v->len bytes (decoding never grows the text); NUL-terminated.
 * Returns the decoded length (without the NUL). */
size_t jscan_string_decode(const jscan_value_t *v, char *dst);

/* The decoded text of a valid string value, NUL-terminated, in the arena
 * (owned by it); *len (may be NULL) gets its length. NULL when the value is
 * not a string or the arena is out of memory. */
char *jscan_string_dup(const jscan_value_t *v, arena_t *a, size_t *len);

/* Marks the members of the object obj whose key a later member repeats
 * (keys compared decoded: "a" and "\u0061" are one key): repeated_by_later[i]
 * for the i-th member, i < n, where n is the object's member count (or
 * fewer: only the first n members are compared). The unmarked members are
 * the ones "last wins" keeps. Keys are sorted, so an object of many members
 * costs O(n log n). Scratch memory is malloc'd and freed before returning.
 * 0, or -1 out of memory (the marks are then all false). */
int jscan_object_repeats(const jscan_value_t *obj, size_t n, bool *repeated_by_later);

/* The value's text without the whitespace outside strings, written to dst
 * (room for v->len bytes; not NUL-terminated). Strings, numbers and key
 * order are kept as the input spelled them. Returns the bytes written. */
size_t jscan_compact(const jscan_value_t *v, char *dst);

/* True when a number value is written without fraction or exponent. */
bool jscan_number_is_integer(const jscan_value_t *v);

/* An integer-syntax number that fits int64_t: 0; else -1 (*out untouched). */
int jscan_int64(const jscan_value_t *v, int64_t *out);

/* Any number whose value is finite as a double: 0; else -1. Numbers longer
 * than 511 bytes are refused rather than copied to the heap. */
int jscan_double(const jscan_value_t *v, double *out);

#endif
