/* table: the routing table — load, validate, immutable snapshot, atomic swap.
 *
 * Invariants:
 * - A table never changes once table_load_* has returned it. Every string and
 *   array it hands out lives in the table's own pool and stays valid until
 *   the last table_unref, so readers need no lock.
 * - Loading is all or nothing: the first invalid field stops the load, err
 *   names it by JSON path, and everything taken so far is freed.
 * - Names are unique where they are looked up (providers, models within a
 *   provider, routes, keys) and no route shares a provider's name, so a
 *   request's `model` means exactly one thing.
 *
 * Memory: the loader allocates through jansson's allocator
 * (json_get_alloc_funcs), the same one the JSON parse uses, so a test that
 * installs a failing allocator with json_set_alloc_funcs can fail each
 * allocation of a whole load in turn. The free function in force at load is
 * kept with the table, so the table is freed with the matching one.
 *
 * Threads: a table is read-only, so any thread may read it while it holds a
 * reference; the refcount is a C11 atomic. A slot's mutex guards only its
 * pointer: get takes a reference under the lock, swap exchanges the pointer
 * under the lock and drops the old reference outside it, so the last holder
 * of the old table (possibly an in-flight request) is the one that frees it.
 */
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "hex.h"
#include "loader.h"
#include "presets.h"
#include "table_ext.h"

#define TABLE_MAX_BYTES (16u * 1024u * 1024u) /* a table file or pushed text */
#define TABLE_MODEL_NAME_MAX 128              /* upstream model ids run longer */
#define TABLE_TIMEOUT_MS_MAX 600000
#define TABLE_TIMEOUT_MS_DEFAULT 60000
#define TABLE_QUALITY_DEFAULT 0.5
#define TABLE_WEIGHT_MAX 1e6

struct table_slot {
    pthread_mutex_t mu;
    table_t *cur;
};

static const char *const top_fields[] = {"version",    "providers", "routes",  "keys",
                                         "teams",      "policies",  "budgets", "auth_required",
                                         "extensions", NULL};
static const char *const provider_fields[] = {
    "name",   "base_url",   "api_key",     "timeout_ms",  "headers",
    "models", "discover",   "health",      "breaker",     "retry_after_max_ms",
    "preset", "auth_style", "wire_format", "api_version", "quirks",
    "region", NULL};
static const char *const quirks_fields[] = {
    "stream_options",     "tools",       "json_mode",   "vision",
    "max_tokens_default", "chat_path",   "drop_fields", "max_tokens_field",
    "completions",        "models_path", NULL};
static const char *const model_fields[] = {
    "name",      "input_cost_per_mtok", "output_cost_per_mtok",      "quality", "tools", "vision",
    "json_mode", "context_window",      "typical_completion_tokens", NULL};
static const char *const route_fields[] = {"name",      "strategy",     "deployments", "weights",
                                           "tolerance", "max_attempts", "cache",       NULL};
static const char *const cache_fields[] = {"ttl_ms", "max_temperature", NULL};
static const char *const health_fields[] = {"path", "interval_ms", "timeout_ms", "failures_to_down",
                                            NULL};
static const char *const breaker_fields[] = {
    "consecutive_failures", "error_rate", "min_requests", "window_ms", "cooldown_ms",
    "half_open_probes",     NULL};
static const char *const weights_fields[] = {"cost", "latency", "quality", "success", NULL};
static const char *const deployment_fields[] = {"provider", "model", "weight", "priority", NULL};

static table_t *table_new(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    table_t *t = m(sizeof(*t));
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    atomic_init(&t->refs, 1);
    t->malloc_fn = m;
    t->free_fn = f;
    return t;
}

static void table_destroy(table_t *t)
{
    pool_chunk_t *c = t->chunks;
    while (c != NULL) {
        pool_chunk_t *next = c->next;
        t->free_fn(c);
        c = next;
    }
    t->free_fn(t);
}

/* ---- error messages -------------------------------------------------------- */

/* ---- field readers: 0, or -1 with err naming `path.field` ------------------ */

/* ---- duplicate detection and lookup by sorting names ----------------------- */

static int provider_name_cmp(const void *key, const void *elem)
{
    const table_provider_t *const *p = elem;
    return strcmp(key, (*p)->name);
}

static int route_name_cmp(const void *key, const void *elem)
{
    const table_route_t *const *r = elem;
    return strcmp(key, (*r)->name);
}

/* ---- providers -------------------------------------------------------------- */

/* http:// or https:// (any case), a non-empty host part, no whitespace or
 * control characters. Returns the length without trailing '/', or 0. */
