/* buf: a growable byte buffer with a hard size cap.
 *
 * Invariants: `data` is NULL only while len == 0 and nothing was ever
 * appended; when non-NULL it is always NUL-terminated at data[len], so text
 * can be read as a C string. Appending past `cap` fails with -1 and leaves the
 * buffer unchanged: an upstream that streams forever must not grow us forever.
 */
#ifndef LLMGW_BUF_H
#define LLMGW_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap; /* hard limit on len */
} buf_t;

#define BUF_INIT(cap_)                                                                             \
    {                                                                                              \
        NULL, 0, 0, (cap_)                                                                         \
    }

/* Cannot fail; same as BUF_INIT. */
void buf_init(buf_t *b, size_t cap);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_free(buf_t *b);
/* Keeps the storage, drops the content. */
void buf_reset(buf_t *b);
/* 0, or -1 on allocation failure or when len would exceed cap. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_append_str(buf_t *b, const char *s);
int buf_append_char(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Room for n more bytes, for a writer that knows an upper bound of what it
 * writes: where to write them, or NULL (past cap, out of memory). Then
 * buf_commit(b, k) adds the k <= n bytes written (and the NUL). */
char *buf_space(buf_t *b, size_t n);
void buf_commit(buf_t *b, size_t k);
/* Drops the first n bytes (n <= len). */
void buf_consume(buf_t *b, size_t n);
/* Hands the storage to the caller (free() it; never NULL on success, "" when
 * empty) and leaves the buffer empty. NULL on allocation failure. */
char *buf_take(buf_t *b);
/* Borrowed C string ("" when empty); valid until the next change. */
const char *buf_cstr(const buf_t *b);

#endif
