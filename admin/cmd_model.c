/* cmd_model: `llmgw model add|list|remove` — models of the registry's
 * providers, named PROVIDER/MODEL (the model part may itself hold '/'). */
#include "cmd_ctl.h"
#include "ctl_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_CMD "llmgw model"
#define MODEL_MAX_CAPS 32

static const char model_usage[] =
    "usage: llmgw model add PROVIDER/MODEL [--input-cost USD] [--output-cost USD] [flags]\n"
    "       llmgw model list [--provider P] [flags]\n"
    "       llmgw model show PROVIDER/MODEL [flags]\n"
    "       llmgw model edit PROVIDER/MODEL [settings] [flags]  (only the given ones change;\n"
    "                                                        update is an alias)\n"
    "       llmgw model remove PROVIDER/MODEL [flags]\n"
    "\n"
    "model settings:\n"
    "  --input-cost USD      USD per million input tokens, >= 0 (default 0)\n"
    "  --output-cost USD     USD per million output tokens, >= 0 (default 0)\n"
    "  --context-window N    context window in tokens (default 0: unknown)\n"
    "  --capability C        capability label, repeatable (chat, tools, vision, ...)\n"
    "  --quality Q           quality score, 0 <= Q <= 1 (default 0.5)\n"
    "\n"
    "common flags:\n" CTL_COMMON_FLAGS "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