static size_t url_length(const char *s)
{
    size_t scheme;
    if (strncasecmp(s, "http://", 7) == 0)
        scheme = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        scheme = 8;
    else
        return 0;
    for (const char *c = s; *c != '\0'; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return 0;
    size_t n = strlen(s);
    while (n > scheme && s[n - 1] == '/')
        n--;
    if (n == scheme || s[scheme] == '/')
        return 0;
    return n;
}

static bool http_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int load_headers(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    json_t *h = loader_field(jp, "headers");
    if (h == NULL)
        return 0;
    if (!json_is_object(h))
        return loader_fail(ld, "%s.headers: expected an object", path);
    size_t n = json_object_size(h);
    if (n == 0)
        return 0;
    const char **lines = loader_array(ld->t, n, sizeof(*lines));
    if (lines == NULL)
        return loader_fail(ld, "table: out of memory");
    size_t i = 0;
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v)
    {
        bool ok = name[0] != '\0';
        for (const char *c = name; *c != '\0'; c++)
            ok = ok && http_token_char(*c);
        if (!ok) {
            char s[TABLE_SHOW_MAX + 4];
            return loader_fail(ld, "%s.headers: invalid header name '%s'", path,
                               loader_show(s, name));
        }
        if (!json_is_string(v))
            return loader_fail(ld, "%s.headers.%s: expected a string", path, name);
        const char *value = json_string_value(v);
        if (loader_has_crlf(value))
            return loader_fail(ld, "%s.headers.%s: must not contain CR or LF", path, name);
        size_t nl = strlen(name), vl = strlen(value);
        char *line = loader_alloc(ld->t, nl + 2 + vl + 1);
        if (line == NULL)
            return loader_fail(ld, "table: out of memory");
        memcpy(line, name, nl);
        memcpy(line + nl, ": ", 2);
        memcpy(line + nl + 2, value, vl + 1);
        lines[i++] = line;
    }
    p->headers = lines;
    p->n_headers = i;
    return 0;
}

/* ---- routing settings: capabilities, health, breaker, strategy weights ---- */

static int load_health(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    char sub[160];
    json_t *h;
    json_int_t interval = 15000, timeout = 2000, downs = 2;
    /* NULL until the quirks are read: the default is the model listing. */
    p->health_path = NULL;
    if (loader_read_opt_object(ld, jp, path, "health", health_fields, sub, sizeof(sub), &h) != 0)
        return -1;
    if (h != NULL) {
        const char *hp;
        if (loader_read_opt_string(ld, h, sub, "path", &hp) != 0)
            return -1;
        if (hp != NULL && (hp[0] != '/' || loader_has_control(hp) || strchr(hp, ' ') != NULL))
            return loader_fail(ld, "%s.path: expected a path starting with '/'", sub);
        if (hp != NULL && (p->health_path = loader_strdup(ld->t, hp)) == NULL)
            return loader_fail(ld, "table: out of memory");
        if (loader_read_opt_int(ld, h, sub, "interval_ms", 0, 3600000, 15000,
                                "an integer 0..3600000", &interval) != 0 ||
            loader_read_opt_int(ld, h, sub, "timeout_ms", 1, 600000, 2000, "an integer 1..600000",
                                &timeout) != 0 ||
            loader_read_opt_int(ld, h, sub, "failures_to_down", 1, 1000, 2, "an integer 1..1000",
                                &downs) != 0)
            return -1;
    }
    p->health_interval_ms = (int)interval;
    p->health_timeout_ms = (int)timeout;
    p->health_failures_to_down = (int)downs;
    return 0;
}

static int load_breaker(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    char sub[160];
    json_t *b;
    p->breaker = (breaker_config_t)BREAKER_CONFIG_DEFAULT;
    if (loader_read_opt_object(ld, jp, path, "breaker", breaker_fields, sub, sizeof(sub), &b) != 0)
        return -1;
    if (b == NULL)
        return 0;
    breaker_config_t *c = &p->breaker;
    json_int_t cf, mr, win, cool, probes;
    if (loader_read_opt_int(ld, b, sub, "consecutive_failures", 1, 1000000, c->consecutive_failures,
                            "an integer 1..1000000", &cf) != 0 ||
        loader_read_opt_number(ld, b, sub, "error_rate", 0, 1, c->error_rate,
                               "a number > 0 and <= 1", &c->error_rate) != 0 ||
        loader_read_opt_int(ld, b, sub, "min_requests", 1, 1000000, c->min_requests,
                            "an integer 1..1000000", &mr) != 0 ||
        loader_read_opt_int(ld, b, sub, "window_ms", 1, 3600000, c->window_ms,
                            "an integer 1..3600000", &win) != 0 ||
        loader_read_opt_int(ld, b, sub, "cooldown_ms", 0, 3600000, c->cooldown_ms,
                            "an integer 0..3600000", &cool) != 0 ||
        loader_read_opt_int(ld, b, sub, "half_open_probes", 1, 1000, c->half_open_probes,
                            "an integer 1..1000", &probes) != 0)
        return -1;
    if (c->error_rate <= 0)
        return loader_fail(ld, "%s.error_rate: expected a number > 0 and <= 1", sub);
    c->consecutive_failures = (int)cf;
    c->min_requests = (int)mr;
    c->window_ms = (int)win;
    c->cooldown_ms = (int)cool;
    c->half_open_probes = (int)probes;
    return 0;
}

