/* grpc_reflection: gRPC server reflection (grpc.reflection.v1 and
 * grpc.reflection.v1alpha ServerReflection/ServerReflectionInfo), a service
 * of grpc_server like any other, so clients (grpcurl, grpc-js reflection
 * clients) can discover and call llmgw's services with no .proto files.
 *
 * The descriptors are llmgw's own protos, compiled at build time into one
 * FileDescriptorSet (protoc --include_imports) and embedded in the binary:
 * what is answered is exactly what the binary was built from.
 *
 * Answers, one response per request, on one stream for as long as the client
 * keeps it open: list_services (the services the server registered, asked at
 * call time, so registering reflection first or last makes no difference);
 * file_by_filename and file_containing_symbol (the file, then its transitive
 * imports); all_extension_numbers_of_type (none: llmgw defines no
 * extensions). An unknown name gets error_response NOT_FOUND and the stream
 * stays open; a request with nothing set gets INVALID_ARGUMENT likewise; a
 * message that is not a ServerReflectionRequest ends the call with
 * INVALID_ARGUMENT.
 */
#ifndef LLMGW_GRPC_REFLECTION_H
#define LLMGW_GRPC_REFLECTION_H

#include "grpc_server.h"

#define GS_REFLECTION_V1_PATH "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define GS_REFLECTION_V1ALPHA_PATH "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* Before gs_server_start; freed by gs_server_free. 0, or -1 (logged) when the
 * embedded descriptor set cannot be indexed or memory runs out. */
int gs_reflection_register(gs_server_t *s);

#endif
