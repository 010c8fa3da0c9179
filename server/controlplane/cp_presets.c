/* cp_presets: registry providers against the embedded presets. See
 * cp_presets.h. */
#include "cp_presets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "presets.h"

/* *field = a malloc'd copy of v: the request is freed with
 * protobuf_c_message_free_unpacked, which frees every string but the
 * shared empty default. */
static int cp_presets_set(char **field, const char *v, char *err, size_t errlen)
{
    char *copy = strdup(v);
    if (!copy) {
        snprintf(err, errlen, "provider: out of memory");
        return -1;
    }
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = copy;
    return 0;
}

int cp_presets_check(Llmgw__V1__Provider *p, char *err, size_t errlen)
{
    if (!p->preset[0] && cp_presets_set(&p->preset, CP_PRESETS_NONE, err, errlen) < 0)
        return -1;
    if (strcmp(p->preset, CP_PRESETS_NONE) == 0) {
        if (!p->auth_style[0] && cp_presets_set(&p->auth_style, "bearer", err, errlen) < 0)
            return -1;
        if (!p->base_url[0]) {
            snprintf(err, errlen, "provider.base_url: required without a preset");
            return -1;
        }
        return 0;
    }
    /* The data plane's own preset resolution, on the fields it would see. */
    json_t *jp = json_pack("{s:s}", "preset", p->preset), *merged = NULL;
    if (!jp || (p->base_url[0] && json_object_set_new(jp, "base_url", json_string(p->base_url)))) {
        json_decref(jp);
        snprintf(err, errlen, "provider.preset: out of memory");
        return -1;
    }
    int rc = presets_apply(jp, "provider", &merged, err, errlen);
    json_decref(merged);
    json_decref(jp);
    return rc;
}

/* *field = the preset's member `name` when *field is empty. */
static int cp_presets_fill(char **field, json_t *preset, const char *name)
{
    const char *v = json_string_value(json_object_get(preset, name));
    if ((*field && (*field)[0]) || !v)
        return 0;
    char *copy = strdup(v);
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

int cp_presets_endpoint(providers_endpoint_t *ep, char *err, size_t errlen)
{
    if (!ep->preset || strcmp(ep->preset, CP_PRESETS_NONE) == 0)
        return 0;
    json_t *preset = presets_get(ep->preset);
    if (!preset) {
        snprintf(err, errlen, "provider.preset: unknown preset '%.64s'", ep->preset);
        return -1;
    }
    if (cp_presets_fill(&ep->base_url, preset, "base_url") < 0 ||
        cp_presets_fill(&ep->auth_style, preset, "auth_style") < 0) {
        snprintf(err, errlen, "provider: out of memory");
        return -1;
    }
    if (!ep->auth_style[0]) { /* the data plane's default */
        char *bearer = strdup("bearer");
        if (!bearer) {
            snprintf(err, errlen, "provider: out of memory");
            return -1;
        }
        free(ep->auth_style);
        ep->auth_style = bearer;
    }
    return 0;
}
