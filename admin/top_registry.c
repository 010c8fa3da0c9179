/* top_registry: the Provider Registry panel — every provider, local or
 * remote, available (enabled) or not, its status ✓ ⚠ ✗ and why, its models
 * and this month's requests; the summary counts and the data plane nodes.
 * The status follows the console's health() (docs/console.md, "Provider
 * Registry") minus its connection test, since top only reads: from
 * ProviderPerformance over the window, summed over the provider's
 * deployments. Disabled ✗; a breaker opened ✗; no deployment available in
 * any observed minute ✗; no attempts ⚠ (health unknown); some attempts
 * failed ⚠; all succeeded ✓.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"
#include "suggest.h"
#include "top_panel.h"

/* The console's isLocal(): the URL's host is loopback or *.local. */
static bool top_is_local(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p || p == url)
        return false;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user:password@host */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    char host[256];
    size_t h = 0;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close)
            return false;
        h = (size_t)(close - p) + 1;
    } else {
        h = strcspn(p, ":/?#");
        if (h > n)
            h = n;
    }
    if (h == 0 || h >= sizeof(host))
        return false;
    for (size_t i = 0; i < h; i++)
        host[i] = (char)tolower((unsigned char)p[i]);
    host[h] = '\0';
    size_t len = strlen(host);
    return strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
           strcmp(host, "[::1]") == 0 || (len > 6 && strcmp(host + len - 6, ".local") == 0);
}

typedef struct {
    const char *sym;
    char why[160];
} top_health_t;

/* The window's figures of one provider (the console's recentHealth()):
 * results are attempts minus errors_other (the gateway's own), observed the
 * deployments with results, down those of them with availability 0. */
typedef struct {
    int64_t attempts, results, successes, breaker;
    size_t observed, down;
} top_recent_t;

static void top_recent(const Llmgw__V1__ProviderPerformanceResponse *pr, const char *provider,
                       top_recent_t *r)
{
    *r = (top_recent_t){0};
    for (size_t i = 0; i < pr->n_deployments; i++) {
        const Llmgw__V1__DeploymentPerformance *x = pr->deployments[i];
        if (strcmp(x->provider, provider) != 0)
            continue;
        int64_t results = x->attempts - x->errors_other;
        r->attempts += x->attempts;
        r->results += results;
        r->successes += x->successes;
        r->breaker += x->breaker_opened;
        if (results > 0) {
            r->observed++;
            r->down += x->availability == 0;
        }
    }
}

static void top_health(const Llmgw__V1__Provider *p, const top_data_t *d, bool utf8,
                       top_health_t *h)
{
    const char *ok = utf8 ? "\xe2\x9c\x93" : "ok", *warn = utf8 ? "\xe2\x9a\xa0" : "!!",
               *bad = utf8 ? "\xe2\x9c\x97" : "XX";
    const Llmgw__V1__ProviderPerformanceResponse *pr = top_data_get(d, TOP_PERF);
    top_recent_t r;
    if (!p->enabled) {
        h->sym = bad;
        snprintf(h->why, sizeof(h->why), "disabled: left out of the routing table");
        return;
    }
    if (!pr) {
        h->sym = warn;
        snprintf(h->why, sizeof(h->why), "health unknown: ProviderPerformance %s",
                 top_data_err(d, TOP_PERF));
        return;
    }
    top_recent(pr, p->name, &r);
    char pct[32];
    if (r.breaker > 0) {
        h->sym = bad;
        snprintf(h->why, sizeof(h->why), "circuit breaker opened %lldx in the window",
                 (long long)r.breaker);
    } else if (r.observed && r.down == r.observed) {
        h->sym = bad;
        snprintf(h->why, sizeof(h->why),
                 "availability 0: no successful attempt in the window (%lld attempts)",
                 (long long)r.attempts);
    } else if (r.results == 0) {
        h->sym = warn;
        snprintf(h->why, sizeof(h->why), "no attempts in the window: health unknown");
    } else if (r.successes < r.results) {
        suggest_pct((double)r.successes / (double)r.results, pct, sizeof(pct));
        h->sym = warn;
        snprintf(h->why, sizeof(h->why), "success %s of %lld attempts in the window", pct,
                 (long long)r.results);
    } else {
        h->sym = ok;
        snprintf(h->why, sizeof(h->why), "%lld attempts in the window, all succeeded",
                 (long long)r.results);
    }
}

void top_registry(top_panel_t *p, const top_data_t *d, bool utf8)
{
    const Llmgw__V1__ListProvidersResponse *ps = top_data_get(d, TOP_PROVIDERS);
    const Llmgw__V1__ListRegistryModelsResponse *ms = top_data_get(d, TOP_MODELS);
    const Llmgw__V1__ListNodesResponse *nodes = top_data_get(d, TOP_NODES);
    const Llmgw__V1__CostReportResponse *mtd = top_data_get(d, TOP_MTD_PROVIDER);
    if (!ps) {
        top_panel_line(p, "providers: %s", top_data_err(d, TOP_PROVIDERS));
        return;
    }
    size_t local = 0, available = 0;
    for (size_t i = 0; i < ps->n_providers; i++) {
        local += top_is_local(ps->providers[i]->base_url);
        available += ps->providers[i]->enabled;
    }
    char nodes_text[96] = "";
    if (nodes)
        snprintf(nodes_text, sizeof(nodes_text), "; %zu data plane node(s), table v%lld",
                 nodes->n_nodes, (long long)nodes->latest_version);
    top_panel_line(p, "%zu providers: %zu available (enabled), %zu local, %zu remote%s",
                   ps->n_providers, available, local, ps->n_providers - local, nodes_text);
    if (!mtd)
        top_panel_line(p, "status: this month's usage: %s", top_data_err(d, TOP_MTD_PROVIDER));
    top_panel_line(p, "%-16s %-6s %-2s %6s %9s  %-42s %s", "PROVIDER", "WHERE", "ST", "MODELS",
                   "REQ (MTD)", "WHY", "URL");
    for (size_t i = 0; i < ps->n_providers; i++) {
        const Llmgw__V1__Provider *pv = ps->providers[i];
        const Llmgw__V1__CostGroup *u = top_cost_group(mtd, pv->name);
        top_health_t h;
        top_health(pv, d, utf8, &h);
        size_t models = 0;
        for (size_t k = 0; ms && k < ms->n_models; k++)
            models += strcmp(ms->models[k]->provider, pv->name) == 0;
        char models_text[24];
        if (ms)
            snprintf(models_text, sizeof(models_text), "%zu", models);
        else
            snprintf(models_text, sizeof(models_text), "?");
        bool preset = pv->preset[0] && strcmp(pv->preset, "custom") != 0;
        /* ✓ is one column but three bytes: pad the status by hand. */
        top_panel_line(p, "%-16.16s %-6s %s%*s %6s %9lld  %-42.42s %s%s%s", pv->name,
                       top_is_local(pv->base_url) ? "local" : "remote", h.sym, utf8 ? 1 : 0, "",
                       models_text, u ? (long long)u->requests : 0LL, h.why,
                       preset ? pv->preset : "", preset ? " / " : "",
                       pv->base_url[0] ? pv->base_url : "(preset URL)");
    }
    if (ms == NULL)
        top_panel_line(p, "models: %s", top_data_err(d, TOP_MODELS));
}
