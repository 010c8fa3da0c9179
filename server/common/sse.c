/* sse: a Server-Sent Events parser (WHATWG "event stream interpretation").
 *
 * Bytes are scanned for line ends; a complete line that lies wholly inside
 * one feed is processed in place, and only the tail of an unfinished line is
 * copied into `line`. Invariants:
 *   - `line` holds the bytes of the current unfinished line (never a CR/LF);
 *   - `data` holds the event's data lines, each followed by '\n';
 *   - `skip_lf` is set when the last byte seen was a CR that ended a line,
 *     so an LF opening the next feed completes that CRLF instead of ending
 *     an empty line (which would dispatch the event early);
 *   - once `failed` is set every feed returns -1: the stream position is
 *     lost, so no later event could be trusted.
 * The three buffers are capped at max_event_bytes: past the cap the feed
 * fails rather than growing.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct sse_parser {
    buf_t line;
    buf_t data;
    buf_t event;
    size_t max_event_bytes;
    bool skip_lf;
    bool first_line; /* a UTF-8 BOM may open the stream, and only there */
    bool failed;
};

sse_parser_t *sse_parser_new(size_t max_event_bytes)
{
    sse_parser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    buf_init(&p->line, max_event_bytes);
    buf_init(&p->data, max_event_bytes);
    buf_init(&p->event, max_event_bytes);
    p->max_event_bytes = max_event_bytes;
    p->first_line = true;
    return p;
}

void sse_parser_free(sse_parser_t *p)
{
    if (!p)
        return;
    buf_free(&p->line);
    buf_free(&p->data);
    buf_free(&p->event);
    free(p);
}

bool sse_parser_has_partial(const sse_parser_t *p)
{
    return p->line.len > 0 || p->data.len > 0 || p->event.len > 0;
}

/* Returns the callback's value (0 when nothing was dispatched). */
static int sse_dispatch(sse_parser_t *p, sse_event_fn fn, void *ud)
{
    /* No data line since the last dispatch: the spec drops the event (and
     * its type) silently. */
    if (p->data.len == 0) {
        buf_reset(&p->event);
        return 0;
    }
    /* Drop the '\n' that followed the last data line. */
    size_t len = p->data.len - 1;
    p->data.data[len] = '\0';
    int rc = fn(ud, buf_cstr(&p->event), p->data.data, len);
    buf_reset(&p->data);
    buf_reset(&p->event);
    return rc;
}

/* -1 past the cap; otherwise 0, with *stop set to the callback's value when
 * the line dispatched an event. */
static int sse_process_line(sse_parser_t *p, const char *line, size_t len, sse_event_fn fn,
                            void *ud, int *stop)
{
    if (p->first_line) {
        p->first_line = false;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            len -= 3;
        }
    }
    if (len == 0) {
        *stop = sse_dispatch(p, fn, ud);
        return 0;
    }
    if (line[0] == ':')
        return 0;

    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }

    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (buf_append(&p->data, value, value_len) < 0 || buf_append_char(&p->data, '\n') < 0)
            return -1;
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        buf_reset(&p->event);
        if (buf_append(&p->event, value, value_len) < 0)
            return -1;
    }
    /* "id", "retry" and unknown fields are ignored, as the spec allows a
     * client that does not reconnect by itself. */
    return 0;
}

int sse_parser_feed(sse_parser_t *p, const char *bytes, size_t n, sse_event_fn fn, void *ud)
{
    if (p->failed)
        return -1;
    size_t i = 0;
    if (p->skip_lf && n > 0) {
        p->skip_lf = false;
        if (bytes[0] == '\n')
            i = 1;
    }
    while (i < n) {
        size_t j = i;
        while (j < n && bytes[j] != '\n' && bytes[j] != '\r')
            j++;
        if (j == n) {
            if (buf_append(&p->line, bytes + i, n - i) < 0)
                goto fail;
            break;
        }

        const char *line;
        size_t len;
        if (p->line.len == 0) {
            line = bytes + i;
            len = j - i;
            if (len > p->max_event_bytes)
                goto fail;
        } else {
            if (buf_append(&p->line, bytes + i, j - i) < 0)
                goto fail;
            line = p->line.data;
            len = p->line.len;
        }

        i = j + 1;
        if (bytes[j] == '\r') {
            if (i < n && bytes[i] == '\n')
                i++;
            else if (i == n)
                p->skip_lf = true;
        }

        int stop = 0;
        int rc = sse_process_line(p, line, len, fn, ud, &stop);
        buf_reset(&p->line);
        if (rc < 0)
            goto fail;
        /* The bytes after the dispatching line are left unread: a caller
         * that stops is abandoning the stream. */
        if (stop != 0)
            return stop;
    }
    return 0;

fail:
    p->failed = true;
    return -1;
}