static int load_retry_after(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    json_int_t v;
    if (loader_read_opt_int(ld, jp, path, "retry_after_max_ms", 0, 3600000, 60000,
                            "an integer 0..3600000", &v) != 0)
        return -1;
    p->retry_after_max_ms = (int)v;
    return 0;
}

static int load_weights(loader_t *ld, json_t *jr, const char *path, table_route_t *r)
{
    char sub[160];
    json_t *w;
    r->weights = (table_weights_t){.cost = 0.3, .latency = 0.3, .quality = 0.2, .success = 0.2};
    if (loader_read_opt_object(ld, jr, path, "weights", weights_fields, sub, sizeof(sub), &w) != 0)
        return -1;
    if (w == NULL) {
        if (strcmp(r->strategy, "custom") == 0)
            return loader_fail(ld, "%s.weights: required by strategy custom", path);
        return 0;
    }
    table_weights_t *x = &r->weights;
    /* Given weights replace the defaults as a whole: an absent one is 0. */
    if (loader_read_opt_number(ld, w, sub, "cost", 0, 1e6, 0, "a number 0..1000000", &x->cost) !=
            0 ||
        loader_read_opt_number(ld, w, sub, "latency", 0, 1e6, 0, "a number 0..1000000",
                               &x->latency) != 0 ||
        loader_read_opt_number(ld, w, sub, "quality", 0, 1e6, 0, "a number 0..1000000",
                               &x->quality) != 0 ||
        loader_read_opt_number(ld, w, sub, "success", 0, 1e6, 0, "a number 0..1000000",
                               &x->success) != 0)
        return -1;
    if (x->cost + x->latency + x->quality + x->success <= 0)
        return loader_fail(ld, "%s: expected at least one weight > 0", sub);
    return 0;
}

/* "cache": {"ttl_ms": 1..86400000, "max_temperature"?: 0..2}: the route
 * caches answers (cache.h); absent, it does not. */
static int load_route_cache(loader_t *ld, json_t *jr, const char *path, table_route_t *r)
{
    char sub[160];
    json_t *c;
    r->cache_ttl_ms = 0;
    r->cache_max_temperature = 0;
    if (loader_read_opt_object(ld, jr, path, "cache", cache_fields, sub, sizeof(sub), &c) != 0)
        return -1;
    if (c == NULL)
        return 0;
    if (loader_field(c, "ttl_ms") == NULL)
        return loader_fail(ld, "%s.ttl_ms: required", sub);
    json_int_t ttl;
    if (loader_read_opt_int(ld, c, sub, "ttl_ms", 1, 86400000, 0, "an integer 1..86400000", &ttl))
        return -1;
    if (loader_read_opt_number(ld, c, sub, "max_temperature", 0, 2, 0, "a number 0..2",
                               &r->cache_max_temperature) != 0)
        return -1;
    r->cache_ttl_ms = (int64_t)ttl;
    return 0;
}

static int load_model(loader_t *ld, json_t *jm, const char *path, table_model_t *m)
{
    if (!json_is_object(jm))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jm, path, model_fields) != 0)
        return -1;
    /* Upstream model ids carry more than our own names do
     * ("meta-llama/Llama-3.1-8B", "llama3:8b", "claude-3-5@20240620"). */
    if ((m->name = loader_read_name(ld, jm, path, "name", TABLE_MODEL_NAME_MAX, ":/@+")) == NULL)
        return -1;
    if (loader_read_opt_number(ld, jm, path, "input_cost_per_mtok", 0, -1, 0, "a number >= 0",
                               &m->input_cost_per_mtok) != 0 ||
        loader_read_opt_number(ld, jm, path, "output_cost_per_mtok", 0, -1, 0, "a number >= 0",
                               &m->output_cost_per_mtok) != 0 ||
        loader_read_opt_number(ld, jm, path, "quality", 0, 1, TABLE_QUALITY_DEFAULT,
                               "a number 0..1", &m->quality) != 0)
        return -1;
    json_int_t ctx, typical;
    if (loader_read_opt_bool(ld, jm, path, "tools", true, &m->tools) != 0 ||
        loader_read_opt_bool(ld, jm, path, "vision", false, &m->vision) != 0 ||
        loader_read_opt_bool(ld, jm, path, "json_mode", true, &m->json_mode) != 0 ||
        loader_read_opt_int(ld, jm, path, "context_window", 0, INT64_C(1) << 40, 0,
                            "an integer >= 0 (tokens)", &ctx) != 0 ||
        loader_read_opt_int(ld, jm, path, "typical_completion_tokens", 1, INT64_C(1) << 40, 256,
                            "an integer >= 1 (tokens)", &typical) != 0)
        return -1;
    m->context_window = (int64_t)ctx;
    m->typical_completion_tokens = (int64_t)typical;
    return 0;
}

