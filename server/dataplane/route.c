/* route: a request's `model` → candidates in the order the pipeline tries them.
 *
 * Invariants: route_plan only reads the table (the caller holds a reference
 * for the whole request), never allocates, and on ROUTE_OK returns at least
 * one candidate. Options are validated before the model is looked up, so a
 * bad strategy is reported as such whatever the model. allow/deny name
 * providers; names absent from the table are allowed and simply match
 * nothing (a policy may outlive a provider).
 */
#include "route.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ROUTE_SHOW_MAX 64 /* user text quoted in an error message */

/* User text quoted in a message: bounded, control bytes as '?'. */
static const char *show(char out[ROUTE_SHOW_MAX + 4], const char *s)
{
    size_t i = 0;
    for (; i < ROUTE_SHOW_MAX && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

uint64_t route_rand(uint64_t *state)
{
    uint64_t x = *state;
    if (x == 0) /* zero is a fixed point of xorshift; never get stuck there */
        x = 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Uniform in [0, 1) from the top 53 bits. */
static double route_unit(uint64_t *state)
{
    return (double)(route_rand(state) >> 11) * 0x1.0p-53;
}

static bool name_listed(const char *name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], name) == 0)
            return true;
    return false;
}

static bool provider_allowed(const Llmgw__V1__RoutingOptions *opts, const char *provider)
{
    if (opts == NULL)
        return true;
    if (opts->n_allow_providers > 0 &&
        !name_listed(provider, opts->allow_providers, opts->n_allow_providers))
        return false;
    return !name_listed(provider, opts->deny_providers, opts->n_deny_providers);
}

static route_status_t route_fail(char *err, size_t errlen, route_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static route_status_t route_fail(char *err, size_t errlen, route_status_t st, const char *fmt, ...)
{
    if (errlen == 0)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return st;
}

static route_status_t plan_direct(const table_t *t, const char *model,
                                  const Llmgw__V1__RoutingOptions *opts, route_plan_t *out,
                                  char *err, size_t errlen)
{
    char s1[ROUTE_SHOW_MAX + 4], s2[ROUTE_SHOW_MAX + 4];
    /* At the first '/': the provider name cannot hold one, the model may. */
    const char *slash = strchr(model, '/');
    char pname[128];
    size_t plen = (size_t)(slash - model);
    if (plen == 0 || plen >= sizeof(pname))
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                          "model: unknown route or provider/model '%s'", show(s1, model));
    memcpy(pname, model, plen);
    pname[plen] = '\0';
    const table_provider_t *p = table_find_provider(t, pname);
    if (p == NULL)
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND, "model: unknown provider '%s' in '%s'",
                          show(s1, pname), show(s2, model));
    const table_model_t *m = table_provider_find_model(p, slash + 1);
    if (m == NULL)
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                          "model: provider '%s' has no model '%s'", show(s1, pname),
                          show(s2, slash + 1));
    if (!provider_allowed(opts, p->name))
        return route_fail(err, errlen, ROUTE_ERR_NO_CANDIDATE,
                          "routing: provider '%s' is excluded by allow/deny providers", p->name);
    out->items[0] = (route_candidate_t){p, m};
    out->n = 1;
    out->strategy = "direct";
    out->route_name = NULL;
    snprintf(out->reason, sizeof(out->reason), "direct: %s/%s requested as provider/model", p->name,
             m->name);
    return ROUTE_OK;
}

/* Ascending priority; insertion sort keeps ties in table order. */
static void order_priority(const table_deployment_t **d, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const table_deployment_t *x = d[i];
        size_t j = i;
        while (j > 0 && d[j - 1]->priority > x->priority) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = x;
    }
}

/* Weighted random order without replacement: each pick is proportional to
 * weight among the deployments not yet picked. Returns the total weight. */
static double order_weighted(const table_deployment_t **d, size_t n, uint64_t *rng)
{
    double all = 0;
    for (size_t i = 0; i < n; i++)
        all += d[i]->weight;
    double left = all;
    for (size_t i = 0; i + 1 < n; i++) {
        double r = route_unit(rng) * left;
        size_t pick = n - 1; /* rounding can leave r just past the last weight */
        for (size_t j = i; j < n; j++) {
            if (r < d[j]->weight) {
                pick = j;
                break;
            }
            r -= d[j]->weight;
        }
        const table_deployment_t *x = d[pick];
        /* Shift rather than swap so the rest keep table order. */
        memmove(&d[i + 1], &d[i], (pick - i) * sizeof(*d));
        d[i] = x;
        left -= x->weight;
    }
    return all;
}

route_status_t route_plan(const table_t *t, const char *model,
                          const Llmgw__V1__RoutingOptions *opts, uint64_t *rng, route_plan_t *out,
                          char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    out->n = 0;
    out->strategy = NULL;
    out->route_name = NULL;
    out->reason[0] = '\0';

    const char *override = NULL;
    if (opts != NULL && opts->strategy != NULL && opts->strategy[0] != '\0') {
        if (strcmp(opts->strategy, "priority") == 0)
            override = "priority";
        else if (strcmp(opts->strategy, "weighted") == 0)
            override = "weighted";
        else
            return route_fail(err, errlen, ROUTE_ERR_INVALID,
                              "routing.strategy: expected one of priority, weighted");
    }
    if (model == NULL || model[0] == '\0')
        return route_fail(err, errlen, ROUTE_ERR_INVALID, "model: required");
    if (strchr(model, '/') != NULL)
        return plan_direct(t, model, opts, out, err, errlen);

    const table_route_t *r = table_find_route(t, model);
    if (r == NULL) {
        char s[ROUTE_SHOW_MAX + 4];
        return route_fail(err, errlen, ROUTE_ERR_NOT_FOUND,
                          "model: unknown route or provider/model '%s'", show(s, model));
    }

    const table_deployment_t *d[TABLE_MAX_DEPLOYMENTS];
    size_t n = 0;
    for (size_t i = 0; i < r->n_deployments && n < TABLE_MAX_DEPLOYMENTS; i++)
        if (provider_allowed(opts, r->deployments[i].provider->name))
            d[n++] = &r->deployments[i];
    if (n == 0)
        return route_fail(err, errlen, ROUTE_ERR_NO_CANDIDATE,
                          "routing: every deployment of route '%s' was excluded by allow/deny "
                          "providers",
                          r->name);

    const char *strategy = override != NULL ? override : r->strategy;
    const char *of = n == 1 ? "deployment" : "deployments";
    if (strcmp(strategy, "weighted") == 0) {
        double total = order_weighted(d, n, rng);
        out->strategy = "weighted";
        snprintf(out->reason, sizeof(out->reason),
                 "weighted: picked %s/%s by weight %g of total %g", d[0]->provider->name,
                 d[0]->model->name, d[0]->weight, total);
    } else {
        order_priority(d, n);
        out->strategy = "priority";
        snprintf(out->reason, sizeof(out->reason),
                 "priority: %s/%s has the lowest priority (%d) of %zu %s", d[0]->provider->name,
                 d[0]->model->name, d[0]->priority, n, of);
    }
    size_t excluded = r->n_deployments - n;
    if (excluded > 0) {
        size_t used = strlen(out->reason);
        snprintf(out->reason + used, sizeof(out->reason) - used, " (%zu excluded by allow/deny)",
                 excluded);
    }

    if (opts != NULL && opts->disable_fallback)
        n = 1;
    for (size_t i = 0; i < n; i++)
        out->items[i] = (route_candidate_t){d[i]->provider, d[i]->model};
    out->n = n;
    out->route_name = r->name;
    return ROUTE_OK;
}
