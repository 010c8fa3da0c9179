/* fuzz_adapter: what the provider-format fuzz targets share — an answer body
 * or an SSE stream from an upstream, driven through an adapter exactly as the
 * pipeline drives it (core/pipeline.c), and whatever it produced encoded for
 * the caller as the HTTP front door encodes it (front/http_chat.c), which
 * must be valid JSON (fuzz_json_out.h). */
#ifndef LLMGW_FUZZ_ADAPTER_H
#define LLMGW_FUZZ_ADAPTER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "arena.h"
#include "buf.h"
#include "fuzz_json_out.h"
#include "http_chat.h"
#include "sse.h"
#include "uerror.h"

/* A body: parsed as a 200 answer, and read as the error body of a 4xx/5xx. */
static inline void fuzz_adapter_response(const adapter_t *ad, const uint8_t *data, size_t size)
{
    arena_t *a = arena_new(64u << 20);
    if (!a)
        return;
    char err[256] = "";
    Llmgw__V1__ChatResponse *resp = NULL;
    int rc = ad->parse_chat_response((const char *)data, size, a, &resp, err, sizeof(err));
    if (rc == 0) {
        if (!resp)
            abort();
        buf_t out;
        buf_init(&out, 64u << 20);
        if (http_chat_encode_response(resp, &out) == 0)
            fuzz_json_out_check("chat.completion", out.data, out.len);
        buf_free(&out);
    } else if (!err[0]) {
        abort(); /* a refusal must say why */
    }
    arena_free(a);
    /* Again with an arena too small for most answers: out of memory is an
     * error with a message, wherever it strikes. */
    if ((a = arena_new(64 + (size * 7) % 4096))) {
        err[0] = '\0';
        if (ad->parse_chat_response((const char *)data, size, a, &resp, err, sizeof(err)) < 0 &&
            !err[0])
            abort();
        arena_free(a);
    }
    uerror_t e;
    memset(&e, 0, sizeof(e));
    ad->error_from_http(&e, size % 2 ? 429 : 500, (const char *)data, size, size % 3 ? "7" : NULL);
    if (!e.type || strnlen(e.message, sizeof(e.message)) == sizeof(e.message))
        abort();
    /* The provider's message reaches the caller in our error body. */
    http_error_t he;
    http_error_from_status(e.grpc_status, e.message, NULL, &he);
    buf_t out;
    buf_init(&out, 1u << 20);
    if (http_chat_encode_error(&he, e.message, &out) == 0)
        fuzz_json_out_check("error body", out.data, out.len);
    buf_free(&out);
}

typedef struct {
    const adapter_t *ad;
    adapter_stream_t *s;
    arena_t *scratch;
    bool done;
    char err[256];
} fuzz_adapter_stream_t;

static int fuzz_adapter_on_event(void *ud, const char *event, const char *data, size_t len)
{
    fuzz_adapter_stream_t *f = ud;
    Llmgw__V1__ChatChunk *ch = NULL;
    arena_reset(f->scratch);
    f->err[0] = '\0';
    if (f->ad->stream_event(f->s, event, data, len, f->scratch, &ch, &f->done, f->err,
                            sizeof(f->err)) < 0)
        return 1; /* the pipeline ends the attempt here */
    if (ch) {
        buf_t out;
        buf_init(&out, 64u << 20);
        if (http_chat_encode_chunk(ch, true, &out) == 0)
            fuzz_json_out_check_sse("chat.completion.chunk", &out);
        buf_reset(&out);
        if (http_chat_encode_stream_end(ch, true, &out) == 0)
            fuzz_json_out_check_sse("stream end", &out);
        buf_free(&out);
    }
    return f->done ? 1 : 0;
}

/* A stream: the first byte picks the read size, the rest is the SSE body. */
static inline void fuzz_adapter_stream(const adapter_t *ad, const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    size_t step = (size_t)data[0] % 128 + 1;
    fuzz_adapter_stream_t f = {.ad = ad};
    f.s = ad->stream_new();
    f.scratch = arena_new(0);
    sse_parser_t *p = sse_parser_new(1u << 16);
    if (f.s && f.scratch && p) {
        int rc = 0;
        for (size_t at = 1; at < size && rc == 0; at += step)
            rc = sse_parser_feed(p, (const char *)data + at, size - at < step ? size - at : step,
                                 fuzz_adapter_on_event, &f);
        (void)sse_parser_has_partial(p);
    }
    sse_parser_free(p);
    arena_free(f.scratch);
    if (f.s)
        ad->stream_free(f.s);
}

#endif
