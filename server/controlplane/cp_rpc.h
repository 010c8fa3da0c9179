/* cp_rpc: the shape shared by every unary control-plane method — check the
 * admin token against the in-memory set on the completion-queue thread (a
 * miss is looked up again on the worker), check the token's role against the
 * method's access class (a refusal is PERMISSION_DENIED and an audit row),
 * run decode and body on the worker pool, encode and finish there.
 */
#ifndef LLMGW_CP_RPC_H
#define LLMGW_CP_RPC_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "audit.h"
#include "cp.h"
#include "cp_access.h"

/* The body: fills *resp (malloc'd message freed with
 * protobuf_c_message_free_unpacked(…, NULL)) and returns OK, or returns
 * another status with details filled. `who` is the caller (token name, role,
 * peer address) for audit rows and role checks; valid during the call. */
typedef grpc_status_code (*cp_rpc_fn)(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen);

typedef struct {
    const char *path; /* "/llmgw.v1.RegistryService/CreateProvider" */
    const ProtobufCMessageDescriptor *req_desc;
    cp_rpc_fn fn;
    cp_access_t access; /* who may call it (cp_access.h) */
    cp_t *cp;
} cp_rpc_method_t;

/* On a worker: writes the "access.denied" audit row for a call `who` may not
 * make and fills details with the PERMISSION_DENIED message. */
void cp_rpc_deny(cp_t *cp, const audit_actor_t *who, const char *path, cp_access_t cls,
                 char *details, size_t dlen);

/* The transport check of access class "nodes" (on any thread, before the
 * token): true when the call may go on; otherwise the call was finished
 * UNAUTHENTICATED, naming the client certificate it lacks. Other classes
 * always pass: admins authenticate with tokens. */
bool cp_rpc_node_transport(const cp_t *cp, gs_call_t *call, cp_access_t cls);

/* Registers each method of a table (the table must outlive the server).
 * -1 when a method has no access class. Also records the method for
 * cp_rpc_find (the console's JSON bridge, cp_http.c). */
int cp_rpc_register(cp_t *cp, cp_rpc_method_t *methods, size_t n);

/* The registered unary methods, for other front doors over the same table.
 * Registration happens before any server starts; afterwards the list is
 * read-only, so these are safe from any thread. find: NULL when `path`
 * ("/llmgw.v1.RegistryService/ListProviders") is not registered. at: the
 * i-th method in registration order, NULL past the end. */
const cp_rpc_method_t *cp_rpc_find(const char *path);
const cp_rpc_method_t *cp_rpc_at(size_t i);

/* On a worker, for a caller already authenticated: the access check (a
 * refusal is PERMISSION_DENIED with its audit row, as for gRPC), decode of
 * the packed request and the body. OK with *resp set (may be NULL: an empty
 * answer; free with protobuf_c_message_free_unpacked(…, NULL)), or another
 * status with details filled. */
grpc_status_code cp_rpc_invoke(const cp_rpc_method_t *m, const audit_actor_t *who,
                               const uint8_t *msg, size_t len, ProtobufCMessage **resp,
                               char *details, size_t dlen);

#endif
