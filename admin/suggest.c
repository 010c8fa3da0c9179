/* suggest: the optimization suggestions' rules (see suggest.h and
 * docs/analytics.md, "Suggestions").
 *
 * The rules mirror console.js's suggestions() operation for operation —
 * the same sums in the same order, in doubles — so the web console and
 * `llmgw top` print the same line for the same data, to the cent. Lookups
 * by group take the first row: a usage report has one row per group.
 */
#include "suggest.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the console's formats ------------------------------------------------------------- */

/* a then b into out, cut to outlen - 1 bytes (the formats' pieces). */
static void suggest_join(char *out, size_t outlen, const char *a, const char *b)
{
    size_t n = 0;
    if (!outlen)
        return;
    for (const char *p = a; *p && n + 1 < outlen; p++)
        out[n++] = *p;
    for (const char *p = b; *p && n + 1 < outlen; p++)
        out[n++] = *p;
    out[n] = '\0';
}

void suggest_fixed(double x, int digits, char *out, size_t outlen)
{
    /* JavaScript rounds a tie (the exact binary value halfway between two
     * results) away from zero; printf rounds it to even. A tie's decimal
     * expansion ends right after the rounding digit, so 30 more digits tell. */
    char wide[400];
    double a = fabs(x);
    const char *sign = x < 0 ? "-" : ""; /* -0 prints as "0", as in JavaScript */
    snprintf(wide, sizeof(wide), "%.*f", digits + 30, a);
    const char *dot = strchr(wide, '.');
    if (dot && dot[digits + 1] == '5' && strspn(dot + digits + 2, "0") == strlen(dot + digits + 2))
        a = nextafter(a, INFINITY);
    char body[380];
    snprintf(body, sizeof(body), "%.*f", digits, a);
    /* "-0.00": JavaScript keeps the sign of a negative that rounds to zero. */
    suggest_join(out, outlen, sign, body);
}

/* Number.prototype.toPrecision(2) for 0 < x < 0.01: no ties there (a tie
 * would need a dyadic x of three significant decimal digits below 0.01). */
static void suggest_precision2(double x, char *out, size_t outlen)
{
    char e[32];
    snprintf(e, sizeof(e), "%.1e", x); /* "d.de-XX", rounded as printf does */
    const char *ep = strchr(e, 'e');
    int exp10 = ep ? (int)strtol(ep + 1, NULL, 10) : 0;
    if (exp10 >= -6) /* JavaScript's fixed form: "0.0012", "0.010" */
        snprintf(out, outlen, "0.%0*d%c%c", -exp10 - 1, 0, e[0], e[2]);
    else /* and its exponent form: "1.2e-7" */
        snprintf(out, outlen, "%c.%ce%d", e[0], e[2], exp10);
}

void suggest_usd(double x, char *out, size_t outlen)
{
    char n[400];
    if (x > 0 && x < 0.01)
        suggest_precision2(x, n, sizeof(n));
    else
        suggest_fixed(x, x >= 100 ? 0 : 2, n, sizeof(n));
    suggest_join(out, outlen, "$", n);
}

void suggest_pct(double x, char *out, size_t outlen)
{
    char n[400];
    suggest_fixed(x * 100, x >= 0.995 || x == 0 ? 0 : 1, n, sizeof(n));
    suggest_join(out, outlen, n, "%");
}

/* --- lookups --------------------------------------------------------------------------- */

static const suggest_price_t *price_of(const suggest_input_t *in, const char *provider,
                                       const char *model)
{
    for (size_t i = 0; i < in->n_prices; i++)
        if (strcmp(in->prices[i].provider, provider) == 0 && strcmp(in->prices[i].name, model) == 0)
            return &in->prices[i];
    return NULL;
}

/* The console indexes a report by group in a JavaScript object, where a
 * repeated group keeps its last row. */
static const suggest_usage_t *usage_of(const suggest_usage_t *rows, size_t n, const char *group)
{
    for (size_t i = n; i-- > 0;)
        if (strcmp(rows[i].group, group) == 0)
            return &rows[i];
    return NULL;
}

/* A JavaScript array index ("0", "17"; below 2^32 - 1): such object keys
 * enumerate first, in ascending order, before the others in insertion
 * order. */