/* The wire format, auth style and quirks (docs/providers.md); the preset has
 * been applied to jp already (presets_apply). */
static int load_wire(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    static const char *const auth_styles[] = {"bearer", "x-api-key", "api-key", "none", NULL};
    const char *s;
    if (loader_read_opt_string(ld, jp, path, "preset", &s) != 0)
        return -1;
    if (s != NULL && (p->preset = loader_strdup(ld->t, s)) == NULL)
        return loader_fail(ld, "table: out of memory");
    if (loader_read_opt_enum(ld, jp, path, "auth_style", auth_styles,
                             "bearer, x-api-key, api-key, none", &p->auth_style) != 0 ||
        loader_read_opt_string(ld, jp, path, "wire_format", &s) != 0)
        return -1;
    /* openai, anthropic, or a format an extension registered (table_ext.h). */
    if (s == NULL)
        s = "openai";
    if (!table_wire_format_known(s)) {
        char shown[TABLE_SHOW_MAX + 4];
        if (!table_wire_format_extended()) /* the control plane, tools: built-ins only */
            return loader_fail(ld, "%s.wire_format: '%s' is not one of openai, anthropic", path,
                               loader_show(shown, s));
        return loader_fail(ld,
                           "%s.wire_format: '%s' is not a wire format: expected openai, "
                           "anthropic or one a loaded extension registers",
                           path, loader_show(shown, s));
    }
    if ((p->wire_format = loader_strdup(ld->t, s)) == NULL)
        return loader_fail(ld, "table: out of memory");
    if (loader_read_opt_string(ld, jp, path, "api_version", &s) != 0)
        return -1;
    if (s != NULL && (loader_has_control(s) || strpbrk(s, " &#?") != NULL))
        return loader_fail(ld,
                           "%s.api_version: must not contain spaces, control characters, "
                           "'&', '#' or '?'",
                           path);
    if (s != NULL && (p->api_version = loader_strdup(ld->t, s)) == NULL)
        return loader_fail(ld, "table: out of memory");

    char sub[160];
    json_t *q;
    table_quirks_t *qk = &p->quirks;
    json_int_t max_tokens;
    if (loader_read_opt_object(ld, jp, path, "quirks", quirks_fields, sub, sizeof(sub), &q) != 0 ||
        loader_read_opt_bool(ld, q, sub, "stream_options", true, &qk->stream_options) != 0 ||
        loader_read_opt_bool(ld, q, sub, "tools", true, &qk->tools) != 0 ||
        loader_read_opt_bool(ld, q, sub, "json_mode", true, &qk->json_mode) != 0 ||
        loader_read_opt_bool(ld, q, sub, "vision", true, &qk->vision) != 0 ||
        loader_read_opt_int(ld, q, sub, "max_tokens_default", 0, 1000000, 0,
                            "an integer 0..1000000", &max_tokens) != 0 ||
        loader_read_opt_string(ld, q, sub, "chat_path", &s) != 0)
        return -1;
    qk->max_tokens_default = (int)max_tokens;
    if (s != NULL && (s[0] != '/' || loader_has_control(s) || strchr(s, ' ') != NULL))
        return loader_fail(ld, "%s.chat_path: expected a path starting with '/'", sub);
    if (s != NULL && (qk->chat_path = loader_strdup(ld->t, s)) == NULL)
        return loader_fail(ld, "table: out of memory");
    if (loader_read_opt_string(ld, q, sub, "models_path", &s) != 0)
        return -1;
    if (s != NULL && (s[0] != '/' || loader_has_control(s) || strchr(s, ' ') != NULL))
        return loader_fail(ld, "%s.models_path: expected a path starting with '/'", sub);
    qk->models_path = s != NULL ? loader_strdup(ld->t, s) : "/models";
    if (qk->models_path == NULL)
        return loader_fail(ld, "table: out of memory");
    if (p->health_path == NULL)
        p->health_path = qk->models_path;
    json_t *drop;
    if (loader_read_array(ld, q, sub, "drop_fields", false, &drop) != 0)
        return -1;
    size_t n = json_array_size(drop);
    const char **fields = n ? loader_array(ld->t, n, sizeof(*fields)) : NULL;
    if (n && fields == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *f = json_string_value(json_array_get(drop, i));
        if (f == NULL || f[0] == '\0')
            return loader_fail(ld, "%s.drop_fields[%zu]: expected a non-empty string", sub, i);
        if (strcmp(f, "model") == 0 || strcmp(f, "messages") == 0 || strcmp(f, "stream") == 0)
            return loader_fail(ld, "%s.drop_fields[%zu]: '%s' cannot be dropped", sub, i, f);
        if ((fields[i] = loader_strdup(ld->t, f)) == NULL)
            return loader_fail(ld, "table: out of memory");
    }
    qk->drop_fields = fields;
    qk->n_drop_fields = n;
    static const char *const max_tokens_fields[] = {"max_tokens", "max_completion_tokens", NULL};
    if (loader_read_opt_enum(ld, q, sub, "max_tokens_field", max_tokens_fields,
                             "max_tokens, max_completion_tokens", &qk->max_tokens_field) != 0 ||
        loader_read_opt_bool(ld, q, sub, "completions", true, &qk->completions) != 0)
        return -1;
    if (!qk->max_tokens_field)
        qk->max_tokens_field = "max_tokens";
    return 0;
}

