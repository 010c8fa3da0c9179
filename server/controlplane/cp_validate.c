/* cp_validate: field checks mirroring the data plane's table loader, so a
 * table the registry publishes is one every node accepts. See cp_validate.h. */
#include "cp_validate.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cp_presets.h"

#define CP_NAME_MAX 64
#define CP_MODEL_MAX 128

int cp_validate_name(const char *field, const char *s, size_t max, const char *extra, char *err,
                     size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0) {
        snprintf(err, errlen, "%s: required", field);
        return -1;
    }
    if (n > max) {
        snprintf(err, errlen, "%s: longer than %zu characters", field, max);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || (c != '\0' && strchr(extra, c));
        if (!ok) {
            snprintf(err, errlen, "%s: invalid character at %zu (allowed: A-Z a-z 0-9 . _ -%s)",
                     field, i, extra);
            return -1;
        }
    }
    return 0;
}

static bool cp_url_ok(const char *u)
{
    size_t skip = strncasecmp(u, "http://", 7) == 0    ? 7
                  : strncasecmp(u, "https://", 8) == 0 ? 8
                                                       : 0;
    if (!skip || !u[skip] || u[skip] == '/')
        return false;
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return false;
    return strlen(u) <= 2048;
}

int cp_validate_provider(Llmgw__V1__Provider *p, char *err, size_t errlen)
{
    static const char *const styles[] = {"bearer", "x-api-key", "api-key", "none"};
    if (!p) {
        snprintf(err, errlen, "provider: required");
        return -1;
    }
    if (cp_validate_name("provider.name", p->name, CP_NAME_MAX, "", err, errlen) < 0)
        return -1;
    if (strlen(p->preset) > CP_NAME_MAX) {
        snprintf(err, errlen, "provider.preset: longer than %d characters", CP_NAME_MAX);
        return -1;
    }
    /* Empty settings are the preset's: checked against the embedded presets. */
    if (cp_presets_check(p, err, errlen) < 0)
        return -1;
    if (p->base_url[0] && !cp_url_ok(p->base_url)) {
        snprintf(err, errlen, "provider.base_url: expected an http:// or https:// URL");
        return -1;
    }
    bool style_ok = !p->auth_style[0];
    for (size_t i = 0; i < 4; i++)
        style_ok = style_ok || strcmp(p->auth_style, styles[i]) == 0;
    if (!style_ok) {
        snprintf(err, errlen,
                 "provider.auth_style: expected one of bearer, x-api-key, api-key, none");
        return -1;
    }
    if (p->wire_format[0] && strcmp(p->wire_format, "openai") != 0 &&
        strcmp(p->wire_format, "anthropic") != 0) {
        snprintf(err, errlen, "provider.wire_format: expected openai or anthropic");
        return -1;
    }
    if (p->api_version[0] &&
        cp_validate_name("provider.api_version", p->api_version, CP_NAME_MAX, ":", err, errlen) < 0)
        return -1;
    if (p->timeout_ms == 0)
        p->timeout_ms = 60000;
    if (p->timeout_ms < 1 || p->timeout_ms > 600000) {
        snprintf(err, errlen, "provider.timeout_ms: expected 1 to 600000");
        return -1;
    }
    /* The routing table's region grammar; policies name regions by it. */
    size_t rn = strlen(p->region);
    if (rn > 32 || strspn(p->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != rn) {
        snprintf(err, errlen,
                 "provider.region: expected 1 to 32 characters from a-z 0-9 - (or empty)");
        return -1;
    }
    if (strlen(p->api_key) > 4096 || strpbrk(p->api_key, "\r\n")) {
        snprintf(err, errlen, "provider.api_key: longer than 4096 bytes or holds a line break");
        return -1;
    }
    for (size_t i = 0; i < p->n_headers; i++) {
        char field[64];
        snprintf(field, sizeof(field), "provider.headers[%zu].name", i);
        if (cp_validate_name(field, p->headers[i]->name, CP_NAME_MAX, "", err, errlen) < 0)
            return -1;
        if (strpbrk(p->headers[i]->value, "\r\n")) {
            snprintf(err, errlen, "provider.headers[%zu].value: must not hold a line break", i);
            return -1;
        }
    }
    return 0;
}

int cp_validate_model(Llmgw__V1__Model *m, char *err, size_t errlen)
{
    if (!m) {
        snprintf(err, errlen, "model: required");
        return -1;
    }
    if (cp_validate_name("model.provider", m->provider, CP_NAME_MAX, "", err, errlen) < 0 ||
        cp_validate_name("model.name", m->name, CP_MODEL_MAX, ":/@+", err, errlen) < 0)
        return -1;
    if (!(m->input_cost_per_mtok >= 0) || !isfinite(m->input_cost_per_mtok)) {
        snprintf(err, errlen, "model.input_cost_per_mtok: expected a number >= 0");
        return -1;
    }
    if (!(m->output_cost_per_mtok >= 0) || !isfinite(m->output_cost_per_mtok)) {
        snprintf(err, errlen, "model.output_cost_per_mtok: expected a number >= 0");
        return -1;
    }
    if (m->context_window < 0) {
        snprintf(err, errlen, "model.context_window: expected an integer >= 0");
        return -1;
    }
    /* Presence, not the value, decides the default: an absent quality is
     * 0.5, an explicit 0 (a model an eval measured as always wrong) stays 0
     * — the routing table accepts 0..1 (server/table/table.c). */
    if (m->quality_opt_case != LLMGW__V1__MODEL__QUALITY_OPT_QUALITY) {
        m->quality_opt_case = LLMGW__V1__MODEL__QUALITY_OPT_QUALITY;
        m->quality = 0.5;
    }
    if (!(m->quality >= 0 && m->quality <= 1)) {
        snprintf(err, errlen, "model.quality: expected a number from 0 to 1");
        return -1;
    }
    for (size_t i = 0; i < m->n_capabilities; i++) {
        char field[48];
        snprintf(field, sizeof(field), "model.capabilities[%zu]", i);
        if (cp_validate_name(field, m->capabilities[i], CP_NAME_MAX, "", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The scoring and cache settings, with the table loader's ranges
 * (server/table/table.c) so a route the control plane accepts always loads
 * on the nodes. */
static int cp_validate_route_settings(const Llmgw__V1__Route *r, char *err, size_t errlen)
{
    const Llmgw__V1__RouteWeights *w = r->weights;
    if (w) {
        const double v[] = {w->cost, w->latency, w->quality, w->success};
        static const char *const names[] = {"cost", "latency", "quality", "success"};
        for (size_t i = 0; i < 4; i++)
            if (!(v[i] >= 0 && v[i] <= 1000000)) {
                snprintf(err, errlen, "route.weights.%s: expected a number 0..1000000", names[i]);
                return -1;
            }
        if (v[0] + v[1] + v[2] + v[3] <= 0) {
            snprintf(err, errlen, "route.weights: expected at least one weight > 0");
            return -1;
        }
    } else if (strcmp(r->strategy, "custom") == 0) {
        snprintf(err, errlen, "route.weights: required by strategy custom");
        return -1;
    }
    if (r->tolerance_opt_case == LLMGW__V1__ROUTE__TOLERANCE_OPT_TOLERANCE &&
        !(r->tolerance >= 0 && r->tolerance <= 1)) {
        snprintf(err, errlen, "route.tolerance: expected a number 0..1");
        return -1;
    }
    if (r->max_attempts < 0 || r->max_attempts > 128) {
        snprintf(err, errlen, "route.max_attempts: expected an integer 0..128");
        return -1;
    }
    if (r->cache) {
        if (r->cache->ttl_ms < 1 || r->cache->ttl_ms > 86400000) {
            snprintf(err, errlen, "route.cache.ttl_ms: expected an integer 1..86400000");
            return -1;
        }
        if (!(r->cache->max_temperature >= 0 && r->cache->max_temperature <= 2)) {
            snprintf(err, errlen, "route.cache.max_temperature: expected a number 0..2");
            return -1;
        }
    }
    return 0;
}

int cp_validate_route(Llmgw__V1__Route *r, char *err, size_t errlen)
{
    if (!r) {
        snprintf(err, errlen, "route: required");
        return -1;
    }
    if (cp_validate_name("route.name", r->name, CP_NAME_MAX, "", err, errlen) < 0)
        return -1;
    static const char *const strategies[] = {"priority", "weighted", "cost",   "latency",
                                             "quality",  "balanced", "custom", NULL};
    size_t si = 0;
    while (strategies[si] && strcmp(r->strategy, strategies[si]) != 0)
        si++;
    if (!strategies[si]) {
        snprintf(err, errlen,
                 "route.strategy: expected one of priority, weighted, cost, latency, "
                 "quality, balanced, custom");
        return -1;
    }
    if (cp_validate_route_settings(r, err, errlen) < 0)
        return -1;
    if (r->n_deployments == 0 || r->n_deployments > 64) {
        snprintf(err, errlen, "route.deployments: expected 1 to 64 deployments");
        return -1;
    }
    for (size_t i = 0; i < r->n_deployments; i++) {
        Llmgw__V1__Deployment *d = r->deployments[i];
        char field[64];
        snprintf(field, sizeof(field), "route.deployments[%zu].provider", i);
        if (cp_validate_name(field, d->provider, CP_NAME_MAX, "", err, errlen) < 0)
            return -1;
        snprintf(field, sizeof(field), "route.deployments[%zu].model", i);
        if (cp_validate_name(field, d->model, CP_MODEL_MAX, ":/@+", err, errlen) < 0)
            return -1;
        if (d->weight == 0)
            d->weight = 1;
        if (!(d->weight > 0 && d->weight <= 1000000)) {
            snprintf(err, errlen,
                     "route.deployments[%zu].weight: expected a number > 0 and <= 1000000", i);
            return -1;
        }
    }
    return 0;
}
