/* fuzz_http_ensemble: the POST /v1/ensembles body decoder
 * (front/http_ensemble.c) on arbitrary bytes; a decoded request's chat
 * request is validated as every member's would be (core/chatreq.c). */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "chatreq.h"
#include "http_ensemble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t *a = arena_new(64u << 20);
    if (!a)
        return 0;
    char err[512] = "";
    Llmgw__V1__EnsembleRequest *req = NULL;
    if (http_ensemble_decode((const char *)data, size, a, &req, err, sizeof(err)) == 0) {
        if (!req)
            abort();
        if (req->request)
            (void)chatreq_validate(req->request, err, sizeof(err));
    } else if (!err[0]) {
        abort(); /* a refusal must name the field */
    }
    arena_free(a);
    /* Again with an arena too small for most bodies: out of memory is an
     * error with a message, wherever it strikes. */
    if ((a = arena_new(64 + (size * 7) % 4096))) {
        err[0] = '\0';
        if (http_ensemble_decode((const char *)data, size, a, &req, err, sizeof(err)) < 0 &&
            !err[0])
            abort();
        arena_free(a);
    }
    return 0;
}