static int load_provider(loader_t *ld, json_t *jp, const char *path, table_provider_t *p)
{
    if (!json_is_object(jp))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jp, path, provider_fields) != 0)
        return -1;

    if ((p->name = loader_read_name(ld, jp, path, "name", TABLE_NAME_MAX, "")) == NULL)
        return -1;

    json_t *url = loader_field(jp, "base_url");
    if (url == NULL)
        return loader_fail(ld, "%s.base_url: required", path);
    size_t url_len = json_is_string(url) ? url_length(json_string_value(url)) : 0;
    if (url_len == 0)
        return loader_fail(ld, "%s.base_url: expected an http:// or https:// URL", path);
    char *base = loader_alloc(ld->t, url_len + 1);
    if (base == NULL)
        return loader_fail(ld, "table: out of memory");
    memcpy(base, json_string_value(url), url_len);
    p->base_url = base;

    const char *key;
    if (loader_read_opt_string(ld, jp, path, "api_key", &key) != 0)
        return -1;
    if (key != NULL && loader_has_crlf(key))
        return loader_fail(ld, "%s.api_key: must not contain CR or LF", path);
    if (key != NULL && key[0] != '\0' && (p->api_key = loader_strdup(ld->t, key)) == NULL)
        return loader_fail(ld, "table: out of memory");

    json_int_t timeout_ms;
    if (loader_read_opt_int(ld, jp, path, "timeout_ms", 1, TABLE_TIMEOUT_MS_MAX,
                            TABLE_TIMEOUT_MS_DEFAULT, "an integer 1..600000", &timeout_ms) != 0)
        return -1;
    p->timeout_ms = (int)timeout_ms;

    if (load_headers(ld, jp, path, p) != 0)
        return -1;
    if (loader_read_opt_bool(ld, jp, path, "discover", false, &p->discover) != 0 ||
        load_health(ld, jp, path, p) != 0 || load_breaker(ld, jp, path, p) != 0 ||
        load_retry_after(ld, jp, path, p) != 0 || load_wire(ld, jp, path, p) != 0)
        return -1;

    const char *region;
    if (loader_read_opt_string(ld, jp, path, "region", &region) != 0)
        return -1;
    if (region != NULL && !table_region_valid(region))
        return loader_fail(ld, "%s.region: expected at most 64 characters, no control characters",
                           path);
    if ((p->region = loader_strdup(ld->t, region != NULL ? region : "")) == NULL)
        return loader_fail(ld, "table: out of memory");

    json_t *models;
    if (loader_read_array(ld, jp, path, "models", true, &models) != 0)
        return -1;
    size_t n = json_array_size(models);
    table_model_t *ms = loader_array(ld->t, n, sizeof(*ms));
    if (ms == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char mpath[128];
        snprintf(mpath, sizeof(mpath), "%s.models[%zu]", path, i);
        if (load_model(ld, json_array_get(models, i), mpath, &ms[i]) != 0)
            return -1;
    }
    p->models = ms;
    p->n_models = n;
    return 0;
}

