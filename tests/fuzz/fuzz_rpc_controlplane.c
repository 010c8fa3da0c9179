/* fuzz_rpc_controlplane: the protobuf input of each RPC the control plane
 * serves, unpacked as server/controlplane/cp_rpc.c unpacks it (by the
 * method's input descriptor, default allocator) and checked by the
 * validators that run before any SQL (cp_validate.c, cp_presets.c): the
 * registry's providers, models and routes, and the names of the
 * distribution RPCs. The first two bytes pick the service and the method,
 * the rest is the message.
 *
 * The governance, budget and usage handlers copy a request into storage
 * structs with static functions of their own files (cp_governance.c,
 * cp_gov_*.c, cp_budgets.c) that need a database handle's context; those
 * messages are unpacked and checked for consistency here, their field
 * checks are not reached. */
#include <stdint.h>
#include <stdlib.h>

#include "cp_validate.h"
#include "llmgw/v1/audit.pb-c.h"
#include "llmgw/v1/control.pb-c.h"
#include "llmgw/v1/governance.pb-c.h"
#include "llmgw/v1/usage.pb-c.h"

static const ProtobufCServiceDescriptor *const fuzz_cp_services[] = {
    &llmgw__v1__registry_service__descriptor,    &llmgw__v1__distribution_service__descriptor,
    &llmgw__v1__admin_token_service__descriptor, &llmgw__v1__governance_service__descriptor,
    &llmgw__v1__usage_service__descriptor,       &llmgw__v1__budget_service__descriptor,
    &llmgw__v1__audit_service__descriptor,
};

static void fuzz_cp_validate(ProtobufCMessage *m)
{
    char err[512] = "";
    int rc = 0;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (d == &llmgw__v1__create_provider_request__descriptor)
        rc = cp_validate_provider(((Llmgw__V1__CreateProviderRequest *)m)->provider, err,
                                  sizeof(err));
    else if (d == &llmgw__v1__update_provider_request__descriptor)
        rc = cp_validate_provider(((Llmgw__V1__UpdateProviderRequest *)m)->provider, err,
                                  sizeof(err));
    else if (d == &llmgw__v1__create_model_request__descriptor)
        rc = cp_validate_model(((Llmgw__V1__CreateModelRequest *)m)->model, err, sizeof(err));
    else if (d == &llmgw__v1__update_model_request__descriptor)
        rc = cp_validate_model(((Llmgw__V1__UpdateModelRequest *)m)->model, err, sizeof(err));
    else if (d == &llmgw__v1__create_route_request__descriptor)
        rc = cp_validate_route(((Llmgw__V1__CreateRouteRequest *)m)->route, err, sizeof(err));
    else if (d == &llmgw__v1__update_route_request__descriptor)
        rc = cp_validate_route(((Llmgw__V1__UpdateRouteRequest *)m)->route, err, sizeof(err));
    else if (d == &llmgw__v1__node_hello__descriptor)
        rc = cp_validate_name("node_id", ((Llmgw__V1__NodeHello *)m)->node_id, 64, "", err,
                              sizeof(err));
    else if (d == &llmgw__v1__table_ack__descriptor)
        rc = cp_validate_name("node_id", ((Llmgw__V1__TableAck *)m)->node_id, 64, "", err,
                              sizeof(err));
    if (rc < 0 && !err[0])
        abort(); /* a refusal must name the field */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const ProtobufCServiceDescriptor *svc =
        fuzz_cp_services[data[0] % (sizeof(fuzz_cp_services) / sizeof(fuzz_cp_services[0]))];
    const ProtobufCMethodDescriptor *method = &svc->methods[data[1] % svc->n_methods];
    ProtobufCMessage *m = protobuf_c_message_unpack(method->input, NULL, size - 2, data + 2);
    if (!m)
        return 0;
    if (!protobuf_c_message_check(m))
        abort(); /* unpack must hand out only consistent messages */
    fuzz_cp_validate(m);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
