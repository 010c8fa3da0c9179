/* ctl_model: GetModel and the read-modify-write UpdateModel shared by
 * `llmgw model` and `llmgw eval --store-quality`. See ctl_model.h. */
#include "ctl_model.h"

#include <stdio.h>
#include <string.h>

int ctl_model_split(const char *id, char *prov, size_t provlen, const char **name)
{
    const char *slash = strchr(id, '/');
    if (!slash || slash == id || !slash[1] || (size_t)(slash - id) >= provlen)
        return -1;
    memcpy(prov, id, (size_t)(slash - id));
    prov[slash - id] = '\0';
    *name = slash + 1;
    return 0;
}

int ctl_model_get(const ctl_opts_t *o, const char *provider, const char *name,
                  Llmgw__V1__Model **out)
{
    Llmgw__V1__GetModelRequest g = LLMGW__V1__GET_MODEL_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    g.provider = (char *)provider;
    g.name = (char *)name;
    int rc = ctl_call(o, "/llmgw.v1.RegistryService/GetModel", &g.base,
                      &llmgw__v1__model__descriptor, &resp);
    *out = rc == CMD_EXIT_OK ? (Llmgw__V1__Model *)resp : NULL;
    return rc;
}

int ctl_model_update(const ctl_opts_t *o, const char *provider, const char *name,
                     const ctl_model_edit_t *e, Llmgw__V1__RegistryChange **change)
{
    Llmgw__V1__Model *m = NULL;
    ProtobufCMessage *resp = NULL;
    *change = NULL;
    int rc = ctl_model_get(o, provider, name, &m);
    if (rc != CMD_EXIT_OK)
        return rc;
    char **orig_caps = m->capabilities;
    size_t orig_n = m->n_capabilities;
    if (e->input_cost_set)
        m->input_cost_per_mtok = e->input_cost;
    if (e->output_cost_set)
        m->output_cost_per_mtok = e->output_cost;
    if (e->context_window_set)
        m->context_window = e->context_window;
    if (e->quality_set)
        m->quality = e->quality;
    /* Sent with presence either way: an absent quality would be read as
     * "unset" and become 0.5, losing a stored 0. */
    m->quality_opt_case = LLMGW__V1__MODEL__QUALITY_OPT_QUALITY;
    if (e->n_caps) {
        m->capabilities = (char **)e->caps;
        m->n_capabilities = e->n_caps;
    }
    Llmgw__V1__UpdateModelRequest req = LLMGW__V1__UPDATE_MODEL_REQUEST__INIT;
    req.model = m;
    rc = ctl_call(o, "/llmgw.v1.RegistryService/UpdateModel", &req.base,
                  &llmgw__v1__registry_change__descriptor, &resp);
    m->capabilities = orig_caps; /* give the unpacked message its own array back */
    m->n_capabilities = orig_n;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    if (rc == CMD_EXIT_OK)
        *change = (Llmgw__V1__RegistryChange *)resp;
    return rc;
}
