/* fuzz_json_out: the oracle for what llmgw writes. Every JSON body it sends
 * (to a caller: chat.completion, chunks, errors; to a provider: the request
 * body) must be one valid JSON document whatever the input was, in jansson's
 * number range (the other side may well load it with jansson), so the fuzz
 * targets check each one they produce. */
#ifndef LLMGW_FUZZ_JSON_OUT_H
#define LLMGW_FUZZ_JSON_OUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jscan.h"

/* Aborts (a fuzz finding) unless text[0..len) is one JSON document. */
static inline void fuzz_json_out_check(const char *what, const char *text, size_t len)
{
    jscan_value_t root;
    jscan_error_t err;
    if (jscan_document_flags(text, len, JSCAN_JANSSON_RANGE, &root, &err) < 0) {
        fprintf(stderr, "%s: not JSON at byte %zu (%s): %.*s\n", what, err.offset, err.msg,
                (int)(len > 2000 ? 2000 : len), text);
        abort();
    }
}

/* The same for a buffer of SSE events: every "data: " line but [DONE]. */
static inline void fuzz_json_out_check_sse(const char *what, const buf_t *b)
{
    const char *p = b->data, *end = b->data + b->len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t n = (size_t)(line_end - p);
        if (n > 6 && memcmp(p, "data: ", 6) == 0 && !(n == 12 && memcmp(p + 6, "[DONE]", 6) == 0))
            fuzz_json_out_check(what, p + 6, n - 6);
        p = nl ? nl + 1 : end;
    }
}

#endif