static int load_providers(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "providers", true, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    t->providers = loader_array(t, n, sizeof(*t->providers));
    if (t->providers == NULL)
        return loader_fail(ld, "table: out of memory");
    size_t n_models = 0;
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "providers[%zu]", i);
        json_t *jp = json_array_get(arr, i), *merged;
        if (presets_apply(jp, path, &merged, ld->err, ld->errlen) != 0)
            return -1;
        int rc = load_provider(ld, merged ? merged : jp, path, &t->providers[i]);
        json_decref(merged);
        if (rc != 0)
            return -1;
        t->n_providers = i + 1;
        n_models += t->providers[i].n_models;
    }

    loader_ref_t *refs = loader_array(t, n, sizeof(*refs));
    t->providers_by_name = loader_array(t, n, sizeof(*t->providers_by_name));
    ld->models_sorted = loader_array(t, n_models, sizeof(*ld->models_sorted));
    if (refs == NULL || t->providers_by_name == NULL || ld->models_sorted == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++)
        refs[i] = (loader_ref_t){t->providers[i].name, 0, i};
    const loader_ref_t *dup = loader_sort_find_duplicate(refs, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "providers[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    for (size_t i = 0; i < n; i++)
        t->providers_by_name[i] = &t->providers[refs[i].index];

    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < t->providers[i].n_models; j++)
            ld->models_sorted[k++] = (loader_ref_t){t->providers[i].models[j].name, i, j};
    ld->n_models_sorted = k;
    dup = loader_sort_find_duplicate(ld->models_sorted, k);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "providers[%zu].models[%zu].name: duplicate name '%s'", dup->group,
                           dup->index, loader_show(s, dup->name));
    }
    return 0;
}

/* ---- routes ----------------------------------------------------------------- */

static int load_deployment(loader_t *ld, json_t *jd, const char *path, table_deployment_t *d)
{
    table_t *t = ld->t;
    if (!json_is_object(jd))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jd, path, deployment_fields) != 0)
        return -1;

    char s1[TABLE_SHOW_MAX + 4];
    json_t *jprov = loader_field(jd, "provider");
    if (jprov == NULL)
        return loader_fail(ld, "%s.provider: required", path);
    if (!json_is_string(jprov))
        return loader_fail(ld, "%s.provider: expected a string", path);
    const char *pname = json_string_value(jprov);
    const table_provider_t *const *pp =
        bsearch(pname, t->providers_by_name, t->n_providers, sizeof(*pp), provider_name_cmp);
    if (pp == NULL)
        return loader_fail(ld, "%s.provider: unknown provider '%s'", path, loader_show(s1, pname));
    d->provider = *pp;

    json_t *jmodel = loader_field(jd, "model");
    if (jmodel == NULL)
        return loader_fail(ld, "%s.model: required", path);
    if (!json_is_string(jmodel))
        return loader_fail(ld, "%s.model: expected a string", path);
    const char *mname = json_string_value(jmodel);
    loader_ref_t key = {mname, (size_t)(*pp - t->providers), 0};
    const loader_ref_t *m = bsearch(&key, ld->models_sorted, ld->n_models_sorted,
                                    sizeof(*ld->models_sorted), loader_ref_key_cmp);
    if (m == NULL) {
        char s2[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "%s.model: provider '%s' has no model '%s'", path,
                           loader_show(s1, (*pp)->name), loader_show(s2, mname));
    }
    d->model = &(*pp)->models[m->index];

    /* The cap keeps a route's total weight finite for the weighted draw. */
    if (loader_read_opt_number(ld, jd, path, "weight", 0, TABLE_WEIGHT_MAX, 1,
                               "a number > 0 and <= 1000000", &d->weight) != 0)
        return -1;
    if (d->weight <= 0)
        return loader_fail(ld, "%s.weight: expected a number > 0 and <= 1000000", path);
    json_int_t prio;
    if (loader_read_opt_int(ld, jd, path, "priority", INT_MIN, INT_MAX, 0, "a 32-bit integer",
                            &prio) != 0)
        return -1;
    d->priority = (int)prio;
    return 0;
}

