/* fuzz_rpc_dataplane: the protobuf input of each RPC the data plane accepts,
 * decoded as its handlers decode it (front/rpc_*.c, core/sync.c) and checked
 * as they check it. The first byte picks the message, the rest is its wire
 * bytes:
 *   0 ChatRequest (Complete, Stream, RoutingService.Explain): chatreq_validate,
 *     then both wire formats' upstream bodies built from a valid request;
 *   1 EnsembleRequest (Ensemble): its chat request validated;
 *   2 ListModelsRequest; 3 ProvidersRequest;
 *   4 RoutingTable (pushed by the control plane): its table_json loaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "arena.h"
#include "buf.h"
#include "chatreq.h"
#include "fuzz_json_out.h"
#include "llmgw/v1/chat.pb-c.h"
#include "llmgw/v1/control.pb-c.h"
#include "llmgw/v1/routing.pb-c.h"
#include "openai.h"
#include "table.h"

static void fuzz_rpc_chat(const Llmgw__V1__ChatRequest *req)
{
    char err[512] = "";
    if (chatreq_validate(req, err, sizeof(err)) < 0) {
        if (!err[0])
            abort(); /* a refusal must name the field */
        return;
    }
    buf_t out;
    buf_init(&out, 64u << 20);
    if (openai_build_chat_request(req, "m", true, &out, err, sizeof(err)) == 0)
        fuzz_json_out_check("openai request", out.data, out.len);
    buf_reset(&out);
    if (anthropic_build_request(req, "m", 1024, false, &out, err, sizeof(err)) == 0)
        fuzz_json_out_check("anthropic request", out.data, out.len);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    arena_t *a = arena_new(64u << 20);
    if (!a)
        return 0;
    ProtobufCAllocator *pa = arena_pb_allocator(a);
    switch (data[0] % 5) {
    case 0: {
        Llmgw__V1__ChatRequest *r = llmgw__v1__chat_request__unpack(pa, len, msg);
        if (r)
            fuzz_rpc_chat(r);
        break;
    }
    case 1: {
        Llmgw__V1__EnsembleRequest *r = llmgw__v1__ensemble_request__unpack(pa, len, msg);
        if (r && r->request)
            fuzz_rpc_chat(r->request);
        break;
    }
    case 2:
        (void)llmgw__v1__list_models_request__unpack(pa, len, msg);
        break;
    case 3:
        (void)llmgw__v1__providers_request__unpack(pa, len, msg);
        break;
    case 4: {
        /* core/sync.c unpacks with the default allocator and frees. */
        Llmgw__V1__RoutingTable *rt = llmgw__v1__routing_table__unpack(NULL, len, msg);
        if (rt) {
            char err[512];
            table_t *t = table_load_json(rt->table_json, strlen(rt->table_json), err, sizeof(err));
            table_unref(t);
            llmgw__v1__routing_table__free_unpacked(rt, NULL);
        }
        break;
    }
    }
    arena_free(a);
    return 0;
}
