/* ctl_model: the registry calls on one model that `llmgw model` and
 * `llmgw eval --store-quality` share — GetModel, and a read-modify-write
 * UpdateModel that changes only the settings given (the control plane
 * validates, publishes a new table version and audits each update).
 *
 * Quality presence: an update always sends the quality it means (the
 * model's current one, or the new one) with its oneof case set, so a model
 * at quality 0 stays at 0 when another setting changes.
 */
#ifndef LLMGW_CTL_MODEL_H
#define LLMGW_CTL_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "cmd_ctl.h"
#include "llmgw/v1/control.pb-c.h"

#define CTL_MODEL_PROVIDER_MAX 128

/* The settings an edit changes; a setting whose *_set is false (or, for
 * capabilities, n_caps 0) keeps its current value. Initialise with {0}. */
typedef struct {
    bool input_cost_set, output_cost_set, context_window_set, quality_set;
    double input_cost, output_cost, quality;
    int context_window;
    const char *const *caps; /* borrowed */
    size_t n_caps;
} ctl_model_edit_t;

/* Splits "PROVIDER/MODEL" (the model part may itself hold '/'): the
 * provider is copied into prov, *name points into id. -1 when id is not of
 * that form or the provider is longer than provlen - 1. */
int ctl_model_split(const char *id, char *prov, size_t provlen, const char **name);
/* GetModel. CMD_EXIT_OK with *out set (free with
 * protobuf_c_message_free_unpacked(&(*out)->base, NULL)), or CMD_EXIT_RPC
 * after ctl_call printed "error: <STATUS>: <details>". */
int ctl_model_get(const ctl_opts_t *o, const char *provider, const char *name,
                  Llmgw__V1__Model **out);
/* GetModel, apply e, UpdateModel. CMD_EXIT_OK with *change the
 * RegistryChange (free with protobuf_c_message_free_unpacked), or
 * CMD_EXIT_RPC after a message. */
int ctl_model_update(const ctl_opts_t *o, const char *provider, const char *name,
                     const ctl_model_edit_t *e, Llmgw__V1__RegistryChange **change);

#endif