static int load_route(loader_t *ld, json_t *jr, const char *path, table_route_t *r)
{
    table_t *t = ld->t;
    if (!json_is_object(jr))
        return loader_fail(ld, "%s: expected an object", path);
    if (loader_check_fields(ld, jr, path, route_fields) != 0)
        return -1;

    /* A '/' would make the name read as provider/model. */
    json_t *jname = loader_field(jr, "name");
    if (json_is_string(jname) && strchr(json_string_value(jname), '/') != NULL)
        return loader_fail(ld, "%s.name: must not contain '/' (reserved for provider/model)", path);
    const char *name = loader_read_name(ld, jr, path, "name", TABLE_NAME_MAX, "");
    if (name == NULL)
        return -1;
    if (bsearch(name, t->providers_by_name, t->n_providers, sizeof(*t->providers_by_name),
                provider_name_cmp) != NULL)
        return loader_fail(ld, "%s.name: '%s' is already a provider name", path, name);
    r->name = name;

    json_t *js = loader_field(jr, "strategy");
    const char *strategy = json_is_string(js) ? json_string_value(js) : "";
    static const char *const strategies[] = {"priority", "weighted", "cost",   "latency",
                                             "quality",  "balanced", "custom", NULL};
    r->strategy = NULL;
    for (size_t i = 0; strategies[i] != NULL && r->strategy == NULL; i++)
        if (strcmp(strategy, strategies[i]) == 0)
            r->strategy = strategies[i];
    if (r->strategy == NULL)
        return loader_fail(ld,
                           "%s.strategy: expected one of priority, weighted, cost, latency, "
                           "quality, balanced, custom",
                           path);
    json_int_t max_attempts;
    if (load_weights(ld, jr, path, r) != 0 || load_route_cache(ld, jr, path, r) != 0 ||
        loader_read_opt_number(ld, jr, path, "tolerance", 0, 1, 0.05, "a number 0..1",
                               &r->tolerance) != 0 ||
        loader_read_opt_int(ld, jr, path, "max_attempts", 0, TABLE_MAX_DEPLOYMENTS, 0,
                            "an integer 0..128", &max_attempts) != 0)
        return -1;
    r->max_attempts = (int)max_attempts;

    json_t *arr;
    if (loader_read_array(ld, jr, path, "deployments", true, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr);
    if (n > TABLE_MAX_DEPLOYMENTS)
        return loader_fail(ld, "%s.deployments: more than %d deployments", path,
                           TABLE_MAX_DEPLOYMENTS);
    table_deployment_t *ds = loader_array(t, n, sizeof(*ds));
    if (ds == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char dpath[128];
        snprintf(dpath, sizeof(dpath), "%s.deployments[%zu]", path, i);
        if (load_deployment(ld, json_array_get(arr, i), dpath, &ds[i]) != 0)
            return -1;
        /* Listing one deployment twice is a typo; n <= 64 keeps this cheap. */
        for (size_t j = 0; j < i; j++)
            if (ds[j].provider == ds[i].provider && ds[j].model == ds[i].model)
                return loader_fail(ld, "%s: duplicate of deployments[%zu]", dpath, j);
    }
    r->deployments = ds;
    r->n_deployments = n;
    return 0;
}

static int load_routes(loader_t *ld, json_t *root)
{
    table_t *t = ld->t;
    json_t *arr;
    if (loader_read_array(ld, root, "", "routes", false, &arr) != 0)
        return -1;
    size_t n = json_array_size(arr); /* 0 when absent */
    if (n == 0)
        return 0;
    t->routes = loader_array(t, n, sizeof(*t->routes));
    loader_ref_t *refs = loader_array(t, n, sizeof(*refs));
    t->routes_by_name = loader_array(t, n, sizeof(*t->routes_by_name));
    if (t->routes == NULL || refs == NULL || t->routes_by_name == NULL)
        return loader_fail(ld, "table: out of memory");
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "routes[%zu]", i);
        if (load_route(ld, json_array_get(arr, i), path, &t->routes[i]) != 0)
            return -1;
        refs[i] = (loader_ref_t){t->routes[i].name, 0, i};
    }
    t->n_routes = n;
    const loader_ref_t *dup = loader_sort_find_duplicate(refs, n);
    if (dup != NULL) {
        char s[TABLE_SHOW_MAX + 4];
        return loader_fail(ld, "routes[%zu].name: duplicate name '%s'", dup->index,
                           loader_show(s, dup->name));
    }
    for (size_t i = 0; i < n; i++)
        t->routes_by_name[i] = &t->routes[refs[i].index];
    return 0;
}

/* ---- loading ---------------------------------------------------------------- */

static int load_root(loader_t *ld, json_t *root)
{
    if (!json_is_object(root))
        return loader_fail(ld, "table: expected a JSON object");
    if (loader_check_fields(ld, root, "", top_fields) != 0)
        return -1;
    json_t *v = loader_field(root, "version");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0))
        return loader_fail(ld, "version: expected an integer >= 0");
    ld->t->version = v != NULL ? (int64_t)json_integer_value(v) : 0;
    if (load_providers(ld, root) != 0 || load_routes(ld, root) != 0 ||
        table_access_load(ld, root) != 0)
        return -1;
    /* Validated here like every field; main loads them (table_ext.h). */
    table_ext_list_t exts;
    if (table_ext_parse(root, &exts, ld->err, ld->errlen) != 0)
        return -1;
    table_ext_list_free(&exts);
    return 0;
}

