/* cp_rpc: the shape shared by every unary control-plane method — check the
 * admin token against the in-memory set on the completion-queue thread (a
 * miss is looked up again on the worker), run decode and body on the worker
 * pool, encode and finish there.
 */
#ifndef LLMGW_CP_RPC_H
#define LLMGW_CP_RPC_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "cp.h"

/* The body: fills *resp (malloc'd message freed with
 * protobuf_c_message_free_unpacked(…, NULL)) and returns OK, or returns
 * another status with details filled. */
typedef grpc_status_code (*cp_rpc_fn)(cp_t *cp, const char *role, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen);

typedef struct {
    const char *path; /* "/llmgw.v1.RegistryService/CreateProvider" */
    const ProtobufCMessageDescriptor *req_desc;
    cp_rpc_fn fn;
    cp_t *cp;
} cp_rpc_method_t;

/* Registers each method of a table (the table must outlive the server). */
int cp_rpc_register(cp_t *cp, cp_rpc_method_t *methods, size_t n);

#endif