static int model_print(const ctl_opts_t *ctl, Llmgw__V1__Model **models, size_t n,
                       const ProtobufCMessage *whole)
{
    if (ctl->json)
        return ctl_print_json(whole);
    static const char *const titles[] = {"PROVIDER", "MODEL",   "IN $/MTOK",   "OUT $/MTOK",
                                         "CONTEXT",  "QUALITY", "CAPABILITIES"};
    ctl_table_t *t = ctl_table_new(7, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++) {
        Llmgw__V1__Model *m = models[i];
        char inb[32], outb[32], ctxb[24], qb[24], capb[512] = "";
        snprintf(inb, sizeof(inb), "%.4g", m->input_cost_per_mtok);
        snprintf(outb, sizeof(outb), "%.4g", m->output_cost_per_mtok);
        snprintf(ctxb, sizeof(ctxb), "%d", m->context_window);
        snprintf(qb, sizeof(qb), "%.2f", m->quality);
        for (size_t c = 0; c < m->n_capabilities; c++)
            snprintf(capb + strlen(capb), sizeof(capb) - strlen(capb), "%s%s", c ? "," : "",
                     m->capabilities[c]);
        const char *cells[] = {m->provider, m->name, inb, outb, ctxb, qb, capb};
        if (ctl_table_row(t, cells) < 0)
            rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK)
        ctl_table_print(t);
    ctl_table_free(t);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    ctl_opts_t ctl;
    cmd_args_t a;
    const char *verb = NULL, *id = NULL, *provider = "", *v;
    const char *caps[MODEL_MAX_CAPS];
    size_t n_caps = 0;
    double in = 0, out = 0, quality = 0.5;
    bool in_set = false, out_set = false, quality_set = false, ctx_set = false;
    long long ctx = 0;
    ProtobufCMessage *resp = NULL;
    int rc;

    ctl_opts_init(&ctl);
    cmd_args_init(&a, MODEL_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (!verb)
                verb = a.value;
            else if (!id)
                id = a.value;
            else
                return cmd_usage_error(MODEL_CMD, "unexpected argument '%s'", a.value);
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(model_usage, stdout);
            return CMD_EXIT_OK;
        } else if ((common = ctl_common_flag(MODEL_CMD, &a, &ctl)) != 0) {
            if (common < 0)
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--input-cost")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_double(MODEL_CMD, "--input-cost", v, 0, 1e9, &in) < 0)
                return CMD_EXIT_USAGE;
            in_set = true;
        } else if (cmd_args_is(&a, "--output-cost")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_double(MODEL_CMD, "--output-cost", v, 0, 1e9, &out) < 0)
                return CMD_EXIT_USAGE;
            out_set = true;
        } else if (cmd_args_is(&a, "--quality")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_double(MODEL_CMD, "--quality", v, 0, 1, &quality) < 0)
                return CMD_EXIT_USAGE;
            quality_set = true;
        } else if (cmd_args_is(&a, "--context-window")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(MODEL_CMD, "--context-window", v, 0, 100000000, &ctx) < 0)
                return CMD_EXIT_USAGE;
            ctx_set = true;
        } else if (cmd_args_is(&a, "--capability")) {
            if (!(v = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
            if (n_caps == MODEL_MAX_CAPS)
                return cmd_usage_error(MODEL_CMD, "--capability: at most %d", MODEL_MAX_CAPS);
            caps[n_caps++] = v;
        } else if (cmd_args_is(&a, "--provider")) {
            if (!(provider = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
        } else {
            return cmd_usage_error(MODEL_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                   a.name);
        }
    }
    if (!verb) {
        fputs(model_usage, stderr);
        return CMD_EXIT_USAGE;
    }
    if (ctl_opts_finish(MODEL_CMD, &ctl) < 0)
        return CMD_EXIT_USAGE;

    if (strcmp(verb, "list") == 0) {
        if (id)
            return cmd_usage_error(MODEL_CMD, "list: unexpected argument '%s'", id);
        Llmgw__V1__ListRegistryModelsRequest req = LLMGW__V1__LIST_REGISTRY_MODELS_REQUEST__INIT;
        req.provider = (char *)provider;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/ListModels", &req.base,
                      &llmgw__v1__list_registry_models_response__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        Llmgw__V1__ListRegistryModelsResponse *l = (void *)resp;
        rc = model_print(&ctl, l->models, l->n_models, resp);
        protobuf_c_message_free_unpacked(resp, NULL);
        return rc;
    }
    static const char *const verbs[] = {"add", "show", "get", "update", "edit", "remove", "delete"};
    bool known = false;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        known = known || strcmp(verb, verbs[i]) == 0;
    if (!known)
        return cmd_usage_error(
            MODEL_CMD, "unknown action '%s' (expected add, list, show, edit, remove)", verb);
    if (!id)
        return cmd_usage_error(MODEL_CMD, "%s: PROVIDER/MODEL: required", verb);
    char prov[CTL_MODEL_PROVIDER_MAX];
    const char *name;
    if (ctl_model_split(id, prov, sizeof(prov), &name) < 0)
        return cmd_usage_error(MODEL_CMD, "%s: expected PROVIDER/MODEL, got '%s'", verb, id);

    if (strcmp(verb, "add") == 0) {
        Llmgw__V1__Model m = LLMGW__V1__MODEL__INIT;
        m.provider = prov;
        m.name = (char *)name;
        m.input_cost_per_mtok = in;
        m.output_cost_per_mtok = out;
        m.context_window = (int)ctx;
        m.quality = quality; /* sent with presence: an explicit 0 stays 0 */
        m.quality_opt_case = LLMGW__V1__MODEL__QUALITY_OPT_QUALITY;
        m.capabilities = (char **)caps;
        m.n_capabilities = n_caps;
        Llmgw__V1__CreateModelRequest req = LLMGW__V1__CREATE_MODEL_REQUEST__INIT;
        req.model = &m;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/CreateModel", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
    } else if (strcmp(verb, "show") == 0 || strcmp(verb, "get") == 0 ||
               strcmp(verb, "update") == 0 || strcmp(verb, "edit") == 0) {
        if (verb[0] == 's' || verb[0] == 'g') {
            Llmgw__V1__Model *m = NULL;
            if ((rc = ctl_model_get(&ctl, prov, name, &m)) != CMD_EXIT_OK)
                return rc;
            rc = model_print(&ctl, &m, 1, &m->base);
            protobuf_c_message_free_unpacked(&m->base, NULL);
            return rc;
        }
        /* Only the settings given change; the rest are the current ones. */
        ctl_model_edit_t e = {.input_cost_set = in_set,
                              .input_cost = in,
                              .output_cost_set = out_set,
                              .output_cost = out,
                              .context_window_set = ctx_set,
                              .context_window = (int)ctx,
                              .quality_set = quality_set,
                              .quality = quality,
                              .caps = caps,
                              .n_caps = n_caps};
        Llmgw__V1__RegistryChange *change = NULL;
        rc = ctl_model_update(&ctl, prov, name, &e, &change);
        resp = change ? &change->base : NULL;
    } else {
        Llmgw__V1__DeleteModelRequest req = LLMGW__V1__DELETE_MODEL_REQUEST__INIT;
        req.provider = prov;
        req.name = (char *)name;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/DeleteModel", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
    }
    if (rc != CMD_EXIT_OK)
        return rc;
    if (ctl.json)
        rc = ctl_print_json(resp);
    else
        ctl_change_line("model", id,
                        strcmp(verb, "add") == 0           ? "added"
                        : verb[0] == 'u' || verb[0] == 'e' ? "updated"
                                                           : "removed",
                        (long long)((Llmgw__V1__RegistryChange *)resp)->table_version);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
