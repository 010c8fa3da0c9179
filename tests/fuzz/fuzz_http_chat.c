/* fuzz_http_chat: the HTTP front door's body decoders (front/http_chat.c) on
 * arbitrary bytes: a /v1/chat/completions body decoded and validated as the
 * pipeline validates it (core/chatreq.c), then the provider request bodies
 * built from it (both wire formats); and the same bytes as a
 * /v1/completions or /v1/embeddings body (http_chat_decode_raw, with and
 * without streaming allowed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "arena.h"
#include "buf.h"
#include "chatreq.h"
#include "fuzz_json_out.h"
#include "http_chat.h"
#include "openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    arena_t *a = arena_new(64u << 20);
    if (!a)
        return 0;
    char err[512] = "";
    http_chat_request_t req = {0};
    if (http_chat_decode(body, size, a, &req, err, sizeof(err)) == 0) {
        if (!req.req)
            abort();
        err[0] = '\0';
        if (chatreq_validate(req.req, err, sizeof(err)) == 0) {
            buf_t out;
            buf_init(&out, 64u << 20);
            if (openai_build_chat_request(req.req, "m", req.stream, &out, err, sizeof(err)) == 0)
                fuzz_json_out_check("openai request", out.data, out.len);
            buf_reset(&out);
            if (anthropic_build_request(req.req, "m", 1024, req.stream, &out, err, sizeof(err)) ==
                0)
                fuzz_json_out_check("anthropic request", out.data, out.len);
            buf_free(&out);
        } else if (!err[0]) {
            abort();
        }
    } else if (!err[0]) {
        abort(); /* a refusal must name the field */
    }
    bool stream = false;
    const char *model = NULL, *rest = NULL;
    err[0] = '\0';
    if (http_chat_decode_raw(body, size, a, &stream, &model, &rest, err, sizeof(err)) == 0) {
        if (!model || !rest)
            abort();
        fuzz_json_out_check("raw body members", rest, strlen(rest));
    } else if (!err[0]) {
        abort();
    }
    (void)http_chat_decode_raw(body, size, a, NULL, &model, &rest, err, sizeof(err));
    arena_free(a);
    /* Again with an arena too small for most bodies: out of memory is an
     * error with a message, wherever it strikes. */
    if ((a = arena_new(64 + (size * 7) % 4096))) {
        err[0] = '\0';
        if (http_chat_decode(body, size, a, &req, err, sizeof(err)) < 0 && !err[0])
            abort();
        arena_free(a);
    }
    return 0;
}
