/* sse: a Server-Sent Events parser (the WHATWG event-stream format).
 *
 * Feed bytes as they arrive, split anywhere (even inside a CRLF): lines end
 * in LF, CR or CRLF; lines starting with ':' are comments; `data:` lines
 * accumulate (joined by '\n'); a blank line dispatches the event; a single
 * leading space after the colon is dropped; `event:` sets the type; `id:` and
 * `retry:` are accepted and ignored. An event whose data buffer is empty is
 * not dispatched. Lines and events are capped (max_event_bytes): past the cap
 * sse_parser_feed fails instead of growing.
 */
#ifndef LLMGW_SSE_H
#define LLMGW_SSE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sse_parser sse_parser_t;

/* Called once per event. `event` is the type ("" when none was given, never
 * NULL); `data` is NUL-terminated. Borrowed for the duration of the call.
 * Return 0 to continue, non-zero to stop: sse_parser_feed returns that value. */
typedef int (*sse_event_fn)(void *ud, const char *event, const char *data, size_t data_len);

/* NULL on allocation failure. */
sse_parser_t *sse_parser_new(size_t max_event_bytes);
void sse_parser_free(sse_parser_t *p);
/* 0; the callback's non-zero return; or -1 when a line or event exceeds the
 * cap or memory runs out (the parser is then unusable). */
int sse_parser_feed(sse_parser_t *p, const char *bytes, size_t n, sse_event_fn fn, void *ud);
/* True when bytes of an unfinished line or event are buffered: at end of
 * stream that means the stream ended early (the partial event is dropped). */
bool sse_parser_has_partial(const sse_parser_t *p);

#endif
