/* fuzz_sse: the SSE parser (server/common/sse.c) on arbitrary bytes.
 *
 * The first input byte picks the read size; the rest is the stream. It is
 * parsed twice, in one read and split into reads of that size, and both runs
 * must dispatch the same events with the same result: a stream's meaning may
 * not depend on where the network cut it. Every event's data must be
 * NUL-terminated at data_len and its type never NULL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

typedef struct {
    uint64_t hash;
    size_t events;
} fuzz_sse_seen_t;

static uint64_t fuzz_sse_mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int fuzz_sse_on_event(void *ud, const char *event, const char *data, size_t data_len)
{
    fuzz_sse_seen_t *s = ud;
    if (!event || !data || data[data_len] != '\0')
        abort();
    s->hash = fuzz_sse_mix(s->hash, event, strlen(event) + 1);
    s->hash = fuzz_sse_mix(s->hash, data, data_len + 1);
    s->events++;
    return 0;
}

static int fuzz_sse_run(const char *p, size_t n, size_t step, fuzz_sse_seen_t *s, int *partial)
{
    /* A small cap so the over-cap path is reached too. */
    sse_parser_t *ps = sse_parser_new(512);
    if (!ps)
        return -2;
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += step)
        rc = sse_parser_feed(ps, p + at, n - at < step ? n - at : step, fuzz_sse_on_event, s);
    if (n == 0)
        rc = sse_parser_feed(ps, p, 0, fuzz_sse_on_event, s);
    *partial = rc == 0 ? sse_parser_has_partial(ps) : -1;
    sse_parser_free(ps);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    fuzz_sse_seen_t whole = {14695981039346656037ull, 0}, split = whole;
    int pw, ps;
    int rw = fuzz_sse_run(p, n, n ? n : 1, &whole, &pw);
    int rs = fuzz_sse_run(p, n, step, &split, &ps);
    if (rw == -2 || rs == -2)
        return 0; /* out of memory: nothing to compare */
    if (rw != rs || pw != ps || whole.events != split.events || whole.hash != split.hash)
        abort();
    return 0;
}
