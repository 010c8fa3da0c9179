/* adapter: the registry of wire formats, and the OpenAI one. See adapter.h.
 *
 * Thread model: adapter_register runs at startup (main thread, before any
 * request; the mutex only orders registrations). The built-ins go in on the
 * first call of any function here (pthread_once). Lookups read `reg` and
 * `n_reg` without the lock: both stop changing before requests begin.
 */
#include "adapter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "log.h"
#include "openai.h"
#include "provider_quirks.h"

static pthread_once_t adapter_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t adapter_mu = PTHREAD_MUTEX_INITIALIZER;
static const adapter_t *reg[ADAPTER_MAX];
static atomic_size_t n_reg;

static int adapter_add(const adapter_t *a, char *err, size_t errlen)
{
    int rc = -1;
    pthread_mutex_lock(&adapter_mu);
    size_t n = atomic_load(&n_reg);
    if (!a || !a->name || !a->name[0]) {
        snprintf(err, errlen, "wire_format: an adapter needs a name");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(reg[i]->name, a->name) == 0) {
            snprintf(err, errlen, "wire_format: '%s' is already registered", a->name);
            goto out;
        }
    if (n >= ADAPTER_MAX) {
        snprintf(err, errlen, "wire_format: '%s': no room (at most %d wire formats)", a->name,
                 ADAPTER_MAX);
        goto out;
    }
    reg[n] = a;
    atomic_store(&n_reg, n + 1);
    rc = 0;
out:
    pthread_mutex_unlock(&adapter_mu);
    return rc;
}

/* The built-ins go through the same call as an extension's adapters. */
static void adapter_builtins(void)
{
    char err[128];
    if (adapter_add(&adapter_openai, err, sizeof(err)) < 0 ||
        adapter_add(&adapter_anthropic, err, sizeof(err)) < 0)
        log_error("built-in adapter not registered", "error=\"%s\"", err);
}

int adapter_register(const adapter_t *a, char *err, size_t errlen)
{
    pthread_once(&adapter_once, adapter_builtins);
    return adapter_add(a, err, errlen);
}

const adapter_t *adapter_find(const char *wire_format)
{
    pthread_once(&adapter_once, adapter_builtins);
    size_t n = atomic_load(&n_reg);
    for (size_t i = 0; i < n; i++)
        if (strcmp(reg[i]->name, wire_format) == 0)
            return reg[i];
    return NULL;
}

size_t adapter_count(void)
{
    pthread_once(&adapter_once, adapter_builtins);
    return atomic_load(&n_reg);
}

const adapter_t *adapter_at(size_t i)
{
    return i < adapter_count() ? reg[i] : NULL;
}

const adapter_t *adapter_for(const table_provider_t *p)
{
    return adapter_find(p->wire_format && p->wire_format[0] ? p->wire_format : "openai");
}

char *adapter_chat_url(const adapter_t *ad, const table_provider_t *p, const char *path,
                       const char *upstream_model, arena_t *a)
{
    return provider_quirks_url(p, path ? path : ad->chat_path, path == NULL, upstream_model, a);
}

int adapter_key_header(const table_provider_t *p, arena_t *a, const char **out, size_t *n,
                       size_t cap)
{
    const char *style = p->auth_style ? p->auth_style : "bearer";
    const char *prefix = strcmp(style, "x-api-key") == 0 ? "x-api-key: "
                         : strcmp(style, "api-key") == 0 ? "api-key: "
                                                         : "Authorization: Bearer ";
    if (!p->api_key || strcmp(style, "none") == 0)
        return 0;
    if (*n >= cap)
        return -1;
    size_t len = strlen(p->api_key) + strlen(prefix) + 1;
    char *h = arena_alloc(a, len);
    if (!h)
        return -1;
    snprintf(h, len, "%s%s", prefix, p->api_key);
    out[(*n)++] = h;
    return 0;
}

/* OpenAI streams carry no state between events. */
struct adapter_stream {
    char unused;
};

static adapter_stream_t *adapter_openai_stream_new(void)
{
    return calloc(1, sizeof(adapter_stream_t));
}

static void adapter_openai_stream_free(adapter_stream_t *s)
{
    free(s);
}

static int adapter_openai_stream_event(adapter_stream_t *s, const char *event, const char *data,
                                       size_t len, arena_t *a, Llmgw__V1__ChatChunk **out,
                                       bool *done, char *err, size_t errlen)
{
    (void)s;
    *out = NULL;
    if (len == 0)
        return 0; /* "data:" with nothing: a keep-alive some servers send */
    if (openai_is_done_marker(data, len)) {
        *done = true;
        return 0;
    }
    if (strcmp(event, "error") == 0) {
        snprintf(err, errlen, "provider sent an error event: %.160s", data);
        return -1;
    }
    return openai_parse_chat_chunk(data, len, a, out, err, errlen);
}

bool adapter_serves_raw(const adapter_t *ad, const char *path)
{
    for (size_t i = 0; ad && ad->raw_paths && ad->raw_paths[i]; i++)
        if (strcmp(ad->raw_paths[i], path) == 0)
            return true;
    return false;
}

/* OpenAI's own API: a raw body is already in its format. */
static const char *const adapter_openai_raw_paths[] = {"/completions", "/embeddings", NULL};

const adapter_t adapter_openai = {
    .name = "openai",
    .chat_path = "/chat/completions",
    .auth_headers = adapter_key_header,
    .build_chat_request = provider_quirks_build_openai,
    .parse_chat_response = openai_parse_chat_response,
    .stream_new = adapter_openai_stream_new,
    .stream_free = adapter_openai_stream_free,
    .stream_event = adapter_openai_stream_event,
    .error_from_http = uerror_from_http,
    .raw_paths = adapter_openai_raw_paths,
};