static bool js_index(const char *s, unsigned long long *v)
{
    size_t n = strlen(s);
    if (n == 0 || n > 10 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
        return false;
    *v = strtoull(s, NULL, 10);
    return *v < 4294967295ULL;
}

/* A provider's share of successful requests this month; false when it has
 * none (the console's null). */
static bool success_of(const suggest_input_t *in, const char *provider, double *out)
{
    const suggest_usage_t *u = usage_of(in->by_provider, in->n_by_provider, provider);
    if (!u || !u->requests)
        return false;
    *out = 1 - (double)u->errors / (double)u->requests;
    return true;
}

static double price_for(const suggest_price_t *m, double pt, double ct)
{
    return (pt * m->input_cost_per_mtok + ct * m->output_cost_per_mtok) / 1e6;
}

/* --- the rules ------------------------------------------------------------------------- */

/* 1. A route with two or more priced deployments: what its models' requests
 * this month would have cost all on the cheapest deployment, when that one's
 * provider succeeds at least as often as every other's. */
static size_t rule_route_priced(const suggest_input_t *in, const suggest_route_t *r,
                                const suggest_price_t **price, const suggest_deployment_t **dep,
                                size_t n, suggest_emit_fn emit, void *ctx)
{
    if (n < 2)
        return 0;
    double pt = 0, ct = 0, actual = 0, reqs = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false; /* usage is by model name: count each name once */
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(dep[k]->model, dep[i]->model) == 0;
        if (seen)
            continue;
        const suggest_usage_t *u = usage_of(in->by_model, in->n_by_model, dep[i]->model);
        if (!u)
            continue;
        pt += (double)u->prompt_tokens;
        ct += (double)u->completion_tokens;
        actual += u->cost_usd;
        reqs += (double)u->requests;
    }
    if (!reqs)
        return 0;
    size_t cheapest = 0; /* the first of equal prices, as a stable sort keeps it */
    for (size_t i = 1; i < n; i++)
        if (price_for(price[i], pt, ct) < price_for(price[cheapest], pt, ct))
            cheapest = i;
    double would = price_for(price[cheapest], pt, ct);
    double sc;
    if (!success_of(in, dep[cheapest]->provider, &sc))
        return 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (success_of(in, dep[i]->provider, &v) && !(sc >= v))
            return 0;
    }
    if (!(actual - would > 1e-9))
        return 0;
    char s[32], saved[64], of[64], line[SUGGEST_LINE_MAX];
    suggest_pct(sc, s, sizeof(s));
    suggest_usd(actual - would, saved, sizeof(saved));
    suggest_usd(actual, of, sizeof(of));
    snprintf(line, sizeof(line),
             "route %s: cost strategy (all on %s/%s, success %s) would have saved %s of %s over "
             "its models' %.0f requests this month at equal success",
             r->name, dep[cheapest]->provider, dep[cheapest]->model, s, saved, of, reqs);
    emit(line, ctx);
    return 1;
}

static size_t rule_route(const suggest_input_t *in, const suggest_route_t *r, suggest_emit_fn emit,
                         void *ctx)
{
    if (r->n_deployments < 2)
        return 0;
    const suggest_price_t **price = calloc(r->n_deployments, sizeof(*price));
    const suggest_deployment_t **dep = calloc(r->n_deployments, sizeof(*dep));
    size_t n = 0, emitted = 0;
    if (!price || !dep)
        goto out; /* out of memory: no suggestion rather than a wrong one */
    for (size_t i = 0; i < r->n_deployments; i++) {
        const suggest_price_t *m =
            price_of(in, r->deployments[i].provider, r->deployments[i].model);
        if (m) {
            price[n] = m;
            dep[n++] = &r->deployments[i];
        }
    }
    emitted = rule_route_priced(in, r, price, dep, n, emit, ctx);
out:
    free(price);
    free(dep);
    return emitted;
}

/* 2. A budget whose spend, extrapolated over its whole period at the pace so
 * far, ends above its limit (once more than 2 % of the period has passed). */
static size_t rule_budget(const suggest_input_t *in, const suggest_budget_t *b,
                          suggest_emit_fn emit, void *ctx)
{
    if (!b->period_end_unix_ms || !b->period_start_unix_ms)
        return 0;
    double frac = (double)(in->now_unix_ms - b->period_start_unix_ms) /
                  (double)(b->period_end_unix_ms - b->period_start_unix_ms);
    if (!(frac > 0.02 && b->spent_usd / frac > b->limit_usd))
        return 0;
    char at[64], limit[64], line[SUGGEST_LINE_MAX];
    suggest_usd(b->spent_usd / frac, at, sizeof(at));
    suggest_usd(b->limit_usd, limit, sizeof(limit));
    snprintf(line, sizeof(line),
             "budget %s: at this pace it ends the period at %s, over its %s limit", b->name, at,
             limit);
    emit(line, ctx);
    return 1;
}

/* 3. A provider with 10 or more requests this month of which more than 5 %
 * failed. Requests refused before any provider was tried (a budget, a rate
 * limit, a bad body) are grouped under "" and blame no provider. */
static size_t rule_provider(const suggest_usage_t *u, suggest_emit_fn emit, void *ctx)
{
    if (!u->group || !u->group[0])
        return 0;
    if (!(u->requests >= 10 && (double)u->errors / (double)u->requests > 0.05))
        return 0;
    char p[32], line[SUGGEST_LINE_MAX];
    suggest_pct((double)u->errors / (double)u->requests, p, sizeof(p));
    snprintf(line, sizeof(line),
             "provider %s: %s of its %lld requests failed this month; test its connection or "
             "lower its priority",
             u->group, p, (long long)u->requests);
    emit(line, ctx);
    return 1;
}

size_t suggest_compute(const suggest_input_t *in, suggest_emit_fn emit, void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < in->n_routes; i++)
        n += rule_route(in, &in->routes[i], emit, ctx);
    for (size_t i = 0; i < in->n_budgets; i++)
        n += rule_budget(in, &in->budgets[i], emit, ctx);
    /* Providers in the console's Object.entries order: index-like names
     * ascending, then the rest by first appearance; each with its last row. */
    unsigned long long last = 0;
    bool any = false;
    for (;;) {
        const char *next = NULL;
        unsigned long long best = 0, v;
        for (size_t i = 0; i < in->n_by_provider; i++)
            if (js_index(in->by_provider[i].group, &v) && (!any || v > last) &&
                (!next || v < best)) {
                next = in->by_provider[i].group;
                best = v;
            }
        if (!next)
            break;
        n += rule_provider(usage_of(in->by_provider, in->n_by_provider, next), emit, ctx);
        last = best;
        any = true;
    }
    for (size_t i = 0; i < in->n_by_provider; i++) {
        const char *g = in->by_provider[i].group;
        unsigned long long v;
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(in->by_provider[k].group, g) != 0;
        if (first && !js_index(g, &v))
            n += rule_provider(usage_of(in->by_provider, in->n_by_provider, g), emit, ctx);
    }
    return n;
}
