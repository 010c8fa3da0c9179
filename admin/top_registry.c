/* top_registry: the Provider Registry panel — every provider, local or
 * remote, available (enabled) or not, its status ✓ ⚠ ✗ and why, its models
 * and this month's requests; the summary counts and the data plane nodes.
 * The status follows the console's health() minus its connection test (top
 * only reads): disabled ✗; more than 20 % of this month's requests failed ✗;
 * some failed ⚠; requests and none failed ✓; no traffic ⚠.
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

static void top_health(const Llmgw__V1__Provider *p, const Llmgw__V1__CostGroup *u, bool utf8,
                       top_health_t *h)
{
    const char *ok = utf8 ? "\xe2\x9c\x93" : "ok", *warn = utf8 ? "\xe2\x9a\xa0" : "!!",
               *bad = utf8 ? "\xe2\x9c\x97" : "XX";
    int64_t errors = u ? u->requests - u->ok_requests : 0;
    double rate = u && u->requests ? (double)errors / (double)u->requests : 0;
    char pct[32];
    suggest_pct(rate, pct, sizeof(pct));
    if (!p->enabled) {
        h->sym = bad;
        snprintf(h->why, sizeof(h->why), "disabled: left out of the routing table");
    } else if (rate > 0.2) {
        h->sym = bad;
        snprintf(h->why, sizeof(h->why), "failing %s of this month's requests", pct);
    } else if (rate > 0) {
        h->sym = warn;
        snprintf(h->why, sizeof(h->why), "%s of this month's requests failed", pct);
    } else if (u && u->requests) {
        h->sym = ok;
        snprintf(h->why, sizeof(h->why), "%lld requests this month, none failed",
                 (long long)u->requests);
    } else {
        h->sym = warn;
        snprintf(h->why, sizeof(h->why), "no traffic and no connection test yet");
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
        top_health(pv, u, utf8, &h);
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
