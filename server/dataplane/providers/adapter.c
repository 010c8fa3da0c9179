/* adapter: the table of wire formats, and the OpenAI one. See adapter.h. */
#include "adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "openai.h"
#include "provider_quirks.h"

const adapter_t *adapter_for(const table_provider_t *p)
{
    if (p->wire_format && strcmp(p->wire_format, "anthropic") == 0)
        return &adapter_anthropic;
    return &adapter_openai;
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
};