table_t *table_load_json(const char *text, size_t len, char *err, size_t errlen)
{
    loader_t ld = {.err = err, .errlen = errlen};
    json_t *root = NULL;
    table_t *t = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (text == NULL) {
        loader_fail(&ld, "table: no text");
        goto fail;
    }
    if (len > TABLE_MAX_BYTES) {
        loader_fail(&ld, "table: larger than %u MiB", TABLE_MAX_BYTES / (1024u * 1024u));
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        loader_fail(&ld, "json: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if ((t = table_new()) == NULL) {
        loader_fail(&ld, "table: out of memory");
        goto fail;
    }
    ld.t = t;
    if (load_root(&ld, root) != 0)
        goto fail;
    json_decref(root);
    return t;

fail:
    if (t != NULL)
        table_destroy(t);
    json_decref(root);
    return NULL;
}

table_t *table_load_file(const char *path, char *err, size_t errlen)
{
    json_malloc_t m;
    json_free_t f;
    char *text = NULL;
    size_t len = 0;
    table_t *t = NULL;
    int fd = -1;
    if (errlen > 0)
        err[0] = '\0';

    json_get_alloc_funcs(&m, &f);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    /* The size may change while we read: read up to the cap plus one byte,
     * whatever fstat said, and reject anything past the cap. */
    if (st.st_size > (off_t)TABLE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u MiB", path, TABLE_MAX_BYTES / (1024u * 1024u));
        goto fail;
    }
    size_t alloc = (size_t)st.st_size + 1;
    if ((text = m(alloc)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        if (len == alloc) {
            size_t bigger = alloc * 2 > TABLE_MAX_BYTES + 1 ? TABLE_MAX_BYTES + 1 : alloc * 2;
            if (len == bigger) {
                snprintf(err, errlen, "%s: larger than %u MiB", path,
                         TABLE_MAX_BYTES / (1024u * 1024u));
                goto fail;
            }
            char *p = m(bigger);
            if (p == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            memcpy(p, text, len);
            f(text);
            text = p;
            alloc = bigger;
        }
        ssize_t r = read(fd, text + len, alloc - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > TABLE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u MiB", path, TABLE_MAX_BYTES / (1024u * 1024u));
        goto fail;
    }
    t = table_load_json(text, len, err, errlen);

fail:
    if (text != NULL)
        f(text);
    if (fd >= 0)
        close(fd);
    return t;
}

/* ---- references ------------------------------------------------------------- */

table_t *table_ref(table_t *t)
{
    if (t != NULL)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void table_unref(table_t *t)
{
    if (t == NULL)
        return;
    /* acq_rel: release orders this holder's reads before the drop; acquire
     * lets the thread that frees see every other holder's. (A release
     * decrement plus an acquire fence would do, but ThreadSanitizer does
     * not model fences and would report a race.) */
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        table_destroy(t);
    }
}

/* ---- lookups ---------------------------------------------------------------- */

int64_t table_version(const table_t *t)
{
    return t->version;
}

size_t table_n_providers(const table_t *t)
{
    return t->n_providers;
}

const table_provider_t *table_provider_at(const table_t *t, size_t i)
{
    return i < t->n_providers ? &t->providers[i] : NULL;
}

const table_provider_t *table_find_provider(const table_t *t, const char *name)
{
    if (name == NULL)
        return NULL;
    const table_provider_t *const *p =
        bsearch(name, t->providers_by_name, t->n_providers, sizeof(*p), provider_name_cmp);
    return p != NULL ? *p : NULL;
}

const table_model_t *table_provider_find_model(const table_provider_t *p, const char *model)
{
    /* Linear: a provider has a handful of models, and callers may pass a
     * provider that does not come from a loaded table. */
    if (p == NULL || model == NULL)
        return NULL;
    for (size_t i = 0; i < p->n_models; i++)
        if (strcmp(p->models[i].name, model) == 0)
            return &p->models[i];
    return NULL;
}

size_t table_n_routes(const table_t *t)
{
    return t->n_routes;
}

const table_route_t *table_route_at(const table_t *t, size_t i)
{
    return i < t->n_routes ? &t->routes[i] : NULL;
}

const table_route_t *table_find_route(const table_t *t, const char *name)
{
    if (name == NULL || t->n_routes == 0)
        return NULL;
    const table_route_t *const *r =
        bsearch(name, t->routes_by_name, t->n_routes, sizeof(*r), route_name_cmp);
    return r != NULL ? *r : NULL;
}

/* ---- slot ------------------------------------------------------------------- */

table_slot_t *table_slot_new(table_t *initial)
{
    table_slot_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail;
    s->cur = initial;
    return s;

fail:
    /* Only a successful call takes the reference: on NULL the caller still
     * owns `initial` and releases it (as main.c does). */
    free(s);
    return NULL;
}

void table_slot_free(table_slot_t *s)
{
    if (s == NULL)
        return;
    table_unref(s->cur);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

table_t *table_slot_get(table_slot_t *s)
{
    pthread_mutex_lock(&s->mu);
    table_t *t = table_ref(s->cur);
    pthread_mutex_unlock(&s->mu);
    return t;
}

void table_slot_swap(table_slot_t *s, table_t *t)
{
    pthread_mutex_lock(&s->mu);
    table_t *old = s->cur;
    s->cur = t;
    pthread_mutex_unlock(&s->mu);
    /* Outside the lock: freeing a large table must not stall readers. */
    table_unref(old);
}
